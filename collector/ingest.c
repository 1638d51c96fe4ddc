/* ingest.c -- the collector's ZeroMQ ROUTER socket and the frame decoder.
 *
 * Every frame is untrusted: it may come from any process that can reach the
 * endpoint, truncated, random or hostile. A frame is accepted whole or
 * rejected whole: it is first pre-checked structurally (lt_msgpack_precheck,
 * so no claimed element count can exceed the bytes present), then decoded
 * with msgpack_unpack_next into a zone, then every field is type- and
 * range-checked before the assembler sees any of it. Rejections are counted
 * in the metrics; nothing a sender does can stop the collector.
 *
 * Memory and fairness (README.md, "Limits"): each connection's receive
 * queue holds at most `queue_frames` messages (ZMQ_RCVHWM; a runner's own
 * queue is 64), so a flood waits in the flooder's socket, not in ours. The
 * ROUTER socket fair-queues: it takes one message from each connection in
 * turn, so a flooding connection gets one frame in per frame of each other
 * connection. A turn (lt_ingest_poll) also ends once the store holds
 * `turn_lines` uncommitted lines or `turn_bytes` of frames have come in
 * (or the assembler refused an instance because the others were busy until
 * a commit), so the commit -- and with it every runner's ack -- waits for at most one
 * such turn of a flood, not for its backlog.
 *
 * Who a frame is (--ingest-auth, credential.h). A frame's meta claims a
 * runner, app, version and source; any process that reaches the endpoint
 * can claim any. A runner's credential ("auth" in the meta) proves the
 * claim: the frame is believed only if its claim is the credential's,
 * exactly. Without a credential, the local mode believes a frame only if
 * it came over ipc from the collector's own uid (libzmq hands the peer's
 * SO_PEERCRED as "...:uid:gid:pid" in the message's Peer-Address property).
 * Refused frames are well-formed: counted by reason, never acknowledged,
 * and they reach neither the assembler nor the store. Verified credentials
 * are cached (a handful of HMACs a second at most, whatever the frame rate):
 * the signature is checked once per distinct credential string, the expiry
 * on every frame.
 */
#include "ingest.h"

#include <assert.h>
#include <errno.h>
#include <msgpack.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "logtap_wire.h"
#include "metrics.h"

#define MAX_IDENTITY 255
#define FRAME_DEPTH 3 /* frame -> records -> record */

typedef struct pending_ack {
    unsigned char identity[MAX_IDENTITY];
    size_t identity_len;
    uint64_t instance;
    uint64_t pos;
} pending_ack;

/* Credentials verified lately: signatures are checked once per string. */
#define CREDENTIAL_CACHE 32
typedef struct verified_credential {
    char text[LT_CREDENTIAL_MAX];
    size_t len; /* 0: empty slot */
    lt_credential_claims claims;
    uint64_t used; /* for replacing the least recently used */
} verified_credential;

struct lt_ingest {
    void *ctx;
    void *sock;
    lt_assembler *assembler;
    lt_record_in *recs;
    size_t cap_recs;
    pending_ack *acks;
    size_t nacks, cap_acks;
    lt_store *turn_store; /* NULL: turns end only at max_frames */
    size_t turn_lines, turn_bytes, bytes_this_turn;
    bool turn_cut;
    /* ingest authentication */
    lt_ingest_auth auth;
    const lt_credential_key *key;
    bool ipc;                   /* the endpoint is ipc://: peers have a uid */
    uint32_t own_uid;           /* the collector's effective uid */
    bool frame_has_uid;         /* the frame being ingested came from ... */
    uint32_t frame_uid;         /* ... this uid */
    verified_credential *cache; /* CREDENTIAL_CACHE slots, made on first use */
    uint64_t cache_clock;
};

/* ---- structural pre-check ---- */

