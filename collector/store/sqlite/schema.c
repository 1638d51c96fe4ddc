/* schema.c -- the SQLite backend's file: where it is, how its connections
 * are set up, the log tables and their migrations.
 *
 * Owns logs, runners, requests and the delivery state's tables (the
 * registry's users, tokens and apps live in the same file but are the
 * registry's: registry.c). PRAGMA user_version is this schema's version;
 * its numbers mean what they always meant.
 *
 * Why it looks the way it does:
 * - WAL lets HTTP reader threads query while the writer writes.
 *   synchronous=NORMAL makes a commit durable against a collector crash (the
 *   ack protocol's promise) without an fsync per commit; power loss may lose
 *   the last commits, which runners no longer hold -- an accepted trade.
 * - Runner scope and request scope are both the logs table, reached through
 *   an index each: (runner_id, id) and, for the minority of lines written
 *   inside requests, a partial (request_id, id) index.
 * - Messages are stored as BLOBs with the exact bytes written, so invalid
 *   UTF-8 survives storage; sanitising is the printer's job (entry_json.c).
 * - Line IDs only grow, even across deletions: the id column is
 *   AUTOINCREMENT, so an ID is never reused (store.h, "Line IDs").
 */
#include "sqlite.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "dirs.h"
#include "sqlite_schema.h"

#define BUSY_TIMEOUT_MS 5000

/* ---- schema ---- */

/* migrations[v] turns schema version v into v + 1. PRAGMA user_version
 * holds the version of a store file; a new file is version 0. Append new
 * steps at the end; never edit a released one (step 1 -> 2 lost its
 * registry tables to the registry's own schema, which makes them the same
 * way: a file of every version ends up with the same tables). */
