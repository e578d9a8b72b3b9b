/* Threads change no bits: NER training with 1, 2 and 3 kernel threads, eagerly and as
 * a graph, gives the same losses and weights; and the context's thread setting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ner/train.h"
#include "testutil.h"

enum { STEPS = 6 };

/* The weights file of a run: malloc'ed bytes, their count in *len. */
static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (size_t got = 1; got;) {
        if (*len == cap) buf = realloc(buf, cap = cap ? 2 * cap : 1 << 16);
        assert_non_null(buf);
        *len += got = fread(buf + *len, 1, cap - *len, f);
    }
    fclose(f);
    return buf;
}

/* STEPS training steps on the synthetic corpus (batches of 32 padded sentences: big
 * enough that the matrix products split into tasks): the losses, and the weights at
 * the end, which show a difference in the last bit of any gradient (the first
 * losses can round it away). */
static unsigned char *train(duet_exec_mode mode, int threads, float *losses, size_t *nweights)
{
    char path[] = "/tmp/duet_threads_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    ner_run_opts o = ner_run_defaults();
    o.mode = mode;
    o.threads = threads;
    o.max_steps = STEPS;
    o.synth_train = 400;
    o.synth_valid = 10;
    o.evaluate = false;
    o.save_path = path;
    ner_run_result r;
    assert_int_equal(ner_run(&o, &r), NER_RUN_OK);
    assert_int_equal(r.steps, STEPS);
    memcpy(losses, r.losses, sizeof(float) * STEPS);
    ner_run_result_free(&r);
    unsigned char *w = read_file(path, nweights);
    remove(path);
    return w;
}

static void test_ner_losses_independent_of_threads(void **state)
{
    (void)state;
    float ref[STEPS], got[STEPS];
    size_t nref, n;
    unsigned char *wref = train(DUET_EAGER, 1, ref, &nref);
    const struct { duet_exec_mode mode; int threads; } runs[] = {
        {DUET_EAGER, 2}, {DUET_GRAPH, 1}, {DUET_GRAPH, 2}, {DUET_GRAPH, 3}};
    for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
        const char *mode = runs[i].mode == DUET_GRAPH ? "graph" : "eager";
        unsigned char *w = train(runs[i].mode, runs[i].threads, got, &n);
        for (int s = 0; s < STEPS; s++)
            if (memcmp(&got[s], &ref[s], sizeof(float)))
                fail_msg("%s with %d threads, step %d: loss %.9g, eager with 1 thread %.9g", mode,
                         runs[i].threads, s, got[s], ref[s]);
        if (n != nref || memcmp(w, wref, n))
            fail_msg("%s with %d threads: the weights after %d steps differ from eager's with 1",
                     mode, runs[i].threads, STEPS);
        free(w);
    }
    free(wref);
}

static void test_set_threads(void **state)
{
    (void)state;
    duet_ctx *c = duet_ctx_new();
    assert_true(duet_ctx_threads(c) >= 1); /* the online CPUs */
    assert_int_equal(duet_ctx_set_threads(c, 3), DUET_OK);
    assert_int_equal(duet_ctx_threads(c), 3);
    /* out of range: an error value, the setting and the context unchanged */
    assert_int_equal(duet_ctx_set_threads(c, -1), DUET_ERR_ARG);
    assert_int_equal(duet_ctx_set_threads(c, DUET_MAX_THREADS + 1), DUET_ERR_ARG);
    assert_int_equal(duet_ctx_threads(c), 3);
    assert_int_equal(duet_ctx_status(c), DUET_OK);
    assert_int_equal(duet_ctx_set_threads(c, 0), DUET_OK);
    assert_true(duet_ctx_threads(c) >= 1);
    duet_ctx_free(c);
    const char *n = duet_numerics();
    assert_true(!strcmp(n, "avx512-fma") || !strcmp(n, "avx2-fma") || !strcmp(n, "portable"));
    const char *env = getenv("DUET_PORTABLE_NUMERICS");
    if (env && *env && strcmp(env, "0")) assert_string_equal(n, "portable");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ner_losses_independent_of_threads),
        cmocka_unit_test(test_set_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
