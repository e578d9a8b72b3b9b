/* variable-in-function: a running total whose variable is created inside the step's
 * body. Eagerly the body makes a fresh variable, starting at zero, on every call, so
 * the "total" is only this step's sum; a trace would make one variable per trace and
 * carry it across calls, so graph mode would compute something else. Graph mode
 * refuses it under every policy: duet_var_new while tracing is a DUET_ERR_TRACE
 * diagnostic naming the variable, the function and the line, as tf.function refuses
 * tf.Variables created after the first call. The fixed twin creates the variable
 * once, at set-up, and captures it: a running total in both modes. */
#include "bugs/common.h"
#include "duet/case.h"

#define TOTAL_N 5

static void total_created_per_call(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out,
                                   void *user)
{
    (void)user;
    duet_var *total = duet_var_new(ctx, "total", DUET_F32, 0, NULL);
    duet_tensor *v = duet_add(ctx, duet_var_read(ctx, total), duet_sum(ctx, in[0], 0, false));
    duet_assign(ctx, total, v);
    out[0] = v;
}

static void *total_setup(duet_ctx *ctx, uint64_t seed)
{
    (void)seed;
    return duet_var_new(ctx, "total", DUET_F32, 0, NULL); /* NULL with the error set */
}

static void total_captured(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    duet_var *total = user;
    duet_tensor *v = duet_add(ctx, duet_var_read(ctx, total), duet_sum(ctx, in[0], 0, false));
    duet_assign(ctx, total, v);
    out[0] = v;
}

static void amounts(duet_ctx *ctx, void *state, int step, uint64_t seed, duet_tensor **in)
{
    (void)state;
    uint64_t rng = bugs_rng_init(seed, step, 0);
    in[0] = bugs_uniform(ctx, &rng, 1, (int64_t[]){TOTAL_N}, 0.0f, 10.0f);
}

#define TOTAL_COMMON .category = "state", .nin = 1, .nout = 1, .steps = 6, .inputs = amounts

DUET_CASE(variable_in_function, TOTAL_COMMON, .name = "variable-in-function",
          .summary = "a variable created inside the body: one per call eagerly, one per trace "
                     "in graph mode (refused)",
          .twin = "variable-in-function-fixed", .body = total_created_per_call,
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_TRACE_ERROR},
                     [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_TRACE_ERROR},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_TRACE_ERROR}},
          .why = "Eagerly every call creates a fresh variable at zero, so the \"total\" is only "
                 "that call's sum. A trace runs the body once: it would create one variable and "
                 "carry it across every later call, silently computing another thing. So "
                 "duet_var_new while tracing is a diagnostic, under every policy.",
          .fix_why = "Create the variable once, at set-up, and capture it (the function's user "
                     "pointer): the body reads and assigns it, a running total in both modes.",
          .frameworks = {.tensorflow = "ValueError: tf.function only supports singleton "
                                       "tf.Variables created on the first call",
                         .jax = "no mutable variables: state is passed in and returned",
                         .pytorch = "parameters are created in __init__; a tensor created in "
                                    "forward is a fresh constant per call"})

DUET_CASE(variable_in_function_fixed, TOTAL_COMMON, .name = "variable-in-function-fixed",
          .summary = "the variable created once at set-up and captured: a running total in "
                     "both modes",
          .fixes = "variable-in-function", .setup = total_setup, .body = total_captured,
          .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_OK, .max_traces = 1},
                     [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_OK, .max_traces = 1},
                     [DUET_RUN_GUARD] = {DUET_OUTCOME_OK, .max_traces = 1}})
