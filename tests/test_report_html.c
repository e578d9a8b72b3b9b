/* duet run --report DIR and --profile FILE as a user runs them: the HTML and Markdown
 * pages with their gnuplot plots, the same pages without gnuplot, the Chrome trace,
 * and bad paths refused before anything runs. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* the cases: a divergence (stale-capture), a host effect (host-side-effect: its
 * finding quotes the counter's name, which the HTML must escape), a trace error and
 * a training step */
#define CASES "stale-capture host-side-effect tensor-bool mlp"

static char dir[64];
static char out[1 << 16], err[1 << 12];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/duet-report-test-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static void slurp(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "r");
    size_t k = f ? fread(buf, 1, n - 1, f) : 0;
    buf[k] = 0;
    if (f) fclose(f);
}

/* Runs `ENV duet ARGS`: stdout into out, stderr into err; returns the exit code. */
static int duet(const char *env, const char *args)
{
    const char *bin = getenv("DUET_BIN");
    assert_non_null(bin);
    char cmd[2048], errpath[128];
    snprintf(errpath, sizeof errpath, "%s.stderr", dir);
    snprintf(cmd, sizeof cmd, "%s %s %s 2>%s </dev/null", env, bin, args, errpath);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int st = pclose(p);
    slurp(errpath, err, sizeof err);
    remove(errpath);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *read_file(const char *sub)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("%s is missing", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static long file_size(const char *sub)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    return stat(path, &st) ? -1 : (long)st.st_size;
}

/* Every file the page refers to as prefix...suffix exists and is not empty; returns
 * how many there are. */
static int check_references(const char *page, const char *prefix, const char *suffix)
{
    int n = 0;
    for (const char *p = strstr(page, prefix); p; p = strstr(p + 1, prefix)) {
        const char *end = strstr(p, suffix);
        assert_non_null(end);
        char sub[160];
        snprintf(sub, sizeof sub, "%.*s", (int)(end - p + strlen(suffix)), p);
        if (file_size(sub) <= 0) fail_msg("%s is referenced but missing or empty", sub);
        n++;
    }
    return n;
}

/* Nothing but the expected outputs: no temporary file left behind. */
static void check_only_outputs(const char *sub, const char *const *allowed_ext)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    DIR *d = opendir(path);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "plots")) continue;
        const char *dot = strrchr(e->d_name, '.');
        bool ok = false;
        for (int i = 0; allowed_ext[i] && dot; i++) ok |= !strcmp(dot, allowed_ext[i]);
        if (!ok) fail_msg("unexpected file %s/%s", path, e->d_name);
    }
    closedir(d);
}

static bool have_gnuplot(void) { return system("command -v gnuplot >/dev/null 2>&1") == 0; }

static void test_report_with_plots(void **state)
{
    (void)state;
    if (!have_gnuplot()) TU_SKIP("gnuplot is not installed (scripts/deps.sh installs gnuplot-nox)");
    char args[256];
    snprintf(args, sizeof args, "run " CASES " --report %s", dir);
    assert_int_equal(duet("", args), 0);
    char *html = read_file("index.html"), *md = read_file("report.md");
    assert_non_null(strstr(html, "<section id=\"stale-capture\">"));
    assert_non_null(strstr(html, "<td>specialize</td><td>divergence</td>"));
    /* escaped: the host effect's quoted name, never raw */
    assert_non_null(strstr(html, "host effect &#39;"));
    assert_null(strstr(html, "host effect '"));
    assert_non_null(strstr(html, "<b>Fix.</b>"));
    assert_null(strstr(html, "<script"));
    assert_true(check_references(html, "plots/", ".svg") >= 4 * 3 + 1);
    assert_non_null(strstr(html, "plots/stale-capture-divergence.svg"));
    assert_non_null(strstr(html, "plots/mlp-op-time.svg"));
    assert_true(check_references(md, "plots/", ".png") >= 4 * 3 + 1);
    assert_non_null(strstr(md, "| stale-capture | specialize | divergence | divergence | yes |"));
    check_only_outputs("", (const char *const[]){".html", ".md", NULL});
    check_only_outputs("plots", (const char *const[]){".svg", ".png", NULL});
    free(html);
    free(md);
}

static void test_report_without_gnuplot(void **state)
{
    (void)state;
    char args[256];
    snprintf(args, sizeof args, "run " CASES " --report %s", dir);
    assert_int_equal(duet("DUET_GNUPLOT=/nonexistent", args), 0);
    char *html = read_file("index.html"), *md = read_file("report.md");
    assert_non_null(strstr(html, "plot unavailable: gnuplot was not found (/nonexistent)"));
    assert_non_null(strstr(md, "plot unavailable: gnuplot was not found (/nonexistent)"));
    assert_null(strstr(html, "<img"));
    assert_non_null(strstr(html, "<section id=\"mlp\">")); /* everything else is there */
    assert_non_null(strstr(md, "### Diagnostic: strict"));
    assert_int_equal(check_references(md, "plots/", ".png"), 0);
    free(html);
    free(md);
}

