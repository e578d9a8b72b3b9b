/* NER data: tags, CoNLL reader/writer, vocabulary, batches. See data.h. */
#include "ner/data.h"
#include "escape.h"
#include "outfile.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- errors ---- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ tags ---- */

static const char *const tag_names[NER_NUM_TAGS] = {
    "[PAD]", "O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC",
};

const char *ner_tag_name(int id)
{
    return id >= 0 && id < NER_NUM_TAGS ? tag_names[id] : "?";
}

int ner_tag_id(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < NER_NUM_TAGS; i++)
        if (strcmp(name, tag_names[i]) == 0)
            return i;
    return -1;
}

int ner_tag_type(int id)
{
    return id >= 2 && id < NER_NUM_TAGS ? (id - 2) / 2 + 1 : NER_TYPE_NONE;
}

int ner_tag_is_begin(int id)
{
    return id >= 2 && id < NER_NUM_TAGS && id % 2 == 0;
}

const char *ner_type_name(int type)
{
    static const char *const names[] = {"", "PER", "ORG", "LOC", "MISC"};
    return type >= 0 && type <= 4 ? names[type] : "";
}

uint64_t ner_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* ---------------------------------------------------------------- corpus ---- */

struct ner_text_block {
    struct ner_text_block *next;
    size_t used, cap;
    char data[];
};

#define TEXT_BLOCK 65536

void ner_corpus_init(ner_corpus *c)
{
    memset(c, 0, sizeof *c);
}

