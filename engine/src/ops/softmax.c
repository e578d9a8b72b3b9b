/* Softmax family: softmax and log_softmax over one axis (numerically stable: the
 * row max is subtracted first), the sparse softmax cross-entropy loss and one_hot.
 * Masked softmax (Keras semantics) is a composite built in duet_softmax_at. */
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

/* expf of a shifted score (d <= 0). Below -104 expf is exactly +0 in f32, but glibc
 * gets there through its slow underflow path: masked scores (-1e9) hit it for every
 * padded position, so answer those directly. Same bits either way. */
static inline float exp_shifted(float d) { return d < -104.0f ? 0.0f : expf(d); }

/* One contiguous row (the last-axis fast path). */
static void softmax_row(float *o, const float *x, int64_t n, bool take_log)
{
    float m = x[0];
    for (int64_t k = 1; k < n; k++) m = x[k] > m ? x[k] : m;
    double s = 0;
    if (take_log) {
        for (int64_t k = 0; k < n; k++) s += exp_shifted(x[k] - m);
        float ls = (float)log(s);
        for (int64_t k = 0; k < n; k++) o[k] = (x[k] - m) - ls;
    } else {
        for (int64_t k = 0; k < n; k++) {
            float e = exp_shifted(x[k] - m);
            o[k] = e;
            s += e;
        }
        float inv = (float)(1.0 / s);
        for (int64_t k = 0; k < n; k++) o[k] *= inv;
    }
}

/* One line of n elements with a stride (any other axis). */
static void softmax_line(float *o, const float *x, int64_t n, int64_t st, bool take_log)
{
    float m = x[0];
    for (int64_t k = 1; k < n; k++) m = x[k * st] > m ? x[k * st] : m;
    double s = 0;
    if (take_log) {
        for (int64_t k = 0; k < n; k++) s += exp_shifted(x[k * st] - m);
        float ls = (float)log(s);
        for (int64_t k = 0; k < n; k++) o[k * st] = (x[k * st] - m) - ls;
    } else {
        for (int64_t k = 0; k < n; k++) {
            float e = exp_shifted(x[k * st] - m);
            o[k * st] = e;
            s += e;
        }
        float inv = (float)(1.0 / s);
        for (int64_t k = 0; k < n; k++) o[k * st] *= inv;
    }
}

static int softmax_kernel_common(const duet_attrs *a, duet_tensor *const *in, duet_tensor *out,
                                 bool take_log)
{
    int64_t outer, n, inner;
    split_axis(in[0], (int)a->i[SOFTMAX_AXIS], &outer, &n, &inner);
    if (n == 0) return 0;
    const float *x = in[0]->data;
    float *o = out->data;
    if (inner == 1) {
        for (int64_t r = 0; r < outer; r++) softmax_row(o + r * n, x + r * n, n, take_log);
        return 0;
    }
    for (int64_t r = 0; r < outer; r++)
        for (int64_t j = 0; j < inner; j++)
            softmax_line(o + r * n * inner + j, x + r * n * inner + j, n, inner, take_log);
    return 0;
}

static int softmax_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                          duet_tensor *out)
{
    (void)c, (void)nin;
    return softmax_kernel_common(a, in, out, false);
}

static int log_softmax_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                              duet_tensor *out)
{
    (void)c, (void)nin;
    return softmax_kernel_common(a, in, out, true);
}

/* gx = y * (gy - sum(gy * y, axis, keepdims)) */
static void softmax_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                        const bool *need)
{
    if (!need[0]) return;
    unsigned ax = DUET_AXIS((int)n->attr.i[SOFTMAX_AXIS]);
    duet_tensor *y = n->out;
    duet_tensor *dot = duet_sum(c, duet_mul(c, gy, y), ax, true);
    gx[0] = duet_mul(c, y, duet_sub(c, gy, dot));
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
        ok = m == 1 || m == d || DUET_DIM_IS_SYM(m) || DUET_DIM_IS_SYM(d);
    }
    if (!ok)
        return duet_fail(c, DUET_ERR_SHAPE, "mask %s cannot be broadcast to the scores %s",
                         duet_shape_str(mask, sm, sizeof sm), duet_shape_str(x, sx, sizeof sx));
    return 0;
}

duet_tensor *duet_softmax_at(duet_site s, duet_ctx *c, duet_tensor *x, int axis, duet_tensor *mask)
{
    if (c->err.code) return &c->poison;
    duet_attrs a = {0};
    int ax = public_axis(c, s, DUET_OP_SOFTMAX, x, axis);
    if (ax < 0) return &c->poison;
    a.i[SOFTMAX_AXIS] = ax;
    if (mask) {
        if (x && !duet_is_poison(x) && !duet_is_poison(mask) && check_mask(c, x, mask))
            return &c->poison;
        s = duet_site_api(s, "softmax"); /* the masking ops belong to this softmax */
        duet_tensor *add = mask;
        if (!duet_is_poison(mask) && mask->dtype == DUET_BOOL8) {
            /* Keras: inputs += (1 - cast(mask, dtype)) * -1e9 */
            duet_tensor *keep = duet_cast_at(s, c, mask, DUET_F32);
            duet_tensor *drop = duet_sub_at(s, c, duet_scalar_at(s, c, 1.0f), keep);
            add = duet_mul_at(s, c, drop, duet_scalar_at(s, c, -1e9f));
        }
        x = duet_add_at(s, c, x, add);
    }
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
        ok = lb->shape[i] == lg->shape[i] || DUET_DIM_IS_SYM(lb->shape[i]) ||
             DUET_DIM_IS_SYM(lg->shape[i]);
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

static int sparse_xent_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                              duet_tensor *out)
{
    (void)a, (void)nin;
    const float *x = in[0]->data;
    const int32_t *lab = in[1]->data;
    float *o = out->data;
    int64_t C = in[0]->shape[in[0]->rank - 1];
    int64_t rows = duet_numel(out);
    for (int64_t r = 0; r < rows; r++) {
        int32_t l = lab[r];
        if (l < 0 || l >= C)
            return duet_fail(c, DUET_ERR_INDEX,
                             "label %d at position %lld is out of range [0, %lld)", (int)l,
                             (long long)r, (long long)C);
        const float *row = x + r * C;
        float m = row[0];
        for (int64_t k = 1; k < C; k++) m = row[k] > m ? row[k] : m;
        double s = 0;
        for (int64_t k = 0; k < C; k++) s += exp_shifted(row[k] - m);
        o[r] = (m - row[l]) + (float)log(s);
    }
    return 0;
}

/* d loss / d logits = (softmax(logits) - one_hot(labels, C)) * gy[..., None] */
static void sparse_xent_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                            const bool *need)
{
    if (!need[0]) return;
    duet_tensor *logits = n->in[0], *labels = n->in[1];
    int r = logits->rank;
    int64_t dims[DUET_MAX_RANK];
    for (int i = 0; i < r - 1; i++) dims[i] = logits->shape[i];
    dims[r - 1] = 1;
    duet_tensor *g = duet_reshape(c, gy, r, dims);
    duet_tensor *p = duet_softmax(c, logits, r - 1, NULL);
    duet_tensor *oh = duet_one_hot(c, labels, logits->shape[r - 1]);
    gx[0] = duet_mul(c, duet_sub(c, p, oh), g);
}

const duet_op_def duet_opdef_sparse_xent = {.name = "sparse_xent",
                                            .nin = 2,
                                            .infer = sparse_xent_infer,
                                            .kernel = sparse_xent_kernel,
                                            .vjp = sparse_xent_vjp};

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
