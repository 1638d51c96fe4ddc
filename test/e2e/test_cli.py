"""End to end: the `logtap` CLI against a real collector.

Every log line here is written by a real runner started with `logtap run`
(so liblogtap.so is found and preloaded by the CLI itself), travels over real
ZeroMQ into a real logtap-collector with a real SQLite store, and is read
back with the real CLI over HTTP. The tests assert exact output: the text
columns, the JSON fields and values, the selection flags, follow, the exit
codes and messages of the error paths, and how hostile log text is shown.
"""

import datetime
import json
import os
import re
import signal
import subprocess
import time

from cli_support import (JSON_FIELDS, PIPE, UNREACHABLE, UNREACHABLE_RE, Follower, check_lines, cli, cli_ok,
                         expected_text, finish, fmt_ts, gated_runner, json_lines, logtap_run, parse_ts, run_env,
                         run_on_pty, run_py, stored, text_messages, text_rows)
from harness import (BUILD, CLI, PYTHON, Collector, TestFailure, check, check_eq, messages, plain_env,
                     run_tests, wait_until)


# --------------------------------------------------------------------------
# Text output, scopes
# --------------------------------------------------------------------------

TEXT_SCRIPT = r"""
import sys, logtap
print("setup out", flush=True)
print("setup err", file=sys.stderr, flush=True)
with logtap.request("req-text-1"):
    print("req1 out", flush=True)
    print("req1 err", file=sys.stderr, flush=True)
print("between", flush=True)
with logtap.request("req-text-2"):
    print("req2 out\twith a tab", flush=True)
print("teardown err", file=sys.stderr, flush=True)
"""


def test_text_format_runner_and_request_scopes():
    want = [("stdout", "-", "setup out"), ("stderr", "-", "setup err"),
            ("stdout", "req-text-1", "req1 out"), ("stderr", "req-text-1", "req1 err"),
            ("stdout", "-", "between"), ("stdout", "req-text-2", "req2 out\twith a tab"),
            ("stderr", "-", "teardown err")]
    with Collector() as c:
        r = run_py(c, "runner-text", TEXT_SCRIPT)
        check_eq(r.out, b"setup out\nreq1 out\nbetween\nreq2 out\twith a tab\n", "runner stdout")
        check_eq(r.err, b"setup err\nreq1 err\nteardown err\n", "runner stderr")
        api = stored(c, "runners", "runner-text", len(want))

        out = cli_ok(c, "runners", "logs", "runner-text")
        rows = text_rows(out)
        check_eq([row[1:] for row in rows], want, "runners logs: STREAM REQUEST MESSAGE columns")
        stamps = [parse_ts(row[0]) for row in rows]
        for ts in stamps:
            check(r.start - 0.01 <= ts <= r.end + 0.01,
                  "timestamp %f outside the run's window [%f, %f]" % (ts, r.start, r.end))
        check_eq(stamps, sorted(stamps), "timestamps of one thread in write order")
        check_eq([row[0] for row in rows], [e["timestamp"] for e in api], "text timestamps = API timestamps")
        check_eq(out, expected_text(api), "runners logs text output")

        # The same through LOGTAP_SERVER, and with --server after the command.
        check_eq(cli_ok(c, "runners", "logs", "runner-text", server=False,
                        env=plain_env(LOGTAP_SERVER=c.url)), out, "output with LOGTAP_SERVER")
        check_eq(cli_ok(c, "runners", "logs", "runner-text", "--server", c.url, server=False,
                        env=plain_env(LOGTAP_SERVER=UNREACHABLE)), out,
                 "output with --server after the command (overriding LOGTAP_SERVER)")

        # Request scope: only that request's lines, same timestamps.
        check_eq(cli_ok(c, "requests", "logs", "req-text-1"), expected_text(api[2:4]), "requests logs req-text-1")
        check_eq(cli_ok(c, "requests", "logs", "req-text-2"), expected_text(api[5:6]), "requests logs req-text-2")

        # --raw: just the messages, byte for byte.
        check_eq(cli_ok(c, "runners", "logs", "runner-text", "--raw"),
                 "".join(m + "\n" for _, _, m in want).encode(), "runners logs --raw")


# --------------------------------------------------------------------------
# JSON output
# --------------------------------------------------------------------------

JSON_SCRIPT = r"""
import os, sys, threading, logtap
print("main pid=%d tid=%d" % (os.getpid(), threading.get_native_id()), flush=True)
def worker():
    with logtap.request("req-json"):
        print("worker tid=%d" % threading.get_native_id(), flush=True)
        print("ERROR: worker failed", file=sys.stderr, flush=True)
t = threading.Thread(target=worker)
t.start()
t.join()
print("warning: disk low", file=sys.stderr, flush=True)
print('{"level": "debug", "msg": "structured"}', flush=True)
print("plain err", file=sys.stderr, flush=True)
"""


def test_json_output_fields_and_values():
    with Collector() as c:
        r = run_py(c, "runner-json", JSON_SCRIPT, app="app-json", version="v-json-7")
        out_lines = r.out.decode().splitlines()
        m = re.fullmatch(r"main pid=(\d+) tid=(\d+)", out_lines[0])
        check(m is not None, "first line of the runner: %r" % out_lines[0])
        pid, main_tid = int(m.group(1)), int(m.group(2))
        m = re.fullmatch(r"worker tid=(\d+)", out_lines[1])
        check(m is not None, "second line of the runner: %r" % out_lines[1])
        worker_tid = int(m.group(1))
        check(worker_tid != main_tid, "worker thread has its own tid")

        def entry(message, level, stream, request, tid):
            return {"message": message, "level": level, "stream": stream, "source": "run",
                    "runner_id": "runner-json", "request_id": request, "app_id": "app-json",
                    "version_id": "v-json-7", "pid": pid, "tid": tid}
        want = [
            entry(out_lines[0], "STDOUT", "stdout", None, main_tid),
            entry(out_lines[1], "STDOUT", "stdout", "req-json", worker_tid),
            entry("ERROR: worker failed", "ERROR", "stderr", "req-json", worker_tid),
            entry("warning: disk low", "WARN", "stderr", None, main_tid),
            entry('{"level": "debug", "msg": "structured"}', "DEBUG", "stdout", None, main_tid),
            entry("plain err", "STDERR", "stderr", None, main_tid),
        ]
        stored(c, "runners", "runner-json", len(want))

        got = json_lines(cli_ok(c, "runners", "logs", "runner-json", "--output", "json"))
        check_eq(len(got), len(want), "number of JSON lines")
        for obj in got:
            check_eq(set(obj), JSON_FIELDS, "JSON fields of %r" % obj.get("message"))
        check_eq([{k: v for k, v in o.items() if k not in ("id", "timestamp")} for o in got], want,
                 "JSON entries (all fields but id and timestamp)")
        ids = [o["id"] for o in got]
        check(all(isinstance(i, int) for i in ids) and ids == sorted(set(ids)), "ids ascending: %r" % ids)
        for o in got:
            ts = parse_ts(o["timestamp"])
            check(r.start - 0.01 <= ts <= r.end + 0.01, "timestamp %s outside the run's window" % o["timestamp"])

        # Request scope in JSON: exactly the runner-scope objects of that request.
        req = json_lines(cli_ok(c, "requests", "logs", "req-json", "--output", "json"))
        check_eq(req, got[1:3], "requests logs req-json --output json")
        # JSON and text agree.
        check_eq(cli_ok(c, "runners", "logs", "runner-json"), expected_text(got), "text output of the same entries")


# --------------------------------------------------------------------------
# Selection: -n, --search, --since/--until, paging
# --------------------------------------------------------------------------

N_SCRIPT = r"""
import logtap
for i in range(40):
    print(("match %02d" if i % 7 == 0 else "line %02d") % i, flush=True)
with logtap.request("req-n"):
    for i in range(40, 50):
        print(("match %02d" if i % 7 == 0 else "line %02d") % i, flush=True)
"""


