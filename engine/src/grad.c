/* Reverse-mode autodiff over a node list. In eager mode the list is the tape; while
 * tracing it is the IR. Each op's VJP emits ops, which run or trace like any other,
 * so this one walk serves both modes. */
#include <stdlib.h>

#include "duet/grad.h"
#include "internal.h"

duet_tensor *duet_unbroadcast(duet_ctx *ctx, duet_tensor *g, const duet_tensor *like)
{
    return duet_same_shape(g, like) ? g : duet_sum_to(ctx, g, like->rank, like->shape);
}

static bool owns(const duet_graph *g, const duet_node *n)
{
    return n && n->id < g->n && g->nodes[n->id] == n;
}

/* Marks the nodes that depend on a target variable: only they need gradients. */
static void mark_needed(const duet_graph *g, int end, const int *var_slot, bool *needs)
{
    for (int i = 0; i < end; i++) {
        const duet_node *n = g->nodes[i];
        if (n->op == DUET_OP_VAR_READ) {
            needs[i] = var_slot[duet_attrs_var(&n->attr)->id] >= 0;
            continue;
        }
        for (int j = 0; j < n->nin && !needs[i]; j++)
            needs[i] = owns(g, n->in[j]->node) && needs[n->in[j]->node->id];
    }
}

static duet_tensor *accumulate(duet_ctx *ctx, duet_tensor *acc, duet_tensor *g)
{
    return acc ? duet_add(ctx, acc, g) : g;
}

static void backprop_node(duet_ctx *ctx, const duet_graph *g, const duet_node *n, duet_tensor *gy,
                          const bool *needs, duet_tensor **grad)
{
    const duet_op_def *def = duet_op_table[n->op];
    if (!def->vjp) return;
    bool need[n->nin ? n->nin : 1];
    duet_tensor *gx[n->nin ? n->nin : 1];
    for (int j = 0; j < n->nin; j++) {
        need[j] = owns(g, n->in[j]->node) && needs[n->in[j]->node->id];
        gx[j] = NULL;
    }
    ctx->vjp_of = n;
    def->vjp(ctx, n, gy, gx, need);
    ctx->vjp_of = NULL;
    for (int j = 0; j < n->nin; j++) {
        if (!need[j] || !gx[j]) continue;
        int k = n->in[j]->node->id;
        grad[k] = accumulate(ctx, grad[k], gx[j]);
    }
}

int duet_grad(duet_ctx *ctx, duet_tensor *loss, duet_var *const *vars, int n, duet_tensor **grads)
{
    for (int i = 0; i < n; i++) grads[i] = &ctx->poison;
    if (ctx->err.code) return -1;
    duet_graph *g = duet_cur_graph(ctx);
    /* Find the loss by identity, never through loss->node: after a reset the tensor
     * may point into freed memory. */
    int end = -1;
    for (int i = g->n - 1; loss && i >= 0; i--)
        if (g->nodes[i]->out == loss) {
            end = i + 1;
            break;
        }
    if (end < 0) {
        duet_ctx_fail(ctx, DUET_ERR_ARG, "grad: the loss was not computed on this context's %s",
                      ctx->tracing ? "trace" : "tape (was the context reset?)");
        return -1;
    }
    int *var_slot = malloc(sizeof(int) * (size_t)(ctx->nvars ? ctx->nvars : 1));
    bool *needs = calloc((size_t)end, sizeof *needs);
    duet_tensor **grad = calloc((size_t)end, sizeof *grad);
    if (!var_slot || !needs || !grad) {
        free(var_slot), free(needs), free(grad);
        duet_ctx_fail(ctx, DUET_ERR_OOM, "the gradient");
        return -1;
    }
    for (int i = 0; i < ctx->nvars; i++) var_slot[i] = -1;
    for (int i = 0; i < n; i++) {
        if (!vars[i]) {
            duet_ctx_fail(ctx, DUET_ERR_ARG, "grad: variable %d is NULL", i);
            goto out;
        }
        var_slot[vars[i]->id] = i;
        grads[i] = NULL;
    }
    mark_needed(g, end, var_slot, needs);
    if (needs[end - 1]) { /* the seed belongs to the loss's op, like every gradient node */
        ctx->vjp_of = g->nodes[end - 1];
        grad[end - 1] = duet_ones_like(ctx, loss);
        ctx->vjp_of = NULL;
    }
    for (int i = end - 1; i >= 0 && !ctx->err.code; i--) {
        const duet_node *node = g->nodes[i];
        if (!grad[i] || !needs[i]) continue;
        if (node->op == DUET_OP_VAR_READ) {
            int slot = var_slot[duet_attrs_var(&node->attr)->id];
            grads[slot] = accumulate(ctx, grads[slot], grad[i]);
        } else {
            backprop_node(ctx, g, node, grad[i], needs, grad);
        }
    }
    for (int i = 0; i < n && !ctx->err.code; i++)
        if (!grads[i]) grads[i] = duet_full_like(ctx, (duet_tensor *)&vars[i]->value, 0.0f);
out:
    free(var_slot), free(needs), free(grad);
    if (ctx->err.code) {
        for (int i = 0; i < n; i++) grads[i] = &ctx->poison;
        return -1;
    }
    return 0;
}
