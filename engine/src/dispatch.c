/* Dispatch: the one place an op becomes work. The shape rule runs in both modes;
 * then eager mode allocates and runs the kernel, and trace mode stops at the node.
 * Either way the node is recorded, so the eager tape and the traced IR are the same
 * structure and autodiff walks both with the same code. */
#include <stdlib.h>

#include "internal.h"

const duet_op_def *const duet_op_table[DUET_OP_COUNT] = {
#define X(id, name) [DUET_OP_##id] = &duet_opdef_##name,
    DUET_OP_LIST(X)
#undef X
};


duet_graph *duet_cur_graph(duet_ctx *ctx)
{
    return ctx->tracing ? ctx->tracing->graph : &ctx->tape;
}

duet_node *duet_graph_append(duet_ctx *ctx, duet_graph *g)
{
    if (g->n == g->cap) {
        int cap = g->cap ? g->cap * 2 : 256;
        duet_node **nn = realloc(g->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return NULL;
        g->nodes = nn;
        g->cap = cap;
    }
    duet_node *n = duet_arena_alloc(ctx, &g->arena, sizeof *n);
    if (!n) return NULL;
    memset(n, 0, sizeof *n);
    n->id = g->n;
    g->nodes[g->n++] = n;
    return n;
}

void *duet_alloc_bytes(duet_ctx *ctx, size_t bytes)
{
    return duet_arena_alloc(ctx, &duet_cur_graph(ctx)->arena, bytes);
}

int64_t duet_dim_resolve(const duet_ctx *ctx, int64_t d)
{
    if (DUET_DIM_IS_SYM(d) && ctx->sym_value && DUET_SYM_ID(d) < ctx->nsym)
        return ctx->sym_value[DUET_SYM_ID(d)];
    return d;
}

int64_t duet_fresh_dim(duet_ctx *ctx) { return DUET_SYM(ctx->tracing->nsym++); }

int duet_check_trace_of(duet_ctx *ctx, const duet_tensor *t, const char *use)
{
    const duet_trace *tr = ctx->tracing;
    if (duet_of_this_trace(ctx, t)) return 0;
    const duet_site made = t->node->site; /* trace memory outlives the trace: readable */
    const char *fn = t->trace <= ctx->ntraces ? ctx->trace_names[t->trace - 1] : "?";
    for (const duet_trace *o = tr ? tr->outer : NULL; o; o = o->outer)
        if (t->trace == o->id)
            return duet_fail(ctx, DUET_ERR_TRACE,
                             "%s is a symbolic tensor of the enclosing trace of %s (made at "
                             "%s:%d): a while_loop's cond and body see only the loop state, "
                             "constants and variables; pass it in through the state",
                             use, fn, made.file, made.line);
    return duet_fail(ctx, DUET_ERR_LEAKED,
                     "%s is a symbolic tensor of trace %u of %s (made at %s:%d) used outside "
                     "that trace; return it from the function as an output instead of keeping "
                     "it in C state",
                     use, t->trace, fn, made.file, made.line);
}

/* A concrete tensor from outside the trace (an eager tensor captured by the traced
 * function) becomes a constant: its value is frozen into the graph, as TF does. */
static duet_tensor *capture(duet_ctx *ctx, duet_site site, duet_tensor *t)
{
    return duet_constant_at(site, ctx, t->dtype, t->rank, t->shape, t->data);
}

static int check_inputs(duet_ctx *ctx, duet_site site, duet_tensor **in, int nin)
{
    for (int i = 0; i < nin; i++) {
        if (!in[i]) return duet_fail(ctx, DUET_ERR_ARG, "input %d is NULL", i);
        if (in[i]->flags & DUET_TENSOR_POISON)
            return duet_fail(ctx, DUET_ERR_ARG, "input %d is a poisoned tensor", i);
        if (!duet_of_this_trace(ctx, in[i])) { /* name the input only for the diagnostic */
            char use[32];
            snprintf(use, sizeof use, "input %d", i);
            return duet_check_trace_of(ctx, in[i], use);
        }
        if (ctx->tracing && !in[i]->trace) {
            in[i] = capture(ctx, site, in[i]);
            ctx->cur_site = site;
            if (duet_is_poison(in[i])) return -1;
        }
    }
    return 0;
}

static int alloc_output(duet_ctx *ctx, duet_graph *g, duet_tensor *out)
{
    size_t bytes;
    if (duet_checked_bytes(ctx, out->dtype, out->rank, out->shape, &bytes)) return -1;
    out->data = duet_arena_alloc(ctx, &g->arena, bytes);
    if (!out->data) {
        char buf[128];
        return duet_fail(ctx, DUET_ERR_OOM, "output %s %s",
                         duet_dtype_name(out->dtype), duet_shape_str(out, buf, sizeof buf));
    }
    return 0;
}

duet_tensor *duet_apply(duet_ctx *ctx, duet_site site, duet_op op, duet_tensor *const *in_, int nin,
                        const duet_attrs *attr)
{
    if (ctx->err.code != DUET_OK) return &ctx->poison;
    if (ctx->vjp_of) site = ctx->vjp_of->site; /* gradient ops point at their forward op */
    ctx->cur_op = op;
    ctx->cur_site = site;
    const duet_op_def *def = duet_op_table[op];
    if (def->nin >= 0 && nin != def->nin) {
        duet_fail(ctx, DUET_ERR_INTERNAL, "expects %d inputs, got %d", def->nin, nin);
        return &ctx->poison;
    }
    duet_graph *g = duet_cur_graph(ctx);
    duet_tensor **in = duet_arena_alloc(ctx, &g->arena, sizeof *in * (size_t)(nin ? nin : 1));
    if (!in) goto oom;
    for (int i = 0; i < nin; i++) in[i] = in_[i];
    if (check_inputs(ctx, site, in, nin)) return &ctx->poison;
    ctx->cur_op = op;
    duet_type ty = {0};
    if (def->infer(ctx, attr, in, nin, &ty)) return &ctx->poison;
    for (int d = 0; d < ty.rank && ctx->mode == DUET_MODE_EAGER; d++)
        if (ty.shape[d] < 0) { /* a symbol or a bad size: eager shapes are concrete */
            char buf[128];
            duet_fail(ctx, DUET_ERR_ARG, "output dim %d of %s is not a size >= 0", d,
                      duet_type_str(&ty, buf, sizeof buf));
            return &ctx->poison;
        }

    duet_node *node = duet_graph_append(ctx, g);
    duet_tensor *out = duet_arena_alloc(ctx, &g->arena, sizeof *out);
    if (!node || !out) goto oom;
    memset(out, 0, sizeof *out);
    out->dtype = ty.dtype;
    out->rank = ty.rank;
    memcpy(out->shape, ty.shape, sizeof out->shape);
    out->node = node;
    node->op = op;
    node->nin = nin;
    node->in = in;
    node->out = out;
    node->attr = *attr;
    node->site = site;
    node->scope = ctx->vjp_of ? ctx->vjp_of->scope : duet_scope_path(ctx);
    node->grad_of = ctx->vjp_of;
    if (ctx->tracing) { /* no kernel runs: the node is the result */
        out->trace = ctx->tracing->id;
        if (op == DUET_OP_CONST) out->data = attr->p; /* constants keep their value */
        return out;
    }
    if (!(def->flags & DUET_OPF_ALIAS) && alloc_output(ctx, g, out)) return &ctx->poison;
    double start = ctx->profiler ? duet_clock_ms() : 0;
    if (def->kernel(ctx, attr, in, nin, out)) return &ctx->poison;
    if (ctx->profiler) duet_profile_node(ctx, node, false, start);
    if (def->flags & (DUET_OPF_WRITES_VAR | DUET_OPF_HOST_IO))
        duet_vars_commit(ctx); /* eagerly, at once */
    if (ctx->check_numerics && duet_check_numerics(ctx, node, out, in)) return &ctx->poison;
    return out;
oom:
    duet_fail(ctx, DUET_ERR_OOM, "recording the op");
    return &ctx->poison;
}
