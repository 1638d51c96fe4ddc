/* store.c -- the embedded log store: SQLite in WAL mode under --data.
 *
 * Owns the schema, its migrations, the single writer connection, reader
 * connections, and the "last committed line ID" that followers block on.
 * See store.h for the interface and threading model.
 *
 * Why it looks the way it does:
 * - One writer (the ingest thread) batches lines into one explicit
 *   transaction per commit, with prepared statements reused for every row:
 *   per-row transactions would cap ingest at a few thousand lines a second.
 * - WAL lets HTTP reader threads query while the writer writes.
 *   synchronous=NORMAL makes a commit durable against a collector crash (the
 *   ack protocol's promise) without an fsync per commit; power loss may lose
 *   the last commits, which runners no longer hold -- an accepted trade.
 * - Runner scope and request scope are both the logs table, reached through
 *   an index each: (runner_id, id) and, for the minority of lines written
 *   inside requests, a partial (request_id, id) index.
 * - Messages are stored as BLOBs with the exact bytes written, so invalid
 *   UTF-8 survives storage; sanitising is the printer's job (entry_json.c).
 * - Followers must not poll SQLite. lt_store_commit publishes the new last
 *   ID under a mutex and broadcasts a condition variable, and followers wait
 *   on it (lt_store_wait) from any thread.
 *
 * Invariants (asserted where they can break):
 * - Line IDs only grow, even across deletions: the id column is
 *   AUTOINCREMENT, so an ID is never reused and a follower's cursor stays
 *   meaningful forever.
 * - committed_last_id only grows and every row with an ID at or below it is
 *   committed and visible to any read transaction started afterwards.
 * - pending > 0 implies in_transaction; both are cleared together by commit
 *   and by abort.
 * - A failed write rolls back the whole open transaction: after any -1 from
 *   append, runner_seen, request_begin/end or commit, nothing since the last
 *   successful commit is stored, and the caller must not acknowledge it (the
 *   runners replay it). The next lt_store_commit returns -1 as well, so a
 *   caller that acknowledges only after a successful commit cannot ack lost
 *   lines even if it ignored the failed write. "Acked means stored" holds.
 * - The commit hook runs inside the transaction, just before COMMIT: the
 *   assembler's delivery state (what its lines cover) and the lines are
 *   durable together or not at all; a failing hook fails the commit.
 */
#include "store.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "clock.h"
#include "dirs.h"
#include "metrics.h"

#define BUSY_TIMEOUT_MS 5000
#define ERROR_SIZE 256

/* ---- schema ---- */

/* migrations[v] turns schema version v into v + 1. PRAGMA user_version
 * holds the version of a store file; a new file is version 0. Append new
 * steps at the end; never edit a released one. */
static const char *const migrations[] = {
    /* 0 -> 1: the first schema. */
    "CREATE TABLE logs ("
    "  id         INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  ts         INTEGER NOT NULL," /* ns since the epoch, first byte written */
    "  runner_id  TEXT NOT NULL,"
    "  request_id TEXT,"             /* NULL outside requests */
    "  app_id     TEXT NOT NULL,"
    "  version_id TEXT NOT NULL,"
    "  source     TEXT NOT NULL,"
    "  stream     INTEGER NOT NULL," /* 1 stdout, 2 stderr */
    "  level      INTEGER NOT NULL," /* enum lt_level */
    "  pid        INTEGER NOT NULL,"
    "  tid        INTEGER NOT NULL,"
    "  message    BLOB NOT NULL"     /* raw bytes, no trailing newline */
    ");"
    "CREATE INDEX logs_by_runner ON logs(runner_id, id);"
    "CREATE INDEX logs_by_request ON logs(request_id, id) WHERE request_id IS NOT NULL;"
    "CREATE INDEX logs_by_app_version ON logs(app_id, version_id, id);"
    "CREATE INDEX logs_by_ts ON logs(ts);"
    "CREATE TABLE runners ("
    "  runner_id  TEXT PRIMARY KEY,"
    "  app_id     TEXT NOT NULL,"
    "  version_id TEXT NOT NULL,"
    "  source     TEXT NOT NULL,"
    "  first_ts   INTEGER NOT NULL,"
    "  last_ts    INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE requests ("
    "  request_id TEXT PRIMARY KEY,"
    "  runner_id  TEXT NOT NULL,"    /* the runner that first began it */
    "  app_id     TEXT NOT NULL,"
    "  version_id TEXT NOT NULL,"
    "  begin_ts   INTEGER NOT NULL,"
    "  end_ts     INTEGER"           /* NULL while in progress */
    ") WITHOUT ROWID;",

    /* 1 -> 2: who is who (registry.c) and who called a request. */
    "ALTER TABLE requests ADD COLUMN caller TEXT;" /* NULL: no BEGIN named one */
    "CREATE TABLE users ("
    "  name                 TEXT PRIMARY KEY,"
    "  admin                INTEGER NOT NULL DEFAULT 0,"
    "  default_private_logs INTEGER NOT NULL DEFAULT 0,"
    "  created_ts           INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE tokens ("
    "  token_id   TEXT PRIMARY KEY,"     /* tok_ + 12 hex digits of hash */
    "  hash       BLOB NOT NULL UNIQUE," /* SHA-256 of the token */
    "  user       TEXT NOT NULL REFERENCES users(name),"
    "  label      TEXT NOT NULL,"
    "  created_ts INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE apps ("
    "  app_id               TEXT PRIMARY KEY,"
    "  owner                TEXT NOT NULL REFERENCES users(name),"
    "  private_logs         INTEGER NOT NULL,"
    "  private_from_default INTEGER NOT NULL,"
    "  deployed_ts          INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX apps_by_owner ON apps(owner, app_id);"
    /* Retention finds ended requests by end time. */
    "CREATE INDEX requests_by_end ON requests(end_ts) WHERE end_ts IS NOT NULL;"
    /* Owners' searches read their apps' lines in ID order (follow rounds
     * are "id > cursor" in each app); a version filter rides along. */
    "DROP INDEX logs_by_app_version;"
    "CREATE INDEX logs_by_app ON logs(app_id, id);",

    /* 2 -> 3: delivery state (assembler.c, "Delivery state"): what each
     * process instance's records have put in the store, written in the same
     * transactions as the lines, so that records a runner sends again after
     * a collector restart are stored once. */
    "CREATE TABLE delivery_instances ("
    "  instance    INTEGER PRIMARY KEY," /* the ring's 64-bit ID, bit for bit */
    "  last_pos    INTEGER NOT NULL,"    /* records at or below it are applied */
    "  dropped     INTEGER NOT NULL,"    /* dropped bytes already shown */
    "  updated_ts  INTEGER NOT NULL,"
    "  finished_ts INTEGER"              /* its ring is gone: nothing more comes */
    ");"
    "CREATE TABLE delivery_streams ("
    "  instance INTEGER NOT NULL,"
    "  tid      INTEGER NOT NULL,"
    "  fd       INTEGER NOT NULL,"
    "  pos      INTEGER NOT NULL,"       /* every byte of the thread's stream */
    "  off      INTEGER NOT NULL,"       /* before (pos, off) is stored */
    "  PRIMARY KEY (instance, tid, fd)"
    ") WITHOUT ROWID;",

    /* 3 -> 4: lines caught by logtap run --catch-all, writer unknown. */
    "ALTER TABLE logs ADD COLUMN unattributed INTEGER NOT NULL DEFAULT 0;",
};

