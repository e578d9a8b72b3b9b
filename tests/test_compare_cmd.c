/* duet compare, lint and probe, driven in-process through duet_main on a planted case:
 * a host read that specialize bakes into the graph right before a known op. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "duet/case.h"
#include "localise.h"
#include "testutil.h"

/* ---- the planted case: y = x * x * mean(x), the mean read to the host ---- */

typedef struct planted {
    duet_var *acc; /* sum of every y so far: a variable for compare to check */
} planted;

static void *planted_setup(duet_ctx *ctx, uint64_t seed)
{
    (void)seed;
    planted *p = calloc(1, sizeof *p);
    if (!p) {
        duet_ctx_fail(ctx, DUET_ERR_OOM, "planted: out of memory");
        return NULL;
    }
    p->acc = duet_var_new(ctx, "acc", DUET_F32, 0, NULL);
    return p;
}

static void planted_teardown(void *state) { free(state); }

/* specialize answers DUET_ITEM once, on the first step's input, and bakes that mean
 * into the graph as the constant made at PLANTED_LINE; later inputs have other means. */
enum { PLANTED_READ = __LINE__ + 6, PLANTED_LINE = __LINE__ + 7 };
static void planted_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    planted *p = user;
    duet_tensor *x = in[0];
    duet_tensor *sq = duet_mul(ctx, x, x);
    float m = (float)DUET_ITEM(ctx, duet_mean(ctx, x, 0, false));
    duet_tensor *y = duet_mul(ctx, sq, duet_scalar(ctx, m));
    duet_assign(ctx, p->acc, duet_add(ctx, duet_var_read(ctx, p->acc), duet_sum(ctx, y, 0, false)));
    out[0] = y;
}

static void planted_inputs(duet_ctx *ctx, void *state, int step, uint64_t seed, duet_tensor **in)
{
    (void)state;
    float x[4];
    for (int i = 0; i < 4; i++) x[i] = 0.5f + (float)step + 0.25f * (float)i + (float)(seed % 7);
    in[0] = duet_constant(ctx, DUET_F32, 1, (int64_t[]){4}, x);
}

DUET_CASE(planted_case, .name = "planted-item", .category = "test",
          .summary = "DUET_ITEM of a mean multiplied back in: specialize bakes the first mean",
          .nin = 1, .nout = 1, .relax = "(N)", .steps = 4, .setup = planted_setup,
          .teardown = planted_teardown, .body = planted_body, .inputs = planted_inputs,
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_TRACE_ERROR},
                     [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_DIVERGENCE},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_OK}})

/* ---- the CLI in this process ---- */

static char out[1 << 16];

/* Runs duet_main on the words of args with stdout and stderr captured into out;
 * returns the exit code. */
static int duet(const char *args)
{
    char buf[512], *argv[32] = {"duet"};
    int argc = 1;
    snprintf(buf, sizeof buf, "%s", args);
    for (char *w = strtok(buf, " "); w && argc < 31; w = strtok(NULL, " ")) argv[argc++] = w;
    fflush(stdout), fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    FILE *cap = tmpfile();
    assert_non_null(cap);
    dup2(fileno(cap), 1), dup2(fileno(cap), 2);
    int rc = duet_main(argc, argv);
    fflush(stdout), fflush(stderr);
    dup2(saved_out, 1), dup2(saved_err, 2);
    close(saved_out), close(saved_err);
    rewind(cap);
    size_t n = fread(out, 1, sizeof out - 1, cap);
    out[n] = 0;
    fclose(cap);
    return rc;
}

static void expect_line(const char *needle)
{
    if (!strstr(out, needle)) fail_msg("'%s' not in:\n%s", needle, out);
}

/* ---- compare ---- */

static void test_compare_names_the_baked_op(void **state)
{
    (void)state;
    assert_int_equal(duet("compare planted-item --policy specialize"), 1);
    expect_line("compare planted-item: eager vs graph (specialize), 4 steps, seed 42");
    expect_line("   0           0          0        0       0           0          0        0       0  ok");
    expect_line("diverges first at step 1 output 0 [0]");
    char op[128];
    snprintf(op, sizeof op, "  constant at tests/test_compare_cmd.c:%d in the top level, occurrence 0",
             PLANTED_LINE);
    expect_line(op);
    expect_line("its output differs while its inputs agree");
    expect_line("was baked into the graph as");
    /* no pass made this divergence: the trace itself baked the value */
    expect_line("pass bisection (each enabled pass off in turn: dce cse fold fuse plan guards layout): "
                "no single pass");
}

