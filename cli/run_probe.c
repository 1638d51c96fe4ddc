/* run_probe.c -- does a collector answer at the endpoint `logtap run` gives
 * the command? If not, say so on stderr.
 *
 * Without this, a mistyped --endpoint (or no collector at all) is silent:
 * the preload keeps the lines in its ring file and the command exits 0, and
 * the user finds nothing in `logtap runners logs` without knowing why.
 *
 * Why it looks the way it does:
 * - The check is a ZeroMQ connection of its own to the endpoint, judged by
 *   the ZMTP handshake (ZMQ_EVENT_HANDSHAKE_SUCCEEDED from a socket
 *   monitor): it needs no message, so the collector sees only a peer come
 *   and go, and it does not depend on the command writing anything or on
 *   the preload's internals. A socket that accepts but does not speak ZMTP
 *   (a wrong port) does not count as an answer.
 * - `logtap run` execs the command, so the check runs in a watcher forked
 *   twice (the command must not inherit a child it did not make, nor get
 *   its SIGCHLD). The watcher holds only stderr (stdin and stdout are
 *   /dev/null, every other descriptor closed), so a pipe reading the
 *   command's stdout ends when the command does.
 * - The watcher waits up to LT_RUN_PROBE_WAIT_MS, or, when the command
 *   ends sooner (seen on a pidfd of the process it execs in), 250 ms more:
 *   a quick command against a live collector gets no false warning (a
 *   local handshake takes about a millisecond), and a quick command against
 *   none gets its warning promptly instead of after the shell's next prompt.
 * - It warns and never fails the command: the lines are not lost (they
 *   wait in the ring for a collector at that endpoint, or for one that
 *   replays the ring directory), and the command's exit status stays its
 *   own.
 */
#include "run_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"

#define COMMAND_END_GRACE_MS 250

enum probe_result { PROBE_ANSWERED, PROBE_SILENT, PROBE_BAD_ENDPOINT };

/* One event from the monitor socket: a frame of uint16 event + uint32
 * value, then a frame with the peer's address. Returns the event, or 0. */
static uint16_t read_monitor_event(void *monitor)
{
    uint8_t head[6];
    int n = zmq_recv(monitor, head, sizeof head, ZMQ_DONTWAIT);
    int more = 0;
    size_t more_len = sizeof more;
    char address[256];
    while (zmq_getsockopt(monitor, ZMQ_RCVMORE, &more, &more_len) == 0 && more)
        if (zmq_recv(monitor, address, sizeof address, ZMQ_DONTWAIT) < 0)
            break;
    if (n < 2)
        return 0;
    uint16_t event;
    memcpy(&event, head, sizeof event);
    return event;
}

static enum probe_result probe(const char *endpoint, int pidfd, char *why, size_t why_len)
{
    enum probe_result result = PROBE_SILENT;
    void *ctx = zmq_ctx_new();
    void *sock = ctx ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
    void *monitor = ctx ? zmq_socket(ctx, ZMQ_PAIR) : NULL;
    int zero = 0;
    if (!sock || !monitor || zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(monitor, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_socket_monitor(sock, "inproc://logtap-run-probe", ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0 ||
        zmq_connect(monitor, "inproc://logtap-run-probe") != 0) {
        /* Cannot judge: better no warning than a false one. */
        result = PROBE_ANSWERED;
        goto out;
    }
    if (zmq_connect(sock, endpoint) != 0) {
        snprintf(why, why_len, "%s", zmq_strerror(zmq_errno()));
        result = PROBE_BAD_ENDPOINT;
        goto out;
    }

    int64_t deadline = lt_mono_ns() + (int64_t)LT_RUN_PROBE_WAIT_MS * 1000000;
    for (;;) {
        int64_t left_ns = deadline - lt_mono_ns();
        if (left_ns <= 0)
            break;
        zmq_pollitem_t items[2] = {
            {.socket = monitor, .events = ZMQ_POLLIN},
            {.socket = NULL, .fd = pidfd, .events = ZMQ_POLLIN},
        };
        int n = zmq_poll(items, pidfd >= 0 ? 2 : 1, (long)(left_ns / 1000000) + 1);
        if (n < 0) {
            if (zmq_errno() == EINTR)
                continue;
            result = PROBE_ANSWERED; /* cannot judge */
            break;
        }
        if ((items[0].revents & ZMQ_POLLIN) && read_monitor_event(monitor) == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            result = PROBE_ANSWERED;
            break;
        }
        if (pidfd >= 0 && (items[1].revents & ZMQ_POLLIN)) {
            /* The command has ended: a live collector has answered by now
             * or will within the grace. */
            int64_t grace = lt_mono_ns() + (int64_t)COMMAND_END_GRACE_MS * 1000000;
            if (grace < deadline)
                deadline = grace;
            close(pidfd);
            pidfd = -1;
        }
    }
out:
    if (pidfd >= 0)
        close(pidfd);
    if (sock) {
        zmq_socket_monitor(sock, NULL, 0);
        zmq_close(sock);
    }
    if (monitor)
        zmq_close(monitor);
    if (ctx)
        zmq_ctx_term(ctx);
    return result;
}

static void become_quiet_watcher(int pidfd)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        if (null > STDERR_FILENO)
            close(null);
    }
    /* Whatever else the command inherited (a pipe someone waits on to see
     * the end of it) must not be held open by the watcher. */
    if (pidfd > 3)
        syscall(SYS_close_range, 3u, (unsigned)pidfd - 1, 0u);
    syscall(SYS_close_range, (unsigned)(pidfd >= 3 ? pidfd + 1 : 3), ~0u, 0u);
}

void lt_run_probe_start(const char *endpoint, const char *ring_dir)
{
    int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (pidfd >= 0 && pidfd <= STDERR_FILENO) { /* stdin or stdout was closed: keep it off 0-2 */
        int high = fcntl(pidfd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
        close(pidfd);
        pidfd = high;
    }
    pid_t middle = fork();
    if (middle < 0) {
        if (pidfd >= 0)
            close(pidfd);
        return;
    }
    if (middle == 0) {
        if (fork() != 0)
            _exit(0); /* the watcher is orphaned: no child of the command */
        become_quiet_watcher(pidfd);
        char why[256] = "";
        switch (probe(endpoint, pidfd, why, sizeof why)) {
        case PROBE_ANSWERED: break;
        case PROBE_BAD_ENDPOINT:
            dprintf(STDERR_FILENO,
                    "logtap: warning: cannot connect to the collector endpoint %s: %s; the command's "
                    "lines wait in its ring file in %s\n",
                    endpoint, why, ring_dir);
            break;
        case PROBE_SILENT:
            dprintf(STDERR_FILENO,
                    "logtap: warning: no collector answered at %s within %d s; the command's lines wait "
                    "in its ring file in %s until a collector listens there, or one started with "
                    "'--rings %s' replays them (check --endpoint / LOGTAP_ENDPOINT)\n",
                    endpoint, LT_RUN_PROBE_WAIT_MS / 1000, ring_dir, ring_dir);
            break;
        }
        _exit(0);
    }
    if (pidfd >= 0)
        close(pidfd);
    while (waitpid(middle, NULL, 0) < 0 && errno == EINTR) {
    }
}
