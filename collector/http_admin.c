/* http_admin.c -- the registry's endpoints of doc/http-api.md: whoami,
 * tokens, apps (deploys) and accounts.
 *
 * Owns: request-body parsing for these endpoints and the rules of who may
 * change what. Reads are answered with 404 for what the principal may not
 * see (as the log endpoints do); writes it may not make are 403, since
 * the principal named the target itself.
 *
 *   tokens    admin: any user's; others: their own. A token's scope
 *             (full, read, metrics) is chosen at creation; metrics
 *             tokens are admin's to make, since /metrics is admin's.
 *   apps      admin: deploys any app for any owner; others: only as the
 *             owner, and not an app someone else owns
 *   accounts  admin: anyone's default; others: their own
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"
#include "logtap_wire.h"
#include "timefmt.h"

/* ---- bodies ---- */

/* Parse the call's body as a JSON object with only the keys in `allowed`
 * (NULL-terminated). Returns the object, or NULL after queuing a 400. */
json_t *http_body_object(http_call *c, const char *const *allowed, enum MHD_Result *queued)
{
    if (c->body == NULL || c->body_len == 0) {
        *queued = http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST, "bad body: expected a JSON object");
        return NULL;
    }
    json_error_t error;
    json_t *doc = json_loadb(c->body, c->body_len, JSON_REJECT_DUPLICATES, &error);
    if (doc == NULL || !json_is_object(doc)) {
        json_decref(doc);
        *queued = http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST, "bad body: %s",
                                   doc == NULL ? error.text : "expected a JSON object");
        return NULL;
    }
    const char *key;
    json_t *value;
    json_object_foreach(doc, key, value)
    {
        bool known = false;
        for (const char *const *name = allowed; *name != NULL && !known; name++)
            known = strcmp(key, *name) == 0;
        if (!known) {
            *queued = http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST, "bad body: unknown key %s", key);
            json_decref(doc);
            return NULL;
        }
    }
    return doc;
}

/* A user-name field: absent gives `fallback`; otherwise it must be an ID. */
static bool user_field(json_t *doc, const char *key, const char *fallback, const char **out)
{
    json_t *value = json_object_get(doc, key);
    if (value == NULL || json_is_null(value)) {
        *out = fallback;
        return true;
    }
    if (!json_is_string(value) || !lt_user_name_ok(json_string_value(value)))
        return false;
    *out = json_string_value(value);
    return true;
}

/* A label: at most LT_LABEL_MAX bytes of text without control characters. */
static bool label_ok(const char *label)
{
    size_t len = strlen(label);
    if (len > LT_LABEL_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)label[i] < 0x20 || label[i] == 0x7f)
            return false;
    return true;
}

static json_t *time_json(int64_t ns)
{
    char text[40];
    return json_string(lt_time_format(ns, text, sizeof text));
}

static bool is_read(const http_call *c)
{
    return c->is_head || strcmp(c->method, MHD_HTTP_METHOD_GET) == 0;
}

static enum MHD_Result registry_failed(http_call *c)
{
    return http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "registry failure: %s",
                            lt_registry_error(c->registry));
}

/* ---- whoami ---- */

enum MHD_Result http_serve_whoami(http_call *c)
{
    if (!is_read(c))
        return http_reply_method_not_allowed(c, "GET, HEAD");
    return http_reply_json(c->conn, MHD_HTTP_OK,
                           json_pack("{s:s, s:b, s:s}", "user", c->who.user, "admin", c->who.admin, "scope",
                                     lt_token_scope_name(c->who.scope)));
}

/* ---- tokens ---- */

static json_t *token_json(const lt_token_info *info)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", info->id, "user", info->user, "label", info->label,
                     "scope", lt_token_scope_name(info->scope), "created", time_json(info->created_ns));
}

static int add_token(const lt_token_info *info, void *ctx)
{
    return json_array_append_new(ctx, token_json(info)) == 0 ? 0 : 1;
}

static bool may_manage(const http_call *c, const char *user)
{
    return c->who.admin || strcmp(user, c->who.user) == 0;
}

