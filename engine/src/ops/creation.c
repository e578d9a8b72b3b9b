/* Creation and state ops: constants, fills, arange, placeholders (graph inputs),
 * variable reads and assigns. None has a gradient except var_read, which autodiff
 * treats as a leaf. */
#include "../internal.h"

static int check_rank(duet_ctx *c, int rank)
{
    if (rank < 0 || rank > DUET_MAX_RANK)
        return duet_fail(c, DUET_ERR_ARG, "rank %d is out of range 0..%d", rank, DUET_MAX_RANK);
    return 0;
}

/* Attribute slots of the ops whose output type is an attribute (constant, full,
 * placeholder): its dtype, rank and dims; then a placeholder's argument index. */
enum { TYPE_DTYPE = 0, TYPE_RANK = 1, TYPE_SHAPE = 2, PLACEHOLDER_INDEX = TYPE_SHAPE + DUET_MAX_RANK };
/* arange: its length (a symbol when it came from a symbolic dim) */
enum { ARANGE_N = 0 };
/* full: the value (a float slot) */
enum { FULL_VALUE = 0 };

void duet_attrs_set_type(duet_attrs *a, duet_dtype dt, int rank, const int64_t *shape)
{
    a->i[TYPE_DTYPE] = dt;
    a->i[TYPE_RANK] = rank;
    for (int i = 0; i < rank; i++) a->i[TYPE_SHAPE + i] = shape[i];
}

static int infer_from_attrs(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                            duet_type *out)
{
    (void)in, (void)nin;
    out->dtype = (duet_dtype)a->i[TYPE_DTYPE];
    out->rank = (int)a->i[TYPE_RANK];
    if (check_rank(c, out->rank)) return -1;
    for (int i = 0; i < out->rank; i++) {
        int64_t d = duet_dim_resolve(c, a->i[TYPE_SHAPE + i]);
        if (d < 0 && !DUET_DIM_IS_SYM(d))
            return duet_fail(c, DUET_ERR_ARG, "dim %d is %lld; dims must be >= 0", i, (long long)d);
        out->shape[i] = d;
    }
    return 0;
}

/* ---- constant: attr p holds the value (copied into the graph's arena) ---- */
static int constant_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                           duet_tensor *out)
{
    (void)c, (void)in, (void)nin;
    memcpy(out->data, a->p, (size_t)duet_numel(out) * duet_dtype_size(out->dtype));
    return 0;
}
/* The value itself, whole when short: a baked host value reads as the number it is. */
#define CONSTANT_SHOWN 4
static void constant_attr_text(const duet_attrs *a, duet_text *t)
{
    duet_tensor v = {.dtype = (duet_dtype)a->i[TYPE_DTYPE], .rank = (int)a->i[TYPE_RANK],
                     .data = a->p};
    memcpy(v.shape, a->i + TYPE_SHAPE, sizeof(int64_t) * (size_t)v.rank);
    int64_t n = duet_numel(&v);
    duet_text_put(t, " value=%s", v.rank ? "[" : "");
    for (int64_t i = 0; i < n && i < CONSTANT_SHOWN; i++)
        duet_text_put(t, "%s%g", i ? ", " : "", (double)duet_get_f32(&v, i));
    if (v.rank) duet_text_put(t, "%s]", n > CONSTANT_SHOWN ? ", ..." : "");
}
const duet_op_def duet_opdef_constant = {.name = "constant",
                                         .nin = 0,
                                         .infer = infer_from_attrs,
                                         .kernel = constant_kernel,
                                         .attr_text = constant_attr_text};

duet_tensor *duet_constant_at(duet_site s, duet_ctx *c, duet_dtype dt, int rank,
                              const int64_t *shape, const void *data)
{
    if (c->err.code) return &c->poison;
    c->cur_op = DUET_OP_CONST, c->cur_site = s;
    if (check_rank(c, rank)) return &c->poison;
    duet_attrs a = {0};
    duet_attrs_set_type(&a, dt, rank, shape);
    duet_type ty = {0};
    if (infer_from_attrs(c, &a, NULL, 0, &ty)) return &c->poison;
    size_t bytes;
    if (duet_checked_bytes(c, dt, ty.rank, ty.shape, &bytes)) return &c->poison;
    a.p = duet_alloc_bytes(c, bytes ? bytes : 1);
    if (!a.p) {
        duet_fail(c, DUET_ERR_OOM, "a constant of %zu bytes", bytes);
        return &c->poison;
    }
    if (bytes) memcpy(a.p, data, bytes);
    return duet_apply(c, s, DUET_OP_CONST, NULL, 0, &a);
}

