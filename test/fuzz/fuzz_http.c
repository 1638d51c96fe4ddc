/* fuzz_http.c -- libFuzzer harness: the request target an HTTP client
 * sends ("/v1/runners/a%2Fb/logs?since=1h&limit=10").
 *
 * Feeds: the input, as a NUL-terminated string, to the collector's path
 * splitter (http_split_path, collector/http.c: what route() decodes before
 * it authenticates anyone), then checks each decoded segment as route()
 * does (the wire's ID rule). The query, split at '&' and '=' and
 * percent-decoded with libmicrohttpd's own MHD_http_unescape (as MHD does
 * for the server), goes through every parameter parser the endpoints use:
 * http_parse_count, http_parse_flag, lt_level_parse, lt_time_parse.
 *
 * Asserts:
 *   - a split path has 1..MAX_PATH_SEGMENTS segments, each inside the
 *     storage, none holding '/', together no longer than the path;
 *   - a path with a bad escape or a decoded '/' or NUL is never PATH_OK;
 *   - http_parse_count accepts exactly the non-empty digit strings whose
 *     value fits an int64_t, and reads them as strtoll does;
 *   - http_parse_flag accepts exactly 1, 0, true and false (any case);
 *   - a level name parses to a valid level whose name reads back the same
 *     (or it is one of the other tools' names: WARNING, CRITICAL, FATAL,
 *     NOTSET);
 * and everything ASan and UBSan check.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "http_internal.h"
#include "level.h"
#include "logtap_wire.h"
#include "timefmt.h"

/* The names level.c takes for other tools' levels. */
static bool level_alias(const char *name)
{
    return strcasecmp(name, "WARNING") == 0 || strcasecmp(name, "CRITICAL") == 0 ||
           strcasecmp(name, "FATAL") == 0 || strcasecmp(name, "NOTSET") == 0;
}

static void check_path(const char *target)
{
    char storage[MAX_PATH_BYTES];
    const char *seg[MAX_PATH_SEGMENTS];
    int n = -1;
    enum path_result rc = http_split_path(target, storage, sizeof storage, seg, &n);
    if (rc != PATH_OK)
        return;
    size_t path_len = strcspn(target, "?#");
    FUZZ_REQUIRE(n >= 1 && n <= MAX_PATH_SEGMENTS);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        FUZZ_REQUIRE(seg[i] >= storage && seg[i] < storage + sizeof storage);
        size_t len = strnlen(seg[i], (size_t)(storage + sizeof storage - seg[i]));
        FUZZ_REQUIRE(seg[i] + len < storage + sizeof storage);
        FUZZ_REQUIRE(memchr(seg[i], '/', len) == NULL);
        total += len + 1;
        (void)lt_wire_id_ok(seg[i], len);
    }
    FUZZ_REQUIRE(total <= path_len);
    /* Every '%' in the path was followed by two hex digits. */
    for (size_t i = 0; i < path_len; i++)
        if (target[i] == '%')
            FUZZ_REQUIRE(i + 2 < path_len && strchr("0123456789abcdefABCDEF", target[i + 1]) &&
                         strchr("0123456789abcdefABCDEF", target[i + 2]) && target[i + 1] && target[i + 2]);
}

static void check_count(const char *text)
{
    int64_t value = -1;
    bool ok = http_parse_count(text, &value);
    bool digits = text[0] != '\0' && strspn(text, "0123456789") == strlen(text);
    errno = 0;
    long long want = digits ? strtoll(text, NULL, 10) : 0;
    bool fits = digits && errno != ERANGE;
    FUZZ_REQUIRE(ok == fits);
    FUZZ_REQUIRE(!ok || value == want);
}

static void check_flag(const char *text)
{
    bool value = false;
    bool ok = http_parse_flag(text, &value);
    bool yes = strcmp(text, "1") == 0 || strcasecmp(text, "true") == 0;
    bool no = strcmp(text, "0") == 0 || strcasecmp(text, "false") == 0;
    FUZZ_REQUIRE(ok == (yes || no));
    FUZZ_REQUIRE(!ok || value == yes);
}

static void check_value(const char *value)
{
    check_count(value);
    check_flag(value);
    int level = lt_level_parse(value);
    FUZZ_REQUIRE(level >= -1 && level < LT_LEVEL_COUNT);
    if (level >= 0)
        FUZZ_REQUIRE(strcasecmp(lt_level_name(level), value) == 0 || level_alias(value));
    int64_t when;
    (void)lt_time_parse(value, INT64_C(1700000000000000000), &when);
}

/* name=value pairs, decoded as MHD decodes them for the server. */
static void check_query(char *query)
{
    for (char *pair = strtok(query, "&"); pair; pair = strtok(NULL, "&")) {
        char *value = strchr(pair, '=');
        if (value)
            *value++ = '\0';
        MHD_http_unescape(pair);
        if (value) {
            MHD_http_unescape(value);
            check_value(value);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *target = malloc(size + 1);
    FUZZ_REQUIRE(target != NULL);
    memcpy(target, data, size);
    target[size] = '\0';
    check_path(target);
    char *query = strchr(target, '?');
    if (query) {
        char *fragment = strchr(query, '#');
        if (fragment)
            *fragment = '\0';
        check_query(query + 1);
    }
    free(target);
    return 0;
}
