/* http.c -- the collector's HTTP server (doc/http-api.md) over
 * libmicrohttpd: listening, request bodies, routing, authentication, and
 * the small endpoints (/healthz, /metrics, the dashboard's static files).
 * The log endpoints are in http_logs.c, the registry's in http_admin.c;
 * http_internal.h is what they share.
 *
 * Why it looks the way it does:
 * - Thread per connection: a follow stream blocks in lt_store_wait inside
 *   MHD's content callback; the thread is the stream's natural home.
 * - Path segments are decoded here, from the raw request target MHD hands to
 *   the URI-log callback, not from MHD's already-decoded path: decoding the
 *   whole path first would turn "a%2Fb" into two segments and could make
 *   "/v1/runners/x%2Flogs" mean runner "x". Decoding segment by segment makes
 *   an ID containing '/' impossible (404) and every other %xx exact.
 * - Authentication happens once, in route(), before any endpoint runs: an
 *   endpoint cannot forget it. So does the token's scope (access.h): a
 *   read token's change or a metrics token's call under /v1 is refused
 *   there, whatever endpoint it names. Everything but /healthz and the dashboard's
 *   static files needs a token; the static files hold no data.
 * - Every response carries Cache-Control: no-store (logs change and may be
 *   private) and X-Content-Type-Options: nosniff (log text is attacker
 *   controlled; browsers must not sniff it into HTML). The dashboard's files
 *   add a Content-Security-Policy that allows no inline script at all, so a
 *   log line that slipped into the DOM as markup still could not run.
 * - Hostile clients: the connection limits, the total read deadline and
 *   the slots kept for clients with a valid token are http_guard.c's; this
 *   file tells it when a connection starts and stops reading a request and
 *   when a token was valid (authenticate()).
 * - Request bodies (small JSON objects) are read whole, up to
 *   MAX_BODY_BYTES, before the endpoint runs. A larger declared length is
 *   refused with 413 before a byte is read; an undeclared one that grows
 *   past the limit ends the connection.
 */
#include "http.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "access.h"
#include "http_internal.h"
#include "logtap_wire.h"
#include "metrics.h"
#include "ui.h"
#include "utf8.h"

#define MAX_BODY_BYTES (64 * 1024)
/* MHD's idle timeout: no byte either way for this long ends a connection (a
 * follow stream sends a keepalive every 15 s). Reading a request has a
 * total deadline besides (http_guard.c). */
#define CONNECTION_TIMEOUT_S 60

#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define UI_POLICY                                                                                            \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "                        \
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "                           \
    "frame-ancestors 'none'"

/* ---- response bodies ---- */

void http_append_json(lt_buf *b, json_t *value)
{
    if (value == NULL) {
        lt_buf_fail(b);
        return;
    }
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(value);
    if (text == NULL) {
        lt_buf_fail(b);
        return;
    }
    lt_buf_append_str(b, text);
    free(text);
}

/* ---- responses ---- */

void http_add_common_headers(struct MHD_Response *response, const char *content_type)
{
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
}

/* Queue `body` (malloc'd, ownership passes to MHD) with `status`; `extra`
 * is NULL or a header name and value. */
static enum MHD_Result reply_owned_body(struct MHD_Connection *conn, unsigned status,
                                        const char *content_type, char *body, size_t len,
                                        const char *extra_name, const char *extra_value)
{
    struct MHD_Response *response = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (response == NULL) {
        free(body);
        return MHD_NO;
    }
    http_add_common_headers(response, content_type);
    if (extra_name != NULL)
        MHD_add_response_header(response, extra_name, extra_value);
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"logtap\"");
    enum MHD_Result result = MHD_queue_response(conn, status, response);
    MHD_destroy_response(response);
    return result;
}

static enum MHD_Result reply_buffer_with(struct MHD_Connection *conn, unsigned status,
                                         const char *content_type, lt_buf *b, const char *extra_name,
                                         const char *extra_value)
{
    if (lt_buf_failed(b) || b->data == NULL) {
        lt_buf_release(b);
        static const char out_of_memory[] = "{\"error\":\"out of memory\"}";
        char *body = strdup(out_of_memory);
        if (body == NULL)
            return MHD_NO;
        return reply_owned_body(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, JSON_TYPE, body, strlen(body), NULL,
                                NULL);
    }
    size_t len = b->len;
    char *data = lt_buf_detach(b); /* ownership moves to MHD */
    return reply_owned_body(conn, status, content_type, data, len, extra_name, extra_value);
}

