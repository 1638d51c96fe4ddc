/* unit.h -- what every C unit test shares: checks that report and count
 * instead of aborting (so one run shows every failure), and a scratch
 * directory that is removed afterwards.
 *
 * Header-only: each test is one translation unit and includes this first.
 */
#ifndef LT_UNIT_H
#define LT_UNIT_H

#ifndef _GNU_SOURCE /* meson passes it; direct builds may not */
#define _GNU_SOURCE
#endif
#include <ftw.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int unit_failures;
static int unit_checks;

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        unit_checks++;                                                                                       \
        if (!(cond)) {                                                                                       \
            unit_failures++;                                                                                 \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                         \
        }                                                                                                    \
    } while (0)

/* For preconditions the rest of a test cannot run without. */
#define REQUIRE(cond)                                                                                        \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "%s:%d: required: %s\n", __FILE__, __LINE__, #cond);                             \
            exit(1);                                                                                         \
        }                                                                                                    \
    } while (0)

#define CHECK_INT(actual, expected)                                                                          \
    do {                                                                                                     \
        long long unit_a = (long long)(actual), unit_e = (long long)(expected);                              \
        unit_checks++;                                                                                       \
        if (unit_a != unit_e) {                                                                              \
            unit_failures++;                                                                                 \
            fprintf(stderr, "%s:%d: %s is %lld, expected %lld\n", __FILE__, __LINE__, #actual, unit_a,       \
                    unit_e);                                                                                 \
        }                                                                                                    \
    } while (0)

#define CHECK_STR(actual, expected)                                                                          \
    do {                                                                                                     \
        const char *unit_a = (actual), *unit_e = (expected);                                                 \
        unit_checks++;                                                                                       \
        if (unit_a == NULL || strcmp(unit_a, unit_e) != 0) {                                                 \
            unit_failures++;                                                                                 \
            fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #actual,           \
                    unit_a ? unit_a : "(null)", unit_e);                                                     \
        }                                                                                                    \
    } while (0)

/* Ends main: prints a summary and gives meson the exit status. */
static inline int unit_done(const char *name)
{
    if (unit_failures == 0)
        printf("%s: %d checks passed\n", name, unit_checks);
    else
        printf("%s: %d of %d checks FAILED\n", name, unit_failures, unit_checks);
    return unit_failures == 0 ? 0 : 1;
}

static inline void unit_sleep_ms(int ms)
{
    struct timespec pause = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

/* A new empty directory under $TMPDIR (or /tmp); the caller frees the
 * returned path after unit_remove_tree. */
static inline char *unit_make_temp_dir(void)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    char *path;
    if (asprintf(&path, "%s/logtap-unit-XXXXXX", base) < 0)
        abort();
    if (mkdtemp(path) == NULL) {
        perror("mkdtemp");
        abort();
    }
    return path;
}

static inline int unit_remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

static inline void unit_remove_tree(const char *path)
{
    nftw(path, unit_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
