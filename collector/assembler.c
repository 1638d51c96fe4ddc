/* assembler.c -- lines per (process, thread, stream).
 *
 * Each process instance keeps: its metadata, the last record position seen
 * (records at or below it are replays and are skipped), the drop count last
 * reported, and one partial-line buffer per (thread, stream).
 *
 * Rules, in the order they apply to a thread's stream:
 *   '\n' ends a line; a "\r\n" pair ends it too, without the '\r'.
 *   '\r' followed by anything else starts the line over: a progress bar
 *     redrawn in place keeps only its final state.
 *   A line belongs to the request that was current when its first byte was
 *     written (the record's marker), and takes that record's timestamp.
 *   Timestamps are the runner's word: one later than the collector's clock
 *     plus the allowed skew (lt_assembler_set_clock_skew) is taken as that
 *     bound, for lines, request BEGIN/END and runner rows alike, so a
 *     runner cannot date lines beyond retention's reach (the stamp sent is
 *     not kept; timestamps_clamped counts such records). Earlier stamps
 *     stand: a ring replayed after the collector was down is rightly old.
 *   BEGIN and END of a thread's request, and EXIT of its process, end the
 *     thread's partial lines first, so a request never absorbs bytes written
 *     before it began or after it ended.
 *   A line reaching LT_LINE_MAX bytes is emitted and continues as a new line;
 *     so does one left unfinished for a while (lt_assembler_flush_idle). The
 *     continuation starts with its first byte: a cut that ends a record
 *     leaves nothing in progress, so nothing can end an empty line there.
 *   Every line of a process whose frames say "unattributed" (logtap run
 *     --catch-all's forwarder) is marked unattributed.
 *
 * Acknowledgement: a runner may free a record once it is durable. Records
 * holding bytes of a line still in memory are not, so the ack bound stops at
 * the first record of the oldest unfinished line; and it never passes a hole
 * (a batch that starts beyond the previous one's end is refused).
 *
 * Delivery state: exactly once across collector restarts. Records below the
 * ack bound are never sent again, but records above it may hold bytes that
 * are already stored: lines of other threads finished after the oldest
 * unfinished one, the "line1\n" of a record "line1\nline2-part", the first
 * part of a long line cut mid-record, a line flushed while idle whose rest
 * came later, and lines committed just before a kill took the ack with it.
 * A runner sends those records again after a restart, so the assembler keeps,
 * in the store, in the same transaction as the lines (lt_store commit hook):
 *   - per (thread, stream), the done point D = (record position, byte
 *     offset) just past the last line it emitted. Lines of one (thread,
 *     stream) are emitted in byte order, whatever ends them ('\n', a cut, a
 *     BEGIN/END/EXIT, an idle flush), so
 *       INVARIANT: every byte of the stream before D is in a committed line
 *       (or was redrawn away by '\r'), and no byte at or after D is.
 *     A replayed DATA record's bytes before D are skipped; from D on, the
 *     line is rebuilt exactly as it was first (same start, so the same cuts,
 *     request and timestamp). Asserted: D only moves forward, and bytes
 *     before D never meet a line in progress.
 *   - per instance, the last record position applied: BEGIN, END and NOTICE
 *     records at or below it have had their effect and are not applied again
 *     (they still end partial lines, which are rebuilt);
 *   - per instance, the dropped-byte count already shown in a marker line.
 * One watermark per instance would not do: lines of different threads do
 * not end in stream order (an idle flush ends an old line after newer ones),
 * and a cut or idle-flushed line continues from a point no per-instance mark
 * records. Points below what the runner has acknowledged are never needed
 * again and are pruned; an instance whose ring the reaper removed is kept as
 * "finished" (for a day) so that frames still queued for it are ignored.
 * The store is the truth: the in-memory state is a cache, loaded at an
 * instance's first frame and dropped after a failed commit.
 *
 * Bounds (lt_assembler_limits): runner code is hostile, so the cache is
 * bounded, and each bound is met the way the delivery state already allows.
 *   - Instances: an idle instance (not dirty, no unfinished line) holds
 *     nothing the store lacks, so evicting it is a collector restart for
 *     that instance alone: its next frame loads it again. An LRU list, all
 *     runners and per runner ID, picks whom to evict.
 *   - (thread, stream) entries: one holding no line, whose done point is at
 *     or below the last record taken, is needed by no record to come
 *     (records at or below last_pos are replays and skipped), so it can go
 *     once its done point is in the transaction.
 *   - Bytes of unfinished lines: the oldest is stored as it is, exactly as
 *     an idle flush would, so its runner can free its records too.
 *   - Request rows: a token bucket per runner ID; a refused BEGIN is still
 *     a BEGIN for the lines (they end, and carry the request ID).
 *
 * Instances belong to their first identity. An instance's 64-bit ID is in
 * its frames and its ring's header (no longer in its file's name, which
 * anyone can list: ring.c), so whoever can read a ring or watch frames may
 * learn it; a frame or a planted ring naming a victim's instance under
 * another runner or app must not take the victim's lines (stored under the
 * wrong runner) or erase them (a position far ahead, after which the
 * victim's records look like duplicates). The runner and app of the first frame taken from an
 * instance own it, in memory and in the store's delivery state (so a
 * collector restart is no window): frames and replays naming another are
 * refused (instance_claims_refused) and do not finish it. And a record may
 * lie at most LT_RING_MAX_CAPACITY past the highest position the instance
 * is known to have reached, as no ring holds more unacknowledged bytes than
 * that; one further is refused (positions_refused), never a new high-water
 * mark. What this cannot tell apart is two processes that declare the same
 * runner and app: that takes ingest credentials (README, "Tenants").
 */
#include "assembler.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "logtap_wire.h"
#include "metrics.h"
#include "ring.h"
#include "timefmt.h"

