/* drain.c -- log drains at run time: the manager and one worker per drain.
 *
 * A worker pushes the lines of its drain's app, in line-ID order, from
 * the drain's durable cursor on:
 *   read a batch (at most --drain-batch-lines lines, about
 *   --drain-batch-bytes) of committed lines with id > cursor that the
 *   filters take, through a store reader of its own -> encode it
 *   (drain_format.c) -> deliver it (drain_send.c) -> on success move the
 *   cursor in the store past the batch; on failure wait (exponential
 *   backoff, full jitter in [cap/2, cap], cap --drain-backoff-max) and send
 *   the same batch again, with the same idempotency key.
 *
 * Why it looks the way it does:
 * - At least once, in order per runner (indeed in ID order overall): the
 *   cursor moves only after the destination took the batch, and a batch
 *   is always the lines right after the cursor. A collector killed after a
 *   destination took a batch but before the cursor moved sends that batch
 *   again after its restart; the batch starts at the same cursor and is
 *   cut by the same limits, so it carries the same Idempotency-Key (drain,
 *   first and last line ID) and a receiver can drop it.
 * - Never on the ingest thread, never holding it up: a worker reads
 *   committed lines through its own reader (store.h: every ID at or below
 *   lt_store_last_id is committed, so reading "id > cursor" never skips a
 *   line that commits later), writes its cursor through its own
 *   connection, and waits for new lines with lt_store_wait. A slow or dead
 *   destination blocks only its own worker, which holds one batch.
 * - Workers are threads, one per drain, so that one drain's dead
 *   destination (a connection that is accepted and never answered waits
 *   --drain-timeout) does not delay another's. The manager looks at the
 *   drains table every second (or at once when the API pokes it) and
 *   starts and stops workers to match.
 * - Retention does not wait for drains: a line it deletes before a drain
 *   that would carry it had it is counted in the drain's lines_missed (a
 *   trigger in the store, schema step 6 -> 7; a batch delivered from
 *   memory after retention deleted its lines gives them back), so a
 *   destination down for longer than retention keeps counting what it
 *   missed, exactly.
 * - Stopping: a transfer in progress looks at the stop flag (curl's
 *   progress callback, the syslog polls), so SIGTERM is not held up by a
 *   destination.
 */
#include "drain.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <curl/curl.h>

#include "clock.h"
#include "drain_format.h"
#include "drain_secret.h"
#include "drain_send.h"
#include "log.h"
#include "timefmt.h"

#define MANAGER_INTERVAL_MS 1000
#define BACKOFF_BASE_NS (INT64_C(250) * 1000000)
#define LAG_INTERVAL_NS (INT64_C(2000) * 1000000)
#define LAG_CAP 1000000

typedef struct worker {
    lt_drain drain; /* the configuration it was started with */
    pthread_t thread;
    atomic_bool stop;
    atomic_bool running;
    bool seen;            /* manager: still in the table */
    pthread_mutex_t lock; /* guards the status fields below */
    const char *state;
    char last_error[256];
    int64_t lag_lines;
    int64_t oldest_unsent_ns; /* 0: nothing pending */
    int64_t failures;
    /* Counters since start (the store keeps the durable ones). */
    int64_t lines_sent, bytes_sent, batches_failed, base_lines, base_bytes, base_failed;
    int64_t lines_missed; /* the store's count, read with the lag */
    struct worker *next;
} worker;

static struct {
    lt_drains_config cfg;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    pthread_mutex_t lock; /* guards workers and poke */
    pthread_cond_t poked;
    bool poke;
    worker *workers;
    char hostname[256];
} manager = {.lock = PTHREAD_MUTEX_INITIALIZER, .poked = PTHREAD_COND_INITIALIZER};

const int *lt_drains_own_ports(void)
{
    return manager.cfg.own_ports;
}

void lt_drains_poke(void)
{
    pthread_mutex_lock(&manager.lock);
    manager.poke = true;
    pthread_cond_signal(&manager.poked);
    pthread_mutex_unlock(&manager.lock);
}

