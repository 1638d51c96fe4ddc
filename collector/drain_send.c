/* drain_send.c -- a drain's connection to its destination.
 *
 * Owns the transports and the address rules:
 * - HTTP(S) through libcurl, one handle per drain (its connection is kept
 *   alive between batches). Certificates and host names are verified
 *   (curl's defaults, never turned off; --drain-ca-file adds a CA bundle
 *   for private CAs). Redirects are not followed: a destination answers
 *   for itself. Each POST carries X-Logtap-Timestamp (Unix seconds),
 *   X-Logtap-Signature: sha256=hex(HMAC-SHA256(secret, timestamp "."
 *   body)) and Idempotency-Key (drain ID, first and last line ID: the same
 *   batch is sent with the same key, after a failure or a restart). The
 *   response body is discarded as it arrives (a hostile receiver cannot
 *   make the collector hold it).
 * - Syslog over TCP (tcp://) or TLS (tls://, OpenSSL, verified against the
 *   system's CAs or --drain-ca-file and the host name). A connection is
 *   kept between batches and made again after any failure; every wait
 *   (connect, write, TLS handshake) is a poll of at most 200 ms that looks
 *   at the stop flag, bounded by the drain timeout in all.
 * - The address rules (lt_drain_address_refused), applied to every address
 *   a connection is actually made to (curl's open-socket callback, the
 *   syslog connect), not only when the drain was added: a name that
 *   resolves elsewhere later is held to them too.
 */
#include "drain_send.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "clock.h"
#include "drain_secret.h"

#define POLL_SLICE_MS 200

/* ---- addresses ---- */

static bool ipv4_loopback(uint32_t a)
{
    return (a >> 24) == 127;
}

static bool ipv4_private(uint32_t a)
{
    return (a >> 24) == 10 || (a >> 20) == ((172u << 4) | 1) || (a >> 16) == ((192u << 8) | 168) ||
           (a >> 16) == ((169u << 8) | 254) || (a >> 22) == ((100u << 2) | 1); /* 100.64/10 */
}

const char *lt_drain_address_refused(const struct sockaddr *sa, bool plain, bool allow_loopback,
                                     const int *own_ports)
{
    bool loopback = false, private_net = false;
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        uint32_t a = ntohl(in->sin_addr.s_addr);
        loopback = ipv4_loopback(a) || a == 0;
        private_net = ipv4_private(a);
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        const unsigned char *b = in6->sin6_addr.s6_addr;
        port = ntohs(in6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            uint32_t a = ((uint32_t)b[12] << 24) | ((uint32_t)b[13] << 16) | ((uint32_t)b[14] << 8) | b[15];
            loopback = ipv4_loopback(a) || a == 0;
            private_net = ipv4_private(a);
        } else {
            loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) || IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
            private_net = (b[0] & 0xfe) == 0xfc || IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr);
        }
    } else {
        return "not an IP address";
    }
    if (loopback && !allow_loopback)
        for (const int *p = own_ports; p != NULL && *p != 0; p++)
            if (*p == port)
                return "it is the collector's own port on loopback (allow_loopback to permit)";
    if (plain && !loopback && !private_net)
        return "plain http:// and tcp:// go only to loopback and private addresses (use https:// or "
               "tls://)";
    return NULL;
}

