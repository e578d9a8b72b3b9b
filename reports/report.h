/* Reports: every output of a run is written from one duet_suite (the result records
 * of every (case, run), plus what the run was), never assembled by a command. All
 * files are written atomically: a unique temporary file in the target directory, then
 * a rename, so an error never leaves a half-written output. */
#ifndef DUET_REPORT_H
#define DUET_REPORT_H

#include <stddef.h>

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

/* Writes path atomically: write(f, user) fills a temporary file beside it, which is
 * renamed over path only when write returned 0 and every byte reached the disk.
 * 0, or -1 with a one-line reason (naming path) in err. */
int duet_write_atomic(const char *path, int (*write)(FILE *f, void *user), void *user, char *err,
                      size_t errlen);
/* Whether path can be written: its directory exists and is writable and path is not a
 * directory. Commands check their outputs before they run, so a mistyped path fails
 * at once, not after the whole run. 0, or -1 with a one-line reason in err. */
int duet_output_check(const char *path, char *err, size_t errlen);

/* ---- for machines: JSON, JUnit XML, SARIF (docs/report-schema.md) ---- */

#define DUET_JSON_SCHEMA_VERSION 1
/* Each writer: 0, or -1 with a one-line reason (naming path) in err. */
int duet_write_json(const char *path, const duet_suite *s, char *err, size_t errlen);
int duet_write_junit(const char *path, const duet_suite *s, char *err, size_t errlen);
int duet_write_sarif(const char *path, const duet_suite *s, char *err, size_t errlen);
/* Reads a run's JSON back: 0, or -1 with "FILE: FIELD: what is wrong" in err (s is
 * then empty). Free s with duet_suite_free. */
int duet_read_json(const char *path, duet_suite *s, char *err, size_t errlen);

#endif
