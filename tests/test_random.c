/* Dropout masks from Philox-4x32-10: the known-answer vector, the element -> (block,
 * lane) mapping, determinism, keep rate and scaling, argument errors, and the
 * gradient of dropout. */
#include "testutil.h"

#include "duet/fn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- an independent reference Philox-4x32-10, checked against Random123's KAT ---- */
static void ref_philox(const uint32_t in[4], const uint32_t k_in[2], uint32_t out[4])
{
    uint32_t c[4] = {in[0], in[1], in[2], in[3]}, k[2] = {k_in[0], k_in[1]};
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c[0], p1 = (uint64_t)0xCD9E8D57u * c[2];
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c[1] ^ k[0];
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c[3] ^ k[1];
        c[0] = n0, c[1] = (uint32_t)p1, c[2] = n2, c[3] = (uint32_t)p0;
        k[0] += 0x9E3779B9u, k[1] += 0xBB67AE85u;
    }
    memcpy(out, c, sizeof c);
}

/* The uniform of element j under the documented mapping. */
static float ref_uniform(uint64_t seed, int32_t counter, int stream, int64_t j)
{
    uint64_t b = (uint64_t)j / 4;
    uint32_t ctr[4] = {(uint32_t)b, (uint32_t)(b >> 32), (uint32_t)counter, (uint32_t)stream};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)}, r[4];
    ref_philox(ctr, key, r);
    return (float)(r[j % 4] >> 8) * (1.0f / 16777216.0f);
}

static void test_reference_kat(void **state)
{
    (void)state;
    /* Random123 kat_vectors, philox4x32 10 */
    static const uint32_t v[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
         0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
         0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        ref_philox(v[i], v[i] + 4, out);
        for (int k = 0; k < 4; k++) assert_int_equal(out[k], v[i][6 + k]);
    }
}

/* ---- helpers ---- */

/* Mask of the given shape into out (n floats), on threads kernel threads (0: the
 * online CPUs); returns the context status. */
static duet_status make_mask_on(int threads, int rank, const int64_t *shape, float rate,
                                uint64_t seed, int32_t counter, int stream, float *out)
{
    duet_ctx *c = duet_ctx_new();
    assert_int_equal(duet_ctx_set_threads(c, threads), DUET_OK);
    duet_tensor *like = duet_full(c, DUET_F32, rank, shape, 1.0f);
    duet_tensor *m = duet_dropout_mask(c, like, rate, seed, duet_scalar_i32(c, counter), stream);
    duet_status st = duet_ctx_status(c);
    if (st == DUET_OK && out) {
        assert_int_equal(m->dtype, DUET_F32);
        assert_int_equal(m->rank, rank);
        for (int i = 0; i < rank; i++) assert_int_equal(m->shape[i], shape[i]);
        int64_t n = duet_numel(m);
        memcpy(out, m->data, sizeof(float) * (size_t)n);
    }
    duet_ctx_free(c);
    return st;
}

static duet_status make_mask(int rank, const int64_t *shape, float rate, uint64_t seed,
                             int32_t counter, int stream, float *out)
{
    return make_mask_on(0, rank, shape, rate, seed, counter, stream, out);
}

/* ---- the known-answer vector through the op: seed 0, counter 0, stream 0 ---- */
static void test_mask_known_answer(void **state)
{
    (void)state;
    static const uint32_t kat[4] = {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8};
    float m[4];
    /* rate 0.5: u = 0.3996, 0.8805, 0.7357, 0.6055 -> drop, keep, keep, keep */
    assert_int_equal(make_mask(1, (int64_t[]){4}, 0.5f, 0, 0, 0, m), DUET_OK);
    assert_true(m[0] == 0.0f && m[1] == 2.0f && m[2] == 2.0f && m[3] == 2.0f);
    /* The exact 24-bit uniform of each lane: kept at rate == u, dropped just above. */
    for (int k = 0; k < 4; k++) {
        float u = (float)(kat[k] >> 8) * (1.0f / 16777216.0f);
        assert_int_equal(make_mask(1, (int64_t[]){4}, u, 0, 0, 0, m), DUET_OK);
        assert_true(m[k] == 1.0f / (1.0f - u));
        float above = nextafterf(u, 1.0f);
        assert_int_equal(make_mask(1, (int64_t[]){4}, above, 0, 0, 0, m), DUET_OK);
        assert_true(m[k] == 0.0f);
    }
}

