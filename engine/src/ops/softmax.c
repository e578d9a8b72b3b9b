/* Softmax family: softmax and log_softmax over one axis (numerically stable: the
 * row max is subtracted first), softmax with a bool mask as one op, the softmax
 * gradient as one op, the sparse softmax cross-entropy loss and one_hot.
 *
 * Numerics, the same in both modes (one kernel per op) and for any thread count (no
 * reduction depends on how work is split):
 *   - exp is duet_exp_nonpos, a polynomial for the shifted scores (<= 0) that the
 *     compiler vectorises: at most 0.99 ULP from exp over every float in
 *     [-87.5, 0] (checked exhaustively against double exp; tests sample it), and +0
 *     below -87.5, where exp is under 1e-38 (a flush below f32's normal range; a
 *     masked score, -1e9, lands there).
 *   - sums and dot products accumulate in f32 in 16 lanes, element k into lane
 *     k mod 16 in order (from -0, the exact additive identity, which also pads a
 *     short last block), and the lanes are added pairwise (8+8, 4+4, 2+2, 1+1): one
 *     fixed order, whatever the vector width of the machine's clone. The row max is
 *     taken lane by lane too (any order gives the same maximum).
 * Before, exp was glibc's expf per element and sums ran in order in double; results
 * moved by a few ULP (docs/ner.md). */
#include <math.h>

#include "../internal.h"

/* Splits a concrete shape around axis: outer * n * inner elements. */
static void split_axis(const duet_tensor *t, int axis, int64_t *outer, int64_t *n, int64_t *inner)
{
    int64_t o = 1, in = 1;
    for (int i = 0; i < axis; i++) o *= t->shape[i];
    for (int i = axis + 1; i < t->rank; i++) in *= t->shape[i];
    *outer = o, *n = t->shape[axis], *inner = in;
}

/* Normalises a public (possibly negative) axis for x, reporting against op at site
 * s. NULL or poisoned x is left to duet_apply to report; returns 0 then. */
static int public_axis(duet_ctx *c, duet_site s, duet_op op, const duet_tensor *x, int axis)
{
    if (!x || duet_is_poison(x)) return 0;
    c->cur_op = op;
    c->cur_site = c->vjp_of ? c->vjp_of->site : s;
    return duet_norm_axis(c, axis, x->rank);
}

/* ---- the shared numerics ---- */

/* The helpers below are inlined into each clone of the kernels that use them, so each
 * is compiled (and vectorised) for that clone's instruction set. */
#define SOFTMAX_INLINE static inline __attribute__((always_inline))

/* Cephes's expf: d = k ln2 + r with |r| <= ln2/2 (ln2 in two parts, so k ln2 is exact
 * to f32), exp(r) by a degree-7 polynomial, then 2^k from the exponent bits. Every
 * operation rounds on its own (no contraction), so every clone gives these bits. */
SOFTMAX_INLINE float exp_nonpos(float d)
{
    /* Only [-87.5, 0] runs the polynomial; a flushed input (a masked score, -1e9) or a
     * NaN is computed as 0 and then dropped: -1e9 would make subnormal or garbage
     * intermediates, each a microcode assist, and converting a NaN k to an integer is
     * undefined. */
    bool flush = d < -87.5f, nan = d != d;
    float x = flush || nan ? 0.0f : d;
    float k = (x * 1.44269504f + 12582912.0f) - 12582912.0f; /* round(x / ln2) */
    float r = x - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * (r * r) + r + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)k + 127) << 23; /* k in [-126, 0]: a normal 2^k */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return nan ? d : flush ? 0.0f : y * scale;
}

/* The same over an array: what the error test measures. */
DUET_SIMD_CLONES void duet_exp_nonpos(float *o, const float *d, int64_t n)
{
    for (int64_t i = 0; i < n; i++) o[i] = exp_nonpos(d[i]);
}

/* 16 f32 lanes as a GCC vector: the lanes stay in registers, and a narrower clone
 * splits the same element-wise operations, so the order is the same everywhere. */
#define LANES 16
typedef float lanes __attribute__((vector_size(LANES * sizeof(float))));
typedef int32_t lane_mask __attribute__((vector_size(LANES * sizeof(float))));
/* Big enough for a vector loop, small enough for the stack and L1; a multiple of
 * LANES, so chunking a line keeps every element in its lane. */
#define CHUNK 256

/* (Vectors pass by pointer: by value they would make these functions' ABI depend on
 * the clone, which GCC warns about even for functions that are always inlined.) */
SOFTMAX_INLINE void lanes_fill(lanes *v, float x)
{
    lanes t = {0}; /* (lanes){0} + x would turn -0 into +0 */
    for (int j = 0; j < LANES; j++) t[j] = x;
    *v = t;
}

