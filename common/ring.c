/* ring.c -- the shared-memory record ring: creation, the lock-free append used
 * by the write() hook, and the reader primitives used by the sender.
 *
 * Everything reachable from lt_ring_append runs inside hooked write() calls,
 * possibly in a signal handler: no malloc, no locks, no stdio, errno left to
 * the caller. Creation uses only system calls, so a forked child can create
 * its own ring lazily from the hook.
 */
#include "ring.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static size_t cstr_copy(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    if (src)
        while (src[n] && n + 1 < cap) {
            dst[n] = src[n];
            n++;
        }
    dst[n] = '\0';
    return n;
}

static void append_hex(char *dst, uint64_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; i--) {
        dst[i] = hex[v & 15];
        v >>= 4;
    }
}

/* A ring file's name must not say its instance: anyone who can list the
 * directory could otherwise name the instance in frames of their own
 * before its owner's first frame (assembler.c, "Instances belong to their
 * first identity"). So the name carries a random tag instead, from the
 * kernel (a system call: async-signal-safe), or, failing that, the
 * instance mixed with the clock and the stack's address. */
static uint64_t name_tag(uint64_t instance)
{
    uint64_t tag;
    if (syscall(SYS_getrandom, &tag, sizeof tag, 1 /* GRND_NONBLOCK */) == (long)sizeof tag)
        return tag;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    tag = instance ^ ((uint64_t)now.tv_nsec << 32) ^ (uint64_t)now.tv_sec ^ (uint64_t)(uintptr_t)&tag;
    tag ^= tag >> 33;
    tag *= UINT64_C(0xff51afd7ed558ccd);
    return tag ^ (tag >> 33);
}

static void ring_path(char *out, size_t cap, const char *dir, int64_t pid, uint64_t tag)
{
    /* "<dir>/logtap-<pid in hex>-<random tag in hex>.ring", built by hand:
     * snprintf is not async-signal-safe. */
    size_t n = cstr_copy(out, cap, dir);
    const char *prefix = "/logtap-";
    char tail[8 + 16 + 1 + 16 + 5 + 1];
    size_t t = 0;
    memcpy(tail, prefix, 8);
    t = 8;
    append_hex(tail + t, (uint64_t)pid, 16);
    t += 16;
    tail[t++] = '-';
    append_hex(tail + t, tag, 16);
    t += 16;
    memcpy(tail + t, ".ring", 6);
    t += 6;
    if (n + t <= cap)
        memcpy(out + n, tail, t);
    else
        out[0] = '\0';
}

