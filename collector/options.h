/* options.h -- logtap-collector's settings: what they are, their defaults,
 * and reading them from the config file and the command line.
 *
 * Every setting is declared once, in options.c's table (name, type, default,
 * help text, where it is stored); the getopt_long options, the --help text,
 * the config file's keys and the checks of each value are derived from
 * that table.
 */
#ifndef LT_OPTIONS_H
#define LT_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct lt_collector_options {
    const char *listen;       /* ZeroMQ endpoint runners send to */
    const char *http;         /* HTTP API address, HOST:PORT */
    const char *data;         /* directory of the embedded store */
    const char *rings;        /* where runners keep their ring files */
    int commit_ms;            /* longest wait of a line before its commit */
    int partial_line_ms;      /* how long an unfinished line is held */
    int64_t retain_age_ns;    /* delete lines older than this; 0: never */
    int64_t retain_bytes;     /* the store's size limit; 0: no limit;
                                 LT_RETAIN_SIZE_AUTO until main resolves it */
    int64_t retain_app_bytes; /* one tenant's share; 0: no limit */
    int64_t clock_skew_ns;    /* runner stamps later than now + this are
                                 clamped; 0: trusted as sent */
    const char *credentials;  /* the CLI's credentials file; NULL: the default path */
    const char *config_file;  /* the config file read; NULL: none (not a setting) */
    bool new_admin_token;     /* mint another admin token */
    /* What HTTP clients may hold (http.h, lt_http_limits). */
    int http_max_connections;
    int http_max_per_ip;
    int64_t http_read_timeout_ns; /* 0: the default */
    int http_streams_per_token;
    int http_streams_per_user;
    int64_t http_page_bytes; /* 0: no budget */
    /* Memory bounds (README.md, "Limits"; assembler.h, ingest.h) */
    int max_instances;               /* process instances cached, all runners */
    int max_runner_instances;        /* ... per runner ID */
    int max_instance_streams;        /* (thread, stream) entries per instance */
    int64_t max_instance_partial;    /* bytes of unfinished lines per instance */
    int64_t max_partial;             /* ... all instances */
    int request_rate, request_burst; /* request rows per runner ID */
    int ingest_queue;                /* messages queued per connection */
    const char *ingest_auth;         /* off, local or required (credential.h) */
    const char *ingest_key;          /* the credential key's file; NULL: DATA/ingest.key */
    /* Log drains (drain.h) */
    const char *drain_ca_file;
    int64_t drain_timeout_ns;
    int64_t drain_backoff_max_ns;
    int drain_batch_lines;
    int64_t drain_batch_bytes;
} lt_collector_options;

/* The config file read when --config does not name one, if it exists. */
#define LT_DEFAULT_CONFIG_FILE "/etc/logtap/collector.conf"

/* Fill `o` with the defaults, then the config file's settings (--config,
 * else LT_DEFAULT_CONFIG_FILE if it exists), then argv's flags. Returns -1
 * when the collector is to run, otherwise the exit status: 0 after --help,
 * --version, --print-config or a valid --check-config file, 1 after an
 * invalid one, 2 after a usage error or an error in the config file (each
 * said on stderr, a file's as FILE:LINE: message). Strings in `o` point
 * into argv or into storage kept for the process's life. */
int lt_options_parse(int argc, char **argv, lt_collector_options *o);

/* --retain-size auto, until resolved. */
#define LT_RETAIN_SIZE_AUTO (-1)
/* What --retain-size auto means for a store in `data_dir` that holds
 * `store_bytes`: half of the space the store could take, that is of the
 * file system's space available to the collector plus what the store
 * holds already, and at least LT_RETAIN_SIZE_AUTO_MIN. Returns -1 if the
 * file system cannot be asked (statvfs). */
#define LT_RETAIN_SIZE_AUTO_MIN (INT64_C(16) << 20)
int64_t lt_options_auto_retain_size(const char *data_dir, int64_t store_bytes);

#endif
