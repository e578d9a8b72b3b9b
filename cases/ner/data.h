/* The data side of the NER case (keras-io "Named Entity Recognition using
 * Transformers", CoNLL-2003): tags, a CoNLL reader and writer, the StringLookup-like
 * vocabulary and padded batches. Plain C, no engine dependency.
 *
 * Errors are values: functions return 0 on success and -1 on failure (NER_ERR_OOM when
 * memory ran out, which is no fault of the input), never exit or abort; where an err
 * buffer is taken it receives a one-line message (err may be NULL or errlen 0). */
#ifndef DUET_NER_DATA_H
#define DUET_NER_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define NER_ERR_OOM (-2)

/* ---- tags, exactly as the keras-io example (its mapping is the HF ids + 1) ---- */
enum {
    NER_TAG_PAD = 0, /* "[PAD]": padding only, never read from a file */
    NER_TAG_O = 1,
    NER_TAG_B_PER = 2,
    NER_TAG_I_PER = 3,
    NER_TAG_B_ORG = 4,
    NER_TAG_I_ORG = 5,
    NER_TAG_B_LOC = 6,
    NER_TAG_I_LOC = 7,
    NER_TAG_B_MISC = 8,
    NER_TAG_I_MISC = 9,
    NER_NUM_TAGS = 10
};

/* Entity types (ner_tag_type): 0 for [PAD] and O. */
enum { NER_TYPE_NONE = 0, NER_TYPE_PER = 1, NER_TYPE_ORG = 2, NER_TYPE_LOC = 3, NER_TYPE_MISC = 4 };

/* "[PAD]", "O", "B-PER", ...; "?" for an id out of range. */
const char *ner_tag_name(int id);
/* The id of a tag name (exact, case-sensitive), -1 if unknown. "[PAD]" gives 0. */
int ner_tag_id(const char *name);
/* NER_TYPE_* of a tag id (0 for [PAD], O and out-of-range ids). */
int ner_tag_type(int id);
/* 1 for B-X, 0 otherwise. */
int ner_tag_is_begin(int id);
/* "PER", "ORG", "LOC", "MISC" for NER_TYPE_*, "" for NER_TYPE_NONE. */
const char *ner_type_name(int type);

/* ---- corpus ---- */
typedef enum ner_scheme { NER_SCHEME_AUTO = 0, NER_SCHEME_IOB1 = 1, NER_SCHEME_IOB2 = 2 } ner_scheme;

#define NER_MAX_LINE 4096      /* bytes per line, without the line end */
#define NER_MAX_SENTENCE 10000 /* tokens per sentence */

typedef struct ner_sentence {
    int len;
    int64_t line;   /* the file line of its first token (0 when not read from a file) */
    int64_t start;  /* index of the first token in the corpus' flat arrays */
    char **tokens;  /* len tokens (original case), = corpus->tokens + start */
    int32_t *tags;  /* len tag ids in 1..9, IOB2, = corpus->tags + start */
} ner_sentence;

struct ner_text_block;

/* All memory is owned by the corpus. A zeroed struct is a valid empty corpus. The
 * pointers in sentences[] stay valid until the corpus is changed or freed. */
typedef struct ner_corpus {
    int n_sentences;
    int64_t n_tokens;
    ner_sentence *sentences;
    char **tokens;     /* n_tokens, sentence after sentence */
    int32_t *tags;     /* n_tokens */
    ner_scheme scheme; /* what the reader found/used: IOB1 (converted) or IOB2 */
    /* private */
    int cap_sentences;
    int64_t cap_tokens;
    struct ner_text_block *text;
} ner_corpus;

void ner_corpus_init(ner_corpus *c);
void ner_corpus_free(ner_corpus *c); /* leaves an empty corpus; safe to call twice */
/* Appends a copy of a sentence (tokens non-empty strings, tags in 1..9; IOB2 is not
 * checked here, the writer checks it). len 0..NER_MAX_SENTENCE. */
int ner_corpus_add_sentence(ner_corpus *c, const char *const *tokens, const int32_t *tags,
                            int len);
/* counts[id] = how many tokens carry tag id (counts[NER_TAG_B_LOC] = LOC entities). */
void ner_corpus_tag_counts(const ner_corpus *c, int64_t counts[NER_NUM_TAGS]);

/* Reads CoNLL columns: TOKEN [MIDDLE COLUMNS...] TAG, separated by spaces or tabs;
 * blank lines end sentences; "-DOCSTART-" lines are skipped (and end a sentence);
 * "\n" or "\r\n" line ends; a UTF-8 BOM at the start is ignored. Tags are converted to
 * IOB2: IOB1 input (I-X may open an entity, B-X only splits adjacent same-type
 * entities) is rewritten; with IOB2 an I-X must follow B-X or I-X. AUTO picks IOB2 if
 * some B-X follows a tag that is not of type X (B- opens entities), else IOB1.
 * On error: -1 (NER_ERR_OOM out of memory), *out empty, err = "PATH:LINE: what is wrong"
 * (or "PATH: ..."), with control bytes of the file's text escaped (\r, \x01). *out is
 * overwritten (free a previous corpus first). */
