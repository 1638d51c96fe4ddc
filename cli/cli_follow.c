/* cli_follow.c -- follow mode (-f) of the log commands: one long
 * server-sent-events response, parsed as it arrives in the libcurl write
 * callback (cli_sse.c), reconnected after a drop.
 *
 * Why it looks the way it does:
 * - After a drop it reconnects with Last-Event-ID (and the same cursor as
 *   `after`), and it never prints an entry whose id it has already printed,
 *   so a follower sees neither a gap nor a repeat.
 * - Event types other than `log` are never printed: `status` ends the
 *   follow of a request (below), `behind` is reported on stderr, `end`
 *   (the collector closing the stream because the token was revoked or
 *   access withdrawn) ends the command with its reason and exit 4 instead
 *   of reconnecting, and any type this version does not know is skipped,
 *   so a newer server cannot put foreign data into the output.
 * - A request's stream sends `event: status` {"status": "COMPLETED"} after
 *   every line written before the request's END, and the collector closes
 *   it then; an older collector kept it open for lines of children still
 *   running, so the CLI reads for at most STATUS_GRACE_MS more and then
 *   ends with exit 0: `logtap requests logs ID -f` returns when the
 *   request is over, as a caller polling it would stop.
 * - SIGINT/SIGTERM shut the stream's socket down from the handler, which
 *   wakes libcurl at once; the progress callback catches a signal that came
 *   before the socket existed and the end of the grace period.
 * - The CLI never sends max_lag: it wants every line. If a server tells it
 *   that it fell behind anyway, it says which lines were skipped and where
 *   they can still be read, and goes on after them.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli_logs.h"
#include "cli_sse.h"
#include "clock.h"
#include "timefmt.h"

/* The server sends a keepalive comment every 15 s: three missed ones mean
 * the connection is dead even if TCP has not noticed. */
#define FOLLOW_STALL_S 45L
#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS 5000
#define MAX_ERROR_BODY (64u << 10)
/* How long a request's follow goes on after the request completed. */
#define STATUS_GRACE_MS 1000

/* Written by the SIGINT/SIGTERM handler. */
static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t follow_socket = -1;

static void on_stop_signal(int signo)
{
    (void)signo;
    int saved_errno = errno;
    stop_requested = 1;
    if (follow_socket >= 0)
        shutdown(follow_socket, SHUT_RDWR);
    errno = saved_errno;
}

static void install_stop_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: interrupt the backoff sleep */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static curl_socket_t open_follow_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
    (void)clientp;
    (void)purpose;
    int fd = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
    if (fd < 0)
        return CURL_SOCKET_BAD;
    follow_socket = fd;
    return fd;
}

static int close_follow_socket(void *clientp, curl_socket_t fd)
{
    (void)clientp;
    if (follow_socket == fd)
        follow_socket = -1;
    return close(fd);
}

static void sleep_unless_stopped(int ms)
{
    while (ms > 0 && !stop_requested) {
        int slice = ms < 100 ? ms : 100;
        struct timespec ts = {0, slice * 1000000L};
        nanosleep(&ts, NULL);
        ms -= slice;
    }
}

struct follow_state {
    struct collector *collector;
    const struct logs_query *query;
    struct printer *printer;
    struct sse_parser parser;

    /* Per connection attempt. */
    bool response_checked;
    bool streaming;    /* got 200 text/event-stream */
    lt_buf error_body; /* the body of any other answer */

    /* Across attempts: where to resume. */
    lt_buf last_event_id;
    long long last_entry_id; /* highest id printed (or skipped), -1 before any */
    bool connection_lost;    /* told the user; say so when back */
    bool output_failed;
    bool bad_event;
    bool request_completed; /* a status event said so: finishing */
    int64_t finish_at_ms;   /* monotonic; set with request_completed */
    bool ended_by_server;   /* an end event came: no reconnecting */
};

