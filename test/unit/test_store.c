/* test_store.c -- the SQLite store on a real file: append/commit/query with
 * every filter, cursors, requests, runners, schema versioning, and followers
 * waking on commits from another thread. */
#include "unit.h"
#include "clock.h"

#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "store.h"

#define T0 INT64_C(1795618686000000000)
#define SEC INT64_C(1000000000)

static char *data_dir;

/* ---- helpers ---- */

struct collected {
    int64_t ids[64];
    long count;
    long stop_after; /* 0 = never stop */
};

static int collect(const lt_line *line, void *ctx)
{
    struct collected *c = ctx;
    if (c->count < 64)
        c->ids[c->count] = line->id;
    c->count++;
    return c->stop_after != 0 && c->count >= c->stop_after;
}

/* Run `q` and compare the IDs delivered with `expected` (0-terminated). */
#define CHECK_QUERY(rd, q, ...)                                                                              \
    do {                                                                                                     \
        const int64_t expected_ids[] = {__VA_ARGS__, 0};                                                     \
        check_query(rd, q, expected_ids, __LINE__);                                                          \
    } while (0)

static void check_query(lt_store_reader *rd, const lt_query *q, const int64_t *expected, int line)
{
    struct collected c = {0};
    long n = lt_store_query(rd, q, collect, &c);
    long expected_count = 0;
    while (expected[expected_count] != 0)
        expected_count++;
    bool same = n == expected_count && c.count == expected_count;
    for (long i = 0; same && i < expected_count; i++)
        same = c.ids[i] == expected[i];
    if (!same) {
        fprintf(stderr, "  query at line %d returned %ld:", line, n);
        for (long i = 0; i < c.count && i < 64; i++)
            fprintf(stderr, " %lld", (long long)c.ids[i]);
        fprintf(stderr, "\n");
    }
    CHECK(same);
}

static lt_store *open_store(void)
{
    char err[256] = "";
    lt_store *st = lt_store_open(data_dir, err, sizeof err);
    if (st == NULL)
        fprintf(stderr, "lt_store_open: %s\n", err);
    CHECK(st != NULL);
    return st;
}

static lt_store_reader *open_reader(void)
{
    char err[256] = "";
    lt_store_reader *rd = lt_store_reader_open(data_dir, err, sizeof err);
    if (rd == NULL)
        fprintf(stderr, "lt_store_reader_open: %s\n", err);
    CHECK(rd != NULL);
    return rd;
}

static const char binary_message[] = "bin\0needle\xff";

/* The dataset of the filter tests; IDs are 1..7 in this order. */
static void append_dataset(lt_store *st)
{
    struct {
        int64_t ts;
        const char *runner, *app, *version, *source, *request;
        int stream, level;
        const char *message;
        size_t len;
    } rows[] = {
        {T0 + 0 * SEC, "r1", "a1", "v1", "run", NULL, 1, LT_LEVEL_STDOUT, "starting up", 0},
        {T0 + 1 * SEC, "r1", "a1", "v1", "run", "q1", 1, LT_LEVEL_INFO, "INFO handling q1", 0},
        {T0 + 2 * SEC, "r2", "a2", "v2", "gateway", "q2", 2, LT_LEVEL_ERROR, "ERROR in q2 needle", 0},
        {T0 + 3 * SEC, "r1", "a1", "v1", "run", "q1", 2, LT_LEVEL_STDERR, "stderr needle", 0},
        {T0 + 4 * SEC, "r2", "a2", "v3", "gateway", NULL, 1, LT_LEVEL_WARN, "WARN idle", 0},
        {T0 + 5 * SEC, "r1", "a1", "v1", "run", NULL, 1, LT_LEVEL_DEBUG, "debug Needle", 0},
        {T0 + 6 * SEC, "r1", "a1", "v1", "run", NULL, 1, LT_LEVEL_STDOUT, binary_message,
         sizeof binary_message - 1},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        lt_line line = {
            .ts_ns = rows[i].ts,
            .runner_id = rows[i].runner,
            .request_id = rows[i].request,
            .app_id = rows[i].app,
            .version_id = rows[i].version,
            .source = rows[i].source,
            .message = rows[i].message,
            .message_len = rows[i].len ? rows[i].len : strlen(rows[i].message),
            .stream = rows[i].stream,
            .level = rows[i].level,
            .pid = 100 + (int64_t)i,
            .tid = 200 + (int64_t)i,
        };
        CHECK_INT(lt_store_append(st, &line), 0);
    }
}

/* ---- tests ---- */

static void test_open_creates_wal_store(void)
{
    lt_store *st = open_store();
    char path[700];
    snprintf(path, sizeof path, "%s/logtap.db", data_dir);
    struct stat info;
    CHECK(stat(path, &info) == 0);

    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_stmt *s;
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL);
    CHECK(sqlite3_step(s) == SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL);
    CHECK(sqlite3_step(s) == SQLITE_ROW);
    CHECK_INT(sqlite3_column_int(s, 0), 9); /* 2 registry, 3 delivery state, 4 unattributed, 5 tenants,
                                               6 instance owners, 7 the lists' start-time
                                               indexes, 8 request states, 9 drains */
    sqlite3_finalize(s);
    /* A new store can give pages back to the disk (retention). */
    sqlite3_prepare_v2(db, "PRAGMA auto_vacuum", -1, &s, NULL);
    CHECK(sqlite3_step(s) == SQLITE_ROW);
    CHECK_INT(sqlite3_column_int(s, 0), 2); /* INCREMENTAL */
    sqlite3_finalize(s);
    sqlite3_prepare_v2(db,
                       "SELECT count(*) FROM sqlite_master WHERE type IN ('index', 'table') AND name IN"
                       " ('logs_by_runner', 'logs_by_request', 'logs_by_app', 'logs_by_ts',"
                       "  'delivery_instances', 'delivery_streams')",
                       -1, &s, NULL);
    CHECK(sqlite3_step(s) == SQLITE_ROW);
    CHECK_INT(sqlite3_column_int(s, 0), 6);
    sqlite3_finalize(s);
    sqlite3_close(db);

    CHECK_INT(lt_store_last_id(st), 0);
    CHECK_INT(lt_store_pending(st), 0);
    CHECK_INT(lt_store_commit(st), 0); /* nothing to commit is fine */
    lt_store_close(st);
}

/* Lines 2 and 7 of the dataset, field by field. */
static int check_line(const lt_line *line, void *ctx)
{
    (void)ctx;
    if (line->id == 7) {
        CHECK_INT(line->ts_ns, T0 + 6 * SEC);
        CHECK_STR(line->runner_id, "r1");
        CHECK(line->request_id == NULL);
        CHECK_STR(line->app_id, "a1");
        CHECK_STR(line->version_id, "v1");
        CHECK_STR(line->source, "run");
        CHECK_INT(line->stream, 1);
        CHECK_INT(line->level, LT_LEVEL_STDOUT);
        CHECK_INT(line->pid, 106);
        CHECK_INT(line->tid, 206);
        CHECK_INT(line->message_len, sizeof binary_message - 1);
        CHECK(memcmp(line->message, binary_message, sizeof binary_message - 1) == 0);
    } else {
        CHECK_INT(line->id, 2);
        CHECK_STR(line->request_id, "q1");
        CHECK_INT(line->level, LT_LEVEL_INFO);
        CHECK_INT(line->stream, 1);
        CHECK_INT(line->message_len, strlen("INFO handling q1"));
        CHECK(memcmp(line->message, "INFO handling q1", line->message_len) == 0);
    }
    return 0;
}

