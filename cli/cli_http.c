/* cli_http.c -- the CLI's requests to the collector (doc/http-api.md).
 *
 * Owns the libcurl handle, the server URL, the Authorization header and
 * the translation of every failure into one clear message and an exit
 * code: 3 when the collector cannot be reached, 4 when it wants a token or
 * refuses the one sent (saying where that token came from and how to give
 * another), 1 for everything else, with the server's own {"error"} text.
 *
 * Why it looks the way it does:
 * - The server URL is normalised once (scheme added to a bare host:port,
 *   trailing '/' removed) so that it can be compared with the URLs in the
 *   credentials file.
 * - Redirects are not followed: a redirect would carry the token to
 *   another address.
 * - Text from the server is shown through terminal_safe_copy: an error
 *   message may quote an ID, and IDs come from runners.
 */
#include "cli_http.h"

#include <ctype.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_TIMEOUT_S 5L
#define REQUEST_TIMEOUT_S 60L

/* Accepts "host:port" too, the form the collector's --http takes. */
static char *server_url_new(const char *flag_value)
{
    const char *raw = flag_value;
    if (!raw)
        raw = getenv("LOGTAP_SERVER");
    if (!raw || !*raw)
        raw = DEFAULT_SERVER;
    lt_buf url = {0};
    if (!strstr(raw, "://"))
        lt_buf_append_str(&url, "http://");
    lt_buf_append_str(&url, raw);
    while (url.len > 0 && url.data[url.len - 1] == '/')
        url.data[--url.len] = '\0';
    return lt_buf_detach(&url);
}

int collector_open(struct collector *c, const struct cli_globals *g)
{
    memset(c, 0, sizeof *c);
    c->server = server_url_new(g->server);
    int code = cli_token_find(g->token, g->credentials, c->server, &c->token);
    if (code != LT_EXIT_OK) {
        collector_close(c);
        return code;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("logtap: cannot initialise libcurl\n", stderr);
        collector_close(c);
        return LT_EXIT_FAILED;
    }
    c->curl = curl_easy_init();
    if (!c->curl) {
        fputs("logtap: cannot initialise libcurl\n", stderr);
        curl_global_cleanup();
        collector_close(c);
        return LT_EXIT_FAILED;
    }
    /* No signals from libcurl: follow mode relies on its own handlers. */
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->curl_error);
    curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "logtap/" LT_VERSION);
    curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
    /* A closed stdout pipe (logtap ... | head) shows up as EPIPE, so the
     * command can stop cleanly. Here rather than in main: `logtap run`
     * opens no collector and must not pass the disposition on. */
    signal(SIGPIPE, SIG_IGN);
    return LT_EXIT_OK;
}

void collector_close(struct collector *c)
{
    if (c->curl) {
        curl_easy_cleanup(c->curl);
        curl_global_cleanup();
    }
    free(c->server);
    cli_token_release(&c->token);
    c->curl = NULL;
    c->server = NULL;
}

struct curl_slist *header_append(struct curl_slist *list, const char *header)
{
    struct curl_slist *longer = curl_slist_append(list, header);
    if (!longer)
        die_out_of_memory();
    return longer;
}

struct curl_slist *collector_headers_new(const struct collector *c)
{
    struct curl_slist *headers = NULL;
    if (c->token.value) {
        lt_buf header = {0};
        lt_buf_appendf(&header, "Authorization: Bearer %s", c->token.value);
        headers = header_append(headers, header.data);
        /* The token should not linger in freed memory longer than needed. */
        memset(header.data, 0, header.len);
        lt_buf_release(&header);
    }
    return headers;
}

/* ------------------------------------------------------------------------ */
/* URLs                                                                     */
/* ------------------------------------------------------------------------ */

static bool is_unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static void append_percent_encoded(lt_buf *url, const char *text)
{
    for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
        if (is_unreserved(*s))
            lt_buf_append_byte(url, (char)*s);
        else
            lt_buf_appendf(url, "%%%02X", *s);
    }
}

void append_resource_url(lt_buf *url, const struct collector *c, const char *collection, const char *id,
                         const char *leaf)
{
    lt_buf_appendf(url, "%s/v1/%s/", c->server, collection);
    append_percent_encoded(url, id);
    if (leaf)
        lt_buf_appendf(url, "/%s", leaf);
}

void append_query_param(lt_buf *url, const char *name, const char *value)
{
    lt_buf_append_byte(url, strchr(url->data, '?') ? '&' : '?');
    lt_buf_appendf(url, "%s=", name);
    append_percent_encoded(url, value);
}

void append_query_number(lt_buf *url, const char *name, long long value)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", value);
    append_query_param(url, name, digits);
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

const char *curl_failure_text(const struct collector *c, CURLcode rc)
{
    return c->curl_error[0] ? c->curl_error : curl_easy_strerror(rc);
}

