/* main.c -- logtap-collector: flags (options.c), the ingest loop, and a clean stop.
 *
 * One thread runs ingest -> assembler -> store: it alone writes the store, so
 * lines need no locking on their way in. Every commit interval (or sooner
 * when a batch is large) it commits one transaction and then acknowledges
 * what that transaction made durable. The HTTP server runs on its own
 * threads with its own store readers.
 *
 * SIGTERM/SIGINT: stop taking new work, drain what zmq already holds, end
 * every partial line, commit, acknowledge, and exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "assembler.h"
#include "bootstrap.h"
#include "clock.h"
#include "dirs.h"
#include "http.h"
#include "ingest.h"
#include "metrics.h"
#include "options.h"
#include "reaper.h"
#include "store.h"
#include "timefmt.h"

#define REAP_INTERVAL_MS 1000
#define COMMIT_LINES 20000
#define RETAIN_BITE_ROWS 2000 /* lines deleted per retention transaction */

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* The collector's own log: one timestamped line on stderr. */
__attribute__((format(printf, 1, 2))) static void log_line(const char *fmt, ...)
{
    char ts[40];
    lt_time_format(lt_time_now_ns(), ts, sizeof ts);
    fprintf(stderr, "%s logtap-collector: ", ts);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* One collector per data directory: a second one would share the store's
 * single-writer role and steal the ipc endpoint. */
static int lock_data_dir(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/collector.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return -1;
    }
    return fd; /* held until exit */
}

static void write_status_file(const char *dir, const char *listen, const char *http_host, int port)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/collector.json", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    /* The endpoint and host come from our own flags; quote-free by check. */
    fprintf(f, "{\"pid\": %ld, \"listen\": \"%s\", \"http\": \"http://%s:%d\"}\n", (long)getpid(),
            listen, http_host, port);
    fclose(f);
    rename(tmp, path);
}

/* Commit whatever the transaction holds (lines, request and runner updates;
 * a no-op when nothing is open), then acknowledge it and remove the ring
 * files whose tails it contains. */
/* A store fault (disk full, read-only, locked) is said once when it starts
 * and once when it ends, not at every failed commit. */
static struct {
    bool failing;
    uint64_t failures;
    int64_t since_ms;
} store_fault;

static void commit(lt_store *store, lt_ingest *in, lt_reaper *reaper, lt_assembler *assembler)
{
    bool stores_lines = lt_store_pending(store) > 0;
    if (lt_store_commit(store) != 0) {
        LT_COUNT(store_errors, 1);
        if (!store_fault.failing) {
            log_line("store fault: %s; acknowledging nothing until commits succeed again "
                     "(runners keep their records and send them again)", lt_store_error(store));
            store_fault.failing = true;
            store_fault.since_ms = lt_mono_ms();
            atomic_store(&lt_metrics_global.store_faulted, 1);
        }
        store_fault.failures++;
        /* Nothing since the last commit is stored: owe no acks, keep the
         * ring files, and forget positions so that what the runners send
         * again (from what they had acknowledged) is taken again. */
        lt_ingest_forget_acks(in);
        lt_reaper_release(reaper, false);
        lt_assembler_reset(assembler);
        return;
    }
    if (store_fault.failing && stores_lines) { /* an empty commit proves nothing */
        log_line("store recovered after %llu failed commits in %.1f s",
                 (unsigned long long)store_fault.failures, (double)(lt_mono_ms() - store_fault.since_ms) / 1000);
        store_fault.failing = false;
        store_fault.failures = 0;
        atomic_store(&lt_metrics_global.store_faulted, 0);
    }
    lt_ingest_send_acks(in);
    lt_reaper_release(reaper, true);
}

/* Record the admin token for the local CLI under the URL it will use: the
 * address served, and for a wildcard address the loopback one too. */
