/* TEMPORARY stub: replaced by the real family file. */
#include "../internal.h"
static int stub_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin, duet_type *o) { (void)a,(void)in,(void)nin,(void)o; return duet_fail(c, DUET_ERR_INTERNAL, "not implemented"); }
const duet_op_def duet_opdef_sum = {"sum", -1, 0, stub_infer, 0, 0, 0, 0};
const duet_op_def duet_opdef_max = {"max", -1, 0, stub_infer, 0, 0, 0, 0};
const duet_op_def duet_opdef_any = {"any", -1, 0, stub_infer, 0, 0, 0, 0};
const duet_op_def duet_opdef_size = {"size", -1, 0, stub_infer, 0, 0, 0, 0};
duet_tensor *duet_sum_at(duet_site s, duet_ctx *c, duet_tensor *a, unsigned ax, bool k) { (void)ax, (void)k; duet_attrs at = {0}; return duet_apply(c, s, DUET_OP_SUM, (duet_tensor *[]){a}, 1, &at); }
