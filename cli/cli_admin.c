/* cli_admin.c -- `logtap tokens`, `logtap apps`, `logtap account` and
 * `logtap whoami`: who may read which logs (doc/http-api.md, "Principals,
 * apps and accounts").
 *
 * Each command is one or two requests and a printout: text meant for a
 * person (aligned `KEY  VALUE` lines for one object, a table with a header
 * for a list), or with --output json the collector's objects, one compact
 * JSON object a line, for scripts.
 *
 * Why it looks the way it does:
 * - `tokens create` prints the token alone on stdout, so that
 *   TOKEN=$(logtap tokens create --user alice) works; the collector shows a
 *   token only once.
 * - --user and --owner default to the token's own user (one extra request
 *   to /v1/whoami), so a user managing their own things names nobody.
 * - Names are checked before any request (exit 2), by the rules the
 *   collector applies: user names and app IDs are wire IDs
 *   (include/logtap_wire.h).
 * - Every string from the collector is shown through terminal_safe_copy:
 *   labels and names are typed by other users.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_http.h"
#include "cli_text.h"

/* Everything an admin command may be given; each command's option table
 * says which of these it accepts. */
struct admin_args {
    const char *user; /* --user or --owner; once the command runs,
                                * the token's own user if neither was given */
    const char *label;
    const char *scope;        /* --scope full|read|metrics, else NULL */
    int private_logs;         /* --private-logs 1, --public-logs 0, else -1 */
    int default_private_logs; /* --default-private-logs on 1, off 0, else -1 */
    const char *operand;      /* APP or TOKEN_ID */
    enum output_format output;
};

struct admin_command {
    const char *name; /* "logtap apps deploy" */
    const char *usage;
    const char *operand_name; /* "APP", "TOKEN_ID", or NULL: none */
    const struct option *options;
    /* Runs once the options are checked and the collector is open;
     * returns the exit code. */
    int (*run)(struct collector *c, const struct admin_args *a);
};

/* -o and --json: the spellings people bring from kubectl and fal. */
#define OUTPUT_OPTION                                                                                        \
    {"output", required_argument, NULL, 'o'},                                                                \
    {                                                                                                        \
        "json", no_argument, NULL, OPT_JSON                                                                  \
    }
#define HELP_OPTION                                                                                          \
    {                                                                                                        \
        "help", no_argument, NULL, 'h'                                                                       \
    }
#define END_OPTIONS                                                                                          \
    {                                                                                                        \
        NULL, 0, NULL, 0                                                                                     \
    }

static const struct option user_options[] = {
    {"user", required_argument, NULL, OPT_USER}, OUTPUT_OPTION, CLI_GLOBAL_OPTIONS, HELP_OPTION, END_OPTIONS,
};
static const struct option output_options[] = {
    OUTPUT_OPTION,
    CLI_GLOBAL_OPTIONS,
    HELP_OPTION,
    END_OPTIONS,
};

#define OUTPUT_HELP                                                                                          \
    "  -o, --output FORMAT  text (default) or json: one JSON object a line\n"                                \
    "      --json           the same as --output json\n"
#define TAIL_HELP                                                                                            \
    CLI_GLOBAL_OPTIONS_HELP                                                                                  \
    "  -h, --help           show this help\n"                                                                \
    "\n"                                                                                                     \
    "Exit status: 0 success, 1 unknown name or a collector error, 2 usage\n"                                 \
    "error, 3 collector unreachable, 4 no usable token or not allowed.\n"

/* ------------------------------------------------------------------------ */
/* Help                                                                     */
/* ------------------------------------------------------------------------ */

static const char tokens_create_usage[] =
    "Usage: logtap tokens create [--user U] [--label L] [--scope S] [OPTIONS]\n"
    "\n"
    "Make an API token for user U and print it on stdout, alone, so that\n"
    "TOKEN=$(logtap tokens create --user alice) keeps it. The collector shows\n"
    "a token only this once (it stores only a hash). admin may make tokens for\n"
    "anyone, creating the user if new; anyone else only for themselves.\n"
    "\n"
    "Options:\n"
    "      --user U         the token's user (default: the user of the token\n"
    "                       this command runs with)\n"
    "      --label L        a note to tell tokens apart in 'logtap tokens list'\n"
    "      --scope S        what the token may do (default full):\n"
    "                         full     everything its user may do\n"
    "                         read     read what its user may read; change\n"
    "                                  nothing (no tokens, deploys, accounts)\n"
    "                         metrics  read /metrics and nothing else; only\n"
    "                                  admin makes these (for Prometheus)\n" OUTPUT_HELP
    "                       (id, token, user, label, scope, created)\n" TAIL_HELP "\n"
    "Examples:\n"
    "  logtap tokens create --user alice --label ci\n"
    "  logtap tokens create --user prometheus --scope metrics\n"
    "  logtap tokens create --scope read --label dashboard\n"
    "  LOGTAP_TOKEN=$(logtap tokens create --user alice) logtap whoami\n";

