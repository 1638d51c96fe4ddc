/* write.c -- the SQLite backend's writer: lines, runner and request rows,
 * the delivery state, and the commit unit they all go into.
 *
 * Why it looks the way it does:
 * - One writer (the ingest thread) batches lines into one explicit
 *   transaction per commit, with prepared statements reused for every row:
 *   per-row transactions would cap ingest at a few thousand lines a second.
 * - The commit unit is that transaction. The delivery state is written into
 *   it by the commit hook just before COMMIT, so lines and the state that
 *   describes them are durable together (store.h, "Lines and delivery
 *   state together").
 *
 * Invariants (asserted where they can break):
 * - pending > 0 implies in_transaction; both are cleared together by commit
 *   and by abort.
 * - A failed write rolls back the whole open transaction: after any -1 from
 *   append, runner_seen, request_begin/end or commit, nothing since the last
 *   successful commit is stored, and the caller must not acknowledge it (the
 *   runners replay it). The next commit returns -1 as well, so a caller
 *   that acknowledges only after a successful commit cannot ack lost lines
 *   even if it ignored the failed write. "Acked means stored" holds.
 * - The commit hook runs inside the transaction, just before COMMIT: the
 *   assembler's delivery state (what its lines cover) and the lines are
 *   durable together or not at all; a failing hook fails the commit.
 * - What each tenant holds (usage.c) is written into the unit after the
 *   hook, from the deltas of the lines appended; a rolled-back unit drops
 *   its deltas, so tenant_usage always sums the committed lines.
 */
#include "sqlite.h"

#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

static const char *or_empty(const char *s)
{
    return s != NULL ? s : "";
}

static int prepare_writer_statements(lt_backend_writer *st, char *err, size_t errlen)
{
    static const char insert_line[] =
        "INSERT INTO logs(ts, runner_id, request_id, app_id, version_id, source,"
        " stream, level, pid, tid, message, unattributed)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
    static const char upsert_runner[] =
        "INSERT INTO runners(runner_id, app_id, version_id, source, first_ts, last_ts)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?5)"
        " ON CONFLICT(runner_id) DO UPDATE SET"
        "  app_id = CASE WHEN excluded.app_id <> '' THEN excluded.app_id ELSE app_id END,"
        "  version_id = CASE WHEN excluded.version_id <> ''"
        "               THEN excluded.version_id ELSE version_id END,"
        "  source = CASE WHEN excluded.source <> '' THEN excluded.source ELSE source END,"
        "  first_ts = min(first_ts, excluded.first_ts),"
        "  last_ts = max(last_ts, excluded.last_ts)";
    if (lt_sqlite_prepare(st->db, insert_line, &st->insert_line, err, errlen) != 0)
        return -1;
    if (lt_sqlite_prepare(st->db, upsert_runner, &st->upsert_runner, err, errlen) != 0)
        return -1;
    if (lt_sqlite_prepare(st->db, "BEGIN IMMEDIATE", &st->begin_transaction, err, errlen) != 0)
        return -1;
    if (lt_sqlite_prepare(st->db, "COMMIT", &st->commit_transaction, err, errlen) != 0)
        return -1;
    if (lt_sqlite_prepare(st->db, "ROLLBACK", &st->rollback_transaction, err, errlen) != 0)
        return -1;

    static const char *const delivery_sql[DELIVERY_STATEMENTS] = {
        [DELIVERY_LOAD_INSTANCE] = "SELECT last_pos, dropped, finished_ts IS NOT NULL, runner_id, app_id"
                                   " FROM delivery_instances WHERE instance = ?1",
        [DELIVERY_LOAD_STREAMS] = "SELECT tid, fd, pos, off FROM delivery_streams WHERE instance = ?1",
        [DELIVERY_SAVE_INSTANCE] =
            "INSERT INTO delivery_instances(instance, last_pos, dropped, updated_ts, runner_id, app_id)"
            " VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(instance) DO UPDATE SET"
            "  last_pos = excluded.last_pos, dropped = excluded.dropped,"
            "  updated_ts = excluded.updated_ts,"
            "  runner_id = coalesce(delivery_instances.runner_id, excluded.runner_id),"
            "  app_id = coalesce(delivery_instances.app_id, excluded.app_id)",
        [DELIVERY_SAVE_STREAM] = "INSERT INTO delivery_streams(instance, tid, fd, pos, off)"
                                 " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(instance, tid, fd)"
                                 " DO UPDATE SET pos = excluded.pos, off = excluded.off",
        [DELIVERY_PRUNE_STREAMS] = "DELETE FROM delivery_streams WHERE instance = ?1 AND pos < ?2",
        [DELIVERY_FINISH] =
            "INSERT INTO delivery_instances(instance, last_pos, dropped, updated_ts, finished_ts)"
            " VALUES(?1, 0, 0, ?2, ?2) ON CONFLICT(instance) DO UPDATE SET"
            "  updated_ts = excluded.updated_ts, finished_ts = excluded.finished_ts",
        [DELIVERY_EXPIRE] = "DELETE FROM delivery_instances WHERE finished_ts < ?1",
    };
    for (int i = 0; i < DELIVERY_STATEMENTS; i++)
        if (lt_sqlite_prepare(st->db, delivery_sql[i], &st->delivery[i], err, errlen) != 0)
            return -1;
    return 0;
}

