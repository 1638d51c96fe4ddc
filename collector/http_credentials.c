/* http_credentials.c -- POST /v1/runners/{id}/credentials: a runner
 * credential for a launcher to hand its runner (credential.h,
 * doc/http-api.md).
 *
 * Who may mint one: admin, or the owner of the app it names (an app no one
 * has deployed, or none: admin only), since a credential lets its holder store lines
 * as that app's runner, and the app's owner is who reads them. Minting needs
 * no state: the key signs it, and any collector holding the key accepts it.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "access.h"
#include "credential.h"
#include "http.h"
#include "http_internal.h"
#include "logtap_wire.h"
#include "timefmt.h"

#define DEFAULT_TTL_S (30LL * 24 * 3600)
#define MAX_TTL_S (366LL * 24 * 3600)

/* Set once before the HTTP threads start (lt_http_set_ingest_key). */
static const lt_credential_key *ingest_key;
static lt_ingest_auth ingest_auth = LT_INGEST_AUTH_LOCAL;

void lt_http_set_ingest_key(const lt_credential_key *key, lt_ingest_auth mode)
{
    ingest_key = key;
    ingest_auth = mode;
}

/* An optional string field that must be an ID (or empty); absent gives "". */
static bool id_field(json_t *doc, const char *name, bool required, char *out, size_t cap)
{
    json_t *v = json_object_get(doc, name);
    if (v == NULL || json_is_null(v)) {
        out[0] = '\0';
        return !required;
    }
    if (!json_is_string(v))
        return false;
    size_t n = json_string_length(v);
    if (n >= cap || (n == 0 ? required : !lt_wire_id_ok(json_string_value(v), n)))
        return false;
    memcpy(out, json_string_value(v), n + 1);
    return true;
}

/* ttl: a duration ("1h", "30d") or a number of seconds; absent: 30 days. */
static bool ttl_field(json_t *doc, int64_t *seconds)
{
    json_t *v = json_object_get(doc, "ttl");
    int64_t ns;
    if (v == NULL || json_is_null(v))
        *seconds = DEFAULT_TTL_S;
    else if (json_is_integer(v))
        *seconds = (int64_t)json_integer_value(v);
    else if (json_is_string(v) && lt_duration_parse(json_string_value(v), &ns) == 0)
        *seconds = ns / 1000000000;
    else
        return false;
    return *seconds > 0 && *seconds <= MAX_TTL_S;
}

static enum MHD_Result bad(http_call *c, const char *what)
{
    return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST, "bad %s", what);
}

enum MHD_Result http_serve_runner_credentials(http_call *c, const char *runner_id)
{
    if (strcmp(c->method, "POST") != 0)
        return http_reply_error(c->conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: use POST");
    if (ingest_key == NULL)
        return http_reply_error(c->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "this collector has no ingest key");
    json_error_t error;
    json_t *doc = c->body ? json_loadb(c->body, c->body_len, JSON_REJECT_DUPLICATES, &error) : NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        return bad(c, "body: expected a JSON object {\"app\", \"version\", \"source\", \"ttl\"}");
    }
    const char *key;
    json_t *value;
    json_object_foreach(doc, key, value)
    {
        if (strcmp(key, "app") != 0 && strcmp(key, "version") != 0 && strcmp(key, "source") != 0 &&
            strcmp(key, "ttl") != 0) {
            enum MHD_Result queued = http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST,
                                                      "bad body: unknown key %s", key); /* key lives in doc */
            json_decref(doc);
            return queued;
        }
    }
    lt_credential_claims claims;
    int64_t ttl_s = 0;
    snprintf(claims.runner, sizeof claims.runner, "%s", runner_id);
    const char *problem = NULL;
    if (!id_field(doc, "app", false, claims.app, sizeof claims.app))
        problem = "app: expected an app ID (1..128 printable ASCII characters, no '/')";
    else if (!id_field(doc, "version", false, claims.version, sizeof claims.version))
        problem = "version: expected a version ID";
    else if (!id_field(doc, "source", false, claims.source, 16))
        problem = "source: expected run, gateway, deploy or another word of at most 15 characters";
    else if (!ttl_field(doc, &ttl_s))
        problem = "ttl: expected a duration (30m, 12h, 30d) or seconds, at most 366 days";
    json_decref(doc);
    if (problem != NULL)
        return bad(c, problem);

    if (claims.app[0] == '\0' && !c->who.admin) /* an app-less runner's lines are admin's */
        return http_reply_error(c->conn, MHD_HTTP_FORBIDDEN,
                                "only admin may mint credentials without an app");
    lt_app_info app;
    int deployed = claims.app[0] ? lt_registry_app_get(c->registry, claims.app, &app) : 0;
    if (deployed < 0)
        return http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "registry failure: %s",
                                lt_registry_error(c->registry));
    if (deployed == 0) {
        memset(&app, 0, sizeof app);
        snprintf(app.app_id, sizeof app.app_id, "%s", claims.app);
    }
    if (!lt_access_owns(&c->who, &app))
        return http_reply_error(c->conn, MHD_HTTP_FORBIDDEN,
                                "only admin and the owner of app %s may mint its runners' credentials",
                                claims.app);

    int64_t now_ns = lt_time_now_ns();
    claims.expires_s = now_ns / 1000000000 + ttl_s;
    char credential[LT_CREDENTIAL_MAX + 1];
    if (lt_credential_mint(ingest_key, &claims, credential) < 0)
        return bad(c, "identity: it does not fit a credential");
    char expires[40];
    json_t *out =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "credential", credential, "runner_id", claims.runner,
                  "app_id", claims.app, "version_id", claims.version, "source", claims.source, "expires_at",
                  lt_time_format(claims.expires_s * 1000000000, expires, sizeof expires), "ingest_auth",
                  lt_ingest_auth_name(ingest_auth));
    return http_reply_json(c->conn, MHD_HTTP_OK, out);
}
