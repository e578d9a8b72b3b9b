/* Reductions: sum, max (f32, i32), any (bool) over a bitmask of axes (bit i = axis
 * i; 0 = all axes) with optional keepdims; size (the element count over the axes,
 * read from the concrete shape at run time); and mean = sum / size, which is not an
 * op of its own, so it traces and differentiates as the two ops it is made of.
 *
 * Kernels merge adjacent dims into alternating kept/reduced groups. One reduced
 * group (the common cases: all axes, the last axis, a middle axis) is a view
 * (outer, mid, inner) reduced over mid: contiguous rows when inner == 1, otherwise
 * column blocks accumulated row by row; runs of rows or of columns are tasks for the
 * context's threads (each output's order is its own, so threads change no bit).
 * Other layouts use a generic index walk, on one thread. A sum over all axes is one
 * row: one thread, since splitting it would change its order of additions.
 * f32 sums accumulate in double, in order, except where DUET_PASS_REASSOC has marked
 * the node (the flag DUET_SUM_ATTR_REASSOC): then in float, in vector lanes. */
#include <math.h>

#include "../internal.h"

/* Attribute slots: the axes bitmask (0 = all) and keepdims; sum also has
 * DUET_SUM_ATTR_REASSOC (internal.h) after them. */
enum { REDUCE_AXES = 0, REDUCE_KEEPDIMS = 1 };

static unsigned axes_mask(int64_t axes, int rank)
{
    return axes ? (unsigned)axes : (unsigned)((1u << rank) - 1u);
}

static int check_axes(duet_ctx *c, int64_t axes, const duet_tensor *x)
{
    if (axes < 0 || axes > (int64_t)UINT32_MAX || (axes >> x->rank) != 0) {
        int bad = x->rank;
        while (bad < 63 && !((axes >> bad) & 1)) bad++;
        char buf[128];
        return duet_fail(c, DUET_ERR_AXIS,
                         "axes mask 0x%llx names axis %d, out of range for input %s %s of rank %d",
                         (unsigned long long)axes, bad, duet_dtype_name(x->dtype),
                         duet_shape_str(x, buf, sizeof buf), x->rank);
    }
    return 0;
}

/* The output shape: reduced dims dropped (or 1 with keepdims); kept dims, symbols
 * included, carried over. */
static int reduce_shape(duet_ctx *c, const duet_attrs *a, const duet_tensor *x, duet_type *out)
{
    if (check_axes(c, a->i[REDUCE_AXES], x)) return -1;
    unsigned mask = axes_mask(a->i[REDUCE_AXES], x->rank);
    bool keep = a->i[REDUCE_KEEPDIMS] != 0;
    out->rank = 0;
    for (int d = 0; d < x->rank; d++) {
        if ((mask >> d) & 1u) {
            if (keep) out->shape[out->rank++] = 1;
        } else {
            out->shape[out->rank++] = x->shape[d];
        }
    }
    return 0;
}

static int sum_max_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                         duet_type *out)
{
    (void)nin;
    if (in[0]->dtype != DUET_F32 && in[0]->dtype != DUET_I32) {
        char buf[128];
        return duet_fail(c, DUET_ERR_DTYPE, "input is %s %s; need f32 or i32",
                         duet_dtype_name(in[0]->dtype), duet_shape_str(in[0], buf, sizeof buf));
    }
    out->dtype = in[0]->dtype;
    return reduce_shape(c, a, in[0], out);
}

static int any_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                     duet_type *out)
{
    (void)nin;
    if (in[0]->dtype != DUET_BOOL8) {
        char buf[128];
        return duet_fail(c, DUET_ERR_DTYPE, "input is %s %s; need bool",
                         duet_dtype_name(in[0]->dtype), duet_shape_str(in[0], buf, sizeof buf));
    }
    out->dtype = DUET_BOOL8;
    return reduce_shape(c, a, in[0], out);
}

/* ---- reduction plan ---- */

