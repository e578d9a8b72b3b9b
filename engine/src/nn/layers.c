/* Keras-like layers: Dense, Embedding, TokenAndPositionEmbedding, LayerNormalization,
 * Dropout, Softmax. Each is an init (variables, Keras initialisers) and a call
 * (ops inside the layer's scope), side by side. */
#include <math.h>
#include <string.h>
#include <stdio.h>

#include "duet/nn.h"
#include "duet/ops.h"

/* ---- shared: parameter registry and seeded initialisers ---- */

void duet_nn_init(duet_nn *nn, duet_ctx *ctx, uint64_t seed)
{
    memset(nn, 0, sizeof *nn);
    nn->ctx = ctx;
    nn->init_state = seed;
    nn->dropout_seed = seed ^ 0x5eedf00dULL;
    nn->rng_step = duet_var_new(ctx, "rng/step", DUET_I32, 0, NULL);
}

void duet_nn_advance(duet_ctx *ctx, duet_nn *nn)
{
    duet_tensor *step = duet_var_read(ctx, nn->rng_step);
    duet_assign(ctx, nn->rng_step, duet_add(ctx, step, duet_scalar_i32(ctx, 1)));
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void fill_uniform(duet_nn *nn, duet_var *v, float lo, float hi)
{
    float *w = duet_var_f32(v);
    int64_t n = duet_numel(duet_var_value(v));
    for (int64_t i = 0; i < n; i++)
        w[i] = lo + (hi - lo) * (float)(splitmix64(&nn->init_state) >> 40) / (float)(1 << 24);
}

static void fill_const(duet_var *v, float c)
{
    float *w = duet_var_f32(v);
    for (int64_t i = 0; i < duet_numel(duet_var_value(v)); i++) w[i] = c;
}

/* Creates "prefix/name/what" and registers it as trainable. */
static duet_var *param(duet_nn *nn, const char *prefix, const char *name, const char *what,
                       int rank, const int64_t *shape)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s%s/%s", prefix, prefix[0] ? "/" : "", name, what);
    if (nn->nparams == DUET_NN_MAX_PARAMS) {
        duet_ctx_fail(nn->ctx, DUET_ERR_ARG, "too many parameters (max %d) at %s",
                      DUET_NN_MAX_PARAMS, full);
        return NULL;
    }
    duet_var *v = duet_var_new(nn->ctx, full, DUET_F32, rank, shape);
    if (v) nn->params[nn->nparams++] = v;
    return v;
}

/* ---- Dense ---- */

int duet_dense_init(duet_nn *nn, duet_dense *d, const char *prefix, const char *name, int in,
                    int out, duet_activation act, int fan_in, int fan_out)
{
    d->name = name;
    d->act = act;
    d->kernel = param(nn, prefix, name, "kernel", 2, (int64_t[]){in, out});
    d->bias = param(nn, prefix, name, "bias", 1, (int64_t[]){out});
    if (!d->kernel || !d->bias) return -1;
    if (!fan_in) fan_in = in, fan_out = out;
    float lim = sqrtf(6.0f / (float)(fan_in + fan_out)); /* Glorot uniform */
    fill_uniform(nn, d->kernel, -lim, lim);
    return 0;
}

duet_tensor *duet_dense_call_at(duet_site s, duet_ctx *ctx, duet_dense *d, duet_tensor *x)
{
    duet_scope_push_layer_at(s, ctx, d->name, "Dense");
    duet_scope_arg(ctx, "inputs", x);
    duet_tensor *y = duet_matmul(ctx, x, duet_var_read(ctx, d->kernel), false, false);
    y = duet_add(ctx, y, duet_var_read(ctx, d->bias));
    if (d->act == DUET_ACT_RELU) y = duet_relu(ctx, y);
    if (d->act == DUET_ACT_SOFTMAX) y = duet_softmax(ctx, y, -1, NULL);
    duet_scope_pop(ctx);
    return y;
}

/* ---- Embedding ---- */

int duet_embedding_init(duet_nn *nn, duet_embedding *e, const char *prefix, const char *name,
                        int vocab, int dim)
{
    e->name = name;
    e->table = param(nn, prefix, name, "embeddings", 2, (int64_t[]){vocab, dim});
    if (!e->table) return -1;
    fill_uniform(nn, e->table, -0.05f, 0.05f);
    return 0;
}

