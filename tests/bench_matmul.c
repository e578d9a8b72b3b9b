/* bench_matmul: GFLOP/s of the matrix products of one NER training step, through the
 * public op (eager duet_matmul), so that it measures what the model gets: the kernel,
 * its packing and its dispatch. Not a test (ctest does not run it): timings on a
 * shared machine need alternated runs and medians, which a pass/fail test cannot give.
 *
 *   build/bench_matmul [--batch B] [--seq T] [--samples N] [--threads N]
 *
 * Each shape is timed in rounds: every round runs each shape once (a sample of
 * enough calls to last about 2 ms), so load on the machine spreads over all shapes
 * alike; the median sample is reported, as wall-clock GFLOP/s and as GFLOP/s per
 * CPU-second of the process (what the cores did while they ran, which a machine
 * shared with other work slows down much less). The FMA peak of one core is measured
 * the same way, so the kernels' share of it comes from one run. */
#define _GNU_SOURCE /* CLOCK_MONOTONIC under -std=c11 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duet/duet.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* One product: a (rank ra) times b (rank rb), optionally transposed; sum_to folds
 * a batched result to its last two dims (the weight gradient summed over the batch,
 * as the VJP did before it became one product over B*T). */
typedef struct shape {
    const char *name;
    int ra, rb;
    int64_t sa[4], sb[4];
    bool ta, tb, sum_batch;
} shape;

static double clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* A sample: wall-clock and process CPU milliseconds per call. */
typedef struct sample {
    double wall, cpu;
} sample;

#if defined(__x86_64__)
/* 2 FMA units x 4 cycles of latency need 8 independent chains; 12 leave slack. */
__attribute__((target("avx512f"))) static float fma_loop_512(long iters)
{
    __m512 acc[12], x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-3f);
    for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long n = 0; n < iters; n++)
        for (int i = 0; i < 12; i++) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
    float s = 0;
    for (int i = 0; i < 12; i++) s += _mm512_reduce_add_ps(acc[i]);
    return s;
}

__attribute__((target("avx2,fma"))) static float fma_loop_256(long iters)
{
    __m256 acc[12], x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-3f);
    for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps((float)i);
    for (long n = 0; n < iters; n++)
        for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
    float s = 0;
    for (int i = 0; i < 12; i++) {
        float l[8];
        _mm256_storeu_ps(l, acc[i]);
        for (int j = 0; j < 8; j++) s += l[j];
    }
    return s;
}
#endif

/* One core's FMA peak in GFLOP per CPU-second (0 without FMA): the best of a few
 * runs of independent multiply-add chains. */
static double fma_peak(void)
{
#if defined(__x86_64__)
    bool w512 = __builtin_cpu_supports("avx512f");
    if (!w512 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return 0;
    long iters = 2000000;
    double best = 0;
    volatile float sink = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
        sink += w512 ? fma_loop_512(iters) : fma_loop_256(iters);
        double ms = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - t0;
        double g = 2.0 * 12 * (w512 ? 16 : 8) * (double)iters / ms * 1e-6;
        if (g > best) best = g;
    }
    return best;
#else
    return 0;
#endif
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

/* Runs the shape `calls` times; wall < 0 after an error (printed). The outputs stay
 * in the context's arena until the caller resets it. */
static sample run(duet_ctx *c, const shape *s, const float *data, int calls)
{
    duet_tensor *a = duet_constant(c, DUET_F32, s->ra, s->sa, data);
    duet_tensor *b = duet_constant(c, DUET_F32, s->rb, s->sb, data);
    double w0 = clock_ms(CLOCK_MONOTONIC), c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < calls; i++) {
        duet_tensor *y = duet_matmul(c, a, b, s->ta, s->tb);
        if (s->sum_batch) duet_sum_to(c, y, 2, y->shape + y->rank - 2);
    }
    sample t = {(clock_ms(CLOCK_MONOTONIC) - w0) / calls,
                (clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0) / calls};
    if (duet_ctx_status(c) != DUET_OK) {
        duet_diag_print(stderr, duet_ctx_error(c));
        t.wall = -1;
    }
    return t;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_matmul [--batch B] [--seq T] [--samples N] [--threads N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    long batch = 32, seq = 40, samples = 21, threads = 0;
    for (int i = 1; i < argc; i++) {
        long *dst = !strcmp(argv[i], "--batch")     ? &batch
                    : !strcmp(argv[i], "--seq")     ? &seq
                    : !strcmp(argv[i], "--samples") ? &samples
                    : !strcmp(argv[i], "--threads") ? &threads
                                                    : NULL;
        char *end;
        if (!dst || i + 1 >= argc) return usage();
        *dst = strtol(argv[++i], &end, 10);
        if (*end || *dst < (dst == &threads ? 0 : 1) || *dst > 100000) return usage();
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
    double *wall = calloc((size_t)(NSHAPES * samples), sizeof *wall);
    double *cpu = calloc((size_t)(NSHAPES * samples), sizeof *cpu);
    int calls[NSHAPES];
    if (!data || !c || !wall || !cpu) {
        fprintf(stderr, "bench_matmul: out of memory\n");
        return 1;
    }
    if (duet_ctx_set_threads(c, (int)threads) != DUET_OK) return usage();
    for (int64_t i = 0; i < most; i++) data[i] = (float)((i * 7919) % 2003) / 2003.0f - 0.5f;
    /* calibrate: calls per sample for about 2 ms (and warm the caches) */
    for (int i = 0; i < NSHAPES; i++) {
        double t = run(c, &shapes[i], data, 3).wall;
        duet_ctx_reset(c);
        if (t < 0) return 1;
        calls[i] = t > 2 ? 1 : (int)(2 / (t > 1e-4 ? t : 1e-4)) + 1;
    }
    /* one round without resets leaves an arena chunk that holds every sample, so no
     * sample pays for fresh pages */
    for (int i = 0; i < NSHAPES; i++)
        if (run(c, &shapes[i], data, calls[i]).wall < 0) return 1;
    duet_ctx_reset(c);
    for (long r = 0; r < samples; r++)
        for (int i = 0; i < NSHAPES; i++) {
            sample t = run(c, &shapes[i], data, calls[i]);
            duet_ctx_reset(c);
            if (t.wall < 0) return 1;
            wall[i * samples + r] = t.wall;
            cpu[i * samples + r] = t.cpu;
        }
    double peak = fma_peak();
    printf("batch %ld, seq %ld, %d threads, %s numerics, median of %ld samples\n", batch, seq,
           duet_ctx_threads(c), duet_numerics(), samples);
    printf("one core's FMA peak: %.1f GFLOP per CPU-second\n", peak);
    printf("%-32s %10s %10s %12s %8s\n", "product", "wall ms", "GFLOP/s", "GFLOP/cpu-s",
           "of peak");
    for (int i = 0; i < NSHAPES; i++) {
        double *w = wall + i * samples, *u = cpu + i * samples;
        qsort(w, (size_t)samples, sizeof *w, cmp_double);
        qsort(u, (size_t)samples, sizeof *u, cmp_double);
        double gw = flops(&shapes[i]) / w[samples / 2] * 1e-6;
        double gc = flops(&shapes[i]) / u[samples / 2] * 1e-6;
        printf("%-32s %10.4f %10.1f %12.1f %7.0f%%\n", shapes[i].name, w[samples / 2], gw, gc,
               peak > 0 ? 100 * gc / peak : 0);
    }
    free(wall);
    free(cpu);
    free(data);
    duet_ctx_free(c);
    return 0;
}