static void test_commit_visibility_and_fidelity(void)
{
    lt_store *st = open_store();
    lt_store_reader *rd = open_reader();
    lt_query all = LT_QUERY_INIT;

    append_dataset(st);
    CHECK_INT(lt_store_pending(st), 7);
    CHECK_INT(lt_store_last_id(st), 0); /* not committed yet */
    struct collected c = {0};
    CHECK_INT(lt_store_query(rd, &all, collect, &c), 0); /* readers see commits only */

    CHECK_INT(lt_store_commit(st), 0);
    CHECK_INT(lt_store_pending(st), 0);
    CHECK_INT(lt_store_last_id(st), 7);
    CHECK_QUERY(rd, &all, 1, 2, 3, 4, 5, 6, 7);

    /* Every field comes back as stored; the message byte for byte. */
    lt_query q = LT_QUERY_INIT;
    q.after_id = 6;
    CHECK_INT(lt_store_query(rd, &q, check_line, NULL), 1);
    q.after_id = 1;
    q.limit = 1;
    CHECK_INT(lt_store_query(rd, &q, check_line, NULL), 1);
    lt_store_reader_close(rd);
    lt_store_close(st);
}

static void test_filters(void)
{
    lt_store_reader *rd = open_reader();
    lt_query q;

#define RESET_QUERY()                                                                                        \
    do {                                                                                                     \
        lt_query fresh = LT_QUERY_INIT;                                                                      \
        q = fresh;                                                                                           \
    } while (0)
    RESET_QUERY();
    q.runner_id = "r1";
    CHECK_QUERY(rd, &q, 1, 2, 4, 6, 7);
    RESET_QUERY();
    q.runner_id = "nobody";
    CHECK_QUERY(rd, &q, 0);
    RESET_QUERY();
    q.request_id = "q1";
    CHECK_QUERY(rd, &q, 2, 4);
    RESET_QUERY();
    q.request_id = "q2";
    CHECK_QUERY(rd, &q, 3);
    RESET_QUERY();
    q.app_id = "a2";
    CHECK_QUERY(rd, &q, 3, 5);
    RESET_QUERY();
    q.app_id = "a2";
    q.version_id = "v2";
    CHECK_QUERY(rd, &q, 3);
    RESET_QUERY();
    q.version_id = "v3";
    CHECK_QUERY(rd, &q, 5);
    RESET_QUERY();
    q.source = "gateway";
    CHECK_QUERY(rd, &q, 3, 5);
    RESET_QUERY();
    q.search = "needle"; /* case-sensitive, bytes after NUL count */
    CHECK_QUERY(rd, &q, 3, 4, 7);
    RESET_QUERY();
    q.search = "Needle";
    CHECK_QUERY(rd, &q, 6);
    RESET_QUERY();
    q.search = "\xff";
    CHECK_QUERY(rd, &q, 7);
    RESET_QUERY();
    q.search = "";
    CHECK_QUERY(rd, &q, 1, 2, 3, 4, 5, 6, 7);
    RESET_QUERY();
    q.search = "100%_"; /* no LIKE wildcards */
    CHECK_QUERY(rd, &q, 0);
    RESET_QUERY();
    q.min_level = LT_LEVEL_WARN;
    CHECK_QUERY(rd, &q, 3, 4, 5);
    RESET_QUERY();
    q.min_level = LT_LEVEL_ERROR;
    CHECK_QUERY(rd, &q, 3);
    RESET_QUERY();
    q.since_ns = T0 + 2 * SEC; /* inclusive */
    CHECK_QUERY(rd, &q, 3, 4, 5, 6, 7);
    RESET_QUERY();
    q.until_ns = T0 + 2 * SEC; /* exclusive */
    CHECK_QUERY(rd, &q, 1, 2);
    RESET_QUERY();
    q.since_ns = T0 + 1 * SEC;
    q.until_ns = T0 + 4 * SEC;
    CHECK_QUERY(rd, &q, 2, 3, 4);
    RESET_QUERY();
    q.after_id = 4;
    CHECK_QUERY(rd, &q, 5, 6, 7);
    RESET_QUERY();
    q.after_id = 7;
    CHECK_QUERY(rd, &q, 0);

    /* limit and newest */
    RESET_QUERY();
    q.limit = 3;
    CHECK_QUERY(rd, &q, 1, 2, 3);
    RESET_QUERY();
    q.limit = 3;
    q.newest = true;
    CHECK_QUERY(rd, &q, 5, 6, 7);
    RESET_QUERY();
    q.limit = 3;
    q.newest = true;
    q.runner_id = "r1";
    CHECK_QUERY(rd, &q, 4, 6, 7);
    RESET_QUERY();
    q.limit = 2;
    q.newest = true;
    q.runner_id = "r1";
    q.until_ns = T0 + 4 * SEC;
    CHECK_QUERY(rd, &q, 2, 4);
    RESET_QUERY();
    q.newest = true; /* no limit: everything */
    CHECK_QUERY(rd, &q, 1, 2, 3, 4, 5, 6, 7);
    RESET_QUERY();
    q.limit = 100;
    q.newest = true;
    CHECK_QUERY(rd, &q, 1, 2, 3, 4, 5, 6, 7);
    RESET_QUERY();
    q.limit = 5;
    q.newest = true;
    q.after_id = 5;
    CHECK_QUERY(rd, &q, 6, 7);

    /* Everything at once. */
    RESET_QUERY();
    q.runner_id = "r1";
    q.app_id = "a1";
    q.version_id = "v1";
    q.source = "run";
    q.search = "needle";
    q.since_ns = T0 + 3 * SEC;
    q.min_level = LT_LEVEL_STDOUT;
    CHECK_QUERY(rd, &q, 4, 7);

    /* "Any of" sets, ANDed with the single fields (the access narrowing). */
    RESET_QUERY();
    q.apps = (lt_any_of){{"a2", "nope"}, 2};
    CHECK_QUERY(rd, &q, 3, 5);
    RESET_QUERY();
    q.runners = (lt_any_of){{"r2", "r1"}, 2};
    q.versions = (lt_any_of){{"v3", "v1"}, 2};
    CHECK_QUERY(rd, &q, 1, 2, 4, 5, 6, 7);
    RESET_QUERY();
    q.requests = (lt_any_of){{"q2", "q1"}, 2};
    q.app_id = "a1";
    CHECK_QUERY(rd, &q, 2, 4);
    /* Case-folded search and exclusion; the bytes after a NUL still count. */
    RESET_QUERY();
    q.search = "NEEDLE";
    q.ignore_case = true;
    CHECK_QUERY(rd, &q, 3, 4, 6, 7);
    RESET_QUERY();
    q.exclude = "needle";
    CHECK_QUERY(rd, &q, 1, 2, 5, 6);
    RESET_QUERY();
    q.exclude = "needle";
    q.ignore_case = true;
    q.runner_id = "r1";
    CHECK_QUERY(rd, &q, 1, 2);
    RESET_QUERY();
    q.search = "needle";
    q.exclude = "ERROR";
    q.limit = 1;
    q.newest = true;
    CHECK_QUERY(rd, &q, 7);

    /* The callback can stop the query. */
    RESET_QUERY();
    struct collected c = {.stop_after = 2};
    CHECK_INT(lt_store_query(rd, &q, collect, &c), 2);
    /* ...and the reader is usable again right after. */
    CHECK_QUERY(rd, &q, 1, 2, 3, 4, 5, 6, 7);

    /* Paging with the cursor visits every line exactly once. */
    int64_t seen[16];
    int n = 0;
    RESET_QUERY();
    q.limit = 2;
    for (int page = 0; page < 10; page++) {
        struct collected p = {0};
        long got = lt_store_query(rd, &q, collect, &p);
        CHECK(got >= 0 && got <= 2);
        if (got <= 0)
            break;
        for (long i = 0; i < got; i++)
            seen[n++] = p.ids[i];
        q.after_id = p.ids[got - 1];
    }
    CHECK_INT(n, 7);
    for (int i = 0; i < n; i++)
        CHECK_INT(seen[i], i + 1);
#undef RESET_QUERY
    lt_store_reader_close(rd);
}

