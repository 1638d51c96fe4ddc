/* fuzz_assembler.c -- libFuzzer harness: the assembler (collector/
 * assembler.c) under arbitrary sequences of decoded records, with runners
 * that send, resend and replay them as real ones do, and a collector that
 * commits, flushes idle lines and restarts.
 *
 * Feeds: the input is a program of one-byte operations, each followed by
 * its operands:
 *   DATA     a record of thread 1..3, stream 1|2, inside request none|a|b,
 *            whose bytes are literal (up to 31 input bytes), or a fill byte
 *            ('x', '\n', '\r' or any) repeated up to LT_WIRE_MAX_PAYLOAD
 *            times (a 16-bit length, or a power-of-two share of the
 *            maximum) with up to 15 literal bytes after, so a short input can write
 *            lines of LT_LINE_MAX and cut them anywhere
 *   BEGIN, END (of request a|b; an END may carry an error, well formed or
 *            not), NOTICE, EXIT
 *   SEND     the runner sends its next 1..8 unsent records as one batch
 *   DUP      a late duplicate of a batch already sent
 *   RESEND   the runner times out and sends again from its acknowledged
 *            position
 *   COMMIT   the store commits; the acks owed reach the runners
 *   IDLE     every partial line counts as idle (lt_assembler_flush_idle)
 *   RESTART  the collector is killed right after a commit: the assembler
 *            is freed and a new one made on the same store (as
 *            test_assembler.c's restart() does); the runners resend from
 *            what they had acknowledged
 *   SWITCH   the next records are another process instance's (two per
 *            input, each a runner of its own)
 * Records get ring positions that only grow, as a ring's do. At the end
 * every runner sends what it has left, the collector flushes its partial
 * lines (shutdown) and commits.
 *
 * Asserts, besides the assembler's own assertions (its done points only
 * move forward; bytes before a done point never meet a line in progress)
 * and ASan/UBSan:
 *   - feeding never fails and the store always commits;
 *   - the ack bound never passes the end of what the runner has sent;
 *   - exactly once: for every (thread, stream) that never wrote a '\r', the
 *     stored lines hold every byte written but the '\n's exactly once,
 *     whatever the cuts, idle flushes, replays and restarts; with '\r'
 *     (redrawn lines) they hold no more than was written.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "clock.h"
#include "fuzz_store.h"
#include "logtap_wire.h"

enum { MAX_RECS = 64, INSTANCES = 2, TIDS = 3, LITERAL_MAX = 31, NOTICE_TID = 99, NEWLINE_FILL_MAX = 300 };

enum op {
    OP_DATA,
    OP_DATA2,
    OP_DATA3,
    OP_BEGIN,
    OP_END,
    OP_NOTICE,
    OP_EXIT,
    OP_SEND,
    OP_SEND2,
    OP_DUP,
    OP_RESEND,
    OP_COMMIT,
    OP_IDLE,
    OP_RESTART,
    OP_SWITCH,
    OP_COUNT
};

typedef struct runner {
    char runner_id[32];
    uint64_t instance;
    lt_record_in recs[MAX_RECS];
    size_t n, sent;    /* records made; records sent (in order) */
    size_t sent_most;  /* records sent at least once */
    uint64_t next_pos; /* ring position of the next record */
    uint64_t acked;    /* what the collector has acknowledged */
    uint64_t owed;     /* acknowledged at the next commit */
    bool have_owed;
    /* per (thread, stream): bytes written, '\n' and '\r' among them */
    uint64_t bytes[TIDS][2], newlines[TIDS][2], crs[TIDS][2];
} runner;

static runner runners[INSTANCES];
static unsigned char payload[MAX_RECS][LT_WIRE_MAX_PAYLOAD];
static size_t npayload;
static int64_t first_id; /* lines of this input have higher IDs */

typedef struct input {
    const uint8_t *p;
    size_t left;
} input;

static unsigned take(input *in)
{
    if (!in->left)
        return 0;
    in->left--;
    return *in->p++;
}

static const char *const requests[] = {NULL, "req-a", "req-b"};

