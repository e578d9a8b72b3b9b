/* Explaining a case: see explain.h. Every fact comes from running the case: the
 * code lines from the sites its runs report, the values from its steps, the IR from
 * its traces. Only the prose (why, fix_why, frameworks) is written by hand, on the
 * case. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"
#include "report.h"
#include "localise.h"

/* The harness's default tolerances (duet run): the runs explained use them. */
static const duet_run_opts tolerance = {.rtol = 1e-5, .atol = 1e-8};

enum {
    MAX_CASE_ARGS = 16,     /* as the runner: inputs and outputs of a case's function */
    MAX_SOURCES = 256,      /* embedded files, and files looked up on disk */
    MAX_SITES = 1024,       /* distinct op sites a walk keeps */
    MAX_LINT = 256,         /* host reads a walk keeps */
    WALK_STEPS = 16,        /* eager steps shown at most */
    LONG_FUNCTION = 32,     /* a longer function is shown around its line */
    IR_LINES = 24,          /* a longer graph is shown around its sites */
    VALUES_SHOWN = 8,
};

/* ---- embedded sources ---- */

static struct {
    const char *path, *text;
} sources[MAX_SOURCES];
static int nsources;

void duet_source_register(const char *path, const char *text)
{
    if (nsources < MAX_SOURCES) {
        sources[nsources].path = path;
        sources[nsources++].text = text;
    }
}

/* The whole file, or NULL. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    long n;
    if (f && !fseek(f, 0, SEEK_END) && (n = ftell(f)) >= 0 && !fseek(f, 0, SEEK_SET) &&
        (text = malloc((size_t)n + 1))) {
        text[fread(text, 1, (size_t)n, f)] = 0;
    }
    if (f) fclose(f);
    return text;
}

/* A file not embedded (a case built outside duet's tree: its __FILE__ is the path it
 * was compiled as) is read from disk when it is there, as the runner's own user would
 * find it; a miss is remembered too, since walks look files up for every op. Both
 * are kept for the life of the process, as embedded texts are. */
const char *duet_source_text(const char *path)
{
    for (int i = 0; i < nsources; i++)
        if (!strcmp(sources[i].path, path)) return sources[i].text;
    if (nsources == MAX_SOURCES) return NULL;
    char *copy = strdup(path), *text = copy ? read_file(path) : NULL;
    if (!copy) return NULL;
    duet_source_register(copy, text);
    return text;
}

/* A source split into lines, 1-based: line l is start[l] .. start[l + 1] - 1. */
typedef struct source_lines {
    const char *path;
    int n;
    const char **start; /* n + 2 entries */
} source_lines;

static int lines_open(source_lines *s, const char *path)
{
    const char *text = duet_source_text(path);
    memset(s, 0, sizeof *s);
    if (!text) return -1;
    int n = 0;
    for (const char *p = text; *p; p++) n += *p == '\n';
    if (!(s->start = malloc(sizeof *s->start * (size_t)(n + 3)))) return -1;
    s->path = path;
    s->start[1] = text;
    for (const char *p = text; *p; p++)
        if (*p == '\n') s->start[++s->n + 1] = p + 1;
    if (*s->start[s->n + 1]) s->start[++s->n + 1] = text + strlen(text); /* no final newline */
    return 0;
}

static void lines_close(source_lines *s) { free(s->start); }

static int line_len(const source_lines *s, int l)
{
    int len = (int)(s->start[l + 1] - s->start[l]);
    return len > 0 && s->start[l][len - 1] == '\n' ? len - 1 : len;
}

static bool line_is(const source_lines *s, int l, const char *text)
{
    return line_len(s, l) == (int)strlen(text) && !strncmp(s->start[l], text, strlen(text));
}

static bool line_indented(const source_lines *s, int l)
{
    return line_len(s, l) > 0 && (s->start[l][0] == ' ' || s->start[l][0] == '\t');
}

static bool line_is_comment(const source_lines *s, int l)
{
    return line_len(s, l) >= 2 && (!strncmp(s->start[l], "/*", 2) || !strncmp(s->start[l], " *", 2));
}

/* The function around line l, as this tree writes functions: the signature from
 * column 0 (continued on indented lines), "{" and "}" alone on their lines; with the
 * comment right above it. false when l is not inside a function. */
static bool function_span(const source_lines *s, int l, int *first, int *last)
{
    int open = 0, close = 0;
    for (int k = l; k >= 1 && !open; k--) {
        if (line_is(s, k, "}") && k < l) return false;
        if (line_is(s, k, "{")) open = k;
    }
    for (int k = open + 1; open && k <= s->n && !close; k++)
        if (line_is(s, k, "}")) close = k;
    if (!open || !close || close < l) return false;
    int top = open - 1;
    while (top > 1 && line_indented(s, top)) top--;
    while (top > 1 && line_is_comment(s, top - 1)) top--;
    *first = top;
    *last = close;
    return true;
}

/* Whether line l sets a case's teaching metadata (.why, .fix_why, .frameworks): the
 * catalog writes it last in a registration, and explain prints it as prose. */
