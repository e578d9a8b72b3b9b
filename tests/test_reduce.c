/* sum, max, any, size, mean: forward values (every dtype, axes combinations,
 * keepdims, all axes, empty reductions, accuracy of long f32 sums), gradients of
 * sum, max and mean, error paths, the shape rules on symbolic dims, and f32 sums
 * under the opt-in DUET_PASS_REASSOC. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
/* white-box: the shape rules are called directly on symbolic shapes */
#include "../engine/src/internal.h"

#define S(...) ((int64_t[]){__VA_ARGS__})

typedef struct red_args {
    unsigned axes;
    bool keepdims;
} red_args;

static duet_tensor *body_sum(duet_ctx *c, duet_tensor **x, void *u)
{
    const red_args *r = u;
    return duet_sum(c, x[0], r->axes, r->keepdims);
}
static duet_tensor *body_max(duet_ctx *c, duet_tensor **x, void *u)
{
    const red_args *r = u;
    return duet_max(c, x[0], r->axes, r->keepdims);
}
static duet_tensor *body_any(duet_ctx *c, duet_tensor **x, void *u)
{
    const red_args *r = u;
    return duet_any(c, x[0], r->axes, r->keepdims);
}
static duet_tensor *body_mean(duet_ctx *c, duet_tensor **x, void *u)
{
    const red_args *r = u;
    return duet_mean(c, x[0], r->axes, r->keepdims);
}
static duet_tensor *body_size(duet_ctx *c, duet_tensor **x, void *u)
{
    return duet_size(c, x[0], ((const red_args *)u)->axes);
}

enum { RSUM, RMAX, RANY };

/* Reference reduction of a row-major x (values as double) over mask (0 = all). */
static void ref_reduce(int kind, const double *x, int rank, const int64_t *shape, unsigned mask,
                       bool keepdims, double *out, int *orank, int64_t *oshape)
{
    if (!mask) mask = (1u << rank) - 1u;
    int64_t n = 1, nout = 1;
    *orank = 0;
    for (int d = 0; d < rank; d++) {
        n *= shape[d];
        if ((mask >> d) & 1u) {
            if (keepdims) oshape[(*orank)++] = 1;
        } else {
            oshape[(*orank)++] = shape[d];
            nout *= shape[d];
        }
    }
    for (int64_t o = 0; o < nout; o++)
        out[o] = kind == RSUM ? 0.0 : kind == RMAX ? -INFINITY : 0.0;
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, o = 0, ostride = 1;
        for (int d = rank - 1; d >= 0; d--) {
            int64_t idx = rem % shape[d];
            rem /= shape[d];
            if (!((mask >> d) & 1u)) {
                o += idx * ostride;
                ostride *= shape[d];
            }
        }
        if (kind == RSUM) out[o] += x[i];
        else if (kind == RMAX) out[o] = x[i] > out[o] ? x[i] : out[o];
        else out[o] = (out[o] != 0 || x[i] != 0) ? 1 : 0;
    }
}

/* Runs kind over every axes mask of a (2,3,4) tensor, both keepdims, vs the reference. */
static void check_all_masks(int kind, duet_dtype dt, const void *data, const double *xd)
{
    int64_t shape[3] = {2, 3, 4};
    tu_body body = kind == RSUM ? body_sum : kind == RMAX ? body_max : body_any;
    for (unsigned mask = 0; mask < 8; mask++)
        for (int keep = 0; keep < 2; keep++) {
            red_args r = {mask, keep};
            double ref[24];
            float expect[24];
            int orank;
            int64_t oshape[3];
            ref_reduce(kind, xd, 3, shape, mask, keep, ref, &orank, oshape);
            for (int i = 0; i < 24; i++) expect[i] = (float)ref[i];
            tu_input in[1] = {{dt, 3, {2, 3, 4}, data, false}};
            tu_check_forward(body, &r, in, 1, orank, oshape, expect, 1e-5f);
        }
}

/* ---- forward ---- */

