/* `duet bench CASE`: steady step times of a case in eager and graph mode, alternated
 * in rounds so that a noisy machine slows both alike, with the first call, GFLOP/s and
 * each mode's own peak RSS (every (mode, round) runs in a child process). With --peer,
 * a PyTorch script timing the same step takes its turn in each round too. */
#define _DEFAULT_SOURCE /* wait4: the peak RSS of one child, not of all children */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "report.h"
#include "result.h"
#include "timing.h"

#define BENCH_MAX_SEQS 16
#define BENCH_MAX_STEPS 10000
#define BENCH_MAX_ROUNDS 100

static void usage(FILE *f)
{
    fprintf(f,
            "usage: duet bench CASE [--seq L[,L...]] [--batch B] [--threads N] [--steps S]\n"
            "                  [--warmup W] [--rounds R] [--infer] [--json F] [--seed S]\n"
            "                  [--peer SCRIPT [--python PY]] [--profile]\n"
            "  CASE             a registered case; ner takes --seq, --batch and --infer, other\n"
            "                   cases run on their own inputs\n"
            "  --seq L,...      sequence lengths, each timed in turn (default 40)\n"
            "  --batch B        rows per batch (default 32); the last quarter of a row is padding\n"
            "  --threads N      threads for duet's engine and the peer (default: the online\n"
            "                   cores)\n"
            "  --steps S        timed steps per mode, shared out over the rounds (default 120)\n"
            "  --warmup W       untimed steps after the first call, in every round (default 20,\n"
            "                   as the peer's: its first steps are slow)\n"
            "  --rounds R       rounds of eager, graph (and the peer's modes) (default 3)\n"
            "  --infer          time the forward pass (prediction) instead of a training step\n"
            "  --json F         write one object per (engine, mode, seq, threads) to F\n"
            "  --seed S         the model's and the inputs' seed (default 42)\n"
            "  --peer SCRIPT    also time a PyTorch script (torch_ner_step.py's flags, one JSON\n"
            "                   line out) in eager and trace mode, run with OPENBLAS_NUM_THREADS=1\n"
            "  --python PY      the interpreter for the peer (default python3)\n"
            "  --profile        also time every op kernel of duet's timed steps and print each\n"
            "                   op kind's ms per step, per mode (and in the JSON rows)\n");
}

typedef struct bench_args {
    const duet_case *c;
    int seqs[BENCH_MAX_SEQS], nseq;
    long long batch, threads, steps, warmup, rounds, seed;
    bool infer, profile;
    const char *json, *peer, *python;
} bench_args;

/* What one child process measured: one (mode, seq, round). Fixed size, so it crosses
 * the pipe as bytes. */
typedef struct sample {
    int exit_code; /* 0, or the command's exit code for error */
    char error[512];
    double first_ms, trace_ms, optimise_ms, flops;
    int nops; /* --profile: op kinds with their time and calls per timed step */
    duet_bench_op ops[DUET_BENCH_MAX_OPS];
    int n;
    double ms[BENCH_MAX_STEPS];
} sample;

/* ---- flags ---- */

/* --seq L,L,...: each in 1..the case's longest. */
static int parse_seqs(bench_args *a, const char *v)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    a->nseq = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long long L;
        if (a->nseq == BENCH_MAX_SEQS) {
            fprintf(stderr, "duet bench: --seq: at most %d lengths\n", BENCH_MAX_SEQS);
            return -1;
        }
        if (duet_arg_int("bench", "--seq", tok, 1, a->c->bench->max_seq, &L)) return -1;
        a->seqs[a->nseq++] = (int)L;
    }
    if (!a->nseq) fprintf(stderr, "duet bench: --seq: expected lengths like 40 or 16,40,128\n");
    return a->nseq ? 0 : -1;
}

/* 0 when the case has sized inputs, which flag needs; else -1 after saying so. */
static int needs_bench_hook(const bench_args *a, const char *flag)
{
    if (a->c->bench) return 0;
    fprintf(stderr, "duet bench: %s: case '%s' runs on its own inputs (only cases with sized "
                    "inputs, such as ner, take it)\n", flag, a->c->name);
    return -1;
}

static int parse_infer(bench_args *a)
{
    if (needs_bench_hook(a, "--infer")) return -1;
    if (!a->c->bench->infer) {
        fprintf(stderr, "duet bench: --infer: case '%s' has no forward-only function\n", a->c->name);
        return -1;
    }
    a->infer = true;
    return 0;
}

