/* fdmap.h -- which file descriptors lead to the runner's stdout and stderr.
 *
 * What counts is not the fd number but where it leads: fd 1 after
 * dup2(2, 1) is stderr ("echo oops >&2" in a shell); fd 1 of a child whose
 * stdout was redirected into a pipe to another program is not the runner's
 * stdout at all (that program's output is, and is captured there); a dup of
 * fd 2 (perror on a read-write stderr) is stderr.
 *
 * The runner's stdout and stderr are identified by (device, inode) when the
 * first process of the runner starts; the identities travel to its children
 * in LOGTAP_STDOUT_ID / LOGTAP_STDERR_ID. When the stream is /dev/null (or
 * /dev/zero, /dev/full) the identity alone would also match every separate
 * open of that device, so it must also share the runner's open file
 * description (the mark, fdmap.c). Each fd's verdict is cached and
 * forgotten when the app closes or replaces that fd, so the hot path costs
 * one byte load; a cache miss costs one fstat.
 */
#ifndef LT_FDMAP_H
#define LT_FDMAP_H

#include <stdbool.h>

/* Resolve the hooks' real calls and, if `capture`, record the identities
 * (from the environment, or from fds 1 and 2 now, marked where they are
 * /dev/null or the like (fdmap.c), and exported). Called once by the
 * constructor. */
void lt_fdmap_init(bool capture);

/* 1 if writes to fd reach the runner's stdout, 2 for stderr, 0 otherwise.
 * Async-signal-safe. */
int lt_fdmap_stream(int fd);

/* The lowest fd below `limit` that leads to `stream` (1 or 2), or -1.
 * Looks at fds it knows nothing about without remembering them (a closed
 * fd may be opened later by a call we do not hook). Async-signal-safe. */
int lt_fdmap_find(int stream, int limit);

/* fd was closed or replaced: forget what we knew. Async-signal-safe. */
void lt_fdmap_forget(int fd);
void lt_fdmap_forget_range(unsigned first, unsigned last);

#endif
