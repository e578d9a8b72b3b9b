/* The report for people: index.html and report.md from one suite, with gnuplot plots.
 * Both pages say the same things, from the same text builders; only the markup
 * differs. The HTML is self-contained (inline CSS, no script, nothing fetched) apart
 * from its plots, which sit beside it in plots/. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plot.h"
#include "report.h"

duet_explanation duet_report_explanation(const duet_result *r)
{
    return (duet_explanation){r->diag.explanation, r->diag.fix};
}

/* ---- what the pages show: a case's runs and its plots ---- */

enum { PLOT_OUTPUTS, PLOT_STEP_TIME, PLOT_OP_TIME, PLOT_DIVERGENCE, PLOT_COUNT };

static const char *const plot_suffix[PLOT_COUNT] = {"outputs", "step-time", "op-time",
                                                    "divergence"};

/* One line of a plot: a mode's values per step, and its kernel time by op kind. */
typedef struct series {
    char title[32]; /* "eager", "graph strict" */
    const char *color;
    const double *out0, *step_ms;
    int steps;
    const duet_result *r;
    bool reference; /* op times are r's eager reference's */
} series;

typedef struct plot_state {
    bool wanted, drawn;
    char stem[96];
    char caption[256];
    char note[400]; /* why it is not drawn */
} plot_state;

typedef struct case_view {
    const char *name;
    const duet_case *c; /* NULL when not registered in this program */
    const duet_result *run[DUET_RUN_COUNT];
    int nseries;
    series s[DUET_RUN_COUNT];
    plot_state plot[PLOT_COUNT];
} case_view;

static const char *const run_color[DUET_RUN_COUNT] = {"#9ecae1", "#e6550d", "#31a354",
                                                      "#756bb1"};

static void add_series(case_view *v, const char *title, duet_run_kind k, const duet_result *r,
                       bool reference)
{
    series *s = &v->s[v->nseries++];
    snprintf(s->title, sizeof s->title, "%s", title);
    s->color = run_color[k];
    s->r = r;
    s->reference = reference;
    s->out0 = reference ? r->eager_out0 : r->out0;
    s->step_ms = reference ? r->eager_step_ms : r->step_ms;
    s->steps = reference ? r->steps : r->steps_run;
}

/* The eager line is the eager run's, else the reference a graph run measured (a run
 * judged against eager has one: it has an eager median or per-step times). */
static void build_series(case_view *v)
{
    if (v->run[DUET_RUN_EAGER]) {
        add_series(v, "eager", DUET_RUN_EAGER, v->run[DUET_RUN_EAGER], false);
    } else {
        for (int k = DUET_RUN_STRICT; k < DUET_RUN_COUNT; k++) {
            const duet_result *r = v->run[k];
            if (r && r->eager_step_ms[0] > 0) {
                add_series(v, "eager", DUET_RUN_EAGER, r, true);
                break;
            }
        }
    }
    for (int k = DUET_RUN_STRICT; k < DUET_RUN_COUNT; k++) {
        char title[32];
        snprintf(title, sizeof title, "graph %s", duet_run_name((duet_run_kind)k));
        if (v->run[k] && v->run[k]->steps_run > 0)
            add_series(v, title, (duet_run_kind)k, v->run[k], false);
    }
}

/* A graph run's own line (the divergence plot has one per graph run). */
static bool graph_series(const series *s)
{
    return !s->reference && s->r->run != DUET_RUN_EAGER;
}

static const duet_result *first_diverging(const case_view *v)
{
    for (int k = DUET_RUN_STRICT; k < DUET_RUN_COUNT; k++)
        if (v->run[k] && v->run[k]->actual == DUET_OUTCOME_DIVERGENCE) return v->run[k];
    return NULL;
}

/* ---- plot data and commands ---- */

static void put_value(FILE *f, double v, bool positive)
{
    if (isfinite(v) && (!positive || v > 0))
        fprintf(f, " %.9g", v);
    else
        fputs(" NaN", f);
}

static int max_steps(const case_view *v)
{
    int n = 0;
    for (int i = 0; i < v->nseries; i++) n = v->s[i].steps > n ? v->s[i].steps : n;
    return n;
}

static int per_step_data(FILE *f, const case_view *v, bool times)
{
    for (int t = 0; t < max_steps(v); t++) {
        fprintf(f, "%d", t);
        for (int i = 0; i < v->nseries; i++) {
            const series *s = &v->s[i];
            put_value(f, t < s->steps ? (times ? s->step_ms : s->out0)[t] : NAN, times);
        }
        fputc('\n', f);
    }
    return 0;
}

