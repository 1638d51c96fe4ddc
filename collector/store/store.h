/* store.h -- the log store behind one small interface: append, commit, query,
 * and a change counter for followers. This header is the contract: every
 * backend (store/backend.h says how one plugs in; store/sqlite/ is the
 * embedded one and the default) gives the guarantees below, and nothing
 * above this header knows which backend it talks to.
 *
 * Threads. One lt_store handle is the single writer and is used only by the
 * ingest thread. Readers (HTTP threads, tests) each open their own
 * lt_store_reader and read while the writer writes. lt_store_last_id and
 * lt_store_wait may be called from any thread.
 *
 * Runner scope and request scope are two views of one set of lines: every
 * line has its runner; lines written inside a request also carry the
 * request ID.
 *
 * What every backend guarantees:
 * - Line IDs. Each appended line gets an ID greater than every ID handed
 *   out before, in this process or an earlier one on the same store, even
 *   after retention deleted the lines that had them: an ID is never
 *   reused, so a cursor (lt_query.after_id / before_id) stays meaningful
 *   forever. Queries deliver lines in ascending ID order, after the
 *   cursor (the front asserts both).
 * - Committed. lt_store_commit returning 0 means every line, runner and
 *   request row and delivery-state write since the previous commit is
 *   durable against a crash of the collector (the ack protocol's promise:
 *   acked means stored) and visible to every read that starts afterwards.
 *   lt_store_last_id() is the highest committed line ID; it only grows,
 *   and every line at or below it is committed.
 * - All or nothing. A failed write (-1 from append, runner_seen,
 *   request_begin/end, a delivery_* call or commit) throws away everything
 *   since the last successful commit, and the next lt_store_commit returns
 *   -1 too, so a caller that acknowledges only after a successful commit
 *   never acknowledges a lost line (the runners replay it). That -1 is said
 *   once: the transaction after it starts clean.
 * - Lines and delivery state together. The commit hook runs at every
 *   commit, inside the unit being committed, before it becomes durable; its
 *   writes (the assembler's delivery state, see assembler.c) and the lines
 *   they describe are durable together or not at all, and a failing hook
 *   fails the commit.
 * - Followers wait, they do not poll. After each commit that added lines,
 *   lt_store_wait wakes every waiter (store/store.c does this for every
 *   backend, from the IDs the backend reports).
 * - Retention deletes only whole lines, in a unit of its own between
 *   commits; its failure never fails the next commit. Lines go by tenant
 *   (a line's app; its runner when it has no app), each tenant's oldest
 *   first (ID order). The size limit takes from the tenant holding the
 *   most accounted bytes at that moment: a tenant loses lines to it only
 *   while no other tenant holds more, so one tenant's flood evicts its own
 *   lines before anyone else's. Request rows go by age: ended before the
 *   age limit, or begun before it and never ended.
 */
#ifndef LT_STORE_H
#define LT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "line.h"
#include "logtap_wire.h"

/* The store's file inside the data directory. */
#define LT_STORE_FILE_NAME "logtap.db"

typedef struct lt_store lt_store;
typedef struct lt_store_reader lt_store_reader;

/* ---- writer (one thread) ---- */

/* Open or create the store in `dir` (created if missing) with the default
 * backend (SQLite). On failure returns NULL and writes a message to err. */
lt_store *lt_store_open(const char *dir, char *err, size_t errlen);
/* The same with the backend named `backend` ("sqlite"; NULL: the default). */
lt_store *lt_store_open_backend(const char *backend, const char *dir, char *err, size_t errlen);
/* Commits what is pending, then closes. NULL is accepted. */
void lt_store_close(lt_store *st);

/* Queue a line in the current transaction (one is begun when needed). The
 * line is copied. Returns 0 or -1 (err message kept in lt_store_error). */
int lt_store_append(lt_store *st, const lt_line *line);
/* Record that a runner was seen (insert or update last_ts). */
int lt_store_runner_seen(lt_store *st, const char *runner_id, const char *app_id, const char *version_id,
                         const char *source, int64_t ts_ns);
