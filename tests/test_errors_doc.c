/* docs/errors.md's table, row by row: each bad input gives the exit code and the one
 * line of stderr the table shows (issue 11: "a table of bad inputs and their
 * messages, each row a test"). The fixtures table there says which files $DIR holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

static char out[1 << 16];

/* `$DUET_BIN ARGS` with the redirections in capture, its stdout into out */
static int run_duet(const char *args, const char *capture)
{
    return tu_run_duet(args, capture, out, sizeof out);
}

/* The cells of a table row "| a | b | c |", backticks stripped; 0 if line is not one. */
static int cells(char *line, char **cell, int max)
{
    if (line[0] != '|') return 0;
    int n = 0;
    for (char *p = line + 1; *p && n < max;) {
        char *bar = strstr(p, " |");
        if (!bar) break;
        *bar = 0;
        while (*p == ' ') p++;
        size_t len = strlen(p);
        if (len >= 2 && p[0] == '`' && p[len - 1] == '`') p[len - 1] = 0, p++;
        cell[n++] = p;
        p = bar + 2;
    }
    return n;
}

/* s with every "$DIR" replaced by dir, into out. */
static void expand(const char *s, const char *dir, char *out, size_t cap)
{
    size_t k = 0;
    while (*s && k + 1 < cap) {
        if (!strncmp(s, "$DIR", 4)) {
            k += (size_t)snprintf(out + k, cap - k, "%s", dir);
            s += 4;
        } else {
            out[k++] = *s++;
        }
    }
    out[k < cap ? k : cap - 1] = 0;
}

/* C escapes (\n \r \t \\ \xNN) to bytes; the length. */
static size_t unescape(const char *s, char *out)
{
    size_t k = 0;
    for (; *s; s++) {
        if (*s != '\\') {
            out[k++] = *s;
            continue;
        }
        s++;
        if (*s == 'n') out[k++] = '\n';
        else if (*s == 'r') out[k++] = '\r';
        else if (*s == 't') out[k++] = '\t';
        else if (*s == 'x') {
            unsigned v;
            assert_int_equal(sscanf(s + 1, "%2x", &v), 1);
            out[k++] = (char)v;
            s += 2;
        } else out[k++] = *s;
    }
    return k;
}

static void make_fixture(const char *dir, const char *name, const char *contents)
{
    char path[512], bytes[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *slash = strrchr(path, '/');
    *slash = 0;
    mkdir(path, 0700); /* the fixture's directory, if it has one */
    *slash = '/';
    size_t n = unescape(contents, bytes);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    fclose(f);
}

static void test_every_row(void **state)
{
    (void)state;
    const char *src = getenv("DUET_SOURCE_DIR");
    assert_non_null(src);
    char path[1024], dir[32];
    snprintf(path, sizeof path, "%s/docs/errors.md", src);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    tu_tmpdir(dir);
    /* fixtures first: the rows refer to them */
    static char line[4096];
    while (fgets(line, sizeof line, f)) {
        char *c[3];
        line[strcspn(line, "\n")] = 0;
        if (cells(line, c, 3) == 2 && strcmp(c[0], "file") && strncmp(c[0], "---", 3))
            make_fixture(dir, c[0], c[1]);
    }
    rewind(f);
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        char *c[3], args[4096], expect[4096];
        line[strcspn(line, "\n")] = 0;
        if (cells(line, c, 3) != 3 || strncmp(c[0], "duet ", 5)) continue;
        expand(c[0] + 5, dir, args, sizeof args);
        expand(c[2], dir, expect, sizeof expect);
        int rc = run_duet(args, "2>&1 >/dev/null");
        size_t len = strlen(expect);
        bool prefix = len > 3 && !strcmp(expect + len - 3, "...");
        bool same = prefix ? !strncmp(out, expect, len - 3) && tu_lines(out) == 1
                           : strlen(out) == len + 1 && !strncmp(out, expect, len) &&
                                 out[len] == '\n';
        if (rc != atoi(c[1]) || !same)
            fail_msg("docs/errors.md: `%s`: expected exit %s and\n  %s\ngot exit %d and\n  %s", c[0],
                     c[1], expect, rc, out);
        rows++;
    }
    fclose(f);
    assert_true(rows >= 30);
    printf("[ INFO     ] %d rows of docs/errors.md as documented\n", rows);
    tu_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
