/* greater, equal, logical_and, logical_not, where, cast: forward values (every dtype,
 * broadcasting), gradients of where and cast, error paths and the shape rules on
 * symbolic dims. */
#include <math.h>
#include <string.h>

#include "testutil.h"
/* white-box: the shape rules are called directly on symbolic shapes */
#include "../engine/src/internal.h"

#define S(...) ((int64_t[]){__VA_ARGS__})

/* ---- bodies ---- */
static duet_tensor *body_greater(duet_ctx *c, duet_tensor **x, void *u) { (void)u; return duet_greater(c, x[0], x[1]); }
static duet_tensor *body_equal(duet_ctx *c, duet_tensor **x, void *u) { (void)u; return duet_equal(c, x[0], x[1]); }
static duet_tensor *body_and(duet_ctx *c, duet_tensor **x, void *u) { (void)u; return duet_logical_and(c, x[0], x[1]); }
static duet_tensor *body_not(duet_ctx *c, duet_tensor **x, void *u) { (void)u; return duet_logical_not(c, x[0]); }
static duet_tensor *body_where(duet_ctx *c, duet_tensor **x, void *u) { (void)u; return duet_where(c, x[0], x[1], x[2]); }
static duet_tensor *body_cast(duet_ctx *c, duet_tensor **x, void *u)
{
    return duet_cast(c, x[0], *(const duet_dtype *)u);
}

/* ---- greater ---- */

static void test_greater_f32_row_broadcast(void **state)
{
    (void)state;
    float a[6] = {1, 5, 3, 4, -2, 6}, b[3] = {2, 2, 3};
    tu_input in[2] = {{DUET_F32, 2, {2, 3}, a, false}, {DUET_F32, 1, {3}, b, false}};
    float expect[6] = {0, 1, 0, 1, 0, 1};
    tu_check_forward(body_greater, NULL, in, 2, 2, S(2, 3), expect, 0);
    /* swapped operands: (3,) with (2,3) */
    tu_input sw[2] = {in[1], in[0]};
    float expect_sw[6] = {1, 0, 0, 0, 1, 0};
    tu_check_forward(body_greater, NULL, sw, 2, 2, S(2, 3), expect_sw, 0);
}

static void test_greater_i32_outer_broadcast(void **state)
{
    (void)state;
    int32_t a[2] = {1, 3}, b[3] = {0, 1, 2};
    tu_input in[2] = {{DUET_I32, 2, {2, 1}, a, false}, {DUET_I32, 2, {1, 3}, b, false}};
    float expect[6] = {1, 0, 0, 1, 1, 1};
    tu_check_forward(body_greater, NULL, in, 2, 2, S(2, 3), expect, 0);
}

static void test_greater_scalar(void **state)
{
    (void)state;
    float a[4] = {-1, 0, 0.5f, 2}, zero = 0;
    tu_input in[2] = {{DUET_F32, 2, {2, 2}, a, false}, {DUET_F32, 0, {0}, &zero, false}};
    float expect[4] = {0, 0, 1, 1};
    tu_check_forward(body_greater, NULL, in, 2, 2, S(2, 2), expect, 0);
    tu_input sw[2] = {in[1], in[0]}; /* scalar first */
    float expect_sw[4] = {1, 0, 0, 0};
    tu_check_forward(body_greater, NULL, sw, 2, 2, S(2, 2), expect_sw, 0);
    /* scalar with scalar */
    float one = 1;
    tu_input ss[2] = {{DUET_F32, 0, {0}, &one, false}, {DUET_F32, 0, {0}, &zero, false}};
    tu_check_forward(body_greater, NULL, ss, 2, 0, NULL, (float[]){1}, 0);
}