static void test_sum_2d(void **state)
{
    (void)state;
    float x[6] = {1, 2, 3, 4, 5, 6};
    tu_input in[1] = {{DUET_F32, 2, {2, 3}, x, false}};
    tu_check_forward(body_sum, &(red_args){0, false}, in, 1, 0, NULL, (float[]){21}, 0);
    tu_check_forward(body_sum, &(red_args){0, true}, in, 1, 2, S(1, 1), (float[]){21}, 0);
    tu_check_forward(body_sum, &(red_args){3, false}, in, 1, 0, NULL, (float[]){21}, 0);
    tu_check_forward(body_sum, &(red_args){DUET_AXIS(1), false}, in, 1, 1, S(2),
                     (float[]){6, 15}, 0);
    tu_check_forward(body_sum, &(red_args){DUET_AXIS(1), true}, in, 1, 2, S(2, 1),
                     (float[]){6, 15}, 0);
    tu_check_forward(body_sum, &(red_args){DUET_AXIS(0), false}, in, 1, 1, S(3),
                     (float[]){5, 7, 9}, 0);
    tu_check_forward(body_sum, &(red_args){DUET_AXIS(0), true}, in, 1, 2, S(1, 3),
                     (float[]){5, 7, 9}, 0);
}

static void test_sum_i32(void **state)
{
    (void)state;
    int32_t x[6] = {1, -2, 3, 40, 50, -60};
    tu_input in[1] = {{DUET_I32, 2, {2, 3}, x, false}};
    tu_check_forward(body_sum, &(red_args){0, false}, in, 1, 0, NULL, (float[]){32}, 0);
    tu_check_forward(body_sum, &(red_args){DUET_AXIS(1), false}, in, 1, 1, S(2),
                     (float[]){2, 30}, 0);
    tu_check_forward(body_sum, &(red_args){DUET_AXIS(0), true}, in, 1, 2, S(1, 3),
                     (float[]){41, 48, -57}, 0);
    /* the output keeps the dtype */
    duet_ctx *c = duet_ctx_new();
    duet_tensor *y = duet_sum(c, duet_constant(c, DUET_I32, 2, S(2, 3), x), 0, false);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    assert_int_equal(y->dtype, DUET_I32);
    assert_int_equal(duet_get_i32(y, 0), 32);
    duet_ctx_free(c);
}

static void test_max_f32_i32(void **state)
{
    (void)state;
    float x[6] = {-1, -7, 3, -4, 5, -6};
    tu_input in[1] = {{DUET_F32, 2, {2, 3}, x, false}};
    tu_check_forward(body_max, &(red_args){0, false}, in, 1, 0, NULL, (float[]){5}, 0);
    tu_check_forward(body_max, &(red_args){DUET_AXIS(1), false}, in, 1, 1, S(2),
                     (float[]){3, 5}, 0);
    tu_check_forward(body_max, &(red_args){DUET_AXIS(0), true}, in, 1, 2, S(1, 3),
                     (float[]){-1, 5, 3}, 0);
    int32_t xi[6] = {-10, -7, -30, -4, -50, -6};
    tu_input ini[1] = {{DUET_I32, 2, {2, 3}, xi, false}};
    tu_check_forward(body_max, &(red_args){0, true}, ini, 1, 2, S(1, 1), (float[]){-4}, 0);
    tu_check_forward(body_max, &(red_args){DUET_AXIS(1), false}, ini, 1, 1, S(2),
                     (float[]){-7, -4}, 0);
    tu_check_forward(body_max, &(red_args){DUET_AXIS(0), false}, ini, 1, 1, S(3),
                     (float[]){-4, -7, -6}, 0);
}

static void test_max_nan_propagates(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    float x[6] = {1, NAN, 3, 4, 5, 6};
    duet_tensor *t = duet_constant(c, DUET_F32, 2, S(2, 3), x);
    duet_tensor *rows = duet_max(c, t, DUET_AXIS(1), false);
    duet_tensor *cols = duet_max(c, t, DUET_AXIS(0), false);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    assert_true(isnan(duet_get_f32(rows, 0)));
    assert_true(duet_get_f32(rows, 1) == 6);
    assert_true(duet_get_f32(cols, 0) == 4);
    assert_true(isnan(duet_get_f32(cols, 1)));
    assert_true(duet_get_f32(cols, 2) == 6);
    duet_ctx_free(c);
}

