/* drain_format.c -- a batch of stored lines as a drain's payload.
 *
 * Owns the three wire shapes, so that a receiver's view of a line is
 * decided in one place:
 * - NDJSON: one log entry of the HTTP API a line (entry_json.c), the shape
 *   fal's drains send, so one parser reads the API and a drain.
 * - OTLP/HTTP JSON (opentelemetry-proto's logs, JSON mapping): a
 *   ResourceLogs per run of consecutive lines with one (app, version,
 *   runner, source): service.name = app, service.version = version,
 *   logtap.runner_id, logtap.source; each LogRecord has timeUnixNano (when
 *   the line was written), observedTimeUnixNano (when the drain read it),
 *   severityNumber and severityText, a string body, and the attributes
 *   request_id (when in a request), log.iostream (stdout/stderr, the
 *   semantic conventions' name), logtap.line_id, process.pid and
 *   thread.id. 64-bit integers are strings, as the JSON mapping says.
 * - Syslog: RFC 5424 messages with octet-counting framing (RFC 6587 3.4.1),
 *   as Heroku's drains send: PRI (facility user, severity from the level),
 *   HOSTNAME the collector's, APP-NAME the app (48 bytes at most, the
 *   RFC's limit; the whole ID is in the structured data), PROCID the pid,
 *   MSGID the stream, and [logtap@32473 app= runner= request= version=
 *   source= level= id=] (32473 is the RFC's example enterprise number).
 * Every text a runner wrote is made valid UTF-8 first (utf8.c).
 */
#include "drain_format.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "entry_json.h"
#include "level.h"
#include "timefmt.h"
#include "utf8.h"
#include "version.h"

int lt_drain_kind_parse(const char *name)
{
    if (strcmp(name, "ndjson") == 0)
        return LT_DRAIN_NDJSON;
    if (strcmp(name, "otlp") == 0)
        return LT_DRAIN_OTLP;
    if (strcmp(name, "syslog") == 0)
        return LT_DRAIN_SYSLOG;
    return -1;
}

int lt_drain_otlp_severity(int level)
{
    switch (level) {
    case LT_LEVEL_TRACE: return 1;
    case LT_LEVEL_DEBUG: return 5;
    case LT_LEVEL_INFO:
    case LT_LEVEL_STDOUT: return 9;
    case LT_LEVEL_WARN: return 13;
    case LT_LEVEL_STDERR: return 13;
    case LT_LEVEL_ERROR: return 17;
    default: return 0;
    }
}

void lt_drain_batch_begin(lt_drain_batch *b, lt_drain_kind kind, const char *hostname)
{
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->hostname = hostname;
    b->observed_ns = lt_time_now_ns();
}

void lt_drain_batch_release(lt_drain_batch *b)
{
    lt_buf_release(&b->body);
    json_decref(b->otlp);
    free(b->otlp_resource);
    memset(b, 0, sizeof *b);
}

size_t lt_drain_batch_size(const lt_drain_batch *b)
{
    return b->body.len + b->estimated;
}

static json_t *clean_string(const char *bytes, size_t len)
{
    size_t clean_len;
    char *clean = lt_utf8_sanitize(bytes != NULL ? bytes : "", bytes != NULL ? len : 0, &clean_len);
    if (clean == NULL)
        return NULL;
    json_t *s = json_stringn_nocheck(clean, clean_len);
    free(clean);
    return s;
}

static json_t *attribute(const char *key, json_t *value)
{
    return value != NULL ? json_pack("{s:s, s:{s:o}}", "key", key, "value", "stringValue", value) : NULL;
}

static json_t *int_attribute(const char *key, int64_t value)
{
    char text[32];
    snprintf(text, sizeof text, "%" PRId64, value);
    return json_pack("{s:s, s:{s:s}}", "key", key, "value", "intValue", text);
}

static int otlp_add(lt_drain_batch *b, const lt_line *line)
{
    if (b->otlp == NULL && (b->otlp = json_pack("{s:[]}", "resourceLogs")) == NULL)
        return -1;
    /* A new ResourceLogs whenever the resource changes. */
    size_t key_len =
        strlen(line->app_id) + strlen(line->version_id) + strlen(line->runner_id) + strlen(line->source) + 4;
    char *key = malloc(key_len);
    if (key == NULL)
        return -1;
    snprintf(key, key_len, "%s\n%s\n%s\n%s", line->app_id, line->version_id, line->runner_id, line->source);
    if (b->otlp_resource == NULL || strcmp(key, b->otlp_resource) != 0) {
        free(b->otlp_resource);
        b->otlp_resource = key;
        json_t *attrs = json_array();
        json_array_append_new(attrs,
                              attribute("service.name", clean_string(line->app_id, strlen(line->app_id))));
        json_array_append_new(
            attrs, attribute("service.version", clean_string(line->version_id, strlen(line->version_id))));
        json_array_append_new(
            attrs, attribute("logtap.runner_id", clean_string(line->runner_id, strlen(line->runner_id))));
        json_array_append_new(attrs,
                              attribute("logtap.source", clean_string(line->source, strlen(line->source))));
        json_t *records = json_array();
        json_t *resource_logs =
            json_pack("{s:{s:o}, s:[{s:{s:s, s:s}, s:o}]}", "resource", "attributes", attrs, "scopeLogs",
                      "scope", "name", "logtap", "version", LT_VERSION, "logRecords", records);
        if (resource_logs == NULL ||
            json_array_append_new(json_object_get(b->otlp, "resourceLogs"), resource_logs) != 0)
            return -1;
        b->otlp_records = records;
    } else {
        free(key);
    }
    char ts[32], observed[32];
    snprintf(ts, sizeof ts, "%" PRId64, line->ts_ns);
    snprintf(observed, sizeof observed, "%" PRId64, b->observed_ns);
    json_t *attrs = json_array();
    if (attrs == NULL)
        return -1;
    if (line->request_id != NULL)
        json_array_append_new(
            attrs, attribute("request_id", clean_string(line->request_id, strlen(line->request_id))));
    json_array_append_new(attrs, attribute("log.iostream", json_string(lt_stream_name(line->stream))));
    json_array_append_new(attrs, int_attribute("logtap.line_id", line->id));
    json_array_append_new(attrs, int_attribute("process.pid", line->pid));
    json_array_append_new(attrs, int_attribute("thread.id", line->tid));
    json_t *body = clean_string(line->message, line->message_len);
    json_t *record =
        body != NULL
            ? json_pack("{s:s, s:s, s:i, s:s, s:{s:o}, s:o}", "timeUnixNano", ts, "observedTimeUnixNano",
                        observed, "severityNumber", lt_drain_otlp_severity(line->level), "severityText",
                        lt_level_name(line->level), "body", "stringValue", body, "attributes", attrs)
            : NULL;
    if (record == NULL) {
        json_decref(attrs);
        return -1;
    }
    if (json_array_append_new(b->otlp_records, record) != 0)
        return -1;
    /* An estimate of the serialised size, for the batch's byte cap. */
    b->estimated += line->message_len + 400;
    return 0;
}

