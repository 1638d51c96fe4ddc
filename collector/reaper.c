/* reaper.c -- replay the tails of rings whose runner process is gone.
 *
 * The ring file is untrusted input like a network frame (any local process
 * of the same user could have written it, and could still be changing it,
 * or its size, while we read): it is read with pread only (ring_file.h), so
 * the header, every record header and every payload are private copies, and
 * only the copies are checked and used. The header's strings must be
 * terminated and valid IDs, and every record must pass the same rules the
 * ingest applies to frames. A file that ends before the ring does (cut
 * while we read it) ends the replay there: the rest counts as dropped.
 *
 * Torn records (ring.h): the process is gone, so a record it did not
 * complete never will be. Replay goes past it -- by its size when it was
 * stamped, else to the next recognisable record (lt_ring_resync) -- and
 * counts its payload (for an unstamped slot: the bytes passed) as dropped,
 * which shows in the runner's logs as a "[logtap: N bytes dropped]" line. A
 * record that is complete but breaks the rules is passed the same way. Torn
 * records the runner's sender already passed and counted are stepped over.
 *
 * Once the store has committed a replay and the file is removed, the
 * assembler is told that the instance is finished.
 *
 * Bounded steps. The reaper runs on the ingest thread (the assembler and the
 * store are that thread's alone), and whatever it reads is chosen by
 * tenants: so it works in steps, one per turn of the ingest loop while it
 * has work (loop.c), and no step runs long. A step starts no new piece of
 * work once STEP_NS (5 ms) have passed, once it has read STEP_READ (1 MiB)
 * of ring data, or once it has looked at STEP_ENTRIES (1024) directory
 * entries. A piece of work is one directory entry (an fstatat; for a file
 * that may be a ring, open, flock, fstat, a 4 KiB pread, maybe close), one
 * record (its header and at most LT_RING_RECORD_MAX bytes), one window of
 * an unstamped stretch (no more than the read budget left, searched in 32
 * KiB chunks), or one feed: records go to the assembler REPLAY_BATCH (64)
 * at a time, and what is left at the step's end. So a step ends within
 * 5 ms plus one piece of work plus one feed of at most 64 records. Measured
 * (e2e-hostile-scan, 2 cores): at most 8 to 11 ms; up to about 40 ms when
 * other test runs shared the cores and the collector waited for one of
 * them (logtap_reaper_step_seconds_max says what it was). Between two
 * steps the loop polls its socket.
 *
 * State between steps: the directory pass under way (its DIR*: a pass goes
 * on where the last step stopped and sees each entry once; the loop starts
 * one a second) and the rings adopted, each holding its flock until it is
 * released, with how far its replay got. Rings are replayed one at a time,
 * to the end, over as many steps as that takes. A replayed ring is removed
 * after the next commit (lt_reaper_release); a failed commit lets go of
 * every adopted ring, replayed or not, and the next pass adopts them again:
 * the assembler's delivery state, stored with every commit, drops what was
 * stored already.
 *
 * Hostile sizes. What a ring costs is [acked_pos, reserve_pos), up to its
 * capacity (4 GiB), and the header says both. Records cost what they hold,
 * as a runner's would: they are replayed, a step at a time. Unstamped bytes
 * are what a forged header makes cheap to plant (a sparse file) and dear
 * to read (a search at every 8 bytes). A dead process leaves one unstamped
 * slot per thread that died in the middle of an append, each at most
 * LT_RING_RECORD_MAX bytes: the reaper passes up to UNSTAMPED_MAX (4 MiB,
 * some 60 such slots) of unstamped bytes in a ring, and past that counts
 * the rest of the ring as dropped and says so in its log.
 *
 * Junk. Any file may sit in the ring directory. A name other than
 * "logtap-*.ring" costs one readdir entry; for the others an fstatat turns
 * away what cannot be a ring (not a regular file, another user's, a size no
 * ring has). A file judged no ring of ours -- there, or after opening it
 * (malformed, not ours to read, another collector's) -- is remembered by
 * inode, change time and name, and not looked into again while it stays as
 * it was: up to JUDGED_MAX files, the set rebuilt at every pass so that it
 * holds only files still there. (Rings are linked into place whole, so a
 * runner's ring is never seen half made.)
 */
