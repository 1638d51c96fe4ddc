/* http_guard.c -- what keeps hostile HTTP clients from locking others out:
 * the connection limits, the read deadline, the slots kept for clients
 * that have shown a valid token, and the cap on follow streams per token
 * and per user (doc/http-api.md, "Limits").
 *
 * Owns: the table of open connections (one http_conn each, MHD's socket
 * context), the watcher thread that enforces the read deadline, and the
 * stream counts.
 *
 * Why it looks the way it does:
 * - MHD enforces the hard limits itself (MHD_OPTION_CONNECTION_LIMIT,
 *   MHD_OPTION_PER_IP_CONNECTION_LIMIT). They alone would let idle sockets
 *   fill every slot, so connections that have not yet presented a valid
 *   token ("unproven") get fewer slots than that: 7/8 of the global limit
 *   and of the per-address limit. When a new connection would pass either
 *   share, the accept-policy callback makes room by closing the oldest
 *   unproven connection (of that address first) instead of refusing the
 *   newcomer. A client that sends its request at once is therefore always
 *   served; a socket that sends nothing only holds its slot until younger
 *   ones push it out, and the last eighth of the slots is only ever taken by
 *   proven connections.
 * - MHD's connection timeout is an idle timeout: every byte received resets
 *   it, so a client trickling a byte every 20 s keeps a connection for
 *   ever. The read deadline is a total instead: from the connection's start
 *   (or the end of its previous request) to the end of the request's body
 *   at most `read_timeout_ms` may pass, whatever arrives meanwhile. MHD has
 *   no way to end a connection from another thread, so the watcher thread
 *   (every READ_CHECK_MS) shuts the socket down (shutdown(2), SHUT_RDWR):
 *   the connection's own thread then sees the end of the stream and closes
 *   it the ordinary way. Connections are removed from the table (under the
 *   lock) by MHD's CLOSED notification, which comes before MHD closes the
 *   socket, so a shutdown never reaches a descriptor reused by another
 *   connection. An idle keep-alive connection is "reading" too: it is
 *   closed after the same deadline, as servers close idle keep-alives.
 * - Responses are not under the deadline (a follow stream lasts as long as
 *   its client likes); MHD's idle timeout still ends one whose client stops
 *   reading.
 * - Follow streams are counted per token and per user; above either cap a
 *   new one is refused with 429. The counts live here so that every stream
 *   of every connection meets one lock.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "http_internal.h"
#include "metrics.h"

#define READ_CHECK_MS 100 /* how often the watcher looks at deadlines */

/* One open connection (MHD's socket context). */
struct http_conn {
    struct http_conn *prev, *next; /* the guard's list, oldest first */
    int fd;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    bool reading;     /* waiting for (the rest of) a request */
    int64_t since_ns; /* monotonic: when the current read began */
    bool proven;      /* a request on it presented a valid token */
    bool closing;     /* shut down by the guard; on its way out */
};

/* Open follow streams of one token or one user. */
struct stream_count {
    struct stream_count *next;
    char *key; /* "t:" + token or "u:" + user */
    int count;
};

struct http_guard {
    lt_http_limits limits;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct http_conn *head, *tail;
    struct stream_count *streams;
    bool stopping;
    bool watching; /* the watcher thread was started */
    pthread_t watcher;
};

/* ---- the connection table ---- */

static bool same_address(const struct sockaddr_storage *a, socklen_t a_len, const struct sockaddr *b,
                         socklen_t b_len)
{
    if (a->ss_family != b->sa_family)
        return false;
    if (b->sa_family == AF_INET && a_len >= sizeof(struct sockaddr_in) && b_len >= sizeof(struct sockaddr_in))
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (b->sa_family == AF_INET6 && a_len >= sizeof(struct sockaddr_in6) &&
        b_len >= sizeof(struct sockaddr_in6))
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return false;
}

/* Close `conn` from outside its thread (see the comment at the top). */
static void shut(struct http_conn *conn)
{
    conn->closing = true;
    if (conn->fd >= 0)
        shutdown(conn->fd, SHUT_RDWR);
}

/* The slots unproven connections may hold out of `limit`. */
static int unproven_share(int limit)
{
    int reserved = limit / 8 > 0 ? limit / 8 : 1;
    return limit - reserved > 0 ? limit - reserved : 1;
}

enum MHD_Result http_guard_accept(void *cls, const struct sockaddr *addr, socklen_t addr_len)
{
    http_guard *g = cls;
    pthread_mutex_lock(&g->lock);
    int unproven = 0, unproven_here = 0;
    struct http_conn *oldest = NULL, *oldest_here = NULL;
    for (struct http_conn *c = g->head; c != NULL; c = c->next) {
        if (c->proven || c->closing)
            continue;
        unproven++;
        if (oldest == NULL)
            oldest = c;
        if (same_address(&c->addr, c->addr_len, addr, addr_len)) {
            unproven_here++;
            if (oldest_here == NULL)
                oldest_here = c;
        }
    }
    struct http_conn *victim = NULL;
    if (oldest_here != NULL && unproven_here >= unproven_share(g->limits.max_per_ip))
        victim = oldest_here;
    else if (oldest != NULL && unproven >= unproven_share(g->limits.max_connections))
        victim = oldest;
    if (victim != NULL) {
        shut(victim);
        LT_COUNT(http_connections_evicted, 1);
    }
    pthread_mutex_unlock(&g->lock);
    return MHD_YES;
}

