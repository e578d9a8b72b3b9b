/* The harness judging runs: planted cases that misbehave on purpose (a divergence
 * the case does not expect, a crash, a hang, a host effect that runs only while
 * tracing), each named as its outcome, and `duet run` exiting 1 on them. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "duet/case.h"
#include "result.h"
#include "testutil.h"

static void scalar_inputs(duet_ctx *ctx, void *state, int step, uint64_t seed, duet_tensor **in)
{
    (void)state, (void)seed;
    float v = (float)(step % 2 ? -1 - step : 1 + step);
    float x[3] = {v, v, 2 * v};
    in[0] = duet_constant(ctx, DUET_F32, 1, (int64_t[]){3}, x);
}

/* y = x * 2 if sum(x) > 0 else -x: specialize bakes the first step's branch */
static void branchy(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    bool pos = DUET_BOOL(ctx, duet_greater(ctx, duet_sum(ctx, in[0], 1u, false), duet_scalar(ctx, 0)));
    out[0] = pos ? duet_mul(ctx, in[0], duet_scalar(ctx, 2)) : duet_neg(ctx, in[0]);
}

/* Planted: it claims every run is ok, but specialize diverges and strict stops. */
DUET_CASE(planted_wrong_expectation, .name = "planted-wrong-expectation", .category = "planted",
          .summary = "claims ok everywhere; strict and specialize disagree", .nin = 1, .nout = 1,
          .steps = 4, .body = branchy, .inputs = scalar_inputs)

DUET_CASE(planted_right_expectation, .name = "planted-right-expectation", .category = "planted",
          .summary = "the same body with its true outcomes", .nin = 1, .nout = 1, .steps = 4,
          .body = branchy, .inputs = scalar_inputs,
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_TRACE_ERROR},
                     [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_DIVERGENCE},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_OK, .max_traces = 2}})

static duet_run_opts opts(void)
{
    return (duet_run_opts){.seed = 42, .rtol = 1e-5, .atol = 1e-8, .timeout_s = 60, .fork = true};
}

static void test_outcomes_are_judged(void **state)
{
    (void)state;
    duet_run_opts o = opts();
    duet_result r;
    const duet_case *wrong = duet_case_find("planted-wrong-expectation");
    const duet_case *right = duet_case_find("planted-right-expectation");
    assert_non_null(wrong);
    duet_run_case(wrong, DUET_RUN_SPECIALIZE, &o, &r);
    assert_int_equal(r.actual, DUET_OUTCOME_DIVERGENCE);
    assert_false(r.as_expected);
    assert_non_null(strstr(r.why, "expected ok, got divergence"));
    assert_non_null(strstr(r.why, "step 1 output 0"));
    assert_true(r.cmp.max_ulp > 0);
    duet_run_case(wrong, DUET_RUN_STRICT, &o, &r);
    assert_int_equal(r.actual, DUET_OUTCOME_TRACE_ERROR);
    assert_string_equal(r.diag.file, "tests/test_harness.c");
    for (int k = 0; k < DUET_RUN_COUNT; k++) {
        duet_run_case(right, (duet_run_kind)k, &o, &r);
        if (!r.as_expected) fail_msg("%s: %s", duet_run_name((duet_run_kind)k), r.why);
    }
    assert_int_equal(r.traces, 2); /* guard: one entry per branch */
}

static int run_cli(const char *a, const char *b, const char *c)
{
    char *argv[] = {"duet", "run", (char *)a, (char *)b, (char *)c, NULL};
    int argc = c ? 5 : b ? 4 : 3;
    FILE *saved = stdout;
    stdout = fopen("/dev/null", "w"); /* the table is not under test here */
    int rc = duet_main(argc, argv);
    fclose(stdout);
    stdout = saved;
    return rc;
}

static void test_run_exit_codes(void **state)
{
    (void)state;
    assert_int_equal(run_cli("planted-right-expectation", NULL, NULL), 0);
    assert_int_equal(run_cli("planted-wrong-expectation", "--policy", "specialize"), 1);
    assert_int_equal(run_cli("planted-wrong-expectation", "--mode", "eager"), 0);
    assert_int_equal(run_cli("no-such-case", NULL, NULL), 2);
}

/* ---- isolation: a crash and a hang become outcomes ---- */

static void crash_in_graph(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    if (in[0]->trace) raise(SIGSEGV); /* only while tracing */
    out[0] = duet_neg(ctx, in[0]);
}

static void hang_in_graph(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    if (in[0]->trace) {
        struct timespec ts = {30, 0};
        nanosleep(&ts, NULL);
    }
    out[0] = duet_neg(ctx, in[0]);
}

DUET_CASE(planted_crash, .name = "planted-crash", .category = "planted",
          .summary = "dies on a signal while tracing", .nin = 1, .nout = 1, .steps = 2,
          .body = crash_in_graph, .inputs = scalar_inputs,
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_CRASH}})

