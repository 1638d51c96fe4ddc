/* native_app.c -- test runner written in C: it writes through every libc
 * path the capture must see, inside and outside a request, then exits with
 * stdio still unflushed (glibc flushes it after liblogtap's destructor).
 *
 * The request markers are looked up with dlsym, as a framework that must
 * also run without the preload would do.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

typedef int (*begin_fn)(const char *);
typedef int (*end_fn)(void);

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "paths";
    begin_fn begin = (begin_fn)dlsym(RTLD_DEFAULT, "logtap_request_begin");
    end_fn end = (end_fn)dlsym(RTLD_DEFAULT, "logtap_request_end");

    if (strcmp(mode, "paths") == 0) {
        printf("printf %d\n", 1);
        fflush(stdout);
        puts("puts line");
        fflush(stdout);
        fwrite("fwrite line\n", 1, 12, stdout);
        fflush(stdout);
        fprintf(stderr, "fprintf stderr\n");
        fputs_unlocked("fputs_unlocked line\n", stdout);
        fflush(stdout);
        dprintf(1, "dprintf line\n");
        if (write(1, "write line\n", 11) != 11)
            return 3;
        struct iovec iov[2] = {{"writev ", 7}, {"line\n", 5}};
        if (writev(2, iov, 2) != 12)
            return 3;
        int copy = dup(2);
        if (write(copy, "dup of stderr\n", 14) != 14)
            return 3;
        close(copy);
        if (begin && begin("req-native") != 0)
            return 4;
        printf("inside request via printf\n");
        fflush(stdout);
        fprintf(stderr, "inside request via stderr\n");
        if (end)
            end();
        printf("unflushed at exit");
        return 0; /* exit() flushes stdout after our destructor */
    }
    if (strcmp(mode, "burst-then-wait") == 0) {
        /* burst-then-wait N READY_FD: many lines, then block until killed. */
        int n = argc > 2 ? atoi(argv[2]) : 1000;
        int ready_fd = argc > 3 ? atoi(argv[3]) : 3;
        for (int i = 0; i < n; i++)
            printf("burst %d\n", i);
        fflush(stdout);
        fputs("last line\n", stderr);
        /* Tell the test through ready_fd, which is not captured: by the time this
         * write happens every captured write above is in the ring. (Had we
         * signalled on stderr, the kill could land between that write and
         * its recording: a window of nanoseconds no real kill aims at.) */
        if (write(ready_fd, "ready\n", 6) != 6)
            return 3;
        pause();
        return 0;
    }
    fprintf(stderr, "native_app: unknown mode %s\n", mode);
    return 2;
}
