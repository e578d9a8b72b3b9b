/* Elementwise ops (engine/src/ops/elementwise.c): add, sub, mul, div with NumPy
 * broadcasting in f32 and i32; the unary maps neg, exp, log, sqrt, rsqrt, relu, tanh,
 * pow_scalar; dtype and shape errors; and every gradient against finite differences.
 *
 * Tolerances. Forward: binary f32 ops are compared exactly (the test computes the
 * same single f32 operation); unary maps against the double-precision libm value with
 * absolute tolerance 4e-6 (values stay below 16, so that is a few f32 ulps).
 * Gradients: tu_check_grad with step h = 1e-2, |analytic - numeric| <= 1e-3 + 5e-3
 * |numeric|; inputs stay away from kinks (relu at 0) and poles (log, sqrt, rsqrt and
 * division near 0) by much more than h, so the central-difference truncation error
 * (~h^2/6 |f'''|) and f32 rounding of the loss (~1e-5) stay well inside it. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "../engine/src/internal.h"

#define FWD_TOL 4e-6f
#define GRAD_H 1e-2
#define GRAD_ATOL 1e-3
#define GRAD_RTOL 5e-3

typedef duet_tensor *(*bin_fn)(duet_site, duet_ctx *, duet_tensor *, duet_tensor *);
typedef duet_tensor *(*un_fn)(duet_site, duet_ctx *, duet_tensor *);

typedef struct bin_op {
    const char *name;
    bin_fn f;
    char sym;
} bin_op;
static const bin_op BIN_OPS[4] = {
    {"add", duet_add_at, '+'}, {"sub", duet_sub_at, '-'}, {"mul", duet_mul_at, '*'}, {"div", duet_div_at, '/'}};

static float apply_bin_f32(char sym, float a, float b)
{
    switch (sym) {
    case '+': return a + b;
    case '-': return a - b;
    case '*': return a * b;
    default: return a / b;
    }
}

static duet_tensor *body_bin(duet_ctx *c, duet_tensor **x, void *u)
{
    return ((const bin_op *)u)->f(DUET_HERE, c, x[0], x[1]);
}

typedef struct un_op {
    const char *name;
    un_fn f;
    double (*ref)(double);
} un_op;

static double ref_neg(double x) { return -x; }
static double ref_rsqrt(double x) { return 1.0 / sqrt(x); }
static double ref_relu(double x) { return x > 0 ? x : 0; }

static const un_op UN_NEG = {"neg", duet_neg_at, ref_neg};
static const un_op UN_EXP = {"exp", duet_exp_at, exp};
static const un_op UN_LOG = {"log", duet_log_at, log};
static const un_op UN_SQRT = {"sqrt", duet_sqrt_at, sqrt};
static const un_op UN_RSQRT = {"rsqrt", duet_rsqrt_at, ref_rsqrt};
static const un_op UN_RELU = {"relu", duet_relu_at, ref_relu};
static const un_op UN_TANH = {"tanh", duet_tanh_at, tanh};

static duet_tensor *body_un(duet_ctx *c, duet_tensor **x, void *u)
{
    return ((const un_op *)u)->f(DUET_HERE, c, x[0]);
}

static duet_tensor *body_pow(duet_ctx *c, duet_tensor **x, void *u)
{
    return duet_pow_scalar(c, x[0], *(const float *)u);
}

static duet_tensor *body_square(duet_ctx *c, duet_tensor **x, void *u)
{
    (void)u;
    return duet_mul(c, x[0], x[0]);
}

/* tanh(exp(a) * b - a / b): several ops sharing inputs */
static duet_tensor *body_chain(duet_ctx *c, duet_tensor **x, void *u)
{
    (void)u;
    duet_tensor *t = duet_sub(c, duet_mul(c, duet_exp(c, x[0]), x[1]), duet_div(c, x[0], x[1]));
    return duet_tanh(c, t);
}

/* ---- a reference NumPy broadcast for the expected values ---- */
typedef struct shp {
    int rank;
    int64_t d[DUET_MAX_RANK];
} shp;

static int64_t shp_numel(const shp *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) n *= s->d[i];
    return n;
}

static shp bcast_shape(const shp *a, const shp *b)
{
    shp o = {a->rank > b->rank ? a->rank : b->rank, {0}};
    for (int i = 0; i < o.rank; i++) {
        int ia = i - (o.rank - a->rank), ib = i - (o.rank - b->rank);
        int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
        o.d[i] = da == 1 ? db : da;
    }
    return o;
}

