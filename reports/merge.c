/* `duet merge A.json B.json ... -o ALL.json`: the shards of one run (`duet run --shard
 * K/N --json`) joined into the document a whole run would have written, or unsharded
 * runs of different cases joined into one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

/* What two parts of one run must share, or NULL when they do. */
static const char *differing(const duet_suite *a, const duet_suite *b)
{
    const char *field = duet_opts_differing(&a->opts, &b->opts);
    return field                                    ? field
           : a->opts.timeout_s != b->opts.timeout_s ? "options.timeout_s"
           : a->opts.fork != b->opts.fork           ? "options.fork"
           : strcmp(a->version, b->version)         ? "duet.version"
           : strcmp(a->commit, b->commit)           ? "duet.commit"
                                                    : NULL;
}

/* Shard k of n from "K/N" (k = n = 0 for ""); false when malformed. */
static bool parse_shard(const char *shard, int *k, int *n)
{
    int used = 0;
    *k = *n = 0;
    if (!shard[0]) return true;
    return sscanf(shard, "%d/%d%n", k, n, &used) == 2 && !shard[used] && *k >= 1 && *k <= *n;
}

/* Checks that the inputs are all unsharded, or each a different shard K/N of one N with
 * none missing; then order[K-1] = the input holding shard K. N, or -1 after an error. */
static int check_shards(const duet_suite *in, const char *const *names, int n, int *order,
                        char *err, size_t errlen)
{
    int shards = 0, k, of, k2, of2;
    for (int i = 0; i < n; i++) {
        if (!parse_shard(in[i].shard, &k, &of)) {
            snprintf(err, errlen, "%s: options.shard: expected K/N, got '%s'", names[i], in[i].shard);
            return -1;
        }
        if (i == 0) shards = of;
        if (of != shards) {
            snprintf(err, errlen, "%s: shard '%s' is not of the same run as %s's '%s'", names[i],
                     in[i].shard, names[0], in[0].shard);
            return -1;
        }
        for (int j = 0; j < i && of; j++)
            if (parse_shard(in[j].shard, &k2, &of2) && k2 == k) {
                snprintf(err, errlen, "%s: shard %s again (also in %s)", names[i], in[i].shard, names[j]);
                return -1;
            }
    }
    /* n different shards: with N > n one is missing, found within the first n + 1 */
    for (k = 1; k <= shards; k++) {
        int holder = -1;
        for (int i = 0; i < n && holder < 0; i++)
            if (parse_shard(in[i].shard, &k2, &of2) && k2 == k) holder = i;
        if (holder < 0) {
            snprintf(err, errlen, "shard %d/%d is missing", k, shards);
            return -1;
        }
        order[k - 1] = holder;
    }
    return shards;
}

/* The rows of the g-th case (a run of rows with the same case name) in s, as [*from, *to);
 * false when s has fewer cases. */
static bool case_group(const duet_suite *s, int g, int *from, int *to)
{
    int i = 0;
    for (int k = 0; i < s->n; k++) {
        int j = i + 1;
        while (j < s->n && !strcmp(s->results[j].case_name, s->results[i].case_name)) j++;
        if (k == g) return *from = i, *to = j, true;
        i = j;
    }
    return false;
}

static int append(duet_suite *out, const duet_suite *in, const char *const *names, int which,
                  int from, int to, char *err, size_t errlen)
{
    for (int i = from; i < to; i++) {
        const duet_result *r = &in[which].results[i];
        if (duet_suite_find(out, r->case_name, r->run) >= 0) {
            snprintf(err, errlen, "%s: results[%d] (%s %s) is already in another input", names[which],
                     i, r->case_name, duet_run_name(r->run));
            return -1;
        }
        if (duet_suite_add(out, r)) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

int duet_suite_merge(const duet_suite *in, const char *const *names, int n, duet_suite *out,
                     char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (n < 1) {
        snprintf(err, errlen, "no runs to merge");
        return -1;
    }
    int *order = malloc(sizeof *order * (size_t)(n + 1));
    if (!order) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0, shards = 0;
    for (int i = 1; i < n && !rc; i++) {
        const char *field = differing(&in[0], &in[i]);
        if (field) {
            snprintf(err, errlen, "%s: %s differs from %s's: not the same run", names[i], field,
                     names[0]);
            rc = -1;
        }
    }
    if (!rc && (shards = check_shards(in, names, n, order, err, errlen)) < 0) rc = -1;
    if (!rc) {
        *out = in[0];
        out->results = NULL;
        out->n = out->cap = 0;
        out->shard[0] = 0;
        for (int i = 1; i < n; i++)
            if (strcmp(in[i].machine, in[0].machine) || in[i].threads != in[0].threads) {
                /* rows timed on different machines: no one machine describes them */
                snprintf(out->machine, sizeof out->machine, "(several)");
                out->threads = 0;
            }
    }
    if (!rc && shards) {
        /* case c of the whole run is case c / N of shard c % N + 1 */
        int from, to;
        for (int g = 0, more = 1; more && !rc; g++) {
            more = 0;
            for (int k = 0; k < shards && !rc; k++)
                if (case_group(&in[order[k]], g, &from, &to)) {
                    more = 1;
                    rc = append(out, in, names, order[k], from, to, err, errlen);
                }
        }
    }
    for (int i = 0; i < n && !rc && !shards; i++)
        rc = append(out, in, names, i, 0, in[i].n, err, errlen);
    free(order);
    if (rc) duet_suite_free(out);
    return rc;
}
