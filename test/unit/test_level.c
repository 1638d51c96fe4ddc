/* test_level.c -- level names and fal's level rule, as a table of real-world
 * line shapes. */
#include "unit.h"

#include "level.h"

struct level_case {
    int stream;
    const char *text;
    int expected;
};

static const struct level_case cases[] = {
    /* Defaults by stream. */
    {1, "hello", LT_LEVEL_STDOUT},
    {2, "hello", LT_LEVEL_STDERR},
    {1, "", LT_LEVEL_STDOUT},
    {2, "", LT_LEVEL_STDERR},
    /* Whole words, any case, brackets and punctuation around them. */
    {1, "error: disk full", LT_LEVEL_ERROR},
    {1, "[error] disk full", LT_LEVEL_ERROR},
    {2, "ERROR:root:boom", LT_LEVEL_ERROR},
    {1, "2026-11-25 14:38:06,123 ERROR my_app: failed", LT_LEVEL_ERROR},
    {1, "CRITICAL meltdown", LT_LEVEL_ERROR},
    {1, "Fatal: cannot continue", LT_LEVEL_ERROR},
    {2, "WARNING:root:careful", LT_LEVEL_WARN},
    {1, "warn: low memory", LT_LEVEL_WARN},
    {1, "[Warn] low memory", LT_LEVEL_WARN},
    {2, "INFO:uvicorn:started", LT_LEVEL_INFO},
    {2, "I0000 info here", LT_LEVEL_INFO},
    {1, "DEBUG x=1", LT_LEVEL_DEBUG},
    {1, "trace: enter f()", LT_LEVEL_TRACE},
    {1, "level=info msg=\"error happened\"", LT_LEVEL_INFO}, /* earliest word wins */
    {1, "Processing... error", LT_LEVEL_ERROR},
    {2, "Warning: cache miss", LT_LEVEL_WARN},
    /* Not whole words. */
    {1, "errors: 0", LT_LEVEL_STDOUT},
    {1, "terror alert", LT_LEVEL_STDOUT},
    {2, "information only", LT_LEVEL_STDERR},
    {1, "error_code=5", LT_LEVEL_STDOUT},
    {1, "debugger attached", LT_LEVEL_STDOUT},
    {1, "stacktrace follows", LT_LEVEL_STDOUT},
    {1, "warnings=3", LT_LEVEL_STDOUT},
    {1, "err on the side of caution", LT_LEVEL_STDOUT}, /* "err" only counts in JSON */
    /* JSON objects: the level member wins over words in the text. */
    {1, "{\"level\":\"error\",\"msg\":\"all good\"}", LT_LEVEL_ERROR},
    {2, "{\"msg\":\"info only\",\"level\":\"warning\"}", LT_LEVEL_WARN},
    {1, "  {\"severity\": \"CRITICAL\", \"message\": \"x\"}  ", LT_LEVEL_ERROR},
    {1, "{\"severity\":\"debug\"}", LT_LEVEL_DEBUG},
    {1, "{\"level\":\"err\"}", LT_LEVEL_ERROR},
    {1, "{\"level\":\"fatal\"}", LT_LEVEL_ERROR},
    {1, "{\"level\":\"warn\"}", LT_LEVEL_WARN},
    {1, "{\"level\":\"INFO\",\"msg\":\"error in text\"}", LT_LEVEL_INFO},
    {1, "{\"level\":\"trace\"}", LT_LEVEL_TRACE},
    {2, "{\"level\":\"Info\"}", LT_LEVEL_INFO},
    {1, "{\"level\":\"debug\",\"severity\":\"error\"}", LT_LEVEL_DEBUG}, /* level first */
    /* JSON without a usable level: falls back to the word rule. */
    {1, "{\"level\":30,\"msg\":\"hi\"}", LT_LEVEL_STDOUT},
    {1, "{\"level\":\"notice\",\"msg\":\"error x\"}", LT_LEVEL_ERROR},
    {2, "{\"msg\":\"plain\"}", LT_LEVEL_STDERR},
    {1, "{not json at all} warning", LT_LEVEL_WARN},
    {1, "{\"level\":\"error\"", LT_LEVEL_ERROR},    /* cut off: word rule still finds it */
    {1, "[{\"level\":\"error\"}]", LT_LEVEL_ERROR}, /* array: word rule */
};

