/* docs/tutorial.md cannot go stale: every ```sh block in it is run, in order, in one
 * shell (so an export carries on), in a fresh directory with a fresh $HOME and
 * `build` linked to this build; a ```c block whose first line names a file
 * ("/ * my_case.c: ...") is written to that file first. The ```text block right after
 * an sh block quotes what it prints: each quoted line must be found in the output
 * (stdout and stderr), in order. A line "..." skips any lines, and "..." inside a
 * line stands for any text in that line. Every text block must follow an sh block. */
#define _XOPEN_SOURCE 700 /* mkdtemp */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

enum { MAX_BLOCKS = 64 };

typedef struct block {
    char lang[16];
    char *text;
    int line; /* of the opening fence, for messages */
} block;

static block blocks[MAX_BLOCKS];
static int nblocks;

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s) s[fread(s, 1, (size_t)n, f)] = 0;
    fclose(f);
    return s;
}

/* Splits the Markdown into its fenced blocks. */
static void parse(char *md)
{
    int line = 1;
    block *open = NULL;
    size_t used = 0;
    for (char *p = md; *p; line++) {
        char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len >= 3 && !strncmp(p, "```", 3)) {
            if (open) {
                open->text[used] = 0;
                open = NULL;
            } else {
                assert_true(nblocks < MAX_BLOCKS);
                open = &blocks[nblocks++];
                snprintf(open->lang, sizeof open->lang, "%.*s", (int)(len - 3), p + 3);
                open->line = line;
                open->text = calloc(strlen(p) + 1, 1);
                assert_non_null(open->text);
                used = 0;
            }
        } else if (open) {
            memcpy(open->text + used, p, len);
            used += len;
            open->text[used++] = '\n';
        }
        p += len + (nl != NULL);
    }
    assert_null(open); /* every fence closed */
}

/* "/ * NAME.c: ..." on a c block's first line: the file it is written to. */
static bool file_name(const block *b, char *name, size_t n)
{
    char fmt[32];
    snprintf(fmt, sizeof fmt, "/* %%%zu[A-Za-z0-9_].c:", n - 3);
    if (strcmp(b->lang, "c") || sscanf(b->text, fmt, name) != 1) return false;
    strcat(name, ".c");
    return true;
}

/* Whether line (len chars) holds the quote's parts between "..." in order. */
static bool line_matches(const char *line, size_t len, const char *quote, size_t qlen)
{
    char hay[8192], part[2048];
    snprintf(hay, sizeof hay, "%.*s", (int)len, line);
    const char *at = hay;
    for (const char *q = quote; q < quote + qlen;) {
        const char *dots = strstr(q, "...");
        size_t plen = dots && dots < quote + qlen ? (size_t)(dots - q) : (size_t)(quote + qlen - q);
        snprintf(part, sizeof part, "%.*s", (int)plen, q);
        if (plen && !(at = strstr(at, part))) return false;
        at += plen;
        q += plen + (dots && dots < quote + qlen ? 3 : 0);
    }
    return true;
}

/* Each quoted line found in output, in order; 0, or the quote's failing line. */
static int quote_found(const char *output, const char *quote, const char **missing)
{
    const char *pos = output;
    for (const char *q = quote; *q;) {
        size_t qlen = strcspn(q, "\n");
        while (qlen && q[qlen - 1] == ' ') qlen--;
        bool skip = !qlen || (qlen == 3 && !strncmp(q, "...", 3));
        if (!skip) {
            bool found = false;
            while (*pos && !found) {
                size_t len = strcspn(pos, "\n");
                found = line_matches(pos, len, q, qlen);
                pos += len + (pos[len] == '\n');
            }
            if (!found) {
                *missing = q;
                return -1;
            }
        }
        q += strcspn(q, "\n");
        if (*q) q++;
    }
    return 0;
}

