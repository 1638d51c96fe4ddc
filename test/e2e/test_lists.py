"""The lists of runners and requests (GET /v1/runners, GET /v1/requests,
`logtap runners list`, `logtap requests list`), end to end: a real
collector, real runners under the preload beginning and ending real
requests, the real HTTP API and CLI.

Every filter (repeated ones meaning "any of"), the validation of bad
values, paging with the opaque cursor while new runners and requests
appear (no row skipped or repeated), and the CLI's table and JSON. Who
sees which rows is in test_access.py (test_lists_matrix).
"""

import json
import os
import subprocess
import time
import urllib.parse

from cli_support import cli, cli_ok, json_lines
from harness import PYTHON, Collector, check, check_eq, run_tests, runner_env, wait_until

# argv: hold file ("-": none), then request_id:caller pairs; the last
# request is held open until the hold file exists.
RUNNER = r'''
import os, sys, time
import logtap
hold, specs = sys.argv[1], sys.argv[2:]
print("setup", flush=True)
for i, spec in enumerate(specs):
    rid, caller = spec.split(":")
    with logtap.request(rid, caller=caller or None):
        print("inside %s" % rid, flush=True)
        print("more of %s" % rid, flush=True)
        if i == len(specs) - 1:
            while hold != "-" and not os.path.exists(hold):
                time.sleep(0.02)
print("done", flush=True)
'''


def start_runner(c, runner_id, app, version, source, specs, hold="-"):
    env = runner_env(c, runner_id=runner_id, LOGTAP_APP_ID=app, LOGTAP_VERSION_ID=version, LOGTAP_SOURCE=source)
    return subprocess.Popen([PYTHON, "-c", RUNNER, hold] + list(specs), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)


def get_list(c, kind, params=(), token=Collector.ADMIN):
    status, body, _ = c.request("GET", "/v1/" + kind, token=token, params=list(params))
    return status, json.loads(body) if body else None


def ids(c, kind, params=()):
    status, doc = get_list(c, kind, params)
    check_eq(status, 200, "GET /v1/%s %r" % (kind, list(params)))
    key = "runner_id" if kind == "runners" else "request_id"
    return [item[key] for item in doc[kind]]


class World:
    """Three runners: r-a1 (app a1, v1, gateway) serving q-a1 (called by bob)
    and q-a2 (carol); r-b (app b, v2, run) serving q-b (bob); r-c (app a1, v2,
    deploy) serving q-c (no caller), held open. Started one after another,
    so that newest first is r-c, r-b, r-a1."""

    def __init__(self, c):
        self.c = c
        self.hold = os.path.join(c.workdir, "release")
        for args in (("r-a1", "a1", "v1", "gateway", ["q-a1:bob", "q-a2:carol"]),
                     ("r-b", "b", "v2", "run", ["q-b:bob"])):
            check_eq(start_runner(c, *args).wait(60), 0, "runner %s exit" % args[0])
            time.sleep(0.05)  # distinct start times, whatever the clock's grain
        self.held = start_runner(c, "r-c", "a1", "v2", "deploy", ["q-c:"], self.hold)
        wait_until(lambda: len(ids(c, "requests")) == 4 and len(ids(c, "runners")) == 3, 30,
                   "every runner and request listed")
        wait_until(lambda: all(r["lines"] == 2 for r in get_list(c, "requests")[1]["requests"]), 30,
                   "every request's lines stored")

    def release(self):
        open(self.hold, "w").close()
        check_eq(self.held.wait(60), 0, "held runner exit")


