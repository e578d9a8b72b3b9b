/* Counter-based randomness: dropout masks from Philox-4x32-10 (Salmon, Moraes, Dror,
 * Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
 *
 * A mask is a pure function of (seed, counter value, stream, element index): no
 * hidden generator state, so the same step gives the same mask eagerly and traced,
 * and two identical mask nodes may be merged. Element j takes lane j % 4 of the
 * Philox block with key = (seed low, seed high) and counter =
 * (j/4 low, j/4 high, counter value, stream). */
#include "../internal.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

/* Philox blocks PHILOX_LANES at a time, consecutive counters in lane-parallel arrays
 * (word k of block i at c[k][i]): each round is the same multiplies, xors and key
 * adds on every lane. Integer arithmetic, so every path below computes the same bits
 * as the one-block algorithm (tests/test_random.c checks against a reference). */
#define PHILOX_LANES 64
#define GROUP_FLOATS (4 * PHILOX_LANES) /* the mask elements of one group of blocks */

/* A mask's Philox key and counter words 2 and 3, and its rate and scale. */
typedef struct mask_params {
    uint32_t key[2], counter, stream;
    float rate, scale;
} mask_params;

typedef uint32_t philox_words[4][PHILOX_LANES];

/* The ten rounds in plain C, one block per lane: the portable path. The 32x32->64-bit
 * products stay scalar here (GCC vectorises them as full 64-bit multiplies, three
 * multiplies each without AVX-512DQ), hence the intrinsics paths below. */
