/* Host reads of tensor values: DUET_BOOL, DUET_ITEM, DUET_DIM. This is where the
 * graph-vs-eager bug class lives: eagerly the value exists, while tracing it does
 * not, and what happens then is the policy of the outermost function being traced.
 *
 * Every policy traces with symbolic tensors. Under specialize and guard a read asks
 * the trace for the value its node takes on the call's arguments (duet_example_value,
 * which evaluates the trace so far without committing any variable write), bakes that
 * value in, and warns (specialize) or appends a guard node (guard). */
#include <math.h>
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

/* DUET_BOOL guards only the truth of the value, DUET_ITEM the exact value read, and
 * DUET_DIM the size of one dim (checked by the executor before any kernel runs). */
bool duet_guard_holds(const duet_guard_spec *g, const duet_tensor *x)
{
    switch (g->kind) {
    case DUET_READ_BOOL: return (scalar_value(x) != 0) == (g->value != 0);
    case DUET_READ_ITEM: return scalar_value(x) == g->value;
    case DUET_READ_DIM: return (double)x->shape[g->dim] == g->value;
    }
    return false;
}

static int guard_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                        duet_tensor *out)
{
    (void)c, (void)nin;
    bool ok = duet_guard_holds(a->p, in[0]);
    *(uint8_t *)out->data = ok;
    return ok ? 0 : DUET_GUARD_FAILED;
}

/* A baked-in value as the warnings, guard reasons and printers show it. */
static void value_text(duet_read_kind k, double v, char *buf, size_t n)
{
    if (k == DUET_READ_BOOL)
        snprintf(buf, n, "%s", v != 0 ? "true" : "false");
    else
        snprintf(buf, n, "%.9g", v);
}

/* " DUET_BOOL==false", " DUET_DIM(1)==7": the check, as the value was read */
static void guard_attr_text(const duet_attrs *a, duet_text *t)
{
    const duet_guard_spec *spec = a->p;
    char seen[32];
    value_text(spec->kind, spec->value, seen, sizeof seen);
    if (spec->kind == DUET_READ_DIM)
        duet_text_put(t, " DUET_DIM(%d)==%s", spec->dim, seen);
    else
        duet_text_put(t, " %s==%s", duet_read_name[spec->kind], seen);
}

const duet_op_def duet_opdef_guard = {.name = "guard",
                                      .nin = 1,
                                      .flags = DUET_OPF_GUARD,
                                      .infer = guard_infer,
                                      .kernel = guard_kernel,
                                      .attr_text = guard_attr_text};

static const char *scope_text(const char *scope)
{
    return scope && scope[0] ? scope : "the top level";
}

void duet_guard_reason(const duet_node *g, char *buf, size_t n)
{
    const duet_guard_spec *spec = g->attr.p;
    char seen[32];
    value_text(spec->kind, spec->value, seen, sizeof seen);
    snprintf(buf, n, "guard failed at %s:%d in %s: %s was %s at trace time and differs now",
             g->site.file, g->site.line, scope_text(g->scope), duet_read_name[spec->kind], seen);
}

/* ---- lint ---- */
void duet_ctx_set_lint(duet_ctx *ctx, bool on) { ctx->lint = on; }
int duet_lint_count(const duet_ctx *ctx) { return ctx->nlints; }
const duet_lint *duet_lint_at(const duet_ctx *ctx, int i)
{
    return i >= 0 && i < ctx->nlints ? &ctx->lints[i] : NULL;
}

/* A lint entry's shape: a scalar made by a reduction is shown by the shape of what
 * was reduced, which tells more on one line than "()". */
static const duet_tensor *lint_shown(const duet_tensor *t)
{
    while (t->rank == 0 && t->node && t->node->nin > 0) t = t->node->in[0];
    return t;
}

static void lint_record(duet_ctx *ctx, duet_site s, duet_read_kind k, const duet_tensor *t,
                        double value)
{
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
    duet_shape_str(lint_shown(t), l->shape, sizeof l->shape);
    l->value = k == DUET_READ_BOOL && !isnan(value) ? value != 0 : value;
}

/* ---- reads baked by specialize ---- */
int duet_fn_baked_count(const duet_fn *fn) { return fn->nbaked; }
const duet_baked_read *duet_fn_baked_at(const duet_fn *fn, int i)
{
    return i >= 0 && i < fn->nbaked ? &fn->baked[i] : NULL;
}

static void baked_record(duet_fn *fn, duet_site s, duet_read_kind k, const char *scope, double v)
{
    duet_baked_read *b = realloc(fn->baked, sizeof *b * (size_t)(fn->nbaked + 1));
    if (!b) return; /* the warning still says it */
    fn->baked = b;
    b += fn->nbaked++;
    b->what = duet_read_name[k];
    b->file = s.file;
    b->line = s.line;
    snprintf(b->scope, sizeof b->scope, "%s", scope);
    b->value = k == DUET_READ_BOOL ? v != 0 : v;
}

/* ---- marks: where the printers show a baked or failed read ---- */
void duet_graph_mark(duet_ctx *ctx, duet_graph *g, const duet_read_mark *m)
{
    duet_read_mark *copy = duet_arena_alloc(ctx, &g->arena, sizeof *copy);
    if (!copy) return; /* the warning or the diagnostic still says it */
    *copy = *m;
    copy->next = NULL;
    copy->at = g->n;
    duet_read_mark **tail = &g->marks;
    while (*tail) tail = &(*tail)->next;
    *tail = copy;
}

