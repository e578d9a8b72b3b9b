/* Graph mode: tracing, the trace cache, passes, the executor, host-read policies,
 * lint, cond, debug runs and whole training steps against eager. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "localise.h"
#include "mlp/mlp.h"
#include "testutil.h"

/* ---- the MLP case's training step, the same body in both modes ---- */

static void run_mlp(duet_exec_mode mode, float *losses, int steps, int *traces)
{
    duet_ctx *ctx = duet_ctx_new();
    mlp m;
    assert_int_equal(mlp_init(ctx, &m, 3, 8, 2, 1), 0);
    duet_fn *fn = duet_fn_new(ctx, "mlp_step", mlp_train_step, 2, 1, &m);
    duet_fn_set_mode(fn, mode);
    assert_int_equal(duet_fn_relax(fn, "(N,3) (N)"), 0);
    for (int s = 0; s < steps; s++) {
        duet_tensor *x, *y, *loss;
        mlp_batch(ctx, &m, 16 + (s % 3) * 8, (unsigned)s, &x, &y); /* varying batch size */
        int rc = duet_fn_call(fn, (duet_tensor *[]){x, y}, &loss);
        if (rc) duet_diag_print(stderr, duet_ctx_error(ctx));
        assert_int_equal(rc, 0);
        losses[s] = duet_get_f32(loss, 0);
        duet_ctx_reset(ctx);
    }
    *traces = duet_fn_trace_count(fn);
    duet_fn_free(fn);
    mlp_free(&m);
    duet_ctx_free(ctx);
}

static void test_training_step_matches_eager(void **state)
{
    (void)state;
    float le[30], lg[30];
    int te, tg;
    run_mlp(DUET_EAGER, le, 30, &te);
    run_mlp(DUET_GRAPH, lg, 30, &tg);
    assert_int_equal(te, 0);
    assert_int_equal(tg, 1); /* N relaxed: one trace serves every batch size */
    for (int s = 0; s < 30; s++)
        if (lg[s] != le[s]) fail_msg("step %d: graph loss %.9g, eager %.9g", s, lg[s], le[s]);
    assert_true(le[29] < le[0]);
}

/* ---- the seed bug: a Softmax layer that branches on its mask ---- */

static int buggy_line;

/* scores (B, 4, T, T), mask (B, 4, T, T) bool. The buggy call asks the host whether
 * anything is masked; the fixed twin always selects. */
static void softmax_buggy(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_scope_push(ctx, "model");
    duet_scope_push_layer(ctx, "softmax", "Softmax");
    duet_tensor *scores = in[0], *mask = in[1];
    buggy_line = __LINE__ + 1;
    if (DUET_BOOL(ctx, duet_any(ctx, duet_logical_not(ctx, mask), 0, false)))
        scores = duet_where(ctx, mask, scores, duet_full_like(ctx, scores, -1e9f));
    out[0] = duet_softmax(ctx, scores, -1, NULL);
    duet_scope_pop(ctx);
    duet_scope_pop(ctx);
}

static void softmax_fixed(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_scope_push(ctx, "model");
    duet_scope_push_layer(ctx, "softmax", "Softmax");
    duet_tensor *scores = duet_where(ctx, in[1], in[0], duet_full_like(ctx, in[0], -1e9f));
    out[0] = duet_softmax(ctx, scores, -1, NULL);
    duet_scope_pop(ctx);
    duet_scope_pop(ctx);
}

static void softmax_inputs(duet_ctx *ctx, int b, int t, int masked_from, duet_tensor **in)
{
    int n = b * 4 * t * t;
    float *x = malloc(sizeof(float) * (size_t)n);
    uint8_t *m = malloc((size_t)n);
    tu_fill(x, n, 7, -2, 2);
    for (int i = 0; i < n; i++) m[i] = (i % t) < masked_from;
    in[0] = duet_constant(ctx, DUET_F32, 4, (int64_t[]){b, 4, t, t}, x);
    in[1] = duet_constant(ctx, DUET_BOOL8, 4, (int64_t[]){b, 4, t, t}, m);
    free(x);
    free(m);
}

