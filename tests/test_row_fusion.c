/* Row fusion (engine/src/fuse_rows.c): the NER step's layer-norm backward becomes one
 * fused_rows node per layer norm, and fused graphs give the bits of the unfused graph
 * and of eager mode: on random inputs, with odd row lengths, rows of length 1, NaN and
 * Inf, unknown dims (the row length too), and for 1 and 2 threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "duet/grad.h"
#include "ner/model.h"
#include "testutil.h"

#include "../engine/src/internal.h" /* duet_pool_force_split, duet_pool_jobs */

/* Nodes whose line mentions needle ("" for all), fused members not counted. */
static int count_nodes(const char *text, const char *needle)
{
    int n = 0;
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[1024];
        snprintf(buf, sizeof buf, "%.*s", (int)len, line);
        n += !strncmp(buf, "    %", 5) && strstr(buf, needle) != NULL;
        line = end ? end + 1 : NULL;
    }
    return n;
}

/* ---- the NER layer-norm backward ---- */

/* The NER training step traced (B, T relaxed) with these passes; its graph's text. */
static char *ner_graph(unsigned passes)
{
    duet_ctx *ctx = duet_ctx_new();
    ner_model m;
    ner_config cfg = ner_config_default();
    cfg.vocab = 300;
    assert_int_equal(ner_model_init(ctx, &m, &cfg), 0);
    duet_fn *fn = duet_fn_new(ctx, "ner_train_step", ner_train_step, 2, 1, &m);
    duet_fn_set_passes(fn, passes);
    assert_int_equal(duet_fn_relax(fn, "(B,T) (B,T)"), 0);
    int32_t tok[4 * 7], tag[4 * 7];
    for (int i = 0; i < 4 * 7; i++) tok[i] = 1 + i % 50, tag[i] = 1 + i % 9;
    duet_tensor *in[2] = {duet_constant(ctx, DUET_I32, 2, (int64_t[]){4, 7}, tok),
                          duet_constant(ctx, DUET_I32, 2, (int64_t[]){4, 7}, tag)},
                *loss;
    assert_int_equal(duet_fn_call(fn, in, &loss), 0);
    char *text = tu_graph_text(duet_fn_graph(fn), false);
    duet_fn_free(fn);
    ner_model_free(&m);
    duet_ctx_free(ctx);
    return text;
}

/* Each layer norm's backward (x - mean, var, rstd, xhat, dgamma's product, dx, and the
 * dropout after it) was 25 row-local nodes of mixed shapes, (B, T, 32), (B, T, 1),
 * (32,) and scalars; now it is one fused_rows node writing the 3 values read outside
 * (gy * xhat for sum_to, dx, and dx times the dropout mask). */
static void test_ner_layer_norm_backward_fused(void **state)
{
    (void)state;
    const char *ln_bwd = "ops=[sum, size, div, sub, mul, sum, size, div, add, rsqrt, mul, mul, "
                         "mul, sum, size, div, mul, sum, size, div, mul, sub, sub, mul, mul]";
    char *unfused = ner_graph(DUET_PASS_ALL & ~DUET_PASS_FUSE);
    char *fused = ner_graph(DUET_PASS_ALL);
    /* before: 4 row sums and 4 sizes a layer norm */
    assert_int_equal(count_nodes(unfused, "keepdims"), 8);
    assert_int_equal(count_nodes(unfused, "= size"), 8);
    /* after: no row sum, size or mean is left outside a fused node */
    assert_int_equal(count_nodes(fused, "keepdims"), 0);
    assert_int_equal(count_nodes(fused, "= size"), 0);
    assert_int_equal(count_nodes(fused, ln_bwd), 2);
    /* and dense_ff's bias add, relu and dropout, whose sum and product are read */
    assert_int_equal(count_nodes(fused, "= fused_out"), 2 * 3 + 2);
    /* the layer norms' gradient nodes, and their eps: 26 each before; after, the 2
     * sum_to and 2 fused_out (the fused_rows node and its third output have the scope
     * of its last member, the dropout's gradient) */
    const char *scope = "grad of ner_model/transformer_block/layer_normalization";
    assert_int_equal(count_nodes(unfused, scope), 2 * 26 + 1);
    assert_int_equal(count_nodes(fused, scope), 2 * 4 + 1);
    int before = count_nodes(unfused, ""), after = count_nodes(fused, "");
    print_message("NER step: %d nodes without the fuse pass, %d with it\n", before, after);
    assert_true(after <= before - 2 * 20);
    free(unfused), free(fused);
}

