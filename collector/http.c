/* http.c -- serves doc/http-api.md over libmicrohttpd.
 *
 * Owns: listening, routing, query-parameter validation, JSON responses and
 * follow streams (server-sent events). The store does the querying; this
 * file decides what a URL means and refuses anything it does not recognise
 * with a precise 4xx instead of guessing.
 *
 * Why it looks the way it does:
 * - Thread per connection: a follow stream blocks in lt_store_wait inside
 *   MHD's content callback; the thread is the stream's natural home. Waits
 *   are sliced (FOLLOW_WAIT_SLICE_MS) so lt_http_stop ends every stream
 *   promptly, and between slices the stream checks whether its client hung up.
 * - Path segments are decoded here, from the raw request target MHD hands to
 *   the URI-log callback, not from MHD's already-decoded path: decoding the
 *   whole path first would turn "a%2Fb" into two segments and could make
 *   "/v1/runners/x%2Flogs" mean runner "x". Decoding segment by segment makes
 *   an ID containing '/' impossible (404) and every other %xx exact.
 * - JSON bodies are assembled entry by entry (each entry dumped by jansson)
 *   into one growing buffer, so a 100000-line page costs its text size, not
 *   a tree of 100000 jansson objects.
 * - Every response carries Cache-Control: no-store (logs change and may be
 *   private) and X-Content-Type-Options: nosniff (log text is attacker
 *   controlled; browsers must not sniff it into HTML).
 */
#include "http.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "entry_json.h"
#include "logtap_wire.h"
#include "metrics.h"
#include "timefmt.h"
#include "utf8.h"

#define DEFAULT_LIMIT 1000
#define MAX_LIMIT 100000
#define MAX_PATH_BYTES 1024          /* longer paths cannot name anything we serve */
#define MAX_PATH_SEGMENTS 4
#define FOLLOW_WAIT_SLICE_MS 200     /* bound on how long lt_http_stop waits per stream */
#define FOLLOW_CHUNK_LINES 1000      /* lines queried per round while following */
#define FOLLOW_BLOCK_SIZE (32 * 1024)
#define KEEPALIVE_NS (INT64_C(15) * 1000000000)
/* Lines reach the store a little after they are written; a follow with
 * `until` stays open this long past it so the last of them still arrive. */
#define UNTIL_GRACE_NS (INT64_C(2) * 1000000000)
#define CONNECTION_TIMEOUT_S 60      /* idle connections; a follow is never idle that long */

#define JSON_TYPE "application/json; charset=utf-8"
#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define EVENT_STREAM_TYPE "text/event-stream"

struct lt_http {
    struct MHD_Daemon *daemon;
    lt_store *store;
    char *data_dir; /* owned copy */
    int port;
    atomic_bool stopping;
};

/* Per-request state, created by the URI-log callback (which sees the raw
 * request target) and freed when MHD reports the request complete. */
struct http_request {
    char *raw_target;  /* owned, as received: "/v1/runners/a%2Fb/logs?x=1" */
    bool headers_seen; /* the access handler has been called once */
};

static int64_t monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

/* ---- a growable text buffer for response bodies ---- */

struct text_buffer {
    char *data; /* malloc'd; handed to MHD or freed */
    size_t len;
    size_t cap;
    bool failed; /* an allocation failed: the content is incomplete */
};