static void test_strict_diagnostic(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_tensor *in[2], *y;
    softmax_inputs(ctx, 2, 5, 3, in);
    duet_fn *fn = duet_fn_new(ctx, "softmax_buggy", softmax_buggy, 2, 1, NULL);
    assert_int_equal(duet_fn_relax(fn, "(B,4,T,T) (B,4,T,T)"), 0);
    /* eager: it works */
    duet_fn_set_mode(fn, DUET_EAGER);
    assert_int_equal(duet_fn_call(fn, in, &y), 0);
    /* graph, strict: a diagnostic, not a crash */
    duet_fn_set_mode(fn, DUET_GRAPH);
    assert_int_equal(duet_fn_call(fn, in, &y), -1);
    const duet_diag *d = duet_ctx_error(ctx);
    assert_non_null(d);
    assert_int_equal(d->code, DUET_ERR_HOST_BRANCH);
    assert_string_equal(d->shape, "()"); /* the scalar read, made by any of the mask */
    assert_string_equal(d->op, "DUET_BOOL");
    assert_string_equal(d->producer, "any");
    assert_string_equal(d->producer_inputs, "any(bool (None, 4, None, None))");
    assert_string_equal(d->scope, "model/softmax");
    assert_int_equal(d->line, buggy_line);
    assert_string_equal(d->file, "tests/test_graph.c");
    assert_non_null(strstr(d->message, "Exception encountered when calling Softmax.call"));
    assert_non_null(strstr(d->message, "symbolic tensor as a C bool"));
    assert_non_null(strstr(d->fix, "duet_where"));
    assert_true(strlen(d->explanation) > 100);
    duet_fn_free(fn);
    duet_ctx_clear_error(ctx);

    /* the fixed twin traces and matches eager exactly */
    duet_tensor *ye, *yg;
    duet_fn *fixed = duet_fn_new(ctx, "softmax_fixed", softmax_fixed, 2, 1, NULL);
    assert_int_equal(duet_fn_relax(fixed, "(B,4,T,T) (B,4,T,T)"), 0);
    duet_fn_set_mode(fixed, DUET_EAGER);
    assert_int_equal(duet_fn_call(fixed, in, &ye), 0);
    duet_fn_set_mode(fixed, DUET_GRAPH);
    assert_int_equal(duet_fn_call(fixed, in, &yg), 0);
    for (int64_t k = 0; k < duet_numel(ye); k++)
        assert_true(duet_get_f32(ye, k) == duet_get_f32(yg, k));
    assert_true(duet_get_f32(yg, 4) < 1e-6f); /* a masked position */
    duet_fn_free(fixed);
    duet_ctx_free(ctx);
}

/* ---- specialize and guard ---- */

/* y = x * 2 if sum(x) > 0 else x * -1 */
static void branchy(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_tensor *pos = duet_greater(ctx, duet_sum(ctx, in[0], 0, false), duet_scalar(ctx, 0));
    if (DUET_BOOL(ctx, pos))
        out[0] = duet_mul(ctx, in[0], duet_scalar(ctx, 2));
    else
        out[0] = duet_mul(ctx, in[0], duet_scalar(ctx, -1));
}

static float call1(duet_fn *fn, duet_ctx *ctx, float v)
{
    float x[2] = {v, v};
    duet_tensor *t = duet_constant(ctx, DUET_F32, 1, (int64_t[]){2}, x), *y;
    int rc = duet_fn_call(fn, &t, &y);
    if (rc) duet_diag_print(stderr, duet_ctx_error(ctx));
    assert_int_equal(rc, 0);
    return duet_get_f32(y, 0);
}

static void test_specialize_is_silently_wrong(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "branchy", branchy, 1, 1, NULL);
    duet_fn_set_policy(fn, DUET_POLICY_SPECIALIZE);
    assert_true(call1(fn, ctx, 1.0f) == 2.0f);
    assert_int_equal(duet_fn_warning_count(fn), 1);
    assert_non_null(strstr(duet_fn_warning(fn, 0), "baked into the graph as true"));
    assert_non_null(strstr(duet_fn_warning(fn, 0), "specialize: DUET_BOOL at tests/test_graph.c:"));
    /* the same facts as data */
    assert_int_equal(duet_fn_baked_count(fn), 1);
    const duet_baked_read *b = duet_fn_baked_at(fn, 0);
    assert_string_equal(b->what, "DUET_BOOL");
    assert_string_equal(b->file, "tests/test_graph.c");
    assert_int_equal(b->line, 147); /* branchy's DUET_BOOL */
    assert_string_equal(b->scope, "");
    assert_true(b->value == 1.0);
    assert_null(duet_fn_baked_at(fn, 1));
    /* the other branch's input: the baked branch runs, giving the wrong answer */
    assert_true(call1(fn, ctx, -1.0f) == -2.0f); /* eager would give 1.0 */
    assert_int_equal(duet_fn_trace_count(fn), 1);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

