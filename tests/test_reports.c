/* Reports for machines and CI: the run's JSON read back and written again unchanged,
 * JUnit and SARIF valid against their schemas, baselines and check with planted
 * regressions, shards merged into the whole run, malformed input as one line naming
 * the field, and outputs that are whole or absent. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "duet/case.h"
#include "report.h"
#include "testutil.h"

static char out[1 << 16];
static char dir[] = "/tmp/duet_reports_XXXXXX";

/* stdout and stderr together */
static int duet(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int duet(const char *fmt, ...)
{
    char args[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return tu_run_duet(args, "2>&1", out, sizeof out);
}

static const char *in_dir(const char *name)
{
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", dir, name);
    return p;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char *text;
    free(text);
    text = calloc(1, 1 << 22);
    size_t n = fread(text, 1, (1 << 22) - 1, f);
    text[n] = 0;
    fclose(f);
    return text;
}

static cJSON *load(const char *path)
{
    cJSON *doc = cJSON_Parse(read_text(path));
    assert_non_null(doc);
    return doc;
}

static void save(const char *path, const cJSON *doc)
{
    char *text = cJSON_Print(doc);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(text);
}

/* The row of a run document or a baseline for (case, run). */
static cJSON *row(cJSON *doc, const char *list, const char *case_name, const char *run)
{
    cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(doc, list))
        if (!strcmp(cJSON_GetObjectItem(r, "case")->valuestring, case_name) &&
            !strcmp(cJSON_GetObjectItem(r, "run")->valuestring, run))
            return r;
    fail_msg("no row %s %s", case_name, run);
    return NULL;
}

/* One whole run of the catalog, and its baseline, for every test; short runs (3
 * steps) keep the suite quick, and every case still runs in every mode and policy. */
static int setup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(dir));
    if (duet("run --all --steps 3 --json %s --junit %s --sarif %s", in_dir("run.json"),
             in_dir("run.xml"), in_dir("run.sarif")) > 1)
        fail_msg("duet run: %s", out);
    if (duet("baseline save %s -o %s", in_dir("run.json"), in_dir("base.json")))
        fail_msg("duet baseline save: %s", out);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

/* ---- JSON ---- */

static void test_json_round_trip(void **state)
{
    (void)state;
    duet_suite s;
    char err[512];
    assert_int_equal(duet_read_json(in_dir("run.json"), &s, err, sizeof err), 0);
    assert_true(s.n >= 4 * 25);
    assert_int_equal(s.opts.steps, 3);
    assert_int_equal(s.opts.seed, 42);
    /* every field survives: writing what was read gives the same bytes */
    assert_int_equal(duet_write_json(in_dir("again.json"), &s, err, sizeof err), 0);
    char *first = strdup(read_text(in_dir("run.json")));
    assert_string_equal(read_text(in_dir("again.json")), first);
    free(first);
    /* the seed bug's diagnostic, as the run found it */
    int k = duet_suite_find(&s, "ner-buggy-softmax", DUET_RUN_STRICT);
    assert_true(k >= 0);
    const duet_result *r = &s.results[k];
    assert_int_equal(r->actual, DUET_OUTCOME_TRACE_ERROR);
    assert_int_equal(r->diag.code, DUET_ERR_HOST_BRANCH);
    assert_string_equal(r->diag.file, "cases/ner/model.c");
    assert_string_equal(r->diag.scope, "ner_model/transformer_block/multi_head_attention/softmax");
    assert_string_equal(r->diag.producer, "any");
    assert_non_null(strstr(r->diag.stack, "(Softmax.call)"));
    /* a divergence keeps its first divergent op and the per-step series */
    k = duet_suite_find(&s, "stale-capture", DUET_RUN_STRICT);
    r = &s.results[k];
    assert_int_equal(r->actual, DUET_OUTCOME_DIVERGENCE);
    assert_true(r->op_step >= 0);
    assert_string_equal(r->op_name, "constant");
    assert_int_equal(r->steps_run, 3);
    assert_true(r->out0[1] != r->eager_out0[1]);
    duet_suite_free(&s);
}

