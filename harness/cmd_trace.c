/* `duet trace MODEL`: traces a model's training step on a sample batch and prints the
 * graph as text (jaxpr-like) or Graphviz DOT, after all passes or after one of them. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "mlp/mlp.h"
#include "ner/data.h"
#include "ner/model.h"
#include "ner/synth.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: duet trace MODEL [--dot] [--after trace|dce|cse|fold|fuse|guards] [--no-passes]\n"
               "  MODEL            ner | ner-buggy-softmax | mlp\n"
               "  --dot            Graphviz DOT instead of text\n"
               "  --after PASS     print the graph right after PASS (trace = before any pass)\n"
               "  --no-passes      trace without optimising\n");
}

/* A batch of 8 synthetic sentences, through the real vocabulary and batching. */
static int ner_sample(duet_ctx *ctx, duet_tensor **tok, duet_tensor **tag)
{
    ner_corpus c;
    ner_vocab v;
    ner_batches b;
    ner_corpus_init(&c);
    memset(&v, 0, sizeof v);
    memset(&b, 0, sizeof b);
    int rc = ner_synth_generate(&c, 8, 1) || ner_vocab_build(&v, &c, NER_VOCAB_SIZE) ||
             ner_batches_make(&b, &c, &v, 8, NER_MAXLEN, 0, 0);
    if (!rc) {
        const ner_batch *x = ner_batches_get(&b, 0);
        int64_t shape[2] = {x->rows, x->T};
        *tok = duet_constant(ctx, DUET_I32, 2, shape, x->tokens);
        *tag = duet_constant(ctx, DUET_I32, 2, shape, x->tags);
    }
    ner_batches_free(&b);
    ner_vocab_free(&v);
    ner_corpus_free(&c);
    return rc ? -1 : 0;
}

static unsigned pass_bit(const char *name)
{
    static const struct { const char *name; unsigned bit; } passes[] = {
        {"trace", DUET_DUMP_TRACE}, {"dce", DUET_PASS_DCE}, {"cse", DUET_PASS_CSE},
        {"fold", DUET_PASS_FOLD},   {"fuse", DUET_PASS_FUSE}, {"guards", DUET_PASS_GUARDS}};
    for (size_t i = 0; i < sizeof passes / sizeof *passes; i++)
        if (!strcmp(name, passes[i].name)) return passes[i].bit;
    return 0;
}

typedef struct trace_args {
    const char *model;
    bool dot, no_passes;
    unsigned after;
} trace_args;

static int parse(int argc, char **argv, trace_args *a)
{
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "duet trace: missing MODEL (ner, ner-buggy-softmax or mlp)\n");
        return 2;
    }
    a->model = argv[1];
    if (strcmp(a->model, "ner") && strcmp(a->model, "ner-buggy-softmax") && strcmp(a->model, "mlp")) {
        fprintf(stderr, "duet trace: unknown model '%s' (ner, ner-buggy-softmax or mlp)\n", a->model);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--dot")) a->dot = true;
        else if (!strcmp(argv[i], "--no-passes")) a->no_passes = true;
        else if (!strcmp(argv[i], "--after")) {
            if (!(v = duet_arg_value("trace", argc, argv, &i))) return 2;
            if (!(a->after = pass_bit(v))) {
                fprintf(stderr, "duet trace: --after: expected trace, dce, cse, fold, fuse or guards, got '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "duet trace: unknown option '%s' (see duet trace --help)\n", argv[i]);
            return 2;
        }
    }
    return 0;
}

static int trace_and_print(duet_ctx *ctx, duet_fn *fn, duet_tensor *const *in, const trace_args *a)
{
    duet_fn_set_mode(fn, DUET_GRAPH);
    if (a->no_passes) duet_fn_set_passes(fn, 0);
    if (a->after && !a->dot) duet_fn_set_dump(fn, stdout, a->after);
    duet_tensor *out;
    if (duet_fn_call(fn, in, &out)) {
        duet_diag_print(stderr, duet_ctx_error(ctx));
        return 1;
    }
    if (a->dot) duet_graph_dot(stdout, duet_fn_graph(fn));
    else if (!a->after) duet_graph_print(stdout, duet_fn_graph(fn));
    if (!a->dot)
        printf("# %d nodes after passes; buffers: %zu bytes planned, %zu without planning\n",
               duet_fn_node_count(fn), duet_fn_planned_bytes(fn), duet_fn_unplanned_bytes(fn));
    return 0;
}

int duet_cmd_trace(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    trace_args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc) return rc;
    duet_ctx *ctx = duet_ctx_new();
    duet_tensor *in[2];
    duet_fn *fn = NULL;
    rc = 3;
    if (!strcmp(a.model, "mlp")) {
        mlp m;
        if (!mlp_init(ctx, &m, 2, 8, 3, 1)) {
            mlp_batch(ctx, &m, 16, 1, &in[0], &in[1]);
            fn = duet_fn_new(ctx, "mlp_train_step", mlp_train_step, 2, 1, &m);
            if (fn && !duet_fn_relax(fn, "(N,_) (N)")) rc = trace_and_print(ctx, fn, in, &a);
            duet_fn_free(fn);
            mlp_free(&m);
        }
    } else {
        ner_model m;
        ner_config cfg = ner_config_default();
        cfg.buggy_softmax = !strcmp(a.model, "ner-buggy-softmax");
        if (!ner_model_init(ctx, &m, &cfg) && !ner_sample(ctx, &in[0], &in[1])) {
            fn = duet_fn_new(ctx, "ner_train_step", ner_train_step, 2, 1, &m);
            if (fn && !duet_fn_relax(fn, "(B,T) (B,T)")) rc = trace_and_print(ctx, fn, in, &a);
            duet_fn_free(fn);
            ner_model_free(&m);
        }
    }
    if (rc == 3) duet_diag_print(stderr, duet_ctx_error(ctx));
    duet_ctx_free(ctx);
    return rc;
}
