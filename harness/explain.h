/* Explaining a case to a reader who knows C but not graph mode: what the code does,
 * what eager mode computes on two inputs that take different paths, what the tracer
 * sees, what each policy does with it, the fix and its proof, what the escape hatch
 * costs, and the same bug in other frameworks. duet_explain_case runs the case (and
 * its twin) to fill one record; `duet explain` prints it as text, and the record's
 * JSON form is for reports. */
#ifndef DUET_EXPLAIN_H
#define DUET_EXPLAIN_H

#include <cjson/cJSON.h>

#include "result.h"

/* ---- case sources ----
 * The build embeds the case sources (and the layers they call) so that an installed
 * binary can show them: a generated file registers each one's text, keyed by its path
 * as __FILE__ spells it (cases/bugs/tensor_bool.c). */
void duet_source_register(const char *path, const char *text);
/* The embedded text, else the file read from disk; NULL when neither exists. */
const char *duet_source_text(const char *path);

/* Lines first..last (1-based) of a case source, about the line mark. */
typedef struct duet_excerpt {
    char file[160];
    int first, last, mark; /* mark 0: no line in particular */
    char text[2048];       /* the lines, each ending in '\n' */
} duet_excerpt;

/* A tensor as a reader sees it: "f32 (2, 5) row 0: [0.21 0.05 0.74 0 0]". */
typedef struct duet_value_text {
    char text[160];
} duet_value_text;

/* One step of a case, eagerly or traced. */
typedef struct duet_step_view {
    int step;
    int nin;
    duet_value_text in[4];  /* the first inputs */
    char reads[128];        /* the values the host read took at the site: "true" */
    char observed[128];     /* the case's host observables after the step */
    duet_value_text out;    /* output 0 */
} duet_step_view;

/* Where the explanation's code is: how the site was found. */
typedef enum {
    DUET_SITE_DIAGNOSTIC, /* the strict run's diagnostic (a host read, a leak, ...) */
    DUET_SITE_LINT,       /* the eager lint's host read (functions run eagerly) */
    DUET_SITE_EFFECT,     /* a host effect the ledger saw run only while tracing */
    DUET_SITE_DIVERGENCE, /* the first op whose output differs from eager's */
    DUET_SITE_PASS,       /* bit for bit, a pass the case's registration enables */
    DUET_SITE_CASE,       /* nothing goes wrong: the case's registration */
} duet_site_kind;

#define DUET_EXPLAIN_MAX_EXCERPTS 4

typedef struct duet_explain_opts {
    uint64_t seed;
    int timing_steps; /* steps timed for the escape hatch (and the fix's proof) */
} duet_explain_opts;

typedef struct duet_explanation {
    const duet_case *c;     /* the case explained (a twin's buggy case) */
    const duet_case *asked; /* the case asked for, when it is c's twin; else c */
    const duet_case *twin;  /* c's fixed twin, or NULL */
    uint64_t seed;

    /* 1. the code */
    duet_site_kind site_kind;
    char site_file[160];
    int site_line;
    char site_what[64]; /* DUET_BOOL, the op that diverged, the observable's name */
    int ncode;
    duet_excerpt code[DUET_EXPLAIN_MAX_EXCERPTS];

    /* 2. eager: two steps, A the first call (the one graph mode traces), B the first
     * step on which the host read takes another value (else step 1) */
    bool reads_differ; /* B reads otherwise than A */
    duet_step_view eager[2];

    /* 3. what the tracer sees: the IR around the site */
    char ir_seen[4096];
    bool ir_is_partial; /* the nodes traced up to the host read */

    /* 4. the buggy case under each run, and the graph's output on step B under
     * specialize beside eager's */
    duet_result run[DUET_RUN_COUNT];
    bool wrong_shown; /* specialize's step B differs from eager's */
    duet_step_view specialize_at_b;
    duet_result exact; /* strict at rtol 0 atol 0, when every run agrees within tolerance */
    bool exact_run;

    /* 5. the fix */
    int nfix;
    duet_excerpt fix[DUET_EXPLAIN_MAX_EXCERPTS];
    char ir_fixed[4096];
    duet_result fixed[DUET_RUN_COUNT]; /* the twin, timing_steps steps (eager unused) */

    /* 6. the escape hatch: c eagerly vs the twin's graph (c's own without a twin) */
    duet_result hatch_eager;

    duet_diag diag; /* why the explanation could not be made, code DUET_OK otherwise */
} duet_explanation;

/* Fills x for the case (or, for a twin, the case it fixes). Runs the case eagerly and
 * under every policy, its twin under every policy, and the traces it shows. 0, or -1
 * with x->diag set. x is large: allocate it. */
int duet_explain_case(const duet_case *c, const duet_explain_opts *o, duet_explanation *x);

/* The name of the site kind, as the JSON form writes it: "diagnostic", ... */
const char *duet_site_kind_name(duet_site_kind k);

/* The explanation as JSON, for reports; NULL when out of memory. */
cJSON *duet_explanation_json(const duet_explanation *x);
/* A case's teaching metadata alone (no runs): name, category, summary, twin, why,
 * fix_why, frameworks and the expected outcomes. */
cJSON *duet_case_metadata_json(const duet_case *c);

#endif
