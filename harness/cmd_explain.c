/* `duet explain CASE`: a case told to a reader who knows C but not graph mode, in
 * seven sections, from runs on this machine (harness/explain.h fills the record).
 * Without a case: the catalog, one sentence each. --json: the same as data;
 * --markdown: the catalog's bug classes as docs/bug-classes.md has them. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "explain.h"

enum { WIDTH = 88 }; /* prose is wrapped to this many columns */

static void usage(FILE *f)
{
    fprintf(f, "usage: duet explain [CASE] [--json] [--seed S] [--steps N]\n"
               "       duet explain --markdown\n"
               "  CASE        a registered case (duet list); a fixed twin explains its case\n"
               "  --json      the same content as JSON\n"
               "  --seed S    the inputs' seed (default 42)\n"
               "  --steps N   steps timed for the escape hatch and the fix's proof (default 32)\n"
               "  --markdown  the catalog's bug classes as Markdown (docs/bug-classes.md)\n"
               "Without CASE: the catalog by category, one sentence each.\n"
               "Colour only on a terminal, and never when NO_COLOR is set.\n");
}

/* Colour on a terminal unless NO_COLOR is set to anything (no-color.org). */
static bool colour_wanted(int fd)
{
    const char *no = getenv("NO_COLOR");
    return isatty(fd) && !(no && no[0]);
}

typedef struct style {
    const char *bold, *mark, *dim, *off;
} style;

static style style_for(bool colour)
{
    return colour ? (style){"\033[1m", "\033[1;33m", "\033[2m", "\033[0m"} : (style){"", "", "", ""};
}

/* Prints text wrapped to WIDTH columns: the first line after indent spaces, the
 * others after hang. */
static void wrap_hanging(FILE *f, int indent, int hang, const char *text)
{
    int col = 0;
    bool first = true;
    for (const char *p = text; *p;) {
        while (*p == ' ') p++;
        size_t len = strcspn(p, " ");
        if (!len) break;
        if (col && col + 1 + (int)len > WIDTH) {
            fputc('\n', f);
            col = 0;
            first = false;
        }
        if (!col) col = fprintf(f, "%*s", first ? indent : hang, "");
        else col += fprintf(f, " ");
        col += fprintf(f, "%.*s", (int)len, p);
        p += len;
    }
    if (col) fputc('\n', f);
}

static void wrap(FILE *f, int indent, const char *text) { wrap_hanging(f, indent, indent, text); }

static void wrapf(FILE *f, int indent, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void wrapf(FILE *f, int indent, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    wrap(f, indent, buf);
}

/* Each line of text after indent spaces. */
static void indented(FILE *f, int indent, const char *text)
{
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        fprintf(f, "%*s%.*s\n", indent, "", (int)len, p);
        p += len + (p[len] == '\n');
    }
}

static void heading(FILE *f, const style *s, const char *title)
{
    fprintf(f, "\n%s%s%s\n", s->bold, title, s->off);
}

static void excerpt(FILE *f, const style *s, const duet_excerpt *e)
{
    fprintf(f, "  %s%s:%d%s\n", s->dim, e->file, e->first, s->off);
    int line = e->first;
    for (const char *p = e->text; *p; line++) {
        size_t len = strcspn(p, "\n");
        bool mark = line == e->mark;
        fprintf(f, "%s%s %4d | %.*s%s\n", mark ? s->mark : "", mark ? ">" : " ", line, (int)len, p,
                mark ? s->off : "");
        p += len + (p[len] == '\n');
    }
}

static void diag_text(FILE *f, const duet_diag *d)
{
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!m) return;
    duet_diag_print(m, d);
    fclose(m);
    indented(f, 4, text);
    free(text);
}

/* ---- the seven sections ---- */

