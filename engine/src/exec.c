/* The executor: binds symbolic dims to the call's sizes, re-runs each node's shape
 * rule on concrete shapes (checking them against the traced types), then runs the
 * kernels in order over the planned buffers. */
#include <stdlib.h>

#include "graph_internal.h"

#define DUET_PLAN_ALIGN ((size_t)4096)

void duet_plan_free(duet_ctx *ctx, duet_plan *p)
{
    if (!p) return;
    while (p->graph.subplans) {
        duet_plan *c = p->graph.subplans;
        p->graph.subplans = c->sibling;
        duet_plan_free(ctx, c);
    }
    for (int i = 0; i < p->nslots; i++) free(p->slot_buf[i]);
    free(p->slot_buf);
    free(p->slot_cap);
    free(p->slot);
    free(p->graph.outputs);
    free(p->failed);
    free(p->graph.nodes);
    /* tensors of the trace may be stashed in user state: keep them readable */
    duet_arena_adopt(&ctx->graveyard, &p->graph.arena);
    free(p);
}

static const char *key_scope(const duet_node *n) { return n->scope ? n->scope : ""; }
static const char *key_file(const duet_node *n) { return n->site.file ? n->site.file : ""; }

static bool same_key(const duet_node *a, const duet_node *b)
{
    return a->op == b->op && a->site.line == b->site.line &&
           (a->grad_of != NULL) == (b->grad_of != NULL) && !strcmp(key_file(a), key_file(b)) &&
           !strcmp(key_scope(a), key_scope(b));
}

static uint64_t hash_mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3u; } /* FNV-1a's step */

static uint64_t hash_str(uint64_t h, const char *s)
{
    for (; *s; s++) h = hash_mix(h, (unsigned char)*s);
    return hash_mix(h, 0x100); /* ends the string, so "ab"+"c" and "a"+"bc" differ */
}

static uint64_t key_hash(const duet_node *n)
{
    uint64_t h = hash_str(hash_str(0xcbf29ce484222325u, key_scope(n)), key_file(n));
    h = hash_mix(h, (uint64_t)n->op);
    h = hash_mix(h, (uint32_t)n->site.line);
    return hash_mix(h, n->grad_of != NULL);
}

/* Records are keyed (scope, op, call site, grad, occurrence) so that an eager op and its
 * graph twin match. The occurrence of each node of g, the number of earlier nodes with
 * its key, comes from one pass with a hash table: scanning the earlier nodes for every
 * node made the records of an n-node graph cost O(n^2). Malloc'ed; NULL with the error
 * set. */
static int *key_occurrences(duet_ctx *ctx, const duet_graph *g)
{
    /* open addressing, at most half full: per key its first node and its count so far */
    size_t cap = 2;
    while (cap < 2 * (size_t)g->n) cap *= 2;
    struct key_slot { const duet_node *first; int count; } *slot = calloc(cap, sizeof *slot);
    int *occ = malloc(sizeof *occ * (size_t)(g->n ? g->n : 1));
    if (!slot || !occ) {
        free(slot), free(occ);
        duet_fail(ctx, DUET_ERR_OOM, "numbering %d nodes", g->n);
        return NULL;
    }
    for (int i = 0; i < g->n; i++) {
        const duet_node *n = g->nodes[i];
        size_t k = (size_t)key_hash(n) & (cap - 1);
        while (slot[k].first && !same_key(slot[k].first, n)) k = (k + 1) & (cap - 1);
        if (!slot[k].first) slot[k].first = n;
        occ[i] = slot[k].count;
        if (n->site.file) slot[k].count++; /* as the scan did: only nodes with a call site count */
    }
    free(slot);
    return occ;
}

static void node_key(const duet_node *n, int occurrence, duet_record *r)
{
    r->scope = key_scope(n);
    r->op = duet_op_table[n->op]->name;
    r->file = key_file(n);
    r->line = n->site.line;
    r->grad = n->grad_of != NULL;
    r->occurrence = occurrence;
}

