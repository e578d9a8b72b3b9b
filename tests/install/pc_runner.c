/* A runner built with nothing but pkg-config (tests/install/run.sh): one case and a main
 * of its own, compiled with `pkg-config --cflags --libs --static duet`, as a project
 * without CMake would build its cases. */
#include "duet/case.h"

static void twice_body(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)user;
    out[0] = duet_add(ctx, in[0], in[0]);
}

static void twice_inputs(duet_ctx *ctx, void *state, int step, uint64_t seed, duet_tensor **in)
{
    (void)state;
    float v[3] = {1.0f, (float)seed, (float)step};
    in[0] = duet_constant(ctx, DUET_F32, 1, (int64_t[]){3}, v);
}

DUET_CASE(twice, .name = "twice", .category = "pkg-config", .summary = "x + x, right in every mode",
          .nin = 1, .nout = 1, .steps = 3, .body = twice_body, .inputs = twice_inputs)

int main(int argc, char **argv) { return duet_main(argc, argv); }
