/* catchall_run.c -- `logtap run --catch-all`: catching what the preload
 * cannot see.
 *
 * Some bytes reach a runner's stdout and stderr by paths no preload sees:
 * statically linked programs, raw write system calls, glibc's own fatal
 * messages (its internal writev), programs the preload cannot load into.
 * In catch-all mode the command's fds 1 and 2 are pipes (the catch pipes),
 * so every such byte arrives here, and the preload keeps everything it
 * does see out of them: it writes those bytes to the pass-through targets
 * (what logtap run's own stdout and stderr lead to) and records them as
 * usual (preload/catchall.c). What arrives in a catch pipe was therefore
 * not recorded by anyone, and is passed through and recorded here: each
 * byte once.
 *
 * Three processes:
 * - the supervisor (this process, the one the shell waits for) starts the
 *   other two, forwards signals to the command, waits for both, and exits
 *   as the command did (re-raising its fatal signal);
 * - the command, fds 1 and 2 on the catch pipes, LOGTAP_CATCHALL naming the
 *   socket where its preloaded processes get the pass-through targets
 *   (common/handover.h);
 * - the forwarder: logtap itself exec'd under the preload with
 *   LOGTAP_UNATTRIBUTED=1 (`logtap catch-all-forward`). It copies the catch
 *   pipes to its own stdout and stderr, the pass-through targets, and since
 *   it runs under the preload those writes are recorded as its runner's,
 *   marked unattributed: the ring, acknowledgements and replay after a
 *   crash are the same as for every runner process. A thread of it serves
 *   the hand-over socket. It ignores the signals a terminal or a process group
 *   kill sends, and runs until both pipes reach end of file, so nothing
 *   caught is lost when the command dies.
 *
 * Order on the terminal: the forwarder takes bytes out of a pipe only
 * after passing them through (tee(2) to a scratch pipe, write, then
 * consume), so a preloaded writer that finds the pipe empty knows every
 * earlier byte in it is out (preload/catchall.c waits for that).
 *
 * Signals: the supervisor forwards HUP, INT, QUIT, TERM, USR1, USR2, ALRM,
 * WINCH and CONT to the command when a process sent them to it (kill,
 * si_code not SI_KERNEL); the terminal's own signals (Ctrl-C, hang-up,
 * resize) reach the whole foreground process group, the command included,
 * and are not sent twice. Stop signals stop the supervisor as usual.
 */
#include "catchall_run.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "handover.h"

#define CHUNK (64 * 1024) /* a pipe's default capacity */

static const int forwarded_signals[] = {SIGHUP,  SIGINT,  SIGQUIT,  SIGTERM, SIGUSR1,
                                        SIGUSR2, SIGALRM, SIGWINCH, SIGCONT};
#define NFORWARDED ((int)(sizeof forwarded_signals / sizeof forwarded_signals[0]))

/* ------------------------------------------------------------------------ */
/* The supervisor                                                           */
/* ------------------------------------------------------------------------ */

typedef struct catch_setup {
    bool caught[3];   /* [1] stdout, [2] stderr: open when logtap started */
    int pipe_read[3]; /* catch pipes, -1 when not caught */
    int pipe_write[3];
    char identity[3][48];                   /* "dev:ino" of each catch pipe, for the preload */
    int listener;                           /* hand-over socket */
    char address[LT_HANDOVER_NAME_MAX + 2]; /* "@name", LOGTAP_CATCHALL */
    int control[2];                         /* supervisor -> forwarder: a byte means "finish" */
    int exec_error[2];                      /* command child -> supervisor: errno of a failed exec */
} catch_setup;

static void close_if_open(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Fds 0-2 that are closed stay closed in the command, but nothing we open
 * may land on them meanwhile: hold them with /dev/null, close-on-exec. */
static void hold_closed_standard_fds(bool open_before[3])
{
    for (int fd = 0; fd <= 2; fd++) {
        open_before[fd] = fcntl(fd, F_GETFD) != -1;
        if (open_before[fd])
            continue;
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0 && null != fd) {
            dup3(null, fd, O_CLOEXEC);
            close(null);
        }
    }
}