static int add_record(duet_ctx *ctx, const duet_node *n, int occurrence, const duet_tensor *value,
                      duet_record **recs, int *nrec)
{
    /* capacity doubles at every power of two count, so n records cost O(n) copying
     * (growing by one was quadratic wherever realloc copies, as under ASan) */
    int used = *nrec;
    duet_record *r = *recs;
    if ((used & (used - 1)) == 0) {
        r = realloc(r, sizeof *r * (size_t)(used ? 2 * used : 1));
        if (!r) return duet_fail(ctx, DUET_ERR_OOM, "debug records");
        *recs = r;
    }
    r += (*nrec)++;
    node_key(n, occurrence, r);
    r->scope = duet_arena_strdup(ctx, &ctx->tape.arena, r->scope); /* outlives the plan */
    r->value = duet_tensor_copy(ctx, value);
    return r->scope ? 0 : -1;
}

int duet_tape_records(duet_ctx *ctx, duet_record **records, int *n)
{
    *records = NULL;
    *n = 0;
    int *occ = key_occurrences(ctx, &ctx->tape);
    duet_record *r = malloc(sizeof *r * (size_t)(ctx->tape.n ? ctx->tape.n : 1));
    if (!occ || !r) {
        free(occ), free(r);
        return duet_fail(ctx, DUET_ERR_OOM, "tape records");
    }
    for (int i = 0; i < ctx->tape.n; i++) {
        node_key(ctx->tape.nodes[i], occ[i], &r[i]);
        r[i].value = ctx->tape.nodes[i]->out;
    }
    free(occ);
    *records = r;
    *n = ctx->tape.n;
    return 0;
}

static int bind_input(duet_ctx *ctx, const duet_node *ph, const duet_tensor *arg, int64_t *symv)
{
    int idx = duet_placeholder_index(ph);
    const duet_tensor *ty = ph->out;
    if (arg->dtype != ty->dtype || arg->rank != ty->rank)
        return duet_fail(ctx, DUET_ERR_ARG, "argument %d is %s rank %d; the trace expects %s rank %d",
                         idx, duet_dtype_name(arg->dtype), arg->rank, duet_dtype_name(ty->dtype),
                         ty->rank);
    for (int d = 0; d < ty->rank; d++) {
        int64_t s = ty->shape[d];
        if (!DUET_DIM_IS_SYM(s)) {
            if (s != arg->shape[d])
                return duet_fail(ctx, DUET_ERR_SHAPE, "argument %d dim %d is %lld; the trace expects %lld",
                                 idx, d, (long long)arg->shape[d], (long long)s);
            continue;
        }
        int64_t *v = &symv[DUET_SYM_ID(s)];
        if (*v < 0)
            *v = arg->shape[d];
        else if (*v != arg->shape[d])
            return duet_fail(ctx, DUET_ERR_SHAPE,
                             "argument %d dim %d is %lld, but the same unknown dim is %lld elsewhere",
                             idx, d, (long long)arg->shape[d], (long long)*v);
    }
    return 0;
}

/* A node's concrete type must agree with its traced type under the binding. */
static int check_bound(duet_ctx *ctx, const duet_tensor *traced, const duet_type *ty, int64_t *symv)
{
    bool ok = traced->rank == ty->rank && traced->dtype == ty->dtype;
    for (int d = 0; ok && d < ty->rank; d++) {
        int64_t s = traced->shape[d];
        if (!DUET_DIM_IS_SYM(s)) {
            ok = s == ty->shape[d];
        } else {
            int64_t *v = &symv[DUET_SYM_ID(s)];
            if (*v < 0) *v = ty->shape[d];
            ok = *v == ty->shape[d];
        }
    }
    if (ok) return 0;
    char a[96], b[96];
    return duet_fail(ctx, DUET_ERR_SHAPE, "bound shape %s does not match the traced shape %s",
                     duet_type_str(ty, b, sizeof b), duet_shape_str(traced, a, sizeof a));
}

typedef struct run_state {
    duet_tensor *rt;    /* runtime tensor per node */
    duet_tensor **rin;  /* runtime inputs, flattened */
    int *rin_off;
    int *occurrence; /* per node, for debug records */
    void **scratch;  /* numerics checks: outputs kept off their inputs' buffers */
    int nscratch;
} run_state;

static int alloc_state(duet_ctx *ctx, const duet_graph *g, run_state *s)
{
    int total = 0;
    for (int i = 0; i < g->n; i++) total += g->nodes[i]->nin;
    s->rt = calloc((size_t)g->n + 1, sizeof *s->rt);
    s->rin = calloc((size_t)total + 1, sizeof *s->rin);
    s->rin_off = calloc((size_t)g->n + 1, sizeof *s->rin_off);
    if (!s->rt || !s->rin || !s->rin_off)
        return duet_fail(ctx, DUET_ERR_OOM, "running a graph");
    int off = 0;
    for (int i = 0; i < g->n; i++) {
        const duet_node *n = g->nodes[i];
        s->rin_off[i] = off;
        for (int j = 0; j < n->nin; j++) s->rin[off++] = &s->rt[n->in[j]->node->id];
    }
    return 0;
}

