#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

bool tu_no_relax;

void tu_fill(float *x, int n, unsigned seed, float lo, float hi)
{
    uint32_t s = seed * 2654435761u + 12345u;
    for (int i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = lo + (hi - lo) * (float)(s >> 8) / (float)(1u << 24);
    }
}

static int64_t numel_of(const tu_input *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= t->shape[i];
    return n;
}

/* Each input becomes a variable so gradients can be taken with duet_grad. */
static void make_vars(duet_ctx *ctx, const tu_input *in, int nin, duet_var **vars)
{
    for (int i = 0; i < nin; i++) {
        char name[16];
        snprintf(name, sizeof name, "in%d", i);
        vars[i] = duet_var_new(ctx, name, in[i].dtype, in[i].rank, in[i].shape);
        assert_non_null(vars[i]);
        size_t bytes = (size_t)numel_of(&in[i]) * duet_dtype_size(in[i].dtype);
        if (bytes) memcpy((void *)duet_var_value(vars[i])->data, in[i].data, bytes);
    }
}

static duet_tensor *call_body(duet_ctx *ctx, tu_body body, void *user, duet_var **vars, int nin)
{
    duet_tensor *x[16];
    for (int i = 0; i < nin; i++) x[i] = duet_var_read(ctx, vars[i]);
    return body(ctx, x, user);
}

duet_status tu_run(tu_body body, void *user, const tu_input *in, int nin, float *out, int cap,
                   int *rank, int64_t *shape)
{
    duet_ctx *ctx = duet_ctx_new();
    duet_var *vars[16];
    make_vars(ctx, in, nin, vars);
    duet_tensor *y = call_body(ctx, body, user, vars, nin);
    duet_status st = duet_ctx_status(ctx);
    if (st == DUET_OK) {
        *rank = y->rank;
        memcpy(shape, y->shape, sizeof(int64_t) * (size_t)y->rank);
        int64_t n = duet_numel(y);
        for (int64_t i = 0; i < n && i < cap; i++) out[i] = duet_get_f32(y, i);
    }
    duet_ctx_free(ctx);
    return st;
}

/* ---- graph mode: the same body traced ---- */

typedef struct graph_call {
    tu_body body;
    void *user;
    duet_var **vars; /* gradient runs read variables; forward runs take arguments */
    int nin;
    const float *w;
} graph_call;

static void forward_fn(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    graph_call *g = user;
    out[0] = g->body(ctx, (duet_tensor **)in, g->user);
}

/* Runs body traced with the inputs as arguments, dims relaxed by spec (NULL: none). */
static void graph_forward(tu_body body, void *user, const tu_input *in, int nin,
                          const char *spec, const duet_tensor *expect)
{
    duet_ctx *ctx = duet_ctx_new();
    graph_call gc = {body, user, NULL, nin, NULL};
    duet_fn *fn = duet_fn_new(ctx, "tu_forward", forward_fn, nin, 1, &gc);
    if (spec) assert_int_equal(duet_fn_relax(fn, spec), 0);
    duet_tensor *args[16], *y = NULL;
    for (int i = 0; i < nin; i++) args[i] = duet_constant(ctx, in[i].dtype, in[i].rank, in[i].shape, in[i].data);
    int rc = duet_fn_call(fn, args, &y);
    if (rc) duet_diag_print(stderr, duet_ctx_error(ctx));
    assert_int_equal(rc, 0);
    assert_int_equal(y->rank, expect->rank);
    for (int d = 0; d < y->rank; d++) assert_int_equal(y->shape[d], expect->shape[d]);
    for (int64_t k = 0; k < duet_numel(y); k++) {
        float a = duet_get_f32(y, k), b = duet_get_f32(expect, k);
        if (!(a == b || (isnan(a) && isnan(b))))
            fail_msg("graph (%s) element %lld: %.9g, eager %.9g", spec ? spec : "exact shapes",
                     (long long)k, a, b);
    }
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

/* "(None,None,4) (None,7)": every dim but the last relaxed */
static void leading_spec(const tu_input *in, int nin, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < nin; i++) {
        len += (size_t)snprintf(buf + len, n - len, "%s(", i ? " " : "");
        for (int d = 0; d < in[i].rank; d++)
            len += (size_t)snprintf(buf + len, n - len, "%s%s", d ? "," : "",
                                    d == in[i].rank - 1 ? "_" : "None");
        len += (size_t)snprintf(buf + len, n - len, ")");
    }
}

