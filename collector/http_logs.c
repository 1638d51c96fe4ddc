/* http_logs.c -- the log endpoints of doc/http-api.md: runner logs,
 * request logs, the search across runners, request status, and follow
 * streams (server-sent events) for all three.
 *
 * Owns: the log parameters and their validation, the access decision for
 * each scope (through access.h, so pages, status and streams agree), JSON
 * pages, and the follow loop.
 *
 * Why it looks the way it does:
 * - JSON bodies are assembled entry by entry (each entry dumped by jansson)
 *   into one growing buffer, so a 100000-line page costs its text size, not
 *   a tree of 100000 jansson objects.
 * - A follow stream reads from the store, never from the ingest path: the
 *   store is the buffer, so a slow reader costs only its own connection
 *   thread and at most one chunk of memory (FOLLOW_CHUNK_LINES lines), and
 *   ingestion never waits for it. With max_lag, a reader too far behind is
 *   told so and skips ahead (the dashboard wants now, not everything).
 * - Waits are sliced (FOLLOW_WAIT_SLICE_MS) so lt_http_stop ends every
 *   stream promptly, and between slices the stream checks whether its
 *   client hung up.
 * - A request's status is read before the round's line query, and every
 *   line committed by then is sent before the status event: an END's own
 *   lines are committed with it, so "COMPLETED" never overtakes them.
 */
#include <assert.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "access.h"
#include "entry_json.h"
#include "http_internal.h"
#include "line.h"
#include "logtap_wire.h"
#include "metrics.h"
#include "timefmt.h"
#include "utf8.h"

#define DEFAULT_LIMIT 1000
#define MAX_LIMIT 100000
#define FOLLOW_WAIT_SLICE_MS 200     /* bound on how long lt_http_stop waits per stream */
#define FOLLOW_CHUNK_LINES 1000      /* lines queried per round while following */
#define FOLLOW_BLOCK_SIZE (32 * 1024)
#define KEEPALIVE_NS (INT64_C(15) * 1000000000)
/* Lines reach the store a little after they are written; a follow with
 * `until` stays open this long past it so the last of them still arrive. */
#define UNTIL_GRACE_NS (INT64_C(2) * 1000000000)
#define EVENT_STREAM_TYPE "text/event-stream"

static int64_t monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

/* ---- parameters ---- */

#define LOG_PARAM_NAMES                                                                   \
    "runner", "request", "app", "version", "source", "level", "since", "until", "search", \
        "tail", "limit", "after", "before", "follow", "max_lag"

static const char *const log_param_names[] = {LOG_PARAM_NAMES, NULL};
static const char *const status_param_names[] = {"logs", LOG_PARAM_NAMES, NULL};

/* Everything the log endpoints accept, validated. Strings are borrowed
 * from MHD and live as long as the request. */
struct log_params {
    const char *runner, *request, *app, *version, *source;
    int min_level;      /* -1 = any */
    int64_t since_ns;   /* 0 = unbounded */
    int64_t until_ns;   /* 0 = unbounded */
    const char *search; /* NULL = no filter */
    bool has_tail;
    int64_t tail;
    bool has_limit;
    int64_t limit;
    int64_t after;
    int64_t before;     /* 0 = none */
    bool resumed;       /* after= or Last-Event-ID was given */
    bool follow;
    int64_t max_lag;    /* 0 = never skip */
};

/* An ID-valued filter: present means exactly this ID. */
static bool parse_id_param(struct MHD_Connection *conn, const char *name, const char **out,
                           char *problem, size_t problem_size) {
    bool has_nul;
    const char *value = http_query_param(conn, name, &has_nul);
    if (value == NULL) return true;
    if (has_nul || !lt_wire_id_ok(value, strlen(value))) {
        snprintf(problem, problem_size,
                 "bad %s: expected an ID (1..%d printable ASCII characters, no '/')", name,
                 LT_WIRE_MAX_ID);
        return false;
    }
    *out = value;
    return true;
}

