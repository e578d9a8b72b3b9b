/* Matrix product with NumPy-style batch broadcasting: a (..., M, K) x b (..., K, N),
 * either operand optionally transposed in its last two axes.
 *
 * The kernel is a GEMM with a register-tiled micro-kernel, in two numerics
 * (duet_kernel_isa): fused multiply-add micro-kernels for AVX-512 or AVX2, which read
 * operands in place where an axis is contiguous and pack the rest, and the portable
 * mul-then-add kernel, which packs both, whose rounding is the same on every x86-64 CPU.
 * Batches and blocks of rows are tasks for the context's threads; every element of
 * C is computed by one task in one fixed order, so the thread count never changes a
 * bit. Eager and graph mode call this same kernel. In a compiled graph, an operand or
 * the result may be seen through an axis permutation (the layout pass folds
 * transposes so): that changes only the strides operands are read (or packed) and C
 * is written with, never the values or the order they are multiplied and added in. */
#include "../internal.h"

/* Attribute slots: whether each operand is read transposed; attrs.p is the layout
 * (internal.h), set only by the graph compiler's layout pass. */
enum { MATMUL_TRANS_A = 0, MATMUL_TRANS_B = 1 };

/* The permutation operand or result k is seen through, or NULL: as stored. */
static const int *layout_perm(const duet_attrs *a, int k)
{
    return duet_matmul_layout_rank(a, k) ? ((const duet_matmul_layout *)a->p)->perm[k] : NULL;
}

static int bad_layout(duet_ctx *c, int k, int rank)
{
    static const char *const what[DUET_MATMUL_NVIEWS] = {"operand a", "operand b", "result"};
    return duet_fail(c, DUET_ERR_INTERNAL, "the layout of the %s does not fit its rank %d",
                     what[k], rank);
}

/* Operand k as the product reads it: x, or transpose(x, perm) under the layout; with
 * each axis's element stride in x when strides is not NULL (the shape rule, whose
 * dims may be symbols, needs none). */
static int operand_view(duet_ctx *c, const duet_attrs *a, int k, const duet_tensor *x,
                        duet_type *t, int64_t *strides)
{
    const int *perm = layout_perm(a, k);
    if (perm && duet_matmul_layout_rank(a, k) != x->rank)
        return bad_layout(c, k, x->rank);
    int64_t st[DUET_MAX_RANK];
    if (strides) duet_contig_strides(x->rank, x->shape, st);
    t->dtype = x->dtype;
    t->rank = x->rank;
    for (int i = 0; i < x->rank; i++) {
        int from = perm ? perm[i] : i;
        t->shape[i] = x->shape[from];
        if (strides) strides[i] = st[from];
    }
    return 0;
}

/* The product as the kernel writes it: out is transpose(product, perm) under the
 * layout, so product axis perm[i] is out's axis i. */
static void result_view(const duet_attrs *a, const duet_tensor *out, duet_type *t,
                        int64_t *strides)
{
    const int *perm = layout_perm(a, DUET_MATMUL_OUT);
    int64_t st[DUET_MAX_RANK];
    duet_contig_strides(out->rank, out->shape, st);
    t->rank = out->rank;
    for (int i = 0; i < out->rank; i++) {
        int to = perm ? perm[i] : i;
        t->shape[to] = out->shape[i];
        strides[to] = st[i];
    }
}

/* The node's output type: the product's, permuted when the layout writes it
 * transposed (the last axis stays last, as the micro-kernels store rows). */
static int result_type(duet_ctx *c, const duet_attrs *a, duet_type *out)
{
    const int *perm = layout_perm(a, DUET_MATMUL_OUT);
    if (!perm) return 0;
    if (duet_matmul_layout_rank(a, DUET_MATMUL_OUT) != out->rank ||
        perm[out->rank - 1] != out->rank - 1)
        return bad_layout(c, DUET_MATMUL_OUT, out->rank);
    duet_type product = *out;
    for (int i = 0; i < out->rank; i++) out->shape[i] = product.shape[perm[i]];
    return 0;
}