static void section_code(FILE *f, const style *s, const duet_explanation *x)
{
    heading(f, s, "1. The code");
    char at[256], where[512];
    snprintf(at, sizeof at, "%s:%d", x->site_file, x->site_line);
    switch (x->site_kind) {
    case DUET_SITE_DIAGNOSTIC:
        if (x->site_what[0])
            snprintf(where, sizeof where, "Graph mode stops (under strict) at the %s on %s, "
                     "marked >.", x->site_what, at);
        else
            snprintf(where, sizeof where, "Graph mode stops (under strict) at %s, marked >.", at);
        break;
    case DUET_SITE_LINT:
        snprintf(where, sizeof where, "The eager lint finds a %s on %s, marked >.", x->site_what, at);
        break;
    case DUET_SITE_EFFECT:
        snprintf(where, sizeof where, "The C effect '%s', which graph mode runs only while "
                 "tracing, is on %s, marked >.", x->site_what, at);
        break;
    case DUET_SITE_DIVERGENCE:
        snprintf(where, sizeof where, "The first op whose output differs from eager's, the %s, "
                 "is on %s, marked >.", x->site_what, at);
        break;
    case DUET_SITE_PASS:
        snprintf(where, sizeof where, "Compared bit for bit, the graph's outputs differ from "
                 "eager's, and without the pass '%s' they do not; the case turns it on where it "
                 "is registered, %s.", x->site_what, at);
        break;
    case DUET_SITE_CASE:
        snprintf(where, sizeof where, "Nothing goes wrong here; the case is registered at %s.", at);
        break;
    }
    wrapf(f, 2, "%s%s", where,
          strncmp(x->site_what, "DUET_", 5) ? ""
          : " DUET_BOOL(ctx, t) hands C the value of tensor t as a bool (DUET_ITEM as a double, "
            "DUET_DIM(ctx, t, i) the size of dim i): a host read.");
    for (int i = 0; i < x->ncode; i++) {
        fputc('\n', f);
        excerpt(f, s, &x->code[i]);
    }
    if (!x->ncode) wrap(f, 2, "(the source is neither embedded in this binary nor at that path)");
}

static void step_view(FILE *f, const duet_step_view *v, const char *what, const char *output_label)
{
    fprintf(f, "    step %d:\n", v->step);
    for (int i = 0; i < v->nin; i++) fprintf(f, "      in[%d]   %s\n", i, v->in[i].text);
    if (v->reads[0]) fprintf(f, "      %s read %s\n", what, v->reads);
    if (v->observed[0]) fprintf(f, "      after it: %s\n", v->observed);
    fprintf(f, "      %-7s %s\n", output_label, v->out.text);
}

static void section_eager(FILE *f, const style *s, const duet_explanation *x)
{
    heading(f, s, "2. Eager mode");
    const duet_step_view *a = &x->eager[0], *b = &x->eager[1];
    bool reads = a->reads[0] != 0;
    if (reads && x->reads_differ)
        wrapf(f, 2, "Eagerly every op computes as soon as it is called, so %s has a value to "
              "give C, and each call takes the path its data asks for. Steps %d and %d take "
              "different paths:", x->site_what, a->step, b->step);
    else if (reads)
        wrapf(f, 2, "Eagerly every op computes as soon as it is called, so %s has a value to "
              "give C. On these inputs it reads the same on every step (%s), so every step takes "
              "the same path:", x->site_what, a->reads);
    else
        wrapf(f, 2, "Eagerly every op computes as soon as it is called, and the C code of the "
              "body runs on every call. Steps %d and %d:", a->step, b->step);
    fputc('\n', f);
    step_view(f, a, x->site_what, "output");
    step_view(f, b, x->site_what, "output");
}

