/* Shape ops: reshape, transpose, slice, pad, concat, sum_to, broadcast_to. All but
 * sum_to only move elements, so they work on f32, i32 and bool by element size.
 *
 * Dims may be symbols (graph mode). Two equal symbol values are the same unknown
 * size; a symbol against a concrete size is accepted at trace time and checked when
 * the executor re-runs the rule on concrete shapes. Attribute dims that may be
 * symbols go through duet_dim_resolve, which binds them while a plan runs. */
#include "../internal.h"

/* ---- attribute slots ----
 * reshape, transpose, sum_to, broadcast_to: a rank, then that many dims (a shape, or
 * transpose's perm). slice, pad: an axis, the first bound (start, before), then either
 * the second (stop, after) or, when BOUND_BY_SIZE is set, the result's size along the
 * axis (gradients write that, since it may be a symbol). concat: an axis. */
enum { DIMS_RANK = 0, DIMS_AT = 1 };
enum { BOUND_AXIS = 0, BOUND_FIRST = 1, BOUND_SECOND = 2, BOUND_BY_SIZE = 3, BOUND_SIZE = 4 };
enum { CONCAT_AXIS = 0 };

/* ---- helpers ---- */

#define SYM(d) DUET_DIM_IS_SYM(d)
/* An attribute dim that is an unknown: only while tracing (a plan run resolves them
 * all), so outside a trace a value below -1 is just a bad negative value. */
#define UNK(d) (SYM(d) && c->mode == DUET_MODE_TRACE)

static char *dims_str(int rank, const int64_t *d, char *buf, size_t n)
{
    duet_type t = {0};
    t.rank = rank;
    for (int i = 0; i < rank; i++) t.shape[i] = d[i];
    return duet_type_str(&t, buf, n);
}

static const char *dim_str(const duet_ctx *c, int64_t d, char *buf, size_t n)
{
    if (UNK(d))
        snprintf(buf, n, "None");
    else
        snprintf(buf, n, "%lld", (long long)d);
    return buf;
}

/* Records an error found before dispatch (bad call arguments). */
static duet_tensor *fail_call(duet_ctx *c, duet_site s, duet_op op, duet_status code,
                              const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static duet_tensor *fail_call(duet_ctx *c, duet_site s, duet_op op, duet_status code,
                              const char *fmt, ...)
{
    if (c->err.code) return &c->poison;
    c->cur_op = op;
    c->cur_site = c->vjp_of ? c->vjp_of->site : s;
    va_list ap;
    va_start(ap, fmt);
    duet_vfail(c, code, fmt, ap);
    va_end(ap);
    return &c->poison;
}

/* a + b on dims when the result can be written as a dim: both concrete, or one
 * of them 0. Returns DUET_DIM_INFER when it cannot (a symbol plus a size). */
static int64_t dim_add(int64_t a, int64_t b)
{
    if (a == 0) return b;
    if (b == 0) return a;
    if (SYM(a) || SYM(b) || a == DUET_DIM_INFER || b == DUET_DIM_INFER) return DUET_DIM_INFER;
    return a + b;
}

static int64_t mul_sat(int64_t a, int64_t b)
{
    if (a == 0 || b == 0) return 0;
    if (a > INT64_MAX / b) return INT64_MAX;
    return a * b;
}

/* An axis attribute counted from the end when negative (the shape rule checked it). */
static int attr_axis(const duet_attrs *a, int slot, int rank)
{
    return (int)(a->i[slot] < 0 ? a->i[slot] + rank : a->i[slot]);
}

/* ---- strided copy: the one data mover behind every op here ----
 * Copies an n-d block of `size`, reading element offsets with istr and writing with
 * ostr (in elements). Drops size-1 dims and merges dims that are contiguous in both,
 * then picks: contiguous runs (memcpy), broadcast runs (fill), a tiled 2-D
 * transpose when the output's inner axis is strided in the input, or a plain loop. */

typedef struct walk {
    int nd;
    int64_t size[DUET_MAX_RANK], istr[DUET_MAX_RANK], ostr[DUET_MAX_RANK];
    int64_t idx[DUET_MAX_RANK];
    int64_t ioff, ooff;
} walk;

static void walk_next(walk *w)
{
    for (int d = w->nd - 1; d >= 0; d--) {
        w->ioff += w->istr[d];
        w->ooff += w->ostr[d];
        if (++w->idx[d] < w->size[d]) return;
        w->ioff -= w->istr[d] * w->size[d];
        w->ooff -= w->ostr[d] * w->size[d];
        w->idx[d] = 0;
    }
}

static int64_t walk_count(const walk *w)
{
    int64_t n = 1;
    for (int d = 0; d < w->nd; d++) n *= w->size[d];
    return n;
}

/* Simplifies dims in place; returns false when the block is empty. */
static bool simplify(int *nd, int64_t *size, int64_t *istr, int64_t *ostr)
{
    int q = 0;
    for (int d = 0; d < *nd; d++) {
        if (size[d] == 0) return false;
        if (size[d] == 1) continue;
        if (q > 0 && istr[q - 1] == istr[d] * size[d] && ostr[q - 1] == ostr[d] * size[d]) {
            size[q - 1] *= size[d];
            istr[q - 1] = istr[d];
            ostr[q - 1] = ostr[d];
            continue;
        }
        size[q] = size[d], istr[q] = istr[d], ostr[q] = ostr[d];
        q++;
    }
    *nd = q;
    return true;
}

#define TILE 32

#define DEFINE_MOVERS(T, sfx)                                                                 \
    static void fill_##sfx(T *restrict o, T v, int64_t n)                                     \
    {                                                                                         \
        for (int64_t i = 0; i < n; i++) o[i] = v;                                             \
    }                                                                                         \
    /* out[i * os + j] = in[i + j * is] for i < ni, j < nj, in tiles */                       \
    static void tile2d_##sfx(T *restrict o, const T *restrict in, int64_t ni, int64_t nj,     \
                             int64_t os, int64_t is)                                          \
    {                                                                                         \
        for (int64_t i0 = 0; i0 < ni; i0 += TILE)                                             \
            for (int64_t j0 = 0; j0 < nj; j0 += TILE) {                                       \
                int64_t i1 = i0 + TILE < ni ? i0 + TILE : ni;                                 \
                int64_t j1 = j0 + TILE < nj ? j0 + TILE : nj;                                 \
                for (int64_t i = i0; i < i1; i++) {                                           \
                    T *restrict orow = o + i * os;                                            \
                    const T *restrict icol = in + i;                                          \
                    for (int64_t j = j0; j < j1; j++) orow[j] = icol[j * is];                 \
                }                                                                             \
            }                                                                                 \
    }                                                                                         \
    static void loop_##sfx(T *restrict o, const T *restrict in, int64_t n, int64_t os,        \
                           int64_t is)                                                        \
    {                                                                                         \
        for (int64_t i = 0; i < n; i++) o[i * os] = in[i * is];                               \
    }
