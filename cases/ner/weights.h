/* Weights files: every variable of a context (parameters, optimiser slots, step
 * counters) by name, in the layout docs/weights-format.md describes: a format
 * version, explicit little-endian fields and a CRC-32 over the whole file.
 *
 * The loader is strict, because a file it accepts decides a whole training run: it
 * takes a file only when every variable of the context is there exactly once with its
 * dtype and shape, nothing follows the last one, the checksum matches, step counters
 * are not negative, Adam's second moments (variables named ".../v") are not negative,
 * and, unless allow_nonfinite, every f32 value is finite. Nothing is changed unless
 * the whole file is accepted. Errors are one line in err naming the file; 0 or -1. */
#ifndef DUET_NER_WEIGHTS_H
#define DUET_NER_WEIGHTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "duet/duet.h"

#define NER_WEIGHTS_VERSION 2

int ner_save_weights(duet_ctx *ctx, const char *path, char *err, size_t errlen);
int ner_load_weights(duet_ctx *ctx, const char *path, bool allow_nonfinite, char *err,
                     size_t errlen);

/* The same on bytes: encode writes the file's bytes to f; decode reads n bytes (name is
 * what errors call them). */
int ner_weights_encode(duet_ctx *ctx, FILE *f);
int ner_weights_decode(duet_ctx *ctx, const unsigned char *buf, size_t n, const char *name,
                       bool allow_nonfinite, char *err, size_t errlen);

/* CRC-32 (IEEE 802.3, as zlib's crc32 and Python's zlib.crc32), continued from crc
 * (0 to start). */
uint32_t ner_crc32(uint32_t crc, const void *buf, size_t n);

#endif
