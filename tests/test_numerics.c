/* Numerics checking (issue 11 #4): duet_ctx_set_check_numerics names the first op that
 * makes a NaN or Inf, the same op in both modes, also inside a fused node, in a
 * gradient and in constant folding; and duet train stops on a non-finite loss. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duet/grad.h"
#include "testutil.h"

static int log_line, sqrt_line, folded_line, rsqrt_line, row_sqrt_line;

/* scale * log(x * mask): mul, log and mul fuse into one node in graph mode; a 0 in
 * mask makes log's output -Inf. */
static void log_of_zero(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_scope_push(ctx, "model");
    duet_tensor *z = duet_mul(ctx, in[0], in[1]);
    log_line = __LINE__ + 1;
    duet_tensor *l = duet_log(ctx, z);
    out[0] = duet_sum(ctx, duet_mul(ctx, l, duet_scalar(ctx, 2.0f)), 3u, false);
    duet_scope_pop(ctx);
}

/* sum(sqrt(w * mask)): finite forward, but sqrt's gradient at 0 is Inf. */
static void sqrt_grad(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    duet_var *w = user;
    duet_scope_push(ctx, "model");
    duet_tensor *z = duet_mul(ctx, duet_var_read(ctx, w), in[1]);
    sqrt_line = __LINE__ + 1;
    duet_tensor *loss = duet_sum(ctx, duet_sqrt(ctx, z), 3u, false);
    duet_tensor *g;
    duet_grad(ctx, loss, &w, 1, &g);
    out[0] = duet_add(ctx, loss, duet_sum(ctx, g, 3u, false));
    duet_scope_pop(ctx);
}

/* log of a constant 0: graph mode folds it at trace time. */
static void folded_log(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    folded_line = __LINE__ + 1;
    duet_tensor *c = duet_log(ctx, duet_scalar(ctx, 0.0f));
    out[0] = duet_add(ctx, in[0], c);
}

/* sum(rsqrt(x - mean(x)) * mask): one row-fused node (a row sum, a per-row mean, full
 * rows); each row of x is 1, 2, 3 apart, so rsqrt makes NaN and Inf in every row. */
static void row_rsqrt(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_scope_push(ctx, "model");
    duet_tensor *xc = duet_sub(ctx, in[0], duet_mean(ctx, in[0], DUET_AXIS(1), true));
    rsqrt_line = __LINE__ + 1;
    duet_tensor *r = duet_rsqrt(ctx, xc);
    out[0] = duet_sum(ctx, duet_mul(ctx, r, in[1]), 3u, false);
    duet_scope_pop(ctx);
}

/* sum(sqrt(z * z) * mask), z = w - mean(w): sqrt's result is an output of a row-fused
 * node (its gradient reads it), and that gradient is Inf where z is 0. */
static void row_sqrt_grad(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    duet_var *w = user;
    duet_scope_push(ctx, "model");
    duet_tensor *x = duet_var_read(ctx, w);
    duet_tensor *z = duet_sub(ctx, x, duet_mean(ctx, x, DUET_AXIS(1), true));
    row_sqrt_line = __LINE__ + 1;
    duet_tensor *r = duet_sqrt(ctx, duet_mul(ctx, z, z));
    duet_tensor *loss = duet_sum(ctx, duet_mul(ctx, r, in[1]), 3u, false);
    duet_tensor *g;
    duet_grad(ctx, loss, &w, 1, &g);
    out[0] = duet_add(ctx, loss, duet_sum(ctx, g, 3u, false));
    duet_scope_pop(ctx);
}

typedef struct found {
    duet_diag diag;
    char graph[1 << 14];
} found;