def test_fields_and_order():
    with Collector() as c:
        w = World(c)
        status, doc = get_list(c, "runners")
        check_eq(status, 200, "GET /v1/runners")
        check_eq(sorted(doc), ["next_cursor", "runners"], "runner list keys")
        check_eq(doc["next_cursor"], None, "a short page has no next_cursor")
        check_eq([r["runner_id"] for r in doc["runners"]], ["r-c", "r-b", "r-a1"], "runners newest first")
        r = doc["runners"][2]
        check_eq(sorted(r), sorted(["runner_id", "app_id", "version_id", "source", "state", "started",
                                    "last_seen", "ended", "lines"]), "runner fields")
        check_eq((r["app_id"], r["version_id"], r["source"], r["state"], r["ended"], r["lines"]),
                 ("a1", "v1", "gateway", None, None, 6), "r-a1's row")
        check(r["started"] <= r["last_seen"], "started %s <= last_seen %s" % (r["started"], r["last_seen"]))

        status, doc = get_list(c, "requests")
        check_eq([q["request_id"] for q in doc["requests"]], ["q-c", "q-b", "q-a2", "q-a1"],
                 "requests newest first")
        by_id = {q["request_id"]: q for q in doc["requests"]}
        q = by_id["q-a1"]
        check_eq(sorted(q), sorted(["request_id", "runner_id", "app_id", "version_id", "source", "caller",
                                    "state", "started", "ended", "lines", "error", "error_type",
                                    "queue_position"]), "request fields")
        check_eq((q["runner_id"], q["app_id"], q["version_id"], q["source"], q["caller"], q["state"], q["lines"],
                  q["error"], q["error_type"], q["queue_position"]),
                 ("r-a1", "a1", "v1", "gateway", "bob", "COMPLETED", 2, None, None, None), "q-a1's row")
        check(q["started"] <= q["ended"], "q-a1 started before it ended")
        check_eq((by_id["q-c"]["state"], by_id["q-c"]["ended"], by_id["q-c"]["caller"]),
                 ("IN_PROGRESS", None, None), "q-c is in progress, no caller")
        w.release()
        wait_until(lambda: ids(c, "requests", [("state", "COMPLETED")])[:1] == ["q-c"], 30, "q-c completes")


def test_every_filter():
    with Collector() as c:
        w = World(c)
        cases = [
            ("runners", [("app", "a1")], ["r-c", "r-a1"]),
            ("runners", [("app", "a1"), ("app", "b")], ["r-c", "r-b", "r-a1"]),
            ("runners", [("app", "nope")], []),
            ("runners", [("version", "v2")], ["r-c", "r-b"]),
            ("runners", [("version", "v1"), ("app", "b")], []),
            ("runners", [("source", "run")], ["r-b"]),
            ("runners", [("source", "run"), ("source", "deploy")], ["r-c", "r-b"]),
            ("runners", [("since", "1h")], ["r-c", "r-b", "r-a1"]),
            ("runners", [("until", "1h")], []),
            ("runners", [("since", "2000-01-01"), ("until", "2000-01-02")], []),
            ("requests", [("app", "a1")], ["q-c", "q-a2", "q-a1"]),
            ("requests", [("app", "b"), ("app", "a1")], ["q-c", "q-b", "q-a2", "q-a1"]),
            ("requests", [("version", "v1")], ["q-a2", "q-a1"]),
            ("requests", [("source", "run")], ["q-b"]),
            ("requests", [("source", "gateway"), ("source", "deploy")], ["q-c", "q-a2", "q-a1"]),
            ("requests", [("state", "IN_PROGRESS")], ["q-c"]),
            ("requests", [("state", "completed")], ["q-b", "q-a2", "q-a1"]),
            ("requests", [("state", "COMPLETED"), ("state", "IN_PROGRESS")], ["q-c", "q-b", "q-a2", "q-a1"]),
            ("requests", [("caller", "bob")], ["q-b", "q-a1"]),
            ("requests", [("caller", "bob"), ("caller", "carol")], ["q-b", "q-a2", "q-a1"]),
            ("requests", [("runner", "r-a1")], ["q-a2", "q-a1"]),
            ("requests", [("runner", "r-a1"), ("runner", "r-c")], ["q-c", "q-a2", "q-a1"]),
            ("requests", [("caller", "bob"), ("app", "a1")], ["q-a1"]),
            ("requests", [("since", "1h")], ["q-c", "q-b", "q-a2", "q-a1"]),
            ("requests", [("until", "1h")], []),
        ]
        for kind, params, want in cases:
            check_eq(ids(c, kind, params), want, "GET /v1/%s %r" % (kind, params))
        # since/until bound the start: the newest runner's own start.
        newest = get_list(c, "runners")[1]["runners"][0]
        check_eq(ids(c, "runners", [("since", newest["started"])]), ["r-c"], "since the newest start")
        check_eq(ids(c, "runners", [("until", newest["started"])]), ["r-b", "r-a1"], "until the newest start")
        bad = [
            ("runners", [("state", "IN_PROGRESS")], "unknown parameter state"),
            ("runners", [("caller", "bob")], "unknown parameter caller"),
            ("runners", [("source", "cron")], "bad source"),
            ("runners", [("app", "a/b")], "bad app"),
            ("runners", [("since", "yesterday")], "bad since"),
            ("runners", [("since", "1h"), ("until", "2h")], "bad since: it is not before until"),
            ("requests", [("state", "DONE")], "bad state"),
            ("requests", [("limit", "0")], "bad limit"),
            ("requests", [("cursor", "zz")], "bad cursor"),
            ("requests", [("cursor", "31")], "bad cursor"),
            ("requests", [("app", "x%d" % i) for i in range(17)], "bad app: at most 16 values"),
        ]
        for kind, params, want in bad:
            status, doc = get_list(c, kind, params)
            check_eq(status, 400, "GET /v1/%s %r status" % (kind, params))
            check(doc["error"].startswith(want), "GET /v1/%s %r: %r" % (kind, params, doc["error"]))
        w.release()


