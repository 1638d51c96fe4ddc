/* loop.c -- the collector's ingest thread: ingest -> assemble -> commit ->
 * acknowledge -> retention, the reaper's scans, store faults and the drain.
 *
 * Invariants:
 * - This one thread writes the store (ingest -> assembler -> store), so lines
 *   need no locking on their way in; HTTP threads read through their own
 *   store readers.
 * - A line waits at most commit_ms before its transaction commits (sooner
 *   when COMMIT_LINES are pending: frames are taken one at a time until
 *   then, so a transaction holds at most COMMIT_LINES, one frame and one
 *   reaper step's records; the drain at SIGTERM takes more at once).
 * - Runners are acknowledged, and adopted ring files removed, only after the
 *   commit that made their records durable. A failed commit acknowledges
 *   nothing: the acks owed are forgotten, the ring files kept, and the
 *   assembler forgets its positions, so what runners send again (from what
 *   they had acknowledged) is taken again.
 * - A store fault is logged once when it starts and once when it ends (a
 *   commit that stored lines), not at every failed commit; retention waits
 *   while the store is failing.
 * - Retention runs only right after a commit (no transaction open): after
 *   every commit that stored lines, while it is behind, and once a second.
 *   It runs in slices of bites (RETAIN_BITE_ROWS rows each, a transaction
 *   each). A slice ends when nothing more is due, or when both
 *   - the store is no larger than the size limit, or than it was at the
 *     end of the previous slice (over the limit, the store never grows
 *     from one slice to the next: each deletes at least what came in
 *     since; at most RETAIN_KEEP_UP_MAX_NS for that), and
 *   - it has taken as long as the rest of the loop took since the previous
 *     slice (at most RETAIN_SLICE_MAX_NS): a backlog (a lower limit at
 *     start, lines expiring by age) shares the thread with ingestion
 *     instead of holding it up.
 *   Under a flood at the limit, then, the store stays within one commit's
 *   lines of the limit (and one reaper step's replayed records), and ingestion slows to what
 *   retention can delete: the flooding runner's ring fills and drops its
 *   own bytes.
 * - Every REAP_INTERVAL_MS: unfinished lines older than partial_line_ms are
 *   stored as they are, what came over zmq is committed (fewer replays that
 *   way), and a reaper pass over the ring directory begins.
 * - The reaper (rings of runners that are gone) never holds ingestion up
 *   for long: while it has work it gets one bounded step per turn (about
 *   5 ms; reaper.c states the bound), and the socket is polled between two
 *   steps (waiting at most REAP_POLL_MS then). Its replays are committed
 *   with everything else, and a replayed ring's file is removed after the
 *   commit that stored its tail.
 * - Fair under a flood: a turn of frames ends at TURN_LINES uncommitted
 *   lines (a quarter of COMMIT_LINES: measured, it took an innocent
 *   runner's worst ack under a flood from 0.8 s to 0.2 s at the same
 *   throughput), or when the assembler refused a new instance because the
 *   others were busy until a commit (lt_ingest_set_turn); such a turn is
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
#define REAP_POLL_MS 1 /* the poll's wait between two reaper steps */
#define COMMIT_LINES 20000
#define POLL_FRAMES 256       /* frames taken between two looks at the clock */
#define RETAIN_BITE_ROWS 2000 /* rows deleted per retention transaction */
#define RETAIN_SLICE_MAX_NS (INT64_C(100) * 1000000)
#define RETAIN_KEEP_UP_MAX_NS (INT64_C(1000) * 1000000)
#define TURN_LINES 5000        /* lines taken before a commit under a flood */
#define TURN_BYTES (32u << 20) /* frame bytes one poll takes before a commit */

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
    bool retention_behind;      /* the last bite was full: more is due */
    int64_t retention_slice_ns; /* when the last retention slice ended */
    int64_t retention_live;     /* the store's live bytes then (0: unknown) */
} loop;

/* Commit whatever the transaction holds (lines, request and runner updates;
 * a no-op when nothing is open), then acknowledge it and remove the ring
 * files whose tails it contains. Returns whether it stored lines. */
static bool commit(loop *l)
{
    const lt_loop_parts *p = l->p;
    bool stores_lines = lt_store_pending(p->store) > 0;
    if (lt_store_commit(p->store) != 0) {
        lt_announce_settle(p->announce, false);
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
        return false;
    }
    if (l->store_fault.failing && stores_lines) { /* an empty commit proves nothing */
        lt_log("store recovered after %llu failed commits in %.1f s",
               (unsigned long long)l->store_fault.failures,
               (double)(lt_mono_ms() - l->store_fault.since_ms) / 1000);
        l->store_fault.failing = false;
        l->store_fault.failures = 0;
        atomic_store(&lt_metrics_global.store_faulted, 0);
    }
    lt_announce_settle(p->announce, true);
    lt_ingest_send_acks(p->ingest);
    lt_reaper_release(p->reaper, true);
    return stores_lines;
}

/* Retention: one bite of deletions, right after a commit (no transaction
 * open), and none while the store is failing. Returns true when it deleted
 * a full bite (more may be due). */