static void free_state(run_state *s)
{
    free(s->rt);
    free(s->rin);
    free(s->rin_off);
    free(s->occurrence);
    for (int k = 0; k < s->nscratch; k++) free(s->scratch[k]);
    free(s->scratch);
}

/* A node the plan runs in place overwrites an input. The numerics check reads a
 * node's inputs after its kernel (to say whether they were finite, and to re-run a
 * fused node's members), so while it is on such a node writes to a buffer of its own. */
static int keep_inputs(duet_ctx *ctx, run_state *s, duet_tensor *t, duet_tensor *const *in, int nin)
{
    bool aliased = false;
    for (int j = 0; j < nin; j++) aliased |= in[j]->data == t->data;
    if (!aliased) return 0;
    size_t bytes;
    if (duet_checked_bytes(ctx, t->dtype, t->rank, t->shape, &bytes)) return -1;
    void **l = realloc(s->scratch, sizeof *l * (size_t)(s->nscratch + 1));
    void *buf = malloc(bytes ? bytes : 1);
    if (l) s->scratch = l;
    if (!l || !buf) {
        free(buf);
        return duet_fail(ctx, DUET_ERR_OOM, "%zu bytes to check a node's numerics", bytes);
    }
    s->scratch[s->nscratch++] = t->data = buf;
    return 0;
}

/* Dim guards need only the bound shapes, so they are checked in the shape pass,
 * before any kernel runs, as torch.compile checks its shape guards on the inputs. A
 * guard is checked where it stands, ahead of the nodes traced after its read: those
 * were specialised on the guarded size (a slice to a length the read allowed), so for
 * another size their shape rules may fail, and the failed guard, not that error, is
 * what the call must see. */
static bool dim_guard_fails(duet_plan *p, const run_state *s, const duet_node *n)
{
    if (n->op != DUET_OP_GUARD || ((const duet_guard_spec *)n->attr.p)->kind != DUET_READ_DIM ||
        duet_guard_holds(n->attr.p, &s->rt[n->in[0]->node->id]))
        return false;
    p->failed_guard = n;
    return true;
}

/* A node's concrete type under the binding symv: a placeholder binds its argument's
 * dims, any other node runs its shape rule on its concrete inputs, checked against the
 * traced type. The executor's shape pass and trace-time evaluation both size nodes
 * through it; *bytes is t's size (0 for a placeholder, which holds its argument). */
static int bind_node(duet_ctx *ctx, const duet_node *n, duet_tensor *const *args,
                     duet_tensor *const *in, int64_t *symv, duet_tensor *t, size_t *bytes)
{
    *bytes = 0;
    if (n->op == DUET_OP_PLACEHOLDER) {
        const duet_tensor *arg = args[duet_placeholder_index(n)];
        if (bind_input(ctx, n, arg, symv)) return -1;
        *t = *arg;
        t->node = NULL;
        return 0;
    }
    duet_type ty = {0};
    if (duet_op_table[n->op]->infer(ctx, &n->attr, in, n->nin, &ty) ||
        check_bound(ctx, n->out, &ty, symv))
        return -1;
    t->dtype = ty.dtype;
    t->rank = ty.rank;
    memcpy(t->shape, ty.shape, sizeof t->shape);
    return duet_checked_bytes(ctx, ty.dtype, ty.rank, ty.shape, bytes);
}