/* ---- bits: layer norm gradients, eager vs graph fused vs graph unfused ---- */

typedef struct ln_case {
    int rank;
    int64_t shape[3];
} ln_case;

typedef struct ln_vars {
    duet_var *x, *gamma, *beta;
} ln_vars;

/* loss = sum(w * layer_norm(x, gamma, beta)); its gradients for x, gamma and beta */
static void ln_grads(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    ln_vars *v = user;
    duet_tensor *y = duet_layer_norm(ctx, duet_var_read(ctx, v->x), duet_var_read(ctx, v->gamma),
                                     duet_var_read(ctx, v->beta), 1e-3f);
    duet_tensor *loss = duet_sum(ctx, duet_mul(ctx, in[0], y), 0, false);
    duet_grad(ctx, loss, (duet_var *[]){v->x, v->gamma, v->beta}, 3, out);
}

/* Pseudo-random values, with a NaN, an Inf and a -Inf in rows 1, 2 and 3 when there
 * are that many rows. */
static void fill_special(float *x, int64_t n, int64_t row, unsigned seed, bool special)
{
    tu_fill(x, (int)n, seed, -2.0f, 2.0f);
    if (!special) return;
    const float s[3] = {NAN, INFINITY, -INFINITY};
    for (int k = 0; k < 3; k++)
        if ((k + 1) * row < n) x[(k + 1) * row + (k * 7) % row] = s[k];
}

static int64_t numel(int rank, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < rank; d++) n *= shape[d];
    return n;
}

/* The three gradients, in one mode (passes ~0u: eager), into g[0..2]. */
static void ln_run(const ln_case *c, unsigned passes, int threads, bool special, float **g,
                   char **text)
{
    duet_ctx *ctx = duet_ctx_new();
    assert_int_equal(duet_ctx_set_threads(ctx, threads), DUET_OK);
    int64_t cols = c->shape[c->rank - 1], n = numel(c->rank, c->shape);
    ln_vars v = {duet_var_new(ctx, "x", DUET_F32, c->rank, c->shape),
                 duet_var_new(ctx, "gamma", DUET_F32, 1, &cols),
                 duet_var_new(ctx, "beta", DUET_F32, 1, &cols)};
    fill_special(duet_var_f32(v.x), n, cols, 1, special);
    tu_fill(duet_var_f32(v.gamma), (int)cols, 2, 0.5f, 1.5f);
    tu_fill(duet_var_f32(v.beta), (int)cols, 3, -1.0f, 1.0f);
    float *w = malloc(sizeof *w * (size_t)n);
    fill_special(w, n, cols, 4, special);
    duet_fn *fn = duet_fn_new(ctx, "ln_grads", ln_grads, 1, 3, &v);
    duet_fn_set_mode(fn, passes == ~0u ? DUET_EAGER : DUET_GRAPH);
    if (passes != ~0u) duet_fn_set_passes(fn, passes);
    duet_tensor *in = duet_constant(ctx, DUET_F32, c->rank, c->shape, w), *out[3];
    int rc = duet_fn_call(fn, &in, out);
    if (rc) duet_diag_print(stderr, duet_ctx_error(ctx));
    assert_int_equal(rc, 0);
    int64_t len[3] = {n, cols, cols};
    for (int k = 0; k < 3; k++) {
        g[k] = malloc(sizeof(float) * (size_t)len[k]);
        memcpy(g[k], out[k]->data, sizeof(float) * (size_t)len[k]);
    }
    if (text) *text = tu_graph_text(duet_fn_graph(fn), true);
    free(w);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

static void expect_same_bits(const float *a, const float *b, int64_t n, const char *what)
{
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof *a))
            fail_msg("%s: element %lld differs: %.9g vs %.9g", what, (long long)i, (double)a[i],
                     (double)b[i]);
}