void http_guard_notify(void *cls, struct MHD_Connection *connection, void **socket_context,
                       enum MHD_ConnectionNotificationCode code)
{
    http_guard *g = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct http_conn *conn = calloc(1, sizeof *conn);
        *socket_context = conn;
        if (conn == NULL)
            return; /* unguarded, but MHD's own limits still hold */
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn->fd = info != NULL ? info->connect_fd : -1;
        info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (info != NULL && info->client_addr != NULL) {
            conn->addr_len = info->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                      : sizeof(struct sockaddr_in);
            memcpy(&conn->addr, info->client_addr, conn->addr_len);
        }
        conn->reading = true;
        conn->since_ns = lt_mono_ns();
        pthread_mutex_lock(&g->lock);
        conn->prev = g->tail;
        if (g->tail != NULL)
            g->tail->next = conn;
        else
            g->head = conn;
        g->tail = conn;
        pthread_mutex_unlock(&g->lock);
        return;
    }
    struct http_conn *conn = *socket_context;
    if (conn == NULL)
        return;
    pthread_mutex_lock(&g->lock);
    if (conn->prev != NULL)
        conn->prev->next = conn->next;
    else
        g->head = conn->next;
    if (conn->next != NULL)
        conn->next->prev = conn->prev;
    else
        g->tail = conn->prev;
    pthread_mutex_unlock(&g->lock);
    free(conn);
    *socket_context = NULL;
}

static struct http_conn *conn_of(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info != NULL ? info->socket_context : NULL;
}

void http_guard_reading(http_guard *g, struct MHD_Connection *connection, bool reading)
{
    struct http_conn *conn = conn_of(connection);
    if (g == NULL || conn == NULL)
        return;
    pthread_mutex_lock(&g->lock);
    conn->reading = reading;
    conn->since_ns = lt_mono_ns();
    pthread_mutex_unlock(&g->lock);
}

void http_guard_proven(http_guard *g, struct MHD_Connection *connection)
{
    struct http_conn *conn = conn_of(connection);
    if (g == NULL || conn == NULL)
        return;
    pthread_mutex_lock(&g->lock);
    conn->proven = true;
    pthread_mutex_unlock(&g->lock);
}

/* ---- the read deadline ---- */

static void *watch(void *arg)
{
    http_guard *g = arg;
    int64_t deadline_ns = (int64_t)g->limits.read_timeout_ms * 1000000;
    pthread_mutex_lock(&g->lock);
    while (!g->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += READ_CHECK_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g->wake, &g->lock, &until);
        int64_t now = lt_mono_ns();
        for (struct http_conn *c = g->head; c != NULL; c = c->next) {
            if (deadline_ns > 0 && c->reading && !c->closing && now - c->since_ns > deadline_ns) {
                shut(c);
                LT_COUNT(http_read_deadline_closed, 1);
            }
        }
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

/* ---- follow streams ---- */

static struct stream_count *stream_count_get(http_guard *g, const char *kind, const char *name, bool create)
{
    for (struct stream_count *s = g->streams; s != NULL; s = s->next)
        if (s->key[0] == kind[0] && strcmp(s->key + 2, name) == 0)
            return s;
    if (!create)
        return NULL;
    struct stream_count *s = calloc(1, sizeof *s);
    size_t len = strlen(name);
    if (s == NULL || (s->key = malloc(len + 3)) == NULL) {
        free(s);
        return NULL;
    }
    s->key[0] = kind[0];
    s->key[1] = ':';
    memcpy(s->key + 2, name, len + 1);
    s->next = g->streams;
    g->streams = s;
    return s;
}

static void stream_count_drop(http_guard *g, struct stream_count *s)
{
    if (s == NULL || --s->count > 0)
        return;
    for (struct stream_count **p = &g->streams; *p != NULL; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            break;
        }
    }
    free(s->key);
    free(s);
}

int http_guard_stream_open(http_guard *g, const char *token, const char *user)
{
    pthread_mutex_lock(&g->lock);
    struct stream_count *by_token = stream_count_get(g, "t", token, true);
    struct stream_count *by_user = stream_count_get(g, "u", user, true);
    int rc = STREAM_OPENED;
    if (by_token == NULL || by_user == NULL)
        rc = STREAM_NO_MEMORY;
    else if (by_token->count >= g->limits.streams_per_token)
        rc = STREAM_TOKEN_FULL;
    else if (by_user->count >= g->limits.streams_per_user)
        rc = STREAM_USER_FULL;
    if (by_token != NULL)
        by_token->count++;
    if (by_user != NULL)
        by_user->count++;
    if (rc != STREAM_OPENED) { /* undo (and free a count just made) */
        stream_count_drop(g, by_token);
        stream_count_drop(g, by_user);
    }
    pthread_mutex_unlock(&g->lock);
    return rc;
}

void http_guard_stream_close(http_guard *g, const char *token, const char *user)
{
    pthread_mutex_lock(&g->lock);
    stream_count_drop(g, stream_count_get(g, "t", token, false));
    stream_count_drop(g, stream_count_get(g, "u", user, false));
    pthread_mutex_unlock(&g->lock);
}

/* ---- set-up ---- */

http_guard *http_guard_new(const lt_http_limits *limits)
{
    http_guard *g = calloc(1, sizeof *g);
    if (g == NULL)
        return NULL;
    g->limits = *limits;
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&g->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&g->watcher, NULL, watch, g) != 0) {
        http_guard_free(g);
        return NULL;
    }
    g->watching = true;
    return g;
}

void http_guard_free(http_guard *g)
{
    if (g == NULL)
        return;
    pthread_mutex_lock(&g->lock);
    g->stopping = true;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->lock);
    if (g->watching)
        pthread_join(g->watcher, NULL);
    while (g->streams != NULL) {
        struct stream_count *s = g->streams;
        g->streams = s->next;
        free(s->key);
        free(s);
    }
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
}
