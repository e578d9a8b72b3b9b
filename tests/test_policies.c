/* Graph mode under every policy (issue 7): effects applied once, loops as graph
 * loops, guards before effects, the outer function's policy, checked sizes, the
 * guard cache and its limit, relaxed dims, leaked tensors, lint against strict,
 * remembered failures. Every graph result is checked against eager's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const duet_policy policies[3] = {DUET_POLICY_STRICT, DUET_POLICY_SPECIALIZE,
                                        DUET_POLICY_GUARD};

static duet_tensor *vec(duet_ctx *ctx, int n, float v)
{
    float x[16];
    for (int i = 0; i < n; i++) x[i] = v;
    return duet_constant(ctx, DUET_F32, 1, (int64_t[]){n}, x);
}

static float call1_at(duet_ctx *ctx, duet_fn *fn, duet_tensor *x)
{
    duet_tensor *y;
    int rc = duet_fn_call(fn, &x, &y);
    if (rc) duet_diag_print(stderr, duet_ctx_error(ctx));
    assert_int_equal(rc, 0);
    return duet_get_f32(y, 0);
}

/* The text form of the function's latest graph; the caller frees it. */
/* ---- 1. effects applied once ---- */

/* acc += sum(x); returns the new value */
static void accumulate(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    duet_var *acc = user;
    duet_tensor *v = duet_add(ctx, duet_var_read(ctx, acc), duet_sum(ctx, in[0], 1u, false));
    duet_assign(ctx, acc, v);
    out[0] = v;
}

/* The same, then a host read of the new value: under specialize and guard the trace
 * evaluates the assign to answer the read, and must not apply it. */
static void accumulate_abs(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    duet_var *acc = user;
    duet_tensor *v = duet_add(ctx, duet_var_read(ctx, acc), duet_sum(ctx, in[0], 1u, false));
    duet_assign(ctx, acc, v);
    out[0] = DUET_BOOL(ctx, duet_greater(ctx, v, duet_scalar(ctx, 0))) ? v : duet_neg(ctx, v);
}

