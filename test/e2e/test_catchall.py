"""`logtap run --catch-all`, end to end.

The capture matrix (test_paths.py) runs every output path once under
--catch-all. This file tests the mode itself, with a real collector, the
real CLI as supervisor, the forwarder under the real preload and real
programs out of the preload's reach (a static binary, a raw write system
call, glibc's double-free message, a process with capture disabled):

- every line is stored exactly once; what the preload sees is attributed as
  without catch-all, the rest is marked unattributed and is in no request;
- stdout and stderr are byte-identical to a run without logtap, in order,
  also when both go to one file;
- exit status, death by signal, signals sent to logtap, a command that
  cannot be run: as without catch-all;
- a burst written just before the command exits is drained to the end;
- a writer left behind keeps logtap waiting until it ends, or until logtap
  is told to stop;
- a process that cannot get the pass-through descriptors writes into the
  catch pipe (stored unattributed) and says why, once; one that starts
  while the forwarder is blocked on a full target still gets them;
- a catch-all run nested in another stores each line once, under the run
  that caught it;
- lines replayed from ring files (no collector during the run) keep the
  mark;
- the CLI's text form marks unattributed lines with '?', JSON with
  "unattributed": true.
"""

import os
import pty
import shlex
import signal
import subprocess
import time

from harness import (BUILD, CLI, PYTHON, Collector, check, check_eq, plain_env, run_tests, runner_env,
                     wait_until)

T = os.path.join(BUILD, "test")
STATIC = os.path.join(T, "static_write")
PATHS = os.path.join(T, "paths")
FATAL = os.path.join(T, "fatal_message")
PIPE = subprocess.PIPE


def catch_env(c, **extra):
    """logtap run finds liblogtap.so beside itself (sanitizer trees keep the
    LD_PRELOAD that puts their runtime first)."""
    env = runner_env(c, **extra)
    env.pop("LOGTAP_RUNNER_ID", None)
    if not os.environ.get("LOGTAP_TEST_PRELOAD"):
        env.pop("LD_PRELOAD", None)
    return env


def catch_cmd(runner, cmd):
    return [CLI, "run", "--catch-all", "-q", "--runner", runner, "--"] + list(cmd)


def catch_run(c, runner, cmd, timeout=120, **popen):
    popen.setdefault("stdout", PIPE)
    popen.setdefault("stderr", PIPE)
    return subprocess.run(catch_cmd(runner, cmd), env=catch_env(c), stdin=subprocess.DEVNULL,
                          timeout=timeout, **popen)


def plain_run(cmd, **popen):
    popen.setdefault("stdout", PIPE)
    popen.setdefault("stderr", PIPE)
    return subprocess.run(cmd, env=plain_env(), stdin=subprocess.DEVNULL, timeout=120, **popen)


def settled(c, runner, expected, timeout=20):
    """The runner's entries once every (stream, message) in `expected` is
    stored, and a moment more for copies that should not be there."""
    want = set(expected)
    def enough():
        entries = c.logs("runners", runner) or []
        return entries if want <= {(e["stream"], e["message"]) for e in entries} else None
    wait_until(enough, timeout, "lines of %s" % runner)
    time.sleep(0.5)
    return c.logs("runners", runner)


def key(e):
    return (e["stream"], e["message"])


def static_apps():
    """Sanitizer builds have neither (static linking; ASan reports the
    double free itself): their rows are left out there, and said so."""
    if os.path.exists(STATIC) and os.path.exists(FATAL):
        return True
    print("  (no static_write/fatal_message in a sanitizer build: those lines are left out here)")
    return False


