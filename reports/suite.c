/* The suite a run fills (outputs are written by outfile.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report.h"

#ifndef DUET_GIT_COMMIT
#define DUET_GIT_COMMIT ""
#endif

void duet_cpu_model(char *buf, size_t n)
{
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        const char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) || !colon) continue;
        snprintf(buf, n, "%s", colon + 2);
        buf[strcspn(buf, "\n")] = 0;
        break;
    }
    fclose(f);
}

void duet_suite_init(duet_suite *s, const duet_run_opts *o, const char *shard)
{
    memset(s, 0, sizeof *s);
    s->opts = *o;
    snprintf(s->shard, sizeof s->shard, "%s", shard ? shard : "");
    duet_cpu_model(s->machine, sizeof s->machine);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    s->threads = cpus > 0 ? (int)cpus : 1;
    snprintf(s->version, sizeof s->version, "%s", DUET_VERSION);
    snprintf(s->commit, sizeof s->commit, "%s", DUET_GIT_COMMIT);
}

int duet_suite_add(duet_suite *s, const duet_result *r)
{
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 16;
        duet_result *a = realloc(s->results, sizeof *a * (size_t)cap);
        if (!a) return -1;
        s->results = a;
        s->cap = cap;
    }
    s->results[s->n++] = *r;
    return 0;
}

void duet_suite_free(duet_suite *s)
{
    free(s->results);
    memset(s, 0, sizeof *s);
}

int duet_suite_unexpected(const duet_suite *s)
{
    int k = 0;
    for (int i = 0; i < s->n; i++) k += !s->results[i].as_expected;
    return k;
}

int duet_suite_find(const duet_suite *s, const char *case_name, duet_run_kind run)
{
    for (int i = 0; i < s->n; i++)
        if (s->results[i].run == run && !strcmp(s->results[i].case_name, case_name)) return i;
    return -1;
}

const char *duet_opts_differing(const duet_run_opts *a, const duet_run_opts *b)
{
    return a->seed != b->seed     ? "options.seed"
           : a->steps != b->steps ? "options.steps"
           : a->rtol != b->rtol   ? "options.rtol"
           : a->atol != b->atol   ? "options.atol"
                                  : NULL;
}