typedef struct rplan {
    int n; /* merged groups, outermost first; sizes-1 dims dropped */
    int64_t size[DUET_MAX_RANK];
    bool red[DUET_MAX_RANK];
    bool simple;                /* at most one reduced group: */
    int64_t outer, mid, inner; /* x viewed as (outer, mid, inner), mid reduced */
} rplan;

static void make_plan(const duet_tensor *x, unsigned mask, rplan *p)
{
    p->n = 0;
    for (int d = 0; d < x->rank; d++) {
        int64_t s = x->shape[d];
        if (s == 1) continue;
        bool r = (mask >> d) & 1u;
        if (p->n && p->red[p->n - 1] == r) {
            p->size[p->n - 1] *= s;
        } else {
            p->size[p->n] = s;
            p->red[p->n] = r;
            p->n++;
        }
    }
    int nred = 0, at = -1;
    for (int g = 0; g < p->n; g++)
        if (p->red[g]) nred++, at = g;
    p->simple = nred <= 1;
    p->outer = 1, p->mid = 1, p->inner = 1;
    if (!p->simple) return;
    for (int g = 0; g < p->n; g++) {
        if (at < 0 || g < at) p->outer *= p->size[g];
        else if (g == at) p->mid = p->size[g];
        else p->inner *= p->size[g];
    }
}

/* Steps a multi-index over groups (sizes sz, element strides st), moving *off. */
static void odometer_next(int n, const int64_t *sz, const int64_t *st, int64_t *idx, int64_t *off)
{
    for (int g = n - 1; g >= 0; g--) {
        *off += st[g];
        if (++idx[g] < sz[g]) return;
        *off -= st[g] * sz[g];
        idx[g] = 0;
    }
}

/* Splits the groups into kept and reduced lists with their element strides. */
static void split_groups(const rplan *p, int *nk, int64_t *ks, int64_t *kst, int *nr, int64_t *rs,
                         int64_t *rst)
{
    int64_t stride = 1;
    int64_t st[DUET_MAX_RANK];
    for (int g = p->n - 1; g >= 0; g--) {
        st[g] = stride;
        stride *= p->size[g];
    }
    *nk = *nr = 0;
    for (int g = 0; g < p->n; g++) {
        if (p->red[g]) {
            rs[*nr] = p->size[g], rst[*nr] = st[g], (*nr)++;
        } else {
            ks[*nk] = p->size[g], kst[*nk] = st[g], (*nk)++;
        }
    }
}

#define RBLOCK 256

/* A reduction's tasks: runs of outputs, each reduced on its own in its fixed order
 * (a row's ROW, a column's rows in order), so the cut changes no bit. The generic
 * walk (several reduced groups, rare) stays on one thread. */
typedef struct reduce_job {
    const rplan *p;
    const void *x;
    void *out;
} reduce_job;

/* NAME(ctx, plan, x, out): T elements, ACC accumulator; ROW(ptr, n) reduces a
 * contiguous run to an ACC; COMBINE(acc, v) folds one value; FINISH(acc) -> T.
 * NAME_rows reduces rows [begin, end) of (outer, mid) (inner 1); NAME_cols the
 * columns [begin, end) of the (outer * inner) outputs over mid, RBLOCK at a time. */