static int read_len(const unsigned char *b, size_t len, size_t *i, int bytes, uint64_t *out)
{
    if ((size_t)bytes > len - *i)
        return -1;
    uint64_t v = 0;
    for (int k = 0; k < bytes; k++)
        v = (v << 8) | b[*i + (size_t)k];
    *i += (size_t)bytes;
    *out = v;
    return 0;
}

int lt_msgpack_precheck(const unsigned char *b, size_t len, int max_depth)
{
    enum { STACK = 16 };
    uint64_t left[STACK];
    if (max_depth < 0 || max_depth >= STACK)
        return -1;
    int depth = 0;
    left[0] = 1;
    size_t i = 0;
    while (depth >= 0) {
        if (left[depth] == 0) {
            depth--;
            continue;
        }
        if (i >= len)
            return -1;
        left[depth]--;
        unsigned char c = b[i++];
        uint64_t skip = 0, children = 0, n = 0;
        if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
            skip = 0;
        } else if (c >= 0x80 && c <= 0x8f) {
            children = 2u * (c & 0x0f);
        } else if (c >= 0x90 && c <= 0x9f) {
            children = c & 0x0f;
        } else if (c >= 0xa0 && c <= 0xbf) {
            skip = c & 0x1f;
        } else {
            switch (c) {
            case 0xc4:
            case 0xd9:
                if (read_len(b, len, &i, 1, &skip))
                    return -1;
                break;
            case 0xc5:
            case 0xda:
                if (read_len(b, len, &i, 2, &skip))
                    return -1;
                break;
            case 0xc6:
            case 0xdb:
                if (read_len(b, len, &i, 4, &skip))
                    return -1;
                break;
            case 0xc7:
                if (read_len(b, len, &i, 1, &n))
                    return -1;
                skip = n + 1;
                break;
            case 0xc8:
                if (read_len(b, len, &i, 2, &n))
                    return -1;
                skip = n + 1;
                break;
            case 0xc9:
                if (read_len(b, len, &i, 4, &n))
                    return -1;
                skip = n + 1;
                break;
            case 0xca: skip = 4; break;
            case 0xcb: skip = 8; break;
            case 0xcc:
            case 0xd0: skip = 1; break;
            case 0xcd:
            case 0xd1: skip = 2; break;
            case 0xce:
            case 0xd2: skip = 4; break;
            case 0xcf:
            case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break;
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xdc:
                if (read_len(b, len, &i, 2, &children))
                    return -1;
                break;
            case 0xdd:
                if (read_len(b, len, &i, 4, &children))
                    return -1;
                break;
            case 0xde:
                if (read_len(b, len, &i, 2, &n))
                    return -1;
                children = 2 * n;
                break;
            case 0xdf:
                if (read_len(b, len, &i, 4, &n))
                    return -1;
                children = 2 * n;
                break;
            default: return -1; /* 0xc1: never used */
            }
        }
        if (skip > len - i)
            return -1;
        i += skip;
        if (children) {
            /* Every element takes at least one byte. */
            if (children > len - i || depth + 1 > max_depth)
                return -1;
            left[++depth] = children;
        }
    }
    return i == len ? 0 : -1;
}

/* ---- field checks ---- */

static bool is_uint(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
}

static bool key_is(const msgpack_object *k, const char *name)
{
    size_t n = strlen(name);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && memcmp(k->via.str.ptr, name, n) == 0;
}

/* Copy a string field into buf (LT_WIRE_MAX_ID + 1 bytes) if it is a valid
 * ID, or empty where allowed. */
static bool take_id(const msgpack_object *v, char *buf, bool allow_empty)
{
    if (v->type != MSGPACK_OBJECT_STR)
        return false;
    size_t n = v->via.str.size;
    if (n == 0 && allow_empty) {
        buf[0] = '\0';
        return true;
    }
    if (!lt_wire_id_ok(v->via.str.ptr, n))
        return false;
    memcpy(buf, v->via.str.ptr, n);
    buf[n] = '\0';
    return true;
}