# (shell command, [((stream, message), request_id, unattributed)])
MIXED = [
    ("echo 'shell one'", [(("stdout", "shell one"), None, False)]),
    (STATIC, [(("stdout", "static ok"), None, True)]),
    ("echo 'shell three'", [(("stdout", "shell three"), None, False)]),
    (PATHS + " raw-syscall req-ca-raw", [(("stdout", "raw-syscall ok"), None, True)]),
    (PATHS + " write req-ca-write", [(("stdout", "write ok"), "req-ca-write", False)]),
    ("echo 'shell to stderr' >&2", [(("stderr", "shell to stderr"), None, False)]),
    (FATAL, [(("stderr", "free(): double free detected in tcache 2"), None, True),
             (("stderr", "Aborted"), None, False)]),
    ("LOGTAP_DISABLE=1 sh -c 'echo disabled child'", [(("stdout", "disabled child"), None, True)]),
    (PYTHON + " -c \"import logtap\nwith logtap.request('req-ca-py'): print('python in request')\"",
     [(("stdout", "python in request"), "req-ca-py", False)]),
    ("echo 'shell last'", [(("stdout", "shell last"), None, False)]),
]


def test_every_line_once_attributed_or_marked():
    have_static = static_apps()
    steps = [(cmd, lines) for cmd, lines in MIXED if have_static or cmd not in (STATIC, FATAL)]
    script = "\n".join(cmd for cmd, _ in steps)
    MIXED_LINES = {k: (request, unattributed) for _, lines in steps for k, request, unattributed in lines}
    with Collector() as c:
        cmd = ["sh", "-c", script]
        plain = plain_run(cmd)
        r = catch_run(c, "ca-mixed", cmd)
        check_eq((r.returncode, r.stdout, r.stderr), (plain.returncode, plain.stdout, plain.stderr),
                 "exit status, stdout and stderr (in order) with and without logtap run --catch-all")
        check_eq(plain.stdout, "".join(m + "\n" for (stream, m), _ in MIXED_LINES.items() if stream == "stdout")
                 .encode(), "the script's stdout")
        entries = settled(c, "ca-mixed", MIXED_LINES)
        got = sorted(key(e) for e in entries)
        check_eq(got, sorted(MIXED_LINES), "every line stored exactly once, nothing else")
        for e in entries:
            request, unattributed = MIXED_LINES[key(e)]
            check_eq((e["request_id"], e.get("unattributed", False)), (request, unattributed),
                     "request and mark of %r" % e["message"])
            check(e.get("unattributed") in (None, True), "'unattributed' is absent or true: %r" % e)
        for request in ("req-ca-raw", "req-ca-write", "req-ca-py"):
            want = sorted(k for k, (rq, _) in MIXED_LINES.items() if rq == request)
            in_request = sorted(key(e) for e in c.logs("requests", request) or [])
            check_eq(in_request, want, "lines of %s" % request)

        # The CLI: '?' in the request column, the JSON mark.
        text = subprocess.run([CLI, "--server", c.url, "runners", "logs", "ca-mixed"], stdout=PIPE,
                              stderr=PIPE, env=plain_env(), timeout=30)
        check_eq(text.returncode, 0, "logtap runners logs exit status")
        columns = {}
        for line in text.stdout.decode().splitlines():
            _, stream, _level, request, message = line.split(" ", 4)
            columns[(stream, message)] = request
        for k, (request, unattributed) in MIXED_LINES.items():
            check_eq(columns.get(k), "?" if unattributed else (request or "-"), "text REQUEST column of %r" % (k,))


def test_both_streams_one_file_in_order():
    # The raw system calls stand in for any writer the preload misses; in
    # raw-then-write a hooked write follows each at once, in one process.
    script = ("echo a; %s raw-syscall; echo b >&2; %s raw-syscall; echo c; %s raw-syscall; echo d >&2;"
              " for i in 1 2 3 4 5 6 7 8 9 10; do %s raw-then-write; done"
              % (PATHS, PATHS, PATHS, PATHS))
    with Collector() as c:
        outputs = []
        for tag, run in (("plain", lambda f: plain_run(["sh", "-c", script], stdout=f, stderr=subprocess.STDOUT)),
                         ("catch", lambda f: catch_run(c, "ca-one-file", ["sh", "-c", script], stdout=f,
                                                       stderr=subprocess.STDOUT))):
            path = os.path.join(c.workdir, tag + ".out")
            with open(path, "wb") as f:
                check_eq(run(f).returncode, 0, "exit status (%s)" % tag)
            with open(path, "rb") as f:
                outputs.append(f.read())
        check_eq(outputs[1], outputs[0], "stdout and stderr on one file: same bytes in the same order")
        check_eq(outputs[0], b"a\nraw-syscall ok\nb\nraw-syscall ok\nc\nraw-syscall ok\nd\n" +
                 b"raw out 1\nhooked out 2\nraw err 3\nhooked out 4\n" * 10, "the script's output")
        entries = settled(c, "ca-one-file", [("stdout", "a"), ("stderr", "d"), ("stdout", "raw-syscall ok")] +
                          [("stdout", "hooked out 4")])
        check_eq(sorted((key(e), e.get("unattributed", False)) for e in entries),
                 sorted([(("stdout", "a"), False), (("stderr", "b"), False), (("stdout", "c"), False),
                         (("stderr", "d"), False)] + [(("stdout", "raw-syscall ok"), True)] * 3 +
                        [(("stdout", "raw out 1"), True), (("stdout", "hooked out 2"), False),
                         (("stderr", "raw err 3"), True), (("stdout", "hooked out 4"), False)] * 10),
                 "stored lines and marks")


