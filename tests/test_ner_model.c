/* The NER model: eager/graph parity of whole training steps, the seed bug in both
 * modes, prediction, and saving/loading weights. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ner/model.h"
#include "ner/weights.h"
#include "testutil.h"

/* Ragged batches: each row has a random length, the rest is padding (id 0, tag 0). */
static void batch(duet_ctx *ctx, int b, int t, unsigned seed, int vocab, duet_tensor **tok,
                  duet_tensor **tag)
{
    int32_t *x = calloc((size_t)(b * t), sizeof *x), *y = calloc((size_t)(b * t), sizeof *y);
    uint32_t s = seed * 2654435761u + 7;
    for (int i = 0; i < b; i++) {
        s = s * 1664525u + 1013904223u;
        int len = 1 + (int)(s >> 8) % t;
        for (int j = 0; j < len; j++) {
            s = s * 1664525u + 1013904223u;
            x[i * t + j] = 1 + (int)((s >> 8) % (uint32_t)(vocab - 1));
            y[i * t + j] = 1 + x[i * t + j] % 9; /* learnable: the tag follows the token */
        }
    }
    *tok = duet_constant(ctx, DUET_I32, 2, (int64_t[]){b, t}, x);
    *tag = duet_constant(ctx, DUET_I32, 2, (int64_t[]){b, t}, y);
    free(x);
    free(y);
}

static ner_config small_config(bool buggy)
{
    ner_config c = ner_config_default();
    c.vocab = 300;
    c.buggy_softmax = buggy;
    return c;
}

static duet_policy train_policy = DUET_POLICY_STRICT; /* graph mode's, for train() */

static int train(duet_exec_mode mode, bool buggy, int steps, float *losses, duet_diag *diag)
{
    duet_ctx *ctx = duet_ctx_new();
    ner_model m;
    ner_config cfg = small_config(buggy);
    assert_int_equal(ner_model_init(ctx, &m, &cfg), 0);
    duet_fn *fn = duet_fn_new(ctx, "ner_train_step", ner_train_step, 2, 1, &m);
    duet_fn_set_mode(fn, mode);
    duet_fn_set_policy(fn, train_policy);
    assert_int_equal(duet_fn_relax(fn, "(B,T) (B,T)"), 0);
    int rc = 0;
    for (int s = 0; s < steps && !rc; s++) {
        duet_tensor *tok, *tag, *loss;
        batch(ctx, 8 - (s % 3), 5 + (s * 7) % 11, (unsigned)s, cfg.vocab, &tok, &tag);
        rc = duet_fn_call(fn, (duet_tensor *[]){tok, tag}, &loss);
        if (!rc) losses[s] = duet_get_f32(loss, 0);
        else if (diag) *diag = *duet_ctx_error(ctx);
        duet_ctx_reset(ctx);
    }
    int traces = duet_fn_trace_count(fn);
    duet_fn_free(fn);
    ner_model_free(&m);
    duet_ctx_free(ctx);
    return rc ? -1 : traces;
}

static void test_parity_eager_graph(void **state)
{
    (void)state;
    enum { STEPS = 50 };
    float le[STEPS], lg[STEPS];
    assert_int_equal(train(DUET_EAGER, false, STEPS, le, NULL), 0);
    /* the fixed model has no host read: every policy gives eager's losses, bit for
     * bit, from one trace (B, T relaxed) */
    const duet_policy policies[3] = {DUET_POLICY_STRICT, DUET_POLICY_SPECIALIZE, DUET_POLICY_GUARD};
    for (int p = 0; p < 3; p++) {
        train_policy = policies[p];
        assert_int_equal(train(DUET_GRAPH, false, STEPS, lg, NULL), 1);
        for (int s = 0; s < STEPS; s++)
            if (lg[s] != le[s])
                fail_msg("policy %d step %d: graph %.9g vs eager %.9g", p, s, lg[s], le[s]);
    }
    train_policy = DUET_POLICY_STRICT;
    assert_true(le[STEPS - 1] < le[0]);
}

