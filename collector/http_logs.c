/* http_logs.c -- the log endpoints of doc/http-api.md: runner logs,
 * request logs, the search across runners, request status, follow
 * streams (server-sent events) for all three, and a request's status
 * stream (fal's status documents as events).
 *
 * Owns: the log parameters and their validation, the access decision for
 * each scope (through access.h, so pages, status and streams agree), JSON
 * pages, and the follow loop.
 *
 * Why it looks the way it does:
 * - Pages are streamed, not built: MHD pulls the body through page_read,
 *   which asks the store for the next chunk of lines (PAGE_CHUNK_LINES,
 *   going forward from the last one sent) only when the previous one has
 *   gone out, and stops a chunk at PAGE_OUT_HIGH bytes. A page of 100000
 *   lines of 8 KiB costs a quarter MiB, not its size. Each entry is dumped
 *   by jansson on its own, never as a tree of the whole page.
 * - A page has a byte budget besides its line count (--http-page-bytes):
 *   the first line that would pass it ends the page, which says
 *   "truncated" and whose next_after continues exactly there. A newest-N
 *   (tail) page is first measured (IDs and message sizes only) so that
 *   the newest lines are the ones kept; it is then sent forward like any
 *   other, pinned between its first and last ID.
 * - A follow stream reads from the store, never from the ingest path: the
 *   store is the buffer, so a slow reader costs only its own connection
 *   thread and at most one chunk of memory (FOLLOW_CHUNK_LINES lines, at
 *   most FOLLOW_OUT_HIGH bytes), and ingestion never waits for it. Streams
 *   are counted per token and per user (http_guard.c); past either cap a
 *   new one is 429, before anything is sent on it. With max_lag, a reader too far behind is
 *   told so and skips ahead (the dashboard wants now, not everything).
 * - Waits are sliced (FOLLOW_WAIT_SLICE_MS) so lt_http_stop ends every
 *   stream promptly, and between slices the stream checks whether its
 *   client hung up.
 * - A request's status is read before the round's line query, and every
 *   line committed by then is sent before the status event: an END's own
 *   lines are committed with it, so "COMPLETED" never overtakes them. A
 *   request's streams close once COMPLETED has gone out.
 * - A request not known yet is waited for (wait=) in the handler, before
 *   any answer: the server has a thread per connection already, and the
 *   status code is what the wait decides. The wait takes a stream slot
 *   and treats a request the principal may not see exactly as a missing
 *   one, so that the 404 after it tells nothing by its timing.
 */
#include <assert.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "access.h"
#include "clock.h"
#include "entry_json.h"
#include "http_internal.h"
#include "line.h"
#include "logtap_wire.h"
#include "metrics.h"
#include "timefmt.h"
#include "utf8.h"

#define DEFAULT_LIMIT 1000
#define MAX_LIMIT 100000
#define FOLLOW_WAIT_SLICE_MS 200    /* bound on how long lt_http_stop waits per stream */
#define FOLLOW_CHUNK_LINES 1000     /* lines queried per round while following */
#define PULL_BLOCK_SIZE (32 * 1024) /* what MHD asks a page or a stream for at a time */
/* A follow round stops adding events at this many bytes (the rest comes in
 * the next round), and a page fills this much at a time: what one response
 * holds, whatever the lines' sizes (plus one entry, at most ~1.5 MB). */
#define FOLLOW_OUT_HIGH (256 * 1024)
#define PAGE_OUT_HIGH (256 * 1024)
#define PAGE_CHUNK_LINES 1000 /* lines asked of the store per page chunk */
/* A tail page's budget is measured on message bytes plus this much per
 * entry (its other fields), before the entries are made. */
#define TAIL_ENTRY_OVERHEAD 256
#define KEEPALIVE_NS (INT64_C(15) * 1000000000)
/* Lines reach the store a little after they are written; a follow with
 * `until` stays open this long past it so the last of them still arrive. */
#define UNTIL_GRACE_NS (INT64_C(2) * 1000000000)
/* A stream asks again whether its token and access still hold this often:
 * a revoked token or an app turned private stops a stream within it. */
#define ACCESS_RECHECK_NS (INT64_C(2) * 1000000000)
/* A round of output that took the client longer than this to take makes
 * it a slow reader, whom max_lag may skip ahead. */
#define SLOW_CLIENT_NS (INT64_C(1) * 1000000000)
/* How long status, a request's follow and its status stream wait for a
 * request the collector does not know yet (wait=, in seconds). */
#define DEFAULT_WAIT_S 60
#define MAX_WAIT_S 3600
/* MHD's idle timeout of every connection (http.c); a waiting one gets its
 * wait on top. */
#define CONNECTION_IDLE_S 60
#define EVENT_STREAM_TYPE "text/event-stream"
#define STREAM_RETRY_AFTER "10" /* seconds, with 429 at a stream cap */

/* ---- parameters ---- */

#define LOG_PARAM_NAMES                                                                                      \
    "runner", "request", "app", "version", "source", "level", "since", "until", "search", "ignore_case",     \
        "exclude", "tail", "limit", "after", "before", "follow", "max_lag", "wait"

static const char *const log_param_names[] = {LOG_PARAM_NAMES, NULL};
static const char *const status_param_names[] = {"logs", LOG_PARAM_NAMES, NULL};
/* follow= is accepted (a stream always follows), so that one client serves both. */
static const char *const status_stream_param_names[] = {"logs", "wait", "after", "follow", NULL};

/* Everything the log endpoints accept, validated. Strings are borrowed
 * from MHD and live as long as the request. */
struct log_params {
    /* An ID filter given once is the single field; given several times,
     * the set ("any of") and the field is NULL. */
    const char *runner, *request, *app, *version, *source;
    lt_any_of runners, requests, apps, versions;
    bool ignore_case;
    const char *exclude; /* NULL = none */
    int min_level;       /* -1 = any */
    int64_t since_ns;    /* 0 = unbounded */
    int64_t until_ns;    /* 0 = unbounded */
    const char *search;  /* NULL = no filter */
    bool has_tail;
    int64_t tail;
    bool has_limit;
    int64_t limit;
    int64_t after;
    int64_t before; /* 0 = none */
    bool resumed;   /* after= or Last-Event-ID was given */
    bool follow;
    int64_t max_lag; /* 0 = never skip */
    int64_t wait_s;  /* how long a request not known yet is waited for */
};

/* An ID-valued filter: present once means exactly this ID (*out);
 * repeated, any of its values (*set). */
