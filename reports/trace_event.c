/* The Chrome trace-event JSON of a suite's runs: see report.h. Events are written as
 * the profiled runs report them, so a long run needs no memory for its timeline. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "report.h"

/* Where a run's events go: its process (the case) and thread (the run), with times
 * in microseconds from the run's first step, so every run of a case starts at 0 and
 * the modes line up. */
typedef struct timeline {
    FILE *f;
    int pid, tid;
    double origin_ms, end_ms; /* the first event's start, the latest one's end */
    bool started;
    int failed; /* a write failed or out of memory */
} timeline;

/* Writes one event (consumed) after the previous ones. */
static void put_event(timeline *t, cJSON *ev)
{
    char *text = ev ? cJSON_PrintUnformatted(ev) : NULL;
    if (!text || fputs(",\n", t->f) < 0 || fputs(text, t->f) < 0) t->failed = 1;
    free(text);
    cJSON_Delete(ev);
}

static cJSON *span(timeline *t, const char *name, const char *cat, double start_ms,
                   double dur_ms)
{
    if (start_ms + dur_ms > t->end_ms) t->end_ms = start_ms + dur_ms;
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "name", name);
    cJSON_AddStringToObject(ev, "cat", cat);
    cJSON_AddStringToObject(ev, "ph", "X");
    cJSON_AddNumberToObject(ev, "ts", (start_ms - t->origin_ms) * 1e3);
    cJSON_AddNumberToObject(ev, "dur", dur_ms * 1e3);
    cJSON_AddNumberToObject(ev, "pid", t->pid);
    cJSON_AddNumberToObject(ev, "tid", t->tid);
    return ev;
}

static void start_at(timeline *t, double ms)
{
    if (t->started) return;
    t->origin_ms = ms;
    t->started = true;
}

static void on_op(const duet_op_event *e, void *user)
{
    timeline *t = user;
    start_at(t, e->start_ms);
    char name[384], site[192];
    snprintf(name, sizeof name, "%s%s%s", e->scope, e->scope[0] ? "/" : "", e->op);
    cJSON *ev = span(t, name, e->op, e->start_ms, e->dur_ms);
    cJSON *args = cJSON_AddObjectToObject(ev, "args");
    cJSON_AddStringToObject(args, "op", e->op);
    cJSON_AddStringToObject(args, "scope", e->scope);
    if (e->file) {
        snprintf(site, sizeof site, "%s:%d", e->file, e->line);
        cJSON_AddStringToObject(args, "site", site);
    }
    if (e->members) cJSON_AddStringToObject(args, "fused", e->members);
    if (e->grad) cJSON_AddBoolToObject(args, "gradient", true);
    put_event(t, ev);
}

static void on_step(const duet_step_event *e, void *user)
{
    timeline *t = user;
    start_at(t, e->start_ms);
    char name[32];
    snprintf(name, sizeof name, "step %d", e->step);
    cJSON *ev = span(t, name, "step", e->start_ms, e->dur_ms);
    cJSON *args = cJSON_AddObjectToObject(ev, "args");
    cJSON_AddBoolToObject(args, "traced", e->traced);
    if (e->traced) cJSON_AddNumberToObject(args, "trace_ms", e->trace_ms);
    put_event(t, ev);
}

/* Metadata: names for a process or a thread, and the order to show threads in. */
static void put_meta(timeline *t, const char *what, const char *key, const char *name, int sort)
{
    cJSON *ev = cJSON_CreateObject(), *args = cJSON_AddObjectToObject(ev, "args");
    cJSON_AddStringToObject(ev, "name", what);
    cJSON_AddStringToObject(ev, "ph", "M");
    cJSON_AddNumberToObject(ev, "pid", t->pid);
    cJSON_AddNumberToObject(ev, "tid", t->tid);
    if (name) cJSON_AddStringToObject(args, key, name);
    else cJSON_AddNumberToObject(args, key, sort);
    put_event(t, ev);
}

/* A run that stopped: an instant event with the diagnostic where it stopped. */
static void put_stop(timeline *t, const duet_diag *d)
{
    cJSON *ev = cJSON_CreateObject(), *args = cJSON_AddObjectToObject(ev, "args");
    cJSON_AddStringToObject(ev, "name", "stopped");
    cJSON_AddStringToObject(ev, "ph", "i");
    cJSON_AddStringToObject(ev, "s", "t");
    cJSON_AddNumberToObject(ev, "ts", t->started ? (t->end_ms - t->origin_ms) * 1e3 : 0);
    cJSON_AddNumberToObject(ev, "pid", t->pid);
    cJSON_AddNumberToObject(ev, "tid", t->tid);
    cJSON_AddStringToObject(args, "diagnostic", d->message);
    put_event(t, ev);
}

static int write_trace(FILE *f, void *user)
{
    const duet_suite *s = user;
    int *pid = malloc(sizeof *pid * (size_t)(s->n ? s->n : 1)), npids = 0;
    cJSON *other = cJSON_CreateObject();
    cJSON_AddStringToObject(other, "duet", s->version);
    cJSON_AddStringToObject(other, "commit", s->commit);
    cJSON_AddStringToObject(other, "machine", s->machine);
    char *text = cJSON_PrintUnformatted(other);
    cJSON_Delete(other);
    if (!text || !pid) {
        free(text), free(pid);
        return -1;
    }
    /* the first event is process metadata for no process, so every later one follows a comma */
    fprintf(f, "{\"displayTimeUnit\":\"ms\",\"otherData\":%s,\"traceEvents\":[\n"
               "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":0,\"args\":{\"name\":\"duet\"}}",
            text);
    free(text);
    int failed = 0;
    for (int i = 0; i < s->n && !failed; i++) {
        const duet_result *r = &s->results[i];
        int first = 0; /* the case's first record: a process per case */
        while (strcmp(s->results[first].case_name, r->case_name)) first++;
        pid[i] = first < i ? pid[first] : ++npids;
        const duet_case *c = duet_case_find(r->case_name);
        if (!c || r->actual == DUET_OUTCOME_CRASH || r->actual == DUET_OUTCOME_TIMEOUT) continue;
        timeline t = {.f = f, .pid = pid[i], .tid = 1 + (int)r->run};
        char thread[32];
        snprintf(thread, sizeof thread, "%s%s", r->run == DUET_RUN_EAGER ? "" : "graph ",
                 duet_run_name(r->run));
        if (first == i) put_meta(&t, "process_name", "name", r->case_name, 0);
        put_meta(&t, "thread_name", "name", thread, 0);
        put_meta(&t, "thread_sort_index", "sort_index", NULL, (int)r->run);
        duet_profile_hooks h = {on_op, on_step, &t};
        duet_diag d;
        if (duet_profile_case(c, r->run, &s->opts, &h, &d)) put_stop(&t, &d);
        failed = t.failed;
    }
    free(pid);
    fputs("\n]}\n", f);
    return failed ? -1 : 0;
}

int duet_write_chrome_trace(const char *path, const duet_suite *s, char *err, size_t errlen)
{
    return duet_write_atomic(path, write_trace, (void *)s, err, errlen);
}
