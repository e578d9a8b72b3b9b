/* The graph printers: attributes by name, outputs, baked and failed host reads,
 * fused bodies, DOT clusters. Each test traces a small function and reads its text. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define S(...) ((int64_t[]){__VA_ARGS__})

/* The text of a graph (opts NULL: the defaults); the caller frees it. */
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
    char *text = tu_graph_text(duet_fn_graph(fn), false);
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

static void identity(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)ctx, (void)user;
    out[0] = in[0];
}

static void test_outputs_end_the_form(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "identity", identity, 1, 1, NULL);
    duet_tensor *x = duet_full(ctx, DUET_F32, 1, S(3), -1.0f), *y;
    call_ok(ctx, fn, &x, &y);
    char *text = tu_graph_text(duet_fn_graph(fn), false);
    assert_string_equal(text, "{ lambda %0:f32(3,) . let in ( %0 ) }\n"); /* nothing bound */
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
    char *text = tu_graph_text(duet_fn_graph(fn), false);
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

/* ---- baked and failed host reads ---- */

static int read_line; /* where the body below reads a host value */

/* y = x * 2 if sum(x) > 0 else x */
static void branchy(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_tensor *x = in[0], *sum = duet_sum(ctx, x, 0, false);
    read_line = __LINE__ + 1;
    bool pos = DUET_BOOL(ctx, duet_greater(ctx, sum, duet_scalar(ctx, 0)));
    out[0] = pos ? duet_mul(ctx, x, duet_scalar(ctx, 2)) : x;
}

/* Specialized on a negative x, nothing is left to compute, but the text says what was
 * decided where: the baked read stays among the nodes, naming the node read while the
 * graph has it (before dead-code elimination) and the value every call reuses. */
static void test_baked_read_marked(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *dump = open_memstream(&text, &len);
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "branchy", branchy, 1, 1, NULL);
    duet_fn_set_policy(fn, DUET_POLICY_SPECIALIZE);
    duet_fn_set_dump(fn, dump, DUET_DUMP_TRACE);
    duet_tensor *x = duet_full(ctx, DUET_F32, 1, S(3), -1.0f), *y;
    call_ok(ctx, fn, &x, &y);
    fclose(dump);
    char mark[256];
    snprintf(mark, sizeof mark,
             "    %%3:bool() = greater %%1 %%2    # - test_print_graph.c:%d\n"
             "    # baked: DUET_BOOL at tests/test_print_graph.c:%d on %%3 read false; "
             "every call reuses it\n  in ( %%0 ) }\n",
             read_line, read_line);
    expect_in(text, mark);
    free(text);
    text = tu_graph_text(duet_fn_graph(fn), false);
    snprintf(mark, sizeof mark,
             "{ lambda %%0:f32(3,) . let\n"
             "    # baked: DUET_BOOL at tests/test_print_graph.c:%d read false; every call "
             "reuses it\n  in ( %%0 ) }\n",
             read_line);
    assert_string_equal(text, mark);
    free(text);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

/* A mark stays before the first node that followed it when passes drop nodes. */
static void test_baked_mark_position_after_passes(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "branchy", branchy, 1, 1, NULL);
    duet_fn_set_policy(fn, DUET_POLICY_SPECIALIZE);
    duet_fn_set_passes(fn, DUET_PASS_ALL & ~DUET_PASS_FUSE);
    duet_tensor *x = duet_full(ctx, DUET_F32, 1, S(3), 1.0f), *y;
    call_ok(ctx, fn, &x, &y);
    char *text = tu_graph_text(duet_fn_graph(fn), false);
    char mark[256];
    snprintf(mark, sizeof mark,
             ". let\n    # baked: DUET_BOOL at tests/test_print_graph.c:%d read true; every call "
             "reuses it\n    %%1:f32() = constant value=2 ",
             read_line);
    expect_in(text, mark);
    expect_in(text, "    %2:f32(3,) = mul %0 %1 ");
    free(text);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

/* Strict stops at the read: the failed entry keeps its graph up to there, ending at
 * the mark, for the call that traced and for a later call that replays the entry. */
