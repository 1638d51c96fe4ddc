/* spawn.h -- the exec and spawn hooks (spawn.c), which keep children in the
 * runner and in the request that started them.
 */
#ifndef LT_SPAWN_H
#define LT_SPAWN_H

#include <spawn.h>
#include <stdbool.h>

/* Resolve the real exec and spawn calls and find this library's path.
 * Constructor only, before anything may exec. */
void lt_spawn_init(void);
/* Record the settings children must carry, once start-up has set them. */
void lt_spawn_snapshot(void);

/* Do the spawn hooks change children's environment (capture on, this
 * library found)? If not, a hook may as well call the real function. */
bool lt_spawn_passes_on(void);
/* Whether capture is on for this process's life (not LOGTAP_DISABLE):
 * told once, by the constructor, before any call of ours can run. */
void lt_spawn_capture(bool on);

/* posix_spawn of /bin/sh -c COMMAND (argv[0] "sh"), as glibc's system()
 * and popen() run it, in the environment every spawn hook gives a child:
 * environ with this library, the runner's settings and the calling
 * thread's request. Returns posix_spawn's result. */
int lt_spawn_shell(pid_t *pid, const posix_spawn_file_actions_t *actions, const posix_spawnattr_t *attr,
                   const char *command);

#endif