def test_lines_newest_and_oldest():
    all_msgs = [("match %02d" if i % 7 == 0 else "line %02d") % i for i in range(50)]
    matches = [m for m in all_msgs if m.startswith("match")]
    with Collector() as c:
        run_py(c, "runner-n", N_SCRIPT)
        stored(c, "runners", "runner-n", 50)

        def msgs(*args):
            return text_messages(cli_ok(c, *args))
        check_eq(msgs("runners", "logs", "runner-n"), all_msgs, "no -n: every line")
        check_eq(msgs("runners", "logs", "runner-n", "-n", "5"), all_msgs[-5:], "-n 5")
        check_eq(msgs("runners", "logs", "runner-n", "--lines", "5"), all_msgs[-5:], "--lines 5")
        check_eq(msgs("runners", "logs", "runner-n", "--lines=5"), all_msgs[-5:], "--lines=5")
        check_eq(msgs("runners", "logs", "runner-n", "-n", "+5"), all_msgs[:5], "-n +5")
        check_eq(msgs("runners", "logs", "runner-n", "-n", "1"), all_msgs[-1:], "-n 1")
        check_eq(msgs("runners", "logs", "runner-n", "-n", "+1"), all_msgs[:1], "-n +1")
        check_eq(msgs("runners", "logs", "runner-n", "-n", "0"), [], "-n 0")
        check_eq(msgs("runners", "logs", "runner-n", "-n", "50"), all_msgs, "-n 50")
        check_eq(msgs("runners", "logs", "runner-n", "-n", "1000"), all_msgs, "-n 1000")
        check_eq(msgs("runners", "logs", "runner-n", "-n", "+1000"), all_msgs, "-n +1000")
        check_eq(msgs("runners", "logs", "runner-n", "-n", "3", "--search", "match"), matches[-3:],
                 "-n 3 --search match")
        check_eq(msgs("runners", "logs", "runner-n", "-n", "+2", "--search", "match"), matches[:2],
                 "-n +2 --search match")
        check_eq(msgs("requests", "logs", "req-n", "-n", "3"), all_msgs[-3:], "requests logs -n 3")
        check_eq(msgs("requests", "logs", "req-n", "-n", "+3"), all_msgs[40:43], "requests logs -n +3")
        check_eq([o["message"] for o in json_lines(cli_ok(c, "runners", "logs", "runner-n", "-n", "2",
                                                          "--output", "json"))],
                 all_msgs[-2:], "-n 2 --output json")


SEARCH_SCRIPT = r"""
import os, logtap
for line in ["100% done", "a_b", "axb", "Case Sensitive", "case sensitive",
             "a+b c&d=e #frag 'q' \"dq\" \\back", "unicode caf\u00e9 \u2603", "needle two"]:
    os.write(1, (line + "\n").encode())
with logtap.request("req-search"):
    os.write(1, b"needle one\n")
    os.write(1, b"hay\n")
"""


def test_search():
    weird = "a+b c&d=e #frag 'q' \"dq\" \\back"
    with Collector() as c:
        run_py(c, "runner-search", SEARCH_SCRIPT)
        stored(c, "runners", "runner-search", 10)

        def found(text, scope="runners", ident="runner-search"):
            return text_messages(cli_ok(c, scope, "logs", ident, "--search", text))
        check_eq(found("%"), ["100% done"], "--search % (literal, not a wildcard)")
        check_eq(found("_"), ["a_b"], "--search _ (literal, not a wildcard)")
        check_eq(found("Case"), ["Case Sensitive"], "--search is case-sensitive (Case)")
        check_eq(found("case"), ["case sensitive"], "--search is case-sensitive (case)")
        check_eq(found(weird), [weird], "--search with URL and shell metacharacters")
        check_eq(found("+"), [weird], "--search +")
        check_eq(found("\u2603"), ["unicode caf\u00e9 \u2603"], "--search non-ASCII")
        check_eq(found("needle"), ["needle two", "needle one"], "--search needle (runner scope)")
        check_eq(found("needle", "requests", "req-search"), ["needle one"], "--search needle (request scope)")
        p = cli(c, "runners", "logs", "runner-search", "--search", "no such text")
        check_eq((p.returncode, p.stdout, p.stderr), (0, b"", b""), "--search without a match")
        check_eq([o["message"] for o in json_lines(cli_ok(c, "runners", "logs", "runner-search",
                                                          "--search=a_", "--output=json"))],
                 ["a_b"], "--search=a_ --output=json")


SINCE_SCRIPT = r"""
import time, logtap
for i in range(3):
    print("early %d" % i, flush=True)
time.sleep(0.4)
with logtap.request("req-window"):
    for i in range(3):
        print("late %d" % i, flush=True)
"""


def test_since_until():
    early = ["early %d" % i for i in range(3)]
    late = ["late %d" % i for i in range(3)]
    with Collector() as c:
        r = run_py(c, "runner-since", SINCE_SCRIPT)
        entries = stored(c, "runners", "runner-since", 6)
        check_eq(messages(entries), early + late, "stored lines")
        late0 = entries[3]["timestamp"]
        t_late0 = parse_ts(late0)
        t_early2 = parse_ts(entries[2]["timestamp"])
        check(t_late0 - t_early2 > 0.3, "the runner slept between early and late lines")

        def msgs(*args, scope="runners", ident="runner-since"):
            return text_messages(cli_ok(c, scope, "logs", ident, *args))
        for d in ("1h", "30m", "2d", "1w", "600s"):
            check_eq(msgs("--since", d), early + late, "--since %s" % d)
            check_eq(msgs("--until", d), [], "--until %s (before the run)" % d)
        check_eq(msgs("--since", late0), late, "--since = the first late line's timestamp (inclusive)")
        check_eq(msgs("--until", late0), early, "--until = the first late line's timestamp (exclusive)")
        mid = (t_early2 + t_late0) / 2
        check_eq(msgs("--since", fmt_ts(mid, digits=3)), late, "--since with milliseconds, Z")
        check_eq(msgs("--until", fmt_ts(mid, digits=3)), early, "--until with milliseconds, Z")
        check_eq(msgs("--since", fmt_ts(mid, tz_hours=1)), late, "--since with a +01:00 offset")
        check_eq(msgs("--until", fmt_ts(mid, tz_hours=-5)), early, "--until with a -05:00 offset")
        check_eq(msgs("--since", entries[1]["timestamp"], "--until", entries[4]["timestamp"]),
                 ["early 1", "early 2", "late 0"], "--since and --until together")
        before = fmt_ts(r.start - 60, digits=0)
        check_eq(msgs("--until", before), [], "--until a time before the run")
        check_eq(msgs("--since", before), early + late, "--since a time before the run")
        check_eq(msgs("--since", fmt_ts(r.end + 3600)), [], "--since an hour from now")
        day = entries[0]["timestamp"][:10]
        next_day = (datetime.date.fromisoformat(entries[-1]["timestamp"][:10])
                    + datetime.timedelta(days=1)).isoformat()
        check_eq(msgs("--since", day), early + late, "--since the run's date")
        check_eq(msgs("--until", day), [], "--until the run's date (its midnight)")
        check_eq(msgs("--until", next_day), early + late, "--until the next day")
        check_eq(msgs("--since", late0, scope="requests", ident="req-window"), late, "request scope --since")
        check_eq(msgs("--until", late0, scope="requests", ident="req-window"), [], "request scope --until")
        check_eq(msgs("--since", "1h", "-n", "2"), late[1:], "--since 1h -n 2")
        check_eq(msgs("--until", late0, "-n", "+1"), early[:1], "--until T -n +1")


PAGE_SCRIPT = r"""
import sys
for i in range(int(sys.argv[1])):
    print("page %05d" % i)
"""


def test_paging_beyond_one_page():
    # The CLI fetches 10000 lines a request: 25000 lines take three pages.
    total = 25000
    want = ["page %05d" % i for i in range(total)]
    with Collector() as c:
        r = logtap_run(c, "runner-pages", [PYTHON, "-c", PAGE_SCRIPT, str(total)])
        check_eq(r.rc, 0, "runner exit code")
        check_eq(r.out, "".join(m + "\n" for m in want).encode(), "runner stdout")
        stored(c, "runners", "runner-pages", total, timeout=90)

        out = cli_ok(c, "runners", "logs", "runner-pages", timeout=120)
        rows = text_rows(out)
        check_lines([row[3] for row in rows], want, "every line, in order, across pages")
        check(all(row[1:3] == ("stdout", "-") for row in rows), "stream and request columns")
        got = json_lines(cli_ok(c, "runners", "logs", "runner-pages", "--output", "json", timeout=120))
        check_lines([o["message"] for o in got], want, "--output json across pages")
        ids = [o["id"] for o in got]
        check(ids == sorted(set(ids)), "ids strictly ascending across pages")
        check_lines(text_messages(cli_ok(c, "runners", "logs", "runner-pages", "-n", "+12345", timeout=120)),
                 want[:12345], "-n +12345")
        # Exactly one full page of matches (page 10000 .. page 19999).
        check_lines(text_messages(cli_ok(c, "runners", "logs", "runner-pages", "--search", "page 1",
                                      timeout=120)),
                 want[10000:20000], "--search matching exactly one page")
        check_lines(text_messages(cli_ok(c, "runners", "logs", "runner-pages", "--search", "page 2",
                                      timeout=120)),
                 want[20000:], "--search on the last page")
        # -n N is one request with tail=N; the server returns at most its
        # default page (limit 1000) unless the CLI asks for more.
        got = text_messages(cli_ok(c, "runners", "logs", "runner-pages", "-n", "12345", timeout=120))
        if got == want[-1000:]:
            raise TestFailure(
                "BUG (cli): `logtap runners logs runner-pages -n 12345` prints only the newest 1000 lines "
                "(page 24000 .. page 24999), exit 0: it sends tail=12345 without limit, and the collector "
                "caps every answer at its default limit of 1000 (doc/http-api.md)")
        check_lines(got, want[-12345:], "-n 12345")


