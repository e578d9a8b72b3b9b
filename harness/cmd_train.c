/* `duet train CASE`: runs a case's steps in one mode and policy, printing each step's
 * first output and time. Cases with their own training command (the NER cases:
 * data, epochs, logs, weights) take it over. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "result.h"
#include "timing.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: duet train CASE [--mode eager|graph] [--policy P] [--steps N] [--seed S]\n"
               "  CASE             a registered case (duet list); the NER cases take more\n"
               "                   flags: duet train ner --help\n"
               "  --mode M         eager or graph (default graph)\n"
               "  --policy P       strict (default), specialize or guard\n"
               "  --steps N        steps to run (default: the case's)\n"
               "  --seed S         the inputs' seed (default 42)\n");
}

typedef struct train_args {
    const duet_case *c;
    bool eager;
    duet_run_kind policy;
    bool policy_given;
    long long steps, seed;
} train_args;

static int parse(int argc, char **argv, train_args *a)
{
    a->policy = DUET_RUN_STRICT;
    a->seed = 42;
    for (int i = 2; i < argc; i++) {
        const char *f = argv[i], *v;
        int k;
        if (f[0] != '-') {
            fprintf(stderr, "duet train: unexpected argument '%s' (see duet train --help)\n", f);
            return 2;
        }
        bool mode = duet_arg_is(f, "--mode"), policy = duet_arg_is(f, "--policy"),
             steps = duet_arg_is(f, "--steps");
        if (!mode && !policy && !steps && !duet_arg_is(f, "--seed")) {
            fprintf(stderr, "duet train: unknown flag '%s' (see duet train --help)\n", f);
            return 2;
        }
        if (!(v = duet_arg_value("train", argc, argv, &i))) return 2;
        if (mode) {
            if (strcmp(v, "eager") && strcmp(v, "graph")) {
                fprintf(stderr, "duet train: --mode: expected eager or graph, got '%s'\n", v);
                return 2;
            }
            a->eager = !strcmp(v, "eager");
        } else if (policy) {
            if ((k = duet_run_parse(v)) <= DUET_RUN_EAGER) {
                fprintf(stderr, "duet train: --policy: expected strict, specialize or guard, got '%s'\n", v);
                return 2;
            }
            a->policy = (duet_run_kind)k;
            a->policy_given = true;
        } else if (steps) {
            if (duet_arg_int("train", "--steps", v, 1, DUET_MAX_STEPS, &a->steps)) return 2;
        } else if (duet_arg_int("train", "--seed", v, 0, INT64_MAX, &a->seed)) {
            return 2;
        }
    }
    if (a->eager && a->policy_given)
        fprintf(stderr, "duet train: note: --policy has no effect in eager mode (nothing is traced)\n");
    return 0;
}

static int run_steps(const train_args *a)
{
    duet_session s;
    duet_run_kind run = a->eager ? DUET_RUN_EAGER : a->policy;
    int steps = a->steps ? (int)a->steps : a->c->steps > 0 ? a->c->steps : 1, rc = 0;
    if (!duet_session_open(&s, a->c, run, (uint64_t)a->seed)) {
        for (int i = 0; i < steps && !rc; i++) {
            duet_tensor *in[16], *out[16];
            a->c->inputs(s.ctx, s.state, i, (uint64_t)a->seed, in);
            double t0 = duet_now_ms();
            rc = duet_session_call(&s, in, out);
            if (!rc)
                printf("step %d: output 0 [0] = %.9g  (%.3f ms)\n", i,
                       duet_numel(out[0]) > 0 ? (double)duet_get_f32(out[0], 0) : 0.0,
                       duet_now_ms() - t0);
            duet_ctx_reset(s.ctx);
        }
        if (!rc && !a->eager) {
            printf("%d steps in graph mode (%s): %d traces\n", steps, duet_run_name(run),
                   duet_fn_trace_count(s.fn));
            for (int i = 0; i < duet_fn_trace_count(s.fn); i++)
                printf("  trace %d: %s\n", i + 1, duet_fn_trace_reason(s.fn, i));
            for (int i = 0; i < duet_fn_warning_count(s.fn); i++)
                fprintf(stderr, "warning: %s\n", duet_fn_warning(s.fn, i));
        }
    }
    if (s.ctx && duet_ctx_status(s.ctx)) {
        duet_diag_print(stderr, duet_ctx_error(s.ctx));
        rc = 1;
    }
    if (s.ctx) duet_session_close(&s);
    return rc ? 1 : 0;
}

int duet_cmd_train(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "duet train: missing CASE (see duet train --help)\n");
        return 2;
    }
    train_args a = {0};
    if (argv[1][0] == '-' || !(a.c = duet_case_find(argv[1]))) {
        if (duet_arg_help(argc, argv)) {
            usage(stdout);
            return 0;
        }
        if (argv[1][0] == '-') fprintf(stderr, "duet train: missing CASE before '%s' (see duet train --help)\n", argv[1]);
        else fprintf(stderr, "duet train: no case named '%s' (see duet list)\n", argv[1]);
        return 2;
    }
    if (a.c->train_cli) return a.c->train_cli(argc, argv); /* its own flags, its own --help */
    if (duet_arg_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    int rc = parse(argc, argv, &a);
    return rc ? rc : run_steps(&a);
}
