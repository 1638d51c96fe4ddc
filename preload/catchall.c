/* catchall.c -- keeping captured writes out of the catch pipes of
 * `logtap run --catch-all` (see catchall.h; common/handover.h says how the
 * pass-through descriptors are obtained).
 *
 * Why it looks the way it does:
 * - The targets are fetched on the first write that needs them, so a
 *   process that never writes to stdout or stderr (a shell that only execs)
 *   never talks to logtap run. That write may come from any thread, even a
 *   signal handler, so the fetch is system calls only, bounded by socket
 *   timeouts; other threads wait for it (bounded), and writes nested in the
 *   fetching thread (a signal handler) do not redirect.
 * - The targets live on high close-on-exec descriptors: an exec'd program
 *   fetches its own, a forked child shares its parent's. The app may close
 *   them (Python's subprocess closes every fd above 2 in the child before
 *   exec): the close hooks tell us, and the next write fetches again.
 * - Order: bytes the preload never saw reach the terminal through logtap
 *   run, redirected writes go there directly. A script that runs a static
 *   tool and then echoes would see the echo overtake the tool's output
 *   still sitting in the pipe. So a redirected write first waits until the
 *   pipe is empty (at most ORDER_WAIT_MS); logtap run consumes pipe bytes
 *   only after passing them through, so an empty pipe means everything
 *   written into it earlier is out. When stdout and stderr lead to the same
 *   file (a terminal, 2>&1), the other stream's pipe counts too.
 * - A child that shares our memory but not our descriptor table (the
 *   vfork-style child of posix_spawn or of Python's subprocess, between
 *   clone and exec) must not change the state: its close_range would make
 *   us forget targets we still hold, a fetch would record descriptors we do
 *   not have. Fetching and forgetting check the pid; using a target is fine
 *   there (the child has copies of our descriptors).
 *
 * Invariant: target[s] >= 0 only while it names a descriptor this process
 * holds for stream s (the close/dup2/dup3/close_range hooks clear it before
 * the number can be reused, unless the app bypasses them with raw system
 * calls, which nothing here can see).
 */
#include "catchall.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "env.h"
#include "fdmap.h"
#include "handover.h"
#include "hook.h"
#include "runtime.h"

#define ORDER_WAIT_MS 100    /* longest a redirected write waits for the pipe */
#define ORDER_PAUSE_MS 1000  /* no waiting for this long after a wait ran out */
#define FETCH_WAIT_MS 5000   /* longest another thread waits for a fetch */
#define OTHER_PIPE_SEARCH 32 /* fds looked at for the other stream's pipe */
#define TARGET_FD_FLOOR 900
#define TARGET_FD_FLOOR_LOW 100 /* when RLIMIT_NOFILE is below the floor */

enum fetch_state { FETCH_NONE, FETCH_BUSY, FETCH_DONE, FETCH_FAILED };

bool lt_catchall_on;
static char name[LT_HANDOVER_NAME_MAX + 2]; /* LOGTAP_CATCHALL: "@" and the socket's name */
static _Atomic int fetch_state;
static _Atomic uint32_t fetcher;             /* thread ID of the fetching thread */
static _Atomic int provided;                 /* LT_HANDOVER_* bits logtap run sent */
static _Atomic int target[3] = {-1, -1, -1}; /* [1] stdout, [2] stderr */
static _Atomic bool same_file;               /* both targets lead to one file */
static _Atomic bool failure_told;
static _Atomic int64_t order_paused_until; /* lt_mono_ns() */

void lt_catchall_init(void)
{
    const char *value = lt_env_get(LT_HANDOVER_ENV);
    if (!value || !*value)
        return;
    /* From here on this process is in catch-all mode whatever happens: a
     * write that is not redirected must not be recorded either. */
    lt_catchall_on = true;
    if (strlen(value) < sizeof name)
        strcpy(name, value); /* else left empty: the hand-over says EINVAL */
}

void lt_catchall_after_fork(void)
{
    if (atomic_load(&fetch_state) == FETCH_BUSY)
        atomic_store(&fetch_state, FETCH_NONE);
    atomic_store(&fetcher, 0);
}

/* False in a child sharing our memory (see the top of this file). */
static bool own_memory(void)
{
    return (pid_t)syscall(SYS_getpid) == lt_rt.pid;
}

static void close_quietly(int fd)
{
    int saved = errno;
    syscall(SYS_close, fd);
    errno = saved;
}

static int move_high(int fd)
{
    int high = fcntl(fd, F_DUPFD_CLOEXEC, TARGET_FD_FLOOR);
    if (high < 0)
        high = fcntl(fd, F_DUPFD_CLOEXEC, TARGET_FD_FLOOR_LOW);
    if (high < 0)
        return fd;
    close_quietly(fd);
    return high;
}

