/* size.c -- see size.h. Used by the collector's --retain-size and by the
 * preload's constructor (LOGTAP_RING_SIZE), so it allocates nothing. */
#include "size.h"

#include <errno.h>
#include <stdlib.h>

int lt_parse_size(const char *text, int64_t *out)
{
    if (!text || !*text)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || errno || v < 0)
        return -1;
    int shift = 0;
    switch (*end) {
    case '\0': break;
    case 'K':
    case 'k':
        shift = 10;
        end++;
        break;
    case 'M':
    case 'm':
        shift = 20;
        end++;
        break;
    case 'G':
    case 'g':
        shift = 30;
        end++;
        break;
    case 'T':
    case 't':
        shift = 40;
        end++;
        break;
    default: return -1;
    }
    int64_t bytes;
    if (*end || __builtin_mul_overflow((int64_t)v, INT64_C(1) << shift, &bytes))
        return -1;
    *out = bytes;
    return 0;
}
