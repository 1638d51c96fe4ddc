"""Store faults: the data directory fills up, or another process holds the
store's write lock, while runners write. The collector stops acknowledging (so nothing acknowledged is
lost), says so once in its log and in /metrics, and recovers by itself when
the fault clears; every line ends up stored exactly once.

For disk full the data directory is a small tmpfs the test mounts; where
mounting is not allowed (not root, no CAP_SYS_ADMIN) that test is skipped
with the reason."""

import os
import shutil
import subprocess
import sys
import tempfile

from harness import PYTHON, Collector, check, check_eq, messages, run_tests, runner_env, wait_until

LINES = 30000
SCRIPT = "for i in range(%d): print('stored line %%05d ' %% i + 'y' * 60)" % LINES


def mount_tmpfs(size):
    where = tempfile.mkdtemp(prefix="logtap-tmpfs-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", where], capture_output=True)
    if r.returncode != 0:
        os.rmdir(where)
        return None, r.stderr.decode().strip() or "mount failed"
    return where, None


def umount(where):
    subprocess.run(["umount", where], capture_output=True)
    shutil.rmtree(where, ignore_errors=True)


def want():
    return ["stored line %05d " % i + "y" * 60 for i in range(LINES)]


def wait_fault_then_recover(c, clear):
    wait_until(lambda: c.metrics().get("logtap_store_faulted") == 1, 60, "the collector to see the fault")
    stored = len(c.logs("runners", "runner-fault") or [])
    check(stored < LINES, "a store fault keeps lines out (%d stored)" % stored)
    clear()
    got = wait_until(lambda: (lambda e: e if e and len(e) >= LINES else None)(c.logs("runners", "runner-fault")),
                     120, "every line after the fault cleared")
    check_eq(messages(got), want(), "every line, once, in order")
    check_eq(c.metrics().get("logtap_store_faulted"), 0, "fault gauge after recovery")
    log = c.log_text()
    check_eq(log.count("store fault:"), 1, "the fault is said once")
    check_eq(log.count("store recovered after"), 1, "the recovery is said once")
    print("  %d lines stored after %d failed commits" % (len(got), int(c.metrics()["logtap_store_errors_total"])))


def test_disk_full_then_space_freed():
    mnt, why = mount_tmpfs("16m")
    if not mnt:
        print("SKIP: cannot mount a tmpfs for the data directory: %s" % why)
        sys.exit(77)
    try:
        c = Collector(data=os.path.join(mnt, "data"))
        with c:
            free = os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize
            filler = os.path.join(mnt, "filler")
            with open(filler, "wb") as f:
                f.write(b"\0" * max(0, free - 512 * 1024))  # leave 512 KiB for the store
            env = runner_env(c, runner_id="runner-fault", LOGTAP_RING_SIZE="64M")
            check_eq(subprocess.run([PYTHON, "-c", SCRIPT], env=env, stdout=subprocess.DEVNULL,
                                    timeout=120).returncode, 0, "runner exit code")
            wait_fault_then_recover(c, lambda: os.unlink(filler))
    finally:
        umount(mnt)


def test_store_locked_by_another_process_then_released():
    import sqlite3
    import threading
    with Collector() as c:
        wait_until(lambda: c.metrics(), 10, "collector up")
        db = sqlite3.connect(os.path.join(c.data, "logtap.db"), timeout=30, isolation_level=None)
        db.execute("BEGIN EXCLUSIVE")  # no one else may write until we end it
        released = threading.Event()
        try:
            env = runner_env(c, runner_id="runner-fault", LOGTAP_RING_SIZE="64M")
            check_eq(subprocess.run([PYTHON, "-c", SCRIPT], env=env, stdout=subprocess.DEVNULL,
                                    timeout=120).returncode, 0, "runner exit code")

            def release():
                db.execute("ROLLBACK")
                released.set()
            wait_fault_then_recover(c, release)
        finally:
            if not released.is_set():
                db.execute("ROLLBACK")
            db.close()


if __name__ == "__main__":
    run_tests([test_disk_full_then_space_freed, test_store_locked_by_another_process_then_released])
