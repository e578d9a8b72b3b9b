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

/* Output paths given on the command line, checked before anything runs so that a bad
 * one is a one-line error (naming it, in err) and not a lost run. 0, or -1. */
/* A file: its directory exists and is writable, and it is not a directory. */
int duet_check_output_file(const char *path, char *err, size_t errlen);
/* A directory: made when missing (its parent must exist), writable. */
int duet_prepare_output_dir(const char *dir, char *err, size_t errlen);

/* What a report says a run's finding means and how to fix it: the one place reports
 * ask. For now the diagnostic's own explanation and fix ("" when it has none);
 * `duet explain` text for each bug class will answer here. */
typedef struct duet_explanation {
    const char *why, *fix;
} duet_explanation;
duet_explanation duet_report_explanation(const duet_result *r);

/* The report for people: DIR/index.html and DIR/report.md, a summary table and per
 * case its runs, diagnostics, explanation and fix, and plots drawn by gnuplot into
 * DIR/plots (SVG for the HTML, PNG for the Markdown): output 0 and time per step in
 * both modes, kernel time by op kind (when the runs were profiled), and per-op error
 * where a run diverged. Without gnuplot each plot's place says so and the rest is
 * written. 0, or -1 with a one-line reason in err. */
int duet_write_report(const char *dir, const duet_suite *s, char *err, size_t errlen);

/* The Chrome trace-event JSON of the suite's runs (crashed and timed-out ones left
 * out), run once more in this process with the engine's profiler on: a process per
 * case, a thread per run (eager, graph strict, ...), an event per op named with its
 * scope, with its call site, and one per step. Loads in Perfetto and chrome://tracing.
 * 0, or -1 with a one-line reason in err. */
int duet_write_chrome_trace(const char *path, const duet_suite *s, char *err, size_t errlen);

#endif
