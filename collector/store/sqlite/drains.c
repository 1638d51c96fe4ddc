/* drains.c -- the SQLite backend's drains: the drains table (schema step
 * 6 -> 7) and each drain's cursor and counters (store.h, "log drains").
 *
 * Why it looks the way it does:
 * - A read-write connection per handle, apart from the ingest writer's:
 *   a cursor moves when a destination answers, at times that have nothing
 *   to do with ingest commits, and must not wait for them or join them.
 *   Each write is one statement (its own transaction), so the writer lock
 *   is held for microseconds; the busy timeout covers the overlap.
 * - The cursor only moves forward (max()), so a late or repeated advance
 *   can never make a drain send lines twice by going back.
 */
#include "sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lt_backend_drains {
    sqlite3 *db;
    char error[ERROR_SIZE];
};

#define DRAIN_COLUMNS                                                                                        \
    "id, app_id, kind, url, runner_id, source, min_level, requests_only, allow_loopback, sealed_secret,"     \
    " created_ts, cursor, lines_sent, bytes_sent, batches_failed, inflight_last, lines_missed"

lt_backend_drains *lt_sqlite_drains_open(const char *dir, char *err, size_t errlen)
{
    lt_backend_drains *d = calloc(1, sizeof *d);
    if (d == NULL) {
        lt_store_errorf(err, errlen, "out of memory");
        return NULL;
    }
    d->db = lt_sqlite_open_drains_db(dir, err, errlen);
    if (d->db == NULL) {
        free(d);
        return NULL;
    }
    /* As the writer's: a cursor write is durable against a crash of the
     * collector without an fsync of its own. */
    sqlite3_exec(d->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
    return d;
}

void lt_sqlite_drains_close(lt_backend_drains *d)
{
    if (d == NULL)
        return;
    sqlite3_close(d->db);
    free(d);
}

const char *lt_sqlite_drains_error(const lt_backend_drains *d)
{
    return d->error;
}

static sqlite3_stmt *prepare(lt_backend_drains *d, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(d->db, sql, -1, &s, NULL) != SQLITE_OK) {
        snprintf(d->error, sizeof d->error, "%s", sqlite3_errmsg(d->db));
        return NULL;
    }
    return s;
}

/* Step a write to its end; 0 or -1. Finalizes. */
static int run(lt_backend_drains *d, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        snprintf(d->error, sizeof d->error, "%s", sqlite3_errmsg(d->db));
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void copy_column(sqlite3_stmt *s, int column, char *out, size_t size)
{
    const char *text = (const char *)sqlite3_column_text(s, column);
    snprintf(out, size, "%s", text != NULL ? text : "");
}

static void drain_from_row(sqlite3_stmt *s, lt_drain *out)
{
    memset(out, 0, sizeof *out);
    copy_column(s, 0, out->id, sizeof out->id);
    copy_column(s, 1, out->app_id, sizeof out->app_id);
    copy_column(s, 2, out->kind, sizeof out->kind);
    copy_column(s, 3, out->url, sizeof out->url);
    copy_column(s, 4, out->runner_id, sizeof out->runner_id);
    copy_column(s, 5, out->source, sizeof out->source);
    out->min_level = sqlite3_column_int(s, 6);
    out->requests_only = sqlite3_column_int(s, 7) != 0;
    out->allow_loopback = sqlite3_column_int(s, 8) != 0;
    int len = sqlite3_column_bytes(s, 9);
    if (len > 0 && (size_t)len <= sizeof out->sealed_secret) {
        memcpy(out->sealed_secret, sqlite3_column_blob(s, 9), (size_t)len);
        out->sealed_secret_len = (size_t)len;
    }
    out->created_ns = sqlite3_column_int64(s, 10);
    out->cursor = sqlite3_column_int64(s, 11);
    out->lines_sent = sqlite3_column_int64(s, 12);
    out->bytes_sent = sqlite3_column_int64(s, 13);
    out->batches_failed = sqlite3_column_int64(s, 14);
    out->inflight_last = sqlite3_column_int64(s, 15);
    out->lines_missed = sqlite3_column_int64(s, 16);
}

int lt_sqlite_drain_add(lt_backend_drains *d, const lt_drain *drain)
{
    sqlite3_stmt *s = prepare(d, "INSERT INTO drains(" DRAIN_COLUMNS
                                 ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0)");
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, drain->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, drain->app_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, drain->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, drain->url, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, drain->runner_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, drain->source, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 7, drain->min_level);
    sqlite3_bind_int(s, 8, drain->requests_only);
    sqlite3_bind_int(s, 9, drain->allow_loopback);
    sqlite3_bind_blob(s, 10, drain->sealed_secret, (int)drain->sealed_secret_len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 11, drain->created_ns);
    sqlite3_bind_int64(s, 12, drain->cursor);
    return run(d, s);
}

