"""logtap.client -- read logtap's logs from Python (standard library only).

The read side of logtap for programs, in the spirit of ``fal_client``: a
request's status with its logs, status updates streamed to a callback
while the request runs, and following a runner's or a request's lines as
they are stored::

    import logtap.client as lc

    status = lc.status("req-42", with_logs=True)      # InProgress / Completed
    for line in status.logs:
        print(line["timestamp"], line["message"])

    final = lc.stream_status("req-42", on_update=print)   # until COMPLETED

    for entry in lc.follow_runner("r-1"):                 # never ends by itself
        print(entry["message"])

The module-level functions use a default ``Client()``; make your own for
another collector or token: ``Client(server="http://10.0.0.5:8765",
token=...)``.

Which collector and token, exactly as the ``logtap`` CLI chooses them:

- server: ``server=``, else ``$LOGTAP_SERVER``, else
  ``http://127.0.0.1:8765``; ``host:port`` gets ``http://``, a trailing
  ``/`` is dropped.
- token: ``token=``, else ``$LOGTAP_TOKEN``, else the server's line in the
  credentials file: ``credentials=``, else ``$LOGTAP_CREDENTIALS``, else
  ``$XDG_CONFIG_HOME/logtap/credentials``, else
  ``~/.config/logtap/credentials`` (lines ``URL TOKEN``; the last line for
  the URL wins). The file is used only if it is a regular file of yours
  that nobody else may read or change (``chmod 600``); a file named
  explicitly must exist.

Errors are exceptions: ``APIError`` (``.status``: the HTTP status,
``.message``: the collector's own error text), with ``Unauthorized``
(401), ``Forbidden`` (403) and ``NotFound`` (404: unknown, or not yours
to see) as subclasses; ``CollectorUnreachable`` when no collector answers
at the URL; ``StreamEnded`` when the collector ends a follow stream (the
token was revoked); ``ConfigError`` for an unusable token or credentials
file.

The HTTP API is described in doc/http-api.md.
"""

import http.client
import json
import os
import stat
import urllib.error
import urllib.parse
import urllib.request

__all__ = [
    "Client", "Status", "InProgress", "Completed",
    "LogtapError", "ConfigError", "CollectorUnreachable", "APIError", "Unauthorized", "Forbidden",
    "NotFound", "StreamEnded",
    "status", "stream_status", "runner_logs", "request_logs", "follow_runner", "follow_request",
    "DEFAULT_SERVER",
]

DEFAULT_SERVER = "http://127.0.0.1:8765"
TOKEN_MAX = 4096
CREDENTIALS_MAX_BYTES = 1 << 20
# Follow streams send a keepalive every 15 s: a minute of silence means the
# connection is gone.
STREAM_TIMEOUT = 60.0
# How long the collector waits for a request it does not know yet before
# its 404 (its wait= default): status and a request's streams may take
# that long to answer.
SERVER_WAIT = 60


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

class LogtapError(Exception):
    """Every error this module raises."""


class ConfigError(LogtapError):
    """No usable token or credentials file (nothing was sent)."""


class CollectorUnreachable(LogtapError):
    """No collector answered at the server URL."""

    def __init__(self, server, reason):
        super().__init__("cannot reach the collector at %s: %s (is logtap-collector running? "
                         "pass server= or set LOGTAP_SERVER)" % (server, reason))
        self.server = server
        self.reason = reason


class APIError(LogtapError):
    """The collector answered with an error: ``status`` is the HTTP status,
    ``message`` the collector's ``{"error": ...}`` text."""

    def __init__(self, status, message, url=None):
        super().__init__("HTTP %d: %s" % (status, message))
        self.status = status
        self.message = message
        self.url = url


class Unauthorized(APIError):
    """401: no token, or one the collector does not know (or revoked)."""


class Forbidden(APIError):
    """403: the token's user may not do this."""


class NotFound(APIError):
    """404: no such runner or request, or one the token may not see."""


class StreamEnded(LogtapError):
    """The collector ended a follow stream (``event: end``), e.g. because
    the token was revoked; ``reason`` is its text."""

    def __init__(self, reason):
        super().__init__("the collector ended the stream: %s" % reason)
        self.reason = reason


_ERRORS_BY_STATUS = {401: Unauthorized, 403: Forbidden, 404: NotFound}


