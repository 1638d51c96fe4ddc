/* hook.c -- the write() interposition, the write path behind it, and the
 * request markers.
 *
 * This is the hot path of every runner: each write(2) and writev(2) passes
 * through here, and those whose fd leads to the runner's stdout or stderr
 * (fdmap.c decides, whatever the fd number) are recorded. The real call happens first and its result is
 * returned untouched (value and errno), so the app sees exactly what it
 * would see without logtap; only the bytes the kernel accepted are recorded.
 * The path reads top to bottom in this file: the hooks, capture (which
 * stream, which request), record (cut into ring records), ring append
 * (common/ring.c), with the wait a full ring may impose.
 *
 * Everything here may run inside a signal handler (CPython's faulthandler
 * writes tracebacks from SIGSEGV): no malloc, no locks, no stdio, no zmq, no
 * lazy symbol lookup (the real calls are resolved by the constructor). A
 * per-thread flag stops recursion should anything below ever write to fd 1
 * or 2 itself.
 *
 * Under `logtap run --catch-all` (catchall.h) fds 1 and 2 are pipes whose
 * bytes logtap run stores as unattributed, so the order changes: the stream
 * is known first, a write we will record goes to the stream's pass-through
 * target instead of the pipe, and one we will not record (no target, or
 * nested in the hook) goes into the pipe. Every byte is stored once.
 */
/* pwrite and pwrite64 are two symbols we both define; with
 * _FILE_OFFSET_BITS=64 (meson's default) the headers would rename the first
 * into the second. On 64-bit targets off_t is 64 bits either way. */
#undef _FILE_OFFSET_BITS
#include "hook.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "catchall.h"
#include "fdmap.h"
#include "runtime.h"

_Static_assert(sizeof(off_t) == 8, "pwrite and pwrite64 share one path");

/* ---- the real calls ---- */

/* Resolved by lt_hook_init, first thing in the constructor. Before that,
 * and if resolution failed, the raw system call stands in. pwrite to
 * stdout is rare (it only works when stdout is a regular file, and then
 * lands at an offset), but it is a write that reaches the runner's stdout:
 * captured like any other. pwrite64/pwritev64 are the same calls under the
 * names large-file builds bind to. */
static LT_REAL(write) next_write;
static LT_REAL(writev) next_writev;
static LT_REAL(pwrite) next_pwrite;
static LT_REAL(pwrite64) next_pwrite64;
static LT_REAL(pwritev) next_pwritev;
static LT_REAL(pwritev64) next_pwritev64;

void lt_hook_init(void)
{
    next_write = LT_NEXT(write);
    next_writev = LT_NEXT(writev);
    next_pwrite = LT_NEXT(pwrite);
    next_pwrite64 = LT_NEXT(pwrite64);
    next_pwritev = LT_NEXT(pwritev);
    next_pwritev64 = LT_NEXT(pwritev64);
}

static ssize_t real_write(int fd, const void *buf, size_t count)
{
    return next_write ? next_write(fd, buf, count) : syscall(SYS_write, fd, buf, count);
}

static ssize_t real_writev(int fd, const struct iovec *iov, int iovcnt)
{
    return next_writev ? next_writev(fd, iov, iovcnt) : syscall(SYS_writev, fd, iov, iovcnt);
}

static ssize_t real_pwrite(LT_REAL(pwrite) real, long sysno, int fd, const void *buf, size_t count,
                           off_t offset)
{
    return real ? real(fd, buf, count, offset) : syscall(sysno, fd, buf, count, offset);
}

static ssize_t real_pwritev(LT_REAL(pwritev) real, int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
    return real ? real(fd, iov, iovcnt, offset) : syscall(SYS_pwritev, fd, iov, iovcnt, offset, 0);
}

/* ---- the write path, in the order a write takes it ---- */

LT_TLS lt_marker lt_thread_marker;
static LT_TLS int in_hook;

static void capture_written(int fd, const struct iovec *iov, int iovcnt, ssize_t n);
static ssize_t catchall_output(int fd, const struct iovec *iov, int iovcnt, bool positioned, off_t offset);
static void capture(int stream, const struct iovec *iov, int iovcnt, size_t accepted);
static bool append_or_wait(lt_ring *ring, uint8_t kind, uint8_t fd, uint32_t tid, uint64_t ts,
                           const char *request, size_t request_len, const struct iovec *iov, int iovcnt,
                           size_t payload_len);

LT_EXPORT ssize_t write(int fd, const void *buf, size_t count)
{
    struct iovec one = {.iov_base = (void *)buf, .iov_len = count};
    if (__builtin_expect(lt_catchall_on, 0))
        return catchall_output(fd, &one, 1, false, 0);
    ssize_t n = real_write(fd, buf, count);
    capture_written(fd, &one, 1, n);
    return n;
}

