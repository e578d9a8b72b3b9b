/* Training and evaluating the NER case end to end: data (CoNLL files or the
 * synthetic corpus), vocabulary, batches, the model's train and predict functions in
 * eager or graph mode, conlleval metrics. The CLI (`duet train`, `duet demo`) and the
 * tests drive this one runner. */
#ifndef DUET_NER_TRAIN_H
#define DUET_NER_TRAIN_H

#include "duet/duet.h"
#include "ner/metrics.h"

typedef struct ner_step_info {
    int step, epoch, epoch_step, epoch_steps, total_steps;
    float loss;
    double ms;
} ner_step_info;

typedef struct ner_run_opts {
    const char *data_dir;  /* DIR/train.txt and DIR/valid.txt; NULL: synthetic corpus */
    int synth_train, synth_valid; /* sentences of the synthetic corpus */
    duet_exec_mode mode;
    duet_policy policy;
    bool buggy_softmax;    /* the seed bug variant */
    int epochs, batch, max_steps; /* max_steps 0: no limit */
    uint64_t seed;
    bool shuffle;
    bool evaluate;         /* run the validation set at the end */
    int threads;           /* kernels' threads (duet_ctx_set_threads); 0: the CPUs */
    bool strict;           /* a sentence longer than the model's positions is an input error */
    bool check_numerics;   /* stop at the first op that makes a NaN or Inf */
    size_t mem_limit;      /* bytes the engine may hold; 0: no limit */
    const char *load_path, *save_path;
    bool allow_nonfinite;  /* the weights loaded may hold NaN or Inf */
    void (*on_step)(void *user, const ner_step_info *info);
    void (*on_epoch)(void *user, int epoch, double mean_loss);
    void *user;
} ner_run_opts;

ner_run_opts ner_run_defaults(void);

/* One rule for every exit: bad input is 2; running out of memory is 3, like any failure
 * that is not the input's fault (the same input may run on a bigger machine), with
 * one line "out of memory: what needed it". */
typedef enum {
    NER_RUN_OK = 0,
    NER_RUN_DIAG = 1,  /* the run stopped: a diagnostic (a host branch), a non-finite loss */
    NER_RUN_INPUT = 2, /* bad data or weights file, an output that cannot be written */
    NER_RUN_INTERNAL = 3, /* out of memory, or a bug */
} ner_run_status;

typedef struct ner_run_result {
    ner_run_status status;
    char error[1024];  /* one line, for NER_RUN_INPUT / NER_RUN_INTERNAL, and for a
                        * non-finite loss (NER_RUN_DIAG without a diag) */
    duet_diag diag;    /* for NER_RUN_DIAG from the engine */
    int steps;
    float *losses;     /* per step */
    double *ms;        /* per step, wall clock of the duet_fn_call */
    int traces;        /* traces of the train step (0 in eager mode) */
    char **trace_reasons; /* traces entries, why each trace happened ("first call", ...) */
    char **warnings;   /* the train step's warnings (specialize: baked host reads) */
    int nwarnings;
    size_t planned_bytes, unplanned_bytes; /* graph mode: the last step's buffers */
    int train_sentences, valid_sentences, vocab_size;
    /* sentences longer than the model's positions: training sees their first
     * NER_MAXLEN tokens (train_dropped_tokens are cut); validation scores them whole,
     * in windows */
    int train_long, valid_long;
    int64_t train_dropped_tokens;
    ner_eval eval;       /* validation, conlleval per sentence */
    ner_eval eval_keras; /* validation, the keras-io example's way (see metrics.h) */
} ner_run_result;

ner_run_status ner_run(const ner_run_opts *o, ner_run_result *r);
void ner_run_result_free(ner_run_result *r);

/* `duet train ner|ner-buggy-softmax [flags]`: the NER cases' own training command
 * (argv[0] "train", argv[1] the case), with data, epochs, logs and weights. */
int ner_train_cli(int argc, char **argv);

#endif
