/* drain.h -- log drains at run time: a worker thread per drain pushes its
 * app's committed lines to the destination, and a manager thread starts
 * and stops workers as drains are added and removed (drain.c says how
 * delivery stays at least once and in order). */
#ifndef LT_DRAIN_H
#define LT_DRAIN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "store.h"

typedef struct lt_drains_config {
    lt_store *store;
    const char *ca_file;    /* extra CA bundle; NULL: the system's */
    int64_t timeout_ns;     /* longest wait for one batch's answer */
    int64_t backoff_max_ns; /* cap of the retry backoff */
    int batch_lines;        /* lines a batch holds at most */
    int64_t batch_bytes;    /* bytes a batch holds at most (one line more) */
    int own_ports[4];       /* the collector's own ports, 0-terminated */
} lt_drains_config;

/* Start the manager (after the store, HTTP and the drain key). 0 or -1. */
int lt_drains_start(const lt_drains_config *cfg, char *err, size_t errlen);
/* Stop every worker (a transfer in progress gives up) and the manager.
 * Safe to call when not started. */
void lt_drains_stop(void);
/* A drain was added or removed: look again now. Any thread. */
void lt_drains_poke(void);
/* The collector's own ports (for the API's checks); 0-terminated. */
const int *lt_drains_own_ports(void);

typedef struct lt_drain_status {
    const char *state; /* "starting", "idle", "sending", "retrying", "stopped" */
    char last_error[256];
    int64_t lag_lines;  /* lines of the app after the cursor (capped) */
    double lag_seconds; /* age of the oldest line not yet delivered */
    int64_t failures;   /* consecutive failed attempts */
} lt_drain_status;
/* The running state of drain `id`; false when no worker runs it. */
bool lt_drains_status(const char *id, lt_drain_status *out);

/* The drains' families for /metrics (metrics.c calls it). */
void lt_drains_render_metrics(FILE *f);

#endif
