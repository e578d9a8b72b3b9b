#include "train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ner/data.h"
#include "ner/model.h"
#include "ner/synth.h"
#include "ner/weights.h"
#include "timing.h"

ner_run_opts ner_run_defaults(void)
{
    return (ner_run_opts){.synth_train = 2000, .synth_valid = 500, .mode = DUET_GRAPH,
                          .epochs = 1, .batch = NER_BATCH_SIZE, .seed = 42, .evaluate = true};
}

static ner_run_status fail(ner_run_result *r, ner_run_status st, const char *msg)
{
    snprintf(r->error, sizeof r->error, "%s", msg);
    r->status = st;
    return st;
}

/* An error from the data functions: out of memory is no fault of the input. */
static ner_run_status data_fail(ner_run_result *r, int rc, const char *msg)
{
    return fail(r, rc == NER_ERR_OOM ? NER_RUN_INTERNAL : NER_RUN_INPUT, msg);
}

/* "dir/name", malloc'ed (a path of any length: never cut short to fit a buffer). */
static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int read_split(const char *dir, const char *name, ner_scheme scheme, ner_corpus *out,
                      char *err, size_t errlen)
{
    char *path = join(dir, name);
    if (!path) snprintf(err, errlen, "out of memory: a file name");
    int rc = path ? ner_read_conll(path, scheme, out, err, errlen) : NER_ERR_OOM;
    free(path);
    return rc;
}

/* The synthetic corpus goes through a CoNLL file and back, so the embedded default
 * exercises the same reader as real data. */
static int synth_split(ner_corpus *out, int n, uint64_t seed, const char *dir, const char *name,
                       char *err, size_t errlen)
{
    ner_corpus gen;
    ner_corpus_init(&gen);
    char *path = join(dir, name);
    int rc = path && !ner_synth_generate(&gen, n, seed) ? 0 : NER_ERR_OOM;
    if (rc) snprintf(err, errlen, "out of memory: generating the synthetic corpus");
    if (!rc) rc = ner_write_conll(path, &gen, err, errlen);
    if (!rc) rc = read_split(dir, name, NER_SCHEME_IOB2, out, err, errlen);
    ner_corpus_free(&gen);
    if (path) remove(path);
    free(path);
    return rc;
}

/* 0, -1 (a bad file, err says where) or NER_ERR_OOM. */
static int load_data(const ner_run_opts *o, ner_corpus *train, ner_corpus *valid, char *err,
                     size_t errlen)
{
    if (o->data_dir) {
        int rc = read_split(o->data_dir, "train.txt", NER_SCHEME_AUTO, train, err, errlen);
        return rc ? rc : read_split(o->data_dir, "valid.txt", NER_SCHEME_AUTO, valid, err, errlen);
    }
    const char *tmp = getenv("TMPDIR");
    char *dir = join(tmp && *tmp ? tmp : "/tmp", "duet-synth-XXXXXX");
    if (!dir) {
        snprintf(err, errlen, "out of memory: a directory name");
        return NER_ERR_OOM;
    }
    if (!mkdtemp(dir)) {
        snprintf(err, errlen,
                 "synthetic corpus: cannot make a temporary directory in %s (set TMPDIR to "
                 "another): %s",
                 tmp && *tmp ? tmp : "/tmp", strerror(errno));
        free(dir);
        return -1;
    }
    int rc = synth_split(train, o->synth_train, o->seed, dir, "train.txt", err, errlen);
    if (!rc) rc = synth_split(valid, o->synth_valid, o->seed + 1000003, dir, "valid.txt", err, errlen);
    rmdir(dir);
    free(dir);
    return rc;
}

/* --strict: the first sentence longer than the model's positions, as file:line. */
static int refuse_long(const ner_corpus *c, const char *dir, const char *file, char *err,
                       size_t errlen)
{
    for (int i = 0; i < c->n_sentences; i++)
        if (c->sentences[i].len > NER_MAXLEN) {
            snprintf(err, errlen,
                     "%s/%s:%lld: a sentence of %d tokens is longer than the model's %d positions "
                     "(--strict)",
                     dir ? dir : "(synthetic)", file, (long long)c->sentences[i].line,
                     c->sentences[i].len, NER_MAXLEN);
            return -1;
        }
    return 0;
}