/* flat index into x of the element of out at flat index k */
static int64_t bcast_index(const shp *x, const shp *out, int64_t k)
{
    int64_t idx = 0, stride = 1;
    for (int i = out->rank - 1; i >= 0; i--) {
        int64_t coord = k % out->d[i];
        k /= out->d[i];
        int ix = i - (out->rank - x->rank);
        if (ix < 0) continue;
        if (x->d[ix] != 1) idx += coord * stride;
        stride *= x->d[ix];
    }
    return idx;
}

static void check_binary_case(const shp *sa, const shp *sb)
{
    float a[64], b[64], expect[256];
    tu_fill(a, (int)shp_numel(sa), 3, -3.0f, 3.0f);
    tu_fill(b, (int)shp_numel(sb), 4, 0.5f, 2.5f); /* nonzero: also the divisor */
    shp so = bcast_shape(sa, sb);
    tu_input in[2] = {{DUET_F32, sa->rank, {0}, a, true}, {DUET_F32, sb->rank, {0}, b, true}};
    memcpy(in[0].shape, sa->d, sizeof sa->d);
    memcpy(in[1].shape, sb->d, sizeof sb->d);
    for (int o = 0; o < 4; o++) {
        for (int64_t k = 0; k < shp_numel(&so); k++)
            expect[k] = apply_bin_f32(BIN_OPS[o].sym, a[bcast_index(sa, &so, k)],
                                      b[bcast_index(sb, &so, k)]);
        tu_check_forward(body_bin, (void *)&BIN_OPS[o], in, 2, so.rank, so.d, expect, 0.0f);
    }
}

static void test_add_forward(void **state)
{
    (void)state;
    float a[6] = {1, 2, 3, 4, 5, 6}, b[3] = {10, 20, 30};
    tu_input in[2] = {{DUET_F32, 2, {2, 3}, a, true}, {DUET_F32, 1, {3}, b, true}};
    float expect[6] = {11, 22, 33, 14, 25, 36};
    tu_check_forward(body_bin, (void *)&BIN_OPS[0], in, 2, 2, (int64_t[]){2, 3}, expect, 0);
}

/* A hand-written case per op: (2, 1) op (1, 3) -> (2, 3). */
static void test_outer_forward(void **state)
{
    (void)state;
    float a[2] = {2, 8}, b[3] = {1, 2, 4};
    tu_input in[2] = {{DUET_F32, 2, {2, 1}, a, false}, {DUET_F32, 2, {1, 3}, b, false}};
    const float expect[4][6] = {{3, 4, 6, 9, 10, 12},
                                {1, 0, -2, 7, 6, 4},
                                {2, 4, 8, 8, 16, 32},
                                {2, 1, 0.5f, 8, 4, 2}};
    for (int o = 0; o < 4; o++)
        tu_check_forward(body_bin, (void *)&BIN_OPS[o], in, 2, 2, (int64_t[]){2, 3}, expect[o], 0);
}

/* Every op over the broadcasting patterns, against the reference broadcast. */
static void test_binary_broadcast_forward(void **state)
{
    (void)state;
    const shp cases[][2] = {
        {{2, {2, 3}}, {1, {3}}},        /* (2,3) + (3,) */
        {{1, {3}}, {2, {2, 3}}},        /* (3,) + (2,3) */
        {{2, {2, 1}}, {2, {1, 3}}},     /* (2,1) + (1,3) */
        {{2, {2, 3}}, {0, {0}}},        /* tensor + scalar */
        {{0, {0}}, {2, {2, 3}}},        /* scalar + tensor */
        {{0, {0}}, {0, {0}}},           /* scalar + scalar */
        {{2, {2, 3}}, {2, {2, 3}}},     /* same shape */
        {{3, {2, 1, 4}}, {2, {3, 1}}},  /* (2,1,4) + (3,1) -> (2,3,4) */
        {{3, {1, 3, 1}}, {3, {2, 1, 4}}},
        {{2, {3, 4}}, {2, {3, 1}}},     /* row broadcast in the last dim */
        {{2, {1, 4}}, {2, {3, 4}}},
        {{2, {0, 3}}, {1, {3}}},        /* empty */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_binary_case(&cases[i][0], &cases[i][1]);
}

/* ---- i32 arithmetic ---- */
static duet_tensor *i32_const(duet_ctx *c, int rank, const int64_t *shape, const int32_t *v)
{
    return duet_constant(c, DUET_I32, rank, shape, v);
}

static void check_i32(const duet_tensor *t, int rank, const int64_t *shape, const int32_t *expect)
{
    assert_false(duet_is_poison(t));
    assert_int_equal(t->dtype, DUET_I32);
    assert_int_equal(t->rank, rank);
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        assert_int_equal(t->shape[i], shape[i]);
        n *= shape[i];
    }
    for (int64_t i = 0; i < n; i++)
        if (duet_get_i32(t, i) != expect[i])
            fail_msg("element %lld: got %d, expected %d", (long long)i, duet_get_i32(t, i), expect[i]);
}