static bool parse_id_param(struct MHD_Connection *conn, const char *name, const char **out, lt_any_of *set,
                           char *problem, size_t problem_size)
{
    bool has_nul;
    int count = http_query_params(conn, name, set->values, LT_ANY_OF_MAX, &has_nul);
    if (count < 0) {
        snprintf(problem, problem_size, "bad %s: at most %d values", name, LT_ANY_OF_MAX);
        return false;
    }
    for (int i = 0; i < count; i++) {
        if (has_nul || !lt_wire_id_ok(set->values[i], strlen(set->values[i]))) {
            snprintf(problem, problem_size,
                     "bad %s: expected an ID (1..%d printable ASCII characters, no '/')", name,
                     LT_WIRE_MAX_ID);
            return false;
        }
    }
    if (count == 1)
        *out = set->values[0];
    set->count = count > 1 ? count : 0;
    return true;
}

static bool parse_log_params(struct MHD_Connection *conn, const char *const *allowed, int64_t default_limit,
                             struct log_params *p, char *problem, size_t problem_size)
{
    memset(p, 0, sizeof *p);
    p->limit = default_limit;
    p->min_level = -1;
    p->wait_s = DEFAULT_WAIT_S;
    if (!http_params_known(conn, allowed, problem, problem_size))
        return false;
    int64_t now_ns = lt_time_now_ns();
    bool has_nul;
    const char *value;

    if (!parse_id_param(conn, "runner", &p->runner, &p->runners, problem, problem_size) ||
        !parse_id_param(conn, "request", &p->request, &p->requests, problem, problem_size) ||
        !parse_id_param(conn, "app", &p->app, &p->apps, problem, problem_size) ||
        !parse_id_param(conn, "version", &p->version, &p->versions, problem, problem_size))
        return false;
    if ((value = http_query_param(conn, "source", &has_nul)) != NULL) {
        if (has_nul || !lt_source_name_ok(value)) {
            snprintf(problem, problem_size, "bad source: expected run, gateway or deploy");
            return false;
        }
        p->source = value;
    }
    if ((value = http_query_param(conn, "level", &has_nul)) != NULL) {
        if (has_nul || (p->min_level = lt_level_parse(value)) < 0) {
            snprintf(problem, problem_size,
                     "bad level: expected TRACE, DEBUG, INFO, STDOUT, WARN, STDERR or ERROR (or WARNING, "
                     "CRITICAL, FATAL, NOTSET)");
            return false;
        }
        /* INFO and STDOUT rank the same (doc/http-api.md): "at least
         * STDOUT" takes INFO lines too. */
        if (p->min_level == LT_LEVEL_STDOUT)
            p->min_level = LT_LEVEL_INFO;
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
        if (p->until_ns == 0)
            p->until_ns = -1;
    }
    if ((value = http_query_param(conn, "search", &has_nul)) != NULL) {
        if (has_nul) {
            snprintf(problem, problem_size, "bad search: contains a NUL byte");
            return false;
        }
        p->search = value[0] != '\0' ? value : NULL;
    }
    if ((value = http_query_param(conn, "exclude", &has_nul)) != NULL) {
        if (has_nul) {
            snprintf(problem, problem_size, "bad exclude: contains a NUL byte");
            return false;
        }
        p->exclude = value[0] != '\0' ? value : NULL;
    }
    if ((value = http_query_param(conn, "ignore_case", &has_nul)) != NULL &&
        (has_nul || !http_parse_flag(value, &p->ignore_case))) {
        snprintf(problem, problem_size, "bad ignore_case: expected 1, 0, true or false");
        return false;
    }
    if ((value = http_query_param(conn, "tail", &has_nul)) != NULL) {
        if (has_nul || !http_parse_count(value, &p->tail)) {
            snprintf(problem, problem_size, "bad tail: expected a non-negative integer");
            return false;
        }
        p->has_tail = true;
        if (p->tail > MAX_LIMIT)
            p->tail = MAX_LIMIT;
    }
    if ((value = http_query_param(conn, "limit", &has_nul)) != NULL) {
        if (has_nul || !http_parse_count(value, &p->limit) || p->limit == 0) {
            snprintf(problem, problem_size, "bad limit: expected an integer from 1 to %d", MAX_LIMIT);
            return false;
        }
        if (p->limit > MAX_LIMIT)
            p->limit = MAX_LIMIT;
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
    if ((value = http_query_param(conn, "wait", &has_nul)) != NULL) {
        if (has_nul || !http_parse_count(value, &p->wait_s) || p->wait_s > MAX_WAIT_S) {
            snprintf(problem, problem_size, "bad wait: expected seconds from 0 to %d", MAX_WAIT_S);
            return false;
        }
    }
    return true;
}

static bool any_of_holds(const lt_any_of *set, const char *id)
{
    for (int i = 0; i < set->count; i++)
        if (strcmp(set->values[i], id) == 0)
            return true;
    return false;
}

/* The store query for the parameters; strings are borrowed. */
static lt_query query_from_params(const struct log_params *p)
{
    lt_query q = LT_QUERY_INIT;
    q.runner_id = p->runner;
    q.request_id = p->request;
    q.app_id = p->app;
    q.version_id = p->version;
    q.source = p->source;
    q.min_level = p->min_level;
    q.search = p->search;
    q.exclude = p->exclude;
    q.ignore_case = p->ignore_case && (p->search != NULL || p->exclude != NULL);
    q.runners = p->runners;
    q.requests = p->requests;
    q.apps = p->apps;
    q.versions = p->versions;
    q.since_ns = p->since_ns;
    q.until_ns = p->until_ns;
    q.after_id = p->after;
    q.before_id = p->before;
    q.limit = (int)p->limit;
    /* tail=N asks for N lines: the default page size must not shrink it,
     * only an explicit limit can. */
    if (p->has_tail) {
        q.newest = true;
        if (!p->has_limit || p->tail < q.limit)
            q.limit = (int)p->tail;
    }
    return q;
}

/* ---- owned copies of a query's strings ---- */

/* A query whose strings are owned: a page or a stream outlives the handler
 * whose stack and parameters the original points into. */
struct owned_query {
    lt_query q;
    char *runner_id, *request_id, *app_id, *version_id, *source, *search, *owner, *exclude;
    char *set_values[4][LT_ANY_OF_MAX]; /* the sets' values */
};

static char *strdup_or_null(const char *s, bool *failed)
{
    if (s == NULL)
        return NULL;
    char *copy = strdup(s);
    if (copy == NULL)
        *failed = true;
    return copy;
}

/* Returns false if a copy failed (free it with owned_query_free anyway). */
static bool owned_query_init(struct owned_query *oq, const lt_query *q)
{
    bool failed = false;
    oq->q = *q;
    oq->q.runner_id = oq->runner_id = strdup_or_null(q->runner_id, &failed);
    oq->q.request_id = oq->request_id = strdup_or_null(q->request_id, &failed);
    oq->q.app_id = oq->app_id = strdup_or_null(q->app_id, &failed);
    oq->q.version_id = oq->version_id = strdup_or_null(q->version_id, &failed);
    oq->q.source = oq->source = strdup_or_null(q->source, &failed);
    oq->q.search = oq->search = strdup_or_null(q->search, &failed);
    oq->q.owner = oq->owner = strdup_or_null(q->owner, &failed);
    oq->q.exclude = oq->exclude = strdup_or_null(q->exclude, &failed);
    lt_any_of *sets[4] = {&oq->q.runners, &oq->q.requests, &oq->q.apps, &oq->q.versions};
    for (int i = 0; i < 4; i++)
        for (int v = 0; v < sets[i]->count; v++)
            sets[i]->values[v] = oq->set_values[i][v] = strdup_or_null(sets[i]->values[v], &failed);
    return !failed;
}

static void owned_query_free(struct owned_query *oq)
{
    free(oq->runner_id);
    free(oq->request_id);
    free(oq->app_id);
    free(oq->version_id);
    free(oq->source);
    free(oq->search);
    free(oq->owner);
    free(oq->exclude);
    for (int i = 0; i < 4; i++)
        for (int v = 0; v < LT_ANY_OF_MAX; v++)
            free(oq->set_values[i][v]);
}

/* ---- responses MHD pulls ---- */

/* Queue a 200 whose body MHD pulls through `read` from `cls`, in blocks of
 * PULL_BLOCK_SIZE; `done` frees `cls` when MHD is finished with it (at once
 * if the response cannot be made). */
static enum MHD_Result queue_pulled(struct MHD_Connection *conn, const char *content_type,
                                    MHD_ContentReaderCallback read, void *cls,
                                    MHD_ContentReaderFreeCallback done)
{
    struct MHD_Response *response =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, PULL_BLOCK_SIZE, read, cls, done);
    if (response == NULL) {
        done(cls);
        return MHD_NO;
    }
    http_add_common_headers(response, content_type);
    MHD_add_response_header(response, "X-Accel-Buffering", "no"); /* proxies: do not buffer */
    enum MHD_Result result = MHD_queue_response(conn, MHD_HTTP_OK, response);
    MHD_destroy_response(response);
    return result;
}