/* cJSON prints NaN and infinities as null; ours come back as they were. */
static void test_json_nonfinite(void **state)
{
    (void)state;
    duet_run_opts o = {.seed = 1, .rtol = 1e-5, .atol = 0};
    duet_suite s, back;
    duet_suite_init(&s, &o, "");
    duet_result *r = calloc(1, sizeof *r);
    snprintf(r->case_name, sizeof r->case_name, "nonfinite");
    r->run = DUET_RUN_GUARD;
    r->op_step = -1;
    r->steps_run = 3;
    r->out0[0] = NAN, r->out0[1] = INFINITY, r->out0[2] = -INFINITY;
    r->cmp.max_rel = INFINITY;
    r->timing.break_even_calls = -1;
    assert_int_equal(duet_suite_add(&s, r), 0);
    char err[512];
    assert_int_equal(duet_write_json(in_dir("nonfinite.json"), &s, err, sizeof err), 0);
    assert_non_null(strstr(read_text(in_dir("nonfinite.json")), "[\"nan\", \"inf\", \"-inf\"]"));
    assert_int_equal(duet_read_json(in_dir("nonfinite.json"), &back, err, sizeof err), 0);
    assert_int_equal(back.n, 1);
    assert_true(isnan(back.results[0].out0[0]));
    assert_true(isinf(back.results[0].out0[1]) && back.results[0].out0[1] > 0);
    assert_true(isinf(back.results[0].out0[2]) && back.results[0].out0[2] < 0);
    assert_true(isinf(back.results[0].cmp.max_rel));
    assert_true(back.results[0].timing.break_even_calls == -1);
    assert_int_equal(back.results[0].op_step, -1);
    duet_suite_free(&back);
    duet_suite_free(&s);
    free(r);
}

/* Writes a copy of run.json changed by edit, and expects every command reading it to
 * stop with exit 2 and one line: "FILE: what". */
static void expect_bad_run(const char *name, void (*edit)(cJSON *doc), const char *what)
{
    cJSON *doc = load(in_dir("run.json"));
    edit(doc);
    save(in_dir(name), doc);
    cJSON_Delete(doc);
    char expect[1024];
    snprintf(expect, sizeof expect, "%s: %s\n", in_dir(name), what);
    const char *cmds[] = {"check --baseline %s %s", "baseline save %2$s -o %1$s.new",
                          "merge %2$s -o %1$s.new"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        int rc = duet(cmds[i], in_dir("base.json"), in_dir(name));
        if (rc != 2 || tu_lines(out) != 1 || !strstr(out, expect))
            fail_msg("%s: exit %d, expected 2 and '%s', got: %s", cmds[i], rc, expect, out);
    }
}

static void version_2(cJSON *doc) { cJSON_SetNumberValue(cJSON_GetObjectItem(doc, "schema_version"), 2); }
static cJSON *timing3(cJSON *doc)
{
    return cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "results"), 3), "timing");
}
static void median_missing(cJSON *doc) { cJSON_DeleteItemFromObject(timing3(doc), "median_ms"); }
static void median_text(cJSON *doc)
{
    cJSON_ReplaceItemInObject(timing3(doc), "median_ms", cJSON_CreateString("fast"));
}
static void outcome_unknown(cJSON *doc)
{
    cJSON_ReplaceItemInObject(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "results"), 0), "actual",
                              cJSON_CreateString("fine"));
}
static void series_short(cJSON *doc)
{
    cJSON *steps = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "results"), 0),
                                       "per_step");
    cJSON_DeleteItemFromArray(cJSON_GetObjectItem(steps, "out0"), 0);
}
static void diag_number(cJSON *doc)
{
    cJSON_ReplaceItemInObject(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "results"), 2),
                              "diagnostic", cJSON_CreateNumber(5));
}

