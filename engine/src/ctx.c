/* The context: memory, sticky errors, scopes and variables. */
#include <stdlib.h>

#include "internal.h"

static void *var_buf_alloc(duet_ctx *ctx, size_t bytes);
static void var_buf_free(duet_ctx *ctx, void *data);

duet_ctx *duet_ctx_new(void)
{
    duet_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return NULL;
    ctx->poison.flags = DUET_TENSOR_POISON;
    ctx->poison.dtype = DUET_F32;
    ctx->print_sink = stdout;
    ctx->threads = duet_online_cpus();
    return ctx;
}

/* After a reset nothing aliases a retired buffer: each variable keeps one as the
 * target of its next assign, so steady training does not malloc (and page-fault)
 * a fresh buffer per update. */
static void free_retired(duet_ctx *ctx)
{
    while (ctx->retired) {
        duet_retired *r = ctx->retired;
        ctx->retired = r->next;
        if (!r->owner->spare)
            r->owner->spare = r + 1;
        else
            duet_heap_free(ctx, r, sizeof *r + r->bytes);
    }
}

void duet_ctx_reset(duet_ctx *ctx)
{
    /* layer arguments registered so far live in the arena about to be freed */
    for (int i = 0; i < ctx->nscope; i++) ctx->scope[i].nargs = 0;
    ctx->tape.n = 0;
    duet_arena_reset(&ctx->tape.arena);
    ctx->scope_cache = NULL;
    free_retired(ctx);
}

void duet_ctx_free(duet_ctx *ctx)
{
    if (!ctx) return;
    duet_vars_abort(ctx);
    duet_ctx_reset(ctx);
    duet_arena_free(ctx, &ctx->tape.arena);
    free(ctx->tape.nodes);
    for (int i = 0; i < ctx->nvars; i++) {
        duet_var *v = ctx->vars[i];
        var_buf_free(ctx, v->value.data);
        var_buf_free(ctx, v->spare);
        free(v->name);
        free(v);
    }
    free(ctx->vars);
    free(ctx->staged);
    free(ctx->print_staged);
    free(ctx->lints);
    for (uint32_t i = 0; i < ctx->ntraces; i++) free(ctx->trace_names[i]);
    free(ctx->trace_names);
    duet_arena_free(ctx, &ctx->graveyard);
    duet_pool_free(ctx->pool);
    free(ctx);
}

void duet_ctx_set_mem_limit(duet_ctx *ctx, size_t bytes) { ctx->mem_limit = bytes; }
size_t duet_ctx_mem_used(const duet_ctx *ctx) { return ctx->mem_used; }

/* ---- errors ---- */

duet_status duet_ctx_status(const duet_ctx *ctx) { return ctx->err.code; }

const duet_diag *duet_ctx_error(const duet_ctx *ctx)
{
    return ctx->err.code == DUET_OK ? NULL : &ctx->err;
}

void duet_ctx_clear_error(duet_ctx *ctx) { memset(&ctx->err, 0, sizeof ctx->err); }

static const duet_scope_frame *innermost_layer(const duet_ctx *ctx)
{
    for (int i = ctx->nscope - 1; i >= 0; i--)
        if (ctx->scope[i].layer_class) return &ctx->scope[i];
    return NULL;
}

/* "Softmax.call(): inputs=f32 (None, 4, None, None), mask=None": the innermost layer
 * call, as Keras lists the arguments it received. Empty outside layers. */
static void layer_args_text(const duet_ctx *ctx, char *buf, size_t n)
{
    buf[0] = 0;
    const duet_scope_frame *f = innermost_layer(ctx);
    if (!f) return;
    size_t len = (size_t)snprintf(buf, n, "%s.call():", f->layer_class);
    for (int a = 0; a < f->nargs && len < n; a++) {
        char type[144] = "None";
        if (f->arg[a]) duet_tensor_type_str(f->arg[a], type, sizeof type);
        len += (size_t)snprintf(buf + len, n - len, "%s%s=%s", a ? ", " : " ", f->arg_name[a], type);
    }
}

