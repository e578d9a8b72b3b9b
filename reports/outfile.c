/* Output files: see outfile.h for what happens to each kind of target. */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef NAME_MAX
#define NAME_MAX 255
#endif

/* A symlink chain longer than this is a loop, as the kernel's own limit (ELOOP) says. */
#define MAX_LINK_HOPS 40

/* Where a path's bytes go. */
typedef struct target {
    char *path;      /* symlinks followed: the file to write or create */
    bool exists;
    struct stat st;  /* when it exists */
    bool in_place;   /* not replaced by a rename: see outfile.h */
    int own_fd;      /* 1 or 2 when it is this process's stdout or stderr, else -1 */
} target;

static int fail(char *err, size_t errlen, const char *path, const char *what, int e)
{
    snprintf(err, errlen, "%s: %s%s%s", path, what, e ? ": " : "", e ? strerror(e) : "");
    return -1;
}

/* The directory part of path ("." for a bare name), malloc'ed. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) memcpy(d, path, n), d[n] = 0;
    return d;
}

/* Follows path's symlinks one hop at a time (realpath cannot: the last one may name a
 * file that does not exist yet). */
static int resolve(const char *path, target *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    t->own_fd = -1;
    if (!*path) return fail(err, errlen, "''", "empty path", 0);
    /* A non-regular target is written through the path as given: the kernel follows
     * /dev/stdout's /proc/self/fd/1 to a pipe whose readlink is no path at all. */
    if (stat(path, &t->st) == 0 && !S_ISREG(t->st.st_mode)) {
        if (S_ISDIR(t->st.st_mode)) return fail(err, errlen, path, "is a directory", 0);
        t->exists = t->in_place = true;
        return (t->path = strdup(path)) ? 0 : fail(err, errlen, path, "out of memory", 0);
    }
    char *cur = strdup(path);
    for (int hops = 0; cur; hops++) {
        if (lstat(cur, &t->st) != 0) {
            int e = errno;
            if (e != ENOENT) {
                free(cur);
                return fail(err, errlen, path, "cannot write", e);
            }
            break;
        }
        if (!S_ISLNK(t->st.st_mode)) {
            t->exists = true;
            break;
        }
        if (hops == MAX_LINK_HOPS) {
            free(cur);
            return fail(err, errlen, path, "cannot write", ELOOP);
        }
        char link[PATH_MAX];
        ssize_t n = readlink(cur, link, sizeof link - 1);
        if (n < 0) {
            int e = errno;
            free(cur);
            return fail(err, errlen, path, "cannot read the symlink", e);
        }
        link[n] = 0;
        char *dir = link[0] == '/' ? NULL : dir_of(cur), *next = NULL;
        size_t len = (dir ? strlen(dir) + 1 : 0) + (size_t)n + 1;
        if ((dir || link[0] == '/') && (next = malloc(len)))
            snprintf(next, len, "%s%s%s", dir ? dir : "", dir ? "/" : "", link);
        free(dir);
        free(cur);
        cur = next;
    }
    if (!cur) return fail(err, errlen, path, "out of memory", 0);
    t->path = cur;
    if (t->exists && !S_ISREG(t->st.st_mode)) { /* it changed since the stat above */
        free(t->path);
        return fail(err, errlen, path, "is not a regular file any more", 0);
    }
    /* written through that descriptor, sharing its offset: opened anew, the file would
     * be written from its start, under what the stream itself writes */
    struct stat std;
    for (int fd = 1; fd <= 2 && t->exists && t->own_fd < 0; fd++)
        if (fstat(fd, &std) == 0 && std.st_dev == t->st.st_dev && std.st_ino == t->st.st_ino)
            t->in_place = true, t->own_fd = fd;
    return 0;
}

/* A new file in the target's directory must be possible: the temporary file, or the
 * log itself. */
