/* test_entry_json.c -- the JSON shape of a log entry (doc/http-api.md) and
 * its status form; untrusted bytes must always yield valid JSON. */
#include "unit.h"

#include "entry_json.h"

static lt_line sample_line(void)
{
    lt_line line = {
        .id = 42,
        .ts_ns = INT64_C(1795618686123456789),
        .runner_id = "r-1",
        .request_id = "req-7",
        .app_id = "demo",
        .version_id = "v1",
        .source = "run",
        .message = "hello",
        .message_len = 5,
        .stream = 1,
        .level = LT_LEVEL_STDOUT,
        .pid = 1234,
        .tid = 1240,
    };
    return line;
}

static void test_full_entry(void)
{
    lt_line line = sample_line();
    json_t *entry = lt_entry_json(&line);
    CHECK(entry != NULL);
    char *text = json_dumps(entry, JSON_COMPACT);
    CHECK_STR(text, "{\"id\":42,\"timestamp\":\"2026-11-25T14:58:06.123456Z\",\"message\":\"hello\","
                    "\"level\":\"STDOUT\",\"stream\":\"stdout\",\"source\":\"run\",\"runner_id\":\"r-1\","
                    "\"request_id\":\"req-7\",\"app_id\":\"demo\",\"version_id\":\"v1\",\"pid\":1234,"
                    "\"tid\":1240}");
    free(text);
    json_decref(entry);

    line.request_id = NULL;
    line.app_id = "";
    line.stream = 2;
    line.level = LT_LEVEL_ERROR;
    entry = lt_entry_json(&line);
    CHECK(json_is_null(json_object_get(entry, "request_id")));
    CHECK_STR(json_string_value(json_object_get(entry, "app_id")), "");
    CHECK_STR(json_string_value(json_object_get(entry, "stream")), "stderr");
    CHECK_STR(json_string_value(json_object_get(entry, "level")), "ERROR");
    json_decref(entry);
}

static void test_untrusted_bytes(void)
{
    lt_line line = sample_line();
    static const char message[] = "bad \xff\xfe and nul \0 and <b>html</b> \x1b[1m";
    line.message = message;
    line.message_len = sizeof message - 1; /* not NUL-terminated by contract */
    line.runner_id = "r\xc3";              /* IDs off the wire may be broken too */
    json_t *entry = lt_entry_json(&line);
    CHECK(entry != NULL);
    CHECK_STR(json_string_value(json_object_get(entry, "message")),
              "bad \xEF\xBF\xBD\xEF\xBF\xBD and nul \xEF\xBF\xBD and <b>html</b> \x1b[1m");
    CHECK_STR(json_string_value(json_object_get(entry, "runner_id")), "r\xEF\xBF\xBD");
    /* And jansson reads its own output back. */
    char *text = json_dumps(entry, JSON_COMPACT);
    json_error_t error;
    json_t *back = json_loads(text, 0, &error);
    CHECK(back != NULL && json_equal(back, entry));
    json_decref(back);
    free(text);
    json_decref(entry);

    line.message = NULL;
    line.message_len = 0;
    entry = lt_entry_json(&line);
    CHECK_STR(json_string_value(json_object_get(entry, "message")), "");
    json_decref(entry);
}

static void test_status_entry(void)
{
    lt_line line = sample_line();
    json_t *entry = lt_entry_json_status(&line);
    char *text = json_dumps(entry, JSON_COMPACT);
    CHECK_STR(text, "{\"message\":\"hello\",\"level\":\"STDOUT\",\"source\":\"run\","
                    "\"timestamp\":\"2026-11-25T14:58:06.123456Z\"}");
    free(text);
    json_decref(entry);
}

int main(void)
{
    test_full_entry();
    test_untrusted_bytes();
    test_status_entry();
    return unit_done("unit-entry-json");
}