static int parse_peer(bench_args *a, const char *v)
{
    if (needs_bench_hook(a, "--peer")) return -1;
    if (access(v, R_OK)) {
        fprintf(stderr, "duet bench: --peer: cannot read '%s': %s\n", v, strerror(errno));
        return -1;
    }
    a->peer = v;
    return 0;
}

/* One flag with its value v; 0, or -1 after printing the error. */
static int parse_valued(bench_args *a, const char *f, const char *v)
{
    if (!strcmp(f, "--seq")) return needs_bench_hook(a, f) || parse_seqs(a, v) ? -1 : 0;
    if (!strcmp(f, "--batch"))
        return needs_bench_hook(a, f) || duet_arg_int("bench", f, v, 1, 4096, &a->batch) ? -1 : 0;
    if (!strcmp(f, "--threads")) return duet_arg_int("bench", f, v, 1, 1024, &a->threads);
    if (!strcmp(f, "--steps")) return duet_arg_int("bench", f, v, 1, BENCH_MAX_STEPS, &a->steps);
    if (!strcmp(f, "--warmup")) return duet_arg_int("bench", f, v, 0, 100000, &a->warmup);
    if (!strcmp(f, "--rounds")) return duet_arg_int("bench", f, v, 1, BENCH_MAX_ROUNDS, &a->rounds);
    if (!strcmp(f, "--seed")) return duet_arg_int("bench", f, v, 0, INT64_MAX, &a->seed);
    if (!strcmp(f, "--peer")) return parse_peer(a, v);
    if (!strcmp(f, "--python")) a->python = v;
    else a->json = v;
    return 0;
}

static int parse(int argc, char **argv, bench_args *a)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    a->batch = 32, a->threads = cpus > 0 ? cpus : 1, a->steps = 120, a->warmup = 20;
    a->rounds = 3, a->seed = 42, a->python = "python3";
    a->seqs[0] = 40, a->nseq = 1;
    static const char *const valued[] = {"--seq", "--batch", "--threads", "--steps", "--warmup",
                                         "--rounds", "--seed", "--peer", "--python", "--json"};
    const size_t nvalued = sizeof valued / sizeof *valued;
    for (int i = 2; i < argc; i++) {
        const char *f = argv[i], *v;
        if (!strcmp(f, "--infer")) {
            if (parse_infer(a)) return 2;
            continue;
        }
        if (!strcmp(f, "--profile")) {
            a->profile = true;
            continue;
        }
        size_t k = 0;
        while (k < nvalued && strcmp(f, valued[k])) k++;
        if (k == nvalued) {
            fprintf(stderr, "duet bench: %s '%s' (see duet bench --help)\n",
                    f[0] == '-' ? "unknown flag" : "unexpected argument", f);
            return 2;
        }
        if (!(v = duet_arg_value("bench", argc, argv, &i)) || parse_valued(a, f, v)) return 2;
    }
    if (!a->c->bench) a->seqs[0] = 0; /* the case's own inputs */
    if (a->rounds > a->steps) a->rounds = a->steps; /* every round times at least one step */
    char err[512];
    if (a->json && duet_output_check(a->json, err, sizeof err)) {
        fprintf(stderr, "duet bench: --json: %s\n", err);
        return 2;
    }
    return 0;
}

/* ---- one child process ---- */

/* Runs child(fd, user) in a forked process, reading what it writes to fd into buf (up
 * to cap bytes); *got is the count, *status the wait status and *rss_mb the child's
 * own peak resident set. 0, or -1 when no process could be started. */
static int run_child(void (*child)(int fd, void *user), void *user, void *buf, size_t cap,
                     size_t *got, int *status, double *rss_mb)
{
    int fds[2];
    if (pipe(fds)) return -1;
    fflush(NULL); /* buffered output must not be written twice */
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]), close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        child(fds[1], user);
        _exit(0);
    }
    close(fds[1]);
    *got = 0;
    for (;;) {
        ssize_t n = *got < cap ? read(fds[0], (char *)buf + *got, cap - *got) : 0;
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        *got += (size_t)n;
    }
    close(fds[0]);
    struct rusage ru;
    while (wait4(pid, status, 0, &ru) < 0)
        if (errno != EINTR) return -1;
    *rss_mb = (double)ru.ru_maxrss / 1024; /* kilobytes on Linux */
    return 0;
}