static int outputs_data(FILE *f, const void *user) { return per_step_data(f, user, false); }
static int step_time_data(FILE *f, const void *user) { return per_step_data(f, user, true); }

/* The eager line drawn wide and pale under the graph lines: where they agree, the
 * graph's line runs along its middle. */
static void per_step_commands(FILE *f, const char *data, const case_view *v, const char *ylabel)
{
    fprintf(f, "set xlabel 'step'\nset ylabel '%s'\nplot ", ylabel);
    for (int i = 0; i < v->nseries; i++) {
        const series *s = &v->s[i];
        bool eager = !strcmp(s->title, "eager");
        fprintf(f, "%s'%s' using 1:%d with linespoints lw %d pt 7 ps %.1f lc rgb '%s' title '%s'",
                i ? ", " : "", data, i + 2, eager ? 6 : 2, eager ? 0.0 : 0.6, s->color, s->title);
    }
    fputc('\n', f);
}

static void outputs_commands(FILE *f, const char *data, const void *user)
{
    per_step_commands(f, data, user, "output 0, element 0");
}

static void step_time_commands(FILE *f, const char *data, const void *user)
{
    fputs("set logscale y\n", f);
    per_step_commands(f, data, user, "ms per step (log)");
}

/* Kernel time by op kind: the kinds any series spent most time in, at most this many. */
#define OP_KINDS_SHOWN 14

static double op_ms(const series *s, const char *kind)
{
    for (int j = 0; j < s->r->nop_times; j++)
        if (!strcmp(s->r->op_time[j].name, kind))
            return s->reference ? s->r->op_time[j].eager_ms : s->r->op_time[j].ms;
    return 0;
}

typedef struct kind_rank {
    const char *name;
    double top;
} kind_rank;

static int by_top_desc(const void *a, const void *b)
{
    double x = ((const kind_rank *)a)->top, y = ((const kind_rank *)b)->top;
    return (x < y) - (x > y);
}

/* The op kinds of every series, heaviest first; returns how many. */
static int ranked_kinds(const case_view *v, kind_rank *rank)
{
    int n = 0;
    for (int i = 0; i < v->nseries; i++)
        for (int j = 0; j < v->s[i].r->nop_times; j++) {
            const char *name = v->s[i].r->op_time[j].name;
            int k = 0;
            while (k < n && strcmp(rank[k].name, name)) k++;
            if (k == n) rank[n++] = (kind_rank){name, 0};
            double ms = op_ms(&v->s[i], name);
            if (ms > rank[k].top) rank[k].top = ms;
        }
    qsort(rank, (size_t)n, sizeof *rank, by_top_desc);
    return n;
}

static int op_time_data(FILE *f, const void *user)
{
    const case_view *v = user;
    kind_rank rank[DUET_RUN_COUNT * DUET_MAX_OP_KINDS];
    int n = ranked_kinds(v, rank);
    for (int k = 0; k < n && k < OP_KINDS_SHOWN; k++) {
        fprintf(f, "\"%s\"", rank[k].name);
        for (int i = 0; i < v->nseries; i++) put_value(f, op_ms(&v->s[i], rank[k].name), false);
        fputc('\n', f);
    }
    return 0;
}

static void op_time_commands(FILE *f, const char *data, const void *user)
{
    const case_view *v = user;
    fputs("set style data histograms\nset style histogram clustered gap 1\n"
          "set style fill solid 0.85 border -1\nset boxwidth 0.9\n"
          "set xtics rotate by -40 scale 0\nset ylabel 'ms, all steps'\nset yrange [0:*]\nplot ",
          f);
    for (int i = 0; i < v->nseries; i++)
        fprintf(f, "%s'%s' using %d%s lc rgb '%s' title '%s'", i ? ", " : "", data, i + 2,
                i ? "" : ":xtic(1)", v->s[i].color, v->s[i].title);
    fputc('\n', f);
}

/* Per diverging run: each op's error (NaN where it agrees exactly: the axis is
 * logarithmic), then the same where it is outside the tolerance. */