/* A middle-dim broadcast (rows walked one by one) against a reference loop. */
static void test_greater_3d_broadcast(void **state)
{
    (void)state;
    float a[24], b[3];
    tu_fill(a, 24, 1, -1, 1);
    tu_fill(b, 3, 2, -1, 1);
    float expect[24];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++) expect[(i * 3 + j) * 4 + k] = a[(i * 3 + j) * 4 + k] > b[j];
    tu_input in[2] = {{DUET_F32, 3, {2, 3, 4}, a, false}, {DUET_F32, 2, {3, 1}, b, false}};
    tu_check_forward(body_greater, NULL, in, 2, 3, S(2, 3, 4), expect, 0);
}

/* ---- equal ---- */

static void test_equal_every_dtype(void **state)
{
    (void)state;
    float af[6] = {1, 2, 3, 4, 2, 6}, bf[3] = {1, 2, 6};
    tu_input f[2] = {{DUET_F32, 2, {2, 3}, af, false}, {DUET_F32, 1, {3}, bf, false}};
    tu_check_forward(body_equal, NULL, f, 2, 2, S(2, 3), (float[]){1, 1, 0, 0, 1, 1}, 0);

    int32_t ai[2] = {7, -3}, bi[3] = {-3, 7, 7};
    tu_input i[2] = {{DUET_I32, 2, {2, 1}, ai, false}, {DUET_I32, 2, {1, 3}, bi, false}};
    tu_check_forward(body_equal, NULL, i, 2, 2, S(2, 3), (float[]){0, 1, 1, 1, 0, 0}, 0);

    uint8_t ab[4] = {1, 0, 1, 0}, bb[4] = {1, 1, 0, 0};
    tu_input b[2] = {{DUET_BOOL8, 1, {4}, ab, false}, {DUET_BOOL8, 1, {4}, bb, false}};
    tu_check_forward(body_equal, NULL, b, 2, 1, S(4), (float[]){1, 0, 0, 1}, 0);

    uint8_t t = 1;
    tu_input bs[2] = {{DUET_BOOL8, 1, {4}, ab, false}, {DUET_BOOL8, 0, {0}, &t, false}};
    tu_check_forward(body_equal, NULL, bs, 2, 1, S(4), (float[]){1, 0, 1, 0}, 0);
}

static void test_equal_nan(void **state)
{
    (void)state;
    float a[2] = {NAN, 1}, b[2] = {NAN, 1};
    tu_input in[2] = {{DUET_F32, 1, {2}, a, false}, {DUET_F32, 1, {2}, b, false}};
    tu_check_forward(body_equal, NULL, in, 2, 1, S(2), (float[]){0, 1}, 0);
}

/* ---- logic ---- */

static void test_logical_and_not(void **state)
{
    (void)state;
    uint8_t a[2] = {1, 0}, b[3] = {1, 0, 1};
    tu_input in[2] = {{DUET_BOOL8, 2, {2, 1}, a, false}, {DUET_BOOL8, 1, {3}, b, false}};
    tu_check_forward(body_and, NULL, in, 2, 2, S(2, 3), (float[]){1, 0, 1, 0, 0, 0}, 0);

    uint8_t x[2][3] = {{1, 1, 0}, {0, 1, 1}};
    tu_input same[2] = {{DUET_BOOL8, 1, {3}, x[0], false}, {DUET_BOOL8, 1, {3}, x[1], false}};
    tu_check_forward(body_and, NULL, same, 2, 1, S(3), (float[]){0, 1, 0}, 0);

    tu_input one[1] = {{DUET_BOOL8, 2, {2, 3}, x, false}};
    tu_check_forward(body_not, NULL, one, 1, 2, S(2, 3), (float[]){0, 0, 1, 1, 0, 0}, 0);
    uint8_t s = 0;
    tu_input sc[1] = {{DUET_BOOL8, 0, {0}, &s, false}};
    tu_check_forward(body_not, NULL, sc, 1, 0, NULL, (float[]){1}, 0);
}

/* ---- where ---- */

