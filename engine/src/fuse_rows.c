/* Row fusion, the first half of the fuse pass's elementwise work: a group of f32 ops
 * that all work row by row over one (R, C) view (C the last axis of a shape S) becomes
 * one FUSED_ROWS node. Its kernel runs the group on a block of rows at a time, so every
 * intermediate stays in L1, and writes only the results read outside the group; when
 * there are several, one FUSED_OUT node hands out each.
 *
 * Members: elementwise maps (add, mul, rsqrt, ...) whose operands are full (S), per
 * row (S with a last axis of 1, what a keepdims reduction gives), per column ((C,), a
 * layer norm's gamma) or scalars; sums over the last axis with keepdims; and size,
 * which is a constant once S is known. A layer norm's backward is made of these, and
 * so is a bias add. A sum over another axis (sum_to's column sums) is not row-local
 * and stays outside.
 *
 * Bits: each map is the op's own map function on the same values (a broadcast value is
 * copied out to full rows first, which changes no bit), and a row sum is the sum
 * kernel's own loop over contiguous rows (duet_sum_rows_f32), so results are those of
 * the unfused graph, for every block size and thread count.
 *
 * Grouping: a group grows from a seed (a row sum, or a map with a per-row or per-column
 * operand) through its members' consumers, which may also be read outside (they become
 * outputs), and through producers read only by members. The fused node runs where its
 * last member ran, or earlier (by ROWS_MAX_HOIST nodes at most): before the first node
 * outside that reads a member. A member is accepted only if everything the group reads
 * from outside is computed before that point, which also rules out cycles through
 * outside nodes, and no other node moves. Per-row values read outside leave the group, as outputs must be full, and
 * a group whose every value is read outside (a bias add and its relu) is not made: it
 * would save no memory traffic. */
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "graph_internal.h"

/* elements per value in a block of rows: a couple of kilobytes, so that a group's live
 * values stay in L1 */
#define ROWS_BLOCK_ELEMS 1024
/* nodes a member may run ahead of where it was traced (see placement) */
#define ROWS_MAX_HOIST DUET_FUSE_MAX_STEPS
/* the scratch a block of rows may take on a thread's stack (64 KB) */
#define ROWS_STACK_FLOATS 16384

/* ---- what a value is, relative to the view of full's shape ---- */

/* t's duet_rowv, or -1 when it is none of them (full has rank >= 1) */
static int value_kind(const duet_tensor *t, const duet_tensor *full)
{
    int r = full->rank;
    if (t->dtype != DUET_F32) return -1;
    if (duet_same_shape(t, full)) return DUET_ROWV_FULL;
    bool rows = t->rank == r && t->shape[r - 1] == 1;
    for (int d = 0; d < r - 1 && rows; d++) rows = t->shape[d] == full->shape[d];
    if (rows) return DUET_ROWV_ROW;
    if (duet_numel(t) == 1) return DUET_ROWV_SCALAR;
    bool col = t->rank >= 1 && t->rank <= r && t->shape[t->rank - 1] == full->shape[r - 1];
    for (int d = 0; d < t->rank - 1 && col; d++) col = t->shape[d] == 1;
    return col ? DUET_ROWV_COL : -1;
}

/* The kind of n's result when n can be a member of a group over full's view, or -1. */
static int member_kind(const duet_node *n, const duet_tensor *full)
{
    if (n->op == DUET_OP_SUM)
        return duet_is_row_sum(n) && duet_same_shape(n->in[0], full) ? DUET_ROWV_ROW : -1;
    if (n->op == DUET_OP_SIZE) return duet_same_shape(n->in[0], full) ? DUET_ROWV_SCALAR : -1;
    const duet_op_def *def = duet_op_table[n->op];
    if (!(def->flags & DUET_OPF_ELEMENTWISE) || !(def->map1 || def->map2)) return -1;
    int k = value_kind(n->out, full);
    if (k != DUET_ROWV_FULL && k != DUET_ROWV_ROW) return -1;
    for (int j = 0; j < n->nin; j++)
        if (value_kind(n->in[j], full) < 0) return -1;
    return k;
}

/* A seed's view (the shape a group grown from it works over), or NULL when n is none:
 * a row sum, or (when maps is set) a map of full rows with a per-row or per-column
 * operand. */
static const duet_tensor *seed_view(const duet_node *n, bool maps)
{
    if (duet_is_row_sum(n)) return n->in[0];
    if (!maps || n->out->rank < 1 || member_kind(n, n->out) != DUET_ROWV_FULL) return NULL;
    for (int j = 0; j < n->nin; j++) {
        int k = value_kind(n->in[j], n->out);
        if (k == DUET_ROWV_ROW || k == DUET_ROWV_COL) return n->out;
    }
    return NULL;
}