static int divergence_data(FILE *f, const void *user)
{
    const case_view *v = user;
    int n = 0;
    for (int i = 0; i < v->nseries; i++) n = v->s[i].r->nop_errors > n ? v->s[i].r->nop_errors : n;
    for (int op = 0; op < n; op++) {
        fprintf(f, "%d", op);
        for (int i = 0; i < v->nseries; i++) {
            if (!graph_series(&v->s[i])) continue;
            const duet_result *r = v->s[i].r;
            const duet_op_error *e = op < r->nop_errors ? &r->op_error[op] : NULL;
            put_value(f, e ? e->max_abs : NAN, true);
            put_value(f, e && e->differs ? e->max_abs : NAN, true);
        }
        fputc('\n', f);
    }
    return 0;
}

static void divergence_commands(FILE *f, const char *data, const void *user)
{
    const case_view *v = user;
    const duet_result *d = first_diverging(v);
    int first = -1;
    for (int op = 0; d && op < d->nop_errors && first < 0; op++)
        if (d->op_error[op].differs) first = op;
    if (first >= 0)
        fprintf(f, "set arrow from %d, graph 0 to %d, graph 1 nohead dt 2 lc rgb '#888888'\n"
                   "set label 'first divergent op (%s)' at %d, graph 0.95 offset 0.5,0 tc rgb '#555555'\n",
                first, first, d->op_name[0] && !strchr(d->op_name, '\'') ? d->op_name : "?",
                first);
    int nops = 0;
    for (int i = 0; i < v->nseries; i++)
        if (graph_series(&v->s[i]) && v->s[i].r->nop_errors > nops) nops = v->s[i].r->nop_errors;
    if (nops <= 20) fputs("set xtics 1\n", f); /* op indices, not fractions */
    fputs("set offsets 0.5, 0.5, 0, 0\nset logscale y\nset format y '%.0e'\n"
          "set xlabel 'op (debug run order)'\n"
          "set ylabel 'max abs error vs eager (log)'\nplot ",
          f);
    bool titled = false;
    for (int i = 0, col = 2; i < v->nseries; i++) {
        if (!graph_series(&v->s[i])) continue;
        col += 2;
        if (!v->s[i].r->nop_errors) continue;
        fprintf(f, "%s'%s' using 1:%d with points pt 7 ps 0.5 lc rgb '%s' title '%s', "
                   "'' using 1:%d with points pt 6 ps 1.3 lc rgb '#d62728' %s",
                titled ? ", " : "", data, col - 2, v->s[i].color, v->s[i].title, col - 1,
                titled ? "notitle" : "title 'outside tolerance'");
        titled = true;
    }
    fputc('\n', f);
}

/* ---- deciding and drawing the plots ---- */

static bool any_positive_error(const case_view *v)
{
    for (int i = 0; i < v->nseries; i++)
        for (int op = 0; graph_series(&v->s[i]) && op < v->s[i].r->nop_errors; op++)
            if (v->s[i].r->op_error[op].max_abs > 0) return true;
    return false;
}

static bool any_op_time(const case_view *v)
{
    for (int i = 0; i < v->nseries; i++)
        for (int j = 0; j < v->s[i].r->nop_times; j++)
            if (op_ms(&v->s[i], v->s[i].r->op_time[j].name) > 0) return true;
    return false;
}

static void plan_plots(case_view *v)
{
    const duet_result *d = first_diverging(v);
    plot_state *p = v->plot;
    snprintf(p[PLOT_OUTPUTS].caption, sizeof p->caption,
             "Output 0 per step (the loss, for a training step), eager and graph overlaid");
    snprintf(p[PLOT_STEP_TIME].caption, sizeof p->caption,
             "Time per step; a graph's first step includes its trace");
    snprintf(p[PLOT_OP_TIME].caption, sizeof p->caption,
             "Kernel time by op kind over all steps (the %d heaviest kinds)", OP_KINDS_SHOWN);
    if (d)
        snprintf(p[PLOT_DIVERGENCE].caption, sizeof p->caption,
                 "Each op's error against eager on the first divergent step, in the unoptimised "
                 "debug run (circled: outside the tolerance; ops that agree exactly are not drawn)");
    p[PLOT_OUTPUTS].wanted = p[PLOT_STEP_TIME].wanted = max_steps(v) > 0;
    p[PLOT_OP_TIME].wanted = any_op_time(v);
    p[PLOT_DIVERGENCE].wanted = d && any_positive_error(v);
    if (d && !p[PLOT_DIVERGENCE].wanted) {
        int twinless = 0;
        for (int op = 0; op < d->nop_errors; op++) twinless += isnan(d->op_error[op].max_abs);
        bool pass = d->passes_at_fault[0];
        snprintf(p[PLOT_DIVERGENCE].note, sizeof p->note,
                 "No op's output differs from its eager twin's in the unoptimised debug run of "
                 "the first divergent step (%d of its %d ops have no eager twin)%s%s.",
                 twinless, d->nop_errors, pass ? "; the modes agree without the pass " : "",
                 d->passes_at_fault);
    }
}

