/* Engine internals shared by the dispatcher, the op families, autodiff, the tracer
 * and the executor. Not installed. */
#ifndef DUET_INTERNAL_H
#define DUET_INTERNAL_H

#include <stdarg.h>
#include <string.h>

#include "duet/core.h"
#include "duet/ops.h"

/* ---- arenas: bump allocation in chunks, reset in one go ---- */
typedef struct duet_chunk duet_chunk;
typedef struct duet_arena {
    duet_chunk *head; /* chunks in allocation order */
    duet_chunk *cur;  /* where the next allocation looks first */
    size_t bytes;     /* bytes held in chunks (for the memory limit) */
} duet_arena;
void *duet_arena_alloc(duet_ctx *ctx, duet_arena *a, size_t size);
void duet_arena_reset(duet_arena *a);
/* Maps a fresh block's pages at once (blocks of DUET_PREFAULT_MIN bytes or more). */
#define DUET_PREFAULT_MIN ((size_t)64 << 10)
void duet_prefault(void *p, size_t bytes);
void duet_arena_free(duet_ctx *ctx, duet_arena *a);
/* Moves src's chunks to dst (src is left empty): memory that must outlive its owner. */
void duet_arena_adopt(duet_arena *dst, duet_arena *src);
char *duet_arena_strdup(duet_ctx *ctx, duet_arena *a, const char *s);

/* ---- op attributes: fixed size and zero-initialised so memcmp compares them ----
 * Each op family names its slots next to its shape rule (reduce.c's REDUCE_AXES,
 * shape.c's BOUND_AXIS, ...) and describes them by name for the printers (the op's
 * attr_text); the few slots read outside their family are named here. */
#define DUET_MAX_IATTR 12
typedef struct duet_attrs {
    int64_t i[DUET_MAX_IATTR];
    float f[4];
    void *p; /* constants: data; var ops: the duet_var */
} duet_attrs;
/* sum: the flag DUET_PASS_REASSOC sets on f32 sums (accumulate in float, in vector
 * lanes, rather than in order in double); the slot after reduce.c's axes and keepdims */
#define DUET_SUM_ATTR_REASSOC 2
/* constant, full, placeholder: the output type, as the shape rule reads it; constant
 * folding writes it too (creation.c) */
void duet_attrs_set_type(duet_attrs *a, duet_dtype dt, int rank, const int64_t *shape);
/* Whether node n (of a graph) is an f32 full, or an f32 constant whose elements are all
 * one value: that value. */
bool duet_node_uniform_f32(const duet_node *n, float *v);
/* var_read, assign: the variable */
static inline duet_var *duet_attrs_var(const duet_attrs *a) { return a->p; }
/* Whether two dims of shape rules may be equal: the same size, or either a symbol,
 * whose size only a plan's run knows (it checks them then). */
static inline bool duet_dims_may_match(int64_t a, int64_t b)
{
    return a == b || DUET_DIM_IS_SYM(a) || DUET_DIM_IS_SYM(b);
}

/* adam_update (ops/adam.c): the variables one parameter's Adam step writes (attrs.p,
 * in the arena of the graph that holds the node) */
typedef struct duet_adam_vars {
    duet_var *var, *m, *v;
} duet_adam_vars;
/* Adds one parameter's Adam step (duet_adam_apply's loop body); the result aliases
 * the variable's new value. */
duet_tensor *duet_adam_update_at(duet_site s, duet_ctx *c, const duet_adam_vars *vars,
                                 duet_tensor *grad, duet_tensor *alpha, float one_minus_beta1,
                                 float one_minus_beta2, float epsilon);

/* matmul (ops/matmul.c): in a compiled graph the layout pass (layout.c) lets a
 * product read an operand, or write its result, through an axis permutation, instead
 * of through a transpose node that copies it (attrs.p; NULL, everything as stored, in
 * eager mode and before the pass). Operand k (DUET_MATMUL_A, _B) is read as
 * transpose(in[k], perm[k]); the node's output is transpose(product,
 * perm[DUET_MATMUL_OUT]), which keeps the last axis last (the micro-kernels store
 * rows). rank[k] == 0: that one is as stored. */
