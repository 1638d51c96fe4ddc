/* test_metrics.c -- /metrics text: every counter with HELP and TYPE lines,
 * the gauges, and the current values; the build's version and this
 * process's own metrics (RSS, CPU, descriptors, start time) from /proc. */
#include "unit.h"

#include <fcntl.h>

#include "logtap_wire.h"
#include "metrics.h"
#include "version.h"

/* True if `text` has `line` as a whole line. */
static bool has_line(const char *text, const char *line)
{
    size_t len = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[len] == '\n')
            return true;
    return false;
}

/* The value of the sample line starting with `name` + " ", or -1. */
static double sample(const char *text, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = text; (p = strstr(p, name)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[len] == ' ')
            return strtod(p + len + 1, NULL);
    return -1;
}

static void test_proc_stat_parse(void)
{
    double cpu = -1, started = -1;
    /* A command name with spaces and parentheses; utime 250, stime 50,
     * starttime 12345 ticks of 100 a second. */
    const char *stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 3 0 12345 "
                       "10000000 500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
    CHECK_INT(lt_metrics_parse_proc_stat(stat, 100, &cpu, &started), 0);
    CHECK(cpu == 3.0);
    CHECK(started == 123.45);
    CHECK_INT(lt_metrics_parse_proc_stat("4242 no parenthesis S 1", 100, &cpu, &started), -1);
    CHECK_INT(lt_metrics_parse_proc_stat("4242 (short) S 1 2 3", 100, &cpu, &started), -1);
    CHECK_INT(lt_metrics_parse_proc_stat(stat, 0, &cpu, &started), -1);
}

