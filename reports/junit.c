/* `duet run --junit FILE`: JUnit XML, which CI systems show natively. One testsuite
 * (the run), one testcase per (case, run): classname = the case, name = the run
 * (eager, strict, specialize, guard). A run that was not as expected is a <failure>
 * whose message is the why and whose text is the diagnostic. Written to the JUnit
 * schema CI tools validate against (../shared/schemas/JUnit.xsd in the tests). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "report.h"

/* Length of the valid UTF-8 sequence at s that XML 1.0 may hold, or 0: overlong
 * forms, surrogates and code points past U+10FFFF are not characters. */
static int utf8_char(const unsigned char *s)
{
    if (s[0] < 0x80) return 1;
    int n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (!n || s[0] > 0xf4) return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
        return 0;
    return n;
}

/* s as XML character data. Control characters XML 1.0 cannot hold at all, and bytes
 * that are not UTF-8, become '?'. In an attribute, tabs and newlines are written as
 * references, which parsers keep (a literal one would be read as a space). */
static void xml_escaped(FILE *f, const char *s, bool attribute)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int n = utf8_char(p);
        if (!n || (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')) {
            fputc('?', f);
            p++;
            continue;
        }
        switch (*p) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        case '\r': fputs("&#13;", f); break;
        case '\t': fputs(attribute ? "&#9;" : "\t", f); break;
        case '\n': fputs(attribute ? "&#10;" : "\n", f); break;
        default: fwrite(p, 1, (size_t)n, f);
        }
        p += n;
    }
}

static void attr(FILE *f, const char *name, const char *value)
{
    fprintf(f, " %s=\"", name);
    xml_escaped(f, value, true);
    fputc('"', f);
}

/* The seconds a run took: its own steps, and the eager reference's in a graph run. */
static double run_seconds(const duet_result *r)
{
    double ms = 0;
    for (int i = 0; i < r->steps_run; i++) ms += r->step_ms[i] + r->eager_step_ms[i];
    return isfinite(ms) && ms > 0 ? ms / 1000 : 0;
}

/* What a failure says beyond its message: the diagnostic as the terminal prints it,
 * and where a divergence starts. */
static void failure_text(FILE *f, const duet_result *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!m) return;
    fprintf(m, "%s\n", r->why);
    duet_diag_print(m, &r->diag);
    if (r->op_step >= 0)
        fprintf(m, "first divergent op: %s at %s:%d%s%s (step %d)\n", r->op_name, r->op_file,
                r->op_line, r->op_scope[0] ? " in " : "", r->op_scope, r->op_step);
    if (r->passes_at_fault[0])
        fprintf(m, "the divergence disappears without the pass: %s\n", r->passes_at_fault);
    if (fclose(m) == 0) xml_escaped(f, text, false);
    free(text);
}

static void property(FILE *f, const char *name, const char *value)
{
    fputs("      <property", f);
    attr(f, "name", name);
    attr(f, "value", value);
    fputs("/>\n", f);
}

static int write_junit(FILE *f, void *user)
{
    const duet_suite *s = user;
    char stamp[32] = "1970-01-01T00:00:00", host[256] = "localhost", text[64];
    time_t now = time(NULL);
    struct tm utc;
    if (gmtime_r(&now, &utc)) strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
    if (gethostname(host, sizeof host) || !host[0]) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    double total = 0;
    for (int i = 0; i < s->n; i++) total += run_seconds(&s->results[i]);

    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite", f);
    attr(f, "name", "duet");
    attr(f, "package", "duet");
    fprintf(f, " id=\"0\" timestamp=\"%s\"", stamp);
    attr(f, "hostname", host);
    fprintf(f, " tests=\"%d\" failures=\"%d\" errors=\"0\" time=\"%.6f\">\n", s->n,
            duet_suite_unexpected(s), total);
    fputs("    <properties>\n", f);
    property(f, "duet.version", s->version);
    property(f, "duet.commit", s->commit);
    property(f, "machine.cpu", s->machine);
    snprintf(text, sizeof text, "%d", s->threads);
    property(f, "machine.threads", text);
    snprintf(text, sizeof text, "%llu", (unsigned long long)s->opts.seed);
    property(f, "seed", text);
    snprintf(text, sizeof text, "%d", s->opts.steps);
    property(f, "steps", text);
    snprintf(text, sizeof text, "%.17g", s->opts.rtol);
    property(f, "rtol", text);
    snprintf(text, sizeof text, "%.17g", s->opts.atol);
    property(f, "atol", text);
    property(f, "shard", s->shard);
    fputs("    </properties>\n", f);
    for (int i = 0; i < s->n; i++) {
        const duet_result *r = &s->results[i];
        fputs("    <testcase", f);
        attr(f, "classname", r->case_name);
        attr(f, "name", duet_run_name(r->run));
        fprintf(f, " time=\"%.6f\"", run_seconds(r));
        if (r->as_expected) {
            fputs("/>\n", f);
            continue;
        }
        fputs(">\n      <failure", f);
        attr(f, "message", r->why);
        attr(f, "type", duet_outcome_name(r->actual));
        fputc('>', f);
        failure_text(f, r);
        fputs("</failure>\n    </testcase>\n", f);
    }
    fputs("    <system-out/>\n    <system-err/>\n  </testsuite>\n</testsuites>\n", f);
    return 0;
}

int duet_write_junit(const char *path, const duet_suite *s, char *err, size_t errlen)
{
    return duet_write_atomic(path, write_junit, (void *)s, err, errlen);
}
