/* options.c -- logtap-collector's settings, declared once, and the two
 * places they come from: the config file and the command line.
 *
 * `config_map` below is the only list of the collector's settings: each
 * entry gives the flag's name, its type (string, address, int with a range,
 * duration, size, bool; or an action: --help, --version, --config,
 * --check-config, --print-config), its default as it would be written on
 * the command line, the help text and the field of lt_collector_options it
 * is stored in. From it come getopt_long's option array, the --help text,
 * the defaults (parsed by the same code as the flags, so a default cannot
 * be a value the flag would refuse), the config file's keys (a setting's
 * key is its flag's name), --print-config's lines, and every value's check
 * and error message: set() is the one parser, for defaults, file and flags
 * alike, so a new flag is a new line of the table and nothing else.
 *
 * Order: defaults, then the file, then the flags. The flags are collected
 * first and applied last, so that they override the file wherever they
 * stand. A file is read whole and every bad line reported (FILE:LINE:
 * message) before anything starts: an operator fixes a file in one pass.
 */
#include "options.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "credential.h"
#include "logtap_wire.h"
#include "ring.h"
#include "size.h"
#include "timefmt.h"
#include "version.h"

typedef enum {
    OPT_STRING,    /* any text */
    OPT_ADDRESS,   /* text without quotes or backslashes: it is written into
                     DATA/collector.json as it is */
    OPT_INT,       /* a decimal integer in min..max */
    OPT_DURATION,  /* 0 (none) or a duration ("30m", "12h", "30d", "2w") in ns */
    OPT_SIZE,      /* bytes: "0", "500M", "10G" (size.h) */
    OPT_SIZE_AUTO, /* the same, or "auto": LT_RETAIN_SIZE_AUTO, resolved at
                      start (lt_options_auto_retain_size) */
    OPT_BOOL,      /* a flag without a value: true when given */
    OPT_HELP,      /* actions: nothing stored, never in a config file */
    OPT_VERSION,
    OPT_CONFIG,       /* --config FILE */
    OPT_CHECK_CONFIG, /* --check-config FILE */
    OPT_PRINT_CONFIG, /* --print-config */
} opt_type;

typedef struct config_map {
    const char *name; /* the flag without its "--" */
    char short_name;  /* or 0 */
    opt_type type;
    const char *def;  /* the default, as the flag's value; NULL: none */
    long min, max;    /* OPT_INT's range */
    size_t offset;    /* where in lt_collector_options (not for actions) */
    const char *arg;  /* the value's name in --help */
    const char *help; /* one or more lines; "{default}" stands for def */
} config_map;

/* The offset of `field`, which must be of C type `type` (a compile error
 * otherwise), so an entry cannot store into a field of the wrong type. */
/* clang-format off */
#define STORED_IN(field, type)                                                               \
    (offsetof(lt_collector_options, field) +                                                 \
     0 * sizeof(char[__builtin_types_compatible_p(                                           \
                          __typeof__(((lt_collector_options *)0)->field), type) ? 1 : -1]))
/* clang-format on */

