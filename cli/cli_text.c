/* cli_text.c -- the CLI's strings: dying on out of memory, the filter that
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ------------------------------------------------------------------------ */
/* Out of memory                                                            */
/* ------------------------------------------------------------------------ */

_Noreturn void die_out_of_memory(void)
{
    fputs("logtap: out of memory\n", stderr);
    exit(LT_EXIT_FAILED);
}

/* ------------------------------------------------------------------------ */
/* Making untrusted text safe for a terminal                                */
/* ------------------------------------------------------------------------ */

/* Length of a complete SGR sequence (ESC [ digits/semicolons m) at `s`, or
 * 0. Only colour and style can come through: every other escape sequence can
 * move the cursor, retitle the window or worse. */
static size_t sgr_length(const unsigned char *s, size_t len)
{
    if (len < 3 || s[0] != 0x1b || s[1] != '[')
        return 0;
    for (size_t i = 2; i < len; i++) {
        if (s[i] == 'm')
            return i + 1;
        if (!isdigit(s[i]) && s[i] != ';')
            return 0;
    }
    return 0;
}

static bool is_c0_or_del(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* U+0080..U+009F encoded as UTF-8: some terminals act on these C1 controls
 * (U+009B is a one-character CSI). */
static bool is_utf8_c1(const unsigned char *s, size_t len)
{
    return len >= 2 && s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f;
}

void append_terminal_safe(lt_buf *out, const char *text, size_t len, bool keep_sgr)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        size_t sgr = keep_sgr ? sgr_length(s + i, len - i) : 0;
        if (sgr) {
            lt_buf_append(out, s + i, sgr);
            i += sgr;
        } else if (is_utf8_c1(s + i, len - i)) {
            lt_buf_appendf(out, "\\x%02x\\x%02x", s[i], s[i + 1]);
            i += 2;
        } else if (is_c0_or_del(s[i])) {
            lt_buf_appendf(out, "\\x%02x", s[i]);
            i++;
        } else {
            lt_buf_append_byte(out, (char)s[i]);
            i++;
        }
    }
}

char *terminal_safe_copy(const char *text)
{
    lt_buf sb = {0};
    append_terminal_safe(&sb, text, strlen(text), false);
    return lt_buf_detach(&sb);
}

/* ------------------------------------------------------------------------ */
/* Output                                                                   */
/* ------------------------------------------------------------------------ */

void append_json_line(lt_buf *out, json_t *value, size_t flags)
{
    char *text = json_dumps(value, flags | JSON_PRESERVE_ORDER);
    if (!text)
        die_out_of_memory();
    lt_buf_append_str(out, text);
    lt_buf_append_byte(out, '\n');
    free(text);
}

void print_json_line(json_t *value, size_t flags)
{
    lt_buf line = {0};
    append_json_line(&line, value, flags);
    fwrite(line.data, 1, line.len, stdout);
    lt_buf_release(&line);
}

int report_write_failure(int err)
{
    if (err == EPIPE)
        return LT_EXIT_OK;
    fprintf(stderr, "logtap: cannot write output: %s\n", strerror(err));
    return LT_EXIT_FAILED;
}

int finish_stdout(int code, int write_errno)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return code;
    if (!write_errno)
        write_errno = errno ? errno : EIO;
    return code == LT_EXIT_OK ? report_write_failure(write_errno) : code;
}

bool is_all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

/* ------------------------------------------------------------------------ */
/* Fields and tables of the collector's objects                             */
/* ------------------------------------------------------------------------ */

/* A field as text for a person: strings made terminal-safe, numbers as
 * digits, anything missing as "-". Caller frees. */
char *field_text_new(json_t *object, const char *key)
{
    json_t *value = json_object_get(object, key);
    lt_buf text = {0};
    if (json_is_string(value) && json_string_length(value) > 0)
        append_terminal_safe(&text, json_string_value(value), json_string_length(value), false);
    else if (json_is_integer(value))
        lt_buf_appendf(&text, "%lld", (long long)json_integer_value(value));
    else if (json_is_boolean(value))
        lt_buf_append_str(&text, json_is_true(value) ? "yes" : "no");
    else
        lt_buf_append_byte(&text, '-');
    return lt_buf_detach(&text);
}

void table_add(struct table *t, char **row)
{
    char **cells = realloc(t->cells, (t->rows + 1) * t->columns * sizeof *cells);
    if (!cells)
        die_out_of_memory();
    t->cells = cells;
    memcpy(cells + t->rows * t->columns, row, t->columns * sizeof *cells);
    t->rows++;
}

void table_print_and_free(struct table *t)
{
    size_t width[TABLE_MAX_COLUMNS] = {0};
    for (size_t r = 0; r < t->rows; r++)
        for (size_t col = 0; col < t->columns; col++) {
            size_t len = strlen(t->cells[r * t->columns + col]);
            if (len > width[col])
                width[col] = len;
        }
    for (size_t r = 0; r < t->rows; r++) {
        for (size_t col = 0; col < t->columns; col++) {
            char *cell = t->cells[r * t->columns + col];
            if (col + 1 < t->columns)
                printf("%-*s  ", (int)width[col], cell);
            else
                printf("%s\n", cell);
            free(cell);
        }
    }
    free(t->cells);
    t->cells = NULL;
    t->rows = 0;
}

void header_row(struct table *t, const char *const *names)
{
    char *row[TABLE_MAX_COLUMNS];
    for (size_t col = 0; col < t->columns; col++) {
        row[col] = strdup(names[col]);
        if (!row[col])
            die_out_of_memory();
    }
    table_add(t, row);
}