/* Append a decimal number: snprintf is not async-signal-safe. */
static size_t put_number(char *at, unsigned v)
{
    char digits[12];
    size_t n = 0;
    do
        digits[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    for (size_t i = 0; i < n; i++)
        at[i] = digits[n - 1 - i];
    return n;
}

static void tell_failure(int err)
{
    if (atomic_exchange(&failure_told, true))
        return;
    const char *why = err == ECONNREFUSED || err == ENOENT ? "logtap run is not there"
                      : err == EAGAIN                      ? "logtap run did not answer"
                      : err == EINVAL                      ? "LOGTAP_CATCHALL is malformed"
                                                           : NULL;
    char text[256];
    size_t len = 0;
    const char *head = "[logtap: catch-all: this process could not get the pass-through descriptors of"
                       " logtap run (";
    memcpy(text, head, strlen(head));
    len += strlen(head);
    if (why) {
        memcpy(text + len, why, strlen(why));
        len += strlen(why);
    } else {
        memcpy(text + len, "errno ", 6);
        len += 6;
        len += put_number(text + len, (unsigned)err);
    }
    const char *tail = "); its output is stored unattributed]";
    memcpy(text + len, tail, strlen(tail) + 1);
    lt_notice(text);
}

/* Make sure this process holds its targets. False if it cannot have them. */
static bool fetch(void)
{
    int waited_ms = 0;
    for (;;) {
        int state = atomic_load(&fetch_state);
        if (state == FETCH_FAILED)
            return false;
        if (state == FETCH_BUSY) {
            if (atomic_load(&fetcher) == lt_thread_id() || waited_ms >= FETCH_WAIT_MS)
                return false; /* nested in our own fetch, or it hangs */
            struct timespec nap = {0, 1000000};
            nanosleep(&nap, NULL);
            waited_ms++;
            continue;
        }
        if (!own_memory())
            return false;
        if (!atomic_compare_exchange_strong(&fetch_state, &state, FETCH_BUSY))
            continue;
        atomic_store(&fetcher, lt_thread_id());
        int got[3], err, tries = 0;
        do
            err = lt_handover_receive(name, got);
        while (err == EINTR && ++tries < 3);
        if (!err) {
            for (int s = 1; s <= 2; s++) {
                if (got[s] < 0)
                    continue;
                int fd = move_high(got[s]), none = -1;
                if (!atomic_compare_exchange_strong(&target[s], &none, fd))
                    close_quietly(fd); /* still holding a good one */
            }
            atomic_store(&provided,
                         (got[1] >= 0 ? LT_HANDOVER_STDOUT : 0) | (got[2] >= 0 ? LT_HANDOVER_STDERR : 0));
            struct stat a, b;
            int out_fd = atomic_load(&target[1]), err_fd = atomic_load(&target[2]);
            atomic_store(&same_file, out_fd >= 0 && err_fd >= 0 && fstat(out_fd, &a) == 0 &&
                                         fstat(err_fd, &b) == 0 && a.st_dev == b.st_dev &&
                                         a.st_ino == b.st_ino);
        }
        atomic_store(&fetcher, 0);
        atomic_store(&fetch_state, err ? FETCH_FAILED : FETCH_DONE);
        if (err)
            tell_failure(err);
        return !err;
    }
}

/* Wait until the catch pipe behind `fd` is empty, or ORDER_WAIT_MS. A wait
 * that runs out means the pipe does not drain (uncaptured output faster
 * than the target takes it): then writes go on without waiting for
 * ORDER_PAUSE_MS, so that they are slowed by a tenth at most. */
static void wait_for_pipe(int fd)
{
    int queued = 0;
    if (syscall(SYS_ioctl, fd, FIONREAD, &queued) != 0 || queued <= 0)
        return;
    if (lt_mono_ns() < atomic_load_explicit(&order_paused_until, memory_order_relaxed))
        return;
    struct timespec nap = {0, 20000};
    for (long waited_ns = 0; waited_ns < ORDER_WAIT_MS * 1000000L; waited_ns += nap.tv_nsec) {
        nanosleep(&nap, NULL);
        if (syscall(SYS_ioctl, fd, FIONREAD, &queued) != 0 || queued <= 0)
            return;
        if (nap.tv_nsec < 1000000)
            nap.tv_nsec *= 2;
    }
    atomic_store_explicit(&order_paused_until, lt_mono_ns() + ORDER_PAUSE_MS * INT64_C(1000000),
                          memory_order_relaxed);
}

int lt_catchall_target(int fd, int stream)
{
    if (stream < 1 || stream > 2 || !lt_runtime_ring())
        return -1; /* no ring (capture off, or this thread is making it): the pipe keeps it */
    int t = atomic_load(&target[stream]);
    if (t < 0) {
        int bit = stream == 1 ? LT_HANDOVER_STDOUT : LT_HANDOVER_STDERR;
        if (atomic_load(&fetch_state) == FETCH_DONE && !(atomic_load(&provided) & bit))
            return -1; /* logtap run has no target for this stream */
        if (!fetch() || (t = atomic_load(&target[stream])) < 0)
            return -1;
    }
    wait_for_pipe(fd);
    if (atomic_load(&same_file)) {
        /* The other stream's pipe: usually its standard fd, but a shell
         * running `echo x >&2` has moved fd 1 aside (to fd 10 or so). */
        int other = 3 - stream;
        int pipe = lt_fdmap_stream(other) == other ? other : lt_fdmap_find(other, OTHER_PIPE_SEARCH);
        if (pipe >= 0)
            wait_for_pipe(pipe);
    }
    return t;
}

void lt_catchall_forget(int fd)
{
    if (!lt_catchall_on || fd < 0)
        return;
    for (int s = 1; s <= 2; s++) {
        int expected = fd;
        if (atomic_load(&target[s]) == fd && own_memory())
            atomic_compare_exchange_strong(&target[s], &expected, -1);
    }
}

void lt_catchall_forget_range(unsigned first, unsigned last)
{
    if (!lt_catchall_on)
        return;
    for (int s = 1; s <= 2; s++) {
        int t = atomic_load(&target[s]);
        if (t >= 0 && (unsigned)t >= first && (unsigned)t <= last && own_memory())
            atomic_compare_exchange_strong(&target[s], &t, -1);
    }
}

bool lt_catchall_target_gone(int t)
{
    if (fcntl(t, F_GETFD) >= 0)
        return false; /* open: EBADF is the write's own answer (a read-only stdout) */
    lt_catchall_forget(t);
    return true;
}