int report_unreachable(const struct collector *c, CURLcode rc)
{
    fprintf(stderr,
            "logtap: cannot reach the collector at %s: %s (is logtap-collector "
            "running? use --server or LOGTAP_SERVER)\n",
            c->server, curl_failure_text(c, rc));
    return LT_EXIT_UNREACHABLE;
}

int report_unexpected_answer(const struct collector *c, const char *fmt, ...)
{
    char *what = NULL;
    va_list ap;
    va_start(ap, fmt);
    int len = vasprintf(&what, fmt, ap);
    va_end(ap);
    if (len < 0)
        die_out_of_memory();
    fprintf(stderr, "logtap: unexpected answer from the collector at %s: %s\n", c->server, what);
    free(what);
    return LT_EXIT_FAILED;
}

/* The server's {"error": "..."} message, or NULL. Caller frees. */
static char *server_error_message_new(const lt_buf *body)
{
    if (body->len == 0)
        return NULL;
    json_t *root = json_loadb(body->data, body->len, 0, NULL);
    json_t *error = json_object_get(root, "error");
    char *message = json_is_string(error) ? terminal_safe_copy(json_string_value(error)) : NULL;
    json_decref(root);
    return message;
}

static int report_missing_token(const struct collector *c)
{
    fprintf(stderr,
            "logtap: the collector at %s needs an API token: pass --token "
            "TOKEN, set LOGTAP_TOKEN, or add the line '%s TOKEN' to %s (a "
            "collector writes its admin token there when it starts)\n",
            c->server, c->server,
            c->token.credentials_path ? c->token.credentials_path : "$XDG_CONFIG_HOME/logtap/credentials");
    return LT_EXIT_DENIED;
}

static int report_denied(const struct collector *c, long status, const char *message)
{
    if (status == 401 && !c->token.value)
        return report_missing_token(c);
    if (status == 401)
        fprintf(stderr,
                "logtap: the collector at %s refused the token from %s (%s): "
                "it is unknown there or revoked; pass another with --token "
                "TOKEN or LOGTAP_TOKEN\n",
                c->server, c->token.origin, message ? message : "HTTP 401");
    else
        fprintf(stderr,
                "logtap: not allowed: %s (HTTP 403; the token from %s may "
                "not do this)\n",
                message ? message : "forbidden", c->token.origin ? c->token.origin : "-");
    return LT_EXIT_DENIED;
}

int report_http_error(const struct collector *c, const struct target *t, long status, const lt_buf *body)
{
    if (status == 404 && t && t->noun) {
        char *id = terminal_safe_copy(t->id);
        fprintf(stderr, "logtap: unknown %s '%s'\n", t->noun, id);
        free(id);
        return LT_EXIT_FAILED;
    }
    char *message = server_error_message_new(body);
    int code = LT_EXIT_FAILED;
    if (status == 401 || status == 403)
        code = report_denied(c, status, message);
    else if (message)
        fprintf(stderr, "logtap: %s (HTTP %ld)\n", message, status);
    else
        fprintf(stderr, "logtap: the collector at %s answered HTTP %ld\n", c->server, status);
    free(message);
    return code;
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */
/* ------------------------------------------------------------------------ */

static size_t append_body(char *bytes, size_t size, size_t nmemb, void *userdata)
{
    lt_buf_append(userdata, bytes, size * nmemb);
    return size * nmemb;
}

int collector_request(struct collector *c, const char *method, const char *url, json_t *body,
                      const struct target *t, json_t **out)
{
    lt_buf answer = {0};
    char *body_text = NULL;
    long status = 0;

    *out = NULL;
    c->curl_error[0] = '\0';
    struct curl_slist *headers = collector_headers_new(c);
    headers = header_append(headers, "Accept: application/json");
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
    if (body) {
        body_text = json_dumps(body, JSON_COMPACT);
        if (!body_text)
            die_out_of_memory();
        headers = header_append(headers, "Content-Type: application/json");
        headers = header_append(headers, "Expect:");
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body_text);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body_text));
    }
    curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, strcmp(method, "GET") ? method : NULL);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, REQUEST_TIMEOUT_S + c->wait_s);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &answer);
    CURLcode rc = curl_easy_perform(c->curl);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, NULL);
    curl_slist_free_all(headers);
    free(body_text);

    int code = LT_EXIT_OK;
    if (rc != CURLE_OK) {
        code = report_unreachable(c, rc);
    } else {
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status < 200 || status > 299)
            code = report_http_error(c, t, status, &answer);
    }
    if (code == LT_EXIT_OK) {
        json_error_t error;
        *out = json_loadb(answer.data ? answer.data : "", answer.len, JSON_ALLOW_NUL, &error);
        if (!*out) {
            fprintf(stderr, "logtap: the collector at %s sent invalid JSON: %s\n", c->server, error.text);
            code = LT_EXIT_FAILED;
        }
    }
    lt_buf_release(&answer);
    return code;
}
