/* requests.c -- the SQLite backend's request rows: the gateway's
 * announcement, BEGIN, END (with a handler's error), which process
 * instances are inside a request, and what the death of one means.
 *
 * Owns the requests and request_holders tables' writes (schema.c makes
 * them; read.c reads them). Every function writes into the open commit
 * unit of write.c, so a request's state changes are durable together with
 * the lines before them: the replayed tail of a dead runner and its
 * request's COMPLETED go into one transaction (store.h, "All or nothing").
 *
 * Why it looks the way it does:
 * - States are columns, not a state column: begun = 0 is IN_QUEUE, end_ts
 *   set is COMPLETED, anything else IN_PROGRESS. A COMPLETED request is
 *   never reopened (BEGIN records of other threads or processes arrive
 *   late, and a runner may reuse an ID: neither may resurrect a finished
 *   request that a caller has already been told about).
 * - BEGIN and the announcement decide in C from one look-up of the row,
 *   not in one clever UPSERT: who may claim a request (an announced one
 *   belongs to its app) has to be said as a result, for the metrics.
 * - A request is held by the instances that began it or wrote inside it
 *   (children that inherited the marker); it dies with the last of them.
 *   A child joins only a request already begun (README, "Request
 *   states").
 */
#include "sqlite.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

enum request_statement {
    REQ_LOOK,
    REQ_INSERT_BEGUN,
    REQ_UPDATE_BEGUN,
    REQ_END,
    REQ_HOLD,
    REQ_RELEASE_ENDED,
    REQ_GONE_END,
    REQ_GONE_RELEASE,
    REQ_BIND_CALLER,
    REQ_JOIN,
    REQ_STATEMENTS
};

_Static_assert(REQ_STATEMENTS <= sizeof(((lt_backend_writer *)0)->request_stmts) / sizeof(sqlite3_stmt *),
               "room for every request statement");

static const char *const request_sql[REQ_STATEMENTS] = {
    [REQ_LOOK] = "SELECT app_id, coalesce(caller, ''), begun, end_ts IS NOT NULL, queued_ts IS NOT NULL"
                 " FROM requests WHERE request_id = ?1",
    [REQ_INSERT_BEGUN] = "INSERT INTO requests(request_id, runner_id, app_id, version_id, begin_ts, end_ts,"
                         " caller, queued_ts, begun) VALUES(?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7, ?8)",
    /* A queued row takes the first BEGIN's runner, version and time. */
    [REQ_UPDATE_BEGUN] = "UPDATE requests SET"
                         "  runner_id = CASE WHEN begun = 0 THEN ?2 ELSE runner_id END,"
                         "  version_id = CASE WHEN begun = 0 THEN ?4 ELSE version_id END,"
                         "  begin_ts = CASE WHEN begun = 0 THEN ?5 ELSE min(begin_ts, ?5) END,"
                         "  caller = coalesce(caller, ?6),"
                         "  begun = 1"
                         " WHERE request_id = ?1",
    /* Several threads may END one request; the latest END wins, the first
     * error stays. */
    [REQ_END] = "UPDATE requests SET end_ts = max(?2, begin_ts, coalesce(end_ts, ?2)),"
                "  error_type = coalesce(error_type, ?3), error = coalesce(error, ?4), begun = 1"
                " WHERE request_id = ?1 AND (?5 IS NULL OR app_id = ?5)",
    [REQ_HOLD] = "INSERT OR IGNORE INTO request_holders(request_id, instance) VALUES(?1, ?2)",
    [REQ_RELEASE_ENDED] = "DELETE FROM request_holders WHERE request_id = ?1",
    [REQ_GONE_END] = "UPDATE requests SET end_ts = max(?2, begin_ts), error_type = ?3, error = ?4"
                     " WHERE end_ts IS NULL AND request_id IN ("
                     "  SELECT h.request_id FROM request_holders h WHERE h.instance = ?1 AND NOT EXISTS("
                     "   SELECT 1 FROM request_holders o WHERE o.request_id = h.request_id"
                     "   AND o.instance <> ?1))",
    [REQ_GONE_RELEASE] = "DELETE FROM request_holders WHERE instance = ?1",
    [REQ_BIND_CALLER] = "UPDATE requests SET caller = coalesce(caller, ?2) WHERE request_id = ?1",
    [REQ_JOIN] = "INSERT OR IGNORE INTO request_holders(request_id, instance)"
                 " SELECT ?1, ?2 FROM requests"
                 " WHERE request_id = ?1 AND end_ts IS NULL AND begun = 1 AND app_id = ?3",
};