typedef struct partial {
    uint32_t tid;
    int fd;
    bool active;           /* holds bytes of an unfinished line */
    bool pending_cr;       /* last byte seen was '\r' */
    int64_t ts_ns;         /* of the line's first byte */
    uint64_t first_pos;    /* position of the record holding the first byte */
    int64_t held_since_ms; /* collector clock when the line started */
    /* The done point (see "Delivery state"), and whether the store has it. */
    bool have_done, done_dirty;
    uint64_t done_pos;
    uint32_t done_off;
    /* Just past the last byte consumed: where a line ends that something
     * other than its own bytes ends (BEGIN, END, EXIT, idle). */
    uint64_t seen_pos;
    uint32_t seen_off;
    char request[LT_WIRE_MAX_ID + 1];
    bool has_request;
    char *buf;
    size_t len, cap;
} partial;

/* A runner ID's share of the bounds: its cached instances (an LRU list) and
 * its request-row bucket. Kept while it has instances in memory. */
typedef struct runner {
    char *id;
    size_t ninstances;
    struct proc *lru_head, *lru_tail; /* most recently used first */
    double tokens;                    /* request rows it may open now */
    int64_t refilled_ms;
    struct runner *next; /* hash chain */
} runner;

#define JOINED_SLOTS 8

typedef struct proc {
    uint64_t instance;
    char *runner_id, *app_id, *version_id, *source;
    int64_t pid;
    bool unattributed;
    bool have_pos;
    uint64_t last_pos; /* last record taken in this collector run */
    bool have_next;
    uint64_t next_pos; /* position after the last batch received (has_range) */
    uint64_t dropped_seen;
    bool have_applied;
    uint64_t applied_pos;  /* from the store: records at or below it were applied */
    uint64_t runner_acked; /* what the runner said it has acknowledged */
    uint64_t pruned_below; /* done points below this are gone from the store */
    bool dirty;            /* state to write at the next commit */
    bool finished;         /* its ring is gone: write that, then forget it */
    /* Hashes of the requests it has begun or written inside lately, so
     * that a line does not cost a store write to say it holds one. */
    uint64_t joined[JOINED_SLOTS];
    unsigned joined_next;
    partial *partials;
    size_t npartials, cap_partials;
    size_t held;                        /* bytes of buffers of lines in progress */
    runner *owner;                      /* its runner ID's share of the bounds */
    struct proc *lru_prev, *lru_next;   /* all instances, most recent first */
    struct proc *rlru_prev, *rlru_next; /* the runner's instances */
    struct proc *next;                  /* hash chain */
    struct proc *next_dirty;            /* the dirty list */
} proc;

#define PROC_BUCKETS 1024
#define RUNNER_BUCKETS 256
#define FINISHED_KEEP_NS (INT64_C(24) * 3600 * 1000000000) /* late frames of a finished instance */
#define EXPIRE_EVERY_MS (10 * 60 * 1000)

/* What proc_get returns for an instance that is over: its frames are late
 * copies of what the reaper replayed, and are ignored. */
static proc finished_instance;
/* What proc_get returns for a new instance no bound has room for. */
static proc refused_instance;
/* What proc_get returns for a frame naming another identity's instance. */
static proc claimed_instance;

struct lt_assembler {
    lt_store *store;
    int64_t clock_skew_ns; /* 0: stamps are taken as sent */
    int64_t latest_ns;     /* the latest stamp allowed in the batch being fed */
    proc *buckets[PROC_BUCKETS];
    proc *dirty;
    int64_t next_expire_ms;
    lt_assembler_limits lim;
    runner *runners[RUNNER_BUCKETS];
    size_t ninstances;
    proc *lru_head, *lru_tail; /* every cached instance, most recent first */
    size_t held;               /* bytes held for partial lines, all instances */
    bool commit_wanted;        /* an instance was refused: a commit makes busy ones idle */
};

static int checkpoint(void *ctx);

lt_assembler *lt_assembler_new(lt_store *store)
{
    lt_assembler *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->store = store;
    a->lim = (lt_assembler_limits)LT_ASSEMBLER_LIMITS_DEFAULT;
    lt_store_set_commit_hook(store, checkpoint, a);
    return a;
}

void lt_assembler_set_limits(lt_assembler *a, const lt_assembler_limits *lim)
{
    a->lim = *lim;
}

static size_t hash_str(const char *s)
{
    size_t h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h % RUNNER_BUCKETS;
}

/* The runner's entry, made on first sight (NULL: out of memory). */
static runner *runner_get(lt_assembler *a, const char *id)
{
    size_t b = hash_str(id);
    for (runner *r = a->runners[b]; r; r = r->next)
        if (strcmp(r->id, id) == 0)
            return r;
    runner *r = calloc(1, sizeof *r);
    if (!r || !(r->id = strdup(id))) {
        free(r);
        return NULL;
    }
    r->tokens = a->lim.request_burst;
    r->refilled_ms = lt_mono_ms();
    r->next = a->runners[b];
    a->runners[b] = r;
    return r;
}

static void runner_drop(lt_assembler *a, runner *gone)
{
    for (runner **at = &a->runners[hash_str(gone->id)]; *at; at = &(*at)->next)
        if (*at == gone) {
            *at = gone->next;
            break;
        }
    free(gone->id);
    free(gone);
}

/* One request row for the runner, if its bucket allows. */
static bool runner_take_request(lt_assembler *a, runner *r)
{
    int64_t now = lt_mono_ms();
    r->tokens += (double)(now - r->refilled_ms) * a->lim.request_rate / 1000.0;
    r->refilled_ms = now;
    if (r->tokens > a->lim.request_burst)
        r->tokens = a->lim.request_burst;
    if (r->tokens < 1)
        return false;
    r->tokens -= 1;
    return true;
}

