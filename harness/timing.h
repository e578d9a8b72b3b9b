/* Wall-clock timing and medians for the CLI's reports. */
#ifndef DUET_TIMING_H
#define DUET_TIMING_H

double duet_now_ms(void);
/* Sorts v in place and returns its median (v[n/2] for odd n, the mean of the two
 * middle values for even n); 0 for n == 0. */
double duet_median(double *v, int n);
/* The median, and the 10th and 90th percentiles as the nearest ranks v[n/10] and
 * v[9n/10], of n > 0 values; sorts v in place. */
void duet_spread(double *v, int n, double *median, double *p10, double *p90);

#endif
