/* Output files (reports, weights, step logs, data files): checked before any work
 * starts, written so that no reader ever sees half a file or a mix of two runs.
 *
 * The target is the file a path names after following symlinks (a symlink is never
 * replaced). What happens depends on what the target is:
 * - a regular file, or nothing yet: written whole or not at all (duet_write_atomic:
 *   a unique temporary file beside the target, fsync, rename), or, for a step log
 *   (duet_log_open), in place under an exclusive lock, so that `tail -f` can follow
 *   it and a second run writing the same log is refused rather than mixed in;
 * - this process's stdout or stderr (`--log /dev/stdout`, or a path the shell
 *   redirected there): written in place, appended;
 * - a FIFO, a terminal, /dev/null, any other non-regular file: written in place (a
 *   FIFO blocks until it has a reader);
 * - a directory: refused.
 * Errors are one line naming the path and the reason. While a temporary file exists,
 * SIGINT, SIGTERM, SIGHUP and SIGQUIT wait, so an interrupted run leaves none. */
#ifndef DUET_OUTFILE_H
#define DUET_OUTFILE_H

#include <stddef.h>
#include <stdio.h>

/* Whether path can be written as above, creating nothing: 0, or -1 with the reason in
 * err. Commands call it for every output before they start work. */
int duet_output_check(const char *path, char *err, size_t errlen);

/* Writes path whole: write(f, user) fills a temporary file beside the target, which is
 * renamed over it only when write returned 0 and every byte reached the disk; the file
 * keeps the mode of the one it replaces (a new one gets 0666 less the umask). 0, or -1
 * with a one-line reason (naming path) in err; on failure the target is untouched. */
int duet_write_atomic(const char *path, int (*write)(FILE *f, void *user), void *user, char *err,
                      size_t errlen);

/* Opens a step log: in place, emptied, and locked against other writers while it is
 * open (the lock goes with the process, so a killed run leaves none). The caller
 * writes whole lines and flushes each. NULL with the reason in err. */
FILE *duet_log_open(const char *path, char *err, size_t errlen);
/* Flushes, syncs and closes a log: 0, or -1 with the reason in err. */
int duet_log_close(FILE *f, const char *path, char *err, size_t errlen);

/* a and b name the same regular file (after symlinks), or, for a path that does not
 * exist yet, the same resolved name: two outputs (or an output and an input) that
 * would clobber each other. Devices, FIFOs and the process's own streams never do. */
int duet_same_output(const char *a, const char *b);

#endif
