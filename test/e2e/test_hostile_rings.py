"""Hostile ring files: the collector outlives whatever a tenant does to them.

The ring directory (/dev/shm by default) is writable by the runners, so a
ring file the collector's reaper adopts is attacker-controlled input, not
just in its contents but in its size: the attacker can keep the file open
and truncate or resize it at any moment, also while the reaper replays it.
A reader that touched the file through a mapping would die of SIGBUS there.

Each attack plants a well-formed dead runner's ring (ring_tool forge: the
ring's own code fills it with lines), keeps a descriptor to it, waits until
the collector holds the ring's flock (/proc/locks: the reaper has adopted it
and is replaying it), and then cuts or resizes the file under it. Meanwhile
an innocent runner under the preload writes lines. Afterwards the collector
must still run and answer HTTP, and every innocent line must be stored once.
Each test prints how many attacks landed while the collector held the lock
and how the collector ended.
"""

import json
import os
import subprocess
import time

from harness import BUILD, Collector, LineRunner, check, check_eq, messages, run_tests, wait_until

RING_TOOL = os.path.join(BUILD, "test", "ring_tool")
ATTACKS = 4
# Big enough that the reaper takes a while over it (a few hundred thousand
# records): the cut lands in the middle of the replay.
FORGED_CAPACITY = 64 << 20
FORGED_LINES = 1 << 20

def held_by(pid, st):
    """Whether process `pid` holds a flock on the file of stat `st`."""
    inode = "%02x:%02x:%d" % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    with open("/proc/locks") as f:
        for line in f:
            fields = line.split()
            # "1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF"
            if len(fields) >= 6 and fields[1] == "FLOCK" and fields[4] == str(pid) and fields[5] == inode:
                return True
    return False


def plant(c, runner):
    """Forge a dead runner's ring in the collector's ring directory; returns
    (descriptor kept open, its stat, forged figures) with the ring's lock
    already given up, so the reaper may adopt it from now on."""
    tool = subprocess.Popen([RING_TOOL, "forge", c.ring_dir(), c.endpoint, runner, str(FORGED_CAPACITY),
                             str(FORGED_LINES)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    forged = json.loads(tool.stdout.readline())
    fd = os.open(forged["path"], os.O_RDWR)
    st = os.fstat(fd)
    tool.stdin.close()  # the forger "dies": its lock goes
    check_eq(tool.wait(30), 0, "ring_tool forge exit status")
    return fd, st, forged


def attack(c, runner, resize):
    """Plant a ring, wait until the reaper holds it, then `resize(fd, size)`
    it. Returns True if the attack landed while the collector held the lock."""
    fd, st, forged = plant(c, runner)
    try:
        deadline = time.monotonic() + 20
        while not held_by(c.proc.pid, st):
            if c.proc.poll() is not None or not os.path.exists(forged["path"]):
                return False  # replayed and removed before we saw the lock
            check(time.monotonic() < deadline, "the reaper adopted the planted ring within 20s")
            time.sleep(0.0005)
        resize(fd, st.st_size)
        return True
    finally:
        # The collector dies (old code) or passes what is left and removes
        # the file; then the descriptor is ours alone.
        try:
            wait_until(lambda: c.proc.poll() is not None or not os.path.exists(forged["path"]), 60,
                       "the planted ring replayed and removed")
        finally:
            os.close(fd)


def hostile_run(name, resize):
    with Collector() as c:
        innocent = LineRunner(c, "innocent", runner_id="innocent")
        try:
            hostile_steps(c, name, resize, innocent)
        finally:
            if innocent.proc.poll() is None:
                innocent.proc.kill()
                innocent.proc.wait(30)


def hostile_steps(c, name, resize, innocent):
    innocent.write(500)
    landed = 0
    for k in range(ATTACKS):
        if attack(c, "%s-%d" % (name, k), resize):
            landed += 1
        status = c.proc.poll()
        if status is not None:
            break
        innocent.write(200)
    status = c.proc.poll()
    print("  %s: %d attacks, %d landed while the reaper held the ring; collector %s" % (
        name, k + 1, landed, "alive" if status is None else "exited with status %d (%s)" % (
            status, "SIGBUS" if status in (-7, 135) else "?")), flush=True)
    check(status is None, "the collector survives rings resized under it (exit status %s)" % status)
    check(landed > 0, "at least one attack landed while the reaper held the ring")
    check_eq(c.get("/metrics")[0], 200, "the HTTP API answers")
    # The collector keeps working: the innocent runner's later lines too.
    innocent.write(300)
    innocent.finish()
    want = ["innocent %d" % n for n in range(innocent.written)]
    wait_until(lambda: not any(f.endswith(".ring") for f in os.listdir(c.ring_dir())), 60,
               "every ring replayed and removed")
    wait_until(lambda: set(want) <= set(messages(c.logs("runners", "innocent") or [])), 60,
               "the innocent runner's lines stored")
    check_eq(messages(c.logs("runners", "innocent")), want, "the innocent runner's lines, once each, in order")
    # What the reaper could still read of the planted rings is stored,
    # the rest shows as dropped bytes.
    dropped = 0
    for j in range(k + 1):
        got = messages(c.logs("runners", "%s-%d" % (name, j)) or [])
        dropped += sum(int(m.split()[1]) for m in got if m.startswith("[logtap: ") and m.endswith(" bytes dropped]"))
    print("  %s: bytes reported dropped from the planted rings: %d" % (name, dropped), flush=True)


def test_ring_truncated_while_replayed():
    # Cut to the header alone, and to nothing at all.
    cuts = iter([4096, 0] * ATTACKS)
    hostile_run("truncated", lambda fd, size: os.ftruncate(fd, next(cuts)))


def test_ring_resized_while_replayed():
    # Shrunk into the data area, grown past the ring's size, shrunk again:
    # no size the reaper sees at adoption holds afterwards.
    def resize(fd, size):
        for _ in range(20):
            os.ftruncate(fd, size // 3)
            os.ftruncate(fd, size * 2)
            os.ftruncate(fd, 8192)
            time.sleep(0.001)
        os.ftruncate(fd, size)
    hostile_run("resized", resize)


if __name__ == "__main__":
    run_tests([
        test_ring_truncated_while_replayed,
        test_ring_resized_while_replayed,
    ])
