/* Graph passes: dead-code elimination, common-subexpression elimination, constant
 * folding, transposes folded into products (layout.c), elementwise fusion, guards
 * first and memory planning, each of which can be switched off (duet_fn_set_passes),
 * and the opt-in reassociation of f32 sums;
 * the graph can be printed after any of them (duet_fn_set_dump). */
#include <stdlib.h>

#include "graph_internal.h"

static unsigned flags_of(const duet_node *n) { return duet_op_table[n->op]->flags; }

static duet_node *producer(const duet_tensor *t) { return t->node; }

/* Ops that must run where the trace put them: never removed, merged or folded. */
#define PINNED_FLAGS (DUET_OPF_WRITES_VAR | DUET_OPF_GUARD | DUET_OPF_HOST_IO)

/* Drops the nodes marked dead and renumbers the rest in order; a mark of a host read
 * stays before the first surviving node that followed it. */
void duet_graph_compact(duet_graph *g, const bool *dead)
{
    duet_read_mark *m = g->marks;
    int k = 0;
    for (int i = 0; i < g->n; i++) {
        for (; m && m->at <= i; m = m->next) m->at = k;
        if (!dead[i]) {
            g->nodes[k] = g->nodes[i];
            g->nodes[k]->id = k;
            k++;
        }
    }
    for (; m; m = m->next) m->at = k;
    g->n = k;
}

int *duet_graph_uses(const duet_graph *g)
{
    int *uses = calloc((size_t)g->n + 1, sizeof *uses);
    if (!uses) return NULL;
    for (int i = 0; i < g->n; i++)
        for (int j = 0; j < g->nodes[i]->nin; j++) uses[producer(g->nodes[i]->in[j])->id]++;
    for (int k = 0; k < g->nout; k++) uses[producer(g->outputs[k])->id] += 2; /* never absorbed */
    return uses;
}

/* ---- DCE: keep what the outputs and the side effects need ---- */
static void pass_dce(duet_ctx *ctx, duet_plan *p)
{
    duet_graph *g = &p->graph;
    bool *live = calloc((size_t)g->n + 1, 1), *dead = calloc((size_t)g->n + 1, 1);
    if (!live || !dead) {
        free(live), free(dead);
        duet_ctx_fail(ctx, DUET_ERR_OOM, "the dce pass");
        return;
    }
    for (int k = 0; k < g->nout; k++) live[producer(g->outputs[k])->id] = true;
    for (int i = g->n - 1; i >= 0; i--) {
        const duet_node *n = g->nodes[i];
        if (flags_of(n) & PINNED_FLAGS || n->op == DUET_OP_PLACEHOLDER)
            live[i] = true;
        if (!live[i]) continue;
        for (int j = 0; j < n->nin; j++) live[producer(n->in[j])->id] = true;
    }
    for (int i = 0; i < g->n; i++) dead[i] = !live[i];
    duet_graph_compact(g, dead);
    free(live), free(dead);
}

/* ---- CSE: one node per (op, inputs, attributes); constants by value ---- */
static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *b = data;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static size_t const_bytes(const duet_node *n)
{
    return (size_t)duet_numel(n->out) * duet_dtype_size(n->out->dtype);
}

static uint64_t node_hash(const duet_node *n)
{
    uint64_t h = fnv(14695981039346656037ull, &n->op, sizeof n->op);
    for (int j = 0; j < n->nin; j++) h = fnv(h, &n->in[j], sizeof n->in[j]);
    h = fnv(h, n->attr.i, sizeof n->attr.i);
    h = fnv(h, n->attr.f, sizeof n->attr.f);
    if (n->op == DUET_OP_CONST) h = fnv(h, n->attr.p, const_bytes(n));
    else h = fnv(h, &n->attr.p, sizeof n->attr.p);
    return h;
}

static bool node_same(const duet_node *a, const duet_node *b)
{
    if (a->op != b->op || a->nin != b->nin || memcmp(a->attr.i, b->attr.i, sizeof a->attr.i) ||
        memcmp(a->attr.f, b->attr.f, sizeof a->attr.f))
        return false;
    for (int j = 0; j < a->nin; j++)
        if (a->in[j] != b->in[j]) return false;
    if (a->op == DUET_OP_CONST) return !memcmp(a->attr.p, b->attr.p, const_bytes(a));
    return a->attr.p == b->attr.p;
}

static bool cse_candidate(const duet_node *n)
{
    return !(flags_of(n) & (PINNED_FLAGS | DUET_OPF_SOURCE));
}