/* Also ends the grace period after a request completed. */
static int abort_when_stopping(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                               curl_off_t ulnow)
{
    const struct follow_state *f = clientp;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    if (stop_requested)
        return 1;
    return f->request_completed && lt_mono_ms() >= f->finish_at_ms;
}

/* The cursor for the `after` parameter: the newest thing we know we have. */
static long long follow_resume_after(const struct follow_state *f)
{
    long long after = f->last_entry_id;
    if (f->last_event_id.len && is_all_digits(f->last_event_id.data)) {
        long long id = strtoll(f->last_event_id.data, NULL, 10);
        if (id > after)
            after = id;
    }
    return after;
}

/* NULL (after a message) unless `data` is a JSON object. Caller decrefs. */
static json_t *event_object_new(const char *type, const char *data, size_t len)
{
    json_t *object = json_loadb(data, len, JSON_ALLOW_NUL, NULL);
    if (json_is_object(object))
        return object;
    json_decref(object);
    fprintf(stderr,
            "logtap: skipped a '%s' event from the collector that is not a "
            "JSON object\n",
            type);
    return NULL;
}

static int print_followed_entry(struct follow_state *f, const char *data, size_t len)
{
    json_t *entry = event_object_new("log", data, len);
    if (!entry)
        return 0;
    long long id = -1;
    bool has_id = json_integer_field(entry, "id", &id);
    int rc = 0;
    /* After a reconnect the server may resend what we have: never repeat. */
    if (!has_id || id > f->last_entry_id) {
        rc = print_entry(f->printer, entry);
        if (rc == 0 && has_id)
            f->last_entry_id = id;
    }
    json_decref(entry);
    if (rc != 0)
        f->output_failed = true;
    return rc;
}

static void on_status_event(struct follow_state *f, const char *data, size_t len)
{
    json_t *status = event_object_new("status", data, len);
    const char *value = json_string_value(json_object_get(status, "status"));
    if (value && strcmp(value, "COMPLETED") == 0 && !f->request_completed &&
        logs_query_is_one_request(f->query)) {
        f->request_completed = true;
        f->finish_at_ms = lt_mono_ms() + STATUS_GRACE_MS;
    }
    json_decref(status);
}

static void on_behind_event(struct follow_state *f, const char *data, size_t len)
{
    json_t *behind = event_object_new("behind", data, len);
    long long skipped_after = -1, resume_after = -1;
    if (behind && json_integer_field(behind, "skipped_after", &skipped_after) &&
        json_integer_field(behind, "resume_after", &resume_after)) {
        fprintf(stderr,
                "logtap: this follower fell behind and the collector skipped "
                "the lines after id %lld up to id %lld; they are still stored "
                "(the same command without -f shows them)\n",
                skipped_after, resume_after);
        if (resume_after > f->last_entry_id)
            f->last_entry_id = resume_after;
    } else if (behind) {
        fputs("logtap: the collector says this follower fell behind and skipped "
              "lines\n",
              stderr);
    }
    json_decref(behind);
}

/* The collector ends the stream for good (access withdrawn): say why. */
static void on_end_event(struct follow_state *f, const char *data, size_t len)
{
    json_t *end = event_object_new("end", data, len);
    const char *reason = json_string_value(json_object_get(end, "reason"));
    char *shown = terminal_safe_copy(reason ? reason : "no reason given");
    fprintf(stderr, "logtap: the collector at %s ended the stream: %s\n", f->collector->server, shown);
    free(shown);
    json_decref(end);
    f->ended_by_server = true;
}

static int on_follow_event(void *ctx, const char *type, const char *data, size_t data_len, const char *id)
{
    struct follow_state *f = ctx;
    if (data) {
        if (strcmp(type, "log") == 0 || strcmp(type, "message") == 0) {
            if (print_followed_entry(f, data, data_len) != 0)
                return -1;
        } else if (strcmp(type, "status") == 0) {
            on_status_event(f, data, data_len);
        } else if (strcmp(type, "behind") == 0) {
            on_behind_event(f, data, data_len);
        } else if (strcmp(type, "end") == 0) {
            on_end_event(f, data, data_len);
            return -1;
        }
    }
    /* Only now is the event ours: a drop before this point resends it. */
    if (id) {
        lt_buf_clear(&f->last_event_id);
        lt_buf_append_str(&f->last_event_id, id);
    }
    return 0;
}

