/* test_http.c -- the HTTP API against a populated store on a real file,
 * through a real socket, checked with libcurl: runner and request logs, the
 * status shape, every documented error, and follow streams (live lines,
 * Last-Event-ID resumption, hang-up and shutdown). */
#include "unit.h"
#include "clock.h"

#include <pthread.h>
#include <stdatomic.h>

#include <curl/curl.h>
#include <jansson.h>

#include "http.h"
#include "metrics.h"
#include "registry.h"
#include "store.h"
#include "timefmt.h"

#define SEC INT64_C(1000000000)

static char *data_dir;
static lt_store *store;
static lt_http *server;
static int port;
static int64_t t0;            /* an hour ago: relative since= values make sense */
static char auth_header[128]; /* "Authorization: Bearer <admin token>" */

/* ---- HTTP client helpers ---- */

struct text {
    char *data;
    size_t len;
};

static void text_append(struct text *t, const char *data, size_t len)
{
    t->data = realloc(t->data, t->len + len + 1);
    if (t->data == NULL)
        abort();
    memcpy(t->data + t->len, data, len);
    t->len += len;
    t->data[t->len] = '\0';
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    text_append(ctx, data, size * n);
    return size * n;
}

struct reply {
    long status;
    struct text body;
    struct text headers;
    json_t *json; /* parsed body when it is JSON, else NULL */
};

static void reply_free(struct reply *r)
{
    free(r->body.data);
    free(r->headers.data);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

/* One request as admin; `header` may be NULL. */
static struct reply request_as(const char *method, const char *path, const char *header, const char *auth)
{
    struct reply r = {0};
    char *url;
    if (asprintf(&url, "http://127.0.0.1:%d%s", port, path) < 0)
        abort();
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = header ? curl_slist_append(NULL, header) : NULL;
    if (auth != NULL)
        headers = curl_slist_append(headers, auth);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r.headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK)
        fprintf(stderr, "  %s %s: %s\n", method, path, curl_easy_strerror(rc));
    CHECK(rc == CURLE_OK);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    free(url);
    if (r.body.data != NULL)
        r.json = json_loads(r.body.data, 0, NULL);
    return r;
}

static struct reply request(const char *method, const char *path, const char *header)
{
    return request_as(method, path, header, auth_header);
}

static struct reply get(const char *path)
{
    return request("GET", path, NULL);
}

static bool has_header(const struct reply *r, const char *line)
{
    return r->headers.data != NULL && strcasestr(r->headers.data, line) != NULL;
}

/* IDs of a {"logs": [...]} reply, 0-terminated into `ids`. */
static int reply_ids(const struct reply *r, int64_t *ids, int max)
{
    json_t *logs = json_object_get(r->json, "logs");
    int n = 0;
    size_t i;
    json_t *entry;
    json_array_foreach(logs, i, entry)
    {
        if (n < max - 1)
            ids[n++] = json_integer_value(json_object_get(entry, "id"));
    }
    ids[n] = 0;
    return n;
}

/* GET `path` and check it lists exactly these IDs and next_after. */
#define CHECK_LOGS(path, next_after, ...)                                                                    \
    do {                                                                                                     \
        static const int64_t expected_ids[] = {__VA_ARGS__, 0};                                              \
        check_logs(path, expected_ids, next_after, __LINE__);                                                \
    } while (0)

static void check_logs(const char *path, const int64_t *expected, int64_t next_after, int line)
{
    struct reply r = get(path);
    int64_t ids[64];
    int n = reply_ids(&r, ids, 64);
    bool same = r.status == 200 && r.json != NULL;
    int i = 0;
    for (; same && expected[i] != 0; i++)
        same = i < n && ids[i] == expected[i];
    same = same && i == n && json_integer_value(json_object_get(r.json, "next_after")) == next_after;
    if (!same)
        fprintf(stderr, "  line %d: GET %s -> %ld %s\n", line, path, r.status, r.body.data);
    CHECK(same);
    reply_free(&r);
}

/* GET `path` and check the status and that the error names `word`. */
static void check_error(const char *method, const char *path, const char *header, long status,
                        const char *word)
{
    struct reply r = request(method, path, header);
    const char *message = json_string_value(json_object_get(r.json, "error"));
    bool ok = r.status == status && message != NULL && (word == NULL || strstr(message, word));
    if (!ok)
        fprintf(stderr, "  %s %s -> %ld %s\n", method, path, r.status, r.body.data);
    CHECK(ok);
    CHECK(has_header(&r, "Cache-Control: no-store"));
    reply_free(&r);
}

/* ---- fixture ---- */

static void append(const char *runner, const char *request_id, int64_t ts, int stream, int level,
                   const char *message, size_t len)
{
    lt_line line = {.ts_ns = ts,
                    .runner_id = runner,
                    .request_id = request_id,
                    .app_id = "demo",
                    .version_id = "v1",
                    .source = "run",
                    .message = message,
                    .message_len = len ? len : strlen(message),
                    .stream = stream,
                    .level = level,
                    .pid = 4242,
                    .tid = 4243};
    CHECK_INT(lt_store_append(store, &line), 0);
}

