/* The layout pass: products that read transposed operands and write transposed
 * results through strides give the bits of eager mode's transposes and plain
 * products, with 1 and 2 threads; what folds and what stays; gradients. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const int HEADS[4] = {0, 2, 1, 3}; /* (B, T, H, D) <-> (B, H, T, D) */
static const int ROWS[3] = {1, 0, 2};     /* (T, B, D) <-> (B, T, D) */

/* ---- running a body eagerly and as a graph ---- */

typedef struct run_spec {
    duet_fn_body body;
    void *user;
    int nout;
    int rank[2];
    int64_t shape[2][DUET_MAX_RANK]; /* the inputs as stored */
} run_spec;

/* The body run once on seeded inputs, with `threads` threads: its outputs' values one
 * after another (malloc'ed; how many in *n), and in graph mode the graph's text. */
static float *run(const run_spec *s, duet_exec_mode mode, int threads, unsigned passes, int64_t *n,
                  char **text)
{
    duet_ctx *ctx = duet_ctx_new();
    assert_int_equal(duet_ctx_set_threads(ctx, threads), DUET_OK);
    duet_tensor *in[2], *out[2];
    for (int k = 0; k < 2; k++) {
        int64_t numel = 1;
        for (int i = 0; i < s->rank[k]; i++) numel *= s->shape[k][i];
        float *x = malloc(sizeof(float) * (size_t)numel);
        tu_fill(x, (int)numel, 17 + (unsigned)k, -1, 1);
        in[k] = duet_constant(ctx, DUET_F32, s->rank[k], s->shape[k], x);
        free(x);
    }
    duet_fn *fn = duet_fn_new(ctx, "layout", s->body, 2, s->nout, s->user);
    duet_fn_set_mode(fn, mode);
    duet_fn_set_passes(fn, passes);
    int rc = duet_fn_call(fn, in, out);
    if (rc) duet_diag_print(stderr, duet_ctx_error(ctx));
    assert_int_equal(rc, 0);
    *n = 0;
    for (int k = 0; k < s->nout; k++) *n += duet_numel(out[k]);
    float *vals = malloc(sizeof(float) * (size_t)*n), *at = vals;
    for (int k = 0; k < s->nout; k++) {
        memcpy(at, out[k]->data, sizeof(float) * (size_t)duet_numel(out[k]));
        at += duet_numel(out[k]);
    }
    if (text) *text = tu_graph_text(duet_fn_graph(fn), false);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
    return vals;
}

/* Eager and graph mode give the same bits with 1 and with 2 threads, and so do 1
 * and 2 threads; the graph's text after every pass (malloc'ed). */
static char *check_bits(const run_spec *s)
{
    char *text;
    int64_t n[4];
    float *e1 = run(s, DUET_EAGER, 1, DUET_PASS_ALL, &n[0], NULL);
    float *g1 = run(s, DUET_GRAPH, 1, DUET_PASS_ALL, &n[1], &text);
    float *e2 = run(s, DUET_EAGER, 2, DUET_PASS_ALL, &n[2], NULL);
    float *g2 = run(s, DUET_GRAPH, 2, DUET_PASS_ALL, &n[3], NULL);
    for (int k = 1; k < 4; k++) assert_int_equal(n[k], n[0]);
    size_t bytes = sizeof(float) * (size_t)n[0];
    if (memcmp(e1, g1, bytes) || memcmp(e2, g2, bytes))
        fail_msg("graph differs from eager; graph:\n%s", text);
    if (memcmp(g1, g2, bytes)) fail_msg("2 threads differ from 1; graph:\n%s", text);
    free(e1), free(g1), free(e2), free(g2);
    return text;
}

/* ---- a product between transposes and scalings ---- */

typedef struct layout_case {
    int nbatch_a, nbatch_b; /* batch dims of each operand */
    int64_t batch_a[2], batch_b[2];
    int64_t m, k, n;
    bool ta, tb;
    const int *pa, *pb, *pout; /* the transposes around the product, NULL for none */
    float scale_a, scale_out;  /* the scalings between, 0 for none */
} layout_case;

