/* metrics.c -- the collector's one metrics instance and its /metrics text.
 *
 * Counters live in lt_metrics_global (see metrics.h for why they are relaxed
 * atomics). Rendering walks the same X-macro list that declares the fields,
 * so a counter added to metrics.h shows up on /metrics with no other edit.
 * Prometheus text format 0.0.4: counters get the conventional _total suffix.
 */
#include <stdio.h>
#include <stdlib.h>

#include "metrics.h"

lt_metrics lt_metrics_global;

static uint64_t load_relaxed(_Atomic uint64_t *value) {
    return atomic_load_explicit(value, memory_order_relaxed);
}

void lt_metrics_render(char **out, size_t *len) {
    *out = NULL;
    *len = 0;

    char *text = NULL;
    size_t text_len = 0;
    FILE *f = open_memstream(&text, &text_len);
    if (f == NULL) return;

#define LT_METRICS_RENDER_COUNTER(name, help)                                        \
    fprintf(f, "# HELP logtap_" #name "_total %s\n# TYPE logtap_" #name "_total counter\n" \
               "logtap_" #name "_total %llu\n",                                       \
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
