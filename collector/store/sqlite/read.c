/* read.c -- the SQLite backend's readers: a query-only connection per
 * reader, the line queries, the request, runner and app look-ups, and the
 * lists of runners and requests.
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

/* Extended queries: the "any of" ID sets, case-folded search, exclusion.
 * Their SQL depends on how many values each set holds, so it is built and
 * prepared for each call instead of cached by shape; the cached shapes
 * (every other query, and every follow round of one) stay as they were.
 * Their parameters come after the fixed ones: PARAM_EXCLUDE, then the
 * sets' values from PARAM_SET_FIRST on, in the order below. */
enum { PARAM_EXCLUDE = PARAM_BEFORE + 1, PARAM_SET_FIRST = 20 };

static bool query_is_extended(const lt_query *q)
{
    return q->runners.count > 0 || q->requests.count > 0 || q->apps.count > 0 || q->versions.count > 0 ||
           q->ignore_case || q->exclude != NULL;
}

/* The sets of q in parameter order, with their columns. */
static const lt_any_of *query_set(const lt_query *q, int i, const char **column)
{
    static const char *const columns[] = {"runner_id", "request_id", "app_id", "version_id"};
    const lt_any_of *sets[] = {&q->runners, &q->requests, &q->apps, &q->versions};
    *column = columns[i];
    return sets[i];
}
#define QUERY_SETS 4

static size_t extended_conditions(const lt_query *q, char *sql, size_t size)
{
    size_t used = 0;
    if (q->exclude != NULL)
        used += (size_t)snprintf(sql + used, size - used, "%s",
                                 q->ignore_case ? " AND instr(lower(message), lower(?14)) = 0"
                                                : " AND instr(message, ?14) = 0");
    int param = PARAM_SET_FIRST;
    for (int i = 0; i < QUERY_SETS; i++) {
        const char *column;
        const lt_any_of *set = query_set(q, i, &column);
        if (set->count == 0)
            continue;
        used += (size_t)snprintf(sql + used, size - used, " AND %s IN (", column);
        for (int v = 0; v < set->count; v++)
            used += (size_t)snprintf(sql + used, size - used, "%s?%d", v > 0 ? ", " : "", param++);
        used += (size_t)snprintf(sql + used, size - used, ")");
    }
    return used;
}

static void bind_extended(sqlite3_stmt *s, const lt_query *q)
{
    if (q->exclude != NULL) {
        if (q->ignore_case)
            sqlite3_bind_text(s, PARAM_EXCLUDE, q->exclude, -1, SQLITE_STATIC);
        else
            sqlite3_bind_blob(s, PARAM_EXCLUDE, q->exclude, (int)strlen(q->exclude), SQLITE_STATIC);
    }
    int param = PARAM_SET_FIRST;
    for (int i = 0; i < QUERY_SETS; i++) {
        const char *column;
        const lt_any_of *set = query_set(q, i, &column);
        for (int v = 0; v < set->count; v++)
            sqlite3_bind_text(s, param++, set->values[v], -1, SQLITE_STATIC);
    }
}

/* The SQL for a shape. The newest-N form selects the last N in descending
 * order and re-sorts them, so callers always see ascending IDs. Search uses
 * instr() on the BLOB with a BLOB needle: a byte-exact, case-sensitive
 * substring test that never reinterprets invalid UTF-8. */
static void build_query_sql(int shape, const lt_query *extended, char *sql, size_t size)
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
    for (size_t i = 0; i < sizeof conditions / sizeof conditions[0]; i++) {
        if (!(shape & conditions[i].filter))
            continue;
        const char *condition = conditions[i].condition;
        if (conditions[i].filter == FILTER_SEARCH && extended != NULL && extended->ignore_case)
            condition = " AND instr(lower(message), lower(?8)) > 0";
        used += (size_t)snprintf(sql + used, size - used, "%s", condition);
    }
    if (extended != NULL)
        used += extended_conditions(extended, sql + used, size - used);
    snprintf(sql + used, size - used, "%s",
             shape & QUERY_NEWEST ? " ORDER BY id DESC LIMIT ?2) ORDER BY id" : " ORDER BY id LIMIT ?2");
    assert(strlen(sql) + 1 < size); /* never truncated: the buffer fits all filters */
}