/* Runs body once in mode with the check on; the diagnostic it stops with. */
static void run(duet_exec_mode mode, duet_fn_body body, found *f)
{
    duet_ctx *ctx = duet_ctx_new();
    duet_ctx_set_check_numerics(ctx, true);
    duet_var *w = duet_var_new(ctx, "w", DUET_F32, 2, (int64_t[]){2, 3});
    for (int i = 0; i < 6; i++) duet_var_f32(w)[i] = 1.0f + (float)i;
    duet_fn *fn = duet_fn_new(ctx, "step", body, 2, 1, w);
    duet_fn_set_mode(fn, mode);
    float x[6] = {1, 2, 3, 4, 5, 6}, mask[6] = {1, 1, 1, 1, 0, 1};
    duet_tensor *in[2] = {duet_constant(ctx, DUET_F32, 2, (int64_t[]){2, 3}, x),
                          duet_constant(ctx, DUET_F32, 2, (int64_t[]){2, 3}, mask)},
                *y;
    assert_int_equal(duet_fn_call(fn, in, &y), -1);
    assert_int_equal(duet_ctx_status(ctx), DUET_ERR_NUMERICS);
    f->diag = *duet_ctx_error(ctx);
    f->graph[0] = 0;
    if (duet_fn_graph(fn)) {
        FILE *m = fmemopen(f->graph, sizeof f->graph, "w");
        duet_graph_print(m, duet_fn_graph(fn));
        fclose(m);
    }
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

static void expect_same(const found *e, const found *g)
{
    assert_string_equal(e->diag.op, g->diag.op);
    assert_string_equal(e->diag.scope, g->diag.scope);
    assert_string_equal(e->diag.file, g->diag.file);
    assert_int_equal(e->diag.line, g->diag.line);
    assert_string_equal(e->diag.message, g->diag.message);
}

static void test_log_of_zero_same_op_both_modes(void **state)
{
    (void)state;
    found *e = malloc(sizeof *e), *g = malloc(sizeof *g);
    run(DUET_EAGER, log_of_zero, e);
    run(DUET_GRAPH, log_of_zero, g);
    /* the graph fused mul, log and mul: the member that made it is named */
    duet_ctx *probe = duet_ctx_new();
    duet_fn *fn = duet_fn_new(probe, "step", log_of_zero, 2, 1, NULL);
    float x[6] = {1, 2, 3, 4, 5, 6};
    duet_tensor *in[2] = {duet_constant(probe, DUET_F32, 2, (int64_t[]){2, 3}, x),
                          duet_constant(probe, DUET_F32, 2, (int64_t[]){2, 3}, x)},
                *y;
    assert_int_equal(duet_fn_call(fn, in, &y), 0); /* no zero: finite, and traced */
    char text[1 << 14];
    FILE *m = fmemopen(text, sizeof text, "w");
    duet_graph_print(m, duet_fn_graph(fn));
    fclose(m);
    if (!strstr(text, "fused")) fail_msg("log was not fused, the test proves less:\n%s", text);
    duet_fn_free(fn);
    duet_ctx_free(probe);

    assert_string_equal(e->diag.op, "log");
    assert_string_equal(e->diag.scope, "model");
    assert_string_equal(e->diag.file, "tests/test_numerics.c");
    assert_int_equal(e->diag.line, log_line);
    assert_string_equal(e->diag.message,
                        "log made -Inf in the forward pass: 1 of 6 elements of (2, 3) are not "
                        "finite (the first at flat index 4), from finite inputs");
    expect_same(e, g);
    free(e), free(g);
}

static void test_gradient_named(void **state)
{
    (void)state;
    found *e = malloc(sizeof *e), *g = malloc(sizeof *g);
    run(DUET_EAGER, sqrt_grad, e);
    run(DUET_GRAPH, sqrt_grad, g);
    assert_int_equal(e->diag.line, sqrt_line); /* gradient ops carry their forward op's site */
    assert_non_null(strstr(e->diag.message, "in the gradient of sqrt"));
    assert_non_null(strstr(e->diag.message, "Inf"));
    expect_same(e, g);
    free(e), free(g);
}

static void test_folded_constant_named(void **state)
{
    (void)state;
    found *e = malloc(sizeof *e), *g = malloc(sizeof *g);
    run(DUET_EAGER, folded_log, e);
    run(DUET_GRAPH, folded_log, g); /* stops while folding, at trace time */
    assert_string_equal(e->diag.op, "log");
    assert_int_equal(e->diag.line, folded_line);
    expect_same(e, g);
    free(e), free(g);
}

/* In a fused_rows node, the member that made it is named, with its own output's
 * shape and count, as eager mode names it. */
static void test_row_fused_member_named(void **state)
{
    (void)state;
    found *e = malloc(sizeof *e), *g = malloc(sizeof *g);
    run(DUET_EAGER, row_rsqrt, e);
    run(DUET_GRAPH, row_rsqrt, g);
    if (!strstr(g->graph, "= fused_rows")) fail_msg("not row-fused, the test proves less:\n%s", g->graph);
    assert_string_equal(e->diag.op, "rsqrt");
    assert_int_equal(e->diag.line, rsqrt_line);
    assert_string_equal(e->diag.message,
                        "rsqrt made NaN in the forward pass: 4 of 6 elements of (2, 3) are not "
                        "finite (the first at flat index 0), from finite inputs");
    expect_same(e, g);
    free(e), free(g);
}

/* A gradient of an op that row fusion turned into a fused_out is named by the op. */
static void test_row_fused_gradient_named(void **state)
{
    (void)state;
    found *e = malloc(sizeof *e), *g = malloc(sizeof *g);
    run(DUET_EAGER, row_sqrt_grad, e);
    run(DUET_GRAPH, row_sqrt_grad, g);
    if (!strstr(g->graph, "= fused_out")) fail_msg("no fused_out, the test proves less:\n%s", g->graph);
    assert_int_equal(e->diag.line, row_sqrt_line);
    assert_non_null(strstr(e->diag.message, "in the gradient of sqrt"));
    expect_same(e, g);
    free(e), free(g);
}

/* Off, nothing is checked: the same body runs to the end. */
static void test_off_by_default(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_tensor *z = duet_log(ctx, duet_scalar(ctx, 0.0f));
    assert_int_equal(duet_ctx_status(ctx), DUET_OK);
    assert_true(isinf(duet_get_f32(z, 0)));
    duet_ctx_set_check_numerics(ctx, true);
    duet_log(ctx, duet_scalar(ctx, -1.0f));
    assert_int_equal(duet_ctx_status(ctx), DUET_ERR_NUMERICS);
    assert_non_null(strstr(duet_ctx_error(ctx)->message, "log made NaN"));
    duet_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_of_zero_same_op_both_modes),
        cmocka_unit_test(test_gradient_named),
        cmocka_unit_test(test_folded_constant_named),
        cmocka_unit_test(test_row_fused_member_named),
        cmocka_unit_test(test_row_fused_gradient_named),
        cmocka_unit_test(test_off_by_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