void ner_corpus_free(ner_corpus *c)
{
    if (!c)
        return;
    free(c->sentences);
    free(c->tokens);
    free(c->tags);
    for (struct ner_text_block *b = c->text, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    ner_corpus_init(c);
}

static char *text_store(ner_corpus *c, const char *s, size_t n)
{
    struct ner_text_block *b = c->text;
    if (!b || b->cap - b->used < n + 1) {
        size_t cap = n + 1 > TEXT_BLOCK ? n + 1 : TEXT_BLOCK;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = c->text;
        c->text = b;
    }
    char *p = b->data + b->used;
    memcpy(p, s, n);
    p[n] = '\0';
    b->used += n + 1;
    return p;
}

static void fix_sentence_pointers(ner_corpus *c)
{
    for (int s = 0; s < c->n_sentences; s++) {
        c->sentences[s].tokens = c->tokens + c->sentences[s].start;
        c->sentences[s].tags = c->tags + c->sentences[s].start;
    }
}

static int reserve_tokens(ner_corpus *c, int64_t need)
{
    if (need <= c->cap_tokens)
        return 0;
    int64_t cap = c->cap_tokens ? c->cap_tokens : 4096;
    while (cap < need)
        cap *= 2;
    char **t = realloc(c->tokens, (size_t)cap * sizeof *t);
    if (!t)
        return -1;
    c->tokens = t;
    int32_t *g = realloc(c->tags, (size_t)cap * sizeof *g);
    if (g)
        c->tags = g;
    fix_sentence_pointers(c);
    if (!g)
        return -1;
    c->cap_tokens = cap;
    return 0;
}

static int push_token(ner_corpus *c, const char *tok, size_t n, int32_t tag)
{
    if (reserve_tokens(c, c->n_tokens + 1))
        return -1;
    char *p = text_store(c, tok, n);
    if (!p)
        return -1;
    c->tokens[c->n_tokens] = p;
    c->tags[c->n_tokens] = tag;
    c->n_tokens++;
    return 0;
}

/* Closes the sentence made of tokens [start, n_tokens). */
static int end_sentence(ner_corpus *c, int64_t start, int allow_empty)
{
    int64_t len = c->n_tokens - start;
    if (len == 0 && !allow_empty)
        return 0;
    if (c->n_sentences == INT_MAX)
        return -1;
    if (c->n_sentences == c->cap_sentences) {
        int cap = c->cap_sentences ? (c->cap_sentences > INT_MAX / 2 ? INT_MAX : c->cap_sentences * 2)
                                   : 1024;
        ner_sentence *s = realloc(c->sentences, (size_t)cap * sizeof *s);
        if (!s)
            return -1;
        c->sentences = s;
        c->cap_sentences = cap;
    }
    ner_sentence *s = &c->sentences[c->n_sentences++];
    s->len = (int)len;
    s->line = 0;
    s->start = start;
    s->tokens = c->tokens + start;
    s->tags = c->tags + start;
    return 0;
}

int ner_corpus_add_sentence(ner_corpus *c, const char *const *tokens, const int32_t *tags,
                            int len)
{
    if (!c || len < 0 || len > NER_MAX_SENTENCE || (len > 0 && (!tokens || !tags)))
        return -1;
    for (int i = 0; i < len; i++)
        if (!tokens[i] || !tokens[i][0] || tags[i] < 1 || tags[i] >= NER_NUM_TAGS)
            return -1;
    int64_t start = c->n_tokens;
    for (int i = 0; i < len; i++) {
        if (push_token(c, tokens[i], strlen(tokens[i]), tags[i])) {
            c->n_tokens = start;
            return -1;
        }
    }
    if (end_sentence(c, start, 1)) {
        c->n_tokens = start;
        return -1;
    }
    return 0;
}

void ner_corpus_tag_counts(const ner_corpus *c, int64_t counts[NER_NUM_TAGS])
{
    for (int i = 0; i < NER_NUM_TAGS; i++)
        counts[i] = 0;
    if (!c)
        return;
    for (int64_t i = 0; i < c->n_tokens; i++)
        if (c->tags[i] >= 0 && c->tags[i] < NER_NUM_TAGS)
            counts[c->tags[i]]++;
}

/* ----------------------------------------------------------------- UTF-8 ---- */

/* Returns the offset of the first invalid byte (and a reason) or -1 if s is valid
 * UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF). */
static long utf8_check(const unsigned char *s, size_t n, const char **why)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned lo = 0x80, hi = 0xBF;
        const char *range_why = "invalid continuation byte";
        if (c >= 0x80 && c <= 0xBF) {
            *why = "unexpected continuation byte";
            return (long)i;
        } else if (c == 0xC0 || c == 0xC1) {
            *why = "overlong encoding";
            return (long)i;
        } else if (c <= 0xDF) {
            need = 1;
        } else if (c == 0xE0) {
            need = 2, lo = 0xA0, range_why = "overlong encoding";
        } else if (c == 0xED) {
            need = 2, hi = 0x9F, range_why = "UTF-16 surrogate";
        } else if (c <= 0xEF) {
            need = 2;
        } else if (c == 0xF0) {
            need = 3, lo = 0x90, range_why = "overlong encoding";
        } else if (c <= 0xF3) {
            need = 3;
        } else if (c == 0xF4) {
            need = 3, hi = 0x8F, range_why = "code point above U+10FFFF";
        } else {
            *why = c <= 0xF7 ? "code point above U+10FFFF" : "invalid byte";
            return (long)i;
        }
        for (size_t k = 1; k <= need; k++) {
            if (i + k >= n) {
                *why = "truncated sequence";
                return (long)i;
            }
            unsigned d = s[i + k];
            unsigned l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
            if (d < l || d > h) {
                *why = (d >= 0x80 && d <= 0xBF) ? range_why : "truncated sequence";
                return (long)i;
            }
        }
        i += need + 1;
    }
    return -1;
}

/* ---------------------------------------------------------------- reader ---- */

typedef struct line_reader {
    FILE *f;
    size_t pos, len;
    int eof;
    unsigned char buf[65536];
} line_reader;

/* Copies the next line (without '\n') into line (at most cap bytes). Returns 1 for a
 * line, 0 at end of file, -1 on a read error, -2 if the line has more than cap bytes. */
static int read_line(line_reader *r, char *line, size_t cap, size_t *out_len)
{
    size_t n = 0;
    int got = 0;
    for (;;) {
        if (r->pos == r->len) {
            if (r->eof) {
                *out_len = n;
                return got;
            }
            r->len = fread(r->buf, 1, sizeof r->buf, r->f);
            r->pos = 0;
            if (r->len == 0) {
                if (ferror(r->f))
                    return -1;
                r->eof = 1;
            }
            continue;
        }
        got = 1;
        unsigned char *s = r->buf + r->pos;
        size_t avail = r->len - r->pos;
        unsigned char *nl = memchr(s, '\n', avail);
        size_t take = nl ? (size_t)(nl - s) : avail;
        if (take > cap - n)
            return -2;
        memcpy(line + n, s, take);
        n += take;
        r->pos += take + (nl ? 1 : 0);
        if (nl) {
            *out_len = n;
            return 1;
        }
    }
}

