/* duet train's output files (issue 11 #1, #2, #3, #10, #11): --save is written whole
 * or not at all through a unique temporary file; --log is written in place, line by
 * line, under a lock; symlinks are followed, special files written in place, and
 * every output is checked before any work. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static char out[1 << 16];

/* `$DUET_BIN ARGS` with the redirections in capture, its stdout into out */
static int run_duet(const char *args, const char *capture)
{
    return tu_run_duet(args, capture, out, sizeof out);
}

/* `$DUET_BIN ARGS`, both streams captured */
static int duet(const char *args) { return run_duet(args, "2>&1"); }

/* The names in dir, sorted, one per line. */
static void listing(const char *dir, char *buf, size_t cap)
{
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "ls -A '%s'", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(buf, 1, cap - 1, p);
    buf[n] = 0;
    pclose(p);
}

static bool same_bytes(const char *a, const char *b)
{
    static char x[1 << 22], y[1 << 22];
    long n = tu_read_file(a, x, sizeof x), m = tu_read_file(b, y, sizeof y);
    return n >= 0 && n == m && !memcmp(x, y, (size_t)n);
}

/* Starts `duet ARGS` in the background (output to /dev/null); its pid. */
static pid_t start_duet(const char *args)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "exec %s %s >/dev/null 2>&1 </dev/null", getenv("DUET_BIN"), args);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid)
{
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

/* Waits (up to 60 s) until path holds at least one whole line. */
static void wait_for_a_line(const char *path)
{
    char text[4096];
    for (int i = 0; i < 6000; i++) {
        if (tu_read_file(path, text, sizeof text) > 0 && strchr(text, '\n')) return;
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    fail_msg("%s: no line within 60 s", path);
}

/* #1: two runs saving to one path leave one run's file, whole, never a mix; a second
 * run on a log another run is writing is refused, and the first one's log is its own. */
static void test_concurrent_runs(void **state)
{
    (void)state;
    char dir[32], args[1024], a[512], b[512], shared[512], text[256];
    tu_tmpdir(dir);
    snprintf(a, sizeof a, "%s/a.bin", dir);
    snprintf(b, sizeof b, "%s/b.bin", dir);
    snprintf(shared, sizeof shared, "%s/w.bin", dir);
    const char *run = "train ner --steps 2 --no-eval --quiet";
    snprintf(args, sizeof args, "%s --seed 1 --save %s", run, a);
    assert_int_equal(duet(args), 0);
    snprintf(args, sizeof args, "%s --seed 2 --save %s", run, b);
    assert_int_equal(duet(args), 0);
    for (int round = 0; round < 4; round++) {
        snprintf(args, sizeof args, "%s --seed 1 --save %s", run, shared);
        pid_t p1 = start_duet(args);
        snprintf(args, sizeof args, "%s --seed 2 --save %s", run, shared);
        pid_t p2 = start_duet(args);
        assert_int_equal(wait_exit(p1), 0);
        assert_int_equal(wait_exit(p2), 0);
        if (!same_bytes(shared, a) && !same_bytes(shared, b))
            fail_msg("round %d: the saved file is neither run's weights", round);
        snprintf(args, sizeof args, "train ner --steps 1 --no-eval --quiet --load %s", shared);
        assert_int_equal(duet(args), 0);
    }
    char names[1024];
    listing(dir, names, sizeof names);
    assert_string_equal(names, "a.bin\nb.bin\nw.bin\n"); /* no temporary file left */

    char log[512];
    snprintf(log, sizeof log, "%s/log.jsonl", dir);
    snprintf(args, sizeof args, "train ner --epochs 2 --steps 100 --no-eval --quiet --log %s", log);
    pid_t first = start_duet(args);
    wait_for_a_line(log);
    snprintf(args, sizeof args, "train ner --steps 3 --no-eval --quiet --seed 9 --log %s", log);
    int rc = duet(args);
    bool first_still_running = waitpid(first, NULL, WNOHANG) == 0;
    assert_int_equal(wait_exit(first), 0);
    if (first_still_running) { /* else the machine was too slow to overlap them */
        assert_int_equal(rc, 2);
        assert_non_null(strstr(out, "is writing this log"));
        assert_non_null(strstr(out, "another run (pid "));
    }
    static char logtext[1 << 16];
    assert_true(tu_read_file(log, logtext, sizeof logtext) > 0);
    assert_int_equal(tu_lines(logtext), 100);
    snprintf(text, sizeof text, "{\"step\":100,");
    assert_non_null(strstr(logtext, text));
    tu_rm_rf(dir);
}

/* #2: special files are written in place, symlinks are followed and stay symlinks. */
static void test_special_targets(void **state)
{
    (void)state;
    char dir[32], args[8192], path[512], link[512], text[1 << 14];
    tu_tmpdir(dir);
    /* /dev/null stays the device (as root, a rename would have replaced it) */
    assert_int_equal(duet("train ner --steps 1 --no-eval --quiet --save /dev/null --log /dev/null"), 0);
    struct stat st;
    assert_int_equal(stat("/dev/null", &st), 0);
    assert_true(S_ISCHR(st.st_mode));
    /* the log to stdout, as it runs */
    assert_int_equal(run_duet("train ner --steps 2 --no-eval --quiet --log /dev/stdout", "2>/dev/null"), 0);
    assert_non_null(strstr(out, "{\"step\":1,"));
    assert_non_null(strstr(out, "{\"step\":2,"));
    /* stdout redirected to a file: the log shares the stream's offset, neither
     * overwrites the other */
    snprintf(path, sizeof path, "%s/out.txt", dir);
    snprintf(args, sizeof args, "train ner --steps 2 --no-eval --quiet --log /dev/stdout > %s", path);
    assert_int_equal(duet(args), 0);
    assert_true(tu_read_file(path, text, sizeof text) > 0);
    assert_non_null(strstr(text, "{\"step\":1,"));
    assert_non_null(strstr(text, "{\"step\":2,"));
    assert_non_null(strstr(text, "2 steps in graph mode"));
    unlink(path);
    /* a FIFO, read by another process */
    snprintf(path, sizeof path, "%s/fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    snprintf(args, sizeof args, "train ner --steps 3 --no-eval --quiet --log %s >/dev/null & cat %s; wait", path,
             path);
    assert_int_equal(duet(args), 0);
    assert_int_equal(tu_lines(out), 3);
    /* a symlink to a file: the file is written, the link stays */
    snprintf(path, sizeof path, "%s/real.bin", dir);
    snprintf(link, sizeof link, "%s/link.bin", dir);
    assert_int_equal(symlink("real.bin", link), 0);
    snprintf(args, sizeof args, "train ner --steps 1 --no-eval --quiet --save %s", link);
    assert_int_equal(duet(args), 0);
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode) && st.st_size > 1000);
    /* again, over the existing file, and the log through a link too */
    snprintf(link, sizeof link, "%s/log-link", dir);
    assert_int_equal(symlink("sub/../real.log", link), 0);
    snprintf(path, sizeof path, "%s/sub", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(args, sizeof args, "train ner --steps 2 --no-eval --quiet --save %s/link.bin --log %s", dir,
             link);
    assert_int_equal(duet(args), 0);
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    snprintf(path, sizeof path, "%s/real.log", dir);
    assert_true(tu_read_file(path, text, sizeof text) > 0);
    assert_int_equal(tu_lines(text), 2);
    /* a new file keeps the umask's mode, not mkstemp's 0600 */
    snprintf(path, sizeof path, "%s/real.bin", dir);
    assert_int_equal(stat(path, &st), 0);
    mode_t mask = umask(0);
    umask(mask);
    assert_int_equal(st.st_mode & 0777, 0666 & ~mask);
    char names[1024];
    listing(dir, names, sizeof names);
    assert_string_equal(names, "fifo\nlink.bin\nlog-link\nreal.bin\nreal.log\nsub\n");
    tu_rm_rf(dir);
}

/* #3: a bad output fails before any work, and costs nothing: the log is untouched. The
 * log grows line by line while the run is going (tail -f), and an interrupted run
 * leaves no temporary file. */
static void test_outputs_checked_first(void **state)
{
    (void)state;
    char dir[32], args[1024], log[512], text[1 << 14];
    tu_tmpdir(dir);
    snprintf(log, sizeof log, "%s/log.jsonl", dir);
    tu_write_file(dir, "log.jsonl", "the last run's log\n", log, sizeof log);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    snprintf(args, sizeof args, "train ner --epochs 50 --log %s --save %s/no/such/dir/w.bin", log, dir);
    assert_int_equal(duet(args), 2);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 10); /* 50 epochs would take minutes */
    assert_int_equal(tu_lines(out), 1);
    assert_non_null(strstr(out, "--save: "));
    assert_non_null(strstr(out, "/no/such/dir/w.bin: its directory is not there"));
    tu_read_file(log, text, sizeof text);
    assert_string_equal(text, "the last run's log\n");

    /* tail -f: lines are there while the run goes on; SIGINT and SIGTERM leave only
     * whole lines and no temporary file */
    int sigs[] = {SIGINT, SIGTERM};
    for (int k = 0; k < 2; k++) {
        snprintf(args, sizeof args, "train ner --epochs 50 --no-eval --quiet --log %s --save %s/w.bin",
                 log, dir);
        pid_t pid = start_duet(args);
        wait_for_a_line(log);
        assert_int_equal(waitpid(pid, NULL, WNOHANG), 0); /* still training */
        kill(pid, sigs[k]);
        assert_int_equal(wait_exit(pid), -sigs[k]);
        long n = tu_read_file(log, text, sizeof text);
        assert_true(n > 0 && text[n - 1] == '\n');
        char names[1024];
        listing(dir, names, sizeof names);
        assert_string_equal(names, "log.jsonl\n");
    }
    tu_rm_rf(dir);
}