enum { DUET_MATMUL_A = 0, DUET_MATMUL_B = 1, DUET_MATMUL_OUT = 2, DUET_MATMUL_NVIEWS = 3 };
typedef struct duet_matmul_layout {
    int rank[DUET_MATMUL_NVIEWS];
    int perm[DUET_MATMUL_NVIEWS][DUET_MAX_RANK];
} duet_matmul_layout;
/* The rank of the permutation matmul operand or result k is seen through (a matmul's
 * attributes); 0: as stored. */
static inline int duet_matmul_layout_rank(const duet_attrs *a, int k)
{
    const duet_matmul_layout *l = a->p;
    return l ? l->rank[k] : 0;
}
/* transpose (ops/shape.c): the rank of node n, a transpose, with its perm in perm */
int duet_transpose_perm(const duet_node *n, int *perm);

/* The softmax family's exp (ops/softmax.c): o = exp(d) for d <= 0, vectorised, at most
 * 0.99 ULP off over [-87.5, 0] and +0 below; o may be d. */
void duet_exp_nonpos(float *o, const float *d, int64_t n);
/* Turns softmax's attributes (a) into masked_softmax's: softmax over the same axis of
 * (mask ? x : x + fill) when !select (Keras's additive mask), of (mask ? x : fill) when
 * select (duet_where's). */
void duet_masked_softmax_attrs(duet_attrs *a, bool select, float fill);

