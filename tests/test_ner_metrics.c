/* conlleval-compatible NER evaluation: chunk starts/ends, chunk correctness, token
 * accuracy, padding, sentence breaks, per-type counts, the printed report. Every
 * expected number below is worked out by hand from conlleval.pl's rules. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "ner/metrics.h"

/* Tag ids of the case. */
enum { PAD = 0, O = 1, BP = 2, IP = 3, BO = 4, IO = 5, BL = 6, IL = 7, BM = 8, IM = 9 };
/* Type indices (printing order). */
enum { LOC = 0, MISC = 1, ORG = 2, PER = 3 };

#define ADD(e, g, p)                                                                      \
    do {                                                                                  \
        static const int32_t g_[] = {g};                                                  \
        static const int32_t p_[] = {p};                                                  \
        assert_int_equal(sizeof g_, sizeof p_);                                           \
        ner_eval_add((e), g_, p_, (int)(sizeof g_ / sizeof g_[0]));                      \
    } while (0)
#define L(...) __VA_ARGS__

static void check_counts(const ner_eval *e, int64_t tokens, int64_t correct_tags,
                         int64_t gold, int64_t guessed, int64_t correct)
{
    assert_int_equal(e->tokens, tokens);
    assert_int_equal(e->correct_tags, correct_tags);
    assert_int_equal(e->gold_chunks, gold);
    assert_int_equal(e->guessed_chunks, guessed);
    assert_int_equal(e->correct_chunks, correct);
}

static void check_type(const ner_eval *e, int t, int64_t gold, int64_t guessed,
                       int64_t correct)
{
    assert_int_equal(e->type_gold[t], gold);
    assert_int_equal(e->type_guessed[t], guessed);
    assert_int_equal(e->type_correct[t], correct);
}

static void check_scores(const ner_eval *e, double p, double r, double f)
{
    ner_scores s;
    ner_eval_summary(e, &s, NULL);
    assert_float_equal(s.precision, p, 1e-9);
    assert_float_equal(s.recall, r, 1e-9);
    assert_float_equal(s.f1, f, 1e-9);
}

static char *report(const ner_eval *e, int keras)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    if (keras)
        ner_eval_print_keras(f, e);
    else
        ner_eval_print(f, e);
    fclose(f);
    return buf;
}

static void test_perfect(void **state)
{
    (void)state;
    ner_eval e;
    ner_eval_init(&e);
    ADD(&e, L(BP, IP, O, BL, O, BM, IM, IM), L(BP, IP, O, BL, O, BM, IM, IM));
    check_counts(&e, 8, 8, 3, 3, 3);
    check_scores(&e, 100, 100, 100);
    assert_float_equal(ner_eval_accuracy(&e), 100.0, 1e-12);
    check_type(&e, PER, 1, 1, 1);
    check_type(&e, LOC, 1, 1, 1);
    check_type(&e, MISC, 1, 1, 1);
    check_type(&e, ORG, 0, 0, 0);
}

/* gold B-PER I-PER, pred B-PER I-ORG: I-ORG after a PER tag ends the PER chunk and
 * starts an ORG one, so the guessed PER chunk is one token short: nothing correct. */
static void test_type_change(void **state)
{
    (void)state;
    ner_eval e;
    ner_eval_init(&e);
    ADD(&e, L(BP, IP, O), L(BP, IO, O));
    check_counts(&e, 3, 2, 1, 2, 0);
    check_type(&e, PER, 1, 1, 0);
    check_type(&e, ORG, 0, 1, 0);
    check_scores(&e, 0, 0, 0);
}

/* A chunk running to the last token is closed by the end of the sentence. */
static void test_entity_at_sentence_end(void **state)
{
    (void)state;
    ner_eval e;
    ner_eval_init(&e);
    ADD(&e, L(O, BL, IL), L(O, BL, IL));
    check_counts(&e, 3, 3, 1, 1, 1);
    check_type(&e, LOC, 1, 1, 1);

    /* The guess stops one token early: ends differ, not correct. */
    ner_eval_init(&e);
    ADD(&e, L(O, BL, IL), L(O, BL, O));
    check_counts(&e, 3, 2, 1, 1, 0);
    check_scores(&e, 0, 0, 0);
}

