/* cli_text.h -- making untrusted text safe to show on a terminal, writing
 * results to stdout, and dying on out of memory. The CLI builds its strings
 * in common/buf.h's lt_buf; main installs die_out_of_memory as its OOM
 * handler, so an append never fails. */
#ifndef LT_CLI_TEXT_H
#define LT_CLI_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "buf.h"

/* Appends `text` with control characters shown as \xNN (tab kept); with
 * keep_sgr, colour/style sequences pass through. */
void append_terminal_safe(lt_buf *out, const char *text, size_t len, bool keep_sgr);

/* For echoing IDs and server messages in diagnostics. Caller frees. */
char *terminal_safe_copy(const char *text);

/* `value` as JSON text with its keys in the order they were parsed (jansson
 * keeps it: the collector's own field order), then '\n'. flags:
 * JSON_COMPACT for one object a line, or JSON_INDENT(n). */
void append_json_line(lt_buf *out, json_t *value, size_t flags);
void print_json_line(json_t *value, size_t flags); /* to stdout */

/* After a write to stdout failed with `err`: a closed pipe (logtap ... |
 * head) is a normal way to stop reading, 0; anything else a message and
 * 1. */
int report_write_failure(int err);

/* Once everything is printed: flushes stdout and returns `code`, or, when
 * `code` was 0 and stdout failed, report_write_failure's code.
 * `write_errno` is an error already seen writing, else 0. */
int finish_stdout(int code, int write_errno);

/* A field of a collector's object as text for a person: strings made
 * terminal-safe, numbers as digits, anything missing or null as "-".
 * Caller frees. */
char *field_text_new(json_t *object, const char *key);

#define TABLE_MAX_COLUMNS 10

/* Rows of cells, printed as aligned columns (the last one unpadded). */
struct table {
    size_t columns;
    size_t rows;
    char **cells; /* rows x columns, owned */
};
/* Takes the row's `columns` cells. */
void table_add(struct table *t, char **row);
/* A row of copies of `names`. */
void header_row(struct table *t, const char *const *names);
void table_print_and_free(struct table *t);

/* Non-empty and only ASCII digits. */
bool is_all_digits(const char *s);

_Noreturn void die_out_of_memory(void);

#endif
