/* Matrix product with NumPy-style batch broadcasting: a (..., M, K) x b (..., K, N),
 * either operand optionally transposed in its last two axes.
 *
 * The kernel is a small packed GEMM: B is packed into KC x NR strips, A into MR x KC
 * panels (both zero-padded at the edges), and a fixed-size MR x NR micro-kernel keeps
 * its accumulators in registers while the inner loop runs over NR contiguous columns,
 * which GCC and Clang vectorise at -O2. Packing also turns the transposed cases into
 * the plain one, so there is one inner loop for all four. */
#include "../internal.h"

/* attrs: i[0] = trans_a, i[1] = trans_b */

#define MM_MR 4   /* rows of the register tile */
#define MM_NR 16  /* columns of the register tile */
#define MM_KC 128 /* depth of a packed block */
#define MM_NC 128 /* columns of a packed block of B (multiple of MM_NR) */

static bool dim_match(int64_t x, int64_t y)
{
    return x == y || DUET_DIM_IS_SYM(x) || DUET_DIM_IS_SYM(y);
}

/* Attribute slots: whether each operand is read transposed. */
enum { MATMUL_TRANS_A = 0, MATMUL_TRANS_B = 1 };

static int matmul_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                        duet_type *out)
{
    (void)nin;
    const duet_tensor *x = in[0], *y = in[1];
    char sa[96], sb[96];
    if (x->dtype != DUET_F32 || y->dtype != DUET_F32)
        return duet_fail(c, DUET_ERR_DTYPE, "operands are %s and %s; need f32",
                         duet_dtype_name(x->dtype), duet_dtype_name(y->dtype));
    if (x->rank < 2 || y->rank < 2)
        return duet_fail(c, DUET_ERR_SHAPE, "operands %s and %s need rank >= 2",
                         duet_shape_str(x, sa, sizeof sa), duet_shape_str(y, sb, sizeof sb));
    bool ta = a->i[MATMUL_TRANS_A] != 0, tb = a->i[MATMUL_TRANS_B] != 0;
    int rx = x->rank, ry = y->rank;
    int64_t m = x->shape[rx - (ta ? 1 : 2)], kx = x->shape[rx - (ta ? 2 : 1)];
    int64_t ky = y->shape[ry - (tb ? 1 : 2)], n = y->shape[ry - (tb ? 2 : 1)];
    if (!dim_match(kx, ky))
        return duet_fail(c, DUET_ERR_SHAPE,
                         "inner dims differ: a %s%s has K=%lld, b %s%s has K=%lld",
                         duet_shape_str(x, sa, sizeof sa), ta ? " (transposed)" : "",
                         (long long)kx, duet_shape_str(y, sb, sizeof sb),
                         tb ? " (transposed)" : "", (long long)ky);
    /* batch dims: NumPy broadcasting; a symbol against a size takes the size */
    int bx = rx - 2, by = ry - 2, rb = bx > by ? bx : by;
    for (int d = 0; d < rb; d++) {
        int ix = d - (rb - bx), iy = d - (rb - by);
        int64_t dx = ix >= 0 ? x->shape[ix] : 1, dy = iy >= 0 ? y->shape[iy] : 1, r;
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
                             duet_shape_str(x, sa, sizeof sa), duet_shape_str(y, sb, sizeof sb),
                             (long long)dx, (long long)dy);
        out->shape[d] = r;
    }
    out->dtype = DUET_F32;
    out->rank = rb + 2;
    out->shape[rb] = m;
    out->shape[rb + 1] = n;
    return 0;
}

/* ---- packed GEMM: C (M x N, row stride ldc) = A (M x K) B (K x N) ----
 * A(i, k) = A[i * ars + k * acs] and B(k, j) = B[k * brs + j * bcs], so a transposed
 * operand is just a different pair of strides. */