static void set_state(worker *w, const char *state, const char *error)
{
    pthread_mutex_lock(&w->lock);
    w->state = state;
    if (error != NULL)
        snprintf(w->last_error, sizeof w->last_error, "%s", error);
    pthread_mutex_unlock(&w->lock);
}

/* Sleep `ns`, waking early when stopped. */
static void nap(worker *w, int64_t ns)
{
    int64_t end = lt_mono_ns() + ns;
    while (!atomic_load(&w->stop)) {
        int64_t left = end - lt_mono_ns();
        if (left <= 0)
            return;
        usleep((useconds_t)(left > 100000000 ? 100000 : left / 1000 + 1));
    }
}

static int64_t backoff_ns(int64_t failures)
{
    int64_t cap = manager.cfg.backoff_max_ns;
    int64_t wait = BACKOFF_BASE_NS;
    for (int64_t i = 1; i < failures && wait < cap; i++)
        wait *= 2;
    if (wait > cap)
        wait = cap;
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, 0) != sizeof r)
        r = (uint32_t)lt_mono_ns();
    /* Full jitter over the upper half: retries of many drains spread out,
     * and none retries sooner than half its backoff. */
    return wait / 2 + (int64_t)((double)(wait / 2) * ((double)r / 4294967296.0));
}

struct batch_read {
    worker *w;
    lt_drain_batch *batch;
    int64_t scanned; /* the last line ID looked at */
    int64_t max_bytes;
    bool failed;
};

