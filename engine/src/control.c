/* Graph-safe control flow. duet_cond evaluates both branches and selects with
 * duet_where, in both modes, so eager and graph results (and gradients) agree bit
 * for bit; this is how jax.lax.cond behaves under vmap. Branches must therefore be
 * pure: a variable assignment or a print inside a branch is a diagnostic (both
 * branches run, so the untaken branch's effect would happen too). */
#include "graph_internal.h"

static int count_effects(duet_ctx *ctx, int from)
{
    const duet_graph *g = duet_cur_graph(ctx);
    int n = 0;
    for (int i = from; i < g->n; i++)
        if (duet_op_table[g->nodes[i]->op]->flags & (DUET_OPF_WRITES_VAR | DUET_OPF_HOST_IO)) n++;
    return n;
}

static int run_branch(duet_site s, duet_ctx *ctx, const char *name, duet_branch_fn f,
                      duet_tensor *const *in, duet_tensor **out, int nout, void *user)
{
    int start = duet_cur_graph(ctx)->n;
    for (int i = 0; i < nout; i++) out[i] = NULL;
    duet_scope_push(ctx, name);
    f(ctx, in, out, user);
    duet_scope_pop(ctx);
    if (ctx->err.code) return -1;
    ctx->cur_site = s; /* the branch's ops moved it */
    if (count_effects(ctx, start))
        return duet_fail_as(ctx, DUET_ERR_TRACE, "cond",
                            "duet_cond: the %s branch changes a variable or prints; branches "
                            "must be pure (assign or print after the cond, selecting the value "
                            "with duet_where)",
                            name);
    return 0;
}

static int branch_mismatch(duet_ctx *ctx, int i, const duet_tensor *a, const duet_tensor *b)
{
    char sa[96], sb[96];
    if (!a || !b)
        return duet_fail_as(ctx, DUET_ERR_TRACE, "cond",
                            "duet_cond: output %d is set by the %s branch only; both branches "
                            "must return the same number of outputs",
                            i, a ? "then" : "else");
    return duet_fail_as(ctx, DUET_ERR_TRACE, "cond",
                        "duet_cond: output %d differs between branches: then gives %s%s, else "
                        "gives %s%s",
                        i, duet_dtype_name(a->dtype), duet_shape_str(a, sa, sizeof sa),
                        duet_dtype_name(b->dtype), duet_shape_str(b, sb, sizeof sb));
}

static bool same_type(const duet_tensor *a, const duet_tensor *b)
{
    return a->dtype == b->dtype && duet_same_shape(a, b);
}

int duet_cond_at(duet_site s, duet_ctx *ctx, duet_tensor *pred, duet_branch_fn then_fn,
                 duet_branch_fn else_fn, duet_tensor *const *in, int nin, duet_tensor **out,
                 int nout, void *user)
{
    (void)nin;
    for (int i = 0; i < nout; i++) out[i] = &ctx->poison;
    if (ctx->err.code) return -1;
    ctx->cur_site = s;
    if (!pred || pred->dtype != DUET_BOOL8 || pred->rank != 0)
        return duet_fail_as(ctx, DUET_ERR_ARG, "cond",
                            "duet_cond: the predicate must be a bool scalar");
    duet_tensor *t[nout ? nout : 1], *e[nout ? nout : 1];
    if (run_branch(s, ctx, "cond_then", then_fn, in, t, nout, user) ||
        run_branch(s, ctx, "cond_else", else_fn, in, e, nout, user))
        return -1;
    for (int i = 0; i < nout; i++)
        if (!t[i] || !e[i] || !same_type(t[i], e[i])) return branch_mismatch(ctx, i, t[i], e[i]);
    for (int i = 0; i < nout; i++) out[i] = duet_where_at(s, ctx, pred, t[i], e[i]);
    return ctx->err.code ? -1 : 0;
}