static void test_json_malformed(void **state)
{
    (void)state;
    expect_bad_run("v2.json", version_2, "schema_version: expected 1, got 2");
    expect_bad_run("missing.json", median_missing, "results[3].timing.median_ms: missing");
    expect_bad_run("text.json", median_text, "results[3].timing.median_ms: expected a number");
    expect_bad_run("outcome.json", outcome_unknown, "results[0].actual: unknown value \"fine\"");
    expect_bad_run("short.json", series_short,
                   "results[0].per_step.out0: expected 3 entries (steps_run), got 2");
    expect_bad_run("diag.json", diag_number, "results[2].diagnostic: expected an object or null");
    /* bad syntax: where parsing stopped */
    FILE *f = fopen(in_dir("syntax.json"), "w");
    fputs("{\n  \"format\": \"duet-run\",\n  \"schema_version\": 1,,\n}\n", f);
    fclose(f);
    assert_int_equal(duet("check --baseline %s %s", in_dir("base.json"), in_dir("syntax.json")), 2);
    assert_int_equal(tu_lines(out), 1);
    assert_non_null(strstr(out, "syntax.json:3:24: not valid JSON"));
    /* a baseline is not a run */
    assert_int_equal(duet("check --baseline %s %s", in_dir("base.json"), in_dir("base.json")), 2);
    assert_non_null(strstr(out, "base.json: format: expected \"duet-run\", got \"duet-baseline\""));
    assert_int_equal(duet("check --baseline %s %s", in_dir("nothing.json"), in_dir("run.json")), 2);
    assert_non_null(strstr(out, "nothing.json: cannot open: No such file or directory"));
}

/* Fields a later version adds are ignored. */
static void test_json_unknown_fields(void **state)
{
    (void)state;
    cJSON *doc = load(in_dir("run.json"));
    cJSON_AddStringToObject(doc, "produced_by", "a later duet");
    cJSON_AddNumberToObject(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "results"), 0), "energy_j", 3);
    save(in_dir("later.json"), doc);
    cJSON_Delete(doc);
    assert_int_equal(duet("check --baseline %s %s", in_dir("base.json"), in_dir("later.json")), 0);
}

/* Every field the documents have is in docs/report-schema.md. */
static void documented(const cJSON *o, const char *schema, const char *doc)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, o) {
        if (c->string) {
            char name[128];
            snprintf(name, sizeof name, "`%s`", c->string);
            if (!strstr(schema, name)) fail_msg("%s: field %s is not in docs/report-schema.md", doc, name);
        }
        documented(c, schema, doc);
    }
}

static void test_schema_documented(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/docs/report-schema.md", getenv("DUET_SOURCE_DIR"));
    char *schema = strdup(read_text(path));
    const char *docs[] = {"run.json", "base.json"};
    for (int i = 0; i < 2; i++) {
        cJSON *doc = load(in_dir(docs[i]));
        documented(doc, schema, docs[i]);
        cJSON_Delete(doc);
    }
    free(schema);
}

/* ---- JUnit and SARIF against their schemas ---- */

/* The shared schemas directory, or NULL. */
static const char *schemas(void)
{
    static char path[1024];
    const char *data = getenv("DUET_SHARED_DATA"), *src = getenv("DUET_SOURCE_DIR");
    if (data) snprintf(path, sizeof path, "%s/../schemas", data);
    if (data && !access(path, R_OK)) return path;
    if (src) snprintf(path, sizeof path, "%s/../shared/schemas", src);
    if (src && !access(path, R_OK)) return path;
    return NULL;
}

/* Runs a validator quietly; on failure again, to show why. */
static void validate(const char *cmd)
{
    char quiet[2200];
    snprintf(quiet, sizeof quiet, "%s >/dev/null 2>&1", cmd);
    if (system(quiet) && system(cmd)) fail_msg("not valid: %s", cmd);
}

