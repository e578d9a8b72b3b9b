/* Host reads of tensor values: DUET_BOOL, DUET_ITEM, DUET_DIM. This is where the
 * graph-vs-eager bug class lives: eagerly the value exists, while tracing it does
 * not, and what happens then is the function's policy. */
#include <stdlib.h>

#include "graph_internal.h"

static double scalar_value(const duet_tensor *t)
{
    return duet_get_f32(t, 0);
}

/* ---- guard op: checks at run time that a baked-in value still holds ---- */
static int guard_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                       duet_type *out)
{
    (void)c, (void)a, (void)in, (void)nin;
    out->dtype = DUET_BOOL8;
    out->rank = 0;
    return 0;
}

static int guard_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                        duet_tensor *out)
{
    (void)nin;
    double v = scalar_value(in[0]);
    bool ok = a->i[0] == DUET_READ_BOOL ? (v != 0) == (a->f[0] != 0) : (float)v == a->f[0];
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
static void value_text(duet_read_kind k, double v, char *buf, size_t n)
{
    if (k == DUET_READ_BOOL)
        snprintf(buf, n, "%s", v != 0 ? "true" : "false");
    else
        snprintf(buf, n, "%g", v);
}

void duet_guard_reason(const duet_node *g, char *buf, size_t n)
{
    char seen[32];
    value_text((duet_read_kind)g->attr.i[0], g->attr.f[0], seen, sizeof seen);
    snprintf(buf, n, "guard failed at %s:%d in %s: %s was %s at trace time and differs now",
             g->site.file, g->site.line, g->scope && g->scope[0] ? g->scope : "the top level",
             duet_read_name[g->attr.i[0]], seen);
}

/* ---- lint ---- */
void duet_ctx_set_lint(duet_ctx *ctx, bool on) { ctx->lint = on; }
int duet_lint_count(const duet_ctx *ctx) { return ctx->nlints; }
const duet_lint *duet_lint_at(const duet_ctx *ctx, int i)
{
    return i >= 0 && i < ctx->nlints ? &ctx->lints[i] : NULL;
}

static void lint_record(duet_ctx *ctx, duet_site s, duet_read_kind k, const duet_tensor *t)
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
    l->what = duet_read_name[k];
    l->file = s.file;
    l->line = s.line;
    snprintf(l->scope, sizeof l->scope, "%s", duet_scope_path(ctx)); /* outlives resets */
    duet_shape_str(duet_host_read_shown(t), l->shape, sizeof l->shape);
}

/* ---- the reads ---- */

/* Value of t for a host read, or NAN with the error set. In a trace, the policy
 * decides: strict stops, specialize and guard use the example value. */
static double host_read(duet_site s, duet_ctx *ctx, duet_tensor *t, duet_read_kind k)
{
    if (ctx->err.code || duet_is_poison(t)) return 0;
    ctx->cur_site = s;
    ctx->cur_op = DUET_OP_COUNT;
    if (ctx->mode == DUET_MODE_TRACE && !t->data) { /* symbolic: strict tracing */
        duet_host_read_fail(ctx, s, k, t, 0);
        return 0;
    }
    if (duet_numel(t) != 1) {
        char shape[96];
        duet_fail(ctx, DUET_ERR_ARG,
                  "%s needs a tensor with one element, got shape %s (use duet_any or a "
                  "reduction first)",
                  duet_read_name[k], duet_shape_str(t, shape, sizeof shape));
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
                 duet_read_name[k], s.file, s.line, duet_scope_path(ctx), seen);
    return v;
}

bool duet_bool_at(duet_site s, duet_ctx *ctx, duet_tensor *t)
{
    return host_read(s, ctx, t, DUET_READ_BOOL) != 0;
}

double duet_item_at(duet_site s, duet_ctx *ctx, duet_tensor *t)
{
    return host_read(s, ctx, t, DUET_READ_ITEM);
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
        duet_host_read_fail(ctx, s, DUET_READ_DIM, t, i);
        return 0;
    }
    if (ctx->mode == DUET_MODE_EAGER) lint_record(ctx, s, DUET_READ_DIM, t);
    return t->shape[i];
}