/* ---- groups ---- */

typedef struct row_group {
    duet_node *member[DUET_FUSE_MAX_STEPS];
    int n, nout;
    int pos; /* the fused node runs just before the node now at pos (n: at the end) */
    const duet_tensor *full;
} row_group;

typedef struct rows_ctx {
    duet_graph *g;
    int *rd_off, *rd;  /* the readers of node i: rd[rd_off[i]] .. rd[rd_off[i + 1] - 1] */
    bool *graph_out;   /* read after the run */
    int *group;        /* per node: the group it belongs to (or is being tried in), or -1 */
    row_group *groups; /* made so far */
    int ngroups;
    int *at, *gat, *start, *bucket; /* layout's tables */
} rows_ctx;

static bool in_group(const rows_ctx *rc, const duet_node *n, int gi) { return rc->group[n->id] == gi; }

static bool read_outside(const rows_ctx *rc, const duet_node *n, int gi)
{
    if (rc->graph_out[n->id]) return true;
    for (int k = rc->rd_off[n->id]; k < rc->rd_off[n->id + 1]; k++)
        if (rc->group[rc->rd[k]] != gi) return true;
    return false;
}

static bool unread(const rows_ctx *rc, const duet_node *n)
{
    return !rc->graph_out[n->id] && rc->rd_off[n->id] == rc->rd_off[n->id + 1];
}

/* The first node outside the group that reads a member (INT_MAX when none does). */
static int first_outside_reader(const rows_ctx *rc, const row_group *gr, int gi)
{
    int first = INT_MAX;
    for (int m = 0; m < gr->n; m++) {
        int v = gr->member[m]->id;
        for (int k = rc->rd_off[v]; k < rc->rd_off[v + 1]; k++)
            if (rc->group[rc->rd[k]] != gi && rc->rd[k] < first) first = rc->rd[k];
    }
    return first;
}

/* The last node outside the group whose value a member reads (a size reads none). */
static int last_outside_input(const rows_ctx *rc, const duet_node *n, int gi)
{
    int last = -1;
    for (int j = 0; j < n->nin && n->op != DUET_OP_SIZE; j++)
        if (!in_group(rc, n->in[j]->node, gi) && n->in[j]->node->id > last) last = n->in[j]->node->id;
    return last;
}

/* Where the group's fused node can run: before the first outside node that reads a
 * member, and after the last member; -1 when some input from outside is computed only
 * after that point (any node depending on the group comes after its first outside
 * reader, so this also rules out cycles through outside nodes), or when a member
 * would move up by more than ROWS_MAX_HOIST nodes: a value of the forward pass that
 * the backward reads must not pull the backward's work forward, where its results
 * would wait, in memory, for the backward. */
static int placement(const rows_ctx *rc, const row_group *gr, int gi)
{
    int reader = first_outside_reader(rc, gr, gi), inputs = -1, hi = -1;
    for (int m = 0; m < gr->n; m++) {
        int last = last_outside_input(rc, gr->member[m], gi);
        inputs = last > inputs ? last : inputs;
        hi = gr->member[m]->id > hi ? gr->member[m]->id : hi;
    }
    int pos = hi + 1 < reader ? hi + 1 : reader;
    return inputs < pos && hi - pos < ROWS_MAX_HOIST ? pos : -1;
}

static void leave(rows_ctx *rc, row_group *gr, int m)
{
    rc->group[gr->member[m]->id] = -1;
    gr->member[m] = gr->member[--gr->n];
}

/* Adds n and, in turn, the inputs it reads from outside that are computed only after
 * the group's first outside reader (which would leave the fused node no place, as
 * g = gy * gamma does in a layer norm's backward); false when one cannot join. */
static bool add_with_late_inputs(rows_ctx *rc, row_group *gr, int gi, duet_node *n, int first)
{
    if (gr->n == DUET_FUSE_MAX_STEPS || rc->group[n->id] >= 0 || member_kind(n, gr->full) < 0)
        return false;
    rc->group[n->id] = gi;
    gr->member[gr->n++] = n;
    for (int j = 0; j < n->nin && n->op != DUET_OP_SIZE; j++) {
        duet_node *p = n->in[j]->node;
        if (rc->group[p->id] != gi && p->id >= first && !add_with_late_inputs(rc, gr, gi, p, first))
            return false;
    }
    return true;
}

