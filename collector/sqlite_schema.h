/* sqlite_schema.h -- one migration loop for every schema kept in an SQLite
 * file: the log store's (store/sqlite/schema.c) and the registry's
 * (registry.c) live in the same logtap.db but version separately.
 *
 * A schema is a list of steps: steps[v] turns version v into v + 1. Where
 * the version is kept is the schema's own business (the store keeps it in
 * PRAGMA user_version, the registry in a table of its own), so the schema
 * says how to read it and how to write it.
 */
#ifndef LT_SQLITE_SCHEMA_H
#define LT_SQLITE_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

typedef struct lt_sqlite_schema {
    const char *name;         /* "store", "registry": for messages */
    const char *const *steps; /* steps[v]: version v -> v + 1 */
    int step_count;           /* the version this code writes */
    /* Read the file's version (0 for a file this schema never touched). */
    int (*read_version)(sqlite3 *db, int64_t *version);
    const char *write_version; /* SQL with one %d: the new version */
} lt_sqlite_schema;

/* The file's version of `schema`; refuses one newer than this code knows.
 * 0 or -1 with a message in err. */
int lt_sqlite_schema_version(sqlite3 *db, const lt_sqlite_schema *schema, int *version, char *err,
                             size_t errlen);

/* Bring the file to schema->step_count, one step per BEGIN IMMEDIATE
 * transaction so that a crash mid-way leaves a consistent, resumable
 * version behind. The version is read again inside each transaction:
 * connections that migrate at the same time run each step once. A file
 * already current costs one version read and takes no lock. 0 or -1. */
int lt_sqlite_schema_migrate(sqlite3 *db, const lt_sqlite_schema *schema, char *err, size_t errlen);

#endif
