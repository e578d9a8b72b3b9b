/* Divergence localisation: see localise.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "localise.h"

static uint64_t hash_mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3u; } /* FNV-1a */

static uint64_t hash_str(uint64_t h, const char *s)
{
    for (; *s; s++) h = hash_mix(h, (unsigned char)*s);
    return hash_mix(h, 0x100); /* ends the string, so "ab"+"c" and "a"+"bc" differ */
}

static uint64_t record_hash(const duet_record *r)
{
    uint64_t h = hash_str(hash_str(hash_str(0xcbf29ce484222325u, r->scope), r->op), r->file);
    h = hash_mix(h, (uint32_t)r->line);
    h = hash_mix(h, (uint32_t)r->occurrence);
    return hash_mix(h, r->grad);
}

static bool same_key(const duet_record *a, const duet_record *b)
{
    return a->line == b->line && a->occurrence == b->occurrence && a->grad == b->grad &&
           !strcmp(a->op, b->op) && !strcmp(a->scope, b->scope) && !strcmp(a->file, b->file);
}

/* A hash table of the eager records (open addressing, at most half full): a debug
 * run of the NER step has tens of thousands of records, too many to scan per record. */
int *duet_match_records(const duet_record *graph, int ng, const duet_record *eager, int ne)
{
    size_t cap = 2;
    while (cap < 2 * (size_t)ne) cap *= 2;
    int *slot = malloc(sizeof *slot * cap);
    int *twin = malloc(sizeof *twin * (size_t)(ng ? ng : 1));
    if (!slot || !twin) {
        free(slot), free(twin);
        return NULL;
    }
    for (size_t k = 0; k < cap; k++) slot[k] = -1;
    for (int j = 0; j < ne; j++) {
        size_t k = (size_t)record_hash(&eager[j]) & (cap - 1);
        while (slot[k] >= 0) k = (k + 1) & (cap - 1);
        slot[k] = j;
    }
    for (int i = 0; i < ng; i++) {
        size_t k = (size_t)record_hash(&graph[i]) & (cap - 1);
        while (slot[k] >= 0 && !same_key(&eager[slot[k]], &graph[i])) k = (k + 1) & (cap - 1);
        twin[i] = slot[k];
    }
    free(slot);
    return twin;
}

bool duet_compare_differs(const duet_compare *cmp)
{
    return cmp->mismatches || cmp->nonfinite || cmp->shape_mismatch;
}

unsigned duet_passes_curing(unsigned enabled, bool (*agrees)(unsigned passes, void *user),
                            void *user)
{
    unsigned cures = 0;
    for (unsigned bit = 1; bit && bit <= enabled; bit <<= 1)
        if ((enabled & bit) && agrees(enabled & ~bit, user)) cures |= bit;
    return cures;
}

/* ---- a case's sessions, stepped ---- */

enum { MAX_CASE_ARGS = 16 }; /* as the runner: inputs and outputs of a case's function */

void duet_diag_set(duet_diag *d, duet_status code, const char *what)
{
    memset(d, 0, sizeof *d);
    d->code = code;
    snprintf(d->message, sizeof d->message, "%s", what);
}

/* Opens a session, or explains in diag why not (-1). */
static int open_session(duet_session *s, const duet_case *c, duet_run_kind run, unsigned passes,
                        uint64_t seed, duet_diag *diag)
{
    if (duet_session_open(s, c, run, seed)) {
        if (!s->ctx) return duet_diag_set(diag, DUET_ERR_OOM, "out of memory opening a session"), -1;
        *diag = *duet_ctx_error(s->ctx);
        duet_session_close(s);
        return -1;
    }
    duet_fn_set_passes(s->fn, passes);
    return 0;
}

static void close_session(duet_session *s)
{
    if (s->ctx) duet_session_close(s);
}

static int step_inputs(duet_session *s, int step, uint64_t seed, duet_tensor **in)
{
    s->c->inputs(s->ctx, s->state, step, seed, in);
    return duet_ctx_status(s->ctx) ? -1 : 0;
}

int duet_session_step(duet_session *s, int step, uint64_t seed, duet_tensor **out)
{
    duet_tensor *in[MAX_CASE_ARGS];
    return step_inputs(s, step, seed, in) ? -1 : duet_session_call(s, in, out);
}

int duet_case_steps(const duet_case *c, const duet_run_opts *o)
{
    int steps = o->steps > 0 ? o->steps : c->steps > 0 ? c->steps : 1;
    return steps < DUET_MAX_STEPS ? steps : DUET_MAX_STEPS;
}

