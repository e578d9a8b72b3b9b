/* `duet compare CASE`: both modes step by step on the same inputs; on a divergence,
 * the first op whose output differs (with the user's source line) and the pass
 * whose removal makes it disappear. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "localise.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: duet compare CASE [--policy P] [--steps N] [--seed S] [--rtol R --atol A]\n"
            "  CASE              a registered case (duet list)\n"
            "  --policy P        the graph's policy: strict (default), specialize or guard\n"
            "  --steps N         steps to run (default: the case's own)\n"
            "  --seed S          the inputs' seed (default 42)\n"
            "  --rtol R --atol A allclose tolerances, |g - e| <= A + R * |e| (default 1e-5, 1e-8)\n"
            "Runs eager and graph mode side by side, comparing every step's outputs and every\n"
            "variable after it. On the first step that differs, names the first op whose output\n"
            "differs while its inputs agree (an unoptimised debug run against the eager op log)\n"
            "and the optimisation pass whose removal makes the divergence disappear.\n"
            "exit: 0 the modes agree, 1 they diverge or a mode stopped, 2 usage, 3 internal\n");
}

typedef struct compare_args {
    const duet_case *c;
    duet_run_kind run;
    duet_run_opts o;
} compare_args;

static int parse(int argc, char **argv, compare_args *a)
{
    a->run = DUET_RUN_STRICT;
    a->o = (duet_run_opts){.seed = 42, .rtol = 1e-5, .atol = 1e-8};
    for (int i = 1; i < argc; i++) {
        int rc = duet_arg_case_run("compare", argc, argv, &i, &a->c, &a->o);
        if (rc != 1) {
            if (rc) return rc;
            continue;
        }
        const char *f = argv[i], *v;
        bool policy = duet_arg_is(f, "--policy"), rtol = duet_arg_is(f, "--rtol");
        if (!policy && !rtol && !duet_arg_is(f, "--atol")) {
            fprintf(stderr, "duet compare: unknown flag '%s' (see duet compare --help)\n", f);
            return 2;
        }
        if (!(v = duet_arg_value("compare", argc, argv, &i))) return 2;
        if (policy) {
            int k = duet_run_parse(v);
            if (k <= DUET_RUN_EAGER) {
                fprintf(stderr, "duet compare: --policy: expected strict, specialize or guard, got '%s'\n", v);
                return 2;
            }
            a->run = (duet_run_kind)k;
        } else if (duet_arg_double("compare", rtol ? "--rtol" : "--atol", v, 0, 1e30,
                                   rtol ? &a->o.rtol : &a->o.atol)) {
            return 2;
        }
    }
    if (!a->c) {
        fprintf(stderr, "duet compare: missing CASE (see duet compare --help)\n");
        return 2;
    }
    return 0;
}

static const char *scope_text(const char *scope) { return scope[0] ? scope : "the top level"; }

static void print_steps(const duet_divergence *d)
{
    printf("      %-38s  %s\n", "outputs", "variables after the step");
    printf("step  %10s %10s %8s %7s  %10s %10s %8s %7s\n", "max abs", "max rel", "max ULP",
           "NaN/Inf", "max abs", "max rel", "max ULP", "NaN/Inf");
    for (int s = 0; s < d->steps_run; s++) {
        const duet_compare *o = &d->step[s].out, *v = &d->step[s].vars;
        printf("%4d  %10.3g %10.3g %8lld %7lld  %10.3g %10.3g %8lld %7lld  %s\n", s, o->max_abs,
               o->max_rel, (long long)o->max_ulp, (long long)o->nonfinite, v->max_abs, v->max_rel,
               (long long)v->max_ulp, (long long)v->nonfinite,
               o->shape_mismatch || v->shape_mismatch ? "shapes differ"
               : duet_compare_differs(o) || duet_compare_differs(v) ? "differs" : "ok");
    }
}

static void print_op(const duet_divergence *d)
{
    const duet_op_at *op = &d->op;
    if (!d->op_found) {
        printf("the ops agree unoptimised: the debug run (no optimisation pass) matches the eager\n"
               "op log on step %d (%d records, %d without an eager twin), so an optimisation pass\n"
               "introduced the divergence\n",
               d->first_step, d->records, d->unmatched);
        return;
    }
    printf("first divergent op (step %d, unoptimised debug run against the eager op log):\n"
           "  %s at %s:%d in %s%s, occurrence %d\n"
           "  its output differs while its inputs agree: max abs %.3g, max rel %.3g, %lld ULP\n",
           d->first_step, op->op, op->file, op->line, scope_text(op->scope),
           op->grad ? " (gradient)" : "", op->occurrence, op->cmp.max_abs, op->cmp.max_rel,
           (long long)op->cmp.max_ulp);
    if (!strcmp(op->op, "constant"))
        printf("  a constant that differs is a host value computed while tracing and baked in\n");
    if (d->warning[0]) printf("  warning: %s\n", d->warning);
}

static void print_bisection(const duet_divergence *d)
{
    printf("pass bisection (each enabled pass off in turn:");
    for (unsigned bit = 1; bit && bit <= d->passes; bit <<= 1)
        if (d->passes & bit) printf(" %s", duet_pass_name(bit));
    printf("): ");
    if (!d->cures) {
        printf("no single pass: the divergence remains without each of them\n");
        return;
    }
    printf("the divergence disappears without");
    for (unsigned bit = 1; bit && bit <= d->passes; bit <<= 1)
        if (d->cures & bit) printf(" %s", duet_pass_name(bit));
    printf("\n");
}

static int report(const compare_args *a, const duet_divergence *d)
{
    printf("compare %s: eager vs graph (%s), %d steps, seed %llu, rtol %g, atol %g\n", a->c->name,
           duet_run_name(a->run), d->steps, (unsigned long long)a->o.seed, a->o.rtol, a->o.atol);
    if (d->steps_run) print_steps(d);
    if (d->diag.code) {
        printf("the %s run stopped at step %d:\n", duet_run_name(d->stopped), d->steps_run);
        fflush(stdout);
        duet_diag_print(stdout, &d->diag);
        return 1;
    }
    if (d->first_step < 0) {
        printf("the modes agree within tolerance on every step\n");
        return 0;
    }
    const duet_step_compare *sc = &d->step[d->first_step];
    printf("diverges first at %s\n", sc->out.first[0] ? sc->out.first : sc->vars.first);
    print_op(d);
    print_bisection(d);
    return 1;
}

int duet_cmd_compare(int argc, char **argv)
{
    if (duet_arg_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    compare_args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc) return rc;
    duet_divergence *d = malloc(sizeof *d);
    if (!d) return 3;
    if (duet_localise(a.c, a.run, &a.o, d)) {
        fprintf(stderr, "duet compare: %s\n", d->diag.message);
        rc = 3;
    } else {
        rc = report(&a, d);
    }
    free(d);
    return rc;
}
