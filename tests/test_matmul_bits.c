/* The products' bits, element by element, against a plain loop: in the FMA numerics
 * each element of C is one fused multiply-add per depth, in increasing order, from
 * zero (fmaf); in the portable numerics, products added in order within blocks of 128
 * depths and the blocks' sums added to C in order. Whatever the kernel's tiles,
 * packing, in-place reads or tasks, no element may differ in a bit: over shapes with
 * an edge in every dimension (every kind of partial tile), depths over several
 * blocks, all four transpositions, broadcast batches, operands and results read and
 * written through strides (graph mode's layout pass), eagerly and as a graph, with 1
 * and 2 threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "../engine/src/internal.h" /* duet_pool_force_split */

enum { PORTABLE_BLOCK = 128, RANK = 4 };

static const int HEADS[RANK] = {0, 2, 1, 3}; /* (B, T, H, D) <-> (B, H, T, D) */

/* One element: a[l * as] times b[l * bs] summed over k depths, as the numerics does. */
static float ref_dot(const float *a, int64_t as, const float *b, int64_t bs, int64_t k, bool fma)
{
    if (fma) {
        float acc = 0.0f;
        for (int64_t l = 0; l < k; l++) acc = fmaf(a[l * as], b[l * bs], acc);
        return acc;
    }
    float c = 0.0f;
    for (int64_t k0 = 0; k0 < k; k0 += PORTABLE_BLOCK) {
        float acc = 0.0f;
        for (int64_t l = k0; l < k && l < k0 + PORTABLE_BLOCK; l++) {
            volatile float p = a[l * as] * b[l * bs]; /* rounded: no contraction to an FMA */
            acc += p;
        }
        c = k0 ? c + acc : acc;
    }
    return c;
}

/* A product of rank-4 operands as the product reads them: batch dims (2, H), a size
 * 1 broadcast; each operand and the result optionally through the heads transpose. */
typedef struct bits_case {
    int64_t batch_a[2], batch_b[2];
    int64_t m, k, n;
    bool ta, tb;
    bool pa, pb, pout; /* transposes around the product, folded in graph mode */
} bits_case;

/* out = pout(matmul(pa(a), pb(b))) */
static void bits_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    const bits_case *c = user;
    duet_tensor *x = c->pa ? duet_transpose(ctx, in[0], HEADS) : in[0];
    duet_tensor *y = c->pb ? duet_transpose(ctx, in[1], HEADS) : in[1];
    duet_tensor *z = duet_matmul(ctx, x, y, c->ta, c->tb);
    out[0] = c->pout ? duet_transpose(ctx, z, HEADS) : z;
}

/* Operand k's shape as the product reads it, and as stored (through the heads
 * transpose, its own inverse, when it is read so). */
static void operand_shapes(const bits_case *c, int k, int64_t *read, int64_t *stored)
{
    bool t = k ? c->tb : c->ta;
    int64_t rows = k ? c->k : c->m, cols = k ? c->n : c->k;
    memcpy(read, k ? c->batch_b : c->batch_a, 2 * sizeof(int64_t));
    read[2] = t ? cols : rows;
    read[3] = t ? rows : cols;
    bool p = k ? c->pb : c->pa;
    for (int i = 0; i < RANK; i++) stored[i] = read[p ? HEADS[i] : i];
}

static int64_t numel(const int64_t *shape)
{
    return shape[0] * shape[1] * shape[2] * shape[3];
}

/* The expected result as stored: the product of the operands as read (their dense
 * copies x and y), batch dims broadcast, then through the heads transpose if pout. */
