/* A variable created inside a traced function's body: eagerly a fresh variable on
 * every call; while tracing, under every policy, a DUET_ERR_TRACE diagnostic naming
 * the variable, the function, the call site and the fix (create it outside and
 * capture it), as tf.function refuses non-singleton tf.Variables. */
#include <string.h>

#include "testutil.h"

static const duet_policy policies[3] = {DUET_POLICY_STRICT, DUET_POLICY_SPECIALIZE,
                                        DUET_POLICY_GUARD};

static int var_new_line;

/* counter = counter + sum(x), with counter created in the body */
static void counts_in_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    var_new_line = __LINE__ + 1;
    duet_var *counter = duet_var_new(ctx, "counter", DUET_F32, 0, NULL);
    duet_tensor *v = duet_add(ctx, duet_var_read(ctx, counter), duet_sum(ctx, in[0], 0, false));
    duet_assign(ctx, counter, v);
    out[0] = v;
}

/* the fix: counter created outside, captured through user */
static void counts_captured(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    duet_var *counter = user;
    duet_tensor *v = duet_add(ctx, duet_var_read(ctx, counter), duet_sum(ctx, in[0], 0, false));
    duet_assign(ctx, counter, v);
    out[0] = v;
}

static duet_tensor *ones(duet_ctx *ctx, int n)
{
    return duet_full(ctx, DUET_F32, 1, (int64_t[]){n}, 1.0f);
}

static void expect_var_in_fn(duet_ctx *ctx, const char *fn_name)
{
    const duet_diag *d = duet_ctx_error(ctx);
    assert_non_null(d);
    assert_int_equal(d->code, DUET_ERR_TRACE);
    assert_string_equal(d->op, "duet_var_new");
    assert_non_null(strstr(d->file, "test_var_in_fn.c"));
    assert_int_equal(d->line, var_new_line);
    char what[96];
    snprintf(what, sizeof what, "variable 'counter' created inside '%s'", fn_name);
    if (!strstr(d->message, what)) fail_msg("message '%s' lacks \"%s\"", d->message, what);
    assert_non_null(strstr(d->explanation, "once per trace"));
    assert_non_null(strstr(d->fix, "outside the function"));
    assert_non_null(strstr(d->fix, "capture it"));
}

/* Eagerly the body makes a new variable, starting at zero, on every call. */
static void test_eager_makes_a_variable_per_call(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "counts", counts_in_body, 1, 1, NULL);
    duet_fn_set_mode(fn, DUET_EAGER);
    for (int call = 1; call <= 3; call++) {
        duet_tensor *x = ones(ctx, 2), *y;
        assert_int_equal(duet_fn_call(fn, &x, &y), 0);
        assert_true(duet_get_f32(y, 0) == 2.0f); /* a fresh counter: 0 + 2 */
        assert_int_equal(duet_var_count(ctx), call);
        duet_ctx_reset(ctx);
    }
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

/* Traced, under every policy: the diagnostic, no variable made, and the failed trace
 * is remembered (the same signature replays it without tracing again). */
static void test_tracing_refuses_with_the_fix(void **state)
{
    (void)state;
    for (int p = 0; p < 3; p++) {
        duet_ctx *ctx = duet_ctx_new();
        duet_fn *fn = duet_fn_new(ctx, "counts", counts_in_body, 1, 1, NULL);
        duet_fn_set_policy(fn, policies[p]);
        for (int call = 0; call < 2; call++) {
            duet_tensor *x = ones(ctx, 2), *y;
            assert_int_equal(duet_fn_call(fn, &x, &y), -1);
            expect_var_in_fn(ctx, "counts");
            duet_ctx_clear_error(ctx);
        }
        assert_int_equal(duet_fn_trace_count(fn), 1);
        assert_int_equal(duet_var_count(ctx), 0);
        duet_fn_free(fn);
        duet_ctx_free(ctx);
    }
}

/* A function called while another traces is inlined: the diagnostic names the
 * function being traced, the outer one. */
static void outer_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)ctx;
    duet_fn_call((duet_fn *)user, in, out);
}

static void test_nested_function_names_the_traced_one(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *inner = duet_fn_new(ctx, "counts", counts_in_body, 1, 1, NULL);
    duet_fn *outer = duet_fn_new(ctx, "train_step", outer_body, 1, 1, inner);
    duet_tensor *x = ones(ctx, 2), *y;
    assert_int_equal(duet_fn_call(outer, &x, &y), -1);
    expect_var_in_fn(ctx, "train_step");
    duet_fn_free(outer);
    duet_fn_free(inner);
    duet_ctx_free(ctx);
}

/* The eager lint traces the body too: its refused variable must not leak into the
 * eager run, which still makes one variable per call. */
static void test_lint_keeps_eager_behaviour(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_ctx_set_lint(ctx, true);
    duet_fn *fn = duet_fn_new(ctx, "counts", counts_in_body, 1, 1, NULL);
    duet_fn_set_mode(fn, DUET_EAGER);
    for (int call = 1; call <= 2; call++) {
        duet_tensor *x = ones(ctx, 3), *y;
        assert_int_equal(duet_fn_call(fn, &x, &y), 0);
        assert_true(duet_get_f32(y, 0) == 3.0f);
        assert_int_equal(duet_var_count(ctx), call);
        duet_ctx_reset(ctx);
    }
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

/* The fix agrees with eager under every policy, one trace. */
static void test_captured_variable_agrees(void **state)
{
    (void)state;
    for (int p = 0; p < 3; p++) {
        float got[2][4];
        for (int mode = 0; mode < 2; mode++) {
            duet_ctx *ctx = duet_ctx_new();
            duet_var *counter = duet_var_new(ctx, "counter", DUET_F32, 0, NULL);
            duet_fn *fn = duet_fn_new(ctx, "counts", counts_captured, 1, 1, counter);
            duet_fn_set_mode(fn, mode ? DUET_GRAPH : DUET_EAGER);
            duet_fn_set_policy(fn, policies[p]);
            for (int call = 0; call < 4; call++) {
                duet_tensor *x = ones(ctx, 2), *y;
                assert_int_equal(duet_fn_call(fn, &x, &y), 0);
                got[mode][call] = duet_get_f32(y, 0);
                duet_ctx_reset(ctx);
            }
            if (mode) assert_int_equal(duet_fn_trace_count(fn), 1);
            duet_fn_free(fn);
            duet_ctx_free(ctx);
        }
        assert_memory_equal(got[0], got[1], sizeof got[0]);
        assert_true(got[1][3] == 8.0f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eager_makes_a_variable_per_call),
        cmocka_unit_test(test_tracing_refuses_with_the_fix),
        cmocka_unit_test(test_nested_function_names_the_traced_one),
        cmocka_unit_test(test_lint_keeps_eager_behaviour),
        cmocka_unit_test(test_captured_variable_agrees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
