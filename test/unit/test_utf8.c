/* test_utf8.c -- lt_utf8_sanitize: valid text passes untouched; every kind
 * of ill-formed sequence becomes U+FFFD by the maximal-subpart rule. */
#include "unit.h"

#include "utf8.h"

#define FFFD "\xEF\xBF\xBD"

static void check_sanitize(const char *in, size_t len, const char *expected)
{
    size_t out_len = 12345;
    char *out = lt_utf8_sanitize(in, len, &out_len);
    CHECK(out != NULL);
    if (out == NULL)
        return;
    bool same = out_len == strlen(expected) && memcmp(out, expected, out_len) == 0 && out[out_len] == '\0';
    if (!same) {
        fprintf(stderr, "  sanitize of %zu bytes gave (%zu) ", len, out_len);
        for (size_t i = 0; i < out_len; i++)
            fprintf(stderr, "%02x ", (unsigned char)out[i]);
        fprintf(stderr, "\n");
    }
    CHECK(same);
    free(out);
}

#define SANITIZE(literal, expected) check_sanitize(literal, sizeof(literal) - 1, expected)

int main(void)
{
    /* Valid text is copied byte for byte. */
    SANITIZE("", "");
    SANITIZE("hello, world", "hello, world");
    SANITIZE("caf\xC3\xA9", "caf\xC3\xA9");               /* U+00E9 */
    SANITIZE("\xE2\x82\xAC", "\xE2\x82\xAC");             /* U+20AC */
    SANITIZE("\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80");     /* U+1F600 */
    SANITIZE("\xEF\xBF\xBF", "\xEF\xBF\xBF");             /* U+FFFF */
    SANITIZE("\xF4\x8F\xBF\xBF", "\xF4\x8F\xBF\xBF");     /* U+10FFFF */
    SANITIZE("\xED\x9F\xBF", "\xED\x9F\xBF");             /* U+D7FF */
    SANITIZE("\x1b[31mred\x1b[0m", "\x1b[31mred\x1b[0m"); /* ANSI stays */

    /* NUL. */
    SANITIZE("a\0b", "a" FFFD "b");
    SANITIZE("\0", FFFD);

    /* Overlongs: the lead (or lead + 1) is never part of a valid prefix. */
    SANITIZE("\xC0\x80", FFFD FFFD);
    SANITIZE("\xC1\xBF", FFFD FFFD);
    SANITIZE("\xE0\x80\x80", FFFD FFFD FFFD);
    SANITIZE("\xE0\x9F\xBF", FFFD FFFD FFFD);
    SANITIZE("\xF0\x80\x80\x80", FFFD FFFD FFFD FFFD);
    SANITIZE("\xF0\x8F\xBF\xBF", FFFD FFFD FFFD FFFD);

    /* Surrogates and beyond U+10FFFF. */
    SANITIZE("\xED\xA0\x80", FFFD FFFD FFFD);
    SANITIZE("\xED\xBF\xBF", FFFD FFFD FFFD);
    SANITIZE("\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD);
    SANITIZE("\xF5\x80\x80\x80", FFFD FFFD FFFD FFFD);
    SANITIZE("\xFF", FFFD);
    SANITIZE("\xFE\xFF", FFFD FFFD);

    /* Stray continuation bytes. */
    SANITIZE("\x80", FFFD);
    SANITIZE("a\xBF\x80z", "a" FFFD FFFD "z");

    /* Truncated sequences: one U+FFFD for the maximal valid prefix. */
    SANITIZE("\xC3", FFFD);
    SANITIZE("\xE2\x82", FFFD);
    SANITIZE("\xF0\x9F\x98", FFFD);
    SANITIZE("x\xF0\x9F", "x" FFFD);
    SANITIZE("\xE2\x82"
             "A",
             FFFD "A");
    SANITIZE("\xF0\x9F\x98"
             "\xC3\xA9",
             FFFD "\xC3\xA9");
    SANITIZE("\xE2\x82\xE2\x82\xAC", FFFD "\xE2\x82\xAC");
    SANITIZE("\xC3\xC3\xA9", FFFD "\xC3\xA9");

    /* Latin-1 text. */
    SANITIZE("caf\xE9!", "caf" FFFD "!");

    /* out_len may be NULL; NULL input is fine when empty. */
    char *out = lt_utf8_sanitize("abc", 3, NULL);
    CHECK(out != NULL && strcmp(out, "abc") == 0);
    free(out);
    out = lt_utf8_sanitize(NULL, 0, NULL);
    CHECK(out != NULL && out[0] == '\0');
    free(out);

    /* A long mixed buffer: output is valid (re-sanitising changes nothing). */
    unsigned char noise[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof noise; i++) {
        x = x * 1103515245 + 12345;
        noise[i] = (unsigned char)(x >> 16);
    }
    size_t once_len, twice_len;
    char *once = lt_utf8_sanitize((const char *)noise, sizeof noise, &once_len);
    char *twice = lt_utf8_sanitize(once, once_len, &twice_len);
    CHECK(once != NULL && twice != NULL && once_len == twice_len && memcmp(once, twice, once_len) == 0);
    CHECK(strlen(once) == once_len);
    free(once);
    free(twice);

    return unit_done("unit-utf8");
}
