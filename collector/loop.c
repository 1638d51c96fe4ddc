/* loop.c -- the collector's ingest thread: ingest -> assemble -> commit ->
 * acknowledge -> retention, the reaper's scans, store faults and the drain.
 *
 * Invariants:
 * - This one thread writes the store (ingest -> assembler -> store), so lines
 *   need no locking on their way in; HTTP threads read through their own
 *   store readers.
 * - A line waits at most commit_ms before its transaction commits (sooner
 *   when COMMIT_LINES are pending).
 * - Runners are acknowledged, and adopted ring files removed, only after the
 *   commit that made their records durable. A failed commit acknowledges
 *   nothing: the acks owed are forgotten, the ring files kept, and the
 *   assembler forgets its positions, so what runners send again (from what
 *   they had acknowledged) is taken again.
 * - A store fault is logged once when it starts and once when it ends (a
 *   commit that stored lines), not at every failed commit; retention waits
 *   while the store is failing.
 * - Retention runs only right after a commit (no transaction open), one
 *   bite of RETAIN_BITE_ROWS lines at a time, so a backlog of expired lines
 *   never holds ingestion up.
 * - Every REAP_INTERVAL_MS: unfinished lines older than partial_line_ms are
 *   stored as they are, what came over zmq is committed, and then the rings
 *   of runners that are gone are replayed (fewer replays that way).
 * - Fair under a flood: an ingest turn ends at TURN_LINES uncommitted
 *   lines (a quarter of COMMIT_LINES: measured, it took the innocent
 *   runner's worst ack under a flood from 0.8 s to 0.2 s at the same
 *   throughput) or TURN_BYTES of frames (lt_ingest_set_turn), and such a turn is
 *   committed and acknowledged at once, so one runner's flood delays
 *   another's ack by one turn and one commit, not by its backlog.
 * - SIGTERM/SIGINT: stop taking new work, drain what zmq already holds, end
 *   every partial line, commit, acknowledge, and return.
 */
#include "loop.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "timefmt.h"

#define REAP_INTERVAL_MS 1000
#define COMMIT_LINES 20000
#define RETAIN_BITE_ROWS 2000  /* lines deleted per retention transaction */
#define TURN_LINES 5000        /* lines taken before a commit under a flood */
#define TURN_BYTES (32u << 20) /* frame bytes read before a commit under a flood */

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