/* Element j's keep decision matches the reference for a seed with both halves set, a
 * counter, a stream and several blocks (including a partial last block). */
static void test_mask_mapping(void **state)
{
    (void)state;
    const uint64_t seed = 0x299f31d0a4093822ull;
    const int32_t counter = 0x13198a2e;
    const int stream = 3;
    const float rate = 0.4f;
    int64_t shape[3] = {3, 5, 7}; /* 105 elements: 26 full blocks + 1 */
    float m[105];
    assert_int_equal(make_mask(3, shape, rate, seed, counter, stream, m), DUET_OK);
    int differ_from_seed_lo_only = 0;
    for (int64_t j = 0; j < 105; j++) {
        float u = ref_uniform(seed, counter, stream, j);
        float expect = u >= rate ? 1.0f / (1.0f - rate) : 0.0f;
        if (m[j] != expect) fail_msg("element %lld: got %g, expected %g (u %g)", (long long)j, m[j], expect, u);
        float u_lo = ref_uniform(seed & 0xffffffffu, counter, stream, j);
        differ_from_seed_lo_only += (u_lo >= rate) != (u >= rate);
    }
    assert_true(differ_from_seed_lo_only > 0); /* the high half of the seed matters */
    /* negative counter and stream go through as their 32-bit patterns */
    assert_int_equal(make_mask(1, (int64_t[]){9}, rate, 7, -5, -2, m), DUET_OK);
    for (int64_t j = 0; j < 9; j++) {
        float u = ref_uniform(7, -5, -2, j);
        assert_true(m[j] == (u >= rate ? 1.0f / (1.0f - rate) : 0.0f));
    }
}

/* The same over many whole groups of blocks (the kernel computes 64 blocks at a time,
 * vectorised) and a partial last one, on 1 and on 3 threads. */
static void test_mask_mapping_many_blocks(void **state)
{
    (void)state;
    const uint64_t seed = 0x85a308d3243f6a88ull;
    int64_t shape[3] = {3, 1001, 7}; /* 21021 elements: 82 groups of 256 and 29 more */
    enum { N = 3 * 1001 * 7 };
    float *m = malloc(sizeof(float) * N);
    assert_non_null(m);
    for (int threads = 1; threads <= 3; threads += 2) {
        assert_int_equal(make_mask_on(threads, 3, shape, 0.25f, seed, 77, 5, m), DUET_OK);
        for (int64_t j = 0; j < N; j++) {
            float u = ref_uniform(seed, 77, 5, j);
            float expect = u >= 0.25f ? 1.0f / 0.75f : 0.0f;
            if (m[j] != expect)
                fail_msg("%d threads, element %lld: got %g, expected %g", threads, (long long)j,
                         m[j], expect);
        }
    }
    free(m);
}

static void test_mask_determinism(void **state)
{
    (void)state;
    enum { N = 4096 };
    float *a = malloc(sizeof(float) * N), *b = malloc(sizeof(float) * N);
    int64_t shape[2] = {64, 64};
    assert_int_equal(make_mask(2, shape, 0.5f, 42, 9, 1, a), DUET_OK);
    assert_int_equal(make_mask(2, shape, 0.5f, 42, 9, 1, b), DUET_OK);
    assert_memory_equal(a, b, sizeof(float) * N);

    /* Same context, two calls, the counter read from a variable. */
    duet_ctx *c = duet_ctx_new();
    duet_var *cv = duet_var_new(c, "step", DUET_I32, 0, NULL);
    assert_non_null(cv);
    duet_tensor *like = duet_full(c, DUET_F32, 2, shape, 3.0f);
    duet_assign(c, cv, duet_scalar_i32(c, 9));
    duet_tensor *m1 = duet_dropout_mask(c, like, 0.5f, 42, duet_var_read(c, cv), 1);
    duet_tensor *m2 = duet_dropout_mask(c, like, 0.5f, 42, duet_var_read(c, cv), 1);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    assert_memory_equal(m1->data, a, sizeof(float) * N);
    assert_memory_equal(m2->data, a, sizeof(float) * N);
    duet_ctx_free(c);
    free(a), free(b);
}

