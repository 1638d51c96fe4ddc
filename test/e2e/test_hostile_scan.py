"""Hostile ring directories: scanning and replay never hold ingestion up.

The ring directory is writable by the runners, so what the collector's
reaper finds there is chosen by tenants: how many files, their names, and
how much a ring's header says is left to read. The reaper runs on the
ingest thread; until it worked in bounded steps, planted 4 GiB sparse
rings stalled every runner's acknowledgements for 38.6 s, and 20,000 junk
files cost 0.3 s at every scan (this test, on that code: a maximum of
58.7 s, a median of 26.8 s).

While an innocent runner under the preload writes a line every 20 ms, the
test plants
  - HOLLOW rings of 4 GiB (ring_tool hollow): dead runners' rings whose
    headers claim the whole ring written and unacknowledged over a data
    area that is a hole, nothing in it stamped -- cheap to plant, and a
    search at every 8 bytes for a reader that takes the header's word;
  - 20,000 junk files: 15,000 named like rings (most sized like one, some
    empty, a few directories and FIFOs), 5,000 named otherwise;
  - one ring full of records (ring_tool forge: 16 MiB of lines), a dead
    runner's real tail, to be replayed whole.
A follower of the innocent runner's logs notes when each line arrives;
latency is the arrival less the line's timestamp (the hook's time of the
write), so it covers ingest, commit and the acknowledgement's commit.

Prints the median and maximum latency before and during the attack and the
reaper's longest step, and asserts: the maximum during the attack under
MAX_LATENCY_S, the hollow rings passed with their bytes reported dropped,
every record of the forged ring replayed, and each junk file judged once
(logtap_rings_invalid_total counts it once, not at every pass).
"""

import json
import os
import statistics
import subprocess
import threading
import time
import datetime

from harness import BUILD, PYTHON, Collector, Follower, check, check_eq, messages, run_tests, runner_env, wait_until

RING_TOOL = os.path.join(BUILD, "test", "ring_tool")
HOLLOW_RINGS = 3
HOLLOW_CAPACITY = 1 << 32  # the largest ring a runner may have (LOGTAP_RING_SIZE)
RECORDS_CAPACITY = 16 << 20
JUNK_RING_SIZED = 9980  # named and sized like a ring, not one
JUNK_RING_EMPTY = 5000  # named like a ring, empty
JUNK_DIRS = 10
JUNK_FIFOS = 10
JUNK_OTHER = 5000  # named otherwise
JUNK_RING_NAMED = JUNK_RING_SIZED + JUNK_RING_EMPTY + JUNK_DIRS + JUNK_FIFOS
MAX_LATENCY_S = 1.0

TICKER = r'''
import os, select, sys
n = 0
while True:
    os.write(1, ("tick %d\n" % n).encode())
    n += 1
    if select.select([sys.stdin], [], [], 0.02)[0]:
        break
'''


class Arrivals:
    """Follows a runner's logs and notes, for each line, the time from its
    write (its timestamp) to its arrival here."""

    def __init__(self, c, runner):
        self.follower = Follower(c, "/v1/runners/%s/logs" % runner, tail=0)
        self.lines = []  # (written, latency)
        self.done = False
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self):
        seen = 0
        while not self.done:
            events = self.follower.snapshot()
            now = time.time()
            for kind, _, data in events[seen:]:
                if kind == "log":
                    written = datetime.datetime.fromisoformat(data["timestamp"].replace("Z", "+00:00"))
                    self.lines.append((written.timestamp(), now - written.timestamp()))
            seen = len(events)
            time.sleep(0.002)

    def between(self, start, end):
        return [lat for written, lat in list(self.lines) if start <= written < end]

    def stop(self):
        self.done = True
        self.thread.join(10)
        self.follower.stop()


def figures(lat):
    if not lat:
        return "no lines"
    return "%d lines, median %.1f ms, max %.1f ms" % (len(lat), 1000 * statistics.median(lat), 1000 * max(lat))


