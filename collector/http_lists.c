/* http_lists.c -- the lists of doc/http-api.md: GET /v1/runners and
 * GET /v1/requests, their filters, their cursors and who sees which rows.
 *
 * Owns: the list parameters and their validation, the opaque cursor, the
 * JSON of a runner and of a request row.
 *
 * Why it looks the way it does:
 * - Which rows a principal gets is decided in the store's query (the
 *   list's `viewer`), so that a page of N rows holds N rows the principal
 *   may see and paging never stalls on rows filtered away afterwards.
 *   Whether a visible request's lines may be counted is access.h's own
 *   rule (a caller of a private app's request sees it, not its lines).
 * - The cursor is the (start, ID) of the page's last row, hex-encoded so
 *   that clients treat it as opaque: its form may change with the store.
 * - A page is at most LT_LIST_MAX_LIMIT rows of a few hundred bytes, so it
 *   is built in memory, unlike the streamed log pages.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "access.h"
#include "clock.h"
#include "http_internal.h"
#include "logtap_wire.h"
#include "timefmt.h"
#include "utf8.h"

#define DEFAULT_LIST_LIMIT 100
/* "<start ns>/<id>" in hex: 20 digits and a sign, '/', an ID. */
#define CURSOR_TEXT_MAX (22 + LT_WIRE_MAX_ID)

static const char *const runner_list_params[] = {"app",   "version", "source", "since",
                                                 "until", "limit",   "cursor", NULL};
static const char *const request_list_params[] = {"app",   "version", "source", "state",  "caller", "runner",
                                                  "since", "until",   "limit",  "cursor", NULL};

/* What a list call asked for; the strings are MHD's, living as long as the
 * request, and the cursor's ID lives in `cursor_id`. */
struct list_params {
    lt_list_query q;
    char cursor_id[LT_WIRE_MAX_ID + 1];
};

/* An "any of" ID filter: every value of the repeated parameter `name`. */
static bool parse_id_set(struct MHD_Connection *conn, const char *name, lt_any_of *set, char *problem,
                         size_t problem_size)
{
    bool has_nul;
    set->count = http_query_params(conn, name, set->values, LT_ANY_OF_MAX, &has_nul);
    if (set->count < 0) {
        set->count = 0;
        snprintf(problem, problem_size, "bad %s: at most %d values", name, LT_ANY_OF_MAX);
        return false;
    }
    for (int i = 0; i < set->count; i++) {
        if (has_nul || !lt_wire_id_ok(set->values[i], strlen(set->values[i]))) {
            snprintf(problem, problem_size,
                     "bad %s: expected an ID (1..%d printable ASCII characters, no '/')", name,
                     LT_WIRE_MAX_ID);
            return false;
        }
    }
    return true;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The cursor's text, "<start ns>/<id>", from its hex form; false if it is
 * not one this server could have made. */
static bool decode_cursor(const char *hex, struct list_params *lp)
{
    size_t len = strlen(hex);
    char text[CURSOR_TEXT_MAX + 1];
    if (len == 0 || len % 2 != 0 || len / 2 > CURSOR_TEXT_MAX)
        return false;
    for (size_t i = 0; i < len / 2; i++) {
        int high = hex_digit(hex[2 * i]), low = hex_digit(hex[2 * i + 1]);
        if (high < 0 || low < 0)
            return false;
        text[i] = (char)(high * 16 + low);
    }
    text[len / 2] = '\0';
    char *slash = strchr(text, '/');
    if (slash == NULL || slash == text)
        return false;
    *slash = '\0';
    const char *digits = text[0] == '-' ? text + 1 : text;
    int64_t magnitude;
    if (!http_parse_count(digits, &magnitude))
        return false;
    const char *id = slash + 1;
    if (!lt_wire_id_ok(id, strlen(id)))
        return false;
    lp->q.has_cursor = true;
    lp->q.cursor_start_ns = text[0] == '-' ? -magnitude : magnitude;
    snprintf(lp->cursor_id, sizeof lp->cursor_id, "%s", id);
    lp->q.cursor_id = lp->cursor_id;
    return true;
}

static json_t *encode_cursor(int64_t start_ns, const char *id)
{
    char text[CURSOR_TEXT_MAX + 1];
    int n = snprintf(text, sizeof text, "%lld/%s", (long long)start_ns, id);
    assert(n > 0 && (size_t)n < sizeof text);
    char hex[2 * CURSOR_TEXT_MAX + 1];
    for (int i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)text[i]);
    return json_string(hex);
}

