/* env.c -- where the preload's settings come from: the environment the
 * process started with, not libc's getenv.
 *
 * A program may export its own getenv, setenv and environ handling over
 * libc's, and then our calls reach its versions. bash does: its getenv
 * answers from the shell's variable table, which is still empty while our
 * constructor runs, so a bash runner saw no LOGTAP_* setting at all and
 * wrote its builtins' output (echo) into a ring with a generated runner ID
 * and the default endpoint, where it was lost. glibc passes every
 * constructor the envp the kernel gave the process; this file keeps that
 * array and looks names up in it itself.
 *
 * Settings this process makes up (a generated runner ID, the identities of
 * its stdout and stderr) are kept here too, because a setenv that lands in
 * someone else's setenv may not reach the environment our exec hooks see;
 * spawn.c puts them into each child's environment from here.
 */
#include "env.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static char **initial;

enum { MADE_UP = 4 };
#define MADE_UP_NAME 32
#define MADE_UP_VALUE 256
static struct {
    char name[MADE_UP_NAME];
    char value[MADE_UP_VALUE];
} made_up[MADE_UP];
static int made_up_count;

void lt_env_init(char **envp)
{
    initial = envp ? envp : environ;
}

const char *lt_env_get(const char *name)
{
    for (int i = 0; i < made_up_count; i++)
        if (strcmp(made_up[i].name, name) == 0)
            return made_up[i].value;
    size_t len = strlen(name);
    for (size_t i = 0; initial && initial[i]; i++)
        if (strncmp(initial[i], name, len) == 0 && initial[i][len] == '=')
            return initial[i] + len + 1;
    return NULL;
}

void lt_env_set(const char *name, const char *value)
{
    assert(strlen(name) < MADE_UP_NAME && strlen(value) < MADE_UP_VALUE);
    int i = 0;
    while (i < made_up_count && strcmp(made_up[i].name, name) != 0)
        i++;
    assert(i < MADE_UP);
    if (i == made_up_count)
        made_up_count++;
    strcpy(made_up[i].name, name);
    strcpy(made_up[i].value, value);
    setenv(name, value, 1);
}
