/* cli_logs.c -- `logtap runners logs`, `logtap requests logs`, `logtap
 * logs` and `logtap requests status`: thin clients of the collector's log
 * endpoints (doc/http-api.md).
 *
 * Owns their options and help, the URL of each query, printing entries,
 * and paging. Follow mode is cli_follow.c.
 *
 * Why it looks the way it does:
 * - The three log commands are one command over three scopes
 *   (/v1/runners/{id}/logs, /v1/requests/{id}/logs, /v1/logs) with the same
 *   filters, so a flag means the same thing in each.
 * - Paging goes forward with `after` cursors: IDs only grow, so no line is
 *   skipped or repeated while new lines arrive. Without -n the end is
 *   pinned first (the newest matching line when the command starts), so a
 *   busy runner cannot keep the command paging forever.
 * - -n N above the server's cap on one answer walks back with `before`
 *   cursors and prints the pages oldest first; those lines are held in
 *   memory until then.
 * - A page may hold fewer lines than asked for and still not be the last:
 *   the server ends a page early at its byte budget and says so
 *   ("truncated": true); paging then goes on from the page's cursor.
 * - --since/--until are checked with the collector's own parser
 *   (common/timefmt.c) so mistakes are caught before any network traffic,
 *   but the original text is sent: the server stays the one authority.
 */
#include "cli_logs.h"
#include "cli_requests.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "level.h"
#include "timefmt.h"

#define PAGE_LINES 10000         /* lines per page when fetching everything */
#define SERVER_MAX_LINES 100000  /* the server's cap on `limit` and `tail` */
#define SERVER_DEFAULT_WAIT_S 60 /* how long the server waits for an unknown request */
#define SERVER_MAX_WAIT_S 3600
#define LINES_MAX 1000000000LL /* anything larger in -n is a typo */

static const char *const filter_names[FILTER_COUNT] = {
    [FILTER_RUNNER] = "runner",   [FILTER_REQUEST] = "request", [FILTER_APP] = "app",
    [FILTER_VERSION] = "version", [FILTER_SOURCE] = "source",   [FILTER_LEVEL] = "level",
};

/* ------------------------------------------------------------------------ */
/* Help                                                                     */
/* ------------------------------------------------------------------------ */

#define FILTERS_HELP                                                                                         \
    "      --app A          only lines of app A\n"                                                           \
    "      --version V      only lines of app version V\n"                                                   \
    "      --source S       only lines from source S: run, gateway or deploy\n"                              \
    "      --level L        only lines at level L or above: TRACE < DEBUG <\n"                               \
    "                       INFO = STDOUT < WARN < STDERR < ERROR; also\n"                                   \
    "                       WARNING (= WARN), CRITICAL and FATAL (= ERROR),\n"                               \
    "                       NOTSET (= TRACE: every line)\n"                                                  \
    "      --since T        only lines written at or after T\n"                                              \
    "      --until T        only lines written before T (after --since)\n"                                   \
    "      --search TEXT    only lines containing TEXT (case-sensitive)\n"                                   \
    "      --exclude TEXT   only lines NOT containing TEXT (case-sensitive)\n"                               \
    "  -i, --ignore-case    --search and --exclude ignore the case of ASCII\n"                               \
    "                       letters\n"                                                                       \
    "\n"                                                                                                     \
    "--runner, --request, --app and --version may be given more than once: a\n"                              \
    "line matches any of their values.\n"

#define SELECTION_HELP                                                                                       \
    "\n"                                                                                                     \
    "Selection and output:\n"                                                                                \
    "  -n, --lines N        only the newest N lines (with -f: then the new\n"                                \
    "                       ones; with -f, N is at most 100000); --tail N\n"                                 \
    "                       is the same\n"                                                                   \
    "  -n, --lines +N       only the oldest N lines (not with -f)\n"                                         \
    "  -f, --follow         after the existing lines, print new ones as they\n"                              \
    "                       are written, until interrupted (Ctrl-C); if the\n"                               \
    "                       connection drops it reconnects by itself, without\n"                             \
    "                       gaps or repeats\n"                                                               \
    "  -o, --output FORMAT  text (default) or json\n"                                                        \
    "      --json           the same as --output json\n"                                                     \
    "      --raw            print only each message, byte for byte as the\n"                                 \
    "                       program wrote it: no columns, no escaping\n" CLI_GLOBAL_OPTIONS_HELP             \
    "  -h, --help           show this help\n"                                                                \
    "\n"                                                                                                     \
    "T is a duration back from now (30s, 30m, 1h, 2d, 1w), an RFC 3339 time\n"                               \
    "(2026-11-25T14:38:06Z, 2026-11-25T15:38:06.5+01:00) or a date\n"                                        \
    "(2026-11-25, midnight UTC).\n"

