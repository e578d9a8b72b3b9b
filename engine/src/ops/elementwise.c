/* Elementwise arithmetic: add, sub, mul, div, relu_grad (NumPy broadcasting), and the unary
 * maps neg, exp, log, sqrt, rsqrt, relu, tanh, pow_scalar. Each op's scalar work is
 * one map function, used by the broadcasting kernel here and by the fusion pass. */
#include <math.h>

#include "../internal.h"

/* ---- binary ---- */

/* A stride-0 operand is a broadcast scalar (an optimiser's constants, a scale, a
 * mask's fill): it gets its own loop with the value hoisted, so the loop stays a
 * plain vector loop; only a general strided walk is left to the last branch. */
#define DEFINE_MAP2(name, expr)                                                               \
    DUET_SIMD_CLONES static void name##_map2(float *o, const float *x, int64_t sx,            \
                                             const float *y, int64_t sy, int64_t n)           \
    {                                                                                        \
        if (sx == 1 && sy == 1) {                                                            \
            for (int64_t i = 0; i < n; i++) {                                                \
                float a = x[i], b = y[i];                                                    \
                o[i] = (expr);                                                               \
            }                                                                                \
        } else if (sx == 1 && sy == 0) {                                                     \
            const float b = y[0];                                                            \
            for (int64_t i = 0; i < n; i++) {                                                \
                float a = x[i];                                                              \
                o[i] = (expr);                                                               \
            }                                                                                \
        } else if (sx == 0 && sy == 1) {                                                     \
            const float a = x[0];                                                            \
            for (int64_t i = 0; i < n; i++) {                                                \
                float b = y[i];                                                              \
                o[i] = (expr);                                                               \
            }                                                                                \
        } else {                                                                             \
            for (int64_t i = 0; i < n; i++) {                                                \
                float a = x[i * sx], b = y[i * sy];                                          \
                o[i] = (expr);                                                               \
            }                                                                                \
        }                                                                                    \
    }
DEFINE_MAP2(add, a + b)
DEFINE_MAP2(sub, a - b)
DEFINE_MAP2(mul, a *b)
DEFINE_MAP2(div, a / b)
/* relu's gradient: g where x > 0, else +0 (what where(x > 0, g, 0) selects) */
DEFINE_MAP2(relu_grad, a > 0.0f ? b : 0.0f)

static int arith_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                       duet_type *out)
{
    (void)a;
    if (in[0]->dtype != in[1]->dtype || in[0]->dtype == DUET_BOOL8)
        return duet_fail(c, DUET_ERR_DTYPE, "operands are %s and %s; need two f32 or two i32",
                         duet_dtype_name(in[0]->dtype), duet_dtype_name(in[1]->dtype));
    out->dtype = in[0]->dtype;
    return duet_broadcast_shapes(c, in, nin, out);
}

static int32_t i32_arith(duet_op op, int32_t a, int32_t b)
{
    switch (op) {
    case DUET_OP_ADD: return (int32_t)((uint32_t)a + (uint32_t)b);
    case DUET_OP_SUB: return (int32_t)((uint32_t)a - (uint32_t)b);
    case DUET_OP_MUL: return (int32_t)((uint32_t)a * (uint32_t)b);
    default: return b == 0 || (a == INT32_MIN && b == -1) ? 0 : a / b;
    }
}

static int arith_kernel_i32(duet_ctx *c, duet_tensor *const *in, duet_tensor *out)
{
    duet_bcast_iter it;
    duet_bcast_iter_init(&it, out, (const duet_tensor *const *)in, 2);
    const int32_t *a = in[0]->data, *b = in[1]->data;
    int32_t *o = out->data;
    int64_t n = duet_numel(out);
    for (int64_t i = 0; i < n; i++, duet_bcast_iter_next(&it))
        o[i] = i32_arith(c->cur_op, a[it.off[0]], b[it.off[1]]);
    return 0;
}

static int arith_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                        duet_tensor *out)
{
    (void)a, (void)nin;
    if (out->dtype == DUET_I32) return arith_kernel_i32(c, in, out);
    duet_bcast_apply2(c, in[0], in[1], out, duet_op_table[c->cur_op]->map2);
    return 0;
}

static void add_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                    const bool *need)
{
    if (need[0]) gx[0] = duet_unbroadcast(c, gy, n->in[0]);
    if (need[1]) gx[1] = duet_unbroadcast(c, gy, n->in[1]);
}

static void sub_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                    const bool *need)
{
    if (need[0]) gx[0] = duet_unbroadcast(c, gy, n->in[0]);
    if (need[1]) gx[1] = duet_unbroadcast(c, duet_neg(c, gy), n->in[1]);
}