#include "reaper.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logtap_wire.h"
#include "log.h"
#include "metrics.h"
#include "clock.h"
#include "ring_file.h"
#include "timefmt.h"

#define REPLAY_BATCH 64 /* records a feed takes: about 1 ms of the store's time */
/* Payload bytes a batch holds before it is fed: what a reaper keeps in
 * memory, whatever the capacity of the rings it replays. */
#define REPLAY_BYTES (4 * 1024 * 1024)
#define MAX_ADOPTED 64 /* adopted at a time; the rest wait for the next pass */
/* A step's budget (see above). */
#define STEP_NS (5 * INT64_C(1000000))
#define STEP_READ (1024 * 1024)
#define STEP_ENTRIES 1024
/* Unstamped bytes a ring may have before the rest of it counts as lost. */
#define UNSTAMPED_MAX (UINT64_C(4) << 20)
/* Files judged no ring of ours, remembered from one pass to the next. */
#define JUDGED_SLOTS (1u << 15)
#define JUDGED_MAX (JUDGED_SLOTS / 4 * 3)

_Static_assert(UNSTAMPED_MAX >= 60 * LT_RING_RECORD_MAX, "room for the torn records of many threads");

/* A file as it was when judged; all zero is a free slot. */
typedef struct judged {
    uint64_t ino, ctime_ns, name_hash;
} judged;

typedef struct adopted {
    lt_ring_file file;   /* locked until lt_reaper_release */
    lt_ring_header head; /* a private copy, from the adoption */
    uint64_t pos, end;   /* replayed up to pos, of [acked_pos, end) */
    uint64_t dropped;    /* the header's count, and the bytes passed since */
    uint64_t unstamped;  /* unstamped bytes passed so far */
    bool in_gap;         /* pos is inside an unstamped stretch */
    bool replayed;       /* its EXIT was fed: removed after the next commit */
} adopted;

typedef struct budget {
    int64_t deadline_ns;
    uint64_t read_left;
    unsigned entries_left;
} budget;

struct lt_reaper {
    char *dir;
    char *endpoint;
    lt_assembler *assembler;
    DIR *pass; /* the pass under way, or NULL */
    /* At most the last one is still being replayed. */
    adopted rings[MAX_ADOPTED];
    int nrings;
    judged *judged_last; /* what the last pass judged */
    judged *judged_now;  /* what this pass judged, or found judged */
    size_t judged_count; /* in judged_now */
    lt_record_in batch[REPLAY_BATCH];
    char requests[REPLAY_BATCH][LT_WIRE_MAX_ID + 1]; /* private copies */
    unsigned char payload[REPLAY_BYTES];             /* the batch's request IDs and data */
};

lt_reaper *lt_reaper_new(const char *ring_dir, const char *endpoint, lt_assembler *assembler)
{
    lt_reaper *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->dir = strdup(ring_dir);
    r->endpoint = strdup(endpoint);
    r->assembler = assembler;
    r->judged_last = calloc(JUDGED_SLOTS, sizeof(judged));
    r->judged_now = calloc(JUDGED_SLOTS, sizeof(judged));
    if (!r->dir || !r->endpoint || !r->judged_last || !r->judged_now) {
        lt_reaper_free(r);
        return NULL;
    }
    return r;
}

void lt_reaper_free(lt_reaper *r)
{
    if (!r)
        return;
    lt_reaper_release(r, false);
    if (r->pass)
        closedir(r->pass);
    free(r->judged_last);
    free(r->judged_now);
    free(r->dir);
    free(r->endpoint);
    free(r);
}

static bool terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