/* Request lifetime (doc/http-api.md, "Request states"). A request is
 * IN_QUEUE from its announcement (lt_store_request_enqueue: the gateway
 * knows it before any runner does), IN_PROGRESS from its first BEGIN,
 * COMPLETED from its first END (or its runner's death, or an error END)
 * and for good: a later BEGIN never reopens it.
 *
 * lt_store_request_begin: a second BEGIN of the same ID (another thread or
 * a child process) keeps the first begin time. `caller` (NULL or "" for
 * none) is the identity the BEGIN named; the first one that names one
 * (the announcement included) binds it, later ones cannot change it. The
 * app is the announcement's, else the first BEGIN's. Returns 0 when the
 * BEGIN was taken, LT_BEGIN_OTHER_APP when the request was announced for
 * another app (nothing written: another app's runner cannot claim it),
 * LT_BEGIN_COMPLETED when it has ended already (nothing written), -1 on
 * error. */
enum { LT_BEGIN_OTHER_APP = 1, LT_BEGIN_COMPLETED = 2 };
int lt_store_request_begin(lt_store *st, const char *request_id, const char *runner_id, const char *app_id,
                           const char *version_id, const char *caller, int64_t ts_ns);
/* END sets the end time (several threads may END one request: the latest
 * END wins). lt_store_request_end_error also records why the request
 * failed: `error_type` (an ID, e.g. a handler's exception class, or
 * LT_ERROR_RUNNER_DIED) and `error` (a message, may be NULL), the first
 * ones recorded stay. With `app_id` non-NULL, only a request of that app
 * is ended (a runner of another app that used the same ID cannot end it).
 * 0 or -1. */
int lt_store_request_end(lt_store *st, const char *request_id, int64_t ts_ns);
int lt_store_request_end_error(lt_store *st, const char *request_id, const char *app_id, int64_t ts_ns,
                               const char *error_type, const char *error);
/* Process instance `instance` is inside `request_id` (it began it): the
 * request's runner is alive while some instance holding it is. 0 or -1. */
int lt_store_request_hold(lt_store *st, const char *request_id, uint64_t instance);
/* Instance `instance` wrote inside `request_id` (a child process that
 * inherited the marker): it holds the request too if the request is in
 * progress and of `app_id`; otherwise nothing changes. 0 or -1. */
int lt_store_request_join(lt_store *st, const char *request_id, const char *app_id, uint64_t instance);
/* Instance `instance` is gone (its EXIT, or its ring replayed after its
 * death). Every request it held that no other instance holds and that has
 * not ended is COMPLETED at `ts_ns` with error_type LT_ERROR_RUNNER_DIED.
 * Returns the number of requests so ended, or -1. */
long lt_store_instance_gone(lt_store *st, uint64_t instance, int64_t ts_ns);
/* The gateway's announcement: `request_id` is queued for `app_id`, called
 * by `caller` (NULL or "": none yet). Returns LT_ENQUEUE_CREATED for a new
 * request, LT_ENQUEUE_EXISTS when it is known already for the same app
 * (and a caller given agrees; a caller given for a request that had none
 * binds it), LT_ENQUEUE_CONFLICT when it belongs to another app or another
 * caller (nothing written), -1 on error. */
enum { LT_ENQUEUE_CREATED = 0, LT_ENQUEUE_EXISTS = 1, LT_ENQUEUE_CONFLICT = 2 };
int lt_store_request_enqueue(lt_store *st, const char *request_id, const char *app_id, const char *caller,
                             int64_t ts_ns);
/* The error_type of a request whose runner process died inside it (fal's
 * name for a runner lost mid-request). */
#define LT_ERROR_RUNNER_DIED "runner_disconnected"
/* Commit the current transaction, if any. Returns 0 or -1. After success,
 * lt_store_last_id() reflects the new rows and waiting followers wake. */
int lt_store_commit(lt_store *st);
/* Rows appended but not yet committed. */
size_t lt_store_pending(const lt_store *st);
const char *lt_store_error(const lt_store *st);

