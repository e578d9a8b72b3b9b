#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void tu_fill(float *x, int n, unsigned seed, float lo, float hi)
{
    uint32_t s = seed * 2654435761u + 12345u;
    for (int i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = lo + (hi - lo) * (float)(s >> 8) / (float)(1u << 24);
    }
}

static int64_t numel_of(const tu_input *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= t->shape[i];
    return n;
}

/* Each input becomes a variable so gradients can be taken with duet_grad. */
static void make_vars(duet_ctx *ctx, const tu_input *in, int nin, duet_var **vars)
{
    for (int i = 0; i < nin; i++) {
        char name[16];
        snprintf(name, sizeof name, "in%d", i);
        vars[i] = duet_var_new(ctx, name, in[i].dtype, in[i].rank, in[i].shape);
        assert_non_null(vars[i]);
        size_t bytes = (size_t)numel_of(&in[i]) * duet_dtype_size(in[i].dtype);
        if (bytes) memcpy((void *)duet_var_value(vars[i])->data, in[i].data, bytes);
    }
}

static duet_tensor *call_body(duet_ctx *ctx, tu_body body, void *user, duet_var **vars, int nin)
{
    duet_tensor *x[16];
    for (int i = 0; i < nin; i++) x[i] = duet_var_read(ctx, vars[i]);
    return body(ctx, x, user);
}

duet_status tu_run(tu_body body, void *user, const tu_input *in, int nin, float *out, int cap,
                   int *rank, int64_t *shape)
{
    duet_ctx *ctx = duet_ctx_new();
    duet_var *vars[16];
    make_vars(ctx, in, nin, vars);
    duet_tensor *y = call_body(ctx, body, user, vars, nin);
    duet_status st = duet_ctx_status(ctx);
    if (st == DUET_OK) {
        *rank = y->rank;
        memcpy(shape, y->shape, sizeof(int64_t) * (size_t)y->rank);
        int64_t n = duet_numel(y);
        for (int64_t i = 0; i < n && i < cap; i++) out[i] = duet_get_f32(y, i);
    }
    duet_ctx_free(ctx);
    return st;
}

void tu_check_forward(tu_body body, void *user, const tu_input *in, int nin, int rank,
                      const int64_t *shape, const float *expect, float tol)
{
    float out[4096];
    int r = -1;
    int64_t sh[DUET_MAX_RANK];
    duet_status st = tu_run(body, user, in, nin, out, 4096, &r, sh);
    assert_int_equal(st, DUET_OK);
    assert_int_equal(r, rank);
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        assert_int_equal(sh[i], shape[i]);
        n *= shape[i];
    }
    for (int64_t i = 0; i < n; i++) {
        if (!(fabsf(out[i] - expect[i]) <= tol) && !(isinf(expect[i]) && out[i] == expect[i]))
            fail_msg("element %lld: got %.9g, expected %.9g (tol %g)", (long long)i, out[i],
                     expect[i], tol);
    }
}

/* sum(w * y) in double, from the f32 output */
static double weighted_sum(const duet_tensor *y, const float *w)
{
    double s = 0;
    int64_t n = duet_numel(y);
    for (int64_t i = 0; i < n; i++) s += (double)w[i] * duet_get_f32(y, i);
    return s;
}

static double eval_loss(duet_ctx *ctx, tu_body body, void *user, duet_var **vars, int nin,
                        const float *w)
{
    duet_tensor *y = call_body(ctx, body, user, vars, nin);
    assert_int_equal(duet_ctx_status(ctx), DUET_OK);
    double s = weighted_sum(y, w);
    duet_ctx_reset(ctx);
    return s;
}

void tu_check_grad(tu_body body, void *user, const tu_input *in, int nin, double h, double atol,
                   double rtol)
{
    duet_ctx *ctx = duet_ctx_new();
    duet_var *vars[16];
    make_vars(ctx, in, nin, vars);
    duet_tensor *y = call_body(ctx, body, user, vars, nin);
    assert_int_equal(duet_ctx_status(ctx), DUET_OK);
    int64_t ny = duet_numel(y);
    float *w = malloc(sizeof(float) * (size_t)(ny ? ny : 1));
    tu_fill(w, (int)ny, 99, -1.0f, 1.0f);
    duet_tensor *wt = duet_constant(ctx, DUET_F32, y->rank, y->shape, w);
    duet_tensor *loss = duet_sum(ctx, duet_mul(ctx, y, wt), 0, false);
    duet_tensor *grads[16];
    assert_int_equal(duet_grad(ctx, loss, vars, nin, grads), 0);
    float *ga[16] = {0};
    for (int i = 0; i < nin; i++) { /* copy out: the FD runs below reset the tape */
        int64_t n = numel_of(&in[i]);
        if (!in[i].diff) continue;
        assert_int_equal(duet_numel(grads[i]), n);
        ga[i] = malloc(sizeof(float) * (size_t)(n ? n : 1));
        for (int64_t k = 0; k < n; k++) ga[i][k] = duet_get_f32(grads[i], k);
    }
    duet_ctx_reset(ctx);
    for (int i = 0; i < nin; i++) {
        if (!in[i].diff) continue;
        int64_t n = numel_of(&in[i]);
        float *x = duet_var_f32(vars[i]);
        for (int64_t k = 0; k < n; k++) {
            float x0 = x[k];
            x[k] = (float)(x0 + h);
            double lp = eval_loss(ctx, body, user, vars, nin, w);
            x[k] = (float)(x0 - h);
            double lm = eval_loss(ctx, body, user, vars, nin, w);
            x[k] = x0;
            double num = (lp - lm) / (2 * h);
            if (!(fabs(ga[i][k] - num) <= atol + rtol * fabs(num)))
                fail_msg("input %d element %lld: analytic %.7g vs numeric %.7g", i, (long long)k,
                         ga[i][k], num);
        }
        free(ga[i]);
    }
    free(w);
    duet_ctx_free(ctx);
}
