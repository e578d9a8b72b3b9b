/* Divergence localisation: see localise.h. */
#include <stdlib.h>
#include <string.h>

#include "localise.h"

static uint64_t hash_mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3u; } /* FNV-1a */

static uint64_t hash_str(uint64_t h, const char *s)
{
    for (; *s; s++) h = hash_mix(h, (unsigned char)*s);
    return hash_mix(h, 0x100); /* ends the string, so "ab"+"c" and "a"+"bc" differ */
}

static uint64_t record_hash(const duet_record *r)
{
    uint64_t h = hash_str(hash_str(hash_str(0xcbf29ce484222325u, r->scope), r->op), r->file);
    h = hash_mix(h, (uint32_t)r->line);
    h = hash_mix(h, (uint32_t)r->occurrence);
    return hash_mix(h, r->grad);
}

static bool same_key(const duet_record *a, const duet_record *b)
{
    return a->line == b->line && a->occurrence == b->occurrence && a->grad == b->grad &&
           !strcmp(a->op, b->op) && !strcmp(a->scope, b->scope) && !strcmp(a->file, b->file);
}

/* A hash table of the eager records (open addressing, at most half full): a debug
 * run of the NER step has tens of thousands of records, too many to scan per record. */
int *duet_match_records(const duet_record *graph, int ng, const duet_record *eager, int ne)
{
    size_t cap = 2;
    while (cap < 2 * (size_t)ne) cap *= 2;
    int *slot = malloc(sizeof *slot * cap);
    int *twin = malloc(sizeof *twin * (size_t)(ng ? ng : 1));
    if (!slot || !twin) {
        free(slot), free(twin);
        return NULL;
    }
    for (size_t k = 0; k < cap; k++) slot[k] = -1;
    for (int j = 0; j < ne; j++) {
        size_t k = (size_t)record_hash(&eager[j]) & (cap - 1);
        while (slot[k] >= 0) k = (k + 1) & (cap - 1);
        slot[k] = j;
    }
    for (int i = 0; i < ng; i++) {
        size_t k = (size_t)record_hash(&graph[i]) & (cap - 1);
        while (slot[k] >= 0 && !same_key(&eager[slot[k]], &graph[i])) k = (k + 1) & (cap - 1);
        twin[i] = slot[k];
    }
    free(slot);
    return twin;
}
