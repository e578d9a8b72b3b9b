/* conlleval-compatible NER evaluation; see metrics.h. The chunk logic is a direct
 * transcription of conlleval.pl's main loop, startOfChunk and endOfChunk, restricted
 * to the IOB tags the case produces (no E/S/[/] branches are reachable). */
#include "ner/metrics.h"

#include <inttypes.h>
#include <string.h>

#define NO_TYPE (-1)

static const char *const type_names[NER_EVAL_NTYPES] = {"LOC", "MISC", "ORG", "PER"};

/* Tag id -> (chunk tag letter, type index); 0 (padding) and unknown ids -> O. */
static void decode(int32_t id, char *tag, int *type)
{
    static const int types[10] = {NO_TYPE, NO_TYPE, 3, 3, 2, 2, 0, 0, 1, 1};
    if (id < 2 || id > 9) {
        *tag = 'O';
        *type = NO_TYPE;
        return;
    }
    *tag = (id % 2 == 0) ? 'B' : 'I';
    *type = types[id];
}

/* conlleval endOfChunk: did a chunk end between the previous and current word? */
static int end_of_chunk(char prev_tag, char tag, int prev_type, int type)
{
    int end = 0;
    if (prev_tag == 'B' && tag == 'B') end = 1;
    if (prev_tag == 'B' && tag == 'O') end = 1;
    if (prev_tag == 'I' && tag == 'B') end = 1;
    if (prev_tag == 'I' && tag == 'O') end = 1;
    if (prev_tag != 'O' && prev_type != type) end = 1;
    return end;
}

/* conlleval startOfChunk: did a chunk start between the previous and current word? */
static int start_of_chunk(char prev_tag, char tag, int prev_type, int type)
{
    int start = 0;
    if (prev_tag == 'B' && tag == 'B') start = 1;
    if (prev_tag == 'I' && tag == 'B') start = 1;
    if (prev_tag == 'O' && tag == 'B') start = 1;
    if (prev_tag == 'O' && tag == 'I') start = 1;
    if (tag != 'O' && prev_type != type) start = 1;
    return start;
}

typedef struct scan {
    char last_correct, last_guessed;
    int last_correct_type, last_guessed_type;
    int in_correct;
} scan;

/* One line of conlleval's input loop. A sentence boundary is the line (-X-, O, O):
 * it closes chunks but is not counted as a token. */
static void step(ner_eval *e, scan *s, char correct, int correct_type, char guessed,
                 int guessed_type, int boundary)
{
    if (s->in_correct) {
        int ce = end_of_chunk(s->last_correct, correct, s->last_correct_type, correct_type);
        int ge = end_of_chunk(s->last_guessed, guessed, s->last_guessed_type, guessed_type);
        if (ce && ge && s->last_guessed_type == s->last_correct_type) {
            s->in_correct = 0;
            e->correct_chunks++;
            e->type_correct[s->last_correct_type]++;
        } else if (ce != ge || guessed_type != correct_type) {
            s->in_correct = 0;
        }
    }

    int cs = start_of_chunk(s->last_correct, correct, s->last_correct_type, correct_type);
    int gs = start_of_chunk(s->last_guessed, guessed, s->last_guessed_type, guessed_type);
    if (cs && gs && guessed_type == correct_type) s->in_correct = 1;
    if (cs) {
        e->gold_chunks++;
        e->type_gold[correct_type]++;
    }
    if (gs) {
        e->guessed_chunks++;
        e->type_guessed[guessed_type]++;
    }
    if (!boundary) {
        int same = correct == guessed && guessed_type == correct_type;
        e->tokens++;
        e->correct_tags += same;
        if (correct != 'O') {
            e->nono_tokens++;
            e->nono_correct += same;
        }
    }

    s->last_correct = correct;
    s->last_guessed = guessed;
    s->last_correct_type = correct_type;
    s->last_guessed_type = guessed_type;
}

void ner_eval_init(ner_eval *e)
{
    memset(e, 0, sizeof *e);
}

void ner_eval_add(ner_eval *e, const int32_t *gold, const int32_t *pred, int n)
{
    scan s = {'O', 'O', NO_TYPE, NO_TYPE, 0};
    for (int i = 0; i < n; i++) {
        if (gold[i] < 1 || gold[i] > 9) continue; /* padding: not a token */
        char ct, gt;
        int cty, gty;
        decode(gold[i], &ct, &cty);
        decode(pred[i], &gt, &gty);
        step(e, &s, ct, cty, gt, gty, 0);
    }
    /* End of sentence: conlleval's boundary line closes every open chunk, so its
     * end-of-file rule (count a still-open correct chunk) has nothing left to do. */
    step(e, &s, 'O', NO_TYPE, 'O', NO_TYPE, 1);
}

