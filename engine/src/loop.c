/* duet_while_loop: a loop whose trip count depends on data, the graph-safe form of
 * `while (DUET_BOOL(ctx, ...))`. Eagerly it is a C loop over ops, and a LOOP_RESULT
 * node per state tensor hands out the result. Traced, the cond and the body are traced
 * into their own plans (owned by the enclosing graph) and one WHILE node runs them
 * until the cond is false; LOOP_OUT nodes hand out the other state tensors. None of
 * the three has a gradient: asking for one through them is an error. */
#include <stdlib.h>

#include "graph_internal.h"

/* Attribute slots: loop_out and loop_result hand out this state tensor; WHILE's (and
 * loop_out's) attrs.p is the loop_prog. */
enum { LOOP_STATE = 0 };

typedef struct loop_prog {
    duet_loop_cond_fn cond;
    duet_loop_body_fn body;
    void *user;
    int n, max_iters;
    duet_plan *cond_plan, *body_plan;
    duet_tensor **result; /* the last run's final state (step arena) */
} loop_prog;

static bool same_type(const duet_tensor *a, const duet_tensor *b)
{
    return a->dtype == b->dtype && duet_same_shape(a, b);
}

static int check_cond(duet_ctx *ctx, const duet_tensor *c)
{
    if (c->dtype != DUET_BOOL8 || c->rank != 0)
        return duet_fail(ctx, DUET_ERR_ARG, "while_loop: the cond must return a bool scalar");
    return 0;
}

static int check_next(duet_ctx *ctx, duet_tensor *const *state, duet_tensor *const *next, int n)
{
    for (int i = 0; i < n; i++) {
        char a[96], b[96];
        if (!next[i])
            return duet_fail(ctx, DUET_ERR_TRACE, "while_loop: the body did not set state %d", i);
        if (!same_type(state[i], next[i]))
            return duet_fail(ctx, DUET_ERR_TRACE,
                             "while_loop: the body changes state %d from %s%s to %s%s; loop "
                             "state must keep its dtype and shape",
                             i, duet_dtype_name(state[i]->dtype), duet_shape_str(state[i], a, sizeof a),
                             duet_dtype_name(next[i]->dtype), duet_shape_str(next[i], b, sizeof b));
    }
    return 0;
}

static int too_many(duet_ctx *ctx, int max_iters)
{
    return duet_fail(ctx, DUET_ERR_ARG, "while_loop: more than %d iterations (max_iters)", max_iters);
}

/* ---- eager: a C loop ---- */
static int loop_eager(duet_ctx *ctx, duet_site s, const loop_prog *lp, duet_tensor *const *init,
                      duet_tensor **out)
{
    duet_tensor *state[lp->n ? lp->n : 1], *next[lp->n ? lp->n : 1];
    for (int i = 0; i < lp->n; i++) state[i] = init[i];
    for (int it = 0;; it++) {
        duet_tensor *c = lp->cond(ctx, state, lp->user);
        if (ctx->err.code || check_cond(ctx, c)) return -1;
        if (!*(const uint8_t *)c->data) break;
        if (it == lp->max_iters) return too_many(ctx, lp->max_iters);
        for (int i = 0; i < lp->n; i++) next[i] = NULL;
        lp->body(ctx, state, next, lp->user);
        if (ctx->err.code || check_next(ctx, state, next, lp->n)) return -1;
        for (int i = 0; i < lp->n; i++) state[i] = next[i];
    }
    /* Each result is cut from the body's ops (a copy; a trace with values captures it as
     * a constant, so the loop stays baked in) and handed out by a LOOP_RESULT node whose
     * other inputs are the initial state, as the traced WHILE node's are: so duet_grad
     * sees, and refuses, a gradient through the loop exactly when graph mode would. */
    duet_tensor *in[DUET_MAX_FN_ARGS + 1];
    memcpy(in + 1, init, sizeof *init * (size_t)lp->n);
    duet_attrs a = {0};
    for (int i = 0; i < lp->n; i++) {
        in[0] = duet_tensor_copy(ctx, state[i]);
        a.i[LOOP_STATE] = i;
        out[i] = duet_apply(ctx, s, DUET_OP_LOOP_RESULT, in, lp->n + 1, &a);
    }
    return ctx->err.code ? -1 : 0;
}