static int matmul_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                        duet_type *out)
{
    (void)nin;
    duet_type x, y;
    char sa[96], sb[96];
    if (in[0]->dtype != DUET_F32 || in[1]->dtype != DUET_F32)
        return duet_fail(c, DUET_ERR_DTYPE, "operands are %s and %s; need f32",
                         duet_dtype_name(in[0]->dtype), duet_dtype_name(in[1]->dtype));
    if (operand_view(c, a, DUET_MATMUL_A, in[0], &x, NULL) ||
        operand_view(c, a, DUET_MATMUL_B, in[1], &y, NULL))
        return -1;
    if (x.rank < 2 || y.rank < 2)
        return duet_fail(c, DUET_ERR_SHAPE, "operands %s and %s need rank >= 2",
                         duet_type_str(&x, sa, sizeof sa), duet_type_str(&y, sb, sizeof sb));
    bool ta = a->i[MATMUL_TRANS_A] != 0, tb = a->i[MATMUL_TRANS_B] != 0;
    int rx = x.rank, ry = y.rank;
    int64_t m = x.shape[rx - (ta ? 1 : 2)], kx = x.shape[rx - (ta ? 2 : 1)];
    int64_t ky = y.shape[ry - (tb ? 1 : 2)], n = y.shape[ry - (tb ? 2 : 1)];
    if (!duet_dims_may_match(kx, ky))
        return duet_fail(c, DUET_ERR_SHAPE,
                         "inner dims differ: a %s%s has K=%lld, b %s%s has K=%lld",
                         duet_type_str(&x, sa, sizeof sa), ta ? " (transposed)" : "",
                         (long long)kx, duet_type_str(&y, sb, sizeof sb),
                         tb ? " (transposed)" : "", (long long)ky);
    /* batch dims: NumPy broadcasting; a symbol against a size takes the size */
    int bx = rx - 2, by = ry - 2, rb = bx > by ? bx : by;
    for (int d = 0; d < rb; d++) {
        int ix = d - (rb - bx), iy = d - (rb - by);
        int64_t dx = ix >= 0 ? x.shape[ix] : 1, dy = iy >= 0 ? y.shape[iy] : 1, r;
        if (dx == dy || dy == 1)
            r = dx;
        else if (dx == 1)
            r = dy;
        else if (DUET_DIM_IS_SYM(dx) && DUET_DIM_IS_SYM(dy))
            r = duet_fresh_dim(c); /* either may be 1 when the plan runs */
        else if (DUET_DIM_IS_SYM(dx))
            r = dy;
        else if (DUET_DIM_IS_SYM(dy))
            r = dx;
        else
            return duet_fail(c, DUET_ERR_SHAPE,
                             "batch dims of %s and %s cannot be broadcast (%lld vs %lld)",
                             duet_type_str(&x, sa, sizeof sa), duet_type_str(&y, sb, sizeof sb),
                             (long long)dx, (long long)dy);
        out->shape[d] = r;
    }
    out->dtype = DUET_F32;
    out->rank = rb + 2;
    out->shape[rb] = m;
    out->shape[rb + 1] = n;
    return result_type(c, a, out);
}

/* ---- packed GEMM: C (M x N, row stride ldc) = A (M x K) B (K x N) ----
 * A(i, l) = a[i * ars + l * acs] and B(l, j) = b[l * brs + j * bcs], so a transposed
 * operand is just a different pair of strides. */
typedef struct gemm_mat {
    int64_t m, n, k;
    const float *a;
    int64_t ars, acs;
    const float *b;
    int64_t brs, bcs;
    float *c;
    int64_t ldc;
} gemm_mat;

/* A panel holds W lines (rows of A, or columns of B) interleaved along the depth, as
 * the micro-kernels read them: dst[l * ld + r] = line r at depth l, where line r
 * starts at src + r * sr and steps by sl. pack_lines fills nl lines, the ones from
 * w on with zeros; a whole panel is nl = ld = W. Inlined, so that each caller gets
 * it for its constant panel width and its instruction set. */
static inline __attribute__((always_inline)) void
pack_lines(float *restrict dst, int64_t ld, int64_t nl, const float *src, int64_t sr, int64_t sl,
           int64_t w, int64_t kc)
{
    if (sr == 1) { /* the lines are contiguous at each depth: copy rows of the panel
                      (a loop, not memcpy: rows are a few floats, calls would dominate) */
        for (int64_t l = 0; l < kc; l++) {
            float *d = dst + l * ld;
            const float *s = src + l * sl;
            if (w == nl) { /* a whole panel: nl is the caller's constant, so one vector copy */
                for (int64_t r = 0; r < nl; r++) d[r] = s[r];
                continue;
            }
            for (int64_t r = 0; r < w; r++) d[r] = s[r];
            for (int64_t r = w; r < nl; r++) d[r] = 0.0f;
        }
        return;
    }
    for (int64_t r = 0; r < w; r++) {
        const float *line = src + r * sr;
        for (int64_t l = 0; l < kc; l++) dst[l * ld + r] = line[l * sl];
    }
    if (w < nl) /* the zero lines, written along each depth's contiguous run */
        for (int64_t l = 0; l < kc; l++)
            for (int64_t r = w; r < nl; r++) dst[l * ld + r] = 0.0f;
}

