/* utf8.c -- turns arbitrary bytes into valid, NUL-free UTF-8.
 *
 * Log lines are whatever a process wrote: binary, Latin-1, cut-off multibyte
 * characters. JSON (jansson) and terminals need valid UTF-8, so every
 * consumer that prints a message goes through lt_utf8_sanitize.
 *
 * Validity follows the Unicode standard's table of well-formed byte
 * sequences (Unicode 15, table 3-7), which rules out overlong forms,
 * surrogates (U+D800..U+DFFF) and code points above U+10FFFF by constraining
 * the second byte of each sequence. Replacement follows the standard's
 * "maximal subpart" practice (also what WHATWG decoders do): each maximal
 * prefix of a well-formed sequence that is cut short becomes one U+FFFD, and
 * every other bad byte becomes one U+FFFD. NUL becomes U+FFFD too, so the
 * result is a C string that means what it says.
 */
#include "utf8.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char replacement[3] = {'\xEF', '\xBF', '\xBD'}; /* U+FFFD */

/* Examine the sequence starting at in[0]. Returns its length if it is one
 * well-formed, non-NUL character; otherwise returns minus the number of bytes
 * that form one ill-formed unit (to be replaced by a single U+FFFD). */
static long classify_sequence(const unsigned char *in, size_t avail)
{
    assert(avail > 0);
    unsigned char lead = in[0];
    if (lead == 0x00)
        return -1;
    if (lead < 0x80)
        return 1;

    size_t need; /* continuation bytes after the lead */
    unsigned char second_lo = 0x80, second_hi = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
        need = 1;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        need = 2;
        if (lead == 0xE0)
            second_lo = 0xA0; /* no overlongs */
        else if (lead == 0xED)
            second_hi = 0x9F; /* no surrogates */
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        need = 3;
        if (lead == 0xF0)
            second_lo = 0x90; /* no overlongs */
        else if (lead == 0xF4)
            second_hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return -1; /* stray continuation, C0/C1 overlong lead, F5..FF */
    }

    size_t valid = 1; /* bytes of the sequence seen to be well-formed so far */
    for (size_t k = 1; k <= need; k++) {
        if (k >= avail)
            return -(long)valid; /* truncated at end of input */
        unsigned char lo = k == 1 ? second_lo : 0x80;
        unsigned char hi = k == 1 ? second_hi : 0xBF;
        if (in[k] < lo || in[k] > hi)
            return -(long)valid;
        valid++;
    }
    return (long)valid;
}

char *lt_utf8_sanitize(const char *in, size_t len, size_t *out_len)
{
    const unsigned char *bytes = (const unsigned char *)in;
    assert(in != NULL || len == 0);
    /* Every byte becomes at most three (a lone bad byte -> U+FFFD), so the
     * output size below cannot wrap when this holds. */
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;

    /* First pass: the exact output size, so valid input (the common case)
     * costs one allocation of len + 1 bytes and no re-allocation. */
    size_t needed = 0;
    for (size_t i = 0; i < len;) {
        long n = classify_sequence(bytes + i, len - i);
        if (n > 0) {
            needed += (size_t)n;
            i += (size_t)n;
        } else {
            needed += sizeof replacement;
            i += (size_t)-n;
        }
    }

    char *out = malloc(needed + 1);
    if (out == NULL)
        return NULL;

    size_t written = 0;
    for (size_t i = 0; i < len;) {
        long n = classify_sequence(bytes + i, len - i);
        if (n > 0) {
            memcpy(out + written, in + i, (size_t)n);
            written += (size_t)n;
            i += (size_t)n;
        } else {
            memcpy(out + written, replacement, sizeof replacement);
            written += sizeof replacement;
            i += (size_t)-n;
        }
    }
    assert(written == needed);
    out[written] = '\0';
    if (out_len != NULL)
        *out_len = written;
    return out;
}
