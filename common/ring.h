/* ring.h -- the per-process record ring in a shared-memory file.
 *
 * Writers are the hooked write() calls of every thread, including signal
 * handlers; the reader is the process's sender thread (and, after a crash,
 * the collector, which reads the file without mapping it: ring_file.h). So
 * appending must be lock-free and async-signal-safe: one compare-and-swap
 * reserves space, the record is filled in, and a release store of its commit
 * word publishes it.
 *
 * The data area is mapped twice, back to back, so a record that runs past the
 * end of the ring continues at its start in the file while staying contiguous
 * in memory: no record is ever split and neither writers nor the sender
 * handle wrap-around (the collector's pread reader reads such a record in
 * two pieces).
 *
 * Positions are byte offsets that only grow (64 bits do not wrap in practice);
 * the byte at position p lives at data[p & (capacity - 1)]. A record's position
 * is its sequence number on the wire.
 *
 * Liveness: the creating process holds an exclusive flock on the file for
 * its whole life (the descriptor is close-on-exec and closed in forked
 * children), so "the lock can be taken" means "the owner is gone": that is
 * how the collector finds rings whose tail it must replay. The file is made
 * under a temporary name and linked into place once locked and initialised,
 * so no one ever sees a ring without its lock or header.
 *
 * The commit word (first 8 bytes) of the record at position p says how far
 * its writer got:
 *   p + 1                complete
 *   LT_RING_RESERVED(p)  reserved, header written (size, tid, lengths), the
 *                        payload maybe not yet
 *   LT_RING_TORN(p)      a reader found the writer gone before completing it
 *                        and counted its payload as dropped; readers step over
 *   anything else        stale bytes of an earlier lap: the writer has not
 *                        stamped it yet, or died in the few instructions
 *                        between reserving and stamping
 * Stale commit words belong to earlier laps (p - k*capacity) and never equal
 * the first three for p.
 *
 * Torn records. A writer that dies between reserving and committing (its
 * process SIGKILLed mid-append, a thread ended from a signal handler) leaves a
 * slot that will never complete. Readers get past it without trusting its
 * payload: a RESERVED record has a valid size, so the next record starts
 * right after it; an unstamped slot is passed by lt_ring_resync, which finds
 * the next recognisable record. A live process's sender passes a RESERVED
 * record only once its writer thread no longer exists (sender.c), since a
 * writer still at work would write into space handed back to others; the
 * collector's reaper passes them all, since the ring's process is gone.
 *
 * Invariants:
 *   read_pos <= every committed-or-reserved position < reserve_pos
 *   reserve_pos - read_pos <= capacity
 *   a record at position p is complete iff its commit word == p + 1
 *   a commit word moves only forward: stale -> RESERVED(p) -> p + 1 (writer),
 *     or RESERVED(p) -> TORN(p) (a reader, once the writer is gone)
 *   the header of a RESERVED, TORN or complete record is fully written
 *     (release store of the stamp, acquire load by readers)
 */
#ifndef LT_RING_H
#define LT_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "logtap_wire.h"

#define LT_RING_MAGIC UINT64_C(0x31474e5250415447) /* "GTAPRNG1" little-endian */
#define LT_RING_LAYOUT 1
#define LT_RING_HEADER_SIZE 4096
#define LT_RING_MIN_CAPACITY (256 * 1024)
/* Where rings are made unless LOGTAP_RING_DIR (runner) or --rings (collector)
 * says otherwise: both sides must agree for a dead runner's ring to be found. */
#define LT_DEFAULT_RING_DIR "/dev/shm"
#define LT_RING_DEFAULT_CAPACITY (8 * 1024 * 1024)
#define LT_RING_MAX_CAPACITY (UINT64_C(1) << 32)
/* The process's output cannot be attributed (logtap run --catch-all's
 * forwarder): the BATCH meta key "unattributed". */
#define LT_RING_FLAG_UNATTRIBUTED 1u

