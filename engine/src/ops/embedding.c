/* Embedding: gather (table rows by id) and its adjoint scatter_add (rows summed
 * into a zero table; duplicate ids accumulate). Each is the other's gradient. */
#include "../internal.h"

/* Product of shape[from:], concrete. */
static int64_t tail_numel(const duet_tensor *t, int from)
{
    int64_t n = 1;
    for (int i = from; i < t->rank; i++) n *= t->shape[i];
    return n;
}

/* Checks every id, on the calling thread before any task runs: tasks cannot report
 * errors, and the first bad id is the one named. */
static int check_ids(duet_ctx *c, const int32_t *ids, int64_t n, int64_t rows)
{
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= rows)
            return duet_fail(c, DUET_ERR_INDEX, "id %d at position %lld is out of range [0, %lld)",
                             (int)ids[i], (long long)i, (long long)rows);
    return 0;
}

/* gather's and scatter_add's tasks */
typedef struct embed_job {
    const int32_t *ids;
    int64_t n;   /* ids */
    int64_t row; /* floats per table row */
    const float *src;
    float *dst;
    int64_t rows, per; /* scatter_add: the table's rows, and rows per task */
} embed_job;

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

/* ids [begin, end): each output row a copy of its table row */
static void gather_run(void *arg, int64_t begin, int64_t end)
{
    const embed_job *j = arg;
    size_t bytes = sizeof(float) * (size_t)j->row;
    for (int64_t i = begin; i < end; i++)
        memcpy(j->dst + i * j->row, j->src + (int64_t)j->ids[i] * j->row, bytes);
}

static int gather_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                         duet_tensor *out)
{
    (void)a, (void)nin;
    const duet_tensor *t = in[0];
    embed_job j = {.ids = in[1]->data, .n = duet_numel(in[1]), .row = tail_numel(t, 1),
                   .src = t->data, .dst = out->data};
    if (check_ids(c, j.ids, j.n, t->shape[0])) return -1;
    if (j.row) duet_parallel_range(c, j.n, DUET_WORK_ELEM * (double)j.row, 1, gather_run, &j);
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
    for (int i = 0; ok && i < ids->rank; i++) ok = duet_dims_may_match(up->shape[i], ids->shape[i]);
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

/* Output rows are split among tasks; each task scans all the ids for its own rows, so
 * a row still sums its updates in id order whatever the split. Scanning costs each
 * task the ids, so a table is cut into at most this many tasks. */
#define SCATTER_MAX_TASKS 16

/* Output rows [t per, (t + 1) per) (the last task's end at the table's): zeroed, then
 * each update whose id lands there added, in id order. */
static void scatter_add_task(void *arg, int64_t t)
{
    const embed_job *j = arg;
    int64_t lo = t * j->per, hi = lo + j->per < j->rows ? lo + j->per : j->rows;
    memset(j->dst + lo * j->row, 0, sizeof(float) * (size_t)((hi - lo) * j->row));
    for (int64_t i = 0; i < j->n; i++) {
        if (j->ids[i] < lo || j->ids[i] >= hi) continue;
        float *dst = j->dst + (int64_t)j->ids[i] * j->row;
        const float *src = j->src + i * j->row;
        for (int64_t k = 0; k < j->row; k++) dst[k] += src[k];
    }
}

static int scatter_add_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                              duet_tensor *out)
{
    (void)a, (void)nin;
    embed_job j = {.ids = in[0]->data, .n = duet_numel(in[0]), .row = tail_numel(out, 1),
                   .src = in[1]->data, .dst = out->data, .rows = out->shape[0]};
    if (check_ids(c, j.ids, j.n, j.rows)) return -1;
    if (j.rows == 0 || j.row == 0) return 0;
    j.per = duet_task_items(DUET_WORK_ELEM * (double)j.row, 1);
    int64_t least = (j.rows + SCATTER_MAX_TASKS - 1) / SCATTER_MAX_TASKS;
    if (j.per < least) j.per = least;
    /* zeroing the table, then one add per update element */
    double work = DUET_WORK_ELEM * (double)(j.rows + j.n) * (double)j.row;
    duet_parallel_for(c, (j.rows + j.per - 1) / j.per, work, scatter_add_task, &j);
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
