/* The weights file (issue 11 #5, and #4's NaN weights): the layout of
 * docs/weights-format.md, written here independently of cases/ner/weights.c, and the
 * strict loader: every variable exactly once, no trailing bytes, the checksum, the
 * version, sane counters, finite values unless allowed, nothing changed on refusal. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ner/train.h"
#include "ner/weights.h"
#include "testutil.h"

static char out[1 << 16];

/* `$DUET_BIN ARGS` with the redirections in capture, its stdout into out */
static int run_duet(const char *args, const char *capture)
{
    return tu_run_duet(args, capture, out, sizeof out);
}

/* ---- a file, byte by byte, as docs/weights-format.md lays it out ---- */

typedef struct file {
    unsigned char b[4096];
    size_t n;
} file;

static void put(file *f, const void *p, size_t n)
{
    memcpy(f->b + f->n, p, n);
    f->n += n;
}

static void u32(file *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    put(f, b, 4);
}

static void header(file *f, uint32_t version, uint32_t count)
{
    f->n = 0;
    put(f, "DUETWTS\n", 8);
    u32(f, version);
    u32(f, count);
}

/* A 2-D f32 record (3, 2) of values v, or a scalar i32 record holding *counter. */
static void record(file *f, const char *name, const float *v, const int32_t *counter)
{
    u32(f, (uint32_t)strlen(name));
    put(f, name, strlen(name));
    u32(f, counter ? 1 : 0);
    u32(f, counter ? 0 : 2);
    if (!counter) {
        u32(f, 3), u32(f, 0), u32(f, 2), u32(f, 0); /* dims as u64 */
        for (int i = 0; i < 6; i++) {
            uint32_t w;
            memcpy(&w, &v[i], 4);
            u32(f, w);
        }
    } else {
        u32(f, (uint32_t)*counter);
    }
}

static void seal(file *f) { u32(f, ner_crc32(0, f->b, f->n)); }

static const float kernel[6] = {1, -2, 3, -4, 5, -6}, moment[6] = {0, 0.5f, 1, 2, 4, 8};
static const int32_t steps = 12;

/* The three variables of the test's context, whole. */
static void valid_file(file *f)
{
    header(f, 2, 3);
    record(f, "dense/kernel", kernel, NULL);
    record(f, "dense/kernel/v", moment, NULL);
    record(f, "adam/iterations", NULL, &steps);
    seal(f);
}

static duet_ctx *context(void)
{
    duet_ctx *ctx = duet_ctx_new();
    assert_non_null(duet_var_new(ctx, "dense/kernel", DUET_F32, 2, (int64_t[]){3, 2}));
    assert_non_null(duet_var_new(ctx, "dense/kernel/v", DUET_F32, 2, (int64_t[]){3, 2}));
    assert_non_null(duet_var_new(ctx, "adam/iterations", DUET_I32, 0, NULL));
    return ctx;
}

static char err[512];

static int load(duet_ctx *ctx, const file *f, bool allow_nonfinite)
{
    err[0] = 0;
    return ner_weights_decode(ctx, f->b, f->n, "w.bin", allow_nonfinite, err, sizeof err);
}

static void refused(duet_ctx *ctx, const file *f, const char *why)
{
    assert_int_equal(load(ctx, f, false), -1);
    if (!strstr(err, why)) fail_msg("expected '%s' in: %s", why, err);
    assert_null(strchr(err, '\n'));
    assert_true(!strncmp(err, "w.bin: ", 7));
    /* nothing changed: the variables still hold what the valid file put there */
    assert_true(duet_var_f32(duet_var_at(ctx, 0))[1] == -2.0f);
    assert_int_equal(duet_get_i32(duet_var_value(duet_var_at(ctx, 2)), 0), steps);
}

static void test_layout_and_round_trip(void **state)
{
    (void)state;
    duet_ctx *ctx = context();
    file f;
    valid_file(&f);
    assert_int_equal(load(ctx, &f, false), 0);
    for (int i = 0; i < 6; i++) assert_true(duet_var_f32(duet_var_at(ctx, 0))[i] == kernel[i]);
    assert_int_equal(duet_get_i32(duet_var_value(duet_var_at(ctx, 2)), 0), steps);
    /* the saver writes exactly the documented bytes */
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    assert_int_equal(ner_weights_encode(ctx, m), 0);
    fclose(m);
    assert_int_equal(len, f.n);
    assert_memory_equal(text, f.b, f.n);
    free(text);
    /* records may come in any order: they are found by name */
    header(&f, 2, 3);
    record(&f, "adam/iterations", NULL, &steps);
    record(&f, "dense/kernel/v", moment, NULL);
    record(&f, "dense/kernel", kernel, NULL);
    seal(&f);
    assert_int_equal(load(ctx, &f, false), 0);
    assert_int_equal(ner_crc32(0, "123456789", 9), 0xCBF43926u); /* CRC-32's check value */
    duet_ctx_free(ctx);
}

