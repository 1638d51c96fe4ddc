/* backend.h -- how a store backend plugs into the front (store.c).
 *
 * A backend is a folder under store/ (store/sqlite/ today) that fills in
 * one lt_store_backend: a name and the functions below. The front
 * (store.c) picks a backend by name, dispatches every lt_store_* call to
 * it, asserts the contract where it is cheap, and keeps what does not
 * depend on the backend: the committed-line counter that followers wait
 * on, the commit hook, the commit metrics.
 *
 * Each backend completes the two handle types for itself
 * (struct lt_backend_writer, struct lt_backend_reader); the front only
 * passes them back. Every function has the meaning of the lt_store_* call
 * of the same name in store.h and must give store.h's guarantees, with
 * these differences:
 * - open reports the highest line ID ever committed (also of deleted
 *   lines) in *last_id, so that the front's counter starts there;
 * - close is called after the front's final commit and only releases;
 * - commit runs `hook` (if any) inside the unit it commits, after
 *   refusing a unit a failed write spoiled, and reports in *last_id the
 *   highest line ID the unit added (0 if none) for the front to publish.
 *   It calls lt_store_note_commit with the time the commit itself took;
 * - query delivers lines in ascending ID order after q->after_id;
 * - list_runners and list_requests deliver rows newest first, after the
 *   cursor (store.h, "lists").
 */
#ifndef LT_STORE_BACKEND_H
#define LT_STORE_BACKEND_H

#include <stdint.h>

#include "store.h"

typedef struct lt_backend_writer lt_backend_writer;
typedef struct lt_backend_reader lt_backend_reader;
typedef struct lt_backend_drains lt_backend_drains;

typedef struct lt_store_backend {
    const char *name;

    /* ---- writer (one thread) ---- */
    lt_backend_writer *(*open)(const char *dir, int64_t *last_id, char *err, size_t errlen);
    void (*close)(lt_backend_writer *w);
    const char *(*error)(const lt_backend_writer *w);
    size_t (*pending)(const lt_backend_writer *w);
    int (*append)(lt_backend_writer *w, const lt_line *line);
    int (*runner_seen)(lt_backend_writer *w, const char *runner_id, const char *app_id,
                       const char *version_id, const char *source, int64_t ts_ns);
    int (*request_begin)(lt_backend_writer *w, const char *request_id, const char *runner_id,
                         const char *app_id, const char *version_id, const char *caller, int64_t ts_ns);
    int (*request_end)(lt_backend_writer *w, const char *request_id, const char *app_id, int64_t ts_ns,
                       const char *error_type, const char *error);
    int (*request_hold)(lt_backend_writer *w, const char *request_id, uint64_t instance);
    int (*request_join)(lt_backend_writer *w, const char *request_id, const char *app_id, uint64_t instance);
    long (*instance_gone)(lt_backend_writer *w, uint64_t instance, int64_t ts_ns);
    int (*request_enqueue)(lt_backend_writer *w, const char *request_id, const char *app_id,
                           const char *caller, int64_t ts_ns);
    int (*commit)(lt_backend_writer *w, lt_store_commit_hook hook, void *hook_ctx, int64_t *last_id);

    /* ---- delivery state (writer thread, in the open unit) ---- */
    int (*delivery_load)(lt_backend_writer *w, uint64_t instance, lt_delivery_state *out,
                         lt_delivery_stream_cb on_stream, void *ctx);
    int (*delivery_save)(lt_backend_writer *w, uint64_t instance, const lt_delivery_state *state,
                         int64_t now_ns);
    int (*delivery_save_stream)(lt_backend_writer *w, uint64_t instance, uint32_t tid, int fd, uint64_t pos,
                                uint32_t off);
    int (*delivery_prune)(lt_backend_writer *w, uint64_t instance, uint64_t below);
    int (*delivery_finish)(lt_backend_writer *w, uint64_t instance, int64_t now_ns);
    int (*delivery_expire)(lt_backend_writer *w, int64_t before_ns);

    /* ---- retention (writer thread) ---- */
    long (*retain)(lt_backend_writer *w, const lt_retention *policy, long max_rows, long *lines_deleted);
    int64_t (*live_bytes)(lt_backend_writer *w);

    /* ---- readers (one per thread) ---- */
    lt_backend_reader *(*reader_open)(const char *dir, char *err, size_t errlen);
    void (*reader_close)(lt_backend_reader *r);
    long (*query)(lt_backend_reader *r, const lt_query *q, lt_line_cb cb, void *ctx);
    int (*request_get)(lt_backend_reader *r, const char *request_id, lt_request_info *out);
    int (*runner_known)(lt_backend_reader *r, const char *runner_id);
    int (*app_known)(lt_backend_reader *r, const char *app_id);
    int (*runner_app)(lt_backend_reader *r, const char *runner_id, char app_id[LT_WIRE_MAX_ID + 1]);
    long (*list_runners)(lt_backend_reader *r, const lt_list_query *q, lt_runner_row_cb cb, void *ctx);
    long (*list_requests)(lt_backend_reader *r, const lt_list_query *q, lt_request_row_cb cb, void *ctx);

    /* ---- drains (one handle per thread); all NULL: no drains ---- */
    lt_backend_drains *(*drains_open)(const char *dir, char *err, size_t errlen);
    void (*drains_close)(lt_backend_drains *d);
    const char *(*drains_error)(const lt_backend_drains *d);
    int (*drain_add)(lt_backend_drains *d, const lt_drain *drain);
    long (*drain_list)(lt_backend_drains *d, const char *app_id, lt_drain_cb cb, void *ctx);
    int (*drain_get)(lt_backend_drains *d, const char *id, lt_drain *out);
    int (*drain_remove)(lt_backend_drains *d, const char *id);
    int (*drain_advance)(lt_backend_drains *d, const char *id, int64_t from, int64_t cursor, int64_t lines,
                         int64_t bytes);
    int (*drain_failed)(lt_backend_drains *d, const char *id);
    int (*drain_inflight)(lt_backend_drains *d, const char *id, int64_t last_id);
    int64_t (*drain_backlog)(lt_backend_drains *d, const char *app_id, int64_t after_id, int64_t cap);
} lt_store_backend;

/* The backends there are. */
extern const lt_store_backend lt_store_sqlite;

/* For backends: printf into an error buffer (NULL or size 0: nothing). */
void lt_store_errorf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* For backends: count one commit that took `elapsed_ns` in the metrics. */
void lt_store_note_commit(int64_t elapsed_ns);

#endif