/* The process metrics describe this process: they move as it does. */
static void test_process_metrics(void)
{
    char *text;
    size_t len;
    lt_metrics_render(&text, &len);
    REQUIRE(text != NULL);
    CHECK(has_line(text, "# TYPE logtap_build_info gauge"));
    char build[128];
    snprintf(build, sizeof build, "logtap_build_info{version=\"%s\",wire_format=\"%d\"} 1", LT_VERSION,
             LT_WIRE_VERSION);
    CHECK(has_line(text, build));
    CHECK(has_line(text, "# TYPE process_resident_memory_bytes gauge"));
    CHECK(has_line(text, "# TYPE process_cpu_seconds_total counter"));
    CHECK(has_line(text, "# TYPE process_open_fds gauge"));
    CHECK(has_line(text, "# TYPE process_start_time_seconds gauge"));
    double rss = sample(text, "process_resident_memory_bytes");
    double fds = sample(text, "process_open_fds");
    double started = sample(text, "process_start_time_seconds");
    double cpu = sample(text, "process_cpu_seconds_total");
    free(text);
    CHECK(rss > 100000 && rss < 1e10);
    CHECK(fds >= 3 && fds < 1000);
    double now = (double)time(NULL);
    CHECK(started > now - 600 && started <= now + 1);
    CHECK(cpu >= 0 && cpu < 600);

    /* Ten more descriptors, 64 MiB more touched memory, a busy half second. */
    int extra[10];
    for (int i = 0; i < 10; i++)
        extra[i] = open("/dev/null", O_RDONLY);
    size_t big = 64u << 20;
    char *touched = malloc(big);
    REQUIRE(touched != NULL);
    memset(touched, 1, big);
    struct timespec t0, t1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    do
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    while ((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 < 0.5);
    lt_metrics_render(&text, &len);
    REQUIRE(text != NULL);
    CHECK(sample(text, "process_open_fds") == fds + 10);
    CHECK(sample(text, "process_resident_memory_bytes") >= rss + (double)(60u << 20));
    CHECK(sample(text, "process_cpu_seconds_total") >= cpu + 0.4);
    CHECK(sample(text, "process_start_time_seconds") == started);
    free(text);
    CHECK(touched[big - 1] == 1);
    free(touched);
    for (int i = 0; i < 10; i++)
        close(extra[i]);
}

int main(void)
{
    test_proc_stat_parse();
    LT_COUNT(lines_stored, 42);
    LT_COUNT(http_requests, 3);
    atomic_store(&lt_metrics_global.followers, 2);
    atomic_store(&lt_metrics_global.store_commit_ns_max, 1500000); /* 1.5 ms */
    atomic_store(&lt_metrics_global.reaper_step_ns_max, 2000000);  /* 2 ms */
    lt_metrics_commit_time(1500000);                               /* 1.5 ms: buckets from 0.0025 up */
    lt_metrics_commit_time(300000000);                             /* 0.3 s: buckets from 0.5 up */
    LT_COUNT(frames_malformed, 5);
    LT_COUNT(bytes_gap_reported, 77);
    atomic_store(&lt_metrics_global.partial_lines, 4);

    char *text;
    size_t len;
    lt_metrics_render(&text, &len);
    CHECK(text != NULL);
    if (text == NULL)
        return unit_done("unit-metrics");
    CHECK_INT(strlen(text), len);

    CHECK(has_line(text, "# HELP logtap_lines_stored_total lines appended to the store"));
    CHECK(has_line(text, "# TYPE logtap_lines_stored_total counter"));
    CHECK(has_line(text, "logtap_lines_stored_total 42"));
    CHECK(has_line(text, "logtap_http_requests_total 3"));
    CHECK(has_line(text, "logtap_frames_received_total 0"));
    CHECK(has_line(text, "# TYPE logtap_followers gauge"));
    CHECK(has_line(text, "logtap_followers 2"));
    CHECK(has_line(text, "# TYPE logtap_store_commit_seconds_max gauge"));
    CHECK(has_line(text, "logtap_store_commit_seconds_max 0.001500000"));
    CHECK(has_line(text, "# TYPE logtap_reaper_step_seconds_max gauge"));
    CHECK(has_line(text, "logtap_reaper_step_seconds_max 0.002000000"));
    CHECK(has_line(text, "# TYPE logtap_store_faulted gauge"));
    CHECK(has_line(text, "logtap_store_faulted 0"));
    CHECK(has_line(text, "# TYPE logtap_store_commit_seconds histogram"));
    CHECK(has_line(text, "logtap_store_commit_seconds_bucket{le=\"0.001\"} 0"));
    CHECK(has_line(text, "logtap_store_commit_seconds_bucket{le=\"0.0025\"} 1"));
    CHECK(has_line(text, "logtap_store_commit_seconds_bucket{le=\"0.25\"} 1"));
    CHECK(has_line(text, "logtap_store_commit_seconds_bucket{le=\"0.5\"} 2"));
    CHECK(has_line(text, "logtap_store_commit_seconds_bucket{le=\"+Inf\"} 2"));
    CHECK(has_line(text, "logtap_store_commit_seconds_count 2"));
    CHECK(has_line(text, "logtap_store_commit_seconds_sum 0.301500000"));
    CHECK(has_line(text, "logtap_frames_dropped_total{reason=\"malformed\"} 5"));
    CHECK(has_line(text, "logtap_frames_dropped_total{reason=\"oversized\"} 0"));
    CHECK(has_line(text, "logtap_bytes_dropped_total{reason=\"in_runner\"} 77"));
    CHECK(has_line(text, "logtap_frames_refused_total{reason=\"identity_mismatch\"} 0"));
    CHECK(has_line(text, "logtap_partial_lines 4"));
    CHECK(has_line(text, "logtap_store_pending_lines 0"));

    /* Every counter in the list is rendered, each with its HELP and TYPE. */
    int counters = 0;
#define COUNT_ONE(name, help) counters++;
    LT_METRICS_COUNTERS(COUNT_ONE)
#undef COUNT_ONE
    int help_lines = 0, type_lines = 0;
    for (const char *p = text; (p = strstr(p, "# HELP ")) != NULL; p++)
        help_lines++;
    for (const char *p = text; (p = strstr(p, "# TYPE ")) != NULL; p++)
        type_lines++;
    /* + followers, store_faulted, commit time max, reaper step max, 3
     * queue depths, the commit histogram, 3 drop and refusal families,
     * live bytes, instances cached, partial bytes, build info; the
     * process's RSS, virtual size, CPU, start time, open and most
     * descriptors; the 7 drain families (drain.c) */
    CHECK_INT(help_lines, counters + 15 + 6 + 7);
    CHECK_INT(type_lines, counters + 15 + 6 + 7);
    CHECK(text[len - 1] == '\n');
    free(text);
    test_process_metrics();
    return unit_done("unit-metrics");
}
