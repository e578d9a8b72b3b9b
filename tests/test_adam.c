/* Adam (Keras 3 semantics): several steps on sum((w - target)^2) against a double
 * reference of the same formula, the slots and iteration count, config handling and
 * error paths. */
#include "testutil.h"

#include "duet/fn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAXN 64

/* Reference state in double. */
typedef struct ref_adam {
    int n;
    double w[MAXN], m[MAXN], v[MAXN];
    int t;
} ref_adam;

static void ref_step(ref_adam *r, const double *g, duet_adam_config k)
{
    double b1 = k.beta1, b2 = k.beta2, lr = k.lr, eps = k.epsilon;
    double t = r->t + 1;
    double b1p = exp(t * log(b1)), b2p = exp(t * log(b2));
    double alpha = lr * sqrt(1 - b2p) / (1 - b1p);
    for (int i = 0; i < r->n; i++) {
        r->m[i] += (g[i] - r->m[i]) * (1 - b1);
        r->v[i] += (g[i] * g[i] - r->v[i]) * (1 - b2);
        r->w[i] -= r->m[i] * alpha / (sqrt(r->v[i]) + eps);
    }
    r->t++;
}

/* |got - want| <= 1e-6 |want| (plus 1e-12 so exact zeros compare) */
static void check_close(const char *what, int step, int i, float got, double want)
{
    if (!(fabs(got - want) <= 1e-6 * fabs(want) + 1e-12))
        fail_msg("step %d %s[%d]: got %.9g, expected %.9g (rel err %.3g)", step, what, i, got, want,
                 fabs(got - want) / fabs(want));
}

static duet_var *find_var(duet_ctx *c, const char *name)
{
    for (int i = 0; i < duet_var_count(c); i++)
        if (strcmp(duet_var_name(duet_var_at(c, i)), name) == 0) return duet_var_at(c, i);
    return NULL;
}

/* Runs `steps` Adam steps on sum((w - target)^2) for one (2, 3) variable and checks
 * w, m, v and the iteration count after each step. With use_grad the gradient comes
 * from duet_grad; otherwise it is written directly as 2 (w - target). */
static void run_quadratic(duet_adam_config cfg, int steps, bool use_grad)
{
    enum { N = 6 };
    const int64_t shape[2] = {2, 3};
    float w0[N], target[N];
    /* w stays away from 0 (and from the target) so a relative tolerance is meaningful */
    tu_fill(w0, N, 1, 1.0f, 2.0f);
    tu_fill(target, N, 2, 3.0f, 5.0f);

    duet_ctx *c = duet_ctx_new();
    duet_var *w = duet_var_new(c, "w", DUET_F32, 2, shape);
    assert_non_null(w);
    memcpy(duet_var_f32(w), w0, sizeof w0);
    duet_adam *opt = duet_adam_new(c, &w, 1, cfg);
    assert_non_null(opt);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    duet_var *m = find_var(c, "w/m"), *v = find_var(c, "w/v");
    assert_non_null(m);
    assert_non_null(v);

    ref_adam r = {.n = N};
    for (int i = 0; i < N; i++) r.w[i] = w0[i];

    for (int s = 1; s <= steps; s++) {
        duet_tensor *tgt = duet_constant(c, DUET_F32, 2, shape, target);
        duet_tensor *diff = duet_sub(c, duet_var_read(c, w), tgt);
        duet_tensor *g;
        if (use_grad) {
            duet_tensor *loss = duet_sum(c, duet_mul(c, diff, diff), 0, false);
            assert_int_equal(duet_grad(c, loss, &w, 1, &g), 0);
        } else {
            g = duet_mul(c, diff, duet_scalar(c, 2.0f));
        }
        assert_int_equal(duet_adam_apply(c, opt, &g), 0);
        assert_int_equal(duet_ctx_status(c), DUET_OK);
        duet_ctx_reset(c);

        double gd[N];
        for (int i = 0; i < N; i++) gd[i] = 2.0 * (r.w[i] - (double)target[i]);
        ref_step(&r, gd, cfg);
        for (int i = 0; i < N; i++) {
            check_close("m", s, i, duet_var_f32(m)[i], r.m[i]);
            check_close("v", s, i, duet_var_f32(v)[i], r.v[i]);
            check_close("w", s, i, duet_var_f32(w)[i], r.w[i]);
        }
        assert_int_equal(((const int32_t *)duet_var_value(duet_adam_iterations(opt))->data)[0], s);
    }
    duet_adam_free(opt);
    duet_ctx_free(c);
}

