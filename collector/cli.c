/* cli.c -- the `logtap` command-line tool.
 *
 * This file owns everything a person types: option parsing and help text for
 * every command; `runners logs`, `requests logs` and `requests status`, which
 * are thin clients of the collector's HTTP API (doc/http-api.md); and `run`,
 * which execs a command under liblogtap.so.
 *
 * Why it looks the way it does:
 * - Log text is untrusted: any runner can print anything, including escape
 *   sequences aimed at the terminal of whoever reads its logs. Text output
 *   therefore shows control bytes as \xNN; only --raw and --output json hand
 *   the text on, and only because the user asked.
 * - Follow mode is one long server-sent-events response, parsed as it
 *   arrives in the libcurl write callback. After a drop it reconnects with
 *   Last-Event-ID, and it never prints an entry whose id it has already
 *   printed, so a follower sees neither a gap nor a repeat.
 * - `run` execs instead of spawning a child, so the command keeps its pid,
 *   exit status, signals and file descriptors; logtap only prepares the
 *   environment. It touches nothing else (no curl, no signal dispositions)
 *   because the command would inherit it. `run --catch-all` has to stay
 *   and supervise (catchall_run.c).
 * - --since/--until are checked with the collector's own parser
 *   (common/timefmt.c) so mistakes are caught before any network traffic,
 *   but the original text is sent: the server stays the one authority.
 */

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "catchall_run.h"
#include "logtap_wire.h"
#include "timefmt.h"

#ifndef LOGTAP_VERSION
#define LOGTAP_VERSION "0.1.0"
#endif
#ifndef LT_LIBDIR
#define LT_LIBDIR "/usr/local/lib"
#endif

#define PRELOAD_NAME "liblogtap.so"
#define DEFAULT_SERVER "http://" LT_DEFAULT_HTTP

enum lt_exit {
    LT_EXIT_OK = 0,
    LT_EXIT_FAILED = 1,      /* not found, server error, local failure */
    LT_EXIT_USAGE = 2,
    LT_EXIT_UNREACHABLE = 3,
};

/* `run` mimics a shell when the command cannot be started. */
#define RUN_EXIT_NOT_FOUND 127
#define RUN_EXIT_NOT_EXECUTABLE 126

#define CONNECT_TIMEOUT_S 5L
#define REQUEST_TIMEOUT_S 60L
/* The server sends a keepalive comment every 15 s: three missed ones mean
 * the connection is dead even if TCP has not noticed. */
#define FOLLOW_STALL_S 45L
#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS 5000

#define PAGE_LINES 10000         /* lines per page when fetching everything */
#define SERVER_MAX_LIMIT 100000  /* the server's cap on `limit` */
#define LINES_MAX 1000000000LL   /* anything larger in -n is a typo */
#define MAX_EVENT_BYTES (64u << 20)
#define MAX_ERROR_BODY (64u << 10)

/* ------------------------------------------------------------------------ */
/* Growable strings                                                         */
/* ------------------------------------------------------------------------ */

/* Always NUL-terminated once anything was appended; owns `data`. */
struct strbuf {
    char *data;
    size_t len;
    size_t cap;
};

static void die_out_of_memory(void) {
    fputs("logtap: out of memory\n", stderr);
    exit(LT_EXIT_FAILED);
}

static void strbuf_reserve(struct strbuf *sb, size_t extra) {
    if (sb->len + extra + 1 <= sb->cap) return;
    size_t cap = sb->cap ? sb->cap : 256;
    while (cap < sb->len + extra + 1) cap *= 2;
    char *data = realloc(sb->data, cap);
    if (!data) die_out_of_memory();
    sb->data = data;
    sb->cap = cap;
}

static void strbuf_append(struct strbuf *sb, const void *bytes, size_t len) {
    strbuf_reserve(sb, len);
    if (len) memcpy(sb->data + sb->len, bytes, len);
    sb->len += len;
    sb->data[sb->len] = '\0';
}

static void strbuf_append_str(struct strbuf *sb, const char *s) {
    strbuf_append(sb, s, strlen(s));
}

static void strbuf_append_byte(struct strbuf *sb, char c) {
    strbuf_append(sb, &c, 1);
}

__attribute__((format(printf, 2, 3)))
static void strbuf_appendf(struct strbuf *sb, const char *fmt, ...) {
    va_list ap;
    strbuf_reserve(sb, 64);
    va_start(ap, fmt);
    int needed = vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap);
    va_end(ap);
    if (needed < 0) {
        sb->data[sb->len] = '\0';
        return;
    }
    if ((size_t)needed >= sb->cap - sb->len) {
        strbuf_reserve(sb, (size_t)needed);
        va_start(ap, fmt);
        vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap);
        va_end(ap);
    }
    sb->len += (size_t)needed;
}

static void strbuf_clear(struct strbuf *sb) {
    sb->len = 0;
    if (sb->data) sb->data[0] = '\0';
}

static void strbuf_release(struct strbuf *sb) {
    free(sb->data);
    sb->data = NULL;
    sb->len = sb->cap = 0;
}

/* Hands the buffer to the caller, who frees it. */
static char *strbuf_detach(struct strbuf *sb) {
    if (!sb->data) strbuf_append(sb, "", 0);
    char *data = sb->data;
    sb->data = NULL;
    sb->len = sb->cap = 0;
    return data;
}

/* ------------------------------------------------------------------------ */
/* Making untrusted text safe for a terminal                                */
/* ------------------------------------------------------------------------ */

/* Length of a complete SGR sequence (ESC [ digits/semicolons m) at `s`, or
 * 0. Only colour and style can come through: every other escape sequence can
 * move the cursor, retitle the window or worse. */
static size_t sgr_length(const unsigned char *s, size_t len) {
    if (len < 3 || s[0] != 0x1b || s[1] != '[') return 0;
    for (size_t i = 2; i < len; i++) {
        if (s[i] == 'm') return i + 1;
        if (!isdigit(s[i]) && s[i] != ';') return 0;
    }
    return 0;
}

static bool is_c0_or_del(unsigned char c) {
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* U+0080..U+009F encoded as UTF-8: some terminals act on these C1 controls
 * (U+009B is a one-character CSI). */
static bool is_utf8_c1(const unsigned char *s, size_t len) {
    return len >= 2 && s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f;
}

static void append_terminal_safe(struct strbuf *out, const char *text,
                                 size_t len, bool keep_sgr) {
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        size_t sgr = keep_sgr ? sgr_length(s + i, len - i) : 0;
        if (sgr) {
            strbuf_append(out, s + i, sgr);
            i += sgr;
        } else if (is_utf8_c1(s + i, len - i)) {
            strbuf_appendf(out, "\\x%02x\\x%02x", s[i], s[i + 1]);
            i += 2;
        } else if (is_c0_or_del(s[i])) {
            strbuf_appendf(out, "\\x%02x", s[i]);
            i++;
        } else {
            strbuf_append_byte(out, (char)s[i]);
            i++;
        }
    }
}

/* For echoing IDs and server messages in diagnostics. Caller frees. */
static char *terminal_safe_copy(const char *text) {
    struct strbuf sb = {0};
    append_terminal_safe(&sb, text, strlen(text), false);
    return strbuf_detach(&sb);
}

/* ------------------------------------------------------------------------ */
/* Usage text                                                               */
/* ------------------------------------------------------------------------ */

