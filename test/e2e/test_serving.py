"""Serving logs the way fal's users see them, end to end: every filter of
the API against lines real runners wrote under the preload, cursor paging
while lines keep arriving, follow streams (latency, resumption, slow
followers), retention by size and by age, and /metrics.

Timing: the follow-latency test prints what it measured and fails only on
a gross miss (seconds); bench/follow_latency.py is where latency is
measured against its target.
"""

import datetime
import subprocess
import time

from harness import (PYTHON, Collector, Follower, check, check_eq, messages, run_tests, runner_env,
                     wait_until)

# Writes lines of every level, inside and outside a request. argv: tag.
LEVELS_APP = r'''
import sys, logtap
tag = sys.argv[1]
print("%s plain stdout" % tag)
print("%s plain stderr" % tag, file=sys.stderr)
print("info: %s info line" % tag)
print("debug %s debug line" % tag)
print("TRACE %s trace line" % tag)
print("warning: %s warn line" % tag)
print("[error] %s error line" % tag, file=sys.stderr)
print('{"level": "error", "msg": "%s json error"}' % tag)
with logtap.request("req-" + tag):
    print("%s inside request" % tag)
    print("Warning %s warn inside" % tag, file=sys.stderr)
print("%s after request" % tag)
'''

LEVEL_OF = {"plain stdout": "STDOUT", "plain stderr": "STDERR", "info line": "INFO",
            "debug line": "DEBUG", "trace line": "TRACE", "warn line": "WARN", "error line": "ERROR",
            "json error": "ERROR", "inside request": "STDOUT", "warn inside": "WARN",
            "after request": "STDOUT"}
RANK = {"TRACE": 0, "DEBUG": 1, "INFO": 2, "STDOUT": 2, "WARN": 3, "STDERR": 4, "ERROR": 5}

# Numbered lines, steadily: argv: prefix, count, pause between lines (s).
SEQ_APP = r'''
import sys, time
prefix, count, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
for i in range(count):
    print("%s %06d" % (prefix, i), flush=pause > 0)
    if pause:
        time.sleep(pause)
'''


