#!/usr/bin/env python3
"""Soak: steady writing from several runners while the collector is
SIGKILLed and restarted at random, then every line checked.

Runner processes (Python under the preload, --runners at a time, each living
--runner-life seconds and then replaced by a new one with a new runner ID)
run --threads threads each, writing sequence-numbered lines at a steady
pace (--rate lines a second per process, in total), to stdout and stderr,
in blocks of 20 alternately inside a request and outside. Every --kill-min
to --kill-max seconds the collector is SIGKILLed, left down for up to
--down-max seconds and started again on the same data directory.

When the time is up the runners finish, every ring file is replayed, and
the store is read: every line must be there exactly once, in its request.
Prints the counts, the collector kills, and the peak RSS of the collector
(the largest of its incarnations) and of the runner processes (each
process's own peak, from wait4), then one JSON line. Exits 1 if anything
was lost, duplicated or misattributed.

Usage: bench/soak.py [--build DIR] [--duration S] [--runners N] [--threads N]
                     [--rate N] [--runner-life S] [--kill-min S] [--kill-max S]
                     [--down-max S] [--seed N] [--keep]
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

parser = argparse.ArgumentParser(description="logtap soak: collector killed at random, every line checked")
parser.add_argument("--build", default="build", help="build directory (default build)")
parser.add_argument("--duration", type=float, default=600, help="seconds of writing (default 600)")
parser.add_argument("--runners", type=int, default=3, help="runner processes at a time (default 3)")
parser.add_argument("--threads", type=int, default=4, help="writing threads per runner (default 4)")
parser.add_argument("--rate", type=float, default=1000, help="lines a second per runner (default 1000)")
parser.add_argument("--runner-life", type=float, default=120, help="seconds before a runner is replaced")
parser.add_argument("--kill-min", type=float, default=5, help="shortest time between kills (default 5)")
parser.add_argument("--kill-max", type=float, default=40, help="longest time between kills (default 40)")
parser.add_argument("--down-max", type=float, default=3, help="longest time the collector stays down")
parser.add_argument("--settle", type=float, default=300, help="longest wait for the last lines (default 300)")
parser.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock)")
parser.add_argument("--keep", action="store_true", help="keep the work directory")
args = parser.parse_args()

build = os.path.abspath(args.build)
collector_bin = os.path.join(build, "logtap-collector")
# Sanitizer test runs put their runtime first (as test/e2e/harness.py does).
preload = os.environ.get("LOGTAP_TEST_PRELOAD") or os.path.join(build, "liblogtap.so")
bindings = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bindings", "python")
for path in (collector_bin, os.path.join(build, "liblogtap.so")):
    if not os.path.exists(path):
        sys.exit("soak: %s not found; build first (meson compile -C %s)" % (path, args.build))
seed = args.seed if args.seed is not None else int(time.time())
rng = random.Random(seed)

work = tempfile.mkdtemp(prefix="logtap-soak-")
data = os.path.join(work, "data")
rings = os.path.join(work, "rings")
os.makedirs(rings)
endpoint = "ipc://" + os.path.join(work, "ingest.sock")

# A runner: THREADS threads, each writing "soak RUNNER tT N REQUEST" at its
# share of the rate until its life ends; then the counts go to a file
# (not stdout: that is captured).
RUNNER = r'''
import json, os, sys, threading, time
import logtap
runner, threads, rate, life, counts_path = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), \
    float(sys.argv[4]), sys.argv[5]
start = time.monotonic()
counts = [0] * threads

def work(t):
    period = threads / rate
    n = 0
    while time.monotonic() - start < life:
        block = n // 20
        request = "%s-t%d-b%d" % (runner, t, block) if block % 2 else None
        def write_block():
            nonlocal n
            for _ in range(20):
                os.write(2 if n % 5 == 0 else 1, ("soak %s t%d %d %s\n" % (runner, t, n, request or "-")).encode())
                n += 1
        if request:
            with logtap.request(request):
                write_block()
        else:
            write_block()
        delay = start + n * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    counts[t] = n

workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
for w in workers:
    w.start()
for w in workers:
    w.join()
with open(counts_path + ".tmp", "w") as f:
    json.dump(counts, f)
os.rename(counts_path + ".tmp", counts_path)
'''


def runner_env(runner):
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)
    env["LD_PRELOAD"] = preload
    env["LOGTAP_ENDPOINT"] = endpoint
    env["LOGTAP_RING_DIR"] = rings
    env["PYTHONPATH"] = bindings + os.pathsep + env.get("PYTHONPATH", "")
    if os.environ.get("LOGTAP_TEST_RUNNER_ASAN_OPTIONS"):
        env["ASAN_OPTIONS"] = os.environ["LOGTAP_TEST_RUNNER_ASAN_OPTIONS"]
    env["LOGTAP_RUNNER_ID"] = runner
    return env


def reap(pid, block):
    """(exited, peak RSS in KiB) of a child, by wait4."""
    done, status, usage = os.wait4(pid, 0 if block else os.WNOHANG)
    return (done == pid, usage.ru_maxrss if done == pid else 0)


class CollectorProcess:
    def __init__(self):
        self.pid = None
        self.starts = 0
        self.peak_kib = 0
        self.log = open(os.path.join(work, "collector.log"), "ab")

    def start(self):
        status = os.path.join(data, "collector.json")
        if os.path.exists(status):
            os.unlink(status)
        proc = subprocess.Popen([collector_bin, "--listen", endpoint, "--http", "127.0.0.1:0", "--data", data,
                                 "--rings", rings], stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        self.pid = proc.pid
        proc.returncode = 0  # reaped by wait4 below, not by Popen
        self.starts += 1
        deadline = time.monotonic() + 30
        while not os.path.exists(status):
            if time.monotonic() > deadline:
                sys.exit("soak: the collector did not start; see %s" % self.log.name)
            time.sleep(0.02)

    def stop(self, sig):
        os.kill(self.pid, sig)
        _, peak = reap(self.pid, True)
        self.peak_kib = max(self.peak_kib, peak)
        self.pid = None


collector = CollectorProcess()
collector.start()

slots = [None] * args.runners  # (pid, runner ID, counts file)
runners_started, runner_peak_kib, runner_failures = [], 0, []
begin = time.monotonic()
end = begin + args.duration
kills, down_total = 0, 0.0
next_kill = begin + rng.uniform(args.kill_min, args.kill_max)


def start_runner(slot, generation):
    left = end - time.monotonic()
    runner = "soak-%d-%d" % (slot, generation)
    counts = os.path.join(work, runner + ".counts")
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, runner, str(args.threads), str(args.rate),
                             str(min(args.runner_life, left)), counts],
                            env=runner_env(runner), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    proc.returncode = 0  # reaped by wait4
    runners_started.append((runner, counts))
    return (proc.pid, runner, generation)


def check_runners(block):
    global runner_peak_kib
    for i, slot in enumerate(slots):
        if slot is None:
            continue
        pid, runner, generation = slot
        done, peak = reap(pid, block)
        if not done:
            continue
        runner_peak_kib = max(runner_peak_kib, peak)
        slots[i] = None
        if time.monotonic() < end - 2:
            slots[i] = start_runner(i, generation + 1)


for i in range(args.runners):
    slots[i] = start_runner(i, 0)
print("soak: %.0f s, %d runners x %d threads at %.0f lines/s each, collector killed every %.0f-%.0f s "
      "(seed %d, in %s)" % (args.duration, args.runners, args.threads, args.rate, args.kill_min, args.kill_max,
                            seed, work), flush=True)
while time.monotonic() < end:
    check_runners(False)
    if time.monotonic() >= next_kill:
        collector.stop(signal.SIGKILL)
        kills += 1
        down = rng.uniform(0, args.down_max)
        time.sleep(down)
        down_total += down
        collector.start()
        next_kill = time.monotonic() + rng.uniform(args.kill_min, args.kill_max)
    time.sleep(0.1)

# The runners finish their lives; their ring files are replayed and removed.
while any(slots):
    check_runners(True)
deadline = time.monotonic() + args.settle
while [f for f in os.listdir(rings) if f.endswith(".ring")]:
    if time.monotonic() > deadline:
        print("soak: ring files still there after %.0f s: %s" % (args.settle, os.listdir(rings)))
        break
    time.sleep(0.5)
time.sleep(0.5)
collector.stop(signal.SIGTERM)

# Every line once, in its request.
written = {}
for runner, counts_path in runners_started:
    try:
        with open(counts_path) as f:
            counts = json.load(f)
    except (OSError, ValueError):
        runner_failures.append(runner)
        continue
    for t, n in enumerate(counts):
        written[(runner, t)] = bytearray(n)
line_re = re.compile(rb"^soak (\S+) t(\d+) (\d+) (\S+)$")
duplicated = misattributed = unexpected = dropped = 0
db = sqlite3.connect("file:%s?mode=ro" % os.path.join(data, "logtap.db"), uri=True)
for runner_id, request_id, message in db.execute("SELECT runner_id, request_id, message FROM logs"):
    m = line_re.match(message)
    if not m:
        if message.startswith(b"[logtap: ") and message.endswith(b" bytes dropped]"):
            dropped += int(message.split()[1])
        else:
            unexpected += 1
        continue
    runner, t, n, request = m.group(1).decode(), int(m.group(2)), int(m.group(3)), m.group(4).decode()
    seen = written.get((runner, t))
    if seen is None or n >= len(seen) or runner != runner_id:
        unexpected += 1
        continue
    if seen[n]:
        duplicated += 1
    seen[n] = min(255, seen[n] + 1)
    if (request if request != "-" else None) != request_id:
        misattributed += 1
db.close()
total = sum(len(s) for s in written.values())
lost = sum(s.count(0) for s in written.values())

elapsed = time.monotonic() - begin
print("soak: %d runner processes, %d lines written (%.0f lines/s)" % (len(runners_started), total,
                                                                    total / args.duration))
print("soak: collector SIGKILLed %d times (down %.1f s in all), %d starts" % (kills, down_total, collector.starts))
print("soak: lost %d, duplicated %d, misattributed %d, unexpected %d, bytes reported dropped %d" % (
    lost, duplicated, misattributed, unexpected, dropped))
print("soak: peak RSS: collector %.1f MiB (largest of its %d runs), runner processes %.1f MiB (largest)" % (
    collector.peak_kib / 1024, collector.starts, runner_peak_kib / 1024))
if runner_failures:
    print("soak: runners that did not report their counts: %s" % runner_failures)
print(json.dumps({"duration_s": args.duration, "elapsed_s": round(elapsed, 1), "runners": len(runners_started),
                  "threads": args.threads, "lines": total, "kills": kills, "lost": lost, "duplicated": duplicated,
                  "misattributed": misattributed, "unexpected": unexpected, "dropped_bytes": dropped,
                  "collector_peak_rss_kib": collector.peak_kib, "runner_peak_rss_kib": runner_peak_kib,
                  "seed": seed}))
failed = lost or duplicated or misattributed or unexpected or runner_failures or total == 0
if not args.keep and not failed:
    shutil.rmtree(work, ignore_errors=True)
sys.exit(1 if failed else 0)