static void test_where_same_shape(void **state)
{
    (void)state;
    uint8_t cond[4] = {1, 0, 0, 1};
    float a[4] = {1, 2, 3, 4}, b[4] = {-1, -2, -3, -4};
    tu_input in[3] = {{DUET_BOOL8, 2, {2, 2}, cond, false},
                      {DUET_F32, 2, {2, 2}, a, false},
                      {DUET_F32, 2, {2, 2}, b, false}};
    tu_check_forward(body_where, NULL, in, 3, 2, S(2, 2), (float[]){1, -2, -3, 4}, 0);
}

static void test_where_three_way_broadcast(void **state)
{
    (void)state;
    /* cond (2,1), a (1,3), b scalar -> (2,3) */
    uint8_t cond[2] = {1, 0};
    float a[3] = {1, 2, 3}, b = 9;
    tu_input in[3] = {{DUET_BOOL8, 2, {2, 1}, cond, false},
                      {DUET_F32, 2, {1, 3}, a, false},
                      {DUET_F32, 0, {0}, &b, false}};
    tu_check_forward(body_where, NULL, in, 3, 2, S(2, 3), (float[]){1, 2, 3, 9, 9, 9}, 0);

    /* cond (3,), a (2,3), b (2,1), all different */
    uint8_t c3[3] = {0, 1, 0};
    float a23[6] = {1, 2, 3, 4, 5, 6}, b21[2] = {-1, -2};
    tu_input in2[3] = {{DUET_BOOL8, 1, {3}, c3, false},
                       {DUET_F32, 2, {2, 3}, a23, false},
                       {DUET_F32, 2, {2, 1}, b21, false}};
    tu_check_forward(body_where, NULL, in2, 3, 2, S(2, 3), (float[]){-1, 2, -1, -2, 5, -2}, 0);

    /* scalar condition */
    uint8_t t = 0;
    tu_input in3[3] = {{DUET_BOOL8, 0, {0}, &t, false},
                       {DUET_F32, 2, {2, 3}, a23, false},
                       {DUET_F32, 1, {3}, a, false}};
    tu_check_forward(body_where, NULL, in3, 3, 2, S(2, 3), (float[]){1, 2, 3, 1, 2, 3}, 0);
}

static void test_where_i32_and_bool(void **state)
{
    (void)state;
    uint8_t cond[3] = {1, 0, 1};
    int32_t a[3] = {10, 20, 30}, b = -5;
    tu_input in[3] = {{DUET_BOOL8, 1, {3}, cond, false},
                      {DUET_I32, 1, {3}, a, false},
                      {DUET_I32, 0, {0}, &b, false}};
    tu_check_forward(body_where, NULL, in, 3, 1, S(3), (float[]){10, -5, 30}, 0);

    uint8_t ba[3] = {0, 0, 1}, bb[3] = {1, 1, 0};
    tu_input inb[3] = {{DUET_BOOL8, 1, {3}, cond, false},
                       {DUET_BOOL8, 1, {3}, ba, false},
                       {DUET_BOOL8, 1, {3}, bb, false}};
    tu_check_forward(body_where, NULL, inb, 3, 1, S(3), (float[]){0, 1, 1}, 0);
}

static void test_where_grad(void **state)
{
    (void)state;
    uint8_t cond[6] = {1, 0, 1, 0, 0, 1};
    float a[6], b[6];
    tu_fill(a, 6, 3, -1, 1);
    tu_fill(b, 6, 4, -1, 1);
    tu_input same[3] = {{DUET_BOOL8, 2, {2, 3}, cond, false},
                        {DUET_F32, 2, {2, 3}, a, true},
                        {DUET_F32, 2, {2, 3}, b, true}};
    tu_check_grad(body_where, NULL, same, 3, 1e-2, 1e-3, 1e-3);
    /* broadcast branches: a (2,1) and b (3,) are summed back to their shapes */
    tu_input bc[3] = {{DUET_BOOL8, 2, {2, 3}, cond, false},
                      {DUET_F32, 2, {2, 1}, a, true},
                      {DUET_F32, 1, {3}, b, true}};
    tu_check_grad(body_where, NULL, bc, 3, 1e-2, 1e-3, 1e-3);
}