static void file_stem(const char *name, const char *suffix, char *buf, size_t n)
{
    size_t k = 0;
    for (const char *c = name; *c && k + 1 < n; c++)
        buf[k++] = (strchr("-_.", *c) || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                    (*c >= '0' && *c <= '9'))
                       ? *c
                       : '_';
    snprintf(buf + k, n - k, "-%s", suffix);
}

static void draw_plots(duet_gnuplot *g, const char *plots_dir, case_view *v)
{
    static int (*const data[PLOT_COUNT])(FILE *, const void *) = {outputs_data, step_time_data,
                                                                  op_time_data, divergence_data};
    static void (*const commands[PLOT_COUNT])(FILE *, const char *, const void *) = {
        outputs_commands, step_time_commands, op_time_commands, divergence_commands};
    for (int k = 0; k < PLOT_COUNT; k++) {
        plot_state *p = &v->plot[k];
        if (!p->wanted) continue;
        file_stem(v->name, plot_suffix[k], p->stem, sizeof p->stem);
        duet_plot plot = {p->stem, data[k], commands[k], v};
        p->drawn = !duet_gnuplot_draw(g, plots_dir, &plot, p->note, sizeof p->note);
    }
}

/* ---- text both pages share ---- */

static void speed_text(const duet_result *r, char *buf, size_t n)
{
    if (r->run != DUET_RUN_EAGER && r->timing.speedup > 0)
        snprintf(buf, n, "%.2fx (%.2f-%.2fx)", r->timing.speedup, r->timing.speedup_lo,
                 r->timing.speedup_hi);
    else
        snprintf(buf, n, "-");
}

static const char *bytes_text(size_t bytes, char *buf, size_t n)
{
    if (bytes < 1024)
        snprintf(buf, n, "%zu bytes", bytes);
    else if (bytes < 1024 * 1024)
        snprintf(buf, n, "%.1f KiB", bytes / 1024.0);
    else
        snprintf(buf, n, "%.1f MiB", bytes / 1048576.0);
    return buf;
}

#define MAX_FINDINGS 12

/* What a run found, one plain-text line each. */
static int findings(const duet_result *r, char line[][640])
{
    int n = 0;
    const char *what = r->why[0] ? r->why : r->diag.message;
    if (what[0]) snprintf(line[n++], 640, "%s", what);
    if (r->diag.code && r->diag.file[0])
        snprintf(line[n++], 640, "at %s:%d%s%s", r->diag.file, r->diag.line,
                 r->diag.scope[0] ? " in " : "", r->diag.scope);
    if (r->actual == DUET_OUTCOME_DIVERGENCE && r->op_step >= 0)
        snprintf(line[n++], 640, "first divergent op: %s at %s:%d%s%s (step %d)", r->op_name,
                 r->op_file, r->op_line, r->op_scope[0] ? " in " : "", r->op_scope, r->op_step);
    if (r->passes_at_fault[0])
        snprintf(line[n++], 640, "the divergence disappears without the pass: %s",
                 r->passes_at_fault);
    if (r->warning[0]) snprintf(line[n++], 640, "warning: %s", r->warning);
    for (int i = 0; i < r->neffects && n < MAX_FINDINGS - 1; i++)
        snprintf(line[n++], 640, "host effect '%s' (%s:%d): changed on %d steps eagerly, %d in graph mode%s",
                 r->effects[i].name, r->case_file, r->effects[i].line, r->effects[i].eager_steps,
                 r->effects[i].graph_steps, r->effects[i].trace_only ? ", only while tracing" : "");
    if (r->run != DUET_RUN_EAGER && r->timing.speedup > 0 && n < MAX_FINDINGS - 1) {
        char pays[48] = "never pays off";
        if (r->timing.break_even_calls >= 0) {
            long calls = (long)(r->timing.break_even_calls + 0.5);
            snprintf(pays, sizeof pays, "pays off after %ld call%s", calls, calls == 1 ? "" : "s");
        }
        snprintf(line[n++], 640,
                 "per step %.3f ms against eager's %.3f ms: %.2fx (p10-p90 %.2f-%.2fx); trace "
                 "%.2f ms, optimise %.2f ms, first call %.2f ms: %s",
                 r->timing.median_ms, r->timing.eager_median_ms, r->timing.speedup,
                 r->timing.speedup_lo, r->timing.speedup_hi, r->timing.trace_ms,
                 r->timing.optimise_ms, r->timing.first_ms, pays);
        char planned[32], unplanned[32];
        snprintf(line[n++], 640, "memory: %s of intermediates planned, %s without planning",
                 bytes_text(r->planned_bytes, planned, sizeof planned),
                 bytes_text(r->unplanned_bytes, unplanned, sizeof unplanned));
    }
    if (r->traces > 1 && n < MAX_FINDINGS)
        snprintf(line[n++], 640, "%d traces; the last because %s", r->traces,
                 r->reasons[(r->traces < DUET_MAX_REASONS ? r->traces : DUET_MAX_REASONS) - 1]);
    return n;
}