/* ---- delivery state (writer thread) ----
 *
 * What each runner process instance's records have put in the store, so
 * that records sent again after a collector restart are stored once (the
 * assembler owns the meaning; see assembler.c, "Delivery state"). It is
 * written into the same transactions as the lines it describes. */

typedef struct lt_delivery_state {
    uint64_t last_pos; /* every record at or below it has been applied */
    uint64_t dropped;  /* dropped bytes already shown in a marker line */
    bool finished;     /* the instance's ring is gone: nothing more will come */
    /* Who the instance belongs to: the runner and app of the first frame
     * the collector took from it (assembler.c, "Instances belong to their
     * first identity"). Saved once: a later save never changes it. Loaded
     * "" for an instance saved before owners were kept. */
    char runner_id[LT_WIRE_MAX_ID + 1];
    char app_id[LT_WIRE_MAX_ID + 1];
} lt_delivery_state;

/* Called once per stored (thread, stream) point of an instance. */
typedef void (*lt_delivery_stream_cb)(void *ctx, uint32_t tid, int fd, uint64_t pos, uint32_t off);

/* Returns 1 and fills *out (calling on_stream for each point) if the
 * instance is known, 0 if not, -1 on error. */
int lt_store_delivery_load(lt_store *st, uint64_t instance, lt_delivery_state *out,
                           lt_delivery_stream_cb on_stream, void *ctx);
int lt_store_delivery_save(lt_store *st, uint64_t instance, const lt_delivery_state *state, int64_t now_ns);
/* Every byte of (tid, fd) before (pos, off) is stored. */
int lt_store_delivery_save_stream(lt_store *st, uint64_t instance, uint32_t tid, int fd, uint64_t pos,
                                  uint32_t off);
/* Forget the points before `below` (the runner never sends those again). */
int lt_store_delivery_prune(lt_store *st, uint64_t instance, uint64_t below);
/* The instance is over: keep only the fact, so late frames are ignored. */
int lt_store_delivery_finish(lt_store *st, uint64_t instance, int64_t now_ns);
/* Forget instances finished before `before_ns`. */
int lt_store_delivery_expire(lt_store *st, int64_t before_ns);

/* `hook` runs at every lt_store_commit, before the transaction commits, and
 * may write (its writes open a transaction if none is open); if it returns
 * non-zero the commit fails and rolls back. NULL removes it. */
typedef int (*lt_store_commit_hook)(void *ctx);
void lt_store_set_commit_hook(lt_store *st, lt_store_commit_hook hook, void *ctx);

/* Highest committed line ID, readable from any thread. */
int64_t lt_store_last_id(lt_store *st);
/* Block until lt_store_last_id() > after_id or timeout_ms passes. Returns the
 * current last ID. Any thread. */
int64_t lt_store_wait(lt_store *st, int64_t after_id, int timeout_ms);

/* ---- readers (any thread, one reader per thread) ---- */

/* A reader of the store the writer `st` writes: the same backend and
 * location. What the collector's HTTP threads use, so that they read
 * whichever backend the collector was started with. */
lt_store_reader *lt_store_reader_open_for(const lt_store *st, char *err, size_t errlen);
/* A reader of the default backend's store in `dir`, for a process without
 * the writer (tests, tools). */
lt_store_reader *lt_store_reader_open(const char *dir, char *err, size_t errlen);
void lt_store_reader_close(lt_store_reader *rd);

/* "Any of": a filter given several values (empty: no filter). */
#define LT_ANY_OF_MAX 16
typedef struct lt_any_of {
    const char *values[LT_ANY_OF_MAX];
    int count;
} lt_any_of;

