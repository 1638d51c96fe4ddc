/* test_metrics.c -- /metrics text: every counter with HELP and TYPE lines,
 * the gauges, and the current values. */
#include "unit.h"

#include "metrics.h"

/* True if `text` has `line` as a whole line. */
static bool has_line(const char *text, const char *line)
{
    size_t len = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[len] == '\n')
            return true;
    return false;
}

int main(void)
{
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
     * queue depths, the commit histogram, 2 drop families, live bytes,
     * instances cached, partial bytes */
    CHECK_INT(help_lines, counters + 13);
    CHECK_INT(type_lines, counters + 13);
    CHECK(text[len - 1] == '\n');
    free(text);
    return unit_done("unit-metrics");
}