static const char main_usage[] =
"Usage: logtap [--server URL] COMMAND [ARGS...]\n"
"\n"
"Read the stdout/stderr lines that logtap-collector captured from runners,\n"
"or run a command with its output captured.\n"
"\n"
"Commands:\n"
"  runners logs RUNNER_ID      every line a runner wrote, over its lifetime\n"
"  requests logs REQUEST_ID    the lines written while a request was served\n"
"  requests status REQUEST_ID  a request's status (fal's queue-status shape)\n"
"  run [OPTIONS] -- CMD ARGS   run CMD under liblogtap.so, output unchanged\n"
"\n"
"Options:\n"
"  --server URL  the collector's HTTP address (default: $LOGTAP_SERVER if\n"
"                set, else " DEFAULT_SERVER "); also accepted after\n"
"                a command\n"
"  -h, --help    show this help; 'logtap COMMAND --help' documents a command\n"
"  --version     print logtap's version\n"
"\n"
"Exit status:\n"
"  0  success\n"
"  1  unknown runner or request, or the collector reported an error\n"
"  2  usage error: bad option or argument\n"
"  3  the collector could not be reached\n"
"  'logtap run' exits with CMD's own status instead (127 when CMD is not\n"
"  found, 126 when it cannot be executed).\n"
"\n"
"Examples:\n"
"  logtap run --app demo -- python3 app.py\n"
"  logtap runners logs run-0f3a9c2e5b7d4e1a -n 50\n"
"  logtap requests logs req-7 --follow\n"
"  logtap --server http://10.0.0.5:8765 runners logs r-1 --since 1h --search oom\n"
"  LOGTAP_SERVER=http://10.0.0.5:8765 logtap requests status req-7 --logs\n";

static const char runners_usage[] =
"Usage: logtap runners logs RUNNER_ID [OPTIONS]\n"
"\n"
"Commands:\n"
"  logs RUNNER_ID  print or follow every line a runner wrote\n"
"\n"
"Run 'logtap runners logs --help' for its options.\n";

static const char requests_usage[] =
"Usage: logtap requests COMMAND REQUEST_ID [OPTIONS]\n"
"\n"
"Commands:\n"
"  logs REQUEST_ID    print or follow the lines written while serving a\n"
"                     request\n"
"  status REQUEST_ID  print a request's status (and its logs, with --logs)\n"
"\n"
"Run 'logtap requests COMMAND --help' for a command's options.\n";

/* The two log commands differ only in what they name. */
struct log_scope {
    const char *command;     /* "logtap runners logs" */
    const char *collection;  /* URL segment: /v1/<collection>/<id>/logs */
    const char *noun;        /* "runner" */
    const char *id_name;     /* "RUNNER_ID" */
    const char *summary;
    const char *example_id;
};

static const struct log_scope runner_scope = {
    "logtap runners logs", "runners", "runner", "RUNNER_ID",
    "Print every line runner RUNNER_ID wrote to stdout and stderr over its\n"
    "whole lifetime, oldest first.\n",
    "r-1",
};

static const struct log_scope request_scope = {
    "logtap requests logs", "requests", "request", "REQUEST_ID",
    "Print the lines written to stdout and stderr while request REQUEST_ID\n"
    "was being served (what its caller may see), oldest first.\n",
    "req-7",
};

static void print_logs_usage(FILE *out, const struct log_scope *s) {
    fprintf(out,
"Usage: %s %s [OPTIONS]\n"
"\n"
"%s"
"\n"
"Options:\n"
"  -f, --follow         after the existing lines, print new ones as they are\n"
"                       written, until interrupted (Ctrl-C); if the\n"
"                       connection drops it reconnects by itself, without\n"
"                       gaps or repeats\n"
"      --since T        only lines written at or after T\n"
"      --until T        only lines written before T\n"
"  -n, --lines N        only the newest N lines (with -f: then the new ones)\n"
"  -n, --lines +N       only the oldest N lines (not with -f)\n"
"      --search TEXT    only lines containing TEXT (case-sensitive)\n"
"      --output FORMAT  text (default) or json\n"
"      --raw            print only each message, byte for byte as the\n"
"                       program wrote it: no columns, no escaping\n"
"      --server URL     the collector's HTTP address (default:\n"
"                       $LOGTAP_SERVER if set, else " DEFAULT_SERVER ")\n"
"  -h, --help           show this help\n"
"\n"
"T is a duration back from now (30s, 30m, 1h, 2d, 1w), an RFC 3339 time\n"
"(2026-11-25T14:38:06Z, 2026-11-25T15:38:06.5+01:00) or a date (2026-11-25,\n"
"midnight UTC).\n"
"\n"
"Text output is one line per entry, TIMESTAMP STREAM REQUEST MESSAGE:\n"
"  2026-11-25T14:38:06.123456Z stdout req-7 hello\n"
"REQUEST is '-' outside requests and '?' on lines that 'logtap run --catch-all'\n"
"caught from a writer no one knows. Control characters in log text are shown\n"
"as \\xNN (tab is kept, and so are colours when stdout is a terminal), so\n"
"logs cannot take over your terminal. json output is each entry as the\n"
"collector sent it, one JSON object a line: timestamp, message, level,\n"
"stream, source, runner_id, request_id (null outside requests), app_id,\n"
"version_id, pid, tid, id, and \"unattributed\": true on lines marked '?'.\n"
"\n"
"Examples:\n"
"  %s %s\n"
"  %s %s -f -n 20\n"
"  %s %s --since 30m --until 10m --search Traceback\n"
"  %s %s -n +100 --output json | jq -r .message\n",
            s->command, s->id_name, s->summary,
            s->command, s->example_id, s->command, s->example_id,
            s->command, s->example_id, s->command, s->example_id);
}

static const char status_usage[] =
"Usage: logtap requests status REQUEST_ID [OPTIONS]\n"
"\n"
"Print request REQUEST_ID's status as JSON, in fal's queue-status shape:\n"
"{\"request_id\": ..., \"status\": \"IN_PROGRESS\" or \"COMPLETED\", \"logs\": [...]}\n"
"\n"
"Options:\n"
"      --logs        include the request's log lines (message, level, source,\n"
"                    timestamp of each)\n"
"      --server URL  the collector's HTTP address (default: $LOGTAP_SERVER\n"
"                    if set, else " DEFAULT_SERVER ")\n"
"  -h, --help        show this help\n"
"\n"
"Examples:\n"
"  logtap requests status req-7\n"
"  logtap requests status req-7 --logs | jq -r '.logs[].message'\n";

static void print_run_usage(FILE *out) {
    fprintf(out,
"Usage: logtap run [OPTIONS] [--] CMD [ARGS...]\n"
"\n"
"Run CMD with liblogtap.so preloaded, so that everything it and its children\n"
"write to stdout and stderr is sent to logtap-collector, while the output\n"
"still goes where it would have gone. logtap execs CMD: the exit status,\n"
"signals and file descriptors are CMD's own (with --catch-all logtap stays\n"
"as CMD's parent instead).\n"
"\n"
"Options:\n"
"      --runner ID    runner ID to log under (default: a new run-<16 hex>)\n"
"      --app A        app ID (sets LOGTAP_APP_ID)\n"
"      --version V    app version ID (sets LOGTAP_VERSION_ID)\n"
"      --source S     run (default), gateway or deploy (sets LOGTAP_SOURCE)\n"
"      --endpoint E   the collector's ZeroMQ endpoint (sets LOGTAP_ENDPOINT;\n"
"                     default: " LT_DEFAULT_ENDPOINT ")\n"
"      --catch-all    also catch what the preload cannot see (static\n"
"                     programs, raw write system calls, glibc's fatal\n"
"                     messages): CMD's stdout and stderr become pipes that\n"
"                     logtap reads, passes through and stores in the runner's\n"
"                     logs marked unattributed; logtap stays as CMD's parent,\n"
"                     forwards signals sent to it and exits as CMD did\n"
"  -q, --quiet        do not print the 'logtap: runner ID' line\n"
"  -h, --help         show this help\n"
"\n"
"When stderr is a terminal, 'logtap: runner ID' is printed there first;\n"
"never otherwise, so piped output stays byte-identical. liblogtap.so is\n"
"taken from $LOGTAP_PRELOAD, else from the directory of the logtap\n"
"executable, else from %s, and put first in LD_PRELOAD.\n"
"\n"
"With --catch-all, isatty() is false on CMD's stdout and stderr (they are\n"
"pipes); logtap waits until nothing holds them open any more (a\n"
"background process CMD left behind; Ctrl-C or SIGTERM then stops the\n"
"wait), and dies of the signal that killed CMD.\n"
"\n"
"Exit status: CMD's own; 127 if CMD is not found, 126 if it cannot be\n"
"executed, 1 if liblogtap.so cannot be found, 2 on a usage error.\n"
"\n"
"Examples:\n"
"  logtap run -- python3 app.py\n"
"  logtap run --runner dev-1 --app demo --version v3 -- ./server --port 8080\n"
"  logtap run -q -- sh -c 'echo hi; echo oops >&2'\n"
"  logtap run --catch-all -- ./build.sh      # static tools in it too\n"
"  logtap runners logs dev-1 -f     # meanwhile, in another terminal\n",
            LT_LIBDIR);
}