static void test_tutorial(void **state)
{
    (void)state;
    const char *src = getenv("DUET_SOURCE_DIR"), *bin = getenv("DUET_BIN");
    assert_non_null(src);
    assert_non_null(bin);
    char path[1024], dir[] = "/tmp/duet-tutorial.XXXXXX";
    snprintf(path, sizeof path, "%s/docs/tutorial.md", src);
    char *md = read_all(path);
    assert_non_null(md);
    parse(md);
    assert_non_null(mkdtemp(dir));

    /* the build the tutorial's `build` stands for: where duet is */
    char build[1024], cmd[4096];
    snprintf(build, sizeof build, "%s", bin);
    *strrchr(build, '/') = 0;
    snprintf(cmd, sizeof cmd, "mkdir -p %s/home %s/work && ln -s '%s' %s/work/build", dir, dir, build, dir);
    assert_int_equal(system(cmd), 0);

    snprintf(path, sizeof path, "%s/tutorial.sh", dir);
    FILE *sh = fopen(path, "w");
    assert_non_null(sh);
    /* the compiler of this build, with its sanitizers: sanitized libraries need them */
    fprintf(sh, "cc() { command \"${DUET_CC:-cc}\" $DUET_SANITIZE_FLAGS \"$@\"; }\n"
                "export HOME='%s/home'\ncd '%s/work' || exit 1\n", dir, dir);
    int nsh = 0;
    for (int i = 0; i < nblocks; i++) {
        char name[64];
        if (file_name(&blocks[i], name, sizeof name)) {
            fprintf(sh, "cat > '%s' <<'DUET_TUTORIAL_EOF'\n%sDUET_TUTORIAL_EOF\n", name, blocks[i].text);
        } else if (!strcmp(blocks[i].lang, "sh")) {
            fprintf(sh, "{\n%s} > '%s/out.%d' 2>&1 </dev/null\n", blocks[i].text, dir, i);
            nsh++;
        } else if (!strcmp(blocks[i].lang, "text")) {
            if (i == 0 || strcmp(blocks[i - 1].lang, "sh")) {
                printf("tutorial.md:%d: a text block that follows no sh block\n", blocks[i].line);
                fail();
            }
        }
    }
    fclose(sh);
    assert_true(nsh > 0);
    snprintf(cmd, sizeof cmd, "bash '%s/tutorial.sh'", dir);
    assert_int_not_equal(system(cmd), -1);

    int bad = 0;
    for (int i = 1; i < nblocks; i++) {
        if (strcmp(blocks[i].lang, "text") || strcmp(blocks[i - 1].lang, "sh")) continue;
        snprintf(path, sizeof path, "%s/out.%d", dir, i - 1);
        char *output = read_all(path);
        assert_non_null(output);
        const char *missing = NULL;
        if (quote_found(output, blocks[i].text, &missing)) {
            printf("tutorial.md:%d: the output of\n%sno longer has, after the lines before it:\n"
                   "%.*s\n--- it printed:\n%s\n",
                   blocks[i].line, blocks[i - 1].text, (int)strcspn(missing, "\n"), missing, output);
            bad++;
        }
        free(output);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    for (int i = 0; i < nblocks; i++) free(blocks[i].text);
    free(md);
    assert_int_equal(bad, 0);
}

/* The quote language itself. */
static void test_quotes(void **state)
{
    (void)state;
    const char *missing;
    const char *out = "a 1 b\nc 22 d\ne\n";
    assert_int_equal(quote_found(out, "a 1 b\ne\n", &missing), 0);
    assert_int_equal(quote_found(out, "a ... b\n...\nc ... d\n", &missing), 0);
    assert_int_equal(quote_found(out, "c 22 d\na 1 b\n", &missing), -1); /* order */
    assert_string_equal(missing, "a 1 b\n");
    assert_int_equal(quote_found(out, "c ... b\n", &missing), -1); /* within one line */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quotes),
        cmocka_unit_test(test_tutorial),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