static void test_localise_record(void **state)
{
    (void)state;
    duet_divergence *d = malloc(sizeof *d);
    duet_run_opts o = {.seed = 42, .rtol = 1e-5, .atol = 1e-8};
    assert_int_equal(duet_localise(duet_case_find("planted-item"), DUET_RUN_SPECIALIZE, &o, d), 0);
    assert_int_equal(d->steps_run, 4);
    assert_int_equal(d->first_step, 1);
    assert_false(duet_compare_differs(&d->step[0].out) || duet_compare_differs(&d->step[0].vars));
    for (int s = 1; s < 4; s++) {
        assert_true(duet_compare_differs(&d->step[s].out));
        assert_true(duet_compare_differs(&d->step[s].vars)); /* acc took the wrong y */
    }
    assert_true(d->op_found);
    assert_string_equal(d->op.op, "constant");
    assert_int_equal(d->op.line, PLANTED_LINE);
    assert_int_equal(d->unmatched, 0); /* the debug run is the op log op for op */
    assert_true(d->records > 0);
    assert_int_equal(d->cures, 0);
    free(d);
}

static void test_compare_agrees(void **state)
{
    (void)state;
    assert_int_equal(duet("compare planted-item --policy guard"), 0);
    expect_line("the modes agree within tolerance on every step");
    assert_int_equal(duet("compare mlp --steps 3 --seed 7"), 0);
    expect_line("compare mlp: eager vs graph (strict), 3 steps, seed 7");
    /* a tolerance wide enough forgives the baked mean */
    assert_int_equal(duet("compare planted-item --policy specialize --rtol 10 --atol 1000"), 0);
}

static void test_compare_mode_stops(void **state)
{
    (void)state;
    /* strict refuses the host read: a diagnostic, not a divergence */
    assert_int_equal(duet("compare planted-item"), 1);
    expect_line("the strict run stopped at step 0:");
    expect_line("DUET_ITEM");
}

/* Pass bisection's logic on a stand-in for running the case: the modes agree exactly
 * when fuse is off. (No correct pass changes results, so a case cannot plant this.) */
static bool agrees_without_fuse(unsigned passes, void *user)
{
    ++*(int *)user;
    return !(passes & DUET_PASS_FUSE);
}

static bool never_agrees(unsigned passes, void *user)
{
    (void)passes, (void)user;
    return false;
}

static void test_pass_bisection_logic(void **state)
{
    (void)state;
    int runs = 0;
    assert_int_equal(duet_passes_curing(DUET_PASS_ALL, agrees_without_fuse, &runs), DUET_PASS_FUSE);
    assert_int_equal(runs, 7); /* one run per enabled pass */
    runs = 0;
    unsigned some = DUET_PASS_DCE | DUET_PASS_FUSE | DUET_PASS_PLAN;
    assert_int_equal(duet_passes_curing(some, agrees_without_fuse, &runs), DUET_PASS_FUSE);
    assert_int_equal(runs, 3); /* passes the case does not enable are not tried */
    assert_int_equal(duet_passes_curing(DUET_PASS_ALL, never_agrees, NULL), 0);
    assert_string_equal(duet_pass_name(DUET_PASS_GUARDS), "guards");
    assert_null(duet_pass_name(3));
    assert_int_equal(duet_pass_parse("reassoc"), DUET_PASS_REASSOC);
    assert_int_equal(duet_pass_parse("layout"), DUET_PASS_LAYOUT);
    assert_string_equal(duet_pass_name(DUET_PASS_LAYOUT), "layout");
    assert_int_equal(duet_pass_parse("lunch"), 0);
}

/* A real pass-made divergence: the catalog's fusion-numerics reassociates sums. Within
 * the default tolerance the modes agree; at zero tolerance compare finds that the ops
 * agree unoptimised and bisection names the pass. */
static void test_compare_names_the_pass(void **state)
{
    (void)state;
    assert_int_equal(duet("compare fusion-numerics"), 0);
    assert_int_equal(duet("compare fusion-numerics --rtol 0 --atol 0"), 1);
    expect_line("the ops agree unoptimised");
    expect_line("the divergence disappears without reassoc");
}

/* ---- lint ---- */

static void test_lint(void **state)
{
    (void)state;
    assert_int_equal(duet("lint planted-item --steps 3"), 1);
    char line[160];
    snprintf(line, sizeof line, "  DUET_ITEM  tests/test_compare_cmd.c:%d  in the top level  shape (None,)",
             PLANTED_READ);
    expect_line("lint planted-item: 1 host read that strict tracing would reject (3 steps, eager)");
    expect_line(line);
    assert_int_equal(duet("lint mlp --steps 2"), 0);
    expect_line("lint mlp: 0 host reads that strict tracing would reject (2 steps, eager)");
}

