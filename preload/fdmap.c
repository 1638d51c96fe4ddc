/* fdmap.c -- the fd -> stream verdict cache and the hooks that keep it true:
 * close, close_range, dup2, dup3 (fcntl(F_DUPFD) and dup only create new
 * fds, which start unknown, so they need no hook). The same hooks tell the
 * catch-all code when the app closes or replaces a pass-through target.
 *
 * Discarded output stays discarded. (device, inode) names a file, not an
 * open of it: when the runner's stdout is /dev/null, every separate
 * open("/dev/null") has its identity too, and `cmd >/dev/null` in a child
 * would be stored as the runner's output. What the runner's own descriptors
 * share with their dups and inherited copies, and a separate open does not,
 * is the open file description. Nothing in a child can name its parent's
 * description (kcmp needs the parent alive, the fd still open and ptrace
 * rights; fdinfo shows nothing unique for a device), so the first process
 * of the runner marks it: fcntl(F_SETSIG) gives the description a signal
 * number, which dups and inherited copies share and a separate open does
 * not have (its number is 0). The number is only used for SIGIO, and only
 * if O_ASYNC is set and the driver supports it: /dev/null, /dev/zero and
 * /dev/full have no fasync, so the mark does nothing else, and no program
 * looks at it or sets it on such a device. (O_ASYNC itself would be a
 * visible flag, and the kernel does not keep it on these devices.) The
 * identity exported to children then says "dev:ino:marked", and an fd of
 * that identity leads to the stream only if its description carries the
 * mark. Limits (README, doc/coverage.md): an app that sets F_SETSIG on its
 * stdout takes the mark away; other devices (a terminal) are told by
 * identity alone, as a separate open of a terminal shows its bytes to
 * someone.
 */
#include "fdmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "catchall.h"
#include "env.h"
#include "runtime.h"

enum { FD_UNKNOWN = 0, FD_OTHER, FD_STDOUT, FD_STDERR };
#define FD_CACHE 4096

typedef struct identity {
    bool known;
    bool marked; /* only fds whose description carries MARK_SIGNAL are this stream */
    uint64_t dev, ino;
} identity;

#define MARK_SUFFIX ":marked"
/* The signal number that marks the runner's description (F_SETSIG): the
 * highest, which nothing else picks for a device that never signals. */
#define MARK_SIGNAL 64

static identity original[3]; /* [1] stdout, [2] stderr */
static _Atomic uint8_t verdict[FD_CACHE];

static bool same(const identity *id, const struct stat *st)
{
    return id->known && id->dev == (uint64_t)st->st_dev && id->ino == (uint64_t)st->st_ino;
}

static bool carries_mark(int fd)
{
    return syscall(SYS_fcntl, fd, F_GETSIG) == MARK_SIGNAL;
}

static int classify(int fd)
{
    struct stat st;
    if (syscall(SYS_fstat, fd, &st) != 0)
        return FD_OTHER;
    bool out = same(&original[1], &st), err = same(&original[2], &st);
    if ((out && original[1].marked) || (err && original[2].marked)) {
        bool marked = carries_mark(fd);
        out = out && (marked || !original[1].marked);
        err = err && (marked || !original[2].marked);
    }
    if (out && err) /* both streams are one file (2>&1): the number decides */
        return fd == 2 ? FD_STDERR : FD_STDOUT;
    return out ? FD_STDOUT : err ? FD_STDERR : FD_OTHER;
}

int lt_fdmap_stream(int fd)
{
    if (fd < 0)
        return 0;
    int v;
    if (fd < FD_CACHE) {
        v = atomic_load_explicit(&verdict[fd], memory_order_relaxed);
        if (v == FD_UNKNOWN) {
            v = classify(fd);
            atomic_store_explicit(&verdict[fd], (uint8_t)v, memory_order_relaxed);
        }
    } else {
        v = classify(fd);
    }
    return v == FD_STDOUT ? 1 : v == FD_STDERR ? 2 : 0;
}

int lt_fdmap_find(int stream, int limit)
{
    for (int fd = 0; fd < limit; fd++) {
        int v = fd < FD_CACHE ? atomic_load_explicit(&verdict[fd], memory_order_relaxed) : FD_UNKNOWN;
        if (v == FD_UNKNOWN)
            v = classify(fd);
        if ((v == FD_STDOUT && stream == 1) || (v == FD_STDERR && stream == 2))
            return fd;
    }
    return -1;
}

void lt_fdmap_forget(int fd)
{
    if (fd >= 0 && fd < FD_CACHE)
        atomic_store_explicit(&verdict[fd], FD_UNKNOWN, memory_order_relaxed);
}