/* conlleval: I- after O (or at the sentence start) starts a chunk. */
static void test_i_after_o_starts_chunk(void **state)
{
    (void)state;
    ner_eval e;
    ner_eval_init(&e);
    ADD(&e, L(O, BM, IM, O), L(O, IM, IM, O));
    check_counts(&e, 4, 3, 1, 1, 1);
    check_scores(&e, 100, 100, 100);
    assert_float_equal(ner_eval_accuracy(&e), 75.0, 1e-12);

    ner_eval_init(&e);
    ADD(&e, L(BP, O), L(IP, O)); /* I- as the very first tag */
    check_counts(&e, 2, 1, 1, 1, 1);
    check_type(&e, PER, 1, 1, 1);
}

static void test_adjacent_same_type(void **state)
{
    (void)state;
    ner_eval e;
    ner_eval_init(&e);
    ADD(&e, L(BL, BL), L(BL, BL));
    check_counts(&e, 2, 2, 2, 2, 2);
    check_type(&e, LOC, 2, 2, 2);

    /* B-LOC I-LOC merges them into one guessed chunk: neither gold chunk is found. */
    ner_eval_init(&e);
    ADD(&e, L(BL, BL), L(BL, IL));
    check_counts(&e, 2, 1, 2, 1, 0);
    check_scores(&e, 0, 0, 0);
}

/* The guessed chunk ends where the gold chunk ends but starts elsewhere. */
static void test_end_right_start_wrong(void **state)
{
    (void)state;
    ner_eval e;
    ner_eval_init(&e);
    ADD(&e, L(O, BO, IO, IO, O), L(O, O, BO, IO, O)); /* starts late */
    check_counts(&e, 5, 3, 1, 1, 0);
    ADD(&e, L(O, O, BO, IO, O), L(O, BO, IO, IO, O)); /* starts early */
    check_counts(&e, 10, 6, 2, 2, 0);
    check_type(&e, ORG, 2, 2, 0);

    /* Starts match (token 0), but gold splits at token 1 while the guess runs on to
     * end with the second gold chunk: same end, different start -> not correct. */
    ner_eval_init(&e);
    ADD(&e, L(BP, BP, IP), L(BP, IP, IP));
    check_counts(&e, 3, 2, 2, 1, 0);

    /* Same end, different start, and the guess starts with an I- tag of another
     * type inside the gold chunk. */
    ner_eval_init(&e);
    ADD(&e, L(BP, IP, IP, O), L(BO, IP, IP, O));
    check_counts(&e, 4, 3, 1, 2, 0);
    check_type(&e, PER, 1, 1, 0);
    check_type(&e, ORG, 0, 1, 0);
}

/* A boundary error costs a false positive and a false negative. */
static void test_boundary_error(void **state)
{
    (void)state;
    ner_eval e;
    ner_eval_init(&e);
    ADD(&e, L(BP, IP, O, BL), L(BP, O, O, BL));
    check_counts(&e, 4, 3, 2, 2, 1);
    check_scores(&e, 50, 50, 50);
    check_type(&e, PER, 1, 1, 0);
    check_type(&e, LOC, 1, 1, 1);
    ner_scores all, per[NER_EVAL_NTYPES];
    ner_eval_summary(&e, &all, per);
    assert_int_equal(all.gold, 2);
    assert_int_equal(all.guessed, 2);
    assert_int_equal(all.correct, 1);
    assert_float_equal(per[PER].f1, 0.0, 0);
    assert_float_equal(per[LOC].f1, 100.0, 1e-12);
    assert_float_equal(per[ORG].precision, 0.0, 0);
}

static void test_padding(void **state)
{
    (void)state;
    ner_eval e;
    ner_eval_init(&e);
    /* Trailing padding: whatever is predicted there is ignored. */
    ADD(&e, L(BP, IP, PAD, PAD), L(BP, IP, IP, BL));
    check_counts(&e, 2, 2, 1, 1, 1);
    check_type(&e, LOC, 0, 0, 0);

    /* A predicted padding id counts as O (and as a correct O tag). */
    ner_eval_init(&e);
    ADD(&e, L(BP, O), L(BP, PAD));
    check_counts(&e, 2, 2, 1, 1, 1);

    /* Padding inside a sentence is skipped as if absent: the chunk continues. */
    ner_eval_init(&e);
    ADD(&e, L(BP, PAD, IP), L(BP, BO, IP));
    check_counts(&e, 2, 2, 1, 1, 1);
    check_type(&e, ORG, 0, 0, 0);

    /* All padding / empty sentences add nothing. */
    ner_eval_init(&e);
    ADD(&e, L(PAD, PAD), L(BP, IP));
    ner_eval_add(&e, NULL, NULL, 0);
    check_counts(&e, 0, 0, 0, 0, 0);
}

