/* The JSON report readers (duet_read_json for runs, duet_read_baseline for
 * baselines) on arbitrary bytes: they accept a document or refuse it with one line
 * naming the file, never crash; and what they accept writes back to a document that
 * reads again and writes back to the same bytes (writing is a fixed point after one
 * round).
 *
 * Input byte 0 picks the reader: even a run, odd a baseline. The readers take paths, so
 * the bytes go through files in a private directory (on /dev/shm when there is one:
 * every write is synced). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "report.h"

static char dir[64], in_path[96], out_path[96], again_path[96];

static void remove_files(void)
{
    unlink(in_path);
    unlink(out_path);
    unlink(again_path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    snprintf(dir, sizeof dir, "%s/duet-fuzz-json-XXXXXX", access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm");
    FUZZ_REQUIRE(mkdtemp(dir), "mkdtemp");
    snprintf(in_path, sizeof in_path, "%s/in.json", dir);
    snprintf(out_path, sizeof out_path, "%s/out.json", dir);
    snprintf(again_path, sizeof again_path, "%s/again.json", dir);
    atexit(remove_files);
    return 0;
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    FUZZ_REQUIRE(f, "cannot read %s back", path);
    char *buf = NULL;
    size_t cap = 0;
    *n = 0;
    for (;;) {
        if (*n == cap && !(buf = realloc(buf, cap = cap ? 2 * cap : 4096))) abort();
        size_t got = fread(buf + *n, 1, cap - *n, f);
        if (!got) break;
        *n += got;
    }
    fclose(f);
    return buf;
}

static void require_refusal(const char *err)
{
    FUZZ_REQUIRE(err[0] && !strchr(err, '\n'), "not one line: '%s'", err);
    FUZZ_REQUIRE(!strncmp(err, in_path, strlen(in_path)), "does not name the file: '%s'", err);
}

static void require_fixed_point(void)
{
    size_t a, b;
    char *x = slurp(out_path, &a), *y = slurp(again_path, &b);
    FUZZ_REQUIRE(a == b && !memcmp(x, y, a), "written twice, %zu then %zu bytes, not the same", a, b);
    free(x);
    free(y);
}

static void run_document(void)
{
    duet_suite s, t;
    char err[1024] = "";
    if (duet_read_json(in_path, &s, err, sizeof err)) {
        require_refusal(err);
        return;
    }
    FUZZ_REQUIRE(!duet_write_json(out_path, &s, err, sizeof err), "accepted, not written: %s", err);
    FUZZ_REQUIRE(!duet_read_json(out_path, &t, err, sizeof err), "written, not read again: %s", err);
    FUZZ_REQUIRE(t.n == s.n, "%d results read back as %d", s.n, t.n);
    FUZZ_REQUIRE(!duet_write_json(again_path, &t, err, sizeof err), "not written again: %s", err);
    require_fixed_point();
    duet_suite_free(&s);
    duet_suite_free(&t);
}

static void baseline_document(void)
{
    duet_baseline b, c;
    char err[1024] = "";
    if (duet_read_baseline(in_path, &b, err, sizeof err)) {
        require_refusal(err);
        return;
    }
    FUZZ_REQUIRE(!duet_write_baseline(out_path, &b, err, sizeof err), "accepted, not written: %s", err);
    FUZZ_REQUIRE(!duet_read_baseline(out_path, &c, err, sizeof err), "written, not read again: %s", err);
    FUZZ_REQUIRE(!duet_write_baseline(again_path, &c, err, sizeof err), "not written again: %s", err);
    require_fixed_point();
    duet_baseline_free(&b);
    duet_baseline_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    FILE *f = fopen(in_path, "wb");
    FUZZ_REQUIRE(f && fwrite(data + 1, 1, size - 1, f) == size - 1 && !fclose(f), "writing the input");
    if (data[0] % 2) baseline_document();
    else run_document();
    return 0;
}