#define SAFETY_HELP                                                                                          \
    "REQUEST is '-' outside requests and '?' on lines that 'logtap run\n"                                    \
    "--catch-all' caught from a writer no one knows. Control characters in\n"                                \
    "log text are shown as \\xNN (tab is kept, and so are colours when\n"                                    \
    "stdout is a terminal), so logs cannot take over your terminal. json\n"                                  \
    "output is each entry as the collector sent it, one JSON object a line:\n"                               \
    "id, timestamp, message, level, stream, source, runner_id, request_id\n"                                 \
    "(null outside requests), app_id, version_id, pid, tid, and\n"                                           \
    "\"unattributed\": true on lines marked '?'.\n"

#define ONE_RUNNER_TEXT_HELP                                                                                 \
    "\n"                                                                                                     \
    "Text output is one line per entry, TIMESTAMP STREAM LEVEL REQUEST MESSAGE:\n"                           \
    "  2026-11-25T14:38:06.123456Z stdout INFO req-7 hello\n" SAFETY_HELP EXIT_HELP "\n"                     \
    "Examples:\n"

#define EXIT_HELP                                                                                            \
    "\n"                                                                                                     \
    "Exit status: 0 success (also when nothing matched), 1 unknown ID or a\n"                                \
    "collector error, 2 usage error, 3 collector unreachable, 4 no usable\n"                                 \
    "token or not allowed.\n"

static const char runners_logs_usage[] =
    "Usage: logtap runners logs RUNNER_ID [OPTIONS]\n"
    "\n"
    "Print every line runner RUNNER_ID wrote to stdout and stderr over its\n"
    "whole lifetime, oldest first. Only the owner of the runner's app (and\n"
    "admin) may read them.\n"
    "\n"
    "Filters (a line must match all given):\n"
    "      --request Q      only lines written while serving request Q\n" FILTERS_HELP SELECTION_HELP
        ONE_RUNNER_TEXT_HELP "  logtap runners logs r-1\n"
    "  logtap runners logs r-1 -f -n 20\n"
    "  logtap runners logs r-1 --since 30m --until 10m --search Traceback\n"
    "  logtap runners logs r-1 --level warn --source gateway\n"
    "  logtap runners logs r-1 -n +100 --output json | jq -r .message\n";

static const char requests_logs_usage[] =
    "Usage: logtap requests logs REQUEST_ID [OPTIONS]\n"
    "\n"
    "Print the lines written to stdout and stderr while request REQUEST_ID\n"
    "was being served (what its caller may see), oldest first. The app's\n"
    "owner sees them all; the request's caller sees them unless the app's\n"
    "logs are private.\n"
    "\n"
    "With -f, a request the collector does not know yet is waited for (60 s\n"
    "unless --wait says otherwise), and the command ends once the request is\n"
    "COMPLETED and its last line printed.\n"
    "\n"
    "Filters (a line must match all given):\n"
    "      --runner R       only lines of runner R\n" FILTERS_HELP SELECTION_HELP
    "      --wait SECONDS   with -f: how long to wait for a request not known\n"
    "                       yet (default 60; 0: at once)\n"
    "\n"
    "With -f, following ends by itself (exit 0) one second after the\n"
    "collector reports the request COMPLETED, so that lines still on their\n"
    "way are printed too.\n" ONE_RUNNER_TEXT_HELP "  logtap requests logs req-7\n"
    "  logtap requests logs req-7 -f -n 20\n"
    "  logtap requests logs req-7 --level error\n"
    "  logtap requests logs req-7 -n +100 --output json | jq -r .message\n";