static void test_runners_and_requests(void)
{
    lt_store *st = open_store();
    lt_store_reader *rd = open_reader();
    lt_request_info info;

    CHECK_INT(lt_store_runner_known(rd, "r1"), 1); /* has lines */
    CHECK_INT(lt_store_runner_known(rd, "r9"), 0);
    CHECK_INT(lt_store_runner_seen(st, "r9", "app9", "v9", "run", T0), 0);
    CHECK_INT(lt_store_runner_known(rd, "r9"), 0); /* not committed yet */
    CHECK_INT(lt_store_commit(st), 0);
    CHECK_INT(lt_store_runner_known(rd, "r9"), 1);                      /* seen, no lines */
    CHECK_INT(lt_store_runner_seen(st, "r9", "", "", "", T0 + SEC), 0); /* keeps app */
    CHECK_INT(lt_store_commit(st), 0);

    CHECK_INT(lt_store_request_get(rd, "rq", &info), 0);
    CHECK_INT(lt_store_request_begin(st, "rq", "r9", "app9", "v9", NULL, T0 + 10 * SEC), 0);
    CHECK_INT(lt_store_commit(st), 0);
    CHECK_INT(lt_store_request_get(rd, "rq", &info), 1);
    CHECK_STR(info.runner_id, "r9");
    CHECK_STR(info.app_id, "app9");
    CHECK_STR(info.version_id, "v9");
    CHECK_INT(info.begin_ns, T0 + 10 * SEC);
    CHECK_INT(info.end_ns, 0); /* in progress */

    /* A second BEGIN (another thread) keeps the first begin time. */
    CHECK_INT(lt_store_request_begin(st, "rq", "r9", "app9", "v9", NULL, T0 + 11 * SEC), 0);
    CHECK_INT(lt_store_request_end(st, "rq", T0 + 12 * SEC), 0);
    CHECK_INT(lt_store_commit(st), 0);
    CHECK_INT(lt_store_request_get(rd, "rq", &info), 1);
    CHECK_INT(info.begin_ns, T0 + 10 * SEC);
    CHECK_INT(info.end_ns, T0 + 12 * SEC); /* completed */

    /* A BEGIN that happened before the END arrives late: still completed. */
    CHECK_INT(lt_store_request_begin(st, "rq", "r9", "app9", "v9", NULL, T0 + 11 * SEC), LT_BEGIN_COMPLETED);
    CHECK_INT(lt_store_commit(st), 0);
    CHECK_INT(lt_store_request_get(rd, "rq", &info), 1);
    CHECK_INT(info.end_ns, T0 + 12 * SEC);

    /* A later BEGIN does not reopen it either (a completed request stays
     * completed); a later END moves the end time, a stale one does not. */
    CHECK_INT(lt_store_request_begin(st, "rq", "r9", "app9", "v9", NULL, T0 + 13 * SEC), LT_BEGIN_COMPLETED);
    CHECK_INT(lt_store_commit(st), 0);
    CHECK_INT(lt_store_request_get(rd, "rq", &info), 1);
    CHECK_INT(info.state, LT_REQUEST_COMPLETED);
    CHECK_INT(info.begin_ns, T0 + 10 * SEC);
    CHECK_INT(lt_store_request_end(st, "rq", T0 + 14 * SEC), 0);
    CHECK_INT(lt_store_request_end(st, "rq", T0 + 13 * SEC), 0); /* a stale END: latest wins */
    CHECK_INT(lt_store_commit(st), 0);
    CHECK_INT(lt_store_request_get(rd, "rq", &info), 1);
    CHECK_INT(info.end_ns, T0 + 14 * SEC);

    /* END of an unknown request is harmless and creates nothing. */
    CHECK_INT(lt_store_request_end(st, "ghost", T0), 0);
    CHECK_INT(lt_store_commit(st), 0);
    CHECK_INT(lt_store_request_get(rd, "ghost", &info), 0);

    /* Lines naming a request whose BEGIN never arrived still make it known. */
    CHECK_INT(lt_store_request_get(rd, "q1", &info), 1);
    CHECK_STR(info.runner_id, "r1");
    CHECK_INT(info.begin_ns, T0 + 1 * SEC);
    CHECK_INT(info.end_ns, 0);

    lt_store_reader_close(rd);
    lt_store_close(st);
}

struct listed {
    char ids[16][LT_WIRE_MAX_ID + 1];
    int64_t lines[16];
    int64_t starts[16];
    int n;
};

static int list_runner(const lt_runner_row *row, void *ctx)
{
    struct listed *l = ctx;
    snprintf(l->ids[l->n], sizeof l->ids[0], "%s", row->runner_id);
    l->starts[l->n] = row->first_ns;
    l->lines[l->n++] = row->lines;
    return 0;
}

static int list_request(const lt_request_row *row, void *ctx)
{
    struct listed *l = ctx;
    snprintf(l->ids[l->n], sizeof l->ids[0], "%s", row->request_id);
    l->starts[l->n] = row->begin_ns;
    l->lines[l->n++] = row->lines;
    return 0;
}

/* What lists deliver: "a,b,c" (IDs in order). */
static void listed_text(const struct listed *l, char *out, size_t size)
{
    out[0] = '\0';
    for (int i = 0; i < l->n; i++)
        snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? "," : "", l->ids[i]);
}

#define CHECK_LIST(fn, cb, q, want)                                                                          \
    do {                                                                                                     \
        struct listed l_ = {0};                                                                              \
        char text_[512];                                                                                     \
        CHECK(fn(rd, (q), cb, &l_) == l_.n);                                                                 \
        listed_text(&l_, text_, sizeof text_);                                                               \
        CHECK_STR(text_, want);                                                                              \
    } while (0)

