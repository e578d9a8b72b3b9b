/* Reads a run's JSON (json.c) back into a duet_suite, for `duet check`, `duet baseline`
 * and `duet merge`. Unknown fields are ignored, so later versions can add some; a
 * missing field or a wrong type stops with one line naming the field. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_codec.h"
#include "report.h"

static const cJSON *get_array(json_in *in, const cJSON *obj, const char *path, const char *name,
                              int max, int *n)
{
    const cJSON *a = json_get(in, obj, path, name, cJSON_Array);
    if (!a) return NULL;
    *n = cJSON_GetArraySize(a);
    if (*n > max) {
        char p[256];
        json_path(p, sizeof p, path, name, 0);
        return json_fail(in, p, "more than %d entries", max);
    }
    return a;
}

/* A per-step series: one number per step run. */
static void get_series(json_in *in, const cJSON *obj, const char *path, const char *name,
                       int steps_run, double *v)
{
    char p[256], item[288];
    json_path(p, sizeof p, path, name, 0);
    int n = 0;
    const cJSON *a = get_array(in, obj, path, name, DUET_MAX_STEPS, &n);
    if (a && n != steps_run) json_fail(in, p, "expected %d entries (steps_run), got %d", steps_run, n);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        if (in->failed) break;
        json_path(item, sizeof item, p, NULL, i);
        json_get_number(in, e, item, &v[i++]);
    }
}

static void get_result(json_in *in, const cJSON *o, const char *path, duet_result *r)
{
    char p[288], item[320];
    memset(r, 0, sizeof *r);
    r->op_step = -1;
    if (!cJSON_IsObject(o)) {
        json_fail(in, path, "expected an object");
        return;
    }
    json_get_fields(in, o, path, duet_json_result_fields, r);
    const cJSON *d = json_get(in, o, path, "diagnostic", cJSON_Object | cJSON_NULL);
    json_path(p, sizeof p, path, "diagnostic", 0);
    if (cJSON_IsObject(d)) json_get_fields(in, d, p, duet_json_diag_fields, &r->diag);
    const cJSON *op = json_get(in, o, path, "divergent_op", cJSON_Object | cJSON_NULL);
    json_path(p, sizeof p, path, "divergent_op", 0);
    if (cJSON_IsObject(op)) json_get_fields(in, op, p, duet_json_op_fields, r);

    int n = 0, i = 0;
    const cJSON *e, *reasons = get_array(in, o, path, "trace_reasons", DUET_MAX_REASONS, &n);
    json_path(p, sizeof p, path, "trace_reasons", 0);
    cJSON_ArrayForEach(e, reasons) {
        json_path(item, sizeof item, p, NULL, i);
        json_get_string(in, e, item, r->reasons[i], sizeof r->reasons[i]);
        i++;
    }
    const cJSON *effects = get_array(in, o, path, "effects", DUET_MAX_EFFECTS, &r->neffects);
    json_path(p, sizeof p, path, "effects", 0);
    i = 0;
    cJSON_ArrayForEach(e, effects) {
        json_path(item, sizeof item, p, NULL, i);
        if (!cJSON_IsObject(e)) json_fail(in, item, "expected an object");
        else json_get_fields(in, e, item, duet_json_effect_fields, &r->effects[i]);
        i++;
    }
    if (!in->failed && (r->steps_run < 0 || r->steps_run > DUET_MAX_STEPS)) {
        json_path(p, sizeof p, path, "steps_run", 0);
        json_fail(in, p, "expected 0..%d", DUET_MAX_STEPS);
    }
    const cJSON *steps = json_get(in, o, path, "per_step", cJSON_Object);
    json_path(p, sizeof p, path, "per_step", 0);
    get_series(in, steps, p, "step_ms", r->steps_run, r->step_ms);
    get_series(in, steps, p, "out0", r->steps_run, r->out0);
    get_series(in, steps, p, "eager_step_ms", r->steps_run, r->eager_step_ms);
    get_series(in, steps, p, "eager_out0", r->steps_run, r->eager_out0);
}

int duet_read_json(const char *path, duet_suite *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    json_in in = {.file = path, .err = err, .errlen = errlen};
    cJSON *doc = json_read_doc(&in, path, DUET_RUN_FORMAT, DUET_JSON_SCHEMA_VERSION);
    if (!doc) return -1;
    json_get_fields(&in, doc, "", duet_json_suite_fields, s);
    const cJSON *results = json_get(&in, doc, "", "results", cJSON_Array);
    duet_result *r = malloc(sizeof *r);
    if (!r) json_fail(&in, "", "out of memory");
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, results) {
        if (in.failed || !r) break;
        char p[32];
        json_path(p, sizeof p, "results", NULL, i++);
        get_result(&in, e, p, r);
        if (!in.failed && duet_suite_add(s, r)) json_fail(&in, p, "out of memory");
    }
    free(r);
    cJSON_Delete(doc);
    if (in.failed) {
        duet_suite_free(s);
        return -1;
    }
    return 0;
}
