/* Threads change no bits: NER training with 1, 2 and 3 kernel threads, eagerly and as
 * a graph, gives the same losses and weights (also with every loop forced to split
 * into small tasks); each threaded kernel, on tensors big enough to be split and of
 * sizes no task size divides, gives the same outputs and gradients for 1, 2 and 3
 * threads in both modes; and the context's thread setting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ner/train.h"
#include "testutil.h"

#include "../engine/src/internal.h" /* duet_pool_force_split, duet_pool_jobs */

enum { STEPS = 6 };

/* The weights file of a run: malloc'ed bytes, their count in *len. */
static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (size_t got = 1; got;) {
        if (*len == cap) buf = realloc(buf, cap = cap ? 2 * cap : 1 << 16);
        assert_non_null(buf);
        *len += got = fread(buf + *len, 1, cap - *len, f);
    }
    fclose(f);
    return buf;
}

/* STEPS training steps on the synthetic corpus (batches of 32 padded sentences: big
 * enough that the matrix products split into tasks): the losses, and the weights at
 * the end, which show a difference in the last bit of any gradient (the first
 * losses can round it away). */
static unsigned char *train(duet_exec_mode mode, int threads, float *losses, size_t *nweights)
{
    char path[] = "/tmp/duet_threads_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    ner_run_opts o = ner_run_defaults();
    o.mode = mode;
    o.threads = threads;
    o.max_steps = STEPS;
    o.synth_train = 400;
    o.synth_valid = 10;
    o.evaluate = false;
    o.save_path = path;
    ner_run_result r;
    assert_int_equal(ner_run(&o, &r), NER_RUN_OK);
    assert_int_equal(r.steps, STEPS);
    memcpy(losses, r.losses, sizeof(float) * STEPS);
    ner_run_result_free(&r);
    unsigned char *w = read_file(path, nweights);
    remove(path);
    return w;
}

/* The runs compared against eager with 1 thread: split means every loop is forced to
 * split into small tasks (duet_pool_force_split), as NER's tensors are small. */
typedef struct run_kind {
    duet_exec_mode mode;
    int threads;
    bool split;
} run_kind;

static const char *run_name(run_kind k, char *buf, size_t n)
{
    snprintf(buf, n, "%s with %d thread%s%s", k.mode == DUET_GRAPH ? "graph" : "eager", k.threads,
             k.threads > 1 ? "s" : "", k.split ? ", forced to split" : "");
    return buf;
}

static void test_ner_losses_independent_of_threads(void **state)
{
    (void)state;
    float ref[STEPS], got[STEPS];
    size_t nref, n;
    unsigned char *wref = train(DUET_EAGER, 1, ref, &nref);
    const run_kind runs[] = {{DUET_EAGER, 2, false}, {DUET_GRAPH, 1, false},
                             {DUET_GRAPH, 2, false}, {DUET_GRAPH, 3, false},
                             {DUET_EAGER, 2, true},  {DUET_GRAPH, 3, true}};
    for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
        char name[64];
        run_name(runs[i], name, sizeof name);
        duet_pool_force_split(runs[i].split);
        unsigned char *w = train(runs[i].mode, runs[i].threads, got, &n);
        duet_pool_force_split(false);
        for (int s = 0; s < STEPS; s++)
            if (memcmp(&got[s], &ref[s], sizeof(float)))
                fail_msg("%s, step %d: loss %.9g, eager with 1 thread %.9g", name, s, got[s],
                         ref[s]);
        if (n != nref || memcmp(w, wref, n))
            fail_msg("%s: the weights after %d steps differ from eager's with 1 thread", name,
                     STEPS);
        free(w);
    }
    free(wref);
}

/* ---- each threaded kernel on its own ----
 * A case is a body of (ctx, inputs) -> y on big, oddly sized inputs. A run reads the
 * inputs from variables, computes y, loss = sum(y * w) for fixed weights w, and the
 * gradients of the inputs marked diff (and, for Adam, applies two Adam steps to
 * them); every output's bits are compared with eager's on 1 thread. */

enum { MAX_IN = 3, MAX_WEIGHTS = 1 << 20 };

typedef struct kcase {
    const char *name;
    duet_tensor *(*body)(duet_ctx *c, duet_tensor **x);
    int nin;
    tu_input in[MAX_IN];
    bool adam;
} kcase;

static float loss_weights[MAX_WEIGHTS];

typedef struct krun {
    const kcase *k;
    duet_var *var[MAX_IN];
    duet_adam *opt;
} krun;

static int diff_vars(const krun *r, duet_var **dv)
{
    int n = 0;
    for (int i = 0; i < r->k->nin; i++)
        if (r->k->in[i].diff) dv[n++] = r->var[i];
    return n;
}