static bool try_join(rows_ctx *rc, row_group *gr, int gi, duet_node *n)
{
    int before = gr->n, first = first_outside_reader(rc, gr, gi);
    if (add_with_late_inputs(rc, gr, gi, n, first) && placement(rc, gr, gi) >= 0) return true;
    while (gr->n > before) leave(rc, gr, gr->n - 1);
    return false;
}

/* One round over the members: their consumers, and their producers read only by the
 * group. True when some node joined. */
static bool grow_round(rows_ctx *rc, row_group *gr, int gi)
{
    bool grew = false;
    for (int m = 0; m < gr->n; m++) {
        duet_node *n = gr->member[m];
        for (int j = 0; j < n->nin && n->op != DUET_OP_SIZE; j++) {
            duet_node *p = n->in[j]->node;
            if (!read_outside(rc, p, gi)) grew |= try_join(rc, gr, gi, p);
        }
        for (int k = rc->rd_off[n->id]; k < rc->rd_off[n->id + 1]; k++)
            grew |= try_join(rc, gr, gi, rc->g->nodes[rc->rd[k]]);
    }
    return grew;
}

/* A member that cannot stay: a per-row value or a size read outside (only full values
 * are outputs), a value nothing reads, or one reading a value from outside that is
 * computed after a node depending on the group (which leaving members can cause). */
static bool must_leave(const rows_ctx *rc, const row_group *gr, int gi, const duet_node *n,
                       int first_reader)
{
    if (member_kind(n, gr->full) != DUET_ROWV_FULL && read_outside(rc, n, gi)) return true;
    return unread(rc, n) || last_outside_input(rc, n, gi) >= first_reader;
}

static void shrink(rows_ctx *rc, row_group *gr, int gi)
{
    for (bool left = true; left;) {
        left = false;
        int first = first_outside_reader(rc, gr, gi);
        for (int m = 0; m < gr->n && !left; m++)
            if (must_leave(rc, gr, gi, gr->member[m], first)) leave(rc, gr, m), left = true;
    }
}

/* Keeps the members connected to the seed (leaving ones can split a group). */
static void keep_connected(rows_ctx *rc, row_group *gr, int gi, duet_node *seed)
{
    if (!in_group(rc, seed, gi)) {
        while (gr->n) leave(rc, gr, 0);
        return;
    }
    duet_node *reached[DUET_FUSE_MAX_STEPS] = {seed};
    int nreached = 1;
    for (int m = 0; m < gr->n; m++) rc->group[gr->member[m]->id] = -2 - gi; /* not yet reached */
    rc->group[seed->id] = gi;
    for (int r = 0; r < nreached; r++) {
        const duet_node *n = reached[r];
        for (int j = 0; j < n->nin && n->op != DUET_OP_SIZE; j++)
            if (in_group(rc, n->in[j]->node, -2 - gi))
                rc->group[n->in[j]->node->id] = gi, reached[nreached++] = n->in[j]->node;
        for (int k = rc->rd_off[n->id]; k < rc->rd_off[n->id + 1]; k++)
            if (rc->group[rc->rd[k]] == -2 - gi)
                rc->group[rc->rd[k]] = gi, reached[nreached++] = rc->g->nodes[rc->rd[k]];
    }
    for (int m = 0; m < gr->n; m++)
        if (rc->group[gr->member[m]->id] != gi) rc->group[gr->member[m]->id] = -1;
    memcpy(gr->member, reached, sizeof *reached * (size_t)nreached);
    gr->n = nreached;
}

static int count_outputs(const rows_ctx *rc, const row_group *gr, int gi)
{
    int nout = 0;
    for (int m = 0; m < gr->n; m++) nout += read_outside(rc, gr->member[m], gi);
    return nout;
}

/* ---- the rewritten order ---- */

/* Where each node goes: every node that stays, in order, and just before the node at a
 * group's pos its fused node, then its outputs (groups at one pos in the order they
 * were made). at[i]: node i's place (a member: its fused node's); gat[k]: group k's
 * fused node's; start[i]: the first place given while node i's turn came (where a host
 * read mark before node i goes). Returns the number of places. */
static int layout(rows_ctx *rc)
{
    int n = rc->g->n, ng = rc->ngroups, *head = rc->bucket, *next = rc->bucket + n + 1;
    for (int i = 0; i <= n; i++) head[i] = -1;
    for (int k = ng - 1; k >= 0; k--) next[k] = head[rc->groups[k].pos], head[rc->groups[k].pos] = k;
    int place = 0;
    for (int i = 0; i <= n; i++) {
        rc->start[i] = place;
        for (int k = head[i]; k >= 0; k = next[k]) {
            rc->gat[k] = place;
            place += 1 + (rc->groups[k].nout > 1 ? rc->groups[k].nout : 0);
        }
        if (i < n && rc->group[i] < 0) rc->at[i] = place++;
    }
    for (int i = 0; i < n; i++)
        if (rc->group[i] >= 0) rc->at[i] = rc->gat[rc->group[i]];
    return place;
}