static void mul_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                    const bool *need)
{
    if (need[0]) gx[0] = duet_unbroadcast(c, duet_mul(c, gy, n->in[1]), n->in[0]);
    if (need[1]) gx[1] = duet_unbroadcast(c, duet_mul(c, gy, n->in[0]), n->in[1]);
}

/* d(a/b)/db = -a/b^2 = -out/b */
static void div_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                    const bool *need)
{
    if (need[0]) gx[0] = duet_unbroadcast(c, duet_div(c, gy, n->in[1]), n->in[0]);
    if (need[1])
        gx[1] = duet_unbroadcast(c, duet_neg(c, duet_div(c, duet_mul(c, gy, n->out), n->in[1])),
                                 n->in[1]);
}

#define BINARY_DEF(nm, ID, vjp_fn)                                                           \
    const duet_op_def duet_opdef_##nm = {.name = #nm,                                    \
                                         .nin = 2,                                       \
                                         .flags = DUET_OPF_ELEMENTWISE,                  \
                                         .infer = arith_infer,                           \
                                         .kernel = arith_kernel,                         \
                                         .vjp = vjp_fn,                                  \
                                         .map2 = nm##_map2};                             \
    duet_tensor *duet_##nm##_at(duet_site s, duet_ctx *c, duet_tensor *a, duet_tensor *b) \
    {                                                                                    \
        duet_attrs at = {0};                                                             \
        return duet_apply(c, s, DUET_OP_##ID, (duet_tensor *[]){a, b}, 2, &at);          \
    }

/* relu_grad(x, g) is linear in g with the same mask; its derivative in x is 0 where
 * it exists, so x gets none. */
static void relu_grad_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                          const bool *need)
{
    if (need[1]) gx[1] = duet_unbroadcast(c, duet_relu_grad(c, n->in[0], gy), n->in[1]);
}

BINARY_DEF(add, ADD, add_vjp)
BINARY_DEF(sub, SUB, sub_vjp)
BINARY_DEF(mul, MUL, mul_vjp)
BINARY_DEF(div, DIV, div_vjp)

static int relu_grad_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                           duet_type *out)
{
    (void)a;
    if (in[0]->dtype != DUET_F32 || in[1]->dtype != DUET_F32)
        return duet_fail(c, DUET_ERR_DTYPE, "operands are %s and %s; need two f32",
                         duet_dtype_name(in[0]->dtype), duet_dtype_name(in[1]->dtype));
    out->dtype = DUET_F32;
    return duet_broadcast_shapes(c, in, nin, out);
}

const duet_op_def duet_opdef_relu_grad = {.name = "relu_grad",
                                          .nin = 2,
                                          .flags = DUET_OPF_ELEMENTWISE,
                                          .infer = relu_grad_infer,
                                          .kernel = arith_kernel,
                                          .vjp = relu_grad_vjp,
                                          .map2 = relu_grad_map2};

duet_tensor *duet_relu_grad_at(duet_site s, duet_ctx *c, duet_tensor *x, duet_tensor *g)
{
    duet_attrs at = {0};
    return duet_apply(c, s, DUET_OP_RELU_GRAD, (duet_tensor *[]){x, g}, 2, &at);
}

/* ---- unary f32 maps ---- */

#define DEFINE_MAP1(name, expr)                                                            \
    DUET_SIMD_CLONES static void name##_map1(float *o, const float *in, int64_t n, const duet_attrs *at)    \
    {                                                                                      \
        (void)at;                                                                          \
        for (int64_t i = 0; i < n; i++) {                                                  \
            float x = in[i];                                                               \
            o[i] = (expr);                                                                 \
        }                                                                                  \
    }
DEFINE_MAP1(neg, -x)
DEFINE_MAP1(exp, expf(x))
DEFINE_MAP1(log, logf(x))
DEFINE_MAP1(sqrt, sqrtf(x))
DEFINE_MAP1(rsqrt, 1.0f / sqrtf(x))
DEFINE_MAP1(relu, x > 0.0f ? x : 0.0f)
DEFINE_MAP1(tanh, tanhf(x))
/* pow_scalar: the exponent (a float slot) */
enum { POW_EXPONENT = 0 };
DEFINE_MAP1(pow_scalar, powf(x, at->f[POW_EXPONENT]))

static int unary_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                       duet_type *out)
{
    (void)a, (void)nin;
    if (in[0]->dtype != DUET_F32)
        return duet_fail(c, DUET_ERR_DTYPE, "input is %s; need f32", duet_dtype_name(in[0]->dtype));
    duet_type_of(in[0], out);
    return 0;
}

