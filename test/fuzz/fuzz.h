/* fuzz.h -- what every harness shares: an invariant check the fuzzer
 * reports as a crash, and a way to silence the diagnostics that the code
 * under test prints for bad input (millions of them slow the fuzzer down).
 * The sanitizers write their reports to fd 2 directly, never through
 * stdio's stderr, so a crash while quiet is still reported.
 *
 * Header-only: each harness is one translation unit and includes this.
 */
#ifndef LT_FUZZ_H
#define LT_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_REQUIRE(cond)                                                                                   \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);                     \
            abort();                                                                                         \
        }                                                                                                    \
    } while (0)

static FILE *fuzz_saved_stderr;

/* stdio's stderr goes nowhere until fuzz_quiet_end. */
static inline void fuzz_quiet_begin(void)
{
    static FILE *null;
    if (!null)
        null = fopen("/dev/null", "w");
    if (null && !fuzz_saved_stderr) {
        fuzz_saved_stderr = stderr;
        stderr = null;
    }
}

static inline void fuzz_quiet_end(void)
{
    if (fuzz_saved_stderr) {
        fflush(stderr);
        stderr = fuzz_saved_stderr;
        fuzz_saved_stderr = NULL;
    }
}

#endif
