/* fuzz_ring.c -- libFuzzer harness: a ring file left behind in the ring
 * directory, as any local process could leave one.
 *
 * Feeds: the input as the start of a ring file (header, then the data
 * area). When its header names a capacity the reader accepts (up to 1 MiB
 * here, to keep each run short), the file is extended with zeros to the
 * size a ring of that capacity has, so the reaper adopts it; the instance
 * is replaced by one of this input's own. The collector's reaper
 * (collector/reaper.c) then adopts it, replays its tail through
 * common/ring_file.c into the real assembler and store, the store commits
 * and the file is removed. Odd-sized inputs are also read directly after
 * the file was cut back to the input's length, as a runner that still has
 * it open could do while the collector reads it.
 *
 * Asserts:
 *   - a scan adopts at most this one file, and one it adopted is replayed,
 *     committed and removed;
 *   - the store commits;
 *   - on a cut file, lt_ring_file_resync answers a position within
 *     [pos, limit], and reads past the end fail instead of reading;
 * and everything ASan, UBSan and the collector's own assertions check.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_store.h"
#include "reaper.h"
#include "ring_file.h"

#define FUZZ_ENDPOINT "ipc:///tmp/logtap-fuzz-ring.sock"
#define MAX_FUZZ_CAPACITY (1024 * 1024)

static char ring_dir[64];
static char ring_path[128];
static lt_reaper *reaper;

static void remove_ring_dir(void)
{
    unlink(ring_path);
    rmdir(ring_dir);
}

static void write_ring(const uint8_t *data, size_t size, uint64_t instance)
{
    int fd = open(ring_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FUZZ_REQUIRE(fd >= 0);
    FUZZ_REQUIRE(write(fd, data, size) == (ssize_t)size);
    lt_ring_header head;
    if (size >= sizeof head) {
        memcpy(&head, data, sizeof head);
        FUZZ_REQUIRE(pwrite(fd, &instance, sizeof instance, offsetof(lt_ring_header, instance)) ==
                     (ssize_t)sizeof instance);
        if (lt_ring_capacity_ok(head.capacity) && head.capacity <= MAX_FUZZ_CAPACITY &&
            size < LT_RING_HEADER_SIZE + head.capacity)
            FUZZ_REQUIRE(ftruncate(fd, (off_t)(LT_RING_HEADER_SIZE + head.capacity)) == 0);
    }
    close(fd);
}

/* The reader over a file that is shorter than its ring. */
static void read_cut_file(size_t size)
{
    lt_ring_file ring;
    lt_ring_header head;
    if (lt_ring_file_adopt(&ring, ring_path, &head) != 0)
        return;
    FUZZ_REQUIRE(truncate(ring_path, (off_t)size) == 0);
    uint64_t end = head.reserve_pos;
    if (end < head.acked_pos || end - head.acked_pos > head.capacity)
        end = head.acked_pos;
    uint64_t pos = head.acked_pos;
    for (int steps = 0; pos < end && steps < 64; steps++) {
        lt_ring_record rec;
        lt_slot_kind kind;
        if (!lt_ring_file_slot(&ring, pos, &rec, &kind))
            break;
        if (kind == LT_SLOT_UNSTAMPED) {
            uint64_t next;
            if (!lt_ring_file_resync(&ring, pos, end, &next))
                break;
            FUZZ_REQUIRE(next > pos && next <= end);
            pos = next;
            continue;
        }
        unsigned char body[256];
        size_t want = rec.size > sizeof body ? sizeof body : rec.size;
        bool got = lt_ring_file_read(&ring, pos, body, want);
        FUZZ_REQUIRE(got || LT_RING_HEADER_SIZE + (pos & ring.mask) + want > size ||
                     (pos & ring.mask) + want > head.capacity);
        FUZZ_REQUIRE(rec.size > 0);
        pos += rec.size;
    }
    lt_ring_file_close(&ring, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fuzz_st && fuzz_serial % 5000 == 0) {
        lt_reaper_free(reaper);
        reaper = NULL;
    }
    fuzz_store_next(5000);
    if (!ring_dir[0]) {
        snprintf(ring_dir, sizeof ring_dir, "/tmp/logtap-fuzz-rings-XXXXXX");
        FUZZ_REQUIRE(mkdtemp(ring_dir) != NULL);
        atexit(remove_ring_dir);
    }
    /* A name of its own: the reaper does not look again into a file it
     * judged malformed while that file stays as it was (by inode, change
     * time and name), and a rewrite within a clock tick may look the same. */
    snprintf(ring_path, sizeof ring_path, "%s/logtap-%lx-1.ring", ring_dir, fuzz_serial);
    if (!reaper) {
        reaper = lt_reaper_new(ring_dir, FUZZ_ENDPOINT, fuzz_asm);
        FUZZ_REQUIRE(reaper != NULL);
    }
    uint64_t instance = (uint64_t)fuzz_serial << 8;
    write_ring(data, size, instance);
    fuzz_quiet_begin(); /* "ended while replayed" for every cut file */
    int adopted = lt_reaper_scan(reaper);
    fuzz_quiet_end();
    FUZZ_REQUIRE(adopted == 0 || adopted == 1);
    FUZZ_REQUIRE(lt_store_commit(fuzz_st) == 0);
    lt_reaper_release(reaper, true);
    struct stat st;
    FUZZ_REQUIRE(adopted == 0 || stat(ring_path, &st) != 0);
    if (size % 2 == 1) {
        write_ring(data, size, instance + 1);
        read_cut_file(size);
    }
    unlink(ring_path);
    return 0;
}
