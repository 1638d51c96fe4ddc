#!/usr/bin/env python3
"""Log drains: how many lines a second one drain delivers, per kind, to a
receiver on loopback.

For each kind (ndjson over HTTPS, otlp over plain HTTP, syslog over TCP
into a private rsyslogd): a collector on a fresh data directory, one
drain, its receiver held back (the HTTP receivers answer 503 without
keeping anything; rsyslogd is not started yet); a runner writes --lines
lines, which are stored first; then the receiver is let in and the time
until it holds every line is the drain's. Ingest is not in the figure.
The drain's retry wait (--drain-backoff-max 1s) is: at most 1 s of it.

The HTTP receivers are Python (http.server, one thread a connection,
checking every signature), so for ndjson and otlp the figure is as much
the receiver's as the collector's; rsyslogd is C.

Usage: bench/drains.py [--build DIR] [--lines N] [--kinds ndjson,otlp,syslog]
Prints a line a kind, then one JSON line with the figures.
"""

import argparse
import json
import os
import sys
import tempfile
import time

parser = argparse.ArgumentParser(description="logtap drain throughput")
parser.add_argument("--build", default="build")
parser.add_argument("--lines", type=int, default=200000)
parser.add_argument("--kinds", default="ndjson,otlp,syslog")
args = parser.parse_args()

here = os.path.dirname(os.path.abspath(__file__))
os.environ["LOGTAP_BUILD"] = os.path.abspath(args.build)
sys.path.insert(0, os.path.join(here, "..", "test", "e2e"))

from harness import PYTHON, Collector, wait_until, runner_env  # noqa: E402
from drain_receivers import HttpReceiver, Rsyslog, make_certificate  # noqa: E402
import subprocess  # noqa: E402

WRITER = "import os\nfor i in range(%d): os.write(1, b'bench line %%09d with some text after it\\n' %% i)\n"


def write_and_store(c, count):
    subprocess.run([PYTHON, "-c", WRITER % count], env=runner_env(c, runner_id="r-bench", LOGTAP_APP_ID="bench",
                                  LOGTAP_RING_SIZE="256M", LOGTAP_ON_FULL="block"),
                   check=True, stdout=subprocess.DEVNULL)

    def stored():
        status, doc = c.get_json("/v1/runners/r-bench/logs", tail=1)
        if status != 200:
            return False
        return doc["logs"] and doc["logs"][-1]["message"].startswith("bench line %09d" % (count - 1))
    wait_until(stored, 300, "lines stored")


def bench_http(kind):
    tmp = tempfile.mkdtemp(prefix="logtap-bench-drains-")
    cert, key = make_certificate(tmp) if kind == "ndjson" else (None, None)
    rx = HttpReceiver(cert, key).start()
    rx.lose_answers = 10**9
    rx.batches_kept = False
    extra = ["--drain-ca-file", cert] if cert else []
    with Collector(args=extra + ["--drain-backoff-max", "1s", "--retain-size", "0"]) as c:
        status, doc = c.call_json("POST", "/v1/apps/bench/drains", {"kind": kind, "url": rx.url})
        assert status == 201, doc
        rx.secret = doc["secret"]
        write_and_store(c, args.lines)
        with rx.lock:
            rx.batches.clear()
            rx.lose_answers = 0
        start = time.monotonic()
        wait_until(lambda: delivered(c, doc["id"]) >= args.lines, 600, "delivery")
        elapsed = time.monotonic() - start
    rx.stop()
    return elapsed


def delivered(c, drain_id):
    _, d = c.get_json("/v1/drains/" + drain_id)
    return d["lines_sent"]


def bench_syslog():
    tmp = tempfile.mkdtemp(prefix="logtap-bench-drains-")
    rs = Rsyslog(tmp)
    with Collector(args=["--drain-backoff-max", "1s", "--retain-size", "0"]) as c:
        status, doc = c.call_json("POST", "/v1/apps/bench/drains", {"kind": "syslog", "url": rs.url})
        assert status == 201, doc
        write_and_store(c, args.lines)
        start = time.monotonic()
        rs.start()
        wait_until(lambda: len(rs.lines()) >= args.lines, 600, "delivery")
        elapsed = time.monotonic() - start
    rs.stop()
    return elapsed


results = {}
for kind in args.kinds.split(","):
    elapsed = bench_syslog() if kind == "syslog" else bench_http(kind)
    results[kind] = round(args.lines / elapsed)
    print("%-7s %d lines in %.2f s: %d lines/s" % (kind, args.lines, elapsed, results[kind]), flush=True)
print(json.dumps({"lines": args.lines, "lines_per_second": results}))
