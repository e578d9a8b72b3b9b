/* `duet train MODEL`: the NER case trained in eager or graph mode. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "ner/data.h"
#include "ner/train.h"
#include "outfile.h"
#include "timing.h"

typedef struct train_cli {
    bool tty, quiet;
    FILE *log;
    double t0;
} train_cli;

static void on_step(void *user, const ner_step_info *s)
{
    train_cli *c = user;
    if (c->log) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "step", s->step);
        cJSON_AddNumberToObject(o, "epoch", s->epoch);
        cJSON_AddNumberToObject(o, "loss", s->loss);
        cJSON_AddNumberToObject(o, "ms", s->ms);
        char *line = cJSON_PrintUnformatted(o);
        /* whole lines, flushed as they come: tail -f follows the run */
        if (line) fprintf(c->log, "%s\n", line), fflush(c->log);
        cJSON_free(line);
        cJSON_Delete(o);
    }
    if (c->quiet) return;
    double rate = s->step / ((duet_now_ms() - c->t0) / 1000.0);
    if (c->tty) {
        int width = 30, done = s->epoch_steps ? s->epoch_step * width / s->epoch_steps : 0;
        fprintf(stderr, "\repoch %d [%.*s>%*s] %d/%d  loss %.4f  %.1f steps/s ", s->epoch, done,
                "==============================", width - done, "", s->epoch_step,
                s->epoch_steps, s->loss, rate);
    } else if (s->epoch_step % 50 == 0 || s->epoch_step == s->epoch_steps) {
        fprintf(stderr, "epoch %d step %d/%d loss %.4f %.1f steps/s\n", s->epoch, s->epoch_step,
                s->epoch_steps, s->loss, rate);
    }
}

static void on_epoch(void *user, int epoch, double mean)
{
    train_cli *c = user;
    if (c->tty && !c->quiet) fprintf(stderr, "\n");
    printf("epoch %d: mean loss %.4f\n", epoch, mean);
    fflush(stdout);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: duet train MODEL [options]   (--flag value or --flag=value)\n"
               "  MODEL              ner | ner-buggy-softmax (the seed bug: Softmax.call\n"
               "                     branches on its mask; graph mode stops with a diagnostic)\n"
               "  --data DIR         CoNLL files DIR/train.txt and DIR/valid.txt\n"
               "  --synthetic        the embedded synthetic corpus (default)\n"
               "  --mode eager|graph execution mode (default graph)\n"
               "  --policy P         host reads while tracing: strict (default), specialize, guard\n"
               "  --epochs N         epochs (default 1)\n"
               "  --batch N          sentences per batch (default 32)\n"
               "  --steps N          stop after N training steps\n"
               "  --seed S           initial weights, dropout and shuffling (default 42)\n"
               "  --shuffle          shuffle the training sentences every epoch\n"
               "  --strict           refuse sentences longer than the model's 128 positions\n"
               "                     (default: train on their first 128 tokens, score them whole)\n"
               "  --log FILE         one JSON object per step: step, epoch, loss, ms\n"
               "  --save FILE        write the weights after training\n"
               "  --load FILE        start from saved weights\n"
               "  --allow-nonfinite  let --load accept weights holding NaN or Inf\n"
               "  --check-numerics   stop at the first op that makes a NaN or Inf, naming it\n"
               "  --mem-limit BYTES  the most memory the engine may hold (default: no limit)\n"
               "  --threads N        threads for the kernels (default: the CPUs; results are\n"
               "                     the same bits for any N)\n"
               "  --no-eval          skip the validation metrics\n"
               "  --quiet            no progress output\n");
}

typedef struct train_args {
    ner_run_opts run;
    const char *log_path;
    bool quiet, synthetic, policy_given;
} train_args;

static int bad_choice(const char *flag, const char *choices, const char *v)
{
    fprintf(stderr, "duet train: %s: expected %s, got '%s'\n", flag, choices, v);
    return 2;
}

static const char *const value_flags[] = {"--data",  "--log",   "--save",  "--load",
                                          "--mode",  "--policy", "--epochs", "--batch",
                                          "--steps", "--seed",  "--mem-limit", "--threads"};

