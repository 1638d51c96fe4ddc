/* retention.c -- the SQLite backend's retention: delete lines by age, by a
 * tenant's share and by the file's live size, and request rows by age, in
 * small transactions of their own between ingest commits.
 *
 * One bite, in this order, at most max_rows rows in all:
 *   1. by age: lines written before min_ts_ns, requests that ended before
 *      it, and requests that began before it and never ended (a runner
 *      killed inside a request never sends END);
 *   2. by share: a tenant (an app; a runner for lines without app) holding
 *      more than max_tenant_bytes accounted bytes loses its oldest lines
 *      until it holds no more;
 *   3. by size: while the live pages exceed max_bytes, the tenant holding
 *      the most accounted bytes loses its oldest lines. So a tenant's flood
 *      evicts its own lines first: a tenant loses lines to the size limit
 *      only while no other tenant holds more (store.h).
 * Tenants are picked from tenant_usage (usage.c) through its bytes index,
 * never by summing the logs table; each tenant's oldest lines come from
 * the (app_id, id) or (runner_id, id) index. Steps 2 and 3 take a chunk at
 * a time, sized from the tenant's mean line to what must go, and look
 * again (tenant and live pages) after each chunk; the size limit cuts the
 * largest tenant to a few lines below the runner-up at most per chunk, so
 * tenants at the top come down evenly.
 *
 * Why here and not in write.c: retention never adds lines nor touches the
 * commit unit's bookkeeping beyond borrowing its transaction statements,
 * and its failure must not poison the next commit.
 */
#include "sqlite.h"

#include <assert.h>
#include <stdio.h>

/* Most lines taken from one tenant before the tenants are ranked again. */
#define CHUNK_ROWS 256
/* How far below the runner-up the size limit cuts the largest tenant
 * before ranking again, in lines of its mean size. */
#define EVEN_LINES 8
/* Free pages are given back to the file system once they are more than
 * 1/VACUUM_SHARE of the file. */
#define VACUUM_SHARE 8

static int prepare_once(lt_backend_writer *st, sqlite3_stmt **stmt, const char *sql)
{
    if (*stmt != NULL)
        return 0;
    return lt_sqlite_prepare(st->db, sql, stmt, st->error, sizeof st->error);
}

static int pragma_int64(sqlite3_stmt *s, int64_t *out)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : -1;
}

static int prepare_pragmas(lt_backend_writer *st)
{
    return prepare_once(st, &st->page_count, "PRAGMA page_count") != 0 ||
                   prepare_once(st, &st->freelist_count, "PRAGMA freelist_count") != 0 ||
                   prepare_once(st, &st->page_size, "PRAGMA page_size") != 0
               ? -1
               : 0;
}

int64_t lt_sqlite_live_bytes(lt_backend_writer *st)
{
    int64_t pages, free_pages, page_size;
    if (prepare_pragmas(st) != 0 || pragma_int64(st->page_count, &pages) != 0 ||
        pragma_int64(st->freelist_count, &free_pages) != 0 || pragma_int64(st->page_size, &page_size) != 0)
        return -1;
    return (pages - free_pages) * page_size;
}

/* The columns every line-deleting statement returns, for the accounting. */
#define DELETED_LINE " RETURNING app_id, runner_id, version_id, source, request_id, length(message)"

static int prepare_statements(lt_backend_writer *st)
{
    /* The age tests use the ts, end_ts and open-request indexes, so they
     * visit only old rows. */
    return prepare_once(st, &st->retain_by_age,
                        "DELETE FROM logs WHERE id IN"
                        " (SELECT id FROM logs WHERE ts < ?1 LIMIT ?2)" DELETED_LINE) != 0 ||
                   prepare_once(st, &st->retain_requests,
                                "DELETE FROM requests WHERE request_id IN (SELECT request_id FROM requests"
                                " WHERE end_ts IS NOT NULL AND end_ts < ?1 LIMIT ?2)") != 0 ||
                   prepare_once(st, &st->retain_open_requests,
                                "DELETE FROM requests WHERE request_id IN (SELECT request_id FROM requests"
                                " WHERE end_ts IS NULL AND begin_ts < ?1 LIMIT ?2)") != 0 ||
                   prepare_once(
                       st, &st->expired_exist,
                       "SELECT EXISTS(SELECT 1 FROM logs WHERE ts < ?1)"
                       " OR EXISTS(SELECT 1 FROM requests WHERE end_ts IS NOT NULL AND end_ts < ?1)"
                       " OR EXISTS(SELECT 1 FROM requests WHERE end_ts IS NULL AND begin_ts < ?1)") != 0 ||
                   /* A tenant's oldest lines, in ID order through its index. */
                   prepare_once(st, &st->retain_app,
                                "DELETE FROM logs WHERE id IN (SELECT id FROM logs INDEXED BY logs_by_app"
                                " WHERE app_id = ?1 ORDER BY id LIMIT ?2)" DELETED_LINE) != 0 ||
                   prepare_once(st, &st->retain_runner,
                                "DELETE FROM logs WHERE id IN (SELECT id FROM logs INDEXED BY logs_by_runner"
                                " WHERE runner_id = ?1 AND app_id = '' ORDER BY id LIMIT ?2)" DELETED_LINE) !=
                       0 ||
                   prepare_once(st, &st->largest_tenant,
                                "SELECT app_id, runner_id, bytes, lines FROM tenant_usage"
                                " ORDER BY bytes DESC LIMIT 2") != 0 ||
                   prepare_once(st, &st->tenant_over,
                                "SELECT app_id, runner_id, bytes, lines FROM tenant_usage WHERE bytes > ?1"
                                " ORDER BY bytes DESC LIMIT 1") != 0
               ? -1
               : 0;
}