__attribute__((format(printf, 2, 3)))
static int usage_error(const char *command, const char *fmt, ...) {
    va_list ap;
    fputs("logtap: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help'.\n", command);
    return LT_EXIT_USAGE;
}

/* getopt has already printed what was wrong with the option. */
static int option_error(const char *command) {
    fprintf(stderr, "Try '%s --help'.\n", command);
    return LT_EXIT_USAGE;
}

/* Subcommands parse their own argv, whose [0] is the command word; getopt
 * prefixes its messages with argv[0], which should read as the program. */
static void prepare_subcommand_argv(char **argv) {
    static char program_name[] = "logtap";
    argv[0] = program_name;
    optind = 0; /* glibc: start over, re-reading the optstring flags */
    opterr = 1;
}

/* ------------------------------------------------------------------------ */
/* Talking to the collector                                                 */
/* ------------------------------------------------------------------------ */

struct collector {
    char *server; /* base URL, no trailing slash; owned */
    CURL *curl;
    char curl_error[CURL_ERROR_SIZE];
};

/* What a request was about, for the error messages. */
struct target {
    const char *noun; /* "runner" or "request" */
    const char *id;
};

/* Accepts "host:port" too, the form the collector's --http takes. */
static char *server_url_new(const char *flag_value) {
    const char *raw = flag_value;
    if (!raw) raw = getenv("LOGTAP_SERVER");
    if (!raw || !*raw) raw = DEFAULT_SERVER;
    struct strbuf url = {0};
    if (!strstr(raw, "://")) strbuf_append_str(&url, "http://");
    strbuf_append_str(&url, raw);
    while (url.len > 0 && url.data[url.len - 1] == '/') url.data[--url.len] = '\0';
    return strbuf_detach(&url);
}

static int collector_open(struct collector *c, const char *server_flag) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("logtap: cannot initialise libcurl\n", stderr);
        return LT_EXIT_FAILED;
    }
    c->curl = curl_easy_init();
    if (!c->curl) {
        fputs("logtap: cannot initialise libcurl\n", stderr);
        curl_global_cleanup();
        return LT_EXIT_FAILED;
    }
    c->server = server_url_new(server_flag);
    c->curl_error[0] = '\0';
    /* No signals from libcurl: follow mode relies on its own handlers. */
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->curl_error);
    curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "logtap/" LOGTAP_VERSION);
    curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPALIVE, 1L);
    return LT_EXIT_OK;
}

static void collector_close(struct collector *c) {
    if (c->curl) {
        curl_easy_cleanup(c->curl);
        curl_global_cleanup();
    }
    free(c->server);
    c->curl = NULL;
    c->server = NULL;
}

static bool is_unreserved(unsigned char c) {
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static void append_percent_encoded(struct strbuf *url, const char *text) {
    for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
        if (is_unreserved(*s))
            strbuf_append_byte(url, (char)*s);
        else
            strbuf_appendf(url, "%%%02X", *s);
    }
}

/* server + /v1/<collection>/<id>/<leaf> */
static void append_resource_url(struct strbuf *url, const struct collector *c,
                                const char *collection, const char *id,
                                const char *leaf) {
    strbuf_appendf(url, "%s/v1/%s/", c->server, collection);
    append_percent_encoded(url, id);
    strbuf_appendf(url, "/%s", leaf);
}

static void append_query_param(struct strbuf *url, const char *name,
                               const char *value) {
    strbuf_append_byte(url, strchr(url->data, '?') ? '&' : '?');
    strbuf_appendf(url, "%s=", name);
    append_percent_encoded(url, value);
}

static void append_query_number(struct strbuf *url, const char *name,
                                long long value) {
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", value);
    append_query_param(url, name, digits);
}

static const char *curl_failure_text(const struct collector *c, CURLcode rc) {
    return c->curl_error[0] ? c->curl_error : curl_easy_strerror(rc);
}

static int report_unreachable(const struct collector *c, CURLcode rc) {
    fprintf(stderr,
            "logtap: cannot reach the collector at %s: %s (is logtap-collector "
            "running? use --server or LOGTAP_SERVER)\n",
            c->server, curl_failure_text(c, rc));
    return LT_EXIT_UNREACHABLE;
}

/* The server's {"error": "..."} message, or NULL. Caller frees. */
static char *server_error_message_new(const struct strbuf *body) {
    if (body->len == 0) return NULL;
    json_t *root = json_loadb(body->data, body->len, 0, NULL);
    json_t *error = json_object_get(root, "error");
    char *message = json_is_string(error) ? terminal_safe_copy(json_string_value(error)) : NULL;
    json_decref(root);
    return message;
}

static int report_http_error(const struct target *t, long status,
                             const struct strbuf *body) {
    if (status == 404) {
        char *id = terminal_safe_copy(t->id);
        fprintf(stderr, "logtap: unknown %s '%s'\n", t->noun, id);
        free(id);
        return LT_EXIT_FAILED;
    }
    char *message = server_error_message_new(body);
    if (message)
        fprintf(stderr, "logtap: %s (HTTP %ld)\n", message, status);
    else
        fprintf(stderr, "logtap: the collector answered HTTP %ld\n", status);
    free(message);
    return LT_EXIT_FAILED;
}

static size_t append_body(char *bytes, size_t size, size_t nmemb, void *userdata) {
    strbuf_append(userdata, bytes, size * nmemb);
    return size * nmemb;
}

/* GET url and parse the JSON answer into *out (caller decrefs). Anything
 * else is reported here; the return value is the exit code. */
static int fetch_json(struct collector *c, const struct target *t,
                      const char *url, json_t **out) {
    struct strbuf body = {0};
    long status = 0;

    *out = NULL;
    c->curl_error[0] = '\0';
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, REQUEST_TIMEOUT_S);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &body);
    CURLcode rc = curl_easy_perform(c->curl);
    if (rc != CURLE_OK) {
        strbuf_release(&body);
        return report_unreachable(c, rc);
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        int code = report_http_error(t, status, &body);
        strbuf_release(&body);
        return code;
    }
    json_error_t error;
    *out = json_loadb(body.data ? body.data : "", body.len, JSON_ALLOW_NUL, &error);
    strbuf_release(&body);
    if (!*out) {
        fprintf(stderr, "logtap: the collector at %s sent invalid JSON: %s\n",
                c->server, error.text);
        return LT_EXIT_FAILED;
    }
    return LT_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* Printing entries                                                         */
/* ------------------------------------------------------------------------ */

enum output_format { OUTPUT_TEXT, OUTPUT_JSON };

struct printer {
    enum output_format format;
    bool raw;
    bool keep_sgr;          /* stdout is a terminal, so colours render */
    int write_errno;        /* set when stdout failed */
    struct strbuf line;     /* scratch space for one entry, reused */
};

static const char *entry_string(json_t *entry, const char *key, size_t *len) {
    json_t *value = json_object_get(entry, key);
    if (!json_is_string(value)) return NULL;
    *len = json_string_length(value);
    return json_string_value(value);
}