enum MHD_Result http_reply_buffer(struct MHD_Connection *conn, unsigned status, const char *content_type,
                                  lt_buf *b)
{
    return reply_buffer_with(conn, status, content_type, b, NULL, NULL);
}

enum MHD_Result http_reply_json(struct MHD_Connection *conn, unsigned status, json_t *value)
{
    lt_buf b = {0};
    http_append_json(&b, value);
    lt_buf_append_byte(&b, '\n');
    return http_reply_buffer(conn, status, JSON_TYPE, &b);
}

static enum MHD_Result reply_error_with(struct MHD_Connection *conn, unsigned status, const char *extra_name,
                                        const char *extra_value, const char *fmt, va_list ap)
{
    char message[512];
    vsnprintf(message, sizeof message, fmt, ap);
    size_t clean_len;
    char *clean = lt_utf8_sanitize(message, strlen(message), &clean_len);
    json_t *body = json_object();
    if (clean != NULL && body != NULL)
        json_object_set_new(body, "error", json_stringn(clean, clean_len));
    free(clean);
    lt_buf b = {0};
    http_append_json(&b, body);
    lt_buf_append_byte(&b, '\n');
    return reply_buffer_with(conn, status, JSON_TYPE, &b, extra_name, extra_value);
}

enum MHD_Result http_reply_error(struct MHD_Connection *conn, unsigned status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum MHD_Result result = reply_error_with(conn, status, NULL, NULL, fmt, ap);
    va_end(ap);
    return result;
}

enum MHD_Result http_reply_error_header(struct MHD_Connection *conn, unsigned status, const char *name,
                                        const char *value, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum MHD_Result result = reply_error_with(conn, status, name, value, fmt, ap);
    va_end(ap);
    return result;
}

enum MHD_Result http_reply_method_not_allowed(http_call *c, const char *allow)
{
    return http_reply_error_header(c->conn, MHD_HTTP_METHOD_NOT_ALLOWED, MHD_HTTP_HEADER_ALLOW, allow,
                                   "method %s not allowed here (allowed: %s)", c->method, allow);
}

enum MHD_Result http_reply_store_error(http_call *c)
{
    return http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "store query failed");
}

lt_store_reader *http_open_reader(http_call *c, enum MHD_Result *queued)
{
    char err[256];
    lt_store_reader *rd = lt_store_reader_open_for(c->http->store, err, sizeof err);
    if (rd == NULL)
        *queued = http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "store unavailable: %s", err);
    return rd;
}

/* ---- request target parsing ---- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

enum path_result http_split_path(const char *target, char *storage, size_t storage_size,
                                 const char *segments[], int *count)
{
    size_t path_len = strcspn(target, "?#");
    if (path_len == 0 || target[0] != '/' || path_len >= storage_size)
        return PATH_NOT_FOUND;

    *count = 0;
    size_t out = 0;
    size_t i = 1; /* past the leading '/' */
    for (;;) {
        if (*count == MAX_PATH_SEGMENTS)
            return PATH_NOT_FOUND;
        segments[(*count)++] = storage + out;
        while (i < path_len && target[i] != '/') {
            char c = target[i];
            if (c == '%') {
                int hi = i + 2 < path_len ? hex_value(target[i + 1]) : -1;
                int lo = i + 2 < path_len ? hex_value(target[i + 2]) : -1;
                if (hi < 0 || lo < 0)
                    return PATH_BAD_ESCAPE;
                c = (char)(hi * 16 + lo);
                if (c == '/' || c == '\0')
                    return PATH_NOT_FOUND;
                i += 3;
            } else {
                i++;
            }
            storage[out++] = c;
        }
        storage[out++] = '\0';
        if (i >= path_len)
            break;
        i++; /* the '/' */
    }
    assert(out <= path_len); /* decoding never lengthens; one NUL per '/' */
    return PATH_OK;
}

/* ---- query parameters ---- */

