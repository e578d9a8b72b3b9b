/* Graph mode internals: traced functions, compiled plans, passes, executor. */
#ifndef DUET_GRAPH_INTERNAL_H
#define DUET_GRAPH_INTERNAL_H

#include "duet/fn.h"
#include "internal.h"

#define DUET_MAX_FN_ARGS 16
#define DUET_DEFAULT_TRACE_LIMIT 8 /* as torch.compile's recompile limit */

/* The three host reads: DUET_BOOL, DUET_ITEM, DUET_DIM. */
typedef enum { DUET_READ_BOOL, DUET_READ_ITEM, DUET_READ_DIM } duet_read_kind;

/* Where a trace met a host read it could not leave symbolic: a value specialize baked
 * in, or the operation a failed trace stopped at (a host read, or another trace
 * error). The printers show it among the nodes, where it happened. */
typedef struct duet_read_mark {
    struct duet_read_mark *next; /* in the order they happened */
    bool stopped;
    const char *what;      /* "DUET_BOOL", or the failing operation ("duet_var_new") */
    const char *file;
    int line;
    const duet_node *read; /* the node whose value was read; NULL for other errors */
    char value[32];        /* baked: the value, as the warning shows it */
    int at;                /* nodes before it; duet_graph_compact keeps it up to date */
} duet_read_mark;
/* Appends a copy of m (its at: the nodes traced so far), in g's arena. */
void duet_graph_mark(duet_ctx *ctx, duet_graph *g, const duet_read_mark *m);

/* An input signature: dtypes and dims, relaxed dims written as symbols. */
typedef struct duet_sig {
    int n;
    duet_dtype dtype[DUET_MAX_FN_ARGS];
    int rank[DUET_MAX_FN_ARGS];
    int64_t dim[DUET_MAX_FN_ARGS][DUET_MAX_RANK];
} duet_sig;

/* A traced, optimised and planned graph: one trace cache entry. */
typedef struct duet_plan {
    duet_sig sig;
    int nsym;
    duet_graph graph;       /* nodes in execution order, ids = positions */
    int *slot;              /* per node: buffer slot, or -1 (alias or external) */
    int nslots;
    void **slot_buf;        /* per slot: buffer, grown as needed across calls */
    size_t *slot_cap;
    size_t planned_bytes, unplanned_bytes;
    duet_diag *failed;          /* a trace that stopped: its signature replays this */
    const duet_node *failed_guard; /* set by a run that stopped at a guard */
    struct duet_plan *next;     /* in the function's cache, oldest first */
    struct duet_plan *children; /* loop bodies traced inside this plan */
    struct duet_plan *sibling;
} duet_plan;

#define DUET_RELAX_FIXED(n) (-2 - (int)(n))
#define DUET_RELAX_FIXED_SIZE(v) (-2 - (v))

struct duet_fn {
    duet_ctx *ctx;
    char *name;
    duet_fn_body body;
    void *user;
    int nin, nout;
    duet_exec_mode mode;
    duet_policy policy;
    unsigned passes;
    FILE *dump;
    unsigned dump_mask;
    duet_graph_format dump_format;
    /* relaxation from duet_fn_relax: per arg and dim, -1 keep, >= 0 symbol id, or a
     * fixed size written DUET_RELAX_FIXED(n) */
    bool has_relax;
    int relax_rank[DUET_MAX_FN_ARGS];
    int relax[DUET_MAX_FN_ARGS][DUET_MAX_RANK];
    int nsym;
    duet_plan *cache;  /* (signature, guards) entries, oldest first, tried in order */
    duet_plan *latest; /* the most recent successful trace */
    duet_plan *stopped; /* the failed entry the last call stopped at, or NULL */
    duet_plan *debug;  /* the unoptimised trace debug runs use */
    int trace_limit;   /* cache entries at most; then a retrace storm is an error */
    const char *next_reason; /* why the next trace happens, when not a cache miss */
    double trace_ms, optimise_ms; /* the most recent trace: its body, its passes */
    duet_sig *linted;  /* signatures the eager lint has traced */
    int nlinted;
    char **reasons;
    int nreasons;
    char **warnings;
    int nwarnings;
    duet_baked_read *baked; /* what the specialize warnings say, as data */
    int nbaked;
};