/* The layer calls that led to the failing site, outermost first, then the site
 * itself: "model.c:67 (NERModel.call) > ... > model.c:87 (DUET_BOOL)". Empty
 * outside layers, where the site alone says it. */
static void stack_text(const duet_ctx *ctx, const duet_diag *d, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < ctx->nscope && len < n; i++) {
        const duet_scope_frame *f = &ctx->scope[i];
        if (!f->layer_class) continue;
        len += (size_t)snprintf(buf + len, n - len, "%s%s:%d (%s.call)", len ? " > " : "",
                                f->site.file ? f->site.file : "?", f->site.line, f->layer_class);
    }
    if (len && len < n && d->file[0])
        snprintf(buf + len, n - len, " > %s:%d%s%s%s", d->file, d->line, d->op[0] ? " (" : "",
                 d->op, d->op[0] ? ")" : "");
}

static void vfail_as(duet_ctx *ctx, duet_status code, const char *op, const char *fmt, va_list ap)
{
    if (ctx->err.code != DUET_OK) return; /* sticky: the first error is the cause */
    duet_diag *d = &ctx->err;
    memset(d, 0, sizeof *d);
    d->code = code;
    snprintf(d->op, sizeof d->op, "%s", op);
    snprintf(d->scope, sizeof d->scope, "%s",
             ctx->exec_node ? ctx->exec_node->scope
             : ctx->vjp_of  ? ctx->vjp_of->scope
                            : duet_scope_path(ctx));
    snprintf(d->file, sizeof d->file, "%s", ctx->cur_site.file ? ctx->cur_site.file : "");
    d->line = ctx->cur_site.line;
    vsnprintf(d->message, sizeof d->message, fmt, ap);
    /* the scope stack describes the failure only while the failing op is being
     * called: not when a plan runs the node, nor when a gradient emits it */
    if (!ctx->exec_node && !ctx->vjp_of) {
        stack_text(ctx, d, d->stack, sizeof d->stack);
        layer_args_text(ctx, d->layer_args, sizeof d->layer_args);
    }
}

void duet_vfail(duet_ctx *ctx, duet_status code, const char *fmt, va_list ap)
{
    bool grad = ctx->vjp_of || (ctx->exec_node && ctx->exec_node->grad_of);
    vfail_as(ctx, code,
             ctx->cur_op < DUET_OP_COUNT && ctx->cur_site.file
                 ? duet_api_name(ctx->cur_op, ctx->cur_site, grad)
                 : "",
             fmt, ap);
}

int duet_fail_as(duet_ctx *ctx, duet_status code, const char *op, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_as(ctx, code, op, fmt, ap);
    va_end(ap);
    return -1;
}

int duet_fail(duet_ctx *ctx, duet_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    duet_vfail(ctx, code, fmt, ap);
    va_end(ap);
    return -1;
}

void duet_ctx_fail(duet_ctx *ctx, duet_status code, const char *fmt, ...)
{
    duet_site saved = ctx->cur_site;
    ctx->cur_site = (duet_site){0};
    va_list ap;
    va_start(ap, fmt);
    duet_vfail(ctx, code, fmt, ap);
    va_end(ap);
    ctx->cur_site = saved;
}

const char *duet_status_name(duet_status s)
{
    static const char *const names[] = {
        [DUET_OK] = "ok",
        [DUET_ERR_ARG] = "bad argument",
        [DUET_ERR_SHAPE] = "shape error",
        [DUET_ERR_DTYPE] = "dtype error",
        [DUET_ERR_AXIS] = "axis error",
        [DUET_ERR_INDEX] = "index error",
        [DUET_ERR_OOM] = "out of memory",
        [DUET_ERR_HOST_BRANCH] = "host branch on a symbolic tensor",
        [DUET_ERR_TRACE] = "trace error",
        [DUET_ERR_GUARD] = "guard failed",
        [DUET_ERR_RETRACE_STORM] = "retrace storm",
        [DUET_ERR_LEAKED] = "leaked symbolic tensor",
        [DUET_ERR_NUMERICS] = "non-finite value",
        [DUET_ERR_INTERNAL] = "internal error",
    };
    return (unsigned)s < sizeof names / sizeof *names ? names[s] : "unknown error";
}

