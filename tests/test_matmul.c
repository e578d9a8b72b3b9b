#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct mm_args {
    bool ta, tb;
} mm_args;

static duet_tensor *body_mm(duet_ctx *c, duet_tensor **x, void *u)
{
    const mm_args *m = u;
    return duet_matmul(c, x[0], x[1], m->ta, m->tb);
}

/* ---- forward, hand-computed ---- */

/* A = [[1,2,3],[4,5,6]], B = [[7,8],[9,10],[11,12]], A B = [[58,64],[139,154]] */
static const float A23[6] = {1, 2, 3, 4, 5, 6}, A23T[6] = {1, 4, 2, 5, 3, 6};
static const float B32[6] = {7, 8, 9, 10, 11, 12}, B32T[6] = {7, 9, 11, 8, 10, 12};
static const float AB[4] = {58, 64, 139, 154};

static void test_forward_nn(void **state)
{
    (void)state;
    tu_input in[2] = {{DUET_F32, 2, {2, 3}, A23, false}, {DUET_F32, 2, {3, 2}, B32, false}};
    mm_args m = {false, false};
    tu_check_forward(body_mm, &m, in, 2, 2, (int64_t[]){2, 2}, AB, 0);
}

static void test_forward_tn(void **state)
{
    (void)state;
    tu_input in[2] = {{DUET_F32, 2, {3, 2}, A23T, false}, {DUET_F32, 2, {3, 2}, B32, false}};
    mm_args m = {true, false};
    tu_check_forward(body_mm, &m, in, 2, 2, (int64_t[]){2, 2}, AB, 0);
}

static void test_forward_nt(void **state)
{
    (void)state;
    tu_input in[2] = {{DUET_F32, 2, {2, 3}, A23, false}, {DUET_F32, 2, {2, 3}, B32T, false}};
    mm_args m = {false, true};
    tu_check_forward(body_mm, &m, in, 2, 2, (int64_t[]){2, 2}, AB, 0);
}

static void test_forward_tt(void **state)
{
    (void)state;
    tu_input in[2] = {{DUET_F32, 2, {3, 2}, A23T, false}, {DUET_F32, 2, {2, 3}, B32T, false}};
    mm_args m = {true, true};
    tu_check_forward(body_mm, &m, in, 2, 2, (int64_t[]){2, 2}, AB, 0);
}

/* (2, 2, 3) x (3, 2): the second batch is -A */
static void test_forward_batch_shared_b(void **state)
{
    (void)state;
    float a[12];
    for (int i = 0; i < 6; i++) a[i] = A23[i], a[6 + i] = -A23[i];
    tu_input in[2] = {{DUET_F32, 3, {2, 2, 3}, a, false}, {DUET_F32, 2, {3, 2}, B32, false}};
    float expect[8] = {58, 64, 139, 154, -58, -64, -139, -154};
    mm_args m = {false, false};
    tu_check_forward(body_mm, &m, in, 2, 3, (int64_t[]){2, 2, 2}, expect, 0);
}

/* (2, 3) x (2, 3, 2) with trans_a: A shared, B batched (second batch is 2 B) */
static void test_forward_batch_shared_a(void **state)
{
    (void)state;
    float b[12];
    for (int i = 0; i < 6; i++) b[i] = B32[i], b[6 + i] = 2 * B32[i];
    tu_input in[2] = {{DUET_F32, 2, {3, 2}, A23T, false}, {DUET_F32, 3, {2, 3, 2}, b, false}};
    float expect[8] = {58, 64, 139, 154, 116, 128, 278, 308};
    mm_args m = {true, false};
    tu_check_forward(body_mm, &m, in, 2, 3, (int64_t[]){2, 2, 2}, expect, 0);
}

/* (2, 1, 1, 3) x (1, 2, 3, 1): batch dims broadcast to (2, 2) */
static void test_forward_batch_broadcast(void **state)
{
    (void)state;
    float a[6] = {1, 2, 3, 10, 20, 30}, b[6] = {1, 0, 0, 0, 1, 1};
    tu_input in[2] = {{DUET_F32, 4, {2, 1, 1, 3}, a, false},
                      {DUET_F32, 4, {1, 2, 3, 1}, b, false}};
    float expect[4] = {1, 5, 10, 50};
    mm_args m = {false, false};
    tu_check_forward(body_mm, &m, in, 2, 4, (int64_t[]){2, 2, 1, 1}, expect, 0);
}

/* K = 0: the product is all zeros */
static void test_forward_empty_k(void **state)
{
    (void)state;
    float dummy[1] = {0};
    tu_input in[2] = {{DUET_F32, 2, {2, 0}, dummy, false}, {DUET_F32, 2, {0, 3}, dummy, false}};
    float expect[6] = {0};
    mm_args m = {false, false};
    tu_check_forward(body_mm, &m, in, 2, 2, (int64_t[]){2, 3}, expect, 0);
}

