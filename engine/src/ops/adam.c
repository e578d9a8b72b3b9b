/* adam_update: one parameter's Adam step (Keras 3's formula) as one op, as
 * TensorFlow's ResourceApplyAdam is, in both modes:
 *
 *   m   = m + (g - m) * (1 - beta1)
 *   v   = v + (g^2 - v) * (1 - beta2)
 *   var = var - m * alpha / (sqrt(v) + epsilon)
 *
 * Written as ops the step costs three passes over each parameter, each with its
 * intermediates, and three assign copies; here one loop reads g, var, m and v once
 * and writes the three new values straight into the buffers the variables stage
 * (duet_var_stage_buffer), so a plan's writes still become current only when it has
 * run to the end, and eager dispatch commits them at once as it does an assign's.
 * Each operation rounds as its op did (no contraction), so the bits are those of the
 * op-by-op step. alpha (a scalar, from the iteration count) stays ops: it is tiny.
 *
 * Inputs: grad, var, m, v (var_reads of the variables it writes) and alpha; the
 * output aliases the new value of var. No gradient: it is an update, like assign. */
#include <math.h>

#include "../internal.h"

enum { ADAM_ONE_MINUS_BETA1 = 0, ADAM_ONE_MINUS_BETA2 = 1, ADAM_EPSILON = 2 }; /* float slots */
enum { ADAM_GRAD, ADAM_VAR, ADAM_M, ADAM_V, ADAM_ALPHA, ADAM_NIN };

static int adam_update_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                             duet_type *out)
{
    (void)nin;
    const duet_adam_vars *vars = a->p;
    for (int i = 0; i < ADAM_NIN; i++)
        if (in[i]->dtype != DUET_F32)
            return duet_fail(c, DUET_ERR_DTYPE, "input %d is %s; need f32", i,
                             duet_dtype_name(in[i]->dtype));
    if (duet_numel(in[ADAM_ALPHA]) != 1)
        return duet_fail(c, DUET_ERR_SHAPE, "alpha must be a scalar");
    for (int i = ADAM_GRAD; i <= ADAM_V; i++) {
        bool ok = in[i]->rank == vars->var->value.rank;
        for (int d = 0; ok && d < in[i]->rank; d++)
            ok = DUET_DIM_IS_SYM(in[i]->shape[d]) || in[i]->shape[d] == vars->var->value.shape[d];
        if (!ok) {
            char sa[96], sb[96];
            return duet_fail(c, DUET_ERR_SHAPE, "input %d is %s; variable '%s' is %s", i,
                             duet_shape_str(in[i], sa, sizeof sa), vars->var->name,
                             duet_shape_str(&vars->var->value, sb, sizeof sb));
        }
    }
    duet_type_of(&vars->var->value, out);
    return 0;
}

DUET_SIMD_CLONES static void adam_step(float *restrict w_out, float *restrict m_out,
                                       float *restrict v_out, const float *restrict g,
                                       const float *restrict w, const float *restrict m,
                                       const float *restrict v, int64_t n, float alpha,
                                       float one_m_b1, float one_m_b2, float eps)
{
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = m[i] + (gi - m[i]) * one_m_b1;
        float vi = v[i] + (gi * gi - v[i]) * one_m_b2;
        m_out[i] = mi;
        v_out[i] = vi;
        w_out[i] = w[i] - (mi * alpha) / (sqrtf(vi) + eps);
    }
}

/* The step's tasks: runs of parameters, each updated on its own. */
typedef struct adam_job {
    float *w_out, *m_out, *v_out;
    const float *g, *w, *m, *v;
    float alpha, one_m_b1, one_m_b2, eps;
} adam_job;

static void adam_run(void *arg, int64_t begin, int64_t end)
{
    const adam_job *j = arg;
    adam_step(j->w_out + begin, j->m_out + begin, j->v_out + begin, j->g + begin, j->w + begin,
              j->m + begin, j->v + begin, end - begin, j->alpha, j->one_m_b1, j->one_m_b2, j->eps);
}

/* About a sqrt, a divide and seven streams per parameter: several elementwise passes. */
#define ADAM_WORK_PER_PARAM (4 * DUET_WORK_ELEM)

static int adam_update_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                              duet_tensor *out)
{
    (void)nin;
    const duet_adam_vars *vars = a->p;
    float *w_out = duet_var_stage_buffer(c, vars->var);
    float *m_out = w_out ? duet_var_stage_buffer(c, vars->m) : NULL;
    float *v_out = m_out ? duet_var_stage_buffer(c, vars->v) : NULL;
    if (!v_out) return -1;
    adam_job j = {w_out, m_out, v_out, in[ADAM_GRAD]->data, in[ADAM_VAR]->data, in[ADAM_M]->data,
                  in[ADAM_V]->data, *(const float *)in[ADAM_ALPHA]->data,
                  a->f[ADAM_ONE_MINUS_BETA1], a->f[ADAM_ONE_MINUS_BETA2], a->f[ADAM_EPSILON]};
    duet_parallel_range(c, duet_numel(out), ADAM_WORK_PER_PARAM, DUET_SIMD_FLOATS, adam_run, &j);
    out->data = w_out;
    return 0;
}

/* the variable; its slots are the optimiser's m and v of it */
static void adam_update_attr_text(const duet_attrs *a, duet_text *t)
{
    const duet_adam_vars *vars = a->p;
    duet_text_put(t, " var=%s one_minus_beta1=%g one_minus_beta2=%g epsilon=%g", vars->var->name,
                  (double)a->f[ADAM_ONE_MINUS_BETA1], (double)a->f[ADAM_ONE_MINUS_BETA2],
                  (double)a->f[ADAM_EPSILON]);
}

const duet_op_def duet_opdef_adam_update = {.name = "adam_update",
                                            .nin = ADAM_NIN,
                                            .flags = DUET_OPF_WRITES_VAR | DUET_OPF_ALIAS,
                                            .infer = adam_update_infer,
                                            .kernel = adam_update_kernel,
                                            .attr_text = adam_update_attr_text};

duet_tensor *duet_adam_update_at(duet_site s, duet_ctx *c, const duet_adam_vars *vars,
                                 duet_tensor *grad, duet_tensor *alpha, float one_minus_beta1,
                                 float one_minus_beta2, float epsilon)
{
    if (c->err.code) return &c->poison;
    /* in the arena of the graph the node joins, so the node never outlives it */
    duet_adam_vars *held = duet_alloc_bytes(c, sizeof *held);
    if (!held) {
        duet_ctx_fail(c, DUET_ERR_OOM, "adam_update: out of memory");
        return &c->poison;
    }
    *held = *vars;
    duet_attrs a = {0};
    a.p = held;
    a.f[ADAM_ONE_MINUS_BETA1] = one_minus_beta1;
    a.f[ADAM_ONE_MINUS_BETA2] = one_minus_beta2;
    a.f[ADAM_EPSILON] = epsilon;
    duet_tensor *in[ADAM_NIN] = {
        [ADAM_GRAD] = grad,
        [ADAM_VAR] = duet_var_read_at(s, c, vars->var),
        [ADAM_M] = duet_var_read_at(s, c, vars->m),
        [ADAM_V] = duet_var_read_at(s, c, vars->v),
        [ADAM_ALPHA] = alpha,
    };
    return duet_apply(c, s, DUET_OP_ADAM_UPDATE, in, ADAM_NIN, &a);
}
