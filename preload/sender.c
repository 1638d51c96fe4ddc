/* sender.c -- the one thread per process that owns the ZeroMQ socket.
 *
 * It drains committed records from the ring, packs as many as fit into one
 * msgpack BATCH frame (fixed buffer, no allocation per frame), and sends it
 * with ZMQ_DONTWAIT on a DEALER socket with ZMQ_IMMEDIATE: while no collector
 * is connected nothing is queued inside zmq, the records simply stay in the
 * ring (the backlog) and the app never waits. ACKs coming back are recorded
 * in the ring header.
 *
 * Ring space is given back only when the collector acknowledges that the
 * records are durable in its store. If acknowledgements stop while records
 * are outstanding for 5 s (the collector restarted and lost what was in
 * flight, or refused a frame after such a hole), the sender rewinds to the first unacknowledged record and sends again; the
 * collector drops what it already has.
 *
 * A record whose writer died before completing it (ring.h, "Torn records")
 * is passed once that thread no longer exists: its payload is counted as
 * dropped and the batch says which ring range it covers ("start".."end"), so
 * the collector sees the skipped record as part of the stream, not a hole.
 *
 * At exit the destructor asks the thread to stop: it sends what is left and
 * waits, for at most LOGTAP_EXIT_TIMEOUT_MS, for the acknowledgement of the
 * last record. The ring file stays either way: glibc flushes stdio after our
 * destructor, and those last writes still land in the ring. The collector
 * replays whatever was not acknowledged once this process is gone, and then
 * removes the file.
 */
#include "sender.h"

#include <errno.h>
#include <msgpack.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "runtime.h"

#define FRAME_CAPACITY (1024 * 1024)
#define RECORD_PACK_OVERHEAD 48 /* msgpack bytes around one record, generous */
#define IDLE_BATCH_NS 1000000   /* under steady writing, send at most every 1 ms */
#define IDLE_WAIT_MS 20         /* longest sleep: bounds a missed wake-up */
#define NEVER_CONNECTED_GRACE_MS 250
#define EXIT_WAIT_MAX_BACKLOG (256 * 1024) /* larger tails go by the ring file */
#define RESEND_AFTER_MS 5000               /* no ack progress for this long: send again */
#define TORN_CHECK_AFTER_MS 100            /* a record reserved this long: is its writer alive? */

typedef struct frame {
    unsigned char *buf;
    size_t len;
    size_t cap;
    bool overflow;
} frame;

typedef struct sender {
    void *ctx;
    void *sock;
    lt_ring *ring;
    uint64_t send_pos;    /* first ring position not yet sent */
    uint64_t pending_end; /* send_pos after the packed frame is sent */
    bool pending;         /* frame holds a packed batch not yet sent */
    bool ever_sent;
    int64_t last_progress_ms; /* last ack that moved acked_pos, or last rewind */
    uint64_t dropped_reported;
    uint64_t stuck_pos;     /* a reserved record the sender waits for ... */
    int64_t stuck_since_ms; /* ... since then */
    frame out;
    sem_t done;
    sem_t opened; /* the thread has made its socket, or failed to (open_err) */
    int open_err;
    pthread_t thread;
} sender;

static sender the_sender;
static unsigned char frame_storage[FRAME_CAPACITY];

static int frame_write(void *data, const char *buf, size_t len)
{
    frame *f = data;
    if (f->len + len > f->cap) {
        f->overflow = true;
        return -1;
    }
    memcpy(f->buf + f->len, buf, len);
    f->len += len;
    return 0;
}