void duet_fn_note(char ***list, int *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Writes g to the function's dump, in its dump format, if stage (a pass, or
 * DUET_DUMP_TRACE) is in its dump mask. */
void duet_fn_dump(const duet_fn *fn, const duet_graph *g, unsigned stage);
void duet_fn_warn(duet_fn *fn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Traces fn's body for the signature (symbolic dims allowed), then runs the passes;
 * NULL with the context's error set on failure. in are the call's arguments: host
 * reads evaluate the trace on them (specialize, guard, lint); NULL where there are
 * none (a while_loop's cond and body). lint traces with no pass. On failure the
 * partial plan, its graph as far as the trace got, goes to *stopped when stopped is
 * not NULL (a failed cache entry keeps it to print), and is freed otherwise. */
duet_plan *duet_fn_trace(duet_fn *fn, const duet_sig *sig, duet_tensor *const *in, bool lint,
                         duet_plan **stopped);

/* The values of a trace's nodes on the call's arguments, computed on demand for host
 * reads: nodes run in order, each once, like a plan, except that an assign only
 * stages its value and the trace drops it, so each call applies its effects once,
 * when its plan runs. */
typedef struct duet_example {
    duet_tensor *const *args;
    duet_tensor *val; /* per node id, valid below n */
    int n, cap;
    int64_t *symv; /* symbol bindings, -1 while unbound */
    int nsymv;
} duet_example;
const duet_tensor *duet_example_value(duet_ctx *ctx, duet_trace *tr, const duet_tensor *t);
void duet_example_free(duet_example *ex);

/* What a guard node checks: a value baked in at trace time (attrs.p of GUARD). */
typedef struct duet_guard_spec {
    duet_read_kind kind;
    int dim;      /* DUET_DIM: which dim of the guarded tensor */
    double value; /* the value seen at trace time */
} duet_guard_spec;
bool duet_guard_holds(const duet_guard_spec *g, const duet_tensor *x);

/* A fused node's body (attrs.p of FUSED and FUSED_ROWS): the member ops in the order
 * they run. An operand >= 0 is the node's input k; < 0 is the result of step -(k+1).
 * FUSED: every value has the node's shape and the last step gives its output.
 * FUSED_ROWS (fuse_rows.c): values are seen as rows of an (R, C) view, C its last
 * axis; each is one of these kinds, and the steps with an output index write outputs
 * 0, 1, ... of the node (output j at element j * R * C of its buffer). */
#define DUET_FUSE_MAX_STEPS 32
typedef enum {
    DUET_ROWV_FULL,   /* (R, C): the view's shape */
    DUET_ROWV_ROW,    /* one value per row: the shape with a last axis of 1 (keepdims) */
    DUET_ROWV_COL,    /* one value per column: (C,), or (1, .., 1, C) */
    DUET_ROWV_SCALAR, /* one value: an input of one element, or a size step */
} duet_rowv;
typedef struct duet_fused_step {
    duet_op op;
    int a, b;
    duet_attrs attr;
    duet_site site; /* the member's own, for the printers */
    const char *scope;
    const duet_node *grad_of; /* the member's, for check_numerics's "gradient of" */
    /* FUSED_ROWS only */
    uint8_t kind, akind, bkind; /* duet_rowv of the result and of the operands */
    int8_t slot;                /* its scratch buffer in a block of rows, or -1 */
    int8_t out;                 /* the output it writes, or -1 */
} duet_fused_step;
typedef struct duet_fused_prog {
    int nsteps;
    duet_fused_step step[DUET_FUSE_MAX_STEPS];
    char members[192]; /* the steps' op names, for profiles (cut to fit) */
    /* FUSED_ROWS only */
    int nout, nslots, ntiles;
    int8_t tile[2 * DUET_FUSE_MAX_STEPS]; /* per input: its column tile, or -1 */
} duet_fused_prog;

/* passes.c, fuse.c, fuse_rows.c, layout.c */
void duet_passes_run(duet_ctx *ctx, duet_fn *fn, duet_plan *p);
void duet_fuse_pass(duet_ctx *ctx, duet_plan *p);
bool duet_is_fused(const duet_node *n); /* FUSED or FUSED_ROWS */
const char *duet_fused_members(const duet_node *fused); /* "mul add relu", for profiles */
/* " ops=[sub, mul, add]": the members in the order they run (a format with
 * expand_fused shows each with its operands, attributes and site) */
void duet_fused_attr_text(const duet_attrs *a, duet_text *t);
/* The op n was traced as, through the rewrites of fusion: a fused node is its group's
 * last member, a fused_out the member whose result it hands out. */
duet_op duet_traced_op(const duet_node *n);
/* The member of a fused node whose output first holds a NaN or Inf (the member eager
 * mode would have run first), rebuilt as a node with its op, site, scope and gradient
 * origin. member_out comes with the fused node's type and a buffer of its size; it
 * leaves with the member's output and type. False when no member made one. */
bool duet_fused_nonfinite_member(duet_ctx *ctx, const duet_node *fused, duet_tensor *const *in,
                                 duet_tensor *member_out, duet_node *member);
/* fuse.c's program builder, shared by both kinds of group: the steps of the members
 * (sorted by id, which is their order) with their operands, the node's inputs in ext
 * (room for 2 * DUET_FUSE_MAX_STEPS) and their count in *next; NULL when out of memory. */
duet_fused_prog *duet_fused_prog_build(duet_ctx *ctx, duet_graph *g, duet_node **member, int n,
                                       duet_tensor ***ext, int *next);
/* fuse_rows.c: row fusion, which the fuse pass runs before elementwise fusion. A
 * fused_out node hands out output DUET_FUSED_OUT_INDEX of its fused_rows input, the
 * result of step DUET_FUSED_OUT_STEP (attribute slots). */
enum { DUET_FUSED_OUT_INDEX = 0, DUET_FUSED_OUT_STEP = 1 };
void duet_fuse_rows(duet_ctx *ctx, duet_graph *g);
/* Whether out, step s's result (run by a cut of the program), holds a NaN or Inf:
 * then *member is that step, rebuilt as a node (op, site, scope, gradient origin). */
bool duet_fused_step_nonfinite(const duet_fused_prog *prog, int s, const duet_tensor *out,
                               duet_node *member);
bool duet_rows_nonfinite_member(duet_ctx *ctx, const duet_node *fused, duet_tensor *const *in,
                                duet_tensor *member_out, duet_node *member);
void duet_graph_compact(duet_graph *g, const bool *dead); /* drops dead, renumbers */
/* Per node id, how many node inputs read its result, plus 2 for each graph output it
 * is (so that a rewrite never absorbs an output); NULL when out of memory. */
int *duet_graph_uses(const duet_graph *g);
/* layout.c: products read and write transposes through strides (DUET_PASS_LAYOUT) */
void duet_layout_pass(duet_ctx *ctx, duet_plan *p);
/* hostdiag.c: the strict diagnostic for a host read of a symbolic tensor */
extern const char *const duet_read_name[];
void duet_host_read_fail(duet_ctx *ctx, duet_site s, duet_read_kind k, const duet_tensor *t,
                         int dim);
/* hostval.c: why a guard node failed, for the retrace record */
void duet_guard_reason(const duet_node *guard, char *buf, size_t n);
/* exec.c */
typedef struct duet_exec_opts {
    bool keep;              /* debug: keep every intermediate */
    duet_record **records;
    int *nrecords;
} duet_exec_opts;
/* Returns 0, -1 on error (ctx error set) or DUET_GUARD_FAILED (p->failed_guard says
 * which). Variable writes stay staged: the caller commits or aborts them. */
int duet_exec_run(duet_ctx *ctx, duet_plan *p, duet_tensor *const *in, duet_tensor **out,
                  const duet_exec_opts *opts);
void duet_plan_free(duet_ctx *ctx, duet_plan *p);

duet_tensor *duet_placeholder(duet_ctx *c, duet_site s, duet_dtype dt, int rank,
                              const int64_t *shape, int index);
int duet_placeholder_index(const duet_node *placeholder); /* the argument it binds */

#endif
