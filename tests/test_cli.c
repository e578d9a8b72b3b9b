/* The duet CLI as users and CI run it: exit codes, one-line errors, the step log,
 * the seed bug's diagnostic, saved weights. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static char out[1 << 16];

/* stdout and stderr together */
static int duet(const char *args) { return tu_run_duet(args, "2>&1", out, sizeof out); }

/* stderr only */
static int duet_stderr(const char *args) { return tu_run_duet(args, "2>&1 >/dev/null", out, sizeof out); }

/* Fails unless the doc (relative to the source tree) contains out exactly. */
static void assert_doc_shows(const char *doc, const char *what)
{
    const char *src = getenv("DUET_SOURCE_DIR");
    assert_non_null(src);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", src, doc);
    static char text[1 << 17];
    assert_true(tu_read_file(path, text, sizeof text) >= 0);
    if (!strstr(text, out)) fail_msg("%s does not show %s as printed:\n%s", doc, what, out);
}

static void test_help_version(void **state)
{
    (void)state;
    assert_int_equal(duet("--version"), 0);
    assert_non_null(strstr(out, "duet 0.1.0"));
    assert_int_equal(duet("--help"), 0);
    assert_non_null(strstr(out, "train"));
    assert_int_equal(duet("train --help"), 0);
    assert_non_null(strstr(out, "usage: duet train CASE"));
    /* issue 11 #9: --help after the model name, or anywhere, is the model's help */
    assert_int_equal(duet("train ner --help"), 0);
    assert_non_null(strstr(out, "--mode eager|graph"));
    assert_int_equal(duet("train ner --steps 3 -h"), 0);
    assert_non_null(strstr(out, "--check-numerics"));
    assert_int_equal(duet("run mlp --help"), 0);
    assert_non_null(strstr(out, "usage: duet run"));
    assert_int_equal(duet("trace mlp --dot --help"), 0);
    assert_non_null(strstr(out, "usage: duet trace"));
}