DEFINE_MOVERS(uint32_t, 4)
DEFINE_MOVERS(uint8_t, 1)

/* Copies the simplified block w (at least one dim) on the calling thread. */
static void copy_block(size_t es, walk w, const void *in, void *out)
{
    const unsigned char *pi = in;
    unsigned char *po = out;
    w.ioff = w.ooff = 0; /* in and out are the block's start */
    int last = w.nd - 1;
    int64_t run = w.size[last], is = w.istr[last], os = w.ostr[last];
    if (os == 1 && is != 1 && is != 0) {
        /* the input axis that is contiguous, if any: a transpose */
        int p = -1;
        for (int d = 0; d < last; d++)
            if (w.istr[d] == 1) p = d;
        if (p >= 0) {
            int64_t ni = w.size[p], ostp = w.ostr[p];
            /* walk the other dims */
            walk o = {0};
            for (int d = 0; d < last; d++) {
                if (d == p) continue;
                o.size[o.nd] = w.size[d], o.istr[o.nd] = w.istr[d], o.ostr[o.nd] = w.ostr[d];
                o.nd++;
            }
            for (int64_t c = walk_count(&o); c > 0; c--, walk_next(&o)) {
                if (es == 4)
                    tile2d_4((uint32_t *)po + o.ooff, (const uint32_t *)pi + o.ioff, ni, run,
                             ostp, is);
                else
                    tile2d_1(po + o.ooff, pi + o.ioff, ni, run, ostp, is);
            }
            return;
        }
    }
    w.nd = last; /* walk the outer dims; the last one is the inner run */
    for (int64_t c = walk_count(&w); c > 0; c--, walk_next(&w)) {
        if (is == 1 && os == 1) {
            memcpy(po + w.ooff * (int64_t)es, pi + w.ioff * (int64_t)es, (size_t)run * es);
        } else if (is == 0 && os == 1) {
            if (es == 4)
                fill_4((uint32_t *)po + w.ooff, ((const uint32_t *)pi)[w.ioff], run);
            else
                fill_1(po + w.ooff, pi[w.ioff], run);
        } else if (es == 4) {
            loop_4((uint32_t *)po + w.ooff, (const uint32_t *)pi + w.ioff, run, os, is);
        } else {
            loop_1(po + w.ooff, pi + w.ioff, run, os, is);
        }
    }
}

/* ---- blocks along one dim as tasks: the copies, and sum_to's sums ---- */

/* The part of block w at indices [begin, end) of its dim d (offsets move with it). */
static walk sub_block(const walk *w, int d, int64_t begin, int64_t end)
{
    walk s = *w;
    s.size[d] = end - begin;
    s.ioff += begin * w->istr[d];
    s.ooff += begin * w->ostr[d];
    return s;
}

/* Work per index of dim d of w: the elements of a slice across it. */
static double slice_work(const walk *w, int d)
{
    return DUET_WORK_ELEM * (double)walk_count(w) / (double)w->size[d];
}

typedef struct copy_job {
    walk w;
    size_t es;
    const unsigned char *in;
    unsigned char *out;
} copy_job;

static void copy_run(void *arg, int64_t begin, int64_t end)
{
    const copy_job *j = arg;
    walk s = sub_block(&j->w, 0, begin, end);
    copy_block(j->es, s, j->in + s.ioff * (int64_t)j->es, j->out + s.ooff * (int64_t)j->es);
}

/* Every element is copied once whatever the cut: the outermost dim of the simplified
 * block is cut into tasks (runs of elements when it is the only one). */
