/* options.c -- logtap-collector's flags, declared once.
 *
 * `config_map` below is the only list of the collector's settings: each
 * entry gives the flag's name, its type (string, address, int with a range,
 * duration, size, bool; or an action: --help, --version), its default as
 * it would be written on the command line, the help text and the field of
 * lt_collector_options it is stored in. From it come getopt_long's option
 * array, the --help text, the defaults (parsed by the same code as the
 * flags, so a default cannot be a value the flag would refuse) and every
 * value's check and error message. A config file can go through set()
 * with the same table.
 */
#include "options.h"

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

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
    OPT_HELP,      /* actions: nothing stored */
    OPT_VERSION,
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
    {"help", 'h', OPT_HELP, NULL, 0, 0, 0, NULL, "show this help"},
    {"version", 0, OPT_VERSION, NULL, 0, 0, 0, NULL, "show the version"},
};

#define N_OPTIONS (sizeof options / sizeof options[0])
#define HELP_COLUMN 22 /* where the explanations start in --help */
#define LONG_ONLY 1000 /* getopt_long's value for option i: LONG_ONLY + i */

static bool takes_value(const config_map *m)
{
    return m->type != OPT_BOOL && m->type != OPT_HELP && m->type != OPT_VERSION;
}

/* Store `text` as option m's value (NULL: a bool flag given without a
 * value). Returns 0, or -1 after saying on stderr what the option takes. */
static int set(const config_map *m, const char *text, lt_collector_options *o)
{
    void *field = (char *)o + m->offset;
    char *end;
    switch (m->type) {
    case OPT_ADDRESS:
        if (strpbrk(text, "\"\\")) {
            fprintf(stderr, "logtap-collector: quotes and backslashes are not allowed in addresses\n");
            return -1;
        }
        /* fall through */
    case OPT_STRING: *(const char **)field = text; return 0;
    case OPT_INT: {
        long v = strtol(text, &end, 10);
        if (*end || end == text || v < m->min || v > m->max) {
            fprintf(stderr, "logtap-collector: --%s takes %ld..%ld, not '%s'\n", m->name, m->min, m->max,
                    text);
            return -1;
        }
        *(int *)field = (int)v;
        return 0;
    }
    case OPT_DURATION: {
        int64_t ns = 0;
        if (strcmp(text, "0") != 0 && (lt_duration_parse(text, &ns) != 0 || ns <= 0)) {
            fprintf(stderr,
                    "logtap-collector: --%s takes 0 or a duration like 30m, 12h, 30d, 2w, "
                    "not '%s'\n",
                    m->name, text);
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
            fprintf(stderr, "logtap-collector: --%s takes auto or a size like 0, 500M, 10G, not '%s'\n",
                    m->name, text);
            return -1;
        }
        return 0;
    case OPT_SIZE:
        if (lt_parse_size(text, (int64_t *)field) != 0) {
            fprintf(stderr, "logtap-collector: --%s takes a size like 0, 500M, 10G, not '%s'\n", m->name,
                    text);
            return -1;
        }
        return 0;
    case OPT_BOOL: /* getopt passes no value: the flag was given */ *(bool *)field = true; return 0;
    case OPT_HELP:
    case OPT_VERSION: break;
    }
    return 0;
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

int lt_options_parse(int argc, char **argv, lt_collector_options *o)
{
    memset(o, 0, sizeof *o);
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (options[i].def && set(&options[i], options[i].def, o) != 0)
            return 2;

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

    int c;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        const config_map *m = NULL;
        if (c >= LONG_ONLY && c < LONG_ONLY + (int)N_OPTIONS)
            m = &options[c - LONG_ONLY];
        for (size_t i = 0; !m && c != '?' && c != ':' && i < N_OPTIONS; i++)
            if (options[i].short_name == c)
                m = &options[i];
        if (!m) { /* getopt_long has said what is wrong */
            fprintf(stderr, "Try 'logtap-collector --help'.\n");
            return 2;
        }
        if (m->type == OPT_HELP) {
            usage(stdout);
            return 0;
        }
        if (m->type == OPT_VERSION) {
            printf("logtap-collector " LT_VERSION " (wire format %d)\n", LT_WIRE_VERSION);
            return 0;
        }
        if (set(m, takes_value(m) ? optarg : NULL, o) != 0)
            return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "logtap-collector: unexpected argument '%s'\nTry 'logtap-collector --help'.\n",
                argv[optind]);
        return 2;
    }
    return -1;
}