/* Elements 0 .. len - 1 (len <= 16) of a line at stride st, the missing lanes pad. */
SOFTMAX_INLINE void block(lanes *v, const float *x, int64_t st, int64_t len, float pad)
{
    if (st == 1 && len == LANES) {
        memcpy(v, x, sizeof *v);
        return;
    }
    float t[LANES]; /* filled as an array: inserting lane by lane is slower */
    for (int64_t j = 0; j < LANES; j++) t[j] = j < len ? x[j * st] : pad;
    memcpy(v, t, sizeof *v);
}

/* Halves of a vector, as vectors: the pairwise reductions below stay in registers
 * (indexing lanes one by one made GCC spill the vector to the stack every row). */
typedef float lanes8 __attribute__((vector_size(8 * sizeof(float))));
typedef float lanes4 __attribute__((vector_size(4 * sizeof(float))));
typedef int32_t mask8 __attribute__((vector_size(8 * sizeof(float))));
typedef int32_t mask4 __attribute__((vector_size(4 * sizeof(float))));
#define LO8(v) __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7)
#define HI8(v) __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15)
#define LO4(v) __builtin_shufflevector(v, v, 0, 1, 2, 3)
#define HI4(v) __builtin_shufflevector(v, v, 4, 5, 6, 7)

/* The lanes added pairwise: 8 + 8, 4 + 4, 2 + 2, 1 + 1. */
SOFTMAX_INLINE float lanes_total(lanes *v)
{
    lanes8 s8 = LO8(*v) + HI8(*v);
    lanes4 s4 = LO4(s8) + HI4(s8);
    float s0 = s4[0] + s4[2], s1 = s4[1] + s4[3];
    return s0 + s1;
}

/* Adds element k of x (contiguous, its first element in lane 0) into lane k mod 16; a
 * short last block is padded with -0, which adds nothing to any value. */
SOFTMAX_INLINE void lanes_add(lanes *acc, const float *x, int64_t n)
{
    for (int64_t k = 0; k < n; k += LANES) {
        lanes b;
        block(&b, x + k, 1, n - k < LANES ? n - k : LANES, -0.0f);
        *acc += b;
    }
}

/* The largest of n elements at stride st, lane by lane as the sums go. A NaN in the
 * line may or may not win; its exp (NaN) makes the row NaN either way. */
SOFTMAX_INLINE float line_max(const float *x, int64_t n, int64_t st)
{
    lanes mx, b;
    lanes_fill(&mx, -INFINITY);
    for (int64_t k = 0; k < n; k += LANES) {
        block(&b, x + k * st, st, n - k < LANES ? n - k : LANES, -INFINITY);
        lane_mask gt = b > mx;
        mx = (lanes)(((lane_mask)b & gt) | ((lane_mask)mx & ~gt));
    }
    lanes8 lo = LO8(mx), hi = HI8(mx);
    mask8 gt8 = hi > lo;
    lanes8 m8 = (lanes8)(((mask8)hi & gt8) | ((mask8)lo & ~gt8));
    lanes4 lo4 = LO4(m8), hi4 = HI4(m8);
    mask4 gt4 = hi4 > lo4;
    lanes4 m4 = (lanes4)(((mask4)hi4 & gt4) | ((mask4)lo4 & ~gt4));
    float m0 = m4[2] > m4[0] ? m4[2] : m4[0], m1 = m4[3] > m4[1] ? m4[3] : m4[1];
    return m1 > m0 ? m1 : m0;
}

/* o[k] = exp(x[k] - m) for the len < 16 elements after a row's whole vectors, as
 * one padded vector: a scalar loop of exps there cost more than all the rest of a
 * 40-element row. */
SOFTMAX_INLINE void exp_tail(float *o, const float *x, int64_t len, float m)
{
    if (!len) return;
    float t[LANES], e[LANES];
    for (int j = 0; j < LANES; j++) t[j] = j < len ? x[j] : 0.0f;
    for (int j = 0; j < LANES; j++) e[j] = exp_nonpos(t[j] - m);
    memcpy(o, e, sizeof *o * (size_t)len);
}

/* sum_k exp(x[k st] - m); also stores each exp at o[k st] unless o is NULL. A
 * contiguous output is its own scratch; otherwise chunks go through the stack. */
SOFTMAX_INLINE float exp_sum(float *o, const float *x, int64_t n, int64_t st, float m)
{
    lanes acc;
    lanes_fill(&acc, -0.0f);
    float buf[CHUNK];
    if (st == 1 && (o || n <= CHUNK)) { /* a short row without output: buf for scratch */
        float *e = o ? o : buf;
        int64_t full = n - n % LANES;
        for (int64_t k = 0; k < full; k++) e[k] = exp_nonpos(x[k] - m);
        exp_tail(e + full, x + full, n - full, m);
        lanes_add(&acc, e, n);
        return lanes_total(&acc);
    }
    for (int64_t c = 0; c < n; c += CHUNK) {
        int64_t len = n - c < CHUNK ? n - c : CHUNK;
        for (int64_t k = 0; k < len; k++) buf[k] = exp_nonpos(x[(c + k) * st] - m);
        lanes_add(&acc, buf, len);
        if (o)
            for (int64_t k = 0; k < len; k++) o[(c + k) * st] = buf[k];
    }
    return lanes_total(&acc);
}

