#include "train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ner/data.h"
#include "ner/model.h"
#include "ner/synth.h"
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

/* The synthetic corpus goes through a CoNLL file and back, so the embedded default
 * exercises the same reader as real data. */
static int synth_split(ner_corpus *out, int n, uint64_t seed, const char *dir, const char *name,
                       char *err, size_t errlen)
{
    ner_corpus gen;
    ner_corpus_init(&gen);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = ner_synth_generate(&gen, n, seed);
    if (rc) snprintf(err, errlen, "synthetic corpus: generation failed");
    if (!rc) rc = ner_write_conll(path, &gen, err, errlen);
    if (!rc) rc = ner_read_conll(path, NER_SCHEME_IOB2, out, err, errlen);
    ner_corpus_free(&gen);
    remove(path);
    return rc;
}

static int load_data(const ner_run_opts *o, ner_corpus *train, ner_corpus *valid, char *err,
                     size_t errlen)
{
    char a[4096], b[4096];
    if (o->data_dir) {
        snprintf(a, sizeof a, "%s/train.txt", o->data_dir);
        snprintf(b, sizeof b, "%s/valid.txt", o->data_dir);
        if (ner_read_conll(a, NER_SCHEME_AUTO, train, err, errlen)) return -1;
        return ner_read_conll(b, NER_SCHEME_AUTO, valid, err, errlen);
    }
    char dir[] = "/tmp/duet-synth-XXXXXX";
    if (!mkdtemp(dir)) {
        snprintf(err, errlen, "synthetic corpus: cannot make a temporary directory");
        return -1;
    }
    int rc = synth_split(train, o->synth_train, o->seed, dir, "train.txt", err, errlen);
    if (!rc) rc = synth_split(valid, o->synth_valid, o->seed + 1000003, dir, "valid.txt", err, errlen);
    rmdir(dir);
    return rc;
}

static void batch_tensors(duet_ctx *ctx, const ner_batch *b, duet_tensor **tok, duet_tensor **tag)
{
    int64_t shape[2] = {b->rows, b->T};
    *tok = duet_constant(ctx, DUET_I32, 2, shape, b->tokens);
    *tag = duet_constant(ctx, DUET_I32, 2, shape, b->tags);
}

/* Argmax over the tags of every real position, then conlleval both ways. */
static int evaluate(duet_ctx *ctx, duet_fn *predict, const ner_batches *vb, ner_run_result *r)
{
    ner_eval_init(&r->eval);
    ner_eval_init(&r->eval_keras);
    int32_t *kg = malloc(sizeof(int32_t) * (size_t)(vb->n_tokens + 1));
    int32_t *kp = malloc(sizeof(int32_t) * (size_t)(vb->n_tokens + 1));
    int64_t nk = 0;
    int rc = kg && kp ? 0 : -1;
    for (int i = 0; i < vb->n_batches && !rc; i++) {
        const ner_batch *b = ner_batches_get(vb, i);
        duet_tensor *tok, *tag, *logits;
        batch_tensors(ctx, b, &tok, &tag);
        rc = duet_fn_call(predict, (duet_tensor *[]){tok, tag}, &logits);
        if (rc) break;
        const float *z = logits->data;
        int C = (int)logits->shape[2];
        for (int row = 0; row < b->rows; row++) {
            int32_t pred[NER_MAXLEN];
            const int32_t *gold = b->tags + (int64_t)row * b->T;
            for (int t = 0; t < b->lengths[row]; t++) {
                const float *zt = z + ((int64_t)row * b->T + t) * C;
                int best = 0;
                for (int k = 1; k < C; k++)
                    if (zt[k] > zt[best]) best = k;
                pred[t] = best;
                if (gold[t] > 0 && best > 0) kg[nk] = gold[t], kp[nk++] = best;
            }
            ner_eval_add(&r->eval, gold, pred, b->lengths[row]);
        }
        duet_ctx_reset(ctx);
    }
    if (!rc) ner_eval_add(&r->eval_keras, kg, kp, (int)nk);
    free(kg);
    free(kp);
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

static ner_run_status diag_or_internal(duet_ctx *ctx, ner_run_result *r)
{
    r->diag = *duet_ctx_error(ctx);
    r->status = NER_RUN_DIAG;
    return r->status;
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
            return fail(r, NER_RUN_INTERNAL, "out of memory for the step log");
        duet_tensor *tok, *tag, *loss;
        batch_tensors(ctx, ner_batches_get(tb, i), &tok, &tag);
        double t0 = duet_now_ms();
        if (duet_fn_call(step, (duet_tensor *[]){tok, tag}, &loss)) return diag_or_internal(ctx, r);
        double ms = duet_now_ms() - t0;
        float l = duet_get_f32(loss, 0);
        duet_ctx_reset(ctx);
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
    if (load_data(o, &s->train, &s->valid, err, sizeof err)) return fail(r, NER_RUN_INPUT, err);
    if (ner_vocab_build(&s->vocab, &s->train, NER_VOCAB_SIZE) ||
        ner_batches_make(&s->vb, &s->valid, &s->vocab, o->batch, NER_MAXLEN, 0, 0))
        return fail(r, NER_RUN_INTERNAL, "out of memory building the vocabulary or batches");
    r->train_sentences = s->train.n_sentences;
    r->valid_sentences = s->valid.n_sentences;
    r->vocab_size = s->vocab.size;
    if (!(s->ctx = duet_ctx_new())) return fail(r, NER_RUN_INTERNAL, "out of memory");
    if (duet_ctx_set_threads(s->ctx, o->threads)) {
        snprintf(err, sizeof err, "threads: %d is not between 0 and %d", o->threads,
                 DUET_MAX_THREADS);
        return fail(r, NER_RUN_INPUT, err);
    }
    ner_config cfg = ner_config_default();
    cfg.seed = o->seed;
    cfg.buggy_softmax = o->buggy_softmax;
    if (ner_model_init(s->ctx, &s->model, &cfg)) return diag_or_internal(s->ctx, r);
    s->model_ok = true;
    if (o->load_path && ner_load_weights(s->ctx, o->load_path, err, sizeof err))
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
        if (ner_batches_make(&s.tb, &s.train, &s.vocab, o->batch, NER_MAXLEN,
                             o->shuffle ? o->seed : 0, e)) {
            st = fail(r, NER_RUN_INTERNAL, "out of memory making batches");
            break;
        }
        r->truncated = s.tb.n_truncated;
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
            st = fail(r, NER_RUN_INTERNAL, "out of memory copying the trace reasons");
    }
    if (st == NER_RUN_OK && o->evaluate && evaluate(s.ctx, s.predict, &s.vb, r))
        st = diag_or_internal(s.ctx, r);
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
