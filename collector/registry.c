/* registry.c -- users, tokens, apps and account defaults; see registry.h.
 *
 * Owns the users, tokens and apps tables -- their schema, its migrations and
 * the SQL over them -- and the token format. They live in the store's
 * SQLite file (logtap.db) beside the log tables, but version on their own:
 * the registry_version table holds this schema's version, while PRAGMA
 * user_version stays the log store's (store/sqlite/schema.c).
 *
 * Why it looks the way it does:
 * - A handle per HTTP request, opened on demand: authentication is one
 *   indexed read, and a connection of its own keeps registry writes out of
 *   the ingest thread's transactions.
 * - Tokens are random, not derived from anything: nothing about a user or
 *   a time can be guessed from one. Storing only SHA-256 means a copy of
 *   the store file does not hand out working tokens.
 * - Every open brings the registry's schema up to date (sqlite_schema.c):
 *   a file already current costs one look at sqlite_master and one read,
 *   and takes no lock; handles opened at once migrate each step once.
 * - Multi-statement writes (a deploy that reads the owner's default, the
 *   bootstrap) run in BEGIN IMMEDIATE transactions so that a concurrent
 *   request cannot see or make a half-done state.
 *
 * Invariants:
 * - every token's and app's user exists in users (foreign keys; rows are
 *   created before they are referenced, and users are never deleted);
 * - exactly the users with admin = 1 may do everything; only bootstrap
 *   sets it.
 */
#include "registry.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "logtap_wire.h"
#include "sqlite_schema.h"
#include "store.h"
#include "timefmt.h"

#define BUSY_TIMEOUT_MS 5000
#define TOKEN_PREFIX "lt_"
#define TOKEN_ID_PREFIX "tok_"
#define TOKEN_RANDOM_BYTES 24
#define SHA256_BYTES 32

struct lt_registry {
    sqlite3 *db;
    char error[256];
};

/* ---- schema ---- */

/* steps[v] turns registry version v into v + 1. Append new steps at the
 * end; never edit a released one. */
static const char *const registry_steps[] = {
    /* 0 -> 1: users, their tokens, deployed apps. The store's schema step
     * 1 -> 2 made these tables before the registry had a version of its
     * own: in a file it migrated they exist as below, and this step keeps
     * them (IF NOT EXISTS); SQLite records the same CREATE text either way. */
    "CREATE TABLE IF NOT EXISTS users ("
    "  name                 TEXT PRIMARY KEY,"
    "  admin                INTEGER NOT NULL DEFAULT 0,"
    "  default_private_logs INTEGER NOT NULL DEFAULT 0,"
    "  created_ts           INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS tokens ("
    "  token_id   TEXT PRIMARY KEY,"     /* tok_ + 12 hex digits of hash */
    "  hash       BLOB NOT NULL UNIQUE," /* SHA-256 of the token */
    "  user       TEXT NOT NULL REFERENCES users(name),"
    "  label      TEXT NOT NULL,"
    "  created_ts INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS apps ("
    "  app_id               TEXT PRIMARY KEY,"
    "  owner                TEXT NOT NULL REFERENCES users(name),"
    "  private_logs         INTEGER NOT NULL,"
    "  private_from_default INTEGER NOT NULL,"
    "  deployed_ts          INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS apps_by_owner ON apps(owner, app_id);"
    "CREATE TABLE registry_version (version INTEGER NOT NULL);"
    "INSERT INTO registry_version VALUES(0);",
    /* 1 -> 2: a token's scope. Tokens made before scopes existed keep
     * doing what they did: full. */
    "ALTER TABLE tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'full'"
    "  CHECK (scope IN ('full', 'read', 'metrics'));",
};

/* The registry's version: 0 before its first step made registry_version. */
static int read_registry_version(sqlite3 *db, int64_t *version)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db,
                           "SELECT EXISTS(SELECT 1 FROM sqlite_master"
                           " WHERE type = 'table' AND name = 'registry_version')",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(s);
    bool exists = rc == SQLITE_ROW && sqlite3_column_int(s, 0) != 0;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW)
        return -1;
    *version = 0;
    if (!exists)
        return 0;
    if (sqlite3_prepare_v2(db, "SELECT version FROM registry_version", -1, &s, NULL) != SQLITE_OK)
        return -1;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *version = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : -1;
}

static const lt_sqlite_schema registry_schema = {
    .name = "registry",
    .steps = registry_steps,
    .step_count = (int)(sizeof registry_steps / sizeof registry_steps[0]),
    .read_version = read_registry_version,
    .write_version = "UPDATE registry_version SET version = %d",
};