static void populate(void)
{
    CHECK_INT(lt_store_runner_seen(store, "r1", "demo", "v1", "run", t0), 0);
    CHECK_INT(lt_store_request_begin(store, "req-done", "r1", "demo", "v1", NULL, t0 + 1 * SEC), 0);
    CHECK_INT(lt_store_request_end(store, "req-done", t0 + 3 * SEC), 0);
    CHECK_INT(lt_store_request_begin(store, "req-live", "r1", "demo", "v1", NULL, t0 + 4 * SEC), 0);
    append("r1", NULL, t0, 1, LT_LEVEL_STDOUT, "setup line", 0);                       /* 1 */
    append("r1", "req-done", t0 + 1 * SEC, 1, LT_LEVEL_STDOUT, "handling", 0);         /* 2 */
    append("r1", "req-done", t0 + 2 * SEC, 2, LT_LEVEL_ERROR, "ERROR bad \xff", 0);    /* 3 */
    append("r1", NULL, t0 + 3 * SEC, 1, LT_LEVEL_STDOUT, "between", 0);                /* 4 */
    append("r1", "req-live", t0 + 4 * SEC, 1, LT_LEVEL_STDOUT, "live work needle", 0); /* 5 */
    append("r1%:~", NULL, t0 + 5 * SEC, 1, LT_LEVEL_STDOUT, "odd runner", 0);          /* 6 */
    CHECK_INT(lt_store_commit(store), 0);
}

/* ---- tests ---- */

static void test_health_and_headers(void)
{
    struct reply r = get("/healthz");
    CHECK_INT(r.status, 200);
    CHECK(json_is_true(json_object_get(r.json, "ok")));
    CHECK(has_header(&r, "Content-Type: application/json; charset=utf-8"));
    CHECK(has_header(&r, "Cache-Control: no-store"));
    CHECK(has_header(&r, "X-Content-Type-Options: nosniff"));
    reply_free(&r);

    r = get("/metrics");
    CHECK_INT(r.status, 200);
    CHECK(has_header(&r, "Content-Type: text/plain; version=0.0.4"));
    CHECK(r.body.data != NULL && strstr(r.body.data, "\nlogtap_http_requests_total ") != NULL);
    reply_free(&r);
}

static void test_runner_logs(void)
{
    CHECK_LOGS("/v1/runners/r1/logs", 5, 1, 2, 3, 4, 5);

    struct reply r = get("/v1/runners/r1/logs");
    json_t *logs = json_object_get(r.json, "logs");
    json_t *first = json_array_get(logs, 0);
    char ts[32];
    CHECK_STR(json_string_value(json_object_get(first, "timestamp")), lt_time_format(t0, ts, sizeof ts));
    CHECK_STR(json_string_value(json_object_get(first, "message")), "setup line");
    CHECK_STR(json_string_value(json_object_get(first, "level")), "STDOUT");
    CHECK_STR(json_string_value(json_object_get(first, "stream")), "stdout");
    CHECK_STR(json_string_value(json_object_get(first, "source")), "run");
    CHECK_STR(json_string_value(json_object_get(first, "runner_id")), "r1");
    CHECK(json_is_null(json_object_get(first, "request_id")));
    CHECK_STR(json_string_value(json_object_get(first, "app_id")), "demo");
    CHECK_STR(json_string_value(json_object_get(first, "version_id")), "v1");
    CHECK_INT(json_integer_value(json_object_get(first, "pid")), 4242);
    CHECK_INT(json_integer_value(json_object_get(first, "tid")), 4243);
    CHECK_INT(json_object_size(first), 12);
    json_t *third = json_array_get(logs, 2);
    CHECK_STR(json_string_value(json_object_get(third, "request_id")), "req-done");
    CHECK_STR(json_string_value(json_object_get(third, "message")), "ERROR bad \xEF\xBF\xBD");
    CHECK_STR(json_string_value(json_object_get(third, "level")), "ERROR");
    CHECK_STR(json_string_value(json_object_get(third, "stream")), "stderr");
    reply_free(&r);

    CHECK_LOGS("/v1/runners/r1/logs?tail=2", 5, 4, 5);
    CHECK_LOGS("/v1/runners/r1/logs?tail=0", 0, 0);
    CHECK_LOGS("/v1/runners/r1/logs?limit=2", 2, 1, 2);
    CHECK_LOGS("/v1/runners/r1/logs?limit=2&after=2", 4, 3, 4);
    CHECK_LOGS("/v1/runners/r1/logs?after=5", 5, 0);
    CHECK_LOGS("/v1/runners/r1/logs?limit=1000000", 5, 1, 2, 3, 4, 5); /* capped, not refused */
    CHECK_LOGS("/v1/runners/r1/logs?search=needle", 5, 5);
    CHECK_LOGS("/v1/runners/r1/logs?search=live%20work", 5, 5);
    CHECK_LOGS("/v1/runners/r1/logs?search=live+work", 5, 5);
    CHECK_LOGS("/v1/runners/r1/logs?search=error", 0, 0); /* case-sensitive */
    CHECK_LOGS("/v1/runners/r1/logs?search=%FF", 3, 3);   /* raw bytes */
    CHECK_LOGS("/v1/runners/r1/logs?since=2h", 5, 1, 2, 3, 4, 5);
    CHECK_LOGS("/v1/runners/r1/logs?since=30m", 0, 0);
    CHECK_LOGS("/v1/runners/r1/logs?until=30m", 5, 1, 2, 3, 4, 5);

    char since[32], until[32], path[256];
    lt_time_format(t0 + 2 * SEC, since, sizeof since);
    lt_time_format(t0 + 4 * SEC, until, sizeof until);
    snprintf(path, sizeof path, "/v1/runners/r1/logs?since=%s&until=%s", since, until);
    CHECK_LOGS(path, 4, 3, 4);

    /* Percent-escapes in the path decode exactly. */
    CHECK_LOGS("/v1/runners/r1%25%3A%7e/logs", 6, 6);
    r = get("/v1/runners/r1%25%3a~/logs");
    CHECK_STR(
        json_string_value(json_object_get(json_array_get(json_object_get(r.json, "logs"), 0), "runner_id")),
        "r1%:~");
    reply_free(&r);
    /* An ID no runner can have (a space, a non-ASCII byte) is not looked up. */
    check_error("GET", "/v1/runners/r%201/logs", NULL, 404, NULL);
    check_error("GET", "/v1/runners/r%C3%BC/logs", NULL, 404, NULL);
    check_error("PUT", "/v1/apps/%C3%A9", NULL, 404, NULL);
    check_error("GET", "/v1/accounts/a%01b", NULL, 404, NULL);

    /* HEAD: headers only. */
    r = request("HEAD", "/v1/runners/r1/logs", NULL);
    CHECK_INT(r.status, 200);
    CHECK(r.body.len == 0);
    CHECK(has_header(&r, "Content-Type: application/json"));
    reply_free(&r);
}

