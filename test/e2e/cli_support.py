"""Helpers for the end-to-end tests of the `logtap` CLI (test_cli*.py).

They drive real programs only: `logtap run` runners with the real preload,
a real collector (harness.Collector), and the real `logtap` executable,
whose output is parsed and checked strictly (every text line must be
TIMESTAMP [RUNNER] STREAM LEVEL REQUEST MESSAGE, every json line an object).
"""

import calendar
import datetime
import json
import os
import pty
import re
import select
import signal
import subprocess
import tempfile
import termios
import time

from harness import CLI, PYTHON, TestFailure, check, check_eq, plain_env, runner_env, wait_until

PIPE = subprocess.PIPE
DEVNULL = subprocess.DEVNULL

TS_RE = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z"
# The LEVEL column is matched, not captured: rows keep their (TIMESTAMP,
# STREAM, REQUEST, MESSAGE) shape; LEVEL_TEXT_RE captures it.
LEVELS = r"(?:TRACE|DEBUG|INFO|STDOUT|WARN|STDERR|ERROR)"
TEXT_RE = re.compile(r"^(%s) (stdout|stderr) %s (\S+) (.*)$" % (TS_RE, LEVELS), re.S)
LEVEL_TEXT_RE = re.compile(r"^(%s) (stdout|stderr) (%s) (\S+) (.*)$" % (TS_RE, LEVELS), re.S)
# `logtap logs` shows lines of many runners: a RUNNER column after the time.
LOGS_TEXT_RE = re.compile(r"^(%s) (\S+) (stdout|stderr) %s (\S+) (.*)$" % (TS_RE, LEVELS), re.S)
JSON_FIELDS = {"id", "timestamp", "message", "level", "stream", "source", "runner_id",
               "request_id", "app_id", "version_id", "pid", "tid"}
UNREACHABLE = "http://127.0.0.1:1"
UNREACHABLE_RE = re.compile(
    r"^logtap: cannot reach the collector at http://127\.0\.0\.1:1: [^\n]+ "
    r"\(is logtap-collector running\? use --server or LOGTAP_SERVER\)\n$")


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def cli(c, *args, env=None, timeout=30, server=True, input=None):
    """Runs `logtap [--server URL] ARGS...`; returns the CompletedProcess (bytes)."""
    cmd = [CLI]
    if server:
        cmd += ["--server", c if isinstance(c, str) else c.url]
    cmd += list(args)
    return subprocess.run(cmd, stdout=PIPE, stderr=PIPE,
                          stdin=DEVNULL if input is None else None, input=input,
                          env=env if env is not None else plain_env(), timeout=timeout)


def cli_ok(c, *args, **kw):
    p = cli(c, *args, **kw)
    if p.returncode != 0 or p.stderr:
        raise TestFailure("logtap %s: exit %s, stderr %r" % (" ".join(args), p.returncode, p.stderr))
    return p.stdout


def run_env(c, **extra):
    """The environment for `logtap run`: the collector's endpoint and ring
    directory, the Python binding on PYTHONPATH, but no LD_PRELOAD and no
    runner ID: `logtap run` must set both up by itself (it finds
    liblogtap.so beside its own executable in the build directory)."""
    env = runner_env(c, **extra)
    env.pop("LOGTAP_RUNNER_ID", None)
    for name in ("LOGTAP_APP_ID", "LOGTAP_VERSION_ID", "LOGTAP_SOURCE", "LOGTAP_PRELOAD"):
        if name not in extra:
            env.pop(name, None)
    if not os.environ.get("LOGTAP_TEST_PRELOAD"):
        env.pop("LD_PRELOAD", None)
    return env


class Run:
    def __init__(self, proc, start, end):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.start = start
        self.end = end


