/* duet_print: host output as an op. Its format, the same lines in both modes, a line
 * on every call of a plan (not only while tracing), once per call even when a guard
 * fails and retraces, kept by the passes, a pass-through gradient, and clean errors. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* A context whose printed lines land in memory. */
typedef struct capture {
    duet_ctx *ctx;
    FILE *sink;
    char *text;
    size_t len;
} capture;

static void capture_open(capture *c)
{
    c->ctx = duet_ctx_new();
    c->text = NULL;
    c->len = 0;
    c->sink = open_memstream(&c->text, &c->len);
    assert_non_null(c->ctx);
    assert_non_null(c->sink);
    duet_ctx_set_print_sink(c->ctx, c->sink);
}

/* What was printed so far (valid until the next print or close). */
static const char *captured(capture *c)
{
    fflush(c->sink);
    return c->text ? c->text : "";
}

static void capture_close(capture *c)
{
    duet_ctx_free(c->ctx);
    fclose(c->sink);
    free(c->text);
}

static duet_tensor *vec(duet_ctx *ctx, int n, const float *x)
{
    return duet_constant(ctx, DUET_F32, 1, (int64_t[]){n}, x);
}

static void call_ok(duet_ctx *ctx, duet_fn *fn, duet_tensor *const *in, duet_tensor **out)
{
    int rc = duet_fn_call(fn, in, out);
    if (rc) duet_diag_print(stderr, duet_ctx_error(ctx));
    assert_int_equal(rc, 0);
}

static const duet_policy policies[3] = {DUET_POLICY_STRICT, DUET_POLICY_SPECIALIZE,
                                        DUET_POLICY_GUARD};

/* ---- the line's form ---- */

static void test_format(void **st)
{
    (void)st;
    capture c;
    capture_open(&c);
    duet_ctx *ctx = c.ctx;
    float ten[30];
    for (int i = 0; i < 30; i++) ten[i] = (float)i;
    duet_print(ctx, "scalar", duet_scalar(ctx, 2.5f));
    duet_print(ctx, "ints", duet_constant(ctx, DUET_I32, 1, (int64_t[]){3}, (int32_t[]){1, -2, 3}));
    duet_print(ctx, "bools", duet_constant(ctx, DUET_BOOL8, 2, (int64_t[]){2, 2},
                                           (uint8_t[]){1, 0, 0, 1}));
    duet_print(ctx, "long", vec(ctx, 10, ten));
    duet_print(ctx, "matrix", duet_constant(ctx, DUET_F32, 2, (int64_t[]){3, 10}, ten));
    duet_print(ctx, "empty", vec(ctx, 0, ten));
    duet_tensor *x = vec(ctx, 3, (float[]){0.5f, -1, 1e-3f});
    duet_tensor *y = duet_print(ctx, "x", x);
    assert_int_equal(duet_ctx_status(ctx), DUET_OK);
    assert_string_equal(captured(&c), "scalar: 2.5\n"
                                      "ints: [1 -2 3]\n"
                                      "bools: [[true false] [false true]]\n"
                                      "long: [0 1 2 ... 7 8 9]\n"
                                      "matrix: [[0 1 2 ... 7 8 9] [10 11 12 ... 17 18 19] "
                                      "[20 21 22 ... 27 28 29]]\n"
                                      "empty: []\n"
                                      "x: [0.5 -1 0.001]\n");
    assert_int_equal(duet_ctx_print_count(ctx), 7);
    /* a pass-through */
    assert_int_equal(y->rank, 1);
    assert_int_equal(y->shape[0], 3);
    for (int i = 0; i < 3; i++) assert_true(duet_get_f32(y, i) == duet_get_f32(x, i));
    /* no sink: counted, written nowhere */
    duet_ctx_set_print_sink(ctx, NULL);
    duet_print(ctx, "nowhere", x);
    assert_int_equal(duet_ctx_print_count(ctx), 8);
    assert_null(strstr(captured(&c), "nowhere"));
    capture_close(&c);
}

/* ---- both modes, every call ---- */

static void print_and_sum(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_tensor *x = duet_print(ctx, "x", in[0]);
    duet_tensor *s = duet_print(ctx, "sum", duet_sum(ctx, x, 0, false));
    out[0] = duet_mul(ctx, s, duet_scalar(ctx, 2));
}

/* Runs print_and_sum on inputs of varying length; returns the printed text (malloc'ed)
 * and the trace count. */
static char *run_print_and_sum(duet_exec_mode mode, duet_policy policy, int *traces)
{
    static const float xs[3][4] = {{1, 2}, {-1, 0.5f, 3}, {4, 4, 4, 4}};
    static const int lens[3] = {2, 3, 4};
    capture c;
    capture_open(&c);
    duet_fn *fn = duet_fn_new(c.ctx, "print_and_sum", print_and_sum, 1, 1, NULL);
    duet_fn_set_mode(fn, mode);
    duet_fn_set_policy(fn, policy);
    assert_int_equal(duet_fn_relax(fn, "(N)"), 0);
    for (int i = 0; i < 3; i++) {
        duet_tensor *x = vec(c.ctx, lens[i], xs[i]), *y;
        call_ok(c.ctx, fn, &x, &y);
        duet_ctx_reset(c.ctx);
    }
    assert_int_equal(duet_ctx_print_count(c.ctx), 6);
    *traces = duet_fn_trace_count(fn);
    char *text = strdup(captured(&c));
    duet_fn_free(fn);
    capture_close(&c);
    return text;
}

