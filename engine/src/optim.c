/* Adam with Keras 3 semantics, in both modes from the same code:
 *
 *   t     = cast(iterations + 1, f32)
 *   alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t)        (beta^t = exp(t log beta))
 *   m     = m + (g - m) * (1 - beta1)
 *   v     = v + (g^2 - v) * (1 - beta2)
 *   var   = var - m * alpha / (sqrt(v) + epsilon)
 *   iterations = iterations + 1
 *
 * alpha and the iteration count are scalar ops; the three updates of each parameter
 * are one adam_update op (ops/adam.c), one pass over the parameter that writes var,
 * m and v through the variables' staged writes, as TensorFlow's eager and graph Keras
 * both apply ResourceApplyAdam. Its bits are those of the same formula as separate
 * ops. */
#include <stdio.h>
#include <stdlib.h>

#include "duet/grad.h"
#include "internal.h"

struct duet_adam {
    duet_adam_config cfg;
    int n;
    duet_adam_vars *slots; /* per parameter: the variable and its m and v */
    duet_var *iterations;
};

duet_adam_config duet_adam_defaults(void)
{
    return (duet_adam_config){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .epsilon = 1e-7f};
}

static duet_var *slot_new(duet_ctx *ctx, const duet_var *var, const char *suffix)
{
    const char *name = var->name ? var->name : "";
    size_t len = strlen(name) + strlen(suffix) + 2;
    char *buf = malloc(len);
    if (!buf) {
        duet_ctx_fail(ctx, DUET_ERR_OOM, "adam: a slot name");
        return NULL;
    }
    snprintf(buf, len, "%s/%s", name, suffix);
    duet_var *s = duet_var_new(ctx, buf, DUET_F32, var->value.rank, var->value.shape);
    free(buf);
    return s;
}

void duet_adam_free(duet_adam *opt)
{
    if (!opt) return;
    free(opt->slots);
    free(opt);
}

duet_adam *duet_adam_new(duet_ctx *ctx, duet_var *const *vars, int n, duet_adam_config cfg)
{
    if (ctx->err.code) return NULL;
    if (n < 0 || (n > 0 && !vars)) {
        duet_ctx_fail(ctx, DUET_ERR_ARG, "adam: bad variable list (n = %d)", n);
        return NULL;
    }
    if (!(cfg.beta1 >= 0.0f && cfg.beta1 < 1.0f) || !(cfg.beta2 >= 0.0f && cfg.beta2 < 1.0f) ||
        !(cfg.epsilon >= 0.0f) || !(cfg.lr == cfg.lr)) {
        duet_ctx_fail(ctx, DUET_ERR_ARG,
                      "adam: bad config (lr %g, beta1 %g, beta2 %g, epsilon %g): betas must be "
                      "in [0, 1), epsilon >= 0",
                      (double)cfg.lr, (double)cfg.beta1, (double)cfg.beta2, (double)cfg.epsilon);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (!vars[i]) {
            duet_ctx_fail(ctx, DUET_ERR_ARG, "adam: variable %d is NULL", i);
            return NULL;
        }
        if (vars[i]->value.dtype != DUET_F32) {
            duet_ctx_fail(ctx, DUET_ERR_DTYPE, "adam: variable '%s' is %s; need f32",
                          vars[i]->name, duet_dtype_name(vars[i]->value.dtype));
            return NULL;
        }
    }
    duet_adam *opt = calloc(1, sizeof *opt);
    size_t cnt = (size_t)(n ? n : 1);
    if (opt) opt->slots = calloc(cnt, sizeof *opt->slots);
    if (!opt || !opt->slots) {
        duet_adam_free(opt);
        duet_ctx_fail(ctx, DUET_ERR_OOM, "adam: the optimiser's state");
        return NULL;
    }
    opt->cfg = cfg;
    opt->n = n;
    for (int i = 0; i < n; i++) {
        duet_adam_vars *s = &opt->slots[i];
        s->var = vars[i];
        s->m = slot_new(ctx, vars[i], "m");
        s->v = slot_new(ctx, vars[i], "v");
        if (!s->m || !s->v) goto fail;
        /* every step assigns all three: their next buffers now, with the slots, so
         * that the first step does not map 3x the model's size on its way */
        if (duet_var_reserve_spare(ctx, s->var) || duet_var_reserve_spare(ctx, s->m) ||
            duet_var_reserve_spare(ctx, s->v))
            goto fail;
    }
    opt->iterations = duet_var_new(ctx, "adam/iterations", DUET_I32, 0, NULL);
    if (!opt->iterations) goto fail;
    return opt;
fail:
    if (!ctx->err.code) duet_ctx_fail(ctx, DUET_ERR_OOM, "adam: could not create the slots");
    duet_adam_free(opt);
    return NULL;
}