typedef struct meta_buf {
    char runner[LT_WIRE_MAX_ID + 1], app[LT_WIRE_MAX_ID + 1], version[LT_WIRE_MAX_ID + 1];
    char source[LT_WIRE_MAX_ID + 1];
    const char *auth; /* the credential, in the frame's zone; NULL: none */
    size_t auth_len;
} meta_buf;

static bool decode_meta(const msgpack_object *o, lt_proc_meta *m, meta_buf *mb)
{
    if (o->type != MSGPACK_OBJECT_MAP)
        return false;
    bool have_runner = false, have_pid = false, have_instance = false;
    bool have_acked = false, have_end = false;
    memset(m, 0, sizeof *m);
    mb->app[0] = mb->version[0] = mb->source[0] = '\0';
    mb->auth = NULL;
    mb->auth_len = 0;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
        if (key_is(k, "runner")) {
            if (!take_id(v, mb->runner, false))
                return false;
            have_runner = true;
        } else if (key_is(k, "app")) {
            if (!take_id(v, mb->app, true))
                return false;
        } else if (key_is(k, "version")) {
            if (!take_id(v, mb->version, true))
                return false;
        } else if (key_is(k, "source")) {
            if (!take_id(v, mb->source, true) || strlen(mb->source) > 15)
                return false;
        } else if (key_is(k, "pid")) {
            if (!is_uint(v) || v->via.u64 > INT32_MAX)
                return false;
            m->pid = (int64_t)v->via.u64;
            have_pid = true;
        } else if (key_is(k, "instance")) {
            if (!is_uint(v))
                return false;
            m->instance = v->via.u64;
            have_instance = true;
        } else if (key_is(k, "dropped")) {
            if (!is_uint(v))
                return false;
            m->dropped = v->via.u64;
        } else if (key_is(k, "acked")) {
            if (!is_uint(v))
                return false;
            m->acked = v->via.u64;
            have_acked = true;
        } else if (key_is(k, "end")) {
            if (!is_uint(v))
                return false;
            m->end = v->via.u64;
            have_end = true;
        } else if (key_is(k, "start")) {
            if (!is_uint(v))
                return false;
            m->start = v->via.u64;
            m->has_start = true;
        } else if (key_is(k, "auth")) {
            if (v->type != MSGPACK_OBJECT_STR || v->via.str.size == 0 || v->via.str.size > LT_CREDENTIAL_MAX)
                return false;
            mb->auth = v->via.str.ptr;
            mb->auth_len = v->via.str.size;
        } else if (key_is(k, "unattributed")) {
            if (v->type != MSGPACK_OBJECT_BOOLEAN)
                return false;
            m->unattributed = v->via.boolean;
        }
        /* other keys: reserved for later versions, ignored */
    }
    m->runner_id = mb->runner;
    m->app_id = mb->app;
    m->version_id = mb->version;
    m->source = mb->source;
    m->has_range = have_acked && have_end;
    if (m->has_range && m->end < m->acked)
        return false;
    if (m->has_start && (!m->has_range || m->start < m->acked || m->start > m->end))
        return false;
    return have_runner && have_pid && have_instance;
}

