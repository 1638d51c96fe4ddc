/* drain_send.h -- delivering one finished batch to a destination: HTTP(S)
 * POST through libcurl, syslog over TCP or TLS; and the address rules
 * every destination is held to. */
#ifndef LT_DRAIN_SEND_H
#define LT_DRAIN_SEND_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "drain_format.h"

/* What an address may be for a drain. `plain`: the destination is not
 * encrypted (http://, tcp://), allowed only to loopback and private
 * addresses. A loopback address at one of the collector's own ports
 * (`own_ports`, 0-terminated) is refused unless `allow_loopback`. Returns
 * NULL if allowed, else why not. */
const char *lt_drain_address_refused(const struct sockaddr *sa, bool plain, bool allow_loopback,
                                     const int *own_ports);

/* A URL's parts as drains take them. */
typedef struct lt_drain_url {
    bool tls;       /* https:// or tls:// */
    char host[260]; /* without brackets */
    int port;
} lt_drain_url;
/* Check `url` for `kind` (https/http for ndjson and otlp, tls/tcp for
 * syslog). 0, or -1 with why in `why`. */
int lt_drain_url_parse(lt_drain_kind kind, const char *url, lt_drain_url *out, char *why, size_t why_len);
/* Resolve and check every address of `url` now (what the API does when a
 * drain is added). 0, or -1 with why. */
int lt_drain_url_check(lt_drain_kind kind, const char *url, bool allow_loopback, const int *own_ports,
                       char *why, size_t why_len);

typedef struct lt_drain_sender lt_drain_sender;

typedef struct lt_drain_sender_config {
    lt_drain_kind kind;
    const char *url;
    const char *drain_id;
    const char *secret; /* signs HTTP batches */
    const char *ca_file;
    int64_t timeout_ns;
    bool allow_loopback;
    const int *own_ports;
    atomic_bool *stop; /* a transfer in progress gives up when it turns true */
} lt_drain_sender_config;

lt_drain_sender *lt_drain_sender_new(const lt_drain_sender_config *cfg);
void lt_drain_sender_free(lt_drain_sender *s);
/* Deliver the batch; 0 when the destination took it (HTTP 2xx; syslog:
 * every byte written to the connection), -1 otherwise with why. */
int lt_drain_send(lt_drain_sender *s, const lt_drain_batch *b, char *why, size_t why_len);

#endif
