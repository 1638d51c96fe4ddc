/* sender.h -- the thread that ships the ring to the collector (sender.c). */
#ifndef LT_SENDER_H
#define LT_SENDER_H

/* Start the thread for this process's ring; sets lt_rt.sender_state to
 * running. 0 or -errno. Normal context only (runtime.c decides when). */
int lt_sender_start(void);
/* At exit: drain, wait (bounded by `timeout_ms`, plus a little) for the
 * collector's acknowledgements, stop. */
void lt_sender_stop(int timeout_ms);

#endif
