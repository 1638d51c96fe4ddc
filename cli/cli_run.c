/* cli_run.c -- `logtap run`: exec a command under liblogtap.so.
 *
 * `run` execs instead of spawning a child, so the command keeps its pid,
 * exit status, signals and file descriptors; logtap only prepares the
 * environment (every variable liblogtap.so reads, DESIGN.md). It touches
 * nothing else (no curl, no signal dispositions) because the command would
 * inherit it. `run --catch-all` has to stay and supervise (catchall_run.c).
 *
 * It mints the command's runner credential (LOGTAP_CREDENTIAL) with the
 * token the other commands use, in a child process (cli_credential.c), so
 * that a collector with --ingest-auth required stores the command's lines;
 * without a token the command runs with the LOGTAP_CREDENTIAL it was given,
 * if any, or none, quietly.
 *
 * Two things make it honest for a newcomer: the Python binding is put on
 * PYTHONPATH, so `import logtap` works in the command as it does in the
 * README; and a watcher warns when no collector answers at the endpoint
 * (run_probe.c), instead of the lines waiting silently in a ring.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "catchall_run.h"
#include "cli.h"
#include "cli_text.h"
#include "level.h"
#include "logtap_wire.h"
#include "ring.h"
#include "run_probe.h"

#ifndef LT_LIBDIR
#define LT_LIBDIR "/usr/local/lib"
#endif

#ifndef LT_PYTHONDIR
#define LT_PYTHONDIR "/usr/local/share/logtap/python"
#endif

#define PRELOAD_NAME "liblogtap.so"

static void print_run_usage(FILE *out)
{
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
            "'logtap: runner ID' is printed to stderr first (also when stderr is not a\n"
            "terminal: a script or a log file learns the generated ID), unless -q;\n"
            "with -q, CMD's output is byte for byte its own (but for the warning\n"
            "below). liblogtap.so is taken from $LOGTAP_PRELOAD, else from the\n"
            "directory of the logtap executable, else from\n"
            "%s, and put first in LD_PRELOAD.\n"
            "\n"
            "The Python binding ('import logtap') is made importable for CMD: its\n"
            "directory (%s, or the source tree's\n"
            "bindings/python when logtap runs from its build directory) is put\n"
            "first in PYTHONPATH.\n"
            "\n"
            "When no collector answers at the endpoint within 2 s (or by the time\n"
            "CMD ends), logtap warns on stderr, naming the endpoint and the ring\n"
            "directory ($LOGTAP_RING_DIR, default " LT_DEFAULT_RING_DIR ") where the lines\n"
            "wait: a collector listening at the endpoint takes them while CMD runs;\n"
            "after it ends, one started with the same --rings replays them. CMD\n"
            "still runs, and its exit status is still its own.\n"
            "\n"
            "logtap asks the collector at $LOGTAP_SERVER (or the credentials\n"
            "file's server) for the runner's credential with the token the other\n"
            "commands use (logtap runners credential), and passes it in\n"
            "LOGTAP_CREDENTIAL, so that a collector with --ingest-auth required\n"
            "stores CMD's lines. Without a token, or without an answer within 3 s,\n"
            "CMD gets the LOGTAP_CREDENTIAL logtap was given, if any, quietly.\n"
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
            LT_LIBDIR, LT_PYTHONDIR);
}

struct run_options {
    const char *runner_id;
    const char *app_id;
    const char *version_id;
    const char *source;
    const char *endpoint;
    bool quiet;
    bool catch_all;
};

static bool readable_file(const char *path)
{
    return access(path, R_OK) == 0;
}

/* LOGTAP_PRELOAD is made absolute: the command may chdir before it execs
 * children that load it again. NULL after an error was printed. */
static char *preload_from_env(const char *value)
{
    char *path = realpath(value, NULL);
    if (path && readable_file(path))
        return path;
    fprintf(stderr, "logtap: LOGTAP_PRELOAD is '%s': %s\n", value, strerror(errno));
    free(path);
    return NULL;
}