static void test_junit_valid(void **state)
{
    (void)state;
    const char *dirpath = schemas();
    if (!dirpath) TU_SKIP("no shared/schemas (DUET_SHARED_DATA/../schemas or ../shared/schemas)");
    if (system("xmllint --version >/dev/null 2>&1")) TU_SKIP("xmllint is missing (Debian libxml2-utils)");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "xmllint --noout --schema %s/JUnit.xsd %s", dirpath, in_dir("run.xml"));
    validate(cmd);
    cJSON *run = load(in_dir("run.json"));
    char failures[64];
    snprintf(failures, sizeof failures, " failures=\"%d\" errors=\"0\"",
             cJSON_GetObjectItem(cJSON_GetObjectItem(run, "summary"), "unexpected")->valueint);
    cJSON_Delete(run);
    const char *xml = read_text(in_dir("run.xml"));
    assert_non_null(strstr(xml, "<testcase classname=\"ner-buggy-softmax\" name=\"strict\" time=\""));
    assert_non_null(strstr(xml, failures));
}

/* A failing run's testcase: the why as the message, the diagnostic as the text, and
 * characters XML cannot hold made safe. */
static void test_junit_failure(void **state)
{
    (void)state;
    duet_run_opts o = {.seed = 42};
    duet_suite s;
    duet_suite_init(&s, &o, "");
    duet_result *r = calloc(1, sizeof *r);
    snprintf(r->case_name, sizeof r->case_name, "a<b>&\"c\"");
    r->run = DUET_RUN_STRICT;
    r->op_step = -1;
    r->actual = DUET_OUTCOME_TRACE_ERROR;
    snprintf(r->why, sizeof r->why, "expected ok, got trace-error: \x01 bad\xff byte\nnext");
    r->diag.code = DUET_ERR_HOST_BRANCH;
    snprintf(r->diag.message, sizeof r->diag.message, "DUET_BOOL of x < 0 ]]> here");
    snprintf(r->diag.file, sizeof r->diag.file, "cases/x.c");
    r->diag.line = 7;
    assert_int_equal(duet_suite_add(&s, r), 0);
    char err[512];
    assert_int_equal(duet_write_junit(in_dir("fail.xml"), &s, err, sizeof err), 0);
    const char *xml = read_text(in_dir("fail.xml"));
    assert_non_null(strstr(xml, "classname=\"a&lt;b&gt;&amp;&quot;c&quot;\""));
    assert_non_null(strstr(xml, "failures=\"1\""));
    assert_non_null(strstr(xml, "<failure message=\"expected ok, got trace-error: ? bad? byte&#10;next\" "
                                "type=\"trace-error\">"));
    assert_non_null(
        strstr(xml, "error: host branch on a symbolic tensor: DUET_BOOL of x &lt; 0 ]]&gt; here\n"));
    assert_non_null(strstr(xml, "  at:       cases/x.c:7\n"));
    const char *dirpath = schemas();
    if (dirpath && !system("xmllint --version >/dev/null 2>&1")) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "xmllint --noout --schema %s/JUnit.xsd %s", dirpath, in_dir("fail.xml"));
        validate(cmd);
    }
    duet_suite_free(&s);
    free(r);
}

static void test_sarif_valid(void **state)
{
    (void)state;
    const char *dirpath = schemas();
    if (!dirpath) TU_SKIP("no shared/schemas (DUET_SHARED_DATA/../schemas or ../shared/schemas)");
    if (system("python3 -c 'import jsonschema' >/dev/null 2>&1"))
        TU_SKIP("python3 with jsonschema is missing (Debian python3-jsonschema)");
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import json, sys, jsonschema; "
             "jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))' "
             "%s %s/sarif-schema-2.1.0.json",
             in_dir("run.sarif"), dirpath);
    validate(cmd);
}

