/* bootstrap.h -- the operator's token, and handing it to the local CLI.
 *
 * There is no unauthenticated access to logs, and nothing to configure for
 * a local user: on its first start the collector makes the `admin` user
 * and a token for it, keeps the token in DATA/admin.token (0600), and on
 * every start records "URL TOKEN" for its HTTP address in the credentials
 * file the CLI reads (${XDG_CONFIG_HOME:-$HOME/.config}/logtap/credentials).
 */
#ifndef LT_BOOTSTRAP_H
#define LT_BOOTSTRAP_H

#include <stdbool.h>
#include <stddef.h>

/* Make sure the admin user exists; when it is made now, or `renew` asks
 * for a new token, mint one and write DATA/admin.token. Returns 0, or -1
 * with a message in err. `*said` gets a line for the collector's log
 * (empty when there is nothing to say). */
int lt_bootstrap_admin(const char *data_dir, bool renew, char *said, size_t said_len, char *err,
                       size_t errlen);

/* The default credentials file path, or -1 if neither XDG_CONFIG_HOME nor
 * HOME is set. */
int lt_credentials_default_path(char *path, size_t size);

/* Record DATA/admin.token for `url` in the credentials file at `path`
 * (created 0600 in a 0700 directory; other URLs' lines are kept, this
 * URL's line replaced). Returns 0, 1 if there is no admin.token to
 * record, or -1 with a message in err. */
int lt_credentials_record(const char *path, const char *url, const char *data_dir, char *err, size_t errlen);

#endif
