#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "duet/fn.h"

static float seq[4096]; /* 0, 1, 2, ... */

static int setup(void **state)
{
    (void)state;
    for (int i = 0; i < 4096; i++) seq[i] = (float)i;
    return 0;
}

/* ---- bodies with their parameters ---- */

typedef struct shape_args {
    int rank;
    int64_t dims[DUET_MAX_RANK];
} shape_args;

static duet_tensor *body_reshape(duet_ctx *c, duet_tensor **x, void *u)
{
    shape_args *a = u;
    return duet_reshape(c, x[0], a->rank, a->dims);
}
static duet_tensor *body_sum_to(duet_ctx *c, duet_tensor **x, void *u)
{
    shape_args *a = u;
    return duet_sum_to(c, x[0], a->rank, a->dims);
}
static duet_tensor *body_broadcast_to(duet_ctx *c, duet_tensor **x, void *u)
{
    shape_args *a = u;
    return duet_broadcast_to(c, x[0], a->rank, a->dims);
}
static duet_tensor *body_transpose(duet_ctx *c, duet_tensor **x, void *u)
{
    return duet_transpose(c, x[0], (const int *)u);
}

typedef struct range_args {
    int axis;
    int64_t p, q;
} range_args;

static duet_tensor *body_slice(duet_ctx *c, duet_tensor **x, void *u)
{
    range_args *a = u;
    return duet_slice(c, x[0], a->axis, a->p, a->q);
}
static duet_tensor *body_pad(duet_ctx *c, duet_tensor **x, void *u)
{
    range_args *a = u;
    return duet_pad(c, x[0], a->axis, a->p, a->q);
}

typedef struct concat_args {
    int n, axis;
} concat_args;

static duet_tensor *body_concat(duet_ctx *c, duet_tensor **x, void *u)
{
    concat_args *a = u;
    return duet_concat(c, x, a->n, a->axis);
}

/* The error a body leaves on a fresh context with the given inputs. */
static duet_status run_status(tu_body body, void *user, const tu_input *in, int nin)
{
    float out[4096];
    int r;
    int64_t sh[DUET_MAX_RANK];
    return tu_run(body, user, in, nin, out, 4096, &r, sh);
}

/* ---- reshape ---- */

static void test_reshape_forward(void **state)
{
    (void)state;
    tu_input in = {DUET_F32, 3, {2, 3, 4}, seq, false};
    shape_args explicit_dims = {2, {6, 4}};
    tu_check_forward(body_reshape, &explicit_dims, &in, 1, 2, (int64_t[]){6, 4}, seq, 0);
    shape_args infer = {2, {4, -1}};
    tu_check_forward(body_reshape, &infer, &in, 1, 2, (int64_t[]){4, 6}, seq, 0);
    shape_args flat = {1, {-1}};
    tu_check_forward(body_reshape, &flat, &in, 1, 1, (int64_t[]){24}, seq, 0);
    shape_args mid = {4, {2, -1, 2, 2}};
    tu_check_forward(body_reshape, &mid, &in, 1, 4, (int64_t[]){2, 3, 2, 2}, seq, 0);
    tu_input one = {DUET_F32, 2, {1, 1}, seq + 5, false};
    shape_args scalar = {0, {0}};
    tu_check_forward(body_reshape, &scalar, &one, 1, 0, NULL, (float[]){5}, 0);
    int32_t iv[6] = {1, -2, 3, -4, 5, -6};
    tu_input ii = {DUET_I32, 2, {2, 3}, iv, false};
    shape_args to32 = {2, {3, 2}};
    tu_check_forward(body_reshape, &to32, &ii, 1, 2, (int64_t[]){3, 2},
                     (float[]){1, -2, 3, -4, 5, -6}, 0);
}

