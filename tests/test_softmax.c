/* softmax, log_softmax (incl. masks), sparse_xent and one_hot: forward values,
 * gradients and error paths. */
#include "testutil.h"

#include <math.h>
#include <string.h>

/* ---- bodies: user points at an int axis ---- */
static duet_tensor *body_softmax(duet_ctx *c, duet_tensor **x, void *u)
{
    return duet_softmax(c, x[0], *(int *)u, NULL);
}
static duet_tensor *body_softmax_mask(duet_ctx *c, duet_tensor **x, void *u)
{
    return duet_softmax(c, x[0], *(int *)u, x[1]);
}
static duet_tensor *body_log_softmax(duet_ctx *c, duet_tensor **x, void *u)
{
    return duet_log_softmax(c, x[0], *(int *)u);
}
static duet_tensor *body_xent(duet_ctx *c, duet_tensor **x, void *u)
{
    (void)u;
    return duet_sparse_xent(c, x[0], x[1]);
}
static duet_tensor *body_one_hot(duet_ctx *c, duet_tensor **x, void *u)
{
    return duet_one_hot(c, x[0], *(int64_t *)u);
}

/* Double reference: softmax (or log_softmax) of x (outer, n, inner) over the middle. */
static void ref_softmax(const float *x, float *y, int outer, int n, int inner, bool log_)
{
    for (int o = 0; o < outer; o++)
        for (int j = 0; j < inner; j++) {
            double m = -INFINITY, s = 0;
            for (int k = 0; k < n; k++) m = fmax(m, x[(o * n + k) * inner + j]);
            for (int k = 0; k < n; k++) s += exp(x[(o * n + k) * inner + j] - m);
            for (int k = 0; k < n; k++) {
                double v = x[(o * n + k) * inner + j] - m;
                y[(o * n + k) * inner + j] = (float)(log_ ? v - log(s) : exp(v) / s);
            }
        }
}

static void test_softmax_last_axis(void **state)
{
    (void)state;
    float x[6] = {1, 2, 3, -1, 0, 1};
    float e[6];
    double s0 = exp(1) + exp(2) + exp(3);
    for (int k = 0; k < 3; k++) e[k] = (float)(exp(k + 1) / s0), e[3 + k] = e[k]; /* shift */
    tu_input in[1] = {{DUET_F32, 2, {2, 3}, x, false}};
    int axis = -1;
    tu_check_forward(body_softmax, &axis, in, 1, 2, (int64_t[]){2, 3}, e, 1e-6f);
    axis = 1;
    tu_check_forward(body_softmax, &axis, in, 1, 2, (int64_t[]){2, 3}, e, 1e-6f);

    /* rows sum to 1 */
    float out[6];
    int r;
    int64_t sh[8];
    axis = -1;
    assert_int_equal(tu_run(body_softmax, &axis, in, 1, out, 6, &r, sh), DUET_OK);
    for (int i = 0; i < 2; i++)
        assert_float_equal(out[3 * i] + out[3 * i + 1] + out[3 * i + 2], 1.0f, 1e-6f);
}

static void test_softmax_other_axes(void **state)
{
    (void)state;
    float x[24], e[24];
    tu_fill(x, 24, 1, -3, 3);
    tu_input in[1] = {{DUET_F32, 3, {2, 3, 4}, x, false}};
    int axis = 0;
    ref_softmax(x, e, 1, 2, 12, false);
    tu_check_forward(body_softmax, &axis, in, 1, 3, (int64_t[]){2, 3, 4}, e, 1e-6f);
    axis = -2;
    ref_softmax(x, e, 2, 3, 4, false);
    tu_check_forward(body_softmax, &axis, in, 1, 3, (int64_t[]){2, 3, 4}, e, 1e-6f);
    axis = 2;
    ref_softmax(x, e, 6, 4, 1, false);
    tu_check_forward(body_softmax, &axis, in, 1, 3, (int64_t[]){2, 3, 4}, e, 1e-6f);
}

static void test_softmax_large_logits(void **state)
{
    (void)state;
    float x[8] = {1000, 1000, 999, -1000, -1000, -1001, -1000, -1002};
    float e[8];
    ref_softmax(x, e, 2, 4, 1, false);
    assert_float_equal(e[0], 0.4223188f, 1e-6f);
    tu_input in[1] = {{DUET_F32, 2, {2, 4}, x, false}};
    int axis = -1;
    tu_check_forward(body_softmax, &axis, in, 1, 2, (int64_t[]){2, 4}, e, 1e-6f);
    ref_softmax(x, e, 2, 4, 1, true);
    tu_check_forward(body_log_softmax, &axis, in, 1, 2, (int64_t[]){2, 4}, e, 1e-5f);
}

