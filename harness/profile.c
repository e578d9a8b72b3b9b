/* Profiled runs: see profile.h. */
#include <string.h>

#include "localise.h"
#include "profile.h"
#include "timing.h"

int duet_profile_case(const duet_case *c, duet_run_kind run, const duet_run_opts *o,
                      const duet_profile_hooks *h, duet_diag *diag)
{
    memset(diag, 0, sizeof *diag);
    duet_session ss;
    if (duet_session_open(&ss, c, run, o->seed)) {
        if (!ss.ctx) {
            diag->code = DUET_ERR_OOM;
            snprintf(diag->message, sizeof diag->message, "out of memory opening a session");
            return -1;
        }
        *diag = *duet_ctx_error(ss.ctx);
        duet_session_close(&ss);
        return -1;
    }
    duet_ctx_set_profiler(ss.ctx, h->op, h->user); /* after the case's set-up */
    duet_tensor *out[16];
    int steps = duet_case_steps(c, o), rc = 0;
    for (int s = 0; s < steps && !rc; s++) {
        int traces = duet_fn_trace_count(ss.fn);
        double start = duet_now_ms();
        rc = duet_session_step(&ss, s, o->seed, out);
        duet_step_event e = {s, start, duet_now_ms() - start, duet_fn_trace_count(ss.fn) > traces,
                             0};
        if (e.traced) e.trace_ms = duet_fn_trace_ms(ss.fn) + duet_fn_optimise_ms(ss.fn);
        if (h->step) h->step(&e, h->user);
        duet_ctx_reset(ss.ctx);
    }
    if (rc) *diag = *duet_ctx_error(ss.ctx);
    duet_session_close(&ss);
    return rc ? -1 : 0;
}