#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* ---- writer ---- */

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

struct lt_store {
    sqlite3 *db;
    sqlite3_stmt *insert_line;
    sqlite3_stmt *upsert_runner;
    sqlite3_stmt *upsert_request_begin;
    sqlite3_stmt *update_request_end;
    sqlite3_stmt *begin_transaction;
    sqlite3_stmt *commit_transaction;
    sqlite3_stmt *rollback_transaction;
    sqlite3_stmt *retain_by_age;     /* prepared on first use */
    sqlite3_stmt *retain_by_size;
    sqlite3_stmt *retain_requests;
    sqlite3_stmt *expired_exist;
    sqlite3_stmt *delivery[DELIVERY_STATEMENTS];
    lt_store_commit_hook commit_hook; /* writes into each transaction last */
    void *commit_hook_ctx;

    /* Writer-thread state. */
    bool in_transaction;
    bool transaction_lost;         /* a write failed and rolled back since the
                                      last commit; the next commit reports it */
    size_t pending;                /* lines appended in the open transaction */
    int64_t transaction_last_id;   /* highest line ID in the open transaction */
    char error[ERROR_SIZE];

    /* The only state other threads touch. */
    pthread_mutex_t lock;
    pthread_cond_t committed;      /* broadcast after each commit with lines */
    int64_t committed_last_id;     /* guarded by lock */
};

