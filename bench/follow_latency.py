#!/usr/bin/env python3
"""Follow latency: how long after a runner's write() a follower holding a
`follow=1` stream receives the line, through the whole path (hook, ring,
sender, ZeroMQ, assembler, SQLite commit, HTTP server-sent events).

A runner under the preload writes one line every --interval seconds, each
carrying time.time() at the moment before its write(2). A follower on the
runner's logs records its own time.time() when each event arrives. Both
run on this machine, so they share the clock. Reports median, p90, p99 and
max over --lines lines, next to the targets: 100 ms (issue 5, idle
machine) and 10 ms (the design's goal).

Usage: bench/follow_latency.py [--build DIR] [--lines N] [--interval S]
         [--commit-ms N]
Prints a table, then one JSON line with the figures.
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

parser = argparse.ArgumentParser(description="logtap follow latency benchmark")
parser.add_argument("--build", default="build")
parser.add_argument("--lines", type=int, default=200)
parser.add_argument("--interval", type=float, default=0.05)
parser.add_argument("--commit-ms", type=int, default=10)
args = parser.parse_args()

build = os.path.abspath(args.build)
preload = os.path.join(build, "liblogtap.so")
collector_bin = os.path.join(build, "logtap-collector")
for path in (preload, collector_bin):
    if not os.path.exists(path):
        sys.exit("bench: %s not found; build first (meson compile -C %s)" % (path, args.build))

work = tempfile.mkdtemp(prefix="logtap-bench-")
endpoint = "ipc://" + os.path.join(work, "ingest.sock")
ring_dir = os.path.join(work, "rings")
data = os.path.join(work, "data")
os.makedirs(ring_dir)
collector = subprocess.Popen([collector_bin, "--listen", endpoint, "--http", "127.0.0.1:0", "--data", data,
                              "--rings", ring_dir, "--commit-ms", str(args.commit_ms),
                              "--credentials", "none"],
                             stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "collector.log"), "w"))
deadline = time.monotonic() + 10
while not os.path.exists(os.path.join(data, "collector.json")):
    if time.monotonic() > deadline or collector.poll() is not None:
        sys.exit("bench: collector did not start")
    time.sleep(0.05)
with open(os.path.join(data, "collector.json")) as f:
    host, port = json.load(f)["http"][len("http://"):].rsplit(":", 1)
with open(os.path.join(data, "admin.token")) as f:
    token = f.read().strip()

env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "PYTHONUNBUFFERED")}
env.update(LD_PRELOAD=preload, LOGTAP_ENDPOINT=endpoint, LOGTAP_RING_DIR=ring_dir,
           LOGTAP_RUNNER_ID="latency")
runner_code = r'''
import sys, time, os
n, pause = int(sys.argv[1]), float(sys.argv[2])
os.write(1, b"ready\n")
time.sleep(1.0)
for i in range(n):
    os.write(1, ("t=%.6f i=%d\n" % (time.time(), i)).encode())
    time.sleep(pause)
'''

arrivals = {}
done = threading.Event()


def follow():
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    conn.request("GET", "/v1/runners/latency/logs?follow=1&tail=0",
                 headers={"Authorization": "Bearer " + token})
    response = conn.getresponse()
    if response.status != 200:
        print("bench: follow answered %d" % response.status, file=sys.stderr)
        done.set()
        return
    while len(arrivals) < args.lines:
        line = response.readline()
        if not line:
            break
        if line.startswith(b"data: "):
            now = time.time()
            message = json.loads(line[6:])["message"]
            if message.startswith("t="):
                sent, i = message.split()
                arrivals[int(i[2:])] = now - float(sent[2:])
    conn.close()
    done.set()


try:
    # The runner must be known before its logs can be followed: a first run
    # says "ready", then the measured run goes on under the same runner ID.
    subprocess.run([sys.executable, "-c", "import os; os.write(1, b'hello\\n')"], env=env,
                   stdout=subprocess.DEVNULL, check=True)
    deadline = time.monotonic() + 10
    while True:
        c = http.client.HTTPConnection(host, int(port), timeout=10)
        c.request("GET", "/v1/runners/latency/logs", headers={"Authorization": "Bearer " + token})
        if c.getresponse().status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    time.sleep(0.3)
    subprocess.run([sys.executable, "-c", runner_code, str(args.lines), str(args.interval)], env=env,
                   stdout=subprocess.DEVNULL, check=True)
    done.wait(30)
finally:
    collector.send_signal(signal.SIGTERM)
    collector.wait(60)
    shutil.rmtree(work, ignore_errors=True)

lat = sorted(v * 1000 for v in arrivals.values())
if len(lat) < args.lines:
    sys.exit("bench: only %d of %d lines arrived" % (len(lat), args.lines))


def pct(p):
    return lat[min(len(lat) - 1, int(round(p / 100.0 * (len(lat) - 1))))]


figures = {"lines": len(lat), "interval_s": args.interval, "commit_ms": args.commit_ms,
           "median_ms": round(statistics.median(lat), 2), "p90_ms": round(pct(90), 2),
           "p99_ms": round(pct(99), 2), "max_ms": round(lat[-1], 2)}
print("write -> follower, %d lines, one every %.0f ms, --commit-ms %d:" % (len(lat), args.interval * 1000,
                                                                          args.commit_ms))
print("  median %.2f ms   p90 %.2f ms   p99 %.2f ms   max %.2f ms   (targets: 100 ms; goal 10 ms)"
      % (figures["median_ms"], figures["p90_ms"], figures["p99_ms"], figures["max_ms"]))
print(json.dumps(figures))
