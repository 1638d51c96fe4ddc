/* cli_text.c -- the CLI's strings: a growable buffer, the filter that
 * makes log text and server messages safe to put on a terminal, and the
 * writing of results to stdout.
 *
 * Log text is untrusted: any runner can print anything, including escape
 * sequences aimed at the terminal of whoever reads its logs. Only colour and
 * style (SGR) may come through, and only when the caller asks; every other
 * control byte is shown as \xNN.
 */
#include "cli_text.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ------------------------------------------------------------------------ */
/* Growable strings                                                         */
/* ------------------------------------------------------------------------ */

_Noreturn void die_out_of_memory(void) {
    fputs("logtap: out of memory\n", stderr);
    exit(LT_EXIT_FAILED);
}

static void strbuf_reserve(struct strbuf *sb, size_t extra) {
    if (sb->len + extra + 1 <= sb->cap) return;
    size_t cap = sb->cap ? sb->cap : 256;
    while (cap < sb->len + extra + 1) cap *= 2;
    char *data = realloc(sb->data, cap);
    if (!data) die_out_of_memory();
    sb->data = data;
    sb->cap = cap;
}

void strbuf_append(struct strbuf *sb, const void *bytes, size_t len) {
    strbuf_reserve(sb, len);
    if (len) memcpy(sb->data + sb->len, bytes, len);
    sb->len += len;
    sb->data[sb->len] = '\0';
}

void strbuf_append_str(struct strbuf *sb, const char *s) {
    strbuf_append(sb, s, strlen(s));
}

void strbuf_append_byte(struct strbuf *sb, char c) {
    strbuf_append(sb, &c, 1);
}

void strbuf_appendf(struct strbuf *sb, const char *fmt, ...) {
    va_list ap;
    strbuf_reserve(sb, 64);
    va_start(ap, fmt);
    int needed = vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap);
    va_end(ap);
    if (needed < 0) {
        sb->data[sb->len] = '\0';
        return;
    }
    if ((size_t)needed >= sb->cap - sb->len) {
        strbuf_reserve(sb, (size_t)needed);
        va_start(ap, fmt);
        vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap);
        va_end(ap);
    }
    sb->len += (size_t)needed;
}

void strbuf_clear(struct strbuf *sb) {
    sb->len = 0;
    if (sb->data) sb->data[0] = '\0';
}

void strbuf_release(struct strbuf *sb) {
    free(sb->data);
    sb->data = NULL;
    sb->len = sb->cap = 0;
}

char *strbuf_detach(struct strbuf *sb) {
    if (!sb->data) strbuf_append(sb, "", 0);
    char *data = sb->data;
    sb->data = NULL;
    sb->len = sb->cap = 0;
    return data;
}

/* ------------------------------------------------------------------------ */
/* Making untrusted text safe for a terminal                                */
/* ------------------------------------------------------------------------ */

/* Length of a complete SGR sequence (ESC [ digits/semicolons m) at `s`, or
 * 0. Only colour and style can come through: every other escape sequence can
 * move the cursor, retitle the window or worse. */
static size_t sgr_length(const unsigned char *s, size_t len) {
    if (len < 3 || s[0] != 0x1b || s[1] != '[') return 0;
    for (size_t i = 2; i < len; i++) {
        if (s[i] == 'm') return i + 1;
        if (!isdigit(s[i]) && s[i] != ';') return 0;
    }
    return 0;
}

static bool is_c0_or_del(unsigned char c) {
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* U+0080..U+009F encoded as UTF-8: some terminals act on these C1 controls
 * (U+009B is a one-character CSI). */
static bool is_utf8_c1(const unsigned char *s, size_t len) {
    return len >= 2 && s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f;
}

void append_terminal_safe(struct strbuf *out, const char *text,
                                 size_t len, bool keep_sgr) {
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        size_t sgr = keep_sgr ? sgr_length(s + i, len - i) : 0;
        if (sgr) {
            strbuf_append(out, s + i, sgr);
            i += sgr;
        } else if (is_utf8_c1(s + i, len - i)) {
            strbuf_appendf(out, "\\x%02x\\x%02x", s[i], s[i + 1]);
            i += 2;
        } else if (is_c0_or_del(s[i])) {
            strbuf_appendf(out, "\\x%02x", s[i]);
            i++;
        } else {
            strbuf_append_byte(out, (char)s[i]);
            i++;
        }
    }
}

char *terminal_safe_copy(const char *text) {
    struct strbuf sb = {0};
    append_terminal_safe(&sb, text, strlen(text), false);
    return strbuf_detach(&sb);
}

/* ------------------------------------------------------------------------ */
/* Output                                                                   */
/* ------------------------------------------------------------------------ */

void append_json_line(struct strbuf *out, json_t *value, size_t flags) {
    char *text = json_dumps(value, flags | JSON_PRESERVE_ORDER);
    if (!text) die_out_of_memory();
    strbuf_append_str(out, text);
    strbuf_append_byte(out, '\n');
    free(text);
}

void print_json_line(json_t *value, size_t flags) {
    struct strbuf line = {0};
    append_json_line(&line, value, flags);
    fwrite(line.data, 1, line.len, stdout);
    strbuf_release(&line);
}

int report_write_failure(int err) {
    if (err == EPIPE) return LT_EXIT_OK;
    fprintf(stderr, "logtap: cannot write output: %s\n", strerror(err));
    return LT_EXIT_FAILED;
}

int finish_stdout(int code, int write_errno) {
    if (fflush(stdout) == 0 && !ferror(stdout)) return code;
    if (!write_errno) write_errno = errno ? errno : EIO;
    return code == LT_EXIT_OK ? report_write_failure(write_errno) : code;
}

bool is_all_digits(const char *s) {
    if (!*s) return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return false;
    return true;
}