static const config_map options[] = {
    {"listen", 0, OPT_ADDRESS, LT_DEFAULT_ENDPOINT, 0, 0, STORED_IN(listen, const char *), "ENDPOINT",
     "ZeroMQ endpoint runners send to (default {default};\n"
     "the same default as LOGTAP_ENDPOINT in runners)"},
    {"http", 0, OPT_ADDRESS, LT_DEFAULT_HTTP, 0, 0, STORED_IN(http, const char *), "HOST:PORT",
     "HTTP API address (default {default}; port 0 picks a\n"
     "free port, written to DATA/collector.json)"},
    {"data", 0, OPT_STRING, "logtap-data", 0, 0, STORED_IN(data, const char *), "DIR",
     "directory of the embedded store (default\n"
     "./{default}); created if missing"},
    {"rings", 0, OPT_STRING, LT_DEFAULT_RING_DIR, 0, 0, STORED_IN(rings, const char *), "DIR",
     "where runners keep their ring files (default {default},\n"
     "as LOGTAP_RING_DIR in runners): the rings of runners\n"
     "that exited or died with records not yet stored\n"
     "are replayed from there and removed"},
    {"commit-ms", 0, OPT_INT, "10", 1, 10000, STORED_IN(commit_ms, int), "N",
     "longest time a line waits before it is committed\n"
     "and acknowledged (default {default})"},
    {"retain-age", 0, OPT_DURATION, "30d", 0, 0, STORED_IN(retain_age_ns, int64_t), "AGE",
     "delete lines older than AGE (30m, 12h, 30d, 2w;\n"
     "default {default}; 0 keeps lines forever)"},
    {"retain-size", 0, OPT_SIZE_AUTO, "auto", 0, 0, STORED_IN(retain_bytes, int64_t), "SIZE",
     "while the store holds more than SIZE bytes (K, M, G\n"
     "suffixes), delete the oldest lines of the app (or of\n"
     "the runner, for lines without app) that holds the\n"
     "most; 0: no limit; default {default}: half of the free\n"
     "space of DATA's file system plus what the store\n"
     "holds, measured at start (at least 16M)"},
    {"retain-size-per-app", 0, OPT_SIZE, "0", 0, 0, STORED_IN(retain_app_bytes, int64_t), "SIZE",
     "delete the oldest lines of an app (or an app-less\n"
     "runner) while it holds more than SIZE bytes (its\n"
     "messages, IDs and 64 bytes a line; default {default}:\n"
     "no limit)"},
    {"clock-skew", 0, OPT_DURATION, "5m", 0, 0, STORED_IN(clock_skew_ns, int64_t), "SKEW",
     "runner timestamps later than the collector's clock\n"
     "plus SKEW are stored as now + SKEW, so that a runner\n"
     "cannot date its lines out of retention's reach\n"
     "(default {default}; 0 stores them as sent); earlier\n"
     "ones are kept (a replayed ring is old)"},
    {"credentials", 0, OPT_STRING, NULL, 0, 0, STORED_IN(credentials, const char *), "FILE",
     "where to record the admin token for the local CLI\n"
     "(default $XDG_CONFIG_HOME/logtap/credentials, else\n"
     "~/.config/logtap/credentials; 'none' to skip)"},
    {"new-admin-token", 0, OPT_BOOL, NULL, 0, 0, STORED_IN(new_admin_token, bool), NULL,
     "mint a new admin token into DATA/admin.token (the\n"
     "old ones keep working until revoked)"},
    {"partial-line-ms", 0, OPT_INT, "5000", 1, 86400000, STORED_IN(partial_line_ms, int), "N",
     "how long an unfinished line (no newline yet) is\n"
     "held before it is stored as it is (default {default}); the\n"
     "runner keeps its records until then"},
    /* Memory bounds: README.md, "Limits", says what happens at each. */
    {"max-instances", 0, OPT_INT, "4096", 16, 1000000, STORED_IN(max_instances, int), "N",
     "process instances cached in memory, all runners\n"
     "(default {default}); at the bound the least recently\n"
     "used idle one is evicted (its state is in the store)"},
    {"max-runner-instances", 0, OPT_INT, "512", 1, 1000000, STORED_IN(max_runner_instances, int), "N",
     "the same, per runner ID (default {default}); with none\n"
     "idle, a new instance's frame waits (it is resent)"},
    {"max-instance-streams", 0, OPT_INT, "1024", 4, 1000000, STORED_IN(max_instance_streams, int), "N",
     "(thread, stream) entries per instance (default\n"
     "{default}); at the bound idle ones are dropped, else the\n"
     "instance's unfinished lines are stored as they are"},
    {"max-instance-partial", 0, OPT_SIZE, "16M", 0, 0, STORED_IN(max_instance_partial, int64_t), "SIZE",
     "bytes of unfinished lines held per instance (default\n"
     "{default}); at the bound the oldest is stored as it is"},
    {"max-partial", 0, OPT_SIZE, "256M", 0, 0, STORED_IN(max_partial, int64_t), "SIZE",
     "the same, all instances (default {default})"},
    {"request-rate", 0, OPT_INT, "2000", 1, 100000000, STORED_IN(request_rate, int), "N",
     "request rows a runner ID may open per second, on\n"
     "average (default {default}); beyond, a request's lines\n"
     "are stored but it gets no row"},
    {"request-burst", 0, OPT_INT, "20000", 1, 100000000, STORED_IN(request_burst, int), "N",
     "request rows a runner ID may open at once (default\n"
     "{default})"},
    {"ingest-queue", 0, OPT_INT, "64", 1, 100000, STORED_IN(ingest_queue, int), "N",
     "frames queued per ZeroMQ connection before the\n"
     "sender waits (default {default})"},
    {"ingest-auth", 0, OPT_STRING, "local", 0, 0, STORED_IN(ingest_auth, const char *), "MODE",
     "which frames are believed (default {default}):\n"
     "required: only those with a valid runner credential\n"
     "(LOGTAP_CREDENTIAL); local: also those without one\n"
     "from the collector's own user over an ipc endpoint;\n"
     "off: every well-formed frame (README.md, \"Tenants\n"
     "and ingest authentication\")"},
    {"ingest-key", 0, OPT_STRING, NULL, 0, 0, STORED_IN(ingest_key, const char *), "FILE",
     "the key runner credentials are signed with: 32 to\n"
     "256 bytes, mode 0600 (default DATA/ingest.key, made\n"
     "at first start); collectors of a fleet share one\n"
     "so that a credential minted by one is valid on all"},
    {"http-max-connections", 0, OPT_INT, "1000", 8, 100000, STORED_IN(http_max_connections, int), "N",
     "open HTTP connections in all (default {default}); a 1/8\n"
     "share is kept for clients that have shown a valid\n"
     "token: at the rest, the oldest connection without one\n"
     "is closed to admit a new one"},
    {"http-max-per-ip", 0, OPT_INT, "256", 8, 100000, STORED_IN(http_max_per_ip, int), "N",
     "open HTTP connections from one address (default\n"
     "{default}; the same 1/8 share is kept)"},
    {"http-read-timeout", 0, OPT_DURATION, "15s", 0, 0, STORED_IN(http_read_timeout_ns, int64_t), "T",
     "longest time to receive a request, headers and body\n"
     "in total, however slowly bytes trickle in; also how\n"
     "long an idle keep-alive connection stays (default\n"
     "{default}; 0: no deadline)"},
    {"http-streams-per-token", 0, OPT_INT, "16", 1, 100000, STORED_IN(http_streams_per_token, int), "N",
     "open follow streams of one token (default {default});\n"
     "more are refused with 429"},
    {"http-streams-per-user", 0, OPT_INT, "64", 1, 100000, STORED_IN(http_streams_per_user, int), "N",
     "open follow streams of one user's tokens (default\n"
     "{default}); more are refused with 429"},
    {"http-page-bytes", 0, OPT_SIZE, "8M", 0, 0, STORED_IN(http_page_bytes, int64_t), "SIZE",
     "bytes of log entries in one page (default {default}; 0: no\n"
     "limit): a fuller page ends early with a cursor"},
    /* Log drains: README.md, "Log drains". */
    {"drain-ca-file", 0, OPT_STRING, NULL, 0, 0, STORED_IN(drain_ca_file, const char *), "FILE",
     "CA certificates (PEM) drains trust besides the\n"
     "system's, for destinations with a private CA"},
    {"drain-timeout", 0, OPT_DURATION, "30s", 0, 0, STORED_IN(drain_timeout_ns, int64_t), "T",
     "longest wait for a destination to take one batch\n"
     "(default {default}); then the batch is retried"},
    {"drain-backoff-max", 0, OPT_DURATION, "5m", 0, 0, STORED_IN(drain_backoff_max_ns, int64_t), "T",
     "longest wait between two attempts of a failing\n"
     "batch (default {default}; exponential from 250ms, jittered)"},
    {"drain-batch-lines", 0, OPT_INT, "1000", 1, 100000, STORED_IN(drain_batch_lines, int), "N",
     "lines a drain sends in one batch at most (default\n"
     "{default})"},
    {"drain-batch-bytes", 0, OPT_SIZE, "1M", 0, 0, STORED_IN(drain_batch_bytes, int64_t), "SIZE",
     "payload bytes of one batch, about (default {default}):\n"
     "with one batch a drain, what a drain holds"},
    {"config", 0, OPT_CONFIG, NULL, 0, 0, 0, "FILE",
     "read settings from FILE first (key = value lines,\n"
     "README.md, \"Configuration file\"); flags given here\n"
     "override it. Default: " LT_DEFAULT_CONFIG_FILE "\n"
     "if it exists; 'none' reads no file"},
    {"check-config", 0, OPT_CHECK_CONFIG, NULL, 0, 0, 0, "FILE",
     "check FILE, print each error as FILE:LINE: message,\n"
     "and exit (0: it is valid, 1: it is not)"},
    {"print-config", 0, OPT_PRINT_CONFIG, NULL, 0, 0, 0, NULL,
     "print the settings in effect (defaults, then the\n"
     "file, then flags) as a config file, and exit"},
    {"help", 'h', OPT_HELP, NULL, 0, 0, 0, NULL, "show this help"},
    {"version", 0, OPT_VERSION, NULL, 0, 0, 0, NULL, "show the version"},
};