/* Text built by appending, truncated at its capacity: what attr_text writes to. */
typedef struct duet_text {
    char *buf;
    size_t cap, len;
} duet_text;
void duet_text_put(duet_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* " name=5", or " name=None" for a symbol */
void duet_text_dim(duet_text *t, const char *name, int64_t d);
/* " name=(None, 3)": dims written as a shape */
void duet_text_dims(duet_text *t, const char *name, int rank, const int64_t *d);

/* The output type an op's shape rule computes. */
typedef struct duet_type {
    duet_dtype dtype;
    int rank;
    int64_t shape[DUET_MAX_RANK];
} duet_type;

/* Kernels whose loops the compiler vectorises are built for AVX-512, AVX2 and
 * baseline x86-64 and picked at load time. ISO C mode (-std=c11) keeps floating-point
 * contraction off, so no clone fuses a multiply and an add: every clone computes the
 * same bits, only wider. */
#define DUET_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
/* Floats in the widest clone's vector (64 bytes): elementwise tasks start on multiples
 * of it, so every task's loop runs whole, aligned vectors. */
#define DUET_SIMD_FLOATS 16

/* Elementwise ops also expose a 1-D map over contiguous f32 runs (stride 0 or 1 per
 * input) so the broadcasting kernel and the fusion pass share one definition. */
typedef void (*duet_map1_fn)(float *out, const float *x, int64_t n, const duet_attrs *a);
typedef void (*duet_map2_fn)(float *out, const float *x, int64_t sx, const float *y, int64_t sy,
                             int64_t n);

enum {
    DUET_OPF_ELEMENTWISE = 1u << 0, /* same-shape f32 map: may be fused */
    DUET_OPF_WRITES_VAR = 1u << 1,  /* changes a variable (assign): never removed or merged */
    DUET_OPF_SOURCE = 1u << 2,      /* reads state (var_read, placeholders): never folded */
    DUET_OPF_ALIAS = 1u << 3,       /* kernel points out->data at existing memory (no alloc) */
    DUET_OPF_GUARD = 1u << 4,       /* checks a value baked in at trace time: never removed */
    DUET_OPF_HOST_IO = 1u << 5,     /* writes to the host (print): never removed, merged,
                                       folded or reordered */
};

/* What a guard kernel returns when its check fails (0 is success, -1 an error). */
#define DUET_GUARD_FAILED 1

typedef struct duet_op_def {
    const char *name;
    int nin; /* -1: variadic */
    unsigned flags;
    /* Shape/dtype rule; works on symbolic dims. Returns 0 or sets the ctx error. */
    int (*infer)(duet_ctx *ctx, const duet_attrs *a, duet_tensor *const *in, int nin,
                 duet_type *out);
    /* CPU kernel on concrete tensors; out->data is allocated. Returns 0 or sets error. */
    int (*kernel)(duet_ctx *ctx, const duet_attrs *a, duet_tensor *const *in, int nin,
                  duet_tensor *out);
    /* Gradient written with ops, so it runs eagerly or traces. gx[i] is left NULL
     * where need[i] is false or the input has no gradient. */
    void (*vjp)(duet_ctx *ctx, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                const bool *need);
    duet_map1_fn map1;
    duet_map2_fn map2;
    /* The attributes by name, for the text and DOT printers: each appended as
     * " name=value", a set flag as " name" ("sum %3 axes=[1] keepdims"). NULL when the
     * op has no attributes. */
    void (*attr_text)(const duet_attrs *a, duet_text *t);
} duet_op_def;

/* Op kinds: one table, entries defined in the families under src/ops/. */
#define DUET_OP_LIST(X)                                                                   \
    X(CONST, constant) X(FULL, full) X(ARANGE, arange) X(VAR_READ, var_read)                  \
    X(ASSIGN, assign) X(PLACEHOLDER, placeholder) X(ADD, add) X(SUB, sub) X(MUL, mul)        \
    X(DIV, div) X(RELU_GRAD, relu_grad) X(NEG, neg) X(EXP, exp) X(LOG, log) X(SQRT, sqrt) X(RSQRT, rsqrt)           \
    X(RELU, relu) X(TANH, tanh) X(POW_SCALAR, pow_scalar)          \
    X(GREATER, greater) X(EQUAL, equal) X(LOGICAL_AND, logical_and)                         \
    X(LOGICAL_NOT, logical_not) X(WHERE, where) X(CAST, cast) X(MATMUL, matmul)            \
    X(RESHAPE, reshape) X(TRANSPOSE, transpose) X(SLICE, slice) X(PAD, pad)                \
    X(CONCAT, concat) X(SUM_TO, sum_to) X(BROADCAST_TO, broadcast_to) X(SUM, sum) X(MAX, max)   \
    X(ANY, any) X(SIZE, size)                 \
    X(SOFTMAX, softmax) X(LOG_SOFTMAX, log_softmax) X(SOFTMAX_GRAD, softmax_grad)          \
    X(MASKED_SOFTMAX, masked_softmax) X(SPARSE_XENT, sparse_xent)                           \
    X(SPARSE_XENT_GRAD, sparse_xent_grad)                                                   \
    X(ONE_HOT, one_hot) X(LAYER_NORM, layer_norm) X(GATHER, gather)                        \
    X(SCATTER_ADD, scatter_add) X(DROPOUT_MASK, dropout_mask)        \
    X(GUARD, guard) X(FUSED, fused) X(FUSED_ROWS, fused_rows) X(FUSED_OUT, fused_out)       \
    X(ADAM_UPDATE, adam_update)                                                             \
    X(WHILE, while) X(LOOP_OUT, loop_out) X(LOOP_RESULT, loop_result) X(PRINT, print)

typedef enum {
#define X(id, name) DUET_OP_##id,
    DUET_OP_LIST(X)
#undef X
        DUET_OP_COUNT
} duet_op;

#define X(id, name) extern const duet_op_def duet_opdef_##name;
DUET_OP_LIST(X)
#undef X
extern const duet_op_def *const duet_op_table[DUET_OP_COUNT];

/* ---- nodes: an eager tape entry and a graph IR node are the same thing ---- */
struct duet_node {
    int id;     /* index in its graph */
    duet_op op;
    int nin;
    duet_tensor **in;
    duet_tensor *out;
    duet_attrs attr;
    duet_site site;
    const char *scope;
    const duet_node *grad_of; /* forward node whose VJP emitted this one */
};

typedef struct duet_graph {
    duet_arena arena;
    duet_node **nodes;
    int n, cap;
    /* a traced function's results (tensors of this graph, NULL where a trace stopped
     * before setting them); none for the eager tape */
    duet_tensor **outputs;
    int nout;
    struct duet_read_mark *marks; /* host reads baked in or stopped at (graph_internal.h) */
    struct duet_plan *subplans;   /* owned plans of loops traced into this graph */
} duet_graph;
duet_node *duet_graph_append(duet_ctx *ctx, duet_graph *g);

typedef enum { DUET_MODE_EAGER = 0, DUET_MODE_TRACE = 1 } duet_mode;

#define DUET_MAX_SCOPE 32

/* One entry of the scope stack. A layer call's frame also holds its class, the site
 * it was called from and its tensor arguments, which diagnostics report. */
typedef struct duet_scope_frame {
    const char *name;
    const char *layer_class; /* "Softmax", or NULL for a plain scope */
    duet_site site;
    int nargs;
    const char *arg_name[DUET_MAX_LAYER_ARGS];
    const duet_tensor *arg[DUET_MAX_LAYER_ARGS];
} duet_scope_frame;

struct duet_var {
    int id;
    char *name;
    duet_tensor value; /* data is malloc'ed; replaced (not overwritten) by assign */
    void *staged;      /* the value an assign staged and a commit will make current */
    void *spare;       /* a retired buffer kept for the next assign */
};

typedef struct duet_retired {
    struct duet_retired *next;
    duet_var *owner;
    size_t bytes;
} duet_retired;
/* Assigns stage: var_read sees a staged value at once, but it becomes the variable's
 * value only at commit. Eager dispatch commits after every assign; a plan commits
 * when it has run to the end, so a call that stops (an error, a failed guard that
 * retraces) or an evaluation at trace time changes no variable. */
int duet_var_stage(duet_ctx *ctx, duet_var *v, const void *src);
/* The same for a kernel that computes the new value in place: the buffer (v's size,
 * contents undefined, never one a read of v aliases) that is staged as v's value;
 * NULL with the error set. */
void *duet_var_stage_buffer(duet_ctx *ctx, duet_var *v);
/* Makes v's buffer for its next assign now (an optimiser, for the variables every
 * step assigns); 0, or -1 when out of memory (the context's error is not set). */
int duet_var_reserve_spare(duet_ctx *ctx, duet_var *v);
const void *duet_var_current(const duet_var *v); /* staged, else committed */
/* Printed lines (duet_print) stage the same way, so a call prints what it computed
 * exactly once: the line (without its newline) waits for the commit that makes the
 * call's writes current, which writes it to the print sink, and an abort drops it. */
int duet_print_stage(duet_ctx *ctx, const char *line, size_t len);
/* Commit and abort act on every staged effect: variable writes and printed lines. */
void duet_vars_commit(duet_ctx *ctx);
void duet_vars_abort(duet_ctx *ctx);

/* The trace being built. A while_loop's cond and body are traced inside their
 * function's trace (outer links them); the outermost function governs them all:
 * its policy decides host reads, and its warnings collect them. */
struct duet_fn;
struct duet_example;
struct duet_op_event;
typedef struct duet_trace {
    struct duet_trace *outer;
    struct duet_fn *fn;         /* the outermost function being traced */
    bool lint;                  /* an eager-lint trace: record host reads, answer, go on */
    duet_graph *graph;
    uint32_t id;                /* the tensors' trace field; names the trace in diagnostics */
    int nsym;                   /* symbols in use (fresh ones are appended) */
    struct duet_example *ex;    /* the call's values for host reads, or NULL (strict, loops) */
} duet_trace;

struct duet_ctx {
    duet_mode mode;
    duet_graph tape;     /* eager: every op of the current step */
    duet_trace *tracing; /* while tracing: the trace being built */
    duet_diag err;
    duet_tensor poison;
    /* the node being dispatched, for error messages */
    duet_op cur_op;
    duet_site cur_site;
    const duet_node *vjp_of;    /* set while a VJP emits ops */
    const duet_node *exec_node; /* set while the executor runs a node */
    /* scopes */
    duet_scope_frame scope[DUET_MAX_SCOPE];
    int nscope, scope_overflow;
    const char *scope_cache; /* joined path, in the current graph's arena */
    /* variables */
    duet_var **vars;
    int nvars, cap_vars;
    duet_retired *retired; /* old variable buffers: at reset they become spares */
    /* memory accounting */
    size_t mem_used, mem_limit;
    duet_var **staged; /* variables with a staged value, in staging order */
    int nstaged, cap_staged;
    /* printed lines: staged text (newline-terminated lines) until the next commit */
    FILE *print_sink;      /* NULL: count the lines, write them nowhere */
    char *print_staged;
    size_t print_len, print_cap;
    int print_staged_lines;
    int64_t print_count; /* lines committed so far */
    bool check_numerics; /* duet_ctx_set_check_numerics */
    /* tracing */
    bool eager_functions;             /* run_functions_eagerly */
    bool lint;
    struct duet_lint *lints;
    int nlints, cap_lints;
    /* every trace so far, by id - 1: its function's name, for leaked-tensor diagnostics */
    char **trace_names;
    uint32_t ntraces;
    /* the memory of traces no longer cached: a tensor leaked from one stays readable,
     * so using it is a diagnostic rather than a use-after-free */
    duet_arena graveyard;
    /* executor binding of symbols to sizes, when running a plan */
    const int64_t *sym_value;
    int nsym;
    int exec_depth; /* plans running: a loop node's kernel runs its body's plan inside */
    /* threads kernels may use (duet_ctx_set_threads) and their pool, started on use */
    int threads;
    struct duet_pool *pool;
    /* per-op profiling (duet_ctx_set_profiler); NULL when off */
    void (*profiler)(const struct duet_op_event *e, void *user);
    void *profiler_user;
};

/* Largest tensor an op may create: guards size arithmetic against overflow. */
#define DUET_MAX_TENSOR_BYTES ((int64_t)1 << 38)
/* The bytes of a tensor of this type, checked against overflow and the limit above;
 * eager allocation, the executor and trace-time evaluation all size through it. */
int duet_checked_bytes(duet_ctx *ctx, duet_dtype dtype, int rank, const int64_t *shape,
                       size_t *bytes);

/* ---- numerics (numerics.c): the arithmetic kernels use, fixed once per process ----
 * Portable: multiplies and adds rounded separately, the same bits on every x86-64
 * CPU. The FMA paths round once per multiply-add: same binary and same CPU features
 * give the same bits; another instruction set may differ in the last bits. */
typedef enum { DUET_ISA_PORTABLE, DUET_ISA_AVX2_FMA, DUET_ISA_AVX512_FMA } duet_isa;
duet_isa duet_kernel_isa(void);

/* ---- threads (pool.c) ---- */
typedef struct duet_pool duet_pool;
typedef void (*duet_task_fn)(void *arg, int64_t task);
/* Runs fn(arg, t) for every t in [0, ntasks), spread over the context's threads, and
 * returns when all are done. Tasks must write disjoint outputs, each computed by one
 * task in a fixed order, so that results do not depend on the thread count. work is
 * the loop's cost in floating-point operations (roughly): a small loop runs on the
 * calling thread, as does a loop started inside a task. */
void duet_parallel_for(duet_ctx *ctx, int64_t ntasks, double work, duet_task_fn fn, void *arg);
/* Work estimates, in the flops duet_parallel_for counts: one element of a
 * memory-bound elementwise pass (a load or two, a store, an add) takes about as long
 * as DUET_WORK_ELEM of a matrix product's. */
#define DUET_WORK_ELEM 8.0
/* A task's share of a loop cut by duet_parallel_range: a quarter of the least work
 * worth splitting (pool.c's POOL_MIN_WORK), so a loop just worth splitting has about
 * four tasks and the threads end within a small task of each other (a worker that
 * wakes late takes fewer); 8K elements of an elementwise pass, in L1/L2. */
#define DUET_TASK_WORK (1 << 16)
/* Items of a loop, each costing item_work, cut into runs of about DUET_TASK_WORK;
 * fn(arg, begin, end) handles items [begin, end). The cut depends on the shape alone
 * (n, item_work and align), never on the thread count: callers split only along
 * independent outputs (rows, runs of elements), so results never depend on it. */
typedef void (*duet_range_fn)(void *arg, int64_t begin, int64_t end);
void duet_parallel_range(duet_ctx *ctx, int64_t n, double item_work, int64_t align,
                         duet_range_fn fn, void *arg);
/* The run length duet_parallel_range cuts: about DUET_TASK_WORK / item_work items, at
 * least one, a multiple of align (a SIMD width, so runs keep vector alignment). */
int64_t duet_task_items(double item_work, int64_t align);
void duet_pool_free(duet_pool *p); /* stops and joins the workers */
/* Test knobs, for tests of the thread invariance (tests/test_threads.c): with
 * force_split on, every loop of two or more tasks is split, however small, and
 * duet_parallel_range cuts tasks 64 times finer, so that small tensors (NER's) are
 * split too; process-wide, set while no kernel runs. duet_pool_jobs: the loops the
 * context's pool has split over its threads so far. */
void duet_pool_force_split(bool on);
int64_t duet_pool_jobs(const duet_ctx *ctx);
int duet_online_cpus(void);        /* at least 1, at most DUET_MAX_THREADS */

/* ---- profiling ---- */
double duet_clock_ms(void); /* CLOCK_MONOTONIC */
/* Reports node's kernel run since start_ms to the context's profiler (set). */
void duet_profile_node(duet_ctx *ctx, const duet_node *n, bool graph, double start_ms);

/* ---- numerics checking (numerics.c) ---- */
/* With the context's check on: 0 when n's f32 output out is finite, else -1 with a
 * DUET_ERR_NUMERICS diagnostic naming n (for a fused node, its member that made the
 * first NaN or Inf). in are n's inputs as it ran. */
int duet_check_numerics(duet_ctx *ctx, const duet_node *n, const duet_tensor *out,
                        duet_tensor *const *in);

/* ---- dispatch ---- */
duet_graph *duet_cur_graph(duet_ctx *ctx);
/* Runs or traces one op: shape rule, then kernel (eager) or IR node (trace). */
duet_tensor *duet_apply(duet_ctx *ctx, duet_site site, duet_op op, duet_tensor *const *in, int nin,
                        const duet_attrs *attr);
/* 0 when t may be used here: a concrete tensor, or a tensor of the trace being built.
 * A symbolic tensor of another trace (stashed by a body and used after its trace) is
 * a diagnostic naming that trace, like JAX's UnexpectedTracerError. */
int duet_check_trace_of(duet_ctx *ctx, const duet_tensor *t, const char *use);
/* The test duet_check_trace_of starts with, for hot paths that name the use only when
 * it fails. */
static inline bool duet_of_this_trace(const duet_ctx *ctx, const duet_tensor *t)
{
    return !t->trace || (ctx->tracing && t->trace == ctx->tracing->id);
}
/* Records an error against the op being dispatched (sticky: the first one wins). */
int duet_fail(duet_ctx *ctx, duet_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void duet_vfail(duet_ctx *ctx, duet_status code, const char *fmt, va_list ap);
/* The same for an operation that is not a dispatched op (a host read, duet_cond),
 * named op in the diagnostic; the call site is ctx->cur_site. */
int duet_fail_as(duet_ctx *ctx, duet_status code, const char *op, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The site a composite op passes to the primitive ops it is made of: their nodes
 * remember the public op called (the outermost one when composites nest). */
static inline duet_site duet_site_api(duet_site s, const char *api)
{
    if (!s.api) s.api = api;
    return s;
}
/* The name diagnostics give an op made at site s: the public op the caller used (a
 * composite's, "mean" for its div) unless a gradient emitted it, since gradient ops
 * only borrow their forward op's site. */
static inline const char *duet_api_name(duet_op op, duet_site s, bool grad)
{
    return s.api && !grad ? s.api : duet_op_table[op]->name;
}
/* Resolves a symbol to its bound size when a plan runs; otherwise returns d. */
int64_t duet_dim_resolve(const duet_ctx *ctx, int64_t d);
/* A new unknown dim for a shape rule whose result no existing symbol names (a sum of
 * unknowns, a broadcast of two unknowns); the executor binds it on first sight. */
int64_t duet_fresh_dim(duet_ctx *ctx);
void *duet_alloc_bytes(duet_ctx *ctx, size_t bytes); /* in the current graph's arena */
void *duet_heap_alloc(duet_ctx *ctx, size_t bytes);  /* accounted malloc */
void duet_heap_free(duet_ctx *ctx, void *p, size_t bytes);

/* ---- shape helpers for rules ---- */
int64_t duet_type_numel(const duet_type *t);
int duet_broadcast_shapes(duet_ctx *ctx, duet_tensor *const *in, int nin, duet_type *out);
int duet_norm_axis(duet_ctx *ctx, int axis, int rank);
char *duet_type_str(const duet_type *t, char *buf, size_t n);
void duet_type_of(const duet_tensor *t, duet_type *ty);
/* Same rank and dims (a symbol equals only itself). */
bool duet_same_shape(const duet_tensor *a, const duet_tensor *b);
/* Element strides of a contiguous row-major tensor of that shape. */
void duet_contig_strides(int rank, const int64_t *shape, int64_t *strides);
/* Element strides of x when broadcast to out's shape (0 along broadcast dims). */
void duet_bcast_strides(const duet_tensor *x, const duet_tensor *out, int64_t *strides);

/* ---- kernel helpers ---- */
/* Walks the elements of out in order, tracking each input's broadcast offset. */
typedef struct duet_bcast_iter {
    int rank, n;
    int64_t shape[DUET_MAX_RANK], idx[DUET_MAX_RANK];
    int64_t stride[3][DUET_MAX_RANK];
    int64_t off[3];
} duet_bcast_iter;
void duet_bcast_iter_init(duet_bcast_iter *it, const duet_tensor *out, const duet_tensor *const *in,
                          int n);
void duet_bcast_iter_next(duet_bcast_iter *it);
/* Moves the walk to element i of its shape (as i calls of next from the start would):
 * where a task cut from the middle of a walk starts. */
void duet_bcast_iter_seek(duet_bcast_iter *it, int64_t i);
/* Applies a map2 over broadcast inputs: inner runs of the last dim use map2; on the
 * context's threads when big. */
void duet_bcast_apply2(duet_ctx *ctx, const duet_tensor *a, const duet_tensor *b, duet_tensor *out,
                       duet_map2_fn f);

/* ---- what row fusion (fuse_rows.c) shares with the reductions (ops/reduce.c) ---- */
/* Whether n is an f32 sum over its input's last axis, with keepdims, in order: per
 * row of that axis, the loop duet_sum_rows_f32 runs. */
bool duet_is_row_sum(const duet_node *n);
/* out[r] = the f32 sum of row r of x (rows of n contiguous elements), exactly as the
 * sum kernel computes a reduction over a contiguous last axis. */
void duet_sum_rows_f32(const float *x, int64_t rows, int64_t n, float *out);
/* What size with attributes a computes for an input of this (concrete) shape. */
float duet_size_value(const duet_ctx *c, const duet_attrs *a, int rank, const int64_t *shape);

/* ---- helpers for VJPs ---- */
/* relu's gradient, g where x > 0 and +0 elsewhere: one fusible elementwise op */
duet_tensor *duet_relu_grad_at(duet_site s, duet_ctx *c, duet_tensor *x, duet_tensor *g);
#define duet_relu_grad(...) duet_relu_grad_at(DUET_HERE, __VA_ARGS__)
duet_tensor *duet_unbroadcast(duet_ctx *ctx, duet_tensor *g, const duet_tensor *like);
duet_tensor *duet_ones_like(duet_ctx *ctx, duet_tensor *x);
/* A concrete copy of src in the step arena, with no tape node. */
duet_tensor *duet_tensor_copy(duet_ctx *ctx, const duet_tensor *src);

#endif
