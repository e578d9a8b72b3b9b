/* Weights files: see weights.h and docs/weights-format.md. */
#include "ner/weights.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "escape.h"
#include "outfile.h"

static const char magic[8] = "DUETWTS\n";
static const char magic_v1[8] = "DUETW1\n"; /* the format before versions, no checksum */

#define HEADER_BYTES 16  /* magic, version, variable count */
#define CHECKSUM_BYTES 4
#define MAX_NAME 255
#define MAX_DIM ((uint64_t)1 << 31)

uint32_t ner_crc32(uint32_t crc, const void *buf, size_t n)
{
    static uint32_t table[256];
    if (!table[1]) /* benign if two threads race: both write the same values */
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    const unsigned char *p = buf;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ---- writing: explicit little-endian fields, whatever the host ---- */

typedef struct writer {
    FILE *f;
    uint32_t crc;
    bool bad;
} writer;

static void put(writer *w, const void *p, size_t n)
{
    if (w->bad || fwrite(p, 1, n, w->f) != n) w->bad = true;
    w->crc = ner_crc32(w->crc, p, n);
}

static void put_u32(writer *w, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    put(w, b, 4);
}

static void put_u64(writer *w, uint64_t v)
{
    put_u32(w, (uint32_t)v);
    put_u32(w, (uint32_t)(v >> 32));
}

/* Values as little-endian 32-bit words (f32 by their bits); bools one byte each. */
static void put_data(writer *w, const duet_tensor *t)
{
    int64_t n = duet_numel(t);
    if (t->dtype == DUET_BOOL8) {
        put(w, t->data, (size_t)n);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        uint32_t word;
        memcpy(&word, (const char *)t->data + 4 * i, 4);
        put_u32(w, word);
    }
}

int ner_weights_encode(duet_ctx *ctx, FILE *f)
{
    writer w = {.f = f};
    put(&w, magic, sizeof magic);
    put_u32(&w, NER_WEIGHTS_VERSION);
    put_u32(&w, (uint32_t)duet_var_count(ctx));
    for (int i = 0; i < duet_var_count(ctx); i++) {
        const duet_var *v = duet_var_at(ctx, i);
        const duet_tensor *t = duet_var_value(v);
        size_t len = strlen(duet_var_name(v));
        if (len == 0 || len > MAX_NAME) return -1; /* the loader would refuse it */
        put_u32(&w, (uint32_t)len);
        put(&w, duet_var_name(v), len);
        put_u32(&w, (uint32_t)t->dtype);
        put_u32(&w, (uint32_t)t->rank);
        for (int d = 0; d < t->rank; d++) put_u64(&w, (uint64_t)t->shape[d]);
        put_data(&w, t);
    }
    put_u32(&w, w.crc);
    return w.bad ? -1 : 0;
}

static int encode_cb(FILE *f, void *ctx) { return ner_weights_encode(ctx, f); }

int ner_save_weights(duet_ctx *ctx, const char *path, char *err, size_t errlen)
{
    return duet_write_atomic(path, encode_cb, ctx, err, errlen);
}

/* ---- reading ---- */

typedef struct reader {
    const unsigned char *p;
    size_t pos, end; /* end: where the checksum starts */
} reader;

static bool get(reader *r, size_t n, const unsigned char **out)
{
    if (r->end - r->pos < n) return false;
    *out = r->p + r->pos;
    r->pos += n;
    return true;
}

static uint32_t le32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static bool get_u32(reader *r, uint32_t *v)
{
    const unsigned char *b;
    if (!get(r, 4, &b)) return false;
    *v = le32(b);
    return true;
}

static bool get_u64(reader *r, uint64_t *v)
{
    uint32_t lo, hi;
    if (!get_u32(r, &lo) || !get_u32(r, &hi)) return false;
    *v = (uint64_t)hi << 32 | lo;
    return true;
}

/* A record checked against its variable, not yet copied. */
typedef struct record {
    duet_var *var;
    const unsigned char *data;
} record;

static int fail(char *err, size_t errlen, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, const char *name, const char *fmt, ...)
{
    int n = snprintf(err, errlen, "%s: ", name);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < errlen) vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static bool is_second_moment(const char *name)
{
    size_t n = strlen(name);
    return n > 2 && !strcmp(name + n - 2, "/v");
}

/* The values a variable may hold, as this model uses them. */
static int check_values(const duet_var *v, const unsigned char *data, bool allow_nonfinite,
                        const char *name, char *err, size_t errlen)
{
    const duet_tensor *t = duet_var_value(v);
    int64_t n = duet_numel(t);
    for (int64_t i = 0; i < n; i++) {
        uint32_t bits = t->dtype == DUET_BOOL8 ? data[i] : le32(data + 4 * i);
        if (t->dtype == DUET_BOOL8 && bits > 1)
            return fail(err, errlen, name, "variable '%s' element %lld is %u, not a bool",
                        duet_var_name(v), (long long)i, bits);
        if (t->dtype == DUET_I32 && (int32_t)bits < 0)
            return fail(err, errlen, name,
                        "variable '%s' is a step counter and holds %d: a count cannot be negative",
                        duet_var_name(v), (int32_t)bits);
        if (t->dtype != DUET_F32) continue;
        float f;
        memcpy(&f, &bits, 4);
        if (!isfinite(f) && !allow_nonfinite)
            return fail(err, errlen, name,
                        "variable '%s' element %lld is %s (--allow-nonfinite accepts it)",
                        duet_var_name(v), (long long)i, isnan(f) ? "NaN" : f > 0 ? "Inf" : "-Inf");
        if (f < 0 && is_second_moment(duet_var_name(v)))
            return fail(err, errlen, name,
                        "variable '%s' is an Adam second moment and element %lld is %g: it "
                        "cannot be negative",
                        duet_var_name(v), (long long)i, (double)f);
    }
    return 0;
}

/* One record: its name, dtype and shape must be a variable of ctx not seen before. */
static int read_record(duet_ctx *ctx, reader *r, uint32_t index, record *recs, int *seen_at,
                       bool allow_nonfinite, const char *name, char *err, size_t errlen)
{
    uint32_t len, dtype, rank;
    const unsigned char *text;
    size_t at = r->pos;
    if (!get_u32(r, &len) || len == 0 || len > MAX_NAME || !get(r, len, &text))
        return fail(err, errlen, name, "variable record %u (byte %zu): bad or cut-off name",
                    index, at);
    char vname[MAX_NAME + 1];
    memcpy(vname, text, len);
    vname[len] = 0;
    if (strlen(vname) != len)
        return fail(err, errlen, name, "variable record %u (byte %zu): NUL byte in its name",
                    index, at);
    int k = 0;
    while (k < duet_var_count(ctx) && strcmp(duet_var_name(duet_var_at(ctx, k)), vname)) k++;
    char escaped[330];
    if (k == duet_var_count(ctx))
        return fail(err, errlen, name, "variable '%s' is not in this model",
                    duet_escape(vname, 64, escaped, sizeof escaped));
    if (seen_at[k] >= 0)
        return fail(err, errlen, name, "variable '%s' appears twice (records %d and %u)", vname,
                    seen_at[k], index);
    seen_at[k] = (int)index;
    duet_var *v = duet_var_at(ctx, k);
    const duet_tensor *t = duet_var_value(v);
    if (!get_u32(r, &dtype) || !get_u32(r, &rank) || rank > DUET_MAX_RANK)
        return fail(err, errlen, name, "variable '%s': bad or cut-off dtype and rank", vname);
    bool same = dtype == (uint32_t)t->dtype && rank == (uint32_t)t->rank;
    for (uint32_t d = 0; d < rank; d++) {
        uint64_t dim;
        if (!get_u64(r, &dim) || dim > MAX_DIM)
            return fail(err, errlen, name, "variable '%s': bad or cut-off shape", vname);
        same = same && dim == (uint64_t)t->shape[d];
    }
    if (!same)
        return fail(err, errlen, name, "variable '%s' has a different dtype or shape in this model",
                    vname);
    size_t bytes = (size_t)duet_numel(t) * duet_dtype_size(t->dtype);
    if (!get(r, bytes, &recs[k].data))
        return fail(err, errlen, name, "variable '%s': its values are cut off", vname);
    recs[k].var = v;
    return check_values(v, recs[k].data, allow_nonfinite, name, err, errlen);
}

static void copy_values(const record *rec)
{
    const duet_tensor *t = duet_var_value(rec->var);
    int64_t n = duet_numel(t);
    if (t->dtype == DUET_BOOL8) {
        memcpy(t->data, rec->data, (size_t)n);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        uint32_t word = le32(rec->data + 4 * i);
        memcpy((char *)t->data + 4 * i, &word, 4);
    }
}

int ner_weights_decode(duet_ctx *ctx, const unsigned char *buf, size_t n, const char *name,
                       bool allow_nonfinite, char *err, size_t errlen)
{
    if (n >= sizeof magic_v1 && !memcmp(buf, magic_v1, sizeof magic_v1))
        return fail(err, errlen, name, "written by an older duet (weights format 1, no "
                                       "checksum): save it again with this version");
    if (n < sizeof magic || memcmp(buf, magic, sizeof magic))
        return fail(err, errlen, name, "not a duet weights file");
    if (n < HEADER_BYTES + CHECKSUM_BYTES)
        return fail(err, errlen, name, "cut off after %zu bytes", n);
    uint32_t version = le32(buf + 8), count = le32(buf + 12);
    if (version != NER_WEIGHTS_VERSION)
        return fail(err, errlen, name, "weights format version %u; this duet reads version %d",
                    version, NER_WEIGHTS_VERSION);
    uint32_t stored = le32(buf + n - CHECKSUM_BYTES),
             computed = ner_crc32(0, buf, n - CHECKSUM_BYTES);
    if (stored != computed)
        return fail(err, errlen, name,
                    "checksum mismatch (stored %08x, computed %08x): the file was changed or cut "
                    "short",
                    stored, computed);
    int nvars = duet_var_count(ctx);
    if (count != (uint32_t)nvars)
        return fail(err, errlen, name, "holds %u variables, this model has %d", count, nvars);
    record *recs = calloc((size_t)nvars + 1, sizeof *recs);
    int *seen_at = malloc(sizeof *seen_at * ((size_t)nvars + 1));
    if (!recs || !seen_at) {
        free(recs), free(seen_at);
        return fail(err, errlen, name, "out of memory reading it");
    }
    for (int k = 0; k < nvars; k++) seen_at[k] = -1;
    reader r = {.p = buf, .pos = HEADER_BYTES, .end = n - CHECKSUM_BYTES};
    int rc = 0;
    for (uint32_t i = 0; i < count && !rc; i++)
        rc = read_record(ctx, &r, i, recs, seen_at, allow_nonfinite, name, err, errlen);
    if (!rc && r.pos != r.end)
        rc = fail(err, errlen, name, "%zu bytes after the last variable", r.end - r.pos);
    /* count records, each a distinct variable of the model: every variable is there */
    for (int k = 0; k < nvars && !rc; k++) copy_values(&recs[k]);
    free(recs);
    free(seen_at);
    return rc;
}

/* The bytes a weights file of this context has: anything much bigger is refused
 * before it is read. */
static size_t expected_size(duet_ctx *ctx)
{
    size_t n = HEADER_BYTES + CHECKSUM_BYTES;
    for (int i = 0; i < duet_var_count(ctx); i++) {
        const duet_tensor *t = duet_var_value(duet_var_at(ctx, i));
        n += 12 + strlen(duet_var_name(duet_var_at(ctx, i))) + 8 * (size_t)t->rank +
             (size_t)duet_numel(t) * duet_dtype_size(t->dtype);
    }
    return n;
}

int ner_load_weights(duet_ctx *ctx, const char *path, bool allow_nonfinite, char *err,
                     size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, errlen, path, "cannot open: %s", strerror(errno));
    struct stat st;
    int rc = -1;
    unsigned char *buf = NULL;
    if (fstat(fileno(f), &st) != 0)
        fail(err, errlen, path, "cannot read: %s", strerror(errno));
    else if (S_ISDIR(st.st_mode))
        fail(err, errlen, path, "is a directory, not a weights file");
    else if (!S_ISREG(st.st_mode))
        fail(err, errlen, path, "is not a regular file");
    else if ((size_t)st.st_size > expected_size(ctx) + 4096)
        fail(err, errlen, path, "has %lld bytes; a weights file of this model has %zu",
             (long long)st.st_size, expected_size(ctx));
    else if (!(buf = malloc((size_t)st.st_size + 1)))
        fail(err, errlen, path, "out of memory reading it");
    else if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
        fail(err, errlen, path, "cannot read: %s", ferror(f) ? strerror(errno) : "cut short");
    else
        rc = ner_weights_decode(ctx, buf, (size_t)st.st_size, path, allow_nonfinite, err, errlen);
    free(buf);
    fclose(f);
    return rc;
}
