/* runtime.h -- process-wide state of liblogtap.so (configuration, the ring,
 * the sender's state, this process's identity) and runtime.c's API: the
 * ring on demand, the sender on demand, and the conventions every preload
 * file shares. Each hook file has its own header for what it offers:
 * hook.h (the write path and the request markers), fdmap.h, catchall.h,
 * spawn.h, stdio_hook.h, sender.h.
 */
#ifndef LT_RUNTIME_H
#define LT_RUNTIME_H

#include <dlfcn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "logtap.h"
#include "ring.h"

#define LT_EXPORT __attribute__((visibility("default")))
#define LT_TLS __thread __attribute__((tls_model("initial-exec")))

/* The definition of libc's `fn` that ours interposes, typed by libc's own
 * prototype: a pointer declared `LT_REAL(fn)` and set from `LT_NEXT(fn)`
 * cannot disagree with what it stands for. Hook files resolve their real
 * functions this way from the constructor, never lazily: a hook may run in
 * a signal handler, where dlsym is off limits. */
#define LT_REAL(fn) typeof(&fn)
#define LT_NEXT(fn) ((LT_REAL(fn))dlsym(RTLD_NEXT, #fn))

/* Room for a field of the ring header, for settings the header carries. */
#define LT_RING_FIELD_SIZE(field) sizeof(((lt_ring_header *)0)->field)

enum lt_ring_state {
    LT_RING_NONE = 0,     /* not created yet (forked child before its first write) */
    LT_RING_CREATING = 1, /* one thread is creating it; others wait for it */
    LT_RING_READY = 2,
    LT_RING_FAILED = 3, /* creation failed; capture is off, the app is unaffected */
};

enum lt_sender_state {
    LT_SENDER_NONE = 0,
    LT_SENDER_STARTING = 1,
    LT_SENDER_RUNNING = 2,
    LT_SENDER_STOPPED = 3,
};

/* How long exit waits for the collector to acknowledge the last records.
 * Short on purpose: whatever is not acknowledged by then stays in the ring
 * file, and the collector replays it once the process is gone. */
#define LT_DEFAULT_EXIT_TIMEOUT_MS 100

typedef struct lt_config {
    char endpoint[LT_RING_FIELD_SIZE(endpoint)];
    char runner_id[LT_WIRE_MAX_ID + 1];
    char app_id[LT_WIRE_MAX_ID + 1];
    char version_id[LT_WIRE_MAX_ID + 1];
    char source[LT_RING_FIELD_SIZE(source)];
    char ring_dir[200];
    uint64_t ring_capacity;
    int exit_timeout_ms;  /* how long exit waits for the collector's ack */
    bool block_on_full;   /* LOGTAP_ON_FULL=block: wait for room, bounded */
    int block_timeout_ms; /* the bound, per write */
    /* LOGTAP_CREDENTIAL: the launcher's proof of the identity above, sent
     * as "auth" with every frame (empty: none; too long: none). */
    char credential[LT_WIRE_MAX_CREDENTIAL + 1];
    bool unattributed; /* LOGTAP_UNATTRIBUTED=1: logtap run --catch-all's
                             forwarder, whose output no one can attribute */
} lt_config;

typedef struct lt_runtime {
    lt_config cfg;
    _Atomic int ring_state; /* enum lt_ring_state */
    lt_ring ring;
    /* Bytes written while no ring existed (a signal handler that interrupted
     * the ring's own creation, or a creation that took too long): reported
     * to the collector with the ring's own drop count. */
    _Atomic uint64_t unringed_bytes;
    _Atomic int sender_state; /* enum lt_sender_state */
    _Atomic bool stopping;    /* the process is exiting: drain and stop */
    pid_t pid;
    uint64_t instance;
    uint64_t start_sigmask; /* signals blocked when the process (or forked
                               child) started: the baseline of a normal context */
    /* The request of the thread that spawned this process (LOGTAP_REQUEST_ID):
     * the request of every thread here that has no marker of its own. Not
     * NUL-terminated: the length says where it ends. */
    char inherited_request[LT_WIRE_MAX_ID];
    uint8_t inherited_request_len;
} lt_runtime;

_Static_assert(LT_WIRE_MAX_ID <= UINT8_MAX, "request ID lengths are kept in a byte");

extern lt_runtime lt_rt;

/* The ring, creating it on the process's first capture (also in a forked
 * child), or waiting (bounded) for the thread that is creating it; NULL if
 * capture is off or the ring could not be had. Async-signal-safe. */
lt_ring *lt_runtime_ring(void);
/* Start the sender thread if this process has none yet (forked child). Not
 * async-signal-safe: called from normal context only. */
void lt_runtime_ensure_sender(void);

/* The calling thread's kernel ID and the wall clock, as records carry them.
 * Async-signal-safe. Inline: every captured write asks for both. */
extern LT_TLS uint32_t lt_cached_tid; /* 0 until asked; reset in a forked child */

static inline uint32_t lt_thread_id(void)
{
    if (!lt_cached_tid)
        lt_cached_tid = (uint32_t)syscall(SYS_gettid);
    return lt_cached_tid;
}

static inline uint64_t lt_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
