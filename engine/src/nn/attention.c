/* MultiHeadAttention and the Transformer block of the keras-io NER example. */
#include <math.h>
#include <stdio.h>

#include "duet/nn.h"
#include "duet/ops.h"

int duet_mha_init(duet_nn *nn, duet_mha *m, const char *prefix, int dim, int heads, int key_dim)
{
    char p[192];
    snprintf(p, sizeof p, "%s%smulti_head_attention", prefix, prefix[0] ? "/" : "");
    m->dim = dim, m->heads = heads, m->key_dim = key_dim;
    m->softmax = duet_softmax_layer_call_at;
    int hk = heads * key_dim;
    /* Keras keeps these as EinsumDense kernels (dim, heads, key_dim) and
     * (heads, key_dim, dim); Glorot's fans come from those shapes. */
    int qkv_fan_in = heads * dim, qkv_fan_out = key_dim * dim;
    int out_fan = key_dim * heads;
    if (duet_dense_init(nn, &m->query, p, "query", dim, hk, DUET_ACT_NONE, qkv_fan_in, qkv_fan_out) ||
        duet_dense_init(nn, &m->key, p, "key", dim, hk, DUET_ACT_NONE, qkv_fan_in, qkv_fan_out) ||
        duet_dense_init(nn, &m->value, p, "value", dim, hk, DUET_ACT_NONE, qkv_fan_in, qkv_fan_out))
        return -1;
    return duet_dense_init(nn, &m->out, p, "attention_output", hk, dim, DUET_ACT_NONE, out_fan,
                           out_fan);
}

/* (B, T, heads*key_dim) -> (B, heads, T, key_dim) */
static duet_tensor *split_heads(duet_ctx *ctx, const duet_mha *m, duet_tensor *x)
{
    int64_t dims[4] = {x->shape[0], x->shape[1], m->heads, m->key_dim};
    return duet_transpose(ctx, duet_reshape(ctx, x, 4, dims), (int[]){0, 2, 1, 3});
}

duet_tensor *duet_mha_call_at(duet_site s, duet_ctx *ctx, duet_mha *m, duet_tensor *x,
                              duet_tensor *key_mask)
{
    duet_scope_push_layer_at(s, ctx, "multi_head_attention", "MultiHeadAttention");
    duet_scope_arg(ctx, "inputs", x);
    duet_scope_arg(ctx, "key_mask", key_mask);
    duet_tensor *q = split_heads(ctx, m, duet_dense_call(ctx, &m->query, x));
    duet_tensor *k = split_heads(ctx, m, duet_dense_call(ctx, &m->key, x));
    duet_tensor *v = split_heads(ctx, m, duet_dense_call(ctx, &m->value, x));
    q = duet_mul(ctx, q, duet_scalar(ctx, 1.0f / sqrtf((float)m->key_dim)));
    duet_tensor *scores = duet_matmul(ctx, q, k, false, true); /* (B, heads, T, T) */
    duet_tensor *mask = NULL;
    if (key_mask) { /* (B, T) -> (B, heads, T, T): query i may attend key j if j is real */
        int64_t b = key_mask->shape[0], t = key_mask->shape[1];
        mask = duet_reshape(ctx, key_mask, 4, (int64_t[]){b, 1, 1, t});
        mask = duet_broadcast_to(ctx, mask, 4, scores->shape);
    }
    duet_tensor *probs = m->softmax(DUET_HERE, ctx, scores, mask);
    duet_tensor *o = duet_transpose(ctx, duet_matmul(ctx, probs, v, false, false), (int[]){0, 2, 1, 3});
    o = duet_reshape(ctx, o, 3, (int64_t[]){x->shape[0], x->shape[1], m->heads * m->key_dim});
    duet_tensor *y = duet_dense_call(ctx, &m->out, o);
    duet_scope_pop(ctx);
    return y;
}

int duet_transformer_block_init(duet_nn *nn, duet_transformer_block *b, const char *prefix,
                                int dim, int heads, int ff_dim, float rate)
{
    char p[192];
    snprintf(p, sizeof p, "%s%stransformer_block", prefix, prefix[0] ? "/" : "");
    duet_dropout_layer_init(nn, &b->drop1, "dropout_1", rate);
    duet_dropout_layer_init(nn, &b->drop2, "dropout_2", rate);
    if (duet_mha_init(nn, &b->att, p, dim, heads, dim) ||
        duet_dense_init(nn, &b->ffn1, p, "ffn_dense_1", dim, ff_dim, DUET_ACT_RELU, 0, 0) ||
        duet_dense_init(nn, &b->ffn2, p, "ffn_dense_2", ff_dim, dim, DUET_ACT_NONE, 0, 0) ||
        duet_layernorm_init(nn, &b->ln1, p, "layer_normalization_1", dim, 1e-6f))
        return -1;
    return duet_layernorm_init(nn, &b->ln2, p, "layer_normalization_2", dim, 1e-6f);
}

/* attention -> dropout -> residual + LayerNorm -> FFN -> dropout -> residual + LayerNorm */
duet_tensor *duet_transformer_block_call_at(duet_site s, duet_ctx *ctx, duet_nn *nn,
                                            duet_transformer_block *b, duet_tensor *x,
                                            duet_tensor *key_mask, bool training)
{
    duet_scope_push_layer_at(s, ctx, "transformer_block", "TransformerBlock");
    duet_scope_arg(ctx, "inputs", x);
    duet_scope_arg(ctx, "key_mask", key_mask);
    duet_tensor *att = duet_mha_call(ctx, &b->att, x, key_mask);
    att = duet_dropout_layer_call(ctx, nn, &b->drop1, att, training);
    duet_tensor *out1 = duet_layernorm_call(ctx, &b->ln1, duet_add(ctx, x, att));
    duet_tensor *ffn = duet_dense_call(ctx, &b->ffn2, duet_dense_call(ctx, &b->ffn1, out1));
    ffn = duet_dropout_layer_call(ctx, nn, &b->drop2, ffn, training);
    duet_tensor *y = duet_layernorm_call(ctx, &b->ln2, duet_add(ctx, out1, ffn));
    duet_scope_pop(ctx);
    return y;
}
