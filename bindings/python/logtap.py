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
"""

import atexit
import contextlib
import ctypes
import io
import os
import sys
import threading

__all__ = ["preloaded", "request", "begin", "end", "REQUEST_ID_MAX"]

REQUEST_ID_MAX = 128


def _load():
    try:
        process = ctypes.CDLL(None)
        begin = process.logtap_request_begin
        end = process.logtap_request_end
    except (OSError, AttributeError):
        return None, None
    begin.argtypes = [ctypes.c_char_p]
    begin.restype = ctypes.c_int
    end.argtypes = []
    end.restype = ctypes.c_int
    return begin, end


_begin, _end = _load()


def preloaded():
    """True when liblogtap.so is loaded into this process."""
    return _begin is not None


class _LineStream(io.TextIOBase):
    """A text stream in front of sys.stdout or sys.stderr that writes each
    complete line with one write(2) from the thread that wrote it.

    Partial lines wait, per thread, for their newline (or a flush). Every
    other attribute is the original stream's."""

    def __init__(self, original):
        super().__init__()
        self._original = original
        self._fd = original.fileno()
        self._encoding = original.encoding or "utf-8"
        self._errors = original.errors or "strict"
        self._partial = {}  # thread ident -> unfinished line
        self._lock = threading.Lock()

    # -- the writing path --
    def write(self, text):
        if not isinstance(text, str):
            raise TypeError("write() argument must be str, not %s" % type(text).__name__)
        me = threading.get_ident()
        with self._lock:
            pending = self._partial.pop(me, "") + text
            cut = pending.rfind("\n") + 1
            if cut < len(pending):
                self._partial[me] = pending[cut:]
        if cut:
            self._write_bytes(pending[:cut].encode(self._encoding, self._errors))
        return len(text)

    def _write_bytes(self, data):
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def flush(self):
        """Write every thread's unfinished line (this thread's first)."""
        me = threading.get_ident()
        with self._lock:
            mine = self._partial.pop(me, "")
            others = list(self._partial.values())
            self._partial.clear()
        for text in [mine] + others:
            if text:
                self._write_bytes(text.encode(self._encoding, self._errors))

    def flush_thread(self):
        """Write the calling thread's unfinished line, if any."""
        with self._lock:
            text = self._partial.pop(threading.get_ident(), "")
        if text:
            self._write_bytes(text.encode(self._encoding, self._errors))

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


def _flush_thread_lines():
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, _LineStream):
            stream.flush_thread()


def begin(request_id):
    """Mark the calling thread as serving ``request_id``.

    A request ID is 1..128 characters of printable ASCII other than '/'.
    Raises ValueError for any other ID.
    """
    if not isinstance(request_id, str) or not _valid_id(request_id):
        raise ValueError("invalid request ID %r: 1..%d printable ASCII characters, no '/'"
                         % (request_id, REQUEST_ID_MAX))
    if _begin is None:
        return
    _flush_thread_lines()  # a partial line from before belongs to before
    if _begin(request_id.encode("ascii")) != 0:
        raise ValueError("liblogtap refused request ID %r" % (request_id,))


def end():
    """Clear the calling thread's marker (no error if there is none)."""
    if _end is None:
        return
    _flush_thread_lines()  # the request's partial line stays in the request
    _end()


@contextlib.contextmanager
def request(request_id):
    """Attribute the output of the ``with`` block, on this thread, to the
    request ``request_id``."""
    begin(request_id)
    try:
        yield
    finally:
        end()


if _begin is not None:
    _install_streams()
