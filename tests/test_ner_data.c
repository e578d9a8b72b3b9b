/* NER data: tag names, the CoNLL reader (two- and four-column layouts, -DOCSTART-,
 * blank lines, CRLF, IOB1 -> IOB2 and AUTO detection, every malformed input), the
 * atomic writer, the vocabulary (lowercasing, most_common order, cap, OOV), batching
 * (per-batch padding, truncation, shuffling), the synthetic corpus, and, when the
 * shared data directory exists, the published CoNLL-2003 counts. */
#include "testutil.h"

#include "ner/data.h"
#include "ner/synth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Writes len bytes to a fresh temp file; path receives its name (>= 64 bytes). */
static void write_tmp(char *path, const char *data, size_t len)
{
    strcpy(path, "/tmp/duet_ner_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        assert_true(w > 0);
        off += (size_t)w;
    }
    assert_int_equal(close(fd), 0);
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Reads text (as a file) and expects success. */
static void read_ok(const char *text, ner_scheme scheme, ner_corpus *c)
{
    char path[64], err[512] = "";
    write_tmp(path, text, strlen(text));
    int rc = ner_read_conll(path, scheme, c, err, sizeof err);
    if (rc != 0)
        print_error("unexpected error: %s\n", err);
    assert_int_equal(rc, 0);
    unlink(path);
}

/* Reads len bytes (as a file) and expects -1 with "PATH:LINE: " then a message
 * containing want (line 0: "PATH: " without a line). */
static void read_err_n(const char *data, size_t len, ner_scheme scheme, int line,
                       const char *want)
{
    char path[64], err[512] = "", prefix[128];
    write_tmp(path, data, len);
    ner_corpus c;
    memset(&c, 0xAB, sizeof c);
    int rc = ner_read_conll(path, scheme, &c, err, sizeof err);
    if (line > 0)
        snprintf(prefix, sizeof prefix, "%s:%d: ", path, line);
    else
        snprintf(prefix, sizeof prefix, "%s: ", path);
    if (rc != -1 || strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, want) ||
        strchr(err, '\n'))
        print_error("rc %d, err '%s', wanted prefix '%s' and '%s'\n", rc, err, prefix, want);
    assert_int_equal(rc, -1);
    assert_true(strncmp(err, prefix, strlen(prefix)) == 0);
    assert_non_null(strstr(err, want));
    assert_null(strchr(err, '\n'));
    /* the corpus is left empty */
    assert_int_equal(c.n_sentences, 0);
    assert_true(c.n_tokens == 0);
    assert_null(c.sentences);
    assert_null(c.tokens);
    ner_corpus_free(&c);
    unlink(path);
}

static void read_err(const char *text, ner_scheme scheme, int line, const char *want)
{
    read_err_n(text, strlen(text), scheme, line, want);
}

/* Asserts sentence s has these tokens and tag names ("EU/B-ORG" pairs). */
static void check_sentence(const ner_corpus *c, int s, int n, const char *const *pairs)
{
    assert_true(s < c->n_sentences);
    const ner_sentence *st = &c->sentences[s];
    assert_int_equal(st->len, n);
    for (int i = 0; i < n; i++) {
        char want[128];
        snprintf(want, sizeof want, "%s/%s", st->tokens[i], ner_tag_name(st->tags[i]));
        assert_string_equal(want, pairs[i]);
        assert_ptr_equal(st->tokens[i], c->tokens[st->start + i]);
        assert_ptr_equal(&st->tags[i], &c->tags[st->start + i]);
    }
}
#define CHECK_SENT(c, s, ...)                                                             \
    do {                                                                                  \
        static const char *const p_[] = {__VA_ARGS__};                                    \
        check_sentence((c), (s), (int)(sizeof p_ / sizeof p_[0]), p_);                    \
    } while (0)

static void assert_corpus_equal(const ner_corpus *a, const ner_corpus *b)
{
    assert_int_equal(a->n_sentences, b->n_sentences);
    assert_true(a->n_tokens == b->n_tokens);
    for (int s = 0; s < a->n_sentences; s++) {
        const ner_sentence *x = &a->sentences[s], *y = &b->sentences[s];
        assert_int_equal(x->len, y->len);
        for (int i = 0; i < x->len; i++) {
            assert_string_equal(x->tokens[i], y->tokens[i]);
            assert_int_equal(x->tags[i], y->tags[i]);
        }
    }
}

static int valid_iob2(const ner_corpus *c)
{
    for (int s = 0; s < c->n_sentences; s++) {
        const ner_sentence *st = &c->sentences[s];
        for (int i = 0; i < st->len; i++) {
            int t = st->tags[i];
            if (t < 1 || t >= NER_NUM_TAGS)
                return 0;
            if (ner_tag_type(t) && !ner_tag_is_begin(t) &&
                (i == 0 || ner_tag_type(st->tags[i - 1]) != ner_tag_type(t)))
                return 0;
        }
    }
    return 1;
}

static void add_sent(ner_corpus *c, const char *words)
{
    /* space-separated tokens, all tagged O */
    char buf[1024];
    const char *toks[128];
    int32_t tags[128];
    int n = 0;
    snprintf(buf, sizeof buf, "%s", words);
    for (char *p = strtok(buf, " "); p; p = strtok(NULL, " ")) {
        toks[n] = p;
        tags[n++] = NER_TAG_O;
    }
    assert_int_equal(ner_corpus_add_sentence(c, toks, tags, n), 0);
}

/* ---- tags ---- */

static void test_tags(void **state)
{
    (void)state;
    static const char *const names[] = {"[PAD]", "O",     "B-PER", "I-PER",  "B-ORG",
                                        "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"};
    assert_int_equal(NER_NUM_TAGS, 10);
    for (int i = 0; i < NER_NUM_TAGS; i++) {
        assert_string_equal(ner_tag_name(i), names[i]);
        assert_int_equal(ner_tag_id(names[i]), i);
    }
    assert_int_equal(ner_tag_id("B-FOO"), -1);
    assert_int_equal(ner_tag_id("b-per"), -1);
    assert_int_equal(ner_tag_id(""), -1);
    assert_int_equal(ner_tag_id(NULL), -1);
    assert_string_equal(ner_tag_name(10), "?");
    assert_string_equal(ner_tag_name(-1), "?");
    assert_int_equal(ner_tag_type(NER_TAG_I_LOC), NER_TYPE_LOC);
    assert_int_equal(ner_tag_type(NER_TAG_B_MISC), NER_TYPE_MISC);
    assert_int_equal(ner_tag_type(NER_TAG_O), NER_TYPE_NONE);
    assert_int_equal(ner_tag_type(NER_TAG_PAD), NER_TYPE_NONE);
    assert_true(ner_tag_is_begin(NER_TAG_B_PER));
    assert_false(ner_tag_is_begin(NER_TAG_I_PER));
    assert_false(ner_tag_is_begin(NER_TAG_O));
    assert_string_equal(ner_type_name(NER_TYPE_ORG), "ORG");
}

