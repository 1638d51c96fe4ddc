/* level.c -- level, stream and source names, and the level of a line from
 * its text.
 *
 * fal shows every line with a level: STDOUT or STDERR by the stream it was
 * written to, refined from the text when the text says what it is. The
 * assembler calls lt_level_detect once per line, so the rule runs at ingest
 * speed: the JSON parser only runs on lines that look like a JSON object, and
 * the word scan looks at no more than the first LEVEL_SCAN_BYTES bytes.
 *
 * The rule, in order:
 *   1. a JSON object with a recognised string "level" (or else "severity")
 *      member: that level (structured loggers say exactly what they mean);
 *   2. otherwise the earliest whole word, case-insensitive, in the first
 *      LEVEL_SCAN_BYTES bytes among error/critical/fatal, warn/warning, info,
 *      debug, trace ("[error]" and "ERROR:root:" count; "errors", "terror"
 *      and "information" do not);
 *   3. otherwise the stream's default.
 */
#include <assert.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "level.h"

/* Log prefixes (timestamps, logger names, "[error]") sit at the start of a
 * line; scanning further would mostly find the words inside messages. */
#define LEVEL_SCAN_BYTES 120

static const char *const level_names[LT_LEVEL_COUNT] = {
    [LT_LEVEL_TRACE] = "TRACE",   [LT_LEVEL_DEBUG] = "DEBUG", [LT_LEVEL_INFO] = "INFO",
    [LT_LEVEL_STDOUT] = "STDOUT", [LT_LEVEL_WARN] = "WARN",   [LT_LEVEL_STDERR] = "STDERR",
    [LT_LEVEL_ERROR] = "ERROR",
};

const char *lt_level_name(int level)
{
    if (level < 0 || level >= LT_LEVEL_COUNT)
        return "UNKNOWN";
    return level_names[level];
}

/* Names other tools give levels (Python's logging, fal, syslog-minded
 * loggers), as filters: each means the level of ours that holds those lines
 * (lt_level_detect already stores "warning" as WARN and "critical" and
 * "fatal" as ERROR), and NOTSET, Python's "no threshold", the lowest. */
static const struct {
    const char *name;
    int level;
} level_aliases[] = {
    {"WARNING", LT_LEVEL_WARN},
    {"CRITICAL", LT_LEVEL_ERROR},
    {"FATAL", LT_LEVEL_ERROR},
    {"NOTSET", LT_LEVEL_TRACE},
};

int lt_level_parse(const char *name)
{
    if (name == NULL)
        return -1;
    for (int level = 0; level < LT_LEVEL_COUNT; level++)
        if (strcasecmp(name, level_names[level]) == 0)
            return level;
    for (size_t i = 0; i < sizeof level_aliases / sizeof level_aliases[0]; i++)
        if (strcasecmp(name, level_aliases[i].name) == 0)
            return level_aliases[i].level;
    return -1;
}

const char *lt_stream_name(int stream)
{
    switch (stream) {
    case 1: return "stdout";
    case 2: return "stderr";
    default: return "unknown";
    }
}

bool lt_source_name_ok(const char *name)
{
    return strcmp(name, "run") == 0 || strcmp(name, "gateway") == 0 || strcmp(name, "deploy") == 0;
}

/* The words that name a level, in the text and in JSON "level" values.
 * `err` is only trusted inside JSON: as a bare word it is too often part of
 * ordinary prose ("err on the side of ..."). */
struct level_word {
    const char *word;
    int level;
    bool json_only;
};

static const struct level_word level_words[] = {
    {"error", LT_LEVEL_ERROR, false}, {"critical", LT_LEVEL_ERROR, false}, {"fatal", LT_LEVEL_ERROR, false},
    {"err", LT_LEVEL_ERROR, true},    {"warn", LT_LEVEL_WARN, false},      {"warning", LT_LEVEL_WARN, false},
    {"info", LT_LEVEL_INFO, false},   {"debug", LT_LEVEL_DEBUG, false},    {"trace", LT_LEVEL_TRACE, false},
};

/* The level named by exactly `len` bytes at `word`, or -1. */
static int level_of_word(const char *word, size_t len, bool in_json)
{
    for (size_t i = 0; i < sizeof level_words / sizeof level_words[0]; i++) {
        const struct level_word *w = &level_words[i];
        if (w->json_only && !in_json)
            continue;
        if (strlen(w->word) == len && strncasecmp(word, w->word, len) == 0)
            return w->level;
    }
    return -1;
}

/* Word characters as in a regular expression's \b: "error_code" is one
 * word, not "error". */
static bool is_word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Level from a JSON object's "level" or "severity" string, or -1 when the
 * line is not such an object or names no level we know. */
static int level_from_json(const char *msg, size_t len)
{
    size_t start = 0;
    while (start < len && (msg[start] == ' ' || msg[start] == '\t'))
        start++;
    if (start == len || msg[start] != '{')
        return -1;
    size_t end = len;
    while (end > start && (msg[end - 1] == ' ' || msg[end - 1] == '\t' || msg[end - 1] == '\r'))
        end--;
    if (msg[end - 1] != '}')
        return -1; /* cheap reject before parsing */

    json_error_t error;
    json_t *root = json_loadb(msg + start, end - start, 0, &error);
    if (root == NULL)
        return -1;

    int level = -1;
    static const char *const keys[] = {"level", "severity"};
    for (size_t k = 0; k < 2 && level < 0 && json_is_object(root); k++) {
        json_t *value = json_object_get(root, keys[k]);
        if (json_is_string(value))
            level = level_of_word(json_string_value(value), json_string_length(value), true);
    }
    json_decref(root);
    return level;
}

/* Level of the earliest level word wholly inside the scan window, or -1. */
static int level_from_words(const char *msg, size_t len)
{
    size_t window = len < LEVEL_SCAN_BYTES ? len : LEVEL_SCAN_BYTES;
    size_t i = 0;
    while (i < window) {
        if (!is_word_char((unsigned char)msg[i])) {
            i++;
            continue;
        }
        size_t word_start = i;
        while (i < len && is_word_char((unsigned char)msg[i]))
            i++;
        if (i > window)
            break; /* the word runs past the window */
        int level = level_of_word(msg + word_start, i - word_start, false);
        if (level >= 0)
            return level;
    }
    return -1;
}

int lt_level_detect(int stream, const char *msg, size_t len)
{
    assert(msg != NULL || len == 0);
    int level = stream == 2 ? LT_LEVEL_STDERR : LT_LEVEL_STDOUT;
    if (len == 0)
        return level;

    int refined = level_from_json(msg, len);
    if (refined < 0)
        refined = level_from_words(msg, len);
    return refined >= 0 ? refined : level;
}