static void lru_unlink(lt_assembler *a, proc *p)
{
    runner *r = p->owner;
    *(p->lru_prev ? &p->lru_prev->lru_next : &a->lru_head) = p->lru_next;
    *(p->lru_next ? &p->lru_next->lru_prev : &a->lru_tail) = p->lru_prev;
    *(p->rlru_prev ? &p->rlru_prev->rlru_next : &r->lru_head) = p->rlru_next;
    *(p->rlru_next ? &p->rlru_next->rlru_prev : &r->lru_tail) = p->rlru_prev;
    p->lru_prev = p->lru_next = p->rlru_prev = p->rlru_next = NULL;
}

static void lru_push(lt_assembler *a, proc *p)
{
    runner *r = p->owner;
    p->lru_next = a->lru_head;
    *(a->lru_head ? &a->lru_head->lru_prev : &a->lru_tail) = p;
    a->lru_head = p;
    p->rlru_next = r->lru_head;
    *(r->lru_head ? &r->lru_head->rlru_prev : &r->lru_tail) = p;
    r->lru_head = p;
}

static void held_add(lt_assembler *a, proc *p, size_t add, size_t sub)
{
    p->held = p->held + add - sub;
    a->held = a->held + add - sub;
}

void lt_assembler_set_clock_skew(lt_assembler *a, int64_t skew_ns)
{
    a->clock_skew_ns = skew_ns > 0 ? skew_ns : 0;
}

/* A runner's stamp as the store takes it (see "Timestamps" above). */
static int64_t stamp(const lt_assembler *a, uint64_t ts_ns)
{
    return ts_ns > (uint64_t)a->latest_ns ? a->latest_ns : (int64_t)ts_ns;
}

static void proc_free(proc *p)
{
    for (size_t i = 0; i < p->npartials; i++)
        free(p->partials[i].buf);
    free(p->partials);
    free(p->runner_id);
    free(p->app_id);
    free(p->version_id);
    free(p->source);
    free(p);
}

/* Free a cached instance that is already out of its hash chain. */
static void proc_forget(lt_assembler *a, proc *p)
{
    held_add(a, p, 0, p->held);
    lru_unlink(a, p);
    a->ninstances--;
    if (--p->owner->ninstances == 0)
        runner_drop(a, p->owner);
    proc_free(p);
}

static void forget_all(lt_assembler *a)
{
    for (size_t b = 0; b < PROC_BUCKETS; b++) {
        for (proc *p = a->buckets[b], *next; p; p = next) {
            next = p->next;
            proc_forget(a, p);
        }
        a->buckets[b] = NULL;
    }
    a->dirty = NULL;
}

void lt_assembler_free(lt_assembler *a)
{
    if (!a)
        return;
    lt_store_set_commit_hook(a->store, NULL, NULL);
    forget_all(a);
    free(a);
}

static size_t bucket_of(uint64_t instance)
{
    return (size_t)((instance * UINT64_C(0x9E3779B97F4A7C15)) >> 54) % PROC_BUCKETS;
}

static void mark_dirty(lt_assembler *a, proc *p)
{
    if (!p->dirty) {
        p->dirty = true;
        p->next_dirty = a->dirty;
        a->dirty = p;
    }
}

static partial *partial_add(proc *p, uint32_t tid, int fd)
{
    if (p->npartials == p->cap_partials) {
        size_t cap = p->cap_partials ? p->cap_partials * 2 : 8;
        partial *grown = realloc(p->partials, cap * sizeof *grown);
        if (!grown)
            return NULL;
        p->partials = grown;
        p->cap_partials = cap;
    }
    partial *pl = &p->partials[p->npartials++];
    memset(pl, 0, sizeof *pl);
    pl->tid = tid;
    pl->fd = fd;
    return pl;
}

static int partial_finish(lt_assembler *a, proc *p, partial *pl);
static int make_room_for_stream(lt_assembler *a, proc *p);

static partial *partial_get(lt_assembler *a, proc *p, uint32_t tid, int fd)
{
    for (size_t i = 0; i < p->npartials; i++)
        if (p->partials[i].tid == tid && p->partials[i].fd == fd)
            return &p->partials[i];
    if (p->npartials >= a->lim.instance_streams && make_room_for_stream(a, p) != 0)
        return NULL;
    return partial_add(p, tid, fd);
}

typedef struct load_ctx {
    proc *p;
    size_t max, skipped; /* (thread, stream) points loaded at most, left out */
    bool failed;
} load_ctx;

static void load_stream(void *ctx, uint32_t tid, int fd, uint64_t pos, uint32_t off)
{
    load_ctx *lc = ctx;
    if (lc->p->npartials >= lc->max) {
        /* Only an instance that made that many (thread, stream) entries,
         * far above what it may hold, gets here: a replay of its records
         * may store its own lines twice. */
        lc->skipped++;
        return;
    }
    partial *pl = partial_add(lc->p, tid, fd);
    if (!pl) {
        lc->failed = true;
        return;
    }
    pl->have_done = true;
    pl->done_pos = pl->seen_pos = pos;
    pl->done_off = pl->seen_off = off;
}

static void proc_unlink(lt_assembler *a, proc *gone);

/* Nothing of it is in memory only: the store has all its state. */
static bool proc_idle(const proc *p)
{
    if (p->dirty || p->finished)
        return false;
    for (size_t i = 0; i < p->npartials; i++)
        if (p->partials[i].active || p->partials[i].done_dirty)
            return false;
    return true;
}

static void evict(lt_assembler *a, proc *p)
{
    proc_unlink(a, p);
    proc_forget(a, p);
    LT_COUNT(instances_evicted, 1);
}

/* Room for one more instance of runner `r` (NULL: not seen yet): evict the
 * least recently used idle instance where a bound is reached. false when
 * every instance at the bound is busy. */
/* The first idle instance from p on towards the most recently used, along
 * the runner's list or the list of all runners'. */
