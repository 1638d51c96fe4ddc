/* buf.h -- the growable byte string every program builds text in (HTTP
 * responses, CLI output, request URLs).
 *
 * Ownership: an lt_buf owns `data`. Zero-initialise it ({0}) to start;
 * lt_buf_release frees it, lt_buf_detach hands it to the caller.
 *
 * Out of memory: the buffer marks itself failed and later appends do
 * nothing, so a server can build a whole response and check once
 * (lt_buf_failed) instead of after every append. A program that would
 * rather stop at once (the CLI) installs a handler with lt_buf_on_oom.
 *
 * INVARIANT: data is NUL-terminated at len whenever data is not NULL.
 */
#ifndef LT_BUF_H
#define LT_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct lt_buf {
    char *data;
    size_t len;
    size_t cap;
    bool failed; /* an allocation failed: the contents are incomplete */
} lt_buf;

void lt_buf_append(lt_buf *b, const void *bytes, size_t len);
void lt_buf_append_str(lt_buf *b, const char *s);
void lt_buf_append_byte(lt_buf *b, char c);
__attribute__((format(printf, 2, 3))) void lt_buf_appendf(lt_buf *b, const char *fmt, ...);
/* Empty it, keeping its memory (and clearing `failed`). */
void lt_buf_clear(lt_buf *b);
void lt_buf_release(lt_buf *b);
/* The contents ("" when empty), now the caller's to free; the buffer is
 * empty again. NULL if the buffer failed. */
char *lt_buf_detach(lt_buf *b);
static inline bool lt_buf_failed(const lt_buf *b)
{
    return b->failed;
}
/* What an allocation failing inside it does (the handler, else marked
 * failed), for text that could not be made before appending (a JSON dump
 * that ran out of memory). */
void lt_buf_fail(lt_buf *b);

/* Called instead of marking a buffer failed, process-wide; NULL restores
 * the default. It must not return. */
void lt_buf_on_oom(void (*handler)(void));

#endif