static enum MHD_Result create_token(http_call *c)
{
    static const char *const keys[] = {"user", "label", "scope", NULL};
    enum MHD_Result queued = MHD_NO;
    json_t *doc = http_body_object(c, keys, &queued);
    if (doc == NULL)
        return queued;
    lt_token_scope scope = LT_SCOPE_FULL;
    json_t *scope_value = json_object_get(doc, "scope");
    if (scope_value != NULL && !json_is_null(scope_value) &&
        (!json_is_string(scope_value) || lt_token_scope_parse(json_string_value(scope_value), &scope) != 0)) {
        json_decref(doc);
        return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST, "bad scope: expected full, read or metrics");
    }
    const char *user, *label = "";
    json_t *label_value = json_object_get(doc, "label");
    if (!user_field(doc, "user", c->who.user, &user)) {
        json_decref(doc);
        return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST,
                                "bad user: expected a name (1..%d printable ASCII characters, no '/')",
                                LT_WIRE_MAX_ID);
    }
    if (label_value != NULL && !json_is_null(label_value)) {
        if (!json_is_string(label_value) || !label_ok(json_string_value(label_value))) {
            json_decref(doc);
            return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST,
                                    "bad label: expected text of at most %d bytes, no control "
                                    "characters",
                                    LT_LABEL_MAX);
        }
        label = json_string_value(label_value);
    }
    if (!may_manage(c, user)) {
        json_decref(doc);
        return http_reply_error(c->conn, MHD_HTTP_FORBIDDEN, "only admin may create tokens for other users");
    }
    if (scope == LT_SCOPE_METRICS && !c->who.admin) {
        json_decref(doc);
        return http_reply_error(c->conn, MHD_HTTP_FORBIDDEN,
                                "only admin may create metrics tokens (/metrics is admin's)");
    }
    char token[LT_TOKEN_LEN + 1];
    lt_token_info info;
    int rc = lt_registry_token_create(c->registry, user, label, scope, token, &info);
    json_decref(doc);
    if (rc != 0)
        return registry_failed(c);
    json_t *out = token_json(&info);
    if (out != NULL)
        json_object_set_new(out, "token", json_string(token));
    return http_reply_json(c->conn, MHD_HTTP_CREATED, out);
}

enum MHD_Result http_serve_tokens(http_call *c, const char *id)
{
    if (id == NULL) {
        if (strcmp(c->method, MHD_HTTP_METHOD_POST) == 0)
            return create_token(c);
        if (!is_read(c))
            return http_reply_method_not_allowed(c, "GET, HEAD, POST");
        json_t *list = json_array();
        if (list == NULL)
            return http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        if (lt_registry_token_list(c->registry, c->who.admin ? NULL : c->who.user, add_token, list) < 0) {
            json_decref(list);
            return registry_failed(c);
        }
        return http_reply_json(c->conn, MHD_HTTP_OK, json_pack("{s:o}", "tokens", list));
    }

    bool is_delete = strcmp(c->method, MHD_HTTP_METHOD_DELETE) == 0;
    if (!is_delete && !is_read(c))
        return http_reply_method_not_allowed(c, "GET, HEAD, DELETE");
    lt_token_info info;
    int known = lt_registry_token_get(c->registry, id, &info);
    if (known < 0)
        return registry_failed(c);
    if (known == 0 || !may_manage(c, info.user))
        return http_reply_error(c->conn, MHD_HTTP_NOT_FOUND, "unknown token %s", id);
    if (!is_delete)
        return http_reply_json(c->conn, MHD_HTTP_OK, token_json(&info));
    int revoked = lt_registry_token_revoke(c->registry, id);
    if (revoked < 0)
        return registry_failed(c);
    if (revoked == 0) /* revoked meanwhile by someone else */
        return http_reply_error(c->conn, MHD_HTTP_NOT_FOUND, "unknown token %s", id);
    return http_reply_json(c->conn, MHD_HTTP_OK, json_pack("{s:s}", "revoked", id));
}

/* ---- apps ---- */

static json_t *app_json(const lt_app_info *app)
{
    return json_pack("{s:s, s:s, s:b, s:s, s:o}", "app_id", app->app_id, "owner", app->owner, "private_logs",
                     app->private_logs, "private_logs_from",
                     app->private_from_default ? "account-default" : "explicit", "deployed",
                     time_json(app->deployed_ns));
}

static int add_app(const lt_app_info *app, void *ctx)
{
    return json_array_append_new(ctx, app_json(app)) == 0 ? 0 : 1;
}

