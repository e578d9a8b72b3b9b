/* fusion-numerics: a legitimate numeric difference. The graph runs with the opt-in
 * DUET_PASS_REASSOC, which lets f32 sums accumulate in float, in 8 vector lanes,
 * as loops vectorised by XLA or under -ffast-math do, while eager sums in order in
 * double. Row totals of values spanning seven orders of magnitude then differ
 * from eager's by a few ULP: within the default tolerance (rtol 1e-5), so every run
 * is ok, but with --rtol 0 --atol 0 the graph runs diverge. Not a bug to fix but a
 * tolerance to choose (jax.jit vs numpy, torch.compile vs eager: compare with
 * allclose, not bit for bit). The twin is the same computation without the pass:
 * bit-identical to eager. */
#include <math.h>

#include "bugs/common.h"
#include "duet/case.h"

#define SUM_ROWS 16
#define SUM_COLS 1024

static void row_totals(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    out[0] = duet_sum(ctx, in[0], DUET_AXIS(1), false);
}

/* Positive values u * 10^e, u in [0, 1), e in [-3, 4): no cancellation, so the sums
 * stay within a few ULP whatever the order, but every order rounds differently. */
static void mixed_magnitudes(duet_ctx *ctx, void *state, int step, uint64_t seed, duet_tensor **in)
{
    (void)state;
    static float x[SUM_ROWS * SUM_COLS], e[SUM_ROWS * SUM_COLS];
    bugs_fill_uniform(x, SUM_ROWS * SUM_COLS, seed, step, 0, 0.0f, 1.0f);
    bugs_fill_uniform(e, SUM_ROWS * SUM_COLS, seed, step, 1, -3.0f, 4.0f);
    for (int i = 0; i < SUM_ROWS * SUM_COLS; i++) x[i] *= powf(10.0f, floorf(e[i]));
    in[0] = duet_constant(ctx, DUET_F32, 2, (int64_t[]){SUM_ROWS, SUM_COLS}, x);
}

#define SUM_COMMON                                                                        \
    .category = "numerics", .nin = 1, .nout = 1, .steps = 4, .body = row_totals,          \
    .inputs = mixed_magnitudes,                                                           \
    .expect = {[DUET_RUN_STRICT] = {DUET_OUTCOME_OK, .max_traces = 1},                    \
               [DUET_RUN_SPECIALIZE] = {DUET_OUTCOME_OK, .max_traces = 1},                \
               [DUET_RUN_GUARD] = {DUET_OUTCOME_OK, .max_traces = 1}}

DUET_CASE(fusion_numerics, SUM_COMMON, .name = "fusion-numerics",
          .summary = "sums reassociated in the graph (DUET_PASS_REASSOC): a few ULP from "
                     "eager, within tolerance",
          .twin = "fusion-numerics-fixed", .passes = DUET_PASS_ALL | DUET_PASS_REASSOC,
          .why = "Nothing is wrong, and that is the lesson. The opt-in pass DUET_PASS_REASSOC "
                 "lets the graph's f32 sums add in float, in 8 lanes added pairwise, as loops "
                 "vectorised by XLA or under -ffast-math do; eager adds in order in double. "
                 "Floating-point addition is not associative, so the totals differ by a few ULP: "
                 "within the default tolerance, not bit for bit.",
          .fix_why = "Compare with a tolerance (allclose), not bit for bit, or leave the pass off "
                     "(the twin): then the graph sums in eager's order and the results are "
                     "bit-identical.",
          .frameworks = {.tensorflow = "jit_compile=True (XLA) fuses and reorders reductions: "
                                       "last-bit differences from eager",
                         .jax = "jax.jit results differ from NumPy's in the last bits",
                         .pytorch = "torch.compile (Inductor) vs eager; compare with "
                                    "torch.testing.assert_close"})

DUET_CASE(fusion_numerics_fixed, SUM_COMMON, .name = "fusion-numerics-fixed",
          .summary = "the same sums without the pass: bit-identical to eager",
          .fixes = "fusion-numerics")