static const char logs_usage[] =
    "Usage: logtap logs [OPTIONS]\n"
    "\n"
    "Print the lines of every runner whose logs the token may read (the\n"
    "runners of the apps its user owns; every runner for admin) that match\n"
    "the filters, oldest first. With --app or --version this is the view of\n"
    "an app or a deployment across all its runners; with -f it follows them.\n"
    "\n"
    "Filters (a line must match all given; none: every line you may read):\n"
    "      --runner R       only lines of runner R\n"
    "      --request Q      only lines written while serving request Q\n" FILTERS_HELP SELECTION_HELP "\n"
    "Text output is one line per entry, TIMESTAMP RUNNER STREAM LEVEL REQUEST\n"
    "MESSAGE:\n"
    "  2026-11-25T14:38:06.123456Z r-1 stdout INFO req-7 hello\n" SAFETY_HELP EXIT_HELP "\n"
    "Examples:\n"
    "  logtap logs --app demo -f\n"
    "  logtap logs --app demo --version v3 --level error --since 1h\n"
    "  logtap logs --source deploy -n 50\n"
    "  logtap logs --app demo --search Traceback --output json | jq -r .runner_id\n";

static const struct log_scope runner_scope = {
    "logtap runners logs", "runners", "runner", "RUNNER_ID", FILTER_RUNNER,
};

static const struct log_scope request_scope = {
    "logtap requests logs", "requests", "request", "REQUEST_ID", FILTER_REQUEST,
};

static const struct log_scope search_scope = {
    "logtap logs", NULL, NULL, NULL, -1,
};

static const char *scope_usage(const struct log_scope *scope)
{
    if (scope == &runner_scope)
        return runners_logs_usage;
    if (scope == &request_scope)
        return requests_logs_usage;
    return logs_usage;
}

/* ------------------------------------------------------------------------ */
/* Queries                                                                  */
/* ------------------------------------------------------------------------ */

char *logs_url_new(const struct collector *c, const struct logs_query *q, const struct page_params *pp)
{
    lt_buf url = {0};
    if (q->scope->collection)
        append_resource_url(&url, c, q->scope->collection, q->id, "logs");
    else
        lt_buf_appendf(&url, "%s/v1/logs", c->server);
    for (int i = 0; i < FILTER_COUNT; i++)
        for (int v = 0; v < q->filter_counts[i]; v++)
            append_query_param(&url, filter_names[i], q->filters[i][v]);
    if (pp->since)
        append_query_param(&url, "since", pp->since);
    if (q->until)
        append_query_param(&url, "until", q->until);
    if (q->search && *q->search)
        append_query_param(&url, "search", q->search);
    if (q->exclude && *q->exclude)
        append_query_param(&url, "exclude", q->exclude);
    if (q->ignore_case)
        append_query_param(&url, "ignore_case", "1");
    if (pp->tail >= 0)
        append_query_number(&url, "tail", pp->tail);
    if (pp->limit >= 0)
        append_query_number(&url, "limit", pp->limit);
    if (pp->after >= 0)
        append_query_number(&url, "after", pp->after);
    if (pp->before >= 0)
        append_query_number(&url, "before", pp->before);
    if (pp->follow)
        append_query_param(&url, "follow", "1");
    if (pp->follow && q->wait_s >= 0)
        append_query_number(&url, "wait", q->wait_s);
    return lt_buf_detach(&url);
}

bool logs_query_is_one_request(const struct logs_query *q)
{
    return q->scope == &request_scope;
}

struct target logs_query_target(const struct logs_query *q)
{
    return (struct target){q->scope->noun, q->id};
}

bool json_integer_field(json_t *object, const char *key, long long *out)
{
    json_t *value = json_object_get(object, key);
    if (!json_is_integer(value))
        return false;
    *out = (long long)json_integer_value(value);
    return true;
}

/* ------------------------------------------------------------------------ */
/* Printing entries                                                         */
/* ------------------------------------------------------------------------ */

static const char *entry_string(json_t *entry, const char *key, size_t *len)
{
    json_t *value = json_object_get(entry, key);
    if (!json_is_string(value))
        return NULL;
    *len = json_string_length(value);
    return json_string_value(value);
}

static void append_column(lt_buf *line, json_t *entry, const char *key)
{
    size_t len = 0;
    const char *text = entry_string(entry, key, &len);
    if (!text || len == 0)
        lt_buf_append_byte(line, '-');
    else
        append_terminal_safe(line, text, len, false);
    lt_buf_append_byte(line, ' ');
}