static bool is_event_stream(CURL *curl)
{
    char *content_type = NULL;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &content_type);
    return content_type && strncasecmp(content_type, "text/event-stream", 17) == 0;
}

static void follow_check_response(struct follow_state *f)
{
    long status = 0;
    curl_easy_getinfo(f->collector->curl, CURLINFO_RESPONSE_CODE, &status);
    f->streaming = status == 200 && is_event_stream(f->collector->curl);
    f->response_checked = true;
    if (f->streaming && f->connection_lost) {
        fputs("logtap: reconnected\n", stderr);
        f->connection_lost = false;
    }
}

static size_t follow_write(char *bytes, size_t size, size_t nmemb, void *userdata)
{
    struct follow_state *f = userdata;
    size_t len = size * nmemb;

    if (!f->response_checked)
        follow_check_response(f);
    if (!f->streaming) {
        if (f->error_body.len + len <= MAX_ERROR_BODY)
            lt_buf_append(&f->error_body, bytes, len);
        return len;
    }
    if (sse_feed(&f->parser, bytes, len) != 0) {
        if (f->parser.too_large)
            f->bad_event = true;
        return 0; /* aborts the transfer */
    }
    return len;
}

/* On a reconnect the query resumes after the last entry printed, instead of
 * asking for the newest N again (which would skip lines if more than N
 * arrived meanwhile). A relative --since is pinned to the time it was first
 * evaluated so the window does not slide. */
static char *follow_url_new(const struct follow_state *f, bool streamed_before, char *since_buf,
                            size_t since_len)
{
    const struct logs_query *q = f->query;
    long long after = follow_resume_after(f);
    struct page_params pp = {
        .since = q->since,
        .tail = -1,
        .limit = -1,
        .after = -1,
        .before = -1,
        .follow = true,
    };
    if (after >= 0) {
        pp.after = after;
        if (q->since)
            pp.since = lt_time_format(q->since_ns, since_buf, since_len);
    } else if (q->lines_mode == LINES_NEWEST && !(streamed_before && q->lines > 0)) {
        /* A stream with tail=N that delivered nothing means nothing matched
         * then, so everything that matches now is new and wanted. With -n 0
         * old lines were never wanted, so tail=0 stays. */
        pp.tail = q->lines;
    }
    return logs_url_new(f->collector, q, &pp);
}

/* Last-Event-ID agrees with the `after` parameter, so a server may honour
 * either. A non-numeric event ID is passed back as the server gave it. */
static struct curl_slist *follow_headers_new(const struct follow_state *f)
{
    struct curl_slist *headers = collector_headers_new(f->collector);
    headers = header_append(headers, "Accept: text/event-stream");
    lt_buf header = {0};
    long long after = follow_resume_after(f);
    if (after >= 0)
        lt_buf_appendf(&header, "Last-Event-ID: %lld", after);
    else if (f->last_event_id.len)
        lt_buf_appendf(&header, "Last-Event-ID: %s", f->last_event_id.data);
    if (header.len)
        headers = header_append(headers, header.data);
    lt_buf_release(&header);
    return headers;
}

static void follow_configure(struct follow_state *f)
{
    CURL *curl = f->collector->curl;
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 0L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    /* A request's follow may first wait (wait=) for the request to appear,
     * sending nothing. */
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME,
                     FOLLOW_STALL_S +
                         (logs_query_is_one_request(f->query) ? (long)logs_query_wait_s(f->query) : 0));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, follow_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_follow_socket);
    curl_easy_setopt(curl, CURLOPT_CLOSESOCKETFUNCTION, close_follow_socket);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, abort_when_stopping);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, f);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
}