/* Whether every node (and fused node) comes after what it reads. Each group was placed
 * against the graph as traced; this checks the groups against each other. */
static bool order_ok(rows_ctx *rc)
{
    layout(rc);
    for (int i = 0; i < rc->g->n; i++) {
        const duet_node *n = rc->g->nodes[i];
        int gi = rc->group[i];
        for (int j = 0; j < n->nin; j++) {
            const duet_node *p = n->in[j]->node;
            if (gi >= 0 && (in_group(rc, p, gi) || n->op == DUET_OP_SIZE)) continue;
            if (rc->at[p->id] >= rc->at[i]) return false;
        }
    }
    return true;
}

/* Grows, trims and places a group from seed; keeps it when it fuses something. */
static void form_group(rows_ctx *rc, duet_node *seed, const duet_tensor *full)
{
    int gi = rc->ngroups;
    row_group *gr = &rc->groups[gi];
    *gr = (row_group){.member = {seed}, .n = 1, .full = full};
    rc->group[seed->id] = gi;
    while (grow_round(rc, gr, gi)) continue;
    shrink(rc, gr, gi);
    keep_connected(rc, gr, gi, seed);
    gr->nout = count_outputs(rc, gr, gi);
    gr->pos = placement(rc, gr, gi);
    /* a group whose every value is read outside would save no memory traffic */
    bool ok = gr->nout >= 1 && gr->nout < gr->n && gr->pos >= 0 &&
              (gr->nout == 1 || full->rank < DUET_MAX_RANK);
    rc->ngroups += ok;
    if (ok && order_ok(rc)) return;
    rc->ngroups -= ok;
    while (gr->n) leave(rc, gr, 0);
}

/* ---- programs ---- */

static int operands(const duet_fused_step *st)
{
    return st->op == DUET_OP_SIZE ? 0 : duet_op_table[st->op]->map2 ? 2 : 1;
}

/* Scratch buffers for the values that are not outputs, each reused once its last
 * reader has run; a step never writes over its own operands. */
static void assign_slots(duet_fused_prog *p)
{
    int last[DUET_FUSE_MAX_STEPS], free_slot[DUET_FUSE_MAX_STEPS], nfree = 0;
    for (int s = 0; s < p->nsteps; s++) last[s] = s;
    for (int s = 0; s < p->nsteps; s++) {
        const duet_fused_step *st = &p->step[s];
        for (int k = 0; k < operands(st); k++)
            if ((k ? st->b : st->a) < 0) last[-(k ? st->b : st->a) - 1] = s;
    }
    p->nslots = 0;
    for (int s = 0; s < p->nsteps; s++) {
        duet_fused_step *st = &p->step[s];
        st->slot = -1;
        if (st->out < 0 && st->op != DUET_OP_SIZE)
            st->slot = (int8_t)(nfree ? free_slot[--nfree] : p->nslots++);
        for (int t = 0; t <= s; t++) /* values whose last reader this step is */
            if (last[t] == s && p->step[t].slot >= 0) free_slot[nfree++] = p->step[t].slot;
    }
}

static duet_fused_prog *row_prog(duet_ctx *ctx, rows_ctx *rc, int gi, duet_tensor ***ext, int *next)
{
    row_group *gr = &rc->groups[gi];
    duet_fused_prog *p = duet_fused_prog_build(ctx, rc->g, gr->member, gr->n, ext, next);
    if (!p) return NULL;
    for (int s = 0; s < p->nsteps; s++) {
        const duet_node *m = gr->member[s];
        duet_fused_step *st = &p->step[s];
        st->kind = (uint8_t)member_kind(m, gr->full);
        st->akind = (uint8_t)(operands(st) > 0 ? value_kind(m->in[0], gr->full) : 0);
        st->bkind = (uint8_t)(operands(st) > 1 ? value_kind(m->in[1], gr->full) : 0);
        st->out = (int8_t)(read_outside(rc, m, gi) ? p->nout++ : -1);
    }
    for (int k = 0; k < *next; k++)
        p->tile[k] = (int8_t)(value_kind((*ext)[k], gr->full) == DUET_ROWV_COL ? p->ntiles++ : -1);
    assign_slots(p);
    return p;
}

