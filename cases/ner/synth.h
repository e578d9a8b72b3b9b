/* A synthetic CoNLL-style NER corpus: the embedded default of the NER case, so the demo
 * needs no data. Newswire-like sentences from ~35 templates (statements, company news,
 * sports results, tennis and motor racing, datelines, weather lists, headlines in
 * capitals), filled from name lists of all four types with multi-token names. Built to
 * be learnable but not trivial:
 *  - the same word takes different types by context: "Jordan" (PER / LOC / ORG, the
 *    motor racing team), "Washington" (PER / LOC / ORG, the sports team), "Chelsea"
 *    (PER / ORG), "Florence" (PER / LOC), "Liverpool", "Barcelona", "Dallas" (LOC /
 *    ORG), "European" (MISC / inside ORG names), and lowercased common nouns that are
 *    names elsewhere ("turkey", "china", "bush": O);
 *  - adjacent entities of the same type ("German World Cup", "Belgian Grand Prix",
 *    "Portland OR");
 *  - numbers, dates, scores, quotes and punctuation tokens; sentence-initial and
 *    mid-sentence case variety and occasional all-capitals headlines;
 *  - sentence lengths from 4 to 40 tokens.
 * Tags are valid IOB2. Deterministic for a seed (independent of the platform). */
#ifndef DUET_NER_SYNTH_H
#define DUET_NER_SYNTH_H

#include <stdint.h>

#include "ner/data.h"

#define NER_SYNTH_MIN_LEN 4
#define NER_SYNTH_MAX_LEN 40

/* Fills *out (overwritten; free a previous corpus first) with n_sentences sentences.
 * Returns 0, or -1 (out of memory, n_sentences < 0) with *out empty. */
int ner_synth_generate(ner_corpus *out, int n_sentences, uint64_t seed);

#endif
