/* The fusion pass, in three steps, each bit-identical to the graph it rewrites:
 *
 * Pattern fusion: a softmax of masked scores, in either form model code writes it,
 * becomes one masked_softmax node that reads the bool mask itself:
 *   softmax(add(x, mul(sub(1, cast(mask)), fill)))  Keras's Softmax (fill finite)
 *   softmax(where(mask, x, fill))                   the select form (fill a full or scalar)
 * and a masked_softmax reads the mask from under a broadcast_to (its kernel
 * broadcasts), so neither the (B, heads, T, T) mask nor its f32 copies are made.
 *
 * Row fusion (fuse_rows.c): groups of f32 ops that work row by row on one (R, C)
 * view, C the last axis, with operands that are full, per row ((R, 1), keepdims),
 * per column ((C,)) or scalars, including sums over the last axis with keepdims and
 * sizes: a layer norm's backward, a bias add and what follows it. Each group becomes
 * one FUSED_ROWS node that runs it a block of rows at a time and writes only the
 * values read outside it; with several, FUSED_OUT nodes hand them out. It runs first,
 * so that these groups are not cut into same-shape pieces.
 *
 * Elementwise fusion: a tree of same-shape f32 elementwise ops whose inner results
 * have no other reader becomes one FUSED node. Its kernel walks the output in tiles
 * and applies each op's own map function (the same one its eager kernel uses) to
 * the tile, so intermediates stay in cache and results are bit-identical: nothing
 * is reordered. */
#include <math.h>
#include <stdlib.h>

#include "graph_internal.h"

#define FUSE_TILE 512
/* members of an elementwise group at most: its kernel keeps a tile per step on the stack */
#define EW_MAX_STEPS 16


static int fused_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                       duet_type *out)
{
    (void)a;
    out->dtype = DUET_F32;
    return duet_broadcast_shapes(c, in, nin, out);
}

static const float *operand(int k, duet_tensor *const *in, float tmp[][FUSE_TILE], int64_t off,
                            int64_t *stride)
{
    if (k < 0) {
        *stride = 1;
        return tmp[-k - 1];
    }
    bool scalar = duet_numel(in[k]) == 1;
    *stride = scalar ? 0 : 1;
    return (const float *)in[k]->data + (scalar ? 0 : off);
}

/* The fused kernel's tasks: runs of tiles. Each output element is its members' maps
 * of its own inputs, in order, so a tile computes the same bits on any thread; each
 * task keeps its intermediates on its own stack. */
typedef struct fused_job {
    const duet_fused_prog *prog;
    duet_tensor *const *in;
    float *out;
    int64_t n;
} fused_job;

static void fused_run(void *arg, int64_t begin, int64_t end)
{
    const fused_job *j = arg;
    const duet_fused_prog *prog = j->prog;
    float tmp[EW_MAX_STEPS][FUSE_TILE];
    for (int64_t off = begin * FUSE_TILE; off < end * FUSE_TILE && off < j->n; off += FUSE_TILE) {
        int64_t len = j->n - off < FUSE_TILE ? j->n - off : FUSE_TILE;
        for (int s = 0; s < prog->nsteps; s++) {
            const duet_fused_step *st = &prog->step[s];
            const duet_op_def *def = duet_op_table[st->op];
            bool last = s == prog->nsteps - 1;
            float *dst = last ? j->out + off : tmp[s];
            int64_t sa, sb;
            const float *pa = operand(st->a, j->in, tmp, off, &sa);
            if (def->map2) {
                const float *pb = operand(st->b, j->in, tmp, off, &sb);
                def->map2(dst, pa, sa, pb, sb, len);
            } else if (sa == 0) { /* a scalar operand of a unary map */
                float v;
                def->map1(&v, pa, 1, &st->attr);
                for (int64_t i = 0; i < len; i++) dst[i] = v;
            } else {
                def->map1(dst, pa, len, &st->attr);
            }
        }
    }
}

static int fused_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                        duet_tensor *out)
{
    (void)nin;
    fused_job j = {a->p, in, out->data, duet_numel(out)};
    double tile_work = DUET_WORK_ELEM * FUSE_TILE * (double)j.prog->nsteps;
    duet_parallel_range(c, (j.n + FUSE_TILE - 1) / FUSE_TILE, tile_work, 1, fused_run, &j);
    return 0;
}

