/* The keras-io Transformer NER model: TokenAndPositionEmbedding -> TransformerBlock
 * -> Dropout -> Dense(64, relu) -> Dropout -> Dense(num_tags); masked sparse
 * cross-entropy; Adam. One train step and one predict function, each a duet_fn body
 * that runs eagerly or traced from the same code. */
#ifndef DUET_NER_MODEL_H
#define DUET_NER_MODEL_H

#include "duet/duet.h"
#include "duet/nn.h"

typedef struct ner_config {
    int num_tags, vocab, maxlen, embed, heads, ff;
    float dropout, lr;
    uint64_t seed;
    bool buggy_softmax; /* the seed bug: Softmax.call branches on its mask */
} ner_config;

ner_config ner_config_default(void); /* 10 tags, 20000, 128, 32, 4 heads, 64, 0.1, 1e-3 */

typedef struct ner_model {
    ner_config cfg;
    duet_nn nn;
    duet_token_pos_embedding emb;
    duet_transformer_block block;
    duet_dropout_layer drop1, drop2;
    duet_dense ff, ff_final;
    duet_adam *opt;
} ner_model;

int ner_model_init(duet_ctx *ctx, ner_model *m, const ner_config *cfg);
void ner_model_free(ner_model *m);

/* tokens (B, T) i32, key_mask (B, T) bool -> logits (B, T, num_tags). A layer call
 * like the engine's: the macro records the caller's site for the diagnostics' stack. */
duet_tensor *ner_model_forward_at(duet_site s, duet_ctx *ctx, ner_model *m, duet_tensor *tokens,
                                  duet_tensor *key_mask, bool training);
#define ner_model_forward(...) ner_model_forward_at(DUET_HERE, __VA_ARGS__)
/* sum(xent * (labels > 0)) / sum(labels > 0) */
duet_tensor *ner_masked_loss(duet_ctx *ctx, duet_tensor *logits, duet_tensor *labels);

/* Floating-point operations of one step on batch x seq tokens, counted from the model's
 * dimensions: the embedding sum and every matrix product (Q/K/V and output
 * projections, the attention's two batched products, the feed-forward and output
 * layers); with backward, each product three times (forward, input and weight
 * gradients) and the embedding's gradients. Elementwise ops, softmax, layer norm,
 * the loss and Adam are not counted. */
double ner_flops(const ner_config *cfg, int batch, int seq, bool backward);

/* duet_fn bodies (user = ner_model *):
 *   train:   in {tokens, labels} -> out {loss}; forward, loss, gradients, Adam
 *   predict: in {tokens, labels} -> out {logits}; labels only mark the real tokens */
void ner_train_step(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user);
void ner_predict_step(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user);

/* The seed bug, as Softmax.call would be written by someone thinking eagerly:
 * "skip the masking work when nothing is masked" asks the host for a bool. A
 * duet_softmax_impl: s is the attention layer's call site. */
duet_tensor *ner_buggy_softmax(duet_site s, duet_ctx *ctx, duet_tensor *scores, duet_tensor *mask);

#endif
