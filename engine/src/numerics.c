/* Which arithmetic the kernels use, decided once per process from the CPU and the
 * build: fused multiply-add (AVX-512 or AVX2 vectors) when the CPU has it, or the
 * portable mul-then-add path, whose bits are the same on every x86-64 CPU and match
 * the kernels before FMA was used. Eager and graph mode run the same kernels, so they
 * agree bit for bit either way; FMA only changes which machines agree with each other.
 *
 * The portable path is forced by building with -DDUET_PORTABLE_NUMERICS=ON, or at run
 * time by the environment variable DUET_PORTABLE_NUMERICS set to anything but "0"
 * (read once, at the first kernel that asks). */
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"

static duet_isa isa_chosen;
static pthread_once_t isa_once = PTHREAD_ONCE_INIT;

static void choose_isa(void)
{
    isa_chosen = DUET_ISA_PORTABLE;
#ifndef DUET_PORTABLE_NUMERICS
    const char *env = getenv("DUET_PORTABLE_NUMERICS");
    if (env && *env && strcmp(env, "0")) return;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma"))
        isa_chosen = DUET_ISA_AVX512_FMA;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        isa_chosen = DUET_ISA_AVX2_FMA;
#endif
#endif
}

duet_isa duet_kernel_isa(void)
{
    pthread_once(&isa_once, choose_isa);
    return isa_chosen;
}

const char *duet_numerics(void)
{
    switch (duet_kernel_isa()) {
    case DUET_ISA_AVX512_FMA: return "avx512-fma";
    case DUET_ISA_AVX2_FMA: return "avx2-fma";
    default: return "portable";
    }
}