LT_EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    if (__builtin_expect(lt_catchall_on, 0))
        return catchall_output(fd, iov, iovcnt, false, 0);
    ssize_t n = real_writev(fd, iov, iovcnt);
    capture_written(fd, iov, iovcnt, n);
    return n;
}

static ssize_t pwrite_common(LT_REAL(pwrite) real, long sysno, int fd, const void *buf, size_t count,
                             off_t offset)
{
    struct iovec one = {.iov_base = (void *)buf, .iov_len = count};
    if (__builtin_expect(lt_catchall_on, 0))
        return catchall_output(fd, &one, 1, true, offset);
    ssize_t n = real_pwrite(real, sysno, fd, buf, count, offset);
    capture_written(fd, &one, 1, n);
    return n;
}

static ssize_t pwritev_common(LT_REAL(pwritev) real, int fd, const struct iovec *iov, int iovcnt,
                              off_t offset)
{
    if (__builtin_expect(lt_catchall_on, 0))
        return catchall_output(fd, iov, iovcnt, true, offset);
    ssize_t n = real_pwritev(real, fd, iov, iovcnt, offset);
    capture_written(fd, iov, iovcnt, n);
    return n;
}

LT_EXPORT ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)
{
    return pwrite_common(next_pwrite, SYS_pwrite64, fd, buf, count, offset);
}

LT_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset)
{
    return pwrite_common(next_pwrite64, SYS_pwrite64, fd, buf, count, offset);
}

LT_EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
    return pwritev_common(next_pwritev, fd, iov, iovcnt, offset);
}

LT_EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
    return pwritev_common(next_pwritev64, fd, iov, iovcnt, offset);
}

/* What a call wrote (n > 0) on fd, if fd leads to the runner's stdout or
 * stderr. */
static void capture_written(int fd, const struct iovec *iov, int iovcnt, ssize_t n)
{
    int stream;
    if (n > 0 && (stream = lt_fdmap_stream(fd)) != 0)
        capture(stream, iov, iovcnt, (size_t)n);
}

/* Catch-all routing, one way for every output call: write(2) and pwrite
 * come as one iovec, pwrite and pwritev with their offset (positioned).
 * The app's fd is a pipe then, where pwrite fails (ESPIPE); the
 * pass-through target is what the app's stdout was, so a positioned call
 * behaves there as it would have without catch-all. */
static ssize_t output(int fd, const struct iovec *iov, int iovcnt, bool positioned, off_t offset)
{
    return positioned ? real_pwritev(next_pwritev, fd, iov, iovcnt, offset) : real_writev(fd, iov, iovcnt);
}

/* The write to the pass-through target failed with EBADF because the app
 * closed it behind our back: the write goes to the pipe instead. */
static bool target_gone(ssize_t n, int target)
{
    if (n >= 0 || errno != EBADF)
        return false;
    int saved_errno = errno;
    bool gone = lt_catchall_target_gone(target);
    errno = saved_errno;
    return gone;
}

static ssize_t catchall_output(int fd, const struct iovec *iov, int iovcnt, bool positioned, off_t offset)
{
    int stream, target = lt_redirect_target(fd, &stream);
    if (target >= 0) {
        ssize_t n = output(target, iov, iovcnt, positioned, offset);
        if (!target_gone(n, target)) {
            if (n > 0)
                capture(stream, iov, iovcnt, (size_t)n);
            return n;
        }
    }
    return output(fd, iov, iovcnt, positioned, offset);
}

int lt_redirect_target(int fd, int *stream)
{
    *stream = lt_fdmap_stream(fd);
    if (!*stream || in_hook) /* a nested write is not recorded (capture()) */
        return -1;
    int saved_errno = errno;
    int target = lt_catchall_target(fd, *stream);
    errno = saved_errno;
    return target;
}

/* Starting the sender (pthread_create, zmq, malloc) is not async-signal-safe,
 * and the first capture may come from a signal handler (a crash dump before
 * anything else was printed). A handler runs with its signal added to the
 * mask (unless SA_NODEFER) or on the alternate signal stack (CPython's
 * faulthandler), so a thread whose mask blocks nothing beyond what the
 * process started with, off the alternate stack, is in a normal context.
 * A thread that blocks more (workers often block signals the main thread
 * handles) does not start the sender; after LT_SENDER_START_TRIES such
 * refusals it is started anyway, since no handler writes that much, and
 * the refusals cost two system calls each. */
#define LT_SENDER_START_TRIES 256

static _Atomic int start_refusals;