/* The diagnostic as the terminal prints it, without the why and fix the page gives
 * as prose. Malloc'ed; NULL when the run has none (or out of memory). */
static char *diagnostic_text(const duet_result *r)
{
    if (!r->diag.code) return NULL;
    duet_diag d = r->diag;
    d.explanation[0] = d.fix[0] = 0;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    duet_diag_print(f, &d);
    fclose(f);
    if (len && buf[len - 1] == '\n') buf[len - 1] = 0;
    return buf;
}

/* An earlier run of the case with the same diagnostic, whose text the page shows. */
static const duet_result *same_diag_before(const case_view *v, int k)
{
    const duet_diag *d = &v->run[k]->diag;
    for (int j = 0; j < k; j++) {
        const duet_diag *e = v->run[j] ? &v->run[j]->diag : NULL;
        if (e && e->code == d->code && e->line == d->line && !strcmp(e->file, d->file) &&
            !strcmp(e->message, d->message))
            return v->run[j];
    }
    return NULL;
}

static void settings_text(const duet_suite *s, char *buf, size_t n)
{
    char steps[32];
    if (s->opts.steps)
        snprintf(steps, sizeof steps, "%d steps", s->opts.steps);
    else
        snprintf(steps, sizeof steps, "each case's steps");
    snprintf(buf, n, "duet %s%s%s on %s (%d threads); %s, seed %llu, rtol %g, atol %g%s%s",
             s->version, s->commit[0] ? ", commit " : "", s->commit, s->machine, s->threads, steps,
             (unsigned long long)s->opts.seed, s->opts.rtol, s->opts.atol,
             s->shard[0] ? ", shard " : "", s->shard);
}

/* ---- HTML ---- */

static void html(FILE *f, const char *s)
{
    for (; *s; s++) switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
}

static const char css[] =
    "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1d2125;"
    "max-width:1180px;margin:0 auto;padding:24px;background:#fff}"
    "h1{font-size:26px;margin:0 0 4px}h2{font-size:21px;margin:0 0 6px}"
    "h3{font-size:16px;margin:18px 0 6px}"
    "a{color:#0b62b0;text-decoration:none}a:hover{text-decoration:underline}"
    ".meta{color:#5b6570;margin:2px 0 10px}"
    "table{border-collapse:collapse;width:100%;margin:8px 0 14px;font-size:14px}"
    "th,td{border:1px solid #d8dde3;padding:4px 8px;text-align:left;vertical-align:top}"
    "th{background:#f3f5f7}td.num{text-align:right;font-variant-numeric:tabular-nums}"
    "tr.unexpected td{background:#fde8e8}td.case{background:#fff}"
    "table.summary td{padding:2px 8px}"
    ".ok{color:#1a7f37;font-weight:600}.bad{color:#c62828;font-weight:700}"
    ".finding{margin:0 0 2px}"
    "pre{background:#f6f8fa;border:1px solid #d8dde3;border-radius:6px;padding:10px;"
    "white-space:pre-wrap;word-break:break-word;font-size:13px}"
    "section{border-top:2px solid #e3e7eb;margin-top:28px;padding-top:16px}"
    ".explain p{margin:4px 0}"
    ".plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:16px}"
    "figure{margin:0;border:1px solid #e3e7eb;border-radius:6px;padding:8px}"
    "figure img{width:100%;height:auto;display:block}"
    "figcaption{font-size:13px;color:#5b6570;margin-top:4px}"
    ".noplot{padding:28px 12px;background:#fafafa;color:#8a5300;text-align:center}";

