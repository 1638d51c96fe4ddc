/* catchall.h -- the preload's side of `logtap run --catch-all`.
 *
 * Under --catch-all (LOGTAP_CATCHALL set), fds 1 and 2 lead to catch pipes
 * that logtap run reads and stores as unattributed runner output. Every
 * byte must reach the logs exactly once, so a write this process would
 * capture never enters a catch pipe: it goes to the pass-through target of
 * its stream (common/handover.h) and is recorded as usual. A write that
 * cannot be redirected (no targets, capture off, or a write nested inside
 * the hook) goes into the pipe unrecorded, and logtap run records it.
 */
#ifndef LT_CATCHALL_H
#define LT_CATCHALL_H

#include <stdbool.h>

/* Set once by the constructor; the hooks test it before anything else. */
extern bool lt_catchall_on;

/* Read LOGTAP_CATCHALL. Constructor only. */
void lt_catchall_init(void);
/* In a forked child: a hand-over the parent had in flight is not ours. */
void lt_catchall_after_fork(void);

/* The fd that a captured write of `stream` (1 or 2) aimed at `fd`, a catch
 * pipe, must go to: the stream's pass-through target, fetched from logtap
 * run on first use, once the bytes already waiting in the pipe have been
 * passed through (so the terminal sees writes in the order they were
 * made; the wait is bounded). -1 if this process cannot redirect: then
 * the write goes to `fd` and is not recorded. Async-signal-safe; may
 * change errno. */
int lt_catchall_target(int fd, int stream);

/* A write to `target` failed with EBADF. If `target` is a pass-through fd
 * that is no longer open (the app closed it behind our back), forget it
 * and return true: the caller writes to the pipe instead. */
bool lt_catchall_target_gone(int target);

/* The app closed or replaced `fd`: if it was a pass-through target, forget
 * it (fetched again when next needed). Async-signal-safe. */
void lt_catchall_forget(int fd);
void lt_catchall_forget_range(unsigned first, unsigned last);

#endif