/* conlleval.pl's arithmetic: percentages first, F1 from the percentages. */
static void score(ner_scores *r, int64_t correct, int64_t guessed, int64_t gold)
{
    double p = 0.0, rc = 0.0, f = 0.0;
    if (guessed > 0) p = 100.0 * (double)correct / (double)guessed;
    if (gold > 0) rc = 100.0 * (double)correct / (double)gold;
    if (p + rc > 0.0) f = 2.0 * p * rc / (p + rc);
    r->precision = p;
    r->recall = rc;
    r->f1 = f;
    r->gold = gold;
    r->guessed = guessed;
    r->correct = correct;
}

/* The Python port's calc_metrics: fractions first, scaled by 100 at the end. The
 * results can differ from the Perl ones in the last bit, which shows when a value
 * lands on a rounding tie (e.g. F1 = 21.875 prints 21.87 here, 21.88 in Perl). */
static void score_py(ner_scores *r, int64_t correct, int64_t guessed, int64_t gold)
{
    double p = 0.0, rc = 0.0, f = 0.0;
    if (guessed > 0) p = (double)correct / (double)guessed;
    if (gold > 0) rc = (double)correct / (double)gold;
    if (p + rc != 0.0) f = 2.0 * p * rc / (p + rc);
    r->precision = 100.0 * p;
    r->recall = 100.0 * rc;
    r->f1 = 100.0 * f;
    r->gold = gold;
    r->guessed = guessed;
    r->correct = correct;
}

void ner_eval_summary(const ner_eval *e, ner_scores *overall,
                      ner_scores per_type[NER_EVAL_NTYPES])
{
    if (overall) score(overall, e->correct_chunks, e->guessed_chunks, e->gold_chunks);
    if (per_type)
        for (int t = 0; t < NER_EVAL_NTYPES; t++)
            score(&per_type[t], e->type_correct[t], e->type_guessed[t], e->type_gold[t]);
}

double ner_eval_accuracy(const ner_eval *e)
{
    return e->tokens > 0 ? 100.0 * (double)e->correct_tags / (double)e->tokens : 0.0;
}

const char *ner_eval_type_name(int type)
{
    return (type >= 0 && type < NER_EVAL_NTYPES) ? type_names[type] : NULL;
}

static void print_report(FILE *f, const ner_eval *e, int keras)
{
    ner_scores all, per[NER_EVAL_NTYPES];
    void (*sc)(ner_scores *, int64_t, int64_t, int64_t) = keras ? score_py : score;
    sc(&all, e->correct_chunks, e->guessed_chunks, e->gold_chunks);
    for (int t = 0; t < NER_EVAL_NTYPES; t++)
        sc(&per[t], e->type_correct[t], e->type_guessed[t], e->type_gold[t]);

    fprintf(f, "processed %" PRId64 " tokens with %" PRId64 " phrases; ", e->tokens,
            e->gold_chunks);
    fprintf(f, "found: %" PRId64 " phrases; correct: %" PRId64 ".\n", e->guessed_chunks,
            e->correct_chunks);
    if (keras) {
        double nono = e->nono_tokens > 0
                          ? 100.0 * (double)e->nono_correct / (double)e->nono_tokens
                          : 0.0;
        fprintf(f, "accuracy: %6.2f%%; (non-O)\n", nono);
    }
    if (keras || e->tokens > 0) {
        fprintf(f, "accuracy: %6.2f%%; ", ner_eval_accuracy(e));
        fprintf(f, "precision: %6.2f%%; ", all.precision);
        fprintf(f, "recall: %6.2f%%; ", all.recall);
        fprintf(f, "FB1: %6.2f\n", all.f1);
    }
    for (int t = 0; t < NER_EVAL_NTYPES; t++) {
        if (per[t].gold == 0 && per[t].guessed == 0) continue;
        fprintf(f, "%17s: ", type_names[t]);
        fprintf(f, "precision: %6.2f%%; ", per[t].precision);
        fprintf(f, "recall: %6.2f%%; ", per[t].recall);
        fprintf(f, "FB1: %6.2f  %" PRId64 "\n", per[t].f1, per[t].guessed);
    }
}

void ner_eval_print(FILE *f, const ner_eval *e)
{
    print_report(f, e, 0);
}

void ner_eval_print_keras(FILE *f, const ner_eval *e)
{
    print_report(f, e, 1);
}
