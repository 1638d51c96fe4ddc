/* ring_tool.c -- test tool: look into a runner's ring file, or tear a
 * record in it, while the runner lives (no lock taken).
 *
 *   ring_tool state FILE
 *       prints {"pid", "reserve", "read", "acked", "dropped"} of the header:
 *       what the runner has written, freed and had acknowledged
 *   ring_tool tear FILE BYTES stamped|unstamped
 *       reserves a record of BYTES as a writer thread would and stops as one
 *       that dies mid-append (test/tools/ring_forge.h); prints {"pos"}. With
 *       "stamped" the record names this tool's thread as its writer, which is
 *       gone once the tool has exited.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ring.h"
#include "tools/ring_forge.h"

static void fail(const char *what)
{
    perror(what);
    exit(1);
}

/* The same mirrored mapping as the ring's own (ring.c). */
static void map_ring(lt_ring *ring, const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        fail(path);
    lt_ring_header head;
    if (pread(fd, &head, sizeof head, 0) != (ssize_t)sizeof head || head.magic != LT_RING_MAGIC) {
        fprintf(stderr, "ring_tool: %s is not a ring file\n", path);
        exit(1);
    }
    size_t file_len = LT_RING_HEADER_SIZE + head.capacity;
    unsigned char *base = mmap(NULL, file_len + head.capacity, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED ||
        mmap(base, file_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED ||
        mmap(base + file_len, head.capacity, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
             LT_RING_HEADER_SIZE) == MAP_FAILED)
        fail("mmap");
    close(fd);
    memset(ring, 0, sizeof *ring);
    ring->hdr = (lt_ring_header *)base;
    ring->data = base + LT_RING_HEADER_SIZE;
    ring->mask = head.capacity - 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "state") == 0) {
        lt_ring ring;
        map_ring(&ring, argv[2]);
        lt_ring_header *h = ring.hdr;
        printf("{\"pid\": %lld, \"reserve\": %llu, \"read\": %llu, \"acked\": %llu, \"dropped\": %llu}\n",
               (long long)h->pid, (unsigned long long)atomic_load(&h->reserve_pos),
               (unsigned long long)atomic_load(&h->read_pos), (unsigned long long)atomic_load(&h->acked_pos),
               (unsigned long long)atomic_load(&h->dropped_bytes));
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "tear") == 0) {
        lt_ring ring;
        map_ring(&ring, argv[2]);
        uint64_t pos = lt_forge_torn(&ring, (uint32_t)syscall(SYS_gettid), (uint32_t)atoi(argv[3]),
                                     strcmp(argv[4], "stamped") == 0);
        if (pos == UINT64_MAX) {
            fprintf(stderr, "ring_tool: the ring is full\n");
            return 1;
        }
        printf("{\"pos\": %llu}\n", (unsigned long long)pos);
        return 0;
    }
    fprintf(stderr, "usage: ring_tool state FILE | ring_tool tear FILE BYTES stamped|unstamped\n");
    return 2;
}