/* Shape pass: concrete types for every node, then buffers big enough for them. */
static int shape_pass(duet_ctx *ctx, duet_plan *p, run_state *s, duet_tensor *const *in,
                      int64_t *symv)
{
    const duet_graph *g = &p->graph;
    size_t need[p->nslots ? p->nslots : 1];
    memset(need, 0, sizeof need);
    for (int i = 0; i < g->n && !ctx->err.code; i++) {
        const duet_node *n = g->nodes[i];
        duet_tensor *t = &s->rt[i];
        ctx->exec_node = n;
        ctx->cur_op = n->op;
        ctx->cur_site = n->site;
        if (dim_guard_fails(p, s, n)) return DUET_GUARD_FAILED;
        size_t bytes;
        if (bind_node(ctx, n, in, s->rin + s->rin_off[i], symv, t, &bytes)) return -1;
        int sl = p->slot[i];
        if (sl >= 0 && bytes > need[sl]) need[sl] = bytes;
    }
    size_t total = 0, unplanned = 0;
    for (int i = 0; i < g->n; i++) /* every size was checked above */
        if (p->slot[i] >= 0) unplanned += (size_t)duet_numel(&s->rt[i]) * duet_dtype_size(s->rt[i].dtype);
    p->unplanned_bytes = unplanned;
    for (int k = 0; k < p->nslots; k++) {
        total += need[k];
        if (need[k] <= p->slot_cap[k]) continue;
        free(p->slot_buf[k]);
        /* page-aligned: every planned tensor starts a cache line, so two threads
         * writing neighbouring rows (a product's strided result) never share one */
        p->slot_buf[k] = aligned_alloc(DUET_PLAN_ALIGN, (need[k] + DUET_PLAN_ALIGN - 1) & ~(DUET_PLAN_ALIGN - 1));
        p->slot_cap[k] = p->slot_buf[k] ? need[k] : 0;
        if (!p->slot_buf[k]) return duet_fail(ctx, DUET_ERR_OOM, "%zu bytes for a plan buffer", need[k]);
        duet_prefault(p->slot_buf[k], need[k]);
    }
    p->planned_bytes = total;
    return 0;
}

static int run_node(duet_ctx *ctx, duet_plan *p, run_state *s, int i)
{
    const duet_node *n = p->graph.nodes[i];
    duet_tensor *t = &s->rt[i];
    if (n->op == DUET_OP_PLACEHOLDER) return 0;
    if (n->op == DUET_OP_CONST) {
        t->data = n->attr.p;
        return 0;
    }
    if (p->slot[i] >= 0) t->data = p->slot_buf[p->slot[i]];
    ctx->exec_node = n;
    ctx->cur_op = n->op;
    ctx->cur_site = n->site;
    duet_tensor *const *in = s->rin + s->rin_off[i];
    if (ctx->check_numerics && keep_inputs(ctx, s, t, in, n->nin)) return -1;
    if (!ctx->profiler) return duet_op_table[n->op]->kernel(ctx, &n->attr, in, n->nin, t);
    double start = duet_clock_ms();
    int rc = duet_op_table[n->op]->kernel(ctx, &n->attr, in, n->nin, t);
    duet_profile_node(ctx, n, true, start);
    return rc;
}

static int run_nodes(duet_ctx *ctx, duet_plan *p, run_state *s, const duet_exec_opts *opts)
{
    if (opts && opts->keep && !(s->occurrence = key_occurrences(ctx, &p->graph))) return -1;
    for (int i = 0; i < p->graph.n; i++) {
        const duet_node *n = p->graph.nodes[i];
        int rc = run_node(ctx, p, s, i);
        if (rc == DUET_GUARD_FAILED) p->failed_guard = n;
        if (rc) return rc;
        if (ctx->check_numerics && n->op != DUET_OP_PLACEHOLDER &&
            duet_check_numerics(ctx, n, &s->rt[i], s->rin + s->rin_off[i]))
            return -1;
        if (opts && opts->keep && n->op != DUET_OP_PLACEHOLDER &&
            add_record(ctx, n, s->occurrence[i], &s->rt[i], opts->records, opts->nrecords))
            return -1;
    }
    return 0;
}

int duet_exec_run(duet_ctx *ctx, duet_plan *p, duet_tensor *const *in, duet_tensor **out,
                  const duet_exec_opts *opts)
{
    run_state s = {0};
    int64_t symv[p->nsym ? p->nsym : 1];
    for (int k = 0; k < p->nsym; k++) symv[k] = -1;
    p->failed_guard = NULL;
    /* a loop's kernel runs its body's plan: keep the outer binding */
    const int64_t *outer_sym = ctx->sym_value;
    int outer_nsym = ctx->nsym;
    const duet_node *outer_node = ctx->exec_node;
    int rc = alloc_state(ctx, &p->graph, &s);
    if (!rc) {
        ctx->sym_value = symv;
        ctx->nsym = p->nsym;
        rc = shape_pass(ctx, p, &s, in, symv);
        ctx->exec_depth++;
        if (!rc) rc = run_nodes(ctx, p, &s, opts);
        ctx->exec_depth--;
    }
    ctx->sym_value = outer_sym;
    ctx->nsym = outer_nsym;
    ctx->exec_node = outer_node;
    for (int k = 0; k < p->graph.nout && rc == 0; k++)
        out[k] = duet_tensor_copy(ctx, &s.rt[p->graph.outputs[k]->node->id]);
    free_state(&s);
    if (rc == 0 && ctx->err.code) rc = -1;
    return rc;
}

