/* level.h -- the vocabulary of a log entry that level.c holds besides
 * levels and streams (those are declared in line.h, next to lt_line). */
#ifndef LT_LEVEL_H
#define LT_LEVEL_H

#include <stdbool.h>

#include "line.h"

/* One of the sources an entry can come from: "run", "gateway" or "deploy"
 * (case-sensitive), as `logtap run --source` sets it and the source filter
 * of the log endpoints and commands takes it. */
bool lt_source_name_ok(const char *name);

#endif
