/* The weights loader on arbitrary bytes, for a context with a parameter, its Adam
 * second moment and a step counter: it accepts a file or refuses it with one line,
 * never crashes, and changes no variable unless it accepts. What it accepts holds
 * every variable once and nothing else: writing the variables back gives as many
 * bytes (records may come in any order), which load again.
 *
 * Input byte 0 steers: bit 0 recomputes the checksum of the rest (so that mutations
 * reach the records behind it), bit 1 allows non-finite values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ner/weights.h"

static duet_ctx *ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    ctx = duet_ctx_new();
    duet_var *k = duet_var_new(ctx, "dense/kernel", DUET_F32, 2, (int64_t[]){3, 2});
    duet_var *v = duet_var_new(ctx, "dense/kernel/v", DUET_F32, 2, (int64_t[]){3, 2});
    duet_var *it = duet_var_new(ctx, "adam/iterations", DUET_I32, 0, NULL);
    FUZZ_REQUIRE(k && v && it, "variables");
    for (int i = 0; i < 6; i++) duet_var_f32(k)[i] = (float)i - 2.5f, duet_var_f32(v)[i] = 0.25f * (float)i;
    return 0;
}

/* Every variable's bytes, in order: what a refused file must leave as it was. */
static char *snapshot(size_t *n)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, n);
    FUZZ_REQUIRE(f && ner_weights_encode(ctx, f) == 0, "encode");
    fclose(f);
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    bool fix_crc = data[0] & 1, allow_nonfinite = data[0] & 2;
    size_t n = size - 1;
    unsigned char *file = malloc(n ? n : 1);
    FUZZ_REQUIRE(file, "malloc");
    memcpy(file, data + 1, n);
    if (fix_crc && n >= 4) {
        uint32_t crc = ner_crc32(0, file, n - 4);
        for (int b = 0; b < 4; b++) file[n - 4 + b] = (unsigned char)(crc >> (8 * b));
    }
    size_t before_n;
    char *before = snapshot(&before_n), err[512] = "";
    int rc = ner_weights_decode(ctx, file, n, "fuzz.bin", allow_nonfinite, err, sizeof err);
    size_t after_n;
    char *after = snapshot(&after_n);
    if (rc) {
        FUZZ_REQUIRE(err[0] && !strchr(err, '\n') && !strncmp(err, "fuzz.bin: ", 10),
                     "not one line naming the file: '%s'", err);
        FUZZ_REQUIRE(after_n == before_n && !memcmp(before, after, before_n),
                     "a refused file changed a variable (%s)", err);
    } else {
        FUZZ_REQUIRE(after_n == n, "accepted %zu bytes, which write back as %zu", n, after_n);
        rc = ner_weights_decode(ctx, (unsigned char *)after, after_n, "again.bin", true, err,
                                sizeof err);
        FUZZ_REQUIRE(rc == 0, "what was accepted does not load again: %s", err);
    }
    free(before);
    free(after);
    free(file);
    return 0;
}