/* ---- one-shot log pages, streamed ---- */

enum page_phase { PAGE_PREFIX, PAGE_LINES, PAGE_SUFFIX, PAGE_DONE };

/* A page being sent: MHD pulls it through page_read, which fills `out` with
 * at most about PAGE_OUT_HIGH bytes at a time from a chunk of the store
 * query, so a page's memory does not grow with its size. */
struct page_stream {
    lt_store_reader *reader; /* owned */
    struct owned_query oq;   /* the page's query; after_id moves as lines go out */
    char *prefix;            /* owned: the text before "logs" */
    bool status_shape;       /* lt_entry_json_status, and no cursors (fal's shape) */
    bool skip;               /* an empty array */
    enum page_phase phase;
    int64_t budget;    /* bytes of entries allowed; 0 = no budget */
    int64_t spent;     /* bytes of entries sent */
    int64_t remaining; /* lines still allowed */
    long count;
    int64_t first_id, last_id;
    bool chunk_stopped; /* the last chunk's callback stopped the query */
    bool budget_hit;    /* a line did not fit: the page ends here */
    bool truncated;     /* the page holds fewer lines than asked for, for the budget */
    lt_buf out;
    size_t out_sent;
};

static int page_entry(const lt_line *line, void *ctx)
{
    struct page_stream *ps = ctx;
    size_t mark = ps->out.len;
    if (ps->count > 0)
        lt_buf_append(&ps->out, ",", 1);
    http_append_json(&ps->out, ps->status_shape ? lt_entry_json_status(line) : lt_entry_json(line));
    if (lt_buf_failed(&ps->out))
        return 1;
    size_t size = ps->out.len - mark;
    /* The first line always goes out, so a page makes progress whatever
     * the budget; any later one that would pass it ends the page. */
    if (ps->budget > 0 && ps->count > 0 && ps->spent + (int64_t)size > ps->budget) {
        ps->out.len = mark;
        ps->truncated = ps->budget_hit = true;
        ps->chunk_stopped = true;
        return 1;
    }
    ps->spent += (int64_t)size;
    if (ps->count == 0)
        ps->first_id = line->id;
    ps->count++;
    ps->remaining--;
    ps->last_id = line->id;
    if (ps->out.len >= PAGE_OUT_HIGH) {
        ps->chunk_stopped = true;
        return 1;
    }
    return 0;
}

/* Produce the next piece of the page into ps->out. Returns 0, or -1 on a
 * store failure. */
static int page_fill(struct page_stream *ps)
{
    switch (ps->phase) {
    case PAGE_PREFIX:
        lt_buf_append_str(&ps->out, ps->prefix);
        lt_buf_append_str(&ps->out, "\"logs\":[");
        ps->phase = ps->skip || ps->remaining <= 0 ? PAGE_SUFFIX : PAGE_LINES;
        return 0;
    case PAGE_LINES: {
        lt_query q = ps->oq.q;
        q.after_id = ps->count > 0 ? ps->last_id : ps->oq.q.after_id;
        q.newest = false;
        q.limit = (int)(ps->remaining < PAGE_CHUNK_LINES ? ps->remaining : PAGE_CHUNK_LINES);
        ps->chunk_stopped = false;
        long before = ps->count;
        if (lt_store_query(ps->reader, &q, page_entry, ps) < 0)
            return -1;
        bool short_chunk = !ps->chunk_stopped && ps->count - before < q.limit;
        if (ps->budget_hit || short_chunk || ps->remaining <= 0 || lt_buf_failed(&ps->out))
            ps->phase = PAGE_SUFFIX;
        return 0;
    }
    case PAGE_SUFFIX:
        if (ps->status_shape) {
            lt_buf_append_str(&ps->out, "]}\n");
        } else {
            lt_buf_appendf(&ps->out, "],\"next_after\":%lld,\"prev_before\":%lld%s}\n",
                           (long long)ps->last_id, (long long)ps->first_id,
                           ps->truncated ? ",\"truncated\":true" : "");
            if (ps->truncated)
                LT_COUNT(http_pages_truncated, 1);
        }
        ps->phase = PAGE_DONE;
        return 0;
    case PAGE_DONE: break;
    }
    return 0;
}

/* Copy up to `max` bytes of `out` not yet sent (*sent of them are) to
 * `buf`; returns how many (0 when all of it has gone). */
static size_t take_pending(const lt_buf *out, size_t *sent, char *buf, size_t max)
{
    size_t n = out->len - *sent;
    if (n > max)
        n = max;
    if (n > 0)
        memcpy(buf, out->data + *sent, n);
    *sent += n;
    return n;
}

