"""End-to-end tests of what a new user is told (issue 17, item 5):
`logtap run` warns when no collector answers at its endpoint (and still
runs the command with its exit status), says nothing when one does; the
CLI reads another credentials file with --credentials / LOGTAP_CREDENTIALS;
a collector started on a terminal says how to point the CLI at it, and
what it says works.
"""

import os
import pty
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from cli_support import run_env
from harness import CLI, COLLECTOR, Collector, TestFailure, check, check_eq, plain_env, run_tests, wait_until

PIPE = subprocess.PIPE
WARNING_RE = re.compile(
    r"^logtap: warning: no collector answered at (\S+) within 2 s; the command's lines wait in its ring file in "
    r"(\S+) until a collector listens there, or one started with '--rings \2' replays them "
    r"\(check --endpoint / LOGTAP_ENDPOINT\)\n$")


def run(args, env, timeout=30):
    start = time.monotonic()
    p = subprocess.run([CLI, "run", "--quiet"] + args, stdout=PIPE, stderr=PIPE, env=env, timeout=timeout)
    return p, time.monotonic() - start


def test_run_warns_without_a_collector():
    with Collector() as c:
        env = run_env(c)
        env["LOGTAP_RING_DIR"] = c.ring_dir()
        endpoint = "ipc:///nonexistent/logtap-test.sock"
        # A quick command: the warning comes promptly after it ends.
        p, took = run(["--endpoint", endpoint, "--", "sh", "-c", "echo out; exit 3"], env)
        check_eq((p.returncode, p.stdout), (3, b"out\n"), "the command's exit status and output")
        m = WARNING_RE.match(p.stderr.decode())
        check(m is not None, "the warning: %r" % p.stderr)
        check_eq(m.groups(), (endpoint, c.ring_dir()), "the warning names the endpoint and the ring directory")
        check(took < 1.5, "a quick command is not held for the full 2 s: %.2fs" % took)

        # A longer one: the warning comes at 2 s, while it still runs.
        env_merged = dict(env, LOGTAP_ENDPOINT=endpoint)
        start = time.monotonic()
        p = subprocess.run([CLI, "run", "-q", "--", "sh", "-c", "sleep 3; echo late"], stdout=PIPE,
                           stderr=subprocess.STDOUT, env=env_merged, timeout=30)
        lines = p.stdout.decode().splitlines()
        check_eq((p.returncode, len(lines), lines[-1]), (0, 2, "late"), "output: %r" % lines)
        check(WARNING_RE.match(lines[0] + "\n") and endpoint in lines[0],
              "LOGTAP_ENDPOINT is named, and warned about before the command's later output: %r" % lines)
        check(time.monotonic() - start >= 3, "the command ran to its end")

        # Not even a ZeroMQ endpoint.
        p, _ = run(["--endpoint", "bogus", "--", "true"], env)
        check_eq(p.returncode, 0, "exit status with a malformed endpoint")
        check(p.stderr.decode().startswith("logtap: warning: cannot connect to the collector endpoint bogus: "),
              "the malformed endpoint's warning: %r" % p.stderr)

        # A disabled preload sends nothing: nothing to warn about.
        p, _ = run(["--endpoint", endpoint, "--", "true"], dict(env, LOGTAP_DISABLE="1"))
        check_eq((p.returncode, p.stderr), (0, b""), "LOGTAP_DISABLE=1: no warning")

        # The collector answers: no warning, quick or slow command.
        for cmd in (["true"], ["sh", "-c", "sleep 0.5; echo hi >&2"]):
            p, took = run(["--"] + cmd, env)
            check_eq((p.returncode, p.stderr), (0, b"hi\n" if len(cmd) > 1 else b""),
                     "no warning with a collector at the endpoint: %r" % cmd)
        check(took < 1.5, "a live collector answers at once: %.2fs" % took)


