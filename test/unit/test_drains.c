/* test_drains.c -- the pieces of log drains that need no destination:
 * the syslog frame (octet counting, structured-data escaping, newlines),
 * sealed secrets (round trip; another drain's ID or a changed byte does
 * not open), the signature against a known HMAC-SHA256, the address rules
 * and URL parsing for each kind. e2e-drains drives the whole path. */
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drain_format.h"
#include "drain_secret.h"
#include "drain_send.h"

static void test_syslog_frame(void)
{
    lt_line line = {.id = 7,
                    .ts_ns = INT64_C(1795618686123456789),
                    .runner_id = "r-1",
                    .request_id = "req \"x\"",
                    .app_id = "shop]",
                    .version_id = "v1",
                    .source = "run",
                    .message = "two\nlines\\",
                    .message_len = 10,
                    .stream = 2,
                    .level = LT_LEVEL_ERROR,
                    .pid = 42};
    lt_drain_batch b;
    lt_drain_batch_begin(&b, LT_DRAIN_SYSLOG, "host1");
    CHECK_INT(lt_drain_batch_add(&b, &line), 0);
    CHECK_INT(lt_drain_batch_finish(&b), 0);
    const char *want =
        "<11>1 2026-11-25T14:58:06.123456Z host1 shop] 42 stderr [logtap@32473 app=\"shop\\]\""
        " runner=\"r-1\" request=\"req \\\"x\\\"\" version=\"v1\" source=\"run\" level=\"ERROR\""
        " id=\"7\"] two lines\\";
    char framed[512];
    snprintf(framed, sizeof framed, "%zu %s", strlen(want), want);
    lt_buf_append_byte(&b.body, '\0');
    CHECK_STR(b.body.data, framed);
    CHECK_INT(b.first_id, 7);
    CHECK_INT(b.last_id, 7);
    lt_drain_batch_release(&b);
}

static void test_secrets(void)
{
    char dir[] = "/tmp/logtap-unit-drains-XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    char err[256];
    REQUIRE(lt_drain_key_load(dir, err, sizeof err) == 0);
    char secret[LT_DRAIN_SECRET_LEN + 1], opened[LT_DRAIN_SECRET_LEN + 1];
    CHECK_INT(lt_drain_secret_new(secret), 0);
    CHECK_INT((int)strlen(secret), LT_DRAIN_SECRET_LEN);
    unsigned char sealed[128];
    size_t sealed_len = 0;
    CHECK_INT(lt_drain_secret_seal("drn_a", secret, sealed, sizeof sealed, &sealed_len), 0);
    CHECK(memmem(sealed, sealed_len, secret, strlen(secret)) == NULL);
    CHECK_INT(lt_drain_secret_open("drn_a", sealed, sealed_len, opened), 0);
    CHECK_STR(opened, secret);
    CHECK_INT(lt_drain_secret_open("drn_b", sealed, sealed_len, opened), -1);
    sealed[sealed_len - 1] ^= 1;
    CHECK_INT(lt_drain_secret_open("drn_a", sealed, sealed_len, opened), -1);
    /* The key file is kept: a second load reads the same key. */
    sealed[sealed_len - 1] ^= 1;
    REQUIRE(lt_drain_key_load(dir, err, sizeof err) == 0);
    CHECK_INT(lt_drain_secret_open("drn_a", sealed, sealed_len, opened), 0);
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, LT_DRAIN_KEY_FILE);
    unlink(path);
    rmdir(dir);
}

static void test_signature(void)
{
    char sig[65];
    /* python3 -c 'import hmac,hashlib; print(hmac.new(b"key", b"1700000000.body", hashlib.sha256).hexdigest())' */
    lt_drain_sign("key", "1700000000", "body", 4, sig);
    CHECK_STR(sig, "47b6ce0fca59474308e2921c247cb2493dce6b8101d90ac05bd0c6a37d0e046e");
}

static struct sockaddr_in v4(const char *ip, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static void test_address_rules(void)
{
    const int own[] = {8765, 0};
    struct sockaddr_in a = v4("127.0.0.1", 8765);
    CHECK(lt_drain_address_refused((struct sockaddr *)&a, false, false, own) != NULL);
    CHECK(lt_drain_address_refused((struct sockaddr *)&a, false, true, own) == NULL);
    a = v4("127.0.0.1", 9000);
    CHECK(lt_drain_address_refused((struct sockaddr *)&a, true, false, own) == NULL);
    a = v4("10.1.2.3", 80);
    CHECK(lt_drain_address_refused((struct sockaddr *)&a, true, false, own) == NULL);
    a = v4("172.20.0.1", 80);
    CHECK(lt_drain_address_refused((struct sockaddr *)&a, true, false, own) == NULL);
    a = v4("172.32.0.1", 80);
    CHECK(lt_drain_address_refused((struct sockaddr *)&a, true, false, own) != NULL);
    a = v4("8.8.8.8", 80);
    CHECK(lt_drain_address_refused((struct sockaddr *)&a, true, false, own) != NULL);
    CHECK(lt_drain_address_refused((struct sockaddr *)&a, false, false, own) == NULL);
    struct sockaddr_in6 b = {.sin6_family = AF_INET6, .sin6_port = htons(8765)};
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &b.sin6_addr);
    CHECK(lt_drain_address_refused((struct sockaddr *)&b, false, false, own) != NULL);
    inet_pton(AF_INET6, "::1", &b.sin6_addr);
    CHECK(lt_drain_address_refused((struct sockaddr *)&b, false, false, own) != NULL);
}

static void test_urls(void)
{
    lt_drain_url u;
    char why[256];
    CHECK_INT(lt_drain_url_parse(LT_DRAIN_NDJSON, "https://logs.example.com/in?x=1", &u, why, sizeof why), 0);
    CHECK_STR(u.host, "logs.example.com");
    CHECK_INT(u.port, 443);
    CHECK(u.tls);
    CHECK_INT(lt_drain_url_parse(LT_DRAIN_OTLP, "http://[fd00::1]:4318/v1/logs", &u, why, sizeof why), 0);
    CHECK_STR(u.host, "fd00::1");
    CHECK_INT(u.port, 4318);
    CHECK_INT(lt_drain_url_parse(LT_DRAIN_SYSLOG, "tls://syslog.example.com:6514", &u, why, sizeof why), 0);
    CHECK_INT(u.port, 6514);
    CHECK_INT(lt_drain_url_parse(LT_DRAIN_SYSLOG, "tcp://h", &u, why, sizeof why), -1);
    CHECK_INT(lt_drain_url_parse(LT_DRAIN_SYSLOG, "tcp://h:514/x", &u, why, sizeof why), -1);
    CHECK_INT(lt_drain_url_parse(LT_DRAIN_NDJSON, "tcp://h:514", &u, why, sizeof why), -1);
    CHECK_INT(lt_drain_url_parse(LT_DRAIN_NDJSON, "https://user@h/", &u, why, sizeof why), -1);
    CHECK_INT(lt_drain_url_parse(LT_DRAIN_NDJSON, "https://h:99999/", &u, why, sizeof why), -1);
    CHECK_INT(lt_drain_url_parse(LT_DRAIN_NDJSON, "https://h/a b", &u, why, sizeof why), -1);
}

int main(void)
{
    test_syslog_frame();
    test_secrets();
    test_signature();
    test_address_rules();
    test_urls();
    return unit_done("unit-drains");
}