#define DEFINE_REDUCE(NAME, T, ACC, INIT, ROW, COMBINE, FINISH)                               \
    static void NAME##_rows(void *arg, int64_t begin, int64_t end)                            \
    {                                                                                         \
        const reduce_job *j = arg;                                                            \
        const T *x = j->x;                                                                    \
        T *out = j->out;                                                                      \
        int64_t mid = j->p->mid;                                                              \
        for (int64_t o = begin; o < end; o++) out[o] = FINISH(ROW(x + o * mid, mid));         \
    }                                                                                         \
    static void NAME##_cols(void *arg, int64_t begin, int64_t end)                            \
    {                                                                                         \
        const reduce_job *j = arg;                                                            \
        const T *x = j->x;                                                                    \
        T *out = j->out;                                                                      \
        int64_t mid = j->p->mid, inner = j->p->inner;                                         \
        ACC acc[RBLOCK];                                                                      \
        for (int64_t q = begin; q < end;) {                                                   \
            int64_t o = q / inner, j0 = q % inner, nb = inner - j0;                           \
            if (nb > RBLOCK) nb = RBLOCK;                                                     \
            if (nb > end - q) nb = end - q;                                                   \
            for (int64_t k = 0; k < nb; k++) acc[k] = INIT;                                   \
            const T *base = x + o * mid * inner + j0;                                         \
            for (int64_t r = 0; r < mid; r++) {                                               \
                const T *row = base + r * inner;                                              \
                for (int64_t k = 0; k < nb; k++) COMBINE(acc[k], row[k]);                     \
            }                                                                                 \
            for (int64_t k = 0; k < nb; k++) out[q + k] = FINISH(acc[k]);                     \
            q += nb;                                                                          \
        }                                                                                     \
    }                                                                                         \
    static void NAME(duet_ctx *c, const rplan *p, const T *x, T *out)                         \
    {                                                                                         \
        reduce_job job = {p, x, out};                                                         \
        double per = DUET_WORK_ELEM * (double)p->mid;                                         \
        if (p->simple && p->inner == 1) {                                                     \
            duet_parallel_range(c, p->outer, per, 1, NAME##_rows, &job);                      \
            return;                                                                           \
        }                                                                                     \
        if (p->simple) {                                                                      \
            duet_parallel_range(c, p->outer * p->inner, per, DUET_SIMD_FLOATS, NAME##_cols,   \
                                &job);                                                        \
            return;                                                                           \
        }                                                                                     \
        int nk, nr;                                                                           \
        int64_t ks[DUET_MAX_RANK], kst[DUET_MAX_RANK], rs[DUET_MAX_RANK], rst[DUET_MAX_RANK]; \
        split_groups(p, &nk, ks, kst, &nr, rs, rst);                                          \
        int64_t nout = 1, nred = 1;                                                           \
        for (int g = 0; g < nk; g++) nout *= ks[g];                                           \
        for (int g = 0; g < nr; g++) nred *= rs[g];                                           \
        int64_t kidx[DUET_MAX_RANK] = {0}, base = 0;                                          \
        for (int64_t o = 0; o < nout; o++) {                                                  \
            int64_t ridx[DUET_MAX_RANK] = {0}, off = base;                                    \
            ACC acc = INIT;                                                                   \
            for (int64_t k = 0; k < nred; k++) {                                              \
                COMBINE(acc, x[off]);                                                         \
                odometer_next(nr, rs, rst, ridx, &off);                                       \
            }                                                                                 \
            out[o] = FINISH(acc);                                                             \
            odometer_next(nk, ks, kst, kidx, &base);                                          \
        }                                                                                     \
    }

/* f32 sum: double accumulators (four independent ones along contiguous rows) */
static double sumf_row(const float *x, int64_t n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += x[i];
        s1 += x[i + 1];
        s2 += x[i + 2];
        s3 += x[i + 3];
    }
    for (; i < n; i++) s0 += x[i];
    return (s0 + s1) + (s2 + s3);
}
#define SUMF_COMBINE(acc, v) ((acc) += (double)(v))
#define SUMF_FINISH(acc) ((float)(acc))
DEFINE_REDUCE(reduce_sum_f32, float, double, 0.0, sumf_row, SUMF_COMBINE, SUMF_FINISH)

/* Row fusion (fuse_rows.c) sums a block of rows with the very loop the sum kernel runs
 * for a reduction over a contiguous last axis, so a fused row sum has its bits. */
void duet_sum_rows_f32(const float *x, int64_t rows, int64_t n, float *out)
{
    rplan p = {.mid = n};
    reduce_job job = {&p, x, out};
    reduce_sum_f32_rows(&job, 0, rows);
}

bool duet_is_row_sum(const duet_node *n)
{
    const duet_tensor *x = n->in[0];
    return n->op == DUET_OP_SUM && x->dtype == DUET_F32 && x->rank >= 1 &&
           axes_mask(n->attr.i[REDUCE_AXES], x->rank) == 1u << (x->rank - 1) &&
           n->attr.i[REDUCE_KEEPDIMS] && !n->attr.i[DUET_SUM_ATTR_REASSOC];
}