typedef struct lt_ring_header {
    uint64_t magic;
    uint32_t layout;
    uint32_t header_size;
    uint64_t capacity; /* data bytes, a power of two and page multiple */
    uint64_t instance;
    int64_t pid;
    char runner_id[LT_WIRE_MAX_ID + 1];
    char app_id[LT_WIRE_MAX_ID + 1];
    char version_id[LT_WIRE_MAX_ID + 1];
    char source[16];
    char endpoint[256]; /* the collector this ring is meant for */
    uint32_t flags;     /* LT_RING_FLAG_*; zero in rings of older writers */

    /* Written by writers. */
    alignas(64) _Atomic uint64_t reserve_pos;
    _Atomic uint64_t dropped_bytes; /* bytes the hook could not keep */
    _Atomic uint64_t dropped_records;
    /* Written by the reader. */
    alignas(64) _Atomic uint64_t read_pos; /* below this, space is free */
    _Atomic uint64_t acked_pos;            /* below this, durable in the store
                                               (the sender sets read_pos = acked_pos) */
} lt_ring_header;

_Static_assert(sizeof(lt_ring_header) <= LT_RING_HEADER_SIZE, "ring header fits its page");
_Static_assert(offsetof(lt_ring_header, reserve_pos) == 704,
               "flags took padding: rings of older writers still read the same");

typedef struct lt_ring_record {
    _Atomic uint64_t commit; /* position + 1 once the record is complete */
    uint64_t ts_ns;
    uint32_t size; /* whole record incl. header, multiple of 8 */
    uint32_t tid;
    uint32_t data_len;
    uint8_t kind; /* enum lt_record_kind */
    uint8_t fd;
    uint8_t request_len; /* bytes of request ID that follow the header */
    uint8_t reserved;
    /* request ID bytes, then data bytes, then padding to 8 */
} lt_ring_record;

_Static_assert(sizeof(lt_ring_record) == 32, "record header layout is part of the ring format");

#define LT_RING_RECORD_MAX (sizeof(lt_ring_record) + LT_WIRE_MAX_ID + LT_WIRE_MAX_PAYLOAD + 8)

typedef struct lt_ring {
    lt_ring_header *hdr;
    unsigned char *data; /* 2 * capacity bytes of mirrored mapping */
    size_t map_len;      /* whole reservation, for munmap */
    uint64_t mask;
    /* Process-local: the reader sets `reader_sleeping` before it blocks on
     * `wake_fd`; a writer that sees it set clears it and writes the eventfd,
     * so an idle reader wakes at once and a busy one costs writers nothing. */
    _Atomic uint32_t reader_sleeping;
    int wake_fd;
    int lock_fd; /* holds the flock that says the owner lives */
    char path[256];
} lt_ring;

typedef struct lt_ring_meta {
    const char *runner_id, *app_id, *version_id, *source, *endpoint;
    int64_t pid;
    uint64_t instance;
    uint32_t flags; /* LT_RING_FLAG_* */
} lt_ring_meta;

/* Create a ring file named after pid and a random tag (never the instance:
 * ring.c says why) in `dir` (mode 0600, O_EXCL)
 * and map it. Async-signal-safe (system calls only), so a forked child may
 * create its ring from the hook. Returns 0, or -errno. */
int lt_ring_create(lt_ring *ring, const char *dir, uint64_t capacity, const lt_ring_meta *meta);
/* A capacity rings may have: a power of two, a page multiple, within
 * [LT_RING_MIN_CAPACITY, LT_RING_MAX_CAPACITY]. (The collector reads the
 * rings of processes that are gone without mapping them: ring_file.h.) */
bool lt_ring_capacity_ok(uint64_t capacity);
/* A forked child must not keep its parent's ring alive: close the inherited
 * lock descriptor (the parent's own descriptor keeps the lock). */
void lt_ring_forget_in_child(lt_ring *ring);
/* Unmap and release the lock; with `unlink_file`, also remove the file. */
void lt_ring_close(lt_ring *ring, bool unlink_file);

