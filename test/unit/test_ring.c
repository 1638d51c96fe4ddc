/* test_ring.c -- the shared-memory ring as a specification.
 *
 * Real files, real mmap, real threads: several writers append concurrently
 * while a reader drains, the ring wraps many times, and every record must
 * come out whole, once, in each writer's order. The collector's pread reader
 * (ring_file.h) must judge every slot as the mapped reader does, and see a
 * file cut under it as unreadable. Built under TSan too.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ring.h"
#include "ring_file.h"
#include "tools/ring_forge.h"
#include "unit.h"

static char dir[] = "/tmp/logtap-ring-test-XXXXXX";

static void make_ring(lt_ring *ring, uint64_t cap, uint64_t instance)
{
    lt_ring_meta meta = {.runner_id = "r",
                         .app_id = "a",
                         .version_id = "v",
                         .source = "run",
                         .pid = getpid(),
                         .instance = instance};
    REQUIRE(lt_ring_create(ring, dir, cap, &meta) == 0);
}

static bool append_str(lt_ring *ring, uint32_t tid, const char *req, const char *s, size_t len)
{
    struct iovec iov = {.iov_base = (void *)s, .iov_len = len};
    return lt_ring_append(ring, LT_REC_DATA, 1, tid, 1, req, req ? strlen(req) : 0, &iov, 1, len);
}

static void test_create_rules(void)
{
    lt_ring ring;
    lt_ring_meta meta = {
        .runner_id = "r", .app_id = "", .version_id = "", .source = "", .pid = 1, .instance = 7};
    CHECK(lt_ring_create(&ring, dir, 1000, &meta) == -EINVAL); /* not a power of two */
    CHECK(lt_ring_create(&ring, dir, 4096, &meta) == -EINVAL); /* below the minimum */
    CHECK(lt_ring_create(&ring, dir, LT_RING_MIN_CAPACITY, &meta) == 0);
    /* The name says the pid and a random tag, never the instance (anyone
     * may list the directory): a second ring of the same instance is
     * another file. */
    CHECK(strstr(ring.path, "-0000000000000007.ring") == NULL);
    lt_ring again;
    CHECK(lt_ring_create(&again, dir, LT_RING_MIN_CAPACITY, &meta) == 0);
    CHECK(strcmp(again.path, ring.path) != 0);
    lt_ring_close(&again, true);
    CHECK(access(ring.path, F_OK) == 0);
    CHECK(ring.hdr->magic == LT_RING_MAGIC && ring.hdr->capacity == LT_RING_MIN_CAPACITY);
    CHECK(strcmp(ring.hdr->runner_id, "r") == 0);
    lt_ring_close(&ring, true);
    CHECK(access(ring.path, F_OK) != 0);
}

/* Records that straddle the end of the data area stay contiguous. */
static void test_wrap_is_contiguous(void)
{
    lt_ring ring;
    make_ring(&ring, LT_RING_MIN_CAPACITY, 1);
    char payload[1000];
    uint64_t pos = 0;
    for (int round = 0; round < 2000; round++) {
        memset(payload, 'a' + round % 26, sizeof payload);
        size_t len = 1 + (size_t)(round * 37) % sizeof payload;
        CHECK(append_str(&ring, 9, round % 3 ? "req-x" : NULL, payload, len));
        const lt_ring_record *rec = lt_ring_peek(&ring, pos);
        CHECK(rec != NULL);
        CHECK(rec->data_len == len && rec->kind == LT_REC_DATA && rec->tid == 9);
        CHECK(rec->request_len == (round % 3 ? 5 : 0));
        for (size_t k = 0; k < len; k++)
            CHECK(lt_record_data(rec)[k] == (unsigned char)('a' + round % 26));
        pos += rec->size;
        CHECK(lt_ring_peek(&ring, pos) == NULL); /* nothing committed beyond */
        lt_ring_release(&ring, pos);
    }
    CHECK(pos > 4 * LT_RING_MIN_CAPACITY); /* wrapped several times */
    lt_ring_close(&ring, true);
}

