/* item-branch: a branch on DUET_ITEM, a tensor's value read into a C double and
 * compared in C: y = 2x when mean(x) > 0, else -x. Strict stops; specialize bakes the
 * first call's branch; guard checks the exact value read, which changes every step,
 * so every call retraces until the trace limit: a retrace storm. The twin compares
 * in the graph and selects with duet_where. */
#include "bugs/common.h"
#include "duet/case.h"

static duet_tensor *doubled(duet_ctx *ctx, duet_tensor *x)
{
    return duet_mul(ctx, x, duet_scalar(ctx, 2));
}

static void item_branch_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *state)
{
    (void)state;
    double mean = DUET_ITEM(ctx, duet_mean(ctx, in[0], 0, false));
    out[0] = mean > 0 ? doubled(ctx, in[0]) : duet_neg(ctx, in[0]);
}

static void item_branch_fixed_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out,
                                   void *state)
{
    (void)state;
    duet_tensor *positive = duet_greater(ctx, duet_mean(ctx, in[0], 0, false), duet_scalar(ctx, 0));
    out[0] = duet_where(ctx, positive, doubled(ctx, in[0]), duet_neg(ctx, in[0]));
}

/* x (N,): its mean is positive except on every third step from step 1, so the first
 * two calls take different branches; the magnitudes, and so the means, are random. */
static void signed_batches(duet_ctx *ctx, void *state, int step, uint64_t seed, duet_tensor **in)
{
    (void)state;
    uint64_t rng = bugs_rng_init(seed, step, 0);
    int64_t n = bugs_rng_int(&rng, 2, 8);
    bool negative = step % 3 == 1;
    in[0] = bugs_uniform(ctx, &rng, 1, &n, negative ? -2.0f : 0.1f, negative ? -0.1f : 2.0f);
}

/* More steps than the trace limit (8): guard's storm shows within the run. */
#define ITEM_BRANCH_COMMON                                                                \
    .category = "host-read", .nin = 1, .nout = 1, .relax = "(N)", .steps = 12,            \
    .inputs = signed_batches

DUET_CASE(item_branch, ITEM_BRANCH_COMMON, .name = "item-branch",
          .summary = "a branch on DUET_ITEM of a mean compared in C",
          .twin = "item-branch-fixed", .body = item_branch_body,
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_TRACE_ERROR},
                     [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_DIVERGENCE},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_RETRACE_STORM}},
          .why = "DUET_ITEM copies a tensor's value into a C double, and while tracing the "
                 "mean has no value. strict refuses. specialize bakes the first call's mean "
                 "(positive) and so doubles every later input, negative ones too. guard checks "
                 "the exact number read, and the mean is new on every step, so every call traces "
                 "again until the trace limit: a retrace storm. (A DUET_BOOL of the comparison "
                 "would guard only its outcome, as in tensor-bool.)",
          .fix_why = "Compare in the graph and select: duet_greater(mean, 0) is a bool tensor, "
                     "and duet_where picks 2x or -x by it when the graph runs. Both branches are "
                     "computed, the C code needs no value, and one trace serves every input.",
          .frameworks = {.tensorflow = "float(t) or t.numpy() in a tf.function fails (a symbolic "
                                       "tensor has no value); fix with tf.where, or tf.cond when "
                                       "the branches compute different things",
                         .jax = "ConcretizationTypeError on float(x) under jax.jit; fix with "
                                "jnp.where or lax.cond",
                         .pytorch = "x.item() makes torch.jit.trace warn and bake the number, "
                                    "and torch.compile break the graph (or recompile per value "
                                    "up to its recompile limit); fix with torch.where"})

DUET_CASE(item_branch_fixed, ITEM_BRANCH_COMMON, .name = "item-branch-fixed",
          .summary = "the mean compared in the graph (duet_greater) and selected with duet_where",
          .fixes = "item-branch", .body = item_branch_fixed_body,
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_OK, .max_traces = 1},
                     [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_OK, .max_traces = 1},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_OK, .max_traces = 1}})
