/* Strict flag parsing for the CLI: every error is one line naming the flag, and the
 * command exits 2. Every command parses through these helpers, so all of them accept
 * "--flag value" and "--flag=value" (as GNU tools do), refuse a value flag given twice
 * (the last one would silently win), refuse a flag where a value belongs ("--data
 * --quiet"), and take --help anywhere on the line. */
#ifndef DUET_ARGS_H
#define DUET_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "result.h"

/* arg names flag: exactly "--flag", or "--flag=VALUE". */
bool duet_arg_is(const char *arg, const char *flag);
/* 1 when arg is the switch flag (a flag without a value), 0 when it is not, -1 after
 * printing "FLAG takes no value" for "FLAG=VALUE". */
int duet_arg_switch(const char *cmd, const char *arg, const char *flag);
/* --help or -h anywhere after the command name (a flag's value is not a flag: values
 * that start with '-' are refused, so "--help" here is always the flag). */
bool duet_arg_help(int argc, char **argv);
/* Parses a decimal integer in [lo, hi] for flag: digits with an optional '-', nothing
 * else (no spaces, no '+', no trailing text); prints the error and returns -1. */
int duet_arg_int(const char *cmd, const char *flag, const char *text, long long lo, long long hi,
                 long long *out);
/* Parses a finite number in [lo, hi] for flag, as strictly; prints the error and
 * returns -1. */
int duet_arg_double(const char *cmd, const char *flag, const char *text, double lo, double hi,
                    double *out);
/* The value of the flag at argv[*i]: what follows '=' in "--flag=VALUE", else the next
 * argument (advancing *i). NULL after printing an error: no value, an empty one, the
 * next argument is a flag (it starts with '-', and is not a negative number), or the
 * flag was given before. */
const char *duet_arg_value(const char *cmd, int argc, char **argv, int *i);

/* The arguments duet compare, lint and probe share: CASE, --steps N and --seed S.
 * 0 when argv[*i] was one of them (a flag's value consumed), 1 when it is not, 2 after
 * printing the error. */
int duet_arg_case_run(const char *cmd, int argc, char **argv, int *i, const duet_case **c,
                      duet_run_opts *o);

#endif
