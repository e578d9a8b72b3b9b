/* `duet lint CASE`: the graph-readiness check. Runs the case eagerly with the lint on
 * and lists every host read strict tracing would reject, each site once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "localise.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: duet lint CASE [--steps N] [--seed S]\n"
               "  CASE        a registered case (duet list)\n"
               "  --steps N   steps to run eagerly (default: the case's own)\n"
               "  --seed S    the inputs' seed (default 42)\n"
               "Lists every host read (DUET_BOOL, DUET_ITEM, DUET_DIM) that strict tracing would\n"
               "reject, all of them in one eager run, each site once: macro, file:line, scope and\n"
               "the shape of the tensor read.\n"
               "exit: 0 none, 1 some (or the eager run stopped), 2 usage, 3 internal\n");
}

static int parse(int argc, char **argv, const duet_case **c, duet_run_opts *o)
{
    *o = (duet_run_opts){.seed = 42};
    for (int i = 1; i < argc; i++) {
        int rc = duet_arg_case_run("lint", argc, argv, &i, c, o);
        if (rc == 1) fprintf(stderr, "duet lint: unknown flag '%s' (see duet lint --help)\n", argv[i]);
        if (rc) return 2;
    }
    if (!*c) {
        fprintf(stderr, "duet lint: missing CASE (see duet lint --help)\n");
        return 2;
    }
    return 0;
}

/* One site per (macro, file, line, scope): a site linted on several signatures is
 * still one place to fix. */
static bool seen_before(const duet_ctx *ctx, int i)
{
    const duet_lint *l = duet_lint_at(ctx, i);
    for (int j = 0; j < i; j++) {
        const duet_lint *p = duet_lint_at(ctx, j);
        if (p->line == l->line && !strcmp(p->what, l->what) && !strcmp(p->file, l->file) &&
            !strcmp(p->scope, l->scope))
            return true;
    }
    return false;
}

static int lint_run(duet_session *s, const duet_run_opts *o)
{
    int steps = duet_case_steps(s->c, o), step = 0;
    duet_tensor *out[16];
    duet_ctx_set_lint(s->ctx, true);
    for (; step < steps && !duet_session_step(s, step, o->seed, out); step++)
        duet_ctx_reset(s->ctx);
    int sites = 0;
    for (int i = 0; i < duet_lint_count(s->ctx); i++) sites += !seen_before(s->ctx, i);
    printf("lint %s: %d host read%s that strict tracing would reject (%d step%s, eager)\n",
           s->c->name, sites, sites == 1 ? "" : "s", step, step == 1 ? "" : "s");
    for (int i = 0; i < duet_lint_count(s->ctx); i++) {
        const duet_lint *l = duet_lint_at(s->ctx, i);
        if (seen_before(s->ctx, i)) continue;
        printf("  %-9s  %s:%d  in %s  shape %s\n", l->what, l->file, l->line,
               l->scope[0] ? l->scope : "the top level", l->shape);
    }
    if (duet_ctx_status(s->ctx)) {
        printf("the eager run stopped at step %d:\n", step);
        fflush(stdout);
        duet_diag_print(stdout, duet_ctx_error(s->ctx));
        return 1;
    }
    return sites ? 1 : 0;
}

int duet_cmd_lint(int argc, char **argv)
{
    if (duet_arg_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    const duet_case *c = NULL;
    duet_run_opts o;
    int rc = parse(argc, argv, &c, &o);
    if (rc) return rc;
    duet_session s;
    if (duet_session_open(&s, c, DUET_RUN_EAGER, o.seed)) {
        if (s.ctx) duet_diag_print(stderr, duet_ctx_error(s.ctx));
        if (s.ctx) duet_session_close(&s);
        return 3;
    }
    rc = lint_run(&s, &o);
    duet_session_close(&s);
    return rc;
}
