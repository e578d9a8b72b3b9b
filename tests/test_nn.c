/* Layers: each layer's forward runs in both modes with identical results, and its
 * gradients (parameters and input) match central finite differences. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "duet/nn.h"
#include "testutil.h"

typedef struct layer_case {
    const char *name;
    int (*init)(duet_nn *nn, void *layer);
    duet_tensor *(*call)(duet_ctx *ctx, duet_nn *nn, void *layer, duet_tensor *x);
    bool int_input; /* x holds token ids */
    int64_t shape[3];
} layer_case;

typedef struct harness {
    const layer_case *lc;
    duet_nn nn;
    void *layer;
    duet_var *x;
    duet_var *vars[DUET_NN_MAX_PARAMS + 1];
    int nvars;
    float *w;
} harness;

static duet_tensor *forward(duet_ctx *ctx, harness *h)
{
    duet_tensor *y = h->lc->call(ctx, &h->nn, h->layer, duet_var_read(ctx, h->x));
    duet_tensor *w = duet_constant(ctx, DUET_F32, y->rank, y->shape, h->w);
    return duet_sum(ctx, duet_mul(ctx, y, w), 0, false);
}

static void step_fn(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)in;
    harness *h = user;
    out[0] = forward(ctx, h);
    duet_grad(ctx, out[0], h->vars, h->nvars, out + 1);
}

static void check_layer(const layer_case *lc, size_t layer_size)
{
    duet_ctx *ctx = duet_ctx_new();
    harness h = {.lc = lc, .layer = calloc(1, layer_size)};
    duet_nn_init(&h.nn, ctx, 1234);
    assert_int_equal(lc->init(&h.nn, h.layer), 0);
    h.x = duet_var_new(ctx, "x", lc->int_input ? DUET_I32 : DUET_F32, 3, lc->shape);
    int64_t nx = lc->shape[0] * lc->shape[1] * lc->shape[2];
    if (lc->int_input) {
        int32_t *ids = (int32_t *)duet_var_value(h.x)->data;
        for (int64_t i = 0; i < nx; i++) ids[i] = (int32_t)((i * 7 + 3) % 11);
    } else {
        tu_fill(duet_var_f32(h.x), (int)nx, 5, -1.5f, 1.5f);
    }
    for (int i = 0; i < h.nn.nparams; i++) h.vars[h.nvars++] = h.nn.params[i];
    if (!lc->int_input) h.vars[h.nvars++] = h.x;
    h.w = malloc(sizeof(float) * 4096);
    tu_fill(h.w, 4096, 9, -1, 1);

    /* eager: loss and gradients */
    duet_tensor *outs[DUET_NN_MAX_PARAMS + 2];
    step_fn(ctx, NULL, outs, &h);
    assert_int_equal(duet_ctx_status(ctx), DUET_OK);
    int64_t total = 0;
    for (int v = 0; v < h.nvars; v++) total += duet_numel(outs[1 + v]);
    float *ge = malloc(sizeof(float) * (size_t)(total + 1));
    float le = duet_get_f32(outs[0], 0);
    for (int v = 0, k = 0; v < h.nvars; v++)
        for (int64_t i = 0; i < duet_numel(outs[1 + v]); i++) ge[k++] = duet_get_f32(outs[1 + v], i);
    duet_ctx_reset(ctx);

    /* graph: the same step traced must agree bit for bit */
    duet_fn *fn = duet_fn_new(ctx, lc->name, step_fn, 0, 1 + h.nvars, &h);
    assert_int_equal(duet_fn_call(fn, NULL, outs), 0);
    if (duet_get_f32(outs[0], 0) != le) fail_msg("%s: graph loss %.9g, eager %.9g", lc->name, duet_get_f32(outs[0], 0), le);
    for (int v = 0, k = 0; v < h.nvars; v++)
        for (int64_t i = 0; i < duet_numel(outs[1 + v]); i++, k++)
            if (duet_get_f32(outs[1 + v], i) != ge[k])
                fail_msg("%s: graph gradient of %s[%lld] differs", lc->name,
                         duet_var_name(h.vars[v]), (long long)i);
    duet_fn_free(fn);
    duet_ctx_reset(ctx);

    /* finite differences on a sample of each variable's elements */
    for (int v = 0, k0 = 0; v < h.nvars; v++) {
        float *p = duet_var_f32(h.vars[v]);
        int64_t n = duet_numel(duet_var_value(h.vars[v]));
        for (int64_t i = 0; i < n; i += n / 5 + 1) {
            float x0 = p[i];
            const double eps = 1e-2;
            p[i] = (float)(x0 + eps);
            double lp = duet_get_f32(forward(ctx, &h), 0);
            duet_ctx_reset(ctx);
            p[i] = (float)(x0 - eps);
            double lm = duet_get_f32(forward(ctx, &h), 0);
            duet_ctx_reset(ctx);
            p[i] = x0;
            double num = (lp - lm) / (2 * eps), ana = ge[k0 + i];
            if (fabs(num - ana) > 2e-2 + 3e-2 * fabs(num))
                fail_msg("%s: d/d %s[%lld]: analytic %.6g, numeric %.6g", lc->name,
                         duet_var_name(h.vars[v]), (long long)i, ana, num);
        }
        k0 += (int)n;
    }
    free(ge);
    free(h.w);
    free(h.layer);
    duet_ctx_free(ctx);
}