void lt_fdmap_forget_range(unsigned first, unsigned last)
{
    for (unsigned fd = first; fd <= last && fd < FD_CACHE; fd++)
        atomic_store_explicit(&verdict[fd], FD_UNKNOWN, memory_order_relaxed);
}

/* Devices anyone may open whose writes go nowhere, and whose drivers have
 * no fasync (so F_SETSIG is a mark and nothing more): /dev/null, /dev/zero,
 * /dev/full. */
static bool discarding_device(const struct stat *st)
{
    return S_ISCHR(st->st_mode) && major(st->st_rdev) == 1 &&
           (minor(st->st_rdev) == 3 || minor(st->st_rdev) == 5 || minor(st->st_rdev) == 7);
}

/* Set the mark on fd's description; false if the kernel did not keep it
 * (then every open of the device counts, as before the mark). */
static bool mark(int fd)
{
    syscall(SYS_fcntl, fd, F_SETSIG, MARK_SIGNAL);
    return carries_mark(fd);
}

static void load_identity(identity *id, const char *env, int fd)
{
    const char *v = lt_env_get(env);
    unsigned long long dev, ino;
    int used = 0;
    if (v && sscanf(v, "%llu:%llu%n", &dev, &ino, &used) == 2) {
        *id = (identity){.known = true, .dev = dev, .ino = ino, .marked = strcmp(v + used, MARK_SUFFIX) == 0};
        return;
    }
    /* The first process of the runner: fd is the runner's own stream. */
    struct stat st;
    if (fstat(fd, &st) != 0)
        return; /* no such stream: nothing is captured for it */
    *id = (identity){.known = true, .dev = (uint64_t)st.st_dev, .ino = (uint64_t)st.st_ino};
    id->marked = discarding_device(&st) && mark(fd);
    char buf[64];
    snprintf(buf, sizeof buf, "%llu:%llu%s", (unsigned long long)id->dev, (unsigned long long)id->ino,
             id->marked ? MARK_SUFFIX : "");
    lt_env_set(env, buf);
}

static void resolve_hooks(void);

void lt_fdmap_init(bool capture)
{
    resolve_hooks();
    if (!capture)
        return;
    load_identity(&original[1], "LOGTAP_STDOUT_ID", 1);
    load_identity(&original[2], "LOGTAP_STDERR_ID", 2);
    /* Verdicts cached by writes before we knew the identities are void. */
    lt_fdmap_forget_range(0, FD_CACHE - 1);
}

/* ---- hooks on the calls that change what an fd number leads to ---- */

/* Resolved by lt_fdmap_init, never lazily: close() may run in a signal
 * handler. Before that (other libraries' constructors) the raw system calls
 * stand in. */
static LT_REAL(close) real_close;
static LT_REAL(dup2) real_dup2;
static LT_REAL(dup3) real_dup3;
static LT_REAL(close_range) real_close_range;

static void resolve_hooks(void)
{
    real_close = LT_NEXT(close);
    real_dup2 = LT_NEXT(dup2);
    real_dup3 = LT_NEXT(dup3);
    real_close_range = LT_NEXT(close_range);
}

LT_EXPORT int close(int fd)
{
    lt_catchall_forget(fd); /* before: the number may be reused at once */
    int rc = real_close ? real_close(fd) : (int)syscall(SYS_close, fd);
    lt_fdmap_forget(fd); /* even on EINTR the fd may be gone */
    return rc;
}

LT_EXPORT int dup2(int oldfd, int newfd)
{
    lt_catchall_forget(newfd);
    int rc = real_dup2 ? real_dup2(oldfd, newfd) : (int)syscall(SYS_dup2, oldfd, newfd);
    if (rc >= 0)
        lt_fdmap_forget(newfd);
    return rc;
}

LT_EXPORT int dup3(int oldfd, int newfd, int flags)
{
    lt_catchall_forget(newfd);
    int rc = real_dup3 ? real_dup3(oldfd, newfd, flags) : (int)syscall(SYS_dup3, oldfd, newfd, flags);
    if (rc >= 0)
        lt_fdmap_forget(newfd);
    return rc;
}

LT_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    if (!(flags & CLOSE_RANGE_CLOEXEC)) /* ours are close-on-exec already */
        lt_catchall_forget_range(first, last);
    int rc = real_close_range ? real_close_range(first, last, flags)
                              : (int)syscall(SYS_close_range, first, last, flags);
    if (rc == 0)
        lt_fdmap_forget_range(first, last);
    return rc;
}