static void test_request_logs_and_status(void)
{
    CHECK_LOGS("/v1/requests/req-done/logs", 3, 2, 3);
    CHECK_LOGS("/v1/requests/req-live/logs", 5, 5);
    CHECK_LOGS("/v1/requests/req-done/logs?tail=1", 3, 3);

    struct reply r = get("/v1/requests/req-done/status");
    CHECK_INT(r.status, 200);
    CHECK_STR(json_string_value(json_object_get(r.json, "request_id")), "req-done");
    CHECK_STR(json_string_value(json_object_get(r.json, "status")), "COMPLETED");
    CHECK(json_object_get(r.json, "logs") == NULL);
    reply_free(&r);

    r = get("/v1/requests/req-done/status?logs=1");
    CHECK_STR(json_string_value(json_object_get(r.json, "status")), "COMPLETED");
    json_t *logs = json_object_get(r.json, "logs");
    CHECK_INT(json_array_size(logs), 2);
    json_t *entry = json_array_get(logs, 1);
    CHECK_INT(json_object_size(entry), 4);
    CHECK_STR(json_string_value(json_object_get(entry, "message")), "ERROR bad \xEF\xBF\xBD");
    CHECK_STR(json_string_value(json_object_get(entry, "level")), "ERROR");
    CHECK_STR(json_string_value(json_object_get(entry, "source")), "run");
    char ts[32];
    CHECK_STR(json_string_value(json_object_get(entry, "timestamp")),
              lt_time_format(t0 + 2 * SEC, ts, sizeof ts));
    reply_free(&r);

    r = get("/v1/requests/req-live/status?logs=true");
    CHECK_STR(json_string_value(json_object_get(r.json, "status")), "IN_PROGRESS");
    CHECK_INT(json_array_size(json_object_get(r.json, "logs")), 1);
    reply_free(&r);

    r = get("/v1/requests/req-live/status?logs=0");
    CHECK_STR(json_string_value(json_object_get(r.json, "status")), "IN_PROGRESS");
    CHECK(json_object_get(r.json, "logs") == NULL);
    reply_free(&r);
}

