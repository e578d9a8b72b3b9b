/* duet cases: programs the harness runs through both modes.
 *
 * A case is a traced function with a seeded input generator, the host observables
 * it declares, its fixed twin, and the outcome expected in eager mode and in graph
 * mode under each policy. One macro registers it:
 *
 *     DUET_CASE(item_branch,
 *               .name = "item-branch", .category = "host-read",
 *               .summary = "a branch on DUET_ITEM of a mean",
 *               .twin = "item-branch-fixed",
 *               .nin = 1, .nout = 1, .relax = "(N)", .steps = 8,
 *               .body = item_branch_body, .inputs = signed_batches,
 *               .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_TRACE_ERROR},
 *                          [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_DIVERGENCE},
 *                          [DUET_RUN_GUARD] = {DUET_OUTCOME_OK, .max_traces = 2}});
 *
 * A case and its twin sit side by side in one file. Runs that the expect table
 * leaves out are expected to be `ok`. */
#ifndef DUET_CASE_H
#define DUET_CASE_H

#include "duet/duet.h"

/* What a run of a case did. */
typedef enum {
    DUET_OUTCOME_OK = 0,          /* ran; in graph mode, agreed with eager */
    DUET_OUTCOME_TRACE_ERROR,     /* a trace-time diagnostic (host read, leak, trace error) */
    DUET_OUTCOME_DIVERGENCE,      /* outputs or variables differ from eager's */
    DUET_OUTCOME_RETRACE_STORM,   /* the function reached its trace limit */
    DUET_OUTCOME_EFFECT_MISMATCH, /* a host effect ran a different number of times */
    DUET_OUTCOME_ERROR,           /* another diagnostic (shape, dtype, out of memory, ...) */
    DUET_OUTCOME_CRASH,           /* the run's process died on a signal */
    DUET_OUTCOME_TIMEOUT,         /* the run's process exceeded its time */
    DUET_OUTCOME_COUNT
} duet_outcome;
const char *duet_outcome_name(duet_outcome o);
/* -1 for an unknown name */
int duet_outcome_parse(const char *name);

/* The runs of a case: eager mode, then graph mode under each policy. */
typedef enum {
    DUET_RUN_EAGER = 0,
    DUET_RUN_STRICT,
    DUET_RUN_SPECIALIZE,
    DUET_RUN_GUARD,
    DUET_RUN_COUNT
} duet_run_kind;
const char *duet_run_name(duet_run_kind k); /* "eager", "strict", "specialize", "guard" */
int duet_run_parse(const char *name);       /* -1 for an unknown name */

typedef struct duet_expect {
    duet_outcome outcome;
    int max_traces; /* > 0: more traces than this is unexpected */
} duet_expect;

/* A host observable's value after a step: a counter a body bumps, a value it read
 * from the host. line is where the body changes it (0 if unknown). */
typedef struct duet_observation {
    const char *name;
    double value;
    int line;
} duet_observation;

#define DUET_CASE_MAX_OBS 8

/* Where a case's bug lives in other frameworks: the error or the behaviour a reader
 * will meet there, one line each, so duet's words map to theirs. */
typedef struct duet_frameworks {
    const char *tensorflow, *jax, *pytorch;
} duet_frameworks;

typedef struct duet_case {
    const char *name;     /* "item-branch" */
    const char *category; /* "host-read", "side-effect", ... */
    const char *summary;  /* one line */
    const char *twin;     /* on a buggy case: its fixed twin's name */
    const char *fixes;    /* on a twin: the case it fixes */
    int nin, nout;
    const char *relax; /* duet_fn_relax spec, or NULL */
    unsigned passes;   /* graph passes; 0 means DUET_PASS_ALL */
    int steps;         /* default number of steps */
    /* State for one run (variables, a model, host counters); NULL when not needed.
     * setup returns NULL and sets the context's error on failure. */
    void *(*setup)(duet_ctx *ctx, uint64_t seed);
    void (*teardown)(void *state);
    duet_fn_body body; /* called with user = the state */
    /* Fills in[0..nin) for a step: tensors on ctx, freed at the step's reset. The
     * same (seed, step) gives the same inputs in every run. */
    void (*inputs)(duet_ctx *ctx, void *state, int step, uint64_t seed, duet_tensor **in);
    /* Host observables after a step: fills obs, returns how many (<= DUET_CASE_MAX_OBS). */
    int (*observe)(void *state, duet_observation *obs);
    duet_expect expect[DUET_RUN_COUNT];
    /* Teaching (`duet explain`, docs/bug-classes.md), on a buggy case; its twin is
     * explained through it. Plain words for a reader who knows C but not graph mode. */
    const char *why;     /* what the tracer sees and why graph mode differs from eager */
    const char *fix_why; /* why the twin's rewrite is right in both modes */
    duet_frameworks frameworks;
    /* Case-specific training with its own flags (`duet train NAME ...`), or NULL. */
    int (*train_cli)(int argc, char **argv);
    const char *file; /* set by DUET_CASE */
    int line;
} duet_case;

void duet_case_register(const duet_case *c);
int duet_case_count(void);
const duet_case *duet_case_at(int i); /* in registration order */
const duet_case *duet_case_find(const char *name);

#define DUET_CASE(ident, ...)                                                             \
    static const duet_case ident = {__VA_ARGS__, .file = __FILE__, .line = __LINE__};     \
    __attribute__((constructor)) static void duet_register_##ident(void)                 \
    {                                                                                     \
        duet_case_register(&ident);                                                       \
    }

/* The duet command line, for a runner built around user cases (duet_add_case in the
 * CMake package links a main that calls it). */
int duet_main(int argc, char **argv);

#endif
