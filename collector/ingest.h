/* ingest.h -- the collector's ZeroMQ side: receive frames, validate them,
 * feed the assembler, and acknowledge what the store has made durable.
 */
#ifndef LT_INGEST_H
#define LT_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "assembler.h"
#include "credential.h"

typedef struct lt_ingest lt_ingest;

/* Bind a ROUTER socket on `endpoint`. `asm_` is borrowed. NULL + err on
 * failure. */
lt_ingest *lt_ingest_open(const char *endpoint, lt_assembler *asm_, char *err, size_t errlen);

/* Messages each connection's receive queue holds (ZMQ_RCVHWM) by default. */
#define LT_INGEST_QUEUE_DEFAULT 64

/* lt_ingest_open with each connection's receive queue bounded to
 * queue_frames messages (a bound on memory: frames are up to twice
 * LT_WIRE_MAX_FRAME). */
lt_ingest *lt_ingest_open_queue(const char *endpoint, lt_assembler *asm_, int queue_frames, char *err,
                                size_t errlen);

/* End each lt_ingest_poll turn early once `store` holds `lines` uncommitted
 * lines or `bytes` of frames came in (counted in ingest_turns_cut), so the
 * caller commits and acknowledges every runner before reading on. */
void lt_ingest_set_turn(lt_ingest *in, lt_store *store, size_t lines, size_t bytes);

/* Whether the last lt_ingest_poll turn ended at that bound. */
bool lt_ingest_turn_cut(const lt_ingest *in);
void lt_ingest_close(lt_ingest *in);

/* Wait up to timeout_ms for frames, then process up to max_frames of them.
 * Returns the number of frames processed, or -1 if the wait was interrupted
 * by a signal. */
int lt_ingest_poll(lt_ingest *in, int timeout_ms, int max_frames);

/* Send the acks owed since the last call: call right after a successful
 * store commit. */
void lt_ingest_send_acks(lt_ingest *in);

/* Process instances owed an ack (sent at the next lt_ingest_send_acks). */
size_t lt_ingest_acks_owed(const lt_ingest *in);

/* A commit failed: the acks owed so far cover nothing durable. */
void lt_ingest_forget_acks(lt_ingest *in);

/* Which frames to believe (credential.h). `key` is borrowed; it checks the
 * credentials frames carry in their meta's "auth". Until this is called
 * the ingest believes every well-formed frame (LT_INGEST_AUTH_OFF). */
void lt_ingest_set_auth(lt_ingest *in, lt_ingest_auth mode, const lt_credential_key *key);

/* Validate one frame and feed it. Exposed for tests and fuzzing: returns 0
 * if the frame was valid (and fed, or refused by ingest authentication:
 * its peer is unknown here), -1 if it was malformed. `ack_to` may be
 * NULL. */
int lt_ingest_frame(lt_ingest *in, const unsigned char *frame, size_t len, const void *ack_to,
                    size_t ack_to_len);

/* Structural pre-check of a msgpack buffer: exactly one object, nesting at
 * most `max_depth`, every array/map count within the bytes that remain (so a
 * hostile header cannot make the decoder allocate for elements that are not
 * there). Returns 0 if sound. */
int lt_msgpack_precheck(const unsigned char *buf, size_t len, int max_depth);

#endif