static void section_tracer(FILE *f, const style *s, const duet_explanation *x)
{
    heading(f, s, "3. What the tracer sees");
    wrap(f, 2, "In graph mode the first call traces the body: it runs once on symbolic tensors, "
               "which have a dtype and a shape (None where the size may change) but no values, "
               "and every op appends a node to a graph instead of computing. Later calls run the "
               "graph, not the C code.");
    if (x->ir_seen[0]) {
        fputc('\n', f);
        wrap(f, 2, x->ir_is_partial ? "The graph as traced up to the host read:"
                                    : "The graph as traced on step 0's inputs (before any pass):");
        indented(f, 2, x->ir_seen);
    } else {
        wrap(f, 2, "The trace stops before it has a graph to show.");
    }
    const duet_diag *d = &x->run[DUET_RUN_STRICT].diag;
    fputc('\n', f);
    if (x->c->why) wrap(f, 2, x->c->why);
    else if (d->explanation[0]) wrap(f, 2, d->explanation);
}

static const char *const policy_like[DUET_RUN_COUNT] = {
    [DUET_RUN_STRICT] = "TensorFlow, JAX: refuse",
    [DUET_RUN_SPECIALIZE] = "torch.jit.trace: bake in what the first call saw",
    [DUET_RUN_GUARD] = "torch.compile: bake it in behind a guard",
};

static void trace_reasons(FILE *f, const duet_result *r)
{
    for (int i = 0; i < r->traces && i < DUET_MAX_REASONS; i++)
        fprintf(f, "    trace %d: %s\n", i + 1, r->reasons[i]);
    if (r->traces > DUET_MAX_REASONS) fprintf(f, "    ... %d traces in all\n", r->traces);
}

/* A divergence: the warning if any, specialize's step B beside eager's, the extent. */
static void divergence(FILE *f, const duet_explanation *x, duet_run_kind k)
{
    const duet_result *r = &x->run[k];
    if (r->warning[0]) wrap(f, 4, r->warning);
    if (k == DUET_RUN_SPECIALIZE && x->wrong_shown) {
        if (x->eager[1].reads[0])
            wrapf(f, 4, "Step %d takes the other path eagerly (it reads %s), but the graph "
                  "replays the baked one:", x->specialize_at_b.step, x->eager[1].reads);
        else
            wrapf(f, 4, "On step %d:", x->specialize_at_b.step);
        fprintf(f, "      eager   %s\n      graph   %s\n", x->eager[1].out.text,
                x->specialize_at_b.out.text);
    }
    char op[256] = "";
    if (r->op_step >= 0)
        snprintf(op, sizeof op, "; the first op that differs is the %s at %s:%d", r->op_name,
                 r->op_file, r->op_line);
    wrapf(f, 4, "No error%s, but over %d steps the outputs differ from eager's by up to %.3g "
          "(max abs), first at %s%s.", r->warning[0] ? " beyond the warning" : " and no warning",
          r->steps_run, r->cmp.max_abs, r->cmp.first, op);
}

static void policy(FILE *f, const duet_explanation *x, duet_run_kind k)
{
    const duet_result *r = &x->run[k];
    fprintf(f, "\n  %s (%s): %s%s\n", duet_run_name(k), policy_like[k], duet_outcome_name(r->actual),
            r->as_expected ? "" : " (UNEXPECTED)");
    if (!r->as_expected) wrap(f, 4, r->why);
    switch (r->actual) {
    case DUET_OUTCOME_TRACE_ERROR:
    case DUET_OUTCOME_RETRACE_STORM:
    case DUET_OUTCOME_ERROR:
        if (r->actual == DUET_OUTCOME_RETRACE_STORM) trace_reasons(f, r);
        diag_text(f, &r->diag);
        return;
    case DUET_OUTCOME_DIVERGENCE:
        divergence(f, x, k);
        return;
    case DUET_OUTCOME_EFFECT_MISMATCH:
        wrapf(f, 4, "The outputs agree, but no warning says that the host effect '%s' ran on %d "
              "of %d steps eagerly and on %d in graph mode%s.", r->effects[0].name,
              r->effects[0].eager_steps, r->steps_run, r->effects[0].graph_steps,
              r->effects[0].trace_only ? ", only while tracing" : "");
        return;
    default:
        break;
    }
    if (r->traces == 0) {
        wrapf(f, 4, "Nothing traced: every function ran eagerly, over %d steps.", r->steps_run);
        return;
    }
    if (r->warning[0]) wrap(f, 4, r->warning);
    wrapf(f, 4, "Agrees with eager over %d steps (rtol 1e-5, atol 1e-8), %d trace%s%s%s", r->steps_run,
          r->traces, r->traces == 1 ? "" : "s",
          r->warning[0] ? ": the baked answer happens to be right for every input here (section 3 "
                          "says why)" : "", r->traces > 1 ? ":" : ".");
    if (r->traces > 1) {
        trace_reasons(f, r);
        wrapf(f, 4, "Each trace runs the body and the passes again: the last took %.3f ms to "
              "trace and %.3f ms to optimise, against %.4f ms for a call that reuses a trace.",
              r->timing.trace_ms, r->timing.optimise_ms, r->timing.median_ms);
    }
}

