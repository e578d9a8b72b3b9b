/* Arenas: bump allocation in chunks. Eager tensors and the tape live in the step
 * arena and go away together at duet_ctx_reset, which is why ops never free. */
#define _DEFAULT_SOURCE /* madvise */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

struct duet_chunk {
    duet_chunk *next;
    size_t size, used;
    _Alignas(64) unsigned char data[];
};

#define DUET_CHUNK_MIN ((size_t)1 << 20)
#define DUET_ALIGN 64

void *duet_heap_alloc(duet_ctx *ctx, size_t bytes)
{
    if (ctx->mem_limit && ctx->mem_used + bytes > ctx->mem_limit) return NULL;
    void *p = malloc(bytes ? bytes : 1);
    if (p) ctx->mem_used += bytes;
    return p;
}

/* Asks the kernel to map a new block's pages now, in one call: faulting them in one
 * 4 KB page at a time, as the first step's kernels wrote them, was most of the first
 * call's time. Advice only: an old kernel without MADV_POPULATE_WRITE says no. */
void duet_prefault(void *p, size_t bytes)
{
#ifdef MADV_POPULATE_WRITE
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1), hi = ((uintptr_t)p + bytes) & ~(page - 1);
    if (bytes >= DUET_PREFAULT_MIN && hi > lo) madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
#else
    (void)p, (void)bytes;
#endif
}

void duet_heap_free(duet_ctx *ctx, void *p, size_t bytes)
{
    if (!p) return;
    free(p);
    ctx->mem_used -= bytes;
}

/* Chunks stay in allocation order and survive resets: a training loop makes the same
 * requests every step, so after the first step it finds its memory again and never
 * calls malloc (or faults in fresh pages). A new chunk is at least as large as the
 * arena so far, so a step of any size makes a handful of chunks, not hundreds. */
static duet_chunk *chunk_new(duet_ctx *ctx, duet_arena *a, size_t size);

void *duet_arena_alloc(duet_ctx *ctx, duet_arena *a, size_t size)
{
    if (size > ((size_t)1 << 40)) return NULL;
    size = (size + DUET_ALIGN - 1) & ~(size_t)(DUET_ALIGN - 1);
    duet_chunk *c = a->cur ? a->cur : a->head, *last = NULL;
    for (; c; last = c, c = c->next)
        if (c->size - c->used >= size) break;
    if (!c) {
        size_t grow = a->bytes > DUET_CHUNK_MIN ? a->bytes : DUET_CHUNK_MIN;
        c = chunk_new(ctx, a, size > grow ? size : grow);
        if (!c) return NULL;
        if (!last) /* cur was NULL and the list empty */
            for (last = a->head; last && last->next; last = last->next) {}
        if (last) last->next = c;
        else a->head = c;
    }
    void *p = c->data + c->used;
    c->used += size;
    a->cur = c;
    return p;
}

static duet_chunk *chunk_new(duet_ctx *ctx, duet_arena *a, size_t size)
{
    duet_chunk *c = duet_heap_alloc(ctx, sizeof(duet_chunk) + size);
    if (!c) return NULL;
    c->size = size;
    c->used = 0;
    c->next = NULL;
    a->bytes += size;
    return c;
}

/* Every chunk is kept: the next step reuses the memory already faulted in. (Merging
 * them into one fresh chunk made the second step fault the whole step in again.) */
void duet_arena_reset(duet_arena *a)
{
    for (duet_chunk *c = a->head; c; c = c->next) c->used = 0;
    a->cur = a->head;
}

void duet_arena_free(duet_ctx *ctx, duet_arena *a)
{
    for (duet_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        duet_heap_free(ctx, c, sizeof(duet_chunk) + c->size);
    }
    a->head = a->cur = NULL;
    a->bytes = 0;
}

void duet_arena_adopt(duet_arena *dst, duet_arena *src)
{
    duet_chunk *last = src->head;
    if (!last) return;
    while (last->next) last = last->next;
    last->next = dst->head;
    dst->head = src->head;
    dst->cur = NULL; /* dst (the graveyard) is only ever freed, never allocated from */
    dst->bytes += src->bytes;
    src->head = src->cur = NULL;
    src->bytes = 0;
}

char *duet_arena_strdup(duet_ctx *ctx, duet_arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = duet_arena_alloc(ctx, a, n);
    if (d) memcpy(d, s, n);
    return d;
}
