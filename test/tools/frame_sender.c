/* frame_sender.c -- test tool: sends hostile and valid frames to a collector's
 * ingest endpoint, the way a buggy or malicious process could.
 *
 * Usage: frame_sender ENDPOINT RUNNER_ID
 * Sends, in order: random garbage, every truncation of a valid frame, frames
 * that are well-formed msgpack but break the wire rules, a frame above the
 * size limit, a multipart message, and finally one valid frame whose single
 * line is "valid after garbage". Prints a JSON summary of how many frames of
 * each kind it sent, which the test compares with the collector's counters.
 */
#include <msgpack.h>
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

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: frame_sender ENDPOINT RUNNER_ID\n");
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