static bool decode_record(const msgpack_object *o, lt_record_in *r, uint64_t prev_pos, bool first)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != LT_WIRE_RECORD_FIELDS)
        return false;
    const msgpack_object *f = o->via.array.ptr;
    if (!is_uint(&f[0]) || !is_uint(&f[1]) || !is_uint(&f[2]) || !is_uint(&f[3]) || !is_uint(&f[4]))
        return false;
    if (f[2].via.u64 > UINT32_MAX || f[3].via.u64 >= LT_REC_KIND_COUNT || f[4].via.u64 > 2)
        return false;
    memset(r, 0, sizeof *r);
    r->pos = f[0].via.u64;
    r->ts_ns = f[1].via.u64;
    r->tid = (uint32_t)f[2].via.u64;
    r->kind = (int)f[3].via.u64;
    r->fd = (int)f[4].via.u64;
    if (!first && r->pos <= prev_pos)
        return false; /* records are in ring order */
    if (f[5].type == MSGPACK_OBJECT_STR) {
        if (!lt_wire_id_ok(f[5].via.str.ptr, f[5].via.str.size))
            return false;
        r->request = f[5].via.str.ptr;
        r->request_len = f[5].via.str.size;
    } else if (f[5].type != MSGPACK_OBJECT_NIL) {
        return false;
    }
    switch (r->kind) {
    case LT_REC_DATA:
        if ((r->fd != 1 && r->fd != 2) || f[6].type != MSGPACK_OBJECT_BIN ||
            f[6].via.bin.size > LT_WIRE_MAX_PAYLOAD)
            return false;
        r->data = (const unsigned char *)f[6].via.bin.ptr;
        r->data_len = f[6].via.bin.size;
        return true;
    case LT_REC_BEGIN: /* payload: nil, or the caller's ID */
        if (r->request == NULL)
            return false;
        if (f[6].type == MSGPACK_OBJECT_NIL)
            return true;
        if (f[6].type != MSGPACK_OBJECT_BIN || !lt_wire_id_ok(f[6].via.bin.ptr, f[6].via.bin.size))
            return false;
        r->data = (const unsigned char *)f[6].via.bin.ptr;
        r->data_len = f[6].via.bin.size;
        return true;
    case LT_REC_END: /* payload: nil, or a failed request's error */
        if (r->request == NULL)
            return false;
        if (f[6].type == MSGPACK_OBJECT_NIL)
            return true;
        unsigned long type_len;
        if (f[6].type != MSGPACK_OBJECT_BIN ||
            !lt_wire_end_error_ok((const unsigned char *)f[6].via.bin.ptr, f[6].via.bin.size, &type_len))
            return false;
        r->data = (const unsigned char *)f[6].via.bin.ptr;
        r->data_len = f[6].via.bin.size;
        return true;
    case LT_REC_NOTICE:
        if (r->fd != 0 || f[6].type != MSGPACK_OBJECT_BIN || f[6].via.bin.size > LT_WIRE_MAX_NOTICE)
            return false;
        r->data = (const unsigned char *)f[6].via.bin.ptr;
        r->data_len = f[6].via.bin.size;
        return true;
    default: return f[6].type == MSGPACK_OBJECT_NIL;
    }
}

static void remember_ack(lt_ingest *in, const void *identity, size_t identity_len, uint64_t instance,
                         uint64_t pos)
{
    if (!identity || identity_len == 0 || identity_len > MAX_IDENTITY)
        return;
    for (size_t i = 0; i < in->nacks; i++)
        if (in->acks[i].instance == instance) {
            memcpy(in->acks[i].identity, identity, identity_len);
            in->acks[i].identity_len = identity_len;
            in->acks[i].pos = pos;
            return;
        }
    if (in->nacks == in->cap_acks) {
        size_t cap = in->cap_acks ? in->cap_acks * 2 : 16;
        pending_ack *grown = realloc(in->acks, cap * sizeof *grown);
        if (!grown)
            return; /* the runner will simply wait for a later ack */
        in->acks = grown;
        in->cap_acks = cap;
    }
    pending_ack *a = &in->acks[in->nacks++];
    memcpy(a->identity, identity, identity_len);
    a->identity_len = identity_len;
    a->instance = instance;
    a->pos = pos;
}