static bool parse_log_params(struct MHD_Connection *conn, const char *const *allowed,
                             int64_t default_limit, struct log_params *p, char *problem,
                             size_t problem_size) {
    memset(p, 0, sizeof *p);
    p->limit = default_limit;
    p->min_level = -1;
    if (!http_params_known(conn, allowed, problem, problem_size)) return false;
    int64_t now_ns = lt_time_now_ns();
    bool has_nul;
    const char *value;

    if (!parse_id_param(conn, "runner", &p->runner, problem, problem_size) ||
        !parse_id_param(conn, "request", &p->request, problem, problem_size) ||
        !parse_id_param(conn, "app", &p->app, problem, problem_size) ||
        !parse_id_param(conn, "version", &p->version, problem, problem_size))
        return false;
    if ((value = http_query_param(conn, "source", &has_nul)) != NULL) {
        if (has_nul || (strcmp(value, "run") != 0 && strcmp(value, "gateway") != 0 &&
                        strcmp(value, "deploy") != 0)) {
            snprintf(problem, problem_size, "bad source: expected run, gateway or deploy");
            return false;
        }
        p->source = value;
    }
    if ((value = http_query_param(conn, "level", &has_nul)) != NULL) {
        if (has_nul || (p->min_level = lt_level_parse(value)) < 0) {
            snprintf(problem, problem_size,
                     "bad level: expected TRACE, DEBUG, INFO, STDOUT, WARN, STDERR or ERROR");
            return false;
        }
    }
    static const char time_forms[] = "expected 30s, 30m, 1h, 2d, 1w, RFC 3339 or YYYY-MM-DD";
    if ((value = http_query_param(conn, "since", &has_nul)) != NULL) {
        if (has_nul || lt_time_parse(value, now_ns, &p->since_ns) != 0) {
            snprintf(problem, problem_size, "bad since: %s", time_forms);
            return false;
        }
    }
    if ((value = http_query_param(conn, "until", &has_nul)) != NULL) {
        if (has_nul || lt_time_parse(value, now_ns, &p->until_ns) != 0) {
            snprintf(problem, problem_size, "bad until: %s", time_forms);
            return false;
        }
        /* 0 means "unbounded" to the store; "until the epoch" means nothing
         * before it, which -1 expresses for every real timestamp. */
        if (p->until_ns == 0) p->until_ns = -1;
    }
    if ((value = http_query_param(conn, "search", &has_nul)) != NULL) {
        if (has_nul) {
            snprintf(problem, problem_size, "bad search: contains a NUL byte");
            return false;
        }
        p->search = value[0] != '\0' ? value : NULL;
    }
    if ((value = http_query_param(conn, "tail", &has_nul)) != NULL) {
        if (has_nul || !http_parse_count(value, &p->tail)) {
            snprintf(problem, problem_size, "bad tail: expected a non-negative integer");
            return false;
        }
        p->has_tail = true;
        if (p->tail > MAX_LIMIT) p->tail = MAX_LIMIT;
    }
    if ((value = http_query_param(conn, "limit", &has_nul)) != NULL) {
        if (has_nul || !http_parse_count(value, &p->limit) || p->limit == 0) {
            snprintf(problem, problem_size, "bad limit: expected an integer from 1 to %d",
                     MAX_LIMIT);
            return false;
        }
        if (p->limit > MAX_LIMIT) p->limit = MAX_LIMIT;
        p->has_limit = true;
    }
    if ((value = http_query_param(conn, "after", &has_nul)) != NULL) {
        if (has_nul || !http_parse_count(value, &p->after)) {
            snprintf(problem, problem_size, "bad after: expected a line id (non-negative integer)");
            return false;
        }
        p->resumed = true;
    }
    if ((value = http_query_param(conn, "before", &has_nul)) != NULL) {
        if (has_nul || !http_parse_count(value, &p->before) || p->before == 0) {
            snprintf(problem, problem_size, "bad before: expected a line id (positive integer)");
            return false;
        }
    }
    /* An EventSource reconnecting repeats its URL and adds this header: it
     * names the last event the client saw, so it overrides after=. */
    value = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
    if (value != NULL) {
        if (!http_parse_count(value, &p->after)) {
            snprintf(problem, problem_size, "bad Last-Event-ID: expected a line id");
            return false;
        }
        p->resumed = true;
    }
    if ((value = http_query_param(conn, "follow", &has_nul)) != NULL) {
        if (has_nul || !http_parse_flag(value, &p->follow)) {
            snprintf(problem, problem_size, "bad follow: expected 1, 0, true or false");
            return false;
        }
    }
    if ((value = http_query_param(conn, "max_lag", &has_nul)) != NULL) {
        if (has_nul || !http_parse_count(value, &p->max_lag)) {
            snprintf(problem, problem_size, "bad max_lag: expected a non-negative integer");
            return false;
        }
    }
    return true;
}