static void batch_tensors(duet_ctx *ctx, const ner_batch *b, duet_tensor **tok, duet_tensor **tag)
{
    int64_t shape[2] = {b->rows, b->T};
    *tok = duet_constant(ctx, DUET_I32, 2, shape, b->tokens);
    *tag = duet_constant(ctx, DUET_I32, 2, shape, b->tags);
}

/* Scores every token of every validation sentence: a sentence longer than the model's
 * positions comes as consecutive rows (windows), and is scored once its last window
 * is in. Argmax over the tags of each position, then conlleval both ways. 0, -1 with
 * the engine's error, or 1 with r->error set (the model's output is not finite). */
static int evaluate(duet_ctx *ctx, duet_fn *predict, const ner_batches *vb,
                    const ner_corpus *valid, ner_run_result *r)
{
    ner_eval_init(&r->eval);
    ner_eval_init(&r->eval_keras);
    int32_t *kg = malloc(sizeof(int32_t) * (size_t)(vb->n_tokens + 1));
    int32_t *kp = malloc(sizeof(int32_t) * (size_t)(vb->n_tokens + 1));
    int32_t *pred = malloc(sizeof(int32_t) * NER_MAX_SENTENCE);
    int64_t nk = 0;
    int rc = kg && kp && pred ? 0 : -1;
    if (rc) duet_ctx_fail(ctx, DUET_ERR_OOM, "scoring the validation set");
    for (int i = 0; i < vb->n_batches && !rc; i++) {
        const ner_batch *b = ner_batches_get(vb, i);
        duet_tensor *tok, *tag, *logits;
        batch_tensors(ctx, b, &tok, &tag);
        rc = duet_fn_call(predict, (duet_tensor *[]){tok, tag}, &logits);
        if (rc) break;
        const float *z = logits->data;
        int C = (int)logits->shape[2];
        for (int row = 0; row < b->rows && !rc; row++) {
            const ner_sentence *st = &valid->sentences[b->sentences[row]];
            for (int t = 0; t < b->lengths[row] && !rc; t++) {
                const float *zt = z + ((int64_t)row * b->T + t) * C;
                int best = 0;
                for (int k = 0; k < C; k++) {
                    if (!isfinite(zt[k])) {
                        snprintf(r->error, sizeof r->error,
                                 "validation: the model's output for sentence %d token %d is %s "
                                 "(rerun with --check-numerics to find the op that made it)",
                                 b->sentences[row] + 1, b->offsets[row] + t + 1,
                                 isnan(zt[k]) ? "NaN" : "Inf");
                        rc = 1;
                        break;
                    }
                    if (zt[k] > zt[best]) best = k;
                }
                pred[b->offsets[row] + t] = best;
            }
            if (rc || b->offsets[row] + b->lengths[row] < st->len) continue;
            for (int t = 0; t < st->len; t++)
                if (pred[t] > 0) kg[nk] = st->tags[t], kp[nk++] = pred[t];
            ner_eval_add(&r->eval, st->tags, pred, st->len);
        }
        duet_ctx_reset(ctx);
    }
    if (!rc) ner_eval_add(&r->eval_keras, kg, kp, (int)nk);
    free(kg);
    free(kp);
    free(pred);
    return rc;
}

static int grow_log(ner_run_result *r, int cap)
{
    float *l = realloc(r->losses, sizeof *l * (size_t)cap);
    if (l) r->losses = l;
    double *m = realloc(r->ms, sizeof *m * (size_t)cap);
    if (m) r->ms = m;
    return l && m ? 0 : -1;
}

/* The engine stopped: a diagnostic, except that running out of memory is one line and
 * exit 3, as everywhere (see ner_run_status). */
static ner_run_status diag_or_internal(duet_ctx *ctx, ner_run_result *r)
{
    const duet_diag *d = duet_ctx_error(ctx);
    if (d && d->code == DUET_ERR_OOM) {
        if (d->file[0])
            snprintf(r->error, sizeof r->error, "out of memory: %s (%s%sat %s:%d)", d->message,
                     d->op, d->op[0] ? " " : "", d->file, d->line);
        else
            snprintf(r->error, sizeof r->error, "out of memory: %s", d->message);
        return r->status = NER_RUN_INTERNAL;
    }
    if (d) r->diag = *d;
    return r->status = NER_RUN_DIAG;
}