def plant_ring(c, args):
    """ring_tool forge/hollow in the collector's ring directory; the tool
    "dies" (lets go of the lock) once it has printed the ring."""
    tool = subprocess.Popen([RING_TOOL] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    made = json.loads(tool.stdout.readline())
    tool.stdin.close()
    check_eq(tool.wait(30), 0, "ring_tool %s exit status" % args[0])
    return made


def plant_junk(d):
    """Made beside the ring directory and renamed into it whole: the reaper
    never sees a junk file before its last change (a file it judged changes
    its change time when it changes, and is judged again)."""
    staging = os.path.join(os.path.dirname(d), "junk-staging")
    os.mkdir(staging)
    ring_size = 4096 + (256 << 10)  # what a ring of the smallest capacity weighs
    names = []
    for i in range(JUNK_RING_SIZED):
        names.append("logtap-junk%05d.ring" % i)
        with open(os.path.join(staging, names[-1]), "wb") as f:
            f.truncate(ring_size)  # a hole: no magic, no header
    for i in range(JUNK_RING_EMPTY):
        names.append("logtap-%016x-%016x.ring" % (i, i))
        open(os.path.join(staging, names[-1]), "wb").close()
    for i in range(JUNK_DIRS):
        names.append("logtap-dir%d.ring" % i)
        os.mkdir(os.path.join(staging, names[-1]))
    for i in range(JUNK_FIFOS):
        names.append("logtap-fifo%d.ring" % i)
        os.mkfifo(os.path.join(staging, names[-1]))
    for i in range(JUNK_OTHER):
        names.append("junk-%05d.txt" % i)
        open(os.path.join(staging, names[-1]), "wb").close()
    for name in names:
        os.rename(os.path.join(staging, name), os.path.join(d, name))
    os.rmdir(staging)


def dropped_reported(c, runner):
    got = messages(c.logs("runners", runner) or [])
    return sum(int(m.split()[1]) for m in got if m.startswith("[logtap: ") and m.endswith(" bytes dropped]"))


def test_scanning_never_blocks_ingest():
    with Collector() as c:
        ticker = subprocess.Popen([PYTHON, "-c", TICKER], env=runner_env(c, runner_id="innocent"),
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        arrivals = None
        try:
            wait_until(lambda: c.get_json("/v1/runners/innocent/logs")[0] == 200, 30, "the innocent runner known")
            arrivals = Arrivals(c, "innocent")
            quiet_start = time.time()
            time.sleep(3)
            attack_start = time.time()
            d = c.ring_dir()
            hollow = [plant_ring(c, ["hollow", d, c.endpoint, "scan-hollow-%d" % k, str(HOLLOW_CAPACITY)])
                      for k in range(HOLLOW_RINGS)]
            records = plant_ring(c, ["forge", d, c.endpoint, "scan-records", str(RECORDS_CAPACITY), str(1 << 20)])
            t = time.monotonic()
            plant_junk(d)
            print("  planted %d hollow rings of %d GiB, a ring of %d records, %d junk files (%.1f s)" % (
                HOLLOW_RINGS, HOLLOW_CAPACITY >> 30, records["lines"],
                JUNK_RING_NAMED + JUNK_OTHER, time.monotonic() - t), flush=True)
            planted = [r["path"] for r in hollow] + [records["path"]]
            wait_until(lambda: not any(os.path.exists(p) for p in planted), 150,
                       "the planted rings replayed and removed")
            replayed_after = time.time() - attack_start
            time.sleep(3)  # passes over the junk alone
            attack_end = time.time()
            time.sleep(1)
            quiet = arrivals.between(quiet_start, attack_start)
            attack = arrivals.between(attack_start, attack_end)
            metrics = c.metrics()
            step = metrics.get("logtap_reaper_step_seconds_max")
            print("  innocent runner, write to follower: before the attack %s; during it %s" % (
                figures(quiet), figures(attack)), flush=True)
            print("  planted rings replayed and removed %.1f s after the attack began; longest reaper "
                  "step %s" % (replayed_after, "%.1f ms" % (1000 * step) if step is not None else "n/a"),
                  flush=True)
            check(len(attack) >= 50, "the innocent runner's lines kept arriving (%d)" % len(attack))
            check(max(attack) < MAX_LATENCY_S, "an innocent line took %.2f s to arrive during the attack "
                  "(bound %.1f s)" % (max(attack), MAX_LATENCY_S))
        finally:
            if arrivals:
                arrivals.stop()
            ticker.stdin.close()
            ticker.wait(30)

        # The hollow rings were passed, every byte of them reported lost.
        for k in range(HOLLOW_RINGS):
            check_eq(dropped_reported(c, "scan-hollow-%d" % k), HOLLOW_CAPACITY,
                     "bytes reported dropped from hollow ring %d" % k)
        # The forged runner's tail, replayed a step at a time, is all there
        # (counted as replayed: its lines carry 1970 timestamps, which
        # retention removes at once).
        check_eq(int(c.metrics()["logtap_records_replayed_total"]), records["lines"],
                 "records replayed from the forged ring")
        # Each junk file named like a ring was judged once, not at every pass.
        invalid = int(c.metrics()["logtap_rings_invalid_total"])
        print("  junk files counted invalid: %d (%d named like rings)" % (invalid, JUNK_RING_NAMED), flush=True)
        check(invalid <= JUNK_RING_NAMED, "junk judged again at every pass (%d counted)" % invalid)


if __name__ == "__main__":
    run_tests([test_scanning_never_blocks_ingest])
