/* runtime.c -- the life of liblogtap.so inside a process: configuration from
 * the initial environment (env.c), the ring and sender on the first
 * capture, a fresh ring and sender in a forked child, and the final flush
 * at exit. What goes into the ring, and how, is hook.c's write path.
 *
 * Start-up order matters: libzmq and libstdc++ are constructed before us (they
 * are our dependencies), so the sender may use zmq from our constructor on.
 * After fork() the child must not touch the parent's zmq context or ring: the
 * atfork handler only resets state. In every process the first capture
 * creates the ring (system calls only) and then the sender.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "catchall.h"
#include "env.h"
#include "fdmap.h"
#include "hook.h"
#include "runtime.h"
#include "sender.h"
#include "size.h"
#include "spawn.h"
#include "stdio_hook.h"
#include "system_popen.h"

lt_runtime lt_rt;
LT_TLS uint32_t lt_cached_tid;

/* The thread creating the ring, which must not wait for itself. */
static _Atomic uint32_t ring_creator;

#define RING_WAIT_NAP_NS 100000 /* how a thread waits for another to create the ring */
#define RING_WAIT_NAPS 5000     /* at most 0.5 s */

static uint64_t random64(void)
{
    uint64_t v = 0;
    if (syscall(SYS_getrandom, &v, sizeof v, GRND_NONBLOCK) != (long)sizeof v || v == 0)
        v = lt_now_ns() ^ ((uint64_t)syscall(SYS_getpid) << 32) ^ (uint64_t)(uintptr_t)&v;
    return v;
}

static void copy_env(char *dst, size_t cap, const char *name, const char *fallback)
{
    const char *v = lt_env_get(name);
    if (!v || !*v)
        v = fallback;
    snprintf(dst, cap, "%s", v);
}

/* IDs from the environment must pass the collector's rule (logtap_wire.h);
 * replacing what does not beats losing every record of the runner. */
static void clean_id(char *id)
{
    for (char *c = id; *c; c++)
        if (!lt_wire_id_char_ok((unsigned char)*c))
            *c = '_';
}

/* LOGTAP_RING_SIZE (size.h's forms), rounded up to a power of two within
 * the ring's limits; text that is not a size leaves the default. */
static uint64_t ring_capacity(const char *text)
{
    int64_t bytes;
    if (lt_parse_size(text, &bytes) != 0)
        return LT_RING_DEFAULT_CAPACITY;
    uint64_t cap = LT_RING_MIN_CAPACITY;
    while (cap < (uint64_t)bytes && cap < LT_RING_MAX_CAPACITY)
        cap <<= 1;
    return cap;
}

static void load_config(lt_config *cfg)
{
    copy_env(cfg->endpoint, sizeof cfg->endpoint, "LOGTAP_ENDPOINT", LT_DEFAULT_ENDPOINT);
    copy_env(cfg->app_id, sizeof cfg->app_id, "LOGTAP_APP_ID", "");
    copy_env(cfg->version_id, sizeof cfg->version_id, "LOGTAP_VERSION_ID", "");
    copy_env(cfg->source, sizeof cfg->source, "LOGTAP_SOURCE", "");
    clean_id(cfg->app_id);
    clean_id(cfg->version_id);
    clean_id(cfg->source);
    copy_env(cfg->ring_dir, sizeof cfg->ring_dir, "LOGTAP_RING_DIR", LT_DEFAULT_RING_DIR);
    cfg->ring_capacity = ring_capacity(lt_env_get("LOGTAP_RING_SIZE"));
    const char *policy = lt_env_get("LOGTAP_ON_FULL");
    cfg->block_on_full = policy && strcmp(policy, "block") == 0;
    const char *bt = lt_env_get("LOGTAP_BLOCK_TIMEOUT_MS");
    cfg->block_timeout_ms = bt && *bt ? atoi(bt) : 1000;
    if (cfg->block_timeout_ms < 0)
        cfg->block_timeout_ms = 0;
    const char *t = lt_env_get("LOGTAP_EXIT_TIMEOUT_MS");
    cfg->exit_timeout_ms = t && *t ? atoi(t) : LT_DEFAULT_EXIT_TIMEOUT_MS;
    if (cfg->exit_timeout_ms < 0)
        cfg->exit_timeout_ms = 0;
    const char *unattributed = lt_env_get("LOGTAP_UNATTRIBUTED");
    cfg->unattributed = unattributed && strcmp(unattributed, "1") == 0;

    const char *rid = lt_env_get("LOGTAP_RUNNER_ID");
    if (rid && *rid) {
        snprintf(cfg->runner_id, sizeof cfg->runner_id, "%s", rid);
        clean_id(cfg->runner_id);
    } else {
        /* Generated once and exported, so children and exec'd programs of
         * this runner report the same runner ID. */
        snprintf(cfg->runner_id, sizeof cfg->runner_id, "r-%016llx", (unsigned long long)random64());
        lt_env_set("LOGTAP_RUNNER_ID", cfg->runner_id);
    }
}

static bool create_ring(void)
{
    lt_ring_meta meta = {
        .runner_id = lt_rt.cfg.runner_id,
        .app_id = lt_rt.cfg.app_id,
        .version_id = lt_rt.cfg.version_id,
        .source = lt_rt.cfg.source,
        .endpoint = lt_rt.cfg.endpoint,
        .pid = lt_rt.pid,
        .instance = lt_rt.instance,
        .flags = lt_rt.cfg.unattributed ? LT_RING_FLAG_UNATTRIBUTED : 0,
    };
    return lt_ring_create(&lt_rt.ring, lt_rt.cfg.ring_dir, lt_rt.cfg.ring_capacity, &meta) == 0;
}

