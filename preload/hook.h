/* hook.h -- what hook.c offers the rest of the preload: the write path
 * (capture -> record -> ring append) for writes that do not come through
 * write(2) itself (C stdio, logtap's own notices, the exit record), and the
 * calling thread's request marker, which exec hooks pass on to children.
 *
 * Everything here is async-signal-safe and keeps errno unless it says
 * otherwise: it may run inside a signal handler (see hook.c).
 */
#ifndef LT_HOOK_H
#define LT_HOOK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "runtime.h"

/* Resolve the real write calls hook.c interposes. Constructor only, first
 * of all: every other constructor step may already write. Until then (other
 * libraries' constructors) the raw system calls stand in. */
void lt_hook_init(void);

/* The calling thread's request marker. `len` is 0 outside requests; it is
 * written last on begin and first on end so a signal handler never sees a
 * half-copied ID. `id` is not NUL-terminated. */
typedef struct lt_marker {
    volatile uint8_t len;
    char id[LT_WIRE_MAX_ID];
} lt_marker;

extern LT_TLS lt_marker lt_thread_marker;

/* Record `n` bytes written to `fd` if it leads to stdout/stderr. */
void lt_capture_write(int fd, const void *buf, size_t n);
/* Record `n` bytes written to `stream` (1 or 2). */
void lt_capture_stream(int stream, const void *buf, size_t n);
/* Catch-all mode (catchall.h): sets *stream to where `fd` leads (0: not
 * runner output) and returns the fd a write to it must go to so that it
 * can be recorded, or -1: write to `fd` and record nothing. */
int lt_redirect_target(int fd, int *stream);

/* Append a record (any kind) for the calling thread, cut into as many
 * records as the payload needs. May change errno. */
void lt_record(uint8_t kind, uint8_t fd, const char *request, size_t request_len, const struct iovec *iov,
               int iovcnt, size_t payload_len);
/* A NOTICE record: logtap's own runner-scope line about this process. */
void lt_notice(const char *text);

#endif