/* out = pout(scale_out * matmul(scale_a * pa(a), pb(b))) */
static void product_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    const layout_case *c = user;
    duet_tensor *x = c->pa ? duet_transpose(ctx, in[0], c->pa) : in[0];
    if (c->scale_a) x = duet_mul(ctx, x, duet_scalar(ctx, c->scale_a));
    duet_tensor *y = c->pb ? duet_transpose(ctx, in[1], c->pb) : in[1];
    duet_tensor *z = duet_matmul(ctx, x, y, c->ta, c->tb);
    if (c->scale_out) z = duet_mul(ctx, z, duet_scalar(ctx, c->scale_out));
    out[0] = c->pout ? duet_transpose(ctx, z, c->pout) : z;
}

/* Operand k as stored: its shape as the product reads it (rows by columns, swapped
 * when it is read transposed) through the inverse of its transpose. */
static int stored_shape(const layout_case *c, int k, int64_t *shape)
{
    int nb = k ? c->nbatch_b : c->nbatch_a;
    bool t = k ? c->tb : c->ta;
    int64_t read[DUET_MAX_RANK], rows = k ? c->k : c->m, cols = k ? c->n : c->k;
    memcpy(read, k ? c->batch_b : c->batch_a, sizeof(int64_t) * (size_t)nb);
    read[nb] = t ? cols : rows;
    read[nb + 1] = t ? rows : cols;
    const int *p = k ? c->pb : c->pa;
    for (int i = 0; i < nb + 2; i++) shape[p ? p[i] : i] = read[i];
    return nb + 2;
}

/* Bit-identical to eager mode, and folded: no transpose left, each one a perm. */
static void check_case(layout_case *c)
{
    run_spec s = {product_body, c, 1, {0}, {{0}}};
    for (int k = 0; k < 2; k++) s.rank[k] = stored_shape(c, k, s.shape[k]);
    char *text = check_bits(&s);
    if (tu_count(text, "= transpose") || tu_count(text, "a_perm=") != !!c->pa ||
        tu_count(text, "b_perm=") != !!c->pb || tu_count(text, "out_perm=") != !!c->pout)
        fail_msg("not folded as expected (ta %d tb %d):\n%s", c->ta, c->tb, text);
    free(text);
}

/* Each layout in turn, then all of them, then with scalings the transposes move
 * across, for the four transpositions. */
static void check_layouts(const layout_case *base, const int *pa, const int *pb, const int *pout)
{
    for (int t = 0; t < 4; t++) {
        layout_case c = *base;
        c.ta = t & 1, c.tb = t & 2;
        const int *alone[3][3] = {{pa, NULL, NULL}, {NULL, pb, NULL}, {NULL, NULL, pout}};
        for (int k = 0; k < 3; k++) {
            if (!alone[k][k]) continue;
            c.pa = alone[k][0], c.pb = alone[k][1], c.pout = alone[k][2];
            check_case(&c);
        }
        c.pa = pa, c.pb = pb, c.pout = pout;
        check_case(&c);
        c.scale_a = pa ? 0.37f : 0, c.scale_out = pout ? 1.7f : 0;
        check_case(&c);
    }
}

static void test_heads_layout(void **state)
{
    (void)state;
    /* odd sizes everywhere: (3, 5) batches of 13 x 9 by 9 x 11 */
    layout_case c = {2, 2, {3, 5}, {3, 5}, 13, 9, 11, false, false, NULL, NULL, NULL, 0, 0};
    check_layouts(&c, HEADS, HEADS, HEADS);
    /* a broadcast along the first batch dim of a */
    c.batch_a[0] = 1;
    check_layouts(&c, HEADS, HEADS, HEADS);
}

/* (T, B, D) read as (B, T, D) against a shared weight: the batches of a strided a (or
 * of a strided result) are not one tall matrix, so the product is not merged into
 * one over batch * T rows as a plain one is. */