static proc *idle_from(proc *p, bool of_runner)
{
    while (p && !proc_idle(p))
        p = of_runner ? p->rlru_prev : p->lru_prev;
    return p;
}

static bool make_room_for_instance(lt_assembler *a, runner *r)
{
    proc *victim;
    if (r && r->ninstances >= a->lim.runner_instances) {
        if (!(victim = idle_from(r->lru_tail, true)))
            return false;
        evict(a, victim);
    }
    if (a->ninstances >= a->lim.instances) {
        if (!(victim = idle_from(a->lru_tail, false)))
            return false;
        evict(a, victim);
    }
    return true;
}

/* The instance's state: in memory, or else from the store (its first frame
 * in this collector run, or since it was evicted). NULL on error;
 * &finished_instance if it is over; &refused_instance if a bound leaves no
 * room for it now. */
/* Whether a frame's meta names the identity that owns an instance. */
static bool owned_by(const char *runner_id, const char *app_id, const lt_proc_meta *m)
{
    return strcmp(runner_id, m->runner_id) == 0 && strcmp(app_id, m->app_id) == 0;
}

static proc *proc_get(lt_assembler *a, const lt_proc_meta *m)
{
    size_t b = bucket_of(m->instance);
    for (proc *p = a->buckets[b]; p; p = p->next)
        if (p->instance == m->instance) {
            if (!owned_by(p->runner_id, p->app_id, m)) {
                LT_COUNT(instance_claims_refused, 1);
                return &claimed_instance;
            }
            lru_unlink(a, p);
            lru_push(a, p);
            return p;
        }
    runner *r = NULL;
    for (r = a->runners[hash_str(m->runner_id)]; r; r = r->next)
        if (strcmp(r->id, m->runner_id) == 0)
            break;
    if (!make_room_for_instance(a, r) && !m->replay) {
        LT_COUNT(instances_refused, 1);
        a->commit_wanted = true;
        return &refused_instance;
    }
    proc *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->instance = m->instance;
    p->pid = m->pid;
    p->unattributed = m->unattributed;
    p->runner_id = strdup(m->runner_id);
    p->app_id = strdup(m->app_id);
    p->version_id = strdup(m->version_id);
    p->source = strdup(m->source);
    lt_delivery_state state;
    load_ctx lc = {.p = p, .max = 4 * a->lim.instance_streams};
    int known = p->runner_id && p->app_id && p->version_id && p->source
                    ? lt_store_delivery_load(a->store, m->instance, &state, load_stream, &lc)
                    : -1;
    if (known < 0 || lc.failed || (known && state.finished)) {
        proc_free(p);
        return known > 0 && !lc.failed ? &finished_instance : NULL;
    }
    if (known && state.runner_id[0] && !owned_by(state.runner_id, state.app_id, m)) {
        proc_free(p);
        LT_COUNT(instance_claims_refused, 1);
        return &claimed_instance;
    }
    LT_COUNT(streams_dropped, lc.skipped);
    if (known) {
        p->have_applied = true;
        p->applied_pos = state.last_pos;
        p->dropped_seen = state.dropped;
    }
    p->owner = runner_get(a, m->runner_id);
    if (!p->owner) {
        proc_free(p);
        return NULL;
    }
    p->owner->ninstances++;
    a->ninstances++;
    lru_push(a, p);
    p->next = a->buckets[b];
    a->buckets[b] = p;
    return p;
}

static int emit(lt_assembler *a, const proc *p, int64_t ts_ns, uint32_t tid, int fd, const char *request,
                const char *msg, size_t len)
{
    lt_line line = {
        .ts_ns = ts_ns,
        .runner_id = p->runner_id,
        /* No one knows who wrote an unattributed line: it belongs to the
         * runner alone, whatever marker its catcher's records carry. */
        .request_id = p->unattributed ? NULL : request,
        .app_id = p->app_id,
        .version_id = p->version_id,
        .source = p->source,
        .message = msg,
        .message_len = len,
        .stream = fd,
        .level = lt_level_detect(fd, msg, len),
        .pid = p->pid,
        .tid = tid,
        .unattributed = p->unattributed,
    };
    if (lt_store_append(a->store, &line) != 0) {
        LT_COUNT(store_errors, 1);
        return -1;
    }
    LT_COUNT(lines_stored, 1);
    return 0;
}

/* Emit the partial line as ending at (pos, off) of its stream: the done
 * point moves there (see "Delivery state"). */
static int partial_finish_at(lt_assembler *a, proc *p, partial *pl, uint64_t pos, uint32_t off)
{
    if (!pl->active)
        return 0;
    assert(!pl->have_done || pos > pl->done_pos || (pos == pl->done_pos && off > pl->done_off));
    int rc = emit(a, p, pl->ts_ns, pl->tid, pl->fd, pl->has_request ? pl->request : NULL, pl->buf, pl->len);
    pl->active = false;
    pl->pending_cr = false;
    pl->len = 0;
    /* An idle (thread, stream) keeps no buffer: what the bound counts is
     * then exactly the lines in progress, each of which it can end. */
    held_add(a, p, 0, pl->cap);
    free(pl->buf);
    pl->buf = NULL;
    pl->cap = 0;
    pl->have_done = true;
    pl->done_pos = pos;
    pl->done_off = off;
    pl->done_dirty = true;
    mark_dirty(a, p);
    return rc;
}

/* A line ended by something other than its own bytes ends where its stream
 * was consumed to. */
static int partial_finish(lt_assembler *a, proc *p, partial *pl)
{
    return partial_finish_at(a, p, pl, pl->seen_pos, pl->seen_off);
}