typedef struct page {
    const duet_suite *s;
    case_view *views;
    int nviews;
} page;

static void html_summary(FILE *f, const page *pg)
{
    fputs("<table class=\"summary\"><thead><tr><th>case</th><th>run</th><th>expected</th>"
          "<th>outcome</th><th>as expected</th><th>speed ratio (eager/graph)</th></tr></thead>"
          "<tbody>\n",
          f);
    for (int i = 0; i < pg->s->n; i++) {
        const duet_result *r = &pg->s->results[i];
        char speed[64];
        speed_text(r, speed, sizeof speed);
        /* a case's runs are together: its name once, across them */
        int span = 1;
        while (i + span < pg->s->n && !strcmp(pg->s->results[i + span].case_name, r->case_name)) span++;
        bool first = !i || strcmp(pg->s->results[i - 1].case_name, r->case_name);
        fprintf(f, "<tr%s>", r->as_expected ? "" : " class=\"unexpected\"");
        if (first) {
            fprintf(f, "<td rowspan=\"%d\" class=\"case\"><a href=\"#", span);
            html(f, r->case_name);
            fputs("\">", f);
            html(f, r->case_name);
            fputs("</a></td>", f);
        }
        fprintf(f, "<td>%s</td><td>%s</td><td>%s</td><td class=\"%s\">%s</td>"
                   "<td class=\"num\">%s</td></tr>\n",
                duet_run_name(r->run), duet_outcome_name(r->expected), duet_outcome_name(r->actual),
                r->as_expected ? "ok" : "bad", r->as_expected ? "yes" : "UNEXPECTED", speed);
    }
    fputs("</tbody></table>\n", f);
}

static void html_runs(FILE *f, const case_view *v)
{
    fputs("<table class=\"runs\"><thead><tr><th>run</th><th>expected</th><th>outcome</th>"
          "<th>traces</th><th>median ms per step</th><th>what was found</th></tr></thead><tbody>\n",
          f);
    for (int k = 0; k < DUET_RUN_COUNT; k++) {
        const duet_result *r = v->run[k];
        if (!r) continue;
        char line[MAX_FINDINGS][640];
        int n = findings(r, line);
        fprintf(f, "<tr%s><td>%s</td><td>%s</td><td class=\"%s\">%s</td><td class=\"num\">%d</td>"
                   "<td class=\"num\">%.3f</td><td>",
                r->as_expected ? "" : " class=\"unexpected\"", duet_run_name(r->run),
                duet_outcome_name(r->expected), r->as_expected ? "ok" : "bad",
                duet_outcome_name(r->actual), r->traces, r->timing.median_ms);
        for (int i = 0; i < n; i++) {
            fputs("<p class=\"finding\">", f);
            html(f, line[i]);
            fputs("</p>", f);
        }
        fputs("</td></tr>\n", f);
    }
    fputs("</tbody></table>\n", f);
}

static void html_diagnostics(FILE *f, const case_view *v)
{
    for (int k = 0; k < DUET_RUN_COUNT; k++) {
        const duet_result *r = v->run[k], *same = r ? same_diag_before(v, k) : NULL;
        char *text = r ? diagnostic_text(r) : NULL;
        if (!text) continue;
        fprintf(f, "<h3>Diagnostic: %s</h3>\n", duet_run_name(r->run));
        if (same) {
            fprintf(f, "<p>The same as %s's.</p>\n", duet_run_name(same->run));
        } else {
            fputs("<pre>", f);
            html(f, text);
            fputs("</pre>\n", f);
            duet_explanation x = duet_report_explanation(r);
            if (x.why[0] || x.fix[0]) fputs("<div class=\"explain\">", f);
            if (x.why[0]) fputs("<p><b>Why.</b> ", f), html(f, x.why), fputs("</p>", f);
            if (x.fix[0]) fputs("<p><b>Fix.</b> ", f), html(f, x.fix), fputs("</p>", f);
            if (x.why[0] || x.fix[0]) fputs("</div>\n", f);
        }
        free(text);
    }
}