static int make_listener(catch_setup *cs)
{
    uint64_t nonce = 0;
    if (getrandom(&nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce)
        nonce = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    snprintf(cs->address, sizeof cs->address, "@logtap-catchall-%ld-%016llx", (long)getpid(),
             (unsigned long long)nonce);
    cs->listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (cs->listener < 0)
        return -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(cs->address + 1);
    memcpy(sa.sun_path + 1, cs->address + 1, len); /* sun_path[0] = 0: abstract */
    socklen_t sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
    if (bind(cs->listener, (struct sockaddr *)&sa, sa_len) != 0 || listen(cs->listener, SOMAXCONN) != 0)
        return -1;
    return 0;
}

static int make_pipes(catch_setup *cs, const bool open_before[3])
{
    for (int s = 1; s <= 2; s++) {
        cs->pipe_read[s] = cs->pipe_write[s] = -1;
        cs->caught[s] = open_before[s];
        if (!cs->caught[s])
            continue;
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0)
            return -1;
        cs->pipe_read[s] = p[0];
        cs->pipe_write[s] = p[1];
        struct stat st;
        if (fstat(p[1], &st) != 0)
            return -1;
        snprintf(cs->identity[s], sizeof cs->identity[s], "%llu:%llu", (unsigned long long)st.st_dev,
                 (unsigned long long)st.st_ino);
    }
    if (pipe2(cs->control, O_CLOEXEC) != 0 || pipe2(cs->exec_error, O_CLOEXEC) != 0)
        return -1;
    return make_listener(cs);
}

static void format_fd(char *buf, size_t size, int fd)
{
    if (fd < 0)
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%d", fd);
}

static int forward(int out_pipe, int err_pipe, int listener, int control);

/* In the forked forwarder child: become `logtap catch-all-forward` under
 * the preload. Never returns. */
static void start_forwarder(catch_setup *cs, const sigset_t *mask, int signals)
{
    sigprocmask(SIG_SETMASK, mask, NULL);
    /* Only the command may hold the write ends, or the pipes never end;
     * exec would close these, but exec may fail. */
    close(signals);
    for (int s = 1; s <= 2; s++)
        close_if_open(&cs->pipe_write[s]);
    close_if_open(&cs->control[1]);
    close_if_open(&cs->exec_error[0]);
    close_if_open(&cs->exec_error[1]);
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0 && null != 0) {
        dup2(null, 0);
        close(null);
    }
    int keep[] = {cs->pipe_read[1], cs->pipe_read[2], cs->listener, cs->control[0]};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        if (keep[i] >= 0)
            fcntl(keep[i], F_SETFD, 0);
    char out[16], err[16], sock[16], ctl[16];
    format_fd(out, sizeof out, cs->pipe_read[1]);
    format_fd(err, sizeof err, cs->pipe_read[2]);
    format_fd(sock, sizeof sock, cs->listener);
    format_fd(ctl, sizeof ctl, cs->control[0]);
    /* Its stdout and stderr are the runner's own: the preload learns them
     * from fds 1 and 2, and records every byte as unattributed. */
    setenv("LOGTAP_UNATTRIBUTED", "1", 1);
    unsetenv("LOGTAP_STDOUT_ID");
    unsetenv("LOGTAP_STDERR_ID");
    unsetenv("LOGTAP_REQUEST_ID");
    char *argv[] = {"logtap", LT_FORWARD_COMMAND, out, err, sock, ctl, NULL};
    execv("/proc/self/exe", argv);
    fprintf(stderr,
            "logtap: catch-all: cannot start the forwarder under the preload (%s): what the "
            "preload misses is passed through but not stored\n",
            strerror(errno));
    _exit(forward(cs->pipe_read[1], cs->pipe_read[2], cs->listener, cs->control[0]));
}

/* In the forked command child. Never returns. */
static void start_command(catch_setup *cs, char **command, const sigset_t *mask, const struct sigaction *chld)
{
    sigaction(SIGCHLD, chld, NULL); /* ignored stays ignored, as without us */
    sigprocmask(SIG_SETMASK, mask, NULL);
    for (int s = 1; s <= 2; s++) {
        const char *name = s == 1 ? "LOGTAP_STDOUT_ID" : "LOGTAP_STDERR_ID";
        if (cs->caught[s]) {
            dup2(cs->pipe_write[s], s);
            setenv(name, cs->identity[s], 1);
        } else {
            unsetenv(name);
        }
    }
    setenv(LT_HANDOVER_ENV, cs->address, 1);
    unsetenv("LOGTAP_UNATTRIBUTED");
    execvp(command[0], command);
    int err = errno;
    ssize_t ignored = write(cs->exec_error[1], &err, sizeof err);
    (void)ignored;
    _exit(LT_EXIT_NOT_FOUND);
}

/* Die as the command died: same signal, no second core dump. */
static int die_like(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    int sig = WTERMSIG(status);
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    signal(sig, SIG_DFL);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, sig);
    sigprocmask(SIG_UNBLOCK, &only, NULL);
    raise(sig);
    return 128 + sig; /* a signal whose default is not to terminate */
}

