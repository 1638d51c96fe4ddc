/* utf8.h -- making untrusted log bytes safe to embed in JSON and terminals. */
#ifndef LT_UTF8_H
#define LT_UTF8_H

#include <stddef.h>

/* Copy `len` bytes of `in` to a new NUL-terminated string in which every
 * invalid UTF-8 sequence and NUL byte is replaced by U+FFFD. The caller frees
 * the result. Returns NULL only when out of memory. */
char *lt_utf8_sanitize(const char *in, size_t len, size_t *out_len);

#endif
