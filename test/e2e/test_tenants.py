"""Tenant isolation, the instance attacks (issue 14, item 3).

alice's runner rB (app appB) writes lines under the preload. Its process
instance ID was in its ring file's name, which mallory (runner rA, app
appA) can list; the name now carries a random tag instead (checked below),
so these attacks take reading the ring itself (its user, or root, as here:
the test reads the instance from the ring's header). Each attack names
that instance from outside:
  - a frame for it naming rA, so that B's lines would be stored as rA's;
  - the same after a collector restart, when no frame of B has come yet
    (the old collector gave mallory 11 of B's 16 lines here);
  - a frame for it at a position 2^62, so that B's later records would look
    like duplicates (24 of 30 lost for good before);
  - a planted ring naming B's instance under rA, replayed by the reaper,
    which would mark B's instance finished (11 of 30 lost before).
Afterwards B's runner logs hold every line exactly once and in order, rA
has stored nothing, and the collector counted each refusal in /metrics
(logtap_instance_claims_refused_total, logtap_positions_refused_total).

What this does not cover (issue 14): a process that declares B's own runner
and app; that takes ingest credentials.
"""

import json
import os
import signal
import subprocess
import time

from harness import (BUILD, PYTHON, Collector, check, check_eq, messages, run_tests, runner_env,
                     wait_until)

FRAME_SENDER = os.path.join(BUILD, "test", "frame_sender")
RING_TOOL = os.path.join(BUILD, "test", "ring_tool")

VICTIM = r'''
import os, sys
for command in sys.stdin:
    word, _, rest = command.strip().partition(" ")
    if word == "exit":
        break
    first, count = (int(x) for x in rest.split())
    for n in range(first, first + count):
        os.write(1, ("B line %d\n" % n).encode())
    os.write(int(sys.argv[1]), b"ok\n")
'''


