/* duet: the command-line front end. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "duet/duet.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: duet <command> [options]\n"
            "\n"
            "A reproducibility and diagnostics harness for graph-vs-eager execution bugs.\n"
            "\n"
            "commands:\n"
            "  demo        train a small model in both modes: falling loss, agreement, speed\n"
            "  train       train the NER case (see duet train --help)\n"
            "  trace       print a model's traced training step as text or DOT\n"
            "\n"
            "options:\n"
            "  -h, --help     show this help\n"
            "  --version      print the version\n"
            "\n"
            "exit codes: 0 ok, 1 regression or unexpected outcome, 2 usage or input error,\n"
            "3 internal error\n");
}

int main(int argc, char **argv)
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
        printf("duet %s\n", DUET_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "demo")) return duet_cmd_demo(argc - 1, argv + 1);
    if (!strcmp(cmd, "train")) return duet_cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "trace")) return duet_cmd_trace(argc - 1, argv + 1);
    fprintf(stderr, "duet: unknown command '%s' (see duet --help)\n", cmd);
    return 2;
}