#define N_OPTIONS (sizeof options / sizeof options[0])
#define HELP_COLUMN 22 /* where the explanations start in --help */
#define LONG_ONLY 1000 /* getopt_long's value for option i: LONG_ONLY + i */

/* Settings are stored; actions (--help, --config...) are done. Only
 * settings may appear in a config file. */
static bool is_setting(const config_map *m)
{
    return m->type <= OPT_BOOL;
}

static bool takes_value(const config_map *m)
{
    return m->type == OPT_CONFIG || m->type == OPT_CHECK_CONFIG || (is_setting(m) && m->type != OPT_BOOL);
}

/* Store `text` as setting m's value. `text` is NULL for a bool flag given
 * on the command line (true); a config file writes true or false. Returns
 * 0, or -1 with "takes ..." in `why`: what the setting accepts, for the
 * caller to prefix with "--NAME" or "FILE:LINE: NAME". One parser for flags
 * and file, so both accept exactly the same values. */
static int set(const config_map *m, const char *text, lt_collector_options *o, char *why, size_t why_len)
{
    assert(is_setting(m));
    assert(text != NULL || m->type == OPT_BOOL);
    void *field = (char *)o + m->offset;
    char *end;
    switch (m->type) {
    case OPT_ADDRESS:
        if (strpbrk(text, "\"\\")) {
            snprintf(why, why_len, "takes an address without quotes or backslashes, not '%s'", text);
            return -1;
        }
        /* fall through */
    case OPT_STRING:
        if (text[0] == '\0') {
            snprintf(why, why_len, "takes a non-empty value");
            return -1;
        }
        lt_ingest_auth mode;
        if (strcmp(m->name, "ingest-auth") == 0 && lt_ingest_auth_parse(text, &mode) != 0) {
            snprintf(why, why_len, "takes off, local or required, not '%s'", text);
            return -1;
        }
        *(const char **)field = text;
        return 0;
    case OPT_INT: {
        errno = 0;
        long v = strtol(text, &end, 10);
        if (*end || end == text || errno != 0 || v < m->min || v > m->max) {
            snprintf(why, why_len, "takes %ld..%ld, not '%s'", m->min, m->max, text);
            return -1;
        }
        *(int *)field = (int)v;
        return 0;
    }
    case OPT_DURATION: {
        int64_t ns = 0;
        if (strcmp(text, "0") != 0 && (lt_duration_parse(text, &ns) != 0 || ns <= 0)) {
            snprintf(why, why_len, "takes 0 or a duration like 30m, 12h, 30d, 2w, not '%s'", text);
            return -1;
        }
        *(int64_t *)field = ns;
        return 0;
    }
    case OPT_SIZE_AUTO:
        if (strcmp(text, "auto") == 0) {
            *(int64_t *)field = LT_RETAIN_SIZE_AUTO;
            return 0;
        }
        if (lt_parse_size(text, (int64_t *)field) != 0) {
            snprintf(why, why_len, "takes auto or a size like 0, 500M, 10G, not '%s'", text);
            return -1;
        }
        return 0;
    case OPT_SIZE:
        if (lt_parse_size(text, (int64_t *)field) != 0) {
            snprintf(why, why_len, "takes a size like 0, 500M, 10G, not '%s'", text);
            return -1;
        }
        return 0;
    case OPT_BOOL:
        if (text == NULL || strcmp(text, "true") == 0 || strcmp(text, "yes") == 0 || strcmp(text, "1") == 0) {
            *(bool *)field = true;
            return 0;
        }
        if (strcmp(text, "false") == 0 || strcmp(text, "no") == 0 || strcmp(text, "0") == 0) {
            *(bool *)field = false;
            return 0;
        }
        snprintf(why, why_len, "takes true or false (yes, no, 1, 0), not '%s'", text);
        return -1;
    default: break;
    }
    assert(!"not a setting");
    return -1;
}