/* The statement, prepared on first use. NULL if it cannot be: the
 * transaction is then lost, as after a failed write (the caller is inside
 * one, and what it was to write is missing from it). */
static sqlite3_stmt *statement(lt_backend_writer *st, enum request_statement which)
{
    sqlite3_stmt **slot = &st->request_stmts[which];
    if (*slot == NULL &&
        lt_sqlite_prepare(st->db, request_sql[which], slot, st->error, sizeof st->error) != 0) {
        lt_sqlite_transaction_lost(st);
        return NULL;
    }
    return *slot;
}

/* A write of its own: the transaction open, then the statement. */
static sqlite3_stmt *writing(lt_backend_writer *st, enum request_statement which)
{
    return lt_sqlite_ensure_transaction(st) == 0 ? statement(st, which) : NULL;
}

static void bind_text_or_null(sqlite3_stmt *s, int column, const char *text)
{
    if (text != NULL && text[0] != '\0')
        sqlite3_bind_text(s, column, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, column);
}

/* What a request's row says, for the decisions of BEGIN and announce. */
struct request_row {
    char app_id[LT_WIRE_MAX_ID + 1];
    char caller[LT_WIRE_MAX_ID + 1];
    bool begun, ended, announced;
};

/* 1 and *row if the request has a row, 0 if not, -1 (transaction lost). */
static int look_up(lt_backend_writer *st, const char *request_id, struct request_row *row)
{
    sqlite3_stmt *s = statement(st, REQ_LOOK);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, request_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const unsigned char *app = sqlite3_column_text(s, 0), *caller = sqlite3_column_text(s, 1);
        snprintf(row->app_id, sizeof row->app_id, "%s", app ? (const char *)app : "");
        snprintf(row->caller, sizeof row->caller, "%s", caller ? (const char *)caller : "");
        row->begun = sqlite3_column_int(s, 2) != 0;
        row->ended = sqlite3_column_int(s, 3) != 0;
        row->announced = sqlite3_column_int(s, 4) != 0;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    lt_store_errorf(st->error, sizeof st->error, "request look-up: %s", sqlite3_errmsg(st->db));
    lt_sqlite_transaction_lost(st);
    return -1;
}

static int insert_row(lt_backend_writer *st, const char *request_id, const char *runner_id,
                      const char *app_id, const char *version_id, const char *caller, int64_t ts_ns,
                      bool queued)
{
    sqlite3_stmt *s = statement(st, REQ_INSERT_BEGUN);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, request_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, runner_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, app_id != NULL ? app_id : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, version_id != NULL ? version_id : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, ts_ns);
    bind_text_or_null(s, 6, caller);
    if (queued)
        sqlite3_bind_int64(s, 7, ts_ns);
    else
        sqlite3_bind_null(s, 7);
    sqlite3_bind_int(s, 8, queued ? 0 : 1);
    return lt_sqlite_step_write(st, s, "record request");
}

int lt_sqlite_request_begin(lt_backend_writer *st, const char *request_id, const char *runner_id,
                            const char *app_id, const char *version_id, const char *caller, int64_t ts_ns)
{
    if (lt_sqlite_ensure_transaction(st) != 0)
        return -1;
    struct request_row row;
    int known = look_up(st, request_id, &row);
    if (known < 0)
        return -1;
    if (known == 0)
        return insert_row(st, request_id, runner_id, app_id, version_id, caller, ts_ns, false);
    if (row.ended)
        return LT_BEGIN_COMPLETED;
    if (row.announced && strcmp(row.app_id, app_id != NULL ? app_id : "") != 0)
        return LT_BEGIN_OTHER_APP;
    sqlite3_stmt *s = statement(st, REQ_UPDATE_BEGUN);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, request_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, runner_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, version_id != NULL ? version_id : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, ts_ns);
    bind_text_or_null(s, 6, caller);
    return lt_sqlite_step_write(st, s, "record request begin");
}

