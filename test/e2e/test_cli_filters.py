"""End to end: the filters of the `logtap` log commands, `logtap logs`,
paging while lines arrive, and following apps, versions and requests.

Runners are real `logtap run` processes with the real preload, the
collector is real, and every assertion is on the exact lines the real CLI
prints. Runs as the collector's admin, whose token the CLI finds by itself
in the credentials file the collector writes (test_cli_access.py covers
tokens and who sees what).
"""

import json
import os
import subprocess

from cli_support import (LEVEL_TEXT_RE, Follower, check_lines, cli, cli_ok, expected_text, finish, gated_runner,
                         json_lines, logs_rows, run_env, run_py, stored, text_messages)
from harness import CLI, PYTHON, Collector, check, check_eq, messages, run_tests, wait_until

# --------------------------------------------------------------------------
# Three runners, two apps, two versions, three sources, every level
# --------------------------------------------------------------------------

SCRIPT_A = r"""
import sys, logtap
print("a setup", flush=True)
print("debug: a cache warm", flush=True)
with logtap.request("q-a1"):
    print("info: a handling q-a1", flush=True)
    print("warning: a slow q-a1", file=sys.stderr, flush=True)
    print("ERROR: a failed q-a1", file=sys.stderr, flush=True)
print("trace: a idle", flush=True)
print("a plain err", file=sys.stderr, flush=True)
"""
SCRIPT_B = r"""
import sys, logtap
print("b setup", flush=True)
with logtap.request("q-b1"):
    print("b handling q-b1", flush=True)
    print("error: b broke q-b1", file=sys.stderr, flush=True)
print("warn: b low memory", flush=True)
"""
SCRIPT_C = r"""
import sys
print("c migrate", flush=True)
print("c done", file=sys.stderr, flush=True)
"""
LINES_A = [("a setup", "STDOUT"), ("debug: a cache warm", "DEBUG"), ("info: a handling q-a1", "INFO"),
           ("warning: a slow q-a1", "WARN"), ("ERROR: a failed q-a1", "ERROR"), ("trace: a idle", "TRACE"),
           ("a plain err", "STDERR")]
LINES_B = [("b setup", "STDOUT"), ("b handling q-b1", "STDOUT"), ("error: b broke q-b1", "ERROR"),
           ("warn: b low memory", "WARN")]
LINES_C = [("c migrate", "STDOUT"), ("c done", "STDERR")]
RANK = {"TRACE": 0, "DEBUG": 1, "INFO": 2, "STDOUT": 2, "WARN": 3, "STDERR": 4, "ERROR": 5}


def three_runners(c):
    """Runs A (app-a v1, run), B (app-b v2, gateway), C (app-a v2, deploy)
    one after the other; returns the stored entries in id order."""
    run_py(c, "r-a", SCRIPT_A, app="app-a", version="v1")
    stored(c, "runners", "r-a", len(LINES_A))
    run_py(c, "r-b", SCRIPT_B, app="app-b", version="v2", extra=["--source", "gateway"])
    stored(c, "runners", "r-b", len(LINES_B))
    run_py(c, "r-c", SCRIPT_C, app="app-a", version="v2", extra=["--source", "deploy"])
    stored(c, "runners", "r-c", len(LINES_C))
    entries = c.logs("runners", "r-a") + c.logs("runners", "r-b") + c.logs("runners", "r-c")
    check_eq([(e["message"], e["level"]) for e in entries], LINES_A + LINES_B + LINES_C,
             "stored lines and their levels (the precondition of every filter below)")
    check_eq([e["source"] for e in entries], ["run"] * 7 + ["gateway"] * 4 + ["deploy"] * 2, "stored sources")
    ids = [e["id"] for e in entries]
    check(ids == sorted(ids), "the runners' lines are stored in the order they ran: %r" % ids)
    return entries


