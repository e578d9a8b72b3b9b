/* Normalisation: layer_norm over the last axis with Keras LayerNormalization
 * semantics (biased variance; y = (x - mean) / sqrt(var + eps) * gamma + beta). */
#include <math.h>

#include "../internal.h"

/* ---- layer_norm: x (..., D), gamma (D), beta (D); attribute: eps ---- */

enum { NORM_EPS = 0 }; /* a float slot */

static int layer_norm_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                            duet_type *out)
{
    (void)a, (void)nin;
    const duet_tensor *x = in[0], *g = in[1], *b = in[2];
    char sx[96], sg[96], sb[96];
    if (x->dtype != DUET_F32 || g->dtype != DUET_F32 || b->dtype != DUET_F32)
        return duet_fail(c, DUET_ERR_DTYPE, "x, gamma and beta are %s, %s and %s; need f32",
                         duet_dtype_name(x->dtype), duet_dtype_name(g->dtype),
                         duet_dtype_name(b->dtype));
    if (x->rank < 1)
        return duet_fail(c, DUET_ERR_SHAPE, "x is a scalar; need at least one axis to normalise");
    int64_t d = x->shape[x->rank - 1];
    if (g->rank != 1 || b->rank != 1 || !duet_dims_may_match(g->shape[0], d) || !duet_dims_may_match(b->shape[0], d))
    {
        char sd[32];
        if (DUET_DIM_IS_SYM(d))
            snprintf(sd, sizeof sd, "None");
        else
            snprintf(sd, sizeof sd, "%lld", (long long)d);
        return duet_fail(c, DUET_ERR_SHAPE,
                         "x %s normalises over D = %s but gamma is %s and beta is %s; both must "
                         "be (D,)",
                         duet_shape_str(x, sx, sizeof sx), sd, duet_shape_str(g, sg, sizeof sg),
                         duet_shape_str(b, sb, sizeof sb));
    }
    duet_type_of(x, out);
    return 0;
}

/* The kernel's tasks: runs of rows, each normalised on its own. */
typedef struct norm_job {
    float *o;
    const float *x, *g, *b;
    int64_t d;
    double eps;
} norm_job;

/* Two passes per row (mean, then the variance of the centred values), in double. */
static void layer_norm_rows(void *arg, int64_t begin, int64_t end)
{
    const norm_job *j = arg;
    int64_t d = j->d;
    for (int64_t r = begin; r < end; r++) {
        const float *xr = j->x + r * d;
        float *orow = j->o + r * d;
        double mean = 0, var = 0;
        for (int64_t k = 0; k < d; k++) mean += xr[k];
        mean /= (double)d;
        for (int64_t k = 0; k < d; k++) {
            double t = xr[k] - mean;
            var += t * t;
        }
        var /= (double)d;
        double rstd = 1.0 / sqrt(var + j->eps);
        for (int64_t k = 0; k < d; k++)
            orow[k] = (float)((xr[k] - mean) * rstd * j->g[k] + j->b[k]);
    }
}

/* Per element: two ordered double sums (latency-bound) and the scaling. */
#define NORM_WORK_ELEM (4 * DUET_WORK_ELEM)

static int layer_norm_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                             duet_tensor *out)
{
    (void)nin;
    norm_job j = {out->data, in[0]->data, in[1]->data, in[2]->data,
                  in[0]->shape[in[0]->rank - 1], a->f[NORM_EPS]};
    if (j.d == 0) return 0;
    duet_parallel_range(c, duet_numel(in[0]) / j.d, NORM_WORK_ELEM * (double)j.d, 1,
                        layer_norm_rows, &j);
    return 0;
}

/* With means over the last axis (keepdims):
 *   xc = x - mean(x), rstd = rsqrt(mean(xc^2) + eps), xhat = xc * rstd
 *   dgamma = sum_to(gy * xhat), dbeta = sum_to(gy)
 *   g = gy * gamma; dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) */
static void layer_norm_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                           const bool *need)
{
    duet_tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2];
    if (need[2]) gx[2] = duet_unbroadcast(c, gy, beta);
    if (!need[0] && !need[1]) return;
    unsigned ax = DUET_AXIS(x->rank - 1);
    duet_tensor *xc = duet_sub(c, x, duet_mean(c, x, ax, true));
    duet_tensor *var = duet_mean(c, duet_mul(c, xc, xc), ax, true);
    duet_tensor *rstd = duet_rsqrt(c, duet_add(c, var, duet_scalar(c, n->attr.f[NORM_EPS])));
    duet_tensor *xhat = duet_mul(c, xc, rstd);
    if (need[1]) gx[1] = duet_unbroadcast(c, duet_mul(c, gy, xhat), gamma);
    if (need[0]) {
        duet_tensor *g = duet_mul(c, gy, gamma);
        duet_tensor *mg = duet_mean(c, g, ax, true);
        duet_tensor *mgx = duet_mean(c, duet_mul(c, g, xhat), ax, true);
        gx[0] = duet_mul(c, rstd, duet_sub(c, duet_sub(c, g, mg), duet_mul(c, xhat, mgx)));
    }
}

static void layer_norm_attr_text(const duet_attrs *a, duet_text *t)
{
    duet_text_put(t, " eps=%g", (double)a->f[NORM_EPS]);
}

const duet_op_def duet_opdef_layer_norm = {.name = "layer_norm",
                                           .nin = 3,
                                           .infer = layer_norm_infer,
                                           .kernel = layer_norm_kernel,
                                           .vjp = layer_norm_vjp,
                                           .attr_text = layer_norm_attr_text};

duet_tensor *duet_layer_norm_at(duet_site s, duet_ctx *c, duet_tensor *x, duet_tensor *gamma,
                                duet_tensor *beta, float eps)
{
    if (c->err.code) return &c->poison;
    if (!(eps >= 0.0f) || isinf(eps)) {
        c->cur_op = DUET_OP_LAYER_NORM;
        c->cur_site = c->vjp_of ? c->vjp_of->site : s;
        duet_fail(c, DUET_ERR_ARG, "eps is %g; need a finite value >= 0", (double)eps);
        return &c->poison;
    }
    duet_attrs a = {0};
    a.f[NORM_EPS] = eps;
    return duet_apply(c, s, DUET_OP_LAYER_NORM, (duet_tensor *[]){x, gamma, beta}, 3, &a);
}