/* sum_k a[k st] * b[k st], each product rounded to f32 first. */
SOFTMAX_INLINE float line_dot(const float *a, const float *b, int64_t n, int64_t st)
{
    lanes acc, va, vb;
    lanes_fill(&acc, -0.0f);
    for (int64_t k = 0; k < n; k += LANES) {
        int64_t len = n - k < LANES ? n - k : LANES;
        block(&va, a + k * st, st, len, -0.0f);
        block(&vb, b + k * st, st, len, 1.0f);
        acc += va * vb;
    }
    return lanes_total(&acc);
}

/* ---- softmax / log_softmax: attribute: the axis, normalised (>= 0) ---- */

enum { SOFTMAX_AXIS = 0 };

static int axis_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                      duet_type *out)
{
    (void)nin;
    const duet_tensor *x = in[0];
    if (x->dtype != DUET_F32)
        return duet_fail(c, DUET_ERR_DTYPE, "input is %s; need f32", duet_dtype_name(x->dtype));
    if (a->i[SOFTMAX_AXIS] < 0 || a->i[SOFTMAX_AXIS] >= x->rank) {
        char sx[96];
        return duet_fail(c, DUET_ERR_AXIS, "axis %lld is out of range for input %s of rank %d",
                         (long long)a->i[SOFTMAX_AXIS], duet_shape_str(x, sx, sizeof sx), x->rank);
    }
    duet_type_of(x, out);
    return 0;
}

/* One line of n elements at stride st; o may be x (each element is read before its
 * own position is written). */
SOFTMAX_INLINE void softmax_line_at(float *o, const float *x, int64_t n, int64_t st, bool take_log)
{
    float m = line_max(x, n, st);
    if (take_log) {
        float ls = logf(exp_sum(NULL, x, n, st, m));
        for (int64_t k = 0; k < n; k++) o[k * st] = (x[k * st] - m) - ls;
    } else {
        float inv = 1.0f / exp_sum(o, x, n, st, m);
        for (int64_t k = 0; k < n; k++) o[k * st] *= inv;
    }
}

/* Rows of the last axis (st 1) get their own copy, which the clones vectorise. */
DUET_SIMD_CLONES static void softmax_line(float *o, const float *x, int64_t n, int64_t st,
                                          bool take_log)
{
    if (st == 1)
        softmax_line_at(o, x, n, 1, take_log);
    else
        softmax_line_at(o, x, n, st, take_log);
}

/* ---- lines as tasks: every line of an axis is computed on its own (its sums in
 * its lanes), so runs of lines are tasks for the context's threads ---- */

/* An element of a line: a max, an exp, a sum and a scale, about this much work. */
#define LINE_WORK_ELEM (4 * DUET_WORK_ELEM)

/* The lines of an op's output along its axis; x, y: its inputs (y: softmax_grad's gy). */
typedef struct lines_job {
    float *o;
    const float *x, *y;
    int64_t n, inner; /* elements per line, and the line's stride */
    bool take_log;
} lines_job;

/* Line l of (outer, n, inner): the offset of its first element. */
static int64_t line_start(const lines_job *j, int64_t l)
{
    return l / j->inner * j->n * j->inner + l % j->inner;
}

/* Runs fn over lines [0, outer * inner) of shape's axis, cut into tasks. */
static void for_lines(duet_ctx *c, lines_job *j, const duet_tensor *shape, int axis,
                      duet_range_fn fn)
{
    int64_t outer;
    split_axis(shape, axis, &outer, &j->n, &j->inner);
    if (j->n == 0) return;
    duet_parallel_range(c, outer * j->inner, LINE_WORK_ELEM * (double)j->n, 1, fn, j);
}

static void softmax_run(void *arg, int64_t begin, int64_t end)
{
    const lines_job *j = arg;
    for (int64_t l = begin; l < end; l++) {
        int64_t at = line_start(j, l);
        softmax_line(j->o + at, j->x + at, j->n, j->inner, j->take_log);
    }
}

/* Runs softmax_line over every line of x along the axis (x may be o). */
static void softmax_lines(duet_ctx *c, const float *x, float *o, const duet_tensor *shape,
                          int axis, bool take_log)
{
    lines_job j = {.o = o, .x = x, .take_log = take_log};
    for_lines(c, &j, shape, axis, softmax_run);
}