static void test_rows_layout(void **state)
{
    (void)state;
    layout_case c = {1, 0, {4}, {0}, 7, 10, 6, false, false, NULL, NULL, NULL, 0, 0};
    check_layouts(&c, ROWS, NULL, ROWS);
    layout_case both = {1, 1, {4}, {4}, 7, 10, 6, false, false, NULL, NULL, NULL, 0, 0};
    check_layouts(&both, ROWS, ROWS, ROWS);
}

/* Big enough that the product splits into tasks over both threads, with depths over
 * one packed block (C accumulates) and columns over one (several strips). */
static void test_threads_and_blocks(void **state)
{
    (void)state;
    layout_case c = {2, 2, {2, 3}, {2, 3}, 37, 300, 150, false, false, NULL, NULL, NULL, 0, 0};
    for (int t = 0; t < 4; t++) {
        c.ta = t & 1, c.tb = t & 2;
        c.pa = c.pb = c.pout = HEADS;
        check_case(&c);
    }
}

/* ---- what stays a transpose ---- */

typedef enum {
    KEEP_READ_TWICE,
    KEEP_LAST_AXIS,
    KEEP_PRODUCT_READ_TWICE,
    KEEP_SCALED_READ
} keep_kind;

static void keep_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    keep_kind k = *(const keep_kind *)user;
    duet_tensor *x = duet_transpose(ctx, in[0], HEADS);
    if (k == KEEP_SCALED_READ) x = duet_mul(ctx, x, duet_scalar(ctx, 0.5f));
    duet_tensor *p = duet_matmul(ctx, x, in[1], false, true);
    out[0] = p, out[1] = x; /* KEEP_READ_TWICE, KEEP_SCALED_READ: x is read by an output */
    if (k == KEEP_LAST_AXIS) {
        out[0] = duet_transpose(ctx, p, (int[]){0, 1, 3, 2});
        out[1] = duet_sum(ctx, in[1], 0, false);
    } else if (k == KEEP_PRODUCT_READ_TWICE) {
        out[0] = duet_transpose(ctx, p, HEADS);
        out[1] = duet_sum(ctx, p, 0, false);
    }
}

/* A transpose another node reads stays for it (the product still reads through
 * strides); a result transpose that moves the last axis, or of a product read twice,
 * stays; a scaling read by more than products does not move. Same bits throughout. */
static void test_what_stays(void **state)
{
    (void)state;
    static const struct { keep_kind kind; int transposes; const char *perm; } cases[] = {
        {KEEP_READ_TWICE, 1, "a_perm="},
        {KEEP_LAST_AXIS, 1, "a_perm="},
        {KEEP_PRODUCT_READ_TWICE, 1, "a_perm="},
        {KEEP_SCALED_READ, 1, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        keep_kind kind = cases[i].kind;
        run_spec s = {keep_body, &kind, 2, {4, 4}, {{2, 5, 3, 4}, {2, 3, 6, 4}}};
        char *text = check_bits(&s);
        if (tu_count(text, "= transpose") != cases[i].transposes ||
            (cases[i].perm && !tu_count(text, cases[i].perm)) || tu_count(text, "out_perm="))
            fail_msg("case %zu:\n%s", i, text);
        free(text);
    }
}

/* Between two products: matmul(transpose(scale * matmul(x, y)), w). The scaling moves
 * after the transpose, which then folds into the first product's result (results
 * fold first), not into the second product's operand; and the two move rules do not
 * undo each other (the pass ends). */
static void chain_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_tensor *p = duet_matmul(ctx, in[0], in[1], false, false);
    duet_tensor *t = duet_transpose(ctx, duet_mul(ctx, p, duet_scalar(ctx, 0.37f)), HEADS);
    duet_tensor *w = duet_full(ctx, DUET_F32, 2, (int64_t[]){11, 6}, 0.25f);
    out[0] = duet_matmul(ctx, t, w, false, false);
}