/* The eager output, then the same body traced twice (exact shapes, and leading dims
 * relaxed to None) must give bit-identical values: fusion reorders nothing. */
static void check_graph_forward(tu_body body, void *user, const tu_input *in, int nin)
{
    duet_ctx *ctx = duet_ctx_new();
    duet_var *vars[16];
    make_vars(ctx, in, nin, vars);
    duet_tensor *y = call_body(ctx, body, user, vars, nin);
    assert_int_equal(duet_ctx_status(ctx), DUET_OK);
    char spec[512];
    leading_spec(in, nin, spec, sizeof spec);
    graph_forward(body, user, in, nin, NULL, y);
    if (!tu_no_relax) graph_forward(body, user, in, nin, spec, y);
    duet_ctx_free(ctx);
}

/* A traced training-style step: reads the variables, loss = sum(w * y), gradients. */
static void grad_fn(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)in;
    graph_call *g = user;
    duet_tensor *y = call_body(ctx, g->body, g->user, g->vars, g->nin);
    duet_tensor *wt = duet_constant(ctx, DUET_F32, y->rank, y->shape, g->w);
    duet_tensor *loss = duet_sum(ctx, duet_mul(ctx, y, wt), 0, false);
    duet_grad(ctx, loss, g->vars, g->nin, out);
}

/* Graph-mode gradients must equal the eager ones bit for bit. */
static void check_graph_grad(tu_body body, void *user, const tu_input *in, int nin,
                             duet_var **vars, duet_ctx *ctx, const float *w, float **ga)
{
    graph_call gc = {body, user, vars, nin, w};
    duet_fn *fn = duet_fn_new(ctx, "tu_grad", grad_fn, 0, nin, &gc);
    duet_tensor *g[16];
    int rc = duet_fn_call(fn, NULL, g);
    if (rc) duet_diag_print(stderr, duet_ctx_error(ctx));
    assert_int_equal(rc, 0);
    for (int i = 0; i < nin; i++) {
        if (!in[i].diff) continue;
        for (int64_t k = 0; k < duet_numel(g[i]); k++) {
            float a = duet_get_f32(g[i], k);
            if (a != ga[i][k])
                fail_msg("graph gradient of input %d element %lld: %.9g, eager %.9g", i,
                         (long long)k, a, ga[i][k]);
        }
    }
    duet_fn_free(fn);
    duet_ctx_reset(ctx);
}

void tu_check_forward(tu_body body, void *user, const tu_input *in, int nin, int rank,
                      const int64_t *shape, const float *expect, float tol)
{
    float out[4096];
    int r = -1;
    int64_t sh[DUET_MAX_RANK];
    duet_status st = tu_run(body, user, in, nin, out, 4096, &r, sh);
    assert_int_equal(st, DUET_OK);
    check_graph_forward(body, user, in, nin);
    assert_int_equal(r, rank);
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        assert_int_equal(sh[i], shape[i]);
        n *= shape[i];
    }
    for (int64_t i = 0; i < n; i++) {
        if (!(fabsf(out[i] - expect[i]) <= tol) && !(isinf(expect[i]) && out[i] == expect[i]))
            fail_msg("element %lld: got %.9g, expected %.9g (tol %g)", (long long)i, out[i],
                     expect[i], tol);
    }
}

/* sum(w * y) in double, from the f32 output */
static double weighted_sum(const duet_tensor *y, const float *w)
{
    double s = 0;
    int64_t n = duet_numel(y);
    for (int64_t i = 0; i < n; i++) s += (double)w[i] * duet_get_f32(y, i);
    return s;
}

static double eval_loss(duet_ctx *ctx, tu_body body, void *user, duet_var **vars, int nin,
                        const float *w)
{
    duet_tensor *y = call_body(ctx, body, user, vars, nin);
    assert_int_equal(duet_ctx_status(ctx), DUET_OK);
    double s = weighted_sum(y, w);
    duet_ctx_reset(ctx);
    return s;
}

