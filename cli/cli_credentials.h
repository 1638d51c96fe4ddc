/* cli_credentials.h -- which API token the CLI sends, and where it came
 * from (so that a refusal can say which token was refused). */
#ifndef LT_CLI_CREDENTIALS_H
#define LT_CLI_CREDENTIALS_H

#include <stdbool.h>

#include "buf.h"

/* Owns its strings (cli_token_release). */
struct cli_token {
    char *value;            /* NULL: send no Authorization header */
    char *origin;           /* "--token", "LOGTAP_TOKEN" or the file's path */
    char *credentials_path; /* where the file is looked for; NULL if no home */
};

/* The token for `server_url` (no trailing '/'): `flag`, else
 * $LOGTAP_TOKEN, else the server's line in the credentials file
 * (`credentials_flag`, else $LOGTAP_CREDENTIALS, else the default path;
 * a file named by either must exist). Finding
 * none is not an error (the collector will say 401). Returns LT_EXIT_OK, or
 * an exit code after saying what is wrong (a bad $LOGTAP_TOKEN, a
 * credentials file that others may read or that cannot be read). */
int cli_token_find(const char *flag, const char *credentials_flag, const char *server_url,
                   struct cli_token *out);

void cli_token_release(struct cli_token *t);

/* The token of the last line of the credentials file `text` whose URL is
 * `server_url`; NULL if none. Malformed lines are reported (naming `path`)
 * and skipped. Caller frees. (Used by cli_token_find; here for the
 * fuzzer.) */
char *cli_token_for_server_new(const char *path, const lt_buf *text, const char *server_url);

/* A token goes into a header: 1..CLI_TOKEN_MAX printable ASCII bytes, no
 * spaces. */
#define CLI_TOKEN_MAX 4096
bool cli_token_ok(const char *token);

#endif