static void run_accumulator(duet_fn_body body, duet_exec_mode mode, duet_policy policy, bool relax,
                            const float *xs, const int *lens, int n, float *acc_out, float *y_out,
                            int *traces)
{
    duet_ctx *ctx = duet_ctx_new();
    duet_var *acc = duet_var_new(ctx, "acc", DUET_F32, 0, NULL);
    duet_fn *fn = duet_fn_new(ctx, "accumulate", body, 1, 1, acc);
    duet_fn_set_mode(fn, mode);
    duet_fn_set_policy(fn, policy);
    if (relax) assert_int_equal(duet_fn_relax(fn, "(N)"), 0);
    for (int i = 0; i < n; i++) {
        y_out[i] = call1_at(ctx, fn, vec(ctx, lens[i], xs[i]));
        acc_out[i] = duet_get_f32(duet_var_value(acc), 0);
        duet_ctx_reset(ctx);
    }
    *traces = duet_fn_trace_count(fn);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

static void test_effects_applied_once(void **state)
{
    (void)state;
    const float ones[4] = {1, 1, 1, 1};
    const int lens[4] = {1, 1, 2, 1};
    for (int p = 0; p < 3; p++)
        for (int relax = 0; relax < 2; relax++) {
            float acc[4], y[4];
            int traces;
            run_accumulator(accumulate, DUET_GRAPH, policies[p], relax, ones, lens, 4, acc, y,
                            &traces);
            const float want[4] = {1, 2, 4, 5};
            for (int i = 0; i < 4; i++)
                if (acc[i] != want[i] || y[i] != want[i])
                    fail_msg("policy %d relax %d call %d: acc %g y %g, eager %g", p, relax, i,
                             acc[i], y[i], want[i]);
            assert_int_equal(traces, relax ? 1 : 2);
        }
}

/* A guard that fails after the assign it depends on: the write was only staged, so
 * the retrace starts clean and the variable moves once per call. */
static void test_guard_after_assign_retraces_cleanly(void **state)
{
    (void)state;
    const float xs[5] = {1, 1, -5, 1, 9};
    const int lens[5] = {1, 1, 1, 1, 1};
    float ae[5], ye[5], ag[5], yg[5];
    int te, tg;
    run_accumulator(accumulate_abs, DUET_EAGER, DUET_POLICY_STRICT, true, xs, lens, 5, ae, ye, &te);
    run_accumulator(accumulate_abs, DUET_GRAPH, DUET_POLICY_GUARD, true, xs, lens, 5, ag, yg, &tg);
    const float want_acc[5] = {1, 2, -3, -2, 7};
    for (int i = 0; i < 5; i++) {
        assert_true(ae[i] == want_acc[i]);
        if (ag[i] != ae[i] || yg[i] != ye[i])
            fail_msg("call %d: graph acc %g y %g, eager acc %g y %g", i, ag[i], yg[i], ae[i], ye[i]);
    }
    assert_int_equal(tg, 2); /* one entry per branch; call 4 reuses the first */
    /* specialize bakes the first branch: the write still happens exactly once */
    float as[5], ys[5];
    int ts;
    run_accumulator(accumulate_abs, DUET_GRAPH, DUET_POLICY_SPECIALIZE, true, xs, lens, 5, as, ys,
                    &ts);
    for (int i = 0; i < 5; i++) assert_true(as[i] == ae[i]);
    assert_true(ys[2] == -3.0f); /* baked "true": wrong, as specialize warns */
    assert_int_equal(ts, 1);
}

/* ---- 2. loops stay graph loops ---- */

static duet_tensor *halve_cond(duet_ctx *ctx, duet_tensor *const *s, void *user)
{
    (void)user;
    return duet_greater(ctx, s[0], duet_scalar(ctx, 1));
}

static void halve_body(duet_ctx *ctx, duet_tensor *const *s, duet_tensor **next, void *user)
{
    (void)user;
    next[0] = duet_div(ctx, s[0], duet_scalar(ctx, 2));
    next[1] = duet_add(ctx, s[1], duet_scalar(ctx, 1));
}

/* the number of halvings of sum(x) while cond holds */
static void count_halvings(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out,
                           duet_loop_cond_fn cond)
{
    duet_tensor *st[2];
    duet_while_loop(ctx, cond, halve_body,
                    (duet_tensor *[]){duet_sum(ctx, in[0], 1u, false), duet_scalar(ctx, 0)}, 2, st,
                    100, NULL);
    out[0] = st[1];
}

static void halvings(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    count_halvings(ctx, in, out, halve_cond);
}

static void test_loop_trip_count_is_data(void **state)
{
    (void)state;
    for (int p = 0; p < 3; p++) {
        duet_ctx *ctx = duet_ctx_new();
        duet_fn *fn = duet_fn_new(ctx, "halvings", halvings, 1, 1, NULL);
        duet_fn_set_policy(fn, policies[p]);
        assert_true(call1_at(ctx, fn, vec(ctx, 1, 0.5f)) == 0.0f); /* no trip at trace time */
        assert_true(call1_at(ctx, fn, vec(ctx, 1, 8.0f)) == 3.0f);
        assert_true(call1_at(ctx, fn, vec(ctx, 1, 100.0f)) == 7.0f);
        assert_int_equal(duet_fn_trace_count(fn), 1);
        assert_int_equal(duet_fn_warning_count(fn), 0);
        char *text = tu_graph_text(duet_fn_graph(fn), false);
        assert_non_null(strstr(text, "= while "));
        free(text);
        duet_fn_free(fn);
        duet_ctx_free(ctx);
    }
}

static duet_tensor *read_in_cond(duet_ctx *ctx, duet_tensor *const *s, void *user)
{
    (void)user;
    bool big = DUET_BOOL(ctx, duet_greater(ctx, s[0], duet_scalar(ctx, 1)));
    return duet_greater(ctx, s[0], duet_scalar(ctx, big ? 1 : 2));
}

static void loop_with_read(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    count_halvings(ctx, in, out, read_in_cond);
}

/* A host read inside a loop has a new value every iteration: no policy can bake it,
 * so it is a diagnostic under each, never a crash. */
static void test_host_read_in_loop_is_a_diagnostic(void **state)
{
    (void)state;
    for (int p = 0; p < 3; p++) {
        duet_ctx *ctx = duet_ctx_new();
        duet_fn *fn = duet_fn_new(ctx, "loop_with_read", loop_with_read, 1, 1, NULL);
        duet_fn_set_policy(fn, policies[p]);
        duet_tensor *x = vec(ctx, 1, 8.0f), *y;
        assert_int_equal(duet_fn_call(fn, &x, &y), -1);
        const duet_diag *d = duet_ctx_error(ctx);
        assert_int_equal(d->code, DUET_ERR_HOST_BRANCH);
        assert_non_null(strstr(d->file, "test_policies.c"));
        if (p) assert_non_null(strstr(d->explanation, "duet_while_loop"));
        duet_fn_free(fn);
        duet_ctx_free(ctx);
    }
}

/* ---- 3. two guards: the second failing is a clean retrace ---- */

/* x * (sum > 0 ? 2 : 3) + (max > 5 ? 10 : 0), and a call counter */
static void two_reads(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    duet_var *calls = user;
    duet_assign(ctx, calls, duet_add(ctx, duet_var_read(ctx, calls), duet_scalar(ctx, 1)));
    bool pos = DUET_BOOL(ctx, duet_greater(ctx, duet_sum(ctx, in[0], 1u, false), duet_scalar(ctx, 0)));
    duet_tensor *y = duet_mul(ctx, in[0], duet_scalar(ctx, pos ? 2 : 3));
    bool big = DUET_BOOL(ctx, duet_greater(ctx, duet_max(ctx, in[0], 1u, false), duet_scalar(ctx, 5)));
    out[0] = big ? duet_add(ctx, y, duet_scalar(ctx, 10)) : y;
}

static void test_second_guard_failing_retraces(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_var *calls = duet_var_new(ctx, "calls", DUET_F32, 0, NULL);
    duet_fn *fn = duet_fn_new(ctx, "two_reads", two_reads, 1, 1, calls);
    duet_fn_set_policy(fn, DUET_POLICY_GUARD);
    assert_true(call1_at(ctx, fn, vec(ctx, 2, 6)) == 22.0f);
    assert_true(call1_at(ctx, fn, vec(ctx, 2, 1)) == 2.0f); /* the second guard fails */
    assert_true(call1_at(ctx, fn, vec(ctx, 2, -1)) == -3.0f); /* the first fails in both entries */
    assert_true(call1_at(ctx, fn, vec(ctx, 2, 7)) == 24.0f);
    assert_int_equal(duet_ctx_status(ctx), DUET_OK);
    assert_int_equal(duet_fn_trace_count(fn), 3);
    assert_non_null(strstr(duet_fn_trace_reason(fn, 1), "guard failed at"));
    assert_true(duet_get_f32(duet_var_value(calls), 0) == 4.0f); /* once per call */
    /* the guards and what they read run before the counter's assign */
    char *text = tu_graph_text(duet_fn_graph(fn), false);
    char *guard = strstr(text, "= guard "), *assign = strstr(text, "= assign ");
    assert_non_null(guard);
    assert_non_null(assign);
    assert_true(guard < assign);
    free(text);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

/* ---- 4. the outer function's policy governs nested ones ---- */

static duet_fn *inner_fn;

static void inner_abs(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    bool pos = DUET_BOOL(ctx, duet_greater(ctx, duet_sum(ctx, in[0], 1u, false), duet_scalar(ctx, 0)));
    out[0] = pos ? in[0] : duet_neg(ctx, in[0]);
}

static void outer_calls_inner(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)ctx, (void)user;
    duet_fn_call(inner_fn, in, out);
}

static void test_nested_functions_use_outer_policy(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    inner_fn = duet_fn_new(ctx, "inner_abs", inner_abs, 1, 1, NULL); /* strict */
    duet_fn *outer = duet_fn_new(ctx, "outer", outer_calls_inner, 1, 1, NULL);
    duet_fn_set_policy(outer, DUET_POLICY_GUARD);
    assert_true(call1_at(ctx, outer, vec(ctx, 1, 1)) == 1.0f);
    assert_true(call1_at(ctx, outer, vec(ctx, 1, -1)) == 1.0f); /* eager's answer, after a retrace */
    assert_int_equal(duet_fn_trace_count(outer), 2);
    assert_int_equal(duet_fn_trace_count(inner_fn), 0); /* it was inlined */
    assert_non_null(strstr(duet_fn_trace_reason(outer, 1), "test_policies.c"));
    /* specialize on the outer: the warning lands on the outer function */
    duet_fn_set_policy(outer, DUET_POLICY_SPECIALIZE);
    assert_true(call1_at(ctx, outer, vec(ctx, 1, 1)) == 1.0f);
    assert_int_equal(duet_fn_warning_count(outer), 1);
    assert_int_equal(duet_fn_warning_count(inner_fn), 0);
    /* strict on the outer: a diagnostic, though the inner's own policy is strict too */
    duet_fn_set_policy(inner_fn, DUET_POLICY_GUARD);
    duet_fn_set_policy(outer, DUET_POLICY_STRICT);
    duet_tensor *x = vec(ctx, 1, 1), *y;
    assert_int_equal(duet_fn_call(outer, &x, &y), -1);
    assert_int_equal(duet_ctx_status(ctx), DUET_ERR_HOST_BRANCH);
    duet_fn_free(outer);
    duet_fn_free(inner_fn);
    duet_ctx_free(ctx);
}

/* ---- 5. huge dims: one checked size in both modes ---- */

static void hypercube(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    int64_t t = in[0]->shape[0];
    out[0] = duet_sum(ctx, duet_full(ctx, DUET_F32, 4, (int64_t[]){t, t, t, t}, 1.0f), 15u, false);
}

static void test_huge_dims_are_an_error_in_both_modes(void **state)
{
    (void)state;
    const int64_t sizes[3] = {1000, 70000, (int64_t)1 << 40}; /* over the limit; overflowing */
    for (int m = 0; m < 4; m++)
        for (int k = 0; k < 3; k++) {
            duet_ctx *ctx = duet_ctx_new();
            duet_fn *fn = duet_fn_new(ctx, "hypercube", hypercube, 1, 1, NULL);
            duet_fn_set_mode(fn, m ? DUET_GRAPH : DUET_EAGER);
            if (m) duet_fn_set_policy(fn, policies[m - 1]);
            assert_int_equal(duet_fn_relax(fn, "(T,_)"), 0);
            /* a zero-size argument carries the huge dim at no cost */
            duet_tensor *x = duet_full(ctx, DUET_F32, 2, (int64_t[]){sizes[k], 0}, 0), *y;
            assert_int_equal(duet_ctx_status(ctx), DUET_OK);
            assert_int_equal(duet_fn_call(fn, &x, &y), -1);
            const duet_diag *d = duet_ctx_error(ctx);
            assert_int_equal(d->code, DUET_ERR_OOM);
            assert_non_null(strstr(d->message, "too large"));
            duet_fn_free(fn);
            duet_ctx_free(ctx);
        }
}

/* ---- 6. the guard cache: several entries, exact items, a limit ---- */

static void branchy(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_tensor *pos = duet_greater(ctx, duet_mean(ctx, in[0], 1u, false), duet_scalar(ctx, 0));
    out[0] = duet_mul(ctx, in[0], duet_scalar(ctx, DUET_BOOL(ctx, pos) ? 2 : -1));
}

static int item_line;

static void scale_by_mean(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    item_line = __LINE__ + 1;
    double m = DUET_ITEM(ctx, duet_mean(ctx, in[0], 1u, false));
    out[0] = duet_mul(ctx, in[0], duet_scalar(ctx, (float)m));
}

static void test_guard_cache_has_several_entries(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "branchy", branchy, 1, 1, NULL);
    duet_fn_set_policy(fn, DUET_POLICY_GUARD);
    for (int i = 0; i < 10; i++) {
        float v = i % 2 ? -1.0f - (float)i : 1.0f + (float)i;
        assert_true(call1_at(ctx, fn, vec(ctx, 2, v)) == (v > 0 ? 2 * v : -v));
        duet_ctx_reset(ctx);
    }
    assert_int_equal(duet_fn_trace_count(fn), 2); /* no thrash: one entry per branch */
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

/* DUET_ITEM guards the exact value read; DUET_BOOL of a comparison only its outcome. */
static void test_item_guards_value_bool_guards_outcome(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *item = duet_fn_new(ctx, "scale_by_mean", scale_by_mean, 1, 1, NULL);
    duet_fn *cmp = duet_fn_new(ctx, "branchy", branchy, 1, 1, NULL);
    duet_fn_set_policy(item, DUET_POLICY_GUARD);
    duet_fn_set_policy(cmp, DUET_POLICY_GUARD);
    for (int k = 0; k < 2; k++) /* the second round hits the cache */
        for (int m = 1; m <= 4; m++) {
            assert_true(call1_at(ctx, item, vec(ctx, 3, (float)m)) == (float)(m * m));
            assert_true(call1_at(ctx, cmp, vec(ctx, 3, (float)m)) == 2.0f * (float)m);
        }
    assert_int_equal(duet_fn_trace_count(item), 4);
    assert_int_equal(duet_fn_trace_count(cmp), 1);
    duet_fn_free(item);
    duet_fn_free(cmp);
    duet_ctx_free(ctx);
}

static void test_retrace_storm_names_the_guard(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "scale_by_mean", scale_by_mean, 1, 1, NULL);
    duet_fn_set_policy(fn, DUET_POLICY_GUARD);
    for (int m = 1; m <= 8; m++) (void)call1_at(ctx, fn, vec(ctx, 2, (float)m));
    duet_tensor *x = vec(ctx, 2, 9), *y;
    assert_int_equal(duet_fn_call(fn, &x, &y), -1);
    const duet_diag *d = duet_ctx_error(ctx);
    assert_int_equal(d->code, DUET_ERR_RETRACE_STORM);
    assert_int_equal(d->line, item_line);
    assert_non_null(strstr(d->file, "test_policies.c"));
    assert_non_null(strstr(d->message, "8 traces"));
    assert_non_null(strstr(d->message, "DUET_ITEM was 8 at trace time"));
    assert_int_equal(duet_fn_trace_count(fn), 8);
    duet_ctx_clear_error(ctx);
    /* a raised limit lets the same call through */
    duet_fn_set_trace_limit(fn, 16);
    assert_true(call1_at(ctx, fn, x) == 81.0f);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

static void identity(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    out[0] = duet_add(ctx, in[0], duet_scalar(ctx, 0));
}

static void test_retrace_storm_names_the_dim(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "identity", identity, 1, 1, NULL); /* nothing relaxed */
    for (int n = 1; n <= 8; n++) (void)call1_at(ctx, fn, vec(ctx, n, 1));
    duet_tensor *x = vec(ctx, 9, 1), *y;
    int line = __LINE__ + 1;
    assert_int_equal(duet_fn_call(fn, &x, &y), -1);
    const duet_diag *d = duet_ctx_error(ctx);
    assert_int_equal(d->code, DUET_ERR_RETRACE_STORM);
    assert_int_equal(d->line, line); /* the call site */
    assert_non_null(strstr(d->message, "arg 0 dim 0: 8 -> 9"));
    assert_non_null(strstr(d->message, "duet_fn_relax"));
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

/* ---- 7. relaxed dims stay symbolic under every policy ---- */

static void scale_by_len(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    out[0] = duet_mul(ctx, in[0], duet_scalar(ctx, (float)DUET_DIM(ctx, in[0], 0)));
}

static void test_relaxed_dims_under_every_policy(void **state)
{
    (void)state;
    for (int p = 0; p < 3; p++) {
        duet_ctx *ctx = duet_ctx_new();
        duet_fn *fn = duet_fn_new(ctx, "branchy", branchy, 1, 1, NULL);
        duet_fn_set_policy(fn, policies[p]);
        assert_int_equal(duet_fn_relax(fn, "(N)"), 0);
        int ok = 0;
        for (int n = 2; n <= 6; n++) {
            duet_tensor *x = vec(ctx, n, 1), *y;
            ok += duet_fn_call(fn, &x, &y) == 0 && duet_get_f32(y, n - 1) == 2.0f;
            duet_ctx_clear_error(ctx);
        }
        assert_int_equal(ok, p ? 5 : 0); /* strict: the host read is a diagnostic */
        assert_int_equal(duet_fn_trace_count(fn), 1);
        duet_fn_free(fn);
        duet_ctx_free(ctx);
    }
}

/* DUET_DIM of a relaxed dim bakes (specialize) or guards (guard) that one dim. */
static void test_dim_read_of_relaxed_dim(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *guard = duet_fn_new(ctx, "scale_by_len", scale_by_len, 1, 1, NULL);
    duet_fn *spec = duet_fn_new(ctx, "scale_by_len", scale_by_len, 1, 1, NULL);
    duet_fn_set_policy(guard, DUET_POLICY_GUARD);
    duet_fn_set_policy(spec, DUET_POLICY_SPECIALIZE);
    assert_int_equal(duet_fn_relax(guard, "(N)"), 0);
    assert_int_equal(duet_fn_relax(spec, "(N)"), 0);
    const int lens[4] = {2, 3, 2, 3};
    for (int i = 0; i < 4; i++) {
        assert_true(call1_at(ctx, guard, vec(ctx, lens[i], 1)) == (float)lens[i]);
        assert_true(call1_at(ctx, spec, vec(ctx, lens[i], 1)) == 2.0f); /* baked: wrong for 3 */
    }
    assert_int_equal(duet_fn_trace_count(guard), 2);
    assert_non_null(strstr(duet_fn_trace_reason(guard, 1), "DUET_DIM was 2 at trace time"));
    assert_int_equal(duet_fn_trace_count(spec), 1);
    assert_int_equal(duet_fn_warning_count(spec), 1);
    assert_non_null(strstr(duet_fn_warning(spec, 0), "in the top level was baked"));
    duet_fn_free(guard);
    duet_fn_free(spec);
    duet_ctx_free(ctx);
}

/* x[:3] when x is longer than 3: the slice's bounds hold only for the lengths the
 * guard allows. */
static void truncate3(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    out[0] = DUET_DIM(ctx, in[0], 0) > 3 ? duet_slice(ctx, in[0], 0, 0, 3) : in[0];
}

/* An entry traced for a long length holds a slice [0:3] that a shorter length cannot
 * satisfy: its dim guard must fail (and the call retrace) before that slice's shape
 * rule reports an error. */
static void test_dim_guard_fails_before_specialised_shapes(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "truncate3", truncate3, 1, 1, NULL);
    duet_fn_set_policy(fn, DUET_POLICY_GUARD);
    assert_int_equal(duet_fn_relax(fn, "(N)"), 0);
    const int lens[4] = {5, 2, 5, 2};
    for (int i = 0; i < 4; i++) {
        duet_tensor *y, *x = vec(ctx, lens[i], 1);
        assert_int_equal(duet_fn_call(fn, &x, &y), 0);
        assert_int_equal(y->shape[0], lens[i] > 3 ? 3 : lens[i]);
        duet_ctx_reset(ctx);
    }
    assert_int_equal(duet_fn_trace_count(fn), 2);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

/* ---- 8. leaked tensors ---- */

static duet_tensor *stash;
static int stash_line;

static void stasher(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    bool read = user != NULL;
    stash_line = __LINE__ + 1;
    stash = duet_mul(ctx, in[0], duet_scalar(ctx, 2));
    out[0] = read && DUET_BOOL(ctx, duet_greater(ctx, duet_sum(ctx, in[0], 1u, false),
                                                  duet_scalar(ctx, 0)))
                 ? stash
                 : in[0];
}

static void expect_leak(duet_ctx *ctx, const char *fn_name)
{
    const duet_diag *d = duet_ctx_error(ctx);
    assert_non_null(d);
    assert_int_equal(d->code, DUET_ERR_LEAKED);
    char made[64];
    snprintf(made, sizeof made, "test_policies.c:%d", stash_line);
    assert_non_null(strstr(d->message, fn_name));
    assert_non_null(strstr(d->message, made));
    assert_non_null(strstr(d->message, "used outside that trace"));
    duet_ctx_clear_error(ctx);
}

static void test_leaked_tensor_is_a_diagnostic(void **state)
{
    (void)state;
    for (int p = 0; p < 3; p++) {
        duet_ctx *ctx = duet_ctx_new();
        int flag = 1;
        duet_fn *fn = duet_fn_new(ctx, "stasher", stasher, 1, 1, p ? NULL : &flag);
        duet_fn_set_policy(fn, policies[p]);
        duet_tensor *x = vec(ctx, 2, 1), *y;
        duet_fn_call(fn, &x, &y); /* strict: fails at the read, after the stash */
        duet_ctx_clear_error(ctx);
        (void)duet_add(ctx, stash, x); /* eagerly */
        expect_leak(ctx, "trace 1 of stasher");
        (void)DUET_BOOL(ctx, stash);
        expect_leak(ctx, "stasher");
        duet_fn *other = duet_fn_new(ctx, "identity", identity, 1, 1, NULL);
        duet_fn_call(other, &stash, &y); /* as an argument */
        expect_leak(ctx, "stasher");
        duet_fn_free(fn);
        (void)duet_sum(ctx, stash, 1u, false); /* after its function is gone */
        expect_leak(ctx, "stasher");
        duet_fn_free(other);
        duet_ctx_free(ctx);
    }
}

static void uses_stash(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    out[0] = duet_add(ctx, in[0], stash);
}

static void test_leaked_tensor_in_another_trace(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "stasher", stasher, 1, 1, NULL);
    duet_fn *user = duet_fn_new(ctx, "uses_stash", uses_stash, 1, 1, NULL);
    duet_fn_set_policy(fn, DUET_POLICY_GUARD);
    duet_fn_set_policy(user, DUET_POLICY_GUARD);
    duet_tensor *x = vec(ctx, 2, 1), *y;
    assert_int_equal(duet_fn_call(fn, &x, &y), 0);
    assert_int_equal(duet_fn_call(user, &x, &y), -1);
    expect_leak(ctx, "stasher");
    duet_fn_free(fn);
    duet_fn_free(user);
    duet_ctx_free(ctx);
}

