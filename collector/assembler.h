/* assembler.h -- from records to lines.
 *
 * Records arrive per process instance in ring order. The assembler joins the
 * DATA bytes of each (process, thread, stream) into lines, attributes each
 * line to the request its first byte was written in, turns request BEGIN/END
 * into request lifetimes, drops replayed records, and hands finished lines to
 * the store.
 */
#ifndef LT_ASSEMBLER_H
#define LT_ASSEMBLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Lines longer than this are cut (and counted in lines_split). */
#define LT_LINE_MAX (256 * 1024)

typedef struct lt_assembler lt_assembler;

/* What one runner may hold in the collector's memory, and what happens at
 * each bound (README.md, "Limits"; every outcome is counted in /metrics).
 * Runner code is hostile: every per-instance and per-runner structure has a
 * bound, so no frame sequence can grow the assembler without limit. */
typedef struct lt_assembler_limits {
    /* Instances whose state is cached in memory, in all and per runner ID.
     * At the bound, the least recently used idle instance (nothing in
     * memory only) is evicted: its state is in the store and is loaded
     * again at its next frame (instances_evicted). With none idle, the
     * frame of a new instance is refused, unacknowledged, and the runner
     * sends it again later (instances_refused). */
    size_t instances, runner_instances;
    /* (thread, stream) entries of one instance. At the bound, entries that
     * hold no line and whose done point no record to come can need are
     * dropped (their done point written now); with none such, every
     * unfinished line of the instance is stored as it is first
     * (partial_lines_forced). */
    size_t instance_streams;
    /* Bytes held for unfinished lines (buffers and entries), per instance
     * and in all. At the bound, the oldest unfinished lines are stored as
     * they are, as if idle (partial_lines_forced): nothing is lost, the
     * line goes on as a new one. The bound can be passed by one record. */
    size_t instance_partial_bytes, partial_bytes;
    /* Request rows a runner ID may open: a bucket of request_burst that
     * refills at request_rate a second. A BEGIN beyond it opens no row
     * (requests_refused); its lines are stored, with their request ID. */
    uint32_t request_rate, request_burst;
} lt_assembler_limits;

/* The defaults: generous enough for any honest runner. */
#define LT_ASSEMBLER_LIMITS_DEFAULT                                                                          \
    {                                                                                                        \
        .instances = 4096, .runner_instances = 512, .instance_streams = 1024,                                \
        .instance_partial_bytes = 16u << 20, .partial_bytes = 256u << 20, .request_rate = 2000,              \
        .request_burst = 20000,                                                                              \
    }

typedef struct lt_proc_meta {
    const char *runner_id, *app_id, *version_id, *source; /* NUL-terminated */
    int64_t pid;
    uint64_t instance;
    uint64_t dropped;  /* cumulative bytes the process could not keep */
    bool has_range;    /* the sender said what it had acknowledged: */
    uint64_t acked;    /* its first unacknowledged position when it packed */
    uint64_t end;      /* the position after this batch's last record */
    bool has_start;    /* with has_range: the batch covers [start, end), */
    uint64_t start;    /* records and the torn records the sender passed */
    bool unattributed; /* no one can tell who wrote this process's output
                          (logtap run --catch-all's forwarder) */
    bool has_peer_uid; /* the frame came over ipc from ... */
    uint32_t peer_uid; /* ... this uid (kept for the reaper, reaper.c) */
    bool replay;       /* read from its ring file by the reaper, which removes
                          the file after the commit: never refused at the
                          instance bounds (it may pass them by one scan) */
} lt_proc_meta;

typedef struct lt_record_in {
    uint64_t pos;
    uint64_t ts_ns;
    uint32_t tid;
    int kind; /* enum lt_record_kind */
    int fd;
    const char *request; /* NULL or request_len bytes */
    size_t request_len;
    const unsigned char *data;
    size_t data_len;
} lt_record_in;

/* `store` is borrowed and must outlive the assembler. The assembler writes
 * its delivery state at every lt_store_commit (it sets the store's commit
 * hook); after a commit fails, call lt_assembler_reset. */
lt_assembler *lt_assembler_new(lt_store *store);
void lt_assembler_free(lt_assembler *a);
/* Replace the limits (lt_assembler_new starts with the defaults). */
void lt_assembler_set_limits(lt_assembler *a, const lt_assembler_limits *lim);
/* Runner stamps later than the collector's clock plus `skew_ns` are taken
 * as that bound (lines, request BEGIN/END, runner rows); 0 (the default)
 * takes them as sent. */
void lt_assembler_set_clock_skew(lt_assembler *a, int64_t skew_ns);

/* Feed one batch (already validated). A batch that starts beyond what this
 * instance has sent so far (meta->has_range: the position after the last
 * batch seen, or the sender's acknowledged position for an instance not
 * seen yet) follows a lost frame: it is refused (counted in
 * frames_out_of_order, *have_acked = 0), and the runner sends again from its
 * acknowledged position. A batch of a new instance that the instance bounds
 * leave no room for is refused too (instances_refused, *have_acked = 0; see
 * lt_assembler_limits). Sets *acked_pos to the bound the
 * runner may be acknowledged up to once the store commits: every record of
 * this instance whose position is below it is then durable (the records of
 * lines still being assembled are not). *have_acked is 0 when nothing may be
 * acknowledged yet. Returns the number of records that were new (not
 * replays), or -1 on store error. */
long lt_assembler_feed(lt_assembler *a, const lt_proc_meta *meta, const lt_record_in *recs, size_t n,
                       uint64_t *acked_pos, int *have_acked);

/* Emit every partial line as if it had ended (collector shutdown). */
void lt_assembler_flush_all(lt_assembler *a);

/* Emit partial lines held for at least `idle_ms` (a prompt, print(end=''),
 * then long work): the runner cannot free their records until they are
 * stored. The line goes on as a new line if more of it arrives. */
void lt_assembler_flush_idle(lt_assembler *a, int64_t now_ms, int64_t idle_ms);

/* Lines still being assembled, for the metrics (walks every process: call
 * it now and then, not per frame). */
size_t lt_assembler_partial_lines(const lt_assembler *a);

/* Whether a new instance was refused since the last call (cleared): the
 * instances at the bound were busy, and a commit makes them idle, so the
 * caller should commit before it reads on. */
bool lt_assembler_commit_wanted(lt_assembler *a);

/* Instances cached in memory, and bytes held for their unfinished lines
 * (the quantities the limits bound), for the metrics. */
void lt_assembler_usage(const lt_assembler *a, size_t *instances, size_t *partial_bytes);

/* Forget everything in memory (positions, partial lines): after a failed
 * commit the runners send again from what they had acknowledged, and what
 * was stored is known again from the store's delivery state. */
void lt_assembler_reset(lt_assembler *a);

/* The uid the instance's first frame in this collector run came from, over
 * ipc: 1 and *uid if it is in memory and its uid known, 0 otherwise. The
 * reaper replays a ring another uid wrote only for that uid's instances
 * (--ingest-auth; reaper.c). */
int lt_assembler_instance_uid(const lt_assembler *a, uint64_t instance, uint32_t *uid);

/* The instance's ring is replayed, committed and removed: nothing more of
 * it will come (the caller fed its records, EXIT last, before the commit).
 * `replayed` is the meta the ring was fed under: a ring naming an instance
 * another identity owns finishes nothing.
 * Its state shrinks to that fact at the next commit; frames still queued for
 * it are ignored. */
void lt_assembler_finish(lt_assembler *a, const lt_proc_meta *replayed);

#endif