static void test_errors(void)
{
    /* 404: unknown IDs and paths, and IDs that cannot exist. */
    check_error("GET", "/v1/runners/nobody/logs", NULL, 404, "nobody");
    check_error("GET", "/v1/requests/nobody/logs", NULL, 404, "nobody");
    check_error("GET", "/v1/requests/nobody/status?wait=0", NULL, 404, NULL); /* no wait for it */
    check_error("GET", "/v1/requests/nobody/status/stream?wait=0", NULL, 404, NULL);
    check_error("GET", "/v1/requests/nobody/logs?follow=1&wait=0", NULL, 404, NULL);
    check_error("GET", "/v1/requests/nobody/status?wait=x", NULL, 400, "wait");
    check_error("GET", "/v1/requests/nobody/status/stream?limit=1", NULL, 400, "limit");
    check_error("GET", "/v1/requests/nobody/status/stream/x", NULL, 404, NULL);
    check_error("POST", "/v1/requests/nobody", NULL, 405, NULL);
    check_error("PUT", "/v1/requests/nobody", NULL, 400, "body"); /* the body is the announcement */
    check_error("GET", "/v1", NULL, 404, NULL);
    check_error("GET", "/v1/runners/r1", NULL, 404, NULL);
    check_error("GET", "/v1/runners/r1/logs/", NULL, 404, NULL);
    check_error("GET", "/v1/runners/r1/logs/extra", NULL, 404, NULL);
    check_error("GET", "/v1/runners/r1/status", NULL, 404, NULL);
    check_error("GET", "/v1/runners//logs", NULL, 404, NULL);
    check_error("GET", "/v1/runners/r1%2Flogs", NULL, 404, NULL); /* not runner "r1" */
    check_error("GET", "/v1/runners/r1%00/logs", NULL, 404, NULL);
    check_error("GET", "/v2/runners/r1/logs", NULL, 404, NULL);
    char long_id[200] = "/v1/runners/";
    memset(long_id + strlen(long_id), 'x', 129);
    strcat(long_id, "/logs");
    check_error("GET", long_id, NULL, 404, NULL);

    /* 400: each bad parameter is named. */
    check_error("GET", "/v1/runners/r1/logs?since=yesterday", NULL, 400, "since");
    check_error("GET", "/v1/runners/r1/logs?since=", NULL, 400, "since");
    check_error("GET", "/v1/runners/r1/logs?since=-5m", NULL, 400, "since");
    check_error("GET", "/v1/runners/r1/logs?until=1x", NULL, 400, "until");
    check_error("GET", "/v1/runners/r1/logs?until=2026-02-30", NULL, 400, "until");
    check_error("GET", "/v1/runners/r1/logs?tail=-1", NULL, 400, "tail");
    check_error("GET", "/v1/runners/r1/logs?tail=ten", NULL, 400, "tail");
    check_error("GET", "/v1/runners/r1/logs?limit=0", NULL, 400, "limit");
    check_error("GET", "/v1/runners/r1/logs?limit=abc", NULL, 400, "limit");
    check_error("GET", "/v1/runners/r1/logs?limit=99999999999999999999999", NULL, 400, "limit");
    check_error("GET", "/v1/runners/r1/logs?limit=%201", NULL, 400, "limit");
    check_error("GET", "/v1/runners/r1/logs?after=-1", NULL, 400, "after");
    check_error("GET", "/v1/runners/r1/logs?after=1.5", NULL, 400, "after");
    check_error("GET", "/v1/runners/r1/logs?follow=maybe", NULL, 400, "follow");
    check_error("GET", "/v1/runners/r1/logs?search=a%00b", NULL, 400, "search");
    check_error("GET", "/v1/runners/r1/logs?follow=1", "Last-Event-ID: abc", 400, "Last-Event-ID");
    check_error("GET", "/v1/requests/req-done/status?logs=2", NULL, 400, "logs");
    check_error("GET", "/v1/requests/req-done/logs?tail=x", NULL, 400, "tail");
    check_error("GET", "/v1/runners/r%zz/logs", NULL, 400, "percent");
    check_error("GET", "/v1/runners/r%2/logs", NULL, 400, "percent");
    check_error("GET", "/v1/runners/r1/logs%", NULL, 400, "percent");

    /* 405: anything but GET and HEAD. */
    check_error("POST", "/v1/runners/r1/logs", NULL, 405, "POST");
    check_error("DELETE", "/healthz", NULL, 405, NULL);
    struct reply r = request("PUT", "/v1/runners/r1/logs", NULL);
    CHECK_INT(r.status, 405);
    CHECK(has_header(&r, "Allow: GET, HEAD"));
    reply_free(&r);

    /* A huge URL is refused by the server, which keeps serving. */
    size_t huge = 100000;
    char *path = malloc(huge + 32);
    strcpy(path, "/v1/runners/r1/logs?search=");
    size_t used = strlen(path);
    memset(path + used, 'a', huge);
    path[used + huge] = '\0';
    r = get(path);
    CHECK(r.status >= 400 && r.status < 500);
    reply_free(&r);
    free(path);
    r = get("/healthz");
    CHECK_INT(r.status, 200);
    reply_free(&r);
}

