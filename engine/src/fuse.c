/* The fusion pass, in two steps, each bit-identical to the graph it rewrites:
 *
 * Pattern fusion: a softmax of masked scores, in either form model code writes it,
 * becomes one masked_softmax node that reads the bool mask itself:
 *   softmax(add(x, mul(sub(1, cast(mask)), fill)))  Keras's Softmax (fill finite)
 *   softmax(where(mask, x, fill))                   the select form (fill a full or scalar)
 * and a masked_softmax reads the mask from under a broadcast_to (its kernel
 * broadcasts), so neither the (B, heads, T, T) mask nor its f32 copies are made.
 *
 * Elementwise fusion: a tree of same-shape f32 elementwise ops whose inner results
 * have no other reader becomes one FUSED node. Its kernel walks the output in tiles
 * and applies each op's own map function (the same one its eager kernel uses) to
 * the tile, so intermediates stay in cache and results are bit-identical: nothing
 * is reordered. */
#include <math.h>
#include <stdlib.h>

#include "graph_internal.h"

#define FUSE_TILE 512


static int fused_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                       duet_type *out)
{
    (void)a;
    out->dtype = DUET_F32;
    return duet_broadcast_shapes(c, in, nin, out);
}

static const float *operand(int k, duet_tensor *const *in, float tmp[][FUSE_TILE], int64_t off,
                            int64_t *stride)
{
    if (k < 0) {
        *stride = 1;
        return tmp[-k - 1];
    }
    bool scalar = duet_numel(in[k]) == 1;
    *stride = scalar ? 0 : 1;
    return (const float *)in[k]->data + (scalar ? 0 : off);
}

/* The fused kernel's tasks: runs of tiles. Each output element is its members' maps
 * of its own inputs, in order, so a tile computes the same bits on any thread; each
 * task keeps its intermediates on its own stack. */
typedef struct fused_job {
    const duet_fused_prog *prog;
    duet_tensor *const *in;
    float *out;
    int64_t n;
} fused_job;

static void fused_run(void *arg, int64_t begin, int64_t end)
{
    const fused_job *j = arg;
    const duet_fused_prog *prog = j->prog;
    float tmp[DUET_FUSE_MAX_STEPS][FUSE_TILE];
    for (int64_t off = begin * FUSE_TILE; off < end * FUSE_TILE && off < j->n; off += FUSE_TILE) {
        int64_t len = j->n - off < FUSE_TILE ? j->n - off : FUSE_TILE;
        for (int s = 0; s < prog->nsteps; s++) {
            const duet_fused_step *st = &prog->step[s];
            const duet_op_def *def = duet_op_table[st->op];
            bool last = s == prog->nsteps - 1;
            float *dst = last ? j->out + off : tmp[s];
            int64_t sa, sb;
            const float *pa = operand(st->a, j->in, tmp, off, &sa);
            if (def->map2) {
                const float *pb = operand(st->b, j->in, tmp, off, &sb);
                def->map2(dst, pa, sa, pb, sb, len);
            } else if (sa == 0) { /* a scalar operand of a unary map */
                float v;
                def->map1(&v, pa, 1, &st->attr);
                for (int64_t i = 0; i < len; i++) dst[i] = v;
            } else {
                def->map1(dst, pa, len, &st->attr);
            }
        }
    }
}

static int fused_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                        duet_tensor *out)
{
    (void)nin;
    fused_job j = {a->p, in, out->data, duet_numel(out)};
    double tile_work = DUET_WORK_ELEM * FUSE_TILE * (double)j.prog->nsteps;
    duet_parallel_range(c, (j.n + FUSE_TILE - 1) / FUSE_TILE, tile_work, 1, fused_run, &j);
    return 0;
}

const char *duet_fused_members(const duet_node *fused)
{
    return ((const duet_fused_prog *)fused->attr.p)->members;
}

/* " ops=[sub, mul, add]": the members in the order they run (a format with
 * expand_fused shows each with its operands, attributes and site) */
static void fused_attr_text(const duet_attrs *a, duet_text *t)
{
    const duet_fused_prog *prog = a->p;
    duet_text_put(t, " ops=[");
    for (int s = 0; s < prog->nsteps; s++)
        duet_text_put(t, "%s%s", s ? ", " : "", duet_op_table[prog->step[s].op]->name);
    duet_text_put(t, "]");
}

const duet_op_def duet_opdef_fused = {.name = "fused",
                                      .nin = -1,
                                      .infer = fused_infer,
                                      .kernel = fused_kernel,
                                      .attr_text = fused_attr_text};

/* ---- pattern fusion: masked softmax ---- */

/* t's producer when it is an op node read only here, else NULL */
static duet_node *sole(const duet_tensor *t, duet_op op, const int *uses)
{
    duet_node *p = t->node;
    return p->op == op && uses[p->id] == 1 ? p : NULL;
}