static inline __attribute__((always_inline)) void
pack_panel(float *restrict dst, int W, const float *src, int64_t sr, int64_t sl, int64_t w,
           int64_t kc)
{
    pack_lines(dst, W, W, src, sr, sl, w, kc);
}

/* ---- portable path: no FMA, the same bits on every x86-64 CPU ----
 * A is packed into MR x KC panels and B into KC x NR strips; the micro-kernel sums
 * each KC block from zero in an array the compiler keeps in vector registers, then
 * stores or adds it to C. These blocks fix the rounding order: kept as they were
 * before the FMA path, so DUET_PORTABLE_NUMERICS reproduces the older results. */
#define PORT_MR 4
#define PORT_NR 16
#define PORT_KC 128
#define PORT_NC 128 /* a multiple of PORT_NR */

static inline __attribute__((always_inline)) void
port_micro(int64_t kc, const float *restrict ap, const float *restrict bp, float *restrict cp,
           int64_t ldc, int64_t mr, int64_t nr, bool accumulate)
{
    float acc[PORT_MR][PORT_NR] = {{0}};
    for (int64_t l = 0; l < kc; l++) {
        const float *restrict av = ap + l * PORT_MR;
        const float *restrict bv = bp + l * PORT_NR;
#pragma GCC unroll 16
        for (int r = 0; r < PORT_MR; r++) {
            float s = av[r];
#pragma GCC unroll 16
            for (int j = 0; j < PORT_NR; j++) acc[r][j] += s * bv[j];
        }
    }
    for (int64_t r = 0; r < mr; r++) {
        float *crow = cp + r * ldc;
        if (accumulate)
            for (int64_t j = 0; j < nr; j++) crow[j] += acc[r][j];
        else if (nr == PORT_NR) /* a constant size: stores, and acc stays in registers */
            memcpy(crow, acc[r], sizeof acc[r]);
        else
            memcpy(crow, acc[r], sizeof(float) * (size_t)nr);
    }
}

/* Rows [i0, i1) of C. Built for AVX2 and baseline x86-64 and picked at load time:
 * without FMA both do the same multiplies and adds in the same order. */
__attribute__((target_clones("avx2", "default"))) static void
port_rows(const gemm_mat *g, int64_t i0, int64_t i1)
{
    _Alignas(64) float bp[PORT_KC * PORT_NC];
    _Alignas(64) float ap[PORT_KC * PORT_MR];
    for (int64_t j0 = 0; j0 < g->n; j0 += PORT_NC) {
        int64_t nc = g->n - j0 < PORT_NC ? g->n - j0 : PORT_NC;
        for (int64_t k0 = 0; k0 < g->k; k0 += PORT_KC) {
            int64_t kc = g->k - k0 < PORT_KC ? g->k - k0 : PORT_KC;
            for (int64_t s = 0; s < nc; s += PORT_NR)
                pack_panel(bp + s * kc, PORT_NR, g->b + k0 * g->brs + (j0 + s) * g->bcs, g->bcs,
                           g->brs, nc - s < PORT_NR ? nc - s : PORT_NR, kc);
            for (int64_t i = i0; i < i1; i += PORT_MR) {
                int64_t mr = i1 - i < PORT_MR ? i1 - i : PORT_MR;
                pack_panel(ap, PORT_MR, g->a + i * g->ars + k0 * g->acs, g->ars, g->acs, mr, kc);
                for (int64_t s = 0; s < nc; s += PORT_NR)
                    port_micro(kc, ap, bp + s * kc, g->c + i * g->ldc + j0 + s, g->ldc, mr,
                               nc - s < PORT_NR ? nc - s : PORT_NR, k0 > 0);
            }
        }
    }
}

/* ---- FMA path: AVX-512 or AVX2 micro-kernels, chosen by duet_kernel_isa ----
 * A micro-kernel computes a tile of C, FMA_MR rows by up to NR columns, from A(r, l) =
 * a[r * ar + l * al] and B(l, j) = b[l * bs + j]. So A can be read in place whenever
 * one of its axes is contiguous: broadcasts from its columns (transposed), or from
 * its rows (row-major, or a view with contiguous rows) where the kernel wants that
 * (fma_kernel.rows); and B whenever its rows are contiguous (masked at the right edge
 * of C). Only a transposed B, and an operand with neither axis contiguous, is always
 * packed. The accumulators start from zero, or from C when a later depth block adds
 * to it, and end in C: each element of C is a chain of fused multiply-adds in depth
 * order, whatever tile, task or thread computes it. */
#define FMA_MR 8
#define FMA_KC 256
#define FMA_NC 128 /* a multiple of every FMA kernel's NR */
/* How many depths ahead a tile asks for the lines of A: a few hundred cycles of
 * multiply-adds, about what a line takes to come from the shared L3. */
#define FMA_PREFETCH_DEPTH 32