static int is_sep(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Converts/validates the raw tags of a freshly read corpus. lines[i] is the line of
 * token i. */
static int apply_scheme(ner_corpus *c, ner_scheme scheme, const int64_t *lines, const char *path,
                        char *err, size_t errlen)
{
    int64_t detected_line = 0;
    if (scheme == NER_SCHEME_AUTO) {
        scheme = NER_SCHEME_IOB1;
        for (int s = 0; s < c->n_sentences && scheme == NER_SCHEME_IOB1; s++) {
            const ner_sentence *st = &c->sentences[s];
            for (int i = 0; i < st->len; i++) {
                int prev_type = i ? ner_tag_type(st->tags[i - 1]) : NER_TYPE_NONE;
                if (ner_tag_is_begin(st->tags[i]) && ner_tag_type(st->tags[i]) != prev_type) {
                    scheme = NER_SCHEME_IOB2;
                    detected_line = lines[st->start + i];
                    break;
                }
            }
        }
    }
    c->scheme = scheme;
    for (int s = 0; s < c->n_sentences; s++) {
        ner_sentence *st = &c->sentences[s];
        for (int i = 0; i < st->len; i++) {
            int32_t t = st->tags[i];
            int type = ner_tag_type(t);
            if (type == NER_TYPE_NONE || ner_tag_is_begin(t))
                continue;
            int32_t prev = i ? st->tags[i - 1] : NER_TAG_PAD;
            if (ner_tag_type(prev) == type)
                continue;
            if (scheme == NER_SCHEME_IOB1) {
                st->tags[i] = t - 1; /* I-X opening an entity -> B-X */
                continue;
            }
            char detected[64] = "";
            if (detected_line)
                snprintf(detected, sizeof detected, "; scheme detected from line %lld",
                         (long long)detected_line);
            if (i == 0)
                set_err(err, errlen,
                        "%s:%lld: tag %s cannot start a sentence in IOB2 (an entity starts "
                        "with B-%s)%s",
                        path, (long long)lines[st->start + i], ner_tag_name(t),
                        ner_type_name(type), detected);
            else
                set_err(err, errlen,
                        "%s:%lld: tag %s cannot follow %s in IOB2 (an entity starts with "
                        "B-%s)%s",
                        path, (long long)lines[st->start + i], ner_tag_name(t),
                        ner_tag_name(prev), ner_type_name(type), detected);
            return -1;
        }
    }
    return 0;
}

int ner_read_conll(const char *path, ner_scheme scheme, ner_corpus *out, char *err,
                   size_t errlen)
{
    if (!out)
        return -1;
    ner_corpus_init(out);
    if (!path) {
        set_err(err, errlen, "(null): cannot open: no path");
        return -1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    int rc = ner_read_conll_stream(f, path, scheme, out, err, errlen);
    fclose(f);
    return rc;
}

int ner_read_conll_stream(FILE *f, const char *path, ner_scheme scheme, ner_corpus *out,
                          char *err, size_t errlen)
{
    if (!out)
        return -1;
    ner_corpus_init(out);
    if (scheme != NER_SCHEME_AUTO && scheme != NER_SCHEME_IOB1 && scheme != NER_SCHEME_IOB2) {
        set_err(err, errlen, "%s: invalid tag scheme %d", path, (int)scheme);
        return -1;
    }
    line_reader *rd = malloc(sizeof *rd);
    char *line = malloc(NER_MAX_LINE + 2);
    int64_t *lines = NULL;
    int64_t cap_lines = 0;
    char escaped[330];
    int rc = -1;
    if (!rd || !line)
        goto oom;
    rd->f = f;
    rd->pos = rd->len = 0;
    rd->eof = 0;

    int64_t lineno = 0, start = 0;
    for (;;) {
        size_t len = 0;
        int r = read_line(rd, line, NER_MAX_LINE + 1, &len);
        if (r == 0)
            break;
        if (r == -1) {
            set_err(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            goto done;
        }
        lineno++;
        if (r == 1 && len > 0 && line[len - 1] == '\r')
            len--;
        if (r == -2 || len > NER_MAX_LINE) {
            set_err(err, errlen, "%s:%lld: line longer than %d bytes", path, (long long)lineno,
                    NER_MAX_LINE);
            goto done;
        }
        char *p = line;
        if (lineno == 1 && len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
            p += 3, len -= 3;
        const char *why = NULL;
        long bad = utf8_check((const unsigned char *)p, len, &why);
        if (bad >= 0) {
            set_err(err, errlen, "%s:%lld: invalid UTF-8 at byte %ld (0x%02X): %s", path,
                    (long long)lineno, bad + 1, (unsigned)(unsigned char)p[bad], why);
            goto done;
        }
        /* a CR ends a line only before its LF: elsewhere it is no separator and no
         * text either (a token holding one could not be written back) */
        char *cr = memchr(p, '\r', len);
        if (cr) {
            set_err(err, errlen,
                    "%s:%lld: carriage return at byte %ld inside the line (lines end with \\n "
                    "or \\r\\n)",
                    path, (long long)lineno, (long)(cr - p) + 1);
            goto done;
        }
        char *nul = memchr(p, '\0', len);
        if (nul) {
            set_err(err, errlen, "%s:%lld: NUL byte at byte %ld", path, (long long)lineno,
                    (long)(nul - p) + 1);
            goto done;
        }
        p[len] = '\0';

        /* fields: first = token, last = tag */
        size_t i = 0;
        while (i < len && is_sep(p[i]))
            i++;
        if (i == len) { /* blank line */
            if (end_sentence(out, start, 0))
                goto oom;
            start = out->n_tokens;
            continue;
        }
        size_t tok_b = i;
        while (i < len && !is_sep(p[i]))
            i++;
        size_t tok_e = i;
        size_t e = len;
        while (e > tok_e && is_sep(p[e - 1]))
            e--;
        size_t tag_b = e;
        while (tag_b > tok_e && !is_sep(p[tag_b - 1]))
            tag_b--;
        p[tok_e] = '\0';
        if (strcmp(p + tok_b, "-DOCSTART-") == 0) {
            if (end_sentence(out, start, 0))
                goto oom;
            start = out->n_tokens;
            continue;
        }
        if (tag_b == e) {
            set_err(err, errlen, "%s:%lld: missing tag (expected TOKEN ... TAG): '%s'", path,
                    (long long)lineno, duet_escape(p + tok_b, 64, escaped, sizeof escaped));
            goto done;
        }
        p[e] = '\0';
        int tag = ner_tag_id(p + tag_b);
        if (tag < 1) {
            set_err(err, errlen,
                    "%s:%lld: unknown tag '%s' (expected O or B-/I- with PER, ORG, LOC, "
                    "MISC)",
                    path, (long long)lineno, duet_escape(p + tag_b, 64, escaped, sizeof escaped));
            goto done;
        }
        if (out->n_tokens - start >= NER_MAX_SENTENCE) {
            set_err(err, errlen, "%s:%lld: sentence longer than %d tokens", path,
                    (long long)lineno, NER_MAX_SENTENCE);
            goto done;
        }
        if (out->n_tokens >= cap_lines) {
            int64_t nc = cap_lines ? cap_lines * 2 : 4096;
            int64_t *nl = realloc(lines, (size_t)nc * sizeof *nl);
            if (!nl)
                goto oom;
            lines = nl;
            cap_lines = nc;
        }
        lines[out->n_tokens] = lineno;
        if (push_token(out, p + tok_b, tok_e - tok_b, tag))
            goto oom;
    }
    if (end_sentence(out, start, 0))
        goto oom;
    if (out->n_sentences == 0) {
        set_err(err, errlen, "%s: no sentences", path);
        goto done;
    }
    if (apply_scheme(out, scheme, lines, path, err, errlen))
        goto done;
    for (int k = 0; k < out->n_sentences; k++)
        out->sentences[k].line = lines[out->sentences[k].start];
    rc = 0;
    goto done;
oom:
    set_err(err, errlen, "%s: out of memory reading it", path);
    rc = NER_ERR_OOM;
done:
    free(rd);
    free(line);
    free(lines);
    if (rc)
        ner_corpus_free(out);
    return rc;
}

/* ---------------------------------------------------------------- writer ---- */

/* The corpus can be written so that it reads back identically (see data.h). */
static int check_writable(const char *path, const ner_corpus *c, char *err, size_t errlen)
{
    char buf[330];
    if (c->n_sentences == 0) {
        set_err(err, errlen, "%s: no sentences to write", path);
        return -1;
    }
    for (int s = 0; s < c->n_sentences; s++) {
        const ner_sentence *st = &c->sentences[s];
        if (st->len == 0) {
            set_err(err, errlen, "%s: sentence %d is empty", path, s);
            return -1;
        }
        for (int i = 0; i < st->len; i++) {
            const char *tok = st->tokens[i];
            int32_t t = st->tags[i];
            size_t n = strlen(tok);
            if (n == 0 || strpbrk(tok, " \t\r\n") || strcmp(tok, "-DOCSTART-") == 0) {
                set_err(err, errlen, "%s: sentence %d token %d '%s' cannot be written", path,
                        s, i, duet_escape(tok, 64, buf, sizeof buf));
                return -1;
            }
            if (t < 1 || t >= NER_NUM_TAGS) {
                set_err(err, errlen, "%s: sentence %d token %d has invalid tag id %d", path, s, i,
                        (int)t);
                return -1;
            }
            if (n + 1 + strlen(ner_tag_name(t)) > NER_MAX_LINE) {
                set_err(err, errlen, "%s: sentence %d token %d is longer than a line may be",
                        path, s, i);
                return -1;
            }
            if (ner_tag_type(t) != NER_TYPE_NONE && !ner_tag_is_begin(t) &&
                (i == 0 || ner_tag_type(st->tags[i - 1]) != ner_tag_type(t))) {
                set_err(err, errlen, "%s: sentence %d token %d: %s cannot follow %s in IOB2",
                        path, s, i, ner_tag_name(t), i ? ner_tag_name(st->tags[i - 1]) : "the start");
                return -1;
            }
        }
    }
    return 0;
}

static int write_lines(FILE *f, void *user)
{
    const ner_corpus *c = user;
    /* The reader drops one byte-order mark at the start of a file, so a first token
     * that begins with U+FEFF keeps it only behind a mark of the file's own. */
    if (memcmp(c->sentences[0].tokens[0], "\xEF\xBB\xBF", 3) == 0 && fputs("\xEF\xBB\xBF", f) < 0)
        return -1;
    for (int s = 0; s < c->n_sentences; s++) {
        const ner_sentence *st = &c->sentences[s];
        for (int i = 0; i < st->len; i++)
            if (fprintf(f, "%s %s\n", st->tokens[i], ner_tag_name(st->tags[i])) < 0)
                return -1;
        if (fputc('\n', f) == EOF)
            return -1;
    }
    return 0;
}

int ner_write_conll(const char *path, const ner_corpus *c, char *err, size_t errlen)
{
    if (!path || !c) {
        set_err(err, errlen, "%s: nothing to write", path ? path : "(null)");
        return -1;
    }
    if (check_writable(path, c, err, errlen))
        return -1;
    char why[1024];
    if (duet_write_atomic(path, write_lines, (void *)c, why, sizeof why)) {
        set_err(err, errlen, "%s", why);
        return -1;
    }
    return 0;
}

int ner_write_conll_stream(FILE *f, const char *name, const ner_corpus *c, char *err,
                           size_t errlen)
{
    if (check_writable(name, c, err, errlen))
        return -1;
    if (write_lines(f, (void *)c) || fflush(f) != 0) {
        set_err(err, errlen, "%s: write error: %s", name, strerror(errno));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ vocabulary ---- */

static inline unsigned char lower_ascii(unsigned char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (unsigned char)(ch + 32) : ch;
}

/* FNV-1a of the lowercased string; *n receives its length. */
static uint32_t hash_lower(const char *s, size_t *n)
{
    uint32_t h = 2166136261u;
    size_t i = 0;
    for (; s[i]; i++) {
        h ^= lower_ascii((unsigned char)s[i]);
        h *= 16777619u;
    }
    if (n)
        *n = i;
    return h;
}

/* s (any case) equals key (lowercase)? */
static int eq_lower(const char *s, const char *key)
{
    size_t i = 0;
    for (; s[i] && key[i]; i++)
        if (lower_ascii((unsigned char)s[i]) != (unsigned char)key[i])
            return 0;
    return s[i] == key[i];
}

typedef struct vcount {
    size_t off; /* into the key buffer */
    uint32_t hash;
    int64_t count, first;
} vcount;

static int cmp_vcount(const void *a, const void *b)
{
    const vcount *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return (x->first > y->first) - (x->first < y->first);
}

void ner_vocab_free(ner_vocab *v)
{
    if (!v)
        return;
    free(v->tokens);
    free(v->counts);
    free(v->hashes);
    free(v->table);
    free(v->text);
    memset(v, 0, sizeof *v);
}

int ner_vocab_build(ner_vocab *v, const ner_corpus *train, int vocab_size)
{
    if (!v)
        return -1;
    memset(v, 0, sizeof *v);
    if (!train || vocab_size < 2)
        return -1;

    /* count: open addressing over entries, keys lowercased in one growing buffer */
    vcount *ent = NULL;
    int32_t *tab = NULL;
    char *keys = NULL;
    size_t n_ent = 0, cap_ent = 0, keys_len = 0, keys_cap = 0;
    uint32_t mask = (1u << 14) - 1;
    int rc = NER_ERR_OOM; /* every way out before the end is an allocation that failed */
    tab = malloc(((size_t)mask + 1) * sizeof *tab);
    if (!tab)
        goto done;
    memset(tab, 0xff, ((size_t)mask + 1) * sizeof *tab);
    for (int64_t t = 0; t < train->n_tokens; t++) {
        const char *tok = train->tokens[t];
        size_t n;
        uint32_t h = hash_lower(tok, &n);
        uint32_t i = h & mask;
        int32_t e;
        while ((e = tab[i]) >= 0) {
            if (ent[e].hash == h && eq_lower(tok, keys + ent[e].off))
                break;
            i = (i + 1) & mask;
        }
        if (e >= 0) {
            ent[e].count++;
            continue;
        }
        if (n_ent >= (size_t)INT32_MAX - 1)
            goto done;
        if (n_ent == cap_ent) {
            size_t nc = cap_ent ? cap_ent * 2 : 4096;
            vcount *ne = realloc(ent, nc * sizeof *ne);
            if (!ne)
                goto done;
            ent = ne;
            cap_ent = nc;
        }
        if (keys_len + n + 1 > keys_cap) {
            size_t nc = keys_cap ? keys_cap : 65536;
            while (nc < keys_len + n + 1)
                nc *= 2;
            char *nk = realloc(keys, nc);
            if (!nk)
                goto done;
            keys = nk;
            keys_cap = nc;
        }
        for (size_t k = 0; k < n; k++)
            keys[keys_len + k] = (char)lower_ascii((unsigned char)tok[k]);
        keys[keys_len + n] = '\0';
        ent[n_ent] = (vcount){.off = keys_len, .hash = h, .count = 1, .first = t};
        keys_len += n + 1;
        tab[i] = (int32_t)n_ent++;
        if (n_ent * 2 > (size_t)mask + 1) { /* grow and rehash */
            uint32_t nm = mask * 2 + 1;
            int32_t *nt = malloc(((size_t)nm + 1) * sizeof *nt);
            if (!nt)
                goto done;
            memset(nt, 0xff, ((size_t)nm + 1) * sizeof *nt);
            for (size_t k = 0; k < n_ent; k++) {
                uint32_t j = ent[k].hash & nm;
                while (nt[j] >= 0)
                    j = (j + 1) & nm;
                nt[j] = (int32_t)k;
            }
            free(tab);
            tab = nt;
            mask = nm;
        }
    }
    if (n_ent)
        qsort(ent, n_ent, sizeof *ent, cmp_vcount);

    size_t kept = n_ent < (size_t)(vocab_size - 2) ? n_ent : (size_t)(vocab_size - 2);
    size_t text_len = sizeof "[UNK]";
    for (size_t k = 0; k < kept; k++)
        text_len += strlen(keys + ent[k].off) + 1;
    size_t tsize = 16;
    while (tsize < 2 * (kept + 1))
        tsize *= 2;
    v->size = (int)kept + 1;
    v->tokens = malloc((kept + 1) * sizeof *v->tokens);
    v->counts = malloc((kept + 1) * sizeof *v->counts);
    v->hashes = malloc((kept + 1) * sizeof *v->hashes);
    v->text = malloc(text_len);
    v->table = calloc(tsize, sizeof *v->table);
    v->table_mask = (uint32_t)(tsize - 1);
    if (!v->tokens || !v->counts || !v->hashes || !v->text || !v->table)
        goto done;
    char *p = v->text;
    memcpy(p, "[UNK]", sizeof "[UNK]");
    v->tokens[0] = p;
    v->counts[0] = 0;
    v->hashes[0] = 0;
    p += sizeof "[UNK]";
    for (size_t k = 0; k < kept; k++) {
        int32_t id = (int32_t)k + 1;
        size_t n = strlen(keys + ent[k].off);
        memcpy(p, keys + ent[k].off, n + 1);
        v->tokens[id] = p;
        v->counts[id] = ent[k].count;
        v->hashes[id] = ent[k].hash;
        p += n + 1;
        uint32_t j = ent[k].hash & v->table_mask;
        while (v->table[j])
            j = (j + 1) & v->table_mask;
        v->table[j] = id;
    }
    rc = 0;
done:
    free(ent);
    free(tab);
    free(keys);
    if (rc)
        ner_vocab_free(v);
    return rc;
}

int32_t ner_vocab_lookup(const ner_vocab *v, const char *token)
{
    if (!v || !v->table || !token)
        return 0;
    uint32_t h = hash_lower(token, NULL);
    for (uint32_t j = h & v->table_mask;; j = (j + 1) & v->table_mask) {
        int32_t id = v->table[j];
        if (id == 0)
            return 0;
        if (v->hashes[id] == h && eq_lower(token, v->tokens[id]))
            return id;
    }
}

const char *ner_vocab_token(const ner_vocab *v, int32_t id)
{
    if (!v || !v->tokens || id < 0 || id >= v->size)
        return NULL;
    return v->tokens[id];
}

/* --------------------------------------------------------------- batches ---- */

void ner_batches_free(ner_batches *b)
{
    if (!b)
        return;
    free(b->order);
    free(b->row_sentence);
    free(b->batches);
    free(b->buf);
    memset(b, 0, sizeof *b);
}

static uint64_t rand_below(uint64_t *s, uint64_t n)
{
    uint64_t threshold = (0 - n) % n; /* 2^64 mod n: reject to stay unbiased */
    for (;;) {
        uint64_t r = ner_splitmix64(s);
        if (r >= threshold)
            return r % n;
    }
}

/* The rows of a sentence of len tokens: one (cut to maxlen), or one per window. */
static int rows_of(int len, const ner_batch_opts *o)
{
    return o->windows && len > o->maxlen ? (len + o->maxlen - 1) / o->maxlen : 1;
}

int ner_batches_make(ner_batches *b, const ner_corpus *c, const ner_vocab *v,
                     const ner_batch_opts *o)
{
    if (!b)
        return -1;
    memset(b, 0, sizeof *b);
    if (!c || !v || !o || o->batch_size < 1 || o->maxlen < 1)
        return -1;
    int n = c->n_sentences, maxlen = o->maxlen, batch_size = o->batch_size;
    b->batch_size = batch_size;
    b->maxlen = maxlen;
    b->n_sentences = n;
    b->order = malloc((size_t)(n ? n : 1) * sizeof *b->order);
    if (!b->order)
        goto oom;
    for (int i = 0; i < n; i++)
        b->order[i] = i;
    if (o->shuffle) {
        uint64_t st = o->seed;
        st = ner_splitmix64(&st) ^ ((uint64_t)(uint32_t)o->epoch * 0xD1B54A32D192ED03ULL);
        for (int i = n - 1; i > 0; i--) {
            int j = (int)rand_below(&st, (uint64_t)i + 1);
            int t = b->order[i];
            b->order[i] = b->order[j];
            b->order[j] = t;
        }
    }
    /* rows: a sentence per row, or a window of maxlen tokens per row */
    int64_t nrows = 0;
    for (int i = 0; i < n; i++)
        nrows += rows_of(c->sentences[i].len, o);
    if (nrows > INT_MAX)
        goto oom;
    b->row_sentence = malloc((size_t)(nrows ? nrows : 1) * sizeof *b->row_sentence);
    int32_t *row_offset = malloc((size_t)(nrows ? nrows : 1) * sizeof *row_offset);
    int nb = (int)(nrows / batch_size + (nrows % batch_size != 0));
    b->batches = calloc((size_t)(nb ? nb : 1), sizeof *b->batches);
    if (!b->row_sentence || !row_offset || !b->batches) {
        free(row_offset);
        goto oom;
    }
    int64_t r = 0;
    for (int i = 0; i < n; i++) {
        int len = c->sentences[b->order[i]].len, k = rows_of(len, o);
        for (int w = 0; w < k; w++, r++) {
            b->row_sentence[r] = b->order[i];
            row_offset[r] = w * maxlen;
        }
        if (len > maxlen) {
            b->n_long++;
            if (!o->windows)
                b->n_dropped_tokens += len - maxlen;
        }
    }
    size_t total = 0;
    for (int k = 0; k < nb; k++) {
        ner_batch *bt = &b->batches[k];
        bt->first_row = k * batch_size;
        bt->rows = (int)(nrows - bt->first_row < batch_size ? nrows - bt->first_row : batch_size);
        bt->T = 1;
        for (int q = 0; q < bt->rows; q++) {
            int row = bt->first_row + q;
            int len = c->sentences[b->row_sentence[row]].len - row_offset[row];
            if (len > maxlen)
                len = maxlen;
            if (len > bt->T)
                bt->T = len;
        }
        total += (size_t)bt->rows * (size_t)bt->T;
    }
    b->buf = calloc(2 * total + 2 * (size_t)nrows + 1, sizeof *b->buf);
    if (!b->buf) {
        free(row_offset);
        goto oom;
    }
    int32_t *tok = b->buf, *tag = b->buf + total, *lens = b->buf + 2 * total,
            *offs = lens + nrows;
    memcpy(offs, row_offset, (size_t)nrows * sizeof *offs);
    free(row_offset);
    for (int k = 0; k < nb; k++) {
        ner_batch *bt = &b->batches[k];
        bt->tokens = tok;
        bt->tags = tag;
        bt->lengths = lens;
        bt->sentences = b->row_sentence + bt->first_row;
        bt->offsets = offs + bt->first_row;
        for (int q = 0; q < bt->rows; q++) {
            const ner_sentence *st = &c->sentences[bt->sentences[q]];
            int off = bt->offsets[q], len = st->len - off;
            if (len > maxlen)
                len = maxlen;
            lens[q] = len;
            for (int t = 0; t < len; t++) {
                int32_t id = ner_vocab_lookup(v, st->tokens[off + t]);
                b->n_oov += id == 0;
                tok[(size_t)q * bt->T + t] = id;
                tag[(size_t)q * bt->T + t] = st->tags[off + t];
            }
            b->n_tokens += len;
        }
        tok += (size_t)bt->rows * bt->T;
        tag += (size_t)bt->rows * bt->T;
        lens += bt->rows;
    }
    b->n_rows = (int)nrows;
    b->n_batches = nb;
    return 0;
oom:
    ner_batches_free(b);
    return NER_ERR_OOM;
}

const ner_batch *ner_batches_get(const ner_batches *b, int i)
{
    if (!b || i < 0 || i >= b->n_batches)
        return NULL;
    return &b->batches[i];
}