static void buffer_append(struct text_buffer *b, const char *data, size_t len) {
    if (b->failed) return;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1) cap *= 2;
        char *grown = realloc(b->data, cap);
        if (grown == NULL) {
            b->failed = true;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

static void buffer_append_string(struct text_buffer *b, const char *s) {
    buffer_append(b, s, strlen(s));
}

static void buffer_appendf(struct text_buffer *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void buffer_appendf(struct text_buffer *b, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    assert(n >= 0 && (size_t)n < sizeof small); /* only used for short fragments */
    buffer_append(b, small, (size_t)n);
}

/* Dumps `value` compactly and appends it; takes the reference. */
static void buffer_append_json(struct text_buffer *b, json_t *value) {
    if (value == NULL) {
        b->failed = true;
        return;
    }
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(value);
    if (text == NULL) {
        b->failed = true;
        return;
    }
    buffer_append_string(b, text);
    free(text);
}

static void buffer_free(struct text_buffer *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* ---- responses ---- */

static void add_common_headers(struct MHD_Response *response, const char *content_type) {
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
}

/* Queue `body` (malloc'd, ownership passes to MHD) with `status`. */
static enum MHD_Result queue_owned_body(struct MHD_Connection *conn, unsigned status,
                                        const char *content_type, char *body, size_t len) {
    struct MHD_Response *response =
        MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (response == NULL) {
        free(body);
        return MHD_NO;
    }
    add_common_headers(response, content_type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result result = MHD_queue_response(conn, status, response);
    MHD_destroy_response(response);
    return result;
}

/* Queue a finished buffer, or a 500 if building it ran out of memory. */
static enum MHD_Result queue_buffer(struct MHD_Connection *conn, unsigned status,
                                    const char *content_type, struct text_buffer *b) {
    if (b->failed || b->data == NULL) {
        buffer_free(b);
        static const char out_of_memory[] = "{\"error\":\"out of memory\"}";
        char *body = strdup(out_of_memory);
        if (body == NULL) return MHD_NO;
        return queue_owned_body(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, JSON_TYPE, body,
                                strlen(body));
    }
    char *data = b->data;
    size_t len = b->len;
    memset(b, 0, sizeof *b); /* ownership moves to MHD */
    return queue_owned_body(conn, status, content_type, data, len);
}

/* {"error": "..."} -- the message may quote client input, so it is
 * sanitised into valid UTF-8 before jansson sees it. */
static enum MHD_Result queue_error(struct MHD_Connection *conn, unsigned status, const char *fmt,
                                   ...) __attribute__((format(printf, 3, 4)));

static enum MHD_Result queue_error(struct MHD_Connection *conn, unsigned status, const char *fmt,
                                   ...) {
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);

    size_t clean_len;
    char *clean = lt_utf8_sanitize(message, strlen(message), &clean_len);
    json_t *body = json_object();
    if (clean != NULL && body != NULL)
        json_object_set_new(body, "error", json_stringn(clean, clean_len));
    free(clean);

    struct text_buffer b = {0};
    buffer_append_json(&b, body);
    return queue_buffer(conn, status, JSON_TYPE, &b);
}

/* ---- request target parsing ---- */

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

enum path_result { PATH_OK, PATH_NOT_FOUND, PATH_BAD_ESCAPE };

/* Split the path of a raw request target into percent-decoded segments.
 * The decoded text lives in `storage`; `segments` point into it. A decoded
 * segment containing '/' or NUL cannot be an ID we store: PATH_NOT_FOUND. */
static enum path_result split_path(const char *target, char *storage, size_t storage_size,
                                   const char *segments[], int *count) {
    size_t path_len = strcspn(target, "?#");
    if (path_len == 0 || target[0] != '/' || path_len >= storage_size) return PATH_NOT_FOUND;

    *count = 0;
    size_t out = 0;
    size_t i = 1; /* past the leading '/' */
    for (;;) {
        if (*count == MAX_PATH_SEGMENTS) return PATH_NOT_FOUND;
        segments[(*count)++] = storage + out;
        while (i < path_len && target[i] != '/') {
            char c = target[i];
            if (c == '%') {
                int hi = i + 2 < path_len ? hex_value(target[i + 1]) : -1;
                int lo = i + 2 < path_len ? hex_value(target[i + 2]) : -1;
                if (hi < 0 || lo < 0) return PATH_BAD_ESCAPE;
                c = (char)(hi * 16 + lo);
                if (c == '/' || c == '\0') return PATH_NOT_FOUND;
                i += 3;
            } else {
                i++;
            }
            storage[out++] = c;
        }
        storage[out++] = '\0';
        if (i >= path_len) break;
        i++; /* the '/' */
    }
    assert(out <= path_len); /* decoding never lengthens; one NUL per '/' */
    return PATH_OK;
}

/* ---- query parameters ---- */

/* The value of query parameter `name`, or NULL if absent. "?name" without
 * '=' reads as "". Sets *has_nul when the decoded value holds a NUL byte
 * (which no parameter accepts). */
static const char *query_param(struct MHD_Connection *conn, const char *name, bool *has_nul) {
    const char *value = NULL;
    size_t value_len = 0;
    *has_nul = false;
    if (MHD_lookup_connection_value_n(conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &value,
                                      &value_len) != MHD_YES)
        return NULL;
    if (value == NULL) return "";
    *has_nul = strlen(value) != value_len;
    return value;
}

/* Strict non-negative decimal integer: digits only, no sign, no spaces, no
 * overflow. */
static bool parse_count(const char *text, int64_t *out) {
    if (text[0] == '\0') return false;
    int64_t value = 0;
    for (const char *p = text; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') return false;
        if (__builtin_mul_overflow(value, 10, &value) ||
            __builtin_add_overflow(value, *p - '0', &value))
            return false;
    }
    *out = value;
    return true;
}

static bool parse_flag(const char *text, bool *out) {
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

/* Everything the log endpoints accept, validated. */
struct log_params {
    int64_t since_ns;   /* 0 = unbounded */
    int64_t until_ns;   /* 0 = unbounded */
    const char *search; /* borrowed from MHD; NULL = no filter */
    bool has_tail;
    int64_t tail;
    bool has_limit;
    int64_t limit;
    int64_t after;
    bool resumed;       /* after= or Last-Event-ID was given */
    bool follow;
};

/* Fills `p` from the request; on a bad parameter writes its message to
 * `problem` and returns false. */
static bool parse_log_params(struct MHD_Connection *conn, int64_t default_limit,
                             struct log_params *p, char *problem, size_t problem_size) {
    memset(p, 0, sizeof *p);
    p->limit = default_limit;
    int64_t now_ns = lt_time_now_ns();
    bool has_nul;
    const char *value;

    static const char time_forms[] = "expected 30s, 30m, 1h, 2d, 1w, RFC 3339 or YYYY-MM-DD";
    if ((value = query_param(conn, "since", &has_nul)) != NULL) {
        if (has_nul || lt_time_parse(value, now_ns, &p->since_ns) != 0) {
            snprintf(problem, problem_size, "bad since: %s", time_forms);
            return false;
        }
    }
    if ((value = query_param(conn, "until", &has_nul)) != NULL) {
        if (has_nul || lt_time_parse(value, now_ns, &p->until_ns) != 0) {
            snprintf(problem, problem_size, "bad until: %s", time_forms);
            return false;
        }
        /* 0 means "unbounded" to the store; "until the epoch" means nothing
         * before it, which -1 expresses for every real timestamp. */
        if (p->until_ns == 0) p->until_ns = -1;
    }
    if ((value = query_param(conn, "search", &has_nul)) != NULL) {
        if (has_nul) {
            snprintf(problem, problem_size, "bad search: contains a NUL byte");
            return false;
        }
        p->search = value[0] != '\0' ? value : NULL;
    }
    if ((value = query_param(conn, "tail", &has_nul)) != NULL) {
        if (has_nul || !parse_count(value, &p->tail)) {
            snprintf(problem, problem_size, "bad tail: expected a non-negative integer");
            return false;
        }
        p->has_tail = true;
        if (p->tail > MAX_LIMIT) p->tail = MAX_LIMIT;
    }
    if ((value = query_param(conn, "limit", &has_nul)) != NULL) {
        if (has_nul || !parse_count(value, &p->limit) || p->limit == 0) {
            snprintf(problem, problem_size, "bad limit: expected an integer from 1 to %d",
                     MAX_LIMIT);
            return false;
        }
        if (p->limit > MAX_LIMIT) p->limit = MAX_LIMIT;
        p->has_limit = true;
    }
    if ((value = query_param(conn, "after", &has_nul)) != NULL) {
        if (has_nul || !parse_count(value, &p->after)) {
            snprintf(problem, problem_size, "bad after: expected a line id (non-negative integer)");
            return false;
        }
        p->resumed = true;
    }
    /* An EventSource reconnecting repeats its URL and adds this header: it
     * names the last event the client saw, so it overrides after=. */
    value = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
    if (value != NULL) {
        if (!parse_count(value, &p->after)) {
            snprintf(problem, problem_size, "bad Last-Event-ID: expected a line id");
            return false;
        }
        p->resumed = true;
    }
    if ((value = query_param(conn, "follow", &has_nul)) != NULL) {
        if (has_nul || !parse_flag(value, &p->follow)) {
            snprintf(problem, problem_size, "bad follow: expected 1, 0, true or false");
            return false;
        }
    }
    return true;
}

/* The store query for a scope and its parameters; strings are borrowed. */
static lt_query query_from_params(const char *runner_id, const char *request_id,
                                  const struct log_params *p) {
    lt_query q = LT_QUERY_INIT;
    q.runner_id = runner_id;
    q.request_id = request_id;
    q.search = p->search;
    q.since_ns = p->since_ns;
    q.until_ns = p->until_ns;
    q.after_id = p->after;
    q.limit = (int)p->limit;
    /* tail=N asks for N lines: the default page size must not shrink it,
     * only an explicit limit can. */
    if (p->has_tail) {
        q.newest = true;
        if (!p->has_limit || p->tail < q.limit) q.limit = (int)p->tail;
    }
    return q;
}

/* ---- one-shot log pages ---- */

struct page {
    struct text_buffer body;
    bool status_shape; /* lt_entry_json_status instead of the full entry */
    long count;
    int64_t last_id;
};

static int append_page_entry(const lt_line *line, void *ctx) {
    struct page *page = ctx;
    if (page->count > 0) buffer_append(&page->body, ",", 1);
    buffer_append_json(&page->body,
                       page->status_shape ? lt_entry_json_status(line) : lt_entry_json(line));
    page->count++;
    page->last_id = line->id;
    return page->body.failed ? 1 : 0;
}

/* Appends `"logs":[...]` for `q` and returns the next_after cursor, or -1 if
 * the store failed. */
static int64_t append_logs_array(lt_store_reader *rd, const lt_query *q, bool skip,
                                 struct page *page) {
    buffer_append_string(&page->body, "\"logs\":[");
    page->last_id = q->after_id;
    if (!skip && lt_store_query(rd, q, append_page_entry, page) < 0) return -1;
    buffer_append_string(&page->body, "]");
    return page->last_id;
}

static enum MHD_Result serve_log_page(struct MHD_Connection *conn, lt_store_reader *rd,
                                      const lt_query *q, bool tail_zero) {
    struct page page = {0};
    buffer_append_string(&page.body, "{");
    int64_t next_after = append_logs_array(rd, q, tail_zero, &page);
    if (next_after < 0) {
        buffer_free(&page.body);
        return queue_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "store query failed");
    }
    buffer_appendf(&page.body, ",\"next_after\":%lld}\n", (long long)next_after);
    return queue_buffer(conn, MHD_HTTP_OK, JSON_TYPE, &page.body);
}

/* ---- follow streams (server-sent events) ---- */

struct follow_stream {
    lt_http *http;
    lt_store_reader *reader;     /* owned */
    int client_fd;               /* for hang-up checks; -1 if unknown */
    char *runner_id;             /* owned copies the query points into */
    char *request_id;
    char *search;
    lt_query query;
    int64_t cursor;              /* every matching line <= cursor was sent */
    bool backlog_pending;        /* the first round honours tail */
    bool has_tail;
    int64_t tail;
    int64_t until_ns;            /* 0 = follow forever */
    struct text_buffer out;      /* events produced, not yet given to MHD */
    size_t out_sent;
    int64_t last_write_ns;       /* monotonic, for keepalives */
    int64_t round_last_id;       /* last line ID appended this round */
    long round_count;
};

static int append_event(const lt_line *line, void *ctx) {
    struct follow_stream *fs = ctx;
    buffer_appendf(&fs->out, "id: %lld\nevent: log\ndata: ", (long long)line->id);
    buffer_append_json(&fs->out, lt_entry_json(line));
    buffer_append(&fs->out, "\n\n", 2);
    fs->round_last_id = line->id;
    fs->round_count++;
    return fs->out.failed ? 1 : 0;
}

/* Query the next lines into fs->out. Returns 0, or -1 on store failure. */
static int follow_fill(struct follow_stream *fs) {
    /* Rows up to `visible` are committed before the query starts, so the
     * query sees all of them: after it, the cursor may safely skip to
     * `visible` even if none of those rows matched. */
    int64_t visible = lt_store_last_id(fs->http->store);
    lt_query q = fs->query;
    q.after_id = fs->cursor;
    q.newest = false;
    q.limit = FOLLOW_CHUNK_LINES;
    if (fs->backlog_pending) {
        fs->backlog_pending = false;
        if (fs->has_tail) {
            assert(fs->tail > 0); /* tail=0 never has a backlog round */
            q.newest = true;
            q.limit = (int)fs->tail;
        }
    }
    fs->round_last_id = 0;
    fs->round_count = 0;
    if (lt_store_query(fs->reader, &q, append_event, fs) < 0) return -1;
    if (fs->round_count > 0) {
        assert(fs->round_last_id > fs->cursor);
        fs->cursor = fs->round_last_id;
    }
    /* A full forward chunk may have more behind it: keep the cursor exact. A
     * newest-N round deliberately skips older lines, a short round saw all. */
    bool complete = q.newest || fs->round_count < q.limit;
    if (complete && visible > fs->cursor) fs->cursor = visible;
    return 0;
}

/* True once the client has closed its end; new data is never expected from
 * it, so readable-with-hang-up is the only signal that matters. */
static bool client_gone(const struct follow_stream *fs) {
    if (fs->client_fd < 0) return false;
    struct pollfd pfd = {.fd = fs->client_fd, .events = POLLRDHUP};
    if (poll(&pfd, 1, 0) <= 0) return false;
    return (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

/* MHD pulls the stream through this; it blocks until there is something to
 * send, the client leaves, `until` passes or the server stops. It never
 * returns 0, which MHD would call again at once (a busy loop). */
static ssize_t follow_read(void *cls, uint64_t pos, char *buf, size_t max) {
    struct follow_stream *fs = cls;
    (void)pos;
    for (;;) {
        if (fs->out_sent < fs->out.len) {
            size_t n = fs->out.len - fs->out_sent;
            if (n > max) n = max;
            memcpy(buf, fs->out.data + fs->out_sent, n);
            fs->out_sent += n;
            if (fs->out_sent == fs->out.len) fs->out.len = fs->out_sent = 0;
            fs->last_write_ns = monotonic_ns();
            return (ssize_t)n;
        }
        if (fs->out.failed) return MHD_CONTENT_READER_END_WITH_ERROR;
        if (atomic_load(&fs->http->stopping)) return MHD_CONTENT_READER_END_OF_STREAM;

        if (follow_fill(fs) != 0) return MHD_CONTENT_READER_END_WITH_ERROR;
        if (fs->out.len > 0) continue;

        /* Caught up: only now may a past `until` end the stream. */
        if (fs->until_ns != 0 && lt_time_now_ns() >= fs->until_ns + UNTIL_GRACE_NS)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (client_gone(fs)) return MHD_CONTENT_READER_END_OF_STREAM;
        if (monotonic_ns() - fs->last_write_ns >= KEEPALIVE_NS) {
            buffer_append_string(&fs->out, ": keepalive\n\n");
            continue;
        }
        lt_store_wait(fs->http->store, fs->cursor, FOLLOW_WAIT_SLICE_MS);
    }
}

static void follow_free(void *cls) {
    struct follow_stream *fs = cls;
    lt_store_reader_close(fs->reader);
    free(fs->runner_id);
    free(fs->request_id);
    free(fs->search);
    buffer_free(&fs->out);
    free(fs);
    atomic_fetch_sub_explicit(&lt_metrics_global.followers, 1, memory_order_relaxed);
}

static char *strdup_or_null(const char *s, bool *failed) {
    if (s == NULL) return NULL;
    char *copy = strdup(s);
    if (copy == NULL) *failed = true;
    return copy;
}

/* Takes ownership of `rd`. A stream has no `limit`: it reads in chunks of
 * FOLLOW_CHUNK_LINES for as long as the client stays. */
static enum MHD_Result serve_follow(lt_http *h, struct MHD_Connection *conn, lt_store_reader *rd,
                                    const lt_query *q, const struct log_params *p) {
    struct follow_stream *fs = calloc(1, sizeof *fs);
    if (fs == NULL) {
        lt_store_reader_close(rd);
        return queue_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    atomic_fetch_add_explicit(&lt_metrics_global.followers, 1, memory_order_relaxed);
    fs->http = h;
    fs->reader = rd;
    bool failed = false;
    fs->runner_id = strdup_or_null(q->runner_id, &failed);
    fs->request_id = strdup_or_null(q->request_id, &failed);
    fs->search = strdup_or_null(q->search, &failed);
    fs->query = *q;
    fs->query.runner_id = fs->runner_id;
    fs->query.request_id = fs->request_id;
    fs->query.search = fs->search;
    fs->cursor = p->after;
    fs->backlog_pending = true;
    /* A resuming client wants exactly the lines after its cursor; a tail
     * would silently skip some of them. */
    fs->has_tail = p->has_tail && !p->resumed;
    fs->tail = p->tail;
    if (fs->has_tail && fs->tail == 0) {
        /* "tail -n 0 -f": only lines committed after this request was
         * answered. Fixing the cursor here, before the response headers go
         * out, means a client that has seen the headers misses nothing. */
        int64_t now_last = lt_store_last_id(h->store);
        if (now_last > fs->cursor) fs->cursor = now_last;
        fs->backlog_pending = false;
    }
    fs->until_ns = p->until_ns; /* 0 = none; -1 ("until the epoch") ends at once */
    fs->last_write_ns = monotonic_ns();
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    fs->client_fd = info != NULL ? info->connect_fd : -1;
    if (failed) {
        follow_free(fs);
        return queue_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }

    struct MHD_Response *response = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, FOLLOW_BLOCK_SIZE, follow_read, fs, follow_free);
    if (response == NULL) {
        follow_free(fs);
        return MHD_NO;
    }
    add_common_headers(response, EVENT_STREAM_TYPE);
    MHD_add_response_header(response, "X-Accel-Buffering", "no"); /* proxies: do not buffer */
    enum MHD_Result result = MHD_queue_response(conn, MHD_HTTP_OK, response);
    MHD_destroy_response(response); /* follow_free runs when MHD is done */
    return result;
}

/* ---- endpoints ---- */

enum scope { SCOPE_RUNNER, SCOPE_REQUEST };

static lt_store_reader *open_reader(lt_http *h, struct MHD_Connection *conn,
                                    enum MHD_Result *queued) {
    char err[256];
    lt_store_reader *rd = lt_store_reader_open(h->data_dir, err, sizeof err);
    if (rd == NULL)
        *queued = queue_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "store unavailable: %s", err);
    return rd;
}

static enum MHD_Result serve_logs(lt_http *h, struct MHD_Connection *conn, bool is_head,
                                  enum scope scope, const char *id) {
    struct log_params p;
    char problem[256];
    if (!parse_log_params(conn, DEFAULT_LIMIT, &p, problem, sizeof problem))
        return queue_error(conn, MHD_HTTP_BAD_REQUEST, "%s", problem);

    enum MHD_Result queued = MHD_NO;
    lt_store_reader *rd = open_reader(h, conn, &queued);
    if (rd == NULL) return queued;

    int known;
    if (scope == SCOPE_RUNNER) {
        known = lt_store_runner_known(rd, id);
    } else {
        lt_request_info info;
        known = lt_store_request_get(rd, id, &info);
    }
    if (known != 1) {
        lt_store_reader_close(rd);
        if (known < 0) return queue_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "store query failed");
        return queue_error(conn, MHD_HTTP_NOT_FOUND, "unknown %s %s",
                           scope == SCOPE_RUNNER ? "runner" : "request", id);
    }

    lt_query q = query_from_params(scope == SCOPE_RUNNER ? id : NULL,
                                   scope == SCOPE_REQUEST ? id : NULL, &p);
    if (p.follow && !is_head) return serve_follow(h, conn, rd, &q, &p);
    if (p.follow) { /* HEAD of a stream: its headers, no stream */
        lt_store_reader_close(rd);
        struct text_buffer empty = {0};
        buffer_append(&empty, "", 0);
        return queue_buffer(conn, MHD_HTTP_OK, EVENT_STREAM_TYPE, &empty);
    }
    enum MHD_Result result = serve_log_page(conn, rd, &q, p.has_tail && p.tail == 0);
    lt_store_reader_close(rd);
    return result;
}

static enum MHD_Result serve_request_status(lt_http *h, struct MHD_Connection *conn,
                                            const char *request_id) {
    bool with_logs = false, has_nul;
    const char *logs_value = query_param(conn, "logs", &has_nul);
    if (logs_value != NULL && (has_nul || !parse_flag(logs_value, &with_logs)))
        return queue_error(conn, MHD_HTTP_BAD_REQUEST, "bad logs: expected 1, 0, true or false");
    /* Status callers (fal clients) expect every log of the request, so the
     * default page is the largest one. */
    struct log_params p;
    char problem[256];
    if (!parse_log_params(conn, MAX_LIMIT, &p, problem, sizeof problem))
        return queue_error(conn, MHD_HTTP_BAD_REQUEST, "%s", problem);

    enum MHD_Result queued = MHD_NO;
    lt_store_reader *rd = open_reader(h, conn, &queued);
    if (rd == NULL) return queued;

    lt_request_info info;
    int known = lt_store_request_get(rd, request_id, &info);
    if (known != 1) {
        lt_store_reader_close(rd);
        if (known < 0) return queue_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "store query failed");
        return queue_error(conn, MHD_HTTP_NOT_FOUND, "unknown request %s", request_id);
    }

    struct page page = {.status_shape = true};
    buffer_append_string(&page.body, "{\"request_id\":");
    size_t clean_len;
    char *clean_id = lt_utf8_sanitize(request_id, strlen(request_id), &clean_len);
    buffer_append_json(&page.body, clean_id ? json_stringn(clean_id, clean_len) : NULL);
    free(clean_id);
    buffer_appendf(&page.body, ",\"status\":\"%s\"", info.end_ns == 0 ? "IN_PROGRESS" : "COMPLETED");
    if (with_logs) {
        lt_query q = query_from_params(NULL, request_id, &p);
        buffer_append_string(&page.body, ",");
        /* fal's shape exactly: request_id, status, logs. (Paging a request's
         * logs is /v1/requests/{id}/logs.) */
        if (append_logs_array(rd, &q, p.has_tail && p.tail == 0, &page) < 0) {
            lt_store_reader_close(rd);
            buffer_free(&page.body);
            return queue_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "store query failed");
        }
    }
    lt_store_reader_close(rd);
    buffer_append_string(&page.body, "}\n");
    return queue_buffer(conn, MHD_HTTP_OK, JSON_TYPE, &page.body);
}

static enum MHD_Result serve_metrics(struct MHD_Connection *conn) {
    char *text;
    size_t len;
    lt_metrics_render(&text, &len);
    if (text == NULL) return queue_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    return queue_owned_body(conn, MHD_HTTP_OK, METRICS_TYPE, text, len);
}

static enum MHD_Result serve_health(struct MHD_Connection *conn) {
    struct text_buffer b = {0};
    buffer_append_string(&b, "{\"ok\":true}\n");
    return queue_buffer(conn, MHD_HTTP_OK, JSON_TYPE, &b);
}

/* An ID no runner could have registered cannot be known: answer 404
 * without touching the store. */
static bool plausible_id(const char *id) {
    size_t len = strlen(id);
    return len > 0 && len <= LT_WIRE_MAX_ID;
}

static enum MHD_Result route(lt_http *h, struct MHD_Connection *conn, const char *target,
                             bool is_head) {
    char storage[MAX_PATH_BYTES];
    const char *seg[MAX_PATH_SEGMENTS];
    int n = 0;
    switch (split_path(target, storage, sizeof storage, seg, &n)) {
    case PATH_OK: break;
    case PATH_BAD_ESCAPE:
        return queue_error(conn, MHD_HTTP_BAD_REQUEST, "bad path: invalid percent-escape");
    case PATH_NOT_FOUND:
        return queue_error(conn, MHD_HTTP_NOT_FOUND, "not found");
    }

    if (n == 1 && strcmp(seg[0], "healthz") == 0) return serve_health(conn);
    if (n == 1 && strcmp(seg[0], "metrics") == 0) return serve_metrics(conn);
    if (n == 4 && strcmp(seg[0], "v1") == 0) {
        const char *id = seg[2];
        if (!plausible_id(id)) return queue_error(conn, MHD_HTTP_NOT_FOUND, "not found");
        if (strcmp(seg[1], "runners") == 0 && strcmp(seg[3], "logs") == 0)
            return serve_logs(h, conn, is_head, SCOPE_RUNNER, id);
        if (strcmp(seg[1], "requests") == 0 && strcmp(seg[3], "logs") == 0)
            return serve_logs(h, conn, is_head, SCOPE_REQUEST, id);
        if (strcmp(seg[1], "requests") == 0 && strcmp(seg[3], "status") == 0)
            return serve_request_status(h, conn, id);
    }
    return queue_error(conn, MHD_HTTP_NOT_FOUND, "not found");
}

/* ---- MHD callbacks ---- */

static void *remember_target(void *cls, const char *uri, struct MHD_Connection *conn) {
    (void)cls;
    (void)conn;
    struct http_request *req = calloc(1, sizeof *req);
    if (req == NULL) return NULL;
    req->raw_target = strdup(uri != NULL ? uri : "");
    if (req->raw_target == NULL) {
        free(req);
        return NULL;
    }
    return req;
}

static void forget_request(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode why) {
    (void)cls;
    (void)conn;
    (void)why;
    struct http_request *req = *con_cls;
    if (req == NULL) return;
    free(req->raw_target);
    free(req);
    *con_cls = NULL;
}

/* MHD calls this at least twice per request: once when the headers are in,
 * then with any body, then once more with no body left. Answering before
 * the request is fully read makes MHD close the connection afterwards, so
 * GET/HEAD are answered on the final call (keep-alive works); other methods
 * are refused at once (their bodies are not worth reading). */
static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls) {
    lt_http *h = cls;
    (void)url; /* already decoded by MHD; we decode the raw target ourselves */
    (void)version;
    (void)upload_data;
    struct http_request *req = *con_cls;
    if (req == NULL) {
        LT_COUNT(http_requests, 1);
        return queue_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }

    bool is_head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (!req->headers_seen) {
        req->headers_seen = true;
        LT_COUNT(http_requests, 1);
        if (!is_head && strcmp(method, MHD_HTTP_METHOD_GET) != 0)
            return queue_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method %s not allowed", method);
        return MHD_YES;
    }
    if (*upload_data_size != 0) { /* a body on GET means nothing: drop it */
        *upload_data_size = 0;
        return MHD_YES;
    }
    return route(h, conn, req->raw_target, is_head);
}

