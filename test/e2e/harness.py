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
CLI = os.path.join(BUILD, "logtap")
PYTHON = os.environ.get("LOGTAP_TEST_PYTHON", sys.executable)
BINDINGS = os.path.join(SRC, "bindings", "python")


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
            missing = [x for x in want if x not in set(got)] if len(want) < 200000 else []
            extra = [x for x in got if x not in set(want)]
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
             "--rings", self.ring_dir()] + self.args,
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
        return self

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
    def get(self, path, **params):
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                body = r.read()
                return r.status, body, r.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers

    def get_json(self, path, **params):
        status, body, _ = self.get(path, **params)
        return status, json.loads(body) if body else None

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
    return env


def plain_env(**extra):
    env = _python_defaults(dict(os.environ))
    env.pop("LD_PRELOAD", None)
    env["PYTHONPATH"] = BINDINGS + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


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
