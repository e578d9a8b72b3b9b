/* `duet run --json FILE`: one document per run, every result record in full, so other
 * reports, `duet check`, `duet baseline` and `duet merge` work from the file alone.
 * The fields are described once (the tables below) and read back by json_read.c;
 * docs/report-schema.md says what each means. */
#include <stdio.h>

#include "json_codec.h"
#include "report.h"

#define SUITE(member, name, type) JSON_FIELD(duet_suite, member, name, type)
#define RESULT(member, name, type) JSON_FIELD(duet_result, member, name, type)

static const json_field duet_fields[] = {
    SUITE(version, "version", JSON_STRING),
    SUITE(commit, "commit", JSON_STRING),
    JSON_END,
};
static const json_field machine_fields[] = {
    SUITE(machine, "cpu", JSON_STRING),
    SUITE(threads, "threads", JSON_INT),
    JSON_END,
};
static const json_field options_fields[] = {
    SUITE(opts.seed, "seed", JSON_UINT64),
    SUITE(opts.steps, "steps", JSON_INT),
    SUITE(opts.rtol, "rtol", JSON_NUMBER),
    SUITE(opts.atol, "atol", JSON_NUMBER),
    SUITE(opts.timeout_s, "timeout_s", JSON_NUMBER),
    SUITE(opts.fork, "fork", JSON_BOOL),
    SUITE(shard, "shard", JSON_STRING),
    JSON_END,
};
const json_field duet_json_suite_fields[] = {
    JSON_SUB("duet", 0, duet_fields),
    JSON_SUB("machine", 0, machine_fields),
    JSON_SUB("options", 0, options_fields),
    JSON_END,
};

#define DIAG(member, name, type) JSON_FIELD(duet_diag, member, name, type)
const json_field duet_json_diag_fields[] = {
    DIAG(code, "kind", JSON_STATUS),
    DIAG(message, "message", JSON_STRING),
    DIAG(op, "op", JSON_STRING),
    DIAG(file, "file", JSON_STRING),
    DIAG(line, "line", JSON_INT),
    DIAG(scope, "scope", JSON_STRING),
    DIAG(stack, "stack", JSON_STRING),
    DIAG(layer_args, "layer_args", JSON_STRING),
    DIAG(shape, "shape", JSON_STRING),
    DIAG(read_type, "read_type", JSON_STRING),
    DIAG(producer, "producer", JSON_STRING),
    DIAG(producer_inputs, "producer_inputs", JSON_STRING),
    DIAG(explanation, "explanation", JSON_STRING),
    DIAG(fix, "fix", JSON_STRING),
    JSON_END,
};

#define CMP(member, type) JSON_FIELD(duet_compare, member, #member, type)
static const json_field compare_fields[] = {
    CMP(max_abs, JSON_NUMBER),     CMP(max_rel, JSON_NUMBER),
    CMP(max_ulp, JSON_INT64),      CMP(mismatches, JSON_INT64),
    CMP(nonfinite, JSON_INT64),    CMP(count, JSON_INT64),
    CMP(shape_mismatch, JSON_BOOL), CMP(first, JSON_STRING),
    JSON_END,
};

#define TIMING(member) JSON_FIELD(duet_timing, member, #member, JSON_NUMBER)
static const json_field timing_fields[] = {
    TIMING(trace_ms),   TIMING(optimise_ms),     TIMING(first_ms),
    TIMING(median_ms),  TIMING(p10_ms),          TIMING(p90_ms),
    TIMING(eager_median_ms), TIMING(speedup),    TIMING(speedup_lo),
    TIMING(speedup_hi), TIMING(break_even_calls),
    JSON_END,
};

static const json_field memory_fields[] = {
    RESULT(planned_bytes, "planned_bytes", JSON_SIZE),
    RESULT(unplanned_bytes, "unplanned_bytes", JSON_SIZE),
    JSON_END,
};

const json_field duet_json_op_fields[] = {
    RESULT(op_step, "step", JSON_INT),
    RESULT(op_name, "op", JSON_STRING),
    RESULT(op_file, "file", JSON_STRING),
    RESULT(op_line, "line", JSON_INT),
    RESULT(op_scope, "scope", JSON_STRING),
    JSON_END,
};

#define EFFECT(member, type) JSON_FIELD(duet_effect, member, #member, type)
const json_field duet_json_effect_fields[] = {
    EFFECT(name, JSON_STRING),      EFFECT(line, JSON_INT),
    EFFECT(eager_steps, JSON_INT),  EFFECT(graph_steps, JSON_INT),
    EFFECT(trace_only, JSON_BOOL),
    JSON_END,
};

