/* fuzz_credentials.c -- libFuzzer harness: the CLI's credentials file
 * (cli/cli_credentials.c), which anyone who could write the user's config
 * directory could have written.
 *
 * Feeds: the input's first line as the server URL the CLI looks for, the
 * rest as the file's text, to cli_token_for_server_new, and the token it
 * picks to cli_token_ok.
 *
 * Asserts:
 *   - a token found is non-empty and holds no blank, newline or NUL;
 *   - it is the token of a line of the file (it occurs in the text);
 *   - appending a line for the same server with another token makes that
 *     one found (the last line wins);
 * and everything ASan and UBSan check.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli_credentials.h"
#include "fuzz.h"

static void check_token(const char *token, const lt_buf *text)
{
    if (!token)
        return;
    size_t len = strlen(token);
    FUZZ_REQUIRE(len > 0);
    FUZZ_REQUIRE(strpbrk(token, " \t\n") == NULL);
    FUZZ_REQUIRE(memmem(text->data, text->len, token, len) != NULL);
    (void)cli_token_ok(token);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *newline = memchr(data, '\n', size);
    size_t url_len = newline ? (size_t)(newline - data) : size;
    char *url = strndup((const char *)data, url_len);
    FUZZ_REQUIRE(url != NULL);
    lt_buf text = {0};
    if (newline)
        lt_buf_append(&text, (const char *)newline + 1, size - url_len - 1);

    fuzz_quiet_begin(); /* "not a 'URL TOKEN' line; ignored" */
    char *token = cli_token_for_server_new("credentials", &text, url);
    fuzz_quiet_end();
    check_token(token, &text);
    free(token);

    /* The last line for the server wins. (A URL with blanks, NUL or a
     * trailing '/' cannot be written as a line's URL.) */
    size_t url_chars = strlen(url);
    if (url_chars > 0 && url_chars == url_len && strpbrk(url, " \t\r\n#") == NULL &&
        url[url_chars - 1] != '/') {
        lt_buf_appendf(&text, "\n%s fuzz-last-token\n", url);
        fuzz_quiet_begin();
        token = cli_token_for_server_new("credentials", &text, url);
        fuzz_quiet_end();
        FUZZ_REQUIRE(token != NULL && strcmp(token, "fuzz-last-token") == 0);
        free(token);
    }
    lt_buf_release(&text);
    free(url);
    return 0;
}