static void section_policies(FILE *f, const style *s, const duet_explanation *x)
{
    heading(f, s, "4. Graph mode, under each policy");
    wrap(f, 2, "What a graph does where the C code needs a value depends on the policy of the "
               "function (duet_fn_set_policy). On the same inputs as eager mode:");
    for (int k = DUET_RUN_STRICT; k < DUET_RUN_COUNT; k++) policy(f, x, (duet_run_kind)k);
    if (x->exact_run) {
        const duet_result *e = &x->exact;
        fputc('\n', f);
        if (e->actual == DUET_OUTCOME_OK)
            wrapf(f, 2, "Compared bit for bit (--rtol 0 --atol 0), strict's outputs equal eager's "
                  "too.");
        else
            wrapf(f, 2, "Compared bit for bit (--rtol 0 --atol 0), strict's outputs differ from "
                  "eager's by up to %.3g (%lld ULP), first at %s: the graph computes the same thing "
                  "in another order.", e->cmp.max_abs, (long long)e->cmp.max_ulp, e->cmp.first);
    }
}

static void section_fix(FILE *f, const style *s, const duet_explanation *x)
{
    heading(f, s, "5. The fix");
    if (!x->twin) {
        wrapf(f, 2, "%s has no fixed twin: it is not a bug.", x->c->name);
    } else {
        if (x->c->fix_why) wrap(f, 2, x->c->fix_why);
        fputc('\n', f);
        wrapf(f, 2, "The twin, %s:", x->twin->name);
        for (int i = 0; i < x->nfix; i++) {
            fputc('\n', f);
            excerpt(f, s, &x->fix[i]);
        }
        if (x->ir_fixed[0]) {
            fputc('\n', f);
            wrap(f, 2, "It traces to (before optimisation):");
            indented(f, 2, x->ir_fixed);
        }
    }
    fputc('\n', f);
    wrapf(f, 2, "The proof, %s against eager mode on the same inputs:", x->twin ? x->twin->name : x->c->name);
    for (int k = DUET_RUN_STRICT; k < DUET_RUN_COUNT; k++) {
        const duet_result *r = &x->fixed[k];
        fprintf(f, "    %-10s %s over %d steps, %d trace%s, max abs difference %.3g (%lld ULP)%s\n",
                duet_run_name((duet_run_kind)k), duet_outcome_name(r->actual), r->steps_run,
                r->traces, r->traces == 1 ? "" : "s", r->cmp.max_abs, (long long)r->cmp.max_ulp,
                r->as_expected ? "" : " (UNEXPECTED)");
    }
}

