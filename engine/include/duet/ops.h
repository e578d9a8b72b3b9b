/* duet ops: the public op API. Every op works in both modes: in eager mode it
 * computes at once, while tracing it appends an IR node. Each op is a macro that
 * records the caller's file:line (the call site diagnostics and op logs show) and
 * forwards to the matching duet_*_at function. */
#ifndef DUET_OPS_H
#define DUET_OPS_H

#include "core.h"


/* ---- creation ---- */
duet_tensor *duet_constant_at(duet_site s, duet_ctx *c, duet_dtype dt, int rank, const int64_t *shape,
                     const void *data);
duet_tensor *duet_scalar_at(duet_site s, duet_ctx *c, float v);
duet_tensor *duet_scalar_i32_at(duet_site s, duet_ctx *c, int32_t v);
/* shape dims may be symbols taken from another tensor's shape */
duet_tensor *duet_full_at(duet_site s, duet_ctx *c, duet_dtype dt, int rank, const int64_t *shape, float v);
duet_tensor *duet_full_like_at(duet_site s, duet_ctx *c, duet_tensor *x, float v);
duet_tensor *duet_arange_at(duet_site s, duet_ctx *c, int64_t n); /* i32 [0, n); n may be a symbol */
duet_tensor *duet_var_read_at(duet_site s, duet_ctx *c, duet_var *v);
/* Replaces the variable's value; returns the value. Earlier reads keep the old value. */
duet_tensor *duet_assign_at(duet_site s, duet_ctx *c, duet_var *v, duet_tensor *value);
#define duet_constant(...) duet_constant_at(DUET_HERE, __VA_ARGS__)
#define duet_scalar(...) duet_scalar_at(DUET_HERE, __VA_ARGS__)
#define duet_scalar_i32(...) duet_scalar_i32_at(DUET_HERE, __VA_ARGS__)
#define duet_full(...) duet_full_at(DUET_HERE, __VA_ARGS__)
#define duet_full_like(...) duet_full_like_at(DUET_HERE, __VA_ARGS__)
#define duet_arange(...) duet_arange_at(DUET_HERE, __VA_ARGS__)
#define duet_var_read(...) duet_var_read_at(DUET_HERE, __VA_ARGS__)
#define duet_assign(...) duet_assign_at(DUET_HERE, __VA_ARGS__)

/* ---- elementwise, NumPy broadcasting ---- */
duet_tensor *duet_add_at(duet_site s, duet_ctx *c, duet_tensor *a, duet_tensor *b);
duet_tensor *duet_sub_at(duet_site s, duet_ctx *c, duet_tensor *a, duet_tensor *b);
duet_tensor *duet_mul_at(duet_site s, duet_ctx *c, duet_tensor *a, duet_tensor *b);
duet_tensor *duet_div_at(duet_site s, duet_ctx *c, duet_tensor *a, duet_tensor *b);
duet_tensor *duet_neg_at(duet_site s, duet_ctx *c, duet_tensor *x);
duet_tensor *duet_exp_at(duet_site s, duet_ctx *c, duet_tensor *x);
duet_tensor *duet_log_at(duet_site s, duet_ctx *c, duet_tensor *x);
duet_tensor *duet_sqrt_at(duet_site s, duet_ctx *c, duet_tensor *x);
duet_tensor *duet_rsqrt_at(duet_site s, duet_ctx *c, duet_tensor *x);
duet_tensor *duet_relu_at(duet_site s, duet_ctx *c, duet_tensor *x);
duet_tensor *duet_tanh_at(duet_site s, duet_ctx *c, duet_tensor *x);
duet_tensor *duet_pow_scalar_at(duet_site s, duet_ctx *c, duet_tensor *x, float p);
#define duet_add(...) duet_add_at(DUET_HERE, __VA_ARGS__)
#define duet_sub(...) duet_sub_at(DUET_HERE, __VA_ARGS__)
#define duet_mul(...) duet_mul_at(DUET_HERE, __VA_ARGS__)
#define duet_div(...) duet_div_at(DUET_HERE, __VA_ARGS__)
#define duet_neg(...) duet_neg_at(DUET_HERE, __VA_ARGS__)
#define duet_exp(...) duet_exp_at(DUET_HERE, __VA_ARGS__)
#define duet_log(...) duet_log_at(DUET_HERE, __VA_ARGS__)
#define duet_sqrt(...) duet_sqrt_at(DUET_HERE, __VA_ARGS__)
#define duet_rsqrt(...) duet_rsqrt_at(DUET_HERE, __VA_ARGS__)
#define duet_relu(...) duet_relu_at(DUET_HERE, __VA_ARGS__)
#define duet_tanh(...) duet_tanh_at(DUET_HERE, __VA_ARGS__)
#define duet_pow_scalar(...) duet_pow_scalar_at(DUET_HERE, __VA_ARGS__)