static void mark_read(duet_ctx *ctx, duet_site s, duet_read_kind k, const duet_tensor *t,
                      bool stopped, double v)
{
    duet_read_mark m = {.stopped = stopped, .what = duet_read_name[k], .file = s.file,
                        .line = s.line, .read = t->node};
    if (!stopped) value_text(k, v, m.value, sizeof m.value);
    duet_graph_mark(ctx, ctx->tracing->graph, &m);
}

/* ---- the reads ---- */

static bool check_one(duet_ctx *ctx, duet_read_kind k, const duet_tensor *t)
{
    if (duet_numel(t) == 1) return true;
    char shape[96];
    duet_fail(ctx, DUET_ERR_ARG,
              "%s needs a tensor with one element, got shape %s (use duet_any or a "
              "reduction first)",
              duet_read_name[k], duet_shape_str(t, shape, sizeof shape));
    return false;
}

/* What a read that strict tracing rejects does under the trace's policy: returns
 * the value to answer with, or sets the error. dim is the dim of a DUET_DIM read. */
static double answer_symbolic(duet_site s, duet_ctx *ctx, duet_tensor *t, duet_read_kind k, int dim)
{
    duet_trace *tr = ctx->tracing;
    duet_policy policy = tr->fn->policy;
    if (!tr->lint && policy == DUET_POLICY_STRICT) {
        duet_host_read_fail(ctx, s, k, t, dim);
        mark_read(ctx, s, k, t, true, 0);
        return 0;
    }
    if (!tr->ex) { /* a while_loop's cond or body: a new value every iteration */
        if (tr->lint) return lint_record(ctx, s, k, t, NAN), 0;
        duet_host_read_fail(ctx, s, k, t, dim);
        snprintf(ctx->err.explanation, sizeof ctx->err.explanation,
                 "This read is inside a duet_while_loop's cond or body, which runs once per "
                 "iteration on values that change each time: no single value can be baked "
                 "into the graph or guarded, under any policy.");
        mark_read(ctx, s, k, t, true, 0);
        return 0;
    }
    const duet_tensor *x = duet_example_value(ctx, tr, t);
    if (!x || (k != DUET_READ_DIM && !check_one(ctx, k, x))) {
        if (tr->lint) lint_record(ctx, s, k, t, NAN); /* the site still counts */
        return 0;
    }
    double v = k == DUET_READ_DIM ? (double)x->shape[dim] : scalar_value(x);
    if (tr->lint) return lint_record(ctx, s, k, t, v), v;
    if (policy == DUET_POLICY_GUARD) {
        duet_guard_spec *spec = duet_alloc_bytes(ctx, sizeof *spec);
        if (!spec) {
            duet_fail(ctx, DUET_ERR_OOM, "a guard");
            return 0;
        }
        *spec = (duet_guard_spec){k, dim, v};
        duet_attrs a = {0};
        a.p = spec;
        duet_apply(ctx, s, DUET_OP_GUARD, &t, 1, &a);
        return v;
    }
    char seen[32];
    value_text(k, v, seen, sizeof seen);
    baked_record(tr->fn, s, k, duet_scope_path(ctx), v);
    mark_read(ctx, s, k, t, false, v);
    duet_fn_warn(tr->fn,
                 "specialize: %s at %s:%d in %s was baked into the graph as %s; inputs that "
                 "take the other branch will get a wrong result",
                 duet_read_name[k], s.file, s.line, scope_text(duet_scope_path(ctx)), seen);
    return v;
}

/* Value of t for a host read, or 0 with the error set. */
static double host_read(duet_site s, duet_ctx *ctx, duet_tensor *t, duet_read_kind k)
{
    if (ctx->err.code || duet_is_poison(t)) return 0;
    ctx->cur_site = s;
    ctx->cur_op = DUET_OP_COUNT;
    if (duet_check_trace_of(ctx, t, duet_read_name[k])) return 0;
    bool known = !ctx->tracing || (t->node && t->node->op == DUET_OP_CONST);
    if (known) return check_one(ctx, k, t) ? scalar_value(t) : 0;
    return answer_symbolic(s, ctx, t, k, 0);
}

bool duet_bool_at(duet_site s, duet_ctx *ctx, duet_tensor *t)
{
    return host_read(s, ctx, t, DUET_READ_BOOL) != 0;
}

double duet_item_at(duet_site s, duet_ctx *ctx, duet_tensor *t)
{
    return host_read(s, ctx, t, DUET_READ_ITEM);
}

/* A dim the trace knows (fixed by the signature or by a shape rule) is a plain
 * number under every policy; only a symbolic one goes to the policy. */
int64_t duet_dim_at(duet_site s, duet_ctx *ctx, duet_tensor *t, int i)
{
    if (ctx->err.code || duet_is_poison(t)) return 0;
    ctx->cur_site = s;
    ctx->cur_op = DUET_OP_COUNT;
    if (duet_check_trace_of(ctx, t, "DUET_DIM")) return 0;
    if (i < 0 || i >= t->rank) {
        duet_fail(ctx, DUET_ERR_AXIS, "DUET_DIM: dim %d is out of range for rank %d", i, t->rank);
        return 0;
    }
    if (!DUET_DIM_IS_SYM(t->shape[i])) return t->shape[i];
    return (int64_t)answer_symbolic(s, ctx, t, DUET_READ_DIM, i);
}