static int softmax_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                          duet_tensor *out)
{
    (void)nin;
    softmax_lines(c, in[0]->data, out->data, in[0], (int)a->i[SOFTMAX_AXIS], false);
    return 0;
}

static int log_softmax_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                              duet_tensor *out)
{
    (void)nin;
    softmax_lines(c, in[0]->data, out->data, in[0], (int)a->i[SOFTMAX_AXIS], true);
    return 0;
}

/* gx = softmax_grad(y, gy): the gradient of every softmax, masked or not */
static void softmax_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                        const bool *need)
{
    if (!need[0]) return;
    duet_attrs a = {0};
    a.i[SOFTMAX_AXIS] = n->attr.i[SOFTMAX_AXIS];
    gx[0] = duet_apply(c, n->site, DUET_OP_SOFTMAX_GRAD, (duet_tensor *[]){n->out, gy}, 2, &a);
}

/* gx = gy - exp(out) * sum(gy, axis, keepdims) */
static void log_softmax_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                            const bool *need)
{
    if (!need[0]) return;
    unsigned ax = DUET_AXIS((int)n->attr.i[SOFTMAX_AXIS]);
    duet_tensor *sg = duet_sum(c, gy, ax, true);
    gx[0] = duet_sub(c, gy, duet_mul(c, duet_exp(c, n->out), sg));
}

static void axis_attr_text(const duet_attrs *a, duet_text *t)
{
    duet_text_put(t, " axis=%lld", (long long)a->i[SOFTMAX_AXIS]);
}

const duet_op_def duet_opdef_softmax = {.name = "softmax",
                                        .nin = 1,
                                        .infer = axis_infer,
                                        .kernel = softmax_kernel,
                                        .vjp = softmax_vjp,
                                        .attr_text = axis_attr_text};

const duet_op_def duet_opdef_log_softmax = {.name = "log_softmax",
                                            .nin = 1,
                                            .infer = axis_infer,
                                            .kernel = log_softmax_kernel,
                                            .vjp = log_softmax_vjp,
                                            .attr_text = axis_attr_text};

/* ---- softmax_grad: y (the softmax's output) and gy -> y * (gy - sum(gy * y, axis)).
 * One pass per line instead of four ops over the (B, heads, T, T) scores. ---- */

static int softmax_grad_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                              duet_type *out)
{
    if (axis_infer(c, a, in, nin, out)) return -1;
    if (in[1]->dtype != DUET_F32 || !duet_same_shape(in[0], in[1])) {
        char s0[96], s1[96];
        return duet_fail(c, DUET_ERR_SHAPE, "y is f32 %s and gy %s %s; need the same f32 shape",
                         duet_shape_str(in[0], s0, sizeof s0), duet_dtype_name(in[1]->dtype),
                         duet_shape_str(in[1], s1, sizeof s1));
    }
    return 0;
}

SOFTMAX_INLINE void softmax_grad_line_at(float *o, const float *y, const float *gy, int64_t n,
                                        int64_t st)
{
    float dot = line_dot(gy, y, n, st);
    for (int64_t k = 0; k < n; k++) o[k * st] = y[k * st] * (gy[k * st] - dot);
}

DUET_SIMD_CLONES static void softmax_grad_line(float *o, const float *y, const float *gy,
                                               int64_t n, int64_t st)
{
    if (st == 1)
        softmax_grad_line_at(o, y, gy, n, 1);
    else
        softmax_grad_line_at(o, y, gy, n, st);
}

static void softmax_grad_run(void *arg, int64_t begin, int64_t end)
{
    const lines_job *j = arg;
    for (int64_t l = begin; l < end; l++) {
        int64_t at = line_start(j, l);
        softmax_grad_line(j->o + at, j->x + at, j->y + at, j->n, j->inner);
    }
}

static int softmax_grad_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                               duet_tensor *out)
{
    (void)nin;
    lines_job j = {.o = out->data, .x = in[0]->data, .y = in[1]->data};
    for_lines(c, &j, in[0], (int)a->i[SOFTMAX_AXIS], softmax_grad_run);
    return 0;
}

/* Linear in gy, with a symmetric Jacobian: d/dgy is softmax_grad(y, g) itself, and
 * d/dy_j = g_j (gy_j - s) - gy_j sum(g * y), s = sum(gy * y). */
static void softmax_grad_vjp(duet_ctx *c, const duet_node *n, duet_tensor *g, duet_tensor **gx,
                             const bool *need)
{
    duet_tensor *y = n->in[0], *gy = n->in[1];
    if (need[1]) {
        duet_attrs a = {0};
        a.i[SOFTMAX_AXIS] = n->attr.i[SOFTMAX_AXIS];
        gx[1] = duet_apply(c, n->site, DUET_OP_SOFTMAX_GRAD, (duet_tensor *[]){y, g}, 2, &a);
    }
    if (need[0]) {
        unsigned ax = DUET_AXIS((int)n->attr.i[SOFTMAX_AXIS]);
        duet_tensor *s = duet_sum(c, duet_mul(c, gy, y), ax, true);
        duet_tensor *gs = duet_sum(c, duet_mul(c, g, y), ax, true);
        gx[0] = duet_sub(c, duet_mul(c, g, duet_sub(c, gy, s)), duet_mul(c, gy, gs));
    }
}

