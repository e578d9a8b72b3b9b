/* Comparisons, logic, select and cast: greater, equal (-> bool), logical_and,
 * logical_not, where (3-way broadcasting) and cast. Binary and ternary ops use
 * NumPy broadcasting; kernels walk the output in rows of its last dim, with one
 * flat run when every input is full-size or a scalar. Only where and cast (f32 ->
 * f32) have gradients. */
#include <math.h>

#include "../internal.h"

/* ---- broadcasting walk: rows of the last dim, or one flat run ---- */

typedef struct bwalk {
    duet_bcast_iter it; /* it.off[i]: input i's offset at the start of the row */
    int64_t rows, len;  /* rows of len elements each, in output order */
    int64_t s[3];       /* input i's element stride along a row (0 or 1) */
} bwalk;

static void bwalk_init(bwalk *w, const duet_tensor *out, duet_tensor *const *in, int n)
{
    int64_t total = duet_numel(out);
    bool flat = true;
    for (int i = 0; i < n; i++) {
        int64_t ni = duet_numel(in[i]);
        if (ni != total && ni != 1) flat = false;
    }
    if (flat || out->rank == 0) {
        memset(&w->it, 0, sizeof w->it); /* rank 0: next() is a no-op, offsets stay 0 */
        w->it.n = n;
        w->rows = total ? 1 : 0;
        w->len = total;
        for (int i = 0; i < n; i++) w->s[i] = duet_numel(in[i]) == total ? 1 : 0;
        return;
    }
    duet_bcast_iter_init(&w->it, out, (const duet_tensor *const *)in, n);
    int last = out->rank - 1;
    w->len = out->shape[last];
    w->rows = w->len ? total / w->len : 0;
    for (int i = 0; i < n; i++) w->s[i] = w->it.stride[i][last];
    w->it.shape[last] = 1; /* step whole rows */
}

/* Output type OT, inputs A (type TA) and B (type TB); EXPR uses a and b. */
#define BINARY_WALK(OT, TA, TB, EXPR)                                                         \
    do {                                                                                     \
        bwalk w_;                                                                            \
        bwalk_init(&w_, out, in, 2);                                                         \
        const TA *pa_ = in[0]->data;                                                         \
        const TB *pb_ = in[1]->data;                                                         \
        OT *po_ = out->data;                                                                 \
        int64_t sa_ = w_.s[0], sb_ = w_.s[1], len_ = w_.len;                                 \
        for (int64_t r_ = 0; r_ < w_.rows; r_++, duet_bcast_iter_next(&w_.it)) {             \
            const TA *xa_ = pa_ + w_.it.off[0];                                              \
            const TB *xb_ = pb_ + w_.it.off[1];                                              \
            OT *o_ = po_ + r_ * len_;                                                        \
            if (sa_ == 1 && sb_ == 1)                                                        \
                for (int64_t i_ = 0; i_ < len_; i_++) {                                      \
                    TA a = xa_[i_];                                                          \
                    TB b = xb_[i_];                                                          \
                    o_[i_] = (OT)(EXPR);                                                     \
                }                                                                            \
            else                                                                             \
                for (int64_t i_ = 0; i_ < len_; i_++) {                                      \
                    TA a = xa_[i_ * sa_];                                                    \
                    TB b = xb_[i_ * sb_];                                                    \
                    o_[i_] = (OT)(EXPR);                                                     \
                }                                                                            \
        }                                                                                    \
    } while (0)

/* ---- shape rules ---- */

static int need_same_dtype(duet_ctx *c, duet_tensor *const *in, bool allow_bool)
{
    duet_dtype a = in[0]->dtype, b = in[1]->dtype;
    if (a != b || (a == DUET_BOOL8 && !allow_bool))
        return duet_fail(c, DUET_ERR_DTYPE, "operands are %s and %s; need two %s", duet_dtype_name(a),
                         duet_dtype_name(b), allow_bool ? "of f32, i32 or bool" : "f32 or two i32");
    return 0;
}

static int greater_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                         duet_type *out)
{
    (void)a;
    if (need_same_dtype(c, in, false)) return -1;
    out->dtype = DUET_BOOL8;
    return duet_broadcast_shapes(c, in, nin, out);
}

