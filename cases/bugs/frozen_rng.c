/* frozen-rng: a dropout seed drawn on the host inside the body. Eagerly each call
 * draws a new seed and so a new mask; traced, the seed drawn while tracing is a
 * constant of the graph and every later step reuses its mask. The twin keeps the
 * randomness in the graph: one seed fixed at setup and a step counter held in a
 * variable, which the counter-based RNG (Philox) turns into a new mask per step, the
 * same eagerly and traced (as Keras' SeedGenerator state, or tf.random.Generator). */
#include <stdlib.h>

#include "bugs/common.h"
#include "duet/case.h"

#define FR_RATE 0.5f

typedef struct dropout_state {
    uint64_t host_rng;  /* buggy: host randomness the body draws from */
    uint64_t seed;      /* fixed: the graph RNG's key */
    duet_var *counter;  /* fixed: the graph RNG's counter, one step per call */
} dropout_state;

static void *dropout_setup(duet_ctx *ctx, uint64_t seed)
{
    dropout_state *s = calloc(1, sizeof *s);
    if (!s) {
        duet_ctx_fail(ctx, DUET_ERR_OOM, "frozen-rng: out of memory");
        return NULL;
    }
    s->host_rng = s->seed = seed;
    s->counter = duet_var_new(ctx, "dropout/counter", DUET_I32, 0, NULL);
    return s;
}

static void frozen_rng_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *state)
{
    dropout_state *s = state;
    uint64_t seed = bugs_rng_next(&s->host_rng); /* host randomness: drawn when the body runs */
    out[0] = duet_dropout(ctx, in[0], FR_RATE, seed, duet_scalar_i32(ctx, 0), 0);
}

static void frozen_rng_fixed_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out,
                                  void *state)
{
    dropout_state *s = state;
    duet_tensor *step = duet_var_read(ctx, s->counter);
    out[0] = duet_dropout(ctx, in[0], FR_RATE, s->seed, step, 0);
    duet_assign(ctx, s->counter, duet_add(ctx, step, duet_scalar_i32(ctx, 1)));
}

/* x (N, 8) in [1, 2), so a dropped element (0) stands out; batch sizes vary. */
static void activations(duet_ctx *ctx, void *state, int step, uint64_t seed, duet_tensor **in)
{
    (void)state;
    uint64_t rng = bugs_rng_init(seed, step, 0);
    int64_t shape[2] = {bugs_rng_int(&rng, 2, 6), 8};
    in[0] = bugs_uniform(ctx, &rng, 2, shape, 1, 2);
}

#define FROZEN_RNG_COMMON                                                                 \
    .category = "rng", .nin = 1, .nout = 1, .relax = "(N,_)", .steps = 8,                 \
    .setup = dropout_setup, .teardown = free, .inputs = activations

DUET_CASE(frozen_rng, FROZEN_RNG_COMMON, .name = "frozen-rng",
          .summary = "a dropout seed drawn on the host in the body is frozen into the graph",
          .twin = "frozen-rng-fixed", .body = frozen_rng_body,
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_DIVERGENCE},
                     [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_DIVERGENCE},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_DIVERGENCE}},
          .why = "The seed is a C number drawn when the body runs, and the body runs only while "
                 "tracing: the seed of the first call becomes an attribute of the graph's dropout "
                 "node, and every later call drops the same positions. No tensor is read, so no "
                 "policy notices.",
          .fix_why = "Keep the randomness in the graph: a seed fixed at set-up and a step counter "
                     "held in a variable, read by the dropout and incremented with duet_assign. "
                     "The counter-based RNG turns (seed, counter) into a new mask every call, the "
                     "same in both modes.",
          .frameworks = {.tensorflow = "random or np.random in a tf.function is frozen at trace "
                                       "time; use tf.random.Generator or the stateless ops (as "
                                       "Keras' SeedGenerator)",
                         .jax = "np.random in a jitted function is a constant; pass a jax.random "
                                "key in and split it",
                         .pytorch = "torch.jit.trace bakes Python random numbers; use torch's own "
                                    "RNG ops"})

DUET_CASE(frozen_rng_fixed, FROZEN_RNG_COMMON, .name = "frozen-rng-fixed",
          .summary = "dropout keyed by a step counter variable: a new mask per step in both modes",
          .fixes = "frozen-rng", .body = frozen_rng_fixed_body,
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_OK, .max_traces = 1},
                     [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_OK, .max_traces = 1},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_OK, .max_traces = 1}})
