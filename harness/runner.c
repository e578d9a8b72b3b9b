/* The runner: one (case, run) from inputs to a result record. A graph run is judged
 * against an eager run of the same case on the same inputs: outputs per step, every
 * variable at the end, and the host observables the case declares. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "localise.h"
#include "result.h"
#include "timing.h"

/* What one mode did over the steps: host copies of everything compared. */
typedef struct trajectory {
    int steps, nout, nobs;
    duet_tensor *out;                 /* steps x nout host copies */
    duet_observation obs0[DUET_CASE_MAX_OBS];
    duet_observation (*obs)[DUET_CASE_MAX_OBS]; /* per step */
    bool *traced;                     /* per step: the call traced */
    int nvars;
    duet_tensor *vars;                /* host copies at the end */
    char (*var_names)[128];           /* copies: the context owning the names is freed first */
    duet_diag diag;                   /* code DUET_OK when every step ran */
} trajectory;

static void host_copy(const duet_tensor *src, duet_tensor *dst)
{
    *dst = *src;
    dst->node = NULL;
    dst->trace = 0;
    int64_t n = duet_numel(src);
    size_t bytes = n > 0 ? (size_t)n * duet_dtype_size(src->dtype) : 0;
    dst->data = malloc(bytes ? bytes : 1);
    if (dst->data && bytes) memcpy(dst->data, src->data, bytes);
}

static void trajectory_free(trajectory *t)
{
    for (int i = 0; i < t->steps * t->nout; i++) free(t->out[i].data);
    for (int i = 0; i < t->nvars; i++) free(t->vars[i].data);
    free(t->out), free(t->obs), free(t->traced), free(t->vars), free(t->var_names);
    memset(t, 0, sizeof *t);
}

int duet_session_open(duet_session *s, const duet_case *c, duet_run_kind run, uint64_t seed)
{
    static const duet_policy policy[DUET_RUN_COUNT] = {
        [DUET_RUN_STRICT] = DUET_POLICY_STRICT,
        [DUET_RUN_SPECIALIZE] = DUET_POLICY_SPECIALIZE,
        [DUET_RUN_GUARD] = DUET_POLICY_GUARD,
    };
    memset(s, 0, sizeof *s);
    s->c = c;
    if (!(s->ctx = duet_ctx_new())) return -1;
    if (c->setup) s->state = c->setup(s->ctx, seed);
    if (duet_ctx_status(s->ctx)) return -1;
    s->fn = duet_fn_new(s->ctx, c->name, c->body, c->nin, c->nout, s->state);
    if (!s->fn || (c->relax && duet_fn_relax(s->fn, c->relax))) return -1;
    if (c->passes) duet_fn_set_passes(s->fn, c->passes);
    duet_fn_set_mode(s->fn, run == DUET_RUN_EAGER ? DUET_EAGER : DUET_GRAPH);
    duet_fn_set_policy(s->fn, policy[run]);
    return 0;
}

int duet_session_call(duet_session *s, duet_tensor *const *in, duet_tensor **out)
{
    return duet_fn_call_at((duet_site){.file = s->c->file, .line = s->c->line}, s->fn, in, out);
}

void duet_session_close(duet_session *s)
{
    duet_fn_free(s->fn);
    if (s->c->teardown) s->c->teardown(s->state);
    duet_ctx_free(s->ctx);
    memset(s, 0, sizeof *s);
}

static void record_fn(const duet_fn *fn, duet_result *r)
{
    r->traces = duet_fn_trace_count(fn);
    for (int i = 0; i < r->traces && i < DUET_MAX_REASONS; i++)
        snprintf(r->reasons[i], sizeof r->reasons[i], "%s", duet_fn_trace_reason(fn, i));
    r->nwarnings = duet_fn_warning_count(fn);
    if (r->nwarnings) snprintf(r->warning, sizeof r->warning, "%s", duet_fn_warning(fn, 0));
    r->timing.trace_ms = duet_fn_trace_ms(fn);
    r->timing.optimise_ms = duet_fn_optimise_ms(fn);
    r->planned_bytes = duet_fn_planned_bytes(fn);
    r->unplanned_bytes = duet_fn_unplanned_bytes(fn);
}

static void record_step(const duet_case *c, void *state, trajectory *t, duet_tensor *const *out,
                        int s)
{
    for (int k = 0; k < c->nout; k++) host_copy(out[k], &t->out[s * c->nout + k]);
    if (c->observe) t->nobs = c->observe(state, t->obs[s]);
}

