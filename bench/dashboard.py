#!/usr/bin/env python3
"""The dashboard under load: 10,000 lines on screen, 1,000 lines/s arriving.

A real collector; a runner under the preload writes --preload lines, the
page (headless Chromium, as in test/e2e/test_dashboard.py) opens with them
all in its list (tail), then a second runner writes --rate lines/s for
--seconds, each line carrying its write time. Measured in the page:

  frames     animation-frame intervals (ms): median, p95, p99, max; a
             smooth page draws every 16.7 ms (60 Hz headless)
  long tasks main-thread tasks over 50 ms (PerformanceObserver), count and
             total ms
  lag        write-to-screen delay of the newest line shown, sampled every
             0.5 s (same machine clock)
  rows       DOM rows the list holds (virtualized: a screenful, not 10,000)

Usage: bench/dashboard.py [--build DIR] [--preload N] [--rate N] [--seconds N]
Prints a table, then one JSON line with the figures. Needs the browser test
setup (scripts/install-deps.sh, scripts/install-browser-deps.sh).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "e2e"))

parser = argparse.ArgumentParser(description="logtap dashboard load benchmark")
parser.add_argument("--build", default="build")
parser.add_argument("--preload", type=int, default=10000)
parser.add_argument("--rate", type=int, default=1000)
parser.add_argument("--seconds", type=int, default=20)
args = parser.parse_args()
os.environ["LOGTAP_BUILD"] = os.path.abspath(args.build)

from browser import Browser  # noqa: E402  (harness reads LOGTAP_BUILD on import)
from harness import PYTHON, Collector, runner_env, wait_until  # noqa: E402

RATE_APP = r"""
import sys, time
rate, seconds = int(sys.argv[1]), float(sys.argv[2])
start = time.monotonic()
sent = 0
while True:
    elapsed = time.monotonic() - start
    due = min(int(elapsed * rate), int(seconds * rate))  # exactly rate x seconds lines in all
    if sent >= due and elapsed >= seconds:
        break
    while sent < due:
        print("rate %07d %.6f" % (sent, time.time()))
        sent += 1
    sys.stdout.flush()
    time.sleep(0.005)
"""

FRAMES_JS = """(() => {
  window.__bench = { frames: [], long: [], lag: [] };
  let last = performance.now();
  const tick = (now) => { window.__bench.frames.push(now - last); last = now;
                          if (!window.__bench.done) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__bench.long.push(e.duration); })
    .observe({ type: 'longtask', buffered: false });
  window.__bench.sampler = setInterval(() => {
    const msgs = document.querySelectorAll('#main-list .row .msg');
    const lastMsg = msgs.length ? msgs[msgs.length - 1].textContent : '';
    const m = /^rate \\d+ (\\d+\\.\\d+)$/.exec(lastMsg);
    if (m) window.__bench.lag.push(Date.now() / 1000 - Number(m[1]));
  }, 500);
  return true;
})()"""

COLLECT_JS = """(() => {
  window.__bench.done = true;
  clearInterval(window.__bench.sampler);
  return { frames: window.__bench.frames.slice(1), long: window.__bench.long, lag: window.__bench.lag,
           rows: document.querySelectorAll('#main-list .row').length,
           count: document.getElementById('count').textContent,
           state: document.getElementById('stream-state').textContent,
           notices: document.querySelectorAll('#main-list .row.notice').length };
})()"""


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))] if values else float("nan")


def main():
    with Collector() as c, Browser() as browser:
        env = runner_env(c, runner_id="bench-preload")
        subprocess.run([PYTHON, "-c", "for i in range(%d): print('preload %%07d' %% i)" % args.preload],
                       env=env, check=True, stdout=subprocess.DEVNULL)

        def preloaded():
            status, doc = c.get_json("/v1/runners/bench-preload/logs", tail=1)
            return status == 200 and doc["logs"] and doc["logs"][-1]["message"] == "preload %07d" % (args.preload - 1)
        wait_until(preloaded, 60, "the preload lines stored")

        page = browser.new_page()
        page.goto(c.url + "/ui/#tail=%d" % args.preload)
        page.fill("#token", c.token)
        page.press("#token", "Enter")
        page.wait("document.getElementById('count').textContent.replace(/,/g, '').startsWith('%d ')"
                  % args.preload, 60, what="the preload lines in the page")
        page.eval(FRAMES_JS)
        rate = subprocess.Popen([PYTHON, "-c", RATE_APP, str(args.rate), str(args.seconds)],
                                env=runner_env(c, runner_id="bench-rate"), stdout=subprocess.DEVNULL)
        rate.wait(args.seconds + 60)
        time.sleep(1.0)
        got = page.eval(COLLECT_JS)
        page.close()

    frames, long_tasks, lag = got["frames"], got["long"], got["lag"]
    result = {
        "preload_lines": args.preload, "rate_lines_per_s": args.rate, "seconds": args.seconds,
        "frames": len(frames),
        "fps": round(len(frames) / (sum(frames) / 1000), 1) if frames else 0,
        "frame_ms_median": round(statistics.median(frames), 1) if frames else None,
        "frame_ms_p95": round(pct(frames, 95), 1), "frame_ms_p99": round(pct(frames, 99), 1),
        "frame_ms_max": round(max(frames), 1) if frames else None,
        "long_tasks": len(long_tasks), "long_task_ms_total": round(sum(long_tasks)),
        "lag_s_median": round(statistics.median(lag), 3) if lag else None,
        "lag_s_p95": round(pct(lag, 95), 3) if lag else None,
        "lag_s_max": round(max(lag), 3) if lag else None,
        "dom_rows": got["rows"], "list": got["count"], "state": got["state"],
        "behind_notices": got["notices"],
    }
    width = max(len(k) for k in result)
    for k, v in result.items():
        print("%-*s  %s" % (width, k, v))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