static const char *const migrations[] = {
    /* 0 -> 1: the first schema. */
    "CREATE TABLE logs ("
    "  id         INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  ts         INTEGER NOT NULL," /* ns since the epoch, first byte written */
    "  runner_id  TEXT NOT NULL,"
    "  request_id TEXT," /* NULL outside requests */
    "  app_id     TEXT NOT NULL,"
    "  version_id TEXT NOT NULL,"
    "  source     TEXT NOT NULL,"
    "  stream     INTEGER NOT NULL," /* 1 stdout, 2 stderr */
    "  level      INTEGER NOT NULL," /* enum lt_level */
    "  pid        INTEGER NOT NULL,"
    "  tid        INTEGER NOT NULL,"
    "  message    BLOB NOT NULL" /* raw bytes, no trailing newline */
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
    "  runner_id  TEXT NOT NULL," /* the runner that first began it */
    "  app_id     TEXT NOT NULL,"
    "  version_id TEXT NOT NULL,"
    "  begin_ts   INTEGER NOT NULL,"
    "  end_ts     INTEGER" /* NULL while in progress */
    ") WITHOUT ROWID;",

    /* 1 -> 2: who called a request. Until the registry versioned its own
     * tables, this step also made users, tokens and apps: files it
     * migrated then have them, and the registry's first step (registry.c)
     * adopts them; it makes them in files this step migrates now. */
    "ALTER TABLE requests ADD COLUMN caller TEXT;" /* NULL: no BEGIN named one */
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
    "  finished_ts INTEGER" /* its ring is gone: nothing more comes */
    ");"
    "CREATE TABLE delivery_streams ("
    "  instance INTEGER NOT NULL,"
    "  tid      INTEGER NOT NULL,"
    "  fd       INTEGER NOT NULL,"
    "  pos      INTEGER NOT NULL," /* every byte of the thread's stream */
    "  off      INTEGER NOT NULL," /* before (pos, off) is stored */
    "  PRIMARY KEY (instance, tid, fd)"
    ") WITHOUT ROWID;",

    /* 3 -> 4: lines caught by logtap run --catch-all, writer unknown. */
    "ALTER TABLE logs ADD COLUMN unattributed INTEGER NOT NULL DEFAULT 0;",

    /* 4 -> 5: what each tenant holds, so that size retention takes from
     * the largest first (retention.c); the tenant of a line is its app,
     * or its runner when it has no app (runner_id '' for an app's row).
     * bytes is the accounted size (usage.c, LT_SQLITE_LINE_OVERHEAD: the
     * message, its IDs and 64 bytes of row and index overhead); the
     * writer keeps it exact in every transaction that adds or deletes
     * lines. Existing lines are counted once, here. Requests that never
     * end are found by begin time. */
    "CREATE TABLE tenant_usage ("
    "  app_id    TEXT NOT NULL,"
    "  runner_id TEXT NOT NULL,"
    "  bytes     INTEGER NOT NULL,"
    "  lines     INTEGER NOT NULL,"
    "  PRIMARY KEY (app_id, runner_id)"
    ") WITHOUT ROWID;"
    "CREATE INDEX tenant_usage_by_bytes ON tenant_usage(bytes);"
    "INSERT INTO tenant_usage(app_id, runner_id, bytes, lines)"
    " SELECT app_id, CASE WHEN app_id = '' THEN runner_id ELSE '' END,"
    "  sum(64 + length(message) + length(CAST(runner_id AS BLOB)) + length(CAST(app_id AS BLOB))"
    "      + length(CAST(version_id AS BLOB)) + length(CAST(source AS BLOB))"
    "      + coalesce(length(CAST(request_id AS BLOB)), 0)),"
    "  count(*) FROM logs GROUP BY 1, 2;"
    "CREATE INDEX requests_open_by_begin ON requests(begin_ts) WHERE end_ts IS NULL;",

    /* 5 -> 6: who each instance belongs to (assembler.c, "Instances belong
     * to their first identity"), kept across restarts so that nobody can
     * claim an instance by naming it first after one. NULL: saved before
     * this version; the next save fills it in. */
    "ALTER TABLE delivery_instances ADD COLUMN runner_id TEXT;"
    "ALTER TABLE delivery_instances ADD COLUMN app_id TEXT;",

    /* 6 -> 7: the lists of runners and requests (GET /v1/runners,
     * /v1/requests) page newest first by start time; without these a page
     * would read and sort the whole table. (A WITHOUT ROWID table's index
     * carries the primary key, the order's second column.) */
    "CREATE INDEX runners_by_first ON runners(first_ts);"
    "CREATE INDEX requests_by_begin ON requests(begin_ts);",

    /* 7 -> 8: request states (requests.c). A request the gateway announced
     * is queued (begun = 0; runner_id and version_id '' and begin_ts the
     * announcement's time until its first BEGIN); queued_ts is NULL for a
     * request never announced. error_type and error say why a completed
     * request failed (NULL: it did not). request_holders says which
     * process instances are inside a request, so that the death of the
     * last of them completes it. Existing rows are begun. */
    "ALTER TABLE requests ADD COLUMN queued_ts INTEGER;"
    "ALTER TABLE requests ADD COLUMN begun INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE requests ADD COLUMN error_type TEXT;"
    "ALTER TABLE requests ADD COLUMN error TEXT;"
    "CREATE INDEX requests_queued ON requests(app_id, queued_ts) WHERE begun = 0 AND end_ts IS NULL;"
    "CREATE TABLE request_holders ("
    "  request_id TEXT NOT NULL,"
    "  instance   INTEGER NOT NULL," /* the ring's 64-bit ID, bit for bit */
    "  PRIMARY KEY (request_id, instance)"
    ") WITHOUT ROWID;"
    "CREATE INDEX request_holders_by_instance ON request_holders(instance);",

    /* 8 -> 9 (log drains, issue 18; self-contained: renumber freely at
     * merge): the drains an app's owner attached, with each one's durable
     * cursor and counters (drain.c). The secret is sealed with a key kept
     * outside this file (drain_secret.c), so a copy of the store alone
     * does not reveal it. */
    "CREATE TABLE drains ("
    "  id             TEXT PRIMARY KEY,"
    "  app_id         TEXT NOT NULL,"
    "  kind           TEXT NOT NULL,"
    "  url            TEXT NOT NULL,"
    "  runner_id      TEXT NOT NULL,"    /* '' = any */
    "  source         TEXT NOT NULL,"    /* '' = any */
    "  min_level      INTEGER NOT NULL," /* -1 = any */
    "  requests_only  INTEGER NOT NULL,"
    "  allow_loopback INTEGER NOT NULL,"
    "  sealed_secret  BLOB NOT NULL,"
    "  created_ts     INTEGER NOT NULL,"
    "  cursor         INTEGER NOT NULL," /* every line <= it is delivered */
    "  lines_sent     INTEGER NOT NULL DEFAULT 0,"
    "  bytes_sent     INTEGER NOT NULL DEFAULT 0,"
    "  batches_failed INTEGER NOT NULL DEFAULT 0,"
    /* the last line of the batch being sent (0: none), so that a batch
     * cut short by a crash is sent again with the same lines and key */
    "  inflight_last  INTEGER NOT NULL DEFAULT 0,"
    "  lines_missed   INTEGER NOT NULL DEFAULT 0" /* deleted before delivery */
    ") WITHOUT ROWID;"
    "CREATE INDEX drains_by_app ON drains(app_id, created_ts);"
    /* A line deleted (by retention) past a drain's cursor that its filters
     * take is counted missed, in the deleting transaction; a batch the
     * drain delivered from memory gives back what was counted of it (the
     * advance, drains.c). With no drain of the line's app this is one
     * probe of an index. */
    "CREATE TRIGGER drains_count_missed AFTER DELETE ON logs BEGIN"
    " UPDATE drains SET lines_missed = lines_missed + 1"
    "  WHERE app_id = OLD.app_id AND OLD.id > cursor"
    "   AND (runner_id = '' OR runner_id = OLD.runner_id) AND (source = '' OR source = OLD.source)"
    "   AND (min_level < 0 OR OLD.level >= min_level)"
    "   AND (requests_only = 0 OR OLD.request_id IS NOT NULL);"
    " END;",
};

