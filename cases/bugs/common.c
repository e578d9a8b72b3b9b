/* Seeded inputs for the bug catalog's cases. */
#include "bugs/common.h"

/* splitmix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number generators",
 * OOPSLA 2014): small, and good enough to vary inputs. */
uint64_t bugs_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

uint64_t bugs_rng_init(uint64_t seed, int step, int stream)
{
    uint64_t s = seed;
    s = bugs_rng_next(&s) ^ (uint64_t)(uint32_t)step;
    s = bugs_rng_next(&s) ^ (uint64_t)(uint32_t)stream;
    return s;
}

float bugs_rng_uniform(uint64_t *state, float lo, float hi)
{
    return lo + (hi - lo) * (float)(bugs_rng_next(state) >> 40) * (1.0f / 16777216.0f);
}

int bugs_rng_int(uint64_t *state, int lo, int hi)
{
    return lo + (int)(bugs_rng_next(state) % (uint64_t)(hi - lo + 1));
}

void bugs_fill_uniform(float *x, int64_t n, uint64_t seed, int step, int stream, float lo,
                       float hi)
{
    uint64_t rng = bugs_rng_init(seed, step, stream);
    for (int64_t i = 0; i < n; i++) x[i] = bugs_rng_uniform(&rng, lo, hi);
}

duet_tensor *bugs_uniform(duet_ctx *ctx, uint64_t *rng, int rank, const int64_t *shape, float lo,
                          float hi)
{
    float data[BUGS_MAX_ELEMS];
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= shape[i];
    if (n > BUGS_MAX_ELEMS) {
        duet_ctx_fail(ctx, DUET_ERR_ARG, "bug catalog: an input of %lld elements is over %d",
                      (long long)n, BUGS_MAX_ELEMS);
        return duet_constant(ctx, DUET_F32, 0, NULL, data); /* poisoned: the context is in error */
    }
    for (int64_t i = 0; i < n; i++) data[i] = bugs_rng_uniform(rng, lo, hi);
    return duet_constant(ctx, DUET_F32, rank, shape, data);
}
