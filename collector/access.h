/* access.h -- who may see which logs: the rules of doc/http-api.md
 * ("Who sees what") as pure functions, so that every endpoint and every
 * follow stream asks the same question and gets the same answer.
 *
 *   runner logs    the app's owner (and admin); nobody else
 *   request logs   the owner (and admin): everything; the request's
 *                  caller: everything, or an empty list when the app's logs
 *                  are private; anybody else: nothing (404)
 *
 * An app nobody has deployed has no owner: only admin sees its lines.
 *
 * Before any of that, the token's scope (registry.h) says which kind of
 * call it may make at all:
 *
 *   scope     reads (GET, HEAD)   changes (POST, PUT, DELETE)   /metrics
 *   full      yes                 yes                           admin only
 *   read      yes                 no                            admin only
 *   metrics   no                  no                            yes
 *
 * A metrics token is what Prometheus is given: it reads /metrics and
 * nothing else, so only admin makes one (for any user).
 */
#ifndef LT_ACCESS_H
#define LT_ACCESS_H

#include "registry.h"

typedef enum lt_visibility {
    LT_SEE_NOTHING, /* answer as if it did not exist: 404 */
    LT_SEE_EMPTY,   /* it exists for you, its logs do not: [] */
    LT_SEE_ALL,
} lt_visibility;

typedef enum lt_call_kind {
    LT_CALL_READ,    /* GET or HEAD of anything under /v1 */
    LT_CALL_CHANGE,  /* POST, PUT, DELETE under /v1 */
    LT_CALL_METRICS, /* GET or HEAD of /metrics */
} lt_call_kind;

/* True if `who`'s token may make a call of this kind; what it then sees is
 * the functions' below. */
bool lt_access_call_allowed(const lt_principal *who, lt_call_kind kind);

/* True if `who` owns the app (admin owns everything). */
bool lt_access_owns(const lt_principal *who, const lt_app_info *app);

/* Runner scope of a runner of `app`. */
lt_visibility lt_access_runner_logs(const lt_principal *who, const lt_app_info *app);

/* Request scope (logs, status, follow) of a request of `app` whose BEGIN
 * named `caller` (NULL or "" if none did). */
lt_visibility lt_access_request_logs(const lt_principal *who, const lt_app_info *app, const char *caller);

#endif
