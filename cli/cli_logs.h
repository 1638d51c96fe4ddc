/* cli_logs.h -- what the log commands (cli_logs.c) share with follow mode
 * (cli_follow.c): the query a command line describes, and the printer
 * that shows entries. */
#ifndef LT_CLI_LOGS_H
#define LT_CLI_LOGS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "cli_http.h"
#include "cli_text.h"

/* Exact-match filters; each is sent as the query parameter of its name,
 * and set by the option of the same name (--runner, --request, ...). */
enum log_filter {
    FILTER_RUNNER,
    FILTER_REQUEST,
    FILTER_APP,
    FILTER_VERSION,
    FILTER_SOURCE,
    FILTER_LEVEL,
    FILTER_COUNT
};

/* What a log command is about: runners logs, requests logs or logs. */
struct log_scope {
    const char *command;    /* "logtap runners logs" */
    const char *collection; /* /v1/<collection>/<id>/logs; NULL: /v1/logs */
    const char *noun;       /* "runner"; NULL: no ID */
    const char *id_name;    /* "RUNNER_ID"; NULL: no ID */
    int own_filter;         /* the filter the ID fills, or -1 */
};

enum lines_mode { LINES_ALL, LINES_NEWEST, LINES_OLDEST };

/* As typed: the server parses everything again and stays the authority;
 * the CLI checks only to catch mistakes before any traffic. */
#define FILTER_VALUES_MAX 16 /* values of a repeated filter, as the collector takes */

struct logs_query {
    const struct log_scope *scope;
    const char *id; /* the scope's ID; NULL for logs */
    /* Each filter's values (--app a --app b: any of them); --source and
     * --level take one, the last given. */
    const char *filters[FILTER_COUNT][FILTER_VALUES_MAX];
    int filter_counts[FILTER_COUNT];
    const char *since;
    const char *until;
    const char *search;
    const char *exclude;
    bool ignore_case;
    int64_t since_ns; /* as the CLI evaluated them */
    int64_t until_ns;
    enum lines_mode lines_mode;
    long long lines;
    bool follow;
    long long wait_s; /* requests logs -f --wait; -1: the server's default */
};

/* Per-request parameters on top of the query; -1 (NULL) means not sent. */
struct page_params {
    const char *since;
    long long tail;
    long long limit;
    long long after;
    long long before;
    bool follow;
};

/* Caller frees. */
char *logs_url_new(const struct collector *c, const struct logs_query *q, const struct page_params *pp);

/* `requests logs`: its follow stream reports the request's status, and
 * follow mode ends when it completes. */
bool logs_query_is_one_request(const struct logs_query *q);

/* How long the collector may wait for the request before answering a
 * follow of it (--wait, else the server's default). */
long long logs_query_wait_s(const struct logs_query *q);

/* The target whose 404 means "unknown runner 'r-1'" (NULL noun for logs). */
struct target logs_query_target(const struct logs_query *q);

struct printer {
    enum output_format format;
    bool raw;
    bool show_runner; /* a RUNNER column: lines of many runners */
    bool keep_sgr;    /* stdout is a terminal, so colours render */
    int write_errno;  /* set when stdout failed */
    lt_buf line;      /* scratch space for one entry, reused */
};

/* Returns 0, or -1 when stdout failed (errno kept in write_errno, for
 * report_write_failure). One fwrite per entry keeps lines whole in
 * line-buffered follow mode. */
int print_entry(struct printer *p, json_t *entry);

bool json_integer_field(json_t *object, const char *key, long long *out);

/* Prints the query's lines, then new ones as they arrive (cli_follow.c).
 * Returns the exit code. */
int follow_logs(struct collector *c, const struct logs_query *q, struct printer *p);

#endif
