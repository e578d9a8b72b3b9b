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
        duet_ctx_fail(ctx, DUET_ERR_OOM, "duet_fn_new");
        return NULL;
    }
    fn->ctx = ctx;
    fn->body = body;
    fn->user = user;
    fn->nin = nin;
    fn->nout = nout;
    fn->mode = DUET_GRAPH;
    fn->passes = DUET_PASS_ALL;
    fn->trace_limit = DUET_DEFAULT_TRACE_LIMIT;
    return fn;
}

static void free_list(char **l, int n)
{
    for (int i = 0; i < n; i++) free(l[i]);
    free(l);
}

static void cache_clear(duet_fn *fn)
{
    while (fn->cache) {
        duet_plan *p = fn->cache;
        fn->cache = p->next;
        duet_plan_free(fn->ctx, p);
    }
    duet_plan_free(fn->ctx, fn->debug);
    fn->debug = fn->latest = fn->stopped = NULL;
}

void duet_fn_free(duet_fn *fn)
{
    if (!fn) return;
    cache_clear(fn);
    free(fn->linted);
    free_list(fn->reasons, fn->nreasons);
    free_list(fn->warnings, fn->nwarnings);
    free(fn->baked);
    free(fn->name);
    free(fn);
}

void duet_fn_set_mode(duet_fn *fn, duet_exec_mode mode) { fn->mode = mode; }
/* Traces made under another policy or other passes no longer apply. */
void duet_fn_set_policy(duet_fn *fn, duet_policy policy)
{
    if (policy == fn->policy) return;
    fn->policy = policy;
    if (fn->cache) fn->next_reason = "the policy changed";
    cache_clear(fn);
}

void duet_fn_set_passes(duet_fn *fn, unsigned passes)
{
    if (passes == fn->passes) return;
    fn->passes = passes;
    if (fn->cache) fn->next_reason = "the passes changed";
    cache_clear(fn);
}

void duet_fn_set_trace_limit(duet_fn *fn, int limit) { fn->trace_limit = limit > 0 ? limit : 1; }
void duet_fn_set_dump(duet_fn *fn, FILE *f, unsigned mask)
{
    fn->dump = f;
    fn->dump_mask = mask;
}
void duet_fn_set_dump_format(duet_fn *fn, duet_graph_format format) { fn->dump_format = format; }