/* One connection, from request to the stream's end. */
static CURLcode follow_attempt(struct follow_state *f, bool streamed_before)
{
    char since_buf[40];
    f->response_checked = f->streaming = false;
    lt_buf_clear(&f->error_body);
    sse_reset(&f->parser);
    f->collector->curl_error[0] = '\0';

    char *url = follow_url_new(f, streamed_before, since_buf, sizeof since_buf);
    struct curl_slist *headers = follow_headers_new(f);
    curl_easy_setopt(f->collector->curl, CURLOPT_URL, url);
    curl_easy_setopt(f->collector->curl, CURLOPT_HTTPHEADER, headers);
    CURLcode rc = curl_easy_perform(f->collector->curl);
    curl_easy_setopt(f->collector->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    free(url);
    /* A stream can end before its first body byte reached follow_write. */
    if (!f->response_checked)
        follow_check_response(f);
    return rc;
}

static bool until_has_passed(const struct logs_query *q)
{
    return q->until && lt_time_now_ns() >= q->until_ns;
}

static void announce_lost_connection(struct follow_state *f, CURLcode rc)
{
    if (f->connection_lost)
        return;
    if (rc == CURLE_OK)
        fputs("logtap: the collector closed the stream; reconnecting\n", stderr);
    else
        fprintf(stderr,
                "logtap: lost the connection to the collector at %s: %s; "
                "reconnecting\n",
                f->collector->server, curl_failure_text(f->collector, rc));
    f->connection_lost = true;
}

/* What to do after an attempt that did not stream: -1 retry, else exit. */
static int follow_failure_code(struct follow_state *f, CURLcode rc, bool streamed_before)
{
    const struct target t = logs_query_target(f->query);
    long status = 0;
    if (rc != CURLE_OK) {
        if (!streamed_before)
            return report_unreachable(f->collector, rc);
        announce_lost_connection(f, rc);
        return -1;
    }
    curl_easy_getinfo(f->collector->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 500 && streamed_before)
        return -1; /* collector restarting */
    if (status == 200) {
        fprintf(stderr,
                "logtap: the collector at %s did not answer with an "
                "event stream\n",
                f->collector->server);
        return LT_EXIT_FAILED;
    }
    return report_http_error(f->collector, &t, status, &f->error_body);
}

int follow_logs(struct collector *c, const struct logs_query *q, struct printer *p)
{
    struct follow_state f = {
        .collector = c,
        .query = q,
        .printer = p,
        .last_entry_id = -1,
    };
    f.parser.on_event = on_follow_event;
    f.parser.ctx = &f;
    bool streamed_before = false;
    int backoff_ms = BACKOFF_FIRST_MS;
    int code = LT_EXIT_OK;

    install_stop_handlers();
    follow_configure(&f);
    while (!stop_requested) {
        CURLcode rc = follow_attempt(&f, streamed_before);
        if (stop_requested)
            break;
        if (f.output_failed) {
            code = report_write_failure(p->write_errno);
            break;
        }
        if (f.bad_event) {
            fprintf(stderr, "logtap: the collector sent an event larger than %u MiB\n",
                    SSE_MAX_EVENT_BYTES >> 20);
            code = LT_EXIT_FAILED;
            break;
        }
        if (f.ended_by_server) {
            code = LT_EXIT_DENIED;
            break;
        }
        if (f.request_completed)
            break; /* however the stream ended */
        if (f.streaming) {
            streamed_before = true;
            backoff_ms = BACKOFF_FIRST_MS;
            if (until_has_passed(q))
                break; /* the server ended it on purpose */
            announce_lost_connection(&f, rc);
        } else {
            code = follow_failure_code(&f, rc, streamed_before);
            if (code >= 0)
                break;
            code = LT_EXIT_OK;
        }
        sleep_unless_stopped(backoff_ms);
        backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff_ms * 2;
    }
    sse_release(&f.parser);
    lt_buf_release(&f.error_body);
    lt_buf_release(&f.last_event_id);
    return code;
}