/* Sentences accumulate, and a chunk never crosses a sentence break. */
static void test_multiple_sentences(void **state)
{
    (void)state;
    ner_eval e;
    ner_eval_init(&e);
    ADD(&e, L(O, BP), L(O, BP));
    ADD(&e, L(BP, O), L(IP, O)); /* would continue the previous PER if merged */
    check_counts(&e, 4, 3, 2, 2, 2);
    check_type(&e, PER, 2, 2, 2);

    /* The same tokens as one sequence (no break): the guess merges them. */
    ner_eval_init(&e);
    ADD(&e, L(O, BP, BP, O), L(O, BP, IP, O));
    check_counts(&e, 4, 3, 2, 1, 0);
}

static void test_per_type_counts(void **state)
{
    (void)state;
    ner_eval e;
    ner_eval_init(&e);
    ADD(&e, L(BP, IP, O, BL, O, BO), L(BP, IP, O, BL, O, BL));
    ADD(&e, L(BM, O, BL, IL), L(BM, O, BL, O));
    check_counts(&e, 10, 8, 5, 5, 3);
    assert_int_equal(e.nono_tokens, 7);
    assert_int_equal(e.nono_correct, 5);
    check_type(&e, LOC, 2, 3, 1);
    check_type(&e, MISC, 1, 1, 1);
    check_type(&e, ORG, 1, 0, 0);
    check_type(&e, PER, 1, 1, 1);
    check_scores(&e, 60, 60, 60);
    assert_float_equal(ner_eval_accuracy(&e), 80.0, 1e-12);
    ner_scores per[NER_EVAL_NTYPES];
    ner_eval_summary(&e, NULL, per);
    assert_float_equal(per[LOC].precision, 100.0 / 3.0, 1e-9);
    assert_float_equal(per[LOC].recall, 50.0, 1e-12);
    assert_float_equal(per[LOC].f1, 40.0, 1e-9);
    assert_int_equal(per[LOC].guessed, 3);
    assert_string_equal(ner_eval_type_name(LOC), "LOC");
    assert_string_equal(ner_eval_type_name(MISC), "MISC");
    assert_string_equal(ner_eval_type_name(ORG), "ORG");
    assert_string_equal(ner_eval_type_name(PER), "PER");
    assert_null(ner_eval_type_name(4));
    assert_null(ner_eval_type_name(-1));
}

/* The example of test_per_type_counts, printed. Format strings as in conlleval.pl
 * ("%17s: ", "precision: %6.2f%%; ", ..., "FB1: %6.2f  %d\n"); ORG is printed
 * (it has a gold chunk) with 0 guessed. */
static void test_print_layout(void **state)
{
    (void)state;
    ner_eval e;
    ner_eval_init(&e);
    ADD(&e, L(BP, IP, O, BL, O, BO), L(BP, IP, O, BL, O, BL));
    ADD(&e, L(BM, O, BL, IL), L(BM, O, BL, O));
    static const char *const body =
        "accuracy:  80.00%; precision:  60.00%; recall:  60.00%; FB1:  60.00\n"
        "              LOC: precision:  33.33%; recall:  50.00%; FB1:  40.00  3\n"
        "             MISC: precision: 100.00%; recall: 100.00%; FB1: 100.00  1\n"
        "              ORG: precision:   0.00%; recall:   0.00%; FB1:   0.00  0\n"
        "              PER: precision: 100.00%; recall: 100.00%; FB1: 100.00  1\n";
    static const char *const head =
        "processed 10 tokens with 5 phrases; found: 5 phrases; correct: 3.\n";
    char expect[1024];

    char *got = report(&e, 0);
    snprintf(expect, sizeof expect, "%s%s", head, body);
    assert_string_equal(got, expect);
    free(got);

    got = report(&e, 1); /* Python port: non-O accuracy 5/7 */
    snprintf(expect, sizeof expect, "%saccuracy:  71.43%%; (non-O)\n%s", head, body);
    assert_string_equal(got, expect);
    free(got);
}

/* 7 correct of 30 guessed, 34 gold: F1 = 21.875 sits on a rounding tie. Perl's
 * percent-first arithmetic prints 21.88, the Python port's fraction-first 21.87
 * (both checked against the real scripts). */
