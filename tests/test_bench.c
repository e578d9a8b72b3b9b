/* `duet bench`: its JSON carries every field a row promises, its FLOP count is the
 * model's, and bad flags are one-line errors with exit code 2. Benchmarks measure;
 * these tests never judge a time. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ner/model.h"
#include "testutil.h"

static char out[1 << 16];

static cJSON *read_json(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    cJSON *doc = cJSON_Parse(text);
    assert_non_null(doc);
    return doc;
}

static double number(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v)) fail_msg("field %s is not a number", name);
    return v->valuedouble;
}

static const char *string(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(v)) fail_msg("field %s is not a string", name);
    return v->valuestring;
}

/* Runs `duet bench ARGS --json F` and returns the document; each row is checked for
 * the fields every (engine, mode, seq, threads) carries. */
static cJSON *bench(const char *args, int rows)
{
    char path[] = "/tmp/duet-test-bench-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "bench %s --json %s", args, path);
    int rc = tu_run_duet(cmd, "2>/dev/null", out, sizeof out);
    if (rc) fail_msg("duet %s exited %d:\n%s", cmd, rc, out);
    cJSON *doc = read_json(path);
    remove(path);
    assert_string_equal(string(doc, "format"), "duet-bench");
    const cJSON *results = cJSON_GetObjectItemCaseSensitive(doc, "results"), *r;
    assert_int_equal(cJSON_GetArraySize(results), rows);
    cJSON_ArrayForEach(r, results) {
        assert_string_equal(string(r, "engine"), "duet");
        const char *mode = string(r, "mode");
        assert_true(!strcmp(mode, "eager") || !strcmp(mode, "graph"));
        assert_true(number(r, "threads") >= 1);
        double median = number(r, "median_ms");
        assert_true(median > 0);
        assert_true(number(r, "p10_ms") <= median && median <= number(r, "p90_ms"));
        assert_true(number(r, "first_call_ms") > 0);
        assert_true(number(r, "peak_rss_mb") > 0);
        number(r, "gflops"), number(r, "seq"), number(r, "steps");
    }
    return doc;
}

/* One NER step's FLOPs at batch 32 x seq 40, from the dims (embed 32, 4 heads of key_dim
 * 32, ff 64, 10 tags), N = 1280 tokens. Per token, products 2 x (3*32*128 + 128*32 +
 * 32*64 + 64*32 + 32*64 + 64*10) = 46336, so 59,310,080; attention 2 x 2 x 32*4*40*40*32
 * = 26,214,400; embedding sum 1280*32 = 40,960. Forward 85,565,440; training: the
 * products x3 and the embedding x3 = 256,696,320. */
static void test_flop_count(void **state)
{
    (void)state;
    ner_config cfg = ner_config_default();
    assert_true(ner_flops(&cfg, 32, 40, false) == 85565440.0);
    assert_true(ner_flops(&cfg, 32, 40, true) == 256696320.0);
}

static void test_ner_rows(void **state)
{
    (void)state;
    cJSON *doc = bench("ner --steps 3 --warmup 1 --seq 8 --batch 4", 2);
    assert_non_null(strstr(out, "| seq | duet eager | duet graph | graph / eager |"));
    assert_non_null(strstr(out, "| 8 | "));
    assert_non_null(strstr(out, "FLOPs per step"));
    ner_config cfg = ner_config_default();
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(doc, "results")) {
        assert_int_equal((int)number(r, "seq"), 8);
        assert_int_equal((int)number(r, "batch"), 4);
        assert_int_equal((int)number(r, "steps"), 3);
        assert_true(number(r, "flops") == ner_flops(&cfg, 4, 8, true));
        assert_true(number(r, "gflops") > 0);
    }
    assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "infer")));
    cJSON_Delete(doc);

    doc = bench("ner --infer --steps 2 --warmup 0 --rounds 1 --seq 8,12 --batch 2", 4);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "infer")));
    const cJSON *last = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "results"), 3);
    assert_int_equal((int)number(last, "seq"), 12);
    assert_true(number(last, "flops") == ner_flops(&cfg, 2, 12, false));
    cJSON_Delete(doc);
}

/* --profile: each duet row carries its op kinds, the slowest first, whose kernel times
 * fit in the step; the table prints both modes; without the flag there are none. */
