/* flood_sender.c -- test tool: a hostile runner that floods the collector's
 * ingest endpoint with valid frames meant to grow its memory, and an
 * innocent one that measures its own ack latency meanwhile
 * (test/e2e/test_hostile_memory.py).
 *
 * Usage: flood_sender MODE ENDPOINT RUNNER_ID SECONDS [N]
 *   partial    one instance; each record a new thread whose N bytes
 *              (default 2048, at most 64 KiB) never end in a newline; it
 *              never acknowledges (its "acked" stays 0)
 *   instances  a new process instance in every frame (one line each), N
 *              frames (default 20000); then frames without an ack are sent
 *              again until every one is acknowledged (at most SECONDS)
 *   flood      one instance, frames of N lines (default 2000) of 100 bytes,
 *              as fast as the socket takes them
 *   requests   one instance, frames of 128 BEGIN/END pairs, each pair a new
 *              request ID
 *   innocent   one line every 50 ms, each frame waiting for its ack (and
 *              sent again every 2 s until it comes)
 * Frames are built by hand here with the wire format's layout
 * (include/logtap_wire.h), so the tool depends on nothing of the preload.
 * Prints one JSON object with what it sent and, for `innocent`, its ack
 * latencies.
 */
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "logtap_wire.h"

static void *sock;
/* This run's process instance: a runner's is random, so is ours. */
static uint64_t instance_id;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t wall_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* The frame's header: [version, BATCH, meta, [ ...n records ]]. */
static void pack_head(msgpack_packer *pk, const char *runner, uint64_t instance, uint64_t acked, uint64_t end,
                      size_t n)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_uint8(pk, LT_WIRE_VERSION);
    msgpack_pack_uint8(pk, LT_MSG_BATCH);
    msgpack_pack_map(pk, 6);
    pack_str(pk, "runner");
    pack_str(pk, runner);
    pack_str(pk, "pid");
    msgpack_pack_uint32(pk, 4242);
    pack_str(pk, "instance");
    msgpack_pack_uint64(pk, instance);
    pack_str(pk, "source");
    pack_str(pk, "run");
    pack_str(pk, "acked");
    msgpack_pack_uint64(pk, acked);
    pack_str(pk, "end");
    msgpack_pack_uint64(pk, end);
    msgpack_pack_array(pk, n);
}

static void pack_record(msgpack_packer *pk, uint64_t pos, uint32_t tid, int kind, int fd, const char *request,
                        const void *data, size_t len)
{
    msgpack_pack_array(pk, LT_WIRE_RECORD_FIELDS);
    msgpack_pack_uint64(pk, pos);
    msgpack_pack_uint64(pk, wall_ns());
    msgpack_pack_uint32(pk, tid);
    msgpack_pack_uint8(pk, (uint8_t)kind);
    msgpack_pack_uint8(pk, (uint8_t)fd);
    if (request)
        pack_str(pk, request);
    else
        msgpack_pack_nil(pk);
    if (data) {
        msgpack_pack_bin(pk, len);
        msgpack_pack_bin_body(pk, data, len);
    } else {
        msgpack_pack_nil(pk);
    }
}

/* Send; false when the socket would not take it within its send timeout. */
static bool send_frame(const msgpack_sbuffer *sb)
{
    return zmq_send(sock, sb->data, sb->size, 0) >= 0;
}

/* One ack if one comes within timeout_ms: its instance and position. */
static bool recv_ack(int timeout_ms, uint64_t *instance, uint64_t *pos)
{
    zmq_pollitem_t item = {.socket = sock, .events = ZMQ_POLLIN};
    if (zmq_poll(&item, 1, timeout_ms) <= 0)
        return false;
    char buf[256];
    int n = zmq_recv(sock, buf, sizeof buf, ZMQ_DONTWAIT);
    if (n <= 0 || n > (int)sizeof buf)
        return false;
    msgpack_unpacked msg;
    msgpack_unpacked_init(&msg);
    bool ok = msgpack_unpack_next(&msg, buf, (size_t)n, NULL) == MSGPACK_UNPACK_SUCCESS &&
              msg.data.type == MSGPACK_OBJECT_ARRAY && msg.data.via.array.size == 4;
    if (ok) {
        *instance = msg.data.via.array.ptr[2].via.u64;
        *pos = msg.data.via.array.ptr[3].via.u64;
    }
    msgpack_unpacked_destroy(&msg);
    return ok;
}

