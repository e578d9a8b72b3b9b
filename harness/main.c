/* The duet executable (and the runner duet_add_case builds around user cases). */
#include "duet/case.h"

int main(int argc, char **argv) { return duet_main(argc, argv); }
