"""Capture paths end to end: C stdio and raw writes from a native program,
fd aliasing, children attributed to the request that spawned them, the
notice of uncaptured stdio, and LOGTAP_DISABLE. Delivery under faults is
test_faults.py."""

import os
import subprocess
import time

from harness import (BUILD, NATIVE_PRELOAD, PRELOAD, PYTHON, Collector, check, check_eq, messages, plain_env,
                     run_tests, runner_env, wait_until)

NATIVE = os.path.join(BUILD, "test", "native_app")
SHELL_SPAWNS = os.path.join(BUILD, "test", "shell_spawns")
# A TSan-built program takes the TSan preload, which the uninstrumented
# /bin/sh it spawns cannot load: those tests run in the other trees.
SPAWNS_SH = NATIVE_PRELOAD == PRELOAD


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
                  "grandchild", "from os.system", "from posix_spawn", "forked child"]
        got = entries_when(c, "runner-kids", len(inside) + 1)
        by_message = {e["message"]: e["request_id"] for e in got}
        for m in inside:
            check_eq(by_message.get(m, "missing"), "req-kids", "request of %r" % m)
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


def test_system_and_popen_keep_glibc_semantics():
    """The preload rebuilds system(), popen() and pclose() (to pass the
    request on): return values, errno, signal handling in the caller and the
    child, the fds the child gets must be glibc's."""
    if not SPAWNS_SH:
        print("  skipped here: spawns uninstrumented /bin/sh under a TSan preload")
        return
    with Collector() as c:
        plain = subprocess.run([SHELL_SPAWNS, "semantics"], env=plain_env(), capture_output=True, timeout=60)
        tapped = subprocess.run([SHELL_SPAWNS, "semantics"], capture_output=True, timeout=60,
                                env=runner_env(c, runner_id="runner-semantics", LD_PRELOAD=NATIVE_PRELOAD))
        check_eq(plain.returncode, 0, "exit status without the preload: %r" % plain.stderr)
        check(b"system(kill -INT $$): signal 2" in plain.stdout, "the transcript: %r" % plain.stdout)
        check_eq(tapped.stdout.decode().splitlines(), plain.stdout.decode().splitlines(),
                 "what the caller sees, with and without the preload")
        check_eq((tapped.returncode, tapped.stderr), (plain.returncode, plain.stderr), "exit status and stderr")
        got = entries_when(c, "runner-semantics", len(plain.stdout.splitlines()))
        check("from the child" not in messages(got), "what popen() reads is not runner output")


def test_small_stacks_and_cancellation():
    """A thread with a 16 KiB stack writes the process's first output and
    calls system() and popen() (the preload once needed about 24 KiB there,
    and started its sender on that stack); a thread cancelled inside
    popen() leaves nothing locked. Same transcript, same exit, with and
    without the preload."""
    if not SPAWNS_SH:
        print("  skipped here: spawns uninstrumented /bin/sh under a TSan preload")
        return
    with Collector() as c:
        plain = subprocess.run([SHELL_SPAWNS, "small-stack"], env=plain_env(), capture_output=True, timeout=60)
        tapped = subprocess.run([SHELL_SPAWNS, "small-stack"], capture_output=True, timeout=60,
                                env=runner_env(c, runner_id="runner-small-stack", LD_PRELOAD=NATIVE_PRELOAD))
        check_eq(plain.returncode, 0, "exit status without the preload: %r" % plain.stderr)
        check_eq((tapped.returncode, tapped.stdout.decode().splitlines()),
                 (plain.returncode, plain.stdout.decode().splitlines()), "exit status and transcript")
        entries_when(c, "runner-small-stack", len(plain.stdout.splitlines()))


def test_concurrent_system_calls_keep_their_requests():
    """Threads in different requests call system() at once: each command's
    output is in its own thread's request (the request reaches the shell in
    its own environment, not through the process's environ)."""
    if not SPAWNS_SH:
        print("  skipped here: spawns uninstrumented /bin/sh under a TSan preload")
        return
    threads, lines = 4, 5
    with Collector() as c:
        proc = subprocess.run([SHELL_SPAWNS, "threads", str(threads)], capture_output=True, timeout=60,
                              env=runner_env(c, runner_id="runner-systems", LD_PRELOAD=NATIVE_PRELOAD))
        check_eq(proc.returncode, 0, "exit status: %r" % proc.stderr)
        entries_when(c, "runner-systems", threads * lines)
        for i in range(threads):
            check_eq(sorted(messages(c.logs("requests", "req-thread-%d" % i) or [])),
                     ["thread %d line %d" % (i, j) for j in range(lines)], "request of thread %d" % i)