const char *http_query_param(struct MHD_Connection *conn, const char *name, bool *has_nul)
{
    const char *value = NULL;
    size_t value_len = 0;
    *has_nul = false;
    if (MHD_lookup_connection_value_n(conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &value, &value_len) !=
        MHD_YES)
        return NULL;
    if (value == NULL)
        return "";
    *has_nul = strlen(value) != value_len;
    return value;
}

struct params_collect {
    const char *name;
    const char **values;
    int max;
    int count;
    bool too_many, has_nul;
};

static enum MHD_Result collect_param(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                     const char *value, size_t value_size)
{
    (void)kind;
    struct params_collect *pc = cls;
    if (key_size != strlen(pc->name) || memcmp(key, pc->name, key_size) != 0)
        return MHD_YES;
    if (pc->count == pc->max) {
        pc->too_many = true;
        return MHD_NO;
    }
    if (value == NULL)
        value = "";
    else if (strlen(value) != value_size)
        pc->has_nul = true;
    pc->values[pc->count++] = value;
    return MHD_YES;
}

int http_query_params(struct MHD_Connection *conn, const char *name, const char **values, int max,
                      bool *has_nul)
{
    assert(max > 0);
    struct params_collect pc = {.name = name, .values = values, .max = max};
    MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, collect_param, &pc);
    *has_nul = pc.has_nul;
    return pc.too_many ? -1 : pc.count;
}

bool http_parse_count(const char *text, int64_t *out)
{
    if (text[0] == '\0')
        return false;
    int64_t value = 0;
    for (const char *p = text; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return false;
        if (__builtin_mul_overflow(value, 10, &value) || __builtin_add_overflow(value, *p - '0', &value))
            return false;
    }
    *out = value;
    return true;
}

bool http_parse_flag(const char *text, bool *out)
{
    if (strcmp(text, "1") == 0 || strcasecmp(text, "true") == 0) {
        *out = true;
        return true;
    }
    if (strcmp(text, "0") == 0 || strcasecmp(text, "false") == 0) {
        *out = false;
        return true;
    }
    return false;
}

struct params_check {
    const char *const *allowed;
    char *problem;
    size_t problem_size;
    bool ok;
};

static enum MHD_Result check_param(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    (void)value;
    struct params_check *check = cls;
    for (const char *const *name = check->allowed; *name != NULL; name++)
        if (strcmp(key, *name) == 0)
            return MHD_YES;
    snprintf(check->problem, check->problem_size, "unknown parameter %s", key);
    check->ok = false;
    return MHD_NO;
}

bool http_params_known(struct MHD_Connection *conn, const char *const *allowed, char *problem,
                       size_t problem_size)
{
    struct params_check check = {allowed, problem, problem_size, true};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, check_param, &check);
    return check.ok;
}

/* ---- authentication ---- */

/* The token of "Authorization: Bearer TOKEN", or NULL. */
static const char *bearer_token(struct MHD_Connection *conn)
{
    const char *value = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (value == NULL || strncasecmp(value, "Bearer ", 7) != 0)
        return NULL;
    value += 7;
    while (*value == ' ')
        value++;
    return value;
}

/* Fills c->who and opens c->registry; on failure queues the answer. */
static bool authenticate(http_call *c, enum MHD_Result *queued)
{
    const char *token = bearer_token(c->conn);
    if (token == NULL) {
        LT_COUNT(http_unauthorized, 1);
        *queued = http_reply_error(c->conn, MHD_HTTP_UNAUTHORIZED,
                                   "authentication required: send Authorization: Bearer TOKEN "
                                   "(the collector's admin token is in DATA/admin.token)");
        return false;
    }
    c->token = token;
    char err[256];
    c->registry = lt_registry_open(c->http->data_dir, err, sizeof err);
    if (c->registry == NULL) {
        *queued = http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "registry unavailable: %s", err);
        return false;
    }
    int found = lt_registry_authenticate(c->registry, token, &c->who);
    if (found < 0) {
        *queued = http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "registry unavailable: %s",
                                   lt_registry_error(c->registry));
        return false;
    }
    if (found == 0) {
        LT_COUNT(http_unauthorized, 1);
        *queued = http_reply_error(c->conn, MHD_HTTP_UNAUTHORIZED, "invalid token");
        return false;
    }
    http_guard_proven(c->http->guard, c->conn);
    return true;
}