/* ---- forward against a naive reference ---- */

/* element (i, k) of op(P) for a row-major matrix P with `cols` columns */
static double ref_at(const float *p, int64_t cols, bool t, int64_t i, int64_t k)
{
    return t ? p[k * cols + i] : p[i * cols + k];
}

/* Runs matmul on random data of the given shapes and compares every element with a
 * double-precision reference (batch dims broadcast by hand). */
static void check_random(int ra, const int64_t *sa, int rb, const int64_t *sb, bool ta, bool tb,
                         unsigned seed)
{
    int64_t na = 1, nb = 1;
    for (int i = 0; i < ra; i++) na *= sa[i];
    for (int i = 0; i < rb; i++) nb *= sb[i];
    float *a = malloc(sizeof(float) * (size_t)(na ? na : 1));
    float *b = malloc(sizeof(float) * (size_t)(nb ? nb : 1));
    tu_fill(a, (int)na, seed, -1, 1);
    tu_fill(b, (int)nb, seed + 7, -1, 1);
    duet_ctx *c = duet_ctx_new();
    duet_tensor *x = duet_constant(c, DUET_F32, ra, sa, a);
    duet_tensor *y = duet_constant(c, DUET_F32, rb, sb, b);
    duet_tensor *z = duet_matmul(c, x, y, ta, tb);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    int64_t ar = sa[ra - 2], ac = sa[ra - 1], br = sb[rb - 2], bc = sb[rb - 1];
    int64_t m = ta ? ac : ar, k = ta ? ar : ac, n = tb ? br : bc;
    int orank = (ra > rb ? ra : rb);
    assert_int_equal(z->rank, orank);
    assert_int_equal(z->shape[orank - 2], m);
    assert_int_equal(z->shape[orank - 1], n);
    int ob = orank - 2;
    int64_t nbatch = 1;
    for (int d = 0; d < ob; d++) nbatch *= z->shape[d];
    const float *out = z->data;
    for (int64_t bi = 0; bi < nbatch; bi++) {
        /* offsets of the operands' matrices */
        int64_t rem = bi, offa = 0, offb = 0, mula = 1, mulb = 1;
        for (int d = ob - 1; d >= 0; d--) {
            int64_t idx = rem % z->shape[d];
            rem /= z->shape[d];
            int ia = d - (ob - (ra - 2)), ib = d - (ob - (rb - 2));
            if (ia >= 0) {
                if (sa[ia] != 1) offa += idx * mula;
                mula *= sa[ia];
            }
            if (ib >= 0) {
                if (sb[ib] != 1) offb += idx * mulb;
                mulb *= sb[ib];
            }
        }
        const float *pa = a + offa * ar * ac, *pb = b + offb * br * bc;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0;
                for (int64_t kk = 0; kk < k; kk++)
                    s += ref_at(pa, ac, ta, i, kk) * ref_at(pb, bc, tb, kk, j);
                float got = out[(bi * m + i) * n + j];
                if (!(fabs(got - s) <= 1e-4 * (1 + fabs(s))))
                    fail_msg("batch %lld (%lld, %lld): got %.7g, expected %.7g (ta %d tb %d)",
                             (long long)bi, (long long)i, (long long)j, got, s, ta, tb);
            }
    }
    duet_ctx_free(c);
    free(a);
    free(b);
}

static void check_random_2d(int64_t m, int64_t k, int64_t n, unsigned seed)
{
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        int64_t sa[2] = {ta ? k : m, ta ? m : k}, sb[2] = {tb ? n : k, tb ? k : n};
        check_random(2, sa, 2, sb, ta, tb, seed + (unsigned)t);
    }
}

static void test_random_sizes(void **state)
{
    (void)state;
    check_random_2d(7, 13, 5, 1);
    check_random_2d(1, 1, 1, 2);
    check_random_2d(4, 16, 16, 3);
    check_random_2d(17, 33, 19, 4);
    check_random_2d(3, 300, 7, 5);   /* K spans several packed blocks */
    check_random_2d(9, 5, 150, 6);   /* N spans several packed blocks */
    check_random_2d(40, 32, 40, 7);  /* attention scores */
    check_random_2d(130, 129, 131, 8);
}