static void test_defaults(void **state)
{
    (void)state;
    duet_adam_config k = duet_adam_defaults();
    assert_true(k.lr == 1e-3f && k.beta1 == 0.9f && k.beta2 == 0.999f && k.epsilon == 1e-7f);
}

static void test_steps_defaults(void **state)
{
    (void)state;
    run_quadratic(duet_adam_defaults(), 5, false);
}

/* Other settings are honoured (a larger lr, different betas and epsilon). beta2 0.99
 * keeps 1 - beta2^t well conditioned in f32 so the 1e-6 tolerance stays meaningful
 * with a large lr. */
static void test_steps_custom_config(void **state)
{
    (void)state;
    run_quadratic((duet_adam_config){.lr = 0.05f, .beta1 = 0.8f, .beta2 = 0.99f, .epsilon = 1e-3f},
                  6, false);
    run_quadratic((duet_adam_config){.lr = 0.01f, .beta1 = 0.5f, .beta2 = 0.9f, .epsilon = 0.5f},
                  4, false);
}

static void test_steps_with_autodiff(void **state)
{
    (void)state;
    run_quadratic(duet_adam_defaults(), 5, true);
    run_quadratic((duet_adam_config){.lr = 0.02f, .beta1 = 0.7f, .beta2 = 0.95f, .epsilon = 1e-6f},
                  5, true);
}

/* Keras's first step moves every weight by about lr * sign(g) (m_hat / sqrt(v_hat) = +-1). */
static void test_first_step_is_lr_sign(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    duet_var *w = duet_var_new(c, "w", DUET_F32, 1, (int64_t[]){4});
    duet_adam_config k = duet_adam_defaults();
    k.lr = 0.1f;
    duet_adam *opt = duet_adam_new(c, &w, 1, k);
    float gv[4] = {3.0f, -0.5f, 100.0f, -2e-2f};
    duet_tensor *g = duet_constant(c, DUET_F32, 1, (int64_t[]){4}, gv);
    assert_int_equal(duet_adam_apply(c, opt, &g), 0);
    for (int i = 0; i < 4; i++)
        assert_true(fabsf(duet_var_f32(w)[i] + 0.1f * (gv[i] > 0 ? 1.0f : -1.0f)) < 1e-4f);
    duet_adam_free(opt);
    duet_ctx_free(c);
}

/* Slots: names, shapes, zero initial values; iterations is an i32 scalar that counts
 * applies; several variables of different shapes update independently. */
static void test_slots_and_iterations(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    duet_var *vars[2] = {duet_var_new(c, "dense/kernel", DUET_F32, 2, (int64_t[]){3, 2}),
                         duet_var_new(c, "dense/bias", DUET_F32, 1, (int64_t[]){2})};
    int before = duet_var_count(c);
    duet_adam *opt = duet_adam_new(c, vars, 2, duet_adam_defaults());
    assert_non_null(opt);
    assert_int_equal(duet_var_count(c), before + 5);
    const char *names[4] = {"dense/kernel/m", "dense/kernel/v", "dense/bias/m", "dense/bias/v"};
    for (int i = 0; i < 4; i++) {
        duet_var *s = find_var(c, names[i]);
        assert_non_null(s);
        const duet_tensor *val = duet_var_value(s);
        const duet_tensor *of = duet_var_value(vars[i / 2]);
        assert_int_equal(val->dtype, DUET_F32);
        assert_int_equal(val->rank, of->rank);
        for (int d = 0; d < of->rank; d++) assert_int_equal(val->shape[d], of->shape[d]);
        for (int64_t k = 0; k < duet_numel(val); k++) assert_true(duet_get_f32(val, k) == 0.0f);
    }
    duet_var *it = duet_adam_iterations(opt);
    assert_non_null(it);
    assert_ptr_equal(it, find_var(c, "adam/iterations"));
    assert_int_equal(duet_var_value(it)->dtype, DUET_I32);
    assert_int_equal(duet_var_value(it)->rank, 0);
    assert_int_equal(duet_get_i32(duet_var_value(it), 0), 0);

    for (int s = 1; s <= 3; s++) {
        duet_tensor *g[2] = {duet_full(c, DUET_F32, 2, (int64_t[]){3, 2}, 1.0f),
                             duet_full(c, DUET_F32, 1, (int64_t[]){2}, 0.0f)};
        assert_int_equal(duet_adam_apply(c, opt, g), 0);
        duet_ctx_reset(c);
        assert_int_equal(duet_get_i32(duet_var_value(it), 0), s);
    }
    /* zero gradient: the bias and its slots do not move */
    for (int k = 0; k < 2; k++) {
        assert_true(duet_var_f32(vars[1])[k] == 0.0f);
        assert_true(duet_var_f32(find_var(c, "dense/bias/m"))[k] == 0.0f);
    }
    /* g = 1 every step: m_hat / sqrt(v_hat) = 1, so each step moves by lr */
    for (int k = 0; k < 6; k++) assert_true(fabsf(duet_var_f32(vars[0])[k] + 3e-3f) < 1e-6f);
    duet_adam_free(opt);
    duet_ctx_free(c);
}

