/* store.c -- the store's front: picks a backend, dispatches the lt_store_*
 * calls of store.h to it, and owns what every backend shares.
 *
 * What it owns, and why here:
 * - The committed-line counter and the follower wait. Followers must not
 *   poll the store: lt_store_commit publishes the new last ID under a
 *   mutex and broadcasts a condition variable, and followers wait on it
 *   (lt_store_wait) from any thread. Nothing in that depends on where the
 *   lines live, so each backend only reports the IDs it committed.
 * - The commit hook, handed to the backend's commit to run inside the unit.
 * - The commit metrics (lt_store_note_commit), so that every backend's
 *   commits are counted the same way.
 * - The contract's cheap checks (store.h): lines appended are well formed,
 *   queries deliver ascending IDs after the cursor, the counter only grows.
 *
 * Invariants (asserted):
 * - committed_last_id only grows and every line with an ID at or below it
 *   is committed (the backend reported it from a successful commit).
 * - Lines reach a query's callback in ascending ID order, each above the
 *   query's after_id.
 */
#include "store.h"

#include "clock.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "metrics.h"

static const lt_store_backend *const backends[] = {&lt_store_sqlite};
#define DEFAULT_BACKEND (&lt_store_sqlite)

struct lt_store {
    const lt_store_backend *backend;
    char *location; /* what the backend was opened on, for readers */
    lt_backend_writer *writer;
    lt_store_commit_hook commit_hook; /* writes into each commit unit last */
    void *commit_hook_ctx;

    /* The only state other threads touch. */
    pthread_mutex_t lock;
    pthread_cond_t committed;  /* broadcast after each commit with lines */
    int64_t committed_last_id; /* guarded by lock */
};

struct lt_store_reader {
    const lt_store_backend *backend;
    lt_backend_reader *reader;
};