static void test_random_batched(void **state)
{
    (void)state;
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        /* (B, T, D) x (D, F): folded into one product when ta is false */
        check_random(3, (int64_t[]){3, ta ? 32 : 10, ta ? 10 : 32}, 2,
                     (int64_t[]){tb ? 24 : 32, tb ? 32 : 24}, ta, tb, 10 + (unsigned)t);
        /* (B, H, T, d) x (B, H, d, T) */
        check_random(4, (int64_t[]){2, 3, ta ? 8 : 9, ta ? 9 : 8}, 4,
                     (int64_t[]){2, 3, tb ? 9 : 8, tb ? 8 : 9}, ta, tb, 20 + (unsigned)t);
        /* broadcast both ways: (2, 1, M, K) x (3, K, N) */
        check_random(4, (int64_t[]){2, 1, ta ? 6 : 5, ta ? 5 : 6}, 3,
                     (int64_t[]){3, tb ? 7 : 6, tb ? 6 : 7}, ta, tb, 30 + (unsigned)t);
        /* shared A: (M, K) x (B, K, N) */
        check_random(2, (int64_t[]){ta ? 6 : 5, ta ? 5 : 6}, 3,
                     (int64_t[]){4, tb ? 7 : 6, tb ? 6 : 7}, ta, tb, 40 + (unsigned)t);
    }
}

/* ---- gradients ---- */

static void grad_case(int ra, const int64_t *sa, int rb, const int64_t *sb, bool ta, bool tb)
{
    int64_t na = 1, nb = 1;
    for (int i = 0; i < ra; i++) na *= sa[i];
    for (int i = 0; i < rb; i++) nb *= sb[i];
    float a[256], b[256];
    assert_true(na <= 256 && nb <= 256);
    tu_fill(a, (int)na, 3, -1, 1);
    tu_fill(b, (int)nb, 4, -1, 1);
    tu_input in[2] = {{DUET_F32, ra, {0}, a, true}, {DUET_F32, rb, {0}, b, true}};
    memcpy(in[0].shape, sa, sizeof(int64_t) * (size_t)ra);
    memcpy(in[1].shape, sb, sizeof(int64_t) * (size_t)rb);
    mm_args m = {ta, tb};
    tu_check_grad(body_mm, &m, in, 2, 1e-2, 1e-3, 1e-2);
}

static void test_grad_2d(void **state)
{
    (void)state;
    grad_case(2, (int64_t[]){3, 4}, 2, (int64_t[]){4, 5}, false, false);
    grad_case(2, (int64_t[]){4, 3}, 2, (int64_t[]){4, 5}, true, false);
    grad_case(2, (int64_t[]){3, 4}, 2, (int64_t[]){5, 4}, false, true);
    grad_case(2, (int64_t[]){4, 3}, 2, (int64_t[]){5, 4}, true, true);
}

static void test_grad_batched(void **state)
{
    (void)state;
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        /* (B, M, K) x (K, N): B shared, its gradient sums over the batch */
        grad_case(3, (int64_t[]){2, ta ? 4 : 3, ta ? 3 : 4}, 2, (int64_t[]){tb ? 5 : 4, tb ? 4 : 5},
                  ta, tb);
        /* (2, 1, M, K) x (3, K, N): both broadcast */
        grad_case(4, (int64_t[]){2, 1, ta ? 3 : 2, ta ? 2 : 3}, 3,
                  (int64_t[]){3, tb ? 4 : 3, tb ? 3 : 4}, ta, tb);
    }
}

/* ---- threads ---- */

/* The product of random a (rank ra) and b (rank rb), computed with `threads` threads,
 * into out (numel of the result). */
static void product_with_threads(int ra, const int64_t *sa, int rb, const int64_t *sb, bool ta,
                                 bool tb, int threads, float *out, int64_t cap)
{
    int64_t na = 1, nb = 1;
    for (int i = 0; i < ra; i++) na *= sa[i];
    for (int i = 0; i < rb; i++) nb *= sb[i];
    float *a = malloc(sizeof(float) * (size_t)na), *b = malloc(sizeof(float) * (size_t)nb);
    tu_fill(a, (int)na, 11, -1, 1);
    tu_fill(b, (int)nb, 12, -1, 1);
    duet_ctx *c = duet_ctx_new();
    assert_int_equal(duet_ctx_set_threads(c, threads), DUET_OK);
    duet_tensor *z = duet_matmul(c, duet_constant(c, DUET_F32, ra, sa, a),
                                 duet_constant(c, DUET_F32, rb, sb, b), ta, tb);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    assert_int_equal(duet_numel(z), cap);
    memcpy(out, z->data, sizeof(float) * (size_t)cap);
    duet_ctx_free(c);
    free(a);
    free(b);
}

/* Every element is computed by one task in a fixed order, so 1, 2 and 3 threads give
 * the same bits: shapes with edges in every dimension, depths over one packed block,
 * batches and broadcasting, all four transpositions; each long enough (a fraction of
 * a millisecond) that the workers, not only the calling thread, take tasks. */
