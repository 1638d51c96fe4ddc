/* http_requests.c -- PUT /v1/requests/{id}: the gateway's announcement of
 * a request (doc/http-api.md, "Request states").
 *
 * Owns: who may announce (the app's owner, or admin), the body's checks,
 * and the answer, which is the request's status once the announcement is
 * stored.
 *
 * Why it looks the way it does: the store has one writer, the ingest
 * thread, so the announcement travels there through announce.c and this
 * thread waits for the commit holding it; 201 means stored, as an ack does
 * for lines. The status read back is the one every reader now sees (with
 * the request's queue_position).
 */
#include <stdio.h>
#include <string.h>

#include "announce.h"
#include "http_internal.h"
#include "logtap_wire.h"

/* How long an announcement may wait for the ingest thread's commit. */
#define ANNOUNCE_TIMEOUT_MS 10000

static const char *optional_string(json_t *doc, const char *key, bool *bad)
{
    json_t *value = json_object_get(doc, key);
    if (value == NULL || json_is_null(value))
        return NULL;
    if (!json_is_string(value) || !lt_wire_id_ok(json_string_value(value), json_string_length(value))) {
        *bad = true;
        return NULL;
    }
    return json_string_value(value);
}

/* The status document of a request just announced. */
static enum MHD_Result reply_status(http_call *c, unsigned status, const char *request_id)
{
    enum MHD_Result queued = MHD_NO;
    lt_store_reader *rd = http_open_reader(c, &queued);
    if (rd == NULL)
        return queued;
    lt_request_info info;
    int known = lt_store_request_get(rd, request_id, &info);
    lt_store_reader_close(rd);
    if (known < 0)
        return http_reply_store_error(c);
    if (known == 0) /* retention took it in between: as good as gone */
        return http_reply_error(c->conn, MHD_HTTP_NOT_FOUND, "unknown request %s", request_id);
    json_t *doc = json_pack("{s:s, s:s}", "request_id", request_id, "status",
                            info.state == LT_REQUEST_IN_QUEUE      ? "IN_QUEUE"
                            : info.state == LT_REQUEST_IN_PROGRESS ? "IN_PROGRESS"
                                                                   : "COMPLETED");
    if (doc != NULL && info.state == LT_REQUEST_IN_QUEUE)
        json_object_set_new(doc, "queue_position", json_integer(info.queue_position));
    return http_reply_json(c->conn, status, doc);
}

enum MHD_Result http_serve_request_announce(http_call *c, const char *request_id)
{
    if (strcmp(c->method, MHD_HTTP_METHOD_PUT) != 0)
        return http_reply_method_not_allowed(c, "PUT");
    static const char *const keys[] = {"app", "caller", NULL};
    enum MHD_Result queued = MHD_NO;
    json_t *doc = http_body_object(c, keys, &queued);
    if (doc == NULL)
        return queued;
    bool bad_app = false, bad_caller = false;
    const char *app_id = optional_string(doc, "app", &bad_app);
    const char *caller = optional_string(doc, "caller", &bad_caller);
    if (app_id == NULL || bad_app || bad_caller) {
        json_decref(doc);
        return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST,
                                "bad %s: expected an ID (1..%d printable ASCII characters, no '/')",
                                bad_caller ? "caller" : "app", LT_WIRE_MAX_ID);
    }
    char app[LT_WIRE_MAX_ID + 1], who_calls[LT_WIRE_MAX_ID + 1];
    snprintf(app, sizeof app, "%s", app_id);
    snprintf(who_calls, sizeof who_calls, "%s", caller != NULL ? caller : "");
    json_decref(doc);

    /* The gateway speaks for the app: its owner's token, or admin's. */
    lt_app_info info;
    int known = lt_registry_app_get(c->registry, app, &info);
    if (known < 0)
        return http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "registry unavailable: %s",
                                lt_registry_error(c->registry));
    if (!c->who.admin && (known == 0 || !info.deployed || strcmp(info.owner, c->who.user) != 0))
        return http_reply_error(c->conn, MHD_HTTP_FORBIDDEN,
                                "only the owner of app %s or admin may announce its requests", app);
    struct lt_announce *announce = atomic_load(&c->http->announce);
    if (announce == NULL)
        return http_reply_error(c->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "announcements are not taken yet");

    int rc = lt_announce_post(announce, request_id, app, who_calls, ANNOUNCE_TIMEOUT_MS);
    switch (rc) {
    case LT_ENQUEUE_CREATED: return reply_status(c, MHD_HTTP_CREATED, request_id);
    case LT_ENQUEUE_EXISTS: return reply_status(c, MHD_HTTP_OK, request_id);
    case LT_ENQUEUE_CONFLICT:
        return http_reply_error(c->conn, MHD_HTTP_CONFLICT, "request %s belongs to another app or caller",
                                request_id);
    case LT_ANNOUNCE_FAILED: return http_reply_store_error(c);
    default:
        return http_reply_error(c->conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                                "the collector could not take the announcement now; try again");
    }
}
