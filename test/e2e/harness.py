"""Shared pieces of logtap's end-to-end tests.

Every test here drives the real programs: a logtap-collector process on a
fresh data directory (real SQLite file), runners with the real liblogtap.so
in LD_PRELOAD talking real ZeroMQ over ipc://, and the real HTTP API and CLI.

Environment (set by test/meson.build):
  LOGTAP_BUILD        build directory holding liblogtap.so, logtap-collector, logtap
  LOGTAP_SRC          source root
  LOGTAP_TEST_PRELOAD optional LD_PRELOAD value to use instead of
                      $LOGTAP_BUILD/liblogtap.so (sanitizer runs put their
                      runtime first)
  LOGTAP_TEST_RUNNER_ASAN_OPTIONS  ASAN_OPTIONS for runner processes only
  LOGTAP_TEST_NATIVE_PRELOAD  LD_PRELOAD for test programs built in this tree
  LOGTAP_TEST_INGEST_AUTH     "required": every collector runs with
                      --ingest-auth required, and runner_env acts as a
                      launcher that mints each runner's credential (with
                      the admin token) for the runner, app, version and
                      source it sets (README, "Tenants and ingest
                      authentication"); tests of hostile frames then see
                      their frames refused earlier
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

BUILD = os.path.abspath(os.environ.get("LOGTAP_BUILD", "build"))
SRC = os.path.abspath(os.environ.get("LOGTAP_SRC", os.path.join(os.path.dirname(__file__), "..", "..")))
PRELOAD = os.environ.get("LOGTAP_TEST_PRELOAD") or os.path.join(BUILD, "liblogtap.so")
# Test programs built in this tree carry its sanitizer, so they take the
# preload built with it (TSan must see the preload's atomics to judge them).
NATIVE_PRELOAD = os.environ.get("LOGTAP_TEST_NATIVE_PRELOAD") or PRELOAD
COLLECTOR = os.path.join(BUILD, "logtap-collector")
INGEST_AUTH = os.environ.get("LOGTAP_TEST_INGEST_AUTH")
CLI = os.path.join(BUILD, "logtap")
PYTHON = os.environ.get("LOGTAP_TEST_PYTHON", sys.executable)
BINDINGS = os.path.join(SRC, "bindings", "python")

# Collectors record their admin token for the local CLI under
# $XDG_CONFIG_HOME/logtap/credentials: keep that inside the test's own
# temporary directory, never in the user's home.
if not os.environ.get("LOGTAP_TEST_KEEP_CONFIG"):
    os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="logtap-test-config-")
    os.environ.pop("LOGTAP_TOKEN", None)


class TestFailure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def _short(value, limit=600):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "... (%d chars)" % len(text)


def check_eq(got, want, what):
    if got != want:
        detail = ""
        if isinstance(got, list) and isinstance(want, list):
            got_set, want_set = set(got), set(want)
            missing = [x for x in want if x not in got_set]
            extra = [x for x in got if x not in want_set]
            detail = " (%d vs %d items; missing %s; unexpected %s)" % (
                len(got), len(want), _short(missing[:10], 300), _short(extra[:10], 300))
        raise TestFailure("%s: expected %s, got %s%s" % (what, _short(want), _short(got), detail))


def wait_until(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TestFailure("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(0.02)


class Collector:
    """A logtap-collector process on its own temp dir, ipc endpoint and a
    free HTTP port. Use as a context manager; stop() asserts a clean exit."""

    def __init__(self, workdir=None, data=None, endpoint=None, args=()):
        self.workdir = workdir or tempfile.mkdtemp(prefix="logtap-test-")
        self.data = data or os.path.join(self.workdir, "data")
        self.endpoint = endpoint or "ipc://" + os.path.join(self.workdir, "ingest.sock")
        self.args = list(args)  # more collector flags
        self.proc = None
        self.url = None
        self.log_path = os.path.join(self.workdir, "collector.log")

    def start(self):
        status = os.path.join(self.data, "collector.json")
        if os.path.exists(status):
            os.unlink(status)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [COLLECTOR, "--listen", self.endpoint, "--http", "127.0.0.1:0", "--data", self.data,
             "--rings", self.ring_dir()] + (["--ingest-auth", INGEST_AUTH] if INGEST_AUTH else []) + self.args,
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)

        def ready():
            if self.proc.poll() is not None:
                raise TestFailure("collector exited with %s: %s" % (self.proc.returncode, self.log_text()))
            try:
                with open(status) as f:
                    return json.load(f)
            except (OSError, ValueError):
                return None
        info = wait_until(ready, 10, "collector start")
        self.url = info["http"]
        self.token = self.admin_token()
        return self

    def admin_token(self):
        """The token the collector made for its operator on first start."""
        try:
            with open(os.path.join(self.data, "admin.token")) as f:
                return f.read().strip()
        except OSError:
            return None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise TestFailure("collector did not stop within 20s of SIGTERM")
            if sig == signal.SIGTERM:
                check_eq(self.proc.returncode, 0, "collector exit status after SIGTERM")
        if getattr(self, "log", None):
            self.log.close()
            self.log = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        if exc[0] is None and not os.environ.get("LOGTAP_TEST_KEEP"):
            shutil.rmtree(self.workdir, ignore_errors=True)
        elif exc[0] is not None:
            sys.stderr.write("collector log (%s):\n%s\n" % (self.workdir, self.log_text()[-4000:]))

    # ---- HTTP ----
    # Requests carry the admin token unless `token` says otherwise (None:
    # no Authorization header at all).
    ADMIN = object()

    def request(self, method, path, body=None, token=ADMIN, headers=None, params=None):
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None
        hdrs = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if token is Collector.ADMIN:
            token = self.token
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers

    def get(self, path, token=ADMIN, headers=None, **params):
        return self.request("GET", path, token=token, headers=headers, params=params)

    def get_json(self, path, token=ADMIN, **params):
        status, body, _ = self.get(path, token=token, **params)
        return status, json.loads(body) if body else None

    def call_json(self, method, path, body=None, token=ADMIN):
        status, data, _ = self.request(method, path, body=body, token=token)
        return status, json.loads(data) if data else None

    def logs(self, scope, ident, **params):
        """Every entry of a runner or request, paging through the API."""
        out, after = [], 0
        while True:
            status, doc = self.get_json("/v1/%s/%s/logs" % (scope, urllib.parse.quote(ident, safe="")),
                                        after=after, limit=100000, **params)
            if status == 404:
                return None
            check_eq(status, 200, "GET %s logs status" % scope)
            out.extend(doc["logs"])
            if not doc["logs"]:
                return out
            after = doc["next_after"]

    def metrics(self):
        status, body, _ = self.get("/metrics")
        check_eq(status, 200, "/metrics status")
        values = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    def ring_dir(self):
        path = os.path.join(self.workdir, "rings")
        os.makedirs(path, exist_ok=True)
        return path


class Follower:
    """A follow stream (server-sent events) read on a thread of its own.

    events: a list of (type, id, data) tuples, data parsed as JSON where it
    is JSON. status: the HTTP status (None until the headers arrive).
    Use wait_for() to wait for a condition on the events and stop() to hang
    up. `read=False` connects but never reads the body: a stalled client."""

    def __init__(self, collector, path, token=Collector.ADMIN, headers=None, read=True, **params):
        import http.client
        import threading
        self.events = []
        self.status = None
        self.error = None
        self.lock = threading.Lock()
        self._stopped = False
        host, port = collector.url[len("http://"):].rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        if not read:
            # A stalled client holds little in its socket: left at the
            # default, Linux may take megabytes of the stream into kernel
            # buffers (tcp_rmem here reaches 32 MB), and the server would
            # never see it stall.
            import socket
            self.conn.connect()
            self.conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        hdrs = dict(headers or {})
        if token is Collector.ADMIN:
            token = collector.token
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        params.setdefault("follow", 1)
        self.conn.request("GET", path + "?" + urllib.parse.urlencode(params), headers=hdrs)
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.body = b"" if self.status == 200 else self.response.read()
        self.thread = None
        if self.status == 200 and read:
            self.thread = threading.Thread(target=self._read, daemon=True)
            self.thread.start()

    def _read(self):
        event = {"type": "message", "id": None, "data": []}
        try:
            while not self._stopped:
                raw = self.response.readline()
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line == "":
                    if event["data"]:
                        text = "\n".join(event["data"])
                        try:
                            data = json.loads(text)
                        except ValueError:
                            data = text
                        with self.lock:
                            self.events.append((event["type"], event["id"], data))
                    event = {"type": "message", "id": None, "data": []}
                elif line.startswith(":"):
                    continue
                else:
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "event":
                        event["type"] = value
                    elif field == "id":
                        event["id"] = value
                    elif field == "data":
                        event["data"].append(value)
        except Exception as e:  # a hang-up from stop() lands here too
            if not self._stopped:
                self.error = e

    def read_now(self):
        """Start reading a stream opened with read=False."""
        import threading
        if self.thread is None and self.status == 200:
            self.thread = threading.Thread(target=self._read, daemon=True)
            self.thread.start()

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def logs(self):
        return [d for t, _, d in self.snapshot() if t == "log"]

    def wait_for(self, predicate, timeout=10.0, what="follow events"):
        return wait_until(lambda: predicate(self.snapshot()), timeout, what)

    def stop(self):
        import socket
        self._stopped = True
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass
        self.conn.close()
        if self.thread:
            self.thread.join(10)


def _python_defaults(env):
    # Runners get Python's default buffering (block-buffered stdout on files
    # and pipes), as a real runner would, whatever this shell has set.
    env.pop("PYTHONUNBUFFERED", None)
    return env


def runner_env(collector=None, runner_id="test-runner", endpoint=None, ring_dir=None, **extra):
    env = _python_defaults(dict(os.environ))
    env["LD_PRELOAD"] = PRELOAD
    env["LOGTAP_RUNNER_ID"] = runner_id
    if collector is not None:
        env["LOGTAP_ENDPOINT"] = collector.endpoint
        env["LOGTAP_RING_DIR"] = ring_dir or collector.ring_dir()
    else:
        env["LOGTAP_ENDPOINT"] = endpoint or "ipc:///nonexistent/logtap-test.sock"
        env["LOGTAP_RING_DIR"] = ring_dir or tempfile.mkdtemp(prefix="logtap-rings-")
    env["PYTHONPATH"] = BINDINGS + os.pathsep + env.get("PYTHONPATH", "")
    if os.environ.get("LOGTAP_TEST_RUNNER_ASAN_OPTIONS"):
        # The runner is Python with the ASan runtime preloaded: its own
        # allocations are not ours to judge.
        env["ASAN_OPTIONS"] = os.environ["LOGTAP_TEST_RUNNER_ASAN_OPTIONS"]
    for k, v in extra.items():
        env[k] = v
    if INGEST_AUTH and collector is not None and collector.url and "LOGTAP_CREDENTIAL" not in extra:
        env["LOGTAP_CREDENTIAL"] = mint_credential(collector, env)
    return env


def mint_credential(collector, env):
    """What a launcher does: the credential of the runner `env` describes."""
    body = {"app": env.get("LOGTAP_APP_ID", ""), "version": env.get("LOGTAP_VERSION_ID", ""),
            "source": env.get("LOGTAP_SOURCE", "")}
    status, doc = collector.call_json("POST", "/v1/runners/%s/credentials"
                                      % urllib.parse.quote(env["LOGTAP_RUNNER_ID"], safe=""), body)
    check_eq(status, 200, "minting the credential of runner %s: %r" % (env["LOGTAP_RUNNER_ID"], doc))
    return doc["credential"]


_LINE_RUNNER = r'''
import os, sys
prefix = sys.argv[2]
for command in sys.stdin:
    word, _, rest = command.strip().partition(" ")
    if word == "exit":
        break
    first, count = (int(x) for x in rest.split())
    for n in range(first, first + count):
        os.write(1, ("%s %d\n" % (prefix, n)).encode())
    os.write(int(sys.argv[1]), b"ok\n")
'''


class LineRunner:
    """A Python runner under the preload that writes "PREFIX n" lines on
    demand (write(count) returns once they are written), then exits on
    finish(). `env` goes to runner_env (runner_id, LOGTAP_* settings)."""

    def __init__(self, collector, prefix, **env):
        ready_r, ready_w = os.pipe()
        self.ready = ready_r
        self.prefix = prefix
        self.proc = subprocess.Popen([PYTHON, "-c", _LINE_RUNNER, str(ready_w), prefix],
                                     env=runner_env(collector, **env), pass_fds=(ready_w,),
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        os.close(ready_w)
        self.written = 0

    def write(self, count):
        self.proc.stdin.write(("lines %d %d\n" % (self.written, count)).encode())
        self.proc.stdin.flush()
        check_eq(os.read(self.ready, 3), b"ok\n", "%s: lines written" % self.prefix)
        self.written += count

    def lines(self):
        """Every line written so far, in order."""
        return ["%s %d" % (self.prefix, n) for n in range(self.written)]

    def finish(self):
        self.proc.stdin.write(b"exit\n")
        self.proc.stdin.close()
        check_eq(self.proc.wait(60), 0, "%s: exit status" % self.prefix)
        os.close(self.ready)


def plain_env(**extra):
    env = _python_defaults(dict(os.environ))
    env.pop("LD_PRELOAD", None)
    env["PYTHONPATH"] = BINDINGS + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def status_kb(pid, field):
    """A field of /proc/PID/status in kB (VmRSS, VmHWM); 0 if absent."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def messages(entries):
    return [e["message"] for e in entries]


def run_tests(tests):
    """Run test functions, report each, exit 0 if all passed, 1 otherwise."""
    failed = 0
    for fn in tests:
        start = time.monotonic()
        try:
            fn()
            print("ok   %s (%.2fs)" % (fn.__name__, time.monotonic() - start), flush=True)
        except Exception:
            failed += 1
            print("FAIL %s" % fn.__name__, flush=True)
            traceback.print_exc()
    print("%d passed, %d failed" % (len(tests) - failed, failed))
    sys.exit(1 if failed else 0)