static enum MHD_Result deploy_app(http_call *c, const char *app_id)
{
    static const char *const keys[] = {"owner", "private_logs", NULL};
    enum MHD_Result queued = MHD_NO;
    json_t *doc = http_body_object(c, keys, &queued);
    if (doc == NULL)
        return queued;
    const char *owner;
    if (!user_field(doc, "owner", c->who.user, &owner)) {
        json_decref(doc);
        return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST,
                                "bad owner: expected a user name (1..%d printable ASCII "
                                "characters, no '/')",
                                LT_WIRE_MAX_ID);
    }
    int private_logs = -1; /* absent or null: the owner's account default */
    json_t *flag = json_object_get(doc, "private_logs");
    if (flag != NULL && !json_is_null(flag)) {
        if (!json_is_boolean(flag)) {
            json_decref(doc);
            return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST,
                                    "bad private_logs: expected true, false or null");
        }
        private_logs = json_is_true(flag) ? 1 : 0;
    }
    if (!c->who.admin && strcmp(owner, c->who.user) != 0) {
        json_decref(doc);
        return http_reply_error(c->conn, MHD_HTTP_FORBIDDEN,
                                "you may deploy apps only with yourself as the owner");
    }
    /* A first deploy hands every line already stored under the app ID to
     * the deployer: a user may not claim an app that runners already log
     * as (its lines are admin's until admin deploys it). */
    if (!c->who.admin) {
        lt_app_info current;
        int deployed = lt_registry_app_get(c->registry, app_id, &current);
        if (deployed < 0) {
            json_decref(doc);
            return registry_failed(c);
        }
        if (deployed == 0) {
            enum MHD_Result queued = MHD_NO;
            lt_store_reader *rd = http_open_reader(c, &queued);
            if (rd == NULL) {
                json_decref(doc);
                return queued;
            }
            int known = lt_store_app_known(rd, app_id);
            lt_store_reader_close(rd);
            if (known != 0) {
                json_decref(doc);
                if (known < 0)
                    return http_reply_store_error(c);
                return http_reply_error(c->conn, MHD_HTTP_FORBIDDEN,
                                        "app %s already has logs from its runners: only admin "
                                        "may deploy it first",
                                        app_id);
            }
        }
    }
    lt_app_info app;
    int rc = lt_registry_app_deploy(c->registry, app_id, owner, private_logs, !c->who.admin, &app);
    json_decref(doc);
    if (rc < 0)
        return registry_failed(c);
    if (rc == 1)
        return http_reply_error(c->conn, MHD_HTTP_FORBIDDEN, "app %s belongs to another owner", app_id);
    return http_reply_json(c->conn, MHD_HTTP_OK, app_json(&app));
}

enum MHD_Result http_serve_apps(http_call *c, const char *app_id)
{
    if (app_id == NULL) {
        if (!is_read(c))
            return http_reply_method_not_allowed(c, "GET, HEAD");
        json_t *list = json_array();
        if (list == NULL)
            return http_reply_error(c->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        if (lt_registry_app_list(c->registry, c->who.admin ? NULL : c->who.user, add_app, list) < 0) {
            json_decref(list);
            return registry_failed(c);
        }
        return http_reply_json(c->conn, MHD_HTTP_OK, json_pack("{s:o}", "apps", list));
    }
    if (strcmp(c->method, MHD_HTTP_METHOD_PUT) == 0)
        return deploy_app(c, app_id);
    if (!is_read(c))
        return http_reply_method_not_allowed(c, "GET, HEAD, PUT");
    lt_app_info app;
    int known = lt_registry_app_get(c->registry, app_id, &app);
    if (known < 0)
        return registry_failed(c);
    if (known == 0 || !may_manage(c, app.owner))
        return http_reply_error(c->conn, MHD_HTTP_NOT_FOUND, "unknown app %s", app_id);
    return http_reply_json(c->conn, MHD_HTTP_OK, app_json(&app));
}

/* ---- accounts ---- */

enum MHD_Result http_serve_account(http_call *c, const char *user)
{
    bool is_put = strcmp(c->method, MHD_HTTP_METHOD_PUT) == 0;
    if (!is_put && !is_read(c))
        return http_reply_method_not_allowed(c, "GET, HEAD, PUT");
    if (!lt_user_name_ok(user))
        return http_reply_error(c->conn, MHD_HTTP_NOT_FOUND, "unknown user %s", user);
    if (is_put) {
        if (!may_manage(c, user))
            return http_reply_error(c->conn, MHD_HTTP_FORBIDDEN,
                                    "only admin may change another user's account");
        static const char *const keys[] = {"default_private_logs", NULL};
        enum MHD_Result queued = MHD_NO;
        json_t *doc = http_body_object(c, keys, &queued);
        if (doc == NULL)
            return queued;
        json_t *flag = json_object_get(doc, "default_private_logs");
        if (!json_is_boolean(flag)) {
            json_decref(doc);
            return http_reply_error(c->conn, MHD_HTTP_BAD_REQUEST,
                                    "bad default_private_logs: expected true or false");
        }
        bool value = json_is_true(flag);
        json_decref(doc);
        if (lt_registry_account_set(c->registry, user, value) != 0)
            return registry_failed(c);
    }
    bool default_private = false;
    int known = lt_registry_account_get(c->registry, user, &default_private);
    if (known < 0)
        return registry_failed(c);
    if (known == 0 || !may_manage(c, user))
        return http_reply_error(c->conn, MHD_HTTP_NOT_FOUND, "unknown user %s", user);
    return http_reply_json(c->conn, MHD_HTTP_OK,
                           json_pack("{s:s, s:b}", "user", user, "default_private_logs", default_private));
}
