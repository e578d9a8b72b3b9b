/* Strict flag parsing for the CLI: every error is one line naming the flag, and the
 * command exits 2. */
#ifndef DUET_ARGS_H
#define DUET_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "result.h"

/* Parses a decimal integer in [lo, hi] for flag; prints the error and returns -1. */
int duet_arg_int(const char *cmd, const char *flag, const char *text, long long lo, long long hi,
                 long long *out);
/* Parses a finite number in [lo, hi] for flag; prints the error and returns -1. */
int duet_arg_double(const char *cmd, const char *flag, const char *text, double lo, double hi,
                    double *out);
/* Value of the flag at argv[*i] (advancing *i), or NULL after printing an error. */
const char *duet_arg_value(const char *cmd, int argc, char **argv, int *i);

/* The arguments duet compare, lint and probe share: CASE, --steps N and --seed S.
 * 0 when argv[*i] was one of them (a flag's value consumed), 1 when it is not, 2 after
 * printing the error. */
int duet_arg_case_run(const char *cmd, int argc, char **argv, int *i, const duet_case **c,
                      duet_run_opts *o);

#endif
