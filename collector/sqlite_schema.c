/* sqlite_schema.c -- the migration loop shared by the store's and the
 * registry's schemas; see sqlite_schema.h.
 *
 * It exists once so that both schemas migrate the same way: a step and its
 * version bump commit together, and the version only ever grows.
 */
#include "sqlite_schema.h"

#include <stdio.h>

int lt_sqlite_schema_version(sqlite3 *db, const lt_sqlite_schema *schema, int *version, char *err,
                             size_t errlen)
{
    int64_t v;
    if (schema->read_version(db, &v) != 0) {
        snprintf(err, errlen, "cannot read schema version: %s", sqlite3_errmsg(db));
        return -1;
    }
    if (v > schema->step_count) {
        snprintf(err, errlen, "%s schema version %lld is newer than this logtap understands (%d)",
                 schema->name, (long long)v, schema->step_count);
        return -1;
    }
    *version = (int)v;
    return 0;
}

int lt_sqlite_schema_migrate(sqlite3 *db, const lt_sqlite_schema *schema, char *err, size_t errlen)
{
    int version;
    if (lt_sqlite_schema_version(db, schema, &version, err, errlen) != 0)
        return -1;
    while (version < schema->step_count) {
        char *message = NULL;
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &message) != SQLITE_OK)
            goto failed;
        /* Another connection may have migrated while we waited for the lock. */
        if (lt_sqlite_schema_version(db, schema, &version, err, errlen) != 0) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
        if (version == schema->step_count) {
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
            break;
        }
        char set_version[128];
        snprintf(set_version, sizeof set_version, schema->write_version, version + 1);
        if (sqlite3_exec(db, schema->steps[version], NULL, NULL, &message) != SQLITE_OK ||
            sqlite3_exec(db, set_version, NULL, NULL, &message) != SQLITE_OK ||
            sqlite3_exec(db, "COMMIT", NULL, NULL, &message) != SQLITE_OK)
            goto failed;
        version++;
        continue;
    failed:
        snprintf(err, errlen, "schema migration %d -> %d failed: %s", version, version + 1,
                 message != NULL ? message : sqlite3_errmsg(db));
        sqlite3_free(message);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}