static int check_dir(const char *path, const target *t, char *err, size_t errlen)
{
    char *dir = dir_of(t->path);
    if (!dir) return fail(err, errlen, path, "out of memory", 0);
    struct stat st;
    int rc = 0;
    if (stat(dir, &st) != 0)
        rc = fail(err, errlen, path, "its directory is not there", errno);
    else if (!S_ISDIR(st.st_mode))
        rc = fail(err, errlen, path, "its directory is not a directory", 0);
    else if (access(dir, W_OK | X_OK) != 0)
        rc = fail(err, errlen, path, "cannot create files in its directory", errno);
    free(dir);
    return rc;
}

static int check(const char *path, target *t, char *err, size_t errlen)
{
    if (resolve(path, t, err, errlen)) return -1;
    /* the file itself when it exists (a target written in place always does); the
     * directory too when a temporary file or a new file goes there */
    int rc = 0;
    if (t->exists && access(t->path, W_OK) != 0)
        rc = fail(err, errlen, path, "cannot write", errno);
    else if (!t->in_place)
        rc = check_dir(path, t, err, errlen);
    if (rc) free(t->path);
    return rc;
}

int duet_output_check(const char *path, char *err, size_t errlen)
{
    target t;
    if (check(path, &t, err, errlen)) return -1;
    free(t.path);
    return 0;
}

/* ".NAME.XXXXXX" beside the target: hidden, named after it, and short enough for
 * NAME_MAX and PATH_MAX however long the target's own name (a name cut to fit still
 * says whose it is; mkstemp makes it unique). */
static char *temp_template(const char *target_path)
{
    const char *slash = strrchr(target_path, '/');
    size_t dir_len = slash ? (size_t)(slash - target_path) + 1 : 0;
    const char *base = target_path + dir_len;
    size_t keep = strlen(base), suffix = sizeof ".XXXXXX" - 1;
    if (keep > NAME_MAX - 1 - suffix) keep = NAME_MAX - 1 - suffix;
    if (dir_len + 1 + keep + suffix >= PATH_MAX) {
        if (dir_len + 1 + suffix >= PATH_MAX) return NULL;
        keep = PATH_MAX - 1 - dir_len - 1 - suffix;
    }
    char *tmp = malloc(dir_len + 1 + keep + suffix + 1);
    if (tmp)
        snprintf(tmp, dir_len + 1 + keep + suffix + 1, "%.*s.%.*s.XXXXXX", (int)dir_len,
                 target_path, (int)keep, base);
    return tmp;
}

/* The signals that would end the process while a temporary file exists: they wait
 * until it is renamed or removed. */
static void block_exits(sigset_t *old)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGINT);
    sigaddset(&s, SIGTERM);
    sigaddset(&s, SIGHUP);
    sigaddset(&s, SIGQUIT);
    sigprocmask(SIG_BLOCK, &s, old);
}

/* Syncs and closes f; false on any write error (or a failed sync of a regular file). */
static bool finish(FILE *f, bool regular, int *e)
{
    bool ok = !ferror(f) && fflush(f) == 0;
    if (!ok) *e = errno;
    if (ok && regular && fsync(fileno(f)) != 0) ok = false, *e = errno;
    if (fclose(f) != 0 && ok) ok = false, *e = errno;
    return ok;
}

/* A descriptor for a target written in place. */
static int open_in_place(const target *t)
{
    return t->own_fd >= 0 ? dup(t->own_fd) : open(t->path, O_WRONLY | O_APPEND);
}

static int write_in_place(const target *t, const char *path, int (*write)(FILE *f, void *user),
                          void *user, char *err, size_t errlen)
{
    int fd = open_in_place(t);
    FILE *f = fd >= 0 ? fdopen(fd, "a") : NULL;
    if (!f) {
        int e = errno;
        if (fd >= 0) close(fd);
        return fail(err, errlen, path, "cannot write", e);
    }
    int rc = write(f, user), e = 0;
    bool ok = finish(f, S_ISREG(t->st.st_mode), &e);
    if (rc) return fail(err, errlen, path, "the contents could not be written", 0);
    return ok ? 0 : fail(err, errlen, path, "write error", e);
}

