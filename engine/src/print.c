/* Readable forms of a graph: text in the spirit of a jaxpr, and Graphviz DOT. */
#include <stdarg.h>

#include "graph_internal.h"

static void type_text(const duet_tensor *t, char *buf, size_t n)
{
    char shape[128];
    snprintf(buf, n, "%s%s", duet_dtype_name(t->dtype), duet_shape_str(t, shape, sizeof shape));
}

void duet_text_put(duet_text *t, const char *fmt, ...)
{
    if (t->len >= t->cap) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n > 0) t->len = t->len + (size_t)n < t->cap ? t->len + (size_t)n : t->cap;
}

void duet_text_dim(duet_text *t, const char *name, int64_t d)
{
    if (DUET_DIM_IS_SYM(d))
        duet_text_put(t, " %s=None", name);
    else
        duet_text_put(t, " %s=%lld", name, (long long)d);
}

void duet_text_dims(duet_text *t, const char *name, int rank, const int64_t *d)
{
    duet_type ty = {.rank = rank};
    memcpy(ty.shape, d, sizeof(int64_t) * (size_t)rank);
    char shape[128];
    duet_text_put(t, " %s=%s", name, duet_type_str(&ty, shape, sizeof shape));
}

/* The node's attributes by name, as its op describes them. */
static void attr_text(const duet_node *nd, char *buf, size_t n)
{
    duet_text t = {buf, n, 0};
    buf[0] = 0;
    const duet_op_def *def = duet_op_table[nd->op];
    if (def->attr_text) def->attr_text(&nd->attr, &t);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path ? path : "", '/');
    return s ? s + 1 : path ? path : "";
}

/* The binders, in argument order (passes may move placeholders, as guards-first does). */
static void print_binders(FILE *f, const duet_graph *g)
{
    const duet_node *arg[DUET_MAX_FN_ARGS] = {0};
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i]->op == DUET_OP_PLACEHOLDER) {
            int k = duet_placeholder_index(g->nodes[i]);
            if (k >= 0 && k < DUET_MAX_FN_ARGS) arg[k] = g->nodes[i];
        }
    for (int k = 0; k < DUET_MAX_FN_ARGS; k++)
        if (arg[k]) {
            char ty[160];
            type_text(arg[k]->out, ty, sizeof ty);
            fprintf(f, "%%%d:%s ", arg[k]->id, ty);
        }
}

static void print_node(FILE *f, const duet_node *nd)
{
    char ty[160], at[256];
    type_text(nd->out, ty, sizeof ty);
    attr_text(nd, at, sizeof at);
    fprintf(f, "    %%%d:%s = %s", nd->id, ty, duet_op_table[nd->op]->name);
    for (int j = 0; j < nd->nin; j++) fprintf(f, " %%%d", nd->in[j]->node->id);
    fprintf(f, "%s    # %s%s %s:%d\n", at, nd->grad_of ? "grad of " : "",
            nd->scope && nd->scope[0] ? nd->scope : "-", base_name(nd->site.file), nd->site.line);
}

static bool in_graph(const duet_graph *g, const duet_node *n)
{
    return n && n->id >= 0 && n->id < g->n && g->nodes[n->id] == n;
}

/* A baked read as a comment, since it computes nothing at run time; where a trace
 * stopped as the last line, in place of the outputs it never reached. "on %3" names
 * the node read while the graph still has it (dead-code elimination removes what
 * only a baked read needed). */
static void print_mark(FILE *f, const duet_graph *g, const duet_read_mark *m)
{
    char on[24] = "";
    if (in_graph(g, m->read)) snprintf(on, sizeof on, " on %%%d", m->read->id);
    if (m->stopped)
        fprintf(f, "    !! %s at %s:%d%s: stopped here\n", m->what, m->file, m->line, on);
    else
        fprintf(f, "    # baked: %s at %s:%d%s read %s; every call reuses it\n", m->what,
                m->file, m->line, on, m->value);
}

/* "in ( %12 %40 )": the results, as a jaxpr ends */
static void print_outputs(FILE *f, const duet_graph *g)
{
    fprintf(f, "in (");
    for (int k = 0; k < g->nout; k++)
        if (g->outputs[k] && g->outputs[k]->node) fprintf(f, " %%%d", g->outputs[k]->node->id);
    fprintf(f, " ) }\n");
}

void duet_graph_print(FILE *f, const duet_graph *g)
{
    fprintf(f, "{ lambda ");
    print_binders(f, g);
    fprintf(f, ". let");
    const duet_read_mark *m = g->marks;
    bool stopped = false;
    int lines = 0;
    for (int i = 0; i <= g->n; i++) {
        for (; m && m->at <= i; m = m->next) {
            if (!lines++) fprintf(f, "\n");
            print_mark(f, g, m);
            stopped |= m->stopped;
        }
        if (i == g->n || g->nodes[i]->op == DUET_OP_PLACEHOLDER) continue;
        if (!lines++) fprintf(f, "\n");
        print_node(f, g->nodes[i]);
    }
    fprintf(f, lines ? "  " : " "); /* nothing bound: the whole form on one line */
    if (stopped)
        fprintf(f, "}\n");
    else
        print_outputs(f, g);
}

void duet_graph_dot(FILE *f, const duet_graph *g)
{
    fprintf(f, "digraph duet {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n");
    for (int i = 0; i < g->n; i++) {
        const duet_node *nd = g->nodes[i];
        char ty[160];
        type_text(nd->out, ty, sizeof ty);
        const char *style = nd->op == DUET_OP_PLACEHOLDER ? ", style=filled, fillcolor=lightblue"
                            : nd->op == DUET_OP_ASSIGN   ? ", style=filled, fillcolor=orange"
                            : nd->op == DUET_OP_GUARD    ? ", style=filled, fillcolor=yellow"
                            : nd->grad_of                ? ", color=gray50"
                                                         : "";
        fprintf(f, "  n%d [label=\"%%%d %s\\n%s\\n%s:%d\"%s];\n", i, i,
                duet_op_table[nd->op]->name, ty, base_name(nd->site.file), nd->site.line, style);
        for (int j = 0; j < nd->nin; j++) fprintf(f, "  n%d -> n%d;\n", nd->in[j]->node->id, i);
    }
    fprintf(f, "}\n");
}
