/* spawn.c -- children stay in the runner, and in the request that started
 * them.
 *
 * A program exec'd by the runner loads liblogtap.so again only if LD_PRELOAD
 * is in the environment it is given, and learns which runner and request it
 * belongs to only from the environment. subprocess.run(..., env={...}) hands
 * it a fresh environment without either. So every exec and spawn entry point
 * rewrites the environment it passes on: LD_PRELOAD gains this library if it
 * lacks it, the runner's LOGTAP_* settings are added where missing, and
 * LOGTAP_REQUEST_ID is set to the calling thread's request (or removed
 * outside requests). The child's constructor takes LOGTAP_REQUEST_ID as the
 * request of all its threads (runtime.c).
 *
 * glibc's execv, execvp and execl* reach execve internally, past the PLT, so
 * each public entry point is hooked on its own. The rewritten environment
 * lives on the stack: an exec hook may run in a vfork()ed child, where
 * malloc is off limits. system() and popen() spawn through glibc's
 * internal posix_spawn, past these hooks, with the process's own environ:
 * system_popen.c rebuilds them on lt_spawn_shell below, so their children
 * get the calling thread's request like any other.
 */
#include "spawn.h"

#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "env.h"
#include "hook.h"
#include "runtime.h"

extern char **environ;

/* Resolved by lt_spawn_init (constructor): an exec hook may run in a vfork
 * child, where dlsym is off limits. */
static LT_REAL(execve) real_execve;
static LT_REAL(execvpe) real_execvpe;
static LT_REAL(fexecve) real_fexecve;
static LT_REAL(posix_spawn) real_posix_spawn;
static LT_REAL(posix_spawnp) real_posix_spawnp;

static char self_path[PATH_MAX]; /* this library, for LD_PRELOAD */
/* What to put in a child's LD_PRELOAD: the list this process was started
 * with when it names us (it may hold libraries that must come first, such
 * as a sanitizer's runtime), else just this library. */
static char preload_list[2 * PATH_MAX];

/* Variables a child of the runner must carry. Their values are taken once,
 * when this process has finished starting (lt_spawn_snapshot): by exec time
 * the app may have changed or cleared its environment (clearenv), and an
 * exec hook may run in a vfork child, where less is better. */
enum { CARRIED = 10, EXTRA = CARRIED + 2 };
#define VALUE_MAX 512
static const char *const carried[CARRIED] = {
    "LOGTAP_RUNNER_ID", "LOGTAP_ENDPOINT",  "LOGTAP_APP_ID",    "LOGTAP_VERSION_ID", "LOGTAP_SOURCE",
    "LOGTAP_RING_DIR",  "LOGTAP_STDOUT_ID", "LOGTAP_STDERR_ID", "LOGTAP_ON_FULL",    "LOGTAP_CATCHALL",
};
static char carried_value[CARRIED][VALUE_MAX];
/* Room for one NAME=value string added to a child's environment. */
#define SLOT_MAX (VALUE_MAX + 64)
_Static_assert(sizeof "LOGTAP_REQUEST_ID=" + LT_WIRE_MAX_ID <= SLOT_MAX, "a request ID fits a slot");

static bool list_has_file(const char *list, const char *path);

void lt_spawn_snapshot(void)
{
    for (size_t k = 0; k < CARRIED; k++) {
        const char *v = lt_env_get(carried[k]);
        if (v && strlen(v) < VALUE_MAX)
            strcpy(carried_value[k], v);
    }
}

void lt_spawn_init(void)
{
    real_execve = LT_NEXT(execve);
    real_execvpe = LT_NEXT(execvpe);
    real_fexecve = LT_NEXT(fexecve);
    real_posix_spawn = LT_NEXT(posix_spawn);
    real_posix_spawnp = LT_NEXT(posix_spawnp);
    Dl_info info;
    if (dladdr((void *)lt_spawn_init, &info) && info.dli_fname && !realpath(info.dli_fname, self_path))
        self_path[0] = '\0';
    const char *started_with = lt_env_get("LD_PRELOAD");
    if (started_with && strlen(started_with) < sizeof preload_list && list_has_file(started_with, self_path))
        strcpy(preload_list, started_with);
    else if (strlen(self_path) < sizeof preload_list)
        strcpy(preload_list, self_path);
}

