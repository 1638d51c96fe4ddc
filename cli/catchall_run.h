/* catchall_run.h -- `logtap run --catch-all`: the supervisor that runs the
 * command with fds 1 and 2 on catch pipes, and the forwarder that passes
 * what arrives there through and gets it stored as unattributed runner
 * output. See catchall_run.c.
 */
#ifndef LT_CATCHALL_RUN_H
#define LT_CATCHALL_RUN_H

/* The name of the hidden command the forwarder runs as. */
#define LT_FORWARD_COMMAND "catch-all-forward"

/* Run `command` (NULL-terminated, searched in PATH) in catch-all mode. The
 * environment must already be prepared for the preload (LD_PRELOAD and
 * LOGTAP_*). Returns logtap's exit status: the command's, or 126/127 when
 * it cannot be started, or 1 when catch-all cannot be set up. When the
 * command dies of a signal, logtap dies of the same signal instead. */
int lt_catchall_run(char **command);

/* `logtap catch-all-forward OUT ERR SOCKET CONTROL`, started by
 * lt_catchall_run under the preload; not for people. argv[0] is the command
 * word. Returns the exit status. */
int lt_catchall_forward_main(int argc, char **argv);

#endif
