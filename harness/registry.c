/* The case registry (filled by DUET_CASE constructors before main) and the names of
 * outcomes and runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duet/case.h"

#define DUET_MAX_CASES 256

static const duet_case *cases[DUET_MAX_CASES];
static int ncases;
static char registry_error[160];

/* Runs before main, with nowhere to report: a refused case is remembered, and
 * duet_main refuses to run (a lost case must not pass silently). */
void duet_case_register(const duet_case *c)
{
    bool bad = !c->name || !c->body || !c->inputs || c->nin < 0 || c->nin > 16 || c->nout < 1 ||
               c->nout > 16;
    if (ncases == DUET_MAX_CASES || bad || duet_case_find(c->name)) {
        if (!registry_error[0])
            snprintf(registry_error, sizeof registry_error, "cannot register case '%s' (%s:%d): %s",
                     c->name ? c->name : "?", c->file, c->line,
                     ncases == DUET_MAX_CASES ? "too many cases"
                     : bad ? "it needs a name, a body, inputs, 0-16 inputs and 1-16 outputs"
                                              : "the name is taken");
        return;
    }
    cases[ncases++] = c;
}

const char *duet_case_registry_error(void) { return registry_error[0] ? registry_error : NULL; }

int duet_case_count(void) { return ncases; }
const duet_case *duet_case_at(int i) { return i >= 0 && i < ncases ? cases[i] : NULL; }

const duet_case *duet_case_find(const char *name)
{
    for (int i = 0; i < ncases; i++)
        if (!strcmp(cases[i]->name, name)) return cases[i];
    return NULL;
}

static const char *const outcome_names[DUET_OUTCOME_COUNT] = {
    [DUET_OUTCOME_OK] = "ok",
    [DUET_OUTCOME_TRACE_ERROR] = "trace-error",
    [DUET_OUTCOME_DIVERGENCE] = "divergence",
    [DUET_OUTCOME_RETRACE_STORM] = "retrace-storm",
    [DUET_OUTCOME_EFFECT_MISMATCH] = "effect-mismatch",
    [DUET_OUTCOME_ERROR] = "error",
    [DUET_OUTCOME_CRASH] = "crash",
    [DUET_OUTCOME_TIMEOUT] = "timeout",
};

const char *duet_outcome_name(duet_outcome o)
{
    return (unsigned)o < DUET_OUTCOME_COUNT ? outcome_names[o] : "?";
}

int duet_outcome_parse(const char *name)
{
    for (int i = 0; i < DUET_OUTCOME_COUNT; i++)
        if (!strcmp(outcome_names[i], name)) return i;
    return -1;
}

const char *duet_run_name(duet_run_kind k)
{
    static const char *const names[DUET_RUN_COUNT] = {"eager", "strict", "specialize", "guard"};
    return (unsigned)k < DUET_RUN_COUNT ? names[k] : "?";
}

int duet_run_parse(const char *name)
{
    for (int k = 0; k < DUET_RUN_COUNT; k++)
        if (!strcmp(name, duet_run_name((duet_run_kind)k))) return k;
    return -1;
}
