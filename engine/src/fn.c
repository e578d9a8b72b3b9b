/* Traceable functions: signatures, the trace cache, tracing and calls. */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>

#include "graph_internal.h"

duet_fn *duet_fn_new(duet_ctx *ctx, const char *name, duet_fn_body body, int nin, int nout,
                     void *user)
{
    if (nin < 0 || nin > DUET_MAX_FN_ARGS || nout < 0 || !body) {
        duet_ctx_fail(ctx, DUET_ERR_ARG, "duet_fn_new('%s'): bad arguments (nin %d, nout %d)",
                      name, nin, nout);
        return NULL;
    }
    duet_fn *fn = calloc(1, sizeof *fn);
    if (!fn || !(fn->name = strdup(name))) {
        free(fn);
        duet_ctx_fail(ctx, DUET_ERR_OOM, "duet_fn_new: out of memory");
        return NULL;
    }
    fn->ctx = ctx;
    fn->body = body;
    fn->user = user;
    fn->nin = nin;
    fn->nout = nout;
    fn->mode = DUET_GRAPH;
    fn->passes = DUET_PASS_ALL;
    return fn;
}

static void free_list(char **l, int n)
{
    for (int i = 0; i < n; i++) free(l[i]);
    free(l);
}

void duet_fn_free(duet_fn *fn)
{
    if (!fn) return;
    while (fn->cache) {
        duet_plan *p = fn->cache;
        fn->cache = p->next;
        duet_plan_free(fn->ctx, p);
    }
    free_list(fn->reasons, fn->nreasons);
    free_list(fn->warnings, fn->nwarnings);
    free(fn->name);
    free(fn);
}

void duet_fn_set_mode(duet_fn *fn, duet_exec_mode mode) { fn->mode = mode; }
void duet_fn_set_policy(duet_fn *fn, duet_policy policy) { fn->policy = policy; }
void duet_fn_set_passes(duet_fn *fn, unsigned passes) { fn->passes = passes; }
void duet_fn_set_dump(duet_fn *fn, FILE *f, unsigned mask)
{
    fn->dump = f;
    fn->dump_mask = mask;
}
void duet_ctx_run_functions_eagerly(duet_ctx *ctx, bool on) { ctx->eager_functions = on; }

void duet_fn_note(char ***list, int *n, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **l = realloc(*list, sizeof *l * (size_t)(*n + 1));
    if (!l) return;
    *list = l;
    if ((l[*n] = strdup(buf))) (*n)++;
}

void duet_fn_warn(duet_fn *fn, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    duet_fn_note(&fn->warnings, &fn->nwarnings, "%s", buf);
}

int duet_fn_trace_count(const duet_fn *fn) { return fn->nreasons; }
const char *duet_fn_trace_reason(const duet_fn *fn, int i)
{
    return i >= 0 && i < fn->nreasons ? fn->reasons[i] : NULL;
}
int duet_fn_warning_count(const duet_fn *fn) { return fn->nwarnings; }
const char *duet_fn_warning(const duet_fn *fn, int i)
{
    return i >= 0 && i < fn->nwarnings ? fn->warnings[i] : NULL;
}
const duet_graph *duet_fn_graph(const duet_fn *fn) { return fn->cache ? &fn->cache->graph : NULL; }
int duet_fn_node_count(const duet_fn *fn) { return fn->cache ? fn->cache->graph.n : 0; }
size_t duet_fn_planned_bytes(const duet_fn *fn) { return fn->cache ? fn->cache->planned_bytes : 0; }
size_t duet_fn_unplanned_bytes(const duet_fn *fn)
{
    return fn->cache ? fn->cache->unplanned_bytes : 0;
}

/* ---- relaxation spec: "(B,T) (None,4)" ---- */

static int spec_fail(duet_fn *fn, const char *spec, const char *why)
{
    duet_ctx_fail(fn->ctx, DUET_ERR_ARG, "duet_fn_relax('%s', \"%s\"): %s", fn->name, spec, why);
    return -1;
}

