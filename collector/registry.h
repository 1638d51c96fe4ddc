/* registry.h -- who is who: users, their API tokens, deployed apps and the
 * account-wide default for private logs.
 *
 * The registry lives in the store's SQLite file (tables users, tokens, apps,
 * with their own schema version and migrations in registry.c) but on
 * connections of its own:
 * HTTP threads read it on every request (authentication) and write it
 * rarely (a deploy, a new token), while the ingest thread owns the log
 * tables. SQLite's WAL and busy timeout make the two kinds of writer take
 * turns; registry writes are single-row transactions.
 *
 * Tokens are "lt_" + 48 hex digits of getrandom() entropy (192 bits). Only
 * their SHA-256 is stored; a token's public ID is "tok_" + the first 12 hex
 * digits of that hash, so it can be listed and revoked without being shown.
 *
 * Ownership: lt_registry handles are owned by their opener and used by one
 * thread at a time. Every output struct is caller-provided storage.
 */
#ifndef LT_REGISTRY_H
#define LT_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "logtap_wire.h"

#define LT_TOKEN_LEN (3 + 48)    /* "lt_" + 48 hex digits */
#define LT_TOKEN_ID_LEN (4 + 12) /* "tok_" + 12 hex digits */
#define LT_LABEL_MAX 128
#define LT_ADMIN_USER "admin"

typedef struct lt_registry lt_registry;

/* What a token may do, within what its user may (access.h,
 * lt_access_scope_allows): a scope narrows a user's rights, never widens
 * them -- except that a metrics token, which only admin makes, reads
 * /metrics whoever its user is. */
typedef enum lt_token_scope {
    LT_SCOPE_FULL = 0, /* everything its user may do */
    LT_SCOPE_READ,     /* what its user may read; changes nothing */
    LT_SCOPE_METRICS,  /* /metrics and nothing else */
} lt_token_scope;

/* "full", "read", "metrics". */
const char *lt_token_scope_name(lt_token_scope scope);
/* Returns 0 and sets *out, or -1 for anything else. */
int lt_token_scope_parse(const char *name, lt_token_scope *out);

/* The authenticated caller of an HTTP request. */
typedef struct lt_principal {
    char user[LT_WIRE_MAX_ID + 1];
    bool admin;           /* the user is admin (whatever the token's scope) */
    lt_token_scope scope; /* of the token presented */
} lt_principal;

/* What the registry knows of an app. `deployed` is false for an app no
 * one has deployed: it has no owner, and only admin sees its logs. */
typedef struct lt_app_info {
    bool deployed;
    char app_id[LT_WIRE_MAX_ID + 1];
    char owner[LT_WIRE_MAX_ID + 1];
    bool private_logs;
    bool private_from_default; /* private_logs was snapshotted from the
                                  owner's account default at deploy */
    int64_t deployed_ns;
} lt_app_info;

typedef struct lt_token_info {
    char id[LT_TOKEN_ID_LEN + 1];
    char user[LT_WIRE_MAX_ID + 1];
    char label[LT_LABEL_MAX + 1];
    lt_token_scope scope;
    int64_t created_ns;
} lt_token_info;

/* Open the registry of the store in `dir` (the store must exist: the
 * collector creates it), migrating its tables to this code's schema
 * first if needed. NULL + message in err on failure. */
lt_registry *lt_registry_open(const char *dir, char *err, size_t errlen);
void lt_registry_close(lt_registry *reg);
const char *lt_registry_error(const lt_registry *reg);

/* A user name is an ID in the wire sense (lt_wire_id_ok). */
bool lt_user_name_ok(const char *name);

/* Look a presented token up. Returns 1 and fills `who`, 0 if no such token
 * (or a malformed one), -1 on a store error. Constant-time in the token's
 * contents: it is hashed before any comparison. */
int lt_registry_authenticate(lt_registry *reg, const char *token, lt_principal *who);

/* Mint a token of `scope` for `user` (created if new, as a non-admin;
 * `admin` is made by lt_registry_bootstrap). Writes the token
 * (LT_TOKEN_LEN + 1 bytes) and fills `info`. Returns 0 or -1. */
int lt_registry_token_create(lt_registry *reg, const char *user, const char *label, lt_token_scope scope,
                             char token[LT_TOKEN_LEN + 1], lt_token_info *info);
/* Tokens of `user` (NULL: everyone's), oldest first, through `cb` (return
 * non-zero to stop). Returns the count, or -1. */
typedef int (*lt_token_cb)(const lt_token_info *info, void *ctx);
long lt_registry_token_list(lt_registry *reg, const char *user, lt_token_cb cb, void *ctx);
/* Fill `info` for token `id`. Returns 1, 0 if unknown, -1 on error. */
int lt_registry_token_get(lt_registry *reg, const char *id, lt_token_info *info);
/* Returns 1 if revoked, 0 if unknown, -1 on error. */
int lt_registry_token_revoke(lt_registry *reg, const char *id);

/* First start: if no admin user exists, create it with a token, written
 * to `token` and *created = true. Otherwise *created = false. 0 or -1. */
int lt_registry_bootstrap(lt_registry *reg, char token[LT_TOKEN_LEN + 1], bool *created);

/* Deploy (register or redeploy) `app_id` for `owner` (created if new).
 * `private_logs` is 1 or 0 when the deploy says so, -1 to snapshot the
 * owner's account default now. With `keep_owner`, an app already deployed
 * by someone else is left alone (a user may not take another's app); the
 * check and the write are one transaction. Fills `out` with the app as it
 * now is. Returns 0 (deployed), 1 (refused: another owner's app) or -1. */
int lt_registry_app_deploy(lt_registry *reg, const char *app_id, const char *owner, int private_logs,
                           bool keep_owner, lt_app_info *out);
/* Returns 1 and fills `out` if deployed; 0 (out->deployed = false) if not;
 * -1 on error. An empty app_id is never deployed. */
int lt_registry_app_get(lt_registry *reg, const char *app_id, lt_app_info *out);
/* Apps owned by `owner` (NULL: all), by app ID. Returns the count or -1. */
typedef int (*lt_app_cb)(const lt_app_info *app, void *ctx);
long lt_registry_app_list(lt_registry *reg, const char *owner, lt_app_cb cb, void *ctx);

/* The account default for apps deployed from now on. `user` is created if
 * new. 0 or -1. */
int lt_registry_account_set(lt_registry *reg, const char *user, bool default_private_logs);
/* Returns 1 and sets *default_private_logs if the user exists, 0 if not,
 * -1 on error. */
int lt_registry_account_get(lt_registry *reg, const char *user, bool *default_private_logs);

#endif
