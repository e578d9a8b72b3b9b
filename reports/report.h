/* Reports: every output of a run is written from one duet_suite (the result records
 * of every (case, run), plus what the run was), never assembled by a command. All
 * files are written atomically: a unique temporary file in the target directory, then
 * a rename, so an error never leaves a half-written output. */
#ifndef DUET_REPORT_H
#define DUET_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "outfile.h" /* duet_write_atomic, duet_output_check */
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

/* The CPU's model name from /proc/cpuinfo, or "unknown". */
void duet_cpu_model(char *buf, size_t n);
/* Fills what was run and where; n = 0. */
void duet_suite_init(duet_suite *s, const duet_run_opts *o, const char *shard);
/* Appends a copy of r; -1 when out of memory. */
int duet_suite_add(duet_suite *s, const duet_result *r);
void duet_suite_free(duet_suite *s);
/* Runs that were not as expected. */
int duet_suite_unexpected(const duet_suite *s);

/* ---- benchmarks: `duet bench` fills a duet_bench, these print and write it ---- */

#define DUET_BENCH_MAX_ROWS 64
#define DUET_BENCH_MAX_OPS 48

/* With --profile: one op kind's share of a step ("matmul", "fused[mul add]"). */
typedef struct duet_bench_op {
    char op[64];
    double ms_per_step;    /* its kernels' time, summed, over the profiled steps */
    double calls_per_step;
} duet_bench_op;

/* One (engine, mode, seq, threads): its step times pooled over the rounds. */
typedef struct duet_bench_row {
    char engine[8];  /* "duet" or "torch" (the peer) */
    char mode[8];    /* duet: "eager" or "graph"; torch: "eager" or "trace" */
    int seq, batch;  /* 0: the case's own inputs */
    int threads;     /* the threads the engine ran on */
    int steps;       /* timed steps, over every round */
    double median_ms, p10_ms, p90_ms; /* NaN: not reported (the peer's p90) */
    double first_call_ms;  /* duet: the first call (trace, optimise, plan, run); torch
                            * trace: jit.trace alone; NaN: none */
    double trace_ms, optimise_ms; /* duet graph; 0 otherwise */
    double flops;          /* per step, counted analytically; 0: not counted */
    double gflops;         /* flops over the median time; 0: not counted */
    double peak_rss_mb;    /* the process's peak resident set, the largest over rounds */
    int nops;              /* --profile: duet's op kinds, the slowest first; 0 otherwise */
    duet_bench_op ops[DUET_BENCH_MAX_OPS];
} duet_bench_row;

typedef struct duet_bench {
    char case_name[64];
    bool infer;                 /* forward only */
    int rounds, warmup, steps;  /* steps: timed per mode, over every round */
    char machine[128];
    int cpus;
    char load_before[64], load_after[64]; /* /proc/loadavg's 1, 5 and 15 minute figures */
    int threads_asked;          /* --threads */
    const char *flops_counted;  /* what a row's flops include, or NULL */
    char peer[256];             /* the peer's script, or "" */
    char peer_version[32], peer_blas[512];
    int nrows;
    duet_bench_row rows[DUET_BENCH_MAX_ROWS];
} duet_bench;

/* The tables for a terminal: per seq, the modes side by side (and the peer's best,
 * with the ratio), then every row in full. */
void duet_bench_print(FILE *f, const duet_bench *b);
/* `duet bench --json`: the run's description and one object per row. */
int duet_write_bench_json(const char *path, const duet_bench *b, char *err, size_t errlen);

/* ---- for machines: JSON, JUnit XML, SARIF (docs/report-schema.md) ---- */

#define DUET_JSON_SCHEMA_VERSION 1
/* Each writer: 0, or -1 with a one-line reason (naming path) in err. */
int duet_write_json(const char *path, const duet_suite *s, char *err, size_t errlen);
/* One result record as the run document writes it, for other documents to embed
 * (duet explain --json); NULL when out of memory. */