/* ---- the small endpoints ---- */

static bool is_read(const http_call *c)
{
    return c->is_head || strcmp(c->method, MHD_HTTP_METHOD_GET) == 0;
}

static enum MHD_Result serve_metrics(http_call *c)
{
    if (!is_read(c))
        return http_reply_method_not_allowed(c, "GET, HEAD");
    if (!lt_access_call_allowed(&c->who, LT_CALL_METRICS))
        return http_reply_error(c->conn, MHD_HTTP_FORBIDDEN,
                                "/metrics is for admin and for metrics tokens (logtap tokens create "
                                "--scope metrics)");
    char *text;
    size_t len;
    lt_metrics_render(&text, &len);
    if (text == NULL)
        return http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    return reply_owned_body(c->conn, MHD_HTTP_OK, METRICS_TYPE, text, len, NULL, NULL);
}

static enum MHD_Result serve_health(http_call *c)
{
    if (!is_read(c))
        return http_reply_method_not_allowed(c, "GET, HEAD");
    lt_buf b = {0};
    lt_buf_append_str(&b, "{\"ok\":true}\n");
    return http_reply_buffer(c->conn, MHD_HTTP_OK, JSON_TYPE, &b);
}

static enum MHD_Result redirect_to_ui(http_call *c)
{
    if (!is_read(c))
        return http_reply_method_not_allowed(c, "GET, HEAD");
    lt_buf b = {0};
    lt_buf_append_str(&b, "{\"see\":\"/ui/\"}\n");
    return reply_buffer_with(c->conn, MHD_HTTP_FOUND, JSON_TYPE, &b, MHD_HTTP_HEADER_LOCATION, "/ui/");
}

static enum MHD_Result serve_ui(http_call *c, const char *name)
{
    if (!is_read(c))
        return http_reply_method_not_allowed(c, "GET, HEAD");
    const lt_ui_asset *asset = lt_ui_find(name[0] != '\0' ? name : "index.html");
    if (asset == NULL)
        return http_reply_error(c->conn, MHD_HTTP_NOT_FOUND, "not found");
    /* The asset is static data in the binary: MHD may send it without a copy. */
    struct MHD_Response *response =
        MHD_create_response_from_buffer(asset->len, (void *)asset->data, MHD_RESPMEM_PERSISTENT);
    if (response == NULL)
        return MHD_NO;
    http_add_common_headers(response, asset->content_type);
    MHD_add_response_header(response, "Content-Security-Policy", UI_POLICY);
    MHD_add_response_header(response, "X-Frame-Options", "DENY");
    MHD_add_response_header(response, "Referrer-Policy", "no-referrer");
    enum MHD_Result result = MHD_queue_response(c->conn, MHD_HTTP_OK, response);
    MHD_destroy_response(response);
    return result;
}

/* ---- routing ---- */

/* Every ID in a path (runner, request, app, user, token) follows the wire
 * rule; one that cannot exist is answered 404 here, so no endpoint ever
 * sees it. */
static bool plausible_id(const char *id)
{
    return lt_wire_id_ok(id, strlen(id));
}

