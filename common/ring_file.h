/* ring_file.h -- reading the ring of a process that is gone, through its
 * file descriptor only (the collector's reaper).
 *
 * The ring directory is shared with the runners, and so with whoever runs
 * there: a ring file left behind is untrusted, in its contents and in its
 * size. Whoever still has it open can truncate, shrink or grow it at any
 * moment, also while we read it. A reader that touched it through a mapping
 * would get SIGBUS for the pages the file no longer has; here every byte is
 * copied out with pread(2), so a file that ended early is a short read: the
 * caller stops there and counts the rest as lost. The size seen at adoption
 * says nothing about the next read, and is not relied on.
 *
 * Nothing here keeps more than a record header or a scan chunk: rings may
 * be up to LT_RING_MAX_CAPACITY, the caller owns the buffers payloads go to.
 *
 * The same rules as the mapped reader's (ring.h, "commit word"): slots are
 * judged by lt_ring_classify over a copied header, and unstamped slots are
 * passed by lt_ring_scan, the search lt_ring_resync does.
 *
 * The adopter holds the ring's flock from lt_ring_file_adopt until
 * lt_ring_file_close, so the file is replayed once and removed once.
 */
#ifndef LT_RING_FILE_H
#define LT_RING_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ring.h"

typedef struct lt_ring_file {
    int fd;        /* read-only; holds the flock while adopted, else -1 */
    uint64_t mask; /* capacity - 1, from the header at adoption */
    char path[256];
} lt_ring_file;

/* Adopt the ring at `path` left behind by a process that is gone: take its
 * lock and copy its header to *head. Returns 0; -EWOULDBLOCK if its owner
 * still lives; -EINVAL if the file is not a well-formed ring; -EPERM if it
 * belongs to another user; or another -errno. */
int lt_ring_file_adopt(lt_ring_file *ring, const char *path, lt_ring_header *head);
/* Release the lock; with `unlink_file`, remove the file first. */
void lt_ring_file_close(lt_ring_file *ring, bool unlink_file);

/* Copy `len` (at most the capacity) bytes of the data area starting at ring
 * position `pos`, going on at the start of the area past its end. False if
 * the file ended first or could not be read: nothing from there on is
 * readable now. */
bool lt_ring_file_read(const lt_ring_file *ring, uint64_t pos, void *buf, size_t len);
/* lt_ring_slot over the file: false if the header is unreadable, else
 * *kind, and *hdr for all kinds but UNSTAMPED. */
bool lt_ring_file_slot(const lt_ring_file *ring, uint64_t pos, lt_ring_record *hdr, lt_slot_kind *kind);
/* lt_ring_resync over the file, reading in bounded chunks: *next is the
 * first recognisable slot after `pos`, or `limit`. False if the file ended
 * before that was settled. */
bool lt_ring_file_resync(const lt_ring_file *ring, uint64_t pos, uint64_t limit, uint64_t *next);
/* The same search, looking at no position at or past `stop` (pos + 8 <=
 * stop <= limit): a long unstamped stretch is searched a window at a time
 * (the reaper's budget). *next is the first recognisable slot in (pos, stop)
 * -- one ending by `limit`, as ever -- or else the first position at or past
 * `stop` not looked at (the next window starts there), or `limit`. */
bool lt_ring_file_resync_until(const lt_ring_file *ring, uint64_t pos, uint64_t stop, uint64_t limit,
                               uint64_t *next);

#endif