/* The training step's graph after the passes (malloc'ed text). */
static char *step_graph(unsigned passes)
{
    duet_ctx *ctx = duet_ctx_new();
    ner_model m;
    ner_config cfg = small_config(false);
    assert_int_equal(ner_model_init(ctx, &m, &cfg), 0);
    duet_fn *fn = duet_fn_new(ctx, "ner_train_step", ner_train_step, 2, 1, &m);
    duet_fn_set_passes(fn, passes);
    assert_int_equal(duet_fn_relax(fn, "(B,T) (B,T)"), 0);
    duet_tensor *tok, *tag, *loss;
    batch(ctx, 4, 6, 1, cfg.vocab, &tok, &tag);
    assert_int_equal(duet_fn_call(fn, (duet_tensor *[]){tok, tag}, &loss), 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    duet_graph_print(f, duet_fn_graph(fn));
    fclose(f);
    duet_fn_free(fn);
    ner_model_free(&m);
    duet_ctx_free(ctx);
    return text;
}

/* Multi-head attention's 8 transposes between (B, T, H, D) and (B, H, T, D) (the
 * queries, keys, values and the weighted values, and their 4 gradients) all fold
 * into the products around them: 2 products read a and 6 read b through strides, 4
 * write their result so. The parity test shows the losses unchanged, bit for bit. */
static void test_attention_transposes_folded(void **state)
{
    (void)state;
    char *off = step_graph(DUET_PASS_ALL & ~DUET_PASS_LAYOUT);
    assert_int_equal(tu_count(off, "= transpose"), 8);
    assert_int_equal(tu_count(off, "_perm="), 0);
    free(off);
    char *on = step_graph(DUET_PASS_ALL);
    assert_int_equal(tu_count(on, "= transpose"), 0);
    assert_int_equal(tu_count(on, "a_perm=[0, 2, 1, 3]"), 2);
    assert_int_equal(tu_count(on, "b_perm=[0, 2, 1, 3]"), 6);
    assert_int_equal(tu_count(on, "out_perm=[0, 2, 1, 3]"), 4);
    free(on);
}

static void test_seed_bug(void **state)
{
    (void)state;
    enum { STEPS = 6 };
    float fixed[STEPS], buggy[STEPS];
    /* eagerly the buggy Softmax trains, and exactly like the fixed one */
    assert_int_equal(train(DUET_EAGER, false, STEPS, fixed, NULL), 0);
    assert_int_equal(train(DUET_EAGER, true, STEPS, buggy, NULL), 0);
    for (int s = 0; s < STEPS; s++) assert_true(fixed[s] == buggy[s]);
    /* traced under strict it stops with the diagnostic */
    duet_diag d;
    assert_int_equal(train(DUET_GRAPH, true, STEPS, buggy, &d), -1);
    assert_int_equal(d.code, DUET_ERR_HOST_BRANCH);
    assert_string_equal(d.scope, "ner_model/transformer_block/multi_head_attention/softmax");
    assert_string_equal(d.shape, "()");
    assert_string_equal(d.read_type, "bool ()");
    assert_string_equal(d.producer_inputs, "any(bool (None, 4, None, None))");
    assert_string_equal(d.layer_args, "Softmax.call(): inputs=f32 (None, 4, None, None), "
                                      "mask=bool (None, 4, None, None)");
    assert_string_equal(d.op, "DUET_BOOL");
    assert_string_equal(d.file, "cases/ner/model.c");
    assert_true(d.line > 0);
    assert_non_null(strstr(d.message, "Exception encountered when calling Softmax.call"));
    assert_non_null(strstr(d.fix, "duet_where(ctx, mask, scores"));
    /* the stack runs from the train step's call of the model down to the read */
    char last[64];
    snprintf(last, sizeof last, " (Softmax.call) > cases/ner/model.c:%d (DUET_BOOL)", d.line);
    const char *frames[] = {"cases/ner/model.c:", " (NERModel.call) > cases/ner/model.c:",
                            " (TransformerBlock.call) > engine/src/nn/attention.c:",
                            " (MultiHeadAttention.call) > engine/src/nn/attention.c:", last};
    const char *at = d.stack;
    for (int i = 0; i < 5; i++) {
        at = strstr(at, frames[i]);
        if (!at || (i == 0 && at != d.stack)) fail_msg("frame %d not in stack: %s", i, d.stack);
    }
}

static void test_save_load(void **state)
{
    (void)state;
    char path[] = "/tmp/duet_weights_XXXXXX", err[256];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    duet_ctx *a = duet_ctx_new(), *b = duet_ctx_new();
    ner_model ma, mb;
    ner_config ca = small_config(false), cb = small_config(false);
    cb.seed = 99; /* different initial weights */
    assert_int_equal(ner_model_init(a, &ma, &ca), 0);
    assert_int_equal(ner_model_init(b, &mb, &cb), 0);
    assert_int_equal(ner_save_weights(a, path, err, sizeof err), 0);
    assert_int_equal(ner_load_weights(b, path, false, err, sizeof err), 0);
    duet_tensor *tok, *tag, *ya, *yb;
    batch(a, 4, 6, 1, ca.vocab, &tok, &tag);
    ya = ner_model_forward(a, &ma, tok, duet_greater(a, tag, duet_scalar_i32(a, 0)), false);
    batch(b, 4, 6, 1, cb.vocab, &tok, &tag);
    yb = ner_model_forward(b, &mb, tok, duet_greater(b, tag, duet_scalar_i32(b, 0)), false);
    for (int64_t k = 0; k < duet_numel(ya); k++) assert_true(duet_get_f32(ya, k) == duet_get_f32(yb, k));
    /* a model of another shape refuses the file with a one-line reason */
    duet_ctx *c = duet_ctx_new();
    ner_model mc;
    ner_config cc = small_config(false);
    cc.vocab = 301;
    assert_int_equal(ner_model_init(c, &mc, &cc), 0);
    assert_int_equal(ner_load_weights(c, path, false, err, sizeof err), -1);
    assert_non_null(strstr(err, "token_emb/embeddings"));
    assert_int_equal(ner_load_weights(c, "/nonexistent/w.bin", false, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot open"));
    ner_model_free(&ma), ner_model_free(&mb), ner_model_free(&mc);
    duet_ctx_free(a), duet_ctx_free(b), duet_ctx_free(c);
    remove(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity_eager_graph),
        cmocka_unit_test(test_attention_transposes_folded),
        cmocka_unit_test(test_seed_bug),
        cmocka_unit_test(test_save_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
