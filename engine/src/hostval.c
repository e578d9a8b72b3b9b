/* Host reads of tensor values: DUET_BOOL, DUET_ITEM, DUET_DIM. This is where the
 * graph-vs-eager bug class lives: eagerly the value exists, while tracing it does
 * not, and what happens then is the function's policy. */
#include <stdlib.h>

#include "graph_internal.h"

typedef enum { READ_BOOL, READ_ITEM, READ_DIM } read_kind;
static const char *const read_name[] = {"DUET_BOOL", "DUET_ITEM", "DUET_DIM"};

static double scalar_value(const duet_tensor *t)
{
    return duet_get_f32(t, 0);
}

/* The shape worth showing: a scalar made by a reduction is shown by the shape of
 * what was reduced, since that is the tensor the model code branched on. */
static const duet_tensor *shown_tensor(const duet_tensor *t)
{
    while (t->rank == 0 && t->node && t->node->nin > 0) t = t->node->in[0];
    return t;
}

static const char *const explanation =
    "While tracing, tensors are symbolic: their values exist only when the compiled graph "
    "runs, so C code cannot branch on them. Eager mode answered this read from concrete "
    "data; graph mode cannot. Baking in the answer seen once (as torch.jit.trace does) would "
    "silently compute the wrong thing for inputs that take the other branch.";

static void fix_text(read_kind k, char *buf, size_t n)
{
    switch (k) {
    case READ_BOOL:
        snprintf(buf, n,
                 "compute both outcomes and select with duet_where(ctx, cond, a, b); for a "
                 "mask: scores = duet_where(ctx, mask, scores, duet_full_like(ctx, scores, "
                 "-1e9f)). Use duet_cond for branches that compute different things.");
        return;
    case READ_ITEM:
        snprintf(buf, n, "keep the value a tensor and continue with ops (duet_where for "
                         "choices), or return it from the function and read it after the call.");
        return;
    case READ_DIM:
        snprintf(buf, n, "pass t->shape[i] (a symbolic dim) straight to ops such as "
                         "duet_reshape, duet_full and duet_arange instead of a C integer, or "
                         "relax fewer dims in the function's signature.");
        return;
    }
}

static void strict_diag(duet_ctx *ctx, duet_site s, read_kind k, const duet_tensor *t, int dim)
{
    const duet_tensor *shown = shown_tensor(t);
    const char *cls = duet_scope_layer_class(ctx);
    char shape[128], head[160] = "";
    duet_shape_str(shown, shape, sizeof shape);
    if (cls) snprintf(head, sizeof head, "Exception encountered when calling %s.call: ", cls);
    ctx->cur_site = s;
    ctx->cur_op = DUET_OP_COUNT;
    if (k == READ_DIM)
        duet_fail(ctx, DUET_ERR_HOST_BRANCH,
                  "%sUsing a symbolic dim as a C integer is not allowed: %s(t, %d) of a tensor "
                  "of shape %s",
                  head, read_name[k], dim, shape);
    else
        duet_fail(ctx, DUET_ERR_HOST_BRANCH,
                  "%sUsing a symbolic tensor as a C %s is not allowed: %s of %s (shape %s)", head,
                  k == READ_BOOL ? "bool" : "number", read_name[k],
                  t->node ? duet_op_table[t->node->op]->name : "a tensor", shape);
    duet_diag *d = &ctx->err;
    snprintf(d->op, sizeof d->op, "%s", read_name[k]);
    snprintf(d->shape, sizeof d->shape, "%s", shape);
    snprintf(d->producer, sizeof d->producer, "%s",
             t->node ? duet_op_table[t->node->op]->name : "");
    snprintf(d->explanation, sizeof d->explanation, "%s", explanation);
    fix_text(k, d->fix, sizeof d->fix);
}

/* ---- guard op: checks at run time that a baked-in value still holds ---- */
static int guard_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                       duet_type *out)
{
    (void)c, (void)a, (void)in, (void)nin;
    out->dtype = DUET_BOOL;
    out->rank = 0;
    return 0;
}

static int guard_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                        duet_tensor *out)
{
    (void)nin;
    double v = scalar_value(in[0]);
    bool ok = a->i[0] == READ_BOOL ? (v != 0) == (a->f[0] != 0) : (float)v == a->f[0];
    *(uint8_t *)out->data = ok;
    if (!ok) c->guard_failed = c->exec_node;
    return 0;
}

const duet_op_def duet_opdef_guard = {.name = "guard",
                                      .nin = 1,
                                      .flags = DUET_OPF_EFFECT,
                                      .infer = guard_infer,
                                      .kernel = guard_kernel};

/* A baked-in value as the warnings and retrace reasons show it. */
static void value_text(read_kind k, double v, char *buf, size_t n)
{
    if (k == READ_BOOL)
        snprintf(buf, n, "%s", v != 0 ? "true" : "false");
    else
        snprintf(buf, n, "%g", v);
}