int lt_drain_url_parse(lt_drain_kind kind, const char *url, lt_drain_url *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    const char *rest;
    if (kind == LT_DRAIN_SYSLOG) {
        if (strncmp(url, "tls://", 6) == 0)
            out->tls = true, rest = url + 6;
        else if (strncmp(url, "tcp://", 6) == 0)
            rest = url + 6;
        else {
            snprintf(why, why_len, "a syslog drain's url is tcp://HOST:PORT or tls://HOST:PORT");
            return -1;
        }
    } else {
        if (strncmp(url, "https://", 8) == 0)
            out->tls = true, rest = url + 8;
        else if (strncmp(url, "http://", 7) == 0)
            rest = url + 7;
        else {
            snprintf(why, why_len, "an %s drain's url is https://... or http://...",
                     kind == LT_DRAIN_OTLP ? "otlp" : "ndjson");
            return -1;
        }
    }
    for (const char *c = url; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f) {
            snprintf(why, why_len, "the url holds a space or control character");
            return -1;
        }
    size_t host_end = strcspn(rest, "/?#");
    char authority[256];
    if (host_end == 0 || host_end >= sizeof authority || memchr(rest, '@', host_end) != NULL) {
        snprintf(why, why_len, "the url needs a host (and no user name)");
        return -1;
    }
    memcpy(authority, rest, host_end);
    authority[host_end] = '\0';
    if (kind == LT_DRAIN_SYSLOG && rest[host_end] != '\0') {
        snprintf(why, why_len, "a syslog url is tcp://HOST:PORT or tls://HOST:PORT, nothing after");
        return -1;
    }
    char *port_text = NULL;
    if (authority[0] == '[') {
        char *close = strchr(authority, ']');
        if (close == NULL) {
            snprintf(why, why_len, "bad IPv6 address in the url");
            return -1;
        }
        *close = '\0';
        snprintf(out->host, sizeof out->host, "%s", authority + 1);
        if (close[1] == ':')
            port_text = close + 2;
        else if (close[1] != '\0') {
            snprintf(why, why_len, "bad host in the url");
            return -1;
        }
    } else {
        char *colon = strchr(authority, ':');
        if (colon != NULL) {
            *colon = '\0';
            port_text = colon + 1;
        }
        snprintf(out->host, sizeof out->host, "%s", authority);
    }
    if (out->host[0] == '\0') {
        snprintf(why, why_len, "the url needs a host");
        return -1;
    }
    if (port_text != NULL) {
        char *end;
        long port = strtol(port_text, &end, 10);
        if (*port_text == '\0' || *end != '\0' || port < 1 || port > 65535) {
            snprintf(why, why_len, "bad port in the url");
            return -1;
        }
        out->port = (int)port;
    } else if (kind == LT_DRAIN_SYSLOG) {
        snprintf(why, why_len, "a syslog url needs a port");
        return -1;
    } else {
        out->port = out->tls ? 443 : 80;
    }
    return 0;
}