static bool header_ids_ok(const lt_ring_header *h)
{
    if (!terminated(h->runner_id, sizeof h->runner_id) || !terminated(h->app_id, sizeof h->app_id) ||
        !terminated(h->version_id, sizeof h->version_id) || !terminated(h->source, sizeof h->source) ||
        !terminated(h->endpoint, sizeof h->endpoint))
        return false;
    if (!lt_wire_id_ok(h->runner_id, strlen(h->runner_id)))
        return false;
    const char *optional[] = {h->app_id, h->version_id, h->source};
    for (size_t i = 0; i < 3; i++)
        if (optional[i][0] && !lt_wire_id_ok(optional[i], strlen(optional[i])))
            return false;
    return true;
}

/* `rec` is a private copy of the record header. */
static bool record_ok(const lt_ring_record *rec)
{
    if (rec->kind >= LT_REC_KIND_COUNT || rec->data_len > LT_WIRE_MAX_PAYLOAD ||
        rec->request_len > LT_WIRE_MAX_ID || sizeof *rec + rec->request_len + rec->data_len > rec->size ||
        rec->size > LT_RING_RECORD_MAX)
        return false;
    switch (rec->kind) {
    case LT_REC_DATA: return rec->fd == 1 || rec->fd == 2;
    case LT_REC_NOTICE: return rec->fd == 0 && rec->data_len <= LT_WIRE_MAX_NOTICE;
    case LT_REC_BEGIN: return rec->request_len > 0 && rec->data_len <= LT_WIRE_MAX_ID;
    /* An END's error payload is judged by the assembler (lt_wire_end_error_ok). */
    case LT_REC_END:
        return rec->request_len > 0 && rec->data_len <= LT_WIRE_MAX_ID + 1 + LT_WIRE_MAX_ERROR_MESSAGE;
    default: return rec->data_len == 0;
    }
}

static int feed(lt_reaper *r, const lt_proc_meta *meta, size_t n)
{
    uint64_t acked;
    int have;
    return lt_assembler_feed(r->assembler, meta, r->batch, n, &acked, &have) < 0 ? -1 : 0;
}

/* A file name chosen by whoever wrote into the ring directory, made fit
 * for a log line: bytes outside printable ASCII become '?'. */
static const char *printable(char *out, size_t size, const char *name)
{
    size_t i = 0;
    for (; name[i] && i + 1 < size; i++)
        out[i] = name[i] >= 0x20 && name[i] < 0x7f ? name[i] : '?';
    out[i] = '\0';
    return out;
}

static bool spent(const budget *b)
{
    return b->read_left == 0 || lt_mono_ns() >= b->deadline_ns;
}

static void charge(budget *b, uint64_t bytes)
{
    b->read_left = bytes < b->read_left ? b->read_left - bytes : 0;
}

/* Replay more of [acked_pos, reserve_pos), then an EXIT: the process is
 * gone, so its partial lines are final. Returns 1 once the EXIT is fed, 0
 * when the step's budget ran out first (the next step goes on), -1 on a
 * store error. */