/* unary_kernel's tasks: runs of elements, each mapped on its own */
typedef struct map1_job {
    duet_map1_fn f;
    float *o;
    const float *x;
    const duet_attrs *a;
} map1_job;

static void map1_run(void *arg, int64_t begin, int64_t end)
{
    const map1_job *j = arg;
    j->f(j->o + begin, j->x + begin, end - begin, j->a);
}

static int unary_kernel(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin,
                        duet_tensor *out)
{
    (void)nin;
    map1_job j = {duet_op_table[c->cur_op]->map1, out->data, in[0]->data, a};
    duet_parallel_range(c, duet_numel(out), DUET_WORK_ELEM, DUET_SIMD_FLOATS, map1_run, &j);
    return 0;
}

static void neg_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                    const bool *need)
{
    (void)n, (void)need;
    gx[0] = duet_neg(c, gy);
}

static void exp_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                    const bool *need)
{
    (void)need;
    gx[0] = duet_mul(c, gy, n->out);
}

static void log_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                    const bool *need)
{
    (void)need;
    gx[0] = duet_div(c, gy, n->in[0]);
}

/* d sqrt(x) = 0.5 / sqrt(x) */
static void sqrt_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                     const bool *need)
{
    (void)need;
    gx[0] = duet_div(c, duet_mul(c, gy, duet_scalar(c, 0.5f)), n->out);
}

/* d x^-1/2 = -0.5 x^-3/2 = -0.5 out^3 */
static void rsqrt_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                      const bool *need)
{
    (void)need;
    duet_tensor *cube = duet_mul(c, n->out, duet_mul(c, n->out, n->out));
    gx[0] = duet_mul(c, gy, duet_mul(c, cube, duet_scalar(c, -0.5f)));
}

/* one elementwise op rather than a bool tensor and a select, in both modes */
static void relu_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                     const bool *need)
{
    (void)need;
    gx[0] = duet_relu_grad(c, n->in[0], gy);
}

/* d tanh = 1 - tanh^2 */
static void tanh_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                     const bool *need)
{
    (void)need;
    duet_tensor *d = duet_sub(c, duet_scalar(c, 1.0f), duet_mul(c, n->out, n->out));
    gx[0] = duet_mul(c, gy, d);
}

static void pow_scalar_vjp(duet_ctx *c, const duet_node *n, duet_tensor *gy, duet_tensor **gx,
                           const bool *need)
{
    (void)need;
    float p = n->attr.f[POW_EXPONENT];
    duet_tensor *d = duet_mul(c, duet_pow_scalar(c, n->in[0], p - 1.0f), duet_scalar(c, p));
    gx[0] = duet_mul(c, gy, d);
}

#define UNARY_DEF(nm, ID)                                                                       \
    const duet_op_def duet_opdef_##nm = {.name = #nm,                                           \
                                         .nin = 1,                                              \
                                         .flags = DUET_OPF_ELEMENTWISE,                         \
                                         .infer = unary_infer,                                  \
                                         .kernel = unary_kernel,                                \
                                         .vjp = nm##_vjp,                                       \
                                         .map1 = nm##_map1};                                    \
    duet_tensor *duet_##nm##_at(duet_site s, duet_ctx *c, duet_tensor *x)                       \
    {                                                                                           \
        duet_attrs at = {0};                                                                    \
        return duet_apply(c, s, DUET_OP_##ID, &x, 1, &at);                                      \
    }
UNARY_DEF(neg, NEG)
UNARY_DEF(exp, EXP)
UNARY_DEF(log, LOG)
UNARY_DEF(sqrt, SQRT)
UNARY_DEF(rsqrt, RSQRT)
UNARY_DEF(relu, RELU)
UNARY_DEF(tanh, TANH)

static void pow_scalar_attr_text(const duet_attrs *a, duet_text *t)
{
    duet_text_put(t, " exponent=%g", (double)a->f[POW_EXPONENT]);
}

const duet_op_def duet_opdef_pow_scalar = {.name = "pow_scalar",
                                           .nin = 1,
                                           .flags = DUET_OPF_ELEMENTWISE,
                                           .infer = unary_infer,
                                           .kernel = unary_kernel,
                                           .vjp = pow_scalar_vjp,
                                           .map1 = pow_scalar_map1,
                                           .attr_text = pow_scalar_attr_text};

duet_tensor *duet_pow_scalar_at(duet_site s, duet_ctx *c, duet_tensor *x, float p)
{
    duet_attrs at = {0};
    at.f[POW_EXPONENT] = p;
    return duet_apply(c, s, DUET_OP_POW_SCALAR, &x, 1, &at);
}
