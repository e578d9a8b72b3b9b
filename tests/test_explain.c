/* duet explain as a reader meets it: every registered case explained in seven
 * sections; the seed bug's and tensor-bool's key facts (the diagnostic, the wrong
 * number under specialize, the fix's duet_where line); the JSON form; colour only on
 * a terminal and never with NO_COLOR; one-line errors; docs/bug-classes.md as
 * `duet explain --markdown` writes it. The binary is run as users run it ($DUET_BIN). */
#define _XOPEN_SOURCE 700 /* posix_openpt and friends, for a terminal */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "result.h"
#include "testutil.h"

static char out[1 << 18];

/* Runs `duet ARGS` through the shell (capture: its redirections), reading its stdout
 * into out; returns the exit code. */
static int run_duet(const char *args, const char *capture)
{
    const char *bin = getenv("DUET_BIN");
    assert_non_null(bin);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s %s </dev/null", bin, args, capture);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* text with every run of white space (a wrapped line's break and indent) as one space */
static void flatten(const char *text, char *flat, size_t n)
{
    size_t used = 0;
    for (const char *p = text; *p && used + 1 < n; p++) {
        bool space = *p == ' ' || *p == '\n';
        if (!space || (used && flat[used - 1] != ' ')) flat[used++] = space ? ' ' : *p;
    }
    flat[used] = 0;
}

/* what is found in text as printed, or once prose wrapping is undone */
static void assert_contains(const char *text, const char *what)
{
    static char flat_text[sizeof out], flat_what[1024];
    flatten(text, flat_text, sizeof flat_text);
    flatten(what, flat_what, sizeof flat_what);
    if (!strstr(text, what) && !strstr(flat_text, flat_what)) {
        printf("expected to find: %s\n--- in:\n%s\n", what, text);
        fail();
    }
}

static const char *const sections[] = {
    "1. The code",        "2. Eager mode", "3. What the tracer sees", "4. Graph mode, under each policy",
    "5. The fix",         "6. The cost of the escape hatch", "7. The same bug in other frameworks",
};

/* Few timed steps: the test checks what is said, not the timings. */
static void test_every_case_explained(void **state)
{
    (void)state;
    for (int i = 0; i < duet_case_count(); i++) {
        const duet_case *c = duet_case_at(i);
        char args[160];
        snprintf(args, sizeof args, "explain %s --steps 3", c->name);
        int rc = run_duet(args, "2>&1");
        if (rc) printf("duet %s: exit %d\n%s\n", args, rc, out);
        assert_int_equal(rc, 0);
        for (size_t k = 0; k < sizeof sections / sizeof *sections; k++) assert_contains(out, sections[k]);
        assert_null(strstr(out, "UNEXPECTED"));
        assert_null(strstr(out, "\033[")); /* not a terminal: no colour */
    }
}

static void test_seed_bug(void **state)
{
    (void)state;
    assert_int_equal(run_duet("explain ner-buggy-softmax --steps 3", "2>&1"), 0);
    assert_contains(out, "error: host branch on a symbolic tensor: Exception encountered when "
                         "calling Softmax.call: Using a symbolic tensor as a C bool is not allowed");
    assert_contains(out, ">   91 |     if (mask && DUET_BOOL(ctx, duet_any(ctx, duet_logical_not(ctx, mask), 0, false)))");
    assert_contains(out, "at:       cases/ner/model.c:91");
    assert_contains(out, "scores = duet_where(ctx, mask, scores, duet_full_like(ctx, scores, -1e9f))");
    /* specialize is right on this model, and says where to see it go wrong */
    assert_contains(out, "specialize (torch.jit.trace: bake in what the first call saw): ok");
    assert_contains(out, "duet explain tensor-bool");
    assert_contains(out, "duet_softmax(ctx, scores, -1, mask)");
    assert_contains(out, "OperatorNotAllowedInGraphError");
}

static void test_tensor_bool(void **state)
{
    (void)state;
    /* the numbers the text must show, from the harness itself */
    const duet_case *c = duet_case_find("tensor-bool");
    duet_result *r = malloc(sizeof *r);
    assert_non_null(r);
    duet_run_case(c, DUET_RUN_SPECIALIZE, &(duet_run_opts){.seed = 42, .rtol = 1e-5, .atol = 1e-8}, r);
    assert_int_equal(r->actual, DUET_OUTCOME_DIVERGENCE);
    char extent[64];
    snprintf(extent, sizeof extent, "by up to %.3g (max abs)", r->cmp.max_abs);
    free(r);

    assert_int_equal(run_duet("explain tensor-bool --steps 3 --json", "2>/dev/null"), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    cJSON *wrong = cJSON_GetObjectItem(j, "specialize_wrong_answer");
    assert_non_null(wrong);
    char eager[200], graph[200];
    snprintf(eager, sizeof eager, "eager   %s", cJSON_GetObjectItem(wrong, "eager")->valuestring);
    snprintf(graph, sizeof graph, "graph   %s", cJSON_GetObjectItem(wrong, "graph")->valuestring);
    assert_string_not_equal(eager + 8, graph + 8);
    cJSON_Delete(j);

    assert_int_equal(run_duet("explain tensor-bool --steps 3", "2>&1"), 0);
    assert_contains(out, ">   22 |     if (DUET_BOOL(ctx, duet_any(ctx, duet_logical_not(ctx, mask), 0, false)))");
    assert_contains(out, "error: host branch on a symbolic tensor: Using a symbolic tensor as a C "
                         "bool is not allowed: DUET_BOOL of any (bool ())");
    assert_contains(out, "DUET_BOOL read false");
    assert_contains(out, "DUET_BOOL read true");
    assert_contains(out, "was baked into");
    assert_contains(out, eager);
    assert_contains(out, graph);
    assert_contains(out, extent);
    assert_contains(out, "guard failed at cases/bugs/tensor_bool.c:22");
    assert_contains(out, "   15 |     return duet_where(ctx, mask, scores, duet_full_like(ctx, scores, -1e9f));");
    assert_contains(out, "strict     ok over 3 steps, 1 trace, max abs difference 0 (0 ULP)");
    assert_contains(out, "TracerBoolConversionError");
}

static void test_json(void **state)
{
    (void)state;
    assert_int_equal(run_duet("explain stale-capture --steps 3 --json", "2>/dev/null"), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    const char *paths[][2] = {{"name", NULL},        {"why", NULL},           {"frameworks", "jax"},
                              {"code", "excerpts"},  {"eager", "steps"},      {"tracer", "ir"},
                              {"runs", "specialize"}, {"fix", "excerpts"},    {"fix", "runs"},
                              {"escape_hatch", "ratio"}};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        cJSON *v = cJSON_GetObjectItem(j, paths[i][0]);
        if (v && paths[i][1]) v = cJSON_GetObjectItem(v, paths[i][1]);
        if (!v) printf("no %s.%s\n", paths[i][0], paths[i][1] ? paths[i][1] : "");
        assert_non_null(v);
    }
    cJSON *strict = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "runs"), "strict");
    assert_string_equal(cJSON_GetObjectItem(strict, "actual")->valuestring, "divergence");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "code"), "site_kind")->valuestring,
                        "divergence");
    cJSON_Delete(j);

    /* without a case: every case's metadata */
    assert_int_equal(run_duet("explain --json", "2>/dev/null"), 0);
    j = cJSON_Parse(out);
    assert_non_null(j);
    assert_int_equal(cJSON_GetArraySize(j), duet_case_count());
    cJSON_Delete(j);
}