static void test_between_products(void **state)
{
    (void)state;
    run_spec s = {chain_body, NULL, 1, {4, 4}, {{3, 5, 13, 9}, {3, 5, 9, 11}}};
    char *text = check_bits(&s);
    if (tu_count(text, "= transpose") || tu_count(text, "out_perm=[0, 2, 1, 3]") != 1 ||
        tu_count(text, "a_perm=") || tu_count(text, "= mul") != 1)
        fail_msg("not folded as expected:\n%s", text);
    free(text);
}

/* ---- the pass in the pass table ---- */

static void test_pass_switch_and_dump(void **state)
{
    (void)state;
    assert_string_equal(duet_pass_name(DUET_PASS_LAYOUT), "layout");
    assert_int_equal(duet_pass_parse("layout"), DUET_PASS_LAYOUT);
    assert_true(DUET_PASS_ALL & DUET_PASS_LAYOUT);
    layout_case c = {2, 2, {3, 5}, {3, 5}, 13, 9, 11, false, true, HEADS, HEADS, HEADS, 0, 0};
    run_spec s = {product_body, &c, 1, {0}, {{0}}};
    for (int k = 0; k < 2; k++) s.rank[k] = stored_shape(&c, k, s.shape[k]);
    int64_t n;
    char *text;
    free(run(&s, DUET_GRAPH, 1, DUET_PASS_ALL & ~DUET_PASS_LAYOUT, &n, &text));
    assert_int_equal(tu_count(text, "= transpose"), 3); /* off: nothing folds */
    assert_int_equal(tu_count(text, "_perm="), 0);
    free(text);
    /* the dump after the pass shows the strided product */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    duet_ctx *ctx = duet_ctx_new();
    duet_tensor *in[2], *out;
    for (int k = 0; k < 2; k++) in[k] = duet_full(ctx, DUET_F32, s.rank[k], s.shape[k], 0.5f);
    duet_fn *fn = duet_fn_new(ctx, "layout", product_body, 2, 1, &c);
    duet_fn_set_dump(fn, f, DUET_PASS_LAYOUT);
    assert_int_equal(duet_fn_call(fn, in, &out), 0);
    fclose(f);
    assert_int_equal(tu_count(buf, "= transpose"), 0);
    assert_int_equal(tu_count(buf, " trans_b a_perm=[0, 2, 1, 3] b_perm=[0, 2, 1, 3] "
                                "out_perm=[0, 2, 1, 3]"), 1);
    free(buf);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

/* ---- gradients ---- */

static duet_tensor *grad_body(duet_ctx *ctx, duet_tensor **in, void *user)
{
    duet_tensor *out;
    product_body(ctx, in, &out, user);
    return out;
}

/* The gradient's products read and write through strides as well (the traced step
 * folds them): same bits as eager, and both match finite differences. */
static void test_gradients(void **state)
{
    (void)state;
    for (int t = 0; t < 4; t++) {
        layout_case c = {2, 2, {2, 3}, {2, 3}, 3, 4, 5, t & 1, t & 2,
                         HEADS, HEADS, HEADS, 0.37f, 1.7f};
        tu_input in[2] = {{DUET_F32, 0, {0}, NULL, true}, {DUET_F32, 0, {0}, NULL, true}};
        float a[72], b[120]; /* (2, 3) batches of 3 x 4 and 4 x 5 */
        for (int k = 0; k < 2; k++) in[k].rank = stored_shape(&c, k, in[k].shape);
        tu_fill(a, 72, 5, -1, 1);
        tu_fill(b, 120, 6, -1, 1);
        in[0].data = a, in[1].data = b;
        tu_check_grad(grad_body, &c, in, 2, 1e-2, 1e-3, 1e-2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heads_layout),
        cmocka_unit_test(test_rows_layout),
        cmocka_unit_test(test_threads_and_blocks),
        cmocka_unit_test(test_what_stays),
        cmocka_unit_test(test_between_products),
        cmocka_unit_test(test_pass_switch_and_dump),
        cmocka_unit_test(test_gradients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
