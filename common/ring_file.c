/* ring_file.c -- the pread-only reader of orphan rings (ring_file.h). */
#include "ring_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Scan chunks of lt_ring_file_resync: few system calls for a long scan,
 * little stack. */
#define SCAN_CHUNK (32 * 1024)

int lt_ring_file_adopt(lt_ring_file *ring, const char *path, lt_ring_header *head)
{
    ring->fd = -1;
    ring->mask = 0;
    if (snprintf(ring->path, sizeof ring->path, "%s", path) >= (int)sizeof ring->path)
        return -ENAMETOOLONG;
    /* Read-only: we never write a ring we adopt. O_NONBLOCK: a FIFO planted
     * under a ring's name must not hang the open (S_ISREG refuses it).
     * O_NOATIME: reading a file must not cost an inode write (a journal
     * handle, on ext4, that can wait for a commit); it is refused for
     * another user's file, which we refuse as well. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW | O_NOATIME);
    if (fd < 0)
        return -errno;
    struct stat st;
    int err = 0;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        err = errno == EWOULDBLOCK ? -EWOULDBLOCK : -errno;
        goto fail;
    }
    if (fstat(fd, &st) != 0) {
        err = -errno;
        goto fail;
    }
    if (st.st_uid != geteuid() && geteuid() != 0) {
        err = -EPERM;
        goto fail;
    }
    /* The size check turns away what is not a ring; it promises nothing
     * about the reads to come. */
    if (!S_ISREG(st.st_mode) || pread(fd, head, sizeof *head, 0) != (ssize_t)sizeof *head ||
        head->magic != LT_RING_MAGIC || head->layout != LT_RING_LAYOUT ||
        head->header_size != LT_RING_HEADER_SIZE || !lt_ring_capacity_ok(head->capacity) ||
        (uint64_t)st.st_size != LT_RING_HEADER_SIZE + head->capacity) {
        err = -EINVAL;
        goto fail;
    }
    ring->fd = fd;
    ring->mask = head->capacity - 1;
    return 0;
fail:
    close(fd);
    return err;
}

void lt_ring_file_close(lt_ring_file *ring, bool unlink_file)
{
    if (ring->fd < 0)
        return;
    /* Unlinked while still locked: no other collector adopts it between. */
    if (unlink_file)
        unlink(ring->path);
    close(ring->fd);
    ring->fd = -1;
}

static bool pread_fully(int fd, unsigned char *buf, size_t len, uint64_t offset)
{
    while (len > 0) {
        ssize_t got = pread(fd, buf, len, (off_t)offset);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return false; /* EOF: the file is shorter than the ring now */
        buf += got;
        len -= (size_t)got;
        offset += (uint64_t)got;
    }
    return true;
}

bool lt_ring_file_read(const lt_ring_file *ring, uint64_t pos, void *buf, size_t len)
{
    uint64_t capacity = ring->mask + 1, at = pos & ring->mask;
    if (len > capacity)
        return false;
    /* What the mapped reader gets from its mirror, in a second read. */
    size_t first = len < capacity - at ? len : (size_t)(capacity - at);
    return pread_fully(ring->fd, buf, first, LT_RING_HEADER_SIZE + at) &&
           pread_fully(ring->fd, (unsigned char *)buf + first, len - first, LT_RING_HEADER_SIZE);
}

bool lt_ring_file_slot(const lt_ring_file *ring, uint64_t pos, lt_ring_record *hdr, lt_slot_kind *kind)
{
    if (!lt_ring_file_read(ring, pos, hdr, sizeof *hdr))
        return false;
    *kind = lt_ring_classify(pos, hdr);
    return true;
}

/* lt_ring_scan's copies come out of one chunk of the file at a time. */
typedef struct scan_chunk {
    const lt_ring_file *ring;
    uint64_t limit;      /* of the scan: nothing past it is needed */
    uint64_t stop;       /* no position at or past it is looked at */
    bool stopped;        /* the scan reached `stop` */
    uint64_t start, len; /* ring positions held in buf */
    unsigned char buf[SCAN_CHUNK];
} scan_chunk;

static bool copy_from_chunk(void *ctx, uint64_t pos, lt_ring_record *out)
{
    scan_chunk *c = ctx;
    if (pos >= c->stop) {
        c->stopped = true;
        return false;
    }
    if (pos < c->start || pos - c->start + sizeof *out > c->len) {
        /* Headers are copied whole, so a header that straddles the chunk's
         * end starts the next chunk. */
        uint64_t to = c->stop < c->limit ? c->stop : c->limit;
        uint64_t want = to - pos + sizeof *out; /* the last header may end past limit */
        c->start = pos;
        c->len = sizeof c->buf < c->ring->mask + 1 ? sizeof c->buf : c->ring->mask + 1;
        if (c->len > want)
            c->len = want;
        if (!lt_ring_file_read(c->ring, pos, c->buf, c->len)) {
            c->len = 0;
            return false;
        }
    }
    memcpy(out, c->buf + (pos - c->start), sizeof *out);
    return true;
}

bool lt_ring_file_resync_until(const lt_ring_file *ring, uint64_t pos, uint64_t stop, uint64_t limit,
                               uint64_t *next)
{
    scan_chunk chunk = {.ring = ring, .limit = limit, .stop = stop};
    uint64_t q = lt_ring_scan(pos, limit, ring->mask + 1, copy_from_chunk, &chunk);
    /* The scan ended at q without a hit only if q's header was unreadable
     * or q is where the window ends. */
    if (q < limit && chunk.len == 0 && !chunk.stopped)
        return false;
    *next = q;
    return true;
}

bool lt_ring_file_resync(const lt_ring_file *ring, uint64_t pos, uint64_t limit, uint64_t *next)
{
    return lt_ring_file_resync_until(ring, pos, limit, limit, next);
}
