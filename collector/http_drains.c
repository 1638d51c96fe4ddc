/* http_drains.c -- the log drain endpoints of doc/http-api.md:
 * /v1/apps/{app}/drains (list, add), /v1/drains (every drain one may
 * manage) and /v1/drains/{id} (show, remove).
 *
 * Owns who may attach what where: an app's drains are its owner's (and
 * admin's; admin may also drain an app nobody deployed, whose lines are
 * admin's alone). A drain that is not the caller's is 404, as apps are.
 * A drain's URL is checked here -- its scheme for its kind, and every
 * address its host resolves to (drain_send.c's rules) -- and again at
 * every connection. allow_loopback, which lets a drain reach the
 * collector's own loopback ports, is admin's to set: it is the operator's
 * decision, not a tenant's.
 *
 * The secret is made here, returned once in the 201, and stored only
 * sealed (drain_secret.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "drain.h"
#include "drain_format.h"
#include "drain_secret.h"
#include "drain_send.h"
#include "http_internal.h"
#include "level.h"
#include "logtap_wire.h"
#include "timefmt.h"

static bool is_read(const http_call *c)
{
    return c->is_head || strcmp(c->method, MHD_HTTP_METHOD_GET) == 0;
}

static json_t *drain_json(const lt_drain *d)
{
    char created[40];
    json_t *filters =
        json_pack("{s:s, s:s?, s:s?, s:s?}", "scope", d->requests_only ? "request" : "runner", "runner",
                  d->runner_id[0] ? d->runner_id : NULL, "source", d->source[0] ? d->source : NULL, "level",
                  d->min_level >= 0 ? lt_level_name(d->min_level) : NULL);
    json_t *out = json_pack(
        "{s:s, s:s, s:s, s:s, s:o, s:b, s:s, s:I, s:I, s:I, s:I, s:I}", "id", d->id, "app_id", d->app_id,
        "kind", d->kind, "url", d->url, "filters", filters, "allow_loopback", d->allow_loopback, "created",
        lt_time_format(d->created_ns, created, sizeof created), "cursor", (json_int_t)d->cursor, "lines_sent",
        (json_int_t)d->lines_sent, "bytes_sent", (json_int_t)d->bytes_sent, "batches_failed",
        (json_int_t)d->batches_failed, "lines_missed", (json_int_t)d->lines_missed);
    if (out == NULL)
        return NULL;
    lt_drain_status st;
    if (lt_drains_status(d->id, &st)) {
        json_object_set_new(out, "state", json_string(st.state));
        json_object_set_new(out, "lag_lines", json_integer(st.lag_lines));
        json_object_set_new(out, "lag_seconds", json_real(st.lag_seconds));
        json_object_set_new(out, "last_error", st.last_error[0] ? json_string(st.last_error) : json_null());
    } else {
        json_object_set_new(out, "state", json_string("starting"));
    }
    return out;
}

static lt_store_drains *open_drains(http_call *c, enum MHD_Result *queued)
{
    char err[256];
    lt_store_drains *dh = lt_store_drains_open_for(c->http->store, err, sizeof err);
    if (dh == NULL)
        *queued = http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "store failure: %s", err);
    return dh;
}

/* May the caller manage `app_id`'s drains? 1 yes, 0 no (404), -1 error. */
static int may_manage_app(http_call *c, const char *app_id)
{
    if (c->who.admin)
        return 1;
    lt_app_info app;
    int known = lt_registry_app_get(c->registry, app_id, &app);
    if (known <= 0)
        return known;
    return strcmp(app.owner, c->who.user) == 0 ? 1 : 0;
}

struct list_ctx {
    http_call *c;
    json_t *list;
    int failed;
};

static int add_if_visible(const lt_drain *d, void *ctx)
{
    struct list_ctx *l = ctx;
    int may = may_manage_app(l->c, d->app_id);
    if (may < 0) {
        l->failed = 1;
        return 1;
    }
    if (may == 1 && json_array_append_new(l->list, drain_json(d)) != 0) {
        l->failed = 1;
        return 1;
    }
    return 0;
}

static enum MHD_Result list_drains(http_call *c, const char *app_id)
{
    enum MHD_Result queued = MHD_NO;
    lt_store_drains *dh = open_drains(c, &queued);
    if (dh == NULL)
        return queued;
    struct list_ctx l = {.c = c, .list = json_array()};
    long n = l.list != NULL ? lt_store_drain_list(dh, app_id, add_if_visible, &l) : -1;
    lt_store_drains_close(dh);
    if (n < 0 || l.failed) {
        json_decref(l.list);
        return http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot list drains");
    }
    return http_reply_json(c->conn, MHD_HTTP_OK, json_pack("{s:o}", "drains", l.list));
}

