/* timefmt.h -- time parsing and formatting shared by the collector's HTTP
 * server and the CLI, so both accept exactly the same --since/--until forms.
 */
#ifndef LT_TIMEFMT_H
#define LT_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Format ns since the epoch as RFC 3339 UTC with microseconds:
 * "2026-11-25T14:38:06.123456Z". buf needs 32 bytes. Returns buf. */
char *lt_time_format(int64_t ts_ns, char *buf, size_t len);

/* Parse a point in time: a duration back from `now_ns` ("30s", "30m", "1h",
 * "2d", "1w"), RFC 3339 ("2026-11-25T14:38:06Z", with optional fraction and
 * numeric offset), or a plain date ("2026-11-25", UTC midnight).
 * Returns 0 and sets *out, or -1 for anything else. */
int lt_time_parse(const char *text, int64_t now_ns, int64_t *out);

/* Parse a duration ("30s", "30m", "1h", "2d", "1w") into *out ns.
 * Returns 0, or -1 for anything else. */
int lt_duration_parse(const char *text, int64_t *out);

int64_t lt_time_now_ns(void);

#endif