duet_tensor *duet_scalar_at(duet_site s, duet_ctx *c, float v)
{
    return duet_constant_at(s, c, DUET_F32, 0, NULL, &v);
}

duet_tensor *duet_scalar_i32_at(duet_site s, duet_ctx *c, int32_t v)
{
    return duet_constant_at(s, c, DUET_I32, 0, NULL, &v);
}

/* ---- full: the value and the output type; the shape may be symbolic ---- */
static int full_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                       duet_tensor *out)
{
    (void)c, (void)in, (void)nin;
    int64_t n = duet_numel(out);
    float v = a->f[FULL_VALUE];
    if (out->dtype == DUET_F32)
        for (int64_t i = 0; i < n; i++) ((float *)out->data)[i] = v;
    else if (out->dtype == DUET_I32)
        for (int64_t i = 0; i < n; i++) ((int32_t *)out->data)[i] = (int32_t)v;
    else
        memset(out->data, v != 0.0f, (size_t)n);
    return 0;
}
bool duet_node_uniform_f32(const duet_node *n, float *v)
{
    if (n->out->dtype != DUET_F32) return false;
    if (n->op == DUET_OP_FULL) {
        *v = n->attr.f[FULL_VALUE];
        return true;
    }
    int64_t count = duet_numel(n->out);
    if (n->op != DUET_OP_CONST || count < 1) return false;
    const float *x = n->attr.p; /* a folded full is a constant of one value repeated */
    for (int64_t i = 1; i < count; i++)
        if (memcmp(&x[i], &x[0], sizeof *x)) return false;
    *v = x[0];
    return true;
}

static void full_attr_text(const duet_attrs *a, duet_text *t)
{
    duet_text_put(t, " value=%g", (double)a->f[FULL_VALUE]);
}
const duet_op_def duet_opdef_full = {.name = "full",
                                     .nin = 0,
                                     .infer = infer_from_attrs,
                                     .kernel = full_kernel,
                                     .attr_text = full_attr_text};

duet_tensor *duet_full_at(duet_site s, duet_ctx *c, duet_dtype dt, int rank, const int64_t *shape,
                          float v)
{
    if (c->err.code) return &c->poison;
    c->cur_op = DUET_OP_FULL, c->cur_site = s;
    if (check_rank(c, rank)) return &c->poison;
    duet_attrs a = {0};
    duet_attrs_set_type(&a, dt, rank, shape);
    a.f[FULL_VALUE] = v;
    return duet_apply(c, s, DUET_OP_FULL, NULL, 0, &a);
}

duet_tensor *duet_full_like_at(duet_site s, duet_ctx *c, duet_tensor *x, float v)
{
    if (c->err.code || !x) {
        if (!x) duet_ctx_fail(c, DUET_ERR_ARG, "full_like: input is NULL");
        return &c->poison;
    }
    return duet_full_at(s, c, x->dtype, x->rank, x->shape, v);
}

duet_tensor *duet_ones_like(duet_ctx *c, duet_tensor *x) { return duet_full_like(c, x, 1.0f); }

/* ---- arange: i32 [0, n) ---- */
static int arange_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                        duet_type *out)
{
    (void)in, (void)nin;
    int64_t n = duet_dim_resolve(c, a->i[ARANGE_N]);
    if (n < 0 && !DUET_DIM_IS_SYM(n))
        return duet_fail(c, DUET_ERR_ARG, "arange: n is %lld; must be >= 0", (long long)n);
    if (n > INT32_MAX) return duet_fail(c, DUET_ERR_ARG, "arange: n %lld exceeds i32", (long long)n);
    out->dtype = DUET_I32;
    out->rank = 1;
    out->shape[0] = n;
    return 0;
}
static int arange_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                         duet_tensor *out)
{
    (void)c, (void)a, (void)in, (void)nin;
    for (int64_t i = 0; i < out->shape[0]; i++) ((int32_t *)out->data)[i] = (int32_t)i;
    return 0;
}
static void arange_attr_text(const duet_attrs *a, duet_text *t)
{
    duet_text_dim(t, "n", a->i[ARANGE_N]);
}
const duet_op_def duet_opdef_arange = {.name = "arange",
                                       .nin = 0,
                                       .infer = arange_infer,
                                       .kernel = arange_kernel,
                                       .attr_text = arange_attr_text};

duet_tensor *duet_arange_at(duet_site s, duet_ctx *c, int64_t n)
{
    duet_attrs a = {0};
    a.i[ARANGE_N] = n;
    return duet_apply(c, s, DUET_OP_ARANGE, NULL, 0, &a);
}

/* ---- placeholder: a traced function's input; bound by the executor ---- */
/* Never runs: the executor and trace-time evaluation bind placeholders to the call's
 * arguments themselves. */
