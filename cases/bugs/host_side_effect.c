/* host-side-effect: C code in a traced body that is not an op, here a step counter
 * for logging, runs when the body runs: on every call eagerly, but in graph mode only
 * while tracing. Nothing warns; the host-effect ledger sees the counter change on
 * every step eagerly and on the tracing step alone in graph mode. The twin logs with
 * duet_print, an op that prints each time the plan runs, and declares its line count. */
#include <stdlib.h>

#include "bugs/common.h"
#include "duet/case.h"

typedef struct logging_state {
    duet_ctx *ctx;
    long logged;    /* steps the buggy body counted */
    int logged_line; /* where it counts them */
} logging_state;

static void *logging_setup(duet_ctx *ctx, uint64_t seed)
{
    (void)seed;
    logging_state *s = calloc(1, sizeof *s);
    if (!s) {
        duet_ctx_fail(ctx, DUET_ERR_OOM, "host-side-effect: out of memory");
        return NULL;
    }
    s->ctx = ctx;
    duet_ctx_set_print_sink(ctx, NULL); /* counted, not shown among the results */
    return s;
}

static duet_tensor *loss_of(duet_ctx *ctx, duet_tensor *x)
{
    return duet_mean(ctx, duet_mul(ctx, x, x), 0, false);
}

static void host_side_effect_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out,
                                  void *state)
{
    logging_state *s = state;
    s->logged++, s->logged_line = __LINE__; /* a host effect: runs when the body runs */
    out[0] = loss_of(ctx, in[0]);
}

static void host_side_effect_fixed_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out,
                                        void *state)
{
    (void)state;
    out[0] = duet_print(ctx, "loss", loss_of(ctx, in[0]));
}

static int observe_logged(void *state, duet_observation *obs)
{
    const logging_state *s = state;
    obs[0] = (duet_observation){"logged steps", (double)s->logged, s->logged_line};
    return 1;
}

static int observe_printed(void *state, duet_observation *obs)
{
    const logging_state *s = state;
    obs[0] = (duet_observation){"printed lines", (double)duet_ctx_print_count(s->ctx), 0};
    return 1;
}

/* x (N, 4), batch sizes varying (relaxed: one trace). */
static void batches(duet_ctx *ctx, void *state, int step, uint64_t seed, duet_tensor **in)
{
    (void)state;
    uint64_t rng = bugs_rng_init(seed, step, 0);
    int64_t shape[2] = {bugs_rng_int(&rng, 2, 6), 4};
    in[0] = bugs_uniform(ctx, &rng, 2, shape, -1, 1);
}

#define HOST_SIDE_EFFECT_COMMON                                                           \
    .category = "side-effect", .nin = 1, .nout = 1, .relax = "(N,_)", .steps = 8,         \
    .setup = logging_setup, .teardown = free, .inputs = batches

DUET_CASE(host_side_effect, HOST_SIDE_EFFECT_COMMON, .name = "host-side-effect",
          .summary = "a C step counter bumped in the body runs only while tracing in graph mode",
          .twin = "host-side-effect-fixed", .body = host_side_effect_body,
          .observe = observe_logged,
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_EFFECT_MISMATCH},
                     [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_EFFECT_MISMATCH},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_EFFECT_MISMATCH}},
          .why = "The counter is C, not an op, so it leaves no node in the graph: it runs when "
                 "the body runs, and in graph mode the body runs only while tracing. Every later "
                 "call runs the graph and the counter stays put. No policy can see it (there is "
                 "no host read) and the outputs are right: only the effect is lost.",
          .fix_why = "Make the effect an op: duet_print(ctx, \"loss\", loss) is a node of the "
                     "graph that prints each time the graph runs, as it does eagerly on every "
                     "call. Changing values (a step, a learning rate) belong in arguments or "
                     "variables for the same reason.",
          .frameworks = {.tensorflow = "Python print and counters in a tf.function run only at "
                                       "trace time; tf.print is the op",
                         .jax = "print in a jitted function prints tracers once, at trace time; "
                                "jax.debug.print (and jax.debug.callback) run every call",
                         .pytorch = "torch.jit.trace runs Python effects once, while tracing; "
                                    "torch.compile breaks the graph at a print and runs it every "
                                    "call"})

DUET_CASE(host_side_effect_fixed, HOST_SIDE_EFFECT_COMMON, .name = "host-side-effect-fixed",
          .summary = "the step is logged with duet_print, an op that prints on every call",
          .fixes = "host-side-effect", .body = host_side_effect_fixed_body,
          .observe = observe_printed,
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_OK, .max_traces = 1},
                     [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_OK, .max_traces = 1},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_OK, .max_traces = 1}})