/* ---- the layers ---- */

static int dense_init(duet_nn *nn, void *l) { return duet_dense_init(nn, l, "m", "dense", 4, 5, DUET_ACT_RELU, 0, 0); }
static duet_tensor *dense_call(duet_ctx *c, duet_nn *nn, void *l, duet_tensor *x) { (void)nn; return duet_dense_call(c, l, x); }

static int emb_init(duet_nn *nn, void *l) { return duet_embedding_init(nn, l, "m", "emb", 11, 4); }
static duet_tensor *emb_call(duet_ctx *c, duet_nn *nn, void *l, duet_tensor *x) { (void)nn; return duet_embedding_call(c, l, x); }

static int tpe_init(duet_nn *nn, void *l) { return duet_token_pos_embedding_init(nn, l, "m", 8, 11, 4); }
static duet_tensor *tpe_call(duet_ctx *c, duet_nn *nn, void *l, duet_tensor *x)
{
    (void)nn;
    duet_tensor *ids = duet_reshape(c, x, 2, (int64_t[]){x->shape[0], x->shape[1] * x->shape[2]});
    return duet_token_pos_embedding_call(c, l, ids);
}

static int ln_init(duet_nn *nn, void *l) { return duet_layernorm_init(nn, l, "m", "ln", 4, 1e-6f); }
static duet_tensor *ln_call(duet_ctx *c, duet_nn *nn, void *l, duet_tensor *x) { (void)nn; return duet_layernorm_call(c, l, x); }

static int drop_init(duet_nn *nn, void *l) { duet_dropout_layer_init(nn, l, "drop", 0.3f); return 0; }
static duet_tensor *drop_call(duet_ctx *c, duet_nn *nn, void *l, duet_tensor *x) { return duet_dropout_layer_call(c, nn, l, x, true); }

static int none_init(duet_nn *nn, void *l) { (void)nn, (void)l; return 0; }
static duet_tensor *softmax_call(duet_ctx *c, duet_nn *nn, void *l, duet_tensor *x)
{
    (void)nn, (void)l;
    duet_tensor *mask = duet_greater(c, duet_arange(c, x->shape[2]), duet_scalar_i32(c, 0));
    return duet_softmax_layer_call(c, x, mask);
}

static duet_tensor *key_mask(duet_ctx *c, duet_tensor *x)
{
    duet_tensor *t = duet_arange(c, x->shape[1]);
    duet_tensor *m = duet_greater(c, duet_scalar_i32(c, 3), t); /* the last position is padding */
    return duet_broadcast_to(c, duet_reshape(c, m, 2, (int64_t[]){1, x->shape[1]}), 2,
                             (int64_t[]){x->shape[0], x->shape[1]});
}

static int mha_init(duet_nn *nn, void *l) { return duet_mha_init(nn, l, "m", 4, 2, 3); }
static duet_tensor *mha_call(duet_ctx *c, duet_nn *nn, void *l, duet_tensor *x) { (void)nn; return duet_mha_call(c, l, x, key_mask(c, x)); }

static int block_init(duet_nn *nn, void *l) { return duet_transformer_block_init(nn, l, "m", 4, 2, 6, 0.1f); }
static duet_tensor *block_call(duet_ctx *c, duet_nn *nn, void *l, duet_tensor *x)
{
    return duet_transformer_block_call(c, nn, l, x, key_mask(c, x), true);
}

#define LAYER_TEST(fn, lc, type)                                                            \
    static void fn(void **state)                                                            \
    {                                                                                       \
        (void)state;                                                                        \
        static const layer_case c = lc;                                                     \
        check_layer(&c, sizeof(type));                                                      \
    }
LAYER_TEST(test_dense, ((layer_case){"dense", dense_init, dense_call, false, {2, 3, 4}}), duet_dense)
LAYER_TEST(test_embedding, ((layer_case){"embedding", emb_init, emb_call, true, {2, 3, 1}}), duet_embedding)
LAYER_TEST(test_token_pos_embedding, ((layer_case){"tpe", tpe_init, tpe_call, true, {2, 3, 2}}), duet_token_pos_embedding)
LAYER_TEST(test_layernorm, ((layer_case){"layernorm", ln_init, ln_call, false, {2, 3, 4}}), duet_layernorm)
LAYER_TEST(test_dropout, ((layer_case){"dropout", drop_init, drop_call, false, {2, 3, 4}}), duet_dropout_layer)
LAYER_TEST(test_softmax_layer, ((layer_case){"softmax", none_init, softmax_call, false, {2, 3, 4}}), int)
LAYER_TEST(test_mha, ((layer_case){"mha", mha_init, mha_call, false, {2, 4, 4}}), duet_mha)
LAYER_TEST(test_transformer_block, ((layer_case){"block", block_init, block_call, false, {2, 4, 4}}), duet_transformer_block)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense),      cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_token_pos_embedding), cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_dropout),    cmocka_unit_test(test_softmax_layer),
        cmocka_unit_test(test_mha),        cmocka_unit_test(test_transformer_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
