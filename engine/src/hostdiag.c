/* The strict diagnostic for a host read of a symbolic tensor: what was read, where,
 * why graph mode cannot answer it, and the graph-safe rewrite. */
#include "graph_internal.h"

const char *const duet_read_name[] = {"DUET_BOOL", "DUET_ITEM", "DUET_DIM"};

/* The shape worth showing: a scalar made by a reduction is shown by the shape of
 * what was reduced, since that is the tensor the model code branched on. */
const duet_tensor *duet_host_read_shown(const duet_tensor *t)
{
    while (t->rank == 0 && t->node && t->node->nin > 0) t = t->node->in[0];
    return t;
}

/* The public op that made n. */
static const char *node_api(const duet_node *n)
{
    return duet_api_name(n->op, n->site, n->grad_of != NULL);
}

static const char *const explanation =
    "While tracing, tensors are symbolic: their values exist only when the compiled graph "
    "runs, so C code cannot branch on them. Eager mode answered this read from concrete "
    "data; graph mode cannot. Baking in the answer seen once (as torch.jit.trace does) would "
    "silently compute the wrong thing for inputs that take the other branch.";

static void fix_text(duet_read_kind k, char *buf, size_t n)
{
    switch (k) {
    case DUET_READ_BOOL:
        snprintf(buf, n,
                 "compute both outcomes and select with duet_where(ctx, cond, a, b); for a "
                 "mask: scores = duet_where(ctx, mask, scores, duet_full_like(ctx, scores, "
                 "-1e9f)). Use duet_cond for branches that compute different things.");
        return;
    case DUET_READ_ITEM:
        snprintf(buf, n, "keep the value a tensor and continue with ops (duet_where for "
                         "choices), or return it from the function and read it after the call.");
        return;
    case DUET_READ_DIM:
        snprintf(buf, n, "pass t->shape[i] (a symbolic dim) straight to ops such as "
                         "duet_reshape, duet_full and duet_arange instead of a C integer, or "
                         "relax fewer dims in the function's signature.");
        return;
    }
}

void duet_host_read_fail(duet_ctx *ctx, duet_site s, duet_read_kind k, const duet_tensor *t, int dim)
{
    const duet_tensor *shown = duet_host_read_shown(t);
    const char *cls = duet_scope_layer_class(ctx);
    char shape[128], head[160] = "";
    duet_shape_str(shown, shape, sizeof shape);
    if (cls) snprintf(head, sizeof head, "Exception encountered when calling %s.call: ", cls);
    ctx->cur_site = s;
    ctx->cur_op = DUET_OP_COUNT;
    if (k == DUET_READ_DIM)
        duet_fail(ctx, DUET_ERR_HOST_BRANCH,
                  "%sUsing a symbolic dim as a C integer is not allowed: %s(t, %d) of a tensor "
                  "of shape %s",
                  head, duet_read_name[k], dim, shape);
    else
        duet_fail(ctx, DUET_ERR_HOST_BRANCH,
                  "%sUsing a symbolic tensor as a C %s is not allowed: %s of %s (shape %s)", head,
                  k == DUET_READ_BOOL ? "bool" : "number", duet_read_name[k],
                  t->node ? node_api(t->node) : "a tensor", shape);
    duet_diag *d = &ctx->err;
    snprintf(d->op, sizeof d->op, "%s", duet_read_name[k]);
    snprintf(d->shape, sizeof d->shape, "%s", shape);
    snprintf(d->producer, sizeof d->producer, "%s",
             t->node ? node_api(t->node) : "");
    snprintf(d->explanation, sizeof d->explanation, "%s", explanation);
    fix_text(k, d->fix, sizeof d->fix);
}

