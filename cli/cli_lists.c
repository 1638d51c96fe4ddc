/* cli_lists.c -- `logtap runners list` and `logtap requests list`: clients
 * of GET /v1/runners and GET /v1/requests (doc/http-api.md, "Lists").
 *
 * Owns their options, help and printout: a table (newest first) for a
 * person, or with -o json / --json the collector's objects, one a line.
 *
 * Why it looks the way it does:
 * - Filters given more than once mean "any of", as the API's repeated
 *   parameters do; all the different filters must match.
 * - -n N rows are fetched in pages through the collector's opaque cursor
 *   (next_cursor), which stays exact while new runners and requests
 *   appear; --all walks every page.
 * - --since/--until are checked here with the collector's own parser, and
 *   a reversed pair is a usage error before any traffic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "cli_http.h"
#include "cli_text.h"
#include "level.h"
#include "timefmt.h"

#define DEFAULT_ROWS 100
#define SERVER_PAGE_MAX 1000 /* the collector's cap on one page */
#define MAX_VALUES 16        /* values of one repeated filter, as the collector takes */

enum list_filter { LF_APP, LF_VERSION, LF_SOURCE, LF_STATE, LF_CALLER, LF_RUNNER, LF_COUNT };

static const char *const list_filter_params[LF_COUNT] = {
    [LF_APP] = "app",     [LF_VERSION] = "version", [LF_SOURCE] = "source",
    [LF_STATE] = "state", [LF_CALLER] = "caller",   [LF_RUNNER] = "runner",
};

struct list_kind {
    const char *command;    /* "logtap runners list" */
    const char *collection; /* "runners": the path and the answer's array */
    const char *usage;
    bool requests;
    const char *const *header;
    size_t columns;
    void (*row)(json_t *item, char **cells);
};

struct list_args {
    const char *values[LF_COUNT][MAX_VALUES];
    int counts[LF_COUNT];
    const char *since, *until;
    long long rows; /* -1: all */
    enum output_format output;
};

#define LIST_FILTERS_HELP                                                                                    \
    "      --app A          only those of app A\n"                                                           \
    "      --version V      only those of app version V\n"                                                   \
    "      --source S       only those from source S: run, gateway or deploy\n"                              \
    "      --since T        only those started at or after T\n"                                              \
    "      --until T        only those started before T\n"

#define LIST_OUTPUT_HELP                                                                                     \
    "\n"                                                                                                     \
    "Selection and output:\n"                                                                                \
    "  -n, --limit N        at most N rows (default 100), newest first\n"                                    \
    "      --all            every row, page after page\n"                                                    \
    "  -o, --output FORMAT  text (default) or json: one JSON object a line,\n"                               \
    "                       as the collector sent it\n"                                                      \
    "      --json           the same as --output json\n" CLI_GLOBAL_OPTIONS_HELP                             \
    "  -h, --help           show this help\n"                                                                \
    "\n"                                                                                                     \
    "A filter given more than once matches any of its values (--app a --app b:\n"                            \
    "either app); different filters must all match. T is a duration back from\n"                             \
    "now (30s, 30m, 1h, 2d, 1w), an RFC 3339 time or a date (2026-11-25);\n"                                 \
    "--since must be before --until.\n"                                                                      \
    "\n"                                                                                                     \
    "Exit status: 0 success (also when nothing matched), 1 a collector error,\n"                             \
    "2 usage error, 3 collector unreachable, 4 no usable token or not allowed.\n"

static const char runners_list_usage[] =
    "Usage: logtap runners list [OPTIONS]\n"
    "\n"
    "List the runners whose logs you may read, newest first: every runner for\n"
    "admin, the runners of the apps you own for anyone else.\n"
    "\n"
    "Filters:\n" LIST_FILTERS_HELP LIST_OUTPUT_HELP "\n"
    "Text output is a table: RUNNER APP VERSION SOURCE STARTED LAST-SEEN LINES\n"
    "(times RFC 3339 UTC; '-' for what a runner did not set). json objects\n"
    "hold runner_id, app_id, version_id, source, state (null: not recorded\n"
    "yet), started, last_seen, ended (null) and lines.\n"
    "\n"
    "Examples:\n"
    "  logtap runners list\n"
    "  logtap runners list --app demo --since 1h\n"
    "  logtap runners list --source gateway --source run -o json | jq -r .runner_id\n";

static const char requests_list_usage[] =
    "Usage: logtap requests list [OPTIONS]\n"
    "\n"
    "List the requests you may see, newest first: every request for admin;\n"
    "the requests of the apps you own, and the requests you called (in apps\n"
    "someone deployed), for anyone else.\n"
    "\n"
    "Filters:\n" LIST_FILTERS_HELP
    "      --state S        only requests in state S: IN_QUEUE, IN_PROGRESS or\n"
    "                       COMPLETED\n"
    "      --caller U       only requests whose caller is user U\n"
    "      --runner R       only requests served by runner R\n" LIST_OUTPUT_HELP "\n"
    "Text output is a table: REQUEST STATE APP VERSION RUNNER CALLER STARTED\n"
    "ENDED LINES. LINES is '-' where you may not read the request's logs (you\n"
    "called it and the app's logs are private). json objects hold request_id,\n"
    "runner_id, app_id, version_id, source, caller, state, started, ended,\n"
    "lines, and error, error_type and queue_position (null when absent).\n"
    "\n"
    "Examples:\n"
    "  logtap requests list --state IN_PROGRESS\n"
    "  logtap requests list --app demo --caller alice --since 1d\n"
    "  logtap requests list --all --json | jq -r .request_id\n";