static void test_any(void **state)
{
    (void)state;
    uint8_t x[6] = {0, 0, 0, 0, 1, 0};
    tu_input in[1] = {{DUET_BOOL8, 2, {2, 3}, x, false}};
    tu_check_forward(body_any, &(red_args){0, false}, in, 1, 0, NULL, (float[]){1}, 0);
    tu_check_forward(body_any, &(red_args){DUET_AXIS(1), false}, in, 1, 1, S(2),
                     (float[]){0, 1}, 0);
    tu_check_forward(body_any, &(red_args){DUET_AXIS(0), true}, in, 1, 2, S(1, 3),
                     (float[]){0, 1, 0}, 0);
    uint8_t z[4] = {0};
    tu_input inz[1] = {{DUET_BOOL8, 1, {4}, z, false}};
    tu_check_forward(body_any, &(red_args){0, false}, inz, 1, 0, NULL, (float[]){0}, 0);
}

/* Every axes mask of a rank-3 tensor, including the non-contiguous {0, 2}. */
static void test_all_masks_3d(void **state)
{
    (void)state;
    float xf[24];
    int32_t xi[24];
    uint8_t xb[24];
    double xd[24], xdi[24], xdb[24];
    tu_fill(xf, 24, 7, -5, 5);
    for (int i = 0; i < 24; i++) {
        xd[i] = xf[i];
        xi[i] = (i * 37) % 23 - 11;
        xdi[i] = xi[i];
        xb[i] = (i % 7) == 3;
        xdb[i] = xb[i];
    }
    check_all_masks(RSUM, DUET_F32, xf, xd);
    check_all_masks(RMAX, DUET_F32, xf, xd);
    check_all_masks(RSUM, DUET_I32, xi, xdi);
    check_all_masks(RMAX, DUET_I32, xi, xdi);
    check_all_masks(RANY, DUET_BOOL8, xb, xdb);
}

/* Rank 4 with two separated reduced groups and size-1 dims (the generic walk). */
static void test_rank4_generic(void **state)
{
    (void)state;
    int64_t shape[4] = {3, 1, 4, 5};
    float x[60];
    double xd[60];
    tu_fill(x, 60, 8, -1, 1);
    for (int i = 0; i < 60; i++) xd[i] = x[i];
    unsigned masks[] = {DUET_AXIS(0) | DUET_AXIS(3), DUET_AXIS(0) | DUET_AXIS(2),
                        DUET_AXIS(1) | DUET_AXIS(3), DUET_AXIS(1), DUET_AXIS(0) | DUET_AXIS(1)};
    for (size_t m = 0; m < sizeof masks / sizeof *masks; m++)
        for (int kind = RSUM; kind <= RMAX; kind++)
            for (int keep = 0; keep < 2; keep++) {
                red_args r = {masks[m], keep};
                double ref[60];
                float expect[60];
                int orank;
                int64_t oshape[4];
                ref_reduce(kind, xd, 4, shape, masks[m], keep, ref, &orank, oshape);
                for (int i = 0; i < 60; i++) expect[i] = (float)ref[i];
                tu_input in[1] = {{DUET_F32, 4, {3, 1, 4, 5}, x, false}};
                tu_check_forward(kind == RSUM ? body_sum : body_max, &r, in, 1, orank, oshape,
                                 expect, 1e-5f);
            }
}

/* Wide inner dims take the column-block path (more than one block). */
static void test_wide_columns(void **state)
{
    (void)state;
    enum { R = 5, C = 700 };
    duet_ctx *c = duet_ctx_new();
    static float x[R * C];
    tu_fill(x, R * C, 9, -3, 3);
    duet_tensor *t = duet_constant(c, DUET_F32, 2, S(R, C), x);
    duet_tensor *s = duet_sum(c, t, DUET_AXIS(0), false);
    duet_tensor *m = duet_max(c, t, DUET_AXIS(0), true);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    assert_int_equal(m->rank, 2);
    for (int j = 0; j < C; j++) {
        double ss = 0;
        float mm = -INFINITY;
        for (int i = 0; i < R; i++) {
            ss += x[i * C + j];
            mm = x[i * C + j] > mm ? x[i * C + j] : mm;
        }
        assert_true(fabs(duet_get_f32(s, j) - ss) < 1e-5);
        assert_true(duet_get_f32(m, j) == mm);
    }
    duet_ctx_free(c);
}

