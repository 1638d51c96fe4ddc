/* loop.h -- the collector's ingest thread: ingest -> assemble -> commit ->
 * acknowledge -> retention, until SIGTERM or SIGINT, then the drain.
 * loop.c's opening comment gives the loop's invariants.
 */
#ifndef LT_LOOP_H
#define LT_LOOP_H

#include "announce.h"
#include "assembler.h"
#include "ingest.h"
#include "options.h"
#include "reaper.h"
#include "store.h"

/* What the loop drives; set up and torn down by main. */
typedef struct lt_loop_parts {
    lt_store *store;
    lt_assembler *assembler; /* feeds `store` */
    lt_ingest *ingest;       /* feeds `assembler` */
    lt_reaper *reaper;       /* feeds `assembler` */
    lt_announce *announce;   /* the gateway's announcements, from HTTP; may be NULL */
} lt_loop_parts;

/* From now on SIGTERM and SIGINT ask lt_loop_run for a clean stop (before
 * it runs too: it then only drains). */
void lt_loop_catch_stop_signals(void);

/* Run until a stop is asked for, then store everything received and
 * acknowledge it. Uses the commit, partial-line and retention settings of
 * `opt`. */
void lt_loop_run(const lt_loop_parts *parts, const lt_collector_options *opt);

#endif
