/* timefmt.c -- the one place that turns times into text and text into times.
 *
 * The HTTP server (since/until) and the CLI (--since/--until) both call
 * lt_time_parse, so a form accepted by one is accepted by the other. Parsing
 * is deliberately strict: a time bound that is silently misread returns the
 * wrong logs without anyone noticing, so anything that is not exactly one of
 * the documented forms is rejected instead of being guessed at.
 *
 * Accepted forms:
 *   N{s,m,h,d,w}            duration back from "now", N decimal, no sign
 *   YYYY-MM-DD              UTC midnight
 *   YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)   RFC 3339
 *     ('t', 'z' and a space separator are allowed as RFC 3339 section 5.6
 *     permits; fraction digits beyond nanoseconds are truncated.)
 *
 * Times are int64 nanoseconds since the Unix epoch, which covers the years
 * 1677..2262; anything outside that range is rejected as overflow.
 */
#include "timefmt.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#define NS_PER_SEC INT64_C(1000000000)
#define NS_PER_USEC INT64_C(1000)

int64_t lt_time_now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * NS_PER_SEC + now.tv_nsec;
}

char *lt_time_format(int64_t ts_ns, char *buf, size_t len)
{
    assert(buf != NULL && len >= 32);
    /* Floor division, so times before the epoch still print a fraction in
     * [0, 1 s) rather than a negative one. */
    int64_t seconds = ts_ns / NS_PER_SEC;
    int64_t rest_ns = ts_ns % NS_PER_SEC;
    if (rest_ns < 0) {
        rest_ns += NS_PER_SEC;
        seconds -= 1;
    }
    time_t t = (time_t)seconds;
    struct tm utc;
    if (gmtime_r(&t, &utc) == NULL) {
        snprintf(buf, len, "invalid-time");
        return buf;
    }
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
             utc.tm_hour, utc.tm_min, utc.tm_sec, (int)(rest_ns / NS_PER_USEC));
    return buf;
}

/* ---- small strict scanners: each advances *p only on success ---- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Exactly `width` decimal digits. */
static bool scan_fixed_digits(const char **p, int width, int *out)
{
    int value = 0;
    for (int i = 0; i < width; i++) {
        char c = (*p)[i];
        if (!is_digit(c))
            return false;
        value = value * 10 + (c - '0');
    }
    *p += width;
    *out = value;
    return true;
}

static bool scan_char(const char **p, char expected)
{
    if (**p != expected)
        return false;
    (*p)++;
    return true;
}

static bool is_leap_year(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    assert(month >= 1 && month <= 12);
    if (month == 2 && is_leap_year(year))
        return 29;
    return days[month - 1];
}

/* Days from 1970-01-01 to year-month-day in the proleptic Gregorian
 * calendar. Counting in 400-year eras (146097 days each) keeps it exact for
 * any year without a table or a loop. */
