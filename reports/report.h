/* Reports: every output of a run is written from one duet_suite (the result records
 * of every (case, run), plus what the run was), never assembled by a command. All
 * files are written atomically: a unique temporary file in the target directory, then
 * a rename, so an error never leaves a half-written output. */
#ifndef DUET_REPORT_H
#define DUET_REPORT_H

#include <stddef.h>

#include "outfile.h" /* duet_write_atomic */
#include "result.h"

typedef struct duet_suite {
    duet_result *results;
    int n, cap;
    /* what was run, and where */
    duet_run_opts opts;
    char shard[16];     /* "K/N", or "" for a whole run */
    char machine[128];  /* CPU model */
    int threads;        /* online CPUs */
    char version[32];   /* duet's */
    char commit[48];    /* the source tree's git commit, or "" */
} duet_suite;

/* Fills what was run and where; n = 0. */
void duet_suite_init(duet_suite *s, const duet_run_opts *o, const char *shard);
/* Appends a copy of r; -1 when out of memory. */
int duet_suite_add(duet_suite *s, const duet_result *r);
void duet_suite_free(duet_suite *s);
/* Runs that were not as expected. */
int duet_suite_unexpected(const duet_suite *s);

#endif
