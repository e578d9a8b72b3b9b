/* TEMPORARY stub: replaced by the real family file. */
#include "../internal.h"
static int stub_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin, duet_type *o) { (void)a,(void)in,(void)nin,(void)o; return duet_fail(c, DUET_ERR_INTERNAL, "not implemented"); }
const duet_op_def duet_opdef_reshape = {"reshape", -1, 0, stub_infer, 0, 0, 0, 0};
const duet_op_def duet_opdef_transpose = {"transpose", -1, 0, stub_infer, 0, 0, 0, 0};
const duet_op_def duet_opdef_slice = {"slice", -1, 0, stub_infer, 0, 0, 0, 0};
const duet_op_def duet_opdef_pad = {"pad", -1, 0, stub_infer, 0, 0, 0, 0};
const duet_op_def duet_opdef_concat = {"concat", -1, 0, stub_infer, 0, 0, 0, 0};
const duet_op_def duet_opdef_sum_to = {"sum_to", -1, 0, stub_infer, 0, 0, 0, 0};
const duet_op_def duet_opdef_broadcast_to = {"broadcast_to", -1, 0, stub_infer, 0, 0, 0, 0};
duet_tensor *duet_sum_to_at(duet_site s, duet_ctx *c, duet_tensor *a, int r, const int64_t *sh) { (void)r, (void)sh; duet_attrs at = {0}; return duet_apply(c, s, DUET_OP_SUM_TO, (duet_tensor *[]){a}, 1, &at); }