static void test_full_ring_refuses_and_counts(void)
{
    lt_ring ring;
    make_ring(&ring, LT_RING_MIN_CAPACITY, 2);
    char payload[4000] = {0};
    int accepted = 0;
    while (append_str(&ring, 1, NULL, payload, sizeof payload))
        accepted++;
    CHECK(accepted == LT_RING_MIN_CAPACITY / (32 + 4000));
    lt_ring_count_drop(&ring, sizeof payload);
    CHECK(atomic_load(&ring.hdr->dropped_bytes) == sizeof payload);
    /* Releasing space lets writers in again. */
    const lt_ring_record *rec = lt_ring_peek(&ring, 0);
    CHECK(rec != NULL);
    lt_ring_release(&ring, rec->size);
    CHECK(append_str(&ring, 1, NULL, payload, sizeof payload));
    /* Oversized payloads are refused outright. */
    static char big[LT_WIRE_MAX_PAYLOAD + 1];
    CHECK(!append_str(&ring, 1, NULL, big, sizeof big));
    lt_ring_close(&ring, true);
}

/* What readers find where a writer died mid-append (ring.h, "Torn
 * records"), and how they get past it. */
static void test_torn_records(void)
{
    lt_ring ring;
    make_ring(&ring, LT_RING_MIN_CAPACITY, 4);
    lt_ring_record hdr;
    CHECK(append_str(&ring, 1, NULL, "before\n", 7));
    uint64_t stamped = lt_forge_torn(&ring, 99, 1000, true);
    CHECK(append_str(&ring, 1, NULL, "after\n", 6));
    CHECK(stamped == 40);
    CHECK(lt_ring_peek(&ring, stamped) == NULL); /* never complete */
    CHECK(lt_ring_slot(&ring, stamped, &hdr) == LT_SLOT_RESERVED);
    CHECK(hdr.tid == 99 && hdr.data_len == 1000 && hdr.size == 1032);
    CHECK(lt_ring_settled_size(&ring, stamped) == 0); /* not passed until declared torn */
    CHECK(lt_ring_mark_torn(&ring, stamped));
    CHECK(!lt_ring_mark_torn(&ring, stamped)); /* only once */
    CHECK(lt_ring_slot(&ring, stamped, &hdr) == LT_SLOT_TORN);
    CHECK(lt_ring_settled_size(&ring, stamped) == 1032);
    const lt_ring_record *after = lt_ring_peek(&ring, stamped + 1032);
    CHECK(after != NULL && after->data_len == 6);

    /* Died before stamping: nothing says how long the slot is, so the
     * reader looks for the next record that is recognisably there. */
    uint64_t unstamped = lt_forge_torn(&ring, 99, 3000, false);
    CHECK(append_str(&ring, 2, "req-z", "found\n", 6));
    uint64_t end = atomic_load(&ring.hdr->reserve_pos);
    CHECK(lt_ring_slot(&ring, unstamped, &hdr) == LT_SLOT_UNSTAMPED);
    uint64_t next = lt_ring_resync(&ring, unstamped, end);
    CHECK(next == unstamped + 3032);
    CHECK(lt_ring_peek(&ring, next) != NULL && lt_ring_peek(&ring, next)->tid == 2);
    /* A torn last record: nothing after it, the reader stops at the end. */
    uint64_t last = lt_forge_torn(&ring, 99, 10, false);
    CHECK(lt_ring_resync(&ring, last, atomic_load(&ring.hdr->reserve_pos)) ==
          atomic_load(&ring.hdr->reserve_pos));
    lt_ring_close(&ring, true);

    /* Laps later the slot holds stale records of earlier laps: none of them
     * is taken for the next record. */
    make_ring(&ring, LT_RING_MIN_CAPACITY, 5);
    uint64_t pos = 0;
    char payload[200];
    memset(payload, 's', sizeof payload);
    while (pos < 3 * LT_RING_MIN_CAPACITY) {
        CHECK(append_str(&ring, 3, NULL, payload, 1 + pos % 150));
        pos += lt_ring_peek(&ring, pos)->size;
        lt_ring_release(&ring, pos);
    }
    unstamped = lt_forge_torn(&ring, 99, 5000, false);
    CHECK(append_str(&ring, 4, NULL, "fresh\n", 6));
    next = lt_ring_resync(&ring, unstamped, atomic_load(&ring.hdr->reserve_pos));
    CHECK(next == unstamped + 5032 && lt_ring_peek(&ring, next)->tid == 4);
    lt_ring_close(&ring, true);
}

