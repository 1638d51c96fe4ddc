/* run_probe.h -- `logtap run`'s check that a collector answers at the
 * runner's endpoint, and its warning when none does. See run_probe.c.
 */
#ifndef LT_RUN_PROBE_H
#define LT_RUN_PROBE_H

/* How long a collector has to answer before `logtap run` warns. */
#define LT_RUN_PROBE_WAIT_MS 2000

/* Starts a detached watcher process that connects to `endpoint` as a
 * ZeroMQ peer and, when no collector completes the ZeroMQ handshake within
 * LT_RUN_PROBE_WAIT_MS (or by shortly after this process ends, if that is
 * sooner), writes one warning to stderr naming the endpoint and
 * `ring_dir`. Returns at once; the caller then execs the command (or
 * supervises it), which never sees the watcher as a child. Failing to
 * start the watcher only loses the warning. */
void lt_run_probe_start(const char *endpoint, const char *ring_dir);

#endif