static void append_column(struct strbuf *line, json_t *entry, const char *key) {
    size_t len = 0;
    const char *text = entry_string(entry, key, &len);
    if (!text || len == 0)
        strbuf_append_byte(line, '-');
    else
        append_terminal_safe(line, text, len, false);
}

static void format_text_entry(struct printer *p, json_t *entry) {
    size_t len = 0;
    const char *message = entry_string(entry, "message", &len);
    if (!message) message = "";

    if (p->raw) {
        strbuf_append(&p->line, message, len);
    } else {
        append_column(&p->line, entry, "timestamp");
        strbuf_append_byte(&p->line, ' ');
        append_column(&p->line, entry, "stream");
        strbuf_append_byte(&p->line, ' ');
        if (json_is_true(json_object_get(entry, "unattributed")))
            strbuf_append_byte(&p->line, '?'); /* caught by --catch-all: writer unknown */
        else
            append_column(&p->line, entry, "request_id");
        strbuf_append_byte(&p->line, ' ');
        append_terminal_safe(&p->line, message, len, p->keep_sgr);
    }
    strbuf_append_byte(&p->line, '\n');
}

/* jansson keeps object keys in the order they were parsed, so this is the
 * server's own field order. */
static void format_json_entry(struct printer *p, json_t *entry) {
    char *text = json_dumps(entry, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text) die_out_of_memory();
    strbuf_append_str(&p->line, text);
    strbuf_append_byte(&p->line, '\n');
    free(text);
}

/* Returns 0, or -1 when stdout failed (errno kept in write_errno). One
 * fwrite per entry keeps lines whole in line-buffered follow mode. */
static int print_entry(struct printer *p, json_t *entry) {
    strbuf_clear(&p->line);
    if (p->format == OUTPUT_JSON)
        format_json_entry(p, entry);
    else
        format_text_entry(p, entry);
    if (fwrite(p->line.data, 1, p->line.len, stdout) != p->line.len || ferror(stdout)) {
        p->write_errno = errno ? errno : EIO;
        return -1;
    }
    return 0;
}

/* A closed pipe (logtap ... | head) is a normal way to stop reading. */
static int report_output_failure(const struct printer *p) {
    if (p->write_errno == EPIPE) return LT_EXIT_OK;
    fprintf(stderr, "logtap: cannot write output: %s\n", strerror(p->write_errno));
    return LT_EXIT_FAILED;
}

static int printer_finish(struct printer *p, int code) {
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (!p->write_errno) p->write_errno = errno ? errno : EIO;
        if (code == LT_EXIT_OK) code = report_output_failure(p);
    }
    strbuf_release(&p->line);
    return code;
}

/* ------------------------------------------------------------------------ */
/* Log queries                                                              */
/* ------------------------------------------------------------------------ */

enum lines_mode { LINES_ALL, LINES_NEWEST, LINES_OLDEST };

struct logs_query {
    const struct log_scope *scope;
    const char *id;
    const char *since;   /* as typed */
    const char *until;
    const char *search;
    int64_t since_ns;
    int64_t until_ns;
    enum lines_mode lines_mode;
    long long lines;
    bool follow;
};

/* Per-request parameters on top of the query; -1 means "not sent". */
struct page_params {
    const char *since;
    long long tail;
    long long limit;
    long long after;
    bool follow;
};

static char *logs_url_new(const struct collector *c, const struct logs_query *q,
                          const struct page_params *pp) {
    struct strbuf url = {0};
    append_resource_url(&url, c, q->scope->collection, q->id, "logs");
    if (pp->since) append_query_param(&url, "since", pp->since);
    if (q->until) append_query_param(&url, "until", q->until);
    if (q->search && *q->search) append_query_param(&url, "search", q->search);
    if (pp->tail >= 0) append_query_number(&url, "tail", pp->tail);
    if (pp->limit >= 0) append_query_number(&url, "limit", pp->limit);
    if (pp->after >= 0) append_query_number(&url, "after", pp->after);
    if (pp->follow) append_query_param(&url, "follow", "1");
    return strbuf_detach(&url);
}

static bool json_integer_field(json_t *object, const char *key, long long *out) {
    json_t *value = json_object_get(object, key);
    if (!json_is_integer(value)) return false;
    *out = (long long)json_integer_value(value);
    return true;
}

static int report_bad_page(const struct collector *c, const char *why) {
    fprintf(stderr, "logtap: unexpected answer from the collector at %s: %s\n",
            c->server, why);
    return LT_EXIT_FAILED;
}

/* Prints one page; sets *count and *next_after. Returns an exit code, or -1
 * when stdout failed. */
static int print_page(const struct collector *c, json_t *page,
                      struct printer *p, size_t *count, long long *next_after) {
    json_t *logs = json_object_get(page, "logs");
    if (!json_is_array(logs)) return report_bad_page(c, "no \"logs\" array");

    *count = json_array_size(logs);
    for (size_t i = 0; i < *count; i++)
        if (print_entry(p, json_array_get(logs, i)) != 0) return -1;

    if (*count > 0 && !json_integer_field(page, "next_after", next_after) &&
        !json_integer_field(json_array_get(logs, *count - 1), "id", next_after))
        return report_bad_page(c, "no \"next_after\" cursor");
    return LT_EXIT_OK;
}

static long long page_limit(const struct logs_query *q, long long remaining) {
    if (q->lines_mode == LINES_OLDEST)
        return remaining < SERVER_MAX_LIMIT ? remaining : SERVER_MAX_LIMIT;
    if (q->lines_mode == LINES_ALL) return PAGE_LINES;
    return -1;
}

/* Without -n everything is fetched page by page until an empty page; -n +N
 * pages the same way until N lines are out (N may exceed the server's cap
 * on one page); -n N is one request. */
static int print_logs(struct collector *c, const struct logs_query *q, struct printer *p) {
    const struct target t = {q->scope->noun, q->id};
    long long after = -1;
    long long remaining = q->lines;

    for (;;) {
        struct page_params pp = {
            .since = q->since,
            .tail = q->lines_mode == LINES_NEWEST ? q->lines : -1,
            .limit = page_limit(q, remaining),
            .after = after,
        };
        char *url = logs_url_new(c, q, &pp);
        json_t *page = NULL;
        int code = fetch_json(c, &t, url, &page);
        free(url);
        if (code != LT_EXIT_OK) return code;

        size_t count = 0;
        long long next_after = after;
        code = print_page(c, page, p, &count, &next_after);
        json_decref(page);
        if (code < 0) return report_output_failure(p);
        if (code != LT_EXIT_OK) return code;

        if (count == 0 || q->lines_mode == LINES_NEWEST) return LT_EXIT_OK;
        if (q->lines_mode == LINES_OLDEST) {
            remaining -= (long long)count;
            if (remaining <= 0) return LT_EXIT_OK;
        }
        if (next_after <= after)
            return report_bad_page(c, "the paging cursor did not advance");
        after = next_after;
    }
}

/* ------------------------------------------------------------------------ */
/* Server-sent events                                                       */
/* ------------------------------------------------------------------------ */

/* Called once per event; `data` is NULL for an event that only set an id,
 * `id` is NULL when the event set none. Returns 0, or -1 to stop. */
typedef int sse_event_fn(void *ctx, const char *type, const char *data,
                         size_t data_len, const char *id);

/* One connection's parsing state (the text/event-stream format). Bytes come
 * in arbitrary pieces, so a line, a CR LF pair or an event may span calls. */
struct sse_parser {
    struct strbuf line;
    struct strbuf data;
    struct strbuf type;
    struct strbuf id;
    bool has_data;
    bool has_id;
    bool ended_on_cr;   /* the last piece ended in CR: skip a leading LF */
    bool too_large;
    sse_event_fn *on_event;
    void *ctx;
};

