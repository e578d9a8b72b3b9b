#include "mlp.h"

#include <math.h>
#include <stdlib.h>

/* xorshift-based uniform in [lo, hi): the data and the initial weights are seeded */
static float uniform(uint32_t *s, float lo, float hi)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return lo + (hi - lo) * (float)(*s >> 8) / (float)(1u << 24);
}

/* Glorot-uniform, as Keras initialises Dense kernels. */
static void glorot(duet_var *v, int fan_in, int fan_out, uint32_t *s)
{
    float lim = sqrtf(6.0f / (float)(fan_in + fan_out));
    float *w = duet_var_f32(v);
    for (int i = 0; i < fan_in * fan_out; i++) w[i] = uniform(s, -lim, lim);
}

int mlp_init(duet_ctx *ctx, mlp *m, int in, int hidden, int classes, unsigned seed)
{
    m->in = in, m->hidden = hidden, m->classes = classes;
    m->w1 = duet_var_new(ctx, "dense_1/kernel", DUET_F32, 2, (int64_t[]){in, hidden});
    m->b1 = duet_var_new(ctx, "dense_1/bias", DUET_F32, 1, (int64_t[]){hidden});
    m->w2 = duet_var_new(ctx, "dense_2/kernel", DUET_F32, 2, (int64_t[]){hidden, classes});
    m->b2 = duet_var_new(ctx, "dense_2/bias", DUET_F32, 1, (int64_t[]){classes});
    if (duet_ctx_status(ctx)) return -1;
    uint32_t s = seed * 2654435761u + 1;
    glorot(m->w1, in, hidden, &s);
    glorot(m->w2, hidden, classes, &s);
    duet_var *vars[4] = {m->w1, m->b1, m->w2, m->b2};
    m->opt = duet_adam_new(ctx, vars, 4, duet_adam_defaults());
    return m->opt ? 0 : -1;
}

void mlp_free(mlp *m) { duet_adam_free(m->opt); }

void mlp_train_step(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    mlp *m = user;
    duet_scope_push(ctx, "mlp");
    duet_scope_push_layer(ctx, "dense_1", "Dense");
    duet_tensor *h = duet_matmul(ctx, in[0], duet_var_read(ctx, m->w1), false, false);
    h = duet_relu(ctx, duet_add(ctx, h, duet_var_read(ctx, m->b1)));
    duet_scope_pop(ctx);
    duet_scope_push_layer(ctx, "dense_2", "Dense");
    duet_tensor *logits = duet_matmul(ctx, h, duet_var_read(ctx, m->w2), false, false);
    logits = duet_add(ctx, logits, duet_var_read(ctx, m->b2));
    duet_scope_pop(ctx);
    duet_tensor *loss = duet_mean(ctx, duet_sparse_xent(ctx, logits, in[1]), 0, false);
    duet_scope_pop(ctx);
    duet_var *vars[4] = {m->w1, m->b1, m->w2, m->b2};
    duet_tensor *g[4];
    duet_grad(ctx, loss, vars, 4, g);
    duet_adam_apply(ctx, m->opt, g);
    out[0] = loss;
}

void mlp_batch(duet_ctx *ctx, const mlp *m, int n, unsigned seed, duet_tensor **x,
               duet_tensor **y)
{
    float *xs = malloc(sizeof(float) * (size_t)(n * m->in));
    int32_t *ys = malloc(sizeof(int32_t) * (size_t)n);
    uint32_t s = seed * 747796405u + 2891336453u;
    for (int i = 0; i < n && xs && ys; i++) {
        float sum = 0;
        for (int j = 0; j < m->in; j++) sum += (xs[i * m->in + j] = uniform(&s, -1, 1));
        float wave = sinf(3.0f * xs[i * m->in]);
        ys[i] = (int32_t)((sum * 0.5f + wave > 0) + (m->classes > 2 && fabsf(wave) > 0.8f));
        if (ys[i] >= m->classes) ys[i] = m->classes - 1;
    }
    if (!xs || !ys) {
        duet_ctx_fail(ctx, DUET_ERR_OOM, "mlp_batch: out of memory");
        *x = *y = NULL;
    } else {
        *x = duet_constant(ctx, DUET_F32, 2, (int64_t[]){n, m->in}, xs);
        *y = duet_constant(ctx, DUET_I32, 1, (int64_t[]){n}, ys);
    }
    free(xs);
    free(ys);
}
