/* metrics.c -- the collector's one metrics instance and its /metrics text.
 *
 * Counters live in lt_metrics_global (see metrics.h for why they are relaxed
 * atomics). Rendering walks the same X-macro list that declares the fields,
 * so a counter added to metrics.h shows up on /metrics with no other edit.
 * Prometheus text format 0.0.4: counters get the conventional _total suffix.
 *
 * The process metrics (process_*) carry the names Prometheus' own client
 * libraries give them, so that dashboards and alerts written for any
 * process work unchanged; they are read from /proc/self when /metrics is
 * asked, not kept. logtap_build_info says which version is running, as a
 * label on a constant 1 (the Prometheus convention for build facts).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "drain.h"
#include "logtap_wire.h"
#include "metrics.h"
#include "version.h"

lt_metrics lt_metrics_global;

static uint64_t load_relaxed(_Atomic uint64_t *value)
{
    return atomic_load_explicit(value, memory_order_relaxed);
}

static const double commit_bucket_bounds[LT_COMMIT_BUCKETS] = LT_COMMIT_BUCKET_BOUNDS;

_Static_assert(sizeof commit_bucket_bounds / sizeof commit_bucket_bounds[0] == LT_COMMIT_BUCKETS,
               "LT_COMMIT_BUCKETS counts LT_COMMIT_BUCKET_BOUNDS");

void lt_metrics_commit_time(uint64_t ns)
{
    /* Each bucket counts the commits at or under its bound (cumulative), so
     * rendering needs no summing and readers never see a bucket decrease. */
    for (int i = 0; i < LT_COMMIT_BUCKETS; i++)
        if ((double)ns <= commit_bucket_bounds[i] * 1e9)
            atomic_fetch_add_explicit(&lt_metrics_global.commit_buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&lt_metrics_global.commit_ns_sum, ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&lt_metrics_global.commit_count, 1, memory_order_relaxed);
}

static void render_gauge(FILE *f, const char *name, const char *help, uint64_t value)
{
    fprintf(f, "# HELP logtap_%s %s\n# TYPE logtap_%s gauge\nlogtap_%s %llu\n", name, help, name, name,
            (unsigned long long)value);
}

/* Losses by reason, as one labelled family each, from the counters above:
 * the single place a dashboard needs to look for "what did we drop". */
static void render_drops(FILE *f)
{
    fprintf(f,
            "# HELP logtap_frames_dropped_total frames not used, by reason\n"
            "# TYPE logtap_frames_dropped_total counter\n"
            "logtap_frames_dropped_total{reason=\"malformed\"} %llu\n"
            "logtap_frames_dropped_total{reason=\"oversized\"} %llu\n"
            "logtap_frames_dropped_total{reason=\"out_of_order\"} %llu\n"
            "# HELP logtap_frames_refused_total frames refused by ingest authentication "
            "(--ingest-auth), by reason\n"
            "# TYPE logtap_frames_refused_total counter\n"
            "logtap_frames_refused_total{reason=\"no_credential\"} %llu\n"
            "logtap_frames_refused_total{reason=\"bad_credential\"} %llu\n"
            "logtap_frames_refused_total{reason=\"expired\"} %llu\n"
            "logtap_frames_refused_total{reason=\"identity_mismatch\"} %llu\n"
            "# HELP logtap_bytes_dropped_total output bytes lost before storage, by reason (in_runner: a "
            "full ring, a writer dead mid-record, a write before the ring existed)\n"
            "# TYPE logtap_bytes_dropped_total counter\n"
            "logtap_bytes_dropped_total{reason=\"in_runner\"} %llu\n",
            (unsigned long long)load_relaxed(&lt_metrics_global.frames_malformed),
            (unsigned long long)load_relaxed(&lt_metrics_global.frames_oversized),
            (unsigned long long)load_relaxed(&lt_metrics_global.frames_out_of_order),
            (unsigned long long)load_relaxed(&lt_metrics_global.frames_refused_no_credential),
            (unsigned long long)load_relaxed(&lt_metrics_global.frames_refused_bad_credential),
            (unsigned long long)load_relaxed(&lt_metrics_global.frames_refused_expired),
            (unsigned long long)load_relaxed(&lt_metrics_global.frames_refused_identity_mismatch),
            (unsigned long long)load_relaxed(&lt_metrics_global.bytes_gap_reported));
}