static void record_vars(duet_ctx *ctx, trajectory *t)
{
    t->nvars = duet_var_count(ctx);
    t->vars = calloc((size_t)t->nvars + 1, sizeof *t->vars);
    t->var_names = calloc((size_t)t->nvars + 1, sizeof *t->var_names);
    for (int i = 0; t->vars && t->var_names && i < t->nvars; i++) {
        host_copy(duet_var_value(duet_var_at(ctx, i)), &t->vars[i]);
        snprintf(t->var_names[i], sizeof t->var_names[i], "%s", duet_var_name(duet_var_at(ctx, i)));
    }
}

/* r's entry for an op kind, added on first sight; NULL when the table is full. */
static duet_op_time *op_time_of(duet_result *r, const char *name)
{
    for (int i = 0; i < r->nop_times; i++)
        if (!strcmp(r->op_time[i].name, name)) return &r->op_time[i];
    if (r->nop_times == DUET_MAX_OP_KINDS) return NULL;
    duet_op_time *t = &r->op_time[r->nop_times++];
    snprintf(t->name, sizeof t->name, "%s", name);
    return t;
}

static void add_op_time(const duet_op_event *e, void *user)
{
    duet_op_time *t = e->depth ? NULL : op_time_of(user, e->op); /* nested: in its loop's time */
    if (!t) return;
    t->ms += e->dur_ms;
    t->calls++;
}

/* Runs the case in one mode for r->steps steps; the trajectory keeps what is
 * compared, r gets the timings and the trace record. */
static void run_mode(const duet_case *c, duet_run_kind run, const duet_run_opts *o, trajectory *t,
                     duet_result *r)
{
    int steps = r->steps;
    memset(t, 0, sizeof *t);
    t->nout = c->nout;
    t->out = calloc((size_t)(steps * c->nout) + 1, sizeof *t->out);
    t->obs = calloc((size_t)steps + 1, sizeof *t->obs);
    t->traced = calloc((size_t)steps + 1, sizeof *t->traced);
    duet_session ss;
    int rc = duet_session_open(&ss, c, run, o->seed);
    if (!ss.ctx || !t->out || !t->obs || !t->traced) {
        t->diag.code = DUET_ERR_OOM;
        snprintf(t->diag.message, sizeof t->diag.message, "out of memory starting the run");
        if (ss.ctx) duet_session_close(&ss);
        return;
    }
    duet_ctx *ctx = ss.ctx;
    void *state = ss.state;
    duet_fn *fn = ss.fn;
    duet_ctx_set_threads(ctx, o->threads); /* in range: duet run checked it */
    if (c->observe && !rc) c->observe(state, t->obs0);
    if (o->profile) duet_ctx_set_profiler(ctx, add_op_time, r); /* after the case's set-up */
    duet_tensor *in[16], *out[16];
    for (int s = 0; s < steps && !duet_ctx_status(ctx); s++) {
        c->inputs(ctx, state, s, o->seed, in);
        int traces = duet_fn_trace_count(fn);
        double t0 = duet_now_ms();
        int failed = duet_session_call(&ss, in, out);
        r->step_ms[s] = duet_now_ms() - t0;
        if (failed) break;
        t->traced[s] = duet_fn_trace_count(fn) > traces;
        record_step(c, state, t, out, s);
        r->out0[s] = duet_numel(out[0]) > 0 ? duet_get_f32(out[0], 0) : 0;
        t->steps = r->steps_run = s + 1;
        duet_ctx_reset(ctx);
    }
    if (duet_ctx_status(ctx)) t->diag = *duet_ctx_error(ctx);
    record_vars(ctx, t);
    if (fn) record_fn(fn, r);
    duet_session_close(&ss);
}

/* ---- judging a run ---- */