/* ---- traced: cond and body become plans ---- */
static void cond_adapter(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    const loop_prog *lp = user;
    out[0] = lp->cond(ctx, in, lp->user);
    if (out[0] && !duet_is_poison(out[0])) check_cond(ctx, out[0]);
}

static void body_adapter(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    const loop_prog *lp = user;
    lp->body(ctx, in, out, lp->user);
    if (!ctx->err.code) check_next(ctx, in, out, lp->n);
}

/* The part is traced inside the enclosing trace, so the outermost function's policy
 * governs its host reads; it has no example values (each iteration has new ones). */
static duet_plan *trace_part(duet_ctx *ctx, loop_prog *lp, const char *name, duet_fn_body body,
                             int nout, duet_tensor *const *state)
{
    duet_fn sub = {.ctx = ctx, .name = (char *)name, .body = body, .user = lp, .nin = lp->n,
                   .nout = nout, .passes = DUET_PASS_ALL, .nsym = ctx->tracing->nsym};
    duet_sig sig = {.n = lp->n};
    for (int i = 0; i < lp->n; i++) {
        sig.dtype[i] = state[i]->dtype;
        sig.rank[i] = state[i]->rank;
        memcpy(sig.dim[i], state[i]->shape, sizeof sig.dim[i]);
    }
    duet_scope_push(ctx, name);
    duet_plan *p = duet_fn_trace(&sub, &sig, NULL, false, NULL);
    duet_scope_pop(ctx);
    if (p) { /* the enclosing graph owns it */
        duet_graph *g = ctx->tracing->graph;
        p->sibling = g->subplans;
        g->subplans = p;
    }
    return p;
}

static int loop_trace(duet_ctx *ctx, duet_site s, loop_prog *lp, duet_tensor *const *init,
                      duet_tensor **out)
{
    loop_prog *kept = duet_alloc_bytes(ctx, sizeof *kept);
    duet_tensor **result = duet_alloc_bytes(ctx, sizeof *result * (size_t)lp->n);
    if (!kept || !result) return duet_fail(ctx, DUET_ERR_OOM, "while_loop");
    *kept = *lp;
    kept->result = result;
    if (!(kept->cond_plan = trace_part(ctx, kept, "while_cond", cond_adapter, 1, init)) ||
        !(kept->body_plan = trace_part(ctx, kept, "while_body", body_adapter, lp->n, init)))
        return -1;
    duet_attrs a = {0};
    a.p = kept;
    out[0] = duet_apply(ctx, s, DUET_OP_WHILE, init, lp->n, &a);
    for (int k = 1; k < lp->n; k++) {
        a.i[LOOP_STATE] = k;
        out[k] = duet_apply(ctx, s, DUET_OP_LOOP_OUT, (duet_tensor *[]){out[0], init[k]}, 2, &a);
    }
    return ctx->err.code ? -1 : 0;
}

int duet_while_loop_at(duet_site s, duet_ctx *ctx, duet_loop_cond_fn cond, duet_loop_body_fn body,
                       duet_tensor *const *init, int n, duet_tensor **out, int max_iters, void *user)
{
    for (int i = 0; i < n; i++) out[i] = &ctx->poison;
    if (ctx->err.code) return -1;
    ctx->cur_site = s;
    ctx->cur_op = DUET_OP_WHILE;
    if (!cond || !body || n < 1 || n > DUET_MAX_FN_ARGS || max_iters < 0)
        return duet_fail(ctx, DUET_ERR_ARG, "while_loop: bad arguments (n %d, max_iters %d)", n,
                         max_iters);
    for (int i = 0; i < n; i++)
        if (duet_is_poison(init[i]))
            return duet_fail(ctx, DUET_ERR_ARG, "while_loop: state %d is NULL or poisoned", i);
    loop_prog lp = {cond, body, user, n, max_iters, NULL, NULL, NULL};
    duet_scope_push(ctx, "while_loop");
    /* traced under every policy: the trip count is data, not a host read */
    int rc = ctx->tracing ? loop_trace(ctx, s, &lp, init, out) : loop_eager(ctx, s, &lp, init, out);
    duet_scope_pop(ctx);
    return rc;
}