static int replay_some(lt_reaper *r, adopted *a, budget *b)
{
    const lt_ring_header *h = &a->head;
    const lt_ring_file *ring = &a->file;
    lt_proc_meta meta = {
        .runner_id = h->runner_id,
        .app_id = h->app_id,
        .version_id = h->version_id,
        .source = h->source,
        .pid = h->pid,
        .instance = h->instance,
        .dropped = a->dropped,
        .unattributed = (h->flags & LT_RING_FLAG_UNATTRIBUTED) != 0,
        .replay = true,
    };
    const uint64_t end = a->end;
    size_t n = 0, used = 0;
    bool cut = false;     /* the rest cannot be read: the file ended, or a record overran `end` */
    bool abandon = false; /* more unstamped bytes than a dead process leaves */
    while (a->pos < end) {
        if (spent(b)) {
            a->dropped = meta.dropped;
            return n && feed(r, &meta, n) != 0 ? -1 : 0;
        }
        uint64_t pos = a->pos;
        lt_ring_record rec; /* a private copy */
        lt_slot_kind kind;
        charge(b, sizeof rec);
        if (!lt_ring_file_slot(ring, pos, &rec, &kind)) {
            cut = true;
            break;
        }
        if (kind != LT_SLOT_UNSTAMPED && rec.size > end - pos) {
            if (!a->in_gap) {
                cut = true;
                break;
            }
            kind = LT_SLOT_UNSTAMPED; /* what the search passes (lt_ring_scan) */
        }
        if (kind != LT_SLOT_UNSTAMPED)
            a->in_gap = false;
        if (kind == LT_SLOT_TORN) { /* passed and counted by its sender */
            a->pos += rec.size;
            continue;
        }
        if (kind == LT_SLOT_UNSTAMPED) {
            if (a->unstamped >= UNSTAMPED_MAX) {
                abandon = true;
                break;
            }
            if (!a->in_gap)
                LT_COUNT(records_torn, 1);
            a->in_gap = true;
            /* One window of the search: what the step may still read,
             * and no more than the ring may still have unstamped. */
            uint64_t window = UNSTAMPED_MAX - a->unstamped;
            if (window > b->read_left)
                window = b->read_left;
            if (window < 8)
                window = 8;
            uint64_t stop = window < end - pos ? pos + window : end, next;
            if (!lt_ring_file_resync_until(ring, pos, stop, end, &next)) {
                cut = true;
                break;
            }
            charge(b, next - pos);
            meta.dropped += next - pos;
            a->unstamped += next - pos;
            a->pos = next;
            continue;
        }
        bool ok = kind == LT_SLOT_COMPLETE && record_ok(&rec);
        size_t body = (size_t)rec.request_len + rec.data_len;
        if (ok && used + body > sizeof r->payload) { /* the batch's bytes are spent */
            if (feed(r, &meta, n) != 0)
                return -1;
            n = used = 0;
        }
        unsigned char *copy = r->payload + used;
        if (ok) {
            charge(b, body);
            if (!lt_ring_file_read(ring, pos + sizeof rec, copy, body)) {
                cut = true;
                break;
            }
        }
        char *request = r->requests[n];
        if (ok) {
            memcpy(request, copy, rec.request_len);
            request[rec.request_len] = '\0';
            ok = !rec.request_len || lt_wire_id_ok(request, rec.request_len);
        }
        if (!ok) {
            LT_COUNT(records_torn, 1);
            if (rec.kind == LT_REC_DATA) /* only output counts as lost output */
                meta.dropped += rec.data_len;
            a->pos += rec.size;
            continue;
        }
        r->batch[n++] = (lt_record_in){
            .pos = pos,
            .ts_ns = rec.ts_ns,
            .tid = rec.tid,
            .kind = rec.kind,
            .fd = rec.fd,
            .request = rec.request_len ? request : NULL,
            .request_len = rec.request_len,
            .data = rec.data_len ? copy + rec.request_len : NULL,
            .data_len = rec.data_len,
        };
        used += body;
        LT_COUNT(records_replayed, 1);
        a->pos += rec.size;
        if (n == REPLAY_BATCH) {
            if (feed(r, &meta, n) != 0)
                return -1;
            n = used = 0;
        }
    }
    if (cut || abandon) {
        /* Cut, shrunk or resized under us, a record claiming more than the
         * ring holds, or a stretch of unstamped bytes no process of ours
         * leaves: the rest is not read, and the process that wrote it is
         * gone, so it is lost -- counted as an unstamped slot's bytes are. */
        struct stat st;
        char name[sizeof ring->path];
        if (cut)
            lt_log("cannot read %s past position %llu (%lld bytes in the file now): %llu bytes dropped",
                   printable(name, sizeof name, ring->path), (unsigned long long)a->pos,
                   fstat(ring->fd, &st) == 0 ? (long long)st.st_size : -1LL,
                   (unsigned long long)(end - a->pos));
        else
            lt_log("%s has more than %llu unstamped bytes: the %llu bytes from position %llu on dropped",
                   printable(name, sizeof name, ring->path), (unsigned long long)UNSTAMPED_MAX,
                   (unsigned long long)(end - a->pos), (unsigned long long)a->pos);
        LT_COUNT(records_torn, 1);
        meta.dropped += end - a->pos;
        a->pos = end;
    }
    a->dropped = meta.dropped;
    /* Positions only grow, so this EXIT sorts after every record above. */
    r->batch[n++] = (lt_record_in){.pos = a->pos, .kind = LT_REC_EXIT, .ts_ns = (uint64_t)lt_time_now_ns()};
    return feed(r, &meta, n) != 0 ? -1 : 1;
}

