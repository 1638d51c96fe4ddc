/* cli_text.h -- growable strings, making untrusted text safe to show on a
 * terminal, and writing results to stdout. */
#ifndef LT_CLI_TEXT_H
#define LT_CLI_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Always NUL-terminated once anything was appended; owns `data`. */
struct strbuf {
    char *data;
    size_t len;
    size_t cap;
};

void strbuf_append(struct strbuf *sb, const void *bytes, size_t len);
void strbuf_append_str(struct strbuf *sb, const char *s);
void strbuf_append_byte(struct strbuf *sb, char c);
__attribute__((format(printf, 2, 3)))
void strbuf_appendf(struct strbuf *sb, const char *fmt, ...);
void strbuf_clear(struct strbuf *sb);
void strbuf_release(struct strbuf *sb);
/* Hands the buffer to the caller, who frees it. */
char *strbuf_detach(struct strbuf *sb);

/* Appends `text` with control characters shown as \xNN (tab kept); with
 * keep_sgr, colour/style sequences pass through. */
void append_terminal_safe(struct strbuf *out, const char *text, size_t len,
                          bool keep_sgr);

/* For echoing IDs and server messages in diagnostics. Caller frees. */
char *terminal_safe_copy(const char *text);

/* `value` as JSON text with its keys in the order they were parsed (jansson
 * keeps it: the collector's own field order), then '\n'. flags:
 * JSON_COMPACT for one object a line, or JSON_INDENT(n). */
void append_json_line(struct strbuf *out, json_t *value, size_t flags);
void print_json_line(json_t *value, size_t flags); /* to stdout */

/* After a write to stdout failed with `err`: a closed pipe (logtap ... |
 * head) is a normal way to stop reading, 0; anything else a message and
 * 1. */
int report_write_failure(int err);

/* Once everything is printed: flushes stdout and returns `code`, or, when
 * `code` was 0 and stdout failed, report_write_failure's code.
 * `write_errno` is an error already seen writing, else 0. */
int finish_stdout(int code, int write_errno);

/* Non-empty and only ASCII digits. */
bool is_all_digits(const char *s);

_Noreturn void die_out_of_memory(void);

#endif
