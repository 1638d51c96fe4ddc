/* stdio_hook.h -- capturing C stdio and C++ iostreams (stdio_hook.c). */
#ifndef LT_STDIO_HOOK_H
#define LT_STDIO_HOOK_H

/* Route C stdio's writes through the write path (hook.h), or say in a
 * NOTICE why not. Constructor only, once the ring could be created (a
 * notice creates it). */
void lt_stdio_hook(void);

#endif
