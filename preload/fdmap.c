/* fdmap.c -- the fd -> stream verdict cache and the hooks that keep it true:
 * close, close_range, dup2, dup3 (fcntl(F_DUPFD) and dup only create new
 * fds, which start unknown, so they need no hook). The same hooks tell the
 * catch-all code when the app closes or replaces a pass-through target.
 */
#include "fdmap.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "catchall.h"
#include "runtime.h"

enum { FD_UNKNOWN = 0, FD_OTHER, FD_STDOUT, FD_STDERR };
#define FD_CACHE 4096

typedef struct identity {
    bool known;
    uint64_t dev, ino;
} identity;

static identity original[3]; /* [1] stdout, [2] stderr */
static _Atomic uint8_t verdict[FD_CACHE];

static bool same(const identity *id, const struct stat *st)
{
    return id->known && id->dev == (uint64_t)st->st_dev && id->ino == (uint64_t)st->st_ino;
}

static int classify(int fd)
{
    struct stat st;
    if (syscall(SYS_fstat, fd, &st) != 0)
        return FD_OTHER;
    bool out = same(&original[1], &st), err = same(&original[2], &st);
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

static void load_identity(identity *id, const char *env, int fd)
{
    const char *v = getenv(env);
    unsigned long long dev, ino;
    if (v && sscanf(v, "%llu:%llu", &dev, &ino) == 2) {
        *id = (identity){.known = true, .dev = dev, .ino = ino};
        return;
    }
    struct stat st;
    if (fstat(fd, &st) != 0)
        return; /* no such stream: nothing is captured for it */
    *id = (identity){.known = true, .dev = (uint64_t)st.st_dev, .ino = (uint64_t)st.st_ino};
    char buf[64];
    snprintf(buf, sizeof buf, "%llu:%llu", (unsigned long long)id->dev, (unsigned long long)id->ino);
    setenv(env, buf, 1);
}

static void resolve_hooks(void);

void lt_fdmap_init(void)
{
    resolve_hooks();
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