static void test_guard_retraces(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "branchy", branchy, 1, 1, NULL);
    duet_fn_set_policy(fn, DUET_POLICY_GUARD);
    assert_true(call1(fn, ctx, 1.0f) == 2.0f);
    assert_true(call1(fn, ctx, 3.0f) == 6.0f);
    assert_int_equal(duet_fn_trace_count(fn), 1);
    assert_true(call1(fn, ctx, -1.0f) == 1.0f); /* right answer, after a retrace */
    assert_int_equal(duet_fn_trace_count(fn), 2);
    const char *why = duet_fn_trace_reason(fn, 1);
    assert_non_null(strstr(why, "guard failed at tests/test_graph.c:"));
    assert_non_null(strstr(why, "DUET_BOOL was true at trace time"));
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

/* ---- retracing ---- */

static void rowsum(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    out[0] = duet_sum(ctx, in[0], DUET_AXIS(1), false);
}

static void call_len(duet_fn *fn, duet_ctx *ctx, int len)
{
    float x[2 * 64] = {0};
    duet_tensor *t = duet_constant(ctx, DUET_F32, 2, (int64_t[]){2, len}, x), *y;
    assert_int_equal(duet_fn_call(fn, &t, &y), 0);
}

static void test_retrace_reasons(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "rowsum", rowsum, 1, 1, NULL);
    call_len(fn, ctx, 37);
    call_len(fn, ctx, 41);
    call_len(fn, ctx, 37); /* cached */
    assert_int_equal(duet_fn_trace_count(fn), 2);
    assert_string_equal(duet_fn_trace_reason(fn, 0), "first call");
    assert_string_equal(duet_fn_trace_reason(fn, 1), "arg 0 dim 1: 37 -> 41");
    duet_fn_free(fn);

    fn = duet_fn_new(ctx, "rowsum", rowsum, 1, 1, NULL);
    assert_int_equal(duet_fn_relax(fn, "(_,None)"), 0);
    for (int len = 10; len < 20; len++) call_len(fn, ctx, len);
    assert_int_equal(duet_fn_trace_count(fn), 1);
    duet_fn_free(fn);

    /* a fixed dim rejects other sizes; a malformed spec is refused */
    fn = duet_fn_new(ctx, "rowsum", rowsum, 1, 1, NULL);
    assert_int_equal(duet_fn_relax(fn, "(2,None) (3)"), -1);
    duet_ctx_clear_error(ctx);
    assert_int_equal(duet_fn_relax(fn, "(3,None)"), 0);
    float x[8] = {0};
    duet_tensor *t = duet_constant(ctx, DUET_F32, 2, (int64_t[]){2, 4}, x), *y;
    assert_int_equal(duet_fn_call(fn, &t, &y), -1);
    assert_non_null(strstr(duet_ctx_error(ctx)->message, "dim 0 is 2; the signature fixes it to 3"));
    duet_ctx_clear_error(ctx);
    /* found by fuzzing (tests/fuzz/regress/relax): a size near INT32_MAX overflowed the
     * fixed-size code (UB), and a name over 31 characters was cut into two dims */
    assert_int_equal(duet_fn_relax(fn, "(2147483647,None)"), -1);
    assert_non_null(strstr(duet_ctx_error(ctx)->message, "bad number"));
    duet_ctx_clear_error(ctx);
    assert_int_equal(duet_fn_relax(fn, "(abcdefghijklmnopqrstuvwxyzabcdefgh)"), -1);
    assert_non_null(strstr(duet_ctx_error(ctx)->message, "longer than 31 characters"));
    duet_ctx_clear_error(ctx);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

/* ---- passes, observed through the printed graph ---- */

/* exp(x) computed twice (CSE), an unused tanh (DCE), 2 + 3 (folding), and a chain
 * of elementwise ops (fusion). */
static void passes_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_tensor *x = in[0];
    duet_tanh(ctx, x); /* dead */
    duet_tensor *five = duet_add(ctx, duet_scalar(ctx, 2), duet_scalar(ctx, 3));
    duet_tensor *a = duet_mul(ctx, duet_exp(ctx, x), five);
    duet_tensor *b = duet_exp(ctx, x);
    out[0] = duet_sub(ctx, duet_relu(ctx, a), b);
}