/* One option's entry in --help: the flag, then its explanation from
 * HELP_COLUMN on (on the next line after a long flag), continuation lines
 * too, "{default}" replaced. */
static void print_option(FILE *out, const config_map *m)
{
    static const char mark[] = "{default}";
    char flag[64], short_flag[8] = "";
    if (m->short_name)
        snprintf(short_flag, sizeof short_flag, "-%c, ", m->short_name);
    snprintf(flag, sizeof flag, "%s--%s%s%s", short_flag, m->name, m->arg ? " " : "", m->arg ? m->arg : "");
    if (strlen(flag) > HELP_COLUMN - 3) /* too long: the explanation starts below */
        fprintf(out, "  %s\n%*s", flag, HELP_COLUMN, "");
    else
        fprintf(out, "  %-*s ", HELP_COLUMN - 3, flag);
    for (const char *p = m->help; *p; p++) {
        if (strncmp(p, mark, sizeof mark - 1) == 0) {
            fputs(m->def ? m->def : "", out);
            p += sizeof mark - 2;
        } else if (*p == '\n') {
            fprintf(out, "\n%*s", HELP_COLUMN, "");
        } else {
            fputc(*p, out);
        }
    }
    fputc('\n', out);
}

static void usage(FILE *out)
{
    fputs("Usage: logtap-collector [OPTIONS]\n"
          "\n"
          "Receive runners' captured output from liblogtap.so, assemble it into\n"
          "runner logs and request logs, store it, and serve it over HTTP.\n"
          "\n"
          "Options:\n",
          out);
    for (size_t i = 0; i < N_OPTIONS; i++)
        print_option(out, &options[i]);
    fputs("\n"
          "On its first start the collector creates the admin user and its API token\n"
          "(DATA/admin.token, mode 0600) and records it for the local logtap CLI.\n"
          "SIGTERM or SIGINT stops the collector after everything received has been\n"
          "stored. Only one collector may use a data directory at a time.\n",
          out);
}