void duet_fn_dump(const duet_fn *fn, const duet_graph *g, unsigned stage)
{
    if (!fn->dump || !(fn->dump_mask & stage)) return;
    /* Graphviz skips lines starting with '#', so the heading suits DOT too */
    fprintf(fn->dump, "# %s: after %s\n", fn->name,
            stage == DUET_DUMP_TRACE ? "tracing" : duet_pass_name(stage));
    duet_graph_write(fn->dump, g, fn->dump_format);
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
const duet_graph *duet_fn_graph(const duet_fn *fn) { return fn->latest ? &fn->latest->graph : NULL; }
const duet_graph *duet_fn_failed_graph(const duet_fn *fn)
{
    return fn->stopped ? &fn->stopped->graph : NULL;
}
int duet_fn_node_count(const duet_fn *fn) { return fn->latest ? fn->latest->graph.n : 0; }
size_t duet_fn_planned_bytes(const duet_fn *fn) { return fn->latest ? fn->latest->planned_bytes : 0; }
size_t duet_fn_unplanned_bytes(const duet_fn *fn)
{
    return fn->latest ? fn->latest->unplanned_bytes : 0;
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
            while (*p && *p != ',' && *p != ')' && !isspace((unsigned char)*p)) {
                /* cut at 31, the rest would silently become another dim */
                if (len == 31) return spec_fail(fn, spec, "a dim longer than 31 characters");
                tok[len++] = *p++;
            }
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
                /* DUET_RELAX_FIXED(n) is -2 - n, an int */
                if (*end || n > INT32_MAX - 2) return spec_fail(fn, spec, "bad number");
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
    fn->nlinted = 0;
    if (fn->cache) { /* entries of the old signature would never match again */
        cache_clear(fn);
        fn->next_reason = "the relaxed signature changed";
    }
    return 0;
}

/* ---- signatures ---- */

/* Every policy traces the relaxed signature: relaxed dims stay symbolic. */
static int make_sig(duet_fn *fn, duet_tensor *const *in, duet_sig *sig)
{
    memset(sig, 0, sizeof *sig);
    sig->n = fn->nin;
    for (int i = 0; i < fn->nin; i++) {
        const duet_tensor *t = in[i];
        if (!t || duet_is_poison(t)) {
            duet_ctx_fail(fn->ctx, DUET_ERR_ARG, "%s: argument %d is %s", fn->name, i,
                          !t ? "NULL" : "poisoned");
            return -1;
        }
        if (t->trace) { /* a symbolic argument: a call from a trace inlines, so it leaked */
            char use[48];
            snprintf(use, sizeof use, "%s: argument %d", fn->name, i);
            duet_check_trace_of(fn->ctx, t, use);
            return -1;
        }
        if (fn->has_relax && fn->relax_rank[i] != t->rank) {
            duet_ctx_fail(fn->ctx, DUET_ERR_ARG,
                          "%s: argument %d has rank %d but the relaxed signature says %d",
                          fn->name, i, t->rank, fn->relax_rank[i]);
            return -1;
        }
        sig->dtype[i] = t->dtype;
        sig->rank[i] = t->rank;
        for (int d = 0; d < t->rank; d++) {
            int r = fn->has_relax ? fn->relax[i][d] : -1;
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

double duet_fn_trace_ms(const duet_fn *fn) { return fn->trace_ms; }
double duet_fn_optimise_ms(const duet_fn *fn) { return fn->optimise_ms; }

typedef struct trace_frame {
    duet_trace tr;
    duet_mode mode;
    int nscope;
} trace_frame;

/* A while_loop's cond and body trace inside their function's trace: the outermost
 * function's policy governs everything inlined into its trace, and its warnings
 * collect theirs. */
static int trace_enter(duet_ctx *ctx, duet_fn *fn, duet_graph *g, duet_example *ex, bool lint,
                       trace_frame *f)
{
    duet_trace *outer = ctx->tracing;
    duet_fn *governing = outer ? outer->fn : fn;
    char **names = realloc(ctx->trace_names, sizeof *names * (ctx->ntraces + 1));
    if (names) ctx->trace_names = names;
    if (!names || !(names[ctx->ntraces] = strdup(governing->name)))
        return duet_fail(ctx, DUET_ERR_OOM, "%s: a trace", fn->name);
    f->tr = (duet_trace){.outer = outer,
                         .fn = governing,
                         .lint = outer ? outer->lint : lint,
                         .graph = g,
                         .id = ++ctx->ntraces,
                         .nsym = fn->nsym,
                         .ex = ex};
    f->mode = ctx->mode;
    f->nscope = ctx->nscope;
    ctx->mode = DUET_MODE_TRACE;
    ctx->tracing = &f->tr;
    ctx->scope_cache = NULL;
    return 0;
}

static void trace_leave(duet_ctx *ctx, const trace_frame *f)
{
    ctx->mode = f->mode;
    ctx->tracing = f->tr.outer;
    ctx->nscope = f->nscope; /* a body that stopped early may leave scopes pushed */
    ctx->scope_overflow = 0;
    ctx->scope_cache = NULL;
}

/* Runs the body on placeholders; outputs must live in the graph, so a returned
 * outside tensor is captured as a constant. */
static void trace_body(duet_fn *fn, const duet_sig *sig, duet_plan *p)
{
    duet_ctx *ctx = fn->ctx;
    duet_tensor *ph[DUET_MAX_FN_ARGS];
    for (int i = 0; i < fn->nin; i++)
        ph[i] = duet_placeholder(ctx, (duet_site){.file = "<input>", .line = i}, sig->dtype[i],
                                 sig->rank[i], sig->dim[i], i);
    duet_tensor **outs = p->graph.outputs;
    fn->body(ctx, ph, outs, fn->user);
    for (int i = 0; i < fn->nout && !ctx->err.code; i++) {
        if (!outs[i]) {
            duet_ctx_fail(ctx, DUET_ERR_ARG, "%s: output %d was not set", fn->name, i);
        } else if (!duet_is_poison(outs[i]) && outs[i]->trace != ctx->tracing->id) {
            if (duet_check_trace_of(ctx, outs[i], "an output")) return;
            outs[i] = duet_constant(ctx, outs[i]->dtype, outs[i]->rank, outs[i]->shape,
                                    outs[i]->data);
        }
    }
}

duet_plan *duet_fn_trace(duet_fn *fn, const duet_sig *sig, duet_tensor *const *in, bool lint,
                         duet_plan **stopped)
{
    duet_ctx *ctx = fn->ctx;
    duet_plan *p = calloc(1, sizeof *p);
    if (p) p->graph.outputs = calloc((size_t)(fn->nout ? fn->nout : 1), sizeof *p->graph.outputs);
    if (!p || !p->graph.outputs) {
        if (p) free(p);
        duet_ctx_fail(ctx, DUET_ERR_OOM, "%s: a trace", fn->name);
        return NULL;
    }
    p->sig = *sig;
    p->graph.nout = fn->nout;
    /* host reads need the call's values under specialize, guard and lint */
    bool values = in && !ctx->tracing && (lint || fn->policy != DUET_POLICY_STRICT);
    duet_example ex = {.args = in};
    trace_frame f;
    double t0 = duet_clock_ms();
    if (!trace_enter(ctx, fn, &p->graph, values ? &ex : NULL, lint, &f)) {
        trace_body(fn, sig, p);
        p->nsym = f.tr.nsym;
        trace_leave(ctx, &f);
    }
    if (values) duet_vars_abort(ctx); /* evaluation only staged its writes */
    duet_example_free(&ex);
    if (!ctx->err.code) duet_fn_dump(fn, &p->graph, DUET_DUMP_TRACE);
    double t1 = duet_clock_ms();
    if (!ctx->err.code && !lint) duet_passes_run(ctx, fn, p);
    fn->trace_ms = t1 - t0;
    fn->optimise_ms = duet_clock_ms() - t1;
    if (ctx->err.code) {
        if (stopped)
            *stopped = p;
        else
            duet_plan_free(ctx, p);
        return NULL;
    }
    return p;
}

/* ---- calls ---- */

/* The eager lint traces each function once per signature in a mode that records
 * every host read strict tracing would reject and answers it from the call's
 * values, so lint and strict agree on the sites by construction. */
static int lint_trace(duet_fn *fn, duet_tensor *const *in)
{
    duet_ctx *ctx = fn->ctx;
    duet_sig sig;
    if (make_sig(fn, in, &sig)) return -1;
    for (int i = 0; i < fn->nlinted; i++)
        if (sig_equal(&fn->linted[i], &sig)) return 0;
    duet_sig *l = realloc(fn->linted, sizeof *l * (size_t)(fn->nlinted + 1));
    if (!l) return duet_fail(ctx, DUET_ERR_OOM, "%s: the lint's signatures", fn->name);
    fn->linted = l;
    l[fn->nlinted++] = sig;
    duet_plan *p = duet_fn_trace(fn, &sig, in, true, NULL);
    if (p)
        duet_plan_free(ctx, p);
    else /* the eager run reports the body's own errors */
        duet_ctx_clear_error(ctx);
    return 0;
}

static int call_eagerly(duet_fn *fn, duet_tensor *const *in, duet_tensor **out)
{
    duet_ctx *ctx = fn->ctx;
    if (ctx->lint && !ctx->tracing && lint_trace(fn, in)) return -1;
    for (int i = 0; i < fn->nout; i++) out[i] = NULL;
    fn->body(ctx, in, out, fn->user);
    for (int i = 0; i < fn->nout && !ctx->err.code; i++)
        if (!out[i]) duet_ctx_fail(ctx, DUET_ERR_ARG, "%s: output %d was not set", fn->name, i);
    return ctx->err.code ? -1 : 0;
}

/* A plan's variable writes take effect only if it ran to the end. */
static int run_plan(duet_ctx *ctx, duet_plan *p, duet_tensor *const *in, duet_tensor **out,
                    const duet_exec_opts *opts)
{
    int rc = duet_exec_run(ctx, p, in, out, opts);
    if (rc == 0)
        duet_vars_commit(ctx);
    else
        duet_vars_abort(ctx);
    return rc;
}

static void cache_append(duet_fn *fn, duet_plan *p)
{
    duet_plan **pp = &fn->cache;
    while (*pp) pp = &(*pp)->next;
    *pp = p;
}

/* Traces for the call and adds the entry. A trace stopped by a host read or a trace
 * error is remembered too: the same signature replays the diagnostic, not the trace,
 * and the entry keeps the graph as far as the trace got, ending at a mark of where it
 * stopped (the host read's own, or one made here from the diagnostic). */
static duet_plan *trace_and_cache(duet_fn *fn, const duet_sig *sig, duet_tensor *const *in,
                                  const char *reason)
{
    duet_ctx *ctx = fn->ctx;
    duet_fn_note(&fn->reasons, &fn->nreasons, "%s", reason);
    fn->next_reason = NULL;
    duet_plan *failed = NULL;
    duet_plan *p = duet_fn_trace(fn, sig, in, false, &failed);
    if (p) {
        cache_append(fn, p);
        fn->latest = p;
        return p;
    }
    duet_diag *d = NULL;
    if ((ctx->err.code != DUET_ERR_HOST_BRANCH && ctx->err.code != DUET_ERR_TRACE) ||
        !(d = malloc(sizeof *d))) {
        duet_plan_free(ctx, failed);
        return NULL;
    }
    *d = ctx->err;
    failed->failed = d;
    const duet_read_mark *last = failed->graph.marks;
    while (last && last->next) last = last->next;
    if (!last || !last->stopped)
        duet_graph_mark(ctx, &failed->graph,
                        &(duet_read_mark){.stopped = true, .what = d->op, .file = d->file,
                                          .line = d->line});
    cache_append(fn, failed);
    fn->stopped = failed;
    return NULL;
}

static int retrace_storm(duet_fn *fn, duet_site site, int n, const duet_node *guard,
                         const char *reason)
{
    duet_ctx *ctx = fn->ctx;
    ctx->cur_op = DUET_OP_COUNT;
    ctx->cur_site = guard ? guard->site : site;
    return duet_fail(ctx, DUET_ERR_RETRACE_STORM,
                     "%s: %d traces reached the trace limit and this call needs another: %s. %s",
                     fn->name, n, reason,
                     guard ? "The guarded host read keeps changing: make it graph-safe "
                             "(duet_where, duet_cond) so one trace serves every value"
                           : "An input's shape keeps changing: relax that dim with "
                             "duet_fn_relax so one trace serves every size");
}

/* Tries the entries for this signature in order: the first whose guards hold runs.
 * A failed guard has changed nothing (writes commit only at a plan's end), so the
 * next entry, or a new trace, starts clean. */
static int call_graph(duet_fn *fn, duet_site site, duet_tensor *const *in, duet_tensor **out)
{
    duet_ctx *ctx = fn->ctx;
    duet_sig sig;
    if (make_sig(fn, in, &sig)) return -1;
    const duet_plan *last = NULL;
    const duet_node *guard = NULL;
    int n = 0;
    for (duet_plan *p = fn->cache; p; p = p->next, n++) {
        last = p;
        if (!sig_equal(&p->sig, &sig)) continue;
        if (p->failed) {
            ctx->err = *p->failed;
            fn->stopped = p;
            return -1;
        }
        int rc = run_plan(ctx, p, in, out, NULL);
        if (rc != DUET_GUARD_FAILED) return rc;
        guard = p->failed_guard;
    }
    /* a miss: why, for the retrace record (worked out only now, off the hit path) */
    char reason[512];
    if (guard)
        duet_guard_reason(guard, reason, sizeof reason);
    else if (last)
        sig_diff(&last->sig, &sig, reason, sizeof reason);
    else
        snprintf(reason, sizeof reason, "%s", fn->next_reason ? fn->next_reason : "first call");
    if (n >= fn->trace_limit) return retrace_storm(fn, site, n, guard, reason);
    duet_plan *p = trace_and_cache(fn, &sig, in, reason);
    if (!p) return -1;
    int rc = run_plan(ctx, p, in, out, NULL);
    if (rc == DUET_GUARD_FAILED)
        return duet_fail(ctx, DUET_ERR_GUARD, "%s: a guard failed right after tracing (does "
                                              "the body read state that changes between calls?)",
                         fn->name);
    return rc;
}

int duet_fn_call_at(duet_site site, duet_fn *fn, duet_tensor *const *in, duet_tensor **out)
{
    if (!fn) return -1;
    duet_ctx *ctx = fn->ctx;
    for (int i = 0; i < fn->nout; i++) out[i] = &ctx->poison;
    if (ctx->err.code) return -1;
    fn->stopped = NULL;
    if (fn->mode == DUET_EAGER || ctx->eager_functions || ctx->tracing)
        return call_eagerly(fn, in, out); /* inside a trace, a call inlines */
    return call_graph(fn, site, in, out);
}

/* A debug run uses its own trace with no pass but memory planning, so its nodes are
 * the eager tape's ops one for one and the occurrence numbers of the keys line up;
 * it keeps every intermediate. It is not a cache entry and counts as no trace. */
int duet_fn_debug_call(duet_fn *fn, duet_tensor *const *in, duet_tensor **out,
                       duet_record **records, int *n)
{
    duet_ctx *ctx = fn->ctx;
    *records = NULL;
    *n = 0;
    for (int i = 0; i < fn->nout; i++) out[i] = &ctx->poison;
    duet_sig sig;
    if (ctx->err.code || make_sig(fn, in, &sig)) return -1;
    duet_exec_opts opts = {true, records, n};
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!fn->debug || !sig_equal(&fn->debug->sig, &sig) || attempt) {
            duet_plan_free(ctx, fn->debug);
            unsigned passes = fn->passes;
            fn->passes &= DUET_PASS_PLAN;
            fn->debug = duet_fn_trace(fn, &sig, in, false, NULL);
            fn->passes = passes;
            if (!fn->debug) return -1;
        }
        int rc = run_plan(ctx, fn->debug, in, out, &opts);
        if (rc != DUET_GUARD_FAILED) return rc;
        free(*records);
        *records = NULL;
        *n = 0;
    }
    return duet_fail(ctx, DUET_ERR_GUARD, "%s: a guard failed right after tracing a debug run",
                     fn->name);
}