static void test_bad_flags(void **state)
{
    (void)state;
    const char *bad[][2] = {
        {"frobnicate", "unknown command 'frobnicate'"},
        {"train", "missing CASE"},
        {"train resnet", "no case named 'resnet'"},
        {"train mlp --mode lazy", "--mode: expected eager or graph, got 'lazy'"},
        {"train mlp --steps 0", "--steps: expected an integer in 1..512, got '0'"},
        {"trace resnet", "no case named 'resnet'"},
        {"trace mlp --policy yolo", "--policy: expected strict, specialize or guard, got 'yolo'"},
        {"list extra", "unexpected argument 'extra'"},
        {"run", "missing CASE or --all"},
        {"run resnet", "no case named 'resnet'"},
        {"run mlp --mode lazy", "--mode: expected eager, graph or both, got 'lazy'"},
        {"run mlp --policy yolo", "--policy: expected strict, specialize, guard or all"},
        {"run mlp --shard 3/2", "--shard: expected K/N with 1 <= K <= N, got '3/2'"},
        {"run mlp --rtol nan", "--rtol: expected a number"},
        {"run mlp --timeout 0", "--timeout: expected a number"},
        {"run mlp --frob", "unknown flag '--frob'"},
        {"train ner --epochs zero", "--epochs: expected an integer in 1..10000, got 'zero'"},
        {"train ner --epochs 0", "--epochs: expected an integer"},
        {"train ner --batch 99999999999999999999", "--batch: expected an integer"},
        {"train ner --mode lazy", "--mode: expected eager or graph, got 'lazy'"},
        {"train ner --policy yolo", "--policy: expected strict, specialize or guard"},
        {"train ner --steps", "--steps needs a value"},
        {"train ner --frob", "unknown option '--frob'"},
        {"train ner --data /nonexistent", "/nonexistent/train.txt: cannot open"},
        {"train ner --load /nonexistent.w --steps 1", "/nonexistent.w: cannot open"},
        /* issue 11 #9: conflicts are errors, values are strict */
        {"--version extra", "duet: --version takes no arguments, got 'extra'"},
        {"train ner --steps ' 5'", "--steps: expected an integer in 1..100000000, got ' 5'"},
        {"train ner --steps +5", "--steps: expected an integer in 1..100000000, got '+5'"},
        {"train ner --steps 5x", "--steps: expected an integer in 1..100000000, got '5x'"},
        {"train ner --steps=", "--steps needs a value"},
        {"train ner --data /tmp --synthetic", "--data and --synthetic conflict: choose one"},
        {"train ner --mode eager --mode graph", "duet train: --mode given twice"},
        {"train ner --mode=eager --mode graph", "duet train: --mode given twice"},
        {"train ner --data --quiet", "--data needs a value, got the flag '--quiet' (write --data=--quiet if that is the value)"},
        {"train ner --quiet=yes", "duet train: --quiet takes no value, got '--quiet=yes'"},
        {"train ner --allow-nonfinite", "--allow-nonfinite applies to --load, which is not given"},
        {"train ner --log /tmp/duet-same --save /tmp/duet-same", "--log and --save name the same file"},
        {"train ner --log /tmp/duet-same --load /tmp/duet-same", "--log names the --load file"},
        {"train mlp --steps 1 --steps 2", "duet train: --steps given twice"},
        {"run mlp --mode=lazy", "--mode: expected eager, graph or both, got 'lazy'"},
        {"run mlp --seed 1 --seed=2", "duet run: --seed given twice"},
        {"run mlp --rtol ' 1'", "--rtol: expected a number in 0..1e+30, got ' 1'"},
        {"compare mlp --steps=0", "--steps: expected an integer in 1..512, got '0'"},
        /* issue 11 #10: messages that say what is wrong */
        {"train ner --load /tmp --steps 1", "/tmp: is a directory, not a weights file"},
        {"train ner --log /nonexistent/x.jsonl", "duet train: --log: /nonexistent/x.jsonl: its directory is not there: No such file or directory"},
        {"train ner --save /nonexistent/w.bin", "duet train: --save: /nonexistent/w.bin: its directory is not there: No such file or directory"},
        {"train ner --log /tmp", "duet train: --log: /tmp: is a directory"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = duet(bad[i][0]);
        if (rc != 2 || !strstr(out, bad[i][1]) || tu_lines(out) != 1)
            fail_msg("duet %s: exit %d, output:\n%s", bad[i][0], rc, out);
    }
}

static void test_train_log_and_weights(void **state)
{
    (void)state;
    char dir[32], args[1024], path[512];
    tu_tmpdir(dir);
    snprintf(args, sizeof args, "train ner --steps 5 --no-eval --log %s/log.jsonl --save %s/w.bin",
             dir, dir);
    assert_int_equal(duet(args), 0);
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        cJSON *o = cJSON_Parse(line);
        assert_non_null(o);
        assert_int_equal(cJSON_GetObjectItem(o, "step")->valueint, n + 1);
        assert_true(cJSON_IsNumber(cJSON_GetObjectItem(o, "loss")));
        assert_true(cJSON_GetObjectItem(o, "ms")->valuedouble > 0);
        assert_int_equal(cJSON_GetObjectItem(o, "epoch")->valueint, 1);
        cJSON_Delete(o);
        n++;
    }
    fclose(f);
    assert_int_equal(n, 5);
    snprintf(args, sizeof args, "train ner --steps 1 --no-eval --load %s/w.bin", dir);
    assert_int_equal(duet(args), 0);
    tu_rm_rf(dir);
}

