/* duet core: context, tensors, variables, errors, scopes.
 *
 * A duet_ctx owns all memory. Eager tensors live in the context's step arena until
 * duet_ctx_reset(); variables live until duet_ctx_free(). Errors are sticky values:
 * once an op fails, every later op on the context returns a poisoned tensor and does
 * nothing, and the caller checks duet_ctx_status() once at the end. */
#ifndef DUET_CORE_H
#define DUET_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DUET_VERSION "0.1.0"
#define DUET_MAX_RANK 8

/* Element types. Bools are stored one byte each; the name says so and keeps
 * DUET_BOOL free for the host-read macro (fn.h). */
typedef enum { DUET_F32 = 0, DUET_I32 = 1, DUET_BOOL8 = 2 } duet_dtype;

/* A dim is a concrete size (>= 0) or, in graph mode, a symbol: an unknown size
 * printed as None. Symbols are negative values below DUET_DIM_INFER so that -1
 * keeps its usual meaning in reshape ("infer this dim"). */
#define DUET_DIM_INFER (-1)
#define DUET_DIM_IS_SYM(d) ((d) < DUET_DIM_INFER)
#define DUET_SYM(id) (-(int64_t)(id)-2)
#define DUET_SYM_ID(d) ((int)(-(d)-2))

/* Where an op was called. api names the public op the caller used when a composite
 * op (duet_mean: sum, size, div) passes its site on to the primitive ops it is made
 * of, so diagnostics name "mean" rather than "div"; DUET_HERE leaves it NULL. */
typedef struct duet_site {
    const char *file;
    int line;
    const char *api;
} duet_site;
#define DUET_HERE ((duet_site){__FILE__, __LINE__, NULL})

typedef enum {
    DUET_OK = 0,
    DUET_ERR_ARG,         /* NULL tensor, bad attribute value */
    DUET_ERR_SHAPE,       /* incompatible shapes */
    DUET_ERR_DTYPE,       /* wrong dtype for the op */
    DUET_ERR_AXIS,        /* axis out of range */
    DUET_ERR_INDEX,       /* index out of range (embedding ids, labels) */
    DUET_ERR_OOM,         /* allocation failed or over the memory limit */
    DUET_ERR_HOST_BRANCH, /* a host value was asked of a symbolic tensor */
    DUET_ERR_TRACE,       /* tracing failed (mismatched cond branches, ...) */
    DUET_ERR_GUARD,       /* a guard failed where retracing is not allowed */
    DUET_ERR_RETRACE_STORM, /* a function reached its trace limit (duet_fn_set_trace_limit) */
    DUET_ERR_LEAKED,      /* a symbolic tensor was used outside the trace that made it */
    DUET_ERR_NUMERICS,    /* an op made a NaN or Inf (duet_ctx_set_check_numerics) */
    DUET_ERR_INTERNAL
} duet_status;

/* A structured diagnostic: what went wrong, in which op, where in the model (scope
 * path) and where in the source (call site). An error raised inside layer calls
 * also gets the call-site stack and the innermost layer call's arguments.
 * Host-read diagnostics also describe the tensor read, its producer and the
 * producer's inputs, explain why graph mode cannot answer, and give a rewrite
 * tailored to the producer. */
typedef struct duet_diag {
    duet_status code;
    char op[48];
    char scope[256];
    char file[160]; /* the failing call's own site */
    int line;
    char message[512];
    /* the layer calls that led here, outermost first, then file:line itself:
     * "cases/ner/model.c:67 (NERModel.call) > ... > cases/ner/model.c:87 (DUET_BOOL)" */
    char stack[512];
    /* the innermost layer call and its tensor arguments, as Keras reports them:
     * "Softmax.call(): inputs=f32 (None, 4, None, None), mask=bool (None, 4, None, None)" */
    char layer_args[384];
    /* host reads: the tensor read, "bool ()" (shape alone: "()"), the public op that
     * produced it ("any", "mean") and that op applied to its inputs' types */
    char shape[128];
    char read_type[144];
    char producer[48];
    char producer_inputs[256];
    char explanation[640];
    char fix[640];
} duet_diag;

typedef struct duet_ctx duet_ctx;
typedef struct duet_node duet_node;
typedef struct duet_var duet_var;

typedef struct duet_tensor {
    duet_dtype dtype;
    int rank;
    int64_t shape[DUET_MAX_RANK];
    void *data;      /* NULL for symbolic (traced) tensors, except constants */
    duet_node *node; /* the op that produced it (tape entry or IR node) */
    uint32_t flags;
    uint32_t trace;  /* 0 for a concrete tensor; else the trace that made it */
} duet_tensor;

#define DUET_TENSOR_POISON 1u

/* ---- context ---- */
duet_ctx *duet_ctx_new(void);
void duet_ctx_free(duet_ctx *ctx);
/* Frees every eager tensor and the tape; variables stay. Call between steps. */
void duet_ctx_reset(duet_ctx *ctx);
/* Bytes the context may hold in arenas and variables; 0 = unlimited. */
void duet_ctx_set_mem_limit(duet_ctx *ctx, size_t bytes);
size_t duet_ctx_mem_used(const duet_ctx *ctx);
/* Numerics checking, like tf.debugging.enable_check_numerics: after every op, eager or
 * traced, an f32 output holding a NaN or Inf stops the run with DUET_ERR_NUMERICS
 * naming the first op that made one: its scope path, op, call site, and whether the
 * forward pass or a gradient ran it (the same op in both modes). A graph checks every
 * node as it runs, constant folding as it folds, and a fused node that made one names
 * the member op that did (fusion is not a blind spot, as check_numerics is under
 * XLA). Off by default: it reads every output once. */