/* ---- comparisons, logic, select, cast ---- */
duet_tensor *duet_greater_at(duet_site s, duet_ctx *c, duet_tensor *a, duet_tensor *b); /* -> bool */
duet_tensor *duet_equal_at(duet_site s, duet_ctx *c, duet_tensor *a, duet_tensor *b);   /* -> bool */
duet_tensor *duet_logical_and_at(duet_site s, duet_ctx *c, duet_tensor *a, duet_tensor *b);
duet_tensor *duet_logical_not_at(duet_site s, duet_ctx *c, duet_tensor *x);
duet_tensor *duet_where_at(duet_site s, duet_ctx *c, duet_tensor *cond, duet_tensor *a, duet_tensor *b);
duet_tensor *duet_cast_at(duet_site s, duet_ctx *c, duet_tensor *x, duet_dtype to);
#define duet_greater(...) duet_greater_at(DUET_HERE, __VA_ARGS__)
#define duet_equal(...) duet_equal_at(DUET_HERE, __VA_ARGS__)
#define duet_logical_and(...) duet_logical_and_at(DUET_HERE, __VA_ARGS__)
#define duet_logical_not(...) duet_logical_not_at(DUET_HERE, __VA_ARGS__)
#define duet_where(...) duet_where_at(DUET_HERE, __VA_ARGS__)
#define duet_cast(...) duet_cast_at(DUET_HERE, __VA_ARGS__)

/* ---- matmul: a (..., M, K) x b (..., K, N), batch dims broadcast ---- */
duet_tensor *duet_matmul_at(duet_site s, duet_ctx *c, duet_tensor *a, duet_tensor *b, bool trans_a, bool trans_b);
#define duet_matmul(...) duet_matmul_at(DUET_HERE, __VA_ARGS__)

/* ---- shape ---- */
/* dims may hold one DUET_DIM_INFER and symbols taken from other tensors' shapes */
duet_tensor *duet_reshape_at(duet_site s, duet_ctx *c, duet_tensor *x, int rank, const int64_t *dims);
duet_tensor *duet_transpose_at(duet_site s, duet_ctx *c, duet_tensor *x, const int *perm); /* out[i] = in[perm[i]] */
duet_tensor *duet_slice_at(duet_site s, duet_ctx *c, duet_tensor *x, int axis, int64_t start, int64_t stop);
duet_tensor *duet_concat_at(duet_site s, duet_ctx *c, duet_tensor *const *xs, int n, int axis);
/* Sums x down to `shape` (the inverse of broadcasting); used by gradients. */
duet_tensor *duet_sum_to_at(duet_site s, duet_ctx *c, duet_tensor *x, int rank, const int64_t *shape);
/* Zero padding along one axis (the gradient of slice). */
duet_tensor *duet_pad_at(duet_site s, duet_ctx *c, duet_tensor *x, int axis, int64_t before, int64_t after);
/* Repeats x to `shape` by NumPy broadcasting (the gradient of sum_to). */
duet_tensor *duet_broadcast_to_at(duet_site s, duet_ctx *c, duet_tensor *x, int rank, const int64_t *shape);
#define duet_pad(...) duet_pad_at(DUET_HERE, __VA_ARGS__)
#define duet_broadcast_to(...) duet_broadcast_to_at(DUET_HERE, __VA_ARGS__)
#define duet_reshape(...) duet_reshape_at(DUET_HERE, __VA_ARGS__)
#define duet_transpose(...) duet_transpose_at(DUET_HERE, __VA_ARGS__)
#define duet_slice(...) duet_slice_at(DUET_HERE, __VA_ARGS__)
#define duet_concat(...) duet_concat_at(DUET_HERE, __VA_ARGS__)
#define duet_sum_to(...) duet_sum_to_at(DUET_HERE, __VA_ARGS__)

/* ---- reductions: axes is a bitmask (bit i = axis i); 0 means all axes ---- */
#define DUET_AXIS(i) (1u << (i))
duet_tensor *duet_sum_at(duet_site s, duet_ctx *c, duet_tensor *x, unsigned axes, bool keepdims);
duet_tensor *duet_mean_at(duet_site s, duet_ctx *c, duet_tensor *x, unsigned axes, bool keepdims);
duet_tensor *duet_max_at(duet_site s, duet_ctx *c, duet_tensor *x, unsigned axes, bool keepdims);
duet_tensor *duet_any_at(duet_site s, duet_ctx *c, duet_tensor *x, unsigned axes, bool keepdims); /* bool */
/* Number of elements of x over the axes (all if 0), as an f32 scalar; known only at
 * run time when the dims are symbolic. mean = sum / size. */