static bool line_teaches(const source_lines *s, int l)
{
    const char *p = s->start[l], *end = p + line_len(s, l);
    while (p < end && *p == ' ') p++;
    return !strncmp(p, ".why = ", 7) && p + 7 <= end;
}

/* The statement starting on line l up to its balanced closing parenthesis (a DUET_CASE
 * registration), without the teaching metadata that ends it. */
static bool statement_span(const source_lines *s, int l, int *first, int *last)
{
    int depth = 0;
    bool opened = false;
    for (int k = l; k <= s->n; k++) {
        if (k > l && line_teaches(s, k)) {
            *first = l;
            *last = k - 1;
            return true;
        }
        for (int i = 0; i < line_len(s, k); i++) {
            char ch = s->start[k][i];
            if (ch == '(') depth++, opened = true;
            if (ch == ')') depth--;
        }
        if (opened && depth <= 0) {
            *first = l;
            *last = k;
            return true;
        }
    }
    return false;
}

static bool is_ident(char ch)
{
    return ch == '_' || (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* The name a function's signature defines: the identifier before its first '('. */
static void function_name(const source_lines *s, int first, char *name, size_t n)
{
    name[0] = 0;
    int k = first;
    while (k < s->n && line_is_comment(s, k)) k++;
    const char *p = s->start[k], *paren = memchr(p, '(', (size_t)line_len(s, k));
    if (!paren) return;
    const char *b = paren;
    while (b > p && is_ident(b[-1])) b--;
    snprintf(name, n, "%.*s", (int)(paren - b), b);
}

/* Whether lines first..last call name: name, not part of a longer identifier, then '('. */
static bool span_calls(const source_lines *s, int first, int last, const char *name)
{
    size_t n = strlen(name);
    for (int k = first; k <= last && n; k++) {
        const char *p = s->start[k], *end = p + line_len(s, k);
        for (const char *q = p; q + n < end; q++)
            if ((q == p || !is_ident(q[-1])) && !strncmp(q, name, n) && q[n] == '(') return true;
    }
    return false;
}

/* ---- excerpts: spans of source, gathered without repeats ---- */

typedef struct span {
    char file[160];
    int first, last, mark;
} span;

typedef struct span_list {
    int n;
    span at[DUET_EXPLAIN_MAX_EXCERPTS * 4];
} span_list;

static bool span_listed(const span_list *l, const char *file, int first)
{
    for (int i = 0; i < l->n; i++)
        if (l->at[i].first == first && !strcmp(l->at[i].file, file)) return true;
    return false;
}

static void span_add(span_list *l, const char *file, int first, int last, int mark)
{
    if (l->n == (int)(sizeof l->at / sizeof *l->at) || span_listed(l, file, first)) return;
    span *s = &l->at[l->n++];
    snprintf(s->file, sizeof s->file, "%s", file);
    s->first = first;
    s->last = last;
    s->mark = mark;
}

/* The function around (file, line), and the functions of the same file it calls. */
static void add_function_and_helpers(span_list *l, const char *file, int line, int mark)
{
    source_lines s;
    int first, last;
    if (lines_open(&s, file)) return;
    if (function_span(&s, line, &first, &last) && !span_listed(l, file, first)) {
        span_add(l, file, first, last, mark);
        for (int k = 1; k <= s.n; k++) {
            int hf, hl;
            char name[96];
            if (!line_is(&s, k, "{") || !function_span(&s, k, &hf, &hl) || hf == first) continue;
            function_name(&s, hf, name, sizeof name);
            if (span_calls(&s, first, last, name)) span_add(l, file, hf, hl, 0);
        }
    }
    lines_close(&s);
}

static void add_statement(span_list *l, const char *file, int line, int mark)
{
    source_lines s;
    int first, last;
    if (lines_open(&s, file)) return;
    if (statement_span(&s, line, &first, &last)) span_add(l, file, first, last, mark);
    lines_close(&s);
}

static int span_order(const void *a, const void *b)
{
    const span *x = a, *y = b;
    int f = strcmp(x->file, y->file);
    return f ? f : x->first - y->first;
}

/* Copies the spans into excerpts, in file and line order; a long function is cut to
 * the lines around its mark. */
static int excerpts_fill(span_list *l, duet_excerpt *ex, int max)
{
    qsort(l->at, (size_t)l->n, sizeof *l->at, span_order);
    int n = 0;
    for (int i = 0; i < l->n && n < max; i++) {
        span *sp = &l->at[i];
        source_lines s;
        if (lines_open(&s, sp->file)) continue;
        if (sp->mark && sp->last - sp->first >= LONG_FUNCTION) {
            sp->first = sp->mark - LONG_FUNCTION / 2 > sp->first ? sp->mark - LONG_FUNCTION / 2 : sp->first;
            sp->last = sp->first + LONG_FUNCTION - 1 < sp->last ? sp->first + LONG_FUNCTION - 1 : sp->last;
        }
        duet_excerpt *e = &ex[n++];
        memset(e, 0, sizeof *e);
        snprintf(e->file, sizeof e->file, "%s", sp->file);
        e->first = sp->first;
        e->mark = sp->mark;
        size_t used = 0;
        for (int k = sp->first; k <= sp->last && k <= s.n; k++) {
            size_t len = (size_t)line_len(&s, k);
            if (used + len + 2 > sizeof e->text) break; /* whole lines only */
            memcpy(e->text + used, s.start[k], len);
            used += len;
            e->text[used++] = '\n';
            e->last = k;
        }
        e->text[used] = 0;
        lines_close(&s);
    }
    return n;
}

/* ---- values as a reader sees them ---- */

static void shape_text(const duet_tensor *t, char *buf, size_t n)
{
    size_t used = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < t->rank && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (used < n) snprintf(buf + used, n - used, t->rank == 1 ? ",)" : ")");
}

static void value_text(const duet_tensor *t, duet_value_text *v)
{
    char shape[96];
    shape_text(t, shape, sizeof shape);
    int64_t n = duet_numel(t), row = t->rank ? t->shape[t->rank - 1] : 1;
    size_t used = (size_t)snprintf(v->text, sizeof v->text, "%s %s%s", duet_dtype_name(t->dtype),
                                   shape, t->rank >= 2 ? " row 0:" : "");
    if (t->rank) used += (size_t)snprintf(v->text + used, sizeof v->text - used, " [");
    int64_t shown = row < VALUES_SHOWN ? row : VALUES_SHOWN;
    for (int64_t i = 0; i < shown && i < n && used < sizeof v->text; i++) {
        const char *sep = i ? " " : t->rank ? "" : " ";
        if (t->dtype == DUET_F32)
            used += (size_t)snprintf(v->text + used, sizeof v->text - used, "%s%.3g", sep,
                                     (double)duet_get_f32(t, i));
        else if (t->dtype == DUET_I32)
            used += (size_t)snprintf(v->text + used, sizeof v->text - used, "%s%d", sep,
                                     duet_get_i32(t, i));
        else
            used += (size_t)snprintf(v->text + used, sizeof v->text - used, "%s%d", sep,
                                     ((const uint8_t *)t->data)[i] != 0);
    }
    if (t->rank && used < sizeof v->text)
        snprintf(v->text + used, sizeof v->text - used, "%s]", row > shown ? " ..." : "");
}

static const char *read_text(const char *what, double v, char *buf, size_t n)
{
    if (isnan(v)) snprintf(buf, n, "(no single value)");
    else if (!strcmp(what, "DUET_BOOL")) snprintf(buf, n, "%s", v != 0 ? "true" : "false");
    else snprintf(buf, n, "%.6g", v);
    return buf;
}

static void append(char *buf, size_t n, const char *sep, const char *text)
{
    size_t used = strlen(buf);
    if (used + 1 < n) snprintf(buf + used, n - used, "%s%s", used ? sep : "", text);
}

/* ---- walking a case eagerly: views, host reads, op sites ---- */

typedef struct lint_seen {
    int step;
    const char *what; /* static strings: "DUET_BOOL", ... */
    char file[160];
    int line;
    double value;
} lint_seen;

typedef struct site_seen {
    char file[160];
    int line;
} site_seen;

typedef struct walk {
    int steps;
    duet_step_view view[WALK_STEPS];
    int nlint;
    lint_seen lint[MAX_LINT];
    int nsites;
    site_seen sites[MAX_SITES];
} walk;

static void note_site(walk *w, const char *file, int line)
{
    if (!file || !duet_source_text(file)) return; /* only code the reader can be shown */
    for (int i = 0; i < w->nsites; i++)
        if (w->sites[i].line == line && !strcmp(w->sites[i].file, file)) return;
    if (w->nsites == MAX_SITES) return;
    snprintf(w->sites[w->nsites].file, sizeof w->sites[w->nsites].file, "%s", file);
    w->sites[w->nsites++].line = line;
}

static void note_step(duet_session *e, int step, duet_tensor *const *in, duet_tensor *const *out,
                      int lint_from, walk *w)
{
    const duet_case *c = e->c;
    duet_step_view *v = &w->view[step];
    v->step = step;
    v->nin = c->nin < 4 ? c->nin : 4;
    for (int i = 0; i < v->nin; i++) value_text(in[i], &v->in[i]);
    value_text(out[0], &v->out);
    duet_observation obs[DUET_CASE_MAX_OBS];
    int nobs = c->observe ? c->observe(e->state, obs) : 0;
    for (int i = 0; i < nobs; i++) {
        char one[96];
        snprintf(one, sizeof one, "%s = %g", obs[i].name, obs[i].value);
        append(v->observed, sizeof v->observed, ", ", one);
    }
    for (int i = lint_from; i < duet_lint_count(e->ctx) && w->nlint < MAX_LINT; i++) {
        const duet_lint *l = duet_lint_at(e->ctx, i);
        lint_seen *s = &w->lint[w->nlint++];
        s->step = step;
        s->what = l->what;
        snprintf(s->file, sizeof s->file, "%s", l->file);
        s->line = l->line;
        s->value = l->value;
    }
    duet_record *rec = NULL;
    int nrec = 0;
    if (!duet_tape_records(e->ctx, &rec, &nrec))
        for (int i = 0; i < nrec; i++) note_site(w, rec[i].file, rec[i].line);
    free(rec);
}

/* Runs the case eagerly (linted, so host reads and their values are recorded) for up
 * to WALK_STEPS of its steps. 0, or -1 with diag set. */
static int walk_eagerly(const duet_case *c, uint64_t seed, walk *w, duet_diag *diag)
{
    duet_session e;
    memset(w, 0, sizeof *w);
    if (duet_session_open(&e, c, DUET_RUN_EAGER, seed)) {
        if (e.ctx) *diag = *duet_ctx_error(e.ctx), duet_session_close(&e);
        else diag->code = DUET_ERR_OOM;
        return -1;
    }
    int steps = duet_case_steps(c, &(duet_run_opts){0});
    if (steps > WALK_STEPS) steps = WALK_STEPS;
    duet_tensor *in[MAX_CASE_ARGS], *out[MAX_CASE_ARGS];
    int rc = 0;
    for (int s = 0; s < steps && !rc; s++) {
        int lint_from = duet_lint_count(e.ctx);
        c->inputs(e.ctx, e.state, s, seed, in);
        rc = duet_ctx_status(e.ctx) || duet_session_call_linted(&e, in, out);
        if (!rc) note_step(&e, s, in, out, lint_from, w), w->steps = s + 1;
        duet_ctx_reset(e.ctx);
    }
    if (rc) *diag = *duet_ctx_error(e.ctx);
    duet_session_close(&e);
    return rc ? -1 : 0;
}

/* ---- traces as text ---- */

/* The graph as traced (no passes) on step 0's inputs, printed; "" when the trace
 * stopped. The caller frees it. */
static char *traced_text(const duet_case *c, duet_run_kind run, uint64_t seed)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    duet_session s;
    if (!f) return NULL;
    if (!duet_session_open(&s, c, run, seed)) {
        duet_tensor *out[MAX_CASE_ARGS];
        duet_fn_set_passes(s.fn, 0);
        duet_fn_set_dump(s.fn, f, DUET_DUMP_TRACE);
        duet_session_step(&s, 0, seed, out);
    }
    if (s.ctx) duet_session_close(&s);
    fclose(f);
    return text;
}

/* Line i (0-based) of text: its start, and its length without the newline. */
static const char *text_line(const char *text, int i, int *len)
{
    const char *p = text;
    for (; i > 0 && p; i--) p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL;
    if (!p || !*p) return NULL;
    const char *nl = strchr(p, '\n');
    *len = nl ? (int)(nl - p) : (int)strlen(p);
    return p;
}

static bool line_has(const char *line, int len, const char *needle)
{
    size_t n = strlen(needle);
    for (int i = 0; i + (int)n <= len; i++)
        if (!strncmp(line + i, needle, n)) return true;
    return false;
}

static void put_line(char *buf, size_t n, const char *line, int len)
{
    size_t used = strlen(buf);
    if (used + (size_t)len + 2 < n) {
        memcpy(buf + used, line, (size_t)len);
        buf[used + (size_t)len] = '\n';
        buf[used + (size_t)len + 1] = 0;
    }
}

/* Whether a printed node line's site is one of the sites: the printer ends a node's
 * line with its scope and "file:line" (the file's base name). */
static bool line_at_sites(const char *line, int len, const site_seen *sites, int nsites)
{
    for (int i = 0; i < nsites; i++) {
        const char *base = strrchr(sites[i].file, '/');
        char at[200];
        int n = snprintf(at, sizeof at, " %s:%d", base ? base + 1 : sites[i].file, sites[i].line);
        if (len >= n && !strncmp(line + len - n, at, (size_t)n)) return true;
    }
    return false;
}

/* The graph's lambda line, then the nodes at the sites with a node of context on each
 * side (the whole graph when it is short), "    ..." where nodes are left out. */
static void graph_excerpt(const char *dump, const site_seen *sites, int nsites, char *buf, size_t n)
{
    int len, total = 0, hits = 0;
    buf[0] = 0;
    for (const char *l; (l = text_line(dump, total, &len)); total++)
        hits += line_at_sites(l, len, sites, nsites);
    bool whole = total - 1 <= IR_LINES || !hits;
    int skipped = 0;
    for (int i = 1; i < total; i++) { /* line 0: the dump's "# name: after tracing" */
        const char *l = text_line(dump, i, &len);
        int pl = 0, nl = 0;
        const char *prev = text_line(dump, i - 1, &pl), *next = text_line(dump, i + 1, &nl);
        bool keep = whole || i == 1 || i == total - 1 || line_at_sites(l, len, sites, nsites) ||
                    (prev && line_at_sites(prev, pl, sites, nsites)) ||
                    (next && line_at_sites(next, nl, sites, nsites));
        if (whole && i > IR_LINES) keep = i == total - 1;
        if (!keep) {
            skipped++;
            continue;
        }
        if (skipped) put_line(buf, n, "    ...", 7);
        skipped = 0;
        put_line(buf, n, l, len);
    }
}

/* The nodes a host read's trace had when it reached the read: the guard policy traces
 * on, adding a guard node at the read, so the nodes before the first guard are what
 * strict had traced when it stopped. */
static void graph_until_read(const char *dump, const duet_diag *d, char *buf, size_t n)
{
    int len, guard = -1, total = 0;
    buf[0] = 0;
    for (const char *l; (l = text_line(dump, total, &len)); total++)
        if (guard < 0 && line_has(l, len, " = guard ")) guard = total;
    int from = guard > 7 ? guard - 6 : 2, upto = guard > 0 ? guard : 2;
    const char *l = text_line(dump, 1, &len);
    if (l) put_line(buf, n, l, len); /* { lambda <inputs> . let */
    if (from > 2) put_line(buf, n, "    ...", 7);
    for (int i = from; i < upto; i++)
        if ((l = text_line(dump, i, &len))) put_line(buf, n, l, len);
    char operand[16] = "";
    if (guard > 0 && (l = text_line(dump, guard, &len))) {
        const char *p = strstr(l, " = guard ") + strlen(" = guard ");
        sscanf(p, "%15[%0-9]", operand);
    }
    const char *base = strrchr(d->file, '/') ? strrchr(d->file, '/') + 1 : d->file;
    bool input = !d->producer[0] || !strcmp(d->producer, "placeholder");
    char made[96] = "", mark[512];
    if (!input) snprintf(made, sizeof made, " made by %s", d->producer);
    int m = !strcmp(d->op, "DUET_DIM")
                ? snprintf(mark, sizeof mark, "    <- here DUET_DIM (%s:%d) asks C for a size of "
                           "%s, %s%s: it is None until the graph runs", base, d->line,
                           input ? "an input" : "a tensor",
                           d->read_type[0] ? d->read_type : d->shape, made)
                : snprintf(mark, sizeof mark, "    <- here %s (%s:%d) asks C for the value of %s, "
                           "a %s%s: none exists until the graph runs", d->op, base, d->line,
                           operand[0] ? operand : input ? "an input" : "a tensor",
                           d->read_type[0] ? d->read_type : d->shape, made);
    put_line(buf, n, mark, m < (int)sizeof mark ? m : (int)sizeof mark - 1);
}

/* ---- the explanation ---- */

const char *duet_site_kind_name(duet_site_kind k)
{
    static const char *const names[] = {"diagnostic", "lint", "effect", "divergence", "pass", "case"};
    return k <= DUET_SITE_CASE ? names[k] : "?";
}

static void set_site(duet_explanation *x, duet_site_kind kind, const char *file, int line,
                     const char *what)
{
    x->site_kind = kind;
    snprintf(x->site_file, sizeof x->site_file, "%s", file);
    x->site_line = line;
    snprintf(x->site_what, sizeof x->site_what, "%s", what);
}

/* The site the explanation is about, in the order a reader needs it: the diagnostic
 * that stopped the trace, else a host read the lint saw, a host effect, the first op
 * that diverged (within tolerance or bit for bit), else the case's registration. */
static void find_site(duet_explanation *x, const walk *w)
{
    const duet_case *c = x->c;
    const duet_diag *d = &x->run[DUET_RUN_STRICT].diag;
    if (d->code && d->line > 0 && duet_source_text(d->file)) {
        set_site(x, DUET_SITE_DIAGNOSTIC, d->file, d->line, d->op);
        return;
    }
    if (w->nlint) {
        set_site(x, DUET_SITE_LINT, w->lint[0].file, w->lint[0].line, w->lint[0].what);
        return;
    }
    for (int k = DUET_RUN_STRICT; k < DUET_RUN_COUNT; k++) {
        const duet_result *r = &x->run[k];
        if (r->neffects) {
            set_site(x, DUET_SITE_EFFECT, c->file, r->effects[0].line, r->effects[0].name);
            return;
        }
        if (r->op_step >= 0 && duet_source_text(r->op_file)) {
            set_site(x, DUET_SITE_DIVERGENCE, r->op_file, r->op_line, r->op_name);
            return;
        }
    }
    if (x->exact_run && x->exact.op_step >= 0 && duet_source_text(x->exact.op_file))
        set_site(x, DUET_SITE_DIVERGENCE, x->exact.op_file, x->exact.op_line, x->exact.op_name);
    else if (x->exact_run && x->exact.passes_at_fault[0])
        set_site(x, DUET_SITE_PASS, c->file, c->line, x->exact.passes_at_fault);
    else
        set_site(x, DUET_SITE_CASE, c->file, c->line, "");
}

static bool is_site(const duet_explanation *x, const lint_seen *l)
{
    return l->line == x->site_line && !strcmp(l->file, x->site_file);
}

/* Steps A (0, the call graph mode traces) and B: the first step whose host reads at
 * the site differ from A's, else step 1. */
static void pick_steps(duet_explanation *x, walk *w)
{
    char reads[WALK_STEPS][128] = {{0}};
    for (int i = 0; i < w->nlint; i++) {
        const lint_seen *l = &w->lint[i];
        char v[48];
        if (!is_site(x, l) || l->step >= WALK_STEPS) continue;
        append(reads[l->step], sizeof reads[l->step], ", ", read_text(l->what, l->value, v, sizeof v));
    }
    int b = w->steps > 1 ? 1 : 0;
    for (int s = 1; s < w->steps; s++)
        if (strcmp(reads[s], reads[0])) {
            b = s;
            x->reads_differ = true;
            break;
        }
    x->eager[0] = w->view[0];
    x->eager[1] = w->view[b];
    _Static_assert(sizeof reads[0] == sizeof x->eager[0].reads, "a step's reads fit its view");
    memcpy(x->eager[0].reads, reads[0], sizeof reads[0]);
    memcpy(x->eager[1].reads, reads[b], sizeof reads[b]);
}

/* Specialize and eager side by side up to step B: the graph's output there, and how
 * far it is from eager's. */
static void specialize_at(duet_explanation *x, uint64_t seed)
{
    duet_session e, g;
    int b = x->eager[1].step;
    if (duet_session_open(&e, x->c, DUET_RUN_EAGER, seed)) {
        if (e.ctx) duet_session_close(&e);
        return;
    }
    if (duet_session_open(&g, x->c, DUET_RUN_SPECIALIZE, seed)) {
        if (g.ctx) duet_session_close(&g);
        duet_session_close(&e);
        return;
    }
    duet_tensor *eo[MAX_CASE_ARGS], *go[MAX_CASE_ARGS];
    for (int s = 0; s <= b; s++) {
        if (duet_session_step(&e, s, seed, eo) || duet_session_step(&g, s, seed, go)) break;
        if (s == b) {
            duet_compare cmp = {0};
            duet_compare_tensors(go[0], eo[0], tolerance.rtol, tolerance.atol, "", &cmp);
            x->specialize_at_b.step = b;
            value_text(go[0], &x->specialize_at_b.out);
            x->wrong_shown = duet_compare_differs(&cmp);
        }
        duet_ctx_reset(e.ctx);
        duet_ctx_reset(g.ctx);
    }
    duet_session_close(&e);
    duet_session_close(&g);
}

/* The functions whose ops ran in one walk and in no function of the other's. */
static void functions_only_in(span_list *l, const walk *in, const walk *not_in)
{
    span_list other = {0};
    for (int i = 0; i < not_in->nsites; i++)
        add_function_and_helpers(&other, not_in->sites[i].file, not_in->sites[i].line, 0);
    for (int i = 0; i < in->nsites; i++) {
        source_lines s;
        int first, last;
        if (lines_open(&s, in->sites[i].file)) continue;
        bool found = function_span(&s, in->sites[i].line, &first, &last);
        lines_close(&s);
        if (found && !span_listed(&other, in->sites[i].file, first))
            add_function_and_helpers(l, in->sites[i].file, in->sites[i].line, 0);
    }
}

/* The twin's registration, and the function its ".body = name" names when the
 * registration says it (case files keep the body beside the registration). */
static void add_registration_and_body(span_list *l, const duet_case *c)
{
    source_lines s;
    int first, last;
    add_statement(l, c->file, c->line, 0);
    if (lines_open(&s, c->file)) return;
    if (statement_span(&s, c->line, &first, &last)) {
        char name[96] = "";
        for (int k = first; k <= last && !name[0]; k++) {
            const char *p = s.start[k], *b = strstr(p, ".body = ");
            if (b && b < s.start[k + 1]) sscanf(b + strlen(".body = "), "%95[A-Za-z0-9_]", name);
        }
        for (int k = 1; k <= s.n && name[0]; k++) {
            int ff, fl;
            char fn[96];
            if (!line_is(&s, k, "{") || !function_span(&s, k, &ff, &fl)) continue;
            function_name(&s, ff, fn, sizeof fn);
            if (!strcmp(fn, name)) {
                lines_close(&s);
                add_function_and_helpers(l, c->file, k, 0);
                return;
            }
        }
    }
    lines_close(&s);
}

static void explain_code(duet_explanation *x, const walk *buggy, const walk *fixed)
{
    span_list l = {0};
    if (x->site_kind != DUET_SITE_DIAGNOSTIC && x->site_kind != DUET_SITE_LINT &&
        x->site_kind != DUET_SITE_EFFECT)
        add_statement(&l, x->c->file, x->c->line, 0);
    add_function_and_helpers(&l, x->site_file, x->site_line, x->site_line);
    if (!l.n) add_statement(&l, x->site_file, x->site_line, x->site_line); /* a diagnostic at the registration */
    if (x->site_kind != DUET_SITE_CASE && x->twin) functions_only_in(&l, buggy, fixed);
    x->ncode = excerpts_fill(&l, x->code, DUET_EXPLAIN_MAX_EXCERPTS);
    if (!x->twin) return;
    span_list f = {0};
    functions_only_in(&f, fixed, buggy);
    add_registration_and_body(&f, x->twin);
    x->nfix = excerpts_fill(&f, x->fix, DUET_EXPLAIN_MAX_EXCERPTS);
}

static void explain_ir(duet_explanation *x, const walk *buggy, const walk *fixed)
{
    const duet_diag *d = &x->run[DUET_RUN_STRICT].diag;
    x->ir_is_partial = d->code == DUET_ERR_HOST_BRANCH;
    char *seen = traced_text(x->c, x->ir_is_partial ? DUET_RUN_GUARD : DUET_RUN_STRICT, x->seed);
    site_seen site = {.line = x->site_line};
    snprintf(site.file, sizeof site.file, "%s", x->site_file);
    if (seen && x->ir_is_partial) graph_until_read(seen, d, x->ir_seen, sizeof x->ir_seen);
    else if (seen) graph_excerpt(seen, &site, 1, x->ir_seen, sizeof x->ir_seen);
    free(seen);
    if (!x->twin) return;
    /* the twin's nodes shown are those at sites the buggy walk never reached */
    site_seen *only = malloc(sizeof *only * (size_t)(fixed->nsites + 1));
    char *fixed_text = traced_text(x->twin, DUET_RUN_STRICT, x->seed);
    int nonly = 0;
    for (int i = 0; only && i < fixed->nsites; i++) {
        bool shared = false;
        for (int j = 0; j < buggy->nsites && !shared; j++)
            shared = fixed->sites[i].line == buggy->sites[j].line &&
                     !strcmp(fixed->sites[i].file, buggy->sites[j].file);
        if (!shared) only[nonly++] = fixed->sites[i];
    }
    if (only && fixed_text) graph_excerpt(fixed_text, only, nonly, x->ir_fixed, sizeof x->ir_fixed);
    free(fixed_text);
    free(only);
}

int duet_explain_case(const duet_case *asked, const duet_explain_opts *o, duet_explanation *x)
{
    memset(x, 0, sizeof *x);
    x->asked = asked;
    x->c = asked->fixes && duet_case_find(asked->fixes) ? duet_case_find(asked->fixes) : asked;
    x->twin = x->c->twin ? duet_case_find(x->c->twin) : NULL;
    x->seed = o->seed;
    const duet_case *c = x->c;
    duet_run_opts run = tolerance;
    run.seed = o->seed;
    duet_run_opts timed = run;
    timed.steps = o->timing_steps;
    for (int k = 0; k < DUET_RUN_COUNT; k++) duet_run_case(c, (duet_run_kind)k, &run, &x->run[k]);
    bool all_agree = true;
    for (int k = DUET_RUN_STRICT; k < DUET_RUN_COUNT; k++)
        all_agree = all_agree && x->run[k].actual == DUET_OUTCOME_OK;
    if ((x->exact_run = all_agree && x->run[DUET_RUN_STRICT].traces > 0)) {
        duet_run_opts exact = run;
        exact.rtol = exact.atol = 0;
        duet_run_case(c, DUET_RUN_STRICT, &exact, &x->exact);
    }
    const duet_case *fixed_case = x->twin ? x->twin : c;
    for (int k = DUET_RUN_STRICT; k < DUET_RUN_COUNT; k++)
        duet_run_case(fixed_case, (duet_run_kind)k, &timed, &x->fixed[k]);
    duet_run_case(c, DUET_RUN_EAGER, &timed, &x->hatch_eager);

    walk *buggy = malloc(sizeof *buggy), *fixed = malloc(sizeof *fixed);
    int rc = 0;
    if (!buggy || !fixed) {
        duet_diag_set(&x->diag, DUET_ERR_OOM, "out of memory explaining the case");
        rc = -1;
    } else if (walk_eagerly(c, o->seed, buggy, &x->diag) ||
               (x->twin && walk_eagerly(x->twin, o->seed, fixed, &x->diag))) {
        rc = -1;
    } else {
        if (!x->twin) fixed->nsites = 0;
        find_site(x, buggy);
        pick_steps(x, buggy);
        if (x->run[DUET_RUN_SPECIALIZE].steps_run > x->eager[1].step) specialize_at(x, o->seed);
        explain_code(x, buggy, fixed);
        explain_ir(x, buggy, fixed);
    }
    free(buggy);
    free(fixed);
    return rc;
}

/* ---- JSON ---- */

static cJSON *excerpts_json(const duet_excerpt *e, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "file", e[i].file);
        cJSON_AddNumberToObject(o, "first", e[i].first);
        cJSON_AddNumberToObject(o, "last", e[i].last);
        cJSON_AddNumberToObject(o, "mark", e[i].mark);
        cJSON_AddStringToObject(o, "text", e[i].text);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

static cJSON *view_json(const duet_step_view *v)
{
    cJSON *o = cJSON_CreateObject(), *in = cJSON_AddArrayToObject(o, "inputs");
    cJSON_AddNumberToObject(o, "step", v->step);
    for (int i = 0; i < v->nin; i++) cJSON_AddItemToArray(in, cJSON_CreateString(v->in[i].text));
    cJSON_AddStringToObject(o, "reads", v->reads);
    cJSON_AddStringToObject(o, "observed", v->observed);
    cJSON_AddStringToObject(o, "output", v->out.text);
    return o;
}

/* The diagnostic as duet_diag_print writes it; "" for none. */
static void add_text(cJSON *o, const char *key, const char *text)
{
    if (text) cJSON_AddStringToObject(o, key, text);
    else cJSON_AddNullToObject(o, key);
}

cJSON *duet_case_metadata_json(const duet_case *c)
{
    cJSON *o = cJSON_CreateObject();
    add_text(o, "name", c->name);
    add_text(o, "category", c->category);
    add_text(o, "summary", c->summary);
    add_text(o, "twin", c->twin);
    add_text(o, "fixes", c->fixes);
    add_text(o, "file", c->file);
    add_text(o, "why", c->why);
    add_text(o, "fix_why", c->fix_why);
    cJSON *fw = cJSON_AddObjectToObject(o, "frameworks");
    add_text(fw, "tensorflow", c->frameworks.tensorflow);
    add_text(fw, "jax", c->frameworks.jax);
    add_text(fw, "pytorch", c->frameworks.pytorch);
    cJSON *ex = cJSON_AddObjectToObject(o, "expected");
    for (int k = 0; k < DUET_RUN_COUNT; k++) {
        cJSON *run = cJSON_AddObjectToObject(ex, duet_run_name((duet_run_kind)k));
        cJSON_AddStringToObject(run, "outcome", duet_outcome_name(c->expect[k].outcome));
        cJSON_AddNumberToObject(run, "max_traces", c->expect[k].max_traces);
    }
    return o;
}

cJSON *duet_explanation_json(const duet_explanation *x)
{
    cJSON *o = duet_case_metadata_json(x->c);
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "asked", x->asked->name);
    cJSON_AddNumberToObject(o, "seed", (double)x->seed);
    cJSON *code = cJSON_AddObjectToObject(o, "code");
    cJSON_AddStringToObject(code, "site_kind", duet_site_kind_name(x->site_kind));
    cJSON_AddStringToObject(code, "file", x->site_file);
    cJSON_AddNumberToObject(code, "line", x->site_line);
    cJSON_AddStringToObject(code, "what", x->site_what);
    cJSON_AddItemToObject(code, "excerpts", excerpts_json(x->code, x->ncode));
    cJSON *eager = cJSON_AddObjectToObject(o, "eager");
    cJSON_AddBoolToObject(eager, "reads_differ", x->reads_differ);
    cJSON *steps = cJSON_AddArrayToObject(eager, "steps");
    for (int i = 0; i < 2; i++) cJSON_AddItemToArray(steps, view_json(&x->eager[i]));
    cJSON *tracer = cJSON_AddObjectToObject(o, "tracer");
    cJSON_AddStringToObject(tracer, "ir", x->ir_seen);
    cJSON_AddBoolToObject(tracer, "partial", x->ir_is_partial);
    cJSON *runs = cJSON_AddObjectToObject(o, "runs");
    for (int k = 0; k < DUET_RUN_COUNT; k++)
        cJSON_AddItemToObject(runs, duet_run_name((duet_run_kind)k), duet_result_to_json(&x->run[k]));
    if (x->wrong_shown) {
        cJSON *w = cJSON_AddObjectToObject(o, "specialize_wrong_answer");
        cJSON_AddNumberToObject(w, "step", x->specialize_at_b.step);
        cJSON_AddStringToObject(w, "eager", x->eager[1].out.text);
        cJSON_AddStringToObject(w, "graph", x->specialize_at_b.out.text);
    }
    if (x->exact_run) cJSON_AddItemToObject(o, "bit_for_bit", duet_result_to_json(&x->exact));
    cJSON *fix = cJSON_AddObjectToObject(o, "fix");
    add_text(fix, "case", x->twin ? x->twin->name : NULL);
    cJSON_AddItemToObject(fix, "excerpts", excerpts_json(x->fix, x->nfix));
    cJSON_AddStringToObject(fix, "ir", x->ir_fixed);
    cJSON *fixed_runs = cJSON_AddObjectToObject(fix, "runs");
    for (int k = DUET_RUN_STRICT; k < DUET_RUN_COUNT; k++)
        cJSON_AddItemToObject(fixed_runs, duet_run_name((duet_run_kind)k), duet_result_to_json(&x->fixed[k]));
    cJSON *hatch = cJSON_AddObjectToObject(o, "escape_hatch");
    double eager_ms = x->hatch_eager.timing.median_ms, graph_ms = x->fixed[DUET_RUN_STRICT].timing.median_ms;
    cJSON_AddNumberToObject(hatch, "steps", x->hatch_eager.steps_run);
    cJSON_AddNumberToObject(hatch, "eager_ms", eager_ms);
    cJSON_AddNumberToObject(hatch, "graph_ms", graph_ms);
    cJSON_AddNumberToObject(hatch, "ratio", graph_ms > 0 ? eager_ms / graph_ms : 0);
    return o;
}
