/* logtap.h -- the public API of liblogtap.so.
 *
 * liblogtap.so is loaded with LD_PRELOAD into a runner process. It captures
 * every byte the process writes to stdout and stderr and tags it with the
 * runner ID and with the request the writing thread is serving. An app
 * framework tells it which request a thread serves with the two markers
 * below; everything else is automatic.
 *
 * The functions are safe to call from any thread. A program that links
 * against them without the preload being present should resolve them weakly
 * (or use bindings/python/logtap.py, which does nothing when the library is
 * absent).
 */
#ifndef LOGTAP_H
#define LOGTAP_H

#ifdef __cplusplus
extern "C" {
#endif

#define LOGTAP_VERSION_MAJOR 0
#define LOGTAP_VERSION_MINOR 1

/* Longest request ID accepted, in bytes, excluding the terminating NUL. */
#define LOGTAP_REQUEST_ID_MAX 128

/* Mark the calling thread as serving `request_id` until logtap_request_end().
 * Output the thread writes meanwhile is attributed to that request (and, as
 * always, to the runner). Nested calls replace the marker.
 * A request ID is 1..LOGTAP_REQUEST_ID_MAX bytes of printable ASCII other
 * than '/' (it is a path segment in the HTTP API).
 * Returns 0, or -1 with errno EINVAL for any other ID (the marker is then
 * left unchanged). */
int logtap_request_begin(const char *request_id);

/* logtap_request_begin, naming the request's caller: the user (principal)
 * on whose behalf the request runs, who may read the request's logs
 * through the collector's API (unless the app's logs are private). The
 * caller ID follows the same rules as a request ID; NULL names no caller.
 * The first BEGIN of a request that names a caller binds it. Returns 0, or
 * -1 with errno EINVAL (marker left unchanged). */
int logtap_request_begin_for(const char *request_id, const char *caller_id);

/* Clear the calling thread's marker. Returns 0, or -1 with errno ENOENT if the
 * thread had no marker. */
int logtap_request_end(void);

/* logtap_request_end, recording that the request failed: its status
 * becomes COMPLETED with fal's `error_type` (an ID, same rules as a
 * request ID, e.g. the handler's exception class) and `error` (`message`:
 * any text, cut to 1024 bytes; NULL for none). Returns 0, or -1 with errno
 * ENOENT if the thread had no marker, EINVAL for a bad error_type (the
 * marker is then left unchanged). */
int logtap_request_fail(const char *error_type, const char *message);

/* Set the calling thread's marker to `request_id` (NULL clears it) without
 * marking a request's beginning or end. For runtimes that multiplex many
 * requests on one thread (asyncio): they call it when switching between
 * requests, and logtap_request_begin/end once at each request's real start
 * and end. Returns 0, or -1 with errno EINVAL for an invalid ID. */
int logtap_request_mark(const char *request_id);

#ifdef __cplusplus
}
#endif

#endif
