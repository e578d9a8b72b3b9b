/* Diagnostics: what a strict host-read diagnostic says about the tensor read, its
 * producer and the layer call it happened in; fixes tailored to the producer; the
 * call-site stack through layer calls; composite ops named as called; cond
 * mismatches named as cond. */
#include <stdlib.h>
#include <string.h>

#include "duet/nn.h"
#include "testutil.h"

/* Traces body in graph mode under the strict policy with the given relaxation;
 * the call must fail, and the diagnostic is copied out. */
static duet_diag trace_fail(duet_fn_body body, void *user, int nin, duet_tensor **in,
                            const char *relax)
{
    duet_ctx *ctx = duet_ctx_new();
    duet_tensor *args[4], *y;
    for (int i = 0; i < nin; i++)
        args[i] = duet_constant(ctx, in[i]->dtype, in[i]->rank, in[i]->shape, in[i]->data);
    duet_fn *fn = duet_fn_new(ctx, "body", body, nin, 1, user);
    assert_int_equal(duet_fn_relax(fn, relax), 0);
    duet_fn_set_mode(fn, DUET_GRAPH);
    assert_int_equal(duet_fn_call(fn, args, &y), -1);
    duet_diag d = *duet_ctx_error(ctx);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
    return d;
}

/* scores (2, 4, 3, 3) f32 and mask (2, 4, 3, 3) bool, in an eager context that
 * outlives trace_fail's */
typedef struct inputs {
    duet_ctx *ctx;
    duet_tensor *t[2];
} inputs;

static inputs attention_inputs(void)
{
    inputs in = {.ctx = duet_ctx_new()};
    in.t[0] = duet_full(in.ctx, DUET_F32, 4, (int64_t[]){2, 4, 3, 3}, 0.5f);
    in.t[1] = duet_greater(in.ctx, in.t[0], duet_scalar(in.ctx, 0.0f));
    return in;
}

static const char *const attention_relax = "(B,4,T,T) (B,4,T,T)";

static int read_line;

/* A Softmax layer that asks the host whether anything is masked (the seed bug). */
static void masked_softmax_buggy(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out,
                                 void *user)
{
    (void)user;
    duet_scope_push_layer(ctx, "softmax", "Softmax");
    duet_scope_arg(ctx, "inputs", in[0]);
    duet_scope_arg(ctx, "mask", in[1]);
    read_line = __LINE__ + 1;
    bool masked = DUET_BOOL(ctx, duet_any(ctx, duet_logical_not(ctx, in[1]), 0, false));
    out[0] = duet_softmax(ctx, in[0], -1, masked ? in[1] : NULL);
    duet_scope_pop(ctx);
}

/* ---- item 1: the tensor read, its producer, the layer call's arguments ---- */

static void test_read_describes_read_tensor(void **state)
{
    (void)state;
    inputs in = attention_inputs();
    duet_diag d = trace_fail(masked_softmax_buggy, NULL, 2, in.t, attention_relax);
    assert_int_equal(d.code, DUET_ERR_HOST_BRANCH);
    /* the value read is the scalar any() returns, not the mask it reduced */
    assert_string_equal(d.shape, "()");
    assert_string_equal(d.read_type, "bool ()");
    assert_string_equal(d.producer, "any");
    assert_string_equal(d.producer_inputs, "any(bool (None, 4, None, None))");
    assert_non_null(strstr(d.message, "Exception encountered when calling Softmax.call: Using a "
                                      "symbolic tensor as a C bool is not allowed: DUET_BOOL of "
                                      "any (bool ())"));
    assert_string_equal(d.layer_args, "Softmax.call(): inputs=f32 (None, 4, None, None), "
                                      "mask=bool (None, 4, None, None)");
    assert_string_equal(d.file, "tests/test_diag.c");
    assert_int_equal(d.line, read_line);
    duet_ctx_free(in.ctx);
}

/* An absent optional argument reads "None"; a read outside layers lists none. */
static void read_outside_layers(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out,
                                void *user)
{
    (void)user;
    duet_scope_push(ctx, "plain");
    out[0] = in[0];
    if (DUET_BOOL(ctx, duet_any(ctx, in[1], 0, false))) out[0] = duet_neg(ctx, in[0]);
    duet_scope_pop(ctx);
}