/* A long f32 sum is accurate: float accumulation would drift by ~1e3 here. */
static void test_sum_accuracy(void **state)
{
    (void)state;
    enum { N = 1 << 22 };
    float *x = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) x[i] = 0.1f;
    duet_ctx *c = duet_ctx_new();
    duet_tensor *t = duet_constant(c, DUET_F32, 1, S(N), x);
    duet_tensor *all = duet_sum(c, t, 0, false);
    duet_tensor *rows = duet_sum(c, duet_constant(c, DUET_F32, 2, S(4, N / 4), x), DUET_AXIS(1),
                                 false);
    duet_tensor *cols = duet_sum(c, duet_constant(c, DUET_F32, 2, S(N / 4, 4), x), DUET_AXIS(0),
                                 false);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    double want = (double)0.1f * N;
    assert_true(fabs(duet_get_f32(all, 0) - want) <= 1e-6 * want);
    for (int i = 0; i < 4; i++) {
        assert_true(fabs(duet_get_f32(rows, i) - want / 4) <= 1e-6 * want);
        assert_true(fabs(duet_get_f32(cols, i) - want / 4) <= 1e-6 * want);
    }
    duet_ctx_free(c);
    free(x);
}

/* Reducing an empty axis gives the identity: 0 for sum, -inf / INT32_MIN for max. */
static void test_empty_reduction(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    duet_tensor *f = duet_full(c, DUET_F32, 2, S(2, 0), 1.0f);
    duet_tensor *i = duet_full(c, DUET_I32, 2, S(2, 0), 1.0f);
    duet_tensor *b = duet_full(c, DUET_BOOL8, 2, S(2, 0), 1.0f);
    duet_tensor *s = duet_sum(c, f, DUET_AXIS(1), false);
    duet_tensor *m = duet_max(c, f, DUET_AXIS(1), false);
    duet_tensor *mi = duet_max(c, i, 0, true);
    duet_tensor *a = duet_any(c, b, DUET_AXIS(1), false);
    duet_tensor *none = duet_sum(c, f, DUET_AXIS(0), false); /* (0,): nothing to write */
    duet_tensor *n = duet_size(c, f, 0);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    for (int k = 0; k < 2; k++) {
        assert_true(duet_get_f32(s, k) == 0.0f);
        assert_true(isinf(duet_get_f32(m, k)) && duet_get_f32(m, k) < 0);
        assert_int_equal(duet_get_i32(a, k), 0);
    }
    assert_int_equal(mi->rank, 2);
    assert_int_equal(duet_get_i32(mi, 0), INT32_MIN);
    assert_int_equal(none->rank, 1);
    assert_int_equal(none->shape[0], 0);
    assert_true(duet_get_f32(n, 0) == 0.0f);
    duet_ctx_free(c);
}

static void test_scalar_and_size1(void **state)
{
    (void)state;
    float v = 4.5f;
    tu_input sc[1] = {{DUET_F32, 0, {0}, &v, false}};
    tu_check_forward(body_sum, &(red_args){0, false}, sc, 1, 0, NULL, (float[]){4.5f}, 0);
    tu_check_forward(body_max, &(red_args){0, true}, sc, 1, 0, NULL, (float[]){4.5f}, 0);
    tu_check_forward(body_size, &(red_args){0, false}, sc, 1, 0, NULL, (float[]){1}, 0);
    tu_check_forward(body_mean, &(red_args){0, false}, sc, 1, 0, NULL, (float[]){4.5f}, 0);
    float x[3] = {1, 2, 3};
    tu_input in[1] = {{DUET_F32, 3, {1, 3, 1}, x, false}};
    tu_check_forward(body_sum, &(red_args){DUET_AXIS(0) | DUET_AXIS(2), false}, in, 1, 1, S(3),
                     x, 0);
    tu_check_forward(body_sum, &(red_args){DUET_AXIS(1), true}, in, 1, 3, S(1, 1, 1),
                     (float[]){6}, 0);
}