static void strided_copy(duet_ctx *c, size_t es, int nd, const int64_t *size, const int64_t *istr,
                         const int64_t *ostr, const void *in, void *out)
{
    copy_job j = {.es = es, .in = in, .out = out};
    j.w.nd = nd;
    for (int d = 0; d < nd; d++)
        j.w.size[d] = size[d], j.w.istr[d] = istr[d], j.w.ostr[d] = ostr[d];
    if (!simplify(&j.w.nd, j.w.size, j.w.istr, j.w.ostr)) return;
    if (j.w.nd == 0) {
        memcpy(out, in, es);
        return;
    }
    int64_t align = j.w.nd == 1 ? DUET_SIMD_FLOATS : 1;
    duet_parallel_range(c, j.w.size[0], slice_work(&j.w, 0), align, copy_run, &j);
}

/* ---- reshape: the target dims (one may be -1, any may be symbols) ---- */

static int reshape_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                         duet_type *out)
{
    (void)nin;
    const duet_tensor *x = in[0];
    int rank = (int)a->i[DIMS_RANK];
    int64_t d[DUET_MAX_RANK];
    int at = -1;
    char sx[96], sd[96];
    for (int i = 0; i < rank; i++) {
        d[i] = duet_dim_resolve(c, a->i[DIMS_AT + i]);
        if (d[i] < DUET_DIM_INFER && !UNK(d[i]))
            return duet_fail(c, DUET_ERR_ARG, "dim %d is %lld; dims must be >= 0 or -1", i,
                             (long long)d[i]);
        if (d[i] == DUET_DIM_INFER) {
            if (at >= 0)
                return duet_fail(c, DUET_ERR_ARG, "dims %s have more than one -1",
                                 dims_str(rank, d, sd, sizeof sd));
            at = i;
        }
    }
    /* cancel equal symbols on both sides, multiply what is left */
    int64_t xsym[DUET_MAX_RANK];
    int nxs = 0, nds = 0;
    int64_t px = 1, pd = 1;
    for (int i = 0; i < x->rank; i++) {
        if (SYM(x->shape[i]))
            xsym[nxs++] = x->shape[i];
        else
            px = mul_sat(px, x->shape[i]);
    }
    for (int i = 0; i < rank; i++) {
        if (i == at) continue;
        if (!SYM(d[i])) {
            pd = mul_sat(pd, d[i]);
            continue;
        }
        int k = 0;
        while (k < nxs && xsym[k] != d[i]) k++;
        if (k < nxs)
            xsym[k] = xsym[--nxs];
        else
            nds++;
    }
    duet_shape_str(x, sx, sizeof sx);
    dims_str(rank, d, sd, sizeof sd);
    if (at < 0) {
        if (nxs == 0 && nds == 0 && px != pd)
            return duet_fail(c, DUET_ERR_SHAPE,
                             "cannot reshape %s (%lld elements) to %s (%lld elements)",
                             sx, (long long)px, sd, (long long)pd);
        /* with unmatched symbols on one side only, the sizes must still divide */
        if ((nxs == 0 && nds > 0 && pd != 0 && px % pd != 0) ||
            (nds == 0 && nxs > 0 && px != 0 && pd % px != 0))
            return duet_fail(c, DUET_ERR_SHAPE, "cannot reshape %s to %s: sizes do not divide",
                             sx, sd);
    } else if (nxs == 0 && nds == 0) {
        if (pd == 0 || px % pd != 0)
            return duet_fail(c, DUET_ERR_SHAPE,
                             "cannot reshape %s (%lld elements) to %s: %lld elements do not "
                             "split into blocks of %lld",
                             sx, (long long)px, sd, (long long)px, (long long)pd);
        d[at] = px / pd;
    } else if (nds == 0 && nxs == 1 && px == pd) {
        d[at] = xsym[0]; /* the one unmatched unknown of x */
    } else if (c->mode == DUET_MODE_TRACE) {
        d[at] = duet_fresh_dim(c); /* e.g. (B, T, D) -> (-1, D): B*T, bound at run time */
    } else {
        return duet_fail(c, DUET_ERR_SHAPE,
                         "cannot infer -1 when reshaping %s to %s: the remaining size is not a "
                         "single dim of the input; pass the dims explicitly",
                         sx, sd);
    }
    out->dtype = x->dtype;
    out->rank = rank;
    for (int i = 0; i < rank; i++) out->shape[i] = d[i];
    return 0;
}

static int reshape_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                          duet_tensor *out)
{
    (void)c, (void)a, (void)nin;
    out->data = in[0]->data;
    return 0;
}

static void reshape_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                        const bool *need)
{
    (void)need;
    gx[0] = duet_reshape(c, gy, n->in[0]->rank, n->in[0]->shape);
}

static void shape_attr_text(const duet_attrs *a, duet_text *t)
{
    duet_text_dims(t, "shape", (int)a->i[DIMS_RANK], a->i + DIMS_AT);
}

const duet_op_def duet_opdef_reshape = {.name = "reshape",
                                        .nin = 1,
                                        .flags = DUET_OPF_ALIAS,
                                        .infer = reshape_infer,
                                        .kernel = reshape_kernel,
                                        .vjp = reshape_vjp,
                                        .attr_text = shape_attr_text};

duet_tensor *duet_reshape_at(duet_site s, duet_ctx *c, duet_tensor *x, int rank,
                             const int64_t *dims)
{
    if (rank < 0 || rank > DUET_MAX_RANK)
        return fail_call(c, s, DUET_OP_RESHAPE, DUET_ERR_ARG, "rank %d is out of range 0..%d",
                         rank, DUET_MAX_RANK);
    if (rank > 0 && !dims) return fail_call(c, s, DUET_OP_RESHAPE, DUET_ERR_ARG, "dims is NULL");
    duet_attrs at = {0};
    at.i[DIMS_RANK] = rank;
    for (int i = 0; i < rank; i++) at.i[DIMS_AT + i] = dims[i];
    return duet_apply(c, s, DUET_OP_RESHAPE, &x, 1, &at);
}

