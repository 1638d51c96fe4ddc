/* ring_tool.c -- test tool: look into a runner's ring file, or tear a
 * record in it, while the runner lives (no lock taken).
 *
 *   ring_tool state FILE
 *       prints {"pid", "instance", "reserve", "read", "acked", "dropped"} of
 *       the header: whose it is, what the runner has written, freed and had
 *       acknowledged
 *   ring_tool tear FILE BYTES stamped|unstamped
 *       reserves a record of BYTES as a writer thread would and stops as one
 *       that dies mid-append (test/tools/ring_forge.h); prints {"pos"}. With
 *       "stamped" the record names this tool's thread as its writer, which is
 *       gone once the tool has exited.
 *   ring_tool forge DIR ENDPOINT RUNNER CAPACITY LINES [INSTANCE APP]
 *       makes a well-formed ring in DIR for the collector at ENDPOINT, as
 *       runner RUNNER's would be (of app APP, under the process instance
 *       INSTANCE: someone else's, in the tenant tests; by default app "" and
 *       an instance of this tool's own), and fills it with up to LINES DATA records
 *       "RUNNER n xxx...\n" (fewer if the ring of CAPACITY bytes fills up);
 *       prints {"path", "lines", "reserve"} and holds the ring's lock until
 *       its stdin ends, so the caller can open the file before the
 *       collector may adopt it (hostile-ring tests).
 *   ring_tool hollow DIR ENDPOINT RUNNER CAPACITY
 *       the same ring, but its header claims CAPACITY bytes written and
 *       none acknowledged, and the data area is left a hole (a sparse
 *       file: nothing in it stamped): the most a header can make a reaper
 *       search for records for the least memory (hostile-scan tests);
 *       prints {"path", "reserve"} and holds the lock until stdin ends.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
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

/* A ring made by the ring's own code, as a runner's is, so the collector
 * sees exactly what a dead runner leaves; only the "process" is this tool. */
static int forge(const char *dir, const char *endpoint, const char *runner, uint64_t capacity, uint64_t lines,
                 bool hollow, uint64_t instance, const char *app)
{
    lt_ring ring;
    lt_ring_meta meta = {.runner_id = runner,
                         .app_id = app,
                         .version_id = "",
                         .source = "run",
                         .endpoint = endpoint,
                         .pid = getpid(),
                         .instance = instance ? instance : (uint64_t)getpid() << 20};
    int rc = lt_ring_create(&ring, dir, capacity, &meta);
    if (rc != 0) {
        fprintf(stderr, "ring_tool: cannot create a ring in %s: %s\n", dir, strerror(-rc));
        return 1;
    }
    if (hollow) {
        /* Claimed, never written: the data area stays a hole. */
        atomic_store(&ring.hdr->reserve_pos, capacity);
        printf("{\"path\": \"%s\", \"reserve\": %" PRIu64 "}\n", ring.path, capacity);
        fflush(stdout);
        while (getchar() != EOF) {
        }
        lt_ring_close(&ring, false);
        return 0;
    }
    char line[256];
    uint64_t n = 0;
    for (; n < lines; n++) {
        int len = snprintf(line, sizeof line, "%s %" PRIu64 " %0180d\n", runner, n, 0);
        struct iovec iov = {line, (size_t)len};
        if (!lt_ring_append(&ring, LT_REC_DATA, 1, 1, n + 1, NULL, 0, &iov, 1, (size_t)len))
            break; /* full */
    }
    printf("{\"path\": \"%s\", \"lines\": %" PRIu64 ", \"reserve\": %" PRIu64 "}\n", ring.path, n,
           (uint64_t)atomic_load(&ring.hdr->reserve_pos));
    fflush(stdout);
    while (getchar() != EOF) {
    }
    lt_ring_close(&ring, false); /* "dies": the lock goes, the file stays */
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "state") == 0) {
        lt_ring ring;
        map_ring(&ring, argv[2]);
        lt_ring_header *h = ring.hdr;
        printf("{\"pid\": %lld, \"instance\": %llu, \"reserve\": %llu, \"read\": %llu, \"acked\": %llu, "
               "\"dropped\": %llu}\n",
               (long long)h->pid, (unsigned long long)h->instance,
               (unsigned long long)atomic_load(&h->reserve_pos),
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
    if ((argc == 7 || argc == 9) && strcmp(argv[1], "forge") == 0)
        return forge(argv[2], argv[3], argv[4], strtoull(argv[5], NULL, 0), strtoull(argv[6], NULL, 0), false,
                     argc == 9 ? strtoull(argv[7], NULL, 0) : 0, argc == 9 ? argv[8] : "");
    if (argc == 6 && strcmp(argv[1], "hollow") == 0)
        return forge(argv[2], argv[3], argv[4], strtoull(argv[5], NULL, 0), 0, true, 0, "");
    fprintf(stderr, "usage: ring_tool state FILE | ring_tool tear FILE BYTES stamped|unstamped |\n"
                    "       ring_tool forge DIR ENDPOINT RUNNER CAPACITY LINES [INSTANCE APP] |\n"
                    "       ring_tool hollow DIR ENDPOINT RUNNER CAPACITY\n");
    return 2;
}