duet_tensor *duet_embedding_call_at(duet_site s, duet_ctx *ctx, duet_embedding *e,
                                    duet_tensor *ids)
{
    duet_scope_push_layer_at(s, ctx, e->name, "Embedding");
    duet_scope_arg(ctx, "inputs", ids);
    duet_tensor *y = duet_gather(ctx, duet_var_read(ctx, e->table), ids);
    duet_scope_pop(ctx);
    return y;
}

int duet_token_pos_embedding_init(duet_nn *nn, duet_token_pos_embedding *e, const char *prefix,
                                  int maxlen, int vocab, int dim)
{
    char p[192];
    snprintf(p, sizeof p, "%s%stoken_and_position_embedding", prefix, prefix[0] ? "/" : "");
    e->maxlen = maxlen;
    if (duet_embedding_init(nn, &e->token, p, "token_emb", vocab, dim)) return -1;
    return duet_embedding_init(nn, &e->pos, p, "pos_emb", maxlen, dim);
}

duet_tensor *duet_token_pos_embedding_call_at(duet_site s, duet_ctx *ctx,
                                              duet_token_pos_embedding *e, duet_tensor *ids)
{
    duet_scope_push_layer_at(s, ctx, "token_and_position_embedding", "TokenAndPositionEmbedding");
    duet_scope_arg(ctx, "inputs", ids);
    /* the sequence length may be a symbol: arange takes it as is */
    duet_tensor *positions = duet_arange(ctx, ids->shape[ids->rank - 1]);
    duet_tensor *y = duet_add(ctx, duet_embedding_call(ctx, &e->token, ids),
                              duet_embedding_call(ctx, &e->pos, positions));
    duet_scope_pop(ctx);
    return y;
}

/* ---- LayerNormalization ---- */

int duet_layernorm_init(duet_nn *nn, duet_layernorm *l, const char *prefix, const char *name,
                        int dim, float eps)
{
    l->name = name;
    l->eps = eps;
    l->gamma = param(nn, prefix, name, "gamma", 1, (int64_t[]){dim});
    l->beta = param(nn, prefix, name, "beta", 1, (int64_t[]){dim});
    if (!l->gamma || !l->beta) return -1;
    fill_const(l->gamma, 1.0f);
    return 0;
}

duet_tensor *duet_layernorm_call_at(duet_site s, duet_ctx *ctx, duet_layernorm *l,
                                    duet_tensor *x)
{
    duet_scope_push_layer_at(s, ctx, l->name, "LayerNormalization");
    duet_scope_arg(ctx, "inputs", x);
    duet_tensor *y = duet_layer_norm(ctx, x, duet_var_read(ctx, l->gamma),
                                     duet_var_read(ctx, l->beta), l->eps);
    duet_scope_pop(ctx);
    return y;
}

/* ---- Dropout: counter-based, so eager and graph draw identical masks ---- */

void duet_dropout_layer_init(duet_nn *nn, duet_dropout_layer *d, const char *name, float rate)
{
    d->name = name;
    d->rate = rate;
    d->stream = nn->next_stream++;
}

duet_tensor *duet_dropout_layer_call_at(duet_site s, duet_ctx *ctx, duet_nn *nn,
                                        duet_dropout_layer *d, duet_tensor *x, bool training)
{
    if (!training || d->rate == 0.0f) return x;
    duet_scope_push_layer_at(s, ctx, d->name, "Dropout");
    duet_scope_arg(ctx, "inputs", x);
    duet_tensor *y = duet_dropout(ctx, x, d->rate, nn->dropout_seed,
                                  duet_var_read(ctx, nn->rng_step), d->stream);
    duet_scope_pop(ctx);
    return y;
}

/* ---- Softmax (Keras semantics for the mask, via duet_softmax) ---- */

duet_tensor *duet_softmax_layer_call_at(duet_site s, duet_ctx *ctx, duet_tensor *scores,
                                        duet_tensor *mask)
{
    duet_scope_push_layer_at(s, ctx, "softmax", "Softmax");
    duet_scope_arg(ctx, "inputs", scores);
    duet_scope_arg(ctx, "mask", mask);
    duet_tensor *y = duet_softmax(ctx, scores, -1, mask);
    duet_scope_pop(ctx);
    return y;
}