static void test_reshape_errors(void **state)
{
    (void)state;
    tu_input in = {DUET_F32, 2, {2, 3}, seq, false};
    shape_args bad = {2, {4, 2}}, two = {2, {-1, -1}}, nodiv = {2, {4, -1}};
    assert_int_equal(run_status(body_reshape, &bad, &in, 1), DUET_ERR_SHAPE);
    assert_int_equal(run_status(body_reshape, &two, &in, 1), DUET_ERR_ARG);
    assert_int_equal(run_status(body_reshape, &nodiv, &in, 1), DUET_ERR_SHAPE);

    duet_ctx *c = duet_ctx_new();
    duet_tensor *x = duet_constant(c, DUET_F32, 2, (int64_t[]){2, 3}, seq);
    assert_true(duet_is_poison(duet_reshape(c, x, 2, (int64_t[]){4, 2})));
    const duet_diag *d = duet_ctx_error(c);
    assert_non_null(d);
    assert_int_equal(d->code, DUET_ERR_SHAPE);
    assert_string_equal(d->op, "reshape");
    assert_non_null(strstr(d->message, "(2, 3)"));
    assert_non_null(strstr(d->message, "(4, 2)"));
    duet_ctx_clear_error(c);
    duet_tensor *y = duet_reshape(c, x, 1, (int64_t[]){6});
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    assert_int_equal(y->shape[0], 6);
    assert_true(y->data == x->data); /* an alias, no copy */
    duet_ctx_free(c);
}

/* ---- transpose ---- */

static void ref_transpose(const float *x, int rank, const int64_t *shape, const int *perm,
                          float *out, int64_t *oshape)
{
    int64_t xst[DUET_MAX_RANK], n = 1;
    for (int d = rank - 1; d >= 0; d--) xst[d] = n, n *= shape[d];
    for (int d = 0; d < rank; d++) oshape[d] = shape[perm[d]];
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, off = 0;
        for (int d = rank - 1; d >= 0; d--) {
            int64_t idx = rem % oshape[d];
            rem /= oshape[d];
            off += idx * xst[perm[d]];
        }
        out[i] = x[off];
    }
}

static void check_transpose(int rank, const int64_t *shape, const int *perm)
{
    float expect[4096];
    int64_t oshape[DUET_MAX_RANK];
    ref_transpose(seq, rank, shape, perm, expect, oshape);
    tu_input in = {DUET_F32, rank, {0}, seq, false};
    memcpy(in.shape, shape, sizeof(int64_t) * (size_t)rank);
    tu_check_forward(body_transpose, (void *)perm, &in, 1, rank, oshape, expect, 0);
}

static void test_transpose_forward(void **state)
{
    (void)state;
    /* rank 2 by hand */
    tu_input in2 = {DUET_F32, 2, {2, 3}, seq, false};
    tu_check_forward(body_transpose, (int[]){1, 0}, &in2, 1, 2, (int64_t[]){3, 2},
                     (float[]){0, 3, 1, 4, 2, 5}, 0);
    /* rank 3 by hand: (2, 1, 2) -> perm (2, 0, 1) -> (2, 2, 1) */
    tu_input in3 = {DUET_F32, 3, {2, 1, 2}, seq, false};
    tu_check_forward(body_transpose, (int[]){2, 0, 1}, &in3, 1, 3, (int64_t[]){2, 2, 1},
                     (float[]){0, 2, 1, 3}, 0);
    /* against the reference */
    check_transpose(2, (int64_t[]){70, 45}, (int[]){1, 0});  /* tiled */
    check_transpose(2, (int64_t[]){1, 45}, (int[]){1, 0});
    check_transpose(3, (int64_t[]){2, 3, 4}, (int[]){0, 2, 1});
    check_transpose(3, (int64_t[]){2, 3, 4}, (int[]){2, 0, 1});
    check_transpose(3, (int64_t[]){2, 3, 4}, (int[]){1, 0, 2});
    check_transpose(3, (int64_t[]){2, 3, 4}, (int[]){0, 1, 2});
    check_transpose(3, (int64_t[]){3, 40, 33}, (int[]){0, 2, 1});
    check_transpose(4, (int64_t[]){2, 3, 4, 5}, (int[]){0, 2, 1, 3}); /* heads split */
    check_transpose(4, (int64_t[]){2, 3, 4, 5}, (int[]){3, 1, 0, 2});
    check_transpose(4, (int64_t[]){2, 3, 4, 5}, (int[]){0, 1, 3, 2});
    check_transpose(4, (int64_t[]){2, 1, 4, 5}, (int[]){2, 3, 1, 0});
}