/* Every bug (a case with a twin) says why, how the fix works, and where else it lives. */
static void test_metadata(void **state)
{
    (void)state;
    for (int i = 0; i < duet_case_count(); i++) {
        const duet_case *c = duet_case_at(i);
        if (!c->twin) continue;
        if (!c->why || !c->fix_why || !c->frameworks.tensorflow || !c->frameworks.jax ||
            !c->frameworks.pytorch)
            printf("%s: missing teaching metadata\n", c->name);
        assert_true(c->why && c->fix_why && c->frameworks.tensorflow && c->frameworks.jax &&
                    c->frameworks.pytorch);
    }
}

static void test_catalog(void **state)
{
    (void)state;
    assert_int_equal(run_duet("explain", "2>&1"), 0);
    assert_contains(out, "host-read\n");
    assert_contains(out, "  tensor-bool ");
    assert_null(strstr(out, "  tensor-bool-fixed ")); /* twins are named beside their case */
}

/* `duet explain` on a terminal (a pseudo-terminal here); what it printed. */
static void explain_on_terminal(bool no_color)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    const char *slave_name = ptsname(master);
    assert_non_null(slave_name);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int slave = open(slave_name, O_RDWR);
        if (slave < 0 || dup2(slave, STDOUT_FILENO) < 0) _exit(127);
        if (no_color) setenv("NO_COLOR", "1", 1);
        else unsetenv("NO_COLOR");
        execl(getenv("DUET_BIN"), "duet", "explain", (char *)NULL);
        _exit(127);
    }
    size_t used = 0;
    ssize_t n;
    while (used < sizeof out - 1 && (n = read(master, out + used, sizeof out - 1 - used)) > 0)
        used += (size_t)n; /* EIO once the child has exited and closed the terminal */
    out[used] = 0;
    int st;
    waitpid(pid, &st, 0);
    close(master);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_colour(void **state)
{
    (void)state;
    explain_on_terminal(false);
    assert_non_null(strstr(out, "\033[1m"));
    explain_on_terminal(true);
    assert_contains(out, "host-read");
    assert_null(strstr(out, "\033["));
}

static void test_errors(void **state)
{
    (void)state;
    assert_int_equal(run_duet("explain no-such-case", "2>&1 >/dev/null"), 2);
    assert_string_equal(out, "duet explain: no case named 'no-such-case' (see duet explain)\n");
    assert_int_equal(run_duet("explain tensor-bool --frobnicate", "2>&1 >/dev/null"), 2);
    assert_string_equal(out, "duet explain: unexpected argument '--frobnicate' (see duet explain --help)\n");
    assert_int_equal(run_duet("explain tensor-bool --markdown", "2>&1 >/dev/null"), 2);
}

/* docs/bug-classes.md is what `duet explain --markdown` writes: regenerate it with
 * `cmake --build build --target bug-classes`. */
static void test_bug_classes_doc(void **state)
{
    (void)state;
    const char *dir = getenv("DUET_SOURCE_DIR");
    assert_non_null(dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/docs/bug-classes.md", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char doc[1 << 18];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    doc[n] = 0;
    fclose(f);
    assert_int_equal(run_duet("explain --markdown", "2>&1"), 0);
    if (strcmp(doc, out))
        printf("docs/bug-classes.md is stale: cmake --build build --target bug-classes\n");
    assert_string_equal(doc, out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_case_explained),
        cmocka_unit_test(test_seed_bug),
        cmocka_unit_test(test_tensor_bool),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_catalog),
        cmocka_unit_test(test_colour),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_bug_classes_doc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
