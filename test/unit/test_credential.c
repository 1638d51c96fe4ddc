/* test_credential.c -- runner credentials (collector/credential.c): the key
 * file's rules, a minted credential verifies to its claims, and every
 * change to it -- payload, signature, key, expiry, shape -- is caught. */
#include "unit.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "credential.h"

static void test_key_file(const char *dir)
{
    lt_credential_key a, b;
    char err[256];
    CHECK_INT(lt_credential_key_load(dir, NULL, &a, err, sizeof err), 0);
    CHECK(a.len == 32);
    CHECK_INT(lt_credential_key_load(dir, NULL, &b, err, sizeof err), 0); /* made once, then read */
    CHECK(b.len == 32 && memcmp(a.bytes, b.bytes, 32) == 0);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, LT_INGEST_KEY_FILE);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);

    snprintf(path, sizeof path, "%s/short.key", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && write(fd, "0123456789", 10) == 10);
    close(fd);
    CHECK_INT(lt_credential_key_load(dir, path, &b, err, sizeof err), -1); /* too short */
    CHECK(strstr(err, "32 to 256 bytes") != NULL);
    snprintf(path, sizeof path, "%s/open.key", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && write(fd, "0123456789abcdef0123456789abcdef", 32) == 32);
    close(fd);
    chmod(path, 0644);
    CHECK_INT(lt_credential_key_load(dir, path, &b, err, sizeof err), -1); /* readable by others */
    CHECK(strstr(err, "chmod 600") != NULL);
    chmod(path, 0600);
    CHECK_INT(lt_credential_key_load(dir, path, &b, err, sizeof err), 0);
    CHECK(b.len == 32 && memcmp(b.bytes, "0123456789abcdef", 16) == 0);
}

static void test_mint_and_verify(const char *dir)
{
    lt_credential_key key, other;
    char err[256];
    REQUIRE(lt_credential_key_load(dir, NULL, &key, err, sizeof err) == 0);
    memset(&other, 0, sizeof other);
    memcpy(other.bytes, key.bytes, key.len);
    other.len = key.len;
    other.bytes[0] ^= 1;

    lt_credential_claims c = {
        .runner = "r-1", .app = "demo", .version = "v3", .source = "gateway", .expires_s = 2000000000};
    char text[LT_CREDENTIAL_MAX + 1];
    int len = lt_credential_mint(&key, &c, text);
    REQUIRE(len > 0);
    CHECK(strncmp(text, "lt1.", 4) == 0 && strlen(text) == (size_t)len);
    lt_credential_claims got;
    CHECK_INT(lt_credential_verify(&key, text, (size_t)len, 1900000000, &got), LT_CREDENTIAL_VALID);
    CHECK(strcmp(got.runner, "r-1") == 0 && strcmp(got.app, "demo") == 0 && strcmp(got.version, "v3") == 0 &&
          strcmp(got.source, "gateway") == 0 && got.expires_s == 2000000000);
    CHECK_INT(lt_credential_verify(&key, text, (size_t)len, 2000000000, &got), LT_CREDENTIAL_EXPIRED);
    CHECK_INT(lt_credential_verify(&other, text, (size_t)len, 0, &got), LT_CREDENTIAL_BAD);

    /* Every single-character change, anywhere, is caught. */
    int caught = 0;
    for (int i = 0; i < len; i++) {
        char copy[LT_CREDENTIAL_MAX + 1];
        memcpy(copy, text, (size_t)len + 1);
        copy[i] = copy[i] == 'A' ? 'B' : 'A';
        caught += lt_credential_verify(&key, copy, (size_t)len, 0, &got) == LT_CREDENTIAL_BAD;
    }
    CHECK_INT(caught, len);
    /* Truncated, extended, empty, unsigned. */
    CHECK_INT(lt_credential_verify(&key, text, (size_t)len - 1, 0, &got), LT_CREDENTIAL_BAD);
    CHECK_INT(lt_credential_verify(&key, "", 0, 0, &got), LT_CREDENTIAL_BAD);
    CHECK_INT(lt_credential_verify(&key, "lt1.", 4, 0, &got), LT_CREDENTIAL_BAD);
    const char *dot = strrchr(text, '.');
    CHECK_INT(lt_credential_verify(&key, text, (size_t)(dot - text), 0, &got), LT_CREDENTIAL_BAD);

    /* Claims that are not IDs are not minted; empty app, version, source are. */
    lt_credential_claims bad = {.runner = "a/b", .expires_s = 1};
    CHECK_INT(lt_credential_mint(&key, &bad, text), -1);
    lt_credential_claims bare = {.runner = "r", .expires_s = 2000000000};
    len = lt_credential_mint(&key, &bare, text);
    CHECK(len > 0);
    CHECK_INT(lt_credential_verify(&key, text, (size_t)len, 0, &got), LT_CREDENTIAL_VALID);
    CHECK(got.app[0] == '\0' && got.source[0] == '\0');
    /* The longest identity fits. */
    lt_credential_claims big = {.expires_s = 2000000000};
    memset(big.runner, 'r', LT_WIRE_MAX_ID);
    memset(big.app, 'a', LT_WIRE_MAX_ID);
    memset(big.version, 'v', LT_WIRE_MAX_ID);
    memset(big.source, 's', 15);
    len = lt_credential_mint(&key, &big, text);
    CHECK(len > 0 && len <= LT_CREDENTIAL_MAX);
    CHECK_INT(lt_credential_verify(&key, text, (size_t)len, 0, &got), LT_CREDENTIAL_VALID);
}

int main(void)
{
    char *dir = unit_make_temp_dir();
    test_key_file(dir);
    test_mint_and_verify(dir);
    unit_remove_tree(dir);
    free(dir);
    return unit_done("unit-credential");
}
