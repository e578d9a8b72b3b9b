/* The engine's per-op profiler: eager dispatch and the executor report the same ops
 * for an unfused function, and fused nodes name their members. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct heard {
    int n;
    char kinds[64][24];
    bool grad[64];
    duet_exec_mode mode[64];
    char members[192];
    bool bad_time, nested;
} heard;

static void listen(const duet_op_event *e, void *user)
{
    heard *h = user;
    h->bad_time |= !(e->dur_ms >= 0) || !(e->start_ms > 0);
    h->nested |= e->depth != 0;
    if (e->members) snprintf(h->members, sizeof h->members, "%s", e->members);
    if (h->n == 64) return;
    snprintf(h->kinds[h->n], sizeof h->kinds[h->n], "%s", e->op);
    h->grad[h->n] = e->grad;
    h->mode[h->n++] = e->mode;
}

typedef struct model {
    duet_var *w;
} model;

/* relu(x * x + x) @ w, summed, and its gradient for w */
static void body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    model *m = user;
    duet_tensor *x = in[0];
    duet_tensor *y = duet_relu(ctx, duet_add(ctx, duet_mul(ctx, x, x), x));
    duet_tensor *z = duet_matmul(ctx, y, duet_var_read(ctx, m->w), false, false);
    duet_tensor *loss = duet_sum(ctx, z, 0, false);
    duet_tensor *g;
    duet_grad(ctx, loss, &m->w, 1, &g);
    out[0] = loss;
    out[1] = g;
}

/* Calls the function twice in mode with passes, hearing the second call. */
static void hear(duet_exec_mode mode, unsigned passes, heard *h)
{
    memset(h, 0, sizeof *h);
    duet_ctx *ctx = duet_ctx_new();
    model m = {duet_var_new(ctx, "w", DUET_F32, 2, (int64_t[]){3, 2})};
    for (int i = 0; i < 6; i++) duet_var_f32(m.w)[i] = 0.5f - 0.2f * (float)i;
    duet_fn *fn = duet_fn_new(ctx, "step", body, 1, 2, &m);
    duet_fn_set_mode(fn, mode);
    duet_fn_set_passes(fn, passes);
    float xs[12];
    tu_fill(xs, 12, 7, -1, 1);
    for (int call = 0; call < 2; call++) {
        duet_tensor *x = duet_constant(ctx, DUET_F32, 2, (int64_t[]){4, 3}, xs), *out[2];
        duet_ctx_set_profiler(ctx, call ? listen : NULL, h);
        assert_int_equal(duet_fn_call(fn, &x, out), 0);
        duet_ctx_set_profiler(ctx, NULL, NULL);
        duet_ctx_reset(ctx);
    }
    duet_fn_free(fn);
    duet_ctx_free(ctx);
}

static int by_kind(const void *a, const void *b) { return strcmp(a, b); }

static void test_modes_report_the_same_ops(void **state)
{
    (void)state;
    heard e, g;
    hear(DUET_EAGER, DUET_PASS_PLAN, &e);
    hear(DUET_GRAPH, DUET_PASS_PLAN, &g); /* nothing folded, merged or fused */
    assert_true(e.n > 6);
    assert_int_equal(e.n, g.n);
    int egrad = 0, ggrad = 0;
    for (int i = 0; i < e.n; i++) {
        assert_int_equal(e.mode[i], DUET_EAGER);
        assert_int_equal(g.mode[i], DUET_GRAPH);
        egrad += e.grad[i], ggrad += g.grad[i];
    }
    assert_true(egrad > 0);
    assert_int_equal(egrad, ggrad);
    qsort(e.kinds, (size_t)e.n, sizeof e.kinds[0], by_kind);
    qsort(g.kinds, (size_t)g.n, sizeof g.kinds[0], by_kind);
    for (int i = 0; i < e.n; i++) assert_string_equal(e.kinds[i], g.kinds[i]);
    assert_false(e.bad_time || g.bad_time || e.nested || g.nested);
}

static void test_fused_node_names_its_members(void **state)
{
    (void)state;
    heard g;
    hear(DUET_GRAPH, DUET_PASS_ALL, &g);
    bool fused = false;
    for (int i = 0; i < g.n; i++) fused |= !strcmp(g.kinds[i], "fused");
    assert_true(fused);
    assert_non_null(strstr(g.members, "mul add relu"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modes_report_the_same_ops),
        cmocka_unit_test(test_fused_node_names_its_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