static const char tokens_list_usage[] =
    "Usage: logtap tokens list [OPTIONS]\n"
    "\n"
    "List API tokens, without their values: every token for admin, your own\n"
    "for anyone else. Text output is a table: ID USER LABEL SCOPE CREATED.\n"
    "\n"
    "Options:\n" OUTPUT_HELP TAIL_HELP "\n"
    "Examples:\n"
    "  logtap tokens list\n"
    "  logtap tokens list --output json | jq -r 'select(.user == \"alice\") | .id'\n";

static const char tokens_revoke_usage[] =
    "Usage: logtap tokens revoke TOKEN_ID [OPTIONS]\n"
    "\n"
    "Revoke the token with ID TOKEN_ID (as 'logtap tokens list' shows it):\n"
    "from now on the collector answers it with 401. admin may revoke any\n"
    "token, anyone else their own. Prints 'revoked TOKEN_ID'.\n"
    "\n"
    "Options:\n" OUTPUT_HELP TAIL_HELP "\n"
    "Examples:\n"
    "  logtap tokens revoke tok_3f9c2a\n";

#define APP_TEXT_HELP                                                                                        \
    "Text output is one 'KEY  VALUE' line each for app, owner, private-logs\n"                               \
    "(on or off, and whether it was explicit or the account default) and\n"                                  \
    "deployed.\n"

static const char apps_deploy_usage[] =
    "Usage: logtap apps deploy APP [--owner U] [--private-logs | --public-logs]\n"
    "                          [OPTIONS]\n"
    "\n"
    "Register app APP, or redeploy it: its owner reads all its logs (runner\n"
    "logs and request logs); the callers of its requests read their request's\n"
    "logs unless the app's logs are private. admin may deploy any app for any\n"
    "owner; anyone else only apps they own, or new ones that no runner has\n"
    "logged as yet, as themselves.\n"
    "\n"
    "Options:\n"
    "      --owner U        the app's owner (default: the user of the token\n"
    "                       this command runs with)\n"
    "      --private-logs   callers of the app's requests get no logs\n"
    "      --public-logs    callers of the app's requests get their logs\n"
    "                       (neither: the owner's account default, taken now;\n"
    "                       changing the default later does not change this app\n"
    "                       until it is deployed again)\n" OUTPUT_HELP
    "                       (app_id, owner, private_logs, private_logs_from,\n"
    "                       deployed)\n" TAIL_HELP "\n" APP_TEXT_HELP "\n"
    "Examples:\n"
    "  logtap apps deploy demo --owner alice --private-logs\n"
    "  logtap apps deploy demo --owner alice     # the account default\n";

static const char apps_list_usage[] = "Usage: logtap apps list [OPTIONS]\n"
                                      "\n"
                                      "List the apps you own (every app for admin). Text output is a table:\n"
                                      "APP OWNER PRIVATE-LOGS FROM DEPLOYED, where FROM is explicit or\n"
                                      "account-default.\n"
                                      "\n"
                                      "Options:\n" OUTPUT_HELP TAIL_HELP "\n"
                                      "Examples:\n"
                                      "  logtap apps list\n"
                                      "  logtap apps list --output json | jq -r .app_id\n";

static const char apps_show_usage[] =
    "Usage: logtap apps show APP [OPTIONS]\n"
    "\n"
    "Show app APP: its owner, whether its logs are private, and when it was\n"
    "last deployed. Exit 1 if there is no such app of yours.\n"
    "\n"
    "Options:\n" OUTPUT_HELP TAIL_HELP "\n" APP_TEXT_HELP "\n"
    "Examples:\n"
    "  logtap apps show demo\n";

