/* Numeric comparison of two runs' tensors: NumPy allclose semantics, with the worst
 * absolute, relative and ULP distances, and NaN/Inf handled explicitly. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "result.h"

/* Maps a float's bits to an integer line where adjacent floats are adjacent
 * integers (negative floats mirrored), so a difference of two is a ULP count. */
static int64_t ordered(float f)
{
    int32_t i;
    memcpy(&i, &f, sizeof i);
    return i < 0 ? (int64_t)INT32_MIN - i : i;
}

int64_t duet_ulp_distance(float a, float b)
{
    int64_t d = ordered(a) - ordered(b);
    return d < 0 ? -d : d;
}

static double value(const duet_tensor *t, int64_t i)
{
    return duet_get_f32(t, i); /* f32, i32 and bool alike */
}

static void note_first(duet_compare *cmp, const char *where, int64_t i)
{
    if (!cmp->first[0]) snprintf(cmp->first, sizeof cmp->first, "%s [%lld]", where, (long long)i);
}

void duet_compare_tensors(const duet_tensor *g, const duet_tensor *e, double rtol, double atol,
                          const char *where, duet_compare *cmp)
{
    if (g->dtype != e->dtype || g->rank != e->rank ||
        memcmp(g->shape, e->shape, sizeof(int64_t) * (size_t)g->rank)) {
        cmp->shape_mismatch = true;
        if (!cmp->first[0]) snprintf(cmp->first, sizeof cmp->first, "%s (shape)", where);
        return;
    }
    int64_t n = duet_numel(g);
    for (int64_t i = 0; i < n; i++) {
        double a = value(g, i), b = value(e, i);
        cmp->count++;
        if (isnan(a) || isnan(b) || isinf(a) || isinf(b)) {
            if ((isnan(a) && isnan(b)) || a == b) continue;
            cmp->nonfinite++;
            note_first(cmp, where, i);
            continue;
        }
        double diff = fabs(a - b), rel = b != 0 ? diff / fabs(b) : (diff ? INFINITY : 0);
        if (diff > cmp->max_abs) cmp->max_abs = diff;
        if (rel > cmp->max_rel) cmp->max_rel = rel;
        int64_t ulp = duet_ulp_distance((float)a, (float)b);
        if (ulp > cmp->max_ulp) cmp->max_ulp = ulp;
        if (diff > atol + rtol * fabs(b)) {
            cmp->mismatches++;
            note_first(cmp, where, i);
        }
    }
}