static void test_auth_and_params(void)
{
    /* No token, a malformed one, an unknown one: 401 with a challenge. */
    const char *paths[] = {"/v1/runners/r1/logs",
                           "/v1/logs",
                           "/v1/requests/req-done/status",
                           "/v1/whoami",
                           "/metrics",
                           "/v1/tokens",
                           "/v1/runners/nobody/logs"};
    const char *bad[] = {NULL, "Authorization: Bearer", "Authorization: Basic YWRtaW46eA==",
                         "Authorization: Bearer lt_0000000000000000000000000000000000000000000000"
                         "00",
                         "Authorization: Bearer lt_zz"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++) {
            struct reply r = request_as("GET", paths[i], NULL, bad[j]);
            if (r.status != 401)
                fprintf(stderr, "  %s with %s -> %ld\n", paths[i], bad[j], r.status);
            CHECK_INT(r.status, 401);
            CHECK(has_header(&r, "WWW-Authenticate: Bearer realm=\"logtap\""));
            CHECK(json_string_value(json_object_get(r.json, "error")) != NULL);
            reply_free(&r);
        }
    /* Health and the dashboard need none; "/" leads to the dashboard. */
    struct reply r = request_as("GET", "/healthz", NULL, NULL);
    CHECK_INT(r.status, 200);
    reply_free(&r);
    r = request_as("GET", "/", NULL, NULL);
    CHECK_INT(r.status, 302);
    CHECK(has_header(&r, "Location: /ui/"));
    reply_free(&r);

    r = get("/v1/whoami");
    CHECK_INT(r.status, 200);
    CHECK_STR(json_string_value(json_object_get(r.json, "user")), "admin");
    CHECK(json_is_true(json_object_get(r.json, "admin")));
    reply_free(&r);

    /* Unknown and contradicting parameters are named. */
    check_error("GET", "/v1/runners/r1/logs?tial=5", NULL, 400, "tial");
    check_error("GET", "/v1/logs?level=LOUD", NULL, 400, "level");
    check_error("GET", "/v1/logs?source=elsewhere", NULL, 400, "source");
    check_error("GET", "/v1/logs?app=a/b", NULL, 400, "app");
    check_error("GET", "/v1/logs?before=0", NULL, 400, "before");
    check_error("GET", "/v1/logs?max_lag=-3", NULL, 400, "max_lag");
    check_error("GET", "/v1/runners/r1/logs?runner=r2", NULL, 400, "runner");
    check_error("GET", "/v1/requests/req-done/logs?request=other", NULL, 400, "request");
    check_error("GET", "/v1/requests/req-done/status?follow=1", NULL, 400, "follow");

    /* Filters and the backward cursor. */
    CHECK_LOGS("/v1/runners/r1/logs?runner=r1&level=ERROR", 3, 3);
    CHECK_LOGS("/v1/logs?level=WARN", 3, 3);
    CHECK_LOGS("/v1/logs?source=run&app=demo&version=v1&limit=2", 2, 1, 2);
    CHECK_LOGS("/v1/logs?version=v9", 0, 0);
    CHECK_LOGS("/v1/logs?before=4&tail=2", 3, 2, 3);
    r = get("/v1/logs?before=4&tail=2");
    CHECK_INT(json_integer_value(json_object_get(r.json, "prev_before")), 2);
    reply_free(&r);
    CHECK_LOGS("/v1/logs?request=req-done", 3, 2, 3);
}

/* ---- follow streams ---- */

struct follower {
    char path[256];
    char header[64];
    pthread_t thread;
    pthread_mutex_t lock;
    struct text stream;  /* guarded by lock */
    struct text headers; /* guarded by lock */
    atomic_bool stop;    /* ask the client to hang up */
    atomic_bool done;
    CURLcode result;
};

static size_t on_stream(char *data, size_t size, size_t n, void *ctx)
{
    struct follower *f = ctx;
    pthread_mutex_lock(&f->lock);
    text_append(&f->stream, data, size * n);
    pthread_mutex_unlock(&f->lock);
    return atomic_load(&f->stop) ? 0 : size * n;
}

static size_t on_stream_header(char *data, size_t size, size_t n, void *ctx)
{
    struct follower *f = ctx;
    pthread_mutex_lock(&f->lock);
    text_append(&f->headers, data, size * n);
    pthread_mutex_unlock(&f->lock);
    return size * n;
}

static int on_progress(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    struct follower *f = ctx;
    return atomic_load(&f->stop) ? 1 : 0;
}

static void *follow_thread(void *arg)
{
    struct follower *f = arg;
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, f->path);
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = f->header[0] ? curl_slist_append(NULL, f->header) : NULL;
    headers = curl_slist_append(headers, auth_header);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_stream);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_stream_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, f);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, f);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 20000L); /* a hung test still ends */
    f->result = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    atomic_store(&f->done, true);
    return NULL;
}

