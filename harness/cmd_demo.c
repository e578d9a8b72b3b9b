/* `duet demo`: the same training step run eagerly and as a traced graph, showing
 * the loss falling, the two modes agreeing step by step, and what graph mode saves. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mlp/mlp.h"
#include "timing.h"

#define DEMO_STEPS 300
#define DEMO_BATCH 64

typedef struct demo_run {
    float loss[DEMO_STEPS];
    double ms[DEMO_STEPS];
    int traces;
} demo_run;

static int train(duet_exec_mode mode, demo_run *r)
{
    duet_ctx *ctx = duet_ctx_new();
    mlp m;
    int rc = ctx ? mlp_init(ctx, &m, 2, 32, 3, 7) : -1;
    duet_fn *fn = rc ? NULL : duet_fn_new(ctx, "mlp_train_step", mlp_train_step, 2, 1, &m);
    if (fn) {
        duet_fn_set_mode(fn, mode);
        rc = duet_fn_relax(fn, "(N,2) (N)");
    }
    for (int s = 0; fn && !rc && s < DEMO_STEPS; s++) {
        duet_tensor *x, *y, *loss;
        mlp_batch(ctx, &m, DEMO_BATCH - (s % 4), (unsigned)s, &x, &y); /* ragged batches */
        double t0 = duet_now_ms();
        rc = duet_fn_call(fn, (duet_tensor *[]){x, y}, &loss);
        r->ms[s] = duet_now_ms() - t0;
        if (!rc) r->loss[s] = duet_get_f32(loss, 0);
        duet_ctx_reset(ctx);
    }
    if (rc && ctx) duet_diag_print(stderr, duet_ctx_error(ctx));
    r->traces = fn ? duet_fn_trace_count(fn) : 0;
    duet_fn_free(fn);
    if (ctx && !rc) mlp_free(&m);
    duet_ctx_free(ctx);
    return rc;
}

int duet_cmd_demo(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "duet demo: takes no arguments (see duet --help)\n");
        return 2;
    }
    static demo_run eager, graph;
    printf("duet demo: a 2-layer MLP (2 -> 32 -> 3, Adam) trained for %d steps on generated "
           "data,\nonce eagerly and once as a traced graph, from the same C code.\n\n",
           DEMO_STEPS);
    if (train(DUET_EAGER, &eager) || train(DUET_GRAPH, &graph)) return 3;
    printf("%6s  %12s  %12s  %10s\n", "step", "eager loss", "graph loss", "rel diff");
    double worst = 0;
    for (int s = 0; s < DEMO_STEPS; s++) {
        double d = eager.loss[s] == graph.loss[s]
                       ? 0
                       : (double)(eager.loss[s] - graph.loss[s]) / (double)eager.loss[s];
        if (d < 0) d = -d;
        if (d > worst) worst = d;
        if (s % 25 == 0 || s == DEMO_STEPS - 1)
            printf("%6d  %12.6f  %12.6f  %10.2g\n", s, eager.loss[s], graph.loss[s], d);
    }
    /* steady state: skip the first step (the trace) */
    double me = duet_median(eager.ms + 1, DEMO_STEPS - 1);
    double mg = duet_median(graph.ms + 1, DEMO_STEPS - 1);
    printf("\nloss %.4f -> %.4f; eager and graph agree to a relative %.2g at every step\n",
           eager.loss[0], eager.loss[DEMO_STEPS - 1], worst);
    printf("graph mode: %d trace(s) for %d ragged batches; first call (trace + compile + run) "
           "%.2f ms\n",
           graph.traces, DEMO_STEPS, graph.ms[0]);
    printf("median step: eager %.3f ms, graph %.3f ms (%.2fx)\n", me, mg, mg > 0 ? me / mg : 0);
    return eager.loss[DEMO_STEPS - 1] < eager.loss[0] && worst <= 1e-5 ? 0 : 1;
}