class Victim:
    """alice's runner rB of app appB, writing "B line n" on demand."""

    def __init__(self, c):
        ready_r, ready_w = os.pipe()
        self.ready = ready_r
        self.proc = subprocess.Popen([PYTHON, "-c", VICTIM, str(ready_w)],
                                     env=runner_env(c, runner_id="rB", LOGTAP_APP_ID="appB"),
                                     pass_fds=(ready_w,), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        os.close(ready_w)
        self.written = 0
        self.ring_dir = c.ring_dir()

    def write(self, count):
        self.proc.stdin.write(("lines %d %d\n" % (self.written, count)).encode())
        self.proc.stdin.flush()
        check_eq(os.read(self.ready, 3), b"ok\n", "the victim wrote its lines")
        self.written += count

    def instance(self):
        """The instance ID, from the ring's header (which its user and root
        can read); its file's name (logtap-<pid>-<tag>.ring) must not say it."""
        for name in os.listdir(self.ring_dir):
            parts = name[:-len(".ring")].split("-") if name.endswith(".ring") else []
            if len(parts) == 3 and int(parts[1], 16) == self.proc.pid:
                state = json.loads(subprocess.run([RING_TOOL, "state", os.path.join(self.ring_dir, name)],
                                                  capture_output=True, check=True).stdout)
                check("%016x" % state["instance"] not in name, "the ring file's name %s says its instance" % name)
                return state["instance"]
        raise AssertionError("no ring of the victim (pid %d) in %s" % (self.proc.pid, os.listdir(self.ring_dir)))

    def finish(self):
        self.proc.stdin.write(b"exit\n")
        self.proc.stdin.close()
        check_eq(self.proc.wait(60), 0, "the victim's exit status")
        os.close(self.ready)


def claim(c, runner, app, instance, pos, message):
    out = subprocess.run([FRAME_SENDER, c.endpoint, runner, "--claim", str(instance), app, str(pos), message],
                         capture_output=True, timeout=30)
    check_eq(out.returncode, 0, "frame_sender --claim: %s" % out.stderr[-300:])
    return out.stdout.decode().strip()


def stored(c, runner):
    entries = c.logs("runners", runner)
    return [] if entries is None else messages(entries)


def wait_stored(c, count):
    wait_until(lambda: len(stored(c, "rB")) >= count, 20, "%d of the victim's lines stored" % count)


def counter(c, name):
    return c.metrics().get("logtap_%s_total" % name, 0)


def expect_victim_intact(c, victim):
    want = ["B line %d" % n for n in range(victim.written)]
    wait_until(lambda: len(stored(c, "rB")) >= len(want), 30, "every line of the victim stored")
    time.sleep(0.5)  # anything stored twice would show by now
    got = stored(c, "rB")
    check_eq(got, want, "the victim's runner logs (exactly once, in order)")
    check_eq(stored(c, "rA"), [], "lines stored as the attacker's runner")
    return len(got)


def test_frame_claiming_a_live_instance():
    with Collector() as c:
        victim = Victim(c)
        victim.write(10)
        wait_stored(c, 10)
        instance = victim.instance()
        answer = claim(c, "rA", "appA", instance, 0, "mallory owns this instance")
        check_eq(answer, "refused", "the collector's answer to the claiming frame")
        victim.write(10)
        victim.finish()
        n = expect_victim_intact(c, victim)
        refused = counter(c, "instance_claims_refused")
        print("frame naming rA for rB's live instance %#x: %s; rB kept %d of %d lines, rA stored 0; "
              "instance_claims_refused %d" % (instance, answer, n, victim.written, refused), flush=True)
        check(refused >= 1, "the claim was not counted")


def test_claim_after_restart_and_position_jump():
    with Collector() as c:
        victim = Victim(c)
        victim.write(10)
        wait_stored(c, 10)
        instance = victim.instance()
        # The victim pauses: after the restart, mallory's frames come first.
        victim.proc.send_signal(signal.SIGSTOP)
        c.stop(signal.SIGKILL)
        c.start()
        first = claim(c, "rA", "appA", instance, 0, "mallory after the restart")
        # Under the victim's own name, a record far past anything its ring
        # can hold: before, B's later records were then duplicates.
        jump = claim(c, "rB", "appB", instance, 1 << 62, "far ahead")
        claims, positions = counter(c, "instance_claims_refused"), counter(c, "positions_refused")
        victim.proc.send_signal(signal.SIGCONT)
        victim.write(20)
        victim.finish()
        n = expect_victim_intact(c, victim)
        print("after a collector restart, before the victim's next frame: claim as rA -> %s, record at 2^62 "
              "as rB -> %s; rB kept %d of %d lines; instance_claims_refused %d, positions_refused %d"
              % (first, jump, n, victim.written, claims, positions), flush=True)
        check_eq(first, "refused", "the claim after the restart")
        check_eq(jump, "refused", "the record at 2^62")
        check(claims >= 1, "the claim was not counted")
        check(positions >= 1, "the jump was not counted")


def test_planted_ring_naming_the_victims_instance():
    with Collector() as c:
        victim = Victim(c)
        victim.write(10)
        wait_stored(c, 10)
        instance = victim.instance()
        before = counter(c, "instance_claims_refused")
        # A dead "runner" rA's ring under the victim's instance, with lines.
        tool = subprocess.Popen([RING_TOOL, "forge", c.ring_dir(), c.endpoint, "rA", str(1 << 20), "5",
                                 str(instance), "appA"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        forged = json.loads(tool.stdout.readline())
        tool.stdin.close()  # the forger dies: the reaper may adopt its ring
        check_eq(tool.wait(30), 0, "ring_tool forge exit status")
        wait_until(lambda: counter(c, "instance_claims_refused") > before, 20, "the planted ring refused")
        victim.write(20)
        victim.finish()
        n = expect_victim_intact(c, victim)
        print("planted ring %s naming rA for rB's instance: refused (instance_claims_refused %d); rB kept %d "
              "of %d lines, its instance not finished by the ring; rA stored 0"
              % (os.path.basename(forged["path"]), counter(c, "instance_claims_refused"), n, victim.written),
              flush=True)


if __name__ == "__main__":
    run_tests([
        test_frame_claiming_a_live_instance,
        test_claim_after_restart_and_position_jump,
        test_planted_ring_naming_the_victims_instance,
    ])
