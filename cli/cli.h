/* cli.h -- what the files of the `logtap` CLI share: exit codes, the global
 * options every command accepts, usage errors, and each command's entry
 * point.
 *
 * The CLI is split by concern: cli.c (dispatch, the main help), cli_text.c
 * (strings, terminal safety), cli_credentials.c (which token to send),
 * cli_http.c (requests to the collector and their errors), cli_sse.c (the
 * event-stream parser), cli_logs.c and cli_follow.c (the log commands),
 * cli_requests.c (requests enqueue, requests status --stream),
 * cli_admin.c (tokens, apps, accounts, whoami), cli_lists.c (runners list,
 * requests list), cli_drains.c (log drains), cli_run.c (`logtap run`).
 */
#ifndef LT_CLI_H
#define LT_CLI_H

#include <getopt.h>

#include "logtap_wire.h"
#include "version.h"

#ifndef LOGTAP_VERSION
#endif

#define DEFAULT_SERVER "http://" LT_DEFAULT_HTTP

enum lt_exit {
    LT_EXIT_OK = 0,
    LT_EXIT_FAILED = 1, /* not found, server error, local failure */
    LT_EXIT_USAGE = 2,
    LT_EXIT_UNREACHABLE = 3,
    LT_EXIT_DENIED = 4, /* no usable token, or the collector refused it */
    /* `logtap run` mimics a shell when the command cannot be started. */
    LT_EXIT_NOT_EXECUTABLE = 126,
    LT_EXIT_NOT_FOUND = 127,
};

/* --server, --token and --credentials: accepted before the command and
 * after it. */
struct cli_globals {
    const char *server;      /* NULL: $LOGTAP_SERVER, else DEFAULT_SERVER */
    const char *token;       /* NULL: $LOGTAP_TOKEN, else the credentials file */
    const char *credentials; /* NULL: $LOGTAP_CREDENTIALS, else the default file */
};

/* getopt_long values of long options without a short form. One list for
 * every command, so a flag means the same thing wherever it appears. */
enum cli_option {
    OPT_SERVER = 256,
    OPT_TOKEN,
    OPT_CREDENTIALS,
    OPT_SINCE,
    OPT_UNTIL,
    OPT_SEARCH,
    OPT_OUTPUT,
    OPT_RAW,
    OPT_LOGS,
    OPT_VERSION,
    OPT_RUNNER,
    OPT_REQUEST,
    OPT_APP,
    OPT_SOURCE,
    OPT_LEVEL,
    OPT_ENDPOINT,
    OPT_CATCH_ALL,
    OPT_USER,
    OPT_LABEL,
    OPT_OWNER,
    OPT_PRIVATE_LOGS,
    OPT_PUBLIC_LOGS,
    OPT_DEFAULT_PRIVATE_LOGS,
    OPT_JSON,
    OPT_EXCLUDE,
    OPT_ALL,
    OPT_STATE,
    OPT_CALLER,
    OPT_SCOPE,
    OPT_TTL,
    OPT_WAIT,
    OPT_STREAM,
};

#define CLI_GLOBAL_OPTIONS                                                                                   \
    {"server", required_argument, NULL, OPT_SERVER}, {"token", required_argument, NULL, OPT_TOKEN},          \
    {                                                                                                        \
        "credentials", required_argument, NULL, OPT_CREDENTIALS                                              \
    }

/* The help lines for CLI_GLOBAL_OPTIONS, in the 23-column layout every
 * command's help uses. */
#define CLI_GLOBAL_OPTIONS_HELP                                                                              \
    "      --server URL     the collector's HTTP address (default:\n"                                        \
    "                       $LOGTAP_SERVER if set, else " DEFAULT_SERVER ")\n"                               \
    "      --token TOKEN    the API token (default: $LOGTAP_TOKEN if set,\n"                                 \
    "                       else the server's line in the credentials file;\n"                               \
    "                       see 'logtap --help')\n"                                                          \
    "      --credentials FILE\n"                                                                             \
    "                       the credentials file to read (default:\n"                                        \
    "                       $LOGTAP_CREDENTIALS if set, else\n"                                              \
    "                       ~/.config/logtap/credentials)\n"

typedef int command_fn(struct cli_globals *g, int argc, char **argv);

/* --output FORMAT, which the log and admin commands take. */
enum output_format { OUTPUT_TEXT, OUTPUT_JSON };

/* Records --server/--token/--credentials into *g. Returns LT_EXIT_OK or a usage error. */
int cli_global_option(int opt, const char *arg, struct cli_globals *g, const char *command);

__attribute__((format(printf, 2, 3))) int usage_error(const char *command, const char *fmt, ...);

/* Reads --output's text or json into *out. Returns LT_EXIT_OK or a usage
 * error. */
int parse_output_format(const char *command, const char *text, enum output_format *out);

/* After getopt has printed what was wrong with an option. */
int option_error(const char *command);

/* Subcommands parse their own argv, whose [0] is the command word. */
void prepare_subcommand_argv(char **argv);

/* Exactly one non-empty operand after the options, else a usage error. */
int take_one_operand(const char *command, const char *name, int argc, char **argv, const char **out);

/* Accepts no operands after the options. */
int take_no_operands(const char *command, int argc, char **argv);

command_fn cmd_runners_logs, cmd_requests_logs, cmd_requests_status, cmd_logs;
command_fn cmd_requests_enqueue; /* cli_requests.c */
command_fn cmd_run;
command_fn cmd_runners_credential;

/* A runner credential for `logtap run`'s command (cli_credential.c), minted
 * in a child process so that nothing but the answer reaches the command;
 * NULL if none could be had (no token, refused, no answer). Free it. */
char *cli_run_credential_new(const char *runner, const char *app, const char *version, const char *source);
command_fn cmd_runners_list, cmd_requests_list; /* cli_lists.c */

/* `logtap run`'s exit code when exec failed with `error` (cli_run.c, also
 * for run --catch-all): 126 or 127, as a shell. */
int exec_failure_code(int error);
command_fn cmd_tokens_create, cmd_tokens_list, cmd_tokens_revoke;
command_fn cmd_apps_deploy, cmd_apps_list, cmd_apps_show;
command_fn cmd_account_set, cmd_account_show, cmd_whoami;
command_fn cmd_drains_add, cmd_drains_list, cmd_drains_remove;

#endif