#define ACCOUNT_TEXT_HELP                                                                                    \
    "Text output is one 'KEY  VALUE' line each for user and\n"                                               \
    "default-private-logs (on or off).\n"

static const char account_set_usage[] =
    "Usage: logtap account set [--user U] --default-private-logs on|off [OPTIONS]\n"
    "\n"
    "Set user U's account default: whether apps deployed from now on without\n"
    "--private-logs or --public-logs get private logs. Apps already deployed\n"
    "keep their setting until they are deployed again. admin may set any\n"
    "account, anyone else their own.\n"
    "\n"
    "Options:\n"
    "      --user U         whose account (default: the user of the token this\n"
    "                       command runs with)\n"
    "      --default-private-logs on|off\n"
    "                       the new default (required)\n" OUTPUT_HELP TAIL_HELP "\n" ACCOUNT_TEXT_HELP "\n"
    "Examples:\n"
    "  logtap account set --user alice --default-private-logs on\n";

static const char account_show_usage[] =
    "Usage: logtap account show [--user U] [OPTIONS]\n"
    "\n"
    "Show user U's account settings.\n"
    "\n"
    "Options:\n"
    "      --user U         whose account (default: the user of the token this\n"
    "                       command runs with)\n" OUTPUT_HELP TAIL_HELP "\n" ACCOUNT_TEXT_HELP "\n"
    "Examples:\n"
    "  logtap account show --user alice\n";

static const char whoami_usage[] = "Usage: logtap whoami [OPTIONS]\n"
                                   "\n"
                                   "Show which user the token belongs to, whether that user is admin (the\n"
                                   "collector's operator, who may read every log), and the token's scope\n"
                                   "(full, read; a metrics token may not ask). A quick way to check which\n"
                                   "token the CLI finds and that the collector accepts it.\n"
                                   "\n"
                                   "Options:\n" OUTPUT_HELP TAIL_HELP "\n"
                                   "Text output: 'user  NAME', 'admin  yes' or 'admin  no', 'scope  SCOPE'.\n"
                                   "\n"
                                   "Examples:\n"
                                   "  logtap whoami\n"
                                   "  logtap --token \"$TOKEN\" whoami --output json\n";

/* ------------------------------------------------------------------------ */
/* Options                                                                  */
/* ------------------------------------------------------------------------ */

static int check_user(const struct admin_command *cmd, const char *option, const char *name)
{
    if (lt_wire_id_ok(name, strlen(name)))
        return LT_EXIT_OK;
    char *shown = terminal_safe_copy(name);
    int code = usage_error(cmd->name,
                           "invalid %s '%s': a user name is 1 to %d "
                           "printable ASCII characters other than '/'",
                           option, shown, LT_WIRE_MAX_ID);
    free(shown);
    return code;
}

static int parse_on_off(const struct admin_command *cmd, const char *text, int *out)
{
    if (strcmp(text, "on") == 0)
        *out = 1;
    else if (strcmp(text, "off") == 0)
        *out = 0;
    else
        return usage_error(cmd->name,
                           "invalid --default-private-logs '%s': use on "
                           "or off",
                           text);
    return LT_EXIT_OK;
}

static int check_operand(const struct admin_command *cmd, const char *operand)
{
    if (strcmp(cmd->operand_name, "APP") != 0 || lt_wire_id_ok(operand, strlen(operand)))
        return LT_EXIT_OK;
    char *shown = terminal_safe_copy(operand);
    int code = usage_error(cmd->name,
                           "invalid APP '%s': an app ID is 1 to %d "
                           "printable ASCII characters other than spaces and '/'",
                           shown, LT_WIRE_MAX_ID);
    free(shown);
    return code;
}

static bool takes_option(const struct admin_command *cmd, int value)
{
    for (const struct option *o = cmd->options; o->name; o++)
        if (o->val == value)
            return true;
    return false;
}

static int check_admin_args(const struct admin_command *cmd, struct admin_args *a, int argc, char **argv)
{
    int code = cmd->operand_name ? take_one_operand(cmd->name, cmd->operand_name, argc, argv, &a->operand)
                                 : take_no_operands(cmd->name, argc, argv);
    if (code == LT_EXIT_OK && a->operand)
        code = check_operand(cmd, a->operand);
    /* The one option that is not optional where it exists. */
    if (code == LT_EXIT_OK && a->default_private_logs < 0 && takes_option(cmd, OPT_DEFAULT_PRIVATE_LOGS))
        code = usage_error(cmd->name, "missing --default-private-logs on|off");
    return code;
}