long lt_sqlite_drain_list(lt_backend_drains *d, const char *app_id, lt_drain_cb cb, void *ctx)
{
    sqlite3_stmt *s = prepare(
        d, app_id != NULL ? "SELECT " DRAIN_COLUMNS " FROM drains WHERE app_id = ? ORDER BY created_ts, id"
                          : "SELECT " DRAIN_COLUMNS " FROM drains ORDER BY created_ts, id");
    if (s == NULL)
        return -1;
    if (app_id != NULL)
        sqlite3_bind_text(s, 1, app_id, -1, SQLITE_STATIC);
    long count = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        lt_drain drain;
        drain_from_row(s, &drain);
        count++;
        if (cb(&drain, ctx) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE) {
        snprintf(d->error, sizeof d->error, "%s", sqlite3_errmsg(d->db));
        count = -1;
    }
    sqlite3_finalize(s);
    return count;
}

int lt_sqlite_drain_get(lt_backend_drains *d, const char *id, lt_drain *out)
{
    sqlite3_stmt *s = prepare(d, "SELECT " DRAIN_COLUMNS " FROM drains WHERE id = ?");
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s), found = 0;
    if (rc == SQLITE_ROW) {
        drain_from_row(s, out);
        found = 1;
    } else if (rc != SQLITE_DONE) {
        snprintf(d->error, sizeof d->error, "%s", sqlite3_errmsg(d->db));
        found = -1;
    }
    sqlite3_finalize(s);
    return found;
}

int lt_sqlite_drain_remove(lt_backend_drains *d, const char *id)
{
    sqlite3_stmt *s = prepare(d, "DELETE FROM drains WHERE id = ?");
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    if (run(d, s) != 0)
        return -1;
    return sqlite3_changes(d->db) > 0 ? 1 : 0;
}

int lt_sqlite_drain_advance(lt_backend_drains *d, const char *id, int64_t from, int64_t cursor, int64_t lines,
                            int64_t bytes)
{
    /* One statement, so no deletion falls between the count of the
     * batch's lines still stored and the cursor's move: every line of the
     * batch deleted before it was counted missed by the trigger (it was
     * past the cursor), and is given back here. */
    sqlite3_stmt *s = prepare(d, "UPDATE drains SET cursor = max(cursor, ?2), lines_sent = lines_sent + ?3,"
                                 " bytes_sent = bytes_sent + ?4,"
                                 " lines_missed = lines_missed - (?3 - (SELECT count(*) FROM logs l"
                                 "  WHERE l.app_id = drains.app_id AND l.id > ?5 AND l.id <= ?2"
                                 "   AND (drains.runner_id = '' OR l.runner_id = drains.runner_id)"
                                 "   AND (drains.source = '' OR l.source = drains.source)"
                                 "   AND (drains.min_level < 0 OR l.level >= drains.min_level)"
                                 "   AND (drains.requests_only = 0 OR l.request_id IS NOT NULL)))"
                                 " WHERE id = ?1 AND cursor = ?5");
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, cursor);
    sqlite3_bind_int64(s, 3, lines);
    sqlite3_bind_int64(s, 4, bytes);
    sqlite3_bind_int64(s, 5, from);
    return run(d, s);
}

int lt_sqlite_drain_inflight(lt_backend_drains *d, const char *id, int64_t last_id)
{
    sqlite3_stmt *s = prepare(d, "UPDATE drains SET inflight_last = ? WHERE id = ?");
    if (s == NULL)
        return -1;
    sqlite3_bind_int64(s, 1, last_id);
    sqlite3_bind_text(s, 2, id, -1, SQLITE_STATIC);
    return run(d, s);
}

int lt_sqlite_drain_failed(lt_backend_drains *d, const char *id)
{
    sqlite3_stmt *s = prepare(d, "UPDATE drains SET batches_failed = batches_failed + 1 WHERE id = ?");
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    return run(d, s);
}

int64_t lt_sqlite_drain_backlog(lt_backend_drains *d, const char *app_id, int64_t after_id, int64_t cap)
{
    sqlite3_stmt *s =
        prepare(d, "SELECT count(*) FROM (SELECT 1 FROM logs WHERE app_id = ? AND id > ? LIMIT ?)");
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, app_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, after_id);
    sqlite3_bind_int64(s, 3, cap);
    int64_t count = -1;
    if (sqlite3_step(s) == SQLITE_ROW)
        count = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return count;
}
