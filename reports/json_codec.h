/* The JSON documents duet writes and reads back (a run, a baseline): fields described
 * once, in tables, so the writer and the reader cannot drift apart, and every reading
 * error names the field it is about ("run.json: results[3].timing.median_ms: expected
 * a number"). Internal to reports/. */
#ifndef DUET_JSON_CODEC_H
#define DUET_JSON_CODEC_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* How a struct member is spelled in JSON. */
typedef enum {
    JSON_STRING,  /* char[size] */
    JSON_INT,     /* int */
    JSON_INT64,   /* int64_t */
    JSON_UINT64,  /* uint64_t; exact up to 2^53, as every JSON number */
    JSON_SIZE,    /* size_t */
    JSON_NUMBER,  /* double; NaN and infinities as the strings "nan", "inf", "-inf" */
    JSON_BOOL,    /* bool */
    JSON_OUTCOME, /* duet_outcome, by duet_outcome_name */
    JSON_RUN,     /* duet_run_kind, by duet_run_name */
    JSON_STATUS,  /* duet_status, by duet_status_name */
    JSON_OBJECT,  /* an object whose fields (sub) sit in the same struct, from offset */
} json_type;

typedef struct json_field {
    const char *name;
    json_type type;
    size_t offset, size;
    const struct json_field *sub; /* JSON_OBJECT: its fields */
} json_field;

/* A field of struct T; tables end with JSON_END. */
#define JSON_FIELD(T, member, name, type) {name, type, offsetof(T, member), sizeof(((T *)0)->member), NULL}
#define JSON_SUB(name, offset, sub) {name, JSON_OBJECT, offset, 0, sub}
#define JSON_END {NULL, JSON_STRING, 0, 0, NULL}

/* ---- writing ---- */

/* Builds JSON and remembers whether any allocation failed, so the builder's callers
 * check once at the end. */
typedef struct json_out {
    bool oom;
} json_out;

cJSON *json_number(json_out *w, double v);
/* Adds item to obj (or to an array when name is NULL); an item that is NULL marks oom. */
cJSON *json_add(json_out *w, cJSON *obj, const char *name, cJSON *item);
/* Adds every field of the table, read from base. */
void json_put_fields(json_out *w, cJSON *obj, const json_field *f, const void *base);
/* A new document object starting with its "format" and "schema_version" (what
 * json_read_doc checks); NULL (and oom marked) when out of memory. */
cJSON *json_new_doc(json_out *w, const char *format, int schema_version);
/* Prints doc into path atomically; 0, or -1 with the reason in err. */
int json_write_doc(const char *path, const cJSON *doc, const json_out *w, char *err, size_t errlen);

/* ---- reading ---- */

/* A document being read: the first error is kept, later calls do nothing. */
typedef struct json_in {
    const char *file; /* as given, for messages */
    char *err;
    size_t errlen;
    bool failed;
} json_in;

/* "results[3].timing" from "results[3]" and "timing"; an index when name is NULL. */
void json_path(char *buf, size_t n, const char *parent, const char *name, int index);
/* Records "FILE: PATH: what"; returns NULL so callers can return it. */
const cJSON *json_fail(json_in *in, const char *path, const char *what, ...)
    __attribute__((format(printf, 3, 4)));
/* obj.name, which must exist and be of the given cJSON type (cJSON_Object, cJSON_Array,
 * cJSON_String, ...; cJSON_NULL | cJSON_Object accepts either); NULL after an error. */
const cJSON *json_get(json_in *in, const cJSON *obj, const char *path, const char *name, int types);
/* Reads every field of the table into base; returns !in->failed. */
bool json_get_fields(json_in *in, const cJSON *obj, const char *path, const json_field *f, void *base);
/* A number field's value, accepting the strings "nan", "inf" and "-inf". */
bool json_get_number(json_in *in, const cJSON *v, const char *path, double *out);
bool json_get_string(json_in *in, const cJSON *v, const char *path, char *dst, size_t size);
/* Reads and parses path, and checks its "format" and "schema_version"; the document,
 * or NULL with the error in `in`. */
cJSON *json_read_doc(json_in *in, const char *path, const char *format, int schema_version);

/* ---- the run document (json.c writes it, json_read.c reads it) ---- */

#define DUET_RUN_FORMAT "duet-run"
extern const json_field duet_json_suite_fields[];  /* duet, machine, options: of a duet_suite */
extern const json_field duet_json_result_fields[]; /* a duet_result's plain fields */
extern const json_field duet_json_diag_fields[];   /* "diagnostic": a duet_diag */
extern const json_field duet_json_op_fields[];     /* "divergent_op": of a duet_result */
extern const json_field duet_json_effect_fields[]; /* an "effects" entry: a duet_effect */

#endif