static void test_softmax_bool_mask(void **state)
{
    (void)state;
    float x[8] = {0.5f, 2, -1, 3, 1, 1, 4, -2};
    uint8_t m[8] = {1, 1, 0, 0, 1, 0, 1, 1};
    tu_input in[2] = {{DUET_F32, 2, {2, 4}, x, false}, {DUET_BOOL8, 2, {2, 4}, m, false}};
    /* expected: softmax of the kept entries only, 0 at masked ones */
    float e[8] = {0};
    for (int r = 0; r < 2; r++) {
        double s = 0;
        for (int k = 0; k < 4; k++)
            if (m[4 * r + k]) s += exp(x[4 * r + k]);
        for (int k = 0; k < 4; k++)
            if (m[4 * r + k]) e[4 * r + k] = (float)(exp(x[4 * r + k]) / s);
    }
    int axis = -1;
    tu_check_forward(body_softmax_mask, &axis, in, 2, 2, (int64_t[]){2, 4}, e, 1e-6f);
    float out[8];
    int r;
    int64_t sh[8];
    assert_int_equal(tu_run(body_softmax_mask, &axis, in, 2, out, 8, &r, sh), DUET_OK);
    for (int i = 0; i < 8; i++)
        if (!m[i]) assert_true(out[i] < 1e-30f);

    /* a mask that broadcasts: (4,) applied to every row */
    uint8_t mb[4] = {1, 0, 1, 1};
    tu_input inb[2] = {{DUET_F32, 2, {2, 4}, x, false}, {DUET_BOOL8, 1, {4}, mb, false}};
    for (int rr = 0; rr < 2; rr++) {
        double s = 0;
        for (int k = 0; k < 4; k++)
            if (mb[k]) s += exp(x[4 * rr + k]);
        for (int k = 0; k < 4; k++)
            e[4 * rr + k] = mb[k] ? (float)(exp(x[4 * rr + k]) / s) : 0.0f;
    }
    tu_check_forward(body_softmax_mask, &axis, inb, 2, 2, (int64_t[]){2, 4}, e, 1e-6f);
}

static void test_softmax_f32_mask(void **state)
{
    (void)state;
    float x[6] = {1, 2, 3, 0, 0, 0};
    float add[3] = {0, -1, 0.5f};
    float xa[6], e[6];
    for (int i = 0; i < 6; i++) xa[i] = x[i] + add[i % 3];
    ref_softmax(xa, e, 2, 3, 1, false);
    tu_input in[2] = {{DUET_F32, 2, {2, 3}, x, false}, {DUET_F32, 1, {3}, add, false}};
    int axis = 1;
    tu_check_forward(body_softmax_mask, &axis, in, 2, 2, (int64_t[]){2, 3}, e, 1e-6f);
}

static void test_log_softmax_forward(void **state)
{
    (void)state;
    float x[6] = {1, 2, 3, -1, 0, 1}, e[6];
    ref_softmax(x, e, 2, 3, 1, true);
    assert_float_equal(e[0], -2.4076059f, 1e-6f);
    tu_input in[1] = {{DUET_F32, 2, {2, 3}, x, false}};
    int axis = -1;
    tu_check_forward(body_log_softmax, &axis, in, 1, 2, (int64_t[]){2, 3}, e, 1e-6f);
    axis = 0;
    ref_softmax(x, e, 1, 2, 3, true);
    tu_check_forward(body_log_softmax, &axis, in, 1, 2, (int64_t[]){2, 3}, e, 1e-6f);
}

static void test_sparse_xent_forward(void **state)
{
    (void)state;
    float lg[6] = {1, 2, 3, 0, 0, 0};
    int32_t lb[2] = {2, 1};
    /* logsumexp(1,2,3) - 3 = 0.40760596; logsumexp(0,0,0) - 0 = log 3 */
    float e[2] = {0.40760596f, 1.0986123f};
    tu_input in[2] = {{DUET_F32, 2, {2, 3}, lg, false}, {DUET_I32, 1, {2}, lb, false}};
    tu_check_forward(body_xent, NULL, in, 2, 1, (int64_t[]){2}, e, 1e-6f);

    /* rank 3 logits, large values */
    float lg3[12] = {1000, 0, -1000, 5, 5, 5, 1, 2, 3, -4, 0, 4};
    int32_t lb3[4] = {0, 2, 0, 1};
    float e3[4];
    for (int r = 0; r < 4; r++) {
        double m = -INFINITY, s = 0;
        for (int k = 0; k < 3; k++) m = fmax(m, lg3[3 * r + k]);
        for (int k = 0; k < 3; k++) s += exp(lg3[3 * r + k] - m);
        e3[r] = (float)(m + log(s) - lg3[3 * r + lb3[r]]);
    }
    tu_input in3[2] = {{DUET_F32, 3, {2, 2, 3}, lg3, false}, {DUET_I32, 2, {2, 2}, lb3, false}};
    tu_check_forward(body_xent, NULL, in3, 2, 2, (int64_t[]){2, 2}, e3, 1e-5f);
}