static void write_all(int fd, const void *p, size_t left)
{
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) _exit(3);
        p = (const char *)p + n, left -= (size_t)n;
    }
}

/* ---- duet's modes ---- */

typedef struct duet_job {
    const bench_args *a;
    bool graph;
    int seq, steps;
    sample *s;
    bool timing; /* a timed step is running: the profiler counts its ops */
} duet_job;

/* --profile's hook: each kernel's time added to its op kind's; a loop's body ops are
 * inside the loop node's own time, so only top-level ops count. The last slot takes
 * every kind that finds the table full. */
/* The entry of op kind `name` among ops (*n of them), added when new; once the table is
 * full its last entry, renamed "(other ops)", takes every further kind. */
static duet_bench_op *op_slot(duet_bench_op *ops, int *n, const char *name)
{
    int k = 0;
    while (k < *n && strcmp(ops[k].op, name)) k++;
    if (k < *n) return &ops[k];
    if (*n == DUET_BENCH_MAX_OPS) k = *n - 1, name = "(other ops)";
    else ops[(*n)++] = (duet_bench_op){.ms_per_step = 0};
    snprintf(ops[k].op, sizeof ops[k].op, "%s", name);
    return &ops[k];
}

static void count_op(const duet_op_event *e, void *user)
{
    duet_job *j = user;
    if (!j->timing || e->depth > 0) return;
    char name[sizeof j->s->ops[0].op];
    if (e->members) snprintf(name, sizeof name, "%s[%s]", e->op, e->members);
    else snprintf(name, sizeof name, "%s", e->op);
    duet_bench_op *o = op_slot(j->s->ops, &j->s->nops, name);
    o->ms_per_step += e->dur_ms;
    o->calls_per_step += 1;
}

static void fill_inputs(const duet_job *j, duet_session *ss, int step, duet_tensor **in)
{
    const duet_case *c = j->a->c;
    uint64_t seed = (uint64_t)j->a->seed;
    if (c->bench) c->bench->inputs(ss->ctx, ss->state, (int)j->a->batch, j->seq, seed, in);
    else c->inputs(ss->ctx, ss->state, step, seed, in);
}

/* The first call, the warm-up, then the timed steps, each on fresh inputs (outside
 * the timing) and followed by the context's reset, as training does. */
static void time_steps(duet_job *j, duet_session *ss)
{
    const bench_args *a = j->a;
    sample *s = j->s;
    int calls = 1 + (int)a->warmup + j->steps;
    for (int i = 0; i < calls; i++) {
        duet_tensor *in[16], *out[16];
        fill_inputs(j, ss, i, in);
        j->timing = i > a->warmup;
        double t0 = duet_now_ms();
        int failed = duet_session_call(ss, in, out);
        double ms = duet_now_ms() - t0;
        duet_ctx_reset(ss->ctx);
        if (failed) return;
        if (i == 0) s->first_ms = ms;
        else if (i > a->warmup) s->ms[s->n++] = ms;
    }
    j->timing = false;
    for (int k = 0; k < s->nops && s->n; k++) /* totals to per-step figures */
        s->ops[k].ms_per_step /= s->n, s->ops[k].calls_per_step /= s->n;
    s->trace_ms = duet_fn_trace_ms(ss->fn);
    s->optimise_ms = duet_fn_optimise_ms(ss->fn);
}

static void duet_child(int fd, void *user)
{
    duet_job *j = user;
    const bench_args *a = j->a;
    duet_case c = *a->c; /* --infer: the forward-only body in the training step's place */
    if (a->infer) c.body = a->c->bench->infer;
    sample *s = j->s;
    memset(s, 0, sizeof *s);
    duet_session ss;
    if (!duet_session_open(&ss, &c, j->graph ? DUET_RUN_STRICT : DUET_RUN_EAGER, (uint64_t)a->seed)) {
        duet_ctx_set_threads(ss.ctx, (int)a->threads);
        if (a->profile) duet_ctx_set_profiler(ss.ctx, count_op, j);
        if (c.bench) s->flops = c.bench->flops(ss.state, (int)a->batch, j->seq, a->infer);
        time_steps(j, &ss);
    }
    if (!ss.ctx) {
        s->exit_code = 3;
        snprintf(s->error, sizeof s->error, "out of memory starting the run");
    } else if (duet_ctx_status(ss.ctx)) {
        const duet_diag *d = duet_ctx_error(ss.ctx);
        s->exit_code = d->code == DUET_ERR_OOM ? 3 : 1;
        snprintf(s->error, sizeof s->error, "%s", d->message);
        s->error[strcspn(s->error, "\n")] = 0; /* one line */
    }
    if (ss.ctx) duet_session_close(&ss);
    write_all(fd, s, sizeof *s);
}