static void test_failed_trace_keeps_its_graph(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "branchy", branchy, 1, 1, NULL);
    duet_tensor *x = duet_full(ctx, DUET_F32, 1, S(3), 1.0f), *y;
    char expect[512];
    snprintf(expect, sizeof expect,
             "{ lambda %%0:f32(3,) . let\n"
             "    %%1:f32() = sum %%0 axes=all    # - test_print_graph.c:%d\n"
             "    %%2:f32() = constant value=0    # - test_print_graph.c:%d\n"
             "    %%3:bool() = greater %%1 %%2    # - test_print_graph.c:%d\n"
             "    !! DUET_BOOL at tests/test_print_graph.c:%d on %%3: stopped here\n"
             "  }\n",
             read_line - 2, read_line, read_line, read_line);
    for (int call = 0; call < 2; call++) {
        assert_int_equal(duet_fn_call(fn, &x, &y), -1);
        assert_int_equal(duet_ctx_status(ctx), DUET_ERR_HOST_BRANCH);
        assert_null(duet_fn_graph(fn));
        char *text = tu_graph_text(duet_fn_failed_graph(fn), false);
        assert_string_equal(text, expect);
        free(text);
        duet_ctx_clear_error(ctx);
    }
    assert_int_equal(duet_fn_trace_count(fn), 1); /* the second call replayed the entry */
    duet_fn_set_mode(fn, DUET_EAGER);
    call_ok(ctx, fn, &x, &y);
    assert_null(duet_fn_failed_graph(fn)); /* only the last call's */
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

/* A trace error that is not a host read is marked from its diagnostic. */
static void makes_a_variable(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_tensor *h = duet_neg(ctx, in[0]);
    read_line = __LINE__ + 1;
    duet_var *v = duet_var_new(ctx, "total", DUET_F32, 0, NULL);
    out[0] = v ? duet_add(ctx, h, duet_var_read(ctx, v)) : h;
}

static void test_failed_trace_error_marked(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "makes_a_variable", makes_a_variable, 1, 1, NULL);
    duet_tensor *x = duet_full(ctx, DUET_F32, 1, S(3), 1.0f), *y;
    assert_int_equal(duet_fn_call(fn, &x, &y), -1);
    assert_int_equal(duet_ctx_status(ctx), DUET_ERR_TRACE);
    char *text = tu_graph_text(duet_fn_failed_graph(fn), false), mark[128];
    expect_in(text, " = neg %0 ");
    snprintf(mark, sizeof mark,
             "    !! duet_var_new at tests/test_print_graph.c:%d: stopped here\n  }\n", read_line);
    expect_in(text, mark);
    free(text);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

/* ---- fused bodies ---- */

/* relu(x * w + b): one fused node of three members under the default passes */
static void dense_relu(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_scope_push(ctx, "dense");
    duet_tensor *h = duet_mul(ctx, in[0], in[1]);
    read_line = __LINE__ + 1;
    out[0] = duet_relu(ctx, duet_add(ctx, h, duet_scalar(ctx, 0.5f)));
    duet_scope_pop(ctx);
}

static void test_expand_fused(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "dense_relu", dense_relu, 2, 1, NULL);
    duet_tensor *in[2] = {duet_full(ctx, DUET_F32, 1, S(4), 1.0f),
                          duet_full(ctx, DUET_F32, 1, S(4), 2.0f)},
                *y;
    call_ok(ctx, fn, in, &y);
    char *text = NULL, expect[512];
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    duet_graph_write(f, duet_fn_graph(fn), (duet_graph_format){.expand_fused = true});
    fclose(f);
    snprintf(expect, sizeof expect,
             "    %%3:f32(4,) = fused %%0 %%1 %%2 ops=[mul, add, relu]    # dense test_print_graph.c:%d\n"
             "        %%3.0:f32(4,) = mul %%0 %%1    # dense test_print_graph.c:%d\n"
             "        %%3.1:f32(4,) = add %%3.0 %%2    # dense test_print_graph.c:%d\n"
             "        %%3 = relu %%3.1    # dense test_print_graph.c:%d\n"
             "  in ( %%3 ) }\n",
             read_line, read_line - 2, read_line, read_line);
    expect_in(text, expect);
    free(text);
    text = tu_graph_text(duet_fn_graph(fn), false); /* folded by default */
    assert_null(strstr(text, "%3.0"));
    free(text);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