static enum MHD_Result route_v1(http_call *c, const char *const *seg, int n)
{
    const char *collection = seg[1];
    if (n == 2 && strcmp(collection, "whoami") == 0)
        return http_serve_whoami(c);
    if (n == 2 && strcmp(collection, "logs") == 0)
        return http_serve_logs(c, HTTP_SCOPE_SEARCH, NULL);
    if (n == 2 && strcmp(collection, "tokens") == 0)
        return http_serve_tokens(c, NULL);
    if (n == 2 && strcmp(collection, "apps") == 0)
        return http_serve_apps(c, NULL);
    if (n == 2 && strcmp(collection, "runners") == 0)
        return http_serve_runner_list(c);
    if (n == 2 && strcmp(collection, "requests") == 0)
        return http_serve_request_list(c);
    if (n == 2 && strcmp(collection, "drains") == 0)
        return http_serve_drains(c, NULL);
    if (n < 3 || !plausible_id(seg[2]))
        return http_reply_error(c->conn, MHD_HTTP_NOT_FOUND, "not found");
    const char *id = seg[2];
    if (n == 3 && strcmp(collection, "tokens") == 0)
        return http_serve_tokens(c, id);
    if (n == 3 && strcmp(collection, "apps") == 0)
        return http_serve_apps(c, id);
    if (n == 3 && strcmp(collection, "drains") == 0)
        return http_serve_drains(c, id);
    if (n == 4 && strcmp(collection, "apps") == 0 && strcmp(seg[3], "drains") == 0)
        return http_serve_app_drains(c, id);
    if (n == 3 && strcmp(collection, "accounts") == 0)
        return http_serve_account(c, id);
    if (n == 4 && strcmp(collection, "runners") == 0 && strcmp(seg[3], "logs") == 0)
        return http_serve_logs(c, HTTP_SCOPE_RUNNER, id);
    if (n == 4 && strcmp(collection, "requests") == 0 && strcmp(seg[3], "logs") == 0)
        return http_serve_logs(c, HTTP_SCOPE_REQUEST, id);
    if (n == 4 && strcmp(collection, "runners") == 0 && strcmp(seg[3], "credentials") == 0)
        return http_serve_runner_credentials(c, id);
    if (n == 4 && strcmp(collection, "requests") == 0 && strcmp(seg[3], "status") == 0)
        return http_serve_request_status(c, id);
    if (n == 3 && strcmp(collection, "requests") == 0)
        return http_serve_request_announce(c, id);
    if (n == 5 && strcmp(collection, "requests") == 0 && strcmp(seg[3], "status") == 0 &&
        strcmp(seg[4], "stream") == 0)
        return http_serve_status_stream(c, id);
    return http_reply_error(c->conn, MHD_HTTP_NOT_FOUND, "not found");
}

static bool is_api_path(const char *const *seg, int n)
{
    return (n >= 2 && strcmp(seg[0], "v1") == 0) || (n == 1 && strcmp(seg[0], "metrics") == 0);
}

static enum MHD_Result route(http_call *c, const char *target)
{
    char storage[MAX_PATH_BYTES];
    const char *seg[MAX_PATH_SEGMENTS];
    int n = 0;
    switch (http_split_path(target, storage, sizeof storage, seg, &n)) {
    case PATH_OK: break;
    case PATH_BAD_ESCAPE:
        return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST, "bad path: invalid percent-escape");
    case PATH_NOT_FOUND: return http_reply_error(c->conn, MHD_HTTP_NOT_FOUND, "not found");
    }

    if (n == 1 && strcmp(seg[0], "healthz") == 0)
        return serve_health(c);
    if (n == 1 && seg[0][0] == '\0')
        return redirect_to_ui(c);
    if (n == 1 && strcmp(seg[0], "ui") == 0)
        return redirect_to_ui(c);
    if (n == 2 && strcmp(seg[0], "ui") == 0)
        return serve_ui(c, seg[1]);
    if (!is_api_path(seg, n))
        return http_reply_error(c->conn, MHD_HTTP_NOT_FOUND, "not found");

    enum MHD_Result queued = MHD_NO;
    if (!authenticate(c, &queued))
        return queued;
    if (n == 1)
        return serve_metrics(c);
    /* The token's scope, once for every endpoint under /v1 (access.h). */
    if (!lt_access_call_allowed(&c->who, is_read(c) ? LT_CALL_READ : LT_CALL_CHANGE)) {
        if (c->who.scope == LT_SCOPE_METRICS)
            return http_reply_error(c->conn, MHD_HTTP_FORBIDDEN,
                                    "this token's scope is metrics: it may read /metrics only");
        return http_reply_error(c->conn, MHD_HTTP_FORBIDDEN,
                                "this token's scope is %s: it may not change anything",
                                lt_token_scope_name(c->who.scope));
    }
    return route_v1(c, seg, n);
}

/* ---- MHD callbacks ---- */

/* Per-request state, created by the URI-log callback (which sees the raw
 * request target) and freed when MHD reports the request complete. */
struct http_request {
    char *raw_target;  /* owned, as received: "/v1/runners/a%2Fb/logs?x=1" */
    bool headers_seen; /* the access handler has been called once */
    bool answered;     /* a response was queued before the body ended */
    lt_buf body;
};