duet_tensor *duet_size_at(duet_site s, duet_ctx *c, duet_tensor *x, unsigned axes);
#define duet_size(...) duet_size_at(DUET_HERE, __VA_ARGS__)
#define duet_sum(...) duet_sum_at(DUET_HERE, __VA_ARGS__)
#define duet_mean(...) duet_mean_at(DUET_HERE, __VA_ARGS__)
#define duet_max(...) duet_max_at(DUET_HERE, __VA_ARGS__)
#define duet_any(...) duet_any_at(DUET_HERE, __VA_ARGS__)

/* ---- softmax family (axis may be negative) ---- */
/* mask: NULL, bool (true = keep; Keras semantics: masked scores get -1e9 added) or
 * f32 (added to the scores). */
duet_tensor *duet_softmax_at(duet_site s, duet_ctx *c, duet_tensor *x, int axis, duet_tensor *mask);
duet_tensor *duet_log_softmax_at(duet_site s, duet_ctx *c, duet_tensor *x, int axis);
/* logits (..., C) f32, labels (...) i32 -> per-position loss (...) */
duet_tensor *duet_sparse_xent_at(duet_site s, duet_ctx *c, duet_tensor *logits, duet_tensor *labels);
duet_tensor *duet_one_hot_at(duet_site s, duet_ctx *c, duet_tensor *ids, int64_t depth); /* f32 */
#define duet_softmax(...) duet_softmax_at(DUET_HERE, __VA_ARGS__)
#define duet_log_softmax(...) duet_log_softmax_at(DUET_HERE, __VA_ARGS__)
#define duet_sparse_xent(...) duet_sparse_xent_at(DUET_HERE, __VA_ARGS__)
#define duet_one_hot(...) duet_one_hot_at(DUET_HERE, __VA_ARGS__)

/* ---- normalisation: over the last axis ---- */
duet_tensor *duet_layer_norm_at(duet_site s, duet_ctx *c, duet_tensor *x, duet_tensor *gamma, duet_tensor *beta, float eps);
#define duet_layer_norm(...) duet_layer_norm_at(DUET_HERE, __VA_ARGS__)

/* ---- embedding: table (V, D), ids i32 (...) -> (..., D); grad is a scatter-add ---- */
duet_tensor *duet_gather_at(duet_site s, duet_ctx *c, duet_tensor *table, duet_tensor *ids);
duet_tensor *duet_scatter_add_at(duet_site s, duet_ctx *c, duet_tensor *ids, duet_tensor *updates, int64_t rows);
#define duet_gather(...) duet_gather_at(DUET_HERE, __VA_ARGS__)
#define duet_scatter_add(...) duet_scatter_add_at(DUET_HERE, __VA_ARGS__)

/* ---- random: counter-based (Philox-4x32-10); same seed+counter+stream = same mask ---- */
/* counter: i32 scalar tensor (usually a variable read); stream tells apart the
 * dropout layers of one step. Returns x * keep / (1 - rate). */
duet_tensor *duet_dropout_at(duet_site s, duet_ctx *c, duet_tensor *x, float rate, uint64_t seed, duet_tensor *counter,
                    int stream);
duet_tensor *duet_dropout_mask_at(duet_site s, duet_ctx *c, duet_tensor *like, float rate, uint64_t seed,
                         duet_tensor *counter, int stream);
#define duet_dropout(...) duet_dropout_at(DUET_HERE, __VA_ARGS__)
#define duet_dropout_mask(...) duet_dropout_mask_at(DUET_HERE, __VA_ARGS__)

/* ---- host output (tf.print, jax.debug.print) ---- */
/* Prints "label: <values>" as one line, long dims elided as [0 1 2 ... 7 8 9], each
 * time the op runs: eagerly at once, in graph mode on every call of the plan (not
 * only while tracing), and only for a call that runs to the end, so a retrace after
 * a failed guard prints once. Returns x unchanged, to be chained; its gradient
 * passes through and prints nothing. */
duet_tensor *duet_print_at(duet_site s, duet_ctx *c, const char *label, duet_tensor *x);
#define duet_print(...) duet_print_at(DUET_HERE, __VA_ARGS__)
/* Where printed lines go: stdout by default; NULL writes them nowhere (they are
 * still counted). */
void duet_ctx_set_print_sink(duet_ctx *c, FILE *sink);
/* Lines printed so far on this context. */
int64_t duet_ctx_print_count(const duet_ctx *c);

#endif