static void record_credentials(const char *file, const char *data, const char *host, int port)
{
    char default_path[PATH_MAX];
    if (file == NULL && lt_credentials_default_path(default_path, sizeof default_path) == 0)
        file = default_path;
    if (file == NULL) {
        log_line("neither XDG_CONFIG_HOME nor HOME is set: the admin token is only in %s/admin.token",
                 data);
        return;
    }
    if (strcmp(file, "none") == 0)
        return;
    const char *loopback = strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1"
                           : strcmp(host, "[::]") == 0  ? "[::1]"
                                                        : NULL;
    const char *hosts[] = {host, loopback};
    for (size_t i = 0; i < 2 && hosts[i]; i++) {
        char url[300], err[512];
        snprintf(url, sizeof url, "http://%s:%d", hosts[i], port);
        int rc = lt_credentials_record(file, url, data, err, sizeof err);
        if (rc < 0)
            log_line("cannot record the admin token for the CLI: %s", err);
        else if (rc == 0)
            log_line("admin token recorded for %s in %s", url, file);
    }
}

/* Retention: one bite of deletions, right after a commit (no transaction
 * open). Returns true when it deleted a full bite (more may be due). */
static bool retain_bite(lt_store *store, const lt_retention *policy_in, int64_t max_age_ns)
{
    lt_retention policy = *policy_in;
    if (max_age_ns > 0)
        policy.min_ts_ns = lt_time_now_ns() - max_age_ns;
    if (policy.min_ts_ns <= 0 && policy.max_bytes <= 0)
        return false;
    static bool failing; /* said once when it starts failing, once when it recovers */
    long deleted = lt_store_retain(store, &policy, RETAIN_BITE_ROWS);
    if (deleted < 0) {
        LT_COUNT(store_errors, 1);
        if (!failing)
            log_line("retention: %s (trying again every second)", lt_store_error(store));
        failing = true;
        return false;
    }
    if (failing)
        log_line("retention: working again");
    failing = false;
    LT_COUNT(lines_expired, (uint64_t)deleted);
    return deleted == RETAIN_BITE_ROWS;
}