static void test_seed_bug_cli(void **state)
{
    (void)state;
    assert_int_equal(duet("train ner-buggy-softmax --mode eager --steps 3 --no-eval --quiet"), 0);
    assert_int_equal(duet("train ner-buggy-softmax --mode graph --steps 3 --no-eval --quiet"), 1);
    assert_non_null(strstr(out, "Exception encountered when calling Softmax.call"));
    assert_non_null(strstr(out, "scope:    ner_model/transformer_block/multi_head_attention/softmax"));
    assert_non_null(strstr(out, "DUET_BOOL of any (bool ())"));
    assert_non_null(strstr(out, "tensor:   bool (), produced by any(bool (None, 4, None, None))"));
    assert_non_null(strstr(out, "args:     Arguments received by Softmax.call(): inputs=f32 (None, "
                                "4, None, None), mask=bool (None, 4, None, None)"));
    assert_non_null(strstr(out, "stack:    cases/ner/model.c:"));
    assert_non_null(strstr(out, "fix:      any() of a mask"));
    assert_non_null(strstr(out, "\n  at:       cases/ner/model.c:")); /* relative to the tree */
    /* specialize bakes the branch in and runs */
    assert_int_equal(duet("train ner-buggy-softmax --mode graph --policy specialize --steps 3 --no-eval --quiet"), 0);
}

/* Graph-mode training says why it traced and what specialize baked in, on stderr. */
static void test_train_reports_traces_and_warnings(void **state)
{
    (void)state;
    assert_int_equal(duet_stderr("train ner-buggy-softmax --synthetic --mode graph --policy "
                                 "specialize --steps 2"), 0);
    assert_non_null(strstr(out, "traces: 1 (first call)\n")); /* relaxed dims stay symbolic */
    assert_null(strstr(out, "retrace"));
    assert_non_null(strstr(out, "\nwarning: specialize: DUET_BOOL at cases/ner/model.c:"));
    assert_non_null(strstr(out, " in ner_model/transformer_block/multi_head_attention/softmax was "
                                "baked into the graph as true"));
    /* one trace for every batch shape, nothing baked: just the count */
    assert_int_equal(duet_stderr("train ner --synthetic --mode graph --steps 2 --no-eval"), 0);
    assert_non_null(strstr(out, "traces: 1 (first call)\n"));
    assert_null(strstr(out, "retrace"));
    assert_null(strstr(out, "warning"));
    /* eager mode traces nothing; --quiet says nothing */
    assert_int_equal(duet_stderr("train ner --synthetic --mode eager --steps 2 --no-eval"), 0);
    assert_null(strstr(out, "traces:"));
    assert_int_equal(duet_stderr("train ner-buggy-softmax --synthetic --mode graph --policy "
                                 "specialize --steps 2 --no-eval --quiet"), 0);
    assert_string_equal(out, "");
}

/* The README and docs/graph-mode.md show the seed bug's diagnostic as it is printed. */
static void test_docs_show_real_diagnostic(void **state)
{
    (void)state;
    assert_int_equal(duet_stderr("trace ner-buggy-softmax"), 1); /* the graph goes to stdout */
    assert_doc_shows("README.md", "the seed bug's diagnostic");
    assert_doc_shows("docs/graph-mode.md", "the seed bug's diagnostic");
}

/* docs/graph-mode.md and the README show tensor-bool's graphs as duet trace prints them
 * (without its closing summary line). */
static void test_docs_show_real_graphs(void **state)
{
    (void)state;
    const struct {
        const char *args, *doc;
    } shown[] = {
        {"trace tensor-bool --policy guard", "docs/graph-mode.md"},
        {"trace tensor-bool --policy specialize", "docs/graph-mode.md"},
        {"trace tensor-bool", "docs/graph-mode.md"},
        {"trace tensor-bool", "README.md"},
    };
    for (size_t i = 0; i < sizeof shown / sizeof *shown; i++) {
        char args[128];
        snprintf(args, sizeof args, "%s 2>/dev/null | grep -v '^# '", shown[i].args);
        tu_run_duet(args, "", out, sizeof out);
        assert_doc_shows(shown[i].doc, shown[i].args);
    }
}

/* A run that stops keeps the log of the steps it ran, complete lines only: how far it
 * got is what a failed CI run needs (issue 11 #3). Nothing else is left behind. */