static void read_in_layer_without_mask(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out,
                                       void *user)
{
    (void)user;
    duet_scope_push_layer(ctx, "softmax", "Softmax");
    duet_scope_arg(ctx, "inputs", in[0]);
    duet_scope_arg(ctx, "mask", NULL);
    duet_scope_push(ctx, "inner"); /* a plain scope inside the layer */
    out[0] = in[0];
    if (DUET_BOOL(ctx, duet_any(ctx, in[1], 0, false))) out[0] = duet_neg(ctx, in[0]);
    duet_scope_pop(ctx);
    duet_scope_pop(ctx);
}

static void test_layer_args_absent_and_outside(void **state)
{
    (void)state;
    inputs in = attention_inputs();
    duet_diag d = trace_fail(read_outside_layers, NULL, 2, in.t, attention_relax);
    assert_string_equal(d.layer_args, "");
    assert_string_equal(d.stack, "");
    assert_null(strstr(d.message, "Exception encountered"));
    d = trace_fail(read_in_layer_without_mask, NULL, 2, in.t, attention_relax);
    assert_string_equal(d.layer_args, "Softmax.call(): inputs=f32 (None, 4, None, None), mask=None");
    assert_string_equal(d.scope, "softmax/inner");
    duet_ctx_free(in.ctx);
}

/* A reset frees the step's tensors, so a layer call's arguments are forgotten. */
static void test_reset_forgets_layer_args(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_scope_push_layer(ctx, "dense", "Dense");
    duet_scope_arg(ctx, "inputs", duet_full(ctx, DUET_F32, 1, (int64_t[]){3}, 1.0f));
    duet_ctx_reset(ctx);
    duet_ctx_fail(ctx, DUET_ERR_ARG, "model code gave up");
    assert_string_equal(duet_ctx_error(ctx)->layer_args, "Dense.call():");
    duet_ctx_clear_error(ctx);
    duet_scope_arg(ctx, "inputs", duet_full(ctx, DUET_F32, 1, (int64_t[]){3}, 1.0f));
    duet_ctx_fail(ctx, DUET_ERR_ARG, "model code gave up");
    assert_string_equal(duet_ctx_error(ctx)->layer_args, "Dense.call(): inputs=f32 (3,)");
    duet_scope_pop(ctx);
    duet_ctx_free(ctx);
}

/* ---- item 2: the fix follows the producer ---- */

static void bool_of_threshold(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_tensor *big = duet_greater(ctx, duet_sum(ctx, in[0], 0, false), duet_scalar(ctx, 1.0f));
    out[0] = DUET_BOOL(ctx, big) ? duet_neg(ctx, in[0]) : in[0];
}

static void item_of_sum(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    float s = (float)DUET_ITEM(ctx, duet_sum(ctx, in[0], 0, false));
    out[0] = duet_mul(ctx, in[0], duet_scalar(ctx, s));
}

static void dim_of_input(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    int64_t n = DUET_DIM(ctx, in[0], 0);
    out[0] = duet_reshape(ctx, in[0], 1, (int64_t[]){n * 3});
}

static void test_fix_depends_on_producer(void **state)
{
    (void)state;
    inputs in = attention_inputs();
    duet_diag mask = trace_fail(masked_softmax_buggy, NULL, 2, in.t, attention_relax);
    duet_diag cmp = trace_fail(bool_of_threshold, NULL, 1, in.t, "(B,4,T,T)");
    duet_diag item = trace_fail(item_of_sum, NULL, 1, in.t, "(B,4,T,T)");
    duet_diag dim = trace_fail(dim_of_input, NULL, 1, in.t, "(B,4,T,T)");
    /* any() of a mask: apply the mask with a select, always */
    assert_non_null(strstr(mask.fix, "duet_where(ctx, mask, scores"));
    assert_non_null(strstr(mask.fix, "tf.where / keras.ops.where"));
    assert_null(strstr(mask.fix, "duet_cond"));
    /* a comparison with a threshold: select on the condition, or cond */
    assert_string_equal(cmp.producer_inputs, "greater(f32 (), f32 ())");
    assert_non_null(strstr(cmp.fix, "duet_where(ctx, cond, a, b)"));
    assert_non_null(strstr(cmp.fix, "duet_cond("));
    assert_non_null(strstr(cmp.fix, "tf.cond"));
    assert_non_null(strstr(cmp.fix, "jax.lax.cond"));
    assert_null(strstr(cmp.fix, "-1e9f"));
    /* a number stays a tensor; a dim stays a symbol */
    assert_non_null(strstr(item.fix, "keep the value a tensor"));
    assert_string_equal(item.op, "DUET_ITEM");
    assert_non_null(strstr(dim.fix, "t->shape[i]"));
    assert_string_equal(dim.read_type, "f32 (None, 4, None, None)");
    assert_string_equal(dim.producer_inputs, "placeholder"); /* a function input */
    assert_non_null(strstr(dim.message, "DUET_DIM(t, 0) of placeholder (f32 (None, 4, None, None))"));
    /* four different fixes, each naming the eager escape hatch's TensorFlow twin */
    const char *fixes[] = {mask.fix, cmp.fix, item.fix, dim.fix};
    for (int i = 0; i < 4; i++) {
        assert_non_null(strstr(fixes[i], "duet_ctx_run_functions_eagerly(ctx, true)"));
        assert_non_null(strstr(fixes[i], "tf.config.run_functions_eagerly(True)"));
        for (int j = 0; j < i; j++) assert_string_not_equal(fixes[i], fixes[j]);
    }
    duet_ctx_free(in.ctx);
}