static void format_text_entry(struct printer *p, json_t *entry)
{
    size_t len = 0;
    const char *message = entry_string(entry, "message", &len);
    if (!message)
        message = "";

    if (p->raw) {
        lt_buf_append(&p->line, message, len);
    } else {
        append_column(&p->line, entry, "timestamp");
        if (p->show_runner)
            append_column(&p->line, entry, "runner_id");
        append_column(&p->line, entry, "stream");
        append_column(&p->line, entry, "level");
        if (json_is_true(json_object_get(entry, "unattributed")))
            lt_buf_append_str(&p->line, "? "); /* caught by --catch-all: writer unknown */
        else
            append_column(&p->line, entry, "request_id");
        append_terminal_safe(&p->line, message, len, p->keep_sgr);
    }
    lt_buf_append_byte(&p->line, '\n');
}

int print_entry(struct printer *p, json_t *entry)
{
    lt_buf_clear(&p->line);
    if (p->format == OUTPUT_JSON)
        append_json_line(&p->line, entry, JSON_COMPACT);
    else
        format_text_entry(p, entry);
    if (fwrite(p->line.data, 1, p->line.len, stdout) != p->line.len || ferror(stdout)) {
        p->write_errno = errno ? errno : EIO;
        return -1;
    }
    return 0;
}

static int printer_finish(struct printer *p, int code)
{
    code = finish_stdout(code, p->write_errno);
    lt_buf_release(&p->line);
    return code;
}

/* ------------------------------------------------------------------------ */
/* Pages                                                                    */
/* ------------------------------------------------------------------------ */

/* One page of the query; its "logs" array is checked. */
static int fetch_page(struct collector *c, const struct logs_query *q, const struct page_params *pp,
                      json_t **page, json_t **logs)
{
    const struct target t = logs_query_target(q);
    char *url = logs_url_new(c, q, pp);
    int code = fetch_json(c, &t, url, page);
    free(url);
    if (code != LT_EXIT_OK)
        return code;
    *logs = json_object_get(*page, "logs");
    if (!json_is_array(*logs)) {
        json_decref(*page);
        *page = NULL;
        return report_unexpected_answer(c, "no \"logs\" array");
    }
    return LT_EXIT_OK;
}

/* The cursor that continues past `logs` in `direction`: the page's
 * next_after or prev_before, else the last or first entry's id. */
static bool page_cursor(json_t *page, json_t *logs, bool forward, long long *out)
{
    size_t count = json_array_size(logs);
    if (json_integer_field(page, forward ? "next_after" : "prev_before", out))
        return true;
    return count > 0 && json_integer_field(json_array_get(logs, forward ? count - 1 : 0), "id", out);
}

/* True when the server ended the page early at its byte budget: fewer
 * lines than asked for do not mean there are no more. */
static bool page_truncated(json_t *page)
{
    return json_is_true(json_object_get(page, "truncated"));
}

/* Returns an exit code, or -1 when stdout failed. */
static int print_entries(struct printer *p, json_t *logs)
{
    for (size_t i = 0; i < json_array_size(logs); i++)
        if (print_entry(p, json_array_get(logs, i)) != 0)
            return -1;
    return LT_EXIT_OK;
}

/* The id of the newest line matching the query now, or -1 if none. */
static int newest_matching_id(struct collector *c, const struct logs_query *q, long long *id)
{
    const struct page_params pp = {
        .since = q->since,
        .tail = 1,
        .limit = -1,
        .after = -1,
        .before = -1,
    };
    json_t *page = NULL, *logs = NULL;
    int code = fetch_page(c, q, &pp, &page, &logs);
    if (code != LT_EXIT_OK)
        return code;
    *id = -1;
    if (json_array_size(logs) > 0 &&
        !json_integer_field(json_array_get(logs, json_array_size(logs) - 1), "id", id))
        code = report_unexpected_answer(c, "an entry without an \"id\"");
    json_decref(page);
    return code;
}

/* Without -n: everything up to the newest line matching at the start, page
 * by page. -n +N: the same until N lines are out (N may exceed one page). */