static void section_hatch(FILE *f, const style *s, const duet_explanation *x)
{
    heading(f, s, "6. The cost of the escape hatch");
    const duet_result *e = &x->hatch_eager, *g = &x->fixed[DUET_RUN_STRICT];
    wrap(f, 2, "Instead of fixing the code, every function can run eagerly: "
               "duet_ctx_run_functions_eagerly(ctx, true), as tf.config.run_functions_eagerly(True). "
               "The bug goes away with the graph, and so does the graph's speed. Measured here, "
               "median per call after the first:");
    fprintf(f, "    %-28s %10.4f ms  (eager, %d calls)\n", x->c->name, e->timing.median_ms, e->steps_run);
    fprintf(f, "    %-28s %10.4f ms  (graph, strict, %d calls)\n", x->twin ? x->twin->name : x->c->name,
            g->timing.median_ms, g->steps_run);
    if (g->timing.median_ms > 0 && e->timing.median_ms > 0.05)
        wrapf(f, 2, "Eagerly, each call takes %.2fx the graph's time. The graph's one-time cost: "
              "%.2f ms to trace, %.2f ms to optimise, %.2f ms for the whole first call.",
              e->timing.median_ms / g->timing.median_ms, g->timing.trace_ms, g->timing.optimise_ms,
              g->timing.first_ms);
    else
        wrap(f, 2, "Both take microseconds: a function this small gives the graph nothing to win, "
                   "and the ratio is noise. The hatch costs what graph mode saves, which grows with "
                   "the model: `duet explain ner-buggy-softmax` measures a training step.");
}

static void section_elsewhere(FILE *f, const style *s, const duet_explanation *x)
{
    heading(f, s, "7. The same bug in other frameworks");
    const duet_frameworks *fw = &x->c->frameworks;
    if (!fw->tensorflow && !fw->jax && !fw->pytorch) {
        wrap(f, 2, "(not a bug class: nothing to map)");
        return;
    }
    const char *const name[] = {"TensorFlow", "JAX", "PyTorch"};
    const char *const what[] = {fw->tensorflow, fw->jax, fw->pytorch};
    for (int i = 0; i < 3; i++) {
        char line[1024];
        snprintf(line, sizeof line, "%s: %s", name[i], what[i] ? what[i] : "(not known)");
        wrap_hanging(f, 2, 4, line);
    }
}

/* What a run did, in a few words, for the summary. */
static const char *in_short(const duet_result *r, char *buf, size_t n)
{
    switch (r->actual) {
    case DUET_OUTCOME_OK:
        if (!r->traces) snprintf(buf, n, "runs eagerly (no trace)");
        else snprintf(buf, n, "agrees with eager (%d trace%s)", r->traces, r->traces == 1 ? "" : "s");
        break;
    case DUET_OUTCOME_TRACE_ERROR: snprintf(buf, n, "stops with a diagnostic"); break;
    case DUET_OUTCOME_DIVERGENCE: snprintf(buf, n, "silently computes other numbers than eager"); break;
    case DUET_OUTCOME_RETRACE_STORM: snprintf(buf, n, "traces again on every call until its trace limit"); break;
    case DUET_OUTCOME_EFFECT_MISMATCH: snprintf(buf, n, "agrees on the numbers but loses a C effect"); break;
    default: snprintf(buf, n, "fails (%s)", duet_outcome_name(r->actual)); break;
    }
    return buf;
}

static void summary(FILE *f, const duet_explanation *x)
{
    char st[96], sp[96], gu[96], lead[1024];
    int n = snprintf(lead, sizeof lead, "In short: eagerly it %s. As a graph (traced once, then "
                     "replayed: section 3), strict (TensorFlow's and JAX's way) %s, specialize "
                     "(torch.jit.trace's) %s, and guard (torch.compile's) %s.", x->run[DUET_RUN_EAGER].actual == DUET_OUTCOME_OK ? "runs" : "fails",
                     in_short(&x->run[DUET_RUN_STRICT], st, sizeof st),
                     in_short(&x->run[DUET_RUN_SPECIALIZE], sp, sizeof sp),
                     in_short(&x->run[DUET_RUN_GUARD], gu, sizeof gu));
    bool fixed_ok = true;
    for (int k = DUET_RUN_STRICT; k < DUET_RUN_COUNT; k++)
        fixed_ok = fixed_ok && x->fixed[k].actual == DUET_OUTCOME_OK && x->fixed[k].traces == 1;
    if (x->twin && n > 0 && (size_t)n < sizeof lead)
        snprintf(lead + n, sizeof lead - (size_t)n, " The fix, %s, %s.", x->twin->name,
                 fixed_ok ? "agrees with eager under every policy in one trace" : "is in section 5");
    wrap(f, 0, lead);
}

