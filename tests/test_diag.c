/* Diagnostics: composite ops named as called; cond mismatches named as cond. */
#include <stdlib.h>
#include <string.h>

#include "duet/nn.h"
#include "testutil.h"

/* Traces body in graph mode under the strict policy with the given relaxation;
 * the call must fail, and the diagnostic is copied out. */
static duet_diag trace_fail(duet_fn_body body, void *user, int nin, duet_tensor **in,
                            const char *relax)
{
    duet_ctx *ctx = duet_ctx_new();
    duet_tensor *args[4], *y;
    for (int i = 0; i < nin; i++)
        args[i] = duet_constant(ctx, in[i]->dtype, in[i]->rank, in[i]->shape, in[i]->data);
    duet_fn *fn = duet_fn_new(ctx, "body", body, nin, 1, user);
    assert_int_equal(duet_fn_relax(fn, relax), 0);
    duet_fn_set_mode(fn, DUET_GRAPH);
    assert_int_equal(duet_fn_call(fn, args, &y), -1);
    duet_diag d = *duet_ctx_error(ctx);
    duet_fn_free(fn);
    duet_ctx_free(ctx);
    return d;
}

/* scores (2, 4, 3, 3) f32 and mask (2, 4, 3, 3) bool, in an eager context that
 * outlives trace_fail's */
typedef struct inputs {
    duet_ctx *ctx;
    duet_tensor *t[2];
} inputs;

static inputs attention_inputs(void)
{
    inputs in = {.ctx = duet_ctx_new()};
    in.t[0] = duet_full(in.ctx, DUET_F32, 4, (int64_t[]){2, 4, 3, 3}, 0.5f);
    in.t[1] = duet_greater(in.ctx, in.t[0], duet_scalar(in.ctx, 0.0f));
    return in;
}

/* ---- item 4: a composite op is named as the user called it ---- */

static void item_of_mean(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    float m = (float)DUET_ITEM(ctx, duet_mean(ctx, in[0], 0, false));
    out[0] = duet_mul(ctx, in[0], duet_scalar(ctx, m));
}

static void test_composite_named_as_called(void **state)
{
    (void)state;
    inputs in = attention_inputs();
    duet_diag d = trace_fail(item_of_mean, NULL, 1, in.t, "(B,4,T,T)");
    assert_string_equal(d.producer, "mean");
    assert_non_null(strstr(d.message, "DUET_ITEM of mean ("));
    duet_ctx_free(in.ctx);
}

/* ---- item 5: a cond mismatch is reported against cond ---- */

static void then_vector(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    out[0] = duet_neg(ctx, in[0]);
}

static void else_scalar(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    out[0] = duet_sum(ctx, in[0], 0, false); /* the last op dispatched before the check */
}

static int cond_line;

static void mismatched_cond(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    duet_tensor *pos = duet_greater(ctx, duet_sum(ctx, in[0], 0, false), duet_scalar(ctx, 0));
    cond_line = __LINE__ + 1;
    duet_cond(ctx, pos, then_vector, else_scalar, in, 1, out, 1, NULL);
}

static void test_cond_mismatch_names_cond(void **state)
{
    (void)state;
    inputs in = attention_inputs();
    duet_diag d = trace_fail(mismatched_cond, NULL, 1, in.t, "(B,4,T,T)");
    assert_int_equal(d.code, DUET_ERR_TRACE);
    assert_string_equal(d.op, "cond");
    assert_string_equal(d.file, "tests/test_diag.c");
    assert_int_equal(d.line, cond_line);
    assert_non_null(strstr(d.message, "else gives f32()"));
    /* eagerly too */
    duet_tensor *out;
    assert_int_equal(duet_cond(in.ctx, duet_scalar(in.ctx, 1.0f), then_vector, else_scalar, in.t,
                               1, &out, 1, NULL),
                     -1);
    tu_expect_error(in.ctx, DUET_ERR_ARG, "cond", "predicate must be a bool scalar");
    duet_ctx_free(in.ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_composite_named_as_called),
        cmocka_unit_test(test_cond_mismatch_names_cond),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
