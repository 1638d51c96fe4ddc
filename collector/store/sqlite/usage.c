/* usage.c -- the SQLite backend's per-tenant accounting: how many bytes
 * and lines each tenant holds in the store (table tenant_usage), so that
 * size retention can take from the largest tenant first (retention.c)
 * without summing the logs table.
 *
 * A tenant is an app; lines without an app belong to their runner alone
 * (row key (app_id, '') or ('', runner_id)). A line's accounted size is
 * lt_sqlite_line_bytes: its message, its IDs and LT_SQLITE_LINE_OVERHEAD
 * bytes for the row and index entries; schema step 4 -> 5 counts existing
 * lines with the same formula in SQL.
 *
 * Why deltas in memory: an UPDATE per appended line would cost ingest a
 * B-tree write per line. Appends and retention's deletes add signed
 * deltas to a small hash table instead, one entry per tenant touched, and
 * lt_sqlite_usage_flush writes them into the open transaction just before
 * it commits. So the table and the lines are committed together (exact),
 * and a rolled-back transaction throws its deltas away with it
 * (lt_sqlite_usage_clear, called wherever the transaction is abandoned).
 */
#include "sqlite.h"

#include <stdlib.h>
#include <string.h>

int64_t lt_sqlite_line_bytes(const char *runner_id, const char *app_id, const char *version_id,
                             const char *source, const char *request_id, size_t message_len)
{
    int64_t n = LT_SQLITE_LINE_OVERHEAD + (int64_t)message_len;
    const char *ids[] = {runner_id, app_id, version_id, source, request_id};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (ids[i] != NULL)
            n += (int64_t)strlen(ids[i]);
    return n;
}

/* FNV-1a over both parts of the key (app, NUL, runner). */
static uint64_t key_hash(const char *app, const char *runner)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (const char *p = app; *p; p++)
        h = (h ^ (unsigned char)*p) * UINT64_C(1099511628211);
    h = (h ^ 0xff) * UINT64_C(1099511628211);
    for (const char *p = runner; *p; p++)
        h = (h ^ (unsigned char)*p) * UINT64_C(1099511628211);
    return h;
}

/* The slot of (app, runner): its entry, or the empty slot it would take. */
static lt_sqlite_usage_delta *find_slot(lt_sqlite_usage *u, uint64_t h, const char *app, const char *runner)
{
    size_t mask = u->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        lt_sqlite_usage_delta *d = &u->slots[i];
        if (d->key == NULL ||
            (d->hash == h && strcmp(d->key, app) == 0 && strcmp(d->key + strlen(app) + 1, runner) == 0))
            return d;
    }
}

static int grow(lt_sqlite_usage *u)
{
    size_t cap = u->cap ? u->cap * 2 : 16;
    lt_sqlite_usage_delta *slots = calloc(cap, sizeof *slots);
    if (slots == NULL)
        return -1;
    lt_sqlite_usage old = *u;
    u->slots = slots;
    u->cap = cap;
    for (size_t i = 0; i < old.cap; i++) {
        lt_sqlite_usage_delta *d = &old.slots[i];
        if (d->key == NULL)
            continue;
        size_t mask = cap - 1, j = (size_t)d->hash & mask;
        while (slots[j].key != NULL)
            j = (j + 1) & mask;
        slots[j] = *d;
    }
    free(old.slots);
    return 0;
}

int lt_sqlite_usage_note(lt_backend_writer *st, const char *app_id, const char *runner_id, int64_t bytes,
                         int64_t lines)
{
    lt_sqlite_usage *u = &st->usage;
    const char *app = app_id != NULL ? app_id : "";
    const char *runner = app[0] != '\0' || runner_id == NULL ? "" : runner_id;
    if ((u->used + 1) * 2 > u->cap && grow(u) != 0)
        goto out_of_memory;
    uint64_t h = key_hash(app, runner);
    lt_sqlite_usage_delta *d = find_slot(u, h, app, runner);
    if (d->key == NULL) {
        size_t app_len = strlen(app), runner_len = strlen(runner);
        char *key = malloc(app_len + runner_len + 2);
        if (key == NULL)
            goto out_of_memory;
        memcpy(key, app, app_len + 1);
        memcpy(key + app_len + 1, runner, runner_len + 1);
        *d = (lt_sqlite_usage_delta){.key = key, .hash = h};
        u->used++;
    }
    d->bytes += bytes;
    d->lines += lines;
    return 0;

out_of_memory:
    lt_store_errorf(st->error, sizeof st->error, "tenant accounting: out of memory");
    return -1;
}

void lt_sqlite_usage_clear(lt_backend_writer *st)
{
    lt_sqlite_usage *u = &st->usage;
    if (u->used == 0)
        return;
    for (size_t i = 0; i < u->cap; i++) {
        free(u->slots[i].key);
        u->slots[i] = (lt_sqlite_usage_delta){0};
    }
    u->used = 0;
    /* After a burst of many tenants, do not keep walking a big table. */
    if (u->cap > 1024) {
        free(u->slots);
        u->slots = NULL;
        u->cap = 0;
    }
}

void lt_sqlite_usage_free(lt_backend_writer *st)
{
    lt_sqlite_usage_clear(st);
    free(st->usage.slots);
    st->usage = (lt_sqlite_usage){0};
}

int lt_sqlite_usage_flush(lt_backend_writer *st)
{
    lt_sqlite_usage *u = &st->usage;
    if (u->used == 0)
        return 0;
    if (st->usage_add == NULL &&
        (lt_sqlite_prepare(st->db,
                           "INSERT INTO tenant_usage(app_id, runner_id, bytes, lines) VALUES(?1, ?2, ?3, ?4)"
                           " ON CONFLICT(app_id, runner_id) DO UPDATE SET"
                           "  bytes = bytes + excluded.bytes, lines = lines + excluded.lines",
                           &st->usage_add, st->error, sizeof st->error) != 0 ||
         lt_sqlite_prepare(st->db,
                           "DELETE FROM tenant_usage WHERE app_id = ?1 AND runner_id = ?2 AND lines <= 0",
                           &st->usage_drop, st->error, sizeof st->error) != 0)) {
        lt_sqlite_transaction_lost(st);
        return -1;
    }
    if (lt_sqlite_ensure_transaction(st) != 0)
        return -1;
    for (size_t i = 0; i < u->cap; i++) {
        lt_sqlite_usage_delta *d = &u->slots[i];
        if (d->key == NULL || (d->bytes == 0 && d->lines == 0))
            continue;
        const char *app = d->key, *runner = d->key + strlen(d->key) + 1;
        sqlite3_bind_text(st->usage_add, 1, app, -1, SQLITE_STATIC);
        sqlite3_bind_text(st->usage_add, 2, runner, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st->usage_add, 3, d->bytes);
        sqlite3_bind_int64(st->usage_add, 4, d->lines);
        if (lt_sqlite_step_write(st, st->usage_add, "tenant accounting") != 0)
            return -1; /* the transaction is gone, and the deltas with it */
        if (d->lines < 0) {
            sqlite3_bind_text(st->usage_drop, 1, app, -1, SQLITE_STATIC);
            sqlite3_bind_text(st->usage_drop, 2, runner, -1, SQLITE_STATIC);
            if (lt_sqlite_step_write(st, st->usage_drop, "tenant accounting") != 0)
                return -1;
        }
    }
    lt_sqlite_usage_clear(st);
    return 0;
}