static void test_transpose_dtypes(void **state)
{
    (void)state;
    int32_t iv[6] = {1, 2, 3, 4, 5, 6};
    tu_input ii = {DUET_I32, 2, {2, 3}, iv, false};
    tu_check_forward(body_transpose, (int[]){1, 0}, &ii, 1, 2, (int64_t[]){3, 2},
                     (float[]){1, 4, 2, 5, 3, 6}, 0);
    uint8_t bv[6] = {1, 0, 0, 1, 1, 0};
    tu_input bi = {DUET_BOOL8, 2, {2, 3}, bv, false};
    tu_check_forward(body_transpose, (int[]){1, 0}, &bi, 1, 2, (int64_t[]){3, 2},
                     (float[]){1, 1, 0, 1, 0, 0}, 0);
    /* bool through the tiled path */
    uint8_t big[40 * 37];
    float expect[40 * 37];
    for (int i = 0; i < 40 * 37; i++) big[i] = (uint8_t)((i * 7) % 3 == 0);
    for (int r = 0; r < 37; r++)
        for (int c = 0; c < 40; c++) expect[r * 40 + c] = big[c * 37 + r];
    tu_input bb = {DUET_BOOL8, 2, {40, 37}, big, false};
    tu_check_forward(body_transpose, (int[]){1, 0}, &bb, 1, 2, (int64_t[]){37, 40}, expect, 0);
}

static void test_transpose_errors(void **state)
{
    (void)state;
    tu_input in = {DUET_F32, 3, {2, 3, 4}, seq, false};
    assert_int_equal(run_status(body_transpose, (int[]){0, 0, 1}, &in, 1), DUET_ERR_AXIS);
    assert_int_equal(run_status(body_transpose, (int[]){0, 1, 3}, &in, 1), DUET_ERR_AXIS);
    assert_int_equal(run_status(body_transpose, (int[]){-1, 0, 1}, &in, 1), DUET_ERR_AXIS);
    duet_ctx *c = duet_ctx_new();
    duet_tensor *x = duet_constant(c, DUET_F32, 2, (int64_t[]){2, 3}, seq);
    duet_transpose(c, x, (int[]){1, 1});
    assert_int_equal(duet_ctx_status(c), DUET_ERR_AXIS);
    assert_non_null(strstr(duet_ctx_error(c)->message, "(1, 1)"));
    duet_ctx_clear_error(c);
    duet_transpose(c, x, NULL);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_ARG);
    duet_ctx_clear_error(c);
    duet_tensor *y = duet_transpose(c, x, (int[]){1, 0});
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    assert_true(duet_get_f32(y, 1) == 3.0f);
    duet_ctx_free(c);
}

/* ---- slice, pad, concat ---- */

static void test_slice_forward(void **state)
{
    (void)state;
    tu_input in = {DUET_F32, 2, {3, 4}, seq, false};
    range_args rows = {0, 1, 3}, cols = {1, 1, 3}, last = {-1, 2, 4}, all = {0, 0, 3};
    tu_check_forward(body_slice, &rows, &in, 1, 2, (int64_t[]){2, 4},
                     (float[]){4, 5, 6, 7, 8, 9, 10, 11}, 0);
    tu_check_forward(body_slice, &cols, &in, 1, 2, (int64_t[]){3, 2},
                     (float[]){1, 2, 5, 6, 9, 10}, 0);
    tu_check_forward(body_slice, &last, &in, 1, 2, (int64_t[]){3, 2},
                     (float[]){2, 3, 6, 7, 10, 11}, 0);
    tu_check_forward(body_slice, &all, &in, 1, 2, (int64_t[]){3, 4}, seq, 0);
    tu_input in3 = {DUET_F32, 3, {2, 3, 2}, seq, false};
    range_args mid = {1, 2, 3};
    tu_check_forward(body_slice, &mid, &in3, 1, 3, (int64_t[]){2, 1, 2}, (float[]){4, 5, 10, 11},
                     0);
    int32_t iv[4] = {7, 8, 9, 10};
    tu_input ii = {DUET_I32, 1, {4}, iv, false};
    range_args one = {0, 1, 2};
    tu_check_forward(body_slice, &one, &ii, 1, 1, (int64_t[]){1}, (float[]){8}, 0);
}