static bool parse_list_params(struct MHD_Connection *conn, bool requests, struct list_params *lp,
                              char *problem, size_t problem_size)
{
    memset(lp, 0, sizeof *lp);
    lp->q.limit = DEFAULT_LIST_LIMIT;
    if (!http_params_known(conn, requests ? request_list_params : runner_list_params, problem, problem_size))
        return false;
    if (!parse_id_set(conn, "app", &lp->q.apps, problem, problem_size) ||
        !parse_id_set(conn, "version", &lp->q.versions, problem, problem_size) ||
        !parse_id_set(conn, "source", &lp->q.sources, problem, problem_size))
        return false;
    for (int i = 0; i < lp->q.sources.count; i++) {
        if (!lt_source_name_ok(lp->q.sources.values[i])) {
            snprintf(problem, problem_size, "bad source: expected run, gateway or deploy");
            return false;
        }
    }
    if (requests && (!parse_id_set(conn, "caller", &lp->q.callers, problem, problem_size) ||
                     !parse_id_set(conn, "runner", &lp->q.runners, problem, problem_size)))
        return false;
    bool has_nul;
    if (requests) {
        const char *states[LT_ANY_OF_MAX];
        int n = http_query_params(conn, "state", states, LT_ANY_OF_MAX, &has_nul);
        for (int i = 0; i < n; i++) {
            if (!has_nul && strcasecmp(states[i], "IN_PROGRESS") == 0) {
                lp->q.states |= LT_LIST_IN_PROGRESS;
            } else if (!has_nul && strcasecmp(states[i], "COMPLETED") == 0) {
                lp->q.states |= LT_LIST_COMPLETED;
            } else if (!has_nul && strcasecmp(states[i], "IN_QUEUE") == 0) {
                lp->q.states |= LT_LIST_IN_QUEUE;
            } else {
                snprintf(problem, problem_size, "bad state: expected IN_QUEUE, IN_PROGRESS or COMPLETED");
                return false;
            }
        }
        if (n < 0) {
            snprintf(problem, problem_size, "bad state: at most %d values", LT_ANY_OF_MAX);
            return false;
        }
    }
    int64_t now_ns = lt_time_now_ns();
    static const char time_forms[] = "expected 30s, 30m, 1h, 2d, 1w, RFC 3339 or YYYY-MM-DD";
    const char *value;
    if ((value = http_query_param(conn, "since", &has_nul)) != NULL &&
        (has_nul || lt_time_parse(value, now_ns, &lp->q.since_ns) != 0)) {
        snprintf(problem, problem_size, "bad since: %s", time_forms);
        return false;
    }
    if ((value = http_query_param(conn, "until", &has_nul)) != NULL) {
        if (has_nul || lt_time_parse(value, now_ns, &lp->q.until_ns) != 0) {
            snprintf(problem, problem_size, "bad until: %s", time_forms);
            return false;
        }
        if (lp->q.until_ns == 0) /* "until the epoch": nothing, as for logs */
            lp->q.until_ns = -1;
    }
    if (lp->q.since_ns != 0 && lp->q.until_ns != 0 && lp->q.since_ns >= lp->q.until_ns) {
        snprintf(problem, problem_size, "bad since: it is not before until");
        return false;
    }
    if ((value = http_query_param(conn, "limit", &has_nul)) != NULL) {
        int64_t limit;
        if (has_nul || !http_parse_count(value, &limit) || limit == 0) {
            snprintf(problem, problem_size, "bad limit: expected an integer from 1 to %d", LT_LIST_MAX_LIMIT);
            return false;
        }
        lp->q.limit = limit > LT_LIST_MAX_LIMIT ? LT_LIST_MAX_LIMIT : (int)limit;
    }
    if ((value = http_query_param(conn, "cursor", &has_nul)) != NULL &&
        (has_nul || !decode_cursor(value, lp))) {
        snprintf(problem, problem_size, "bad cursor: use the next_cursor of a page as it is");
        return false;
    }
    return true;
}

static json_t *time_or_null(int64_t ns)
{
    char text[64];
    return ns == 0 ? json_null() : json_string(lt_time_format(ns, text, sizeof text));
}

static json_t *text_or_null(const char *text)
{
    return text[0] == '\0' ? json_null() : json_string(text);
}

/* Text a runner chose (a failed request's error): bytes that are not
 * UTF-8 are replaced, as in log entries. */
static json_t *clean_string(const char *text)
{
    size_t clean_len;
    char *clean = lt_utf8_sanitize(text, strlen(text), &clean_len);
    json_t *value = clean != NULL ? json_stringn(clean, clean_len) : NULL;
    free(clean);
    return value;
}

/* ---- building a page ---- */

struct list_page {
    http_call *call;
    json_t *items; /* the page's array */
    long count;
    int64_t last_start_ns;
    char last_id[LT_WIRE_MAX_ID + 1];
    /* The app last asked of the registry (rows of one app come together). */
    lt_app_info app;
    bool app_loaded;
    bool failed; /* out of memory or a registry failure */
};

static void page_note_last(struct list_page *page, int64_t start_ns, const char *id)
{
    page->count++;
    page->last_start_ns = start_ns;
    snprintf(page->last_id, sizeof page->last_id, "%s", id);
}

