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

static const duet_bench_op *find_op(const duet_bench_row *r, const char *op)
{
    for (int k = 0; r && k < r->nops; k++)
        if (!strcmp(r->ops[k].op, op)) return &r->ops[k];
    return NULL;
}

static void print_op_ms(FILE *f, const duet_bench_op *o)
{
    if (o) fprintf(f, " %9.3f %6.1f", o->ms_per_step, o->calls_per_step);
    else fprintf(f, " %9s %6s", "-", "-");
}

/* --profile: per seq, each op kind's kernel time per step in both modes, in graph
 * mode's order (the slowest first), then eager's kinds that graph mode has not. */
static void print_profile(FILE *f, const duet_bench *b, int seq)
{
    const duet_bench_row *e = find_row(b, "duet", "eager", seq), *g = find_row(b, "duet", "graph", seq);
    if (!(e && e->nops) && !(g && g->nops)) return;
    fprintf(f, "\nkernel time per step by op kind, seq %d (--profile)\n", seq);
    fprintf(f, "%-40s %9s %6s %9s %6s\n", "op", "eager ms", "calls", "graph ms", "calls");
    double sum[2] = {0, 0};
    for (int pass = 0; pass < 2; pass++) {
        const duet_bench_row *r = pass ? e : g;
        for (int k = 0; r && k < r->nops; k++) {
            const char *op = r->ops[k].op;
            if (pass && find_op(g, op)) continue; /* printed with graph's */
            const duet_bench_op *eo = find_op(e, op), *go = find_op(g, op);
            fprintf(f, "%-40s", op);
            print_op_ms(f, eo), print_op_ms(f, go);
            fputc('\n', f);
            sum[0] += eo ? eo->ms_per_step : 0, sum[1] += go ? go->ms_per_step : 0;
        }
    }
    fprintf(f, "%-40s %9.3f %6s %9.3f\n", "(all kernels)", sum[0], "", sum[1]);
    fprintf(f, "%-40s %9.3f %6s %9.3f\n", "(step median)", e ? e->median_ms : NAN, "",
            g ? g->median_ms : NAN);
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
    for (int i = 0; i < b->nrows; i++)
        if (!strcmp(b->rows[i].engine, "duet") && !strcmp(b->rows[i].mode, "eager"))
            print_profile(f, b, b->rows[i].seq);
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

#define OP(member, type) JSON_FIELD(duet_bench_op, member, #member, type)
static const json_field op_fields[] = {
    OP(op, JSON_STRING),
    OP(ms_per_step, JSON_NUMBER),
    OP(calls_per_step, JSON_NUMBER),
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

/* --profile's "ops": [{"op", "ms_per_step", "calls_per_step"}], the slowest first. */
static void put_ops(json_out *w, cJSON *row, const duet_bench_row *r)
{
    cJSON *ops = json_add(w, row, "ops", cJSON_CreateArray());
    for (int k = 0; ops && k < r->nops; k++) {
        cJSON *o = json_add(w, ops, NULL, cJSON_CreateObject());
        if (o) json_put_fields(w, o, op_fields, &r->ops[k]);
    }
}

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
        if (o && b->rows[i].nops) put_ops(&w, o, &b->rows[i]);
    }
    int rc = json_write_doc(path, doc, &w, err, errlen);
    cJSON_Delete(doc);
    return rc;
}
