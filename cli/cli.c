/* cli.c -- the `logtap` command-line tool: global options, the main help,
 * and dispatch to the commands (see cli.h for which file owns which).
 *
 * Why it looks the way it does:
 * - Global options (--server, --token, --credentials) come before the command; every
 *   command accepts them after its name too, since that is where people
 *   type them.
 * - Usage errors exit 2 and are found before any network traffic, with the
 *   message first and a pointer to the command's own --help after it.
 * - Commands are grouped as `logtap GROUP COMMAND` (runners, requests,
 *   tokens, apps, account); `logs`, `run` and `whoami` stand alone.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "catchall_run.h"
#include "cli.h"
#include "cli_credentials.h"
#include "cli_text.h"

static const char main_usage[] =
    "Usage: logtap [--server URL] [--token TOKEN] [--credentials FILE] COMMAND\n"
    "              [ARGS...]\n"
    "\n"
    "Read the stdout/stderr lines that logtap-collector captured from runners,\n"
    "run a command with its output captured, and manage who may read what.\n"
    "\n"
    "Commands:\n"
    "  runners list [FILTERS]      the runners you may see, newest first\n"
    "  runners logs RUNNER_ID      every line a runner wrote, over its lifetime\n"
    "  runners credential RUNNER_ID --app A\n"
    "                              a runner credential, for LOGTAP_CREDENTIAL\n"
    "  requests list [FILTERS]     the requests you may see, newest first\n"
    "  requests logs REQUEST_ID    the lines written while a request was served\n"
    "  requests status REQUEST_ID  a request's status (fal's queue-status shape)\n"
    "  logs [FILTERS]              lines across runners: by app, version,\n"
    "                              source, level, runner, request, time, text\n"
    "  run [OPTIONS] -- CMD ARGS   run CMD under liblogtap.so, output unchanged\n"
    "  tokens create|list|revoke   API tokens\n"
    "  apps deploy|list|show       apps: their owner, private or public logs\n"
    "  account set|show            a user's default for private logs\n"
    "  drains add|list|remove      log drains: push an app's lines to NDJSON,\n"
    "                              OTLP or syslog destinations\n"
    "  whoami                      the user the token belongs to\n"
    "\n"
    "Options:\n"
    "  --server URL   the collector's HTTP address (default: $LOGTAP_SERVER if\n"
    "                 set, else " DEFAULT_SERVER "); also accepted after\n"
    "                 a command\n"
    "  --token TOKEN  the API token to send; also accepted after a command\n"
    "  --credentials FILE\n"
    "                 the credentials file to read (default: $LOGTAP_CREDENTIALS\n"
    "                 if set, else the one below); also accepted after a command\n"
    "  -h, --help     show this help; 'logtap COMMAND --help' documents a command\n"
    "  --version      print logtap's version\n"
    "\n"
    "Tokens: every request carries 'Authorization: Bearer TOKEN'. The token is\n"
    "--token TOKEN if given, else $LOGTAP_TOKEN if set, else the token on the\n"
    "server's line in the credentials file: --credentials FILE, else\n"
    "$LOGTAP_CREDENTIALS, else $XDG_CONFIG_HOME/logtap/credentials or else\n"
    "~/.config/logtap/credentials (lines 'URL TOKEN'; URLs compared\n"
    "after removing a trailing '/'; the last matching line wins). A collector\n"
    "writes its admin token there when it starts, so on the collector's machine\n"
    "there is nothing to configure. The file is used only if it is yours and\n"
    "nobody else may read or change it (chmod 600). Prefer LOGTAP_TOKEN to\n"
    "--token: other users can see command lines.\n"
    "\n"
    "Exit status:\n"
    "  0  success\n"
    "  1  unknown runner, request, app, token or user (or one the token may not\n"
    "     see), or the collector reported an error\n"
    "  2  usage error: bad option or argument\n"
    "  3  the collector could not be reached\n"
    "  4  not authorised: no usable token, the collector refused it (unknown or\n"
    "     revoked: 401), or it may not do this (403)\n"
    "  'logtap run' exits with CMD's own status instead (127 when CMD is not\n"
    "  found, 126 when it cannot be executed).\n"
    "\n"
    "Examples:\n"
    "  logtap run --app demo -- python3 app.py\n"
    "  logtap runners logs run-0f3a9c2e5b7d4e1a -n 50\n"
    "  logtap requests logs req-7 --follow\n"
    "  logtap logs --app demo --level error --since 1h\n"
    "  logtap --server http://10.0.0.5:8765 runners logs r-1 --since 1h --search oom\n"
    "  LOGTAP_TOKEN=$(logtap tokens create --user alice) logtap whoami\n"
    "  LOGTAP_CREDENTIALS=/srv/demo/credentials logtap runners logs r-1\n"
    "  logtap apps deploy demo --owner alice --private-logs\n";

static const char runners_usage[] =
    "Usage: logtap runners COMMAND [RUNNER_ID] [OPTIONS]\n"
    "\n"
    "Commands:\n"
    "  list                  list the runners you may see, newest first\n"
    "  logs RUNNER_ID        print or follow every line a runner wrote\n"
    "  credential RUNNER_ID  mint the runner's credential (LOGTAP_CREDENTIAL)\n"
    "\n"
    "Run 'logtap runners COMMAND --help' for a command's options.\n";

static const char requests_usage[] =
    "Usage: logtap requests COMMAND [REQUEST_ID] [OPTIONS]\n"
    "\n"
    "Commands:\n"
    "  list               list the requests you may see, newest first\n"
    "  logs REQUEST_ID    print or follow the lines written while serving a\n"
    "                     request\n"
    "  status REQUEST_ID  print a request's status (and its logs, with --logs;\n"
    "                     each change as it happens, with --stream)\n"
    "  enqueue REQUEST_ID --app APP  announce a request (IN_QUEUE), as the\n"
    "                     gateway that queued it\n"
    "\n"
    "Run 'logtap requests COMMAND --help' for a command's options.\n";

static const char tokens_usage[] =
    "Usage: logtap tokens COMMAND [OPTIONS]\n"
    "\n"
    "API tokens: each belongs to a user, and the collector lets a request do\n"
    "what its token's user may do.\n"
    "\n"
    "Commands:\n"
    "  create [--user U] [--label L]  make a token and print it\n"
    "  list                           list tokens (all for admin, else yours)\n"
    "  revoke TOKEN_ID                revoke a token (by its ID, not its value)\n"
    "\n"
    "Run 'logtap tokens COMMAND --help' for a command's options.\n";

static const char apps_usage[] = "Usage: logtap apps COMMAND [OPTIONS]\n"
                                 "\n"
                                 "Apps: who owns an app's logs, and whether its requests' callers see them.\n"
                                 "\n"
                                 "Commands:\n"
                                 "  deploy APP [--owner U] [--private-logs | --public-logs]\n"
                                 "                  register or redeploy an app\n"
                                 "  list            list apps (all for admin, else yours)\n"
                                 "  show APP        show one app\n"
                                 "\n"
                                 "Run 'logtap apps COMMAND --help' for a command's options.\n";

static const char drains_usage[] = "Usage: logtap drains COMMAND [OPTIONS]\n"
                                   "\n"
                                   "Log drains: the collector pushes an app's lines to a destination\n"
                                   "(HTTPS NDJSON, OTLP/HTTP, syslog), at least once and in order.\n"
                                   "\n"
                                   "Commands:\n"
                                   "  add APP --kind ndjson|otlp|syslog --url URL [FILTERS]\n"
                                   "                    attach a drain; prints its ID and its secret (once)\n"
                                   "  list [APP]        list drains (of APP, else of every app you manage)\n"
                                   "  remove DRAIN_ID   remove a drain\n"
                                   "\n"
                                   "Run 'logtap drains COMMAND --help' for a command's options.\n";

static const char account_usage[] = "Usage: logtap account COMMAND [OPTIONS]\n"
                                    "\n"
                                    "A user's account settings.\n"
                                    "\n"
                                    "Commands:\n"
                                    "  set [--user U] --default-private-logs on|off\n"
                                    "                  whether apps deployed from now on get private logs\n"
                                    "  show [--user U] show the settings\n"
                                    "\n"
                                    "Run 'logtap account COMMAND --help' for a command's options.\n";

/* ------------------------------------------------------------------------ */
/* Helpers every command uses                                               */
/* ------------------------------------------------------------------------ */

