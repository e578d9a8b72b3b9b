/* `duet run CASE...|--all`: every (case, mode, policy) run, its outcome beside the
 * expected one, and exit 0 only when every outcome is as expected. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "report.h"
#include "result.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: duet run CASE...|--all [options]\n"
            "  --mode M          eager, graph or both (default both)\n"
            "  --policy P        strict, specialize, guard or all (default all)\n"
            "  --steps N         steps per run (default: each case's own)\n"
            "  --seed S          inputs' seed (default 42)\n"
            "  --rtol R --atol A allclose tolerances for graph vs eager (default 1e-5, 1e-8)\n"
            "  --timeout S       seconds per run before it is killed (default 120)\n"
            "  --threads N       threads for the kernels of each run (default: the CPUs)\n"
            "  --shard K/N       run only the cases whose index is K-1 modulo N\n"
            "  --no-fork         run in this process (for a debugger; a crash ends the suite)\n"
            "  --verbose         print what was found for every run, not only unexpected ones\n"
            "  --json FILE       write the run as JSON (docs/report-schema.md)\n"
            "  --junit FILE      write JUnit XML: one testcase per case and run\n"
            "  --sarif FILE      write SARIF 2.1.0: the findings at their source lines\n"
            "  --report DIR      write DIR/index.html and DIR/report.md with gnuplot plots\n"
            "  --profile FILE    write the runs' per-op timeline as Chrome trace-event JSON\n");
}

/* Files written from the suite after the run, each by its flag. */
static const struct {
    const char *flag;
    int (*write)(const char *path, const duet_suite *s, char *err, size_t errlen);
} outputs[] = {{"--json", duet_write_json},
               {"--junit", duet_write_junit},
               {"--sarif", duet_write_sarif},
               {"--profile", duet_write_chrome_trace}};
#define NOUTPUTS (sizeof outputs / sizeof *outputs)

typedef struct run_args {
    bool all, fork, verbose;
    bool run[DUET_RUN_COUNT];
    int shard_k, shard_n;
    const char *report_dir;
    const char *output[NOUTPUTS]; /* paths by outputs[], or NULL */
    const duet_case *cases[256];
    int ncases;
    duet_run_opts o;
} run_args;

static int parse_shard(const char *v, run_args *a)
{
    int k, n, used = 0;
    if (sscanf(v, "%d/%d%n", &k, &n, &used) != 2 || v[used] || n < 1 || k < 1 || k > n) {
        fprintf(stderr, "duet run: --shard: expected K/N with 1 <= K <= N, got '%s'\n", v);
        return 2;
    }
    a->shard_k = k, a->shard_n = n;
    return 0;
}