#define SAME(acc) (acc)

/* f32 sum reassociated (DUET_PASS_REASSOC), as a loop vectorised under -ffast-math
 * or by XLA runs it: a contiguous row goes into 8 float lanes (one 256-bit vector),
 * element i into lane i % 8, and the lanes are added pairwise at the end. Every
 * addition rounds to float, in another order than eager's ordered double sum, so
 * the result moves by a few ULP. Columns (inner > 1) and the generic walk
 * accumulate in float, in order. */
#define SUMF_LANES 8
static float sumf_row_lanes(const float *x, int64_t n)
{
    float lane[SUMF_LANES] = {0};
    for (int64_t i = 0; i < n; i++) lane[i % SUMF_LANES] += x[i];
    for (int width = SUMF_LANES / 2; width > 0; width /= 2)
        for (int k = 0; k < width; k++) lane[k] = lane[2 * k] + lane[2 * k + 1];
    return lane[0];
}
#define SUMF_REASSOC_COMBINE(acc, v) ((acc) += (v))
DEFINE_REDUCE(reduce_sum_f32_reassoc, float, float, 0.0f, sumf_row_lanes, SUMF_REASSOC_COMBINE,
              SAME)

/* i32 sum: wraps around on overflow (unsigned arithmetic, no undefined behaviour) */
static uint32_t sumi_row(const int32_t *x, int64_t n)
{
    uint32_t s = 0;
    for (int64_t i = 0; i < n; i++) s += (uint32_t)x[i];
    return s;
}
#define SUMI_COMBINE(acc, v) ((acc) += (uint32_t)(v))
#define SUMI_FINISH(acc) ((int32_t)(acc))
DEFINE_REDUCE(reduce_sum_i32, int32_t, uint32_t, 0u, sumi_row, SUMI_COMBINE, SUMI_FINISH)

/* f32 max: NaN propagates (as in NumPy); an empty reduction gives -inf (as in TF) */
static float maxf_row(const float *x, int64_t n)
{
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        if (v > m) m = v;
        else if (v != v) return v;
    }
    return m;
}
#define MAXF_COMBINE(acc, v)                          \
    do {                                              \
        float v_ = (v);                               \
        if (v_ > (acc) || v_ != v_) (acc) = v_;       \
    } while (0)
DEFINE_REDUCE(reduce_max_f32, float, float, -INFINITY, maxf_row, MAXF_COMBINE, SAME)

/* i32 max: an empty reduction gives INT32_MIN */
static int32_t maxi_row(const int32_t *x, int64_t n)
{
    int32_t m = INT32_MIN;
    for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}
#define MAXI_COMBINE(acc, v)                          \
    do {                                              \
        int32_t v_ = (v);                             \
        if (v_ > (acc)) (acc) = v_;                   \
    } while (0)
DEFINE_REDUCE(reduce_max_i32, int32_t, int32_t, INT32_MIN, maxi_row, MAXI_COMBINE, SAME)

static uint8_t any_row(const uint8_t *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (x[i]) return 1;
    return 0;
}
#define ANY_COMBINE(acc, v) ((acc) |= (uint8_t)((v) != 0))
DEFINE_REDUCE(reduce_any_bool, uint8_t, uint8_t, 0, any_row, ANY_COMBINE, SAME)

static int sum_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                      duet_tensor *out)
{
    (void)nin;
    rplan p;
    make_plan(in[0], axes_mask(a->i[REDUCE_AXES], in[0]->rank), &p);
    if (in[0]->dtype == DUET_F32 && a->i[DUET_SUM_ATTR_REASSOC])
        reduce_sum_f32_reassoc(c, &p, in[0]->data, out->data);
    else if (in[0]->dtype == DUET_F32)
        reduce_sum_f32(c, &p, in[0]->data, out->data);
    else
        reduce_sum_i32(c, &p, in[0]->data, out->data);
    return 0;
}