static void test_strict_loader(void **state)
{
    (void)state;
    duet_ctx *ctx = context();
    file f;
    valid_file(&f);
    assert_int_equal(load(ctx, &f, false), 0);

    header(&f, 2, 3); /* a variable twice, another missing */
    record(&f, "dense/kernel", kernel, NULL);
    record(&f, "dense/kernel", kernel, NULL);
    record(&f, "adam/iterations", NULL, &steps);
    seal(&f);
    refused(ctx, &f, "variable 'dense/kernel' appears twice (records 0 and 1)");

    header(&f, 2, 2);
    record(&f, "dense/kernel", kernel, NULL);
    record(&f, "adam/iterations", NULL, &steps);
    seal(&f);
    refused(ctx, &f, "holds 2 variables, this model has 3");

    header(&f, 2, 3);
    record(&f, "dense/kernel", kernel, NULL);
    record(&f, "dense/kernel/m", moment, NULL);
    record(&f, "adam/iterations", NULL, &steps);
    seal(&f);
    refused(ctx, &f, "variable 'dense/kernel/m' is not in this model");

    valid_file(&f); /* trailing bytes, checksum fixed so only they are wrong */
    f.n -= 4;
    put(&f, "xyz", 3);
    seal(&f);
    refused(ctx, &f, "3 bytes after the last variable");

    int32_t minus_one = -1;
    header(&f, 2, 3);
    record(&f, "dense/kernel", kernel, NULL);
    record(&f, "dense/kernel/v", moment, NULL);
    record(&f, "adam/iterations", NULL, &minus_one);
    seal(&f);
    refused(ctx, &f, "variable 'adam/iterations' is a step counter and holds -1");

    float negative[6] = {0, 0, -1, 0, 0, 0};
    header(&f, 2, 3);
    record(&f, "dense/kernel", kernel, NULL);
    record(&f, "dense/kernel/v", negative, NULL);
    record(&f, "adam/iterations", NULL, &steps);
    seal(&f);
    refused(ctx, &f, "'dense/kernel/v' is an Adam second moment and element 2 is -1");

    float nan_kernel[6] = {1, 2, NAN, 4, INFINITY, 6};
    header(&f, 2, 3);
    record(&f, "dense/kernel", nan_kernel, NULL);
    record(&f, "dense/kernel/v", moment, NULL);
    record(&f, "adam/iterations", NULL, &steps);
    seal(&f);
    refused(ctx, &f, "variable 'dense/kernel' element 2 is NaN (--allow-nonfinite accepts it)");
    assert_int_equal(load(ctx, &f, true), 0);
    assert_true(isnan(duet_var_f32(duet_var_at(ctx, 0))[2]));
    valid_file(&f);
    assert_int_equal(load(ctx, &f, false), 0);

    valid_file(&f);
    f.b[40] ^= 1; /* a flipped bit */
    refused(ctx, &f, "checksum mismatch (stored ");
    valid_file(&f);
    f.n -= 9;
    refused(ctx, &f, "checksum mismatch");
    f.n = 10;
    refused(ctx, &f, "cut off after 10 bytes");
    f.n = 3;
    refused(ctx, &f, "not a duet weights file");
    header(&f, 3, 3);
    seal(&f);
    refused(ctx, &f, "weights format version 3; this duet reads version 2");
    memcpy(f.b, "DUETW1\n\0", 8);
    refused(ctx, &f, "written by an older duet (weights format 1, no checksum)");

    float wide[6] = {0};
    header(&f, 2, 3);
    record(&f, "dense/kernel", wide, NULL);
    record(&f, "dense/kernel/v", moment, NULL);
    u32(&f, 15), put(&f, "adam/iterations", 15), u32(&f, 0), u32(&f, 0), u32(&f, 0);
    seal(&f);
    refused(ctx, &f, "variable 'adam/iterations' has a different dtype or shape in this model");
    duet_ctx_free(ctx);
}

static void test_files(void **state)
{
    (void)state;
    duet_ctx *ctx = context();
    char dir[32], path[512];
    tu_tmpdir(dir);
    assert_int_equal(ner_load_weights(ctx, dir, false, err, sizeof err), -1);
    assert_non_null(strstr(err, ": is a directory, not a weights file"));
    snprintf(path, sizeof path, "%s/w.bin", dir);
    assert_int_equal(ner_save_weights(ctx, path, err, sizeof err), 0);
    assert_int_equal(ner_load_weights(ctx, path, false, err, sizeof err), 0);
    FILE *f = fopen(path, "ab");
    for (int i = 0; i < 8192; i++) fputc(0, f);
    fclose(f);
    assert_int_equal(ner_load_weights(ctx, path, false, err, sizeof err), -1);
    assert_non_null(strstr(err, "bytes; a weights file of this model has"));
    tu_rm_rf(dir);
    duet_ctx_free(ctx);
}