#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

static int read_user_version(sqlite3 *db, int64_t *version)
{
    return lt_sqlite_query_int64(db, "PRAGMA user_version", version);
}

static const lt_sqlite_schema store_schema = {
    .name = "store",
    .steps = migrations,
    .step_count = SCHEMA_VERSION,
    .read_version = read_user_version,
    .write_version = "PRAGMA user_version = %d",
};

static int store_path(const char *dir, char *path, size_t size, char *err, size_t errlen)
{
    if (dir == NULL || dir[0] == '\0') {
        lt_store_errorf(err, errlen, "no data directory given");
        return -1;
    }
    if (snprintf(path, size, "%s/%s", dir, LT_STORE_FILE_NAME) >= (int)size) {
        lt_store_errorf(err, errlen, "data directory path too long");
        return -1;
    }
    return 0;
}

int lt_sqlite_query_int64(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW ? 0 : -1;
}

int lt_sqlite_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt, char *err, size_t errlen)
{
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL) != SQLITE_OK) {
        lt_store_errorf(err, errlen, "cannot prepare \"%s\": %s", sql, sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

/* Settings both kinds of connection need. */
static void configure_connection(sqlite3 *db)
{
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
}

sqlite3 *lt_sqlite_open_writer_db(const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (store_path(dir, path, sizeof path, err, errlen) != 0)
        return NULL;
    if (lt_mkdir_p(dir, 0755) != 0) {
        lt_store_errorf(err, errlen, "cannot create the data directory %s: %s", dir, strerror(errno));
        return NULL;
    }
    /* The writer connection is used by one thread at a time (store.h), so
     * SQLite's own per-connection mutex would be pure overhead. */
    sqlite3 *db = NULL;
    int rc =
        sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        lt_store_errorf(err, errlen, "cannot open %s: %s", path,
                        db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        goto fail;
    }
    configure_connection(db);
    /* auto_vacuum takes effect only before the file is first written (a
     * new store), so before WAL mode; it lets retention give deleted pages
     * back to the disk. A no-op on an existing store. */
    sqlite3_exec(db, "PRAGMA auto_vacuum = INCREMENTAL", NULL, NULL, NULL);

    sqlite3_stmt *journal_mode;
    if (lt_sqlite_prepare(db, "PRAGMA journal_mode = WAL", &journal_mode, err, errlen) != 0)
        goto fail;
    bool wal = sqlite3_step(journal_mode) == SQLITE_ROW &&
               sqlite3_stricmp((const char *)sqlite3_column_text(journal_mode, 0), "wal") == 0;
    sqlite3_finalize(journal_mode);
    if (!wal) {
        lt_store_errorf(err, errlen, "cannot put %s in WAL mode: %s", path, sqlite3_errmsg(db));
        goto fail;
    }
    char *message = NULL;
    if (sqlite3_exec(db,
                     "PRAGMA synchronous = NORMAL;"
                     "PRAGMA journal_size_limit = 67108864;", /* shrink the WAL after bursts */
                     NULL, NULL, &message) != SQLITE_OK) {
        lt_store_errorf(err, errlen, "cannot configure %s: %s", path, message);
        sqlite3_free(message);
        goto fail;
    }
    if (lt_sqlite_schema_migrate(db, &store_schema, err, errlen) != 0)
        goto fail;
    return db;

fail:
    sqlite3_close(db);
    return NULL;
}

static sqlite3 *open_existing(const char *dir, bool query_only, char *err, size_t errlen);

sqlite3 *lt_sqlite_open_reader_db(const char *dir, char *err, size_t errlen)
{
    return open_existing(dir, true, err, errlen);
}

sqlite3 *lt_sqlite_open_drains_db(const char *dir, char *err, size_t errlen)
{
    return open_existing(dir, false, err, errlen);
}

static sqlite3 *open_existing(const char *dir, bool query_only, char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (store_path(dir, path, sizeof path, err, errlen) != 0)
        return NULL;
    /* Read-write without CREATE: the collector creates the store, and a WAL
     * reader needs write access to the shared-memory index. query_only makes
     * sure this connection never writes anyway. */
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        lt_store_errorf(err, errlen, "cannot open %s: %s", path,
                        db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        goto fail;
    }
    configure_connection(db);
    if (query_only && sqlite3_exec(db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK) {
        lt_store_errorf(err, errlen, "cannot configure %s: %s", path, sqlite3_errmsg(db));
        goto fail;
    }
    int version;
    if (lt_sqlite_schema_version(db, &store_schema, &version, err, errlen) != 0)
        goto fail;
    if (version != SCHEMA_VERSION) {
        lt_store_errorf(err, errlen, "%s has schema version %d, expected %d (is the collector running?)",
                        path, version, SCHEMA_VERSION);
        goto fail;
    }
    return db;

fail:
    sqlite3_close(db);
    return NULL;
}
