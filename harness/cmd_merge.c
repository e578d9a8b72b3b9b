/* `duet merge A.json B.json ... -o ALL.json`: shard outputs joined into one run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "report.h"

int duet_cmd_merge(int argc, char **argv)
{
    if (duet_arg_help(argc, argv)) {
        printf("usage: duet merge A.json B.json ... -o ALL.json\n"
               "  joins the JSON of shards (duet run --shard K/N --json) into the document of\n"
               "  the whole run; every shard once, same options, no case and run twice.\n"
               "  Unsharded runs of different cases join in argument order.\n");
        return 0;
    }
    const char *out = NULL;
    const char **names = calloc((size_t)argc, sizeof *names);
    int n = 0;
    if (!names) return 3;
    for (int i = 1; i < argc; i++) {
        if (duet_arg_is(argv[i], "-o")) {
            if (!(out = duet_arg_value("merge", argc, argv, &i))) return free(names), 2;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "duet merge: unknown flag '%s' (see duet merge --help)\n", argv[i]);
            return free(names), 2;
        } else {
            names[n++] = argv[i];
        }
    }
    char err[512];
    int rc = 0;
    if (!n || !out) {
        fprintf(stderr, "duet merge: missing %s (see duet merge --help)\n",
                n ? "-o ALL.json" : "the runs' JSON files");
        rc = 2;
    } else if (duet_output_check(out, err, sizeof err)) {
        fprintf(stderr, "duet merge: %s\n", err);
        rc = 2;
    }
    duet_suite all, *in = rc ? NULL : calloc((size_t)n, sizeof *in);
    if (!rc && !in) rc = 3;
    int nread = 0;
    for (; !rc && nread < n; nread++)
        if (duet_read_json(names[nread], &in[nread], err, sizeof err)) {
            fprintf(stderr, "duet merge: %s\n", err);
            rc = 2;
        }
    if (!rc && duet_suite_merge(in, names, n, &all, err, sizeof err)) {
        fprintf(stderr, "duet merge: %s\n", err);
        rc = 2;
    } else if (!rc) {
        if (duet_write_json(out, &all, err, sizeof err)) {
            fprintf(stderr, "duet merge: %s\n", err);
            rc = 2;
        }
        duet_suite_free(&all);
    }
    for (int i = 0; i < nread; i++) duet_suite_free(&in[i]);
    free(in);
    free(names);
    return rc;
}
