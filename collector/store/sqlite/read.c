/* read.c -- the SQLite backend's readers: a query-only connection per
 * reader, the line queries and the request, runner and app look-ups.
 *
 * Why it looks the way it does:
 * - Each query shape has its own SQL text and prepared statement, reused by
 *   followers that run the same shape over and over.
 * - The owner filter reads the registry's apps table (registry.c owns it;
 *   it lives in the same file), so that an owner's lines are one indexed
 *   query. The table exists once the registry has been opened: the
 *   collector opens it (bootstrap) before it serves, so no reader runs
 *   before it.
 * - Resetting a statement after each query ends its read transaction, so a
 *   long-lived reader does not pin old WAL frames.
 */
#include "sqlite.h"

#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A query's shape: which optional filters it has. Each shape has its own
 * SQL text (so SQLite can pick the right index) and its own prepared
 * statement, prepared on first use and reused by later queries -- followers
 * run the same shape over and over. */
enum query_filter {
    FILTER_RUNNER = 1 << 0,
    FILTER_REQUEST = 1 << 1,
    FILTER_APP = 1 << 2,
    FILTER_VERSION = 1 << 3,
    FILTER_SOURCE = 1 << 4,
    FILTER_SEARCH = 1 << 5,
    FILTER_MIN_LEVEL = 1 << 6,
    FILTER_SINCE = 1 << 7,
    FILTER_UNTIL = 1 << 8,
    FILTER_OWNER = 1 << 9,
    FILTER_BEFORE = 1 << 10,
    QUERY_NEWEST = 1 << 11,
    QUERY_SHAPES = 1 << 12
};

/* Fixed parameter numbers, whatever the shape: binding stays one table. */
enum query_param {
    PARAM_AFTER = 1,
    PARAM_LIMIT,
    PARAM_RUNNER,
    PARAM_REQUEST,
    PARAM_APP,
    PARAM_VERSION,
    PARAM_SOURCE,
    PARAM_SEARCH,
    PARAM_MIN_LEVEL,
    PARAM_SINCE,
    PARAM_UNTIL,
    PARAM_OWNER,
    PARAM_BEFORE
};

/* Column order of every query's result row. */
#define LINE_COLUMNS                                                                                         \
    "id, ts, runner_id, request_id, app_id, version_id, source, stream, level, pid, tid, message,"           \
    " unattributed"

struct lt_backend_reader {
    sqlite3 *db;
    sqlite3_stmt *request_by_id;
    sqlite3_stmt *request_from_lines;
    sqlite3_stmt *queue_position;
    sqlite3_stmt *runner_known;
    sqlite3_stmt *runner_app;
    sqlite3_stmt *app_known;
    sqlite3_stmt *queries[QUERY_SHAPES];
    char error[ERROR_SIZE];
};

lt_backend_reader *lt_sqlite_reader_open(const char *dir, char *err, size_t errlen)
{
    lt_backend_reader *rd = calloc(1, sizeof *rd);
    if (rd == NULL) {
        lt_store_errorf(err, errlen, "out of memory");
        return NULL;
    }
    rd->db = lt_sqlite_open_reader_db(dir, err, errlen);
    if (rd->db == NULL)
        goto fail;
    if (lt_sqlite_prepare(rd->db,
                          "SELECT runner_id, app_id, version_id, begin_ts, coalesce(end_ts, 0),"
                          " coalesce(caller, ''), begun, coalesce(queued_ts, 0), coalesce(error_type, ''),"
                          " coalesce(error, '') FROM requests WHERE request_id = ?1",
                          &rd->request_by_id, err, errlen) != 0 ||
        /* fal's queue_position: the app's requests queued before it (0:
         * next). Ties in time go by ID, so two positions never agree. */
        lt_sqlite_prepare(rd->db,
                          "SELECT count(*) FROM requests WHERE app_id = ?1 AND begun = 0 AND end_ts IS NULL"
                          " AND (queued_ts < ?2 OR (queued_ts = ?2 AND request_id < ?3))",
                          &rd->queue_position, err, errlen) != 0 ||
        lt_sqlite_prepare(rd->db,
                          "SELECT runner_id, app_id, version_id, ts FROM logs"
                          " WHERE request_id = ?1 ORDER BY id LIMIT 1",
                          &rd->request_from_lines, err, errlen) != 0 ||
        lt_sqlite_prepare(rd->db,
                          "SELECT EXISTS(SELECT 1 FROM runners WHERE runner_id = ?1)"
                          "    OR EXISTS(SELECT 1 FROM logs WHERE runner_id = ?1)",
                          &rd->runner_known, err, errlen) != 0 ||
        /* A runner's app: from its row, or from its lines if no row was
         * written (a store from before runner rows were kept). */
        lt_sqlite_prepare(rd->db,
                          "SELECT app_id FROM runners WHERE runner_id = ?1"
                          " UNION ALL SELECT app_id FROM (SELECT app_id FROM logs WHERE runner_id = ?1"
                          " ORDER BY id LIMIT 1) LIMIT 1",
                          &rd->runner_app, err, errlen) != 0 ||
        lt_sqlite_prepare(rd->db,
                          "SELECT EXISTS(SELECT 1 FROM runners WHERE app_id = ?1)"
                          "    OR EXISTS(SELECT 1 FROM logs WHERE app_id = ?1)",
                          &rd->app_known, err, errlen) != 0)
        goto fail;
    return rd;

fail:
    lt_sqlite_reader_close(rd);
    return NULL;
}

