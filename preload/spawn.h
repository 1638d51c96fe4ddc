/* spawn.h -- the exec and spawn hooks (spawn.c), which keep children in the
 * runner and in the request that started them.
 */
#ifndef LT_SPAWN_H
#define LT_SPAWN_H

/* Resolve the real exec and spawn calls and find this library's path.
 * Constructor only, before anything may exec. */
void lt_spawn_init(void);
/* Record the settings children must carry, once start-up has set them. */
void lt_spawn_snapshot(void);

#endif