static void test_i32_arithmetic(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    const int32_t av[6] = {7, -7, 100, 0, INT32_MAX, INT32_MIN};
    const int32_t bv[6] = {2, 2, -3, 5, 1, -1};
    const int64_t s6[1] = {6};
    duet_tensor *a = i32_const(c, 1, s6, av), *b = i32_const(c, 1, s6, bv);
    /* two's complement wraparound; division truncates toward zero */
    check_i32(duet_add(c, a, b), 1, s6, (const int32_t[]){9, -5, 97, 5, INT32_MIN, INT32_MAX});
    check_i32(duet_sub(c, a, b), 1, s6, (const int32_t[]){5, -9, 103, -5, INT32_MAX - 1, INT32_MIN + 1});
    check_i32(duet_mul(c, a, b), 1, s6, (const int32_t[]){14, -14, -300, 0, INT32_MAX, INT32_MIN});
    check_i32(duet_div(c, a, b), 1, s6, (const int32_t[]){3, -3, -33, 0, INT32_MAX, 0});
    /* division by zero gives 0 instead of trapping */
    duet_tensor *z = duet_scalar_i32(c, 0);
    check_i32(duet_div(c, a, z), 1, s6, (const int32_t[]){0, 0, 0, 0, 0, 0});

    /* broadcasting: (2,3) + (3,), (2,1) * (1,3), scalar - tensor */
    const int32_t m23[6] = {1, 2, 3, 4, 5, 6}, r3[3] = {10, 20, 30};
    duet_tensor *m = i32_const(c, 2, (int64_t[]){2, 3}, m23), *r = i32_const(c, 1, (int64_t[]){3}, r3);
    check_i32(duet_add(c, m, r), 2, (int64_t[]){2, 3}, (const int32_t[]){11, 22, 33, 14, 25, 36});
    duet_tensor *col = i32_const(c, 2, (int64_t[]){2, 1}, (const int32_t[]){2, -3});
    duet_tensor *row = i32_const(c, 2, (int64_t[]){1, 3}, (const int32_t[]){1, 5, 7});
    check_i32(duet_mul(c, col, row), 2, (int64_t[]){2, 3}, (const int32_t[]){2, 10, 14, -3, -15, -21});
    check_i32(duet_sub(c, duet_scalar_i32(c, 100), m), 2, (int64_t[]){2, 3},
              (const int32_t[]){99, 98, 97, 96, 95, 94});
    check_i32(duet_div(c, m, duet_scalar_i32(c, -2)), 2, (int64_t[]){2, 3},
              (const int32_t[]){0, -1, -1, -2, -2, -3});
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    duet_ctx_free(c);
}

/* ---- unary maps ---- */
static void check_unary_forward(const un_op *op, const float *x, int n)
{
    float expect[64];
    for (int i = 0; i < n; i++) expect[i] = (float)op->ref((double)x[i]);
    tu_input in[1] = {{DUET_F32, 2, {1, n}, x, false}};
    tu_check_forward(body_un, (void *)op, in, 1, 2, (int64_t[]){1, n}, expect, FWD_TOL);
}