static void sse_reset(struct sse_parser *sp) {
    strbuf_clear(&sp->line);
    strbuf_clear(&sp->data);
    strbuf_clear(&sp->type);
    strbuf_clear(&sp->id);
    sp->has_data = sp->has_id = sp->ended_on_cr = sp->too_large = false;
}

static void sse_release(struct sse_parser *sp) {
    strbuf_release(&sp->line);
    strbuf_release(&sp->data);
    strbuf_release(&sp->type);
    strbuf_release(&sp->id);
}

static int sse_dispatch(struct sse_parser *sp) {
    int rc = 0;
    if (sp->has_data || sp->has_id) {
        const char *type = sp->type.len ? sp->type.data : "message";
        rc = sp->on_event(sp->ctx, type, sp->has_data ? sp->data.data : NULL,
                          sp->data.len, sp->has_id ? sp->id.data : NULL);
    }
    strbuf_clear(&sp->data);
    strbuf_clear(&sp->type);
    strbuf_clear(&sp->id);
    sp->has_data = sp->has_id = false;
    return rc;
}

static void sse_field(struct sse_parser *sp, const char *name, size_t name_len,
                      const char *value, size_t value_len) {
    if (name_len == 4 && memcmp(name, "data", 4) == 0) {
        if (sp->has_data) strbuf_append_byte(&sp->data, '\n');
        strbuf_append(&sp->data, value, value_len);
        sp->has_data = true;
    } else if (name_len == 5 && memcmp(name, "event", 5) == 0) {
        strbuf_clear(&sp->type);
        strbuf_append(&sp->type, value, value_len);
    } else if (name_len == 2 && memcmp(name, "id", 2) == 0 && value_len > 0 &&
               !memchr(value, '\0', value_len)) {
        strbuf_clear(&sp->id);
        strbuf_append(&sp->id, value, value_len);
        sp->has_id = true;
    }
    /* "retry" is ignored: reconnection follows our own backoff. */
}

