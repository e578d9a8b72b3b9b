/* Localising a graph-vs-eager divergence of a case: both modes step by step on the
 * same inputs, the first op whose output differs, the pass that introduced it, and
 * the host reads a specialized graph baked in that other inputs read differently.
 * The commands fill these records and print them; reports can walk them too. */
#ifndef DUET_LOCALISE_H
#define DUET_LOCALISE_H

#include "result.h"

/* Matches each graph record (a debug run's) to its eager twin (the tape's) by
 * (scope, op, call site, occurrence, grad): twin[i] is the index in eager of
 * graph[i]'s twin, or -1 when it has none. Malloc'ed; NULL when out of memory. */
int *duet_match_records(const duet_record *graph, int ng, const duet_record *eager, int ne);

#endif