static const char *optional_string(json_t *doc, const char *key, bool *bad)
{
    json_t *v = json_object_get(doc, key);
    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

/* Each drain is a thread, two store connections, a connection to its
 * destination and a batch buffer: an owner may not attach without bound. */
#define DRAINS_PER_APP_MAX 8
#define DRAINS_MAX 256

static int count_drain(const lt_drain *drain, void *ctx)
{
    (void)drain;
    (void)ctx;
    return 0;
}

static enum MHD_Result add_drain(http_call *c, const char *app_id)
{
    static const char *const keys[] = {"kind",   "url",   "scope",          "runner",
                                       "source", "level", "allow_loopback", NULL};
    if (c->body == NULL || c->body_len == 0)
        return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST, "bad body: expected a JSON object");
    json_error_t error;
    json_t *doc = json_loadb(c->body, c->body_len, JSON_REJECT_DUPLICATES, &error);
    if (doc == NULL || !json_is_object(doc)) {
        json_decref(doc);
        return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST, "bad body: %s",
                                doc == NULL ? error.text : "expected a JSON object");
    }
    const char *key;
    json_t *value;
    json_object_foreach(doc, key, value)
    {
        bool known = false;
        for (const char *const *k = keys; *k != NULL && !known; k++)
            known = strcmp(key, *k) == 0;
        if (!known) {
            enum MHD_Result r =
                http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST, "bad body: unknown key %s", key);
            json_decref(doc);
            return r;
        }
    }
    lt_drain d;
    memset(&d, 0, sizeof d);
    d.min_level = -1;
    bool bad = false;
    const char *kind = optional_string(doc, "kind", &bad), *url = optional_string(doc, "url", &bad),
               *scope = optional_string(doc, "scope", &bad), *runner = optional_string(doc, "runner", &bad),
               *source = optional_string(doc, "source", &bad), *level = optional_string(doc, "level", &bad);
    json_t *loopback = json_object_get(doc, "allow_loopback");
    char problem[512] = "";
    if (bad)
        snprintf(problem, sizeof problem, "bad body: kind, url, scope, runner, source and level are strings");
    else if (kind == NULL || lt_drain_kind_parse(kind) < 0)
        snprintf(problem, sizeof problem, "bad kind: expected ndjson, otlp or syslog");
    else if (url == NULL || strlen(url) > LT_DRAIN_URL_MAX)
        snprintf(problem, sizeof problem, "bad url: expected a URL of at most %d bytes", LT_DRAIN_URL_MAX);
    else if (scope != NULL && strcmp(scope, "runner") != 0 && strcmp(scope, "request") != 0)
        snprintf(problem, sizeof problem,
                 "bad scope: expected runner (every line) or request (lines "
                 "inside requests)");
    else if (runner != NULL && !lt_wire_id_ok(runner, strlen(runner)))
        snprintf(problem, sizeof problem, "bad runner: expected a runner ID");
    else if (source != NULL && !lt_source_name_ok(source))
        snprintf(problem, sizeof problem, "bad source: expected run, gateway or deploy");
    else if (level != NULL && lt_level_parse(level) < 0)
        snprintf(problem, sizeof problem,
                 "bad level: expected TRACE, DEBUG, INFO, STDOUT, WARN, STDERR or ERROR");
    else if (loopback != NULL && !json_is_null(loopback) && !json_is_boolean(loopback))
        snprintf(problem, sizeof problem, "bad allow_loopback: expected true or false");
    if (problem[0]) {
        json_decref(doc);
        return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST, "%s", problem);
    }
    d.allow_loopback = json_is_true(loopback);
    if (d.allow_loopback && !c->who.admin) {
        json_decref(doc);
        return http_reply_error(c->conn, MHD_HTTP_FORBIDDEN,
                                "only admin may let a drain reach the collector's own loopback ports");
    }
    snprintf(d.app_id, sizeof d.app_id, "%s", app_id);
    snprintf(d.kind, sizeof d.kind, "%s", kind);
    snprintf(d.url, sizeof d.url, "%s", url);
    snprintf(d.runner_id, sizeof d.runner_id, "%s", runner != NULL ? runner : "");
    snprintf(d.source, sizeof d.source, "%s", source != NULL ? source : "");
    d.min_level = level != NULL ? lt_level_parse(level) : -1;
    d.requests_only = scope != NULL && strcmp(scope, "request") == 0;
    json_decref(doc);

    char why[512];
    if (lt_drain_url_check((lt_drain_kind)lt_drain_kind_parse(d.kind), d.url, d.allow_loopback,
                           lt_drains_own_ports(), why, sizeof why) != 0)
        return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST, "bad url: %s", why);

    unsigned char raw[8];
    char secret[LT_DRAIN_SECRET_LEN + 1];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw || lt_drain_secret_new(secret) != 0)
        return http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "no randomness");
    snprintf(d.id, sizeof d.id, "drn_%02x%02x%02x%02x%02x%02x%02x%02x", raw[0], raw[1], raw[2], raw[3],
             raw[4], raw[5], raw[6], raw[7]);
    if (lt_drain_secret_seal(d.id, secret, d.sealed_secret, sizeof d.sealed_secret, &d.sealed_secret_len) !=
        0)
        return http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot seal the secret");
    d.created_ns = lt_time_now_ns();
    /* A new drain carries the lines stored from now on. */
    d.cursor = lt_store_last_id(c->http->store);

    enum MHD_Result queued = MHD_NO;
    lt_store_drains *dh = open_drains(c, &queued);
    if (dh == NULL)
        return queued;
    long of_app = lt_store_drain_list(dh, app_id, count_drain, NULL);
    long of_all = of_app < 0 ? -1 : lt_store_drain_list(dh, NULL, count_drain, NULL);
    if (of_app >= DRAINS_PER_APP_MAX || of_all >= DRAINS_MAX) {
        lt_store_drains_close(dh);
        return http_reply_error(c->conn, MHD_HTTP_CONFLICT,
                                "too many drains: at most %d per app and %d in all", DRAINS_PER_APP_MAX,
                                DRAINS_MAX);
    }
    int rc = of_all < 0 ? -1 : lt_store_drain_add(dh, &d);
    if (rc != 0) {
        enum MHD_Result r = http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "store failure: %s",
                                             lt_store_drains_error(dh));
        lt_store_drains_close(dh);
        return r;
    }
    lt_store_drains_close(dh);
    lt_drains_poke();
    json_t *out = drain_json(&d);
    if (out != NULL)
        json_object_set_new(out, "secret", json_string(secret));
    explicit_bzero(secret, sizeof secret);
    return http_reply_json(c->conn, MHD_HTTP_CREATED, out);
}

