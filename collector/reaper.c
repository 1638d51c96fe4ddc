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
 */
#include "reaper.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logtap_wire.h"
#include "log.h"
#include "metrics.h"
#include "ring_file.h"
#include "timefmt.h"

#define REPLAY_BATCH 1024
/* Payload bytes a batch holds before it is fed: what a reaper keeps in
 * memory, whatever the capacity of the rings it replays. */
#define REPLAY_BYTES (4 * 1024 * 1024)
#define MAX_ADOPTED 64 /* per scan; the rest wait for the next one */

struct lt_reaper {
    char *dir;
    char *endpoint;
    lt_assembler *assembler;
    lt_ring_file adopted[MAX_ADOPTED]; /* locked until lt_reaper_release */
    uint64_t instances[MAX_ADOPTED];   /* of the adopted rings, from our copy */
    int nadopted;
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
    if (!r->dir || !r->endpoint) {
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
    case LT_REC_END: return rec->request_len > 0 && rec->data_len == 0;
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

/* Replay [acked_pos, reserve_pos) and then an EXIT: the process is gone,
 * so its partial lines are final. `h` is a private copy of the header. */
static int replay(lt_reaper *r, const lt_ring_file *ring, const lt_ring_header *h)
{
    lt_proc_meta meta = {
        .runner_id = h->runner_id,
        .app_id = h->app_id,
        .version_id = h->version_id,
        .source = h->source,
        .pid = h->pid,
        .instance = h->instance,
        .dropped = h->dropped_bytes,
        .unattributed = (h->flags & LT_RING_FLAG_UNATTRIBUTED) != 0,
        .replay = true,
    };
    uint64_t start = h->acked_pos, pos = start, end = h->reserve_pos;
    if (end < start || end - start > h->capacity)
        end = start; /* a header no writer of ours leaves: replay nothing */
    size_t n = 0, used = 0;
    bool cut = false; /* the rest cannot be read: the file ended, or a record overran `end` */
    while (pos < end) {
        lt_ring_record rec; /* a private copy */
        lt_slot_kind kind;
        if (!lt_ring_file_slot(ring, pos, &rec, &kind) ||
            (kind != LT_SLOT_UNSTAMPED && rec.size > end - pos)) {
            cut = true;
            break;
        }
        if (kind == LT_SLOT_TORN) { /* passed and counted by its sender */
            pos += rec.size;
            continue;
        }
        if (kind == LT_SLOT_UNSTAMPED) {
            uint64_t next;
            if (!lt_ring_file_resync(ring, pos, end, &next)) {
                cut = true;
                break;
            }
            LT_COUNT(records_torn, 1);
            meta.dropped += next - pos;
            pos = next;
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
        if (ok && !lt_ring_file_read(ring, pos + sizeof rec, copy, body)) {
            cut = true;
            break;
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
            pos += rec.size;
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
        pos += rec.size;
        if (n == REPLAY_BATCH) {
            if (feed(r, &meta, n) != 0)
                return -1;
            n = used = 0;
        }
    }
    if (cut) {
        /* Cut, shrunk or resized under us, or a record claiming more than
         * the ring holds: what is left cannot be read, and the process that
         * wrote it is gone, so it is lost -- counted as an unstamped slot's
         * bytes are. */
        struct stat st;
        char name[sizeof ring->path];
        lt_log("cannot read %s past position %llu (%lld bytes in the file now): %llu bytes dropped",
               printable(name, sizeof name, ring->path), (unsigned long long)pos,
               fstat(ring->fd, &st) == 0 ? (long long)st.st_size : -1LL, (unsigned long long)(end - pos));
        LT_COUNT(records_torn, 1);
        meta.dropped += end - pos;
        pos = end;
    }
    /* Positions only grow, so this EXIT sorts after every record above. */
    r->batch[n++] = (lt_record_in){.pos = pos, .kind = LT_REC_EXIT, .ts_ns = (uint64_t)lt_time_now_ns()};
    return feed(r, &meta, n);
}

static bool is_ring_name(const char *name)
{
    size_t len = strlen(name);
    return strncmp(name, "logtap-", 7) == 0 && len > 12 && strcmp(name + len - 5, ".ring") == 0;
}

int lt_reaper_scan(lt_reaper *r)
{
    DIR *d = opendir(r->dir);
    if (!d)
        return 0;
    int adopted = 0;
    struct dirent *e;
    while (r->nadopted < MAX_ADOPTED && (e = readdir(d)) != NULL) {
        if (!is_ring_name(e->d_name))
            continue;
        char path[512];
        if (snprintf(path, sizeof path, "%s/%s", r->dir, e->d_name) >= (int)sizeof path)
            continue;
        lt_ring_file *ring = &r->adopted[r->nadopted];
        lt_ring_header head; /* a private copy */
        int rc = lt_ring_file_adopt(ring, path, &head);
        if (rc == -EWOULDBLOCK || rc == -ENOENT)
            continue; /* alive, or just removed by its owner */
        if (rc != 0) {
            if (rc == -EINVAL)
                LT_COUNT(rings_invalid, 1);
            continue;
        }
        if (!header_ids_ok(&head) || head.reserve_pos >= LT_RING_COMMIT_FLAG) {
            LT_COUNT(rings_invalid, 1);
            lt_ring_file_close(ring, false);
            continue;
        }
        if (strcmp(head.endpoint, r->endpoint) != 0) {
            lt_ring_file_close(ring, false); /* another collector's runner */
            continue;
        }
        LT_COUNT(rings_adopted, 1);
        if (replay(r, ring, &head) != 0) {
            /* Kept for the next scan, whatever the commit does: what was fed
             * before the failure is stored once (the delivery state). */
            char name[sizeof path];
            lt_log("cannot replay %s now; will try again", printable(name, sizeof name, path));
            lt_ring_file_close(ring, false);
            continue;
        }
        r->instances[r->nadopted++] = head.instance;
        adopted++;
    }
    closedir(d);
    return adopted;
}

void lt_reaper_release(lt_reaper *r, bool committed)
{
    for (int i = 0; i < r->nadopted; i++) {
        lt_ring_file_close(&r->adopted[i], committed);
        if (committed)
            lt_assembler_finish(r->assembler, r->instances[i]);
    }
    r->nadopted = 0;
}