static int add_runner(const lt_runner_row *row, void *ctx)
{
    struct list_page *page = ctx;
    /* state: a runner's processes' exits are not recorded per runner in
     * the store yet, so it is not known (null) rather than guessed. */
    json_t *item = json_pack("{s:s, s:s, s:s, s:s, s:n, s:o, s:o, s:n, s:I}", "runner_id", row->runner_id,
                             "app_id", row->app_id, "version_id", row->version_id, "source", row->source,
                             "state", "started", time_or_null(row->first_ns), "last_seen",
                             time_or_null(row->last_ns), "ended", "lines", (json_int_t)row->lines);
    if (item == NULL || json_array_append_new(page->items, item) != 0) {
        page->failed = true;
        return 1;
    }
    page_note_last(page, row->first_ns, row->runner_id);
    return 0;
}

/* May the principal count the request's lines? The row itself is visible
 * (the store chose it); a caller of a private app's request sees no lines. */
static int request_lines_visible(struct list_page *page, const lt_request_row *row)
{
    http_call *c = page->call;
    if (c->who.admin)
        return 1;
    if (!page->app_loaded || strcmp(page->app.app_id, row->app_id) != 0) {
        if (lt_registry_app_get(c->registry, row->app_id, &page->app) < 0)
            return -1;
        snprintf(page->app.app_id, sizeof page->app.app_id, "%s", row->app_id);
        page->app_loaded = true;
    }
    return lt_access_request_logs(&c->who, &page->app, row->caller) == LT_SEE_ALL;
}

static int add_request(const lt_request_row *row, void *ctx)
{
    struct list_page *page = ctx;
    int visible = request_lines_visible(page, row);
    if (visible < 0) {
        page->failed = true;
        return 1;
    }
    /* error and error_type: a failed request's (null otherwise);
     * queue_position is null in a list: each would cost a count of the
     * app's queue (the request's status has it). A queued request's
     * "started" is its announcement. */
    const char *state = row->state == LT_REQUEST_IN_QUEUE      ? "IN_QUEUE"
                        : row->state == LT_REQUEST_IN_PROGRESS ? "IN_PROGRESS"
                                                               : "COMPLETED";
    bool failed = row->state == LT_REQUEST_COMPLETED && row->error_type[0] != '\0';
    json_t *item =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:n}", "request_id",
                  row->request_id, "runner_id", row->runner_id, "app_id", row->app_id, "version_id",
                  row->version_id, "source", row->source, "caller", text_or_null(row->caller), "state", state,
                  "started", time_or_null(row->begin_ns), "ended", time_or_null(row->end_ns), "lines",
                  visible ? json_integer(row->lines) : json_null(), "error",
                  failed ? clean_string(row->error) : json_null(), "error_type",
                  failed ? clean_string(row->error_type) : json_null(), "queue_position");
    if (item == NULL || json_array_append_new(page->items, item) != 0) {
        page->failed = true;
        return 1;
    }
    page_note_last(page, row->begin_ns, row->request_id);
    return 0;
}

static enum MHD_Result serve_list(http_call *c, bool requests)
{
    if (!c->is_head && strcmp(c->method, MHD_HTTP_METHOD_GET) != 0)
        return http_reply_method_not_allowed(c, "GET, HEAD");
    struct list_params lp;
    char problem[256];
    if (!parse_list_params(c->conn, requests, &lp, problem, sizeof problem))
        return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST, "%s", problem);
    lp.q.viewer = c->who.admin ? NULL : c->who.user;

    enum MHD_Result queued = MHD_NO;
    lt_store_reader *rd = http_open_reader(c, &queued);
    if (rd == NULL)
        return queued;
    struct list_page page = {.call = c, .items = json_array()};
    if (page.items == NULL) {
        lt_store_reader_close(rd);
        return http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    long n = requests ? lt_store_list_requests(rd, &lp.q, add_request, &page)
                      : lt_store_list_runners(rd, &lp.q, add_runner, &page);
    lt_store_reader_close(rd);
    if (page.failed) {
        json_decref(page.items);
        return http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                "out of memory or registry unavailable");
    }
    if (n < 0) {
        json_decref(page.items);
        return http_reply_store_error(c);
    }
    assert(n == page.count && n <= lp.q.limit);
    /* A full page may have more behind it; a short one was the last. */
    json_t *next = page.count == lp.q.limit ? encode_cursor(page.last_start_ns, page.last_id) : json_null();
    return http_reply_json(
        c->conn, MHD_HTTP_OK,
        json_pack("{s:o, s:o}", requests ? "requests" : "runners", page.items, "next_cursor", next));
}

enum MHD_Result http_serve_runner_list(http_call *c)
{
    return serve_list(c, false);
}

enum MHD_Result http_serve_request_list(http_call *c)
{
    return serve_list(c, true);
}
