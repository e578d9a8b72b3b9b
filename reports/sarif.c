/* `duet run --sarif FILE`: SARIF 2.1.0, so code-scanning tools annotate the C line
 * behind each graph-vs-eager finding: host reads strict tracing rejected, other trace
 * errors, retrace storms, branches specialize baked into a graph, host effects that
 * ran only while tracing, and the first op where a graph's values part from eager's.
 * One rule per kind of finding. */
#include <stdio.h>
#include <string.h>

#include "json_codec.h"
#include "report.h"

typedef enum {
    RULE_HOST_READ,
    RULE_TRACE_ERROR,
    RULE_LEAKED_TENSOR,
    RULE_RETRACE_STORM,
    RULE_BAKED_BRANCH,
    RULE_TRACE_ONLY_EFFECT,
    RULE_DIVERGENCE,
    RULE_COUNT
} rule_id;

/* Until `duet explain` can give each bug class's explanation, the help is this. */
static const struct {
    const char *id, *level, *summary, *help;
} rules[RULE_COUNT] = {
    [RULE_HOST_READ] = {"host-read", "error",
                        "A host value was asked of a symbolic tensor while tracing",
                        "DUET_BOOL, DUET_ITEM or DUET_DIM on a tensor that has no value while the "
                        "function is traced. Keep the decision in the graph: duet_where for a "
                        "select, duet_cond for two computations, duet_while_loop for a loop."},
    [RULE_TRACE_ERROR] = {"trace-error", "error", "The function could not be traced",
                          "Tracing stopped with a diagnostic (a variable created in the body, "
                          "mismatched duet_cond branches). Create state once, outside the traced "
                          "function, and give both branches the same outputs."},
    [RULE_LEAKED_TENSOR] = {"leaked-tensor", "error",
                            "A symbolic tensor was used outside the trace that made it",
                            "A traced function kept a tensor in C state and it was used after the "
                            "trace. Return it from the function as an output instead."},
    [RULE_RETRACE_STORM] = {"retrace-storm", "error", "The function retraced until its trace limit",
                            "An input shape or a guarded host read keeps changing, so every call "
                            "traces again. Relax the changing dim with duet_fn_relax, or make the "
                            "host read graph-safe."},
    [RULE_BAKED_BRANCH] = {"baked-branch", "warning",
                           "A host branch was baked into the graph (specialize)",
                           "The branch taken on the tracing call's values is compiled in; inputs "
                           "that would take the other branch silently get a wrong result. Select "
                           "in the graph (duet_where, duet_cond) instead of branching in C."},
    [RULE_TRACE_ONLY_EFFECT] = {"trace-only-effect", "warning",
                                "A host side effect ran only while tracing",
                                "C code in a traced body runs once per trace, not once per call. "
                                "Move the effect out of the function, or use an op (duet_print, "
                                "a variable update) that runs on every call."},
    [RULE_DIVERGENCE] = {"divergence", "error",
                         "The graph computes other values than eager mode from this op on",
                         "The first op whose output differs while its inputs agree. A constant "
                         "there is a host value read while tracing and baked in (a captured "
                         "Python-style global, a seed drawn on the host): pass it as an argument "
                         "or keep it in a variable. Otherwise an optimisation pass is at fault "
                         "(named in the message)."},
};

/* An artifact's URI: relative paths stay relative (to the source root, as code
 * scanning reads them), absolute ones become file URIs; other bytes are %-escaped. */
static void file_uri(char *buf, size_t n, const char *path)
{
    size_t k = (size_t)snprintf(buf, n, "%s", path[0] == '/' ? "file://" : "");
    for (const unsigned char *p = (const unsigned char *)path; *p && k + 4 < n; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~/", *p))
            buf[k++] = (char)*p;
        else
            k += (size_t)snprintf(buf + k, n - k, "%%%02X", *p);
    }
    buf[k] = 0;
}

static void add_result(json_out *w, cJSON *results, rule_id rule, const duet_result *r,
                       const char *message, const char *file, int line)
{
    cJSON *o = json_add(w, results, NULL, cJSON_CreateObject());
    if (!o) return;
    json_add(w, o, "ruleId", cJSON_CreateString(rules[rule].id));
    json_add(w, o, "ruleIndex", cJSON_CreateNumber(rule));
    json_add(w, o, "level", cJSON_CreateString(rules[rule].level));
    cJSON *msg = json_add(w, o, "message", cJSON_CreateObject());
    json_add(w, msg, "text", cJSON_CreateString(message));
    if (file[0]) {
        char uri[512];
        file_uri(uri, sizeof uri, file);
        cJSON *loc = json_add(w, json_add(w, o, "locations", cJSON_CreateArray()), NULL,
                              cJSON_CreateObject());
        cJSON *phys = json_add(w, loc, "physicalLocation", cJSON_CreateObject());
        json_add(w, json_add(w, phys, "artifactLocation", cJSON_CreateObject()), "uri",
                 cJSON_CreateString(uri));
        if (line > 0)
            json_add(w, json_add(w, phys, "region", cJSON_CreateObject()), "startLine",
                     cJSON_CreateNumber(line));
    }
    cJSON *props = json_add(w, o, "properties", cJSON_CreateObject());
    json_add(w, props, "case", cJSON_CreateString(r->case_name));
    json_add(w, props, "run", cJSON_CreateString(duet_run_name(r->run)));
    json_add(w, props, "expected", cJSON_CreateString(duet_outcome_name(r->expected)));
    json_add(w, props, "actual", cJSON_CreateString(duet_outcome_name(r->actual)));
    json_add(w, props, "as_expected", cJSON_CreateBool(r->as_expected));
    const duet_case *c = duet_case_find(r->case_name);
    if (c && c->category) json_add(w, props, "category", cJSON_CreateString(c->category));
    if (c && c->summary) json_add(w, props, "summary", cJSON_CreateString(c->summary));
}