/* The store query for the parameters; strings are borrowed. */
static lt_query query_from_params(const struct log_params *p) {
    lt_query q = LT_QUERY_INIT;
    q.runner_id = p->runner;
    q.request_id = p->request;
    q.app_id = p->app;
    q.version_id = p->version;
    q.source = p->source;
    q.min_level = p->min_level;
    q.search = p->search;
    q.since_ns = p->since_ns;
    q.until_ns = p->until_ns;
    q.after_id = p->after;
    q.before_id = p->before;
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
    int64_t first_id, last_id;
};

static int append_page_entry(const lt_line *line, void *ctx) {
    struct page *page = ctx;
    if (page->count > 0) buffer_append(&page->body, ",", 1);
    buffer_append_json(&page->body,
                       page->status_shape ? lt_entry_json_status(line) : lt_entry_json(line));
    if (page->count == 0) page->first_id = line->id;
    page->count++;
    page->last_id = line->id;
    return page->body.failed ? 1 : 0;
}

/* Appends `"logs":[...]` for `q` (nothing in it when `skip`). Returns 0, or
 * -1 if the store failed. */
static int append_logs_array(lt_store_reader *rd, const lt_query *q, bool skip, struct page *page) {
    buffer_append_string(&page->body, "\"logs\":[");
    page->first_id = q->before_id;
    page->last_id = q->after_id;
    if (!skip && lt_store_query(rd, q, append_page_entry, page) < 0) return -1;
    buffer_append_string(&page->body, "]");
    return 0;
}

static enum MHD_Result serve_log_page(http_call *c, lt_store_reader *rd, const lt_query *q,
                                      bool skip) {
    struct page page = {0};
    buffer_append_string(&page.body, "{");
    if (append_logs_array(rd, q, skip, &page) < 0) {
        buffer_free(&page.body);
        return http_reply_store_error(c);
    }
    buffer_appendf(&page.body, ",\"next_after\":%lld,\"prev_before\":%lld}\n",
                   (long long)page.last_id, (long long)page.first_id);
    return http_reply_buffer(c->conn, MHD_HTTP_OK, JSON_TYPE, &page.body);
}

/* ---- follow streams (server-sent events) ---- */

enum { STATUS_UNSENT = -1, STATUS_IN_PROGRESS = 0, STATUS_COMPLETED = 1 };