static bool uniform(const duet_tensor *t, float *v) { return duet_node_uniform_f32(t->node, v); }

/* add(x, mul(sub(1, cast(mask)), fill)), the bias on either side: x + fill where the
 * mask is false and x + -0 (or +0, which softmax cannot tell apart) = x where it is
 * true; a fill that is not finite would make 0 * fill NaN, so it is left alone. */
static bool keras_bias(duet_node *add, const int *uses, duet_tensor **x, duet_tensor **mask,
                       float *fill, duet_node **chain)
{
    for (int k = 0; k < 2; k++) {
        duet_node *mul = sole(add->in[1 - k], DUET_OP_MUL, uses);
        if (!mul) continue;
        for (int j = 0; j < 2; j++) {
            duet_node *sub = sole(mul->in[j], DUET_OP_SUB, uses);
            float one, f;
            if (!sub || !uniform(mul->in[1 - j], &f) || !isfinite(f) || !uniform(sub->in[0], &one) ||
                one != 1.0f)
                continue;
            duet_node *cast = sole(sub->in[1], DUET_OP_CAST, uses);
            if (!cast || cast->in[0]->dtype != DUET_BOOL8 || cast->out->dtype != DUET_F32) continue;
            *x = add->in[k], *mask = cast->in[0], *fill = f;
            chain[0] = add, chain[1] = mul, chain[2] = sub, chain[3] = cast;
            return true;
        }
    }
    return false;
}

/* Rewrites node n, a softmax, when its input is a masking chain read only by it. */
static void masked_softmax_pattern(duet_ctx *ctx, duet_graph *g, duet_node *n, const int *uses,
                                   bool *dead)
{
    duet_tensor *x = NULL, *mask = NULL;
    float fill;
    duet_node *chain[4] = {0};
    duet_node *w = sole(n->in[0], DUET_OP_WHERE, uses), *add = sole(n->in[0], DUET_OP_ADD, uses);
    bool select = w && w->in[0]->dtype == DUET_BOOL8 && uniform(w->in[2], &fill);
    if (select)
        x = w->in[1], mask = w->in[0], chain[0] = w;
    else if (!add || !keras_bias(add, uses, &x, &mask, &fill, chain))
        return;
    if (x->dtype != DUET_F32 || !duet_same_shape(x, n->out)) return;
    duet_tensor **in = duet_arena_alloc(ctx, &g->arena, sizeof *in * 2);
    if (!in) {
        duet_fail(ctx, DUET_ERR_OOM, "fuse: out of memory");
        return;
    }
    in[0] = x, in[1] = mask;
    duet_masked_softmax_attrs(&n->attr, select, fill);
    n->op = DUET_OP_MASKED_SOFTMAX;
    n->in = in;
    n->nin = 2;
    for (int k = 0; k < 4 && chain[k]; k++) dead[chain[k]->id] = true;
}

static void fuse_patterns(duet_ctx *ctx, duet_graph *g, const int *uses, bool *dead)
{
    for (int i = 0; i < g->n && !ctx->err.code; i++) {
        duet_node *n = g->nodes[i];
        if (n->op == DUET_OP_SOFTMAX) masked_softmax_pattern(ctx, g, n, uses, dead);
        /* the kernel broadcasts the mask itself */
        if (n->op == DUET_OP_MASKED_SOFTMAX && n->in[1]->node->op == DUET_OP_BROADCAST_TO)
            n->in[1] = n->in[1]->node->in[0];
    }
}

/* ---- the pass ---- */

static bool fusible(const duet_node *n)
{
    const duet_op_def *def = duet_op_table[n->op];
    if (!(def->flags & DUET_OPF_ELEMENTWISE) || n->out->dtype != DUET_F32) return false;
    for (int j = 0; j < n->nin; j++) {
        const duet_tensor *x = n->in[j];
        if (x->dtype != DUET_F32) return false;
        if (!duet_same_shape(x, n->out) && duet_numel(x) != 1) return false;
    }
    return def->map1 || def->map2;
}

typedef struct group {
    duet_node *member[DUET_FUSE_MAX_STEPS];
    int n;
} group;

static bool in_group(const group *gr, const duet_node *n)
{
    for (int i = 0; i < gr->n; i++)
        if (gr->member[i] == n) return true;
    return false;
}

/* Grows the group from its root through producers read only by the group. */
static void grow(group *gr, const int *uses, const bool *taken, const duet_tensor *shape)
{
    for (int m = 0; m < gr->n; m++) {
        duet_node *n = gr->member[m];
        for (int j = 0; j < n->nin && gr->n < DUET_FUSE_MAX_STEPS; j++) {
            duet_node *p = n->in[j]->node;
            if (uses[p->id] != 1 || taken[p->id] || in_group(gr, p) || !fusible(p) ||
                !duet_same_shape(p->out, shape))
                continue;
            gr->member[gr->n++] = p;
        }
    }
}

