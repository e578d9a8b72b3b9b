/* A two-layer MLP classifier on generated 2-D data: the smallest whole training
 * step (forward, loss, gradients, Adam), used by `duet demo` and the graph tests. */
#ifndef DUET_CASE_MLP_H
#define DUET_CASE_MLP_H

#include "duet/duet.h"

typedef struct mlp {
    duet_var *w1, *b1, *w2, *b2;
    duet_adam *opt;
    int in, hidden, classes;
} mlp;

int mlp_init(duet_ctx *ctx, mlp *m, int in, int hidden, int classes, unsigned seed);
void mlp_free(mlp *m);
/* A duet_fn body: in = {x (N, in) f32, y (N,) i32}, out = {mean cross-entropy}. */
void mlp_train_step(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user);
/* A batch of n points: class = which side of a fixed wavy boundary the point is on. */
void mlp_batch(duet_ctx *ctx, const mlp *m, int n, unsigned seed, duet_tensor **x,
               duet_tensor **y);

#endif
