/* Numerics checking (duet_ctx_set_check_numerics): the first op whose f32 output holds
 * a NaN or Inf, named by what both modes share (scope path, op, call site, forward or
 * gradient), so that eager and graph runs point at the same line. */
#include <math.h>
#include <stdlib.h>

#include "graph_internal.h"

void duet_ctx_set_check_numerics(duet_ctx *ctx, bool on) { ctx->check_numerics = on; }

typedef struct nonfinite {
    int64_t count, first;
    float value; /* the first one */
} nonfinite;

static bool scan(const duet_tensor *t, nonfinite *nf)
{
    *nf = (nonfinite){0, -1, 0};
    if (t->dtype != DUET_F32 || !t->data) return false;
    const float *v = t->data;
    int64_t n = duet_numel(t);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i]) && nf->count++ == 0) nf->first = i, nf->value = v[i];
    return nf->count > 0;
}

static const char *value_name(float v) { return isnan(v) ? "NaN" : v > 0 ? "Inf" : "-Inf"; }

/* The op a gradient node differentiates, as the user called it (fusion may have
 * rewritten the forward node). */
static const char *forward_name(const duet_node *fwd)
{
    return duet_api_name(duet_traced_op(fwd), fwd->site, false);
}

int duet_check_numerics(duet_ctx *ctx, const duet_node *n, const duet_tensor *out,
                        duet_tensor *const *in)
{
    nonfinite nf;
    if (!scan(out, &nf)) return 0;
    duet_node member;
    const duet_node *culprit = n;
    duet_tensor member_out = *out;
    const duet_tensor *made = out; /* the culprit's output */
    member_out.data = NULL;
    if (duet_is_fused(n)) {
        if (!(member_out.data = malloc(sizeof(float) * (size_t)(duet_numel(out) + 1))))
            return duet_fail(ctx, DUET_ERR_OOM, "checking a fused node's members");
        if (duet_fused_nonfinite_member(ctx, n, in, &member_out, &member)) {
            culprit = &member;
            made = &member_out;
            scan(made, &nf); /* what the member made, not what the group made of it */
        }
    }
    /* an input that is not finite came from outside the ops checked: an argument, or a
     * constant captured before the check was on */
    char inputs[320] = "from finite inputs";
    if (n->op == DUET_OP_VAR_READ) /* a source: the value was in the variable already */
        snprintf(inputs, sizeof inputs, "read from variable '%s'",
                 duet_var_name((const duet_var *)n->attr.p));
    for (int j = 0; j < n->nin && !duet_is_fused(n); j++) {
        nonfinite in_nf;
        if (scan(in[j], &in_nf)) {
            snprintf(inputs, sizeof inputs, "but input %d already held %s", j,
                     value_name(in_nf.value));
            break;
        }
    }
    char where[160] = "in the forward pass";
    if (culprit->grad_of)
        snprintf(where, sizeof where, "in the gradient of %s", forward_name(culprit->grad_of));
    const duet_node *exec_node = ctx->exec_node;
    duet_op op = ctx->cur_op;
    duet_site site = ctx->cur_site;
    ctx->exec_node = culprit; /* the diagnostic's scope, site and op are the culprit's */
    ctx->cur_op = culprit->op;
    ctx->cur_site = culprit->site;
    char shape[96];
    duet_fail(ctx, DUET_ERR_NUMERICS,
              "%s made %s %s: %lld of %lld elements of %s are not finite (the first at flat "
              "index %lld), %s",
              duet_api_name(culprit->op, culprit->site, culprit->grad_of != NULL),
              value_name(nf.value), where, (long long)nf.count, (long long)duet_numel(made),
              duet_shape_str(made, shape, sizeof shape), (long long)nf.first, inputs);
    free(member_out.data);
    ctx->exec_node = exec_node;
    ctx->cur_op = op;
    ctx->cur_site = site;
    return -1;
}