# --------------------------------------------------------------------------
# Follow
# --------------------------------------------------------------------------

def test_follow_runner_logs():
    with Collector() as c:
        run_py(c, "runner-follow", "import sys\nprint('before 1', flush=True)\n"
                                   "print('before 2', file=sys.stderr, flush=True)\n")
        old = stored(c, "runners", "runner-follow", 2)
        f = Follower(["--server", c.url, "runners", "logs", "runner-follow", "-f"])
        try:
            check_eq(b"".join(f.read_lines(2, 10, "existing lines")), expected_text(old),
                     "follow: the existing lines first")
            script = ("import sys, logtap\nprint('after 1', flush=True)\n"
                      "with logtap.request('req-follow'):\n"
                      "    print('after 2', file=sys.stderr, flush=True)\n")
            run_py(c, "runner-follow", script)
            new = f.read_lines(2, 5, "new lines within 5s of the runner's exit")
            entries = stored(c, "runners", "runner-follow", 4)
            check_eq(b"".join(new), expected_text(entries[2:]), "follow: the new lines")
            check_eq([e["request_id"] for e in entries[2:]], [None, "req-follow"], "request of the new lines")
            f.quiet_for(0.5)
            rc, rest = f.interrupt()
            check_eq(rc, 0, "follower exit code after SIGINT")
            check_eq(rest, b"", "follower output after SIGINT")
            check_eq(f.stderr(), b"", "follower stderr")
        finally:
            f.kill()


FOLLOW_REQ_SCRIPT = r"""
import os, sys, time, logtap
with logtap.request("req-live"):
    print("live 1", flush=True)
    print("live 2", flush=True)
    while not os.path.exists(sys.argv[1]):
        time.sleep(0.01)
    print("live 3", flush=True)
    print("ERROR live 4", file=sys.stderr, flush=True)
print("outside", flush=True)
"""


def test_follow_request_logs_json_newest():
    with Collector() as c:
        gate = os.path.join(c.workdir, "gate-live")
        runner = gated_runner(c, "runner-live", FOLLOW_REQ_SCRIPT, gate)
        f = None
        finished = False
        try:
            stored(c, "requests", "req-live", 2)
            f = Follower(["--server", c.url, "requests", "logs", "req-live", "-f", "-n", "1", "--output", "json"])
            first = [json.loads(l) for l in f.read_lines(1, 10, "the newest existing line")]
            check_eq([o["message"] for o in first], ["live 2"], "-f -n 1: only the newest existing line")
            open(gate, "w").close()
            new = [json.loads(l) for l in f.read_lines(2, 5, "new request lines")]
            rc, err = finish(runner, gate)
            finished = True
            check_eq(rc, 0, "runner exit code")
            want = stored(c, "requests", "req-live", 4)
            check_eq(first + new, want[1:], "followed entries = the request's stored entries")
            check_eq([(o["message"], o["stream"], o["level"], o["request_id"]) for o in new],
                     [("live 3", "stdout", "STDOUT", "req-live"), ("ERROR live 4", "stderr", "ERROR", "req-live")],
                     "followed entries' fields")
            stored(c, "runners", "runner-live", 5)  # "outside" is stored, and not in the request's stream
            # The request completed: the follower ends by itself, exit 0.
            rc, rest = f.wait_exit(30, "the follower to end after the request completed")
            check_eq(rc, 0, "follower exit code after the request completed")
            check_eq(rest, b"", "follower output after the request's lines")
            check_eq(f.stderr(), b"", "follower stderr")
        finally:
            if f:
                f.kill()
            if not finished:
                finish(runner, gate)


# --------------------------------------------------------------------------
# requests status
# --------------------------------------------------------------------------

STATUS_SCRIPT = r"""
import os, sys, time, logtap
with logtap.request("req-status"):
    print("status line 1", flush=True)
    while not os.path.exists(sys.argv[1]):
        time.sleep(0.01)
    print("WARNING status line 2", file=sys.stderr, flush=True)
print("not in the request", flush=True)
"""


def test_requests_status():
    with Collector() as c:
        gate = os.path.join(c.workdir, "gate-status")
        runner = gated_runner(c, "runner-status", STATUS_SCRIPT, gate)
        try:
            stored(c, "requests", "req-status", 1)
            doc = json.loads(cli_ok(c, "requests", "status", "req-status"))
            check_eq(doc, {"request_id": "req-status", "status": "IN_PROGRESS"}, "status while in progress")
        finally:
            rc, err = finish(runner, gate)
        check_eq(rc, 0, "runner exit code")
        entries = stored(c, "requests", "req-status", 2)

        def completed():
            d = json.loads(cli_ok(c, "requests", "status", "req-status"))
            return d if d.get("status") == "COMPLETED" else None
        doc = wait_until(completed, 10, "request COMPLETED")
        check_eq(doc, {"request_id": "req-status", "status": "COMPLETED"}, "status without --logs")

        doc = json.loads(cli_ok(c, "requests", "status", "req-status", "--logs"))
        want_logs = [{"message": "status line 1", "level": "STDOUT", "source": "run",
                      "timestamp": entries[0]["timestamp"]},
                     {"message": "WARNING status line 2", "level": "WARN", "source": "run",
                      "timestamp": entries[1]["timestamp"]}]
        check_eq({k: doc.get(k) for k in ("request_id", "status", "logs")},
                 {"request_id": "req-status", "status": "COMPLETED", "logs": want_logs},
                 "requests status --logs (fal's queue-status shape)")
        check_eq(sorted(doc), ["logs", "request_id", "status"], "fal's fields and no others")
        for log in doc["logs"]:
            check_eq(list(log), ["message", "level", "source", "timestamp"], "fields of a status log entry")


# --------------------------------------------------------------------------
# Errors and help
# --------------------------------------------------------------------------

def test_error_unknown_ids():
    with Collector() as c:
        run_py(c, "runner-known", "print('known')")
        stored(c, "runners", "runner-known", 1)
        cases = [
            (["runners", "logs", "no-such-runner"], "logtap: unknown runner 'no-such-runner'\n"),
            (["runners", "logs", "no-such-runner", "--output", "json", "-n", "5"],
             "logtap: unknown runner 'no-such-runner'\n"),
            (["runners", "logs", "no-such-runner", "-f"], "logtap: unknown runner 'no-such-runner'\n"),
            (["requests", "logs", "no-such-request"], "logtap: unknown request 'no-such-request'\n"),
            (["requests", "status", "no-such-request", "--wait", "0"], "logtap: unknown request 'no-such-request'\n"),
            (["requests", "status", "no-such-request", "--logs", "--wait", "0"],
             "logtap: unknown request 'no-such-request'\n"),
            # A hostile ID is echoed with its control characters escaped.
            (["runners", "logs", "evil\x1b]0;pwned\x07\x1b[2J"],
             "logtap: unknown runner 'evil\\x1b]0;pwned\\x07\\x1b[2J'\n"),
            # The runner's request IDs are not runner IDs, and vice versa.
            (["requests", "logs", "runner-known"], "logtap: unknown request 'runner-known'\n"),
        ]
        for args, message in cases:
            p = cli(c, *args, timeout=15)
            check_eq((p.returncode, p.stdout, p.stderr.decode()), (1, b"", message), "logtap %r" % args)


def test_error_collector_unreachable():
    cases = [["runners", "logs", "r-1"], ["requests", "logs", "req-1"], ["requests", "status", "req-1"],
             ["requests", "status", "req-1", "--logs"], ["runners", "logs", "r-1", "--output", "json"],
             ["runners", "logs", "r-1", "-f"], ["requests", "logs", "req-1", "-f", "-n", "5"]]
    for args in cases:
        for how in ("--server", "LOGTAP_SERVER"):
            if how == "--server":
                p = cli(UNREACHABLE, *args, timeout=20)
            else:
                p = cli(None, *args, server=False, env=plain_env(LOGTAP_SERVER=UNREACHABLE), timeout=20)
            check_eq(p.returncode, 3, "exit code of logtap %r with the collector unreachable (%s)" % (args, how))
            check_eq(p.stdout, b"", "stdout of logtap %r, collector unreachable" % args)
            check(UNREACHABLE_RE.match(p.stderr.decode()) is not None,
                  "message of logtap %r, collector unreachable: %r" % (args, p.stderr))