static void test_log_of_a_stopped_run(void **state)
{
    (void)state;
    char dir[32], args[1024], path[512], text[4096];
    tu_tmpdir(dir);
    snprintf(args, sizeof args, "train ner-buggy-softmax --steps 2 --log %s/log.jsonl", dir);
    assert_int_equal(duet(args), 1);
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    assert_int_equal(tu_read_file(path, text, sizeof text), 0); /* stopped at its first trace */
    snprintf(args, sizeof args, "ls -A %s", dir);
    FILE *p = popen(args, "r");
    assert_int_equal(fread(text, 1, sizeof text, p), strlen("log.jsonl\n"));
    pclose(p);
    tu_rm_rf(dir);
}

/* issue 11 #13: --flag=value everywhere, and a policy that does nothing says so */
static void test_flag_conventions(void **state)
{
    (void)state;
    assert_int_equal(duet("train ner --mode=eager --steps=2 --no-eval --quiet --seed=7"), 0);
    assert_int_equal(duet("train mlp --mode=eager --steps=1"), 0);
    assert_int_equal(duet("run mlp --mode=eager --steps=1"), 0);
    assert_int_equal(duet("trace mlp --policy=guard --after=fuse"), 0);
    assert_int_equal(duet("compare mlp --steps=2 --rtol=1e-4"), 0);
    assert_int_equal(duet_stderr("train ner --mode eager --policy specialize --steps 1 --no-eval --quiet"), 0);
    assert_string_equal(out, "duet train: note: --policy has no effect in eager mode (nothing is traced)\n");
    assert_int_equal(duet_stderr("train mlp --mode eager --policy guard --steps 1"), 0);
    assert_non_null(strstr(out, "--policy has no effect in eager mode"));
    assert_int_equal(duet_stderr("train ner --mode graph --policy specialize --steps 1 --no-eval --quiet"), 0);
    assert_null(strstr(out, "no effect"));
}

/* issue 11 #7: --shuffle --seed 0 shuffles: its first batch is another one */
static void test_shuffle_seed_zero(void **state)
{
    (void)state;
    char dir[32], args[1024], path[512], a[4096], b[4096];
    tu_tmpdir(dir);
    snprintf(args, sizeof args, "train ner --seed 0 --steps 1 --no-eval --quiet --log %s/a", dir);
    assert_int_equal(duet(args), 0);
    snprintf(args, sizeof args, "train ner --seed 0 --shuffle --steps 1 --no-eval --quiet --log %s/b", dir);
    assert_int_equal(duet(args), 0);
    snprintf(path, sizeof path, "%s/a", dir);
    assert_true(tu_read_file(path, a, sizeof a) > 0);
    snprintf(path, sizeof path, "%s/b", dir);
    assert_true(tu_read_file(path, b, sizeof b) > 0);
    *strstr(a, "\"ms\"") = 0, *strstr(b, "\"ms\"") = 0; /* the step's time always differs */
    if (!strcmp(a, b)) fail_msg("the same first step with and without --shuffle: %s", a);
    tu_rm_rf(dir);
}

/* A sentence of n tokens "w0 w1 ..." tagged O, then a blank line. */
static void append_sentence(char *text, size_t cap, int n)
{
    size_t len = strlen(text);
    for (int i = 0; i < n; i++) len += (size_t)snprintf(text + len, cap - len, "w%d O\n", i % 7);
    snprintf(text + len, cap - len, "\n");
}