static lt_record_in *new_record(runner *r, int kind, unsigned tid)
{
    if (r->n == MAX_RECS)
        return NULL;
    lt_record_in *rec = &r->recs[r->n++];
    memset(rec, 0, sizeof *rec);
    rec->pos = r->next_pos;
    rec->ts_ns = 1700000000000000000ull + r->next_pos;
    rec->tid = tid;
    rec->kind = kind;
    return rec;
}

static void set_request(lt_record_in *rec, const char *request)
{
    rec->request = request;
    rec->request_len = request ? strlen(request) : 0;
}

/* How many of a record's bytes are '\n' and '\r'. */
typedef struct data_counts {
    uint64_t newlines, crs;
} data_counts;

static void count_bytes(data_counts *c, unsigned char byte, size_t times)
{
    c->newlines += byte == '\n' ? times : 0;
    c->crs += byte == '\r' ? times : 0;
}

/* A DATA record's bytes: literal, or a fill with a literal tail. Counted
 * as they are made: a byte loop over 64 KiB fills, under the fuzzer's
 * per-comparison instrumentation, cost more than the assembler did. */
static size_t make_data(input *in, unsigned char *buf, data_counts *counts)
{
    unsigned mode = take(in);
    size_t len = 0;
    if (mode & 0x80) {
        size_t fill_len;
        if (mode & 0x40)
            fill_len = LT_WIRE_MAX_PAYLOAD >> (take(in) % 17);
        else
            fill_len = ((size_t)take(in) << 8 | take(in)) + 1;
        static const unsigned char fills[] = {'x', '\n', '\r', 0};
        unsigned char fill = fills[mode & 3];
        if (fill == 0)
            fill = (unsigned char)take(in);
        /* A newline fill is that many empty lines, a store insert each:
         * 64 Ki of them made one input cost a tenth of a second, and a few
         * hundred test every cut as well. */
        if (fill == '\n' && fill_len > NEWLINE_FILL_MAX)
            fill_len = NEWLINE_FILL_MAX;
        memset(buf, fill, fill_len);
        count_bytes(counts, fill, fill_len);
        len = fill_len;
    }
    size_t literal = mode & 0x80 ? (mode >> 2) & 15 : mode & LITERAL_MAX;
    for (size_t i = 0; i < literal && len < LT_WIRE_MAX_PAYLOAD && in->left; i++) {
        buf[len] = (unsigned char)take(in);
        count_bytes(counts, buf[len++], 1);
    }
    return len;
}

static void add_record(input *in, runner *r, enum op op)
{
    unsigned tid = take(in) % TIDS + 1;
    unsigned which = take(in);
    const char *request = requests[which % 3];
    lt_record_in *rec;
    switch (op) {
    case OP_DATA:
    case OP_DATA2:
    case OP_DATA3: {
        rec = new_record(r, LT_REC_DATA, tid);
        if (!rec)
            return;
        rec->fd = (which >> 2) % 2 + 1;
        set_request(rec, request);
        unsigned char *buf = payload[npayload++];
        rec->data = buf;
        data_counts counts = {0, 0};
        rec->data_len = make_data(in, buf, &counts);
        r->newlines[tid - 1][rec->fd - 1] += counts.newlines;
        r->crs[tid - 1][rec->fd - 1] += counts.crs;
        r->bytes[tid - 1][rec->fd - 1] += rec->data_len;
        break;
    }
    case OP_BEGIN:
    case OP_END:
        rec = new_record(r, op == OP_BEGIN ? LT_REC_BEGIN : LT_REC_END, tid);
        if (!rec)
            return;
        set_request(rec, requests[which % 2 + 1]);
        if (op == OP_BEGIN && (which & 4)) {
            rec->data = (const unsigned char *)"caller";
            rec->data_len = 6;
        }
        if (op == OP_END && (which & 4)) { /* a failed request's error, or a malformed one */
            static const char error[] = "Boom\0it failed";
            rec->data = (const unsigned char *)((which & 8) ? error : "no-nul");
            rec->data_len = (which & 8) ? sizeof error - 1 : 6;
        }
        break;
    case OP_NOTICE:
        rec = new_record(r, LT_REC_NOTICE, NOTICE_TID);
        if (!rec)
            return;
        rec->data = (const unsigned char *)"[logtap: a notice]";
        rec->data_len = 18;
        break;
    default:
        rec = new_record(r, LT_REC_EXIT, tid);
        if (!rec)
            return;
        break;
    }
    r->next_pos += 64 + ((rec->data_len + 7) & ~(size_t)7);
    if (getenv("FUZZ_TRACE")) {
        size_t nl = 0, shown = rec->data_len < 24 ? rec->data_len : 24;
        for (size_t i = 0; i < rec->data_len; i++)
            nl += rec->data && rec->data[i] == '\n';
        fprintf(stderr,
                "  record %zu: kind %d tid %u fd %d pos %llu len %zu (%zu newlines) request %s data '%.*s'\n",
                r->n - 1, rec->kind, rec->tid, rec->fd, (unsigned long long)rec->pos, rec->data_len, nl,
                rec->request ? rec->request : "-", (int)shown, rec->data ? (const char *)rec->data : "");
    }
}