static void test_profile(void **state)
{
    (void)state;
    cJSON *doc = bench("ner --profile --steps 4 --warmup 1 --rounds 2 --seq 8 --batch 4", 2);
    assert_non_null(strstr(out, "kernel time per step by op kind, seq 8 (--profile)"));
    assert_non_null(strstr(out, "\nmatmul "));
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(doc, "results")) {
        const cJSON *ops = cJSON_GetObjectItemCaseSensitive(r, "ops"), *o;
        assert_true(cJSON_GetArraySize(ops) > 5);
        double prev = INFINITY, total = 0;
        bool matmul = false;
        cJSON_ArrayForEach(o, ops) {
            double ms = number(o, "ms_per_step");
            assert_true(ms >= 0 && ms <= prev);
            prev = ms, total += ms;
            if (!strcmp(string(o, "op"), "matmul")) {
                matmul = true;
                assert_true(number(o, "calls_per_step") == 30); /* the step's products */
            }
        }
        assert_true(matmul);
        assert_true(total > 0 && total <= number(r, "p90_ms") * 1.5);
    }
    cJSON_Delete(doc);
    doc = bench("ner --steps 2 --warmup 0 --rounds 1 --seq 8 --batch 4", 2);
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(doc, "results"))
        assert_null(cJSON_GetObjectItemCaseSensitive(r, "ops"));
    assert_null(strstr(out, "--profile"));
    cJSON_Delete(doc);
}

/* A case without sized inputs runs on its own, with no FLOP count. */
static void test_own_inputs(void **state)
{
    (void)state;
    cJSON *doc = bench("mlp --steps 2 --warmup 0 --rounds 1", 2);
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(doc, "results")) {
        assert_int_equal((int)number(r, "seq"), 0);
        assert_true(number(r, "gflops") == 0);
    }
    cJSON_Delete(doc);
}

/* A graph mode that stops (the seed bug under strict) is exit 1, its reason one line
 * after the rounds' progress. */
static void test_trace_error(void **state)
{
    (void)state;
    assert_int_equal(tu_run_duet("bench ner-buggy-softmax --steps 1 --warmup 0 --rounds 1 --seq 8 "
                                 "--batch 2", "2>&1 >/dev/null", out, sizeof out),
                     1);
    const char *why = strstr(out, "duet bench: graph mode of ner-buggy-softmax: ");
    assert_non_null(why);
    assert_non_null(strstr(why, "Softmax.call"));
    assert_ptr_equal(strchr(why, '\n'), why + strlen(why) - 1);
}

static void test_bad_flags(void **state)
{
    (void)state;
    const char *bad[][2] = {
        {"bench", "missing CASE"},
        {"bench resnet", "no case named 'resnet'"},
        {"bench ner --seq 0", "--seq: expected an integer in 1..128, got '0'"},
        {"bench ner --seq 129", "--seq: expected an integer in 1..128, got '129'"},
        {"bench ner --seq 16,x", "--seq: expected an integer in 1..128, got 'x'"},
        {"bench ner --seq ,", "--seq: expected lengths like 40 or 16,40,128"},
        {"bench ner --steps 0", "--steps: expected an integer in 1..10000, got '0'"},
        {"bench ner --rounds 0", "--rounds: expected an integer in 1..100, got '0'"},
        {"bench ner --threads many", "--threads: expected an integer"},
        {"bench ner --steps", "--steps needs a value"},
        {"bench ner --frobnicate", "unknown flag '--frobnicate'"},
        {"bench ner extra", "unexpected argument 'extra'"},
        {"bench mlp --seq 8", "--seq: case 'mlp' runs on its own inputs"},
        {"bench mlp --infer", "--infer: case 'mlp' runs on its own inputs"},
        {"bench ner --json /nonexistent/b.json", "--json: /nonexistent/b.json"},
        {"bench ner --peer /nonexistent/peer.py", "--peer: cannot read '/nonexistent/peer.py'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = tu_run_duet(bad[i][0], "2>&1 >/dev/null", out, sizeof out);
        if (rc != 2 || !strstr(out, bad[i][1]) || strchr(out, '\n') != out + strlen(out) - 1)
            fail_msg("duet %s: exit %d, expected 2 and one line with \"%s\", got:\n%s", bad[i][0], rc,
                     bad[i][1], out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flop_count),
        cmocka_unit_test(test_ner_rows),
        cmocka_unit_test(test_profile),
        cmocka_unit_test(test_own_inputs),
        cmocka_unit_test(test_trace_error),
        cmocka_unit_test(test_bad_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