static void format_error(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void format_error(char *buf, size_t size, const char *fmt, ...) {
    if (buf == NULL || size == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

static const char *or_empty(const char *s) { return s != NULL ? s : ""; }

static int store_path(const char *dir, char *path, size_t size, char *err, size_t errlen) {
    if (dir == NULL || dir[0] == '\0') {
        format_error(err, errlen, "no data directory given");
        return -1;
    }
    if (snprintf(path, size, "%s/%s", dir, LT_STORE_FILE_NAME) >= (int)size) {
        format_error(err, errlen, "data directory path too long");
        return -1;
    }
    return 0;
}

/* Run one statement that returns a single integer (PRAGMA or SELECT). */
static int query_int64(sqlite3 *db, const char *sql, int64_t *out) {
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) return -1;
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW ? 0 : -1;
}

static int schema_version_of(sqlite3 *db, int *version, char *err, size_t errlen) {
    int64_t v;
    if (query_int64(db, "PRAGMA user_version", &v) != 0) {
        format_error(err, errlen, "cannot read schema version: %s", sqlite3_errmsg(db));
        return -1;
    }
    if (v > SCHEMA_VERSION) {
        format_error(err, errlen,
                     "store schema version %lld is newer than this logtap understands (%d)",
                     (long long)v, SCHEMA_VERSION);
        return -1;
    }
    *version = (int)v;
    return 0;
}

/* Bring the file to SCHEMA_VERSION, one step per transaction so a crash
 * mid-way leaves a consistent, resumable version behind. */
static int migrate(sqlite3 *db, char *err, size_t errlen) {
    int version;
    if (schema_version_of(db, &version, err, errlen) != 0) return -1;
    while (version < SCHEMA_VERSION) {
        char set_version[64];
        snprintf(set_version, sizeof set_version, "PRAGMA user_version = %d", version + 1);
        char *message = NULL;
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &message) != SQLITE_OK ||
            sqlite3_exec(db, migrations[version], NULL, NULL, &message) != SQLITE_OK ||
            sqlite3_exec(db, set_version, NULL, NULL, &message) != SQLITE_OK ||
            sqlite3_exec(db, "COMMIT", NULL, NULL, &message) != SQLITE_OK) {
            format_error(err, errlen, "schema migration %d -> %d failed: %s", version,
                         version + 1, message != NULL ? message : sqlite3_errmsg(db));
            sqlite3_free(message);
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
        version++;
    }
    return 0;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt, char *err, size_t errlen) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL) != SQLITE_OK) {
        format_error(err, errlen, "cannot prepare \"%s\": %s", sql, sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

static int prepare_writer_statements(lt_store *st, char *err, size_t errlen) {
    /* A later BEGIN of a request reopens it only if it happened after the
     * recorded END: BEGIN records of other processes can arrive late, and a
     * late one must not resurrect a request that has finished. */
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
    /* The first BEGIN that names a caller binds it for good. */
    static const char upsert_request_begin[] =
        "INSERT INTO requests(request_id, runner_id, app_id, version_id, begin_ts, end_ts, caller)"
        " VALUES(?1, ?2, ?3, ?4, ?5, NULL, ?6)"
        " ON CONFLICT(request_id) DO UPDATE SET"
        "  caller = coalesce(caller, excluded.caller),"
        "  begin_ts = min(begin_ts, excluded.begin_ts),"
        "  end_ts = CASE WHEN end_ts IS NOT NULL AND excluded.begin_ts < end_ts"
        "           THEN end_ts ELSE NULL END";
    /* Several threads may END one request; the latest END wins. */
    static const char update_request_end[] =
        "UPDATE requests SET end_ts = max(?2, begin_ts, coalesce(end_ts, ?2))"
        " WHERE request_id = ?1";

    if (prepare(st->db, insert_line, &st->insert_line, err, errlen) != 0) return -1;
    if (prepare(st->db, upsert_runner, &st->upsert_runner, err, errlen) != 0) return -1;
    if (prepare(st->db, upsert_request_begin, &st->upsert_request_begin, err, errlen) != 0)
        return -1;
    if (prepare(st->db, update_request_end, &st->update_request_end, err, errlen) != 0) return -1;
    if (prepare(st->db, "BEGIN IMMEDIATE", &st->begin_transaction, err, errlen) != 0) return -1;
    if (prepare(st->db, "COMMIT", &st->commit_transaction, err, errlen) != 0) return -1;
    if (prepare(st->db, "ROLLBACK", &st->rollback_transaction, err, errlen) != 0) return -1;

    static const char *const delivery_sql[DELIVERY_STATEMENTS] = {
        [DELIVERY_LOAD_INSTANCE] = "SELECT last_pos, dropped, finished_ts IS NOT NULL"
                                   " FROM delivery_instances WHERE instance = ?1",
        [DELIVERY_LOAD_STREAMS] = "SELECT tid, fd, pos, off FROM delivery_streams WHERE instance = ?1",
        [DELIVERY_SAVE_INSTANCE] =
            "INSERT INTO delivery_instances(instance, last_pos, dropped, updated_ts)"
            " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(instance) DO UPDATE SET"
            "  last_pos = excluded.last_pos, dropped = excluded.dropped,"
            "  updated_ts = excluded.updated_ts",
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
        if (prepare(st->db, delivery_sql[i], &st->delivery[i], err, errlen) != 0) return -1;
    return 0;
}

static void finalize_writer_statements(lt_store *st) {
    sqlite3_finalize(st->insert_line);
    sqlite3_finalize(st->upsert_runner);
    sqlite3_finalize(st->upsert_request_begin);
    sqlite3_finalize(st->update_request_end);
    sqlite3_finalize(st->begin_transaction);
    sqlite3_finalize(st->commit_transaction);
    sqlite3_finalize(st->rollback_transaction);
    for (int i = 0; i < DELIVERY_STATEMENTS; i++) sqlite3_finalize(st->delivery[i]);
    sqlite3_finalize(st->retain_by_age);
    sqlite3_finalize(st->retain_by_size);
    sqlite3_finalize(st->retain_requests);
    sqlite3_finalize(st->expired_exist);
}

/* Settings both kinds of connection need. */
static void configure_connection(sqlite3 *db) {
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
}

lt_store *lt_store_open(const char *dir, char *err, size_t errlen) {
    char path[PATH_MAX];
    if (store_path(dir, path, sizeof path, err, errlen) != 0) return NULL;
    if (lt_mkdir_p(dir, 0755) != 0) {
        format_error(err, errlen, "cannot create the data directory %s: %s", dir, strerror(errno));
        return NULL;
    }

    lt_store *st = calloc(1, sizeof *st);
    if (st == NULL) {
        format_error(err, errlen, "out of memory");
        return NULL;
    }
    /* The writer connection is used by one thread at a time (store.h), so
     * SQLite's own per-connection mutex would be pure overhead. */
    int rc = sqlite3_open_v2(path, &st->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        format_error(err, errlen, "cannot open %s: %s", path,
                     st->db != NULL ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        goto fail;
    }
    configure_connection(st->db);
    /* auto_vacuum takes effect only before the file is first written (a
     * new store), so before WAL mode; it lets retention give deleted pages
     * back to the disk. A no-op on an existing store. */
    sqlite3_exec(st->db, "PRAGMA auto_vacuum = INCREMENTAL", NULL, NULL, NULL);

    sqlite3_stmt *journal_mode;
    if (prepare(st->db, "PRAGMA journal_mode = WAL", &journal_mode, err, errlen) != 0) goto fail;
    bool wal = sqlite3_step(journal_mode) == SQLITE_ROW &&
               sqlite3_stricmp((const char *)sqlite3_column_text(journal_mode, 0), "wal") == 0;
    sqlite3_finalize(journal_mode);
    if (!wal) {
        format_error(err, errlen, "cannot put %s in WAL mode: %s", path, sqlite3_errmsg(st->db));
        goto fail;
    }
    char *message = NULL;
    if (sqlite3_exec(st->db,
                     "PRAGMA synchronous = NORMAL;"
                     "PRAGMA journal_size_limit = 67108864;", /* shrink the WAL after bursts */
                     NULL, NULL, &message) != SQLITE_OK) {
        format_error(err, errlen, "cannot configure %s: %s", path, message);
        sqlite3_free(message);
        goto fail;
    }
    if (migrate(st->db, err, errlen) != 0) goto fail;
    if (prepare_writer_statements(st, err, errlen) != 0) goto fail;

    /* The AUTOINCREMENT counter, not max(id): it also covers deleted rows. */
    int64_t last_id = 0;
    if (query_int64(st->db, "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'logs'), 0)",
                    &last_id) != 0) {
        format_error(err, errlen, "cannot read last line ID: %s", sqlite3_errmsg(st->db));
        goto fail;
    }
    st->committed_last_id = last_id;

    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    /* Followers wait with timeouts; wall-clock jumps must not stretch them. */
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&st->committed, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&st->lock, NULL);
    return st;

fail:
    finalize_writer_statements(st);
    sqlite3_close(st->db);
    free(st);
    return NULL;
}

const char *lt_store_error(const lt_store *st) { return st->error; }

size_t lt_store_pending(const lt_store *st) { return st->pending; }

/* Roll back whatever is open; see "A failed write" in the header comment. */
static void abort_transaction(lt_store *st) {
    if (!sqlite3_get_autocommit(st->db)) {
        sqlite3_step(st->rollback_transaction);
        sqlite3_reset(st->rollback_transaction);
    }
    st->in_transaction = false;
    st->pending = 0;
    st->transaction_last_id = 0;
}

/* Callers count store_errors themselves; counting here too would double it. */
static int write_failed(lt_store *st, const char *what) {
    format_error(st->error, sizeof st->error, "%s: %s", what, sqlite3_errmsg(st->db));
    abort_transaction(st);
    st->transaction_lost = true;
    return -1;
}

/* Step a bound write statement to completion and make it reusable. */
static int step_write(lt_store *st, sqlite3_stmt *stmt, const char *what) {
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) return write_failed(st, what);
    return 0;
}

static int ensure_transaction(lt_store *st) {
    if (st->in_transaction) return 0;
    assert(st->pending == 0 && st->transaction_last_id == 0);
    if (step_write(st, st->begin_transaction, "begin transaction") != 0) return -1;
    st->in_transaction = true;
    return 0;
}

int lt_store_append(lt_store *st, const lt_line *line) {
    assert(line != NULL && line->runner_id != NULL);
    assert(line->stream == 1 || line->stream == 2);
    assert(line->level >= 0 && line->level < LT_LEVEL_COUNT);
    assert(line->message != NULL || line->message_len == 0);
    if (line->message_len > INT_MAX) {
        format_error(st->error, sizeof st->error, "line of %zu bytes is too long",
                     line->message_len);
        return -1; /* nothing was written: the open transaction stays good */
    }
    if (ensure_transaction(st) != 0) return -1;

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
    if (step_write(st, s, "append line") != 0) return -1;

    int64_t id = sqlite3_last_insert_rowid(st->db);
    assert(id > st->transaction_last_id);
    st->transaction_last_id = id;
    st->pending++;
    return 0;
}

int lt_store_runner_seen(lt_store *st, const char *runner_id, const char *app_id,
                         const char *version_id, const char *source, int64_t ts_ns) {
    assert(runner_id != NULL);
    if (ensure_transaction(st) != 0) return -1;
    sqlite3_stmt *s = st->upsert_runner;
    sqlite3_bind_text(s, 1, runner_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, or_empty(app_id), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, or_empty(version_id), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, or_empty(source), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, ts_ns);
    return step_write(st, s, "record runner");
}

int lt_store_request_begin(lt_store *st, const char *request_id, const char *runner_id,
                           const char *app_id, const char *version_id, const char *caller,
                           int64_t ts_ns) {
    assert(request_id != NULL && runner_id != NULL);
    if (ensure_transaction(st) != 0) return -1;
    sqlite3_stmt *s = st->upsert_request_begin;
    sqlite3_bind_text(s, 1, request_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, runner_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, or_empty(app_id), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, or_empty(version_id), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, ts_ns);
    if (caller != NULL && caller[0] != '\0')
        sqlite3_bind_text(s, 6, caller, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 6);
    return step_write(st, s, "record request begin");
}

int lt_store_request_end(lt_store *st, const char *request_id, int64_t ts_ns) {
    assert(request_id != NULL);
    if (ensure_transaction(st) != 0) return -1;
    sqlite3_stmt *s = st->update_request_end;
    sqlite3_bind_text(s, 1, request_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, ts_ns);
    return step_write(st, s, "record request end");
}

/* ---- delivery state ---- */

void lt_store_set_commit_hook(lt_store *st, lt_store_commit_hook hook, void *ctx) {
    st->commit_hook = hook;
    st->commit_hook_ctx = ctx;
}

int lt_store_delivery_load(lt_store *st, uint64_t instance, lt_delivery_state *out,
                           lt_delivery_stream_cb on_stream, void *ctx) {
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = st->delivery[DELIVERY_LOAD_INSTANCE];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)instance);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->last_pos = (uint64_t)sqlite3_column_int64(s, 0);
        out->dropped = (uint64_t)sqlite3_column_int64(s, 1);
        out->finished = sqlite3_column_int(s, 2) != 0;
    }
    sqlite3_reset(s);
    if (rc == SQLITE_DONE) return 0;
    if (rc != SQLITE_ROW) goto error;

    s = st->delivery[DELIVERY_LOAD_STREAMS];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)instance);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        on_stream(ctx, (uint32_t)sqlite3_column_int64(s, 0), sqlite3_column_int(s, 1),
                  (uint64_t)sqlite3_column_int64(s, 2), (uint32_t)sqlite3_column_int64(s, 3));
    sqlite3_reset(s);
    if (rc == SQLITE_DONE) return 1;