/* Errors become context errors (no abort) and change nothing. */
static void test_errors(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    duet_var *w = duet_var_new(c, "w", DUET_F32, 1, (int64_t[]){3});
    duet_var_f32(w)[0] = 1.0f;
    duet_adam *opt = duet_adam_new(c, &w, 1, duet_adam_defaults());
    assert_non_null(opt);
    duet_var *it = duet_adam_iterations(opt);

    assert_int_equal(duet_adam_apply(c, opt, NULL), -1);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_ARG);
    duet_ctx_clear_error(c);

    duet_tensor *g = NULL;
    assert_int_equal(duet_adam_apply(c, opt, &g), -1);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_ARG);
    duet_ctx_clear_error(c);

    g = duet_full(c, DUET_F32, 1, (int64_t[]){4}, 1.0f);
    assert_int_equal(duet_adam_apply(c, opt, &g), -1);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_SHAPE);
    assert_non_null(strstr(duet_ctx_error(c)->message, "'w'"));
    duet_ctx_clear_error(c);

    g = duet_full(c, DUET_F32, 2, (int64_t[]){3, 1}, 1.0f);
    assert_int_equal(duet_adam_apply(c, opt, &g), -1);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_SHAPE);
    duet_ctx_clear_error(c);

    g = duet_full(c, DUET_I32, 1, (int64_t[]){3}, 1.0f);
    assert_int_equal(duet_adam_apply(c, opt, &g), -1);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_DTYPE);
    duet_ctx_clear_error(c);

    /* nothing moved */
    assert_int_equal(duet_get_i32(duet_var_value(it), 0), 0);
    assert_true(duet_var_f32(w)[0] == 1.0f);

    /* a context already in error: apply does nothing and fails */
    duet_ctx_fail(c, DUET_ERR_INTERNAL, "earlier failure");
    g = &(duet_tensor){0};
    assert_int_equal(duet_adam_apply(c, opt, &g), -1);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_INTERNAL);
    duet_ctx_clear_error(c);
    assert_int_equal(duet_get_i32(duet_var_value(it), 0), 0);

    /* bad config and a NULL variable */
    duet_adam_config bad = duet_adam_defaults();
    bad.beta1 = 1.0f;
    assert_null(duet_adam_new(c, &w, 1, bad));
    assert_int_equal(duet_ctx_status(c), DUET_ERR_ARG);
    duet_ctx_clear_error(c);
    duet_var *nullvar = NULL;
    assert_null(duet_adam_new(c, &nullvar, 1, duet_adam_defaults()));
    assert_int_equal(duet_ctx_status(c), DUET_ERR_ARG);
    duet_ctx_clear_error(c);

    /* still works after the errors */
    g = duet_full(c, DUET_F32, 1, (int64_t[]){3}, 1.0f);
    assert_int_equal(duet_adam_apply(c, opt, &g), 0);
    assert_int_equal(duet_get_i32(duet_var_value(it), 0), 1);
    duet_adam_free(opt);
    duet_ctx_free(c);
}

/* ---- the same step traced: a duet_fn body that computes the gradient and applies
 * Adam; the traced plan runs every step and must match eager bit for bit ---- */
typedef struct step_state {
    duet_var *w;
    duet_adam *opt;
    const float *target;
} step_state;

static void adam_step_body(duet_ctx *c, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)in;
    step_state *st = user;
    duet_tensor *diff =
        duet_sub(c, duet_var_read(c, st->w), duet_constant(c, DUET_F32, 1, (int64_t[]){5}, st->target));
    duet_tensor *g = duet_mul(c, diff, duet_scalar(c, 2.0f));
    duet_adam_apply(c, st->opt, &g);
    out[0] = duet_var_read(c, duet_adam_iterations(st->opt));
}

