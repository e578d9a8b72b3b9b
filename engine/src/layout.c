/* The layout pass (DUET_PASS_LAYOUT): matrix products read transposed operands, and
 * write transposed results, through strides, so that the transposes that would copy
 * them are not run. Multi-head attention's (B, T, H, D) <-> (B, H, T, D) transposes,
 * around the scores and the weighted values and in their gradients, are the case:
 *
 *   matmul(transpose(x, p), y)  ->  matmul x y a_perm=p    (x as stored; b_perm alike)
 *   transpose(matmul(x, y), p)  ->  matmul x y out_perm=p  (when only it reads the
 *                                                            product, and p keeps the
 *                                                            last axis last)
 *
 * An f32 elementwise map of one tensor and scalars (attention's 1/sqrt(d) scale)
 * computes each element on its own, so it commutes with a transpose, and a transpose
 * moves across one to meet a product:
 *
 *   map(transpose(x)), read only by products  ->  transpose(map(x))
 *   transpose(map(matmul(...)))               ->  map(transpose(matmul(...)))
 *
 * Everything stays bit-identical to eager mode: a map does the same float operation
 * on each element wherever the element sits, and the product's kernel packs the same
 * values into the same panels whatever strides it reads them through (ops/matmul.c),
 * so each element of C is the same chain of multiply-adds. The scale itself is not
 * folded into the product: scaling C instead of an operand rounds differently. */
#include <stdlib.h>

#include "graph_internal.h"

static duet_node *producer(const duet_tensor *t) { return t->node; }

/* The index of n's one operand that is not a scalar, when n is an f32 elementwise map
 * of it (and of scalars) to its own shape; -1 otherwise. */
static int map_operand(const duet_node *n)
{
    if (!(duet_op_table[n->op]->flags & DUET_OPF_ELEMENTWISE) || n->out->dtype != DUET_F32)
        return -1;
    int k = -1;
    for (int j = 0; j < n->nin; j++) {
        if (n->in[j]->dtype != DUET_F32) return -1;
        if (duet_numel(n->in[j]) == 1) continue;
        if (k >= 0) return -1;
        k = j;
    }
    return k >= 0 && duet_same_shape(n->in[k], n->out) ? k : -1;
}

/* Whether t, a transpose, keeps the last axis last, as a product's result must (the
 * micro-kernels store rows of C). */
static bool keeps_last_axis(const duet_node *t)
{
    int perm[DUET_MAX_RANK], rank = duet_transpose_perm(t, perm);
    return rank > 0 && perm[rank - 1] == rank - 1;
}

/* Whether t, a transpose of node mm's result (directly, or after a map), can become
 * the way mm writes its result: mm is a product that only t (or the map) reads,
 * written as stored so far, and t keeps the last axis last. The move rules below
 * both ask this of the same product and perm, so they never undo each other. */
static bool result_folds(const duet_node *mm, const duet_node *t, const int *uses)
{
    return mm->op == DUET_OP_MATMUL && uses[mm->id] == 1 && keeps_last_axis(t) &&
           !duet_matmul_layout_rank(&mm->attr, DUET_MATMUL_OUT);
}

/* Whether every reader of n's result is a product (so a transpose of it will fold). */
static bool read_by_products_only(const duet_graph *g, const duet_node *n, const int *uses)
{
    int products = 0;
    for (int i = n->id + 1; i < g->n; i++)
        for (int j = 0; j < g->nodes[i]->nin; j++)
            products += g->nodes[i]->op == DUET_OP_MATMUL && producer(g->nodes[i]->in[j]) == n;
    return uses[n->id] > 0 && products == uses[n->id];
}

/* Moves node a to just before b, its only reader, so that whatever else b reads is
 * computed before a's place; the nodes between move up one place, and so do the
 * marks of host reads among them. */
static void move_before(duet_graph *g, duet_node *a, const duet_node *b)
{
    int from = a->id, to = b->id - 1;
    for (int i = from; i < to; i++) (g->nodes[i] = g->nodes[i + 1])->id = i;
    (g->nodes[to] = a)->id = to;
    for (duet_read_mark *m = g->marks; m; m = m->next)
        if (m->at > from && m->at <= to) m->at--;
}

/* a reads u as its operand ka; b, a's only reader, reads a as its operand kb. Swaps
 * their ops (with attributes, site, scope, gradient origin and other operands), so
 * that a applies b's op to u and b applies a's op to a's new result: b's result is
 * unchanged, a's is retyped by its new op's shape rule. */
static int commute(duet_ctx *ctx, duet_graph *g, duet_node *a, int ka, duet_node *b, int kb)
{
    duet_tensor *u = a->in[ka];
    move_before(g, a, b);
    duet_node was = *a;
    a->op = b->op, a->attr = b->attr, a->site = b->site, a->scope = b->scope;
    a->grad_of = b->grad_of, a->in = b->in, a->nin = b->nin;
    b->op = was.op, b->attr = was.attr, b->site = was.site, b->scope = was.scope;
    b->grad_of = was.grad_of, b->in = was.in, b->nin = was.nin;
    a->in[kb] = u;
    b->in[ka] = a->out;
    duet_type ty = {0};
    if (duet_op_table[a->op]->infer(ctx, &a->attr, a->in, a->nin, &ty)) return -1;
    a->out->dtype = ty.dtype;
    a->out->rank = ty.rank;
    memcpy(a->out->shape, ty.shape, sizeof a->out->shape);
    return 0;
}

