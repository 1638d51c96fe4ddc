/* cli_requests.h -- the request lifecycle commands (cli_requests.c). */
#ifndef LT_CLI_REQUESTS_H
#define LT_CLI_REQUESTS_H

#include <stdbool.h>

#include "cli_http.h"

/* Follow GET /v1/requests/{id}/status/stream (wait_s < 0: the server's
 * default wait), printing each status document as a JSON line, until the
 * collector ends it after COMPLETED. Returns the exit code. */
int requests_status_stream(struct collector *c, const char *id, bool with_logs, long long wait_s);

#endif