static float *expected(const bits_case *c, const float *x, const float *y, int64_t *count)
{
    int64_t rx[RANK], ry[RANK], sx[RANK], sy[RANK], bat[2];
    operand_shapes(c, 0, rx, sx);
    operand_shapes(c, 1, ry, sy);
    for (int d = 0; d < 2; d++) bat[d] = rx[d] > ry[d] ? rx[d] : ry[d];
    int64_t prod[RANK] = {bat[0], bat[1], c->m, c->n}, st[RANK] = {0};
    int64_t stored[RANK];
    for (int i = 0; i < RANK; i++) stored[i] = prod[c->pout ? HEADS[i] : i];
    st[RANK - 1] = 1; /* element strides of the stored result */
    for (int i = RANK - 2; i >= 0; i--) st[i] = st[i + 1] * stored[i + 1];
    *count = numel(prod);
    float *r = malloc(sizeof(float) * (size_t)*count);
    bool fma = strcmp(duet_numerics(), "portable") != 0;
    int64_t mk = c->m * c->k, kn = c->k * c->n;
    /* A(i, l) = xa[i * ar + l * al], B(l, j) = yb[l * br + j * bc] */
    int64_t ar = c->ta ? 1 : c->k, al = c->ta ? c->m : 1;
    int64_t br = c->tb ? 1 : c->n, bc = c->tb ? c->k : 1;
    for (int64_t b0 = 0; b0 < bat[0]; b0++)
        for (int64_t b1 = 0; b1 < bat[1]; b1++) {
            const float *xa = x + ((rx[0] > 1 ? b0 : 0) * rx[1] + (rx[1] > 1 ? b1 : 0)) * mk;
            const float *yb = y + ((ry[0] > 1 ? b0 : 0) * ry[1] + (ry[1] > 1 ? b1 : 0)) * kn;
            for (int64_t i = 0; i < c->m; i++)
                for (int64_t j = 0; j < c->n; j++) {
                    int64_t at[RANK] = {b0, b1, i, j}, off = 0;
                    for (int d = 0; d < RANK; d++) off += at[c->pout ? HEADS[d] : d] * st[d];
                    r[off] = ref_dot(xa + i * ar, al, yb + j * bc, br, c->k, fma);
                }
        }
    return r;
}

/* The body run eagerly or as a graph with `threads` threads, every parallel loop
 * split; its output's values, malloc'ed. */
static float *run(const bits_case *c, duet_exec_mode mode, int threads, const float *a,
                  const float *b, int64_t count)
{
    duet_ctx *ctx = duet_ctx_new();
    assert_int_equal(duet_ctx_set_threads(ctx, threads), DUET_OK);
    int64_t read[RANK], stored[2][RANK];
    operand_shapes(c, 0, read, stored[0]);
    operand_shapes(c, 1, read, stored[1]);
    duet_tensor *in[2] = {duet_constant(ctx, DUET_F32, RANK, stored[0], a),
                          duet_constant(ctx, DUET_F32, RANK, stored[1], b)},
                *out;
    duet_fn *fn = duet_fn_new(ctx, "bits", bits_body, 2, 1, (void *)c);
    duet_fn_set_mode(fn, mode);
    duet_pool_force_split(true);
    int rc = duet_fn_call(fn, in, &out);
    duet_pool_force_split(false);
    if (rc) duet_diag_print(stderr, duet_ctx_error(ctx));
    assert_int_equal(rc, 0);
    assert_int_equal(duet_numel(out), count);
    float *vals = malloc(sizeof(float) * (size_t)count);
    memcpy(vals, out->data, sizeof(float) * (size_t)count);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
    return vals;
}

/* Dense copies of operand k as the product reads it (the stored values through the
 * heads transpose when it is read so). */
static float *read_copy(const bits_case *c, int k, const float *stored_vals)
{
    int64_t read[RANK], stored[RANK];
    operand_shapes(c, k, read, stored);
    duet_ctx *ctx = duet_ctx_new();
    duet_tensor *t = duet_constant(ctx, DUET_F32, RANK, stored, stored_vals);
    if (k ? c->pb : c->pa) t = duet_transpose(ctx, t, HEADS);
    assert_int_equal(duet_ctx_status(ctx), DUET_OK);
    float *copy = malloc(sizeof(float) * (size_t)numel(read));
    memcpy(copy, t->data, sizeof(float) * (size_t)numel(read));
    duet_ctx_free(ctx);
    return copy;
}

