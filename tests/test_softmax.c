/* softmax, log_softmax (incl. masks), sparse_xent and one_hot: forward values,
 * gradients and error paths. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "duet/fn.h"
#include "../engine/src/internal.h"

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

/* ---- the shared numerics ---- */

/* ULPs between got and the double want, counting in the f32 grid at want. */
static double ulps(float got, double want)
{
    int e;
    frexp(want, &e);
    double ulp = ldexp(1.0, e - 24 < -149 ? -149 : e - 24);
    return fabs((double)got - want) / ulp;
}

/* duet_exp_nonpos: <= 0.99 ULP over [-87.5, 0] (measured over every float there; here
 * every 997th bit pattern, a million of them), exactly 1 at 0, +0 below -87.5, NaN
 * for NaN. */
static void test_exp_nonpos_error(void **state)
{
    (void)state;
    enum { CH = 4096 };
    float x[CH], y[CH];
    double worst = 0;
    uint32_t lo = 0x80000000u, hi = 0xC2AF0000u; /* -0 .. -87.5 */
    for (uint64_t b = lo; b <= hi;) {
        int n = 0;
        for (; n < CH && b <= hi; n++, b += 997) {
            uint32_t u = (uint32_t)b;
            memcpy(&x[n], &u, sizeof u);
        }
        duet_exp_nonpos(y, x, n);
        for (int i = 0; i < n; i++) {
            double e = ulps(y[i], exp((double)x[i]));
            if (e > worst) worst = e;
        }
    }
    if (worst > 0.99) fail_msg("max error %.3f ULP", worst);
    float special[5] = {0.0f, -0.0f, -87.6f, -1e9f, NAN}, out[5];
    duet_exp_nonpos(out, special, 5);
    assert_true(out[0] == 1.0f && out[1] == 1.0f);
    assert_true(out[2] == 0.0f && !signbit(out[2]) && out[3] == 0.0f);
    assert_true(isnan(out[4]));
}

/* Sums run in f32 lanes in one fixed order: a row longer than the kernels' chunk still
 * matches the double reference, and a softmax over axis 0 of x gives the bits of a
 * softmax over the last axis of x transposed. */
static void test_softmax_long_rows_and_order(void **state)
{
    (void)state;
    enum { N = 300, R = 3 };
    float *x = malloc(sizeof(float) * N * R), *xt = malloc(sizeof(float) * N * R);
    float *e = malloc(sizeof(float) * N * R);
    tu_fill(x, N * R, 21, -8, 8);
    for (int r = 0; r < R; r++)
        for (int k = 0; k < N; k++) xt[k * R + r] = x[r * N + k];
    ref_softmax(x, e, R, N, 1, false);
    tu_input in[1] = {{DUET_F32, 2, {R, N}, x, false}};
    int axis = -1;
    tu_check_forward(body_softmax, &axis, in, 1, 2, (int64_t[]){R, N}, e, 1e-6f);
    duet_ctx *c = duet_ctx_new();
    duet_tensor *a = duet_softmax(c, duet_constant(c, DUET_F32, 2, (int64_t[]){R, N}, x), -1, NULL);
    duet_tensor *b = duet_softmax(c, duet_constant(c, DUET_F32, 2, (int64_t[]){N, R}, xt), 0, NULL);
    for (int r = 0; r < R; r++)
        for (int k = 0; k < N; k++)
            assert_true(duet_get_f32(a, r * N + k) == duet_get_f32(b, k * R + r));
    duet_ctx_free(c);
    free(x), free(xt), free(e);
}

/* The masked op gives the bits of Keras's chain, x + (1 - cast(mask)) * -1e9 then a
 * softmax, for a full mask, a broadcast one and another axis. */
static void check_masked_matches_chain(int rank, const int64_t *xs, int mrank, const int64_t *ms,
                                       int axis)
{
    duet_ctx *c = duet_ctx_new();
    int64_t nx = 1, nm = 1;
    for (int i = 0; i < rank; i++) nx *= xs[i];
    for (int i = 0; i < mrank; i++) nm *= ms[i];
    float *xv = malloc(sizeof(float) * (size_t)nx);
    uint8_t *mv = malloc((size_t)nm);
    tu_fill(xv, (int)nx, 5, -4, 4);
    xv[0] = -0.0f;
    for (int64_t i = 0; i < nm; i++) mv[i] = (uint8_t)((i * 7 + 3) % 5 != 0);
    duet_tensor *x = duet_constant(c, DUET_F32, rank, xs, xv);
    duet_tensor *m = duet_constant(c, DUET_BOOL8, mrank, ms, mv);
    duet_tensor *fused = duet_softmax(c, x, axis, m);
    duet_tensor *drop = duet_sub(c, duet_scalar(c, 1.0f), duet_cast(c, m, DUET_F32));
    duet_tensor *chain =
        duet_softmax(c, duet_add(c, x, duet_mul(c, drop, duet_scalar(c, -1e9f))), axis, NULL);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    assert_memory_equal(fused->data, chain->data, sizeof(float) * (size_t)nx);
    duet_ctx_free(c);
    free(xv), free(mv);
}