static void test_lists(void)
{
    lt_store *st = open_store();
    /* The dataset's runners r1, r2 have lines but no rows; these have rows. */
    CHECK_INT(lt_store_runner_seen(st, "L1", "la", "v1", "run", T0 + 100 * SEC), 0);
    CHECK_INT(lt_store_runner_seen(st, "L2", "lb", "v2", "gateway", T0 + 101 * SEC), 0);
    CHECK_INT(lt_store_runner_seen(st, "L3", "la", "v2", "deploy", T0 + 101 * SEC), 0); /* same start */
    CHECK_INT(lt_store_request_begin(st, "Q1", "L1", "la", "v1", "bob", T0 + 110 * SEC), 0);
    CHECK_INT(lt_store_request_end(st, "Q1", T0 + 111 * SEC), 0);
    CHECK_INT(lt_store_request_begin(st, "Q2", "L2", "lb", "v2", "carol", T0 + 112 * SEC), 0);
    CHECK_INT(lt_store_request_begin(st, "Q3", "L3", "la", "v2", NULL, T0 + 113 * SEC), 0);
    CHECK_INT(lt_store_commit(st), 0);
    lt_store_reader *rd = open_reader();
    /* Rows of earlier tests (r9, rq) start before T0 + 100 s. */
#define SINCE .since_ns = T0 + 100 * SEC
    lt_list_query q = {.limit = 10, SINCE};

    /* Newest first; equal starts by ID, descending. */
    CHECK_LIST(lt_store_list_runners, list_runner, &q, "L3,L2,L1");
    CHECK_LIST(lt_store_list_requests, list_request, &q, "Q3,Q2,Q1");
    q.apps = (lt_any_of){{"la"}, 1};
    CHECK_LIST(lt_store_list_runners, list_runner, &q, "L3,L1");
    q.versions = (lt_any_of){{"v2", "v9"}, 2};
    CHECK_LIST(lt_store_list_runners, list_runner, &q, "L3");
    CHECK_LIST(lt_store_list_requests, list_request, &q, "Q3");
    q = (lt_list_query){.limit = 10, SINCE, .sources = {{"gateway", "run"}, 2}};
    CHECK_LIST(lt_store_list_runners, list_runner, &q, "L2,L1");
    CHECK_LIST(lt_store_list_requests, list_request, &q, "Q2,Q1"); /* the runner's source */
    q = (lt_list_query){.limit = 10, SINCE, .states = LT_LIST_IN_PROGRESS};
    CHECK_LIST(lt_store_list_requests, list_request, &q, "Q3,Q2");
    q.states = LT_LIST_COMPLETED;
    CHECK_LIST(lt_store_list_requests, list_request, &q, "Q1");
    q = (lt_list_query){.limit = 10, .callers = {{"bob", "carol"}, 2}};
    CHECK_LIST(lt_store_list_requests, list_request, &q, "Q2,Q1");
    q = (lt_list_query){.limit = 10, .runners = {{"L3"}, 1}};
    CHECK_LIST(lt_store_list_requests, list_request, &q, "Q3");
    q = (lt_list_query){.limit = 10, .since_ns = T0 + 101 * SEC, .until_ns = T0 + 113 * SEC};
    CHECK_LIST(lt_store_list_runners, list_runner, &q, "L3,L2");
    CHECK_LIST(lt_store_list_requests, list_request, &q, "Q2,Q1");

    /* Paging a row at a time: each row once, in order, while rows are
     * added (they start later, before the cursor). */
    q = (lt_list_query){.limit = 1, SINCE};
    struct listed all = {0};
    char added[8];
    for (int page = 0; page < 8; page++) {
        struct listed one = {0};
        CHECK(lt_store_list_runners(rd, &q, list_runner, &one) == one.n);
        if (one.n == 0)
            break;
        memcpy(all.ids[all.n++], one.ids[0], sizeof one.ids[0]);
        q.has_cursor = true;
        q.cursor_id = all.ids[all.n - 1];
        q.cursor_start_ns = one.starts[0];
        snprintf(added, sizeof added, "N%d", page);
        CHECK_INT(lt_store_runner_seen(st, added, "la", "v1", "run", T0 + 200 * SEC), 0);
        CHECK_INT(lt_store_commit(st), 0);
    }
    char text[512];
    listed_text(&all, text, sizeof text);
    CHECK_STR(text, "L3,L2,L1");
#undef SINCE

    /* Line counts: a runner's lines; a request's lines in its app. */
    q = (lt_list_query){.limit = 10, .apps = {{"a1"}, 1}};
    CHECK_INT(lt_store_runner_seen(st, "r1", "a1", "v1", "run", T0), 0);
    CHECK_INT(lt_store_request_begin(st, "q1", "r1", "a1", "v1", NULL, T0 + SEC), 0);
    CHECK_INT(lt_store_commit(st), 0);
    struct listed counted = {0};
    CHECK(lt_store_list_runners(rd, &q, list_runner, &counted) == 1);
    CHECK_INT(counted.lines[0], 5);
    counted.n = 0;
    CHECK(lt_store_list_requests(rd, &q, list_request, &counted) == 1);
    CHECK_INT(counted.lines[0], 2);

    lt_store_reader_close(rd);
    lt_store_close(st);
}

/* Request states (store.h): announced (IN_QUEUE, queue positions per
 * app), claimed only by the announced app, begun, held by instances and
 * completed by the death of the last of them, or by an error END. */
static void test_request_lifecycle(void)
{
    char *dir = unit_make_temp_dir();
    char err[256];
    lt_store *st = lt_store_open(dir, err, sizeof err);
    REQUIRE(st != NULL);
    lt_store_reader *rd = lt_store_reader_open(dir, err, sizeof err);
    REQUIRE(rd != NULL);
    lt_request_info info;

    CHECK_INT(lt_store_request_enqueue(st, "q-a", "app", "carol", T0), LT_ENQUEUE_CREATED);
    CHECK_INT(lt_store_request_enqueue(st, "q-b", "app", NULL, T0 + SEC), LT_ENQUEUE_CREATED);
    CHECK_INT(lt_store_request_enqueue(st, "q-c", "app", NULL, T0 + SEC), LT_ENQUEUE_CREATED); /* same time */
    CHECK_INT(lt_store_request_enqueue(st, "q-x", "other", NULL, T0 + 2 * SEC), LT_ENQUEUE_CREATED);
    CHECK_INT(lt_store_request_enqueue(st, "q-a", "app", "carol", T0 + 3 * SEC), LT_ENQUEUE_EXISTS);
    CHECK_INT(lt_store_request_enqueue(st, "q-a", "app", "mallory", T0 + 3 * SEC), LT_ENQUEUE_CONFLICT);
    CHECK_INT(lt_store_request_enqueue(st, "q-a", "other", NULL, T0 + 3 * SEC), LT_ENQUEUE_CONFLICT);
    CHECK_INT(lt_store_request_enqueue(st, "q-b", "app", "dave", T0 + 3 * SEC),
              LT_ENQUEUE_EXISTS); /* binds */
    CHECK_INT(lt_store_commit(st), 0);
    CHECK_INT(lt_store_request_get(rd, "q-a", &info), 1);
    CHECK_INT(info.state, LT_REQUEST_IN_QUEUE);
    CHECK_INT(info.queue_position, 0);
    CHECK_STR(info.caller, "carol");
    CHECK_STR(info.runner_id, "");
    CHECK_INT(info.queued_ns, T0);
    CHECK_INT(lt_store_request_get(rd, "q-b", &info), 1);
    CHECK_INT(info.queue_position, 1);
    CHECK_STR(info.caller, "dave");
    CHECK_INT(lt_store_request_get(rd, "q-c", &info), 1);
    CHECK_INT(info.queue_position, 2);
    CHECK_INT(lt_store_request_get(rd, "q-x", &info), 1);
    CHECK_INT(info.queue_position, 0); /* another app's queue */

    /* Another app's runner cannot claim an announced request. */
    CHECK_INT(lt_store_request_begin(st, "q-a", "r-thief", "thief", "v", "mallory", T0 + 4 * SEC),
              LT_BEGIN_OTHER_APP);
    CHECK_INT(lt_store_request_begin(st, "q-a", "r1", "app", "v1", "mallory", T0 + 5 * SEC), 0);
    CHECK_INT(lt_store_request_hold(st, "q-a", 7), 0);
    CHECK_INT(lt_store_commit(st), 0);
    CHECK_INT(lt_store_request_get(rd, "q-a", &info), 1);
    CHECK_INT(info.state, LT_REQUEST_IN_PROGRESS);
    CHECK_STR(info.runner_id, "r1");
    CHECK_STR(info.version_id, "v1");
    CHECK_STR(info.caller, "carol"); /* the announcement's */
    CHECK_INT(info.begin_ns, T0 + 5 * SEC);
    CHECK_INT(lt_store_request_get(rd, "q-b", &info), 1);
    CHECK_INT(info.queue_position, 0); /* moved up */

    /* Held by two instances: it dies with the last of them. */
    CHECK_INT(lt_store_request_hold(st, "q-a", 8), 0);
    CHECK_INT(lt_store_instance_gone(st, 7, T0 + 6 * SEC), 0);
    CHECK_INT(lt_store_commit(st), 0);
    CHECK_INT(lt_store_request_get(rd, "q-a", &info), 1);
    CHECK_INT(info.state, LT_REQUEST_IN_PROGRESS);
    CHECK_INT(lt_store_instance_gone(st, 8, T0 + 7 * SEC), 1);
    CHECK_INT(lt_store_commit(st), 0);
    CHECK_INT(lt_store_request_get(rd, "q-a", &info), 1);
    CHECK_INT(info.state, LT_REQUEST_COMPLETED);
    CHECK_INT(info.end_ns, T0 + 7 * SEC);
    CHECK_STR(info.error_type, LT_ERROR_RUNNER_DIED);
    CHECK(info.error[0] != '\0');

    /* An error END; another app's END changes nothing; an ended request's
     * holders are let go, so its runner's death says nothing more. */
    CHECK_INT(lt_store_request_begin(st, "q-b", "r1", "app", "v1", NULL, T0 + 8 * SEC), 0);
    CHECK_INT(lt_store_request_hold(st, "q-b", 9), 0);
    CHECK_INT(lt_store_request_end_error(st, "q-b", "thief", T0 + 9 * SEC, "Boom", "not mine"), 0);
    CHECK_INT(lt_store_commit(st), 0);
    CHECK_INT(lt_store_request_get(rd, "q-b", &info), 1);
    CHECK_INT(info.state, LT_REQUEST_IN_PROGRESS);
    CHECK_INT(lt_store_request_end_error(st, "q-b", "app", T0 + 9 * SEC, "ValueError", "bad input"), 0);
    CHECK_INT(lt_store_instance_gone(st, 9, T0 + 10 * SEC), 0);
    CHECK_INT(lt_store_commit(st), 0);
    CHECK_INT(lt_store_request_get(rd, "q-b", &info), 1);
    CHECK_INT(info.state, LT_REQUEST_COMPLETED);
    CHECK_INT(info.end_ns, T0 + 9 * SEC);
    CHECK_STR(info.error_type, "ValueError");
    CHECK_STR(info.error, "bad input");

    /* A plain END leaves no error. */
    CHECK_INT(lt_store_request_begin(st, "q-c", "r1", "app", "v1", NULL, T0 + 11 * SEC), 0);
    CHECK_INT(lt_store_request_end(st, "q-c", T0 + 12 * SEC), 0);
    CHECK_INT(lt_store_commit(st), 0);
    CHECK_INT(lt_store_request_get(rd, "q-c", &info), 1);
    CHECK_INT(info.state, LT_REQUEST_COMPLETED);
    CHECK_STR(info.error_type, "");

    lt_store_reader_close(rd);
    lt_store_close(st);
    unit_remove_tree(dir);
    free(dir);
}