static void kernel_step(duet_ctx *c, duet_tensor *const *in, duet_tensor **out, void *user)
{
    (void)in;
    krun *r = user;
    duet_tensor *x[MAX_IN];
    for (int i = 0; i < r->k->nin; i++) x[i] = duet_var_read(c, r->var[i]);
    duet_tensor *y = out[0] = r->k->body(c, x);
    duet_var *dv[MAX_IN];
    int nd = diff_vars(r, dv);
    if (!nd) return;
    assert_true(duet_numel(y) <= MAX_WEIGHTS);
    duet_tensor *w = duet_constant(c, DUET_F32, y->rank, y->shape, loss_weights);
    duet_grad(c, duet_sum(c, duet_mul(c, y, w), 0, false), dv, nd, out + 1);
    if (r->opt) duet_adam_apply(c, r->opt, out + 1);
}

/* Appends n bytes to a growing buffer. */
static void put_bytes(unsigned char **buf, size_t *len, const void *p, size_t n)
{
    *buf = realloc(*buf, *len + n + 1);
    assert_non_null(*buf);
    memcpy(*buf + *len, p, n);
    *len += n;
}

static void put_tensor(unsigned char **buf, size_t *len, const duet_tensor *t)
{
    put_bytes(buf, len, t->shape, sizeof(int64_t) * (size_t)t->rank);
    put_bytes(buf, len, t->data, (size_t)duet_numel(t) * duet_dtype_size(t->dtype));
}

/* One run of case k: y, the gradients and (Adam) the updated inputs, as bytes. */
static unsigned char *run_case(const kcase *k, run_kind how, size_t *len, int64_t *jobs)
{
    duet_ctx *c = duet_ctx_new();
    assert_int_equal(duet_ctx_set_threads(c, how.threads), DUET_OK);
    krun r = {.k = k};
    for (int i = 0; i < k->nin; i++) {
        const tu_input *t = &k->in[i];
        char name[8] = {'x', (char)('0' + i)};
        r.var[i] = duet_var_new(c, name, t->dtype, t->rank, t->shape);
        assert_non_null(r.var[i]);
        memcpy(duet_var_value(r.var[i])->data, t->data,
               (size_t)duet_numel(duet_var_value(r.var[i])) * duet_dtype_size(t->dtype));
    }
    duet_var *dv[MAX_IN];
    int nd = diff_vars(&r, dv);
    if (k->adam) r.opt = duet_adam_new(c, dv, nd, duet_adam_defaults());
    duet_fn *fn = duet_fn_new(c, k->name, kernel_step, 0, 1 + nd, &r);
    duet_fn_set_mode(fn, how.mode);
    duet_tensor *out[1 + MAX_IN];
    duet_pool_force_split(how.split);
    for (int call = 0; call < (k->adam ? 2 : 1); call++) {
        if (call) duet_ctx_reset(c);
        int rc = duet_fn_call(fn, NULL, out);
        if (rc) duet_diag_print(stderr, duet_ctx_error(c));
        assert_int_equal(rc, 0);
    }
    duet_pool_force_split(false);
    unsigned char *buf = NULL;
    *len = 0;
    for (int i = 0; i < 1 + nd; i++) put_tensor(&buf, len, out[i]);
    for (int i = 0; k->adam && i < nd; i++) put_tensor(&buf, len, duet_var_value(dv[i]));
    *jobs = duet_pool_jobs(c);
    duet_fn_free(fn);
    if (r.opt) duet_adam_free(r.opt);
    duet_ctx_free(c);
    return buf;
}

static void check_case(const kcase *k)
{
    const run_kind runs[] = {{DUET_EAGER, 2, false}, {DUET_EAGER, 3, false},
                             {DUET_GRAPH, 1, false}, {DUET_GRAPH, 2, false},
                             {DUET_GRAPH, 3, false}, {DUET_EAGER, 2, true},
                             {DUET_GRAPH, 3, true}};
    size_t nref, n;
    int64_t jobs;
    unsigned char *ref = run_case(k, (run_kind){DUET_EAGER, 1, false}, &nref, &jobs);
    for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
        char name[64];
        unsigned char *got = run_case(k, runs[i], &n, &jobs);
        if (n != nref || memcmp(got, ref, n))
            fail_msg("%s: %s differs from eager with 1 thread", k->name,
                     run_name(runs[i], name, sizeof name));
        /* the case is big enough that its kernels really split */
        if (runs[i].threads > 1 && jobs == 0)
            fail_msg("%s: %s split no loop", k->name, run_name(runs[i], name, sizeof name));
        free(got);
    }
    free(ref);
}

/* ---- the bodies ---- */

/* mul, add, sub, relu, tanh: separate kernels eagerly, one fused node traced */
static duet_tensor *k_elementwise(duet_ctx *c, duet_tensor **x)
{
    duet_tensor *t = duet_sub(c, duet_add(c, duet_mul(c, x[0], x[1]), x[0]), x[1]);
    return duet_mul(c, duet_relu(c, t), duet_tanh(c, x[0]));
}

