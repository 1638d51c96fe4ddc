/* cli_sse.h -- an incremental parser of text/event-stream (server-sent
 * events), as the collector's follow streams send them. */
#ifndef LT_CLI_SSE_H
#define LT_CLI_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "cli_text.h"

/* Events larger than this end the stream (sse_feed returns -1, too_large). */
#define SSE_MAX_EVENT_BYTES (64u << 20)

/* Called once per event; `type` is "message" when the event named none,
 * `data` is NULL for an event that only set an id, `id` is NULL when the
 * event set none. Returns 0, or -1 to stop. */
typedef int sse_event_fn(void *ctx, const char *type, const char *data, size_t data_len, const char *id);

/* One connection's parsing state. Bytes come in arbitrary pieces, so a
 * line, a CR LF pair or an event may span calls. Zero-initialise, set
 * on_event and ctx; owns its buffers (sse_release). */
struct sse_parser {
    lt_buf line;
    lt_buf data;
    lt_buf type;
    lt_buf id;
    bool has_data;
    bool has_id;
    bool ended_on_cr; /* the last piece ended in CR: skip a leading LF */
    bool too_large;
    sse_event_fn *on_event;
    void *ctx;
};

/* Forgets a partial event: for a new connection. */
void sse_reset(struct sse_parser *sp);
void sse_release(struct sse_parser *sp);
/* Returns 0, or -1 when on_event asked to stop or an event is too large. */
int sse_feed(struct sse_parser *sp, const char *bytes, size_t len);

#endif