/* ---- 9. lint reports exactly the sites strict tracing rejects ---- */

static duet_var *lint_var;

static void read_input(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    out[0] = DUET_BOOL(ctx, duet_any(ctx, duet_greater(ctx, in[0], duet_scalar(ctx, 0)), 3u, false))
                 ? in[0]
                 : duet_neg(ctx, in[0]);
}

static void read_fixed_dim(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    out[0] = duet_mul(ctx, in[0], duet_scalar(ctx, (float)DUET_DIM(ctx, in[0], 1)));
}

static void read_relaxed_dim(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    out[0] = duet_mul(ctx, in[0], duet_scalar(ctx, (float)DUET_DIM(ctx, in[0], 0)));
}

static void read_constants(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_tensor *c = duet_greater(ctx, duet_scalar(ctx, 1), duet_scalar(ctx, 0));
    out[0] = DUET_BOOL(ctx, c) ? in[0] : duet_neg(ctx, in[0]);
}

static void read_plain_constant(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    out[0] = duet_mul(ctx, in[0], duet_scalar(ctx, (float)DUET_ITEM(ctx, duet_scalar(ctx, 3))));
}

static void read_variable(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    out[0] = duet_mul(ctx, in[0], duet_scalar(ctx, (float)DUET_ITEM(ctx, duet_var_read(ctx, lint_var))));
}

