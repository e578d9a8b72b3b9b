/* The NER training step as harness cases: the keras-io model, its seed bug (a
 * Softmax that branches on its mask) and the escape hatch (every function run
 * eagerly), on batches of the built-in synthetic corpus. */
#include <stdlib.h>
#include <string.h>

#include "duet/case.h"
#include "ner/data.h"
#include "ner/model.h"
#include "ner/synth.h"
#include "ner/train.h"

typedef struct ner_case_state {
    ner_model model;
    ner_batches batches;
} ner_case_state;

/* A small corpus batched 16 sentences at a time: batches pad to their own length,
 * so the step sees many shapes. */
static void *ner_state(duet_ctx *ctx, uint64_t seed, bool buggy, bool eagerly)
{
    ner_case_state *s = calloc(1, sizeof *s);
    ner_corpus c;
    ner_vocab v;
    ner_corpus_init(&c);
    memset(&v, 0, sizeof v);
    ner_config cfg = ner_config_default();
    cfg.buggy_softmax = buggy;
    cfg.seed = seed;
    int rc = !s || ner_synth_generate(&c, 160, seed) || ner_vocab_build(&v, &c, NER_VOCAB_SIZE) ||
             ner_batches_make(&s->batches, &c, &v,
                              &(ner_batch_opts){.batch_size = 16, .maxlen = NER_MAXLEN}) ||
             ner_model_init(ctx, &s->model, &cfg);
    ner_vocab_free(&v);
    ner_corpus_free(&c);
    if (rc) {
        if (s) ner_batches_free(&s->batches);
        free(s);
        duet_ctx_fail(ctx, DUET_ERR_OOM, "ner case: cannot build the corpus or the model");
        return NULL;
    }
    duet_ctx_run_functions_eagerly(ctx, eagerly);
    return s;
}

static void *ner_setup(duet_ctx *ctx, uint64_t seed) { return ner_state(ctx, seed, false, false); }
static void *ner_buggy_setup(duet_ctx *ctx, uint64_t seed) { return ner_state(ctx, seed, true, false); }
static void *ner_eagerly_setup(duet_ctx *ctx, uint64_t seed) { return ner_state(ctx, seed, true, true); }

static void ner_teardown(void *state)
{
    ner_case_state *s = state;
    if (!s) return;
    ner_model_free(&s->model);
    ner_batches_free(&s->batches);
    free(s);
}

static void ner_case_step(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *state)
{
    ner_train_step(ctx, in, out, &((ner_case_state *)state)->model);
}

static void ner_inputs(duet_ctx *ctx, void *state, int step, uint64_t seed, duet_tensor **in)
{
    (void)seed;
    const ner_case_state *s = state;
    const ner_batch *b = ner_batches_get(&s->batches, step % s->batches.n_batches);
    int64_t shape[2] = {b->rows, b->T};
    in[0] = duet_constant(ctx, DUET_I32, 2, shape, b->tokens);
    in[1] = duet_constant(ctx, DUET_I32, 2, shape, b->tags);
}

/* `duet bench`: exactly batch x seq tokens with the last quarter of each row padding,
 * as the PyTorch peer (torch_ner_step.py) draws them, so both time the same work. */
static void ner_bench_inputs(duet_ctx *ctx, void *state, int batch, int seq, uint64_t seed,
                             duet_tensor **in)
{
    const ner_config *cfg = &((ner_case_state *)state)->model.cfg;
    int64_t n = (int64_t)batch * seq, shape[2] = {batch, seq};
    int32_t *tokens = malloc(sizeof *tokens * (size_t)(2 * n)), *tags = tokens + n;
    if (!tokens) duet_ctx_fail(ctx, DUET_ERR_OOM, "ner bench: out of memory for the inputs");
    for (int64_t i = 0; tokens && i < n; i++) {
        bool pad = i % seq >= seq * 3 / 4;
        tokens[i] = pad ? 0 : 1 + (int32_t)(ner_splitmix64(&seed) % (uint64_t)(cfg->vocab - 1));
        tags[i] = pad ? 0 : 1 + (int32_t)(ner_splitmix64(&seed) % (uint64_t)(cfg->num_tags - 1));
    }
    in[0] = duet_constant(ctx, DUET_I32, 2, shape, tokens); /* copies; poisoned after a failure */
    in[1] = duet_constant(ctx, DUET_I32, 2, shape, tags);
    free(tokens);
}