struct waiter {
    lt_store *st;
    int64_t after;
    int64_t result;
    int64_t waited_ms;
};

static void *wait_thread(void *arg)
{
    struct waiter *w = arg;
    int64_t start = lt_mono_ms();
    w->result = lt_store_wait(w->st, w->after, 5000);
    w->waited_ms = lt_mono_ms() - start;
    return NULL;
}

static void test_wait_wakes_on_commit(void)
{
    lt_store *st = open_store();
    int64_t last = lt_store_last_id(st);
    CHECK_INT(last, 7);

    /* Nothing new: returns at the timeout with the same ID. */
    int64_t start = lt_mono_ms();
    CHECK_INT(lt_store_wait(st, last, 100), last);
    int64_t waited = lt_mono_ms() - start;
    CHECK(waited >= 90 && waited < 2000);
    /* Already past the cursor: no waiting at all. */
    start = lt_mono_ms();
    CHECK_INT(lt_store_wait(st, last - 1, 5000), last);
    CHECK(lt_mono_ms() - start < 100);

    struct waiter w = {.st = st, .after = last};
    pthread_t thread;
    pthread_create(&thread, NULL, wait_thread, &w);
    unit_sleep_ms(100); /* let it block */
    lt_line line = {.ts_ns = T0 + 20 * SEC,
                    .runner_id = "r1",
                    .app_id = "a1",
                    .version_id = "v1",
                    .source = "run",
                    .message = "late",
                    .message_len = 4,
                    .stream = 1,
                    .level = LT_LEVEL_STDOUT,
                    .pid = 1,
                    .tid = 1};
    CHECK_INT(lt_store_append(st, &line), 0);
    unit_sleep_ms(50);
    CHECK_INT(lt_store_last_id(st), last); /* an append alone wakes nobody */
    CHECK_INT(lt_store_commit(st), 0);
    pthread_join(thread, NULL);
    CHECK_INT(w.result, last + 1);
    CHECK(w.waited_ms >= 100 && w.waited_ms < 4000);
    lt_store_close(st);
}

static void test_reopen_and_ids_never_reused(void)
{
    /* Close commits what is pending. */
    lt_store *st = open_store();
    int64_t last = lt_store_last_id(st);
    lt_line line = {.ts_ns = T0 + 30 * SEC,
                    .runner_id = "r3",
                    .message = "",
                    .message_len = 0,
                    .stream = 2,
                    .level = LT_LEVEL_STDERR}; /* NULL app/version/source allowed */
    CHECK_INT(lt_store_append(st, &line), 0);
    lt_store_close(st);

    st = open_store();
    CHECK_INT(lt_store_last_id(st), last + 1);
    lt_store_reader *rd = open_reader();
    lt_query q = LT_QUERY_INIT;
    q.runner_id = "r3";
    CHECK_QUERY(rd, &q, last + 1);
    lt_store_reader_close(rd);
    lt_store_close(st);

    /* Delete every line behind the store's back: IDs still continue. */
    char path[700];
    snprintf(path, sizeof path, "%s/logtap.db", data_dir);
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "DELETE FROM logs", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    st = open_store();
    CHECK_INT(lt_store_last_id(st), last + 1);
    CHECK_INT(lt_store_append(st, &line), 0);
    CHECK_INT(lt_store_commit(st), 0);
    CHECK_INT(lt_store_last_id(st), last + 2);
    lt_store_close(st);
}

static int collect_unattributed(const lt_line *line, void *ctx)
{
    int *marks = ctx;
    marks[marks[0] + 1] = line->unattributed;
    marks[0]++;
    return marks[0] >= 4;
}

/* A store of schema version 3 (before the unattributed column) is migrated:
 * its lines read as attributed, new lines keep their mark. */
