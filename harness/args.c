#include "args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int duet_arg_int(const char *cmd, const char *flag, const char *text, long long lo, long long hi,
                 long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi) {
        fprintf(stderr, "duet %s: %s: expected an integer in %lld..%lld, got '%s'\n", cmd, flag,
                lo, hi, text);
        return -1;
    }
    *out = v;
    return 0;
}

int duet_arg_double(const char *cmd, const char *flag, const char *text, double lo, double hi,
                    double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "duet %s: %s: expected a number in %g..%g, got '%s'\n", cmd, flag, lo, hi,
                text);
        return -1;
    }
    *out = v;
    return 0;
}

const char *duet_arg_value(const char *cmd, int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "duet %s: %s needs a value\n", cmd, argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int duet_arg_case_run(const char *cmd, int argc, char **argv, int *i, const duet_case **c,
                      duet_run_opts *o)
{
    const char *a = argv[*i], *v;
    long long n;
    if (!strcmp(a, "--steps") || !strcmp(a, "--seed")) {
        bool steps = a[3] == 't';
        if (!(v = duet_arg_value(cmd, argc, argv, i)) ||
            duet_arg_int(cmd, a, v, steps ? 1 : 0, steps ? DUET_MAX_STEPS : INT64_MAX, &n))
            return 2;
        if (steps) o->steps = (int)n;
        else o->seed = (uint64_t)n;
        return 0;
    }
    if (a[0] == '-') return 1;
    if (*c) {
        fprintf(stderr, "duet %s: unexpected argument '%s' (see duet %s --help)\n", cmd, a, cmd);
        return 2;
    }
    if (!(*c = duet_case_find(a))) {
        fprintf(stderr, "duet %s: no case named '%s' (see duet list)\n", cmd, a);
        return 2;
    }
    return 0;
}