/* The findings code scanning shows: each kind at its line. */
static void test_sarif_findings(void **state)
{
    (void)state;
    cJSON *doc = load(in_dir("run.sarif"));
    cJSON *run = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "runs"), 0), *r;
    const char *want[][3] = {
        {"host-read", "cases/ner/model.c", "ner-buggy-softmax"},
        {"baked-branch", "cases/ner/model.c", "ner-buggy-softmax"},
        {"trace-only-effect", "cases/bugs/host_side_effect.c", "host-side-effect"},
        {"trace-error", "cases/bugs/variable_in_function.c", "variable-in-function"},
        {"leaked-tensor", "cases/bugs/leaked_tensor.c", "leaked-tensor"},
        {"divergence", "cases/bugs/stale_capture.c", "stale-capture"},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        bool found = false;
        cJSON_ArrayForEach(r, cJSON_GetObjectItem(run, "results")) {
            cJSON *loc = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "locations"), 0),
                                             "physicalLocation");
            const char *uri =
                cJSON_GetObjectItem(cJSON_GetObjectItem(loc, "artifactLocation"), "uri")->valuestring;
            int line = cJSON_GetObjectItem(cJSON_GetObjectItem(loc, "region"), "startLine")->valueint;
            found |= !strcmp(cJSON_GetObjectItem(r, "ruleId")->valuestring, want[i][0]) &&
                     !strcmp(uri, want[i][1]) && line > 0 &&
                     !strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "properties"), "case")->valuestring,
                             want[i][2]);
        }
        if (!found) fail_msg("no %s result at %s for %s", want[i][0], want[i][1], want[i][2]);
    }
    cJSON_Delete(doc);
}

/* ---- baselines and check ---- */

static void test_check_own_baseline(void **state)
{
    (void)state;
    assert_int_equal(
        duet("check --baseline %s %s --check-compile", in_dir("base.json"), in_dir("run.json")), 0);
    assert_non_null(strstr(out, "0 regressions in "));
    cJSON *base = load(in_dir("base.json"));
    cJSON *r = row(base, "rows", "item-branch", "strict");
    assert_string_equal(cJSON_GetObjectItem(r, "outcome")->valuestring, "trace-error");
    assert_string_equal(cJSON_GetObjectItem(r, "kind")->valuestring, "host branch on a symbolic tensor");
    assert_string_equal(cJSON_GetObjectItem(r, "file")->valuestring, "cases/bugs/item_branch.c");
    cJSON_Delete(base);
}

/* A baseline changed by edit; check's exit code and output with extra flags. */
static int check_edited(void (*edit)(cJSON *base), const char *flags)
{
    cJSON *base = load(in_dir("base.json"));
    edit(base);
    save(in_dir("edited.json"), base);
    cJSON_Delete(base);
    return duet("check --baseline %s %s %s", in_dir("edited.json"), in_dir("run.json"), flags);
}

static void was_ok(cJSON *b)
{
    cJSON_ReplaceItemInObject(row(b, "rows", "item-branch", "strict"), "outcome", cJSON_CreateString("ok"));
}
static void bit_exact(cJSON *b)
{
    cJSON_ReplaceItemInObject(row(b, "rows", "stale-capture", "strict"), "max_ulp", cJSON_CreateNumber(0));
}
static void was_fast(cJSON *b)
{
    cJSON_ReplaceItemInObject(row(b, "rows", "mlp", "guard"), "speedup", cJSON_CreateNumber(1e6));
}
static void was_quick_to_compile(cJSON *b)
{
    cJSON_ReplaceItemInObject(row(b, "rows", "mlp", "guard"), "compile_steps", cJSON_CreateNumber(1e-6));
}
static void other_seed(cJSON *b)
{
    cJSON_SetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "options"), "seed"), 7);
}
static void extra_row(cJSON *b)
{
    cJSON_AddItemToArray(cJSON_GetObjectItem(b, "rows"),
                         cJSON_Duplicate(row(b, "rows", "mlp", "guard"), true));
}
static void one_case_fewer(cJSON *b)
{
    cJSON *r = row(b, "rows", "mlp", "guard");
    cJSON_ReplaceItemInObject(r, "case", cJSON_CreateString("retired-case"));
}

