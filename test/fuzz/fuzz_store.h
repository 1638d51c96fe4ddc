/* fuzz_store.h -- what the harnesses that reach the assembler share: a
 * real SQLite store in a scratch directory, and an assembler on it.
 *
 * A harness keeps one store for many inputs (opening one per input would
 * make the fuzzer crawl) and starts over in a fresh directory now and then,
 * so the file does not grow without bound. Each input works on instances
 * and runners of its own (fuzz_serial), so what an input does does not
 * depend on the inputs before it.
 *
 * Header-only: each harness is one translation unit and includes this.
 */
#ifndef LT_FUZZ_STORE_H
#define LT_FUZZ_STORE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "assembler.h"
#include "fuzz.h"
#include "store.h"

/* The store and SQLite keep caches from one input to the next, which
 * libFuzzer's per-input leak check takes for leaks, scanning the whole heap
 * after every input: off in these harnesses (the unit tests under ASan
 * check the store's and the assembler's leaks). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "detect_leaks=0";
}

static char fuzz_dir[64];
static lt_store *fuzz_st;
static lt_assembler *fuzz_asm;
static unsigned long fuzz_serial;     /* inputs run in this process */
static unsigned long fuzz_generation; /* stores opened in this process */

static int fuzz_remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void fuzz_store_close(void)
{
    lt_assembler_free(fuzz_asm);
    lt_store_close(fuzz_st);
    fuzz_asm = NULL;
    fuzz_st = NULL;
    if (fuzz_dir[0])
        nftw(fuzz_dir, fuzz_remove_one, 16, FTW_DEPTH | FTW_PHYS);
    fuzz_dir[0] = '\0';
}

/* A new store in a new scratch directory, and an assembler on it. */
static void fuzz_store_open(void)
{
    static int registered;
    if (!registered) {
        atexit(fuzz_store_close);
        registered = 1;
    }
    snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/logtap-fuzz-XXXXXX");
    FUZZ_REQUIRE(mkdtemp(fuzz_dir) != NULL);
    char err[256];
    fuzz_st = lt_store_open(fuzz_dir, err, sizeof err);
    if (!fuzz_st)
        fprintf(stderr, "fuzz: %s\n", err);
    FUZZ_REQUIRE(fuzz_st != NULL);
    fuzz_asm = lt_assembler_new(fuzz_st);
    FUZZ_REQUIRE(fuzz_asm != NULL);
    fuzz_generation++;
}

/* Called at the start of every input: the store, started over every
 * `every` inputs. */
static void fuzz_store_next(unsigned long every)
{
    if (fuzz_st && fuzz_serial % every == 0)
        fuzz_store_close();
    if (!fuzz_st)
        fuzz_store_open();
    fuzz_serial++;
}

#endif
