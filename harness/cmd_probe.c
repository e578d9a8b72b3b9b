/* `duet probe CASE`: branch probing. Under the specialize policy (torch.jit.trace)
 * a host read is answered once, at trace time, and baked into the graph. probe finds
 * the reads that were baked, runs the case eagerly over generated inputs (more steps
 * and seeds) watching the value each read takes, and on the first input where a read
 * differs from the baked value reports how far the graph's outputs are from eager's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "localise.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: duet probe CASE [--steps N] [--seeds K] [--seed S]\n"
               "  CASE        a registered case (duet list)\n"
               "  --steps N   steps per seed (default: the case's own)\n"
               "  --seeds K   seeds to generate inputs from, S, S+1, ... (default 4)\n"
               "  --seed S    the first seed (default 42)\n"
               "Runs the case under specialize beside eager mode and reports each host read the\n"
               "graph baked, with an input on which eager mode reads another value and how far\n"
               "the two modes' outputs are apart on it.\n"
               "exit: 0 no baked read changes the outputs, 1 one does (or a mode stopped),\n"
               "2 usage, 3 internal\n");
}

static int parse(int argc, char **argv, const duet_case **c, duet_run_opts *o, int *seeds)
{
    *o = (duet_run_opts){.seed = 42, .rtol = 1e-5, .atol = 1e-8};
    *seeds = 4;
    for (int i = 1; i < argc; i++) {
        int rc = duet_arg_case_run("probe", argc, argv, &i, c, o);
        if (rc != 1) {
            if (rc) return rc;
            continue;
        }
        const char *v;
        long long n;
        if (!duet_arg_is(argv[i], "--seeds")) {
            fprintf(stderr, "duet probe: unknown flag '%s' (see duet probe --help)\n", argv[i]);
            return 2;
        }
        if (!(v = duet_arg_value("probe", argc, argv, &i)) ||
            duet_arg_int("probe", "--seeds", v, 1, 10000, &n))
            return 2;
        *seeds = (int)n;
    }
    if (!*c) {
        fprintf(stderr, "duet probe: missing CASE (see duet probe --help)\n");
        return 2;
    }
    return 0;
}

static const char *value_text(const char *what, double v, char *buf, size_t n)
{
    if (!strcmp(what, "DUET_BOOL")) snprintf(buf, n, "%s", v != 0 ? "true" : "false");
    else snprintf(buf, n, "%.9g", v);
    return buf;
}

static int report(const duet_case *c, const duet_run_opts *o, const duet_probe *p)
{
    printf("probe %s: %d host read%s baked under specialize; eager over %d seed%s from %llu, "
           "%d steps each\n",
           c->name, p->nreads, p->nreads == 1 ? "" : "s", p->seeds, p->seeds == 1 ? "" : "s",
           (unsigned long long)o->seed, p->steps);
    int wrong = 0;
    for (int i = 0; i < p->nreads; i++) {
        const duet_probe_read *r = &p->read[i];
        char baked[32], eager[32];
        const char *scope = r->scope[0] ? r->scope : "the top level";
        if (!r->differs) {
            printf("  baked %s at %s:%d in %s: eager read %s on every input tried\n", r->what,
                   r->file, r->line, scope, value_text(r->what, r->baked, baked, sizeof baked));
            continue;
        }
        bool differ = duet_compare_differs(&r->out);
        wrong += differ;
        printf("  baked branch at %s:%d (%s in %s): eager read %s, the graph baked %s "
               "(seed %llu, step %d); ",
               r->file, r->line, r->what, scope, value_text(r->what, r->eager, eager, sizeof eager),
               value_text(r->what, r->baked, baked, sizeof baked), (unsigned long long)r->seed,
               r->step);
        if (differ)
            printf("outputs differ by %.3g (max abs; max rel %.3g, %lld ULP)\n", r->out.max_abs,
                   r->out.max_rel, (long long)r->out.max_ulp);
        else
            printf("the outputs still agree on it\n");
    }
    if (p->diag.code) {
        printf("a run stopped:\n");
        fflush(stdout);
        duet_diag_print(stdout, &p->diag);
        return 1;
    }
    return wrong ? 1 : 0;
}

int duet_cmd_probe(int argc, char **argv)
{
    if (duet_arg_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    const duet_case *c = NULL;
    duet_run_opts o;
    int seeds;
    int rc = parse(argc, argv, &c, &o, &seeds);
    if (rc) return rc;
    duet_probe *p = malloc(sizeof *p);
    if (!p) return 3;
    if (duet_probe_case(c, &o, seeds, p)) {
        fprintf(stderr, "duet probe: %s\n", p->diag.message);
        rc = 3;
    } else {
        rc = report(c, &o, p);
    }
    free(p);
    return rc;
}