static int print_forward(struct collector *c, const struct logs_query *q, struct printer *p)
{
    long long before = -1;
    if (q->lines_mode == LINES_ALL) {
        long long newest = -1;
        int code = newest_matching_id(c, q, &newest);
        if (code != LT_EXIT_OK || newest < 0)
            return code;
        before = newest + 1;
    }
    long long after = -1;
    long long remaining = q->lines;
    for (;;) {
        long long limit = PAGE_LINES;
        if (q->lines_mode == LINES_OLDEST)
            limit = remaining < SERVER_MAX_LINES ? remaining : SERVER_MAX_LINES;
        const struct page_params pp = {
            .since = q->since,
            .tail = -1,
            .limit = limit,
            .after = after,
            .before = before,
        };
        json_t *page = NULL, *logs = NULL;
        int code = fetch_page(c, q, &pp, &page, &logs);
        if (code != LT_EXIT_OK)
            return code;
        long long count = (long long)json_array_size(logs);
        long long next_after = after;
        bool truncated = page_truncated(page);
        code = print_entries(p, logs);
        if (code == LT_EXIT_OK && count > 0 && !page_cursor(page, logs, true, &next_after))
            code = report_unexpected_answer(c, "no \"next_after\" cursor");
        json_decref(page);
        if (code < 0)
            return report_write_failure(p->write_errno);
        if (code != LT_EXIT_OK)
            return code;

        remaining -= count;
        if ((count < limit && !truncated) || count == 0 || (q->lines_mode == LINES_OLDEST && remaining <= 0))
            return LT_EXIT_OK;
        if (next_after <= after)
            return report_unexpected_answer(c, "the paging cursor did not advance");
        after = next_after;
    }
}

/* -n N: one request up to the server's cap; beyond it, pages walking back
 * with `before`, printed oldest first once all are in. */
static int print_newest(struct collector *c, const struct logs_query *q, struct printer *p)
{
    json_t *pages = json_array();
    if (!pages)
        die_out_of_memory();
    long long before = -1;
    long long remaining = q->lines;
    int code = LT_EXIT_OK;
    do {
        long long tail = remaining < SERVER_MAX_LINES ? remaining : SERVER_MAX_LINES;
        const struct page_params pp = {
            .since = q->since,
            .tail = tail,
            .limit = -1,
            .after = -1,
            .before = before,
        };
        json_t *page = NULL, *logs = NULL;
        code = fetch_page(c, q, &pp, &page, &logs);
        if (code != LT_EXIT_OK)
            break;
        json_array_append_new(pages, page);
        long long count = (long long)json_array_size(logs);
        remaining -= count;
        if ((count < tail && !page_truncated(page)) || count == 0 || remaining <= 0)
            break;
        long long prev_before = before;
        if (!page_cursor(page, logs, false, &prev_before))
            code = report_unexpected_answer(c, "no \"prev_before\" cursor");
        else if (before >= 0 && prev_before >= before)
            code = report_unexpected_answer(c, "the paging cursor did not move back");
        before = prev_before;
    } while (code == LT_EXIT_OK);

    for (size_t i = json_array_size(pages); code == LT_EXIT_OK && i > 0; i--) {
        code = print_entries(p, json_object_get(json_array_get(pages, i - 1), "logs"));
        if (code < 0)
            code = report_write_failure(p->write_errno);
    }
    json_decref(pages);
    return code;
}

static int print_logs(struct collector *c, const struct logs_query *q, struct printer *p)
{
    return q->lines_mode == LINES_NEWEST ? print_newest(c, q, p) : print_forward(c, q, p);
}

/* ------------------------------------------------------------------------ */
/* Options                                                                  */
/* ------------------------------------------------------------------------ */

/* "N" (newest N) or "+N" (oldest N). */
static bool parse_lines(const char *text, struct logs_query *q)
{
    bool oldest = text[0] == '+';
    const char *digits = oldest ? text + 1 : text;
    if (!is_all_digits(digits))
        return false;
    errno = 0;
    long long n = strtoll(digits, NULL, 10);
    if (errno || n > LINES_MAX)
        return false;
    q->lines = n;
    q->lines_mode = oldest ? LINES_OLDEST : LINES_NEWEST;
    return true;
}

static int check_time_option(const char *command, const char *option, const char *text, int64_t now_ns,
                             int64_t *out)
{
    if (lt_time_parse(text, now_ns, out) == 0)
        return LT_EXIT_OK;
    return usage_error(command,
                       "invalid %s '%s': use a duration back from now (30s, 30m, "
                       "1h, 2d, 1w), an RFC 3339 time (2026-11-25T14:38:06Z) or "
                       "a date (2026-11-25)",
                       option, text);
}