void duet_guard_reason(const duet_node *g, char *buf, size_t n)
{
    char seen[32];
    value_text((read_kind)g->attr.i[0], g->attr.f[0], seen, sizeof seen);
    snprintf(buf, n, "guard failed at %s:%d in %s: %s was %s at trace time and differs now",
             g->site.file, g->site.line, g->scope && g->scope[0] ? g->scope : "the top level",
             read_name[g->attr.i[0]], seen);
}

/* ---- lint ---- */
void duet_ctx_set_lint(duet_ctx *ctx, bool on) { ctx->lint = on; }
int duet_lint_count(const duet_ctx *ctx) { return ctx->nlints; }
const duet_lint *duet_lint_at(const duet_ctx *ctx, int i)
{
    return i >= 0 && i < ctx->nlints ? &ctx->lints[i] : NULL;
}

static void lint_record(duet_ctx *ctx, duet_site s, read_kind k, const duet_tensor *t)
{
    if (!ctx->lint || !ctx->cur_fn || !(t->flags & DUET_TENSOR_TAINT)) return;
    if (ctx->nlints == ctx->cap_lints) {
        int cap = ctx->cap_lints ? 2 * ctx->cap_lints : 16;
        duet_lint *l = realloc(ctx->lints, sizeof *l * (size_t)cap);
        if (!l) return;
        ctx->lints = l;
        ctx->cap_lints = cap;
    }
    duet_lint *l = &ctx->lints[ctx->nlints++];
    l->what = read_name[k];
    l->file = s.file;
    l->line = s.line;
    snprintf(l->scope, sizeof l->scope, "%s", duet_scope_path(ctx)); /* outlives resets */
    duet_shape_str(shown_tensor(t), l->shape, sizeof l->shape);
}

/* ---- the reads ---- */

/* Value of t for a host read, or NAN with the error set. In a trace, the policy
 * decides: strict stops, specialize and guard use the example value. */
static double host_read(duet_site s, duet_ctx *ctx, duet_tensor *t, read_kind k)
{
    if (ctx->err.code || duet_is_poison(t)) return 0;
    ctx->cur_site = s;
    ctx->cur_op = DUET_OP_COUNT;
    if (ctx->mode == DUET_MODE_TRACE && !t->data) { /* symbolic: strict tracing */
        strict_diag(ctx, s, k, t, 0);
        return 0;
    }
    if (duet_numel(t) != 1) {
        char shape[96];
        duet_fail(ctx, DUET_ERR_ARG,
                  "%s needs a tensor with one element, got shape %s (use duet_any or a "
                  "reduction first)",
                  read_name[k], duet_shape_str(t, shape, sizeof shape));
        return 0;
    }
    if (ctx->mode == DUET_MODE_EAGER) {
        lint_record(ctx, s, k, t);
        return scalar_value(t);
    }
    /* a constant, or a trace with example values (specialize, guard) */
    duet_fn *fn = ctx->cur_fn;
    double v = scalar_value(t);
    if ((t->node && t->node->op == DUET_OP_CONST) || !fn) return v;
    if (fn->policy == DUET_POLICY_GUARD) {
        duet_attrs a = {0};
        a.i[0] = k;
        a.f[0] = (float)v;
        duet_apply(ctx, s, DUET_OP_GUARD, &t, 1, &a);
        return v;
    }
    char seen[32];
    value_text(k, v, seen, sizeof seen);
    duet_fn_warn(fn, "specialize: %s at %s:%d in %s was baked into the graph as %s; inputs that "
                     "take the other branch will get a wrong result",
                 read_name[k], s.file, s.line, duet_scope_path(ctx), seen);
    return v;
}

bool duet_bool_at(duet_site s, duet_ctx *ctx, duet_tensor *t)
{
    return host_read(s, ctx, t, READ_BOOL) != 0;
}

double duet_item_at(duet_site s, duet_ctx *ctx, duet_tensor *t)
{
    return host_read(s, ctx, t, READ_ITEM);
}

int64_t duet_dim_at(duet_site s, duet_ctx *ctx, duet_tensor *t, int i)
{
    if (ctx->err.code || duet_is_poison(t)) return 0;
    ctx->cur_site = s;
    ctx->cur_op = DUET_OP_COUNT;
    if (i < 0 || i >= t->rank) {
        duet_fail(ctx, DUET_ERR_AXIS, "DUET_DIM: dim %d is out of range for rank %d", i, t->rank);
        return 0;
    }
    if (DUET_DIM_IS_SYM(t->shape[i])) {
        strict_diag(ctx, s, READ_DIM, t, i);
        return 0;
    }
    if (ctx->mode == DUET_MODE_EAGER) lint_record(ctx, s, READ_DIM, t);
    return t->shape[i];
}
