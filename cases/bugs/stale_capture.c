/* stale-capture: a host value read inside the body and used as a constant. A
 * learning-rate schedule lives in a C double that changes between steps; the body
 * turns it into duet_scalar, which while tracing is a constant of the graph, so every
 * later step updates with the first step's rate. The twin passes the rate in as an
 * argument (a tensor each call), as a Keras optimizer keeps it in a variable. */
#include <stdlib.h>

#include "bugs/common.h"
#include "duet/case.h"

#define SC_DIM 4

typedef struct sgd_state {
    double lr; /* the host schedule's rate for the current step */
    duet_var *w;
} sgd_state;

static void *sgd_setup(duet_ctx *ctx, uint64_t seed)
{
    (void)seed;
    sgd_state *s = calloc(1, sizeof *s);
    if (!s) {
        duet_ctx_fail(ctx, DUET_ERR_OOM, "stale-capture: out of memory");
        return NULL;
    }
    s->w = duet_var_new(ctx, "w", DUET_F32, 1, (int64_t[]){SC_DIM});
    return s;
}

/* w -= lr * grad; returns the new w */
static duet_tensor *sgd_update(duet_ctx *ctx, duet_var *w, duet_tensor *lr, duet_tensor *grad)
{
    duet_tensor *next = duet_sub(ctx, duet_var_read(ctx, w), duet_mul(ctx, lr, grad));
    duet_assign(ctx, w, next);
    return next;
}

static void stale_capture_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out,
                               void *state)
{
    sgd_state *s = state;
    out[0] = sgd_update(ctx, s->w, duet_scalar(ctx, (float)s->lr), in[0]); /* lr read on the host */
}

static void stale_capture_fixed_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out,
                                     void *state)
{
    sgd_state *s = state;
    out[0] = sgd_update(ctx, s->w, in[1], in[0]);
}

/* The schedule moves the host rate (0.1 decaying by 1/(1 + step)); the gradient
 * (SC_DIM,) is random. */
static void scheduled_grads(duet_ctx *ctx, void *state, int step, uint64_t seed, duet_tensor **in)
{
    sgd_state *s = state;
    s->lr = 0.1 / (1 + step);
    uint64_t rng = bugs_rng_init(seed, step, 0);
    in[0] = bugs_uniform(ctx, &rng, 1, (int64_t[]){SC_DIM}, -1, 1);
}

/* The same, and the rate as an argument. */
static void scheduled_grads_and_rate(duet_ctx *ctx, void *state, int step, uint64_t seed,
                                     duet_tensor **in)
{
    scheduled_grads(ctx, state, step, seed, in);
    in[1] = duet_scalar(ctx, (float)((sgd_state *)state)->lr);
}

#define STALE_CAPTURE_COMMON                                                              \
    .category = "capture", .nout = 1, .steps = 8, .setup = sgd_setup, .teardown = free

DUET_CASE(stale_capture, STALE_CAPTURE_COMMON, .name = "stale-capture",
          .summary = "a host learning rate read in the body is baked into the graph as a constant",
          .twin = "stale-capture-fixed", .nin = 1, .body = stale_capture_body,
          .inputs = scheduled_grads,
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_DIVERGENCE},
                     [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_DIVERGENCE},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_DIVERGENCE}},
          .why = "duet_scalar(ctx, lr) while tracing turns the C double into a constant node of "
                 "the graph, holding the first step's rate. The schedule goes on changing the "
                 "double, but the graph never reads it again: every step updates w with the "
                 "first rate. No tensor is read, so no policy notices.",
          .fix_why = "Pass the rate in as an argument, a scalar tensor made for each call: an "
                     "input of the graph, so each call's value reaches it. (A variable the host "
                     "assigns works too; Keras optimizers keep the learning rate in one.)",
          .frameworks = {.tensorflow = "Python values a tf.function closes over are constants "
                                       "captured at trace time (and a Python scalar argument "
                                       "retraces per value); pass a tensor",
                         .jax = "closed-over values are constants of the jitted computation; "
                                "pass them as arguments",
                         .pytorch = "torch.jit.trace bakes the value; torch.compile guards on "
                                    "closed-over Python numbers and recompiles when they change"})

DUET_CASE(stale_capture_fixed, STALE_CAPTURE_COMMON, .name = "stale-capture-fixed",
          .summary = "the learning rate is an argument: each call's value reaches the graph",
          .fixes = "stale-capture", .nin = 2, .body = stale_capture_fixed_body,
          .inputs = scheduled_grads_and_rate,
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_OK, .max_traces = 1},
                     [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_OK, .max_traces = 1},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_OK, .max_traces = 1}})
