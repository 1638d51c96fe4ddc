"""logtap request markers for Python runners (standard library only).

Under ``liblogtap.so`` (LD_PRELOAD), everything the process writes to stdout
and stderr is captured. This module tells logtap which request the current
thread is serving, so that output is also attributed to that request::

    import logtap

    with logtap.request("req-123"):
        print("visible in request req-123's logs")

Without the preload every function here does nothing and nothing is
changed, so apps can import it unconditionally.

Why it replaces sys.stdout and sys.stderr
-----------------------------------------
logtap attributes bytes when they reach write(2), using the writing thread's
marker. Python's own stdout/stderr objects share one buffer between threads:
one thread's flush can carry text that other threads printed (and with
print()'s two separate writes, tear lines apart). So, under the preload,
importing this module installs a stream in front of each of them that keeps
a partial line per thread and writes every complete line with one write(2)
call from the thread that printed it. The bytes that reach the fd are the
same; lines are never torn; only the number of write calls grows.

Import it before configuring logging (handlers keep a reference to the
stream they were given); handlers that already point at the original
streams are switched over when it is imported.

asyncio
-------
``request()`` also records the request in a context variable, so it works
inside coroutines, where many requests share one thread: every line
written through Python (print, logging) is attributed to the request of the
task that wrote it. Bytes written by native code go by the thread's marker,
which follows the task that last wrote a Python line.
"""

import atexit
import contextlib
import contextvars
import ctypes
import io
import os
import sys
import threading

__all__ = ["preloaded", "request", "begin", "end", "REQUEST_ID_MAX", "ERROR_MESSAGE_MAX"]

REQUEST_ID_MAX = 128
ERROR_MESSAGE_MAX = 1024  # bytes of a failed request's error message


def _load():
    try:
        process = ctypes.CDLL(None)
        end = process.logtap_request_end
        mark = process.logtap_request_mark
    except (OSError, AttributeError):
        return None, None, None
    try:
        begin = process.logtap_request_begin_for
        begin.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        begin.restype = ctypes.c_int
    except AttributeError:
        # A liblogtap.so from before callers existed: requests still work,
        # without a caller (so only the app's owner can read their logs).
        plain = process.logtap_request_begin
        plain.argtypes = [ctypes.c_char_p]
        plain.restype = ctypes.c_int
        begin = lambda request_id, caller: plain(request_id)  # noqa: E731
    mark.argtypes = [ctypes.c_char_p]
    mark.restype = ctypes.c_int
    end.argtypes = []
    end.restype = ctypes.c_int
    return begin, end, mark


_begin, _end, _mark = _load()


def _load_fail():
    """logtap_request_fail, or None (no preload, or one from before it)."""
    if _end is None:
        return None
    try:
        fail = ctypes.CDLL(None).logtap_request_fail
    except (OSError, AttributeError):
        return None
    fail.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    fail.restype = ctypes.c_int
    return fail


_fail = _load_fail()


def _error_type_of(exception):
    """fal's error_type for an exception: its class name, made an ID."""
    name = "".join(c if 0x20 < ord(c) < 0x7F and c != "/" else "_"
                   for c in type(exception).__name__)[:REQUEST_ID_MAX]
    return name or "Exception"

# The request of the running thread or asyncio task.
_current = contextvars.ContextVar("logtap_request", default=None)
# What the C marker of each thread is set to, as far as we set it.
_thread = threading.local()


def _ensure_marked(request_id):
    """Point the calling thread's C marker at request_id (None: no request)."""
    if getattr(_thread, "marked", None) == request_id:
        return
    _mark(request_id.encode("ascii") if request_id is not None else None)
    _thread.marked = request_id


def preloaded():
    """True when liblogtap.so is loaded into this process."""
    return _begin is not None