def test_filters_through_every_log_command():
    with Collector() as c:
        every = three_runners(c)
        a, b, cc = every[:7], every[7:11], every[11:]

        def at_least(level, entries):
            return [e for e in entries if RANK[e["level"]] >= RANK[level]]

        def logs(*args):
            out = cli_ok(c, "logs", *args)
            return [row[4] for row in logs_rows(out)]

        # logtap logs: every filter alone, then in combinations.
        out = cli_ok(c, "logs")
        check_eq(out, expected_text(every, runner_column=True), "logtap logs: every line, RUNNER column")
        check_eq(logs("--app", "app-a"), messages(a + cc), "--app app-a (two runners)")
        check_eq(logs("--app", "app-b"), messages(b), "--app app-b")
        check_eq(logs("--version", "v2"), messages(b + cc), "--version v2 (two apps)")
        check_eq(logs("--app", "app-a", "--version", "v2"), messages(cc), "--app app-a --version v2")
        check_eq(logs("--source", "run"), messages(a), "--source run")
        check_eq(logs("--source", "gateway"), messages(b), "--source gateway")
        check_eq(logs("--source", "deploy"), messages(cc), "--source deploy")
        check_eq(logs("--runner", "r-b"), messages(b), "--runner r-b")
        check_eq(logs("--request", "q-a1"), messages(a[2:5]), "--request q-a1")
        for level in ("TRACE", "DEBUG", "INFO", "STDOUT", "WARN", "STDERR", "ERROR"):
            check_eq(logs("--level", level), messages(at_least(level, every)), "--level %s" % level)
        check_eq(logs("--level", "warn"), messages(at_least("WARN", every)), "--level warn (any case)")
        check_eq(logs("--level", "Error"), ["ERROR: a failed q-a1", "error: b broke q-b1"], "--level Error")
        check_eq(logs("--app", "app-a", "--level", "error"), ["ERROR: a failed q-a1"], "--app app-a --level error")
        check_eq(logs("--request", "q-b1", "--level", "ERROR"), ["error: b broke q-b1"], "--request --level")
        check_eq(logs("--app", "app-a", "--level", "stderr"), ["ERROR: a failed q-a1", "a plain err", "c done"],
                 "--app app-a --level stderr")
        check_eq(logs("--source", "run", "--runner", "r-b"), [], "--source run --runner r-b (nothing)")
        check_eq(logs("--app", "app-a", "--search", "done"), ["c done"], "--app app-a --search done")
        check_eq(logs("--version", "v1", "--request", "q-a1", "--search", "slow"), ["warning: a slow q-a1"],
                 "--version --request --search")
        p = cli(c, "logs", "--app", "no-such-app")
        check_eq((p.returncode, p.stdout, p.stderr), (0, b"", b""), "--app of an app with no lines")
        # Time bounds, -n and json across runners.
        b0 = b[0]["timestamp"]
        check_eq(logs("--since", b0), messages(b + cc), "--since the first line of r-b")
        check_eq(logs("--until", b0, "--level", "warn"), messages(at_least("WARN", a)), "--until with --level")
        check_eq(logs("--app", "app-a", "-n", "2"), ["a plain err", "c migrate", "c done"][-2:], "--app -n 2")
        check_eq(logs("--level", "warn", "-n", "+3"), messages(at_least("WARN", every))[:3], "--level -n +3")
        got = json_lines(cli_ok(c, "logs", "--version", "v2", "--output", "json"))
        check_eq(got, b + cc, "logs --version v2 --output json: the API's entries")
        check_eq(cli_ok(c, "logs", "--runner", "r-c", "--raw"), b"c migrate\nc done\n", "logs --raw")

        # runners logs with filters: the runner's own lines only.
        def runner(ident, *args):
            return text_messages(cli_ok(c, "runners", "logs", ident, *args))
        check_eq(runner("r-a", "--level", "warn"), messages(at_least("WARN", a)), "runners logs --level warn")
        check_eq(runner("r-a", "--request", "q-a1"), messages(a[2:5]), "runners logs --request")
        check_eq(runner("r-a", "--request", "q-b1"), [], "runners logs --request of another runner")
        check_eq(runner("r-a", "--app", "app-b"), [], "runners logs --app of another app")
        check_eq(runner("r-a", "--version", "v1", "--level", "info"), messages(at_least("INFO", a)),
                 "runners logs --version --level")
        check_eq(runner("r-b", "--source", "gateway"), messages(b), "runners logs --source gateway")
        check_eq(runner("r-b", "--source", "run"), [], "runners logs --source run (r-b is gateway)")
        check_eq(cli_ok(c, "runners", "logs", "r-b", "--level", "warn"),
                 expected_text(at_least("WARN", b)), "runners logs --level warn: exact text")

        # requests logs with filters: the request's own lines only.
        def request(ident, *args):
            return text_messages(cli_ok(c, "requests", "logs", ident, *args))
        check_eq(request("q-a1", "--level", "error"), ["ERROR: a failed q-a1"], "requests logs --level error")
        check_eq(request("q-a1", "--runner", "r-a"), messages(a[2:5]), "requests logs --runner (its own)")
        check_eq(request("q-a1", "--runner", "r-b"), [], "requests logs --runner (another)")
        check_eq(request("q-b1", "--app", "app-b", "--level", "warn"), ["error: b broke q-b1"],
                 "requests logs --app --level")
        check_eq(request("q-b1", "--source", "gateway", "--version", "v2"), messages(b[1:3]),
                 "requests logs --source --version")
        check_eq(request("q-a1", "--search", "slow", "--source", "run"), ["warning: a slow q-a1"],
                 "requests logs --search --source")
        check_eq(request("q-a1", "-n", "1", "--level", "warn"), ["ERROR: a failed q-a1"], "requests logs -n 1 --level")