static void test_both_modes_print_on_every_call(void **st)
{
    (void)st;
    int traces;
    char *eager = run_print_and_sum(DUET_EAGER, DUET_POLICY_STRICT, &traces);
    assert_string_equal(eager, "x: [1 2]\nsum: 3\n"
                               "x: [-1 0.5 3]\nsum: 2.5\n"
                               "x: [4 4 4 4]\nsum: 16\n");
    for (int p = 0; p < 3; p++) {
        char *graph = run_print_and_sum(DUET_GRAPH, policies[p], &traces);
        assert_string_equal(graph, eager);
        assert_int_equal(traces, 1); /* printed on calls that ran the plan only */
        free(graph);
    }
    free(eager);
}

/* ---- a failed guard retraces without printing twice ---- */

/* The host read comes after the print and depends on it, so a failing guard stops a
 * plan that has already run the print. */
static void print_then_branch(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out,
                              void *user)
{
    (void)user;
    duet_tensor *x = duet_print(ctx, "x", in[0]);
    bool positive = DUET_BOOL(ctx, duet_greater(ctx, duet_sum(ctx, x, 0, false), duet_scalar(ctx, 0)));
    out[0] = positive ? x : duet_neg(ctx, x);
}

static void test_failed_guard_prints_once(void **st)
{
    (void)st;
    static const float xs[3][2] = {{1, 2}, {-1, -2}, {3, 4}};
    for (int p = 1; p < 3; p++) { /* specialize: evaluating the trace prints nothing */
        capture c;
        capture_open(&c);
        duet_fn *fn = duet_fn_new(c.ctx, "print_then_branch", print_then_branch, 1, 1, NULL);
        duet_fn_set_mode(fn, DUET_GRAPH);
        duet_fn_set_policy(fn, policies[p]);
        for (int i = 0; i < 3; i++) {
            duet_tensor *x = vec(c.ctx, 2, xs[i]), *y;
            call_ok(c.ctx, fn, &x, &y);
            if (policies[p] == DUET_POLICY_GUARD) /* |x| */
                assert_true(duet_get_f32(y, 0) == (xs[i][0] < 0 ? -xs[i][0] : xs[i][0]));
            duet_ctx_reset(c.ctx);
        }
        assert_int_equal(duet_fn_trace_count(fn), policies[p] == DUET_POLICY_GUARD ? 2 : 1);
        assert_string_equal(captured(&c), "x: [1 2]\nx: [-1 -2]\nx: [3 4]\n");
        assert_int_equal(duet_ctx_print_count(c.ctx), 3);
        duet_fn_free(fn);
        capture_close(&c);
    }
}

/* A call that stops with an error after the print prints nothing in graph mode: the
 * line belongs to a call that did not happen. An id out of the table's range is found
 * by the gather kernel, which runs after the print. */
static void print_then_gather(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_tensor *table = duet_constant(ctx, DUET_F32, 2, (int64_t[]){3, 1}, (float[]){1, 2, 3});
    out[0] = duet_gather(ctx, table, duet_print(ctx, "ids", in[0]));
}

static void test_failed_call_prints_nothing(void **st)
{
    (void)st;
    capture c;
    capture_open(&c);
    duet_fn *fn = duet_fn_new(c.ctx, "print_then_gather", print_then_gather, 1, 1, NULL);
    duet_fn_set_mode(fn, DUET_GRAPH);
    duet_tensor *ids = duet_constant(c.ctx, DUET_I32, 1, (int64_t[]){2}, (int32_t[]){0, 2}), *y;
    call_ok(c.ctx, fn, &ids, &y);
    ids = duet_constant(c.ctx, DUET_I32, 1, (int64_t[]){2}, (int32_t[]){1, 7});
    assert_int_equal(duet_fn_call(fn, &ids, &y), -1);
    tu_expect_error(c.ctx, DUET_ERR_INDEX, "gather", "out of range");
    ids = duet_constant(c.ctx, DUET_I32, 1, (int64_t[]){2}, (int32_t[]){1, 0});
    call_ok(c.ctx, fn, &ids, &y); /* the next call that commits does not emit it either */
    assert_string_equal(captured(&c), "ids: [0 2]\nids: [1 0]\n");
    assert_int_equal(duet_ctx_print_count(c.ctx), 2);
    duet_fn_free(fn);
    capture_close(&c);
}

/* ---- the passes keep it ---- */

/* A print whose result nobody reads (DCE), two alike (CSE) and a print of a constant
 * (folding would run it once, at compile time). */
static void unused_prints(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_print(ctx, "unused", in[0]);
    duet_print(ctx, "c", duet_scalar(ctx, 3));
    duet_print(ctx, "c", duet_scalar(ctx, 3));
    out[0] = duet_mul(ctx, in[0], duet_scalar(ctx, 2));
}

