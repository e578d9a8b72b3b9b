/* Keras-like layers built from ops. Each layer's call pushes its scope (name, class,
 * the caller's site and the tensor arguments), so diagnostics read "ner_model/
 * transformer_block/multi_head_attention/softmax", "Exception encountered when
 * calling Softmax.call", list the arguments Softmax.call received and give the stack
 * of layer calls from the model's line down. Like ops, each duet_*_call is a macro
 * recording the caller's file:line for duet_*_call_at. Initialisers are
 * Keras's (Glorot-uniform kernels, zero biases, uniform(-0.05, 0.05) embeddings,
 * LayerNorm gamma 1 / beta 0), drawn from a seeded generator. */
#ifndef DUET_NN_H
#define DUET_NN_H

#include "core.h"

#define DUET_NN_MAX_PARAMS 64

/* Where layers register their trainable variables, and the seeded init stream. */
typedef struct duet_nn {
    duet_ctx *ctx;
    duet_var *params[DUET_NN_MAX_PARAMS];
    int nparams;
    uint64_t init_state; /* splitmix64 state for initialisers */
    duet_var *rng_step;  /* i32 dropout counter: advance once per training step */
    uint64_t dropout_seed;
    int next_stream; /* each dropout layer draws from its own stream */
} duet_nn;

void duet_nn_init(duet_nn *nn, duet_ctx *ctx, uint64_t seed);
/* Bumps the dropout counter (an assign, so it traces): call once per training step. */
void duet_nn_advance(duet_ctx *ctx, duet_nn *nn);

typedef enum { DUET_ACT_NONE = 0, DUET_ACT_RELU, DUET_ACT_SOFTMAX } duet_activation;

typedef struct duet_dense {
    const char *name;
    duet_var *kernel, *bias;
    duet_activation act;
} duet_dense;
/* fan_in/fan_out: Keras's fans for the kernel's logical shape (EinsumDense kernels
 * of MultiHeadAttention are 3-D); pass 0, 0 for a plain (in, out) kernel. */
int duet_dense_init(duet_nn *nn, duet_dense *d, const char *prefix, const char *name, int in,
                    int out, duet_activation act, int fan_in, int fan_out);
duet_tensor *duet_dense_call_at(duet_site s, duet_ctx *ctx, duet_dense *d, duet_tensor *x);
#define duet_dense_call(...) duet_dense_call_at(DUET_HERE, __VA_ARGS__)

typedef struct duet_embedding {
    const char *name;
    duet_var *table;
} duet_embedding;
int duet_embedding_init(duet_nn *nn, duet_embedding *e, const char *prefix, const char *name,
                        int vocab, int dim);
duet_tensor *duet_embedding_call_at(duet_site s, duet_ctx *ctx, duet_embedding *e,
                                    duet_tensor *ids);
#define duet_embedding_call(...) duet_embedding_call_at(DUET_HERE, __VA_ARGS__)

/* token_emb(ids) + pos_emb(arange(T)) */
typedef struct duet_token_pos_embedding {
    duet_embedding token, pos;
    int maxlen;
} duet_token_pos_embedding;
int duet_token_pos_embedding_init(duet_nn *nn, duet_token_pos_embedding *e, const char *prefix,
                                  int maxlen, int vocab, int dim);
duet_tensor *duet_token_pos_embedding_call_at(duet_site s, duet_ctx *ctx,
                                              duet_token_pos_embedding *e, duet_tensor *ids);
#define duet_token_pos_embedding_call(...) duet_token_pos_embedding_call_at(DUET_HERE, __VA_ARGS__)

typedef struct duet_layernorm {
    const char *name;
    duet_var *gamma, *beta;
    float eps;
} duet_layernorm;
int duet_layernorm_init(duet_nn *nn, duet_layernorm *l, const char *prefix, const char *name,
                        int dim, float eps);
duet_tensor *duet_layernorm_call_at(duet_site s, duet_ctx *ctx, duet_layernorm *l,
                                    duet_tensor *x);
#define duet_layernorm_call(...) duet_layernorm_call_at(DUET_HERE, __VA_ARGS__)

typedef struct duet_dropout_layer {
    const char *name;
    float rate;
    int stream;
} duet_dropout_layer;
void duet_dropout_layer_init(duet_nn *nn, duet_dropout_layer *d, const char *name, float rate);
/* Identity unless training. */
duet_tensor *duet_dropout_layer_call_at(duet_site s, duet_ctx *ctx, duet_nn *nn,
                                        duet_dropout_layer *d, duet_tensor *x, bool training);
#define duet_dropout_layer_call(...) duet_dropout_layer_call_at(DUET_HERE, __VA_ARGS__)

/* Softmax over the last axis with an optional bool mask, graph-safe (no host branch). */
duet_tensor *duet_softmax_layer_call_at(duet_site s, duet_ctx *ctx, duet_tensor *scores,
                                        duet_tensor *mask);
#define duet_softmax_layer_call(...) duet_softmax_layer_call_at(DUET_HERE, __VA_ARGS__)
/* The softmax an attention layer calls, given the attention layer's call site;
 * swappable so a case can inject a variant. */
typedef duet_tensor *(*duet_softmax_impl)(duet_site s, duet_ctx *ctx, duet_tensor *scores,
                                          duet_tensor *mask);

typedef struct duet_mha {
    int heads, key_dim, dim;
    duet_dense query, key, value, out;
    duet_softmax_impl softmax;
} duet_mha;
int duet_mha_init(duet_nn *nn, duet_mha *m, const char *prefix, int dim, int heads, int key_dim);
/* x (B, T, dim); key_mask (B, T) bool (true = attend) or NULL. */
duet_tensor *duet_mha_call_at(duet_site s, duet_ctx *ctx, duet_mha *m, duet_tensor *x,
                              duet_tensor *key_mask);
#define duet_mha_call(...) duet_mha_call_at(DUET_HERE, __VA_ARGS__)

typedef struct duet_transformer_block {
    duet_mha att;
    duet_dense ffn1, ffn2;
    duet_layernorm ln1, ln2;
    duet_dropout_layer drop1, drop2;
} duet_transformer_block;
int duet_transformer_block_init(duet_nn *nn, duet_transformer_block *b, const char *prefix,
                                int dim, int heads, int ff_dim, float rate);
duet_tensor *duet_transformer_block_call_at(duet_site s, duet_ctx *ctx, duet_nn *nn,
                                            duet_transformer_block *b, duet_tensor *x,
                                            duet_tensor *key_mask, bool training);
#define duet_transformer_block_call(...) duet_transformer_block_call_at(DUET_HERE, __VA_ARGS__)

#endif
