/* duet_fn_relax's spec parser on arbitrary text, for functions of 0 to 16 inputs: a
 * spec is taken or refused with a diagnostic, never a crash or undefined behaviour. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duet/duet.h"
#include "fuzz.h"

static duet_ctx *ctx;

static void body(duet_ctx *c, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)c, (void)in, (void)out, (void)user;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    ctx = duet_ctx_new();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    int nin = data[0] % 17;
    char *spec = malloc(size);
    FUZZ_REQUIRE(spec, "malloc");
    memcpy(spec, data + 1, size - 1);
    spec[size - 1] = 0;
    duet_fn *fn = duet_fn_new(ctx, "fuzzed", body, nin, 0, NULL);
    FUZZ_REQUIRE(fn, "duet_fn_new");
    int rc = duet_fn_relax(fn, spec);
    FUZZ_REQUIRE((rc == 0) == (duet_ctx_status(ctx) == DUET_OK), "relax returned %d, status %d",
                 rc, (int)duet_ctx_status(ctx));
    FUZZ_REQUIRE(rc == 0 || duet_ctx_status(ctx) == DUET_ERR_ARG, "status %d",
                 (int)duet_ctx_status(ctx));
    duet_ctx_clear_error(ctx);
    duet_fn_free(fn);
    free(spec);
    return 0;
}