static int equal_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                       duet_type *out)
{
    (void)a;
    if (need_same_dtype(c, in, true)) return -1;
    out->dtype = DUET_BOOL8;
    return duet_broadcast_shapes(c, in, nin, out);
}

static int logical_and_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                             duet_type *out)
{
    (void)a;
    if (in[0]->dtype != DUET_BOOL8 || in[1]->dtype != DUET_BOOL8)
        return duet_fail(c, DUET_ERR_DTYPE, "operands are %s and %s; need two bool",
                         duet_dtype_name(in[0]->dtype), duet_dtype_name(in[1]->dtype));
    out->dtype = DUET_BOOL8;
    return duet_broadcast_shapes(c, in, nin, out);
}

static int logical_not_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                             duet_type *out)
{
    (void)a, (void)nin;
    if (in[0]->dtype != DUET_BOOL8)
        return duet_fail(c, DUET_ERR_DTYPE, "input is %s; need bool", duet_dtype_name(in[0]->dtype));
    duet_type_of(in[0], out);
    return 0;
}

/* The rule of duet_broadcast_shapes, without failing: lets where name all three shapes. */
static bool broadcastable(duet_tensor *const *in, int n)
{
    int rank = 0;
    for (int i = 0; i < n; i++)
        if (in[i]->rank > rank) rank = in[i]->rank;
    for (int d = 0; d < rank; d++) {
        int64_t r = 1;
        for (int i = 0; i < n; i++) {
            int k = d - (rank - in[i]->rank);
            if (k < 0) continue;
            int64_t x = in[i]->shape[k];
            if (x == r || x == 1) continue;
            if (r == 1 || (DUET_DIM_IS_SYM(r) && !DUET_DIM_IS_SYM(x))) r = x;
            else if (!DUET_DIM_IS_SYM(x)) return false;
        }
    }
    return true;
}

static int where_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                       duet_type *out)
{
    (void)a;
    if (in[0]->dtype != DUET_BOOL8)
        return duet_fail(c, DUET_ERR_DTYPE, "condition is %s; need bool",
                         duet_dtype_name(in[0]->dtype));
    if (in[1]->dtype != in[2]->dtype)
        return duet_fail(c, DUET_ERR_DTYPE, "branches are %s and %s; need the same dtype",
                         duet_dtype_name(in[1]->dtype), duet_dtype_name(in[2]->dtype));
    out->dtype = in[1]->dtype;
    if (!broadcastable(in, nin)) {
        char s0[96], s1[96], s2[96];
        return duet_fail(c, DUET_ERR_SHAPE,
                         "condition %s and branches %s, %s cannot be broadcast together",
                         duet_shape_str(in[0], s0, sizeof s0), duet_shape_str(in[1], s1, sizeof s1),
                         duet_shape_str(in[2], s2, sizeof s2));
    }
    return duet_broadcast_shapes(c, in, nin, out);
}

/* cast: the target dtype */
enum { CAST_TO = 0 };

static int cast_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                      duet_type *out)
{
    (void)nin;
    int64_t to = a->i[CAST_TO];
    if (to != DUET_F32 && to != DUET_I32 && to != DUET_BOOL8)
        return duet_fail(c, DUET_ERR_ARG, "target dtype %lld is not f32, i32 or bool (from %s)",
                         (long long)to, duet_dtype_name(in[0]->dtype));
    duet_type_of(in[0], out);
    out->dtype = (duet_dtype)to;
    return 0;
}

/* ---- kernels ---- */

static int greater_kernel(duet_ctx *c, const duet_attrs *at, duet_tensor *const *in, int nin,
                          duet_tensor *out)
{
    (void)c, (void)at, (void)nin;
    if (in[0]->dtype == DUET_F32)
        BINARY_WALK(uint8_t, float, float, a > b);
    else
        BINARY_WALK(uint8_t, int32_t, int32_t, a > b);
    return 0;
}