struct follow_stream {
    lt_http *http;
    lt_store_reader *reader; /* owned */
    int client_fd;           /* for hang-up checks; -1 if unknown */
    /* Owned copies the query points into. */
    char *runner_id, *request_id, *app_id, *version_id, *source, *search, *owner;
    lt_query query;
    bool no_lines;           /* the caller of a private app's request: status only */
    char *status_of;         /* request whose status events this stream sends, or NULL */
    int status_sent;         /* STATUS_* last sent */
    int64_t cursor;          /* every matching line <= cursor was sent */
    bool backlog_pending;    /* the first round honours tail */
    bool has_tail;
    int64_t tail;
    int64_t max_lag;         /* 0 = never skip ahead */
    int64_t until_ns;        /* 0 = follow forever */
    struct text_buffer out;  /* events produced, not yet given to MHD */
    size_t out_sent;
    int64_t last_write_ns;   /* monotonic, for keepalives */
    int64_t round_last_id;   /* last line ID appended this round */
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

/* The followed request's status now, or -1 on a store error. */
static int read_status(struct follow_stream *fs) {
    lt_request_info info;
    int known = lt_store_request_get(fs->reader, fs->status_of, &info);
    if (known < 0) return -1;
    return known == 1 && info.end_ns != 0 ? STATUS_COMPLETED : STATUS_IN_PROGRESS;
}

/* Query the next lines (and events) into fs->out. Returns 0, or -1 on store
 * failure. */
static int follow_fill(struct follow_stream *fs) {
    int status = STATUS_UNSENT;
    if (fs->status_of != NULL && (status = read_status(fs)) < 0) return -1;
    /* Rows up to `visible` are committed before the query starts, so the
     * query sees all of them: after it, the cursor may safely skip to
     * `visible` even if none of those rows matched. */
    int64_t visible = lt_store_last_id(fs->http->store);
    if (fs->max_lag > 0 && !fs->backlog_pending && visible - fs->cursor > fs->max_lag) {
        buffer_appendf(&fs->out, "event: behind\ndata: {\"skipped_after\":%lld,\"resume_after\":%lld}\n\n",
                       (long long)fs->cursor, (long long)visible);
        LT_COUNT(followers_behind, 1);
        fs->cursor = visible;
    }
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
    if (!fs->no_lines && lt_store_query(fs->reader, &q, append_event, fs) < 0) return -1;
    if (fs->round_count > 0) {
        assert(fs->round_last_id > fs->cursor);
        fs->cursor = fs->round_last_id;
    }
    /* A full forward chunk may have more behind it: keep the cursor exact. A
     * newest-N round deliberately skips older lines, a short round saw all. */
    bool complete = q.newest || fs->round_count < q.limit;
    if (complete && visible > fs->cursor) fs->cursor = visible;
    if (complete && status != STATUS_UNSENT && status != fs->status_sent) {
        buffer_appendf(&fs->out, "event: status\ndata: {\"status\":\"%s\"}\n\n",
                       status == STATUS_COMPLETED ? "COMPLETED" : "IN_PROGRESS");
        fs->status_sent = status;
    }
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
    free(fs->app_id);
    free(fs->version_id);
    free(fs->source);
    free(fs->search);
    free(fs->owner);
    free(fs->status_of);
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
 * FOLLOW_CHUNK_LINES for as long as the client stays. `status_of` names the
 * request whose status events to send (NULL: none). */
static enum MHD_Result serve_follow(http_call *c, lt_store_reader *rd, const lt_query *q,
                                    const struct log_params *p, const char *status_of,
                                    bool no_lines) {
    lt_http *h = c->http;
    struct follow_stream *fs = calloc(1, sizeof *fs);
    if (fs == NULL) {
        lt_store_reader_close(rd);
        return http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    atomic_fetch_add_explicit(&lt_metrics_global.followers, 1, memory_order_relaxed);
    fs->http = h;
    fs->reader = rd;
    bool failed = false;
    fs->query = *q;
    fs->query.runner_id = fs->runner_id = strdup_or_null(q->runner_id, &failed);
    fs->query.request_id = fs->request_id = strdup_or_null(q->request_id, &failed);
    fs->query.app_id = fs->app_id = strdup_or_null(q->app_id, &failed);
    fs->query.version_id = fs->version_id = strdup_or_null(q->version_id, &failed);
    fs->query.source = fs->source = strdup_or_null(q->source, &failed);
    fs->query.search = fs->search = strdup_or_null(q->search, &failed);
    fs->query.owner = fs->owner = strdup_or_null(q->owner, &failed);
    fs->status_of = strdup_or_null(status_of, &failed);
    fs->status_sent = STATUS_UNSENT;
    fs->no_lines = no_lines;
    fs->cursor = p->after;
    fs->backlog_pending = true;
    fs->max_lag = p->max_lag;
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
        MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    fs->client_fd = info != NULL ? info->connect_fd : -1;
    if (failed) {
        follow_free(fs);
        return http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }

    struct MHD_Response *response = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, FOLLOW_BLOCK_SIZE, follow_read, fs, follow_free);
    if (response == NULL) {
        follow_free(fs);
        return MHD_NO;
    }
    http_add_common_headers(response, EVENT_STREAM_TYPE);
    MHD_add_response_header(response, "X-Accel-Buffering", "no"); /* proxies: do not buffer */
    enum MHD_Result result = MHD_queue_response(c->conn, MHD_HTTP_OK, response);
    MHD_destroy_response(response); /* follow_free runs when MHD is done */
    return result;
}

/* ---- access ---- */

/* What `c->who` may see of a runner's or a request's lines. On a store or
 * registry failure queues a 500 and returns false. For a request, `info`
 * is filled. */
static bool decide_access(http_call *c, lt_store_reader *rd, enum http_log_scope scope,
                          const char *id, lt_request_info *info, lt_visibility *vis,
                          enum MHD_Result *queued) {
    char app_id[129] = "";
    int known;
    if (scope == HTTP_SCOPE_RUNNER) {
        known = lt_store_runner_app(rd, id, app_id);
    } else {
        known = lt_store_request_get(rd, id, info);
        if (known == 1) memcpy(app_id, info->app_id, sizeof app_id);
    }
    if (known < 0) {
        *queued = http_reply_store_error(c);
        return false;
    }
    if (known == 0) {
        *vis = LT_SEE_NOTHING;
        return true;
    }
    lt_app_info app;
    if (lt_registry_app_get(c->registry, app_id, &app) < 0) {
        *queued = http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "registry unavailable: %s",
                                   lt_registry_error(c->registry));
        return false;
    }
    *vis = scope == HTTP_SCOPE_RUNNER ? lt_access_runner_logs(&c->who, &app)
                                      : lt_access_request_logs(&c->who, &app, info->caller);
    return true;
}

/* A scope's own ID may be repeated as a filter but not contradicted. */
static bool scope_filter_agrees(const char **filter, const char *id) {
    if (*filter != NULL && strcmp(*filter, id) != 0) return false;
    *filter = id;
    return true;
}

/* ---- endpoints ---- */

enum MHD_Result http_serve_logs(http_call *c, enum http_log_scope scope, const char *id) {
    if (!c->is_head && strcmp(c->method, MHD_HTTP_METHOD_GET) != 0)
        return http_reply_method_not_allowed(c, "GET, HEAD");
    struct log_params p;
    char problem[256];
    if (!parse_log_params(c->conn, log_param_names, DEFAULT_LIMIT, &p, problem, sizeof problem))
        return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST, "%s", problem);
    if ((scope == HTTP_SCOPE_RUNNER && !scope_filter_agrees(&p.runner, id)) ||
        (scope == HTTP_SCOPE_REQUEST && !scope_filter_agrees(&p.request, id)))
        return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST, "bad %s: contradicts the path",
                                scope == HTTP_SCOPE_RUNNER ? "runner" : "request");

    enum MHD_Result queued = MHD_NO;
    lt_store_reader *rd = http_open_reader(c, &queued);
    if (rd == NULL) return queued;

    lt_visibility vis = LT_SEE_ALL;
    lt_request_info info;
    if (scope != HTTP_SCOPE_SEARCH) {
        if (!decide_access(c, rd, scope, id, &info, &vis, &queued)) {
            lt_store_reader_close(rd);
            return queued;
        }
        if (vis == LT_SEE_NOTHING) {
            lt_store_reader_close(rd);
            return http_reply_error(c->conn, MHD_HTTP_NOT_FOUND, "unknown %s %s",
                                    scope == HTTP_SCOPE_RUNNER ? "runner" : "request", id);
        }
    }
    lt_query q = query_from_params(&p);
    /* The search sees the lines of the apps one owns; admin owns all. */
    if (scope == HTTP_SCOPE_SEARCH && !c->who.admin) q.owner = c->who.user;
    bool no_lines = vis == LT_SEE_EMPTY;

    if (p.follow && !c->is_head)
        return serve_follow(c, rd, &q, &p, scope == HTTP_SCOPE_REQUEST ? id : NULL, no_lines);
    if (p.follow) { /* HEAD of a stream: its headers, no stream */
        lt_store_reader_close(rd);
        struct text_buffer empty = {0};
        buffer_append(&empty, "", 0);
        return http_reply_buffer(c->conn, MHD_HTTP_OK, EVENT_STREAM_TYPE, &empty);
    }
    enum MHD_Result result = serve_log_page(c, rd, &q, no_lines || (p.has_tail && p.tail == 0));
    lt_store_reader_close(rd);
    return result;
}

