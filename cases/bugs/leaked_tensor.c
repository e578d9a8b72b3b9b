/* leaked-tensor: a step keeps its predictions in the case's state so that a logging
 * callback can read them after the call (as a Keras layer stashing self.last_output
 * for a callback). Eagerly the stash is a concrete tensor, valid until the step's
 * reset. Traced, the body runs only while tracing, so the stash is a symbolic tensor
 * of that trace, with no value outside it: reading it after the call is
 * DUET_ERR_LEAKED under every policy (JAX's UnexpectedTracerError; TensorFlow: "an
 * op outside of the function building code is being passed a Graph tensor"). The
 * fixed twin returns the predictions as a second output. */
#include <stdlib.h>

#include "bugs/common.h"
#include "duet/case.h"

#define LEAK_ROWS 6
#define LEAK_FEATURES 4

typedef struct leak_state {
    duet_ctx *ctx; /* the logging callback reads through the context */
    duet_var *w;
    duet_tensor *last_pred; /* buggy: set by the body, read after the call */
} leak_state;

static void *leak_setup(duet_ctx *ctx, uint64_t seed)
{
    leak_state *s = calloc(1, sizeof *s);
    if (!s) {
        duet_ctx_fail(ctx, DUET_ERR_OOM, "leaked-tensor: out of memory");
        return NULL;
    }
    s->ctx = ctx;
    s->w = duet_var_new(ctx, "w", DUET_F32, 2, (int64_t[]){LEAK_FEATURES, 1});
    if (s->w) bugs_fill_uniform(duet_var_f32(s->w), LEAK_FEATURES, seed, 0, 1, -1.0f, 1.0f);
    return s;
}

static void leak_teardown(void *state) { free(state); }

static duet_tensor *predict(duet_ctx *ctx, duet_tensor *x, const leak_state *s)
{
    return duet_tanh(ctx, duet_matmul(ctx, x, duet_var_read(ctx, s->w), false, false));
}

/* outputs: the mean prediction; the predictions themselves go to the state */
static void stashing_step(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    leak_state *s = user;
    duet_tensor *pred = predict(ctx, in[0], s);
    s->last_pred = pred;
    out[0] = duet_mean(ctx, pred, 0, false);
}

/* The logging callback, after each call: the largest prediction of the step. */
static int log_largest(void *state, duet_observation *obs)
{
    leak_state *s = state;
    if (!s->last_pred) return 0; /* before the first step */
    double largest = DUET_ITEM(s->ctx, duet_max(s->ctx, s->last_pred, 0, false));
    obs[0] = (duet_observation){"largest prediction", largest, __LINE__ - 1};
    return 1;
}

/* outputs: the mean prediction and the predictions */
static void returning_step(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    duet_tensor *pred = predict(ctx, in[0], user);
    out[0] = duet_mean(ctx, pred, 0, false);
    out[1] = pred;
}

static void feature_rows(duet_ctx *ctx, void *state, int step, uint64_t seed, duet_tensor **in)
{
    (void)state;
    uint64_t rng = bugs_rng_init(seed, step, 0);
    in[0] = bugs_uniform(ctx, &rng, 2, (int64_t[]){LEAK_ROWS, LEAK_FEATURES}, -2.0f, 2.0f);
}

#define LEAK_COMMON                                                                       \
    .category = "lifetime", .nin = 1, .steps = 6, .setup = leak_setup,                    \
    .teardown = leak_teardown, .inputs = feature_rows

DUET_CASE(leaked_tensor, LEAK_COMMON, .name = "leaked-tensor",
          .summary = "a step stashes its predictions in C state and a callback reads them "
                     "after the call",
          .twin = "leaked-tensor-fixed", .nout = 1, .body = stashing_step,
          .observe = log_largest,
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_TRACE_ERROR},
                     [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_TRACE_ERROR},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_TRACE_ERROR}},
          .why = "The body runs only while tracing, so what it keeps in C state is a symbolic "
                 "tensor of that trace: a node, with no value outside it. The callback reads it "
                 "after the call, when the graph has run but the node still has no value of its "
                 "own: a leaked tensor, under every policy.",
          .fix_why = "Return the predictions as an output of the function: an output is computed "
                     "each time the graph runs and handed back as a concrete tensor, which the "
                     "caller can read after the call.",
          .frameworks = {.tensorflow = "An op outside of the function building code is being "
                                       "passed a Graph tensor (or InaccessibleTensorError)",
                         .jax = "UnexpectedTracerError: Encountered an unexpected tracer ... "
                                "leaked out of a function transformed by jit",
                         .pytorch = "torch.jit.trace leaves a stale tensor of the tracing call; "
                                    "torch.compile replays the side effect on every call"})

DUET_CASE(leaked_tensor_fixed, LEAK_COMMON, .name = "leaked-tensor-fixed",
          .summary = "the step returns its predictions as an output instead",
          .fixes = "leaked-tensor", .nout = 2, .body = returning_step,
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_OK, .max_traces = 1},
                     [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_OK, .max_traces = 1},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_OK, .max_traces = 1}})