static void test_check_planted_regressions(void **state)
{
    (void)state;
    assert_int_equal(check_edited(was_ok, ""), 1);
    assert_non_null(strstr(out, "item-branch strict: outcome trace-error, the baseline's is ok\n"));
    assert_non_null(strstr(out, "1 regression in "));
    assert_int_equal(check_edited(bit_exact, ""), 1);
    assert_non_null(strstr(out, "stale-capture strict: "));
    assert_non_null(strstr(out, " ULP from eager, over 0 (the baseline's 0, the budget 0)\n"));
    assert_int_equal(check_edited(bit_exact, "--ulp-budget 4294967296"), 0);
    assert_int_equal(check_edited(was_fast, ""), 1);
    assert_non_null(strstr(out, "mlp guard: "));
    assert_non_null(
        strstr(out, "x at the spread's best), under the baseline's 1000000.00x by more than 2x\n"));
    /* compile time only when asked */
    assert_int_equal(check_edited(was_quick_to_compile, ""), 0);
    assert_int_equal(check_edited(was_quick_to_compile, "--check-compile"), 1);
    assert_non_null(strstr(out, "mlp guard: compiling takes "));
    assert_int_equal(check_edited(one_case_fewer, ""), 1);
    assert_non_null(strstr(out, "retired-case guard: in the baseline, not in the run\n"));
    assert_non_null(strstr(out, "; 1 run is not in the baseline (not checked)\n"));
    /* not comparable, or not a baseline: bad input */
    assert_int_equal(check_edited(other_seed, ""), 2);
    assert_non_null(strstr(out, "options.seed differs from the baseline's"));
    assert_int_equal(tu_lines(out), 1);
    assert_int_equal(check_edited(extra_row, ""), 2);
    assert_non_null(strstr(out, "edited.json: rows["));
    assert_non_null(strstr(out, "]: mlp guard again (first at rows["));
    assert_int_equal(tu_lines(out), 1);
}

/* A case whose code changes between the baseline and the run: the body starts
 * branching on a host read. Run in this process (it is registered here, not in the
 * duet binary). */
static int drift;

static void drift_inputs(duet_ctx *ctx, void *state, int step, uint64_t seed, duet_tensor **in)
{
    (void)state, (void)seed;
    float x[2] = {step % 2 ? -1.0f - (float)step : 1.0f + (float)step, 0.5f};
    in[0] = duet_constant(ctx, DUET_F32, 1, (int64_t[]){2}, x);
}

static void drift_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    float k = drift && DUET_BOOL(ctx, duet_greater(ctx, duet_sum(ctx, in[0], 1u, false),
                                                    duet_scalar(ctx, 0))) ? 3.0f : 2.0f;
    out[0] = duet_mul(ctx, in[0], duet_scalar(ctx, k));
}

DUET_CASE(drift_case, .name = "planted-drift", .category = "test",
          .summary = "a body that starts branching on a host read after its baseline",
          .nin = 1, .nout = 1, .relax = "(N)", .steps = 4, .body = drift_body,
          .inputs = drift_inputs)

static int main_quiet(int argc, char **argv)
{
    fflush(stdout);
    int saved = dup(1), null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    int rc = duet_main(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved), close(null);
    return rc;
}

static void test_check_planted_case(void **state)
{
    (void)state;
    char *run_before[] = {"duet", "run", "planted-drift", "--json", (char *)in_dir("drift0.json"), NULL};
    assert_int_equal(main_quiet(5, run_before), 0);
    char *save_base[] = {"duet", "baseline", "save", (char *)in_dir("drift0.json"), "-o",
                         (char *)in_dir("drift-base.json"), NULL};
    assert_int_equal(main_quiet(6, save_base), 0);
    drift = 1;
    char *run_after[] = {"duet", "run", "planted-drift", "--json", (char *)in_dir("drift1.json"), NULL};
    assert_int_equal(main_quiet(5, run_after), 1);
    drift = 0;
    assert_int_equal(duet("check --baseline %s %s", in_dir("drift-base.json"), in_dir("drift1.json")), 1);
    assert_non_null(strstr(out, "planted-drift strict: outcome trace-error, the baseline's is ok\n"));
    assert_non_null(strstr(out, "planted-drift strict: host branch on a symbolic tensor at "
                                "tests/test_reports.c:"));
    assert_non_null(strstr(out, ", the baseline's is no diagnostic\n"));
    assert_non_null(strstr(out, "planted-drift guard: 2 traces, the baseline's is 1\n"));
}

