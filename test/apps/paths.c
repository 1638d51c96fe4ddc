/* paths.c -- one output path of libc per mode, for the capture matrix
 * (test/e2e/test_paths.py). Usage: paths MODE [REQUEST_ID]
 *
 * Each mode writes the line "<mode> ok" through one path, inside the request
 * REQUEST_ID when one is given (markers looked up with dlsym, as a framework
 * that also runs without the preload would), then exits the way the mode
 * says. The test compares what the terminal-side files received and what the
 * collector stored.
 */
#include <assert.h>
#include <errno.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static const char *mode;
static char line[128];

static void begin(const char *request)
{
    int (*fn)(const char *) = (int (*)(const char *))dlsym(RTLD_DEFAULT, "logtap_request_begin");
    if (request && fn)
        fn(request);
}

static void end(void)
{
    int (*fn)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "logtap_request_end");
    if (fn)
        fn();
}

static void on_signal(int sig)
{
    (void)sig;
    ssize_t r = write(2, line, strlen(line)); /* async-signal-safe path */
    (void)r;
}

static void *thread_main(void *arg)
{
    (void)arg;
    if (strcmp(mode, "exit-from-thread") == 0) {
        printf("%s", line); /* unflushed: exit() flushes it */
        exit(0);
    }
    ssize_t r = write(1, line, strlen(line)); /* a native thread with no marker */
    (void)r;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    mode = argv[1];
    const char *request = argc > 2 ? argv[2] : NULL;
    snprintf(line, sizeof line, "%s ok\n", mode);
    size_t len = strlen(line);
    begin(request);

    if (!strcmp(mode, "printf"))
        printf("%s ok\n", mode);
    else if (!strcmp(mode, "puts"))
        puts("puts ok");
    else if (!strcmp(mode, "fputs"))
        fputs(line, stdout);
    else if (!strcmp(mode, "fputs-unlocked"))
        fputs_unlocked(line, stdout);
    else if (!strcmp(mode, "fwrite"))
        fwrite(line, 1, len, stdout);
    else if (!strcmp(mode, "fwrite-unlocked"))
        fwrite_unlocked(line, 1, len, stdout);
    else if (!strcmp(mode, "putchar-unlocked"))
        for (size_t i = 0; i < len; i++)
            putchar_unlocked(line[i]);
    else if (!strcmp(mode, "fprintf-stderr"))
        fprintf(stderr, "%s", line);
    else if (!strcmp(mode, "perror")) {
        errno = ENOENT;
        line[len - 1] = 0;
        perror(line);
    } else if (!strcmp(mode, "dprintf"))
        dprintf(1, "%s", line);
    else if (!strcmp(mode, "write")) {
        if (write(1, line, len) < 0)
            return 3;
    } else if (!strcmp(mode, "writev")) {
        struct iovec iov[2] = {{line, 3}, {line + 3, len - 3}};
        if (writev(1, iov, 2) < 0)
            return 3;
    } else if (!strcmp(mode, "dup-stderr")) {
        int fd = dup(2);
        if (write(fd, line, len) < 0)
            return 3;
    } else if (!strcmp(mode, "fcntl-dupfd")) {
        int fd = fcntl(1, F_DUPFD, 10);
        if (write(fd, line, len) < 0)
            return 3;
    } else if (!strcmp(mode, "dup2-stderr-to-stdout")) {
        dup2(2, 1);
        if (write(1, line, len) < 0)
            return 3;
    } else if (!strcmp(mode, "dup3-stdout")) {
        int fd = open("/dev/null", O_RDONLY);
        dup3(1, fd, O_CLOEXEC);
        if (write(fd, line, len) < 0)
            return 3;
    } else if (!strcmp(mode, "pwrite")) {
        if (pwrite(1, line, len, 0) < 0)
            return 3;
    } else if (!strcmp(mode, "pwritev")) {
        struct iovec iov = {line, len};
        if (pwritev(1, &iov, 1, 0) < 0)
            return 3;
    } else if (!strcmp(mode, "signal-handler")) {
        signal(SIGUSR1, on_signal);
        raise(SIGUSR1);
    } else if (!strcmp(mode, "unflushed-at-exit")) {
        printf("%s", line);
        return 0;
    } /* request left open */
    else if (!strcmp(mode, "exit-after-write")) {
        if (write(1, line, len) < 0)
            return 3;
        _exit(0);
    } else if (!strcmp(mode, "abort-after-stdio")) {
        fprintf(stderr, "%s", line);
        abort();
    } else if (!strcmp(mode, "assert")) {
        line[len - 1] = 0;
        assert(mode[0] == 'x' && line[0]);
    } else if (!strcmp(mode, "native-thread") || !strcmp(mode, "exit-from-thread")) {
        pthread_t t;
        pthread_create(&t, NULL, thread_main, NULL);
        if (!strcmp(mode, "exit-from-thread"))
            pause();
        pthread_join(t, NULL);
    }
    /* The variadic exec family, the last two with an environment that has
     * lost LD_PRELOAD: the exec hooks must still keep the child captured and
     * in the request. */
    else if (!strcmp(mode, "execl"))
        execl("/bin/echo", "echo", "execl ok", (char *)NULL);
    else if (!strcmp(mode, "execlp"))
        execlp("echo", "echo", "execlp ok", (char *)NULL);
    else if (!strcmp(mode, "execle-clean-env")) {
        char *const clean[] = {"PATH=/bin:/usr/bin", NULL};
        execle("/bin/echo", "echo", "execle-clean-env ok", (char *)NULL, clean);
    } else if (!strcmp(mode, "execv-clean-environ")) {
        clearenv();
        char *const args[] = {"echo", "execv-clean-environ ok", NULL};
        execv("/bin/echo", args);
    }
    /* glibc spawns these shells with its internal posix_spawn: the children
     * must still be in the request. */
    else if (!strcmp(mode, "system")) {
        if (system("echo system ok") != 0)
            return 3;
    } else if (!strcmp(mode, "popen-w")) {
        FILE *to_cat = popen("cat", "w");
        if (!to_cat || fputs(line, to_cat) < 0 || pclose(to_cat) != 0)
            return 3;
    } else if (!strcmp(mode, "popen-r")) {
        FILE *from = popen("echo popen-r ok >&2; echo read", "r");
        char got[16];
        if (!from || !fgets(got, sizeof got, from) || strcmp(got, "read\n") != 0 || pclose(from) != 0)
            return 3;
    } else if (!strcmp(mode, "raw-syscall")) {
        if (syscall(SYS_write, 1, line, len) < 0)
            return 3;
    } else if (!strcmp(mode, "raw-then-write")) {
        /* For logtap run --catch-all: the hooked writes must not overtake
         * the raw ones, which take the longer way through logtap run. */
        static const char *const steps[] = {"raw out 1\n", "hooked out 2\n", "raw err 3\n", "hooked out 4\n"};
        for (int i = 0; i < 4; i++) {
            int fd = i == 2 ? 2 : 1;
            long n = i % 2 ? write(fd, steps[i], strlen(steps[i]))
                           : syscall(SYS_write, fd, steps[i], strlen(steps[i]));
            if (n < 0)
                return 3;
        }
    } else if (!strcmp(mode, "progress")) {
        for (int i = 0; i <= 100; i += 10) {
            fprintf(stderr, "\rprogress %3d%%", i);
            fflush(stderr);
        }
        fputc('\n', stderr);
    } else
        return 2;
    fflush(stdout);
    end();
    return 0;
}