/* ---- the ops ---- */

static int while_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                       duet_type *out)
{
    (void)c, (void)nin;
    duet_type_of(in[a->i[LOOP_STATE] ? 1 : 0], out);
    return 0;
}

/* Runs the loop over the plans; every iteration's state lives in the step arena. */
static int while_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                        duet_tensor *out)
{
    loop_prog *lp = a->p;
    duet_tensor *state[DUET_MAX_FN_ARGS], *next[DUET_MAX_FN_ARGS], *cv;
    for (int i = 0; i < nin; i++) state[i] = in[i];
    for (int it = 0;; it++) {
        if (duet_exec_run(c, lp->cond_plan, state, &cv, NULL)) return -1;
        if (!*(const uint8_t *)cv->data) break;
        if (it == lp->max_iters) return too_many(c, lp->max_iters);
        if (duet_exec_run(c, lp->body_plan, state, next, NULL)) return -1;
        for (int i = 0; i < nin; i++) state[i] = next[i];
    }
    for (int i = 0; i < nin; i++) lp->result[i] = state[i];
    memcpy(out->data, state[0]->data, (size_t)duet_numel(out) * duet_dtype_size(out->dtype));
    return 0;
}

/* Reverse mode would need every iteration's state, which neither mode keeps (and a
 * traced loop's trip count is only known when it runs). Failing here, when a gradient
 * would have to flow through the loop, replaces the silent zero of having no VJP. */
static void loop_vjp(duet_ctx *ctx, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                     const bool *need)
{
    (void)gy, (void)gx, (void)need;
    ctx->cur_op = n->op;
    ctx->cur_site = n->site;
    duet_fail(ctx, DUET_ERR_ARG,
              "no gradient through duet_while_loop at %s:%d; the loss depends on the loop's "
              "result and a variable being differentiated reaches the loop's initial state, "
              "but loops have no gradient in either mode (to differentiate, write a fixed "
              "number of steps as plain ops)",
              n->site.file, n->site.line);
}

static void while_attr_text(const duet_attrs *a, duet_text *t)
{
    const loop_prog *lp = a->p;
    duet_text_put(t, " max_iters=%d", lp->max_iters);
}

const duet_op_def duet_opdef_while = {.name = "while",
                                      .nin = -1,
                                      .infer = while_infer,
                                      .kernel = while_kernel,
                                      .vjp = loop_vjp,
                                      .attr_text = while_attr_text};

static void state_attr_text(const duet_attrs *a, duet_text *t)
{
    duet_text_put(t, " state=%lld", (long long)a->i[LOOP_STATE]);
}

/* Hands out state k of the loop its first input ran (that input orders it after). */
static int loop_out_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                           duet_tensor *out)
{
    (void)c, (void)in, (void)nin;
    const loop_prog *lp = a->p;
    memcpy(out->data, lp->result[a->i[LOOP_STATE]]->data, (size_t)duet_numel(out) * duet_dtype_size(out->dtype));
    return 0;
}

const duet_op_def duet_opdef_loop_out = {.name = "loop_out",
                                         .nin = 2,
                                         .infer = while_infer,
                                         .kernel = loop_out_kernel,
                                         .vjp = loop_vjp,
                                         .attr_text = state_attr_text};

/* An eager loop's state k: in[0] is its value, in[1..] the loop's initial state, there
 * only so that autodiff sees what the result depends on. */
static int loop_result_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                             duet_type *out)
{
    (void)c, (void)a, (void)nin;
    duet_type_of(in[0], out);
    return 0;
}

static int loop_result_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                              duet_tensor *out)
{
    (void)c, (void)a, (void)nin;
    memcpy(out->data, in[0]->data, (size_t)duet_numel(out) * duet_dtype_size(out->dtype));
    return 0;
}

const duet_op_def duet_opdef_loop_result = {.name = "loop_result",
                                            .nin = -1,
                                            .infer = loop_result_infer,
                                            .kernel = loop_result_kernel,
                                            .vjp = loop_vjp,
                                            .attr_text = state_attr_text};
