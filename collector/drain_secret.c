/* drain_secret.c -- drain signing secrets and their signatures.
 *
 * Owns DATA/drains.key and what it protects. A drain's secret signs every
 * batch (HMAC-SHA256), so the collector needs the secret itself, not a
 * hash of it, as the registry keeps for tokens. It is therefore stored
 * sealed: AES-256-GCM under a 32-byte key in DATA/drains.key (mode 0600),
 * a file apart from the store, so that a leaked copy of logtap.db (a
 * backup, a support bundle) does not reveal any drain's secret. Whoever
 * holds both files holds the secrets; that is the limit of what a process
 * that must sign can promise.
 *
 * The drain's ID is the cipher's associated data: a sealed blob copied
 * into another drain's row does not open.
 */
#include "drain_secret.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#define KEY_BYTES 32
#define NONCE_BYTES 12
#define TAG_BYTES 16

static unsigned char key[KEY_BYTES];
static bool key_loaded;

static int read_full(int fd, unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

int lt_drain_key_load(const char *data_dir, char *err, size_t errlen)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", data_dir, LT_DRAIN_KEY_FILE);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        unsigned char fresh[KEY_BYTES];
        if (getrandom(fresh, sizeof fresh, 0) != (ssize_t)sizeof fresh) {
            snprintf(err, errlen, "cannot make a drain key: %s", strerror(errno));
            return -1;
        }
        char tmp[PATH_MAX + 8];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (out < 0 || write(out, fresh, sizeof fresh) != (ssize_t)sizeof fresh || fsync(out) != 0 ||
            close(out) != 0 || rename(tmp, path) != 0) {
            snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
            return -1;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    int rc = fstat(fd, &st) == 0 && st.st_size == KEY_BYTES ? read_full(fd, key, KEY_BYTES) : -1;
    close(fd);
    if (rc != 0) {
        snprintf(err, errlen, "%s is not a drain key (%d bytes expected)", path, KEY_BYTES);
        return -1;
    }
    key_loaded = true;
    return 0;
}

int lt_drain_secret_new(char out[LT_DRAIN_SECRET_LEN + 1])
{
    unsigned char raw[32];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return -1;
    memcpy(out, "lds_", 4);
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(out + 4 + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

int lt_drain_secret_seal(const char *id, const char *secret, unsigned char *out, size_t out_size,
                         size_t *out_len)
{
    size_t len = strlen(secret);
    if (!key_loaded || out_size < NONCE_BYTES + TAG_BYTES + len)
        return -1;
    unsigned char *nonce = out, *tag = out + NONCE_BYTES, *cipher = out + NONCE_BYTES + TAG_BYTES;
    if (getrandom(nonce, NONCE_BYTES, 0) != NONCE_BYTES)
        return -1;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, rc = -1;
    if (ctx != NULL && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
        EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)id, (int)strlen(id)) == 1 &&
        EVP_EncryptUpdate(ctx, cipher, &n, (const unsigned char *)secret, (int)len) == 1 &&
        EVP_EncryptFinal_ex(ctx, cipher + n, &n) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, tag) == 1) {
        *out_len = NONCE_BYTES + TAG_BYTES + len;
        rc = 0;
    }
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int lt_drain_secret_open(const char *id, const unsigned char *sealed, size_t sealed_len,
                         char out[LT_DRAIN_SECRET_LEN + 1])
{
    if (!key_loaded || sealed_len < NONCE_BYTES + TAG_BYTES ||
        sealed_len - NONCE_BYTES - TAG_BYTES > LT_DRAIN_SECRET_LEN)
        return -1;
    size_t len = sealed_len - NONCE_BYTES - TAG_BYTES;
    unsigned char tag[TAG_BYTES];
    memcpy(tag, sealed + NONCE_BYTES, TAG_BYTES);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, rc = -1;
    if (ctx != NULL && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, sealed) == 1 &&
        EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)id, (int)strlen(id)) == 1 &&
        EVP_DecryptUpdate(ctx, (unsigned char *)out, &n, sealed + NONCE_BYTES + TAG_BYTES, (int)len) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, tag) == 1 &&
        EVP_DecryptFinal_ex(ctx, (unsigned char *)out + n, &n) == 1) {
        out[len] = '\0';
        rc = 0;
    }
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

void lt_drain_sign(const char *secret, const char *timestamp, const char *body, size_t body_len, char out[65])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    out[0] = '\0';
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = hmac != NULL ? EVP_MAC_CTX_new(hmac) : NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0), OSSL_PARAM_END};
    if (ctx != NULL && EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) == 1 &&
        EVP_MAC_update(ctx, (const unsigned char *)timestamp, strlen(timestamp)) == 1 &&
        EVP_MAC_update(ctx, (const unsigned char *)".", 1) == 1 &&
        EVP_MAC_update(ctx, (const unsigned char *)body, body_len) == 1 &&
        EVP_MAC_final(ctx, mac, &mac_len, sizeof mac) == 1 && mac_len == 32) {
        for (size_t i = 0; i < mac_len; i++)
            snprintf(out + 2 * i, 3, "%02x", mac[i]);
    }
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(hmac);
}
