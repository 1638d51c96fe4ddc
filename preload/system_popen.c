/* system_popen.c -- system(), popen(), pclose() rebuilt on the spawn hooks,
 * so that their children belong to the calling thread's request.
 *
 * glibc's system() and popen() spawn /bin/sh through its internal
 * __posix_spawn with the process's global environ, past every hook we have:
 * the shell inherited LD_PRELOAD and the runner's settings, but not the
 * request of the thread that called them. Putting LOGTAP_REQUEST_ID into
 * environ around the real call is not an option: environ is process-wide
 * (a thread serving another request, or calling setenv, would race with
 * it), and the real system() does not return until the command has ended.
 * No code of ours runs in the child before its exec either (posix_spawn
 * uses clone, not fork, so no atfork handler). So these entry points are
 * rebuilt here, line for line after glibc 2.36's (stdlib/system.c,
 * libio/iopopen.c), with one difference: the shell is spawned by
 * lt_spawn_shell, which gives it the environment every spawn hook gives a
 * child (spawn.c). What the caller sees is glibc's: argv {"sh", "-c",
 * command}; system() ignores SIGINT and SIGQUIT in the caller while any
 * system() runs (counted across threads), blocks SIGCHLD in the calling
 * thread, resets both signals to default in the child unless they were
 * ignored, returns the wait status, 127 << 8 and errno when the shell
 * cannot be spawned, and (system(NULL)) whether a shell is there; on
 * cancellation the child is killed and reaped. popen() takes "r" or "w"
 * and "e", closes earlier popen() streams in the child, and sets errno
 * EINVAL or ENOMEM as glibc does; pclose() (and fclose() on such a stream,
 * which in glibc waits too) returns the wait status.
 *
 * With capture off (LOGTAP_DISABLE, no ring, library not found) the real
 * functions run, untouched. Not on the write path: these may lock and
 * allocate.
 */
#include "system_popen.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime.h"
#include "spawn.h"

static LT_REAL(system) real_system;
static LT_REAL(popen) real_popen;
static LT_REAL(pclose) real_pclose;
static LT_REAL(fclose) real_fclose;

/* ---- system() ---- */

/* SIGINT and SIGQUIT are ignored while any system() runs; the dispositions
 * before the first are restored when the last ends. */
static pthread_mutex_t signal_lock = PTHREAD_MUTEX_INITIALIZER;
static int systems_running;
static struct sigaction saved_intr, saved_quit;

static void system_ended(void)
{
    pthread_mutex_lock(&signal_lock);
    assert(systems_running > 0);
    if (--systems_running == 0) {
        sigaction(SIGINT, &saved_intr, NULL);
        sigaction(SIGQUIT, &saved_quit, NULL);
    }
    pthread_mutex_unlock(&signal_lock);
}

/* waitpid, not a cancellation point, retried on EINTR. */
static pid_t wait_quietly(pid_t pid, int *status)
{
    pid_t got;
    do {
        int state;
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
        got = waitpid(pid, status, 0);
        pthread_setcancelstate(state, NULL);
    } while (got < 0 && errno == EINTR);
    return got;
}

/* The calling thread was cancelled in waitpid: the command goes too. */
static void system_cancelled(void *arg)
{
    pid_t pid = *(pid_t *)arg;
    kill(pid, SIGKILL);
    wait_quietly(pid, NULL);
    system_ended();
}

static int run_shell(const char *line)
{
    struct sigaction ignore = {.sa_handler = SIG_IGN};
    sigemptyset(&ignore.sa_mask);
    sigset_t reset;
    sigemptyset(&reset);
    pthread_mutex_lock(&signal_lock);
    if (systems_running++ == 0) {
        sigaction(SIGINT, &ignore, &saved_intr);
        sigaction(SIGQUIT, &ignore, &saved_quit);
    }
    if (saved_intr.sa_handler != SIG_IGN)
        sigaddset(&reset, SIGINT);
    if (saved_quit.sa_handler != SIG_IGN)
        sigaddset(&reset, SIGQUIT);
    pthread_mutex_unlock(&signal_lock);

    sigset_t chld, omask;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &omask);

    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigmask(&attr, &omask);
    posix_spawnattr_setsigdefault(&attr, &reset);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    pid_t pid;
    int ret = lt_spawn_shell(&pid, NULL, &attr, line);
    posix_spawnattr_destroy(&attr);

    int status = -1;
    if (ret == 0) {
        pthread_cleanup_push(system_cancelled, &pid);
        pid_t got;
        do
            got = waitpid(pid, &status, 0); /* a cancellation point, as in glibc */
        while (got < 0 && errno == EINTR);
        if (got != pid)
            status = -1;
        pthread_cleanup_pop(0);
    } else {
        status = 127 << 8; /* POSIX: as if the shell had done _exit(127) */
    }
    system_ended();
    sigprocmask(SIG_SETMASK, &omask, NULL);
    if (ret != 0)
        errno = ret;
    return status;
}

LT_EXPORT int system(const char *line)
{
    if (!lt_spawn_passes_on()) {
        if (!real_system)
            real_system = LT_NEXT(system);
        return real_system(line);
    }
    if (line == NULL) /* is there a shell (there may be none after chroot)? */
        return run_shell("exit 0") == 0;
    return run_shell(line);
}

/* ---- popen(), pclose() ---- */

/* The streams popen() made and not yet closed, as glibc's proc_file_chain:
 * their fds are closed in each later popen() child, and pclose() finds the
 * pid to wait for here. */
typedef struct piped {
    FILE *fp;
    int fd;
    pid_t pid;
    struct piped *next;
} piped;