static int take_line(const lt_line *line, void *ctx)
{
    struct batch_read *r = ctx;
    if (r->w->drain.requests_only && line->request_id == NULL) {
        r->scanned = line->id;
        return 0;
    }
    if (lt_drain_batch_add(r->batch, line) != 0) {
        r->failed = true;
        return 1;
    }
    r->scanned = line->id;
    return (int64_t)lt_drain_batch_size(r->batch) >= r->max_bytes ? 1 : 0;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    lt_drain *d = &w->drain;
    char err[256], secret[LT_DRAIN_SECRET_LEN + 1];
    lt_store_reader *rd = lt_store_reader_open_for(manager.cfg.store, err, sizeof err);
    lt_store_drains *dh = rd != NULL ? lt_store_drains_open_for(manager.cfg.store, err, sizeof err) : NULL;
    lt_drain_sender *sender = NULL;
    if (rd == NULL || dh == NULL) {
        set_state(w, "stopped", err);
        lt_log("drain %s: cannot open the store: %s", d->id, err);
        goto out;
    }
    if (lt_drain_secret_open(d->id, d->sealed_secret, d->sealed_secret_len, secret) != 0) {
        set_state(w, "stopped", "its secret does not open with DATA/drains.key");
        lt_log("drain %s: its secret does not open with this data directory's drains.key", d->id);
        goto out;
    }
    lt_drain_sender_config scfg = {
        .kind = (lt_drain_kind)lt_drain_kind_parse(d->kind),
        .url = d->url,
        .drain_id = d->id,
        .secret = secret,
        .ca_file = manager.cfg.ca_file,
        .timeout_ns = manager.cfg.timeout_ns,
        .allow_loopback = d->allow_loopback,
        .own_ports = manager.cfg.own_ports,
        .stop = &w->stop,
    };
    sender = lt_drain_sender_new(&scfg);
    if (sender == NULL) {
        set_state(w, "stopped", "bad url");
        goto out;
    }
    int64_t cursor = d->cursor, next_lag = 0;
    /* A batch in flight when the collector stopped: rebuilt from the same
     * lines first, so that it goes out again under the same key. */
    int64_t replay_last = d->inflight_last > cursor ? d->inflight_last : 0;
    set_state(w, "idle", NULL);
    while (!atomic_load(&w->stop)) {
        int64_t seen = lt_store_last_id(manager.cfg.store);
        lt_drain_batch batch;
        lt_drain_batch_begin(&batch, scfg.kind, manager.hostname);
        lt_query q = LT_QUERY_INIT;
        q.app_id = d->app_id;
        q.runner_id = d->runner_id[0] ? d->runner_id : NULL;
        q.source = d->source[0] ? d->source : NULL;
        q.min_level = d->min_level;
        q.after_id = cursor;
        q.limit = manager.cfg.batch_lines;
        q.before_id = replay_last > cursor ? replay_last + 1 : 0;
        struct batch_read r = {
            .w = w, .batch = &batch, .scanned = cursor, .max_bytes = manager.cfg.batch_bytes};
        long n = lt_store_query(rd, &q, take_line, &r);
        if (n < 0 || r.failed || lt_drain_batch_finish(&batch) != 0) {
            lt_drain_batch_release(&batch);
            set_state(w, "retrying", n < 0 ? "cannot read the store" : "out of memory");
            nap(w, backoff_ns(1));
            continue;
        }
        int64_t now = lt_mono_ns();
        if (now >= next_lag) {
            int64_t lag = lt_store_drain_backlog(dh, d->app_id, cursor, LAG_CAP);
            lt_drain row;
            bool have_row = lt_store_drain_get(dh, d->id, &row) == 1;
            pthread_mutex_lock(&w->lock);
            w->lag_lines = lag >= 0 ? lag : w->lag_lines;
            if (have_row)
                w->lines_missed = row.lines_missed;
            pthread_mutex_unlock(&w->lock);
            next_lag = now + LAG_INTERVAL_NS;
        }
        if (batch.lines == 0) {
            lt_drain_batch_release(&batch);
            if (replay_last > cursor) { /* retention took the batch in flight */
                replay_last = 0;
                continue;
            }
            if (r.scanned > cursor) { /* only lines the filters refused */
                lt_store_drain_advance(dh, d->id, cursor, r.scanned, 0, 0);
                cursor = r.scanned;
                continue;
            }
            pthread_mutex_lock(&w->lock);
            w->state = "idle";
            w->oldest_unsent_ns = 0;
            w->lag_lines = 0;
            pthread_mutex_unlock(&w->lock);
            lt_store_wait(manager.cfg.store, seen, 500);
            continue;
        }
        if (replay_last <= cursor && lt_store_drain_inflight(dh, d->id, batch.last_id) != 0) {
            lt_drain_batch_release(&batch);
            set_state(w, "retrying", "cannot write the drain's state");
            nap(w, backoff_ns(1));
            continue;
        }
        replay_last = 0;
        pthread_mutex_lock(&w->lock);
        w->oldest_unsent_ns = batch.first_ts_ns;
        if (w->failures == 0)
            w->state = "sending";
        pthread_mutex_unlock(&w->lock);
        /* The same batch until the destination takes it (or we stop). */
        while (!atomic_load(&w->stop)) {
            char why[256];
            if (lt_drain_send(sender, &batch, why, sizeof why) == 0) {
                int64_t new_cursor = r.scanned > batch.last_id ? r.scanned : batch.last_id;
                /* The destination has the batch: the cursor must follow,
                 * or a restart sends it again (identifiably, by key). */
                for (int attempt = 0; lt_store_drain_advance(dh, d->id, cursor, new_cursor, batch.lines,
                                                             (int64_t)batch.body.len) != 0 &&
                                      attempt < 50 && !atomic_load(&w->stop);
                     attempt++)
                    nap(w, 100 * 1000000);
                cursor = new_cursor;
                pthread_mutex_lock(&w->lock);
                w->lines_sent += batch.lines;
                w->bytes_sent += (int64_t)batch.body.len;
                w->failures = 0;
                w->state = "sending";
                w->lag_lines = w->lag_lines > batch.lines ? w->lag_lines - batch.lines : 0;
                pthread_mutex_unlock(&w->lock);
                break;
            }
            if (atomic_load(&w->stop))
                break;
            lt_store_drain_failed(dh, d->id);
            int64_t failures;
            pthread_mutex_lock(&w->lock);
            failures = ++w->failures;
            w->batches_failed++;
            w->state = "retrying";
            snprintf(w->last_error, sizeof w->last_error, "%s", why);
            pthread_mutex_unlock(&w->lock);
            if (failures == 1 || failures % 20 == 0)
                lt_log("drain %s: batch of lines %lld..%lld not delivered (attempt %lld): %s", d->id,
                       (long long)batch.first_id, (long long)batch.last_id, (long long)failures, why);
            nap(w, backoff_ns(failures));
        }
        lt_drain_batch_release(&batch);
    }
out:
    explicit_bzero(secret, sizeof secret);
    lt_drain_sender_free(sender);
    lt_store_drains_close(dh);
    lt_store_reader_close(rd);
    set_state(w, "stopped", NULL);
    atomic_store(&w->running, false);
    return NULL;
}