/* ---- merge ---- */

static void same_rows(const duet_suite *a, const duet_suite *b)
{
    assert_int_equal(a->n, b->n);
    for (int i = 0; i < a->n; i++) {
        const duet_result *x = &a->results[i], *y = &b->results[i];
        if (strcmp(x->case_name, y->case_name) || x->run != y->run || x->actual != y->actual ||
            x->expected != y->expected || x->as_expected != y->as_expected || x->traces != y->traces ||
            x->diag.code != y->diag.code || x->diag.line != y->diag.line || x->cmp.max_ulp != y->cmp.max_ulp)
            fail_msg("row %d: %s %s %s, merged %s %s %s", i, x->case_name, duet_run_name(x->run),
                     duet_outcome_name(x->actual), y->case_name, duet_run_name(y->run),
                     duet_outcome_name(y->actual));
    }
}

static void test_merge_shards(void **state)
{
    (void)state;
    for (int k = 1; k <= 3; k++) {
        char name[32];
        snprintf(name, sizeof name, "shard%d.json", k);
        if (duet("run --all --steps 3 --shard %d/3 --json %s", k, in_dir(name)) > 1) fail_msg("%s", out);
    }
    /* in any order */
    assert_int_equal(duet("merge %s %s %s -o %s", in_dir("shard3.json"), in_dir("shard1.json"),
                          in_dir("shard2.json"), in_dir("merged.json")), 0);
    duet_suite whole, merged;
    char err[512];
    assert_int_equal(duet_read_json(in_dir("run.json"), &whole, err, sizeof err), 0);
    assert_int_equal(duet_read_json(in_dir("merged.json"), &merged, err, sizeof err), 0);
    same_rows(&whole, &merged);
    assert_string_equal(merged.shard, "");
    duet_suite_free(&whole);
    duet_suite_free(&merged);

    assert_int_equal(
        duet("merge %s %s -o %s", in_dir("shard1.json"), in_dir("shard2.json"), in_dir("x.json")), 2);
    assert_non_null(strstr(out, "shard 3/3 is missing"));
    assert_int_equal(duet("merge %s %s %s %s -o %s", in_dir("shard1.json"), in_dir("shard2.json"),
                          in_dir("shard3.json"), in_dir("shard1.json"), in_dir("x.json")), 2);
    assert_non_null(strstr(out, "shard1.json: shard 1/3 again (also in "));
    assert_int_equal(duet("merge %s %s -o %s", in_dir("run.json"), in_dir("run.json"), in_dir("x.json")), 2);
    assert_non_null(
        strstr(out, "run.json: results[0] (data-dependent-loop eager) is already in another input"));
    assert_int_equal(duet("merge %s %s -o %s", in_dir("run.json"), in_dir("shard1.json"), in_dir("x.json")), 2);
    assert_non_null(strstr(out, "shard1.json: shard '1/3' is not of the same run as "));
    cJSON *doc = load(in_dir("shard2.json"));
    cJSON_SetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "options"), "rtol"), 0.5);
    save(in_dir("shard2-rtol.json"), doc);
    cJSON_Delete(doc);
    assert_int_equal(duet("merge %s %s %s -o %s", in_dir("shard1.json"), in_dir("shard2-rtol.json"),
                          in_dir("shard3.json"), in_dir("x.json")), 2);
    assert_non_null(strstr(out, "shard2-rtol.json: options.rtol differs from "));
    assert_int_equal(tu_lines(out), 1);
    assert_int_equal(access(in_dir("x.json"), F_OK), -1);
}

/* ---- whole or absent ---- */

