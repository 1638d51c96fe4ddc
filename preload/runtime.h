/* runtime.h -- process-wide state of liblogtap.so, shared by the hook, the
 * sender and the start-up/fork/exit code in runtime.c.
 */
#ifndef LT_RUNTIME_H
#define LT_RUNTIME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "logtap.h"
#include "ring.h"

#define LT_EXPORT __attribute__((visibility("default")))
#define LT_TLS __thread __attribute__((tls_model("initial-exec")))

enum lt_ring_state {
    LT_RING_NONE = 0,     /* not created yet (forked child before its first write) */
    LT_RING_CREATING = 1, /* one thread is creating it; others wait for it */
    LT_RING_READY = 2,
    LT_RING_FAILED = 3,   /* creation failed; capture is off, the app is unaffected */
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
    char endpoint[256];
    char runner_id[LT_WIRE_MAX_ID + 1];
    char app_id[LT_WIRE_MAX_ID + 1];
    char version_id[LT_WIRE_MAX_ID + 1];
    char source[16];
    char ring_dir[200];
    uint64_t ring_capacity;
    int exit_timeout_ms; /* how long exit waits for the collector's ack */
    bool block_on_full;   /* LOGTAP_ON_FULL=block: wait for room, bounded */
    int block_timeout_ms; /* the bound, per write */
    bool unattributed;    /* LOGTAP_UNATTRIBUTED=1: logtap run --catch-all's
                             forwarder, whose output no one can attribute */
} lt_config;

typedef struct lt_runtime {
    lt_config cfg;
    _Atomic int ring_state; /* enum lt_ring_state */
    lt_ring ring;
    _Atomic int sender_state; /* enum lt_sender_state */
    _Atomic bool stopping;    /* the process is exiting: drain and stop */
    pid_t pid;
    uint64_t instance;
    uint64_t start_sigmask; /* signals blocked when the process (or forked
                               child) started: the baseline of a normal context */
    /* The request of the thread that spawned this process (LOGTAP_REQUEST_ID):
     * the request of every thread here that has no marker of its own. */
    char inherited_request[LOGTAP_REQUEST_ID_MAX];
    uint8_t inherited_request_len;
} lt_runtime;

extern lt_runtime lt_rt;

/* The calling thread's request marker. `len` is 0 outside requests; it is
 * written last on begin and first on end so a signal handler never sees a
 * half-copied ID. */
typedef struct lt_marker {
    volatile uint8_t len;
    char id[LOGTAP_REQUEST_ID_MAX];
} lt_marker;

extern LT_TLS lt_marker lt_thread_marker;

/* The ring, creating it on the process's first capture (also in a forked
 * child), or waiting (bounded) for the thread that is creating it; NULL if
 * capture is off or the ring could not be had. Async-signal-safe. */
lt_ring *lt_runtime_ring(void);
/* Start the sender thread if this process has none yet (forked child). Not
 * async-signal-safe: called from normal context only. */
void lt_runtime_ensure_sender(void);

uint32_t lt_thread_id(void);
uint64_t lt_now_ns(void);

/* Append a record (any kind) for the calling thread. Async-signal-safe. */
void lt_record(uint8_t kind, uint8_t fd, const char *request, size_t request_len,
               const struct iovec *iov, int iovcnt, size_t payload_len);

/* hook.c: record `n` bytes written to `fd` if it leads to stdout/stderr.
 * Async-signal-safe; keeps errno. */
void lt_capture_write(int fd, const void *buf, size_t n);
/* Record `n` bytes written to `stream` (1 or 2). Same rules. */
void lt_capture_stream(int stream, const void *buf, size_t n);
/* Catch-all mode (catchall.h): sets *stream to where `fd` leads (0: not
 * runner output) and returns the fd a write to it must go to so that it
 * can be recorded, or -1: write to `fd` and record nothing. Keeps errno. */
int lt_redirect_target(int fd, int *stream);

/* spawn.c: exec and spawn hooks keep children in the runner and request. */
void lt_spawn_init(void);
/* Record the settings children must carry, once start-up has set them. */
void lt_spawn_snapshot(void);

/* A NOTICE record: logtap's own runner-scope line about this process. */
void lt_notice(const char *text);

/* stdio.c: route C stdio's writes through lt_capture_write. */
void lt_stdio_hook(void);

/* sender.c */
int lt_sender_start(void);          /* 0 or -errno */
void lt_sender_stop(int timeout_ms); /* drain, wait for acks, join (bounded) */

#endif