static char *run_passes(unsigned passes, float *y0, size_t *planned, size_t *unplanned)
{
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "passes", passes_body, 1, 1, NULL);
    duet_fn_set_passes(fn, passes);
    float xs[6] = {-1, -0.5f, 0, 0.5f, 1, 2};
    duet_tensor *x = duet_constant(ctx, DUET_F32, 2, (int64_t[]){2, 3}, xs), *y;
    assert_int_equal(duet_fn_call(fn, &x, &y), 0);
    *y0 = duet_get_f32(y, 5);
    *planned = duet_fn_planned_bytes(fn);
    *unplanned = duet_fn_unplanned_bytes(fn);
    char *text = tu_graph_text(duet_fn_graph(fn), false);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
    return text;
}

static void test_passes(void **state)
{
    (void)state;
    float expect = 5 * expf(2) - expf(2), y;
    size_t planned, unplanned;
    char *none = run_passes(0, &y, &planned, &unplanned);
    assert_float_equal(y, expect, 1e-4);
    assert_int_equal(tu_count(none, "= tanh"), 1);
    assert_int_equal(tu_count(none, "= exp"), 2);
    assert_int_equal(planned, unplanned); /* no reuse without the planning pass */
    free(none);

    char *dce = run_passes(DUET_PASS_DCE, &y, &planned, &unplanned);
    assert_int_equal(tu_count(dce, "= tanh"), 0);
    assert_int_equal(tu_count(dce, "= exp"), 2);
    free(dce);

    char *cse = run_passes(DUET_PASS_DCE | DUET_PASS_CSE, &y, &planned, &unplanned);
    assert_int_equal(tu_count(cse, "= exp"), 1);
    assert_int_equal(tu_count(cse, "value=5"), 0);
    free(cse);

    char *fold = run_passes(DUET_PASS_DCE | DUET_PASS_CSE | DUET_PASS_FOLD, &y, &planned, &unplanned);
    assert_int_equal(tu_count(fold, "value=5"), 1);
    assert_int_equal(tu_count(fold, "= add"), 0);
    free(fold);

    char *all = run_passes(DUET_PASS_ALL, &y, &planned, &unplanned);
    assert_float_equal(y, expect, 1e-4);
    assert_int_equal(tu_count(all, "= fused"), 1);
    assert_int_equal(tu_count(all, "= relu"), 0);
    assert_int_equal(tu_count(all, "= exp"), 1); /* read twice: stays outside the group */
    assert_true(planned <= unplanned);
    free(all);
}

/* A long chain: planning reuses buffers, so the planned bytes stay flat. */
static void chain_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_tensor *x = in[0];
    for (int i = 0; i < 12; i++) x = duet_matmul(ctx, x, in[1], false, false);
    out[0] = x;
}

static void test_memory_plan(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "chain", chain_body, 2, 1, NULL);
    float a[64 * 16], b[16 * 16];
    tu_fill(a, 64 * 16, 1, -0.1f, 0.1f);
    tu_fill(b, 16 * 16, 2, -0.3f, 0.3f);
    duet_tensor *in[2] = {duet_constant(ctx, DUET_F32, 2, (int64_t[]){64, 16}, a),
                          duet_constant(ctx, DUET_F32, 2, (int64_t[]){16, 16}, b)},
                *y;
    assert_int_equal(duet_fn_call(fn, in, &y), 0);
    assert_int_equal(duet_fn_unplanned_bytes(fn), 12 * 64 * 16 * 4);
    assert_true(duet_fn_planned_bytes(fn) <= 3 * 64 * 16 * 4);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

/* Elementwise nodes that cannot fuse (their inputs are read twice) write over the
 * input they read last: the chain runs in one (n,) buffer, with the bits of a plan
 * that reuses nothing. */
static void in_place_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_tensor *x = duet_exp(ctx, in[0]);
    for (int k = 0; k < 6; k++) {
        duet_tensor *s = duet_sum(ctx, x, 0, false);
        x = duet_sub(ctx, duet_mul(ctx, x, duet_scalar(ctx, 1.5f)), s);
    }
    out[0] = duet_sum(ctx, x, 0, false);
}

