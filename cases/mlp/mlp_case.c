/* The MLP training step as a harness case: the smallest whole step (forward, loss,
 * gradients, Adam), with batch sizes that vary by step. */
#include <stdlib.h>

#include "duet/case.h"
#include "mlp/mlp.h"

static void *mlp_setup(duet_ctx *ctx, uint64_t seed)
{
    mlp *m = calloc(1, sizeof *m);
    if (!m || mlp_init(ctx, m, 2, 8, 3, (unsigned)seed)) {
        free(m);
        duet_ctx_fail(ctx, DUET_ERR_OOM, "mlp case: cannot build the model");
        return NULL;
    }
    return m;
}

static void mlp_teardown(void *state)
{
    if (!state) return;
    mlp_free(state);
    free(state);
}

static void mlp_inputs(duet_ctx *ctx, void *state, int step, uint64_t seed, duet_tensor **in)
{
    mlp_batch(ctx, state, 16 + 8 * (step % 3), (unsigned)(seed * 1000 + (uint64_t)step), &in[0],
              &in[1]);
}

DUET_CASE(mlp_case, .name = "mlp", .category = "model",
          .summary = "a two-layer MLP classifier's training step, batch sizes varying",
          .nin = 2, .nout = 1, .relax = "(N,_) (N)", .steps = 12, .setup = mlp_setup,
          .teardown = mlp_teardown, .body = mlp_train_step, .inputs = mlp_inputs)
