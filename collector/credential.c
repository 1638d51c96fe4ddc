/* credential.c -- minting and checking runner credentials, and the ingest
 * key they are signed with (credential.h says the format).
 *
 * Why a signed token and not a registry row: the check runs on the ingest
 * thread for frames (cached per credential string, ingest.c), must not touch
 * the registry's database, and must hold on every collector of a fleet
 * without any of them having seen the mint: a shared key does all three.
 * The signature covers the encoded payload exactly as sent, so nothing is
 * decoded before it is known to be ours; comparison is constant-time.
 *
 * The key never appears on a command line (argv is public on the machine):
 * it lives in a file readable by its owner only.
 */
#include "credential.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PREFIX "lt1."
#define PREFIX_LEN 4
#define MAC_LEN 32

int lt_ingest_auth_parse(const char *text, lt_ingest_auth *mode)
{
    for (lt_ingest_auth m = LT_INGEST_AUTH_OFF; m <= LT_INGEST_AUTH_REQUIRED; m++)
        if (strcmp(text, lt_ingest_auth_name(m)) == 0) {
            *mode = m;
            return 0;
        }
    return -1;
}

const char *lt_ingest_auth_name(lt_ingest_auth mode)
{
    switch (mode) {
    case LT_INGEST_AUTH_OFF: return "off";
    case LT_INGEST_AUTH_LOCAL: return "local";
    case LT_INGEST_AUTH_REQUIRED: return "required";
    }
    return "?";
}

/* ---- the key ---- */

static int read_key(const char *path, lt_credential_key *key, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open the ingest key %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "the ingest key %s is not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_mode & 077) {
        snprintf(err, errlen, "the ingest key %s is readable by others (mode %03o): chmod 600 it", path,
                 (unsigned)(st.st_mode & 0777));
        close(fd);
        return -1;
    }
    /* Whoever owns the file can rewrite it, and with it mint any credential. */
    if (st.st_uid != geteuid()) {
        snprintf(err, errlen, "the ingest key %s belongs to uid %u, not to the collector's user (uid %u)",
                 path, (unsigned)st.st_uid, (unsigned)geteuid());
        close(fd);
        return -1;
    }
    ssize_t n = read(fd, key->bytes, sizeof key->bytes);
    unsigned char more;
    bool too_long = n == (ssize_t)sizeof key->bytes && read(fd, &more, 1) == 1;
    close(fd);
    if (n < LT_INGEST_KEY_MIN || too_long) {
        snprintf(err, errlen, "the ingest key %s must hold %d to %d bytes", path, LT_INGEST_KEY_MIN,
                 LT_INGEST_KEY_MAX);
        return -1;
    }
    key->len = (size_t)n;
    return 0;
}

int lt_credential_key_load(const char *data_dir, const char *key_file, lt_credential_key *key, char *err,
                           size_t errlen)
{
    if (key_file != NULL)
        return read_key(key_file, key, err, errlen);
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", data_dir, LT_INGEST_KEY_FILE) >= (int)sizeof path) {
        snprintf(err, errlen, "data directory path too long");
        return -1;
    }
    /* O_EXCL: made once, by the first start; later starts read it. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno == EEXIST)
        return read_key(path, key, err, errlen);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create the ingest key %s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char fresh[32];
    bool ok = RAND_bytes(fresh, sizeof fresh) == 1 &&
              write(fd, fresh, sizeof fresh) == (ssize_t)sizeof fresh && fsync(fd) == 0;
    close(fd);
    if (!ok) {
        unlink(path);
        snprintf(err, errlen, "cannot write the ingest key %s", path);
        return -1;
    }
    memcpy(key->bytes, fresh, sizeof fresh);
    key->len = sizeof fresh;
    OPENSSL_cleanse(fresh, sizeof fresh);
    return 0;
}

/* ---- base64url without padding (RFC 4648 section 5), over OpenSSL's base64 ---- */