/* Returns LT_EXIT_OK, an exit code, or -1 after printing the help. */
static int parse_admin_args(const struct admin_command *cmd, struct cli_globals *g, struct admin_args *a,
                            int argc, char **argv)
{
    int opt, code = LT_EXIT_OK;
    *a = (struct admin_args){.private_logs = -1, .default_private_logs = -1};

    prepare_subcommand_argv(argv);
    const char *short_options = takes_option(cmd, 'o') ? "ho:" : "h";
    while (code == LT_EXIT_OK && (opt = getopt_long(argc, argv, short_options, cmd->options, NULL)) != -1) {
        switch (opt) {
        case OPT_USER:
        case OPT_OWNER:
            a->user = optarg;
            code = check_user(cmd, opt == OPT_USER ? "--user" : "--owner", optarg);
            break;
        case OPT_LABEL: a->label = optarg; break;
        case OPT_SCOPE:
            a->scope = optarg;
            if (strcmp(optarg, "full") != 0 && strcmp(optarg, "read") != 0 && strcmp(optarg, "metrics") != 0)
                code = usage_error(cmd->name, "invalid --scope '%s': use full, read or metrics", optarg);
            break;
        case OPT_PRIVATE_LOGS:
        case OPT_PUBLIC_LOGS: {
            int wanted = opt == OPT_PRIVATE_LOGS;
            if (a->private_logs >= 0 && a->private_logs != wanted)
                code = usage_error(cmd->name, "--private-logs and --public-logs "
                                              "exclude each other");
            a->private_logs = wanted;
            break;
        }
        case OPT_DEFAULT_PRIVATE_LOGS: code = parse_on_off(cmd, optarg, &a->default_private_logs); break;
        case 'o': code = parse_output_format(cmd->name, optarg, &a->output); break;
        case OPT_JSON: a->output = OUTPUT_JSON; break;
        case OPT_SERVER:
        case OPT_TOKEN:
        case OPT_CREDENTIALS: code = cli_global_option(opt, optarg, g, cmd->name); break;
        case 'h': fputs(cmd->usage, stdout); return -1;
        default: return option_error(cmd->name);
        }
    }
    return code == LT_EXIT_OK ? check_admin_args(cmd, a, argc, argv) : code;
}

/* ------------------------------------------------------------------------ */
/* Output                                                                   */
/* ------------------------------------------------------------------------ */

static char *on_off_text_new(json_t *object, const char *key, const char *from_key)
{
    json_t *value = json_object_get(object, key);
    lt_buf text = {0};
    lt_buf_append_str(&text, json_is_true(value) ? "on" : json_is_false(value) ? "off" : "-");
    if (from_key) {
        char *from = field_text_new(object, from_key);
        if (strcmp(from, "-") != 0)
            lt_buf_appendf(&text, " (%s)", from);
        free(from);
    }
    return lt_buf_detach(&text);
}

/* KEY  VALUE lines; takes the values. */
static void print_fields(const char *const *keys, char **values, size_t count)
{
    struct table t = {.columns = 2};
    for (size_t i = 0; i < count; i++) {
        char *row[2] = {strdup(keys[i]), values[i]};
        if (!row[0])
            die_out_of_memory();
        table_add(&t, row);
    }
    table_print_and_free(&t);
}

/* A list answer's array, or NULL after a message. */
static json_t *answer_array(const struct collector *c, json_t *answer, const char *key)
{
    json_t *items = json_object_get(answer, key);
    if (json_is_array(items))
        return items;
    report_unexpected_answer(c, "no \"%s\" array", key);
    return NULL;
}

static void print_app(json_t *app)
{
    static const char *const keys[] = {"app", "owner", "private-logs", "deployed"};
    char *values[] = {
        field_text_new(app, "app_id"),
        field_text_new(app, "owner"),
        on_off_text_new(app, "private_logs", "private_logs_from"),
        field_text_new(app, "deployed"),
    };
    print_fields(keys, values, 4);
}

static void print_account(json_t *account)
{
    static const char *const keys[] = {"user", "default-private-logs"};
    char *values[] = {
        field_text_new(account, "user"),
        on_off_text_new(account, "default_private_logs", NULL),
    };
    print_fields(keys, values, 2);
}

