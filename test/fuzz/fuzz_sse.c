/* fuzz_sse.c -- libFuzzer harness: the text/event-stream the CLI reads
 * while following logs (cli/cli_sse.c). The server, or whatever answers in
 * its place, controls every byte and how the bytes are split into reads.
 *
 * Feeds: the input's first byte seeds how the rest is cut into pieces (of
 * 1..64 bytes, so CR LF pairs and lines fall across pieces); the rest is
 * fed to one parser whole and to another piece by piece.
 *
 * Asserts:
 *   - the two parsers see the same events (type, data, id) in the same
 *     order, and agree on whether the stream stopped: how the bytes arrive
 *     changes nothing;
 *   - every event has a type, data only when it has data, and
 *     no event is above SSE_MAX_EVENT_BYTES;
 * and everything ASan and UBSan check.
 */
#include <stdint.h>
#include <string.h>

#include "cli_sse.h"
#include "fuzz.h"

/* Each event, rendered as type NUL data-or-"-" NUL id-or-"-" NUL. */
static int record_event(void *ctx, const char *type, const char *data, size_t data_len, const char *id)
{
    lt_buf *events = ctx;
    FUZZ_REQUIRE(type != NULL);
    FUZZ_REQUIRE(data != NULL || data_len == 0);
    FUZZ_REQUIRE(data_len <= SSE_MAX_EVENT_BYTES);
    lt_buf_append(events, type, strlen(type) + 1);
    if (data) {
        lt_buf_append_byte(events, 'd');
        lt_buf_append(events, data, data_len);
    } else {
        lt_buf_append_byte(events, '-');
    }
    lt_buf_append_byte(events, '\0');
    lt_buf_append(events, id ? id : "-", strlen(id ? id : "-") + 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned seed = data[0];
    const char *bytes = (const char *)data + 1;
    size_t len = size - 1;

    lt_buf whole_events = {0}, piece_events = {0};
    struct sse_parser whole = {.on_event = record_event, .ctx = &whole_events};
    struct sse_parser pieces = {.on_event = record_event, .ctx = &piece_events};
    int whole_rc = sse_feed(&whole, bytes, len);
    int pieces_rc = 0;
    for (size_t at = 0; at < len && pieces_rc == 0;) {
        seed = seed * 1103515245u + 12345u;
        size_t piece = (seed >> 16) % 64 + 1;
        if (piece > len - at)
            piece = len - at;
        pieces_rc = sse_feed(&pieces, bytes + at, piece);
        at += piece;
    }
    FUZZ_REQUIRE(whole_rc == pieces_rc);
    FUZZ_REQUIRE(whole_events.len == piece_events.len);
    FUZZ_REQUIRE(whole_events.len == 0 ||
                 memcmp(whole_events.data, piece_events.data, whole_events.len) == 0);
    sse_release(&whole);
    sse_release(&pieces);
    lt_buf_release(&whole_events);
    lt_buf_release(&piece_events);
    return 0;
}
