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
#include <stdint.h>

#include "store.h"

typedef struct lt_http lt_http;

/* What one client may hold (doc/http-api.md, "Limits"; the collector's
 * --http-* flags set them). */
typedef struct lt_http_limits {
    int max_connections;   /* open connections in all */
    int max_per_ip;        /* open connections from one address */
    int read_timeout_ms;   /* a request's headers and body, in total */
    int streams_per_token; /* open follow streams of one token */
    int streams_per_user;  /* open follow streams of one user's tokens */
    int64_t page_bytes;    /* bytes of entries in one log page; 0 = none */
} lt_http_limits;

/* The defaults (the same as the collector's flags). */
#define LT_HTTP_LIMITS_DEFAULT                                                                               \
    {                                                                                                        \
        .max_connections = 1000, .max_per_ip = 256, .read_timeout_ms = 15000, .streams_per_token = 16,       \
        .streams_per_user = 64, .page_bytes = 8 * 1024 * 1024                                                \
    }

/* Listen on `host_port` ("127.0.0.1:8765", "[::1]:0", "0.0.0.0:0", a host
 * name; port 0 picks a free port) and serve the store in `data_dir` within
 * `limits` (NULL: LT_HTTP_LIMITS_DEFAULT). Returns the running server, or
 * NULL with a message in err. */
lt_http *lt_http_start(const char *host_port, const char *data_dir, lt_store *st,
                       const lt_http_limits *limits, char *err, size_t errlen);

/* Where PUT /v1/requests/{id} sends announcements (announce.h); until it
 * is set, announcing answers 503. Call it before requests arrive. */
struct lt_announce;
void lt_http_set_announce(lt_http *h, struct lt_announce *announce);

/* The port actually bound (useful after asking for port 0). */
int lt_http_port(const lt_http *h);

/* Stop accepting, end follow streams (within about 200 ms), wait for every
 * connection thread, and free the server. NULL is accepted. */
void lt_http_stop(lt_http *h);

#endif