static bool retain_bite(loop *l)
{
    if (l->store_fault.failing)
        return false;
    lt_retention policy = {.max_bytes = l->opt->retain_bytes, .max_tenant_bytes = l->opt->retain_app_bytes};
    if (l->opt->retain_age_ns > 0)
        policy.min_ts_ns = lt_time_now_ns() - l->opt->retain_age_ns;
    if (policy.min_ts_ns <= 0 && policy.max_bytes <= 0 && policy.max_tenant_bytes <= 0)
        return false;
    long lines = 0;
    long deleted = lt_store_retain(l->p->store, &policy, RETAIN_BITE_ROWS, &lines);
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
    LT_COUNT(lines_expired, (uint64_t)lines);
    return deleted == RETAIN_BITE_ROWS;
}

/* Retention's share of the thread (see the invariants above): bites until
 * nothing more is due, or until the store is back where the previous
 * slice left it and the slice has run as long as the rest of the loop
 * since then. */
static void retain_slice(loop *l)
{
    int64_t start = lt_mono_ns();
    int64_t budget = start - l->retention_slice_ns;
    if (budget > RETAIN_SLICE_MAX_NS)
        budget = RETAIN_SLICE_MAX_NS;
    int64_t limit = l->opt->retain_bytes, floor = l->retention_live > limit ? l->retention_live : limit;
    int64_t live = 0;
    for (;;) {
        l->retention_behind = retain_bite(l);
        if (limit > 0)
            live = lt_store_live_bytes(l->p->store);
        if (!l->retention_behind)
            break;
        int64_t spent = lt_mono_ns() - start;
        bool grown = limit > 0 && live > floor; /* keep up first */
        if (spent >= (grown ? RETAIN_KEEP_UP_MAX_NS : budget))
            break;
    }
    l->retention_live = live;
    l->retention_slice_ns = lt_mono_ns();
}

/* Once a second: idle partial lines, the rings of runners that are gone,
 * retention (lines age even when none arrive), the store's size. */
static void every_second(loop *l)
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
    lt_reaper_start_pass(p->reaper);
    retain_slice(l);
    int64_t live = lt_store_live_bytes(p->store);
    if (live >= 0)
        atomic_store_explicit(&lt_metrics_global.store_live_bytes, (uint64_t)live, memory_order_relaxed);
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

/* Wait up to wait_ms for frames, then take up to POLL_FRAMES of them, but
 * no more once the turn is cut (TURN_LINES lines pending, see
 * lt_ingest_set_turn): one frame may hold tens of
 * thousands of lines, and a flood must not keep the commit (and the acks
 * and retention after it) waiting for hundreds of frames. */
static void take_frames(const lt_loop_parts *p, int wait_ms)
{
    if (lt_ingest_poll(p->ingest, wait_ms, 1) <= 0)
        return;
    for (int taken = 1; taken < POLL_FRAMES && !lt_ingest_turn_cut(p->ingest); taken++)
        if (lt_ingest_poll(p->ingest, 0, 1) <= 0)
            return;
}

void lt_loop_run(const lt_loop_parts *parts, const lt_collector_options *opt)
{
    loop l = {.p = parts, .opt = opt, .retention_slice_ns = lt_mono_ns()};
    const int commit_ms = opt->commit_ms;
    lt_ingest_set_turn(parts->ingest, parts->store, TURN_LINES, TURN_BYTES);

    /* Rings orphaned while no collector was running: from the first turn. */
    lt_reaper_start_pass(parts->reaper);
    int64_t first_pending_ms = 0, next_reap_ms = lt_mono_ms() + REAP_INTERVAL_MS;
    while (!stop_requested) {
        if (lt_mono_ms() >= next_reap_ms) {
            every_second(&l);
            next_reap_ms = lt_mono_ms() + REAP_INTERVAL_MS;
        }
        if (lt_reaper_busy(parts->reaper))
            lt_reaper_step(parts->reaper);
        int wait = commit_ms;
        if (first_pending_ms) {
            int64_t left = first_pending_ms + commit_ms - lt_mono_ms();
            wait = left < 0 ? 0 : (int)left;
        }
        if (wait > REAP_POLL_MS && lt_reaper_busy(parts->reaper))
            wait = REAP_POLL_MS;
        take_frames(parts, wait);
        /* Announcements wait for their commit, which is due this turn. */
        bool announced = lt_announce_waiting(parts->announce);
        if (announced)
            lt_announce_apply(parts->announce, parts->store);
        atomic_store_explicit(&lt_metrics_global.store_pending_lines, lt_store_pending(parts->store),
                              memory_order_relaxed);
        atomic_store_explicit(&lt_metrics_global.acks_pending, lt_ingest_acks_owed(parts->ingest),
                              memory_order_relaxed);
        if (lt_store_pending(parts->store) && !first_pending_ms)
            first_pending_ms = lt_mono_ms();
        bool due = first_pending_ms && lt_mono_ms() - first_pending_ms >= commit_ms;
        if (due || announced || lt_store_pending(parts->store) >= COMMIT_LINES || !first_pending_ms ||
            lt_ingest_turn_cut(parts->ingest)) {
            /* New lines may have taken the store over its limit; a
             * backlog goes on between ingest commits. */
            if (commit(&l) || l.retention_behind)
                retain_slice(&l);
            first_pending_ms = 0;
        }
    }
    drain(&l);
}
