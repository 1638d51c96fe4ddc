/* handover.h -- how `logtap run --catch-all` hands its pass-through
 * descriptors to the preloaded processes of the command it runs.
 *
 * Under --catch-all, fds 1 and 2 of the command are pipes that logtap run
 * reads (the catch pipes). A process whose writes the preload captures must
 * write them to where logtap run's own stdout and stderr lead (the
 * pass-through targets) instead, so that only bytes the preload never saw
 * arrive in the pipes. Descriptors cannot travel in the environment and
 * children close what they inherit (Python's subprocess closes every fd
 * above 2), and reopening /proc/PID/fd/N would give a regular file a new
 * offset, so each process that needs them asks logtap run's forwarder for
 * copies of the very same open files over a unix socket (SCM_RIGHTS).
 *
 * The exchange: the process connects to the abstract unix socket named by
 * LOGTAP_CATCHALL (its value without the leading '@'); the forwarder checks
 * the peer's uid, sends one message of LT_HANDOVER_MSG_LEN bytes
 * {LT_HANDOVER_VERSION, mask} where mask bit 0 (1) says stdout's target
 * follows and bit 1 (2) stderr's, with the descriptors in that order as
 * SCM_RIGHTS, and closes the connection. A stream logtap run does not catch
 * (it was closed when logtap run started) has no bit.
 */
#ifndef LT_HANDOVER_H
#define LT_HANDOVER_H

#define LT_HANDOVER_ENV "LOGTAP_CATCHALL"
#define LT_HANDOVER_VERSION 1
#define LT_HANDOVER_MSG_LEN 2
#define LT_HANDOVER_STDOUT 1
#define LT_HANDOVER_STDERR 2
/* sun_path is 108 bytes; the abstract name follows its leading NUL. */
#define LT_HANDOVER_NAME_MAX 100

/* Ask the forwarder named `name` (a LOGTAP_CATCHALL value) for its targets.
 * Returns 0 with targets[1] (stdout) and targets[2] (stderr) set to
 * close-on-exec descriptors, or -1 for a stream it does not catch; or an
 * errno value (EINVAL for a malformed name), with nothing left open.
 * System calls only (async-signal-safe); waits at most a few seconds. */
int lt_handover_receive(const char *name, int targets[3]);

#endif