const duet_op_def duet_opdef_softmax_grad = {.name = "softmax_grad",
                                             .nin = 2,
                                             .infer = softmax_grad_infer,
                                             .kernel = softmax_grad_kernel,
                                             .vjp = softmax_grad_vjp,
                                             .attr_text = axis_attr_text};

/* ---- masked_softmax: scores x (f32) and a bool mask (true = keep) that broadcasts
 * to x, in one pass: no broadcast, cast or arithmetic tensors. Keras's Softmax adds
 * (1 - cast(mask)) * fill to the scores, which is x + fill where the mask is false and
 * exactly x where it is true (x + -0); the select form (duet_where(mask, x, fill), the
 * seed bug's fix) puts fill there instead. Each gives the bits of its op chain, which
 * the fusion pass rewrites into this op. Attributes: the axis, the form, the fill. ---- */

/* Checks that mask broadcasts to x without changing x's shape. */
static int check_mask(duet_ctx *c, const duet_tensor *x, const duet_tensor *mask)
{
    char sx[96], sm[96];
    if (mask->dtype != DUET_BOOL8 && mask->dtype != DUET_F32)
        return duet_fail(c, DUET_ERR_DTYPE, "mask is %s %s; need bool (true = keep) or f32",
                         duet_dtype_name(mask->dtype), duet_shape_str(mask, sm, sizeof sm));
    bool ok = mask->rank <= x->rank;
    for (int i = 0; ok && i < mask->rank; i++) {
        int64_t m = mask->shape[i], d = x->shape[x->rank - mask->rank + i];
        ok = m == 1 || duet_dims_may_match(m, d);
    }
    if (!ok)
        return duet_fail(c, DUET_ERR_SHAPE, "mask %s cannot be broadcast to the scores %s",
                         duet_shape_str(mask, sm, sizeof sm), duet_shape_str(x, sx, sizeof sx));
    return 0;
}

enum { MASK_AXIS = SOFTMAX_AXIS, MASK_SELECT = 1 };
enum { MASK_FILL = 0 }; /* a float slot */

static int masked_softmax_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                                duet_type *out)
{
    (void)nin;
    if (axis_infer(c, a, in, 1, out)) return -1;
    if (in[1]->dtype != DUET_BOOL8)
        return duet_fail(c, DUET_ERR_DTYPE, "mask is %s; need bool", duet_dtype_name(in[1]->dtype));
    return check_mask(c, in[0], in[1]);
}

/* One row of the last axis: the masked scores, m stepping by sm (0 or 1). */
SOFTMAX_INLINE void mask_row_at(float *restrict o, const float *restrict x,
                                const uint8_t *restrict m, int64_t sm, int64_t n, float fill,
                                bool select)
{
    if (select) {
        for (int64_t k = 0; k < n; k++) o[k] = m[k * sm] ? x[k] : fill;
        return;
    }
    /* Keras's own form, x + (mask ? -0 : fill): x + -0 is x, and an add of a selected
     * constant vectorises where an add under a condition stays scalar */
    for (int64_t k = 0; k < n; k++) o[k] = x[k] + (m[k * sm] ? -0.0f : fill);
}

/* A mask along the row (sm 1), the common case, gets its own vector loop. o is never
 * x (the output is a buffer of its own), which lets the loops vectorise unchecked. */
DUET_SIMD_CLONES static void mask_row(float *restrict o, const float *restrict x,
                                      const uint8_t *restrict m, int64_t sm, int64_t n,
                                      float fill, bool select)
{
    if (sm == 1)
        mask_row_at(o, x, m, 1, n, fill, select);
    else
        mask_row_at(o, x, m, 0, n, fill, select);
}

/* masked_softmax's tasks: runs of rows of the last axis, masked and, when the axis is
 * the last, normalised while still in L1. */
typedef struct masked_job {
    float *o;
    const float *x;
    const uint8_t *mask;
    duet_bcast_iter it; /* over the rows: the mask's offset, broadcast */
    int64_t row, sm;    /* a row's elements; the mask's stride along it (0 or 1) */
    float fill;
    bool select, last;
} masked_job;