def test_discarded_output_stays_discarded():
    """The runner's stdout and stderr are /dev/null. What the runner and its
    children write to their inherited descriptors (and dups of them) is
    stored; what they send to /dev/null through an open of their own
    (`>/dev/null`, subprocess.DEVNULL, open("/dev/null")) is not."""
    script = r"""
import logtap, os, subprocess, sys
print("kept runner", flush=True)
os.write(2, b"kept runner err\n")
subprocess.run("echo gone outside >/dev/null; echo kept outside", shell=True)
with logtap.request("req-discard"):
    subprocess.run("echo gone inside >/dev/null; echo gone inside err 2>/dev/null >&2;"
                   " echo kept inside; echo kept inside err >&2", shell=True)
    os.system("/bin/echo gone system >/dev/null; echo kept system")
    subprocess.run(["bash", "-c", "echo gone bash >/dev/null; echo kept bash"])
subprocess.run(["/bin/echo", "gone devnull"], stdout=subprocess.DEVNULL)
with open("/dev/null", "w") as f:
    print("gone self", file=f, flush=True)
print("kept last", flush=True)
"""
    shell = "echo kept shell; echo gone shell >/dev/null; /bin/echo gone shell child >/dev/null; " \
            "/bin/echo kept shell child >&2"
    with Collector() as c:
        for runner, cmd in (("runner-discard", [PYTHON, "-c", script]), ("runner-discard-sh", ["bash", "-c", shell])):
            proc = subprocess.run(cmd, env=runner_env(c, runner_id=runner), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, timeout=60)
            check_eq(proc.returncode, 0, "%s exit status" % runner)
        kept = {"kept runner": None, "kept runner err": None, "kept outside": None, "kept inside": "req-discard",
                "kept inside err": "req-discard", "kept system": "req-discard", "kept bash": "req-discard",
                "kept last": None}
        got = entries_when(c, "runner-discard", len(kept))
        shell_got = entries_when(c, "runner-discard-sh", 2)
        time.sleep(0.5)  # a discarded line would come from another process: give it the time to arrive
        got = c.logs("runners", "runner-discard")
        check_eq(sorted((e["message"], e["request_id"]) for e in got), sorted(kept.items(), key=lambda kv: kv[0]),
                 "what the python runner stored, with requests")
        check_eq(sorted(messages(c.logs("runners", "runner-discard-sh"))), ["kept shell", "kept shell child"],
                 "what the shell runner stored (%d lines when first seen)" % len(shell_got))


def test_discarded_output_limit_the_mark_taken_away():
    """The documented limit: the runner's /dev/null is told from other opens
    of the device by a mark on its open file description (F_SETSIG, see
    preload/fdmap.c). An app that sets its own F_SETSIG there takes it away:
    from then on the children's output to that description is not stored."""
    script = ("import fcntl, subprocess\nprint('kept before', flush=True)\n"
              "fcntl.fcntl(1, 10, 0)  # F_SETSIG\nsubprocess.run(['/bin/echo', 'lost after'])\n")
    with Collector() as c:
        proc = subprocess.run([PYTHON, "-c", script], env=runner_env(c, runner_id="runner-unmarked"),
                              stdout=subprocess.DEVNULL, timeout=60)
        check_eq(proc.returncode, 0, "exit status")
        entries_when(c, "runner-unmarked", 1)
        time.sleep(0.5)
        check_eq(messages(c.logs("runners", "runner-unmarked")), ["kept before"], "stored")


if __name__ == "__main__":
    run_tests([
        test_native_stdio_and_write_paths,
        test_fd_aliases_follow_the_target,
        test_children_belong_to_the_request_that_spawned_them,
        test_stdio_not_hooked_is_said_in_the_runner_logs,
        test_disabled_capture_passes_everything_through,
        test_system_and_popen_keep_glibc_semantics,
        test_small_stacks_and_cancellation,
        test_concurrent_system_calls_keep_their_requests,
        test_discarded_output_stays_discarded,
        test_discarded_output_limit_the_mark_taken_away,
    ])
