#include "args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool duet_arg_is(const char *arg, const char *flag)
{
    size_t n = strlen(flag);
    return !strncmp(arg, flag, n) && (arg[n] == 0 || arg[n] == '=');
}

int duet_arg_switch(const char *cmd, const char *arg, const char *flag)
{
    if (!strcmp(arg, flag)) return 1;
    if (!duet_arg_is(arg, flag)) return 0;
    fprintf(stderr, "duet %s: %s takes no value, got '%s'\n", cmd, flag, arg);
    return -1;
}

bool duet_arg_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return true;
    return false;
}

/* Only what a number is written with: strtoll and strtod also skip leading spaces and
 * take a '+', hexadecimal, "inf" and "nan", none of which a flag's value should be. */
static bool plain_number(const char *s, bool fraction)
{
    if (*s == '-') s++;
    if (!(*s >= '0' && *s <= '9') && !(fraction && *s == '.')) return false;
    return s[strspn(s, fraction ? "0123456789.eE+-" : "0123456789")] == 0;
}

int duet_arg_int(const char *cmd, const char *flag, const char *text, long long lo, long long hi,
                 long long *out)
{
    char *end;
    errno = 0;
    long long v = plain_number(text, false) ? strtoll(text, &end, 10) : 0;
    if (!plain_number(text, false) || errno || *end || v < lo || v > hi) {
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
    double v = plain_number(text, true) ? strtod(text, &end) : 0;
    if (!plain_number(text, true) || errno || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "duet %s: %s: expected a number in %g..%g, got '%s'\n", cmd, flag, lo, hi,
                text);
        return -1;
    }
    *out = v;
    return 0;
}

const char *duet_arg_value(const char *cmd, int argc, char **argv, int *i)
{
    const char *arg = argv[*i], *eq = strchr(arg, '=');
    int name_len = eq ? (int)(eq - arg) : (int)strlen(arg);
    for (int k = 1; k < *i; k++)
        if (!strncmp(argv[k], arg, (size_t)name_len) &&
            (argv[k][name_len] == 0 || argv[k][name_len] == '=')) {
            fprintf(stderr, "duet %s: %.*s given twice\n", cmd, name_len, arg);
            return NULL;
        }
    const char *v = eq ? eq + 1 : *i + 1 < argc ? argv[*i + 1] : NULL;
    if (!v || !*v) {
        fprintf(stderr, "duet %s: %.*s needs a value\n", cmd, name_len, arg);
        return NULL;
    }
    /* "-1" is a (negative) number; a flag never starts with "-" and a digit */
    if (!eq && v[0] == '-' && v[1] && !(v[1] >= '0' && v[1] <= '9')) {
        fprintf(stderr, "duet %s: %s needs a value, got the flag '%s' (write %s=%s if that is the value)\n",
                cmd, arg, v, arg, v);
        return NULL;
    }
    if (!eq) ++*i;
    return v;
}

int duet_arg_case_run(const char *cmd, int argc, char **argv, int *i, const duet_case **c,
                      duet_run_opts *o)
{
    const char *a = argv[*i], *v;
    long long n;
    bool steps = duet_arg_is(a, "--steps");
    if (steps || duet_arg_is(a, "--seed")) {
        const char *flag = steps ? "--steps" : "--seed";
        if (!(v = duet_arg_value(cmd, argc, argv, i)) ||
            duet_arg_int(cmd, flag, v, steps ? 1 : 0, steps ? DUET_MAX_STEPS : INT64_MAX, &n))
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