static int count_diff(const float *a, const float *b, int n)
{
    int d = 0;
    for (int i = 0; i < n; i++) d += a[i] != b[i];
    return d;
}

static void test_mask_varies(void **state)
{
    (void)state;
    enum { N = 4096 };
    static float base[N], other[N];
    int64_t shape[1] = {N};
    assert_int_equal(make_mask(1, shape, 0.5f, 42, 9, 1, base), DUET_OK);
    /* Independent masks at rate 0.5 differ in about half the elements. */
    assert_int_equal(make_mask(1, shape, 0.5f, 42, 10, 1, other), DUET_OK);
    assert_in_range(count_diff(base, other, N), N / 2 - 300, N / 2 + 300);
    assert_int_equal(make_mask(1, shape, 0.5f, 42, 9, 2, other), DUET_OK);
    assert_in_range(count_diff(base, other, N), N / 2 - 300, N / 2 + 300);
    assert_int_equal(make_mask(1, shape, 0.5f, 43, 9, 1, other), DUET_OK);
    assert_in_range(count_diff(base, other, N), N / 2 - 300, N / 2 + 300);
    assert_int_equal(make_mask(1, shape, 0.5f, 42 | (1ull << 40), 9, 1, other), DUET_OK);
    assert_in_range(count_diff(base, other, N), N / 2 - 300, N / 2 + 300);
}

static void test_keep_fraction_and_scale(void **state)
{
    (void)state;
    enum { N = 100000 };
    float *m = malloc(sizeof(float) * N);
    const float rates[3] = {0.1f, 0.3f, 0.75f};
    for (int r = 0; r < 3; r++) {
        float rate = rates[r];
        assert_int_equal(make_mask(2, (int64_t[]){100, 1000}, rate, 2024 + r, r, 0, m), DUET_OK);
        const float scale = 1.0f / (1.0f - rate);
        int kept = 0;
        for (int i = 0; i < N; i++) {
            if (m[i] == 0.0f) continue;
            if (m[i] != scale) fail_msg("element %d is %.9g; expected 0 or %.9g", i, m[i], scale);
            kept++;
        }
        double p = 1.0 - rate, mean = N * p, sigma = sqrt(N * p * (1.0 - p));
        if (fabs(kept - mean) > 3 * sigma)
            fail_msg("rate %g: kept %d of %d; expected %.0f +- %.0f", rate, kept, N, mean, 3 * sigma);
    }
    free(m);
}