static void masked_run(void *arg, int64_t begin, int64_t end)
{
    const masked_job *j = arg;
    duet_bcast_iter it = j->it;
    duet_bcast_iter_seek(&it, begin);
    for (int64_t r = begin; r < end; r++, duet_bcast_iter_next(&it)) {
        float *o = j->o + r * j->row;
        mask_row(o, j->x + r * j->row, j->mask + it.off[1], j->sm, j->row, j->fill, j->select);
        if (j->last) softmax_line(o, o, j->row, 1, false);
    }
}

static int masked_softmax_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in,
                                 int nin, duet_tensor *out)
{
    (void)nin;
    int64_t total = duet_numel(out);
    if (total == 0) return 0;
    int axis = (int)a->i[MASK_AXIS], last = out->rank - 1;
    masked_job j = {.o = out->data, .x = in[0]->data, .mask = in[1]->data,
                    .row = out->shape[last], .fill = a->f[MASK_FILL],
                    .select = a->i[MASK_SELECT], .last = axis == last};
    /* rows of the last axis (the axis rule makes rank >= 1); the mask's offset from a
     * broadcast walk that steps whole rows */
    duet_bcast_iter_init(&j.it, out, (const duet_tensor *const *)in, 2);
    j.sm = j.it.stride[1][last];
    j.it.shape[last] = 1;
    double row_work = (j.last ? LINE_WORK_ELEM : DUET_WORK_ELEM) * (double)j.row;
    duet_parallel_range(c, total / j.row, row_work, 1, masked_run, &j);
    if (axis != last) softmax_lines(c, j.o, j.o, out, axis, false);
    return 0;
}

static void masked_softmax_attr_text(const duet_attrs *a, duet_text *t)
{
    duet_text_put(t, " axis=%lld %s=%g", (long long)a->i[MASK_AXIS],
                  a->i[MASK_SELECT] ? "select" : "bias", (double)a->f[MASK_FILL]);
}

const duet_op_def duet_opdef_masked_softmax = {.name = "masked_softmax",
                                               .nin = 2,
                                               .infer = masked_softmax_infer,
                                               .kernel = masked_softmax_kernel,
                                               .vjp = softmax_vjp,
                                               .attr_text = masked_softmax_attr_text};

void duet_masked_softmax_attrs(duet_attrs *a, bool select, float fill)
{
    a->i[MASK_SELECT] = select; /* the axis stays where softmax keeps it */
    a->f[MASK_FILL] = fill;
}

/* Keras's fill for masked scores: exp of (score - 1e9) is 0 in f32. */
#define KERAS_MASK_FILL -1e9f

duet_tensor *duet_softmax_at(duet_site s, duet_ctx *c, duet_tensor *x, int axis, duet_tensor *mask)
{
    if (c->err.code) return &c->poison;
    duet_attrs a = {0};
    int ax = public_axis(c, s, DUET_OP_SOFTMAX, x, axis);
    if (ax < 0) return &c->poison;
    a.i[SOFTMAX_AXIS] = ax;
    if (!mask) return duet_apply(c, s, DUET_OP_SOFTMAX, &x, 1, &a);
    if (x && !duet_is_poison(x) && !duet_is_poison(mask) && check_mask(c, x, mask))
        return &c->poison;
    if (!duet_is_poison(mask) && mask->dtype == DUET_BOOL8) {
        duet_masked_softmax_attrs(&a, false, KERAS_MASK_FILL);
        /* diagnostics name the op called: softmax */
        return duet_apply(c, duet_site_api(s, "softmax"), DUET_OP_MASKED_SOFTMAX,
                          (duet_tensor *[]){x, mask}, 2, &a);
    }
    /* an f32 mask is added to the scores as it is */
    x = duet_add_at(duet_site_api(s, "softmax"), c, x, mask);
    return duet_apply(c, s, DUET_OP_SOFTMAX, &x, 1, &a);
}

duet_tensor *duet_log_softmax_at(duet_site s, duet_ctx *c, duet_tensor *x, int axis)
{
    if (c->err.code) return &c->poison;
    duet_attrs a = {0};
    int ax = public_axis(c, s, DUET_OP_LOG_SOFTMAX, x, axis);
    if (ax < 0) return &c->poison;
    a.i[SOFTMAX_AXIS] = ax;
    return duet_apply(c, s, DUET_OP_LOG_SOFTMAX, &x, 1, &a);
}

/* ---- sparse_xent: logits (..., C) f32, labels (...) i32 -> loss (...) f32 ---- */

