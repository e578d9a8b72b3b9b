/* Localising a graph-vs-eager divergence of a case: both modes step by step on the
 * same inputs, the first op whose output differs, the pass that introduced it, and
 * the host reads a specialized graph baked in that other inputs read differently.
 * The commands fill these records and print them; reports can walk them too. */
#ifndef DUET_LOCALISE_H
#define DUET_LOCALISE_H

#include "result.h"

/* Matches each graph record (a debug run's) to its eager twin (the tape's) by
 * (scope, op, call site, occurrence, grad): twin[i] is the index in eager of
 * graph[i]'s twin, or -1 when it has none. Malloc'ed; NULL when out of memory. */
int *duet_match_records(const duet_record *graph, int ng, const duet_record *eager, int ne);

/* The steps a run of c takes: o->steps, else the case's own, at most DUET_MAX_STEPS. */
int duet_case_steps(const duet_case *c, const duet_run_opts *o);
/* One step of an open session: the case's inputs for (seed, step), then the call.
 * 0, or -1 with the context's error set. */
int duet_session_step(duet_session *s, int step, uint64_t seed, duet_tensor **out);

/* Calls the case's body eagerly with the eager lint on, through a fresh function: the
 * lint traces a function once per signature, so a fresh one records this call's host
 * reads and their values (duet_lint_at) even when an earlier call had the same
 * signature. The body runs once, as in any eager call. 0, or -1 with the error set. */
int duet_session_call_linted(duet_session *e, duet_tensor *const *in, duet_tensor **out);

/* A harness-made diagnostic: d cleared, with code and the message what. */
void duet_diag_set(duet_diag *d, duet_status code, const char *what);

/* Outside the tolerance: a mismatch, a NaN/Inf disagreement or another shape. */
bool duet_compare_differs(const duet_compare *cmp);

/* One step, graph against eager: its outputs, and every variable after it. */
typedef struct duet_step_compare {
    duet_compare out, vars;
} duet_step_compare;

/* An op of the graph, keyed as its records are, with its output against eager's. */
typedef struct duet_op_at {
    char op[32];
    char file[160];
    int line;
    char scope[256]; /* "" at the top level */
    int occurrence;
    bool grad; /* emitted by a VJP */
    duet_compare cmp;
} duet_op_at;

typedef struct duet_divergence {
    duet_run_kind run; /* the graph's policy */
    unsigned passes;   /* the passes the case enables */
    int steps, steps_run;
    duet_step_compare step[DUET_MAX_STEPS];
    int first_step;         /* the first step outside tolerance; -1 when the modes agree */
    duet_diag diag;         /* why a mode stopped; code DUET_OK when both ran every step */
    duet_run_kind stopped;  /* the mode that stopped */
    char warning[256];      /* the graph's first warning (what specialize baked), or "" */
    /* localisation on first_step: an unoptimised debug run against the eager op log */
    int records, unmatched; /* the debug run's records, those with no eager twin */
    bool op_found;          /* false: every op agrees unoptimised */
    duet_op_at op;          /* the first op whose output differs while its inputs agree */
    int nop_errors;         /* every op of that step (up to DUET_MAX_OP_ERRORS), in order */
    duet_op_error op_error[DUET_MAX_OP_ERRORS];
    /* pass bisection */
    unsigned cures;         /* the passes whose removal alone makes the modes agree */
} duet_divergence;

/* Runs the case eagerly and as a graph under run's policy side by side (the same
 * seed, so the same inputs) for o->steps steps (0: the case's own), comparing with
 * o->rtol and o->atol; on a divergence, localises its first step and bisects the
 * passes. 0 when d says what happened (a mode stopping with a diagnostic included),
 * -1 on an internal failure, explained by d->diag. */
int duet_localise(const duet_case *c, duet_run_kind run, const duet_run_opts *o,
                  duet_divergence *d);

/* Of the passes in enabled, those whose removal alone satisfies agrees(enabled without
 * it): the pass bisection's logic, apart from running anything. */
unsigned duet_passes_curing(unsigned enabled, bool (*agrees)(unsigned passes, void *user),
                            void *user);

/* Probing the branches specialize baked: a host read the graph answered once, at trace
 * time, and the first generated input on which eager mode reads another value. */
typedef struct duet_probe_read {
    const char *what; /* "DUET_BOOL", "DUET_ITEM", "DUET_DIM" */
    char file[160];
    int line;
    char scope[256];
    double baked;    /* the value baked into the graph (traced on that seed's inputs) */
    bool differs;    /* an input was found on which eager read another value: */
    double eager;    /* that value, */
    uint64_t seed;   /* on the inputs of (seed, step), */
    int step;
    duet_compare out; /* where the outputs of both modes compare so */
} duet_probe_read;

#define DUET_PROBE_MAX_READS 16

typedef struct duet_probe {
    int seeds, steps;
    int nreads;
    duet_probe_read read[DUET_PROBE_MAX_READS];
    duet_diag diag; /* why a mode stopped; code DUET_OK when both ran every step */
} duet_probe;

/* Runs the case under specialize beside eager mode over seeds seeds from o->seed,
 * o->steps steps each (0: the case's own), recording the reads the graph baked and,
 * with the eager lint, the values eager mode reads at the same sites. 0, or -1 on an
 * internal failure explained by p->diag. */
int duet_probe_case(const duet_case *c, const duet_run_opts *o, int seeds, duet_probe *p);

#endif