int lt_catchall_run(char **command)
{
    catch_setup cs = {.listener = -1, .control = {-1, -1}, .exec_error = {-1, -1}};
    bool open_before[3];
    hold_closed_standard_fds(open_before);
    if (make_pipes(&cs, open_before) != 0) {
        fprintf(stderr, "logtap: catch-all: cannot set up the catch pipes: %s\n", strerror(errno));
        return LT_EXIT_FAILED;
    }

    /* SIGCHLD ignored (inherited) would reap our children before we could
     * learn how the command ended. */
    struct sigaction chld_default = {.sa_handler = SIG_DFL}, chld_original;
    sigaction(SIGCHLD, &chld_default, &chld_original);
    sigset_t handled, original;
    sigemptyset(&handled);
    for (int i = 0; i < NFORWARDED; i++)
        sigaddset(&handled, forwarded_signals[i]);
    sigaddset(&handled, SIGCHLD);
    sigprocmask(SIG_BLOCK, &handled, &original);
    int signals = signalfd(-1, &handled, SFD_CLOEXEC);
    if (signals < 0) {
        fprintf(stderr, "logtap: catch-all: cannot watch signals: %s\n", strerror(errno));
        return LT_EXIT_FAILED;
    }

    pid_t forwarder = fork();
    if (forwarder == 0)
        start_forwarder(&cs, &original, signals);
    pid_t child = forwarder > 0 ? fork() : -1;
    if (child == 0)
        start_command(&cs, command, &original, &chld_original);
    if (forwarder < 0 || child < 0) {
        fprintf(stderr, "logtap: catch-all: cannot fork: %s\n", strerror(errno));
        if (forwarder > 0)
            kill(forwarder, SIGKILL);
        return LT_EXIT_FAILED;
    }
    for (int s = 1; s <= 2; s++) {
        close_if_open(&cs.pipe_read[s]);
        close_if_open(&cs.pipe_write[s]);
    }
    close_if_open(&cs.listener);
    close_if_open(&cs.control[0]);
    close_if_open(&cs.exec_error[1]);

    int exit_code = -1, exec_errno = 0;
    ssize_t n;
    while ((n = read(cs.exec_error[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {
    }
    close_if_open(&cs.exec_error[0]);
    if (n == (ssize_t)sizeof exec_errno) {
        fprintf(stderr, "logtap: cannot run %s: %s\n", command[0], strerror(exec_errno));
        exit_code = exec_failure_code(exec_errno);
    }

    int child_status = 0;
    bool child_done = false, forwarder_done = false, finish_sent = false;
    while (!child_done || !forwarder_done) {
        struct signalfd_siginfo si;
        if (read(signals, &si, sizeof si) != (ssize_t)sizeof si) {
            if (errno == EINTR)
                continue; /* a stop and continue */
            /* Cannot happen; without the signal fd, wait for both plainly. */
            fprintf(stderr, "logtap: catch-all: cannot read signals: %s\n", strerror(errno));
            if (!child_done && waitpid(child, &child_status, 0) != child && exit_code < 0)
                exit_code = LT_EXIT_FAILED;
            if (!forwarder_done)
                waitpid(forwarder, NULL, 0);
            break;
        }
        int sig = (int)si.ssi_signo;
        if (sig == SIGCHLD) {
            int status;
            pid_t pid;
            while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                if (pid == child) {
                    child_done = true;
                    child_status = status;
                } else if (pid == forwarder) {
                    forwarder_done = true;
                    if (WIFSIGNALED(status))
                        fprintf(stderr, "logtap: catch-all: the forwarder was killed by signal %d\n",
                                WTERMSIG(status));
                }
            }
            continue;
        }
        if (!child_done) {
            /* From the terminal (SI_KERNEL), the command's process group got
             * it too; anything else is for the command. */
            if (si.ssi_code != SI_KERNEL)
                kill(child, sig);
        } else if (!finish_sent && (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT)) {
            /* The command is gone but something it left holds a catch pipe
             * open: stop waiting for end of file, pass through what is there. */
            char finish = 1;
            ssize_t ignored = write(cs.control[1], &finish, 1);
            (void)ignored;
            finish_sent = true;
        }
    }
    close(signals);
    close_if_open(&cs.control[1]);
    if (exit_code >= 0)
        return exit_code;
    return die_like(child_status);
}

/* ------------------------------------------------------------------------ */
/* The forwarder                                                            */
/* ------------------------------------------------------------------------ */

typedef struct catch_stream {
    int pipe;    /* read end of the catch pipe; -1 once at end of file */
    int target;  /* where its bytes go: 1 or 2, the pass-through target */
    bool broken; /* the target refused with EPIPE */
} catch_stream;

static unsigned char chunk[CHUNK];
static int scratch[2] = {-1, -1}; /* tee's destination; empty between calls */
static bool use_tee = true;

/* Write all of buf to fd (through the preload's hook, which records it).
 * Returns 0, or the errno of a failure. */
static int write_all(int fd, const unsigned char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            poll(&p, 1, 1000); /* someone made the target non-blocking */
        } else if (n < 0 && errno != EINTR) {
            return errno;
        }
    }
    return 0;
}

/* Read exactly len bytes that are known to be there. */
static void read_exactly(int fd, unsigned char *buf, size_t len)
{
    while (len) {
        ssize_t n = read(fd, buf, len);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
        } else if (n == 0 || errno != EINTR) {
            return;
        }
    }
}