int main(int argc, char **argv)
{
    lt_collector_options opt;
    int rc = lt_options_parse(argc, argv, &opt);
    if (rc >= 0)
        return rc;
    const char *listen = opt.listen, *http_addr = opt.http, *data = opt.data;
    int commit_ms = opt.commit_ms, partial_line_ms = opt.partial_line_ms;
    int64_t max_age_ns = opt.retain_age_ns;
    lt_retention retention = {.max_bytes = opt.retain_bytes};

    /* The store holds every tenant's logs and the registry's token hashes:
     * whatever the collector creates (the store, its WAL, admin.token) is
     * its user's alone, whatever the data directory's own mode. */
    umask(077);

    /* From here on a stop request is a clean stop, even during start-up:
     * whoever saw collector.json may send SIGTERM at once. */
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (lt_mkdir_p(data, 0700) != 0) {
        fprintf(stderr, "logtap-collector: cannot create data directory %s: %s\n", data, strerror(errno));
        return 1;
    }
    if (lock_data_dir(data) < 0) {
        fprintf(stderr, "logtap-collector: data directory %s is in use by another collector\n", data);
        return 1;
    }

    char err[512];
    lt_store *store = lt_store_open(data, err, sizeof err);
    if (!store) {
        fprintf(stderr, "logtap-collector: cannot open the store in %s: %s\n", data, err);
        return 1;
    }
    char said[PATH_MAX + 128];
    if (lt_bootstrap_admin(data, opt.new_admin_token, said, sizeof said, err, sizeof err) != 0) {
        fprintf(stderr, "logtap-collector: cannot set up the admin user: %s\n", err);
        lt_store_close(store);
        return 1;
    }
    if (said[0])
        log_line("%s", said);
    lt_assembler *assembler = lt_assembler_new(store);
    lt_ingest *in = assembler ? lt_ingest_open(listen, assembler, err, sizeof err) : NULL;
    if (!in) {
        fprintf(stderr, "logtap-collector: %s\n", assembler ? err : "out of memory");
        lt_assembler_free(assembler);
        lt_store_close(store);
        return 1;
    }
    lt_reaper *reaper = lt_reaper_new(opt.rings, listen, assembler);
    lt_http *http = reaper ? lt_http_start(http_addr, data, store, err, sizeof err) : NULL;
    if (!http) {
        fprintf(stderr, "logtap-collector: cannot serve HTTP on %s: %s\n", http_addr,
                reaper ? err : "out of memory");
        lt_reaper_free(reaper);
        lt_ingest_close(in);
        lt_assembler_free(assembler);
        lt_store_close(store);
        return 1;
    }

    char host[256];
    snprintf(host, sizeof host, "%s", http_addr);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = '\0';
    char http_url[300];
    snprintf(http_url, sizeof http_url, "http://%s:%d", host, lt_http_port(http));
    record_credentials(opt.credentials, data, host, lt_http_port(http));
    /* Last: whoever waits for this file may use the collector at once. */
    write_status_file(data, listen, host, lt_http_port(http));
    log_line("listening on %s, serving %s", listen, http_url);

    /* Rings orphaned while no collector was running. */
    if (lt_reaper_scan(reaper) > 0)
        commit(store, in, reaper, assembler);
    int64_t first_pending_ms = 0, next_reap_ms = lt_mono_ms() + REAP_INTERVAL_MS;
    bool retention_behind = false;
    while (!stop_requested) {
        if (lt_mono_ms() >= next_reap_ms) {
            lt_assembler_flush_idle(assembler, lt_mono_ms(), partial_line_ms);
            atomic_store_explicit(&lt_metrics_global.partial_lines,
                                  lt_assembler_partial_lines(assembler), memory_order_relaxed);
            commit(store, in, reaper, assembler); /* what came over zmq first: fewer replays */
            if (lt_reaper_scan(reaper) > 0)
                commit(store, in, reaper, assembler);
            if (!store_fault.failing)
                retention_behind = retain_bite(store, &retention, max_age_ns);
            int64_t live = lt_store_live_bytes(store);
            if (live >= 0)
                atomic_store_explicit(&lt_metrics_global.store_live_bytes, (uint64_t)live,
                                      memory_order_relaxed);
            next_reap_ms = lt_mono_ms() + REAP_INTERVAL_MS;
        } else if (retention_behind && !first_pending_ms) {
            /* A backlog of expired lines goes one bite per loop, between
             * ingest commits, so ingestion never waits for all of it. */
            commit(store, in, reaper, assembler); /* request/runner rows, if any */
            retention_behind = !store_fault.failing && retain_bite(store, &retention, max_age_ns);
        }
        int wait = commit_ms;
        if (first_pending_ms) {
            int64_t left = first_pending_ms + commit_ms - lt_mono_ms();
            wait = left < 0 ? 0 : (int)left;
        }
        lt_ingest_poll(in, wait, 256);
        atomic_store_explicit(&lt_metrics_global.store_pending_lines, lt_store_pending(store),
                              memory_order_relaxed);
        atomic_store_explicit(&lt_metrics_global.acks_pending, lt_ingest_acks_owed(in),
                              memory_order_relaxed);
        if (lt_store_pending(store) && !first_pending_ms)
            first_pending_ms = lt_mono_ms();
        bool due = first_pending_ms && lt_mono_ms() - first_pending_ms >= commit_ms;
        if (due || lt_store_pending(store) >= COMMIT_LINES || !first_pending_ms) {
            commit(store, in, reaper, assembler);
            first_pending_ms = 0;
        }
    }

    /* Drain: whatever zmq already received is stored before we go. */
    log_line("stopping: draining");
    for (int round = 0; round < 100 && lt_ingest_poll(in, 20, 1024) > 0; round++)
        if (lt_store_pending(store) >= COMMIT_LINES)
            commit(store, in, reaper, assembler);
    lt_assembler_flush_all(assembler);
    commit(store, in, reaper, assembler);
    lt_http_stop(http);
    lt_reaper_free(reaper);
    lt_ingest_close(in);
    lt_assembler_free(assembler);
    lt_store_close(store);
    log_line("stopped");
    return 0;
}
