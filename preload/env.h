/* env.h -- the preload's settings, read from the process's initial
 * environment (env.c).
 */
#ifndef LT_ENV_H
#define LT_ENV_H

/* Remember the environment the process started with: the `envp` glibc
 * passes to our constructor (NULL: the current environ stands in).
 * Constructor only, before anything reads a setting. */
void lt_env_init(char **envp);

/* The value of `name`: one this library made up for the process
 * (lt_env_set), else the one in the initial environment, else NULL.
 * Start-up only (the strings the kernel gave may be overwritten later by a
 * program that rewrites its argv area, as setproctitle does). */
const char *lt_env_get(const char *name);

/* Record a setting this process made up (a generated runner ID, the
 * stdout and stderr identities), so lt_env_get and the children's
 * environment (spawn.c) carry it, and export it with setenv for programs
 * that read their environment themselves. Start-up only. */
void lt_env_set(const char *name, const char *value);

#endif
