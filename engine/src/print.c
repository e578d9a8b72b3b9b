/* Readable forms of a graph: text in the spirit of a jaxpr, and Graphviz DOT. */
#include "graph_internal.h"

static void type_text(const duet_tensor *t, char *buf, size_t n)
{
    char shape[128];
    snprintf(buf, n, "%s%s", duet_dtype_name(t->dtype), duet_shape_str(t, shape, sizeof shape));
}

/* Non-zero integer and float attributes, generically: enough to tell nodes apart. */
static void attr_text(const duet_node *nd, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    if (nd->op == DUET_OP_VAR_READ || nd->op == DUET_OP_ASSIGN) {
        snprintf(buf, n, " var=%s", duet_var_name(nd->attr.p));
        return;
    }
    if (nd->op == DUET_OP_CONST && duet_numel(nd->out) == 1) {
        snprintf(buf, n, " value=%g", (double)duet_get_f32(nd->out, 0));
        return;
    }
    if (nd->op == DUET_OP_GUARD) {
        duet_guard_text(nd, buf, n);
        return;
    }
    if (nd->op == DUET_OP_PRINT) {
        snprintf(buf, n, " label=\"%s\"", (const char *)nd->attr.p);
        return;
    }
    if (nd->op == DUET_OP_CONST || nd->op == DUET_OP_FUSED) return;
    int last = -1;
    for (int i = 0; i < DUET_MAX_IATTR; i++)
        if (nd->attr.i[i]) last = i;
    if (last >= 0) {
        len += (size_t)snprintf(buf + len, n - len, " i=[");
        for (int i = 0; i <= last && len < n; i++) {
            int64_t v = nd->attr.i[i];
            if (DUET_DIM_IS_SYM(v))
                len += (size_t)snprintf(buf + len, n - len, "%sNone", i ? "," : "");
            else
                len += (size_t)snprintf(buf + len, n - len, "%s%lld", i ? "," : "", (long long)v);
        }
        if (len < n) len += (size_t)snprintf(buf + len, n - len, "]");
    }
    for (int i = 0; i < 4 && len < n; i++)
        if (nd->attr.f[i] != 0.0f)
            len += (size_t)snprintf(buf + len, n - len, " f%d=%g", i, (double)nd->attr.f[i]);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path ? path : "", '/');
    return s ? s + 1 : path ? path : "";
}

void duet_graph_print(FILE *f, const duet_graph *g)
{
    fprintf(f, "{ lambda ");
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i]->op == DUET_OP_PLACEHOLDER) {
            char ty[160];
            type_text(g->nodes[i]->out, ty, sizeof ty);
            fprintf(f, "%%%d:%s ", i, ty);
        }
    fprintf(f, ". let\n");
    for (int i = 0; i < g->n; i++) {
        const duet_node *nd = g->nodes[i];
        if (nd->op == DUET_OP_PLACEHOLDER) continue;
        char ty[160], at[256];
        type_text(nd->out, ty, sizeof ty);
        attr_text(nd, at, sizeof at);
        fprintf(f, "    %%%d:%s = %s", i, ty, duet_op_table[nd->op]->name);
        for (int j = 0; j < nd->nin; j++) fprintf(f, " %%%d", nd->in[j]->node->id);
        fprintf(f, "%s", at);
        fprintf(f, "    # %s%s %s:%d\n", nd->grad_of ? "grad of " : "",
                nd->scope && nd->scope[0] ? nd->scope : "-", base_name(nd->site.file),
                nd->site.line);
    }
    fprintf(f, "  }\n");
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