/* ---- rewriting the graph ---- */

/* The node holding several outputs: f32 (nout, S...), its site the last member's. */
static duet_node *outputs_node(duet_ctx *ctx, duet_graph *g, const duet_node *last, int nout)
{
    duet_node *f = duet_arena_alloc(ctx, &g->arena, sizeof *f);
    duet_tensor *t = duet_arena_alloc(ctx, &g->arena, sizeof *t);
    if (!f || !t) return NULL;
    *f = *last;
    *t = *last->out;
    t->rank = last->out->rank + 1;
    t->shape[0] = nout;
    memcpy(t->shape + 1, last->out->shape, sizeof(int64_t) * (size_t)last->out->rank);
    t->node = f;
    f->out = t;
    return f;
}

/* Rewrites group gi: its fused node, and (for several outputs) the members read outside
 * turned into fused_out nodes, keeping their tensors, so readers are unchanged. The
 * nodes go to place[0], place[1], ... */
static int emit_group(duet_ctx *ctx, rows_ctx *rc, int gi, duet_node **place)
{
    row_group *gr = &rc->groups[gi];
    duet_tensor **ext;
    int next;
    duet_fused_prog *p = row_prog(ctx, rc, gi, &ext, &next);
    duet_node *last = gr->member[gr->n - 1]; /* read outside: nothing in the group reads it */
    duet_node *f = p && p->nout > 1 ? outputs_node(ctx, rc->g, last, p->nout) : last;
    if (!p || !f) return duet_fail(ctx, DUET_ERR_OOM, "the fuse pass");
    for (int s = 0; s < p->nsteps && p->nout > 1; s++) {
        duet_node *m = gr->member[s];
        if (p->step[s].out < 0) continue;
        duet_tensor **in = duet_arena_alloc(ctx, &rc->g->arena, sizeof *in);
        if (!in) return duet_fail(ctx, DUET_ERR_OOM, "the fuse pass");
        in[0] = f->out;
        m->op = DUET_OP_FUSED_OUT;
        m->in = in;
        m->nin = 1;
        memset(&m->attr, 0, sizeof m->attr);
        m->attr.i[DUET_FUSED_OUT_INDEX] = p->step[s].out;
        m->attr.i[DUET_FUSED_OUT_STEP] = s;
        place[1 + p->step[s].out] = m;
    }
    f->op = DUET_OP_FUSED_ROWS;
    f->in = ext;
    f->nin = next;
    memset(&f->attr, 0, sizeof f->attr);
    f->attr.p = p;
    place[0] = f;
    return 0;
}

static int emit_groups(duet_ctx *ctx, rows_ctx *rc)
{
    duet_graph *g = rc->g;
    int n = layout(rc);
    duet_node **order = malloc(sizeof *order * (size_t)(n > g->cap ? n : g->cap));
    if (!order) return duet_fail(ctx, DUET_ERR_OOM, "the fuse pass");
    for (int k = 0; k < rc->ngroups; k++)
        if (emit_group(ctx, rc, k, order + rc->gat[k])) {
            free(order);
            return -1;
        }
    for (int i = 0; i < g->n; i++)
        if (rc->group[i] < 0) order[rc->at[i]] = g->nodes[i];
    for (duet_read_mark *m = g->marks; m; m = m->next) m->at = rc->start[m->at];
    free(g->nodes);
    g->nodes = order;
    g->cap = n > g->cap ? n : g->cap;
    g->n = n;
    for (int i = 0; i < n; i++) g->nodes[i]->id = i;
    return 0;
}

/* ---- the pass ---- */

static void rows_ctx_free(rows_ctx *rc)
{
    free(rc->rd_off), free(rc->rd), free(rc->graph_out), free(rc->group), free(rc->groups);
    free(rc->at), free(rc->gat), free(rc->start), free(rc->bucket);
}