int lt_drain_url_check(lt_drain_kind kind, const char *url, bool allow_loopback, const int *own_ports,
                       char *why, size_t why_len)
{
    lt_drain_url u;
    if (lt_drain_url_parse(kind, url, &u, why, why_len) != 0)
        return -1;
    char port[8];
    snprintf(port, sizeof port, "%d", u.port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *list = NULL;
    int rc = getaddrinfo(u.host, port, &hints, &list);
    if (rc != 0) {
        snprintf(why, why_len, "cannot resolve %s: %s", u.host, gai_strerror(rc));
        return -1;
    }
    int result = 0;
    for (struct addrinfo *a = list; a != NULL && result == 0; a = a->ai_next) {
        const char *refused = lt_drain_address_refused(a->ai_addr, !u.tls, allow_loopback, own_ports);
        if (refused != NULL) {
            snprintf(why, why_len, "%s resolves to an address refused: %s", u.host, refused);
            result = -1;
        }
    }
    freeaddrinfo(list);
    return result;
}

/* ---- the sender ---- */

struct lt_drain_sender {
    lt_drain_sender_config cfg;
    lt_drain_url url;
    CURL *curl;
    /* syslog */
    int fd;
    SSL_CTX *tls_ctx;
    SSL *tls;
    char refused[256]; /* why the open-socket callback refused, for the error */
};

lt_drain_sender *lt_drain_sender_new(const lt_drain_sender_config *cfg)
{
    lt_drain_sender *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->cfg = *cfg;
    s->fd = -1;
    char why[256];
    if (lt_drain_url_parse(cfg->kind, cfg->url, &s->url, why, sizeof why) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

static void syslog_close(lt_drain_sender *s)
{
    if (s->tls != NULL) {
        SSL_free(s->tls);
        s->tls = NULL;
    }
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
}

void lt_drain_sender_free(lt_drain_sender *s)
{
    if (s == NULL)
        return;
    if (s->curl != NULL)
        curl_easy_cleanup(s->curl);
    syslog_close(s);
    SSL_CTX_free(s->tls_ctx);
    free(s);
}

/* ---- HTTP ---- */

static size_t discard_body(char *data, size_t size, size_t n, void *ctx)
{
    (void)data;
    (void)ctx;
    return size * n;
}

static int stop_check(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    lt_drain_sender *s = ctx;
    return atomic_load(s->cfg.stop) ? 1 : 0;
}

static curl_socket_t open_checked_socket(void *ctx, curlsocktype purpose, struct curl_sockaddr *address)
{
    lt_drain_sender *s = ctx;
    (void)purpose;
    const char *refused =
        lt_drain_address_refused(&address->addr, !s->url.tls, s->cfg.allow_loopback, s->cfg.own_ports);
    if (refused != NULL) {
        snprintf(s->refused, sizeof s->refused, "%s", refused);
        return CURL_SOCKET_BAD;
    }
    return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

static int http_send(lt_drain_sender *s, const lt_drain_batch *b, char *why, size_t why_len)
{
    if (s->curl == NULL && (s->curl = curl_easy_init()) == NULL) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    CURL *curl = s->curl;
    curl_easy_reset(curl);
    char timestamp[24], signature[65], header[256];
    snprintf(timestamp, sizeof timestamp, "%lld", (long long)time(NULL));
    lt_drain_sign(s->cfg.secret, timestamp, b->body.data != NULL ? b->body.data : "", b->body.len, signature);
    struct curl_slist *headers = NULL;
    headers = curl_slist_append(headers, b->kind == LT_DRAIN_OTLP ? "Content-Type: application/json"
                                                                  : "Content-Type: application/x-ndjson");
    snprintf(header, sizeof header, "X-Logtap-Timestamp: %s", timestamp);
    headers = curl_slist_append(headers, header);
    snprintf(header, sizeof header, "X-Logtap-Signature: sha256=%s", signature);
    headers = curl_slist_append(headers, header);
    snprintf(header, sizeof header, "Idempotency-Key: %s:%lld-%lld", s->cfg.drain_id, (long long)b->first_id,
             (long long)b->last_id);
    headers = curl_slist_append(headers, header);
    snprintf(header, sizeof header, "X-Logtap-Drain: %s", s->cfg.drain_id);
    headers = curl_slist_append(headers, header);
    headers = curl_slist_append(headers, "Expect:");
    if (headers == NULL) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    long timeout_ms = (long)(s->cfg.timeout_ns / 1000000);
    curl_easy_setopt(curl, CURLOPT_URL, s->cfg.url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, b->body.data != NULL ? b->body.data : "");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->body.len);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 10000 ? timeout_ms : 10000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, stop_check);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, s);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_checked_socket);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, s);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "logtap-drain");
    /* No proxy from the environment (http_proxy, ALL_PROXY...): the
     * address rules check where the socket goes, which would be the proxy,
     * not the destination. */
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    if (s->cfg.ca_file != NULL)
        curl_easy_setopt(curl, CURLOPT_CAINFO, s->cfg.ca_file);
    s->refused[0] = '\0';
    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
        snprintf(why, why_len, "%s%s%s", curl_easy_strerror(rc), s->refused[0] ? ": " : "", s->refused);
        return -1;
    }
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        snprintf(why, why_len, "the destination answered HTTP %ld", status);
        return -1;
    }
    return 0;
}

/* ---- syslog ---- */