bool duet_is_fused(const duet_node *n)
{
    return n->op == DUET_OP_FUSED || n->op == DUET_OP_FUSED_ROWS;
}

const char *duet_fused_members(const duet_node *fused)
{
    return ((const duet_fused_prog *)fused->attr.p)->members;
}

duet_op duet_traced_op(const duet_node *n)
{
    if (duet_is_fused(n)) {
        const duet_fused_prog *prog = n->attr.p;
        return prog->step[prog->nsteps - 1].op;
    }
    if (n->op == DUET_OP_FUSED_OUT) {
        const duet_fused_prog *prog = n->in[0]->node->attr.p;
        return prog->step[n->attr.i[DUET_FUSED_OUT_STEP]].op;
    }
    return n->op;
}

void duet_fused_attr_text(const duet_attrs *a, duet_text *t)
{
    const duet_fused_prog *prog = a->p;
    duet_text_put(t, " ops=[");
    for (int s = 0; s < prog->nsteps; s++)
        duet_text_put(t, "%s%s", s ? ", " : "", duet_op_table[prog->step[s].op]->name);
    duet_text_put(t, "]");
}

const duet_op_def duet_opdef_fused = {.name = "fused",
                                      .nin = -1,
                                      .infer = fused_infer,
                                      .kernel = fused_kernel,
                                      .attr_text = duet_fused_attr_text};

/* ---- pattern fusion: masked softmax ---- */

/* t's producer when it is an op node read only here, else NULL */
static duet_node *sole(const duet_tensor *t, duet_op op, const int *uses)
{
    duet_node *p = t->node;
    return p->op == op && uses[p->id] == 1 ? p : NULL;
}

static bool uniform(const duet_tensor *t, float *v) { return duet_node_uniform_f32(t->node, v); }

/* add(x, mul(sub(1, cast(mask)), fill)), the bias on either side: x + fill where the
 * mask is false and x + -0 (or +0, which softmax cannot tell apart) = x where it is
 * true; a fill that is not finite would make 0 * fill NaN, so it is left alone. */
static bool keras_bias(duet_node *add, const int *uses, duet_tensor **x, duet_tensor **mask,
                       float *fill, duet_node **chain)
{
    for (int k = 0; k < 2; k++) {
        duet_node *mul = sole(add->in[1 - k], DUET_OP_MUL, uses);
        if (!mul) continue;
        for (int j = 0; j < 2; j++) {
            duet_node *sub = sole(mul->in[j], DUET_OP_SUB, uses);
            float one, f;
            if (!sub || !uniform(mul->in[1 - j], &f) || !isfinite(f) || !uniform(sub->in[0], &one) ||
                one != 1.0f)
                continue;
            duet_node *cast = sole(sub->in[1], DUET_OP_CAST, uses);
            if (!cast || cast->in[0]->dtype != DUET_BOOL8 || cast->out->dtype != DUET_F32) continue;
            *x = add->in[k], *mask = cast->in[0], *fill = f;
            chain[0] = add, chain[1] = mul, chain[2] = sub, chain[3] = cast;
            return true;
        }
    }
    return false;
}

/* Rewrites node n, a softmax, when its input is a masking chain read only by it. */
static void masked_softmax_pattern(duet_ctx *ctx, duet_graph *g, duet_node *n, const int *uses,
                                   bool *dead)
{
    duet_tensor *x = NULL, *mask = NULL;
    float fill;
    duet_node *chain[4] = {0};
    duet_node *w = sole(n->in[0], DUET_OP_WHERE, uses), *add = sole(n->in[0], DUET_OP_ADD, uses);
    bool select = w && w->in[0]->dtype == DUET_BOOL8 && uniform(w->in[2], &fill);
    if (select)
        x = w->in[1], mask = w->in[0], chain[0] = w;
    else if (!add || !keras_bias(add, uses, &x, &mask, &fill, chain))
        return;
    if (x->dtype != DUET_F32 || !duet_same_shape(x, n->out)) return;
    duet_tensor **in = duet_arena_alloc(ctx, &g->arena, sizeof *in * 2);
    if (!in) {
        duet_fail(ctx, DUET_ERR_OOM, "fuse: out of memory");
        return;
    }
    in[0] = x, in[1] = mask;
    duet_masked_softmax_attrs(&n->attr, select, fill);
    n->op = DUET_OP_MASKED_SOFTMAX;
    n->in = in;
    n->nin = 2;
    for (int k = 0; k < 4 && chain[k]; k++) dead[chain[k]->id] = true;
}