/* In a meson build directory the library sits beside the executable. */
static char *preload_beside_executable(void)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return NULL;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    *slash = '\0';

    lt_buf path = {0};
    lt_buf_appendf(&path, "%s/%s", exe, PRELOAD_NAME);
    if (!readable_file(path.data)) {
        lt_buf_release(&path);
        return NULL;
    }
    return lt_buf_detach(&path);
}

/* Caller frees. NULL after an error was printed. */
static char *find_preload_new(void)
{
    const char *from_env = getenv("LOGTAP_PRELOAD");
    if (from_env && *from_env)
        return preload_from_env(from_env);

    char *path = preload_beside_executable();
    if (path)
        return path;
    if (readable_file(LT_LIBDIR "/" PRELOAD_NAME))
        return strdup(LT_LIBDIR "/" PRELOAD_NAME);

    fprintf(stderr, "logtap: cannot find " PRELOAD_NAME " (looked beside the "
                    "logtap executable and in " LT_LIBDIR "); set LOGTAP_PRELOAD "
                    "to its path\n");
    return NULL;
}

static bool preload_list_contains(const char *list, const char *path)
{
    size_t path_len = strlen(path);
    const char *s = list;
    while (*s) {
        size_t len = strcspn(s, " :");
        if (len == path_len && memcmp(s, path, len) == 0)
            return true;
        s += len;
        if (*s)
            s++;
    }
    return false;
}

/* `path` first, then whatever was preloaded already. Caller frees. */
static char *ld_preload_with_new(const char *existing, const char *path)
{
    lt_buf list = {0};
    lt_buf_append_str(&list, path);
    if (existing && existing[strspn(existing, " :")]) {
        if (preload_list_contains(existing, path)) {
            lt_buf_clear(&list);
            lt_buf_append_str(&list, existing);
        } else {
            lt_buf_append_byte(&list, ':');
            lt_buf_append_str(&list, existing);
        }
    }
    return lt_buf_detach(&list);
}

static void generate_runner_id(char *out, size_t len)
{
    uint64_t random_bits = 0;
    if (getrandom(&random_bits, sizeof random_bits, 0) != (ssize_t)sizeof random_bits) {
        /* Only without getrandom(2): unique enough for a development run. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        random_bits = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16);
    }
    snprintf(out, len, "run-%016llx", (unsigned long long)random_bits);
}

static int check_run_id(const char *option, const char *value)
{
    if (!*value)
        return usage_error("logtap run", "%s must not be empty", option);
    if (strlen(value) > LT_WIRE_MAX_ID)
        return usage_error("logtap run", "%s is longer than %d bytes", option, LT_WIRE_MAX_ID);
    /* The preload would have to rewrite such an ID, and then the logs would
     * not be found under the name the user gave. */
    if (!lt_wire_id_ok(value, strlen(value)))
        return usage_error("logtap run",
                           "%s '%s' may only contain printable ASCII "
                           "other than spaces and '/'",
                           option, value);
    return LT_EXIT_OK;
}

static int check_run_options(const struct run_options *o)
{
    int code = LT_EXIT_OK;
    if (o->runner_id && (code = check_run_id("--runner", o->runner_id)))
        return code;
    if (o->app_id && (code = check_run_id("--app", o->app_id)))
        return code;
    if (o->version_id && (code = check_run_id("--version", o->version_id)))
        return code;
    if (!lt_source_name_ok(o->source))
        return usage_error("logtap run",
                           "invalid --source '%s': use run, gateway "
                           "or deploy",
                           o->source);
    if (o->endpoint && !*o->endpoint)
        return usage_error("logtap run", "--endpoint must not be empty");
    return LT_EXIT_OK;
}

static int parse_run_options(int argc, char **argv, struct run_options *o)
{
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
    if (optind >= argc)
        return usage_error("logtap run", "missing the command to run");
    return check_run_options(o);
}

static bool set_env(const char *name, const char *value)
{
    if (setenv(name, value, 1) == 0)
        return true;
    fprintf(stderr, "logtap: cannot set %s: %s\n", name, strerror(errno));
    return false;
}

static bool has_python_package(const char *dir)
{
    lt_buf path = {0};
    lt_buf_appendf(&path, "%s/logtap/__init__.py", dir);
    bool found = readable_file(path.data);
    lt_buf_release(&path);
    return found;
}

/* Where `import logtap` should find the binding: the source tree's when
 * this logtap is the one in the build directory (so a change to the
 * binding is seen without installing), else the installed one; NULL if
 * neither is there (then a package installed into Python's own path, as
 * a distribution does, is what the command gets). */
static const char *python_binding_dir(void)
{
#ifdef LT_BUILD_ROOT
    char exe[PATH_MAX], build_root[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0 && realpath(LT_BUILD_ROOT, build_root)) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        if (strcmp(exe, build_root) == 0 && has_python_package(LT_SOURCE_PYTHONDIR))
            return LT_SOURCE_PYTHONDIR;
    }
#endif
    return has_python_package(LT_PYTHONDIR) ? LT_PYTHONDIR : NULL;
}