USAGE_ERRORS = [
    (["--bogus"], "logtap: unrecognized option '--bogus'\nTry 'logtap --help'.\n"),
    (["bogus"], "logtap: unknown command 'bogus'\nTry 'logtap --help'.\n"),
    (["runners"], "logtap: missing a command after 'runners'\nTry 'logtap runners --help'.\n"),
    (["runners", "bogus"], "logtap: unknown command 'runners bogus'\nTry 'logtap runners --help'.\n"),
    (["runners", "logs", "r-1", "--bogus"],
     "logtap: unrecognized option '--bogus'\nTry 'logtap runners logs --help'.\n"),
    (["requests", "logs", "req-1", "-x"], "logtap: invalid option -- 'x'\nTry 'logtap requests logs --help'.\n"),
    (["requests", "status", "req-1", "--follow"],
     "logtap: unrecognized option '--follow'\nTry 'logtap requests status --help'.\n"),
    (["runners", "logs"], "logtap: missing RUNNER_ID\nTry 'logtap runners logs --help'.\n"),
    (["requests", "logs"], "logtap: missing REQUEST_ID\nTry 'logtap requests logs --help'.\n"),
    (["requests", "status"], "logtap: missing REQUEST_ID\nTry 'logtap requests status --help'.\n"),
    (["runners", "logs", "r-1", "extra"], "logtap: unexpected argument 'extra'\nTry 'logtap runners logs --help'.\n"),
    (["runners", "logs", "r-1", "--since"],
     "logtap: option '--since' requires an argument\nTry 'logtap runners logs --help'.\n"),
    (["runners", "logs", "r-1", "-n"], "logtap: option requires an argument -- 'n'\nTry 'logtap runners logs --help'.\n"),
    (["runners", "logs", "r-1", "-n", "abc"],
     "logtap: invalid --lines 'abc': use N (the newest N) or +N (the oldest N)\n"
     "Try 'logtap runners logs --help'.\n"),
    (["runners", "logs", "r-1", "-n", "-5"],
     "logtap: invalid --lines '-5': use N (the newest N) or +N (the oldest N)\n"
     "Try 'logtap runners logs --help'.\n"),
    (["runners", "logs", "r-1", "-n", "+0"], "logtap: -n +N needs N of at least 1\nTry 'logtap runners logs --help'.\n"),
    (["runners", "logs", "r-1", "-f", "-n", "+2"],
     "logtap: -n +N (the oldest lines) cannot be combined with --follow\nTry 'logtap runners logs --help'.\n"),
    (["runners", "logs", "r-1", "--output", "xml"],
     "logtap: invalid --output 'xml': use text or json\nTry 'logtap runners logs --help'.\n"),
    (["run"], "logtap: missing the command to run\nTry 'logtap run --help'.\n"),
    (["run", "--bogus", "--", "true"], "logtap: unrecognized option '--bogus'\nTry 'logtap run --help'.\n"),
    (["run", "--source", "cron", "--", "true"],
     "logtap: invalid --source 'cron': use run, gateway or deploy\nTry 'logtap run --help'.\n"),
    (["run", "--runner", "", "--", "true"], "logtap: --runner must not be empty\nTry 'logtap run --help'.\n"),
    (["run", "--runner", "x" * 129, "--", "true"],
     "logtap: --runner is longer than 128 bytes\nTry 'logtap run --help'.\n"),
]

def _usage(command, message):
    return "logtap: %s\nTry '%s --help'.\n" % (message, command)


USER_HINT = "a user name is 1 to 128 printable ASCII characters other than '/'"
TOKEN_HINT = "invalid --token: a token is 1 to 4096 bytes of printable ASCII without spaces"
USAGE_ERRORS += [
    # Filters and logtap logs.
    (["logs", "extra"], _usage("logtap logs", "unexpected argument 'extra'")),
    (["logs", "--source", "cron"], _usage("logtap logs", "invalid --source 'cron': use run, gateway or deploy")),
    (["logs", "--source", "RUN"], _usage("logtap logs", "invalid --source 'RUN': use run, gateway or deploy")),
    (["runners", "logs", "r-1", "--level", "loud"],
     _usage("logtap runners logs",
            "invalid --level 'loud': use TRACE, DEBUG, INFO, STDOUT, WARN, STDERR or ERROR (or WARNING, CRITICAL, "
            "FATAL, NOTSET)")),
    (["runners", "logs", "r-1", "--runner", "r-2"],
     _usage("logtap runners logs", "--runner is not an option here: the runner is RUNNER_ID")),
    (["requests", "logs", "q-1", "--request", "q-2"],
     _usage("logtap requests logs", "--request is not an option here: the request is REQUEST_ID")),
    (["logs", "--app", ""], _usage("logtap logs", "--app must not be empty")),
    (["logs", "--version="], _usage("logtap logs", "--version must not be empty")),
    (["logs", "-f", "-n", "100001"], _usage("logtap logs", "with --follow, -n N takes N up to 100000")),
    (["logs", "-f", "-n", "+3"], _usage("logtap logs", "-n +N (the oldest lines) cannot be combined with --follow")),
    (["logs", "--raw", "--output", "json"], _usage("logtap logs", "--raw applies to text output only")),
    (["logs", "--since", "soon"],
     _usage("logtap logs", "invalid --since 'soon': use a duration back from now (30s, 30m, 1h, 2d, 1w), "
                           "an RFC 3339 time (2026-11-25T14:38:06Z) or a date (2026-11-25)")),
    (["logs", "--bogus"], "logtap: unrecognized option '--bogus'\nTry 'logtap logs --help'.\n"),
    # Tokens (never echoed), on every command.
    (["--token", "", "whoami"], _usage("logtap", TOKEN_HINT)),
    (["--token", "a b", "whoami"], _usage("logtap", TOKEN_HINT)),
    (["whoami", "--token", "tab\there"], _usage("logtap whoami", TOKEN_HINT)),
    (["runners", "logs", "r-1", "--token", "caf\u00e9"], _usage("logtap runners logs", TOKEN_HINT)),
    (["requests", "status", "q-1", "--token="], _usage("logtap requests status", TOKEN_HINT)),
    (["whoami", "extra"], _usage("logtap whoami", "unexpected argument 'extra'")),
    (["whoami", "--output", "yaml"], _usage("logtap whoami", "invalid --output 'yaml': use text or json")),
    # tokens, apps, account.
    (["tokens"], _usage("logtap tokens", "missing a command after 'tokens'")),
    (["tokens", "bogus"], _usage("logtap tokens", "unknown command 'tokens bogus'")),
    (["tokens", "revoke"], _usage("logtap tokens revoke", "missing TOKEN_ID")),
    (["tokens", "revoke", ""], _usage("logtap tokens revoke", "TOKEN_ID must not be empty")),
    (["tokens", "revoke", "a", "b"], _usage("logtap tokens revoke", "unexpected argument 'b'")),
    (["tokens", "create", "--user", ""], _usage("logtap tokens create", "invalid --user '': " + USER_HINT)),
    (["tokens", "create", "--user", "a/b"], _usage("logtap tokens create", "invalid --user 'a/b': " + USER_HINT)),
    (["tokens", "create", "--user", "x" * 129],
     _usage("logtap tokens create", "invalid --user '%s': %s" % ("x" * 129, USER_HINT))),
    (["tokens", "create", "--user", "esc\x1b[2J"],
     _usage("logtap tokens create", "invalid --user 'esc\\x1b[2J': " + USER_HINT)),
    (["tokens", "create", "--owner", "bob"],
     "logtap: unrecognized option '--owner'\nTry 'logtap tokens create --help'.\n"),
    (["tokens", "list", "--output", "xml"], _usage("logtap tokens list", "invalid --output 'xml': use text or json")),
    (["apps"], _usage("logtap apps", "missing a command after 'apps'")),
    (["apps", "--bogus"], _usage("logtap apps", "unknown option '--bogus'")),
    (["apps", "deploy"], _usage("logtap apps deploy", "missing APP")),
    (["apps", "deploy", "demo", "--private-logs", "--public-logs"],
     _usage("logtap apps deploy", "--private-logs and --public-logs exclude each other")),
    (["apps", "deploy", "my app"],
     _usage("logtap apps deploy", "invalid APP 'my app': an app ID is 1 to 128 printable ASCII characters "
                                  "other than spaces and '/'")),
    (["apps", "deploy", "demo", "--owner", "a/b"], _usage("logtap apps deploy", "invalid --owner 'a/b': " + USER_HINT)),
    (["apps", "deploy", "demo", "--user", "bob"],
     "logtap: unrecognized option '--user'\nTry 'logtap apps deploy --help'.\n"),
    (["apps", "show"], _usage("logtap apps show", "missing APP")),
    (["apps", "show", "a", "b"], _usage("logtap apps show", "unexpected argument 'b'")),
    (["apps", "list", "extra"], _usage("logtap apps list", "unexpected argument 'extra'")),
    (["account"], _usage("logtap account", "missing a command after 'account'")),
    (["account", "set", "--user", "alice"], _usage("logtap account set", "missing --default-private-logs on|off")),
    (["account", "set", "--default-private-logs", "yes"],
     _usage("logtap account set", "invalid --default-private-logs 'yes': use on or off")),
    (["account", "set", "--default-private-logs"],
     "logtap: option '--default-private-logs' requires an argument\nTry 'logtap account set --help'.\n"),
    (["account", "show", "--user", ""], _usage("logtap account show", "invalid --user '': " + USER_HINT)),
    (["account", "show", "--bogus"], "logtap: unrecognized option '--bogus'\nTry 'logtap account show --help'.\n"),
]
for _scope, _id in (("runners", "r-1"), ("requests", "req-1")):
    USAGE_ERRORS += [
        ([_scope, "logs", _id, "--since", "1h", "--until", "2h"],
         "logtap: --since '1h' is not before --until '2h'\nTry 'logtap %s logs --help'.\n" % _scope),
        ([_scope, "logs", _id, "--since", "2026-11-25", "--until", "2026-11-25"],
         "logtap: --since '2026-11-25' is not before --until '2026-11-25'\nTry 'logtap %s logs --help'.\n" % _scope),
        ([_scope, "logs", _id, "-i"],
         "logtap: --ignore-case applies to --search and --exclude: give one\nTry 'logtap %s logs --help'.\n"
         % _scope),
        ([_scope, "logs", _id, "-o", "yaml"],
         "logtap: invalid --output 'yaml': use text or json\nTry 'logtap %s logs --help'.\n" % _scope),
        ([_scope, "logs", _id, "--tail", "x"],
         "logtap: invalid --lines 'x': use N (the newest N) or +N (the oldest N)\nTry 'logtap %s logs --help'.\n"
         % _scope),
    ]