void lt_sqlite_reader_close(lt_backend_reader *rd)
{
    if (rd == NULL)
        return;
    sqlite3_finalize(rd->request_by_id);
    sqlite3_finalize(rd->request_from_lines);
    sqlite3_finalize(rd->queue_position);
    sqlite3_finalize(rd->runner_known);
    sqlite3_finalize(rd->runner_app);
    sqlite3_finalize(rd->app_known);
    for (int shape = 0; shape < QUERY_SHAPES; shape++)
        sqlite3_finalize(rd->queries[shape]);
    sqlite3_close(rd->db);
    free(rd);
}

static int shape_of(const lt_query *q)
{
    int shape = 0;
    if (q->runner_id != NULL)
        shape |= FILTER_RUNNER;
    if (q->request_id != NULL)
        shape |= FILTER_REQUEST;
    if (q->app_id != NULL)
        shape |= FILTER_APP;
    if (q->version_id != NULL)
        shape |= FILTER_VERSION;
    if (q->source != NULL)
        shape |= FILTER_SOURCE;
    if (q->search != NULL)
        shape |= FILTER_SEARCH;
    if (q->min_level >= 0)
        shape |= FILTER_MIN_LEVEL;
    if (q->since_ns != 0)
        shape |= FILTER_SINCE;
    if (q->until_ns != 0)
        shape |= FILTER_UNTIL;
    if (q->owner != NULL)
        shape |= FILTER_OWNER;
    if (q->before_id > 0)
        shape |= FILTER_BEFORE;
    if (q->newest && q->limit > 0)
        shape |= QUERY_NEWEST;
    return shape;
}

/* The SQL for a shape. The newest-N form selects the last N in descending
 * order and re-sorts them, so callers always see ascending IDs. Search uses
 * instr() on the BLOB with a BLOB needle: a byte-exact, case-sensitive
 * substring test that never reinterprets invalid UTF-8. */
static void build_query_sql(int shape, char *sql, size_t size)
{
    static const struct {
        int filter;
        const char *condition;
    } conditions[] = {
        {FILTER_RUNNER, " AND runner_id = ?3"},
        {FILTER_REQUEST, " AND request_id = ?4"},
        {FILTER_APP, " AND app_id = ?5"},
        {FILTER_VERSION, " AND version_id = ?6"},
        {FILTER_SOURCE, " AND source = ?7"},
        {FILTER_SEARCH, " AND instr(message, ?8) > 0"},
        {FILTER_MIN_LEVEL, " AND level >= ?9"},
        {FILTER_SINCE, " AND ts >= ?10"},
        {FILTER_UNTIL, " AND ts < ?11"},
        {FILTER_OWNER, " AND app_id IN (SELECT app_id FROM apps WHERE owner = ?12)"},
        {FILTER_BEFORE, " AND id < ?13"},
    };
    size_t used = (size_t)snprintf(sql, size, "%sSELECT " LINE_COLUMNS " FROM logs WHERE id > ?1",
                                   shape & QUERY_NEWEST ? "SELECT * FROM (" : "");
    for (size_t i = 0; i < sizeof conditions / sizeof conditions[0]; i++)
        if (shape & conditions[i].filter)
            used += (size_t)snprintf(sql + used, size - used, "%s", conditions[i].condition);
    snprintf(sql + used, size - used, "%s",
             shape & QUERY_NEWEST ? " ORDER BY id DESC LIMIT ?2) ORDER BY id" : " ORDER BY id LIMIT ?2");
    assert(strlen(sql) + 1 < size); /* never truncated: the buffer fits all filters */
}

