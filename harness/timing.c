#include "timing.h"

#include <stdlib.h>
#include <time.h>

double duet_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double duet_median(double *v, int n)
{
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void duet_spread(double *v, int n, double *median, double *p10, double *p90)
{
    *median = duet_median(v, n);
    *p10 = v[n / 10];
    *p90 = v[n * 9 / 10]; /* < n for every n > 0 */
}