static void compare_outputs(const duet_case *c, duet_tensor *const *g, duet_tensor *const *e,
                            int step, const duet_run_opts *o, duet_compare *cmp)
{
    char where[64];
    for (int k = 0; k < c->nout; k++) {
        snprintf(where, sizeof where, "step %d output %d", step, k);
        duet_compare_tensors(g[k], e[k], o->rtol, o->atol, where, cmp);
    }
}

/* Variables match by name: a body that creates variables while it runs (a bug class
 * of its own) may create them in another order, or only in one mode. */
static void compare_vars(duet_ctx *g, duet_ctx *e, int step, const duet_run_opts *o,
                         duet_compare *cmp)
{
    char where[128];
    for (int i = 0; i < duet_var_count(e); i++) {
        const duet_var *ve = duet_var_at(e, i), *vg = NULL;
        for (int j = 0; j < duet_var_count(g) && !vg; j++)
            if (!strcmp(duet_var_name(duet_var_at(g, j)), duet_var_name(ve))) vg = duet_var_at(g, j);
        snprintf(where, sizeof where, "step %d variable %s", step, duet_var_name(ve));
        if (vg) {
            duet_compare_tensors(duet_var_value(vg), duet_var_value(ve), o->rtol, o->atol, where,
                                 cmp);
        } else {
            cmp->shape_mismatch = true;
            if (!cmp->first[0])
                snprintf(cmp->first, sizeof cmp->first, "%.70s (not in graph mode)", where);
        }
    }
}

/* ---- step by step ---- */

/* Runs both modes side by side over d->steps, filling d->step, steps_run, first_step,
 * diag, stopped and warning; with stop_at_first, only up to the first step that
 * differs. 0, or -1 when a session cannot open (d->diag says why). */
static int compare_steps(const duet_case *c, const duet_run_opts *o, unsigned passes,
                         bool stop_at_first, duet_divergence *d)
{
    duet_session e, g;
    d->steps_run = 0;
    d->first_step = -1;
    memset(&d->diag, 0, sizeof d->diag);
    if (open_session(&e, c, DUET_RUN_EAGER, passes, o->seed, &d->diag)) return -1;
    if (open_session(&g, c, d->run, passes, o->seed, &d->diag)) {
        close_session(&e);
        return -1;
    }
    duet_tensor *eo[MAX_CASE_ARGS], *go[MAX_CASE_ARGS];
    for (int s = 0; s < d->steps; s++) {
        bool failed = duet_session_step(&e, s, o->seed, eo);
        if (failed || duet_session_step(&g, s, o->seed, go)) {
            d->stopped = failed ? DUET_RUN_EAGER : d->run;
            d->diag = *duet_ctx_error(failed ? e.ctx : g.ctx);
            break;
        }
        duet_step_compare *sc = &d->step[s];
        memset(sc, 0, sizeof *sc);
        compare_outputs(c, go, eo, s, o, &sc->out);
        compare_vars(g.ctx, e.ctx, s, o, &sc->vars);
        d->steps_run = s + 1;
        duet_ctx_reset(e.ctx);
        duet_ctx_reset(g.ctx);
        bool differs = duet_compare_differs(&sc->out) || duet_compare_differs(&sc->vars);
        if (differs && d->first_step < 0) d->first_step = s;
        if (differs && stop_at_first) break;
    }
    if (duet_fn_warning_count(g.fn))
        snprintf(d->warning, sizeof d->warning, "%s", duet_fn_warning(g.fn, 0));
    close_session(&e);
    close_session(&g);
    return 0;
}

/* ---- the first divergent op ---- */

static void op_at(const duet_record *r, const duet_compare *cmp, duet_op_at *op)
{
    snprintf(op->op, sizeof op->op, "%s", r->op);
    snprintf(op->file, sizeof op->file, "%s", r->file);
    snprintf(op->scope, sizeof op->scope, "%s", r->scope);
    op->line = r->line;
    op->occurrence = r->occurrence;
    op->grad = r->grad;
    op->cmp = *cmp;
}

/* Graph records come in the plan's order, which is topological, so the first one
 * whose output differs from its eager twin is an op whose inputs all agree: each was
 * computed, and compared, before it. Every op's error is kept, for plots. */
