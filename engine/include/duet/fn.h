/* Traceable functions: the graph half of "one engine, two modes".
 *
 * A duet_fn wraps a C function of (ctx, inputs) -> outputs. Called in eager mode it
 * simply runs. Called in graph mode it computes the input signature, looks it up in
 * the trace cache and, on a miss, traces the body with symbolic tensors into an IR
 * graph, optimises it, plans its memory and runs the plan; later calls with a
 * matching signature only run the plan. */
#ifndef DUET_FN_H
#define DUET_FN_H

#include "core.h"

typedef struct duet_fn duet_fn;
typedef struct duet_graph duet_graph;

typedef void (*duet_fn_body)(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out,
                             void *user);

typedef enum { DUET_EAGER = 0, DUET_GRAPH = 1 } duet_exec_mode;

/* What a host read of a symbolic tensor (DUET_BOOL/ITEM/DIM) does while tracing. */
typedef enum {
    DUET_POLICY_STRICT = 0, /* TensorFlow, JAX: stop with a diagnostic */
    DUET_POLICY_SPECIALIZE, /* torch.jit.trace: bake the value seen, warn */
    DUET_POLICY_GUARD,      /* torch.compile: bake the value, guard it, retrace on change */
} duet_policy;

/* Optimisation passes, each of which can be switched off to bisect a divergence. */
enum {
    DUET_PASS_DCE = 1u << 0,
    DUET_PASS_CSE = 1u << 1,
    DUET_PASS_FOLD = 1u << 2,
    DUET_PASS_FUSE = 1u << 3,
    DUET_PASS_PLAN = 1u << 4,
    DUET_PASS_GUARDS = 1u << 5, /* guards and what they need run first */
    /* matrix products read transposed operands and write transposed results through
     * strides, instead of transposes that copy them */
    DUET_PASS_LAYOUT = 1u << 7,
    DUET_PASS_ALL = DUET_PASS_DCE | DUET_PASS_CSE | DUET_PASS_FOLD | DUET_PASS_FUSE |
                    DUET_PASS_PLAN | DUET_PASS_GUARDS | DUET_PASS_LAYOUT,
    /* Opt-in, not part of DUET_PASS_ALL: f32 sums accumulate in float, in 8 vector
     * lanes added pairwise, as loops vectorised by XLA or under -ffast-math do:
     * results move by a few ULP from eager's ordered double sums. */
    DUET_PASS_REASSOC = 1u << 6,
};

/* A pass's name, as dumps and the CLI write it ("dce", "cse", "fold", "layout", "fuse",
 * "plan", "guards", "reassoc"); NULL for anything but one pass bit. */
const char *duet_pass_name(unsigned pass);
unsigned duet_pass_parse(const char *name); /* 0 for an unknown name */

duet_fn *duet_fn_new(duet_ctx *ctx, const char *name, duet_fn_body body, int nin, int nout,
                     void *user);
void duet_fn_free(duet_fn *fn);
/* Relaxes dims to unknown: one "(...)" per input, dims written as None (a fresh
 * unknown), a name (unknowns with the same name are equal), _ (keep the call's size)
 * or a number (the call must have exactly that size: a mismatch is a shape error).
 * Example: "(B,T) (B,T)". Returns -1 on a malformed spec. */
int duet_fn_relax(duet_fn *fn, const char *spec);
void duet_fn_set_mode(duet_fn *fn, duet_exec_mode mode);
void duet_fn_set_policy(duet_fn *fn, duet_policy policy);
void duet_fn_set_passes(duet_fn *fn, unsigned passes);
/* How a graph is written: duet_graph_write, and the dumps below. */
typedef struct duet_graph_format {
    bool dot;          /* Graphviz DOT, clustered by scope, instead of text */
    bool expand_fused; /* text: each fused node's member ops, in order, indented under it */
} duet_graph_format;
/* Prints the graph to f after each pass in mask (and after tracing when mask has bit 31),
 * as text unless duet_fn_set_dump_format says otherwise. */
void duet_fn_set_dump(duet_fn *fn, FILE *f, unsigned mask);
void duet_fn_set_dump_format(duet_fn *fn, duet_graph_format format);
#define DUET_DUMP_TRACE (1u << 31)