static sqlite3_stmt *query_statement(lt_backend_reader *rd, int shape)
{
    assert(shape >= 0 && shape < QUERY_SHAPES);
    if (rd->queries[shape] == NULL) {
        char sql[1280];
        build_query_sql(shape, sql, sizeof sql);
        if (lt_sqlite_prepare(rd->db, sql, &rd->queries[shape], rd->error, sizeof rd->error) != 0)
            return NULL;
    }
    return rd->queries[shape];
}

static void bind_query(sqlite3_stmt *s, int shape, const lt_query *q)
{
    sqlite3_bind_int64(s, PARAM_AFTER, q->after_id);
    sqlite3_bind_int64(s, PARAM_LIMIT, q->limit > 0 ? q->limit : -1); /* -1: no limit */
    if (shape & FILTER_RUNNER)
        sqlite3_bind_text(s, PARAM_RUNNER, q->runner_id, -1, SQLITE_STATIC);
    if (shape & FILTER_REQUEST)
        sqlite3_bind_text(s, PARAM_REQUEST, q->request_id, -1, SQLITE_STATIC);
    if (shape & FILTER_APP)
        sqlite3_bind_text(s, PARAM_APP, q->app_id, -1, SQLITE_STATIC);
    if (shape & FILTER_VERSION)
        sqlite3_bind_text(s, PARAM_VERSION, q->version_id, -1, SQLITE_STATIC);
    if (shape & FILTER_SOURCE)
        sqlite3_bind_text(s, PARAM_SOURCE, q->source, -1, SQLITE_STATIC);
    if (shape & FILTER_SEARCH)
        sqlite3_bind_blob(s, PARAM_SEARCH, q->search, (int)strlen(q->search), SQLITE_STATIC);
    if (shape & FILTER_MIN_LEVEL)
        sqlite3_bind_int(s, PARAM_MIN_LEVEL, q->min_level);
    if (shape & FILTER_SINCE)
        sqlite3_bind_int64(s, PARAM_SINCE, q->since_ns);
    if (shape & FILTER_UNTIL)
        sqlite3_bind_int64(s, PARAM_UNTIL, q->until_ns);
    if (shape & FILTER_OWNER)
        sqlite3_bind_text(s, PARAM_OWNER, q->owner, -1, SQLITE_STATIC);
    if (shape & FILTER_BEFORE)
        sqlite3_bind_int64(s, PARAM_BEFORE, q->before_id);
}

static const char *column_text_or_empty(sqlite3_stmt *s, int column)
{
    const unsigned char *text = sqlite3_column_text(s, column);
    return text != NULL ? (const char *)text : "";
}

/* Borrow the current row as an lt_line; valid until the next step. */
static void line_from_row(sqlite3_stmt *s, lt_line *line)
{
    line->id = sqlite3_column_int64(s, 0);
    line->ts_ns = sqlite3_column_int64(s, 1);
    line->runner_id = column_text_or_empty(s, 2);
    line->request_id =
        sqlite3_column_type(s, 3) == SQLITE_NULL ? NULL : (const char *)sqlite3_column_text(s, 3);
    line->app_id = column_text_or_empty(s, 4);
    line->version_id = column_text_or_empty(s, 5);
    line->source = column_text_or_empty(s, 6);
    line->stream = sqlite3_column_int(s, 7);
    line->level = sqlite3_column_int(s, 8);
    line->pid = sqlite3_column_int64(s, 9);
    line->tid = sqlite3_column_int64(s, 10);
    const void *message = sqlite3_column_blob(s, 11);
    line->message_len = (size_t)sqlite3_column_bytes(s, 11);
    line->message = message != NULL ? message : ""; /* empty BLOB gives NULL */
    line->unattributed = sqlite3_column_int(s, 12) != 0;
}

