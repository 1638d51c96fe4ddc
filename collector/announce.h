/* announce.h -- the gateway's request announcements (PUT /v1/requests/{id}),
 * carried from an HTTP thread to the ingest thread, which alone writes the
 * store (store.h), and their answers carried back. */
#ifndef LT_ANNOUNCE_H
#define LT_ANNOUNCE_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

typedef struct lt_announce lt_announce;

lt_announce *lt_announce_new(void);
/* The ingest thread has stopped: every announcement still waiting, and
 * every later one, is answered LT_ANNOUNCE_UNAVAILABLE at once (so that
 * stopping the HTTP server does not wait for them). NULL is accepted. */
void lt_announce_shut(lt_announce *an);
/* After lt_http_stop: no poster is left. NULL is accepted. */
void lt_announce_free(lt_announce *an);

/* What lt_announce_post answers besides store.h's LT_ENQUEUE_* results. */
enum { LT_ANNOUNCE_FAILED = -1, LT_ANNOUNCE_UNAVAILABLE = -2 };

/* Any thread: queue the announcement and wait (at most timeout_ms) until
 * the ingest thread has committed it. Returns LT_ENQUEUE_CREATED,
 * LT_ENQUEUE_EXISTS or LT_ENQUEUE_CONFLICT once committed,
 * LT_ANNOUNCE_FAILED if the store failed, LT_ANNOUNCE_UNAVAILABLE on
 * timeout, when too many wait already, or when out of memory. */
int lt_announce_post(lt_announce *an, const char *request_id, const char *app_id, const char *caller,
                     int timeout_ms);

/* Ingest thread: whether announcements wait (cheap, no lock). */
bool lt_announce_waiting(lt_announce *an);
/* Ingest thread: write the waiting announcements into the store's open
 * transaction; they are answered at the next lt_announce_settle. */
void lt_announce_apply(lt_announce *an, lt_store *st);
/* Ingest thread, after each commit: answer the applied ones (`committed`:
 * whether the commit holding them succeeded). */
void lt_announce_settle(lt_announce *an, bool committed);

#endif