static void pack_str(msgpack_packer *pk, const char *s, size_t len)
{
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

static void pack_key_str(msgpack_packer *pk, const char *key, const char *value)
{
    pack_str(pk, key, strlen(key));
    pack_str(pk, value, strlen(value));
}

static uint64_t dropped_total(const sender *s)
{
    return atomic_load_explicit(&s->ring->hdr->dropped_bytes, memory_order_relaxed) +
           atomic_load_explicit(&lt_rt.unringed_bytes, memory_order_relaxed);
}

static uint64_t acked_pos(const sender *s);

/* Is the thread that reserved this record gone? kill(2) with signal 0 finds
 * any task with that ID, a thread of ours or another process (a vfork child
 * shares our memory): only "no such task" proves the writer can no longer
 * write into the slot. Asked only of a record that has stayed reserved for
 * a while, so the usual case (a writer between its two stores) costs
 * nothing. */
static bool writer_gone(sender *s, uint64_t pos, const lt_ring_record *hdr)
{
    if (s->stuck_pos != pos || !s->stuck_since_ms) {
        s->stuck_pos = pos;
        s->stuck_since_ms = lt_mono_ms();
        return false;
    }
    if (lt_mono_ms() - s->stuck_since_ms < TORN_CHECK_AFTER_MS)
        return false;
    return hdr->tid != 0 && kill((pid_t)hdr->tid, 0) != 0 && errno == ESRCH;
}

/* Step over torn records at `pos`, declaring torn (and counting as dropped)
 * the reserved ones whose writer is gone. Returns the first position that
 * does not hold a torn record. */
static uint64_t pass_torn(sender *s, uint64_t pos)
{
    lt_ring_record hdr;
    while (pos < atomic_load_explicit(&s->ring->hdr->reserve_pos, memory_order_acquire)) {
        lt_slot_kind kind = lt_ring_slot(s->ring, pos, &hdr);
        if (kind == LT_SLOT_RESERVED && writer_gone(s, pos, &hdr)) {
            /* Count first: if this process dies between the two, the reaper
             * counts the record again (an over-count), never not at all. */
            lt_ring_count_drop(s->ring, hdr.kind == LT_REC_DATA ? hdr.data_len : 0);
            lt_ring_mark_torn(s->ring, pos);
            continue;
        }
        if (kind != LT_SLOT_TORN)
            break;
        pos += hdr.size;
    }
    return pos;
}

/* Pack the committed records from send_pos into one frame. Returns the number
 * of records packed (0: nothing to send). */
static size_t pack_batch(sender *s)
{
    const lt_config *cfg = &lt_rt.cfg;
    size_t budget = s->out.cap - 1024; /* room for the frame header and meta */
    size_t count = 0, bytes = 0;
    uint64_t pos = s->send_pos;
    const lt_ring_record *rec;
    for (;;) {
        if ((rec = lt_ring_peek(s->ring, pos)) == NULL) {
            uint64_t past = pass_torn(s, pos);
            if (past == pos)
                break;
            pos = past;
            continue;
        }
        size_t need = RECORD_PACK_OVERHEAD + rec->request_len + rec->data_len;
        if (bytes + need > budget)
            break;
        bytes += need;
        count++;
        pos += rec->size;
    }
    uint64_t dropped = dropped_total(s);
    if (count == 0 && dropped == s->dropped_reported && pos == s->send_pos)
        return 0;
    uint64_t end_pos = pos;

    s->out.len = 0;
    s->out.overflow = false;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &s->out, frame_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint8(&pk, LT_WIRE_VERSION);
    msgpack_pack_uint8(&pk, LT_MSG_BATCH);
    msgpack_pack_map(&pk, cfg->unattributed ? 11 : 10);
    pack_key_str(&pk, "runner", cfg->runner_id);
    pack_key_str(&pk, "app", cfg->app_id);
    pack_key_str(&pk, "version", cfg->version_id);
    pack_key_str(&pk, "source", cfg->source);
    pack_str(&pk, "pid", 3);
    msgpack_pack_int64(&pk, lt_rt.pid);
    pack_str(&pk, "instance", 8);
    msgpack_pack_uint64(&pk, lt_rt.instance);
    pack_str(&pk, "dropped", 7);
    msgpack_pack_uint64(&pk, dropped);
    /* The range lets the collector see a hole (a frame lost with a
     * collector restart) and refuse to acknowledge past it. */
    pack_str(&pk, "acked", 5);
    msgpack_pack_uint64(&pk, acked_pos(s));
    pack_str(&pk, "start", 5);
    msgpack_pack_uint64(&pk, s->send_pos);
    pack_str(&pk, "end", 3);
    msgpack_pack_uint64(&pk, end_pos);
    if (cfg->unattributed) {
        pack_str(&pk, "unattributed", 12);
        msgpack_pack_true(&pk);
    }

    msgpack_pack_array(&pk, count);
    pos = s->send_pos;
    for (size_t i = 0; i < count; i++) {
        uint32_t torn;
        while ((rec = lt_ring_peek(s->ring, pos)) == NULL && (torn = lt_ring_settled_size(s->ring, pos)) != 0)
            pos += torn; /* declared torn by the first pass */
        msgpack_pack_array(&pk, LT_WIRE_RECORD_FIELDS);
        msgpack_pack_uint64(&pk, pos);
        msgpack_pack_uint64(&pk, rec->ts_ns);
        msgpack_pack_uint32(&pk, rec->tid);
        msgpack_pack_uint8(&pk, rec->kind);
        msgpack_pack_uint8(&pk, rec->fd);
        if (rec->request_len)
            pack_str(&pk, lt_record_request(rec), rec->request_len);
        else
            msgpack_pack_nil(&pk);
        /* DATA and NOTICE carry bytes; a BEGIN may carry its caller. */
        if (rec->kind == LT_REC_DATA || rec->kind == LT_REC_NOTICE ||
            ((rec->kind == LT_REC_BEGIN || rec->kind == LT_REC_END) && rec->data_len > 0)) {
            msgpack_pack_bin(&pk, rec->data_len);
            msgpack_pack_bin_body(&pk, lt_record_data(rec), rec->data_len);
        } else {
            msgpack_pack_nil(&pk);
        }
        pos += rec->size;
    }
    /* The budget above over-estimates every record, so this cannot happen. */
    if (s->out.overflow)
        abort();
    s->pending = true;
    s->pending_end = end_pos;
    s->dropped_reported = dropped;
    return count ? count : 1;
}

static uint64_t acked_pos(const sender *s)
{
    return atomic_load_explicit(&s->ring->hdr->acked_pos, memory_order_relaxed);
}

static bool send_pending(sender *s)
{
    if (zmq_send(s->sock, s->out.buf, s->out.len, ZMQ_DONTWAIT) < 0)
        return false;
    if (!s->ever_sent || s->send_pos == acked_pos(s))
        s->last_progress_ms = lt_mono_ms(); /* the ack clock starts with the first unacked frame */
    s->pending = false;
    s->ever_sent = true;
    s->send_pos = s->pending_end;
    return true;
}

/* ACK(P): every record whose position is below P is durable. P beyond what
 * was sent, or not beyond what is acknowledged, is ignored. */
static void apply_ack(sender *s, uint64_t bound)
{
    uint64_t pos = acked_pos(s);
    if (bound <= pos || bound > s->send_pos)
        return;
    while (pos < bound && pos < s->send_pos) {
        uint32_t size = lt_ring_settled_size(s->ring, pos); /* complete or torn */
        if (!size)
            return; /* cannot happen for positions we sent; ignore the ack */
        pos += size;
    }
    atomic_store_explicit(&s->ring->hdr->acked_pos, pos, memory_order_relaxed);
    lt_ring_release(s->ring, pos);
    s->last_progress_ms = lt_mono_ms();
}

static void read_acks(sender *s)
{
    unsigned char buf[128];
    int n;
    while ((n = zmq_recv(s->sock, buf, sizeof buf, ZMQ_DONTWAIT)) >= 0) {
        if ((size_t)n > sizeof buf)
            continue; /* truncated: not an ACK */
        msgpack_unpacked msg;
        msgpack_unpacked_init(&msg);
        size_t off = 0;
        if (msgpack_unpack_next(&msg, (const char *)buf, (size_t)n, &off) == MSGPACK_UNPACK_SUCCESS) {
            msgpack_object o = msg.data;
            if (o.type == MSGPACK_OBJECT_ARRAY && o.via.array.size == 4 &&
                o.via.array.ptr[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
                o.via.array.ptr[0].via.u64 == LT_WIRE_VERSION &&
                o.via.array.ptr[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
                o.via.array.ptr[1].via.u64 == LT_MSG_ACK &&
                o.via.array.ptr[2].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
                o.via.array.ptr[2].via.u64 == lt_rt.instance &&
                o.via.array.ptr[3].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                apply_ack(s, o.via.array.ptr[3].via.u64);
        }
        msgpack_unpacked_destroy(&msg);
    }
}

/* Sent records have gone unacknowledged for too long (a frame was lost with
 * a collector restart, or the collector refused a frame after a hole): drop
 * any packed frame and send again from the first unacknowledged record. */
static void resend_if_stalled(sender *s)
{
    if (s->send_pos == acked_pos(s))
        return;
    if (lt_mono_ms() - s->last_progress_ms < RESEND_AFTER_MS)
        return;
    s->pending = false;
    s->send_pos = acked_pos(s);
    s->last_progress_ms = lt_mono_ms();
}

static bool all_acked(const sender *s)
{
    return !s->pending && s->send_pos == acked_pos(s) && !lt_ring_peek(s->ring, s->send_pos);
}

/* Wait for the socket (acks, room to send) or the writers' wake-up. */
static void wait_events(sender *s, short sock_events, bool arm_wake, long timeout_ms)
{
    zmq_pollitem_t items[2] = {
        {.socket = s->sock, .events = sock_events},
        {.fd = s->ring->wake_fd, .events = ZMQ_POLLIN},
    };
    if (arm_wake) {
        lt_ring_reader_sleep_begin(s->ring);
        if (lt_ring_peek(s->ring, s->send_pos) || atomic_load(&lt_rt.stopping)) {
            lt_ring_reader_sleep_end(s->ring);
            return;
        }
    }
    zmq_poll(items, 2, timeout_ms);
    if (arm_wake || (items[1].revents & ZMQ_POLLIN))
        lt_ring_reader_sleep_end(s->ring); /* drains the eventfd: no stale count, no spinning */
}

/* Exit must not wait for a collector that is plainly not there: for an ipc
 * endpoint that means no socket file. Other transports get the short grace
 * in which a fresh connection normally completes. */
static bool collector_may_exist(void)
{
    const char *ep = lt_rt.cfg.endpoint;
    if (strncmp(ep, "ipc://", 6) != 0)
        return true;
    struct stat st;
    return stat(ep + 6, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* How long exit may wait for the collector to acknowledge the tail. The wait
 * only makes the last lines visible sooner: whatever is not acknowledged
 * reaches the collector through the ring file anyway. So there is no wait
 * for a collector that is plainly absent, none for a backlog too large to
 * clear quickly (a writer that outran the collector), and otherwise at most
 * LOGTAP_EXIT_TIMEOUT_MS. */
static int exit_budget_ms(const sender *s)
{
    int budget = lt_rt.cfg.exit_timeout_ms;
    uint64_t backlog = atomic_load(&s->ring->hdr->reserve_pos) - acked_pos(s);
    if (backlog > EXIT_WAIT_MAX_BACKLOG)
        return 0;
    if (!s->ever_sent)
        return !collector_may_exist()              ? 0
               : budget < NEVER_CONNECTED_GRACE_MS ? budget
                                                   : NEVER_CONNECTED_GRACE_MS;
    return budget;
}

static int open_socket(sender *s);

static void *sender_main(void *arg)
{
    sender *s = arg;
    /* The socket is made here, on this thread's own stack: the first write
     * that starts the sender may come from an app thread with a small one
     * (16 KiB), and zmq_ctx_new (libpgm's start-up, symbol resolution)
     * needs more than that. That thread waits meanwhile (lt_sender_start),
     * as it did when it made the socket itself: the descriptors zmq opens
     * now must not race with the app's own juggling of low descriptors (a
     * shell's close(1) and open() of a redirection, which an eventfd would
     * otherwise take). */
    s->open_err = open_socket(s);
    sem_post(&s->opened);
    if (s->open_err != 0)
        return NULL;
    /* Background work: when the app and the sender compete for a CPU, the
     * app wins and the ring absorbs the difference. */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    int64_t stop_deadline = 0;
    for (;;) {
        read_acks(s);
        resend_if_stalled(s);
        bool stopping = atomic_load(&lt_rt.stopping);
        if (stopping && !stop_deadline)
            stop_deadline = lt_mono_ms() + exit_budget_ms(s);
        if (stopping && lt_mono_ms() >= stop_deadline)
            break;

        if (s->pending || pack_batch(s)) {
            if (send_pending(s))
                continue;
            /* No collector, or it is not keeping up: keep the frame, wait. */
            wait_events(s, ZMQ_POLLIN | ZMQ_POLLOUT, false, stopping ? 10 : 50);
            continue;
        }
        if (stopping) {
            if (all_acked(s))
                break;
            wait_events(s, ZMQ_POLLIN, false, 10);
            continue;
        }
        /* Idle: let a burst accumulate, then sleep until woken. */
        struct timespec pause = {0, IDLE_BATCH_NS};
        nanosleep(&pause, NULL);
        if (lt_ring_peek(s->ring, s->send_pos))
            continue;
        wait_events(s, ZMQ_POLLIN, true, IDLE_WAIT_MS);
    }
    int linger = 0;
    zmq_setsockopt(s->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(s->sock);
    zmq_ctx_term(s->ctx);
    atomic_store(&lt_rt.sender_state, LT_SENDER_STOPPED);
    sem_post(&s->done);
    return NULL;
}

static int open_socket(sender *s)
{
    s->ctx = zmq_ctx_new();
    if (!s->ctx)
        return -errno;
    /* Our thread only: no zmq I/O threads beyond the one it needs. */
    s->sock = zmq_socket(s->ctx, ZMQ_DEALER);
    if (!s->sock) {
        int err = -errno;
        zmq_ctx_term(s->ctx);
        return err;
    }
    int one = 1, hwm = 64, ivl = 100, ivl_max = 1000, linger = 0;
    zmq_setsockopt(s->sock, ZMQ_IMMEDIATE, &one, sizeof one);
    zmq_setsockopt(s->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(s->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
    zmq_setsockopt(s->sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(s->sock, lt_rt.cfg.endpoint) != 0) {
        int err = -errno;
        zmq_close(s->sock);
        zmq_ctx_term(s->ctx);
        return err;
    }
    return 0;
}

int lt_sender_start(void)
{
    sender *s = &the_sender;
    memset(s, 0, sizeof *s);
    s->ring = &lt_rt.ring;
    s->out.buf = frame_storage;
    s->out.cap = sizeof frame_storage;
    s->send_pos = atomic_load(&s->ring->hdr->read_pos);
    sem_init(&s->done, 0, 0);
    sem_init(&s->opened, 0, 0);

    /* The app's signals are the app's: never let them land on our thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&s->thread, NULL, sender_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err)
        return -err;
    pthread_detach(s->thread);
    while (sem_wait(&s->opened) != 0 && errno == EINTR) {
    }
    if (s->open_err != 0)
        return s->open_err; /* the thread has ended */
    atomic_store(&lt_rt.sender_state, LT_SENDER_RUNNING);
    return 0;
}

void lt_sender_stop(int timeout_ms)
{
    sender *s = &the_sender;
    uint64_t one = 1;
    (void)!write(s->ring->wake_fd, &one, sizeof one);
    struct timespec deadline = lt_mono_deadline(timeout_ms + 100);
    while (sem_clockwait(&s->done, CLOCK_MONOTONIC, &deadline) != 0 && errno == EINTR) {
    }
}