typedef struct lt_query {
    const char *runner_id;  /* NULL = any */
    const char *request_id; /* NULL = any (lines outside requests included) */
    const char *app_id;
    const char *version_id;
    const char *source;
    const char *search; /* substring of message, NULL = none */
    int min_level;      /* -1 = any */
    int64_t since_ns;   /* inclusive; 0 = unbounded */
    int64_t until_ns;   /* exclusive; 0 = unbounded */
    const char *owner;  /* only lines of apps this user deployed
                               (the access rule for non-admins; the
                               registry's apps say who deployed what);
                               NULL = any */
    int64_t after_id;   /* cursor: only rows with id > after_id */
    int64_t before_id;  /* cursor: only rows with id < before_id; 0 = none */
    int limit;          /* 0 = no limit */
    bool newest;        /* true: the newest `limit` rows (still delivered
                               oldest first); false: the oldest `limit` rows */
    /* "Any of" forms of the ID filters, for a filter given several values:
     * the line's ID must be one of them (and equal the single field above
     * too, when that is also set: the single fields carry the scope and
     * the access narrowing, the sets what the client asked for). */
    lt_any_of runners, requests, apps, versions;
    bool ignore_case;    /* search and exclude fold ASCII letters */
    const char *exclude; /* only lines NOT containing this; NULL = none */
} lt_query;

#define LT_QUERY_INIT                                                                                        \
    {                                                                                                        \
        .min_level = -1                                                                                      \
    }

/* Call `cb` for each matching line, in ID order. `cb` returns 0 to continue,
 * non-zero to stop. Returns the number of lines delivered, or -1 on error. */
typedef int (*lt_line_cb)(const lt_line *line, void *ctx);
long lt_store_query(lt_store_reader *rd, const lt_query *q, lt_line_cb cb, void *ctx);

enum lt_request_state { LT_REQUEST_IN_QUEUE, LT_REQUEST_IN_PROGRESS, LT_REQUEST_COMPLETED };

typedef struct lt_request_info {
    char runner_id[LT_WIRE_MAX_ID + 1]; /* "" while queued */
    char app_id[LT_WIRE_MAX_ID + 1];
    char version_id[LT_WIRE_MAX_ID + 1];
    char caller[LT_WIRE_MAX_ID + 1]; /* "" when no BEGIN named one */
    int64_t begin_ns;                /* the announcement's time while queued */
    int64_t end_ns;                  /* 0 until completed */
    enum lt_request_state state;
    int64_t queued_ns;                         /* when announced; 0 if never */
    int64_t queue_position;                    /* IN_QUEUE: the app's requests queued before it */
    char error_type[LT_WIRE_MAX_ID + 1];       /* "" unless it failed */
    char error[LT_WIRE_MAX_ERROR_MESSAGE + 1]; /* "" unless it failed */
} lt_request_info;
/* Returns 1 and fills `out` if the request is known, 0 if not, -1 on error. */
int lt_store_request_get(lt_store_reader *rd, const char *request_id, lt_request_info *out);
/* Returns 1 if the runner is known, 0 if not, -1 on error. */
int lt_store_runner_known(lt_store_reader *rd, const char *runner_id);
/* Returns 1 if any runner or line names `app_id`, 0 if none, -1 on error. */
int lt_store_app_known(lt_store_reader *rd, const char *app_id);
/* Returns 1 and writes the runner's app ID ("" if it set none) to `app_id`
 * (LT_WIRE_MAX_ID + 1 bytes) if the runner is known, 0 if not, -1 on error. */
int lt_store_runner_app(lt_store_reader *rd, const char *runner_id, char app_id[LT_WIRE_MAX_ID + 1]);

/* ---- lists of runners and requests (readers) ----
 *
 * Newest first: ordered by start time (a runner's first_ns, a request's
 * begin_ns), then by ID, both descending. The cursor is the (start, ID) of
 * the last row of the previous page; the next page holds the rows strictly
 * after it in that order. Rows that appear while a client pages start later
 * than the rows it has seen (they land before the cursor, on no later page),
 * so no row is skipped or repeated -- unless a row's start moves earlier
 * while paging (a late record older than the first one seen), which may
 * show that row once more. */

/* Request states a list may ask for (bits). */
enum { LT_LIST_IN_PROGRESS = 1 << 0, LT_LIST_COMPLETED = 1 << 1, LT_LIST_IN_QUEUE = 1 << 2 };