/* broadcast rows: (R, C) + (C,), then * (R, 1) */
static duet_tensor *k_broadcast(duet_ctx *c, duet_tensor **x)
{
    return duet_mul(c, duet_add(c, x[0], x[1]), x[2]);
}

static duet_tensor *k_softmax_last(duet_ctx *c, duet_tensor **x) { return duet_softmax(c, x[0], -1, NULL); }
static duet_tensor *k_softmax_mid(duet_ctx *c, duet_tensor **x) { return duet_softmax(c, x[0], 1, NULL); }
static duet_tensor *k_log_softmax(duet_ctx *c, duet_tensor **x) { return duet_log_softmax(c, x[0], -1); }
static duet_tensor *k_masked_last(duet_ctx *c, duet_tensor **x) { return duet_softmax(c, x[0], -1, x[1]); }
static duet_tensor *k_masked_mid(duet_ctx *c, duet_tensor **x) { return duet_softmax(c, x[0], 2, x[1]); }
static duet_tensor *k_layer_norm(duet_ctx *c, duet_tensor **x) { return duet_layer_norm(c, x[0], x[1], x[2], 1e-3f); }
static duet_tensor *k_xent(duet_ctx *c, duet_tensor **x) { return duet_sparse_xent(c, x[0], x[1]); }
static duet_tensor *k_gather(duet_ctx *c, duet_tensor **x) { return duet_gather(c, x[0], x[1]); }
static duet_tensor *k_scatter(duet_ctx *c, duet_tensor **x) { return duet_scatter_add(c, x[0], x[1], 20011); }
static duet_tensor *k_sum_rows(duet_ctx *c, duet_tensor **x) { return duet_sum(c, x[0], DUET_AXIS(1), false); }
static duet_tensor *k_sum_cols(duet_ctx *c, duet_tensor **x) { return duet_sum(c, x[0], DUET_AXIS(0), false); }
static duet_tensor *k_mean_mid(duet_ctx *c, duet_tensor **x) { return duet_mean(c, x[0], DUET_AXIS(1), true); }
static duet_tensor *k_max_last(duet_ctx *c, duet_tensor **x) { return duet_max(c, x[0], DUET_AXIS(2), false); }
static duet_tensor *k_sum_to_cols(duet_ctx *c, duet_tensor **x) { return duet_sum_to(c, x[0], 1, (int64_t[]){1031}); }
static duet_tensor *k_sum_to_mid(duet_ctx *c, duet_tensor **x) { return duet_sum_to(c, x[0], 2, (int64_t[]){7, 1}); }
static duet_tensor *k_transpose(duet_ctx *c, duet_tensor **x) { return duet_transpose(c, x[0], (int[]){2, 0, 1}); }
static duet_tensor *k_heads(duet_ctx *c, duet_tensor **x) { return duet_transpose(c, x[0], (int[]){0, 2, 1, 3}); }
static duet_tensor *k_concat(duet_ctx *c, duet_tensor **x) { return duet_concat(c, x, 2, 1); }
static duet_tensor *k_pad(duet_ctx *c, duet_tensor **x) { return duet_pad(c, duet_slice(c, x[0], 1, 3, 500), 0, 3, 5); }
static duet_tensor *k_adam(duet_ctx *c, duet_tensor **x) { return duet_mul(c, x[0], x[0]); }

static duet_tensor *k_dropout(duet_ctx *c, duet_tensor **x)
{
    return duet_dropout(c, x[0], 0.3f, 0x9e3779b97f4a7c15ull, duet_scalar_i32(c, 11), 2);
}

/* Host data for the cases: f32 in [-2, 2), ids in [0, rows), masks keeping most. */
static float *f32_data(int64_t n, unsigned seed)
{
    float *p = malloc(sizeof(float) * (size_t)n);
    assert_non_null(p);
    tu_fill(p, (int)n, seed, -2.0f, 2.0f);
    return p;
}

static int32_t *id_data(int64_t n, int32_t rows)
{
    int32_t *p = malloc(sizeof(int32_t) * (size_t)n);
    assert_non_null(p);
    for (int64_t i = 0; i < n; i++) p[i] = (int32_t)((i * 7919 + 13) % rows); /* repeats */
    return p;
}

static uint8_t *mask_data(int64_t n)
{
    uint8_t *p = malloc((size_t)n);
    assert_non_null(p);
    for (int64_t i = 0; i < n; i++) p[i] = (uint8_t)((i * 7 + 3) % 5 != 0);
    return p;
}

/* Inputs by dtype, rank and dims; the data is made per case (f32 differentiated). */
#define F32(r, ...) {DUET_F32, r, {__VA_ARGS__}, NULL, true}
#define IDS(r, ...) {DUET_I32, r, {__VA_ARGS__}, NULL, false}
#define MASK(r, ...) {DUET_BOOL8, r, {__VA_ARGS__}, NULL, false}

