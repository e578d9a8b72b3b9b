/* `duet baseline save RUN.json -o BASELINE.json` and `duet check --baseline
 * BASELINE.json RUN.json`: CI's contract. The baseline is made from a run's JSON, never
 * from a run of its own, so the run CI keeps as an artefact is exactly what the
 * baseline says. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "report.h"

static void baseline_usage(FILE *f)
{
    fprintf(f, "usage: duet baseline save RUN.json -o BASELINE.json\n"
               "  keeps, per case and run of RUN.json (duet run --json): the outcome, the\n"
               "  diagnostic's kind and site, the trace count, the max ULP from eager, the\n"
               "  compile time in steady steps and the speed ratio (docs/report-schema.md)\n");
}

int duet_cmd_baseline(int argc, char **argv)
{
    if (duet_arg_help(argc, argv)) {
        baseline_usage(stdout);
        return 0;
    }
    const char *run = NULL, *out = NULL;
    if (argc < 2 || strcmp(argv[1], "save")) {
        fprintf(stderr, "duet baseline: expected 'save' (see duet baseline --help)\n");
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (duet_arg_is(argv[i], "-o")) {
            if (!(out = duet_arg_value("baseline", argc, argv, &i))) return 2;
        } else if (argv[i][0] == '-' || run) {
            fprintf(stderr, "duet baseline: %s '%s' (see duet baseline --help)\n",
                    argv[i][0] == '-' ? "unknown flag" : "unexpected argument", argv[i]);
            return 2;
        } else {
            run = argv[i];
        }
    }
    if (!run || !out) {
        fprintf(stderr, "duet baseline: missing %s (see duet baseline --help)\n",
                run ? "-o BASELINE.json" : "RUN.json");
        return 2;
    }
    char err[512];
    duet_suite s;
    duet_baseline b;
    if (duet_output_check(out, err, sizeof err) || duet_read_json(run, &s, err, sizeof err)) {
        fprintf(stderr, "duet baseline: %s\n", err);
        return 2;
    }
    int rc = duet_baseline_from_suite(&s, &b) ? 3 : 0;
    if (!rc && duet_write_baseline(out, &b, err, sizeof err)) {
        fprintf(stderr, "duet baseline: %s\n", err);
        rc = 2;
    }
    duet_baseline_free(&b);
    duet_suite_free(&s);
    return rc;
}

static void check_usage(FILE *f)
{
    fprintf(f, "usage: duet check --baseline BASELINE.json RUN.json [options]\n"
               "  compares a run (duet run --json) with a baseline (duet baseline save); one\n"
               "  line per regression, exit 1 on any\n"
               "  --ulp-budget N       ULP from eager allowed beyond the baseline's (default 0)\n"
               "  --time-tolerance X   factor by which the speed ratio (eager/graph per-step\n"
               "                       medians) may shrink, and compile time grow (default 2)\n"
               "  --check-compile      compare compile time too, in steady steps (trace and\n"
               "                       optimise over the per-step median): one sample, noisy\n");
}

int duet_cmd_check(int argc, char **argv)
{
    if (duet_arg_help(argc, argv)) {
        check_usage(stdout);
        return 0;
    }
    const char *base_path = NULL, *run_path = NULL, *v;
    duet_budget budget = {.ulp = 0, .time_tolerance = 2};
    long long n;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int sw = duet_arg_switch("check", a, "--check-compile");
        if (sw < 0) return 2;
        if (sw) {
            budget.compile_time = true;
        } else if (duet_arg_is(a, "--baseline")) {
            if (!(base_path = duet_arg_value("check", argc, argv, &i))) return 2;
        } else if (duet_arg_is(a, "--ulp-budget")) {
            if (!(v = duet_arg_value("check", argc, argv, &i)) ||
                duet_arg_int("check", "--ulp-budget", v, 0, INT64_MAX, &n))
                return 2;
            budget.ulp = n;
        } else if (duet_arg_is(a, "--time-tolerance")) {
            if (!(v = duet_arg_value("check", argc, argv, &i)) ||
                duet_arg_double("check", "--time-tolerance", v, 1, 1e9, &budget.time_tolerance))
                return 2;
        } else if (a[0] == '-' || run_path) {
            fprintf(stderr, "duet check: %s '%s' (see duet check --help)\n",
                    a[0] == '-' ? "unknown flag" : "unexpected argument", a);
            return 2;
        } else {
            run_path = a;
        }
    }
    if (!base_path || !run_path) {
        fprintf(stderr, "duet check: missing %s (see duet check --help)\n",
                base_path ? "RUN.json" : "--baseline BASELINE.json");
        return 2;
    }
    char err[512];
    duet_baseline b;
    duet_suite s;
    if (duet_read_baseline(base_path, &b, err, sizeof err)) {
        fprintf(stderr, "duet check: %s\n", err);
        return 2;
    }
    if (duet_read_json(run_path, &s, err, sizeof err)) {
        fprintf(stderr, "duet check: %s\n", err);
        duet_baseline_free(&b);
        return 2;
    }
    int bad = duet_baseline_check(&b, &s, run_path, &budget, stdout, err, sizeof err);
    if (bad < 0) fprintf(stderr, "duet check: %s\n", err);
    duet_suite_free(&s);
    duet_baseline_free(&b);
    return bad < 0 ? 2 : bad ? 1 : 0;
}