/* ---- transpose: the perm; out[i] = in[perm[i]] ---- */

static int transpose_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                           duet_type *out)
{
    (void)nin;
    const duet_tensor *x = in[0];
    int rank = (int)a->i[DIMS_RANK];
    unsigned seen = 0;
    bool ok = rank == x->rank;
    for (int i = 0; ok && i < rank; i++) {
        int64_t p = a->i[DIMS_AT + i];
        ok = p >= 0 && p < rank && !(seen & (1u << p));
        if (ok) seen |= 1u << p;
    }
    if (!ok) {
        char sx[96], sp[96];
        return duet_fail(c, DUET_ERR_AXIS, "perm %s is not a permutation of the %d axes of %s",
                         dims_str(rank, a->i + DIMS_AT, sp, sizeof sp), x->rank,
                         duet_shape_str(x, sx, sizeof sx));
    }
    out->dtype = x->dtype;
    out->rank = rank;
    for (int i = 0; i < rank; i++) out->shape[i] = x->shape[a->i[DIMS_AT + i]];
    return 0;
}

static int transpose_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                            duet_tensor *out)
{
    (void)nin;
    const duet_tensor *x = in[0];
    int64_t xst[DUET_MAX_RANK], ist[DUET_MAX_RANK], ost[DUET_MAX_RANK];
    duet_contig_strides(x->rank, x->shape, xst);
    duet_contig_strides(out->rank, out->shape, ost);
    for (int i = 0; i < out->rank; i++) ist[i] = xst[a->i[DIMS_AT + i]];
    strided_copy(c, duet_dtype_size(x->dtype), out->rank, out->shape, ist, ost, x->data, out->data);
    return 0;
}

static void transpose_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                          const bool *need)
{
    (void)need;
    int inv[DUET_MAX_RANK];
    int rank = (int)n->attr.i[DIMS_RANK];
    for (int i = 0; i < rank; i++) inv[n->attr.i[DIMS_AT + i]] = i;
    gx[0] = duet_transpose(c, gy, inv);
}

static void transpose_attr_text(const duet_attrs *a, duet_text *t)
{
    duet_text_put(t, " perm=[");
    for (int i = 0; i < a->i[DIMS_RANK]; i++)
        duet_text_put(t, "%s%lld", i ? ", " : "", (long long)a->i[DIMS_AT + i]);
    duet_text_put(t, "]");
}

int duet_transpose_perm(const duet_node *n, int *perm)
{
    int rank = (int)n->attr.i[DIMS_RANK];
    for (int i = 0; i < rank; i++) perm[i] = (int)n->attr.i[DIMS_AT + i];
    return rank;
}

const duet_op_def duet_opdef_transpose = {.name = "transpose",
                                          .nin = 1,
                                          .infer = transpose_infer,
                                          .kernel = transpose_kernel,
                                          .vjp = transpose_vjp,
                                          .attr_text = transpose_attr_text};

duet_tensor *duet_transpose_at(duet_site s, duet_ctx *c, duet_tensor *x, const int *perm)
{
    if (!perm) return fail_call(c, s, DUET_OP_TRANSPOSE, DUET_ERR_ARG, "perm is NULL");
    duet_attrs at = {0};
    int rank = x ? x->rank : 0;
    at.i[DIMS_RANK] = rank;
    for (int i = 0; i < rank; i++) at.i[DIMS_AT + i] = perm[i];
    return duet_apply(c, s, DUET_OP_TRANSPOSE, &x, 1, &at);
}

/* ---- slice: axis, start, and stop or (by size, from gradients) the length ---- */

static int slice_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                       duet_type *out)
{
    (void)nin;
    const duet_tensor *x = in[0];
    int ax = duet_norm_axis(c, (int)a->i[BOUND_AXIS], x->rank);
    if (ax < 0) return -1;
    int64_t dim = x->shape[ax], start = duet_dim_resolve(c, a->i[BOUND_FIRST]), len;
    char sx[96], b1[24], b2[24], b3[24];
    duet_shape_str(x, sx, sizeof sx);
    if (!a->i[BOUND_BY_SIZE]) {
        int64_t stop = duet_dim_resolve(c, a->i[BOUND_SECOND]);
        if (!UNK(start) && !UNK(stop)) {
            if (start < 0 || start > stop || (!UNK(dim) && stop > dim))
                return duet_fail(c, DUET_ERR_ARG,
                                 "range [%lld:%lld] is out of bounds for axis %d of size %s "
                                 "(input %s); need 0 <= start <= stop <= size",
                                 (long long)start, (long long)stop, ax,
                                 dim_str(c, dim, b1, sizeof b1), sx);
            len = stop - start;
        } else if (start == 0) {
            len = stop;
        } else if (start == stop) {
            len = 0;
        } else {
            return duet_fail(c, DUET_ERR_SHAPE,
                             "range [%s:%s] of axis %d (input %s) has a size that cannot be "
                             "written as one dim; use start 0 or concrete bounds",
                             dim_str(c, start, b1, sizeof b1), dim_str(c, stop, b2, sizeof b2),
                             ax, sx);
        }
    } else {
        len = duet_dim_resolve(c, a->i[BOUND_SIZE]);
        if ((!UNK(start) && start < 0) || (!UNK(len) && len < 0) ||
            (!UNK(start) && !UNK(len) && !UNK(dim) && start + len > dim))
            return duet_fail(c, DUET_ERR_ARG,
                             "range of %s elements from %s is out of bounds for axis %d of size %s "
                             "(input %s)",
                             dim_str(c, len, b1, sizeof b1), dim_str(c, start, b2, sizeof b2), ax,
                             dim_str(c, dim, b3, sizeof b3), sx);
    }
    duet_type_of(x, out);
    out->shape[ax] = len;
    return 0;
}

