/* Tensor and shape helpers shared by the shape rules and kernels. */
#include "internal.h"

size_t duet_dtype_size(duet_dtype t) { return t == DUET_BOOL8 ? 1 : 4; }

const char *duet_dtype_name(duet_dtype t)
{
    switch (t) {
    case DUET_F32: return "f32";
    case DUET_I32: return "i32";
    case DUET_BOOL8: return "bool";
    }
    return "?";
}

/* -1 if a dim is symbolic; INT64_MAX if the product overflows (callers treat that
 * as "too large" rather than wrapping). */
int64_t duet_numel(const duet_tensor *t)
{
    duet_type ty;
    duet_type_of(t, &ty);
    return duet_type_numel(&ty);
}

int64_t duet_type_numel(const duet_type *t)
{
    int64_t n = 1;
    bool over = false;
    for (int i = 0; i < t->rank; i++) {
        if (t->shape[i] < 0) return -1;
        if (t->shape[i] == 0) return 0;
        if (n > INT64_MAX / t->shape[i]) over = true;
        else n *= t->shape[i];
    }
    return over ? INT64_MAX : n;
}

int duet_checked_bytes(duet_ctx *ctx, duet_dtype dtype, int rank, const int64_t *shape,
                       size_t *bytes)
{
    duet_type ty = {.dtype = dtype, .rank = rank};
    memcpy(ty.shape, shape, sizeof(int64_t) * (size_t)rank);
    int64_t n = duet_type_numel(&ty);
    size_t es = duet_dtype_size(dtype);
    char buf[128];
    if (n < 0)
        return duet_fail(ctx, DUET_ERR_ARG, "%s %s has an unknown or negative dim",
                         duet_dtype_name(dtype), duet_type_str(&ty, buf, sizeof buf));
    if (n > DUET_MAX_TENSOR_BYTES / (int64_t)es)
        return duet_fail(ctx, DUET_ERR_OOM, "%s %s is too large (over %lld GiB)",
                         duet_dtype_name(dtype), duet_type_str(&ty, buf, sizeof buf),
                         (long long)(DUET_MAX_TENSOR_BYTES >> 30));
    *bytes = (size_t)n * es;
    return 0;
}

bool duet_is_poison(const duet_tensor *t) { return !t || (t->flags & DUET_TENSOR_POISON); }

static char *shape_str(int rank, const int64_t *shape, char *buf, size_t n)
{
    size_t len = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < rank && len < n; i++) {
        const char *sep = i ? ", " : "";
        if (DUET_DIM_IS_SYM(shape[i]))
            len += (size_t)snprintf(buf + len, n - len, "%sNone", sep);
        else
            len += (size_t)snprintf(buf + len, n - len, "%s%lld", sep, (long long)shape[i]);
    }
    if (len < n) snprintf(buf + len, n - len, rank == 1 ? ",)" : ")");
    return buf;
}

char *duet_shape_str(const duet_tensor *t, char *buf, size_t n)
{
    return shape_str(t->rank, t->shape, buf, n);
}

char *duet_tensor_type_str(const duet_tensor *t, char *buf, size_t n)
{
    char shape[112];
    snprintf(buf, n, "%s %s", duet_dtype_name(t->dtype), duet_shape_str(t, shape, sizeof shape));
    return buf;
}

char *duet_type_str(const duet_type *t, char *buf, size_t n)
{
    return shape_str(t->rank, t->shape, buf, n);
}

void duet_type_of(const duet_tensor *t, duet_type *ty)
{
    ty->dtype = t->dtype;
    ty->rank = t->rank;
    memcpy(ty->shape, t->shape, sizeof ty->shape);
}