static void test_chrome_trace(void **state)
{
    (void)state;
    char args[256];
    snprintf(args, sizeof args, "run tensor-bool-fixed mlp --steps 3 --profile %s/trace.json", dir);
    assert_int_equal(duet("", args), 0);
    char *text = read_file("trace.json");
    cJSON *doc = cJSON_Parse(text);
    assert_non_null(doc);
    const cJSON *events = cJSON_GetObjectItem(doc, "traceEvents");
    assert_true(cJSON_IsArray(events));
    int eager = 0, graph = 0, steps = 0, fused = 0;
    const cJSON *ev;
    cJSON_ArrayForEach(ev, events)
    {
        const char *ph = cJSON_GetStringValue(cJSON_GetObjectItem(ev, "ph"));
        assert_non_null(ph);
        if (strcmp(ph, "X")) continue;
        const char *cat = cJSON_GetStringValue(cJSON_GetObjectItem(ev, "cat"));
        assert_non_null(cat);
        assert_true(cJSON_IsString(cJSON_GetObjectItem(ev, "name")));
        assert_true(cJSON_IsNumber(cJSON_GetObjectItem(ev, "ts")));
        assert_true(cJSON_GetObjectItem(ev, "dur")->valuedouble >= 0);
        assert_true(cJSON_IsNumber(cJSON_GetObjectItem(ev, "pid")));
        int tid = cJSON_GetObjectItem(ev, "tid")->valueint; /* 1 eager, 2.. graph policies */
        if (!strcmp(cat, "step")) {
            steps++;
            continue;
        }
        const cJSON *a = cJSON_GetObjectItem(ev, "args");
        assert_non_null(cJSON_GetStringValue(cJSON_GetObjectItem(a, "op")));
        assert_non_null(cJSON_GetObjectItem(a, "scope"));
        fused += cJSON_GetObjectItem(a, "fused") != NULL;
        if (tid == 1) eager++;
        else graph++;
    }
    assert_true(eager > 0);
    assert_true(graph > 0);
    assert_true(fused > 0);
    assert_int_equal(steps, 2 * 4 * 3); /* two cases, four runs, three steps */
    cJSON_Delete(doc);
    free(text);
}

static void test_bad_paths(void **state)
{
    (void)state;
    char args[256], file[128];
    const char *bad[][2] = {
        {"--report /nonexistent/deeper/report", "duet run: --report: /nonexistent/deeper/report: "},
        {"--profile /nonexistent/trace.json", "duet run: --profile: /nonexistent/trace.json: its directory is not there"},
        {"--profile /tmp", "duet run: --profile: /tmp: is a directory"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(args, sizeof args, "run mlp %s", bad[i][0]);
        assert_int_equal(duet("", args), 2);
        assert_string_equal(out, ""); /* nothing ran */
        if (strncmp(err, bad[i][1], strlen(bad[i][1])) || strchr(err, '\n') != err + strlen(err) - 1)
            fail_msg("%s: stderr '%s'", bad[i][0], err);
    }
    snprintf(file, sizeof file, "%s/a-file", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(args, sizeof args, "run mlp --report %s", file);
    assert_int_equal(duet("", args), 2);
    assert_non_null(strstr(err, "not a directory"));
}

/* A page that cannot be renamed into place (a directory is in the way): a one-line
 * error, exit 2, and no temporary file left. */
static void test_no_partial_files(void **state)
{
    (void)state;
    char path[128], args[256];
    snprintf(path, sizeof path, "%s/index.html", dir);
    assert_int_equal(mkdir(path, 0777), 0);
    snprintf(path, sizeof path, "%s/index.html/keep", dir);
    assert_int_equal(mkdir(path, 0777), 0); /* not empty: rename cannot replace it */
    snprintf(args, sizeof args, "run mlp --mode eager --report %s", dir);
    assert_int_equal(duet("DUET_GNUPLOT=/nonexistent", args), 2);
    assert_non_null(strstr(err, "duet run: --report: "));
    assert_non_null(strstr(err, "index.html"));
    check_only_outputs("", (const char *const[]){".html", NULL}); /* the directory only */
    assert_true(file_size("report.md") < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_report_with_plots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_without_gnuplot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chrome_trace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_partial_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
