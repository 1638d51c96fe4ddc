/* buf.c -- see buf.h. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void (*oom_handler)(void);

void lt_buf_on_oom(void (*handler)(void))
{
    oom_handler = handler;
}

void lt_buf_fail(lt_buf *b)
{
    if (oom_handler)
        oom_handler();
    b->failed = true;
}

/* Room for `extra` more bytes and the terminator; false if there is none. */
static bool reserve(lt_buf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *grown = realloc(b->data, cap);
    if (!grown) {
        lt_buf_fail(b);
        return false;
    }
    b->data = grown;
    b->cap = cap;
    return true;
}

void lt_buf_append(lt_buf *b, const void *bytes, size_t len)
{
    if (!reserve(b, len))
        return;
    if (len)
        memcpy(b->data + b->len, bytes, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void lt_buf_append_str(lt_buf *b, const char *s)
{
    lt_buf_append(b, s, strlen(s));
}

void lt_buf_append_byte(lt_buf *b, char c)
{
    lt_buf_append(b, &c, 1);
}

void lt_buf_appendf(lt_buf *b, const char *fmt, ...)
{
    if (!reserve(b, 64))
        return;
    va_list ap;
    va_start(ap, fmt);
    int needed = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (needed < 0) {
        b->data[b->len] = '\0';
        return;
    }
    if ((size_t)needed >= b->cap - b->len) {
        if (!reserve(b, (size_t)needed)) {
            b->data[b->len] = '\0';
            return;
        }
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)needed;
}

void lt_buf_clear(lt_buf *b)
{
    b->len = 0;
    b->failed = false;
    if (b->data)
        b->data[0] = '\0';
}

void lt_buf_release(lt_buf *b)
{
    free(b->data);
    *b = (lt_buf){0};
}

char *lt_buf_detach(lt_buf *b)
{
    if (!b->data)
        lt_buf_append(b, "", 0);
    char *data = b->failed ? NULL : b->data;
    if (!data)
        free(b->data);
    *b = (lt_buf){0};
    return data;
}