static void replace_uses(duet_plan *p, duet_node **repl)
{
    duet_graph *g = &p->graph;
    for (int i = 0; i < g->n; i++)
        for (int j = 0; j < g->nodes[i]->nin; j++) {
            duet_node *src = producer(g->nodes[i]->in[j]);
            if (repl[src->id]) g->nodes[i]->in[j] = repl[src->id]->out;
        }
    for (int k = 0; k < g->nout; k++)
        if (repl[producer(g->outputs[k])->id]) g->outputs[k] = repl[producer(g->outputs[k])->id]->out;
}

static void pass_cse(duet_ctx *ctx, duet_plan *p)
{
    duet_graph *g = &p->graph;
    size_t cap = 1;
    while (cap < (size_t)g->n * 2) cap <<= 1;
    duet_node **table = calloc(cap, sizeof *table), **repl = calloc((size_t)g->n + 1, sizeof *repl);
    bool *dead = calloc((size_t)g->n + 1, 1);
    if (!table || !repl || !dead) {
        free(table), free(repl), free(dead);
        duet_ctx_fail(ctx, DUET_ERR_OOM, "the cse pass");
        return;
    }
    for (int i = 0; i < g->n; i++) {
        duet_node *n = g->nodes[i];
        for (int j = 0; j < n->nin; j++) { /* earlier merges first: merges cascade */
            duet_node *src = producer(n->in[j]);
            if (repl[src->id]) n->in[j] = repl[src->id]->out;
        }
        if (!cse_candidate(n)) continue;
        size_t h = (size_t)node_hash(n) & (cap - 1);
        while (table[h] && !node_same(table[h], n)) h = (h + 1) & (cap - 1);
        if (table[h]) {
            repl[i] = table[h];
            dead[i] = true;
        } else {
            table[h] = n;
        }
    }
    replace_uses(p, repl);
    duet_graph_compact(g, dead);
    free(table), free(repl), free(dead);
}

/* ---- constant folding: ops whose inputs are all constants run once, now ---- */
#define FOLD_MAX_ELEMS 65536

static bool foldable(const duet_node *n)
{
    if (n->op == DUET_OP_CONST || n->op == DUET_OP_WHILE || n->op == DUET_OP_LOOP_OUT ||
        flags_of(n) & (PINNED_FLAGS | DUET_OPF_SOURCE))
        return false;
    int64_t numel = duet_numel(n->out);
    if (numel < 0 || numel > FOLD_MAX_ELEMS) return false;
    if (n->op == DUET_OP_SIZE) return duet_numel(n->in[0]) >= 0; /* reads only the shape */
    for (int j = 0; j < n->nin; j++)
        if (producer(n->in[j])->op != DUET_OP_CONST) return false;
    return true;
}

static void pass_fold(duet_ctx *ctx, duet_plan *p)
{
    duet_graph *g = &p->graph;
    for (int i = 0; i < g->n && !ctx->err.code; i++) {
        duet_node *n = g->nodes[i];
        if (!foldable(n)) continue;
        duet_tensor *out = n->out;
        size_t bytes = (size_t)duet_numel(out) * duet_dtype_size(out->dtype);
        if (!(flags_of(n) & DUET_OPF_ALIAS)) {
            out->data = duet_arena_alloc(ctx, &g->arena, bytes ? bytes : 1);
            if (!out->data) {
                duet_ctx_fail(ctx, DUET_ERR_OOM, "the fold pass");
                return;
            }
        }
        ctx->cur_op = n->op;
        ctx->cur_site = n->site;
        ctx->exec_node = n;
        int rc = duet_op_table[n->op]->kernel(ctx, &n->attr, n->in, n->nin, out);
        /* a folded op runs now, once: checked now, under its own name */
        if (!rc && ctx->check_numerics) rc = duet_check_numerics(ctx, n, out, n->in);
        ctx->exec_node = NULL;
        if (rc) return;
        n->op = DUET_OP_CONST;
        n->nin = 0;
        memset(&n->attr, 0, sizeof n->attr);
        duet_attrs_set_type(&n->attr, out->dtype, out->rank, out->shape);
        n->attr.p = out->data;
    }
}

/* ---- memory planning: buffers reused once their last reader has run ---- */

/* An elementwise node (a fused one too) reads element k of a full-size input only to
 * write element k of its output, so it may write over an input whose last reader it
 * is: the buffer stays hot in cache and the plan needs one buffer fewer. */
static bool may_write_over(const duet_node *n, const duet_tensor *in)
{
    return (flags_of(n) & DUET_OPF_ELEMENTWISE || n->op == DUET_OP_FUSED) &&
           in->dtype == n->out->dtype && duet_same_shape(in, n->out);
}
/* The node whose buffer n's output lives in: views (a reshape, an output of a
 * fused_rows node) keep their input's buffer alive as long as they are read. */