static void test_unattributed_mark_and_migration(void)
{
    char *dir;
    if (asprintf(&dir, "%s-v1", data_dir) < 0)
        abort();
    char err[256] = "", path[700];
    lt_store *st = lt_store_open(dir, err, sizeof err);
    REQUIRE(st != NULL);
    lt_line line = {.ts_ns = T0,
                    .runner_id = "r-mark",
                    .message = "old",
                    .message_len = 3,
                    .stream = 1,
                    .level = LT_LEVEL_STDOUT};
    CHECK_INT(lt_store_append(st, &line), 0);
    lt_store_close(st);
    snprintf(path, sizeof path, "%s/logtap.db", dir);
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    /* Back to the schema before the mark (step 3 -> 4 adds it; 4 -> 5 the
     * tenants' accounting; 5 -> 6 the instances' owners; 6 -> 7 the lists'
     * indexes; 7 -> 8 request states; 8 -> 9 drains). */
    CHECK(sqlite3_exec(db,
                       "ALTER TABLE logs DROP COLUMN unattributed; DROP TABLE tenant_usage;"
                       " DROP INDEX requests_open_by_begin;"
                       " ALTER TABLE delivery_instances DROP COLUMN runner_id;"
                       " ALTER TABLE delivery_instances DROP COLUMN app_id; DROP INDEX runners_by_first;"
                       " DROP INDEX requests_by_begin; DROP INDEX requests_queued;"
                       " DROP TABLE request_holders; ALTER TABLE requests DROP COLUMN queued_ts;"
                       " ALTER TABLE requests DROP COLUMN begun; ALTER TABLE requests DROP COLUMN error_type;"
                       " ALTER TABLE requests DROP COLUMN error; DROP TRIGGER drains_count_missed;"
                       " DROP TABLE drains; PRAGMA user_version = 3",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);

    st = lt_store_open(dir, err, sizeof err);
    REQUIRE(st != NULL);
    line.message = "caught";
    line.message_len = 6;
    line.unattributed = true;
    CHECK_INT(lt_store_append(st, &line), 0);
    line.message = "seen";
    line.message_len = 4;
    line.unattributed = false;
    CHECK_INT(lt_store_append(st, &line), 0);
    CHECK_INT(lt_store_commit(st), 0);
    lt_store_reader *rd = lt_store_reader_open(dir, err, sizeof err);
    REQUIRE(rd != NULL);
    lt_query q = LT_QUERY_INIT;
    q.runner_id = "r-mark";
    int marks[5] = {0};
    CHECK_INT(lt_store_query(rd, &q, collect_unattributed, marks), 3);
    CHECK(marks[0] == 3 && marks[1] == 0 && marks[2] == 1 && marks[3] == 0);
    lt_store_reader_close(rd);
    lt_store_close(st);
    unit_remove_tree(dir);
    free(dir);
}

/* A failed write discards everything since the last commit, and the next
 * commit says so: nothing lost can be acknowledged as stored. */
static void test_failed_write_rolls_back(void)
{
    char path[700];
    snprintf(path, sizeof path, "%s/logtap.db", data_dir);
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db,
                       "CREATE TRIGGER poison BEFORE INSERT ON logs WHEN NEW.message = CAST('poison' AS BLOB)"
                       " BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
                       NULL, NULL, NULL) == SQLITE_OK);

    lt_store *st = open_store();
    int64_t last = lt_store_last_id(st);
    lt_line line = {.ts_ns = T0,
                    .runner_id = "r4",
                    .app_id = "",
                    .version_id = "",
                    .source = "",
                    .stream = 1,
                    .level = LT_LEVEL_STDOUT};
#define APPEND(text) (line.message = text, line.message_len = strlen(text), lt_store_append(st, &line))
    CHECK_INT(APPEND("kept until the failure"), 0);
    CHECK_INT(APPEND("poison"), -1);
    CHECK(strstr(lt_store_error(st), "poisoned") != NULL);
    CHECK_INT(lt_store_pending(st), 0);
    CHECK_INT(APPEND("after the failure"), 0);
    CHECK_INT(lt_store_commit(st), -1);    /* reports the loss */
    CHECK_INT(lt_store_last_id(st), last); /* nothing was published */
    CHECK_INT(APPEND("next batch"), 0);
    CHECK_INT(lt_store_commit(st), 0); /* and then works again */
