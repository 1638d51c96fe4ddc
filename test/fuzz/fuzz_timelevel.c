/* fuzz_timelevel.c -- libFuzzer harness: the time and level text that
 * --since/--until/--level (CLI) and since/until/level (HTTP) take, and the
 * level detection every stored line goes through.
 *
 * Feeds: the input as a NUL-terminated string to lt_time_parse (durations,
 * RFC 3339, dates), lt_duration_parse and lt_level_parse (common/
 * timefmt.c, common/level.c), and as raw bytes (first byte: the stream) to
 * lt_level_detect.
 *
 * Asserts:
 *   - a parsed time, formatted by lt_time_format, parses back to the same
 *     time to the microsecond (the format keeps microseconds);
 *   - a parsed duration is not negative, and "now minus it" is what
 *     lt_time_parse answers for the same text;
 *   - a level name parses to a valid level whose name reads back the same
 *     (or it is one of the other tools' names: WARNING, CRITICAL, FATAL,
 *     NOTSET);
 *   - lt_level_detect answers a valid level;
 * and everything ASan and UBSan check.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "level.h"
#include "timefmt.h"

/* The names level.c takes for other tools' levels. */
static bool level_alias(const char *name)
{
    return strcasecmp(name, "WARNING") == 0 || strcasecmp(name, "CRITICAL") == 0 ||
           strcasecmp(name, "FATAL") == 0 || strcasecmp(name, "NOTSET") == 0;
}

static const int64_t now_ns = INT64_C(1764081486123456789); /* 2025-11-25T14:38:06.123456789Z */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    FUZZ_REQUIRE(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';

    int64_t when = 0;
    if (lt_time_parse(text, now_ns, &when) == 0) {
        char formatted[32];
        lt_time_format(when, formatted, sizeof formatted);
        int64_t again = 0;
        if (lt_time_parse(formatted, now_ns, &again) != 0 || again != when - when % 1000)
            fprintf(stderr, "'%s' -> %lld -> '%s' -> %lld\n", text, (long long)when, formatted,
                    (long long)again);
        FUZZ_REQUIRE(lt_time_parse(formatted, now_ns, &again) == 0);
        FUZZ_REQUIRE(again == when - when % 1000 || (when < 0 && again == when - when % 1000 - 1000));
    }
    int64_t span = 0;
    if (lt_duration_parse(text, &span) == 0) {
        FUZZ_REQUIRE(span >= 0);
        FUZZ_REQUIRE(lt_time_parse(text, now_ns, &when) == 0 && when == now_ns - span);
    }
    int level = lt_level_parse(text);
    FUZZ_REQUIRE(level >= -1 && level < LT_LEVEL_COUNT);
    if (level >= 0)
        FUZZ_REQUIRE(strcasecmp(lt_level_name(level), text) == 0 || level_alias(text));

    if (size > 0) {
        int stream = data[0] % 2 + 1;
        int detected = lt_level_detect(stream, (const char *)data + 1, size - 1);
        FUZZ_REQUIRE(detected >= 0 && detected < LT_LEVEL_COUNT);
    }
    free(text);
    return 0;
}
