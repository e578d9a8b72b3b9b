/* Seeded inputs for the bug catalog's cases: the same (seed, step, stream) gives the
 * same values in every run, eager or graph, so runs compare input for input. */
#ifndef DUET_BUGS_SEEDED_H
#define DUET_BUGS_SEEDED_H

#include <stdint.h>

/* splitmix64's finaliser */
static inline uint64_t bugs_mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* x[0..n) uniform in [lo, hi); stream tells apart the tensors of one step */
static inline void bugs_seeded_uniform(float *x, int64_t n, uint64_t seed, int step, int stream,
                                       float lo, float hi)
{
    uint64_t base = bugs_mix64(bugs_mix64(bugs_mix64(seed) ^ (uint64_t)step) ^ (uint64_t)stream);
    for (int64_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * (float)(bugs_mix64(base + (uint64_t)i) >> 40) / (float)(1 << 24);
}

#endif
