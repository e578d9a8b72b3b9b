#include "args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

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
