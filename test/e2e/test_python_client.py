"""End-to-end tests of the Python side as a new user meets it: an app run by
`logtap run` does `import logtap` with no PYTHONPATH of its own, and its
logs are read back with `logtap.client` (standard library only) from a real
collector over real HTTP: status with logs, status streamed to a callback,
following a runner and a request, the CLI's token rules, and the API's
errors as exceptions.
"""

import os
import subprocess
import sys
import threading

from cli_support import run_env
from harness import BINDINGS, CLI, PYTHON, Collector, TestFailure, check, check_eq, run_tests, wait_until

sys.path.insert(0, BINDINGS)
import logtap.client as lc  # noqa: E402

REQUEST = "pyc-req-1"
RUNNER = "pyc-runner"

# The app: serves one request that waits for a go file, so that the test
# sees it in progress, then ends it. It imports the binding the way the
# README says, with nothing on PYTHONPATH but what logtap run puts there.
APP = r"""
import os, sys, time
import logtap
print("preloaded", logtap.preloaded(), flush=True)
go = sys.argv[1]
with logtap.request("%(req)s", caller="bob"):
    print("request line 1", flush=True)
    while not os.path.exists(go):
        time.sleep(0.02)
    print("request line 2", flush=True)
    sys.stderr.write("request line 3 on stderr\n")
print("runner done", flush=True)
""" % {"req": REQUEST}


def app_env(c):
    env = run_env(c)
    # Only what the test harness itself needs; never the binding.
    env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
    check(BINDINGS not in env["PYTHONPATH"].split(os.pathsep), "the binding is not on the app's PYTHONPATH")
    return env


def start_app(c, workdir, runner=RUNNER):
    go = os.path.join(workdir, "go")
    proc = subprocess.Popen([CLI, "run", "--quiet", "--runner", runner, "--app", "pyc-app", "--", PYTHON, "-c",
                             APP, go], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=app_env(c))
    return proc, go


def lines_once_known(fetch):
    """fetch()'s messages, or None while the ID is still unknown (404)."""
    try:
        return [e["message"] for e in fetch()]
    except lc.NotFound:
        return None


def finish(proc):
    out, err = proc.communicate(timeout=60)
    check_eq((proc.returncode, err.decode()), (0, "request line 3 on stderr\n"), "the app's exit status and stderr")
    check_eq(out.decode().splitlines(), ["preloaded True", "request line 1", "request line 2", "runner done"],
             "the app's stdout (import logtap worked, under the preload)")


def test_status_stream_and_follow():
    with Collector() as c:
        client = lc.Client(server=c.url, token=c.token)
        proc, go = start_app(c, c.workdir)
        try:
            wait_until(lambda: "request line 1" in (lines_once_known(lambda: client.request_logs(REQUEST)) or []),
                       20, "request line 1 stored")
            st = client.status(REQUEST, with_logs=True)
            check(isinstance(st, lc.InProgress), "status while the request runs: %r" % st)
            check_eq((st.request_id, st.status), (REQUEST, "IN_PROGRESS"), "status fields")
            check_eq([l["message"] for l in st.logs], ["request line 1"], "status logs so far")
            check_eq(sorted(st.logs[0]), ["level", "message", "source", "timestamp"], "a status line's keys")
            check(client.status(REQUEST).logs is None, "status without with_logs has no logs")

            updates = []
            result = {}

            def stream():
                try:
                    result["final"] = client.stream_status(REQUEST, on_update=updates.append)
                except Exception as e:  # reported by the main thread
                    result["error"] = e

            follower_lines = []

            def follow():
                try:
                    for entry in client.follow_request(REQUEST):
                        follower_lines.append(entry["message"])
                    result["follow_done"] = True
                except Exception as e:
                    result["follow_error"] = e

            threads = [threading.Thread(target=stream, daemon=True), threading.Thread(target=follow, daemon=True)]
            for t in threads:
                t.start()
            wait_until(lambda: updates, 10, "the first status update")
            check(isinstance(updates[0], lc.InProgress), "first update: %r" % updates[0])
            check_eq([l["message"] for l in updates[0].logs], ["request line 1"], "first update's logs")
            open(go, "w").close()
            for t in threads:
                t.join(30)
                check(not t.is_alive(), "stream_status and follow_request return once the request completes")
            check("error" not in result and "follow_error" not in result, "stream errors: %r" % result)
            final = result["final"]
            check(isinstance(final, lc.Completed), "stream_status returns Completed: %r" % final)
            check_eq(updates[-1], final, "the last update is the returned Completed")
            middle = updates[1:-1]
            check(all(isinstance(u, lc.InProgress) and len(u.logs) == 1 for u in middle),
                  "updates between: one new line each: %r" % middle)
            check_eq(sorted(u.logs[0]["message"] for u in middle), ["request line 2", "request line 3 on stderr"],
                     "the new lines, each in an update")
            check_eq(sorted(l["message"] for l in final.logs),
                     ["request line 1", "request line 2", "request line 3 on stderr"], "Completed's logs")
            check_eq(sorted(follower_lines), ["request line 1", "request line 2", "request line 3 on stderr"],
                     "follow_request's lines, ending at the END")
        finally:
            open(go, "w").close()
            finish(proc)

        # After the fact: status, a stream of a completed request, pages.
        check(isinstance(client.status(REQUEST), lc.Completed), "status after END")
        seen = []
        final = client.stream_status(REQUEST, on_update=seen.append, with_logs=False)
        check_eq(seen, [lc.Completed(REQUEST, "COMPLETED", None)], "a completed request streams Completed at once")
        runner_lines = wait_until(lambda: [e["message"] for e in client.runner_logs(RUNNER)]
                                  if len(client.runner_logs(RUNNER)) >= 5 else None, 10, "the runner's lines")
        check_eq(sorted(runner_lines), sorted(["preloaded True", "request line 1", "request line 2",
                                               "request line 3 on stderr", "runner done"]), "runner_logs")
        check_eq([e["message"] for e in client.runner_logs(RUNNER, tail=1)], ["runner done"], "runner_logs tail=1")
        check_eq([e["message"] for e in client.runner_logs(RUNNER, limit=2)], runner_lines[:2], "runner_logs limit=2")
        check_eq([e["message"] for e in client.request_logs(REQUEST, search="line 2")], ["request line 2"],
                 "request_logs with a filter")

        # follow_runner: the stored lines first, then new ones; never ends.
        gen = client.follow_runner(RUNNER)
        got = [next(gen)["message"] for _ in range(5)]
        gen.close()
        check_eq(sorted(got), sorted(runner_lines), "follow_runner's first lines")