static void test_masked_softmax_matches_chain(void **state)
{
    (void)state;
    check_masked_matches_chain(4, (int64_t[]){2, 3, 5, 37}, 4, (int64_t[]){2, 3, 5, 37}, -1);
    check_masked_matches_chain(4, (int64_t[]){2, 3, 5, 37}, 4, (int64_t[]){2, 1, 1, 37}, -1);
    check_masked_matches_chain(3, (int64_t[]){4, 6, 5}, 1, (int64_t[]){5}, 1);
    check_masked_matches_chain(3, (int64_t[]){4, 6, 5}, 3, (int64_t[]){4, 6, 1}, 0);
}

/* ---- pattern fusion: the masking chains written by hand become masked_softmax in a
 * graph, with eager's bits, and the mask is read from under its broadcast_to ---- */

typedef struct chain_form {
    const char *name;
    bool fused; /* the graph must hold masked_softmax and none of the chain's ops */
} chain_form;

static void chain_body(duet_ctx *c, duet_tensor *const *in, duet_tensor **out, void *user)
{
    const char *form = user;
    duet_tensor *x = in[0], *m = duet_broadcast_to(c, duet_reshape(c, in[1], 3, (int64_t[]){
                                                       in[1]->shape[0], 1, in[1]->shape[1]}),
                                                   3, x->shape);
    if (!strcmp(form, "keras")) {
        duet_tensor *drop = duet_sub(c, duet_scalar(c, 1.0f), duet_cast(c, m, DUET_F32));
        out[0] = duet_softmax(c, duet_add(c, duet_mul(c, drop, duet_scalar(c, -1e9f)), x), -1, NULL);
    } else if (!strcmp(form, "where")) {
        out[0] = duet_softmax(c, duet_where(c, m, x, duet_full_like(c, x, -1e4f)), -1, NULL);
    } else if (!strcmp(form, "layer")) {
        out[0] = duet_softmax(c, x, -1, m);
    } else { /* an infinite fill is no masked_softmax: 0 * inf is NaN where kept */
        duet_tensor *drop = duet_sub(c, duet_scalar(c, 1.0f), duet_cast(c, m, DUET_F32));
        out[0] = duet_softmax(c, duet_add(c, x, duet_mul(c, drop, duet_scalar(c, -INFINITY))), -1,
                              NULL);
    }
}

static void test_masked_softmax_pattern(void **state)
{
    (void)state;
    const chain_form forms[] = {{"keras", true}, {"where", true}, {"layer", true}, {"inf", false}};
    enum { B = 3, T = 7, H = 2 };
    float xv[B * H * T];
    int32_t lab[B * T];
    tu_fill(xv, B * H * T, 8, -3, 3);
    for (int i = 0; i < B * T; i++) lab[i] = i % T < T - i / T; /* ragged lengths */
    for (size_t f = 0; f < sizeof forms / sizeof *forms; f++) {
        duet_ctx *c = duet_ctx_new();
        duet_tensor *out[2];
        for (int mode = 0; mode < 2; mode++) {
            duet_fn *fn = duet_fn_new(c, forms[f].name, chain_body, 2, 1, (void *)forms[f].name);
            duet_fn_set_mode(fn, mode ? DUET_GRAPH : DUET_EAGER);
            duet_tensor *in[2] = {
                duet_constant(c, DUET_F32, 3, (int64_t[]){B, H, T}, xv),
                duet_greater(c, duet_constant(c, DUET_I32, 2, (int64_t[]){B, T}, lab),
                             duet_scalar_i32(c, 0))};
            assert_int_equal(duet_fn_call(fn, in, &out[mode]), 0);
            if (mode) {
                char *text = NULL;
                size_t len = 0;
                FILE *tf = open_memstream(&text, &len);
                duet_graph_print(tf, duet_fn_graph(fn));
                fclose(tf);
                bool has = strstr(text, "masked_softmax") != NULL;
                if (has != forms[f].fused) fail_msg("%s:\n%s", forms[f].name, text);
                const char *gone[] = {"= cast", "= where", "= broadcast_to"};
                for (int k = 0; k < 3 && forms[f].fused; k++)
                    if (strstr(text, gone[k])) fail_msg("%s keeps %s:\n%s", forms[f].name, gone[k], text);
                free(text);
            }
            duet_fn_free(fn);
        }
        assert_memory_equal(out[0]->data, out[1]->data, sizeof xv);
        duet_ctx_free(c);
    }
}