static sqlite3_stmt *query_statement(lt_backend_reader *rd, int shape)
{
    assert(shape >= 0 && shape < QUERY_SHAPES);
    if (rd->queries[shape] == NULL) {
        char sql[1280];
        build_query_sql(shape, NULL, sql, sizeof sql);
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
    if ((shape & FILTER_SEARCH) && q->ignore_case)
        sqlite3_bind_text(s, PARAM_SEARCH, q->search, -1, SQLITE_STATIC);
    else if (shape & FILTER_SEARCH)
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
    if ((q->search != NULL && strlen(q->search) > INT_MAX) ||
        (q->exclude != NULL && strlen(q->exclude) > INT_MAX))
        return -1;
    int shape = shape_of(q);
    bool extended = query_is_extended(q);
    sqlite3_stmt *s;
    if (extended) {
        char sql[4096];
        build_query_sql(shape, q, sql, sizeof sql);
        if (sqlite3_prepare_v2(rd->db, sql, -1, &s, NULL) != SQLITE_OK) {
            lt_store_errorf(rd->error, sizeof rd->error, "query: %s", sqlite3_errmsg(rd->db));
            sqlite3_finalize(s);
            return -1;
        }
        bind_extended(s, q);
    } else if ((s = query_statement(rd, shape)) == NULL) {
        return -1;
    }
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
    if (extended) {
        sqlite3_finalize(s);
    } else {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
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

/* ---- lists of runners and requests ----
 *
 * A list's SQL is built for each call from the filters it has (an "any of"
 * filter is an IN list of as many parameters as values) and prepared once
 * for that call: lists are pages a person or a dashboard asks for, not
 * rounds a follower repeats, and the shapes are too many to keep. The
 * parameters are bound in the order the text names them. Both lists walk
 * an index on the start time (runners_by_first, requests_by_begin)
 * backwards from the cursor, so a page costs its rows, not the table. */

#define LIST_SQL_SIZE 4096
#define LIST_PARAMS_MAX 96 /* five sets of LT_ANY_OF_MAX, and the rest */

struct list_sql {
    char text[LIST_SQL_SIZE];
    size_t used;
    /* What to bind, in order: a text (int64 unused) or an integer. */
    struct {
        const char *text;
        int64_t number;
    } params[LIST_PARAMS_MAX];
    int param_count;
};

static void list_append(struct list_sql *ls, const char *text)
{
    size_t n = strlen(text);
    assert(ls->used + n < sizeof ls->text); /* the buffer fits every filter */
    memcpy(ls->text + ls->used, text, n + 1);
    ls->used += n;
}

static void list_param_text(struct list_sql *ls, const char *text)
{
    assert(ls->param_count < LIST_PARAMS_MAX && text != NULL);
    ls->params[ls->param_count].text = text;
    ls->params[ls->param_count].number = 0;
    ls->param_count++;
    list_append(ls, "?");
}

static void list_param_number(struct list_sql *ls, int64_t number)
{
    assert(ls->param_count < LIST_PARAMS_MAX);
    ls->params[ls->param_count].text = NULL;
    ls->params[ls->param_count].number = number;
    ls->param_count++;
    list_append(ls, "?");
}

/* " AND column IN (?, ?, ...)" for a non-empty set. */
static void list_any_of(struct list_sql *ls, const char *column, const lt_any_of *set)
{
    if (set->count == 0)
        return;
    list_append(ls, " AND ");
    list_append(ls, column);
    list_append(ls, " IN (");
    for (int i = 0; i < set->count; i++) {
        if (i > 0)
            list_append(ls, ", ");
        list_param_text(ls, set->values[i]);
    }
    list_append(ls, ")");
}

/* The conditions every list has: its start bounds, the cursor and the
 * order. `start` and `id` are the row's columns. */
static void list_tail(struct list_sql *ls, const lt_list_query *q, const char *start, const char *id)
{
    char part[160];
    if (q->since_ns != 0) {
        snprintf(part, sizeof part, " AND %s >= ", start);
        list_append(ls, part);
        list_param_number(ls, q->since_ns);
    }
    if (q->until_ns != 0) {
        snprintf(part, sizeof part, " AND %s < ", start);
        list_append(ls, part);
        list_param_number(ls, q->until_ns);
    }
    if (q->has_cursor) {
        snprintf(part, sizeof part, " AND (%s, %s) < (", start, id);
        list_append(ls, part);
        list_param_number(ls, q->cursor_start_ns);
        list_append(ls, ", ");
        list_param_text(ls, q->cursor_id);
        list_append(ls, ")");
    }
    snprintf(part, sizeof part, " ORDER BY %s DESC, %s DESC LIMIT ", start, id);
    list_append(ls, part);
    list_param_number(ls, q->limit);
}

/* Prepare and bind `ls`; NULL on failure (the message in rd->error). */
static sqlite3_stmt *list_prepare(lt_backend_reader *rd, const struct list_sql *ls)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(rd->db, ls->text, -1, &s, NULL) != SQLITE_OK) {
        lt_store_errorf(rd->error, sizeof rd->error, "list: %s", sqlite3_errmsg(rd->db));
        sqlite3_finalize(s);
        return NULL;
    }
    for (int i = 0; i < ls->param_count; i++) {
        if (ls->params[i].text != NULL)
            sqlite3_bind_text(s, i + 1, ls->params[i].text, -1, SQLITE_STATIC);
        else
            sqlite3_bind_int64(s, i + 1, ls->params[i].number);
    }
    return s;
}

/* Finish a list's statement: the count delivered, or -1 after a failure. */
static long list_finish(lt_backend_reader *rd, sqlite3_stmt *s, int rc, long delivered)
{
    if (rc != SQLITE_DONE)
        lt_store_errorf(rd->error, sizeof rd->error, "list: %s", sqlite3_errmsg(rd->db));
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? delivered : -1;
}

long lt_sqlite_list_runners(lt_backend_reader *rd, const lt_list_query *q, lt_runner_row_cb cb, void *ctx)
{
    struct list_sql *ls = calloc(1, sizeof *ls);
    if (ls == NULL) {
        lt_store_errorf(rd->error, sizeof rd->error, "list: out of memory");
        return -1;
    }
    /* The line count reads logs_by_runner alone (a covering index). */
    list_append(ls, "SELECT r.runner_id, r.app_id, r.version_id, r.source, r.first_ts, r.last_ts,"
                    " (SELECT count(*) FROM logs WHERE logs.runner_id = r.runner_id)"
                    " FROM runners r WHERE 1");
    list_any_of(ls, "r.app_id", &q->apps);
    list_any_of(ls, "r.version_id", &q->versions);
    list_any_of(ls, "r.source", &q->sources);
    if (q->viewer != NULL) {
        list_append(ls, " AND r.app_id IN (SELECT app_id FROM apps WHERE owner = ");
        list_param_text(ls, q->viewer);
        list_append(ls, ")");
    }
    list_tail(ls, q, "r.first_ts", "r.runner_id");
    sqlite3_stmt *s = list_prepare(rd, ls);
    free(ls);
    if (s == NULL)
        return -1;
    long delivered = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        lt_runner_row row;
        copy_column(s, 0, row.runner_id, sizeof row.runner_id);
        copy_column(s, 1, row.app_id, sizeof row.app_id);
        copy_column(s, 2, row.version_id, sizeof row.version_id);
        copy_column(s, 3, row.source, sizeof row.source);
        row.first_ns = sqlite3_column_int64(s, 4);
        row.last_ns = sqlite3_column_int64(s, 5);
        row.lines = sqlite3_column_int64(s, 6);
        delivered++;
        if (cb(&row, ctx) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    return list_finish(rd, s, rc, delivered);
}

long lt_sqlite_list_requests(lt_backend_reader *rd, const lt_list_query *q, lt_request_row_cb cb, void *ctx)
{
    struct list_sql *ls = calloc(1, sizeof *ls);
    if (ls == NULL) {
        lt_store_errorf(rd->error, sizeof rd->error, "list: out of memory");
        return -1;
    }
    /* A request's source is its runner's (requests have no column of
     * their own); its lines are counted in its app, as a caller sees them. */
    list_append(ls, "SELECT q.request_id, q.runner_id, q.app_id, q.version_id,"
                    " coalesce((SELECT source FROM runners WHERE runner_id = q.runner_id), ''),"
                    " coalesce(q.caller, ''), q.begin_ts, coalesce(q.end_ts, 0),"
                    " (SELECT count(*) FROM logs WHERE logs.request_id = q.request_id"
                    "  AND logs.app_id = q.app_id),"
                    " q.begun, coalesce(q.error_type, ''), coalesce(q.error, '')"
                    " FROM requests q WHERE 1");
    list_any_of(ls, "q.app_id", &q->apps);
    list_any_of(ls, "q.version_id", &q->versions);
    if (q->sources.count > 0) {
        /* One look at the runners of those sources, not one per request. */
        list_append(ls, " AND q.runner_id IN (SELECT runner_id FROM runners WHERE 1");
        list_any_of(ls, "source", &q->sources);
        list_append(ls, ")");
    }
    list_any_of(ls, "q.runner_id", &q->runners);
    list_any_of(ls, "q.caller", &q->callers);
    unsigned all = LT_LIST_IN_QUEUE | LT_LIST_IN_PROGRESS | LT_LIST_COMPLETED;
    unsigned states = q->states & all;
    if (states != 0 && states != all) { /* any of the states asked for */
        list_append(ls, " AND (0");
        if (states & LT_LIST_IN_QUEUE)
            list_append(ls, " OR (q.begun = 0 AND q.end_ts IS NULL)");
        if (states & LT_LIST_IN_PROGRESS)
            list_append(ls, " OR (q.begun = 1 AND q.end_ts IS NULL)");
        if (states & LT_LIST_COMPLETED)
            list_append(ls, " OR q.end_ts IS NOT NULL");
        list_append(ls, ")");
    }
    if (q->viewer != NULL) {
        /* The owner sees its apps' requests; a caller its own requests, in
         * an app someone deployed (an undeployed app's are admin's). */
        list_append(ls, " AND (q.app_id IN (SELECT app_id FROM apps WHERE owner = ");
        list_param_text(ls, q->viewer);
        list_append(ls, ") OR (q.caller = ");
        list_param_text(ls, q->viewer);
        list_append(ls, " AND q.app_id IN (SELECT app_id FROM apps)))");
    }
    list_tail(ls, q, "q.begin_ts", "q.request_id");
    sqlite3_stmt *s = list_prepare(rd, ls);
    free(ls);
    if (s == NULL)
        return -1;
    long delivered = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        lt_request_row row;
        copy_column(s, 0, row.request_id, sizeof row.request_id);
        copy_column(s, 1, row.runner_id, sizeof row.runner_id);
        copy_column(s, 2, row.app_id, sizeof row.app_id);
        copy_column(s, 3, row.version_id, sizeof row.version_id);
        copy_column(s, 4, row.source, sizeof row.source);
        copy_column(s, 5, row.caller, sizeof row.caller);
        row.begin_ns = sqlite3_column_int64(s, 6);
        row.end_ns = sqlite3_column_int64(s, 7);
        row.lines = sqlite3_column_int64(s, 8);
        row.state = row.end_ns != 0                 ? LT_REQUEST_COMPLETED
                    : sqlite3_column_int(s, 9) != 0 ? LT_REQUEST_IN_PROGRESS
                                                    : LT_REQUEST_IN_QUEUE;
        copy_column(s, 10, row.error_type, sizeof row.error_type);
        copy_column(s, 11, row.error, sizeof row.error);
        delivered++;
        if (cb(&row, ctx) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    return list_finish(rd, s, rc, delivered);
}