int usage_error(const char *command, const char *fmt, ...)
{
    va_list ap;
    fputs("logtap: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help'.\n", command);
    return LT_EXIT_USAGE;
}

int parse_output_format(const char *command, const char *text, enum output_format *out)
{
    if (strcmp(text, "text") == 0)
        *out = OUTPUT_TEXT;
    else if (strcmp(text, "json") == 0)
        *out = OUTPUT_JSON;
    else
        return usage_error(command, "invalid --output '%s': use text or json", text);
    return LT_EXIT_OK;
}

int option_error(const char *command)
{
    fprintf(stderr, "Try '%s --help'.\n", command);
    return LT_EXIT_USAGE;
}

/* getopt prefixes its messages with argv[0], which should read as the
 * program. */
void prepare_subcommand_argv(char **argv)
{
    static char program_name[] = "logtap";
    argv[0] = program_name;
    optind = 0; /* glibc: start over, re-reading the optstring flags */
    opterr = 1;
}

int take_one_operand(const char *command, const char *name, int argc, char **argv, const char **out)
{
    if (optind >= argc)
        return usage_error(command, "missing %s", name);
    if (optind + 1 < argc)
        return usage_error(command, "unexpected argument '%s'", argv[optind + 1]);
    if (!argv[optind][0])
        return usage_error(command, "%s must not be empty", name);
    *out = argv[optind];
    return LT_EXIT_OK;
}

int take_no_operands(const char *command, int argc, char **argv)
{
    if (optind < argc)
        return usage_error(command, "unexpected argument '%s'", argv[optind]);
    return LT_EXIT_OK;
}

