/* Table-driven JSON for duet's documents: one description of each record serves the
 * writer and the reader. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "json_codec.h"
#include "report.h"

/* ---- writing ---- */

cJSON *json_number(json_out *w, double v)
{
    /* cJSON prints NaN and infinities as null, which would read back as a hole:
     * spell them as strings (docs/report-schema.md) */
    cJSON *item = isfinite(v) ? cJSON_CreateNumber(v)
                              : cJSON_CreateString(isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
    if (!item) w->oom = true;
    return item;
}

cJSON *json_add(json_out *w, cJSON *obj, const char *name, cJSON *item)
{
    bool ok = item && (name ? cJSON_AddItemToObject(obj, name, item) : cJSON_AddItemToArray(obj, item));
    if (!ok) {
        w->oom = true;
        cJSON_Delete(item);
        return NULL;
    }
    return item;
}

static cJSON *field_value(json_out *w, const json_field *f, const void *base)
{
    const char *p = (const char *)base + f->offset;
    switch (f->type) {
    case JSON_STRING: return cJSON_CreateString(p);
    case JSON_INT: return cJSON_CreateNumber(*(const int *)p);
    case JSON_INT64: return cJSON_CreateNumber((double)*(const int64_t *)p);
    case JSON_UINT64: return cJSON_CreateNumber((double)*(const uint64_t *)p);
    case JSON_SIZE: return cJSON_CreateNumber((double)*(const size_t *)p);
    case JSON_NUMBER: return json_number(w, *(const double *)p);
    case JSON_BOOL: return cJSON_CreateBool(*(const bool *)p);
    case JSON_OUTCOME: return cJSON_CreateString(duet_outcome_name(*(const duet_outcome *)p));
    case JSON_RUN: return cJSON_CreateString(duet_run_name(*(const duet_run_kind *)p));
    case JSON_STATUS: return cJSON_CreateString(duet_status_name(*(const duet_status *)p));
    case JSON_OBJECT: {
        cJSON *o = cJSON_CreateObject();
        if (o) json_put_fields(w, o, f->sub, p);
        return o;
    }
    }
    return NULL;
}

void json_put_fields(json_out *w, cJSON *obj, const json_field *f, const void *base)
{
    for (; f->name; f++) json_add(w, obj, f->name, field_value(w, f, base));
}

cJSON *json_new_doc(json_out *w, const char *format, int schema_version)
{
    cJSON *doc = cJSON_CreateObject();
    json_add(w, doc, "format", cJSON_CreateString(format));
    json_add(w, doc, "schema_version", cJSON_CreateNumber(schema_version));
    return doc;
}

static int put_text(FILE *f, void *text) { return fputs(text, f) < 0 || fputc('\n', f) < 0; }

int json_write_doc(const char *path, const cJSON *doc, const json_out *w, char *err, size_t errlen)
{
    char *text = w->oom ? NULL : cJSON_Print(doc);
    if (!text) {
        snprintf(err, errlen, "%s: out of memory building the document", path);
        return -1;
    }
    int rc = duet_write_atomic(path, put_text, text, err, errlen);
    cJSON_free(text);
    return rc;
}

/* ---- reading ---- */

void json_path(char *buf, size_t n, const char *parent, const char *name, int index)
{
    if (!name) snprintf(buf, n, "%s[%d]", parent, index);
    else snprintf(buf, n, "%s%s%s", parent, parent[0] ? "." : "", name);
}

const cJSON *json_fail(json_in *in, const char *path, const char *what, ...)
{
    if (in->failed) return NULL;
    in->failed = true;
    char msg[256], shown[1024];
    va_list ap;
    va_start(ap, what);
    vsnprintf(msg, sizeof msg, what, ap);
    va_end(ap);
    /* msg may quote the document's own strings: escaped, the error stays one line */
    snprintf(in->err, in->errlen, "%s: %s%s%s", in->file, path, path[0] ? ": " : "",
             duet_escape(msg, sizeof msg, shown, sizeof shown));
    return NULL;
}

static const char *type_text(int types)
{
    switch (types) {
    case cJSON_Object: return "an object";
    case cJSON_Object | cJSON_NULL: return "an object or null";
    case cJSON_Array: return "an array";
    case cJSON_String: return "a string";
    case cJSON_Number: return "a number";
    case cJSON_True | cJSON_False: return "true or false";
    default: return "another type";
    }
}

const cJSON *json_get(json_in *in, const cJSON *obj, const char *path, const char *name, int types)
{
    if (in->failed) return NULL;
    char p[256];
    json_path(p, sizeof p, path, name, 0);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v) return json_fail(in, p, "missing");
    if (!(v->type & 0xff & types)) return json_fail(in, p, "expected %s", type_text(types));
    return v;
}

bool json_get_number(json_in *in, const cJSON *v, const char *path, double *out)
{
    if (cJSON_IsNumber(v)) return *out = v->valuedouble, true;
    static const struct { const char *text; double value; } special[] = {
        {"nan", NAN}, {"inf", INFINITY}, {"-inf", -INFINITY}};
    for (size_t i = 0; cJSON_IsString(v) && i < sizeof special / sizeof *special; i++)
        if (!strcmp(v->valuestring, special[i].text)) return *out = special[i].value, true;
    json_fail(in, path, "expected a number");
    return false;
}

bool json_get_string(json_in *in, const cJSON *v, const char *path, char *dst, size_t size)
{
    if (!cJSON_IsString(v)) return json_fail(in, path, "expected a string"), false;
    if (strlen(v->valuestring) >= size)
        return json_fail(in, path, "longer than %zu bytes", size - 1), false;
    memcpy(dst, v->valuestring, strlen(v->valuestring) + 1);
    return true;
}