/* #10: the temporary file is unique, so a directory where "w.bin.tmp" used to go is in
 * nobody's way; #11: a path of 4095 characters works, and a failed run leaves the
 * file there as it was. */
static void test_long_paths_and_old_temp_names(void **state)
{
    (void)state;
    char dir[32], args[8400], path[512];
    tu_tmpdir(dir);
    snprintf(path, sizeof path, "%s/w.bin.tmp", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(args, sizeof args, "train ner --steps 1 --no-eval --quiet --save %s/w.bin --log %s/w.log",
             dir, dir);
    assert_int_equal(duet(args), 0);

    /* dir/ddd.../ddd.../f...: 4095 characters */
    char *deep = malloc(4096);
    assert_non_null(deep);
    size_t len = (size_t)snprintf(deep, 4096, "%s", dir);
    while (len + 1 + 200 < 4095 - 100) {
        len += (size_t)snprintf(deep + len, 4096 - len, "/%0200d", 0);
        assert_int_equal(mkdir(deep, 0700), 0);
    }
    deep[len++] = '/';
    memset(deep + len, 'f', 4095 - len);
    deep[4095] = 0;
    assert_int_equal(strlen(deep), 4095);
    FILE *f = fopen(deep, "w");
    assert_non_null(f);
    fputs("precious\n", f);
    fclose(f);
    tu_write_file(dir, "train.txt", "EU B-ORG\nrejects O\nGerman B-MSIC\n", path, sizeof path);
    tu_write_file(dir, "valid.txt", "EU B-ORG\n", path, sizeof path);
    snprintf(args, sizeof args, "train ner --data %s --steps 1 --save %s", dir, deep);
    assert_int_equal(duet(args), 2); /* the data is bad */
    char text[64];
    assert_int_equal(tu_read_file(deep, text, sizeof text), 9);
    assert_string_equal(text, "precious\n");
    snprintf(args, sizeof args, "train ner --steps 1 --no-eval --quiet --save %s", deep);
    assert_int_equal(duet(args), 0);
    snprintf(args, sizeof args, "train ner --steps 1 --no-eval --quiet --load %s", deep);
    assert_int_equal(duet(args), 0);
    free(deep);
    tu_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_runs),
        cmocka_unit_test(test_special_targets),
        cmocka_unit_test(test_outputs_checked_first),
        cmocka_unit_test(test_long_paths_and_old_temp_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
