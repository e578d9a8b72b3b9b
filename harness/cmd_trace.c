/* `duet trace CASE`: traces a case's function on its first step's inputs and prints
 * the graph as text (jaxpr-like) or Graphviz DOT, after all passes or after one. A
 * trace that stops prints the graph as far as it got, marked where it stopped, then
 * the diagnostic. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "result.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: duet trace CASE [--policy P] [--dot] [--expand-fused] [--after PASS] [--no-passes]\n"
               "                  [--seed S]\n"
               "  CASE             a registered case (duet list)\n"
               "  --policy P       strict (default), specialize (baked host reads are marked\n"
               "                   '# baked:') or guard (the guard nodes show what they check)\n"
               "  --dot            Graphviz DOT, clustered by scope, instead of text\n"
               "  --expand-fused   each fused node's member ops, in order, indented under it\n"
               "  --after PASS     print the graph right after PASS: trace (before any pass),\n"
               "                   reassoc, dce, cse, fold, layout, fuse, guards or plan\n"
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
    duet_graph_format format;
    bool no_passes;
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
        bool *on = NULL;
        if ((sw = duet_arg_switch("trace", f, "--dot"))) on = &a->format.dot;
        else if ((sw = duet_arg_switch("trace", f, "--expand-fused"))) on = &a->format.expand_fused;
        else if ((sw = duet_arg_switch("trace", f, "--no-passes"))) on = &a->no_passes;
        if (sw < 0) return 2;
        if (on) *on = true;
        else if (duet_arg_is(f, "--after")) {
            if (!(v = duet_arg_value("trace", argc, argv, &i))) return 2;
            if (!(a->after = pass_bit(v))) {
                fprintf(stderr, "duet trace: --after: expected trace, reassoc, dce, cse, fold, layout, fuse, guards or plan, got '%s'\n", v);
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
        } else if (argv[i][0] == '-' || a->c) {
            fprintf(stderr, "duet trace: unexpected argument '%s' (see duet trace --help)\n", argv[i]);
            return 2;
        } else if (!(a->c = duet_case_find(argv[i]))) {
            fprintf(stderr, "duet trace: no case named '%s' (see duet list)\n", argv[i]);
            return 2;
        }
    }
    if (!a->c) {
        fprintf(stderr, "duet trace: missing CASE (see duet trace --help)\n");
        return 2;
    }
    return 0;
}

/* --after prints through the engine's dump, which runs at that pass inside the trace. */
static int trace_and_print(duet_session *s, duet_tensor *const *in, const trace_args *a)
{
    if (a->no_passes) duet_fn_set_passes(s->fn, 0);
    if (a->after) {
        duet_fn_set_dump(s->fn, stdout, a->after);
        duet_fn_set_dump_format(s->fn, a->format);
    }
    duet_tensor *out[16];
    if (duet_session_call(s, in, out)) {
        const duet_graph *partial = duet_fn_failed_graph(s->fn);
        if (partial) duet_graph_write(stdout, partial, a->format);
        fflush(stdout); /* the graph, then what stopped it, when both go to a terminal */
        duet_diag_print(stderr, duet_ctx_error(s->ctx));
        return 1;
    }
    if (!a->after) duet_graph_write(stdout, duet_fn_graph(s->fn), a->format);
    if (!a->format.dot)
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