static int buffer_root(const duet_graph *g, const int *root, const duet_node *n)
{
    (void)g;
    if (n->op == DUET_OP_RESHAPE || n->op == DUET_OP_FUSED_OUT) return root[producer(n->in[0])->id];
    if (flags_of(n) & DUET_OPF_ALIAS || n->op == DUET_OP_CONST) return -1;
    return n->id;
}

static void pass_plan(duet_ctx *ctx, duet_plan *p, bool reuse)
{
    duet_graph *g = &p->graph;
    int n = g->n;
    int *root = malloc(sizeof(int) * (size_t)(n + 1)), *last = malloc(sizeof(int) * (size_t)(n + 1));
    int *free_slots = malloc(sizeof(int) * (size_t)(n + 1)), nfree = 0;
    p->slot = malloc(sizeof(int) * (size_t)(n + 1));
    if (!root || !last || !free_slots || !p->slot) {
        free(root), free(last), free(free_slots);
        duet_ctx_fail(ctx, DUET_ERR_OOM, "the plan pass");
        return;
    }
    for (int i = 0; i < n; i++) {
        root[i] = buffer_root(g, root, g->nodes[i]);
        last[i] = -1;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < g->nodes[i]->nin; j++) {
            int r = root[producer(g->nodes[i]->in[j])->id];
            if (r >= 0) last[r] = i;
        }
    for (int k = 0; k < g->nout; k++) {
        int r = root[producer(g->outputs[k])->id];
        if (r >= 0) last[r] = n; /* read after the run: never reused */
    }
    p->nslots = 0;
    for (int i = 0; i < n; i++) {
        const duet_node *nd = g->nodes[i];
        p->slot[i] = -1;
        for (int j = 0; reuse && root[i] == i && j < nd->nin && p->slot[i] < 0; j++) {
            int r = root[producer(nd->in[j])->id];
            if (r >= 0 && last[r] == i && may_write_over(nd, nd->in[j])) {
                p->slot[i] = p->slot[r]; /* in place: the input's buffer is the output's */
                last[r] = -2;
            }
        }
        if (root[i] == i && p->slot[i] < 0)
            p->slot[i] = reuse && nfree ? free_slots[--nfree] : p->nslots++;
        if (!reuse) continue;
        for (int j = 0; j < nd->nin; j++) { /* inputs whose last reader was this node */
            int r = root[producer(nd->in[j])->id];
            if (r >= 0 && last[r] == i) {
                free_slots[nfree++] = p->slot[r];
                last[r] = -2; /* freed once even if read twice here */
            }
        }
        if (root[i] == i && last[i] == -1) free_slots[nfree++] = p->slot[i];
    }
    p->slot_buf = calloc((size_t)p->nslots + 1, sizeof *p->slot_buf);
    p->slot_cap = calloc((size_t)p->nslots + 1, sizeof *p->slot_cap);
    if (!p->slot_buf || !p->slot_cap) duet_ctx_fail(ctx, DUET_ERR_OOM, "the plan pass");
    free(root), free(last), free(free_slots);
}

static const struct {
    unsigned pass;
    const char *name;
} pass_names[] = {
    {DUET_PASS_DCE, "dce"},   {DUET_PASS_CSE, "cse"},   {DUET_PASS_FOLD, "fold"},
    {DUET_PASS_LAYOUT, "layout"}, {DUET_PASS_FUSE, "fuse"}, {DUET_PASS_PLAN, "plan"},
    {DUET_PASS_GUARDS, "guards"}, {DUET_PASS_REASSOC, "reassoc"},
};

const char *duet_pass_name(unsigned pass)
{
    for (size_t i = 0; i < sizeof pass_names / sizeof *pass_names; i++)
        if (pass_names[i].pass == pass) return pass_names[i].name;
    return NULL;
}

unsigned duet_pass_parse(const char *name)
{
    for (size_t i = 0; i < sizeof pass_names / sizeof *pass_names; i++)
        if (!strcmp(pass_names[i].name, name)) return pass_names[i].pass;
    return 0;
}

static void dump(duet_fn *fn, duet_plan *p, unsigned pass) { duet_fn_dump(fn, &p->graph, pass); }

/* ---- guards first: a guard and what it needs run before everything else ---- */

static bool writes_var(const duet_node *n, const duet_var *v)
{
    if (n->op == DUET_OP_ASSIGN) return duet_attrs_var(&n->attr) == v;
    if (n->op != DUET_OP_ADAM_UPDATE) return false;
    const duet_adam_vars *vars = n->attr.p;
    return vars->var == v || vars->m == v || vars->v == v;
}