void duet_diag_print(FILE *f, const duet_diag *d)
{
    if (!d || d->code == DUET_OK) return;
    fprintf(f, "error: %s: %s\n", duet_status_name(d->code), d->message);
    if (d->op[0]) fprintf(f, "  op:       %s\n", d->op);
    if (d->scope[0]) fprintf(f, "  scope:    %s\n", d->scope);
    if (d->file[0]) fprintf(f, "  at:       %s:%d\n", d->file, d->line);
    if (d->stack[0]) fprintf(f, "  stack:    %s\n", d->stack);
    if (d->read_type[0])
        fprintf(f, "  tensor:   %s%s%s\n", d->read_type,
                d->producer_inputs[0] ? ", produced by " : "", d->producer_inputs);
    if (d->layer_args[0]) fprintf(f, "  args:     Arguments received by %s\n", d->layer_args);
    if (d->explanation[0]) fprintf(f, "  why:      %s\n", d->explanation);
    if (d->fix[0]) fprintf(f, "  fix:      %s\n", d->fix);
}

/* ---- scopes ---- */

void duet_scope_push_layer_at(duet_site s, duet_ctx *ctx, const char *name,
                              const char *layer_class)
{
    if (ctx->nscope < DUET_MAX_SCOPE)
        ctx->scope[ctx->nscope++] =
            (duet_scope_frame){.name = name, .layer_class = layer_class, .site = s};
    else
        ctx->scope_overflow++;
    ctx->scope_cache = NULL;
}

void duet_scope_push(duet_ctx *ctx, const char *name)
{
    duet_scope_push_layer_at((duet_site){0}, ctx, name, NULL);
}

void duet_scope_arg(duet_ctx *ctx, const char *name, const duet_tensor *t)
{
    if (ctx->scope_overflow || ctx->nscope == 0) return; /* the innermost frame is not kept */
    duet_scope_frame *f = &ctx->scope[ctx->nscope - 1];
    if (f->nargs == DUET_MAX_LAYER_ARGS) return;
    f->arg_name[f->nargs] = name;
    f->arg[f->nargs++] = t;
}

const char *duet_scope_layer_class(const duet_ctx *ctx)
{
    const duet_scope_frame *f = innermost_layer(ctx);
    return f ? f->layer_class : NULL;
}

void duet_scope_pop(duet_ctx *ctx)
{
    if (ctx->scope_overflow)
        ctx->scope_overflow--;
    else if (ctx->nscope > 0)
        ctx->nscope--;
    ctx->scope_cache = NULL;
}

/* The joined path is built once per push/pop and shared by the nodes made under it. */
const char *duet_scope_path(duet_ctx *ctx)
{
    if (ctx->scope_cache) return ctx->scope_cache;
    char buf[1024];
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < ctx->nscope && len < sizeof buf - 1; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", i ? "/" : "", ctx->scope[i].name);
    if (len >= sizeof buf) len = sizeof buf - 1;
    char *s = duet_arena_strdup(ctx, &duet_cur_graph(ctx)->arena, buf);
    ctx->scope_cache = s ? s : "";
    return ctx->scope_cache;
}

/* ---- variables ---- */

/* A variable made while tracing would exist once per trace, where eager mode makes
 * one per call: refused, with the fix. */