error:
    /* What is stored next depends on this state: failing to read it fails
     * the transaction, as a failed write does, so that nothing is
     * acknowledged (and no replayed ring is removed) on a guess. */
    return write_failed(st, "load delivery state");
}

/* Bind ?1 = instance and the given integers as ?2, ?3, ..., then step. */
static int delivery_write(lt_store *st, enum delivery_statement which, uint64_t instance, int count,
                          const int64_t *values, const char *what) {
    if (ensure_transaction(st) != 0) return -1;
    sqlite3_stmt *s = st->delivery[which];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)instance);
    for (int i = 0; i < count; i++) sqlite3_bind_int64(s, 2 + i, values[i]);
    return step_write(st, s, what);
}

int lt_store_delivery_save(lt_store *st, uint64_t instance, const lt_delivery_state *state,
                           int64_t now_ns) {
    assert(!state->finished);
    int64_t values[] = {(int64_t)state->last_pos, (int64_t)state->dropped, now_ns};
    return delivery_write(st, DELIVERY_SAVE_INSTANCE, instance, 3, values, "save delivery state");
}

int lt_store_delivery_save_stream(lt_store *st, uint64_t instance, uint32_t tid, int fd,
                                  uint64_t pos, uint32_t off) {
    int64_t values[] = {tid, fd, (int64_t)pos, off};
    return delivery_write(st, DELIVERY_SAVE_STREAM, instance, 4, values, "save delivery point");
}