static int slice_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                        duet_tensor *out)
{
    (void)nin;
    const duet_tensor *x = in[0];
    int ax = attr_axis(a, BOUND_AXIS, x->rank);
    int64_t start = duet_dim_resolve(c, a->i[BOUND_FIRST]);
    int64_t ist[DUET_MAX_RANK], ost[DUET_MAX_RANK];
    duet_contig_strides(x->rank, x->shape, ist);
    duet_contig_strides(out->rank, out->shape, ost);
    size_t es = duet_dtype_size(x->dtype);
    strided_copy(c, es, out->rank, out->shape, ist, ost,
                 (const unsigned char *)x->data + start * ist[ax] * (int64_t)es, out->data);
    return 0;
}

static duet_tensor *pad_total(duet_ctx *c, duet_tensor *x, int axis, int64_t before, int64_t total);

static void slice_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                      const bool *need)
{
    (void)need;
    const duet_tensor *x = n->in[0];
    int ax = attr_axis(&n->attr, BOUND_AXIS, x->rank);
    gx[0] = pad_total(c, gy, ax, n->attr.i[BOUND_FIRST], x->shape[ax]);
}

/* " axis=1 start=0 stop=3" (slice) or " axis=1 before=0 after=2" (pad); by size,
 * the second bound reads " size=None" */
static void bounds_text(const duet_attrs *a, duet_text *t, const char *first, const char *second)
{
    duet_text_put(t, " axis=%lld", (long long)a->i[BOUND_AXIS]);
    duet_text_dim(t, first, a->i[BOUND_FIRST]);
    if (a->i[BOUND_BY_SIZE])
        duet_text_dim(t, "size", a->i[BOUND_SIZE]);
    else
        duet_text_dim(t, second, a->i[BOUND_SECOND]);
}

static void slice_attr_text(const duet_attrs *a, duet_text *t) { bounds_text(a, t, "start", "stop"); }

const duet_op_def duet_opdef_slice = {.name = "slice",
                                      .nin = 1,
                                      .infer = slice_infer,
                                      .kernel = slice_kernel,
                                      .vjp = slice_vjp,
                                      .attr_text = slice_attr_text};

/* Slice and pad take their second bound either as the usual stop/after (by_size
 * false) or, for gradients, as the result's size, which may be a symbol. */
static duet_tensor *bounded_op(duet_ctx *c, duet_site s, duet_op op, duet_tensor *x, int axis,
                               int64_t first, int64_t second, bool by_size)
{
    duet_attrs at = {0};
    at.i[BOUND_AXIS] = axis;
    at.i[BOUND_FIRST] = first;
    at.i[by_size ? BOUND_SIZE : BOUND_SECOND] = second;
    at.i[BOUND_BY_SIZE] = by_size;
    return duet_apply(c, s, op, &x, 1, &at);
}

duet_tensor *duet_slice_at(duet_site s, duet_ctx *c, duet_tensor *x, int axis, int64_t start,
                           int64_t stop)
{
    return bounded_op(c, s, DUET_OP_SLICE, x, axis, start, stop, false);
}

/* x[start : start + len] along axis; len may be a symbol. */
static duet_tensor *slice_len(duet_ctx *c, duet_tensor *x, int axis, int64_t start, int64_t len)
{
    return bounded_op(c, DUET_HERE, DUET_OP_SLICE, x, axis, start, len, true);
}

/* ---- pad: axis, before, and after or (by size, from gradients) the padded size ---- */

static int pad_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                     duet_type *out)
{
    (void)nin;
    const duet_tensor *x = in[0];
    int ax = duet_norm_axis(c, (int)a->i[BOUND_AXIS], x->rank);
    if (ax < 0) return -1;
    int64_t dim = x->shape[ax], before = duet_dim_resolve(c, a->i[BOUND_FIRST]), size;
    char sx[96], b1[24], b2[24];
    duet_shape_str(x, sx, sizeof sx);
    if (!a->i[BOUND_BY_SIZE]) {
        int64_t after = duet_dim_resolve(c, a->i[BOUND_SECOND]);
        if ((!UNK(before) && before < 0) || (!UNK(after) && after < 0))
            return duet_fail(c, DUET_ERR_ARG, "padding (%s, %s) of axis %d is negative",
                             dim_str(c, before, b1, sizeof b1),
                             dim_str(c, after, b2, sizeof b2), ax);
        size = dim_add(dim_add(before, dim), after);
        if (size == DUET_DIM_INFER && c->mode == DUET_MODE_TRACE) size = duet_fresh_dim(c);
        if (size == DUET_DIM_INFER)
            return duet_fail(c, DUET_ERR_SHAPE,
                             "padding axis %d of %s by (%s, %s) gives a size that cannot be "
                             "written as one dim",
                             ax, sx, dim_str(c, before, b1, sizeof b1),
                             dim_str(c, after, b2, sizeof b2));
    } else {
        size = duet_dim_resolve(c, a->i[BOUND_SIZE]);
        if ((!UNK(before) && before < 0) ||
            (!UNK(before) && !UNK(dim) && !UNK(size) && before + dim > size))
            return duet_fail(c, DUET_ERR_ARG,
                             "cannot pad axis %d of %s to size %s with %s before", ax, sx,
                             dim_str(c, size, b1, sizeof b1), dim_str(c, before, b2, sizeof b2));
    }
    duet_type_of(x, out);
    out->shape[ax] = size;
    return 0;
}