def test_cli_credentials_file():
    workdir = tempfile.mkdtemp(prefix="logtap-test-")
    creds = os.path.join(workdir, "its credentials")
    with Collector(workdir=workdir, args=["--credentials", creds]) as c:
        check(os.path.exists(creds), "the collector wrote its --credentials file")
        env = plain_env()
        env.pop("LOGTAP_CREDENTIALS", None)
        base = [CLI, "--server", c.url]
        p = subprocess.run(base + ["whoami"], stdout=PIPE, stderr=PIPE, env=env, timeout=30)
        check_eq(p.returncode, 4, "without the file, no token: %r" % p.stderr)
        for args, extra in (([CLI, "--credentials", creds, "--server", c.url, "whoami"], {}),
                            (base + ["whoami", "--credentials", creds], {}),
                            (base + ["whoami"], {"LOGTAP_CREDENTIALS": creds})):
            p = subprocess.run(args, stdout=PIPE, stderr=PIPE, env=dict(env, **extra), timeout=30)
            check_eq((p.returncode, p.stdout.split()[:2], p.stderr), (0, [b"user", b"admin"], b""),
                     "logtap %r with %r" % (args, extra))
        # The flag wins over the environment.
        p = subprocess.run(base + ["--credentials", creds, "whoami"], stdout=PIPE, stderr=PIPE,
                           env=dict(env, LOGTAP_CREDENTIALS="/nonexistent"), timeout=30)
        check_eq((p.returncode, p.stdout.split()[:2]), (0, [b"user", b"admin"]), "--credentials over LOGTAP_CREDENTIALS")
        for args, extra, named_by in ((base + ["--credentials", creds + ".typo", "whoami"], {}, "--credentials"),
                                      (base + ["whoami"], {"LOGTAP_CREDENTIALS": creds + ".typo"},
                                       "LOGTAP_CREDENTIALS")):
            p = subprocess.run(args, stdout=PIPE, stderr=PIPE, env=dict(env, **extra), timeout=30)
            check_eq((p.returncode, p.stderr.decode()),
                     (4, "logtap: the credentials file %s.typo (from %s) does not exist\n" % (creds, named_by)),
                     "a named file that does not exist")
        p = subprocess.run(base + ["--credentials", "", "whoami"], stdout=PIPE, stderr=PIPE, env=env, timeout=30)
        check_eq((p.returncode, p.stderr.decode()),
                 (2, "logtap: --credentials needs a file\nTry 'logtap --help'.\n"), "an empty --credentials")


def read_pty(master, until, timeout=15):
    out = b""
    deadline = time.monotonic() + timeout
    while until not in out and time.monotonic() < deadline:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return out.decode("utf-8", "replace")


def test_collector_on_a_terminal_says_how_to_reach_it():
    # Not on a pipe or file: the harness's collectors log to a file.
    with Collector() as c:
        check("to use this collector" not in c.log_text() and "logtap run -- CMD" not in c.log_text(),
              "no hint when stderr is not a terminal: %s" % c.log_text())
    workdir = tempfile.mkdtemp(prefix="logtap-test-")
    creds = os.path.join(workdir, "demo creds")
    endpoint = "ipc://" + os.path.join(workdir, "tty.sock")
    os.makedirs(os.path.join(workdir, "rings"))
    master, slave = pty.openpty()
    proc = subprocess.Popen([COLLECTOR, "--listen", endpoint, "--http", "127.0.0.1:0", "--data",
                             os.path.join(workdir, "tty-data"), "--rings", os.path.join(workdir, "rings"),
                             "--credentials", creds], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    try:
        text = read_pty(master, b"logtap runners logs RUNNER_ID")
        # Keep reading, as a terminal would: a full pty would stall the
        # collector's log writes.
        threading.Thread(target=read_pty, args=(master, b"\0never", 60), daemon=True).start()
        m = re.search(r"to use this collector from this machine: export (.*)\r?\n", text)
        check(m is not None, "the collector's terminal output: %r" % text)
        settings = dict(word.split("=", 1) for word in shlex.split(m.group(1)))
        check_eq(sorted(settings), ["LOGTAP_CREDENTIALS", "LOGTAP_ENDPOINT", "LOGTAP_RING_DIR", "LOGTAP_SERVER"],
                 "what the hint sets")
        check_eq((settings["LOGTAP_CREDENTIALS"], settings["LOGTAP_ENDPOINT"]), (creds, endpoint),
                 "the hint's credentials file and endpoint")
        check("then: logtap run -- CMD; logtap runners logs RUNNER_ID" in text, "the commands: %r" % text)
        # Following the hint works: a run, and its logs read back.
        env = plain_env(**settings)
        for name in ("LOGTAP_TOKEN", "LD_PRELOAD"):
            env.pop(name, None)
        if os.environ.get("LOGTAP_TEST_PRELOAD"):
            env["LD_PRELOAD"] = os.environ["LOGTAP_TEST_PRELOAD"]
        if os.environ.get("LOGTAP_TEST_RUNNER_ASAN_OPTIONS"):
            env["ASAN_OPTIONS"] = os.environ["LOGTAP_TEST_RUNNER_ASAN_OPTIONS"]
        p = subprocess.run([CLI, "run", "-q", "--runner", "hinted", "--", "sh", "-c", "echo as hinted"], stdout=PIPE,
                           stderr=PIPE, env=env, timeout=30)
        check_eq((p.returncode, p.stdout, p.stderr), (0, b"as hinted\n", b""), "logtap run as hinted")

        def logs():
            r = subprocess.run([CLI, "runners", "logs", "hinted", "--raw"], stdout=PIPE, stderr=PIPE, env=env,
                               timeout=30)
            last.append(r)
            return r.stdout if r.returncode == 0 else None
        last = []
        try:
            got = wait_until(logs, 10, "the hinted runner's logs")
        except TestFailure:
            raise TestFailure("logtap runners logs as hinted: %r" % last[-1:])
        check_eq(got, b"as hinted\n", "logtap runners logs as hinted")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        os.close(master)
    check_eq(proc.returncode, 0, "the collector's exit status")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    run_tests([test_run_warns_without_a_collector, test_cli_credentials_file,
               test_collector_on_a_terminal_says_how_to_reach_it])
