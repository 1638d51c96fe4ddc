/* cli_requests.c -- the request lifecycle commands: `logtap requests
 * enqueue` (the gateway's announcement) and `logtap requests status
 * --stream` (fal's status stream, one status document a line).
 *
 * Why it looks the way it does:
 * - enqueue is one PUT /v1/requests/{id}; it prints the status the
 *   collector answers (IN_QUEUE and its queue_position), so a gateway
 *   script can check what it announced.
 * - The status stream prints each event's document as it arrives (one
 *   JSON object a line, compact: a line is an event) and ends with exit 0
 *   when the collector closes the stream after COMPLETED. It does not
 *   reconnect: the stream is short-lived, and a caller that lost it asks
 *   again (the first event of a new stream is the current state).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_http.h"
#include "cli_requests.h"
#include "cli_sse.h"

/* ---- logtap requests enqueue ---- */

static const char enqueue_usage[] =
    "Usage: logtap requests enqueue REQUEST_ID --app APP [--caller USER] [OPTIONS]\n"
    "\n"
    "Announce request REQUEST_ID to the collector, as the gateway that queued\n"
    "it: from now on it is IN_QUEUE (with its queue_position among APP's\n"
    "queued requests), its status and follow streams answer at once, and only\n"
    "APP's runners may begin it. Prints the request's status as JSON.\n"
    "Announcing a request again for the same app (and caller) changes nothing.\n"
    "\n"
    "Options:\n"
    "      --app APP        the app that will serve the request (required); you\n"
    "                       must own it (or be admin)\n"
    "      --caller USER    the user on whose behalf it runs, who may read its\n"
    "                       status and logs; a runner's BEGIN cannot change it\n" CLI_GLOBAL_OPTIONS_HELP
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 announced, 1 the request belongs to another app or caller,\n"
    "or a collector error, 2 usage error, 3 collector unreachable, 4 no usable\n"
    "token or not allowed.\n"
    "\n"
    "Example:\n"
    "  logtap requests enqueue req-7 --app demo --caller alice\n";

