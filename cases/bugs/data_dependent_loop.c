/* data-dependent-loop: a C while loop whose condition is a tensor value (halve x
 * until its squared norm is at most 1). Eagerly each DUET_BOOL answers from data.
 * Traced: strict stops at the read; specialize unrolls the trip count of the first
 * call into the graph and silently gives other inputs the same number of halvings;
 * guard unrolls it too, guarding every read, so each new trip count fails a guard
 * and retraces (past 8 trip counts it would be a retrace storm). The fixed twin is
 * duet_while_loop: the trip count is data, one node, one trace (tf.while_loop,
 * jax.lax.while_loop). */
#include <math.h>

#include "bugs/common.h"
#include "duet/case.h"

#define LOOP_N 8
#define LOOP_MAX_ITERS 64
#define LOOP_SCALES 4 /* trip counts 0, 1, 2, 3 in turn */

static duet_tensor *norm_above_one(duet_ctx *ctx, duet_tensor *x)
{
    return duet_greater(ctx, duet_sum(ctx, duet_mul(ctx, x, x), 0, false), duet_scalar(ctx, 1));
}

static duet_tensor *halve(duet_ctx *ctx, duet_tensor *x)
{
    return duet_mul(ctx, x, duet_scalar(ctx, 0.5f));
}

static void host_loop(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_tensor *x = in[0];
    while (DUET_BOOL(ctx, norm_above_one(ctx, x))) x = halve(ctx, x);
    out[0] = x;
}

static duet_tensor *loop_cond(duet_ctx *ctx, duet_tensor *const *state, void *user)
{
    (void)user;
    return norm_above_one(ctx, state[0]);
}

static void loop_body(duet_ctx *ctx, duet_tensor *const *state, duet_tensor **next, void *user)
{
    (void)user;
    next[0] = halve(ctx, state[0]);
}

static void graph_loop(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    duet_while_loop(ctx, loop_cond, loop_body, in, 1, out, LOOP_MAX_ITERS, user);
}

/* A seeded direction scaled to a squared norm r in [0.3, 0.9], times 2^k with
 * k = step % LOOP_SCALES: the squared norm is r * 4^k, so the loop halves exactly k
 * times, and the steps cycle through LOOP_SCALES trip counts. */
static void scaled_vectors(duet_ctx *ctx, void *state, int step, uint64_t seed, duet_tensor **in)
{
    (void)state;
    float x[LOOP_N], r;
    bugs_fill_uniform(x, LOOP_N, seed, step, 0, -1.0f, 1.0f);
    bugs_fill_uniform(&r, 1, seed, step, 1, 0.3f, 0.9f);
    double norm2 = 0;
    for (int i = 0; i < LOOP_N; i++) norm2 += (double)x[i] * x[i];
    float scale = (float)sqrt(r / norm2) * (float)(1 << step % LOOP_SCALES);
    for (int i = 0; i < LOOP_N; i++) x[i] *= scale;
    in[0] = duet_constant(ctx, DUET_F32, 1, (int64_t[]){LOOP_N}, x);
}

#define LOOP_COMMON                                                                       \
    .category = "control-flow", .nin = 1, .nout = 1, .steps = 8, .inputs = scaled_vectors

DUET_CASE(data_dependent_loop, LOOP_COMMON, .name = "data-dependent-loop",
          .summary = "a C while loop on DUET_BOOL of a tensor: the trip count is data",
          .twin = "data-dependent-loop-fixed", .body = host_loop,
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_TRACE_ERROR},
                     [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_DIVERGENCE},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_OK, .max_traces = LOOP_SCALES}},
          .why = "The C while loop asks for a bool on every iteration, and while tracing "
                 "there is none. strict refuses. specialize answers each read from the first "
                 "call's values, so the graph holds that call's number of halvings, unrolled: "
                 "later inputs get the same number. guard unrolls it too and guards every read, "
                 "so each new trip count traces again (4 here; past 8, a retrace storm).",
          .fix_why = "duet_while_loop makes the loop one graph node: its condition and body are "
                     "traced once as small graphs, and the node runs them until the condition "
                     "is false, so the trip count is data. One trace, eager's bits.",
          .frameworks = {.tensorflow = "AutoGraph turns a while on a tensor into tf.while_loop; "
                                       "without it, OperatorNotAllowedInGraphError",
                         .jax = "ConcretizationTypeError under jax.jit; fix with "
                                "jax.lax.while_loop",
                         .pytorch = "torch.jit.trace unrolls the traced iterations (with a "
                                    "TracerWarning); torch.compile breaks the graph or guards on "
                                    "the data"})

DUET_CASE(data_dependent_loop_fixed, LOOP_COMMON, .name = "data-dependent-loop-fixed",
          .summary = "the same loop as duet_while_loop: one graph node, one trace",
          .fixes = "data-dependent-loop", .body = graph_loop,
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_OK, .max_traces = 1},
                     [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_OK, .max_traces = 1},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_OK, .max_traces = 1}})
