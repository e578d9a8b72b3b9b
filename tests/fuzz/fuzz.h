/* libFuzzer's entry points, which each tests/fuzz/fuzz_*.c defines; replay.c calls
 * them on files (the seed corpus and every crash found), so a normal test runs them
 * without libFuzzer. */
#ifndef DUET_FUZZ_H
#define DUET_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property the target checks does not hold: report it as libFuzzer reports a crash
 * (abort), with what broke. */
#define FUZZ_REQUIRE(cond, ...)                                                           \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "fuzz: %s:%d: %s: ", __FILE__, __LINE__, #cond);              \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fprintf(stderr, "\n");                                                        \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

#endif