/* Step a DELETE ... RETURNING statement (bound) to its end, taking each
 * deleted line off its tenant's account. Returns the lines deleted, or -1
 * (the transaction rolled back). */
static long delete_lines(lt_backend_writer *st, sqlite3_stmt *s, const char *what)
{
    long deleted = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *app = (const char *)sqlite3_column_text(s, 0);
        const char *runner = (const char *)sqlite3_column_text(s, 1);
        int64_t bytes = lt_sqlite_line_bytes(
            runner, app, (const char *)sqlite3_column_text(s, 2), (const char *)sqlite3_column_text(s, 3),
            (const char *)sqlite3_column_text(s, 4), (size_t)sqlite3_column_int64(s, 5));
        if (lt_sqlite_usage_note(st, app, runner, -bytes, -1) != 0) {
            sqlite3_reset(s);
            lt_sqlite_transaction_lost(st);
            return -1;
        }
        deleted++;
    }
    if (rc != SQLITE_DONE) {
        /* step_write on a finished statement reports nothing; say it here
         * and lose the transaction the same way. */
        lt_store_errorf(st->error, sizeof st->error, "%s: %s", what, sqlite3_errmsg(st->db));
        sqlite3_reset(s);
        lt_sqlite_transaction_lost(st);
        return -1;
    }
    sqlite3_reset(s);
    return deleted;
}

typedef struct tenant {
    char app[LT_WIRE_MAX_ID + 1], runner[LT_WIRE_MAX_ID + 1];
    int64_t bytes, lines;
    int64_t next_bytes; /* what the runner-up holds (largest_tenant only) */
} tenant;

/* The tenant `pick` selects (bound), after writing the accounting so far.
 * 1 and *t, 0 if none, -1 on error (the transaction is lost). */
static int pick_tenant(lt_backend_writer *st, sqlite3_stmt *pick, tenant *t)
{
    if (lt_sqlite_usage_flush(st) != 0)
        return -1;
    int rc = sqlite3_step(pick);
    bool found = rc == SQLITE_ROW;
    if (found) {
        snprintf(t->app, sizeof t->app, "%s", (const char *)sqlite3_column_text(pick, 0));
        snprintf(t->runner, sizeof t->runner, "%s", (const char *)sqlite3_column_text(pick, 1));
        t->bytes = sqlite3_column_int64(pick, 2);
        t->lines = sqlite3_column_int64(pick, 3);
        t->next_bytes = 0;
        if ((rc = sqlite3_step(pick)) == SQLITE_ROW)
            t->next_bytes = sqlite3_column_int64(pick, 2);
    }
    sqlite3_reset(pick);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return found;
    lt_store_errorf(st->error, sizeof st->error, "retention: rank tenants: %s", sqlite3_errmsg(st->db));
    lt_sqlite_transaction_lost(st);
    return -1;
}

/* Delete the oldest lines of tenant t, about `need` accounted bytes (at
 * least one line, at most `room`). Returns the lines deleted or -1. */
static long take_from(lt_backend_writer *st, const tenant *t, int64_t need, long room)
{
    int64_t mean = t->lines > 0 && t->bytes > 0 ? t->bytes / t->lines : 1;
    int64_t rows = need / (mean > 0 ? mean : 1) + 1;
    if (rows > CHUNK_ROWS)
        rows = CHUNK_ROWS;
    if (rows > room)
        rows = room;
    bool by_app = t->app[0] != '\0';
    sqlite3_stmt *s = by_app ? st->retain_app : st->retain_runner;
    sqlite3_bind_text(s, 1, by_app ? t->app : t->runner, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, rows);
    long deleted = delete_lines(st, s, "retention by size");
    if (deleted == 0 && lt_sqlite_usage_note(st, t->app, t->runner, -t->bytes, -t->lines) != 0) {
        lt_sqlite_transaction_lost(st); /* an account without lines behind it: close it */
        return -1;
    }
    return deleted;
}