static void test_slice_errors(void **state)
{
    (void)state;
    tu_input in = {DUET_F32, 2, {3, 4}, seq, false};
    range_args past = {1, 2, 5}, backwards = {0, 2, 1}, negative = {0, -2, 1}, axis = {2, 0, 1};
    assert_int_equal(run_status(body_slice, &past, &in, 1), DUET_ERR_ARG);
    assert_int_equal(run_status(body_slice, &backwards, &in, 1), DUET_ERR_ARG);
    assert_int_equal(run_status(body_slice, &negative, &in, 1), DUET_ERR_ARG);
    assert_int_equal(run_status(body_slice, &axis, &in, 1), DUET_ERR_AXIS);
    duet_ctx *c = duet_ctx_new();
    duet_tensor *x = duet_constant(c, DUET_F32, 2, (int64_t[]){3, 4}, seq);
    duet_slice(c, x, 1, 2, 5);
    const duet_diag *d = duet_ctx_error(c);
    assert_non_null(d);
    assert_non_null(strstr(d->message, "[2:5]"));
    assert_non_null(strstr(d->message, "size 4"));
    duet_ctx_clear_error(c);
    duet_tensor *y = duet_slice(c, x, 1, 2, 4);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    assert_true(duet_get_f32(y, 0) == 2.0f);
    duet_ctx_free(c);
}

static void test_pad_forward(void **state)
{
    (void)state;
    tu_input in = {DUET_F32, 2, {2, 3}, seq + 1, false};
    range_args cols = {1, 1, 2}, last = {-1, 0, 1};
    tu_check_forward(body_pad, &cols, &in, 1, 2, (int64_t[]){2, 6},
                     (float[]){0, 1, 2, 3, 0, 0, 0, 4, 5, 6, 0, 0}, 0);
    tu_check_forward(body_pad, &last, &in, 1, 2, (int64_t[]){2, 4},
                     (float[]){1, 2, 3, 0, 4, 5, 6, 0}, 0);
    range_args rows = {0, 2, 1};
    tu_check_forward(body_pad, &rows, &in, 1, 2, (int64_t[]){5, 3},
                     (float[]){0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 0, 0, 0}, 0);
    uint8_t bv[2] = {1, 1};
    tu_input bi = {DUET_BOOL8, 1, {2}, bv, false};
    range_args b = {0, 1, 1};
    tu_check_forward(body_pad, &b, &bi, 1, 1, (int64_t[]){4}, (float[]){0, 1, 1, 0}, 0);
    tu_input in_neg = {DUET_F32, 2, {2, 3}, seq, false};
    range_args neg = {1, -1, 0};
    assert_int_equal(run_status(body_pad, &neg, &in_neg, 1), DUET_ERR_ARG);
}

static void test_concat_forward(void **state)
{
    (void)state;
    /* axis 1 of (2, 1), (2, 2), (2, 3) */
    float a[2] = {1, 2}, b[4] = {3, 4, 5, 6}, c[6] = {7, 8, 9, 10, 11, 12};
    tu_input in[3] = {{DUET_F32, 2, {2, 1}, a, false},
                      {DUET_F32, 2, {2, 2}, b, false},
                      {DUET_F32, 2, {2, 3}, c, false}};
    concat_args ax1 = {3, 1}, axm1 = {3, -1};
    float e1[12] = {1, 3, 4, 7, 8, 9, 2, 5, 6, 10, 11, 12};
    tu_check_forward(body_concat, &ax1, in, 3, 2, (int64_t[]){2, 6}, e1, 0);
    tu_check_forward(body_concat, &axm1, in, 3, 2, (int64_t[]){2, 6}, e1, 0);
    tu_input in0[2] = {{DUET_F32, 2, {1, 3}, c, false}, {DUET_F32, 2, {2, 3}, seq, false}};
    concat_args ax0 = {2, 0};
    tu_check_forward(body_concat, &ax0, in0, 2, 2, (int64_t[]){3, 3},
                     (float[]){7, 8, 9, 0, 1, 2, 3, 4, 5}, 0);
    /* the middle axis of rank 3 */
    float a4[4] = {-1, -2, -3, -4};
    tu_input in3[2] = {{DUET_F32, 3, {2, 1, 2}, a4, false}, {DUET_F32, 3, {2, 2, 2}, seq, false}};
    concat_args mid = {2, 1};
    tu_check_forward(body_concat, &mid, in3, 2, 3, (int64_t[]){2, 3, 2},
                     (float[]){-1, -2, 0, 1, 2, 3, -3, -4, 4, 5, 6, 7}, 0);
    /* i32 and bool */
    int32_t i1[2] = {1, 2}, i2[1] = {3};
    tu_input ii[2] = {{DUET_I32, 1, {2}, i1, false}, {DUET_I32, 1, {1}, i2, false}};
    concat_args v = {2, 0};
    tu_check_forward(body_concat, &v, ii, 2, 1, (int64_t[]){3}, (float[]){1, 2, 3}, 0);
    uint8_t b1[2] = {1, 0}, b2[2] = {0, 1};
    tu_input bb[2] = {{DUET_BOOL8, 2, {1, 2}, b1, false}, {DUET_BOOL8, 2, {1, 2}, b2, false}};
    concat_args vb = {2, 1};
    tu_check_forward(body_concat, &vb, bb, 2, 2, (int64_t[]){1, 4}, (float[]){1, 0, 0, 1}, 0);
}