static void test_passes_keep_prints(void **st)
{
    (void)st;
    capture c;
    capture_open(&c);
    duet_fn *fn = duet_fn_new(c.ctx, "unused_prints", unused_prints, 1, 1, NULL);
    duet_fn_set_mode(fn, DUET_GRAPH);
    for (int i = 0; i < 2; i++) {
        duet_tensor *x = vec(c.ctx, 2, (float[]){1, 2}), *y;
        call_ok(c.ctx, fn, &x, &y);
        duet_ctx_reset(c.ctx);
    }
    assert_string_equal(captured(&c), "unused: [1 2]\nc: 3\nc: 3\nunused: [1 2]\nc: 3\nc: 3\n");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    duet_graph_print(f, duet_fn_graph(fn));
    fclose(f);
    int prints = 0;
    for (const char *s = text; (s = strstr(s, "= print ")); s++) prints++;
    assert_int_equal(prints, 3);
    assert_non_null(strstr(text, "label=\"unused\""));
    free(text);
    duet_fn_free(fn);
    capture_close(&c);
}

/* ---- gradient ---- */

typedef struct grad_model {
    duet_var *w;
    float grad[2];
} grad_model;

/* loss = sum(print(w * x)); d loss / d w = x, and the backward pass prints nothing */
static void printed_loss(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    grad_model *m = user;
    duet_tensor *h = duet_print(ctx, "h", duet_mul(ctx, duet_var_read(ctx, m->w), in[0]));
    duet_tensor *loss = duet_sum(ctx, h, 0, false), *g;
    duet_grad(ctx, loss, &m->w, 1, &g);
    out[0] = g;
}

static void test_gradient_passes_through(void **st)
{
    (void)st;
    for (int mode = 0; mode < 2; mode++) {
        capture c;
        capture_open(&c);
        grad_model m = {.w = duet_var_new(c.ctx, "w", DUET_F32, 1, (int64_t[]){2})};
        duet_var_f32(m.w)[0] = 1, duet_var_f32(m.w)[1] = 2;
        duet_fn *fn = duet_fn_new(c.ctx, "printed_loss", printed_loss, 1, 1, &m);
        duet_fn_set_mode(fn, mode ? DUET_GRAPH : DUET_EAGER);
        duet_tensor *x = vec(c.ctx, 2, (float[]){3, -4}), *g;
        call_ok(c.ctx, fn, &x, &g);
        assert_true(duet_get_f32(g, 0) == 3 && duet_get_f32(g, 1) == -4);
        assert_string_equal(captured(&c), "h: [3 -8]\n");
        duet_fn_free(fn);
        capture_close(&c);
    }
}

/* ---- errors ---- */

static void print_without_label(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out,
                                void *user)
{
    (void)user;
    out[0] = duet_print(ctx, NULL, in[0]);
}

static void print_in_branch(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    out[0] = duet_print(ctx, "branch", in[0]);
}

static void test_bad_input_is_an_error(void **st)
{
    (void)st;
    capture c;
    capture_open(&c);
    duet_ctx *ctx = c.ctx;
    duet_tensor *x = vec(ctx, 2, (float[]){1, 2});
    assert_true(duet_is_poison(duet_print(ctx, "x", NULL)));
    tu_expect_error(ctx, DUET_ERR_ARG, "print", "NULL");
    assert_true(duet_is_poison(duet_print(ctx, NULL, x)));
    tu_expect_error(ctx, DUET_ERR_ARG, "print", "label is NULL");
    assert_true(duet_is_poison(duet_print(ctx, "x", &(duet_tensor){.flags = DUET_TENSOR_POISON})));
    tu_expect_error(ctx, DUET_ERR_ARG, "print", "poisoned");
    /* while tracing too */
    duet_fn *fn = duet_fn_new(ctx, "print_without_label", print_without_label, 1, 1, NULL);
    duet_fn_set_mode(fn, DUET_GRAPH);
    duet_tensor *y;
    assert_int_equal(duet_fn_call(fn, &x, &y), -1);
    tu_expect_error(ctx, DUET_ERR_ARG, "print", "label is NULL");
    duet_fn_free(fn);
    /* both branches of a cond run: a print in one would print for the untaken one too */
    duet_tensor *pred = duet_constant(ctx, DUET_BOOL8, 0, NULL, (uint8_t[]){1});
    assert_int_equal(duet_cond(ctx, pred, print_in_branch, print_in_branch, &x, 1, &y, 1, NULL),
                     -1);
    tu_expect_error(ctx, DUET_ERR_TRACE, "cond", "prints");
    assert_int_equal(duet_ctx_print_count(ctx), 1); /* eagerly the then branch printed at once */
    capture_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_both_modes_print_on_every_call),
        cmocka_unit_test(test_failed_guard_prints_once),
        cmocka_unit_test(test_failed_call_prints_nothing),
        cmocka_unit_test(test_passes_keep_prints),
        cmocka_unit_test(test_gradient_passes_through),
        cmocka_unit_test(test_bad_input_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