#define LT_LIST_MAX_LIMIT 1000

typedef struct lt_list_query {
    lt_any_of apps, versions, sources;
    lt_any_of runners; /* requests only: the runner that began it */
    lt_any_of callers; /* requests only */
    unsigned states;   /* requests only: LT_LIST_* bits, 0 = any */
    int64_t since_ns;  /* start >= since; 0 = unbounded */
    int64_t until_ns;  /* start < until; 0 = unbounded */
    /* NULL: every row (admin). A user: only the rows of apps this user
     * deployed, and for requests also those whose BEGIN named this user as
     * the caller in an app someone deployed (access.h's rules: what a
     * principal may see a row of). */
    const char *viewer;
    bool has_cursor;
    int64_t cursor_start_ns;
    const char *cursor_id;
    int limit; /* 1..LT_LIST_MAX_LIMIT */
} lt_list_query;

typedef struct lt_runner_row {
    char runner_id[LT_WIRE_MAX_ID + 1];
    char app_id[LT_WIRE_MAX_ID + 1];
    char version_id[LT_WIRE_MAX_ID + 1];
    char source[LT_WIRE_MAX_ID + 1];
    int64_t first_ns, last_ns; /* first and last record seen */
    int64_t lines;             /* lines stored under the runner ID */
} lt_runner_row;

typedef struct lt_request_row {
    char request_id[LT_WIRE_MAX_ID + 1];
    char runner_id[LT_WIRE_MAX_ID + 1];
    char app_id[LT_WIRE_MAX_ID + 1];
    char version_id[LT_WIRE_MAX_ID + 1];
    char source[LT_WIRE_MAX_ID + 1]; /* its runner's; "" if unknown */
    char caller[LT_WIRE_MAX_ID + 1]; /* "" when no BEGIN named one */
    int64_t begin_ns;
    int64_t end_ns; /* 0 while in progress */
    int64_t lines;  /* the request's lines in its app */
    enum lt_request_state state;
    char error_type[LT_WIRE_MAX_ID + 1];       /* "" unless it failed */
    char error[LT_WIRE_MAX_ERROR_MESSAGE + 1]; /* "" unless it failed */
} lt_request_row;

/* Call `cb` for each matching row, newest first; `cb` returns non-zero to
 * stop. Returns the number of rows delivered, or -1 on error. */
typedef int (*lt_runner_row_cb)(const lt_runner_row *row, void *ctx);
typedef int (*lt_request_row_cb)(const lt_request_row *row, void *ctx);
long lt_store_list_runners(lt_store_reader *rd, const lt_list_query *q, lt_runner_row_cb cb, void *ctx);
long lt_store_list_requests(lt_store_reader *rd, const lt_list_query *q, lt_request_row_cb cb, void *ctx);

/* ---- log drains (any thread, one handle per thread) ----
 *
 * The drains an app's owner attached (drain.c pushes their lines out) and
 * each one's durable cursor: every line of the drain's app with an ID at
 * or below `cursor` that its filters take has been accepted by the
 * destination. A drain handle is a connection of its own, so that the
 * HTTP threads and the drain workers write drains and cursors without
 * touching the ingest thread's transactions; each write is its own small
 * transaction. The secret is stored sealed (drain_secret.c); the store
 * never sees it in clear. */

#define LT_DRAIN_ID_MAX 40
#define LT_DRAIN_URL_MAX 1024
#define LT_DRAIN_SEALED_MAX 128