/* ---- DOT ---- */

/* Nested scopes with a variable each, the middle one without nodes of its own. */
static void scoped(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    duet_var **v = user;
    duet_scope_push(ctx, "model");
    duet_scope_push(ctx, "block");
    duet_scope_push(ctx, "dense");
    duet_tensor *h = duet_mul(ctx, in[0], duet_var_read(ctx, v[0]));
    duet_scope_pop(ctx);
    duet_scope_push(ctx, "norm");
    h = duet_add(ctx, h, duet_var_read(ctx, v[1]));
    duet_scope_pop(ctx);
    duet_scope_pop(ctx);
    out[0] = duet_neg(ctx, h);
    duet_scope_pop(ctx);
}

static void test_dot_clusters(void **state)
{
    (void)state;
    duet_ctx *ctx = duet_ctx_new();
    duet_var *v[2] = {duet_var_new(ctx, "dense/w", DUET_F32, 1, S(2)),
                      duet_var_new(ctx, "norm/b", DUET_F32, 1, S(2))};
    duet_fn *fn = duet_fn_new(ctx, "scoped", scoped, 1, 1, v);
    duet_fn_set_passes(fn, DUET_PASS_ALL & ~DUET_PASS_FUSE);
    duet_tensor *x = duet_full(ctx, DUET_F32, 1, S(2), 1.0f), *y;
    call_ok(ctx, fn, &x, &y);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    duet_graph_dot(f, duet_fn_graph(fn));
    fclose(f);
    const char *model = strstr(text, "  subgraph cluster_0 {\n    label=\"model\";\n");
    const char *block = strstr(text, "    subgraph cluster_1 {\n      label=\"block\";\n");
    const char *dense = strstr(text, "      subgraph cluster_2 {\n        label=\"dense\";\n");
    const char *norm = strstr(text, "      subgraph cluster_3 {\n        label=\"norm\";\n");
    assert_true(model && block && dense && norm && model < block && block < dense && dense < norm);
    expect_in(text, "        n1 [label=\"%1 var_read var=dense/w\\nf32(2,)\\n");
    expect_in(text, "        n3 [label=\"%3 var_read var=norm/b\\nf32(2,)\\n");
    expect_in(text, "    n5 [label=\"%5 neg\\nf32(2,)\\n"); /* model's own, an output */
    expect_in(text, ", peripheries=2];\n");
    free(text);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

/* The dumps write DOT too, so a graph after any pass can be drawn. */
static void test_dump_as_dot(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    duet_ctx *ctx = duet_ctx_new();
    duet_fn *fn = duet_fn_new(ctx, "dense_relu", dense_relu, 2, 1, NULL);
    duet_fn_set_dump(fn, f, DUET_PASS_FUSE);
    duet_fn_set_dump_format(fn, (duet_graph_format){.dot = true});
    duet_tensor *in[2] = {duet_full(ctx, DUET_F32, 1, S(4), 1.0f),
                          duet_full(ctx, DUET_F32, 1, S(4), 2.0f)},
                *y;
    call_ok(ctx, fn, in, &y);
    fclose(f);
    expect_in(text, "# dense_relu: after fuse\ndigraph duet {\n");
    expect_in(text, "fused ops=[mul, add, relu]");
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
        cmocka_unit_test(test_baked_read_marked),
        cmocka_unit_test(test_baked_mark_position_after_passes),
        cmocka_unit_test(test_failed_trace_keeps_its_graph),
        cmocka_unit_test(test_failed_trace_error_marked),
        cmocka_unit_test(test_expand_fused),
        cmocka_unit_test(test_dot_clusters),
        cmocka_unit_test(test_dump_as_dot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
