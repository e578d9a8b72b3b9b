/* bench_matmul: GFLOP/s of the matrix products of one NER training step, through the
 * public op (eager duet_matmul), so that it measures what the model gets: the kernel,
 * its packing and its dispatch. Not a test (ctest does not run it): timings on a
 * shared machine need alternated runs and medians, which a pass/fail test cannot give.
 *
 *   build/bench_matmul [--batch B] [--seq T] [--samples N]
 *
 * Each shape is timed in rounds: every round runs each shape once (a sample of
 * enough calls to last about 2 ms), so load on the machine spreads over all shapes
 * alike; the median sample is reported. */
#define _GNU_SOURCE /* CLOCK_MONOTONIC under -std=c11 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duet/duet.h"

/* One product: a (rank ra) times b (rank rb), optionally transposed; sum_to folds
 * a batched result to its last two dims (the weight gradient summed over the batch,
 * as the VJP did before it became one product over B*T). */
typedef struct shape {
    const char *name;
    int ra, rb;
    int64_t sa[4], sb[4];
    bool ta, tb, sum_batch;
} shape;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int64_t numel(int r, const int64_t *s)
{
    int64_t n = 1;
    for (int i = 0; i < r; i++) n *= s[i];
    return n;
}

/* 2 * M * N * K * batch of the product */
static double flops(const shape *s)
{
    int64_t m = s->sa[s->ra - (s->ta ? 1 : 2)], k = s->sa[s->ra - (s->ta ? 2 : 1)];
    int64_t n = s->sb[s->rb - (s->tb ? 2 : 1)];
    int64_t batch = s->ra > s->rb ? numel(s->ra - 2, s->sa) : numel(s->rb - 2, s->sb);
    return 2.0 * (double)(m * n * k * batch);
}

/* Runs the shape `calls` times; returns ms per call, or -1 with the error printed. */
static double run(duet_ctx *c, const shape *s, const float *data, int calls)
{
    duet_tensor *a = duet_constant(c, DUET_F32, s->ra, s->sa, data);
    duet_tensor *b = duet_constant(c, DUET_F32, s->rb, s->sb, data);
    double t0 = now_ms();
    for (int i = 0; i < calls; i++) {
        duet_tensor *y = duet_matmul(c, a, b, s->ta, s->tb);
        if (s->sum_batch) duet_sum_to(c, y, 2, y->shape + y->rank - 2);
    }
    double t = (now_ms() - t0) / calls;
    if (duet_ctx_status(c) != DUET_OK) {
        duet_diag_print(stderr, duet_ctx_error(c));
        return -1;
    }
    duet_ctx_reset(c);
    return t;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_matmul [--batch B] [--seq T] [--samples N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    long batch = 32, seq = 40, samples = 21;
    for (int i = 1; i < argc; i++) {
        long *dst = !strcmp(argv[i], "--batch")     ? &batch
                    : !strcmp(argv[i], "--seq")     ? &seq
                    : !strcmp(argv[i], "--samples") ? &samples
                                                    : NULL;
        char *end;
        if (!dst || i + 1 >= argc) return usage();
        *dst = strtol(argv[++i], &end, 10);
        if (*end || *dst < 1 || *dst > 100000) return usage();
    }
    int64_t B = batch, T = seq;
    const shape shapes[] = {
        {"dense 32->128 (q, k, v)", 3, 2, {B, T, 32}, {32, 128}, false, false, false},
        {"dense 128->32 (attention out)", 3, 2, {B, T, 128}, {128, 32}, false, false, false},
        {"dense 32->64 (ffn 1)", 3, 2, {B, T, 32}, {32, 64}, false, false, false},
        {"dense 64->32 (ffn 2)", 3, 2, {B, T, 64}, {64, 32}, false, false, false},
        {"scores q k^T", 4, 4, {B, 4, T, 32}, {B, 4, T, 32}, false, true, false},
        {"probs v", 4, 4, {B, 4, T, T}, {B, 4, T, 32}, false, false, false},
        {"grad probs^T g (dv, dk)", 4, 4, {B, 4, T, T}, {B, 4, T, 32}, true, false, false},
        {"grad g w^T (dx of 32->128)", 3, 2, {B, T, 128}, {32, 128}, false, true, false},
        {"grad x^T g batched + sum (dw)", 3, 3, {B, T, 32}, {B, T, 128}, true, false, true},
        {"grad x^T g over B*T (dw)", 2, 2, {B * T, 32}, {B * T, 128}, true, false, false},
    };
    enum { NSHAPES = sizeof shapes / sizeof shapes[0] };
    int64_t most = 0;
    for (int i = 0; i < NSHAPES; i++) {
        int64_t na = numel(shapes[i].ra, shapes[i].sa), nb = numel(shapes[i].rb, shapes[i].sb);
        if (na > most) most = na;
        if (nb > most) most = nb;
    }
    float *data = malloc(sizeof(float) * (size_t)most);
    duet_ctx *c = duet_ctx_new();
    double *ms = calloc((size_t)(NSHAPES * samples), sizeof *ms);
    int calls[NSHAPES];
    if (!data || !c || !ms) {
        fprintf(stderr, "bench_matmul: out of memory\n");
        return 1;
    }
    for (int64_t i = 0; i < most; i++) data[i] = (float)((i * 7919) % 2003) / 2003.0f - 0.5f;
    /* calibrate: calls per sample for about 2 ms (and warm caches and the arena) */
    for (int i = 0; i < NSHAPES; i++) {
        double t = run(c, &shapes[i], data, 3);
        if (t < 0) return 1;
        calls[i] = t > 2 ? 1 : (int)(2 / (t > 1e-4 ? t : 1e-4)) + 1;
    }
    for (long r = 0; r < samples; r++)
        for (int i = 0; i < NSHAPES; i++)
            if ((ms[i * samples + r] = run(c, &shapes[i], data, calls[i])) < 0) return 1;
    printf("batch %ld, seq %ld, median of %ld samples\n", batch, seq, samples);
    printf("%-32s %10s %10s\n", "product", "ms", "GFLOP/s");
    for (int i = 0; i < NSHAPES; i++) {
        double *m = ms + i * samples;
        qsort(m, (size_t)samples, sizeof *m, cmp_double);
        double med = m[samples / 2];
        printf("%-32s %10.4f %10.1f\n", shapes[i].name, med, flops(&shapes[i]) / med * 1e-6);
    }
    free(ms);
    free(data);
    duet_ctx_free(c);
    return 0;
}