/* An SD-PARAM value: '"', '\' and ']' escaped (RFC 5424 6.3.3). */
static void append_sd_value(lt_buf *out, const char *text)
{
    for (const char *c = text; *c; c++) {
        if (*c == '"' || *c == '\\' || *c == ']')
            lt_buf_append_byte(out, '\\');
        lt_buf_append_byte(out, *c);
    }
}

static int syslog_severity(int level)
{
    switch (level) {
    case LT_LEVEL_TRACE:
    case LT_LEVEL_DEBUG: return 7;
    case LT_LEVEL_INFO:
    case LT_LEVEL_STDOUT: return 6;
    case LT_LEVEL_WARN: return 4;
    case LT_LEVEL_STDERR: return 4;
    case LT_LEVEL_ERROR: return 3;
    default: return 6;
    }
}

static int syslog_add(lt_drain_batch *b, const lt_line *line)
{
    lt_buf msg = {0};
    char ts[40];
    lt_time_format(line->ts_ns, ts, sizeof ts);
    const char *app = line->app_id[0] ? line->app_id : "-";
    lt_buf_appendf(&msg, "<%d>1 %s %s %.48s %" PRId64 " %s [logtap@32473 app=\"",
                   1 * 8 + syslog_severity(line->level), ts,
                   b->hostname != NULL && b->hostname[0] ? b->hostname : "-", app, line->pid,
                   lt_stream_name(line->stream));
    append_sd_value(&msg, line->app_id);
    lt_buf_append_str(&msg, "\" runner=\"");
    append_sd_value(&msg, line->runner_id);
    if (line->request_id != NULL) {
        lt_buf_append_str(&msg, "\" request=\"");
        append_sd_value(&msg, line->request_id);
    }
    lt_buf_append_str(&msg, "\" version=\"");
    append_sd_value(&msg, line->version_id);
    lt_buf_append_str(&msg, "\" source=\"");
    append_sd_value(&msg, line->source);
    lt_buf_appendf(&msg, "\" level=\"%s\" id=\"%" PRId64 "\"] ", lt_level_name(line->level), line->id);
    size_t clean_len;
    char *clean = lt_utf8_sanitize(line->message, line->message_len, &clean_len);
    if (clean == NULL) {
        lt_buf_release(&msg);
        return -1;
    }
    /* A newline inside a message would end it for line-based receivers. */
    for (size_t i = 0; i < clean_len; i++)
        if (clean[i] == '\n' || clean[i] == '\r')
            clean[i] = ' ';
    lt_buf_append(&msg, clean, clean_len);
    free(clean);
    if (lt_buf_failed(&msg))
        return -1;
    lt_buf_appendf(&b->body, "%zu ", msg.len);
    lt_buf_append(&b->body, msg.data, msg.len);
    lt_buf_release(&msg);
    return 0;
}

int lt_drain_batch_add(lt_drain_batch *b, const lt_line *line)
{
    int rc = 0;
    switch (b->kind) {
    case LT_DRAIN_NDJSON: {
        json_t *entry = lt_entry_json(line);
        char *text = entry != NULL ? json_dumps(entry, JSON_COMPACT) : NULL;
        json_decref(entry);
        if (text == NULL)
            return -1;
        lt_buf_append_str(&b->body, text);
        lt_buf_append_byte(&b->body, '\n');
        free(text);
        break;
    }
    case LT_DRAIN_OTLP: rc = otlp_add(b, line); break;
    case LT_DRAIN_SYSLOG: rc = syslog_add(b, line); break;
    }
    if (rc != 0 || lt_buf_failed(&b->body))
        return -1;
    if (b->lines == 0) {
        b->first_id = line->id;
        b->first_ts_ns = line->ts_ns;
    }
    assert(line->id > b->last_id);
    b->last_id = line->id;
    b->lines++;
    return 0;
}

int lt_drain_batch_finish(lt_drain_batch *b)
{
    if (b->kind != LT_DRAIN_OTLP)
        return lt_buf_failed(&b->body) ? -1 : 0;
    lt_buf_clear(&b->body);
    if (b->otlp == NULL)
        return 0;
    char *text = json_dumps(b->otlp, JSON_COMPACT);
    if (text == NULL)
        return -1;
    lt_buf_append_str(&b->body, text);
    free(text);
    return lt_buf_failed(&b->body) ? -1 : 0;
}