/* The flag that takes a value, with its value; returns 0 or 2 after a one-line error. */
static int value_flag(const char *f, const char *v, train_args *a)
{
    long long n;
    ner_run_opts *r = &a->run;
    if (!strcmp(f, "--data")) r->data_dir = v;
    else if (!strcmp(f, "--log")) a->log_path = v;
    else if (!strcmp(f, "--save")) r->save_path = v;
    else if (!strcmp(f, "--load")) r->load_path = v;
    else if (!strcmp(f, "--mode")) {
        if (!strcmp(v, "eager")) r->mode = DUET_EAGER;
        else if (!strcmp(v, "graph")) r->mode = DUET_GRAPH;
        else return bad_choice(f, "eager or graph", v);
    } else if (!strcmp(f, "--policy")) {
        a->policy_given = true;
        if (!strcmp(v, "strict")) r->policy = DUET_POLICY_STRICT;
        else if (!strcmp(v, "specialize")) r->policy = DUET_POLICY_SPECIALIZE;
        else if (!strcmp(v, "guard")) r->policy = DUET_POLICY_GUARD;
        else return bad_choice(f, "strict, specialize or guard", v);
    } else if (!strcmp(f, "--epochs")) {
        if (duet_arg_int("train", f, v, 1, 10000, &n)) return 2;
        r->epochs = (int)n;
    } else if (!strcmp(f, "--batch")) {
        if (duet_arg_int("train", f, v, 1, 4096, &n)) return 2;
        r->batch = (int)n;
    } else if (!strcmp(f, "--steps")) {
        if (duet_arg_int("train", f, v, 1, 100000000, &n)) return 2;
        r->max_steps = (int)n;
    } else if (!strcmp(f, "--seed")) {
        if (duet_arg_int("train", f, v, 0, 1LL << 53, &n)) return 2;
        r->seed = (uint64_t)n;
    } else if (!strcmp(f, "--threads")) {
        if (duet_arg_int("train", f, v, 1, DUET_MAX_THREADS, &n)) return 2;
        r->threads = (int)n;
    } else {
        if (duet_arg_int("train", f, v, 1, INT64_MAX, &n)) return 2;
        r->mem_limit = (size_t)n;
    }
    return 0;
}

/* A switch (a flag without a value): 1 when argv[i] is one (and sets it), 0 when not,
 * -1 after an error. */
static int switch_flag(const char *f, train_args *a)
{
    struct { const char *name; bool *on; bool value; } sw[] = {
        {"--synthetic", &a->synthetic, true},        {"--shuffle", &a->run.shuffle, true},
        {"--no-eval", &a->run.evaluate, false},       {"--quiet", &a->quiet, true},
        {"--strict", &a->run.strict, true},           {"--check-numerics", &a->run.check_numerics, true},
        {"--allow-nonfinite", &a->run.allow_nonfinite, true},
    };
    for (size_t k = 0; k < sizeof sw / sizeof *sw; k++) {
        int rc = duet_arg_switch("train", f, sw[k].name);
        if (rc > 0) *sw[k].on = sw[k].value;
        if (rc) return rc;
    }
    return 0;
}

static int conflict(const char *what)
{
    fprintf(stderr, "duet train: %s\n", what);
    return 2;
}

/* Flags that contradict each other are errors: silently letting one win would run
 * something other than what was asked. */
static int check_conflicts(const train_args *a)
{
    const ner_run_opts *r = &a->run;
    if (r->data_dir && a->synthetic) return conflict("--data and --synthetic conflict: choose one");
    if (a->log_path && r->save_path && duet_same_output(a->log_path, r->save_path))
        return conflict("--log and --save name the same file");
    if (a->log_path && r->load_path && duet_same_output(a->log_path, r->load_path))
        return conflict("--log names the --load file: the log would overwrite the weights");
    if (r->allow_nonfinite && !r->load_path)
        return conflict("--allow-nonfinite applies to --load, which is not given");
    return 0;
}

/* Returns 0, or 2 after printing a one-line error. */
static int parse(int argc, char **argv, train_args *a)
{
    a->run = ner_run_defaults();
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "duet train: missing MODEL (ner or ner-buggy-softmax)\n");
        return 2;
    }
    if (!strcmp(argv[1], "ner-buggy-softmax")) a->run.buggy_softmax = true;
    else if (strcmp(argv[1], "ner")) {
        fprintf(stderr, "duet train: unknown model '%s' (ner or ner-buggy-softmax)\n", argv[1]);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        const char *f = argv[i], *flag = NULL, *v;
        int sw = switch_flag(f, a);
        if (sw < 0) return 2;
        if (sw) continue;
        for (size_t k = 0; k < sizeof value_flags / sizeof *value_flags; k++)
            if (duet_arg_is(f, value_flags[k])) flag = value_flags[k];
        if (!flag) {
            fprintf(stderr, "duet train: unknown option '%s' (see duet train ner --help)\n", f);
            return 2;
        }
        if (!(v = duet_arg_value("train", argc, argv, &i)) || value_flag(flag, v, a)) return 2;
    }
    if (a->run.mode == DUET_EAGER && a->policy_given)
        fprintf(stderr, "duet train: note: --policy has no effect in eager mode (nothing is traced)\n");
    return check_conflicts(a);
}