/* ------------------------------------------------------------------------ */
/* Running a command                                                        */
/* ------------------------------------------------------------------------ */

/* The user the token belongs to (GET /v1/whoami). Caller frees. */
static int resolve_own_user(struct collector *c, char **user)
{
    lt_buf url = {0};
    lt_buf_appendf(&url, "%s/v1/whoami", c->server);
    json_t *whoami = NULL;
    int code = fetch_json(c, NULL, url.data, &whoami);
    lt_buf_release(&url);
    if (code != LT_EXIT_OK)
        return code;
    const char *name = json_string_value(json_object_get(whoami, "user"));
    if (name) {
        *user = strdup(name);
        if (!*user)
            die_out_of_memory();
    } else {
        code = report_unexpected_answer(c, "no \"user\" in /v1/whoami");
    }
    json_decref(whoami);
    return code;
}

static int run_admin_command(const struct admin_command *cmd, struct cli_globals *g, int argc, char **argv)
{
    struct admin_args a;
    int code = parse_admin_args(cmd, g, &a, argc, argv);
    if (code < 0)
        return LT_EXIT_OK; /* --help */
    if (code != LT_EXIT_OK)
        return code;
    struct collector c;
    if ((code = collector_open(&c, g)) != LT_EXIT_OK)
        return code;
    char *own_user = NULL;
    if (!a.user && (takes_option(cmd, OPT_USER) || takes_option(cmd, OPT_OWNER))) {
        code = resolve_own_user(&c, &own_user);
        a.user = own_user;
    }
    if (code == LT_EXIT_OK)
        code = cmd->run(&c, &a);
    free(own_user);
    collector_close(&c);
    return finish_stdout(code, 0);
}

/* `method` /v1/<collection>/<id> (with `body`), and the object it answers
 * printed with `print_text`, or as a JSON line. `noun` names a 404. */
static int request_one(struct collector *c, const char *method, const char *collection, const char *noun,
                       const char *id, json_t *body, enum output_format output,
                       void (*print_text)(json_t *object))
{
    lt_buf url = {0};
    append_resource_url(&url, c, collection, id, NULL);
    const struct target t = {noun, id};
    json_t *object = NULL;
    int code = collector_request(c, method, url.data, body, &t, &object);
    if (code == LT_EXIT_OK) {
        if (output == OUTPUT_JSON)
            print_json_line(object, JSON_COMPACT);
        else
            print_text(object);
    }
    json_decref(object);
    lt_buf_release(&url);
    return code;
}

/* A list command: GET /v1/<name>, whose answer holds the array <name>,
 * printed as a table with a header, or as JSON lines. */
struct list_spec {
    const char *name;          /* "tokens" */
    const char *const *header; /* column names */
    size_t columns;            /* at most TABLE_MAX_COLUMNS */
    void (*row)(json_t *item, char **cells);
};

static int run_list(struct collector *c, const struct admin_args *a, const struct list_spec *spec)
{
    lt_buf url = {0};
    lt_buf_appendf(&url, "%s/v1/%s", c->server, spec->name);
    json_t *answer = NULL, *items = NULL;
    int code = fetch_json(c, NULL, url.data, &answer);
    if (code == LT_EXIT_OK && !(items = answer_array(c, answer, spec->name)))
        code = LT_EXIT_FAILED;
    if (code == LT_EXIT_OK) {
        struct table t = {.columns = spec->columns};
        if (a->output == OUTPUT_TEXT)
            header_row(&t, spec->header);
        size_t i;
        json_t *item;
        json_array_foreach(items, i, item)
        {
            if (a->output == OUTPUT_JSON) {
                print_json_line(item, JSON_COMPACT);
                continue;
            }
            char *cells[TABLE_MAX_COLUMNS];
            spec->row(item, cells);
            table_add(&t, cells);
        }
        table_print_and_free(&t);
    }
    json_decref(answer);
    lt_buf_release(&url);
    return code;
}

/* ------------------------------------------------------------------------ */
/* logtap tokens                                                            */
/* ------------------------------------------------------------------------ */

