/* gnuplot as a program: see plot.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plot.h"
#include "report.h"

/* $DUET_GNUPLOT names the program (tests point it at /nonexistent); otherwise the
 * first executable gnuplot on PATH. */
static void find_gnuplot(duet_gnuplot *g)
{
    const char *env = getenv("DUET_GNUPLOT");
    if (env && env[0]) {
        snprintf(g->program, sizeof g->program, "%s", env);
        g->available = access(g->program, X_OK) == 0;
        return;
    }
    snprintf(g->program, sizeof g->program, "gnuplot");
    const char *path = getenv("PATH");
    for (const char *p = path ? path : ""; *p && !g->available;) {
        size_t len = strcspn(p, ":");
        char cand[sizeof g->program];
        if (len && snprintf(cand, sizeof cand, "%.*s/gnuplot", (int)len, p) < (int)sizeof cand &&
            access(cand, X_OK) == 0) {
            memcpy(g->program, cand, sizeof cand);
            g->available = true;
        }
        p += len + (p[len] == ':');
    }
}

int duet_gnuplot_open(duet_gnuplot *g, char *err, size_t errlen)
{
    memset(g, 0, sizeof *g);
    find_gnuplot(g);
    if (!g->available) return 0;
    const char *tmp = getenv("TMPDIR");
    snprintf(g->scratch, sizeof g->scratch, "%s/duet-plot-XXXXXX",
             tmp && tmp[0] && strlen(tmp) < 40 && !strchr(tmp, '\'') ? tmp : "/tmp"); /* quoted in scripts */
    if (!mkdtemp(g->scratch)) {
        snprintf(err, errlen, "%s: cannot make a directory for plots: %s", g->scratch,
                 strerror(errno));
        g->scratch[0] = 0;
        return -1;
    }
    return 0;
}

static void scratch_path(const duet_gnuplot *g, const char *stem, const char *ext, char *buf,
                         size_t n)
{
    snprintf(buf, n, "%s/%s.%s", g->scratch, stem, ext);
}

static const char *const scratch_exts[] = {"dat", "gp", "err", "svg", "png"};

void duet_gnuplot_close(duet_gnuplot *g)
{
    if (!g->scratch[0]) return;
    rmdir(g->scratch); /* each draw removed its files */
    g->scratch[0] = 0;
}

static int write_commands(FILE *f, void *user)
{
    const void *const *a = user; /* plot, data path, svg path, png path */
    const duet_plot *p = a[0];
    /* noenhanced: op names such as var_read are text, not subscripts */
    fprintf(f, "set datafile missing 'NaN'\n"
               "set terminal svg size 560,330 dynamic noenhanced font 'sans,12' background '#ffffff'\n"
               "set output '%s'\n"
               "set grid lc rgb '#dddddd'\n"
               "set key below\n",
            (const char *)a[2]);
    p->commands(f, a[1], p->user);
    fprintf(f, "set terminal pngcairo size 720,408 noenhanced font 'sans,10' background '#ffffff'\n"
               "set output '%s'\n"
               "replot\n"
               "unset output\n",
            (const char *)a[3]);
    return 0;
}

static int write_data(FILE *f, void *user)
{
    const duet_plot *p = user;
    return p->data(f, p->user);
}

/* The first line gnuplot wrote on stderr, for the page. */
static void first_line(const char *path, char *buf, size_t n)
{
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f) && !buf[0]) {
        line[strcspn(line, "\n")] = 0;
        if (line[strspn(line, " \t^")]) snprintf(buf, n, "%s", line + strspn(line, " \t"));
    }
    fclose(f);
}

static int run_gnuplot(const duet_gnuplot *g, const char *script, const char *errpath)
{
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY), out = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) _exit(127);
        execl(g->program, g->program, script, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static bool non_empty(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && st.st_size > 0;
}

static int copy_file(FILE *f, void *user)
{
    FILE *src = fopen(user, "rb");
    if (!src) return -1;
    char buf[1 << 14];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, src)) > 0)
        if (fwrite(buf, 1, n, f) != n) break;
    int rc = ferror(src) || ferror(f) ? -1 : 0;
    fclose(src);
    return rc;
}

int duet_gnuplot_draw(duet_gnuplot *g, const char *outdir, const duet_plot *p, char *why,
                      size_t whylen)
{
    if (!g->available) {
        snprintf(why, whylen, "plot unavailable: gnuplot was not found (%s); install gnuplot-nox",
                 g->program);
        return -1;
    }
    char path[5][128], dst[4096], err[512];
    for (int k = 0; k < 5; k++) scratch_path(g, p->stem, scratch_exts[k], path[k], sizeof path[k]);
    const void *args[4] = {p, path[0], path[3], path[4]};
    int rc = duet_write_atomic(path[0], write_data, (void *)p, err, sizeof err) ||
                     duet_write_atomic(path[1], write_commands, args, err, sizeof err)
                 ? -1
                 : 0;
    if (rc) {
        snprintf(why, whylen, "plot failed: %s", err);
    } else if (run_gnuplot(g, path[1], path[2]) || !non_empty(path[3]) || !non_empty(path[4])) {
        first_line(path[2], err, sizeof err);
        snprintf(why, whylen, "plot failed: gnuplot: %s", err[0] ? err : "no output");
        rc = -1;
    }
    for (int k = 3; k < 5 && !rc; k++) {
        snprintf(dst, sizeof dst, "%s/%s.%s", outdir, p->stem, scratch_exts[k]);
        if (duet_write_atomic(dst, copy_file, path[k], err, sizeof err)) {
            snprintf(why, whylen, "plot failed: %s", err);
            rc = -1;
        }
    }
    for (int k = 0; k < 5; k++) remove(path[k]);
    return rc;
}