int duet_fn_relax(duet_fn *fn, const char *spec)
{
    char names[DUET_MAX_FN_ARGS * DUET_MAX_RANK][32];
    int name_sym[DUET_MAX_FN_ARGS * DUET_MAX_RANK];
    int nnames = 0, arg = 0;
    const char *p = spec;
    fn->nsym = 0;
    while (*p) {
        while (isspace((unsigned char)*p)) p++;
        if (!*p) break;
        if (*p++ != '(') return spec_fail(fn, spec, "expected '('");
        if (arg >= fn->nin) return spec_fail(fn, spec, "more shapes than inputs");
        int rank = 0;
        while (*p && *p != ')') {
            char tok[32];
            int len = 0;
            while (isspace((unsigned char)*p)) p++;
            while (*p && *p != ',' && *p != ')' && !isspace((unsigned char)*p) && len < 31)
                tok[len++] = *p++;
            tok[len] = 0;
            while (isspace((unsigned char)*p)) p++;
            if (*p == ',') p++;
            if (!len) return spec_fail(fn, spec, "empty dim");
            if (rank >= DUET_MAX_RANK) return spec_fail(fn, spec, "rank over 8");
            int v = -1; /* keep the call's size */
            if (!strcmp(tok, "None")) {
                v = fn->nsym++;
            } else if (isalpha((unsigned char)tok[0])) {
                int k = 0;
                while (k < nnames && strcmp(names[k], tok)) k++;
                if (k == nnames) {
                    snprintf(names[nnames], sizeof names[0], "%s", tok);
                    name_sym[nnames++] = fn->nsym++;
                }
                v = name_sym[k];
            } else if (isdigit((unsigned char)tok[0])) {
                char *end;
                long long n = strtoll(tok, &end, 10);
                if (*end || n > INT32_MAX) return spec_fail(fn, spec, "bad number");
                v = DUET_RELAX_FIXED(n);
            } else if (strcmp(tok, "_")) {
                return spec_fail(fn, spec, "a dim must be a number, None, _ or a name");
            }
            fn->relax[arg][rank++] = v;
        }
        if (*p != ')') return spec_fail(fn, spec, "missing ')'");
        p++;
        fn->relax_rank[arg++] = rank;
    }
    if (arg != fn->nin) return spec_fail(fn, spec, "fewer shapes than inputs");
    fn->has_relax = true;
    return 0;
}

/* ---- signatures ---- */

static int make_sig(duet_fn *fn, duet_tensor *const *in, bool relax, duet_sig *sig)
{
    memset(sig, 0, sizeof *sig);
    sig->n = fn->nin;
    for (int i = 0; i < fn->nin; i++) {
        const duet_tensor *t = in[i];
        if (!t || duet_is_poison(t) || (!t->data && duet_numel(t) != 0)) {
            duet_ctx_fail(fn->ctx, DUET_ERR_ARG, "%s: argument %d is %s", fn->name, i,
                          !t ? "NULL" : "not a concrete tensor");
            return -1;
        }
        if (relax && fn->has_relax && fn->relax_rank[i] != t->rank) {
            duet_ctx_fail(fn->ctx, DUET_ERR_ARG,
                          "%s: argument %d has rank %d but the relaxed signature says %d",
                          fn->name, i, t->rank, fn->relax_rank[i]);
            return -1;
        }
        sig->dtype[i] = t->dtype;
        sig->rank[i] = t->rank;
        for (int d = 0; d < t->rank; d++) {
            int r = relax && fn->has_relax ? fn->relax[i][d] : -1;
            if (r < -1 && t->shape[d] != DUET_RELAX_FIXED_SIZE(r)) {
                duet_ctx_fail(fn->ctx, DUET_ERR_SHAPE,
                              "%s: argument %d dim %d is %lld; the signature fixes it to %d",
                              fn->name, i, d, (long long)t->shape[d], DUET_RELAX_FIXED_SIZE(r));
                return -1;
            }
            sig->dim[i][d] = r >= 0 ? DUET_SYM(r) : t->shape[d];
        }
    }
    return 0;
}

static bool sig_equal(const duet_sig *a, const duet_sig *b)
{
    if (a->n != b->n) return false;
    for (int i = 0; i < a->n; i++) {
        if (a->dtype[i] != b->dtype[i] || a->rank[i] != b->rank[i]) return false;
        for (int d = 0; d < a->rank[i]; d++)
            if (a->dim[i][d] != b->dim[i][d]) return false;
    }
    return true;
}

static void dim_text(int64_t d, char *buf, size_t n)
{
    if (DUET_DIM_IS_SYM(d))
        snprintf(buf, n, "None");
    else
        snprintf(buf, n, "%lld", (long long)d);
}

/* Why a new signature missed the cache: the first difference from the last trace. */
static void sig_diff(const duet_sig *old, const duet_sig *now, char *buf, size_t n)
{
    for (int i = 0; i < now->n; i++) {
        if (old->dtype[i] != now->dtype[i]) {
            snprintf(buf, n, "arg %d dtype: %s -> %s", i, duet_dtype_name(old->dtype[i]),
                     duet_dtype_name(now->dtype[i]));
            return;
        }
        if (old->rank[i] != now->rank[i]) {
            snprintf(buf, n, "arg %d rank: %d -> %d", i, old->rank[i], now->rank[i]);
            return;
        }
        for (int d = 0; d < now->rank[i]; d++) {
            if (old->dim[i][d] == now->dim[i][d]) continue;
            char a[24], b[24];
            dim_text(old->dim[i][d], a, sizeof a);
            dim_text(now->dim[i][d], b, sizeof b);
            snprintf(buf, n, "arg %d dim %d: %s -> %s", i, d, a, b);
            return;
        }
    }
    snprintf(buf, n, "new trace with the same signature");
}