static void test_unary_forward(void **state)
{
    (void)state;
    const float any[8] = {-2.0f, -1.25f, -0.5f, 0.0f, 0.25f, 0.75f, 1.5f, 2.0f};
    const float pos[6] = {0.01f, 0.25f, 1.0f, 2.0f, 4.0f, 9.0f};
    check_unary_forward(&UN_NEG, any, 8);
    check_unary_forward(&UN_EXP, any, 8);
    check_unary_forward(&UN_LOG, pos, 6);
    check_unary_forward(&UN_SQRT, pos, 6);
    check_unary_forward(&UN_RSQRT, pos, 6);
    check_unary_forward(&UN_RELU, any, 8);
    check_unary_forward(&UN_TANH, any, 8);

    /* hand values */
    float e1[3] = {2.0f, -0.0f, 0.0f};
    tu_input in1[1] = {{DUET_F32, 1, {3}, (const float[]){-2.0f, 0.0f, -0.0f}, false}};
    tu_check_forward(body_un, (void *)&UN_NEG, in1, 1, 1, (int64_t[]){3}, e1, 0);
    float e2[4] = {0.0f, 0.0f, 0.5f, 3.0f};
    tu_input in2[1] = {{DUET_F32, 1, {4}, (const float[]){-3.0f, 0.0f, 0.5f, 3.0f}, false}};
    tu_check_forward(body_un, (void *)&UN_RELU, in2, 1, 1, (int64_t[]){4}, e2, 0);
    float e3[3] = {1.0f, 3.0f, 0.5f};
    tu_input in3[1] = {{DUET_F32, 1, {3}, (const float[]){1.0f, 9.0f, 0.25f}, false}};
    tu_check_forward(body_un, (void *)&UN_SQRT, in3, 1, 1, (int64_t[]){3}, e3, 0);
    float e4[3] = {1.0f, 0.5f, 2.0f};
    tu_input in4[1] = {{DUET_F32, 1, {3}, (const float[]){1.0f, 4.0f, 0.25f}, false}};
    tu_check_forward(body_un, (void *)&UN_RSQRT, in4, 1, 1, (int64_t[]){3}, e4, 0);
    /* log(0) = -inf, exp of a large value = inf */
    float e5[1] = {-INFINITY};
    tu_input in5[1] = {{DUET_F32, 0, {0}, (const float[]){0.0f}, false}};
    tu_check_forward(body_un, (void *)&UN_LOG, in5, 1, 0, NULL, e5, 0);
    float e6[1] = {INFINITY};
    tu_input in6[1] = {{DUET_F32, 0, {0}, (const float[]){100.0f}, false}};
    tu_check_forward(body_un, (void *)&UN_EXP, in6, 1, 0, NULL, e6, 0);
}

static void test_pow_scalar_forward(void **state)
{
    (void)state;
    const float x[5] = {0.25f, 0.5f, 1.0f, 2.0f, 3.0f};
    const float ps[6] = {2.0f, 0.5f, -1.0f, 2.5f, 0.0f, -1.5f};
    for (int k = 0; k < 6; k++) {
        float expect[5];
        for (int i = 0; i < 5; i++) expect[i] = (float)pow((double)x[i], (double)ps[k]);
        tu_input in[1] = {{DUET_F32, 1, {5}, x, false}};
        tu_check_forward(body_pow, (void *)&ps[k], in, 1, 1, (int64_t[]){5}, expect, FWD_TOL);
    }
    /* integer powers of negative bases */
    const float neg[3] = {-2.0f, -1.5f, -0.5f};
    float p3 = 3.0f, cube[3] = {-8.0f, -3.375f, -0.125f};
    tu_input in[1] = {{DUET_F32, 1, {3}, neg, false}};
    tu_check_forward(body_pow, &p3, in, 1, 1, (int64_t[]){3}, cube, FWD_TOL);
}