void lt_store_errorf(char *buf, size_t size, const char *fmt, ...)
{
    if (buf == NULL || size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

void lt_store_note_commit(int64_t elapsed_ns)
{
    uint64_t elapsed = elapsed_ns > 0 ? (uint64_t)elapsed_ns : 0;
    uint64_t seen = atomic_load_explicit(&lt_metrics_global.store_commit_ns_max, memory_order_relaxed);
    while (elapsed > seen &&
           !atomic_compare_exchange_weak_explicit(&lt_metrics_global.store_commit_ns_max, &seen, elapsed,
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
    lt_metrics_commit_time(elapsed);
    LT_COUNT(store_commits, 1);
}

/* ---- writer ---- */

lt_store *lt_store_open_backend(const char *backend, const char *dir, char *err, size_t errlen)
{
    const lt_store_backend *chosen = backend == NULL ? DEFAULT_BACKEND : NULL;
    for (size_t i = 0; chosen == NULL && i < sizeof backends / sizeof backends[0]; i++)
        if (strcmp(backends[i]->name, backend) == 0)
            chosen = backends[i];
    if (chosen == NULL) {
        lt_store_errorf(err, errlen, "no store backend named \"%s\"", backend);
        return NULL;
    }
    lt_store *st = calloc(1, sizeof *st);
    if (st == NULL) {
        lt_store_errorf(err, errlen, "out of memory");
        return NULL;
    }
    st->backend = chosen;
    st->location = strdup(dir);
    st->writer = st->location ? chosen->open(dir, &st->committed_last_id, err, errlen) : NULL;
    if (st->writer == NULL) {
        if (!st->location)
            lt_store_errorf(err, errlen, "out of memory");
        free(st->location);
        free(st);
        return NULL;
    }
    assert(st->committed_last_id >= 0);

    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    /* Followers wait with timeouts; wall-clock jumps must not stretch them. */
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&st->committed, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&st->lock, NULL);
    return st;
}

lt_store *lt_store_open(const char *dir, char *err, size_t errlen)
{
    return lt_store_open_backend(NULL, dir, err, errlen);
}

const char *lt_store_error(const lt_store *st)
{
    return st->backend->error(st->writer);
}

size_t lt_store_pending(const lt_store *st)
{
    return st->backend->pending(st->writer);
}

int lt_store_append(lt_store *st, const lt_line *line)
{
    assert(line != NULL && line->runner_id != NULL);
    assert(line->stream == 1 || line->stream == 2);
    assert(line->level >= 0 && line->level < LT_LEVEL_COUNT);
    assert(line->message != NULL || line->message_len == 0);
    return st->backend->append(st->writer, line);
}

int lt_store_runner_seen(lt_store *st, const char *runner_id, const char *app_id, const char *version_id,
                         const char *source, int64_t ts_ns)
{
    assert(runner_id != NULL);
    return st->backend->runner_seen(st->writer, runner_id, app_id, version_id, source, ts_ns);
}

int lt_store_request_begin(lt_store *st, const char *request_id, const char *runner_id, const char *app_id,
                           const char *version_id, const char *caller, int64_t ts_ns)
{
    assert(request_id != NULL && runner_id != NULL);
    int rc = st->backend->request_begin(st->writer, request_id, runner_id, app_id, version_id, caller, ts_ns);
    assert(rc == -1 || rc == 0 || rc == LT_BEGIN_OTHER_APP || rc == LT_BEGIN_COMPLETED);
    return rc;
}

int lt_store_request_end(lt_store *st, const char *request_id, int64_t ts_ns)
{
    return lt_store_request_end_error(st, request_id, NULL, ts_ns, NULL, NULL);
}

int lt_store_request_end_error(lt_store *st, const char *request_id, const char *app_id, int64_t ts_ns,
                               const char *error_type, const char *error)
{
    assert(request_id != NULL);
    assert(error == NULL || error_type != NULL); /* a message always has a type */
    assert(error == NULL || strlen(error) <= LT_WIRE_MAX_ERROR_MESSAGE);
    return st->backend->request_end(st->writer, request_id, app_id, ts_ns, error_type, error);
}

int lt_store_request_hold(lt_store *st, const char *request_id, uint64_t instance)
{
    assert(request_id != NULL);
    return st->backend->request_hold(st->writer, request_id, instance);
}

int lt_store_request_join(lt_store *st, const char *request_id, const char *app_id, uint64_t instance)
{
    assert(request_id != NULL && app_id != NULL);
    return st->backend->request_join(st->writer, request_id, app_id, instance);
}

long lt_store_instance_gone(lt_store *st, uint64_t instance, int64_t ts_ns)
{
    return st->backend->instance_gone(st->writer, instance, ts_ns);
}

int lt_store_request_enqueue(lt_store *st, const char *request_id, const char *app_id, const char *caller,
                             int64_t ts_ns)
{
    assert(request_id != NULL && app_id != NULL);
    int rc = st->backend->request_enqueue(st->writer, request_id, app_id, caller, ts_ns);
    assert(rc == -1 || rc == LT_ENQUEUE_CREATED || rc == LT_ENQUEUE_EXISTS || rc == LT_ENQUEUE_CONFLICT);
    return rc;
}

void lt_store_set_commit_hook(lt_store *st, lt_store_commit_hook hook, void *ctx)
{
    st->commit_hook = hook;
    st->commit_hook_ctx = ctx;
}

/* Make committed lines visible to followers. */
static void publish_last_id(lt_store *st, int64_t last_id)
{
    pthread_mutex_lock(&st->lock);
    assert(last_id > st->committed_last_id);
    st->committed_last_id = last_id;
    pthread_cond_broadcast(&st->committed);
    pthread_mutex_unlock(&st->lock);
}

int lt_store_commit(lt_store *st)
{
    int64_t last_id = 0;
    if (st->backend->commit(st->writer, st->commit_hook, st->commit_hook_ctx, &last_id) != 0)
        return -1;
    assert(st->backend->pending(st->writer) == 0);
    if (last_id > 0)
        publish_last_id(st, last_id);
    return 0;
}

int64_t lt_store_last_id(lt_store *st)
{
    pthread_mutex_lock(&st->lock);
    int64_t last_id = st->committed_last_id;
    pthread_mutex_unlock(&st->lock);
    return last_id;
}

int64_t lt_store_wait(lt_store *st, int64_t after_id, int timeout_ms)
{
    struct timespec deadline = lt_mono_deadline(timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&st->lock);
    while (timeout_ms > 0 && st->committed_last_id <= after_id) {
        if (pthread_cond_timedwait(&st->committed, &st->lock, &deadline) == ETIMEDOUT)
            break;
    }
    int64_t last_id = st->committed_last_id;
    pthread_mutex_unlock(&st->lock);
    return last_id;
}

void lt_store_close(lt_store *st)
{
    if (st == NULL)
        return;
    if (lt_store_commit(st) != 0)
        fprintf(stderr, "logtap: store: final commit failed: %s\n", lt_store_error(st));
    st->backend->close(st->writer);
    pthread_cond_destroy(&st->committed);
    pthread_mutex_destroy(&st->lock);
    free(st->location);
    free(st);
}

/* ---- delivery state ---- */

int lt_store_delivery_load(lt_store *st, uint64_t instance, lt_delivery_state *out,
                           lt_delivery_stream_cb on_stream, void *ctx)
{
    return st->backend->delivery_load(st->writer, instance, out, on_stream, ctx);
}

int lt_store_delivery_save(lt_store *st, uint64_t instance, const lt_delivery_state *state, int64_t now_ns)
{
    assert(!state->finished);
    return st->backend->delivery_save(st->writer, instance, state, now_ns);
}

int lt_store_delivery_save_stream(lt_store *st, uint64_t instance, uint32_t tid, int fd, uint64_t pos,
                                  uint32_t off)
{
    return st->backend->delivery_save_stream(st->writer, instance, tid, fd, pos, off);
}

int lt_store_delivery_prune(lt_store *st, uint64_t instance, uint64_t below)
{
    return st->backend->delivery_prune(st->writer, instance, below);
}

int lt_store_delivery_finish(lt_store *st, uint64_t instance, int64_t now_ns)
{
    return st->backend->delivery_finish(st->writer, instance, now_ns);
}

int lt_store_delivery_expire(lt_store *st, int64_t before_ns)
{
    return st->backend->delivery_expire(st->writer, before_ns);
}

/* ---- retention ---- */

long lt_store_retain(lt_store *st, const lt_retention *policy, long max_rows, long *lines_deleted)
{
    assert(policy != NULL && max_rows > 0 && lines_deleted != NULL);
    long deleted = st->backend->retain(st->writer, policy, max_rows, lines_deleted);
    assert(deleted < 0 || (deleted <= max_rows && *lines_deleted <= deleted));
    return deleted;
}

int64_t lt_store_live_bytes(lt_store *st)
{
    return st->backend->live_bytes(st->writer);
}

/* ---- readers ---- */

static lt_store_reader *reader_open(const lt_store_backend *backend, const char *location, char *err,
                                    size_t errlen)
{
    lt_store_reader *rd = calloc(1, sizeof *rd);
    if (rd == NULL) {
        lt_store_errorf(err, errlen, "out of memory");
        return NULL;
    }
    rd->backend = backend;
    rd->reader = rd->backend->reader_open(location, err, errlen);
    if (rd->reader == NULL) {
        free(rd);
        return NULL;
    }
    return rd;
}

lt_store_reader *lt_store_reader_open(const char *dir, char *err, size_t errlen)
{
    return reader_open(DEFAULT_BACKEND, dir, err, errlen);
}

lt_store_reader *lt_store_reader_open_for(const lt_store *st, char *err, size_t errlen)
{
    return reader_open(st->backend, st->location, err, errlen);
}

void lt_store_reader_close(lt_store_reader *rd)
{
    if (rd == NULL)
        return;
    rd->backend->reader_close(rd->reader);
    free(rd);
}

/* The caller's callback behind the order check. */
struct ordered_delivery {
    lt_line_cb cb;
    void *ctx;
    int64_t previous_id;
};

static int deliver_in_order(const lt_line *line, void *ctx)
{
    struct ordered_delivery *d = ctx;
    assert(line->id > d->previous_id); /* ascending, after the cursor */
    d->previous_id = line->id;
    return d->cb(line, d->ctx);
}

long lt_store_query(lt_store_reader *rd, const lt_query *q, lt_line_cb cb, void *ctx)
{
    assert(q != NULL && cb != NULL);
    assert(q->limit >= 0 && q->after_id >= 0 && q->before_id >= 0);
    struct ordered_delivery d = {.cb = cb, .ctx = ctx, .previous_id = q->after_id};
    return rd->backend->query(rd->reader, q, deliver_in_order, &d);
}

int lt_store_request_get(lt_store_reader *rd, const char *request_id, lt_request_info *out)
{
    assert(request_id != NULL && out != NULL);
    return rd->backend->request_get(rd->reader, request_id, out);
}

int lt_store_runner_known(lt_store_reader *rd, const char *runner_id)
{
    assert(runner_id != NULL);
    return rd->backend->runner_known(rd->reader, runner_id);
}

int lt_store_app_known(lt_store_reader *rd, const char *app_id)
{
    assert(app_id != NULL);
    return rd->backend->app_known(rd->reader, app_id);
}

int lt_store_runner_app(lt_store_reader *rd, const char *runner_id, char app_id[LT_WIRE_MAX_ID + 1])
{
    assert(runner_id != NULL && app_id != NULL);
    return rd->backend->runner_app(rd->reader, runner_id, app_id);
}

static void assert_list_query(const lt_list_query *q)
{
    assert(q != NULL);
    assert(q->limit > 0 && q->limit <= LT_LIST_MAX_LIMIT);
    assert(!q->has_cursor || q->cursor_id != NULL);
    const lt_any_of *sets[] = {&q->apps, &q->versions, &q->sources, &q->runners, &q->callers};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        assert(sets[i]->count >= 0 && sets[i]->count <= LT_ANY_OF_MAX);
}

long lt_store_list_runners(lt_store_reader *rd, const lt_list_query *q, lt_runner_row_cb cb, void *ctx)
{
    assert_list_query(q);
    assert(cb != NULL);
    return rd->backend->list_runners(rd->reader, q, cb, ctx);
}

long lt_store_list_requests(lt_store_reader *rd, const lt_list_query *q, lt_request_row_cb cb, void *ctx)
{
    assert_list_query(q);
    assert(cb != NULL);
    return rd->backend->list_requests(rd->reader, q, cb, ctx);
}

/* ---- drains ---- */

struct lt_store_drains {
    const lt_store_backend *backend;
    lt_backend_drains *drains;
};

lt_store_drains *lt_store_drains_open_for(const lt_store *st, char *err, size_t errlen)
{
    /* A backend may keep no drains (its members left NULL): then none can
     * be added, and the collector runs without them. */
    if (st->backend->drains_open == NULL) {
        lt_store_errorf(err, errlen, "the %s store keeps no log drains", st->backend->name);
        return NULL;
    }
    lt_store_drains *d = calloc(1, sizeof *d);
    if (d == NULL) {
        lt_store_errorf(err, errlen, "out of memory");
        return NULL;
    }
    d->backend = st->backend;
    d->drains = st->backend->drains_open(st->location, err, errlen);
    if (d->drains == NULL) {
        free(d);
        return NULL;
    }
    return d;
}

void lt_store_drains_close(lt_store_drains *d)
{
    if (d == NULL)
        return;
    d->backend->drains_close(d->drains);
    free(d);
}

const char *lt_store_drains_error(const lt_store_drains *d)
{
    return d->backend->drains_error(d->drains);
}

int lt_store_drain_add(lt_store_drains *d, const lt_drain *drain)
{
    assert(drain->id[0] != '\0' && drain->app_id[0] != '\0' && drain->cursor >= 0);
    return d->backend->drain_add(d->drains, drain);
}

long lt_store_drain_list(lt_store_drains *d, const char *app_id, lt_drain_cb cb, void *ctx)
{
    return d->backend->drain_list(d->drains, app_id, cb, ctx);
}

int lt_store_drain_get(lt_store_drains *d, const char *id, lt_drain *out)
{
    return d->backend->drain_get(d->drains, id, out);
}

int lt_store_drain_remove(lt_store_drains *d, const char *id)
{
    return d->backend->drain_remove(d->drains, id);
}

int lt_store_drain_advance(lt_store_drains *d, const char *id, int64_t from, int64_t cursor, int64_t lines,
                           int64_t bytes)
{
    assert(from >= 0 && cursor >= from && lines >= 0 && lines <= cursor - from && bytes >= 0);
    return d->backend->drain_advance(d->drains, id, from, cursor, lines, bytes);
}

int lt_store_drain_inflight(lt_store_drains *d, const char *id, int64_t last_id)
{
    assert(last_id > 0);
    return d->backend->drain_inflight(d->drains, id, last_id);
}

int lt_store_drain_failed(lt_store_drains *d, const char *id)
{
    return d->backend->drain_failed(d->drains, id);
}

int64_t lt_store_drain_backlog(lt_store_drains *d, const char *app_id, int64_t after_id, int64_t cap)
{
    return d->backend->drain_backlog(d->drains, app_id, after_id, cap);
}