void tu_check_grad(tu_body body, void *user, const tu_input *in, int nin, double h, double atol,
                   double rtol)
{
    duet_ctx *ctx = duet_ctx_new();
    duet_var *vars[16];
    make_vars(ctx, in, nin, vars);
    duet_tensor *y = call_body(ctx, body, user, vars, nin);
    assert_int_equal(duet_ctx_status(ctx), DUET_OK);
    int64_t ny = duet_numel(y);
    float *w = malloc(sizeof(float) * (size_t)(ny ? ny : 1));
    tu_fill(w, (int)ny, 99, -1.0f, 1.0f);
    duet_tensor *wt = duet_constant(ctx, DUET_F32, y->rank, y->shape, w);
    duet_tensor *loss = duet_sum(ctx, duet_mul(ctx, y, wt), 0, false);
    duet_tensor *grads[16];
    assert_int_equal(duet_grad(ctx, loss, vars, nin, grads), 0);
    float *ga[16] = {0};
    for (int i = 0; i < nin; i++) { /* copy out: the FD runs below reset the tape */
        int64_t n = numel_of(&in[i]);
        if (!in[i].diff) continue;
        assert_int_equal(duet_numel(grads[i]), n);
        ga[i] = malloc(sizeof(float) * (size_t)(n ? n : 1));
        for (int64_t k = 0; k < n; k++) ga[i][k] = duet_get_f32(grads[i], k);
    }
    duet_ctx_reset(ctx);
    check_graph_grad(body, user, in, nin, vars, ctx, w, ga);
    for (int i = 0; i < nin; i++) {
        if (!in[i].diff) continue;
        int64_t n = numel_of(&in[i]);
        float *x = duet_var_f32(vars[i]);
        for (int64_t k = 0; k < n; k++) {
            float x0 = x[k];
            x[k] = (float)(x0 + h);
            double lp = eval_loss(ctx, body, user, vars, nin, w);
            x[k] = (float)(x0 - h);
            double lm = eval_loss(ctx, body, user, vars, nin, w);
            x[k] = x0;
            double num = (lp - lm) / (2 * h);
            if (!(fabs(ga[i][k] - num) <= atol + rtol * fabs(num)))
                fail_msg("input %d element %lld: analytic %.7g vs numeric %.7g", i, (long long)k,
                         ga[i][k], num);
        }
        free(ga[i]);
    }
    free(w);
    duet_ctx_free(ctx);
}

void tu_expect_error(duet_ctx *c, duet_status code, const char *op, const char *needle)
{
    assert_int_equal(duet_ctx_status(c), code);
    const duet_diag *d = duet_ctx_error(c);
    assert_non_null(d);
    assert_string_equal(d->op, op);
    if (!strstr(d->message, needle))
        fail_msg("message '%s' does not mention '%s'", d->message, needle);
    duet_ctx_clear_error(c);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
}

int tu_run_duet(const char *args, const char *capture, char *out, size_t cap)
{
    const char *bin = getenv("DUET_BIN");
    assert_non_null(bin);
    size_t len = strlen(bin) + strlen(args) + strlen(capture) + 32; /* paths of 4095 bytes */
    char *cmd = malloc(len);
    assert_non_null(cmd);
    snprintf(cmd, len, "%s %s %s </dev/null", bin, args, capture);
    FILE *p = popen(cmd, "r");
    free(cmd);
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int tu_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

int tu_count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

char *tu_graph_text(const duet_graph *g, bool expand_fused)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    duet_graph_write(f, g, (duet_graph_format){.expand_fused = expand_fused});
    fclose(f);
    return buf;
}

void tu_tmpdir(char *dir)
{
    strcpy(dir, "/tmp/duet_test_XXXXXX");
    assert_non_null(mkdtemp(dir));
}

void tu_rm_rf(const char *dir)
{
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

void tu_write_file(const char *dir, const char *name, const char *text, char *path, size_t pathlen)
{
    assert_true((size_t)snprintf(path, pathlen, "%s/%s", dir, name) < pathlen);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

long tu_read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = 0;
    fclose(f);
    return (long)n;
}
