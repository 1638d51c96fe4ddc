/* fuzz_frame.c -- libFuzzer harness: one ZeroMQ payload as a runner (or
 * anyone reaching the endpoint) sends it.
 *
 * Feeds: the input as one frame to lt_msgpack_precheck and then to
 * lt_ingest_frame (collector/ingest.c), which decodes it with msgpack-c,
 * checks every field and feeds the records to the real assembler and a real
 * SQLite store (committed after every input, as the loop does).
 *
 * Asserts:
 *   - a buffer the pre-check passes is exactly one msgpack object to
 *     msgpack-c as well (the pre-check stands between a hostile header and
 *     the decoder's allocations, so it must not pass what msgpack-c sees
 *     differently);
 *   - the pre-check's depth limit is a limit: what passes at depth d passes
 *     at every deeper one;
 *   - a frame ingest accepts passed the pre-check and the size limit;
 *   - the store commits (nothing a frame holds can fail it);
 * and everything ASan, UBSan and the collector's own assertions check.
 */
#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "fuzz_store.h"
#include "ingest.h"
#include "logtap_wire.h"

static lt_ingest *ingest;

static void precheck_agrees_with_msgpack(const uint8_t *data, size_t size)
{
    int depth3 = lt_msgpack_precheck(data, size, 3);
    int depth15 = lt_msgpack_precheck(data, size, 15);
    FUZZ_REQUIRE(depth3 != 0 || depth15 == 0);
    if (depth15 != 0)
        return;
    msgpack_unpacked msg;
    msgpack_unpacked_init(&msg);
    size_t off = 0;
    msgpack_unpack_return rc = msgpack_unpack_next(&msg, (const char *)data, size, &off);
    FUZZ_REQUIRE(rc == MSGPACK_UNPACK_SUCCESS && off == size);
    msgpack_unpacked_destroy(&msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fuzz_st && fuzz_serial % 20000 == 0) {
        lt_ingest_close(ingest);
        ingest = NULL;
    }
    fuzz_store_next(20000);
    if (!ingest) {
        char err[256];
        ingest = lt_ingest_open("inproc://logtap-fuzz-frame", fuzz_asm, err, sizeof err);
        if (!ingest)
            fprintf(stderr, "fuzz: %s\n", err);
        FUZZ_REQUIRE(ingest != NULL);
    }
    precheck_agrees_with_msgpack(data, size);
    int rc = lt_ingest_frame(ingest, data, size, "fuzz", 4);
    FUZZ_REQUIRE(rc != 0 || (size <= LT_WIRE_MAX_FRAME && lt_msgpack_precheck(data, size, 3) == 0));
    FUZZ_REQUIRE(lt_store_commit(fuzz_st) == 0);
    lt_ingest_send_acks(ingest); /* to no one: the identity is not connected */
    return 0;
}