static int pad_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                      duet_tensor *out)
{
    (void)nin;
    const duet_tensor *x = in[0];
    int ax = attr_axis(a, BOUND_AXIS, x->rank);
    int64_t before = duet_dim_resolve(c, a->i[BOUND_FIRST]);
    int64_t ist[DUET_MAX_RANK], ost[DUET_MAX_RANK];
    size_t es = duet_dtype_size(x->dtype);
    memset(out->data, 0, (size_t)duet_numel(out) * es);
    duet_contig_strides(x->rank, x->shape, ist);
    duet_contig_strides(out->rank, out->shape, ost);
    strided_copy(c, es, x->rank, x->shape, ist, ost, x->data,
                 (unsigned char *)out->data + before * ost[ax] * (int64_t)es);
    return 0;
}

static void pad_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                    const bool *need)
{
    (void)need;
    const duet_tensor *x = n->in[0];
    int ax = attr_axis(&n->attr, BOUND_AXIS, x->rank);
    gx[0] = slice_len(c, gy, ax, n->attr.i[BOUND_FIRST], x->shape[ax]);
}

static void pad_attr_text(const duet_attrs *a, duet_text *t) { bounds_text(a, t, "before", "after"); }

const duet_op_def duet_opdef_pad = {.name = "pad",
                                    .nin = 1,
                                    .infer = pad_infer,
                                    .kernel = pad_kernel,
                                    .vjp = pad_vjp,
                                    .attr_text = pad_attr_text};

duet_tensor *duet_pad_at(duet_site s, duet_ctx *c, duet_tensor *x, int axis, int64_t before,
                         int64_t after)
{
    return bounded_op(c, s, DUET_OP_PAD, x, axis, before, after, false);
}

static duet_tensor *pad_total(duet_ctx *c, duet_tensor *x, int axis, int64_t before, int64_t total)
{
    return bounded_op(c, DUET_HERE, DUET_OP_PAD, x, axis, before, total, true);
}

/* ---- concat: variadic, along an axis ---- */

static int concat_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                        duet_type *out)
{
    if (nin < 1) return duet_fail(c, DUET_ERR_ARG, "needs at least one input");
    const duet_tensor *x0 = in[0];
    int ax = duet_norm_axis(c, (int)a->i[CONCAT_AXIS], x0->rank);
    if (ax < 0) return -1;
    duet_type_of(x0, out);
    char s0[96], si[96];
    int64_t total = 0;
    bool fresh = false;
    for (int i = 0; i < nin; i++) {
        const duet_tensor *x = in[i];
        if (x->dtype != x0->dtype)
            return duet_fail(c, DUET_ERR_DTYPE, "input %d is %s but input 0 is %s", i,
                             duet_dtype_name(x->dtype), duet_dtype_name(x0->dtype));
        bool ok = x->rank == x0->rank;
        for (int d = 0; ok && d < x->rank; d++) {
            if (d == ax) continue;
            int64_t u = out->shape[d], v = x->shape[d];
            ok = u == v || SYM(u) || SYM(v);
            if (ok && SYM(u) && !SYM(v)) out->shape[d] = v;
        }
        if (!ok)
            return duet_fail(c, DUET_ERR_SHAPE,
                             "input %d %s does not match input 0 %s outside axis %d", i,
                             duet_shape_str(x, si, sizeof si), duet_shape_str(x0, s0, sizeof s0),
                             ax);
        if (fresh) continue; /* already an unknown sum */
        total = dim_add(total, x->shape[ax]);
        if (total == DUET_DIM_INFER && c->mode == DUET_MODE_TRACE) {
            total = duet_fresh_dim(c); /* a sum of unknowns, bound at run time */
            fresh = true;
        }
        if (total == DUET_DIM_INFER)
            return duet_fail(c, DUET_ERR_SHAPE,
                             "the size of axis %d (a sum with unknown dims, input %d %s) cannot "
                             "be written as one dim",
                             ax, i, duet_shape_str(x, si, sizeof si));
    }
    out->shape[ax] = total;
    return 0;
}

static int concat_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                         duet_tensor *out)
{
    int ax = attr_axis(a, CONCAT_AXIS, out->rank);
    size_t es = duet_dtype_size(out->dtype);
    int64_t ist[DUET_MAX_RANK], ost[DUET_MAX_RANK];
    duet_contig_strides(out->rank, out->shape, ost);
    int64_t off = 0;
    for (int i = 0; i < nin; i++) {
        const duet_tensor *x = in[i];
        duet_contig_strides(x->rank, x->shape, ist);
        strided_copy(c, es, x->rank, x->shape, ist, ost, x->data,
                     (unsigned char *)out->data + off * ost[ax] * (int64_t)es);
        off += x->shape[ax];
    }
    return 0;
}