/* The credential's claims, from the cache or verified now. */
static lt_credential_verdict check_credential(lt_ingest *in, const char *text, size_t len,
                                              lt_credential_claims *claims)
{
    int64_t now = (int64_t)time(NULL);
    if (in->cache == NULL && (in->cache = calloc(CREDENTIAL_CACHE, sizeof *in->cache)) == NULL)
        return lt_credential_verify(in->key, text, len, now, claims);
    verified_credential *oldest = &in->cache[0];
    for (int i = 0; i < CREDENTIAL_CACHE; i++) {
        verified_credential *e = &in->cache[i];
        /* Constant time: the cached strings are valid bearer credentials. */
        if (e->len == len && CRYPTO_memcmp(e->text, text, len) == 0) {
            e->used = ++in->cache_clock;
            *claims = e->claims;
            return claims->expires_s <= now ? LT_CREDENTIAL_EXPIRED : LT_CREDENTIAL_VALID;
        }
        if (e->used < oldest->used)
            oldest = e;
    }
    lt_credential_verdict verdict = lt_credential_verify(in->key, text, len, now, claims);
    if (verdict == LT_CREDENTIAL_VALID) { /* only ours are worth a slot */
        memcpy(oldest->text, text, len);
        oldest->len = len;
        oldest->claims = *claims;
        oldest->used = ++in->cache_clock;
    }
    return verdict;
}

/* Whether the frame's claimed identity is proven (see the top of this
 * file); counts the refusal by reason if not. */
static bool identity_proven(lt_ingest *in, const lt_proc_meta *meta, const meta_buf *mb)
{
    if (in->auth == LT_INGEST_AUTH_OFF)
        return true;
    if (mb->auth == NULL) {
        if (in->auth == LT_INGEST_AUTH_LOCAL && in->frame_has_uid && in->frame_uid == in->own_uid)
            return true;
        LT_COUNT(frames_refused_no_credential, 1);
        return false;
    }
    assert(in->key != NULL);
    lt_credential_claims claims;
    switch (check_credential(in, mb->auth, mb->auth_len, &claims)) {
    case LT_CREDENTIAL_VALID: break;
    case LT_CREDENTIAL_EXPIRED: LT_COUNT(frames_refused_expired, 1); return false;
    case LT_CREDENTIAL_BAD: LT_COUNT(frames_refused_bad_credential, 1); return false;
    }
    if (strcmp(claims.runner, meta->runner_id) != 0 || strcmp(claims.app, meta->app_id) != 0 ||
        strcmp(claims.version, meta->version_id) != 0 || strcmp(claims.source, meta->source) != 0) {
        LT_COUNT(frames_refused_identity_mismatch, 1);
        return false;
    }
    return true;
}

void lt_ingest_set_auth(lt_ingest *in, lt_ingest_auth mode, const lt_credential_key *key)
{
    assert(mode == LT_INGEST_AUTH_OFF || key != NULL);
    in->auth = mode;
    in->key = key;
}

/* The uid in a Peer-Address of an ipc peer: "...:UID:GID:PID". */
static bool peer_uid(const char *address, uint32_t *uid)
{
    if (address == NULL)
        return false;
    const char *fields[3];
    const char *end = address + strlen(address);
    for (int k = 2; k >= 0; k--) {
        const char *colon = end;
        while (colon > address && colon[-1] != ':')
            colon--;
        if (colon == end || (k > 0 && colon == address))
            return false;
        fields[k] = colon;
        end = colon - 1;
    }
    char *stop;
    errno = 0;
    unsigned long v = strtoul(fields[0], &stop, 10);
    if (errno != 0 || stop != fields[1] - 1 || v > UINT32_MAX)
        return false;
    *uid = (uint32_t)v;
    return true;
}