int64_t lt_options_auto_retain_size(const char *data_dir, int64_t store_bytes)
{
    struct statvfs fs;
    if (statvfs(data_dir, &fs) != 0)
        return -1;
    int64_t room = (int64_t)fs.f_bavail * (int64_t)fs.f_frsize + (store_bytes > 0 ? store_bytes : 0);
    int64_t size = room / 2;
    return size < LT_RETAIN_SIZE_AUTO_MIN ? LT_RETAIN_SIZE_AUTO_MIN : size;
}

/* ---- the config file ---- */

#define CONFIG_MAX_BYTES (1 << 20) /* a settings file, not a data file */
#define CONFIG_MAX_LINE 4096

/* The file's values, kept for the process's life (the options point into
 * them); static, so that they stay reachable. One slot per setting: a key
 * set twice in a file is an error, and one file is read per process. */
static char *file_values[N_OPTIONS];

static const config_map *find_option(const char *name)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strcmp(options[i].name, name) == 0)
            return &options[i];
    return NULL;
}

static char *trim(char *text)
{
    while (*text == ' ' || *text == '\t')
        text++;
    char *end = text + strlen(text);
    while (end > text && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        *--end = '\0';
    return text;
}

/* One line of a config file (without its newline) into `o`. Returns 0, or
 * -1 with the message in `why`. first_line[i]: where setting i was set. */
static int apply_config_line(char *line, int number, lt_collector_options *o, int first_line[N_OPTIONS],
                             char *why, size_t why_len)
{
    char *text = trim(line);
    if (text[0] == '\0' || text[0] == '#')
        return 0;
    char *equals = strchr(text, '=');
    if (equals == NULL) {
        snprintf(why, why_len, "expected 'key = value' or a # comment, not '%.80s'", text);
        return -1;
    }
    *equals = '\0';
    char *key = trim(text), *value = trim(equals + 1);
    if (key[0] == '\0') {
        snprintf(why, why_len, "no key before '='");
        return -1;
    }
    const char *bare = strncmp(key, "--", 2) == 0 ? key + 2 : key;
    const config_map *m = find_option(bare);
    if (m == NULL || bare != key) {
        snprintf(why, why_len, "unknown key '%.80s'%s", key,
                 m != NULL ? ": write the flag's name without '--'"
                           : " (logtap-collector --help lists them)");
        return -1;
    }
    if (!is_setting(m)) {
        snprintf(why, why_len, "'%s' is not a setting: it is an action of the command line", key);
        return -1;
    }
    size_t index = (size_t)(m - options);
    if (first_line[index] != 0) {
        snprintf(why, why_len, "duplicate key '%s' (first set on line %d)", key, first_line[index]);
        return -1;
    }
    char *kept = strdup(value);
    if (kept == NULL) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    char said[256];
    if (set(m, kept, o, said, sizeof said) != 0) {
        free(kept);
        snprintf(why, why_len, "%s %s", key, said);
        return -1;
    }
    free(file_values[index]);
    file_values[index] = kept;
    first_line[index] = number;
    return 0;
}

/* Read `path` into `o`, saying every error as "PATH:LINE: message" (or
 * "PATH: message") on stderr. Returns the number of errors. */
static int load_config(const char *path, lt_collector_options *o)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "%s: cannot read: %s\n", path, strerror(errno));
        return 1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX_BYTES) {
        fprintf(stderr, "%s: not a config file (a regular file of at most %d bytes)\n", path,
                CONFIG_MAX_BYTES);
        fclose(f);
        return 1;
    }
    int first_line[N_OPTIONS] = {0};
    int errors = 0, number = 0;
    char *line = NULL;
    size_t capacity = 0;
    ssize_t len;
    while ((len = getline(&line, &capacity, f)) >= 0) {
        number++;
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        char why[512];
        if ((size_t)len != strlen(line))
            snprintf(why, sizeof why, "a NUL byte in the line");
        else if (len > CONFIG_MAX_LINE)
            snprintf(why, sizeof why, "line longer than %d bytes", CONFIG_MAX_LINE);
        else if (apply_config_line(line, number, o, first_line, why, sizeof why) == 0)
            continue;
        fprintf(stderr, "%s:%d: %s\n", path, number, why);
        errors++;
    }
    if (ferror(f)) {
        fprintf(stderr, "%s: read error: %s\n", path, strerror(errno));
        errors++;
    }
    free(line);
    fclose(f);
    return errors;
}