/* The record's explanation; long parts are cut to fit. */
static void set_why(duet_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_why(duet_result *r, const char *fmt, ...)
{
    char buf[sizeof r->why];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    memcpy(r->why, buf, sizeof buf);
}

static void timings(duet_result *r)
{
    r->timing.first_ms = r->steps_run ? r->step_ms[0] : 0;
    int n = r->steps_run - 1;
    if (n <= 0) return;
    double v[DUET_MAX_STEPS];
    memcpy(v, r->step_ms + 1, sizeof *v * (size_t)n);
    duet_spread(v, n, &r->timing.median_ms, &r->timing.p10_ms, &r->timing.p90_ms);
}

/* The graph's one-time cost (trace, optimise, a first call slower than the rest)
 * against what each later call saves over eager mode. */
static void compare_timings(duet_timing *g, const duet_timing *e)
{
    g->eager_median_ms = e->median_ms;
    if (g->median_ms <= 0 || g->p10_ms <= 0) return;
    g->speedup = e->median_ms / g->median_ms;
    g->speedup_lo = e->p10_ms / g->p90_ms;
    g->speedup_hi = e->p90_ms / g->p10_ms;
    double saving = e->median_ms - g->median_ms, once = g->first_ms - g->median_ms;
    g->break_even_calls = saving > 0 ? (once > 0 ? once / saving : 0) : -1;
}

static duet_outcome outcome_of(const duet_diag *d)
{
    switch (d->code) {
    case DUET_OK: return DUET_OUTCOME_OK;
    case DUET_ERR_HOST_BRANCH:
    case DUET_ERR_TRACE:
    case DUET_ERR_LEAKED: return DUET_OUTCOME_TRACE_ERROR;
    case DUET_ERR_RETRACE_STORM: return DUET_OUTCOME_RETRACE_STORM;
    default: return DUET_OUTCOME_ERROR;
    }
}

static void compare_runs(const trajectory *g, const trajectory *e, const duet_run_opts *o,
                         duet_compare *cmp)
{
    char where[64];
    for (int s = 0; s < g->steps && s < e->steps; s++)
        for (int k = 0; k < g->nout; k++) {
            snprintf(where, sizeof where, "step %d output %d", s, k);
            duet_compare_tensors(&g->out[s * g->nout + k], &e->out[s * e->nout + k], o->rtol,
                                 o->atol, where, cmp);
        }
    for (int i = 0; i < g->nvars && i < e->nvars; i++) {
        snprintf(where, sizeof where, "variable %s", g->var_names[i]);
        duet_compare_tensors(&g->vars[i], &e->vars[i], o->rtol, o->atol, where, cmp);
    }
}

/* The host-effect ledger: on how many steps each observable changed, per mode. */
static void ledger(const trajectory *g, const trajectory *e, duet_result *r)
{
    for (int k = 0; k < e->nobs && k < g->nobs && r->neffects < DUET_MAX_EFFECTS; k++) {
        int ce = 0, cg = 0, cg_traced = 0;
        for (int s = 0; s < e->steps; s++)
            ce += e->obs[s][k].value != (s ? e->obs[s - 1][k].value : e->obs0[k].value);
        for (int s = 0; s < g->steps; s++) {
            bool changed = g->obs[s][k].value != (s ? g->obs[s - 1][k].value : g->obs0[k].value);
            cg += changed;
            cg_traced += changed && g->traced[s];
        }
        if (ce == cg) continue;
        duet_effect *fx = &r->effects[r->neffects++];
        snprintf(fx->name, sizeof fx->name, "%s", e->obs[0][k].name);
        fx->line = e->obs[e->steps ? e->steps - 1 : 0][k].line;
        fx->eager_steps = ce;
        fx->graph_steps = cg;
        fx->trace_only = cg > 0 && cg == cg_traced;
    }
}

static void judge_graph(const trajectory *g, const trajectory *e, const duet_run_opts *o,
                        duet_result *r)
{
    compare_runs(g, e, o, &r->cmp);
    ledger(g, e, r);
    if (duet_compare_differs(&r->cmp)) {
        r->actual = DUET_OUTCOME_DIVERGENCE;
        set_why(r, "differs from eager first at %s: max abs %.3g, max rel %.3g, %lld ULP",
                 r->cmp.first, r->cmp.max_abs, r->cmp.max_rel, (long long)r->cmp.max_ulp);
    } else if (r->neffects) {
        const duet_effect *fx = &r->effects[0];
        r->actual = DUET_OUTCOME_EFFECT_MISMATCH;
        set_why(r, "host effect '%s' (%s:%d) ran on %d steps eagerly, %d in graph mode%s",
                 fx->name, r->case_file, fx->line, fx->eager_steps, fx->graph_steps,
                 fx->trace_only ? ", only while tracing" : "");
    }
}

static bool same_dir(const char *a, const char *b)
{
    const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');
    size_t na = sa ? (size_t)(sa - a) : 0, nb = sb ? (size_t)(sb - b) : 0;
    return na == nb && !strncmp(a, b, na);
}

static void judge_expectation(const duet_case *c, duet_result *r)
{
    r->as_expected = r->actual == r->expected;
    if (!r->as_expected) {
        char was[sizeof r->diag.message];
        memcpy(was, r->why[0] ? r->why : r->diag.message, sizeof r->why);
        was[sizeof r->why - 1] = 0;
        set_why(r, "expected %s, got %s%s%s", duet_outcome_name(r->expected),
                duet_outcome_name(r->actual), was[0] ? ": " : "", was);
        return;
    }
    if (r->max_traces > 0 && r->traces > r->max_traces) {
        r->as_expected = false;
        set_why(r, "%d traces, expected at most %d", r->traces, r->max_traces);
    } else if (r->actual == DUET_OUTCOME_TRACE_ERROR && !same_dir(r->diag.file, c->file)) {
        /* the diagnostic must point at the case's own code (its folder), not at the engine */
        r->as_expected = false;
        set_why(r, "the diagnostic points at %s:%d, not into %s",
                 r->diag.file, r->diag.line, c->file);
    }
}

static void result_init(const duet_case *c, duet_run_kind run, const duet_run_opts *o,
                        duet_result *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->case_name, sizeof r->case_name, "%s", c->name);
    snprintf(r->case_file, sizeof r->case_file, "%s", c->file);
    r->run = run;
    r->op_step = -1;
    r->expected = c->expect[run].outcome;
    r->max_traces = c->expect[run].max_traces;
    r->steps = duet_case_steps(c, o);
}