int ner_read_conll(const char *path, ner_scheme scheme, ner_corpus *out, char *err,
                   size_t errlen);
/* The same from an open stream; name is what errors call it. */
int ner_read_conll_stream(FILE *f, const char *name, ner_scheme scheme, ner_corpus *out,
                          char *err, size_t errlen);
/* Writes "TOKEN TAG" lines (IOB2) and a blank line after every sentence, whole or not at
 * all (duet_write_atomic: a unique temporary file beside it, then a rename). What it
 * writes reads back identically: a first token that starts with U+FEFF gets a
 * byte-order mark before it, since the reader drops one at the start of a file. Refuses
 * corpora that would not: empty sentences, empty tokens or tokens with spaces, tabs or
 * line breaks, "-DOCSTART-" tokens, lines over NER_MAX_LINE, tags out of 1..9, an I-X
 * that does not continue an X entity. */
int ner_write_conll(const char *path, const ner_corpus *c, char *err, size_t errlen);
/* The same lines to an open stream (flushed); name is what errors call it. */
int ner_write_conll_stream(FILE *f, const char *name, const ner_corpus *c, char *err,
                           size_t errlen);

/* ---- vocabulary (keras StringLookup over Counter.most_common) ---- */
#define NER_VOCAB_SIZE 20000 /* the example's vocab_size: ids 0..19998 used */

typedef struct ner_vocab {
    int size;         /* number of ids including 0: min(distinct, vocab_size - 2) + 1 */
    char **tokens;    /* tokens[id] (lowercased); tokens[0] = "[UNK]" */
    int64_t *counts;  /* counts[id] in the training corpus; counts[0] = 0 */
    /* private */
    uint32_t *hashes;
    int32_t *table;
    uint32_t table_mask;
    char *text;
} ner_vocab;

/* Counts the lowercased tokens of train (ASCII A-Z lowercased, other bytes unchanged,
 * like tf.strings.lower), keeps the vocab_size - 2 most frequent (ties: first
 * occurrence first, like Counter.most_common) as ids 1.. in that order; id 0 is shared
 * by padding and out-of-vocabulary. vocab_size >= 2. *v is overwritten. */
int ner_vocab_build(ner_vocab *v, const ner_corpus *train, int vocab_size);
/* Lowercases token and returns its id, 0 if out of vocabulary (or token NULL). */
int32_t ner_vocab_lookup(const ner_vocab *v, const char *token);
/* The (lowercased) token of an id, "[UNK]" for 0, NULL out of range. */
const char *ner_vocab_token(const ner_vocab *v, int32_t id);
void ner_vocab_free(ner_vocab *v);

/* ---- batches ---- */
#define NER_BATCH_SIZE 32
#define NER_MAXLEN 128

typedef struct ner_batch {
    int rows;              /* batch_size, or fewer for the last batch */
    int T;                 /* longest row in this batch, >= 1 */
    int32_t *tokens;       /* (rows, T) row-major vocabulary ids, 0-padded */
    int32_t *tags;         /* (rows, T) tag ids, 0-padded ([PAD]) */
    int32_t *lengths;      /* (rows) tokens in each row, <= maxlen */
    const int *sentences;  /* (rows) corpus index of each row's sentence */
    const int32_t *offsets; /* (rows) where in its sentence each row starts (windows) */
    int first_row;         /* position of row 0 among all rows (= i * batch_size) */
} ner_batch;

typedef struct ner_batches {
    int n_batches, n_rows;
    int batch_size, maxlen;
    int n_sentences;
    int *order;               /* (n_sentences) corpus indices in epoch order */
    ner_batch *batches;
    int n_long;               /* sentences longer than maxlen */
    int64_t n_dropped_tokens; /* tokens cut from them (none with windows) */
    int64_t n_tokens;         /* tokens kept */
    int64_t n_oov;            /* kept tokens mapped to id 0 */
    /* private */
    int *row_sentence;
    int32_t *buf;
} ner_batches;

typedef struct ner_batch_opts {
    int batch_size, maxlen;
    /* shuffle: the sentences in a Fisher-Yates permutation drawn from (seed, epoch)
     * with splitmix64 (the same seed and epoch always give the same order; any seed,
     * 0 too); else corpus order */
    bool shuffle;
    uint64_t seed;
    int epoch;
    /* a sentence longer than maxlen becomes several rows, windows of maxlen tokens
     * (for scoring every token); else it is cut to its first maxlen tokens */
    bool windows;
} ner_batch_opts;

/* Splits c into batches of batch_size rows, each padded to its own longest row. *b is
 * overwritten (free a previous one first); on error -1 (NER_ERR_OOM) and *b empty. */
int ner_batches_make(ner_batches *b, const ner_corpus *c, const ner_vocab *v,
                     const ner_batch_opts *o);
/* Batch i, NULL out of range. */
const ner_batch *ner_batches_get(const ner_batches *b, int i);
void ner_batches_free(ner_batches *b);

/* ---- utility ---- */

/* splitmix64: advances *state and returns the next value. */
uint64_t ner_splitmix64(uint64_t *state);

#endif
