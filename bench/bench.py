#!/usr/bin/env python3
"""The preload's cost: wall time of two workloads with and without
liblogtap.so, with a real collector running beside them, median of N runs,
measured in one run of this script. Each timed run starts with the
collector idle (nothing stored for 1.2 s, more than a reaper period), so
that the collector's work on one run's burst does not slow the next.

  (a) python:  a Python loop printing 1,000,000 short lines, stdout on /dev/null
  (b) c-write: a C loop of 1,000,000 write(2) calls of 64 bytes to /dev/null

Then it reports what reached the store: with the default 8 MiB ring (the
timed runs), and once more per workload with a 512 MiB ring that holds the
whole burst, where every line must arrive and the collector's storing rate
is measured.

With --catch-all, each workload also runs under `logtap run --catch-all`
(interleaved with the others), for the cost of that mode: the supervisor,
the forwarder, and each captured write going to the pass-through target
after an ioctl(FIONREAD) on the catch pipe.

With --baseline-preload PATH, each workload also runs under another
liblogtap.so (an older build, say), interleaved with the rest: a regression
check of the hook's cost that machine drift cannot fake.

With --credential, the collector runs with --ingest-auth required and
every preloaded runner holds its runner credential (LOGTAP_CREDENTIAL),
sent with each frame: the cost of ingest authentication, to compare with a
run without it.

Usage: bench/bench.py [--build DIR] [--runs N] [--lines N] [--catch-all] [--credential]
                      [--baseline-preload PATH]
Prints a table, then one JSON line with the figures.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

parser = argparse.ArgumentParser(description="logtap preload overhead benchmark")
parser.add_argument("--build", default="build")
parser.add_argument("--runs", type=int, default=5)
parser.add_argument("--lines", type=int, default=1000000)
parser.add_argument("--catch-all", action="store_true", help="also time the workloads under logtap run --catch-all")
parser.add_argument("--credential", action="store_true",
                    help="--ingest-auth required, each runner with its credential")
parser.add_argument("--baseline-preload", metavar="PATH",
                    help="also time the workloads under this liblogtap.so (e.g. an older build)")
args = parser.parse_args()

build = os.path.abspath(args.build)
preload = os.path.join(build, "liblogtap.so")
if args.baseline_preload and not os.path.exists(args.baseline_preload):
    sys.exit("bench: %s not found" % args.baseline_preload)
for path in (preload, os.path.join(build, "logtap-collector"), os.path.join(build, "bench", "write_loop")):
    if not os.path.exists(path):
        sys.exit("bench: %s not found; build first (meson compile -C %s)" % (path, args.build))

work = tempfile.mkdtemp(prefix="logtap-bench-")
endpoint = "ipc://" + os.path.join(work, "ingest.sock")
ring_dir = os.path.join(work, "rings")
os.makedirs(ring_dir)
collector = subprocess.Popen([os.path.join(build, "logtap-collector"), "--listen", endpoint,
                              "--http", "127.0.0.1:0", "--data", os.path.join(work, "data"),
                              "--rings", ring_dir] + (["--ingest-auth", "required"] if args.credential else []),
                             stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "collector.log"), "w"))
deadline = time.monotonic() + 10
while not os.path.exists(os.path.join(work, "data", "collector.json")):
    if time.monotonic() > deadline or collector.poll() is not None:
        sys.exit("bench: collector did not start")
    time.sleep(0.05)

workloads = {
    "python": [sys.executable, "-c", "for i in range(%d): print('line', i)" % args.lines],
    "c-write": [os.path.join(build, "bench", "write_loop"), str(args.lines)],
}


def timed(cmd, env, idle_first=True):
    # Each timed run starts with the collector idle: on a machine of few
    # cores, the collector still storing the previous run's burst would slow
    # the next run, whichever it is, and the figures would measure the order.
    if idle_first:
        settle(quiet_s=1.2)
    with open(os.devnull, "wb") as null:
        start = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=null, check=True)
        return time.perf_counter() - start


# Python's default buffering (block-buffered stdout when it is not a
# terminal): a shell's PYTHONUNBUFFERED would turn (a) into 4 writes a line.
base_env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "PYTHONUNBUFFERED")}
tap_env = dict(base_env, LD_PRELOAD=preload, LOGTAP_ENDPOINT=endpoint, LOGTAP_RUNNER_ID="bench",
               LOGTAP_RING_DIR=ring_dir)
catch_env = dict(base_env, LOGTAP_ENDPOINT=endpoint, LOGTAP_RING_DIR=ring_dir)  # logtap run sets the rest
baseline_env = dict(tap_env, LD_PRELOAD=os.path.abspath(args.baseline_preload)) if args.baseline_preload else None
catch_all = [os.path.join(build, "logtap"), "run", "--catch-all", "-q", "--runner", "bench-catch-all", "--"]

with open(os.path.join(work, "data", "collector.json")) as f:
    url = json.load(f)["http"]

with open(os.path.join(work, "data", "admin.token")) as f:
    token = f.read().strip()


def credential(runner):
    """What a launcher does under --ingest-auth required (README, "Tenants")."""
    request = urllib.request.Request(url + "/v1/runners/%s/credentials" % runner, data=b'{}', method="POST",
                                     headers={"Authorization": "Bearer " + token,
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as r:
        return json.load(r)["credential"]


def with_credential(env):
    if not args.credential:
        return env
    env = dict(env, LOGTAP_CREDENTIAL=credential(env["LOGTAP_RUNNER_ID"]))
    env.pop("LOGTAP_APP_ID", None)
    env.pop("LOGTAP_VERSION_ID", None)
    env.pop("LOGTAP_SOURCE", None)
    return env


tap_env = with_credential(tap_env)
if args.credential:  # logtap run mints its own with the admin token
    catch_env = dict(catch_env, LOGTAP_SERVER=url, LOGTAP_TOKEN=token)


def metrics():
    request = urllib.request.Request(url + "/metrics", headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(request) as r:
        return {l.split()[0]: float(l.split()[1]) for l in r.read().decode().splitlines()
                if l and not l.startswith("#")}


def settle(quiet_s=2.5, limit_s=300):
    """Wait until the collector has stored nothing for quiet_s (2.5 s is
    more than a reaper period); return the count of lines stored."""
    last, since, deadline = -1, time.monotonic(), time.monotonic() + limit_s
    while time.monotonic() < deadline:
        stored = metrics().get("logtap_lines_stored_total", 0)
        if stored != last:
            last, since = stored, time.monotonic()
        elif time.monotonic() - since > quiet_s:
            break
        time.sleep(0.1)
    else:
        print("bench: warning: the collector was still storing after %d s; the figures that follow are suspect"
              % limit_s, file=sys.stderr)
    return last


results = {}
try:
    for name, cmd in workloads.items():
        timed(cmd, base_env)  # warm caches
        plain, tapped, caught, baseline = [], [], [], []
        for _ in range(args.runs):  # interleaved, so drift hits both sides alike
            plain.append(timed(cmd, base_env))
            tapped.append(timed(cmd, tap_env))
            if args.catch_all:
                caught.append(timed(catch_all + cmd, catch_env))
            if baseline_env:
                baseline.append(timed(cmd, baseline_env))
        p, t = statistics.median(plain), statistics.median(tapped)
        results[name] = {"plain_s": round(p, 4), "preload_s": round(t, 4), "ratio": round(t / p, 3),
                         "runs": args.runs}
        if caught:
            results[name]["catch_all_s"] = round(statistics.median(caught), 4)
            results[name]["catch_all_ratio"] = round(statistics.median(caught) / p, 3)
        if baseline:
            results[name]["baseline_preload_s"] = round(statistics.median(baseline), 4)
            results[name]["baseline_preload_ratio"] = round(statistics.median(baseline) / p, 3)
    expect = len(workloads) * args.runs * args.lines * (1 + bool(args.catch_all) + bool(baseline_env))
    stored = settle()
    dropped = metrics().get("logtap_bytes_gap_reported_total", 0)

    # Delivery with a ring large enough for the whole burst: every line must
    # arrive (live, or through the ring file after exit), and this measures
    # how fast the collector stores them.
    delivery = {}
    for name, cmd in workloads.items():
        before = settle()
        env = with_credential(dict(tap_env, LOGTAP_RING_SIZE="512M", LOGTAP_RUNNER_ID="bench-delivery-" + name))
        start = time.monotonic()
        timed(cmd, env, idle_first=False)  # settled just now, and the wait must not count
        after = settle()
        took = time.monotonic() - start - 2.5
        got = int(after - before)
        delivery[name] = {"stored": got, "written": args.lines, "seconds": round(took, 2),
                          "lines_per_s": int(got / took) if took > 0 else None}
finally:
    collector.send_signal(signal.SIGTERM)
    collector.wait(60)

print("%-8s %12s %12s %8s" % ("workload", "plain (s)", "preload (s)", "ratio") +
      ("%15s %8s" % ("catch-all (s)", "ratio") if args.catch_all else "") +
      ("%14s %8s" % ("baseline (s)", "ratio") if baseline_env else ""))
for name, r in results.items():
    print("%-8s %12.4f %12.4f %7.3fx" % (name, r["plain_s"], r["preload_s"], r["ratio"]) +
          ("%15.4f %7.3fx" % (r["catch_all_s"], r["catch_all_ratio"]) if args.catch_all else "") +
          ("%14.4f %7.3fx" % (r["baseline_preload_s"], r["baseline_preload_ratio"]) if baseline_env else ""))
print("default 8 MiB ring: %d lines stored of %d written under logtap, %d bytes reported dropped%s"
      % (stored, expect, dropped, " (the writers outran the collector)" if dropped else ""))
for name, d in delivery.items():
    print("512 MiB ring, %-7s: %d of %d lines stored, all within %.1fs (%s lines/s into the store)"
          % (name, d["stored"], d["written"], d["seconds"], d["lines_per_s"]))
print(json.dumps({"lines": args.lines, "results": results, "lines_stored": stored,
                  "lines_expected": expect, "bytes_dropped": dropped, "delivery": delivery}))
shutil.rmtree(work, ignore_errors=True)