static void no_read(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    out[0] = duet_relu(ctx, in[0]);
}

static void test_lint_agrees_with_strict(void **state)
{
    (void)state;
    const duet_fn_body bodies[] = {read_input,     read_fixed_dim,      read_relaxed_dim,
                                   read_constants, read_plain_constant, read_variable,
                                   no_read};
    const int expect_site[] = {1, 0, 1, 1, 0, 1, 0};
    for (size_t k = 0; k < sizeof bodies / sizeof *bodies; k++) {
        duet_ctx *ctx = duet_ctx_new();
        lint_var = duet_var_new(ctx, "v", DUET_F32, 0, NULL);
        duet_fn *fn = duet_fn_new(ctx, "f", bodies[k], 1, 1, NULL);
        assert_int_equal(duet_fn_relax(fn, "(N,_)"), 0);
        float data[6] = {1, -2, 3, 4, -5, 6};
        duet_tensor *x = duet_constant(ctx, DUET_F32, 2, (int64_t[]){3, 2}, data), *y;
        /* strict graph mode */
        char strict_site[256] = "";
        if (duet_fn_call(fn, &x, &y)) {
            const duet_diag *d = duet_ctx_error(ctx);
            assert_int_equal(d->code, DUET_ERR_HOST_BRANCH);
            snprintf(strict_site, sizeof strict_site, "%s:%d", d->file, d->line);
            duet_ctx_clear_error(ctx);
        }
        /* eager with lint, twice: one lint trace per signature */
        duet_ctx_set_lint(ctx, true);
        duet_fn_set_mode(fn, DUET_EAGER);
        for (int call = 0; call < 2; call++) {
            int rc = duet_fn_call(fn, &x, &y);
            if (rc) duet_diag_print(stderr, duet_ctx_error(ctx));
            assert_int_equal(rc, 0);
        }
        char lint_site[256] = "";
        assert_true(duet_lint_count(ctx) <= 1);
        if (duet_lint_count(ctx)) {
            const duet_lint *l = duet_lint_at(ctx, 0);
            snprintf(lint_site, sizeof lint_site, "%s:%d", l->file, l->line);
        }
        if (strcmp(strict_site, lint_site))
            fail_msg("function %zu: strict rejects '%s', lint reports '%s'", k, strict_site,
                     lint_site);
        assert_int_equal(strict_site[0] != 0, expect_site[k]);
        duet_fn_free(fn);
        duet_ctx_free(ctx);
    }
}