static double ner_bench_flops(const void *state, int batch, int seq, bool infer)
{
    return ner_flops(&((const ner_case_state *)state)->model.cfg, batch, seq, !infer);
}

static void ner_case_predict(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *state)
{
    ner_predict_step(ctx, in, out, &((ner_case_state *)state)->model);
}

static const duet_case_bench ner_bench = {
    .max_seq = NER_MAXLEN,
    .inputs = ner_bench_inputs,
    .flops = ner_bench_flops,
    .flops_counted = "matrix products and the embedding sum, x3 with backward; elementwise ops, "
                     "softmax, layer norm, loss and Adam not counted",
    .infer = ner_case_predict,
};

#define NER_CASE_COMMON                                                                   \
    .category = "ner", .nin = 2, .nout = 1, .relax = "(B,T) (B,T)", .steps = 12,         \
    .body = ner_case_step, .inputs = ner_inputs, .teardown = ner_teardown,               \
    .train_cli = ner_train_cli, .bench = &ner_bench

DUET_CASE(ner_case, NER_CASE_COMMON, .name = "ner",
          .summary = "the keras-io Transformer NER training step (the seed bug's fixed twin)",
          .fixes = "ner-buggy-softmax", .setup = ner_setup)

/* The baked branch ("something is masked") is right for every padded batch, so
 * specialize gives eager's numbers: the silent wrong answer needs a batch with no
 * padding (the tensor-bool case has one). */
DUET_CASE(ner_buggy_case, NER_CASE_COMMON, .name = "ner-buggy-softmax",
          .summary = "the seed bug: Softmax.call branches on its mask with DUET_BOOL",
          .twin = "ner", .setup = ner_buggy_setup,
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_TRACE_ERROR},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_OK, .max_traces = 2}},
          .why = "Keras' Softmax.call asks the host whether anything is masked, to skip the "
                 "masking when nothing is. Traced, the any() is a symbolic bool (): strict stops "
                 "there, the OperatorNotAllowedInGraphError of the keras-io example. Under "
                 "specialize the first batch has padding, so the graph bakes \"mask\", and that is "
                 "right for every batch: masking where nothing is masked changes nothing. "
                 "specialize gives eager's numbers here; `duet explain tensor-bool` shows the "
                 "same bug where the baked branch is wrong.",
          .fix_why = "The library's Softmax layer always applies the mask (duet_softmax with the "
                     "mask, a select inside): no host read, one trace for every batch, losses "
                     "bit-identical to eager's.",
          .frameworks = {.tensorflow = "OperatorNotAllowedInGraphError: Using a symbolic "
                                       "tf.Tensor as a Python bool is not allowed, raised in "
                                       "Softmax.call while fitting the keras-io Transformer NER "
                                       "example",
                         .jax = "TracerBoolConversionError when the same layer runs under "
                                "jax.jit (Keras 3 on JAX); fix with jnp.where",
                         .pytorch = "torch.compile breaks the graph at the if; torch.jit.trace "
                                    "bakes the branch with a TracerWarning; fix with torch.where"})

DUET_CASE(ner_eagerly_case, NER_CASE_COMMON, .name = "ner-run-eagerly",
          .summary = "the escape hatch: the seed bug with every function run eagerly (and its cost)",
          .twin = "ner", .setup = ner_eagerly_setup,
          .why = "The seed bug's step with every function run eagerly "
                 "(duet_ctx_run_functions_eagerly): nothing is traced, so the host read always "
                 "has its value and every policy is ok. The price is the graph's speed.",
          .fix_why = "Fix the code (the library's Softmax always masks) and let the step run as "
                     "a graph again.",
          .frameworks = {.tensorflow = "tf.config.run_functions_eagerly(True)",
                         .jax = "jax.disable_jit()",
                         .pytorch = "leaving the model uncompiled (no torch.compile)"})
