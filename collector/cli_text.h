/* cli_text.h -- growable strings, and making untrusted text safe to show on
 * a terminal. */
#ifndef LT_CLI_TEXT_H
#define LT_CLI_TEXT_H

#include <stdbool.h>
#include <stddef.h>

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

/* Non-empty and only ASCII digits. */
bool is_all_digits(const char *s);

_Noreturn void die_out_of_memory(void);

#endif