USAGE_ERRORS += [
    (["logs", "--level", "SEVERE"],
     "logtap: invalid --level 'SEVERE': use TRACE, DEBUG, INFO, STDOUT, WARN, STDERR or ERROR (or WARNING, "
     "CRITICAL, FATAL, NOTSET)\nTry 'logtap logs --help'.\n"),
    (["logs"] + ["--app", "a"] * 17, "logtap: --app: at most 16 values\nTry 'logtap logs --help'.\n"),
    (["tokens", "list", "-o", "yaml"], "logtap: invalid --output 'yaml': use text or json\nTry 'logtap tokens list --help'.\n"),
    (["runners", "list", "--until", "1d", "--since", "1w", "--until", "2d", "--since", "1d"],
     "logtap: --since '1d' is not before --until '2d'\nTry 'logtap runners list --help'.\n"),
]
TIME_HINT = ("use a duration back from now (30s, 30m, 1h, 2d, 1w), an RFC 3339 time "
             "(2026-11-25T14:38:06Z) or a date (2026-11-25)")
for _flag, _value in [("--since", "yesterday"), ("--since", "5x"), ("--since", ""), ("--until", "2026-13-01"),
                      ("--until", "1h ago"), ("--since", "2026-11-25T25:00:00Z")]:
    for _scope, _id in (("runners", "r-1"), ("requests", "req-1")):
        USAGE_ERRORS.append(([_scope, "logs", _id, _flag, _value],
                             "logtap: invalid %s '%s': %s\nTry 'logtap %s logs --help'.\n"
                             % (_flag, _value, TIME_HINT, _scope)))


def test_error_usage():
    # The server is unreachable on purpose: usage errors must be found
    # before any request (exit 2, not 3).
    for args, message in USAGE_ERRORS:
        p = cli(UNREACHABLE, *args, timeout=15)
        check_eq((p.returncode, p.stdout, p.stderr.decode()), (2, b"", message), "logtap %r" % (args,))


HELP = [
    ([], ["Usage: logtap [--server URL] [--token TOKEN] [--credentials FILE] COMMAND", "runners logs RUNNER_ID", "requests logs REQUEST_ID",
          "requests status REQUEST_ID", "run [OPTIONS] -- CMD", "--server URL", "-h, --help", "--version",
          "LOGTAP_SERVER", "Exit status:"]),
    (["runners"], ["Usage: logtap runners", "logs RUNNER_ID", "list"]),
    (["requests"], ["Usage: logtap requests", "logs REQUEST_ID", "status REQUEST_ID", "list", "enqueue REQUEST_ID"]),
    (["runners", "logs"], ["Usage: logtap runners logs RUNNER_ID", "-f, --follow", "--since T", "--until T",
                           "-n, --lines N", "-n, --lines +N", "--search TEXT", "--output FORMAT", "--raw",
                           "--server URL", "-h, --help", "TIMESTAMP STREAM LEVEL REQUEST MESSAGE", "--request Q",
                           "--app A", "--version V", "--source S", "--level L", "-o, --output FORMAT", "--json", "--tail N", "-i, --ignore-case", "--exclude TEXT", "WARNING", "CRITICAL", "FATAL", "NOTSET", "more than once"]),
    (["requests", "logs"], ["Usage: logtap requests logs REQUEST_ID", "-f, --follow", "--since T", "--until T",
                            "-n, --lines N", "-n, --lines +N", "--search TEXT", "--output FORMAT", "--raw",
                            "--server URL", "-h, --help", "TIMESTAMP STREAM LEVEL REQUEST MESSAGE", "COMPLETED",
                            "--runner R", "--app A", "--version V", "--source S", "--level L", "-o, --output FORMAT", "--json", "--tail N", "-i, --ignore-case", "--exclude TEXT", "WARNING", "CRITICAL", "FATAL", "NOTSET", "more than once", "--wait SECONDS"]),
    (["requests", "status"], ["Usage: logtap requests status REQUEST_ID", "--logs", "--server URL", "-h, --help",
                              "IN_QUEUE", "IN_PROGRESS", "COMPLETED", "--stream", "--wait SECONDS", "error_type"]),
    (["requests", "enqueue"], ["Usage: logtap requests enqueue REQUEST_ID --app APP", "--app APP",
                               "--caller USER", "--server URL", "-h, --help", "IN_QUEUE"]),
    (["run"], ["Usage: logtap run [OPTIONS] [--] CMD", "--runner ID", "--app A", "--version V", "--source S",
               "--endpoint E", "-q, --quiet", "-h, --help", "run-<16 hex>", "LOGTAP_PRELOAD", "PYTHONPATH",
               "no collector answers", "--rings"]),
    (["logs"], ["Usage: logtap logs [OPTIONS]", "--runner R", "--request Q", "--app A", "--version V",
                "--source S", "--level L", "-f, --follow", "--since T", "--until T", "-n, --lines N",
                "-n, --lines +N", "--search TEXT", "--output FORMAT", "--raw",
                "TIMESTAMP RUNNER STREAM LEVEL REQUEST", "-o, --output FORMAT", "--json", "--tail N", "-i, --ignore-case", "--exclude TEXT", "WARNING", "CRITICAL", "FATAL", "NOTSET", "more than once"]),
    (["runners", "list"], ["Usage: logtap runners list", "--app A", "--version V", "--source S", "--since T",
                           "--until T", "-n, --limit N", "--all", "-o, --output FORMAT", "--json",
                           "more than once", "RUNNER APP VERSION SOURCE STARTED LAST-SEEN LINES"]),
    (["requests", "list"], ["Usage: logtap requests list", "--app A", "--version V", "--source S", "--since T",
                            "--until T", "--state S", "--caller U", "--runner R", "-n, --limit N", "--all",
                            "-o, --output FORMAT", "--json", "more than once",
                            "REQUEST STATE APP VERSION RUNNER CALLER STARTED", "error_type"]),
    (["tokens"], ["Usage: logtap tokens COMMAND", "create [--user U] [--label L]", "list", "revoke TOKEN_ID"]),
    (["tokens", "create"], ["Usage: logtap tokens create [--user U] [--label L]", "--user U", "--label L",
                            "-o, --output FORMAT", "--json", "$(logtap tokens create --user alice)"]),
    (["tokens", "list"], ["Usage: logtap tokens list", "-o, --output FORMAT", "--json", "ID USER LABEL SCOPE CREATED"]),
    (["tokens", "revoke"], ["Usage: logtap tokens revoke TOKEN_ID", "-o, --output FORMAT", "--json", "401"]),
    (["apps"], ["Usage: logtap apps COMMAND", "deploy APP [--owner U] [--private-logs | --public-logs]", "list",
                "show APP"]),
    (["apps", "deploy"], ["Usage: logtap apps deploy APP [--owner U] [--private-logs | --public-logs]",
                          "--owner U", "--private-logs", "--public-logs", "account default", "-o, --output FORMAT", "--json"]),
    (["apps", "list"], ["Usage: logtap apps list", "-o, --output FORMAT", "--json", "APP OWNER PRIVATE-LOGS FROM DEPLOYED"]),
    (["apps", "show"], ["Usage: logtap apps show APP", "-o, --output FORMAT", "--json", "private-logs"]),
    (["account"], ["Usage: logtap account COMMAND", "set [--user U] --default-private-logs on|off",
                   "show [--user U]"]),
    (["account", "set"], ["Usage: logtap account set [--user U] --default-private-logs on|off", "--user U",
                          "--default-private-logs on|off", "-o, --output FORMAT", "--json"]),
    (["account", "show"], ["Usage: logtap account show [--user U]", "--user U", "-o, --output FORMAT", "--json",
                           "default-private-logs"]),
    (["whoami"], ["Usage: logtap whoami", "-o, --output FORMAT", "--json", "admin"]),
    (["drains"], ["Usage: logtap drains COMMAND", "add APP --kind ndjson|otlp|syslog --url URL", "list [APP]",
                  "remove DRAIN_ID"]),
    (["drains", "add"], ["Usage: logtap drains add APP --kind ndjson|otlp|syslog --url URL", "--kind KIND",
                         "--url URL", "--scope SCOPE", "--runner ID", "--source S", "--level LEVEL",
                         "--allow-loopback", "--output FORMAT", "shown only this once"]),
    (["drains", "list"], ["Usage: logtap drains list [APP]", "--output FORMAT"]),
    (["drains", "remove"], ["Usage: logtap drains remove DRAIN_ID"]),
]
# Every command takes the global options too, and documents them.
for _words, _mentions in HELP[3:]:
    if _words[-1] not in ("runners", "requests", "tokens", "apps", "account", "drains"):
        _mentions += [] if _words == ["run"] else ["--server URL", "--token TOKEN", "--credentials FILE",
                                                   "LOGTAP_CREDENTIALS", "-h, --help"]