static pthread_mutex_t piped_lock = PTHREAD_MUTEX_INITIALIZER;
static piped *piped_list;
static _Atomic int piped_count; /* lets fclose() of other files skip the lock */

static void close_quietly(int fd)
{
    int saved = errno;
    close(fd);
    errno = saved;
}

LT_EXPORT FILE *popen(const char *command, const char *mode)
{
    if (!lt_spawn_passes_on()) {
        if (!real_popen)
            real_popen = LT_NEXT(popen);
        return real_popen(command, mode);
    }
    bool do_read = false, do_write = false, do_cloexec = false;
    for (const char *m = mode; *m; m++) {
        if (*m == 'r')
            do_read = true;
        else if (*m == 'w')
            do_write = true;
        else if (*m == 'e')
            do_cloexec = true;
        else {
            errno = EINVAL;
            return NULL;
        }
    }
    if (do_read == do_write) {
        errno = EINVAL;
        return NULL;
    }
    piped *p = malloc(sizeof *p);
    if (!p)
        return NULL;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        free(p);
        return NULL;
    }
    int parent_end = do_read ? 0 : 1, child_end = do_read ? 1 : 0;
    int child_fd = do_read ? STDOUT_FILENO : STDIN_FILENO;

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    bool ok = true;
    /* The child's end must not already be the fd it becomes: dup2 onto
     * itself would leave it close-on-exec. */
    if (fds[child_end] == child_fd) {
        int moved = fcntl(child_fd, F_DUPFD_CLOEXEC, 0);
        ok = moved >= 0;
        if (ok) {
            close(fds[child_end]);
            fds[child_end] = moved;
        }
    }
    ok = ok && posix_spawn_file_actions_adddup2(&actions, fds[child_end], child_fd) == 0;
    /* The FILE before the child, as glibc has it: a failure after the spawn
     * would leave a child to wait for. */
    p->fd = fds[parent_end];
    p->fp = ok ? fdopen(p->fd, do_read ? "r" : "w") : NULL;
    ok = p->fp != NULL;

    /* No cancellation point while the lock is held (close() is one, and a
     * thread cancelled there would leave every later popen, pclose and
     * fclose waiting for it); glibc's popen is not cancellable either. */
    int cancel_state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    pthread_mutex_lock(&piped_lock);
    for (piped *q = piped_list; ok && q; q = q->next)
        if (q->fd != child_fd)
            ok = posix_spawn_file_actions_addclose(&actions, q->fd) == 0;
    ok = ok && lt_spawn_shell(&p->pid, &actions, NULL, command) == 0;
    if (ok) {
        close(fds[child_end]);
        fds[child_end] = -1;
        if (!do_cloexec)
            fcntl(fds[parent_end], F_SETFD, 0);
        p->next = piped_list;
        piped_list = p;
        atomic_fetch_add(&piped_count, 1);
    }
    pthread_mutex_unlock(&piped_lock);
    pthread_setcancelstate(cancel_state, NULL);
    posix_spawn_file_actions_destroy(&actions);
    if (ok)
        return p->fp;
    close_quietly(fds[child_end]);
    if (p->fp) {
        if (!real_fclose)
            real_fclose = LT_NEXT(fclose);
        real_fclose(p->fp); /* closes the parent's end too */
    } else {
        close_quietly(fds[parent_end]);
    }
    free(p);
    errno = ENOMEM; /* what glibc says for every failure past pipe2 */
    return NULL;
}

/* Take fp out of the list; NULL if popen() here did not make it. */
static piped *take_piped(FILE *fp)
{
    piped *found = NULL;
    pthread_mutex_lock(&piped_lock);
    for (piped **at = &piped_list; *at; at = &(*at)->next) {
        if ((*at)->fp == fp) {
            found = *at;
            *at = found->next;
            atomic_fetch_sub(&piped_count, 1);
            break;
        }
    }
    pthread_mutex_unlock(&piped_lock);
    return found;
}

/* glibc's result: the wait status if it is not 0 (or -1 if the wait
 * failed), else -1 if flushing or closing the stream failed, else 0. */
static int close_piped(piped *p)
{
    if (!real_fclose)
        real_fclose = LT_NEXT(fclose);
    int closed = real_fclose(p->fp);
    int status = -1;
    pid_t got = wait_quietly(p->pid, &status);
    free(p);
    if (got < 0)
        return -1;
    return status != 0 ? status : closed == 0 ? 0 : -1;
}

LT_EXPORT int pclose(FILE *fp)
{
    piped *p = take_piped(fp);
    if (p)
        return close_piped(p);
    if (!real_pclose)
        real_pclose = LT_NEXT(pclose);
    return real_pclose(fp);
}

LT_EXPORT int fclose(FILE *fp)
{
    piped *p = atomic_load_explicit(&piped_count, memory_order_relaxed) ? take_piped(fp) : NULL;
    if (p)
        return close_piped(p);
    if (!real_fclose)
        real_fclose = LT_NEXT(fclose);
    return real_fclose(fp);
}

/* A fork taken while another thread held a lock leaves it held in the
 * child, where no one will release it. */
static void after_fork_child(void)
{
    pthread_mutex_init(&signal_lock, NULL);
    pthread_mutex_init(&piped_lock, NULL);
}

void lt_system_popen_init(void)
{
    real_system = LT_NEXT(system);
    real_popen = LT_NEXT(popen);
    real_pclose = LT_NEXT(pclose);
    real_fclose = LT_NEXT(fclose);
    pthread_atfork(NULL, NULL, after_fork_child);
}
