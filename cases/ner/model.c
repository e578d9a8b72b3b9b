/* The keras-io NER model: its layers, loss, train and predict steps (weights: weights.c). */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ner_config ner_config_default(void)
{
    return (ner_config){.num_tags = 10, .vocab = 20000, .maxlen = 128, .embed = 32,
                        .heads = 4, .ff = 64, .dropout = 0.1f, .lr = 1e-3f, .seed = 42};
}

int ner_model_init(duet_ctx *ctx, ner_model *m, const ner_config *cfg)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    duet_nn_init(&m->nn, ctx, cfg->seed);
    const char *p = "ner_model";
    if (duet_token_pos_embedding_init(&m->nn, &m->emb, p, cfg->maxlen, cfg->vocab, cfg->embed) ||
        duet_transformer_block_init(&m->nn, &m->block, p, cfg->embed, cfg->heads, cfg->ff,
                                    cfg->dropout) ||
        duet_dense_init(&m->nn, &m->ff, p, "dense_ff", cfg->embed, cfg->ff, DUET_ACT_RELU, 0, 0) ||
        duet_dense_init(&m->nn, &m->ff_final, p, "dense_final", cfg->ff, cfg->num_tags,
                        DUET_ACT_NONE, 0, 0))
        return -1;
    duet_dropout_layer_init(&m->nn, &m->drop1, "dropout_1", cfg->dropout);
    duet_dropout_layer_init(&m->nn, &m->drop2, "dropout_2", cfg->dropout);
    if (cfg->buggy_softmax) m->block.att.softmax = ner_buggy_softmax;
    duet_adam_config adam = duet_adam_defaults();
    adam.lr = cfg->lr;
    m->opt = duet_adam_new(ctx, m->nn.params, m->nn.nparams, adam);
    return m->opt ? 0 : -1;
}

void ner_model_free(ner_model *m) { duet_adam_free(m->opt); }

duet_tensor *ner_model_forward_at(duet_site s, duet_ctx *ctx, ner_model *m, duet_tensor *tokens,
                                  duet_tensor *key_mask, bool training)
{
    duet_scope_push_layer_at(s, ctx, "ner_model", "NERModel");
    duet_scope_arg(ctx, "inputs", tokens);
    duet_scope_arg(ctx, "key_mask", key_mask);
    duet_tensor *x = duet_token_pos_embedding_call(ctx, &m->emb, tokens);
    x = duet_transformer_block_call(ctx, &m->nn, &m->block, x, key_mask, training);
    x = duet_dropout_layer_call(ctx, &m->nn, &m->drop1, x, training);
    x = duet_dense_call(ctx, &m->ff, x);
    x = duet_dropout_layer_call(ctx, &m->nn, &m->drop2, x, training);
    x = duet_dense_call(ctx, &m->ff_final, x);
    duet_scope_pop(ctx);
    return x;
}

duet_tensor *ner_masked_loss(duet_ctx *ctx, duet_tensor *logits, duet_tensor *labels)
{
    duet_scope_push(ctx, "loss");
    duet_tensor *mask = duet_cast(ctx, duet_greater(ctx, labels, duet_scalar_i32(ctx, 0)), DUET_F32);
    duet_tensor *xent = duet_sparse_xent(ctx, logits, labels);
    duet_tensor *loss = duet_div(ctx, duet_sum(ctx, duet_mul(ctx, xent, mask), 0, false),
                                 duet_sum(ctx, mask, 0, false));
    duet_scope_pop(ctx);
    return loss;
}

void ner_train_step(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    ner_model *m = user;
    duet_tensor *key_mask = duet_greater(ctx, in[1], duet_scalar_i32(ctx, 0));
    duet_tensor *logits = ner_model_forward(ctx, m, in[0], key_mask, true);
    duet_tensor *loss = ner_masked_loss(ctx, logits, in[1]);
    duet_tensor *grads[DUET_NN_MAX_PARAMS];
    duet_grad(ctx, loss, m->nn.params, m->nn.nparams, grads);
    duet_adam_apply(ctx, m->opt, grads);
    duet_nn_advance(ctx, &m->nn);
    out[0] = loss;
}

void ner_predict_step(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    ner_model *m = user;
    duet_tensor *key_mask = duet_greater(ctx, in[1], duet_scalar_i32(ctx, 0));
    out[0] = ner_model_forward(ctx, m, in[0], key_mask, false);
}

duet_tensor *ner_buggy_softmax(duet_site s, duet_ctx *ctx, duet_tensor *scores, duet_tensor *mask)
{
    duet_scope_push_layer_at(s, ctx, "softmax", "Softmax");
    duet_scope_arg(ctx, "inputs", scores);
    duet_scope_arg(ctx, "mask", mask);
    duet_tensor *y;
    if (mask && DUET_BOOL(ctx, duet_any(ctx, duet_logical_not(ctx, mask), 0, false)))
        y = duet_softmax(ctx, scores, -1, mask);
    else
        y = duet_softmax(ctx, scores, -1, NULL);
    duet_scope_pop(ctx);
    return y;
}

double ner_flops(const ner_config *cfg, int batch, int seq, bool backward)
{
    double tokens = (double)batch * seq, d = cfg->embed, hk = (double)cfg->heads * cfg->embed;
    double ff = cfg->ff, tags = cfg->num_tags;
    /* per token: Q, K, V (d -> heads x key_dim, key_dim = d), the output projection back,
     * the block's FFN (d -> ff -> d), dense_ff (d -> ff) and dense_final (ff -> tags) */
    double dense = 2 * tokens * (3 * d * hk + hk * d + d * ff + ff * d + d * ff + ff * tags);
    /* scores Q K^T and the weighted sum A V: (seq x key_dim) by (key_dim x seq) per head */
    double attention = 2 * 2 * (double)batch * cfg->heads * (double)seq * seq * cfg->embed;
    double embedding = tokens * d; /* token + position */
    if (!backward) return dense + attention + embedding;
    /* token gradient scattered, position gradient summed over the batch */
    return 3 * (dense + attention) + 3 * embedding;
}
