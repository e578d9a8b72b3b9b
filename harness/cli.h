/* Sub-commands of the duet CLI. Each takes (argc, argv) with argv[0] = the command
 * name and returns the process exit code (0 ok, 1 unexpected outcome, 2 usage or
 * input error, 3 internal error). */
#ifndef DUET_CLI_H
#define DUET_CLI_H

int duet_cmd_demo(int argc, char **argv);
int duet_cmd_train(int argc, char **argv);
int duet_cmd_trace(int argc, char **argv);

#endif
