/* cli_http.h -- the CLI's connection to the collector's HTTP API: one
 * libcurl handle, the server URL, the token, and every request's errors
 * turned into a message and an exit code. */
#ifndef LT_CLI_HTTP_H
#define LT_CLI_HTTP_H

#include <curl/curl.h>
#include <jansson.h>

#include "cli.h"
#include "cli_credentials.h"
#include "cli_text.h"

struct collector {
    char *server;           /* base URL, no trailing slash; owned */
    struct cli_token token; /* owned */
    CURL *curl;
    char curl_error[CURL_ERROR_SIZE];
    long wait_s; /* the collector may hold an answer this long first (wait=) */
};

/* What a request was about, for "unknown runner 'r-1'". A NULL noun means
 * a 404 is reported as the server's own message. */
struct target {
    const char *noun;
    const char *id;
};

/* Resolves the server and the token (cli_credentials.h), sets up libcurl
 * and ignores SIGPIPE (stdout write errors are handled as EPIPE). Returns
 * an exit code; on failure nothing is left to close. */
int collector_open(struct collector *c, const struct cli_globals *g);
void collector_close(struct collector *c);

/* `method` url with `body` as JSON (or no body), the answer parsed into
 * *out (caller decrefs). Anything but a 2xx JSON answer is reported on
 * stderr here; the return value is the exit code. */
int collector_request(struct collector *c, const char *method, const char *url, json_t *body,
                      const struct target *t, json_t **out);

static inline int fetch_json(struct collector *c, const struct target *t, const char *url, json_t **out)
{
    return collector_request(c, "GET", url, NULL, t, out);
}

/* The headers every request carries (Authorization when there is a
 * token). Caller frees with curl_slist_free_all. */
struct curl_slist *collector_headers_new(const struct collector *c);

/* Appends to a list built by collector_headers_new; never NULL. */
struct curl_slist *header_append(struct curl_slist *list, const char *header);

/* URL building; every value is percent-encoded. */
/* server + /v1/<collection>/<id>, then /<leaf> unless leaf is NULL. */
void append_resource_url(lt_buf *url, const struct collector *c, const char *collection, const char *id,
                         const char *leaf);
void append_query_param(lt_buf *url, const char *name, const char *value);
void append_query_number(lt_buf *url, const char *name, long long value);

/* Error reports, each returning its exit code. */
const char *curl_failure_text(const struct collector *c, CURLcode rc);
int report_unreachable(const struct collector *c, CURLcode rc);
/* "unexpected answer from the collector at SERVER: <what>"; returns 1. */
__attribute__((format(printf, 2, 3))) int report_unexpected_answer(const struct collector *c, const char *fmt,
                                                                   ...);
int report_http_error(const struct collector *c, const struct target *t, long status, const lt_buf *body);

#endif