/* Whether moving the guards' ancestors (need) ahead of the other nodes keeps what
 * every node reads and what the host sees: nothing needed may write a variable, print
 * (lines keep their order) or run a loop (whose body reads variables), and no needed
 * var_read may overtake a write of its variable (an assign, an adam_update). */
static bool can_hoist(const duet_graph *g, const bool *need)
{
    for (int i = 0; i < g->n; i++) {
        const duet_node *n = g->nodes[i];
        if (!need[i]) continue;
        if (flags_of(n) & (DUET_OPF_WRITES_VAR | DUET_OPF_HOST_IO) || n->op == DUET_OP_WHILE)
            return false;
        if (n->op != DUET_OP_VAR_READ) continue;
        for (int j = 0; j < i; j++)
            if (!need[j] && writes_var(g->nodes[j], duet_attrs_var(&n->attr)))
                return false;
    }
    return true;
}

/* A call whose guard fails then stops before any other work, and in particular
 * before any assign, as torch.compile checks its guards before the compiled code
 * runs. (Writes are staged until the plan ends anyway, so this is about cost: a
 * cache entry whose guard fails is rejected cheaply.) Pure reordering of
 * independent nodes: results are bit-identical. */
static void pass_guards_first(duet_ctx *ctx, duet_plan *p)
{
    duet_graph *g = &p->graph;
    bool *need = calloc((size_t)g->n + 1, 1);
    duet_node **order = malloc(sizeof *order * ((size_t)g->n + 1));
    if (!need || !order) {
        free(need), free(order);
        duet_ctx_fail(ctx, DUET_ERR_OOM, "the guards pass");
        return;
    }
    bool any = false;
    for (int i = g->n - 1; i >= 0; i--) {
        const duet_node *n = g->nodes[i];
        if (n->op == DUET_OP_GUARD) need[i] = any = true;
        if (need[i])
            for (int j = 0; j < n->nin; j++) need[producer(n->in[j])->id] = true;
    }
    if (any && can_hoist(g, need)) {
        int k = 0;
        for (int pass = 1; pass >= 0; pass--)
            for (int i = 0; i < g->n; i++)
                if (need[i] == pass) order[k++] = g->nodes[i];
        for (int i = 0; i < g->n; i++) (g->nodes[i] = order[i])->id = i;
    }
    free(need), free(order);
}

/* ---- reassociation (opt-in): f32 sums round as XLA or -ffast-math would ---- */

/* Marks every f32 sum so that its kernel accumulates in float, in vector lanes: a
 * legitimate numeric difference from eager's ordered double sum, a few ULP. i32
 * sums are exact (wrapping) in any order, so they are left alone. It runs first, so
 * that a folded sum rounds as the same sum run by the plan would. */
static void pass_reassoc(duet_plan *p)
{
    duet_graph *g = &p->graph;
    for (int i = 0; i < g->n; i++) {
        duet_node *n = g->nodes[i];
        if (n->op == DUET_OP_SUM && n->out->dtype == DUET_F32)
            n->attr.i[DUET_SUM_ATTR_REASSOC] = 1;
    }
}

void duet_passes_run(duet_ctx *ctx, duet_fn *fn, duet_plan *p)
{
    unsigned on = fn->passes;
    if (on & DUET_PASS_REASSOC) pass_reassoc(p), dump(fn, p, DUET_PASS_REASSOC);
    if (on & DUET_PASS_DCE) pass_dce(ctx, p), dump(fn, p, DUET_PASS_DCE);
    if (on & DUET_PASS_CSE) pass_cse(ctx, p), dump(fn, p, DUET_PASS_CSE);
    if (on & DUET_PASS_FOLD) {
        pass_fold(ctx, p);
        if (on & DUET_PASS_DCE) pass_dce(ctx, p); /* inputs of folded nodes are now dead */
        dump(fn, p, DUET_PASS_FOLD);
    }
    /* before fusion, which would hide a map between a transpose and a product */
    if (on & DUET_PASS_LAYOUT) {
        duet_layout_pass(ctx, p);
        if (on & DUET_PASS_DCE) pass_dce(ctx, p); /* the transposes no product reads now */
        dump(fn, p, DUET_PASS_LAYOUT);
    }
    if (on & DUET_PASS_FUSE) {
        duet_fuse_pass(ctx, p);
        if (on & DUET_PASS_DCE) pass_dce(ctx, p); /* what only a rewritten chain read */
        dump(fn, p, DUET_PASS_FUSE);
    }
    if (on & DUET_PASS_GUARDS) pass_guards_first(ctx, p), dump(fn, p, DUET_PASS_GUARDS);
    if (!ctx->err.code) pass_plan(ctx, p, on & DUET_PASS_PLAN), dump(fn, p, DUET_PASS_PLAN);
}
