/* test_store_upgrade.c -- an existing data directory opens and migrates as
 * before the store was split and the registry versioned its own tables.
 *
 * The fixture (data/logtap-v4.sql) is a logtap.db made by logtap at
 * a1979c9, whose store schema step 1 -> 2 also made the registry's tables.
 * Opened by this code it migrates its store to version 5 (the tenants'
 * accounting, its two lines counted), the registry adopts
 * its tables as registry version 1 and steps to 2 (token scopes: its old
 * token is a full one), its lines, token and app still work,
 * and it ends with exactly the schema a new data directory gets.
 * Takes the source root as argv[1].
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "store.h"
#include "unit.h"

#define BOB_TOKEN "lt_f0ddb951e85bf1f4b8d1f8292f9716a4a48800fab0680532"

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, out);
    fclose(out);
    fclose(f);
    return text;
}

static sqlite3 *open_db(const char *dir)
{
    char path[700];
    snprintf(path, sizeof path, "%s/logtap.db", dir);
    sqlite3 *db = NULL;
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    return db;
}

static int64_t query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s;
    REQUIRE(sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK);
    int64_t value = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return value;
}

/* Every table, index and column as SQLite records them, one text. */
static char *schema_of(const char *dir)
{
    sqlite3 *db = open_db(dir);
    sqlite3_stmt *s;
    REQUIRE(sqlite3_prepare_v2(db,
                               "SELECT group_concat(type || ' ' || name || ' ' || coalesce(sql, ''), '\n')"
                               " FROM (SELECT * FROM sqlite_master WHERE name NOT LIKE 'sqlite_stat%'"
                               " ORDER BY name)",
                               -1, &s, NULL) == SQLITE_OK);
    REQUIRE(sqlite3_step(s) == SQLITE_ROW);
    char *schema = strdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return schema;
}

static int collect(const lt_line *line, void *ctx)
{
    char *out = ctx;
    strncat(out, line->message, line->message_len);
    strcat(out, "|");
    return 0;
}

int main(int argc, char **argv)
{
    REQUIRE(argc == 2);
    char fixture[700];
    snprintf(fixture, sizeof fixture, "%s/test/unit/data/logtap-v4.sql", argv[1]);
    char *dump = read_file(fixture);
    REQUIRE(dump != NULL);
    char *old_dir = unit_make_temp_dir();
    sqlite3 *db = open_db(old_dir);
    REQUIRE(sqlite3_exec(db, dump, NULL, NULL, NULL) == SQLITE_OK);
    CHECK_INT(query_int(db, "PRAGMA user_version"), 4);
    /* Request rows as the old collector wrote them: one ended, one not. */
    REQUIRE(sqlite3_exec(
                db,
                "INSERT INTO requests(request_id, runner_id, app_id, version_id, begin_ts, end_ts, caller)"
                " VALUES('req-old-done', 'r-old', 'app-old', 'v1', 10, 20, 'bob'),"
                " ('req-old-open', 'r-old', 'app-old', 'v1', 30, NULL, NULL)",
                NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    free(dump);

    char err[256] = "";
    lt_store *st = lt_store_open(old_dir, err, sizeof err);
    if (st == NULL)
        fprintf(stderr, "lt_store_open: %s\n", err);
    REQUIRE(st != NULL);
    CHECK_INT(lt_store_last_id(st), 2);
    lt_registry *reg = lt_registry_open(old_dir, err, sizeof err);
    if (reg == NULL)
        fprintf(stderr, "lt_registry_open: %s\n", err);
    REQUIRE(reg != NULL);

    /* The store's versions mean what they meant; the registry's starts at 1. */
    db = open_db(old_dir);
    CHECK_INT(query_int(db, "PRAGMA user_version"), 9);
    CHECK_INT(query_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                            " AND name IN ('runners_by_first', 'requests_by_begin')"),
              2);
    CHECK_INT(query_int(db, "SELECT sum(lines) FROM tenant_usage"), 2);
    CHECK_INT(query_int(db, "SELECT version FROM registry_version"), 2);
    CHECK_INT(query_int(db, "SELECT count(*) FROM registry_version"), 1);
    sqlite3_close(db);

    /* What the old collector stored still works. */
    lt_principal who;
    CHECK_INT(lt_registry_authenticate(reg, BOB_TOKEN, &who), 1);
    CHECK_STR(who.user, "bob");
    CHECK(!who.admin);
    CHECK_INT(who.scope, LT_SCOPE_FULL); /* tokens older than scopes keep doing everything */
    lt_app_info app;
    CHECK_INT(lt_registry_app_get(reg, "app-old", &app), 1);
    CHECK_STR(app.owner, "bob");
    lt_store_reader *rd = lt_store_reader_open(old_dir, err, sizeof err);
    REQUIRE(rd != NULL);
    lt_query q = LT_QUERY_INIT;
    q.owner = "bob";
    char seen[256] = "";
    CHECK_INT(lt_store_query(rd, &q, collect, seen), 2);
    CHECK_STR(seen, "hello from the old store|oops|");
    lt_request_info info;
    CHECK_INT(lt_store_runner_known(rd, "r-old"), 1);
    CHECK_INT(lt_store_request_get(rd, "no-such-request", &info), 0);
    /* Old request rows keep their state (step 5 -> 6: begun, no error). */
    CHECK_INT(lt_store_request_get(rd, "req-old-done", &info), 1);
    CHECK_INT(info.state, LT_REQUEST_COMPLETED);
    CHECK_STR(info.caller, "bob");
    CHECK_STR(info.error_type, "");
    CHECK_INT(lt_store_request_get(rd, "req-old-open", &info), 1);
    CHECK_INT(info.state, LT_REQUEST_IN_PROGRESS);
    CHECK_INT(info.queued_ns, 0);
    lt_store_reader_close(rd);
    lt_registry_close(reg);

    /* A second open finds nothing to do. */
    reg = lt_registry_open(old_dir, err, sizeof err);
    REQUIRE(reg != NULL);
    lt_registry_close(reg);
    lt_line line = {.ts_ns = 1,
                    .runner_id = "r-new",
                    .message = "new",
                    .message_len = 3,
                    .stream = 1,
                    .level = LT_LEVEL_STDOUT};
    CHECK_INT(lt_store_append(st, &line), 0);
    CHECK_INT(lt_store_commit(st), 0);
    CHECK_INT(lt_store_last_id(st), 3);
    lt_store_close(st);

    /* The same schema as a data directory this code creates. */
    char *new_dir = unit_make_temp_dir();
    st = lt_store_open(new_dir, err, sizeof err);
    REQUIRE(st != NULL);
    reg = lt_registry_open(new_dir, err, sizeof err);
    REQUIRE(reg != NULL);
    lt_registry_close(reg);
    lt_store_close(st);
    char *old_schema = schema_of(old_dir), *new_schema = schema_of(new_dir);
    CHECK_STR(old_schema, new_schema);
    free(old_schema);
    free(new_schema);

    /* A registry newer than this code is refused, not misread. */
    db = open_db(new_dir);
    REQUIRE(sqlite3_exec(db, "UPDATE registry_version SET version = 99", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    CHECK(lt_registry_open(new_dir, err, sizeof err) == NULL);
    CHECK(strstr(err, "newer") != NULL);

    unit_remove_tree(old_dir);
    unit_remove_tree(new_dir);
    free(old_dir);
    free(new_dir);
    return unit_done("unit-store-upgrade");
}
