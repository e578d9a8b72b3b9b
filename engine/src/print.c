/* Readable forms of a graph: text in the spirit of a jaxpr, and Graphviz DOT. Both
 * show each node's attributes as its op names them (duet_op_def.attr_text), the
 * outputs, and the host reads a trace baked in or stopped at (duet_read_mark). */
#include <stdarg.h>
#include <stdlib.h>

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

/* "    # mlp/dense_1 mlp.c:49": where a node (or a fused member) came from */
static void print_origin(FILE *f, bool grad, const char *scope, duet_site site)
{
    fprintf(f, "    # %s%s %s:%d\n", grad ? "grad of " : "", scope && scope[0] ? scope : "-",
            base_name(site.file), site.line);
}

/* A fused_rows step's type: the view's (the node's, less the leading count of several
 * outputs), with a last axis of 1 for a per-row value, () for a size. */
static void row_step_type(const duet_node *nd, const duet_fused_step *st, char *buf, size_t n)
{
    const duet_fused_prog *prog = nd->attr.p;
    duet_tensor t = *nd->out;
    int lead = prog->nout > 1;
    t.rank = st->kind == DUET_ROWV_SCALAR ? 0 : nd->out->rank - lead;
    memcpy(t.shape, nd->out->shape + lead, sizeof(int64_t) * (size_t)t.rank);
    if (st->kind == DUET_ROWV_ROW) t.shape[t.rank - 1] = 1;
    type_text(&t, buf, n);
}

/* A fused node's members, indented under it: "%7.0" is step 0's result, and the last
 * step writes the node's own output. A fused_rows node with several outputs marks the
 * steps that write them: "(out 1)" is what "fused_out %7 index=1" hands out. */
static void print_fused_body(FILE *f, const duet_node *nd, const char *ty)
{
    const duet_fused_prog *prog = nd->attr.p;
    bool rows = nd->op == DUET_OP_FUSED_ROWS;
    for (int s = 0; s < prog->nsteps; s++) {
        const duet_fused_step *st = &prog->step[s];
        const duet_op_def *def = duet_op_table[st->op];
        char sty[160];
        if (rows) row_step_type(nd, st, sty, sizeof sty);
        if (s < prog->nsteps - 1 || (rows && prog->nout > 1))
            fprintf(f, "        %%%d.%d:%s = %s", nd->id, s, rows ? sty : ty, def->name);
        else
            fprintf(f, "        %%%d = %s", nd->id, def->name);
        int operand[2] = {st->a, st->b};
        for (int k = 0; k < (st->op == DUET_OP_SIZE ? 0 : def->map2 ? 2 : 1); k++)
            if (operand[k] >= 0)
                fprintf(f, " %%%d", nd->in[operand[k]]->node->id);
            else
                fprintf(f, " %%%d.%d", nd->id, -operand[k] - 1);
        char at[256];
        duet_text t = {at, sizeof at, 0};
        at[0] = 0;
        if (def->attr_text) def->attr_text(&st->attr, &t);
        fputs(at, f);
        if (rows && prog->nout > 1 && st->out >= 0) fprintf(f, " (out %d)", st->out);
        print_origin(f, nd->grad_of != NULL, st->scope, st->site);
    }
}

static void print_node(FILE *f, const duet_node *nd, duet_graph_format format)
{
    char ty[160], at[256];
    type_text(nd->out, ty, sizeof ty);
    attr_text(nd, at, sizeof at);
    fprintf(f, "    %%%d:%s = %s", nd->id, ty, duet_op_table[nd->op]->name);
    for (int j = 0; j < nd->nin; j++) fprintf(f, " %%%d", nd->in[j]->node->id);
    fputs(at, f);
    print_origin(f, nd->grad_of != NULL, nd->scope, nd->site);
    if (format.expand_fused && duet_is_fused(nd)) print_fused_body(f, nd, ty);
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

static void write_text(FILE *f, const duet_graph *g, duet_graph_format format)
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
        print_node(f, g->nodes[i], format);
    }
    fprintf(f, lines ? "  " : " "); /* nothing bound: the whole form on one line */
    if (stopped)
        fprintf(f, "}\n");
    else
        print_outputs(f, g);
}

/* ---- DOT ---- */

/* A DOT string's contents: quotes and backslashes escaped, newlines as \n. */
static void dot_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

static bool is_output(const duet_graph *g, const duet_node *nd)
{
    for (int k = 0; k < g->nout; k++)
        if (g->outputs[k] && g->outputs[k]->node == nd) return true;
    return false;
}

/* "%3 var_read var=dense/kernel\nf32(2, 8)\nmlp.c:46": the text form's facts, one a line */
static void dot_node(FILE *f, const duet_graph *g, const duet_node *nd, const char *indent)
{
    char ty[160], at[256], label[600];
    type_text(nd->out, ty, sizeof ty);
    attr_text(nd, at, sizeof at);
    snprintf(label, sizeof label, "%%%d %s%s\n%s\n%s:%d", nd->id, duet_op_table[nd->op]->name, at,
             ty, base_name(nd->site.file), nd->site.line);
    const char *style = nd->op == DUET_OP_PLACEHOLDER ? ", style=filled, fillcolor=lightblue"
                        : duet_op_table[nd->op]->flags & DUET_OPF_WRITES_VAR ? ", style=filled, fillcolor=orange"
                        : nd->op == DUET_OP_GUARD    ? ", style=filled, fillcolor=yellow"
                        : nd->grad_of                ? ", color=gray50"
                                                     : "";
    fprintf(f, "%sn%d [label=\"", indent, nd->id);
    dot_escaped(f, label);
    fprintf(f, "\"%s%s];\n", style, is_output(g, nd) ? ", peripheries=2" : "");
}

