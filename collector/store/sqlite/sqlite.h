/* sqlite.h -- inside the SQLite backend (store/sqlite/): the writer's state
 * and the helpers its files share. Nothing outside this folder includes it.
 *
 * The files split by concern: schema.c (the file, its connections and
 * migrations), write.c (lines, runner rows, delivery state and the commit
 * unit), requests.c (request rows: announcement, BEGIN, END, holders),
 * read.c (readers and queries), retention.c, usage.c
 * (what each tenant holds, for retention), backend.c (the registration the
 * front picks).
 */
#ifndef LT_STORE_SQLITE_H
#define LT_STORE_SQLITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "backend.h"

#define ERROR_SIZE 256

/* The delivery-state statements, prepared with the others. */
enum delivery_statement {
    DELIVERY_LOAD_INSTANCE,
    DELIVERY_LOAD_STREAMS,
    DELIVERY_SAVE_INSTANCE,
    DELIVERY_SAVE_STREAM,
    DELIVERY_PRUNE_STREAMS,
    DELIVERY_FINISH,
    DELIVERY_EXPIRE,
    DELIVERY_STATEMENTS
};

/* usage.c: per-tenant deltas of the open transaction, by (app, runner). */
typedef struct lt_sqlite_usage_delta {
    char *key; /* app, NUL, runner ("" when the app is set); NULL: free slot */
    uint64_t hash;
    int64_t bytes, lines;
} lt_sqlite_usage_delta;

typedef struct lt_sqlite_usage {
    lt_sqlite_usage_delta *slots; /* open addressing, cap a power of two */
    size_t cap, used;
} lt_sqlite_usage;

/* Row and index bytes a line costs beyond its message and IDs, in the
 * accounting (usage.c). Schema step 4 -> 5 wrote 64 into its SQL: change
 * both only with a step that recounts tenant_usage. */
#define LT_SQLITE_LINE_OVERHEAD 64

struct lt_backend_writer {
    sqlite3 *db;
    sqlite3_stmt *insert_line;
    sqlite3_stmt *upsert_runner;
    sqlite3_stmt *request_stmts[12]; /* requests.c, prepared on first use */
    sqlite3_stmt *begin_transaction;
    sqlite3_stmt *commit_transaction;
    sqlite3_stmt *rollback_transaction;
    sqlite3_stmt *retain_by_age; /* prepared on first use */
    sqlite3_stmt *retain_requests;
    sqlite3_stmt *expired_exist;
    sqlite3_stmt *retain_open_requests;
    sqlite3_stmt *retain_app;    /* one tenant's oldest lines */
    sqlite3_stmt *retain_runner; /* one app-less runner's oldest lines */
    sqlite3_stmt *largest_tenant;
    sqlite3_stmt *tenant_over;
    sqlite3_stmt *page_count, *freelist_count, *page_size;
    sqlite3_stmt *usage_add; /* usage.c, prepared on first use */
    sqlite3_stmt *usage_drop;
    sqlite3_stmt *delivery[DELIVERY_STATEMENTS];

    /* Writer-thread state. */
    bool in_transaction;
    bool transaction_lost;       /* a write failed and rolled back since the
                                      last commit; the next commit reports it */
    size_t pending;              /* lines appended in the open transaction */
    int64_t transaction_last_id; /* highest line ID in the open transaction */
    lt_sqlite_usage usage;       /* tenant accounting not yet written */
    char error[ERROR_SIZE];
};

/* ---- schema.c: the file and its connections ---- */

/* Open (creating the directory and the file) the writer connection: WAL,
 * synchronous=NORMAL, migrated to the current schema. */
sqlite3 *lt_sqlite_open_writer_db(const char *dir, char *err, size_t errlen);
/* Open a read-write connection for drains and their cursors (drains.c),
 * to a store of the current schema. */
sqlite3 *lt_sqlite_open_drains_db(const char *dir, char *err, size_t errlen);
/* Open a query-only connection to an existing store of the current schema. */
sqlite3 *lt_sqlite_open_reader_db(const char *dir, char *err, size_t errlen);
/* Prepare a statement kept for the connection's life. 0 or -1. */
int lt_sqlite_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt, char *err, size_t errlen);
/* Run one statement that returns a single integer (PRAGMA or SELECT). */
int lt_sqlite_query_int64(sqlite3 *db, const char *sql, int64_t *out);