# --------------------------------------------------------------------------
# Paging
# --------------------------------------------------------------------------

STREAM_SCRIPT = r"""
import os, sys, time
gate = sys.argv[1]
i = 0
while not os.path.exists(gate):
    for _ in range(100):
        print("seq %07d" % i, flush=True)
        i += 1
    time.sleep(0.02)
print("stream done", flush=True)
"""


def newest_seq(c, runner):
    status, doc = c.get_json("/v1/runners/%s/logs" % runner, tail=1)
    if status != 200 or not doc["logs"] or not doc["logs"][0]["message"].startswith("seq "):
        return -1
    return int(doc["logs"][0]["message"].split()[1])


def test_paging_while_lines_arrive():
    # The runner keeps writing while the CLI pages (10000 lines a request):
    # each answer must continue exactly where the last one ended.
    with Collector() as c:
        gate = os.path.join(c.workdir, "gate-stream")
        runner = gated_runner(c, "r-stream", STREAM_SCRIPT, gate, LOGTAP_APP_ID="app-stream")
        finished = False
        try:
            # More than two pages of 10000 before the CLI starts.
            wait_until(lambda: newest_seq(c, "r-stream") >= 21000, 180, "21000 lines of the busy runner stored")
            before = newest_seq(c, "r-stream")

            def contiguous(got, what, at_least):
                check(len(got) >= at_least, "%s: %d lines, fewer than the %d stored before it started"
                      % (what, len(got), at_least))
                check_lines(got, ["seq %07d" % i for i in range(len(got))], what + " (a gap or a repeat?)")

            out = cli_ok(c, "logs", "--app", "app-stream", timeout=120)
            contiguous([row[4] for row in logs_rows(out)], "logs --app while lines arrive", before + 1)
            got = json_lines(cli_ok(c, "runners", "logs", "r-stream", "--output", "json", timeout=120))
            contiguous([o["message"] for o in got], "runners logs --output json while lines arrive", before + 1)
            ids = [o["id"] for o in got]
            check(ids == sorted(set(ids)), "ids strictly ascending across pages")
            out = cli_ok(c, "runners", "logs", "r-stream", "-n", "+20500", timeout=120)
            check_lines(text_messages(out), ["seq %07d" % i for i in range(20500)], "-n +20500 while lines arrive")
            got = [row[4] for row in logs_rows(cli_ok(c, "logs", "--app", "app-stream", "-n", "15000",
                                                       timeout=120))]
            check_eq(len(got), 15000, "-n 15000 while lines arrive: number of lines")
            first = int(got[0].split()[1])
            check(first > before - 15000, "-n 15000 starts at seq %d, older than the newest 15000 at the start"
                  % first)
            check_lines(got, ["seq %07d" % i for i in range(first, first + 15000)], "-n 15000: contiguous")
            check(newest_seq(c, "r-stream") > before, "lines kept arriving meanwhile")
        finally:
            rc, err = finish(runner, gate, timeout=120)
            finished = True
        check(finished and rc == 0, "the busy runner exited %s: %r" % (rc, err[-2000:]))