#undef APPEND
    CHECK_INT(lt_store_last_id(st), last + 1); /* rolled-back rows used no IDs */

    lt_store_reader *rd = open_reader();
    lt_query q = LT_QUERY_INIT;
    q.runner_id = "r4";
    CHECK_QUERY(rd, &q, last + 1);
    lt_store_reader_close(rd);
    lt_store_close(st);
    CHECK(sqlite3_exec(db, "DROP TRIGGER poison", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
}

/* ---- delivery state ---- */

struct hook_state {
    lt_store *st;
    int calls;
    bool fail;
    uint64_t instance;
};

/* What the assembler does at commit: its state joins the transaction. */
static int save_in_hook(void *ctx)
{
    struct hook_state *h = ctx;
    h->calls++;
    if (h->fail)
        return -1;
    lt_delivery_state state = {.last_pos = 4096, .dropped = 77};
    if (lt_store_delivery_save(h->st, h->instance, &state, T0) != 0)
        return -1;
    return lt_store_delivery_save_stream(h->st, h->instance, 42, 2, 4000, 13);
}

struct loaded_streams {
    int count;
    uint32_t tid;
    int fd;
    uint64_t pos;
    uint32_t off;
};

static void on_stream(void *ctx, uint32_t tid, int fd, uint64_t pos, uint32_t off)
{
    struct loaded_streams *l = ctx;
    l->count++;
    l->tid = tid, l->fd = fd, l->pos = pos, l->off = off;
}

/* The state is written by the commit hook in the lines' own transaction:
 * both survive a reopen, or neither does. */
static void test_delivery_state(void)
{
    lt_store *st = open_store();
    const uint64_t instance = UINT64_C(0xfedcba9876543210); /* top bit set: stored bit for bit */
    lt_delivery_state state;
    struct loaded_streams l = {0};
    CHECK_INT(lt_store_delivery_load(st, instance, &state, on_stream, &l), 0);

    struct hook_state h = {.st = st, .instance = instance, .fail = true};
    lt_store_set_commit_hook(st, save_in_hook, &h);
    lt_line line = {.ts_ns = T0,
                    .runner_id = "r-delivery",
                    .app_id = "",
                    .version_id = "",
                    .source = "",
                    .message = "with its state",
                    .message_len = 14,
                    .stream = 1,
                    .level = LT_LEVEL_STDOUT};
    int64_t last = lt_store_last_id(st);
    CHECK_INT(lt_store_append(st, &line), 0);
    CHECK_INT(lt_store_commit(st), -1); /* the hook failed: the line went with it */
    CHECK_INT(lt_store_last_id(st), last);
    CHECK_INT(lt_store_delivery_load(st, instance, &state, on_stream, &l), 0);
    h.fail = false;
    CHECK_INT(lt_store_append(st, &line), 0);
    CHECK_INT(lt_store_commit(st), 0);
    CHECK_INT(h.calls, 2);
    CHECK_INT(lt_store_last_id(st), last + 1);
    lt_store_set_commit_hook(st, NULL, NULL);
    lt_store_close(st);

    st = open_store();
    CHECK_INT(lt_store_delivery_load(st, instance, &state, on_stream, &l), 1);
    CHECK(state.last_pos == 4096 && state.dropped == 77 && !state.finished);
    CHECK(l.count == 1 && l.tid == 42 && l.fd == 2 && l.pos == 4000 && l.off == 13);

    CHECK_INT(lt_store_delivery_prune(st, instance, 4000), 0); /* not below 4000 */
    CHECK_INT(lt_store_commit(st), 0);
    l.count = 0;
    CHECK_INT(lt_store_delivery_load(st, instance, &state, on_stream, &l), 1);
    CHECK_INT(l.count, 1);
    CHECK_INT(lt_store_delivery_prune(st, instance, 4001), 0);
    CHECK_INT(lt_store_commit(st), 0);
    l.count = 0;
    CHECK_INT(lt_store_delivery_load(st, instance, &state, on_stream, &l), 1);
    CHECK_INT(l.count, 0);

    CHECK_INT(lt_store_delivery_save_stream(st, instance, 1, 1, 5000, 0), 0);
    CHECK_INT(lt_store_delivery_finish(st, instance, T0 + SEC), 0);
    CHECK_INT(lt_store_delivery_finish(st, instance + 1, T0 + 3 * SEC), 0); /* never saved */
    CHECK_INT(lt_store_commit(st), 0);
    CHECK_INT(lt_store_delivery_load(st, instance, &state, on_stream, &l), 1);
    CHECK(state.finished && l.count == 0); /* finished keeps only the fact */
    CHECK_INT(lt_store_delivery_load(st, instance + 1, &state, on_stream, &l), 1);
    CHECK(state.finished);

    CHECK_INT(lt_store_delivery_expire(st, T0 + 2 * SEC), 0);
    CHECK_INT(lt_store_commit(st), 0);
    CHECK_INT(lt_store_delivery_load(st, instance, &state, on_stream, &l), 0);
    CHECK_INT(lt_store_delivery_load(st, instance + 1, &state, on_stream, &l), 1);
    lt_store_close(st);
}

/* What is stored next depends on the delivery state: failing to read it
 * fails the transaction like a failed write (nothing is acknowledged, and
 * the reaper keeps a ring it could not replay), reported once. */
static void test_failed_delivery_load_fails_the_commit(void)
{
    char path[700];
    snprintf(path, sizeof path, "%s/logtap.db", data_dir);
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    lt_store *st = open_store();
    int64_t last = lt_store_last_id(st);
    lt_line line = {.ts_ns = T0,
                    .runner_id = "r-load",
                    .app_id = "",
                    .version_id = "",
                    .source = "",
                    .message = "line",
                    .message_len = 4,
                    .stream = 1,
                    .level = LT_LEVEL_STDOUT};
    lt_delivery_state state;
    struct loaded_streams l = {0};
    CHECK(sqlite3_exec(db, "ALTER TABLE delivery_instances RENAME TO hidden", NULL, NULL, NULL) == SQLITE_OK);
    CHECK_INT(lt_store_append(st, &line), 0);
    CHECK_INT(lt_store_delivery_load(st, 7, &state, on_stream, &l), -1);
    CHECK(strstr(lt_store_error(st), "load delivery state") != NULL);
    CHECK_INT(lt_store_commit(st), -1); /* the line went with it */
    CHECK_INT(lt_store_last_id(st), last);
    CHECK(sqlite3_exec(db, "ALTER TABLE hidden RENAME TO delivery_instances", NULL, NULL, NULL) == SQLITE_OK);
    CHECK_INT(lt_store_delivery_load(st, 7, &state, on_stream, &l), 0);
    CHECK_INT(lt_store_append(st, &line), 0);
    CHECK_INT(lt_store_commit(st), 0); /* said once: the next one works */
    CHECK_INT(lt_store_last_id(st), last + 1);
    lt_store_close(st);
    sqlite3_close(db);
}

static void test_open_failures(void)
{
    char err[256] = "";
    /* A newer schema is refused, not misread. */
    char path[700];
    snprintf(path, sizeof path, "%s/logtap.db", data_dir);
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    CHECK(lt_store_open(data_dir, err, sizeof err) == NULL);
    CHECK(strstr(err, "newer") != NULL);
    err[0] = '\0';
    CHECK(lt_store_reader_open(data_dir, err, sizeof err) == NULL);
    CHECK(err[0] != '\0');

    /* The data directory is a file. */
    char file_dir[600];
    snprintf(file_dir, sizeof file_dir, "%s/plain-file", data_dir);
    FILE *f = fopen(file_dir, "w");
    fclose(f);
    err[0] = '\0';
    CHECK(lt_store_open(file_dir, err, sizeof err) == NULL);
    CHECK(err[0] != '\0');

    /* No store there yet: readers do not create one. */
    char empty_dir[600];
    snprintf(empty_dir, sizeof empty_dir, "%s/empty", data_dir);
    mkdir(empty_dir, 0755);
    err[0] = '\0';
    CHECK(lt_store_reader_open(empty_dir, err, sizeof err) == NULL);
    CHECK(err[0] != '\0');
    snprintf(path, sizeof path, "%s/logtap.db", empty_dir);
    struct stat info;
    CHECK(stat(path, &info) != 0);
    CHECK(lt_store_open("", err, sizeof err) == NULL);
}

/* ---- retention ---- */

static sqlite3 *open_raw(const char *dir)
{
    char path[700];
    snprintf(path, sizeof path, "%s/logtap.db", dir);
    sqlite3 *db;
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    return db;
}

static int64_t raw_int(const char *dir, const char *sql)
{
    sqlite3 *db = open_raw(dir);
    sqlite3_stmt *s;
    REQUIRE(sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK);
    int64_t value = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    sqlite3_close(db);
    return value;
}

/* What each tenant holds, counted from the lines (as schema step 4 -> 5). */
#define RECOUNT                                                                                              \
    "SELECT app_id, CASE WHEN app_id = '' THEN runner_id ELSE '' END,"                                       \
    " sum(64 + length(message) + length(CAST(runner_id AS BLOB)) + length(CAST(app_id AS BLOB))"             \
    "     + length(CAST(version_id AS BLOB)) + length(CAST(source AS BLOB))"                                 \
    "     + coalesce(length(CAST(request_id AS BLOB)), 0)), count(*) FROM logs GROUP BY 1, 2"
#define ACCOUNT "SELECT app_id, runner_id, bytes, lines FROM tenant_usage"

/* tenant_usage is exact: the same rows as a recount of the lines. */
static void check_accounting(const char *dir, int line)
{
    int64_t differ = raw_int(dir, "SELECT (SELECT count(*) FROM (" RECOUNT " EXCEPT " ACCOUNT "))"
                                  " + (SELECT count(*) FROM (" ACCOUNT " EXCEPT " RECOUNT "))");
    if (differ != 0)
        fprintf(stderr, "  accounting differs from the lines (check at line %d)\n", line);
    CHECK_INT(differ, 0);
}

static int64_t tenant_bytes(const char *dir, const char *app, const char *runner)
{
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT coalesce((SELECT bytes FROM tenant_usage WHERE app_id = '%s' AND runner_id = '%s'), 0)",
             app, runner);
    return raw_int(dir, sql);
}

static int64_t lines_where(const char *dir, const char *where)
{
    char sql[300];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM logs WHERE %s", where);
    return raw_int(dir, sql);
}

static void append_lines(lt_store *st, const char *app, const char *runner, const char *request, int count,
                         size_t size, int64_t ts)
{
    static char text[2048];
    REQUIRE(size < sizeof text);
    for (int i = 0; i < count; i++) {
        int n = snprintf(text, sizeof text, "%s %06d ", runner, i);
        memset(text + n, 'x', size > (size_t)n ? size - (size_t)n : 0);
        lt_line line = {.ts_ns = ts + i,
                        .runner_id = runner,
                        .request_id = request,
                        .app_id = app,
                        .version_id = "v",
                        .source = "gateway",
                        .message = text,
                        .message_len = size > (size_t)n ? size : (size_t)n,
                        .stream = 1,
                        .level = LT_LEVEL_STDOUT};
        CHECK_INT(lt_store_append(st, &line), 0);
    }
}

/* Bites until nothing more is due; returns the lines deleted. */
static long retain_all(lt_store *st, const lt_retention *policy)
{
    long total = 0, rows, lines;
    do {
        rows = lt_store_retain(st, policy, 2000, &lines);
        CHECK(rows >= 0);
        total += lines;
    } while (rows == 2000);
    return total;
}