static void test_concat_errors(void **state)
{
    (void)state;
    tu_input in[2] = {{DUET_F32, 2, {2, 3}, seq, false}, {DUET_F32, 2, {3, 3}, seq, false}};
    concat_args ax1 = {2, 1}, ax2 = {2, 2}, ax0 = {2, 0};
    assert_int_equal(run_status(body_concat, &ax1, in, 2), DUET_ERR_SHAPE);
    assert_int_equal(run_status(body_concat, &ax2, in, 2), DUET_ERR_AXIS);
    int32_t iv[9] = {0};
    tu_input mixed[2] = {{DUET_F32, 2, {2, 3}, seq, false}, {DUET_I32, 2, {3, 3}, iv, false}};
    assert_int_equal(run_status(body_concat, &ax0, mixed, 2), DUET_ERR_DTYPE);
    tu_input ranks[2] = {{DUET_F32, 2, {2, 3}, seq, false}, {DUET_F32, 1, {3}, seq, false}};
    assert_int_equal(run_status(body_concat, &ax0, ranks, 2), DUET_ERR_SHAPE);

    duet_ctx *c = duet_ctx_new();
    duet_tensor *x[2] = {duet_constant(c, DUET_F32, 2, (int64_t[]){2, 3}, seq),
                         duet_constant(c, DUET_F32, 2, (int64_t[]){3, 3}, seq)};
    duet_concat(c, x, 2, 1);
    const duet_diag *d = duet_ctx_error(c);
    assert_non_null(d);
    assert_int_equal(d->code, DUET_ERR_SHAPE);
    assert_non_null(strstr(d->message, "(3, 3)"));
    assert_non_null(strstr(d->message, "(2, 3)"));
    duet_ctx_clear_error(c);
    duet_concat(c, x, 0, 0);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_ARG);
    duet_ctx_clear_error(c);
    duet_tensor *y = duet_concat(c, x, 2, 0);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    assert_int_equal(y->shape[0], 5);
    duet_ctx_free(c);
}

/* ---- sum_to, broadcast_to ---- */

static void test_sum_to_forward(void **state)
{
    (void)state;
    tu_input in = {DUET_F32, 2, {2, 3}, seq, false};
    shape_args row = {1, {3}}, row1 = {2, {1, 3}}, col = {2, {2, 1}}, all = {0, {0}},
               same = {2, {2, 3}};
    tu_check_forward(body_sum_to, &row, &in, 1, 1, (int64_t[]){3}, (float[]){3, 5, 7}, 0);
    tu_check_forward(body_sum_to, &row1, &in, 1, 2, (int64_t[]){1, 3}, (float[]){3, 5, 7}, 0);
    tu_check_forward(body_sum_to, &col, &in, 1, 2, (int64_t[]){2, 1}, (float[]){3, 12}, 0);
    tu_check_forward(body_sum_to, &all, &in, 1, 0, NULL, (float[]){15}, 0);
    tu_check_forward(body_sum_to, &same, &in, 1, 2, (int64_t[]){2, 3}, seq, 0);
    /* (2, 3, 4) -> (3, 1): over axis 0 and axis 2 */
    tu_input in3 = {DUET_F32, 3, {2, 3, 4}, seq, false};
    shape_args mid = {2, {3, 1}};
    /* x[b][r][k] = 12b + 4r + k summed over b < 2, k < 4: 60 + 32r */
    float e[3];
    for (int r = 0; r < 3; r++) e[r] = (float)(60 + 32 * r);
    tu_check_forward(body_sum_to, &mid, &in3, 1, 2, (int64_t[]){3, 1}, e, 0);
    int32_t iv[6] = {1, 2, 3, 4, 5, 6};
    tu_input ii = {DUET_I32, 2, {2, 3}, iv, false};
    tu_check_forward(body_sum_to, &row, &ii, 1, 1, (int64_t[]){3}, (float[]){5, 7, 9}, 0);
}