/* ---- cast ---- */

static void check_cast(duet_dtype from, const void *x, int n, duet_dtype to, const float *expect)
{
    tu_input in[1] = {{from, 1, {n}, x, false}};
    tu_check_forward(body_cast, &to, in, 1, 1, S(n), expect, 0);
}

static void test_cast_every_pair(void **state)
{
    (void)state;
    float f[6] = {-1.7f, -0.5f, 0, 0.5f, 2.9f, 3};
    int32_t i[4] = {-2, 0, 1, 7};
    uint8_t b[3] = {1, 0, 1};
    check_cast(DUET_F32, f, 6, DUET_I32, (float[]){-1, 0, 0, 0, 2, 3}); /* toward zero */
    check_cast(DUET_F32, f, 6, DUET_BOOL8, (float[]){1, 1, 0, 1, 1, 1});
    check_cast(DUET_F32, f, 6, DUET_F32, f);
    check_cast(DUET_I32, i, 4, DUET_F32, (float[]){-2, 0, 1, 7});
    check_cast(DUET_I32, i, 4, DUET_BOOL8, (float[]){1, 0, 1, 1});
    check_cast(DUET_I32, i, 4, DUET_I32, (float[]){-2, 0, 1, 7});
    check_cast(DUET_BOOL8, b, 3, DUET_F32, (float[]){1, 0, 1});
    check_cast(DUET_BOOL8, b, 3, DUET_I32, (float[]){1, 0, 1});
    check_cast(DUET_BOOL8, b, 3, DUET_BOOL8, (float[]){1, 0, 1});
}

/* Direct check of the i32 values (tu_run goes through float) and of the edge cases. */
static void test_cast_f32_i32_edges(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    float f[6] = {-2.5f, 1e10f, -1e10f, NAN, 16777216.0f, -0.9f};
    duet_tensor *y = duet_cast(c, duet_constant(c, DUET_F32, 1, S(6), f), DUET_I32);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    assert_int_equal(y->dtype, DUET_I32);
    int32_t expect[6] = {-2, INT32_MAX, INT32_MIN, 0, 16777216, 0};
    for (int i = 0; i < 6; i++) assert_int_equal(duet_get_i32(y, i), expect[i]);
    duet_tensor *yb = duet_cast(c, duet_constant(c, DUET_F32, 1, S(6), f), DUET_BOOL8);
    assert_int_equal(yb->dtype, DUET_BOOL8);
    for (int i = 0; i < 6; i++) assert_int_equal(((uint8_t *)yb->data)[i], 1); /* NaN != 0 */
    duet_ctx_free(c);
}

static void test_cast_grad(void **state)
{
    (void)state;
    duet_dtype f32 = DUET_F32;
    float x[6];
    tu_fill(x, 6, 5, -2, 2);
    tu_input in[1] = {{DUET_F32, 2, {2, 3}, x, true}};
    tu_check_grad(body_cast, &f32, in, 1, 1e-2, 1e-3, 1e-3);
}

/* x + f32(i32(x)): the integer round trip carries no gradient, so d/dx is 1 */
static duet_tensor *body_cast_roundtrip(duet_ctx *c, duet_tensor **x, void *u)
{
    (void)u;
    return duet_add(c, x[0], duet_cast(c, duet_cast(c, x[0], DUET_I32), DUET_F32));
}

static void test_cast_no_grad_through_i32(void **state)
{
    (void)state;
    float x[4] = {0.3f, -1.6f, 2.4f, 5.5f}; /* away from integers: the FD step stays flat */
    tu_input in[1] = {{DUET_F32, 1, {4}, x, true}};
    tu_check_grad(body_cast_roundtrip, NULL, in, 1, 1e-2, 1e-3, 1e-3);
}

/* ---- errors ---- */