static int max_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                      duet_tensor *out)
{
    (void)nin;
    rplan p;
    make_plan(in[0], axes_mask(a->i[REDUCE_AXES], in[0]->rank), &p);
    if (in[0]->dtype == DUET_F32)
        reduce_max_f32(c, &p, in[0]->data, out->data);
    else
        reduce_max_i32(c, &p, in[0]->data, out->data);
    return 0;
}

static int any_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                      duet_tensor *out)
{
    (void)nin;
    rplan p;
    make_plan(in[0], axes_mask(a->i[REDUCE_AXES], in[0]->rank), &p);
    reduce_any_bool(c, &p, in[0]->data, out->data);
    return 0;
}

/* ---- size: f32 scalar, the product of x's dims over the axes ---- */

static int size_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                      duet_type *out)
{
    (void)nin;
    if (check_axes(c, a->i[REDUCE_AXES], in[0])) return -1;
    out->dtype = DUET_F32;
    out->rank = 0;
    return 0;
}

/* The product of the dims (resolved) under the axes; -1 - d when dim d is not known. */
static int64_t size_count(const duet_ctx *c, const duet_attrs *a, int rank, const int64_t *shape)
{
    unsigned mask = axes_mask(a->i[REDUCE_AXES], rank);
    int64_t n = 1;
    for (int d = 0; d < rank; d++) {
        if (!((mask >> d) & 1u)) continue;
        int64_t s = duet_dim_resolve(c, shape[d]);
        if (s < 0) return -1 - d;
        n *= s;
    }
    return n;
}

static int size_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                       duet_tensor *out)
{
    (void)nin;
    const duet_tensor *x = in[0];
    int64_t n = size_count(c, a, x->rank, x->shape);
    if (n < 0) {
        char buf[128];
        return duet_fail(c, DUET_ERR_INTERNAL, "dim %d of input %s is not known at run time",
                         (int)(-1 - n), duet_shape_str(x, buf, sizeof buf));
    }
    *(float *)out->data = (float)n;
    return 0;
}

float duet_size_value(const duet_ctx *c, const duet_attrs *a, int rank, const int64_t *shape)
{
    return (float)size_count(c, a, rank, shape);
}

/* ---- gradients ---- */
static bool same_dims(const duet_tensor *t, int rank, const int64_t *dims)
{
    if (t->rank != rank) return false;
    for (int d = 0; d < rank; d++)
        if (t->shape[d] != dims[d]) return false;
    return true;
}

/* g (the reduction's output shape) reshaped to the keepdims shape of x: x's dims,
 * which may be symbols, with 1 at the reduced axes. */
static duet_tensor *to_keepdims(duet_ctx *c, duet_tensor *g, const duet_node *n)
{
    const duet_tensor *x = n->in[0];
    if (n->attr.i[REDUCE_KEEPDIMS]) return g; /* already kept */
    unsigned mask = axes_mask(n->attr.i[REDUCE_AXES], x->rank);
    int64_t dims[DUET_MAX_RANK];
    for (int d = 0; d < x->rank; d++) dims[d] = ((mask >> d) & 1u) ? 1 : x->shape[d];
    if (same_dims(g, x->rank, dims)) return g;
    return duet_reshape(c, g, x->rank, dims);
}

static void sum_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                    const bool *need)
{
    duet_tensor *x = n->in[0];
    if (!need[0] || x->dtype != DUET_F32) return;
    duet_tensor *g = to_keepdims(c, gy, n);
    gx[0] = same_dims(g, x->rank, x->shape) ? g : duet_broadcast_to(c, g, x->rank, x->shape);
}

/* The gradient goes to the maxima, split equally among ties. */
static void max_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                    const bool *need)
{
    duet_tensor *x = n->in[0];
    if (!need[0] || x->dtype != DUET_F32) return;
    duet_tensor *y = to_keepdims(c, n->out, n);
    duet_tensor *g = to_keepdims(c, gy, n);
    duet_tensor *eq = duet_cast(c, duet_equal(c, x, y), DUET_F32);
    duet_tensor *count = duet_sum(c, eq, (unsigned)n->attr.i[REDUCE_AXES], true);
    gx[0] = duet_div(c, duet_mul(c, eq, g), count);
}

/* ---- op table entries and the public API ---- */