static void test_kernels_independent_of_threads(void **state)
{
    (void)state;
    tu_fill(loss_weights, MAX_WEIGHTS, 99, -1.0f, 1.0f);
    kcase cases[] = {
        {"elementwise", k_elementwise, 2, {F32(2, 3, 50021), F32(2, 3, 50021)}, false},
        {"broadcast rows", k_broadcast, 3, {F32(2, 301, 1031), F32(1, 1031), F32(2, 301, 1)}, false},
        {"softmax, last axis", k_softmax_last, 1, {F32(2, 613, 257)}, false},
        {"softmax, middle axis", k_softmax_mid, 1, {F32(3, 37, 129, 41)}, false},
        {"log_softmax", k_log_softmax, 1, {F32(2, 613, 257)}, false},
        {"masked softmax, last axis", k_masked_last, 2, {F32(4, 16, 4, 67, 67), MASK(4, 16, 1, 1, 67)}, false},
        {"masked softmax, axis 2", k_masked_mid, 2, {F32(4, 16, 4, 67, 67), MASK(4, 16, 1, 1, 67)}, false},
        {"layer_norm", k_layer_norm, 3, {F32(2, 2011, 129), F32(1, 129), F32(1, 129)}, false},
        {"sparse_xent", k_xent, 2, {F32(2, 4099, 37), IDS(1, 4099)}, false},
        {"gather", k_gather, 2, {F32(2, 20011, 33), IDS(1, 3001)}, false},
        {"scatter_add", k_scatter, 2, {IDS(1, 3001), F32(2, 3001, 33)}, false},
        {"sum of rows", k_sum_rows, 1, {F32(2, 1031, 517)}, false},
        {"sum of columns", k_sum_cols, 1, {F32(2, 1031, 517)}, false},
        {"mean over the middle axis", k_mean_mid, 1, {F32(3, 37, 1031, 19)}, false},
        {"max over the last axis", k_max_last, 1, {F32(3, 3, 1031, 517)}, false},
        {"sum_to columns", k_sum_to_cols, 1, {F32(3, 3, 301, 1031)}, false},
        {"sum_to a kept middle axis", k_sum_to_mid, 1, {F32(3, 501, 7, 129)}, false},
        {"transpose", k_transpose, 1, {F32(3, 67, 129, 35)}, false},
        {"split heads", k_heads, 1, {F32(4, 33, 41, 5, 33)}, false},
        {"concat", k_concat, 2, {F32(2, 300, 517), F32(2, 300, 211)}, false},
        {"slice and pad", k_pad, 1, {F32(2, 601, 517)}, false},
        {"dropout", k_dropout, 1, {F32(2, 1001, 257)}, false},
        {"adam", k_adam, 1, {F32(2, 3, 100003)}, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        kcase *k = &cases[i];
        for (int j = 0; j < k->nin; j++) {
            tu_input *t = &k->in[j];
            int64_t n = 1;
            for (int d = 0; d < t->rank; d++) n *= t->shape[d];
            t->data = t->dtype == DUET_F32   ? (void *)f32_data(n, (unsigned)(i * 8 + j))
                      : t->dtype == DUET_I32 ? (void *)id_data(n, k->body == k_xent ? 37 : 20011)
                                             : (void *)mask_data(n);
        }
        check_case(k);
        for (int j = 0; j < k->nin; j++) free((void *)k->in[j].data);
    }
}

static void test_set_threads(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    assert_true(duet_ctx_threads(c) >= 1); /* the online CPUs */
    assert_int_equal(duet_ctx_set_threads(c, 3), DUET_OK);
    assert_int_equal(duet_ctx_threads(c), 3);
    /* out of range: an error value, the setting and the context unchanged */
    assert_int_equal(duet_ctx_set_threads(c, -1), DUET_ERR_ARG);
    assert_int_equal(duet_ctx_set_threads(c, DUET_MAX_THREADS + 1), DUET_ERR_ARG);
    assert_int_equal(duet_ctx_threads(c), 3);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    assert_int_equal(duet_ctx_set_threads(c, 0), DUET_OK);
    assert_true(duet_ctx_threads(c) >= 1);
    duet_ctx_free(c);
    const char *n = duet_numerics();
    assert_true(!strcmp(n, "avx512-fma") || !strcmp(n, "avx2-fma") || !strcmp(n, "portable"));
    const char *env = getenv("DUET_PORTABLE_NUMERICS");
    if (env && *env && strcmp(env, "0")) assert_string_equal(n, "portable");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ner_losses_independent_of_threads),
        cmocka_unit_test(test_kernels_independent_of_threads),
        cmocka_unit_test(test_set_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
