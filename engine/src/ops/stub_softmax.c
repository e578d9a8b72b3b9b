/* TEMPORARY stub: replaced by the real family file. */
#include "../internal.h"
static int stub_infer(duet_ctx *c, const duet_attrs *a, duet_tensor *const *in, int nin, duet_type *o) { (void)a,(void)in,(void)nin,(void)o; return duet_fail(c, DUET_ERR_INTERNAL, "not implemented"); }
const duet_op_def duet_opdef_softmax = {"softmax", -1, 0, stub_infer, 0, 0, 0, 0};
const duet_op_def duet_opdef_log_softmax = {"log_softmax", -1, 0, stub_infer, 0, 0, 0, 0};
const duet_op_def duet_opdef_sparse_xent = {"sparse_xent", -1, 0, stub_infer, 0, 0, 0, 0};
const duet_op_def duet_opdef_one_hot = {"one_hot", -1, 0, stub_infer, 0, 0, 0, 0};