/* One epoch of training steps; returns the status. */
static ner_run_status train_epoch(const ner_run_opts *o, duet_ctx *ctx, duet_fn *step,
                                  const ner_batches *tb, int epoch, ner_run_result *r)
{
    double sum = 0;
    int n = 0;
    for (int i = 0; i < tb->n_batches; i++) {
        if (o->max_steps && r->steps >= o->max_steps) break;
        if (r->steps % 1024 == 0 && grow_log(r, r->steps + 1024))
            return fail(r, NER_RUN_INTERNAL, "out of memory: the step log");
        duet_tensor *tok, *tag, *loss;
        batch_tensors(ctx, ner_batches_get(tb, i), &tok, &tag);
        double t0 = duet_now_ms();
        if (duet_fn_call(step, (duet_tensor *[]){tok, tag}, &loss)) return diag_or_internal(ctx, r);
        double ms = duet_now_ms() - t0;
        float l = duet_get_f32(loss, 0);
        duet_ctx_reset(ctx);
        /* a NaN loss poisons every weight at the next update: training on would only
         * hide where it came from */
        if (!isfinite(l)) {
            snprintf(r->error, sizeof r->error,
                     "step %d (epoch %d, batch %d): the loss is %s; training stopped (rerun with "
                     "--check-numerics to find the first op that made a NaN or Inf)",
                     r->steps + 1, epoch, i + 1, isnan(l) ? "NaN" : "Inf");
            return r->status = NER_RUN_DIAG;
        }
        r->losses[r->steps] = l;
        r->ms[r->steps] = ms;
        r->steps++;
        sum += l, n++;
        if (o->on_step)
            o->on_step(o->user, &(ner_step_info){r->steps, epoch, i + 1, tb->n_batches,
                                                 o->max_steps, l, ms});
    }
    if (o->on_epoch && n) o->on_epoch(o->user, epoch, sum / n);
    return NER_RUN_OK;
}

/* n notes of fn, copied: they must outlive the function. NULL when out of memory. */
static char **copy_notes(const duet_fn *fn, int n, const char *(*note)(const duet_fn *, int))
{
    char **v = calloc((size_t)n + 1, sizeof *v);
    for (int i = 0; v && i < n; i++)
        if (!(v[i] = strdup(note(fn, i)))) {
            while (i--) free(v[i]);
            free(v);
            return NULL;
        }
    return v;
}

static void free_notes(char **v)
{
    for (int i = 0; v && v[i]; i++) free(v[i]);
    free(v);
}

typedef struct run_state {
    duet_ctx *ctx;
    ner_model model;
    bool model_ok;
    ner_corpus train, valid;
    ner_vocab vocab;
    ner_batches tb, vb;
    duet_fn *step, *predict;
} run_state;

static void state_free(run_state *s)
{
    duet_fn_free(s->step);
    duet_fn_free(s->predict);
    if (s->model_ok) ner_model_free(&s->model);
    ner_batches_free(&s->tb);
    ner_batches_free(&s->vb);
    ner_vocab_free(&s->vocab);
    ner_corpus_free(&s->train);
    ner_corpus_free(&s->valid);
    duet_ctx_free(s->ctx);
}

static duet_fn *make_fn(run_state *s, const ner_run_opts *o, const char *name, duet_fn_body body)
{
    duet_fn *fn = duet_fn_new(s->ctx, name, body, 2, 1, &s->model);
    if (!fn) return NULL;
    duet_fn_set_mode(fn, o->mode);
    duet_fn_set_policy(fn, o->policy);
    duet_fn_relax(fn, "(B,T) (B,T)"); /* batch and length vary: one trace for all */
    return fn;
}