static void test_memory_plan_in_place(void **state)
{
    (void)state;
    enum { N = 1000 };
    float xs[N];
    tu_fill(xs, N, 3, -1, 1);
    float y[2];
    size_t planned[2];
    for (int k = 0; k < 2; k++) {
        duet_ctx *ctx = duet_ctx_new();
        duet_fn *fn = duet_fn_new(ctx, "in_place", in_place_body, 1, 1, NULL);
        duet_fn_set_passes(fn, k ? DUET_PASS_ALL : DUET_PASS_ALL & ~DUET_PASS_PLAN);
        duet_tensor *x = duet_constant(ctx, DUET_F32, 1, (int64_t[]){N}, xs), *out;
        assert_int_equal(duet_fn_call(fn, &x, &out), 0);
        y[k] = duet_get_f32(out, 0);
        planned[k] = duet_fn_planned_bytes(fn);
        duet_fn_free(fn);
        duet_ctx_free(ctx);
    }
    assert_memory_equal(&y[0], &y[1], sizeof y[0]);
    /* one (N,) buffer for exp and every fused mul-sub after it, and the scalar sums
     * (without in-place writes, two buffers would alternate) */
    assert_true(planned[1] < 2 * N * sizeof(float));
    assert_true(planned[0] >= 7 * N * sizeof(float)); /* exp and six fused mul-subs */
}

/* ---- lint, the escape hatch, cond, debug runs, printing ---- */

static void test_eager_lint(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_ctx_set_lint(ctx, true);
    duet_fn *fn = duet_fn_new(ctx, "branchy", branchy, 1, 1, NULL);
    duet_fn_set_mode(fn, DUET_EAGER);
    assert_true(call1(fn, ctx, 1.0f) == 2.0f);
    assert_int_equal(duet_lint_count(ctx), 1);
    const duet_lint *l = duet_lint_at(ctx, 0);
    assert_string_equal(l->what, "DUET_BOOL");
    assert_string_equal(l->file, "tests/test_graph.c");
    assert_true(l->value == 1.0); /* sum(x) > 0 was true on this input */
    /* a host read of a constant is not derived from the inputs: not recorded */
    duet_tensor *c = duet_scalar(ctx, 1.0f);
    (void)DUET_BOOL(ctx, c);
    assert_int_equal(duet_lint_count(ctx), 1);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

static void test_run_functions_eagerly(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "branchy", branchy, 1, 1, NULL);
    duet_ctx_run_functions_eagerly(ctx, true);
    assert_true(call1(fn, ctx, 1.0f) == 2.0f);
    assert_true(call1(fn, ctx, -1.0f) == 1.0f); /* strict would reject; eager just runs */
    assert_int_equal(duet_fn_trace_count(fn), 0);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

static void then_branch(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    out[0] = duet_mul(ctx, in[0], duet_scalar(ctx, 2));
}

static void else_branch(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    out[0] = duet_neg(ctx, in[0]);
}

static void else_wrong_shape(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    out[0] = duet_sum(ctx, in[0], 0, false);
}

static void cond_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    duet_tensor *pos = duet_greater(ctx, duet_sum(ctx, in[0], 0, false), duet_scalar(ctx, 0));
    duet_cond(ctx, pos, then_branch, user ? else_wrong_shape : else_branch, in, 1, out, 1, NULL);
}

static void test_cond(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "cond", cond_body, 1, 1, NULL);
    assert_true(call1(fn, ctx, 1.0f) == 2.0f);
    assert_true(call1(fn, ctx, -1.0f) == 1.0f); /* one trace, both branches right */
    assert_int_equal(duet_fn_trace_count(fn), 1);
    duet_fn_free(fn);

    fn = duet_fn_new(ctx, "cond_bad", cond_body, 1, 1, (void *)1);
    float x[2] = {1, 1};
    duet_tensor *t = duet_constant(ctx, DUET_F32, 1, (int64_t[]){2}, x), *y;
    assert_int_equal(duet_fn_call(fn, &t, &y), -1);
    const duet_diag *d = duet_ctx_error(ctx);
    assert_int_equal(d->code, DUET_ERR_TRACE);
    assert_non_null(strstr(d->message, "then gives f32(2,)"));
    assert_non_null(strstr(d->message, "else gives f32()"));
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