HELP[0][1].extend(["logs [FILTERS]", "tokens create|list|revoke", "apps deploy|list|show", "account set|show",
                   "drains add|list|remove",
                   "whoami", "--token TOKEN", "LOGTAP_TOKEN", "logtap/credentials", "chmod 600",
                   "--credentials FILE", "LOGTAP_CREDENTIALS",
                   "4  not authorised"])


def test_help_every_command():
    for words, mentions in HELP:
        variants = [words + ["--help"], words + ["-h"]]
        if words in (["runners", "logs"], ["requests", "logs"]):
            variants.append(words + ["some-id", "--since", "1h", "-f", "--help"])
        if words == ["requests", "status"]:
            variants.append(words + ["some-id", "--logs", "--help"])
        if words == ["run"]:
            variants.append(words + ["--runner", "x", "--help", "--", "false"])
        if words == ["logs"]:
            variants.append(words + ["--app", "x", "-f", "--level", "warn", "--help"])
            variants.append(words + ["--app", "x", "--app", "y", "-i", "--tail", "5", "--json", "--help"])
        if words in (["runners", "list"], ["requests", "list"]):
            variants.append(words + ["--app", "x", "--app", "y", "-o", "json", "--help"])
        if words == ["apps", "deploy"]:
            variants.append(words + ["demo", "--owner", "alice", "--private-logs", "-h"])
        if words == ["tokens", "create"]:
            variants.append(words + ["--token", "lt_x", "--user", "alice", "--help"])
        outputs = set()
        for args in variants:
            # Unreachable server: help must not need the collector.
            p = cli(UNREACHABLE, *args, timeout=15)
            check_eq((p.returncode, p.stderr), (0, b""), "exit code and stderr of logtap %r" % (args,))
            text = p.stdout.decode()
            for m in mentions:
                check(m in text, "logtap %s does not mention %r" % (" ".join(args), m))
            outputs.add(p.stdout)
        check_eq(len(outputs), 1, "the same help for every spelling of logtap %s --help" % " ".join(words))
    p = cli(UNREACHABLE, "--version", timeout=15)
    check_eq(p.returncode, 0, "logtap --version exit code")
    check(re.fullmatch(rb"logtap \d+\.\d+\.\d+\n", p.stdout) is not None, "logtap --version: %r" % p.stdout)


# --------------------------------------------------------------------------
# logtap run
# --------------------------------------------------------------------------

def test_run_exit_code_passes_through():
    with Collector() as c:
        r = logtap_run(c, "runner-exit7", ["sh", "-c", "exit 7"])
        check_eq((r.rc, r.out, r.err), (7, b"", b""), "logtap run -- sh -c 'exit 7'")
        r = logtap_run(c, "runner-exit42", [PYTHON, "-c", "import sys; print('bye', flush=True); sys.exit(42)"])
        check_eq((r.rc, r.out, r.err), (42, b"bye\n", b""), "logtap run -- python -c 'sys.exit(42)'")
        check_eq(messages(stored(c, "runners", "runner-exit42", 1)), ["bye"], "the exiting runner's line")
        # logtap execs the command: a signal death is the command's own.
        r = logtap_run(c, "runner-killed", ["sh", "-c", "kill -TERM $$"])
        check_eq(r.rc, -signal.SIGTERM, "logtap run -- sh -c 'kill -TERM $$'")
        r = logtap_run(c, "runner-missing", ["no-such-command-logtap-test", "arg"])
        check_eq((r.rc, r.out, r.err.decode()),
                 (127, b"", "logtap: cannot run no-such-command-logtap-test: No such file or directory\n"),
                 "logtap run -- a missing command")
        r = logtap_run(c, "runner-missing", ["/nonexistent/dir/cmd"])
        check_eq(r.rc, 127, "logtap run -- a missing path")
        plain_file = os.path.join(c.workdir, "not-executable")
        with open(plain_file, "w") as f:
            f.write("echo never\n")
        os.chmod(plain_file, 0o644)
        r = logtap_run(c, "runner-noexec", [plain_file])
        check_eq((r.rc, r.out, r.err.decode()),
                 (126, b"", "logtap: cannot run %s: Permission denied\n" % plain_file),
                 "logtap run -- a file that is not executable")


OUTPUT_SCRIPT = r"""
import os, sys
data = sys.stdin.buffer.read()
sys.stdout.write("out 1\n")
sys.stdout.flush()
sys.stderr.write("err 1\n")
os.write(1, b"stdin was: " + data)
os.write(2, b"binary \x00\x01\xfe\xff end\n")
for i in range(300):
    print("bulk %03d " % i + "x" * 200)
sys.stdout.flush()
sys.stderr.write("err tail without newline")
sys.stdout.write("out tail without newline")
"""


def test_run_output_unchanged():
    with Collector() as c:
        cmd = [PYTHON, "-c", OUTPUT_SCRIPT]
        plain = subprocess.run(cmd, stdout=PIPE, stderr=PIPE, input=b"from stdin\n", env=plain_env(), timeout=60)
        r = logtap_run(c, "runner-unchanged", cmd, input=b"from stdin\n")
        check_eq(r.rc, plain.returncode, "exit code with and without logtap run")
        check_eq(r.out, plain.stdout, "stdout bytes with and without logtap run")
        check_eq(r.err, plain.stderr, "stderr bytes with and without logtap run -q")
        loud = logtap_run(c, "runner-loud", cmd, input=b"from stdin\n", quiet=False)
        check_eq(loud.err, b"logtap: runner runner-loud\n" + plain.stderr,
                 "stderr without -q: the runner ID line first, also when stderr is not a terminal")
        check(r.out.startswith(b"out 1\nstdin was: from stdin\nbulk 000 "), "stdout start: %r" % r.out[:80])

        want_out = [l.decode("utf-8") for l in r.out.split(b"\n")]
        want_err = ["err 1", "binary \ufffd\x01\ufffd\ufffd end", "err tail without newline"]
        entries = stored(c, "runners", "runner-unchanged", len(want_out) + len(want_err))
        check_eq([e["message"] for e in entries if e["stream"] == "stdout"], want_out, "stored stdout lines")
        check_eq([e["message"] for e in entries if e["stream"] == "stderr"], want_err, "stored stderr lines")