/* ---- reader ---- */

static void test_read_two_columns(void **state)
{
    (void)state;
    ner_corpus c;
    /* -DOCSTART-, several blank lines, CRLF, tabs, trailing spaces, no final newline */
    read_ok("-DOCSTART- O\n"
            "\n"
            "EU B-ORG\n"
            "rejects O\r\n"
            "German\tB-MISC\n"
            "call   O  \n"
            ". O\n"
            "\n\n\n"
            "Peter B-PER\r\n"
            "Blackburn I-PER\r\n"
            "\r\n"
            "-DOCSTART- O\n"
            "BRUSSELS B-LOC\n"
            " \t \n"
            "1996-08-22 O",
            NER_SCHEME_AUTO, &c);
    assert_int_equal(c.n_sentences, 4);
    assert_true(c.n_tokens == 9);
    assert_int_equal(c.scheme, NER_SCHEME_IOB2);
    CHECK_SENT(&c, 0, "EU/B-ORG", "rejects/O", "German/B-MISC", "call/O", "./O");
    CHECK_SENT(&c, 1, "Peter/B-PER", "Blackburn/I-PER");
    CHECK_SENT(&c, 2, "BRUSSELS/B-LOC");
    CHECK_SENT(&c, 3, "1996-08-22/O");
    int64_t counts[NER_NUM_TAGS];
    ner_corpus_tag_counts(&c, counts);
    assert_true(counts[NER_TAG_O] == 4 && counts[NER_TAG_B_PER] == 1 && counts[NER_TAG_I_PER] == 1);
    ner_corpus_free(&c);
    ner_corpus_free(&c); /* twice is fine */

    /* a UTF-8 BOM and non-ASCII tokens */
    read_ok("\xEF\xBB\xBF" "Caf\xC3\xA9 B-ORG\n\xE2\x82\xAC O\n\xF0\x9D\x84\x9E O\n", NER_SCHEME_AUTO, &c);
    CHECK_SENT(&c, 0, "Caf\xC3\xA9/B-ORG", "\xE2\x82\xAC/O", "\xF0\x9D\x84\x9E/O");
    ner_corpus_free(&c);
}

static void test_read_four_columns(void **state)
{
    (void)state;
    ner_corpus c;
    read_ok("-DOCSTART- -X- -X- O\r\n"
            "\r\n"
            "EU NNP B-NP B-ORG\r\n"
            "rejects VBZ B-VP O\r\n"
            "German JJ B-NP B-MISC\r\n"
            "\r\n"
            "\r\n"
            "The DT B-NP O\n"
            "European NNP I-NP B-ORG\n"
            "Commission NNP I-NP I-ORG\n"
            "said\tVBD\tB-VP\tO\n"
            "\n"
            "-DOCSTART- -X- -X- O\n"
            "\n"
            "Rare JJ O\n"
            "and CC O O\n",
            NER_SCHEME_AUTO, &c);
    assert_int_equal(c.n_sentences, 3);
    CHECK_SENT(&c, 0, "EU/B-ORG", "rejects/O", "German/B-MISC");
    CHECK_SENT(&c, 1, "The/O", "European/B-ORG", "Commission/I-ORG", "said/O");
    CHECK_SENT(&c, 2, "Rare/O", "and/O");
    ner_corpus_free(&c);
}

static void test_iob1(void **state)
{
    (void)state;
    ner_corpus c;
    /* IOB1: I-X opens entities, B-X only between adjacent same-type entities */
    const char *iob1 = "Peter I-PER\n"
                       "Blackburn I-PER\n"
                       "met O\n"
                       "EU I-ORG\n"
                       "officials O\n"
                       "in O\n"
                       "Golan I-LOC\n"
                       "Heights I-LOC\n"
                       "Israel B-LOC\n"
                       "and O\n"
                       "Jordan I-LOC\n"
                       "\n"
                       "German I-MISC\n"
                       "Grand B-MISC\n"
                       "Prix I-MISC\n"
                       "winner O\n"
                       "Hill I-PER\n";
    read_ok(iob1, NER_SCHEME_AUTO, &c);
    assert_int_equal(c.scheme, NER_SCHEME_IOB1);
    CHECK_SENT(&c, 0, "Peter/B-PER", "Blackburn/I-PER", "met/O", "EU/B-ORG", "officials/O",
               "in/O", "Golan/B-LOC", "Heights/I-LOC", "Israel/B-LOC", "and/O", "Jordan/B-LOC");
    CHECK_SENT(&c, 1, "German/B-MISC", "Grand/B-MISC", "Prix/I-MISC", "winner/O", "Hill/B-PER");
    assert_true(valid_iob2(&c));
    ner_corpus_free(&c);
    /* forced IOB1 gives the same */
    read_ok(iob1, NER_SCHEME_IOB1, &c);
    assert_int_equal(c.scheme, NER_SCHEME_IOB1);
    CHECK_SENT(&c, 1, "German/B-MISC", "Grand/B-MISC", "Prix/I-MISC", "winner/O", "Hill/B-PER");
    ner_corpus_free(&c);
    /* forced IOB2 refuses it, naming both tags */
    read_err(iob1, NER_SCHEME_IOB2, 1, "I-PER cannot start a sentence");
    read_err("a O\nPeter I-PER\n", NER_SCHEME_IOB2, 2, "I-PER cannot follow O");

    /* AUTO picks IOB2 when a B- opens an entity; IOB1 reading of an IOB2 file is a
     * no-op */
    const char *iob2 = "EU B-ORG\nGerman B-MISC\nWorld B-MISC\nCup I-MISC\n";
    read_ok(iob2, NER_SCHEME_AUTO, &c);
    assert_int_equal(c.scheme, NER_SCHEME_IOB2);
    CHECK_SENT(&c, 0, "EU/B-ORG", "German/B-MISC", "World/B-MISC", "Cup/I-MISC");
    ner_corpus_free(&c);
    read_ok(iob2, NER_SCHEME_IOB1, &c);
    CHECK_SENT(&c, 0, "EU/B-ORG", "German/B-MISC", "World/B-MISC", "Cup/I-MISC");
    ner_corpus_free(&c);
    /* only O and B-X after X: still IOB1 (nothing to tell), converted */
    read_ok("x O\ny O\n\nA I-LOC\nB B-LOC\n", NER_SCHEME_AUTO, &c);
    assert_int_equal(c.scheme, NER_SCHEME_IOB1);
    CHECK_SENT(&c, 1, "A/B-LOC", "B/B-LOC");
    ner_corpus_free(&c);
    /* a type change inside I- runs: I-PER I-LOC is two entities in IOB1 */
    read_ok("A I-PER\nB I-LOC\nC I-LOC\n", NER_SCHEME_AUTO, &c);
    CHECK_SENT(&c, 0, "A/B-PER", "B/B-LOC", "C/I-LOC");
    ner_corpus_free(&c);
    /* AUTO decides IOB2 (line 4), then line 2's I-PER after O is an error */
    read_err("a O\nPeter I-PER\n\nEU B-ORG\n", NER_SCHEME_AUTO, 2, "I-PER cannot follow O");
    read_err("a O\nPeter I-PER\n\nEU B-ORG\n", NER_SCHEME_AUTO, 2, "detected from line 4");
    /* IOB2: I-X after a different type */
    read_err("EU B-ORG\nx I-LOC\n", NER_SCHEME_IOB2, 2, "I-LOC cannot follow B-ORG");
}