/* ---- errors ---- */
static void test_errors(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    duet_tensor *f = duet_full(c, DUET_F32, 2, (int64_t[]){2, 3}, 1.0f);
    duet_tensor *i = duet_full(c, DUET_I32, 2, (int64_t[]){2, 3}, 1.0f);
    duet_tensor *b = duet_full(c, DUET_BOOL8, 2, (int64_t[]){2, 3}, 1.0f);
    duet_tensor *f2 = duet_full(c, DUET_F32, 1, (int64_t[]){2}, 1.0f);
    assert_int_equal(duet_ctx_status(c), DUET_OK);

    for (int o = 0; o < 4; o++) {
        /* f32 with i32 */
        assert_true(duet_is_poison(BIN_OPS[o].f(DUET_HERE, c, f, i)));
        assert_int_equal(duet_ctx_status(c), DUET_ERR_DTYPE);
        assert_string_equal(duet_ctx_error(c)->op, BIN_OPS[o].name);
        duet_ctx_clear_error(c);
        /* bool arithmetic */
        assert_true(duet_is_poison(BIN_OPS[o].f(DUET_HERE, c, b, b)));
        assert_int_equal(duet_ctx_status(c), DUET_ERR_DTYPE);
        duet_ctx_clear_error(c);
        /* (2, 3) with (2,) does not broadcast */
        assert_true(duet_is_poison(BIN_OPS[o].f(DUET_HERE, c, f, f2)));
        assert_int_equal(duet_ctx_status(c), DUET_ERR_SHAPE);
        const duet_diag *d = duet_ctx_error(c);
        assert_string_equal(d->op, BIN_OPS[o].name);
        assert_non_null(strstr(d->message, "(2, 3)"));
        assert_non_null(strstr(d->message, "(2,)"));
        duet_ctx_clear_error(c);
    }
    const un_op *un[7] = {&UN_NEG, &UN_EXP, &UN_LOG, &UN_SQRT, &UN_RSQRT, &UN_RELU, &UN_TANH};
    for (int k = 0; k < 7; k++) {
        assert_true(duet_is_poison(un[k]->f(DUET_HERE, c, i)));
        assert_int_equal(duet_ctx_status(c), DUET_ERR_DTYPE);
        assert_string_equal(duet_ctx_error(c)->op, un[k]->name);
        duet_ctx_clear_error(c);
    }
    assert_true(duet_is_poison(duet_pow_scalar(c, i, 2.0f)));
    assert_int_equal(duet_ctx_status(c), DUET_ERR_DTYPE);
    duet_ctx_clear_error(c);
    assert_true(duet_is_poison(duet_exp(c, NULL)));
    assert_int_equal(duet_ctx_status(c), DUET_ERR_ARG);
    duet_ctx_clear_error(c);
    duet_ctx_free(c);
}

/* ---- gradients ---- */
static void check_binary_grad(const shp *sa, const shp *sb)
{
    float a[64], b[64];
    tu_fill(a, (int)shp_numel(sa), 5, -2.0f, 2.0f);
    tu_fill(b, (int)shp_numel(sb), 6, 0.5f, 2.0f); /* the divisor stays >= 0.5 */
    tu_input in[2] = {{DUET_F32, sa->rank, {0}, a, true}, {DUET_F32, sb->rank, {0}, b, true}};
    memcpy(in[0].shape, sa->d, sizeof sa->d);
    memcpy(in[1].shape, sb->d, sizeof sb->d);
    for (int o = 0; o < 4; o++)
        tu_check_grad(body_bin, (void *)&BIN_OPS[o], in, 2, GRAD_H, GRAD_ATOL, GRAD_RTOL);
}

static void test_binary_grad_same_shape(void **state)
{
    (void)state;
    check_binary_grad(&(shp){2, {2, 3}}, &(shp){2, {2, 3}});
}

static void test_binary_grad_broadcast(void **state)
{
    (void)state;
    check_binary_grad(&(shp){2, {2, 3}}, &(shp){1, {3}});
    check_binary_grad(&(shp){1, {3}}, &(shp){2, {2, 3}});
    check_binary_grad(&(shp){2, {2, 1}}, &(shp){2, {1, 3}});
}

static void test_binary_grad_scalar(void **state)
{
    (void)state;
    check_binary_grad(&(shp){2, {2, 3}}, &(shp){0, {0}});
    check_binary_grad(&(shp){0, {0}}, &(shp){2, {2, 3}});
}

static void check_unary_grad(const un_op *op, const float *x, int n)
{
    tu_input in[1] = {{DUET_F32, 2, {2, n / 2}, x, true}};
    tu_check_grad(body_un, (void *)op, in, 1, GRAD_H, GRAD_ATOL, GRAD_RTOL);
}

static void test_unary_grad(void **state)
{
    (void)state;
    const float any[6] = {-1.8f, -1.1f, -0.4f, 0.3f, 0.9f, 1.7f};
    const float pos[6] = {0.5f, 0.8f, 1.2f, 1.7f, 2.5f, 3.0f};
    check_unary_grad(&UN_NEG, any, 6);
    check_unary_grad(&UN_EXP, any, 6);
    check_unary_grad(&UN_LOG, pos, 6);
    check_unary_grad(&UN_SQRT, pos, 6);
    check_unary_grad(&UN_RSQRT, pos, 6);
    check_unary_grad(&UN_RELU, any, 6); /* every |x| >= 0.3 >> h: away from the kink */
    check_unary_grad(&UN_TANH, any, 6);
}

