#include "cli.h"
int duet_cmd_demo(int argc, char **argv) { (void)argc, (void)argv; return 0; }
