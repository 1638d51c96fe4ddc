/* cli_sse.c -- parses text/event-stream as it arrives, for follow mode.
 *
 * Follows the WHATWG event-stream rules the CLI needs: CR, LF or CR LF end
 * a line (a CR LF pair may be split across two reads), a blank line ends
 * an event, ':' starts a comment (the server's keepalive), "data" lines are
 * joined with LF, "event" names the type, "id" sets the last event ID
 * (ignored when empty or holding NUL). "retry" is ignored: reconnecting
 * follows the CLI's own backoff. An event above SSE_MAX_EVENT_BYTES stops
 * the stream instead of growing without bound.
 */
#include "cli_sse.h"

#include <string.h>

void sse_reset(struct sse_parser *sp)
{
    lt_buf_clear(&sp->line);
    lt_buf_clear(&sp->data);
    lt_buf_clear(&sp->type);
    lt_buf_clear(&sp->id);
    sp->has_data = sp->has_id = sp->ended_on_cr = sp->too_large = false;
}

void sse_release(struct sse_parser *sp)
{
    lt_buf_release(&sp->line);
    lt_buf_release(&sp->data);
    lt_buf_release(&sp->type);
    lt_buf_release(&sp->id);
}

static int sse_dispatch(struct sse_parser *sp)
{
    int rc = 0;
    if (sp->has_data || sp->has_id) {
        const char *type = sp->type.len ? sp->type.data : "message";
        rc = sp->on_event(sp->ctx, type, sp->has_data ? sp->data.data : NULL, sp->data.len,
                          sp->has_id ? sp->id.data : NULL);
    }
    lt_buf_clear(&sp->data);
    lt_buf_clear(&sp->type);
    lt_buf_clear(&sp->id);
    sp->has_data = sp->has_id = false;
    return rc;
}

static void sse_field(struct sse_parser *sp, const char *name, size_t name_len, const char *value,
                      size_t value_len)
{
    if (name_len == 4 && memcmp(name, "data", 4) == 0) {
        if (sp->has_data)
            lt_buf_append_byte(&sp->data, '\n');
        lt_buf_append(&sp->data, value, value_len);
        sp->has_data = true;
    } else if (name_len == 5 && memcmp(name, "event", 5) == 0) {
        lt_buf_clear(&sp->type);
        lt_buf_append(&sp->type, value, value_len);
    } else if (name_len == 2 && memcmp(name, "id", 2) == 0 && value_len > 0 &&
               !memchr(value, '\0', value_len)) {
        lt_buf_clear(&sp->id);
        lt_buf_append(&sp->id, value, value_len);
        sp->has_id = true;
    }
    /* "retry" is ignored: reconnection follows our own backoff. */
}

static int sse_line(struct sse_parser *sp, const char *line, size_t len)
{
    if (len == 0)
        return sse_dispatch(sp);
    if (line[0] == ':')
        return 0; /* comment, e.g. the server's keepalive */

    const char *colon = memchr(line, ':', len);
    size_t name_len = colon ? (size_t)(colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    size_t value_len = len - (size_t)(value - line);
    if (value_len > 0 && value[0] == ' ') {
        value++;
        value_len--;
    }
    sse_field(sp, line, name_len, value, value_len);
    return 0;
}

int sse_feed(struct sse_parser *sp, const char *bytes, size_t len)
{
    size_t i = 0;
    if (sp->ended_on_cr && len > 0 && bytes[0] == '\n')
        i = 1;
    if (len > 0)
        sp->ended_on_cr = false;

    while (i < len) {
        size_t end = i;
        while (end < len && bytes[end] != '\n' && bytes[end] != '\r')
            end++;
        lt_buf_append(&sp->line, bytes + i, end - i);
        if (sp->line.len + sp->data.len > SSE_MAX_EVENT_BYTES) {
            sp->too_large = true;
            return -1;
        }
        if (end == len)
            break;

        if (sse_line(sp, sp->line.data, sp->line.len) != 0)
            return -1;
        lt_buf_clear(&sp->line);
        if (bytes[end] == '\r') {
            if (end + 1 == len)
                sp->ended_on_cr = true;
            else if (bytes[end + 1] == '\n')
                end++;
        }
        i = end + 1;
    }
    return 0;
}