static ssize_t page_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct page_stream *ps = cls;
    (void)pos;
    for (;;) {
        size_t n = take_pending(&ps->out, &ps->out_sent, buf, max);
        if (n > 0)
            return (ssize_t)n;
        if (lt_buf_failed(&ps->out))
            return MHD_CONTENT_READER_END_WITH_ERROR;
        lt_buf_clear(&ps->out);
        ps->out_sent = 0;
        if (ps->phase == PAGE_DONE)
            return MHD_CONTENT_READER_END_OF_STREAM;
        /* The status line has gone out: a store failure now can only cut
         * the body short, which the client sees as invalid JSON. */
        if (page_fill(ps) != 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

static void page_free(void *cls)
{
    struct page_stream *ps = cls;
    lt_store_reader_close(ps->reader);
    owned_query_free(&ps->oq);
    free(ps->prefix);
    lt_buf_release(&ps->out);
    free(ps);
}

struct tail_measure {
    int64_t *ids;
    int64_t *sizes;
    long n;
};

static int measure_entry(const lt_line *line, void *ctx)
{
    struct tail_measure *m = ctx;
    m->ids[m->n] = line->id;
    m->sizes[m->n] = (int64_t)line->message_len + TAIL_ENTRY_OVERHEAD;
    m->n++;
    return 0;
}

/* A newest-N page is sent in forward chunks like any other: first the N
 * lines are measured (their IDs and message sizes only are kept), then the
 * newest of them that fit the budget (all N without one) are sent as a
 * forward page pinned between its first and last ID. Returns 0, or -1 on a
 * store failure or when out of memory. */
static int tail_to_forward(struct page_stream *ps)
{
    lt_query *q = &ps->oq.q;
    struct tail_measure m = {
        .ids = malloc(sizeof(int64_t) * (size_t)q->limit),
        .sizes = malloc(sizeof(int64_t) * (size_t)q->limit),
    };
    int rc = -1;
    if (m.ids != NULL && m.sizes != NULL && lt_store_query(ps->reader, q, measure_entry, &m) >= 0) {
        rc = 0;
        long start = m.n;
        int64_t sum = 0;
        int64_t budget = ps->budget > 0 ? ps->budget : INT64_MAX;
        while (start > 0 && (start == m.n || m.sizes[start - 1] <= budget - sum)) {
            sum += m.sizes[start - 1];
            start--;
        }
        q->newest = false;
        if (m.n == 0) {
            ps->skip = true;
        } else {
            ps->truncated = start > 0;
            q->after_id = m.ids[start] - 1;
            q->before_id = m.ids[m.n - 1] + 1;
            q->limit = (int)(m.n - start);
        }
        ps->budget = 0; /* measured: the page is what fits */
    }
    free(m.ids);
    free(m.sizes);
    return rc;
}

/* Queue page `q` (nothing in it when `skip`) behind `prefix` (owned, "{" or
 * the status document's opening). Takes `rd`. With a budget the page may end
 * early (`"truncated": true`), its cursors continuing exactly where it did. */
static enum MHD_Result serve_page(http_call *c, lt_store_reader *rd, const lt_query *q, bool skip,
                                  char *prefix, bool status_shape, int64_t budget)
{
    struct page_stream *ps = calloc(1, sizeof *ps);
    if (ps == NULL) {
        lt_store_reader_close(rd);
        free(prefix);
        return http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    ps->reader = rd;
    ps->prefix = prefix;
    ps->status_shape = status_shape;
    ps->skip = skip;
    ps->budget = budget;
    bool ok = prefix != NULL && owned_query_init(&ps->oq, q);
    ps->first_id = q->before_id;
    ps->last_id = q->after_id;
    if (ok && !skip && q->newest && q->limit > 0 && tail_to_forward(ps) != 0) {
        page_free(ps);
        return http_reply_store_error(c);
    }
    ps->remaining = ps->oq.q.limit > 0 ? ps->oq.q.limit : INT64_MAX;
    if (!ok) {
        page_free(ps);
        return http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    return queue_pulled(c->conn, JSON_TYPE, page_read, ps, page_free);
}

/* ---- follow stream state (server-sent events) ---- */

enum { STATUS_UNSENT = -1 }; /* else an enum lt_request_state */

/* ---- request status documents ---- */

static const char *state_name(int state)
{
    switch (state) {
    case LT_REQUEST_IN_QUEUE: return "IN_QUEUE";
    case LT_REQUEST_COMPLETED: return "COMPLETED";
    default: return "IN_PROGRESS";
    }
}

/* Text from the store (a request ID, an error message) as a JSON string:
 * bytes that are not UTF-8 are replaced, as in log entries. */
static void append_clean_string(lt_buf *b, const char *text)
{
    size_t clean_len;
    char *clean = lt_utf8_sanitize(text, strlen(text), &clean_len);
    http_append_json(b, clean ? json_stringn(clean, clean_len) : NULL);
    free(clean);
}

/* fal's status fields for `state`: "status", and "queue_position" while
 * queued, "error" and "error_type" for a request that failed. */
static void append_state_fields(lt_buf *b, int state, const lt_request_info *info)
{
    lt_buf_appendf(b, "\"status\":\"%s\"", state_name(state));
    if (state == LT_REQUEST_IN_QUEUE)
        lt_buf_appendf(b, ",\"queue_position\":%lld", (long long)info->queue_position);
    if (state == LT_REQUEST_COMPLETED && info->error_type[0] != '\0') {
        lt_buf_append_str(b, ",\"error\":");
        append_clean_string(b, info->error);
        lt_buf_append_str(b, ",\"error_type\":");
        append_clean_string(b, info->error_type);
    }
}

struct follow_stream {
    lt_http *http;
    lt_store_reader *reader; /* owned */
    int client_fd;           /* for hang-up checks; -1 if unknown */
    /* What access was judged on, to judge it again (owned copies). */
    char *token;
    char user[LT_WIRE_MAX_ID + 1];
    bool counted; /* in the guard's stream counts (token, user) */
    enum http_log_scope scope;
    char *scope_id;        /* runner or request ID; NULL for the search */
    int64_t checked_ns;    /* monotonic, when access was last judged */
    struct owned_query oq; /* the stream's query */
    bool no_lines;         /* status only: a private app's caller, or filtered_out */
    bool filtered_out;     /* the filters name another app than the one judged */
    bool ended;            /* access ended: the stream closes once `out` is sent */
    char *status_of;       /* request whose status events this stream sends, or NULL */
    int status_sent;       /* STATUS_UNSENT or the lt_request_state last sent */
    int64_t position_sent; /* the queue_position last sent */
    /* The status stream (/status/stream): each event is fal's whole status
     * document, its "logs" the lines since the previous one (with_logs). */
    bool status_doc;
    bool with_logs;
    lt_buf logs;          /* status_doc: the round's entries, comma-separated */
    int64_t cursor;       /* every matching line <= cursor was sent */
    bool backlog_pending; /* the first round honours tail */
    bool has_tail;
    int64_t tail;
    int64_t max_lag;  /* 0 = never skip ahead */
    int64_t until_ns; /* 0 = follow forever */
    lt_buf out;       /* events produced, not yet given to MHD */
    size_t out_sent;
    int64_t last_write_ns; /* monotonic, for keepalives */
    int64_t round_last_id; /* last line ID appended this round */
    long round_count;
    bool round_stopped;  /* the round ended at FOLLOW_OUT_HIGH bytes */
    int64_t produced_ns; /* monotonic, when `out` was filled */
    bool slow;           /* the last round took > SLOW_CLIENT_NS to drain */
};

static int append_event(const lt_line *line, void *ctx)
{
    struct follow_stream *fs = ctx;
    lt_buf *into = fs->status_doc ? &fs->logs : &fs->out;
    if (fs->status_doc) {
        if (fs->round_count > 0)
            lt_buf_append(into, ",", 1);
        http_append_json(into, lt_entry_json_status(line));
    } else {
        lt_buf_appendf(into, "id: %lld\nevent: log\ndata: ", (long long)line->id);
        http_append_json(into, lt_entry_json(line));
        lt_buf_append(into, "\n\n", 2);
    }
    fs->round_last_id = line->id;
    fs->round_count++;
    if (into->len >= FOLLOW_OUT_HIGH) {
        fs->round_stopped = true; /* the rest next round: the buffer stays bounded */
        return 1;
    }
    return lt_buf_failed(into) ? 1 : 0;
}

/* ---- access ---- */

enum { JUDGED = 0, JUDGE_STORE_FAILED = -1, JUDGE_REGISTRY_FAILED = -2 };

/* What `who` may see of a runner's or a request's lines (`vis`), and
 * whether through owning the app (`*as_owner`) rather than as the caller.
 * For a request, `info` is filled. */
static int judge_access(lt_registry *reg, lt_store_reader *rd, const lt_principal *who,
                        enum http_log_scope scope, const char *id, lt_request_info *info, lt_visibility *vis,
                        bool *as_owner)
{
    char app_id[LT_WIRE_MAX_ID + 1] = "";
    int known;
    if (scope == HTTP_SCOPE_RUNNER) {
        known = lt_store_runner_app(rd, id, app_id);
    } else {
        known = lt_store_request_get(rd, id, info);
        if (known == 1)
            memcpy(app_id, info->app_id, sizeof app_id);
    }
    if (known < 0)
        return JUDGE_STORE_FAILED;
    /* An unknown ID costs the same registry read as a known one, so that
     * the answer's timing does not tell which IDs exist. */
    lt_app_info app;
    if (lt_registry_app_get(reg, known == 1 ? app_id : "/", &app) < 0)
        return JUDGE_REGISTRY_FAILED;
    *as_owner = known == 1 && lt_access_owns(who, &app);
    if (known == 0)
        *vis = LT_SEE_NOTHING;
    else if (scope == HTTP_SCOPE_RUNNER)
        *vis = lt_access_runner_logs(who, &app);
    else
        *vis = lt_access_request_logs(who, &app, info->caller);
    return JUDGED;
}

/* Narrow `q` to the lines `who` was judged to see. A runner or request ID
 * is not an app's alone (IDs come from platforms and frameworks, and
 * another app's runner may use the same one): an owner sees the lines of
 * its own apps, a caller those of the app whose privacy was judged.
 * Returns false if nothing can match (an app filter naming another app). */
static bool narrow_query(lt_query *q, const lt_principal *who, enum http_log_scope scope, bool as_owner,
                         const lt_request_info *info)
{
    if (who->admin)
        return true;
    if (scope == HTTP_SCOPE_SEARCH || as_owner) {
        q->owner = who->user;
        return true;
    }
    assert(scope == HTTP_SCOPE_REQUEST); /* a caller: runner logs are never theirs */
    if (q->app_id != NULL && strcmp(q->app_id, info->app_id) != 0)
        return false;
    if (q->apps.count > 0 && !any_of_holds(&q->apps, info->app_id))
        return false;
    q->app_id = info->app_id;
    return true;
}

/* ---- following ---- */

enum { ACCESS_HOLDS = 0, ACCESS_ENDED = 1, ACCESS_UNKNOWN = -1 };

/* Judge the stream's access again (see ACCESS_RECHECK_NS): the token may
 * have been revoked, the app redeployed private or to another owner. On
 * ACCESS_ENDED an `end` event saying why is queued. */
static int recheck_access(struct follow_stream *fs)
{
    fs->checked_ns = lt_mono_ns();
    char err[256];
    lt_registry *reg = lt_registry_open(fs->http->data_dir, err, sizeof err);
    if (reg == NULL)
        return ACCESS_UNKNOWN; /* keep going; ask again later */
    lt_principal who;
    int found = lt_registry_authenticate(reg, fs->token, &who);
    const char *why = NULL;
    int rc = ACCESS_HOLDS;
    if (found < 0) {
        rc = ACCESS_UNKNOWN;
    } else if (found == 0) {
        why = "the token is no longer valid";
    } else if (fs->scope != HTTP_SCOPE_SEARCH) {
        lt_request_info info;
        lt_visibility vis;
        bool as_owner;
        if (judge_access(reg, fs->reader, &who, fs->scope, fs->scope_id, &info, &vis, &as_owner) != JUDGED)
            rc = ACCESS_UNKNOWN;
        else if (vis == LT_SEE_NOTHING)
            why = "access to these logs was withdrawn";
        else
            fs->no_lines = fs->filtered_out || vis == LT_SEE_EMPTY;
        /* An owner's view is narrowed by the owner filter, which the store
         * evaluates afresh on every round; a caller's to the app judged
         * when the stream began, whose privacy is what this re-judges. */
    }
    lt_registry_close(reg);
    if (why != NULL) {
        lt_buf_appendf(&fs->out, "event: end\ndata: {\"reason\":\"%s\"}\n\n", why);
        return ACCESS_ENDED;
    }
    return rc;
}

/* The followed request's state now (its document's fields in *info), or
 * -1 on a store error. */
static int read_status(struct follow_stream *fs, lt_request_info *info)
{
    int known = lt_store_request_get(fs->reader, fs->status_of, info);
    if (known < 0)
        return -1;
    if (known == 0) /* gone (retention) while followed: nothing more to say */
        info->state = LT_REQUEST_IN_PROGRESS;
    return (int)info->state;
}

/* Queue the status event for `state`: on a logs follow `event: status`
 * with fal's status fields; on the status stream fal's whole document with
 * the round's lines. After COMPLETED the stream ends (once sent). */
static void append_status_event(struct follow_stream *fs, int state, const lt_request_info *info)
{
    if (fs->status_doc) {
        if (fs->cursor > 0)
            lt_buf_appendf(&fs->out, "id: %lld\n", (long long)fs->cursor);
        lt_buf_append_str(&fs->out, "data: {\"request_id\":");
        append_clean_string(&fs->out, fs->status_of);
        lt_buf_append_str(&fs->out, ",");
        append_state_fields(&fs->out, state, info);
        if (fs->with_logs) {
            lt_buf_append_str(&fs->out, ",\"logs\":[");
            lt_buf_append(&fs->out, fs->logs.data != NULL ? fs->logs.data : "", fs->logs.len);
            lt_buf_append_str(&fs->out, "]");
        }
        lt_buf_append_str(&fs->out, "}\n\n");
    } else {
        lt_buf_append_str(&fs->out, "event: status\ndata: {");
        append_state_fields(&fs->out, state, info);
        lt_buf_append_str(&fs->out, "}\n\n");
    }
    fs->status_sent = state;
    fs->position_sent = info->queue_position;
    if (state == LT_REQUEST_COMPLETED)
        fs->ended = true;
}

/* Query the next lines (and events) into fs->out. Returns 0, or -1 on store
 * failure. */
static int follow_fill(struct follow_stream *fs)
{
    int status = STATUS_UNSENT;
    lt_request_info info;
    if (fs->status_of != NULL && (status = read_status(fs, &info)) < 0)
        return -1;
    /* Rows up to `visible` are committed before the query starts, so the
     * query sees all of them: after it, the cursor may safely skip to
     * `visible` even if none of those rows matched. */
    int64_t visible = lt_store_last_id(fs->http->store);
    /* Only a reader that has shown itself slow is skipped: a fast one that
     * meets a burst of lines simply reads it, chunk after chunk. The gap
     * is measured in line IDs, so it bounds the store reading that catching
     * up would take, whatever the filter. */
    if (fs->max_lag > 0 && fs->slow && visible - fs->cursor > fs->max_lag) {
        lt_buf_appendf(&fs->out,
                       "id: %lld\nevent: behind\ndata: {\"skipped_after\":%lld,\"resume_after\":%lld}\n\n",
                       (long long)visible, (long long)fs->cursor, (long long)visible);
        LT_COUNT(followers_behind, 1);
        fs->cursor = visible;
    }
    fs->slow = false;
    lt_query q = fs->oq.q;
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
    fs->round_stopped = false;
    lt_buf_clear(&fs->logs);
    if (!fs->no_lines && lt_store_query(fs->reader, &q, append_event, fs) < 0)
        return -1;
    if (fs->round_count > 0) {
        assert(fs->round_last_id > fs->cursor);
        fs->cursor = fs->round_last_id;
    }
    /* A full forward chunk may have more behind it: keep the cursor exact. A
     * newest-N round deliberately skips older lines, a short round saw all. */
    bool complete = !fs->round_stopped && (q.newest || fs->round_count < q.limit);
    if (complete && visible > fs->cursor)
        fs->cursor = visible;
    if (status != STATUS_UNSENT) {
        /* COMPLETED only once every line before it has gone out. */
        int shown = status == LT_REQUEST_COMPLETED && !complete ? LT_REQUEST_IN_PROGRESS : status;
        bool changed = shown != fs->status_sent ||
                       (shown == LT_REQUEST_IN_QUEUE && info.queue_position != fs->position_sent);
        if (fs->status_doc ? changed || fs->round_count > 0 : complete && changed)
            append_status_event(fs, shown, &info);
        if (lt_buf_failed(&fs->logs))
            return -1;
    }
    if (fs->out.len > 0)
        fs->produced_ns = lt_mono_ns();
    return 0;
}

/* True once the client has closed its end; new data is never expected from
 * it, so readable-with-hang-up is the only signal that matters. */
static bool fd_hung_up(int fd)
{
    if (fd < 0)
        return false;
    struct pollfd pfd = {.fd = fd, .events = POLLRDHUP};
    if (poll(&pfd, 1, 0) <= 0)
        return false;
    return (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

static bool client_gone(const struct follow_stream *fs)
{
    return fd_hung_up(fs->client_fd);
}

/* MHD pulls the stream through this; it blocks until there is something to
 * send, the client leaves, `until` passes, access ends or the server stops.
 * It never returns 0, which MHD would call again at once (a busy loop). */
static ssize_t follow_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct follow_stream *fs = cls;
    (void)pos;
    for (;;) {
        size_t n = take_pending(&fs->out, &fs->out_sent, buf, max);
        if (n > 0) {
            fs->last_write_ns = lt_mono_ns();
            if (fs->out_sent == fs->out.len) {
                /* All sent: empty it for the next round. A failed one is
                 * left as it is (clearing would forget the failure), so the
                 * next call ends the stream. */
                if (!lt_buf_failed(&fs->out)) {
                    lt_buf_clear(&fs->out);
                    fs->out_sent = 0;
                }
                fs->slow = fs->last_write_ns - fs->produced_ns > SLOW_CLIENT_NS;
            }
            return (ssize_t)n;
        }
        if (lt_buf_failed(&fs->out))
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (fs->ended || atomic_load(&fs->http->stopping))
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (lt_mono_ns() - fs->checked_ns >= ACCESS_RECHECK_NS && recheck_access(fs) == ACCESS_ENDED) {
            fs->ended = true; /* after the `end` event has gone out */
            continue;
        }

        if (follow_fill(fs) != 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (fs->out.len > 0)
            continue;

        /* Caught up: only now may a past `until` end the stream. */
        if (fs->until_ns != 0 && lt_time_now_ns() >= fs->until_ns + UNTIL_GRACE_NS)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (client_gone(fs))
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (lt_mono_ns() - fs->last_write_ns >= KEEPALIVE_NS) {
            lt_buf_append_str(&fs->out, ": keepalive\n\n");
            fs->produced_ns = lt_mono_ns();
            continue;
        }
        lt_store_wait(fs->http->store, fs->cursor, FOLLOW_WAIT_SLICE_MS);
    }
}

static void follow_free(void *cls)
{
    struct follow_stream *fs = cls;
    if (fs->counted)
        http_guard_stream_close(fs->http->guard, fs->token, fs->user);
    lt_store_reader_close(fs->reader);
    free(fs->token);
    free(fs->scope_id);
    owned_query_free(&fs->oq);
    free(fs->status_of);
    lt_buf_release(&fs->out);
    lt_buf_release(&fs->logs);
    free(fs);
    atomic_fetch_sub_explicit(&lt_metrics_global.followers, 1, memory_order_relaxed);
}

/* Takes ownership of `rd`. A stream has no `limit`: it reads in chunks of
 * FOLLOW_CHUNK_LINES for as long as the client stays. A request's stream
 * also sends its status events. */
/* The answer when http_guard_stream_open said no. */
static enum MHD_Result refuse_stream(http_call *c, int slot)
{
    lt_http *h = c->http;
    assert(slot != STREAM_OPENED);
    if (slot == STREAM_NO_MEMORY)
        return http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    LT_COUNT(http_streams_refused, 1);
    return http_reply_error_header(c->conn, MHD_HTTP_TOO_MANY_REQUESTS, MHD_HTTP_HEADER_RETRY_AFTER,
                                   STREAM_RETRY_AFTER, "too many follow streams: at most %d per %s",
                                   slot == STREAM_TOKEN_FULL ? h->limits.streams_per_token
                                                             : h->limits.streams_per_user,
                                   slot == STREAM_TOKEN_FULL ? "token" : "user");
}

/* How a stream of a request shows its status: as `event: status` among the
 * lines (a logs follow), or as fal's status documents (the status stream,
 * its lines inside them only `with_logs`). */
enum status_shape { STATUS_EVENTS, STATUS_DOCUMENTS, STATUS_DOCUMENTS_WITH_LOGS };

static enum MHD_Result serve_follow(http_call *c, lt_store_reader *rd, const lt_query *q,
                                    const struct log_params *p, enum http_log_scope scope,
                                    const char *scope_id, bool private_to_caller, bool filtered_out,
                                    enum status_shape shape)
{
    lt_http *h = c->http;
    int slot = http_guard_stream_open(h->guard, c->token, c->who.user);
    if (slot != STREAM_OPENED) {
        lt_store_reader_close(rd);
        return refuse_stream(c, slot);
    }
    struct follow_stream *fs = calloc(1, sizeof *fs);
    if (fs == NULL) {
        http_guard_stream_close(h->guard, c->token, c->who.user);
        lt_store_reader_close(rd);
        return http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    atomic_fetch_add_explicit(&lt_metrics_global.followers, 1, memory_order_relaxed);
    memcpy(fs->user, c->who.user, sizeof fs->user);
    fs->http = h;
    fs->reader = rd;
    bool failed = false;
    fs->token = strdup_or_null(c->token, &failed);
    fs->scope = scope;
    fs->scope_id = strdup_or_null(scope_id, &failed);
    fs->checked_ns = lt_mono_ns();
    if (!owned_query_init(&fs->oq, q))
        failed = true;
    fs->status_of = scope == HTTP_SCOPE_REQUEST ? strdup_or_null(scope_id, &failed) : NULL;
    fs->status_sent = STATUS_UNSENT;
    fs->filtered_out = filtered_out;
    fs->status_doc = shape != STATUS_EVENTS;
    fs->with_logs = shape == STATUS_DOCUMENTS_WITH_LOGS;
    fs->no_lines = filtered_out || private_to_caller || shape == STATUS_DOCUMENTS;
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
        if (now_last > fs->cursor)
            fs->cursor = now_last;
        fs->backlog_pending = false;
    }
    fs->until_ns = p->until_ns; /* 0 = none; -1 ("until the epoch") ends at once */
    fs->last_write_ns = lt_mono_ns();
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    fs->client_fd = info != NULL ? info->connect_fd : -1;
    if (failed) {
        http_guard_stream_close(h->guard, c->token, c->who.user);
        follow_free(fs);
        return http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    fs->counted = true;

    return queue_pulled(c->conn, EVENT_STREAM_TYPE, follow_read, fs, follow_free);
}

/* ---- waiting for a request not known yet ---- */

enum { JUDGE_STREAMS_FULL = -3, JUDGE_CLIENT_LEFT = -4 };
#define WAIT_SLICE_MS 200 /* how soon a request that appeared is seen */

/* judge_access for request `id`, waiting up to wait_s seconds while the
 * principal sees nothing of it: a caller may follow its request before the
 * gateway's announcement or the runner's BEGIN has reached the collector.
 * A request that exists but that `who` may not see is waited for exactly
 * like one that does not exist, so that the 404 after the wait tells
 * nothing by its timing. A waiting client holds a stream slot of its token
 * and user (http_guard.c). */
static int judge_request_waiting(http_call *c, lt_store_reader *rd, const char *id, int64_t wait_s,
                                 lt_request_info *info, lt_visibility *vis, bool *as_owner, int *slot)
{
    lt_http *h = c->http;
    int64_t deadline = lt_mono_ns() + wait_s * INT64_C(1000000000);
    bool counted = false;
    int rc;
    *slot = STREAM_OPENED;
    for (;;) {
        rc = judge_access(c->registry, rd, &c->who, HTTP_SCOPE_REQUEST, id, info, vis, as_owner);
        if (rc != JUDGED || *vis != LT_SEE_NOTHING)
            break;
        int64_t left_ms = (deadline - lt_mono_ns()) / 1000000;
        if (left_ms <= 0)
            break;
        if (!counted) {
            *slot = http_guard_stream_open(h->guard, c->token, c->who.user);
            if (*slot != STREAM_OPENED) {
                rc = JUDGE_STREAMS_FULL;
                break;
            }
            counted = true;
            /* MHD's idle timeout must not close the connection while it
             * waits for the answer to go out. */
            MHD_set_connection_option(c->conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                      (unsigned int)(wait_s + CONNECTION_IDLE_S));
        }
        const union MHD_ConnectionInfo *conn_info =
            MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (atomic_load(&h->stopping) || fd_hung_up(conn_info != NULL ? conn_info->connect_fd : -1)) {
            rc = JUDGE_CLIENT_LEFT;
            break;
        }
        lt_store_wait(h->store, lt_store_last_id(h->store),
                      left_ms < WAIT_SLICE_MS ? (int)left_ms : WAIT_SLICE_MS);
    }
    if (counted)
        http_guard_stream_close(h->guard, c->token, c->who.user);
    return rc;
}

/* Queue the answer to a failed judge_access. */
static enum MHD_Result judge_failed(http_call *c, int rc, int slot)
{
    if (rc == JUDGE_STORE_FAILED)
        return http_reply_store_error(c);
    if (rc == JUDGE_CLIENT_LEFT) /* the client hung up, or the server stops: an answer nobody reads */
        return http_reply_error(c->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "the wait was cut short");
    if (rc == JUDGE_STREAMS_FULL)
        return refuse_stream(c, slot);
    return http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "registry unavailable: %s",
                            lt_registry_error(c->registry));
}

/* A scope's own ID may be repeated as a filter but not contradicted (given
 * several values, it must be one of them: the scope narrows them to it). */
static bool scope_filter_agrees(const char **filter, lt_any_of *set, const char *id)
{
    if (*filter != NULL && strcmp(*filter, id) != 0)
        return false;
    if (set->count > 0 && !any_of_holds(set, id))
        return false;
    set->count = 0;
    *filter = id;
    return true;
}

/* ---- endpoints ---- */

enum MHD_Result http_serve_logs(http_call *c, enum http_log_scope scope, const char *id)
{
    if (!c->is_head && strcmp(c->method, MHD_HTTP_METHOD_GET) != 0)
        return http_reply_method_not_allowed(c, "GET, HEAD");
    struct log_params p;
    char problem[256];
    if (!parse_log_params(c->conn, log_param_names, DEFAULT_LIMIT, &p, problem, sizeof problem))
        return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST, "%s", problem);
    if ((scope == HTTP_SCOPE_RUNNER && !scope_filter_agrees(&p.runner, &p.runners, id)) ||
        (scope == HTTP_SCOPE_REQUEST && !scope_filter_agrees(&p.request, &p.requests, id)))
        return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST, "bad %s: contradicts the path",
                                scope == HTTP_SCOPE_RUNNER ? "runner" : "request");
    if (p.follow && p.before > 0)
        return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST,
                                "bad before: a follow stream only goes forward");

    enum MHD_Result queued = MHD_NO;
    lt_store_reader *rd = http_open_reader(c, &queued);
    if (rd == NULL)
        return queued;

    lt_visibility vis = LT_SEE_ALL;
    lt_request_info info;
    memset(&info, 0, sizeof info);
    bool as_owner = false;
    if (scope != HTTP_SCOPE_SEARCH) {
        /* Only a request's follow waits for it to appear (a page answers
         * for what is there now). */
        int slot = STREAM_OPENED;
        int rc = scope == HTTP_SCOPE_REQUEST && p.follow && !c->is_head
                     ? judge_request_waiting(c, rd, id, p.wait_s, &info, &vis, &as_owner, &slot)
                     : judge_access(c->registry, rd, &c->who, scope, id, &info, &vis, &as_owner);
        if (rc != JUDGED) {
            lt_store_reader_close(rd);
            return judge_failed(c, rc, slot);
        }
        if (vis == LT_SEE_NOTHING) {
            lt_store_reader_close(rd);
            return http_reply_error(c->conn, MHD_HTTP_NOT_FOUND, "unknown %s %s",
                                    scope == HTTP_SCOPE_RUNNER ? "runner" : "request", id);
        }
    }
    lt_query q = query_from_params(&p);
    bool filtered_out = !narrow_query(&q, &c->who, scope, as_owner, &info);
    bool no_lines = vis == LT_SEE_EMPTY || filtered_out;

    if (p.follow && !c->is_head)
        return serve_follow(c, rd, &q, &p, scope, id, vis == LT_SEE_EMPTY, filtered_out, STATUS_EVENTS);
    if (p.follow) { /* HEAD of a stream: its headers, no stream */
        lt_store_reader_close(rd);
        lt_buf empty = {0};
        lt_buf_append(&empty, "", 0);
        return http_reply_buffer(c->conn, MHD_HTTP_OK, EVENT_STREAM_TYPE, &empty);
    }
    char *prefix = strdup("{");
    return serve_page(c, rd, &q, no_lines || (p.has_tail && p.tail == 0), prefix, false,
                      c->http->limits.page_bytes);
}

enum MHD_Result http_serve_request_status(http_call *c, const char *request_id)
{
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
    if (!scope_filter_agrees(&p.request, &p.requests, request_id))
        return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST, "bad request: contradicts the path");

    enum MHD_Result queued = MHD_NO;
    lt_store_reader *rd = http_open_reader(c, &queued);
    if (rd == NULL)
        return queued;
    lt_request_info info;
    lt_visibility vis;
    bool as_owner;
    int slot;
    int rc =
        judge_request_waiting(c, rd, request_id, c->is_head ? 0 : p.wait_s, &info, &vis, &as_owner, &slot);
    if (rc != JUDGED) {
        lt_store_reader_close(rd);
        return judge_failed(c, rc, slot);
    }
    if (vis == LT_SEE_NOTHING) {
        lt_store_reader_close(rd);
        return http_reply_error(c->conn, MHD_HTTP_NOT_FOUND, "unknown request %s", request_id);
    }

    lt_buf head = {0};
    lt_buf_append_str(&head, "{\"request_id\":");
    append_clean_string(&head, request_id);
    lt_buf_append_str(&head, ",");
    append_state_fields(&head, (int)info.state, &info);
    if (!with_logs) {
        lt_store_reader_close(rd);
        lt_buf_append_str(&head, "}\n");
        return http_reply_buffer(c->conn, MHD_HTTP_OK, JSON_TYPE, &head);
    }
    lt_query q = query_from_params(&p);
    bool narrowed = narrow_query(&q, &c->who, HTTP_SCOPE_REQUEST, as_owner, &info);
    lt_buf_append_str(&head, ",");
    /* fal's shape exactly: request_id, status, logs. (Paging a request's
     * logs is /v1/requests/{id}/logs.) A caller of a private app's request
     * gets the empty array fal gives. The page is streamed like any other,
     * but has no budget: fal's clients expect every line (up to the line
     * cap) and have no cursor to continue with. */
    bool skip = vis == LT_SEE_EMPTY || !narrowed || (p.has_tail && p.tail == 0);
    char *prefix = lt_buf_failed(&head) ? NULL : lt_buf_detach(&head);
    lt_buf_release(&head);
    return serve_page(c, rd, &q, skip, prefix, true, 0);
}

enum MHD_Result http_serve_status_stream(http_call *c, const char *request_id)
{
    if (!c->is_head && strcmp(c->method, MHD_HTTP_METHOD_GET) != 0)
        return http_reply_method_not_allowed(c, "GET, HEAD");
    struct log_params p;
    char problem[256];
    if (!parse_log_params(c->conn, status_stream_param_names, MAX_LIMIT, &p, problem, sizeof problem))
        return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST, "%s", problem);
    bool with_logs = false, has_nul;
    const char *logs_value = http_query_param(c->conn, "logs", &has_nul);
    if (logs_value != NULL && (has_nul || !http_parse_flag(logs_value, &with_logs)))
        return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST, "bad logs: expected 1, 0, true or false");
    p.request = request_id;

    enum MHD_Result queued = MHD_NO;
    lt_store_reader *rd = http_open_reader(c, &queued);
    if (rd == NULL)
        return queued;
    lt_request_info info;
    lt_visibility vis;
    bool as_owner;
    int slot;
    int rc =
        judge_request_waiting(c, rd, request_id, c->is_head ? 0 : p.wait_s, &info, &vis, &as_owner, &slot);
    if (rc != JUDGED) {
        lt_store_reader_close(rd);
        return judge_failed(c, rc, slot);
    }
    if (vis == LT_SEE_NOTHING) {
        lt_store_reader_close(rd);
        return http_reply_error(c->conn, MHD_HTTP_NOT_FOUND, "unknown request %s", request_id);
    }
    if (c->is_head) { /* its headers, no stream */
        lt_store_reader_close(rd);
        lt_buf empty = {0};
        lt_buf_append(&empty, "", 0);
        return http_reply_buffer(c->conn, MHD_HTTP_OK, EVENT_STREAM_TYPE, &empty);
    }
    lt_query q = query_from_params(&p);
    bool filtered_out = !narrow_query(&q, &c->who, HTTP_SCOPE_REQUEST, as_owner, &info);
    return serve_follow(c, rd, &q, &p, HTTP_SCOPE_REQUEST, request_id, vis == LT_SEE_EMPTY, filtered_out,
                        with_logs ? STATUS_DOCUMENTS_WITH_LOGS : STATUS_DOCUMENTS);
}
