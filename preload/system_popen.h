/* system_popen.h -- system(), popen(), pclose() and fclose() of popen()
 * streams, rebuilt so that their children get the calling thread's request
 * (system_popen.c).
 */
#ifndef LT_SYSTEM_POPEN_H
#define LT_SYSTEM_POPEN_H

/* Resolve the real functions (for capture off) and make the locks safe
 * across fork. Constructor only. */
void lt_system_popen_init(void);

#endif