def test_run_generated_runner_id():
    with Collector() as c:
        ids = []
        for _ in range(2):
            r = logtap_run(c, None, ["env"], quiet=False)
            env = dict(l.split("=", 1) for l in r.out.decode().splitlines() if "=" in l)
            rid = env.get("LOGTAP_RUNNER_ID", "")
            check(re.fullmatch(r"run-[0-9a-f]{16}", rid) is not None, "generated runner ID %r" % rid)
            # stderr is a pipe here: the generated ID is announced anyway.
            check_eq((r.rc, r.err), (0, ("logtap: runner %s\n" % rid).encode()),
                     "logtap run -- env: exit code and stderr")
            check_eq(env.get("LOGTAP_SOURCE"), "run", "LOGTAP_SOURCE set by logtap run")
            check_eq(env.get("LOGTAP_ENDPOINT"), c.endpoint, "LOGTAP_ENDPOINT passed through")
            preload = env.get("LD_PRELOAD", "")
            if not os.environ.get("LOGTAP_TEST_PRELOAD"):
                check_eq(preload, os.path.realpath(os.path.join(BUILD, "liblogtap.so")),
                         "LD_PRELOAD set by logtap run (liblogtap.so beside the logtap executable)")
            ids.append(rid)
        check(ids[0] != ids[1], "two runs got the same generated ID %s" % ids[0])

        # The generated ID is the one the lines are stored under.
        r = logtap_run(c, None, [PYTHON, "-c", "import os; print('I am ' + os.environ['LOGTAP_RUNNER_ID'])"],
                       app="app-gen")
        check_eq(r.rc, 0, "runner exit code")
        rid = r.out.decode().split()[-1]
        check(re.fullmatch(r"run-[0-9a-f]{16}", rid) is not None, "generated runner ID %r" % rid)
        stored(c, "runners", rid, 1)
        got = json_lines(cli_ok(c, "runners", "logs", rid, "--output", "json"))
        check_eq([(o["message"], o["runner_id"], o["source"], o["app_id"]) for o in got],
                 [("I am " + rid, rid, "run", "app-gen")], "lines of the generated runner ID")

        # LOGTAP_PRELOAD names the library explicitly.
        r = logtap_run(c, None, ["env"], env=run_env(c, LOGTAP_PRELOAD=os.path.join(BUILD, "liblogtap.so")))
        check_eq(r.rc, 0, "logtap run with LOGTAP_PRELOAD")
        env = dict(l.split("=", 1) for l in r.out.decode().splitlines() if "=" in l)
        wanted = os.path.realpath(os.path.join(BUILD, "liblogtap.so"))
        entries = [e for e in re.split(r"[ :]+", env.get("LD_PRELOAD", "")) if e]
        if os.environ.get("LOGTAP_TEST_PRELOAD"):
            # Sanitizer runs preload their runtime first; logtap run keeps it.
            check(wanted in [os.path.realpath(e) for e in entries],
                  "LD_PRELOAD from LOGTAP_PRELOAD: %r" % env.get("LD_PRELOAD"))
        else:
            check(entries[:1] == [wanted], "LD_PRELOAD from LOGTAP_PRELOAD: %r" % env.get("LD_PRELOAD"))
        r = logtap_run(c, None, ["true"], env=run_env(c, LOGTAP_PRELOAD="/nonexistent/liblogtap.so"))
        check_eq(r.rc, 1, "logtap run with a LOGTAP_PRELOAD that does not exist")
        check(r.err.startswith(b"logtap: LOGTAP_PRELOAD is '/nonexistent/liblogtap.so': "),
              "message for a bad LOGTAP_PRELOAD: %r" % r.err)


def test_run_announces_runner_on_a_terminal():
    with Collector() as c:
        script = "import os; print(os.environ['LOGTAP_RUNNER_ID'])"
        rc, tty, out = run_on_pty([CLI, "run", "--", PYTHON, "-c", script], run_env(c), "stderr")
        check_eq(rc, 0, "exit code")
        rid = out.decode().strip()
        check(re.fullmatch(r"run-[0-9a-f]{16}", rid) is not None, "generated runner ID %r" % rid)
        check_eq(tty, ("logtap: runner %s\n" % rid).encode(), "the runner ID line on a terminal stderr")
        rc, tty, out = run_on_pty([CLI, "run", "--runner", "runner-tty", "--", PYTHON, "-c", script],
                                  run_env(c), "stderr")
        check_eq((rc, tty, out), (0, b"logtap: runner runner-tty\n", b"runner-tty\n"), "with --runner")
        rc, tty, out = run_on_pty([CLI, "run", "-q", "--runner", "runner-tty", "--", PYTHON, "-c", script],
                                  run_env(c), "stderr")
        check_eq((rc, tty, out), (0, b"", b"runner-tty\n"), "with -q")


def test_run_shell_example_streams():
    # The example of `logtap run --help`.
    with Collector() as c:
        r = logtap_run(c, "runner-sh", ["sh", "-c", "echo hi; echo oops >&2"], extra=["-q"])
        check_eq((r.rc, r.out, r.err), (0, b"hi\n", b"oops\n"), "output of sh -c 'echo hi; echo oops >&2'")
        entries = stored(c, "runners", "runner-sh", 2)
        got = [(e["stream"], e["level"], e["message"]) for e in entries]
        if got == [("stdout", "STDOUT", "hi"), ("stdout", "STDOUT", "oops")]:
            raise TestFailure(
                "BUG (preload): `logtap run -- sh -c 'echo hi; echo oops >&2'` stores 'oops' with stream "
                "stdout/level STDOUT, but it went to stderr: the shell's `>&2` does dup2(2, 1) and writes "
                "to fd 1, and the hook attributes by fd number instead of by what fd 1 now aliases")
        check_eq(got, [("stdout", "STDOUT", "hi"), ("stderr", "STDERR", "oops")], "stored streams")


def test_run_native_stdio_command_is_logged():
    with Collector() as c:
        r = logtap_run(c, "runner-native", ["/bin/echo", "native hello"])
        check_eq((r.rc, r.out, r.err), (0, b"native hello\n", b""), "output of /bin/echo under logtap run")
        try:
            entries = stored(c, "runners", "runner-native", 1, timeout=10)
        except TestFailure as e:
            raise TestFailure(
                "BUG (preload): `logtap run --runner runner-native -- /bin/echo native hello` prints the line "
                "but nothing is ever stored (runner unknown after 10s): C stdio output flushed by exit() "
                "after liblogtap's destructor is lost (%s)" % e) from None
        check_eq([(e["stream"], e["message"], e["source"]) for e in entries],
                 [("stdout", "native hello", "run")], "stored /bin/echo line")


def test_run_pipeline_logged_once():
    with Collector() as c:
        r = logtap_run(c, "runner-pipe", ["sh", "-c", "echo through a pipe | cat; echo last"])
        check_eq((r.rc, r.out, r.err), (0, b"through a pipe\nlast\n", b""), "output of the pipeline")
        def enough():
            e = c.logs("runners", "runner-pipe")
            return e if e and "last" in messages(e) else None
        entries = wait_until(enough, 10, "the pipeline's lines stored")
        time.sleep(1.5)  # let any late replay arrive too
        got = sorted(messages(c.logs("runners", "runner-pipe")))
        if got.count("through a pipe") == 2:
            raise TestFailure(
                "BUG (preload): `logtap run -- sh -c 'echo through a pipe | cat; echo last'` shows "
                "'through a pipe' once on stdout but stores it twice: the hook also records the echo's "
                "write into the pipe to cat (fd 1 redirected with dup2 to a pipe), not only what reaches "
                "the runner's stdout")
        check_eq(got, ["last", "through a pipe"], "stored lines of the pipeline")


def test_run_rejects_runner_id_it_cannot_keep():
    with Collector() as c:
        r = logtap_run(c, "dev 1", [PYTHON, "-c", "print('spaced')"])
        if r.rc == 0:
            time.sleep(1.5)
            where = [rid for rid in ("dev 1", "dev_1") if c.logs("runners", rid)]
            p = cli(c, "runners", "logs", "dev 1")
            raise TestFailure(
                "BUG (cli): `logtap run --runner 'dev 1' -- ...` exits 0, the preload rewrites the ID and stores "
                "the lines under %r, so `logtap runners logs 'dev 1'` answers exit %d %r; expected exit 2 with "
                "a usage error naming --runner, as for an empty or over-long ID (IDs are 1..128 printable "
                "ASCII bytes other than '/', include/logtap_wire.h)" % (where, p.returncode, p.stderr))
        check_eq(r.rc, 2, "exit code of logtap run --runner 'dev 1'")
        check(b"--runner" in r.err, "usage error names --runner: %r" % r.err)
        check_eq(r.out, b"", "stdout of the refused run")


