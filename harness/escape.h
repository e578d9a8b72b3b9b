/* Text from a file, as a one-line error message may quote it. */
#ifndef DUET_ESCAPE_H
#define DUET_ESCAPE_H

#include <stddef.h>

/* The first max bytes of s into buf (n bytes), control bytes escaped as C writes them
 * (\r, \t, \n, \\, \x01): a raw newline would split the one-line message, and a raw CR
 * would move the cursor back over what precedes it ("unknown tag 'B-ORG\r'" printed raw
 * looks like a valid tag). Cut to fit buf; returns buf. */
const char *duet_escape(const char *s, size_t max, char *buf, size_t n);

#endif
