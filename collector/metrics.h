/* metrics.h -- the collector's counters, one global instance.
 *
 * Written by the ingest thread, read by HTTP threads (/metrics), so every
 * field is a relaxed atomic: counters need no ordering with anything else.
 */
#ifndef LT_METRICS_H
#define LT_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

/* X(name, help) -- one line per counter; the list drives both the struct and
 * the Prometheus rendering so they cannot drift apart. */
#define LT_METRICS_COUNTERS(X)                                                                               \
    X(frames_received, "ZeroMQ messages received on the ingest socket")                                      \
    X(frames_malformed, "messages dropped: not a valid logtap frame")                                        \
    X(frames_oversized, "messages dropped: larger than the frame limit")                                     \
    X(frames_out_of_order, "frames refused: they follow a lost frame (runner resends)")                      \
    X(records_received, "records decoded from valid frames")                                                 \
    X(records_duplicate, "records dropped: already received (replay)")                                       \
    X(bytes_replay_skipped, "bytes of records sent again that the store already had")                        \
    X(bytes_received, "payload bytes of DATA records")                                                       \
    X(bytes_gap_reported, "bytes runners reported lost before their ring")                                   \
    X(lines_stored, "lines appended to the store")                                                           \
    X(lines_split, "lines cut because they exceeded the line length limit")                                  \
    X(requests_begun, "BEGIN records")                                                                       \
    X(requests_ended, "END records")                                                                         \
    X(acks_sent, "ACK messages sent to runners")                                                             \
    X(rings_adopted, "ring files of exited runners replayed and removed")                                    \
    X(rings_invalid, "ring files ignored: malformed, or not ours to read")                                   \
    X(records_replayed, "records read from adopted ring files")                                              \
    X(records_torn, "records in ring files whose writer died before completing them")                        \
    X(store_commits, "store transactions committed")                                                         \
    X(store_errors, "store operations that failed")                                                          \
    X(lines_expired, "lines deleted by retention (--retain-age, --retain-size, --retain-size-per-app)")      \
    X(timestamps_clamped, "runner records stamped later than the collector's clock plus --clock-skew")       \
    X(http_requests, "HTTP requests served")                                                                 \
    X(http_unauthorized, "HTTP requests refused for want of a valid token")                                  \
    X(http_connections_evicted, "HTTP connections without a valid token closed to admit new ones")           \
    X(http_read_deadline_closed, "HTTP connections closed for taking too long to send a request")            \
    X(http_streams_refused, "follow streams refused (429): their token or user had too many")                \
    X(http_pages_truncated, "log pages ended early at the byte budget (--http-page-bytes)")                  \
    X(followers_behind, "times a follower fell more than max_lag lines behind and skipped ahead")            \
    X(partial_lines_forced, "unfinished lines stored early: a partial-line memory bound was reached")        \
    X(streams_dropped, "idle (thread, stream) entries dropped from memory at the per-instance bound")        \
    X(instances_evicted, "idle process instances evicted from memory at an instance bound")                  \
    X(instances_refused, "frames refused: a new instance found every instance at its bound busy")            \
    X(instance_claims_refused,                                                                               \
      "frames and replays refused: they name an instance another runner or app owns")                        \
    X(positions_refused, "frames refused: a position further ahead of the instance than any ring holds")     \
    X(requests_refused, "BEGIN records that opened no request row: the runner's request rate bound")         \
    X(requests_claims_refused, "BEGIN records refused: the request was announced for another app")           \
    X(requests_reopens_refused, "BEGIN records of a request already completed (it stays completed)")         \
    X(requests_failed, "requests completed with an error (a handler's error END)")                           \
    X(requests_runner_died, "requests completed because their runner process died inside them")              \
    X(requests_announced, "requests announced by the gateway (PUT /v1/requests/{id}) and new")               \
    X(ingest_turns_cut, "ingest turns ended early to commit and acknowledge (a flood of lines)")

/* Upper bounds of the commit-latency histogram's buckets, in seconds. */
#define LT_COMMIT_BUCKET_BOUNDS                                                                              \
    {                                                                                                        \
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5                                    \
    }
#define LT_COMMIT_BUCKETS 11

typedef struct lt_metrics {
#define LT_METRICS_FIELD(name, help) _Atomic uint64_t name;
    LT_METRICS_COUNTERS(LT_METRICS_FIELD)
#undef LT_METRICS_FIELD
    _Atomic uint64_t followers;           /* gauge: open follow streams */
    _Atomic uint64_t store_faulted;       /* gauge: 1 while commits fail */
    _Atomic uint64_t store_commit_ns_max; /* gauge: slowest commit so far */
    _Atomic uint64_t reaper_step_ns_max;  /* gauge: longest reaper step so far */
    /* Queue depths, sampled by the ingest thread after each poll. */
    _Atomic uint64_t store_pending_lines; /* appended, not yet committed */
    _Atomic uint64_t acks_pending;        /* process instances owed an ack */
    _Atomic uint64_t partial_lines;       /* lines still being assembled */
    _Atomic uint64_t store_live_bytes;    /* the store's size less free pages */
    _Atomic uint64_t instances_cached;    /* process instances cached in memory */
    _Atomic uint64_t partial_bytes;       /* bytes held for unfinished lines */
    /* Store commit latency histogram (cumulative buckets, as Prometheus). */
    _Atomic uint64_t commit_buckets[LT_COMMIT_BUCKETS];
    _Atomic uint64_t commit_count;
    _Atomic uint64_t commit_ns_sum;
} lt_metrics;

/* Record one store commit's duration (any thread). */
void lt_metrics_commit_time(uint64_t ns);

extern lt_metrics lt_metrics_global;

#define LT_COUNT(name, n) atomic_fetch_add_explicit(&lt_metrics_global.name, (n), memory_order_relaxed)

#include <stddef.h> /* size_t, for lt_metrics_render */

/* Render every counter and gauge in Prometheus text format 0.0.4 into a new
 * malloc'd buffer; the caller frees *out. On allocation failure *out is NULL
 * and *len is 0. Besides the collector's own: logtap_build_info and the
 * process metrics Prometheus' client libraries name (process_*), read from
 * /proc/self at each call; one that cannot be read is left out. */
void lt_metrics_render(char **out, size_t *len);

/* From the text of /proc/PID/stat: the CPU time used (user + system) and
 * the start time after boot, both in seconds, given the clock ticks per
 * second. The command name may hold spaces and parentheses. Returns 0, or
 * -1 for text of another shape. */
int lt_metrics_parse_proc_stat(const char *text, double ticks_per_second, double *cpu_seconds,
                               double *start_after_boot_seconds);

#endif