/* Append one record whose payload is the concatenation of `iov` (at most
 * LT_WIRE_MAX_PAYLOAD bytes in all). Async-signal-safe, lock-free.
 * Returns false when the ring is full: the caller counts the loss. */
bool lt_ring_append(lt_ring *ring, uint8_t kind, uint8_t fd, uint32_t tid, uint64_t ts_ns,
                    const char *request, size_t request_len, const struct iovec *iov, int iovcnt,
                    size_t payload_len);

/* Count bytes that could not be kept; the sender reports them as a GAP. */
void lt_ring_count_drop(lt_ring *ring, uint64_t bytes);

#define LT_RING_COMMIT_FLAG (UINT64_C(1) << 63) /* positions stay far below it */
#define LT_RING_RESERVED(p) ((uint64_t)(p) | LT_RING_COMMIT_FLAG)
#define LT_RING_TORN(p) (((uint64_t)(p) + 1) | LT_RING_COMMIT_FLAG)

/* Reader side. Arm the wake-up before the last emptiness check, then block on
 * ring->wake_fd with a timeout; see lt_ring.reader_sleeping. Writers check
 * the flag without a fence, so a wake-up can be missed in a narrow race: the
 * timeout is what bounds the delay then. */
void lt_ring_reader_sleep_begin(lt_ring *ring);
void lt_ring_reader_sleep_end(lt_ring *ring);

/* The complete record at `pos`, or NULL if the record there is
 * not committed yet (or pos == reserve_pos). */
const lt_ring_record *lt_ring_peek(const lt_ring *ring, uint64_t pos);
/* Give back everything below `pos` to the writers. */
void lt_ring_release(lt_ring *ring, uint64_t pos);

/* What a reader finds at a position below reserve_pos (see "commit word"). */
typedef enum lt_slot_kind {
    LT_SLOT_COMPLETE,
    LT_SLOT_RESERVED,
    LT_SLOT_TORN,
    LT_SLOT_UNSTAMPED, /* also: a stamp whose header is not sane (a corrupt file) */
} lt_slot_kind;

/* Classify the slot at `pos` (the caller knows pos < reserve_pos) and, for
 * all kinds but UNSTAMPED, copy its header to *hdr with a sane size: the
 * next slot starts at pos + hdr->size. */
lt_slot_kind lt_ring_slot(const lt_ring *ring, uint64_t pos, lt_ring_record *hdr);
/* The rules lt_ring_slot applies, over a private copy of the record header
 * found at `pos` (commit word included), however it was copied: the mapped
 * reader and the file reader (ring_file.h) judge slots alike. */
lt_slot_kind lt_ring_classify(uint64_t pos, const lt_ring_record *copy);
/* Declare the RESERVED record at `pos` torn (its writer is gone). False if
 * its commit word is no longer RESERVED(pos). */
bool lt_ring_mark_torn(lt_ring *ring, uint64_t pos);
/* The first position in (pos, limit) at 8-byte steps where a recognisable
 * slot (complete, reserved or torn, sane header, ending by `limit`) starts,
 * or `limit`: how a reader passes a slot whose writer died unstamped. */
uint64_t lt_ring_resync(const lt_ring *ring, uint64_t pos, uint64_t limit);
/* lt_ring_resync's search over any reader: `copy` copies the record header
 * at a position (commit word included) and returns false if it cannot, and
 * the search then ends there, returning that position. */
typedef bool (*lt_ring_copy_fn)(void *ctx, uint64_t pos, lt_ring_record *out);
uint64_t lt_ring_scan(uint64_t pos, uint64_t limit, uint64_t capacity, lt_ring_copy_fn copy, void *ctx);
/* The size of the complete or torn record at `pos`, 0 for anything else:
 * what a reader that has already dealt with torn records steps over. */
uint32_t lt_ring_settled_size(const lt_ring *ring, uint64_t pos);

static inline const char *lt_record_request(const lt_ring_record *r)
{
    return (const char *)(r + 1);
}

static inline const unsigned char *lt_record_data(const lt_ring_record *r)
{
    return (const unsigned char *)(r + 1) + r->request_len;
}

#endif