def test_errors():
    with Collector() as c:
        bad = lc.Client(server=c.url, token="lt_not_a_real_token")
        for call in (lambda: bad.status("anything"), lambda: bad.runner_logs("anything"),
                     lambda: next(bad.follow_runner("anything"))):
            try:
                call()
                raise TestFailure("a bad token did not raise")
            except lc.Unauthorized as e:
                check_eq((e.status, e.message), (401, "invalid token"), "a bad token's error")
        good = lc.Client(server=c.url, token=c.token)
        # wait=0: an unknown request is not waited for (the collector's default is 60 s)
        for call in (lambda: good.status("no-such-request", wait=0), lambda: good.request_logs("no-such-request"),
                     lambda: next(good.follow_request("no-such-request", wait=0)),
                     lambda: good.stream_status("no-such-request", wait=0)):
            try:
                call()
                raise TestFailure("an unknown request did not raise")
            except lc.NotFound as e:
                check_eq(e.status, 404, "an unknown request's status")
                check(isinstance(e, lc.APIError) and e.message, "the API's message: %r" % e.message)
        try:
            good.runner_logs("r-1", level="loud")
            raise TestFailure("a bad filter did not raise")
        except lc.APIError as e:
            check_eq(e.status, 400, "a bad filter's status")
            check("level" in e.message, "the 400 names the parameter: %r" % e.message)
        try:
            lc.Client(server="http://127.0.0.1:1", token="x").status("r")
            raise TestFailure("an unreachable collector did not raise")
        except lc.CollectorUnreachable as e:
            check("127.0.0.1:1" in str(e), "unreachable names the server: %s" % e)


def test_token_from_environment_and_credentials():
    with Collector(args=["--credentials", "none"]) as c:
        saved = {k: os.environ.get(k) for k in ("LOGTAP_SERVER", "LOGTAP_TOKEN", "LOGTAP_CREDENTIALS")}
        try:
            os.environ["LOGTAP_SERVER"] = c.url + "/"
            os.environ.pop("LOGTAP_CREDENTIALS", None)
            os.environ["LOGTAP_TOKEN"] = c.token
            check_eq(lc.Client().whoami()["user"], "admin", "LOGTAP_SERVER and LOGTAP_TOKEN")
            del os.environ["LOGTAP_TOKEN"]
            try:
                lc.status("x")
                raise TestFailure("no token did not raise")
            except lc.Unauthorized as e:
                check("no token was sent" in e.message, "401 without a token says so: %r" % e.message)

            path = os.path.join(c.workdir, "creds")
            with open(path, "w") as f:
                f.write("# for the test\nhttp://elsewhere:1 lt_other\n%s/ %s\nnot a line at all\n" % (c.url, c.token))
            os.chmod(path, 0o600)
            check_eq(lc.Client(credentials=path).whoami()["user"], "admin", "credentials=")
            os.environ["LOGTAP_CREDENTIALS"] = path
            try:
                lc.runner_logs("nobody-wrote-this")
                raise TestFailure("an unknown runner did not raise")
            except lc.NotFound:
                pass  # the token was taken from LOGTAP_CREDENTIALS's file: not a 401
            os.chmod(path, 0o644)
            try:
                lc.Client()
                raise TestFailure("a readable credentials file was used")
            except lc.ConfigError as e:
                check("chmod 600" in str(e), "the refusal says how to fix it: %s" % e)
            os.environ["LOGTAP_CREDENTIALS"] = path + ".missing"
            try:
                lc.Client()
                raise TestFailure("a missing named credentials file was accepted")
            except lc.ConfigError as e:
                check("does not exist" in str(e), "a missing named file: %s" % e)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


if __name__ == "__main__":
    run_tests([test_status_stream_and_follow, test_errors, test_token_from_environment_and_credentials])