/* issue 11 #6: long sentences are counted aloud, scored on every token, or refused */
static void test_long_sentences(void **state)
{
    (void)state;
    char dir[32], path[512], args[1024];
    static char text[1 << 16];
    tu_tmpdir(dir);
    text[0] = 0;
    append_sentence(text, sizeof text, 5);
    append_sentence(text, sizeof text, 200); /* lines 7..206 */
    append_sentence(text, sizeof text, 3);
    tu_write_file(dir, "train.txt", text, path, sizeof path);
    text[0] = 0;
    append_sentence(text, sizeof text, 4);
    append_sentence(text, sizeof text, 300);
    tu_write_file(dir, "valid.txt", text, path, sizeof path);
    snprintf(args, sizeof args, "train ner --data %s --steps 1 --quiet", dir);
    assert_int_equal(duet(args), 0);
    assert_non_null(strstr(out, "warning: 1 training sentences are longer than the model's 128 "
                                   "positions: 72 tokens past position 128 are not trained on "
                                   "(--strict refuses them)\n"));
    assert_non_null(strstr(out, "note: 1 validation sentences are longer than 128 tokens: "
                                   "they are scored on every token, in windows of 128\n"));
    assert_non_null(strstr(out, "processed 304 tokens")); /* 4 + 300: none dropped */
    snprintf(args, sizeof args, "train ner --data %s --steps 1 --strict", dir);
    assert_int_equal(duet(args), 2);
    assert_int_equal(tu_lines(out), 1);
    assert_non_null(strstr(out, "/train.txt:7: a sentence of 200 tokens is longer than the "
                                   "model's 128 positions (--strict)\n"));
    tu_rm_rf(dir);
}

/* issue 11 #8: out of memory is exit 3 and one line, said once */
static void test_out_of_memory(void **state)
{
    (void)state;
    assert_int_equal(duet("train ner --steps 1 --no-eval --mem-limit 4000000"), 3);
    assert_int_equal(tu_lines(out), 1);
    assert_non_null(strstr(out, "duet train: out of memory: "));
    assert_null(strstr(out, "out of memory: out of memory"));
    assert_int_equal(duet("train ner --mode eager --steps 1 --no-eval --mem-limit 20000000"), 3);
    assert_non_null(strstr(out, " at engine/src/")); /* in a step: the op and its site */
    assert_non_null(strstr(out, "duet train: out of memory: "));
    assert_int_equal(tu_lines(out), 1);
}

static void test_trace(void **state)
{
    (void)state;
    assert_int_equal(duet("trace mlp"), 0);
    assert_non_null(strstr(out, "{ lambda %0:f32(None, 2) %1:i32(None,) . let"));
    assert_non_null(strstr(out, "nodes after passes"));
    assert_int_equal(duet("trace ner --dot"), 0);
    assert_non_null(strstr(out, "digraph duet {"));
    assert_int_equal(duet("trace ner --after fuse"), 0);
    assert_non_null(strstr(out, "# ner: after fuse"));
    assert_non_null(strstr(out, "= fused"));
    /* the products of docs/graph-mode.md's layout example, as printed */
    assert_int_equal(duet("trace ner --after layout"), 0);
    assert_non_null(strstr(out, "# ner: after layout"));
    assert_non_null(strstr(out, "%26:f32(None, None, 4, 32) = mul %14 %25    #"));
    assert_non_null(strstr(out, "%27:f32(None, 4, None, None) = matmul %26 %19 trans_b "
                                "a_perm=[0, 2, 1, 3] b_perm=[0, 2, 1, 3]    #"));
    assert_non_null(strstr(out, "%31:f32(None, None, 4, 32) = matmul %30 %24 "
                                "b_perm=[0, 2, 1, 3] out_perm=[0, 2, 1, 3]    #"));
    assert_null(strstr(out, "= transpose"));
    assert_int_equal(duet("trace ner-buggy-softmax"), 1);
    assert_non_null(strstr(out, "(None, 4, None, None)"));
    assert_int_equal(duet("trace ner --after lunch"), 2);
    assert_int_equal(tu_lines(out), 1);
    /* --dot honours --after: the DOT of the graph right after that pass */
    assert_int_equal(duet("trace mlp --after cse --dot"), 0);
    assert_non_null(strstr(out, "# mlp: after cse\ndigraph duet {\n"));
    assert_null(strstr(out, "fused"));
    assert_non_null(strstr(out, "label=\"dense_1\";"));
    assert_int_equal(duet("trace mlp --expand-fused"), 0);
    assert_non_null(strstr(out, " = fused "));
    assert_non_null(strstr(out, ".0:f32("));
}