static int first_divergent_op(const duet_record *gr, int ng, const duet_record *er, int ne,
                              const duet_run_opts *o, duet_divergence *d)
{
    int *twin = duet_match_records(gr, ng, er, ne);
    if (!twin) return duet_diag_set(&d->diag, DUET_ERR_OOM, "out of memory matching records"), -1;
    d->records = ng;
    for (int i = 0; i < ng && (!d->op_found || i < DUET_MAX_OP_ERRORS); i++) {
        duet_op_error *err = i < DUET_MAX_OP_ERRORS ? &d->op_error[d->nop_errors++] : NULL;
        if (twin[i] < 0) { /* not expected: the debug trace is the op log op for op */
            d->unmatched++;
            if (err) *err = (duet_op_error){NAN, false};
            continue;
        }
        duet_compare cmp = {0};
        duet_compare_tensors(gr[i].value, er[twin[i]].value, o->rtol, o->atol, gr[i].op, &cmp);
        bool differs = duet_compare_differs(&cmp);
        if (err) *err = (duet_op_error){(float)cmp.max_abs, differs};
        if (differs && !d->op_found) {
            d->op_found = true;
            op_at(&gr[i], &cmp, &d->op);
        }
    }
    free(twin);
    return 0;
}

/* Replays both modes to d->first_step, the graph as debug runs (unoptimised, every
 * intermediate kept; its first trace bakes what the real first trace baked), then
 * matches that step's records with the eager op log. */
static int localise_op(const duet_case *c, const duet_run_opts *o, duet_divergence *d)
{
    duet_session e, g;
    if (open_session(&e, c, DUET_RUN_EAGER, d->passes, o->seed, &d->diag)) return -1;
    if (open_session(&g, c, d->run, d->passes, o->seed, &d->diag)) {
        close_session(&e);
        return -1;
    }
    duet_record *er = NULL, *gr = NULL;
    int ne = 0, ng = 0, rc = 0;
    duet_tensor *in[MAX_CASE_ARGS], *out[MAX_CASE_ARGS];
    for (int s = 0; s <= d->first_step && !rc; s++) {
        free(gr);
        gr = NULL;
        duet_ctx_reset(e.ctx);
        duet_ctx_reset(g.ctx);
        rc = duet_session_step(&e, s, o->seed, out) || step_inputs(&g, s, o->seed, in) ||
             duet_fn_debug_call(g.fn, in, out, &gr, &ng);
    }
    if (rc) {
        d->diag = *duet_ctx_error(duet_ctx_status(e.ctx) ? e.ctx : g.ctx);
        rc = -1;
    } else if (duet_tape_records(e.ctx, &er, &ne)) {
        d->diag = *duet_ctx_error(e.ctx);
        rc = -1;
    } else {
        rc = first_divergent_op(gr, ng, er, ne, o, d);
    }
    free(er);
    free(gr);
    close_session(&e);
    close_session(&g);
    return rc;
}

/* ---- pass bisection ---- */

typedef struct bisection {
    const duet_case *c;
    const duet_run_opts *o;
    duet_divergence *scratch;
    bool failed; /* a session could not open: scratch->diag says why */
} bisection;

static bool agrees_with(unsigned passes, void *user)
{
    bisection *b = user;
    if (b->failed) return false;
    if (compare_steps(b->c, b->o, passes, true, b->scratch)) b->failed = true;
    return !b->failed && !b->scratch->diag.code && b->scratch->first_step < 0;
}

static int bisect_passes(const duet_case *c, const duet_run_opts *o, duet_divergence *d)
{
    duet_divergence *scratch = malloc(sizeof *scratch);
    if (!scratch) return duet_diag_set(&d->diag, DUET_ERR_OOM, "out of memory bisecting passes"), -1;
    *scratch = (duet_divergence){.run = d->run, .steps = d->steps};
    bisection b = {c, o, scratch, false};
    d->cures = duet_passes_curing(d->passes, agrees_with, &b);
    if (b.failed) d->diag = scratch->diag;
    free(scratch);
    return b.failed ? -1 : 0;
}

int duet_localise(const duet_case *c, duet_run_kind run, const duet_run_opts *o,
                  duet_divergence *d)
{
    memset(d, 0, sizeof *d);
    d->run = run;
    d->passes = c->passes ? c->passes : DUET_PASS_ALL;
    d->steps = duet_case_steps(c, o);
    if (compare_steps(c, o, d->passes, false, d)) return -1;
    if (d->diag.code || d->first_step < 0) return 0;
    if (localise_op(c, o, d) || bisect_passes(c, o, d)) return -1;
    return 0;
}

/* ---- probing baked branches ---- */

static bool same_read(const char *what, const char *file, int line, const char *scope,
                      const duet_probe_read *r)
{
    return !strcmp(what, r->what) && line == r->line && !strcmp(file, r->file) &&
           !strcmp(scope, r->scope);
}

