/* size.h -- byte sizes as people write them in flags and environment
 * variables ("0", "512K", "64M", "10G", "1T"; the unit is a power of 1024,
 * either case), parsed one way for every program. */
#ifndef LT_SIZE_H
#define LT_SIZE_H

#include <stdint.h>

/* Returns 0 and sets *out, or -1 (nothing set) for text that is not a size:
 * empty, negative, an unknown unit, trailing bytes, or more than 2^63 - 1. */
int lt_parse_size(const char *text, int64_t *out);

#endif
