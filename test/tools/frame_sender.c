/* frame_sender.c -- test tool: sends hostile and valid frames to a collector's
 * ingest endpoint, the way a buggy or malicious process could.
 *
 * Usage: frame_sender ENDPOINT RUNNER_ID
 * Sends, in order: random garbage, every truncation of a valid frame, frames
 * that are well-formed msgpack but break the wire rules, a frame above the
 * size limit, a multipart message, and finally one valid frame whose single
 * line is "valid after garbage". Prints a JSON summary of how many frames of
 * each kind it sent, which the test compares with the collector's counters.
 *
 * Usage: frame_sender ENDPOINT RUNNER_ID --stamp TS_NS APP MESSAGE [REQUEST]
 * Sends one valid frame whose records carry the timestamp TS_NS, whatever
 * the clock says (a runner lying about the time): the line MESSAGE of app
 * APP ("" for none), written inside REQUEST when given (a BEGIN that never
 * ENDs). Waits up to 10 s for the collector's ACK; prints "acked" or exits 1.
 *
 * Usage: frame_sender ENDPOINT RUNNER_ID --claim INSTANCE APP POS MESSAGE
 * Sends one batch for someone else's process INSTANCE (from its ring file's
 * name) naming RUNNER_ID and APP: its one DATA record, the line MESSAGE, at
 * ring position POS, the batch claiming the range from POS (acked) to just
 * past the record. Waits up to 3 s for an ACK; prints "acked" or "refused"
 * (exit 0 either way: the test judges by what the collector stored).
 */
#include <msgpack.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "logtap_wire.h"

static void *sock;
static int malformed, oversized, valid;

static void send_frame(const void *buf, size_t len)
{
    if (zmq_send(sock, buf, len, 0) < 0) {
        fprintf(stderr, "frame_sender: send: %s\n", zmq_strerror(zmq_errno()));
        exit(1);
    }
}

/* A frame with one DATA record; `tweak` breaks one rule (0 = valid). */
static void pack_frame(msgpack_sbuffer *sb, const char *runner, const char *msg, int tweak)
{
    msgpack_packer pk;
    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint8(&pk, tweak == 1 ? 99 : LT_WIRE_VERSION); /* 1: unknown version */
    msgpack_pack_uint8(&pk, tweak == 2 ? 77 : LT_MSG_BATCH);    /* 2: unknown type */
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str_with_body(&pk, "runner", 6);
    if (tweak == 3)
        msgpack_pack_str_with_body(&pk, "bad/id", 6); /* 3: bad runner ID */
    else
        msgpack_pack_str_with_body(&pk, runner, strlen(runner));
    msgpack_pack_str_with_body(&pk, "pid", 3);
    if (tweak == 4)
        msgpack_pack_str_with_body(&pk, "12", 2); /* 4: pid not an int */
    else
        msgpack_pack_uint32(&pk, 4242);
    msgpack_pack_str_with_body(&pk, "instance", 8);
    msgpack_pack_uint64(&pk, 0xabcdef);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_array(&pk, tweak == 5 ? 6 : LT_WIRE_RECORD_FIELDS); /* 5: short record */
    msgpack_pack_uint64(&pk, 0);
    /* Now, not a fixed date: the collector's default retention (30 days)
     * would delete an old line before the test could read it. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    msgpack_pack_uint64(&pk, (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec);
    msgpack_pack_uint32(&pk, 4243);
    msgpack_pack_uint8(&pk, tweak == 6 ? 200 : LT_REC_DATA); /* 6: unknown kind */
    msgpack_pack_uint8(&pk, tweak == 7 ? 9 : 1);             /* 7: fd 9 */
    msgpack_pack_nil(&pk);
    if (tweak != 5) {
        if (tweak == 8)
            msgpack_pack_str_with_body(&pk, msg, strlen(msg)); /* 8: str, not bin */
        else
            msgpack_pack_bin_with_body(&pk, msg, strlen(msg));
    }
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* One record; `request` and `data` (a bin payload) may be NULL (nil). */
static void pack_record(msgpack_packer *pk, uint64_t pos, uint64_t ts_ns, int kind, int fd,
                        const char *request, const char *data)
{
    msgpack_pack_array(pk, LT_WIRE_RECORD_FIELDS);
    msgpack_pack_uint64(pk, pos);
    msgpack_pack_uint64(pk, ts_ns);
    msgpack_pack_uint32(pk, 4243);
    msgpack_pack_uint8(pk, (uint8_t)kind);
    msgpack_pack_uint8(pk, (uint8_t)fd);
    if (request)
        pack_str(pk, request);
    else
        msgpack_pack_nil(pk);
    if (data)
        msgpack_pack_bin_with_body(pk, data, strlen(data));
    else
        msgpack_pack_nil(pk);
}

/* A BATCH's head: version, type, and a meta map of `keys` entries whose
 * first four (runner, app, pid, instance) it packs; the caller packs the
 * rest of the map, then the records. */
static void pack_batch_head(msgpack_packer *pk, unsigned keys, const char *runner, const char *app,
                            uint64_t instance)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_uint8(pk, LT_WIRE_VERSION);
    msgpack_pack_uint8(pk, LT_MSG_BATCH);
    msgpack_pack_map(pk, keys);
    pack_str(pk, "runner");
    pack_str(pk, runner);
    pack_str(pk, "app");
    pack_str(pk, app);
    pack_str(pk, "pid");
    msgpack_pack_uint32(pk, (uint32_t)getpid());
    pack_str(pk, "instance");
    msgpack_pack_uint64(pk, instance);
}