/* ---- item 3: the call-site stack starts at the model's line ---- */

static int mha_line, dense_line;

static duet_tensor *softmax_buggy_impl(duet_site s, duet_ctx *ctx, duet_tensor *scores,
                                       duet_tensor *mask)
{
    duet_scope_push_layer_at(s, ctx, "softmax", "Softmax");
    duet_scope_arg(ctx, "inputs", scores);
    duet_scope_arg(ctx, "mask", mask);
    read_line = __LINE__ + 1;
    bool masked = DUET_BOOL(ctx, duet_any(ctx, duet_logical_not(ctx, mask), 0, false));
    duet_tensor *y = duet_softmax(ctx, scores, -1, masked ? mask : NULL);
    duet_scope_pop(ctx);
    return y;
}

/* x (B, T, 8), key mask (B, T) */
static void attention_model(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    mha_line = __LINE__ + 1;
    out[0] = duet_mha_call(ctx, user, in[0], in[1]);
}

static void test_stack_through_layers(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_nn nn;
    duet_nn_init(&nn, ctx, 1);
    duet_mha mha;
    assert_int_equal(duet_mha_init(&nn, &mha, "", 8, 2, 4), 0);
    mha.softmax = softmax_buggy_impl;
    duet_tensor *in[2];
    in[0] = duet_full(ctx, DUET_F32, 3, (int64_t[]){2, 5, 8}, 0.1f);
    in[1] = duet_greater(ctx, duet_full(ctx, DUET_I32, 2, (int64_t[]){2, 5}, 1.0f),
                         duet_scalar_i32(ctx, 0));
    duet_diag d = trace_fail(attention_model, &mha, 2, in, "(B,T,8) (B,T)");
    char first[64], last[64];
    snprintf(first, sizeof first, "tests/test_diag.c:%d (MultiHeadAttention.call) > ", mha_line);
    snprintf(last, sizeof last, " (Softmax.call) > tests/test_diag.c:%d (DUET_BOOL)", read_line);
    if (strncmp(d.stack, first, strlen(first)) || !strstr(d.stack, last) ||
        !strstr(d.stack, "> engine/src/nn/attention.c:"))
        fail_msg("stack: %s", d.stack);
    /* the read's own site stays in file and line */
    assert_string_equal(d.file, "tests/test_diag.c");
    assert_int_equal(d.line, read_line);
    assert_string_equal(d.layer_args,
                        "Softmax.call(): inputs=f32 (None, 2, None, None), mask=bool (None, 2, None, None)");
    /* printed as a stack: line */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    duet_diag_print(f, &d);
    fclose(f);
    assert_non_null(strstr(buf, "\n  stack:    tests/test_diag.c:"));
    assert_non_null(strstr(buf, "\n  tensor:   bool (), produced by any(bool (None, 2, None, None))\n"));
    assert_non_null(strstr(buf, "\n  args:     Arguments received by Softmax.call(): inputs="));
    free(buf);

    /* any error inside a layer call gets the stack: a shape error in Dense's matmul
     * is at layers.c, and the stack says which model line called the layer */
    duet_dense dense;
    assert_int_equal(duet_dense_init(&nn, &dense, "", "dense", 8, 4, DUET_ACT_NONE, 0, 0), 0);
    duet_tensor *wrong = duet_full(ctx, DUET_F32, 2, (int64_t[]){2, 3}, 1.0f);
    dense_line = __LINE__ + 1;
    assert_true(duet_is_poison(duet_dense_call(ctx, &dense, wrong)));
    const duet_diag *e = duet_ctx_error(ctx);
    assert_int_equal(e->code, DUET_ERR_SHAPE);
    assert_non_null(strstr(e->file, "engine/src/nn/layers.c"));
    snprintf(first, sizeof first, "tests/test_diag.c:%d (Dense.call) > engine/src/nn/layers.c:",
             dense_line);
    if (strncmp(e->stack, first, strlen(first)) || !strstr(e->stack, " (matmul)"))
        fail_msg("stack: %s", e->stack);
    assert_string_equal(e->layer_args, "Dense.call(): inputs=f32 (2, 3)");
    duet_ctx_free(ctx);
}

