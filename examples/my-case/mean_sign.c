/* An out-of-tree duet case and its fixed twin: a step that scales its input one way
 * or the other depending on the sign of the input's mean.
 *
 * The buggy case asks the host for the sign (`if (mean > 0)`), as Python code does
 * with `if tf.reduce_mean(x) > 0:`. Eagerly that is fine. Traced, the mean has no
 * value yet: strict tracing stops with a diagnostic, specialize bakes in the branch
 * of the first batch (and batches of the other sign silently get the wrong one),
 * guard bakes it in behind a guard and traces once more for the other sign. The twin
 * computes both branches and selects with duet_where, which is right in every mode. */
#include <stdint.h>

#include "duet/case.h"

/* The branch taken: double the input when its mean is positive, negate it otherwise. */
static duet_tensor *positive_branch(duet_ctx *ctx, duet_tensor *x)
{
    return duet_mul(ctx, x, duet_scalar(ctx, 2.0f));
}

static duet_tensor *mean_is_positive(duet_ctx *ctx, duet_tensor *x)
{
    return duet_greater(ctx, duet_mean(ctx, x, 0, false), duet_scalar(ctx, 0.0f));
}

static void mean_sign_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    /* The bug: a C branch on a tensor's value. It reads the comparison (DUET_BOOL), not
     * the mean (DUET_ITEM): under guard, a guard then holds the comparison's outcome, so
     * one trace per sign serves every batch, where a guard on DUET_ITEM would hold the
     * exact mean and retrace for every new batch. */
    if (DUET_BOOL(ctx, mean_is_positive(ctx, in[0])))
        out[0] = positive_branch(ctx, in[0]);
    else
        out[0] = duet_neg(ctx, in[0]);
}

static void mean_sign_fixed_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out,
                                 void *user)
{
    (void)user;
    /* The fix: both branches in the graph, one selected per run (tf.where). */
    out[0] = duet_where(ctx, mean_is_positive(ctx, in[0]), positive_branch(ctx, in[0]),
                        duet_neg(ctx, in[0]));
}

/* Batches of 4 to 9 values, mostly positive on even steps and negative on odd ones,
 * so graph runs meet both signs and several lengths. Depends only on (seed, step). */
static void signed_batches(duet_ctx *ctx, void *state, int step, uint64_t seed, duet_tensor **in)
{
    (void)state;
    float v[9];
    int64_t n = 4 + step % 6;
    uint64_t r = seed * 6364136223846793005u + (uint64_t)step * 1442695040888963407u + 1;
    for (int64_t i = 0; i < n; i++) {
        r = r * 6364136223846793005u + 1442695040888963407u;
        float u = (float)(r >> 40) / (float)(1u << 24); /* [0, 1) */
        v[i] = (step % 2 ? -1.0f : 1.0f) * (u + 0.25f) - 0.2f * (u - 0.5f);
    }
    in[0] = duet_constant(ctx, DUET_F32, 1, &n, v);
}

DUET_CASE(mean_sign, .name = "mean-sign", .category = "my-cases",
          .summary = "doubles or negates its input by a host branch on the sign of its mean",
          .twin = "mean-sign-fixed", .nin = 1, .nout = 1, .relax = "(N)", .steps = 8,
          .body = mean_sign_body, .inputs = signed_batches,
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_TRACE_ERROR},
                     [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_DIVERGENCE},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_OK, .max_traces = 2}})

DUET_CASE(mean_sign_fixed, .name = "mean-sign-fixed", .category = "my-cases",
          .summary = "the same step selecting with duet_where: one trace, right in every mode",
          .fixes = "mean-sign", .nin = 1, .nout = 1, .relax = "(N)", .steps = 8,
          .body = mean_sign_fixed_body, .inputs = signed_batches,
          .expect = {[DUET_RUN_GUARD] = {DUET_OUTCOME_OK, .max_traces = 1}})