static void print_summary(const ner_run_result *r, const ner_run_opts *o)
{
    double *ms = malloc(sizeof(double) * (size_t)(r->steps + 1));
    if (ms && r->steps > 1) {
        memcpy(ms, r->ms + 1, sizeof(double) * (size_t)(r->steps - 1));
        printf("%d steps in %s mode; first step %.1f ms, median step %.2f ms; traces: %d\n",
               r->steps, o->mode == DUET_GRAPH ? "graph" : "eager", r->ms[0],
               duet_median(ms, r->steps - 1), r->traces);
    }
    free(ms);
    if (!o->evaluate) return;
    printf("\nvalidation (%d sentences), conlleval:\n", r->valid_sentences);
    ner_eval_print(stdout, &r->eval);
    ner_scores k;
    ner_eval_summary(&r->eval_keras, &k, NULL);
    printf("(the keras-io example's way of scoring, all sentences as one sequence: F1 %.2f)\n",
           k.f1);
}

/* Why the train step traced, and what specialize baked in: graph mode's silent
 * retracing storms and wrong branches, said out loud. Nothing in eager mode. */
static void print_trace_notes(const ner_run_result *r)
{
    if (r->traces) fprintf(stderr, "traces: %d (%s)\n", r->traces, r->trace_reasons[0]);
    for (int i = 1; i < r->traces; i++) fprintf(stderr, "retrace %d: %s\n", i, r->trace_reasons[i]);
    for (int i = 0; i < r->nwarnings; i++) fprintf(stderr, "warning: %s\n", r->warnings[i]);
}

/* Long sentences are never dropped silently: say what happened to them. */
static void print_long_sentences(const ner_run_result *r)
{
    if (r->train_long)
        fprintf(stderr,
                "warning: %d training sentences are longer than the model's %d positions: "
                "%lld tokens past position %d are not trained on (--strict refuses them)\n",
                r->train_long, NER_MAXLEN, (long long)r->train_dropped_tokens, NER_MAXLEN);
    if (r->valid_long)
        fprintf(stderr,
                "note: %d validation sentences are longer than %d tokens: they are scored on "
                "every token, in windows of %d\n",
                r->valid_long, NER_MAXLEN, NER_MAXLEN);
}

/* Every output is checked before any work: a bad --save must not cost a whole run. */
static int open_outputs(const train_args *a, train_cli *cli)
{
    char err[1024];
    if (a->run.save_path && duet_output_check(a->run.save_path, err, sizeof err)) {
        fprintf(stderr, "duet train: --save: %s\n", err);
        return 2;
    }
    if (a->log_path && !(cli->log = duet_log_open(a->log_path, err, sizeof err))) {
        fprintf(stderr, "duet train: --log: %s\n", err);
        return 2;
    }
    return 0;
}

int ner_train_cli(int argc, char **argv)
{
    if (duet_arg_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    train_args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc) return rc;
    train_cli cli = {.tty = isatty(2), .quiet = a.quiet, .t0 = duet_now_ms()};
    if ((rc = open_outputs(&a, &cli))) return rc;
    a.run.on_step = on_step;
    a.run.on_epoch = on_epoch;
    a.run.user = &cli;
    ner_run_result r;
    ner_run_status st = ner_run(&a.run, &r);
    if (cli.tty && !cli.quiet && st != NER_RUN_OK) fprintf(stderr, "\n");
    if (st == NER_RUN_OK || st == NER_RUN_DIAG) print_long_sentences(&r); /* else: one line */
    if (st == NER_RUN_OK && !cli.quiet) print_trace_notes(&r);
    if (st == NER_RUN_OK) print_summary(&r, &a.run);
    else if (st == NER_RUN_DIAG && r.diag.code) duet_diag_print(stderr, &r.diag);
    else fprintf(stderr, "duet train: %s\n", r.error);
    char err[1024];
    /* the log keeps the steps that ran, also when the run stopped: they say how far it got */
    if (cli.log && duet_log_close(cli.log, a.log_path, err, sizeof err)) {
        fprintf(stderr, "duet train: --log: %s\n", err);
        if (st == NER_RUN_OK) st = NER_RUN_INPUT;
    }
    ner_run_result_free(&r);
    return (int)st;
}
