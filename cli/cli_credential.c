/* cli_credential.c -- `logtap runners credential`, and the runner
 * credential `logtap run` gets for its command (README.md, "Tenants and
 * ingest authentication").
 *
 * A credential is what a launcher hands a runner in LOGTAP_CREDENTIAL so
 * that the collector believes the runner, app, version and source its
 * frames claim. `runners credential` prints it alone on stdout, so that
 * LOGTAP_CREDENTIAL=$(logtap runners credential r-1 --app demo) works.
 *
 * `logtap run` execs its command and must pass it nothing of its own
 * making but the environment (no curl state, no signal dispositions): it
 * asks for the credential in a child process, which hands it back through
 * a pipe and exits. No token, no answer within RUN_MINT_TIMEOUT_S, or a
 * refusal: the command runs with the credential logtap run was given, or
 * without one, quietly (a collector in
 * its default mode stores its lines anyway when both run as one user; one
 * with --ingest-auth required refuses them, and says so in /metrics).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "cli_http.h"
#include "cli_text.h"
#include "timefmt.h"

#define RUN_MINT_TIMEOUT_S 3
#define CREDENTIAL_TEXT_MAX (LT_WIRE_MAX_CREDENTIAL + 1)

static const char credential_usage[] =
    "Usage: logtap runners credential RUNNER_ID --app A [--version V] [--source S]\n"
    "                                 [--ttl DURATION] [OPTIONS]\n"
    "\n"
    "Mint a runner credential and print it alone on stdout. A launcher passes\n"
    "it to the runner as LOGTAP_CREDENTIAL; the collector then stores the\n"
    "runner's lines only under exactly this runner ID, app, version and source\n"
    "(and, with --ingest-auth required, nothing without one). Children of the\n"
    "runner inherit it and cannot change their identity. Any collector that\n"
    "shares the minting collector's --ingest-key accepts it. admin and the\n"
    "owner of app A may mint one (an app no one deployed: admin only).\n"
    "\n"
    "Options:\n"
    "      --app A          the runner's app (LOGTAP_APP_ID)\n"
    "      --version V      its version (LOGTAP_VERSION_ID; default none)\n"
    "      --source S       run, gateway or deploy (LOGTAP_SOURCE; default none)\n"
    "      --ttl DURATION   how long it is valid: 30m, 12h, 30d (default 30d,\n"
    "                       at most 366d); after that the runner's frames are\n"
    "                       refused, so make it outlive the runner\n"
    "      --output FORMAT  text (default): the credential; json: the\n"
    "                       collector's answer (credential, runner_id, app_id,\n"
    "                       version_id, source, expires_at, ingest_auth)\n" CLI_GLOBAL_OPTIONS_HELP
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 success, 1 a collector error, 2 usage error, 3 collector\n"
    "unreachable, 4 no usable token or not allowed.\n"
    "\n"
    "Examples:\n"
    "  LOGTAP_CREDENTIAL=$(logtap runners credential r-7 --app demo --version v3 \\\n"
    "      --source gateway --ttl 2d) LOGTAP_RUNNER_ID=r-7 LOGTAP_APP_ID=demo \\\n"
    "      LOGTAP_VERSION_ID=v3 LOGTAP_SOURCE=gateway LD_PRELOAD=liblogtap.so ./runner\n";

struct credential_request {
    const char *runner, *app, *version, *source, *ttl;
};

/* POST /v1/runners/{id}/credentials; *answer is the collector's object. */
static int request_credential(struct collector *c, const struct credential_request *r, json_t **answer)
{
    json_t *body = json_object();
    if (!body)
        die_out_of_memory();
    if (r->app)
        json_object_set_new(body, "app", json_string(r->app));
    if (r->version)
        json_object_set_new(body, "version", json_string(r->version));
    if (r->source)
        json_object_set_new(body, "source", json_string(r->source));
    if (r->ttl)
        json_object_set_new(body, "ttl", json_string(r->ttl));
    lt_buf url = {0};
    append_resource_url(&url, c, "runners", r->runner, "credentials");
    const struct target t = {NULL, r->runner};
    int code = collector_request(c, "POST", url.data, body, &t, answer);
    json_decref(body);
    lt_buf_release(&url);
    return code;
}

static const char *credential_of(json_t *answer)
{
    const char *text = json_string_value(json_object_get(answer, "credential"));
    return text && strncmp(text, "lt1.", 4) == 0 && strlen(text) < CREDENTIAL_TEXT_MAX ? text : NULL;
}

static int check_id(const char *flag, const char *value, bool allow_empty)
{
    if (value && !(allow_empty && !*value) && !lt_wire_id_ok(value, strlen(value)))
        return usage_error("logtap runners credential",
                           "%s must be 1..%d printable ASCII characters without '/'", flag, LT_WIRE_MAX_ID);
    return LT_EXIT_OK;
}