static mode_t new_file_mode(const target *t)
{
    if (t->exists) return t->st.st_mode & 07777;
    mode_t mask = umask(0);
    umask(mask);
    return 0666 & ~mask;
}

int duet_write_atomic(const char *path, int (*write)(FILE *f, void *user), void *user, char *err,
                      size_t errlen)
{
    target t;
    if (check(path, &t, err, errlen)) return -1;
    if (t.in_place) {
        int rc = write_in_place(&t, path, write, user, err, errlen);
        free(t.path);
        return rc;
    }
    char *tmp = temp_template(t.path);
    if (!tmp) {
        free(t.path);
        return fail(err, errlen, path, "too long to put a temporary file beside it", ENAMETOOLONG);
    }
    sigset_t old;
    block_exits(&old);
    int rc = -1, fd = mkstemp(tmp), e = errno;
    FILE *f = NULL;
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create a temporary file in its directory: %s", path,
                 strerror(e));
    } else if (fchmod(fd, new_file_mode(&t)) != 0 || !(f = fdopen(fd, "w"))) {
        fail(err, errlen, tmp, "cannot write", errno);
        close(fd);
    } else {
        int wrote = write(f, user);
        bool ok = finish(f, true, &e);
        if (wrote) fail(err, errlen, path, "the contents could not be written", 0);
        else if (!ok) snprintf(err, errlen, "%s: write error in %s: %s", path, tmp, strerror(e));
        else if (rename(tmp, t.path) != 0)
            snprintf(err, errlen, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
        else rc = 0;
    }
    if (rc && fd >= 0) unlink(tmp);
    sigprocmask(SIG_SETMASK, &old, NULL);
    free(tmp);
    free(t.path);
    return rc;
}

/* A POSIX record lock rather than flock: F_GETLK can say who holds it. */
static int lock_log(int fd, const char *path, char *err, size_t errlen)
{
    struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_SETLK, &l) == 0) return 0;
    int e = errno;
    if (e != EACCES && e != EAGAIN) return fail(err, errlen, path, "cannot lock", e);
    struct flock who = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_GETLK, &who) == 0 && who.l_type != F_UNLCK)
        snprintf(err, errlen, "%s: another run (pid %ld) is writing this log", path,
                 (long)who.l_pid);
    else
        snprintf(err, errlen, "%s: another run is writing this log", path);
    return -1;
}

FILE *duet_log_open(const char *path, char *err, size_t errlen)
{
    target t;
    if (check(path, &t, err, errlen)) return NULL;
    int fd = t.in_place ? open_in_place(&t) : open(t.path, O_WRONLY | O_CREAT, new_file_mode(&t));
    FILE *f = NULL;
    if (fd < 0) {
        fail(err, errlen, path, "cannot write", errno);
    } else if (!t.in_place && lock_log(fd, path, err, errlen)) {
        close(fd);
    } else if (!t.in_place && ftruncate(fd, 0) != 0) {
        fail(err, errlen, path, "cannot empty", errno);
        close(fd);
    } else if (!(f = fdopen(fd, "w"))) {
        fail(err, errlen, path, "cannot write", errno);
        close(fd);
    }
    free(t.path);
    return f;
}

int duet_log_close(FILE *f, const char *path, char *err, size_t errlen)
{
    struct stat st;
    int e = 0;
    bool regular = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
    return finish(f, regular, &e) ? 0 : fail(err, errlen, path, "write error", e);
}

int duet_same_output(const char *a, const char *b)
{
    target ta, tb;
    char err[16];
    if (resolve(a, &ta, err, sizeof err)) return 0;
    if (resolve(b, &tb, err, sizeof err)) {
        free(ta.path);
        return 0;
    }
    /* two outputs to one device or FIFO are what was asked for; to one file, a clash */
    int same = ta.in_place || tb.in_place ? 0
               : ta.exists && tb.exists   ? ta.st.st_dev == tb.st.st_dev && ta.st.st_ino == tb.st.st_ino
                                          : !strcmp(ta.path, tb.path);
    free(ta.path);
    free(tb.path);
    return same;
}
