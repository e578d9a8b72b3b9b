/* conlleval-compatible NER evaluation (CoNLL-2000/2003 conlleval.pl, and the
 * sighsmile Python port `conlleval.evaluate` used by the keras-io NER example).
 *
 * Tags are the case's integer ids, IOB2:
 *   0 [PAD], 1 O, 2 B-PER, 3 I-PER, 4 B-ORG, 5 I-ORG, 6 B-LOC, 7 I-LOC, 8 B-MISC, 9 I-MISC.
 * Entity types are indexed in conlleval's (alphabetical) printing order:
 *   0 LOC, 1 MISC, 2 ORG, 3 PER.
 *
 * Chunk detection and chunk correctness follow conlleval.pl's startOfChunk /
 * endOfChunk and its inCorrect (lastCorrect/lastCorrectType) tracking exactly; each
 * ner_eval_add call is one sentence, closed at its end as conlleval closes a
 * sentence at a blank line.
 *
 * Reproducing the keras-io example bit for bit: its calculate_metrics() keeps only
 * positions with gold > 0 AND pred > 0, concatenates every sentence of the
 * validation set into ONE sequence (no sentence breaks) and calls
 * conlleval.evaluate. To match that, filter those positions and pass the whole
 * concatenation to a single ner_eval_add call, then print with
 * ner_eval_print_keras (which adds the port's "(non-O)" accuracy line). */
#ifndef DUET_CASE_NER_METRICS_H
#define DUET_CASE_NER_METRICS_H

#include <stdint.h>
#include <stdio.h>

#define NER_EVAL_NTYPES 4

typedef struct ner_eval {
    int64_t tokens;         /* evaluated tokens (gold != padding) */
    int64_t correct_tags;   /* tokens whose predicted tag equals the gold tag */
    int64_t nono_tokens;    /* tokens whose gold tag is not O */
    int64_t nono_correct;   /* ... and whose predicted tag equals it */
    int64_t gold_chunks;    /* conlleval foundCorrect */
    int64_t guessed_chunks; /* conlleval foundGuessed */
    int64_t correct_chunks; /* conlleval correctChunk */
    int64_t type_gold[NER_EVAL_NTYPES];
    int64_t type_guessed[NER_EVAL_NTYPES];
    int64_t type_correct[NER_EVAL_NTYPES];
} ner_eval;

typedef struct ner_scores {
    double precision, recall, f1; /* percent; 0 when undefined, as conlleval */
    int64_t gold, guessed, correct;
} ner_scores;

void ner_eval_init(ner_eval *e);

/* Adds one sentence of n tokens. Positions with gold == 0 (padding) are skipped as
 * if absent; a predicted 0 (padding) counts as O. Ids outside 0..9 are treated
 * like 0. */
void ner_eval_add(ner_eval *e, const int32_t *gold, const int32_t *pred, int n);

/* Overall and per-type (LOC, MISC, ORG, PER) precision / recall / F1 and counts.
 * Either pointer may be NULL. */
void ner_eval_summary(const ner_eval *e, ner_scores *overall,
                      ner_scores per_type[NER_EVAL_NTYPES]);

/* Token accuracy in percent (0 with no tokens): all tokens, O included. */
double ner_eval_accuracy(const ner_eval *e);

/* "LOC", "MISC", "ORG", "PER" for type 0..3; NULL otherwise. */
const char *ner_eval_type_name(int type);

/* conlleval.pl's report, byte for byte: the "processed ..." line, the accuracy
 * line (only when there are tokens, as conlleval) and one line per type that has
 * a gold or a guessed chunk. */
void ner_eval_print(FILE *f, const ner_eval *e);

/* The Python conlleval port's report as printed by the keras-io example: as above
 * plus "accuracy: %6.2f%%; (non-O)" after the first line (0.00 where the port
 * would divide by zero), with the port's arithmetic (fractions, then x100), which
 * can round a tie differently from Perl (F1 21.875: 21.87 vs 21.88).
 * ner_eval_summary uses the Perl arithmetic. */
void ner_eval_print_keras(FILE *f, const ner_eval *e);

#endif