/* ---- trace-time evaluation for host reads (see duet_example in graph_internal.h) ---- */

static int example_grow(duet_ctx *ctx, duet_example *ex, int nodes, int nsym)
{
    if (nodes > ex->cap) {
        int cap = ex->cap ? ex->cap : 256;
        while (cap < nodes) cap *= 2;
        duet_tensor *v = realloc(ex->val, sizeof *v * (size_t)cap);
        if (!v) return duet_fail(ctx, DUET_ERR_OOM, "evaluating a trace");
        ex->val = v;
        ex->cap = cap;
    }
    if (nsym > ex->nsymv) {
        int64_t *sv = realloc(ex->symv, sizeof *sv * (size_t)nsym);
        if (!sv) return duet_fail(ctx, DUET_ERR_OOM, "evaluating a trace");
        for (int k = ex->nsymv; k < nsym; k++) sv[k] = -1;
        ex->symv = sv;
        ex->nsymv = nsym;
    }
    return 0;
}

/* One node on concrete inputs: its shape rule (binding fresh symbols), then its
 * kernel on a buffer in the step arena. */
static int example_node(duet_ctx *ctx, duet_example *ex, const duet_node *n)
{
    duet_tensor *t = &ex->val[n->id];
    memset(t, 0, sizeof *t);
    duet_tensor *in[n->nin ? n->nin : 1];
    for (int j = 0; j < n->nin; j++) in[j] = &ex->val[n->in[j]->node->id];
    size_t bytes;
    if (bind_node(ctx, n, ex->args, in, ex->symv, t, &bytes)) return -1;
    if (n->op == DUET_OP_PLACEHOLDER) return 0;
    if (n->op == DUET_OP_CONST) {
        t->data = n->attr.p;
        return 0;
    }
    if (!(duet_op_table[n->op]->flags & DUET_OPF_ALIAS) &&
        !(t->data = duet_arena_alloc(ctx, &ctx->tape.arena, bytes ? bytes : 1)))
        return duet_fail(ctx, DUET_ERR_OOM, "%zu bytes evaluating a trace", bytes);
    int rc = duet_op_table[n->op]->kernel(ctx, &n->attr, in, n->nin, t);
    return rc == DUET_GUARD_FAILED ? 0 : rc; /* a guard on a value just read holds */
}

const duet_tensor *duet_example_value(duet_ctx *ctx, duet_trace *tr, const duet_tensor *t)
{
    duet_example *ex = tr->ex;
    const duet_graph *g = tr->graph;
    int upto = t->node->id;
    if (example_grow(ctx, ex, g->n, tr->nsym)) return NULL;
    /* kernels run as in a plan: outside the trace, with the example's symbols bound */
    duet_mode mode = ctx->mode;
    duet_trace *tracing = ctx->tracing;
    const int64_t *sym_value = ctx->sym_value;
    int nsym = ctx->nsym;
    const duet_node *exec_node = ctx->exec_node;
    ctx->mode = DUET_MODE_EAGER;
    ctx->tracing = NULL;
    ctx->sym_value = ex->symv;
    ctx->nsym = ex->nsymv;
    for (; ex->n <= upto && !ctx->err.code; ex->n++) {
        const duet_node *n = g->nodes[ex->n];
        ctx->exec_node = n;
        ctx->cur_op = n->op;
        ctx->cur_site = n->site;
        if (example_node(ctx, ex, n)) break;
    }
    ctx->mode = mode;
    ctx->tracing = tracing;
    ctx->sym_value = sym_value;
    ctx->nsym = nsym;
    ctx->exec_node = exec_node;
    return ctx->err.code ? NULL : &ex->val[upto];
}

void duet_example_free(duet_example *ex)
{
    free(ex->val);
    free(ex->symv);
}