static void test_size_and_mean(void **state)
{
    (void)state;
    float x[24];
    for (int i = 0; i < 24; i++) x[i] = (float)i;
    tu_input in[1] = {{DUET_F32, 3, {2, 3, 4}, x, false}};
    tu_check_forward(body_size, &(red_args){0, false}, in, 1, 0, NULL, (float[]){24}, 0);
    tu_check_forward(body_size, &(red_args){DUET_AXIS(0) | DUET_AXIS(2), false}, in, 1, 0, NULL,
                     (float[]){8}, 0);
    tu_check_forward(body_size, &(red_args){DUET_AXIS(1), false}, in, 1, 0, NULL, (float[]){3},
                     0);
    tu_check_forward(body_mean, &(red_args){0, false}, in, 1, 0, NULL, (float[]){11.5f}, 1e-6f);
    tu_check_forward(body_mean, &(red_args){DUET_AXIS(2), false}, in, 1, 2, S(2, 3),
                     (float[]){1.5f, 5.5f, 9.5f, 13.5f, 17.5f, 21.5f}, 1e-6f);
    tu_check_forward(body_mean, &(red_args){DUET_AXIS(0) | DUET_AXIS(1), true}, in, 1, 3,
                     S(1, 1, 4), (float[]){10, 11, 12, 13}, 1e-6f);
    /* size does not need the values; its output is an f32 scalar */
    int32_t xi[6] = {0};
    tu_input ini[1] = {{DUET_I32, 2, {2, 3}, xi, false}};
    tu_check_forward(body_size, &(red_args){DUET_AXIS(0), false}, ini, 1, 0, NULL, (float[]){2},
                     0);
}

/* ---- gradients ---- */

static void test_sum_grad(void **state)
{
    (void)state;
    float x[24];
    tu_fill(x, 24, 21, -1, 1);
    tu_input in[1] = {{DUET_F32, 3, {2, 3, 4}, x, true}};
    unsigned masks[] = {0, DUET_AXIS(0), DUET_AXIS(1), DUET_AXIS(2), DUET_AXIS(0) | DUET_AXIS(2)};
    for (size_t m = 0; m < sizeof masks / sizeof *masks; m++)
        for (int keep = 0; keep < 2; keep++)
            tu_check_grad(body_sum, &(red_args){masks[m], keep}, in, 1, 1e-2, 1e-3, 1e-3);
}

static void test_max_grad(void **state)
{
    (void)state;
    float x[24];
    for (int i = 0; i < 24; i++) x[i] = (float)((i * 7) % 24) * 0.25f - 3.0f; /* distinct */
    tu_input in[1] = {{DUET_F32, 3, {2, 3, 4}, x, true}};
    unsigned masks[] = {0, DUET_AXIS(0), DUET_AXIS(1), DUET_AXIS(2), DUET_AXIS(0) | DUET_AXIS(2)};
    for (size_t m = 0; m < sizeof masks / sizeof *masks; m++)
        for (int keep = 0; keep < 2; keep++)
            tu_check_grad(body_max, &(red_args){masks[m], keep}, in, 1, 1e-2, 1e-3, 1e-3);
}

/* Ties share the gradient equally (not checkable by finite differences). */
static void test_max_grad_ties(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    duet_var *v = duet_var_new(c, "x", DUET_F32, 2, S(2, 3));
    float init[6] = {2, 1, 2, 0, 5, 3};
    memcpy(duet_var_f32(v), init, sizeof init);
    duet_tensor *y = duet_max(c, duet_var_read(c, v), DUET_AXIS(1), false);
    duet_tensor *loss = duet_sum(c, y, 0, false);
    duet_tensor *g;
    assert_int_equal(duet_grad(c, loss, &v, 1, &g), 0);
    float expect[6] = {0.5f, 0, 0.5f, 0, 1, 0};
    for (int i = 0; i < 6; i++) assert_true(fabsf(duet_get_f32(g, i) - expect[i]) < 1e-6f);
    duet_ctx_free(c);
}

static void test_mean_grad(void **state)
{
    (void)state;
    float x[24];
    tu_fill(x, 24, 22, -1, 1);
    tu_input in[1] = {{DUET_F32, 3, {2, 3, 4}, x, true}};
    tu_check_grad(body_mean, &(red_args){0, false}, in, 1, 1e-2, 1e-3, 1e-3);
    tu_check_grad(body_mean, &(red_args){DUET_AXIS(2), false}, in, 1, 1e-2, 1e-3, 1e-3);
    tu_check_grad(body_mean, &(red_args){DUET_AXIS(0) | DUET_AXIS(1), true}, in, 1, 1e-2, 1e-3,
                  1e-3);
}

/* ---- errors ---- */