/* Map `fd` (header + capacity bytes) with the data area twice, back to back. */
static int map_mirrored(lt_ring *ring, int fd, uint64_t capacity)
{
    size_t file_len = LT_RING_HEADER_SIZE + capacity;
    size_t map_len = LT_RING_HEADER_SIZE + 2 * capacity;
    unsigned char *base = mmap(NULL, map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return -errno;
    if (mmap(base, file_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED ||
        mmap(base + file_len, capacity, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
             LT_RING_HEADER_SIZE) == MAP_FAILED) {
        int err = -errno;
        munmap(base, map_len);
        return err;
    }
    ring->hdr = (lt_ring_header *)base;
    ring->data = base + LT_RING_HEADER_SIZE;
    ring->map_len = map_len;
    ring->mask = capacity - 1;
    return 0;
}

bool lt_ring_capacity_ok(uint64_t capacity)
{
    long page = sysconf(_SC_PAGESIZE);
    return capacity >= LT_RING_MIN_CAPACITY && capacity <= LT_RING_MAX_CAPACITY &&
           (capacity & (capacity - 1)) == 0 && capacity % (uint64_t)page == 0 &&
           LT_RING_HEADER_SIZE % page == 0;
}

/* Our descriptors live far from the low numbers apps reuse ("exec 3>file",
 * dup2 onto 3 or 4), so an app does not close or overwrite them by accident:
 * losing the lock fd would make the collector think we died. The flock
 * belongs to the open file description, so it moves with the descriptor. */
static int move_fd_high(int fd)
{
    struct rlimit lim;
    if (fd < 0 || getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur < 64)
        return fd;
    int floor = lim.rlim_cur > 1024 ? 768 : (int)(lim.rlim_cur * 3 / 4);
    if (fd >= floor)
        return fd;
    int high = fcntl(fd, F_DUPFD_CLOEXEC, floor);
    if (high < 0)
        return fd;
    close(fd);
    return high;
}

int lt_ring_create(lt_ring *ring, const char *dir, uint64_t capacity, const lt_ring_meta *meta)
{
    if (!lt_ring_capacity_ok(capacity))
        return -EINVAL;
    memset(ring, 0, sizeof *ring);
    ring->wake_fd = -1;
    ring->lock_fd = -1;
    ring_path(ring->path, sizeof ring->path, dir, meta->pid, name_tag(meta->instance));
    char temp[sizeof ring->path + 4];
    size_t n = cstr_copy(temp, sizeof temp, ring->path);
    if (!ring->path[0] || n + 4 >= sizeof temp)
        return -ENAMETOOLONG;
    memcpy(temp + n, ".new", 5);

    int fd = open(temp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    int err = 0;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 || ftruncate(fd, (off_t)(LT_RING_HEADER_SIZE + capacity)) != 0) {
        err = -errno;
        goto fail;
    }
    err = map_mirrored(ring, fd, capacity);
    if (err)
        goto fail;
    ring->lock_fd = fd = move_fd_high(fd);
    ring->wake_fd = move_fd_high(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));

    lt_ring_header *h = ring->hdr;
    h->layout = LT_RING_LAYOUT;
    h->header_size = LT_RING_HEADER_SIZE;
    h->capacity = capacity;
    h->instance = meta->instance;
    h->pid = meta->pid;
    cstr_copy(h->runner_id, sizeof h->runner_id, meta->runner_id);
    cstr_copy(h->app_id, sizeof h->app_id, meta->app_id);
    cstr_copy(h->version_id, sizeof h->version_id, meta->version_id);
    cstr_copy(h->source, sizeof h->source, meta->source);
    cstr_copy(h->endpoint, sizeof h->endpoint, meta->endpoint);
    h->flags = meta->flags;
    atomic_store_explicit(&h->reserve_pos, 0, memory_order_relaxed);
    atomic_store_explicit(&h->read_pos, 0, memory_order_relaxed);
    atomic_store_explicit(&h->acked_pos, 0, memory_order_relaxed);
    /* The magic goes last: a reader that sees it sees a complete header. */
    atomic_thread_fence(memory_order_release);
    h->magic = LT_RING_MAGIC;
    /* link(2), not rename(2): it fails instead of replacing another ring. */
    if (link(temp, ring->path) != 0) {
        err = -errno;
        munmap(ring->hdr, ring->map_len);
        ring->hdr = NULL;
        close(ring->wake_fd);
        goto fail;
    }
    unlink(temp);
    return 0;

fail:
    close(fd);
    unlink(temp);
    ring->lock_fd = -1;
    return err;
}

void lt_ring_forget_in_child(lt_ring *ring)
{
    if (ring->lock_fd >= 0)
        close(ring->lock_fd);
    if (ring->wake_fd >= 0)
        close(ring->wake_fd);
    ring->lock_fd = -1;
    ring->wake_fd = -1;
}

void lt_ring_close(lt_ring *ring, bool unlink_file)
{
    if (!ring->hdr)
        return;
    if (unlink_file)
        unlink(ring->path);
    munmap(ring->hdr, ring->map_len);
    if (ring->wake_fd >= 0)
        close(ring->wake_fd);
    if (ring->lock_fd >= 0)
        close(ring->lock_fd);
    ring->hdr = NULL;
    ring->data = NULL;
    ring->wake_fd = -1;
    ring->lock_fd = -1;
}

static void wake_reader(lt_ring *ring)
{
    /* No fence on this hot path: a writer that misses the flag the reader is
     * just setting leaves the reader asleep until its poll timeout (the
     * sender's idle timeout bounds it), so a lost wake-up delays a line, it
     * never loses one. */
    if (atomic_load_explicit(&ring->reader_sleeping, memory_order_relaxed) &&
        atomic_exchange_explicit(&ring->reader_sleeping, 0, memory_order_relaxed)) {
        uint64_t one = 1;
        /* The raw system call: this fd is not 1 or 2, but the hook must never
         * see its own traffic. */
        (void)syscall(SYS_write, ring->wake_fd, &one, sizeof one);
    }
}

bool lt_ring_append(lt_ring *ring, uint8_t kind, uint8_t fd, uint32_t tid, uint64_t ts_ns,
                    const char *request, size_t request_len, const struct iovec *iov, int iovcnt,
                    size_t payload_len)
{
    lt_ring_header *h = ring->hdr;
    if (request_len > LT_WIRE_MAX_ID)
        request_len = LT_WIRE_MAX_ID;
    if (payload_len > LT_WIRE_MAX_PAYLOAD)
        return false;
    uint64_t size = (sizeof(lt_ring_record) + request_len + payload_len + 7) & ~UINT64_C(7);
    uint64_t capacity = ring->mask + 1;

    uint64_t pos = atomic_load_explicit(&h->reserve_pos, memory_order_relaxed);
    do {
        /* Acquire: the reader is done with the bytes we are about to reuse. */
        uint64_t read = atomic_load_explicit(&h->read_pos, memory_order_acquire);
        /* Not "pos + size - read": with a stale pos the ring may have been
         * released past it, and the subtraction would wrap into a false
         * "full". A stale pos just fails the CAS below. */
        if (pos + size > read + capacity)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&h->reserve_pos, &pos, pos + size, memory_order_relaxed,
                                                    memory_order_relaxed));

    lt_ring_record *rec = (lt_ring_record *)(ring->data + (pos & ring->mask));
    rec->ts_ns = ts_ns;
    rec->size = (uint32_t)size;
    rec->tid = tid;
    rec->data_len = (uint32_t)payload_len;
    rec->kind = kind;
    rec->fd = fd;
    rec->request_len = (uint8_t)request_len;
    rec->reserved = 0;
    /* From here a reader knows the size and the writer: if this thread dies
     * before the commit, the slot can be passed (ring.h, "Torn records"). */
    atomic_store_explicit(&rec->commit, LT_RING_RESERVED(pos), memory_order_release);
    unsigned char *out = (unsigned char *)(rec + 1);
    if (request_len)
        memcpy(out, request, request_len);
    out += request_len;
    size_t left = payload_len;
    for (int i = 0; i < iovcnt && left; i++) {
        size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
        memcpy(out, iov[i].iov_base, n);
        out += n;
        left -= n;
    }
    atomic_store_explicit(&rec->commit, pos + 1, memory_order_release);
    wake_reader(ring);
    return true;
}