/* ---- start / stop ---- */

/* "host:port" or "[v6]:port" into its parts. */
static int split_host_port(const char *host_port, char *host, size_t host_size, char *port,
                           size_t port_size) {
    const char *host_start = host_port, *host_end, *port_start;
    if (host_port[0] == '[') {
        host_start = host_port + 1;
        host_end = strchr(host_start, ']');
        if (host_end == NULL || host_end[1] != ':') return -1;
        port_start = host_end + 2;
    } else {
        host_end = strrchr(host_port, ':');
        if (host_end == NULL) return -1;
        port_start = host_end + 1;
    }
    size_t host_len = (size_t)(host_end - host_start);
    int64_t port_number;
    if (host_len == 0 || host_len >= host_size || !parse_count(port_start, &port_number) ||
        port_number > 65535 || strlen(port_start) >= port_size)
        return -1;
    memcpy(host, host_start, host_len);
    host[host_len] = '\0';
    strcpy(port, port_start);
    return 0;
}

/* Bind and listen ourselves rather than through MHD, so a failure can say
 * why (address in use, not permitted, no such host). */
static int open_listener(const char *host_port, int *family, char *err, size_t errlen) {
    char host[256], port[8];
    if (split_host_port(host_port, host, sizeof host, port, sizeof port) != 0) {
        snprintf(err, errlen, "bad listen address \"%s\": expected HOST:PORT or [V6ADDR]:PORT",
                 host_port);
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
        if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
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

lt_http *lt_http_start(const char *host_port, const char *data_dir, lt_store *st, char *err,
                       size_t errlen) {
    assert(host_port != NULL && data_dir != NULL && st != NULL);
    lt_http *h = calloc(1, sizeof *h);
    if (h == NULL || (h->data_dir = strdup(data_dir)) == NULL) {
        snprintf(err, errlen, "out of memory");
        free(h);
        return NULL;
    }
    h->store = st;
    atomic_init(&h->stopping, false);

    int family = AF_INET;
    int fd = open_listener(host_port, &family, err, errlen);
    if (fd < 0) {
        free(h->data_dir);
        free(h);
        return NULL;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (family == AF_INET6) flags |= MHD_USE_IPv6;
    h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle_request, h,
                                 MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                                 MHD_OPTION_URI_LOG_CALLBACK, remember_target, (void *)h,
                                 MHD_OPTION_NOTIFY_COMPLETED, forget_request, (void *)h,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,
                                 MHD_OPTION_END);
    if (h->daemon == NULL) {
        snprintf(err, errlen, "cannot start the HTTP server on %s", host_port);
        close(fd);
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

int lt_http_port(const lt_http *h) { return h->port; }

void lt_http_stop(lt_http *h) {
    if (h == NULL) return;
    atomic_store(&h->stopping, true);
    /* Closes the listener and joins every connection thread; follow streams
     * notice `stopping` within one wait slice. */
    MHD_stop_daemon(h->daemon);
    free(h->data_dir);
    free(h);
}