def test_exit_status_and_signals():
    with Collector() as c:
        for cmd, want in ((["sh", "-c", "exit 7"], 7), (["sh", "-c", "kill -TERM $$"], -signal.SIGTERM),
                          ([PYTHON, "-c", "import os; os.abort()"], -signal.SIGABRT)):
            r = catch_run(c, "ca-exit", cmd)
            check_eq((r.returncode, r.stdout, r.stderr), (want, b"", b""), "logtap run --catch-all -- %s" % cmd)
        r = catch_run(c, "ca-exit", ["no-such-command-logtap-test"])
        check_eq((r.returncode, r.stdout, r.stderr.decode()),
                 (127, b"", "logtap: cannot run no-such-command-logtap-test: No such file or directory\n"),
                 "a command that cannot be found")

        # A signal sent to logtap reaches the command once; the command's
        # way of exiting is logtap's.
        script = ("import signal, sys, time\n"
                  "got = []\n"
                  "signal.signal(signal.SIGTERM, lambda s, f: got.append(s))\n"
                  "signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))\n"
                  "print('ready', flush=True)\n"
                  "while len(got) < 2: time.sleep(0.01)\n"
                  "time.sleep(0.5)\n"
                  "print('got', sorted(got), flush=True)\n"
                  "sys.exit(3)\n")
        p = subprocess.Popen(catch_cmd("ca-signals", [PYTHON, "-c", script]), env=catch_env(c), stdout=PIPE,
                             stderr=PIPE, stdin=subprocess.DEVNULL)
        check_eq(p.stdout.readline(), b"ready\n", "the command started")
        p.send_signal(signal.SIGTERM)
        p.send_signal(signal.SIGUSR1)
        out, err = p.communicate(timeout=60)
        check_eq((p.returncode, out, err), (3, b"got [10, 15]\n", b""),
                 "SIGTERM and SIGUSR1 sent to logtap: each reached the command once")
        entries = settled(c, "ca-signals", [("stdout", "got [10, 15]")])
        check_eq([key(e) for e in entries], [("stdout", "ready"), ("stdout", "got [10, 15]")], "stored lines")


def test_burst_at_exit_drained():
    # 20,000 lines from a process without capture (as from a static
    # program), more than the pipe holds, and the command exits at once.
    n = 20000
    script = "for i in range(%d): print('burst %%05d' %% i)" % n
    with Collector() as c:
        r = catch_run(c, "ca-burst", ["env", "LOGTAP_DISABLE=1", PYTHON, "-c", script])
        want = "".join("burst %05d\n" % i for i in range(n)).encode()
        check_eq((r.returncode, r.stdout == want, r.stderr), (0, True, b""), "the burst passed through whole")
        entries = wait_until(lambda: (lambda e: e if e and len(e) >= n else None)(c.logs("runners", "ca-burst")),
                             60, "%d burst lines stored" % n)
        time.sleep(0.5)
        entries = c.logs("runners", "ca-burst")
        check_eq([e["message"] for e in entries], ["burst %05d" % i for i in range(n)], "every line once, in order")
        check(all(e.get("unattributed") is True for e in entries), "all marked unattributed")


