/* Arenas: bump allocation in chunks. Eager tensors and the tape live in the step
 * arena and go away together at duet_ctx_reset, which is why ops never free. */
#include <stdlib.h>

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

void duet_heap_free(duet_ctx *ctx, void *p, size_t bytes)
{
    if (!p) return;
    free(p);
    ctx->mem_used -= bytes;
}

void *duet_arena_alloc(duet_ctx *ctx, duet_arena *a, size_t size)
{
    if (size > ((size_t)1 << 40)) return NULL;
    size = (size + DUET_ALIGN - 1) & ~(size_t)(DUET_ALIGN - 1);
    duet_chunk *c = a->head;
    if (!c || c->size - c->used < size) {
        /* Reuse a later chunk that has room (after a reset all are empty). */
        size_t want = size > DUET_CHUNK_MIN ? size : DUET_CHUNK_MIN;
        c = duet_heap_alloc(ctx, sizeof(duet_chunk) + want);
        if (!c) return NULL;
        c->size = want;
        c->used = 0;
        c->next = a->head;
        a->head = c;
        a->bytes += want;
    }
    void *p = c->data + c->used;
    c->used += size;
    return p;
}

/* Keeps the largest chunk so a steady training loop stops calling malloc. */
void duet_arena_reset(duet_ctx *ctx, duet_arena *a)
{
    duet_chunk *keep = NULL;
    for (duet_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        if (!keep || c->size > keep->size) {
            if (keep) {
                a->bytes -= keep->size;
                duet_heap_free(ctx, keep, sizeof(duet_chunk) + keep->size);
            }
            keep = c;
        } else {
            a->bytes -= c->size;
            duet_heap_free(ctx, c, sizeof(duet_chunk) + c->size);
        }
    }
    if (keep) {
        keep->used = 0;
        keep->next = NULL;
    }
    a->head = keep;
}

void duet_arena_free(duet_ctx *ctx, duet_arena *a)
{
    duet_arena_reset(ctx, a);
    if (a->head) duet_heap_free(ctx, a->head, sizeof(duet_chunk) + a->head->size);
    a->head = NULL;
    a->bytes = 0;
}

char *duet_arena_strdup(duet_ctx *ctx, duet_arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = duet_arena_alloc(ctx, a, n);
    if (d) memcpy(d, s, n);
    return d;
}
