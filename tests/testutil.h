/* Test helpers: run an op body on given inputs and check values and gradients.
 * A body is a plain function of (ctx, inputs) -> output, so the same body runs
 * eagerly and (once graph mode exists) traced. */
#ifndef DUET_TESTUTIL_H
#define DUET_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs these first */
#include <cmocka.h>

#include "duet/duet.h"

typedef duet_tensor *(*tu_body)(duet_ctx *ctx, duet_tensor **in, void *user);

typedef struct tu_input {
    duet_dtype dtype;
    int rank;
    int64_t shape[DUET_MAX_RANK];
    const void *data; /* f32, i32 or bool (uint8_t) host data */
    bool diff;        /* check the gradient with respect to this input */
} tu_input;

/* Runs body once eagerly; copies the output's values (as float) into out (up to
 * cap values) and its shape into shape/rank. Returns the context status. */
duet_status tu_run(tu_body body, void *user, const tu_input *in, int nin, float *out, int cap,
                   int *rank, int64_t *shape);

/* Forward checks also trace the body (graph mode) with exact shapes and with every
 * dim but the last relaxed to None; a test whose op needs concrete leading dims sets
 * this to skip the relaxed run. */
extern bool tu_no_relax;

/* Asserts out == expect elementwise within tol (absolute), plus the shape. */
void tu_check_forward(tu_body body, void *user, const tu_input *in, int nin, int rank,
                      const int64_t *shape, const float *expect, float tol);

/* Checks d/dx sum(w * body(x)), eagerly and in a traced step (bit-identical), for fixed pseudo-random w against central finite
 * differences (step h, loss accumulated in double) for every input marked diff:
 * |analytic - numeric| <= atol + rtol * |numeric|. */
void tu_check_grad(tu_body body, void *user, const tu_input *in, int nin, double h, double atol,
                   double rtol);

/* Asserts the context holds error `code` from `op` whose message mentions needle,
 * then clears it and checks the context is usable again. */
void tu_expect_error(duet_ctx *c, duet_status code, const char *op, const char *needle);

/* Deterministic pseudo-random fill in [lo, hi). */
void tu_fill(float *x, int n, unsigned seed, float lo, float hi);

/* Runs `$DUET_BIN ARGS` (the duet binary ctest names) with the shell redirections in
 * capture, reading what reaches its stdout into out (cap bytes, NUL-terminated);
 * returns the exit code. */
int tu_run_duet(const char *args, const char *capture, char *out, size_t cap);
/* Lines of s. */
int tu_lines(const char *s);
/* Occurrences of needle in hay (not overlapping). */
int tu_count(const char *hay, const char *needle);
/* g as duet_graph_write prints it (each fused node's members under it when
 * expand_fused): malloc'ed text. */
char *tu_graph_text(const duet_graph *g, bool expand_fused);
/* A fresh directory under /tmp (dir: at least 32 bytes); tu_rm_rf removes it. */
void tu_tmpdir(char *dir);
void tu_rm_rf(const char *dir);
/* Writes text to dir/name (asserting), returning the path in path. */
void tu_write_file(const char *dir, const char *name, const char *text, char *path, size_t pathlen);
/* The whole of a file into buf (at most cap - 1 bytes, NUL-terminated); bytes read, or
 * -1 when it cannot be opened. */
long tu_read_file(const char *path, char *buf, size_t cap);

/* Skips the current test with a printed reason. */
#define TU_SKIP(...)                                                                      \
    do {                                                                                  \
        printf("[  SKIP    ] " __VA_ARGS__);                                              \
        printf("\n");                                                                     \
        skip();                                                                           \
    } while (0)

#endif