static void fuse_patterns(duet_ctx *ctx, duet_graph *g, const int *uses, bool *dead)
{
    for (int i = 0; i < g->n && !ctx->err.code; i++) {
        duet_node *n = g->nodes[i];
        if (n->op == DUET_OP_SOFTMAX) masked_softmax_pattern(ctx, g, n, uses, dead);
        /* the kernel broadcasts the mask itself */
        if (n->op == DUET_OP_MASKED_SOFTMAX && n->in[1]->node->op == DUET_OP_BROADCAST_TO)
            n->in[1] = n->in[1]->node->in[0];
    }
}

/* ---- the pass ---- */

static bool fusible(const duet_node *n)
{
    const duet_op_def *def = duet_op_table[n->op];
    if (!(def->flags & DUET_OPF_ELEMENTWISE) || n->out->dtype != DUET_F32) return false;
    for (int j = 0; j < n->nin; j++) {
        const duet_tensor *x = n->in[j];
        if (x->dtype != DUET_F32) return false;
        if (!duet_same_shape(x, n->out) && duet_numel(x) != 1) return false;
    }
    return def->map1 || def->map2;
}

typedef struct group {
    duet_node *member[EW_MAX_STEPS];
    int n;
} group;

static bool in_group(const group *gr, const duet_node *n)
{
    for (int i = 0; i < gr->n; i++)
        if (gr->member[i] == n) return true;
    return false;
}

/* Grows the group from its root through producers read only by the group. */
static void grow(group *gr, const int *uses, const bool *taken, const duet_tensor *shape)
{
    for (int m = 0; m < gr->n; m++) {
        duet_node *n = gr->member[m];
        for (int j = 0; j < n->nin && gr->n < EW_MAX_STEPS; j++) {
            duet_node *p = n->in[j]->node;
            if (uses[p->id] != 1 || taken[p->id] || in_group(gr, p) || !fusible(p) ||
                !duet_same_shape(p->out, shape))
                continue;
            gr->member[gr->n++] = p;
        }
    }
}

static int cmp_id(const void *a, const void *b)
{
    return (*(duet_node *const *)a)->id - (*(duet_node *const *)b)->id;
}

static int external_index(duet_tensor **ext, int *next, duet_tensor *t)
{
    for (int k = 0; k < *next; k++)
        if (ext[k] == t) return k;
    ext[*next] = t;
    return (*next)++;
}

static int step_operand(duet_node *const *member, int n, duet_tensor **ext, int *next,
                        duet_tensor *t)
{
    for (int s = 0; s < n; s++)
        if (member[s] == t->node) return -(s + 1);
    return external_index(ext, next, t);
}

duet_fused_prog *duet_fused_prog_build(duet_ctx *ctx, duet_graph *g, duet_node **member, int n,
                                       duet_tensor ***ext_out, int *next)
{
    qsort(member, (size_t)n, sizeof *member, cmp_id);
    duet_fused_prog *prog = duet_arena_alloc(ctx, &g->arena, sizeof *prog);
    duet_tensor **ext = duet_arena_alloc(ctx, &g->arena, sizeof *ext * 2 * DUET_FUSE_MAX_STEPS);
    if (!prog || !ext) return NULL;
    memset(prog, 0, sizeof *prog);
    *next = 0;
    prog->nsteps = n;
    for (int s = 0; s < n; s++) {
        const duet_node *m = member[s];
        duet_fused_step *st = &prog->step[s];
        st->op = m->op;
        st->attr = m->attr;
        st->site = m->site;
        st->scope = m->scope;
        st->grad_of = m->grad_of;
        /* size reads only its input's shape: no operand (row programs know the shape) */
        st->a = m->op == DUET_OP_SIZE ? 0 : step_operand(member, n, ext, next, m->in[0]);
        st->b = m->nin > 1 ? step_operand(member, n, ext, next, m->in[1]) : 0;
        size_t len = strlen(prog->members);
        snprintf(prog->members + len, sizeof prog->members - len, "%s%s", s ? " " : "",
                 duet_op_table[m->op]->name);
    }
    *ext_out = ext;
    return prog;
}