static struct follower *follow_start(const char *path, const char *header)
{
    struct follower *f = calloc(1, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    snprintf(f->header, sizeof f->header, "%s", header ? header : "");
    pthread_mutex_init(&f->lock, NULL);
    pthread_create(&f->thread, NULL, follow_thread, f);
    return f;
}

/* Wait up to `timeout_ms` for `needle` in the stream. */
static bool follow_saw(struct follower *f, const char *needle, int timeout_ms)
{
    int64_t deadline = lt_mono_ms() + timeout_ms;
    for (;;) {
        pthread_mutex_lock(&f->lock);
        bool seen = f->stream.data != NULL && strstr(f->stream.data, needle) != NULL;
        pthread_mutex_unlock(&f->lock);
        if (seen)
            return true;
        if (lt_mono_ms() > deadline)
            return false;
        unit_sleep_ms(10);
    }
}

/* Wait up to `timeout_ms` for the end of the response headers. */
static bool follow_headers_arrive(struct follower *f, int timeout_ms)
{
    int64_t deadline = lt_mono_ms() + timeout_ms;
    for (;;) {
        pthread_mutex_lock(&f->lock);
        bool complete = f->headers.data != NULL && strstr(f->headers.data, "\r\n\r\n") != NULL;
        pthread_mutex_unlock(&f->lock);
        if (complete)
            return true;
        if (lt_mono_ms() > deadline)
            return false;
        unit_sleep_ms(10);
    }
}

/* The "id:" lines of the stream so far, 0-terminated. */
static int follow_ids(struct follower *f, int64_t *ids, int max)
{
    int n = 0;
    pthread_mutex_lock(&f->lock);
    for (const char *p = f->stream.data; p != NULL && (p = strstr(p, "id: ")) != NULL; p += 4)
        if ((p == f->stream.data || p[-1] == '\n') && n < max - 1)
            ids[n++] = atoll(p + 4);
    pthread_mutex_unlock(&f->lock);
    ids[n] = 0;
    return n;
}

static void follow_finish(struct follower *f)
{
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    free(f->stream.data);
    free(f->headers.data);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static bool followers_become(uint64_t expected, int timeout_ms)
{
    int64_t deadline = lt_mono_ms() + timeout_ms;
    while (atomic_load(&lt_metrics_global.followers) != expected) {
        if (lt_mono_ms() > deadline)
            return false;
        unit_sleep_ms(10);
    }
    return true;
}

static void test_follow(void)
{
    /* Backlog (newest line), then a line committed after connecting; lines of
     * other runners never show up. */
    struct follower *f = follow_start("/v1/runners/r1/logs?follow=1&tail=1", NULL);
    CHECK(follow_saw(f, "id: 5\nevent: log\ndata: {\"id\":5,", 5000));
    CHECK(followers_become(1, 2000));
    pthread_mutex_lock(&f->lock);
    CHECK(f->headers.data && strcasestr(f->headers.data, "Content-Type: text/event-stream"));
    CHECK(f->headers.data && strcasestr(f->headers.data, "Cache-Control: no-store"));
    pthread_mutex_unlock(&f->lock);

    append("r2", NULL, t0 + 6 * SEC, 1, LT_LEVEL_STDOUT, "someone else", 0);     /* 7 */
    append("r1", "req-live", t0 + 7 * SEC, 1, LT_LEVEL_STDOUT, "fresh line", 0); /* 8 */
    CHECK_INT(lt_store_commit(store), 0);
    CHECK(follow_saw(f, "id: 8\nevent: log\ndata: {\"id\":8,", 5000));
    CHECK(follow_saw(f, "\"message\":\"fresh line\"", 100));
    int64_t ids[16];
    CHECK_INT(follow_ids(f, ids, 16), 2);
    CHECK(ids[0] == 5 && ids[1] == 8);

    /* The data line is one JSON entry; events end with a blank line. */
    pthread_mutex_lock(&f->lock);
    const char *data = strstr(f->stream.data, "id: 8\nevent: log\ndata: ");
    const char *json_start = data ? data + strlen("id: 8\nevent: log\ndata: ") : NULL;
    const char *json_end = json_start ? strstr(json_start, "\n\n") : NULL;
    json_t *entry = json_end ? json_loadb(json_start, (size_t)(json_end - json_start), 0, NULL) : NULL;
    pthread_mutex_unlock(&f->lock);
    CHECK(entry != NULL);
    CHECK_STR(json_string_value(json_object_get(entry, "request_id")), "req-live");
    json_decref(entry);

    /* A client that hangs up stops counting as a follower. */
    follow_finish(f);
    CHECK(followers_become(0, 3000));

    /* Last-Event-ID resumes exactly after it, ignoring tail. */
    f = follow_start("/v1/runners/r1/logs?follow=1&tail=1", "Last-Event-ID: 2");
    CHECK(follow_saw(f, "id: 8\n", 5000));
    int n = follow_ids(f, ids, 16);
    CHECK(n == 4 && ids[0] == 3 && ids[1] == 4 && ids[2] == 5 && ids[3] == 8);
    follow_finish(f);

    /* after= does the same. */
    f = follow_start("/v1/runners/r1/logs?follow=true&after=4", NULL);
    CHECK(follow_saw(f, "id: 8\n", 5000));
    n = follow_ids(f, ids, 16);
    CHECK(n == 2 && ids[0] == 5 && ids[1] == 8);
    follow_finish(f);

    /* Request scope with a search: only matching lines of that request. */
    f = follow_start("/v1/requests/req-live/logs?follow=1&search=hit", NULL);
    CHECK(followers_become(1, 3000));
    append("r1", "req-live", t0 + 8 * SEC, 1, LT_LEVEL_STDOUT, "miss", 0);         /* 9 */
    append("r1", NULL, t0 + 8 * SEC, 1, LT_LEVEL_STDOUT, "hit outside", 0);        /* 10 */
    append("r1", "req-live", t0 + 9 * SEC, 1, LT_LEVEL_STDOUT, "a hit inside", 0); /* 11 */
    CHECK_INT(lt_store_commit(store), 0);
    CHECK(follow_saw(f, "id: 11\n", 5000));
    n = follow_ids(f, ids, 16);
    CHECK(n == 1 && ids[0] == 11);
    follow_finish(f);

    /* tail=0: nothing old, only what is committed once the headers are in. */
    f = follow_start("/v1/runners/r1/logs?follow=1&tail=0", NULL);
    CHECK(follow_headers_arrive(f, 5000));
    append("r1", NULL, t0 + 10 * SEC, 1, LT_LEVEL_STDOUT, "after tail zero", 0); /* 12 */
    CHECK_INT(lt_store_commit(store), 0);
    CHECK(follow_saw(f, "id: 12\n", 5000));
    n = follow_ids(f, ids, 16);
    CHECK(n == 1 && ids[0] == 12);
    follow_finish(f);
    CHECK(followers_become(0, 3000));

    /* A follow whose `until` has passed ends by itself after its lines. */
    char path[256], until[32];
    lt_time_format(t0 + 3 * SEC, until, sizeof until);
    snprintf(path, sizeof path, "/v1/runners/r1/logs?follow=1&until=%s", until);
    f = follow_start(path, NULL);
    int64_t deadline = lt_mono_ms() + 5000;
    while (!atomic_load(&f->done) && lt_mono_ms() < deadline)
        unit_sleep_ms(10);
    CHECK(atomic_load(&f->done));
    CHECK_INT(f->result, CURLE_OK);
    n = follow_ids(f, ids, 16);
    CHECK(n == 3 && ids[0] == 1 && ids[1] == 2 && ids[2] == 3);
    follow_finish(f);
}

/* Pages of the default size, and tail beyond it. */
static void test_large_runner(void)
{
    int64_t first = lt_store_last_id(store) + 1;
    for (int i = 0; i < 1200; i++) {
        char message[32];
        snprintf(message, sizeof message, "bulk %d", i);
        append("bulk", NULL, t0 + 20 * SEC + i, 1, LT_LEVEL_STDOUT, message, 0);
    }
    CHECK_INT(lt_store_commit(store), 0);
    int64_t last = first + 1199;

    struct reply r = get("/v1/runners/bulk/logs"); /* default limit: 1000 oldest */
    json_t *logs = json_object_get(r.json, "logs");
    CHECK_INT(json_array_size(logs), 1000);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(logs, 0), "id")), first);
    CHECK_INT(json_integer_value(json_object_get(r.json, "next_after")), first + 999);
    reply_free(&r);

    char path[128];
    snprintf(path, sizeof path, "/v1/runners/bulk/logs?after=%lld", (long long)(first + 999));
    r = get(path);
    CHECK_INT(json_array_size(json_object_get(r.json, "logs")), 200);
    CHECK_INT(json_integer_value(json_object_get(r.json, "next_after")), last);
    reply_free(&r);

    r = get("/v1/runners/bulk/logs?tail=1100"); /* tail is not cut to the default page */
    logs = json_object_get(r.json, "logs");
    CHECK_INT(json_array_size(logs), 1100);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(logs, 0), "id")), last - 1099);
    CHECK_INT(json_integer_value(json_object_get(r.json, "next_after")), last);
    reply_free(&r);

    r = get("/v1/runners/bulk/logs?tail=1100&limit=10"); /* an explicit limit is */
    logs = json_object_get(r.json, "logs");
    CHECK_INT(json_array_size(logs), 10);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(logs, 0), "id")), last - 9);
    reply_free(&r);
}