/* `dir` first in PYTHONPATH, unless it is there already. */
static bool put_python_binding_on_path(const char *dir)
{
    const char *existing = getenv("PYTHONPATH");
    if (!existing || !*existing)
        return set_env("PYTHONPATH", dir);
    size_t dir_len = strlen(dir);
    for (const char *s = existing; *s;) {
        size_t len = strcspn(s, ":");
        if (len == dir_len && memcmp(s, dir, len) == 0)
            return true;
        s += len;
        if (*s)
            s++;
    }
    lt_buf path = {0};
    lt_buf_appendf(&path, "%s:%s", dir, existing);
    bool ok = set_env("PYTHONPATH", path.data);
    lt_buf_release(&path);
    return ok;
}

/* Every variable liblogtap.so reads (see DESIGN.md, runner environment). */
static bool prepare_run_environment(const struct run_options *o, const char *preload, const char *runner_id)
{
    char *ld_preload = ld_preload_with_new(getenv("LD_PRELOAD"), preload);
    bool ok = set_env("LD_PRELOAD", ld_preload) && set_env("LOGTAP_SOURCE", o->source) &&
              set_env("LOGTAP_RUNNER_ID", runner_id) && (!o->app_id || set_env("LOGTAP_APP_ID", o->app_id)) &&
              (!o->version_id || set_env("LOGTAP_VERSION_ID", o->version_id)) &&
              (!o->endpoint || set_env("LOGTAP_ENDPOINT", o->endpoint));
    free(ld_preload);
    const char *python_dir = python_binding_dir();
    if (ok && python_dir)
        ok = put_python_binding_on_path(python_dir);
    return ok;
}

/* ld.so splits LD_PRELOAD on spaces and colons and has no quoting. */
static bool preload_path_is_listable(const char *path)
{
    if (!strpbrk(path, " :"))
        return true;
    fprintf(stderr,
            "logtap: the path of " PRELOAD_NAME " ('%s') contains a "
            "space or colon, which LD_PRELOAD cannot express\n",
            path);
    return false;
}

/* The endpoint and ring directory the preload will use: the same
 * variables and defaults as preload/runtime.c. A disabled preload sends
 * nothing, so there is nothing to warn about. */
static void start_collector_probe(void)
{
    const char *disable = getenv("LOGTAP_DISABLE");
    if (disable && strcmp(disable, "1") == 0)
        return;
    const char *endpoint = getenv("LOGTAP_ENDPOINT");
    const char *ring_dir = getenv("LOGTAP_RING_DIR");
    fflush(stderr);
    lt_run_probe_start(endpoint && *endpoint ? endpoint : LT_DEFAULT_ENDPOINT,
                       ring_dir && *ring_dir ? ring_dir : LT_DEFAULT_RING_DIR);
}

