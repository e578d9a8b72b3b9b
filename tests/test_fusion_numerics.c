/* The fusion-numerics case (cases/bugs/fusion_numerics.c) judged by the runner: its
 * reassociated sums agree with eager within the default tolerance, diverge by a
 * few ULP at zero tolerance, and its twin (no DUET_PASS_REASSOC) is bit-identical. */
#include "testutil.h"

#include "result.h"

static const duet_run_kind graph_runs[] = {DUET_RUN_STRICT, DUET_RUN_SPECIALIZE, DUET_RUN_GUARD};

static void run(const char *name, duet_run_kind k, double rtol, double atol, duet_result *r)
{
    const duet_case *c = duet_case_find(name);
    assert_non_null(c);
    duet_run_opts o = {.seed = 42, .rtol = rtol, .atol = atol};
    assert_int_equal(duet_run_case(c, k, &o, r), 0);
    assert_int_equal(r->cmp.count, (int64_t)r->steps * 16); /* 16 row totals a step */
}

static void test_ok_within_the_default_tolerance(void **state)
{
    (void)state;
    static duet_result r;
    for (size_t i = 0; i < sizeof graph_runs / sizeof *graph_runs; i++) {
        run("fusion-numerics", graph_runs[i], 1e-5, 1e-8, &r);
        assert_int_equal(r.actual, DUET_OUTCOME_OK);
        assert_true(r.as_expected);
        assert_in_range(r.cmp.max_ulp, 1, 8); /* different bits, a few ULP */
    }
}

static void test_divergence_at_zero_tolerance(void **state)
{
    (void)state;
    static duet_result r;
    for (size_t i = 0; i < sizeof graph_runs / sizeof *graph_runs; i++) {
        run("fusion-numerics", graph_runs[i], 0, 0, &r);
        assert_int_equal(r.actual, DUET_OUTCOME_DIVERGENCE);
        assert_in_range(r.cmp.max_ulp, 1, 8);
        assert_true(r.cmp.mismatches > 0);
        assert_true(r.cmp.max_rel < 1e-5);
    }
}

static void test_twin_is_bit_identical(void **state)
{
    (void)state;
    static duet_result r;
    for (size_t i = 0; i < sizeof graph_runs / sizeof *graph_runs; i++) {
        run("fusion-numerics-fixed", graph_runs[i], 0, 0, &r);
        assert_int_equal(r.actual, DUET_OUTCOME_OK);
        assert_int_equal(r.cmp.max_ulp, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_within_the_default_tolerance),
        cmocka_unit_test(test_divergence_at_zero_tolerance),
        cmocka_unit_test(test_twin_is_bit_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