def test_writer_left_behind():
    with Collector() as c:
        # A background writer: logtap waits for it, and its line is caught.
        r = catch_run(c, "ca-late", ["sh", "-c", "(sleep 1; echo late) & echo main"])
        check_eq((r.returncode, r.stdout, r.stderr), (0, b"main\nlate\n", b""), "the late line passed through")
        settled(c, "ca-late", [("stdout", "main"), ("stdout", "late")])

        # A background process that never ends: SIGTERM to logtap after the
        # command has exited stops the wait; the command's status stands.
        p = subprocess.Popen(catch_cmd("ca-linger", ["sh", "-c", "sleep 300 & echo $!; exit 5"]), env=catch_env(c),
                             stdout=PIPE, stderr=PIPE, stdin=subprocess.DEVNULL)
        sleeper = int(p.stdout.readline())
        try:
            time.sleep(1)
            check(p.poll() is None, "logtap run still waits for the writer left behind")
            p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=30)
            check_eq((p.returncode, out, err), (5, b"", b""), "exit status after SIGTERM stopped the wait")
        finally:
            os.kill(sleeper, signal.SIGKILL)
            if p.poll() is None:
                p.kill()

        # The same stopped by Ctrl-C at a terminal: the kernel sends SIGINT to
        # the whole foreground process group (si_code SI_KERNEL), which
        # logtap does not forward to the command but must still act on.
        pid, master = pty.fork()
        if pid == 0:
            try:
                os.execve(CLI, catch_cmd("ca-linger-tty", ["sh", "-c", "sleep 300 & echo $!; exit 5"]),
                          catch_env(c))
            finally:
                os._exit(127)
        sleeper = None
        try:
            seen = b""
            while not seen.endswith(b"\n"):
                seen += os.read(master, 100)
            sleeper = int(seen)
            time.sleep(1)
            check_eq(os.waitpid(pid, os.WNOHANG), (0, 0), "logtap run at a terminal waits for the writer left behind")
            os.write(master, b"\x03")
            deadline, done = time.monotonic() + 30, 0
            while not done and time.monotonic() < deadline:
                time.sleep(0.05)
                done, status = os.waitpid(pid, os.WNOHANG)
            check_eq((done, os.waitstatus_to_exitcode(status) if done else None), (pid, 5),
                     "Ctrl-C at the terminal stopped the wait; the command's status stands")
            pid = None
        finally:
            if sleeper:
                os.kill(sleeper, signal.SIGKILL)
            if pid:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            os.close(master)


def test_no_handover_falls_back_to_the_pipe():
    with Collector() as c:
        script = ("echo before; env LOGTAP_CATCHALL=@logtap-no-such-socket sh -c 'echo lonely; echo lonely2 >&2';"
                  " echo after")
        r = catch_run(c, "ca-lonely", ["sh", "-c", script])
        check_eq((r.returncode, r.stdout, r.stderr), (0, b"before\nlonely\nafter\n", b"lonely2\n"), "output")
        notice = ("stderr", "[logtap: catch-all: this process could not get the pass-through descriptors of "
                            "logtap run (logtap run is not there); its output is stored unattributed]")
        entries = settled(c, "ca-lonely", [("stdout", "after"), ("stdout", "lonely"), notice])
        check_eq(sorted((key(e), e["request_id"], e.get("unattributed", False)) for e in entries),
                 sorted([(("stdout", "before"), None, False), (("stdout", "after"), None, False),
                         (("stdout", "lonely"), None, True), (("stderr", "lonely2"), None, True),
                         (notice, None, False)]),
                 "the lonely process's lines once, unattributed, and its notice once")