static void test_threads_same_bits(void **state)
{
    (void)state;
    static const struct { int ra, rb; int64_t sa[3], sb[3]; } shapes[] = {
        {2, 2, {1501, 70}, {70, 93}},    /* M, N edges; one depth block */
        {2, 2, {157, 600}, {600, 45}},   /* depth over a block: C accumulates */
        {3, 2, {33, 40, 32}, {32, 128}}, /* (B, T, D) x (D, F): one product over B*T */
        {3, 3, {48, 40, 32}, {48, 32, 40}}, /* attention-like batches */
        {3, 3, {1, 64, 50}, {27, 50, 61}},  /* a broadcast along the batch */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        for (int t = 0; t < 4; t++) {
            bool ta = t & 1, tb = t & 2;
            int ra = shapes[i].ra, rb = shapes[i].rb;
            int64_t sa[3], sb[3];
            memcpy(sa, shapes[i].sa, sizeof sa);
            memcpy(sb, shapes[i].sb, sizeof sb);
            if (ta) sa[ra - 2] = shapes[i].sa[ra - 1], sa[ra - 1] = shapes[i].sa[ra - 2];
            if (tb) sb[rb - 2] = shapes[i].sb[rb - 1], sb[rb - 1] = shapes[i].sb[rb - 2];
            int64_t m = shapes[i].sa[ra - 2], n = shapes[i].sb[rb - 1];
            int64_t batch = ra == 3 ? (shapes[i].sa[0] > 1 ? shapes[i].sa[0] : shapes[i].sb[0]) : 1;
            int64_t numel = batch * m * n;
            float *one = malloc(sizeof(float) * (size_t)numel);
            float *more = malloc(sizeof(float) * (size_t)numel);
            product_with_threads(ra, sa, rb, sb, ta, tb, 1, one, numel);
            for (int threads = 2; threads <= 3; threads++) {
                product_with_threads(ra, sa, rb, sb, ta, tb, threads, more, numel);
                if (memcmp(one, more, sizeof(float) * (size_t)numel))
                    fail_msg("shape %zu ta %d tb %d: %d threads differ from 1", i, ta, tb, threads);
            }
            free(one);
            free(more);
        }
}

/* ---- errors ---- */

static void test_errors(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    float z[24] = {0};
    duet_tensor *a = duet_constant(c, DUET_F32, 2, (int64_t[]){2, 3}, z);
    duet_tensor *b = duet_constant(c, DUET_F32, 2, (int64_t[]){4, 2}, z);
    duet_tensor *y = duet_matmul(c, a, b, false, false);
    assert_true(duet_is_poison(y));
    assert_int_equal(duet_ctx_status(c), DUET_ERR_SHAPE);
    const duet_diag *d = duet_ctx_error(c);
    assert_non_null(strstr(d->message, "(2, 3)"));
    assert_non_null(strstr(d->message, "(4, 2)"));
    assert_string_equal(d->op, "matmul");
    /* sticky: later ops do nothing */
    assert_true(duet_is_poison(duet_matmul(c, a, a, false, true)));
    duet_ctx_clear_error(c);

    /* works again after clearing */
    y = duet_matmul(c, a, b, true, true); /* (3, 2) x (2, 4) */
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    assert_int_equal(y->shape[0], 3);
    assert_int_equal(y->shape[1], 4);

    /* rank 1 */
    duet_tensor *v = duet_constant(c, DUET_F32, 1, (int64_t[]){3}, z);
    duet_matmul(c, v, b, false, false);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_SHAPE);
    duet_ctx_clear_error(c);

    /* dtype */
    int32_t zi[6] = {0};
    duet_tensor *ai = duet_constant(c, DUET_I32, 2, (int64_t[]){2, 3}, zi);
    duet_matmul(c, ai, a, false, true);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_DTYPE);
    duet_ctx_clear_error(c);

    /* batch dims that do not broadcast */
    duet_tensor *ba = duet_constant(c, DUET_F32, 3, (int64_t[]){2, 2, 3}, z);
    duet_tensor *bb = duet_constant(c, DUET_F32, 3, (int64_t[]){3, 3, 2}, z);
    duet_matmul(c, ba, bb, false, false);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_SHAPE);
    duet_ctx_clear_error(c);

    /* NULL input */
    duet_matmul(c, NULL, b, false, false);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_ARG);
    duet_ctx_clear_error(c);

    y = duet_matmul(c, a, b, true, true);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    duet_ctx_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_nn),
        cmocka_unit_test(test_forward_tn),
        cmocka_unit_test(test_forward_nt),
        cmocka_unit_test(test_forward_tt),
        cmocka_unit_test(test_forward_batch_shared_b),
        cmocka_unit_test(test_forward_batch_shared_a),
        cmocka_unit_test(test_forward_batch_broadcast),
        cmocka_unit_test(test_forward_empty_k),
        cmocka_unit_test(test_random_sizes),
        cmocka_unit_test(test_random_batched),
        cmocka_unit_test(test_grad_2d),
        cmocka_unit_test(test_grad_batched),
        cmocka_unit_test(test_threads_same_bits),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
