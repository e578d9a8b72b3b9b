/* CI baselines: `duet baseline save RUN.json -o BASELINE.json` keeps, per (case, run),
 * what must not change and what may move only within a budget; `duet check` compares
 * a new run with it. The file is small and stable (no absolute times), meant to be
 * committed and reviewed like code. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json_codec.h"
#include "report.h"

#define BASELINE_FORMAT "duet-baseline"

#define ROW(member, name, type) JSON_FIELD(duet_baseline_row, member, name, type)
static const json_field row_fields[] = {
    ROW(case_name, "case", JSON_STRING),
    ROW(run, "run", JSON_RUN),
    ROW(outcome, "outcome", JSON_OUTCOME),
    ROW(kind, "kind", JSON_STATUS),
    ROW(file, "file", JSON_STRING),
    ROW(line, "line", JSON_INT),
    ROW(traces, "traces", JSON_INT),
    ROW(max_ulp, "max_ulp", JSON_INT64),
    ROW(compile_steps, "compile_steps", JSON_NUMBER),
    ROW(speedup, "speedup", JSON_NUMBER),
    JSON_END,
};

#define BASE(member, name, type) JSON_FIELD(duet_baseline, member, name, type)
static const json_field duet_fields[] = {
    BASE(version, "version", JSON_STRING),
    BASE(commit, "commit", JSON_STRING),
    JSON_END,
};
static const json_field options_fields[] = {
    BASE(opts.seed, "seed", JSON_UINT64),
    BASE(opts.steps, "steps", JSON_INT),
    BASE(opts.rtol, "rtol", JSON_NUMBER),
    BASE(opts.atol, "atol", JSON_NUMBER),
    JSON_END,
};
static const json_field baseline_fields[] = {
    JSON_SUB("duet", 0, duet_fields),
    JSON_SUB("options", 0, options_fields),
    JSON_END,
};

/* The graph's one-time cost in steady-state calls of the same function in the same
 * process: the machine's speed cancels out. */
static double compile_steps(const duet_timing *t)
{
    double once = t->trace_ms + t->optimise_ms;
    return t->median_ms > 0 && once > 0 ? once / t->median_ms : 0;
}

int duet_baseline_from_suite(const duet_suite *s, duet_baseline *b)
{
    memset(b, 0, sizeof *b);
    b->opts = s->opts;
    memcpy(b->version, s->version, sizeof b->version);
    memcpy(b->commit, s->commit, sizeof b->commit);
    if (!(b->rows = calloc((size_t)s->n + 1, sizeof *b->rows))) return -1;
    for (int i = 0; i < s->n; i++) {
        const duet_result *r = &s->results[i];
        duet_baseline_row *row = &b->rows[b->n++];
        memcpy(row->case_name, r->case_name, sizeof row->case_name);
        row->run = r->run;
        row->outcome = r->actual;
        row->kind = r->diag.code;
        memcpy(row->file, r->diag.file, sizeof row->file);
        row->line = r->diag.line;
        row->traces = r->traces;
        row->max_ulp = r->cmp.max_ulp;
        row->compile_steps = compile_steps(&r->timing);
        row->speedup = r->timing.speedup;
    }
    return 0;
}

void duet_baseline_free(duet_baseline *b)
{
    free(b->rows);
    memset(b, 0, sizeof *b);
}

int duet_write_baseline(const char *path, const duet_baseline *b, char *err, size_t errlen)
{
    json_out w = {0};
    cJSON *doc = json_new_doc(&w, BASELINE_FORMAT, DUET_JSON_SCHEMA_VERSION);
    if (doc) json_put_fields(&w, doc, baseline_fields, b);
    cJSON *rows = json_add(&w, doc, "rows", cJSON_CreateArray());
    for (int i = 0; rows && i < b->n; i++) {
        cJSON *o = json_add(&w, rows, NULL, cJSON_CreateObject());
        if (o) json_put_fields(&w, o, row_fields, &b->rows[i]);
    }
    int rc = json_write_doc(path, doc, &w, err, errlen);
    cJSON_Delete(doc);
    return rc;
}

static int find_row(const duet_baseline *b, int upto, const char *case_name, duet_run_kind run)
{
    for (int i = 0; i < upto; i++)
        if (b->rows[i].run == run && !strcmp(b->rows[i].case_name, case_name)) return i;
    return -1;
}

