/* line.h -- one stored log line, the unit the assembler produces, the store
 * keeps and the HTTP server and CLI print.
 *
 * Ownership: every pointer in an lt_line is borrowed. Whoever passes an
 * lt_line to a function keeps ownership; a callee that needs the data after
 * returning copies it.
 */
#ifndef LT_LINE_H
#define LT_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "level.h"

typedef struct lt_line {
    int64_t id;             /* store row ID, increasing; 0 until stored */
    int64_t ts_ns;          /* when the line's first byte was written */
    const char *runner_id;  /* never NULL */
    const char *request_id; /* NULL outside requests */
    const char *app_id;     /* "" when unknown */
    const char *version_id; /* "" when unknown */
    const char *source;     /* "run", "gateway", "deploy" or "" */
    const char *message;    /* raw bytes, no trailing newline, not NUL-terminated
                               by contract (may contain invalid UTF-8) */
    size_t message_len;
    int stream; /* 1 = stdout, 2 = stderr */
    int level;  /* enum lt_level */
    int64_t pid;
    int64_t tid;
    bool unattributed; /* bytes that reached the runner's stdout/stderr by
                               a path the preload does not see, caught by
                               logtap run --catch-all: the writer is unknown */
} lt_line;

#endif