static uint32_t le32(const unsigned char *b) { return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24; }

/* The file offset of the first value of the saved variable called name. */
static long value_of(const unsigned char *b, const char *name)
{
    for (long at = 16;;) {
        uint32_t len = le32(b + at), dtype = le32(b + at + 4 + len), rank = le32(b + at + 8 + len);
        long data = at + 12 + len + 8 * (long)rank, numel = 1;
        for (uint32_t d = 0; d < rank; d++) numel *= (long)le32(b + at + 12 + len + 8 * d);
        if (len == strlen(name) && !memcmp(b + at + 4, name, len)) return data;
        at = data + (dtype == 2 ? 1 : 4) * numel;
    }
}

/* issue 11 #4: NaN weights are refused; allowed, the first step's loss is NaN and
 * training stops with exit 1 naming the step; with --check-numerics both modes name
 * the same op at the same line. */
static void test_nan_weights_cli(void **state)
{
    (void)state;
    char dir[32], path[512], args[1024];
    tu_tmpdir(dir);
    snprintf(path, sizeof path, "%s/w.bin", dir);
    snprintf(args, sizeof args, "train ner --steps 1 --no-eval --quiet --save %s", path);
    assert_int_equal(run_duet(args, "2>&1"), 0);
    static unsigned char b[1 << 24];
    FILE *f = fopen(path, "rb");
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    float nan = NAN;
    /* the last layer's bias: every logit of tag 0 is NaN (a NaN before a relu would be
     * dropped by it, as fmaxf(NaN, 0) is 0) */
    memcpy(b + value_of(b, "ner_model/dense_final/bias"), &nan, 4);
    uint32_t crc = ner_crc32(0, b, n - 4);
    for (int k = 0; k < 4; k++) b[n - 4 + k] = (unsigned char)(crc >> (8 * k));
    f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);

    snprintf(args, sizeof args, "train ner --steps 3 --load %s", path);
    assert_int_equal(run_duet(args, "2>&1"), 2);
    assert_non_null(strstr(out, "element 0 is NaN (--allow-nonfinite accepts it)"));
    snprintf(args, sizeof args, "train ner --steps 3 --load %s --allow-nonfinite --log %s/log", path, dir);
    assert_int_equal(run_duet(args, "2>&1 >/dev/null"), 1);
    assert_string_equal(out, "duet train: step 1 (epoch 1, batch 1): the loss is NaN; training "
                                "stopped (rerun with --check-numerics to find the first op that "
                                "made a NaN or Inf)\n");
    char at[2][256], op[2][256];
    const char *modes[] = {"eager", "graph"};
    for (int m = 0; m < 2; m++) {
        snprintf(args, sizeof args, "train ner --steps 3 --load %s --allow-nonfinite --check-numerics --mode %s",
                 path, modes[m]);
        assert_int_equal(run_duet(args, "2>&1 >/dev/null"), 1);
        assert_non_null(strstr(out, "error: non-finite value: "));
        char *a = strstr(out, "\n  at:"), *o = strstr(out, "\n  op:");
        assert_non_null(a);
        assert_non_null(o);
        snprintf(at[m], sizeof at[m], "%.*s", (int)strcspn(a + 1, "\n"), a + 1);
        snprintf(op[m], sizeof op[m], "%.*s", (int)strcspn(o + 1, "\n"), o + 1);
    }
    assert_string_equal(at[0], at[1]);
    assert_string_equal(op[0], op[1]);
    /* the log holds the steps before the NaN (none here), and never a "loss":null */
    char log[512], text[4096];
    snprintf(log, sizeof log, "%s/log", dir);
    assert_int_equal(tu_read_file(log, text, sizeof text), 0);

    /* scoring NaN weights without training: the run stops, where it scored the padding
     * tag everywhere (78% token accuracy on CoNLL) */
    ner_run_opts o = ner_run_defaults();
    o.epochs = 0;
    o.synth_train = 64, o.synth_valid = 16;
    o.load_path = path;
    o.allow_nonfinite = true;
    ner_run_result r;
    assert_int_equal(ner_run(&o, &r), NER_RUN_DIAG);
    if (!strstr(r.error, "validation: the model's output for sentence 1 token 1 is NaN")) fail_msg("%s", r.error);
    ner_run_result_free(&r);
    tu_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_and_round_trip),
        cmocka_unit_test(test_strict_loader),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_nan_weights_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