static void test_debug_records_match_tape(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    mlp m;
    assert_int_equal(mlp_init(ctx, &m, 3, 8, 2, 1), 0);
    duet_fn *fn = duet_fn_new(ctx, "mlp_step", mlp_train_step, 2, 1, &m);
    duet_tensor *x, *y, *loss;
    mlp_batch(ctx, &m, 8, 1, &x, &y);
    /* the eager tape of one step, and a debug graph run of the same step from the same
     * initial weights in a second context */
    duet_fn_set_mode(fn, DUET_EAGER);
    duet_record *er, *gr;
    int ne, ng;
    assert_int_equal(duet_fn_call(fn, (duet_tensor *[]){x, y}, &loss), 0);
    assert_int_equal(duet_tape_records(ctx, &er, &ne), 0);
    int matched = 0;
    duet_ctx *ctx2 = duet_ctx_new();
    mlp m2;
    assert_int_equal(mlp_init(ctx2, &m2, 3, 8, 2, 1), 0);
    duet_fn *fn2 = duet_fn_new(ctx2, "mlp_step", mlp_train_step, 2, 1, &m2);
    duet_tensor *x2, *y2;
    mlp_batch(ctx2, &m2, 8, 1, &x2, &y2);
    assert_int_equal(duet_fn_debug_call(fn2, (duet_tensor *[]){x2, y2}, &loss, &gr, &ng), 0);
    /* with no passes the debug graph is the tape op for op: every intermediate,
     * forward, gradient and Adam update, has an eager twin with the same bits */
    int *twin = duet_match_records(gr, ng, er, ne);
    assert_non_null(twin);
    for (int i = 0; i < ng; i++) {
        int j = twin[i];
        if (j < 0) fail_msg("graph record %d (%s at line %d) has no eager twin", i, gr[i].op, gr[i].line);
        assert_int_equal(duet_numel(gr[i].value), duet_numel(er[j].value));
        for (int64_t k = 0; k < duet_numel(gr[i].value); k++)
            assert_true(duet_get_f32(gr[i].value, k) == duet_get_f32(er[j].value, k));
        matched += !strcmp(gr[i].op, "matmul") && !gr[i].grad;
    }
    assert_int_equal(matched, 2); /* the two forward matmuls among them */
    assert_true(ng > 60);
    free(twin);
    free(er);
    free(gr);
    duet_fn_free(fn);
    duet_fn_free(fn2);
    mlp_free(&m);
    mlp_free(&m2);
    duet_ctx_free(ctx);
    duet_ctx_free(ctx2);
}

/* One call site run many times: its records are numbered 0, 1, 2, ... in order, per
 * key, on the tape and in a debug run alike. */
enum { REPEATS = 20000 };

static void repeated_ops(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_tensor *x = in[0];
    for (int i = 0; i < REPEATS; i++) x = duet_mul(ctx, duet_add(ctx, x, in[0]), in[0]);
    out[0] = x;
}

static void check_occurrences(const duet_record *r, int n)
{
    int adds = 0, muls = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(r[i].op, "add")) assert_int_equal(r[i].occurrence, adds++);
        if (!strcmp(r[i].op, "mul")) assert_int_equal(r[i].occurrence, muls++);
    }
    assert_int_equal(adds, REPEATS);
    assert_int_equal(muls, REPEATS);
}

static void test_record_occurrences(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "repeated", repeated_ops, 1, 1, NULL);
    duet_tensor *x = duet_full(ctx, DUET_F32, 1, (int64_t[]){2}, 1.0f), *y;
    duet_record *r;
    int n;
    duet_fn_set_mode(fn, DUET_EAGER);
    assert_int_equal(duet_fn_call(fn, &x, &y), 0);
    assert_int_equal(duet_tape_records(ctx, &r, &n), 0);
    check_occurrences(r, n);
    free(r);
    assert_int_equal(duet_fn_debug_call(fn, &x, &y, &r, &n), 0);
    check_occurrences(r, n);
    free(r);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

