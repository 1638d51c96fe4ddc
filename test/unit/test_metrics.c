/* test_metrics.c -- /metrics text: every counter with HELP and TYPE lines,
 * the gauges, and the current values. */
#include "unit.h"

#include "metrics.h"

/* True if `text` has `line` as a whole line. */
static bool has_line(const char *text, const char *line) {
    size_t len = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[len] == '\n') return true;
    return false;
}

int main(void) {
    LT_COUNT(lines_stored, 42);
    LT_COUNT(http_requests, 3);
    atomic_store(&lt_metrics_global.followers, 2);
    atomic_store(&lt_metrics_global.store_commit_ns_max, 1500000); /* 1.5 ms */

    char *text;
    size_t len;
    lt_metrics_render(&text, &len);
    CHECK(text != NULL);
    if (text == NULL) return unit_done("unit-metrics");
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
    CHECK(has_line(text, "# TYPE logtap_store_faulted gauge"));
    CHECK(has_line(text, "logtap_store_faulted 0"));

    /* Every counter in the list is rendered, each with its HELP and TYPE. */
    int counters = 0;
#define COUNT_ONE(name, help) counters++;
    LT_METRICS_COUNTERS(COUNT_ONE)
#undef COUNT_ONE
    int help_lines = 0, type_lines = 0;
    for (const char *p = text; (p = strstr(p, "# HELP ")) != NULL; p++) help_lines++;
    for (const char *p = text; (p = strstr(p, "# TYPE ")) != NULL; p++) type_lines++;
    CHECK_INT(help_lines, counters + 3); /* + followers, store_faulted, commit time */
    CHECK_INT(type_lines, counters + 3);
    CHECK(text[len - 1] == '\n');
    free(text);
    return unit_done("unit-metrics");
}
