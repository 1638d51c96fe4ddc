/* retention.c -- the SQLite backend's retention: delete the oldest lines
 * by age or by the file's live size, and ended requests by age, in small
 * transactions of their own between ingest commits.
 *
 * Why here and not in write.c: retention never adds lines nor touches the
 * commit unit's bookkeeping beyond borrowing its transaction statements,
 * and its failure must not poison the next commit.
 */
#include "sqlite.h"

#include <assert.h>
#include <stdio.h>

int64_t lt_sqlite_live_bytes(lt_backend_writer *st)
{
    int64_t pages, free_pages, page_size;
    if (lt_sqlite_query_int64(st->db, "PRAGMA page_count", &pages) != 0 ||
        lt_sqlite_query_int64(st->db, "PRAGMA freelist_count", &free_pages) != 0 ||
        lt_sqlite_query_int64(st->db, "PRAGMA page_size", &page_size) != 0)
        return -1;
    return (pages - free_pages) * page_size;
}

static int prepare_once(lt_backend_writer *st, sqlite3_stmt **stmt, const char *sql)
{
    if (*stmt != NULL)
        return 0;
    return lt_sqlite_prepare(st->db, sql, stmt, st->error, sizeof st->error);
}

long lt_sqlite_retain(lt_backend_writer *st, const lt_retention *policy, long max_rows)
{
    /* Retention runs between ingest commits, never inside one: a failed
     * delete must not roll back lines that are about to be acknowledged.
     * Between a failed write and the commit that reports it, wait. */
    if (st->in_transaction || st->transaction_lost)
        return 0;
    if (policy->min_ts_ns <= 0 && policy->max_bytes <= 0)
        return 0;
    /* The age tests use the ts and end_ts indexes, so they visit only old
     * rows; the size test removes the oldest IDs, the order followers read
     * in. */
    if (prepare_once(st, &st->retain_by_age,
                     "DELETE FROM logs WHERE id IN"
                     " (SELECT id FROM logs WHERE ts < ?1 LIMIT ?2)") != 0 ||
        prepare_once(st, &st->retain_by_size,
                     "DELETE FROM logs WHERE id IN (SELECT id FROM logs ORDER BY id LIMIT ?1)") != 0 ||
        prepare_once(st, &st->retain_requests,
                     "DELETE FROM requests WHERE request_id IN (SELECT request_id FROM requests"
                     " WHERE end_ts IS NOT NULL AND end_ts < ?1 LIMIT ?2)") != 0 ||
        prepare_once(st, &st->expired_exist,
                     "SELECT EXISTS(SELECT 1 FROM logs WHERE ts < ?1)"
                     " OR EXISTS(SELECT 1 FROM requests WHERE end_ts IS NOT NULL AND end_ts < ?1)") != 0)
        return -1;

    int64_t live = 0;
    if (policy->max_bytes > 0 && (live = lt_sqlite_live_bytes(st)) < 0) {
        lt_store_errorf(st->error, sizeof st->error, "retention: %s", sqlite3_errmsg(st->db));
        return -1;
    }
    bool over_size = policy->max_bytes > 0 && live > policy->max_bytes;
    bool expired = false;
    if (policy->min_ts_ns > 0) { /* look before taking the write lock */
        sqlite3_bind_int64(st->expired_exist, 1, policy->min_ts_ns);
        int rc = sqlite3_step(st->expired_exist);
        expired = rc == SQLITE_ROW && sqlite3_column_int(st->expired_exist, 0) != 0;
        sqlite3_reset(st->expired_exist);
        if (rc != SQLITE_ROW) {
            lt_store_errorf(st->error, sizeof st->error, "retention: look for expired lines: %s",
                            sqlite3_errmsg(st->db));
            return -1;
        }
    }
    if (!expired && !over_size)
        return 0;

    long deleted = 0;
    if (lt_sqlite_ensure_transaction(st) != 0)
        goto failed;
    if (expired) {
        sqlite3_bind_int64(st->retain_by_age, 1, policy->min_ts_ns);
        sqlite3_bind_int64(st->retain_by_age, 2, max_rows);
        if (lt_sqlite_step_write(st, st->retain_by_age, "retention by age") != 0)
            goto failed;
        deleted += sqlite3_changes(st->db);
        sqlite3_bind_int64(st->retain_requests, 1, policy->min_ts_ns);
        sqlite3_bind_int64(st->retain_requests, 2, max_rows);
        if (lt_sqlite_step_write(st, st->retain_requests, "retention of requests") != 0)
            goto failed;
    }
    if (over_size && deleted < max_rows) {
        sqlite3_bind_int64(st->retain_by_size, 1, max_rows - deleted);
        if (lt_sqlite_step_write(st, st->retain_by_size, "retention by size") != 0)
            goto failed;
        deleted += sqlite3_changes(st->db);
    }
    assert(st->pending == 0); /* deletes add no lines to acknowledge */
    if (lt_sqlite_step_write(st, st->commit_transaction, "commit retention") != 0)
        goto failed;
    st->in_transaction = false;
    st->transaction_last_id = 0;
    /* Only a store created with auto_vacuum shrinks; elsewhere the freed
     * pages are reused by new lines, which stops the growth all the same. */
    if (deleted > 0)
        sqlite3_exec(st->db, "PRAGMA incremental_vacuum", NULL, NULL, NULL);
    return deleted;

failed:
    /* Retention holds no lines: unlike an ingest write its failure must not
     * poison the next commit (which would throw away a good batch and make
     * the runners resend). step_write rolled back and kept the message; the
     * caller tries again later. */
    st->transaction_lost = false;
    return -1;
}
