/* layer_norm: forward against a double reference, gradients for x, gamma and beta,
 * and shape/dtype errors. */
#include "testutil.h"

#include <math.h>
#include <string.h>

static duet_tensor *body_ln(duet_ctx *c, duet_tensor **x, void *u)
{
    return duet_layer_norm(c, x[0], x[1], x[2], *(float *)u);
}

/* Keras LayerNormalization in double: biased variance over the last axis. */
static void ref_ln(const float *x, const float *g, const float *b, float *y, int rows, int d,
                   double eps)
{
    for (int r = 0; r < rows; r++) {
        double mean = 0, var = 0;
        for (int k = 0; k < d; k++) mean += x[r * d + k];
        mean /= d;
        for (int k = 0; k < d; k++) var += (x[r * d + k] - mean) * (x[r * d + k] - mean);
        var /= d;
        for (int k = 0; k < d; k++)
            y[r * d + k] = (float)((x[r * d + k] - mean) / sqrt(var + eps) * g[k] + b[k]);
    }
}

static void test_layer_norm_forward(void **state)
{
    (void)state;
    float x[15], g[5], b[5], e[15];
    tu_fill(x, 15, 1, -3, 3);
    tu_fill(g, 5, 2, 0.5f, 1.5f);
    tu_fill(b, 5, 3, -1, 1);
    float eps = 1e-3f;
    ref_ln(x, g, b, e, 3, 5, eps);
    tu_input in[3] = {{DUET_F32, 2, {3, 5}, x, false},
                      {DUET_F32, 1, {5}, g, false},
                      {DUET_F32, 1, {5}, b, false}};
    tu_check_forward(body_ln, &eps, in, 3, 2, (int64_t[]){3, 5}, e, 2e-6f);

    /* hand values: x = (1, 2, 3), gamma 1, beta 0, eps 0 -> (-1.2247449, 0, 1.2247449) */
    float x3[3] = {1, 2, 3}, one[3] = {1, 1, 1}, zero[3] = {0, 0, 0};
    float e3[3] = {-1.22474487f, 0, 1.22474487f};
    float eps0 = 0;
    tu_input in3[3] = {{DUET_F32, 1, {3}, x3, false},
                       {DUET_F32, 1, {3}, one, false},
                       {DUET_F32, 1, {3}, zero, false}};
    tu_check_forward(body_ln, &eps0, in3, 3, 1, (int64_t[]){3}, e3, 1e-6f);
}

static void test_layer_norm_rank3_and_offset(void **state)
{
    (void)state;
    /* rows far from zero: the two-pass variance stays accurate */
    float x[16], g[4] = {1, 2, 0.5f, -1}, b[4] = {0, 0.25f, -0.5f, 1}, e[16];
    tu_fill(x, 16, 9, -1, 1);
    for (int i = 0; i < 8; i++) x[i] += 10000.0f;
    float eps = 1e-5f;
    ref_ln(x, g, b, e, 4, 4, eps);
    tu_input in[3] = {{DUET_F32, 3, {2, 2, 4}, x, false},
                      {DUET_F32, 1, {4}, g, false},
                      {DUET_F32, 1, {4}, b, false}};
    tu_check_forward(body_ln, &eps, in, 3, 3, (int64_t[]){2, 2, 4}, e, 1e-5f);

    /* a constant row has zero variance: y = beta */
    float xc[4] = {7, 7, 7, 7};
    tu_input inc[3] = {{DUET_F32, 2, {1, 4}, xc, false},
                       {DUET_F32, 1, {4}, g, false},
                       {DUET_F32, 1, {4}, b, false}};
    tu_check_forward(body_ln, &eps, inc, 3, 2, (int64_t[]){1, 4}, b, 0);
}

static void test_layer_norm_grad(void **state)
{
    (void)state;
    float x[24], g[4], b[4];
    tu_fill(x, 24, 4, -2, 2);
    tu_fill(g, 4, 5, 0.5f, 1.5f);
    tu_fill(b, 4, 6, -1, 1);
    float eps = 1e-3f;
    tu_input in[3] = {{DUET_F32, 3, {2, 3, 4}, x, true},
                      {DUET_F32, 1, {4}, g, true},
                      {DUET_F32, 1, {4}, b, true}};
    tu_check_grad(body_ln, &eps, in, 3, 1e-2, 2e-3, 2e-2);
    /* each input alone (the VJP computes only what is asked for) */
    for (int i = 0; i < 3; i++) {
        tu_input one[3];
        memcpy(one, in, sizeof one);
        for (int j = 0; j < 3; j++) one[j].diff = j == i;
        tu_check_grad(body_ln, &eps, one, 3, 1e-2, 2e-3, 2e-2);
    }
}

static void test_layer_norm_errors(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    float x[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, ones[4] = {1, 1, 1, 1}, zeros[4] = {0};
    duet_tensor *xt = duet_constant(c, DUET_F32, 2, (int64_t[]){3, 4}, x);
    duet_tensor *g3 = duet_constant(c, DUET_F32, 1, (int64_t[]){3}, ones);
    duet_tensor *g4 = duet_constant(c, DUET_F32, 1, (int64_t[]){4}, ones);
    duet_tensor *b4 = duet_constant(c, DUET_F32, 1, (int64_t[]){4}, zeros);
    /* gamma (3,) for D = 4 */
    duet_tensor *y = duet_layer_norm(c, xt, g3, b4, 1e-3f);
    assert_true(duet_is_poison(y));
    assert_int_equal(duet_ctx_status(c), DUET_ERR_SHAPE);
    const duet_diag *d = duet_ctx_error(c);
    assert_string_equal(d->op, "layer_norm");
    assert_non_null(strstr(d->message, "(3, 4)"));
    assert_non_null(strstr(d->message, "(3,)"));
    duet_ctx_clear_error(c);
    /* beta mismatch, gamma of rank 2 */
    duet_layer_norm(c, xt, g4, g3, 1e-3f);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_SHAPE);
    duet_ctx_clear_error(c);
    duet_layer_norm(c, xt, duet_constant(c, DUET_F32, 2, (int64_t[]){1, 4}, ones), b4, 1e-3f);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_SHAPE);
    duet_ctx_clear_error(c);
    /* dtype */
    int32_t xi[4] = {0};
    duet_layer_norm(c, duet_constant(c, DUET_I32, 1, (int64_t[]){4}, xi), g4, b4, 1e-3f);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_DTYPE);
    duet_ctx_clear_error(c);
    /* bad eps */
    duet_layer_norm(c, xt, g4, b4, -1.0f);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_ARG);
    duet_ctx_clear_error(c);
    /* works again */
    y = duet_layer_norm(c, xt, g4, b4, 0.0f);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    assert_float_equal(duet_get_f32(y, 0), -1.34164079f, 1e-6f);
    duet_ctx_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer_norm_forward),
        cmocka_unit_test(test_layer_norm_rank3_and_offset),
        cmocka_unit_test(test_layer_norm_grad),
        cmocka_unit_test(test_layer_norm_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