static void render_commit_histogram(FILE *f)
{
    fprintf(f, "# HELP logtap_store_commit_seconds store commit latency\n"
               "# TYPE logtap_store_commit_seconds histogram\n");
    /* The count is read first and bounds every bucket: a commit recorded
     * while this renders must not make a bucket exceed +Inf. */
    uint64_t count = load_relaxed(&lt_metrics_global.commit_count);
    for (int i = 0; i < LT_COMMIT_BUCKETS; i++) {
        uint64_t bucket = load_relaxed(&lt_metrics_global.commit_buckets[i]);
        fprintf(f, "logtap_store_commit_seconds_bucket{le=\"%g\"} %llu\n", commit_bucket_bounds[i],
                (unsigned long long)(bucket < count ? bucket : count));
    }
    fprintf(f,
            "logtap_store_commit_seconds_bucket{le=\"+Inf\"} %llu\n"
            "logtap_store_commit_seconds_sum %.9f\n"
            "logtap_store_commit_seconds_count %llu\n",
            (unsigned long long)count, (double)load_relaxed(&lt_metrics_global.commit_ns_sum) / 1e9,
            (unsigned long long)count);
}

/* ---- the process, from /proc/self ---- */

int lt_metrics_parse_proc_stat(const char *text, double ticks_per_second, double *cpu_seconds,
                               double *start_after_boot_seconds)
{
    /* "PID (COMM) STATE ..." where COMM may hold anything: the fields
     * resume after its last ')'. */
    const char *p = strrchr(text, ')');
    if (p == NULL || ticks_per_second <= 0)
        return -1;
    unsigned long long utime, stime, starttime;
    /* Fields 3 (state) to 22 (starttime); utime and stime are 14 and 15. */
    int got = sscanf(p + 1,
                     " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d"
                     " %llu",
                     &utime, &stime, &starttime);
    if (got != 3)
        return -1;
    *cpu_seconds = (double)(utime + stime) / ticks_per_second;
    *start_after_boot_seconds = (double)starttime / ticks_per_second;
    return 0;
}

/* The whole of a small /proc file, NUL-terminated, into buf. */
static int read_small_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n > 0 ? 0 : -1;
}

/* The system's boot time, in seconds since the epoch (/proc/stat's btime). */
static int boot_time(double *out)
{
    FILE *f = fopen("/proc/stat", "re");
    if (f == NULL)
        return -1;
    char line[256];
    int rc = -1;
    unsigned long long btime;
    while (rc != 0 && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "btime %llu", &btime) == 1) {
            *out = (double)btime;
            rc = 0;
        }
    fclose(f);
    return rc;
}

static long count_open_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (dir == NULL)
        return -1;
    long count = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL)
        if (e->d_name[0] != '.')
            count++;
    closedir(dir);
    return count - 1; /* the directory's own descriptor, open while counting */
}

static void render_process(FILE *f)
{
    char text[1024];
    long page = sysconf(_SC_PAGESIZE);
    unsigned long long size_pages, resident_pages;
    if (page > 0 && read_small_file("/proc/self/statm", text, sizeof text) == 0 &&
        sscanf(text, "%llu %llu", &size_pages, &resident_pages) == 2)
        fprintf(f,
                "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                "# TYPE process_resident_memory_bytes gauge\n"
                "process_resident_memory_bytes %llu\n"
                "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
                "# TYPE process_virtual_memory_bytes gauge\n"
                "process_virtual_memory_bytes %llu\n",
                resident_pages * (unsigned long long)page, size_pages * (unsigned long long)page);
    double cpu, started, boot;
    long ticks = sysconf(_SC_CLK_TCK);
    if (read_small_file("/proc/self/stat", text, sizeof text) == 0 &&
        lt_metrics_parse_proc_stat(text, (double)ticks, &cpu, &started) == 0) {
        fprintf(f,
                "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
                "# TYPE process_cpu_seconds_total counter\n"
                "process_cpu_seconds_total %.2f\n",
                cpu);
        if (boot_time(&boot) == 0)
            fprintf(f,
                    "# HELP process_start_time_seconds Start time of the process since unix epoch in "
                    "seconds.\n"
                    "# TYPE process_start_time_seconds gauge\n"
                    "process_start_time_seconds %.2f\n",
                    boot + started);
    }
    long fds = count_open_fds();
    if (fds >= 0)
        fprintf(f,
                "# HELP process_open_fds Number of open file descriptors.\n"
                "# TYPE process_open_fds gauge\n"
                "process_open_fds %ld\n",
                fds);
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
        fprintf(f,
                "# HELP process_max_fds Maximum number of open file descriptors.\n"
                "# TYPE process_max_fds gauge\n"
                "process_max_fds %llu\n",
                (unsigned long long)limit.rlim_cur);
}