/* A duration as the largest unit that states it exactly. */
static void format_duration(char *out, size_t size, int64_t ns)
{
    static const struct {
        char unit;
        int64_t ns;
    } units[] = {{'w', INT64_C(604800000000000)},
                 {'d', INT64_C(86400000000000)},
                 {'h', INT64_C(3600000000000)},
                 {'m', INT64_C(60000000000)},
                 {'s', INT64_C(1000000000)}};
    if (ns == 0) {
        snprintf(out, size, "0");
        return;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (ns % units[i].ns == 0) {
            snprintf(out, size, "%lld%c", (long long)(ns / units[i].ns), units[i].unit);
            return;
        }
    assert(!"durations are whole seconds");
    snprintf(out, size, "%llds", (long long)(ns / 1000000000));
}

static void format_size(char *out, size_t size, int64_t bytes)
{
    static const char units[] = "TGMK";
    for (int i = 0; units[i]; i++) {
        int64_t unit = INT64_C(1) << (10 * (4 - i));
        if (bytes != 0 && bytes % unit == 0) {
            snprintf(out, size, "%lld%c", (long long)(bytes / unit), units[i]);
            return;
        }
    }
    snprintf(out, size, "%lld", (long long)bytes);
}

/* The settings in effect, one "key = value" line each: itself a valid
 * config file that gives the same settings. */
static void print_config(FILE *out, const lt_collector_options *o, const char *file)
{
    fprintf(out, "# logtap-collector %s: defaults, then %s, then flags\n", LT_VERSION,
            file != NULL ? file : "no config file");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const config_map *m = &options[i];
        if (!is_setting(m))
            continue;
        const void *field = (const char *)o + m->offset;
        char value[64];
        switch (m->type) {
        case OPT_ADDRESS:
        case OPT_STRING: {
            const char *text = *(const char *const *)field;
            if (text == NULL)
                fprintf(out, "# %s is not set\n", m->name);
            else
                fprintf(out, "%s = %s\n", m->name, text);
            continue;
        }
        case OPT_INT: snprintf(value, sizeof value, "%d", *(const int *)field); break;
        case OPT_DURATION: format_duration(value, sizeof value, *(const int64_t *)field); break;
        case OPT_SIZE_AUTO:
            if (*(const int64_t *)field == LT_RETAIN_SIZE_AUTO) {
                snprintf(value, sizeof value, "auto");
                break;
            }
            /* fall through */
        case OPT_SIZE: format_size(value, sizeof value, *(const int64_t *)field); break;
        case OPT_BOOL: snprintf(value, sizeof value, "%s", *(const bool *)field ? "true" : "false"); break;
        default: assert(!"not a setting"); continue;
        }
        fprintf(out, "%s = %s\n", m->name, value);
    }
}