lt_ring *lt_runtime_ring(void)
{
    int state = atomic_load_explicit(&lt_rt.ring_state, memory_order_acquire);
    if (state == LT_RING_READY)
        return &lt_rt.ring;
    int expected = LT_RING_NONE;
    if (state == LT_RING_NONE &&
        atomic_compare_exchange_strong(&lt_rt.ring_state, &expected, LT_RING_CREATING)) {
        atomic_store(&ring_creator, lt_thread_id());
        bool ok = create_ring();
        atomic_store_explicit(&lt_rt.ring_state, ok ? LT_RING_READY : LT_RING_FAILED, memory_order_release);
        return ok ? &lt_rt.ring : NULL;
    }
    /* Another thread is creating it (threads that start writing together):
     * wait, bounded, rather than lose the write. nanosleep is
     * async-signal-safe; a handler that interrupted the creation on its own
     * thread cannot wait for it, and counts its bytes as dropped. */
    struct timespec nap = {0, RING_WAIT_NAP_NS};
    for (int naps = 0; state == LT_RING_CREATING && naps < RING_WAIT_NAPS; naps++) {
        if (atomic_load(&ring_creator) == lt_thread_id())
            break;
        nanosleep(&nap, NULL);
        state = atomic_load_explicit(&lt_rt.ring_state, memory_order_acquire);
    }
    return state == LT_RING_READY ? &lt_rt.ring : NULL;
}

void lt_runtime_ensure_sender(void)
{
    if (atomic_load_explicit(&lt_rt.ring_state, memory_order_acquire) != LT_RING_READY)
        return;
    int expected = LT_SENDER_NONE;
    if (atomic_compare_exchange_strong(&lt_rt.sender_state, &expected, LT_SENDER_STARTING))
        if (lt_sender_start() != 0)
            atomic_store(&lt_rt.sender_state, LT_SENDER_STOPPED);
}

static uint64_t current_sigmask(void)
{
    uint64_t mask = 0;
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &mask, sizeof mask);
    return mask;
}

static void after_fork_child(void)
{
    /* The parent's ring, sender thread and zmq context belong to the parent.
     * The mapping stays (unmapping could race nothing here, but the parent
     * owns the file); the child gets a ring of its own on its first write. */
    lt_cached_tid = 0;
    lt_rt.pid = (pid_t)syscall(SYS_getpid);
    lt_rt.instance = random64();
    lt_rt.start_sigmask = current_sigmask();
    if (atomic_load(&lt_rt.ring_state) == LT_RING_READY)
        lt_ring_forget_in_child(&lt_rt.ring);
    memset(&lt_rt.ring, 0, sizeof lt_rt.ring);
    atomic_store(&lt_rt.ring_state, LT_RING_NONE);
    atomic_store(&lt_rt.sender_state, LT_SENDER_NONE);
    atomic_store(&lt_rt.stopping, false);
    atomic_store(&lt_rt.unringed_bytes, 0);
    atomic_store(&ring_creator, 0);
    lt_catchall_after_fork();
}

/* glibc calls constructors with the process's arguments and initial
 * environment; the settings come from the latter (env.c says why). */
__attribute__((constructor)) static void logtap_init(int argc, char **argv, char **envp)
{
    (void)argc;
    (void)argv;
    lt_env_init(envp);
    /* The hooks pass calls on even with capture off: each hook file
     * resolves its real calls first. */
    lt_hook_init();
    lt_spawn_init();
    lt_system_popen_init();
    const char *disable = lt_env_get("LOGTAP_DISABLE");
    bool disabled = disable && strcmp(disable, "1") == 0;
    lt_fdmap_init(!disabled); /* disabled: leave the app's descriptors alone */
    lt_spawn_capture(!disabled);
    if (disabled) {
        atomic_store(&lt_rt.ring_state, LT_RING_FAILED);
        atomic_store(&lt_rt.sender_state, LT_SENDER_STOPPED);
        return;
    }
    load_config(&lt_rt.cfg);
    lt_rt.pid = getpid();
    lt_rt.instance = random64();
    lt_rt.start_sigmask = current_sigmask();
    const char *inherited = lt_env_get("LOGTAP_REQUEST_ID");
    if (inherited && lt_wire_id_ok(inherited, strlen(inherited))) {
        lt_rt.inherited_request_len = (uint8_t)strlen(inherited);
        memcpy(lt_rt.inherited_request, inherited, lt_rt.inherited_request_len);
    }
    lt_spawn_snapshot(); /* after load_config and lt_fdmap_init exported theirs */
    lt_catchall_init();
    lt_stdio_hook(); /* after pid and instance: a notice creates the ring */
    pthread_atfork(NULL, NULL, after_fork_child);
    /* The ring and the sender are made on the first capture: a process that
     * never writes to stdout/stderr (a shell that only execs, say) costs
     * nothing and leaves no file behind. */
}

__attribute__((destructor)) static void logtap_fini(void)
{
    /* From here on no sender is started: stdio flushed after us lands in the
     * ring and reaches the collector through the ring file. */
    atomic_store(&lt_rt.stopping, true);
    if (atomic_load(&lt_rt.sender_state) != LT_SENDER_RUNNING)
        return;
    lt_record(LT_REC_EXIT, 0, NULL, 0, NULL, 0, 0);
    lt_sender_stop(lt_rt.cfg.exit_timeout_ms);
}