const json_field duet_json_result_fields[] = {
    RESULT(case_name, "case", JSON_STRING),
    RESULT(case_file, "case_file", JSON_STRING),
    RESULT(run, "run", JSON_RUN),
    RESULT(expected, "expected", JSON_OUTCOME),
    RESULT(actual, "actual", JSON_OUTCOME),
    RESULT(as_expected, "as_expected", JSON_BOOL),
    RESULT(max_traces, "max_traces", JSON_INT),
    RESULT(why, "why", JSON_STRING),
    RESULT(signal, "signal", JSON_INT),
    RESULT(steps, "steps", JSON_INT),
    RESULT(steps_run, "steps_run", JSON_INT),
    RESULT(traces, "traces", JSON_INT),
    RESULT(nwarnings, "warnings", JSON_INT),
    RESULT(warning, "warning", JSON_STRING),
    RESULT(passes_at_fault, "passes_at_fault", JSON_STRING),
    JSON_SUB("comparison", offsetof(duet_result, cmp), compare_fields),
    JSON_SUB("timing", offsetof(duet_result, timing), timing_fields),
    JSON_SUB("memory", 0, memory_fields),
    JSON_END,
};

static void put_series(json_out *w, cJSON *obj, const char *name, const double *v, int n)
{
    cJSON *a = json_add(w, obj, name, cJSON_CreateArray());
    for (int i = 0; a && i < n; i++) json_add(w, a, NULL, json_number(w, v[i]));
}

/* An object built from a table, or null when the record has none. */
static void put_optional(json_out *w, cJSON *obj, const char *name, bool present,
                         const json_field *f, const void *base)
{
    cJSON *o = json_add(w, obj, name, present ? cJSON_CreateObject() : cJSON_CreateNull());
    if (o && present) json_put_fields(w, o, f, base);
}

static void put_result(json_out *w, cJSON *results, const duet_result *r)
{
    cJSON *o = json_add(w, results, NULL, cJSON_CreateObject());
    if (!o) return;
    json_put_fields(w, o, duet_json_result_fields, r);
    put_optional(w, o, "diagnostic", r->diag.code != DUET_OK, duet_json_diag_fields, &r->diag);
    put_optional(w, o, "divergent_op", r->op_step >= 0, duet_json_op_fields, r);
    cJSON *reasons = json_add(w, o, "trace_reasons", cJSON_CreateArray());
    for (int i = 0; reasons && i < r->traces && i < DUET_MAX_REASONS; i++)
        json_add(w, reasons, NULL, cJSON_CreateString(r->reasons[i]));
    cJSON *effects = json_add(w, o, "effects", cJSON_CreateArray());
    for (int i = 0; effects && i < r->neffects; i++) {
        cJSON *e = json_add(w, effects, NULL, cJSON_CreateObject());
        if (e) json_put_fields(w, e, duet_json_effect_fields, &r->effects[i]);
    }
    cJSON *steps = json_add(w, o, "per_step", cJSON_CreateObject());
    if (!steps) return;
    put_series(w, steps, "step_ms", r->step_ms, r->steps_run);
    put_series(w, steps, "out0", r->out0, r->steps_run);
    put_series(w, steps, "eager_step_ms", r->eager_step_ms, r->steps_run);
    put_series(w, steps, "eager_out0", r->eager_out0, r->steps_run);
}

cJSON *duet_result_to_json(const duet_result *r)
{
    json_out w = {0};
    cJSON *holder = cJSON_CreateArray();
    if (holder) put_result(&w, holder, r);
    cJSON *o = holder && !w.oom ? cJSON_DetachItemFromArray(holder, 0) : NULL;
    cJSON_Delete(holder);
    return o;
}

int duet_write_json(const char *path, const duet_suite *s, char *err, size_t errlen)
{
    json_out w = {0};
    cJSON *doc = json_new_doc(&w, DUET_RUN_FORMAT, DUET_JSON_SCHEMA_VERSION);
    if (doc) json_put_fields(&w, doc, duet_json_suite_fields, s);
    /* for readers who want the verdict without walking the results */
    cJSON *summary = json_add(&w, doc, "summary", cJSON_CreateObject());
    int unexpected = duet_suite_unexpected(s);
    json_add(&w, summary, "runs", cJSON_CreateNumber(s->n));
    json_add(&w, summary, "as_expected", cJSON_CreateNumber(s->n - unexpected));
    json_add(&w, summary, "unexpected", cJSON_CreateNumber(unexpected));
    cJSON *results = json_add(&w, doc, "results", cJSON_CreateArray());
    for (int i = 0; results && i < s->n; i++) put_result(&w, results, &s->results[i]);
    int rc = json_write_doc(path, doc, &w, err, errlen);
    cJSON_Delete(doc);
    return rc;
}