static int partial_append(lt_assembler *a, proc *p, partial *pl, const char *bytes, size_t n)
{
    if (pl->len + n > pl->cap) {
        size_t cap = pl->cap ? pl->cap : 256;
        while (cap < pl->len + n)
            cap *= 2;
        char *grown = realloc(pl->buf, cap);
        if (!grown)
            return -1;
        held_add(a, p, cap, pl->cap);
        pl->buf = grown;
        pl->cap = cap;
    }
    memcpy(pl->buf + pl->len, bytes, n);
    pl->len += n;
    return 0;
}

static void partial_start(const lt_assembler *a, partial *pl, const lt_record_in *r)
{
    pl->active = true;
    pl->pending_cr = false;
    pl->len = 0;
    pl->ts_ns = stamp(a, r->ts_ns);
    pl->first_pos = r->pos;
    pl->held_since_ms = lt_mono_ms();
    pl->has_request = r->request != NULL;
    if (r->request) {
        memcpy(pl->request, r->request, r->request_len);
        pl->request[r->request_len] = '\0';
    }
}

/* Where to start reading a DATA record: past the bytes its stream has
 * already stored (a record sent again after a collector restart). */
static size_t first_unstored(const partial *pl, const lt_record_in *r)
{
    if (!pl->have_done || r->pos > pl->done_pos)
        return 0;
    /* Bytes before the done point never meet a line in progress: that line
     * would have begun before the point. */
    assert(!pl->active);
    size_t skip = r->pos < pl->done_pos || pl->done_off > r->data_len ? r->data_len : pl->done_off;
    LT_COUNT(bytes_replay_skipped, skip);
    return skip;
}

/* The oldest unfinished line of the instance, or NULL. */
static partial *oldest_active(proc *p)
{
    partial *old = NULL;
    for (size_t i = 0; i < p->npartials; i++) {
        partial *pl = &p->partials[i];
        if (pl->active && (!old || pl->held_since_ms < old->held_since_ms ||
                           (pl->held_since_ms == old->held_since_ms && pl->first_pos < old->first_pos)))
            old = pl;
    }
    return old;
}

/* Store an unfinished line early because a bound is reached: as an idle
 * flush would, so nothing is lost and the line goes on as a new one. */
static int force_finish(lt_assembler *a, proc *p, partial *pl)
{
    LT_COUNT(partial_lines_forced, 1);
    return partial_finish(a, p, pl);
}

static int finish_all_forced(lt_assembler *a, proc *p)
{
    for (size_t i = 0; i < p->npartials; i++)
        if (p->partials[i].active && force_finish(a, p, &p->partials[i]) != 0)
            return -1;
    return 0;
}

/* Before `more` bytes come in for the instance: store its oldest unfinished
 * lines while it is at its bound; at the bound for all instances, those of
 * the instance holding the most (this one first). Called between records,
 * where every line's end point (seen_pos, seen_off) is exact. */
static int keep_partial_bounds(lt_assembler *a, proc *p, size_t more)
{
    partial *pl;
    while (p->held + more > a->lim.instance_partial_bytes && (pl = oldest_active(p)))
        if (force_finish(a, p, pl) != 0)
            return -1;
    while (a->held + more > a->lim.partial_bytes && (pl = oldest_active(p)))
        if (force_finish(a, p, pl) != 0)
            return -1;
    if (a->held + more <= a->lim.partial_bytes)
        return 0;
    /* This instance holds no line: the largest holder's lines all go, once,
     * so a flood of small instances does not cost a scan per record. */
    proc *big = NULL;
    for (proc *q = a->lru_head; q; q = q->lru_next)
        if (q != p && q->held > 0 && (!big || q->held > big->held))
            big = q;
    return big ? finish_all_forced(a, big) : 0;
}

/* The instance is at its bound of (thread, stream) entries: drop the ones
 * nothing to come needs (see "Bounds"), their done points written now;
 * with none such, end every unfinished line first. */
static int make_room_for_stream(lt_assembler *a, proc *p)
{
    for (int round = 0; round < 2; round++) {
        size_t kept = 0;
        for (size_t i = 0; i < p->npartials; i++) {
            partial *pl = &p->partials[i];
            bool needed = pl->active || (pl->have_done && (!p->have_pos || pl->done_pos > p->last_pos));
            if (!needed && pl->done_dirty) {
                if (lt_store_delivery_save_stream(a->store, p->instance, pl->tid, pl->fd, pl->done_pos,
                                                  pl->done_off) != 0)
                    return -1;
                pl->done_dirty = false;
            }
            if (!needed) {
                held_add(a, p, 0, pl->cap);
                free(pl->buf);
                LT_COUNT(streams_dropped, 1);
                continue;
            }
            p->partials[kept++] = *pl;
        }
        p->npartials = kept;
        if (kept < a->lim.instance_streams)
            return 0;
        if (round == 0 && finish_all_forced(a, p) != 0)
            return -1;
    }
    return 0; /* every entry holds a done point a replay needs: grow */
}