int cmd_requests_enqueue(struct cli_globals *g, int argc, char **argv)
{
    static const char command[] = "logtap requests enqueue";
    static const struct option options[] = {
        {"app", required_argument, NULL, OPT_APP},
        {"caller", required_argument, NULL, OPT_CALLER},
        CLI_GLOBAL_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *id = NULL, *app = NULL, *caller = NULL;
    int opt, code = LT_EXIT_OK;

    prepare_subcommand_argv(argv);
    while (code == LT_EXIT_OK && (opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_APP: app = optarg; break;
        case OPT_CALLER: caller = optarg; break;
        case OPT_SERVER:
        case OPT_TOKEN: code = cli_global_option(opt, optarg, g, command); break;
        case 'h': fputs(enqueue_usage, stdout); return LT_EXIT_OK;
        default: return option_error(command);
        }
    }
    if (code == LT_EXIT_OK)
        code = take_one_operand(command, "REQUEST_ID", argc, argv, &id);
    if (code != LT_EXIT_OK)
        return code;
    if (app == NULL)
        return usage_error(command, "missing --app APP");
    if (!lt_wire_id_ok(app, strlen(app)))
        return usage_error(command, "--app: expected an ID (1..%d printable ASCII characters, no '/')",
                           LT_WIRE_MAX_ID);
    if (caller != NULL && !lt_wire_id_ok(caller, strlen(caller)))
        return usage_error(command,
                           "--caller: expected a user name (1..%d printable ASCII characters, no '/')",
                           LT_WIRE_MAX_ID);

    struct collector c;
    if ((code = collector_open(&c, g)) != LT_EXIT_OK)
        return code;
    lt_buf url = {0};
    append_resource_url(&url, &c, "requests", id, NULL);
    json_t *body = json_pack("{s:s}", "app", app);
    if (body != NULL && caller != NULL)
        json_object_set_new(body, "caller", json_string(caller));
    const struct target t = {"request", id};
    json_t *status = NULL;
    code = collector_request(&c, "PUT", url.data, body, &t, &status);
    if (code == LT_EXIT_OK) {
        print_json_line(status, JSON_INDENT(2));
        code = finish_stdout(code, 0);
    }
    json_decref(status);
    json_decref(body);
    lt_buf_release(&url);
    collector_close(&c);
    return code;
}

/* ---- logtap requests status --stream ---- */

struct status_stream {
    struct sse_parser parser;
    bool completed;   /* a COMPLETED document was printed */
    bool bad_event;   /* not a JSON object */
    lt_buf error;     /* the body of a refusal */
    long http_status; /* 0 until the headers are in */
    CURL *curl;
};

static int on_status_document(void *ctx, const char *type, const char *data, size_t len, const char *id)
{
    struct status_stream *s = ctx;
    (void)id;
    if (strcmp(type, "message") != 0)
        return 0; /* a type this version does not know: skipped */
    json_error_t error;
    json_t *doc = json_loadb(data, len, 0, &error);
    if (!json_is_object(doc)) {
        json_decref(doc);
        s->bad_event = true;
        return -1;
    }
    const char *state = json_string_value(json_object_get(doc, "status"));
    if (state != NULL && strcmp(state, "COMPLETED") == 0)
        s->completed = true;
    print_json_line(doc, JSON_COMPACT);
    fflush(stdout);
    json_decref(doc);
    return 0;
}

static size_t status_stream_write(char *data, size_t size, size_t count, void *ctx)
{
    struct status_stream *s = ctx;
    size_t n = size * count;
    if (s->http_status == 0)
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->http_status);
    if (s->http_status != 200) {
        if (s->error.len + n <= (64u << 10))
            lt_buf_append(&s->error, data, n);
        return n;
    }
    return sse_feed(&s->parser, data, n) == 0 ? n : 0;
}

int requests_status_stream(struct collector *c, const char *id, bool with_logs, long long wait_s)
{
    lt_buf url = {0};
    append_resource_url(&url, c, "requests", id, "status/stream");
    if (with_logs)
        append_query_param(&url, "logs", "1");
    if (wait_s >= 0)
        append_query_number(&url, "wait", wait_s);

    struct status_stream s = {.curl = c->curl};
    s.parser.on_event = on_status_document;
    s.parser.ctx = &s;
    struct curl_slist *headers = collector_headers_new(c);
    headers = header_append(headers, "Accept: text/event-stream");
    curl_easy_setopt(c->curl, CURLOPT_URL, url.data);
    curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 0L);
    /* Keepalives come every 15 s; before the headers, the collector may
     * wait for the request to appear (wait=, 60 s by default). */
    curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_TIME, (long)((wait_s >= 0 ? wait_s : 60) + 45));
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, status_stream_write);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &s);
    CURLcode rc = curl_easy_perform(c->curl);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    if (s.http_status == 0)
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &s.http_status);

    int code = LT_EXIT_OK;
    const struct target t = {"request", id};
    if (s.bad_event) {
        fprintf(stderr, "logtap: the collector at %s sent an event that is not a status document\n",
                c->server);
        code = LT_EXIT_FAILED;
    } else if (s.http_status != 0 && s.http_status != 200) {
        code = report_http_error(c, &t, s.http_status, &s.error);
    } else if (s.completed) {
        code = finish_stdout(LT_EXIT_OK, 0);
    } else if (rc != CURLE_OK) {
        code = report_unreachable(c, rc);
    } else {
        fprintf(stderr, "logtap: the collector at %s ended the stream before the request completed\n",
                c->server);
        code = LT_EXIT_FAILED;
    }
    sse_release(&s.parser);
    lt_buf_release(&s.error);
    lt_buf_release(&url);
    return code;
}