static ner_run_status setup(const ner_run_opts *o, run_state *s, ner_run_result *r)
{
    char err[1024];
    ner_corpus_init(&s->train);
    ner_corpus_init(&s->valid);
    int rc = load_data(o, &s->train, &s->valid, err, sizeof err);
    if (rc) return data_fail(r, rc, err);
    if (o->strict && (refuse_long(&s->train, o->data_dir, "train.txt", err, sizeof err) ||
                      refuse_long(&s->valid, o->data_dir, "valid.txt", err, sizeof err)))
        return fail(r, NER_RUN_INPUT, err);
    if (ner_vocab_build(&s->vocab, &s->train, NER_VOCAB_SIZE))
        return fail(r, NER_RUN_INTERNAL, "out of memory: building the vocabulary");
    ner_batch_opts vo = {.batch_size = o->batch, .maxlen = NER_MAXLEN, .windows = true};
    if (ner_batches_make(&s->vb, &s->valid, &s->vocab, &vo))
        return fail(r, NER_RUN_INTERNAL, "out of memory: batching the validation set");
    r->train_sentences = s->train.n_sentences;
    r->valid_sentences = s->valid.n_sentences;
    r->valid_long = s->vb.n_long;
    r->vocab_size = s->vocab.size;
    if (!(s->ctx = duet_ctx_new())) return fail(r, NER_RUN_INTERNAL, "out of memory: the context");
    if (duet_ctx_set_threads(s->ctx, o->threads)) {
        snprintf(err, sizeof err, "threads: %d is not between 0 and %d", o->threads,
                 DUET_MAX_THREADS);
        return fail(r, NER_RUN_INPUT, err);
    }
    duet_ctx_set_mem_limit(s->ctx, o->mem_limit);
    duet_ctx_set_check_numerics(s->ctx, o->check_numerics);
    ner_config cfg = ner_config_default();
    cfg.seed = o->seed;
    cfg.buggy_softmax = o->buggy_softmax;
    if (ner_model_init(s->ctx, &s->model, &cfg)) return diag_or_internal(s->ctx, r);
    s->model_ok = true;
    if (o->load_path && ner_load_weights(s->ctx, o->load_path, o->allow_nonfinite, err, sizeof err))
        return fail(r, NER_RUN_INPUT, err);
    s->step = make_fn(s, o, "ner_train_step", ner_train_step);
    s->predict = make_fn(s, o, "ner_predict", ner_predict_step);
    if (!s->step || !s->predict) return diag_or_internal(s->ctx, r);
    return NER_RUN_OK;
}

ner_run_status ner_run(const ner_run_opts *o, ner_run_result *r)
{
    memset(r, 0, sizeof *r);
    run_state s = {0};
    ner_run_status st = setup(o, &s, r);
    for (int e = 1; e <= o->epochs && st == NER_RUN_OK; e++) {
        if (o->max_steps && r->steps >= o->max_steps) break;
        ner_batches_free(&s.tb);
        ner_batch_opts to = {.batch_size = o->batch, .maxlen = NER_MAXLEN,
                             .shuffle = o->shuffle, .seed = o->seed, .epoch = e};
        if (ner_batches_make(&s.tb, &s.train, &s.vocab, &to)) {
            st = fail(r, NER_RUN_INTERNAL, "out of memory: making batches");
            break;
        }
        r->train_long = s.tb.n_long;
        r->train_dropped_tokens = s.tb.n_dropped_tokens;
        st = train_epoch(o, s.ctx, s.step, &s.tb, e, r);
    }
    if (st == NER_RUN_OK) {
        r->traces = duet_fn_trace_count(s.step);
        r->nwarnings = duet_fn_warning_count(s.step);
        r->trace_reasons = copy_notes(s.step, r->traces, duet_fn_trace_reason);
        r->warnings = copy_notes(s.step, r->nwarnings, duet_fn_warning);
        r->planned_bytes = duet_fn_planned_bytes(s.step);
        r->unplanned_bytes = duet_fn_unplanned_bytes(s.step);
        if (!r->trace_reasons || !r->warnings)
            st = fail(r, NER_RUN_INTERNAL, "out of memory: copying the trace reasons");
    }
    if (st == NER_RUN_OK && o->evaluate) {
        int rc = evaluate(s.ctx, s.predict, &s.vb, &s.valid, r);
        if (rc < 0) st = diag_or_internal(s.ctx, r);
        else if (rc > 0) st = r->status = NER_RUN_DIAG;
    }
    char err[1024];
    if (st == NER_RUN_OK && o->save_path && ner_save_weights(s.ctx, o->save_path, err, sizeof err))
        st = fail(r, NER_RUN_INPUT, err);
    state_free(&s);
    r->status = st;
    return st;
}

void ner_run_result_free(ner_run_result *r)
{
    free(r->losses);
    free(r->ms);
    free_notes(r->trace_reasons);
    free_notes(r->warnings);
    r->losses = NULL;
    r->ms = NULL;
    r->trace_reasons = r->warnings = NULL;
}