/* ---- item 4: a composite op is named as the user called it ---- */

static void item_of_mean(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    float m = (float)DUET_ITEM(ctx, duet_mean(ctx, in[0], 0, false));
    out[0] = duet_mul(ctx, in[0], duet_scalar(ctx, m));
}

static void bool_of_masked_softmax(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out,
                                   void *user)
{
    (void)user;
    duet_tensor *p = duet_softmax(ctx, in[0], -1, in[1]);
    out[0] = DUET_BOOL(ctx, p) ? p : in[0];
}

static void test_composite_named_as_called(void **state)
{
    (void)state;
    inputs in = attention_inputs();
    duet_diag d = trace_fail(item_of_mean, NULL, 1, in.t, "(B,4,T,T)");
    assert_string_equal(d.producer, "mean");
    assert_non_null(strstr(d.message, "DUET_ITEM of mean (f32 ())"));
    /* mean's x, reached through its sum and its size, is its one input */
    assert_string_equal(d.producer_inputs, "mean(f32 (None, 4, None, None))");
    /* a masked softmax's inputs are the scores and the mask, not its inner ops' */
    d = trace_fail(bool_of_masked_softmax, NULL, 2, in.t, attention_relax);
    assert_string_equal(d.producer_inputs,
                        "softmax(f32 (None, 4, None, None), bool (None, 4, None, None))");
    duet_ctx_free(in.ctx);
}

/* ---- item 5: a cond mismatch is reported against cond ---- */

static void then_vector(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    out[0] = duet_neg(ctx, in[0]);
}

static void else_scalar(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    out[0] = duet_sum(ctx, in[0], 0, false); /* the last op dispatched before the check */
}

static int cond_line;

static void mismatched_cond(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_tensor *pos = duet_greater(ctx, duet_sum(ctx, in[0], 0, false), duet_scalar(ctx, 0));
    cond_line = __LINE__ + 1;
    duet_cond(ctx, pos, then_vector, else_scalar, in, 1, out, 1, NULL);
}

static void test_cond_mismatch_names_cond(void **state)
{
    (void)state;
    inputs in = attention_inputs();
    duet_diag d = trace_fail(mismatched_cond, NULL, 1, in.t, "(B,4,T,T)");
    assert_int_equal(d.code, DUET_ERR_TRACE);
    assert_string_equal(d.op, "cond");
    assert_string_equal(d.file, "tests/test_diag.c");
    assert_int_equal(d.line, cond_line);
    assert_non_null(strstr(d.message, "else gives f32()"));
    /* eagerly too */
    duet_tensor *out;
    assert_int_equal(duet_cond(in.ctx, duet_scalar(in.ctx, 1.0f), then_vector, else_scalar, in.t,
                               1, &out, 1, NULL),
                     -1);
    tu_expect_error(in.ctx, DUET_ERR_ARG, "cond", "predicate must be a bool scalar");
    duet_ctx_free(in.ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_describes_read_tensor),
        cmocka_unit_test(test_layer_args_absent_and_outside),
        cmocka_unit_test(test_reset_forgets_layer_args),
        cmocka_unit_test(test_fix_depends_on_producer),
        cmocka_unit_test(test_stack_through_layers),
        cmocka_unit_test(test_composite_named_as_called),
        cmocka_unit_test(test_cond_mismatch_names_cond),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