static void test_errors(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    float f6[6] = {0}, f4[4] = {0};
    int32_t i3[3] = {0};
    uint8_t b6[6] = {0};
    duet_tensor *f23 = duet_constant(c, DUET_F32, 2, S(2, 3), f6);
    duet_tensor *f4t = duet_constant(c, DUET_F32, 1, S(4), f4);
    duet_tensor *i3t = duet_constant(c, DUET_I32, 1, S(3), i3);
    duet_tensor *b23 = duet_constant(c, DUET_BOOL8, 2, S(2, 3), b6);
    assert_int_equal(duet_ctx_status(c), DUET_OK);

    assert_true(duet_is_poison(duet_greater(c, f23, i3t)));
    tu_expect_error(c, DUET_ERR_DTYPE, "greater", "f32 and i32");
    duet_greater(c, b23, b23);
    tu_expect_error(c, DUET_ERR_DTYPE, "greater", "bool and bool");
    duet_equal(c, i3t, b23);
    tu_expect_error(c, DUET_ERR_DTYPE, "equal", "i32 and bool");
    duet_equal(c, f23, f4t);
    tu_expect_error(c, DUET_ERR_SHAPE, "equal", "(2, 3) and (4,)");
    duet_greater(c, f4t, f23);
    tu_expect_error(c, DUET_ERR_SHAPE, "greater", "(4,) and (2, 3)");
    duet_logical_and(c, b23, f23);
    tu_expect_error(c, DUET_ERR_DTYPE, "logical_and", "bool and f32");
    duet_logical_not(c, i3t);
    tu_expect_error(c, DUET_ERR_DTYPE, "logical_not", "i32");
    duet_where(c, f23, f23, f23);
    tu_expect_error(c, DUET_ERR_DTYPE, "where", "condition is f32");
    duet_where(c, b23, f23, i3t);
    tu_expect_error(c, DUET_ERR_DTYPE, "where", "f32 and i32");
    duet_where(c, b23, f23, f4t);
    tu_expect_error(c, DUET_ERR_SHAPE, "where", "(2, 3) and branches (2, 3), (4,)");
    duet_cast(c, f23, (duet_dtype)7);
    tu_expect_error(c, DUET_ERR_ARG, "cast", "7");

    /* sticky: the first error wins and later ops return poison */
    duet_greater(c, f23, i3t);
    assert_true(duet_is_poison(duet_cast(c, f23, DUET_I32)));
    tu_expect_error(c, DUET_ERR_DTYPE, "greater", "f32 and i32");

    /* the context works again after clearing */
    duet_tensor *y = duet_greater(c, f23, duet_scalar(c, -1.0f));
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    assert_int_equal(y->dtype, DUET_BOOL8);
    for (int i = 0; i < 6; i++) assert_int_equal(((uint8_t *)y->data)[i], 1);
    duet_ctx_free(c);
}

/* ---- shape rules on symbolic dims ---- */

static duet_tensor sym_tensor(duet_dtype dt, int rank, const int64_t *shape)
{
    duet_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.rank = rank;
    if (rank) memcpy(t.shape, shape, sizeof(int64_t) * (size_t)rank);
    return t;
}

static void assert_type(const duet_type *ty, duet_dtype dt, int rank, const int64_t *shape)
{
    assert_int_equal(ty->dtype, dt);
    assert_int_equal(ty->rank, rank);
    for (int i = 0; i < rank; i++) assert_int_equal(ty->shape[i], shape[i]);
}

