/* retrace-storm: padded batches whose length changes every step, traced with the
 * length dim fixed. Every new length is a new signature and a new trace; past the
 * function's trace limit (8) the call stops with DUET_ERR_RETRACE_STORM, under every
 * policy. The fixed twin relaxes the batch and length dims: one trace serves every
 * length (tf.function's input_signature with None, torch.compile's dynamic=True). */
#include "bugs/common.h"
#include "duet/case.h"

#define STORM_ROWS 4
#define STORM_MIN_LEN 3
#define STORM_LENGTHS 12 /* distinct lengths, more than the trace limit of 8 */

/* Each row's mean over its unpadded positions: sum(x * mask) / sum(mask). */
static void masked_mean(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_tensor *x = in[0], *mask = in[1];
    duet_tensor *total = duet_sum(ctx, duet_mul(ctx, x, mask), DUET_AXIS(1), false);
    out[0] = duet_div(ctx, total, duet_sum(ctx, mask, DUET_AXIS(1), false));
}

/* Step s is padded to length STORM_MIN_LEN + s (cycling after STORM_LENGTHS steps).
 * Row lengths are seeded in [1, T]; padding is zero in x and in the mask. */
static void padded_batches(duet_ctx *ctx, void *state, int step, uint64_t seed, duet_tensor **in)
{
    (void)state;
    enum { MAX_T = STORM_MIN_LEN + STORM_LENGTHS - 1 };
    int64_t T = STORM_MIN_LEN + step % STORM_LENGTHS;
    float x[STORM_ROWS * MAX_T], mask[STORM_ROWS * MAX_T], len[STORM_ROWS];
    bugs_fill_uniform(x, STORM_ROWS * T, seed, step, 0, -1.0f, 1.0f);
    bugs_fill_uniform(len, STORM_ROWS, seed, step, 1, 1.0f, (float)T + 1.0f);
    for (int r = 0; r < STORM_ROWS; r++)
        for (int64_t t = 0; t < T; t++) {
            mask[r * T + t] = t < (int64_t)len[r] ? 1.0f : 0.0f;
            x[r * T + t] *= mask[r * T + t];
        }
    int64_t shape[2] = {STORM_ROWS, T};
    in[0] = duet_constant(ctx, DUET_F32, 2, shape, x);
    in[1] = duet_constant(ctx, DUET_F32, 2, shape, mask);
}

#define STORM_COMMON                                                                      \
    .category = "shapes", .nin = 2, .nout = 1, .steps = STORM_LENGTHS, .body = masked_mean,         \
    .inputs = padded_batches

DUET_CASE(retrace_storm, STORM_COMMON, .name = "retrace-storm",
          .summary = "padded batches of a new length every step, length dim not relaxed: "
                     "a trace per length, then a retrace storm",
          .twin = "retrace-storm-fixed",
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_RETRACE_STORM},
                     [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_RETRACE_STORM},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_RETRACE_STORM}},
          .why = "A trace is made for a signature: each argument's dtype and shape. Without "
                 ".relax every dim is fixed, so a batch of a new length is a new signature and "
                 "traces again, and tracing costs far more than running a graph. After 8 traces "
                 "(the trace limit) the call stops, naming the dim that keeps changing.",
          .fix_why = "Relax the dims that vary: .relax = \"(B,T) (B,T)\" makes batch and length "
                     "unknowns (None) shared by both arguments, so one trace serves every batch.",
          .frameworks = {.tensorflow = "tf.function warns that calls triggered retracing; fix "
                                       "with an input_signature of tf.TensorSpec([None, None]) or "
                                       "reduce_retracing=True",
                         .jax = "jax.jit compiles once per shape; pad to a few bucket sizes",
                         .pytorch = "torch.compile recompiles up to its recompile limit (8), then "
                                    "falls back to eager; fix with dynamic=True or mark_dynamic"})

DUET_CASE(retrace_storm_fixed, STORM_COMMON, .name = "retrace-storm-fixed",
          .summary = "the same batches with batch and length relaxed: one trace for every length",
          .fixes = "retrace-storm", .relax = "(B,T) (B,T)",
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_OK, .max_traces = 1},
                     [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_OK, .max_traces = 1},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_OK, .max_traces = 1}})