/* Retention's order: by size, the tenant holding the most loses its oldest
 * lines first, and tenants at the top come down evenly; by share, only
 * tenants above it; by age, old lines and old request rows, ended or not.
 * The accounting stays exact through appends, deletions and rollbacks. */
static void test_retention_order(void)
{
    char *dir;
    if (asprintf(&dir, "%s-retention", data_dir) < 0)
        abort();
    char err[256] = "";
    lt_store *st = lt_store_open(dir, err, sizeof err);
    REQUIRE(st != NULL);
    const int64_t t1 = T0 + 1000 * SEC;
    /* B (app "b") is small and oldest; C has no app (its runner is the
     * tenant); A (app "a", two runners) floods. */
    append_lines(st, "b", "rb", NULL, 20, 100, t1);
    append_lines(st, "", "rc", NULL, 20, 100, t1);
    append_lines(st, "a", "ra1", NULL, 300, 1000, t1);
    append_lines(st, "a", "ra2", "qa", 300, 1000, t1);
    CHECK_INT(lt_store_commit(st), 0);
    check_accounting(dir, __LINE__);
    CHECK_INT(raw_int(dir, "SELECT lines FROM tenant_usage WHERE app_id = 'a' AND runner_id = ''"), 600);
    CHECK_INT(raw_int(dir, "SELECT lines FROM tenant_usage WHERE app_id = '' AND runner_id = 'rc'"), 20);

    /* A rolled-back transaction leaves the accounting as it was. */
    sqlite3 *db = open_raw(dir);
    CHECK(sqlite3_exec(db,
                       "CREATE TRIGGER poison BEFORE INSERT ON logs WHEN NEW.runner_id = 'poison'"
                       " BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
                       NULL, NULL, NULL) == SQLITE_OK);
    append_lines(st, "b", "rb", NULL, 5, 100, t1);
    lt_line bad = {.ts_ns = t1, .runner_id = "poison", .message = "x", .message_len = 1, .stream = 1};
    CHECK_INT(lt_store_append(st, &bad), -1);
    CHECK_INT(lt_store_commit(st), -1);
    CHECK(sqlite3_exec(db, "DROP TRIGGER poison", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    check_accounting(dir, __LINE__);

    /* Size: only A's oldest go, and what A keeps is its newest. */
    int64_t live = lt_store_live_bytes(st);
    REQUIRE(live > 0);
    lt_retention size = {.max_bytes = live - 200 * 1024};
    long gone = retain_all(st, &size);
    CHECK(lt_store_live_bytes(st) <= size.max_bytes);
    int64_t kept_a = lines_where(dir, "app_id = 'a'");
    CHECK_INT(gone + kept_a, 600);
    CHECK(gone >= 150 && kept_a > 0);
    CHECK_INT(lines_where(dir, "app_id = 'b'"), 20);
    CHECK_INT(lines_where(dir, "runner_id = 'rc'"), 20);
    CHECK_INT(raw_int(dir, "SELECT min(id) FROM logs WHERE app_id = 'a'"), 40 + 600 - kept_a + 1);
    check_accounting(dir, __LINE__);
    CHECK_INT(retain_all(st, &size), 0); /* nothing more is due */

    /* C grows past A; cutting deeper takes from both, evenly, never B. */
    append_lines(st, "", "rc", NULL, 600, 1000, t1 + 100 * SEC);
    CHECK_INT(lt_store_commit(st), 0);
    size.max_bytes = lt_store_live_bytes(st) - 400 * 1024;
    retain_all(st, &size);
    CHECK(lt_store_live_bytes(st) <= size.max_bytes);
    int64_t a = tenant_bytes(dir, "a", ""), c = tenant_bytes(dir, "", "rc");
    CHECK(a > 0 && c > 0);
    CHECK(llabs(a - c) <= 10 * 1100);
    CHECK_INT(lines_where(dir, "app_id = 'b'"), 20);
    check_accounting(dir, __LINE__);

    /* Share: tenants above it come down to it, the others keep all. */
    lt_retention share = {.max_tenant_bytes = 50 * 1100};
    CHECK(retain_all(st, &share) > 0);
    a = tenant_bytes(dir, "a", ""), c = tenant_bytes(dir, "", "rc");
    CHECK(a <= share.max_tenant_bytes && a > share.max_tenant_bytes - 2200);
    CHECK(c <= share.max_tenant_bytes && c > share.max_tenant_bytes - 2200);
    CHECK_INT(lines_where(dir, "app_id = 'b'"), 20);
    check_accounting(dir, __LINE__);

    /* Age: old lines, requests ended before the limit, and requests begun
     * before it that never ended; newer ones stay. */
    append_lines(st, "b", "rold", "q-open", 3, 100, T0);
    CHECK_INT(lt_store_request_begin(st, "q-open", "rold", "b", "v", NULL, T0), 0);
    CHECK_INT(lt_store_request_begin(st, "q-done", "rold", "b", "v", NULL, T0), 0);
    CHECK_INT(lt_store_request_end(st, "q-done", T0 + SEC), 0);
    CHECK_INT(lt_store_request_begin(st, "q-new", "rb", "b", "v", NULL, t1), 0);
    CHECK_INT(lt_store_request_begin(st, "q-new-done", "rb", "b", "v", NULL, t1), 0);
    CHECK_INT(lt_store_request_end(st, "q-new-done", t1 + SEC), 0);
    CHECK_INT(lt_store_commit(st), 0);
    lt_retention age = {.min_ts_ns = T0 + 100 * SEC};
    CHECK_INT(retain_all(st, &age), 3);
    lt_store_reader *rd = lt_store_reader_open(dir, err, sizeof err);
    REQUIRE(rd != NULL);
    lt_request_info info;
    CHECK_INT(lt_store_request_get(rd, "q-open", &info), 0);
    CHECK_INT(lt_store_request_get(rd, "q-done", &info), 0);
    CHECK_INT(lt_store_request_get(rd, "q-new", &info), 1);
    CHECK_INT(lt_store_request_get(rd, "q-new-done", &info), 1);
    lt_store_reader_close(rd);
    CHECK_INT(lines_where(dir, "app_id = 'b'"), 20);
    check_accounting(dir, __LINE__);

    /* Everything gone: no account is left behind. A writer that never
     * had a size limit (reopened) gives the freed pages back as well. */
    lt_store_close(st);
    st = lt_store_open(dir, err, sizeof err);
    REQUIRE(st != NULL);
    age.min_ts_ns = T0 + 100000 * SEC;
    retain_all(st, &age);
    CHECK_INT(raw_int(dir, "SELECT count(*) FROM logs"), 0);
    CHECK_INT(raw_int(dir, "SELECT count(*) FROM tenant_usage"), 0);
    CHECK(raw_int(dir, "PRAGMA freelist_count") * 8 <= raw_int(dir, "PRAGMA page_count"));
    lt_store_close(st);
    unit_remove_tree(dir);
    free(dir);
}

int main(void)
{
    char *root = unit_make_temp_dir();
    /* A nested path that does not exist yet: the store creates it. */
    if (asprintf(&data_dir, "%s/nested/data", root) < 0)
        abort();

    test_open_creates_wal_store();
    test_commit_visibility_and_fidelity();
    test_filters();
    test_runners_and_requests();
    test_lists();
    test_wait_wakes_on_commit();
    test_reopen_and_ids_never_reused();
    test_request_lifecycle();
    test_failed_write_rolls_back();
    test_delivery_state();
    test_failed_delivery_load_fails_the_commit();
    test_unattributed_mark_and_migration();
    test_retention_order();
    test_open_failures();

    unit_remove_tree(root);
    free(data_dir);
    free(root);
    return unit_done("unit-store");
}
