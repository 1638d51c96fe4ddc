/* stdio_hook.c -- capturing C stdio and C++ iostreams.
 *
 * glibc's stdio (printf, puts, fwrite, perror, assert's message, and C++
 * iostreams, which sit on it) writes through glibc's internal __write, which
 * never passes the PLT, so the write() hook cannot see it. What every FILE
 * does go through is the __write slot of its vtable. The tables are data
 * that glibc exports (_IO_file_jumps, _IO_wfile_jumps); glibc validates the
 * vtable *pointer* of a FILE, not the table's contents, so replacing that one
 * slot with a function that calls the original and then records what it
 * wrote captures all of stdio.
 *
 * The layout is checked before anything is written (the table starts with
 * two zero words; the slot holds a function inside libc), and the table's
 * page is made writable only for the store. If any check fails, stdio is
 * simply not captured, a NOTICE says so in the runner's logs, and nothing
 * else changes.
 * The layout is glibc's struct _IO_jump_t, unchanged from 2.1 through 2.36
 * (re-check on every glibc: 2.38 moved the tables).
 *
 * Under `logtap run --catch-all` a captured write must not reach the catch
 * pipe behind the FILE's fd (catchall.h): for the length of the original
 * slot's call the FILE's _fileno names the pass-through target instead.
 * The slot runs with the FILE locked (or under the app's own locking for
 * the _unlocked calls), so no other stdio call on that FILE sees the swap.
 */
#include "stdio_hook.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "catchall.h"
#include "hook.h"
#include "env.h"
#include "runtime.h"

/* struct _IO_jump_t: dummy, dummy2, finish, overflow, underflow, uflow,
 * pbackfail, xsputn, xsgetn, seekoff, seekpos, setbuf, sync, doallocate,
 * read, write, ... */
#define JUMP_SLOT_WRITE 15

typedef ssize_t (*io_write_fn)(FILE *, const void *, ssize_t);

static io_write_fn real_file_write, real_wfile_write;

static ssize_t catchall_file_write(io_write_fn real, FILE *fp, const void *data, ssize_t n)
{
    int fd = fp->_fileno, stream;
    int target = lt_redirect_target(fd, &stream);
    if (target < 0)
        return real(fp, data, n); /* into the pipe, not recorded */
    fp->_fileno = target;
    ssize_t done = real(fp, data, n);
    fp->_fileno = fd;
    if (done > 0)
        lt_capture_stream(stream, data, (size_t)done);
    if (done < n && errno == EBADF && lt_catchall_target_gone(target)) {
        /* The app closed the target behind our back: the rest goes to the
         * pipe, and the failure glibc noted is not the app's. */
        fp->_flags &= ~_IO_ERR_SEEN;
        ssize_t rest = real(fp, (const char *)data + (done > 0 ? done : 0), n - (done > 0 ? done : 0));
        done = (done > 0 ? done : 0) + (rest > 0 ? rest : 0);
    }
    return done;
}

static ssize_t file_write_hook(FILE *fp, const void *data, ssize_t n)
{
    if (__builtin_expect(lt_catchall_on, 0))
        return catchall_file_write(real_file_write, fp, data, n);
    ssize_t done = real_file_write(fp, data, n);
    if (done > 0)
        lt_capture_write(fileno_unlocked(fp), data, (size_t)done);
    return done;
}

static ssize_t wfile_write_hook(FILE *fp, const void *data, ssize_t n)
{
    if (__builtin_expect(lt_catchall_on, 0))
        return catchall_file_write(real_wfile_write, fp, data, n);
    ssize_t done = real_wfile_write(fp, data, n);
    if (done > 0)
        lt_capture_write(fileno_unlocked(fp), data, (size_t)done);
    return done;
}

static bool inside_libc(void *fn)
{
    Dl_info info;
    return fn && dladdr(fn, &info) && info.dli_fname && strstr(info.dli_fname, "libc.so");
}

static bool patch_table(const char *name, io_write_fn hook, io_write_fn *original)
{
    void **table = dlsym(RTLD_DEFAULT, name);
    if (!table || table[0] != NULL || table[1] != NULL)
        return false;
    void **slot = &table[JUMP_SLOT_WRITE];
    if (*slot == (void *)hook)
        return true;
    if (!inside_libc(*slot))
        return false;
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t start = (uintptr_t)slot & ~(uintptr_t)(page - 1);
    size_t len = ((uintptr_t)(slot + 1) - start + (size_t)page - 1) & ~(size_t)(page - 1);
    if (mprotect((void *)start, len, PROT_READ | PROT_WRITE) != 0)
        return false;
    *original = (io_write_fn)*slot;
    __atomic_store_n(slot, (void *)hook, __ATOMIC_RELEASE);
    mprotect((void *)start, len, PROT_READ); /* back to RELRO's read-only */
    return true;
}

void lt_stdio_hook(void)
{
    const char *knob = lt_env_get("LOGTAP_STDIO_HOOK");
    if (knob && strcmp(knob, "0") == 0) {
        lt_notice("[logtap: warning: C stdio output of this process is not captured"
                  " (LOGTAP_STDIO_HOOK=0)]");
        return;
    }
    bool narrow = patch_table("_IO_file_jumps", file_write_hook, &real_file_write);
    bool wide = patch_table("_IO_wfile_jumps", wfile_write_hook, &real_wfile_write);
    if (!(narrow && wide))
        lt_notice("[logtap: warning: C stdio output of this process is not captured:"
                  " glibc's stdio tables are not laid out as expected]");
}