long lt_sqlite_query(lt_backend_reader *rd, const lt_query *q, lt_line_cb cb, void *ctx)
{
    if (q->search != NULL && strlen(q->search) > INT_MAX)
        return -1;
    int shape = shape_of(q);
    sqlite3_stmt *s = query_statement(rd, shape);
    if (s == NULL)
        return -1;
    bind_query(s, shape, q);

    long delivered = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        lt_line line;
        line_from_row(s, &line);
        delivered++;
        if (cb(&line, ctx) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE)
        lt_store_errorf(rd->error, sizeof rd->error, "query: %s", sqlite3_errmsg(rd->db));
    /* Reset ends the read transaction, so a long-lived reader does not pin
     * old WAL frames; clearing drops the borrowed pointers. */
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? delivered : -1;
}

static void copy_column(sqlite3_stmt *s, int column, char *out, size_t size)
{
    snprintf(out, size, "%s", column_text_or_empty(s, column));
}

int lt_sqlite_request_get(lt_backend_reader *rd, const char *request_id, lt_request_info *out)
{
    memset(out, 0, sizeof *out);

    sqlite3_stmt *s = rd->request_by_id;
    sqlite3_bind_text(s, 1, request_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        copy_column(s, 0, out->runner_id, sizeof out->runner_id);
        copy_column(s, 1, out->app_id, sizeof out->app_id);
        copy_column(s, 2, out->version_id, sizeof out->version_id);
        out->begin_ns = sqlite3_column_int64(s, 3);
        out->end_ns = sqlite3_column_int64(s, 4);
        copy_column(s, 5, out->caller, sizeof out->caller);
        bool begun = sqlite3_column_int(s, 6) != 0;
        out->queued_ns = sqlite3_column_int64(s, 7);
        copy_column(s, 8, out->error_type, sizeof out->error_type);
        copy_column(s, 9, out->error, sizeof out->error);
        out->state = out->end_ns != 0 ? LT_REQUEST_COMPLETED
                     : begun          ? LT_REQUEST_IN_PROGRESS
                                      : LT_REQUEST_IN_QUEUE;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc == SQLITE_ROW && out->state == LT_REQUEST_IN_QUEUE) {
        s = rd->queue_position;
        sqlite3_bind_text(s, 1, out->app_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, out->queued_ns);
        sqlite3_bind_text(s, 3, request_id, -1, SQLITE_STATIC);
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
            out->queue_position = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
    if (rc == SQLITE_ROW)
        return 1;
    if (rc != SQLITE_DONE)
        goto error;

    /* Lines can name a request whose BEGIN never arrived (a child process
     * that inherited the marker, a lost record). Such a request exists for
     * its lines' sake; with no END either, it reads as in progress. */
    s = rd->request_from_lines;
    sqlite3_bind_text(s, 1, request_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        copy_column(s, 0, out->runner_id, sizeof out->runner_id);
        copy_column(s, 1, out->app_id, sizeof out->app_id);
        copy_column(s, 2, out->version_id, sizeof out->version_id);
        out->begin_ns = sqlite3_column_int64(s, 3);
        out->end_ns = 0;
        out->state = LT_REQUEST_IN_PROGRESS;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;

error:
    lt_store_errorf(rd->error, sizeof rd->error, "request look-up: %s", sqlite3_errmsg(rd->db));
    return -1;
}

/* Run a one-key EXISTS statement: 1, 0, or -1 with `what` in the error. */
static int key_exists(lt_backend_reader *rd, sqlite3_stmt *s, const char *key, const char *what)
{
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int known = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) != 0 : -1;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (known < 0)
        lt_store_errorf(rd->error, sizeof rd->error, "%s: %s", what, sqlite3_errmsg(rd->db));
    return known;
}

int lt_sqlite_runner_known(lt_backend_reader *rd, const char *runner_id)
{
    return key_exists(rd, rd->runner_known, runner_id, "runner look-up");
}

int lt_sqlite_runner_app(lt_backend_reader *rd, const char *runner_id, char app_id[LT_WIRE_MAX_ID + 1])
{
    app_id[0] = '\0';
    sqlite3_stmt *s = rd->runner_app;
    sqlite3_bind_text(s, 1, runner_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        copy_column(s, 0, app_id, LT_WIRE_MAX_ID + 1);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    lt_store_errorf(rd->error, sizeof rd->error, "runner look-up: %s", sqlite3_errmsg(rd->db));
    return -1;
}

int lt_sqlite_app_known(lt_backend_reader *rd, const char *app_id)
{
    return key_exists(rd, rd->app_known, app_id, "app look-up");
}