static void runner_row(json_t *item, char **cells)
{
    static const char *const keys[] = {"runner_id", "app_id",    "version_id", "source",
                                       "started",   "last_seen", "lines"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cells[i] = field_text_new(item, keys[i]);
}

static void request_row(json_t *item, char **cells)
{
    static const char *const keys[] = {"request_id", "state",   "app_id", "version_id", "runner_id",
                                       "caller",     "started", "ended",  "lines"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cells[i] = field_text_new(item, keys[i]);
}

static const char *const runner_header[] = {"RUNNER",  "APP",       "VERSION", "SOURCE",
                                            "STARTED", "LAST-SEEN", "LINES"};
static const char *const request_header[] = {"REQUEST", "STATE",   "APP",   "VERSION", "RUNNER",
                                             "CALLER",  "STARTED", "ENDED", "LINES"};

static const struct list_kind runners_kind = {
    "logtap runners list", "runners", runners_list_usage, false, runner_header, 7, runner_row,
};
static const struct list_kind requests_kind = {
    "logtap requests list", "requests", requests_list_usage, true, request_header, 9, request_row,
};

static int add_value(const struct list_kind *k, struct list_args *a, int filter, const char *option,
                     const char *value)
{
    if (!value[0])
        return usage_error(k->command, "--%s must not be empty", option);
    if (a->counts[filter] == MAX_VALUES)
        return usage_error(k->command, "--%s: at most %d values", option, MAX_VALUES);
    a->values[filter][a->counts[filter]++] = value;
    return LT_EXIT_OK;
}

static int check_time(const struct list_kind *k, const char *option, const char *text, int64_t now_ns,
                      int64_t *out)
{
    if (lt_time_parse(text, now_ns, out) == 0)
        return LT_EXIT_OK;
    return usage_error(k->command,
                       "invalid %s '%s': use a duration back from now (30s, 30m, 1h, 2d, 1w), an RFC 3339 "
                       "time (2026-11-25T14:38:06Z) or a date (2026-11-25)",
                       option, text);
}

/* Returns LT_EXIT_OK, an exit code, or -1 after printing the help. */
static int parse_list_args(const struct list_kind *k, struct cli_globals *g, struct list_args *a, int argc,
                           char **argv)
{
    static const struct option options[] = {
        {"app", required_argument, NULL, OPT_APP},
        {"version", required_argument, NULL, OPT_VERSION},
        {"source", required_argument, NULL, OPT_SOURCE},
        {"state", required_argument, NULL, OPT_STATE},
        {"caller", required_argument, NULL, OPT_CALLER},
        {"runner", required_argument, NULL, OPT_RUNNER},
        {"since", required_argument, NULL, OPT_SINCE},
        {"until", required_argument, NULL, OPT_UNTIL},
        {"limit", required_argument, NULL, 'n'},
        {"all", no_argument, NULL, OPT_ALL},
        {"output", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, OPT_JSON},
        CLI_GLOBAL_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    a->rows = DEFAULT_ROWS;
    a->output = OUTPUT_TEXT;
    int opt, code = LT_EXIT_OK;
    prepare_subcommand_argv(argv);
    while (code == LT_EXIT_OK && (opt = getopt_long(argc, argv, "n:o:h", options, NULL)) != -1) {
        bool requests_only = opt == OPT_STATE || opt == OPT_CALLER || opt == OPT_RUNNER;
        if (requests_only && !k->requests)
            return usage_error(k->command, "--%s applies to 'logtap requests list' only",
                               opt == OPT_STATE    ? "state"
                               : opt == OPT_CALLER ? "caller"
                                                   : "runner");
        switch (opt) {
        case OPT_APP: code = add_value(k, a, LF_APP, "app", optarg); break;
        case OPT_VERSION: code = add_value(k, a, LF_VERSION, "version", optarg); break;
        case OPT_SOURCE:
            if (!lt_source_name_ok(optarg))
                code = usage_error(k->command, "invalid --source '%s': use run, gateway or deploy", optarg);
            else
                code = add_value(k, a, LF_SOURCE, "source", optarg);
            break;
        case OPT_STATE:
            if (strcasecmp(optarg, "IN_PROGRESS") != 0 && strcasecmp(optarg, "COMPLETED") != 0 &&
                strcasecmp(optarg, "IN_QUEUE") != 0)
                code = usage_error(k->command, "invalid --state '%s': use IN_QUEUE, IN_PROGRESS or COMPLETED",
                                   optarg);
            else
                code = add_value(k, a, LF_STATE, "state", optarg);
            break;
        case OPT_CALLER: code = add_value(k, a, LF_CALLER, "caller", optarg); break;
        case OPT_RUNNER: code = add_value(k, a, LF_RUNNER, "runner", optarg); break;
        case OPT_SINCE: a->since = optarg; break;
        case OPT_UNTIL: a->until = optarg; break;
        case 'n':
            if (!is_all_digits(optarg) || strlen(optarg) > 9 || atoll(optarg) == 0)
                code = usage_error(k->command, "invalid --limit '%s': use a number of at least 1", optarg);
            else
                a->rows = atoll(optarg);
            break;
        case OPT_ALL: a->rows = -1; break;
        case 'o': code = parse_output_format(k->command, optarg, &a->output); break;
        case OPT_JSON: a->output = OUTPUT_JSON; break;
        case OPT_SERVER:
        case OPT_TOKEN: code = cli_global_option(opt, optarg, g, k->command); break;
        case 'h': fputs(k->usage, stdout); return -1;
        default: return option_error(k->command);
        }
    }
    if (code != LT_EXIT_OK)
        return code;
    if ((code = take_no_operands(k->command, argc, argv)) != LT_EXIT_OK)
        return code;
    int64_t now_ns = lt_time_now_ns(), since_ns = 0, until_ns = 0;
    if (a->since && (code = check_time(k, "--since", a->since, now_ns, &since_ns)) != LT_EXIT_OK)
        return code;
    if (a->until && (code = check_time(k, "--until", a->until, now_ns, &until_ns)) != LT_EXIT_OK)
        return code;
    if (a->since && a->until && since_ns >= until_ns)
        return usage_error(k->command, "--since '%s' is not before --until '%s'", a->since, a->until);
    return LT_EXIT_OK;
}

static char *list_url_new(const struct collector *c, const struct list_kind *k, const struct list_args *a,
                          long long limit, const char *cursor)
{
    lt_buf url = {0};
    lt_buf_appendf(&url, "%s/v1/%s", c->server, k->collection);
    for (int f = 0; f < LF_COUNT; f++)
        for (int i = 0; i < a->counts[f]; i++)
            append_query_param(&url, list_filter_params[f], a->values[f][i]);
    if (a->since)
        append_query_param(&url, "since", a->since);
    if (a->until)
        append_query_param(&url, "until", a->until);
    append_query_number(&url, "limit", limit);
    if (cursor)
        append_query_param(&url, "cursor", cursor);
    return lt_buf_detach(&url);
}

static int run_list_command(const struct list_kind *k, struct cli_globals *g, int argc, char **argv)
{
    struct list_args a;
    int code = parse_list_args(k, g, &a, argc, argv);
    if (code < 0)
        return LT_EXIT_OK; /* --help */
    if (code != LT_EXIT_OK)
        return code;
    struct collector c;
    if ((code = collector_open(&c, g)) != LT_EXIT_OK)
        return code;
    struct table t = {.columns = k->columns};
    if (a.output == OUTPUT_TEXT)
        header_row(&t, k->header);
    char *cursor = NULL;
    long long printed = 0;
    while (code == LT_EXIT_OK && (a.rows < 0 || printed < a.rows)) {
        long long want =
            a.rows < 0 || a.rows - printed > SERVER_PAGE_MAX ? SERVER_PAGE_MAX : a.rows - printed;
        char *url = list_url_new(&c, k, &a, want, cursor);
        json_t *answer = NULL;
        code = fetch_json(&c, NULL, url, &answer);
        free(url);
        json_t *items = json_object_get(answer, k->collection);
        if (code == LT_EXIT_OK && !json_is_array(items))
            code = report_unexpected_answer(&c, "no \"%s\" array", k->collection);
        if (code != LT_EXIT_OK) {
            json_decref(answer);
            break;
        }
        size_t i;
        json_t *item;
        json_array_foreach(items, i, item)
        {
            if (a.output == OUTPUT_JSON) {
                print_json_line(item, JSON_COMPACT);
            } else {
                char *cells[TABLE_MAX_COLUMNS];
                k->row(item, cells);
                table_add(&t, cells);
            }
            printed++;
        }
        const char *next = json_string_value(json_object_get(answer, "next_cursor"));
        free(cursor);
        cursor = next ? strdup(next) : NULL;
        if (next && !cursor)
            die_out_of_memory();
        size_t got = json_array_size(items); /* items belongs to answer */
        json_decref(answer);
        if (!cursor || got == 0)
            break;
    }
    free(cursor);
    if (code == LT_EXIT_OK) {
        table_print_and_free(&t);
    } else { /* nothing of a failed list is printed */
        for (size_t i = 0; i < t.rows * t.columns; i++)
            free(t.cells[i]);
        free(t.cells);
    }
    collector_close(&c);
    return finish_stdout(code, 0);
}

int cmd_runners_list(struct cli_globals *g, int argc, char **argv)
{
    return run_list_command(&runners_kind, g, argc, argv);
}

int cmd_requests_list(struct cli_globals *g, int argc, char **argv)
{
    return run_list_command(&requests_kind, g, argc, argv);
}