static void var_new_in_trace_fail(duet_site s, duet_ctx *ctx, const char *name)
{
    if (ctx->err.code) return; /* sticky: keep the first error and its explanation */
    ctx->cur_site = s;
    duet_fail_as(ctx, DUET_ERR_TRACE, "duet_var_new",
                 "variable '%s' created inside '%s' while it is being traced", name,
                 ctx->trace_names[ctx->tracing->id - 1]);
    snprintf(ctx->err.explanation, sizeof ctx->err.explanation,
             "A traced function's body runs only when it traces, so a variable created there "
             "would be created once per trace and then shared by every call, while eager mode "
             "creates a fresh one on every call: the two modes would compute different things. "
             "Graph mode supports only variables created outside the function (tf.function "
             "allows them on its first call only: \"tf.function only supports singleton "
             "tf.Variables created on the first call\").");
    snprintf(ctx->err.fix, sizeof ctx->err.fix,
             "create '%s' once, outside the function (at set-up), and capture it: pass it in "
             "through the function's user pointer and use duet_var_read/duet_assign in the body.",
             name);
}

duet_var *duet_var_new_at(duet_site s, duet_ctx *ctx, const char *name, duet_dtype dtype,
                          int rank, const int64_t *shape)
{
    if (ctx->tracing) {
        var_new_in_trace_fail(s, ctx, name);
        return NULL;
    }
    ctx->cur_site = (duet_site){0};
    if (rank < 0 || rank > DUET_MAX_RANK) {
        duet_ctx_fail(ctx, DUET_ERR_ARG, "variable '%s': rank %d is out of range 0..%d", name,
                      rank, DUET_MAX_RANK);
        return NULL;
    }
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0 || (shape[i] && n > INT64_MAX / 4 / shape[i])) {
            duet_ctx_fail(ctx, DUET_ERR_ARG, "variable '%s': bad dim %lld", name,
                          (long long)shape[i]);
            return NULL;
        }
        n *= shape[i];
    }
    if (ctx->nvars == ctx->cap_vars) {
        int cap = ctx->cap_vars ? ctx->cap_vars * 2 : 16;
        duet_var **nv = realloc(ctx->vars, (size_t)cap * sizeof *nv);
        if (!nv) goto oom;
        ctx->vars = nv;
        ctx->cap_vars = cap;
    }
    size_t bytes = (size_t)n * duet_dtype_size(dtype);
    duet_var *v = calloc(1, sizeof *v);
    void *data = var_buf_alloc(ctx, bytes);
    char *nm = strdup(name);
    if (!v || !data || !nm) {
        free(v);
        var_buf_free(ctx, data);
        free(nm);
        goto oom;
    }
    memset(data, 0, bytes);
    v->id = ctx->nvars;
    v->name = nm;
    v->value.dtype = dtype;
    v->value.rank = rank;
    for (int i = 0; i < rank; i++) v->value.shape[i] = shape[i];
    v->value.data = data;
    ctx->vars[ctx->nvars++] = v;
    return v;
oom:
    duet_ctx_fail(ctx, DUET_ERR_OOM, "variable '%s'", name);
    return NULL;
}

const char *duet_var_name(const duet_var *v) { return v->name; }
const duet_tensor *duet_var_value(const duet_var *v) { return &v->value; }
float *duet_var_f32(duet_var *v) { return v->value.dtype == DUET_F32 ? v->value.data : NULL; }
int duet_var_count(const duet_ctx *ctx) { return ctx->nvars; }
duet_var *duet_var_at(const duet_ctx *ctx, int i)
{
    return i >= 0 && i < ctx->nvars ? ctx->vars[i] : NULL;
}

/* Variable buffers carry a header so that an old buffer can be retired: tensors read
 * earlier in this step may still alias it, so assign never overwrites in place. */
static void *var_buf_alloc(duet_ctx *ctx, size_t bytes)
{
    duet_retired *r = duet_heap_alloc(ctx, sizeof *r + bytes);
    if (!r) return NULL;
    duet_prefault(r, sizeof *r + bytes); /* written whole, by an assign or the zeroing */
    r->bytes = bytes;
    r->next = NULL;
    return r + 1;
}

static void var_buf_free(duet_ctx *ctx, void *data)
{
    if (!data) return;
    duet_retired *r = (duet_retired *)data - 1;
    duet_heap_free(ctx, r, sizeof *r + r->bytes);
}