/* ---- write.c: the open transaction ---- */

/* Begin a transaction unless one is open. 0 or -1. */
int lt_sqlite_ensure_transaction(lt_backend_writer *w);
/* Step a bound write statement to completion and make it reusable; on
 * failure roll the transaction back and remember it (0 or -1). */
int lt_sqlite_step_write(lt_backend_writer *w, sqlite3_stmt *stmt, const char *what);
/* Roll back whatever is open and remember that the transaction was lost
 * (the message is already in w->error). */
void lt_sqlite_transaction_lost(lt_backend_writer *w);

/* ---- usage.c: per-tenant accounting ---- */

/* A line's accounted size: message, IDs (NULL counts 0) and overhead. */
int64_t lt_sqlite_line_bytes(const char *runner_id, const char *app_id, const char *version_id,
                             const char *source, const char *request_id, size_t message_len);
/* Add a delta for the tenant of (app, runner). 0, or -1 (out of memory,
 * said in w->error): the caller must then lose the transaction
 * (lt_sqlite_transaction_lost), as after a failed write. */
int lt_sqlite_usage_note(lt_backend_writer *w, const char *app_id, const char *runner_id, int64_t bytes,
                         int64_t lines);
/* Write the deltas into the open transaction (a transaction is begun if
 * there are deltas and none is open) and forget them. 0 or -1 (lost). */
int lt_sqlite_usage_flush(lt_backend_writer *w);
/* Forget the deltas: their transaction was rolled back. */
void lt_sqlite_usage_clear(lt_backend_writer *w);
void lt_sqlite_usage_free(lt_backend_writer *w);

/* ---- the backend's functions (backend.c registers them) ----
 * Each is declared with the type of its lt_store_backend member, so the
 * compiler holds every definition to the contract's signature. write.c:
 * open to delivery_expire; retention.c: retain, live_bytes; read.c: the
 * reader's; drains.c: the drains'. */
#define LT_SQLITE_FUNCTION(member)                                                                           \
    extern __typeof__(*((const lt_store_backend *)0)->member) lt_sqlite_##member

LT_SQLITE_FUNCTION(open);
LT_SQLITE_FUNCTION(close);
LT_SQLITE_FUNCTION(error);
LT_SQLITE_FUNCTION(pending);
LT_SQLITE_FUNCTION(append);
LT_SQLITE_FUNCTION(runner_seen);
LT_SQLITE_FUNCTION(request_begin);
LT_SQLITE_FUNCTION(request_end);
LT_SQLITE_FUNCTION(request_hold);
LT_SQLITE_FUNCTION(request_join);
LT_SQLITE_FUNCTION(instance_gone);
LT_SQLITE_FUNCTION(request_enqueue);
LT_SQLITE_FUNCTION(commit);
LT_SQLITE_FUNCTION(delivery_load);
LT_SQLITE_FUNCTION(delivery_save);
LT_SQLITE_FUNCTION(delivery_save_stream);
LT_SQLITE_FUNCTION(delivery_prune);
LT_SQLITE_FUNCTION(delivery_finish);
LT_SQLITE_FUNCTION(delivery_expire);
LT_SQLITE_FUNCTION(retain);
LT_SQLITE_FUNCTION(live_bytes);
LT_SQLITE_FUNCTION(reader_open);
LT_SQLITE_FUNCTION(reader_close);
LT_SQLITE_FUNCTION(query);
LT_SQLITE_FUNCTION(request_get);
LT_SQLITE_FUNCTION(runner_known);
LT_SQLITE_FUNCTION(app_known);
LT_SQLITE_FUNCTION(runner_app);
LT_SQLITE_FUNCTION(list_runners);
LT_SQLITE_FUNCTION(list_requests);
LT_SQLITE_FUNCTION(drains_open);
LT_SQLITE_FUNCTION(drains_close);
LT_SQLITE_FUNCTION(drains_error);
LT_SQLITE_FUNCTION(drain_add);
LT_SQLITE_FUNCTION(drain_list);
LT_SQLITE_FUNCTION(drain_get);
LT_SQLITE_FUNCTION(drain_remove);
LT_SQLITE_FUNCTION(drain_advance);
LT_SQLITE_FUNCTION(drain_failed);
LT_SQLITE_FUNCTION(drain_inflight);
LT_SQLITE_FUNCTION(drain_backlog);

#endif