int duet_read_baseline(const char *path, duet_baseline *b, char *err, size_t errlen)
{
    memset(b, 0, sizeof *b);
    json_in in = {.file = path, .err = err, .errlen = errlen};
    cJSON *doc = json_read_doc(&in, path, BASELINE_FORMAT, DUET_JSON_SCHEMA_VERSION);
    if (!doc) return -1;
    json_get_fields(&in, doc, "", baseline_fields, b);
    const cJSON *rows = json_get(&in, doc, "", "rows", cJSON_Array);
    if (rows && !(b->rows = calloc((size_t)cJSON_GetArraySize(rows) + 1, sizeof *b->rows)))
        json_fail(&in, "", "out of memory");
    const cJSON *o;
    cJSON_ArrayForEach(o, rows) {
        if (in.failed) break;
        char p[32];
        json_path(p, sizeof p, "rows", NULL, b->n);
        duet_baseline_row *row = &b->rows[b->n];
        if (!cJSON_IsObject(o)) json_fail(&in, p, "expected an object");
        else if (json_get_fields(&in, o, p, row_fields, row)) {
            int twin = find_row(b, b->n, row->case_name, row->run);
            if (twin >= 0)
                json_fail(&in, p, "%s %s again (first at rows[%d])", row->case_name,
                          duet_run_name(row->run), twin);
        }
        b->n++;
    }
    cJSON_Delete(doc);
    if (in.failed) {
        duet_baseline_free(b);
        return -1;
    }
    return 0;
}

/* ---- check ---- */

static void site(char *buf, size_t n, duet_status kind, const char *file, int line)
{
    if (kind == DUET_OK) snprintf(buf, n, "no diagnostic");
    else snprintf(buf, n, "%s at %s:%d", duet_status_name(kind), file, line);
}

/* The lines for one (case, run) against its baseline row; how many. */
static int check_row(const duet_baseline_row *base, const duet_result *r, const duet_budget *budget,
                     FILE *out)
{
    int bad = 0;
    const char *run = duet_run_name(r->run);
    if (r->actual != base->outcome) {
        fprintf(out, "%s %s: outcome %s, the baseline's is %s\n", r->case_name, run,
                duet_outcome_name(r->actual), duet_outcome_name(base->outcome));
        bad++;
    }
    if (r->diag.code != base->kind || r->diag.line != base->line || strcmp(r->diag.file, base->file)) {
        char now[256], then[256];
        site(now, sizeof now, r->diag.code, r->diag.file, r->diag.line);
        site(then, sizeof then, base->kind, base->file, base->line);
        fprintf(out, "%s %s: %s, the baseline's is %s\n", r->case_name, run, now, then);
        bad++;
    }
    if (r->traces > base->traces) {
        fprintf(out, "%s %s: %d traces, the baseline's is %d\n", r->case_name, run, r->traces,
                base->traces);
        bad++;
    }
    int64_t ulp_limit = base->max_ulp > budget->ulp ? base->max_ulp : budget->ulp;
    if (r->cmp.max_ulp > ulp_limit) {
        fprintf(out, "%s %s: %lld ULP from eager, over %lld (the baseline's %lld, the budget %lld)\n",
                r->case_name, run, (long long)r->cmp.max_ulp, (long long)ulp_limit,
                (long long)base->max_ulp, (long long)budget->ulp);
        bad++;
    }
    double steps = compile_steps(&r->timing), tol = budget->time_tolerance;
    if (budget->compile_time && steps > 0 && base->compile_steps > 0 &&
        steps > base->compile_steps * tol) {
        fprintf(out, "%s %s: compiling takes %.1f steady steps, over %gx the baseline's %.1f\n",
                r->case_name, run, steps, tol, base->compile_steps);
        bad++;
    }
    /* slower only when even the favourable end of the run's own spread (eager p90 over
     * graph p10) is: steps of a few microseconds vary a lot from run to run */
    if (r->timing.speedup > 0 && base->speedup > 0 && r->timing.speedup_hi * tol < base->speedup) {
        fprintf(out,
                "%s %s: %.2fx eager's speed (%.2fx at the spread's best), under the baseline's "
                "%.2fx by more than %gx\n",
                r->case_name, run, r->timing.speedup, r->timing.speedup_hi, base->speedup, tol);
        bad++;
    }
    return bad;
}

int duet_baseline_check(const duet_baseline *b, const duet_suite *run, const char *run_name,
                        const duet_budget *budget, FILE *out, char *err, size_t errlen)
{
    const char *field = duet_opts_differing(&b->opts, &run->opts);
    if (field) {
        snprintf(err, errlen, "%s: %s differs from the baseline's: the run is not comparable",
                 run_name, field);
        return -1;
    }
    int bad = 0, checked = 0, unknown = 0;
    for (int i = 0; i < run->n; i++)
        unknown += find_row(b, b->n, run->results[i].case_name, run->results[i].run) < 0;
    for (int i = 0; i < b->n; i++) {
        const duet_baseline_row *base = &b->rows[i];
        int k = duet_suite_find(run, base->case_name, base->run);
        if (k >= 0) {
            bad += check_row(base, &run->results[k], budget, out);
            checked++;
        } else if (!run->shard[0]) {
            /* a shard runs some of the cases: the rest are other shards' to check */
            fprintf(out, "%s %s: in the baseline, not in the run\n", base->case_name,
                    duet_run_name(base->run));
            bad++;
        }
    }
    fprintf(out, "%d regression%s in %d runs checked against the baseline", bad, bad == 1 ? "" : "s",
            checked);
    if (unknown)
        fprintf(out, "; %d run%s not in the baseline (not checked)", unknown,
                unknown == 1 ? " is" : "s are");
    fputc('\n', out);
    return bad;
}