int lt_store_delivery_prune(lt_store *st, uint64_t instance, uint64_t below) {
    int64_t values[] = {(int64_t)below};
    return delivery_write(st, DELIVERY_PRUNE_STREAMS, instance, 1, values, "prune delivery points");
}

int lt_store_delivery_finish(lt_store *st, uint64_t instance, int64_t now_ns) {
    int64_t all[] = {INT64_MAX}, when[] = {now_ns};
    if (delivery_write(st, DELIVERY_PRUNE_STREAMS, instance, 1, all, "prune delivery points") != 0)
        return -1;
    return delivery_write(st, DELIVERY_FINISH, instance, 1, when, "finish delivery state");
}

int lt_store_delivery_expire(lt_store *st, int64_t before_ns) {
    if (ensure_transaction(st) != 0) return -1;
    sqlite3_bind_int64(st->delivery[DELIVERY_EXPIRE], 1, before_ns);
    return step_write(st, st->delivery[DELIVERY_EXPIRE], "expire delivery state");
}

static void record_commit_time(int64_t elapsed_ns) {
    uint64_t elapsed = elapsed_ns > 0 ? (uint64_t)elapsed_ns : 0;
    uint64_t seen = atomic_load_explicit(&lt_metrics_global.store_commit_ns_max, memory_order_relaxed);
    while (elapsed > seen &&
           !atomic_compare_exchange_weak_explicit(&lt_metrics_global.store_commit_ns_max, &seen,
                                                  elapsed, memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

/* Make committed lines visible to followers. */
static void publish_last_id(lt_store *st, int64_t last_id) {
    pthread_mutex_lock(&st->lock);
    assert(last_id > st->committed_last_id);
    st->committed_last_id = last_id;
    pthread_cond_broadcast(&st->committed);
    pthread_mutex_unlock(&st->lock);
}

int lt_store_commit(lt_store *st) {
    /* The caller may not have looked at a failed write's result; the
     * commit is where it decides what to acknowledge, so say it here (the
     * failed write's message is still in st->error). */
    if (st->transaction_lost) goto failed;
    /* State that describes the lines (the assembler's delivery state) goes
     * into the same transaction, last: both are durable, or neither. */
    if (st->commit_hook != NULL && st->commit_hook(st->commit_hook_ctx) != 0) goto failed;
    if (!st->in_transaction) {
        assert(st->pending == 0);
        return 0;
    }
    int64_t started = lt_mono_ns();
    if (step_write(st, st->commit_transaction, "commit") != 0) goto failed;
    record_commit_time(lt_mono_ns() - started);
    lt_metrics_commit_time((uint64_t)(lt_mono_ns() - started));
    LT_COUNT(store_commits, 1);

    int64_t last_id = st->transaction_last_id;
    st->in_transaction = false;
    st->pending = 0;
    st->transaction_last_id = 0;
    if (last_id > 0) publish_last_id(st, last_id);
    return 0;

failed:
    /* Said now, by this -1: the next transaction starts clean. */
    if (st->in_transaction) abort_transaction(st);
    st->transaction_lost = false;
    return -1;
}

int64_t lt_store_last_id(lt_store *st) {
    pthread_mutex_lock(&st->lock);
    int64_t last_id = st->committed_last_id;
    pthread_mutex_unlock(&st->lock);
    return last_id;
}

int64_t lt_store_wait(lt_store *st, int64_t after_id, int timeout_ms) {
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (timeout_ms > 0) {
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&st->lock);
    while (timeout_ms > 0 && st->committed_last_id <= after_id) {
        if (pthread_cond_timedwait(&st->committed, &st->lock, &deadline) == ETIMEDOUT) break;
    }
    int64_t last_id = st->committed_last_id;
    pthread_mutex_unlock(&st->lock);
    return last_id;
}

void lt_store_close(lt_store *st) {
    if (st == NULL) return;
    if (lt_store_commit(st) != 0)
        fprintf(stderr, "logtap: store: final commit failed: %s\n", st->error);
    finalize_writer_statements(st);
    /* Let SQLite refresh its planner statistics where they have drifted;
     * cheap, and only on a clean shutdown. */
    sqlite3_exec(st->db, "PRAGMA optimize", NULL, NULL, NULL);
    sqlite3_close(st->db);
    pthread_cond_destroy(&st->committed);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

/* ---- retention ---- */

int64_t lt_store_live_bytes(lt_store *st) {
    int64_t pages, free_pages, page_size;
    if (query_int64(st->db, "PRAGMA page_count", &pages) != 0 ||
        query_int64(st->db, "PRAGMA freelist_count", &free_pages) != 0 ||
        query_int64(st->db, "PRAGMA page_size", &page_size) != 0)
        return -1;
    return (pages - free_pages) * page_size;
}

static int prepare_once(lt_store *st, sqlite3_stmt **stmt, const char *sql) {
    if (*stmt != NULL) return 0;
    return prepare(st->db, sql, stmt, st->error, sizeof st->error);
}

long lt_store_retain(lt_store *st, const lt_retention *policy, long max_rows) {
    assert(policy != NULL && max_rows > 0);
    /* Retention runs between ingest commits, never inside one: a failed
     * delete must not roll back lines that are about to be acknowledged.
     * Between a failed write and the commit that reports it, wait. */
    if (st->in_transaction || st->transaction_lost) return 0;
    if (policy->min_ts_ns <= 0 && policy->max_bytes <= 0) return 0;
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
    if (policy->max_bytes > 0 && (live = lt_store_live_bytes(st)) < 0) {
        format_error(st->error, sizeof st->error, "retention: %s", sqlite3_errmsg(st->db));
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
            format_error(st->error, sizeof st->error, "retention: look for expired lines: %s",
                         sqlite3_errmsg(st->db));
            return -1;
        }
    }
    if (!expired && !over_size) return 0;

    long deleted = 0;
    if (ensure_transaction(st) != 0) goto failed;
    if (expired) {
        sqlite3_bind_int64(st->retain_by_age, 1, policy->min_ts_ns);
        sqlite3_bind_int64(st->retain_by_age, 2, max_rows);
        if (step_write(st, st->retain_by_age, "retention by age") != 0) goto failed;
        deleted += sqlite3_changes(st->db);
        sqlite3_bind_int64(st->retain_requests, 1, policy->min_ts_ns);
        sqlite3_bind_int64(st->retain_requests, 2, max_rows);
        if (step_write(st, st->retain_requests, "retention of requests") != 0) goto failed;
    }
    if (over_size && deleted < max_rows) {
        sqlite3_bind_int64(st->retain_by_size, 1, max_rows - deleted);
        if (step_write(st, st->retain_by_size, "retention by size") != 0) goto failed;
        deleted += sqlite3_changes(st->db);
    }
    assert(st->pending == 0); /* deletes add no lines to acknowledge */
    if (step_write(st, st->commit_transaction, "commit retention") != 0) goto failed;
    st->in_transaction = false;
    st->transaction_last_id = 0;
    /* Only a store created with auto_vacuum shrinks; elsewhere the freed
     * pages are reused by new lines, which stops the growth all the same. */
    if (deleted > 0) sqlite3_exec(st->db, "PRAGMA incremental_vacuum", NULL, NULL, NULL);
    return deleted;

failed:
    /* Retention holds no lines: unlike an ingest write its failure must not
     * poison the next commit (which would throw away a good batch and make
     * the runners resend). step_write rolled back and kept the message; the
     * caller tries again later. */
    st->transaction_lost = false;
    return -1;
}

/* ---- readers ---- */

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
#define LINE_COLUMNS \
    "id, ts, runner_id, request_id, app_id, version_id, source, stream, level, pid, tid, message," \
    " unattributed"

struct lt_store_reader {
    sqlite3 *db;
    sqlite3_stmt *request_by_id;
    sqlite3_stmt *request_from_lines;
    sqlite3_stmt *runner_known;
    sqlite3_stmt *runner_app;
    sqlite3_stmt *app_known;
    sqlite3_stmt *queries[QUERY_SHAPES];
    char error[ERROR_SIZE];
};

lt_store_reader *lt_store_reader_open(const char *dir, char *err, size_t errlen) {
    char path[PATH_MAX];
    if (store_path(dir, path, sizeof path, err, errlen) != 0) return NULL;
    lt_store_reader *rd = calloc(1, sizeof *rd);
    if (rd == NULL) {
        format_error(err, errlen, "out of memory");
        return NULL;
    }
    /* Read-write without CREATE: the collector creates the store, and a WAL
     * reader needs write access to the shared-memory index. query_only makes
     * sure this connection never writes anyway. */
    int rc = sqlite3_open_v2(path, &rd->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        format_error(err, errlen, "cannot open %s: %s", path,
                     rd->db != NULL ? sqlite3_errmsg(rd->db) : sqlite3_errstr(rc));
        goto fail;
    }
    configure_connection(rd->db);
    if (sqlite3_exec(rd->db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK) {
        format_error(err, errlen, "cannot configure %s: %s", path, sqlite3_errmsg(rd->db));
        goto fail;
    }
    int version;
    if (schema_version_of(rd->db, &version, err, errlen) != 0) goto fail;
    if (version != SCHEMA_VERSION) {
        format_error(err, errlen, "%s has schema version %d, expected %d (is the collector running?)",
                     path, version, SCHEMA_VERSION);
        goto fail;
    }
    if (prepare(rd->db,
                "SELECT runner_id, app_id, version_id, begin_ts, coalesce(end_ts, 0),"
                " coalesce(caller, '') FROM requests WHERE request_id = ?1",
                &rd->request_by_id, err, errlen) != 0 ||
        prepare(rd->db,
                "SELECT runner_id, app_id, version_id, ts FROM logs"
                " WHERE request_id = ?1 ORDER BY id LIMIT 1",
                &rd->request_from_lines, err, errlen) != 0 ||
        prepare(rd->db,
                "SELECT EXISTS(SELECT 1 FROM runners WHERE runner_id = ?1)"
                "    OR EXISTS(SELECT 1 FROM logs WHERE runner_id = ?1)",
                &rd->runner_known, err, errlen) != 0 ||
        /* A runner's app: from its row, or from its lines if no row was
         * written (a store from before runner rows were kept). */
        prepare(rd->db,
                "SELECT app_id FROM runners WHERE runner_id = ?1"
                " UNION ALL SELECT app_id FROM (SELECT app_id FROM logs WHERE runner_id = ?1"
                " ORDER BY id LIMIT 1) LIMIT 1",
                &rd->runner_app, err, errlen) != 0 ||
        prepare(rd->db,
                "SELECT EXISTS(SELECT 1 FROM runners WHERE app_id = ?1)"
                "    OR EXISTS(SELECT 1 FROM logs WHERE app_id = ?1)",
                &rd->app_known, err, errlen) != 0)
        goto fail;
    return rd;

fail:
    lt_store_reader_close(rd);
    return NULL;
}

void lt_store_reader_close(lt_store_reader *rd) {
    if (rd == NULL) return;
    sqlite3_finalize(rd->request_by_id);
    sqlite3_finalize(rd->request_from_lines);
    sqlite3_finalize(rd->runner_known);
    sqlite3_finalize(rd->runner_app);
    sqlite3_finalize(rd->app_known);
    for (int shape = 0; shape < QUERY_SHAPES; shape++) sqlite3_finalize(rd->queries[shape]);
    sqlite3_close(rd->db);
    free(rd);
}

static int shape_of(const lt_query *q) {
    int shape = 0;
    if (q->runner_id != NULL) shape |= FILTER_RUNNER;
    if (q->request_id != NULL) shape |= FILTER_REQUEST;
    if (q->app_id != NULL) shape |= FILTER_APP;
    if (q->version_id != NULL) shape |= FILTER_VERSION;
    if (q->source != NULL) shape |= FILTER_SOURCE;
    if (q->search != NULL) shape |= FILTER_SEARCH;
    if (q->min_level >= 0) shape |= FILTER_MIN_LEVEL;
    if (q->since_ns != 0) shape |= FILTER_SINCE;
    if (q->until_ns != 0) shape |= FILTER_UNTIL;
    if (q->owner != NULL) shape |= FILTER_OWNER;
    if (q->before_id > 0) shape |= FILTER_BEFORE;
    if (q->newest && q->limit > 0) shape |= QUERY_NEWEST;
    return shape;
}

/* The SQL for a shape. The newest-N form selects the last N in descending
 * order and re-sorts them, so callers always see ascending IDs. Search uses
 * instr() on the BLOB with a BLOB needle: a byte-exact, case-sensitive
 * substring test that never reinterprets invalid UTF-8. */
static void build_query_sql(int shape, char *sql, size_t size) {
    static const struct {
        int filter;
        const char *condition;
    } conditions[] = {
        {FILTER_RUNNER, " AND runner_id = ?3"},   {FILTER_REQUEST, " AND request_id = ?4"},
        {FILTER_APP, " AND app_id = ?5"},         {FILTER_VERSION, " AND version_id = ?6"},
        {FILTER_SOURCE, " AND source = ?7"},      {FILTER_SEARCH, " AND instr(message, ?8) > 0"},
        {FILTER_MIN_LEVEL, " AND level >= ?9"},   {FILTER_SINCE, " AND ts >= ?10"},
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

static sqlite3_stmt *query_statement(lt_store_reader *rd, int shape) {
    assert(shape >= 0 && shape < QUERY_SHAPES);
    if (rd->queries[shape] == NULL) {
        char sql[1280];
        build_query_sql(shape, sql, sizeof sql);
        if (prepare(rd->db, sql, &rd->queries[shape], rd->error, sizeof rd->error) != 0)
            return NULL;
    }
    return rd->queries[shape];
}

static void bind_query(sqlite3_stmt *s, int shape, const lt_query *q) {
    sqlite3_bind_int64(s, PARAM_AFTER, q->after_id);
    sqlite3_bind_int64(s, PARAM_LIMIT, q->limit > 0 ? q->limit : -1); /* -1: no limit */
    if (shape & FILTER_RUNNER) sqlite3_bind_text(s, PARAM_RUNNER, q->runner_id, -1, SQLITE_STATIC);
    if (shape & FILTER_REQUEST) sqlite3_bind_text(s, PARAM_REQUEST, q->request_id, -1, SQLITE_STATIC);
    if (shape & FILTER_APP) sqlite3_bind_text(s, PARAM_APP, q->app_id, -1, SQLITE_STATIC);
    if (shape & FILTER_VERSION) sqlite3_bind_text(s, PARAM_VERSION, q->version_id, -1, SQLITE_STATIC);
    if (shape & FILTER_SOURCE) sqlite3_bind_text(s, PARAM_SOURCE, q->source, -1, SQLITE_STATIC);
    if (shape & FILTER_SEARCH)
        sqlite3_bind_blob(s, PARAM_SEARCH, q->search, (int)strlen(q->search), SQLITE_STATIC);
    if (shape & FILTER_MIN_LEVEL) sqlite3_bind_int(s, PARAM_MIN_LEVEL, q->min_level);
    if (shape & FILTER_SINCE) sqlite3_bind_int64(s, PARAM_SINCE, q->since_ns);
    if (shape & FILTER_UNTIL) sqlite3_bind_int64(s, PARAM_UNTIL, q->until_ns);
    if (shape & FILTER_OWNER) sqlite3_bind_text(s, PARAM_OWNER, q->owner, -1, SQLITE_STATIC);
    if (shape & FILTER_BEFORE) sqlite3_bind_int64(s, PARAM_BEFORE, q->before_id);
}

static const char *column_text_or_empty(sqlite3_stmt *s, int column) {
    const unsigned char *text = sqlite3_column_text(s, column);
    return text != NULL ? (const char *)text : "";
}

/* Borrow the current row as an lt_line; valid until the next step. */
static void line_from_row(sqlite3_stmt *s, lt_line *line) {
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

long lt_store_query(lt_store_reader *rd, const lt_query *q, lt_line_cb cb, void *ctx) {
    assert(q != NULL && cb != NULL);
    assert(q->limit >= 0 && q->after_id >= 0 && q->before_id >= 0);
    if (q->search != NULL && strlen(q->search) > INT_MAX) return -1;
    int shape = shape_of(q);
    sqlite3_stmt *s = query_statement(rd, shape);
    if (s == NULL) return -1;
    bind_query(s, shape, q);

    long delivered = 0;
    int64_t previous_id = q->after_id;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        lt_line line;
        line_from_row(s, &line);
        assert(line.id > previous_id); /* ascending, after the cursor */
        previous_id = line.id;
        (void)previous_id; /* read only by the assert */
        delivered++;
        if (cb(&line, ctx) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE)
        format_error(rd->error, sizeof rd->error, "query: %s", sqlite3_errmsg(rd->db));
    /* Reset ends the read transaction, so a long-lived reader does not pin
     * old WAL frames; clearing drops the borrowed pointers. */
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? delivered : -1;
}

static void copy_column(sqlite3_stmt *s, int column, char *out, size_t size) {
    snprintf(out, size, "%s", column_text_or_empty(s, column));
}

int lt_store_request_get(lt_store_reader *rd, const char *request_id, lt_request_info *out) {
    assert(request_id != NULL && out != NULL);
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
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc == SQLITE_ROW) return 1;
    if (rc != SQLITE_DONE) goto error;

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
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc == SQLITE_ROW) return 1;
    if (rc == SQLITE_DONE) return 0;

error:
    format_error(rd->error, sizeof rd->error, "request look-up: %s", sqlite3_errmsg(rd->db));
    return -1;
}

/* Run a one-key EXISTS statement: 1, 0, or -1 with `what` in the error. */
static int key_exists(lt_store_reader *rd, sqlite3_stmt *s, const char *key, const char *what) {
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int known = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) != 0 : -1;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (known < 0) format_error(rd->error, sizeof rd->error, "%s: %s", what, sqlite3_errmsg(rd->db));
    return known;
}

int lt_store_runner_known(lt_store_reader *rd, const char *runner_id) {
    assert(runner_id != NULL);
    return key_exists(rd, rd->runner_known, runner_id, "runner look-up");
}

int lt_store_runner_app(lt_store_reader *rd, const char *runner_id, char app_id[LT_WIRE_MAX_ID + 1]) {
    assert(runner_id != NULL && app_id != NULL);
    app_id[0] = '\0';
    sqlite3_stmt *s = rd->runner_app;
    sqlite3_bind_text(s, 1, runner_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) copy_column(s, 0, app_id, LT_WIRE_MAX_ID + 1);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc == SQLITE_ROW) return 1;
    if (rc == SQLITE_DONE) return 0;
    format_error(rd->error, sizeof rd->error, "runner look-up: %s", sqlite3_errmsg(rd->db));
    return -1;
}

int lt_store_app_known(lt_store_reader *rd, const char *app_id) {
    assert(app_id != NULL);
    return key_exists(rd, rd->app_known, app_id, "app look-up");
}