static void test_one_hot(void **state)
{
    (void)state;
    int32_t ids[4] = {0, 2, -1, 3};
    int64_t depth = 3;
    float e[12] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    tu_input in[1] = {{DUET_I32, 2, {2, 2}, ids, false}};
    tu_check_forward(body_one_hot, &depth, in, 1, 3, (int64_t[]){2, 2, 3}, e, 0);
    /* depth 0: an empty last axis */
    depth = 0;
    tu_check_forward(body_one_hot, &depth, in, 1, 3, (int64_t[]){2, 2, 0}, e, 0);

    duet_ctx *c = duet_ctx_new();
    duet_tensor *it = duet_constant(c, DUET_I32, 1, (int64_t[]){4}, ids);
    duet_one_hot(c, it, -4);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_ARG);
    assert_string_equal(duet_ctx_error(c)->op, "one_hot");
    duet_ctx_clear_error(c);
    duet_one_hot(c, duet_constant(c, DUET_F32, 1, (int64_t[]){1}, e), 3);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_DTYPE);
    duet_ctx_clear_error(c);
    duet_tensor *y = duet_one_hot(c, it, 4);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    assert_float_equal(duet_get_f32(y, 15), 1.0f, 0);
    duet_ctx_free(c);
}

/* ---- gradients ---- */

static void test_softmax_grad(void **state)
{
    (void)state;
    float x[24];
    tu_fill(x, 24, 7, -2, 2);
    tu_input in[1] = {{DUET_F32, 3, {2, 3, 4}, x, true}};
    int axis = -1;
    tu_check_grad(body_softmax, &axis, in, 1, 1e-2, 1e-3, 1e-2);
    axis = 0;
    tu_check_grad(body_softmax, &axis, in, 1, 1e-2, 1e-3, 1e-2);
    axis = 1;
    tu_check_grad(body_softmax, &axis, in, 1, 1e-2, 1e-3, 1e-2);
}

static void test_softmax_mask_grad(void **state)
{
    (void)state;
    float x[8];
    tu_fill(x, 8, 3, -2, 2);
    uint8_t m[8] = {1, 1, 0, 1, 0, 1, 1, 1};
    tu_input in[2] = {{DUET_F32, 2, {2, 4}, x, true}, {DUET_BOOL8, 2, {2, 4}, m, false}};
    int axis = -1;
    tu_check_grad(body_softmax_mask, &axis, in, 2, 1e-2, 1e-3, 1e-2);
}

static void test_log_softmax_grad(void **state)
{
    (void)state;
    float x[12];
    tu_fill(x, 12, 5, -2, 2);
    tu_input in[1] = {{DUET_F32, 2, {3, 4}, x, true}};
    int axis = -1;
    tu_check_grad(body_log_softmax, &axis, in, 1, 1e-2, 1e-3, 1e-2);
    axis = 0;
    tu_check_grad(body_log_softmax, &axis, in, 1, 1e-2, 1e-3, 1e-2);
}

static void test_sparse_xent_grad(void **state)
{
    (void)state;
    float lg[24];
    tu_fill(lg, 24, 11, -2, 2);
    int32_t lb[6] = {0, 3, 2, 1, 3, 0};
    tu_input in[2] = {{DUET_F32, 3, {2, 3, 4}, lg, true}, {DUET_I32, 2, {2, 3}, lb, false}};
    tu_check_grad(body_xent, NULL, in, 2, 1e-2, 1e-3, 1e-2);
    /* a single position: logits (C,), labels () */
    int32_t one = 2;
    tu_input in1[2] = {{DUET_F32, 1, {4}, lg, true}, {DUET_I32, 0, {0}, &one, false}};
    tu_check_grad(body_xent, NULL, in1, 2, 1e-2, 1e-3, 1e-2);
}

/* ---- errors ---- */