int cmd_runners_credential(struct cli_globals *g, int argc, char **argv)
{
    static const char command[] = "logtap runners credential";
    static const struct option options[] = {
        {"app", required_argument, NULL, OPT_APP},
        {"version", required_argument, NULL, OPT_VERSION},
        {"source", required_argument, NULL, OPT_SOURCE},
        {"ttl", required_argument, NULL, OPT_TTL},
        {"output", required_argument, NULL, OPT_OUTPUT},
        CLI_GLOBAL_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct credential_request r = {0};
    enum output_format output = OUTPUT_TEXT;
    int opt, code;
    prepare_subcommand_argv(argv);
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_APP: r.app = optarg; break;
        case OPT_VERSION: r.version = optarg; break;
        case OPT_SOURCE: r.source = optarg; break;
        case OPT_TTL: r.ttl = optarg; break;
        case OPT_OUTPUT:
            if ((code = parse_output_format(command, optarg, &output)) != LT_EXIT_OK)
                return code;
            break;
        case 'h': fputs(credential_usage, stdout); return LT_EXIT_OK;
        default:
            if (opt >= OPT_SERVER && opt <= OPT_CREDENTIALS) {
                if ((code = cli_global_option(opt, optarg, g, command)) != LT_EXIT_OK)
                    return code;
                break;
            }
            return option_error(command);
        }
    }
    if ((code = take_one_operand(command, "RUNNER_ID", argc, argv, &r.runner)) != LT_EXIT_OK)
        return code;
    if (!r.app)
        return usage_error(command, "missing --app A (the runner's app)");
    int64_t ns;
    if ((code = check_id("RUNNER_ID", r.runner, false)) || (code = check_id("--app", r.app, false)) ||
        (code = check_id("--version", r.version, true)) || (code = check_id("--source", r.source, true)))
        return code;
    if (r.source && strlen(r.source) > 15)
        return usage_error(command, "--source takes run, gateway, deploy or a word of at most 15 characters");
    if (r.ttl && lt_duration_parse(r.ttl, &ns) != 0)
        return usage_error(command, "--ttl takes a duration such as 30m, 12h or 30d, not '%s'", r.ttl);

    struct collector c;
    if ((code = collector_open(&c, g)) != LT_EXIT_OK)
        return code;
    json_t *answer = NULL;
    code = request_credential(&c, &r, &answer);
    if (code == LT_EXIT_OK) {
        const char *credential = credential_of(answer);
        if (output == OUTPUT_JSON)
            print_json_line(answer, JSON_COMPACT);
        else if (credential)
            printf("%s\n", credential);
        else
            code = report_unexpected_answer(&c, "no usable \"credential\"");
    }
    json_decref(answer);
    collector_close(&c);
    return finish_stdout(code, 0);
}

/* The child's side of cli_run_credential_new: mint, write it, exit. */
static _Noreturn void mint_in_child(int out, const struct credential_request *r)
{
    struct cli_globals g = {0};
    struct collector c;
    alarm(RUN_MINT_TIMEOUT_S);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0)
        dup2(null, STDERR_FILENO); /* quietly: see the top of this file */
    if (collector_open(&c, &g) != LT_EXIT_OK)
        _exit(1);
    json_t *answer = NULL;
    int code = request_credential(&c, r, &answer);
    const char *credential = code == LT_EXIT_OK ? credential_of(answer) : NULL;
    bool ok = credential && write(out, credential, strlen(credential)) == (ssize_t)strlen(credential);
    _exit(ok ? 0 : 1);
}

char *cli_run_credential_new(const char *runner, const char *app, const char *version, const char *source)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return NULL;
    const struct credential_request r = {runner, app, version, source, NULL};
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        close(pipefd[0]);
        mint_in_child(pipefd[1], &r);
    }
    close(pipefd[1]);
    char *credential = NULL;
    if (child > 0) {
        char buf[CREDENTIAL_TEXT_MAX + 1];
        size_t got = 0;
        ssize_t n;
        while (got < sizeof buf &&
               ((n = read(pipefd[0], buf + got, sizeof buf - got)) > 0 || (n < 0 && errno == EINTR)))
            if (n > 0)
                got += (size_t)n;
        int status = -1; /* stays so if the child is reaped elsewhere (SIGCHLD ignored) */
        pid_t waited;
        while ((waited = waitpid(child, &status, 0)) < 0 && errno == EINTR) {
        }
        if (waited == child && WIFEXITED(status) && WEXITSTATUS(status) == 0 && got > 0 &&
            got < CREDENTIAL_TEXT_MAX) {
            buf[got] = '\0';
            credential = strdup(buf);
        }
    }
    close(pipefd[0]);
    return credential;
}
