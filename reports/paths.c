/* Output directories, checked before a run: see report.h. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"

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
