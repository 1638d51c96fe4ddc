/* reaper.h -- adopting the rings of runner processes that are gone.
 *
 * A runner's ring file outlives the runner when it exits before the
 * collector acknowledged everything, or when it is killed or crashes. Each
 * such file holds the records the store may not have yet. The reaper finds
 * them (the owner's flock is free), replays the unacknowledged tail through
 * the assembler (which drops what it already has), and removes the file
 * once the store has committed the result.
 */
#ifndef LT_REAPER_H
#define LT_REAPER_H

#include <stdbool.h>

#include "assembler.h"

typedef struct lt_reaper lt_reaper;

/* Rings in `ring_dir` whose header names `endpoint` are ours. Both strings
 * are copied. */
lt_reaper *lt_reaper_new(const char *ring_dir, const char *endpoint, lt_assembler *assembler);
void lt_reaper_free(lt_reaper *r);

/* Adopt and replay every ring of a dead process. Returns how many. */
int lt_reaper_scan(lt_reaper *r);

/* After the commit that follows a scan: with `committed`, remove the adopted
 * files; without, just let go of them (the next scan tries again). */
void lt_reaper_release(lt_reaper *r, bool committed);

#endif
