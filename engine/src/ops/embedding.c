/* Embedding: gather (table rows by id) and its adjoint scatter_add (rows summed
 * into a zero table; duplicate ids accumulate). Each is the other's gradient. */
#include "../internal.h"

static bool dim_eq(int64_t a, int64_t b)
{
    return a == b || DUET_DIM_IS_SYM(a) || DUET_DIM_IS_SYM(b);
}

/* Product of shape[from:], concrete. */
static int64_t tail_numel(const duet_tensor *t, int from)
{
    int64_t n = 1;
    for (int i = from; i < t->rank; i++) n *= t->shape[i];
    return n;
}

static int check_id(duet_ctx *c, int32_t id, int64_t pos, int64_t rows)
{
    if (id >= 0 && id < rows) return 0;
    return duet_fail(c, DUET_ERR_INDEX, "id %d at position %lld is out of range [0, %lld)", (int)id,
                     (long long)pos, (long long)rows);
}

/* ---- gather: table (V, D...) f32, ids (...) i32 -> ids.shape + table.shape[1:] ---- */

static int gather_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                        duet_type *out)
{
    (void)a, (void)nin;
    const duet_tensor *t = in[0], *ids = in[1];
    char st[96], si[96];
    if (t->dtype != DUET_F32 || ids->dtype != DUET_I32)
        return duet_fail(c, DUET_ERR_DTYPE, "table is %s and ids %s; need an f32 table and i32 ids",
                         duet_dtype_name(t->dtype), duet_dtype_name(ids->dtype));
    if (t->rank < 1)
        return duet_fail(c, DUET_ERR_SHAPE, "table is a scalar; need (V, ...)");
    if (ids->rank + t->rank - 1 > DUET_MAX_RANK)
        return duet_fail(c, DUET_ERR_SHAPE, "ids %s and table %s: the output would exceed rank %d",
                         duet_shape_str(ids, si, sizeof si), duet_shape_str(t, st, sizeof st),
                         DUET_MAX_RANK);
    out->dtype = DUET_F32;
    out->rank = ids->rank + t->rank - 1;
    for (int i = 0; i < ids->rank; i++) out->shape[i] = ids->shape[i];
    for (int i = 1; i < t->rank; i++) out->shape[ids->rank + i - 1] = t->shape[i];
    return 0;
}

static int gather_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                         duet_tensor *out)
{
    (void)a, (void)nin;
    const duet_tensor *t = in[0];
    const float *tab = t->data;
    const int32_t *ids = in[1]->data;
    float *o = out->data;
    int64_t v = t->shape[0], row = tail_numel(t, 1), n = duet_numel(in[1]);
    for (int64_t i = 0; i < n; i++) {
        if (check_id(c, ids[i], i, v)) return -1;
        if (row) memcpy(o + i * row, tab + (int64_t)ids[i] * row, sizeof(float) * (size_t)row);
    }
    return 0;
}

/* d table = scatter_add(ids, gy, V); ids get no gradient. */
static void gather_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                       const bool *need)
{
    if (need[0]) gx[0] = duet_scatter_add(c, n->in[1], gy, n->in[0]->shape[0]);
}

const duet_op_def duet_opdef_gather = {.name = "gather",
                                       .nin = 2,
                                       .infer = gather_infer,
                                       .kernel = gather_kernel,
                                       .vjp = gather_vjp};

duet_tensor *duet_gather_at(duet_site s, duet_ctx *c, duet_tensor *table, duet_tensor *ids)
{
    duet_attrs a = {0};
    return duet_apply(c, s, DUET_OP_GATHER, (duet_tensor *[]){table, ids}, 2, &a);
}

/* ---- scatter_add: ids (...) i32, updates ids.shape + R f32 -> (rows,) + R;
 * attribute: the output's rows (may be a symbol) ---- */

enum { SCATTER_ROWS = 0 };

static int scatter_add_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                             duet_type *out)
{
    (void)nin;
    const duet_tensor *ids = in[0], *up = in[1];
    char si[96], su[96];
    if (ids->dtype != DUET_I32 || up->dtype != DUET_F32)
        return duet_fail(c, DUET_ERR_DTYPE,
                         "ids are %s and updates %s; need i32 ids and f32 updates",
                         duet_dtype_name(ids->dtype), duet_dtype_name(up->dtype));
    int64_t rows = duet_dim_resolve(c, a->i[SCATTER_ROWS]);
    if (rows < 0 && (!DUET_DIM_IS_SYM(rows) || c->mode != DUET_MODE_TRACE))
        return duet_fail(c, DUET_ERR_ARG, "rows is %lld; must be >= 0", (long long)rows);
    bool ok = up->rank >= ids->rank;
    for (int i = 0; ok && i < ids->rank; i++) ok = dim_eq(up->shape[i], ids->shape[i]);
    if (!ok)
        return duet_fail(c, DUET_ERR_SHAPE, "updates %s must start with the ids' shape %s",
                         duet_shape_str(up, su, sizeof su), duet_shape_str(ids, si, sizeof si));
    if (1 + up->rank - ids->rank > DUET_MAX_RANK)
        return duet_fail(c, DUET_ERR_SHAPE, "updates %s: the output would exceed rank %d",
                         duet_shape_str(up, su, sizeof su), DUET_MAX_RANK);
    out->dtype = DUET_F32;
    out->rank = 1 + up->rank - ids->rank;
    out->shape[0] = rows;
    for (int i = ids->rank; i < up->rank; i++) out->shape[1 + i - ids->rank] = up->shape[i];
    return 0;
}

static int scatter_add_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                              duet_tensor *out)
{
    (void)a, (void)nin;
    const int32_t *ids = in[0]->data;
    const float *up = in[1]->data;
    float *o = out->data;
    int64_t rows = out->shape[0], row = tail_numel(out, 1), n = duet_numel(in[0]);
    int64_t total = duet_numel(out);
    if (total) memset(o, 0, sizeof(float) * (size_t)total);
    for (int64_t i = 0; i < n; i++) {
        if (check_id(c, ids[i], i, rows)) return -1;
        if (!row) continue;
        float *dst = o + (int64_t)ids[i] * row;
        const float *src = up + i * row;
        for (int64_t k = 0; k < row; k++) dst[k] += src[k];
    }
    return 0;
}

/* d updates = gather(gy, ids); ids get no gradient. */
static void scatter_add_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                            const bool *need)
{
    if (need[1]) gx[1] = duet_gather(c, gy, n->in[0]);
}

static void scatter_add_attr_text(const duet_attrs *a, duet_text *t)
{
    duet_text_dim(t, "rows", a->i[SCATTER_ROWS]);
}

const duet_op_def duet_opdef_scatter_add = {.name = "scatter_add",
                                            .nin = 2,
                                            .infer = scatter_add_infer,
                                            .kernel = scatter_add_kernel,
                                            .vjp = scatter_add_vjp,
                                            .attr_text = scatter_add_attr_text};

duet_tensor *duet_scatter_add_at(duet_site s, duet_ctx *c, duet_tensor *ids, duet_tensor *updates,
                                 int64_t rows)
{
    duet_attrs a = {0};
    a.i[SCATTER_ROWS] = rows;
    return duet_apply(c, s, DUET_OP_SCATTER_ADD, (duet_tensor *[]){ids, updates}, 2, &a);
}