/* Retires a buffer that tensors of this step may still alias: at the next reset it
 * becomes the variable's spare (or is freed). */
static void retire(duet_ctx *ctx, duet_var *v, void *data)
{
    duet_retired *r = (duet_retired *)data - 1;
    r->owner = v;
    r->next = ctx->retired;
    ctx->retired = r;
}

static size_t var_bytes(const duet_var *v)
{
    return (size_t)duet_numel(&v->value) * duet_dtype_size(v->value.dtype);
}

int duet_var_reserve_spare(duet_ctx *ctx, duet_var *v)
{
    if (!v->spare) v->spare = var_buf_alloc(ctx, var_bytes(v));
    return v->spare ? 0 : -1;
}

void *duet_var_stage_buffer(duet_ctx *ctx, duet_var *v)
{
    if (!v->staged && ctx->nstaged == ctx->cap_staged) {
        int cap = ctx->cap_staged ? 2 * ctx->cap_staged : 16;
        duet_var **l = realloc(ctx->staged, sizeof *l * (size_t)cap);
        if (!l) {
            duet_fail(ctx, DUET_ERR_OOM, "assign to '%s'", v->name);
            return NULL;
        }
        ctx->staged = l;
        ctx->cap_staged = cap;
    }
    if (duet_var_reserve_spare(ctx, v)) {
        duet_fail(ctx, DUET_ERR_OOM, "assign to '%s'", v->name);
        return NULL;
    }
    void *fresh = v->spare;
    v->spare = NULL;
    if (v->staged) /* a second assign in one plan: reads between them alias the first */
        retire(ctx, v, v->staged);
    else
        ctx->staged[ctx->nstaged++] = v;
    v->staged = fresh;
    return fresh;
}

int duet_var_stage(duet_ctx *ctx, duet_var *v, const void *src)
{
    void *dst = duet_var_stage_buffer(ctx, v);
    if (!dst) return -1;
    memcpy(dst, src, var_bytes(v));
    return 0;
}

const void *duet_var_current(const duet_var *v) { return v->staged ? v->staged : v->value.data; }

int duet_print_stage(duet_ctx *ctx, const char *line, size_t len)
{
    if (ctx->print_len + len + 1 > ctx->print_cap) {
        size_t cap = ctx->print_cap ? ctx->print_cap : 256;
        while (cap < ctx->print_len + len + 1) cap *= 2;
        char *b = realloc(ctx->print_staged, cap);
        if (!b) return duet_fail(ctx, DUET_ERR_OOM, "a printed line");
        ctx->print_staged = b;
        ctx->print_cap = cap;
    }
    memcpy(ctx->print_staged + ctx->print_len, line, len);
    ctx->print_staged[ctx->print_len + len] = '\n';
    ctx->print_len += len + 1;
    ctx->print_staged_lines++;
    return 0;
}

void duet_vars_commit(duet_ctx *ctx)
{
    for (int i = 0; i < ctx->nstaged; i++) {
        duet_var *v = ctx->staged[i];
        retire(ctx, v, v->value.data);
        v->value.data = v->staged;
        v->staged = NULL;
    }
    ctx->nstaged = 0;
    if (ctx->print_staged_lines && ctx->print_sink) {
        /* flushed at once, as tf.print does, so the lines interleave with the
         * program's other output in the order things happened */
        fwrite(ctx->print_staged, 1, ctx->print_len, ctx->print_sink);
        fflush(ctx->print_sink);
    }
    ctx->print_count += ctx->print_staged_lines;
    ctx->print_staged_lines = 0;
    ctx->print_len = 0;
}

void duet_vars_abort(duet_ctx *ctx)
{
    for (int i = 0; i < ctx->nstaged; i++) {
        duet_var *v = ctx->staged[i];
        retire(ctx, v, v->staged);
        v->staged = NULL;
    }
    ctx->nstaged = 0;
    ctx->print_staged_lines = 0;
    ctx->print_len = 0;
}