static int cmp_id(const void *a, const void *b)
{
    return (*(duet_node *const *)a)->id - (*(duet_node *const *)b)->id;
}

static int external_index(duet_tensor **ext, int *next, duet_tensor *t)
{
    for (int k = 0; k < *next; k++)
        if (ext[k] == t) return k;
    ext[*next] = t;
    return (*next)++;
}

static int step_operand(const group *gr, duet_tensor **ext, int *next, duet_tensor *t)
{
    for (int s = 0; s < gr->n; s++)
        if (gr->member[s] == t->node) return -(s + 1);
    return external_index(ext, next, t);
}

/* Rewrites the group's root (its last member) into a FUSED node. */
static int emit(duet_ctx *ctx, duet_graph *g, group *gr, bool *dead)
{
    qsort(gr->member, (size_t)gr->n, sizeof *gr->member, cmp_id);
    duet_fused_prog *prog = duet_arena_alloc(ctx, &g->arena, sizeof *prog);
    duet_tensor **ext = duet_arena_alloc(ctx, &g->arena, sizeof *ext * 2 * DUET_FUSE_MAX_STEPS);
    if (!prog || !ext) return duet_fail(ctx, DUET_ERR_OOM, "the fuse pass");
    int next = 0;
    prog->nsteps = gr->n;
    prog->members[0] = 0;
    for (int s = 0; s < gr->n; s++) {
        const duet_node *n = gr->member[s];
        duet_fused_step *st = &prog->step[s];
        st->op = n->op;
        st->attr = n->attr;
        st->site = n->site;
        st->scope = n->scope;
        st->grad_of = n->grad_of;
        st->a = step_operand(gr, ext, &next, n->in[0]);
        st->b = n->nin > 1 ? step_operand(gr, ext, &next, n->in[1]) : 0;
        size_t len = strlen(prog->members);
        snprintf(prog->members + len, sizeof prog->members - len, "%s%s", s ? " " : "",
                 duet_op_table[n->op]->name);
    }
    duet_node *root = gr->member[gr->n - 1];
    for (int s = 0; s < gr->n - 1; s++) dead[gr->member[s]->id] = true;
    root->op = DUET_OP_FUSED;
    root->in = ext;
    root->nin = next;
    memset(&root->attr, 0, sizeof root->attr);
    root->attr.p = prog;
    return 0;
}

void duet_fuse_pass(duet_ctx *ctx, duet_plan *p)
{
    duet_graph *g = &p->graph;
    int *uses = duet_graph_uses(g);
    bool *taken = calloc((size_t)g->n + 1, 1), *dead = calloc((size_t)g->n + 1, 1);
    if (!uses || !taken || !dead) goto oom;
    fuse_patterns(ctx, g, uses, dead);
    duet_graph_compact(g, dead);
    free(uses);
    memset(dead, 0, (size_t)g->n + 1);
    if (!(uses = duet_graph_uses(g))) goto oom;
    for (int i = g->n - 1; i >= 0 && !ctx->err.code; i--) {
        duet_node *root = g->nodes[i];
        if (taken[i] || !fusible(root)) continue;
        group gr = {{root}, 1};
        grow(&gr, uses, taken, root->out);
        for (int m = 0; m < gr.n; m++) taken[gr.member[m]->id] = true;
        if (gr.n >= 2) emit(ctx, g, &gr, dead);
    }
    duet_graph_compact(g, dead);
    free(uses), free(taken), free(dead);
    return;
oom:
    free(uses), free(taken), free(dead);
    duet_ctx_fail(ctx, DUET_ERR_OOM, "the fuse pass");
}

/* Re-runs the program cut after each step in turn, whole, into a scratch tensor: the
 * first cut whose output holds a NaN or Inf ends at the member that made it, the one
 * eager mode would have run first. Quadratic in the steps, but it runs only once, when
 * a check has already failed. */
bool duet_fused_nonfinite_member(duet_ctx *ctx, const duet_node *fused, duet_tensor *const *in,
                                 duet_tensor *member_out, duet_node *member)
{
    const duet_fused_prog *prog = fused->attr.p;
    int64_t n = duet_numel(member_out);
    duet_fused_prog cut = *prog;
    bool found = false;
    for (int s = 0; s < prog->nsteps && !found; s++) {
        cut.nsteps = s + 1;
        fused_kernel(ctx, &(duet_attrs){.p = &cut}, in, fused->nin, member_out);
        for (int64_t i = 0; i < n && !found; i++) found = !isfinite(((float *)member_out->data)[i]);
        if (found)
            *member = (duet_node){.op = prog->step[s].op, .site = prog->step[s].site,
                                  .scope = prog->step[s].scope, .grad_of = prog->step[s].grad_of};
    }
    return found;
}
