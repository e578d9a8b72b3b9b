/* `duet list`: the registered cases by category, with their twins. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "duet/case.h"

const char *duet_case_category(const duet_case *c) { return c->category ? c->category : ""; }

bool duet_category_seen(int upto, const char *category)
{
    for (int i = 0; i < upto; i++)
        if (!strcmp(duet_case_category(duet_case_at(i)), category)) return true;
    return false;
}

int duet_cmd_list(int argc, char **argv)
{
    if (duet_arg_help(argc, argv)) {
        printf("usage: duet list\n  the registered cases, by category: name, summary, twin\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "duet list: unexpected argument '%s' (see duet list --help)\n", argv[1]);
        return 2;
    }
    for (int i = 0; i < duet_case_count(); i++) {
        const char *cat = duet_case_category(duet_case_at(i));
        if (duet_category_seen(i, cat)) continue;
        printf("%s:\n", cat[0] ? cat : "(no category)");
        for (int j = i; j < duet_case_count(); j++) {
            const duet_case *c = duet_case_at(j);
            if (strcmp(duet_case_category(c), cat)) continue;
            printf("  %-26s %s", c->name, c->summary ? c->summary : "");
            if (c->twin) printf(" (fixed twin: %s)", c->twin);
            if (c->fixes) printf(" (fixes %s)", c->fixes);
            printf("\n");
        }
    }
    return 0;
}