static void html_plots(FILE *f, const case_view *v)
{
    bool any = false;
    for (int k = 0; k < PLOT_COUNT; k++) any |= v->plot[k].wanted || v->plot[k].note[0];
    if (!any) return;
    fputs("<h3>Plots</h3>\n<div class=\"plots\">\n", f);
    for (int k = 0; k < PLOT_COUNT; k++) {
        const plot_state *p = &v->plot[k];
        if (!p->wanted && !p->note[0]) continue;
        fputs("<figure>", f);
        if (p->drawn) {
            fputs("<img src=\"plots/", f);
            html(f, p->stem);
            fputs(".svg\" alt=\"", f);
            html(f, p->caption);
            fputs("\">", f);
        } else {
            fputs("<div class=\"noplot\">", f);
            html(f, p->note);
            fputs("</div>", f);
        }
        fputs("<figcaption>", f);
        html(f, p->caption);
        fputs("</figcaption></figure>\n", f);
    }
    fputs("</div>\n", f);
}

static void html_case(FILE *f, const case_view *v)
{
    fputs("<section id=\"", f);
    html(f, v->name);
    fputs("\">\n<h2>", f);
    html(f, v->name);
    fputs("</h2>\n", f);
    if (v->c) {
        fputs("<p class=\"meta\">", f);
        html(f, v->c->category);
        fputs(" &middot; ", f);
        html(f, v->c->summary);
        fprintf(f, " &middot; %s:%d", v->c->file, v->c->line);
        const char *other = v->c->twin ? v->c->twin : v->c->fixes;
        if (other) {
            fprintf(f, " &middot; %s <a href=\"#", v->c->twin ? "fixed twin" : "fixes");
            html(f, other);
            fputs("\">", f);
            html(f, other);
            fputs("</a>", f);
        }
        fputs("</p>\n", f);
    }
    html_runs(f, v);
    html_diagnostics(f, v);
    html_plots(f, v);
    fputs("</section>\n", f);
}

static int write_html(FILE *f, void *user)
{
    const page *pg = user;
    char settings[512];
    settings_text(pg->s, settings, sizeof settings);
    int unexpected = duet_suite_unexpected(pg->s);
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
               "<title>duet report</title>\n<style>%s</style>\n</head>\n<body>\n"
               "<h1>duet report</h1>\n<p class=\"meta\">",
            css);
    html(f, settings);
    fprintf(f, "</p>\n<p><b>%d runs: %d as expected, <span class=\"%s\">%d unexpected</span></b></p>\n",
            pg->s->n, pg->s->n - unexpected, unexpected ? "bad" : "ok", unexpected);
    html_summary(f, pg);
    for (int i = 0; i < pg->nviews; i++) html_case(f, &pg->views[i]);
    fputs("</body>\n</html>\n", f);
    return 0;
}

/* ---- Markdown ---- */

/* Text in a paragraph or a table cell: markup characters escaped, lines joined. */
static void md(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (strchr("\\`*_[]<>|#", *s)) fputc('\\', f);
        fputc(*s == '\n' ? ' ' : *s, f);
    }
}

/* A fenced block longer than any run of backticks inside it. */
static void md_block(FILE *f, const char *text)
{
    int run = 0, longest = 0;
    for (const char *c = text; *c; c++) {
        run = *c == '`' ? run + 1 : 0;
        if (run > longest) longest = run;
    }
    int fence = longest < 3 ? 3 : longest + 1;
    for (int i = 0; i < fence; i++) fputc('`', f);
    fprintf(f, "\n%s\n", text);
    for (int i = 0; i < fence; i++) fputc('`', f);
    fputs("\n\n", f);
}

