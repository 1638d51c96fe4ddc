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
 *   BEGIN and END of a thread's request, and EXIT of its process, end the
 *     thread's partial lines first, so a request never absorbs bytes written
 *     before it began or after it ended.
 *   A line reaching LT_LINE_MAX bytes is emitted and continues as a new line;
 *     so does one left unfinished for a while (lt_assembler_flush_idle).
 *   Every line of a process whose frames say "unattributed" (logtap run
 *     --catch-all's forwarder) is marked unattributed.
 *
 * Acknowledgement: a runner may free a record once it is durable. Records
 * holding bytes of a line still in memory are not, so the ack bound stops at
 * the first record of the oldest unfinished line; and it never passes a hole
 * (a batch that starts beyond the previous one's end is refused).
 */
#include "assembler.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logtap_wire.h"
#include "metrics.h"
#include "timefmt.h"

typedef struct partial {
    uint32_t tid;
    int fd;
    bool active;        /* holds bytes of an unfinished line */
    bool pending_cr;    /* last byte seen was '\r' */
    int64_t ts_ns;      /* of the line's first byte */
    uint64_t first_pos; /* position of the record holding the first byte */
    int64_t held_since_ms; /* collector clock when the line started */
    char request[LT_WIRE_MAX_ID + 1];
    bool has_request;
    char *buf;
    size_t len, cap;
} partial;

typedef struct proc {
    uint64_t instance;
    char *runner_id, *app_id, *version_id, *source;
    int64_t pid;
    bool unattributed;
    bool have_pos;
    uint64_t last_pos;
    bool have_next;
    uint64_t next_pos; /* position after the last batch received (has_range) */
    uint64_t dropped_seen;
    partial *partials;
    size_t npartials, cap_partials;
    struct proc *next; /* hash chain */
} proc;

#define PROC_BUCKETS 1024

struct lt_assembler {
    lt_store *store;
    proc *buckets[PROC_BUCKETS];
};

lt_assembler *lt_assembler_new(lt_store *store)
{
    lt_assembler *a = calloc(1, sizeof *a);
    if (a)
        a->store = store;
    return a;
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

void lt_assembler_free(lt_assembler *a)
{
    if (!a)
        return;
    for (size_t b = 0; b < PROC_BUCKETS; b++)
        for (proc *p = a->buckets[b], *next; p; p = next) {
            next = p->next;
            proc_free(p);
        }
    free(a);
}

static proc *proc_get(lt_assembler *a, const lt_proc_meta *m)
{
    size_t b = (size_t)((m->instance * UINT64_C(0x9E3779B97F4A7C15)) >> 54) % PROC_BUCKETS;
    for (proc *p = a->buckets[b]; p; p = p->next)
        if (p->instance == m->instance)
            return p;
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
    if (!p->runner_id || !p->app_id || !p->version_id || !p->source) {
        proc_free(p);
        return NULL;
    }
    p->next = a->buckets[b];
    a->buckets[b] = p;
    return p;
}

static partial *partial_get(proc *p, uint32_t tid, int fd)
{
    for (size_t i = 0; i < p->npartials; i++)
        if (p->partials[i].tid == tid && p->partials[i].fd == fd)
            return &p->partials[i];
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

static int emit(lt_assembler *a, const proc *p, int64_t ts_ns, uint32_t tid, int fd,
                const char *request, const char *msg, size_t len)
{
    lt_line line = {
        .ts_ns = ts_ns,
        .runner_id = p->runner_id,
        .request_id = request,
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

static int partial_finish(lt_assembler *a, const proc *p, partial *pl)
{
    if (!pl->active)
        return 0;
    int rc = emit(a, p, pl->ts_ns, pl->tid, pl->fd, pl->has_request ? pl->request : NULL, pl->buf, pl->len);
    pl->active = false;
    pl->pending_cr = false;
    pl->len = 0;
    return rc;
}

static int partial_append(partial *pl, const char *bytes, size_t n)
{
    if (pl->len + n > pl->cap) {
        size_t cap = pl->cap ? pl->cap : 256;
        while (cap < pl->len + n)
            cap *= 2;
        char *grown = realloc(pl->buf, cap);
        if (!grown)
            return -1;
        pl->buf = grown;
        pl->cap = cap;
    }
    memcpy(pl->buf + pl->len, bytes, n);
    pl->len += n;
    return 0;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void partial_start(partial *pl, const lt_record_in *r)
{
    pl->active = true;
    pl->pending_cr = false;
    pl->len = 0;
    pl->ts_ns = (int64_t)r->ts_ns;
    pl->first_pos = r->pos;
    pl->held_since_ms = mono_ms();
    pl->has_request = r->request != NULL;
    if (r->request) {
        memcpy(pl->request, r->request, r->request_len);
        pl->request[r->request_len] = '\0';
    }
}

static int feed_data(lt_assembler *a, proc *p, const lt_record_in *r)
{
    partial *pl = partial_get(p, r->tid, r->fd);
    if (!pl)
        return -1;
    const char *s = (const char *)r->data;
    size_t n = r->data_len, i = 0;
    while (i < n) {
        if (!pl->active)
            partial_start(pl, r);
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
            size_t room = LT_LINE_MAX - pl->len;
            size_t take = run < room ? run : room;
            if (partial_append(pl, s + i, take) != 0)
                return -1;
            i += take;
            run -= take;
            if (pl->len == LT_LINE_MAX) {
                LT_COUNT(lines_split, 1);
                if (partial_finish(a, p, pl) != 0)
                    return -1;
                partial_start(pl, r);
            }
        }
        if (j == n)
            break;
        if (s[j] == '\n') {
            if (partial_finish(a, p, pl) != 0)
                return -1;
        } else {
            pl->pending_cr = true;
        }
        i = j + 1;
    }
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

static int report_drops(lt_assembler *a, proc *p, const lt_proc_meta *m, uint64_t ts_ns)
{
    if (m->dropped <= p->dropped_seen)
        return 0;
    uint64_t lost = m->dropped - p->dropped_seen;
    p->dropped_seen = m->dropped;
    LT_COUNT(bytes_gap_reported, lost);
    char msg[96];
    int len = snprintf(msg, sizeof msg, "[logtap: %llu bytes dropped]", (unsigned long long)lost);
    return emit(a, p, (int64_t)ts_ns, 0, 2, NULL, msg, (size_t)len);
}

long lt_assembler_feed(lt_assembler *a, const lt_proc_meta *meta, const lt_record_in *recs,
                       size_t n, uint64_t *acked_pos, int *have_acked)
{
    proc *p = proc_get(a, meta);
    if (!p)
        return -1;
    if (meta->has_range && n > 0) {
        uint64_t expected = p->have_next ? p->next_pos : meta->acked;
        if (recs[0].pos > expected) {
            LT_COUNT(frames_out_of_order, 1);
            *have_acked = 0;
            return 0;
        }
    }
    bool first_sight = !p->have_pos;
    long fresh = 0;
    for (size_t k = 0; k < n; k++) {
        const lt_record_in *r = &recs[k];
        if (p->have_pos && r->pos <= p->last_pos) {
            LT_COUNT(records_duplicate, 1);
            continue;
        }
        p->have_pos = true;
        p->last_pos = r->pos;
        fresh++;
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
            break;
        case LT_REC_BEGIN:
            LT_COUNT(requests_begun, 1);
            rc = finish_thread(a, p, r->tid);
            if (rc == 0 && r->request)
                rc = lt_store_request_begin(a->store, request, p->runner_id, p->app_id, p->version_id,
                                            (int64_t)r->ts_ns);
            break;
        case LT_REC_END:
            LT_COUNT(requests_ended, 1);
            rc = finish_thread(a, p, r->tid);
            if (rc == 0 && r->request)
                rc = lt_store_request_end(a->store, request, (int64_t)r->ts_ns);
            break;
        case LT_REC_EXIT:
            rc = finish_proc(a, p);
            break;
        case LT_REC_NOTICE: /* a line of its own, runner scope, beside the output */
            rc = emit(a, p, (int64_t)r->ts_ns, r->tid, 2, NULL, (const char *)r->data, r->data_len);
            break;
        default:
            assert(!"validated by ingest");
        }
        if (rc != 0) {
            LT_COUNT(store_errors, 1);
            return -1;
        }
    }
    if (meta->has_range && n > 0 && (!p->have_next || meta->end > p->next_pos)) {
        p->next_pos = meta->end;
        p->have_next = true;
    }
    uint64_t ts = n ? recs[n - 1].ts_ns : (uint64_t)lt_time_now_ns();
    if (first_sight && p->have_pos)
        lt_store_runner_seen(a->store, p->runner_id, p->app_id, p->version_id, p->source,
                             (int64_t)(n ? recs[0].ts_ns : 0));
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
    for (size_t b = 0; b < PROC_BUCKETS; b++) {
        for (proc *p = a->buckets[b], *next; p; p = next) {
            next = p->next;
            proc_free(p);
        }
        a->buckets[b] = NULL;
    }
}

void lt_assembler_flush_all(lt_assembler *a)
{
    for (size_t b = 0; b < PROC_BUCKETS; b++)
        for (proc *p = a->buckets[b]; p; p = p->next)
            finish_proc(a, p);
}