/* " axes=[0, 2]", or " axes=all" for the mask 0 */
static void axes_text(const duet_attrs *a, duet_text *t)
{
    uint64_t mask = (uint64_t)a->i[REDUCE_AXES];
    if (!mask) {
        duet_text_put(t, " axes=all");
        return;
    }
    duet_text_put(t, " axes=[");
    const char *sep = "";
    for (int d = 0; d < 64; d++)
        if ((mask >> d) & 1u) duet_text_put(t, "%s%d", sep, d), sep = ", ";
    duet_text_put(t, "]");
}

static void reduce_attr_text(const duet_attrs *a, duet_text *t)
{
    axes_text(a, t);
    if (a->i[REDUCE_KEEPDIMS]) duet_text_put(t, " keepdims");
}

static void sum_attr_text(const duet_attrs *a, duet_text *t)
{
    reduce_attr_text(a, t);
    if (a->i[DUET_SUM_ATTR_REASSOC]) duet_text_put(t, " reassoc");
}

const duet_op_def duet_opdef_sum = {.name = "sum",
                                    .nin = 1,
                                    .infer = sum_max_infer,
                                    .kernel = sum_kernel,
                                    .vjp = sum_vjp,
                                    .attr_text = sum_attr_text};
const duet_op_def duet_opdef_max = {.name = "max",
                                    .nin = 1,
                                    .infer = sum_max_infer,
                                    .kernel = max_kernel,
                                    .vjp = max_vjp,
                                    .attr_text = reduce_attr_text};
const duet_op_def duet_opdef_any = {.name = "any",
                                    .nin = 1,
                                    .infer = any_infer,
                                    .kernel = any_kernel,
                                    .attr_text = reduce_attr_text};
const duet_op_def duet_opdef_size = {.name = "size",
                                     .nin = 1,
                                     .infer = size_infer,
                                     .kernel = size_kernel,
                                     .attr_text = axes_text};

static duet_tensor *reduce_apply(duet_site s, duet_ctx *c, duet_op op, duet_tensor *x,
                                 unsigned axes, bool keepdims)
{
    duet_attrs at = {0};
    at.i[REDUCE_AXES] = axes;
    at.i[REDUCE_KEEPDIMS] = keepdims;
    return duet_apply(c, s, op, &x, 1, &at);
}

duet_tensor *duet_sum_at(duet_site s, duet_ctx *c, duet_tensor *x, unsigned axes, bool keepdims)
{
    return reduce_apply(s, c, DUET_OP_SUM, x, axes, keepdims);
}

duet_tensor *duet_max_at(duet_site s, duet_ctx *c, duet_tensor *x, unsigned axes, bool keepdims)
{
    return reduce_apply(s, c, DUET_OP_MAX, x, axes, keepdims);
}

duet_tensor *duet_any_at(duet_site s, duet_ctx *c, duet_tensor *x, unsigned axes, bool keepdims)
{
    return reduce_apply(s, c, DUET_OP_ANY, x, axes, keepdims);
}

duet_tensor *duet_size_at(duet_site s, duet_ctx *c, duet_tensor *x, unsigned axes)
{
    return reduce_apply(s, c, DUET_OP_SIZE, x, axes, false);
}

/* mean = sum / size; f32 only (an i32 mean would need integer division). */
duet_tensor *duet_mean_at(duet_site s, duet_ctx *c, duet_tensor *x, unsigned axes, bool keepdims)
{
    if (c->err.code) return &c->poison;
    if (x && !duet_is_poison(x) && x->dtype != DUET_F32) {
        char buf[128];
        c->cur_site = c->vjp_of ? c->vjp_of->site : s;
        duet_fail_as(c, DUET_ERR_DTYPE, "mean", "input is %s %s; need f32",
                     duet_dtype_name(x->dtype), duet_shape_str(x, buf, sizeof buf));
        return &c->poison;
    }
    duet_site call = duet_site_api(s, "mean");
    duet_tensor *sum = duet_sum_at(call, c, x, axes, keepdims);
    return duet_div_at(call, c, sum, duet_size_at(call, c, x, axes));
}