/* A frame of n DATA records from `pos` on, thread first_tid + i * tid_step
 * for the i-th, each holding `data`; false if the socket did not take it. */
static bool send_data_batch(msgpack_sbuffer *sb, const char *runner, uint64_t pos, size_t n,
                            uint32_t first_tid, uint32_t tid_step, const void *data, size_t len)
{
    msgpack_sbuffer_clear(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    pack_head(&pk, runner, instance_id, 0, pos + n, n);
    for (size_t i = 0; i < n; i++)
        pack_record(&pk, pos + i, first_tid + (uint32_t)i * tid_step, LT_REC_DATA, 1, NULL, data, len);
    return send_frame(sb);
}

static int run_partial(const char *runner, double secs, size_t line_len)
{
    char *data = malloc(line_len);
    memset(data, 'p', line_len);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    uint64_t pos = 0, frames = 0;
    uint32_t tid = 1000;
    size_t per_frame = (256u << 10) / (line_len + 64) + 1;
    double end = now_s() + secs;
    while (now_s() < end) {
        if (!send_data_batch(&sb, runner, pos, per_frame, tid, 1, data, line_len))
            continue; /* the collector is behind: the same frame again */
        tid += (uint32_t)per_frame;
        pos += per_frame;
        frames++;
    }
    printf("{\"frames\": %llu, \"records\": %llu, \"bytes\": %llu}\n", (unsigned long long)frames,
           (unsigned long long)pos, (unsigned long long)(pos * line_len));
    msgpack_sbuffer_destroy(&sb);
    free(data);
    return 0;
}

static void pack_instance_frame(msgpack_sbuffer *sb, const char *runner, uint64_t base, size_t i)
{
    char line[64];
    int len = snprintf(line, sizeof line, "instance line %zu\n", i);
    msgpack_sbuffer_clear(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    pack_head(&pk, runner, base + i, 0, 1, 1);
    pack_record(&pk, 0, 1, LT_REC_DATA, 1, NULL, line, (size_t)len);
}

static int run_instances(const char *runner, double secs, size_t n)
{
    uint64_t base = (uint64_t)wall_ns() << 16;
    bool *acked = calloc(n, 1);
    size_t nacked = 0, sent = 0, resent = 0;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    uint64_t inst, pos;
    for (size_t i = 0; i < n; i++) {
        pack_instance_frame(&sb, runner, base, i);
        while (!send_frame(&sb)) {
        }
        sent++;
        while (recv_ack(0, &inst, &pos))
            if (inst - base < n && !acked[inst - base]) {
                acked[inst - base] = true;
                nacked++;
            }
    }
    /* Like a runner: what was not acknowledged is sent again. */
    double end = now_s() + secs;
    while (nacked < n && now_s() < end) {
        double until = now_s() + 1.0;
        while (now_s() < until)
            if (recv_ack(100, &inst, &pos) && inst - base < n && !acked[inst - base]) {
                acked[inst - base] = true;
                nacked++;
            }
        for (size_t i = 0; i < n && nacked < n; i++)
            if (!acked[i]) {
                pack_instance_frame(&sb, runner, base, i);
                if (send_frame(&sb))
                    resent++;
            }
    }
    printf("{\"instances\": %zu, \"sent\": %zu, \"resent\": %zu, \"acked\": %zu}\n", n, sent, resent, nacked);
    msgpack_sbuffer_destroy(&sb);
    free(acked);
    return 0;
}

static int run_flood(const char *runner, double secs, size_t lines)
{
    char line[101];
    memset(line, 'f', sizeof line);
    line[100] = '\n';
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    uint64_t pos = 0, frames = 0;
    double end = now_s() + secs;
    while (now_s() < end) {
        if (!send_data_batch(&sb, runner, pos, lines, 7, 0, line, sizeof line))
            continue;
        pos += lines;
        frames++;
    }
    printf("{\"frames\": %llu, \"lines\": %llu}\n", (unsigned long long)frames, (unsigned long long)pos);
    msgpack_sbuffer_destroy(&sb);
    return 0;
}

static int run_requests(const char *runner, double secs)
{
    enum { PAIRS = 128 };
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    uint64_t pos = 0, frames = 0, begins = 0;
    double end = now_s() + secs;
    while (now_s() < end) {
        msgpack_sbuffer_clear(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        pack_head(&pk, runner, instance_id, 0, pos + 2 * PAIRS, 2 * PAIRS);
        for (size_t i = 0; i < PAIRS; i++) {
            char req[32];
            snprintf(req, sizeof req, "rq-%llu", (unsigned long long)(begins + i));
            pack_record(&pk, pos + 2 * i, 1, LT_REC_BEGIN, 0, req, NULL, 0);
            pack_record(&pk, pos + 2 * i + 1, 1, LT_REC_END, 0, req, NULL, 0);
        }
        if (!send_frame(&sb))
            continue;
        pos += 2 * PAIRS;
        begins += PAIRS;
        frames++;
    }
    printf("{\"frames\": %llu, \"begins\": %llu}\n", (unsigned long long)frames, (unsigned long long)begins);
    msgpack_sbuffer_destroy(&sb);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int run_innocent(const char *runner, double secs)
{
    size_t cap = (size_t)(secs * 20) + 16, n = 0;
    double *lat = calloc(cap, sizeof *lat);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    uint64_t pos = 0, acked = 0, resent = 0;
    double end = now_s() + secs;
    while (now_s() < end && n < cap) {
        char line[64];
        int len = snprintf(line, sizeof line, "innocent %llu\n", (unsigned long long)pos);
        msgpack_sbuffer_clear(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        pack_head(&pk, runner, instance_id, acked, pos + 1, 1);
        pack_record(&pk, pos, 1, LT_REC_DATA, 1, NULL, line, (size_t)len);
        double t0 = now_s(), last = t0;
        send_frame(&sb);
        for (;;) {
            uint64_t inst, at;
            if (recv_ack(50, &inst, &at) && inst == instance_id && at > pos)
                break;
            if (now_s() - last > 2.0) { /* lost on the way: as a runner would */
                send_frame(&sb);
                resent++;
                last = now_s();
            }
        }
        lat[n++] = (now_s() - t0) * 1000;
        pos++;
        acked = pos;
        double wait = t0 + 0.05 - now_s();
        if (wait > 0) {
            struct timespec ts = {0, (long)(wait * 1e9)};
            nanosleep(&ts, NULL);
        }
    }
    qsort(lat, n, sizeof *lat, cmp_double);
    printf("{\"acks\": %zu, \"resent\": %llu, \"p50_ms\": %.1f, \"p99_ms\": %.1f, \"max_ms\": %.1f}\n", n,
           (unsigned long long)resent, n ? lat[n / 2] : 0.0, n ? lat[n * 99 / 100] : 0.0,
           n ? lat[n - 1] : 0.0);
    msgpack_sbuffer_destroy(&sb);
    free(lat);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: flood_sender partial|instances|flood|requests|innocent ENDPOINT RUNNER_ID "
                        "SECONDS [N]\n");
        return 2;
    }
    const char *mode = argv[1], *runner = argv[3];
    double secs = atof(argv[4]);
    size_t n = argc > 5 ? (size_t)strtoull(argv[5], NULL, 10) : 0;
    instance_id = wall_ns() ^ ((uint64_t)getpid() << 40);
    void *ctx = zmq_ctx_new();
    sock = zmq_socket(ctx, ZMQ_DEALER);
    /* A hostile sender queues as much as it likes on its own side; the
     * collector's queue is what is under test. */
    int hwm = 100000, linger = 0, timeo = 100;
    zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sock, ZMQ_SNDTIMEO, &timeo, sizeof timeo);
    if (zmq_connect(sock, argv[2]) != 0) {
        fprintf(stderr, "flood_sender: connect: %s\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    int rc = 2;
    if (strcmp(mode, "partial") == 0)
        rc = run_partial(runner, secs, n ? n : 2048);
    else if (strcmp(mode, "instances") == 0)
        rc = run_instances(runner, secs, n ? n : 20000);
    else if (strcmp(mode, "flood") == 0)
        rc = run_flood(runner, secs, n ? n : 2000);
    else if (strcmp(mode, "requests") == 0)
        rc = run_requests(runner, secs);
    else if (strcmp(mode, "innocent") == 0)
        rc = run_innocent(runner, secs);
    else
        fprintf(stderr, "flood_sender: unknown mode %s\n", mode);
    fflush(stdout);
    /* What was counted as sent is delivered before we go, except a flood's
     * backlog, which is only there to keep the collector's queue full. */
    linger = strcmp(mode, "flood") == 0 ? 0 : 60000;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(sock);
    zmq_ctx_term(ctx);
    return rc;
}