int exec_failure_code(int error)
{
    return error == EACCES || error == EPERM || error == ENOEXEC ? LT_EXIT_NOT_EXECUTABLE : LT_EXIT_NOT_FOUND;
}

/* Whether LOGTAP_CREDENTIAL's claims (its payload, read without checking
 * its signature: the collector does that) name the runner, app, version
 * and source the environment now gives the command, as the preload will
 * send them. */
static bool inherited_credential_fits(void)
{
    const char *cred = getenv("LOGTAP_CREDENTIAL");
    if (!cred || strncmp(cred, "lt1.", 4) != 0)
        return false;
    const char *payload = cred + 4, *dot = strchr(payload, '.');
    size_t len = dot ? (size_t)(dot - payload) : 0;
    if (len == 0 || len > 2048)
        return false;
    unsigned char json[1600];
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = payload[i];
        int v = ch >= 'A' && ch <= 'Z'   ? ch - 'A'
                : ch >= 'a' && ch <= 'z' ? ch - 'a' + 26
                : ch >= '0' && ch <= '9' ? ch - '0' + 52
                : ch == '-'              ? 62
                : ch == '_'              ? 63
                                         : -1;
        if (v < 0)
            return false;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == sizeof json)
                return false;
            json[n++] = (unsigned char)(acc >> bits);
        }
    }
    json_t *doc = json_loadb((const char *)json, n, 0, NULL);
    static const char *const claims[][2] = {{"runner", "LOGTAP_RUNNER_ID"},
                                            {"app", "LOGTAP_APP_ID"},
                                            {"version", "LOGTAP_VERSION_ID"},
                                            {"source", "LOGTAP_SOURCE"}};
    bool fits = json_is_object(doc);
    for (size_t k = 0; fits && k < sizeof claims / sizeof claims[0]; k++) {
        const char *claimed = json_string_value(json_object_get(doc, claims[k][0]));
        const char *given = getenv(claims[k][1]);
        fits = claimed && strcmp(claimed, given ? given : "") == 0;
    }
    json_decref(doc);
    return fits;
}

int cmd_run(struct cli_globals *g, int argc, char **argv)
{
    (void)g; /* run talks ZeroMQ via the preload, not HTTP */
    struct run_options o = {.source = "run"};
    int code = parse_run_options(argc, argv, &o);
    if (code < 0)
        return LT_EXIT_OK; /* --help */
    if (code != LT_EXIT_OK)
        return code;

    char *preload = find_preload_new();
    if (!preload)
        return LT_EXIT_FAILED;
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
    /* Ours, if we can mint it; else whatever a launcher above gave, if it
     * names the identity this run's runner will claim (a nested run must
     * not keep its parent's: every frame would be refused as another
     * runner's, where without one the local mode stores them). */
    if (ok) {
        char *credential = cli_run_credential_new(runner_id, o.app_id, o.version_id, o.source);
        if (credential)
            ok = set_env("LOGTAP_CREDENTIAL", credential);
        else if (getenv("LOGTAP_CREDENTIAL") && !inherited_credential_fits())
            unsetenv("LOGTAP_CREDENTIAL");
        free(credential);
    }
    if (!ok)
        return LT_EXIT_FAILED;

    /* Every fork first (the credential's, above; the probe's watcher),
     * then the first output: a logtap run that is itself under the preload
     * (the sanitizer trees start it so) has no sender thread yet at the
     * forks, whose children would otherwise inherit whatever lock that
     * thread held (ASan's allocator keeps them held across fork). */
    start_collector_probe();
    /* Always, unless -q: whoever reads stderr (a terminal, a CI log, a
     * file) is the one who will look the runner's logs up by this ID. */
    if (!o.quiet) {
        fprintf(stderr, "logtap: runner %s\n", runner_id);
        fflush(stderr);
    }
    char **command = argv + optind;
    if (o.catch_all)
        return lt_catchall_run(command);
    execvp(command[0], command);
    int error = errno;
    fprintf(stderr, "logtap: cannot run %s: %s\n", command[0], strerror(error));
    return exec_failure_code(error);
}