static int tokens_create(struct collector *c, const struct admin_args *a)
{
    json_t *body = json_pack("{s:s}", "user", a->user);
    if (!body)
        die_out_of_memory();
    if (a->label)
        json_object_set_new(body, "label", json_string(a->label));
    if (a->scope)
        json_object_set_new(body, "scope", json_string(a->scope));
    lt_buf url = {0};
    lt_buf_appendf(&url, "%s/v1/tokens", c->server);
    json_t *created = NULL;
    int code = collector_request(c, "POST", url.data, body, NULL, &created);
    json_decref(body);
    lt_buf_release(&url);
    if (code == LT_EXIT_OK) {
        const char *token = json_string_value(json_object_get(created, "token"));
        if (a->output == OUTPUT_JSON) {
            print_json_line(created, JSON_COMPACT);
        } else if (token && cli_token_ok(token)) {
            printf("%s\n", token);
        } else {
            code = report_unexpected_answer(c, "no usable \"token\"");
        }
    }
    json_decref(created);
    return code;
}

static void token_row(json_t *token, char **cells)
{
    cells[0] = field_text_new(token, "id");
    cells[1] = field_text_new(token, "user");
    cells[2] = field_text_new(token, "label");
    cells[3] = field_text_new(token, "scope");
    cells[4] = field_text_new(token, "created");
}

static int tokens_list(struct collector *c, const struct admin_args *a)
{
    static const char *const header[] = {"ID", "USER", "LABEL", "SCOPE", "CREATED"};
    static const struct list_spec tokens = {"tokens", header, 5, token_row};
    return run_list(c, a, &tokens);
}

static int tokens_revoke(struct collector *c, const struct admin_args *a)
{
    lt_buf url = {0};
    append_resource_url(&url, c, "tokens", a->operand, NULL);
    const struct target t = {"token", a->operand};
    json_t *answer = NULL;
    int code = collector_request(c, "DELETE", url.data, NULL, &t, &answer);
    if (code == LT_EXIT_OK && a->output == OUTPUT_JSON) {
        print_json_line(answer, JSON_COMPACT);
    } else if (code == LT_EXIT_OK) {
        char *id = terminal_safe_copy(a->operand);
        printf("revoked %s\n", id);
        free(id);
    }
    json_decref(answer);
    lt_buf_release(&url);
    return code;
}

/* ------------------------------------------------------------------------ */
/* logtap apps                                                              */
/* ------------------------------------------------------------------------ */

static int apps_deploy(struct collector *c, const struct admin_args *a)
{
    /* null: the owner's account default, snapshotted by this deploy. */
    json_t *body = json_pack("{s:s,s:o}", "owner", a->user, "private_logs",
                             a->private_logs < 0 ? json_null() : json_boolean(a->private_logs));
    if (!body)
        die_out_of_memory();
    int code = request_one(c, "PUT", "apps", "app", a->operand, body, a->output, print_app);
    json_decref(body);
    return code;
}

static int apps_show(struct collector *c, const struct admin_args *a)
{
    return request_one(c, "GET", "apps", "app", a->operand, NULL, a->output, print_app);
}

static void app_row(json_t *app, char **cells)
{
    cells[0] = field_text_new(app, "app_id");
    cells[1] = field_text_new(app, "owner");
    cells[2] = on_off_text_new(app, "private_logs", NULL);
    cells[3] = field_text_new(app, "private_logs_from");
    cells[4] = field_text_new(app, "deployed");
}

static int apps_list(struct collector *c, const struct admin_args *a)
{
    static const char *const header[] = {"APP", "OWNER", "PRIVATE-LOGS", "FROM", "DEPLOYED"};
    static const struct list_spec apps = {"apps", header, 5, app_row};
    return run_list(c, a, &apps);
}

/* ------------------------------------------------------------------------ */
/* logtap account, logtap whoami                                            */
/* ------------------------------------------------------------------------ */

static int account_set(struct collector *c, const struct admin_args *a)
{
    json_t *body = json_pack("{s:b}", "default_private_logs", a->default_private_logs);
    if (!body)
        die_out_of_memory();
    int code = request_one(c, "PUT", "accounts", "user", a->user, body, a->output, print_account);
    json_decref(body);
    return code;
}

static int account_show(struct collector *c, const struct admin_args *a)
{
    return request_one(c, "GET", "accounts", "user", a->user, NULL, a->output, print_account);
}