bool duet_same_shape(const duet_tensor *a, const duet_tensor *b)
{
    if (a->rank != b->rank) return false;
    for (int d = 0; d < a->rank; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

float duet_get_f32(const duet_tensor *t, int64_t i)
{
    if (!t || !t->data || i < 0 || i >= duet_numel(t)) return 0.0f / 0.0f;
    switch (t->dtype) {
    case DUET_F32: return ((const float *)t->data)[i];
    case DUET_I32: return (float)((const int32_t *)t->data)[i];
    case DUET_BOOL8: return ((const uint8_t *)t->data)[i] ? 1.0f : 0.0f;
    }
    return 0;
}

int32_t duet_get_i32(const duet_tensor *t, int64_t i)
{
    if (!t || !t->data || i < 0 || i >= duet_numel(t)) return 0;
    switch (t->dtype) {
    case DUET_F32: return (int32_t)((const float *)t->data)[i];
    case DUET_I32: return ((const int32_t *)t->data)[i];
    case DUET_BOOL8: return ((const uint8_t *)t->data)[i];
    }
    return 0;
}


int duet_norm_axis(duet_ctx *ctx, int axis, int rank)
{
    int a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank)
        return duet_fail(ctx, DUET_ERR_AXIS, "axis %d is out of range for rank %d", axis, rank);
    return a;
}

/* NumPy broadcasting on possibly symbolic dims. Two different symbols give a fresh
 * symbol (either may be 1 at run time); the executor binds it from the concrete
 * result and checks it wherever it appears again. */
int duet_broadcast_shapes(duet_ctx *ctx, duet_tensor *const *in, int nin, duet_type *out)
{
    int rank = 0;
    for (int i = 0; i < nin; i++)
        if (in[i]->rank > rank) rank = in[i]->rank;
    out->rank = rank;
    for (int d = 0; d < rank; d++) {
        int64_t r = 1;
        for (int i = 0; i < nin; i++) {
            int k = d - (rank - in[i]->rank);
            if (k < 0) continue;
            int64_t x = in[i]->shape[k];
            if (x == r || x == 1) continue;
            if (r == 1 || (DUET_DIM_IS_SYM(r) && !DUET_DIM_IS_SYM(x))) {
                r = x;
                continue;
            }
            if (DUET_DIM_IS_SYM(x)) {
                if (DUET_DIM_IS_SYM(r) && ctx->mode == DUET_MODE_TRACE) r = duet_fresh_dim(ctx);
                continue;
            }
            char sa[96], sb[96];
            duet_shape_str(in[0], sa, sizeof sa);
            duet_shape_str(in[i], sb, sizeof sb);
            return duet_fail(ctx, DUET_ERR_SHAPE,
                             "shapes %s and %s cannot be broadcast (dim %d: %lld vs %lld)", sa,
                             sb, d, (long long)r, (long long)x);
        }
        out->shape[d] = r;
    }
    return 0;
}

void duet_contig_strides(int rank, const int64_t *shape, int64_t *strides)
{
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        strides[d] = s;
        s *= shape[d];
    }
}

void duet_bcast_strides(const duet_tensor *x, const duet_tensor *out, int64_t *strides)
{
    int off = out->rank - x->rank;
    int64_t s = 1;
    for (int d = out->rank - 1; d >= 0; d--) {
        int k = d - off;
        if (k < 0) {
            strides[d] = 0;
            continue;
        }
        strides[d] = (x->shape[k] == 1 && out->shape[d] != 1) ? 0 : s;
        s *= x->shape[k];
    }
}

void duet_bcast_iter_init(duet_bcast_iter *it, const duet_tensor *out, const duet_tensor *const *in,
                          int n)
{
    memset(it, 0, sizeof *it);
    it->rank = out->rank;
    it->n = n;
    memcpy(it->shape, out->shape, sizeof it->shape);
    for (int i = 0; i < n; i++) duet_bcast_strides(in[i], out, it->stride[i]);
}

void duet_bcast_iter_next(duet_bcast_iter *it)
{
    for (int d = it->rank - 1; d >= 0; d--) {
        for (int i = 0; i < it->n; i++) it->off[i] += it->stride[i][d];
        if (++it->idx[d] < it->shape[d]) return;
        for (int i = 0; i < it->n; i++) it->off[i] -= it->stride[i][d] * it->shape[d];
        it->idx[d] = 0;
    }
}

