/* Shared by the bug catalog's cases: seeded inputs. A (seed, step) always gives the
 * same inputs, so the eager reference and every graph run see the same data. */
#ifndef DUET_BUGS_COMMON_H
#define DUET_BUGS_COMMON_H

#include "duet/duet.h"

/* Largest input tensor the generators build (elements). */
#define BUGS_MAX_ELEMS 256

/* A splitmix64 stream: one per (seed, step, stream), so a case's inputs do not
 * depend on how many numbers another input drew. */
uint64_t bugs_rng_init(uint64_t seed, int step, int stream);
uint64_t bugs_rng_next(uint64_t *state);
float bugs_rng_uniform(uint64_t *state, float lo, float hi); /* [lo, hi) */
int bugs_rng_int(uint64_t *state, int lo, int hi);           /* [lo, hi] */

/* x[0..n) uniform in [lo, hi) from the stream (seed, step, stream). */
void bugs_fill_uniform(float *x, int64_t n, uint64_t seed, int step, int stream, float lo,
                       float hi);

/* An f32 tensor of the shape (at most BUGS_MAX_ELEMS elements) filled from [lo, hi). */
duet_tensor *bugs_uniform(duet_ctx *ctx, uint64_t *rng, int rank, const int64_t *shape, float lo,
                          float hi);

#endif