def logtap_run(c, runner, cmd, app=None, version=None, extra=(), env=None, input=None, timeout=120,
               quiet=True):
    """`logtap run [-q] [--runner R] [--app A] [--version V] -- CMD...`, recording
    the wall-clock window it ran in. -q unless quiet=False, so that stderr is
    CMD's own."""
    args = [CLI, "run"] + (["-q"] if quiet else [])
    if runner is not None:
        args += ["--runner", runner]
    if app is not None:
        args += ["--app", app]
    if version is not None:
        args += ["--version", version]
    args += list(extra) + ["--"] + list(cmd)
    start = time.time()
    proc = subprocess.run(args, stdout=PIPE, stderr=PIPE, input=input,
                          stdin=DEVNULL if input is None else None,
                          env=env if env is not None else run_env(c), timeout=timeout)
    return Run(proc, start, time.time())


def run_py(c, runner, script, **kw):
    r = logtap_run(c, runner, [PYTHON, "-c", script], **kw)
    if r.rc != 0:
        raise TestFailure("runner %s exited %s; stderr %r" % (runner, r.rc, r.err[-2000:]))
    return r


def stored(c, scope, ident, count, timeout=30):
    """Waits until the collector holds `count` entries for the runner or
    request, and checks it holds exactly that many."""
    def enough():
        e = c.logs(scope, ident)
        return e if e is not None and len(e) >= count else None
    entries = wait_until(enough, timeout, "%d %s lines of %s stored" % (count, scope, ident))
    check_eq(len(entries), count, "number of stored lines of %s %s" % (scope, ident))
    return entries


def check_lines(got, want, what):
    """check_eq for long lists of lines: names the first difference, in
    time linear in the length (harness.check_eq's detail is not)."""
    if got == want:
        return
    first = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want)))
    raise TestFailure("%s: %d lines, expected %d; first difference at line %d: got %r, expected %r"
                      % (what, len(got), len(want), first, got[first] if first < len(got) else "(end)",
                         want[first] if first < len(want) else "(end)"))


def parse_ts(ts):
    check(re.fullmatch(TS_RE, ts) is not None, "timestamp %r is not RFC 3339 UTC with microseconds" % ts)
    dt = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
    return calendar.timegm(dt.timetuple()) + dt.microsecond / 1e6


def fmt_ts(epoch, tz_hours=0, digits=6):
    tz = datetime.timezone(datetime.timedelta(hours=tz_hours))
    dt = datetime.datetime.fromtimestamp(epoch, tz)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + ("%06d" % dt.microsecond)[:digits]
    return text + ("Z" if tz_hours == 0 else dt.strftime("%z")[:3] + ":" + dt.strftime("%z")[3:])


def text_rows(stdout, pattern=TEXT_RE, shape="TIMESTAMP STREAM LEVEL REQUEST MESSAGE"):
    """Parses `TIMESTAMP STREAM LEVEL REQUEST MESSAGE` lines, checking each
    one; rows are (TIMESTAMP, STREAM, REQUEST, MESSAGE)."""
    text = stdout.decode("utf-8")
    check(text == "" or text.endswith("\n"), "text output does not end with a newline: %r" % text[-200:])
    rows = []
    for line in text.split("\n")[:-1]:
        m = pattern.match(line)
        check(m is not None, "text output line %r is not %s" % (line, shape))
        parse_ts(m.group(1))
        rows.append(m.groups())
    return rows


def logs_rows(stdout):
    """Parses `logtap logs` text: TIMESTAMP RUNNER STREAM LEVEL REQUEST MESSAGE."""
    return text_rows(stdout, LOGS_TEXT_RE, "TIMESTAMP RUNNER STREAM LEVEL REQUEST MESSAGE")


def text_messages(stdout):
    return [r[3] for r in text_rows(stdout)]


def json_lines(stdout):
    out = []
    text = stdout.decode("utf-8")
    check(text == "" or text.endswith("\n"), "json output does not end with a newline")
    for line in text.split("\n")[:-1]:
        try:
            obj = json.loads(line)
        except ValueError:
            raise TestFailure("--output json line is not JSON: %r" % line)
        check(isinstance(obj, dict), "--output json line is not an object: %r" % line)
        out.append(obj)
    return out