/* ---- probe ---- */

static void test_probe(void **state)
{
    (void)state;
    assert_int_equal(duet("probe planted-item --seeds 2"), 1);
    expect_line("probe planted-item: 1 host read baked under specialize; eager over 2 seeds from 42, 4 steps each");
    char line[200];
    /* seed 42: x = 0.5 + 42 % 7 + step + i / 4, so the mean is 0.875 at step 0, 1.875 at 1 */
    snprintf(line, sizeof line,
             "  baked branch at tests/test_compare_cmd.c:%d (DUET_ITEM in the top level): eager "
             "read 1.875, the graph baked 0.875 (seed 42, step 1); outputs differ by ",
             PLANTED_READ);
    expect_line(line);
}

static void test_probe_record(void **state)
{
    (void)state;
    duet_probe *p = malloc(sizeof *p);
    duet_run_opts o = {.seed = 42, .steps = 2, .rtol = 1e-5, .atol = 1e-8};
    assert_int_equal(duet_probe_case(duet_case_find("planted-item"), &o, 1, p), 0);
    assert_int_equal(p->nreads, 1);
    const duet_probe_read *r = &p->read[0];
    assert_true(r->differs);
    assert_true(r->baked == 0.875 && r->eager == 1.875);
    assert_int_equal(r->step, 1);
    /* y = x^2 * mean: x = 1.5 .. 2.25 and the mean baked 1 too small, so y[3] is off by 2.25^2 */
    assert_true(r->out.max_abs == 5.0625);
    /* one step: nothing else to read, so the baked read is never seen to differ */
    o.steps = 1;
    assert_int_equal(duet_probe_case(duet_case_find("planted-item"), &o, 1, p), 0);
    assert_int_equal(p->nreads, 1);
    assert_false(p->read[0].differs);
    free(p);
}

static void test_mlp_has_nothing_baked(void **state)
{
    (void)state;
    assert_int_equal(duet("probe mlp --steps 2 --seeds 1"), 0);
    expect_line("probe mlp: 0 host reads baked under specialize");
}

/* ---- usage ---- */

static void test_help_and_bad_flags(void **state)
{
    (void)state;
    const char *help[] = {"compare --help", "lint --help", "probe -h"};
    for (size_t i = 0; i < sizeof help / sizeof *help; i++) {
        assert_int_equal(duet(help[i]), 0);
        expect_line("usage: duet ");
    }
    const char *bad[][2] = {
        {"compare", "duet compare: missing CASE (see duet compare --help)\n"},
        {"compare resnet", "duet compare: no case named 'resnet' (see duet list)\n"},
        {"compare mlp ner", "duet compare: unexpected argument 'ner'"},
        {"compare mlp --policy eager", "duet compare: --policy: expected strict, specialize or guard, got 'eager'\n"},
        {"compare mlp --steps 0", "duet compare: --steps: expected an integer in 1..512, got '0'\n"},
        {"compare mlp --rtol -1", "duet compare: --rtol: expected a number"},
        {"compare mlp --atol", "duet compare: --atol needs a value\n"},
        {"compare mlp --frob", "duet compare: unknown flag '--frob' (see duet compare --help)\n"},
        {"lint", "duet lint: missing CASE"},
        {"lint mlp --policy strict", "duet lint: unknown flag '--policy'"},
        {"lint mlp --seed x", "duet lint: --seed: expected an integer"},
        {"probe mlp --seeds 0", "duet probe: --seeds: expected an integer in 1..10000, got '0'\n"},
        {"probe nothing", "duet probe: no case named 'nothing'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(duet(bad[i][0]), 2);
        expect_line(bad[i][1]);
        if (strchr(out, '\n') != out + strlen(out) - 1) fail_msg("not one line: %s", out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compare_names_the_baked_op),
        cmocka_unit_test(test_localise_record),
        cmocka_unit_test(test_compare_agrees),
        cmocka_unit_test(test_compare_mode_stops),
        cmocka_unit_test(test_pass_bisection_logic),
        cmocka_unit_test(test_compare_names_the_pass),
        cmocka_unit_test(test_lint),
        cmocka_unit_test(test_probe),
        cmocka_unit_test(test_probe_record),
        cmocka_unit_test(test_mlp_has_nothing_baked),
        cmocka_unit_test(test_help_and_bad_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