def test_handover_while_the_target_is_full():
    # Nobody reads logtap's stdout for a while: the forwarder blocks writing
    # 2 MB of uncaptured output to it. A process that starts meanwhile still
    # gets its pass-through descriptors at once (its line is attributed,
    # no notice), and everything arrives once the reader reads.
    script = ("(LOGTAP_DISABLE=1 %s -c \"import sys; sys.stdout.write(('x' * 99 + '\\\\n') * 20000)\") &"
              " sleep 1; sh -c 'echo late-err >&2'; wait" % PYTHON)
    with Collector() as c:
        p = subprocess.Popen(catch_cmd("ca-full", ["sh", "-c", script]), env=catch_env(c), stdout=PIPE,
                             stderr=PIPE, stdin=subprocess.DEVNULL)
        try:
            late = wait_until(lambda: [e for e in c.logs("runners", "ca-full") or [] if e["message"] == "late-err"],
                              20, "late-err stored while stdout is not read")
            check_eq([(key(e), e.get("unattributed", False)) for e in late], [(("stderr", "late-err"), False)],
                     "the line of the process that started while the forwarder was blocked")
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
        check_eq((p.returncode, out == ("x" * 99 + "\n").encode() * 20000, err), (0, True, b"late-err\n"),
                 "exit status and output")
        entries = wait_until(lambda: (lambda e: e if e and len(e) >= 20001 else None)(c.logs("runners", "ca-full")),
                             60, "every line stored")
        time.sleep(0.5)
        entries = c.logs("runners", "ca-full")
        check_eq(sorted(set((e["stream"], e["message"], e.get("unattributed", False)) for e in entries)),
                 [("stderr", "late-err", False), ("stdout", "x" * 99, True)], "stored: no notice")
        check_eq(len(entries), 20001, "each line once")


def test_nested_run():
    # logtap run --catch-all inside another: the inner run hands out the
    # outer run's targets, so each line is stored once, under the run that
    # caught it, and the terminal order holds.
    inner = " ".join(shlex.quote(a) for a in catch_cmd(
        "ca-inner", ["sh", "-c", "echo inner-echo; %s raw-syscall; echo inner-err >&2" % PATHS]))
    script = "echo outer-echo; %s; %s raw-syscall; echo outer-err >&2" % (inner, PATHS)
    with Collector() as c:
        path = os.path.join(c.workdir, "nested.out")
        with open(path, "wb") as f:
            r = catch_run(c, "ca-outer", ["sh", "-c", script], stdout=f, stderr=subprocess.STDOUT)
        with open(path, "rb") as f:
            check_eq((r.returncode, f.read()),
                     (0, b"outer-echo\ninner-echo\nraw-syscall ok\ninner-err\nraw-syscall ok\nouter-err\n"),
                     "exit status and output, in order")
        for runner, want in (("ca-outer", [(("stdout", "outer-echo"), False), (("stdout", "raw-syscall ok"), True),
                                           (("stderr", "outer-err"), False)]),
                             ("ca-inner", [(("stdout", "inner-echo"), False), (("stdout", "raw-syscall ok"), True),
                                           (("stderr", "inner-err"), False)])):
            entries = settled(c, runner, [k for k, _ in want])
            check_eq(sorted((key(e), e.get("unattributed", False)) for e in entries), sorted(want),
                     "lines of %s, each once" % runner)


def test_replayed_tail_keeps_the_mark():
    # No collector while the run happens: both the command's and the
    # forwarder's records wait in their ring files, and the collector
    # replays them when it starts; the mark travels in the ring header.
    c = Collector()
    try:
        r = catch_run(c, "ca-replay", ["sh", "-c", "echo hooked; %s raw-syscall" % PATHS])
        check_eq((r.returncode, r.stdout), (0, b"hooked\nraw-syscall ok\n"), "output with no collector")
        c.start()
        entries = settled(c, "ca-replay", [("stdout", "hooked"), ("stdout", "raw-syscall ok")])
        check_eq(sorted((key(e), e.get("unattributed", False)) for e in entries),
                 [(("stdout", "hooked"), False), (("stdout", "raw-syscall ok"), True)], "replayed lines and marks")
    finally:
        c.stop()


if __name__ == "__main__":
    run_tests([test_every_line_once_attributed_or_marked, test_both_streams_one_file_in_order,
               test_exit_status_and_signals, test_burst_at_exit_drained, test_writer_left_behind,
               test_no_handover_falls_back_to_the_pipe, test_handover_while_the_target_is_full, test_nested_run,
               test_replayed_tail_keeps_the_mark])
