/* backend.c -- the SQLite backend's registration: which function of this
 * folder does what (backend.h). The embedded default: one logtap.db in
 * WAL mode under --data, one writer connection, a connection per reader.
 */
#include "sqlite.h"

const lt_store_backend lt_store_sqlite = {
    .name = "sqlite",
    .open = lt_sqlite_open,
    .close = lt_sqlite_close,
    .error = lt_sqlite_error,
    .pending = lt_sqlite_pending,
    .append = lt_sqlite_append,
    .runner_seen = lt_sqlite_runner_seen,
    .request_begin = lt_sqlite_request_begin,
    .request_end = lt_sqlite_request_end,
    .commit = lt_sqlite_commit,
    .delivery_load = lt_sqlite_delivery_load,
    .delivery_save = lt_sqlite_delivery_save,
    .delivery_save_stream = lt_sqlite_delivery_save_stream,
    .delivery_prune = lt_sqlite_delivery_prune,
    .delivery_finish = lt_sqlite_delivery_finish,
    .delivery_expire = lt_sqlite_delivery_expire,
    .retain = lt_sqlite_retain,
    .live_bytes = lt_sqlite_live_bytes,
    .reader_open = lt_sqlite_reader_open,
    .reader_close = lt_sqlite_reader_close,
    .query = lt_sqlite_query,
    .request_get = lt_sqlite_request_get,
    .runner_known = lt_sqlite_runner_known,
    .app_known = lt_sqlite_app_known,
    .runner_app = lt_sqlite_runner_app,
    .drains_open = lt_sqlite_drains_open,
    .drains_close = lt_sqlite_drains_close,
    .drains_error = lt_sqlite_drains_error,
    .drain_add = lt_sqlite_drain_add,
    .drain_list = lt_sqlite_drain_list,
    .drain_get = lt_sqlite_drain_get,
    .drain_remove = lt_sqlite_drain_remove,
    .drain_advance = lt_sqlite_drain_advance,
    .drain_failed = lt_sqlite_drain_failed,
    .drain_inflight = lt_sqlite_drain_inflight,
    .drain_backlog = lt_sqlite_drain_backlog,
};