static bool is_ring_name(const char *name)
{
    size_t len = strlen(name);
    return strncmp(name, "logtap-", 7) == 0 && len > 12 && strcmp(name + len - 5, ".ring") == 0;
}

static size_t judged_slot(const judged *k)
{
    uint64_t x =
        k->ino * UINT64_C(0x9E3779B97F4A7C15) ^ k->ctime_ns * UINT64_C(0xC2B2AE3D27D4EB4F) ^ k->name_hash;
    return (size_t)(x ^ x >> 29) & (JUDGED_SLOTS - 1);
}

static bool judged_empty(const judged *k)
{
    return !k->ino && !k->ctime_ns && !k->name_hash;
}

static bool judged_same(const judged *a, const judged *b)
{
    return a->ino == b->ino && a->ctime_ns == b->ctime_ns && a->name_hash == b->name_hash;
}

/* Linear probing; the tables are never more than three quarters full. */
static judged *judged_find(judged *table, const judged *k)
{
    for (size_t i = judged_slot(k);; i = (i + 1) & (JUDGED_SLOTS - 1))
        if (judged_empty(&table[i]) || judged_same(&table[i], k))
            return &table[i];
}

/* Remember `k` for the next pass: true if it was new in this one. */
static bool judged_keep(lt_reaper *r, const judged *k)
{
    if (judged_empty(k) || r->judged_count >= JUDGED_MAX)
        return true; /* judged again next time: still bounded per step */
    judged *slot = judged_find(r->judged_now, k);
    if (!judged_empty(slot))
        return false;
    *slot = *k;
    r->judged_count++;
    return true;
}

static void end_pass(lt_reaper *r)
{
    closedir(r->pass);
    r->pass = NULL;
    judged *t = r->judged_last;
    r->judged_last = r->judged_now;
    r->judged_now = t;
    memset(r->judged_now, 0, JUDGED_SLOTS * sizeof *r->judged_now);
    r->judged_count = 0;
}

/* A file judged no ring of ours; `invalid` counts it in the metrics. */
static void judge(lt_reaper *r, const judged *k, bool invalid)
{
    if (judged_keep(r, k) && invalid)
        LT_COUNT(rings_invalid, 1);
}

static uint64_t name_hash(const char *name)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325); /* FNV-1a */
    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * UINT64_C(0x100000001b3);
    return h;
}

/* Look at the pass's next directory entry, and adopt the ring it names if
 * it is one of ours whose process is gone. */