static void finalize_writer_statements(lt_backend_writer *st)
{
    sqlite3_finalize(st->insert_line);
    sqlite3_finalize(st->upsert_runner);
    for (size_t i = 0; i < sizeof st->request_stmts / sizeof st->request_stmts[0]; i++)
        sqlite3_finalize(st->request_stmts[i]);
    sqlite3_finalize(st->begin_transaction);
    sqlite3_finalize(st->commit_transaction);
    sqlite3_finalize(st->rollback_transaction);
    for (int i = 0; i < DELIVERY_STATEMENTS; i++)
        sqlite3_finalize(st->delivery[i]);
    sqlite3_finalize(st->retain_by_age);
    sqlite3_finalize(st->retain_requests);
    sqlite3_finalize(st->expired_exist);
    sqlite3_finalize(st->retain_open_requests);
    sqlite3_finalize(st->retain_app);
    sqlite3_finalize(st->retain_runner);
    sqlite3_finalize(st->largest_tenant);
    sqlite3_finalize(st->tenant_over);
    sqlite3_finalize(st->page_count);
    sqlite3_finalize(st->freelist_count);
    sqlite3_finalize(st->page_size);
    sqlite3_finalize(st->usage_add);
    sqlite3_finalize(st->usage_drop);
    lt_sqlite_usage_free(st);
}

lt_backend_writer *lt_sqlite_open(const char *dir, int64_t *last_id, char *err, size_t errlen)
{
    lt_backend_writer *st = calloc(1, sizeof *st);
    if (st == NULL) {
        lt_store_errorf(err, errlen, "out of memory");
        return NULL;
    }
    st->db = lt_sqlite_open_writer_db(dir, err, errlen);
    if (st->db == NULL)
        goto fail;
    if (prepare_writer_statements(st, err, errlen) != 0)
        goto fail;

    /* The AUTOINCREMENT counter, not max(id): it also covers deleted rows. */
    *last_id = 0;
    if (lt_sqlite_query_int64(st->db,
                              "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'logs'), 0)",
                              last_id) != 0) {
        lt_store_errorf(err, errlen, "cannot read last line ID: %s", sqlite3_errmsg(st->db));
        goto fail;
    }
    return st;

fail:
    finalize_writer_statements(st);
    sqlite3_close(st->db);
    free(st);
    return NULL;
}

void lt_sqlite_close(lt_backend_writer *st)
{
    finalize_writer_statements(st);
    /* Let SQLite refresh its planner statistics where they have drifted;
     * cheap, and only on a clean shutdown. */
    sqlite3_exec(st->db, "PRAGMA optimize", NULL, NULL, NULL);
    sqlite3_close(st->db);
    free(st);
}

const char *lt_sqlite_error(const lt_backend_writer *st)
{
    return st->error;
}

size_t lt_sqlite_pending(const lt_backend_writer *st)
{
    return st->pending;
}

/* Roll back whatever is open; see "A failed write" in the header comment. */
static void abort_transaction(lt_backend_writer *st)
{
    if (!sqlite3_get_autocommit(st->db)) {
        sqlite3_step(st->rollback_transaction);
        sqlite3_reset(st->rollback_transaction);
    }
    st->in_transaction = false;
    st->pending = 0;
    st->transaction_last_id = 0;
    lt_sqlite_usage_clear(st); /* its accounting went with it */
}

void lt_sqlite_transaction_lost(lt_backend_writer *st)
{
    abort_transaction(st);
    st->transaction_lost = true;
}

/* Callers count store_errors themselves; counting here too would double it. */
static int write_failed(lt_backend_writer *st, const char *what)
{
    lt_store_errorf(st->error, sizeof st->error, "%s: %s", what, sqlite3_errmsg(st->db));
    lt_sqlite_transaction_lost(st);
    return -1;
}

