/* level.h -- the vocabulary of a log line that every program shares: its
 * level, the stream it was written to and the source it came from.
 *
 * The collector sets a line's level once, as it stores it (lt_level_detect);
 * the HTTP API and the CLI parse and print the names (--level, --source).
 */
#ifndef LT_LEVEL_H
#define LT_LEVEL_H

#include <stdbool.h>
#include <stddef.h>

/* fal's levels. STDOUT and STDERR are the defaults by stream; the others are
 * refined from the text (see level.c). Ordered by severity for min-level
 * filters: TRACE < DEBUG < INFO = STDOUT < WARN < STDERR < ERROR. */
enum lt_level {
    LT_LEVEL_TRACE,
    LT_LEVEL_DEBUG,
    LT_LEVEL_INFO,
    LT_LEVEL_STDOUT,
    LT_LEVEL_WARN,
    LT_LEVEL_STDERR,
    LT_LEVEL_ERROR,
    LT_LEVEL_COUNT
};

const char *lt_level_name(int level); /* "STDOUT", "ERROR", ... */
/* Case-insensitive; -1 if unknown. Also takes WARNING (WARN), CRITICAL and
 * FATAL (ERROR) and NOTSET (TRACE, the lowest). */
int lt_level_parse(const char *name);
/* The level of a line: fal's rule, refined from the text. */
int lt_level_detect(int stream, const char *msg, size_t len);
const char *lt_stream_name(int stream); /* "stdout" / "stderr" */
/* One of the sources an entry can come from: "run", "gateway" or "deploy"
 * (case-sensitive), as `logtap run --source` sets it and the source filter
 * of the log endpoints and commands takes it. */
bool lt_source_name_ok(const char *name);

#endif