static int64_t days_from_civil(int year, int month, int day)
{
    int64_t y = month <= 2 ? year - 1 : year;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t year_of_era = y - era * 400;
    int64_t month_from_march = month > 2 ? month - 3 : month + 9;
    int64_t day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

/* "YYYY-MM-DD" at *p, validated against the calendar. */
static bool scan_date(const char **p, int64_t *days_out)
{
    const char *s = *p;
    int year, month, day;
    if (!scan_fixed_digits(&s, 4, &year) || !scan_char(&s, '-') || !scan_fixed_digits(&s, 2, &month) ||
        !scan_char(&s, '-') || !scan_fixed_digits(&s, 2, &day))
        return false;
    if (month < 1 || month > 12)
        return false;
    if (day < 1 || day > days_in_month(year, month))
        return false;
    *days_out = days_from_civil(year, month, day);
    *p = s;
    return true;
}

/* Seconds and nanoseconds to ns, refusing results outside int64. */
static bool seconds_to_ns(int64_t seconds, int64_t frac_ns, int64_t *out)
{
    int64_t ns;
    if (__builtin_mul_overflow(seconds, NS_PER_SEC, &ns))
        return false;
    if (__builtin_add_overflow(ns, frac_ns, &ns))
        return false;
    *out = ns;
    return true;
}

/* "HH:MM:SS[.frac](Z|+hh:mm|-hh:mm)": all of `s`, after the date `days`. */
static bool scan_rfc3339_time(const char *s, int64_t days, int64_t *out)
{
    int hour, minute, second;
    if (!scan_fixed_digits(&s, 2, &hour) || !scan_char(&s, ':') || !scan_fixed_digits(&s, 2, &minute) ||
        !scan_char(&s, ':') || !scan_fixed_digits(&s, 2, &second))
        return false;
    /* 60 is a leap second; like most parsers we let it roll into the next
     * minute, since epoch time has no representation of its own for it. */
    if (hour > 23 || minute > 59 || second > 60)
        return false;

    int64_t frac_ns = 0;
    if (*s == '.') {
        s++;
        if (!is_digit(*s))
            return false;
        int64_t scale = NS_PER_SEC / 10;
        for (; is_digit(*s); s++) {
            frac_ns += (*s - '0') * scale;
            scale /= 10; /* digits past nanoseconds add 0: truncation */
        }
    }

    int offset_seconds = 0;
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int sign = *s == '-' ? -1 : 1;
        s++;
        int offset_hours, offset_minutes;
        if (!scan_fixed_digits(&s, 2, &offset_hours) || !scan_char(&s, ':') ||
            !scan_fixed_digits(&s, 2, &offset_minutes))
            return false;
        if (offset_hours > 23 || offset_minutes > 59)
            return false;
        offset_seconds = sign * (offset_hours * 3600 + offset_minutes * 60);
    } else {
        return false; /* RFC 3339 requires an explicit offset */
    }
    if (*s != '\0')
        return false;

    /* Local time minus its offset is UTC. days is bounded by the 4-digit
     * year, so this sum cannot overflow; the ns conversion can. */
    int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
    return seconds_to_ns(seconds, frac_ns, out);
}

/* "N" followed by one unit letter and nothing else. */
static int parse_duration(const char *text, int64_t now_ns, int64_t *out)
{
    const char *s = text;
    if (!is_digit(*s))
        return -1;
    int64_t count = 0;
    for (; is_digit(*s); s++) {
        if (__builtin_mul_overflow(count, 10, &count))
            return -1;
        if (__builtin_add_overflow(count, *s - '0', &count))
            return -1;
    }
    int64_t unit_seconds;
    switch (*s) {
    case 's': unit_seconds = 1; break;
    case 'm': unit_seconds = 60; break;
    case 'h': unit_seconds = 3600; break;
    case 'd': unit_seconds = 86400; break;
    case 'w': unit_seconds = 7 * 86400; break;
    default: return -1;
    }
    if (s[1] != '\0')
        return -1;

    int64_t back_ns, result;
    if (__builtin_mul_overflow(count, unit_seconds, &back_ns))
        return -1;
    if (__builtin_mul_overflow(back_ns, NS_PER_SEC, &back_ns))
        return -1;
    if (__builtin_sub_overflow(now_ns, back_ns, &result))
        return -1;
    *out = result;
    return 0;
}

int lt_duration_parse(const char *text, int64_t *out)
{
    if (text == NULL || out == NULL)
        return -1;
    int64_t back;
    if (parse_duration(text, 0, &back) != 0)
        return -1;
    *out = -back;
    return 0;
}

int lt_time_parse(const char *text, int64_t now_ns, int64_t *out)
{
    if (text == NULL || out == NULL)
        return -1;

    /* A date starts with four digits and a dash; a duration is digits and a
     * unit letter. The two cannot be confused, so try the date form first. */
    const char *s = text;
    int64_t days;
    if (scan_date(&s, &days)) {
        int64_t result;
        if (*s == '\0') {
            if (!seconds_to_ns(days * 86400, 0, &result))
                return -1;
        } else if (*s == 'T' || *s == 't' || *s == ' ') {
            if (!scan_rfc3339_time(s + 1, days, &result))
                return -1;
        } else {
            return -1;
        }
        *out = result;
        return 0;
    }
    return parse_duration(text, now_ns, out);
}
