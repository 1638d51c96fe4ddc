/* logtap_wire.h -- the wire format between liblogtap.so and logtap-collector.
 *
 * This header is the single definition of what crosses the ZeroMQ socket; both
 * sides include it and doc/wire.md explains it. Every ZeroMQ message is exactly
 * one msgpack array whose first two elements are the format version and the
 * message type:
 *
 *   BATCH  runner -> collector   [1, 1, meta, records]
 *     meta    map: "runner" str, "app" str, "version" str, "source" str,
 *                  "pid" uint, "instance" uint64, "dropped" uint (bytes this
 *                  process could not keep so far, cumulative, so a replayed
 *                  frame never counts a loss twice), "acked" uint64 (the
 *                  sender's first unacknowledged position when packing),
 *                  "start" uint64 (optional: where the batch continues from;
 *                  it covers [start, end), torn records it passed included),
 *                  "end" uint64 (the position after the last record), "auth"
 *                  str (reserved,
 *                  may be absent), "unattributed" bool (true only for the
 *                  forwarder of logtap run --catch-all; may be absent).
 *                  Unknown keys are ignored (forward compatible).
 *     records array of records, in ring order:
 *             [pos, ts_ns, tid, kind, fd, request, payload]
 *       pos      uint64  byte offset of the record in the process's ring; it
 *                        only grows, so it is the record's sequence number
 *                        (dedup and cumulative acks use it)
 *       ts_ns    uint64  CLOCK_REALTIME nanoseconds when the write returned
 *       tid      uint    kernel thread ID of the writer
 *       kind     uint    one of enum lt_record_kind
 *       fd       uint    1 (stdout) or 2 (stderr); 0 for non-DATA records
 *       request  str|nil the writer thread's marker when the record was made
 *       payload  DATA: bin, the bytes write(2) accepted; NOTICE: bin, at
 *                most LT_WIRE_MAX_NOTICE bytes of text; BEGIN: nil, or bin,
 *                the request's caller (an ID); END: nil, or bin, a failed
 *                request's error: its type (an ID), a NUL, then the message
 *                (at most LT_WIRE_MAX_ERROR_MESSAGE bytes); otherwise nil
 *
 *   ACK    collector -> runner   [1, 2, instance, pos]
 *     Every record of `instance` whose position is below `pos` is durable
 *     in the store. Acks are cumulative. (A record whose bytes start a line
 *     that is not finished yet is not durable: the bound stops before it.)
 *
 * A process instance is one ring: a random 64-bit ID chosen when the ring is
 * created (at start-up and again in a forked child), so that pid reuse can
 * never merge two processes' streams.
 */
#ifndef LOGTAP_WIRE_H
#define LOGTAP_WIRE_H

#include <stdint.h>

#include "logtap.h"

#define LT_WIRE_VERSION 1

enum lt_msg_type {
    LT_MSG_BATCH = 1,
    LT_MSG_ACK = 2,
};

enum lt_record_kind {
    LT_REC_DATA = 0,   /* bytes written to fd 1 or 2 */
    LT_REC_BEGIN = 1,  /* the thread starts serving `request` */
    LT_REC_END = 2,    /* the thread stops serving `request` */
    LT_REC_EXIT = 3,   /* the process is exiting: no more records follow */
    LT_REC_NOTICE = 4, /* logtap's own word about this process (payload: text),
                          e.g. that its C stdio could not be captured */
    LT_REC_KIND_COUNT
};

#define LT_WIRE_RECORD_FIELDS 7
/* Runner, app, version and request IDs: one limit, the public header's. */
#define LT_WIRE_MAX_ID LOGTAP_REQUEST_ID_MAX
#define LT_WIRE_MAX_PAYLOAD (64 * 1024) /* one DATA record */
#define LT_WIRE_MAX_FRAME (4 * 1024 * 1024)
#define LT_WIRE_MAX_NOTICE 1024
/* An END's error message (logtap_request_fail), in bytes. */
#define LT_WIRE_MAX_ERROR_MESSAGE 1024

/* An ID (runner, app, version, request) is 1..LT_WIRE_MAX_ID bytes of
 * printable ASCII other than '/' (IDs are path segments in the HTTP API).
 * App and version IDs may also be empty. The preload refuses request IDs that
 * break this rule (logtap_request_begin fails with EINVAL) and cleans runner,
 * app and version IDs from the environment; the collector rejects frames that
 * break it. */
static inline int lt_wire_id_char_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '/';
}

static inline int lt_wire_id_ok(const char *s, unsigned long len)
{
    if (len == 0 || len > LT_WIRE_MAX_ID)
        return 0;
    for (unsigned long i = 0; i < len; i++)
        if (!lt_wire_id_char_ok((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Splits an END's error payload (see above). Returns 1 and the length of
 * its type in *type_len when it is well formed, else 0. */
static inline int lt_wire_end_error_ok(const unsigned char *data, unsigned long len, unsigned long *type_len)
{
    unsigned long t = 0;
    while (t < len && data[t] != 0)
        t++;
    if (t == len || !lt_wire_id_ok((const char *)data, t) || len - t - 1 > LT_WIRE_MAX_ERROR_MESSAGE)
        return 0;
    *type_len = t;
    return 1;
}

/* Default endpoint shared by the collector and the preload. */
#define LT_DEFAULT_ENDPOINT "ipc:///tmp/logtap.sock"
#define LT_DEFAULT_HTTP "127.0.0.1:8765"

#endif