# --------------------------------------------------------------------------
# Hostile log text
# --------------------------------------------------------------------------

HOSTILE_LINES = [
    b"ansi \x1b[31mred\x1b[0m title \x1b]0;pwned\x07 <img src=x onerror=alert(1)>",
    "c1 \u009b2J end".encode(),
    b"del \x7f bell \x07 backspace \x08 tab\there",
    b"<script>alert('x')</script> &amp; \"quoted\" &lt;",
]
HOSTILE_TEXT = [  # what text output must show (stdout not a terminal)
    "ansi \\x1b[31mred\\x1b[0m title \\x1b]0;pwned\\x07 <img src=x onerror=alert(1)>",
    "c1 \\xc2\\x9b2J end",
    "del \\x7f bell \\x07 backspace \\x08 tab\there",
    "<script>alert('x')</script> &amp; \"quoted\" &lt;",
]
HOSTILE_REQUEST = "req-<b>&\"'x'&lt;<i>"


def hostile_script():
    return ("import os, logtap\n"
            "lines = %r\n"
            "for l in lines[:2]:\n"
            "    os.write(1, l + b'\\n')\n"
            "with logtap.request(%r):\n"
            "    for l in lines[2:]:\n"
            "        os.write(2, l + b'\\n')\n" % (HOSTILE_LINES, HOSTILE_REQUEST))


def test_hostile_text_is_escaped():
    with Collector() as c:
        r = run_py(c, "runner-hostile", hostile_script())
        check_eq(r.out, b"".join(l + b"\n" for l in HOSTILE_LINES[:2]), "runner stdout unchanged")
        check_eq(r.err, b"".join(l + b"\n" for l in HOSTILE_LINES[2:]), "runner stderr unchanged")
        entries = stored(c, "runners", "runner-hostile", 4)

        out = cli_ok(c, "runners", "logs", "runner-hostile")
        check(all(b >= 0x20 or b in (0x09, 0x0a) for b in out), "control bytes in text output: %r" % out)
        rows = text_rows(out)
        check_eq([row[1:] for row in rows],
                 [("stdout", "-", HOSTILE_TEXT[0]), ("stdout", "-", HOSTILE_TEXT[1]),
                  ("stderr", HOSTILE_REQUEST, HOSTILE_TEXT[2]), ("stderr", HOSTILE_REQUEST, HOSTILE_TEXT[3])],
                 "text output of hostile lines")
        check_eq([row[0] for row in rows], [e["timestamp"] for e in entries], "timestamps")
        check_eq(cli_ok(c, "requests", "logs", HOSTILE_REQUEST),
                 "".join("%s stderr %s %s %s\n" % (e["timestamp"], e["level"], HOSTILE_REQUEST, t)
                         for e, t in zip(entries[2:], HOSTILE_TEXT[2:])).encode(),
                 "requests logs of a request ID with HTML characters")

        # JSON round-trips the exact text; --raw prints the exact bytes.
        got = json_lines(cli_ok(c, "runners", "logs", "runner-hostile", "--output", "json"))
        check_eq([o["message"] for o in got], [l.decode() for l in HOSTILE_LINES], "JSON messages round-trip")
        check_eq([o["request_id"] for o in got], [None, None, HOSTILE_REQUEST, HOSTILE_REQUEST], "JSON request_id")
        check_eq(cli_ok(c, "runners", "logs", "runner-hostile", "--raw"),
                 b"".join(l + b"\n" for l in HOSTILE_LINES), "--raw output")

        # On a terminal colours (SGR) come through; nothing else does.
        rc, tty, err = run_on_pty([CLI, "--server", c.url, "runners", "logs", "runner-hostile", "-n", "+1"],
                                  plain_env(), "stdout")
        check_eq((rc, err), (0, b""), "runners logs on a terminal: exit code and stderr")
        check_eq(tty, ("%s stdout STDOUT - ansi \x1b[31mred\x1b[0m title \\x1b]0;pwned\\x07 "
                       "<img src=x onerror=alert(1)>\n" % entries[0]["timestamp"]).encode(),
                 "text output on a terminal keeps SGR colours only")


CR_SCRIPT = r"""
import os
os.write(1, b"progress 10%\rprogress 50%\rprogress 100%\n")
os.write(1, b"crlf line\r\n")
os.write(1, b"split before")
os.write(1, b"\r")
os.write(1, b"split after\n")
os.write(1, b"\rleading cr\n")
os.write(2, b"err 1\rerr 2\n")
os.write(1, b"mid\rdle and \x1b[2K erased\n")
"""


def test_carriage_return_rules():
    # The collector treats '\r' inside a line as a progress-bar redraw and
    # keeps only what follows the last one; "\r\n" ends a line like "\n".
    want = [("stdout", "progress 100%"), ("stdout", "crlf line"), ("stdout", "split after"),
            ("stdout", "leading cr"), ("stderr", "err 2"), ("stdout", "dle and \x1b[2K erased")]
    with Collector() as c:
        run_py(c, "runner-cr", CR_SCRIPT)
        stored(c, "runners", "runner-cr", len(want))
        got = json_lines(cli_ok(c, "runners", "logs", "runner-cr", "--output", "json"))
        check_eq([(o["stream"], o["message"]) for o in got], want, "JSON messages after the \\r rule")
        out = cli_ok(c, "runners", "logs", "runner-cr")
        check(b"\r" not in out and b"\\x0d" not in out, "carriage returns in text output: %r" % out)
        check_eq([(row[1], row[3]) for row in text_rows(out)],
                 want[:-1] + [("stdout", "dle and \\x1b[2K erased")], "text messages after the \\r rule")


UTF8_SCRIPT = r"""
import os
os.write(1, b'bad \xff\xfe end\n')
os.write(1, b'trunc \xe2\x82 end\n')
os.write(1, b'overlong \xc0\xaf end\n')
os.write(1, b'surrogate \xed\xa0\x80 end\n')
os.write(1, b'nul \x00 end\n')
os.write(1, 'valid caf\u00e9 \u2603 \U0001F600\n'.encode())
os.write(1, b'split \xe2\x98')
os.write(1, b'\x83 snowman\n')
"""


def test_invalid_utf8_becomes_replacement_character():
    want = ["bad \ufffd\ufffd end",
            b"trunc \xe2\x82 end".decode("utf-8", "replace"),
            b"overlong \xc0\xaf end".decode("utf-8", "replace"),
            b"surrogate \xed\xa0\x80 end".decode("utf-8", "replace"),
            "nul \ufffd end",
            "valid caf\u00e9 \u2603 \U0001F600",
            "split \u2603 snowman"]
    with Collector() as c:
        r = run_py(c, "runner-utf8", UTF8_SCRIPT)
        check(r.out.startswith(b"bad \xff\xfe end\n"), "raw bytes passed through: %r" % r.out[:20])
        stored(c, "runners", "runner-utf8", len(want))
        out = cli_ok(c, "runners", "logs", "runner-utf8", "--output", "json")
        check_eq([o["message"] for o in json_lines(out)], want, "JSON messages of invalid UTF-8 lines")
        check_eq(text_messages(cli_ok(c, "runners", "logs", "runner-utf8")), want,
                 "text messages of invalid UTF-8 lines")


if __name__ == "__main__":
    run_tests([
        test_text_format_runner_and_request_scopes,
        test_json_output_fields_and_values,
        test_lines_newest_and_oldest,
        test_search,
        test_since_until,
        test_paging_beyond_one_page,
        test_follow_runner_logs,
        test_follow_request_logs_json_newest,
        test_requests_status,
        test_error_unknown_ids,
        test_error_collector_unreachable,
        test_error_usage,
        test_help_every_command,
        test_run_exit_code_passes_through,
        test_run_output_unchanged,
        test_run_generated_runner_id,
        test_run_announces_runner_on_a_terminal,
        test_run_shell_example_streams,
        test_run_native_stdio_command_is_logged,
        test_run_pipeline_logged_once,
        test_run_rejects_runner_id_it_cannot_keep,
        test_hostile_text_is_escaped,
        test_carriage_return_rules,
        test_invalid_utf8_becomes_replacement_character,
    ])
