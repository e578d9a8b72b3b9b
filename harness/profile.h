/* A case's run in this process with the engine's profiler on: every op kernel and
 * every step reported as it happens, for timelines (the Chrome trace). */
#ifndef DUET_PROFILE_H
#define DUET_PROFILE_H

#include "result.h"

typedef struct duet_step_event {
    int step;
    double start_ms, dur_ms; /* CLOCK_MONOTONIC, as the op events */
    bool traced;             /* the call traced (its time includes the trace) */
    double trace_ms;         /* then: how long the trace took */
} duet_step_event;

typedef struct duet_profile_hooks {
    duet_profiler_fn op;
    void (*step)(const duet_step_event *e, void *user);
    void *user;
} duet_profile_hooks;

/* Runs (c, run) alone (a graph run without its eager reference) over the steps a
 * run takes, reporting to h. 0 when every step ran; -1 when the run stopped, with
 * why in diag. */
int duet_profile_case(const duet_case *c, duet_run_kind run, const duet_run_opts *o,
                      const duet_profile_hooks *h, duet_diag *diag);

#endif