/* A server with small limits over the same store (the "bulk" runner of
 * test_large_runner): pages cut by bytes continue exactly, and follow
 * streams stop at the token's cap. */
static void test_limits(void)
{
    lt_http_limits limits = LT_HTTP_LIMITS_DEFAULT;
    limits.page_bytes = 4000; /* about 20 bulk entries */
    limits.streams_per_token = 2;
    char err[256];
    lt_http *small = lt_http_start("127.0.0.1:0", data_dir, store, &limits, err, sizeof err);
    CHECK(small != NULL);
    if (small == NULL)
        return;
    int saved_port = port;
    port = lt_http_port(small);

    /* Forward: every line once, in order, in pages cut by bytes. */
    int64_t after = 0, previous = 0;
    int lines = 0, pages = 0, cut = 0;
    bool ordered = true;
    for (; pages < 1000; pages++) {
        char path[128];
        snprintf(path, sizeof path, "/v1/runners/bulk/logs?limit=1000&after=%lld", (long long)after);
        struct reply r = get(path);
        CHECK_INT(r.status, 200);
        json_t *logs = json_object_get(r.json, "logs");
        size_t i;
        json_t *entry;
        json_array_foreach(logs, i, entry)
        {
            int64_t id = json_integer_value(json_object_get(entry, "id"));
            ordered = ordered && id > previous;
            previous = id;
            lines++;
        }
        bool truncated = json_is_true(json_object_get(r.json, "truncated"));
        cut += truncated;
        CHECK(r.body.len <= 4000 + 512);
        after = json_integer_value(json_object_get(r.json, "next_after"));
        size_t n = json_array_size(logs);
        reply_free(&r);
        if (n == 0)
            break;
    }
    CHECK(ordered);
    CHECK_INT(lines, 1200);
    CHECK(cut >= 10);

    /* Backward: a cut tail page keeps the newest lines. */
    struct reply r = get("/v1/runners/bulk/logs?tail=1100");
    json_t *logs = json_object_get(r.json, "logs");
    CHECK(json_is_true(json_object_get(r.json, "truncated")));
    CHECK(json_array_size(logs) > 0 && json_array_size(logs) < 1100);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(logs, json_array_size(logs) - 1), "id")),
              previous);
    CHECK_INT(json_integer_value(json_object_get(r.json, "prev_before")),
              json_integer_value(json_object_get(json_array_get(logs, 0), "id")));
    reply_free(&r);

    /* A page within the budget says nothing of it. */
    r = get("/v1/runners/bulk/logs?limit=1");
    CHECK(json_object_get(r.json, "truncated") == NULL);
    reply_free(&r);

    /* Two streams per token; the third is 429 with Retry-After. */
    struct follower *a = follow_start("/v1/runners/bulk/logs?follow=1&tail=0", NULL);
    struct follower *b = follow_start("/v1/runners/bulk/logs?follow=1&tail=0", NULL);
    CHECK(follow_headers_arrive(a, 5000) && follow_headers_arrive(b, 5000));
    r = get("/v1/runners/bulk/logs?follow=1&tail=0");
    CHECK_INT(r.status, 429);
    CHECK(has_header(&r, "Retry-After: "));
    CHECK(strstr(r.body.data, "per token") != NULL);
    reply_free(&r);
    follow_finish(a);
    follow_finish(b);

    port = saved_port;
    lt_http_stop(small);
}