/* Runs the function; out[i] are eager tensors valid until duet_ctx_reset. Returns 0,
 * or -1 with the context's error set (a trace-time diagnostic, a shape error, ...).
 * The call site is recorded for diagnostics such as a retrace storm. */
int duet_fn_call_at(duet_site site, duet_fn *fn, duet_tensor *const *in, duet_tensor **out);
#define duet_fn_call(...) duet_fn_call_at(DUET_HERE, __VA_ARGS__)

/* The trace cache holds (signature, guards) entries, tried in order. A call that
 * needs more than limit entries (default 8, torch.compile's recompile limit) stops
 * with DUET_ERR_RETRACE_STORM naming the dim or guard that keeps changing. */
void duet_fn_set_trace_limit(duet_fn *fn, int limit);

/* The escape hatch: every duet_fn on this context runs eagerly. */
void duet_ctx_run_functions_eagerly(duet_ctx *ctx, bool on);

/* Trace cache introspection. */
int duet_fn_trace_count(const duet_fn *fn); /* traces so far (first + retraces) */
const char *duet_fn_trace_reason(const duet_fn *fn, int i);
/* Milliseconds the most recent trace took: running the body, and the passes. */
double duet_fn_trace_ms(const duet_fn *fn);
double duet_fn_optimise_ms(const duet_fn *fn);
int duet_fn_warning_count(const duet_fn *fn);
const char *duet_fn_warning(const duet_fn *fn, int i);
/* The host reads the specialize policy baked into the function's traces, one per
 * warning, in order: the warnings' facts for tools (duet probe). */
typedef struct duet_baked_read {
    const char *what; /* "DUET_BOOL", "DUET_ITEM", "DUET_DIM" */
    const char *file;
    int line;
    char scope[256]; /* "" at the top level */
    double value;    /* the value baked in: 1 or 0 for DUET_BOOL */
} duet_baked_read;
int duet_fn_baked_count(const duet_fn *fn);
const duet_baked_read *duet_fn_baked_at(const duet_fn *fn, int i);
/* The graph of the most recent trace, after the enabled passes. */
const duet_graph *duet_fn_graph(const duet_fn *fn);
/* When the last call stopped at trace time (a host read under strict, a trace error,
 * or the replay of one), the graph as far as that trace got, unoptimised, ending at
 * a mark of the operation it stopped at; NULL otherwise. Valid until the function's
 * cache is cleared (its policy, passes or relaxation change) or it is freed. */
const duet_graph *duet_fn_failed_graph(const duet_fn *fn);
int duet_fn_node_count(const duet_fn *fn);
/* Bytes of the last run: with memory planning and without (sum of all outputs). */
size_t duet_fn_planned_bytes(const duet_fn *fn);
size_t duet_fn_unplanned_bytes(const duet_fn *fn);

/* Debug execution: runs the graph unoptimised (unfused, nothing merged, folded or
 * removed) and keeps every intermediate, keyed so it matches the eager tape: (scope
 * path, op, call site, occurrence). */
typedef struct duet_record {
    const char *scope, *op, *file;
    int line, occurrence;
    bool grad;           /* emitted by a VJP */
    duet_tensor *value; /* eager tensor, valid until duet_ctx_reset */
} duet_record;
int duet_fn_debug_call(duet_fn *fn, duet_tensor *const *in, duet_tensor **out,
                       duet_record **records, int *n);
/* The same records for the ops of the context's eager tape (since the last reset). */
int duet_tape_records(duet_ctx *ctx, duet_record **records, int *n);

/* Text (in the spirit of a jaxpr) and Graphviz DOT forms of a graph: each node with its
 * type, attributes by name, scope and site; the outputs; where specialize baked a host
 * read in, and where a failed trace stopped (duet_fn_failed_graph). */
void duet_graph_write(FILE *f, const duet_graph *g, duet_graph_format format);
void duet_graph_print(FILE *f, const duet_graph *g); /* text, fused nodes folded */
void duet_graph_dot(FILE *f, const duet_graph *g);

/* ---- host reads of tensor values ---- */
/* Eager: the value. Tracing: by the policy of the outermost function being traced
 * (see duet_policy); under specialize and guard the value on the call's arguments. */
