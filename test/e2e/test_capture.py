"""Capture paths end to end: C stdio and raw writes from a native program,
fd aliasing, children attributed to the request that spawned them, the
notice of uncaptured stdio, and LOGTAP_DISABLE. Delivery under faults is
test_faults.py."""

import os
import subprocess
import time

from harness import (BUILD, NATIVE_PRELOAD, PYTHON, Collector, check_eq, messages, run_tests, runner_env,
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


if __name__ == "__main__":
    run_tests([
        test_native_stdio_and_write_paths,
        test_fd_aliases_follow_the_target,
        test_children_belong_to_the_request_that_spawned_them,
        test_stdio_not_hooked_is_said_in_the_runner_logs,
        test_disabled_capture_passes_everything_through,
    ])