DUET_CASE(planted_hang, .name = "planted-hang", .category = "planted",
          .summary = "hangs while tracing", .nin = 1, .nout = 1, .steps = 2, .body = hang_in_graph,
          .inputs = scalar_inputs, .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_TIMEOUT}})

static void test_crash_and_timeout_are_outcomes(void **state)
{
    (void)state;
    duet_run_opts o = opts();
    duet_result r;
    duet_run_isolated(duet_case_find("planted-crash"), DUET_RUN_STRICT, &o, &r);
    assert_int_equal(r.actual, DUET_OUTCOME_CRASH);
    assert_true(r.as_expected);
    assert_int_equal(r.signal, SIGSEGV); /* even under a handler-installing host (cmocka) */
    assert_non_null(strstr(r.why, "Segmentation fault"));
    duet_run_isolated(duet_case_find("planted-crash"), DUET_RUN_EAGER, &o, &r);
    assert_int_equal(r.actual, DUET_OUTCOME_OK); /* the suite goes on */
    o.timeout_s = 0.3;
    duet_run_isolated(duet_case_find("planted-hang"), DUET_RUN_STRICT, &o, &r);
    assert_int_equal(r.actual, DUET_OUTCOME_TIMEOUT);
    assert_true(r.as_expected);
    assert_non_null(strstr(r.why, "0.3 s"));
}

/* ---- the host-effect ledger ---- */

typedef struct counter_state {
    int calls, line;
} counter_state;

static void *counter_setup(duet_ctx *ctx, uint64_t seed)
{
    (void)ctx, (void)seed;
    return calloc(1, sizeof(counter_state));
}

static void counted(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    counter_state *s = user;
    s->line = __LINE__ + 1;
    s->calls++; /* a host effect: graph mode runs it only while tracing */
    out[0] = duet_neg(ctx, in[0]);
}

static int counter_observe(void *state, duet_observation *obs)
{
    const counter_state *s = state;
    obs[0] = (duet_observation){"calls", s->calls, s->line};
    return 1;
}

DUET_CASE(planted_effect, .name = "planted-effect", .category = "planted",
          .summary = "a C counter in the body", .nin = 1, .nout = 1, .relax = "(N)", .steps = 5,
          .setup = counter_setup, .teardown = free, .body = counted, .inputs = scalar_inputs,
          .observe = counter_observe,
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_EFFECT_MISMATCH},
                     [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_EFFECT_MISMATCH},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_EFFECT_MISMATCH}})

static void test_effect_ledger(void **state)
{
    (void)state;
    duet_run_opts o = opts();
    duet_result r;
    duet_run_case(duet_case_find("planted-effect"), DUET_RUN_GUARD, &o, &r);
    assert_int_equal(r.actual, DUET_OUTCOME_EFFECT_MISMATCH);
    assert_true(r.as_expected);
    assert_int_equal(r.neffects, 1);
    assert_string_equal(r.effects[0].name, "calls");
    assert_int_equal(r.effects[0].eager_steps, 5);
    assert_int_equal(r.effects[0].graph_steps, 1);
    assert_true(r.effects[0].trace_only);
    assert_true(r.effects[0].line > 0);
    assert_non_null(strstr(r.why, "only while tracing"));
}

/* ---- comparison primitives ---- */

static void test_ulp_and_allclose(void **state)
{
    (void)state;
    assert_int_equal(duet_ulp_distance(1.0f, 1.0f), 0);
    assert_int_equal(duet_ulp_distance(1.0f, nextafterf(1.0f, 2.0f)), 1);
    assert_int_equal(duet_ulp_distance(-0.0f, 0.0f), 0);
    assert_int_equal(duet_ulp_distance(-1e-45f, 1e-45f), 2); /* across zero */
    float a[4] = {1, NAN, INFINITY, 1e-9f}, b[4] = {1.000001f, NAN, INFINITY, 0};
    duet_tensor ta = {.dtype = DUET_F32, .rank = 1, .shape = {4}, .data = a};
    duet_tensor tb = ta;
    tb.data = b;
    duet_compare c = {0};
    duet_compare_tensors(&ta, &tb, 1e-5, 1e-8, "x", &c);
    assert_int_equal(c.mismatches, 0); /* NaN == NaN, Inf == Inf, 1e-9 within atol */
    assert_int_equal(c.nonfinite, 0);
    b[2] = -INFINITY;
    duet_compare d = {0};
    duet_compare_tensors(&ta, &tb, 0, 0, "x", &d);
    assert_int_equal(d.nonfinite, 1);
    assert_int_equal(d.mismatches, 2); /* with zero tolerance 1 vs 1.000001 and 1e-9 vs 0 */
    assert_string_equal(d.first, "x [0]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outcomes_are_judged),
        cmocka_unit_test(test_run_exit_codes),
        cmocka_unit_test(test_crash_and_timeout_are_outcomes),
        cmocka_unit_test(test_effect_ledger),
        cmocka_unit_test(test_ulp_and_allclose),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