static int mark_drain(const lt_drain *drain, void *ctx)
{
    (void)ctx;
    for (worker *w = manager.workers; w != NULL; w = w->next)
        if (strcmp(w->drain.id, drain->id) == 0) {
            w->seen = true;
            return 0;
        }
    worker *w = calloc(1, sizeof *w);
    if (w == NULL)
        return 0;
    w->drain = *drain;
    w->seen = true;
    w->state = "starting";
    w->base_lines = drain->lines_sent;
    w->base_bytes = drain->bytes_sent;
    w->base_failed = drain->batches_failed;
    w->lines_missed = drain->lines_missed;
    pthread_mutex_init(&w->lock, NULL);
    atomic_store(&w->running, true);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        lt_log("drain %s: cannot start its thread", drain->id);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return 0;
    }
    w->next = manager.workers;
    manager.workers = w;
    return 0;
}

static void stop_worker(worker *w)
{
    atomic_store(&w->stop, true);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

/* Start and stop workers to match the drains table. Called with the lock. */
static void reconcile(lt_store_drains *dh)
{
    for (worker *w = manager.workers; w != NULL; w = w->next)
        w->seen = false;
    if (lt_store_drain_list(dh, NULL, mark_drain, NULL) < 0) {
        for (worker *w = manager.workers; w != NULL; w = w->next)
            w->seen = true; /* a failed look removes nothing */
        return;
    }
    worker **link = &manager.workers;
    while (*link != NULL) {
        worker *w = *link;
        if (w->seen) {
            link = &w->next;
            continue;
        }
        *link = w->next;
        stop_worker(w);
    }
}

static void *manager_main(void *arg)
{
    lt_store_drains *dh = arg;
    pthread_mutex_lock(&manager.lock);
    while (!atomic_load(&manager.stop)) {
        reconcile(dh);
        if (!manager.poke) {
            struct timespec deadline = lt_mono_deadline(MANAGER_INTERVAL_MS);
            pthread_cond_timedwait(&manager.poked, &manager.lock, &deadline);
        }
        manager.poke = false;
    }
    while (manager.workers != NULL) {
        worker *w = manager.workers;
        manager.workers = w->next;
        stop_worker(w);
    }
    pthread_mutex_unlock(&manager.lock);
    lt_store_drains_close(dh);
    return NULL;
}

int lt_drains_start(const lt_drains_config *cfg, char *err, size_t errlen)
{
    assert(!manager.started && cfg->batch_lines > 0 && cfg->batch_bytes > 0);
    manager.cfg = *cfg;
    if (gethostname(manager.hostname, sizeof manager.hostname - 1) != 0)
        snprintf(manager.hostname, sizeof manager.hostname, "-");
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return -1;
    }
    lt_store_drains *dh = lt_store_drains_open_for(cfg->store, err, errlen);
    if (dh == NULL)
        return -1;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_destroy(&manager.poked);
    pthread_cond_init(&manager.poked, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&manager.thread, NULL, manager_main, dh) != 0) {
        lt_store_drains_close(dh);
        snprintf(err, errlen, "cannot start the drain manager");
        return -1;
    }
    manager.started = true;
    return 0;
}