long lt_sqlite_retain(lt_backend_writer *st, const lt_retention *policy, long max_rows, long *lines_deleted)
{
    *lines_deleted = 0;
    /* Retention runs between ingest commits, never inside one: a failed
     * delete must not roll back lines that are about to be acknowledged.
     * Between a failed write and the commit that reports it, wait. */
    if (st->in_transaction || st->transaction_lost)
        return 0;
    if (policy->min_ts_ns <= 0 && policy->max_bytes <= 0 && policy->max_tenant_bytes <= 0)
        return 0;
    if (prepare_statements(st) != 0 || prepare_pragmas(st) != 0)
        return -1;

    /* Look before taking the write lock. */
    int64_t live = 0;
    if (policy->max_bytes > 0 && (live = lt_sqlite_live_bytes(st)) < 0) {
        lt_store_errorf(st->error, sizeof st->error, "retention: %s", sqlite3_errmsg(st->db));
        return -1;
    }
    bool over_size = policy->max_bytes > 0 && live > policy->max_bytes;
    bool expired = false, over_share = false;
    if (policy->min_ts_ns > 0) {
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
    if (policy->max_tenant_bytes > 0) {
        sqlite3_bind_int64(st->tenant_over, 1, policy->max_tenant_bytes);
        int rc = sqlite3_step(st->tenant_over);
        over_share = rc == SQLITE_ROW;
        sqlite3_reset(st->tenant_over);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            lt_store_errorf(st->error, sizeof st->error, "retention: rank tenants: %s",
                            sqlite3_errmsg(st->db));
            return -1;
        }
    }
    if (!expired && !over_size && !over_share)
        return 0;

    long deleted = 0, lines = 0, n;
    if (lt_sqlite_ensure_transaction(st) != 0)
        goto failed;
    if (expired) {
        sqlite3_bind_int64(st->retain_by_age, 1, policy->min_ts_ns);
        sqlite3_bind_int64(st->retain_by_age, 2, max_rows);
        if ((n = delete_lines(st, st->retain_by_age, "retention by age")) < 0)
            goto failed;
        lines += n;
        sqlite3_stmt *requests[] = {st->retain_requests, st->retain_open_requests};
        for (size_t i = 0; i < 2 && lines + deleted < max_rows; i++) {
            sqlite3_bind_int64(requests[i], 1, policy->min_ts_ns);
            sqlite3_bind_int64(requests[i], 2, max_rows - lines - deleted);
            if (lt_sqlite_step_write(st, requests[i], "retention of requests") != 0)
                goto failed;
            deleted += sqlite3_changes(st->db);
        }
    }
    while (over_share && lines + deleted < max_rows) {
        tenant t;
        sqlite3_bind_int64(st->tenant_over, 1, policy->max_tenant_bytes);
        int found = pick_tenant(st, st->tenant_over, &t);
        if (found < 0)
            goto failed;
        if (found == 0)
            break;
        if ((n = take_from(st, &t, t.bytes - policy->max_tenant_bytes, max_rows - lines - deleted)) < 0)
            goto failed;
        lines += n;
    }
    while (over_size && lines + deleted < max_rows) {
        /* Freed pages count at once, inside the transaction. */
        if ((live = lt_sqlite_live_bytes(st)) < 0) {
            lt_store_errorf(st->error, sizeof st->error, "retention: %s", sqlite3_errmsg(st->db));
            lt_sqlite_transaction_lost(st);
            goto failed;
        }
        if (live <= policy->max_bytes)
            break;
        tenant t;
        int found = pick_tenant(st, st->largest_tenant, &t);
        if (found < 0)
            goto failed;
        if (found == 0) /* no lines left: what remains is not ours to delete */
            break;
        /* No further than a few lines below the runner-up, which is then
         * the largest: tenants at the top are cut down evenly. */
        int64_t need = live - policy->max_bytes;
        int64_t even = t.bytes - t.next_bytes + EVEN_LINES * (t.lines > 0 ? t.bytes / t.lines : 0);
        if (t.next_bytes > 0 && even < need)
            need = even;
        if ((n = take_from(st, &t, need, max_rows - lines - deleted)) < 0)
            goto failed;
        lines += n;
    }
    if (lt_sqlite_usage_flush(st) != 0)
        goto failed;
    assert(st->pending == 0); /* deletes add no lines to acknowledge */
    if (lt_sqlite_step_write(st, st->commit_transaction, "commit retention") != 0)
        goto failed;
    st->in_transaction = false;
    st->transaction_last_id = 0;
    deleted += lines;
    /* Only a store created with auto_vacuum shrinks; elsewhere the freed
     * pages are reused by new lines, which stops the growth all the same.
     * Vacuuming moves pages: under a flood, new lines reuse the freed ones
     * at once, so give them back only once they are an eighth of the file. */
    int64_t pages, free_pages;
    if (lines > 0 && pragma_int64(st->page_count, &pages) == 0 &&
        pragma_int64(st->freelist_count, &free_pages) == 0 && free_pages * VACUUM_SHARE > pages)
        sqlite3_exec(st->db, "PRAGMA incremental_vacuum", NULL, NULL, NULL);
    *lines_deleted = lines;
    return deleted;

failed:
    /* Retention holds no lines: unlike an ingest write its failure must not
     * poison the next commit (which would throw away a good batch and make
     * the runners resend). The transaction is rolled back (with its
     * accounting) and the message kept; the caller tries again later. */
    if (st->in_transaction)
        lt_sqlite_transaction_lost(st);
    st->transaction_lost = false;
    return -1;
}
