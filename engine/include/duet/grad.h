/* Reverse-mode autodiff and the Adam optimiser. Both are written with ops, so the
 * same code differentiates the eager tape and the traced graph. */
#ifndef DUET_GRAD_H
#define DUET_GRAD_H

#include "core.h"

/* grads[i] = d loss / d vars[i] (sum over every read of the variable since the last
 * reset or since the trace began). loss is reduced with an implicit ones seed.
 * Returns 0, or -1 with the context's error set. Variables the loss does not depend
 * on get zero gradients. */
int duet_grad(duet_ctx *ctx, duet_tensor *loss, duet_var *const *vars, int n, duet_tensor **grads);

typedef struct duet_adam duet_adam;
typedef struct duet_adam_config {
    float lr, beta1, beta2, epsilon;
} duet_adam_config;
/* Keras defaults: lr 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-7. */
duet_adam_config duet_adam_defaults(void);
/* Creates the slots (m, v per variable, and the iteration count) as variables. */
duet_adam *duet_adam_new(duet_ctx *ctx, duet_var *const *vars, int n, duet_adam_config cfg);
void duet_adam_free(duet_adam *opt);
/* One update with Keras's formula; every change goes through duet_assign. */
int duet_adam_apply(duet_ctx *ctx, duet_adam *opt, duet_tensor *const *grads);
duet_var *duet_adam_iterations(duet_adam *opt);

#endif