static void concat_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                       const bool *need)
{
    int ax = attr_axis(&n->attr, CONCAT_AXIS, gy->rank);
    int64_t off = 0;
    for (int i = 0; i < n->nin; i++) {
        int64_t len = n->in[i]->shape[ax];
        if (need[i]) gx[i] = slice_len(c, gy, ax, off, len);
        off = dim_add(off, len);
    }
}

static void concat_attr_text(const duet_attrs *a, duet_text *t)
{
    duet_text_put(t, " axis=%lld", (long long)a->i[CONCAT_AXIS]);
}

const duet_op_def duet_opdef_concat = {.name = "concat",
                                       .nin = -1,
                                       .infer = concat_infer,
                                       .kernel = concat_kernel,
                                       .vjp = concat_vjp,
                                       .attr_text = concat_attr_text};

duet_tensor *duet_concat_at(duet_site s, duet_ctx *c, duet_tensor *const *xs, int n, int axis)
{
    if (n < 1 || !xs)
        return fail_call(c, s, DUET_OP_CONCAT, DUET_ERR_ARG, "needs at least one input (n = %d%s)",
                         n, xs ? "" : ", xs NULL");
    duet_attrs at = {0};
    at.i[CONCAT_AXIS] = axis;
    return duet_apply(c, s, DUET_OP_CONCAT, xs, n, &at);
}

/* ---- sum_to / broadcast_to: the target shape ---- */

static int target_shape(duet_ctx *c, const duet_attrs *a, int64_t *t)
{
    int rank = (int)a->i[DIMS_RANK];
    for (int i = 0; i < rank; i++) {
        t[i] = duet_dim_resolve(c, a->i[DIMS_AT + i]);
        if (t[i] < 0 && !UNK(t[i])) {
            char st[96];
            return duet_fail(c, DUET_ERR_ARG, "target shape %s has a negative dim",
                             dims_str(rank, t, st, sizeof st));
        }
    }
    return 0;
}

static int sum_to_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                        duet_type *out)
{
    (void)nin;
    const duet_tensor *x = in[0];
    int rank = (int)a->i[DIMS_RANK];
    int64_t t[DUET_MAX_RANK];
    if (target_shape(c, a, t)) return -1;
    bool ok = rank <= x->rank;
    for (int d = 0; ok && d < rank; d++) {
        int64_t xd = x->shape[d + x->rank - rank];
        ok = t[d] == xd || t[d] == 1 || SYM(t[d]) || SYM(xd);
    }
    if (!ok) {
        char sx[96], st[96];
        return duet_fail(c, DUET_ERR_SHAPE, "cannot sum %s down to %s (not a broadcast of it)",
                         duet_shape_str(x, sx, sizeof sx), dims_str(rank, t, st, sizeof st));
    }
    out->dtype = x->dtype;
    out->rank = rank;
    memcpy(out->shape, t, sizeof(int64_t) * (size_t)rank);
    return 0;
}

#define DEFINE_SUM_TO(T, sfx, ADD)                                                               \
    static void sum_to_##sfx(const void *x, void *out, walk w)                                   \
    {                                                                                            \
        const T *px = x;                                                                         \
        T *po = out;                                                                             \
        int last = w.nd - 1;                                                                     \
        int64_t run = w.size[last], os = w.ostr[last];                                           \
        w.nd = last;                                                                             \
        for (int64_t cnt = walk_count(&w); cnt > 0; cnt--, walk_next(&w)) {                      \
            const T *restrict src = px + w.ioff;                                                 \
            T *restrict dst = po + w.ooff;                                                       \
            if (os == 1) {                                                                       \
                for (int64_t j = 0; j < run; j++) dst[j] = ADD(dst[j], src[j]);                  \
            } else if (os == 0) {                                                                \
                T s = dst[0];                                                                    \
                for (int64_t j = 0; j < run; j++) s = ADD(s, src[j]);                            \
                dst[0] = s;                                                                      \
            } else {                                                                             \
                for (int64_t j = 0; j < run; j++) dst[j * os] = ADD(dst[j * os], src[j]);        \
            }                                                                                    \
        }                                                                                        \
    }
#define ADD_F(u, v) ((u) + (v))
#define ADD_I(u, v) ((int32_t)((uint32_t)(u) + (uint32_t)(v)))
#define ADD_B(u, v) ((uint8_t)((u) | (v)))
DEFINE_SUM_TO(float, f32, ADD_F)
DEFINE_SUM_TO(int32_t, i32, ADD_I)
DEFINE_SUM_TO(uint8_t, bool, ADD_B)

/* sum_to's tasks: the part of the walk at indices [begin, end) of its dim d, a dim
 * the output does not sum over (ostr != 0), so tasks write disjoint outputs and each
 * output still adds its inputs in x's order. */
typedef struct sum_to_job {
    walk w;
    int d;
    void (*sum)(const void *x, void *out, walk w);
    const void *x;
    void *out;
} sum_to_job;

static void sum_to_run(void *arg, int64_t begin, int64_t end)
{
    const sum_to_job *j = arg;
    j->sum(j->x, j->out, sub_block(&j->w, j->d, begin, end));
}

/* The dim to cut: the last (runs of output columns) when the output is contiguous
 * along it, else the outermost one the output keeps; -1 when it keeps none (a total,
 * which stays one ordered sum). */
