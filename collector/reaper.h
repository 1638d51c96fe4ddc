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
#include "credential.h"

typedef struct lt_reaper lt_reaper;

/* Rings in `ring_dir` whose header names `endpoint` are ours. Both strings
 * are copied. */
lt_reaper *lt_reaper_new(const char *ring_dir, const char *endpoint, lt_assembler *assembler);
void lt_reaper_free(lt_reaper *r);

/* Which rings to believe (reaper.c, "Whose ring"); until this is called,
 * every ring of ours (LT_INGEST_AUTH_OFF). */
void lt_reaper_set_auth(lt_reaper *r, lt_ingest_auth mode, const lt_credential_key *key);

/* The ingest loop drives the reaper in bounded steps (reaper.c says the
 * bound): lt_reaper_start_pass now and then (a pass looks at every file in
 * the directory once), then lt_reaper_step once a turn while
 * lt_reaper_busy. Returns of lt_reaper_step: how many rings' replays ended
 * in it. */
void lt_reaper_start_pass(lt_reaper *r);
bool lt_reaper_busy(const lt_reaper *r);
int lt_reaper_step(lt_reaper *r);

/* A pass in one go, without a budget (tests): adopt and replay every ring
 * of a dead process, up to the number that may wait for a commit. Returns
 * how many were replayed. */
int lt_reaper_scan(lt_reaper *r);

/* After a commit: with `committed`, remove the files of the rings replayed
 * before it (a ring still being replayed stays adopted); without, let go of
 * every adopted ring (the next pass adopts them again). */
void lt_reaper_release(lt_reaper *r, bool committed);

#endif