static void render_build_info(FILE *f)
{
    fprintf(f,
            "# HELP logtap_build_info the running collector's version (the value is always 1)\n"
            "# TYPE logtap_build_info gauge\n"
            "logtap_build_info{version=\"%s\",wire_format=\"%d\"} 1\n",
            LT_VERSION, LT_WIRE_VERSION);
}

void lt_metrics_render(char **out, size_t *len)
{
    *out = NULL;
    *len = 0;

    char *text = NULL;
    size_t text_len = 0;
    FILE *f = open_memstream(&text, &text_len);
    if (f == NULL)
        return;

#define LT_METRICS_RENDER_COUNTER(name, help)                                                                \
    fprintf(f,                                                                                               \
            "# HELP logtap_" #name "_total %s\n# TYPE logtap_" #name "_total counter\n"                      \
            "logtap_" #name "_total %llu\n",                                                                 \
            help, (unsigned long long)load_relaxed(&lt_metrics_global.name));
    LT_METRICS_COUNTERS(LT_METRICS_RENDER_COUNTER)
#undef LT_METRICS_RENDER_COUNTER

    fprintf(f,
            "# HELP logtap_followers follow streams open now\n"
            "# TYPE logtap_followers gauge\n"
            "logtap_followers %llu\n",
            (unsigned long long)load_relaxed(&lt_metrics_global.followers));
    fprintf(f,
            "# HELP logtap_store_faulted 1 while store commits fail (nothing is acknowledged)\n"
            "# TYPE logtap_store_faulted gauge\n"
            "logtap_store_faulted %llu\n",
            (unsigned long long)load_relaxed(&lt_metrics_global.store_faulted));
    fprintf(f,
            "# HELP logtap_store_commit_seconds_max slowest store commit since start\n"
            "# TYPE logtap_store_commit_seconds_max gauge\n"
            "logtap_store_commit_seconds_max %.9f\n",
            (double)load_relaxed(&lt_metrics_global.store_commit_ns_max) / 1e9);
    fprintf(f,
            "# HELP logtap_reaper_step_seconds_max longest step of the ring reaper since start "
            "(time the ingest loop gave to orphan rings at once)\n"
            "# TYPE logtap_reaper_step_seconds_max gauge\n"
            "logtap_reaper_step_seconds_max %.9f\n",
            (double)load_relaxed(&lt_metrics_global.reaper_step_ns_max) / 1e9);

    render_gauge(f, "store_pending_lines", "lines appended to the store, not yet committed",
                 load_relaxed(&lt_metrics_global.store_pending_lines));
    render_gauge(f, "acks_pending", "runner processes owed an acknowledgement",
                 load_relaxed(&lt_metrics_global.acks_pending));
    render_gauge(f, "partial_lines", "lines still being assembled (no newline yet)",
                 load_relaxed(&lt_metrics_global.partial_lines));
    render_gauge(f, "store_live_bytes", "bytes the store holds (its pages less free ones)",
                 load_relaxed(&lt_metrics_global.store_live_bytes));
    render_gauge(f, "instances_cached", "process instances cached in the collector's memory",
                 load_relaxed(&lt_metrics_global.instances_cached));
    render_gauge(f, "partial_bytes", "bytes held in memory for unfinished lines",
                 load_relaxed(&lt_metrics_global.partial_bytes));
    render_commit_histogram(f);
    render_drops(f);
    lt_drains_render_metrics(f);
    render_build_info(f);
    render_process(f);

    /* open_memstream reports allocation failures at close. */
    if (ferror(f)) {
        fclose(f);
        free(text);
        return;
    }
    if (fclose(f) != 0) {
        free(text);
        return;
    }
    *out = text;
    *len = text_len;
}