static int rows_ctx_init(rows_ctx *rc, duet_graph *g)
{
    size_t n = (size_t)g->n, edges = 0;
    for (int i = 0; i < g->n; i++) edges += (size_t)g->nodes[i]->nin;
    *rc = (rows_ctx){.g = g};
    rc->rd_off = calloc(n + 2, sizeof *rc->rd_off);
    rc->rd = malloc(sizeof *rc->rd * (edges + 1));
    rc->graph_out = calloc(n + 1, 1);
    rc->group = malloc(sizeof *rc->group * (n + 1));
    rc->groups = malloc(sizeof *rc->groups * (n + 1));
    rc->at = malloc(sizeof *rc->at * (n + 1));
    rc->gat = malloc(sizeof *rc->gat * (n + 1));
    rc->start = malloc(sizeof *rc->start * (n + 1));
    rc->bucket = malloc(sizeof *rc->bucket * (2 * n + 2));
    if (!rc->rd_off || !rc->rd || !rc->graph_out || !rc->group || !rc->groups || !rc->at ||
        !rc->gat || !rc->start || !rc->bucket)
        return -1;
    for (int i = 0; i < g->n; i++) {
        rc->group[i] = -1;
        for (int j = 0; j < g->nodes[i]->nin; j++) rc->rd_off[g->nodes[i]->in[j]->node->id + 2]++;
    }
    for (int i = 0; i < g->n; i++) rc->rd_off[i + 2] += rc->rd_off[i + 1];
    for (int i = 0; i < g->n; i++) /* in reader order, counting from rd_off[v + 1] */
        for (int j = 0; j < g->nodes[i]->nin; j++) rc->rd[rc->rd_off[g->nodes[i]->in[j]->node->id + 1]++] = i;
    for (int k = 0; k < g->nout; k++)
        if (g->outputs[k]) rc->graph_out[g->outputs[k]->node->id] = true;
    return 0;
}

void duet_fuse_rows(duet_ctx *ctx, duet_graph *g)
{
    rows_ctx rc;
    if (rows_ctx_init(&rc, g)) {
        rows_ctx_free(&rc);
        duet_ctx_fail(ctx, DUET_ERR_OOM, "the fuse pass");
        return;
    }
    /* groups around row sums first: a bias add's group could otherwise take the
     * consumers of its result in a layer norm's backward */
    for (int maps = 0; maps < 2; maps++)
        for (int i = 0; i < g->n; i++) {
            const duet_tensor *full = rc.group[i] < 0 ? seed_view(g->nodes[i], maps) : NULL;
            if (full) form_group(&rc, g->nodes[i], full);
        }
    if (rc.ngroups) emit_groups(ctx, &rc);
    rows_ctx_free(&rc);
}

/* ---- the kernel ---- */

typedef struct rows_job {
    const duet_fused_prog *prog;
    duet_tensor *const *in;
    int nin;
    float *out;                       /* output j at out + j * rows * cols */
    const float *tiles;               /* the per-column inputs repeated over a block */
    int64_t rows, cols, block;
    float size[DUET_FUSE_MAX_STEPS];  /* the size steps' values */
    atomic_bool oom;
} rows_job;

/* Where step s's values for the block of rows from r0 go. */
static float *step_dst(rows_job *j, int s, float *scratch, int64_t r0)
{
    const duet_fused_step *st = &j->prog->step[s];
    if (st->op == DUET_OP_SIZE) return &j->size[s];
    if (st->out < 0) return scratch + st->slot * j->block * j->cols;
    return j->out + st->out * j->rows * j->cols + r0 * (st->kind == DUET_ROWV_FULL ? j->cols : 1);
}

/* A per-row operand of a full step, one value per row, copied out to full rows. */
DUET_SIMD_CLONES static void expand_rows(float *dst, const float *v, int64_t nr, int64_t cols)
{
    for (int64_t r = 0; r < nr; r++)
        for (int64_t c = 0; c < cols; c++) dst[r * cols + c] = v[r];
}

/* Operand k (of the given kind) of a step of the given kind over nr rows from r0: its
 * values and their stride in the map over the step's elements. A full step has one
 * per-row operand at most (two would give a per-row result): it goes to expand. */
static const float *operand(const rows_job *j, int k, int kind, int step_kind, float *const *val,
                            float *expand, int64_t r0, int64_t nr, int64_t *stride)
{
    const float *v = k < 0 ? val[-k - 1] : j->in[k]->data;
    if (k >= 0 && kind == DUET_ROWV_FULL) v += r0 * j->cols;
    if (k >= 0 && kind == DUET_ROWV_ROW) v += r0;
    if (k >= 0 && kind == DUET_ROWV_COL) v = j->tiles + j->prog->tile[k] * j->block * j->cols;
    *stride = kind != DUET_ROWV_SCALAR;
    if (kind != DUET_ROWV_ROW || step_kind != DUET_ROWV_FULL) return v;
    expand_rows(expand, v, nr, j->cols);
    return expand;
}