static void test_read_errors(void **state)
{
    (void)state;
    read_err("EU B-ORG\nrejects O\nGerman\n", NER_SCHEME_AUTO, 3,
             "missing tag (expected TOKEN ... TAG)");
    read_err("EU B-ORG\n\n\nfoo   \t\n", NER_SCHEME_AUTO, 4, "missing tag");
    read_err("EU B-ORG\nrejects B-FOO\n", NER_SCHEME_AUTO, 2, "unknown tag 'B-FOO'");
    read_err("EU NNP B-NP B-ORG\nx NN I-NP b-per\n", NER_SCHEME_AUTO, 2, "unknown tag 'b-per'");
    read_err("EU [PAD]\n", NER_SCHEME_AUTO, 1, "unknown tag '[PAD]'");
    read_err("EU B-ORG\r\nrejects O\r\nx I-LOC\r\n", NER_SCHEME_IOB2, 3, "I-LOC cannot follow O");

    /* line length: 4096 bytes is fine (with or without \r), 4097 is not */
    {
        size_t n = 5000;
        char *buf = malloc(n + 16);
        assert_non_null(buf);
        memset(buf, 'a', 4094);
        memcpy(buf + 4094, " O\r\n", 5);
        ner_corpus c;
        read_ok(buf, NER_SCHEME_AUTO, &c);
        assert_int_equal((int)strlen(c.sentences[0].tokens[0]), 4094);
        ner_corpus_free(&c);
        memset(buf, 'a', 4095);
        memcpy(buf + 4095, " O\n", 4);
        read_err(buf, NER_SCHEME_AUTO, 1, "line longer than 4096 bytes");
        memcpy(buf, "x O\n", 4);
        memset(buf + 4, 'b', 4999 - 4);
        buf[4999] = '\0';
        read_err(buf, NER_SCHEME_AUTO, 2, "line longer than 4096 bytes");
        free(buf);
    }

    /* invalid UTF-8 */
    read_err("ok O\nbad\xC0\xAF O\n", NER_SCHEME_AUTO, 2, "invalid UTF-8 at byte 4 (0xC0): overlong");
    read_err("x\xE0\x80\xAF O\n", NER_SCHEME_AUTO, 1, "overlong encoding");
    read_err("x\xF0\x80\x80\xAF O\n", NER_SCHEME_AUTO, 1, "overlong encoding");
    read_err("x\xED\xA0\x80 O\n", NER_SCHEME_AUTO, 1, "surrogate");
    read_err("caf\xC3 O\n", NER_SCHEME_AUTO, 1, "truncated sequence");
    read_err("x O\n\nx \xE2\x82", NER_SCHEME_AUTO, 3, "truncated sequence");
    read_err("\x80x O\n", NER_SCHEME_AUTO, 1, "unexpected continuation byte");
    read_err("x\xF4\x90\x80\x80 O\n", NER_SCHEME_AUTO, 1, "above U+10FFFF");
    read_err("x\xFF O\n", NER_SCHEME_AUTO, 1, "invalid UTF-8 at byte 2 (0xFF)");
    read_err("x B-PER \xC3\xA9\xC3 O\n", NER_SCHEME_AUTO, 1, "invalid UTF-8"); /* middle col */
    read_err_n("a O\nx\0y O\n", 10, NER_SCHEME_AUTO, 2, "NUL byte");

    /* no sentences */
    read_err("", NER_SCHEME_AUTO, 0, "no sentences");
    read_err("\n\n\r\n", NER_SCHEME_AUTO, 0, "no sentences");
    read_err("-DOCSTART- -X- -X- O\n\n-DOCSTART- O\n", NER_SCHEME_AUTO, 0, "no sentences");

    /* cannot open */
    {
        char err[512];
        ner_corpus c;
        const char *p = "/tmp/duet_ner_no_such_dir/none.txt";
        assert_int_equal(ner_read_conll(p, NER_SCHEME_AUTO, &c, err, sizeof err), -1);
        char want[256];
        snprintf(want, sizeof want, "%s: cannot open: %s", p, strerror(ENOENT));
        assert_string_equal(err, want);
        assert_int_equal(c.n_sentences, 0);
        /* NULL / tiny err buffers are fine */
        assert_int_equal(ner_read_conll(p, NER_SCHEME_AUTO, &c, NULL, 0), -1);
        assert_int_equal(ner_read_conll(p, NER_SCHEME_AUTO, &c, err, 4), -1);
        assert_int_equal((int)strlen(err), 3);
        /* a directory opens but does not read */
        assert_int_equal(ner_read_conll("/tmp", NER_SCHEME_AUTO, &c, err, sizeof err), -1);
        assert_true(strncmp(err, "/tmp: cannot ", 13) == 0);
    }

    /* absurd sentence length: 10000 tokens fine, 10001 an error (at that line) */
    {
        size_t cap = 10002 * 4 + 64;
        char *buf = malloc(cap), *p = buf;
        assert_non_null(buf);
        p += sprintf(p, "a O\n\n");
        for (int i = 0; i < 10000; i++)
            p += sprintf(p, "x O\n");
        ner_corpus c;
        read_ok(buf, NER_SCHEME_AUTO, &c);
        assert_int_equal(c.sentences[1].len, 10000);
        ner_corpus_free(&c);
        sprintf(p, "y O\n");
        read_err(buf, NER_SCHEME_AUTO, 10003, "sentence longer than 10000 tokens");
        free(buf);
    }
}