/* Eager and graph mode, 1 and 2 threads: every element as the reference's. */
static void check_case(const bits_case *c, unsigned seed)
{
    int64_t read[RANK], sa[RANK], sb[RANK], count;
    operand_shapes(c, 0, read, sa);
    operand_shapes(c, 1, read, sb);
    float *a = malloc(sizeof(float) * (size_t)numel(sa));
    float *b = malloc(sizeof(float) * (size_t)numel(sb));
    tu_fill(a, (int)numel(sa), seed, -1, 1);
    tu_fill(b, (int)numel(sb), seed + 1, -1, 1);
    float *x = read_copy(c, 0, a), *y = read_copy(c, 1, b);
    float *want = expected(c, x, y, &count);
    for (int run_i = 0; run_i < 4; run_i++) {
        duet_exec_mode mode = run_i & 1 ? DUET_GRAPH : DUET_EAGER;
        int threads = run_i & 2 ? 2 : 1;
        float *got = run(c, mode, threads, a, b, count);
        for (int64_t e = 0; e < count; e++)
            if (memcmp(&got[e], &want[e], sizeof(float)))
                fail_msg("%s, %d thread(s), M %lld K %lld N %lld ta %d tb %d perms %d%d%d: "
                         "element %lld is %.9g, the reference %.9g",
                         mode == DUET_GRAPH ? "graph" : "eager", threads, (long long)c->m,
                         (long long)c->k, (long long)c->n, c->ta, c->tb, c->pa, c->pb, c->pout,
                         (long long)e, got[e], want[e]);
        free(got);
    }
    free(a), free(b), free(x), free(y), free(want);
}

/* Each size in turn for all four transpositions, plain and through every stride. */
static void check_sizes(int64_t m, int64_t k, int64_t n, unsigned seed)
{
    for (int t = 0; t < 4; t++)
        for (int p = 0; p < 2; p++) {
            bits_case c = {{2, 3}, {2, 3}, m, k, n, t & 1, t & 2, p, p, p};
            check_case(&c, seed + (unsigned)(8 * t + p));
        }
}

/* Tiles of every kind: M about one panel of 8 rows and under it; N in each strip
 * width (at most 8, under and at 16, under and at 32, over one block of 128). */
static void test_edges(void **state)
{
    (void)state;
    check_sizes(1, 5, 1, 1);
    check_sizes(7, 3, 8, 2);
    check_sizes(9, 13, 5, 3);
    check_sizes(8, 16, 12, 4);
    check_sizes(17, 32, 16, 5);
    check_sizes(13, 9, 20, 6);
    check_sizes(16, 40, 32, 7);
    check_sizes(40, 32, 40, 8);
    check_sizes(11, 7, 47, 9);
    check_sizes(3, 5, 131, 10);
}

/* Depths over one block of the FMA kernels (256) and several of the portable ones
 * (128), where C is stored and added to between blocks. */
static void test_depth_blocks(void **state)
{
    (void)state;
    check_sizes(9, 300, 33, 20);
    check_sizes(5, 513, 7, 21);
}

/* Batches broadcast along either dim, and each layout alone. */
static void test_broadcast_and_layouts(void **state)
{
    (void)state;
    for (int t = 0; t < 4; t++)
        for (int p = 0; p < 8; p++) {
            bits_case c = {{1, 3}, {2, 1}, 19, 35, 21, t & 1, t & 2, p & 1, p & 2, p & 4};
            check_case(&c, 30 + (unsigned)(8 * t + p));
        }
}

/* Rows enough for several tasks in one batch, with the attention shapes' sizes. */
static void test_tasks(void **state)
{
    (void)state;
    bits_case c = {{1, 2}, {1, 2}, 300, 32, 40, false, true, true, true, false};
    check_case(&c, 40);
    bits_case d = {{1, 2}, {1, 2}, 200, 130, 32, false, false, false, true, true};
    check_case(&d, 41);
    d.ta = true;
    check_case(&d, 42);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_depth_blocks),
        cmocka_unit_test(test_broadcast_and_layouts),
        cmocka_unit_test(test_tasks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
