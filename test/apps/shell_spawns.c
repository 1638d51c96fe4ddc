/* shell_spawns.c -- what system(), popen() and pclose() do for their caller,
 * for test_capture.py: the preload rebuilds them (preload/system_popen.c),
 * and the caller must not see a difference.
 *
 * Usage: shell_spawns semantics
 *          prints one line per observable (return values, errno, signal
 *          dispositions and masks in the caller and the child, fds the
 *          child inherits); the test compares the transcript with and
 *          without the preload.
 *        shell_spawns threads N
 *          N threads, each in its own request "req-thread-I", run
 *          system("echo thread I line J") at the same time: each line must
 *          land in its thread's request.
 *        shell_spawns small-stack
 *          the process's first output, system() and popen() come from a
 *          thread with a 16 KiB stack (glibc's need about 1 KiB); then a
 *          thread looping over popen()/pclose() is cancelled, and popen()
 *          must still work after it (no lock left held). Prints a
 *          transcript; dies of SIGSEGV or SIGALRM where it would not
 *          without the preload.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t sigint_seen, sigchld_seen;

static void on_sigint(int sig)
{
    (void)sig;
    sigint_seen++;
}

static void on_sigchld(int sig)
{
    (void)sig;
    sigchld_seen++;
}

static void status_line(const char *what, int status)
{
    if (status == -1)
        printf("%s: -1 errno %d\n", what, errno);
    else if (WIFEXITED(status))
        printf("%s: exit %d\n", what, WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        printf("%s: signal %d\n", what, WTERMSIG(status));
    else
        printf("%s: raw %d\n", what, status);
    fflush(stdout);
}

/* `label` stands for the command in the transcript (fd numbers differ
 * with the preload, which has files of its own open). */
static void popen_line(const char *command, const char *mode, const char *label)
{
    errno = 0;
    FILE *f = popen(command, mode);
    if (!f) {
        printf("popen(%s, \"%s\"): NULL errno %d\n", label, mode, errno);
        return;
    }
    char buf[256] = "";
    if (strchr(mode, 'r') && !fgets(buf, sizeof buf, f))
        strcpy(buf, "(nothing)\n");
    int fd_flags = fcntl(fileno(f), F_GETFD);
    printf("popen(%s, \"%s\"): read %s  cloexec %d\n", label, mode, buf, fd_flags & FD_CLOEXEC);
    status_line("  pclose", pclose(f));
}

static int semantics(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    status_line("system(exit 3)", system("exit 3"));
    status_line("system(kill -KILL $$)", system("kill -KILL $$"));
    printf("system(NULL): %d\n", system(NULL));
    errno = 1234;
    int st = system("true");
    printf("system(true): %d, errno kept %d\n", st, errno == 1234);
    status_line("system(no such command)", system("/no/such/command 2>/dev/null"));

    /* The caller ignores SIGINT and blocks SIGCHLD while the command runs;
     * afterwards its handler is back and the SIGCHLD arrives. */
    struct sigaction sa = {.sa_handler = on_sigint};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_sigchld;
    sigaction(SIGCHLD, &sa, NULL);
    status_line("system(kill -INT $PPID)", system("kill -INT $PPID"));
    printf("SIGINT seen during system(): %d; SIGCHLD seen: %d\n", (int)sigint_seen, (int)sigchld_seen > 0);
    struct sigaction now;
    sigaction(SIGINT, NULL, &now);
    printf("SIGINT handler restored: %d\n", now.sa_handler == on_sigint);
    /* The child gets SIGINT at its default (it had a handler here) ... */
    status_line("system(kill -INT $$)", system("kill -INT $$"));
    /* ... and ignored if the caller ignored it. */
    signal(SIGINT, SIG_IGN);
    status_line("system(kill -INT $$; exit 4), SIGINT ignored", system("kill -INT $$; exit 4"));
    signal(SIGINT, SIG_DFL);
    popen_line("echo from the child; exit 5", "r", "echo from the child; exit 5");
    popen_line("cat >/dev/null", "w", "cat >/dev/null");
    popen_line("echo e-mode", "re", "echo e-mode");
    popen_line("true", "x", "true");
    popen_line("true", "rw", "true");
    popen_line("true", "", "true");
    /* A stream popen() made earlier is closed in the next child. */
    FILE *earlier = popen("cat >/dev/null", "w");
    char check[128];
    snprintf(check, sizeof check, "test -e /proc/$$/fd/%d && echo inherited || echo closed", fileno(earlier));
    popen_line(check, "r", "is the earlier stream's fd open?");
    pclose(earlier);
    /* fclose() on a popen() stream waits too, and returns the status; the
     * mismatched calls go through pointers, past the compiler's warning. */
    int (*volatile close_stream)(FILE *) = fclose;
    status_line("fclose(popen(exit 7))", close_stream(popen("exit 7", "r")));
    close_stream = pclose;
    status_line("pclose(fopen(/dev/null))", close_stream(fopen("/dev/null", "r")));
    return 0;
}

