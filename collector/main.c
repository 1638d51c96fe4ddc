/* main.c -- logtap-collector: read the settings (options.c: the config
 * file, then the flags), set up the parts
 * in order -- the data directory and its lock, the store (and the size
 * limit that --retain-size auto stands for), the admin user, the
 * assembler, ingest, the reaper, HTTP -- announce the collector (and tell
 * systemd it is ready, readiness.c), run the loop (loop.c) until SIGTERM
 * or SIGINT, and tear down in reverse. Every exit after set-up began goes
 * through one teardown.
 *
 * On a terminal the announcement ends with how to point `logtap` (and
 * `logtap run`) at this collector: a person started it and reaches for the
 * CLI next, and a collector on another port or credentials file is
 * otherwise a puzzle of 'connection refused' and 401s.
 */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assembler.h"
#include "bootstrap.h"
#include "credential.h"
#include "buf.h"
#include "dirs.h"
#include "drain.h"
#include "drain_secret.h"
#include "http.h"
#include "ingest.h"
#include "log.h"
#include "loop.h"
#include "options.h"
#include "readiness.h"
#include "reaper.h"
#include "ring.h"
#include "store.h"

/* One collector per data directory: a second one would share the store's
 * single-writer role and steal the ipc endpoint. */
static int lock_data_dir(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/collector.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return -1;
    }
    return fd; /* held until exit */
}

static void write_status_file(const char *dir, const char *listen, const char *http_host, int port)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/collector.json", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    /* The endpoint and host come from our own flags; quote-free by check. */
    fprintf(f, "{\"pid\": %ld, \"listen\": \"%s\", \"http\": \"http://%s:%d\"}\n", (long)getpid(), listen,
            http_host, port);
    fclose(f);
    rename(tmp, path);
}

/* Record the admin token for the local CLI under the URL it will use: the
 * address served, and for a wildcard address the loopback one too.
 * Returns whether every line was recorded. */
static bool record_credentials(const char *file, const char *data, const char *host, int port)
{
    char default_path[PATH_MAX];
    if (file == NULL && lt_credentials_default_path(default_path, sizeof default_path) == 0)
        file = default_path;
    if (file == NULL) {
        lt_log("neither XDG_CONFIG_HOME nor HOME is set: the admin token is only in %s/admin.token", data);
        return false;
    }
    if (strcmp(file, "none") == 0)
        return false;
    bool recorded = true;
    const char *loopback = strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1"
                           : strcmp(host, "[::]") == 0  ? "[::1]"
                                                        : NULL;
    const char *hosts[] = {host, loopback};
    for (size_t i = 0; i < 2 && hosts[i]; i++) {
        char url[300], err[512];
        snprintf(url, sizeof url, "http://%s:%d", hosts[i], port);
        int rc = lt_credentials_record(file, url, data, err, sizeof err);
        if (rc < 0)
            lt_log("cannot record the admin token for the CLI: %s", err);
        else if (rc == 0)
            lt_log("admin token recorded for %s in %s", url, file);
        recorded = recorded && rc == 0;
    }
    return recorded;
}

/* `text` as one shell word. */
static void append_shell_word(lt_buf *out, const char *text)
{
    if (*text && strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./:@%+=,-[]") ==
                     strlen(text)) {
        lt_buf_append_str(out, text);
        return;
    }
    lt_buf_append_byte(out, '\'');
    for (const char *c = text; *c; c++) {
        if (*c == '\'')
            lt_buf_append_str(out, "'\\''");
        else
            lt_buf_append_byte(out, *c);
    }
    lt_buf_append_byte(out, '\'');
}

/* What a person at this terminal types to use this collector: the
 * settings the CLI's and the preload's defaults do not already give. */
static void tell_how_to_reach(const lt_collector_options *opt, bool recorded, const char *host, int port)
{
    const char *url_host = strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1"
                           : strcmp(host, "[::]") == 0  ? "[::1]"
                                                        : host;
    char url[300];
    snprintf(url, sizeof url, "http://%s:%d", url_host, port);
    lt_buf env = {0};
    if (strcmp(url, "http://" LT_DEFAULT_HTTP) != 0) {
        lt_buf_append_str(&env, " LOGTAP_SERVER=");
        append_shell_word(&env, url);
    }
    if (!recorded) {
        lt_buf_append_str(&env, " LOGTAP_TOKEN=\"$(cat ");
        append_shell_word(&env, opt->data);
        lt_buf_append_str(&env, "/admin.token)\"");
    } else if (opt->credentials) {
        lt_buf_append_str(&env, " LOGTAP_CREDENTIALS=");
        append_shell_word(&env, opt->credentials);
    }
    /* The preload reads these (logtap run passes them on). */
    if (strcmp(opt->listen, LT_DEFAULT_ENDPOINT) != 0) {
        lt_buf_append_str(&env, " LOGTAP_ENDPOINT=");
        append_shell_word(&env, opt->listen);
    }
    if (strcmp(opt->rings, LT_DEFAULT_RING_DIR) != 0) {
        lt_buf_append_str(&env, " LOGTAP_RING_DIR=");
        append_shell_word(&env, opt->rings);
    }
    if (env.len)
        lt_log("to use this collector from this machine: export%s", env.data);
    lt_log("%s: logtap run -- CMD; logtap runners logs RUNNER_ID (see logtap --help)",
           env.len ? "then" : "to use it");
    lt_buf_release(&env);
}

