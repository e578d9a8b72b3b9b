/* The graph printers: attributes by name, outputs, baked and failed host reads,
 * fused bodies, DOT clusters. Each test traces a small function and reads its text. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define S(...) ((int64_t[]){__VA_ARGS__})

/* The text of a graph (opts NULL: the defaults); the caller frees it. */
static char *graph_text(const duet_graph *g)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    duet_graph_print(f, g);
    fclose(f);
    return text;
}

static void expect_in(const char *text, const char *needle)
{
    if (!strstr(text, needle)) fail_msg("expected \"%s\" in:\n%s", needle, text);
}

static void call_ok(duet_ctx *ctx, duet_fn *fn, duet_tensor **in, duet_tensor **out)
{
    int rc = duet_fn_call(fn, in, out);
    if (rc) duet_diag_print(stderr, duet_ctx_error(ctx));
    assert_int_equal(rc, 0);
}

/* ---- attributes by name ---- */

/* One op of each family that has attributes, on x (B, 4) f32 and ids (B,) i32. */
static void many_ops(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    duet_var *w = user;
    duet_tensor *x = in[0], *ids = in[1];
    duet_tensor *s = duet_sum(ctx, x, DUET_AXIS(1), true);
    duet_tensor *m = duet_max(ctx, x, 0, false);
    duet_tensor *mm = duet_matmul(ctx, x, duet_var_read(ctx, w), false, true);
    duet_tensor *sl = duet_slice(ctx, x, 1, 1, 3);
    duet_tensor *pd = duet_pad(ctx, sl, 1, 0, 2);
    duet_tensor *cc = duet_concat(ctx, (duet_tensor *[]){x, pd}, 2, 1);
    duet_tensor *rs = duet_reshape(ctx, cc, 2, S(-1, 4));
    duet_tensor *tr = duet_transpose(ctx, rs, (int[]){1, 0});
    duet_tensor *sm = duet_softmax(ctx, duet_pow_scalar(ctx, x, 2.0f), -1, NULL);
    duet_tensor *ln = duet_layer_norm(ctx, sm, duet_full(ctx, DUET_F32, 1, S(4), 1.0f),
                                      duet_full(ctx, DUET_F32, 1, S(4), 0.0f), 1e-6f);
    duet_tensor *oh = duet_one_hot(ctx, ids, 5);
    duet_tensor *ct = duet_cast(ctx, ids, DUET_F32);
    duet_tensor *dr = duet_dropout(ctx, ln, 0.25f, 7, duet_scalar_i32(ctx, 3), 2);
    out[0] = duet_add(ctx, duet_add(ctx, duet_sum(ctx, s, 0, false), duet_sum(ctx, m, 0, false)),
                      duet_add(ctx, duet_sum(ctx, mm, 0, false), duet_sum(ctx, tr, 0, false)));
    out[1] = duet_add(ctx, duet_sum(ctx, dr, 0, false),
                      duet_add(ctx, duet_sum(ctx, oh, 0, false), duet_sum(ctx, ct, 0, false)));
    duet_assign(ctx, w, duet_var_read(ctx, w));
}

static void test_attributes_by_name(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_var *w = duet_var_new(ctx, "dense/kernel", DUET_F32, 2, S(3, 4));
    duet_fn *fn = duet_fn_new(ctx, "many", many_ops, 2, 2, w);
    duet_fn_relax(fn, "(B,4) (B)");
    duet_fn_set_passes(fn, 0); /* every op as traced */
    duet_tensor *in[2] = {duet_full(ctx, DUET_F32, 2, S(2, 4), 0.5f),
                          duet_constant(ctx, DUET_I32, 1, S(2), (int32_t[]){1, 3})},
                *out[2];
    call_ok(ctx, fn, in, out);
    char *text = graph_text(duet_fn_graph(fn));
    expect_in(text, " = sum %0 axes=[1] keepdims    #");
    expect_in(text, " = max %0 axes=all    #");
    expect_in(text, " = var_read var=dense/kernel    #");
    expect_in(text, " trans_b    #");
    expect_in(text, " = slice %0 axis=1 start=1 stop=3    #");
    expect_in(text, " axis=1 before=0 after=2    #");
    expect_in(text, " axis=1    #");                 /* concat */
    expect_in(text, " shape=(-1, 4)    #");          /* reshape asks for -1 */
    expect_in(text, " perm=[1, 0]    #");
    expect_in(text, " exponent=2    #");
    expect_in(text, " = softmax ");
    expect_in(text, " eps=1e-06    #");
    expect_in(text, " = full value=1    #");
    expect_in(text, " depth=5    #");
    expect_in(text, " to=f32    #");
    expect_in(text, " rate=0.25 seed=7 stream=2    #");
    expect_in(text, " = constant value=3    #");
    expect_in(text, " = assign ");
    assert_null(strstr(text, " i=["));               /* no bare slots left */
    free(text);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

/* ---- outputs ---- */

/* y = x * 2 if sum(x) > 0 else x: specialized on a positive x, the other way round on
 * a negative one, where nothing is left to compute */
static void branchy(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_tensor *x = in[0];
    bool pos = DUET_BOOL(ctx, duet_greater(ctx, duet_sum(ctx, x, 0, false), duet_scalar(ctx, 0)));
    out[0] = pos ? duet_mul(ctx, x, duet_scalar(ctx, 2)) : x;
}

static void test_outputs_end_the_form(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "branchy", branchy, 1, 1, NULL);
    duet_fn_set_policy(fn, DUET_POLICY_SPECIALIZE);
    duet_tensor *x = duet_full(ctx, DUET_F32, 1, S(3), -1.0f), *y;
    call_ok(ctx, fn, &x, &y);
    char *text = graph_text(duet_fn_graph(fn));
    expect_in(text, "{ lambda %0:f32(3,) . let in ( %0 ) }\n"); /* empty: one line */
    free(text);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

/* Two results, and arguments listed in argument order even where the guards-first
 * pass has moved the second argument's placeholder ahead of the first's. */
static void two_results(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_tensor *flag = in[1];
    double scale = DUET_BOOL(ctx, duet_any(ctx, flag, 0, false)) ? 2 : 3;
    out[0] = duet_mul(ctx, in[0], duet_scalar(ctx, (float)scale));
    out[1] = duet_neg(ctx, in[0]);
}

static void test_outputs_and_argument_order(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "two", two_results, 2, 2, NULL);
    duet_fn_set_policy(fn, DUET_POLICY_GUARD);
    duet_tensor *in[2] = {duet_full(ctx, DUET_F32, 1, S(3), 1.0f),
                          duet_full(ctx, DUET_BOOL8, 1, S(3), 1.0f)},
                *out[2];
    call_ok(ctx, fn, in, out);
    char *text = graph_text(duet_fn_graph(fn));
    /* the guard and its flag run first, so the flag is %0 and x comes later */
    expect_in(text, "{ lambda %3:f32(3,) %0:bool(3,) . let\n");
    expect_in(text, "    %2:bool() = guard %1 DUET_BOOL==true ");
    expect_in(text, "    %5:f32(3,) = mul %3 %4 ");
    expect_in(text, "    %6:f32(3,) = neg %3 ");
    expect_in(text, "  in ( %5 %6 ) }\n");
    free(text);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attributes_by_name),
        cmocka_unit_test(test_outputs_end_the_form),
        cmocka_unit_test(test_outputs_and_argument_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