/* ---- writer ---- */

static void test_writer(void **state)
{
    (void)state;
    ner_corpus a, b;
    /* an IOB1, four-column file with CRLF: written back as two-column IOB2 */
    read_ok("-DOCSTART- -X- -X- O\r\n\r\nPeter NNP B-NP I-PER\r\nBlackburn NNP I-NP I-PER\r\n"
            "\r\nGerman JJ B-NP I-MISC\r\nGrand NNP I-NP B-MISC\r\nPrix NNP I-NP I-MISC\r\n"
            "caf\xC3\xA9 NN B-NP O\r\n",
            NER_SCHEME_AUTO, &a);
    char path[64], tmp[80], err[512] = "";
    write_tmp(path, "old contents\n", 13);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(ner_write_conll(path, &a, err, sizeof err), 0);
    assert_false(file_exists(tmp));
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char text[512];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    assert_string_equal(text, "Peter B-PER\nBlackburn I-PER\n\nGerman B-MISC\nGrand B-MISC\n"
                              "Prix I-MISC\ncaf\xC3\xA9 O\n\n");
    assert_int_equal(ner_read_conll(path, NER_SCHEME_IOB2, &b, err, sizeof err), 0);
    assert_corpus_equal(&a, &b);
    ner_corpus_free(&b);

    /* issue 11 #14: a first token that starts with U+FEFF survives the reader's BOM
     * stripping */
    ner_corpus bom;
    ner_corpus_init(&bom);
    const char *bom_toks[] = {"\xEF\xBB\xBFword", "x"};
    int32_t bom_tags[] = {NER_TAG_O, NER_TAG_B_LOC};
    assert_int_equal(ner_corpus_add_sentence(&bom, bom_toks, bom_tags, 2), 0);
    assert_int_equal(ner_write_conll(path, &bom, err, sizeof err), 0);
    assert_int_equal(ner_read_conll(path, NER_SCHEME_IOB2, &b, err, sizeof err), 0);
    assert_corpus_equal(&bom, &b);
    ner_corpus_free(&b);
    ner_corpus_free(&bom);

    /* the synthetic corpus round-trips too */
    ner_corpus s;
    assert_int_equal(ner_synth_generate(&s, 500, 3), 0);
    assert_int_equal(ner_write_conll(path, &s, err, sizeof err), 0);
    assert_false(file_exists(tmp));
    assert_int_equal(ner_read_conll(path, NER_SCHEME_AUTO, &b, err, sizeof err), 0);
    assert_corpus_equal(&s, &b);
    ner_corpus_free(&b);
    ner_corpus_free(&s);

    /* refusals leave the old file and no temp file */
    assert_int_equal(ner_write_conll(path, &a, err, sizeof err), 0);
    ner_corpus bad;
    ner_corpus_init(&bad);
    const char *toks[] = {"New York", "x"};
    int32_t tags[] = {NER_TAG_B_LOC, NER_TAG_O};
    assert_int_equal(ner_corpus_add_sentence(&bad, toks, tags, 2), 0);
    assert_int_equal(ner_write_conll(path, &bad, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot be written"));
    assert_false(file_exists(tmp));
    ner_corpus_free(&bad);
    const char *toks2[] = {"x", "York"};
    int32_t tags2[] = {NER_TAG_O, NER_TAG_I_LOC};
    assert_int_equal(ner_corpus_add_sentence(&bad, toks2, tags2, 2), 0);
    assert_int_equal(ner_write_conll(path, &bad, err, sizeof err), -1);
    assert_non_null(strstr(err, "I-LOC cannot follow O"));
    ner_corpus_free(&bad);
    assert_int_equal(ner_write_conll(path, &bad, err, sizeof err), -1); /* empty */
    assert_non_null(strstr(err, "no sentences"));
    assert_int_equal(ner_read_conll(path, NER_SCHEME_AUTO, &b, err, sizeof err), 0);
    assert_corpus_equal(&a, &b); /* unchanged */
    ner_corpus_free(&b);

    /* an unwritable place fails with a message and leaves nothing */
    assert_int_equal(ner_write_conll("/tmp/duet_ner_no_such_dir/x.txt", &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "/tmp/duet_ner_no_such_dir/x.txt: its directory is not there: "));
    ner_corpus_free(&a);
    unlink(path);

    /* builder argument checks */
    const char *t1[] = {""};
    int32_t g1[] = {NER_TAG_O}, g0[] = {NER_TAG_PAD};
    const char *t2[] = {"x"};
    assert_int_equal(ner_corpus_add_sentence(&bad, t1, g1, 1), -1);
    assert_int_equal(ner_corpus_add_sentence(&bad, t2, g0, 1), -1);
    assert_int_equal(ner_corpus_add_sentence(&bad, t2, g1, -1), -1);
    assert_int_equal(bad.n_sentences, 0);
    ner_corpus_free(&bad);
}

/* ---- vocabulary ---- */

static void test_vocab(void **state)
{
    (void)state;
    ner_corpus c;
    ner_corpus_init(&c);
    add_sent(&c, "The the THE cat");
    add_sent(&c, "Cat dog a");
    add_sent(&c, "a b \xC3\x89T\xC3\x89 \xC3\xA9t\xC3\xA9");
    /* counts: the 3, cat 2, a 2 (cat first), dog 1, b 1, ÉtÉ 1, été 1 */
    ner_vocab v;
    assert_int_equal(ner_vocab_build(&v, &c, 20000), 0);
    assert_int_equal(v.size, 8);
    const char *order[] = {"[UNK]", "the", "cat", "a", "dog", "b", "\xC3\x89t\xC3\x89", "\xC3\xA9t\xC3\xA9"};
    for (int i = 0; i < 8; i++)
        assert_string_equal(ner_vocab_token(&v, i), order[i]);
    assert_true(v.counts[1] == 3 && v.counts[2] == 2 && v.counts[3] == 2 && v.counts[4] == 1);
    assert_null(ner_vocab_token(&v, 8));
    assert_null(ner_vocab_token(&v, -1));
    assert_int_equal(ner_vocab_lookup(&v, "tHe"), 1);
    assert_int_equal(ner_vocab_lookup(&v, "CAT"), 2);
    assert_int_equal(ner_vocab_lookup(&v, "zebra"), 0);
    assert_int_equal(ner_vocab_lookup(&v, ""), 0);
    assert_int_equal(ner_vocab_lookup(&v, NULL), 0);
    assert_int_equal(ner_vocab_lookup(&v, "\xC3\x89T\xC3\x89"), 6); /* ASCII-only lowering */
    assert_int_equal(ner_vocab_lookup(&v, "\xC3\xA9T\xC3\xA9"), 7);
    /* the corpus keeps its case */
    assert_string_equal(c.sentences[0].tokens[2], "THE");
    ner_vocab_free(&v);

    /* the cap: vocab_size - 2 tokens kept */
    assert_int_equal(ner_vocab_build(&v, &c, 5), 0);
    assert_int_equal(v.size, 4);
    assert_int_equal(ner_vocab_lookup(&v, "a"), 3);
    assert_int_equal(ner_vocab_lookup(&v, "dog"), 0);
    ner_vocab_free(&v);
    assert_int_equal(ner_vocab_build(&v, &c, 2), 0);
    assert_int_equal(v.size, 1);
    assert_int_equal(ner_vocab_lookup(&v, "the"), 0);
    ner_vocab_free(&v);
    assert_int_equal(ner_vocab_build(&v, &c, 1), -1);
    assert_int_equal(ner_vocab_build(&v, NULL, 100), -1);
    ner_corpus_free(&c);

    /* a big one: 30000 distinct tokens, token k appearing (k % 7) + 1 times */
    ner_corpus_init(&c);
    char words[32][16];
    const char *toks[32];
    int32_t tags[32];
    int n = 0;
    for (int k = 0; k < 30000; k++)
        for (int r = 0; r <= k % 7; r++) {
            snprintf(words[n], sizeof words[n], "W%d", k);
            toks[n] = words[n];
            tags[n] = NER_TAG_O;
            if (++n == 32) {
                assert_int_equal(ner_corpus_add_sentence(&c, toks, tags, n), 0);
                n = 0;
            }
        }
    if (n)
        assert_int_equal(ner_corpus_add_sentence(&c, toks, tags, n), 0);
    assert_int_equal(ner_vocab_build(&v, &c, NER_VOCAB_SIZE), 0);
    assert_int_equal(v.size, 19999);
    /* ids: count 7 first (k = 6, 13, ... in order), then count 6, ... */
    assert_string_equal(ner_vocab_token(&v, 1), "w6");
    assert_string_equal(ner_vocab_token(&v, 2), "w13");
    for (int id = 1; id < v.size; id++) {
        assert_int_equal(ner_vocab_lookup(&v, ner_vocab_token(&v, id)), id);
        if (id > 1)
            assert_true(v.counts[id] <= v.counts[id - 1]);
    }
    /* counts 7, 6 (k % 7 = 6, 5: 4285 tokens each), 5, 4 (4286 each) give 17142 ids;
     * the first 2856 of count 3 (k % 7 = 2, k = 2, 9, ..., 19987) fill the rest */
    assert_int_equal(ner_vocab_lookup(&v, "W7"), 0);              /* count 1 */
    assert_int_equal(ner_vocab_lookup(&v, "W29999"), 8571 + 4285); /* count 5, last */
    assert_int_equal(ner_vocab_lookup(&v, "w19987"), 19998);      /* last kept */
    assert_int_equal(ner_vocab_lookup(&v, "W19994"), 0);          /* first dropped */
    assert_int_equal(ner_vocab_lookup(&v, "w2"), 17143);
    ner_vocab_free(&v);
    ner_corpus_free(&c);
}

/* ---- batches ---- */

/* n sentences of lengths lens[]: tokens t0 t1 ... (mod 50), tags B-PER then O. */
static void make_len_corpus(ner_corpus *c, int n, const int *lens)
{
    ner_corpus_init(c);
    static char words[300][8];
    const char *toks[300];
    int32_t tags[300];
    for (int i = 0; i < 300; i++) {
        snprintf(words[i], sizeof words[i], "t%d", i % 50);
        toks[i] = words[i];
        tags[i] = i == 0 ? NER_TAG_B_PER : NER_TAG_O;
    }
    for (int s = 0; s < n; s++)
        assert_int_equal(ner_corpus_add_sentence(c, toks, tags, lens[s]), 0);
}

static void test_batches(void **state)
{
    (void)state;
    enum { NS = 70 };
    int lens[NS];
    for (int s = 0; s < NS; s++)
        lens[s] = 1 + (s * 7) % 23;
    lens[5] = 200;  /* truncated to 128 */
    lens[40] = 129; /* truncated to 128 */
    lens[69] = 3;
    ner_corpus c;
    make_len_corpus(&c, NS, lens);
    ner_vocab v;
    assert_int_equal(ner_vocab_build(&v, &c, 40), 0); /* 38 of the 50 words */

    ner_batches b;
    assert_int_equal(ner_batches_make(&b, &c, &v, &(ner_batch_opts){.batch_size = 32, .maxlen = 128}), 0);
    assert_int_equal(b.n_batches, 3);
    assert_int_equal(b.n_long, 2);
    assert_true(b.n_dropped_tokens == 72 + 1);
    int expect_rows[3] = {32, 32, 6};
    int64_t kept = 0, oov = 0;
    for (int k = 0; k < 3; k++) {
        const ner_batch *bt = ner_batches_get(&b, k);
        assert_non_null(bt);
        assert_int_equal(bt->rows, expect_rows[k]);
        assert_int_equal(bt->first_row, k * 32);
        int T = 0;
        for (int r = 0; r < bt->rows; r++) {
            int s = bt->sentences[r];
            assert_int_equal(s, k * 32 + r); /* corpus order */
            int len = lens[s] > 128 ? 128 : lens[s];
            if (len > T)
                T = len;
            assert_int_equal(bt->lengths[r], len);
        }
        assert_int_equal(bt->T, T);
        for (int r = 0; r < bt->rows; r++) {
            const ner_sentence *st = &c.sentences[bt->sentences[r]];
            for (int t = 0; t < bt->T; t++) {
                int32_t id = bt->tokens[r * bt->T + t], tag = bt->tags[r * bt->T + t];
                if (t < bt->lengths[r]) {
                    assert_int_equal(id, ner_vocab_lookup(&v, st->tokens[t]));
                    assert_int_equal(tag, st->tags[t]);
                    kept++;
                    oov += id == 0;
                } else {
                    assert_int_equal(id, 0);
                    assert_int_equal(tag, NER_TAG_PAD);
                }
            }
        }
    }
    assert_int_equal(ner_batches_get(&b, 0)->T, 128);
    assert_int_equal(ner_batches_get(&b, 1)->T, 128);
    assert_int_equal(ner_batches_get(&b, 2)->T, 19); /* lens[64..69] = 12 19 3 10 17 3 */
    assert_true(kept == b.n_tokens && oov == b.n_oov && oov > 0);
    assert_null(ner_batches_get(&b, 3));
    assert_null(ner_batches_get(&b, -1));
    ner_batches_free(&b);

    /* smaller maxlen: T varies batch to batch, every batch padded to its own longest */
    assert_int_equal(ner_batches_make(&b, &c, &v, &(ner_batch_opts){.batch_size = 8, .maxlen = 128}), 0);
    assert_int_equal(b.n_batches, 9);
    int distinct_T = 0, prevT = -1;
    for (int k = 0; k < b.n_batches; k++) {
        const ner_batch *bt = ner_batches_get(&b, k);
        int T = 1;
        for (int r = 0; r < bt->rows; r++)
            T = bt->lengths[r] > T ? bt->lengths[r] : T;
        assert_int_equal(bt->T, T);
        distinct_T += bt->T != prevT;
        prevT = bt->T;
    }
    assert_true(distinct_T >= 3);
    assert_int_equal(ner_batches_get(&b, 8)->rows, 6);
    ner_batches_free(&b);
    assert_int_equal(ner_batches_make(&b, &c, &v, &(ner_batch_opts){.batch_size = 32, .maxlen = 10}), 0);
    for (int k = 0; k < b.n_batches; k++)
        assert_int_equal(ner_batches_get(&b, k)->T, 10);
    ner_batches_free(&b);

    /* shuffling: deterministic for (seed, epoch), different otherwise, a permutation */
    ner_batches b2, b3, b4;
    assert_int_equal(ner_batches_make(&b, &c, &v, &(ner_batch_opts){.batch_size = 32, .maxlen = 128, .shuffle = true, .seed = 42, .epoch = 0}), 0);
    assert_int_equal(ner_batches_make(&b2, &c, &v, &(ner_batch_opts){.batch_size = 32, .maxlen = 128, .shuffle = true, .seed = 42, .epoch = 0}), 0);
    assert_int_equal(ner_batches_make(&b3, &c, &v, &(ner_batch_opts){.batch_size = 32, .maxlen = 128, .shuffle = true, .seed = 43, .epoch = 0}), 0);
    assert_int_equal(ner_batches_make(&b4, &c, &v, &(ner_batch_opts){.batch_size = 32, .maxlen = 128, .shuffle = true, .seed = 42, .epoch = 1}), 0);
    assert_memory_equal(b.order, b2.order, NS * sizeof(int));
    assert_true(memcmp(b.order, b3.order, NS * sizeof(int)) != 0);
    assert_true(memcmp(b.order, b4.order, NS * sizeof(int)) != 0);
    int identity = 1;
    for (int i = 0; i < NS; i++)
        identity &= b.order[i] == i;
    assert_false(identity);
    ner_batches *all[] = {&b, &b3, &b4};
    for (int q = 0; q < 3; q++) {
        int seen[NS] = {0};
        for (int k = 0; k < all[q]->n_batches; k++) {
            const ner_batch *bt = ner_batches_get(all[q], k);
            for (int r = 0; r < bt->rows; r++) {
                int s = bt->sentences[r];
                seen[s]++;
                /* row content is that sentence's */
                assert_int_equal(bt->lengths[r], lens[s] > 128 ? 128 : lens[s]);
                assert_int_equal(bt->tags[r * bt->T], NER_TAG_B_PER);
            }
        }
        for (int s = 0; s < NS; s++)
            assert_int_equal(seen[s], 1);
    }
    for (int k = 0; k < b.n_batches; k++) {
        const ner_batch *x = ner_batches_get(&b, k), *y = ner_batches_get(&b2, k);
        assert_int_equal(x->T, y->T);
        assert_memory_equal(x->tokens, y->tokens, (size_t)x->rows * x->T * sizeof(int32_t));
    }
    ner_batches_free(&b);
    ner_batches_free(&b2);
    ner_batches_free(&b3);
    ner_batches_free(&b4);

    /* issue 11 #7: seed 0 is a seed like any other, not "no shuffling" */
    assert_int_equal(ner_batches_make(&b, &c, &v, &(ner_batch_opts){.batch_size = 32, .maxlen = 128, .shuffle = true, .seed = 0, .epoch = 1}), 0);
    identity = 1;
    for (int i = 0; i < NS; i++)
        identity &= b.order[i] == i;
    assert_false(identity);
    ner_batches_free(&b);

    /* issue 11 #6: windows score every token: a 200-token sentence is rows of 128 and 72,
     * one after the other, and nothing is dropped */
    assert_int_equal(ner_batches_make(&b, &c, &v,
                                      &(ner_batch_opts){.batch_size = 32, .maxlen = 128,
                                                        .windows = true}),
                     0);
    assert_int_equal(b.n_rows, NS + 2);
    assert_int_equal(b.n_long, 2);
    assert_true(b.n_dropped_tokens == 0);
    int64_t all_tokens = 0;
    for (int s2 = 0; s2 < NS; s2++)
        all_tokens += lens[s2];
    assert_true(b.n_tokens == all_tokens);
    const ner_batch *w = ner_batches_get(&b, 0);
    assert_int_equal(w->sentences[5], 5);
    assert_int_equal(w->offsets[5], 0);
    assert_int_equal(w->lengths[5], 128);
    assert_int_equal(w->sentences[6], 5);
    assert_int_equal(w->offsets[6], 128);
    assert_int_equal(w->lengths[6], 72);
    assert_int_equal(w->tags[6 * w->T], c.sentences[5].tags[128]);
    assert_int_equal(w->sentences[7], 6);
    ner_batches_free(&b);

    /* argument errors and an empty corpus */
    assert_int_equal(ner_batches_make(&b, &c, &v, &(ner_batch_opts){.batch_size = 0, .maxlen = 128}), -1);
    assert_int_equal(ner_batches_make(&b, &c, &v, &(ner_batch_opts){.batch_size = 32, .maxlen = 0}), -1);
    assert_int_equal(ner_batches_make(&b, &c, NULL, &(ner_batch_opts){.batch_size = 32, .maxlen = 128}), -1);
    assert_int_equal(b.n_batches, 0);
    ner_corpus empty;
    ner_corpus_init(&empty);
    assert_int_equal(ner_batches_make(&b, &empty, &v, &(ner_batch_opts){.batch_size = 32, .maxlen = 128, .shuffle = true, .seed = 5, .epoch = 0}), 0);
    assert_int_equal(b.n_batches, 0);
    ner_batches_free(&b);
    ner_vocab_free(&v);
    ner_corpus_free(&c);
}

/* ---- synthetic corpus ---- */

static int has_type(const ner_corpus *c, const char *word, int type)
{
    for (int64_t i = 0; i < c->n_tokens; i++)
        if (strcmp(c->tokens[i], word) == 0 && ner_tag_type(c->tags[i]) == type)
            return 1;
    return 0;
}

static void test_synth(void **state)
{
    (void)state;
    ner_corpus a, b, d;
    double t0 = now_s();
    assert_int_equal(ner_synth_generate(&a, 3000, 1), 0);
    double dt = now_s() - t0;
    printf("[ INFO     ] synth: 3000 sentences, %lld tokens in %.1f ms\n", (long long)a.n_tokens,
           dt * 1e3);
    assert_true(dt < 1.0);
    assert_int_equal(a.n_sentences, 3000);
    assert_int_equal(ner_synth_generate(&b, 3000, 1), 0);
    assert_corpus_equal(&a, &b);
    assert_int_equal(ner_synth_generate(&d, 3000, 2), 0);
    int differ = a.n_tokens != d.n_tokens;
    for (int s = 0; s < 50 && !differ; s++)
        differ = a.sentences[s].len != d.sentences[s].len ||
                 strcmp(a.sentences[s].tokens[0], d.sentences[s].tokens[0]) != 0;
    assert_true(differ);

    assert_true(valid_iob2(&a));
    int64_t counts[NER_NUM_TAGS];
    ner_corpus_tag_counts(&a, counts);
    for (int t = NER_TAG_B_PER; t < NER_NUM_TAGS; t++)
        assert_true(counts[t] > 0); /* every B- and I- tag */
    assert_true(counts[NER_TAG_O] > counts[NER_TAG_B_PER]);
    printf("[ INFO     ] synth entities: PER %lld ORG %lld LOC %lld MISC %lld, O %lld\n",
           (long long)counts[2], (long long)counts[4], (long long)counts[6],
           (long long)counts[8], (long long)counts[1]);
    int minlen = 1 << 30, maxlen = 0, adjacent = 0, lower_start = 0, upper_all = 0;
    for (int s = 0; s < a.n_sentences; s++) {
        const ner_sentence *st = &a.sentences[s];
        minlen = st->len < minlen ? st->len : minlen;
        maxlen = st->len > maxlen ? st->len : maxlen;
        for (int i = 1; i < st->len; i++)
            adjacent += ner_tag_is_begin(st->tags[i]) &&
                        ner_tag_type(st->tags[i - 1]) == ner_tag_type(st->tags[i]);
        for (int i = 0; i < st->len; i++) {
            const char *tok = st->tokens[i];
            if (tok[0] >= 'a' && tok[0] <= 'z' && i > 0 && strcmp(st->tokens[i - 1], ";") == 0)
                lower_start++;
        }
        upper_all += strcmp(st->tokens[0], "SOCCER") == 0;
    }
    assert_true(minlen >= NER_SYNTH_MIN_LEN && minlen <= 5);
    assert_true(maxlen <= NER_SYNTH_MAX_LEN && maxlen >= 35);
    assert_true(adjacent > 10);
    assert_true(lower_start > 0);
    assert_true(upper_all > 0);
    /* the ambiguous words take several types */
    assert_true(has_type(&a, "Jordan", NER_TYPE_PER) && has_type(&a, "Jordan", NER_TYPE_LOC) &&
                has_type(&a, "Jordan", NER_TYPE_ORG));
    assert_true(has_type(&a, "Washington", NER_TYPE_PER) &&
                has_type(&a, "Washington", NER_TYPE_LOC) &&
                has_type(&a, "Washington", NER_TYPE_ORG));
    assert_true(has_type(&a, "Chelsea", NER_TYPE_PER) && has_type(&a, "Chelsea", NER_TYPE_ORG));
    assert_true(has_type(&a, "Florence", NER_TYPE_PER) && has_type(&a, "Florence", NER_TYPE_LOC));
    assert_true(has_type(&a, "turkey", NER_TYPE_NONE) && has_type(&a, "Turkey", NER_TYPE_LOC));
    /* numbers and punctuation */
    assert_true(has_type(&a, ",", NER_TYPE_NONE) && has_type(&a, ".", NER_TYPE_NONE) &&
                has_type(&a, "\"", NER_TYPE_NONE) && has_type(&a, "(", NER_TYPE_NONE));
    printf("[ INFO     ] synth: lengths %d..%d, %d adjacent same-type entities\n", minlen, maxlen,
           adjacent);
    for (int s = 0; s < 4; s++) {
        printf("[ INFO     ] ");
        for (int i = 0; i < a.sentences[s].len; i++)
            printf("%s/%s ", a.sentences[s].tokens[i], ner_tag_name(a.sentences[s].tags[i]));
        printf("\n");
    }
    ner_corpus_free(&a);
    ner_corpus_free(&b);
    ner_corpus_free(&d);
    assert_int_equal(ner_synth_generate(&a, 0, 1), 0);
    assert_int_equal(a.n_sentences, 0);
    assert_int_equal(ner_synth_generate(&a, -1, 1), -1);
}

/* ---- the real CoNLL-2003 data, when present ---- */

/* $DUET_SHARED_DATA (ctest sets it), else the shared directory beside the source tree
 * ($DUET_SOURCE_DIR/../shared/data): never a path of one machine. */
static int shared_data(char *dir, size_t n)
{
    const char *env = getenv("DUET_SHARED_DATA"), *src = getenv("DUET_SOURCE_DIR");
    char cand[2][1024];
    int k = 0;
    if (env && *env)
        snprintf(cand[k++], sizeof cand[0], "%s", env);
    if (src && *src)
        snprintf(cand[k++], sizeof cand[0], "%s/../shared/data", src);
    for (int i = 0; i < k; i++) {
        char probe[4096];
        snprintf(probe, sizeof probe, "%s/conll2003/train.txt", cand[i]);
        if (file_exists(probe)) {
            snprintf(dir, n, "%s", cand[i]);
            return 1;
        }
    }
    return 0;
}

static void test_conll2003(void **state)
{
    (void)state;
    char dir[4096], path[4200], err[1024];
    if (!shared_data(dir, sizeof dir))
        TU_SKIP("CoNLL-2003 data not found (DUET_SHARED_DATA or ../shared/data): skipping");
    ner_corpus train, valid, cols;
    ner_vocab v;
    snprintf(path, sizeof path, "%s/conll2003/train.txt", dir);
    double t0 = now_s();
    int rc = ner_read_conll(path, NER_SCHEME_AUTO, &train, err, sizeof err);
    double t1 = now_s();
    if (rc)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(ner_vocab_build(&v, &train, NER_VOCAB_SIZE), 0);
    double t2 = now_s();
    printf("[ INFO     ] train.txt: read %.1f ms, vocab %.1f ms (%d ids)\n", (t1 - t0) * 1e3,
           (t2 - t1) * 1e3, v.size);
    assert_int_equal(train.n_sentences, 14041);
    assert_true(train.n_tokens == 203621);
    assert_int_equal(train.scheme, NER_SCHEME_IOB2);
    assert_true(valid_iob2(&train));
    assert_string_equal(train.sentences[0].tokens[0], "EU");
    int64_t tc[NER_NUM_TAGS];
    ner_corpus_tag_counts(&train, tc); /* conll2003-columns/README.md */
    assert_true(tc[NER_TAG_B_LOC] == 7140 && tc[NER_TAG_B_MISC] == 3438 &&
                tc[NER_TAG_B_ORG] == 6321 && tc[NER_TAG_B_PER] == 6600);
    assert_int_equal(v.size, 19999);
    assert_string_equal(ner_vocab_token(&v, 1), "the"); /* the most frequent, lowercased */
    assert_int_equal(ner_vocab_lookup(&v, "THE"), 1);

    ner_batches b;
    t0 = now_s();
    assert_int_equal(ner_batches_make(&b, &train, &v, &(ner_batch_opts){.batch_size = NER_BATCH_SIZE, .maxlen = NER_MAXLEN, .shuffle = true, .seed = 1, .epoch = 0}), 0);
    t1 = now_s();
    assert_int_equal(b.n_batches, (14041 + 31) / 32);
    printf("[ INFO     ] train batches: %d in %.1f ms, %d truncated, %lld OOV\n", b.n_batches,
           (t1 - t0) * 1e3, b.n_long, (long long)b.n_oov);
    ner_batches_free(&b);

    snprintf(path, sizeof path, "%s/conll2003/valid.txt", dir);
    rc = ner_read_conll(path, NER_SCHEME_AUTO, &valid, err, sizeof err);
    if (rc)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(valid.n_sentences, 3250);
    assert_true(valid.n_tokens == 51362);
    int64_t counts[NER_NUM_TAGS];
    ner_corpus_tag_counts(&valid, counts);
    assert_true(counts[NER_TAG_B_LOC] == 1837);
    assert_true(counts[NER_TAG_B_MISC] == 922);
    assert_true(counts[NER_TAG_B_ORG] == 1341);
    assert_true(counts[NER_TAG_B_PER] == 1842);
    ner_corpus_free(&valid);

    snprintf(path, sizeof path, "%s/conll2003-columns/train.txt", dir);
    rc = ner_read_conll(path, NER_SCHEME_AUTO, &cols, err, sizeof err);
    if (rc)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    assert_corpus_equal(&train, &cols);
    ner_corpus_free(&cols);
    snprintf(path, sizeof path, "%s/conll2003-columns/valid.txt", dir);
    assert_int_equal(ner_read_conll(path, NER_SCHEME_IOB2, &cols, err, sizeof err), 0);
    assert_int_equal(cols.n_sentences, 3250);
    ner_corpus_tag_counts(&cols, counts);
    assert_true(counts[NER_TAG_B_LOC] == 1837 && counts[NER_TAG_B_PER] == 1842);
    ner_corpus_free(&cols);
    ner_vocab_free(&v);
    ner_corpus_free(&train);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_read_two_columns),
        cmocka_unit_test(test_read_four_columns),
        cmocka_unit_test(test_iob1),
        cmocka_unit_test(test_read_errors),
        cmocka_unit_test(test_writer),
        cmocka_unit_test(test_vocab),
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_synth),
        cmocka_unit_test(test_conll2003),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