enum MHD_Result http_serve_app_drains(http_call *c, const char *app_id)
{
    bool is_post = strcmp(c->method, MHD_HTTP_METHOD_POST) == 0;
    if (!is_post && !is_read(c))
        return http_reply_method_not_allowed(c, "GET, HEAD, POST");
    int may = may_manage_app(c, app_id);
    if (may < 0)
        return http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "registry failure: %s",
                                lt_registry_error(c->registry));
    if (may == 0)
        return http_reply_error(c->conn, MHD_HTTP_NOT_FOUND, "unknown app %s", app_id);
    return is_post ? add_drain(c, app_id) : list_drains(c, app_id);
}

enum MHD_Result http_serve_drains(http_call *c, const char *id)
{
    if (id == NULL) {
        if (!is_read(c))
            return http_reply_method_not_allowed(c, "GET, HEAD");
        return list_drains(c, NULL);
    }
    bool is_delete = strcmp(c->method, MHD_HTTP_METHOD_DELETE) == 0;
    if (!is_delete && !is_read(c))
        return http_reply_method_not_allowed(c, "GET, HEAD, DELETE");
    enum MHD_Result queued = MHD_NO;
    lt_store_drains *dh = open_drains(c, &queued);
    if (dh == NULL)
        return queued;
    lt_drain d;
    int known = lt_store_drain_get(dh, id, &d);
    int may = known == 1 ? may_manage_app(c, d.app_id) : known;
    if (may < 0) {
        lt_store_drains_close(dh);
        return http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot read drains");
    }
    if (may == 0) {
        lt_store_drains_close(dh);
        return http_reply_error(c->conn, MHD_HTTP_NOT_FOUND, "unknown drain %s", id);
    }
    if (!is_delete) {
        lt_store_drains_close(dh);
        return http_reply_json(c->conn, MHD_HTTP_OK, drain_json(&d));
    }
    int removed = lt_store_drain_remove(dh, id);
    lt_store_drains_close(dh);
    if (removed < 0)
        return http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot remove the drain");
    if (removed == 0)
        return http_reply_error(c->conn, MHD_HTTP_NOT_FOUND, "unknown drain %s", id);
    lt_drains_poke();
    return http_reply_json(c->conn, MHD_HTTP_OK, json_pack("{s:s}", "removed", id));
}
