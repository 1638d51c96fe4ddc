/* access.c -- the access rules (a token's scope, then who sees which
 * logs); see access.h. Kept free of I/O so that the
 * unit test can walk the whole matrix and the HTTP layer cannot disagree
 * with it. */
#include "access.h"

#include <assert.h>
#include <string.h>

bool lt_access_call_allowed(const lt_principal *who, lt_call_kind kind)
{
    assert(who != NULL);
    switch (kind) {
    case LT_CALL_METRICS:
        /* The counters are the whole collector's: admin's, or a token made
         * for reading them alone. */
        return who->scope == LT_SCOPE_METRICS || who->admin;
    case LT_CALL_READ: return who->scope == LT_SCOPE_FULL || who->scope == LT_SCOPE_READ;
    case LT_CALL_CHANGE: return who->scope == LT_SCOPE_FULL;
    }
    assert(!"unknown call kind");
    return false;
}

bool lt_access_owns(const lt_principal *who, const lt_app_info *app)
{
    assert(who != NULL && app != NULL);
    if (who->admin)
        return true;
    return app->deployed && strcmp(app->owner, who->user) == 0;
}

lt_visibility lt_access_runner_logs(const lt_principal *who, const lt_app_info *app)
{
    return lt_access_owns(who, app) ? LT_SEE_ALL : LT_SEE_NOTHING;
}

lt_visibility lt_access_request_logs(const lt_principal *who, const lt_app_info *app, const char *caller)
{
    if (lt_access_owns(who, app))
        return LT_SEE_ALL;
    if (caller == NULL || caller[0] == '\0' || strcmp(caller, who->user) != 0)
        return LT_SEE_NOTHING;
    /* The caller of a request: fal's rule. An app no one deployed has no
     * privacy setting to consult, so its logs stay with admin. */
    if (!app->deployed || app->private_logs)
        return LT_SEE_EMPTY;
    return LT_SEE_ALL;
}