static void test_errors(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    float f6[6] = {1, 2, 3, 4, 5, 6};
    int32_t i6[6] = {0};
    uint8_t b6[6] = {0};
    duet_tensor *f = duet_constant(c, DUET_F32, 2, S(2, 3), f6);
    duet_tensor *i = duet_constant(c, DUET_I32, 2, S(2, 3), i6);
    duet_tensor *b = duet_constant(c, DUET_BOOL8, 2, S(2, 3), b6);
    assert_int_equal(duet_ctx_status(c), DUET_OK);

    assert_true(duet_is_poison(duet_sum(c, b, 0, false)));
    tu_expect_error(c, DUET_ERR_DTYPE, "sum", "bool (2, 3)");
    duet_max(c, b, DUET_AXIS(0), false);
    tu_expect_error(c, DUET_ERR_DTYPE, "max", "bool");
    duet_any(c, f, 0, false);
    tu_expect_error(c, DUET_ERR_DTYPE, "any", "f32 (2, 3); need bool");
    duet_mean(c, i, 0, false);
    tu_expect_error(c, DUET_ERR_DTYPE, "mean", "input is i32");

    duet_sum(c, f, DUET_AXIS(2), false);
    tu_expect_error(c, DUET_ERR_AXIS, "sum", "axis 2");
    duet_max(c, i, DUET_AXIS(0) | DUET_AXIS(5), true);
    tu_expect_error(c, DUET_ERR_AXIS, "max", "rank 2");
    duet_any(c, b, DUET_AXIS(3), false);
    tu_expect_error(c, DUET_ERR_AXIS, "any", "(2, 3)");
    duet_size(c, f, DUET_AXIS(2));
    tu_expect_error(c, DUET_ERR_AXIS, "size", "axis 2");
    /* the error names the op called, not the primitive op of the composite that failed */
    duet_mean(c, f, DUET_AXIS(7), false);
    tu_expect_error(c, DUET_ERR_AXIS, "mean", "axis 7");
    duet_sum(c, duet_scalar(c, 1.0f), DUET_AXIS(0), false);
    tu_expect_error(c, DUET_ERR_AXIS, "sum", "rank 0");

    /* sticky until cleared */
    duet_sum(c, f, DUET_AXIS(4), false);
    assert_true(duet_is_poison(duet_max(c, f, 0, false)));
    tu_expect_error(c, DUET_ERR_AXIS, "sum", "axis 4");

    /* the context works again */
    duet_tensor *y = duet_mean(c, f, DUET_AXIS(1), false);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    assert_true(duet_get_f32(y, 0) == 2.0f && duet_get_f32(y, 1) == 5.0f);
    duet_ctx_free(c);
}

/* ---- shape rules on symbolic dims ---- */

static void test_symbolic_shapes(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    const int64_t B = DUET_SYM(0), T = DUET_SYM(1);
    duet_tensor x;
    memset(&x, 0, sizeof x);
    x.dtype = DUET_F32;
    x.rank = 3;
    x.shape[0] = B, x.shape[1] = T, x.shape[2] = 8;
    duet_tensor *in[1] = {&x};
    duet_attrs a = {0};
    duet_type ty;

    a.i[0] = DUET_AXIS(2), a.i[1] = 0;
    assert_int_equal(duet_opdef_sum.infer(c, &a, in, 1, &ty), 0);
    assert_int_equal(ty.dtype, DUET_F32);
    assert_int_equal(ty.rank, 2);
    assert_true(ty.shape[0] == B && ty.shape[1] == T);

    a.i[0] = DUET_AXIS(1), a.i[1] = 1;
    assert_int_equal(duet_opdef_max.infer(c, &a, in, 1, &ty), 0);
    assert_int_equal(ty.rank, 3);
    assert_true(ty.shape[0] == B && ty.shape[1] == 1 && ty.shape[2] == 8);

    a.i[0] = 0, a.i[1] = 0;
    assert_int_equal(duet_opdef_sum.infer(c, &a, in, 1, &ty), 0);
    assert_int_equal(ty.rank, 0);

    a.i[0] = DUET_AXIS(0) | DUET_AXIS(1);
    assert_int_equal(duet_opdef_size.infer(c, &a, in, 1, &ty), 0);
    assert_int_equal(ty.dtype, DUET_F32);
    assert_int_equal(ty.rank, 0);

    x.dtype = DUET_BOOL8;
    a.i[0] = DUET_AXIS(0), a.i[1] = 0;
    assert_int_equal(duet_opdef_any.infer(c, &a, in, 1, &ty), 0);
    assert_int_equal(ty.dtype, DUET_BOOL8);
    assert_true(ty.rank == 2 && ty.shape[0] == T && ty.shape[1] == 8);

    a.i[0] = DUET_AXIS(3);
    assert_int_not_equal(duet_opdef_any.infer(c, &a, in, 1, &ty), 0);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_AXIS);
    if (!strstr(duet_ctx_error(c)->message, "(None, None, 8)"))
        fail_msg("message '%s' does not show the symbolic shape", duet_ctx_error(c)->message);
    duet_ctx_free(c);
}