static void test_symbolic_shapes(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    duet_attrs at = {0};
    duet_type ty;
    const int64_t B = DUET_SYM(0), T = DUET_SYM(1);

    duet_tensor x = sym_tensor(DUET_F32, 3, S(B, T, 4)), y = sym_tensor(DUET_F32, 1, S(4));
    assert_int_equal(duet_opdef_greater.infer(c, &at, (duet_tensor *[]){&x, &y}, 2, &ty), 0);
    assert_type(&ty, DUET_BOOL8, 3, S(B, T, 4));

    duet_tensor m = sym_tensor(DUET_BOOL8, 3, S(B, 1, T)), k = sym_tensor(DUET_BOOL8, 2, S(T, 1));
    assert_int_equal(duet_opdef_logical_and.infer(c, &at, (duet_tensor *[]){&m, &k}, 2, &ty), 0);
    assert_type(&ty, DUET_BOOL8, 3, S(B, T, T));

    duet_tensor cond = sym_tensor(DUET_BOOL8, 3, S(B, 1, T));
    duet_tensor a = sym_tensor(DUET_F32, 3, S(B, T, T)), zero = sym_tensor(DUET_F32, 0, NULL);
    assert_int_equal(duet_opdef_where.infer(c, &at, (duet_tensor *[]){&cond, &a, &zero}, 3, &ty), 0);
    assert_type(&ty, DUET_F32, 3, S(B, T, T));

    /* a symbol meets a concrete size: the concrete one is the result */
    duet_tensor p = sym_tensor(DUET_I32, 2, S(B, 5)), q = sym_tensor(DUET_I32, 2, S(3, 1));
    assert_int_equal(duet_opdef_equal.infer(c, &at, (duet_tensor *[]){&p, &q}, 2, &ty), 0);
    assert_type(&ty, DUET_BOOL8, 2, S(3, 5));

    /* concrete mismatch next to a symbol still fails */
    duet_tensor r = sym_tensor(DUET_I32, 2, S(B, 4));
    assert_int_not_equal(duet_opdef_equal.infer(c, &at, (duet_tensor *[]){&p, &r}, 2, &ty), 0);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_SHAPE);
    duet_ctx_clear_error(c);

    duet_attrs ca = {0};
    ca.i[0] = DUET_BOOL8;
    assert_int_equal(duet_opdef_cast.infer(c, &ca, (duet_tensor *[]){&x}, 1, &ty), 0);
    assert_type(&ty, DUET_BOOL8, 3, S(B, T, 4));
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    duet_ctx_free(c);
}

/* A larger flat run and a row-walked case against reference loops. */
static void test_where_large(void **state)
{
    (void)state;
    enum { R = 37, C = 129 };
    duet_ctx *c = duet_ctx_new();
    static float a[R * C], b[C];
    static uint8_t cond[R * C];
    tu_fill(a, R * C, 11, -1, 1);
    tu_fill(b, C, 12, -1, 1);
    for (int i = 0; i < R * C; i++) cond[i] = (i * 7 % 5) < 2;
    duet_tensor *ta = duet_constant(c, DUET_F32, 2, S(R, C), a);
    duet_tensor *tb = duet_constant(c, DUET_F32, 1, S(C), b);
    duet_tensor *tc = duet_constant(c, DUET_BOOL8, 2, S(R, C), cond);
    duet_tensor *y = duet_where(c, tc, ta, tb);
    duet_tensor *g = duet_greater(c, ta, tb);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) {
            int k = i * C + j;
            assert_true(duet_get_f32(y, k) == (cond[k] ? a[k] : b[j]));
            assert_int_equal(((uint8_t *)g->data)[k], a[k] > b[j]);
        }
    duet_ctx_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greater_f32_row_broadcast),
        cmocka_unit_test(test_greater_i32_outer_broadcast),
        cmocka_unit_test(test_greater_scalar),
        cmocka_unit_test(test_greater_3d_broadcast),
        cmocka_unit_test(test_equal_every_dtype),
        cmocka_unit_test(test_equal_nan),
        cmocka_unit_test(test_logical_and_not),
        cmocka_unit_test(test_where_same_shape),
        cmocka_unit_test(test_where_three_way_broadcast),
        cmocka_unit_test(test_where_i32_and_bool),
        cmocka_unit_test(test_where_large),
        cmocka_unit_test(test_where_grad),
        cmocka_unit_test(test_cast_every_pair),
        cmocka_unit_test(test_cast_f32_i32_edges),
        cmocka_unit_test(test_cast_grad),
        cmocka_unit_test(test_cast_no_grad_through_i32),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_symbolic_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