static int whoami(struct collector *c, const struct admin_args *a)
{
    lt_buf url = {0};
    lt_buf_appendf(&url, "%s/v1/whoami", c->server);
    json_t *answer = NULL;
    int code = fetch_json(c, NULL, url.data, &answer);
    if (code == LT_EXIT_OK && a->output == OUTPUT_JSON) {
        print_json_line(answer, JSON_COMPACT);
    } else if (code == LT_EXIT_OK) {
        static const char *const keys[] = {"user", "admin", "scope"};
        char *values[] = {field_text_new(answer, "user"), field_text_new(answer, "admin"),
                          field_text_new(answer, "scope")};
        print_fields(keys, values, 3);
    }
    json_decref(answer);
    lt_buf_release(&url);
    return code;
}

/* ------------------------------------------------------------------------ */
/* The commands                                                             */
/* ------------------------------------------------------------------------ */

static const struct option tokens_create_options[] = {
    {"user", required_argument, NULL, OPT_USER},
    {"label", required_argument, NULL, OPT_LABEL},
    {"scope", required_argument, NULL, OPT_SCOPE},
    OUTPUT_OPTION,
    CLI_GLOBAL_OPTIONS,
    HELP_OPTION,
    END_OPTIONS,
};
static const struct option apps_deploy_options[] = {
    {"owner", required_argument, NULL, OPT_OWNER},
    {"private-logs", no_argument, NULL, OPT_PRIVATE_LOGS},
    {"public-logs", no_argument, NULL, OPT_PUBLIC_LOGS},
    OUTPUT_OPTION,
    CLI_GLOBAL_OPTIONS,
    HELP_OPTION,
    END_OPTIONS,
};
static const struct option account_set_options[] = {
    {"user", required_argument, NULL, OPT_USER},
    {"default-private-logs", required_argument, NULL, OPT_DEFAULT_PRIVATE_LOGS},
    OUTPUT_OPTION,
    CLI_GLOBAL_OPTIONS,
    HELP_OPTION,
    END_OPTIONS,
};

static const struct admin_command tokens_create_command = {
    "logtap tokens create", tokens_create_usage, NULL, tokens_create_options, tokens_create,
};
static const struct admin_command tokens_list_command = {
    "logtap tokens list", tokens_list_usage, NULL, output_options, tokens_list,
};
static const struct admin_command tokens_revoke_command = {
    "logtap tokens revoke", tokens_revoke_usage, "TOKEN_ID", output_options, tokens_revoke,
};
static const struct admin_command apps_deploy_command = {
    "logtap apps deploy", apps_deploy_usage, "APP", apps_deploy_options, apps_deploy,
};
static const struct admin_command apps_list_command = {
    "logtap apps list", apps_list_usage, NULL, output_options, apps_list,
};
static const struct admin_command apps_show_command = {
    "logtap apps show", apps_show_usage, "APP", output_options, apps_show,
};
static const struct admin_command account_set_command = {
    "logtap account set", account_set_usage, NULL, account_set_options, account_set,
};
static const struct admin_command account_show_command = {
    "logtap account show", account_show_usage, NULL, user_options, account_show,
};
static const struct admin_command whoami_command = {
    "logtap whoami", whoami_usage, NULL, output_options, whoami,
};

int cmd_tokens_create(struct cli_globals *g, int argc, char **argv)
{
    return run_admin_command(&tokens_create_command, g, argc, argv);
}
int cmd_tokens_list(struct cli_globals *g, int argc, char **argv)
{
    return run_admin_command(&tokens_list_command, g, argc, argv);
}
int cmd_tokens_revoke(struct cli_globals *g, int argc, char **argv)
{
    return run_admin_command(&tokens_revoke_command, g, argc, argv);
}
int cmd_apps_deploy(struct cli_globals *g, int argc, char **argv)
{
    return run_admin_command(&apps_deploy_command, g, argc, argv);
}
int cmd_apps_list(struct cli_globals *g, int argc, char **argv)
{
    return run_admin_command(&apps_list_command, g, argc, argv);
}
int cmd_apps_show(struct cli_globals *g, int argc, char **argv)
{
    return run_admin_command(&apps_show_command, g, argc, argv);
}
int cmd_account_set(struct cli_globals *g, int argc, char **argv)
{
    return run_admin_command(&account_set_command, g, argc, argv);
}
int cmd_account_show(struct cli_globals *g, int argc, char **argv)
{
    return run_admin_command(&account_show_command, g, argc, argv);
}
int cmd_whoami(struct cli_globals *g, int argc, char **argv)
{
    return run_admin_command(&whoami_command, g, argc, argv);
}