typedef struct lt_drain {
    char id[LT_DRAIN_ID_MAX + 1]; /* "drn_" + hex */
    char app_id[LT_WIRE_MAX_ID + 1];
    char kind[8]; /* ndjson, otlp, syslog */
    char url[LT_DRAIN_URL_MAX + 1];
    /* Filters: "" / -1 for none. */
    char runner_id[LT_WIRE_MAX_ID + 1];
    char source[16];
    int min_level;
    bool requests_only;  /* only lines written inside requests */
    bool allow_loopback; /* the owner allowed the collector's own loopback ports */
    unsigned char sealed_secret[LT_DRAIN_SEALED_MAX];
    size_t sealed_secret_len;
    int64_t created_ns;
    /* Progress, written by the drain's worker. */
    int64_t cursor;
    int64_t lines_sent, bytes_sent, batches_failed;
    /* The last line ID of the batch being delivered (0: none). A batch
     * whose outcome a crash left unknown is rebuilt from the same lines
     * (cursor, inflight_last], so it is sent again under the same key. */
    int64_t inflight_last;
    /* Lines the drain would have carried that retention deleted first. */
    int64_t lines_missed;
} lt_drain;

typedef struct lt_store_drains lt_store_drains;

lt_store_drains *lt_store_drains_open_for(const lt_store *st, char *err, size_t errlen);
void lt_store_drains_close(lt_store_drains *d);
const char *lt_store_drains_error(const lt_store_drains *d);
/* Insert `drain` (its cursor as given). 0, or -1. */
int lt_store_drain_add(lt_store_drains *d, const lt_drain *drain);
/* Every drain (of `app_id`; NULL: of every app), oldest first. `cb`
 * returns non-zero to stop. Returns the count delivered, or -1. */
typedef int (*lt_drain_cb)(const lt_drain *drain, void *ctx);
long lt_store_drain_list(lt_store_drains *d, const char *app_id, lt_drain_cb cb, void *ctx);
/* 1 and *out if known, 0 if not, -1 on error. */
int lt_store_drain_get(lt_store_drains *d, const char *id, lt_drain *out);
/* 1 removed, 0 unknown, -1 error. */
int lt_store_drain_remove(lt_store_drains *d, const char *id);
/* The destination accepted a batch, every line the drain takes in
 * (from, cursor]: the cursor moves to `cursor` (never back) and the
 * counters grow, in one transaction; lines of the batch that retention
 * deleted meanwhile (counted missed) are taken off lines_missed, since
 * they were delivered after all. 0, or -1. */
int lt_store_drain_advance(lt_store_drains *d, const char *id, int64_t from, int64_t cursor, int64_t lines,
                           int64_t bytes);
/* A batch of the lines up to `last_id` is about to be sent. 0, or -1. */
int lt_store_drain_inflight(lt_store_drains *d, const char *id, int64_t last_id);
/* A batch failed (its outcome unknown or refused). 0, or -1. */
int lt_store_drain_failed(lt_store_drains *d, const char *id);
/* Lines of `app_id` after `after_id`, counted up to `cap` (the lag). */
int64_t lt_store_drain_backlog(lt_store_drains *d, const char *app_id, int64_t after_id, int64_t cap);

/* ---- retention (writer thread) ---- */

typedef struct lt_retention {
    int64_t min_ts_ns;        /* delete lines written before this, requests
                                 that ended before it and requests begun
                                 before it that never ended; 0 = no age
                                 limit */
    int64_t max_bytes;        /* while the store's live pages exceed this,
                                 delete the oldest lines of the tenant that
                                 holds the most; 0 = no size limit */
    int64_t max_tenant_bytes; /* delete a tenant's oldest lines while it
                                 holds more than this (accounted bytes: its
                                 messages and IDs, and a fixed overhead a
                                 line); 0 = no share limit */
} lt_retention;

/* Delete at most `max_rows` rows (lines and request rows) that the policy
 * no longer keeps, in the order of store.h's retention guarantee, in a
 * transaction of its own, and give freed pages back to the file system
 * where the store allows it. Call it right after a commit (no transaction
 * open). Small bites keep ingestion flowing: call it again while it
 * returns max_rows. Returns the number of rows deleted, the lines among
 * them in *lines_deleted, or -1 (the message in lt_store_error; a failure
 * here never makes the next commit fail). */
long lt_store_retain(lt_store *st, const lt_retention *policy, long max_rows, long *lines_deleted);
/* Bytes of live pages (file size minus free pages), or -1. */
int64_t lt_store_live_bytes(lt_store *st);

#endif