static void run_fn_steps(duet_exec_mode mode, int steps, float *w_out, int *traces)
{
    const float w0[5] = {1.0f, -2.0f, 0.5f, 3.0f, -0.25f}, target[5] = {2.0f, 1.0f, -1.0f, 0.0f, 4.0f};
    duet_ctx *c = duet_ctx_new();
    step_state st = {duet_var_new(c, "w", DUET_F32, 1, (int64_t[]){5}), NULL, target};
    memcpy(duet_var_f32(st.w), w0, sizeof w0);
    duet_adam_config k = {.lr = 0.05f, .beta1 = 0.8f, .beta2 = 0.99f, .epsilon = 1e-6f};
    st.opt = duet_adam_new(c, &st.w, 1, k);
    duet_fn *fn = duet_fn_new(c, "adam_step", adam_step_body, 0, 1, &st);
    duet_fn_set_mode(fn, mode);
    for (int s = 1; s <= steps; s++) {
        duet_tensor *it = NULL;
        int rc = duet_fn_call(fn, NULL, &it);
        if (rc) duet_diag_print(stderr, duet_ctx_error(c));
        assert_int_equal(rc, 0);
        assert_int_equal(duet_get_i32(it, 0), s);
        assert_int_equal(duet_get_i32(duet_var_value(duet_adam_iterations(st.opt)), 0), s);
        duet_ctx_reset(c);
    }
    memcpy(w_out, duet_var_f32(st.w), sizeof w0);
    *traces = duet_fn_trace_count(fn);
    duet_fn_free(fn);
    duet_adam_free(st.opt);
    duet_ctx_free(c);
}

static void test_traced_step_matches_eager(void **state)
{
    (void)state;
    float we[5], wg[5];
    int te, tg;
    run_fn_steps(DUET_EAGER, 8, we, &te);
    run_fn_steps(DUET_GRAPH, 8, wg, &tg);
    assert_int_equal(te, 0);
    assert_int_equal(tg, 1); /* one trace; the iteration count is state, not a constant */
    for (int i = 0; i < 5; i++)
        if (wg[i] != we[i]) fail_msg("w[%d]: graph %.9g, eager %.9g", i, wg[i], we[i]);
}

/* The fused update gives the bits of Keras 3's formula written as separate f32 ops
 * (the optimiser's form before adam_update), over several steps of varied gradients. */
static void test_update_matches_ops_bitwise(void **state)
{
    (void)state;
    enum { N = 1000, STEPS = 4 };
    const duet_adam_config k = duet_adam_defaults();
    duet_ctx *c = duet_ctx_new();
    duet_var *w = duet_var_new(c, "w", DUET_F32, 1, (int64_t[]){N});
    duet_adam *opt = duet_adam_new(c, &w, 1, k);
    float ref_w[N], ref_m[N] = {0}, ref_v[N] = {0}, g[N];
    tu_fill(duet_var_f32(w), N, 3, -1.0f, 1.0f);
    memcpy(ref_w, duet_var_f32(w), sizeof ref_w);
    for (int s = 1; s <= STEPS; s++) {
        tu_fill(g, N, 10 + (unsigned)s, -2.0f, 2.0f);
        duet_tensor *gt = duet_constant(c, DUET_F32, 1, (int64_t[]){N}, g);
        assert_int_equal(duet_adam_apply(c, opt, &gt), 0);
        /* the same ops on the reference state, in the order duet_adam_apply used them */
        duet_tensor *t = duet_scalar(c, (float)s);
        duet_tensor *one = duet_scalar(c, 1.0f);
        duet_tensor *b1p = duet_exp(c, duet_mul(c, t, duet_log(c, duet_scalar(c, k.beta1))));
        duet_tensor *b2p = duet_exp(c, duet_mul(c, t, duet_log(c, duet_scalar(c, k.beta2))));
        duet_tensor *alpha = duet_div(
            c, duet_mul(c, duet_scalar(c, k.lr), duet_sqrt(c, duet_sub(c, one, b2p))),
            duet_sub(c, one, b1p));
        duet_tensor *m = duet_constant(c, DUET_F32, 1, (int64_t[]){N}, ref_m);
        duet_tensor *v = duet_constant(c, DUET_F32, 1, (int64_t[]){N}, ref_v);
        duet_tensor *wt = duet_constant(c, DUET_F32, 1, (int64_t[]){N}, ref_w);
        m = duet_add(c, m, duet_mul(c, duet_sub(c, gt, m), duet_scalar(c, 1.0f - k.beta1)));
        v = duet_add(c, v, duet_mul(c, duet_sub(c, duet_mul(c, gt, gt), v),
                                    duet_scalar(c, 1.0f - k.beta2)));
        duet_tensor *step = duet_div(c, duet_mul(c, m, alpha),
                                     duet_add(c, duet_sqrt(c, v), duet_scalar(c, k.epsilon)));
        wt = duet_sub(c, wt, step);
        assert_int_equal(duet_ctx_status(c), DUET_OK);
        memcpy(ref_m, m->data, sizeof ref_m);
        memcpy(ref_v, v->data, sizeof ref_v);
        memcpy(ref_w, wt->data, sizeof ref_w);
        duet_ctx_reset(c);
        assert_memory_equal(duet_var_f32(find_var(c, "w/m")), ref_m, sizeof ref_m);
        assert_memory_equal(duet_var_f32(find_var(c, "w/v")), ref_v, sizeof ref_v);
        assert_memory_equal(duet_var_f32(w), ref_w, sizeof ref_w);
    }
    duet_adam_free(opt);
    duet_ctx_free(c);
}