/* Bp holds ceil(nc / NR) strips, each kc x NR row-major, zero beyond column nc. */
static void pack_b(float *restrict bp, const float *b, int64_t brs, int64_t bcs, int64_t kc,
                   int64_t nc)
{
    for (int64_t j0 = 0; j0 < nc; j0 += MM_NR) {
        int64_t w = nc - j0 < MM_NR ? nc - j0 : MM_NR;
        float *restrict dst = bp + j0 * kc;
        if (bcs == 1) { /* rows of B are contiguous */
            for (int64_t k = 0; k < kc; k++) {
                const float *src = b + k * brs + j0;
                float *d = dst + k * MM_NR;
                if (w == MM_NR) {
                    memcpy(d, src, sizeof(float) * MM_NR);
                } else {
                    memcpy(d, src, sizeof(float) * (size_t)w);
                    memset(d + w, 0, sizeof(float) * (size_t)(MM_NR - w));
                }
            }
        } else { /* transposed B: columns of B are contiguous */
            for (int64_t jj = 0; jj < MM_NR; jj++) {
                if (jj < w) {
                    const float *src = b + (j0 + jj) * bcs;
                    for (int64_t k = 0; k < kc; k++) dst[k * MM_NR + jj] = src[k * brs];
                } else {
                    for (int64_t k = 0; k < kc; k++) dst[k * MM_NR + jj] = 0.0f;
                }
            }
        }
    }
}

/* Ap is kc x MR (k-major), zero beyond row mr. */
static void pack_a(float *restrict ap, const float *a, int64_t ars, int64_t acs, int64_t mr,
                   int64_t kc)
{
    for (int64_t r = 0; r < MM_MR; r++) {
        if (r < mr) {
            const float *src = a + r * ars;
            for (int64_t k = 0; k < kc; k++) ap[k * MM_MR + r] = src[k * acs];
        } else {
            for (int64_t k = 0; k < kc; k++) ap[k * MM_MR + r] = 0.0f;
        }
    }
}

/* The register tile: acc = Ap^T Bp over kc, then C = acc (first block) or C += acc,
 * writing only the mr x nr valid corner. */
static inline __attribute__((always_inline)) void micro(int64_t kc, const float *restrict ap, const float *restrict bp,
                  float *restrict cp, int64_t ldc, int64_t mr, int64_t nr, bool accumulate)
{
    float acc[MM_MR][MM_NR] = {{0}};
    for (int64_t k = 0; k < kc; k++) {
        const float *restrict av = ap + k * MM_MR;
        const float *restrict bv = bp + k * MM_NR;
        /* fully unrolled, so acc lives in vector registers */
#pragma GCC unroll 16
        for (int r = 0; r < MM_MR; r++) {
            float s = av[r];
#pragma GCC unroll 16
            for (int j = 0; j < MM_NR; j++) acc[r][j] += s * bv[j];
        }
    }
    for (int64_t r = 0; r < mr; r++) {
        float *crow = cp + r * ldc;
        if (accumulate) {
            for (int64_t j = 0; j < nr; j++) crow[j] += acc[r][j];
        } else if (nr == MM_NR) {
            memcpy(crow, acc[r], sizeof acc[r]);
        } else {
            memcpy(crow, acc[r], sizeof(float) * (size_t)nr);
        }
    }
}

/* Built twice, for AVX2 and for baseline x86-64, and picked once at load time (an
 * ifunc): AVX2 doubles the register tile's width. No FMA, so both versions do the
 * same multiplies and adds in the same order and give the same bits. */
__attribute__((target_clones("avx2", "default")))
static void gemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t ars, int64_t acs,
                 const float *b, int64_t brs, int64_t bcs, float *cm, int64_t ldc)
{
    _Alignas(64) float bp[MM_KC * MM_NC];
    _Alignas(64) float ap[MM_KC * MM_MR];
    if (k == 0) {
        for (int64_t i = 0; i < m; i++) memset(cm + i * ldc, 0, sizeof(float) * (size_t)n);
        return;
    }
    for (int64_t j0 = 0; j0 < n; j0 += MM_NC) {
        int64_t nc = n - j0 < MM_NC ? n - j0 : MM_NC;
        for (int64_t k0 = 0; k0 < k; k0 += MM_KC) {
            int64_t kc = k - k0 < MM_KC ? k - k0 : MM_KC;
            pack_b(bp, b + k0 * brs + j0 * bcs, brs, bcs, kc, nc);
            for (int64_t i0 = 0; i0 < m; i0 += MM_MR) {
                int64_t mr = m - i0 < MM_MR ? m - i0 : MM_MR;
                pack_a(ap, a + i0 * ars + k0 * acs, ars, acs, mr, kc);
                for (int64_t s = 0; s < nc; s += MM_NR)
                    micro(kc, ap, bp + s * kc, cm + i0 * ldc + j0 + s, ldc, mr,
                          nc - s < MM_NR ? nc - s : MM_NR, k0 > 0);
            }
        }
    }
}