void duet_bcast_iter_seek(duet_bcast_iter *it, int64_t i)
{
    for (int k = 0; k < it->n; k++) it->off[k] = 0;
    for (int d = it->rank - 1; d >= 0; d--) {
        int64_t s = it->shape[d];
        it->idx[d] = s ? i % s : 0;
        i = s ? i / s : 0;
        for (int k = 0; k < it->n; k++) it->off[k] += it->idx[d] * it->stride[k][d];
    }
}

/* duet_bcast_apply2's tasks: runs of elements (whole-tensor calls) or of rows. */
typedef struct apply2_job {
    const float *a, *b;
    float *o;
    int64_t sa, sb; /* strides of the inputs along a run: 0 (broadcast) or 1 */
    duet_map2_fn f;
    duet_bcast_iter it; /* rows: the walk over the output's rows */
    int64_t row;
} apply2_job;

static void apply2_elems(void *arg, int64_t begin, int64_t end)
{
    const apply2_job *j = arg;
    j->f(j->o + begin, j->a + begin * j->sa, j->sa, j->b + begin * j->sb, j->sb, end - begin);
}

static void apply2_rows(void *arg, int64_t begin, int64_t end)
{
    const apply2_job *j = arg;
    duet_bcast_iter it = j->it;
    duet_bcast_iter_seek(&it, begin);
    for (int64_t r = begin; r < end; r++, duet_bcast_iter_next(&it))
        j->f(j->o + r * j->row, j->a + it.off[0], j->sa, j->b + it.off[1], j->sb, j->row);
}

/* Runs f over the last dim of out, one call per row; whole-tensor calls when the
 * inputs are full-size or scalars, the common cases. Runs of elements or of rows are
 * tasks for the context's threads: each output element is f of its own inputs, so
 * the cut changes no bit. */
void duet_bcast_apply2(duet_ctx *ctx, const duet_tensor *a, const duet_tensor *b, duet_tensor *out,
                       duet_map2_fn f)
{
    apply2_job j = {.a = a->data, .b = b->data, .o = out->data, .f = f};
    int64_t n = duet_numel(out), na = duet_numel(a), nb = duet_numel(b);
    if ((na == n || na == 1) && (nb == n || nb == 1)) {
        j.sa = na == 1 && n != 1 ? 0 : 1;
        j.sb = nb == 1 && n != 1 ? 0 : 1;
        duet_parallel_range(ctx, n, DUET_WORK_ELEM, DUET_SIMD_FLOATS, apply2_elems, &j);
        return;
    }
    if (n == 0) return;
    const duet_tensor *ins[2] = {a, b};
    duet_bcast_iter_init(&j.it, out, ins, 2);
    int last = out->rank - 1;
    j.row = out->shape[last];
    j.sa = j.it.stride[0][last], j.sb = j.it.stride[1][last];
    j.it.shape[last] = 1; /* the walk steps whole rows */
    duet_parallel_range(ctx, n / j.row, DUET_WORK_ELEM * (double)j.row, 1, apply2_rows, &j);
}

duet_tensor *duet_tensor_copy(duet_ctx *ctx, const duet_tensor *src)
{
    size_t bytes = (size_t)duet_numel(src) * duet_dtype_size(src->dtype);
    duet_tensor *t = duet_arena_alloc(ctx, &ctx->tape.arena, sizeof *t);
    void *data = duet_arena_alloc(ctx, &ctx->tape.arena, bytes ? bytes : 1);
    if (!t || !data) {
        duet_ctx_fail(ctx, DUET_ERR_OOM, "copying a %zu-byte tensor", bytes);
        return &ctx->poison;
    }
    *t = *src;
    t->node = NULL;
    t->flags = 0;
    t->data = data;
    if (bytes) memcpy(data, src->data, bytes);
    return t;
}