static int parse_flag(int argc, char **argv, int *i, run_args *a)
{
    const char *arg = argv[*i], *f = NULL, *v;
    long long n;
    int sw;
    if ((sw = duet_arg_switch("run", arg, "--all"))) return sw < 0 ? 2 : (a->all = true, 0);
    if ((sw = duet_arg_switch("run", arg, "--no-fork"))) return sw < 0 ? 2 : (a->o.fork = false, 0);
    if ((sw = duet_arg_switch("run", arg, "--verbose"))) return sw < 0 ? 2 : (a->verbose = true, 0);
    static const char *const valued[] = {"--mode", "--policy", "--steps", "--seed", "--rtol",
                                         "--atol", "--timeout", "--shard", "--report",
                                         "--threads"};
    /* f: the flag's name, whether given as "--flag value" or "--flag=value" */
    for (size_t k = 0; k < sizeof valued / sizeof *valued; k++)
        if (duet_arg_is(arg, valued[k])) f = valued[k];
    for (size_t k = 0; k < NOUTPUTS; k++)
        if (duet_arg_is(arg, outputs[k].flag)) f = outputs[k].flag;
    if (!f) {
        fprintf(stderr, "duet run: unknown flag '%s' (see duet run --help)\n", arg);
        return 2;
    }
    if (!(v = duet_arg_value("run", argc, argv, i))) return 2;
    for (size_t k = 0; k < NOUTPUTS; k++)
        if (!strcmp(f, outputs[k].flag)) return a->output[k] = v, 0;
    if (!strcmp(f, "--mode")) {
        bool e = !strcmp(v, "eager") || !strcmp(v, "both"), g = !strcmp(v, "graph") || !strcmp(v, "both");
        if (!e && !g) {
            fprintf(stderr, "duet run: --mode: expected eager, graph or both, got '%s'\n", v);
            return 2;
        }
        a->run[DUET_RUN_EAGER] = e;
        for (int k = DUET_RUN_STRICT; k < DUET_RUN_COUNT; k++) a->run[k] = g && a->run[k];
    } else if (!strcmp(f, "--policy")) {
        int k = duet_run_parse(v);
        if (strcmp(v, "all") && k <= DUET_RUN_EAGER) {
            fprintf(stderr, "duet run: --policy: expected strict, specialize, guard or all, got '%s'\n", v);
            return 2;
        }
        for (int j = DUET_RUN_STRICT; j < DUET_RUN_COUNT; j++) a->run[j] = a->run[j] && (k < 0 || j == k);
    } else if (!strcmp(f, "--steps")) {
        if (duet_arg_int("run", f, v, 1, DUET_MAX_STEPS, &n)) return 2;
        a->o.steps = (int)n;
    } else if (!strcmp(f, "--seed")) {
        if (duet_arg_int("run", f, v, 0, INT64_MAX, &n)) return 2;
        a->o.seed = (uint64_t)n;
    } else if (!strcmp(f, "--rtol") || !strcmp(f, "--atol")) {
        if (duet_arg_double("run", f, v, 0, 1e30, f[2] == 'r' ? &a->o.rtol : &a->o.atol)) return 2;
    } else if (!strcmp(f, "--report")) {
        char err[4352];
        if (duet_prepare_output_dir(v, err, sizeof err)) {
            fprintf(stderr, "duet run: %s: %s\n", f, err);
            return 2;
        }
        a->report_dir = v;
        a->o.profile = true; /* it plots kernel time by op kind */
    } else if (!strcmp(f, "--timeout")) {
        if (duet_arg_double("run", f, v, 0.001, 1e6, &a->o.timeout_s)) return 2;
    } else if (!strcmp(f, "--threads")) {
        if (duet_arg_int("run", f, v, 1, DUET_MAX_THREADS, &n)) return 2;
        a->o.threads = (int)n;
    } else {
        return parse_shard(v, a);
    }
    return 0;
}

static int parse(int argc, char **argv, run_args *a)
{
    for (int k = 0; k < DUET_RUN_COUNT; k++) a->run[k] = true;
    a->o = (duet_run_opts){.seed = 42, .rtol = 1e-5, .atol = 1e-8, .timeout_s = 120, .fork = true};
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') {
            int rc = parse_flag(argc, argv, &i, a);
            if (rc) return rc;
            continue;
        }
        const duet_case *c = duet_case_find(argv[i]);
        if (!c) {
            fprintf(stderr, "duet run: no case named '%s' (see duet list)\n", argv[i]);
            return 2;
        }
        if (a->ncases < 256) a->cases[a->ncases++] = c;
    }
    if (a->all)
        for (int i = 0; i < duet_case_count() && a->ncases < 256; i++) a->cases[a->ncases++] = duet_case_at(i);
    if (!a->ncases) {
        fprintf(stderr, "duet run: missing CASE or --all (see duet run --help)\n");
        return 2;
    }
    char err[512];
    for (size_t k = 0; k < NOUTPUTS; k++)
        if (a->output[k] && duet_output_check(a->output[k], err, sizeof err)) {
            fprintf(stderr, "duet run: %s: %s\n", outputs[k].flag, err);
            return 2;
        }
    return 0;
}

static void print_header(void)
{
    printf("%-26s %-10s %-15s %-15s %6s %9s  %s\n", "case", "run", "expected", "actual", "traces",
           "median ms", "");
}