static void test_broadcast_to_forward(void **state)
{
    (void)state;
    tu_input v = {DUET_F32, 1, {3}, seq + 1, false};
    shape_args two = {2, {2, 3}};
    tu_check_forward(body_broadcast_to, &two, &v, 1, 2, (int64_t[]){2, 3},
                     (float[]){1, 2, 3, 1, 2, 3}, 0);
    tu_input col = {DUET_F32, 2, {3, 1}, seq + 1, false};
    shape_args three = {3, {2, 3, 4}};
    float e[24];
    for (int i = 0; i < 24; i++) e[i] = (float)(1 + (i / 4) % 3);
    tu_check_forward(body_broadcast_to, &three, &col, 1, 3, (int64_t[]){2, 3, 4}, e, 0);
    tu_input s = {DUET_F32, 0, {0}, seq + 7, false};
    shape_args sq = {2, {2, 2}};
    tu_check_forward(body_broadcast_to, &sq, &s, 1, 2, (int64_t[]){2, 2}, (float[]){7, 7, 7, 7},
                     0);
    uint8_t bv[2] = {1, 0};
    tu_input b = {DUET_BOOL8, 2, {2, 1}, bv, false};
    shape_args b23 = {2, {2, 3}};
    tu_check_forward(body_broadcast_to, &b23, &b, 1, 2, (int64_t[]){2, 3},
                     (float[]){1, 1, 1, 0, 0, 0}, 0);
}

static void test_sum_broadcast_errors(void **state)
{
    (void)state;
    tu_input in = {DUET_F32, 2, {2, 3}, seq, false};
    shape_args wrong = {1, {2}}, up = {3, {1, 2, 3}}, neg = {2, {2, -1}};
    assert_int_equal(run_status(body_sum_to, &wrong, &in, 1), DUET_ERR_SHAPE);
    assert_int_equal(run_status(body_sum_to, &up, &in, 1), DUET_ERR_SHAPE);
    assert_int_equal(run_status(body_sum_to, &neg, &in, 1), DUET_ERR_ARG);
    shape_args mismatch = {2, {3, 3}}, down = {1, {3}};
    assert_int_equal(run_status(body_broadcast_to, &mismatch, &in, 1), DUET_ERR_SHAPE);
    assert_int_equal(run_status(body_broadcast_to, &down, &in, 1), DUET_ERR_SHAPE);
}

/* ---- gradients ---- */

static void test_grads(void **state)
{
    (void)state;
    float x[120];
    tu_fill(x, 120, 5, -1, 1);
    float y[120];
    tu_fill(y, 120, 6, -1, 1);
    float z[120];
    tu_fill(z, 120, 7, -1, 1);
    const double h = 1e-2, atol = 1e-3, rtol = 1e-2;

    tu_input r3 = {DUET_F32, 3, {2, 3, 4}, x, true};
    shape_args rs = {2, {4, -1}};
    tu_check_grad(body_reshape, &rs, &r3, 1, h, atol, rtol);

    tu_check_grad(body_transpose, (int[]){2, 0, 1}, &r3, 1, h, atol, rtol);
    tu_input r4 = {DUET_F32, 4, {2, 3, 4, 5}, x, true};
    tu_check_grad(body_transpose, (int[]){0, 2, 1, 3}, &r4, 1, h, atol, rtol);
    tu_check_grad(body_transpose, (int[]){3, 1, 0, 2}, &r4, 1, h, atol, rtol);

    range_args s0 = {0, 1, 2}, s1 = {-1, 1, 3};
    tu_check_grad(body_slice, &s0, &r3, 1, h, atol, rtol);
    tu_check_grad(body_slice, &s1, &r3, 1, h, atol, rtol);

    range_args p0 = {0, 1, 2}, p1 = {1, 0, 3};
    tu_check_grad(body_pad, &p0, &r3, 1, h, atol, rtol);
    tu_check_grad(body_pad, &p1, &r3, 1, h, atol, rtol);

    tu_input cin[3] = {{DUET_F32, 2, {2, 1}, x, true},
                       {DUET_F32, 2, {2, 3}, y, true},
                       {DUET_F32, 2, {2, 2}, z, true}};
    concat_args c1 = {3, 1};
    tu_check_grad(body_concat, &c1, cin, 3, h, atol, rtol);
    tu_input cin0[2] = {{DUET_F32, 2, {1, 3}, x, true}, {DUET_F32, 2, {2, 3}, y, false}};
    concat_args c0 = {2, 0};
    tu_check_grad(body_concat, &c0, cin0, 2, h, atol, rtol);

    shape_args st = {2, {3, 1}};
    tu_check_grad(body_sum_to, &st, &r3, 1, h, atol, rtol);
    shape_args st0 = {0, {0}};
    tu_check_grad(body_sum_to, &st0, &r3, 1, h, atol, rtol);

    tu_input b = {DUET_F32, 2, {3, 1}, x, true};
    shape_args bt = {3, {2, 3, 4}};
    tu_check_grad(body_broadcast_to, &bt, &b, 1, h, atol, rtol);
}