/* The distinct scope paths of a graph's nodes, for clustering. */
typedef struct scope_set {
    const char **path;
    int n;
} scope_set;

static int scopes_collect(const duet_graph *g, scope_set *set)
{
    set->path = malloc(sizeof *set->path * (size_t)(g->n + 1));
    set->n = 0;
    if (!set->path) return -1;
    for (int i = 0; i < g->n; i++) {
        const char *sc = g->nodes[i]->scope;
        if (!sc || !sc[0]) continue;
        bool seen = false;
        for (int k = 0; k < set->n && !seen; k++) seen = !strcmp(set->path[k], sc);
        if (!seen) set->path[set->n++] = sc;
    }
    return 0;
}

/* Whether path lies inside the len-character scope prefix (the top level when 0);
 * *child_len is then the length of the prefix extended by its next component. */
static bool scope_inside(const char *path, const char *prefix, size_t len, size_t *child_len)
{
    if (len && (strncmp(path, prefix, len) || path[len] != '/')) return false;
    const char *start = path + len + (len ? 1 : 0), *slash = strchr(start, '/');
    *child_len = slash ? (size_t)(slash - path) : strlen(path);
    return true;
}

/* One cluster per scope path prefix, nested as the scopes are: the nodes whose scope is
 * exactly the prefix, then a cluster for each next component, in order of appearance. */
static void dot_cluster(FILE *f, const duet_graph *g, const scope_set *set, const char *prefix,
                        size_t len, int depth, int *next_cluster)
{
    char indent[2 * 16 + 3];
    snprintf(indent, sizeof indent, "%*s", 2 * (depth < 16 ? depth : 16) + 2, "");
    for (int i = 0; i < g->n; i++) {
        const char *sc = g->nodes[i]->scope ? g->nodes[i]->scope : "";
        if (strlen(sc) == len && !strncmp(sc, prefix, len)) dot_node(f, g, g->nodes[i], indent);
    }
    for (int k = 0; k < set->n; k++) {
        size_t clen;
        if (!scope_inside(set->path[k], prefix, len, &clen)) continue;
        bool earlier = false; /* the same child reached through an earlier path */
        for (int j = 0; j < k && !earlier; j++) {
            size_t jlen;
            earlier = scope_inside(set->path[j], prefix, len, &jlen) && jlen == clen &&
                      !strncmp(set->path[j], set->path[k], clen);
        }
        if (earlier) continue;
        const char *name = set->path[k] + len + (len ? 1 : 0);
        fprintf(f, "%ssubgraph cluster_%d {\n%s  label=\"", indent, (*next_cluster)++, indent);
        char comp[256];
        snprintf(comp, sizeof comp, "%.*s", (int)(clen - (size_t)(name - set->path[k])), name);
        dot_escaped(f, comp);
        fprintf(f, "\";\n");
        dot_cluster(f, g, set, set->path[k], clen, depth + 1, next_cluster);
        fprintf(f, "%s}\n", indent);
    }
}

/* A baked read as a note beside the node it read; where a trace stopped, in red. */
static void dot_marks(FILE *f, const duet_graph *g)
{
    int k = 0;
    for (const duet_read_mark *m = g->marks; m; m = m->next, k++) {
        char label[256];
        if (m->stopped)
            snprintf(label, sizeof label, "stopped here:\n%s at %s:%d", m->what, m->file, m->line);
        else
            snprintf(label, sizeof label, "baked: %s at %s:%d\nread %s; every call reuses it",
                     m->what, m->file, m->line, m->value);
        fprintf(f, "  mark%d [shape=%s, label=\"", k, m->stopped ? "octagon, color=red" : "note");
        dot_escaped(f, label);
        fprintf(f, "\"];\n");
        if (in_graph(g, m->read)) fprintf(f, "  n%d -> mark%d [style=dashed];\n", m->read->id, k);
    }
}

static void write_dot(FILE *f, const duet_graph *g)
{
    fprintf(f, "digraph duet {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n");
    scope_set set;
    if (scopes_collect(g, &set)) { /* out of memory: unclustered, but complete */
        for (int i = 0; i < g->n; i++) dot_node(f, g, g->nodes[i], "  ");
    } else {
        int next_cluster = 0;
        dot_cluster(f, g, &set, "", 0, 0, &next_cluster);
    }
    free(set.path);
    for (int i = 0; i < g->n; i++)
        for (int j = 0; j < g->nodes[i]->nin; j++)
            fprintf(f, "  n%d -> n%d;\n", g->nodes[i]->in[j]->node->id, i);
    dot_marks(f, g);
    fprintf(f, "}\n");
}

void duet_graph_write(FILE *f, const duet_graph *g, duet_graph_format format)
{
    if (format.dot)
        write_dot(f, g);
    else
        write_text(f, g, format);
}

void duet_graph_print(FILE *f, const duet_graph *g) { duet_graph_write(f, g, (duet_graph_format){0}); }

void duet_graph_dot(FILE *f, const duet_graph *g)
{
    duet_graph_write(f, g, (duet_graph_format){.dot = true});
}
