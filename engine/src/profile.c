/* Per-op profiling: the hook eager dispatch and the executor call around kernels. */
#include <time.h>

#include "graph_internal.h"

double duet_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void duet_ctx_set_profiler(duet_ctx *ctx, duet_profiler_fn fn, void *user)
{
    ctx->profiler = fn;
    ctx->profiler_user = user;
}

void duet_profile_node(duet_ctx *ctx, const duet_node *n, bool graph, double start_ms)
{
    double end = duet_clock_ms();
    duet_op_event e = {
        .op = duet_op_table[n->op]->name,
        .members = duet_is_fused(n) ? duet_fused_members(n) : NULL,
        .scope = n->scope ? n->scope : "",
        .file = n->site.file,
        .line = n->site.line,
        .mode = graph ? DUET_GRAPH : DUET_EAGER,
        .grad = n->grad_of != NULL,
        /* a plan's own nodes run at depth 1; eager ops outside any plan */
        .depth = graph && ctx->exec_depth > 0 ? ctx->exec_depth - 1 : 0,
        .start_ms = start_ms,
        .dur_ms = end - start_ms,
    };
    ctx->profiler(&e, ctx->profiler_user);
}