static void test_rate_zero_all_ones(void **state)
{
    (void)state;
    enum { N = 1000 };
    float m[N];
    assert_int_equal(make_mask(1, (int64_t[]){N}, 0.0f, 5, 1, 0, m), DUET_OK);
    for (int i = 0; i < N; i++) assert_true(m[i] == 1.0f);
    /* empty and scalar shapes */
    assert_int_equal(make_mask(2, (int64_t[]){0, 3}, 0.5f, 5, 1, 0, m), DUET_OK);
    assert_int_equal(make_mask(0, NULL, 0.0f, 5, 1, 0, m), DUET_OK);
    assert_true(m[0] == 1.0f);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    const float bad[4] = {-0.1f, 1.0f, 1.5f, NAN};
    for (int i = 0; i < 4; i++) {
        duet_ctx *c = duet_ctx_new();
        duet_tensor *x = duet_full(c, DUET_F32, 1, (int64_t[]){4}, 1.0f);
        duet_tensor *y = duet_dropout(c, x, bad[i], 1, duet_scalar_i32(c, 0), 0);
        assert_true(duet_is_poison(y));
        assert_int_equal(duet_ctx_status(c), DUET_ERR_ARG);
        assert_string_equal(duet_ctx_error(c)->op, "dropout"); /* the op called, not its mask */
        assert_string_equal(duet_ctx_error(c)->file, "tests/test_random.c");
        duet_ctx_free(c);
    }
    duet_ctx *c = duet_ctx_new();
    duet_tensor *x = duet_full(c, DUET_F32, 1, (int64_t[]){4}, 1.0f);
    /* counter must be an i32 scalar */
    assert_true(duet_is_poison(duet_dropout_mask(c, x, 0.5f, 1, duet_scalar(c, 0.0f), 0)));
    assert_int_equal(duet_ctx_status(c), DUET_ERR_DTYPE);
    duet_ctx_clear_error(c);
    duet_tensor *vec = duet_full(c, DUET_I32, 1, (int64_t[]){2}, 0.0f);
    assert_true(duet_is_poison(duet_dropout_mask(c, x, 0.5f, 1, vec, 0)));
    assert_int_equal(duet_ctx_status(c), DUET_ERR_SHAPE);
    duet_ctx_clear_error(c);
    assert_true(duet_is_poison(duet_dropout_mask(c, x, 0.5f, 1, NULL, 0)));
    assert_int_equal(duet_ctx_status(c), DUET_ERR_ARG);
    duet_ctx_clear_error(c);
    assert_true(duet_is_poison(duet_dropout_mask(c, NULL, 0.5f, 1, duet_scalar_i32(c, 0), 0)));
    assert_int_equal(duet_ctx_status(c), DUET_ERR_ARG);
    duet_ctx_clear_error(c);
    /* the context still works */
    duet_tensor *m = duet_dropout_mask(c, x, 0.0f, 1, duet_scalar_i32(c, 0), 0);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    assert_true(duet_get_f32(m, 3) == 1.0f);
    duet_ctx_free(c);
}

/* dropout(x) = x * mask */
static void test_dropout_forward(void **state)
{
    (void)state;
    enum { N = 64 };
    float mask[N];
    assert_int_equal(make_mask(2, (int64_t[]){8, 8}, 0.25f, 77, 3, 2, mask), DUET_OK);
    duet_ctx *c = duet_ctx_new();
    float xv[N];
    tu_fill(xv, N, 5, -2.0f, 2.0f);
    duet_tensor *x = duet_constant(c, DUET_F32, 2, (int64_t[]){8, 8}, xv);
    duet_tensor *y = duet_dropout(c, x, 0.25f, 77, duet_scalar_i32(c, 3), 2);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    assert_int_equal(y->rank, 2);
    for (int i = 0; i < N; i++) assert_true(duet_get_f32(y, i) == xv[i] * mask[i]);
    duet_ctx_free(c);
}

static duet_tensor *body_dropout(duet_ctx *c, duet_tensor **x, void *u)
{
    (void)u;
    return duet_dropout(c, x[0], 0.5f, 1234, duet_scalar_i32(c, 7), 1);
}

/* The counter is fixed, so the mask is a constant and the gradient is w * mask.
 * Tolerance: x * mask is linear, so central differences are exact up to f32
 * rounding of the loss terms (h = 1e-2): atol 1e-3, rtol 1e-3. */
static void test_dropout_grad(void **state)
{
    (void)state;
    float x[24];
    tu_fill(x, 24, 11, -1.0f, 1.0f);
    tu_input in[1] = {{DUET_F32, 2, {4, 6}, x, true}};
    tu_check_grad(body_dropout, NULL, in, 1, 1e-2, 1e-3, 1e-3);
}