static int check_filters(const struct logs_query *q)
{
    const char *command = q->scope->command;
    for (int i = 0; i < FILTER_COUNT; i++) {
        if (q->filter_counts[i] == 0)
            continue;
        if (i == q->scope->own_filter)
            return usage_error(command, "--%s is not an option here: the %s is %s", filter_names[i],
                               q->scope->noun, q->scope->id_name);
        for (int v = 0; v < q->filter_counts[i]; v++)
            if (!q->filters[i][v][0])
                return usage_error(command, "--%s must not be empty", filter_names[i]);
    }
    const char *source = q->filter_counts[FILTER_SOURCE] ? q->filters[FILTER_SOURCE][0] : NULL;
    if (source && !lt_source_name_ok(source))
        return usage_error(command, "invalid --source '%s': use run, gateway or deploy", source);
    const char *level = q->filter_counts[FILTER_LEVEL] ? q->filters[FILTER_LEVEL][0] : NULL;
    if (level && lt_level_parse(level) < 0)
        return usage_error(command,
                           "invalid --level '%s': use TRACE, DEBUG, INFO, "
                           "STDOUT, WARN, STDERR or ERROR (or WARNING, "
                           "CRITICAL, FATAL, NOTSET)",
                           level);
    return LT_EXIT_OK;
}

/* --wait SECONDS: what the server accepts as wait=. */
static int parse_wait(const char *command, const char *text, long long *out)
{
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || value > SERVER_MAX_WAIT_S)
        return usage_error(command, "invalid --wait '%s': seconds from 0 to %d", text, SERVER_MAX_WAIT_S);
    *out = value;
    return LT_EXIT_OK;
}

long long logs_query_wait_s(const struct logs_query *q)
{
    return q->wait_s >= 0 ? q->wait_s : SERVER_DEFAULT_WAIT_S;
}

static int check_logs_query(struct logs_query *q, const struct printer *p)
{
    const char *command = q->scope->command;
    int64_t now_ns = lt_time_now_ns();
    int code = check_filters(q);
    if (code)
        return code;
    if (q->since && (code = check_time_option(command, "--since", q->since, now_ns, &q->since_ns)))
        return code;
    if (q->until && (code = check_time_option(command, "--until", q->until, now_ns, &q->until_ns)))
        return code;
    if (q->since && q->until && q->since_ns >= q->until_ns)
        return usage_error(command, "--since '%s' is not before --until '%s'", q->since, q->until);
    if (q->ignore_case && !q->search && !q->exclude)
        return usage_error(command, "--ignore-case applies to --search and --exclude: give one");
    if (q->follow && q->lines_mode == LINES_OLDEST)
        return usage_error(command, "-n +N (the oldest lines) cannot be combined "
                                    "with --follow");
    if (q->follow && q->lines_mode == LINES_NEWEST && q->lines > SERVER_MAX_LINES)
        return usage_error(command, "with --follow, -n N takes N up to %d", SERVER_MAX_LINES);
    if (q->lines_mode == LINES_OLDEST && q->lines == 0)
        return usage_error(command, "-n +N needs N of at least 1");
    if (p->raw && p->format == OUTPUT_JSON)
        return usage_error(command, "--raw applies to text output only");
    if (q->wait_s >= 0 && !q->follow)
        return usage_error(command, "--wait applies to -f only");
    return LT_EXIT_OK;
}

static int filter_of_option(int opt)
{
    switch (opt) {
    case OPT_RUNNER: return FILTER_RUNNER;
    case OPT_REQUEST: return FILTER_REQUEST;
    case OPT_APP: return FILTER_APP;
    case OPT_VERSION: return FILTER_VERSION;
    case OPT_SOURCE: return FILTER_SOURCE;
    case OPT_LEVEL: return FILTER_LEVEL;
    default: return -1;
    }
}

