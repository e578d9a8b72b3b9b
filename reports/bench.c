/* `duet bench`'s outputs: the tables a person reads and the JSON a script reads, both
 * from the one duet_bench the command filled. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "json_codec.h"
#include "report.h"

static const duet_bench_row *find_row(const duet_bench *b, const char *engine, const char *mode,
                                      int seq)
{
    for (int i = 0; i < b->nrows; i++) {
        const duet_bench_row *r = &b->rows[i];
        if (!strcmp(r->engine, engine) && !strcmp(r->mode, mode) && r->seq == seq) return r;
    }
    return NULL;
}

/* The peer's faster mode at seq, or NULL. */
static const duet_bench_row *peer_best(const duet_bench *b, int seq)
{
    const duet_bench_row *e = find_row(b, "torch", "eager", seq), *t = find_row(b, "torch", "trace", seq);
    return !e ? t : !t ? e : t->median_ms < e->median_ms ? t : e;
}

static void print_summary(FILE *f, const duet_bench *b)
{
    bool peer = b->peer[0] != 0;
    fprintf(f, peer ? "| seq | torch, best of eager/trace | duet eager | duet graph | duet graph / torch |\n"
                      "|---|---|---|---|---|\n"
                    : "| seq | duet eager | duet graph | graph / eager |\n|---|---|---|---|\n");
    for (int i = 0; i < b->nrows; i++) {
        const duet_bench_row *r = &b->rows[i];
        if (strcmp(r->engine, "duet") || strcmp(r->mode, "eager")) continue; /* one line per seq */
        const duet_bench_row *g = find_row(b, "duet", "graph", r->seq), *t = peer_best(b, r->seq);
        if (!g) continue;
        if (r->seq) fprintf(f, "| %d ", r->seq);
        else fprintf(f, "| (own) ");
        if (t) fprintf(f, "| %.3g (%s) ", t->median_ms, t->mode);
        fprintf(f, "| %.3g | %.3g ", r->median_ms, g->median_ms);
        double ratio = t ? t->median_ms / g->median_ms : r->median_ms / g->median_ms;
        fprintf(f, "| %.2fx |\n", ratio);
    }
    fprintf(f, "\nmedian ms per %s; the last column is the %s time over duet graph's: above 1, "
               "duet graph is faster\n",
            b->infer ? "forward call" : "training step", peer ? "peer's best" : "eager");
}

static void print_ms(FILE *f, double ms)
{
    if (isnan(ms)) fprintf(f, " %9s", "-");
    else fprintf(f, " %9.3f", ms);
}

static void print_rows(FILE *f, const duet_bench *b)
{
    fprintf(f, "\n%-6s %-6s %4s %7s %9s %9s %9s %9s %8s %9s\n", "engine", "mode", "seq", "threads",
            "median", "p10", "p90", "first", "GFLOP/s", "peak RSS");
    for (int i = 0; i < b->nrows; i++) {
        const duet_bench_row *r = &b->rows[i];
        fprintf(f, "%-6s %-6s %4d %7d", r->engine, r->mode, r->seq, r->threads);
        print_ms(f, r->median_ms), print_ms(f, r->p10_ms), print_ms(f, r->p90_ms);
        print_ms(f, r->first_call_ms);
        if (r->gflops > 0) fprintf(f, " %8.1f", r->gflops);
        else fprintf(f, " %8s", "-");
        fprintf(f, " %6.0f MB\n", r->peak_rss_mb);
    }
    fprintf(f, "(ms; first: duet's first call with trace, optimise and plan; torch trace's "
               "jit.trace alone)\n");
}

void duet_bench_print(FILE *f, const duet_bench *b)
{
    fprintf(f, "duet bench %s: %s, %d rounds alternating the modes, each %d warm-up steps then "
               "its share of %d timed steps per mode\n",
            b->case_name, b->infer ? "forward only (prediction)" : "training step", b->rounds,
            b->warmup, b->steps);
    fprintf(f, "machine: %s, %d cores; load average %s before, %s after\n", b->machine, b->cpus,
            b->load_before, b->load_after);
    if (b->peer[0])
        fprintf(f, "peer: %s, torch %s, BLAS %s\n", b->peer, b->peer_version,
                b->peer_blas[0] ? b->peer_blas : "(none mapped)");
    if (b->flops_counted) {
        fprintf(f, "FLOPs per %s (%s):", b->infer ? "call" : "step", b->flops_counted);
        for (int i = 0; i < b->nrows; i++)
            if (!strcmp(b->rows[i].engine, "duet") && !strcmp(b->rows[i].mode, "eager"))
                fprintf(f, " seq %d %.4g G;", b->rows[i].seq, b->rows[i].flops / 1e9);
        fputc('\n', f);
    }
    fputc('\n', f);
    print_summary(f, b);
    print_rows(f, b);
}

#define ROW(member, type) JSON_FIELD(duet_bench_row, member, #member, type)
static const json_field row_fields[] = {
    ROW(engine, JSON_STRING),
    ROW(mode, JSON_STRING),
    ROW(seq, JSON_INT),
    ROW(batch, JSON_INT),
    ROW(threads, JSON_INT),
    ROW(steps, JSON_INT),
    ROW(median_ms, JSON_NUMBER),
    ROW(p10_ms, JSON_NUMBER),
    ROW(p90_ms, JSON_NUMBER),
    ROW(first_call_ms, JSON_NUMBER),
    ROW(trace_ms, JSON_NUMBER),
    ROW(optimise_ms, JSON_NUMBER),
    ROW(flops, JSON_NUMBER),
    ROW(gflops, JSON_NUMBER),
    ROW(peak_rss_mb, JSON_NUMBER),
    JSON_END,
};

#define BENCH(member, name, type) JSON_FIELD(duet_bench, member, name, type)
static const json_field bench_fields[] = {
    BENCH(case_name, "case", JSON_STRING),
    BENCH(infer, "infer", JSON_BOOL),
    BENCH(rounds, "rounds", JSON_INT),
    BENCH(warmup, "warmup", JSON_INT),
    BENCH(steps, "steps", JSON_INT),
    BENCH(machine, "cpu", JSON_STRING),
    BENCH(cpus, "cpus", JSON_INT),
    BENCH(load_before, "load_before", JSON_STRING),
    BENCH(load_after, "load_after", JSON_STRING),
    BENCH(threads_asked, "threads_asked", JSON_INT),
    BENCH(peer, "peer", JSON_STRING),
    BENCH(peer_version, "peer_version", JSON_STRING),
    BENCH(peer_blas, "peer_blas", JSON_STRING),
    JSON_END,
};

int duet_write_bench_json(const char *path, const duet_bench *b, char *err, size_t errlen)
{
    json_out w = {0};
    cJSON *doc = json_new_doc(&w, "duet-bench", 1);
    if (doc) json_put_fields(&w, doc, bench_fields, b);
    json_add(&w, doc, "flops_counted", b->flops_counted ? cJSON_CreateString(b->flops_counted)
                                                        : cJSON_CreateNull());
    cJSON *results = json_add(&w, doc, "results", cJSON_CreateArray());
    for (int i = 0; results && i < b->nrows; i++) {
        cJSON *o = json_add(&w, results, NULL, cJSON_CreateObject());
        if (o) json_put_fields(&w, o, row_fields, &b->rows[i]);
    }
    int rc = json_write_doc(path, doc, &w, err, errlen);
    cJSON_Delete(doc);
    return rc;
}