void duet_ctx_set_check_numerics(duet_ctx *ctx, bool on);

/* Threads the kernels of this context may use: n >= 1, or 0 for the online CPUs
 * (the default). Big kernels (matrix products) split their outputs over the threads,
 * each output element computed by one thread in a fixed order, so results are the
 * same bits for every thread count. DUET_ERR_ARG for n < 0 or n > DUET_MAX_THREADS
 * (the setting is then unchanged). */
#define DUET_MAX_THREADS 256
duet_status duet_ctx_set_threads(duet_ctx *ctx, int n);
int duet_ctx_threads(const duet_ctx *ctx);
/* The arithmetic the kernels use in this process: "avx512-fma" or "avx2-fma" (fused
 * multiply-add: the same bits on machines with the same CPU features), or "portable"
 * (no FMA: the same bits on every x86-64 CPU; forced by building with
 * -DDUET_PORTABLE_NUMERICS=ON or by the environment variable DUET_PORTABLE_NUMERICS=1). */
const char *duet_numerics(void);

duet_status duet_ctx_status(const duet_ctx *ctx);
const duet_diag *duet_ctx_error(const duet_ctx *ctx); /* NULL when status is OK */
void duet_ctx_clear_error(duet_ctx *ctx);
/* Sets the sticky error (the first one wins) for a problem found by model code. */
void duet_ctx_fail(duet_ctx *ctx, duet_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Scopes name where in the model an op runs: "ner_model/transformer_block/softmax".
 * Pushing while in error still works, so push/pop stay balanced. */
void duet_scope_push(duet_ctx *ctx, const char *name);
/* A layer call's scope also names its class, so diagnostics can say "Softmax.call",
 * and the site the layer was called from, a frame of the diagnostics' call-site
 * stack. Layer *_call_at functions pass their caller's site; the macro records the
 * push's own line. */
void duet_scope_push_layer_at(duet_site s, duet_ctx *ctx, const char *name,
                              const char *layer_class);
#define duet_scope_push_layer(...) duet_scope_push_layer_at(DUET_HERE, __VA_ARGS__)
/* Names a tensor argument of the innermost layer call ("inputs", "mask"; t is NULL
 * for an absent optional argument), so that an error inside the call can list the
 * arguments with their symbolic shapes. Up to DUET_MAX_LAYER_ARGS per call; more
 * are not shown. The tensor must outlive the call (arguments do). */
#define DUET_MAX_LAYER_ARGS 4
void duet_scope_arg(duet_ctx *ctx, const char *name, const duet_tensor *t);
const char *duet_scope_layer_class(const duet_ctx *ctx); /* innermost, or NULL */
void duet_scope_pop(duet_ctx *ctx);
const char *duet_scope_path(duet_ctx *ctx);

/* ---- tensors ---- */
size_t duet_dtype_size(duet_dtype t);
const char *duet_dtype_name(duet_dtype t);
int64_t duet_numel(const duet_tensor *t); /* -1 if any dim is symbolic */
bool duet_is_poison(const duet_tensor *t);
/* "(None, 4, None, None)" / "(2, 3)"; returns buf. */
char *duet_shape_str(const duet_tensor *t, char *buf, size_t n);
/* dtype and shape: "bool (None, 4, None, None)"; returns buf. */
char *duet_tensor_type_str(const duet_tensor *t, char *buf, size_t n);
/* Host copies for tests and tools (eager tensors only). */
float duet_get_f32(const duet_tensor *t, int64_t flat_index);
int32_t duet_get_i32(const duet_tensor *t, int64_t flat_index);

/* ---- variables ---- */
/* Named parameters owned by the context; captured by reference by traced functions
 * and changed only through duet_assign. Initial value is zero.
 * Create variables outside traced functions (at set-up) and capture them. Called in
 * a function's body, a variable would be a fresh one on every call eagerly but one
 * per trace in graph mode, so the modes would compute different things: while a
 * function is being traced, duet_var_new returns NULL with a DUET_ERR_TRACE
 * diagnostic naming the variable, the function and the call site (as tf.function
 * allows only singleton variables created on the first call). Eagerly, in a body
 * or not, every call creates a new variable. */
duet_var *duet_var_new_at(duet_site s, duet_ctx *ctx, const char *name, duet_dtype dtype,
                          int rank, const int64_t *shape);
#define duet_var_new(...) duet_var_new_at(DUET_HERE, __VA_ARGS__)
const char *duet_var_name(const duet_var *v);
const duet_tensor *duet_var_value(const duet_var *v); /* current host value */
float *duet_var_f32(duet_var *v);                     /* for initialisers and loading */
int duet_var_count(const duet_ctx *ctx);
duet_var *duet_var_at(const duet_ctx *ctx, int i);

/* ---- diagnostics ---- */
const char *duet_status_name(duet_status s);
void duet_diag_print(FILE *f, const duet_diag *d);

#endif