duet_var *duet_adam_iterations(duet_adam *opt) { return opt ? opt->iterations : NULL; }

static bool same_shape(const duet_tensor *g, const duet_tensor *v)
{
    if (g->rank != v->rank) return false;
    for (int i = 0; i < g->rank; i++)
        if (!DUET_DIM_IS_SYM(g->shape[i]) && g->shape[i] != v->shape[i]) return false;
    return true;
}

int duet_adam_apply(duet_ctx *ctx, duet_adam *opt, duet_tensor *const *grads)
{
    if (ctx->err.code) return -1;
    if (!opt || (!grads && opt->n > 0)) {
        duet_ctx_fail(ctx, DUET_ERR_ARG, "adam: %s is NULL", !opt ? "the optimizer" : "grads");
        return -1;
    }
    /* Check everything before the first assign, so a bad call changes nothing. */
    for (int i = 0; i < opt->n; i++) {
        const duet_tensor *g = grads[i];
        const duet_var *var = opt->slots[i].var;
        if (!g) {
            duet_ctx_fail(ctx, DUET_ERR_ARG, "adam: gradient %d (of '%s') is NULL", i, var->name);
            return -1;
        }
        if (g->flags & DUET_TENSOR_POISON) {
            duet_ctx_fail(ctx, DUET_ERR_ARG, "adam: gradient %d (of '%s') is a poisoned tensor",
                          i, var->name);
            return -1;
        }
        if (g->dtype != DUET_F32) {
            duet_ctx_fail(ctx, DUET_ERR_DTYPE, "adam: gradient of '%s' is %s; need f32",
                          var->name, duet_dtype_name(g->dtype));
            return -1;
        }
        if (!same_shape(g, &var->value)) {
            char sg[96], sv[96];
            duet_ctx_fail(ctx, DUET_ERR_SHAPE,
                          "adam: gradient of '%s' has shape %s; the variable has shape %s",
                          var->name, duet_shape_str(g, sg, sizeof sg),
                          duet_shape_str(&var->value, sv, sizeof sv));
            return -1;
        }
    }

    const duet_adam_config *k = &opt->cfg;
    duet_tensor *it = duet_var_read(ctx, opt->iterations);
    duet_tensor *it1 = duet_add(ctx, it, duet_scalar_i32(ctx, 1));
    duet_tensor *t = duet_cast(ctx, it1, DUET_F32);
    duet_tensor *b1p = duet_exp(ctx, duet_mul(ctx, t, duet_log(ctx, duet_scalar(ctx, k->beta1))));
    duet_tensor *b2p = duet_exp(ctx, duet_mul(ctx, t, duet_log(ctx, duet_scalar(ctx, k->beta2))));
    duet_tensor *one = duet_scalar(ctx, 1.0f);
    duet_tensor *alpha =
        duet_div(ctx, duet_mul(ctx, duet_scalar(ctx, k->lr), duet_sqrt(ctx, duet_sub(ctx, one, b2p))),
                 duet_sub(ctx, one, b1p));
    for (int i = 0; i < opt->n && !ctx->err.code; i++)
        duet_adam_update_at(DUET_HERE, ctx, &opt->slots[i], grads[i], alpha, 1.0f - k->beta1,
                            1.0f - k->beta2, k->epsilon);
    duet_assign(ctx, opt->iterations, it1);
    return ctx->err.code ? -1 : 0;
}
