/* main.c -- logtap-collector: read the flags (options.c), set up the parts
 * in order -- the data directory and its lock, the store (and the size
 * limit that --retain-size auto stands for), the admin user, the
 * assembler, ingest, the reaper, HTTP -- announce the collector, run the
 * loop (loop.c) until SIGTERM or SIGINT, and tear down in reverse. Every
 * exit after set-up began goes through one teardown.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assembler.h"
#include "bootstrap.h"
#include "dirs.h"
#include "http.h"
#include "ingest.h"
#include "log.h"
#include "loop.h"
#include "options.h"
#include "reaper.h"
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
 * address served, and for a wildcard address the loopback one too. */
static void record_credentials(const char *file, const char *data, const char *host, int port)
{
    char default_path[PATH_MAX];
    if (file == NULL && lt_credentials_default_path(default_path, sizeof default_path) == 0)
        file = default_path;
    if (file == NULL) {
        lt_log("neither XDG_CONFIG_HOME nor HOME is set: the admin token is only in %s/admin.token", data);
        return;
    }
    if (strcmp(file, "none") == 0)
        return;
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
    }
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

    lt_loop_parts parts = {0};
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

    record_credentials(opt.credentials, opt.data, host, lt_http_port(http));
    /* Last: whoever waits for this file may use the collector at once. */
    write_status_file(opt.data, opt.listen, host, lt_http_port(http));
    lt_log("listening on %s, serving http://%s:%d", opt.listen, host, lt_http_port(http));

    lt_loop_run(&parts, &opt);
    rc = 0;

out: /* the one teardown: in reverse order of set-up; each accepts NULL */
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