static int sum_to_split_dim(const walk *w)
{
    if (w->ostr[w->nd - 1] == 1) return w->nd - 1;
    for (int d = 0; d < w->nd; d++)
        if (w->ostr[d] != 0) return d;
    return -1;
}

/* Sums over x in order; out offsets come from out's shape broadcast to x's (bool sums
 * saturate: logical or). */
static int sum_to_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                         duet_tensor *out)
{
    (void)a, (void)nin;
    const duet_tensor *x = in[0];
    memset(out->data, 0, (size_t)duet_numel(out) * duet_dtype_size(out->dtype));
    sum_to_job j = {.x = x->data, .out = out->data};
    j.sum = x->dtype == DUET_F32 ? sum_to_f32 : x->dtype == DUET_I32 ? sum_to_i32 : sum_to_bool;
    walk *w = &j.w;
    w->nd = x->rank;
    memcpy(w->size, x->shape, sizeof w->size);
    duet_contig_strides(x->rank, x->shape, w->istr);
    duet_bcast_strides(out, x, w->ostr);
    if (!simplify(&w->nd, w->size, w->istr, w->ostr)) return 0;
    if (w->nd == 0) { /* one element */
        w->nd = 1;
        w->size[0] = 1, w->istr[0] = 1, w->ostr[0] = 1;
    }
    j.d = sum_to_split_dim(w);
    if (j.d < 0) {
        j.sum(j.x, j.out, *w);
        return 0;
    }
    /* a run of output columns pays the walk over every input row: at least 32
     * columns (two vectors a row), so the adds outweigh it; a bias gradient of 32
     * stays one task, one of 64 is two */
    int64_t align = j.d == w->nd - 1 ? 2 * DUET_SIMD_FLOATS : 1;
    duet_parallel_range(c, w->size[j.d], slice_work(w, j.d), align, sum_to_run, &j);
    return 0;
}

static void sum_to_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                       const bool *need)
{
    (void)need;
    gx[0] = duet_broadcast_to(c, gy, n->in[0]->rank, n->in[0]->shape);
}

const duet_op_def duet_opdef_sum_to = {.name = "sum_to",
                                       .nin = 1,
                                       .infer = sum_to_infer,
                                       .kernel = sum_to_kernel,
                                       .vjp = sum_to_vjp,
                                       .attr_text = shape_attr_text};

static int broadcast_to_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                              duet_type *out)
{
    (void)nin;
    const duet_tensor *x = in[0];
    int rank = (int)a->i[DIMS_RANK];
    int64_t t[DUET_MAX_RANK];
    if (target_shape(c, a, t)) return -1;
    bool ok = rank >= x->rank;
    for (int d = 0; ok && d < x->rank; d++) {
        int64_t xd = x->shape[d], td = t[d + rank - x->rank];
        ok = xd == td || xd == 1 || SYM(xd) || SYM(td);
    }
    if (!ok) {
        char sx[96], st[96];
        return duet_fail(c, DUET_ERR_SHAPE, "cannot broadcast %s to %s",
                         duet_shape_str(x, sx, sizeof sx), dims_str(rank, t, st, sizeof st));
    }
    out->dtype = x->dtype;
    out->rank = rank;
    memcpy(out->shape, t, sizeof(int64_t) * (size_t)rank);
    return 0;
}

static int broadcast_to_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                               duet_tensor *out)
{
    (void)a, (void)nin;
    const duet_tensor *x = in[0];
    int64_t ist[DUET_MAX_RANK], ost[DUET_MAX_RANK];
    duet_bcast_strides(x, out, ist);
    duet_contig_strides(out->rank, out->shape, ost);
    strided_copy(c, duet_dtype_size(x->dtype), out->rank, out->shape, ist, ost, x->data, out->data);
    return 0;
}

static void broadcast_to_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                             const bool *need)
{
    (void)need;
    gx[0] = duet_sum_to(c, gy, n->in[0]->rank, n->in[0]->shape);
}

const duet_op_def duet_opdef_broadcast_to = {.name = "broadcast_to",
                                             .nin = 1,
                                             .infer = broadcast_to_infer,
                                             .kernel = broadcast_to_kernel,
                                             .vjp = broadcast_to_vjp,
                                             .attr_text = shape_attr_text};

static duet_tensor *shape_op(duet_site s, duet_ctx *c, duet_op op, duet_tensor *x, int rank,
                             const int64_t *shape)
{
    if (rank < 0 || rank > DUET_MAX_RANK)
        return fail_call(c, s, op, DUET_ERR_ARG, "rank %d is out of range 0..%d", rank,
                         DUET_MAX_RANK);
    if (rank > 0 && !shape) return fail_call(c, s, op, DUET_ERR_ARG, "shape is NULL");
    duet_attrs at = {0};
    at.i[DIMS_RANK] = rank;
    for (int i = 0; i < rank; i++) at.i[DIMS_AT + i] = shape[i];
    return duet_apply(c, s, op, &x, 1, &at);
}

duet_tensor *duet_sum_to_at(duet_site s, duet_ctx *c, duet_tensor *x, int rank,
                            const int64_t *shape)
{
    return shape_op(s, c, DUET_OP_SUM_TO, x, rank, shape);
}

duet_tensor *duet_broadcast_to_at(duet_site s, duet_ctx *c, duet_tensor *x, int rank,
                                  const int64_t *shape)
{
    return shape_op(s, c, DUET_OP_BROADCAST_TO, x, rank, shape);
}
