/* The strict diagnostic for a host read of a symbolic tensor: the tensor read, the
 * op that produced it and from what, where (the generic diagnostic adds the layer
 * call's arguments and the call-site stack), why graph mode cannot answer it, and
 * the graph-safe rewrite for that kind of producer. */
#include "graph_internal.h"

const char *const duet_read_name[] = {"DUET_BOOL", "DUET_ITEM", "DUET_DIM"};

static const char *node_api(const duet_node *n)
{
    return duet_api_name(n->op, n->site, n->grad_of != NULL);
}

/* Whether n was emitted by the same composite call as call. */
static bool same_call(const duet_node *call, const duet_node *n)
{
    return call->site.api && n->site.api == call->site.api && !n->grad_of &&
           n->site.line == call->site.line && n->site.file == call->site.file;
}

typedef struct input_list {
    char *buf;
    size_t cap, len;
    const duet_tensor *seen[8];
    int nseen;
} input_list;

/* Appends the types of n's inputs. For a composite, the inputs of its inner nodes
 * stand for the call's inputs (mean's x, reached through its sum and its size, is
 * shown once), and constants the composite made itself are not inputs. */
static void add_inputs(input_list *l, const duet_node *call, const duet_node *n)
{
    for (int i = 0; i < n->nin; i++) {
        const duet_tensor *x = n->in[i];
        if (x->node && same_call(call, x->node)) {
            add_inputs(l, call, x->node);
            continue;
        }
        bool dup = false;
        for (int j = 0; j < l->nseen; j++) dup |= l->seen[j] == x;
        if (dup || l->len >= l->cap) continue;
        if (l->nseen < (int)(sizeof l->seen / sizeof *l->seen)) l->seen[l->nseen++] = x;
        char type[144];
        l->len += (size_t)snprintf(l->buf + l->len, l->cap - l->len, "%s%s", l->len ? ", " : "",
                                   duet_tensor_type_str(x, type, sizeof type));
    }
}

/* "any(bool (None, 4, None, None))"; a source (an input, a constant) by name alone */
static void producer_text(const duet_node *p, char *buf, size_t n)
{
    char args[224] = "";
    input_list l = {.buf = args, .cap = sizeof args};
    add_inputs(&l, p, p);
    snprintf(buf, n, "%s%s%s%s", node_api(p), l.len ? "(" : "", args, l.len ? ")" : "");
}

static const char *const explanation =
    "While tracing, tensors are symbolic: their values exist only when the compiled graph "
    "runs, so C code cannot branch on them. Eager mode answered this read from concrete "
    "data; graph mode cannot. Baking in the answer seen once (as torch.jit.trace does) would "
    "silently compute the wrong thing for inputs that take the other branch.";

/* The rewrite depends on what the read asks for: a bool of a mask reduction guards
 * masking that can always run; any other bool is a condition to select on; a
 * number stays a tensor; a dim stays a symbol. */
static const char *fix_text(duet_read_kind k, const duet_tensor *t)
{
    switch (k) {
    case DUET_READ_BOOL:
        if (t->node && t->node->op == DUET_OP_ANY)
            return "any() of a mask only decides whether to apply the mask, and applying it "
                   "where nothing is masked changes nothing: apply it always, scores = "
                   "duet_where(ctx, mask, scores, duet_full_like(ctx, scores, -1e9f)) (tf.where "
                   "/ keras.ops.where).";
        return "the condition is a tensor, so let the graph choose: compute both outcomes and "
               "select with duet_where(ctx, cond, a, b) (tf.where / keras.ops.where), or, when "
               "the branches compute different things, trace both with duet_cond(ctx, cond, "
               "then_fn, else_fn, in, nin, out, nout, user) (tf.cond, jax.lax.cond).";
    case DUET_READ_ITEM:
        return "keep the value a tensor and continue with ops (duet_where for choices, as "
               "tf.where / keras.ops.where), or return it from the function and read it after "
               "the call (as .numpy() outside tf.function, or float() outside jax.jit).";
    case DUET_READ_DIM:
        return "pass t->shape[i] (a symbolic dim) straight to ops such as duet_reshape, "
               "duet_full and duet_arange instead of a C integer (as tf.shape(t)[i] stands "
               "for t.shape[i] in a tf.function), or relax fewer dims in the function's "
               "signature.";
    }
    return "";
}

static const char *const escape_hatch =
    " To run every function eagerly instead, at the cost of graph speed: "
    "duet_ctx_run_functions_eagerly(ctx, true) (tf.config.run_functions_eagerly(True)).";

void duet_host_read_fail(duet_ctx *ctx, duet_site s, duet_read_kind k, const duet_tensor *t, int dim)
{
    if (ctx->err.code) return; /* sticky: the first error is the cause */
    const char *cls = duet_scope_layer_class(ctx);
    const char *producer = t->node ? node_api(t->node) : "a tensor";
    char type[144], head[160] = "";
    duet_tensor_type_str(t, type, sizeof type);
    if (cls) snprintf(head, sizeof head, "Exception encountered when calling %s.call: ", cls);
    ctx->cur_site = s;
    if (k == DUET_READ_DIM)
        duet_fail_as(ctx, DUET_ERR_HOST_BRANCH, duet_read_name[k],
                     "%sUsing a symbolic dim as a C integer is not allowed: %s(t, %d) of %s (%s)",
                     head, duet_read_name[k], dim, producer, type);
    else
        duet_fail_as(ctx, DUET_ERR_HOST_BRANCH, duet_read_name[k],
                     "%sUsing a symbolic tensor as a C %s is not allowed: %s of %s (%s)", head,
                     k == DUET_READ_BOOL ? "bool" : "number", duet_read_name[k], producer, type);
    duet_diag *d = &ctx->err;
    duet_shape_str(t, d->shape, sizeof d->shape);
    snprintf(d->read_type, sizeof d->read_type, "%s", type);
    if (t->node) {
        snprintf(d->producer, sizeof d->producer, "%s", producer);
        producer_text(t->node, d->producer_inputs, sizeof d->producer_inputs);
    }
    snprintf(d->explanation, sizeof d->explanation, "%s", explanation);
    snprintf(d->fix, sizeof d->fix, "%s%s", fix_text(k, t), escape_hatch);
}
