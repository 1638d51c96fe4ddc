/* dirs.h -- mkdir -p, for the collector's data directory and the files it
 * writes for the CLI (a fresh nested path is normal for both). */
#ifndef LT_DIRS_H
#define LT_DIRS_H

#include <sys/types.h>

/* Create `dir` and any missing parents, new ones with `mode`. Returns 0 if
 * `dir` then exists as a directory; -1 with errno set (ENOTDIR if something
 * else is in the way) otherwise. */
int lt_mkdir_p(const char *dir, mode_t mode);

#endif