/* The pread reader sees what the mapped reader sees, at every position,
 * across the end of the data area too; once the file is cut, nothing. */
static void test_file_reader(void)
{
    lt_ring ring;
    make_ring(&ring, LT_RING_MIN_CAPACITY, 6);
    uint64_t pos = 0;
    char payload[300];
    memset(payload, 'f', sizeof payload);
    while (pos < 2 * LT_RING_MIN_CAPACITY + 1000) { /* a lap and more: records straddle the end */
        CHECK(append_str(&ring, 5, pos % 3 ? NULL : "req-f", payload, 1 + pos % 290));
        pos += lt_ring_peek(&ring, pos)->size;
        if (pos > LT_RING_MIN_CAPACITY / 2)
            lt_ring_release(&ring, pos - LT_RING_MIN_CAPACITY / 2);
    }
    lt_forge_torn(&ring, 99, 700, true);
    lt_forge_torn(&ring, 99, 900, false);
    CHECK(append_str(&ring, 6, NULL, "last\n", 5));
    uint64_t start = atomic_load(&ring.hdr->read_pos), end = atomic_load(&ring.hdr->reserve_pos);

    /* What the mapped reader sees, kept before the owner "dies" (the
     * mapping would keep its lock). */
    size_t slots = (end - start) / 8;
    lt_ring_record *mapped = calloc(slots, sizeof *mapped);
    lt_slot_kind *kinds = calloc(slots, sizeof *kinds);
    uint64_t *resynced = calloc(slots, sizeof *resynced);
    unsigned char *data = malloc(2 * LT_RING_MIN_CAPACITY);
    REQUIRE(mapped && kinds && resynced && data);
    for (size_t i = 0; i < slots; i++) {
        kinds[i] = lt_ring_slot(&ring, start + 8 * i, &mapped[i]);
        resynced[i] = lt_ring_resync(&ring, start + 8 * i, end);
    }
    memcpy(data, ring.data, 2 * LT_RING_MIN_CAPACITY); /* the mirror included */
    char path[sizeof ring.path];
    snprintf(path, sizeof path, "%s", ring.path);

    lt_ring_file file;
    lt_ring_header head;
    CHECK(lt_ring_file_adopt(&file, path, &head) == -EWOULDBLOCK); /* its owner lives */
    lt_ring_close(&ring, false);
    REQUIRE(lt_ring_file_adopt(&file, path, &head) == 0);
    CHECK(head.reserve_pos == end && head.capacity == LT_RING_MIN_CAPACITY);
    long differ = 0, resyncs = 0;
    for (size_t i = 0; i < slots; i++) {
        uint64_t q = start + 8 * i;
        lt_ring_record read;
        lt_slot_kind kind;
        CHECK(lt_ring_file_slot(&file, q, &read, &kind));
        if (kind != kinds[i] || (kind != LT_SLOT_UNSTAMPED && memcmp(&read, &mapped[i], sizeof read)))
            differ++;
        uint64_t next;
        if (i % 512 == 0 || kinds[i] == LT_SLOT_UNSTAMPED) { /* not all: each scans far */
            CHECK(lt_ring_file_resync(&file, q, end, &next));
            differ += next != resynced[i];
            resyncs++;
        }
        /* The same search a window at a time, as the reaper's steps do it:
         * each window ends at a position the next one starts from, unless
         * the slot there is the one found. */
        for (uint64_t w = 8; kinds[i] == LT_SLOT_UNSTAMPED && w <= 8192; w *= 32) {
            uint64_t p = q, found = end;
            while (lt_ring_file_resync_until(&file, p, p + w < end ? p + w : end, end, &next) && next < end) {
                lt_ring_record at;
                lt_slot_kind at_kind;
                if (!lt_ring_file_slot(&file, next, &at, &at_kind) ||
                    (at_kind != LT_SLOT_UNSTAMPED && at.size <= end - next)) {
                    found = next;
                    break;
                }
                differ += next < p + w || next >= p + w + 8; /* where the window ended */
                p = next;
            }
            differ += found != resynced[i];
        }
        if (kinds[i] == LT_SLOT_COMPLETE) {
            unsigned char body[LT_RING_RECORD_MAX];
            size_t len = mapped[i].request_len + mapped[i].data_len;
            CHECK(lt_ring_file_read(&file, q + sizeof read, body, len));
            differ += memcmp(body, data + ((q + sizeof read) & file.mask), len) != 0;
        }
    }
    CHECK(differ == 0 && resyncs > 0);
    free(mapped);
    free(kinds);
    free(resynced);
    free(data);

    /* Cut under the reader: short reads, never a signal. */
    int fd = open(path, O_RDWR | O_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(ftruncate(fd, LT_RING_HEADER_SIZE) == 0);
    lt_ring_record read;
    lt_slot_kind kind;
    uint64_t next;
    unsigned char byte;
    CHECK(!lt_ring_file_slot(&file, start, &read, &kind));
    CHECK(!lt_ring_file_resync(&file, start, end, &next));
    CHECK(!lt_ring_file_read(&file, end - 1, &byte, 1));
    REQUIRE(ftruncate(fd, 2 * (LT_RING_HEADER_SIZE + LT_RING_MIN_CAPACITY)) == 0); /* grown: zeros */
    CHECK(lt_ring_file_slot(&file, start, &read, &kind) && kind == LT_SLOT_UNSTAMPED);
    CHECK(lt_ring_file_resync(&file, start, end, &next) && next == end);
    close(fd);
    lt_ring_file_close(&file, true);
    CHECK(access(path, F_OK) != 0);
}

enum { WRITERS = 4, PER_WRITER = 200000 };

typedef struct writer_arg {
    lt_ring *ring;
    uint32_t id;
    long refused;
} writer_arg;

static void *writer(void *p)
{
    writer_arg *w = p;
    char msg[64];
    for (uint32_t seq = 0; seq < PER_WRITER; seq++) {
        int len =
            snprintf(msg, sizeof msg, "%u:%u:%.*s", w->id, seq, (int)(seq % 23), "xxxxxxxxxxxxxxxxxxxxxxx");
        while (!append_str(w->ring, w->id, NULL, msg, (size_t)len))
            w->refused++; /* full: the reader will make room */
    }
    return NULL;
}

static void test_concurrent_writers_one_reader(void)
{
    lt_ring ring;
    make_ring(&ring, LT_RING_MIN_CAPACITY, 3);
    pthread_t t[WRITERS];
    writer_arg args[WRITERS];
    for (uint32_t i = 0; i < WRITERS; i++) {
        args[i] = (writer_arg){.ring = &ring, .id = i + 1};
        pthread_create(&t[i], NULL, writer, &args[i]);
    }
    uint32_t next[WRITERS + 1] = {0};
    long total = 0;
    uint64_t pos = 0;
    while (total < (long)WRITERS * PER_WRITER) {
        const lt_ring_record *rec = lt_ring_peek(&ring, pos);
        if (!rec) {
            sched_yield();
            continue;
        }
        char text[64];
        CHECK(rec->data_len < sizeof text);
        memcpy(text, lt_record_data(rec), rec->data_len);
        text[rec->data_len] = '\0';
        unsigned id, seq;
        CHECK(sscanf(text, "%u:%u:", &id, &seq) == 2);
        CHECK(id == rec->tid && id >= 1 && id <= WRITERS);
        CHECK(seq == next[id]); /* each writer's records in order, none lost or repeated */
        CHECK(strlen(strrchr(text, ':') + 1) == seq % 23);
        next[id]++;
        total++;
        pos += rec->size;
        if (total % 64 == 0)
            lt_ring_release(&ring, pos);
    }
    lt_ring_release(&ring, pos);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(t[i], NULL);
    CHECK(lt_ring_peek(&ring, pos) == NULL);
    CHECK(atomic_load(&ring.hdr->reserve_pos) == pos);
    long refused = 0;
    for (int i = 0; i < WRITERS; i++)
        refused += args[i].refused;
    printf("  %ld records through a %d KiB ring, %.1f MiB, writers refused %ld times\n", total,
           LT_RING_MIN_CAPACITY / 1024, (double)pos / (1 << 20), refused);
    lt_ring_close(&ring, true);
}

int main(void)
{
    REQUIRE(mkdtemp(dir) != NULL);
    test_create_rules();
    test_wrap_is_contiguous();
    test_full_ring_refuses_and_counts();
    test_torn_records();
    test_file_reader();
    test_concurrent_writers_one_reader();
    rmdir(dir);
    return unit_done("unit-ring");
}