/* 0, or the exit code after printing why the run failed. */
static int run_duet(const bench_args *a, bool graph, int seq, int steps, sample *s, double *rss_mb)
{
    duet_job j = {a, graph, seq, steps, s, false};
    size_t got;
    int status;
    const char *mode = graph ? "graph" : "eager";
    if (run_child(duet_child, &j, s, sizeof *s, &got, &status, rss_mb)) {
        fprintf(stderr, "duet bench: cannot start a child process: %s\n", strerror(errno));
        return 3;
    }
    if (got != sizeof *s) {
        fprintf(stderr, "duet bench: the %s run of %s died: %s\n", mode, a->c->name,
                WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "no result");
        return 3;
    }
    if (s->exit_code) fprintf(stderr, "duet bench: %s mode of %s: %s\n", mode, a->c->name, s->error);
    return s->exit_code;
}

/* ---- the peer ---- */

typedef struct peer_job {
    const bench_args *a;
    const char *mode;
    int seq, steps;
} peer_job;

static void peer_child(int fd, void *user)
{
    const peer_job *j = user;
    const bench_args *a = j->a;
    char seq[16], batch[16], threads[16], steps[16], warmup[16];
    snprintf(seq, sizeof seq, "%d", j->seq);
    snprintf(batch, sizeof batch, "%lld", a->batch);
    snprintf(threads, sizeof threads, "%lld", a->threads);
    snprintf(steps, sizeof steps, "%d", j->steps);
    snprintf(warmup, sizeof warmup, "%lld", a->warmup);
    if (dup2(fd, STDOUT_FILENO) < 0) _exit(127);
    /* torch's own threads decide the parallelism, not OpenBLAS's on top of them */
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    char *argv[] = {(char *)a->python, (char *)a->peer, "--mode", (char *)j->mode, "--seq", seq,
                    "--batch", batch, "--threads", threads, "--steps", steps, "--warmup", warmup,
                    NULL};
    execvp(a->python, argv);
    fprintf(stderr, "duet bench: cannot run %s: %s\n", a->python, strerror(errno));
    _exit(127);
}

static double json_number_or_nan(const cJSON *o, const char *name, double scale)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble * scale : NAN;
}

/* The peer's JSON line into s (its median, p10 and p90 as s->ms[0..2], its trace time as
 * first_ms) and its version and BLAS into b. 0, or 2 after printing why. */
static int read_peer(const bench_args *a, const char *mode, const char *text, sample *s, duet_bench *b)
{
    const char *line = NULL; /* the last line that opens an object: the JSON one */
    for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (*p == '{') line = p;
    cJSON *doc = line ? cJSON_Parse(line) : NULL;
    double median = json_number_or_nan(doc, "median_ms", 1);
    if (isnan(median)) {
        fprintf(stderr, "duet bench: the peer (%s %s --mode %s) printed no median_ms\n", a->python,
                a->peer, mode);
        cJSON_Delete(doc);
        return 2;
    }
    s->n = 3;
    s->ms[0] = median;
    s->ms[1] = json_number_or_nan(doc, "p10_ms", 1);
    s->ms[2] = json_number_or_nan(doc, "p90_ms", 1);
    s->first_ms = json_number_or_nan(doc, "trace_s", 1e3);
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(doc, "torch");
    if (cJSON_IsString(version)) snprintf(b->peer_version, sizeof b->peer_version, "%s", version->valuestring);
    const cJSON *lib, *blas = cJSON_GetObjectItemCaseSensitive(doc, "blas");
    b->peer_blas[0] = 0;
    cJSON_ArrayForEach(lib, blas) if (cJSON_IsString(lib))
    {
        size_t used = strlen(b->peer_blas);
        snprintf(b->peer_blas + used, sizeof b->peer_blas - used, "%s%s", used ? ", " : "", lib->valuestring);
    }
    cJSON_Delete(doc);
    return 0;
}