/* ---- graph mode with unknown dims ---- */

static int64_t heads_infer;

/* x (B, T, 8) -> (B, T, 2, 4) -> transpose (B, 2, T, 4) -> back to (B, T, 8) */
static void heads_fn(duet_ctx *c, duet_tensor *const *in, duet_tensor **out, void *u)
{
    (void)u;
    duet_tensor *x = in[0];
    int64_t lead = heads_infer ? DUET_DIM_INFER : x->shape[0];
    duet_tensor *h = duet_reshape(c, x, 4, (int64_t[]){lead, x->shape[1], 2, 4});
    duet_tensor *t = duet_transpose(c, h, (int[]){0, 2, 1, 3});
    duet_tensor *back = duet_transpose(c, t, (int[]){0, 2, 1, 3});
    out[0] = duet_reshape(c, back, 3, (int64_t[]){x->shape[0], x->shape[1], -1});
    out[1] = t;
}

static void check_heads(duet_fn *fn, duet_ctx *c, int64_t b, int64_t t)
{
    duet_tensor *x = duet_constant(c, DUET_F32, 3, (int64_t[]){b, t, 8}, seq);
    duet_tensor *o[2];
    int rc = duet_fn_call(fn, &x, o);
    if (rc) duet_diag_print(stderr, duet_ctx_error(c));
    assert_int_equal(rc, 0);
    assert_int_equal(o[0]->rank, 3);
    assert_int_equal(o[0]->shape[0], b);
    assert_int_equal(o[0]->shape[1], t);
    for (int64_t i = 0; i < b * t * 8; i++) assert_true(duet_get_f32(o[0], i) == (float)i);
    assert_int_equal(o[1]->shape[1], 2);
    assert_int_equal(o[1]->shape[2], t);
    /* o[1][b][h][t][d] = x[b][t][h * 4 + d] */
    int64_t bi = b - 1, hi = 1, ti = t - 1, di = 2;
    assert_true(duet_get_f32(o[1], ((bi * 2 + hi) * t + ti) * 4 + di) ==
                (float)((bi * t + ti) * 8 + hi * 4 + di));
}

static void test_graph_symbolic_reshape(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        heads_infer = k;
        duet_ctx *c = duet_ctx_new();
        duet_fn *fn = duet_fn_new(c, "heads", heads_fn, 1, 2, NULL);
        duet_fn_set_mode(fn, DUET_GRAPH);
        assert_int_equal(duet_fn_relax(fn, "(B,T,_)"), 0);
        check_heads(fn, c, 2, 3);
        check_heads(fn, c, 3, 5);
        assert_int_equal(duet_fn_trace_count(fn), 1);
        duet_fn_free(fn);
        duet_ctx_free(c);
    }
}

/* (B, T, 8) -> (-1, 8): the -1 is B * T, a new unknown bound when the plan runs */
static void flat_fn(duet_ctx *c, duet_tensor *const *in, duet_tensor **out, void *u)
{
    (void)u;
    out[0] = duet_reshape(c, in[0], 2, (int64_t[]){-1, 8});
}