static const char hex_digits[] = "0123456789abcdef";

static void to_hex(const unsigned char *bytes, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex_digits[bytes[i] >> 4];
        out[2 * i + 1] = hex_digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

static int sha256(const char *text, size_t len, unsigned char out[SHA256_BYTES])
{
    unsigned int out_len = 0;
    if (EVP_Digest(text, len, out, &out_len, EVP_sha256(), NULL) != 1 || out_len != SHA256_BYTES)
        return -1;
    return 0;
}

static int fail(lt_registry *reg, const char *what)
{
    snprintf(reg->error, sizeof reg->error, "%s: %s", what, sqlite3_errmsg(reg->db));
    return -1;
}

const char *lt_registry_error(const lt_registry *reg)
{
    return reg->error;
}

bool lt_user_name_ok(const char *name)
{
    return name != NULL && lt_wire_id_ok(name, strnlen(name, LT_WIRE_MAX_ID + 1));
}

lt_registry *lt_registry_open(const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (dir == NULL || snprintf(path, sizeof path, "%s/%s", dir, LT_STORE_FILE_NAME) >= (int)sizeof path) {
        snprintf(err, errlen, "bad data directory");
        return NULL;
    }
    lt_registry *reg = calloc(1, sizeof *reg);
    if (reg == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int rc = sqlite3_open_v2(path, &reg->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path,
                 reg->db != NULL ? sqlite3_errmsg(reg->db) : sqlite3_errstr(rc));
        lt_registry_close(reg);
        return NULL;
    }
    sqlite3_extended_result_codes(reg->db, 1);
    sqlite3_busy_timeout(reg->db, BUSY_TIMEOUT_MS);
    if (sqlite3_exec(reg->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot configure %s: %s", path, sqlite3_errmsg(reg->db));
        lt_registry_close(reg);
        return NULL;
    }
    char why[192];
    if (lt_sqlite_schema_migrate(reg->db, &registry_schema, why, sizeof why) != 0) {
        snprintf(err, errlen, "registry in %s: %s", path, why);
        lt_registry_close(reg);
        return NULL;
    }
    return reg;
}

void lt_registry_close(lt_registry *reg)
{
    if (reg == NULL)
        return;
    sqlite3_close(reg->db); /* statements are finalized where they are made */
    free(reg);
}

/* ---- small statement helpers: prepare, bind text by position, step ---- */

static sqlite3_stmt *prepare(lt_registry *reg, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(reg->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        fail(reg, "prepare");
        return NULL;
    }
    return stmt;
}

static void bind_text(sqlite3_stmt *s, int i, const char *text)
{
    sqlite3_bind_text(s, i, text, -1, SQLITE_TRANSIENT);
}

/* Run a statement that returns no rows. 0 or -1. */
static int exec_stmt(lt_registry *reg, sqlite3_stmt *s, const char *what)
{
    if (s == NULL)
        return -1;
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return fail(reg, what);
    return 0;
}

static int exec_sql(lt_registry *reg, const char *sql, const char *what)
{
    if (sqlite3_exec(reg->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return fail(reg, what);
    return 0;
}

static void rollback(lt_registry *reg)
{
    if (!sqlite3_get_autocommit(reg->db))
        sqlite3_exec(reg->db, "ROLLBACK", NULL, NULL, NULL);
}

static void copy_text(sqlite3_stmt *s, int column, char *out, size_t size)
{
    const unsigned char *text = sqlite3_column_text(s, column);
    snprintf(out, size, "%s", text != NULL ? (const char *)text : "");
}

/* Create `user` as a plain user if it does not exist yet. */
static int ensure_user(lt_registry *reg, const char *user)
{
    sqlite3_stmt *s = prepare(reg, "INSERT OR IGNORE INTO users(name, admin, default_private_logs,"
                                   " created_ts) VALUES(?1, 0, 0, ?2)");
    if (s == NULL)
        return -1;
    bind_text(s, 1, user);
    sqlite3_bind_int64(s, 2, lt_time_now_ns());
    return exec_stmt(reg, s, "create user");
}

/* ---- tokens ---- */

static const char *const scope_names[] = {
    [LT_SCOPE_FULL] = "full",
    [LT_SCOPE_READ] = "read",
    [LT_SCOPE_METRICS] = "metrics",
};
#define N_SCOPES (sizeof scope_names / sizeof scope_names[0])

const char *lt_token_scope_name(lt_token_scope scope)
{
    assert((size_t)scope < N_SCOPES);
    return scope_names[scope];
}

int lt_token_scope_parse(const char *name, lt_token_scope *out)
{
    for (size_t i = 0; name != NULL && i < N_SCOPES; i++)
        if (strcmp(name, scope_names[i]) == 0) {
            *out = (lt_token_scope)i;
            return 0;
        }
    return -1;
}

/* A scope column as stored. The table's CHECK admits only known names;
 * anything else is a file this code did not write, and -1: such a token
 * authenticates nobody. */
static int scope_from_column(sqlite3_stmt *s, int column, lt_token_scope *scope)
{
    return lt_token_scope_parse((const char *)sqlite3_column_text(s, column), scope);
}

static bool token_well_formed(const char *token)
{
    if (token == NULL || strncmp(token, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0)
        return false;
    if (strnlen(token, LT_TOKEN_LEN + 1) != LT_TOKEN_LEN)
        return false;
    for (const char *p = token + strlen(TOKEN_PREFIX); *p != '\0'; p++)
        if (strchr(hex_digits, *p) == NULL)
            return false;
    return true;
}

int lt_registry_authenticate(lt_registry *reg, const char *token, lt_principal *who)
{
    assert(who != NULL);
    memset(who, 0, sizeof *who);
    if (!token_well_formed(token))
        return 0;
    unsigned char hash[SHA256_BYTES];
    if (sha256(token, LT_TOKEN_LEN, hash) != 0) {
        snprintf(reg->error, sizeof reg->error, "SHA-256 failed");
        return -1;
    }
    sqlite3_stmt *s = prepare(reg, "SELECT users.name, users.admin, tokens.scope FROM tokens"
                                   " JOIN users ON users.name = tokens.user WHERE tokens.hash = ?1");
    if (s == NULL)
        return -1;
    sqlite3_bind_blob(s, 1, hash, sizeof hash, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    bool scope_known = false;
    if (rc == SQLITE_ROW) {
        copy_text(s, 0, who->user, sizeof who->user);
        who->admin = sqlite3_column_int(s, 1) != 0;
        scope_known = scope_from_column(s, 2, &who->scope) == 0;
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_ROW && !scope_known) {
        memset(who, 0, sizeof *who);
        return 0;
    }
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return fail(reg, "authenticate");
}

/* Insert a fresh token for an existing user. */
static int insert_token(lt_registry *reg, const char *user, const char *label, lt_token_scope scope,
                        char token[LT_TOKEN_LEN + 1], lt_token_info *info)
{
    unsigned char random[TOKEN_RANDOM_BYTES];
    size_t got = 0;
    while (got < sizeof random) {
        ssize_t n = getrandom(random + got, sizeof random - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(reg->error, sizeof reg->error, "getrandom: %s", strerror(errno));
            return -1;
        }
        got += (size_t)n;
    }
    memcpy(token, TOKEN_PREFIX, strlen(TOKEN_PREFIX));
    to_hex(random, sizeof random, token + strlen(TOKEN_PREFIX));
    assert(token_well_formed(token));

    unsigned char hash[SHA256_BYTES];
    char hash_hex[2 * SHA256_BYTES + 1];
    if (sha256(token, LT_TOKEN_LEN, hash) != 0) {
        snprintf(reg->error, sizeof reg->error, "SHA-256 failed");
        return -1;
    }
    to_hex(hash, sizeof hash, hash_hex);

    lt_token_info made = {.created_ns = lt_time_now_ns(), .scope = scope};
    snprintf(made.id, sizeof made.id, TOKEN_ID_PREFIX "%.12s", hash_hex);
    snprintf(made.user, sizeof made.user, "%s", user);
    snprintf(made.label, sizeof made.label, "%s", label != NULL ? label : "");

    sqlite3_stmt *s = prepare(reg, "INSERT INTO tokens(token_id, hash, user, label, created_ts, scope)"
                                   " VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    if (s == NULL)
        return -1;
    bind_text(s, 1, made.id);
    sqlite3_bind_blob(s, 2, hash, sizeof hash, SQLITE_TRANSIENT);
    bind_text(s, 3, made.user);
    bind_text(s, 4, made.label);
    sqlite3_bind_int64(s, 5, made.created_ns);
    bind_text(s, 6, lt_token_scope_name(scope));
    if (exec_stmt(reg, s, "create token") != 0)
        return -1;
    if (info != NULL)
        *info = made;
    return 0;
}

int lt_registry_token_create(lt_registry *reg, const char *user, const char *label, lt_token_scope scope,
                             char token[LT_TOKEN_LEN + 1], lt_token_info *info)
{
    assert(lt_user_name_ok(user));
    assert(label == NULL || strlen(label) <= LT_LABEL_MAX);
    if (exec_sql(reg, "BEGIN IMMEDIATE", "begin") != 0)
        return -1;
    if (ensure_user(reg, user) != 0 || insert_token(reg, user, label, scope, token, info) != 0 ||
        exec_sql(reg, "COMMIT", "commit") != 0) {
        rollback(reg);
        return -1;
    }
    return 0;
}

static void token_from_row(sqlite3_stmt *s, lt_token_info *info)
{
    copy_text(s, 0, info->id, sizeof info->id);
    copy_text(s, 1, info->user, sizeof info->user);
    copy_text(s, 2, info->label, sizeof info->label);
    info->created_ns = sqlite3_column_int64(s, 3);
    if (scope_from_column(s, 4, &info->scope) != 0)
        info->scope = LT_SCOPE_METRICS; /* listed as the narrowest; it authenticates nobody */
}

long lt_registry_token_list(lt_registry *reg, const char *user, lt_token_cb cb, void *ctx)
{
    sqlite3_stmt *s = prepare(reg, "SELECT token_id, user, label, created_ts, scope FROM tokens"
                                   " WHERE ?1 IS NULL OR user = ?1 ORDER BY created_ts, token_id");
    if (s == NULL)
        return -1;
    if (user != NULL)
        bind_text(s, 1, user);
    long count = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        lt_token_info info;
        token_from_row(s, &info);
        count++;
        if (cb(&info, ctx) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? count : fail(reg, "list tokens");
}

int lt_registry_token_get(lt_registry *reg, const char *id, lt_token_info *info)
{
    sqlite3_stmt *s =
        prepare(reg, "SELECT token_id, user, label, created_ts, scope FROM tokens WHERE token_id = ?1");
    if (s == NULL)
        return -1;
    bind_text(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        token_from_row(s, info);
    sqlite3_finalize(s);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : fail(reg, "look up token");
}

int lt_registry_token_revoke(lt_registry *reg, const char *id)
{
    sqlite3_stmt *s = prepare(reg, "DELETE FROM tokens WHERE token_id = ?1");
    if (s == NULL)
        return -1;
    bind_text(s, 1, id);
    if (exec_stmt(reg, s, "revoke token") != 0)
        return -1;
    return sqlite3_changes(reg->db) > 0 ? 1 : 0;
}

int lt_registry_bootstrap(lt_registry *reg, char token[LT_TOKEN_LEN + 1], bool *created)
{
    *created = false;
    if (exec_sql(reg, "BEGIN IMMEDIATE", "begin") != 0)
        return -1;
    sqlite3_stmt *s = prepare(reg, "SELECT EXISTS(SELECT 1 FROM users WHERE admin = 1)");
    if (s == NULL)
        goto fail;
    int rc = sqlite3_step(s);
    bool has_admin = rc == SQLITE_ROW && sqlite3_column_int(s, 0) != 0;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW) {
        fail(reg, "look for admin");
        goto fail;
    }
    if (!has_admin) {
        if (ensure_user(reg, LT_ADMIN_USER) != 0 ||
            exec_sql(reg, "UPDATE users SET admin = 1 WHERE name = '" LT_ADMIN_USER "'", "make admin") != 0 ||
            insert_token(reg, LT_ADMIN_USER, "bootstrap", LT_SCOPE_FULL, token, NULL) != 0)
            goto fail;
    }
    if (exec_sql(reg, "COMMIT", "commit") != 0)
        goto fail;
    *created = !has_admin;
    return 0;
fail:
    rollback(reg);
    return -1;
}

/* ---- apps ---- */

static void app_from_row(sqlite3_stmt *s, lt_app_info *app)
{
    app->deployed = true;
    copy_text(s, 0, app->app_id, sizeof app->app_id);
    copy_text(s, 1, app->owner, sizeof app->owner);
    app->private_logs = sqlite3_column_int(s, 2) != 0;
    app->private_from_default = sqlite3_column_int(s, 3) != 0;
    app->deployed_ns = sqlite3_column_int64(s, 4);
}

#define APP_COLUMNS "app_id, owner, private_logs, private_from_default, deployed_ts"

int lt_registry_app_get(lt_registry *reg, const char *app_id, lt_app_info *out)
{
    memset(out, 0, sizeof *out);
    if (app_id == NULL || app_id[0] == '\0')
        return 0;
    snprintf(out->app_id, sizeof out->app_id, "%s", app_id);
    sqlite3_stmt *s = prepare(reg, "SELECT " APP_COLUMNS " FROM apps WHERE app_id = ?1");
    if (s == NULL)
        return -1;
    bind_text(s, 1, app_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        app_from_row(s, out);
    sqlite3_finalize(s);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : fail(reg, "look up app");
}

int lt_registry_app_deploy(lt_registry *reg, const char *app_id, const char *owner, int private_logs,
                           bool keep_owner, lt_app_info *out)
{
    assert(lt_user_name_ok(app_id) && lt_user_name_ok(owner));
    assert(private_logs >= -1 && private_logs <= 1);
    if (exec_sql(reg, "BEGIN IMMEDIATE", "begin") != 0)
        return -1;
    lt_app_info current;
    int known = lt_registry_app_get(reg, app_id, &current);
    if (known < 0)
        goto fail;
    if (known == 1 && keep_owner && strcmp(current.owner, owner) != 0) {
        rollback(reg);
        *out = current;
        return 1;
    }
    if (ensure_user(reg, owner) != 0)
        goto fail;
    bool from_default = private_logs < 0;
    if (from_default) {
        bool account_default = false;
        if (lt_registry_account_get(reg, owner, &account_default) < 0)
            goto fail;
        private_logs = account_default ? 1 : 0;
    }
    sqlite3_stmt *s = prepare(reg, "INSERT INTO apps(" APP_COLUMNS ") VALUES(?1, ?2, ?3, ?4, ?5)"
                                   " ON CONFLICT(app_id) DO UPDATE SET owner = excluded.owner,"
                                   " private_logs = excluded.private_logs,"
                                   " private_from_default = excluded.private_from_default,"
                                   " deployed_ts = excluded.deployed_ts");
    if (s == NULL)
        goto fail;
    bind_text(s, 1, app_id);
    bind_text(s, 2, owner);
    sqlite3_bind_int(s, 3, private_logs);
    sqlite3_bind_int(s, 4, from_default);
    sqlite3_bind_int64(s, 5, lt_time_now_ns());
    if (exec_stmt(reg, s, "deploy app") != 0)
        goto fail;
    if (lt_registry_app_get(reg, app_id, out) != 1)
        goto fail;
    if (exec_sql(reg, "COMMIT", "commit") != 0)
        goto fail;
    return 0;
fail:
    rollback(reg);
    return -1;
}

long lt_registry_app_list(lt_registry *reg, const char *owner, lt_app_cb cb, void *ctx)
{
    sqlite3_stmt *s = prepare(reg, "SELECT " APP_COLUMNS " FROM apps"
                                   " WHERE ?1 IS NULL OR owner = ?1 ORDER BY app_id");
    if (s == NULL)
        return -1;
    if (owner != NULL)
        bind_text(s, 1, owner);
    long count = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        lt_app_info app;
        memset(&app, 0, sizeof app);
        app_from_row(s, &app);
        count++;
        if (cb(&app, ctx) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? count : fail(reg, "list apps");
}

/* ---- accounts ---- */

int lt_registry_account_set(lt_registry *reg, const char *user, bool default_private_logs)
{
    assert(lt_user_name_ok(user));
    if (exec_sql(reg, "BEGIN IMMEDIATE", "begin") != 0)
        return -1;
    sqlite3_stmt *s = NULL;
    if (ensure_user(reg, user) != 0 ||
        (s = prepare(reg, "UPDATE users SET default_private_logs = ?2 WHERE name = ?1")) == NULL)
        goto fail;
    bind_text(s, 1, user);
    sqlite3_bind_int(s, 2, default_private_logs);
    if (exec_stmt(reg, s, "set account default") != 0 || exec_sql(reg, "COMMIT", "commit") != 0)
        goto fail;
    return 0;
fail:
    rollback(reg);
    return -1;
}

int lt_registry_account_get(lt_registry *reg, const char *user, bool *default_private_logs)
{
    sqlite3_stmt *s = prepare(reg, "SELECT default_private_logs FROM users WHERE name = ?1");
    if (s == NULL)
        return -1;
    bind_text(s, 1, user);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *default_private_logs = sqlite3_column_int(s, 0) != 0;
    sqlite3_finalize(s);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE) {
        *default_private_logs = false;
        return 0;
    }
    return fail(reg, "look up account");
}