typedef struct fma_tile {
    const float *a;
    int64_t ar, al; /* A(r, l) = a[r * ar + l * al] */
    const float *b;
    int64_t bs; /* B(l, j) = b[l * bs + j] */
    float *c;
    int64_t ldc;
    int64_t kc, mr, nr; /* depth, rows and columns of the tile */
    bool load_c;        /* a later depth block: add to C */
} fma_tile;

typedef void (*fma_micro_fn)(const fma_tile *t);

/* A micro-kernel, and which operands it takes in place. */
typedef struct fma_kernel {
    fma_micro_fn micro;
    int nr;    /* the columns of a whole tile */
    bool rows; /* reads a row-major A in place, by broadcasts from its rows */
} fma_kernel;

#if defined(__x86_64__)
#include <immintrin.h>

/* The rows of a tile's A: rows past mr repeat the last one, so that a tile at the
 * edge of A reads nothing outside it (the sums of those rows are dropped). */
static inline void tile_rows(const fma_tile *t, const float **row)
{
    for (int r = 0; r < FMA_MR; r++) row[r] = t->a + (r < t->mr ? r : t->mr - 1) * t->ar;
}

/* A(r, l) for the tile's row r: `lanes` when the 8 rows are adjacent floats (ar = 1, a
 * transposed or packed A, all 8 rows there), which addresses them from one pointer. */
static inline __attribute__((always_inline)) float tile_a(const fma_tile *t, const float **row,
                                                          bool lanes, int r, int64_t o)
{
    return lanes ? t->a[o + r] : row[r][o];
}

/* Asks for A a few depths ahead, a line of row l % 8 per depth: enough for rows whose
 * lines are 16 depths long, and for a transposed A, whose depths are lines apart. The
 * hardware prefetchers miss these streams once a panel's rows are pages apart (T x T
 * attention probabilities), and without this the tile waits for L3 each new line.
 * Only an address: it may lie past the tile's rows, and nothing is read from it.
 * Inlined by force, as prefetch_c: a prefetch has no effect the compiler sees, so GCC
 * judges a function of prefetches alone to be const and deletes its calls. */
static inline __attribute__((always_inline)) void prefetch_a(const fma_tile *t, int64_t l)
{
    uintptr_t at = (uintptr_t)t->a +
                   (uintptr_t)(((l & 7) * t->ar + (l + FMA_PREFETCH_DEPTH) * t->al) * 4);
    _mm_prefetch((const char *)at, _MM_HINT_T0);
}

/* Asks for the tile's rows of C, to be written when its depths are done: they arrive
 * while it computes, where a store miss (C too large for the caches, as the T x T
 * attention scores are) would wait then. A row of a tile spans at most 128 bytes, so
 * its first and last float name its lines (all but the middle one of three). */