/* Returns LT_EXIT_OK, an exit code, or -1 after printing the help. */
static int parse_logs_options(struct cli_globals *g, struct logs_query *q, struct printer *p, int argc,
                              char **argv)
{
    static const struct option options[] = {
        {"follow", no_argument, NULL, 'f'},
        {"lines", required_argument, NULL, 'n'},
        {"tail", required_argument, NULL, 'n'},
        {"since", required_argument, NULL, OPT_SINCE},
        {"until", required_argument, NULL, OPT_UNTIL},
        {"search", required_argument, NULL, OPT_SEARCH},
        {"ignore-case", no_argument, NULL, 'i'},
        {"exclude", required_argument, NULL, OPT_EXCLUDE},
        {"runner", required_argument, NULL, OPT_RUNNER},
        {"request", required_argument, NULL, OPT_REQUEST},
        {"app", required_argument, NULL, OPT_APP},
        {"version", required_argument, NULL, OPT_VERSION},
        {"source", required_argument, NULL, OPT_SOURCE},
        {"level", required_argument, NULL, OPT_LEVEL},
        {"output", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, OPT_JSON},
        {"raw", no_argument, NULL, OPT_RAW},
        {"wait", required_argument, NULL, OPT_WAIT},
        CLI_GLOBAL_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *command = q->scope->command;
    int opt, code = LT_EXIT_OK;

    prepare_subcommand_argv(argv);
    while (code == LT_EXIT_OK && (opt = getopt_long(argc, argv, "fn:io:h", options, NULL)) != -1) {
        int filter = filter_of_option(opt);
        if (filter == FILTER_SOURCE || filter == FILTER_LEVEL) {
            q->filters[filter][0] = optarg; /* one value: the last given */
            q->filter_counts[filter] = 1;
            continue;
        }
        if (filter >= 0) {
            if (q->filter_counts[filter] == FILTER_VALUES_MAX)
                return usage_error(command, "--%s: at most %d values", filter_names[filter],
                                   FILTER_VALUES_MAX);
            q->filters[filter][q->filter_counts[filter]++] = optarg;
            continue;
        }
        switch (opt) {
        case 'f': q->follow = true; break;
        case 'n':
            if (!parse_lines(optarg, q))
                code = usage_error(command,
                                   "invalid --lines '%s': use N (the newest "
                                   "N) or +N (the oldest N)",
                                   optarg);
            break;
        case OPT_SINCE: q->since = optarg; break;
        case OPT_UNTIL: q->until = optarg; break;
        case OPT_SEARCH: q->search = optarg; break;
        case OPT_EXCLUDE: q->exclude = optarg; break;
        case 'i': q->ignore_case = true; break;
        case 'o': code = parse_output_format(command, optarg, &p->format); break;
        case OPT_JSON: p->format = OUTPUT_JSON; break;
        case OPT_RAW: p->raw = true; break;
        case OPT_WAIT:
            if (q->scope != &request_scope)
                return option_error(command); /* only a request is waited for */
            code = parse_wait(command, optarg, &q->wait_s);
            break;
        case OPT_SERVER:
        case OPT_TOKEN:
        case OPT_CREDENTIALS: code = cli_global_option(opt, optarg, g, command); break;
        case 'h': fputs(scope_usage(q->scope), stdout); return -1;
        default: return option_error(command);
        }
    }
    if (code != LT_EXIT_OK)
        return code;
    if (q->scope->id_name)
        code = take_one_operand(command, q->scope->id_name, argc, argv, &q->id);
    else
        code = take_no_operands(command, argc, argv);
    return code != LT_EXIT_OK ? code : check_logs_query(q, p);
}

static int run_logs_command(struct cli_globals *g, const struct log_scope *scope, int argc, char **argv)
{
    struct logs_query q = {.scope = scope, .lines_mode = LINES_ALL, .wait_s = -1};
    struct printer p = {.format = OUTPUT_TEXT, .show_runner = scope == &search_scope};
    int code = parse_logs_options(g, &q, &p, argc, argv);
    if (code < 0)
        return LT_EXIT_OK; /* --help */
    if (code != LT_EXIT_OK)
        return code;

    struct collector c;
    if ((code = collector_open(&c, g)) != LT_EXIT_OK)
        return code;
    p.keep_sgr = isatty(STDOUT_FILENO);
    if (q.follow) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        code = follow_logs(&c, &q, &p);
    } else {
        code = print_logs(&c, &q, &p);
    }
    collector_close(&c);
    return printer_finish(&p, code);
}