def page_all(c, kind, limit, between_pages=None):
    key = "runner_id" if kind == "runners" else "request_id"
    seen, cursor, pages = [], None, 0
    while True:
        params = [("limit", str(limit))] + ([("cursor", cursor)] if cursor else [])
        status, doc = get_list(c, kind, params)
        check_eq(status, 200, "page %d of %s" % (pages, kind))
        check(len(doc[kind]) <= limit, "a page holds at most limit rows")
        seen += [item[key] for item in doc[kind]]
        pages += 1
        cursor = doc["next_cursor"]
        if cursor is None:
            return seen, pages
        check(len(doc[kind]) == limit, "a page with a next_cursor is full")
        if between_pages:
            between_pages(pages)


def test_paging_while_rows_appear():
    with Collector() as c:
        # 12 runners of one request each, listed 5 at a time, while 6 more
        # runners (and their requests) appear between the pages.
        procs = [start_runner(c, "p-%02d" % i, "app", "v1", "gateway", ["pq-%02d:bob" % i]) for i in range(12)]
        for p in procs:
            check_eq(p.wait(60), 0, "runner exit")
        wait_until(lambda: len(ids(c, "requests", [("limit", "100")])) == 12, 30, "12 requests listed")
        before_runners = ids(c, "runners", [("limit", "100")])
        before_requests = ids(c, "requests", [("limit", "100")])
        extra = iter(range(100, 106))

        def add_rows(page):
            i = next(extra, None)
            if i is None:
                return
            check_eq(start_runner(c, "p-%d" % i, "app", "v1", "gateway", ["pq-%d:bob" % i]).wait(60), 0,
                     "new runner exit")
            wait_until(lambda: "pq-%d" % i in ids(c, "requests", [("limit", "100")]), 30, "pq-%d listed" % i)

        for kind, before in (("runners", before_runners), ("requests", before_requests)):
            seen, pages = page_all(c, kind, 5, add_rows)
            check_eq(len(seen), len(set(seen)), "no %s repeated across pages" % kind)
            check_eq([x for x in seen if x in before], before, "every %s listed before, once, in order" % kind)
            check(pages >= 3, "%s took %d pages" % (kind, pages))
        # The cursor, taken back and given again, gives the same page.
        status, first = get_list(c, "runners", [("limit", "4")])
        again = [get_list(c, "runners", [("limit", "4"), ("cursor", first["next_cursor"])])[1]["runners"]
                 for _ in range(2)]
        check_eq(again[0], again[1], "a cursor names the same page each time")
        check_eq(len(again[0]), 4, "the second page is full")