def _api_error(status, body, url, sent_token):
    try:
        message = json.loads(body.decode("utf-8", "replace"))["error"]
        if not isinstance(message, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        message = body.decode("utf-8", "replace").strip()[:500] or http.client.responses.get(status, "error")
    if status == 401 and not sent_token:
        message += (" (no token was sent: pass token=, set LOGTAP_TOKEN, or add the line "
                    "'SERVER TOKEN' to the credentials file)")
    return _ERRORS_BY_STATUS.get(status, APIError)(status, message, url)


# ---------------------------------------------------------------------------
# Status
# ---------------------------------------------------------------------------

class Status:
    """A request's status in fal's queue-status shape: ``status`` is
    ``"IN_QUEUE"``, ``"IN_PROGRESS"`` or ``"COMPLETED"``; ``logs`` a list of
    ``{"message", "level", "source", "timestamp"}`` dicts, or None when
    logs were not asked for; ``queue_position`` while queued, ``error`` and
    ``error_type`` when the request failed (else None). Check with
    isinstance(s, Completed)."""

    __slots__ = ("request_id", "status", "logs", "queue_position", "error", "error_type")

    def __init__(self, request_id, status, logs=None, queue_position=None, error=None, error_type=None):
        self.request_id = request_id
        self.status = status
        self.logs = logs
        self.queue_position = queue_position
        self.error = error
        self.error_type = error_type

    @staticmethod
    def from_json(doc):
        kind = Completed if doc.get("status") == "COMPLETED" else InProgress
        return kind(doc.get("request_id"), doc.get("status"), doc.get("logs"), doc.get("queue_position"),
                    doc.get("error"), doc.get("error_type"))

    def __eq__(self, other):
        return (type(self) is type(other) and self.request_id == other.request_id
                and self.status == other.status and self.logs == other.logs)

    def __repr__(self):
        logs = "None" if self.logs is None else "[%d lines]" % len(self.logs)
        return "%s(request_id=%r, logs=%s)" % (type(self).__name__, self.request_id, logs)


class InProgress(Status):
    """Before the request's END: announced (IN_QUEUE) or begun."""


class Completed(Status):
    """After the request's END marker (or its runner's death)."""


def _status_line(entry):
    """A log entry cut to the status document's shape."""
    return {k: entry.get(k) for k in ("message", "level", "source", "timestamp")}


# ---------------------------------------------------------------------------
# Server and token, as the CLI picks them
# ---------------------------------------------------------------------------

def _normalise_server(raw):
    if not raw:
        raw = DEFAULT_SERVER
    if "://" not in raw:
        raw = "http://" + raw
    return raw.rstrip("/")


def _token_ok(token):
    return 0 < len(token) <= TOKEN_MAX and all(0x20 < ord(c) < 0x7F for c in token)


def _default_credentials_path():
    config = os.environ.get("XDG_CONFIG_HOME", "")
    home = os.environ.get("HOME", "")
    if config.startswith("/"):
        return os.path.join(config, "logtap", "credentials")
    if home.startswith("/"):
        return os.path.join(home, ".config", "logtap", "credentials")
    return None


def _read_credentials(path, must_exist):
    """The file's text, or None if it is absent (and may be)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK)
    except FileNotFoundError:
        if must_exist:
            raise ConfigError("the credentials file %s does not exist" % path) from None
        return None
    except OSError as e:
        raise ConfigError("cannot open the credentials file %s: %s" % (path, e.strerror)) from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        why = None
        if not stat.S_ISREG(st.st_mode):
            why = "it is not a regular file"
        elif st.st_uid != os.geteuid():
            why = "it belongs to uid %d, not to you" % st.st_uid
        elif st.st_mode & 0o077:
            why = "its mode %04o lets others read or change it" % (st.st_mode & 0o7777)
        if why:
            raise ConfigError("not using the credentials file %s: %s; make it yours and private "
                              "('chmod 600 %s'), or pass token= or set LOGTAP_TOKEN" % (path, why, path))
        data = f.read(CREDENTIALS_MAX_BYTES + 1)
    if len(data) > CREDENTIALS_MAX_BYTES:
        raise ConfigError("the credentials file %s is larger than %d KiB" % (path, CREDENTIALS_MAX_BYTES >> 10))
    return data.decode("utf-8", "replace")


def _token_for_server(text, server):
    """The token of the last well-formed `URL TOKEN` line for server."""
    found = None
    for line in text.split("\n"):
        line = line.strip(" \t\r")
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 2 or "\0" in line:
            continue  # the CLI reports such a line; here it is simply not a match
        url, token = fields
        if url.rstrip("/") == server:
            found = token
    return found


# ---------------------------------------------------------------------------
# Server-sent events
# ---------------------------------------------------------------------------

def _sse_events(response):
    """(event, id, data) from a text/event-stream response; data is parsed
    JSON where it is JSON."""
    kind, ident, data = "message", None, []
    while True:
        raw = response.readline()
        if not raw:
            return
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if line == "":
            if data:
                text = "\n".join(data)
                try:
                    value = json.loads(text)
                except ValueError:
                    value = text
                yield kind, ident, value
            kind, ident, data = "message", None, []
        elif line.startswith(":"):
            continue  # keepalive
        else:
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "event":
                kind = value
            elif field == "id":
                ident = value
            elif field == "data":
                data.append(value)


# ---------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------

def _query(params):
    out = {}
    for key, value in params.items():
        if value is None or value is False:
            continue
        out[key] = "1" if value is True else str(value)
    return out


class Client:
    """A logtap collector's HTTP API, as one token sees it."""

    def __init__(self, server=None, token=None, credentials=None, timeout=30.0):
        self.server = _normalise_server(server or os.environ.get("LOGTAP_SERVER"))
        self.timeout = timeout
        self.token = self._find_token(token, credentials)

    def _find_token(self, token, credentials):
        if token is not None:
            if not _token_ok(token):
                raise ConfigError("invalid token: 1 to %d bytes of printable ASCII without spaces" % TOKEN_MAX)
            return token
        from_env = os.environ.get("LOGTAP_TOKEN")
        if from_env:
            if not _token_ok(from_env):
                raise ConfigError("LOGTAP_TOKEN is not a token: 1 to %d bytes of printable ASCII "
                                  "without spaces" % TOKEN_MAX)
            return from_env
        named = credentials or os.environ.get("LOGTAP_CREDENTIALS") or None
        path = named or _default_credentials_path()
        if path is None:
            return None
        text = _read_credentials(path, must_exist=named is not None)
        found = _token_for_server(text, self.server) if text is not None else None
        return found if found is not None and _token_ok(found) else None

    # -- plumbing --
    def _url(self, path, params=None):
        query = _query(params or {})
        return self.server + path + ("?" + urllib.parse.urlencode(query) if query else "")

    def _headers(self):
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        return headers

    def _get_json(self, path, params=None, waits=0):
        url = self._url(path, params)
        request = urllib.request.Request(url, headers=self._headers(), method="GET")
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=self.timeout + waits) as response:
                body = response.read()
        except urllib.error.HTTPError as e:
            raise _api_error(e.code, e.read(), url, self.token) from None
        except (urllib.error.URLError, OSError) as e:
            raise CollectorUnreachable(self.server, getattr(e, "reason", e)) from None
        try:
            return json.loads(body)
        except ValueError:
            raise APIError(200, "the collector's answer is not JSON (cut short?)", url) from None

    def _stream(self, path, params, waits=0):
        """A follow stream's events (see doc/http-api.md, Follow)."""
        parts = urllib.parse.urlsplit(self.server)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = kind(parts.hostname, parts.port, timeout=STREAM_TIMEOUT + waits)
        target = (parts.path or "") + path + "?" + urllib.parse.urlencode(_query(dict(params, follow=True)))
        try:
            conn.request("GET", target, headers=dict(self._headers(), Accept="text/event-stream"))
            response = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise CollectorUnreachable(self.server, e) from None
        try:
            if response.status != 200:
                raise _api_error(response.status, response.read(), self.server + target, self.token)
            yield from _sse_events(response)
        finally:
            conn.close()

    def _scope_path(self, scope, ident):
        if not isinstance(ident, str) or not ident:
            raise ValueError("%s ID must be a non-empty string" % scope[:-1])
        return "/v1/%s/%s" % (scope, urllib.parse.quote(ident, safe=""))

    def _pages(self, path, params):
        params = dict(params)
        if params.get("tail"):
            # The newest lines: one page, continued backwards if the byte
            # budget cut it.
            page = self._get_json(path, params)
            out = list(page["logs"])
            while page.get("truncated") and len(out) < int(params["tail"]):
                page = self._get_json(path, dict(params, tail=int(params["tail"]) - len(out),
                                                 before=page["prev_before"]))
                out[:0] = page["logs"]
            return out
        # Forward from `after`: every page until an empty one, or, with a
        # limit, until that many lines (a page the byte budget cut is
        # continued).
        limit = int(params["limit"]) if params.get("limit") else None
        out = []
        while True:
            if limit is not None:
                params["limit"] = limit - len(out)
            page = self._get_json(path, params)
            out.extend(page["logs"])
            if not page["logs"] or (limit is not None and (len(out) >= limit or not page.get("truncated"))):
                return out
            params["after"] = page["next_after"]

    # -- the API --
    def whoami(self):
        """{"user": ..., "admin": ...} of the token."""
        return self._get_json("/v1/whoami")

    def status(self, request_id, with_logs=False, wait=None):
        """The request's status (InProgress or Completed); with_logs adds
        its lines (up to 100000; ``[]`` for a caller of an app with private
        logs). A request the collector does not know yet is waited for,
        ``wait`` seconds (None: the collector's default, 60) before NotFound."""
        params = {"logs": with_logs}
        if wait is not None:
            params["wait"] = wait
        doc = self._get_json(self._scope_path("requests", request_id) + "/status", params,
                             waits=SERVER_WAIT if wait is None else wait)
        return Status.from_json(doc)

    def runner_logs(self, runner_id, **filters):
        """Every line of the runner (a list of log entries, oldest first),
        narrowed by the API's filters: since, until, search, level, source,
        request, app, version, tail, limit, after, before."""
        return self._pages(self._scope_path("runners", runner_id) + "/logs", filters)

    def request_logs(self, request_id, **filters):
        """Every line written while the request was served (see
        runner_logs for the filters)."""
        return self._pages(self._scope_path("requests", request_id) + "/logs", filters)

    def follow_runner(self, runner_id, **filters):
        """The runner's lines (log entries) as they are stored: first those
        matching the filters (e.g. tail=50), then every new one. Never ends
        by itself: break out of the loop (or close the generator) to stop."""
        for kind, _, data in self._stream(self._scope_path("runners", runner_id) + "/logs", filters):
            if kind == "log":
                yield data
            elif kind == "end":
                raise StreamEnded(data.get("reason") if isinstance(data, dict) else data)

    def follow_request(self, request_id, until_completed=True, **filters):
        """The request's lines as they are stored. With until_completed
        (the default) the generator ends once the request has ended and
        every line written before its END has been yielded. A request not
        known yet is waited for (filter ``wait``, as status())."""
        waits = SERVER_WAIT if filters.get("wait") is None else int(filters["wait"])
        for kind, _, data in self._stream(self._scope_path("requests", request_id) + "/logs", filters, waits):
            if kind == "log":
                yield data
            elif kind == "status":
                if until_completed and isinstance(data, dict) and data.get("status") == "COMPLETED":
                    return
            elif kind == "end":
                raise StreamEnded(data.get("reason") if isinstance(data, dict) else data)

    def stream_status(self, request_id, on_update=None, with_logs=True, wait=None):
        """Follow the request until it completes, as fal_client's
        ``subscribe(..., with_logs=True, on_queue_update=...)`` does.

        ``on_update`` is called with the current status first (InProgress,
        with the lines so far if with_logs), then with an InProgress
        carrying each new line (``logs``: a list of one line in the status
        shape) while the request runs, and last with Completed (``logs``:
        every line, if with_logs). Returns that Completed. A caller of an
        app with private logs gets the updates with empty ``logs``.

        Built on the request's follow stream, which sends the lines stored
        so far, then its status, then each new line, and its status again
        at the END (after every line written before it)."""
        notify = on_update or (lambda update: None)
        path = self._scope_path("requests", request_id) + "/logs"
        params = {} if wait is None else {"wait": wait}
        if not with_logs:
            # Start after the newest line: the stream then carries (almost)
            # only the status events.
            page = self._get_json(path, {"tail": 1})
            params["after"] = page["next_after"]
        lines, current = [], None
        for kind, _, data in self._stream(path, params, SERVER_WAIT if wait is None else wait):
            if kind == "log":
                if not with_logs:
                    continue
                line = _status_line(data)
                lines.append(line)
                if current is not None:
                    notify(InProgress(request_id, "IN_PROGRESS", [line]))
            elif kind == "status" and isinstance(data, dict):
                state = data.get("status")
                done = state == "COMPLETED"
                if not done and state != current:  # IN_QUEUE, then IN_PROGRESS
                    current = state
                    notify(InProgress(request_id, state, list(lines) if with_logs else None,
                                      data.get("queue_position")))
                if done:
                    failure = (data.get("error"), data.get("error_type"))
                    break
            elif kind == "end":
                raise StreamEnded(data.get("reason") if isinstance(data, dict) else data)
        else:
            raise CollectorUnreachable(self.server, "the follow stream ended before the request completed")
        final = Completed(request_id, "COMPLETED", lines if with_logs else None, None, *failure)
        notify(final)
        return final


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the token to another address (as the CLI,
    the client does not follow one)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


# ---------------------------------------------------------------------------
# Module-level functions on a default client (fal_client's style)
# ---------------------------------------------------------------------------

def _default():
    return Client()


def status(request_id, with_logs=False):
    """Client().status(...)"""
    return _default().status(request_id, with_logs=with_logs)


def stream_status(request_id, on_update=None, with_logs=True):
    """Client().stream_status(...)"""
    return _default().stream_status(request_id, on_update=on_update, with_logs=with_logs)


def runner_logs(runner_id, **filters):
    """Client().runner_logs(...)"""
    return _default().runner_logs(runner_id, **filters)


def request_logs(request_id, **filters):
    """Client().request_logs(...)"""
    return _default().request_logs(request_id, **filters)


def follow_runner(runner_id, **filters):
    """Client().follow_runner(...)"""
    return _default().follow_runner(runner_id, **filters)


def follow_request(request_id, until_completed=True, **filters):
    """Client().follow_request(...)"""
    return _default().follow_request(request_id, until_completed=until_completed, **filters)