static void stream_close(catch_stream *cs)
{
    close_if_open(&cs->pipe);
}

/* The target is gone (EPIPE): whoever writes into the pipe should learn
 * that as they would have without us. Empty the pipe (so a preloaded
 * writer waiting for it to drain is not kept waiting), then close it. */
static void stream_break(catch_stream *cs)
{
    cs->broken = true;
    while (read(cs->pipe, chunk, sizeof chunk) > 0) {
    }
    stream_close(cs);
}

/* Pass through what is in the pipe, up to one chunk. Returns false at end
 * of file or when there was nothing (EAGAIN). */
static bool stream_pass(catch_stream *cs)
{
    ssize_t n;
    if (use_tee) {
        n = tee(cs->pipe, scratch[1], CHUNK, SPLICE_F_NONBLOCK);
        if (n < 0 && (errno == EINVAL || errno == ENOSYS))
            use_tee = false; /* the order guarantee is lost, nothing else */
    }
    if (use_tee) {
        if (n == 0) {
            stream_close(cs);
            return false;
        }
        if (n < 0)
            return false;
        read_exactly(scratch[0], chunk, (size_t)n);
        int err = write_all(cs->target, chunk, (size_t)n);
        read_exactly(cs->pipe, chunk, (size_t)n); /* consumed only now */
        if (err == EPIPE)
            stream_break(cs);
        return true;
    }
    n = read(cs->pipe, chunk, sizeof chunk);
    if (n == 0)
        stream_close(cs);
    if (n <= 0)
        return false;
    if (write_all(cs->target, chunk, (size_t)n) == EPIPE)
        stream_break(cs);
    return true;
}

typedef struct handover_server {
    int listener;
    int handout[3]; /* descriptors handed out for stdout and stderr, -1: none */
} handover_server;

/* The hand-over thread: gives the pass-through targets to every preloaded
 * process that asks. A thread of its own, so that a process starting while
 * the forwarder waits on a slow terminal is not kept waiting. */
static void *serve_handover(void *arg)
{
    const handover_server *hs = arg;
    const int *handout = hs->handout;
    int mask = (handout[1] >= 0 ? LT_HANDOVER_STDOUT : 0) | (handout[2] >= 0 ? LT_HANDOVER_STDERR : 0);
    for (;;) {
        int conn = accept4(hs->listener, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE ||
                errno == ENOBUFS || errno == ENOMEM) {
                if (errno != EINTR && errno != ECONNABORTED)
                    poll(NULL, 0, 10); /* out of descriptors: the asker falls back meanwhile */
                continue;
            }
            return NULL;
        }
        struct ucred peer;
        socklen_t len = sizeof peer;
        if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &peer, &len) == 0 && peer.uid == geteuid()) {
            unsigned char msg[LT_HANDOVER_MSG_LEN] = {LT_HANDOVER_VERSION, (unsigned char)mask};
            int fds[2], nfds = 0;
            if (mask & LT_HANDOVER_STDOUT)
                fds[nfds++] = handout[1];
            if (mask & LT_HANDOVER_STDERR)
                fds[nfds++] = handout[2];
            union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof fds)];
            } control;
            memset(&control, 0, sizeof control);
            struct iovec iov = {.iov_base = msg, .iov_len = sizeof msg};
            struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
            if (nfds) {
                mh.msg_control = control.buf;
                mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
                memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
            }
            ssize_t ignored = sendmsg(conn, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)ignored; /* a process that went away falls back by itself */
        }
        close(conn);
    }
}

/* What to hand out for the caught streams: our own stdout and stderr,
 * unless this run is nested in another catch-all run. Then those are the
 * outer run's catch pipes, and our processes must write where the outer
 * run's processes write, or the outer forwarder would store their bytes a
 * second time: hand out the outer run's targets. When they cannot be had,
 * hand out nothing; our processes then write into our pipes unrecorded,
 * and each byte is stored once, by whichever forwarder can record it. */
