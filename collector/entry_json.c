/* entry_json.c -- builds the JSON form of a log line (see entry_json.h).
 *
 * Stored text is raw bytes: messages are whatever a process wrote, and IDs
 * came off the wire. jansson refuses invalid UTF-8 (json_string returns
 * NULL), which would silently drop fields, so every string goes through
 * lt_utf8_sanitize first. Keys are inserted in the documented order; jansson
 * keeps insertion order when dumping, which keeps output stable for readers.
 */
#include "entry_json.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"
#include "utf8.h"

/* A JSON string from untrusted bytes; new reference or NULL (no memory). */
static json_t *json_string_from_bytes(const char *bytes, size_t len)
{
    size_t clean_len;
    char *clean = lt_utf8_sanitize(bytes, len, &clean_len);
    if (clean == NULL)
        return NULL;
    /* Sanitised text is valid UTF-8 without NUL: no need to check again. */
    json_t *string = json_stringn_nocheck(clean, clean_len);
    free(clean);
    return string;
}

static json_t *json_string_from_text(const char *text)
{
    if (text == NULL)
        text = "";
    return json_string_from_bytes(text, strlen(text));
}

static json_t *json_timestamp(int64_t ts_ns)
{
    char buf[40];
    return json_string(lt_time_format(ts_ns, buf, sizeof buf));
}

/* Adds `value` under `key`, taking the reference; a NULL value (allocation
 * failure) marks the whole object as failed. */
static bool set_member(json_t *object, const char *key, json_t *value)
{
    return value != NULL && json_object_set_new_nocheck(object, key, value) == 0;
}

json_t *lt_entry_json(const lt_line *line)
{
    assert(line != NULL);
    json_t *entry = json_object();
    if (entry == NULL)
        return NULL;
    bool ok = set_member(entry, "id", json_integer(line->id)) &&
              set_member(entry, "timestamp", json_timestamp(line->ts_ns)) &&
              set_member(entry, "message", json_string_from_bytes(line->message, line->message_len)) &&
              set_member(entry, "level", json_string(lt_level_name(line->level))) &&
              set_member(entry, "stream", json_string(lt_stream_name(line->stream))) &&
              set_member(entry, "source", json_string_from_text(line->source)) &&
              set_member(entry, "runner_id", json_string_from_text(line->runner_id)) &&
              set_member(entry, "request_id",
                         line->request_id != NULL ? json_string_from_text(line->request_id) : json_null()) &&
              set_member(entry, "app_id", json_string_from_text(line->app_id)) &&
              set_member(entry, "version_id", json_string_from_text(line->version_id)) &&
              set_member(entry, "pid", json_integer(line->pid)) &&
              set_member(entry, "tid", json_integer(line->tid)) &&
              (!line->unattributed || set_member(entry, "unattributed", json_true()));
    if (!ok) {
        json_decref(entry);
        return NULL;
    }
    return entry;
}

json_t *lt_entry_json_status(const lt_line *line)
{
    assert(line != NULL);
    json_t *entry = json_object();
    if (entry == NULL)
        return NULL;
    bool ok = set_member(entry, "message", json_string_from_bytes(line->message, line->message_len)) &&
              set_member(entry, "level", json_string(lt_level_name(line->level))) &&
              set_member(entry, "source", json_string_from_text(line->source)) &&
              set_member(entry, "timestamp", json_timestamp(line->ts_ns));
    if (!ok) {
        json_decref(entry);
        return NULL;
    }
    return entry;
}
