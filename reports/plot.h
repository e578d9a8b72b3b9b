/* Plots drawn by gnuplot, run as a program on a script written to a temporary file:
 * each plot as SVG (for the HTML report) and PNG (for the Markdown one). Not
 * installed. */
#ifndef DUET_PLOT_H
#define DUET_PLOT_H

#include <stdbool.h>
#include <stdio.h>

typedef struct duet_gnuplot {
    char program[1024]; /* $DUET_GNUPLOT, else gnuplot found on PATH */
    bool available;
    char scratch[64];   /* a temporary directory for data, scripts and drawings */
} duet_gnuplot;

/* Looks for gnuplot (its absence is not an error: available says) and makes the
 * scratch directory. 0, or -1 with a one-line reason in err. */
int duet_gnuplot_open(duet_gnuplot *g, char *err, size_t errlen);
/* Removes the scratch directory (each draw has already removed its own files). */
void duet_gnuplot_close(duet_gnuplot *g);

/* One plot: data(f, user) writes its data file; commands(f, data_path, user) the
 * gnuplot commands between the terminal set-up and the end, with one plot command. */
typedef struct duet_plot {
    const char *stem; /* outdir/stem.svg and outdir/stem.png */
    int (*data)(FILE *f, const void *user);
    void (*commands)(FILE *f, const char *data_path, const void *user);
    const void *user;
} duet_plot;

/* Draws p into outdir (each file written atomically). 0, or -1 with why the plot is
 * not there in why (gnuplot missing, or what it said). */
int duet_gnuplot_draw(duet_gnuplot *g, const char *outdir, const duet_plot *p, char *why,
                      size_t whylen);

#endif