/* ---- DUET_PASS_REASSOC: float accumulation in vector lanes ---- */

typedef struct reassoc_sum {
    unsigned axes;
    const float *captured; /* non-NULL: sum this constant instead of the input */
    int64_t n;
} reassoc_sum;

static void reassoc_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    const reassoc_sum *r = user;
    duet_tensor *x = r->captured ? duet_constant(ctx, DUET_F32, 1, S(r->n), r->captured) : in[0];
    out[0] = duet_sum(ctx, x, r->axes, false);
}

/* The sum of x (rank, shape) over r->axes traced with these passes, into got. */
static void traced_sum(unsigned passes, const reassoc_sum *r, const float *x, int rank,
                       const int64_t *shape, float *got, int64_t n)
{
    duet_ctx *c = duet_ctx_new();
    duet_fn *fn = duet_fn_new(c, "sum", reassoc_body, 1, 1, (void *)r);
    duet_fn_set_passes(fn, passes);
    duet_tensor *in = duet_constant(c, DUET_F32, rank, shape, x), *y;
    assert_int_equal(duet_fn_call(fn, &in, &y), 0);
    assert_int_equal(duet_numel(y), n);
    for (int64_t i = 0; i < n; i++) got[i] = duet_get_f32(y, i);
    duet_fn_free(fn);
    duet_ctx_free(c);
}

static void eager_sum(const reassoc_sum *r, const float *x, int rank, const int64_t *shape,
                      float *want, int64_t n)
{
    duet_ctx *c = duet_ctx_new();
    duet_tensor *in = duet_constant(c, DUET_F32, rank, shape, x), *y;
    reassoc_body(c, &in, &y, (void *)r);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    for (int64_t i = 0; i < n; i++) want[i] = duet_get_f32(y, i);
    duet_ctx_free(c);
}

static int64_t ulps(float a, float b)
{
    int32_t ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    return llabs((int64_t)ia - (int64_t)ib); /* same-signed values only */
}

/* On positive values, float accumulation errs by at most about u per addition on
 * the path from a leaf to the root, relative to the sum: n/8 - 1 in a lane plus 3
 * combining the lanes, n - 1 in order. u * sum is at most one ULP of the sum, and
 * eager's ordered double sum adds half an ULP of rounding: so many ULP + 1 at worst,
 * on every layout the kernel has. Typical differences are far smaller: on rows of
 * this random data, a few ULP, and not all zero. */
static void test_reassoc_within_a_few_ulp(void **state)
{
    (void)state;
    enum { R = 16, C = 1000 };
    static float x[R * C], mag[R * C], want[R * C], got[R * C];
    tu_fill(x, R * C, 5, 0.0f, 1.0f);
    tu_fill(mag, R * C, 6, -4.0f, 4.0f); /* magnitudes from 1e-4 to 1e4 */
    for (int i = 0; i < R * C; i++) x[i] *= powf(10.0f, mag[i]);
    const struct {
        int rank;
        int64_t shape[3];
        unsigned axes;
        int64_t nout, bound;
    } cases[] = {
        {2, {R, C}, DUET_AXIS(1), R, C / 8 + 2 + 1},                /* rows: lanes */
        {1, {R * C}, 0, 1, R * C / 8 + 2 + 1},                      /* all: lanes */
        {2, {R, C}, DUET_AXIS(0), C, R - 1 + 1},                    /* columns: in order */
        {3, {4, 4, C}, DUET_AXIS(0) | DUET_AXIS(2), 4, 4 * C - 1 + 1}, /* generic: in order */
    };
    int64_t largest[sizeof cases / sizeof *cases] = {0};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        reassoc_sum r = {.axes = cases[k].axes};
        eager_sum(&r, x, cases[k].rank, cases[k].shape, want, cases[k].nout);
        traced_sum(DUET_PASS_ALL | DUET_PASS_REASSOC, &r, x, cases[k].rank, cases[k].shape, got,
                   cases[k].nout);
        for (int64_t i = 0; i < cases[k].nout; i++) {
            int64_t d = ulps(got[i], want[i]);
            if (d > cases[k].bound)
                fail_msg("layout %zu [%lld]: %.9g vs eager %.9g, %lld ULP (bound %lld)", k,
                         (long long)i, (double)got[i], (double)want[i], (long long)d,
                         (long long)cases[k].bound);
            if (d > largest[k]) largest[k] = d;
        }
    }
    assert_in_range(largest[0], 1, 8); /* rows of 1000 values: a few ULP (3 here) */
}