static const char *env_lookup(char *const envp[], const char *name, size_t name_len)
{
    for (size_t i = 0; envp && envp[i]; i++)
        if (strncmp(envp[i], name, name_len) == 0 && envp[i][name_len] == '=')
            return envp[i] + name_len + 1;
    return NULL;
}

static bool list_has(const char *list, const char *item);

/* Does the LD_PRELOAD list name the library at `path` (compared by real
 * path, since the list may spell it relatively)? Start-up only. */
static bool list_has_file(const char *list, const char *path)
{
    char entry[PATH_MAX], real[PATH_MAX];
    for (const char *p = list; p && *p;) {
        size_t len = strcspn(p, ": ");
        if (len < sizeof entry) {
            memcpy(entry, p, len);
            entry[len] = '\0';
            if (realpath(entry, real) && strcmp(real, path) == 0)
                return true;
        }
        p += len;
        p += strspn(p, ": ");
    }
    return false;
}

static bool list_has(const char *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = list; p && *p;) {
        size_t len = strcspn(p, ": ");
        if (len == n && strncmp(p, item, n) == 0)
            return true;
        p += len;
        p += strspn(p, ": ");
    }
    return false;
}

typedef struct env_builder {
    char **out; /* caller's stack array, room for n + EXTRA + 1 */
    size_t n;
    char (*buf)[SLOT_MAX];
    size_t nbuf;
} env_builder;

static void put(env_builder *b, const char *name, const char *value)
{
    char *slot = b->buf[b->nbuf++];
    size_t nl = strlen(name), vl = strlen(value);
    if (nl + 1 + vl + 1 > SLOT_MAX)
        return;
    memcpy(slot, name, nl);
    slot[nl] = '=';
    memcpy(slot + nl + 1, value, vl + 1);
    b->out[b->n++] = slot;
}

/* Fill `out` (n_in + EXTRA + 1 slots) with the child's environment. Returns
 * false if it should be passed on unchanged (capture off, or values that do
 * not fit the fixed buffers). */
static bool build_env(char *const envp[], char **out, char (*buf)[SLOT_MAX], char *preload_buf,
                      size_t preload_cap)
{
    if (!self_path[0] || atomic_load(&lt_rt.ring_state) == LT_RING_FAILED)
        return false;
    env_builder b = {.out = out, .buf = buf};
    for (size_t i = 0; envp && envp[i]; i++) {
        if (strncmp(envp[i], "LOGTAP_REQUEST_ID=", 18) == 0 || strncmp(envp[i], "LD_PRELOAD=", 11) == 0)
            continue; /* set below */
        out[b.n++] = envp[i];
    }
    for (size_t k = 0; k < CARRIED; k++) {
        if (!env_lookup(envp, carried[k], strlen(carried[k])) && carried_value[k][0])
            put(&b, carried[k], carried_value[k]);
    }
    const char *preload = env_lookup(envp, "LD_PRELOAD", 10);
    if (preload && (list_has(preload, self_path) || strcmp(preload, preload_list) == 0)) {
        if (strlen(preload) + 12 > preload_cap)
            return false;
        memcpy(preload_buf, "LD_PRELOAD=", 11);
        strcpy(preload_buf + 11, preload);
    } else {
        size_t need = 11 + strlen(preload_list) + 1 + (preload ? strlen(preload) : 0) + 1;
        if (need > preload_cap)
            return false;
        memcpy(preload_buf, "LD_PRELOAD=", 11);
        strcpy(preload_buf + 11, preload_list);
        if (preload && *preload) {
            strcat(preload_buf, ":");
            strcat(preload_buf, preload);
        }
    }
    out[b.n++] = preload_buf;
    uint8_t len = lt_thread_marker.len ? lt_thread_marker.len : lt_rt.inherited_request_len;
    const char *id = lt_thread_marker.len ? lt_thread_marker.id : lt_rt.inherited_request;
    if (len) {
        char *slot = buf[b.nbuf++];
        memcpy(slot, "LOGTAP_REQUEST_ID=", 18);
        memcpy(slot + 18, id, len);
        slot[18 + len] = '\0';
        out[b.n++] = slot;
    }
    out[b.n] = NULL;
    return true;
}

static size_t env_count(char *const envp[])
{
    size_t n = 0;
    while (envp && envp[n])
        n++;
    return n;
}