/* The probe's entry for a baked read, added on first sight; NULL when full. */
static duet_probe_read *probe_entry(duet_probe *p, const duet_baked_read *b)
{
    for (int i = 0; i < p->nreads; i++)
        if (same_read(b->what, b->file, b->line, b->scope, &p->read[i])) return &p->read[i];
    if (p->nreads == DUET_PROBE_MAX_READS) return NULL;
    duet_probe_read *r = &p->read[p->nreads++];
    memset(r, 0, sizeof *r);
    r->what = b->what;
    snprintf(r->file, sizeof r->file, "%s", b->file);
    snprintf(r->scope, sizeof r->scope, "%s", b->scope);
    r->line = b->line;
    r->baked = b->value;
    return r;
}

/* The value this seed's graph baked at the lint entry's site, if it baked one there
 * that differs from what eager read (a site baked by several traces counts as agreeing
 * when any of them baked the value read: which trace ran is not known here). */
static const duet_baked_read *baked_differently(const duet_fn *fn, const duet_lint *l)
{
    const duet_baked_read *other = NULL;
    for (int i = 0; i < duet_fn_baked_count(fn); i++) {
        const duet_baked_read *b = duet_fn_baked_at(fn, i);
        if (strcmp(b->what, l->what) || b->line != l->line || strcmp(b->file, l->file) ||
            strcmp(b->scope, l->scope))
            continue;
        if (b->value == l->value || isnan(l->value)) return NULL;
        other = b;
    }
    return other;
}

int duet_session_call_linted(duet_session *e, duet_tensor *const *in, duet_tensor **out)
{
    const duet_case *c = e->c;
    duet_fn *fn = duet_fn_new(e->ctx, c->name, c->body, c->nin, c->nout, e->state);
    if (!fn || (c->relax && duet_fn_relax(fn, c->relax))) {
        duet_fn_free(fn);
        return -1;
    }
    duet_fn_set_mode(fn, DUET_EAGER);
    duet_ctx_set_lint(e->ctx, true);
    int rc = duet_fn_call(fn, in, out);
    duet_ctx_set_lint(e->ctx, false);
    duet_fn_free(fn);
    return rc;
}

static int eager_step_linted(duet_session *e, int step, uint64_t seed, duet_tensor **out)
{
    duet_tensor *in[MAX_CASE_ARGS];
    return step_inputs(e, step, seed, in) ? -1 : duet_session_call_linted(e, in, out);
}

static bool probe_done(const duet_probe *p)
{
    int found = 0;
    for (int i = 0; i < p->nreads; i++) found += p->read[i].differs;
    return p->nreads && found == p->nreads;
}

/* One seed's run: specialize beside linted eager. Returns 1 when a mode stopped. */
static int probe_seed(const duet_case *c, const duet_run_opts *o, uint64_t seed, duet_probe *p)
{
    duet_session e, g;
    unsigned passes = c->passes ? c->passes : DUET_PASS_ALL;
    if (open_session(&e, c, DUET_RUN_EAGER, passes, seed, &p->diag)) return -1;
    if (open_session(&g, c, DUET_RUN_SPECIALIZE, passes, seed, &p->diag)) {
        close_session(&e);
        return -1;
    }
    duet_tensor *eo[MAX_CASE_ARGS], *go[MAX_CASE_ARGS];
    int rc = 0;
    for (int s = 0; s < p->steps && !probe_done(p); s++) {
        int nlint = duet_lint_count(e.ctx);
        bool failed = duet_session_step(&g, s, seed, go);
        if (failed || eager_step_linted(&e, s, seed, eo)) {
            p->diag = *duet_ctx_error(failed ? g.ctx : e.ctx);
            rc = 1;
            break;
        }
        for (int i = 0; i < duet_fn_baked_count(g.fn); i++) probe_entry(p, duet_fn_baked_at(g.fn, i));
        for (int i = nlint; i < duet_lint_count(e.ctx); i++) {
            const duet_lint *l = duet_lint_at(e.ctx, i);
            const duet_baked_read *b = baked_differently(g.fn, l);
            duet_probe_read *r = b ? probe_entry(p, b) : NULL;
            if (!r || r->differs) continue;
            r->differs = true;
            r->baked = b->value;
            r->eager = l->value;
            r->seed = seed;
            r->step = s;
            compare_outputs(c, go, eo, s, o, &r->out);
        }
        duet_ctx_reset(e.ctx);
        duet_ctx_reset(g.ctx);
    }
    close_session(&e);
    close_session(&g);
    return rc;
}

int duet_probe_case(const duet_case *c, const duet_run_opts *o, int seeds, duet_probe *p)
{
    memset(p, 0, sizeof *p);
    p->seeds = seeds;
    p->steps = duet_case_steps(c, o);
    for (int k = 0; k < seeds && !probe_done(p); k++) {
        int rc = probe_seed(c, o, o->seed + (uint64_t)k, p);
        if (rc) return rc < 0 ? -1 : 0;
    }
    return 0;
}