static void philox_rounds(philox_words c, uint32_t k0, uint32_t k1)
{
    for (int r = 0; r < 10; r++) { /* round r uses the key bumped r times */
        for (int i = 0; i < PHILOX_LANES; i++) {
            uint64_t p0 = (uint64_t)PHILOX_M0 * c[0][i], p1 = (uint64_t)PHILOX_M1 * c[2][i];
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c[1][i] ^ k0;
            uint32_t n2 = (uint32_t)(p0 >> 32) ^ c[3][i] ^ k1;
            c[0][i] = n0, c[1][i] = (uint32_t)p1, c[2][i] = n2, c[3][i] = (uint32_t)p0;
        }
        k0 += PHILOX_W0, k1 += PHILOX_W1;
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

/* Each vector's 32-bit lanes times m: the high words (returned) and the low words
 * (*lo). pmuludq multiplies the even lanes, 32 x 32 -> 64 bits; the odd lanes are
 * shifted down to be multiplied the same way, and the halves blended back. */
__attribute__((target("avx512f"), always_inline)) static inline __m512i
mul_hilo16(__m512i v, __m512i m, __m512i *lo)
{
    __m512i pe = _mm512_mul_epu32(v, m), po = _mm512_mul_epu32(_mm512_srli_epi64(v, 32), m);
    *lo = _mm512_mask_blend_epi32(0xAAAA, pe, _mm512_slli_epi64(po, 32));
    return _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(pe, 32), po);
}

__attribute__((target("avx2"), always_inline)) static inline __m256i
mul_hilo8(__m256i v, __m256i m, __m256i *lo)
{
    __m256i pe = _mm256_mul_epu32(v, m), po = _mm256_mul_epu32(_mm256_srli_epi64(v, 32), m);
    *lo = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
    return _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
}

/* The rounds on vectors of V lanes: the lanes of a group are independent chains, so
 * several vectors per round hide the multiplies' latency. */
#define DEFINE_PHILOX_ROUNDS(NAME, TARGET, VEC, V, LOAD, STORE, SET1, XOR, MUL_HILO)         \
    __attribute__((target(TARGET))) static void NAME(philox_words c, uint32_t k0, uint32_t k1) \
    {                                                                                       \
        const VEC m0 = SET1((int)PHILOX_M0), m1 = SET1((int)PHILOX_M1);                     \
        for (int i = 0; i < PHILOX_LANES; i += V) {                                         \
            VEC c0 = LOAD(c[0] + i), c1 = LOAD(c[1] + i), c2 = LOAD(c[2] + i),              \
                c3 = LOAD(c[3] + i);                                                        \
            uint32_t a = k0, b = k1;                                                        \
            for (int r = 0; r < 10; r++) {                                                  \
                VEC lo0, lo1, hi0 = MUL_HILO(c0, m0, &lo0), hi1 = MUL_HILO(c2, m1, &lo1);   \
                c0 = XOR(XOR(hi1, c1), SET1((int)a));                                       \
                c2 = XOR(XOR(hi0, c3), SET1((int)b));                                       \
                c1 = lo1, c3 = lo0;                                                         \
                a += PHILOX_W0, b += PHILOX_W1;                                             \
            }                                                                               \
            STORE(c[0] + i, c0), STORE(c[1] + i, c1), STORE(c[2] + i, c2),                  \
                STORE(c[3] + i, c3);                                                        \
        }                                                                                   \
    }
#define LOAD512(p) _mm512_loadu_si512((const void *)(p))
#define STORE512(p, v) _mm512_storeu_si512((void *)(p), v)
#define LOAD256(p) _mm256_loadu_si256((const __m256i *)(p))
#define STORE256(p, v) _mm256_storeu_si256((__m256i *)(p), v)
DEFINE_PHILOX_ROUNDS(philox_rounds_avx512, "avx512f", __m512i, 16, LOAD512, STORE512,
                     _mm512_set1_epi32, _mm512_xor_si512, mul_hilo16)
DEFINE_PHILOX_ROUNDS(philox_rounds_avx2, "avx2", __m256i, 8, LOAD256, STORE256,
                     _mm256_set1_epi32, _mm256_xor_si256, mul_hilo8)
#endif

/* The words of blocks 64 g .. 64 g + 63 (a multiple of 64: the block number's high
 * word is the same in every lane), by the widest path the kernels use. */
static void philox_group(philox_words c, uint64_t g, const mask_params *pk)
{
    uint64_t b0 = g * PHILOX_LANES;
    for (int i = 0; i < PHILOX_LANES; i++) {
        c[0][i] = (uint32_t)b0 + (uint32_t)i;
        c[1][i] = (uint32_t)(b0 >> 32);
        c[2][i] = pk->counter;
        c[3][i] = pk->stream;
    }
    switch (duet_kernel_isa()) {
#if defined(__x86_64__)
    case DUET_ISA_AVX512_FMA: philox_rounds_avx512(c, pk->key[0], pk->key[1]); return;
    case DUET_ISA_AVX2_FMA: philox_rounds_avx2(c, pk->key[0], pk->key[1]); return;
#endif
    default: philox_rounds(c, pk->key[0], pk->key[1]); return;
    }
}

/* Element 4 i + k of the group is word k of block i: its top 24 bits as a uniform in
 * [0, 1) (exact in int32 and in float), kept (scaled) when >= rate. */
DUET_SIMD_CLONES static void mask_from_words(float *restrict o, const philox_words c,
                                             float rate, float scale)
{
    const float ulp = 1.0f / 16777216.0f;
    for (int i = 0; i < PHILOX_LANES; i++)
        for (int k = 0; k < 4; k++)
            o[4 * i + k] = (float)(int32_t)(c[k][i] >> 8) * ulp >= rate ? scale : 0.0f;
}

/* Attribute slots: the rank and dims of `like` (dims may be symbols), the seed and
 * the stream; the rate is a float slot. Input: the counter, an i32 scalar. */
enum { MASK_RANK = 0, MASK_SHAPE = 1, MASK_SEED = MASK_SHAPE + DUET_MAX_RANK, MASK_STREAM };
enum { MASK_RATE = 0 };
static int dropout_mask_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                              duet_type *out)
{
    (void)nin;
    float rate = a->f[MASK_RATE];
    if (!(rate >= 0.0f && rate < 1.0f))
        return duet_fail(c, DUET_ERR_ARG, "rate is %g; must be in [0, 1)", (double)rate);
    const duet_tensor *ctr = in[0];
    if (ctr->dtype != DUET_I32)
        return duet_fail(c, DUET_ERR_DTYPE, "counter is %s; need an i32 scalar",
                         duet_dtype_name(ctr->dtype));
    if (ctr->rank != 0) {
        char buf[96];
        return duet_fail(c, DUET_ERR_SHAPE, "counter has shape %s; need an i32 scalar ()",
                         duet_shape_str(ctr, buf, sizeof buf));
    }
    int rank = (int)a->i[MASK_RANK];
    if (rank < 0 || rank > DUET_MAX_RANK)
        return duet_fail(c, DUET_ERR_ARG, "rank %d is out of range 0..%d", rank, DUET_MAX_RANK);
    out->dtype = DUET_F32;
    out->rank = rank;
    for (int i = 0; i < rank; i++) {
        int64_t d = duet_dim_resolve(c, a->i[MASK_SHAPE + i]);
        if (d < 0 && !DUET_DIM_IS_SYM(d))
            return duet_fail(c, DUET_ERR_ARG, "dim %d is %lld; dims must be >= 0", i, (long long)d);
        out->shape[i] = d;
    }
    return 0;
}