static void *remember_target(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    struct http_request *req = calloc(1, sizeof *req);
    if (req == NULL)
        return NULL;
    req->raw_target = strdup(uri != NULL ? uri : "");
    if (req->raw_target == NULL) {
        free(req);
        return NULL;
    }
    return req;
}

static void forget_request(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode why)
{
    lt_http *h = cls;
    (void)why;
    /* The next request's read deadline starts now (an idle keep-alive
     * connection is reading too). */
    http_guard_reading(h->guard, conn, true);
    struct http_request *req = *con_cls;
    if (req == NULL)
        return;
    free(req->raw_target);
    lt_buf_release(&req->body);
    free(req);
    *con_cls = NULL;
}

static bool method_known(const char *method)
{
    static const char *const known[] = {MHD_HTTP_METHOD_GET, MHD_HTTP_METHOD_HEAD, MHD_HTTP_METHOD_POST,
                                        MHD_HTTP_METHOD_PUT, MHD_HTTP_METHOD_DELETE};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(method, known[i]) == 0)
            return true;
    return false;
}

/* MHD calls this at least twice per request: once when the headers are in,
 * then with each piece of the body, then once more with no body left. The
 * request is answered on that last call (answering earlier makes MHD close
 * the connection afterwards, which only a refused body deserves). */
static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version, const char *upload_data,
                                      size_t *upload_data_size, void **con_cls)
{
    lt_http *h = cls;
    (void)url; /* already decoded by MHD; we decode the raw target ourselves */
    (void)version;
    struct http_request *req = *con_cls;
    if (req == NULL) {
        LT_COUNT(http_requests, 1);
        return http_reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    if (!req->headers_seen) {
        req->headers_seen = true;
        LT_COUNT(http_requests, 1);
        if (!method_known(method)) {
            req->answered = true;
            return http_reply_error_header(conn, MHD_HTTP_METHOD_NOT_ALLOWED, MHD_HTTP_HEADER_ALLOW,
                                           "GET, HEAD, POST, PUT, DELETE", "method %s not allowed", method);
        }
        /* A declared length can be refused before a byte of it is read
         * (MHD takes a response only before or after the body). */
        const char *length =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        int64_t declared;
        if (length != NULL && http_parse_count(length, &declared) && declared > MAX_BODY_BYTES) {
            req->answered = true;
            return http_reply_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body larger than %d bytes",
                                    MAX_BODY_BYTES);
        }
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        size_t piece = *upload_data_size;
        *upload_data_size = 0;
        if (req->answered)
            return MHD_YES;
        bool is_read_method =
            strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
        if (is_read_method)
            return MHD_YES; /* a body on GET means nothing: drop it */
        if (req->body.len + piece > MAX_BODY_BYTES)
            return MHD_NO; /* an undeclared length grew too large: hang up, read no more */
        lt_buf_append(&req->body, upload_data, piece);
        return MHD_YES;
    }
    /* The request is in: its read deadline no longer runs. */
    http_guard_reading(h->guard, conn, false);
    if (req->answered)
        return MHD_YES;
    req->answered = true;
    if (lt_buf_failed(&req->body))
        return http_reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");

    http_call c = {
        .http = h,
        .conn = conn,
        .method = method,
        .is_head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0,
        .body = req->body.data,
        .body_len = req->body.len,
    };
    enum MHD_Result result = route(&c, req->raw_target);
    lt_registry_close(c.registry);
    return result;
}

/* ---- start / stop ---- */

/* "host:port" or "[v6]:port" into its parts. */
static int split_host_port(const char *host_port, char *host, size_t host_size, char *port, size_t port_size)
{
    const char *host_start = host_port, *host_end, *port_start;
    if (host_port[0] == '[') {
        host_start = host_port + 1;
        host_end = strchr(host_start, ']');
        if (host_end == NULL || host_end[1] != ':')
            return -1;
        port_start = host_end + 2;
    } else {
        host_end = strrchr(host_port, ':');
        if (host_end == NULL)
            return -1;
        port_start = host_end + 1;
    }
    size_t host_len = (size_t)(host_end - host_start);
    int64_t port_number;
    if (host_len == 0 || host_len >= host_size || !http_parse_count(port_start, &port_number) ||
        port_number > 65535 || strlen(port_start) >= port_size)
        return -1;
    memcpy(host, host_start, host_len);
    host[host_len] = '\0';
    strcpy(port, port_start);
    return 0;
}