/* Moves a transpose across a map next to a product, when one of the two rules of the
 * header applies at node n; whether it did. A transpose that can fold into the
 * product it reads is not moved away from it. */
static bool move_transpose(duet_ctx *ctx, duet_graph *g, duet_node *n, const int *uses)
{
    int k = map_operand(n);
    duet_node *t = k >= 0 ? producer(n->in[k]) : NULL;
    if (t && t->op == DUET_OP_TRANSPOSE && uses[t->id] == 1 &&
        !result_folds(producer(t->in[0]), t, uses) && read_by_products_only(g, n, uses))
        return !commute(ctx, g, t, 0, n, k); /* map(transpose(x)) -> transpose(map(x)) */
    if (n->op != DUET_OP_TRANSPOSE) return false;
    duet_node *m = producer(n->in[0]);
    if ((k = map_operand(m)) < 0 || uses[m->id] != 1) return false;
    if (!result_folds(producer(m->in[k]), n, uses)) return false;
    return !commute(ctx, g, m, k, n, 0); /* transpose(map(y)) -> map(transpose(y)) */
}

/* mm's layout, made (everything as stored) on first use, in the graph's arena. */
static duet_matmul_layout *layout_of(duet_ctx *ctx, duet_graph *g, duet_node *mm)
{
    if (!mm->attr.p && (mm->attr.p = duet_arena_alloc(ctx, &g->arena, sizeof(duet_matmul_layout))))
        memset(mm->attr.p, 0, sizeof(duet_matmul_layout));
    return mm->attr.p;
}

/* matmul(transpose(x, p), ...): the product reads x through p. */
static int fold_operands(duet_ctx *ctx, duet_graph *g, duet_node *mm)
{
    for (int k = DUET_MATMUL_A; k <= DUET_MATMUL_B; k++) {
        const duet_node *t = producer(mm->in[k]);
        if (t->op != DUET_OP_TRANSPOSE || duet_matmul_layout_rank(&mm->attr, k)) continue;
        duet_matmul_layout *l = layout_of(ctx, g, mm);
        if (!l) return -1;
        l->rank[k] = duet_transpose_perm(t, l->perm[k]);
        mm->in[k] = t->in[0];
    }
    return 0;
}

/* transpose(matmul(...), p): the product writes its result through p, as the
 * transpose's result, and the transpose goes. */
static int fold_result(duet_ctx *ctx, duet_graph *g, duet_node *t, const int *uses, bool *dead)
{
    duet_node *mm = producer(t->in[0]);
    if (!result_folds(mm, t, uses)) return 0;
    duet_matmul_layout *l = layout_of(ctx, g, mm);
    if (!l) return -1;
    l->rank[DUET_MATMUL_OUT] = duet_transpose_perm(t, l->perm[DUET_MATMUL_OUT]);
    mm->out = t->out;
    mm->out->node = mm;
    dead[t->id] = true;
    return 0;
}

/* Moves transposes next to products, one at a time (a move renumbers nodes), until
 * none moves. */
static int move_transposes(duet_ctx *ctx, duet_graph *g)
{
    for (bool moved = true; moved && !ctx->err.code;) {
        int *uses = duet_graph_uses(g);
        if (!uses) return duet_fail(ctx, DUET_ERR_OOM, "the layout pass");
        moved = false;
        for (int i = 0; i < g->n && !moved && !ctx->err.code; i++)
            moved = move_transpose(ctx, g, g->nodes[i], uses);
        free(uses);
    }
    return ctx->err.code ? -1 : 0;
}

/* Result folds first: a transpose between two products (read only by the second)
 * folds into the first one's result, and then no longer exists to fold into the
 * second one's operand, which would read the first product's old result. */
void duet_layout_pass(duet_ctx *ctx, duet_plan *p)
{
    duet_graph *g = &p->graph;
    if (move_transposes(ctx, g)) return;
    int *uses = duet_graph_uses(g);
    bool *dead = calloc((size_t)g->n + 1, 1);
    int rc = uses && dead ? 0 : duet_fail(ctx, DUET_ERR_OOM, "the layout pass");
    for (int i = 0; i < g->n && !rc; i++)
        if (g->nodes[i]->op == DUET_OP_TRANSPOSE) rc = fold_result(ctx, g, g->nodes[i], uses, dead);
    if (!rc) duet_graph_compact(g, dead);
    for (int i = 0; i < g->n && !rc; i++) /* transposes now unread go with DCE */
        if (g->nodes[i]->op == DUET_OP_MATMUL) rc = fold_operands(ctx, g, g->nodes[i]);
    free(uses), free(dead);
}