static void test_detect(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct level_case *c = &cases[i];
        int got = lt_level_detect(c->stream, c->text, strlen(c->text));
        if (got != c->expected)
            fprintf(stderr, "  \"%s\" on stream %d: %s, expected %s\n", c->text, c->stream,
                    lt_level_name(got), lt_level_name(c->expected));
        CHECK(got == c->expected);
    }
    /* Bytes, not C strings: a NUL inside the line and no terminator. */
    static const char with_nul[] = {'x', '\0', 'e', 'r', 'r', 'o', 'r'};
    CHECK_INT(lt_level_detect(1, with_nul, sizeof with_nul), LT_LEVEL_ERROR);
    /* Not a JSON object (bytes after it), but its words still count. */
    static const char json_with_nul[] = "{\"level\":\"info\"}\0garbage";
    CHECK_INT(lt_level_detect(1, json_with_nul, sizeof json_with_nul - 1), LT_LEVEL_INFO);
    static const char json_then_nul[] = "{\"level\":\"warn\"}\0";
    CHECK_INT(lt_level_detect(2, json_then_nul, sizeof json_then_nul - 1), LT_LEVEL_WARN);
    CHECK_INT(lt_level_detect(1, "error", 3), LT_LEVEL_STDOUT); /* "err" */
    CHECK_INT(lt_level_detect(2, NULL, 0), LT_LEVEL_STDERR);
}

/* Only words wholly inside the first 120 bytes count. */
static void test_scan_window(void)
{
    char line[200];
    memset(line, '.', sizeof line);
    memcpy(line + 115, "error", 5); /* bytes 115..119: the last word that fits */
    CHECK_INT(lt_level_detect(1, line, 120), LT_LEVEL_ERROR);
    CHECK_INT(lt_level_detect(1, line, sizeof line), LT_LEVEL_ERROR);
    line[120] = 's'; /* now the word is "errors" */
    CHECK_INT(lt_level_detect(1, line, sizeof line), LT_LEVEL_STDOUT);

    memset(line, '.', sizeof line);
    memcpy(line + 116, "error", 5); /* bytes 116..120: runs past the window */
    CHECK_INT(lt_level_detect(1, line, sizeof line), LT_LEVEL_STDOUT);
    memcpy(line + 10, "warn", 4);
    CHECK_INT(lt_level_detect(1, line, sizeof line), LT_LEVEL_WARN);
}

static void test_names(void)
{
    CHECK_STR(lt_level_name(LT_LEVEL_STDOUT), "STDOUT");
    CHECK_STR(lt_level_name(LT_LEVEL_STDERR), "STDERR");
    CHECK_STR(lt_level_name(LT_LEVEL_ERROR), "ERROR");
    CHECK_STR(lt_level_name(LT_LEVEL_TRACE), "TRACE");
    CHECK_STR(lt_level_name(-1), "UNKNOWN");
    CHECK_STR(lt_level_name(LT_LEVEL_COUNT), "UNKNOWN");
    for (int level = 0; level < LT_LEVEL_COUNT; level++)
        CHECK_INT(lt_level_parse(lt_level_name(level)), level);
    CHECK_INT(lt_level_parse("warn"), LT_LEVEL_WARN);
    CHECK_INT(lt_level_parse("Stderr"), LT_LEVEL_STDERR);
    /* Other tools' names, as filters (level.c, level_aliases). */
    CHECK_INT(lt_level_parse("warning"), LT_LEVEL_WARN);
    CHECK_INT(lt_level_parse("WARNING"), LT_LEVEL_WARN);
    CHECK_INT(lt_level_parse("Critical"), LT_LEVEL_ERROR);
    CHECK_INT(lt_level_parse("FATAL"), LT_LEVEL_ERROR);
    CHECK_INT(lt_level_parse("notset"), LT_LEVEL_TRACE);
    CHECK_INT(lt_level_parse("warnings"), -1);
    CHECK_INT(lt_level_parse("severe"), -1);
    CHECK_INT(lt_level_parse(""), -1);
    CHECK_INT(lt_level_parse(NULL), -1);
    CHECK_STR(lt_stream_name(1), "stdout");
    CHECK_STR(lt_stream_name(2), "stderr");
    /* The severity order min-level filters rely on. */
    CHECK(LT_LEVEL_TRACE < LT_LEVEL_DEBUG && LT_LEVEL_DEBUG < LT_LEVEL_INFO &&
          LT_LEVEL_STDOUT < LT_LEVEL_WARN && LT_LEVEL_WARN < LT_LEVEL_STDERR &&
          LT_LEVEL_STDERR < LT_LEVEL_ERROR);
}

int main(void)
{
    test_detect();
    test_scan_window();
    test_names();
    return unit_done("unit-level");
}