static bool lt_maybe_in_signal_handler(void)
{
    stack_t alt;
    uint64_t mask = 0;
    bool doubt = sigaltstack(NULL, &alt) != 0 || (alt.ss_flags & SS_ONSTACK) ||
                 syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &mask, sizeof mask) != 0 ||
                 (mask & ~lt_rt.start_sigmask) != 0;
    if (!doubt)
        return false;
    return atomic_fetch_add_explicit(&start_refusals, 1, memory_order_relaxed) < LT_SENDER_START_TRIES;
}

/* Bytes the runner wrote to `stream`: recorded under the thread's request
 * (or the one this process inherited), then the sender is started if this
 * process has none yet and it is safe to. */
static void capture(int stream, const struct iovec *iov, int iovcnt, size_t accepted)
{
    if (in_hook)
        return;
    in_hook = 1;
    int saved_errno = errno;
    uint8_t len = lt_thread_marker.len;
    const char *request = lt_thread_marker.id;
    if (!len) { /* a process spawned inside a request belongs to it */
        len = lt_rt.inherited_request_len;
        request = lt_rt.inherited_request;
    }
    lt_record(LT_REC_DATA, (uint8_t)stream, request, len, iov, iovcnt, accepted);
    if (atomic_load_explicit(&lt_rt.sender_state, memory_order_relaxed) == LT_SENDER_NONE &&
        !atomic_load_explicit(&lt_rt.stopping, memory_order_relaxed) && !lt_maybe_in_signal_handler())
        lt_runtime_ensure_sender();
    errno = saved_errno;
    in_hook = 0;
}

void lt_record(uint8_t kind, uint8_t fd, const char *request, size_t request_len, const struct iovec *iov,
               int iovcnt, size_t payload_len)
{
    lt_ring *ring = lt_runtime_ring();
    if (!ring) {
        /* Only output counts as lost output (a BEGIN's caller is not). */
        if (kind == LT_REC_DATA &&
            atomic_load_explicit(&lt_rt.ring_state, memory_order_relaxed) == LT_RING_CREATING)
            atomic_fetch_add_explicit(&lt_rt.unringed_bytes, payload_len, memory_order_relaxed);
        return;
    }
    uint32_t tid = lt_thread_id();
    uint64_t ts = lt_now_ns();
    if (payload_len == 0) {
        if (!append_or_wait(ring, kind, fd, tid, ts, request, request_len, NULL, 0, 0))
            lt_ring_count_drop(ring, 0);
        return;
    }
    /* Cut the payload into records of at most LT_WIRE_MAX_PAYLOAD bytes and
     * at most 8 pieces each; where the cuts fall does not matter, the
     * collector joins a thread's records back into lines. */
    enum { PIECES = 8 };
    struct iovec piece[PIECES];
    size_t left = payload_len, offset = 0;
    int i = 0;
    while (left && i < iovcnt) {
        int n = 0;
        size_t chunk = 0;
        while (n < PIECES && chunk < LT_WIRE_MAX_PAYLOAD && chunk < left && i < iovcnt) {
            size_t avail = iov[i].iov_len - offset;
            size_t take = avail;
            if (take > LT_WIRE_MAX_PAYLOAD - chunk)
                take = LT_WIRE_MAX_PAYLOAD - chunk;
            if (take > left - chunk)
                take = left - chunk;
            if (take) {
                piece[n].iov_base = (char *)iov[i].iov_base + offset;
                piece[n].iov_len = take;
                n++;
                chunk += take;
                offset += take;
            }
            if (offset == iov[i].iov_len) {
                i++;
                offset = 0;
            }
        }
        if (chunk && !append_or_wait(ring, kind, fd, tid, ts, request, request_len, piece, n, chunk))
            lt_ring_count_drop(ring, chunk);
        left -= chunk;
    }
}

/* The ring is full: with LOGTAP_ON_FULL=drop (the default) give up at once;
 * with block, wait for the sender to free space, at most
 * LOGTAP_BLOCK_TIMEOUT_MS per write. nanosleep is async-signal-safe, and the
 * bound keeps a writer that the sender itself depends on (zmq printing an
 * assertion, say) from waiting forever. */
static bool append_or_wait(lt_ring *ring, uint8_t kind, uint8_t fd, uint32_t tid, uint64_t ts,
                           const char *request, size_t request_len, const struct iovec *iov, int iovcnt,
                           size_t payload_len)
{
    if (lt_ring_append(ring, kind, fd, tid, ts, request, request_len, iov, iovcnt, payload_len))
        return true;
    if (!lt_rt.cfg.block_on_full ||
        atomic_load_explicit(&lt_rt.sender_state, memory_order_relaxed) != LT_SENDER_RUNNING)
        return false;
    struct timespec nap = {0, 200000}; /* 0.2 ms */
    for (int waited_us = 0; waited_us < lt_rt.cfg.block_timeout_ms * 1000; waited_us += 200) {
        nanosleep(&nap, NULL);
        if (lt_ring_append(ring, kind, fd, tid, ts, request, request_len, iov, iovcnt, payload_len))
            return true;
    }
    return false;
}