/* 1 + 2^-24 rounds to 1 in float (a tie, to even), twice; in double the two halves
 * add up to one ULP of 1. Without the pass the traced sum keeps eager's bits; with
 * it the bits differ, whether the plan runs the sum or folding does. */
static void test_reassoc_changes_bits_only_when_on(void **state)
{
    (void)state;
    const float tiny = ldexpf(1.0f, -24);
    const float x[4] = {1.0f, tiny, tiny, 0.0f};
    float want, got;
    reassoc_sum r = {0};
    eager_sum(&r, x, 1, S(4), &want, 1);
    assert_true(want == 1.0f + 2 * tiny);
    assert_int_equal(DUET_PASS_ALL & DUET_PASS_REASSOC, 0); /* opt-in */
    traced_sum(DUET_PASS_ALL, &r, x, 1, S(4), &got, 1);
    assert_memory_equal(&got, &want, sizeof got);
    traced_sum(DUET_PASS_ALL | DUET_PASS_REASSOC, &r, x, 1, S(4), &got, 1);
    assert_true(got == 1.0f);
    reassoc_sum folded = {.captured = x, .n = 4};
    traced_sum(DUET_PASS_ALL | DUET_PASS_REASSOC, &folded, x, 1, S(4), &got, 1);
    assert_true(got == 1.0f);
}

/* The pass shows up in dumps under its own name, and marks the sum node. */
static void test_reassoc_dump(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    duet_ctx *c = duet_ctx_new();
    reassoc_sum r = {0};
    duet_fn *fn = duet_fn_new(c, "f", reassoc_body, 1, 1, &r);
    duet_fn_set_passes(fn, DUET_PASS_ALL | DUET_PASS_REASSOC);
    duet_fn_set_dump(fn, f, DUET_PASS_REASSOC);
    duet_tensor *in = duet_full(c, DUET_F32, 1, S(3), 1.0f), *y;
    assert_int_equal(duet_fn_call(fn, &in, &y), 0);
    fclose(f);
    assert_non_null(strstr(text, "# f: after reassoc"));
    assert_non_null(strstr(text, "= sum %0 axes=all reassoc"));
    free(text);
    duet_fn_free(fn);
    duet_ctx_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sum_2d),
        cmocka_unit_test(test_sum_i32),
        cmocka_unit_test(test_max_f32_i32),
        cmocka_unit_test(test_max_nan_propagates),
        cmocka_unit_test(test_any),
        cmocka_unit_test(test_all_masks_3d),
        cmocka_unit_test(test_rank4_generic),
        cmocka_unit_test(test_wide_columns),
        cmocka_unit_test(test_sum_accuracy),
        cmocka_unit_test(test_empty_reduction),
        cmocka_unit_test(test_scalar_and_size1),
        cmocka_unit_test(test_size_and_mean),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_symbolic_shapes),
        cmocka_unit_test(test_sum_grad),
        cmocka_unit_test(test_max_grad),
        cmocka_unit_test(test_max_grad_ties),
        cmocka_unit_test(test_mean_grad),
        cmocka_unit_test(test_reassoc_within_a_few_ulp),
        cmocka_unit_test(test_reassoc_changes_bits_only_when_on),
        cmocka_unit_test(test_reassoc_dump),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
