/* Crash isolation: a run in a child process with a timeout. The child sends its
 * result record through a pipe; a child that dies or runs out of time becomes the
 * outcome `crash` (with its signal) or `timeout`, and the suite goes on. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "result.h"
#include "timing.h"

static void child(int fd, const duet_case *c, duet_run_kind run, const duet_run_opts *o)
{
    /* a crash must kill the child, whatever handlers the host program installed (a
     * test framework's longjmp would run the parent's code on in the child) */
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof fatal / sizeof *fatal; i++) signal(fatal[i], SIG_DFL);
    duet_result r;
    duet_run_case(c, run, o, &r);
    const char *p = (const char *)&r;
    size_t left = sizeof r;
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) _exit(3);
        p += n, left -= (size_t)n;
    }
    _exit(0);
}

/* Reads the record; returns bytes read, stopping at EOF or when the time is up. */
static size_t receive(int fd, duet_result *r, double timeout_s, bool *timed_out)
{
    char *p = (char *)r;
    size_t got = 0;
    double end = duet_now_ms() + timeout_s * 1e3;
    while (got < sizeof *r) {
        int wait = -1;
        if (timeout_s > 0) {
            double left = end - duet_now_ms();
            if (left <= 0) {
                *timed_out = true;
                break;
            }
            wait = (int)left + 1;
        }
        struct pollfd pfd = {fd, POLLIN, 0};
        int k = poll(&pfd, 1, wait);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) continue; /* the deadline is checked above */
        ssize_t n = read(fd, p + got, sizeof *r - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    return got;
}

static void died(const duet_case *c, duet_run_kind run, const duet_run_opts *o, duet_result *r,
                 duet_outcome how, int sig)
{
    memset(r, 0, sizeof *r);
    snprintf(r->case_name, sizeof r->case_name, "%s", c->name);
    snprintf(r->case_file, sizeof r->case_file, "%s", c->file);
    r->run = run;
    r->expected = c->expect[run].outcome;
    r->actual = how;
    r->signal = sig;
    r->steps = o->steps > 0 ? o->steps : c->steps;
    if (how == DUET_OUTCOME_TIMEOUT)
        snprintf(r->why, sizeof r->why, "no result after %g s; the run was killed", o->timeout_s);
    else
        snprintf(r->why, sizeof r->why, "the run's process died: %s", sig ? strsignal(sig) : "no result");
    r->as_expected = r->expected == how;
}

int duet_run_isolated(const duet_case *c, duet_run_kind run, const duet_run_opts *o,
                      duet_result *r)
{
    int fds[2];
    if (pipe(fds)) return duet_run_case(c, run, o, r);
    fflush(NULL); /* buffered output must not be written twice */
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]), close(fds[1]);
        return duet_run_case(c, run, o, r);
    }
    if (pid == 0) {
        close(fds[0]);
        child(fds[1], c, run, o);
    }
    close(fds[1]);
    bool timed_out = false;
    size_t got = receive(fds[0], r, o->timeout_s, &timed_out);
    close(fds[0]);
    if (timed_out) kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (got == sizeof *r && !timed_out) return 0;
    died(c, run, o, r, timed_out ? DUET_OUTCOME_TIMEOUT : DUET_OUTCOME_CRASH,
         WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return 0;
}
