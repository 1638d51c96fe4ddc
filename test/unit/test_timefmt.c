/* test_timefmt.c -- lt_time_format / lt_time_parse: the forms users type
 * for --since/--until and since=/until=, and everything they must not
 * accept. */
#include "unit.h"

#include "timefmt.h"

#define NS INT64_C(1000000000)

static void check_format(int64_t ts_ns, const char *expected)
{
    char buf[32];
    CHECK_STR(lt_time_format(ts_ns, buf, sizeof buf), expected);
}

static void check_parse(const char *text, int64_t now_ns, int64_t expected)
{
    int64_t out = -12345;
    int rc = lt_time_parse(text, now_ns, &out);
    if (rc != 0 || out != expected)
        fprintf(stderr, "  parsing \"%s\": rc %d, got %lld, expected %lld\n", text, rc, (long long)out,
                (long long)expected);
    CHECK(rc == 0 && out == expected);
}

static void check_reject(const char *text)
{
    int64_t out = 777;
    int rc = lt_time_parse(text, 1000 * NS, &out);
    if (rc != -1)
        fprintf(stderr, "  \"%s\" was accepted as %lld\n", text, (long long)out);
    CHECK(rc == -1);
    CHECK(out == 777); /* untouched on failure */
}

static void test_format(void)
{
    check_format(0, "1970-01-01T00:00:00.000000Z");
    check_format(1, "1970-01-01T00:00:00.000000Z"); /* truncated to µs */
    check_format(1999, "1970-01-01T00:00:00.000001Z");
    check_format(1795618686123456789, "2026-11-25T14:58:06.123456Z");
    check_format(-1, "1969-12-31T23:59:59.999999Z");             /* floor, not toward zero */
    check_format(951782400 * NS, "2000-02-29T00:00:00.000000Z"); /* leap day */
    CHECK(lt_time_now_ns() > 1700000000 * NS);
}

static void test_durations(void)
{
    int64_t now = 1795618686 * NS;
    check_parse("30s", now, now - 30 * NS);
    check_parse("30m", now, now - 30 * 60 * NS);
    check_parse("1h", now, now - 3600 * NS);
    check_parse("2d", now, now - 2 * 86400 * NS);
    check_parse("1w", now, now - 7 * 86400 * NS);
    check_parse("0s", now, now);
    check_parse("007m", now, now - 7 * 60 * NS);
}

static void test_dates_and_rfc3339(void)
{
    check_parse("2026-11-25", 0, 1795564800 * NS);
    check_parse("1970-01-01", 0, 0);
    check_parse("2024-02-29", 0, 1709164800 * NS);
    check_parse("2026-11-25T14:58:06Z", 0, 1795618686 * NS);
    check_parse("2026-11-25t14:58:06z", 0, 1795618686 * NS);
    check_parse("2026-11-25 14:58:06Z", 0, 1795618686 * NS);
    check_parse("2026-11-25T14:58:06.5Z", 0, 1795618686 * NS + 500000000);
    check_parse("2026-11-25T14:58:06.123456789Z", 0, 1795618686 * NS + 123456789);
    check_parse("2026-11-25T14:58:06.1234567891234Z", 0, 1795618686 * NS + 123456789);
    check_parse("2026-11-25T16:58:06+02:00", 0, 1795618686 * NS);
    check_parse("2026-11-25T09:28:06-05:30", 0, 1795618686 * NS);
    check_parse("2026-11-26T00:58:06+10:00", 0, 1795618686 * NS); /* crosses midnight */
    check_parse("1969-12-31T23:59:59Z", 0, -1 * NS);
    check_parse("2016-12-31T23:59:60Z", 0, 1483228800 * NS); /* leap second rolls over */
}

static void test_round_trip(void)
{
    static const int64_t samples[] = {0,
                                      1,
                                      999,
                                      1000,
                                      1795618686123456000,
                                      1795618686999999999,
                                      -1000,
                                      946684800 * NS,
                                      4102444799 * NS + 999999000};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        char buf[32];
        lt_time_format(samples[i], buf, sizeof buf);
        int64_t back = 0;
        CHECK(lt_time_parse(buf, 0, &back) == 0);
        /* Formatting keeps microseconds: the round trip floors to them. */
        int64_t floored = samples[i] - ((samples[i] % 1000) + 1000) % 1000;
        if (back != floored)
            fprintf(stderr, "  round trip of %s gave %lld\n", buf, (long long)back);
        CHECK(back == floored);
    }
}

static void test_rejects(void)
{
    static const char *const bad[] = {
        "",
        " ",
        "5",
        "m",
        "s5",
        "-5m",
        "+5m",
        "5x",
        "5M",
        "5 m",
        " 5m",
        "5m ",
        "5mm",
        "1.5h",
        "5m\n",
        "99999999999999999999s",
        "9223372036854775807s",
        "15300w",
        "2026-11-25x",
        "2026-11-25T",
        "2026-11-25T14:58",
        "2026-11-25T14:58:06",
        "2026-11-25T14:58:06Zx",
        "2026-11-25T14:58:06 Z",
        "2026-11-25T14:58:06.Z",
        "2026-11-25T14:58:06+0200",
        "2026-11-25T14:58:06+02",
        "2026-11-25T14:58:06+24:00",
        "2026-11-25T14:58:06+02:60",
        "2026-11-25T24:00:00Z",
        "2026-11-25T14:60:00Z",
        "2026-11-25T14:58:61Z",
        "2026-13-01",
        "2026-00-10",
        "2026-02-30",
        "2023-02-29",
        "2026-04-31",
        "2026-11-00",
        "2026-1-25",
        "26-11-25",
        "2026/11/25",
        "20261125",
        "0000-01-01",
        "9999-12-31",
        "2026-11-25T14:58:06.1.2Z",
        "now",
        "1 h",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        check_reject(bad[i]);
    int64_t out;
    CHECK(lt_time_parse(NULL, 0, &out) == -1);
    /* Duration that reaches back past the representable range. */
    CHECK(lt_time_parse("15000w", INT64_MIN / 2, &out) == -1);
}

int main(void)
{
    test_format();
    test_durations();
    test_dates_and_rfc3339();
    test_round_trip();
    test_rejects();
    return unit_done("unit-timefmt");
}