static int run_peer(const bench_args *a, const char *mode, int seq, int steps, sample *s,
                    double *rss_mb, duet_bench *b)
{
    peer_job j = {a, mode, seq, steps};
    static char text[1 << 16];
    size_t got;
    int status;
    if (run_child(peer_child, &j, text, sizeof text - 1, &got, &status, rss_mb)) {
        fprintf(stderr, "duet bench: cannot start the peer: %s\n", strerror(errno));
        return 3;
    }
    text[got] = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status)) {
        fprintf(stderr, "duet bench: the peer (%s %s --mode %s) failed; does '%s -c \"import torch\"' "
                        "work? (Debian: apt-get install -y python3-torch libopenblas0-pthread)\n",
                a->python, a->peer, mode, a->python);
        return 2;
    }
    memset(s, 0, offsetof(sample, ms));
    return read_peer(a, mode, text, s, b);
}

/* ---- rounds ---- */

/* Everything one row gathers over the rounds. */
typedef struct tally {
    double ms[BENCH_MAX_STEPS]; /* duet: every timed step; the peer: each round's median */
    int n, rounds, steps;
    double p10[BENCH_MAX_ROUNDS], p90[BENCH_MAX_ROUNDS]; /* the peer's, per round */
    double first[BENCH_MAX_ROUNDS], trace[BENCH_MAX_ROUNDS], optimise[BENCH_MAX_ROUNDS];
    double flops, peak_rss_mb;
    int nops, op_steps; /* --profile: ops[].* summed over op_steps timed steps */
    duet_bench_op ops[DUET_BENCH_MAX_OPS];
} tally;

/* A round's per-step op times into t's totals, matched by op kind. */
static void tally_ops(tally *t, const sample *s)
{
    for (int i = 0; i < s->nops; i++) {
        duet_bench_op *o = op_slot(t->ops, &t->nops, s->ops[i].op);
        o->ms_per_step += s->ops[i].ms_per_step * s->n;
        o->calls_per_step += s->ops[i].calls_per_step * s->n;
    }
    t->op_steps += s->n;
}

static int slower_op_first(const void *a, const void *b)
{
    double x = ((const duet_bench_op *)a)->ms_per_step, y = ((const duet_bench_op *)b)->ms_per_step;
    return (x < y) - (x > y);
}

static void tally_add(tally *t, const sample *s, int steps, double rss_mb, bool peer)
{
    if (peer) {
        t->ms[t->n++] = s->ms[0];
        t->p10[t->rounds] = s->ms[1], t->p90[t->rounds] = s->ms[2];
    } else {
        memcpy(t->ms + t->n, s->ms, sizeof *s->ms * (size_t)s->n);
        t->n += s->n;
        tally_ops(t, s);
    }
    t->steps += steps;
    t->first[t->rounds] = s->first_ms;
    t->trace[t->rounds] = s->trace_ms;
    t->optimise[t->rounds] = s->optimise_ms;
    t->rounds++;
    t->flops = s->flops;
    if (rss_mb > t->peak_rss_mb) t->peak_rss_mb = rss_mb;
}

/* The median of n values (sorting them), NaN when any is NaN (a figure not reported). */
static double median_or_nan(double *v, int n)
{
    for (int i = 0; i < n; i++)
        if (isnan(v[i])) return NAN;
    return duet_median(v, n);
}

/* duet's rows pool every step of every round; the peer reports only each round's
 * median and spread, so its row takes their medians. */
static void tally_to_row(tally *t, bool peer, duet_bench_row *r)
{
    if (peer) {
        r->median_ms = duet_median(t->ms, t->n);
        r->p10_ms = median_or_nan(t->p10, t->rounds);
        r->p90_ms = median_or_nan(t->p90, t->rounds);
    } else {
        duet_spread(t->ms, t->n, &r->median_ms, &r->p10_ms, &r->p90_ms);
    }
    r->steps = t->steps;
    r->first_call_ms = median_or_nan(t->first, t->rounds);
    r->trace_ms = duet_median(t->trace, t->rounds);
    r->optimise_ms = duet_median(t->optimise, t->rounds);
    r->flops = t->flops;
    r->gflops = t->flops > 0 ? t->flops / (r->median_ms * 1e6) : 0;
    r->peak_rss_mb = t->peak_rss_mb;
    r->nops = t->op_steps ? t->nops : 0;
    for (int k = 0; k < r->nops; k++) {
        r->ops[k] = t->ops[k];
        r->ops[k].ms_per_step /= t->op_steps, r->ops[k].calls_per_step /= t->op_steps;
    }
    qsort(r->ops, (size_t)r->nops, sizeof *r->ops, slower_op_first);
}

