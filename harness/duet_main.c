/* duet: the command-line front end. The harness's commands work on any registered
 * case; other commands (the NER demo) register themselves. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "duet/case.h"

#define DUET_MAX_COMMANDS 16

static const duet_command builtin[] = {
    {"list", "the registered cases: category, summary, twin", duet_cmd_list},
    {"run", "run cases in both modes and every policy; exit 0 when all is as expected",
     duet_cmd_run},
    {"train", "run a case's steps in one mode (the NER cases take training flags)", duet_cmd_train},
    {"trace", "print a case's traced function as text or DOT", duet_cmd_trace},
    {"compare", "both modes step by step; the first divergent op and the pass behind it", duet_cmd_compare},
    {"lint", "a case's host reads that strict tracing would reject, from an eager run", duet_cmd_lint},
    {"probe", "the branches specialize baked, and inputs on which eager reads differ", duet_cmd_probe},
    {"baseline", "save a run's JSON as a CI baseline: outcomes, sites, traces, ULP, time ratios",
     duet_cmd_baseline},
    {"check", "compare a run's JSON with a baseline, within budgets; exit 1 on a regression",
     duet_cmd_check},
    {"merge", "join the JSON of shards (run --shard K/N) into the whole run's", duet_cmd_merge},
    {"explain", "a case told step by step: code, eager, tracer, policies, fix, cost", duet_cmd_explain},
    {"bench", "step times of both modes alternated: median, p10/p90, first call, GFLOP/s, RSS", duet_cmd_bench},
};
static const duet_command *extra[DUET_MAX_COMMANDS];
static int nextra;

void duet_command_register(const duet_command *c)
{
    if (nextra < DUET_MAX_COMMANDS) extra[nextra++] = c;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: duet <command> [options]\n"
               "\n"
               "A reproducibility and diagnostics harness for graph-vs-eager execution bugs.\n"
               "\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof builtin / sizeof *builtin; i++)
        fprintf(f, "  %-10s  %s\n", builtin[i].name, builtin[i].summary);
    for (int i = 0; i < nextra; i++) fprintf(f, "  %-10s  %s\n", extra[i]->name, extra[i]->summary);
    fprintf(f, "\n"
               "options:\n"
               "  -h, --help     show this help (and COMMAND --help for a command's)\n"
               "  --version      print the version\n"
               "\n"
               "exit codes: 0 ok, 1 regression or unexpected outcome, 2 usage or input error,\n"
               "3 internal error\n");
}

static const duet_command *find(const char *name)
{
    for (size_t i = 0; i < sizeof builtin / sizeof *builtin; i++)
        if (!strcmp(builtin[i].name, name)) return &builtin[i];
    for (int i = 0; i < nextra; i++)
        if (!strcmp(extra[i]->name, name)) return extra[i];
    return NULL;
}

int duet_main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        if (argc > 2) {
            fprintf(stderr, "duet: --version takes no arguments, got '%s'\n", argv[2]);
            return 2;
        }
        printf("duet %s\n", DUET_VERSION);
        return 0;
    }
    if (duet_case_registry_error()) {
        fprintf(stderr, "duet: %s\n", duet_case_registry_error());
        return 3;
    }
    const duet_command *c = find(cmd);
    if (c) return c->run(argc - 1, argv + 1);
    fprintf(stderr, "duet: unknown command '%s' (see duet --help)\n", cmd);
    return 2;
}
