/* ring_forge.h -- for tests: leave in a ring what a writer leaves when it
 * dies between reserving a record and completing it (ring.h, "Torn
 * records"). Header-only, shared by test/unit/test_ring.c and the ring_tool program.
 */
#ifndef LT_RING_FORGE_H
#define LT_RING_FORGE_H

#include <stdbool.h>
#include <string.h>

#include "ring.h"

/* Reserve a record of `payload` bytes as lt_ring_append does, then stop:
 * with `stamped`, after writing the header and stamping it RESERVED (a
 * thread that died while copying its payload); without, right after the
 * reservation (one that died before the stamp). Returns the record's
 * position, or UINT64_MAX if the ring is full. */
static inline uint64_t lt_forge_torn(lt_ring *ring, uint32_t tid, uint32_t payload, bool stamped)
{
    lt_ring_header *h = ring->hdr;
    uint64_t size = (sizeof(lt_ring_record) + payload + 7) & ~UINT64_C(7);
    uint64_t pos = atomic_load(&h->reserve_pos);
    do {
        if (pos + size > atomic_load(&h->read_pos) + ring->mask + 1)
            return UINT64_MAX;
    } while (!atomic_compare_exchange_weak(&h->reserve_pos, &pos, pos + size));
    if (!stamped)
        return pos;
    lt_ring_record *rec = (lt_ring_record *)(ring->data + (pos & ring->mask));
    rec->ts_ns = 1;
    rec->size = (uint32_t)size;
    rec->tid = tid;
    rec->data_len = payload;
    rec->kind = LT_REC_DATA;
    rec->fd = 1;
    rec->request_len = 0;
    rec->reserved = 0;
    atomic_store_explicit(&rec->commit, LT_RING_RESERVED(pos), memory_order_release);
    memset(rec + 1, '?', payload / 2); /* half the payload copied, then death */
    return pos;
}

#endif
