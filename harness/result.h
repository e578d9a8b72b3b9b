/* One result record per (case, run): everything a run found, in one plain struct
 * that the terminal printer (and the reports) walk. Fixed-size fields, so a record
 * crosses from an isolated child process to the parent as bytes. */
#ifndef DUET_RESULT_H
#define DUET_RESULT_H

#include "duet/case.h"

#define DUET_MAX_STEPS 512
#define DUET_MAX_REASONS 8
#define DUET_MAX_EFFECTS DUET_CASE_MAX_OBS
#define DUET_MAX_OP_KINDS 64    /* more than the engine has */
#define DUET_MAX_OP_ERRORS 2048 /* ops of a divergent step compared one by one */

/* A numeric comparison with NumPy allclose semantics: |g - e| <= atol + rtol * |e|,
 * NaN equal only to NaN, an infinity only to the same infinity. */
typedef struct duet_compare {
    double max_abs, max_rel;
    int64_t max_ulp;     /* float32 units in the last place, at the worst element */
    int64_t mismatches;  /* elements outside the tolerance */
    int64_t nonfinite;   /* elements where NaN or Inf disagree */
    int64_t count;       /* elements compared */
    bool shape_mismatch;
    char first[96];      /* where the first mismatch is: "step 3 output 0 [5]" */
} duet_compare;

/* A host observable that changed a different number of times in the two modes. */
typedef struct duet_effect {
    char name[48];
    int line;
    int eager_steps, graph_steps; /* steps on which it changed */
    bool trace_only;              /* in graph mode it changed only on tracing steps */
} duet_effect;

/* The time one op kind's kernels took over a run's steps (duet_run_opts.profile). */
typedef struct duet_op_time {
    char name[24]; /* "matmul", "fused" */
    int calls, eager_calls;
    double ms, eager_ms; /* this run's; graph runs: the eager reference's */
} duet_op_time;

/* One op of a divergent step, against its eager twin: the max abs error (NaN for an
 * op with no twin) and whether it is outside the tolerance. */
typedef struct duet_op_error {
    float max_abs;
    bool differs;
} duet_op_error;

typedef struct duet_timing {
    double trace_ms, optimise_ms, first_ms; /* first: the whole first call */
    double median_ms, p10_ms, p90_ms;       /* steady state, after the first call */
    /* graph runs, against the eager reference measured in the same process: */
    double eager_median_ms;
    double speedup, speedup_lo, speedup_hi; /* eager/graph medians; p10..p90 spread */
    double break_even_calls; /* one-time graph cost over the per-call saving; < 0: never */
} duet_timing;

typedef struct duet_result {
    char case_name[64];
    char case_file[160];
    duet_run_kind run;
    duet_outcome expected, actual;
    int max_traces;       /* expected bound, 0 if none */
    bool as_expected;
    char why[256];        /* why the outcome is unexpected, or what was found */
    duet_diag diag;       /* the run's diagnostic, code DUET_OK if none */
    int signal;           /* crash: the signal */
    int steps, steps_run;
    int traces;
    char reasons[DUET_MAX_REASONS][128];
    int nwarnings;
    char warning[256];    /* the first warning */
    duet_compare cmp;     /* graph runs: against eager */
    int neffects;
    duet_effect effects[DUET_MAX_EFFECTS];
    duet_timing timing;
    size_t planned_bytes, unplanned_bytes;
    double step_ms[DUET_MAX_STEPS];
    double out0[DUET_MAX_STEPS]; /* output 0's first element per step (plots) */
    /* graph runs: the eager reference's, for side-by-side plots */
    double eager_step_ms[DUET_MAX_STEPS];
    double eager_out0[DUET_MAX_STEPS];
    /* a divergence, localised: the first op whose output differs while its inputs
     * agree (op_step < 0 when every op agrees unoptimised), and the passes whose
     * removal alone makes the modes agree (names, space-separated) */
    int op_step;
    char op_name[32];
    char op_file[160];
    int op_line;
    char op_scope[256];
    char passes_at_fault[64];
    /* ... and every op of op_step in the debug run's order, for a divergence plot */
    int nop_errors;
    duet_op_error op_error[DUET_MAX_OP_ERRORS];
    /* per op kind, when profiled */
    int nop_times;
    duet_op_time op_time[DUET_MAX_OP_KINDS];
} duet_result;

typedef struct duet_run_opts {
    int steps;         /* 0: the case's own */
    uint64_t seed;
    double rtol, atol; /* allclose tolerances */
    double timeout_s;  /* isolated runs only; 0: none */
    bool fork;         /* run in a child process */
    bool profile;      /* time every op kernel, per op kind (op_time) */
} duet_run_opts;

/* A case set up for one run: its context, its state and its function. */
typedef struct duet_session {
    const duet_case *c;
    duet_ctx *ctx;
    void *state;
    duet_fn *fn;
} duet_session;
/* 0, or -1 with the context's error set (s->ctx is NULL when even that failed). */
int duet_session_open(duet_session *s, const duet_case *c, duet_run_kind run, uint64_t seed);
void duet_session_close(duet_session *s);
/* Calls the case's function. Diagnostics about the call itself (a retrace storm on an
 * input dim) point at the case's registration, not at the harness. */
int duet_session_call(duet_session *s, duet_tensor *const *in, duet_tensor **out);

/* Runs one (case, run) in this process. For graph runs it first runs eager mode on the
 * same inputs, as the reference. Always fills r; returns 0. */
int duet_run_case(const duet_case *c, duet_run_kind run, const duet_run_opts *o, duet_result *r);
/* The same in a child process with a timeout: a crash or a timeout becomes the outcome. */
int duet_run_isolated(const duet_case *c, duet_run_kind run, const duet_run_opts *o,
                      duet_result *r);

/* Compares two tensors' values, accumulating into cmp; where names the pair. */
void duet_compare_tensors(const duet_tensor *g, const duet_tensor *e, double rtol, double atol,
                          const char *where, duet_compare *cmp);
/* Distance between two float32 values in units in the last place. */
int64_t duet_ulp_distance(float a, float b);

#endif