static int feed_data(lt_assembler *a, proc *p, const lt_record_in *r)
{
    if (r->data_len == 0)
        return 0;
    if (keep_partial_bounds(a, p, r->data_len) != 0)
        return -1;
    partial *pl = partial_get(a, p, r->tid, r->fd);
    if (!pl)
        return -1;
    const char *s = (const char *)r->data;
    size_t n = r->data_len, i = first_unstored(pl, r);
    if (i == n)
        return 0;
    while (i < n) {
        if (!pl->active)
            partial_start(a, pl, r);
        if (pl->pending_cr) {
            pl->pending_cr = false;
            if (s[i] != '\n') {
                /* Redrawn in place: keep only what follows. The bytes before
                 * are gone, so their records no longer hold the ack back. */
                pl->len = 0;
                pl->first_pos = r->pos;
            }
        }
        /* The run of ordinary bytes up to the next '\n' or '\r'. */
        size_t j = i;
        while (j < n && s[j] != '\n' && s[j] != '\r')
            j++;
        size_t run = j - i;
        while (run) {
            if (!pl->active) /* the rest of a cut line */
                partial_start(a, pl, r);
            size_t room = LT_LINE_MAX - pl->len;
            size_t take = run < room ? run : room;
            if (partial_append(a, p, pl, s + i, take) != 0)
                return -1;
            i += take;
            run -= take;
            if (pl->len == LT_LINE_MAX) {
                LT_COUNT(lines_split, 1);
                if (partial_finish_at(a, p, pl, r->pos, (uint32_t)i) != 0)
                    return -1;
            }
        }
        if (j == n)
            break;
        /* A line cut just before its '\n' or '\r' continues as an empty
         * line: the same whether that byte comes in this record or the next. */
        if (!pl->active)
            partial_start(a, pl, r);
        if (s[j] == '\n') {
            if (partial_finish_at(a, p, pl, r->pos, (uint32_t)(j + 1)) != 0)
                return -1;
        } else {
            pl->pending_cr = true;
        }
        i = j + 1;
    }
    pl->seen_pos = r->pos;
    pl->seen_off = (uint32_t)n;
    return 0;
}

/* End the partial lines of one thread (both streams). */
static int finish_thread(lt_assembler *a, proc *p, uint32_t tid)
{
    for (size_t i = 0; i < p->npartials; i++)
        if (p->partials[i].tid == tid && partial_finish(a, p, &p->partials[i]) != 0)
            return -1;
    return 0;
}

static int finish_proc(lt_assembler *a, proc *p)
{
    for (size_t i = 0; i < p->npartials; i++)
        if (partial_finish(a, p, &p->partials[i]) != 0)
            return -1;
    return 0;
}

static int report_drops(lt_assembler *a, proc *p, const lt_proc_meta *m, int64_t ts_ns)
{
    if (m->dropped <= p->dropped_seen)
        return 0;
    uint64_t lost = m->dropped - p->dropped_seen;
    p->dropped_seen = m->dropped;
    mark_dirty(a, p);
    LT_COUNT(bytes_gap_reported, lost);
    char msg[96];
    int len = snprintf(msg, sizeof msg, "[logtap: %llu bytes dropped]", (unsigned long long)lost);
    return emit(a, p, ts_ns, 0, 2, NULL, msg, (size_t)len);
}

/* Whether a batch reaches further past what the instance is known to
 * have reached than any ring can hold unacknowledged (see "Instances
 * belong to their first identity"). An instance known nowhere has no
 * horizon yet: its first batch sets one. */
static bool beyond_horizon(const proc *p, const lt_proc_meta *meta, const lt_record_in *recs, size_t n)
{
    if (!p->have_pos && !p->have_next && !p->have_applied)
        return false;
    uint64_t known = 0;
    if (p->have_pos && p->last_pos > known)
        known = p->last_pos;
    if (p->have_next && p->next_pos > known)
        known = p->next_pos;
    if (p->have_applied && p->applied_pos > known)
        known = p->applied_pos;
    uint64_t furthest = n ? recs[n - 1].pos : 0;
    if (meta->has_range && meta->end > furthest)
        furthest = meta->end;
    /* known may be the start of the last record applied, the runner's
     * acknowledged point its end: a whole ring past that is one record more. */
    return furthest > known && furthest - known > LT_RING_MAX_CAPACITY + LT_RING_RECORD_MAX;
}

static uint64_t request_hash(const char *request)
{
    uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)request; *c; c++)
        h = (h ^ *c) * UINT64_C(1099511628211);
    return h | 1; /* 0 marks an empty slot */
}

/* The instance is inside `request` (it began it, or wrote with its marker:
 * a child spawned inside it). It holds the request, so the request is
 * over only when every process inside it is gone (lt_store_instance_gone).
 * Said to the store once per request while the instance stays cached (a
 * hash that collides with a recent one skips a join: the request then
 * ends with the processes that did join it). */
static int join_request(lt_assembler *a, proc *p, const char *request, bool began)
{
    uint64_t h = request_hash(request);
    for (unsigned i = 0; i < JOINED_SLOTS; i++)
        if (p->joined[i] == h) {
            if (!began)
                return 0;
            p->joined[i] = 0; /* a BEGIN holds it whatever a line did before */
        }
    p->joined[p->joined_next] = h;
    p->joined_next = (p->joined_next + 1) % JOINED_SLOTS;
    return began ? lt_store_request_hold(a->store, request, p->instance)
                 : lt_store_request_join(a->store, request, p->app_id, p->instance);
}

/* END, with the handler's error when its payload names one (ingest and
 * the reaper checked the payload; checked again, as the caller is). Only
 * the runner's own app's request is ended. */
static int end_request(lt_assembler *a, proc *p, const char *request, const lt_record_in *r)
{
    unsigned long type_len;
    if (r->data_len == 0 || !lt_wire_end_error_ok(r->data, r->data_len, &type_len))
        return lt_store_request_end_error(a->store, request, p->app_id, stamp(a, r->ts_ns), NULL, NULL);
    char error_type[LT_WIRE_MAX_ID + 1];
    char error[LT_WIRE_MAX_ERROR_MESSAGE + 1];
    memcpy(error_type, r->data, type_len);
    error_type[type_len] = '\0';
    size_t message_len = r->data_len - type_len - 1;
    memcpy(error, r->data + type_len + 1, message_len);
    error[message_len] = '\0';
    /* A NUL inside the message would cut it: the text before it stands. */
    LT_COUNT(requests_failed, 1);
    return lt_store_request_end_error(a->store, request, p->app_id, stamp(a, r->ts_ns), error_type, error);
}