static int (*request_begin)(const char *);
static int (*request_end)(void);

static void *thread_main(void *arg)
{
    int i = (int)(long)arg;
    char request[32], command[64];
    snprintf(request, sizeof request, "req-thread-%d", i);
    if (request_begin)
        request_begin(request);
    for (int j = 0; j < 5; j++) {
        snprintf(command, sizeof command, "echo thread %d line %d", i, j);
        if (system(command) != 0)
            exit(3);
    }
    if (request_end)
        request_end();
    return NULL;
}

static int threads(int n)
{
    request_begin = (int (*)(const char *))dlsym(RTLD_DEFAULT, "logtap_request_begin");
    request_end = (int (*)(void))dlsym(RTLD_DEFAULT, "logtap_request_end");
    pthread_t t[64];
    if (n < 1 || n > 64)
        return 2;
    for (int i = 0; i < n; i++)
        pthread_create(&t[i], NULL, thread_main, (void *)(long)i);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    return 0;
}

static void *small_stack_main(void *arg)
{
    (void)arg;
    dprintf(STDOUT_FILENO, "first output, from a 16 KiB stack\n");
    status_line("system(true) on a 16 KiB stack", system("true"));
    FILE *f = popen("echo read on a small stack", "r");
    char line[64] = "";
    if (f && fgets(line, sizeof line, f))
        dprintf(STDOUT_FILENO, "popen read: %s", line);
    status_line("pclose on a 16 KiB stack", f ? pclose(f) : -1);
    return NULL;
}

static void *popen_loop(void *arg)
{
    (void)arg;
    for (;;) {
        FILE *f = popen("true", "r");
        if (f)
            pclose(f);
    }
    return NULL;
}

static int small_stack(void)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 16384);
    pthread_t t;
    if (pthread_create(&t, &attr, small_stack_main, NULL) != 0)
        return 2;
    pthread_join(t, NULL);
    pthread_t looper;
    pthread_create(&looper, NULL, popen_loop, NULL);
    usleep(300 * 1000);
    pthread_cancel(looper);
    alarm(20); /* a lock left held by the cancelled thread hangs what follows */
    FILE *f = popen("echo after the cancel", "r");
    char line[64] = "";
    if (f && fgets(line, sizeof line, f))
        dprintf(STDOUT_FILENO, "popen read: %s", line);
    status_line("pclose after the cancel", f ? pclose(f) : -1);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "small-stack") == 0)
        return small_stack();
    if (argc >= 2 && strcmp(argv[1], "semantics") == 0)
        return semantics();
    if (argc >= 3 && strcmp(argv[1], "threads") == 0)
        return threads(atoi(argv[2]));
    fprintf(stderr, "usage: shell_spawns semantics | threads N | small-stack\n");
    return 2;
}
