"""Capture paths and delivery end to end: C stdio and raw writes from a
native program, fd aliasing, the ring tail of a runner killed with SIGKILL,
and rings left while no collector was running."""

import os
import signal
import subprocess
import time

from harness import (BUILD, NATIVE_PRELOAD, PYTHON, Collector, check, check_eq, messages, run_tests, runner_env,
                     wait_until)

NATIVE = os.path.join(BUILD, "test", "native_app")


def entries_when(c, runner, count, timeout=30):
    return wait_until(lambda: (lambda e: e if e and len(e) >= count else None)(c.logs("runners", runner)),
                      timeout, "%d lines of %s" % (count, runner))


def test_native_stdio_and_write_paths():
    with Collector() as c:
        out = subprocess.run([NATIVE, "paths"],
                             env=runner_env(c, runner_id="runner-native", LD_PRELOAD=NATIVE_PRELOAD),
                             capture_output=True, timeout=60)
        check_eq(out.returncode, 0, "native app exit code")
        plain = subprocess.run([NATIVE, "paths"], capture_output=True, timeout=60,
                               env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})
        check_eq((out.stdout, out.stderr), (plain.stdout, plain.stderr), "output with and without the preload")
        want = {
            "printf 1": "stdout", "puts line": "stdout", "fwrite line": "stdout",
            "fprintf stderr": "stderr", "fputs_unlocked line": "stdout", "dprintf line": "stdout",
            "write line": "stdout", "writev line": "stderr", "dup of stderr": "stderr",
            "inside request via printf": "stdout", "inside request via stderr": "stderr",
            "unflushed at exit": "stdout",
        }
        got = entries_when(c, "runner-native", len(want))
        check_eq(sorted(messages(got)), sorted(want), "lines of the native app")
        for e in got:
            check_eq(e["stream"], want[e["message"]], "stream of %r" % e["message"])
        req = c.logs("requests", "req-native")
        check_eq(messages(req), ["inside request via printf", "inside request via stderr"],
                 "request scope of the native app")


def test_fd_aliases_follow_the_target():
    with Collector() as c:
        script = ("import os\n"
                  "os.write(1, b'to stdout\\n')\n"
                  "saved = os.dup(1)\n"
                  "os.dup2(2, 1)\n"
                  "os.write(1, b'fd 1 now stderr\\n')\n"
                  "r, w = os.pipe()\n"
                  "os.dup2(w, 1)\n"
                  "os.write(1, b'into a private pipe\\n')\n"
                  "os.dup2(saved, 1)\n"
                  "print(os.read(r, 100).decode().strip(), flush=True)\n")
        proc = subprocess.run([PYTHON, "-c", script], env=runner_env(c, runner_id="runner-alias"),
                              capture_output=True, timeout=60)
        check_eq(proc.returncode, 0, "alias script exit code")
        got = entries_when(c, "runner-alias", 3)
        time.sleep(0.3)
        got = c.logs("runners", "runner-alias")
        check_eq([(e["message"], e["stream"]) for e in got],
                 [("to stdout", "stdout"), ("fd 1 now stderr", "stderr"), ("into a private pipe", "stdout")],
                 "what reached stdout/stderr, once each (the pipe write itself is not runner output)")