void lt_loop_catch_stop_signals(void)
{
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

typedef struct loop {
    const lt_loop_parts *p;
    const lt_collector_options *opt;
    struct {
        bool failing;
        uint64_t failures;
        int64_t since_ms;
    } store_fault;
    bool retention_failing;
} loop;

/* Commit whatever the transaction holds (lines, request and runner updates;
 * a no-op when nothing is open), then acknowledge it and remove the ring
 * files whose tails it contains. */
static void commit(loop *l)
{
    const lt_loop_parts *p = l->p;
    bool stores_lines = lt_store_pending(p->store) > 0;
    if (lt_store_commit(p->store) != 0) {
        LT_COUNT(store_errors, 1);
        if (!l->store_fault.failing) {
            lt_log("store fault: %s; acknowledging nothing until commits succeed again "
                   "(runners keep their records and send them again)",
                   lt_store_error(p->store));
            l->store_fault.failing = true;
            l->store_fault.since_ms = lt_mono_ms();
            atomic_store(&lt_metrics_global.store_faulted, 1);
        }
        l->store_fault.failures++;
        /* Nothing since the last commit is stored: owe no acks, keep the
         * ring files, and forget positions so that what the runners send
         * again (from what they had acknowledged) is taken again. */
        lt_ingest_forget_acks(p->ingest);
        lt_reaper_release(p->reaper, false);
        lt_assembler_reset(p->assembler);
        return;
    }
    if (l->store_fault.failing && stores_lines) { /* an empty commit proves nothing */
        lt_log("store recovered after %llu failed commits in %.1f s",
               (unsigned long long)l->store_fault.failures,
               (double)(lt_mono_ms() - l->store_fault.since_ms) / 1000);
        l->store_fault.failing = false;
        l->store_fault.failures = 0;
        atomic_store(&lt_metrics_global.store_faulted, 0);
    }
    lt_ingest_send_acks(p->ingest);
    lt_reaper_release(p->reaper, true);
}

/* Retention: one bite of deletions, right after a commit (no transaction
 * open), and none while the store is failing. Returns true when it deleted
 * a full bite (more may be due). */
static bool retain_bite(loop *l)
{
    if (l->store_fault.failing)
        return false;
    lt_retention policy = {.max_bytes = l->opt->retain_bytes};
    if (l->opt->retain_age_ns > 0)
        policy.min_ts_ns = lt_time_now_ns() - l->opt->retain_age_ns;
    if (policy.min_ts_ns <= 0 && policy.max_bytes <= 0)
        return false;
    long deleted = lt_store_retain(l->p->store, &policy, RETAIN_BITE_ROWS);
    if (deleted < 0) {
        LT_COUNT(store_errors, 1);
        if (!l->retention_failing) /* said once when it starts failing, once when it recovers */
            lt_log("retention: %s (trying again every second)", lt_store_error(l->p->store));
        l->retention_failing = true;
        return false;
    }
    if (l->retention_failing)
        lt_log("retention: working again");
    l->retention_failing = false;
    LT_COUNT(lines_expired, (uint64_t)deleted);
    return deleted == RETAIN_BITE_ROWS;
}

/* Once a second: idle partial lines, the rings of runners that are gone,
 * retention, the store's size. Returns whether retention is behind. */
static bool every_second(loop *l)
{
    const lt_loop_parts *p = l->p;
    lt_assembler_flush_idle(p->assembler, lt_mono_ms(), l->opt->partial_line_ms);
    atomic_store_explicit(&lt_metrics_global.partial_lines, lt_assembler_partial_lines(p->assembler),
                          memory_order_relaxed);
    size_t instances, partial_bytes;
    lt_assembler_usage(p->assembler, &instances, &partial_bytes);
    atomic_store_explicit(&lt_metrics_global.instances_cached, instances, memory_order_relaxed);
    atomic_store_explicit(&lt_metrics_global.partial_bytes, partial_bytes, memory_order_relaxed);
    commit(l); /* what came over zmq first: fewer replays */
    if (lt_reaper_scan(p->reaper) > 0)
        commit(l);
    bool behind = retain_bite(l);
    int64_t live = lt_store_live_bytes(p->store);
    if (live >= 0)
        atomic_store_explicit(&lt_metrics_global.store_live_bytes, (uint64_t)live, memory_order_relaxed);
    return behind;
}

/* Stop taking new work: whatever zmq already received is stored, every
 * partial line ended, and all of it acknowledged. */
static void drain(loop *l)
{
    const lt_loop_parts *p = l->p;
    lt_log("stopping: draining");
    for (int round = 0; round < 100 && lt_ingest_poll(p->ingest, 20, 1024) > 0; round++)
        if (lt_store_pending(p->store) >= COMMIT_LINES)
            commit(l);
    lt_assembler_flush_all(p->assembler);
    commit(l);
}

void lt_loop_run(const lt_loop_parts *parts, const lt_collector_options *opt)
{
    loop l = {.p = parts, .opt = opt};
    const int commit_ms = opt->commit_ms;
    lt_ingest_set_turn(parts->ingest, parts->store, TURN_LINES, TURN_BYTES);

    /* Rings orphaned while no collector was running. */
    if (lt_reaper_scan(parts->reaper) > 0)
        commit(&l);
    int64_t first_pending_ms = 0, next_reap_ms = lt_mono_ms() + REAP_INTERVAL_MS;
    bool retention_behind = false;
    while (!stop_requested) {
        if (lt_mono_ms() >= next_reap_ms) {
            retention_behind = every_second(&l);
            next_reap_ms = lt_mono_ms() + REAP_INTERVAL_MS;
        } else if (retention_behind && !first_pending_ms) {
            /* A backlog of expired lines goes one bite per loop, between
             * ingest commits, so ingestion never waits for all of it. */
            commit(&l); /* request/runner rows, if any */
            retention_behind = retain_bite(&l);
        }
        int wait = commit_ms;
        if (first_pending_ms) {
            int64_t left = first_pending_ms + commit_ms - lt_mono_ms();
            wait = left < 0 ? 0 : (int)left;
        }
        lt_ingest_poll(parts->ingest, wait, 256);
        atomic_store_explicit(&lt_metrics_global.store_pending_lines, lt_store_pending(parts->store),
                              memory_order_relaxed);
        atomic_store_explicit(&lt_metrics_global.acks_pending, lt_ingest_acks_owed(parts->ingest),
                              memory_order_relaxed);
        if (lt_store_pending(parts->store) && !first_pending_ms)
            first_pending_ms = lt_mono_ms();
        bool due = first_pending_ms && lt_mono_ms() - first_pending_ms >= commit_ms;
        if (due || lt_store_pending(parts->store) >= COMMIT_LINES || !first_pending_ms ||
            lt_ingest_turn_cut(parts->ingest)) {
            commit(&l);
            first_pending_ms = 0;
        }
    }
    drain(&l);
}