static int equal_kernel(duet_ctx *c, const duet_attrs *at, duet_tensor *const *in, int nin,
                        duet_tensor *out)
{
    (void)c, (void)at, (void)nin;
    switch (in[0]->dtype) {
    case DUET_F32: BINARY_WALK(uint8_t, float, float, a == b); break;
    case DUET_I32: BINARY_WALK(uint8_t, int32_t, int32_t, a == b); break;
    case DUET_BOOL8: BINARY_WALK(uint8_t, uint8_t, uint8_t, (a != 0) == (b != 0)); break;
    }
    return 0;
}

static int logical_and_kernel(duet_ctx *c, const duet_attrs *at, duet_tensor *const *in, int nin,
                              duet_tensor *out)
{
    (void)c, (void)at, (void)nin;
    BINARY_WALK(uint8_t, uint8_t, uint8_t, a && b);
    return 0;
}

static int logical_not_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                              duet_tensor *out)
{
    (void)c, (void)a, (void)nin;
    const uint8_t *x = in[0]->data;
    uint8_t *o = out->data;
    int64_t n = duet_numel(out);
    for (int64_t i = 0; i < n; i++) o[i] = !x[i];
    return 0;
}

#define WHERE_WALK(T)                                                                        \
    do {                                                                                     \
        bwalk w_;                                                                            \
        bwalk_init(&w_, out, in, 3);                                                         \
        const uint8_t *pc_ = in[0]->data;                                                    \
        const T *pa_ = in[1]->data, *pb_ = in[2]->data;                                      \
        T *po_ = out->data;                                                                  \
        int64_t sc_ = w_.s[0], sa_ = w_.s[1], sb_ = w_.s[2], len_ = w_.len;                  \
        for (int64_t r_ = 0; r_ < w_.rows; r_++, duet_bcast_iter_next(&w_.it)) {             \
            const uint8_t *xc_ = pc_ + w_.it.off[0];                                         \
            const T *xa_ = pa_ + w_.it.off[1], *xb_ = pb_ + w_.it.off[2];                    \
            T *o_ = po_ + r_ * len_;                                                         \
            if (sc_ == 1 && sa_ == 1 && sb_ == 1)                                            \
                for (int64_t i_ = 0; i_ < len_; i_++) o_[i_] = xc_[i_] ? xa_[i_] : xb_[i_];  \
            else                                                                             \
                for (int64_t i_ = 0; i_ < len_; i_++)                                        \
                    o_[i_] = xc_[i_ * sc_] ? xa_[i_ * sa_] : xb_[i_ * sb_];                  \
        }                                                                                    \
    } while (0)

static int where_kernel(duet_ctx *c, const duet_attrs *at, duet_tensor *const *in, int nin,
                        duet_tensor *out)
{
    (void)c, (void)at, (void)nin;
    switch (out->dtype) {
    case DUET_F32: WHERE_WALK(float); break;
    case DUET_I32: WHERE_WALK(int32_t); break;
    case DUET_BOOL8: WHERE_WALK(uint8_t); break;
    }
    return 0;
}

/* f32 -> i32 truncates toward zero like tf.cast; NaN becomes 0 and values outside
 * the i32 range saturate (a plain C conversion would be undefined behaviour). */
static int32_t f32_to_i32(float v)
{
    if (v != v) return 0;
    if (v >= 2147483648.0f) return INT32_MAX;
    if (v <= -2147483648.0f) return INT32_MIN;
    return (int32_t)v;
}

static int cast_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                       duet_tensor *out)
{
    (void)c, (void)a, (void)nin;
    int64_t n = duet_numel(out);
    duet_dtype from = in[0]->dtype, to = out->dtype;
    if (from == to) {
        if (n) memcpy(out->data, in[0]->data, (size_t)n * duet_dtype_size(to));
        return 0;
    }
    const float *xf = in[0]->data;
    const int32_t *xi = in[0]->data;
    const uint8_t *xb = in[0]->data;
    float *of = out->data;
    int32_t *oi = out->data;
    uint8_t *ob = out->data;
    if (from == DUET_F32 && to == DUET_I32)
        for (int64_t i = 0; i < n; i++) oi[i] = f32_to_i32(xf[i]);
    else if (from == DUET_F32) /* -> bool; NaN != 0 is true, as in NumPy */
        for (int64_t i = 0; i < n; i++) ob[i] = xf[i] != 0.0f;
    else if (from == DUET_I32 && to == DUET_F32)
        for (int64_t i = 0; i < n; i++) of[i] = (float)xi[i];
    else if (from == DUET_I32)
        for (int64_t i = 0; i < n; i++) ob[i] = xi[i] != 0;
    else if (to == DUET_F32)
        for (int64_t i = 0; i < n; i++) of[i] = xb[i] ? 1.0f : 0.0f;
    else
        for (int64_t i = 0; i < n; i++) oi[i] = xb[i] ? 1 : 0;
    return 0;
}

