/* dim-branch: a host branch on a relaxed dim. A pooling step averages at most the
 * first WINDOW positions of each sequence, truncating long ones when DUET_DIM says the
 * length is over WINDOW. The length is relaxed (unknown while tracing): strict stops;
 * specialize bakes the first call's length (short: no truncation) and averages every
 * position of later long batches; guard checks the exact length, one trace per length
 * seen, which undoes the relaxation. The twin keeps the length symbolic: positions
 * come from duet_arange of the symbolic dim, and a keep-mask does the truncation. */
#include "bugs/common.h"
#include "duet/case.h"

#define DB_WINDOW 6
#define DB_MAX_ROWS 4

static void dim_branch_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *state)
{
    (void)state;
    duet_tensor *x = in[0];
    if (DUET_DIM(ctx, x, 1) > DB_WINDOW) x = duet_slice(ctx, x, 1, 0, DB_WINDOW);
    out[0] = duet_mean(ctx, x, DUET_AXIS(1), false);
}

static void dim_branch_fixed_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out,
                                  void *state)
{
    (void)state;
    duet_tensor *x = in[0];
    /* x->shape[1] is the length's symbol while tracing: the plan resolves it per call */
    duet_tensor *pos = duet_cast(ctx, duet_arange(ctx, x->shape[1]), DUET_F32);
    duet_tensor *keep = duet_cast(ctx, duet_greater(ctx, duet_scalar(ctx, DB_WINDOW), pos), DUET_F32);
    duet_tensor *sum = duet_sum(ctx, duet_mul(ctx, x, keep), DUET_AXIS(1), false);
    out[0] = duet_div(ctx, sum, duet_sum(ctx, keep, 0, false));
}

/* x (N, T): lengths cycle short, long, short, long (4 distinct, so guard's count of
 * traces is known), batch sizes and values are random. */
static void sequences(duet_ctx *ctx, void *state, int step, uint64_t seed, duet_tensor **in)
{
    (void)state;
    static const int lengths[] = {4, 9, 3, 12};
    uint64_t rng = bugs_rng_init(seed, step, 0);
    int64_t shape[2] = {bugs_rng_int(&rng, 1, DB_MAX_ROWS), lengths[step % 4]};
    in[0] = bugs_uniform(ctx, &rng, 2, shape, -1, 1);
}

#define DIM_BRANCH_COMMON                                                                 \
    .category = "host-read", .nin = 1, .nout = 1, .relax = "(N,T)", .steps = 8,           \
    .inputs = sequences

DUET_CASE(dim_branch, DIM_BRANCH_COMMON, .name = "dim-branch",
          .summary = "a host branch on DUET_DIM of a relaxed dim truncates long sequences",
          .twin = "dim-branch-fixed", .body = dim_branch_body,
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_TRACE_ERROR},
                     [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_DIVERGENCE},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_OK, .max_traces = 4}},
          .why = "The length is relaxed (.relax = \"(N,T)\"): while tracing it is an unknown, "
                 "None, so one graph can serve every length, and a C comparison with 6 has no "
                 "answer. strict refuses. specialize bakes the first call's length (4: no "
                 "truncation) and averages every position of later long batches. guard checks "
                 "the exact length, one trace per length seen, which undoes the relaxation.",
          .fix_why = "Keep the length symbolic. x->shape[1] is the length's symbol while "
                     "tracing, and ops take it: duet_arange(ctx, x->shape[1]) numbers the "
                     "positions, a keep-mask (position < 6) truncates, and the mean divides by "
                     "the mask's sum. The plan resolves the symbol on every call: one trace "
                     "serves every length.",
          .frameworks = {.tensorflow = "with an input_signature of None dims, x.shape[1] > 6 is "
                                       "None > 6 (a TypeError) and tf.shape(x)[1] > 6 a symbolic "
                                       "bool; fix with tf.sequence_mask",
                         .jax = "shapes are static under jax.jit, so every length compiles anew; "
                                "with symbolic shapes (jax.export) the comparison is an "
                                "InconclusiveDimensionOperation",
                         .pytorch = "torch.compile with dynamic shapes guards the size and "
                                    "recompiles when it changes; torch.jit.trace bakes the "
                                    "branch"})

DUET_CASE(dim_branch_fixed, DIM_BRANCH_COMMON, .name = "dim-branch-fixed",
          .summary = "the length stays symbolic: a keep-mask from duet_arange truncates",
          .fixes = "dim-branch", .body = dim_branch_fixed_body,
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_OK, .max_traces = 1},
                     [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_OK, .max_traces = 1},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_OK, .max_traces = 1}})