static void test_print_and_dot(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    mlp m;
    assert_int_equal(mlp_init(ctx, &m, 3, 8, 2, 1), 0);
    duet_fn *fn = duet_fn_new(ctx, "mlp_step", mlp_train_step, 2, 1, &m);
    assert_int_equal(duet_fn_relax(fn, "(N,3) (N)"), 0);
    duet_tensor *x, *y, *loss;
    mlp_batch(ctx, &m, 8, 1, &x, &y);
    assert_int_equal(duet_fn_call(fn, (duet_tensor *[]){x, y}, &loss), 0);
    char *text = tu_graph_text(duet_fn_graph(fn), false);
    assert_non_null(strstr(text, "{ lambda %0:f32(None, 3) %1:i32(None,) . let"));
    assert_non_null(strstr(text, "= matmul"));
    assert_non_null(strstr(text, "var=dense_1/kernel"));
    assert_non_null(strstr(text, "# mlp/dense_1 mlp.c:"));
    assert_non_null(strstr(text, "# grad of mlp/dense_2"));
    assert_int_equal(tu_count(text, "= adam_update"), 4); /* one per parameter: var, m, v */
    assert_int_equal(tu_count(text, "= assign"), 1);      /* the iteration count */
    free(text);
    char *dot = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&dot, &len);
    duet_graph_dot(f, duet_fn_graph(fn));
    fclose(f);
    assert_non_null(strstr(dot, "digraph duet {"));
    assert_non_null(strstr(dot, "-> n"));
    free(dot);
    duet_fn_free(fn);
    mlp_free(&m);
    duet_ctx_free(ctx);
}

/* ---- while_loop: double x until its sum reaches 100, counting the steps ---- */

static duet_tensor *loop_cond(duet_ctx *ctx, duet_tensor *const *st, void *user)
{
    (void)user;
    return duet_greater(ctx, duet_scalar(ctx, 100), duet_sum(ctx, st[0], 0, false));
}

static void loop_body(duet_ctx *ctx, duet_tensor *const *st, duet_tensor **next, void *user)
{
    next[0] = duet_mul(ctx, st[0], duet_scalar(ctx, 2));
    next[1] = duet_add(ctx, st[1], duet_scalar_i32(ctx, 1));
    if (user) next[0] = duet_sum(ctx, next[0], 0, true); /* changes the shape: refused */
}

static void loop_fn(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    duet_tensor *init[2] = {in[0], duet_scalar_i32(ctx, 0)};
    duet_while_loop(ctx, loop_cond, loop_body, init, 2, out, 1000, user);
}

static void run_loop(duet_exec_mode mode, duet_fn *fn, duet_ctx *ctx, int len, float v,
                     float *x0, int *count)
{
    float x[8];
    for (int i = 0; i < len; i++) x[i] = v;
    duet_tensor *t = duet_constant(ctx, DUET_F32, 1, (int64_t[]){len}, x), *y[2];
    duet_fn_set_mode(fn, mode);
    int rc = duet_fn_call(fn, &t, y);
    if (rc) duet_diag_print(stderr, duet_ctx_error(ctx));
    assert_int_equal(rc, 0);
    *x0 = duet_get_f32(y[0], 0);
    *count = duet_get_i32(y[1], 0);
}

static void test_while_loop(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "loop", loop_fn, 1, 2, NULL);
    assert_int_equal(duet_fn_relax(fn, "(None)"), 0);
    const struct { int len; float v; float x0; int count; } cases[] = {
        {1, 1.0f, 128.0f, 7}, {4, 1.0f, 32.0f, 5}, {2, 60.0f, 60.0f, 0}, {8, 0.5f, 16.0f, 5}};
    for (int k = 0; k < 4; k++) {
        float xe, xg;
        int ce, cg;
        run_loop(DUET_EAGER, fn, ctx, cases[k].len, cases[k].v, &xe, &ce);
        run_loop(DUET_GRAPH, fn, ctx, cases[k].len, cases[k].v, &xg, &cg);
        assert_true(xe == cases[k].x0 && xg == cases[k].x0);
        assert_int_equal(ce, cases[k].count);
        assert_int_equal(cg, cases[k].count);
    }
    assert_int_equal(duet_fn_trace_count(fn), 1); /* data-dependent trips, one trace */
    char *text = tu_graph_text(duet_fn_graph(fn), false);
    assert_non_null(strstr(text, "= while"));
    assert_non_null(strstr(text, "= loop_out"));
    free(text);
    duet_fn_free(fn);

    fn = duet_fn_new(ctx, "loop_bad", loop_fn, 1, 2, (void *)1);
    float x[2] = {1, 1};
    duet_tensor *t = duet_constant(ctx, DUET_F32, 1, (int64_t[]){2}, x), *y[2];
    assert_int_equal(duet_fn_call(fn, &t, y), -1);
    assert_non_null(strstr(duet_ctx_error(ctx)->message, "changes state 0 from f32(2,) to f32(1,)"));
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

/* ---- while_loop gradients: an error, not a silent zero ---- */