def test_cli_lists():
    with Collector() as c:
        w = World(c)
        out = cli_ok(c, "runners", "list").decode()
        lines = out.splitlines()
        check_eq(lines[0].split(), ["RUNNER", "APP", "VERSION", "SOURCE", "STARTED", "LAST-SEEN", "LINES"],
                 "runners list header")
        check_eq([l.split()[0] for l in lines[1:]], ["r-c", "r-b", "r-a1"], "runners list rows")
        check_eq(lines[3].split()[1:4] + lines[3].split()[6:], ["a1", "v1", "gateway", "6"], "r-a1's row")

        out = cli_ok(c, "requests", "list", "--caller", "bob", "--caller", "carol", "--app", "a1").decode()
        lines = out.splitlines()
        check_eq(lines[0].split(), ["REQUEST", "STATE", "APP", "VERSION", "RUNNER", "CALLER", "STARTED", "ENDED",
                                    "LINES"], "requests list header")
        check_eq([l.split()[:6] for l in lines[1:]],
                 [["q-a2", "COMPLETED", "a1", "v1", "r-a1", "carol"], ["q-a1", "COMPLETED", "a1", "v1", "r-a1", "bob"]],
                 "requests list rows")
        rows = json_lines(cli_ok(c, "requests", "list", "--state", "IN_PROGRESS", "-o", "json"))
        check_eq([(r["request_id"], r["ended"], r["caller"]) for r in rows], [("q-c", None, None)],
                 "-o json --state IN_PROGRESS")
        rows = json_lines(cli_ok(c, "runners", "list", "--json", "--source", "run", "--source", "deploy"))
        check_eq([r["runner_id"] for r in rows], ["r-c", "r-b"], "--json, --source any of")
        rows = json_lines(cli_ok(c, "requests", "list", "--runner", "r-a1", "--version", "v1", "--json",
                                 "--since", "1h"))
        check_eq([r["request_id"] for r in rows], ["q-a2", "q-a1"], "--runner --version --since")
        # -n pages through the cursor; --all takes everything.
        rows = json_lines(cli_ok(c, "requests", "list", "-n", "3", "--json"))
        check_eq([r["request_id"] for r in rows], ["q-c", "q-b", "q-a2"], "-n 3")
        rows = json_lines(cli_ok(c, "requests", "list", "--all", "--json"))
        check_eq(len(rows), 4, "--all")
        for args, want in [
            (("runners", "list", "--since", "1h", "--until", "2h"),
             "logtap: --since '1h' is not before --until '2h'\nTry 'logtap runners list --help'.\n"),
            (("runners", "list", "--state", "COMPLETED"),
             "logtap: --state applies to 'logtap requests list' only\nTry 'logtap runners list --help'.\n"),
            (("requests", "list", "--state", "DONE"),
             "logtap: invalid --state 'DONE': use IN_QUEUE, IN_PROGRESS or COMPLETED\nTry 'logtap requests list --help'.\n"),
            (("requests", "list", "--source", "cron"),
             "logtap: invalid --source 'cron': use run, gateway or deploy\nTry 'logtap requests list --help'.\n"),
            (("requests", "list", "-n", "0"),
             "logtap: invalid --limit '0': use a number of at least 1\nTry 'logtap requests list --help'.\n"),
            (("requests", "list", "extra"),
             "logtap: unexpected argument 'extra'\nTry 'logtap requests list --help'.\n"),
        ]:
            p = cli(c, *args)
            check_eq((p.returncode, p.stdout, p.stderr.decode()), (2, b"", want), "logtap %s" % " ".join(args))
        w.release()


if __name__ == "__main__":
    run_tests([test_fields_and_order, test_every_filter, test_paging_while_rows_appear, test_cli_lists])
