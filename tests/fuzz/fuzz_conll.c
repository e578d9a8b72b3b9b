/* The CoNLL reader on arbitrary bytes: it must accept them or give one line naming
 * the line, never crash; and what it accepts must write out and read back
 * identically (ner_write_conll's promise). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ner/data.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    return 0;
}

static int read_bytes(const void *data, size_t size, ner_scheme scheme, ner_corpus *c, char *err,
                      size_t errlen)
{
    /* fmemopen refuses a zero-sized buffer: an empty file is /dev/null's bytes */
    FILE *f = size ? fmemopen((void *)data, size, "rb") : fopen("/dev/null", "rb");
    FUZZ_REQUIRE(f, "cannot open the input as a stream");
    int rc = ner_read_conll_stream(f, "fuzz.txt", scheme, c, err, errlen);
    fclose(f);
    return rc;
}

static void require_equal(const ner_corpus *a, const ner_corpus *b)
{
    FUZZ_REQUIRE(a->n_sentences == b->n_sentences, "%d sentences read back as %d",
                 a->n_sentences, b->n_sentences);
    for (int s = 0; s < a->n_sentences; s++) {
        const ner_sentence *x = &a->sentences[s], *y = &b->sentences[s];
        FUZZ_REQUIRE(x->len == y->len, "sentence %d: %d tokens read back as %d", s, x->len, y->len);
        for (int i = 0; i < x->len; i++) {
            FUZZ_REQUIRE(!strcmp(x->tokens[i], y->tokens[i]), "sentence %d token %d: '%s' vs '%s'",
                         s, i, x->tokens[i], y->tokens[i]);
            FUZZ_REQUIRE(x->tags[i] == y->tags[i], "sentence %d token %d: tag %d vs %d", s, i,
                         x->tags[i], y->tags[i]);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ner_corpus c, back;
    char err[512] = "";
    if (read_bytes(data, size, NER_SCHEME_AUTO, &c, err, sizeof err)) {
        FUZZ_REQUIRE(err[0] && !strchr(err, '\n'), "the error is not one line: '%s'", err);
        FUZZ_REQUIRE(!strncmp(err, "fuzz.txt", 8), "the error does not name the file: '%s'", err);
        return 0;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *w = open_memstream(&text, &len);
    FUZZ_REQUIRE(w, "open_memstream");
    int rc = ner_write_conll_stream(w, "fuzz-out.txt", &c, err, sizeof err);
    fclose(w);
    FUZZ_REQUIRE(rc == 0, "what was read cannot be written: %s", err);
    rc = read_bytes(text, len, NER_SCHEME_IOB2, &back, err, sizeof err);
    FUZZ_REQUIRE(rc == 0, "what was written does not read back: %s", err);
    require_equal(&c, &back);
    ner_corpus_free(&back);
    ner_corpus_free(&c);
    free(text);
    return 0;
}
