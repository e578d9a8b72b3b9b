/* tensor-bool: DUET_BOOL of a symbolic tensor, the seed bug in miniature. A masked
 * softmax asks the host whether anything is masked and masks only then. Eagerly the
 * answer exists; traced it does not: strict stops, specialize bakes the first call's
 * answer (nothing masked) into the graph and silently skips the mask on later batches,
 * guard keeps one trace per answer. The twin always masks: where nothing is masked,
 * the select changes nothing. */
#include "bugs/common.h"
#include "duet/case.h"

#define TB_MAX_ROWS 4
#define TB_MAX_LEN 8

static duet_tensor *mask_scores(duet_ctx *ctx, duet_tensor *scores, duet_tensor *mask)
{
    return duet_where(ctx, mask, scores, duet_full_like(ctx, scores, -1e9f));
}

static void tensor_bool_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *state)
{
    (void)state;
    duet_tensor *scores = in[0], *mask = in[1];
    if (DUET_BOOL(ctx, duet_any(ctx, duet_logical_not(ctx, mask), 0, false)))
        scores = mask_scores(ctx, scores, mask);
    out[0] = duet_softmax(ctx, scores, -1, NULL);
}

static void tensor_bool_fixed_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out,
                                   void *state)
{
    (void)state;
    out[0] = duet_softmax(ctx, mask_scores(ctx, in[0], in[1]), -1, NULL);
}

/* Scores (N, T) and a keep-mask (N, T) of varying size. Even steps, the first call
 * among them, mask nothing; odd steps mask each row's tail past a random length, as
 * padding does. */
static void masked_scores(duet_ctx *ctx, void *state, int step, uint64_t seed, duet_tensor **in)
{
    (void)state;
    uint64_t rng = bugs_rng_init(seed, step, 0);
    int64_t shape[2] = {bugs_rng_int(&rng, 1, TB_MAX_ROWS), bugs_rng_int(&rng, 3, TB_MAX_LEN)};
    in[0] = bugs_uniform(ctx, &rng, 2, shape, -3, 3);
    uint8_t keep[TB_MAX_ROWS * TB_MAX_LEN];
    for (int r = 0; r < shape[0]; r++) {
        int len = step % 2 ? bugs_rng_int(&rng, 1, (int)shape[1] - 1) : (int)shape[1];
        for (int c = 0; c < shape[1]; c++) keep[r * shape[1] + c] = c < len;
    }
    in[1] = duet_constant(ctx, DUET_BOOL8, 2, shape, keep);
}

#define TENSOR_BOOL_COMMON                                                                \
    .category = "host-read", .nin = 2, .nout = 1, .relax = "(N,T) (N,T)", .steps = 8,     \
    .inputs = masked_scores

DUET_CASE(tensor_bool, TENSOR_BOOL_COMMON, .name = "tensor-bool",
          .summary = "a masked softmax branches on DUET_BOOL(any(not mask)): the seed bug in miniature",
          .twin = "tensor-bool-fixed", .body = tensor_bool_body,
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_TRACE_ERROR},
                     [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_DIVERGENCE},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_OK, .max_traces = 2}},
          .why = "The C `if` needs true or false now, but while tracing any(not mask) is a "
                 "symbolic bool (): a node of the graph, with a value only when the graph runs. "
                 "strict refuses. specialize and guard run the trace so far on the first call's "
                 "inputs to get an answer; that call masks nothing, so the answer is false and "
                 "the masking is left out of the graph. specialize then gives every later batch "
                 "with padding an unmasked softmax, with probability on its padded positions; "
                 "guard checks the answer on every call and traces again for true.",
          .fix_why = "Always mask: duet_where(ctx, mask, scores, -1e9) keeps a score where the "
                     "mask is true and puts -1e9 (probability 0 after the softmax) where it is "
                     "false. Where nothing is masked it changes nothing, so the `if` was only a "
                     "shortcut. With no host read the trace needs no value, and one graph serves "
                     "every batch under every policy.",
          .frameworks = {.tensorflow = "OperatorNotAllowedInGraphError: Using a symbolic "
                                       "tf.Tensor as a Python bool is not allowed (the keras-io "
                                       "NER example's Softmax.call); fix with tf.where",
                         .jax = "TracerBoolConversionError under jax.jit; fix with jnp.where",
                         .pytorch = "torch.jit.trace warns (TracerWarning: Converting a tensor "
                                    "to a Python boolean might cause the trace to be incorrect) "
                                    "and bakes the branch; torch.compile breaks the graph at the "
                                    "if; fix with torch.where"})

DUET_CASE(tensor_bool_fixed, TENSOR_BOOL_COMMON, .name = "tensor-bool-fixed",
          .summary = "the masked softmax always selects with duet_where: one trace, every policy",
          .fixes = "tensor-bool", .body = tensor_bool_fixed_body,
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_OK, .max_traces = 1},
                     [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_OK, .max_traces = 1},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_OK, .max_traces = 1}})