static void test_layer_norm_gradients_bit_identical(void **state)
{
    (void)state;
    const ln_case cases[] = {
        {2, {6, 1}},     {2, {5, 3}},    {2, {9, 7}},    {3, {2, 5, 32}}, {3, {3, 4, 33}},
        {2, {1, 37}},    {2, {300, 37}}, {2, {3, 1500}}, {3, {2, 1, 1}},  {2, {40, 64}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        for (int special = 0; special < 2; special++) {
            const ln_case *c = &cases[i];
            int64_t cols = c->shape[c->rank - 1], len[3] = {numel(c->rank, c->shape), cols, cols};
            float *eager[3], *fused[3], *unfused[3];
            char *text;
            ln_run(c, ~0u, 1, special, eager, NULL);
            ln_run(c, DUET_PASS_ALL, 1, special, fused, &text);
            ln_run(c, DUET_PASS_ALL & ~DUET_PASS_FUSE, 1, special, unfused, NULL);
            if (!strstr(text, "= fused_rows") || !strstr(text, "= sum %"))
                fail_msg("case %zu: the backward was not row-fused:\n%s", i, text);
            for (int k = 0; k < 3; k++) {
                char what[96];
                snprintf(what, sizeof what, "case %zu%s gradient %d, fused vs unfused", i,
                         special ? " (NaN, Inf)" : "", k);
                expect_same_bits(fused[k], unfused[k], len[k], what);
                snprintf(what, sizeof what, "case %zu%s gradient %d, graph vs eager", i,
                         special ? " (NaN, Inf)" : "", k);
                expect_same_bits(fused[k], eager[k], len[k], what);
                free(eager[k]), free(fused[k]), free(unfused[k]);
            }
            free(text);
        }
}

/* ---- bits: the backward as ops, every dim unknown, 1 and 2 threads ---- */

/* What layer_norm's gradient traces to, written out, plus a bias and a relu: x (R, C),
 * gy (R, C), gamma (C,). */
static void ln_backward(duet_ctx *c, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_tensor *x = in[0], *gy = in[1], *gamma = in[2];
    unsigned ax = DUET_AXIS(x->rank - 1);
    duet_tensor *xc = duet_sub(c, x, duet_mean(c, x, ax, true));
    duet_tensor *var = duet_mean(c, duet_mul(c, xc, xc), ax, true);
    duet_tensor *rstd = duet_rsqrt(c, duet_add(c, var, duet_scalar(c, 1e-6f)));
    duet_tensor *xhat = duet_mul(c, xc, rstd);
    out[1] = duet_mul(c, gy, xhat);
    duet_tensor *g = duet_mul(c, gy, gamma);
    duet_tensor *mg = duet_mean(c, g, ax, true);
    duet_tensor *mgx = duet_mean(c, duet_mul(c, g, xhat), ax, true);
    duet_tensor *dx = duet_mul(c, rstd, duet_sub(c, duet_sub(c, g, mg), duet_mul(c, xhat, mgx)));
    out[0] = duet_relu(c, duet_add(c, dx, gamma));
    out[2] = duet_sum(c, dx, ax, true); /* a per-row value read outside: stays outside */
}

/* The three outputs in o; the loops the pool split, returned. */
static int64_t composite_run(int64_t rows, int64_t cols, unsigned passes, int threads, float **o)
{
    duet_ctx *ctx = duet_ctx_new();
    assert_int_equal(duet_ctx_set_threads(ctx, threads), DUET_OK);
    duet_fn *fn = duet_fn_new(ctx, "ln_backward", ln_backward, 3, 3, NULL);
    duet_fn_set_mode(fn, passes == ~0u ? DUET_EAGER : DUET_GRAPH);
    if (passes != ~0u) duet_fn_set_passes(fn, passes);
    assert_int_equal(duet_fn_relax(fn, "(R,C) (R,C) (C)"), 0);
    int64_t n = rows * cols;
    float *x = malloc(sizeof *x * (size_t)n), *gy = malloc(sizeof *gy * (size_t)n),
          *gamma = malloc(sizeof *gamma * (size_t)cols);
    fill_special(x, n, cols, 5, true);
    fill_special(gy, n, cols, 6, false);
    tu_fill(gamma, (int)cols, 7, 0.5f, 1.5f);
    duet_tensor *in[3] = {duet_constant(ctx, DUET_F32, 2, (int64_t[]){rows, cols}, x),
                          duet_constant(ctx, DUET_F32, 2, (int64_t[]){rows, cols}, gy),
                          duet_constant(ctx, DUET_F32, 1, &cols, gamma)},
                *out[3];
    assert_int_equal(duet_fn_call(fn, in, out), 0);
    int64_t len[3] = {n, n, rows};
    for (int k = 0; k < 3; k++) {
        o[k] = malloc(sizeof(float) * (size_t)len[k]);
        memcpy(o[k], out[k]->data, sizeof(float) * (size_t)len[k]);
    }
    if (passes == DUET_PASS_ALL) { /* the row length unknown too: sizes are members */
        char *text = tu_graph_text(duet_fn_graph(fn), true);
        if (count_nodes(text, "= fused_rows") != 1 || !strstr(text, "= size axes=[1]"))
            fail_msg("not row-fused as expected:\n%s", text);
        free(text);
    }
    int64_t jobs = duet_pool_jobs(ctx);
    free(x), free(gy), free(gamma);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
    return jobs;
}

/* 2 and 3 threads, with every loop split into small tasks (as test_threads does), so
 * blocks of rows run on different threads even for small shapes. */
static void test_unknown_dims_and_threads_bit_identical(void **state)
{
    (void)state;
    const int64_t shapes[][2] = {{1, 1}, {7, 1}, {5, 3}, {33, 17}, {2000, 37}, {4, 3000}};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        int64_t rows = shapes[i][0], cols = shapes[i][1], len[3] = {rows * cols, rows * cols, rows};
        float *eager[3], *one[3], *unfused[3], *split[3];
        composite_run(rows, cols, ~0u, 1, eager);
        composite_run(rows, cols, DUET_PASS_ALL, 1, one);
        composite_run(rows, cols, DUET_PASS_ALL & ~DUET_PASS_FUSE, 1, unfused);
        for (int threads = 2; threads <= 3; threads++) {
            duet_pool_force_split(true);
            int64_t jobs = composite_run(rows, cols, DUET_PASS_ALL, threads, split);
            duet_pool_force_split(false);
            if (rows >= 33) assert_true(jobs > 0);
            for (int k = 0; k < 3; k++) {
                char what[96];
                snprintf(what, sizeof what, "(%lld, %lld) output %d, %d threads", (long long)rows,
                         (long long)cols, k, threads);
                expect_same_bits(one[k], split[k], len[k], what);
                free(split[k]);
            }
        }
        for (int k = 0; k < 3; k++) {
            char what[96];
            snprintf(what, sizeof what, "(%lld, %lld) output %d", (long long)rows, (long long)cols, k);
            expect_same_bits(one[k], unfused[k], len[k], what);
            expect_same_bits(one[k], eager[k], len[k], what);
            free(eager[k]), free(one[k]), free(unfused[k]);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ner_layer_norm_backward_fused),
        cmocka_unit_test(test_layer_norm_gradients_bit_identical),
        cmocka_unit_test(test_unknown_dims_and_threads_bit_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