int lt_sqlite_request_end(lt_backend_writer *st, const char *request_id, const char *app_id, int64_t ts_ns,
                          const char *error_type, const char *error)
{
    sqlite3_stmt *s = writing(st, REQ_END);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, request_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, ts_ns);
    bind_text_or_null(s, 3, error_type);
    /* A failure with no message still says it failed. */
    if (error_type != NULL && error_type[0] != '\0')
        sqlite3_bind_text(s, 4, error != NULL ? error : "", -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 4);
    if (app_id != NULL)
        sqlite3_bind_text(s, 5, app_id, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 5);
    if (lt_sqlite_step_write(st, s, "record request end") != 0)
        return -1;
    if (sqlite3_changes(st->db) == 0)
        return 0; /* unknown, or another app's: nothing held changes */
    /* Ended: nobody holds it any more, so no death can end it again. */
    if ((s = statement(st, REQ_RELEASE_ENDED)) == NULL)
        return -1;
    sqlite3_bind_text(s, 1, request_id, -1, SQLITE_STATIC);
    return lt_sqlite_step_write(st, s, "release an ended request");
}

int lt_sqlite_request_hold(lt_backend_writer *st, const char *request_id, uint64_t instance)
{
    sqlite3_stmt *s = writing(st, REQ_HOLD);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, request_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (int64_t)instance);
    return lt_sqlite_step_write(st, s, "record a request's holder");
}

int lt_sqlite_request_join(lt_backend_writer *st, const char *request_id, const char *app_id,
                           uint64_t instance)
{
    sqlite3_stmt *s = writing(st, REQ_JOIN);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, request_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (int64_t)instance);
    sqlite3_bind_text(s, 3, app_id, -1, SQLITE_STATIC);
    return lt_sqlite_step_write(st, s, "record a request's holder");
}

long lt_sqlite_instance_gone(lt_backend_writer *st, uint64_t instance, int64_t ts_ns)
{
    sqlite3_stmt *s = writing(st, REQ_GONE_END);
    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, (int64_t)instance);
    sqlite3_bind_int64(s, 2, ts_ns);
    sqlite3_bind_text(s, 3, LT_ERROR_RUNNER_DIED, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, "the runner process ended before the request did", -1, SQLITE_STATIC);
    if (lt_sqlite_step_write(st, s, "end the requests of a dead runner") != 0)
        return -1;
    long ended = sqlite3_changes(st->db);
    if ((s = statement(st, REQ_GONE_RELEASE)) == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, (int64_t)instance);
    if (lt_sqlite_step_write(st, s, "release a dead runner's requests") != 0)
        return -1;
    return ended;
}

int lt_sqlite_request_enqueue(lt_backend_writer *st, const char *request_id, const char *app_id,
                              const char *caller, int64_t ts_ns)
{
    if (lt_sqlite_ensure_transaction(st) != 0)
        return -1;
    struct request_row row;
    int known = look_up(st, request_id, &row);
    if (known < 0)
        return -1;
    if (known == 0)
        return insert_row(st, request_id, "", app_id, "", caller, ts_ns, true) != 0 ? -1 : LT_ENQUEUE_CREATED;
    bool has_caller = caller != NULL && caller[0] != '\0';
    if (strcmp(row.app_id, app_id) != 0 ||
        (has_caller && row.caller[0] != '\0' && strcmp(row.caller, caller) != 0))
        return LT_ENQUEUE_CONFLICT;
    if (has_caller && row.caller[0] == '\0') {
        sqlite3_stmt *s = statement(st, REQ_BIND_CALLER);
        if (s == NULL)
            return -1;
        sqlite3_bind_text(s, 1, request_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, caller, -1, SQLITE_STATIC);
        if (lt_sqlite_step_write(st, s, "bind a request's caller") != 0)
            return -1;
    }
    return LT_ENQUEUE_EXISTS;
}