static void test_graph_reshape_infers_product(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    duet_fn *fn = duet_fn_new(c, "flat", flat_fn, 1, 1, NULL);
    duet_fn_set_mode(fn, DUET_GRAPH);
    assert_int_equal(duet_fn_relax(fn, "(B,T,_)"), 0);
    for (int t = 1; t <= 3; t++) {
        duet_tensor *x = duet_constant(c, DUET_F32, 3, (int64_t[]){2, t, 8}, seq), *y;
        assert_int_equal(duet_fn_call(fn, &x, &y), 0);
        assert_int_equal(y->shape[0], 2 * t);
        assert_int_equal(y->shape[1], 8);
        for (int k = 0; k < 2 * t * 8; k++) assert_true(duet_get_f32(y, k) == seq[k]);
    }
    assert_int_equal(duet_fn_trace_count(fn), 1);
    duet_fn_free(fn);
    duet_ctx_free(c);
}

/* Positional table (16, 4) sliced to the unknown T of ids (B, T); its gradient pads
 * back to 16 rows. */
typedef struct pos_user {
    duet_var *table;
} pos_user;

static void pos_fn(duet_ctx *c, duet_tensor *const *in, duet_tensor **out, void *u)
{
    pos_user *p = u;
    duet_tensor *tab = duet_var_read(c, p->table);
    duet_tensor *pos = duet_slice(c, tab, 0, 0, in[0]->shape[1]);             /* (T, 4) */
    duet_tensor *y = duet_mul(c, duet_broadcast_to(c, pos, 3, (int64_t[]){in[0]->shape[0],
                                                                          in[0]->shape[1], 4}),
                              duet_full(c, DUET_F32, 3,
                                        (int64_t[]){in[0]->shape[0], in[0]->shape[1], 4}, 2.0f));
    duet_tensor *loss = duet_sum(c, y, 0, false);
    duet_tensor *g;
    duet_grad(c, loss, &p->table, 1, &g);
    out[0] = y;
    out[1] = g;
}

static void test_graph_symbolic_slice_grad(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    pos_user p = {duet_var_new(c, "pos", DUET_F32, 2, (int64_t[]){16, 4})};
    memcpy(duet_var_f32(p.table), seq, sizeof(float) * 64);
    duet_fn *fn = duet_fn_new(c, "pos", pos_fn, 1, 2, &p);
    duet_fn_set_mode(fn, DUET_GRAPH);
    assert_int_equal(duet_fn_relax(fn, "(B,T)"), 0);
    for (int64_t t = 3; t <= 16; t += 13) {
        int32_t ids[2 * 16] = {0};
        duet_tensor *x = duet_constant(c, DUET_I32, 2, (int64_t[]){2, t}, ids);
        duet_tensor *o[2];
        int rc = duet_fn_call(fn, &x, o);
        if (rc) duet_diag_print(stderr, duet_ctx_error(c));
        assert_int_equal(rc, 0);
        assert_int_equal(o[0]->shape[1], t);
        assert_true(duet_get_f32(o[0], (t + 1) * 4 + 3) == 2.0f * (float)(4 + 3));
        assert_int_equal(o[1]->shape[0], 16);
        for (int64_t r = 0; r < 16; r++)
            for (int k = 0; k < 4; k++)
                assert_true(duet_get_f32(o[1], r * 4 + k) == (r < t ? 4.0f : 0.0f));
    }
    assert_int_equal(duet_fn_trace_count(fn), 1);
    /* T beyond the table: caught when the plan runs */
    int32_t ids[2 * 17] = {0};
    duet_tensor *x = duet_constant(c, DUET_I32, 2, (int64_t[]){2, 17}, ids), *o[2];
    assert_int_equal(duet_fn_call(fn, &x, o), -1);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_ARG);
    duet_fn_free(fn);
    duet_ctx_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reshape_forward),
        cmocka_unit_test(test_reshape_errors),
        cmocka_unit_test(test_transpose_forward),
        cmocka_unit_test(test_transpose_dtypes),
        cmocka_unit_test(test_transpose_errors),
        cmocka_unit_test(test_slice_forward),
        cmocka_unit_test(test_slice_errors),
        cmocka_unit_test(test_pad_forward),
        cmocka_unit_test(test_concat_forward),
        cmocka_unit_test(test_concat_errors),
        cmocka_unit_test(test_sum_to_forward),
        cmocka_unit_test(test_broadcast_to_forward),
        cmocka_unit_test(test_sum_broadcast_errors),
        cmocka_unit_test(test_grads),
        cmocka_unit_test(test_graph_symbolic_reshape),
        cmocka_unit_test(test_graph_reshape_infers_product),
        cmocka_unit_test(test_graph_symbolic_slice_grad),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