static void set_defaults(lt_collector_options *o)
{
    memset(o, 0, sizeof *o);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        char why[256];
        /* A default the setting's own parser refuses is a bug of the table. */
        if (options[i].def && set(&options[i], options[i].def, o, why, sizeof why) != 0) {
            fprintf(stderr, "logtap-collector: bad default of --%s: %s\n", options[i].name, why);
            abort();
        }
    }
}

/* --check-config FILE: 0 if it is valid, 1 if not. */
static int check_config(const char *path)
{
    lt_collector_options scratch;
    set_defaults(&scratch);
    int errors = load_config(path, &scratch);
    if (errors == 0) {
        printf("%s: OK\n", path);
        return 0;
    }
    fprintf(stderr, "%s: %d error%s\n", path, errors, errors == 1 ? "" : "s");
    return 1;
}

int lt_options_parse(int argc, char **argv, lt_collector_options *o)
{
    set_defaults(o);

    struct option longopts[N_OPTIONS + 1];
    char shortopts[2 * N_OPTIONS + 1];
    size_t ns = 0;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const config_map *m = &options[i];
        longopts[i] = (struct option){m->name, takes_value(m) ? required_argument : no_argument, NULL,
                                      LONG_ONLY + (int)i};
        if (m->short_name) {
            shortopts[ns++] = m->short_name;
            if (takes_value(m))
                shortopts[ns++] = ':';
        }
    }
    longopts[N_OPTIONS] = (struct option){0};
    shortopts[ns] = '\0';

    /* Flags are applied after the file, so that they override it: until
     * then they are only collected. */
    struct given {
        const config_map *option;
        const char *value;
    } *given = calloc((size_t)argc + 1, sizeof *given);
    if (given == NULL) {
        fprintf(stderr, "logtap-collector: out of memory\n");
        return 2;
    }
    size_t n_given = 0;
    const char *config = NULL, *check = NULL;
    bool print = false;
    int rc = -1;
    int c;
    while (rc < 0 && (c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        const config_map *m = NULL;
        if (c >= LONG_ONLY && c < LONG_ONLY + (int)N_OPTIONS)
            m = &options[c - LONG_ONLY];
        for (size_t i = 0; !m && c != '?' && c != ':' && i < N_OPTIONS; i++)
            if (options[i].short_name == c)
                m = &options[i];
        if (!m) { /* getopt_long has said what is wrong */
            fprintf(stderr, "Try 'logtap-collector --help'.\n");
            rc = 2;
            break;
        }
        switch (m->type) {
        case OPT_HELP:
            usage(stdout);
            rc = 0;
            break;
        case OPT_VERSION:
            printf("logtap-collector " LT_VERSION " (wire format %d)\n", LT_WIRE_VERSION);
            rc = 0;
            break;
        case OPT_CONFIG: config = optarg; break;
        case OPT_CHECK_CONFIG: check = optarg; break;
        case OPT_PRINT_CONFIG: print = true; break;
        default:
            assert(n_given < (size_t)argc);
            given[n_given++] = (struct given){m, takes_value(m) ? optarg : NULL};
        }
    }
    if (rc < 0 && optind < argc) {
        fprintf(stderr, "logtap-collector: unexpected argument '%s'\nTry 'logtap-collector --help'.\n",
                argv[optind]);
        rc = 2;
    }
    if (rc < 0 && check != NULL)
        rc = check_config(check);
    if (rc < 0 && config == NULL && access(LT_DEFAULT_CONFIG_FILE, F_OK) == 0)
        config = LT_DEFAULT_CONFIG_FILE; /* the default file is read only if it exists */
    if (rc < 0 && config != NULL && strcmp(config, "none") != 0) {
        int errors = load_config(config, o);
        if (errors > 0) {
            fprintf(stderr, "logtap-collector: %d error%s in %s (check it with --check-config)\n", errors,
                    errors == 1 ? "" : "s", config);
            rc = 2;
        } else {
            o->config_file = config;
        }
    }
    for (size_t i = 0; rc < 0 && i < n_given; i++) {
        char why[512];
        if (set(given[i].option, given[i].value, o, why, sizeof why) != 0) {
            fprintf(stderr, "logtap-collector: --%s %s\n", given[i].option->name, why);
            rc = 2;
        }
    }
    free(given);
    if (rc < 0 && print) {
        print_config(stdout, o, o->config_file);
        rc = 0;
    }
    return rc;
}