def test_sigkilled_runner_tail_is_replayed():
    with Collector() as c:
        env = runner_env(c, runner_id="runner-killed", LOGTAP_RING_SIZE="64M", LD_PRELOAD=NATIVE_PRELOAD)
        # Stop the sender from delivering (the collector is paused), so the
        # lines can only arrive through the ring file after the kill.
        c.proc.send_signal(signal.SIGSTOP)
        try:
            ready_r, ready_w = os.pipe()
            proc = subprocess.Popen([NATIVE, "burst-then-wait", "20000", str(ready_w)], env=env,
                                    pass_fds=(ready_w,), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            os.close(ready_w)
            check_eq(os.read(ready_r, 100), b"ready\n", "native app ready")
            os.close(ready_r)
            proc.kill()
            proc.wait(30)
        finally:
            c.proc.send_signal(signal.SIGCONT)
        try:
            got = entries_when(c, "runner-killed", 20001, timeout=60)
        except Exception:
            got = c.logs("runners", "runner-killed") or []
            print("  stored %d lines; rings left %s; metrics %s" % (
                len(got), os.listdir(c.ring_dir()),
                {k: v for k, v in c.metrics().items() if "ring" in k or "replay" in k or "stored" in k}))
            raise
        check_eq(messages(got), ["burst %d" % i for i in range(20000)] + ["last line"],
                 "every line of the killed runner, once, in order")
        m = c.metrics()
        check(m["logtap_rings_adopted_total"] >= 1, "the ring was adopted")
        ring_dir = c.ring_dir()
        wait_until(lambda: not [f for f in os.listdir(ring_dir) if f.endswith(".ring")], 10,
                   "ring file removed after replay")


def test_rings_left_while_collector_down_are_replayed_at_start():
    c = Collector()
    try:
        env = runner_env(c, runner_id="runner-orphan")
        out = subprocess.run([PYTHON, "-c", "for i in range(300): print('orphan', i)"], env=env,
                             capture_output=True, timeout=60)
        check_eq(out.returncode, 0, "runner exit code without collector")
        rings = [f for f in os.listdir(c.ring_dir()) if f.endswith(".ring")]
        check_eq(len(rings), 1, "ring files left behind")
        c.start()
        got = entries_when(c, "runner-orphan", 300)
        check_eq(messages(got), ["orphan %d" % i for i in range(300)], "lines replayed at start")
    finally:
        c.__exit__(None, None, None)


def test_collector_killed_and_restarted_mid_stream():
    with Collector() as c:
        env = runner_env(c, runner_id="runner-restart")
        script = ("import sys, time\n"
                  "for i in range(3000):\n"
                  "    print('line %d' % i)\n"
                  "    sys.stdout.flush()\n"
                  "    if i % 100 == 0: time.sleep(0.05)\n"
                  "time.sleep(7)\n"  # outlive one resend period
                  "print('end')\n")
        proc = subprocess.Popen([PYTHON, "-c", script], env=env, stdout=subprocess.DEVNULL)
        wait_until(lambda: c.logs("runners", "runner-restart"), 30, "first lines")
        c.proc.kill()  # SIGKILL: no drain, no final commit
        c.proc.wait()
        time.sleep(0.5)
        c.start()
        check_eq(proc.wait(60), 0, "runner exit code")
        want = ["line %d" % i for i in range(3000)] + ["end"]
        got = entries_when(c, "runner-restart", len(want), timeout=60)
        msgs = messages(got)
        missing = [m for m in want if m not in set(msgs)]
        check_eq(missing, [], "lines lost across a collector SIGKILL and restart")
        check_eq([m for m in msgs if m == "end"], ["end"], "the last line, once")
        dups = len(msgs) - len(set(msgs))
        print("  %d lines stored for %d written (%d stored twice: sent before the kill, not yet"
              " acknowledged)" % (len(msgs), len(want), dups))


def test_children_belong_to_the_request_that_spawned_them():
    with Collector() as c:
        env = runner_env(c, runner_id="runner-kids")
        script = r"""
import os, subprocess, sys, logtap
with logtap.request("req-kids"):
    subprocess.run(["/bin/echo", "child with the environment"], check=True)
    subprocess.run(["/bin/echo", "child with env= that drops LD_PRELOAD"], env={"PATH": "/usr/bin:/bin"}, check=True)
    subprocess.run("echo shell child; echo grandchild | cat", shell=True, check=True)
    os.system("echo from os.system")
    pid = os.posix_spawn("/bin/echo", ["echo", "from posix_spawn"], {"X": "1"})
    os.waitpid(pid, 0)
    if os.fork() == 0:
        print("forked child", flush=True)
        os._exit(0)
    os.wait()
subprocess.run(["/bin/echo", "child outside the request"], check=True)
"""
        proc = subprocess.run([PYTHON, "-c", script], env=env, capture_output=True, timeout=60)
        check_eq(proc.returncode, 0, "runner exit code: %r" % proc.stderr)
        inside = ["child with the environment", "child with env= that drops LD_PRELOAD", "shell child",
                  "grandchild", "from posix_spawn", "forked child"]
        # os.system goes through glibc's internal spawn: the child inherits
        # the runner's environment (so it is captured) but not the request.
        got = entries_when(c, "runner-kids", len(inside) + 2)
        by_message = {e["message"]: e["request_id"] for e in got}
        for m in inside:
            check_eq(by_message.get(m, "missing"), "req-kids", "request of %r" % m)
        check_eq(by_message.get("from os.system", "missing"), None, "os.system's child: runner scope")
        check_eq(by_message.get("child outside the request", "missing"), None, "child outside requests")
        check_eq(sorted(messages(c.logs("requests", "req-kids"))), sorted(inside), "request scope")


def test_stdio_not_hooked_is_said_in_the_runner_logs():
    with Collector() as c:
        env = runner_env(c, runner_id="runner-nostdio", LD_PRELOAD=NATIVE_PRELOAD, LOGTAP_STDIO_HOOK="0")
        out = subprocess.run([os.path.join(BUILD, "test", "paths"), "printf"], env=env,
                             capture_output=True, timeout=60)
        check_eq((out.returncode, out.stdout), (0, b"printf ok\n"), "output passes through")
        out = subprocess.run([os.path.join(BUILD, "test", "paths"), "write"], env=env,
                             capture_output=True, timeout=60)  # write(2) is still captured
        got = entries_when(c, "runner-nostdio", 3)  # the first notice comes by its ring file
        check_eq(sorted((e["message"], e["level"], e["request_id"] or "") for e in got),
                 [("[logtap: warning: C stdio output of this process is not captured (LOGTAP_STDIO_HOOK=0)]",
                   "WARN", "")] * 2 + [("write ok", "STDOUT", "")],
                 "a notice per process, no printf line, the write line")


def test_disabled_capture_passes_everything_through():
    with Collector() as c:
        env = runner_env(c, runner_id="runner-disabled", LOGTAP_DISABLE="1")
        out = subprocess.run(["sh", "-c", "echo shell; /bin/echo exec; printf 'x\\n' >&2"], env=env,
                             capture_output=True, timeout=60)
        check_eq((out.returncode, out.stdout, out.stderr), (0, b"shell\nexec\n", b"x\n"),
                 "output and exit status with LOGTAP_DISABLE=1")
        time.sleep(1.5)
        check_eq(c.logs("runners", "runner-disabled"), None, "nothing stored")


def test_runner_sigterm_mid_stream_loses_nothing():
    with Collector() as c:
        env = runner_env(c, runner_id="runner-term", LOGTAP_RING_SIZE="64M")
        # Default SIGTERM disposition: the process dies at once, no destructor
        # runs; what the sender had not delivered is in the ring file.
        script = ("import os, sys, time\n"
                  "for i in range(20000): print('term line %05d' % i)\n"
                  "sys.stdout.flush()\n"
                  "os.write(int(sys.argv[1]), b'ready\\n')\n"
                  "time.sleep(60)\n")
        ready_r, ready_w = os.pipe()
        proc = subprocess.Popen([PYTHON, "-c", script, str(ready_w)], env=env, pass_fds=(ready_w,),
                                stdout=subprocess.DEVNULL)
        os.close(ready_w)
        check_eq(os.read(ready_r, 100), b"ready\n", "runner ready")
        os.close(ready_r)
        proc.terminate()
        check_eq(proc.wait(30), -signal.SIGTERM, "runner ended by SIGTERM")
        got = entries_when(c, "runner-term", 20000)
        check_eq(messages(got), ["term line %05d" % i for i in range(20000)], "every line once, in order")


FULL_SCRIPT = ("import os\n"
               "for i in range(2000):\n"
               "    os.write(1, (('line %04d ' % i) + 'x' * 190 + '\\n').encode())\n")
FULL_LINE_BYTES = 10 + 190 + 1


def test_ring_full_drop_policy_counts_exactly():
    with Collector() as c:
        env = runner_env(c, runner_id="runner-full-drop", LOGTAP_RING_SIZE="256K")
        c.proc.send_signal(signal.SIGSTOP)  # nothing leaves the ring meanwhile
        try:
            start = time.monotonic()
            out = subprocess.run([PYTHON, "-c", FULL_SCRIPT], env=env, stdout=subprocess.DEVNULL,
                                 timeout=60)
            elapsed = time.monotonic() - start
        finally:
            c.proc.send_signal(signal.SIGCONT)
        check_eq(out.returncode, 0, "runner exit code")
        check(elapsed < 5, "drop policy never blocks the app (took %.1fs)" % elapsed)
        marker = wait_until(lambda: [e for e in (c.logs("runners", "runner-full-drop") or [])
                                     if e["message"].startswith("[logtap: ")], 30, "drop marker")
        got = c.logs("runners", "runner-full-drop")
        lines = [e["message"] for e in got if not e["message"].startswith("[logtap: ")]
        check(0 < len(lines) < 2000, "some lines kept, some dropped: %d kept" % len(lines))
        check_eq(lines, [("line %04d " % i) + "x" * 190 for i in range(len(lines))],
                 "the kept lines are the first ones, whole and in order")
        dropped = int(marker[0]["message"].split()[1])
        check_eq(marker[0]["message"], "[logtap: %d bytes dropped]" % dropped, "marker text")
        check_eq(dropped, (2000 - len(lines)) * FULL_LINE_BYTES, "bytes reported dropped")
        check_eq(int(c.metrics()["logtap_bytes_gap_reported_total"]), dropped, "drop counter")
        print("  ring of 256 KiB: %d lines kept, %d bytes dropped and reported" % (len(lines), dropped))


def test_ring_full_block_policy_loses_nothing():
    with Collector() as c:
        env = runner_env(c, runner_id="runner-full-block", LOGTAP_RING_SIZE="256K",
                         LOGTAP_ON_FULL="block", LOGTAP_BLOCK_TIMEOUT_MS="30000")
        c.proc.send_signal(signal.SIGSTOP)
        try:
            start = time.monotonic()
            proc = subprocess.Popen([PYTHON, "-c", FULL_SCRIPT], env=env, stdout=subprocess.DEVNULL)
            time.sleep(1.5)
            check(proc.poll() is None, "with block the writer waits for room")
        finally:
            c.proc.send_signal(signal.SIGCONT)
        check_eq(proc.wait(60), 0, "runner exit code")
        check(time.monotonic() - start >= 1.5, "blocked while the collector was stopped")
        got = entries_when(c, "runner-full-block", 2000)
        check_eq(messages(got), [("line %04d " % i) + "x" * 190 for i in range(2000)],
                 "every line, in order, none dropped")
        check_eq(int(c.metrics()["logtap_bytes_gap_reported_total"]), 0, "nothing dropped")


if __name__ == "__main__":
    run_tests([
        test_native_stdio_and_write_paths,
        test_fd_aliases_follow_the_target,
        test_sigkilled_runner_tail_is_replayed,
        test_rings_left_while_collector_down_are_replayed_at_start,
        test_collector_killed_and_restarted_mid_stream,
        test_ring_full_drop_policy_counts_exactly,
        test_ring_full_block_policy_loses_nothing,
        test_children_belong_to_the_request_that_spawned_them,
        test_stdio_not_hooked_is_said_in_the_runner_logs,
        test_disabled_capture_passes_everything_through,
        test_runner_sigterm_mid_stream_loses_nothing,
    ])