static void choose_handout(int out_pipe, int err_pipe, int handout[3])
{
    const char *outer = getenv(LT_HANDOVER_ENV);
    int own[3] = {-1, 1, 2};
    if (outer && *outer && lt_handover_receive(outer, own) != 0)
        own[1] = own[2] = -1;
    handout[0] = -1;
    handout[1] = out_pipe >= 0 ? own[1] : -1;
    handout[2] = err_pipe >= 0 ? own[2] : -1;
    for (int s = 1; s <= 2; s++)
        if (handout[s] < 0 && own[s] > 2)
            close(own[s]); /* the outer run's target for a stream we do not catch */
}

static int forward_loop(int out_pipe, int err_pipe, int listener, int control)
{
    catch_stream streams[2] = {{.pipe = out_pipe, .target = 1}, {.pipe = err_pipe, .target = 2}};
    static handover_server hs;
    hs.listener = listener;
    choose_handout(out_pipe, err_pipe, hs.handout);
    pthread_t server;
    int err = listener >= 0 ? pthread_create(&server, NULL, serve_handover, &hs) : 0;
    if (err)
        fprintf(stderr,
                "logtap: catch-all: cannot serve the pass-through descriptors: %s; the output of "
                "every process is stored unattributed\n",
                strerror(err));
    if (pipe2(scratch, O_CLOEXEC) != 0)
        use_tee = false;
    for (int i = 0; i < 2; i++)
        if (streams[i].pipe >= 0)
            fcntl(streams[i].pipe, F_SETFL, fcntl(streams[i].pipe, F_GETFL) | O_NONBLOCK);
    bool finishing = false;
    while (streams[0].pipe >= 0 || streams[1].pipe >= 0) {
        if (finishing) {
            /* Asked to finish: what is in the pipes now, then stop. */
            for (int i = 0; i < 2; i++)
                while (streams[i].pipe >= 0 && stream_pass(&streams[i])) {
                }
            break;
        }
        struct pollfd p[3];
        int np = 0, at_stream[2] = {-1, -1}, at_control = -1;
        for (int i = 0; i < 2; i++)
            if (streams[i].pipe >= 0) {
                at_stream[i] = np;
                p[np++] = (struct pollfd){.fd = streams[i].pipe, .events = POLLIN};
            }
        if (control >= 0) {
            at_control = np;
            p[np++] = (struct pollfd){.fd = control, .events = POLLIN};
        }
        if (poll(p, (nfds_t)np, -1) < 0)
            continue;
        for (int i = 0; i < 2; i++)
            if (at_stream[i] >= 0 && p[at_stream[i]].revents)
                stream_pass(&streams[i]);
        if (at_control >= 0 && p[at_control].revents) {
            char byte;
            ssize_t n = read(control, &byte, 1);
            if (n > 0)
                finishing = true;
            else if (n == 0)
                close_if_open(&control); /* the supervisor is gone: run to end of file */
        }
    }
    close_if_open(&control);
    return 0; /* exit ends the hand-over thread; late askers fall back */
}

static int parse_fd(const char *text, int *fd, bool pipe_expected)
{
    if (strcmp(text, "-") == 0) {
        *fd = -1;
        return 0;
    }
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    struct stat st;
    if (errno || *end || end == text || v < 3 || v > INT_MAX || fstat((int)v, &st) != 0 ||
        (pipe_expected ? !S_ISFIFO(st.st_mode) : !S_ISSOCK(st.st_mode)))
        return -1;
    *fd = (int)v;
    return 0;
}

static int forward(int out_pipe, int err_pipe, int listener, int control)
{
    /* What a terminal or a kill of the process group sends must not cut the
     * stream short: the forwarder ends at end of file, or when asked. */
    static const int ignored[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGPIPE};
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
        signal(ignored[i], SIG_IGN);
    return forward_loop(out_pipe, err_pipe, listener, control);
}

int lt_catchall_forward_main(int argc, char **argv)
{
    int out, err, listener, control;
    if (argc != 5 || parse_fd(argv[1], &out, true) || parse_fd(argv[2], &err, true) ||
        parse_fd(argv[3], &listener, false) || parse_fd(argv[4], &control, true)) {
        fputs("logtap: " LT_FORWARD_COMMAND " is started by 'logtap run --catch-all', not by hand\n", stderr);
        return LT_EXIT_USAGE;
    }
    return forward(out, err, listener, control);
}