/* The kernel's tasks: runs of groups; a short last group goes through a buffer. */
typedef struct mask_job {
    mask_params pk;
    float *o;
    int64_t n;
} mask_job;

static void mask_run(void *arg, int64_t begin, int64_t end)
{
    const mask_job *j = arg;
    philox_words c;
    for (int64_t g = begin; g < end; g++) {
        int64_t at = g * GROUP_FLOATS, len = j->n - at < GROUP_FLOATS ? j->n - at : GROUP_FLOATS;
        philox_group(c, (uint64_t)g, &j->pk);
        if (len == GROUP_FLOATS) {
            mask_from_words(j->o + at, c, j->pk.rate, j->pk.scale);
            continue;
        }
        float buf[GROUP_FLOATS];
        mask_from_words(buf, c, j->pk.rate, j->pk.scale);
        memcpy(j->o + at, buf, sizeof(float) * (size_t)len);
    }
}

/* A mask element (ten rounds for a quarter block, vectorised) costs about as much as
 * two elements of an elementwise pass. */
#define GROUP_WORK (GROUP_FLOATS * 2 * DUET_WORK_ELEM)

static int dropout_mask_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                               duet_tensor *out)
{
    (void)nin;
    const float rate = a->f[MASK_RATE];
    const uint64_t seed = (uint64_t)a->i[MASK_SEED];
    mask_job j = {.pk = {.key = {(uint32_t)seed, (uint32_t)(seed >> 32)},
                         .counter = (uint32_t)*(const int32_t *)in[0]->data,
                         .stream = (uint32_t)a->i[MASK_STREAM],
                         .rate = rate,
                         .scale = 1.0f / (1.0f - rate)},
                  .o = out->data,
                  .n = duet_numel(out)};
    duet_parallel_range(c, (j.n + GROUP_FLOATS - 1) / GROUP_FLOATS, GROUP_WORK, 1, mask_run, &j);
    return 0;
}

/* No vjp: the mask is a constant with respect to everything (the counter is an
 * integer); dropout's gradient flows through the mul by the mask. */
static void dropout_mask_attr_text(const duet_attrs *a, duet_text *t)
{
    duet_text_put(t, " rate=%g seed=%llu stream=%lld", (double)a->f[MASK_RATE],
                  (unsigned long long)a->i[MASK_SEED], (long long)a->i[MASK_STREAM]);
}

const duet_op_def duet_opdef_dropout_mask = {.name = "dropout_mask",
                                             .nin = 1,
                                             .infer = dropout_mask_infer,
                                             .kernel = dropout_mask_kernel,
                                             .attr_text = dropout_mask_attr_text};

duet_tensor *duet_dropout_mask_at(duet_site s, duet_ctx *c, duet_tensor *like, float rate,
                                  uint64_t seed, duet_tensor *counter, int stream)
{
    if (c->err.code) return &c->poison;
    c->cur_op = DUET_OP_DROPOUT_MASK, c->cur_site = s;
    if (!like) {
        duet_fail(c, DUET_ERR_ARG, "like is NULL");
        return &c->poison;
    }
    if (like->flags & DUET_TENSOR_POISON) {
        duet_fail(c, DUET_ERR_ARG, "like is a poisoned tensor");
        return &c->poison;
    }
    if (like->rank < 0 || like->rank > DUET_MAX_RANK) {
        duet_fail(c, DUET_ERR_ARG, "like has rank %d", like->rank);
        return &c->poison;
    }
    duet_attrs a = {0};
    a.i[MASK_RANK] = like->rank;
    for (int i = 0; i < like->rank; i++) a.i[MASK_SHAPE + i] = like->shape[i];
    a.i[MASK_SEED] = (int64_t)seed;
    a.i[MASK_STREAM] = stream;
    a.f[MASK_RATE] = rate;
    return duet_apply(c, s, DUET_OP_DROPOUT_MASK, &counter, 1, &a);
}

duet_tensor *duet_dropout_at(duet_site s, duet_ctx *c, duet_tensor *x, float rate, uint64_t seed,
                             duet_tensor *counter, int stream)
{
    duet_site call = duet_site_api(s, "dropout");
    duet_tensor *mask = duet_dropout_mask_at(call, c, x, rate, seed, counter, stream);
    return duet_mul_at(call, c, x, mask);
}
