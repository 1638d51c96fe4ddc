/* drain_secret.h -- drain signing secrets: made, sealed for the store,
 * opened for signing, and the HMAC-SHA256 signature itself. */
#ifndef LT_DRAIN_SECRET_H
#define LT_DRAIN_SECRET_H

#include <stddef.h>

#include "store.h"

/* "lds_" + 64 hex digits. */
#define LT_DRAIN_SECRET_LEN 68
/* The key file in the data directory. */
#define LT_DRAIN_KEY_FILE "drains.key"

/* Load DATA/drains.key, creating it (0600, 32 random bytes) if missing.
 * Once, at start, before any other call here. 0 or -1 (message in err). */
int lt_drain_key_load(const char *data_dir, char *err, size_t errlen);

/* A new random secret, NUL-terminated. 0 or -1. */
int lt_drain_secret_new(char out[LT_DRAIN_SECRET_LEN + 1]);

/* Seal `secret` for drain `id` (AES-256-GCM under the key file's key; the
 * ID is authenticated with it, so a sealed secret cannot be moved to
 * another drain). 0 or -1. */
int lt_drain_secret_seal(const char *id, const char *secret, unsigned char *out, size_t out_size,
                         size_t *out_len);
/* The reverse; 0, or -1 when the blob was not sealed by this key for `id`. */
int lt_drain_secret_open(const char *id, const unsigned char *sealed, size_t sealed_len,
                         char out[LT_DRAIN_SECRET_LEN + 1]);

/* hex(HMAC-SHA256(secret, timestamp "." body)) into out (65 bytes). */
void lt_drain_sign(const char *secret, const char *timestamp, const char *body, size_t body_len,
                   char out[65]);

#endif