static void print_result(const duet_result *r, bool verbose)
{
    printf("%-26s %-10s %-15s %-15s %6d %9.3f  %s\n", r->case_name, duet_run_name(r->run),
           duet_outcome_name(r->expected), duet_outcome_name(r->actual), r->traces,
           r->timing.median_ms, r->as_expected ? "as expected" : "UNEXPECTED");
    if (!r->as_expected || verbose) {
        const char *what = r->why[0] ? r->why : r->diag.message;
        if (what[0]) printf("    %s\n", what);
        if (r->diag.code && r->diag.file[0] && (verbose || !r->as_expected))
            printf("    at %s:%d\n", r->diag.file, r->diag.line);
        if (r->actual == DUET_OUTCOME_DIVERGENCE && r->op_step >= 0)
            printf("    first divergent op: %s at %s:%d%s%s (step %d)\n", r->op_name, r->op_file,
                   r->op_line, r->op_scope[0] ? " in " : "", r->op_scope, r->op_step);
        if (r->passes_at_fault[0])
            printf("    the divergence disappears without the pass: %s\n", r->passes_at_fault);
        if (verbose && r->warning[0]) printf("    warning: %s\n", r->warning);
        for (int i = 0; verbose && i < r->traces && i < DUET_MAX_REASONS; i++)
            printf("    trace %d: %s\n", i + 1, r->reasons[i]);
        for (int i = 0; i < r->neffects && (verbose || !r->as_expected); i++)
            printf("    host effect '%s' (%s:%d): changed on %d steps eagerly, %d in graph mode%s\n",
                   r->effects[i].name, r->case_file, r->effects[i].line, r->effects[i].eager_steps,
                   r->effects[i].graph_steps, r->effects[i].trace_only ? ", only while tracing" : "");
        if (verbose && r->run != DUET_RUN_EAGER && r->timing.speedup > 0) {
            printf("    time: trace %.2f ms, optimise %.2f ms, first call %.2f ms; per step %.3f ms "
                   "(p10 %.3f, p90 %.3f) vs eager %.3f ms: %.2fx (%.2f-%.2fx)",
                   r->timing.trace_ms, r->timing.optimise_ms, r->timing.first_ms, r->timing.median_ms,
                   r->timing.p10_ms, r->timing.p90_ms, r->timing.eager_median_ms, r->timing.speedup,
                   r->timing.speedup_lo, r->timing.speedup_hi);
            if (r->timing.break_even_calls >= 0)
                printf("; pays off after %.0f calls\n", r->timing.break_even_calls + 0.5);
            else
                printf("; never pays off\n");
            printf("    memory: %zu bytes of intermediates planned, %zu without planning\n",
                   r->planned_bytes, r->unplanned_bytes);
        }
    }
}

int duet_cmd_run(int argc, char **argv)
{
    if (duet_arg_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    run_args *a = calloc(1, sizeof *a);
    if (!a) return 3;
    int rc = parse(argc, argv, a);
    if (rc) {
        free(a);
        return rc;
    }
    char shard[16] = "";
    if (a->shard_n) snprintf(shard, sizeof shard, "%d/%d", a->shard_k, a->shard_n);
    duet_suite suite;
    duet_suite_init(&suite, &a->o, shard);
    print_header();
    for (int i = 0; i < a->ncases && !rc; i++) {
        if (a->shard_n && i % a->shard_n != a->shard_k - 1) continue;
        for (int k = 0; k < DUET_RUN_COUNT && !rc; k++) {
            if (!a->run[k]) continue;
            duet_result *r = malloc(sizeof *r);
            if (!r) rc = 3;
            else if (a->o.fork) duet_run_isolated(a->cases[i], (duet_run_kind)k, &a->o, r);
            else duet_run_case(a->cases[i], (duet_run_kind)k, &a->o, r);
            if (r) {
                print_result(r, a->verbose);
                fflush(stdout);
                if (duet_suite_add(&suite, r)) rc = 3;
            }
            free(r);
        }
    }
    int unexpected = duet_suite_unexpected(&suite);
    printf("\n%d runs: %d as expected, %d unexpected\n", suite.n, suite.n - unexpected, unexpected);
    char err[4352];
    for (size_t k = 0; k < NOUTPUTS && !rc; k++)
        if (a->output[k] && outputs[k].write(a->output[k], &suite, err, sizeof err)) {
            fprintf(stderr, "duet run: %s: %s\n", outputs[k].flag, err);
            rc = 2;
        }
    if (!rc && a->report_dir && duet_write_report(a->report_dir, &suite, err, sizeof err)) {
        fprintf(stderr, "duet run: --report: %s\n", err);
        rc = 2;
    }
    duet_suite_free(&suite);
    free(a);
    return rc ? rc : unexpected ? 1 : 0;
}
