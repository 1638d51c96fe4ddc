/* entry_json.h -- a stored line as the JSON objects the HTTP API serves.
 *
 * One definition of the wire shape of a log entry (doc/http-api.md), used by
 * every endpoint and the follow stream so they cannot disagree.
 */
#ifndef LT_ENTRY_JSON_H
#define LT_ENTRY_JSON_H

#include <jansson.h>

#include "line.h"

/* The full entry: id, timestamp, message, level, stream, source, runner_id,
 * request_id (null outside requests), app_id, version_id, pid, tid, and
 * "unattributed": true on lines caught by logtap run --catch-all (absent
 * on every other line).
 * Returns a new reference (the caller json_decref's it), NULL when out of
 * memory. Text that is not valid UTF-8 (and NUL) becomes U+FFFD. */
json_t *lt_entry_json(const lt_line *line);

/* fal's queue-status entry: message, level, source, timestamp. Same
 * ownership and sanitising as lt_entry_json. */
json_t *lt_entry_json_status(const lt_line *line);

#endif