BIG_SCRIPT = r"""
import sys
for i in range(int(sys.argv[1])):
    print("big %06d" % i)
print("big end")
"""


def test_newest_beyond_one_answer():
    # The collector answers at most 100000 lines a request: -n N above that
    # walks back with `before` cursors (stopping at N lines, or at a short
    # answer), -n +N goes forward with `after`.
    total = 100400
    want = ["big %06d" % i for i in range(total)] + ["big end"]
    with Collector() as c:
        r = subprocess.run([CLI, "run", "-q", "--runner", "r-big", "--app", "app-big", "--", PYTHON, "-c", BIG_SCRIPT,
                            str(total)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, env=run_env(c), timeout=300)
        check_eq((r.returncode, r.stderr), (0, b""), "the big runner's exit code and stderr")

        def last_is_end():
            status, doc = c.get_json("/v1/runners/r-big/logs", tail=1)
            return status == 200 and doc["logs"] and doc["logs"][0]["message"] == "big end"
        wait_until(last_is_end, 180, "all %d lines of r-big stored" % len(want))

        def msgs(*args):
            return text_messages(cli_ok(c, *args, timeout=300))
        check_lines(msgs("runners", "logs", "r-big", "-n", "100300"), want[-100300:], "-n 100300 (two answers)")
        check_lines(msgs("runners", "logs", "r-big", "-n", "250000"), want, "-n 250000 (every line, two answers)")
        check_lines(msgs("runners", "logs", "r-big", "-n", "+100001"), want[:100001], "-n +100001 (two answers)")


# --------------------------------------------------------------------------
# Follow
# --------------------------------------------------------------------------

def test_follow_app_and_version_across_runners():
    with Collector() as c:
        run_py(c, "r-f1", "print('f1 old', flush=True)", app="app-f", version="v1")
        old = stored(c, "runners", "r-f1", 1)
        by_app = Follower(["--server", c.url, "logs", "--app", "app-f", "-f"])
        by_version = Follower(["--server", c.url, "logs", "--version", "v2", "-f", "--output", "json"])
        errors = Follower(["--server", c.url, "logs", "--app", "app-f", "--level", "error", "-f"])
        newest = Follower(["--server", c.url, "logs", "--app", "app-f", "-f", "-n", "0"])
        followers = [by_app, by_version, errors, newest]
        try:
            check_eq(b"".join(by_app.read_lines(1, 15, "the existing line of app-f")),
                     expected_text(old, runner_column=True), "follow --app: the existing line first")
            run_py(c, "r-f2", "import sys\nprint('f2 new', flush=True)\n"
                              "print('ERROR f2 bad', file=sys.stderr, flush=True)\n", app="app-f", version="v2")
            stored(c, "runners", "r-f2", 2)
            run_py(c, "r-g", "print('g other', flush=True)", app="app-g", version="v2")
            stored(c, "runners", "r-g", 1)
            run_py(c, "r-f1", "print('f1 again', flush=True)", app="app-f", version="v1")
            stored(c, "runners", "r-f1", 2)
            f1, f2, g = c.logs("runners", "r-f1"), c.logs("runners", "r-f2"), c.logs("runners", "r-g")

            check_eq(b"".join(by_app.read_lines(3, 15, "app-f's new lines from two runners")),
                     expected_text(f2 + f1[1:], runner_column=True), "follow --app app-f: both runners")
            got = [json.loads(l) for l in by_version.read_lines(3, 15, "version v2's lines from two apps")]
            check_eq(got, f2 + g, "follow --version v2 --output json: entries of both apps")
            check_eq(b"".join(errors.read_lines(1, 15, "app-f's error line")),
                     expected_text(f2[1:2], runner_column=True), "follow --app --level error")
            check_eq(b"".join(newest.read_lines(3, 15, "app-f's new lines (-n 0)")),
                     expected_text(f2 + f1[1:], runner_column=True), "follow -n 0: only new lines")
            for f in followers:
                f.quiet_for(0.5)
                rc, rest = f.interrupt()
                check_eq((rc, rest, f.stderr()), (0, b"", b""), "follower exit code, output and stderr after SIGINT")
        finally:
            for f in followers:
                f.kill()


END_SCRIPT = r"""
import os, sys, time, logtap
print("before the request", flush=True)
with logtap.request("q-end"):
    print("end 1", flush=True)
    while not os.path.exists(sys.argv[1]):
        time.sleep(0.01)
    print("end 2", file=sys.stderr, flush=True)
print("after the request", flush=True)
"""


def test_follow_request_ends_when_it_completes():
    with Collector() as c:
        gate = os.path.join(c.workdir, "gate-end")
        runner = gated_runner(c, "r-end", END_SCRIPT, gate)
        f = None
        finished = False
        try:
            stored(c, "requests", "q-end", 1)
            f = Follower(["--server", c.url, "requests", "logs", "q-end", "-f"])
            first = f.read_lines(1, 15, "the request's first line")
            rc, err = finish(runner, gate)
            finished = True
            check_eq(rc, 0, "runner exit code")
            entries = stored(c, "requests", "q-end", 2)
            rest = f.read_lines(1, 15, "the request's last line")
            check_eq(b"".join(first + rest), expected_text(entries), "follow of a request: its lines")
            rc, rest = f.wait_exit(30, "the follower to end once the request completed")
            check_eq((rc, rest, f.stderr()), (0, b"", b""),
                     "follower of a completed request: exit code, further output, stderr")
        finally:
            if f:
                f.kill()
            if not finished:
                finish(runner, gate)

        # A request that completed before the follow started: its lines, then
        # the end.
        for args in (["requests", "logs", "q-end", "-f"], ["requests", "logs", "q-end", "-f", "--output", "json"]):
            f = Follower(["--server", c.url] + args)
            try:
                rc, out = f.wait_exit(30, "logtap %s to end (the request is complete)" % " ".join(args))
                if "json" in args:
                    check_eq([json.loads(l) for l in out.splitlines()], entries, "logtap %s" % " ".join(args))
                else:
                    check_eq(out, expected_text(entries), "logtap %s" % " ".join(args))
                check_eq((rc, f.stderr()), (0, b""), "logtap %s: exit code and stderr" % " ".join(args))
            finally:
                f.kill()


# --------------------------------------------------------------------------
# Conventions users bring from fal, kubectl and docker (issue 16, item 8)
# --------------------------------------------------------------------------

def test_conventions_from_other_tools():
    with Collector() as c:
        every = three_runners(c)
        a, b, cc = every[:7], every[7:11], every[11:]

        def logs(*args):
            return [row[4] for row in logs_rows(cli_ok(c, "logs", *args))]

        # Repeated filters mean "any of"; different filters still all match.
        check_eq(logs("--app", "app-a", "--app", "app-b"), messages(every), "--app app-a --app app-b")
        check_eq(logs("--runner", "r-a", "--runner", "r-c"), messages(a + cc), "--runner r-a --runner r-c")
        check_eq(logs("--version", "v1", "--version", "v2", "--app", "app-b"), messages(b),
                 "--version v1 --version v2 --app app-b")
        check_eq(logs("--request", "q-a1", "--request", "q-b1", "--level", "error"),
                 ["ERROR: a failed q-a1", "error: b broke q-b1"], "--request twice --level error")
        check_eq(logs("--app", "app-b", "--app", "nope"), messages(b), "--app with a value matching nothing")
        check_eq(text_messages(cli_ok(c, "requests", "logs", "q-a1", "--runner", "r-b", "--runner", "r-a")),
                 messages(a[2:5]), "requests logs --runner twice")
        # The API takes the repeated parameters itself.
        status, body, _ = c.request("GET", "/v1/logs", params=[("app", "app-b"), ("app", "app-a"),
                                                                 ("version", "v2")])
        check_eq((status, messages(json.loads(body)["logs"])), (200, messages(b + cc)), "/v1/logs app=&app=")
        status, body, _ = c.request("GET", "/v1/runners/r-a/logs", params=[("runner", "r-b"), ("runner", "r-c")])
        check_eq(status, 400, "runner scope with runner filters that leave it out")

        # Search: --ignore-case (-i) and --exclude.
        check_eq(logs("--search", "ERROR"), ["ERROR: a failed q-a1"], "--search ERROR (case-sensitive)")
        check_eq(logs("--search", "ERROR", "-i"), ["ERROR: a failed q-a1", "error: b broke q-b1"],
                 "--search ERROR -i")
        check_eq(logs("--search", "Q-A1", "--ignore-case", "--exclude", "SLOW"),
                 ["info: a handling q-a1", "ERROR: a failed q-a1"], "--search -i --exclude (folded too)")
        check_eq(logs("--exclude", "a", "--app", "app-b"), ["b setup", "error: b broke q-b1"], "--exclude alone")
        check_eq(logs("--search", "setup", "--exclude", "B"), ["a setup", "b setup"],
                 "--exclude is case-sensitive without -i")
        check_eq(logs("--search", "setup", "--exclude", "B", "-i"), ["a setup"], "--exclude B -i")

        # Level names of other tools: WARNING, CRITICAL, FATAL, NOTSET.
        check_eq(logs("--level", "WARNING"), logs("--level", "WARN"), "--level WARNING is WARN")
        check_eq(logs("--level", "critical"), ["ERROR: a failed q-a1", "error: b broke q-b1"], "--level critical")
        check_eq(logs("--level", "FATAL"), logs("--level", "ERROR"), "--level FATAL is ERROR")
        check_eq(logs("--level", "NOTSET"), messages(every), "--level NOTSET: every line")

        # The level in text output, --tail N as -n N, -o and --json.
        rows = [LEVEL_TEXT_RE.match(l).groups() for l in
                cli_ok(c, "runners", "logs", "r-a").decode().splitlines()]
        check_eq([(r[1], r[2], r[4]) for r in rows], [(e["stream"], e["level"], e["message"]) for e in a],
                 "runners logs text: STREAM LEVEL ... MESSAGE")
        check_eq(cli_ok(c, "logs", "--tail", "3"), cli_ok(c, "logs", "-n", "3"), "--tail 3 is -n 3")
        check_eq(json_lines(cli_ok(c, "logs", "--app", "app-b", "-o", "json")), b, "-o json")
        check_eq(json_lines(cli_ok(c, "logs", "--app", "app-b", "--json")), b, "--json")
        check_eq(json_lines(cli_ok(c, "requests", "logs", "q-b1", "--json", "--tail", "1")), b[2:3],
                 "requests logs --json --tail 1")
        check_eq([o["app_id"] for o in json_lines(cli_ok(c, "apps", "list", "--json"))], [], "apps list --json")
        check_eq(json_lines(cli_ok(c, "whoami", "-o", "json")), [{"user": "admin", "admin": True, "scope": "full"}],
                 "whoami -o json")

        # A reversed --since/--until: a usage error before any request.
        p = cli(c, "logs", "--since", b[0]["timestamp"], "--until", a[0]["timestamp"])
        check_eq((p.returncode, p.stdout), (2, b""), "reversed --since/--until: exit 2, nothing printed")
        check(b"is not before --until" in p.stderr, "reversed --since/--until: %r" % p.stderr)


if __name__ == "__main__":
    run_tests([
        test_filters_through_every_log_command,
        test_paging_while_lines_arrive,
        test_newest_beyond_one_answer,
        test_follow_app_and_version_across_runners,
        test_follow_request_ends_when_it_completes,
        test_conventions_from_other_tools,
    ])