/* --stamp: one BATCH of a new instance, every record stamped ts_ns. */
static int send_stamped(const char *runner, uint64_t ts_ns, const char *app, const char *message,
                        const char *request)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t instance = ((uint64_t)now.tv_nsec << 20) ^ (uint64_t)getpid() ^ (uint64_t)now.tv_sec << 40;
    pack_batch_head(&pk, 4, runner, app, instance);
    msgpack_pack_array(&pk, request ? 2 : 1);
    char line[1024];
    snprintf(line, sizeof line, "%s\n", message);
    if (request) /* BEGIN, and no END ever */
        pack_record(&pk, 0, ts_ns, LT_REC_BEGIN, 0, request, NULL);
    pack_record(&pk, request ? 64 : 0, ts_ns, LT_REC_DATA, 1, request, line);
    send_frame(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);

    zmq_pollitem_t item = {.socket = sock, .events = ZMQ_POLLIN};
    if (zmq_poll(&item, 1, 10000) != 1) {
        fprintf(stderr, "frame_sender: no ACK within 10 s\n");
        return 1;
    }
    char ack[256];
    zmq_recv(sock, ack, sizeof ack, 0);
    printf("acked\n");
    return 0;
}

/* --claim: one BATCH for an instance the tool does not own. */
static int send_claim(const char *runner, uint64_t instance, const char *app, uint64_t pos,
                      const char *message)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    char line[1024];
    int len = snprintf(line, sizeof line, "%s\n", message);
    uint64_t end = pos + 64 + (((uint64_t)len + 7) & ~(uint64_t)7);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    pack_batch_head(&pk, 7, runner, app, instance);
    pack_str(&pk, "acked");
    msgpack_pack_uint64(&pk, pos);
    pack_str(&pk, "start");
    msgpack_pack_uint64(&pk, pos);
    pack_str(&pk, "end");
    msgpack_pack_uint64(&pk, end);
    msgpack_pack_array(&pk, 1);
    pack_record(&pk, pos, (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec, LT_REC_DATA, 1, NULL,
                line);
    send_frame(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    zmq_pollitem_t item = {.socket = sock, .events = ZMQ_POLLIN};
    if (zmq_poll(&item, 1, 3000) == 1) {
        char ack[256];
        zmq_recv(sock, ack, sizeof ack, 0);
        printf("acked\n");
    } else {
        printf("refused\n");
    }
    return 0;
}

int main(int argc, char **argv)
{
    bool stamp = argc >= 7 && argc <= 8 && strcmp(argv[3], "--stamp") == 0;
    bool claim = argc == 8 && strcmp(argv[3], "--claim") == 0;
    if (argc != 3 && !stamp && !claim) {
        fprintf(stderr, "usage: frame_sender ENDPOINT RUNNER_ID [--stamp TS_NS APP MESSAGE [REQUEST]]\n"
                        "       frame_sender ENDPOINT RUNNER_ID --claim INSTANCE APP POS MESSAGE\n");
        return 2;
    }
    void *ctx = zmq_ctx_new();
    sock = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 5000;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(sock, argv[1]) != 0) {
        fprintf(stderr, "frame_sender: connect %s: %s\n", argv[1], zmq_strerror(zmq_errno()));
        return 1;
    }
    if (claim) {
        int rc =
            send_claim(argv[2], strtoull(argv[4], NULL, 0), argv[5], strtoull(argv[6], NULL, 0), argv[7]);
        zmq_close(sock);
        zmq_ctx_term(ctx);
        return rc;
    }
    if (stamp) {
        int rc =
            send_stamped(argv[2], strtoull(argv[4], NULL, 10), argv[5], argv[6], argc == 8 ? argv[7] : NULL);
        zmq_close(sock);
        zmq_ctx_term(ctx);
        return rc;
    }
    srand(12345);
    unsigned char junk[4096];
    for (int i = 0; i < 200; i++) {
        size_t len = (size_t)(rand() % (int)sizeof junk);
        for (size_t k = 0; k < len; k++)
            junk[k] = (unsigned char)rand();
        if (len)
            junk[0] = (unsigned char)(junk[0] == 0x94 ? 0x95 : junk[0]); /* never a 4-array */
        send_frame(junk, len);
        malformed++;
    }

    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_frame(&sb, argv[2], "never stored", 0);
    for (size_t cut = 0; cut < sb.size; cut++) {
        send_frame(sb.data, cut);
        malformed++;
    }
    for (int tweak = 1; tweak <= 8; tweak++) {
        pack_frame(&sb, argv[2], "never stored", tweak);
        send_frame(sb.data, sb.size);
        malformed++;
    }
    /* Claims of huge element counts with nothing behind them. */
    static const unsigned char huge_array[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    static const unsigned char huge_map[] = {0x94, 0x01, 0x01, 0xdf, 0x7f, 0xff, 0xff, 0xff};
    static const unsigned char huge_bin[] = {0xc6, 0xff, 0xff, 0xff, 0xf0, 0x00};
    send_frame(huge_array, sizeof huge_array);
    send_frame(huge_map, sizeof huge_map);
    send_frame(huge_bin, sizeof huge_bin);
    malformed += 3;
    /* Deep nesting. */
    unsigned char deep[64];
    memset(deep, 0x91, sizeof deep);
    deep[63] = 0xc0;
    send_frame(deep, sizeof deep);
    malformed++;
    /* Trailing bytes after a valid frame. */
    pack_frame(&sb, argv[2], "never stored", 0);
    msgpack_sbuffer_write(&sb, "xx", 2);
    send_frame(sb.data, sb.size);
    malformed++;

    size_t big_len = LT_WIRE_MAX_FRAME + 1;
    unsigned char *big = calloc(1, big_len);
    send_frame(big, big_len);
    oversized++;
    free(big);

    zmq_send(sock, "part1", 5, ZMQ_SNDMORE);
    send_frame("part2", 5);
    malformed++;

    pack_frame(&sb, argv[2], "valid after garbage\n", 0);
    send_frame(sb.data, sb.size);
    valid++;
    msgpack_sbuffer_destroy(&sb);

    zmq_close(sock);
    zmq_ctx_term(ctx);
    printf("{\"malformed\": %d, \"oversized\": %d, \"valid\": %d}\n", malformed, oversized, valid);
    return 0;
}