static int sse_line(struct sse_parser *sp, const char *line, size_t len) {
    if (len == 0) return sse_dispatch(sp);
    if (line[0] == ':') return 0; /* comment, e.g. the server's keepalive */

    const char *colon = memchr(line, ':', len);
    size_t name_len = colon ? (size_t)(colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    size_t value_len = len - (size_t)(value - line);
    if (value_len > 0 && value[0] == ' ') {
        value++;
        value_len--;
    }
    sse_field(sp, line, name_len, value, value_len);
    return 0;
}

static int sse_feed(struct sse_parser *sp, const char *bytes, size_t len) {
    size_t i = 0;
    if (sp->ended_on_cr && len > 0 && bytes[0] == '\n') i = 1;
    if (len > 0) sp->ended_on_cr = false;

    while (i < len) {
        size_t end = i;
        while (end < len && bytes[end] != '\n' && bytes[end] != '\r') end++;
        strbuf_append(&sp->line, bytes + i, end - i);
        if (sp->line.len + sp->data.len > MAX_EVENT_BYTES) {
            sp->too_large = true;
            return -1;
        }
        if (end == len) break;

        if (sse_line(sp, sp->line.data, sp->line.len) != 0) return -1;
        strbuf_clear(&sp->line);
        if (bytes[end] == '\r') {
            if (end + 1 == len) sp->ended_on_cr = true;
            else if (bytes[end + 1] == '\n') end++;
        }
        i = end + 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Follow mode                                                              */
/* ------------------------------------------------------------------------ */

/* Written by the SIGINT/SIGTERM handler. Shutting the stream's socket down
 * wakes libcurl at once instead of at its next progress callback. */
static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t follow_socket = -1;

static void on_stop_signal(int signo) {
    (void)signo;
    int saved_errno = errno;
    stop_requested = 1;
    if (follow_socket >= 0) shutdown(follow_socket, SHUT_RDWR);
    errno = saved_errno;
}

static void install_stop_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: interrupt the backoff sleep */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static curl_socket_t open_follow_socket(void *clientp, curlsocktype purpose,
                                        struct curl_sockaddr *address) {
    (void)clientp;
    (void)purpose;
    int fd = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
    if (fd < 0) return CURL_SOCKET_BAD;
    follow_socket = fd;
    return fd;
}

static int close_follow_socket(void *clientp, curl_socket_t fd) {
    (void)clientp;
    if (follow_socket == fd) follow_socket = -1;
    return close(fd);
}

/* Also catches a signal that arrived before the socket existed. */
static int abort_when_stopping(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
                               curl_off_t ultotal, curl_off_t ulnow) {
    (void)clientp;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return stop_requested ? 1 : 0;
}

static void sleep_unless_stopped(int ms) {
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
    bool streaming;            /* got 200 text/event-stream */
    struct strbuf error_body;  /* the body of any other answer */

    /* Across attempts: where to resume. */
    struct strbuf last_event_id;
    long long last_entry_id;   /* highest id printed, -1 before any */
    bool connection_lost;      /* told the user; say so when back */
    bool output_failed;
    bool bad_event;
};

static bool is_all_digits(const char *s) {
    if (!*s) return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return false;
    return true;
}

/* The cursor for the `after` parameter: the newest thing we know we have. */
static long long follow_resume_after(const struct follow_state *f) {
    long long after = f->last_entry_id;
    if (f->last_event_id.len && is_all_digits(f->last_event_id.data)) {
        long long id = strtoll(f->last_event_id.data, NULL, 10);
        if (id > after) after = id;
    }
    return after;
}

static int print_followed_entry(struct follow_state *f, const char *data, size_t len) {
    json_error_t error;
    json_t *entry = json_loadb(data, len, JSON_ALLOW_NUL, &error);
    if (!json_is_object(entry)) {
        json_decref(entry);
        fprintf(stderr, "logtap: skipped an event from the collector that is "
                        "not a JSON object\n");
        return 0;
    }
    long long id = -1;
    bool has_id = json_integer_field(entry, "id", &id);
    int rc = 0;
    /* After a reconnect the server may resend what we have: never repeat. */
    if (!has_id || id > f->last_entry_id) {
        rc = print_entry(f->printer, entry);
        if (rc == 0 && has_id) f->last_entry_id = id;
    }
    json_decref(entry);
    if (rc != 0) f->output_failed = true;
    return rc;
}

static int on_follow_event(void *ctx, const char *type, const char *data,
                           size_t data_len, const char *id) {
    struct follow_state *f = ctx;
    bool is_entry = strcmp(type, "log") == 0 || strcmp(type, "message") == 0;
    if (data && is_entry && print_followed_entry(f, data, data_len) != 0) return -1;
    /* Only now is the event ours: a drop before this point resends it. */
    if (id) {
        strbuf_clear(&f->last_event_id);
        strbuf_append_str(&f->last_event_id, id);
    }
    return 0;
}

static bool is_event_stream(CURL *curl) {
    char *content_type = NULL;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &content_type);
    return content_type && strncasecmp(content_type, "text/event-stream", 17) == 0;
}

static void follow_check_response(struct follow_state *f) {
    long status = 0;
    curl_easy_getinfo(f->collector->curl, CURLINFO_RESPONSE_CODE, &status);
    f->streaming = status == 200 && is_event_stream(f->collector->curl);
    f->response_checked = true;
    if (f->streaming && f->connection_lost) {
        fputs("logtap: reconnected\n", stderr);
        f->connection_lost = false;
    }
}

static size_t follow_write(char *bytes, size_t size, size_t nmemb, void *userdata) {
    struct follow_state *f = userdata;
    size_t len = size * nmemb;

    if (!f->response_checked) follow_check_response(f);
    if (!f->streaming) {
        if (f->error_body.len + len <= MAX_ERROR_BODY) strbuf_append(&f->error_body, bytes, len);
        return len;
    }
    if (sse_feed(&f->parser, bytes, len) != 0) {
        if (f->parser.too_large) f->bad_event = true;
        return 0; /* aborts the transfer */
    }
    return len;
}

/* On a reconnect the query resumes after the last entry printed, instead of
 * asking for the newest N again (which would skip lines if more than N
 * arrived meanwhile). A relative --since is pinned to the time it was first
 * evaluated so the window does not slide. */
static char *follow_url_new(const struct follow_state *f, bool streamed_before,
                            char *since_buf, size_t since_len) {
    const struct logs_query *q = f->query;
    long long after = follow_resume_after(f);
    struct page_params pp = {
        .since = q->since, .tail = -1, .limit = -1, .after = -1, .follow = true,
    };
    if (after >= 0) {
        pp.after = after;
        if (q->since) pp.since = lt_time_format(q->since_ns, since_buf, since_len);
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
static struct curl_slist *follow_headers_new(const struct follow_state *f) {
    struct curl_slist *headers = curl_slist_append(NULL, "Accept: text/event-stream");
    struct strbuf header = {0};
    long long after = follow_resume_after(f);
    if (after >= 0)
        strbuf_appendf(&header, "Last-Event-ID: %lld", after);
    else if (f->last_event_id.len)
        strbuf_appendf(&header, "Last-Event-ID: %s", f->last_event_id.data);
    if (header.len) headers = curl_slist_append(headers, header.data);
    strbuf_release(&header);
    return headers;
}

static void follow_configure(struct follow_state *f) {
    CURL *curl = f->collector->curl;
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 0L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, FOLLOW_STALL_S);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, follow_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_follow_socket);
    curl_easy_setopt(curl, CURLOPT_CLOSESOCKETFUNCTION, close_follow_socket);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, abort_when_stopping);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
}

/* One connection, from request to the stream's end. */
static CURLcode follow_attempt(struct follow_state *f, bool streamed_before) {
    char since_buf[40];
    f->response_checked = f->streaming = false;
    strbuf_clear(&f->error_body);
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
    if (!f->response_checked) follow_check_response(f);
    return rc;
}

static bool until_has_passed(const struct logs_query *q) {
    return q->until && lt_time_now_ns() >= q->until_ns;
}

static void announce_lost_connection(struct follow_state *f, CURLcode rc) {
    if (f->connection_lost) return;
    if (rc == CURLE_OK)
        fputs("logtap: the collector closed the stream; reconnecting\n", stderr);
    else
        fprintf(stderr, "logtap: lost the connection to the collector at %s: %s; "
                        "reconnecting\n",
                f->collector->server, curl_failure_text(f->collector, rc));
    f->connection_lost = true;
}

/* What to do after an attempt that did not stream: -1 retry, else exit. */
static int follow_failure_code(struct follow_state *f, CURLcode rc, bool streamed_before) {
    const struct target t = {f->query->scope->noun, f->query->id};
    long status = 0;
    if (rc != CURLE_OK) {
        if (!streamed_before) return report_unreachable(f->collector, rc);
        announce_lost_connection(f, rc);
        return -1;
    }
    curl_easy_getinfo(f->collector->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 500 && streamed_before) return -1; /* collector restarting */
    if (status == 200) {
        fprintf(stderr, "logtap: the collector at %s did not answer with an "
                        "event stream\n", f->collector->server);
        return LT_EXIT_FAILED;
    }
    return report_http_error(&t, status, &f->error_body);
}

static int follow_logs(struct collector *c, const struct logs_query *q, struct printer *p) {
    struct follow_state f = {
        .collector = c, .query = q, .printer = p, .last_entry_id = -1,
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
        if (stop_requested) break;
        if (f.output_failed) {
            code = report_output_failure(p);
            break;
        }
        if (f.bad_event) {
            fprintf(stderr, "logtap: the collector sent an event larger than %u MiB\n",
                    MAX_EVENT_BYTES >> 20);
            code = LT_EXIT_FAILED;
            break;
        }
        if (f.streaming) {
            streamed_before = true;
            backoff_ms = BACKOFF_FIRST_MS;
            if (until_has_passed(q)) break; /* the server ended it on purpose */
            announce_lost_connection(&f, rc);
        } else {
            code = follow_failure_code(&f, rc, streamed_before);
            if (code >= 0) break;
            code = LT_EXIT_OK;
        }
        sleep_unless_stopped(backoff_ms);
        backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff_ms * 2;
    }
    sse_release(&f.parser);
    strbuf_release(&f.error_body);
    strbuf_release(&f.last_event_id);
    return code;
}

/* ------------------------------------------------------------------------ */
/* logtap runners logs / requests logs                                      */
/* ------------------------------------------------------------------------ */

enum {
    OPT_SINCE = 256,
    OPT_UNTIL,
    OPT_SEARCH,
    OPT_OUTPUT,
    OPT_RAW,
    OPT_SERVER,
    OPT_LOGS,
    OPT_VERSION,
    OPT_RUNNER,
    OPT_APP,
    OPT_SOURCE,
    OPT_ENDPOINT,
    OPT_CATCH_ALL,
};

/* "N" (newest N) or "+N" (oldest N). */
static bool parse_lines(const char *text, struct logs_query *q) {
    bool oldest = text[0] == '+';
    const char *digits = oldest ? text + 1 : text;
    if (!is_all_digits(digits)) return false;
    errno = 0;
    long long n = strtoll(digits, NULL, 10);
    if (errno || n > LINES_MAX) return false;
    q->lines = n;
    q->lines_mode = oldest ? LINES_OLDEST : LINES_NEWEST;
    return true;
}

static int check_time_option(const char *command, const char *option,
                             const char *text, int64_t now_ns, int64_t *out) {
    if (lt_time_parse(text, now_ns, out) == 0) return LT_EXIT_OK;
    return usage_error(command,
                       "invalid %s '%s': use a duration back from now (30s, 30m, "
                       "1h, 2d, 1w), an RFC 3339 time (2026-11-25T14:38:06Z) or "
                       "a date (2026-11-25)",
                       option, text);
}

static int check_logs_query(const struct log_scope *scope, struct logs_query *q,
                            const struct printer *p) {
    int64_t now_ns = lt_time_now_ns();
    int code;
    if (q->since && (code = check_time_option(scope->command, "--since", q->since,
                                              now_ns, &q->since_ns)))
        return code;
    if (q->until && (code = check_time_option(scope->command, "--until", q->until,
                                              now_ns, &q->until_ns)))
        return code;
    if (q->follow && q->lines_mode == LINES_OLDEST)
        return usage_error(scope->command, "-n +N (the oldest lines) cannot be "
                                           "combined with --follow");
    if (q->lines_mode == LINES_OLDEST && q->lines == 0)
        return usage_error(scope->command, "-n +N needs N of at least 1");
    if (p->raw && p->format == OUTPUT_JSON)
        return usage_error(scope->command, "--raw applies to text output only");
    return LT_EXIT_OK;
}

static int take_one_id(const char *command, const char *id_name, int argc,
                       char **argv, const char **id) {
    if (optind >= argc) return usage_error(command, "missing %s", id_name);
    if (optind + 1 < argc)
        return usage_error(command, "unexpected argument '%s'", argv[optind + 1]);
    if (!argv[optind][0]) return usage_error(command, "%s must not be empty", id_name);
    *id = argv[optind];
    return LT_EXIT_OK;
}

static int cmd_logs(const char *server_flag, const struct log_scope *scope,
                    int argc, char **argv) {
    static const struct option options[] = {
        {"follow", no_argument, NULL, 'f'},
        {"lines", required_argument, NULL, 'n'},
        {"since", required_argument, NULL, OPT_SINCE},
        {"until", required_argument, NULL, OPT_UNTIL},
        {"search", required_argument, NULL, OPT_SEARCH},
        {"output", required_argument, NULL, OPT_OUTPUT},
        {"raw", no_argument, NULL, OPT_RAW},
        {"server", required_argument, NULL, OPT_SERVER},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct logs_query q = {.scope = scope, .lines_mode = LINES_ALL};
    struct printer p = {.format = OUTPUT_TEXT};
    int opt;

    prepare_subcommand_argv(argv);
    while ((opt = getopt_long(argc, argv, "fn:h", options, NULL)) != -1) {
        switch (opt) {
        case 'f': q.follow = true; break;
        case 'n':
            if (!parse_lines(optarg, &q))
                return usage_error(scope->command, "invalid --lines '%s': use N "
                                   "(the newest N) or +N (the oldest N)", optarg);
            break;
        case OPT_SINCE: q.since = optarg; break;
        case OPT_UNTIL: q.until = optarg; break;
        case OPT_SEARCH: q.search = optarg; break;
        case OPT_OUTPUT:
            if (strcmp(optarg, "text") == 0) p.format = OUTPUT_TEXT;
            else if (strcmp(optarg, "json") == 0) p.format = OUTPUT_JSON;
            else return usage_error(scope->command, "invalid --output '%s': use "
                                    "text or json", optarg);
            break;
        case OPT_RAW: p.raw = true; break;
        case OPT_SERVER:
            if (!*optarg) return usage_error(scope->command, "--server needs a URL");
            server_flag = optarg;
            break;
        case 'h': print_logs_usage(stdout, scope); return LT_EXIT_OK;
        default: return option_error(scope->command);
        }
    }
    int code = take_one_id(scope->command, scope->id_name, argc, argv, &q.id);
    if (code == LT_EXIT_OK) code = check_logs_query(scope, &q, &p);
    if (code != LT_EXIT_OK) return code;

    struct collector c = {0};
    if ((code = collector_open(&c, server_flag)) != LT_EXIT_OK) return code;
    p.keep_sgr = isatty(STDOUT_FILENO);
    /* A closed stdout pipe shows up as EPIPE, so logtap can stop cleanly. */
    signal(SIGPIPE, SIG_IGN);
    if (q.follow) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        code = follow_logs(&c, &q, &p);
    } else {
        code = print_logs(&c, &q, &p);
    }
    collector_close(&c);
    return printer_finish(&p, code);
}

static int cmd_runners_logs(const char *server_flag, int argc, char **argv) {
    return cmd_logs(server_flag, &runner_scope, argc, argv);
}

static int cmd_requests_logs(const char *server_flag, int argc, char **argv) {
    return cmd_logs(server_flag, &request_scope, argc, argv);
}

/* ------------------------------------------------------------------------ */
/* logtap requests status                                                   */
/* ------------------------------------------------------------------------ */

static int print_pretty_json(json_t *root) {
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!text) die_out_of_memory();
    puts(text);
    free(text);
    if ((fflush(stdout) != 0 || ferror(stdout)) && errno != EPIPE) {
        fprintf(stderr, "logtap: cannot write output: %s\n", strerror(errno));
        return LT_EXIT_FAILED;
    }
    return LT_EXIT_OK;
}