/* Every HTTP connection, ingest connection and open ring is a descriptor,
 * and the soft limit many systems start a service with (1024) is about
 * --http-max-connections alone: the hostile-input issue found 1,020 idle
 * sockets locking everyone out. So the collector takes what its hard limit
 * allows (it polls, never select()s, so high descriptors are safe), and
 * says so when even that leaves no room beside the HTTP limit. */
static void raise_fd_limit(int http_max_connections)
{
    enum { FD_LIMIT_CAP = 1 << 20, FD_HEADROOM = 256 };
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > FD_LIMIT_CAP ? FD_LIMIT_CAP : rl.rlim_max;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
            lt_log("open files: soft limit raised from %llu to %llu", (unsigned long long)was,
                   (unsigned long long)want);
        else
            rl.rlim_cur = was;
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)http_max_connections + FD_HEADROOM)
        lt_log("warning: open files limited to %llu: fewer than --http-max-connections %d plus %d for "
               "runners and the store; raise the hard limit (LimitNOFILE= in a systemd unit)",
               (unsigned long long)rl.rlim_cur, http_max_connections, FD_HEADROOM);
}

/* The port of a tcp:// ingest endpoint (0 for ipc:// and others): a drain
 * to it on loopback is refused like one to the HTTP port. */
static int listen_port(const char *endpoint)
{
    const char *colon = strrchr(endpoint, ':');
    if (strncmp(endpoint, "tcp://", 6) != 0 || colon == NULL)
        return 0;
    int port = atoi(colon + 1);
    return port > 0 && port < 65536 ? port : 0;
}