/* Declares the stack storage and points `name` at the environment to use. */
#define CHILD_ENV(name, envp)                                                                                \
    size_t name##_n = env_count(envp);                                                                       \
    char *name##_out[name##_n + EXTRA + 1];                                                                  \
    char name##_buf[EXTRA][SLOT_MAX];                                                                        \
    char name##_preload[4 * PATH_MAX];                                                                       \
    char *const *name = build_env(envp, name##_out, name##_buf, name##_preload, sizeof name##_preload)       \
                            ? (char *const *)name##_out                                                      \
                            : (envp)

LT_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    CHILD_ENV(env, envp);
    if (!real_execve) {
        errno = ENOSYS;
        return -1;
    }
    return real_execve(path, argv, env);
}

LT_EXPORT int execv(const char *path, char *const argv[])
{
    return execve(path, argv, environ);
}

LT_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    CHILD_ENV(env, envp);
    if (!real_execvpe) {
        errno = ENOSYS;
        return -1;
    }
    return real_execvpe(file, argv, env);
}

LT_EXPORT int execvp(const char *file, char *const argv[])
{
    return execvpe(file, argv, environ);
}

LT_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    CHILD_ENV(env, envp);
    if (!real_fexecve) {
        errno = ENOSYS;
        return -1;
    }
    return real_fexecve(fd, argv, env);
}

LT_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                          const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    CHILD_ENV(env, envp);
    return real_posix_spawn ? real_posix_spawn(pid, path, actions, attr, argv, env) : ENOSYS;
}

LT_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
                           const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    CHILD_ENV(env, envp);
    return real_posix_spawnp ? real_posix_spawnp(pid, file, actions, attr, argv, env) : ENOSYS;
}

/* execl, execlp, execle: gather the variadic arguments, then as above. */
#define GATHER_ARGS(first, ap, argv)                                                                         \
    size_t argc_ = 1;                                                                                        \
    va_list count_;                                                                                          \
    va_copy(count_, ap);                                                                                     \
    while (va_arg(count_, char *) != NULL)                                                                   \
        argc_++;                                                                                             \
    va_end(count_);                                                                                          \
    char *argv[argc_ + 1];                                                                                   \
    argv[0] = (char *)(first);                                                                               \
    for (size_t i_ = 1; i_ <= argc_; i_++)                                                                   \
    argv[i_] = va_arg(ap, char *)

LT_EXPORT int execl(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    GATHER_ARGS(arg, ap, argv);
    va_end(ap);
    return execve(path, argv, environ);
}

LT_EXPORT int execlp(const char *file, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    GATHER_ARGS(arg, ap, argv);
    va_end(ap);
    return execvpe(file, argv, environ);
}

LT_EXPORT int execle(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    GATHER_ARGS(arg, ap, argv);
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return execve(path, argv, envp);
}

/* Decided once (lt_spawn_capture, from the constructor): switching between
 * our system()/popen() and glibc's while calls of the other are running
 * would mix their signal counts and stream lists. */
static bool capture_on;

void lt_spawn_capture(bool on)
{
    capture_on = on;
}

bool lt_spawn_passes_on(void)
{
    return self_path[0] && capture_on;
}

/* system() and popen() may allocate (glibc's do), and their callers' stacks
 * may be small (threads made with 16 KiB): the child's environment is built
 * on the heap here, not with CHILD_ENV's 23 KiB of stack. posix_spawn
 * returns only once the child has exec'd, so it may be freed then. */
int lt_spawn_shell(pid_t *pid, const posix_spawn_file_actions_t *actions, const posix_spawnattr_t *attr,
                   const char *command)
{
    if (!real_posix_spawn)
        return ENOSYS;
    char *argv[] = {"sh", "-c", (char *)command, NULL};
    struct child_env_storage {
        char buf[EXTRA][SLOT_MAX];
        char preload[4 * PATH_MAX];
    } *storage = malloc(sizeof *storage);
    char **out = malloc((env_count(environ) + EXTRA + 1) * sizeof *out);
    if (!storage || !out) {
        free(storage);
        free(out);
        return ENOMEM;
    }
    char *const *env = build_env(environ, out, storage->buf, storage->preload, sizeof storage->preload)
                           ? (char *const *)out
                           : environ;
    int rc = real_posix_spawn(pid, "/bin/sh", actions, attr, argv, env);
    free(out);
    free(storage);
    return rc;
}
