/* Output paths, checked before a run: see report.h. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"

/* The directory part of path ("." for a bare name). */
static void dir_of(const char *path, char *buf, size_t n)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(buf, n, ".");
    else if (slash == path)
        snprintf(buf, n, "/");
    else
        snprintf(buf, n, "%.*s", (int)(slash - path), path);
}

static int writable_dir(const char *dir, const char *what, char *err, size_t errlen)
{
    struct stat st;
    if (stat(dir, &st)) {
        snprintf(err, errlen, "%s: %s", what, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: not a directory", what);
        return -1;
    }
    if (access(dir, W_OK | X_OK)) {
        snprintf(err, errlen, "%s: not writable: %s", what, strerror(errno));
        return -1;
    }
    return 0;
}

int duet_check_output_file(const char *path, char *err, size_t errlen)
{
    char dir[4096];
    struct stat st;
    if (!path[0] || path[strlen(path) - 1] == '/' || (!stat(path, &st) && S_ISDIR(st.st_mode))) {
        snprintf(err, errlen, "%s: is a directory, not a file", path);
        return -1;
    }
    dir_of(path, dir, sizeof dir);
    if (writable_dir(dir, dir, err, errlen)) return -1;
    return 0;
}

int duet_prepare_output_dir(const char *dir, char *err, size_t errlen)
{
    if (!dir[0]) {
        snprintf(err, errlen, "'': not a directory");
        return -1;
    }
    if (mkdir(dir, 0777) && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot make the directory: %s", dir, strerror(errno));
        return -1;
    }
    return writable_dir(dir, dir, err, errlen);
}