/* Step a bound write statement to completion and make it reusable. */
int lt_sqlite_step_write(lt_backend_writer *st, sqlite3_stmt *stmt, const char *what)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE)
        return write_failed(st, what);
    return 0;
}

int lt_sqlite_ensure_transaction(lt_backend_writer *st)
{
    if (st->in_transaction)
        return 0;
    assert(st->pending == 0 && st->transaction_last_id == 0);
    if (lt_sqlite_step_write(st, st->begin_transaction, "begin transaction") != 0)
        return -1;
    st->in_transaction = true;
    return 0;
}

int lt_sqlite_append(lt_backend_writer *st, const lt_line *line)
{
    if (line->message_len > INT_MAX) {
        lt_store_errorf(st->error, sizeof st->error, "line of %zu bytes is too long", line->message_len);
        return -1; /* nothing was written: the open transaction stays good */
    }
    if (lt_sqlite_ensure_transaction(st) != 0)
        return -1;

    /* SQLITE_STATIC is safe: the statement is stepped and reset before we
     * return, while the caller's strings are still alive. A zero-length
     * message is bound from "" so that it stores an empty BLOB, not NULL. */
    sqlite3_stmt *s = st->insert_line;
    sqlite3_bind_int64(s, 1, line->ts_ns);
    sqlite3_bind_text(s, 2, line->runner_id, -1, SQLITE_STATIC);
    if (line->request_id != NULL)
        sqlite3_bind_text(s, 3, line->request_id, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 3);
    sqlite3_bind_text(s, 4, or_empty(line->app_id), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, or_empty(line->version_id), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, or_empty(line->source), -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 7, line->stream);
    sqlite3_bind_int(s, 8, line->level);
    sqlite3_bind_int64(s, 9, line->pid);
    sqlite3_bind_int64(s, 10, line->tid);
    sqlite3_bind_blob(s, 11, line->message_len > 0 ? line->message : "", (int)line->message_len,
                      SQLITE_STATIC);
    sqlite3_bind_int(s, 12, line->unattributed);
    if (lt_sqlite_step_write(st, s, "append line") != 0)
        return -1;
    int64_t bytes = lt_sqlite_line_bytes(line->runner_id, line->app_id, line->version_id, line->source,
                                         line->request_id, line->message_len);
    if (lt_sqlite_usage_note(st, line->app_id, line->runner_id, bytes, 1) != 0) {
        lt_sqlite_transaction_lost(st);
        return -1;
    }

    int64_t id = sqlite3_last_insert_rowid(st->db);
    assert(id > st->transaction_last_id);
    st->transaction_last_id = id;
    st->pending++;
    return 0;
}

int lt_sqlite_runner_seen(lt_backend_writer *st, const char *runner_id, const char *app_id,
                          const char *version_id, const char *source, int64_t ts_ns)
{
    if (lt_sqlite_ensure_transaction(st) != 0)
        return -1;
    sqlite3_stmt *s = st->upsert_runner;
    sqlite3_bind_text(s, 1, runner_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, or_empty(app_id), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, or_empty(version_id), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, or_empty(source), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, ts_ns);
    return lt_sqlite_step_write(st, s, "record runner");
}

/* ---- delivery state ---- */

/* An owner column into its lt_delivery_state field ("" for NULL). The
 * writer only ever stores IDs that passed lt_wire_id_ok, so a longer value
 * is a damaged store: cut, it can only fail to match. */
static void copy_id(char dst[LT_WIRE_MAX_ID + 1], const unsigned char *text, int len)
{
    size_t n = text && len > 0 ? (size_t)len : 0;
    if (n > LT_WIRE_MAX_ID)
        n = LT_WIRE_MAX_ID;
    if (n)
        memcpy(dst, text, n);
    dst[n] = '\0';
}

int lt_sqlite_delivery_load(lt_backend_writer *st, uint64_t instance, lt_delivery_state *out,
                            lt_delivery_stream_cb on_stream, void *ctx)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = st->delivery[DELIVERY_LOAD_INSTANCE];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)instance);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->last_pos = (uint64_t)sqlite3_column_int64(s, 0);
        out->dropped = (uint64_t)sqlite3_column_int64(s, 1);
        out->finished = sqlite3_column_int(s, 2) != 0;
        copy_id(out->runner_id, sqlite3_column_text(s, 3), sqlite3_column_bytes(s, 3));
        copy_id(out->app_id, sqlite3_column_text(s, 4), sqlite3_column_bytes(s, 4));
    }
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        goto error;

    s = st->delivery[DELIVERY_LOAD_STREAMS];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)instance);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        on_stream(ctx, (uint32_t)sqlite3_column_int64(s, 0), sqlite3_column_int(s, 1),
                  (uint64_t)sqlite3_column_int64(s, 2), (uint32_t)sqlite3_column_int64(s, 3));
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return 1;
error:
    /* What is stored next depends on this state: failing to read it fails
     * the transaction, as a failed write does, so that nothing is
     * acknowledged (and no replayed ring is removed) on a guess. */
    return write_failed(st, "load delivery state");
}