static void test_pow_scalar_grad(void **state)
{
    (void)state;
    const float pos[6] = {0.5f, 0.8f, 1.2f, 1.7f, 2.5f, 3.0f};
    const float ps[5] = {2.0f, 0.5f, -1.0f, 2.5f, -1.5f};
    for (int k = 0; k < 5; k++) {
        tu_input in[1] = {{DUET_F32, 2, {2, 3}, pos, true}};
        tu_check_grad(body_pow, (void *)&ps[k], in, 1, GRAD_H, GRAD_ATOL, GRAD_RTOL);
    }
    const float any[6] = {-1.8f, -1.1f, -0.4f, 0.3f, 0.9f, 1.7f};
    float p3 = 3.0f;
    tu_input in[1] = {{DUET_F32, 2, {2, 3}, any, true}};
    tu_check_grad(body_pow, &p3, in, 1, GRAD_H, GRAD_ATOL, GRAD_RTOL);
}

/* An input used twice and a small chain: gradients accumulate over uses. */
static void test_grad_reuse_and_chain(void **state)
{
    (void)state;
    const float x[6] = {-1.5f, -0.7f, -0.2f, 0.4f, 1.1f, 1.6f};
    tu_input in1[1] = {{DUET_F32, 2, {2, 3}, x, true}};
    tu_check_grad(body_square, NULL, in1, 1, GRAD_H, GRAD_ATOL, GRAD_RTOL);
    float a[6], b[3];
    tu_fill(a, 6, 8, -1.0f, 1.0f);
    tu_fill(b, 3, 9, 0.8f, 1.5f);
    tu_input in2[2] = {{DUET_F32, 2, {2, 3}, a, true}, {DUET_F32, 1, {3}, b, true}};
    tu_check_grad(body_chain, NULL, in2, 2, GRAD_H, GRAD_ATOL, GRAD_RTOL);
}

/* relu's VJP is one relu_grad op with the bits of where(x > 0, g, 0) (also for -0, NaN
 * and a broadcast scalar gradient), and relu_grad's own gradient in g is checked by
 * finite differences (second derivatives of relu). */
static duet_tensor *body_relu_grad(duet_ctx *c, duet_tensor **x, void *u)
{
    (void)u;
    return duet_relu_grad(c, x[0], x[1]);
}

static void test_relu_grad(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    float xv[37], gv[37];
    tu_fill(xv, 37, 4, -2, 2);
    tu_fill(gv, 37, 5, -3, 3);
    xv[0] = -0.0f, xv[1] = 0.0f, xv[2] = NAN, gv[3] = -0.0f;
    duet_tensor *x = duet_constant(c, DUET_F32, 1, (int64_t[]){37}, xv);
    duet_tensor *gs[2] = {duet_constant(c, DUET_F32, 1, (int64_t[]){37}, gv), duet_scalar(c, -1.5f)};
    for (int k = 0; k < 2; k++) {
        duet_tensor *fused = duet_relu_grad(c, x, gs[k]);
        duet_tensor *zero = duet_scalar(c, 0.0f);
        duet_tensor *chain = duet_where(c, duet_greater(c, x, zero), gs[k], zero);
        assert_int_equal(duet_ctx_status(c), DUET_OK);
        assert_memory_equal(fused->data, chain->data, sizeof xv);
    }
    duet_ctx_free(c);
    tu_input in[2] = {{DUET_F32, 1, {34}, xv + 3, false}, {DUET_F32, 1, {34}, gv, true}}; /* no NaN */
    tu_check_grad(body_relu_grad, NULL, in, 2, 1e-2, 1e-3, 1e-2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_forward),
        cmocka_unit_test(test_outer_forward),
        cmocka_unit_test(test_binary_broadcast_forward),
        cmocka_unit_test(test_i32_arithmetic),
        cmocka_unit_test(test_unary_forward),
        cmocka_unit_test(test_pow_scalar_forward),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_binary_grad_same_shape),
        cmocka_unit_test(test_binary_grad_broadcast),
        cmocka_unit_test(test_binary_grad_scalar),
        cmocka_unit_test(test_unary_grad),
        cmocka_unit_test(test_pow_scalar_grad),
        cmocka_unit_test(test_grad_reuse_and_chain),
        cmocka_unit_test(test_relu_grad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