void lt_ring_count_drop(lt_ring *ring, uint64_t bytes)
{
    atomic_fetch_add_explicit(&ring->hdr->dropped_bytes, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&ring->hdr->dropped_records, 1, memory_order_relaxed);
    wake_reader(ring);
}

void lt_ring_reader_sleep_begin(lt_ring *ring)
{
    atomic_store_explicit(&ring->reader_sleeping, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
}

void lt_ring_reader_sleep_end(lt_ring *ring)
{
    uint64_t drained;
    atomic_store_explicit(&ring->reader_sleeping, 0, memory_order_relaxed);
    while (read(ring->wake_fd, &drained, sizeof drained) > 0) {
    }
}

static bool header_sane(const lt_ring_record *rec)
{
    return rec->size >= sizeof(lt_ring_record) && rec->size <= LT_RING_RECORD_MAX && !(rec->size & 7) &&
           sizeof(lt_ring_record) + rec->request_len + rec->data_len <= rec->size;
}

const lt_ring_record *lt_ring_peek(const lt_ring *ring, uint64_t pos)
{
    const lt_ring_record *rec = (const lt_ring_record *)(ring->data + (pos & ring->mask));
    if (atomic_load_explicit(&rec->commit, memory_order_acquire) != pos + 1)
        return NULL;
    if (!header_sane(rec))
        return NULL; /* cannot happen for our own writers; a corrupt file stops here */
    return rec;
}

lt_slot_kind lt_ring_classify(uint64_t pos, const lt_ring_record *copy)
{
    uint64_t word = atomic_load_explicit(&copy->commit, memory_order_relaxed);
    lt_slot_kind kind = word == pos + 1                 ? LT_SLOT_COMPLETE
                        : word == LT_RING_RESERVED(pos) ? LT_SLOT_RESERVED
                        : word == LT_RING_TORN(pos)     ? LT_SLOT_TORN
                                                        : LT_SLOT_UNSTAMPED;
    return kind == LT_SLOT_UNSTAMPED || header_sane(copy) ? kind : LT_SLOT_UNSTAMPED;
}

/* A private copy of the record header at `pos`: the commit word first, with
 * acquire, so the rest is at least as new as the stamp it was read with. */
static void copy_mapped(const lt_ring *ring, uint64_t pos, lt_ring_record *hdr)
{
    lt_ring_record *rec = (lt_ring_record *)(ring->data + (pos & ring->mask));
    uint64_t word = atomic_load_explicit(&rec->commit, memory_order_acquire);
    memcpy((char *)hdr + sizeof hdr->commit, (const char *)rec + sizeof rec->commit,
           sizeof *hdr - sizeof hdr->commit);
    atomic_store_explicit(&hdr->commit, word, memory_order_relaxed);
}

lt_slot_kind lt_ring_slot(const lt_ring *ring, uint64_t pos, lt_ring_record *hdr)
{
    /* The caller judges what it read, not what another process may be
     * changing under it. */
    copy_mapped(ring, pos, hdr);
    return lt_ring_classify(pos, hdr);
}

bool lt_ring_mark_torn(lt_ring *ring, uint64_t pos)
{
    lt_ring_record *rec = (lt_ring_record *)(ring->data + (pos & ring->mask));
    uint64_t expected = LT_RING_RESERVED(pos);
    return atomic_compare_exchange_strong_explicit(&rec->commit, &expected, LT_RING_TORN(pos),
                                                   memory_order_acq_rel, memory_order_acquire);
}

uint64_t lt_ring_scan(uint64_t pos, uint64_t limit, uint64_t capacity, lt_ring_copy_fn copy, void *ctx)
{
    lt_ring_record hdr;
    for (uint64_t q = pos + 8; q < limit && q - pos < capacity; q += 8) {
        if (!copy(ctx, q, &hdr))
            return q;
        if (lt_ring_classify(q, &hdr) != LT_SLOT_UNSTAMPED && hdr.size <= limit - q)
            return q;
    }
    return limit;
}

static bool copy_mapped_at(void *ring, uint64_t pos, lt_ring_record *hdr)
{
    copy_mapped(ring, pos, hdr);
    return true;
}

uint64_t lt_ring_resync(const lt_ring *ring, uint64_t pos, uint64_t limit)
{
    return lt_ring_scan(pos, limit, ring->mask + 1, copy_mapped_at, (void *)ring);
}

uint32_t lt_ring_settled_size(const lt_ring *ring, uint64_t pos)
{
    lt_ring_record hdr;
    lt_slot_kind kind = lt_ring_slot(ring, pos, &hdr);
    return kind == LT_SLOT_COMPLETE || kind == LT_SLOT_TORN ? hdr.size : 0;
}

void lt_ring_release(lt_ring *ring, uint64_t pos)
{
    atomic_store_explicit(&ring->hdr->read_pos, pos, memory_order_release);
}