/* ---- 11. a failed strict call is remembered ---- */

static void test_failed_strict_trace_is_remembered(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "branchy", branchy, 1, 1, NULL);
    int line = 0;
    for (int i = 0; i < 3; i++) {
        duet_tensor *x = vec(ctx, 2, 1), *y;
        assert_int_equal(duet_fn_call(fn, &x, &y), -1);
        const duet_diag *d = duet_ctx_error(ctx);
        assert_int_equal(d->code, DUET_ERR_HOST_BRANCH);
        if (i) assert_int_equal(d->line, line);
        line = d->line;
        duet_ctx_clear_error(ctx);
    }
    assert_int_equal(duet_fn_trace_count(fn), 1);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_effects_applied_once),
        cmocka_unit_test(test_guard_after_assign_retraces_cleanly),
        cmocka_unit_test(test_loop_trip_count_is_data),
        cmocka_unit_test(test_host_read_in_loop_is_a_diagnostic),
        cmocka_unit_test(test_second_guard_failing_retraces),
        cmocka_unit_test(test_nested_functions_use_outer_policy),
        cmocka_unit_test(test_huge_dims_are_an_error_in_both_modes),
        cmocka_unit_test(test_guard_cache_has_several_entries),
        cmocka_unit_test(test_item_guards_value_bool_guards_outcome),
        cmocka_unit_test(test_retrace_storm_names_the_guard),
        cmocka_unit_test(test_retrace_storm_names_the_dim),
        cmocka_unit_test(test_relaxed_dims_under_every_policy),
        cmocka_unit_test(test_dim_read_of_relaxed_dim),
        cmocka_unit_test(test_dim_guard_fails_before_specialised_shapes),
        cmocka_unit_test(test_leaked_tensor_is_a_diagnostic),
        cmocka_unit_test(test_leaked_tensor_in_another_trace),
        cmocka_unit_test(test_lint_agrees_with_strict),
        cmocka_unit_test(test_failed_strict_trace_is_remembered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