int cli_global_option(int opt, const char *arg, struct cli_globals *g, const char *command)
{
    if (opt == OPT_SERVER) {
        if (!*arg)
            return usage_error(command, "--server needs a URL");
        g->server = arg;
        return LT_EXIT_OK;
    }
    if (opt == OPT_CREDENTIALS) {
        if (!*arg)
            return usage_error(command, "--credentials needs a file");
        g->credentials = arg;
        return LT_EXIT_OK;
    }
    /* Not echoed: it is a secret, even a mistyped one. */
    if (!cli_token_ok(arg))
        return usage_error(command,
                           "invalid --token: a token is 1 to %d bytes of "
                           "printable ASCII without spaces",
                           CLI_TOKEN_MAX);
    g->token = arg;
    return LT_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* Command dispatch                                                         */
/* ------------------------------------------------------------------------ */

struct subcommand {
    const char *name;
    command_fn *run;
};

struct group {
    const char *name;
    const char *usage;
    const struct subcommand *subcommands;
};

static const struct subcommand runners_subcommands[] = {
    {"list", cmd_runners_list},
    {"logs", cmd_runners_logs},
    {"credential", cmd_runners_credential},
    {NULL, NULL},
};

static const struct subcommand requests_subcommands[] = {
    {"list", cmd_requests_list},
    {"logs", cmd_requests_logs},
    {"status", cmd_requests_status},
    {"enqueue", cmd_requests_enqueue},
    {NULL, NULL},
};

static const struct subcommand tokens_subcommands[] = {
    {"create", cmd_tokens_create},
    {"list", cmd_tokens_list},
    {"revoke", cmd_tokens_revoke},
    {NULL, NULL},
};

static const struct subcommand apps_subcommands[] = {
    {"deploy", cmd_apps_deploy},
    {"list", cmd_apps_list},
    {"show", cmd_apps_show},
    {NULL, NULL},
};

static const struct subcommand account_subcommands[] = {
    {"set", cmd_account_set},
    {"show", cmd_account_show},
    {NULL, NULL},
};

static const struct subcommand drains_subcommands[] = {
    {"add", cmd_drains_add},
    {"list", cmd_drains_list},
    {"remove", cmd_drains_remove},
    {NULL, NULL},
};

static const struct group groups[] = {
    {"runners", runners_usage, runners_subcommands}, {"requests", requests_usage, requests_subcommands},
    {"tokens", tokens_usage, tokens_subcommands},    {"apps", apps_usage, apps_subcommands},
    {"account", account_usage, account_subcommands}, {"drains", drains_usage, drains_subcommands},
};

/* Commands without a group word. */
static const struct subcommand single_commands[] = {
    {"logs", cmd_logs},
    {"run", cmd_run},
    {"whoami", cmd_whoami},
    {NULL, NULL},
};

static bool is_help_flag(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

/* argv[0] is the group word ("runners"), argv[1] the subcommand. */
static int run_group(struct cli_globals *g, const struct group *group, int argc, char **argv)
{
    char command[64];
    snprintf(command, sizeof command, "logtap %s", group->name);
    if (argc < 2)
        return usage_error(command, "missing a command after '%s'", group->name);
    if (is_help_flag(argv[1])) {
        fputs(group->usage, stdout);
        return LT_EXIT_OK;
    }
    for (const struct subcommand *sc = group->subcommands; sc->name; sc++)
        if (strcmp(argv[1], sc->name) == 0)
            return sc->run(g, argc - 1, argv + 1);
    if (argv[1][0] == '-')
        return usage_error(command, "unknown option '%s'", argv[1]);
    return usage_error(command, "unknown command '%s %s'", group->name, argv[1]);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_GLOBAL_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    static char program_name[] = "logtap";
    struct cli_globals g = {0};
    int opt, code;

    lt_buf_on_oom(die_out_of_memory); /* every buffer append succeeds or exits */
    argv[0] = program_name;
    /* '+': global options come before the command; the rest is its own. */
    while ((opt = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_SERVER:
        case OPT_TOKEN:
        case OPT_CREDENTIALS:
            if ((code = cli_global_option(opt, optarg, &g, "logtap")) != LT_EXIT_OK)
                return code;
            break;
        case 'h': fputs(main_usage, stdout); return LT_EXIT_OK;
        case OPT_VERSION: puts("logtap " LT_VERSION); return LT_EXIT_OK;
        default: return option_error("logtap");
        }
    }
    if (optind >= argc)
        return usage_error("logtap", "missing a command");

    char **args = argv + optind;
    int nargs = argc - optind;
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        if (strcmp(args[0], groups[i].name) == 0)
            return run_group(&g, &groups[i], nargs, args);
    for (const struct subcommand *sc = single_commands; sc->name; sc++)
        if (strcmp(args[0], sc->name) == 0)
            return sc->run(&g, nargs, args);
    /* The catch-all forwarder: logtap run --catch-all starts it, not people. */
    if (strcmp(args[0], LT_FORWARD_COMMAND) == 0)
        return lt_catchall_forward_main(nargs, args);
    return usage_error("logtap", "unknown command '%s'", args[0]);
}