int lt_ingest_frame(lt_ingest *in, const unsigned char *frame, size_t len, const void *ack_to,
                    size_t ack_to_len)
{
    if (len > LT_WIRE_MAX_FRAME) {
        LT_COUNT(frames_oversized, 1);
        return -1;
    }
    if (lt_msgpack_precheck(frame, len, FRAME_DEPTH) != 0) {
        LT_COUNT(frames_malformed, 1);
        return -1;
    }
    msgpack_unpacked msg;
    msgpack_unpacked_init(&msg);
    size_t off = 0;
    int rc = -1;
    if (msgpack_unpack_next(&msg, (const char *)frame, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len)
        goto out;
    const msgpack_object *top = &msg.data;
    if (top->type != MSGPACK_OBJECT_ARRAY || top->via.array.size != 4)
        goto out;
    const msgpack_object *f = top->via.array.ptr;
    if (!is_uint(&f[0]) || f[0].via.u64 != LT_WIRE_VERSION || !is_uint(&f[1]) ||
        f[1].via.u64 != LT_MSG_BATCH || f[3].type != MSGPACK_OBJECT_ARRAY)
        goto out;

    lt_proc_meta meta;
    meta_buf mb;
    if (!decode_meta(&f[2], &meta, &mb))
        goto out;
    size_t n = f[3].via.array.size;
    if (n > in->cap_recs) {
        lt_record_in *grown = realloc(in->recs, n * sizeof *grown);
        if (!grown)
            goto out;
        in->recs = grown;
        in->cap_recs = n;
    }
    for (size_t i = 0; i < n; i++)
        if (!decode_record(&f[3].via.array.ptr[i], &in->recs[i], i ? in->recs[i - 1].pos : 0, i == 0))
            goto out;
    if (meta.has_range && n &&
        (in->recs[0].pos < (meta.has_start ? meta.start : meta.acked) || in->recs[n - 1].pos >= meta.end))
        goto out; /* records outside the range the frame claims */

    rc = 0;
    if (!identity_proven(in, &meta, &mb))
        goto out;
    meta.has_peer_uid = in->frame_has_uid;
    meta.peer_uid = in->frame_uid;
    LT_COUNT(records_received, n);
    uint64_t acked = 0;
    int have_acked = 0;
    if (lt_assembler_feed(in->assembler, &meta, in->recs, n, &acked, &have_acked) < 0)
        fprintf(stderr, "logtap-collector: store error while ingesting runner %s\n", meta.runner_id);
    else if (have_acked)
        remember_ack(in, ack_to, ack_to_len, meta.instance, acked);
out:
    if (rc != 0)
        LT_COUNT(frames_malformed, 1);
    msgpack_unpacked_destroy(&msg);
    return rc;
}

lt_ingest *lt_ingest_open(const char *endpoint, lt_assembler *assembler, char *err, size_t errlen)
{
    return lt_ingest_open_queue(endpoint, assembler, LT_INGEST_QUEUE_DEFAULT, err, errlen);
}

lt_ingest *lt_ingest_open_queue(const char *endpoint, lt_assembler *assembler, int queue_frames, char *err,
                                size_t errlen)
{
    lt_ingest *in = calloc(1, sizeof *in);
    if (!in) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    in->assembler = assembler;
    in->ipc = strncmp(endpoint, "ipc://", 6) == 0;
    in->own_uid = (uint32_t)geteuid();
    in->ctx = zmq_ctx_new();
    in->sock = in->ctx ? zmq_socket(in->ctx, ZMQ_ROUTER) : NULL;
    if (!in->sock) {
        snprintf(err, errlen, "cannot create the ingest socket: %s", zmq_strerror(zmq_errno()));
        lt_ingest_close(in);
        return NULL;
    }
    /* Frames above the limit (up to twice it) are received and counted as
     * oversized; beyond that zmq drops the sender's connection itself. */
    int64_t max = 2 * (int64_t)LT_WIRE_MAX_FRAME;
    int hwm = 10000, linger = 0;
    zmq_setsockopt(in->sock, ZMQ_MAXMSGSIZE, &max, sizeof max);
    zmq_setsockopt(in->sock, ZMQ_RCVHWM, &queue_frames, sizeof queue_frames);
    zmq_setsockopt(in->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(in->sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(in->sock, endpoint) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", endpoint, zmq_strerror(zmq_errno()));
        lt_ingest_close(in);
        return NULL;
    }
    return in;
}

void lt_ingest_close(lt_ingest *in)
{
    if (!in)
        return;
    if (in->sock)
        zmq_close(in->sock);
    if (in->ctx)
        zmq_ctx_term(in->ctx);
    free(in->recs);
    free(in->acks);
    free(in->cache);
    free(in);
}

/* Receive one multipart message [identity, payload] without blocking.
 * Returns 1 if one was handled, 0 if none was waiting, -1 on EINTR. */
static int receive_one(lt_ingest *in)
{
    zmq_msg_t id, body;
    zmq_msg_init(&id);
    if (zmq_msg_recv(&id, in->sock, ZMQ_DONTWAIT) < 0) {
        int e = zmq_errno();
        zmq_msg_close(&id);
        return e == EINTR ? -1 : 0;
    }
    int more = zmq_msg_more(&id);
    if (!more) { /* a ROUTER always prefixes the identity; be defensive */
        zmq_msg_close(&id);
        return 1;
    }
    zmq_msg_init(&body);
    while (zmq_msg_recv(&body, in->sock, 0) < 0 && zmq_errno() == EINTR) {
    }
    LT_COUNT(frames_received, 1);
    if (zmq_msg_more(&body)) {
        /* Our senders send single-part messages: drain and reject the rest. */
        LT_COUNT(frames_malformed, 1);
        while (zmq_msg_more(&body))
            if (zmq_msg_recv(&body, in->sock, 0) < 0 && zmq_errno() != EINTR)
                break;
    } else {
        in->bytes_this_turn += zmq_msg_size(&body);
        in->frame_has_uid = in->ipc && peer_uid(zmq_msg_gets(&body, "Peer-Address"), &in->frame_uid);
        lt_ingest_frame(in, zmq_msg_data(&body), zmq_msg_size(&body), zmq_msg_data(&id), zmq_msg_size(&id));
        in->frame_has_uid = false;
    }
    zmq_msg_close(&body);
    zmq_msg_close(&id);
    return 1;
}

int lt_ingest_poll(lt_ingest *in, int timeout_ms, int max_frames)
{
    zmq_pollitem_t item = {.socket = in->sock, .events = ZMQ_POLLIN};
    if (zmq_poll(&item, 1, timeout_ms) < 0)
        return zmq_errno() == EINTR ? -1 : 0;
    int handled = 0;
    in->bytes_this_turn = 0;
    in->turn_cut = false;
    while (handled < max_frames) {
        int r = receive_one(in);
        if (r <= 0)
            return r < 0 && handled == 0 ? -1 : handled;
        handled++;
        if (in->turn_store &&
            (lt_store_pending(in->turn_store) >= in->turn_lines || in->bytes_this_turn >= in->turn_bytes ||
             lt_assembler_commit_wanted(in->assembler))) {
            LT_COUNT(ingest_turns_cut, 1);
            in->turn_cut = true;
            break;
        }
    }
    return handled;
}

void lt_ingest_set_turn(lt_ingest *in, lt_store *store, size_t lines, size_t bytes)
{
    in->turn_store = store;
    in->turn_lines = lines;
    in->turn_bytes = bytes;
}

bool lt_ingest_turn_cut(const lt_ingest *in)
{
    return in->turn_cut;
}

void lt_ingest_forget_acks(lt_ingest *in)
{
    in->nacks = 0;
}

void lt_ingest_send_acks(lt_ingest *in)
{
    for (size_t i = 0; i < in->nacks; i++) {
        const pending_ack *a = &in->acks[i];
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, 4);
        msgpack_pack_uint8(&pk, LT_WIRE_VERSION);
        msgpack_pack_uint8(&pk, LT_MSG_ACK);
        msgpack_pack_uint64(&pk, a->instance);
        msgpack_pack_uint64(&pk, a->pos);
        /* A peer that went away just misses its ack: ROUTER drops it. */
        if (zmq_send(in->sock, a->identity, a->identity_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
            zmq_send(in->sock, sb.data, sb.size, ZMQ_DONTWAIT) >= 0)
            LT_COUNT(acks_sent, 1);
        msgpack_sbuffer_destroy(&sb);
    }
    in->nacks = 0;
}

size_t lt_ingest_acks_owed(const lt_ingest *in)
{
    return in->nacks;
}