/* softmax_grad's own gradient (for second derivatives), with respect to y and gy. */
static duet_tensor *body_softmax_grad(duet_ctx *c, duet_tensor **x, void *u)
{
    duet_attrs a = {0};
    a.i[0] = *(int *)u; /* the axis */
    return duet_apply(c, DUET_HERE, DUET_OP_SOFTMAX_GRAD, (duet_tensor *[]){x[0], x[1]}, 2, &a);
}

/* sparse_xent_grad: the loss gradient as one op, against the composite it replaced,
 * bit for bit, and its own gradient (second derivatives) against finite differences. */
static duet_tensor *body_xent_grad(duet_ctx *c, duet_tensor **x, void *u)
{
    (void)u;
    duet_attrs a = {0};
    return duet_apply(c, DUET_HERE, DUET_OP_SPARSE_XENT_GRAD, (duet_tensor *[]){x[0], x[1], x[2]}, 3, &a);
}

static duet_tensor *body_xent_grad_composite(duet_ctx *c, duet_tensor **x, void *u)
{
    (void)u;
    int64_t rows = x[0]->shape[0], C = x[0]->shape[1];
    duet_tensor *g = duet_reshape(c, x[2], 2, (int64_t[]){rows, 1});
    duet_tensor *oh = duet_one_hot(c, x[1], C);
    return duet_mul(c, duet_sub(c, duet_softmax(c, x[0], 1, NULL), oh), g);
}

static void test_sparse_xent_grad_op(void **state)
{
    (void)state;
    enum { R = 7, C = 10 };
    float lg[R * C], gy[R], got[R * C], want[R * C];
    int32_t lb[R] = {0, 9, 3, 3, 5, 1, 8};
    tu_fill(lg, R * C, 21, -4, 4);
    tu_fill(gy, R, 22, -1, 1);
    lg[5] = 1e30f, lg[6] = -1e30f; /* a saturated row */
    tu_input in[3] = {{DUET_F32, 2, {R, C}, lg, true},
                      {DUET_I32, 1, {R}, lb, false},
                      {DUET_F32, 1, {R}, gy, true}};
    int rank;
    int64_t shape[DUET_MAX_RANK];
    assert_int_equal(tu_run(body_xent_grad, NULL, in, 3, got, R * C, &rank, shape), DUET_OK);
    assert_int_equal(tu_run(body_xent_grad_composite, NULL, in, 3, want, R * C, &rank, shape), DUET_OK);
    assert_memory_equal(got, want, sizeof got);
    tu_check_forward(body_xent_grad, NULL, in, 3, 2, (int64_t[]){R, C}, want, 0);

    tu_fill(lg, R * C, 23, -2, 2);
    tu_check_grad(body_xent_grad, NULL, in, 3, 1e-2, 1e-3, 1e-2);
}

static void test_softmax_grad_op_grad(void **state)
{
    (void)state;
    float y[12], gy[12];
    tu_fill(y, 12, 13, 0.05f, 0.6f);
    tu_fill(gy, 12, 14, -1, 1);
    tu_input in[2] = {{DUET_F32, 2, {3, 4}, y, true}, {DUET_F32, 2, {3, 4}, gy, true}};
    int axis = 1;
    tu_check_grad(body_softmax_grad, &axis, in, 2, 1e-2, 1e-3, 1e-2);
    axis = 0;
    tu_check_grad(body_softmax_grad, &axis, in, 2, 1e-2, 1e-3, 1e-2);
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
        cmocka_unit_test(test_exp_nonpos_error),
        cmocka_unit_test(test_softmax_long_rows_and_order),
        cmocka_unit_test(test_masked_softmax_matches_chain),
        cmocka_unit_test(test_masked_softmax_pattern),
        cmocka_unit_test(test_softmax_grad_op_grad),
        cmocka_unit_test(test_sparse_xent_grad_op),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
