/* gather and scatter_add: forward values (duplicate ids), gradients, and the
 * out-of-range id diagnostics. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static duet_tensor *body_gather(duet_ctx *c, duet_tensor **x, void *u)
{
    (void)u;
    return duet_gather(c, x[0], x[1]);
}
static duet_tensor *body_scatter(duet_ctx *c, duet_tensor **x, void *u)
{
    return duet_scatter_add(c, x[0], x[1], *(int64_t *)u);
}

static void test_gather_forward(void **state)
{
    (void)state;
    float t[12] = {0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32};
    int32_t ids[6] = {3, 0, 3, 1, 1, 2};
    float e[18] = {30, 31, 32, 0, 1, 2, 30, 31, 32, 10, 11, 12, 10, 11, 12, 20, 21, 22};
    tu_input in[2] = {{DUET_F32, 2, {4, 3}, t, false}, {DUET_I32, 2, {2, 3}, ids, false}};
    tu_check_forward(body_gather, NULL, in, 2, 3, (int64_t[]){2, 3, 3}, e, 0);

    /* scalar id, rank-3 table */
    int32_t id = 2;
    tu_input in0[2] = {{DUET_F32, 3, {3, 2, 2}, t, false}, {DUET_I32, 0, {0}, &id, false}};
    tu_check_forward(body_gather, NULL, in0, 2, 2, (int64_t[]){2, 2}, t + 8, 0);

    /* 1-D table: rows are scalars */
    int32_t ids1[3] = {1, 1, 0};
    float e1[3] = {1, 1, 0};
    tu_input in1[2] = {{DUET_F32, 1, {4}, t, false}, {DUET_I32, 1, {3}, ids1, false}};
    tu_check_forward(body_gather, NULL, in1, 2, 1, (int64_t[]){3}, e1, 0);
}

static void test_scatter_add_forward(void **state)
{
    (void)state;
    int32_t ids[4] = {2, 0, 2, 2};
    float up[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    float e[8] = {3, 4, 0, 0, 1 + 5 + 7, 2 + 6 + 8, 0, 0};
    int64_t rows = 4;
    tu_input in[2] = {{DUET_I32, 2, {2, 2}, ids, false}, {DUET_F32, 3, {2, 2, 2}, up, false}};
    tu_check_forward(body_scatter, &rows, in, 2, 2, (int64_t[]){4, 2}, e, 0);

    /* scalar rows */
    float e1[4] = {2, 0, 1 + 3 + 4, 0};
    tu_input in1[2] = {{DUET_I32, 1, {4}, ids, false}, {DUET_F32, 1, {4}, up, false}};
    tu_check_forward(body_scatter, &rows, in1, 2, 1, (int64_t[]){4}, e1, 0);
}

static void test_gather_grad(void **state)
{
    (void)state;
    float t[15];
    tu_fill(t, 15, 1, -1, 1);
    int32_t ids[6] = {4, 0, 4, 4, 2, 0}; /* duplicates accumulate; rows 1, 3 get 0 */
    tu_input in[2] = {{DUET_F32, 2, {5, 3}, t, true}, {DUET_I32, 2, {3, 2}, ids, false}};
    /* linear: central differences are exact up to rounding, so the tolerance is tight */
    tu_check_grad(body_gather, NULL, in, 2, 0.125, 1e-5, 1e-5);
}

static void test_scatter_add_grad(void **state)
{
    (void)state;
    float up[12];
    tu_fill(up, 12, 2, -1, 1);
    int32_t ids[4] = {1, 1, 0, 2};
    int64_t rows = 3;
    tu_input in[2] = {{DUET_I32, 1, {4}, ids, false}, {DUET_F32, 2, {4, 3}, up, true}};
    tu_check_grad(body_scatter, &rows, in, 2, 0.125, 1e-5, 1e-5);
}

static void test_gather_out_of_range(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    int64_t v = 20000;
    float *t = calloc((size_t)v * 2, sizeof(float));
    assert_non_null(t);
    t[2 * 19999] = 5.0f;
    int32_t ids[20];
    for (int i = 0; i < 20; i++) ids[i] = i * 7;
    ids[17] = 20001;
    duet_tensor *table = duet_constant(c, DUET_F32, 2, (int64_t[]){v, 2}, t);
    duet_tensor *it = duet_constant(c, DUET_I32, 2, (int64_t[]){4, 5}, ids);
    duet_tensor *y = duet_gather(c, table, it);
    assert_true(duet_is_poison(y));
    assert_int_equal(duet_ctx_status(c), DUET_ERR_INDEX);
    const duet_diag *d = duet_ctx_error(c);
    assert_string_equal(d->op, "gather");
    assert_string_equal(d->message, "id 20001 at position 17 is out of range [0, 20000)");
    /* the error is sticky until cleared */
    assert_true(duet_is_poison(duet_gather(c, table, it)));
    duet_ctx_clear_error(c);
    ids[17] = 19999;
    it = duet_constant(c, DUET_I32, 2, (int64_t[]){4, 5}, ids);
    y = duet_gather(c, table, it);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    assert_float_equal(duet_get_f32(y, 34), 5.0f, 0);

    /* negative id */
    ids[3] = -1;
    duet_gather(c, table, duet_constant(c, DUET_I32, 1, (int64_t[]){20}, ids));
    assert_int_equal(duet_ctx_status(c), DUET_ERR_INDEX);
    assert_non_null(strstr(duet_ctx_error(c)->message, "id -1 at position 3"));
    free(t);
    duet_ctx_free(c);
}

static void test_scatter_add_errors(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    int32_t ids[3] = {0, 3, 1};
    float up[6] = {1, 2, 3, 4, 5, 6};
    duet_tensor *it = duet_constant(c, DUET_I32, 1, (int64_t[]){3}, ids);
    duet_tensor *ut = duet_constant(c, DUET_F32, 2, (int64_t[]){3, 2}, up);
    duet_scatter_add(c, it, ut, 3);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_INDEX);
    assert_string_equal(duet_ctx_error(c)->op, "scatter_add");
    assert_string_equal(duet_ctx_error(c)->message, "id 3 at position 1 is out of range [0, 3)");
    duet_ctx_clear_error(c);
    /* updates must start with the ids' shape */
    duet_scatter_add(c, it, duet_constant(c, DUET_F32, 2, (int64_t[]){2, 3}, up), 4);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_SHAPE);
    assert_non_null(strstr(duet_ctx_error(c)->message, "(2, 3)"));
    duet_ctx_clear_error(c);
    /* dtypes */
    duet_gather(c, it, it);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_DTYPE);
    duet_ctx_clear_error(c);
    duet_scatter_add(c, it, ut, -5);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_ARG);
    duet_ctx_clear_error(c);
    /* works again */
    duet_tensor *y = duet_scatter_add(c, it, ut, 4);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    assert_float_equal(duet_get_f32(y, 6), 3.0f, 0);
    duet_ctx_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gather_forward),
        cmocka_unit_test(test_scatter_add_forward),
        cmocka_unit_test(test_gather_grad),
        cmocka_unit_test(test_scatter_add_grad),
        cmocka_unit_test(test_gather_out_of_range),
        cmocka_unit_test(test_scatter_add_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
