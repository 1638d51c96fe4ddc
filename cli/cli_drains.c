/* cli_drains.c -- `logtap drains add|list|remove`: an app's log drains
 * (doc/http-api.md, "Log drains").
 *
 * Why it looks the way it does:
 * - `drains add` prints the drain's ID on the first line and its signing
 *   secret on the second, and nothing else on stdout: the collector shows
 *   the secret only once, and a script takes both with two `read`s.
 * - Kinds, URLs' schemes and filter values are checked before any request
 *   (exit 2) by the rules the collector applies; the collector checks
 *   again, and also where the URL's host resolves to.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "cli_http.h"
#include "cli_text.h"
#include "level.h"

enum { OPT_KIND = 1000, OPT_URL, OPT_SCOPE_FILTER, OPT_ALLOW_LOOPBACK };

static const char add_usage[] =
    "Usage: logtap drains add APP --kind ndjson|otlp|syslog --url URL [FILTERS]\n"
    "\n"
    "Attach a log drain to APP: the collector pushes every new line of the app\n"
    "that the filters take to URL, at least once and in order. Prints the\n"
    "drain's ID, then its signing secret (shown only this once).\n"
    "\n"
    "Kinds and their URLs:\n"
    "  ndjson   https://... (or http:// to a loopback or private address): one\n"
    "           JSON entry a line, signed with HMAC-SHA256 (X-Logtap-Signature)\n"
    "  otlp     https://.../v1/logs (or http://...): OTLP/HTTP JSON logs\n"
    "  syslog   tls://HOST:PORT or tcp://HOST:PORT (loopback or private):\n"
    "           RFC 5424 with octet counting\n"
    "\n"
    "Options:\n"
    "      --kind KIND      ndjson, otlp or syslog (required)\n"
    "      --url URL        the destination (required)\n"
    "      --scope SCOPE    runner (default: every line) or request (only lines\n"
    "                       written inside requests)\n"
    "      --runner ID      only this runner's lines\n"
    "      --source S       only lines of this source (run, gateway, deploy)\n"
    "      --level LEVEL    only lines at this level or above\n"
    "      --allow-loopback let the drain reach the collector's own loopback\n"
    "                       ports (admin only)\n"
    "      --output FORMAT  text (default) or json: the collector's object\n" CLI_GLOBAL_OPTIONS_HELP
    "  -h, --help           show this help\n";

static const char list_usage[] =
    "Usage: logtap drains list [APP] [--output text|json]\n"
    "\n"
    "List the drains of APP, or of every app you manage, with what each has\n"
    "delivered and its state.\n"
    "\n"
    "Options:\n"
    "      --output FORMAT  text (default) or json: one JSON object a line\n" CLI_GLOBAL_OPTIONS_HELP
    "  -h, --help           show this help\n";

static const char remove_usage[] =
    "Usage: logtap drains remove DRAIN_ID\n"
    "\n"
    "Remove a drain: it stops sending within a second.\n"
    "\n"
    "Options:\n" CLI_GLOBAL_OPTIONS_HELP "  -h, --help           show this help\n";

static const struct option add_options[] = {
    {"kind", required_argument, NULL, OPT_KIND},
    {"url", required_argument, NULL, OPT_URL},
    {"scope", required_argument, NULL, OPT_SCOPE_FILTER},
    {"runner", required_argument, NULL, OPT_RUNNER},
    {"source", required_argument, NULL, OPT_SOURCE},
    {"level", required_argument, NULL, OPT_LEVEL},
    {"allow-loopback", no_argument, NULL, OPT_ALLOW_LOOPBACK},
    {"output", required_argument, NULL, OPT_OUTPUT},
    CLI_GLOBAL_OPTIONS,
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct option list_options[] = {
    {"output", required_argument, NULL, OPT_OUTPUT},
    CLI_GLOBAL_OPTIONS,
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct option remove_options[] = {
    CLI_GLOBAL_OPTIONS,
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void die_oom(void)
{
    fputs("logtap: out of memory\n", stderr);
    exit(LT_EXIT_FAILED);
}

int cmd_drains_add(struct cli_globals *g, int argc, char **argv)
{
    const char *command = "logtap drains add";
    const char *kind = NULL, *url = NULL, *scope = NULL, *runner = NULL, *source = NULL, *level = NULL;
    int allow_loopback = 0, code, opt;
    enum output_format output = OUTPUT_TEXT;
    prepare_subcommand_argv(argv);
    while ((opt = getopt_long(argc, argv, "h", add_options, NULL)) != -1) {
        switch (opt) {
        case 'h': fputs(add_usage, stdout); return LT_EXIT_OK;
        case OPT_KIND: kind = optarg; break;
        case OPT_URL: url = optarg; break;
        case OPT_SCOPE_FILTER: scope = optarg; break;
        case OPT_RUNNER: runner = optarg; break;
        case OPT_SOURCE: source = optarg; break;
        case OPT_LEVEL: level = optarg; break;
        case OPT_ALLOW_LOOPBACK: allow_loopback = 1; break;
        case OPT_OUTPUT:
            if ((code = parse_output_format(command, optarg, &output)) != LT_EXIT_OK)
                return code;
            break;
        case '?': return option_error(command);
        default:
            if ((code = cli_global_option(opt, optarg, g, command)) != LT_EXIT_OK)
                return code;
        }
    }
    const char *app;
    if ((code = take_one_operand(command, "APP", argc, argv, &app)) != LT_EXIT_OK)
        return code;
    if (!lt_wire_id_ok(app, strlen(app)))
        return usage_error(command, "invalid APP '%s': an ID is 1..%d printable ASCII characters, no '/'",
                           app, LT_WIRE_MAX_ID);
    if (kind == NULL ||
        (strcmp(kind, "ndjson") != 0 && strcmp(kind, "otlp") != 0 && strcmp(kind, "syslog") != 0))
        return usage_error(command, "--kind is ndjson, otlp or syslog");
    if (url == NULL)
        return usage_error(command, "missing --url");
    bool syslog = strcmp(kind, "syslog") == 0;
    if (syslog ? strncmp(url, "tcp://", 6) != 0 && strncmp(url, "tls://", 6) != 0
               : strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
        return usage_error(command, "a %s drain's --url is %s", kind,
                           syslog ? "tcp://HOST:PORT or tls://HOST:PORT" : "https://... or http://...");
    if (scope != NULL && strcmp(scope, "runner") != 0 && strcmp(scope, "request") != 0)
        return usage_error(command, "--scope is runner or request");
    if (runner != NULL && !lt_wire_id_ok(runner, strlen(runner)))
        return usage_error(command, "invalid --runner '%s'", runner);
    if (source != NULL && !lt_source_name_ok(source))
        return usage_error(command, "--source is run, gateway or deploy");
    if (level != NULL && lt_level_parse(level) < 0)
        return usage_error(command, "--level is TRACE, DEBUG, INFO, STDOUT, WARN, STDERR or ERROR");

    json_t *body = json_pack("{s:s, s:s}", "kind", kind, "url", url);
    if (body == NULL)
        die_oom();
    if (scope)
        json_object_set_new(body, "scope", json_string(scope));
    if (runner)
        json_object_set_new(body, "runner", json_string(runner));
    if (source)
        json_object_set_new(body, "source", json_string(source));
    if (level)
        json_object_set_new(body, "level", json_string(level));
    if (allow_loopback)
        json_object_set_new(body, "allow_loopback", json_true());
    struct collector c;
    if ((code = collector_open(&c, g)) != LT_EXIT_OK) {
        json_decref(body);
        return code;
    }
    lt_buf u = {0};
    append_resource_url(&u, &c, "apps", app, "drains");
    const struct target t = {"app", app};
    json_t *created = NULL;
    code = collector_request(&c, "POST", u.data, body, &t, &created);
    json_decref(body);
    lt_buf_release(&u);
    if (code == LT_EXIT_OK) {
        const char *id = json_string_value(json_object_get(created, "id"));
        const char *secret = json_string_value(json_object_get(created, "secret"));
        if (output == OUTPUT_JSON) {
            print_json_line(created, JSON_COMPACT);
        } else if (id == NULL || secret == NULL) {
            code = report_unexpected_answer(&c, "no drain ID or secret");
        } else {
            printf("%s\n%s\n", id, secret);
            fputs("logtap: the second line is the drain's signing secret; it is not shown again\n", stderr);
        }
    }
    json_decref(created);
    collector_close(&c);
    return finish_stdout(code, 0);
}

static char *text_field(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    char number[64];
    const char *text = "-";
    if (json_is_string(v))
        text = json_string_value(v);
    else if (json_is_integer(v))
        snprintf(number, sizeof number, "%lld", (long long)json_integer_value(v)), text = number;
    else if (json_is_real(v))
        snprintf(number, sizeof number, "%.1f", json_real_value(v)), text = number;
    char *out = terminal_safe_copy(text);
    if (out == NULL)
        die_oom();
    return out;
}

int cmd_drains_list(struct cli_globals *g, int argc, char **argv)
{
    const char *command = "logtap drains list";
    enum output_format output = OUTPUT_TEXT;
    int code, opt;
    prepare_subcommand_argv(argv);
    while ((opt = getopt_long(argc, argv, "h", list_options, NULL)) != -1) {
        switch (opt) {
        case 'h': fputs(list_usage, stdout); return LT_EXIT_OK;
        case OPT_OUTPUT:
            if ((code = parse_output_format(command, optarg, &output)) != LT_EXIT_OK)
                return code;
            break;
        case '?': return option_error(command);
        default:
            if ((code = cli_global_option(opt, optarg, g, command)) != LT_EXIT_OK)
                return code;
        }
    }
    const char *app = NULL;
    if (optind < argc) {
        if ((code = take_one_operand(command, "APP", argc, argv, &app)) != LT_EXIT_OK)
            return code;
        if (!lt_wire_id_ok(app, strlen(app)))
            return usage_error(command, "invalid APP '%s'", app);
    }
    struct collector c;
    if ((code = collector_open(&c, g)) != LT_EXIT_OK)
        return code;
    lt_buf u = {0};
    if (app != NULL)
        append_resource_url(&u, &c, "apps", app, "drains");
    else
        lt_buf_appendf(&u, "%s/v1/drains", c.server);
    const struct target t = {"app", app};
    json_t *answer = NULL;
    code = fetch_json(&c, app != NULL ? &t : NULL, u.data, &answer);
    lt_buf_release(&u);
    json_t *drains = json_object_get(answer, "drains");
    if (code == LT_EXIT_OK && !json_is_array(drains))
        code = report_unexpected_answer(&c, "no drains list");
    if (code == LT_EXIT_OK) {
        static const char *const columns[] = {"id",         "app_id",    "kind", "state",
                                              "lines_sent", "lag_lines", "url"};
        if (output == OUTPUT_TEXT)
            printf("%-22s %-16s %-7s %-9s %10s %9s  %s\n", "ID", "APP", "KIND", "STATE", "SENT", "LAG",
                   "URL");
        size_t i;
        json_t *d;
        json_array_foreach(drains, i, d)
        {
            if (output == OUTPUT_JSON) {
                print_json_line(d, JSON_COMPACT);
                continue;
            }
            char *cells[7];
            for (int k = 0; k < 7; k++)
                cells[k] = text_field(d, columns[k]);
            printf("%-22s %-16s %-7s %-9s %10s %9s  %s\n", cells[0], cells[1], cells[2], cells[3], cells[4],
                   cells[5], cells[6]);
            for (int k = 0; k < 7; k++)
                free(cells[k]);
        }
    }
    json_decref(answer);
    collector_close(&c);
    return finish_stdout(code, 0);
}

int cmd_drains_remove(struct cli_globals *g, int argc, char **argv)
{
    const char *command = "logtap drains remove";
    int code, opt;
    prepare_subcommand_argv(argv);
    while ((opt = getopt_long(argc, argv, "h", remove_options, NULL)) != -1) {
        switch (opt) {
        case 'h': fputs(remove_usage, stdout); return LT_EXIT_OK;
        case '?': return option_error(command);
        default:
            if ((code = cli_global_option(opt, optarg, g, command)) != LT_EXIT_OK)
                return code;
        }
    }
    const char *id;
    if ((code = take_one_operand(command, "DRAIN_ID", argc, argv, &id)) != LT_EXIT_OK)
        return code;
    if (!lt_wire_id_ok(id, strlen(id)))
        return usage_error(command, "invalid DRAIN_ID '%s'", id);
    struct collector c;
    if ((code = collector_open(&c, g)) != LT_EXIT_OK)
        return code;
    lt_buf u = {0};
    append_resource_url(&u, &c, "drains", id, NULL);
    const struct target t = {"drain", id};
    json_t *answer = NULL;
    code = collector_request(&c, "DELETE", u.data, NULL, &t, &answer);
    lt_buf_release(&u);
    if (code == LT_EXIT_OK)
        printf("removed %s\n", id);
    json_decref(answer);
    collector_close(&c);
    return finish_stdout(code, 0);
}
