/* Sub-commands of the duet CLI. Each takes (argc, argv) with argv[0] = the command
 * name and returns the process exit code (0 ok, 1 unexpected outcome, 2 usage or
 * input error, 3 internal error). */
#ifndef DUET_CLI_H
#define DUET_CLI_H

#include "duet/case.h"

typedef struct duet_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} duet_command;

/* Commands beyond the harness's own (the NER demo) register like cases do. */
void duet_command_register(const duet_command *c);
#define DUET_COMMAND(ident, ...)                                                          \
    static const duet_command ident = {__VA_ARGS__};                                      \
    __attribute__((constructor)) static void duet_register_##ident(void)                 \
    {                                                                                     \
        duet_command_register(&ident);                                                    \
    }

/* The catalog by category, as list and explain print it: a case's category ("" for
 * none), and whether a case before position upto has that category. */
const char *duet_case_category(const duet_case *c);
bool duet_category_seen(int upto, const char *category);

/* Why a case could not be registered, or NULL. */
const char *duet_case_registry_error(void);

int duet_cmd_list(int argc, char **argv);
int duet_cmd_run(int argc, char **argv);
int duet_cmd_train(int argc, char **argv);
int duet_cmd_trace(int argc, char **argv);
int duet_cmd_compare(int argc, char **argv);
int duet_cmd_lint(int argc, char **argv);
int duet_cmd_probe(int argc, char **argv);
int duet_cmd_baseline(int argc, char **argv);
int duet_cmd_check(int argc, char **argv);
int duet_cmd_merge(int argc, char **argv);
int duet_cmd_explain(int argc, char **argv);

#endif
