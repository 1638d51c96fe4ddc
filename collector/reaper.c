/* reaper.c -- replay the tails of rings whose runner process is gone.
 *
 * The ring file is untrusted input like a network frame (any local process
 * of the same user could have written it): the header's strings must be
 * terminated and valid IDs, and every record must pass the same rules the
 * ingest applies to frames. Replay stops at the first record that does not
 * (a torn last write is the common case: a process killed between reserving
 * and committing).
 */
#include "reaper.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logtap_wire.h"
#include "metrics.h"
#include "ring.h"
#include "timefmt.h"

#define REPLAY_BATCH 1024
#define MAX_ADOPTED 64 /* per scan; the rest wait for the next one */

struct lt_reaper {
    char *dir;
    char *endpoint;
    lt_assembler *assembler;
    lt_ring adopted[MAX_ADOPTED];
    int nadopted;
    lt_record_in batch[REPLAY_BATCH];
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

static bool record_ok(const lt_ring_record *rec)
{
    if (rec->kind >= LT_REC_KIND_COUNT || rec->data_len > LT_WIRE_MAX_PAYLOAD ||
        rec->request_len > LT_WIRE_MAX_ID)
        return false;
    if (rec->request_len && !lt_wire_id_ok(lt_record_request(rec), rec->request_len))
        return false;
    switch (rec->kind) {
    case LT_REC_DATA: return rec->fd == 1 || rec->fd == 2;
    case LT_REC_BEGIN:
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

/* Replay [acked_pos, first uncommitted) and then an EXIT: the process is gone,
 * so its partial lines are final. */
static int replay(lt_reaper *r, lt_ring *ring)
{
    const lt_ring_header *h = ring->hdr;
    lt_proc_meta meta = {
        .runner_id = h->runner_id,
        .app_id = h->app_id,
        .version_id = h->version_id,
        .source = h->source,
        .pid = h->pid,
        .instance = h->instance,
        .dropped = atomic_load(&h->dropped_bytes),
    };
    uint64_t pos = atomic_load(&h->acked_pos);
    uint64_t end = atomic_load(&h->reserve_pos);
    size_t n = 0;
    const lt_ring_record *rec;
    while (pos < end && pos - atomic_load(&h->acked_pos) <= h->capacity &&
           (rec = lt_ring_peek(ring, pos)) != NULL && record_ok(rec)) {
        lt_record_in *in = &r->batch[n++];
        *in = (lt_record_in){
            .pos = pos,
            .ts_ns = rec->ts_ns,
            .tid = rec->tid,
            .kind = rec->kind,
            .fd = rec->fd,
            .request = rec->request_len ? lt_record_request(rec) : NULL,
            .request_len = rec->request_len,
            .data = rec->kind == LT_REC_DATA ? lt_record_data(rec) : NULL,
            .data_len = rec->kind == LT_REC_DATA ? rec->data_len : 0,
        };
        LT_COUNT(records_replayed, 1);
        pos += rec->size;
        if (n == REPLAY_BATCH) {
            if (feed(r, &meta, n) != 0)
                return -1;
            n = 0;
        }
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
        lt_ring *ring = &r->adopted[r->nadopted];
        int rc = lt_ring_adopt(ring, path);
        if (rc == -EWOULDBLOCK || rc == -ENOENT)
            continue; /* alive, or just removed by its owner */
        if (rc != 0) {
            if (rc == -EINVAL)
                LT_COUNT(rings_invalid, 1);
            continue;
        }
        if (strcmp(ring->hdr->endpoint, r->endpoint) != 0 || !terminated(ring->hdr->endpoint, sizeof ring->hdr->endpoint)) {
            lt_ring_close(ring, false); /* another collector's runner */
            continue;
        }
        if (!header_ids_ok(ring->hdr)) {
            LT_COUNT(rings_invalid, 1);
            lt_ring_close(ring, false);
            continue;
        }
        r->nadopted++;
        adopted++;
        LT_COUNT(rings_adopted, 1);
        if (replay(r, ring) != 0)
            fprintf(stderr, "logtap-collector: store error while replaying %s\n", path);
    }
    closedir(d);
    return adopted;
}

void lt_reaper_release(lt_reaper *r, bool committed)
{
    for (int i = 0; i < r->nadopted; i++)
        lt_ring_close(&r->adopted[i], committed);
    r->nadopted = 0;
}