static void run_step(const rows_job *j, int s, float *const *val, float *expand, int64_t r0,
                     int64_t nr)
{
    const duet_fused_step *st = &j->prog->step[s];
    int64_t n = st->kind == DUET_ROWV_FULL ? nr * j->cols : nr, sa, sb;
    if (st->op == DUET_OP_SIZE) return; /* computed once, before the rows */
    const float *a = operand(j, st->a, st->akind, st->kind, val, expand, r0, nr, &sa);
    const duet_op_def *def = duet_op_table[st->op];
    if (st->op == DUET_OP_SUM) {
        duet_sum_rows_f32(a, nr, j->cols, val[s]);
    } else if (!def->map2) {
        def->map1(val[s], a, n, &st->attr);
    } else {
        const float *b = operand(j, st->b, st->bkind, st->kind, val, expand, r0, nr, &sb);
        def->map2(val[s], a, sa, b, sb, n);
    }
}

/* Per-column inputs, repeated over a block's rows, so they read as full rows: made
 * once a run, and read by every task. */
static void fill_tiles(const rows_job *j, float *tiles)
{
    size_t row = sizeof(float) * (size_t)j->cols;
    for (int k = 0; k < j->nin; k++) {
        if (j->prog->tile[k] < 0) continue;
        for (int64_t r = 0; r < j->block; r++)
            memcpy(tiles + (j->prog->tile[k] * j->block + r) * j->cols, j->in[k]->data, row);
    }
}

/* Blocks [begin, end) of rows, one at a time, with scratch of their own (a buffer per
 * slot, and one to expand a per-row operand into): on the stack unless rows are very
 * long. */
static void rows_range(void *arg, int64_t begin, int64_t end)
{
    rows_job *j = arg;
    const duet_fused_prog *p = j->prog;
    int64_t buf = j->block * j->cols, need = buf * (p->nslots + 1);
    float stack[ROWS_STACK_FLOATS];
    float *scratch = need <= ROWS_STACK_FLOATS ? stack : malloc(sizeof(float) * (size_t)need);
    if (!scratch) {
        atomic_store(&j->oom, true);
        return;
    }
    float *expand = scratch + buf * p->nslots, *val[DUET_FUSE_MAX_STEPS];
    for (int64_t b = begin; b < end; b++) {
        int64_t r0 = b * j->block, nr = j->rows - r0 < j->block ? j->rows - r0 : j->block;
        for (int s = 0; s < p->nsteps; s++) {
            val[s] = step_dst(j, s, scratch, r0);
            run_step(j, s, val, expand, r0, nr);
        }
    }
    if (scratch != stack) free(scratch);
}

/* Rows per block: about ROWS_BLOCK_ELEMS elements, fewer when a task's scratch or the
 * tiles would not fit ROWS_STACK_FLOATS, at least one. */
static int64_t block_rows(const duet_fused_prog *p, int64_t rows, int64_t cols)
{
    int64_t bufs = p->nslots + 1 > p->ntiles ? p->nslots + 1 : p->ntiles;
    int64_t block = ROWS_BLOCK_ELEMS / cols, fits = ROWS_STACK_FLOATS / (bufs * cols);
    block = block < fits ? block : fits;
    return block < 1 ? 1 : block > rows ? rows : block;
}

/* Runs the blocks of rows as tasks for the context's threads: the group's cost is
 * counted as that of the memory streams it reads and writes, its steps in between run
 * in cache. */
static int run_blocks(duet_ctx *ctx, rows_job *j)
{
    float stack[ROWS_STACK_FLOATS];
    int64_t need = j->prog->ntiles * j->block * j->cols;
    float *tiles = need <= ROWS_STACK_FLOATS ? stack : malloc(sizeof(float) * (size_t)need);
    if (!tiles) return duet_fail(ctx, DUET_ERR_OOM, "scratch for a fused_rows node");
    fill_tiles(j, tiles);
    j->tiles = tiles;
    double streams = j->nin + j->prog->nout;
    duet_parallel_range(ctx, (j->rows + j->block - 1) / j->block,
                        DUET_WORK_ELEM * streams * (double)(j->block * j->cols), 1, rows_range, j);
    if (tiles != stack) free(tiles);
    if (atomic_load(&j->oom)) return duet_fail(ctx, DUET_ERR_OOM, "scratch for a fused_rows node");
    return 0;
}

/* Runs p over the view of this concrete shape; out holds its outputs. */
static int rows_run(duet_ctx *ctx, const duet_fused_prog *p, duet_tensor *const *in, int nin,
                    int rank, const int64_t *shape, float *out)
{
    rows_job j = {.prog = p, .in = in, .nin = nin, .out = out, .rows = 1, .cols = shape[rank - 1]};
    for (int d = 0; d < rank - 1; d++) j.rows *= shape[d];
    atomic_init(&j.oom, false);
    for (int s = 0; s < p->nsteps; s++)
        if (p->step[s].op == DUET_OP_SIZE) {
            j.size[s] = duet_size_value(ctx, &p->step[s].attr, rank, shape);
            if (p->step[s].out >= 0) out[0] = j.size[s]; /* a cut program's, checking numerics */
        }
    if (j.rows == 0 || j.cols == 0) return 0; /* full outputs have no element */
    j.block = block_rows(p, j.rows, j.cols);
    return run_blocks(ctx, &j);
}