class _LineStream(io.TextIOBase):
    """A text stream in front of sys.stdout or sys.stderr that writes each
    complete line with one write(2) from the thread that wrote it, with the
    thread's marker pointing at the request of the writer (thread or task).

    Partial lines wait, per (thread, request), for their newline (or a
    flush). Every other attribute is the original stream's."""

    def __init__(self, original):
        super().__init__()
        self._original = original
        self._fd = original.fileno()
        self._encoding = original.encoding or "utf-8"
        self._errors = original.errors or "strict"
        self._partial = {}  # (thread ident, request) -> unfinished line
        self._lock = threading.Lock()

    # -- the writing path --
    def write(self, text):
        if not isinstance(text, str):
            raise TypeError("write() argument must be str, not %s" % type(text).__name__)
        key = (threading.get_ident(), _current.get())
        with self._lock:
            pending = self._partial.pop(key, "") + text
            cut = pending.rfind("\n") + 1
            if cut < len(pending):
                self._partial[key] = pending[cut:]
        if cut:
            self._write_as(key[1], pending[:cut])
        return len(text)

    def _write_as(self, request_id, text):
        _ensure_marked(request_id)
        view = memoryview(text.encode(self._encoding, self._errors))
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def flush(self):
        """Write every unfinished line (this thread's first), each as its
        own request's."""
        me = threading.get_ident()
        with self._lock:
            pending = sorted(self._partial.items(), key=lambda kv: kv[0][0] != me)
            self._partial.clear()
        for (_, request_id), text in pending:
            if text:
                self._write_as(request_id, text)
        if pending:
            _ensure_marked(_current.get())

    def flush_request(self, request_id):
        """Write the calling thread's unfinished line of request_id, if any."""
        with self._lock:
            text = self._partial.pop((threading.get_ident(), request_id), "")
        if text:
            self._write_as(request_id, text)

    # -- looking like the original --
    def fileno(self):
        return self._fd

    def isatty(self):
        return self._original.isatty()

    def writable(self):
        return True

    def readable(self):
        return False

    def seekable(self):
        return False

    @property
    def encoding(self):
        return self._encoding

    @property
    def errors(self):
        return self._errors

    @property
    def buffer(self):
        return self._original.buffer

    @property
    def closed(self):
        return self._original.closed

    def close(self):
        self.flush()

    def __getattr__(self, name):
        return getattr(self._original, name)


def _install_streams():
    installed = {}
    for name in ("stdout", "stderr"):
        original = getattr(sys, name)
        if isinstance(original, _LineStream):
            continue
        try:
            original.flush()
            stream = _LineStream(original)
        except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
            continue  # closed, replaced, or not backed by a file descriptor
        setattr(sys, name, stream)
        installed[id(original)] = stream
    _switch_logging_handlers(installed)
    atexit.register(_flush_std_streams)


def _switch_logging_handlers(installed):
    logging = sys.modules.get("logging")
    if logging is None or not installed:
        return
    for ref in list(getattr(logging, "_handlerList", [])):
        handler = ref()
        stream = getattr(handler, "stream", None)
        if stream is not None and id(stream) in installed:
            handler.stream = installed[id(stream)]


def _valid_id(request_id):
    return (0 < len(request_id) <= REQUEST_ID_MAX
            and all(0x20 < ord(c) < 0x7F and c != "/" for c in request_id))


def _flush_std_streams():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass  # closed or replaced by something without flush()


def _flush_request_lines(request_id):
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, _LineStream):
            stream.flush_request(request_id)


def begin(request_id, caller=None):
    """Mark the calling thread (or asyncio task) as serving ``request_id``.

    ``caller`` names the user on whose behalf the request runs: the
    collector lets that user read the request's logs (unless the app's logs
    are private). The first BEGIN of a request that names a caller binds it.

    IDs (request and caller) are 1..128 characters of printable ASCII other
    than '/'. Raises ValueError for any other ID.
    """
    for what, value in (("request", request_id), ("caller", caller)):
        if value is None and what == "caller":
            continue
        if not isinstance(value, str) or not _valid_id(value):
            raise ValueError("invalid %s ID %r: 1..%d printable ASCII characters, no '/'"
                             % (what, value, REQUEST_ID_MAX))
    if _begin is None:
        return None
    _flush_request_lines(_current.get())  # a partial line from before belongs to before
    if _begin(request_id.encode("ascii"), caller.encode("ascii") if caller else None) != 0:
        raise ValueError("liblogtap refused request ID %r" % (request_id,))
    _thread.marked = request_id
    return _current.set(request_id)


def end(token=None, error=None):
    """End the calling thread's (or task's) request; no error if none.

    ``error`` (an exception) records that the request failed: its status
    becomes COMPLETED with ``error_type`` the exception's class name and
    ``error`` its message (cut to ERROR_MESSAGE_MAX bytes)."""
    if _end is None:
        return
    request_id = _current.get()
    _flush_request_lines(request_id)  # the request's partial line stays in the request
    if request_id is not None:
        _ensure_marked(request_id)  # END names the request that ends, not another task's
    if error is not None and _fail is not None:
        message = str(error).replace("\0", " ").encode("utf-8", "replace")[:ERROR_MESSAGE_MAX]
        _fail(_error_type_of(error).encode("ascii"), message)
    else:
        _end()
    _thread.marked = None
    if token is not None:
        _current.reset(token)
    else:
        _current.set(None)


@contextlib.contextmanager
def request(request_id, caller=None):
    """Attribute the output of the ``with`` block, on this thread or in this
    asyncio task, to the request ``request_id`` (called by ``caller``, if
    given: see begin()). An exception that escapes the block fails the
    request (see end())."""
    token = begin(request_id, caller)
    try:
        yield
    except BaseException as exc:
        # An exception escaping the handler fails the request (fal's
        # error and error_type), and goes on up.
        end(token, error=exc)
        raise
    end(token)


if _begin is not None:
    _install_streams()
