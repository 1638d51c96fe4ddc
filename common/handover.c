/* handover.c -- the receiving side of the hand-over (handover.h), shared by
 * the preload (each process of a catch-all run) and logtap's forwarder (a
 * catch-all run nested in another one hands out the outer run's targets).
 *
 * System calls only: the preload runs this from its write hook, which may
 * be inside a signal handler.
 */
#include "handover.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define TIMEOUT_S 2 /* connect and receive, each */

static void close_keeping_errno(int fd)
{
    int saved = errno;
    syscall(SYS_close, fd);
    errno = saved;
}

int lt_handover_receive(const char *name, int targets[3])
{
    targets[0] = targets[1] = targets[2] = -1;
    size_t len = name ? strlen(name) : 0;
    if (len < 2 || name[0] != '@' || len - 1 > LT_HANDOVER_NAME_MAX)
        return EINVAL;
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    memcpy(address.sun_path + 1, name + 1, len - 1); /* sun_path[0] = 0: abstract */
    socklen_t address_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);

    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return errno;
    struct timeval timeout = {TIMEOUT_S, 0};
    setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (connect(sock, (struct sockaddr *)&address, address_len) != 0) {
        int err = errno;
        close_keeping_errno(sock);
        return err;
    }
    unsigned char msg[LT_HANDOVER_MSG_LEN + 1];
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(4 * sizeof(int))];
    } control;
    struct iovec iov = {.iov_base = msg, .iov_len = sizeof msg};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
    ssize_t n;
    do
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    int err = n < 0 ? errno : 0;
    int fds[4], nfds = 0;
    for (struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (nfds < 4)
                fds[nfds++] = fd;
            else
                close_keeping_errno(fd);
        }
    }
    close_keeping_errno(sock);
    int bits = n == LT_HANDOVER_MSG_LEN ? msg[1] & (LT_HANDOVER_STDOUT | LT_HANDOVER_STDERR) : 0;
    int expected = !!(bits & LT_HANDOVER_STDOUT) + !!(bits & LT_HANDOVER_STDERR);
    if (!err && (n != LT_HANDOVER_MSG_LEN || msg[0] != LT_HANDOVER_VERSION || (mh.msg_flags & MSG_CTRUNC) ||
                 nfds != expected))
        err = n == 0 ? ECONNRESET : EPROTO;
    if (err) {
        for (int i = 0; i < nfds; i++)
            close_keeping_errno(fds[i]);
        return err;
    }
    int i = 0;
    if (bits & LT_HANDOVER_STDOUT)
        targets[1] = fds[i++];
    if (bits & LT_HANDOVER_STDERR)
        targets[2] = fds[i++];
    return 0;
}