/* What a learner sees of each policy on the catalog's host reads: the graph a strict
 * trace built up to the read, marked where it stopped, before the diagnostic; the
 * read specialize baked in; the guard node that checks it. */
static void test_trace_shows_host_reads(void **state)
{
    (void)state;
    assert_int_equal(duet("trace tensor-bool"), 1);
    const char *stop = strstr(out, "    !! DUET_BOOL at cases/bugs/tensor_bool.c:22 on %3: stopped here\n  }\n");
    const char *diag = strstr(out, "error: host branch on a symbolic tensor");
    assert_non_null(strstr(out, "    %3:bool() = any %2 axes=all    #"));
    assert_true(stop && diag && stop < diag);
    assert_int_equal(duet("trace tensor-bool --policy specialize"), 0);
    assert_non_null(strstr(out, "    # baked: DUET_BOOL at cases/bugs/tensor_bool.c:22 read false; every call reuses it\n"));
    assert_int_equal(duet("trace tensor-bool --policy guard"), 0);
    assert_non_null(strstr(out, "= guard %2 DUET_BOOL==false    # - tensor_bool.c:22"));
    assert_int_equal(duet("trace item-branch --policy specialize --after trace"), 0);
    assert_non_null(strstr(out, "    # baked: DUET_ITEM at cases/bugs/item_branch.c:17 on %3 read "));
    assert_int_equal(duet("trace item-branch --policy guard"), 0);
    assert_non_null(strstr(out, " DUET_ITEM=="));
}

/* A malformed data file: one line naming file and line, exit 2. */
static void test_bad_data(void **state)
{
    (void)state;
    char dir[32], path[512], args[1024];
    tu_tmpdir(dir);
    tu_write_file(dir, "train.txt", "EU B-ORG\nrejects O\nGerman B-MSIC\n", path, sizeof path);
    tu_write_file(dir, "valid.txt", "EU B-ORG\n", path, sizeof path);
    snprintf(args, sizeof args, "train ner --data %s --steps 1", dir);
    assert_int_equal(duet(args), 2);
    assert_int_equal(tu_lines(out), 1);
    assert_non_null(strstr(out, "train.txt:3:"));
    assert_non_null(strstr(out, "B-MSIC"));
    /* issue 11 #10: control bytes in a tag are shown escaped; a stray CR is named */
    tu_write_file(dir, "train.txt", "EU B-ORG\x01\n", path, sizeof path);
    assert_int_equal(duet(args), 2);
    assert_non_null(strstr(out, "train.txt:1: unknown tag 'B-ORG\\x01' (expected"));
    tu_write_file(dir, "train.txt", "EU O\nrejects B-ORG\rX\n", path, sizeof path);
    assert_int_equal(duet(args), 2);
    assert_non_null(strstr(out, "train.txt:2: carriage return at byte 14 inside the line"));
    assert_int_equal(tu_lines(out), 1);
    tu_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_version),
        cmocka_unit_test(test_bad_flags),
        cmocka_unit_test(test_train_log_and_weights),
        cmocka_unit_test(test_seed_bug_cli),
        cmocka_unit_test(test_train_reports_traces_and_warnings),
        cmocka_unit_test(test_docs_show_real_diagnostic),
        cmocka_unit_test(test_log_of_a_stopped_run),
        cmocka_unit_test(test_flag_conventions),
        cmocka_unit_test(test_shuffle_seed_zero),
        cmocka_unit_test(test_long_sentences),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_trace),
        cmocka_unit_test(test_trace_shows_host_reads),
        cmocka_unit_test(test_docs_show_real_graphs),
        cmocka_unit_test(test_bad_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