/* Forward through tu_check_forward: also traced, with exact and relaxed (None)
 * leading dims, so the mask's shape attributes go through symbol resolution. */
static void test_dropout_forward_traced(void **state)
{
    (void)state;
    float x[24], mask[24], expect[24];
    tu_fill(x, 24, 12, -1.0f, 1.0f);
    assert_int_equal(make_mask(2, (int64_t[]){4, 6}, 0.5f, 1234, 7, 1, mask), DUET_OK);
    for (int i = 0; i < 24; i++) expect[i] = x[i] * mask[i];
    tu_input in[1] = {{DUET_F32, 2, {4, 6}, x, false}};
    tu_check_forward(body_dropout, NULL, in, 1, 2, (int64_t[]){4, 6}, expect, 0.0f);
}

/* A training-style step: the counter is a variable read, bumped by an assign, so each
 * call of one traced plan draws a fresh mask, the same one eager mode draws. */
typedef struct ctr_state {
    duet_var *counter;
} ctr_state;

static void counter_step(duet_ctx *c, duet_tensor *const *in, duet_tensor **out, void *user)
{
    ctr_state *st = user;
    duet_tensor *k = duet_var_read(c, st->counter);
    out[0] = duet_dropout(c, in[0], 0.5f, 99, k, 4);
    duet_assign(c, st->counter, duet_add(c, k, duet_scalar_i32(c, 1)));
}

static void test_counter_variable_in_graph(void **state)
{
    (void)state;
    enum { N = 256, STEPS = 3 };
    static float got[2][STEPS][N];
    float ones[N];
    for (int i = 0; i < N; i++) ones[i] = 1.0f;
    for (int mode = 0; mode < 2; mode++) {
        duet_ctx *c = duet_ctx_new();
        ctr_state st = {duet_var_new(c, "dropout/counter", DUET_I32, 0, NULL)};
        duet_fn *fn = duet_fn_new(c, "step", counter_step, 1, 1, &st);
        duet_fn_set_mode(fn, mode ? DUET_GRAPH : DUET_EAGER);
        assert_int_equal(duet_fn_relax(fn, "(None,_)"), 0);
        for (int s = 0; s < STEPS; s++) {
            duet_tensor *x = duet_constant(c, DUET_F32, 2, (int64_t[]){16, 16}, ones), *y = NULL;
            int rc = duet_fn_call(fn, &x, &y);
            if (rc) duet_diag_print(stderr, duet_ctx_error(c));
            assert_int_equal(rc, 0);
            memcpy(got[mode][s], y->data, sizeof(float) * N);
            duet_ctx_reset(c);
        }
        assert_int_equal(duet_get_i32(duet_var_value(st.counter), 0), STEPS);
        assert_int_equal(duet_fn_trace_count(fn), mode ? 1 : 0);
        duet_fn_free(fn);
        duet_ctx_free(c);
    }
    float expect[N];
    for (int s = 0; s < STEPS; s++) {
        assert_int_equal(make_mask(2, (int64_t[]){16, 16}, 0.5f, 99, s, 4, expect), DUET_OK);
        assert_memory_equal(got[0][s], expect, sizeof expect);
        assert_memory_equal(got[1][s], expect, sizeof expect);
    }
    assert_true(count_diff(got[1][0], got[1][1], N) > N / 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_kat),
        cmocka_unit_test(test_mask_known_answer),
        cmocka_unit_test(test_mask_mapping),
        cmocka_unit_test(test_mask_mapping_many_blocks),
        cmocka_unit_test(test_mask_determinism),
        cmocka_unit_test(test_mask_varies),
        cmocka_unit_test(test_keep_fraction_and_scale),
        cmocka_unit_test(test_rate_zero_all_ones),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_dropout_forward),
        cmocka_unit_test(test_dropout_grad),
        cmocka_unit_test(test_dropout_forward_traced),
        cmocka_unit_test(test_counter_variable_in_graph),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
