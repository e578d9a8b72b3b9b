/* Host output as an op: duet_print, in the spirit of tf.print and jax.debug.print.
 *
 * A printf in a traced body runs while the body is traced, so once, not on every
 * call. duet_print is a graph node instead: it prints when the op runs, eagerly at
 * once and in graph mode every time the plan runs. Its line is a staged effect like
 * a variable write (see duet_print_stage): a plan prints only if it runs to the end,
 * so a call whose guard fails and retraces prints once, and the evaluation behind
 * specialize and guard prints nothing. The op returns its input unchanged, so it can
 * be chained into a computation, and the passes never remove, merge, fold or reorder
 * it (DUET_OPF_HOST_IO). */
#include <stdlib.h>

#include "../internal.h"

/* Elements shown at each end of a long dim, as tf.print's summarize=3: a dim longer
 * than twice this prints as [0 1 2 ... 7 8 9]. */
#define PRINT_EDGE 3

/* The line being formatted; a failed allocation is remembered and reported once. */
typedef struct line_buf {
    char *buf;
    size_t len, cap;
    bool oom;
} line_buf;

static void put(line_buf *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(line_buf *l, const char *fmt, ...)
{
    if (l->oom) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->buf ? l->buf + l->len : NULL, l->buf ? l->cap - l->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (l->len + (size_t)n + 1 > l->cap) {
        size_t cap = l->cap ? l->cap : 128;
        while (cap < l->len + (size_t)n + 1) cap *= 2;
        char *b = realloc(l->buf, cap);
        if (!b) {
            l->oom = true;
            return;
        }
        l->buf = b;
        l->cap = cap;
        va_start(ap, fmt);
        vsnprintf(l->buf + l->len, l->cap - l->len, fmt, ap);
        va_end(ap);
    }
    l->len += (size_t)n;
}

static void put_element(line_buf *l, const duet_tensor *x, int64_t i)
{
    switch (x->dtype) {
    case DUET_F32: put(l, "%g", (double)((const float *)x->data)[i]); break;
    case DUET_I32: put(l, "%d", (int)((const int32_t *)x->data)[i]); break;
    case DUET_BOOL8: put(l, "%s", ((const uint8_t *)x->data)[i] ? "true" : "false"); break;
    }
}

/* Dims d.. of x at element offset off, nested brackets on one line. */
static void put_dims(line_buf *l, const duet_tensor *x, int d, int64_t off, const int64_t *stride)
{
    if (d == x->rank) {
        put_element(l, x, off);
        return;
    }
    int64_t n = x->shape[d];
    put(l, "[");
    for (int64_t i = 0; i < n; i++) {
        if (i) put(l, " ");
        if (n > 2 * PRINT_EDGE && i == PRINT_EDGE) {
            put(l, "...");
            i = n - PRINT_EDGE - 1;
            continue;
        }
        put_dims(l, x, d + 1, off + i * stride[d], stride);
    }
    put(l, "]");
}

/* attrs: p = the label, a copy in the graph's (or the tape's) arena. */
static int print_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                       duet_type *out)
{
    (void)c, (void)a, (void)nin;
    duet_type_of(in[0], out);
    return 0;
}

static int print_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                        duet_tensor *out)
{
    (void)nin;
    const duet_tensor *x = in[0];
    int64_t stride[DUET_MAX_RANK], n = 1;
    for (int d = x->rank - 1; d >= 0; d--) {
        stride[d] = n;
        n *= x->shape[d];
    }
    line_buf l = {0};
    put(&l, "%s: ", (const char *)a->p);
    put_dims(&l, x, 0, 0, stride);
    int rc = l.oom ? duet_fail(c, DUET_ERR_OOM, "formatting a printed line")
                   : duet_print_stage(c, l.buf, l.len);
    free(l.buf);
    /* a copy, not an alias: the plan may reuse x's buffer once print has read it */
    if (!rc && n) memcpy(out->data, x->data, (size_t)n * duet_dtype_size(x->dtype));
    return rc;
}

/* The gradient passes through unchanged and prints nothing (print a gradient with a
 * duet_print of its own): printing a value must not cut it out of the loss's graph. */
static void print_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                      const bool *need)
{
    (void)c, (void)n;
    if (need[0]) gx[0] = gy;
}

static void print_attr_text(const duet_attrs *a, duet_text *t)
{
    duet_text_put(t, " label=\"%s\"", (const char *)a->p);
}

const duet_op_def duet_opdef_print = {.name = "print",
                                      .nin = 1,
                                      .flags = DUET_OPF_HOST_IO,
                                      .infer = print_infer,
                                      .kernel = print_kernel,
                                      .vjp = print_vjp,
                                      .attr_text = print_attr_text};

duet_tensor *duet_print_at(duet_site s, duet_ctx *c, const char *label, duet_tensor *x)
{
    if (c->err.code) return &c->poison;
    c->cur_op = DUET_OP_PRINT, c->cur_site = s;
    if (!label) {
        duet_fail(c, DUET_ERR_ARG, "label is NULL");
        return &c->poison;
    }
    duet_attrs a = {0};
    /* the node outlives the caller's string when it is traced into a plan */
    if (!(a.p = duet_arena_strdup(c, &duet_cur_graph(c)->arena, label))) {
        duet_fail(c, DUET_ERR_OOM, "a printed line's label");
        return &c->poison;
    }
    return duet_apply(c, s, DUET_OP_PRINT, &x, 1, &a);
}

void duet_ctx_set_print_sink(duet_ctx *ctx, FILE *sink) { ctx->print_sink = sink; }

int64_t duet_ctx_print_count(const duet_ctx *ctx) { return ctx->print_count; }