def expected_text(entries, runner_column=False):
    """What `logtap ... logs` must print for API entries whose messages hold
    no control characters (runner_column: as `logtap logs` prints them)."""
    return "".join("%s %s%s %s %s %s\n" % (e["timestamp"], e["runner_id"] + " " if runner_column else "",
                                             e["stream"], e["level"], e["request_id"] or "-", e["message"])
                   for e in entries).encode()


class Follower:
    """`logtap ... -f` as a subprocess whose stdout is read with deadlines."""

    def __init__(self, args, env=None):
        self.err_file = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([CLI] + list(args), stdout=PIPE, stderr=self.err_file,
                                     stdin=DEVNULL, env=env if env is not None else plain_env())
        self.buf = b""

    def stderr(self):
        self.err_file.seek(0)
        return self.err_file.read()

    def read_lines(self, n, timeout, what):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while self.buf.count(b"\n") < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("timed out after %.1fs waiting for %d lines (%s); have %r; stderr %r"
                                  % (timeout, n, what, self.buf, self.stderr()))
            ready, _, _ = select.select([fd], [], [], min(left, 0.2))
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise TestFailure("follower ended (exit %s) while waiting for %s; have %r; stderr %r"
                                      % (self.proc.wait(5), what, self.buf, self.stderr()))
                self.buf += chunk
        lines = self.buf.split(b"\n")
        self.buf = b"\n".join(lines[n:])
        return [l + b"\n" for l in lines[:n]]

    def quiet_for(self, seconds):
        """Checks nothing more is printed for `seconds`."""
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], seconds)
        if ready:
            self.buf += os.read(fd, 65536)
        check_eq(self.buf, b"", "follower output that should not be there")

    def interrupt(self):
        """SIGINT, as Ctrl-C would; returns (exit code, remaining stdout)."""
        self.proc.send_signal(signal.SIGINT)
        try:
            rc = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TestFailure("follower did not exit within 10s of SIGINT")
        rest = self.buf + self.proc.stdout.read()
        self.buf = b""
        return rc, rest

    def wait_exit(self, timeout, what):
        """Waits for the follower to end by itself; returns (exit code,
        remaining stdout)."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure("timed out after %ds waiting for %s; output %r; stderr %r"
                              % (timeout, what, self.buf, self.stderr())) from None
        rest = self.buf + self.proc.stdout.read()
        self.buf = b""
        return rc, rest

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc.stdout.close()
        self.err_file.close()


def gated_runner(c, runner, script, gate, **kw):
    """A `logtap run` runner that waits for the file `gate`; Popen."""
    args = [CLI, "run", "-q", "--runner", runner, "--", PYTHON, "-c", script, gate]
    return subprocess.Popen(args, stdout=DEVNULL, stderr=PIPE, stdin=DEVNULL, env=run_env(c, **kw))


def finish(proc, gate, timeout=60):
    """Opens the gate and reaps the runner, killing it if it hangs."""
    open(gate, "w").close()
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        raise TestFailure("gated runner did not exit within %ds" % timeout)
    err = proc.stderr.read()
    proc.stderr.close()
    return rc, err


def run_on_pty(cmd, env, which, timeout=30):
    """Runs cmd with `which` ('stdout' or 'stderr') on a pseudo-terminal (no
    output post-processing, so bytes arrive as written); returns (exit code,
    bytes from the terminal, bytes from the other stream)."""
    master, slave = pty.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    other = tempfile.TemporaryFile()
    streams = {"stdout": other, "stderr": other}
    streams[which] = slave
    try:
        proc = subprocess.Popen(cmd, stdin=DEVNULL, stdout=streams["stdout"], stderr=streams["stderr"], env=env)
    finally:
        os.close(slave)
    data = b""
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                raise TestFailure("%s on a terminal did not finish within %ds" % (cmd, timeout))
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every slave end is closed
                    break
                if not chunk:
                    break
                data += chunk
        rc = proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(master)
    other.seek(0)
    rest = other.read()
    other.close()
    return rc, data, rest