/* Feed records [from, to) of r as one batch, as its sender packs them. */
static void feed(runner *r, size_t from, size_t to)
{
    if (from >= to)
        return;
    lt_proc_meta m = {.runner_id = r->runner_id,
                      .app_id = "app",
                      .version_id = "v1",
                      .source = "run",
                      .pid = 4242,
                      .instance = r->instance,
                      .has_range = true,
                      .acked = r->acked,
                      .end = to < r->n ? r->recs[to].pos : r->next_pos};
    uint64_t bound = 0;
    int have = 0;
    if (getenv("FUZZ_TRACE"))
        fprintf(stderr, "  feed [%zu, %zu) pos %llu..%llu acked %llu\n", from, to,
                (unsigned long long)r->recs[from].pos, (unsigned long long)m.end,
                (unsigned long long)r->acked);
    long fresh = lt_assembler_feed(fuzz_asm, &m, &r->recs[from], to - from, &bound, &have);
    FUZZ_REQUIRE(fresh >= 0);
    if (to > r->sent_most) /* whether or not this batch gave a bound */
        r->sent_most = to;
    if (have) {
        /* Never beyond what the runner has sent (a late duplicate's or a
         * resent batch's bound may pass its own end). */
        FUZZ_REQUIRE(bound <= (r->sent_most < r->n ? r->recs[r->sent_most].pos : r->next_pos));
        r->owed = bound; /* the latest bound, as ingest remembers it */
        r->have_owed = true;
    }
}

static void send_next(runner *r, size_t count)
{
    size_t to = r->sent + count < r->n ? r->sent + count : r->n;
    feed(r, r->sent, to);
    r->sent = to;
}

/* The sender starts again from what the collector acknowledged. */
static void resend(runner *r)
{
    size_t i = 0;
    while (i < r->sent && r->recs[i].pos < r->acked)
        i++;
    r->sent = i;
}

static void commit(void)
{
    FUZZ_REQUIRE(lt_store_commit(fuzz_st) == 0);
    for (int k = 0; k < INSTANCES; k++) {
        runner *r = &runners[k];
        if (r->have_owed && r->owed > r->acked) {
            /* The sender rounds an ack up to the end of the record it
             * falls in (preload/sender.c, apply_ack). */
            size_t i = 0;
            while (i < r->sent && r->recs[i].pos < r->owed)
                i++;
            r->acked = i < r->n ? r->recs[i].pos : r->next_pos;
        }
        r->have_owed = false;
    }
}

static void restart(void)
{
    commit();
    lt_assembler_free(fuzz_asm);
    fuzz_asm = lt_assembler_new(fuzz_st);
    FUZZ_REQUIRE(fuzz_asm != NULL);
    for (int k = 0; k < INSTANCES; k++) {
        runners[k].have_owed = false; /* the acks died with the collector */
        resend(&runners[k]);
    }
}