bool duet_bool_at(duet_site s, duet_ctx *ctx, duet_tensor *t);
double duet_item_at(duet_site s, duet_ctx *ctx, duet_tensor *t);
int64_t duet_dim_at(duet_site s, duet_ctx *ctx, duet_tensor *t, int i);
#define DUET_BOOL(ctx, t) duet_bool_at(DUET_HERE, ctx, t)
#define DUET_ITEM(ctx, t) duet_item_at(DUET_HERE, ctx, t)
#define DUET_DIM(ctx, t, i) duet_dim_at(DUET_HERE, ctx, t, i)

/* Eager lint: while a duet_fn runs eagerly, duet also traces it once per signature
 * in a collecting mode and records every host read strict tracing would reject (all
 * of them, where strict stops at the first), answering each from the call's values. */
typedef struct duet_lint {
    const char *what; /* "DUET_BOOL", "DUET_ITEM", "DUET_DIM" */
    const char *file;
    int line;
    char scope[256];
    char shape[96];
    double value; /* the value read on the call's inputs: 1 or 0 for DUET_BOOL; NaN
                   * inside a while_loop, where no single value exists */
} duet_lint;
void duet_ctx_set_lint(duet_ctx *ctx, bool on);
int duet_lint_count(const duet_ctx *ctx);
const duet_lint *duet_lint_at(const duet_ctx *ctx, int i);

/* ---- per-op profiling ---- */
/* One op kernel's run: eager dispatch reports each op it computes, a plan each node it
 * runs (a fused node once, named "fused" or "fused_rows", with its member ops). Strings
 * are valid only during the callback. */
typedef struct duet_op_event {
    const char *op;      /* the op kind: "matmul", "fused", "fused_rows" */
    const char *members; /* a fused node's member ops in order ("mul add relu"), else NULL */
    const char *scope;   /* "" at the top level */
    const char *file;    /* call site; NULL for a node without one */
    int line;
    duet_exec_mode mode;
    bool grad;           /* emitted by a VJP */
    int depth;           /* > 0: run by a loop node, whose own event's time includes it */
    double start_ms;     /* CLOCK_MONOTONIC */
    double dur_ms;
} duet_op_event;
typedef void (*duet_profiler_fn)(const duet_op_event *e, void *user);
/* Calls fn after every op kernel that runs on ctx, in both modes; NULL (the default)
 * switches it off, which costs one branch per op. */
void duet_ctx_set_profiler(duet_ctx *ctx, duet_profiler_fn fn, void *user);

/* ---- graph-safe control flow ---- */
typedef void (*duet_branch_fn)(duet_ctx *ctx, duet_tensor *const *in, duet_tensor **out,
                               void *user);
/* Runs both branches (as subgraphs when tracing) and selects by pred (bool scalar).
 * Branch outputs that differ in number, dtype or shape are a diagnostic. */
int duet_cond_at(duet_site s, duet_ctx *ctx, duet_tensor *pred, duet_branch_fn then_fn,
                 duet_branch_fn else_fn, duet_tensor *const *in, int nin, duet_tensor **out,
                 int nout, void *user);
#define duet_cond(...) duet_cond_at(DUET_HERE, __VA_ARGS__)

/* while (cond(state)) state = body(state), with a data-dependent trip count, in both
 * modes: eagerly a C loop; traced, one node whose kernel runs the cond and body
 * graphs until cond is false. cond returns a bool scalar; body writes the next state,
 * which must keep each state tensor's dtype and shape. Everything the body needs must
 * come in through the state (or be a constant or a variable). More than max_iters
 * iterations is an error. No gradient flows through the loop, in either mode:
 * duet_grad fails, naming the loop, when the loss depends on the loop's result and a
 * variable it differentiates for reaches the loop's initial state. (A variable only the
 * body reads is not seen: the loop contributes nothing to its gradient.) */
typedef duet_tensor *(*duet_loop_cond_fn)(duet_ctx *ctx, duet_tensor *const *state, void *user);
typedef void (*duet_loop_body_fn)(duet_ctx *ctx, duet_tensor *const *state, duet_tensor **next,
                                  void *user);
int duet_while_loop_at(duet_site s, duet_ctx *ctx, duet_loop_cond_fn cond,
                       duet_loop_body_fn body, duet_tensor *const *init, int n,
                       duet_tensor **out, int max_iters, void *user);
#define duet_while_loop(...) duet_while_loop_at(DUET_HERE, __VA_ARGS__)

#endif