long lt_assembler_feed(lt_assembler *a, const lt_proc_meta *meta, const lt_record_in *recs, size_t n,
                       uint64_t *acked_pos, int *have_acked)
{
    int64_t latest;
    if (a->clock_skew_ns <= 0 || __builtin_add_overflow(lt_time_now_ns(), a->clock_skew_ns, &latest))
        latest = INT64_MAX; /* no skew limit, or one beyond every stamp */
    a->latest_ns = latest;
    proc *p = proc_get(a, meta);
    *have_acked = 0;
    if (!p)
        return -1;
    if (p == &finished_instance || p->finished) { /* over: late frames change nothing */
        LT_COUNT(records_duplicate, n);
        return 0;
    }
    if (p == &refused_instance) /* counted; sent again once there is room */
        return 0;
    if (p == &claimed_instance) /* counted; never acknowledged */
        return 0;
    if (beyond_horizon(p, meta, recs, n)) {
        LT_COUNT(positions_refused, 1);
        return 0;
    }
    /* The ring range the batch covers: records, and torn records the
     * sender passed ("start" names where it continues from). */
    bool covers = meta->has_range && (n > 0 || meta->has_start);
    if (covers) {
        uint64_t expected = p->have_next ? p->next_pos : meta->acked;
        if ((meta->has_start ? meta->start : recs[0].pos) > expected) {
            LT_COUNT(frames_out_of_order, 1);
            return 0;
        }
    }
    if (meta->has_range && meta->acked > p->runner_acked)
        p->runner_acked = meta->acked; /* done points below it can go */
    bool first_sight = !p->have_pos;
    long fresh = 0;
    for (size_t k = 0; k < n; k++) {
        const lt_record_in *r = &recs[k];
        /* Below what the runner says is acknowledged, a record is stored:
         * only a stale copy can bring it again (one that ingest's range
         * check did not stop: packed before that ack, and delivered after a
         * frame that told it), and the done points that would have
         * recognised its bytes are pruned (prune()). */
        if ((p->have_pos && r->pos <= p->last_pos) || r->pos < p->runner_acked) {
            LT_COUNT(records_duplicate, 1);
            continue;
        }
        p->have_pos = true;
        p->last_pos = r->pos;
        fresh++;
        if (r->ts_ns > (uint64_t)a->latest_ns)
            LT_COUNT(timestamps_clamped, 1);
        /* BEGIN, END and NOTICE records the store already has the effect of
         * (sent again after a collector restart) are not applied again. */
        bool applied = p->have_applied && r->pos <= p->applied_pos;
        int rc = 0;
        char request[LT_WIRE_MAX_ID + 1] = "";
        if (r->request) {
            memcpy(request, r->request, r->request_len);
            request[r->request_len] = '\0';
        }
        switch (r->kind) {
        case LT_REC_DATA:
            LT_COUNT(bytes_received, r->data_len);
            rc = feed_data(a, p, r);
            if (rc == 0 && r->request)
                rc = join_request(a, p, request, false);
            break;
        case LT_REC_BEGIN:
            LT_COUNT(requests_begun, 1);
            rc = finish_thread(a, p, r->tid);
            if (rc == 0 && r->request && !applied && !runner_take_request(a, p->owner)) {
                LT_COUNT(requests_refused, 1);
            } else if (rc == 0 && r->request && !applied) {
                /* Ingest validated the caller; a replayed ring was not
                 * decoded by it, so check again rather than trust. */
                char caller[LT_WIRE_MAX_ID + 1] = "";
                if (r->data_len > 0 && lt_wire_id_ok((const char *)r->data, r->data_len)) {
                    memcpy(caller, r->data, r->data_len);
                    caller[r->data_len] = '\0';
                }
                rc = lt_store_request_begin(a->store, request, p->runner_id, p->app_id, p->version_id, caller,
                                            stamp(a, r->ts_ns));
                if (rc == LT_BEGIN_OTHER_APP)
                    LT_COUNT(requests_claims_refused, 1);
                else if (rc == LT_BEGIN_COMPLETED)
                    LT_COUNT(requests_reopens_refused, 1);
                else if (rc == 0)
                    rc = join_request(a, p, request, true);
                if (rc > 0)
                    rc = 0; /* refused: its lines still carry the request ID */
                mark_dirty(a, p);
            }
            break;
        case LT_REC_END:
            LT_COUNT(requests_ended, 1);
            rc = finish_thread(a, p, r->tid);
            if (rc == 0 && r->request && !applied) {
                rc = end_request(a, p, request, r);
                mark_dirty(a, p);
            }
            break;
        case LT_REC_EXIT:
            rc = finish_proc(a, p);
            if (rc == 0 && !applied) {
                /* Gone: the requests it alone was inside are over, after
                 * every line it wrote (they are in this transaction). */
                long died = lt_store_instance_gone(a->store, p->instance, stamp(a, r->ts_ns));
                rc = died < 0 ? -1 : 0;
                if (died > 0)
                    LT_COUNT(requests_runner_died, (uint64_t)died);
                mark_dirty(a, p);
            }
            break;
        case LT_REC_NOTICE: /* a line of its own, runner scope, beside the output */
            if (!applied) {
                rc = emit(a, p, stamp(a, r->ts_ns), r->tid, 2, NULL, (const char *)r->data, r->data_len);
                mark_dirty(a, p);
            }
            break;
        default: assert(!"validated by ingest");
        }
        if (rc != 0) {
            LT_COUNT(store_errors, 1);
            return -1;
        }
    }
    if (covers && (!p->have_next || meta->end > p->next_pos)) {
        p->next_pos = meta->end;
        p->have_next = true;
    }
    int64_t ts = n ? stamp(a, recs[n - 1].ts_ns) : lt_time_now_ns();
    if (first_sight && p->have_pos)
        lt_store_runner_seen(a->store, p->runner_id, p->app_id, p->version_id, p->source,
                             n ? stamp(a, recs[0].ts_ns) : 0);
    if (report_drops(a, p, meta, ts) != 0)
        return -1;
    /* What may be acknowledged: every record up to the last one seen, except
     * from the first record of a line still being assembled on: its bytes
     * are in memory only, not in the store. */
    uint64_t bound = p->have_pos ? p->last_pos + 1 : 0;
    for (size_t i = 0; i < p->npartials; i++)
        if (p->partials[i].active && p->partials[i].first_pos < bound)
            bound = p->partials[i].first_pos;
    *have_acked = bound > 0;
    *acked_pos = bound;
    return fresh;
}

