/* `duet trace CASE`: traces a case's function on its first step's inputs and prints
 * the graph as text (jaxpr-like) or Graphviz DOT, after all passes or after one. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "result.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: duet trace CASE [--policy P] [--dot] [--after PASS] [--no-passes] [--seed S]\n"
               "  CASE             a registered case (duet list)\n"
               "  --policy P       strict (default), specialize or guard\n"
               "  --dot            Graphviz DOT instead of text\n"
               "  --after PASS     print the graph right after PASS: trace (before any pass),\n"
               "                   reassoc, dce, cse, fold, fuse, guards or plan\n"
               "  --no-passes      trace without optimising\n"
               "  --seed S         the inputs' seed (default 42)\n");
}

/* a pass, or "trace" for the graph before any pass */
static unsigned pass_bit(const char *name)
{
    return !strcmp(name, "trace") ? DUET_DUMP_TRACE : duet_pass_parse(name);
}

typedef struct trace_args {
    const duet_case *c;
    duet_run_kind run;
    bool dot, no_passes;
    unsigned after;
    long long seed;
} trace_args;

static int parse(int argc, char **argv, trace_args *a)
{
    a->run = DUET_RUN_STRICT;
    a->seed = 42;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v;
        int k, sw;
        if ((sw = duet_arg_switch("trace", f, "--dot")) || (sw = duet_arg_switch("trace", f, "--no-passes"))) {
            if (sw < 0) return 2;
            if (f[2] == 'd') a->dot = true;
            else a->no_passes = true;
        } else if (duet_arg_is(f, "--after")) {
            if (!(v = duet_arg_value("trace", argc, argv, &i))) return 2;
            if (!(a->after = pass_bit(v))) {
                fprintf(stderr, "duet trace: --after: expected trace, reassoc, dce, cse, fold, fuse, guards or plan, got '%s'\n", v);
                return 2;
            }
        } else if (duet_arg_is(f, "--policy")) {
            if (!(v = duet_arg_value("trace", argc, argv, &i))) return 2;
            if ((k = duet_run_parse(v)) <= DUET_RUN_EAGER) {
                fprintf(stderr, "duet trace: --policy: expected strict, specialize or guard, got '%s'\n", v);
                return 2;
            }
            a->run = (duet_run_kind)k;
        } else if (duet_arg_is(f, "--seed")) {
            if (!(v = duet_arg_value("trace", argc, argv, &i)) ||
                duet_arg_int("trace", "--seed", v, 0, INT64_MAX, &a->seed))
                return 2;
        } else if (f[0] == '-' || a->c) {
            fprintf(stderr, "duet trace: unexpected argument '%s' (see duet trace --help)\n", f);
            return 2;
        } else if (!(a->c = duet_case_find(f))) {
            fprintf(stderr, "duet trace: no case named '%s' (see duet list)\n", f);
            return 2;
        }
    }
    if (!a->c) {
        fprintf(stderr, "duet trace: missing CASE (see duet trace --help)\n");
        return 2;
    }
    /* the dumps --after asks for are text: DOT would silently drop them */
    if (a->dot && a->after) {
        fprintf(stderr, "duet trace: --after and --dot conflict: --after prints text (drop --dot)\n");
        return 2;
    }
    return 0;
}

static int trace_and_print(duet_session *s, duet_tensor *const *in, const trace_args *a)
{
    if (a->no_passes) duet_fn_set_passes(s->fn, 0);
    if (a->after && !a->dot) duet_fn_set_dump(s->fn, stdout, a->after);
    duet_tensor *out[16];
    if (duet_session_call(s, in, out)) {
        duet_diag_print(stderr, duet_ctx_error(s->ctx));
        return 1;
    }
    if (a->dot) duet_graph_dot(stdout, duet_fn_graph(s->fn));
    else if (!a->after) duet_graph_print(stdout, duet_fn_graph(s->fn));
    if (!a->dot)
        printf("# %d nodes after passes; buffers: %zu bytes planned, %zu without planning\n",
               duet_fn_node_count(s->fn), duet_fn_planned_bytes(s->fn),
               duet_fn_unplanned_bytes(s->fn));
    return 0;
}

int duet_cmd_trace(int argc, char **argv)
{
    if (duet_arg_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    trace_args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc) return rc;
    duet_session s;
    if (duet_session_open(&s, a.c, a.run, (uint64_t)a.seed)) {
        if (s.ctx) duet_diag_print(stderr, duet_ctx_error(s.ctx));
        if (s.ctx) duet_session_close(&s);
        return 3;
    }
    duet_tensor *in[16];
    a.c->inputs(s.ctx, s.state, 0, (uint64_t)a.seed, in);
    rc = duet_ctx_status(s.ctx) ? 3 : trace_and_print(&s, in, &a);
    if (rc == 3) duet_diag_print(stderr, duet_ctx_error(s.ctx));
    duet_session_close(&s);
    return rc;
}