static void load_average(char *buf, size_t n)
{
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/loadavg", "r");
    double l1, l5, l15;
    if (f && fscanf(f, "%lf %lf %lf", &l1, &l5, &l15) == 3) snprintf(buf, n, "%.2f %.2f %.2f", l1, l5, l15);
    if (f) fclose(f);
}

static const struct {
    const char *engine, *mode;
} kinds[] = {{"duet", "eager"}, {"duet", "graph"}, {"torch", "eager"}, {"torch", "trace"}};

/* Every round runs each kind once at this seq, in turn; its rows are appended to b. */
static int bench_seq(const bench_args *a, int seq, sample *s, tally *t, duet_bench *b)
{
    int nkinds = a->peer ? 4 : 2;
    memset(t, 0, sizeof *t * (size_t)nkinds);
    for (int r = 0; r < a->rounds; r++) {
        int steps = (int)(a->steps / a->rounds + (r < a->steps % a->rounds));
        for (int k = 0; k < nkinds; k++) {
            bool peer = k >= 2;
            double rss_mb = 0;
            int rc = peer ? run_peer(a, kinds[k].mode, seq, steps, s, &rss_mb, b)
                          : run_duet(a, k == 1, seq, steps, s, &rss_mb);
            if (rc) return rc;
            /* progress on stderr: a full run takes minutes */
            fprintf(stderr, "seq %d, round %d/%lld: %s %s %.3f ms\n", seq, r + 1, a->rounds,
                    kinds[k].engine, kinds[k].mode, peer ? s->ms[0] : duet_median(s->ms, s->n));
            tally_add(&t[k], s, steps, rss_mb, peer);
        }
    }
    for (int k = 0; k < nkinds; k++) {
        duet_bench_row *row = &b->rows[b->nrows++];
        snprintf(row->engine, sizeof row->engine, "%s", kinds[k].engine);
        snprintf(row->mode, sizeof row->mode, "%s", kinds[k].mode);
        row->seq = seq;
        row->batch = a->c->bench ? (int)a->batch : 0;
        row->threads = (int)a->threads;
        t[k].flops = t[0].flops; /* the peer's step is the same model's: the same work */
        tally_to_row(&t[k], k >= 2, row);
    }
    return 0;
}

static int bench(const bench_args *a)
{
    duet_bench *b = calloc(1, sizeof *b);
    sample *s = malloc(sizeof *s);
    tally *t = malloc(sizeof *t * 4);
    if (!b || !s || !t) {
        free(b), free(s), free(t);
        fprintf(stderr, "duet bench: out of memory\n");
        return 3;
    }
    snprintf(b->case_name, sizeof b->case_name, "%s", a->c->name);
    b->infer = a->infer;
    b->rounds = (int)a->rounds, b->warmup = (int)a->warmup, b->steps = (int)a->steps;
    duet_cpu_model(b->machine, sizeof b->machine);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    b->cpus = cpus > 0 ? (int)cpus : 1;
    b->threads_asked = (int)a->threads;
    b->flops_counted = a->c->bench ? a->c->bench->flops_counted : NULL;
    if (a->peer) snprintf(b->peer, sizeof b->peer, "%s", a->peer);
    load_average(b->load_before, sizeof b->load_before);
    int rc = 0;
    for (int i = 0; i < a->nseq && !rc; i++) rc = bench_seq(a, a->seqs[i], s, t, b);
    load_average(b->load_after, sizeof b->load_after);
    char err[1024];
    if (!rc) duet_bench_print(stdout, b);
    if (!rc && a->json && duet_write_bench_json(a->json, b, err, sizeof err)) {
        fprintf(stderr, "duet bench: %s\n", err);
        rc = 2;
    }
    free(b), free(s), free(t);
    return rc;
}

int duet_cmd_bench(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "duet bench: missing CASE (see duet bench --help)\n");
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    bench_args a = {0};
    if (!(a.c = duet_case_find(argv[1]))) {
        fprintf(stderr, "duet bench: no case named '%s' (see duet list)\n", argv[1]);
        return 2;
    }
    int rc = parse(argc, argv, &a);
    return rc ? rc : bench(&a);
}