/* ---- other ways onto the write path ---- */

/* C stdio (stdio_hook.c): the FILE's fd decides the stream, as for write. */
void lt_capture_write(int fd, const void *buf, size_t n)
{
    int stream = lt_fdmap_stream(fd);
    if (stream)
        lt_capture_stream(stream, buf, n);
}

void lt_capture_stream(int stream, const void *buf, size_t n)
{
    struct iovec one = {.iov_base = (void *)buf, .iov_len = n};
    capture(stream, &one, 1, n);
}

void lt_notice(const char *text)
{
    size_t len = strlen(text);
    if (len > LT_WIRE_MAX_NOTICE)
        len = LT_WIRE_MAX_NOTICE;
    struct iovec iov = {.iov_base = (void *)text, .iov_len = len};
    lt_record(LT_REC_NOTICE, 0, NULL, 0, &iov, 1, len);
}

/* ---- request markers (logtap.h) ---- */

/* The length of a valid request ID, or 0 (errno EINVAL) for anything else. */
static size_t request_id_len(const char *request_id)
{
    size_t len = request_id ? strnlen(request_id, LT_WIRE_MAX_ID + 1) : 0;
    if (len == 0 || len > LT_WIRE_MAX_ID || !lt_wire_id_ok(request_id, len)) {
        errno = EINVAL;
        return 0;
    }
    return len;
}

static void set_marker(const char *request_id, size_t len)
{
    lt_thread_marker.len = 0;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    memcpy(lt_thread_marker.id, request_id, len);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    lt_thread_marker.len = (uint8_t)len;
}

LT_EXPORT int logtap_request_begin_for(const char *request_id, const char *caller_id)
{
    size_t len = request_id_len(request_id);
    if (!len)
        return -1;
    size_t caller_len = 0;
    if (caller_id && !(caller_len = request_id_len(caller_id)))
        return -1; /* same rule as request IDs; errno is EINVAL */
    int saved_errno = errno;
    in_hook++;
    set_marker(request_id, len);
    struct iovec caller = {.iov_base = (void *)caller_id, .iov_len = caller_len};
    lt_record(LT_REC_BEGIN, 0, request_id, len, &caller, caller_len ? 1 : 0, caller_len);
    in_hook--;
    lt_runtime_ensure_sender();
    errno = saved_errno;
    return 0;
}

LT_EXPORT int logtap_request_begin(const char *request_id)
{
    return logtap_request_begin_for(request_id, NULL);
}

/* END's payload: nothing, or a failed request's error (logtap_wire.h:
 * its type, a NUL, the message cut to LT_WIRE_MAX_ERROR_MESSAGE bytes). */
static int end_marker(const char *error_type, const char *message)
{
    uint8_t len = lt_thread_marker.len;
    if (len == 0) {
        errno = ENOENT;
        return -1;
    }
    size_t type_len = 0, message_len = 0;
    if (error_type != NULL) {
        if (!(type_len = request_id_len(error_type)))
            return -1; /* same rule as IDs; errno is EINVAL, the marker stays */
        message_len = message != NULL ? strnlen(message, LT_WIRE_MAX_ERROR_MESSAGE) : 0;
    }
    int saved_errno = errno;
    in_hook++;
    struct iovec error[3] = {
        {.iov_base = (void *)error_type, .iov_len = type_len},
        {.iov_base = (void *)"", .iov_len = 1},
        {.iov_base = (void *)message, .iov_len = message_len},
    };
    size_t payload = type_len ? type_len + 1 + message_len : 0;
    lt_record(LT_REC_END, 0, lt_thread_marker.id, len, error, type_len ? 3 : 0, payload);
    lt_thread_marker.len = 0;
    in_hook--;
    errno = saved_errno;
    return 0;
}

LT_EXPORT int logtap_request_end(void)
{
    return end_marker(NULL, NULL);
}

LT_EXPORT int logtap_request_fail(const char *error_type, const char *message)
{
    if (error_type == NULL) {
        errno = EINVAL;
        return -1;
    }
    return end_marker(error_type, message);
}

LT_EXPORT int logtap_request_mark(const char *request_id)
{
    if (!request_id) {
        lt_thread_marker.len = 0;
        return 0;
    }
    size_t len = request_id_len(request_id);
    if (!len)
        return -1;
    set_marker(request_id, len);
    return 0;
}