static int sparse_xent_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                             duet_type *out)
{
    (void)a, (void)nin;
    const duet_tensor *lg = in[0], *lb = in[1];
    char s0[96], s1[96];
    if (lg->dtype != DUET_F32 || lb->dtype != DUET_I32)
        return duet_fail(c, DUET_ERR_DTYPE,
                         "logits are %s and labels %s; need f32 logits and i32 labels",
                         duet_dtype_name(lg->dtype), duet_dtype_name(lb->dtype));
    bool ok = lg->rank >= 1 && lb->rank == lg->rank - 1;
    for (int i = 0; ok && i < lb->rank; i++)
        ok = duet_dims_may_match(lb->shape[i], lg->shape[i]);
    if (!ok)
        return duet_fail(c, DUET_ERR_SHAPE,
                         "labels %s must have the logits' shape %s without the class axis",
                         duet_shape_str(lb, s1, sizeof s1), duet_shape_str(lg, s0, sizeof s0));
    out->dtype = DUET_F32;
    out->rank = lb->rank;
    for (int i = 0; i < lb->rank; i++)
        out->shape[i] = DUET_DIM_IS_SYM(lg->shape[i]) ? lb->shape[i] : lg->shape[i];
    return 0;
}

/* logsumexp(row) - row[l], with the numerics above, for each clone's instruction set */
DUET_SIMD_CLONES static float xent_row(const float *row, int64_t C, int32_t l)
{
    float m = line_max(row, C, 1);
    return (m - row[l]) + logf(exp_sum(NULL, row, C, 1, m));
}

/* sparse_xent's and sparse_xent_grad's tasks: runs of rows, each row on its own */
typedef struct xent_job {
    float *o;
    const float *x;
    const int32_t *lab;
    int64_t C;
    const float *gy; /* sparse_xent_grad's */
} xent_job;

static void xent_run(void *arg, int64_t begin, int64_t end)
{
    const xent_job *j = arg;
    for (int64_t r = begin; r < end; r++) j->o[r] = xent_row(j->x + r * j->C, j->C, j->lab[r]);
}

static int sparse_xent_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                              duet_tensor *out)
{
    (void)a, (void)nin;
    xent_job j = {out->data, in[0]->data, in[1]->data, in[0]->shape[in[0]->rank - 1], NULL};
    int64_t rows = duet_numel(out);
    /* every label checked first, on this thread: a task cannot report an error */
    for (int64_t r = 0; r < rows; r++)
        if (j.lab[r] < 0 || j.lab[r] >= j.C)
            return duet_fail(c, DUET_ERR_INDEX,
                             "label %d at position %lld is out of range [0, %lld)", (int)j.lab[r],
                             (long long)r, (long long)j.C);
    duet_parallel_range(c, rows, LINE_WORK_ELEM * (double)j.C, 1, xent_run, &j);
    return 0;
}

/* d loss / d logits = (softmax(logits) - one_hot(labels, C)) * gy[..., None], one op */
static void sparse_xent_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                            const bool *need)
{
    if (!need[0]) return;
    duet_attrs a = {0};
    gx[0] = duet_apply(c, n->site, DUET_OP_SPARSE_XENT_GRAD,
                       (duet_tensor *[]){n->in[0], n->in[1], gy}, 3, &a);
}

const duet_op_def duet_opdef_sparse_xent = {.name = "sparse_xent",
                                            .nin = 2,
                                            .infer = sparse_xent_infer,
                                            .kernel = sparse_xent_kernel,
                                            .vjp = sparse_xent_vjp};

/* ---- sparse_xent_grad(logits, labels, gy): the loss's gradient as one op ----
 * Each row is softmax'd by the softmax kernel's own line function, then has the
 * one-hot subtracted and is scaled by its gy in the composite's order ((p - oh) * g),
 * so it gives the bits softmax, one_hot, sub and mul gave, in one pass over the
 * logits instead of four. */

static int sparse_xent_grad_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in,
                                  int nin, duet_type *out)
{
    duet_type loss;
    if (sparse_xent_infer(c, a, in, nin, &loss)) return -1;
    const duet_tensor *gy = in[2];
    bool ok = gy->dtype == DUET_F32 && gy->rank == loss.rank;
    for (int i = 0; ok && i < loss.rank; i++)
        ok = duet_dims_may_match(gy->shape[i], loss.shape[i]);
    if (!ok) {
        char sg[96];
        return duet_fail(c, DUET_ERR_SHAPE, "gy %s %s must be f32 of the labels' shape",
                         duet_dtype_name(gy->dtype), duet_shape_str(gy, sg, sizeof sg));
    }
    duet_type_of(in[0], out);
    return 0;
}

static void xent_grad_run(void *arg, int64_t begin, int64_t end)
{
    const xent_job *j = arg;
    for (int64_t r = begin; r < end; r++) {
        float *row = j->o + r * j->C;
        softmax_line(row, j->x + r * j->C, j->C, 1, false);
        for (int64_t k = 0; k < j->C; k++)
            row[k] = (row[k] - (k == j->lab[r] ? 1.0f : 0.0f)) * j->gy[r];
    }
}

static int sparse_xent_grad_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in,
                                   int nin, duet_tensor *out)
{
    (void)a, (void)nin;
    xent_job j = {out->data, in[0]->data, in[1]->data, out->shape[out->rank - 1], in[2]->data};
    duet_parallel_range(c, duet_numel(in[1]), LINE_WORK_ELEM * (double)j.C, 1, xent_grad_run, &j);
    return 0;
}