static size_t b64url_encode(const unsigned char *in, size_t len, char *out)
{
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    for (int i = 0; i < n; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    out[n] = '\0';
    return (size_t)n;
}

/* Returns the decoded length, or -1. `out` holds len * 3 / 4 + 3 bytes. */
static int b64url_decode(const char *in, size_t len, unsigned char *out)
{
    char std[LT_CREDENTIAL_MAX + 4];
    if (len % 4 == 1 || len + 3 > sizeof std)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '+' || c == '/' || c == '=')
            return -1;
        std[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    size_t padded = len, pad = 0;
    while (padded % 4) {
        std[padded++] = '=';
        pad++;
    }
    int n = EVP_DecodeBlock(out, (const unsigned char *)std, (int)padded);
    return n < 0 ? -1 : n - (int)pad;
}

static void sign(const lt_credential_key *key, const char *text, size_t len, unsigned char mac[MAC_LEN])
{
    unsigned int mac_len = MAC_LEN;
    unsigned char *done =
        HMAC(EVP_sha256(), key->bytes, (int)key->len, (const unsigned char *)text, len, mac, &mac_len);
    if (done == NULL || mac_len != MAC_LEN)
        memset(mac, 0, MAC_LEN); /* never matches a real signature's check below */
}

/* ---- mint and verify ---- */

static bool id_or_empty(const char *s)
{
    return s[0] == '\0' || lt_wire_id_ok(s, strlen(s));
}

int lt_credential_mint(const lt_credential_key *key, const lt_credential_claims *claims, char *out)
{
    if (!lt_wire_id_ok(claims->runner, strlen(claims->runner)) || !id_or_empty(claims->app) ||
        !id_or_empty(claims->version) || !id_or_empty(claims->source))
        return -1;
    json_t *doc =
        json_pack("{s:s, s:s, s:s, s:s, s:I}", "runner", claims->runner, "app", claims->app, "version",
                  claims->version, "source", claims->source, "exp", (json_int_t)claims->expires_s);
    char *payload = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    if (payload == NULL)
        return -1;
    size_t plen = strlen(payload);
    int rc = -1;
    if ((plen + 2) / 3 * 4 + PREFIX_LEN + 1 + 44 <= LT_CREDENTIAL_MAX) {
        memcpy(out, PREFIX, PREFIX_LEN);
        size_t n = PREFIX_LEN + b64url_encode((const unsigned char *)payload, plen, out + PREFIX_LEN);
        unsigned char mac[MAC_LEN];
        sign(key, out, n, mac);
        out[n++] = '.';
        n += b64url_encode(mac, MAC_LEN, out + n);
        rc = (int)n;
    }
    free(payload);
    return rc;
}

static bool copy_claim(json_t *doc, const char *name, bool required, char *dst)
{
    json_t *v = json_object_get(doc, name);
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 ? required : !lt_wire_id_ok(s, n))
        return false;
    memcpy(dst, s, n + 1);
    return true;
}

lt_credential_verdict lt_credential_verify(const lt_credential_key *key, const char *text, size_t len,
                                           int64_t now_s, lt_credential_claims *claims)
{
    if (len <= PREFIX_LEN || len > LT_CREDENTIAL_MAX || memcmp(text, PREFIX, PREFIX_LEN) != 0)
        return LT_CREDENTIAL_BAD;
    const char *dot = memchr(text + PREFIX_LEN, '.', len - PREFIX_LEN);
    if (dot == NULL)
        return LT_CREDENTIAL_BAD;
    size_t signed_len = (size_t)(dot - text);
    unsigned char mac[MAC_LEN], given[LT_CREDENTIAL_MAX];
    char canonical[64];
    /* Only the canonical encoding: one credential has one spelling, so the
     * per-string cache (ingest.c) cannot be filled with variants of it. */
    if (b64url_decode(dot + 1, len - signed_len - 1, given) != MAC_LEN ||
        b64url_encode(given, MAC_LEN, canonical) != len - signed_len - 1 ||
        memcmp(canonical, dot + 1, len - signed_len - 1) != 0)
        return LT_CREDENTIAL_BAD;
    sign(key, text, signed_len, mac);
    if (CRYPTO_memcmp(mac, given, MAC_LEN) != 0)
        return LT_CREDENTIAL_BAD;
    /* Ours: the payload is what we wrote, but checked all the same. */
    unsigned char payload[LT_CREDENTIAL_MAX];
    int plen = b64url_decode(text + PREFIX_LEN, signed_len - PREFIX_LEN, payload);
    if (plen <= 0)
        return LT_CREDENTIAL_BAD;
    json_error_t error;
    json_t *doc = json_loadb((const char *)payload, (size_t)plen, JSON_REJECT_DUPLICATES, &error);
    lt_credential_claims c;
    json_t *exp = json_object_get(doc, "exp");
    bool ok = json_is_object(doc) && copy_claim(doc, "runner", true, c.runner) &&
              copy_claim(doc, "app", false, c.app) && copy_claim(doc, "version", false, c.version) &&
              copy_claim(doc, "source", false, c.source) && json_is_integer(exp);
    if (ok)
        c.expires_s = (int64_t)json_integer_value(exp);
    json_decref(doc);
    if (!ok)
        return LT_CREDENTIAL_BAD;
    *claims = c;
    return c.expires_s <= now_s ? LT_CREDENTIAL_EXPIRED : LT_CREDENTIAL_VALID;
}
