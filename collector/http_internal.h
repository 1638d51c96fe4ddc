/* http_internal.h -- what the HTTP server's files share: the server
 * struct, one call's context, response helpers and parameter parsing.
 *
 *   http.c        the server: listening, MHD callbacks, request bodies,
 *                 routing, authentication, /metrics, /healthz, /ui
 *   http_logs.c   log pages, request status, follow streams
 *   http_lists.c  the lists of runners and requests
 *   http_admin.c  whoami, tokens, apps, accounts
 *   http_drains.c log drains
 *   http_guard.c  connection limits, the read deadline, stream caps
 *
 * Not part of the collector's interface (http.h is).
 */
#ifndef LT_HTTP_INTERNAL_H
#define LT_HTTP_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>
#include <microhttpd.h>

#include "buf.h"
#include "http.h"
#include "registry.h"
#include "store.h"

#define JSON_TYPE "application/json; charset=utf-8"

typedef struct http_guard http_guard;

struct lt_http {
    struct MHD_Daemon *daemon;
    http_guard *guard;
    lt_http_limits limits;
    lt_store *store;
    char *data_dir; /* owned copy */
    /* To the ingest thread; NULL: not taken yet. Set once, after the
     * server started, while HTTP threads may already read it. */
    struct lt_announce *_Atomic announce;
    int port;
    atomic_bool stopping;
};

/* One HTTP request being answered. Everything it points to lives until the
 * handler returns (a follow stream copies what it keeps). */
typedef struct http_call {
    lt_http *http;
    struct MHD_Connection *conn;
    const char *method;
    bool is_head;
    lt_principal who;      /* the authenticated caller */
    const char *token;     /* the token it presented (a follow stream
                              checks it again while it runs) */
    lt_registry *registry; /* open for the call */
    const char *body;      /* PUT/POST body, NUL-terminated; NULL if none */
    size_t body_len;
} http_call;

/* ---- response bodies (built in an lt_buf) ---- */

/* Dumps `value` compactly and appends it; takes the reference (NULL marks
 * the buffer failed: a constructor ran out of memory). */
void http_append_json(lt_buf *b, json_t *value);

/* ---- responses (each returns what the MHD handler should return) ---- */

void http_add_common_headers(struct MHD_Response *response, const char *content_type);
/* A finished buffer (ownership moves to MHD), or a 500 if it failed. */
enum MHD_Result http_reply_buffer(struct MHD_Connection *conn, unsigned status, const char *content_type,
                                  lt_buf *b);