/* Bind and listen ourselves rather than through MHD, so a failure can say
 * why (address in use, not permitted, no such host). */
static int open_listener(const char *host_port, int *family, char *err, size_t errlen)
{
    char host[256], port[8];
    if (split_host_port(host_port, host, sizeof host, port, sizeof port) != 0) {
        snprintf(err, errlen, "bad listen address \"%s\": expected HOST:PORT or [V6ADDR]:PORT", host_port);
        return -1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *addresses;
    int rc = getaddrinfo(host, port, &hints, &addresses);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1, saved_errno = 0;
    for (struct addrinfo *a = addresses; a != NULL && fd < 0; a = a->ai_next) {
        if (a->ai_family != AF_INET && a->ai_family != AF_INET6)
            continue;
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            saved_errno = errno;
            continue;
        }
        int on = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (a->ai_family == AF_INET6) /* "[::]" means IPv6 only, as written */
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 128) != 0) {
            saved_errno = errno;
            close(fd);
            fd = -1;
            continue;
        }
        *family = a->ai_family;
    }
    freeaddrinfo(addresses);
    if (fd < 0)
        snprintf(err, errlen, "cannot listen on %s: %s", host_port,
                 saved_errno ? strerror(saved_errno) : "no usable address");
    return fd;
}

lt_http *lt_http_start(const char *host_port, const char *data_dir, lt_store *st,
                       const lt_http_limits *limits, char *err, size_t errlen)
{
    assert(host_port != NULL && data_dir != NULL && st != NULL);
    static const lt_http_limits defaults = LT_HTTP_LIMITS_DEFAULT;
    lt_http *h = calloc(1, sizeof *h);
    if (h == NULL || (h->data_dir = strdup(data_dir)) == NULL) {
        snprintf(err, errlen, "out of memory");
        free(h);
        return NULL;
    }
    h->store = st;
    h->limits = limits != NULL ? *limits : defaults;
    h->guard = http_guard_new(&h->limits);
    if (h->guard == NULL) {
        snprintf(err, errlen, "out of memory");
        free(h->data_dir);
        free(h);
        return NULL;
    }
    atomic_init(&h->stopping, false);

    int family = AF_INET;
    int fd = open_listener(host_port, &family, err, errlen);
    if (fd < 0) {
        http_guard_free(h->guard);
        free(h->data_dir);
        free(h);
        return NULL;
    }
    unsigned flags =
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->daemon = MHD_start_daemon(
        flags, 0, http_guard_accept, h->guard, handle_request, h, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
        MHD_OPTION_URI_LOG_CALLBACK, remember_target, (void *)h, MHD_OPTION_NOTIFY_COMPLETED, forget_request,
        (void *)h, MHD_OPTION_NOTIFY_CONNECTION, http_guard_notify, (void *)h->guard,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)h->limits.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned int)h->limits.max_per_ip, MHD_OPTION_END);
    if (h->daemon == NULL) {
        snprintf(err, errlen, "cannot start the HTTP server on %s", host_port);
        close(fd);
        http_guard_free(h->guard);
        free(h->data_dir);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info != NULL ? info->port : 0;
    if (h->port == 0) { /* MHD could not tell: ask the socket */
        struct sockaddr_storage addr;
        socklen_t addr_len = sizeof addr;
        if (getsockname(fd, (struct sockaddr *)&addr, &addr_len) == 0)
            h->port = ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                                       : ((struct sockaddr_in *)&addr)->sin_port);
    }
    return h;
}

void lt_http_set_announce(lt_http *h, struct lt_announce *announce)
{
    atomic_store(&h->announce, announce);
}

int lt_http_port(const lt_http *h)
{
    return h->port;
}

void lt_http_stop(lt_http *h)
{
    if (h == NULL)
        return;
    atomic_store(&h->stopping, true);
    /* Closes the listener and joins every connection thread; follow streams
     * notice `stopping` within one wait slice. */
    MHD_stop_daemon(h->daemon);
    http_guard_free(h->guard);
    free(h->data_dir);
    free(h);
}
