/* Every registered case, in every run (eager, then graph under strict, specialize and
 * guard), does what its expect table says, with the harness's default tolerances and
 * seed and each case's own number of steps; and buggy cases and their fixed twins
 * name each other. Cases are found in the registry, so new ones are covered as they
 * are added. Runs are in-process (duet_run_case): a crash fails the whole program. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "result.h"
#include "testutil.h"

static const duet_run_opts defaults = {.seed = 42, .rtol = 1e-5, .atol = 1e-8};

static void test_case_runs_as_expected(void **state)
{
    const duet_case *c = *state;
    int unexpected = 0;
    duet_result *r = malloc(sizeof *r); /* large: per-step timings and values */
    assert_non_null(r);
    for (int k = 0; k < DUET_RUN_COUNT; k++) {
        duet_run_case(c, (duet_run_kind)k, &defaults, r);
        if (r->as_expected) continue;
        unexpected++;
        printf("%s (%s:%d), %s run: %s\n", c->name, c->file, c->line,
               duet_run_name((duet_run_kind)k), r->why);
        if (r->diag.code) duet_diag_print(stdout, &r->diag);
    }
    free(r);
    fflush(stdout); /* the reasons before cmocka's verdict (on stderr) */
    assert_int_equal(unexpected, 0);
}

static bool named(const char *a, const char *b) { return a && b && !strcmp(a, b); }

/* A buggy case (.twin) names a registered twin that fixes it, or fixes another case
 * with the same twin (one fix can serve several buggy variants: the seed bug and the
 * seed bug run eagerly); a twin (.fixes) names a registered case whose twin it is. */
static void test_twins_name_each_other(void **state)
{
    (void)state;
    int bad = 0;
    for (int i = 0; i < duet_case_count(); i++) {
        const duet_case *c = duet_case_at(i);
        if (c->twin) {
            const duet_case *t = duet_case_find(c->twin);
            const duet_case *fixed = t && t->fixes ? duet_case_find(t->fixes) : NULL;
            if (!fixed || !named(fixed->twin, c->twin)) {
                printf("%s: its twin '%s' is %s\n", c->name, c->twin,
                       !t ? "not registered" : "not registered as fixing a case it is the twin of");
                bad++;
            }
        }
        if (c->fixes) {
            const duet_case *b = duet_case_find(c->fixes);
            if (!b || !named(b->twin, c->name)) {
                printf("%s: fixes '%s', which is %s\n", c->name, c->fixes,
                       !b ? "not registered" : "registered with another twin");
                bad++;
            }
        }
    }
    fflush(stdout);
    assert_int_equal(bad, 0);
}

int main(void)
{
    int n = duet_case_count();
    assert_true(n > 0);
    struct CMUnitTest *tests = calloc((size_t)n + 1, sizeof *tests);
    assert_non_null(tests);
    for (int i = 0; i < n; i++) {
        const duet_case *c = duet_case_at(i);
        tests[i] = (struct CMUnitTest)cmocka_unit_test_prestate(test_case_runs_as_expected,
                                                                (void *)c);
        tests[i].name = c->name;
    }
    tests[n] = (struct CMUnitTest)cmocka_unit_test(test_twins_name_each_other);
    int failed = _cmocka_run_group_tests("catalog", tests, (size_t)n + 1, NULL, NULL);
    free(tests);
    return failed;
}