/* lt_http_stop ends open follow streams promptly. */
static void test_stop_with_follower(void)
{
    struct follower *f = follow_start("/v1/runners/r1/logs?follow=1&tail=1", NULL);
    CHECK(follow_saw(f, "id: 12\n", 5000));
    int64_t start = lt_mono_ms();
    lt_http_stop(server);
    server = NULL;
    int64_t took = lt_mono_ms() - start;
    if (took >= 2000)
        fprintf(stderr, "  lt_http_stop took %lld ms\n", (long long)took);
    CHECK(took < 2000);
    pthread_join(f->thread, NULL);
    CHECK(atomic_load(&f->done));
    CHECK_INT(atomic_load(&lt_metrics_global.followers), 0);
    free(f->stream.data);
    free(f->headers.data);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static void test_start_failures(void)
{
    char err[256] = "";
    CHECK(lt_http_start("no-port", data_dir, store, NULL, err, sizeof err) == NULL);
    CHECK(strstr(err, "no-port") != NULL);
    CHECK(lt_http_start("127.0.0.1:99999", data_dir, store, NULL, err, sizeof err) == NULL);
    CHECK(lt_http_start("[::1:0", data_dir, store, NULL, err, sizeof err) == NULL);
    /* The port is taken. */
    char taken[64];
    snprintf(taken, sizeof taken, "127.0.0.1:%d", port);
    err[0] = '\0';
    CHECK(lt_http_start(taken, data_dir, store, NULL, err, sizeof err) == NULL);
    CHECK(strstr(err, "in use") != NULL);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char *root = unit_make_temp_dir();
    data_dir = root;
    t0 = lt_time_now_ns() - 3600 * SEC;

    char err[256] = "";
    store = lt_store_open(data_dir, err, sizeof err);
    CHECK(store != NULL);
    if (store == NULL)
        return unit_done("unit-http");
    populate();
    lt_registry *reg = lt_registry_open(data_dir, err, sizeof err);
    CHECK(reg != NULL);
    char token[LT_TOKEN_LEN + 1];
    bool created = false;
    CHECK_INT(lt_registry_bootstrap(reg, token, &created), 0);
    CHECK(created);
    lt_registry_close(reg);
    snprintf(auth_header, sizeof auth_header, "Authorization: Bearer %s", token);

    server = lt_http_start("127.0.0.1:0", data_dir, store, NULL, err, sizeof err);
    if (server == NULL)
        fprintf(stderr, "lt_http_start: %s\n", err);
    CHECK(server != NULL);
    if (server == NULL)
        return unit_done("unit-http");
    port = lt_http_port(server);
    CHECK(port > 0 && port < 65536);

    test_health_and_headers();
    test_runner_logs();
    test_request_logs_and_status();
    test_errors();
    test_auth_and_params();
    test_follow();
    test_large_runner();
    test_limits();
    test_start_failures();
    test_stop_with_follower();

    /* IPv6 loopback, where the machine has it. */
    lt_http *v6 = lt_http_start("[::1]:0", data_dir, store, NULL, err, sizeof err);
    if (v6 != NULL) {
        CHECK(lt_http_port(v6) > 0);
        lt_http_stop(v6);
    }

    lt_store_close(store);
    unit_remove_tree(root);
    free(root);
    curl_global_cleanup();
    return unit_done("unit-http");
}