def run_app(c, source, runner_id, args, app=None, version=None, source_name="gateway", wait=True,
            **env_extra):
    env = runner_env(c, runner_id=runner_id, LOGTAP_SOURCE=source_name, **env_extra)
    if app:
        env["LOGTAP_APP_ID"] = app
    if version:
        env["LOGTAP_VERSION_ID"] = version
    p = subprocess.Popen([PYTHON, "-c", source] + [str(a) for a in args], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    if wait:
        check_eq(p.wait(120), 0, "runner %s exit" % runner_id)
    return p


def search(c, **params):
    """Every line of /v1/logs for these filters, paged with after."""
    out, after = [], 0
    while True:
        status, doc = c.get_json("/v1/logs", after=after, limit=5000, **params)
        check_eq(status, 200, "GET /v1/logs %r" % (params,))
        out.extend(doc["logs"])
        if not doc["logs"]:
            return out
        after = doc["next_after"]


def count_stored(c, **params):
    return len(search(c, **params))


def test_every_filter():
    with Collector() as c:
        run_app(c, LEVELS_APP, "r-a", ["A"], app="app-a", version="v1", source_name="gateway")
        run_app(c, LEVELS_APP, "r-b", ["B"], app="app-b", version="v2", source_name="run")
        wait_until(lambda: count_stored(c) == 22, 30, "22 lines stored")
        everything = search(c)
        for e in everything:
            tag, text = e["message"].split(" ", 1)[0], e["message"]
            kind = next(k for k in LEVEL_OF if k in text)
            check_eq(e["level"], LEVEL_OF[kind], "level of %r" % text)

        def msgs(**params):
            return sorted(messages(search(c, **params)))

        check_eq(msgs(runner="r-a"), sorted(e["message"] for e in everything if e["runner_id"] == "r-a"),
                 "runner filter")
        check_eq(len(msgs(runner="r-a")), 11, "r-a's lines")
        check_eq(msgs(app="app-b"), msgs(runner="r-b"), "app filter")
        check_eq(msgs(version="v1"), msgs(runner="r-a"), "version filter")
        check_eq(msgs(source="run"), msgs(runner="r-b"), "source filter")
        check_eq(msgs(source="deploy"), [], "source with no lines")
        check_eq(msgs(request="req-A"), ["A inside request", "Warning A warn inside"], "request filter")
        check_eq(msgs(request="req-A", level="WARN"), ["Warning A warn inside"], "request + level")
        for level in RANK:  # INFO and STDOUT rank the same
            want = sorted(e["message"] for e in everything if RANK[e["level"]] >= RANK[level])
            check_eq(msgs(level=level), want, "level >= %s" % level)
        check_eq(msgs(level="error", app="app-a"), ['[error] A error line', '{"level": "error", "msg": "A json error"}'],
                 "level is case-insensitive, combined with app")
        check_eq(msgs(search="warn"), sorted(m for m in messages(everything) if "warn" in m),
                 "search is a case-sensitive substring")
        check_eq(len(msgs(search="warn")), 4, "4 lines hold 'warn'")
        check_eq(msgs(search="json error", version="v2"), ['{"level": "error", "msg": "B json error"}'],
                 "search + version")
        # Time range: since is inclusive, until exclusive, at the stored timestamps.
        stamps = sorted(set(e["timestamp"] for e in everything))
        middle = stamps[len(stamps) // 2]
        check_eq(msgs(since=middle), sorted(e["message"] for e in everything if e["timestamp"] >= middle),
                 "since (inclusive)")
        check_eq(msgs(until=middle), sorted(e["message"] for e in everything if e["timestamp"] < middle),
                 "until (exclusive)")
        check_eq(msgs(since="1h"), sorted(messages(everything)), "since 1h")
        check_eq(msgs(until="1h"), [], "until 1h ago")
        # Newest N, oldest N, and paging backwards with before.
        ids = [e["id"] for e in everything]
        status, doc = c.get_json("/v1/logs", tail=5)
        check_eq([e["id"] for e in doc["logs"]], ids[-5:], "tail=5 (newest, in order)")
        status, doc = c.get_json("/v1/logs", limit=5)
        check_eq([e["id"] for e in doc["logs"]], ids[:5], "limit=5 (oldest)")
        back, before = [], 0
        while True:
            params = {"tail": 4}
            if before:
                params["before"] = before
            status, doc = c.get_json("/v1/logs", **params)
            if not doc["logs"]:
                break
            back = [e["id"] for e in doc["logs"]] + back
            before = doc["prev_before"]
        check_eq(back, ids, "paging backwards with tail and before")
        # The scoped endpoints take the same filters.
        status, doc = c.get_json("/v1/runners/r-b/logs", level="ERROR")
        check_eq(sorted(messages(doc["logs"])), ['[error] B error line', '{"level": "error", "msg": "B json error"}'],
                 "runner logs + level")
        status, doc = c.get_json("/v1/requests/req-B/logs", search="warn")
        check_eq(messages(doc["logs"]), ["Warning B warn inside"], "request logs + search")


def test_paging_stays_exact_while_lines_arrive():
    with Collector() as c:
        total = 20000
        p = run_app(c, SEQ_APP, "r-seq", ["seq", total, 0.0001], wait=False)
        got, after, pages = [], 0, 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status, doc = c.get_json("/v1/runners/r-seq/logs", after=after, limit=700)
            if status == 404 and pages == 0:  # the runner has not been seen yet
                time.sleep(0.05)
                continue
            check_eq(status, 200, "page status")
            pages += 1
            got.extend(doc["logs"])
            after = doc["next_after"]
            if p.poll() is not None and not doc["logs"] and len(got) >= total:
                break
            if not doc["logs"]:
                time.sleep(0.02)
        check_eq(p.wait(60), 0, "runner exit")
        ids = [e["id"] for e in got]
        check(all(a < b for a, b in zip(ids, ids[1:])), "ids strictly increase across pages")
        check_eq(messages(got), ["seq %06d" % i for i in range(total)], "every line once, in order")
        print("  %d lines in %d pages while the runner wrote" % (len(got), pages))


def test_follow_latency_and_resume():
    with Collector() as c:
        # Latency: one line every 50 ms; each entry carries its write time.
        run_app(c, SEQ_APP, "r-lat", ["known", 1, 0])
        wait_until(lambda: c.get_json("/v1/runners/r-lat/logs")[0] == 200, 30, "r-lat known")
        arrivals = {}  # message -> seconds from write to arrival (sampled after arrival)
        f = Follower(c, "/v1/runners/r-lat/logs", tail=0)
        p = run_app(c, SEQ_APP, "r-lat", ["live", 20, 0.05], wait=False)
        seen = 0
        while seen < 20:
            f.wait_for(lambda ev: len(ev) > seen, 30, "next live line")
            now = time.time()
            for _, _, d in f.snapshot()[seen:]:
                written = datetime.datetime.fromisoformat(d["timestamp"].replace("Z", "+00:00"))
                arrivals[d["message"]] = now - written.timestamp()
            seen = len(f.snapshot())
        p.wait(60)
        f.stop()
        lat = sorted(arrivals.values())
        print("  follow latency over %d lines: median %.1f ms, max %.1f ms (upper bounds: sampled "
              "after arrival)" % (len(lat), 1000 * lat[len(lat) // 2], 1000 * lat[-1]))
        check(lat[-1] < 2.0, "a followed line arrived %.2f s after its write" % lat[-1])

        # Resume: a stream cut mid-way and resumed with Last-Event-ID misses
        # nothing and repeats nothing.
        p = run_app(c, SEQ_APP, "r-res", ["res", 3000, 0.0005], wait=False)
        wait_until(lambda: c.get_json("/v1/runners/r-res/logs")[0] == 200, 30, "r-res known")
        f = Follower(c, "/v1/runners/r-res/logs")
        f.wait_for(lambda ev: len(ev) >= 500, 30, "first 500 lines")
        f.stop()
        first = f.logs()
        last_id = first[-1]["id"]
        check_eq(p.wait(60), 0, "runner exit")
        wait_until(lambda: count_stored(c, runner="r-res") == 3000, 30, "all of r-res stored")
        g = Follower(c, "/v1/runners/r-res/logs", headers={"Last-Event-ID": str(last_id)})
        g.wait_for(lambda ev: len(ev) >= 3000 - len(first), 30, "the rest after resuming")
        time.sleep(0.3)
        g.stop()
        both = messages(first) + messages(g.logs())
        check_eq(both, ["res %06d" % i for i in range(3000)], "resumed stream: no gap, no repeat")


def test_slow_follower_does_not_stall_ingestion():
    with Collector() as c:
        run_app(c, SEQ_APP, "r-slow", ["warm", 1, 0])
        wait_until(lambda: count_stored(c) == 1, 30, "warm-up line stored")
        # Two followers that read nothing: one that may skip, one that may not.
        skipper = Follower(c, "/v1/logs", read=False, max_lag=2000)
        keeper = Follower(c, "/v1/logs", read=False)
        total = 30000
        started = time.monotonic()
        run_app(c, SEQ_APP, "r-slow", ["slow", total, 0], LOGTAP_RING_SIZE="64M")
        wait_until(lambda: count_stored(c, search="slow ") == total, 60, "every line stored")
        stored_in = time.monotonic() - started
        m = c.metrics()
        check_eq(m["logtap_followers"], 2.0, "two followers open")
        check_eq(m.get('logtap_bytes_dropped_total{reason="in_runner"}', 0.0), 0.0, "nothing dropped")
        print("  %d lines stored in %.2f s with two stalled followers" % (total, stored_in))
        # Now they read, after a pause long enough to mark them slow (the
        # server judges a reader by how long its output takes to drain).
        # The skipper is told it fell behind and skips ahead.
        time.sleep(2.5)
        skipper.read_now()
        keeper.read_now()
        skipper.wait_for(lambda ev: any(t == "behind" for t, _, _ in ev), 30, "behind event")
        behind = [d for t, _, d in skipper.snapshot() if t == "behind"][0]
        check(behind["resume_after"] > behind["skipped_after"], "behind event %r" % behind)
        event_id = [i for t, i, _ in skipper.snapshot() if t == "behind"][0]
        check_eq(event_id, str(behind["resume_after"]), "a behind event's id resumes after the skip")
        # The keeper gets every line, in order.
        keeper.wait_for(lambda ev: len(ev) >= total + 1, 60, "keeper receives everything")
        check_eq(messages(keeper.logs()), ["warm 000000"] + ["slow %06d" % i for i in range(total)],
                 "a slow follower without max_lag loses nothing")
        run_app(c, SEQ_APP, "r-slow", ["after", 3, 0])
        skipper.wait_for(lambda ev: "after 000002" in messages([d for t, _, d in ev if t == "log"]), 30,
                         "skipper goes on after skipping")
        check(c.metrics()["logtap_followers_behind_total"] >= 1, "followers_behind counted")
        skipper.stop()
        keeper.stop()


def test_fast_follower_with_max_lag_reads_a_burst_whole():
    with Collector() as c:
        run_app(c, SEQ_APP, "r-burst", ["warm", 1, 0])
        wait_until(lambda: count_stored(c) == 1, 30, "warm-up line stored")
        f = Follower(c, "/v1/logs", max_lag=2000)
        total = 20000
        run_app(c, SEQ_APP, "r-burst", ["burst", total, 0], LOGTAP_RING_SIZE="64M")
        f.wait_for(lambda ev: len(ev) >= total + 1, 60, "the whole burst")
        f.stop()
        check_eq([t for t, _, _ in f.snapshot() if t != "log"], [], "no behind event for a reader that keeps up")
        check_eq(messages(f.logs()), ["warm 000000"] + ["burst %06d" % i for i in range(total)],
                 "every line of the burst")


def test_retention_by_size_and_age():
    with Collector(args=["--retain-size", "1M"]) as c:
        total = 40000
        run_app(c, SEQ_APP, "r-big", ["x" * 80, total, 0], LOGTAP_RING_SIZE="64M")
        wait_until(lambda: c.metrics()["logtap_lines_stored_total"] >= total, 60, "every line stored")
        def settled():  # retention done: nothing more expires across a reaper period
            before = c.metrics()
            time.sleep(1.5)
            after = c.metrics()
            done = (after["logtap_lines_expired_total"] > 0 and
                    after["logtap_lines_expired_total"] == before["logtap_lines_expired_total"] and
                    after["logtap_store_live_bytes"] <= 1.3 * 1024 * 1024)
            return after if done else None
        m = wait_until(settled, 60, "retention brings the store near 1 MiB and stops")
        kept = search(c, runner="r-big")
        check(0 < len(kept) < total, "some lines kept, the oldest gone (%d kept)" % len(kept))
        check_eq(kept[-1]["message"], "x" * 80 + " %06d" % (total - 1), "the newest line kept")
        numbers = [int(e["message"].split()[-1]) for e in kept]
        check_eq(numbers, list(range(total - len(kept), total)), "what is kept is the newest, contiguous")
        check_eq(m["logtap_lines_expired_total"] + len(kept), float(total), "expired + kept = written")
        print("  kept %d of %d lines, store %.0f KiB" % (len(kept), total, m["logtap_store_live_bytes"] / 1024))

    with Collector(args=["--retain-age", "3s"]) as c:
        run_app(c, SEQ_APP, "r-age", ["old", 100, 0])
        wait_until(lambda: count_stored(c, runner="r-age") == 100, 30, "old lines stored")
        time.sleep(1.5)
        run_app(c, SEQ_APP, "r-age", ["new", 100, 0])
        wait_until(lambda: count_stored(c, search="old ") == 0, 30, "old lines expire")
        check_eq(count_stored(c, search="new "), 100, "new lines still there")
        wait_until(lambda: count_stored(c, search="new ") == 0, 30, "new lines expire in turn")


def test_metrics_families():
    with Collector() as c:
        run_app(c, LEVELS_APP, "r-m", ["M"])
        wait_until(lambda: count_stored(c) == 11, 30, "lines stored")
        f = Follower(c, "/v1/logs")
        f.wait_for(lambda ev: len(ev) >= 11, 10, "backlog")
        status, body, headers = c.get("/metrics")
        check_eq(status, 200, "/metrics")
        text = body.decode()
        for needle in ("logtap_frames_received_total ", "logtap_lines_stored_total 11",
                       "logtap_bytes_received_total ", 'logtap_frames_dropped_total{reason="malformed"} 0',
                       'logtap_bytes_dropped_total{reason="in_runner"} 0',
                       "# TYPE logtap_store_commit_seconds histogram",
                       'logtap_store_commit_seconds_bucket{le="+Inf"} ', "logtap_store_pending_lines ",
                       "logtap_acks_pending ", "logtap_partial_lines ", "logtap_followers 1",
                       "logtap_store_live_bytes ", "logtap_http_unauthorized_total "):
            check(needle in text, "/metrics has %r" % needle)
        m = c.metrics()
        check(m["logtap_store_commit_seconds_count"] >= 1, "commits counted")
        f.stop()


if __name__ == "__main__":
    run_tests([test_every_filter, test_paging_stays_exact_while_lines_arrive,
               test_follow_latency_and_resume, test_slow_follower_does_not_stall_ingestion,
               test_fast_follower_with_max_lag_reads_a_burst_whole,
               test_retention_by_size_and_age, test_metrics_families])