static void md_case(FILE *f, const case_view *v)
{
    fputs("## ", f);
    md(f, v->name);
    fputs("\n\n", f);
    if (v->c) {
        md(f, v->c->category);
        fputs(": ", f);
        md(f, v->c->summary);
        fprintf(f, " (%s:%d)\n\n", v->c->file, v->c->line);
    }
    fputs("| run | expected | outcome | traces | median ms per step | what was found |\n"
          "| --- | --- | --- | ---: | ---: | --- |\n",
          f);
    for (int k = 0; k < DUET_RUN_COUNT; k++) {
        const duet_result *r = v->run[k];
        if (!r) continue;
        char line[MAX_FINDINGS][640];
        int n = findings(r, line);
        fprintf(f, "| %s | %s | %s%s | %d | %.3f | ", duet_run_name(r->run),
                duet_outcome_name(r->expected), r->as_expected ? "" : "**UNEXPECTED** ",
                duet_outcome_name(r->actual), r->traces, r->timing.median_ms);
        for (int i = 0; i < n; i++) {
            if (i) fputs("<br>", f);
            md(f, line[i]);
        }
        fputs(" |\n", f);
    }
    fputc('\n', f);
    for (int k = 0; k < DUET_RUN_COUNT; k++) {
        const duet_result *r = v->run[k], *same = r ? same_diag_before(v, k) : NULL;
        char *text = r ? diagnostic_text(r) : NULL;
        if (!text) continue;
        fprintf(f, "### Diagnostic: %s\n\n", duet_run_name(r->run));
        if (same) {
            fprintf(f, "The same as %s's.\n\n", duet_run_name(same->run));
        } else {
            md_block(f, text);
            duet_explanation x = duet_report_explanation(r);
            if (x.why[0]) fputs("**Why.** ", f), md(f, x.why), fputs("\n\n", f);
            if (x.fix[0]) fputs("**Fix.** ", f), md(f, x.fix), fputs("\n\n", f);
        }
        free(text);
    }
    for (int k = 0; k < PLOT_COUNT; k++) {
        const plot_state *p = &v->plot[k];
        if (!p->wanted && !p->note[0]) continue;
        if (p->drawn) {
            fputs("![", f);
            md(f, p->caption);
            fprintf(f, "](plots/%s.png)\n\n", p->stem);
        } else {
            fputs("*", f);
            md(f, p->note);
            fputs("*\n\n", f);
        }
        fputs("*", f);
        md(f, p->caption);
        fputs("*\n\n", f);
    }
}

static int write_md(FILE *f, void *user)
{
    const page *pg = user;
    char settings[512];
    settings_text(pg->s, settings, sizeof settings);
    int unexpected = duet_suite_unexpected(pg->s);
    fputs("# duet report\n\n", f);
    md(f, settings);
    fprintf(f, "\n\n**%d runs: %d as expected, %d unexpected**\n\n", pg->s->n,
            pg->s->n - unexpected, unexpected);
    fputs("| case | run | expected | outcome | as expected | speed ratio (eager/graph) |\n"
          "| --- | --- | --- | --- | --- | ---: |\n",
          f);
    for (int i = 0; i < pg->s->n; i++) {
        const duet_result *r = &pg->s->results[i];
        char speed[64];
        speed_text(r, speed, sizeof speed);
        fputs("| ", f);
        md(f, r->case_name);
        fprintf(f, " | %s | %s | %s | %s | %s |\n", duet_run_name(r->run),
                duet_outcome_name(r->expected), duet_outcome_name(r->actual),
                r->as_expected ? "yes" : "**UNEXPECTED**", speed);
    }
    fputc('\n', f);
    for (int i = 0; i < pg->nviews; i++) md_case(f, &pg->views[i]);
    return 0;
}

/* ---- the report ---- */

/* One view per case, in the suite's order; NULL when out of memory. */
static case_view *case_views(const duet_suite *s, int *n)
{
    case_view *v = calloc((size_t)s->n + 1, sizeof *v);
    *n = 0;
    for (int i = 0; v && i < s->n; i++) {
        const duet_result *r = &s->results[i];
        int k = 0;
        while (k < *n && strcmp(v[k].name, r->case_name)) k++;
        if (k == *n) {
            v[k].name = r->case_name;
            v[k].c = duet_case_find(r->case_name);
            (*n)++;
        }
        v[k].run[r->run] = r;
    }
    for (int k = 0; v && k < *n; k++) {
        build_series(&v[k]);
        plan_plots(&v[k]);
    }
    return v;
}

int duet_write_report(const char *dir, const duet_suite *s, char *err, size_t errlen)
{
    char plots[4096], path[4096];
    snprintf(plots, sizeof plots, "%s/plots", dir);
    if (duet_prepare_output_dir(dir, err, errlen) || duet_prepare_output_dir(plots, err, errlen))
        return -1;
    page pg = {s, NULL, 0};
    if (!(pg.views = case_views(s, &pg.nviews))) {
        snprintf(err, errlen, "%s: out of memory", dir);
        return -1;
    }
    duet_gnuplot g;
    int rc = duet_gnuplot_open(&g, err, errlen);
    for (int i = 0; i < pg.nviews && !rc; i++) draw_plots(&g, plots, &pg.views[i]);
    duet_gnuplot_close(&g);
    snprintf(path, sizeof path, "%s/index.html", dir);
    if (!rc) rc = duet_write_atomic(path, write_html, &pg, err, errlen);
    snprintf(path, sizeof path, "%s/report.md", dir);
    if (!rc) rc = duet_write_atomic(path, write_md, &pg, err, errlen);
    free(pg.views);
    return rc;
}
