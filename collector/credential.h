/* credential.h -- runner credentials: what a launcher hands a runner so that
 * the collector believes the runner, app, version and source its frames
 * claim (README.md, "Tenants and ingest authentication").
 *
 * A credential is "lt1." + base64url(JSON payload) + "." +
 * base64url(HMAC-SHA256(key, "lt1." + base64url(payload))). The payload is
 * {"runner","app","version","source","exp"} (exp: Unix seconds). The key is
 * the collector's ingest key: 32 random bytes made at first start in
 * DATA/ingest.key, or the file --ingest-key names, which the collectors of
 * a fleet share so that a credential minted by one is valid on all.
 */
#ifndef LT_CREDENTIAL_H
#define LT_CREDENTIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "logtap_wire.h"

/* The longest credential we mint or accept: four IDs at their limit,
 * JSON-quoted and base64url-encoded, fit. */
#define LT_CREDENTIAL_MAX LT_WIRE_MAX_CREDENTIAL
#define LT_INGEST_KEY_FILE "ingest.key"
#define LT_INGEST_KEY_MIN 32
#define LT_INGEST_KEY_MAX 256

typedef struct lt_credential_key {
    unsigned char bytes[LT_INGEST_KEY_MAX];
    size_t len;
} lt_credential_key;

/* --ingest-auth: which frames the collector believes (README.md,
 * "Tenants and ingest authentication"). */
typedef enum lt_ingest_auth {
    LT_INGEST_AUTH_OFF,      /* every well-formed frame, as logtap 0.2 did */
    LT_INGEST_AUTH_LOCAL,    /* without a credential: only the collector's own
                                user, over ipc (its peer credentials) */
    LT_INGEST_AUTH_REQUIRED, /* nothing without a valid credential */
} lt_ingest_auth;

/* "off", "local" or "required"; 0, or -1 for anything else. */
int lt_ingest_auth_parse(const char *text, lt_ingest_auth *mode);
const char *lt_ingest_auth_name(lt_ingest_auth mode);

/* The identity a credential binds. */
typedef struct lt_credential_claims {
    char runner[LT_WIRE_MAX_ID + 1], app[LT_WIRE_MAX_ID + 1], version[LT_WIRE_MAX_ID + 1];
    char source[LT_WIRE_MAX_ID + 1];
    int64_t expires_s; /* Unix seconds */
} lt_credential_claims;

typedef enum lt_credential_verdict {
    LT_CREDENTIAL_VALID,
    LT_CREDENTIAL_BAD,     /* not one of ours: malformed, or the signature fails */
    LT_CREDENTIAL_EXPIRED, /* ours, but past its expiry */
} lt_credential_verdict;

/* The key: `key_file` if given (it must exist, hold LT_INGEST_KEY_MIN to
 * LT_INGEST_KEY_MAX bytes and be readable by its owner only), else
 * DATA/ingest.key, created with 32 random bytes (mode 0600) if missing.
 * Returns 0, or -1 with a message in err. */
int lt_credential_key_load(const char *data_dir, const char *key_file, lt_credential_key *key, char *err,
                           size_t errlen);

/* Mint a credential for `claims` into out (LT_CREDENTIAL_MAX + 1 bytes).
 * Returns its length, or -1 (claims that are not valid IDs). */
int lt_credential_mint(const lt_credential_key *key, const lt_credential_claims *claims, char *out);

/* Check `text` (len bytes) against the key and, if valid, fill *claims.
 * `now_s` is the current Unix time. */
lt_credential_verdict lt_credential_verify(const lt_credential_key *key, const char *text, size_t len,
                                           int64_t now_s, lt_credential_claims *claims);

#endif