static int entries(const char *path)
{
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* An output that cannot be written stops the command before it runs anything. */
static void test_output_checked_first(void **state)
{
    (void)state;
    const char *flags[] = {"--json", "--junit", "--sarif"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(duet("run mlp %s %s/no/such/dir/out", flags[i], dir), 2);
        assert_int_equal(tu_lines(out), 1);
        assert_non_null(strstr(out, "/no/such/dir/out: its directory is not there"));
        assert_null(strstr(out, "expected")); /* no run's row was printed */
    }
    assert_int_equal(duet("run mlp --json %s", dir), 2);
    assert_non_null(strstr(out, ": is a directory"));
    assert_int_equal(duet("merge %s -o %s/no/x.json", in_dir("run.json"), dir), 2);
    assert_non_null(strstr(out, "/no/x.json: its directory is not there"));
    assert_int_equal(duet("baseline save %s -o %s/no/b.json", in_dir("run.json"), dir), 2);
    assert_non_null(strstr(out, "/no/b.json: its directory is not there"));
}

/* Usage errors: one line naming the flag or what is missing, exit 2. */
static void test_bad_usage(void **state)
{
    (void)state;
    const char *bad[][2] = {
        {"check", "missing --baseline BASELINE.json"},
        {"check --baseline b.json", "missing RUN.json"},
        {"check --baseline b.json r.json s.json", "unexpected argument 's.json'"},
        {"check --baseline b.json r.json --ulp-budget -1", "--ulp-budget: expected an integer"},
        {"check --baseline b.json r.json --time-tolerance 0.5", "--time-tolerance: expected a number"},
        {"check --frob", "unknown flag '--frob'"},
        {"baseline", "expected 'save'"},
        {"baseline save r.json", "missing -o BASELINE.json"},
        {"baseline save -x", "unknown flag '-x'"},
        {"merge r.json", "missing -o ALL.json"},
        {"merge -o x.json", "missing the runs' JSON files"},
        {"merge --frob", "unknown flag '--frob'"},
        {"run mlp --json", "--json needs a value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = duet("%s", bad[i][0]);
        if (rc != 2 || !strstr(out, bad[i][1]) || tu_lines(out) != 1)
            fail_msg("duet %s: exit %d, output:\n%s", bad[i][0], rc, out);
    }
}

/* A write that fails at the end (here the rename, onto a directory) leaves neither the
 * output nor its temporary file. */
static void test_failed_write_leaves_nothing(void **state)
{
    (void)state;
    char sub[600];
    snprintf(sub, sizeof sub, "%s/atomic", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(sub, sizeof sub, "%s/atomic/out", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    duet_suite s;
    duet_baseline b;
    char err[512];
    assert_int_equal(duet_read_json(in_dir("run.json"), &s, err, sizeof err), 0);
    assert_int_equal(duet_baseline_from_suite(&s, &b), 0);
    int (*writers[])(const char *, const duet_suite *, char *, size_t) = {duet_write_json, duet_write_junit,
                                                                          duet_write_sarif};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(writers[i](sub, &s, err, sizeof err), -1);
        assert_non_null(strstr(err, ": is a directory")); /* refused before a temporary file */
    }
    assert_int_equal(duet_write_baseline(sub, &b, err, sizeof err), -1);
    snprintf(sub, sizeof sub, "%s/atomic", dir);
    assert_int_equal(entries(sub), 1); /* out/ alone: no temporary file left */
    duet_baseline_free(&b);
    duet_suite_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_json_nonfinite),
        cmocka_unit_test(test_json_malformed),
        cmocka_unit_test(test_json_unknown_fields),
        cmocka_unit_test(test_schema_documented),
        cmocka_unit_test(test_junit_valid),
        cmocka_unit_test(test_junit_failure),
        cmocka_unit_test(test_sarif_valid),
        cmocka_unit_test(test_sarif_findings),
        cmocka_unit_test(test_check_own_baseline),
        cmocka_unit_test(test_check_planted_regressions),
        cmocka_unit_test(test_check_planted_case),
        cmocka_unit_test(test_merge_shards),
        cmocka_unit_test(test_output_checked_first),
        cmocka_unit_test(test_bad_usage),
        cmocka_unit_test(test_failed_write_leaves_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