static int placeholder_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                              duet_tensor *out)
{
    (void)a, (void)in, (void)nin, (void)out;
    return duet_fail(c, DUET_ERR_INTERNAL, "a placeholder has no kernel");
}
static void placeholder_attr_text(const duet_attrs *a, duet_text *t)
{
    duet_text_put(t, " arg=%lld", (long long)a->i[PLACEHOLDER_INDEX]);
}
const duet_op_def duet_opdef_placeholder = {.name = "placeholder",
                                            .nin = 0,
                                            .flags = DUET_OPF_SOURCE | DUET_OPF_ALIAS,
                                            .infer = infer_from_attrs,
                                            .kernel = placeholder_kernel,
                                            .attr_text = placeholder_attr_text};

duet_tensor *duet_placeholder(duet_ctx *c, duet_site s, duet_dtype dt, int rank,
                              const int64_t *shape, int index)
{
    duet_attrs a = {0};
    duet_attrs_set_type(&a, dt, rank, shape);
    a.i[PLACEHOLDER_INDEX] = index;
    return duet_apply(c, s, DUET_OP_PLACEHOLDER, NULL, 0, &a);
}

int duet_placeholder_index(const duet_node *n) { return (int)n->attr.i[PLACEHOLDER_INDEX]; }

/* ---- var_read: aliases the variable's current buffer ---- */
static int var_read_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                          duet_type *out)
{
    (void)c, (void)in, (void)nin;
    duet_type_of(&duet_attrs_var(a)->value, out);
    return 0;
}
static int var_read_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                           duet_tensor *out)
{
    (void)c, (void)in, (void)nin;
    out->data = (void *)duet_var_current(duet_attrs_var(a));
    return 0;
}
static void var_attr_text(const duet_attrs *a, duet_text *t)
{
    duet_text_put(t, " var=%s", duet_attrs_var(a)->name);
}
const duet_op_def duet_opdef_var_read = {.name = "var_read",
                                         .nin = 0,
                                         .flags = DUET_OPF_SOURCE | DUET_OPF_ALIAS,
                                         .infer = var_read_infer,
                                         .kernel = var_read_kernel,
                                         .attr_text = var_attr_text};

duet_tensor *duet_var_read_at(duet_site s, duet_ctx *c, duet_var *v)
{
    if (!v) {
        duet_ctx_fail(c, DUET_ERR_ARG, "var_read: variable is NULL");
        return &c->poison;
    }
    duet_attrs a = {0};
    a.p = v;
    return duet_apply(c, s, DUET_OP_VAR_READ, NULL, 0, &a);
}

/* ---- assign: replaces the variable's buffer; the output aliases the new value ---- */
static int assign_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                        duet_type *out)
{
    (void)nin;
    const duet_var *v = duet_attrs_var(a);
    const duet_tensor *x = in[0];
    if (x->dtype != v->value.dtype)
        return duet_fail(c, DUET_ERR_DTYPE, "cannot assign %s to variable '%s' of %s",
                         duet_dtype_name(x->dtype), v->name, duet_dtype_name(v->value.dtype));
    bool ok = x->rank == v->value.rank;
    for (int i = 0; ok && i < x->rank; i++)
        ok = DUET_DIM_IS_SYM(x->shape[i]) || x->shape[i] == v->value.shape[i];
    if (!ok) {
        char sa[96], sb[96];
        return duet_fail(c, DUET_ERR_SHAPE, "cannot assign %s %s to variable '%s' of %s %s",
                         duet_dtype_name(x->dtype), duet_shape_str(x, sa, sizeof sa), v->name,
                         duet_dtype_name(v->value.dtype), duet_shape_str(&v->value, sb, sizeof sb));
    }
    duet_type_of(&v->value, out);
    return 0;
}
static int assign_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                         duet_tensor *out)
{
    (void)nin;
    duet_var *v = duet_attrs_var(a);
    if (duet_var_stage(c, v, in[0]->data)) return -1;
    out->data = v->staged;
    return 0;
}
const duet_op_def duet_opdef_assign = {.name = "assign",
                                       .nin = 1,
                                       .flags = DUET_OPF_WRITES_VAR | DUET_OPF_ALIAS,
                                       .infer = assign_infer,
                                       .kernel = assign_kernel,
                                       .attr_text = var_attr_text};

duet_tensor *duet_assign_at(duet_site s, duet_ctx *c, duet_var *v, duet_tensor *value)
{
    if (!v) {
        duet_ctx_fail(c, DUET_ERR_ARG, "assign: variable is NULL");
        return &c->poison;
    }
    duet_attrs a = {0};
    a.p = v;
    return duet_apply(c, s, DUET_OP_ASSIGN, &value, 1, &a);
}