typedef struct stored {
    uint64_t bytes[INSTANCES][TIDS][2];
} stored;

static int count_line(const lt_line *line, void *ctx)
{
    stored *s = ctx;
    for (int k = 0; k < INSTANCES; k++)
        if (strcmp(line->runner_id, runners[k].runner_id) == 0 && line->tid >= 1 && line->tid <= TIDS &&
            (line->stream == 1 || line->stream == 2))
            s->bytes[k][line->tid - 1][line->stream - 1] += line->message_len;
    return 0;
}

/* Every line of this input's runners, counted per (thread, stream). */
static void check_exactly_once(void)
{
    /* One reader per store: opening one per input cost as much as the
     * rest of the input. */
    static lt_store_reader *rd;
    static unsigned long rd_of;
    if (!rd || rd_of != fuzz_generation) {
        lt_store_reader_close(rd);
        char err[256];
        rd = lt_store_reader_open(fuzz_dir, err, sizeof err);
        rd_of = fuzz_generation;
    }
    FUZZ_REQUIRE(rd != NULL);
    lt_query q = LT_QUERY_INIT;
    q.after_id = first_id;
    stored s;
    memset(&s, 0, sizeof s);
    FUZZ_REQUIRE(lt_store_query(rd, &q, count_line, &s) >= 0);
    for (int k = 0; k < INSTANCES; k++) {
        const runner *r = &runners[k];
        for (int t = 0; t < TIDS; t++)
            for (int f = 0; f < 2; f++) {
                uint64_t got = s.bytes[k][t][f], written = r->bytes[t][f] - r->newlines[t][f];
                if (r->crs[t][f] == 0 && got != written)
                    fprintf(stderr, "runner %d thread %d stream %d: %llu bytes stored, %llu written\n", k,
                            t + 1, f + 1, (unsigned long long)got, (unsigned long long)written);
                FUZZ_REQUIRE(r->crs[t][f] != 0 || got == written);
                FUZZ_REQUIRE(got <= r->bytes[t][f]);
            }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_store_next(1000);
    input in = {data, size};
    memset(runners, 0, sizeof runners);
    npayload = 0;
    first_id = lt_store_last_id(fuzz_st);
    for (int k = 0; k < INSTANCES; k++) {
        snprintf(runners[k].runner_id, sizeof runners[k].runner_id, "fz-%lu-%d", fuzz_serial, k);
        runners[k].instance = (uint64_t)fuzz_serial << 4 | (uint64_t)k;
    }
    runner *cur = &runners[0];
    static int trace = -1;
    if (trace < 0)
        trace = getenv("FUZZ_TRACE") != NULL;
    while (in.left) {
        enum op op = (enum op)(take(&in) % OP_COUNT);
        if (trace)
            fprintf(stderr, "op %d on runner %d (n %zu sent %zu acked %llu next %llu)\n", (int)op,
                    (int)(cur - runners), cur->n, cur->sent, (unsigned long long)cur->acked,
                    (unsigned long long)cur->next_pos);
        switch (op) {
        case OP_SEND:
        case OP_SEND2: send_next(cur, take(&in) % 8 + 1); break;
        case OP_DUP: {
            size_t from = cur->sent ? take(&in) % cur->sent : 0;
            feed(cur, from, cur->sent);
            break;
        }
        case OP_RESEND: resend(cur); break;
        case OP_COMMIT: commit(); break;
        case OP_IDLE: lt_assembler_flush_idle(fuzz_asm, lt_mono_ms() + 3600 * 1000, 5000); break;
        case OP_RESTART: restart(); break;
        case OP_SWITCH: cur = &runners[(cur - runners + 1) % INSTANCES]; break;
        default: add_record(&in, cur, op); break;
        }
    }
    for (int k = 0; k < INSTANCES; k++) {
        resend(&runners[k]);
        send_next(&runners[k], MAX_RECS);
    }
    lt_assembler_flush_all(fuzz_asm);
    commit();
    check_exactly_once();
    return 0;
}