int cmd_runners_logs(struct cli_globals *g, int argc, char **argv)
{
    return run_logs_command(g, &runner_scope, argc, argv);
}

int cmd_requests_logs(struct cli_globals *g, int argc, char **argv)
{
    return run_logs_command(g, &request_scope, argc, argv);
}

int cmd_logs(struct cli_globals *g, int argc, char **argv)
{
    return run_logs_command(g, &search_scope, argc, argv);
}

/* ------------------------------------------------------------------------ */
/* logtap requests status                                                   */
/* ------------------------------------------------------------------------ */

static const char status_usage[] =
    "Usage: logtap requests status REQUEST_ID [OPTIONS]\n"
    "\n"
    "Print request REQUEST_ID's status as JSON, in fal's queue-status shape:\n"
    "{\"request_id\": ..., \"status\": \"IN_QUEUE\", \"IN_PROGRESS\" or \"COMPLETED\",\n"
    "\"logs\": [...]}, with \"queue_position\" while IN_QUEUE, and \"error\" and\n"
    "\"error_type\" when it failed (its handler's error, or runner_disconnected\n"
    "when its runner died inside it).\n"
    "A request the collector does not know yet is waited for (60 s unless\n"
    "--wait says otherwise): a caller may ask right after submitting it.\n"
    "\n"
    "Options:\n"
    "      --logs           include the request's log lines (message, level,\n"
    "                       source, timestamp of each; empty for the caller of\n"
    "                       an app whose logs are private)\n"
    "      --stream         print each change of status as it happens, one\n"
    "                       JSON document a line (with --logs, the lines since\n"
    "                       the previous one), until the request is COMPLETED\n"
    "      --wait SECONDS   how long to wait for a request not known yet\n"
    "                       (default 60; 0: answer at once)\n" CLI_GLOBAL_OPTIONS_HELP
    "  -h, --help           show this help\n" EXIT_HELP "\n"
    "Examples:\n"
    "  logtap requests status req-7\n"
    "  logtap requests status req-7 --logs | jq -r '.logs[].message'\n"
    "  logtap requests status req-7 --stream --logs\n";

int cmd_requests_status(struct cli_globals *g, int argc, char **argv)
{
    static const char command[] = "logtap requests status";
    static const struct option options[] = {
        {"logs", no_argument, NULL, OPT_LOGS},
        {"stream", no_argument, NULL, OPT_STREAM},
        {"wait", required_argument, NULL, OPT_WAIT},
        CLI_GLOBAL_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool with_logs = false, stream = false;
    long long wait_s = -1;
    const char *id = NULL;
    int opt, code = LT_EXIT_OK;

    prepare_subcommand_argv(argv);
    while (code == LT_EXIT_OK && (opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_LOGS: with_logs = true; break;
        case OPT_STREAM: stream = true; break;
        case OPT_WAIT: code = parse_wait(command, optarg, &wait_s); break;
        case OPT_SERVER:
        case OPT_TOKEN:
        case OPT_CREDENTIALS: code = cli_global_option(opt, optarg, g, command); break;
        case 'h': fputs(status_usage, stdout); return LT_EXIT_OK;
        default: return option_error(command);
        }
    }
    if (code == LT_EXIT_OK)
        code = take_one_operand(command, "REQUEST_ID", argc, argv, &id);
    if (code != LT_EXIT_OK)
        return code;

    struct collector c;
    if ((code = collector_open(&c, g)) != LT_EXIT_OK)
        return code;
    if (stream) {
        code = requests_status_stream(&c, id, with_logs, wait_s);
        collector_close(&c);
        return code;
    }
    c.wait_s = wait_s >= 0 ? (long)wait_s : SERVER_DEFAULT_WAIT_S;
    lt_buf url = {0};
    append_resource_url(&url, &c, "requests", id, "status");
    if (with_logs)
        append_query_param(&url, "logs", "1");
    if (wait_s >= 0)
        append_query_number(&url, "wait", wait_s);

    const struct target t = {"request", id};
    json_t *status = NULL;
    code = fetch_json(&c, &t, url.data, &status);
    if (code == LT_EXIT_OK) {
        print_json_line(status, JSON_INDENT(2));
        code = finish_stdout(code, 0);
    }
    json_decref(status);
    lt_buf_release(&url);
    collector_close(&c);
    return code;
}