/* A plan that stops after its Adam updates (a guard that fails) changes no variable:
 * adam_update writes through the staged writes, as assign does. */
static void guarded_adam_body(duet_ctx *c, duet_tensor *const *in, duet_tensor **out, void *user)
{
    step_state *st = user;
    duet_tensor *g = duet_mul(c, duet_var_read(c, st->w), duet_scalar(c, 2.0f));
    duet_adam_apply(c, st->opt, &g);
    /* the read depends on the updated variable, so the guard runs after the update */
    duet_tensor *w = duet_var_read(c, st->w);
    duet_tensor *x = duet_add(c, in[0], duet_mul(c, w, duet_scalar(c, 0.0f)));
    out[0] = DUET_BOOL(c, duet_greater(c, duet_sum(c, x, 0, false), duet_scalar(c, 0.0f)))
                 ? w
                 : duet_neg(c, w);
}

static void test_failed_guard_keeps_adam_state(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    step_state st = {duet_var_new(c, "w", DUET_F32, 1, (int64_t[]){3}), NULL, NULL};
    for (int i = 0; i < 3; i++) duet_var_f32(st.w)[i] = 1.0f + (float)i;
    st.opt = duet_adam_new(c, &st.w, 1, duet_adam_defaults());
    duet_fn *fn = duet_fn_new(c, "guarded_adam", guarded_adam_body, 1, 1, &st);
    duet_fn_set_mode(fn, DUET_GRAPH);
    duet_fn_set_policy(fn, DUET_POLICY_GUARD);
    duet_fn_set_trace_limit(fn, 1); /* the failing guard cannot retrace: the call stops */
    duet_tensor *x = duet_full(c, DUET_F32, 1, (int64_t[]){3}, 1.0f), *out = NULL;
    assert_int_equal(duet_fn_call(fn, &x, &out), 0);
    duet_ctx_reset(c);
    float w1[3], m1[3], v1[3];
    memcpy(w1, duet_var_f32(st.w), sizeof w1);
    memcpy(m1, duet_var_f32(find_var(c, "w/m")), sizeof m1);
    memcpy(v1, duet_var_f32(find_var(c, "w/v")), sizeof v1);
    assert_true(w1[0] != 1.0f); /* the first call applied its update */
    x = duet_full(c, DUET_F32, 1, (int64_t[]){3}, -1.0f);
    assert_int_not_equal(duet_fn_call(fn, &x, &out), 0);
    assert_int_equal(duet_ctx_status(c), DUET_ERR_RETRACE_STORM);
    duet_ctx_clear_error(c);
    duet_ctx_reset(c);
    assert_memory_equal(duet_var_f32(st.w), w1, sizeof w1);
    assert_memory_equal(duet_var_f32(find_var(c, "w/m")), m1, sizeof m1);
    assert_memory_equal(duet_var_f32(find_var(c, "w/v")), v1, sizeof v1);
    assert_int_equal(duet_get_i32(duet_var_value(duet_adam_iterations(st.opt)), 0), 1);
    duet_fn_free(fn);
    duet_adam_free(st.opt);
    duet_ctx_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_steps_defaults),
        cmocka_unit_test(test_steps_custom_config),
        cmocka_unit_test(test_steps_with_autodiff),
        cmocka_unit_test(test_first_step_is_lr_sign),
        cmocka_unit_test(test_slots_and_iterations),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_traced_step_matches_eager),
        cmocka_unit_test(test_update_matches_ops_bitwise),
        cmocka_unit_test(test_failed_guard_keeps_adam_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