static inline __attribute__((always_inline)) void prefetch_c(const fma_tile *t)
{
#pragma GCC unroll 8
    for (int r = 0; r < FMA_MR; r++)
        if (r < t->mr) {
            _mm_prefetch((const char *)(t->c + r * t->ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(t->c + r * t->ldc + t->nr - 1), _MM_HINT_T0);
        }
}

/* Lines of a transposed B, contiguous along the depth, are interleaved into a strip
 * by 8 x 8 transposes in registers. */
__attribute__((target("avx2"))) static void pack_panel_t8(float *restrict dst, int W,
                                                          const float *src, int64_t sr,
                                                          int64_t w, int64_t kc)
{
    int64_t r0 = 0;
    for (; r0 + 8 <= w; r0 += 8) {
        const float *s = src + r0 * sr;
        int64_t l0 = 0;
        for (; l0 + 8 <= kc; l0 += 8) {
            __m256 x[8], t[8], u[8];
            for (int i = 0; i < 8; i++) x[i] = _mm256_loadu_ps(s + i * sr + l0);
            for (int i = 0; i < 8; i += 2) {
                t[i] = _mm256_unpacklo_ps(x[i], x[i + 1]);
                t[i + 1] = _mm256_unpackhi_ps(x[i], x[i + 1]);
            }
            for (int i = 0; i < 8; i += 4) {
                u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
                u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
                u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
                u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
            }
            /* u[0..3] hold depths (0, 4), (1, 5), (2, 6), (3, 7) of lines 0-3; u[4..7]
             * the same of lines 4-7 */
            for (int i = 0; i < 4; i++) {
                _mm256_storeu_ps(dst + (l0 + i) * W + r0, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
                _mm256_storeu_ps(dst + (l0 + i + 4) * W + r0,
                                 _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
            }
        }
        for (; l0 < kc; l0++)
            for (int i = 0; i < 8; i++) dst[l0 * W + r0 + i] = s[i * sr + l0];
    }
    pack_lines(dst + r0, W, W - r0, src + r0 * sr, sr, 1, w - r0, kc); /* the rest, and zeros */
}

static inline __mmask16 mask16(int64_t n)
{
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

/* 8 x 8 in ymm registers: AVX2 has 16, so 8 accumulators, B and a broadcast. B is
 * loaded masked only in a strip narrower than 8 (the right edge of C, where B may end):
 * masked loads cost more. Its loop of 8 FMAs has no room for prefetch_a: measured
 * up to 10% slower with it (the weight gradients' 4096-deep products), and no faster
 * on the attention products. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
avx2_tile(bool masked, bool lanes, const fma_tile *t)
{
    const float *row[FMA_MR], *b = t->b;
    tile_rows(t, row);
    prefetch_c(t);
    __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(t->nr < 8 ? t->nr : 8)),
                                      _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256 acc[FMA_MR];
#pragma GCC unroll 8
    for (int r = 0; r < FMA_MR; r++)
        acc[r] = t->load_c && r < t->mr ? _mm256_maskload_ps(t->c + r * t->ldc, mask)
                                        : _mm256_setzero_ps();
    for (int64_t l = 0, o = 0; l < t->kc; l++, o += t->al, b += t->bs) {
        __m256 b0 = masked ? _mm256_maskload_ps(b, mask) : _mm256_loadu_ps(b);
#pragma GCC unroll 8
        for (int r = 0; r < FMA_MR; r++)
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(tile_a(t, row, lanes, r, o)), b0, acc[r]);
    }
#pragma GCC unroll 8
    for (int r = 0; r < FMA_MR; r++)
        if (r < t->mr) _mm256_maskstore_ps(t->c + r * t->ldc, mask, acc[r]);
}

__attribute__((target("avx2,fma"))) static void micro_avx2(const fma_tile *t)
{
    if (t->nr < 8)
        avx2_tile(true, false, t);
    else if (t->ar == 1 && t->mr == FMA_MR)
        avx2_tile(false, true, t);
    else
        avx2_tile(false, false, t);
}

/* A row-major A is packed for this kernel: its tiles are 8 columns wide, so a panel
 * is read once per 8 columns of C (16 times for 128), and broadcasts from 8 row
 * pointers weigh more in its short loop than one transposing pack (measured: the q,
 * k, v projection 8% slower in place). */
static const fma_kernel fma_avx2 = {micro_avx2, 8, false};

/* 8 x (16 * NV) in zmm registers: 16 accumulators for NV = 2, two loads of B and 8
 * broadcasts of A per depth, so the FMA units, not the loads, bound it. B is loaded
 * masked only in a strip narrower than 16 * NV, as in avx2_tile. */
__attribute__((target("avx512f,avx2,fma"), always_inline)) static inline void
avx512_tile(int NV, bool masked, bool lanes, const fma_tile *t)
{
    const float *row[FMA_MR], *b = t->b;
    tile_rows(t, row);
    prefetch_c(t);
    __mmask16 mask[2] = {mask16(t->nr), mask16(t->nr - 16)};
    __m512 acc[FMA_MR][2];
#pragma GCC unroll 8
    for (int r = 0; r < FMA_MR; r++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++)
            acc[r][v] = t->load_c && r < t->mr
                            ? _mm512_maskz_loadu_ps(mask[v], t->c + r * t->ldc + 16 * v)
                            : _mm512_setzero_ps();
    for (int64_t l = 0, o = 0; l < t->kc; l++, o += t->al, b += t->bs) {
        prefetch_a(t, l);
        __m512 bv[2];
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++)
            bv[v] = masked ? _mm512_maskz_loadu_ps(mask[v], b + 16 * v)
                           : _mm512_loadu_ps(b + 16 * v);
#pragma GCC unroll 8
        for (int r = 0; r < FMA_MR; r++) {
            __m512 ar = _mm512_set1_ps(tile_a(t, row, lanes, r, o));
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(ar, bv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < FMA_MR; r++)
        if (r < t->mr)
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++)
                _mm512_mask_storeu_ps(t->c + r * t->ldc + 16 * v, mask[v], acc[r][v]);
}

/* The tile for a strip's width: whole 32-column tiles, the bulk of the work, and
 * edges unmasked where their vectors are full. */
__attribute__((target("avx512f,avx2,fma"))) static void micro_avx512(const fma_tile *t)
{
    if (t->nr == 32 && t->ar == 1 && t->mr == FMA_MR)
        avx512_tile(2, false, true, t);
    else if (t->nr == 32)
        avx512_tile(2, false, false, t);
    else if (t->nr > 16)
        avx512_tile(2, true, false, t);
    else if (t->nr == 16)
        avx512_tile(1, false, false, t);
    else
        avx512_tile(1, true, false, t);
}

static const fma_kernel fma_avx512 = {micro_avx512, 32, true};

/* Packs a panel for the FMA kernels (see pack_panel). */
static void fma_pack(float *dst, int W, const float *src, int64_t sr, int64_t sl, int64_t w,
                     int64_t kc)
{
    if (sl == 1 && sr != 1)
        pack_panel_t8(dst, W, src, sr, w, kc);
    else
        pack_panel(dst, W, src, sr, sl, w, kc);
}

/* Rows [i0, i1) of C with the micro-kernel kern. */
static void fma_rows(const gemm_mat *g, int64_t i0, int64_t i1, const fma_kernel *kern)
{
    int NR = kern->nr;
    _Alignas(64) float bp[FMA_KC * FMA_NC];
    _Alignas(64) float ap[FMA_KC * FMA_MR];
    bool pack_a = g->ars != 1 && (g->acs != 1 || !kern->rows), pack_b = g->bcs != 1;
    for (int64_t j0 = 0; j0 < g->n; j0 += FMA_NC) {
        int64_t nc = g->n - j0 < FMA_NC ? g->n - j0 : FMA_NC;
        for (int64_t k0 = 0; k0 < g->k; k0 += FMA_KC) {
            int64_t kc = g->k - k0 < FMA_KC ? g->k - k0 : FMA_KC;
            const float *b = g->b + k0 * g->brs + j0 * g->bcs;
            if (pack_b) /* strips as wide as the tiles that read them: no zeros */
                for (int64_t s = 0; s < nc; s += NR) {
                    int w = nc - s < NR ? (int)(nc - s) : NR;
                    fma_pack(bp + s * kc, w, b + s * g->bcs, g->bcs, g->brs, w, kc);
                }
            fma_tile t = {.kc = kc, .ldc = g->ldc, .load_c = k0 > 0};
            for (int64_t i = i0; i < i1; i += FMA_MR) {
                t.mr = i1 - i < FMA_MR ? i1 - i : FMA_MR;
                t.a = g->a + i * g->ars + k0 * g->acs, t.ar = g->ars, t.al = g->acs;
                if (pack_a) {
                    fma_pack(ap, FMA_MR, t.a, g->ars, g->acs, t.mr, kc);
                    t.a = ap, t.ar = 1, t.al = FMA_MR;
                }
                for (int64_t s = 0; s < nc; s += NR) {
                    t.nr = nc - s < NR ? nc - s : NR;
                    t.b = pack_b ? bp + s * kc : b + s;
                    t.bs = pack_b ? t.nr : g->brs;
                    t.c = g->c + i * g->ldc + j0 + s;
                    kern->micro(&t);
                }
            }
        }
    }
}
#endif

/* Rows [i0, i1) of C, with the arithmetic duet_kernel_isa chose. */
static void gemm_rows(const gemm_mat *g, int64_t i0, int64_t i1)
{
    if (g->k == 0) {
        for (int64_t i = i0; i < i1; i++) memset(g->c + i * g->ldc, 0, sizeof(float) * (size_t)g->n);
        return;
    }
    switch (duet_kernel_isa()) {
#if defined(__x86_64__)
    case DUET_ISA_AVX512_FMA: fma_rows(g, i0, i1, &fma_avx512); return;
    case DUET_ISA_AVX2_FMA: fma_rows(g, i0, i1, &fma_avx2); return;
#endif
    default: port_rows(g, i0, i1); return;
    }
}

/* ---- the op's kernel: batches and row blocks as tasks over the context's threads ---- */

/* Rows per task: about this many flops each, so that small products stay one task
 * (a task costs a claim, a B pack and its share of waking a worker). A multiple of
 * every micro-kernel's MR, so that tasks cut no register tile. */
#define TASK_FLOPS (1 << 20)
#define TASK_ROW_ALIGN 8
/* Each task packs the B it needs, so where B is packed (the portable path, or a B
 * whose rows are not contiguous: transposed) a task takes at least this many rows:
 * packing K x N once per 64 rows costs a small fraction of the 64 * K * N
 * multiply-adds, once per 8 rows it would cost more than they do. A row-major B
 * read in place imposes no minimum. */
#define TASK_ROWS_PACKED_B 64

typedef struct matmul_job {
    gemm_mat g;                 /* batch 0 */
    int rb;                     /* batch dims of the product */
    int64_t bshape[DUET_MAX_RANK];
    /* per batch dim, element strides of a, b (0 where broadcast) and C */
    int64_t sa[DUET_MAX_RANK], sb[DUET_MAX_RANK], sc[DUET_MAX_RANK];
    int64_t rows, row_tasks;    /* rows per task, tasks per batch */
} matmul_job;

static void matmul_task(void *arg, int64_t t)
{
    const matmul_job *j = arg;
    int64_t bi = t / j->row_tasks, i0 = t % j->row_tasks * j->rows;
    int64_t rem = bi, oa = 0, ob = 0, oc = 0;
    for (int d = j->rb - 1; d >= 0; d--) {
        int64_t idx = rem % j->bshape[d];
        rem /= j->bshape[d];
        oa += idx * j->sa[d], ob += idx * j->sb[d], oc += idx * j->sc[d];
    }
    gemm_mat g = j->g;
    g.a += oa, g.b += ob, g.c += oc;
    gemm_rows(&g, i0, i0 + j->rows < g.m ? i0 + j->rows : g.m);
}

/* Element strides, per batch dim of the product, of an operand view of rank r with
 * strides st: 0 along the dims it is broadcast along (size 1, or missing). */
static void batch_strides(const matmul_job *j, const duet_type *v, const int64_t *st,
                          int64_t *out)
{
    for (int d = 0; d < j->rb; d++) {
        int i = d - (j->rb - (v->rank - 2));
        out[d] = i >= 0 && v->shape[i] != 1 ? st[i] : 0;
    }
}

/* Whether the matrices of every batch follow one another at the row stride rs (each
 * batch's m rows, then the next batch's), so that they are one matrix of
 * batches * m rows. */
static bool rows_chain(const matmul_job *j, const int64_t *bs, int64_t m, int64_t rs)
{
    int64_t step = m * rs;
    for (int d = j->rb - 1; d >= 0; d--) {
        if (j->bshape[d] != 1 && bs[d] != step) return false;
        step *= j->bshape[d];
    }
    return true;
}

/* The product through the views of a, b and C (in the layout's order, with their
 * element strides): whatever the strides, every element of C is the same chain of
 * multiply-adds over the same packed values, so a strided product has the bits of
 * a transpose and a plain one. */
static int matmul_kernel(duet_ctx *c, const duet_attrs *at, duet_tensor *const *in, int nin,
                         duet_tensor *out)
{
    (void)nin;
    duet_type x, y, z;
    int64_t xs[DUET_MAX_RANK], ys[DUET_MAX_RANK], zs[DUET_MAX_RANK];
    if (operand_view(c, at, DUET_MATMUL_A, in[0], &x, xs) ||
        operand_view(c, at, DUET_MATMUL_B, in[1], &y, ys))
        return -1;
    result_view(at, out, &z, zs);
    bool ta = at->i[MATMUL_TRANS_A] != 0, tb = at->i[MATMUL_TRANS_B] != 0;
    int rx = x.rank, ry = y.rank, rb = z.rank - 2;
    int64_t m = z.shape[rb], n = z.shape[rb + 1];
    int64_t k = x.shape[rx - (ta ? 2 : 1)];
    /* A(i, l) along x's rows and columns, or columns and rows when transposed */
    matmul_job j = {.g = {m, n, k, in[0]->data, xs[rx - (ta ? 1 : 2)], xs[rx - (ta ? 2 : 1)],
                          in[1]->data, ys[ry - (tb ? 1 : 2)], ys[ry - (tb ? 2 : 1)], out->data,
                          zs[rb]},
                    .rb = rb};
    int64_t nbatch = 1, nb = 1;
    memcpy(j.bshape, z.shape, sizeof(int64_t) * (size_t)rb);
    for (int d = 0; d < rb; d++) nbatch *= z.shape[d];
    for (int d = 0; d < ry - 2; d++) nb *= y.shape[d];
    batch_strides(&j, &x, xs, j.sa);
    batch_strides(&j, &y, ys, j.sb);
    memcpy(j.sc, zs, sizeof(int64_t) * (size_t)rb);
    if (nbatch == 0 || m == 0 || n == 0) return 0;
    /* One shared B, and batches of A and C that are one tall matrix each: a single
     * (batch * M, K) x (K, N) product, e.g. (B, T, D) x (D, F). */
    if (!ta && nb == 1 && rows_chain(&j, j.sa, m, j.g.ars) && rows_chain(&j, j.sc, m, j.g.ldc)) {
        j.g.m = m *= nbatch;
        j.rb = 0;
        nbatch = 1;
    }
    double flops = 2.0 * (double)m * (double)n * (double)k;
    int64_t rows = (int64_t)(TASK_FLOPS / (flops / (double)m > 1 ? flops / (double)m : 1));
    rows = (rows + TASK_ROW_ALIGN - 1) / TASK_ROW_ALIGN * TASK_ROW_ALIGN;
    bool b_packed = j.g.bcs != 1 || duet_kernel_isa() == DUET_ISA_PORTABLE;
    int64_t least = b_packed ? TASK_ROWS_PACKED_B : TASK_ROW_ALIGN;
    j.rows = rows < least ? least : rows;
    j.row_tasks = (m + j.rows - 1) / j.rows;
    duet_parallel_for(c, nbatch * j.row_tasks, flops * (double)nbatch, matmul_task, &j);
    return 0;
}

/* The gradient of a weight b (no batch dims) that a batched, untransposed a shares:
 * one product over all batch rows, (batch*M, K) and (batch*M, N) reshaped from a and
 * G, instead of a product per batch and a sum over them, which is batch times the
 * calls, each too short to keep the micro-kernel busy, and a (batch, K, N)
 * intermediate. NN: dB = A^T G; NT: dB = G^T A. */
static duet_tensor *shared_weight_grad(duet_ctx *c, duet_tensor *a, duet_tensor *gy, bool tb)
{
    duet_tensor *a2 = duet_reshape(c, a, 2, (int64_t[]){DUET_DIM_INFER, a->shape[a->rank - 1]});
    duet_tensor *g2 = duet_reshape(c, gy, 2, (int64_t[]){DUET_DIM_INFER, gy->shape[gy->rank - 1]});
    return tb ? duet_matmul(c, g2, a2, true, false) : duet_matmul(c, a2, g2, true, false);
}

/* C = op(A) op(B) with G = dC:
 *   NN: dA = G B^T          dB = A^T G
 *   TN: dA = B G^T          dB = A G       (A stored K x M)
 *   NT: dA = G B            dB = G^T A     (B stored N x K)
 *   TT: dA = B^T G^T        dB = G^T A^T
 * then summed over the batch dims the operand was broadcast along. The portable
 * numerics keep that per-batch sum for a shared weight too: the one-product form
 * adds in another order, and portable results stay those of the earlier kernels. */
static void matmul_vjp(duet_ctx *c, const duet_node *nd, duet_tensor *gy, duet_tensor **gx,
                       const bool *need)
{
    duet_tensor *a = nd->in[0], *b = nd->in[1];
    bool ta = nd->attr.i[MATMUL_TRANS_A] != 0, tb = nd->attr.i[MATMUL_TRANS_B] != 0;
    if (need[0]) {
        duet_tensor *ga;
        if (!ta)
            ga = tb ? duet_matmul(c, gy, b, false, false) : duet_matmul(c, gy, b, false, true);
        else
            ga = tb ? duet_matmul(c, b, gy, true, true) : duet_matmul(c, b, gy, false, true);
        gx[0] = duet_unbroadcast(c, ga, a);
    }
    if (need[1]) {
        duet_tensor *gb;
        if (!ta && b->rank == 2 && a->rank > 2 && duet_kernel_isa() != DUET_ISA_PORTABLE)
            gb = shared_weight_grad(c, a, gy, tb);
        else if (!tb)
            gb = ta ? duet_matmul(c, a, gy, false, false) : duet_matmul(c, a, gy, true, false);
        else
            gb = ta ? duet_matmul(c, gy, a, true, true) : duet_matmul(c, gy, a, true, false);
        gx[1] = duet_unbroadcast(c, gb, b);
    }
}

static void matmul_attr_text(const duet_attrs *a, duet_text *t)
{
    static const char *const name[DUET_MATMUL_NVIEWS] = {"a_perm", "b_perm", "out_perm"};
    if (a->i[MATMUL_TRANS_A]) duet_text_put(t, " trans_a");
    if (a->i[MATMUL_TRANS_B]) duet_text_put(t, " trans_b");
    for (int k = 0; k < DUET_MATMUL_NVIEWS; k++) {
        const int *perm = layout_perm(a, k);
        if (!perm) continue;
        duet_text_put(t, " %s=[", name[k]);
        for (int i = 0; i < duet_matmul_layout_rank(a, k); i++)
            duet_text_put(t, "%s%d", i ? ", " : "", perm[i]);
        duet_text_put(t, "]");
    }
}

const duet_op_def duet_opdef_matmul = {.name = "matmul",
                                       .nin = 2,
                                       .infer = matmul_infer,
                                       .kernel = matmul_kernel,
                                       .vjp = matmul_vjp,
                                       .attr_text = matmul_attr_text};

duet_tensor *duet_matmul_at(duet_site s, duet_ctx *c, duet_tensor *a, duet_tensor *b, bool trans_a,
                            bool trans_b)
{
    duet_attrs at = {0};
    at.i[MATMUL_TRANS_A] = trans_a;
    at.i[MATMUL_TRANS_B] = trans_b;
    return duet_apply(c, s, DUET_OP_MATMUL, (duet_tensor *[]){a, b}, 2, &at);
}