/* ---- tracing ---- */

typedef struct trace_state {
    duet_mode mode;
    duet_graph *trace;
    duet_fn *fn;
    duet_tensor *const *args;
    bool values;
    int nscope;
} trace_state;

static void trace_enter(duet_ctx *ctx, duet_fn *fn, duet_graph *g, duet_tensor *const *in,
                        trace_state *saved)
{
    *saved = (trace_state){ctx->mode, ctx->trace, ctx->cur_fn, ctx->trace_args, ctx->trace_values,
                           ctx->nscope};
    ctx->mode = DUET_MODE_TRACE;
    ctx->trace = g;
    ctx->cur_fn = fn;
    ctx->trace_values = fn->policy != DUET_POLICY_STRICT;
    ctx->trace_nsym = fn->nsym;
    ctx->trace_args = ctx->trace_values ? in : NULL;
    ctx->scope_cache = NULL;
}

static void trace_leave(duet_ctx *ctx, const trace_state *s)
{
    ctx->mode = s->mode;
    ctx->trace = s->trace;
    ctx->cur_fn = s->fn;
    ctx->trace_args = s->args;
    ctx->trace_values = s->values;
    ctx->nscope = s->nscope; /* a body that stopped early may leave scopes pushed */
    ctx->scope_overflow = 0;
    ctx->scope_cache = NULL;
}

duet_plan *duet_fn_trace(duet_fn *fn, const duet_sig *sig, duet_tensor *const *in)
{
    duet_ctx *ctx = fn->ctx;
    duet_plan *p = calloc(1, sizeof *p);
    duet_tensor **outs = calloc((size_t)(fn->nout ? fn->nout : 1), sizeof *outs);
    if (!p || !outs) {
        free(p), free(outs);
        duet_ctx_fail(ctx, DUET_ERR_OOM, "%s: out of memory for a trace", fn->name);
        return NULL;
    }
    p->sig = *sig;
    p->nsym = fn->nsym;
    p->nout = fn->nout;
    trace_state saved;
    trace_enter(ctx, fn, &p->graph, in, &saved);
    duet_tensor *ph[DUET_MAX_FN_ARGS];
    for (int i = 0; i < fn->nin; i++)
        ph[i] = duet_placeholder(ctx, (duet_site){.file = "<input>", .line = i}, sig->dtype[i],
                                 sig->rank[i], sig->dim[i], i);
    fn->body(ctx, ph, outs, fn->user);
    /* outputs must live in the graph: a returned outside tensor is captured */
    for (int i = 0; i < fn->nout && !ctx->err.code; i++) {
        if (!outs[i]) {
            duet_ctx_fail(ctx, DUET_ERR_ARG, "%s: output %d was not set", fn->name, i);
        } else if (outs[i]->node == NULL || outs[i]->node->id >= p->graph.n ||
                   p->graph.nodes[outs[i]->node->id] != outs[i]->node) {
            outs[i] = duet_constant(ctx, outs[i]->dtype, outs[i]->rank, outs[i]->shape,
                                    outs[i]->data);
        }
    }
    p->nsym = ctx->trace_nsym;
    trace_leave(ctx, &saved);
    p->outputs = outs;
    if (ctx->err.code) {
        duet_plan_free(ctx, p);
        return NULL;
    }
    if (fn->dump && (fn->dump_mask & DUET_DUMP_TRACE)) {
        fprintf(fn->dump, "# %s: after tracing\n", fn->name);
        duet_graph_print(fn->dump, &p->graph);
    }
    duet_passes_run(ctx, fn, p);
    if (ctx->err.code) {
        duet_plan_free(ctx, p);
        return NULL;
    }
    return p;
}

/* ---- calls ---- */

static int call_eagerly(duet_fn *fn, duet_tensor *const *in, duet_tensor **out)
{
    duet_ctx *ctx = fn->ctx;
    duet_tensor *args[DUET_MAX_FN_ARGS];
    for (int i = 0; i < fn->nin; i++) {
        args[i] = in[i];
        if (ctx->lint && in[i] && !duet_is_poison(in[i])) { /* taint a copy, not the caller's */
            duet_tensor *t = duet_alloc_bytes(ctx, sizeof *t);
            if (!t) return duet_fail(ctx, DUET_ERR_OOM, "%s: out of memory", fn->name);
            *t = *in[i];
            t->flags |= DUET_TENSOR_TAINT;
            args[i] = t;
        }
    }
    struct duet_fn *saved = ctx->cur_fn;
    ctx->cur_fn = fn;
    for (int i = 0; i < fn->nout; i++) out[i] = NULL;
    fn->body(ctx, args, out, fn->user);
    ctx->cur_fn = saved;
    for (int i = 0; i < fn->nout && !ctx->err.code; i++)
        if (!out[i]) duet_ctx_fail(ctx, DUET_ERR_ARG, "%s: output %d was not set", fn->name, i);
    return ctx->err.code ? -1 : 0;
}