void lt_assembler_flush_idle(lt_assembler *a, int64_t now_ms, int64_t idle_ms)
{
    for (size_t b = 0; b < PROC_BUCKETS; b++)
        for (proc *p = a->buckets[b]; p; p = p->next)
            for (size_t i = 0; i < p->npartials; i++)
                if (p->partials[i].active && now_ms - p->partials[i].held_since_ms >= idle_ms)
                    partial_finish(a, p, &p->partials[i]);
}

void lt_assembler_reset(lt_assembler *a)
{
    /* The store rolled back to its last commit, which is where the
     * delivery state is read from again. */
    forget_all(a);
}

void lt_assembler_finish(lt_assembler *a, const lt_proc_meta *replayed)
{
    for (proc *p = a->buckets[bucket_of(replayed->instance)]; p; p = p->next)
        if (p->instance == replayed->instance) {
            if (!owned_by(p->runner_id, p->app_id, replayed))
                return; /* a ring naming someone else's instance: refused */
            p->finished = true;
            mark_dirty(a, p);
            return;
        }
    /* Not in memory: its replay, just committed, found it finished in the
     * store already (proc_get answered &finished_instance). */
}

static void proc_unlink(lt_assembler *a, proc *gone)
{
    for (proc **at = &a->buckets[bucket_of(gone->instance)]; *at; at = &(*at)->next)
        if (*at == gone) {
            *at = gone->next;
            return;
        }
}

/* Done points below what the runner has acknowledged are never needed
 * again; nor are (thread, stream) entries holding nothing else. */
static int prune(lt_assembler *a, proc *p)
{
    if (p->runner_acked <= p->pruned_below)
        return 0;
    if (lt_store_delivery_prune(a->store, p->instance, p->runner_acked) != 0)
        return -1;
    size_t kept = 0;
    for (size_t i = 0; i < p->npartials; i++) {
        partial *pl = &p->partials[i];
        bool stale = !pl->have_done || pl->done_pos < p->runner_acked;
        if (stale && !pl->active) {
            held_add(a, p, 0, pl->cap);
            free(pl->buf);
            continue;
        }
        if (stale)
            pl->have_done = pl->done_dirty = false;
        p->partials[kept++] = *pl;
    }
    p->npartials = kept;
    p->pruned_below = p->runner_acked;
    return 0;
}

/* The store's commit hook: the delivery state of every instance that
 * changed goes into the transaction that commits its lines. */
static int checkpoint(void *ctx)
{
    lt_assembler *a = ctx;
    int64_t now_ns = lt_time_now_ns();
    while (a->dirty) {
        proc *p = a->dirty;
        if (p->finished) {
            if (lt_store_delivery_finish(a->store, p->instance, now_ns) != 0)
                return -1;
            a->dirty = p->next_dirty;
            proc_unlink(a, p);
            proc_forget(a, p);
            continue;
        }
        /* Every record up to last_pos has been applied in this run; a
         * replay may not have caught up with what an earlier run applied. */
        uint64_t applied =
            p->have_pos && (!p->have_applied || p->last_pos > p->applied_pos) ? p->last_pos : p->applied_pos;
        lt_delivery_state state = {.last_pos = applied, .dropped = p->dropped_seen};
        snprintf(state.runner_id, sizeof state.runner_id, "%s", p->runner_id);
        snprintf(state.app_id, sizeof state.app_id, "%s", p->app_id);
        if (lt_store_delivery_save(a->store, p->instance, &state, now_ns) != 0)
            return -1;
        for (size_t i = 0; i < p->npartials; i++) {
            partial *pl = &p->partials[i];
            if (pl->done_dirty && lt_store_delivery_save_stream(a->store, p->instance, pl->tid, pl->fd,
                                                                pl->done_pos, pl->done_off) != 0)
                return -1;
            pl->done_dirty = false;
        }
        if (prune(a, p) != 0)
            return -1;
        a->dirty = p->next_dirty;
        p->dirty = false;
    }
    int64_t now_ms = lt_mono_ms();
    if (now_ms >= a->next_expire_ms) {
        /* Not retried at once if it fails: an idle collector does not
         * need to write while the store is faulted. */
        a->next_expire_ms = now_ms + EXPIRE_EVERY_MS;
        if (lt_store_delivery_expire(a->store, now_ns - FINISHED_KEEP_NS) != 0)
            return -1;
    }
    return 0;
}

void lt_assembler_flush_all(lt_assembler *a)
{
    for (size_t b = 0; b < PROC_BUCKETS; b++)
        for (proc *p = a->buckets[b]; p; p = p->next)
            finish_proc(a, p);
}

bool lt_assembler_commit_wanted(lt_assembler *a)
{
    bool wanted = a->commit_wanted;
    a->commit_wanted = false;
    return wanted;
}

void lt_assembler_usage(const lt_assembler *a, size_t *instances, size_t *partial_bytes)
{
    *instances = a->ninstances;
    *partial_bytes = a->held;
}

size_t lt_assembler_partial_lines(const lt_assembler *a)
{
    size_t held = 0;
    for (size_t b = 0; b < PROC_BUCKETS; b++)
        for (const proc *p = a->buckets[b]; p; p = p->next)
            for (size_t i = 0; i < p->npartials; i++)
                held += p->partials[i].active;
    return held;
}