static void examine_next(lt_reaper *r, budget *b)
{
    b->entries_left--;
    struct dirent *e = readdir(r->pass);
    if (!e) {
        end_pass(r);
        return;
    }
    if (!is_ring_name(e->d_name))
        return;
    struct stat st;
    if (fstatat(dirfd(r->pass), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return; /* gone since */
    judged k = {.ino = (uint64_t)st.st_ino,
                .ctime_ns = (uint64_t)st.st_ctim.tv_sec * 1000000000 + (uint64_t)st.st_ctim.tv_nsec,
                .name_hash = name_hash(e->d_name)};
    if (!judged_empty(&k) && !judged_empty(judged_find(r->judged_last, &k))) {
        judged_keep(r, &k); /* as it was when judged */
        return;
    }
    if (!S_ISREG(st.st_mode) || (st.st_uid != geteuid() && geteuid() != 0) ||
        st.st_size < LT_RING_HEADER_SIZE ||
        !lt_ring_capacity_ok((uint64_t)st.st_size - LT_RING_HEADER_SIZE)) {
        judge(r, &k, true);
        return;
    }
    char path[512];
    if (snprintf(path, sizeof path, "%s/%s", r->dir, e->d_name) >= (int)sizeof path)
        return;
    adopted *a = &r->rings[r->nrings];
    int rc = lt_ring_file_adopt(&a->file, path, &a->head);
    if (rc == -EINVAL || rc == -EPERM || rc == -EACCES || rc == -ELOOP) {
        judge(r, &k, true); /* malformed, or not ours to read */
        return;
    }
    if (rc != 0)
        return; /* alive, just removed by its owner, or out of descriptors */
    const lt_ring_header *h = &a->head;
    if (!header_ids_ok(h) || h->reserve_pos >= LT_RING_COMMIT_FLAG) {
        lt_ring_file_close(&a->file, false);
        judge(r, &k, true);
        return;
    }
    if (strcmp(h->endpoint, r->endpoint) != 0) {
        lt_ring_file_close(&a->file, false);
        judge(r, &k, false); /* another collector's runner */
        return;
    }
    LT_COUNT(rings_adopted, 1);
    a->pos = a->end = h->acked_pos;
    if (h->reserve_pos >= h->acked_pos && h->reserve_pos - h->acked_pos <= h->capacity)
        a->end = h->reserve_pos; /* else a header no writer of ours leaves: replay nothing */
    a->dropped = h->dropped_bytes;
    a->unstamped = 0;
    a->in_gap = a->replayed = false;
    r->nrings++;
}

/* Replay the ring being replayed, adopt more, within `b`. Returns how many
 * replays ended. */
static int step(lt_reaper *r, budget *b)
{
    int replayed = 0;
    for (;;) {
        adopted *a = r->nrings ? &r->rings[r->nrings - 1] : NULL;
        if (a && !a->replayed) {
            int rc = replay_some(r, a, b);
            if (rc == 0)
                break; /* the budget is spent */
            if (rc > 0) {
                a->replayed = true;
                replayed++;
            } else {
                /* Kept for the next pass, whatever the commit does: what was
                 * fed before the failure is stored once (the delivery state). */
                char name[sizeof a->file.path];
                lt_log("cannot replay %s now; will try again", printable(name, sizeof name, a->file.path));
                lt_ring_file_close(&a->file, false);
                r->nrings--;
            }
        } else if (r->pass && r->nrings < MAX_ADOPTED && b->entries_left > 0) {
            examine_next(r, b);
        } else {
            break;
        }
        if (spent(b))
            break;
    }
    return replayed;
}

void lt_reaper_start_pass(lt_reaper *r)
{
    if (!r->pass)
        r->pass = opendir(r->dir);
}

bool lt_reaper_busy(const lt_reaper *r)
{
    if (r->nrings && !r->rings[r->nrings - 1].replayed)
        return true;
    return r->pass && r->nrings < MAX_ADOPTED;
}

int lt_reaper_step(lt_reaper *r)
{
    int64_t t0 = lt_mono_ns();
    budget b = {.deadline_ns = t0 + STEP_NS, .read_left = STEP_READ, .entries_left = STEP_ENTRIES};
    int replayed = step(r, &b);
    uint64_t took = (uint64_t)(lt_mono_ns() - t0);
    uint64_t seen = atomic_load_explicit(&lt_metrics_global.reaper_step_ns_max, memory_order_relaxed);
    while (took > seen &&
           !atomic_compare_exchange_weak_explicit(&lt_metrics_global.reaper_step_ns_max, &seen, took,
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
    return replayed;
}

int lt_reaper_scan(lt_reaper *r)
{
    lt_reaper_start_pass(r);
    budget b = {.deadline_ns = INT64_MAX, .read_left = UINT64_MAX, .entries_left = UINT_MAX};
    return step(r, &b);
}

void lt_reaper_release(lt_reaper *r, bool committed)
{
    int kept = 0;
    for (int i = 0; i < r->nrings; i++) {
        adopted *a = &r->rings[i];
        if (committed && !a->replayed) { /* still being replayed: not yet */
            if (kept != i)
                r->rings[kept] = *a;
            kept++;
            continue;
        }
        lt_ring_file_close(&a->file, committed);
        if (committed) {
            lt_proc_meta replayed = {
                .runner_id = a->head.runner_id, .app_id = a->head.app_id, .instance = a->head.instance};
            lt_assembler_finish(r->assembler, &replayed);
        }
    }
    r->nrings = kept;
}