static duet_plan *lookup(duet_fn *fn, const duet_sig *sig)
{
    for (duet_plan *p = fn->cache; p; p = p->next)
        if (sig_equal(&p->sig, sig)) return p;
    return NULL;
}

static void drop(duet_fn *fn, duet_plan *victim)
{
    for (duet_plan **pp = &fn->cache; *pp; pp = &(*pp)->next)
        if (*pp == victim) {
            *pp = victim->next;
            duet_plan_free(fn->ctx, victim);
            return;
        }
}

static duet_plan *trace_and_cache(duet_fn *fn, const duet_sig *sig, duet_tensor *const *in,
                                  const char *reason)
{
    duet_fn_note(&fn->reasons, &fn->nreasons, "%s", reason);
    duet_plan *p = duet_fn_trace(fn, sig, in);
    if (!p) return NULL;
    p->next = fn->cache;
    fn->cache = p;
    return p;
}

static int call_graph(duet_fn *fn, duet_tensor *const *in, duet_tensor **out,
                      const duet_exec_opts *opts)
{
    duet_ctx *ctx = fn->ctx;
    duet_sig sig;
    /* specialize and guard trace with example values, so they keep concrete shapes */
    if (make_sig(fn, in, fn->policy == DUET_POLICY_STRICT, &sig)) return -1;
    duet_plan *p = lookup(fn, &sig);
    if (!p) {
        char reason[256] = "first call";
        if (fn->cache) sig_diff(&fn->cache->sig, &sig, reason, sizeof reason);
        if (!(p = trace_and_cache(fn, &sig, in, reason))) return -1;
    }
    int rc = duet_exec_run(ctx, p, in, out, opts);
    if (rc != 1) return rc;
    /* a guard failed before any side effect: retrace for these values and run again */
    char reason[512];
    duet_guard_reason(ctx->guard_failed, reason, sizeof reason);
    ctx->guard_failed = NULL;
    drop(fn, p);
    if (!(p = trace_and_cache(fn, &sig, in, reason))) return -1;
    rc = duet_exec_run(ctx, p, in, out, opts);
    if (rc == 1) {
        ctx->guard_failed = NULL;
        return duet_fail(ctx, DUET_ERR_GUARD, "%s: a guard failed right after retracing",
                         fn->name);
    }
    return rc;
}

int duet_fn_call(duet_fn *fn, duet_tensor *const *in, duet_tensor **out)
{
    if (!fn) return -1;
    duet_ctx *ctx = fn->ctx;
    for (int i = 0; i < fn->nout; i++) out[i] = &ctx->poison;
    if (ctx->err.code) return -1;
    if (fn->mode == DUET_EAGER || ctx->eager_functions || ctx->mode == DUET_MODE_TRACE)
        return call_eagerly(fn, in, out); /* inside a trace, a call inlines */
    return call_graph(fn, in, out, NULL);
}

/* A debug run traces afresh (outside the cache, so it counts as no retrace) with no
 * pass but memory planning, so its nodes are the eager tape's ops one for one and the
 * occurrence numbers of the keys line up; it keeps every intermediate. */
int duet_fn_debug_call(duet_fn *fn, duet_tensor *const *in, duet_tensor **out,
                       duet_record **records, int *n)
{
    duet_ctx *ctx = fn->ctx;
    *records = NULL;
    *n = 0;
    for (int i = 0; i < fn->nout; i++) out[i] = &ctx->poison;
    duet_sig sig;
    if (ctx->err.code || make_sig(fn, in, fn->policy == DUET_POLICY_STRICT, &sig)) return -1;
    unsigned passes = fn->passes;
    fn->passes &= DUET_PASS_PLAN;
    duet_plan *p = duet_fn_trace(fn, &sig, in);
    fn->passes = passes;
    if (!p) return -1;
    duet_exec_opts opts = {true, records, n};
    int rc = duet_exec_run(ctx, p, in, out, &opts);
    duet_plan_free(ctx, p);
    if (rc == 1) {
        ctx->guard_failed = NULL;
        return duet_fail(ctx, DUET_ERR_GUARD, "%s: a guard failed in a debug run", fn->name);
    }
    return rc;
}