/* The view's shape: the output's, less the leading dim counting several outputs. */
static int view_shape(const duet_fused_prog *p, const duet_tensor *out, int64_t *shape)
{
    int lead = p->nout > 1;
    memcpy(shape, out->shape + lead, sizeof(int64_t) * (size_t)(out->rank - lead));
    return out->rank - lead;
}

static int rows_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                      duet_type *out)
{
    const duet_fused_prog *p = a->p;
    out->dtype = DUET_F32;
    if (duet_broadcast_shapes(c, in, nin, out)) return -1;
    if (p->nout > 1) {
        memmove(out->shape + 1, out->shape, sizeof(int64_t) * (size_t)out->rank);
        out->shape[0] = p->nout;
        out->rank++;
    }
    return 0;
}

static int rows_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                       duet_tensor *out)
{
    int64_t shape[DUET_MAX_RANK];
    int rank = view_shape(a->p, out, shape);
    return rows_run(c, a->p, in, nin, rank, shape, out->data);
}

const duet_op_def duet_opdef_fused_rows = {.name = "fused_rows",
                                           .nin = -1,
                                           .infer = rows_infer,
                                           .kernel = rows_kernel,
                                           .attr_text = duet_fused_attr_text};

/* ---- fused_out: output k of a fused_rows node, a view of its buffer ---- */

static int out_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                     duet_type *out)
{
    (void)c, (void)a, (void)nin;
    out->dtype = in[0]->dtype;
    out->rank = in[0]->rank - 1;
    memcpy(out->shape, in[0]->shape + 1, sizeof(int64_t) * (size_t)out->rank);
    return 0;
}

static int out_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                      duet_tensor *out)
{
    (void)c, (void)nin;
    out->data = (float *)in[0]->data + a->i[DUET_FUSED_OUT_INDEX] * duet_numel(out);
    return 0;
}

static void out_attr_text(const duet_attrs *a, duet_text *t)
{
    duet_text_put(t, " index=%lld", (long long)a->i[DUET_FUSED_OUT_INDEX]);
}

const duet_op_def duet_opdef_fused_out = {.name = "fused_out",
                                          .nin = 1,
                                          .flags = DUET_OPF_ALIAS,
                                          .infer = out_infer,
                                          .kernel = out_kernel,
                                          .attr_text = out_attr_text};

/* ---- numerics checking ---- */

/* Step s's type in the view of this shape. */
static void step_type(const duet_fused_step *st, int rank, const int64_t *shape, duet_tensor *t)
{
    t->rank = st->kind == DUET_ROWV_SCALAR ? 0 : rank;
    memcpy(t->shape, shape, sizeof(int64_t) * (size_t)t->rank);
    if (st->kind == DUET_ROWV_ROW) t->shape[rank - 1] = 1;
}

/* The program cut after step s, whose only output is step s's result. */
static void cut_after(const duet_fused_prog *p, int s, duet_fused_prog *cut)
{
    *cut = *p;
    cut->nsteps = s + 1;
    cut->nout = 1;
    for (int t = 0; t <= s; t++) cut->step[t].out = t == s ? 0 : -1;
    assign_slots(cut);
}

/* As for FUSED (fuse.c): the program cut after each step in turn, the first cut whose
 * output holds a NaN or Inf naming its member. Only when a check has already failed. */
bool duet_rows_nonfinite_member(duet_ctx *ctx, const duet_node *fused, duet_tensor *const *in,
                                duet_tensor *member_out, duet_node *member)
{
    const duet_fused_prog *p = fused->attr.p;
    int64_t shape[DUET_MAX_RANK];
    int rank = view_shape(p, member_out, shape);
    duet_fused_prog *cut = malloc(sizeof *cut);
    bool found = false;
    for (int s = 0; cut && s < p->nsteps && !found; s++) {
        cut_after(p, s, cut);
        if (rows_run(ctx, cut, in, fused->nin, rank, shape, member_out->data)) break;
        step_type(&p->step[s], rank, shape, member_out);
        found = duet_fused_step_nonfinite(p, s, member_out, member);
    }
    free(cut);
    return found;
}
