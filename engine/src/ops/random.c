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

static void philox_round(uint32_t ctr[4], const uint32_t key[2])
{
    uint64_t p0 = (uint64_t)PHILOX_M0 * ctr[0];
    uint64_t p1 = (uint64_t)PHILOX_M1 * ctr[2];
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    uint32_t c1 = ctr[1], c3 = ctr[3];
    ctr[0] = hi1 ^ c1 ^ key[0];
    ctr[1] = lo1;
    ctr[2] = hi0 ^ c3 ^ key[1];
    ctr[3] = lo0;
}

/* Philox-4x32-10: out = bijection_key(ctr). */
static void philox4x32_10(const uint32_t ctr_in[4], const uint32_t key_in[2], uint32_t out[4])
{
    uint32_t ctr[4] = {ctr_in[0], ctr_in[1], ctr_in[2], ctr_in[3]};
    uint32_t key[2] = {key_in[0], key_in[1]};
    for (int r = 0; r < 10; r++) {
        if (r) {
            key[0] += PHILOX_W0;
            key[1] += PHILOX_W1;
        }
        philox_round(ctr, key);
    }
    memcpy(out, ctr, sizeof ctr);
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

static int dropout_mask_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                               duet_tensor *out)
{
    (void)c, (void)nin;
    const float rate = a->f[MASK_RATE];
    const float scale = 1.0f / (1.0f - rate);
    const uint64_t seed = (uint64_t)a->i[MASK_SEED];
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    const uint32_t counter = (uint32_t)*(const int32_t *)in[0]->data;
    const uint32_t stream = (uint32_t)a->i[MASK_STREAM];
    float *o = out->data;
    int64_t n = duet_numel(out);
    for (int64_t b = 0; b * 4 < n; b++) {
        uint64_t ub = (uint64_t)b;
        uint32_t ctr[4] = {(uint32_t)ub, (uint32_t)(ub >> 32), counter, stream}, r[4];
        philox4x32_10(ctr, key, r);
        for (int lane = 0; lane < 4 && b * 4 + lane < n; lane++) {
            float u = (float)(r[lane] >> 8) * (1.0f / 16777216.0f);
            o[b * 4 + lane] = u >= rate ? scale : 0.0f;
        }
    }
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