static void print_explanation(FILE *f, const duet_explanation *x, bool colour)
{
    style s = style_for(colour);
    fprintf(f, "%sduet explain %s%s\n", s.bold, x->c->name, s.off);
    if (x->asked != x->c) wrapf(f, 0, "(%s is the fixed twin of %s: this explains both.)", x->asked->name, x->c->name);
    wrap(f, 0, x->c->summary ? x->c->summary : "");
    fputc('\n', f);
    summary(f, x);
    section_code(f, &s, x);
    section_eager(f, &s, x);
    section_tracer(f, &s, x);
    section_policies(f, &s, x);
    section_fix(f, &s, x);
    section_hatch(f, &s, x);
    section_elsewhere(f, &s, x);
}

/* ---- the catalog ---- */

static void print_catalog(FILE *f, bool colour)
{
    style s = style_for(colour);
    for (int i = 0; i < duet_case_count(); i++) {
        const char *cat = duet_case_category(duet_case_at(i));
        if (duet_category_seen(i, cat)) continue;
        fprintf(f, "%s%s%s\n", s.bold, cat[0] ? cat : "(no category)", s.off);
        for (int j = i; j < duet_case_count(); j++) {
            const duet_case *c = duet_case_at(j);
            if (strcmp(duet_case_category(c), cat) || c->fixes) continue;
            fprintf(f, "  %-22s %s%s%s\n", c->name, c->summary ? c->summary : "",
                    c->twin ? "; fixed in " : "", c->twin ? c->twin : "");
        }
    }
    fprintf(f, "\nduet explain CASE tells one case's story: the code, eager and graph mode on it, "
               "the fix and what it costs.\n");
}

static cJSON *catalog_json(void)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < duet_case_count(); i++)
        cJSON_AddItemToArray(a, duet_case_metadata_json(duet_case_at(i)));
    return a;
}