enum MHD_Result http_serve_request_status(http_call *c, const char *request_id) {
    if (!c->is_head && strcmp(c->method, MHD_HTTP_METHOD_GET) != 0)
        return http_reply_method_not_allowed(c, "GET, HEAD");
    bool with_logs = false, has_nul;
    /* Status callers (fal clients) expect every log of the request, so the
     * default page is the largest one. */
    struct log_params p;
    char problem[256];
    if (!parse_log_params(c->conn, status_param_names, MAX_LIMIT, &p, problem, sizeof problem))
        return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST, "%s", problem);
    const char *logs_value = http_query_param(c->conn, "logs", &has_nul);
    if (logs_value != NULL && (has_nul || !http_parse_flag(logs_value, &with_logs)))
        return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST, "bad logs: expected 1, 0, true or false");
    if (p.follow)
        return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST,
                                "bad follow: status does not stream (follow /v1/requests/{id}/logs)");
    if (!scope_filter_agrees(&p.request, request_id))
        return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST, "bad request: contradicts the path");

    enum MHD_Result queued = MHD_NO;
    lt_store_reader *rd = http_open_reader(c, &queued);
    if (rd == NULL) return queued;
    lt_request_info info;
    lt_visibility vis;
    if (!decide_access(c, rd, HTTP_SCOPE_REQUEST, request_id, &info, &vis, &queued)) {
        lt_store_reader_close(rd);
        return queued;
    }
    if (vis == LT_SEE_NOTHING) {
        lt_store_reader_close(rd);
        return http_reply_error(c->conn, MHD_HTTP_NOT_FOUND, "unknown request %s", request_id);
    }

    struct page page = {.status_shape = true};
    buffer_append_string(&page.body, "{\"request_id\":");
    size_t clean_len;
    char *clean_id = lt_utf8_sanitize(request_id, strlen(request_id), &clean_len);
    buffer_append_json(&page.body, clean_id ? json_stringn(clean_id, clean_len) : NULL);
    free(clean_id);
    buffer_appendf(&page.body, ",\"status\":\"%s\"", info.end_ns == 0 ? "IN_PROGRESS" : "COMPLETED");
    if (with_logs) {
        lt_query q = query_from_params(&p);
        buffer_append_string(&page.body, ",");
        /* fal's shape exactly: request_id, status, logs. (Paging a request's
         * logs is /v1/requests/{id}/logs.) A caller of a private app's
         * request gets the empty array fal gives. */
        bool skip = vis == LT_SEE_EMPTY || (p.has_tail && p.tail == 0);
        if (append_logs_array(rd, &q, skip, &page) < 0) {
            lt_store_reader_close(rd);
            buffer_free(&page.body);
            return http_reply_store_error(c);
        }
    }
    lt_store_reader_close(rd);
    buffer_append_string(&page.body, "}\n");
    return http_reply_buffer(c->conn, MHD_HTTP_OK, JSON_TYPE, &page.body);
}