/* Which op and which pass: the localisation `duet compare` prints, kept in the record. */
static void localise(const duet_case *c, const duet_run_opts *o, duet_result *r)
{
    duet_divergence *d = calloc(1, sizeof *d);
    r->op_step = -1;
    if (!d || duet_localise(c, r->run, o, d) || d->first_step < 0) {
        free(d);
        return;
    }
    if (d->op_found) {
        r->op_step = d->first_step;
        snprintf(r->op_name, sizeof r->op_name, "%s", d->op.op);
        snprintf(r->op_file, sizeof r->op_file, "%s", d->op.file);
        r->op_line = d->op.line;
        snprintf(r->op_scope, sizeof r->op_scope, "%s", d->op.scope);
    }
    r->nop_errors = d->nop_errors;
    memcpy(r->op_error, d->op_error, sizeof *r->op_error * (size_t)d->nop_errors);
    for (unsigned bit = 1; bit && bit <= d->cures; bit <<= 1) {
        const char *name = d->cures & bit ? duet_pass_name(bit) : NULL;
        size_t len = strlen(r->passes_at_fault);
        if (name)
            snprintf(r->passes_at_fault + len, sizeof r->passes_at_fault - len, "%s%s",
                     len ? " " : "", name);
    }
    free(d);
}

int duet_run_case(const duet_case *c, duet_run_kind run, const duet_run_opts *o, duet_result *r)
{
    result_init(c, run, o, r);
    trajectory t, ref = {0};
    run_mode(c, run, o, &t, r);
    r->diag = t.diag;
    r->actual = outcome_of(&t.diag);
    if (run != DUET_RUN_EAGER && r->actual == DUET_OUTCOME_OK) {
        duet_result eager;
        result_init(c, DUET_RUN_EAGER, o, &eager);
        run_mode(c, DUET_RUN_EAGER, o, &ref, &eager);
        if (ref.diag.code) {
            r->actual = DUET_OUTCOME_ERROR;
            set_why(r, "the eager reference failed: %s", ref.diag.message);
        } else {
            judge_graph(&t, &ref, o, r);
        }
        timings(&eager);
        timings(r);
        compare_timings(&r->timing, &eager.timing);
        memcpy(r->eager_step_ms, eager.step_ms, sizeof r->eager_step_ms);
        memcpy(r->eager_out0, eager.out0, sizeof r->eager_out0);
        for (int i = 0; i < eager.nop_times; i++) {
            duet_op_time *t = op_time_of(r, eager.op_time[i].name);
            if (t) t->eager_ms = eager.op_time[i].ms, t->eager_calls = eager.op_time[i].calls;
        }
        if (r->actual == DUET_OUTCOME_DIVERGENCE) localise(c, o, r);
    } else {
        timings(r);
    }
    judge_expectation(c, r);
    trajectory_free(&t);
    trajectory_free(&ref);
    return 0;
}
