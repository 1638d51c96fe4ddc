/* http.h -- the collector's HTTP server: the JSON API, follow streams (SSE),
 * /metrics and /healthz, as specified in doc/http-api.md.
 *
 * Threading: libmicrohttpd runs one thread per connection, so a follow
 * stream may block waiting for new lines without holding anyone else up.
 * Each request reads through its own lt_store_reader opened on `data_dir`;
 * the writer handle `st` is used only for lt_store_last_id/lt_store_wait.
 *
 * Ordering: call lt_http_stop before lt_store_close -- follow streams wait on
 * the store until the server has stopped.
 */
#ifndef LT_HTTP_H
#define LT_HTTP_H

#include <stddef.h>

#include "store.h"

typedef struct lt_http lt_http;

/* Listen on `host_port` ("127.0.0.1:8765", "[::1]:0", "0.0.0.0:0", a host
 * name; port 0 picks a free port) and serve the store in `data_dir`.
 * Returns the running server, or NULL with a message in err. */
lt_http *lt_http_start(const char *host_port, const char *data_dir, lt_store *st, char *err, size_t errlen);

/* The port actually bound (useful after asking for port 0). */
int lt_http_port(const lt_http *h);

/* Stop accepting, end follow streams (within about 200 ms), wait for every
 * connection thread, and free the server. NULL is accepted. */
void lt_http_stop(lt_http *h);

#endif
