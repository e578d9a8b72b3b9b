/* TEMPORARY stub: replaced by the real family file. */
#include "../internal.h"
static int stub_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin, duet_type *o) { (void)a,(void)in,(void)nin,(void)o; return duet_fail(c, DUET_ERR_INTERNAL, "not implemented"); }
const duet_op_def duet_opdef_greater = {"greater", -1, 0, stub_infer, 0, 0, 0, 0};
const duet_op_def duet_opdef_equal = {"equal", -1, 0, stub_infer, 0, 0, 0, 0};
const duet_op_def duet_opdef_logical_and = {"logical_and", -1, 0, stub_infer, 0, 0, 0, 0};
const duet_op_def duet_opdef_logical_not = {"logical_not", -1, 0, stub_infer, 0, 0, 0, 0};
const duet_op_def duet_opdef_where = {"where", -1, 0, stub_infer, 0, 0, 0, 0};
const duet_op_def duet_opdef_cast = {"cast", -1, 0, stub_infer, 0, 0, 0, 0};
duet_tensor *duet_where_at(duet_site s, duet_ctx *c, duet_tensor *a, duet_tensor *b, duet_tensor *d) { duet_attrs at = {0}; return duet_apply(c, s, DUET_OP_WHERE, (duet_tensor *[]){a, b, d}, 3, &at); }
duet_tensor *duet_greater_at(duet_site s, duet_ctx *c, duet_tensor *a, duet_tensor *b) { duet_attrs at = {0}; return duet_apply(c, s, DUET_OP_GREATER, (duet_tensor *[]){a, b}, 2, &at); }