static void test_print_rounding_tie(void **state)
{
    (void)state;
    ner_eval e;
    ner_eval_init(&e);
    for (int i = 0; i < 7; i++) ADD(&e, L(BP), L(BP));
    for (int i = 0; i < 23; i++) ADD(&e, L(O), L(BL));
    for (int i = 0; i < 27; i++) ADD(&e, L(BL), L(O));
    check_counts(&e, 57, 7, 34, 30, 7);
    static const char *const types =
        "              LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  23\n"
        "              PER: precision: 100.00%; recall: 100.00%; FB1: 100.00  7\n";
    static const char *const head =
        "processed 57 tokens with 34 phrases; found: 30 phrases; correct: 7.\n";
    char expect[1024];

    char *got = report(&e, 0);
    snprintf(expect, sizeof expect,
             "%saccuracy:  12.28%%; precision:  23.33%%; recall:  20.59%%; FB1:  21.88\n%s",
             head, types);
    assert_string_equal(got, expect);
    free(got);

    got = report(&e, 1);
    snprintf(expect, sizeof expect,
             "%saccuracy:  20.59%%; (non-O)\n"
             "accuracy:  12.28%%; precision:  23.33%%; recall:  20.59%%; FB1:  21.87\n%s",
             head, types);
    assert_string_equal(got, expect);
    free(got);
}

/* Undefined precision / recall / F1 are 0, never NaN. */
static void test_zero_cases(void **state)
{
    (void)state;
    ner_eval e;
    ner_eval_init(&e);
    check_scores(&e, 0, 0, 0);
    assert_float_equal(ner_eval_accuracy(&e), 0.0, 0);
    char *got = report(&e, 0); /* conlleval prints no accuracy line with 0 tokens */
    assert_string_equal(got, "processed 0 tokens with 0 phrases; found: 0 phrases; correct: 0.\n");
    free(got);
    got = report(&e, 1);
    assert_string_equal(got,
                        "processed 0 tokens with 0 phrases; found: 0 phrases; correct: 0.\n"
                        "accuracy:   0.00%; (non-O)\n"
                        "accuracy:   0.00%; precision:   0.00%; recall:   0.00%; FB1:   0.00\n");
    free(got);

    /* All O: no chunks, 100% accuracy, no type lines. */
    ADD(&e, L(O, O), L(O, O));
    check_counts(&e, 2, 2, 0, 0, 0);
    check_scores(&e, 0, 0, 0);
    got = report(&e, 0);
    assert_string_equal(got,
                        "processed 2 tokens with 0 phrases; found: 0 phrases; correct: 0.\n"
                        "accuracy: 100.00%; precision:   0.00%; recall:   0.00%; FB1:   0.00\n");
    free(got);

    /* Only guesses: precision 0/1, recall undefined. */
    ner_eval_init(&e);
    ADD(&e, L(O), L(BP));
    check_counts(&e, 1, 0, 0, 1, 0);
    check_scores(&e, 0, 0, 0);
    got = report(&e, 0);
    assert_string_equal(got,
                        "processed 1 tokens with 0 phrases; found: 1 phrases; correct: 0.\n"
                        "accuracy:   0.00%; precision:   0.00%; recall:   0.00%; FB1:   0.00\n"
                        "              PER: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n");
    free(got);

    /* Only gold: recall 0/1, precision undefined. */
    ner_eval_init(&e);
    ADD(&e, L(BM), L(O));
    check_counts(&e, 1, 0, 1, 0, 0);
    check_scores(&e, 0, 0, 0);
    ner_scores per[NER_EVAL_NTYPES];
    ner_eval_summary(&e, NULL, per);
    assert_float_equal(per[MISC].precision, 0.0, 0);
    assert_float_equal(per[MISC].recall, 0.0, 0);
    assert_float_equal(per[MISC].f1, 0.0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_perfect),
        cmocka_unit_test(test_type_change),
        cmocka_unit_test(test_entity_at_sentence_end),
        cmocka_unit_test(test_i_after_o_starts_chunk),
        cmocka_unit_test(test_adjacent_same_type),
        cmocka_unit_test(test_end_right_start_wrong),
        cmocka_unit_test(test_boundary_error),
        cmocka_unit_test(test_padding),
        cmocka_unit_test(test_multiple_sentences),
        cmocka_unit_test(test_per_type_counts),
        cmocka_unit_test(test_print_layout),
        cmocka_unit_test(test_print_rounding_tie),
        cmocka_unit_test(test_zero_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