/* `value` is dumped as the body, with a newline; the reference is taken. */
enum MHD_Result http_reply_json(struct MHD_Connection *conn, unsigned status, json_t *value);
/* {"error": "..."}; the message is sanitised (it may quote client input). */
enum MHD_Result http_reply_error(struct MHD_Connection *conn, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same with one more header (`name`: `value`). */
enum MHD_Result http_reply_error_header(struct MHD_Connection *conn, unsigned status, const char *name,
                                        const char *value, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* ---- the request target ---- */

#define MAX_PATH_BYTES 1024 /* longer paths cannot name anything we serve */
#define MAX_PATH_SEGMENTS 5

enum path_result { PATH_OK, PATH_NOT_FOUND, PATH_BAD_ESCAPE };

/* Split the path of a raw request target into percent-decoded segments.
 * The decoded text lives in `storage`; `segments` point into it. A decoded
 * segment containing '/' or NUL cannot be an ID we store: PATH_NOT_FOUND.
 * (Used by route(); here for the fuzzer.) */
enum path_result http_split_path(const char *target, char *storage, size_t storage_size,
                                 const char *segments[], int *count);

/* ---- parameters ---- */

/* The value of query parameter `name`, or NULL if absent ("?name" reads
 * as ""). *has_nul is set when the decoded value holds a NUL byte. */
const char *http_query_param(struct MHD_Connection *conn, const char *name, bool *has_nul);
/* Every value of a repeated query parameter, in the order given, into
 * `values` (at most `max`). Returns how many, or -1 when there are more
 * than `max`. *has_nul is set when a decoded value holds a NUL byte. */
int http_query_params(struct MHD_Connection *conn, const char *name, const char **values, int max,
                      bool *has_nul);
/* Strict non-negative decimal: digits only, no sign, no overflow. */
bool http_parse_count(const char *text, int64_t *out);
/* 1, 0, true, false. */
bool http_parse_flag(const char *text, bool *out);
/* If the request has a query parameter not in `allowed` (NULL-terminated),
 * writes "unknown parameter NAME" to `problem` and returns false. */
bool http_params_known(struct MHD_Connection *conn, const char *const *allowed, char *problem,
                       size_t problem_size);

/* A store reader for this call, or NULL after queuing a 500 in *queued. */
lt_store_reader *http_open_reader(http_call *c, enum MHD_Result *queued);
/* A store failure the client cannot fix: logged once in the body. */
enum MHD_Result http_reply_store_error(http_call *c);

/* ---- endpoints ---- */

enum http_log_scope { HTTP_SCOPE_RUNNER, HTTP_SCOPE_REQUEST, HTTP_SCOPE_SEARCH };

/* /v1/runners/{id}/logs, /v1/requests/{id}/logs, /v1/logs (id NULL). */
enum MHD_Result http_serve_logs(http_call *c, enum http_log_scope scope, const char *id);
/* GET /v1/runners and GET /v1/requests (http_lists.c) */
enum MHD_Result http_serve_runner_list(http_call *c);
enum MHD_Result http_serve_request_list(http_call *c);
/* /v1/requests/{id}/status */
enum MHD_Result http_serve_request_status(http_call *c, const char *request_id);
/* /v1/requests/{id}/status/stream (http_logs.c) */
enum MHD_Result http_serve_status_stream(http_call *c, const char *request_id);
/* PUT /v1/requests/{id}: the gateway's announcement (http_requests.c) */
enum MHD_Result http_serve_request_announce(http_call *c, const char *request_id);
/* A JSON object body with only the `allowed` keys (http_admin.c), or NULL
 * after queuing a 400. */
json_t *http_body_object(http_call *c, const char *const *allowed, enum MHD_Result *queued);

enum MHD_Result http_serve_whoami(http_call *c);
/* /v1/tokens (id NULL) and /v1/tokens/{id} */
enum MHD_Result http_serve_tokens(http_call *c, const char *id);
/* /v1/apps (id NULL) and /v1/apps/{id} */
enum MHD_Result http_serve_apps(http_call *c, const char *app_id);
/* /v1/apps/{app}/drains (http_drains.c) */
enum MHD_Result http_serve_app_drains(http_call *c, const char *app_id);
/* /v1/drains (id NULL) and /v1/drains/{id} */
enum MHD_Result http_serve_drains(http_call *c, const char *id);
/* /v1/accounts/{user} */
enum MHD_Result http_serve_account(http_call *c, const char *user);
/* POST /v1/runners/{id}/credentials (http_credentials.c) */
enum MHD_Result http_serve_runner_credentials(http_call *c, const char *runner_id);

/* ---- connections and streams (http_guard.c) ---- */

/* Starts the read-deadline watcher; NULL when out of memory. */
http_guard *http_guard_new(const lt_http_limits *limits);
/* After MHD_stop_daemon. NULL is accepted. */
void http_guard_free(http_guard *g);
/* MHD_OPTION_ACCEPT_POLICY_CALLBACK and MHD_OPTION_NOTIFY_CONNECTION, with
 * the guard as their closure. */
enum MHD_Result http_guard_accept(void *cls, const struct sockaddr *addr, socklen_t addr_len);
void http_guard_notify(void *cls, struct MHD_Connection *connection, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);
/* The connection starts (true) or has finished (false) reading a request:
 * the read deadline runs while it reads. */
void http_guard_reading(http_guard *g, struct MHD_Connection *connection, bool reading);
/* A request on the connection presented a valid token. */
void http_guard_proven(http_guard *g, struct MHD_Connection *connection);

enum { STREAM_OPENED = 0, STREAM_TOKEN_FULL = 1, STREAM_USER_FULL = 2, STREAM_NO_MEMORY = -1 };
/* Count a follow stream of `token` and `user`, unless either is at its cap. */
int http_guard_stream_open(http_guard *g, const char *token, const char *user);
void http_guard_stream_close(http_guard *g, const char *token, const char *user);

/* 405 with an Allow header naming what the resource takes. */
enum MHD_Result http_reply_method_not_allowed(http_call *c, const char *allow);

#endif