/* Rewrites the group's root (its last member) into a FUSED node. */
static int emit(duet_ctx *ctx, duet_graph *g, group *gr, bool *dead)
{
    duet_tensor **ext;
    int next;
    duet_fused_prog *prog = duet_fused_prog_build(ctx, g, gr->member, gr->n, &ext, &next);
    if (!prog) return duet_fail(ctx, DUET_ERR_OOM, "the fuse pass");
    duet_node *root = gr->member[gr->n - 1];
    for (int s = 0; s < gr->n - 1; s++) dead[gr->member[s]->id] = true;
    root->op = DUET_OP_FUSED;
    root->in = ext;
    root->nin = next;
    memset(&root->attr, 0, sizeof root->attr);
    root->attr.p = prog;
    return 0;
}

/* Each step allocates its own tables: row fusion changes the number of nodes. */
static void fuse_pattern_step(duet_ctx *ctx, duet_graph *g)
{
    int *uses = duet_graph_uses(g);
    bool *dead = calloc((size_t)g->n + 1, 1);
    if (uses && dead) {
        fuse_patterns(ctx, g, uses, dead);
        duet_graph_compact(g, dead);
    } else {
        duet_ctx_fail(ctx, DUET_ERR_OOM, "the fuse pass");
    }
    free(uses), free(dead);
}

static void fuse_elementwise(duet_ctx *ctx, duet_graph *g)
{
    int *uses = duet_graph_uses(g);
    bool *taken = calloc((size_t)g->n + 1, 1), *dead = calloc((size_t)g->n + 1, 1);
    if (!uses || !taken || !dead) {
        free(uses), free(taken), free(dead);
        duet_ctx_fail(ctx, DUET_ERR_OOM, "the fuse pass");
        return;
    }
    for (int i = g->n - 1; i >= 0 && !ctx->err.code; i--) {
        duet_node *root = g->nodes[i];
        if (taken[i] || !fusible(root)) continue;
        group gr = {{root}, 1};
        grow(&gr, uses, taken, root->out);
        for (int m = 0; m < gr.n; m++) taken[gr.member[m]->id] = true;
        if (gr.n >= 2) emit(ctx, g, &gr, dead);
    }
    duet_graph_compact(g, dead);
    free(uses), free(taken), free(dead);
}

void duet_fuse_pass(duet_ctx *ctx, duet_plan *p)
{
    duet_graph *g = &p->graph;
    fuse_pattern_step(ctx, g);
    if (!ctx->err.code) duet_fuse_rows(ctx, g);
    if (!ctx->err.code) fuse_elementwise(ctx, g);
}

/* Re-runs the program cut after each step in turn, whole, into a scratch tensor: the
 * first cut whose output holds a NaN or Inf ends at the member that made it, the one
 * eager mode would have run first. Quadratic in the steps, but it runs only once, when
 * a check has already failed. */
bool duet_fused_nonfinite_member(duet_ctx *ctx, const duet_node *fused, duet_tensor *const *in,
                                 duet_tensor *member_out, duet_node *member)
{
    if (fused->op == DUET_OP_FUSED_ROWS)
        return duet_rows_nonfinite_member(ctx, fused, in, member_out, member);
    const duet_fused_prog *prog = fused->attr.p;
    duet_fused_prog cut = *prog;
    bool found = false;
    for (int s = 0; s < prog->nsteps && !found; s++) {
        cut.nsteps = s + 1;
        fused_kernel(ctx, &(duet_attrs){.p = &cut}, in, fused->nin, member_out);
        found = duet_fused_step_nonfinite(prog, s, member_out, member);
    }
    return found;
}

bool duet_fused_step_nonfinite(const duet_fused_prog *prog, int s, const duet_tensor *out,
                               duet_node *member)
{
    const float *v = out->data;
    int64_t n = duet_numel(out), i = 0;
    while (i < n && isfinite(v[i])) i++;
    if (i == n) return false;
    const duet_fused_step *st = &prog->step[s];
    *member = (duet_node){.op = st->op, .site = st->site, .scope = st->scope, .grad_of = st->grad_of};
    return true;
}