/* The site in a specialize warning, "specialize: DUET_BOOL at FILE:LINE in ...":
 * the warning is the record's only trace of it. */
static bool baked_site(const char *warning, char *file, size_t n, int *line)
{
    const char *at = strncmp(warning, "specialize: ", 12) ? NULL : strstr(warning, " at ");
    if (!at) return false;
    at += 4;
    size_t len = strcspn(at, " ");
    const char *colon = at + len;
    while (colon > at && *colon != ':') colon--;
    if (colon == at || colon - at >= (long)n || sscanf(colon + 1, "%d", line) != 1) return false;
    snprintf(file, n, "%.*s", (int)(colon - at), at);
    return true;
}

static void add_findings(json_out *w, cJSON *results, const duet_result *r)
{
    char text[1024], file[160];
    int line;
    const duet_diag *d = &r->diag;
    if (r->actual == DUET_OUTCOME_TRACE_ERROR || r->actual == DUET_OUTCOME_RETRACE_STORM) {
        rule_id rule = d->code == DUET_ERR_HOST_BRANCH      ? RULE_HOST_READ
                       : d->code == DUET_ERR_LEAKED         ? RULE_LEAKED_TENSOR
                       : d->code == DUET_ERR_RETRACE_STORM  ? RULE_RETRACE_STORM
                                                            : RULE_TRACE_ERROR;
        snprintf(text, sizeof text, "%s (%s, %s)", d->message, r->case_name, duet_run_name(r->run));
        add_result(w, results, rule, r, text, d->file, d->line);
    }
    if (r->warning[0] && baked_site(r->warning, file, sizeof file, &line)) {
        snprintf(text, sizeof text, "%s (%s, %s)", r->warning, r->case_name, duet_run_name(r->run));
        add_result(w, results, RULE_BAKED_BRANCH, r, text, file, line);
    }
    if (r->op_step >= 0) {
        snprintf(text, sizeof text,
                 "%s differs from eager mode at step %d while its inputs agree%s%s (%s, %s)",
                 r->op_name, r->op_step,
                 r->passes_at_fault[0] ? "; it agrees without the pass: " : "", r->passes_at_fault,
                 r->case_name, duet_run_name(r->run));
        add_result(w, results, RULE_DIVERGENCE, r, text, r->op_file, r->op_line);
    }
    for (int i = 0; i < r->neffects; i++) {
        const duet_effect *fx = &r->effects[i];
        if (!fx->trace_only) continue;
        snprintf(text, sizeof text,
                 "host effect '%s' ran on %d steps eagerly, on %d in graph mode, only while "
                 "tracing (%s, %s)",
                 fx->name, fx->eager_steps, fx->graph_steps, r->case_name, duet_run_name(r->run));
        add_result(w, results, RULE_TRACE_ONLY_EFFECT, r, text, r->case_file, fx->line);
    }
}

static void add_rules(json_out *w, cJSON *driver)
{
    cJSON *list = json_add(w, driver, "rules", cJSON_CreateArray());
    for (int k = 0; k < RULE_COUNT; k++) {
        cJSON *o = json_add(w, list, NULL, cJSON_CreateObject());
        json_add(w, o, "id", cJSON_CreateString(rules[k].id));
        json_add(w, json_add(w, o, "shortDescription", cJSON_CreateObject()), "text",
                 cJSON_CreateString(rules[k].summary));
        json_add(w, json_add(w, o, "help", cJSON_CreateObject()), "text",
                 cJSON_CreateString(rules[k].help));
        json_add(w, json_add(w, o, "defaultConfiguration", cJSON_CreateObject()), "level",
                 cJSON_CreateString(rules[k].level));
    }
}

int duet_write_sarif(const char *path, const duet_suite *s, char *err, size_t errlen)
{
    json_out w = {0};
    cJSON *doc = cJSON_CreateObject();
    json_add(&w, doc, "$schema", cJSON_CreateString("https://json.schemastore.org/sarif-2.1.0.json"));
    json_add(&w, doc, "version", cJSON_CreateString("2.1.0"));
    cJSON *run = json_add(&w, json_add(&w, doc, "runs", cJSON_CreateArray()), NULL, cJSON_CreateObject());
    cJSON *driver = json_add(&w, json_add(&w, run, "tool", cJSON_CreateObject()), "driver",
                             cJSON_CreateObject());
    json_add(&w, driver, "name", cJSON_CreateString("duet"));
    json_add(&w, driver, "version", cJSON_CreateString(s->version));
    add_rules(&w, driver);
    cJSON *results = json_add(&w, run, "results", cJSON_CreateArray());
    for (int i = 0; results && i < s->n; i++) add_findings(&w, results, &s->results[i]);
    int rc = json_write_doc(path, doc, &w, err, errlen);
    cJSON_Delete(doc);
    return rc;
}