static void test_sparse_xent_bad_label(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    float lg[6] = {1, 2, 3, 0, 0, 0};
    int32_t bad[2] = {1, 5}, good[2] = {1, 2};
    duet_tensor *logits = duet_constant(c, DUET_F32, 2, (int64_t[]){2, 3}, lg);
    duet_tensor *labels = duet_constant(c, DUET_I32, 1, (int64_t[]){2}, bad);
    duet_tensor *y = duet_sparse_xent(c, logits, labels);
    assert_true(duet_is_poison(y));
    assert_int_equal(duet_ctx_status(c), DUET_ERR_INDEX);
    const duet_diag *d = duet_ctx_error(c);
    assert_non_null(d);
    assert_string_equal(d->op, "sparse_xent");
    assert_non_null(strstr(d->message, "label 5 at position 1"));
    assert_non_null(strstr(d->message, "[0, 3)"));
    /* sticky until cleared */
    assert_true(duet_is_poison(duet_softmax(c, logits, -1, NULL)));
    duet_ctx_clear_error(c);
    labels = duet_constant(c, DUET_I32, 1, (int64_t[]){2}, good);
    y = duet_sparse_xent(c, logits, labels);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    assert_float_equal(duet_get_f32(y, 0), 1.40760596f, 1e-6f);

    /* negative label */
    int32_t neg[2] = {-3, 0};
    labels = duet_constant(c, DUET_I32, 1, (int64_t[]){2}, neg);
    duet_sparse_xent(c, logits, labels);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_INDEX);
    assert_non_null(strstr(duet_ctx_error(c)->message, "label -3 at position 0"));
    duet_ctx_free(c);
}

static void test_shape_and_dtype_errors(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    float x[6] = {0};
    int32_t lb[3] = {0, 0, 0};
    duet_tensor *logits = duet_constant(c, DUET_F32, 2, (int64_t[]){2, 3}, x);
    /* labels must be logits.shape[:-1] */
    duet_sparse_xent(c, logits, duet_constant(c, DUET_I32, 1, (int64_t[]){3}, lb));
    assert_int_equal(duet_ctx_status(c), DUET_ERR_SHAPE);
    assert_non_null(strstr(duet_ctx_error(c)->message, "(3,)"));
    duet_ctx_clear_error(c);
    /* f32 labels */
    duet_sparse_xent(c, logits, duet_constant(c, DUET_F32, 1, (int64_t[]){2}, x));
    assert_int_equal(duet_ctx_status(c), DUET_ERR_DTYPE);
    duet_ctx_clear_error(c);
    /* axis out of range */
    duet_softmax(c, logits, 2, NULL);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_AXIS);
    assert_string_equal(duet_ctx_error(c)->op, "softmax");
    duet_ctx_clear_error(c);
    duet_log_softmax(c, logits, -3);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_AXIS);
    duet_ctx_clear_error(c);
    /* mask that does not broadcast to the scores */
    uint8_t m[3] = {1, 1, 1};
    duet_softmax(c, logits, -1, duet_constant(c, DUET_BOOL8, 1, (int64_t[]){2}, m));
    assert_int_equal(duet_ctx_status(c), DUET_ERR_SHAPE);
    duet_ctx_clear_error(c);
    duet_softmax(c, logits, -1, duet_constant(c, DUET_BOOL8, 3, (int64_t[]){1, 2, 3}, x));
    assert_int_equal(duet_ctx_status(c), DUET_ERR_SHAPE);
    duet_ctx_clear_error(c);
    /* i32 mask, i32 scores */
    duet_softmax(c, logits, -1, duet_constant(c, DUET_I32, 1, (int64_t[]){3}, lb));
    assert_int_equal(duet_ctx_status(c), DUET_ERR_DTYPE);
    duet_ctx_clear_error(c);
    duet_softmax(c, duet_constant(c, DUET_I32, 1, (int64_t[]){3}, lb), 0, NULL);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_DTYPE);
    duet_ctx_clear_error(c);
    /* NULL input */
    duet_softmax(c, NULL, -1, NULL);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_ARG);
    duet_ctx_clear_error(c);
    /* works again */
    duet_tensor *y = duet_softmax(c, logits, -1, NULL);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    assert_float_equal(duet_get_f32(y, 4), 1.0f / 3.0f, 1e-6f);
    duet_ctx_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_last_axis),
        cmocka_unit_test(test_softmax_other_axes),
        cmocka_unit_test(test_softmax_large_logits),
        cmocka_unit_test(test_softmax_bool_mask),
        cmocka_unit_test(test_softmax_f32_mask),
        cmocka_unit_test(test_log_softmax_forward),
        cmocka_unit_test(test_sparse_xent_forward),
        cmocka_unit_test(test_one_hot),
        cmocka_unit_test(test_softmax_grad),
        cmocka_unit_test(test_softmax_mask_grad),
        cmocka_unit_test(test_log_softmax_grad),
        cmocka_unit_test(test_sparse_xent_grad),
        cmocka_unit_test(test_sparse_xent_bad_label),
        cmocka_unit_test(test_shape_and_dtype_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