int main(int argc, char **argv)
{
    lt_collector_options opt;
    int rc = lt_options_parse(argc, argv, &opt);
    if (rc >= 0)
        return rc;

    /* The store holds every tenant's logs and the registry's token hashes:
     * whatever the collector creates (the store, its WAL, admin.token) is
     * its user's alone, whatever the data directory's own mode. */
    umask(077);

    /* From here on a stop request is a clean stop, even during start-up:
     * whoever saw collector.json may send SIGTERM at once. */
    lt_loop_catch_stop_signals();
    signal(SIGPIPE, SIG_IGN);

    if (opt.config_file != NULL)
        lt_log("settings from %s (flags override them)", opt.config_file);
    raise_fd_limit(opt.http_max_connections);

    lt_loop_parts parts = {0};
    static lt_credential_key ingest_key; /* read by the HTTP threads: outlives them */
    lt_http *http = NULL;
    char err[512], said[PATH_MAX + 128];
    rc = 1;
    if (lt_mkdir_p(opt.data, 0700) != 0) {
        fprintf(stderr, "logtap-collector: cannot create data directory %s: %s\n", opt.data, strerror(errno));
        goto out;
    }
    if (lock_data_dir(opt.data) < 0) {
        fprintf(stderr, "logtap-collector: data directory %s is in use by another collector\n", opt.data);
        goto out;
    }
    parts.store = lt_store_open(opt.data, err, sizeof err);
    if (!parts.store) {
        fprintf(stderr, "logtap-collector: cannot open the store in %s: %s\n", opt.data, err);
        goto out;
    }
    if (opt.retain_bytes == LT_RETAIN_SIZE_AUTO) {
        int64_t holds = lt_store_live_bytes(parts.store);
        opt.retain_bytes = lt_options_auto_retain_size(opt.data, holds);
        if (opt.retain_bytes < 0) {
            lt_log("retention: cannot measure the file system of %s (%s): no size limit", opt.data,
                   strerror(errno));
            opt.retain_bytes = 0;
        } else {
            lt_log("retention: size limit %.1f MiB (--retain-size auto: half of the free space of %s's "
                   "file system and of the %.1f MiB the store holds)",
                   (double)opt.retain_bytes / (1 << 20), opt.data,
                   (double)(holds > 0 ? holds : 0) / (1 << 20));
        }
    }
    if (lt_bootstrap_admin(opt.data, opt.new_admin_token, said, sizeof said, err, sizeof err) != 0) {
        fprintf(stderr, "logtap-collector: cannot set up the admin user: %s\n", err);
        goto out;
    }
    if (said[0])
        lt_log("%s", said);
    /* Before HTTP: adding a drain seals its secret with this key. */
    if (lt_drain_key_load(opt.data, err, sizeof err) != 0) {
        fprintf(stderr, "logtap-collector: %s\n", err);
        goto out;
    }
    parts.assembler = lt_assembler_new(parts.store);
    if (!parts.assembler) {
        fprintf(stderr, "logtap-collector: out of memory\n");
        goto out;
    }
    lt_assembler_set_clock_skew(parts.assembler, opt.clock_skew_ns);
    lt_assembler_limits lim = {
        .instances = (size_t)opt.max_instances,
        .runner_instances = (size_t)opt.max_runner_instances,
        .instance_streams = (size_t)opt.max_instance_streams,
        .instance_partial_bytes = (size_t)opt.max_instance_partial,
        .partial_bytes = (size_t)opt.max_partial,
        .request_rate = (uint32_t)opt.request_rate,
        .request_burst = (uint32_t)opt.request_burst,
    };
    lt_assembler_set_limits(parts.assembler, &lim);
    parts.ingest = lt_ingest_open_queue(opt.listen, parts.assembler, opt.ingest_queue, err, sizeof err);
    if (!parts.ingest) {
        fprintf(stderr, "logtap-collector: %s\n", err);
        goto out;
    }
    parts.reaper = lt_reaper_new(opt.rings, opt.listen, parts.assembler);
    if (!parts.reaper) {
        fprintf(stderr, "logtap-collector: out of memory\n");
        goto out;
    }
    lt_ingest_auth auth = LT_INGEST_AUTH_LOCAL;
    int parsed = lt_ingest_auth_parse(opt.ingest_auth, &auth);
    assert(parsed == 0); /* options.c checked it */
    (void)parsed;
    if (lt_credential_key_load(opt.data, opt.ingest_key, &ingest_key, err, sizeof err) != 0) {
        fprintf(stderr, "logtap-collector: %s\n", err);
        goto out;
    }
    lt_ingest_set_auth(parts.ingest, auth, &ingest_key);
    lt_reaper_set_auth(parts.reaper, auth, &ingest_key);
    lt_http_set_ingest_key(&ingest_key, auth);
    if (auth == LT_INGEST_AUTH_LOCAL && strncmp(opt.listen, "ipc://", 6) != 0)
        lt_log("--ingest-auth local on %s: no peer has a uid there, so every runner needs a credential",
               opt.listen);
    const lt_http_limits limits = {
        .max_connections = opt.http_max_connections,
        .max_per_ip = opt.http_max_per_ip,
        .read_timeout_ms = opt.http_read_timeout_ns / 1000000 > INT_MAX
                               ? INT_MAX
                               : (int)(opt.http_read_timeout_ns / 1000000),
        .streams_per_token = opt.http_streams_per_token,
        .streams_per_user = opt.http_streams_per_user,
        .page_bytes = opt.http_page_bytes,
    };
    http = lt_http_start(opt.http, opt.data, parts.store, &limits, err, sizeof err);
    if (!http) {
        fprintf(stderr, "logtap-collector: cannot serve HTTP on %s: %s\n", opt.http, err);
        goto out;
    }

    lt_drains_config drains = {
        .store = parts.store,
        .ca_file = opt.drain_ca_file,
        .timeout_ns = opt.drain_timeout_ns > 0 ? opt.drain_timeout_ns : INT64_C(30) * 1000000000,
        .backoff_max_ns = opt.drain_backoff_max_ns > 0 ? opt.drain_backoff_max_ns : INT64_C(250) * 1000000,
        .batch_lines = opt.drain_batch_lines,
        .batch_bytes = opt.drain_batch_bytes > 0 ? opt.drain_batch_bytes : 1 << 20,
        .own_ports = {lt_http_port(http), listen_port(opt.listen)},
    };
    if (lt_drains_start(&drains, err, sizeof err) != 0)
        lt_log("log drains are off: %s", err); /* the rest of the collector serves on */

    char host[256];
    snprintf(host, sizeof host, "%s", opt.http);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = '\0';
    parts.announce = lt_announce_new();
    if (!parts.announce) {
        fprintf(stderr, "logtap-collector: out of memory\n");
        goto out;
    }
    lt_http_set_announce(http, parts.announce);

    bool recorded = record_credentials(opt.credentials, opt.data, host, lt_http_port(http));
    /* Last: whoever waits for this file may use the collector at once. */
    write_status_file(opt.data, opt.listen, host, lt_http_port(http));
    lt_log("listening on %s, serving http://%s:%d", opt.listen, host, lt_http_port(http));
    if (isatty(STDERR_FILENO))
        tell_how_to_reach(&opt, recorded, host, lt_http_port(http));
    snprintf(said, sizeof said, "listening on %s, serving http://%s:%d", opt.listen, host,
             lt_http_port(http));
    lt_readiness_ready(said);

    lt_loop_run(&parts, &opt);
    rc = 0;

out: /* the one teardown: in reverse order of set-up; each accepts NULL */
    lt_drains_stop();
    lt_announce_shut(parts.announce); /* a PUT waiting for the loop is answered now */
    lt_http_stop(http);
    lt_announce_free(parts.announce);
    lt_reaper_free(parts.reaper);
    lt_ingest_close(parts.ingest);
    lt_assembler_free(parts.assembler);
    lt_store_close(parts.store);
    if (rc == 0)
        lt_log("stopped");
    return rc;
}