static int matmul_kernel(duet_ctx *c, const duet_attrs *at, duet_tensor *const *in, int nin,
                         duet_tensor *out)
{
    (void)c, (void)nin;
    const duet_tensor *x = in[0], *y = in[1];
    bool ta = at->i[MATMUL_TRANS_A] != 0, tb = at->i[MATMUL_TRANS_B] != 0;
    int rx = x->rank, ry = y->rank, rb = out->rank - 2;
    int64_t m = out->shape[rb], n = out->shape[rb + 1];
    int64_t k = x->shape[rx - (ta ? 2 : 1)];
    /* strides of the matrices: A(i, k) and B(k, j) */
    int64_t ars = ta ? 1 : k, acs = ta ? m : 1;
    int64_t brs = tb ? 1 : n, bcs = tb ? k : 1;
    int64_t msz_a = m * k, msz_b = k * n, msz_c = m * n;
    /* batch strides in matrices (0 along broadcast dims) */
    int64_t sa[DUET_MAX_RANK], sb[DUET_MAX_RANK], nbatch = 1, na = 1, nb = 1;
    for (int d = rb - 1; d >= 0; d--) {
        int ix = d - (rb - (rx - 2)), iy = d - (rb - (ry - 2));
        int64_t dx = ix >= 0 ? x->shape[ix] : 1, dy = iy >= 0 ? y->shape[iy] : 1;
        sa[d] = dx == 1 ? 0 : na;
        sb[d] = dy == 1 ? 0 : nb;
        na *= dx, nb *= dy, nbatch *= out->shape[d];
    }
    if (nbatch == 0 || m == 0 || n == 0) return 0;
    const float *pa = x->data, *pb = y->data;
    float *po = out->data;
    /* One shared B and a row-major A whose batch matches the output's: a single
     * (batch * M, K) x (K, N) product, e.g. (B, T, D) x (D, F). */
    if (!ta && nb == 1 && na == nbatch) {
        gemm(nbatch * m, n, k, pa, ars, acs, pb, brs, bcs, po, n);
        return 0;
    }
    for (int64_t bi = 0; bi < nbatch; bi++) {
        int64_t rem = bi, oa = 0, ob = 0;
        for (int d = rb - 1; d >= 0; d--) {
            int64_t idx = rem % out->shape[d];
            rem /= out->shape[d];
            oa += idx * sa[d], ob += idx * sb[d];
        }
        gemm(m, n, k, pa + oa * msz_a, ars, acs, pb + ob * msz_b, brs, bcs, po + bi * msz_c, n);
    }
    return 0;
}

/* C = op(A) op(B) with G = dC:
 *   NN: dA = G B^T          dB = A^T G
 *   TN: dA = B G^T          dB = A G       (A stored K x M)
 *   NT: dA = G B            dB = G^T A     (B stored N x K)
 *   TT: dA = B^T G^T        dB = G^T A^T
 * then summed over the batch dims the operand was broadcast along. */
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
        if (!tb)
            gb = ta ? duet_matmul(c, a, gy, false, false) : duet_matmul(c, a, gy, true, false);
        else
            gb = ta ? duet_matmul(c, gy, a, true, true) : duet_matmul(c, gy, a, true, false);
        gx[1] = duet_unbroadcast(c, gb, b);
    }
}

static void matmul_attr_text(const duet_attrs *a, duet_text *t)
{
    if (a->i[MATMUL_TRANS_A]) duet_text_put(t, " trans_a");
    if (a->i[MATMUL_TRANS_B]) duet_text_put(t, " trans_b");
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