/* Linear in gy: d/dgy = sum_k g_k (p_k - oh_k); d/dlogits = softmax_grad(p, g * gy). */
static void sparse_xent_grad_vjp(duet_ctx *c, const duet_node *n, duet_tensor *g,
                                 duet_tensor **gx, const bool *need)
{
    duet_tensor *logits = n->in[0], *labels = n->in[1], *gy = n->in[2];
    int r = logits->rank;
    duet_tensor *p = duet_softmax(c, logits, r - 1, NULL);
    if (need[0]) {
        int64_t dims[DUET_MAX_RANK];
        for (int i = 0; i < r - 1; i++) dims[i] = logits->shape[i];
        dims[r - 1] = 1;
        duet_attrs a = {0};
        a.i[SOFTMAX_AXIS] = r - 1;
        duet_tensor *gg = duet_mul(c, g, duet_reshape(c, gy, r, dims));
        gx[0] = duet_apply(c, n->site, DUET_OP_SOFTMAX_GRAD, (duet_tensor *[]){p, gg}, 2, &a);
    }
    if (need[2]) {
        duet_tensor *oh = duet_one_hot(c, labels, logits->shape[r - 1]);
        gx[2] = duet_sum(c, duet_mul(c, g, duet_sub(c, p, oh)), DUET_AXIS(r - 1), false);
    }
}

const duet_op_def duet_opdef_sparse_xent_grad = {.name = "sparse_xent_grad",
                                                 .nin = 3,
                                                 .infer = sparse_xent_grad_infer,
                                                 .kernel = sparse_xent_grad_kernel,
                                                 .vjp = sparse_xent_grad_vjp};

duet_tensor *duet_sparse_xent_at(duet_site s, duet_ctx *c, duet_tensor *logits, duet_tensor *labels)
{
    duet_attrs a = {0};
    return duet_apply(c, s, DUET_OP_SPARSE_XENT, (duet_tensor *[]){logits, labels}, 2, &a);
}

/* ---- one_hot: ids (...) i32 -> (..., depth) f32; attribute: depth (may be a symbol).
 * Ids outside [0, depth) give an all-zero row, as in TF. No gradient. ---- */

enum { ONE_HOT_DEPTH = 0 };

static int one_hot_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                         duet_type *out)
{
    (void)nin;
    const duet_tensor *ids = in[0];
    char si[96];
    if (ids->dtype != DUET_I32)
        return duet_fail(c, DUET_ERR_DTYPE, "ids are %s; need i32", duet_dtype_name(ids->dtype));
    int64_t depth = duet_dim_resolve(c, a->i[ONE_HOT_DEPTH]);
    if (depth < 0 && (!DUET_DIM_IS_SYM(depth) || c->mode != DUET_MODE_TRACE))
        return duet_fail(c, DUET_ERR_ARG, "depth is %lld; must be >= 0", (long long)depth);
    if (ids->rank + 1 > DUET_MAX_RANK)
        return duet_fail(c, DUET_ERR_SHAPE, "ids %s: the output would exceed rank %d",
                         duet_shape_str(ids, si, sizeof si), DUET_MAX_RANK);
    out->dtype = DUET_F32;
    out->rank = ids->rank + 1;
    memcpy(out->shape, ids->shape, sizeof(int64_t) * (size_t)ids->rank);
    out->shape[ids->rank] = depth;
    return 0;
}

static int one_hot_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                          duet_tensor *out)
{
    (void)c, (void)a, (void)nin;
    int64_t depth = out->shape[out->rank - 1];
    int64_t n = duet_numel(in[0]);
    const int32_t *ids = in[0]->data;
    float *o = out->data;
    int64_t total = duet_numel(out);
    if (total == 0) return 0;
    memset(o, 0, sizeof(float) * (size_t)total);
    for (int64_t i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < depth) o[i * depth + ids[i]] = 1.0f;
    return 0;
}

static void one_hot_attr_text(const duet_attrs *a, duet_text *t)
{
    duet_text_dim(t, "depth", a->i[ONE_HOT_DEPTH]);
}

const duet_op_def duet_opdef_one_hot = {.name = "one_hot",
                                        .nin = 1,
                                        .infer = one_hot_infer,
                                        .kernel = one_hot_kernel,
                                        .attr_text = one_hot_attr_text};

duet_tensor *duet_one_hot_at(duet_site s, duet_ctx *c, duet_tensor *ids, int64_t depth)
{
    duet_attrs a = {0};
    a.i[ONE_HOT_DEPTH] = depth;
    return duet_apply(c, s, DUET_OP_ONE_HOT, &ids, 1, &a);
}