typedef struct loop_grad {
    duet_var *w, *v;  /* w scales the loop's initial state; v is added after the loop */
    duet_var *target; /* the variable to differentiate for */
    int line;         /* the loop's call site */
} loop_grad;

static void loop_grad_step(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    loop_grad *lg = user;
    duet_tensor *init[2] = {duet_mul(ctx, in[0], duet_var_read(ctx, lg->w)),
                            duet_scalar_i32(ctx, 0)};
    duet_tensor *st[2];
    lg->line = __LINE__ + 1;
    duet_while_loop(ctx, loop_cond, loop_body, init, 2, st, 1000, NULL);
    duet_tensor *loss = duet_add(ctx, duet_sum(ctx, st[0], 0, false),
                                 duet_sum(ctx, duet_var_read(ctx, lg->v), 0, false));
    duet_grad(ctx, loss, &lg->target, 1, out);
}

static int call_loop_grad(duet_ctx *ctx, loop_grad *lg, duet_exec_mode mode, duet_policy policy,
                          duet_tensor **g)
{
    duet_fn *fn = duet_fn_new(ctx, "loop_grad", loop_grad_step, 1, 1, lg);
    duet_fn_set_mode(fn, mode);
    duet_fn_set_policy(fn, policy);
    duet_tensor *x = duet_full(ctx, DUET_F32, 1, (int64_t[]){2}, 1.0f);
    int rc = duet_fn_call(fn, &x, g);
    duet_fn_free(fn);
    return rc;
}

static void test_while_loop_has_no_gradient(void **state)
{
    (void)state;
    const struct { duet_exec_mode mode; duet_policy policy; } runs[] = {
        {DUET_EAGER, DUET_POLICY_STRICT},
        {DUET_GRAPH, DUET_POLICY_STRICT},     /* a WHILE node */
        {DUET_GRAPH, DUET_POLICY_SPECIALIZE}, /* traced with values: the eager loop */
    };
    for (size_t k = 0; k < sizeof runs / sizeof *runs; k++) {
        duet_ctx *ctx = duet_ctx_new();
        loop_grad lg = {.w = duet_var_new(ctx, "w", DUET_F32, 1, (int64_t[]){2}),
                        .v = duet_var_new(ctx, "v", DUET_F32, 1, (int64_t[]){2})};
        for (int i = 0; i < 2; i++) duet_var_f32(lg.w)[i] = duet_var_f32(lg.v)[i] = 1.0f;
        duet_tensor *g;
        /* w reaches the loss only through the loop: refused, naming the loop */
        lg.target = lg.w;
        assert_int_equal(call_loop_grad(ctx, &lg, runs[k].mode, runs[k].policy, &g), -1);
        const duet_diag *d = duet_ctx_error(ctx);
        char want[128];
        snprintf(want, sizeof want, "no gradient through duet_while_loop at tests/test_graph.c:%d; ",
                 lg.line);
        if (!strstr(d->message, want)) fail_msg("run %zu: %s", k, d->message);
        assert_string_equal(d->file, "tests/test_graph.c");
        assert_int_equal(d->line, lg.line);
        duet_ctx_clear_error(ctx);
        /* v does not go through the loop: its gradient is fine */
        lg.target = lg.v;
        int rc = call_loop_grad(ctx, &lg, runs[k].mode, runs[k].policy, &g);
        if (rc) duet_diag_print(stderr, duet_ctx_error(ctx));
        assert_int_equal(rc, 0);
        assert_true(duet_get_f32(g, 0) == 1.0f && duet_get_f32(g, 1) == 1.0f);
        duet_ctx_free(ctx);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_training_step_matches_eager),
        cmocka_unit_test(test_strict_diagnostic),
        cmocka_unit_test(test_specialize_is_silently_wrong),
        cmocka_unit_test(test_guard_retraces),
        cmocka_unit_test(test_retrace_reasons),
        cmocka_unit_test(test_passes),
        cmocka_unit_test(test_memory_plan),
        cmocka_unit_test(test_memory_plan_in_place),
        cmocka_unit_test(test_eager_lint),
        cmocka_unit_test(test_run_functions_eagerly),
        cmocka_unit_test(test_cond),
        cmocka_unit_test(test_debug_records_match_tape),
        cmocka_unit_test(test_record_occurrences),
        cmocka_unit_test(test_print_and_dot),
        cmocka_unit_test(test_while_loop),
        cmocka_unit_test(test_while_loop_has_no_gradient),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