static int cmd_requests_status(const char *server_flag, int argc, char **argv) {
    static const char command[] = "logtap requests status";
    static const struct option options[] = {
        {"logs", no_argument, NULL, OPT_LOGS},
        {"server", required_argument, NULL, OPT_SERVER},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool with_logs = false;
    const char *id = NULL;
    int opt;

    prepare_subcommand_argv(argv);
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_LOGS: with_logs = true; break;
        case OPT_SERVER:
            if (!*optarg) return usage_error(command, "--server needs a URL");
            server_flag = optarg;
            break;
        case 'h': fputs(status_usage, stdout); return LT_EXIT_OK;
        default: return option_error(command);
        }
    }
    int code = take_one_id(command, "REQUEST_ID", argc, argv, &id);
    if (code != LT_EXIT_OK) return code;

    struct collector c = {0};
    if ((code = collector_open(&c, server_flag)) != LT_EXIT_OK) return code;
    struct strbuf url = {0};
    append_resource_url(&url, &c, "requests", id, "status");
    if (with_logs) append_query_param(&url, "logs", "1");

    const struct target t = {"request", id};
    json_t *status = NULL;
    signal(SIGPIPE, SIG_IGN);
    code = fetch_json(&c, &t, url.data, &status);
    if (code == LT_EXIT_OK) code = print_pretty_json(status);
    json_decref(status);
    strbuf_release(&url);
    collector_close(&c);
    return code;
}

/* ------------------------------------------------------------------------ */
/* logtap run                                                               */
/* ------------------------------------------------------------------------ */

struct run_options {
    const char *runner_id;
    const char *app_id;
    const char *version_id;
    const char *source;
    const char *endpoint;
    bool quiet;
    bool catch_all;
};

static bool readable_file(const char *path) {
    return access(path, R_OK) == 0;
}

/* LOGTAP_PRELOAD is made absolute: the command may chdir before it execs
 * children that load it again. NULL after an error was printed. */
static char *preload_from_env(const char *value) {
    char *path = realpath(value, NULL);
    if (path && readable_file(path)) return path;
    fprintf(stderr, "logtap: LOGTAP_PRELOAD is '%s': %s\n", value, strerror(errno));
    free(path);
    return NULL;
}

/* In a meson build directory the library sits beside the executable. */
static char *preload_beside_executable(void) {
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) return NULL;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return NULL;
    *slash = '\0';

    struct strbuf path = {0};
    strbuf_appendf(&path, "%s/%s", exe, PRELOAD_NAME);
    if (!readable_file(path.data)) {
        strbuf_release(&path);
        return NULL;
    }
    return strbuf_detach(&path);
}

/* Caller frees. NULL after an error was printed. */
static char *find_preload_new(void) {
    const char *from_env = getenv("LOGTAP_PRELOAD");
    if (from_env && *from_env) return preload_from_env(from_env);

    char *path = preload_beside_executable();
    if (path) return path;
    if (readable_file(LT_LIBDIR "/" PRELOAD_NAME)) return strdup(LT_LIBDIR "/" PRELOAD_NAME);

    fprintf(stderr, "logtap: cannot find " PRELOAD_NAME " (looked beside the "
                    "logtap executable and in " LT_LIBDIR "); set LOGTAP_PRELOAD "
                    "to its path\n");
    return NULL;
}

static bool preload_list_contains(const char *list, const char *path) {
    size_t path_len = strlen(path);
    const char *s = list;
    while (*s) {
        size_t len = strcspn(s, " :");
        if (len == path_len && memcmp(s, path, len) == 0) return true;
        s += len;
        if (*s) s++;
    }
    return false;
}

/* `path` first, then whatever was preloaded already. Caller frees. */
static char *ld_preload_with_new(const char *existing, const char *path) {
    struct strbuf list = {0};
    strbuf_append_str(&list, path);
    if (existing && existing[strspn(existing, " :")]) {
        if (preload_list_contains(existing, path)) {
            strbuf_clear(&list);
            strbuf_append_str(&list, existing);
        } else {
            strbuf_append_byte(&list, ':');
            strbuf_append_str(&list, existing);
        }
    }
    return strbuf_detach(&list);
}