/* Bind ?1 = instance and the given integers as ?2, ?3, ..., then step. */
static int delivery_write(lt_backend_writer *st, enum delivery_statement which, uint64_t instance, int count,
                          const int64_t *values, const char *what)
{
    if (lt_sqlite_ensure_transaction(st) != 0)
        return -1;
    sqlite3_stmt *s = st->delivery[which];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)instance);
    for (int i = 0; i < count; i++)
        sqlite3_bind_int64(s, 2 + i, values[i]);
    return lt_sqlite_step_write(st, s, what);
}

int lt_sqlite_delivery_save(lt_backend_writer *st, uint64_t instance, const lt_delivery_state *state,
                            int64_t now_ns)
{
    sqlite3_stmt *s = st->delivery[DELIVERY_SAVE_INSTANCE];
    sqlite3_bind_text(s, 5, state->runner_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, state->app_id, -1, SQLITE_STATIC);
    int64_t values[] = {(int64_t)state->last_pos, (int64_t)state->dropped, now_ns};
    int rc = delivery_write(st, DELIVERY_SAVE_INSTANCE, instance, 3, values, "save delivery state");
    sqlite3_clear_bindings(s); /* the IDs were the caller's */
    return rc;
}

int lt_sqlite_delivery_save_stream(lt_backend_writer *st, uint64_t instance, uint32_t tid, int fd,
                                   uint64_t pos, uint32_t off)
{
    int64_t values[] = {tid, fd, (int64_t)pos, off};
    return delivery_write(st, DELIVERY_SAVE_STREAM, instance, 4, values, "save delivery point");
}

int lt_sqlite_delivery_prune(lt_backend_writer *st, uint64_t instance, uint64_t below)
{
    int64_t values[] = {(int64_t)below};
    return delivery_write(st, DELIVERY_PRUNE_STREAMS, instance, 1, values, "prune delivery points");
}

int lt_sqlite_delivery_finish(lt_backend_writer *st, uint64_t instance, int64_t now_ns)
{
    int64_t all[] = {INT64_MAX}, when[] = {now_ns};
    if (delivery_write(st, DELIVERY_PRUNE_STREAMS, instance, 1, all, "prune delivery points") != 0)
        return -1;
    return delivery_write(st, DELIVERY_FINISH, instance, 1, when, "finish delivery state");
}

int lt_sqlite_delivery_expire(lt_backend_writer *st, int64_t before_ns)
{
    if (lt_sqlite_ensure_transaction(st) != 0)
        return -1;
    sqlite3_bind_int64(st->delivery[DELIVERY_EXPIRE], 1, before_ns);
    return lt_sqlite_step_write(st, st->delivery[DELIVERY_EXPIRE], "expire delivery state");
}

int lt_sqlite_commit(lt_backend_writer *st, lt_store_commit_hook hook, void *hook_ctx, int64_t *last_id)
{
    *last_id = 0;
    /* The caller may not have looked at a failed write's result; the
     * commit is where it decides what to acknowledge, so say it here (the
     * failed write's message is still in st->error). */
    if (st->transaction_lost)
        goto failed;
    /* State that describes the lines (the assembler's delivery state) goes
     * into the same transaction, last: both are durable, or neither. */
    if (hook != NULL && hook(hook_ctx) != 0)
        goto failed;
    /* What each tenant holds changes with the lines, in the same unit. */
    if (lt_sqlite_usage_flush(st) != 0)
        goto failed;
    if (!st->in_transaction) {
        assert(st->pending == 0);
        return 0;
    }
    int64_t started = lt_mono_ns();
    if (lt_sqlite_step_write(st, st->commit_transaction, "commit") != 0)
        goto failed;
    lt_store_note_commit(lt_mono_ns() - started);

    *last_id = st->transaction_last_id;
    st->in_transaction = false;
    st->pending = 0;
    st->transaction_last_id = 0;
    return 0;

failed:
    /* Said now, by this -1: the next transaction starts clean. */
    if (st->in_transaction)
        abort_transaction(st);
    st->transaction_lost = false;
    return -1;
}