void lt_drains_stop(void)
{
    if (!manager.started)
        return;
    /* Workers first, without the manager's lock, so a transfer gives up
     * at once; then the manager joins them. */
    pthread_mutex_lock(&manager.lock);
    atomic_store(&manager.stop, true);
    for (worker *w = manager.workers; w != NULL; w = w->next)
        atomic_store(&w->stop, true);
    pthread_cond_signal(&manager.poked);
    pthread_mutex_unlock(&manager.lock);
    pthread_join(manager.thread, NULL);
    manager.started = false;
}

static void status_of(worker *w, lt_drain_status *out)
{
    int64_t now = lt_time_now_ns();
    pthread_mutex_lock(&w->lock);
    out->state = w->state;
    snprintf(out->last_error, sizeof out->last_error, "%s", w->last_error);
    out->lag_lines = w->lag_lines;
    out->lag_seconds = w->oldest_unsent_ns > 0 && now > w->oldest_unsent_ns
                           ? (double)(now - w->oldest_unsent_ns) / 1e9
                           : 0.0;
    out->failures = w->failures;
    pthread_mutex_unlock(&w->lock);
}

bool lt_drains_status(const char *id, lt_drain_status *out)
{
    bool found = false;
    pthread_mutex_lock(&manager.lock);
    for (worker *w = manager.workers; w != NULL && !found; w = w->next)
        if (strcmp(w->drain.id, id) == 0) {
            status_of(w, out);
            found = true;
        }
    pthread_mutex_unlock(&manager.lock);
    return found;
}

static void write_label_value(FILE *f, const char *text)
{
    for (const char *c = text; *c; c++) {
        if (*c == '\\' || *c == '"')
            fputc('\\', f);
        fputc(*c, f);
    }
}

void lt_drains_render_metrics(FILE *f)
{
    static const char *const families[][3] = {
        {"drain_lines_sent_total", "counter", "lines a drain's destination accepted"},
        {"drain_bytes_sent_total", "counter", "payload bytes a drain's destination accepted"},
        {"drain_batches_failed_total", "counter", "batches a drain's destination did not take (retried)"},
        {"drain_lines_missed_total", "counter", "lines retention deleted before the drain delivered them"},
        {"drain_lag_lines", "gauge", "lines of the drain's app not yet delivered (capped at 1M)"},
        {"drain_lag_seconds", "gauge", "age of the oldest line not yet delivered"},
        {"drain_up", "gauge", "1 unless the drain's last attempt failed"},
    };
    pthread_mutex_lock(&manager.lock);
    for (size_t k = 0; k < sizeof families / sizeof families[0]; k++) {
        fprintf(f, "# HELP logtap_%s %s\n# TYPE logtap_%s %s\n", families[k][0], families[k][2],
                families[k][0], families[k][1]);
        for (worker *w = manager.workers; w != NULL; w = w->next) {
            lt_drain_status st;
            status_of(w, &st);
            int64_t lines, bytes, failed, missed;
            pthread_mutex_lock(&w->lock);
            lines = w->base_lines + w->lines_sent;
            bytes = w->base_bytes + w->bytes_sent;
            failed = w->base_failed + w->batches_failed;
            missed = w->lines_missed;
            pthread_mutex_unlock(&w->lock);
            fprintf(f, "logtap_%s{drain=\"%s\",app=\"", families[k][0], w->drain.id);
            write_label_value(f, w->drain.app_id); /* app IDs may hold '"' and '\\' */
            fprintf(f, "\",kind=\"%s\"} ", w->drain.kind);
            switch (k) {
            case 0: fprintf(f, "%lld\n", (long long)lines); break;
            case 1: fprintf(f, "%lld\n", (long long)bytes); break;
            case 2: fprintf(f, "%lld\n", (long long)failed); break;
            case 3: fprintf(f, "%lld\n", (long long)missed); break;
            case 4: fprintf(f, "%lld\n", (long long)st.lag_lines); break;
            case 5: fprintf(f, "%.3f\n", st.lag_seconds); break;
            default: fprintf(f, "%d\n", st.failures == 0 ? 1 : 0); break;
            }
        }
    }
    pthread_mutex_unlock(&manager.lock);
}