static int wait_fd(lt_drain_sender *s, short events, int64_t deadline)
{
    while (!atomic_load(s->cfg.stop)) {
        int64_t left_ms = (deadline - lt_mono_ns()) / 1000000;
        if (left_ms <= 0)
            return -1;
        struct pollfd p = {.fd = s->fd, .events = events};
        int rc = poll(&p, 1, left_ms < POLL_SLICE_MS ? (int)left_ms : POLL_SLICE_MS);
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
    return -1;
}

static int syslog_connect(lt_drain_sender *s, int64_t deadline, char *why, size_t why_len)
{
    char port[8];
    snprintf(port, sizeof port, "%d", s->url.port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *list = NULL;
    int rc = getaddrinfo(s->url.host, port, &hints, &list);
    if (rc != 0) {
        snprintf(why, why_len, "cannot resolve %s: %s", s->url.host, gai_strerror(rc));
        return -1;
    }
    snprintf(why, why_len, "no address of %s", s->url.host);
    for (struct addrinfo *a = list; a != NULL && s->fd < 0; a = a->ai_next) {
        const char *refused =
            lt_drain_address_refused(a->ai_addr, !s->url.tls, s->cfg.allow_loopback, s->cfg.own_ports);
        if (refused != NULL) {
            snprintf(why, why_len, "%s", refused);
            continue;
        }
        s->fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (s->fd < 0)
            continue;
        if (connect(s->fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
            snprintf(why, why_len, "connect: %s", strerror(errno));
            syslog_close(s);
            continue;
        }
        int error = 0;
        socklen_t len = sizeof error;
        if (wait_fd(s, POLLOUT, deadline) != 0 ||
            getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) {
            snprintf(why, why_len, "connect: %s", error ? strerror(error) : "timed out");
            syslog_close(s);
        }
    }
    freeaddrinfo(list);
    if (s->fd < 0)
        return -1;
    if (!s->url.tls)
        return 0;
    if (s->tls_ctx == NULL) {
        s->tls_ctx = SSL_CTX_new(TLS_client_method());
        if (s->tls_ctx == NULL) {
            snprintf(why, why_len, "out of memory");
            syslog_close(s);
            return -1;
        }
        SSL_CTX_set_min_proto_version(s->tls_ctx, TLS1_2_VERSION);
        SSL_CTX_set_verify(s->tls_ctx, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_default_verify_paths(s->tls_ctx);
        if (s->cfg.ca_file != NULL)
            SSL_CTX_load_verify_locations(s->tls_ctx, s->cfg.ca_file, NULL);
    }
    s->tls = SSL_new(s->tls_ctx);
    /* An IP address is checked against the certificate's IP names (and
     * sent no SNI, which names hosts only); a host name against its DNS
     * names. */
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, s->url.host, ip) == 1 || inet_pton(AF_INET6, s->url.host, ip) == 1;
    if (s->tls == NULL || SSL_set_fd(s->tls, s->fd) != 1 ||
        (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->tls), s->url.host) != 1
               : SSL_set1_host(s->tls, s->url.host) != 1 ||
                     SSL_set_tlsext_host_name(s->tls, s->url.host) != 1)) {
        snprintf(why, why_len, "cannot set up TLS");
        syslog_close(s);
        return -1;
    }
    for (;;) {
        int r = SSL_connect(s->tls);
        if (r == 1)
            return 0;
        int e = SSL_get_error(s->tls, r);
        short events = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
        if (events == 0 || wait_fd(s, events, deadline) != 0) {
            long verify = SSL_get_verify_result(s->tls);
            snprintf(why, why_len, "TLS handshake failed%s%s", verify != X509_V_OK ? ": " : "",
                     verify != X509_V_OK ? X509_verify_cert_error_string(verify) : "");
            syslog_close(s);
            return -1;
        }
    }
}

/* The peer closed (or reset) a kept connection: seen before writing, so a
 * batch is not written into a connection that is already gone. */
static bool syslog_peer_gone(lt_drain_sender *s)
{
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0)
        return false;
    char byte;
    ssize_t r = recv(s->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) || (p.revents & (POLLHUP | POLLERR));
}

static int syslog_send(lt_drain_sender *s, const lt_drain_batch *b, char *why, size_t why_len)
{
    int64_t deadline = lt_mono_ns() + s->cfg.timeout_ns;
    if (s->fd >= 0 && s->tls == NULL && syslog_peer_gone(s))
        syslog_close(s);
    if (s->fd < 0 && syslog_connect(s, deadline, why, why_len) != 0)
        return -1;
    size_t done = 0;
    while (done < b->body.len) {
        if (s->tls != NULL) {
            size_t wrote = 0;
            int r = SSL_write_ex(s->tls, b->body.data + done, b->body.len - done, &wrote);
            if (r == 1) {
                done += wrote;
                continue;
            }
            int e = SSL_get_error(s->tls, r);
            short events = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
            if (events != 0 && wait_fd(s, events, deadline) == 0)
                continue;
        } else {
            ssize_t r = send(s->fd, b->body.data + done, b->body.len - done, MSG_NOSIGNAL);
            if (r > 0) {
                done += (size_t)r;
                continue;
            }
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) &&
                wait_fd(s, POLLOUT, deadline) == 0)
                continue;
        }
        snprintf(why, why_len, "the syslog connection failed while sending");
        syslog_close(s);
        return -1;
    }
    return 0;
}

int lt_drain_send(lt_drain_sender *s, const lt_drain_batch *b, char *why, size_t why_len)
{
    if (s->cfg.kind == LT_DRAIN_SYSLOG)
        return syslog_send(s, b, why, why_len);
    return http_send(s, b, why, why_len);
}