static bool get_integer(json_in *in, const cJSON *v, const char *path, double lo, double hi,
                        double *out)
{
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return json_fail(in, path, "expected an integer"), false;
    if (v->valuedouble < lo || v->valuedouble > hi)
        return json_fail(in, path, "out of range: %.17g", v->valuedouble), false;
    *out = v->valuedouble;
    return true;
}

/* An enum spelled by its name: the index whose name(index) is the string. */
static bool get_name(json_in *in, const cJSON *v, const char *path, int count,
                     const char *(*name)(int), int *out)
{
    if (!cJSON_IsString(v)) return json_fail(in, path, "expected a string"), false;
    for (int k = 0; k < count; k++)
        if (!strcmp(name(k), v->valuestring)) return *out = k, true;
    return json_fail(in, path, "unknown value \"%s\"", v->valuestring), false;
}

static const char *outcome_name(int k) { return duet_outcome_name((duet_outcome)k); }
static const char *run_name(int k) { return duet_run_name((duet_run_kind)k); }
static const char *status_name(int k) { return duet_status_name((duet_status)k); }

static bool get_field(json_in *in, const cJSON *v, const char *path, const json_field *f, void *base)
{
    char *p = (char *)base + f->offset;
    double d;
    int k;
    switch (f->type) {
    case JSON_STRING: return json_get_string(in, v, path, p, f->size);
    case JSON_INT:
        if (!get_integer(in, v, path, INT32_MIN, INT32_MAX, &d)) return false;
        return *(int *)p = (int)d, true;
    case JSON_INT64:
        /* integers beyond 2^53 do not survive a double: none of ours get there */
        if (!get_integer(in, v, path, -0x1p53, 0x1p53, &d)) return false;
        return *(int64_t *)p = (int64_t)d, true;
    case JSON_UINT64:
        /* the largest double below 2^64: converting 2^64 itself would overflow */
        if (!get_integer(in, v, path, 0, 0x1.fffffffffffffp63, &d)) return false;
        return *(uint64_t *)p = (uint64_t)d, true;
    case JSON_SIZE:
        if (!get_integer(in, v, path, 0, 0x1p53, &d)) return false;
        return *(size_t *)p = (size_t)d, true;
    case JSON_NUMBER: return json_get_number(in, v, path, (double *)p);
    case JSON_BOOL:
        if (!cJSON_IsBool(v)) return json_fail(in, path, "expected true or false"), false;
        return *(bool *)p = cJSON_IsTrue(v), true;
    case JSON_OUTCOME:
        if (!get_name(in, v, path, DUET_OUTCOME_COUNT, outcome_name, &k)) return false;
        return *(duet_outcome *)p = (duet_outcome)k, true;
    case JSON_RUN:
        if (!get_name(in, v, path, DUET_RUN_COUNT, run_name, &k)) return false;
        return *(duet_run_kind *)p = (duet_run_kind)k, true;
    case JSON_STATUS:
        if (!get_name(in, v, path, DUET_ERR_INTERNAL + 1, status_name, &k)) return false;
        return *(duet_status *)p = (duet_status)k, true;
    case JSON_OBJECT:
        if (!cJSON_IsObject(v)) return json_fail(in, path, "expected an object"), false;
        return json_get_fields(in, v, path, f->sub, p);
    }
    return false;
}

bool json_get_fields(json_in *in, const cJSON *obj, const char *path, const json_field *f, void *base)
{
    for (; f->name && !in->failed; f++) {
        char p[256];
        json_path(p, sizeof p, path, f->name, 0);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, f->name);
        if (!v) json_fail(in, p, "missing");
        else get_field(in, v, p, f, base);
    }
    return !in->failed;
}

static char *slurp(json_in *in, const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return json_fail(in, "", "cannot open: %s", strerror(errno)), NULL;
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len == cap) {
            char *b = realloc(buf, cap = cap ? 2 * cap : 1 << 16);
            if (!b) {
                free(buf), fclose(f);
                return json_fail(in, "", "out of memory"), NULL;
            }
            buf = b;
        }
        size_t got = fread(buf + *len, 1, cap - *len, f);
        *len += got;
        if (got == 0) break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return json_fail(in, "", "read error"), NULL;
    }
    return buf;
}

cJSON *json_read_doc(json_in *in, const char *path, const char *format, int schema_version)
{
    size_t len;
    char *text = slurp(in, path, &len);
    if (!text) return NULL;
    cJSON *doc = cJSON_ParseWithLength(text, len);
    if (!doc) {
        /* where parsing stopped, as file:line:column */
        const char *at = cJSON_GetErrorPtr();
        int line = 1, col = 1;
        for (const char *c = text; at && c < at && c < text + len; c++) {
            if (*c == '\n') line++, col = 1;
            else col++;
        }
        snprintf(in->err, in->errlen, "%s:%d:%d: not valid JSON", path, line, col);
        in->failed = true;
        free(text);
        return NULL;
    }
    free(text);
    if (!cJSON_IsObject(doc)) {
        json_fail(in, "", "expected a JSON object");
    } else {
        const cJSON *fmt = json_get(in, doc, "", "format", cJSON_String);
        if (fmt && strcmp(fmt->valuestring, format))
            json_fail(in, "format", "expected \"%s\", got \"%s\"", format, fmt->valuestring);
        const cJSON *v = json_get(in, doc, "", "schema_version", cJSON_Number);
        if (v && v->valuedouble != schema_version)
            json_fail(in, "schema_version", "expected %d, got %.17g", schema_version, v->valuedouble);
    }
    if (in->failed) {
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}