static const char *json_text(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* docs/bug-classes.md, from the catalog's JSON: the cases that explain a bug. */
static void print_markdown(FILE *f, const cJSON *catalog)
{
    fprintf(f, "# Bug classes\n\n"
               "<!-- Generated by `duet explain --markdown` from `duet explain --json`; a test "
               "keeps it so. Edit the cases' .why, .fix_why and .frameworks, then run "
               "`cmake --build build --target bug-classes`. -->\n\n"
               "One section per bug in the catalog: what goes wrong, the fix, what each run is "
               "expected to do, and the same bug in TensorFlow, JAX and PyTorch. `duet explain "
               "CASE` tells the same story with the case's code, its values and measurements "
               "from your machine.\n");
    const cJSON *c;
    cJSON_ArrayForEach(c, catalog) {
        const char *name = json_text(c, "name"), *why = json_text(c, "why");
        if (!why) continue;
        const cJSON *fw = cJSON_GetObjectItemCaseSensitive(c, "frameworks");
        const cJSON *ex = cJSON_GetObjectItemCaseSensitive(c, "expected");
        fprintf(f, "\n## %s\n\n%s (`%s`, category `%s`)\n\n**What goes wrong.** %s\n\n", name,
                json_text(c, "summary"), json_text(c, "file"), json_text(c, "category"), why);
        if (json_text(c, "twin"))
            fprintf(f, "**The fix** (`%s`). %s\n\n", json_text(c, "twin"),
                    json_text(c, "fix_why") ? json_text(c, "fix_why") : "");
        fprintf(f, "| run | expected outcome |\n| --- | --- |\n");
        const cJSON *run;
        cJSON_ArrayForEach(run, ex) {
            int max_traces = cJSON_GetObjectItemCaseSensitive(run, "max_traces")->valueint;
            fprintf(f, "| %s | `%s`", run->string, json_text(run, "outcome"));
            if (max_traces) fprintf(f, ", at most %d trace%s", max_traces, max_traces == 1 ? "" : "s");
            fprintf(f, " |\n");
        }
        fprintf(f, "\n**Elsewhere.**\n\n- TensorFlow: %s\n- JAX: %s\n- PyTorch: %s\n",
                json_text(fw, "tensorflow"), json_text(fw, "jax"), json_text(fw, "pytorch"));
    }
}

/* ---- the command ---- */

typedef struct explain_args {
    const duet_case *c;
    bool json, markdown;
    duet_explain_opts o;
} explain_args;

static int parse(int argc, char **argv, explain_args *a)
{
    a->o = (duet_explain_opts){.seed = 42, .timing_steps = 32};
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v;
        long long n;
        int sw;
        bool *on = NULL;
        if ((sw = duet_arg_switch("explain", f, "--json"))) on = &a->json;
        else if ((sw = duet_arg_switch("explain", f, "--markdown"))) on = &a->markdown;
        if (sw < 0) return 2;
        if (on) *on = true;
        else if (duet_arg_is(f, "--seed") || duet_arg_is(f, "--steps")) {
            bool seed = duet_arg_is(f, "--seed");
            if (!(v = duet_arg_value("explain", argc, argv, &i)) ||
                duet_arg_int("explain", seed ? "--seed" : "--steps", v, seed ? 0 : 2,
                             seed ? INT64_MAX : DUET_MAX_STEPS, &n))
                return 2;
            if (seed) a->o.seed = (uint64_t)n;
            else a->o.timing_steps = (int)n;
        } else if (argv[i][0] == '-' || a->c) {
            fprintf(stderr, "duet explain: unexpected argument '%s' (see duet explain --help)\n", argv[i]);
            return 2;
        } else if (!(a->c = duet_case_find(argv[i]))) {
            fprintf(stderr, "duet explain: no case named '%s' (see duet explain)\n", argv[i]);
            return 2;
        }
    }
    if (a->markdown && (a->c || a->json)) {
        fprintf(stderr, "duet explain: --markdown takes no CASE and no --json\n");
        return 2;
    }
    return 0;
}

static int print_json(cJSON *o)
{
    char *text = o ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    if (!text) {
        fprintf(stderr, "duet explain: out of memory writing JSON\n");
        return 3;
    }
    printf("%s\n", text);
    free(text);
    return 0;
}

int duet_cmd_explain(int argc, char **argv)
{
    if (duet_arg_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    explain_args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc) return rc;
    if (a.markdown || (!a.c && a.json)) {
        cJSON *catalog = catalog_json();
        if (a.json) return print_json(catalog);
        if (!catalog) return 3;
        print_markdown(stdout, catalog);
        cJSON_Delete(catalog);
        return 0;
    }
    if (!a.c) {
        print_catalog(stdout, colour_wanted(STDOUT_FILENO));
        return 0;
    }
    duet_explanation *x = malloc(sizeof *x);
    if (!x) return 3;
    if (duet_explain_case(a.c, &a.o, x)) {
        fprintf(stderr, "duet explain: %s: %s\n", a.c->name, x->diag.message);
        free(x);
        return 3;
    }
    if (a.json) rc = print_json(duet_explanation_json(x));
    else print_explanation(stdout, x, colour_wanted(STDOUT_FILENO));
    free(x);
    return rc;
}