/* ---- gradients ---- */

static void where_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                      const bool *need)
{
    if (n->out->dtype != DUET_F32) return; /* only f32 branches carry gradients */
    duet_tensor *cond = n->in[0];
    duet_tensor *zero = duet_scalar(c, 0.0f);
    if (need[1]) gx[1] = duet_unbroadcast(c, duet_where(c, cond, gy, zero), n->in[1]);
    if (need[2]) gx[2] = duet_unbroadcast(c, duet_where(c, cond, zero, gy), n->in[2]);
}

static void cast_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                     const bool *need)
{
    (void)c;
    if (need[0] && n->in[0]->dtype == DUET_F32 && n->out->dtype == DUET_F32) gx[0] = gy;
}

/* ---- op table entries and the public API ---- */

const duet_op_def duet_opdef_greater = {
    .name = "greater", .nin = 2, .infer = greater_infer, .kernel = greater_kernel};
const duet_op_def duet_opdef_equal = {
    .name = "equal", .nin = 2, .infer = equal_infer, .kernel = equal_kernel};
const duet_op_def duet_opdef_logical_and = {
    .name = "logical_and", .nin = 2, .infer = logical_and_infer, .kernel = logical_and_kernel};
const duet_op_def duet_opdef_logical_not = {
    .name = "logical_not", .nin = 1, .infer = logical_not_infer, .kernel = logical_not_kernel};
const duet_op_def duet_opdef_where = {
    .name = "where", .nin = 3, .infer = where_infer, .kernel = where_kernel, .vjp = where_vjp};
static void cast_attr_text(const duet_attrs *a, duet_text *t)
{
    duet_text_put(t, " to=%s", duet_dtype_name((duet_dtype)a->i[CAST_TO]));
}
const duet_op_def duet_opdef_cast = {.name = "cast",
                                     .nin = 1,
                                     .infer = cast_infer,
                                     .kernel = cast_kernel,
                                     .vjp = cast_vjp,
                                     .attr_text = cast_attr_text};

duet_tensor *duet_greater_at(duet_site s, duet_ctx *c, duet_tensor *a, duet_tensor *b)
{
    duet_attrs at = {0};
    return duet_apply(c, s, DUET_OP_GREATER, (duet_tensor *[]){a, b}, 2, &at);
}

duet_tensor *duet_equal_at(duet_site s, duet_ctx *c, duet_tensor *a, duet_tensor *b)
{
    duet_attrs at = {0};
    return duet_apply(c, s, DUET_OP_EQUAL, (duet_tensor *[]){a, b}, 2, &at);
}

duet_tensor *duet_logical_and_at(duet_site s, duet_ctx *c, duet_tensor *a, duet_tensor *b)
{
    duet_attrs at = {0};
    return duet_apply(c, s, DUET_OP_LOGICAL_AND, (duet_tensor *[]){a, b}, 2, &at);
}

duet_tensor *duet_logical_not_at(duet_site s, duet_ctx *c, duet_tensor *x)
{
    duet_attrs at = {0};
    return duet_apply(c, s, DUET_OP_LOGICAL_NOT, &x, 1, &at);
}

duet_tensor *duet_where_at(duet_site s, duet_ctx *c, duet_tensor *cond, duet_tensor *a,
                           duet_tensor *b)
{
    duet_attrs at = {0};
    return duet_apply(c, s, DUET_OP_WHERE, (duet_tensor *[]){cond, a, b}, 3, &at);
}

duet_tensor *duet_cast_at(duet_site s, duet_ctx *c, duet_tensor *x, duet_dtype to)
{
    duet_attrs at = {0};
    at.i[CAST_TO] = (int64_t)to;
    return duet_apply(c, s, DUET_OP_CAST, &x, 1, &at);
}