static void generate_runner_id(char *out, size_t len) {
    uint64_t random_bits = 0;
    if (getrandom(&random_bits, sizeof random_bits, 0) != (ssize_t)sizeof random_bits) {
        /* Only without getrandom(2): unique enough for a development run. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        random_bits = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
                      ((uint64_t)getpid() << 16);
    }
    snprintf(out, len, "run-%016llx", (unsigned long long)random_bits);
}

static int check_run_id(const char *option, const char *value) {
    if (!*value) return usage_error("logtap run", "%s must not be empty", option);
    if (strlen(value) > LT_WIRE_MAX_ID)
        return usage_error("logtap run", "%s is longer than %d bytes", option,
                           LT_WIRE_MAX_ID);
    /* The preload would have to rewrite such an ID, and then the logs would
     * not be found under the name the user gave. */
    if (!lt_wire_id_ok(value, strlen(value)))
        return usage_error("logtap run", "%s '%s' may only contain printable ASCII "
                           "other than spaces and '/'", option, value);
    return LT_EXIT_OK;
}

static int check_run_options(const struct run_options *o) {
    int code = LT_EXIT_OK;
    if (o->runner_id && (code = check_run_id("--runner", o->runner_id))) return code;
    if (o->app_id && (code = check_run_id("--app", o->app_id))) return code;
    if (o->version_id && (code = check_run_id("--version", o->version_id))) return code;
    if (strcmp(o->source, "run") && strcmp(o->source, "gateway") && strcmp(o->source, "deploy"))
        return usage_error("logtap run", "invalid --source '%s': use run, gateway "
                           "or deploy", o->source);
    if (o->endpoint && !*o->endpoint)
        return usage_error("logtap run", "--endpoint must not be empty");
    return LT_EXIT_OK;
}

static int parse_run_options(int argc, char **argv, struct run_options *o) {
    static const struct option options[] = {
        {"runner", required_argument, NULL, OPT_RUNNER},
        {"app", required_argument, NULL, OPT_APP},
        {"version", required_argument, NULL, OPT_VERSION},
        {"source", required_argument, NULL, OPT_SOURCE},
        {"endpoint", required_argument, NULL, OPT_ENDPOINT},
        {"catch-all", no_argument, NULL, OPT_CATCH_ALL},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;

    prepare_subcommand_argv(argv);
    /* '+': stop at CMD, whose own options are not ours. */
    while ((opt = getopt_long(argc, argv, "+qh", options, NULL)) != -1) {
        switch (opt) {
        case OPT_RUNNER: o->runner_id = optarg; break;
        case OPT_APP: o->app_id = optarg; break;
        case OPT_VERSION: o->version_id = optarg; break;
        case OPT_SOURCE: o->source = optarg; break;
        case OPT_ENDPOINT: o->endpoint = optarg; break;
        case OPT_CATCH_ALL: o->catch_all = true; break;
        case 'q': o->quiet = true; break;
        case 'h': print_run_usage(stdout); return -1;
        default: return option_error("logtap run");
        }
    }
    if (optind >= argc) return usage_error("logtap run", "missing the command to run");
    return check_run_options(o);
}

static bool set_env(const char *name, const char *value) {
    if (setenv(name, value, 1) == 0) return true;
    fprintf(stderr, "logtap: cannot set %s: %s\n", name, strerror(errno));
    return false;
}

/* Every variable liblogtap.so reads (see DESIGN.md, runner environment). */
static bool prepare_run_environment(const struct run_options *o, const char *preload,
                                    const char *runner_id) {
    char *ld_preload = ld_preload_with_new(getenv("LD_PRELOAD"), preload);
    bool ok = set_env("LD_PRELOAD", ld_preload) &&
              set_env("LOGTAP_SOURCE", o->source) &&
              set_env("LOGTAP_RUNNER_ID", runner_id) &&
              (!o->app_id || set_env("LOGTAP_APP_ID", o->app_id)) &&
              (!o->version_id || set_env("LOGTAP_VERSION_ID", o->version_id)) &&
              (!o->endpoint || set_env("LOGTAP_ENDPOINT", o->endpoint));
    free(ld_preload);
    return ok;
}

/* ld.so splits LD_PRELOAD on spaces and colons and has no quoting. */
static bool preload_path_is_listable(const char *path) {
    if (!strpbrk(path, " :")) return true;
    fprintf(stderr, "logtap: the path of " PRELOAD_NAME " ('%s') contains a "
                    "space or colon, which LD_PRELOAD cannot express\n", path);
    return false;
}

static int exec_failure_code(int error) {
    return error == EACCES || error == EPERM || error == ENOEXEC
               ? RUN_EXIT_NOT_EXECUTABLE : RUN_EXIT_NOT_FOUND;
}

static int cmd_run(const char *server_flag, int argc, char **argv) {
    (void)server_flag; /* run talks ZeroMQ via the preload, not HTTP */
    struct run_options o = {.source = "run"};
    int code = parse_run_options(argc, argv, &o);
    if (code < 0) return LT_EXIT_OK; /* --help */
    if (code != LT_EXIT_OK) return code;

    char *preload = find_preload_new();
    if (!preload) return LT_EXIT_FAILED;
    if (!preload_path_is_listable(preload)) {
        free(preload);
        return LT_EXIT_FAILED;
    }
    char generated_id[32];
    const char *runner_id = o.runner_id;
    if (!runner_id) {
        generate_runner_id(generated_id, sizeof generated_id);
        runner_id = generated_id;
    }
    bool ok = prepare_run_environment(&o, preload, runner_id);
    free(preload);
    if (!ok) return LT_EXIT_FAILED;

    if (!o.quiet && isatty(STDERR_FILENO)) fprintf(stderr, "logtap: runner %s\n", runner_id);
    char **command = argv + optind;
    if (o.catch_all) return lt_catchall_run(command);
    execvp(command[0], command);
    int error = errno;
    fprintf(stderr, "logtap: cannot run %s: %s\n", command[0], strerror(error));
    return exec_failure_code(error);
}

/* ------------------------------------------------------------------------ */
/* Command dispatch                                                         */
/* ------------------------------------------------------------------------ */

typedef int command_fn(const char *server_flag, int argc, char **argv);

struct subcommand {
    const char *name;
    command_fn *run;
};

static const struct subcommand runners_subcommands[] = {
    {"logs", cmd_runners_logs},
    {NULL, NULL},
};

static const struct subcommand requests_subcommands[] = {
    {"logs", cmd_requests_logs},
    {"status", cmd_requests_status},
    {NULL, NULL},
};

static bool is_help_flag(const char *arg) {
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

/* argv[0] is the group word ("runners"), argv[1] the subcommand. */
static int run_group(const char *server_flag, const char *group, const char *usage,
                     const struct subcommand *subcommands, int argc, char **argv) {
    char command[64];
    snprintf(command, sizeof command, "logtap %s", group);
    if (argc < 2) return usage_error(command, "missing a command after '%s'", group);
    if (is_help_flag(argv[1])) {
        fputs(usage, stdout);
        return LT_EXIT_OK;
    }
    for (const struct subcommand *sc = subcommands; sc->name; sc++)
        if (strcmp(argv[1], sc->name) == 0) return sc->run(server_flag, argc - 1, argv + 1);
    if (argv[1][0] == '-') return usage_error(command, "unknown option '%s'", argv[1]);
    return usage_error(command, "unknown command '%s %s'", group, argv[1]);
}

int main(int argc, char **argv) {
    static const struct option options[] = {
        {"server", required_argument, NULL, OPT_SERVER},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    static char program_name[] = "logtap";
    const char *server_flag = NULL;
    int opt;

    argv[0] = program_name;
    /* '+': global options come before the command; the rest is its own. */
    while ((opt = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_SERVER:
            if (!*optarg) return usage_error("logtap", "--server needs a URL");
            server_flag = optarg;
            break;
        case 'h': fputs(main_usage, stdout); return LT_EXIT_OK;
        case OPT_VERSION: puts("logtap " LOGTAP_VERSION); return LT_EXIT_OK;
        default: return option_error("logtap");
        }
    }
    if (optind >= argc) return usage_error("logtap", "missing a command");

    char **args = argv + optind;
    int nargs = argc - optind;
    if (strcmp(args[0], "runners") == 0)
        return run_group(server_flag, "runners", runners_usage, runners_subcommands, nargs, args);
    if (strcmp(args[0], "requests") == 0)
        return run_group(server_flag, "requests", requests_usage, requests_subcommands, nargs, args);
    if (strcmp(args[0], "run") == 0) return cmd_run(server_flag, nargs, args);
    if (strcmp(args[0], LT_FORWARD_COMMAND) == 0) return lt_catchall_forward_main(nargs, args);
    return usage_error("logtap", "unknown command '%s'", args[0]);
}