struct cJSON;
struct cJSON *duet_result_to_json(const duet_result *r);
int duet_write_junit(const char *path, const duet_suite *s, char *err, size_t errlen);
int duet_write_sarif(const char *path, const duet_suite *s, char *err, size_t errlen);
/* Reads a run's JSON back: 0, or -1 with "FILE: FIELD: what is wrong" in err (s is
 * then empty). Free s with duet_suite_free. */
int duet_read_json(const char *path, duet_suite *s, char *err, size_t errlen);

/* ---- for CI: baselines with budgets, and shards merged (docs/report-schema.md) ---- */

/* The index of (case, run) in s, or -1. */
int duet_suite_find(const duet_suite *s, const char *case_name, duet_run_kind run);
/* The first option that changes what runs compute (seed, steps, rtol, atol) and differs
 * between a and b, as its JSON field ("options.seed"), or NULL: runs whose figures may
 * be compared have none. */
const char *duet_opts_differing(const duet_run_opts *a, const duet_run_opts *b);

/* What a baseline keeps of a (case, run): what must not change, and what may only move
 * within a budget. Times are ratios measured in one run, never absolute times, so a
 * baseline holds across machines. */
typedef struct duet_baseline_row {
    char case_name[64];
    duet_run_kind run;
    duet_outcome outcome;
    duet_status kind; /* the diagnostic's, DUET_OK if none */
    char file[160];   /* and its site */
    int line;
    int traces;
    int64_t max_ulp;
    double compile_steps; /* (trace + optimise) / the run's own per-step median; 0: none */
    double speedup;       /* eager / graph per-step medians; 0: not measured */
} duet_baseline_row;

typedef struct duet_baseline {
    duet_baseline_row *rows;
    int n;
    duet_run_opts opts; /* seed, steps, rtol and atol of the run it was made from */
    char version[32], commit[48];
} duet_baseline;

/* 0, or -1 when out of memory. */
int duet_baseline_from_suite(const duet_suite *s, duet_baseline *b);
void duet_baseline_free(duet_baseline *b);
int duet_write_baseline(const char *path, const duet_baseline *b, char *err, size_t errlen);
/* 0, or -1 with "FILE: FIELD: what is wrong" in err (b is then empty). */
int duet_read_baseline(const char *path, duet_baseline *b, char *err, size_t errlen);

typedef struct duet_budget {
    int64_t ulp;           /* ULP allowed beyond the baseline's: max(baseline, ulp) */
    double time_tolerance; /* factor speedup may shrink (and compile_steps grow) by */
    /* Compare compile_steps too. Off by default: a compile time is one sample (one
     * trace), which a page fault or a context switch can multiply, where the speed
     * ratio is a ratio of medians. */
    bool compile_time;
} duet_budget;
/* Compares the run named run_name with the baseline, printing one line per regression
 * to out and then a count (runs the baseline lacks are counted, not checked). The
 * number of regressions, or -1 with a one-line reason in err when the two cannot be
 * compared (a different seed, steps or tolerance). */
int duet_baseline_check(const duet_baseline *b, const duet_suite *run, const char *run_name,
                        const duet_budget *budget, FILE *out, char *err, size_t errlen);

/* Joins the runs in[0..n), n >= 1 (named names[i] in errors) into out: shards K/N of one run
 * (every K once, rows in the order a whole run has them), or unsharded runs of other
 * cases (rows in argument order). They must have the same options, version and commit,
 * and no (case, run) twice. 0, or -1 with a one-line reason in err. */
int duet_suite_merge(const duet_suite *in, const char *const *names, int n, duet_suite *out,
                     char *err, size_t errlen);

/* An output directory given on the command line, checked before anything runs (files
 * go through duet_output_check): made when missing (its parent must exist), writable.
 * 0, or -1 with a one-line reason in err. */
int duet_prepare_output_dir(const char *dir, char *err, size_t errlen);

/* What a report says a run's finding means and how to fix it: the one place reports
 * ask. The bug class's own words, as `duet explain` tells them (the case's .why and
 * .fix_why), when the case is registered in this program; else the diagnostic's
 * explanation and fix ("" when it has none). */
typedef struct duet_finding_text {
    const char *why, *fix;
} duet_finding_text;
duet_finding_text duet_finding_text_of(const duet_result *r);

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
