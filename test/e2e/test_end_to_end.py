"""End to end: a runner's output becomes runner logs and request logs.

Real collector, real LD_PRELOAD, real ZeroMQ, real SQLite, real HTTP.
"""

import os
import subprocess
import tempfile
import time

from harness import (PYTHON, SRC, Collector, TestFailure, check, check_eq, messages, plain_env,
                     run_tests, runner_env, wait_until)

APPS = os.path.join(SRC, "test", "e2e", "apps")


def run_app(app, env, workdir, args=(), timeout=300):
    out_path = os.path.join(workdir, "stdout-%s.txt" % time.monotonic_ns())
    err_path = out_path.replace("stdout", "stderr")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.run([PYTHON, os.path.join(APPS, app)] + list(args), env=env, stdout=out,
                              stderr=err, stdin=subprocess.DEVNULL, timeout=timeout)
    with open(out_path, "rb") as f:
        out = f.read()
    with open(err_path, "rb") as f:
        err = f.read()
    return proc.returncode, out, err


def expected_request_lines(rid, lines):
    return ["%s line %02d" % (rid, n) if n % 2 == 0 else "WARNING %s line %02d" % (rid, n)
            for n in range(lines)]


def test_concurrent_requests_exact_attribution():
    threads, requests, lines = 8, 400, 20
    with Collector() as c:
        env = runner_env(c, runner_id="runner-concurrent")
        rc, out, err = run_app("concurrent_app.py", env, c.workdir,
                               ["--threads", str(threads), "--requests", str(requests), "--lines", str(lines)])
        check_eq(rc, 0, "app exit code")

        # Passed through: every expected line is in the app's own files, whole.
        out_lines = out.decode().splitlines()
        err_lines = err.decode().splitlines()
        req_out = sorted(l for l in out_lines if l.startswith("req-"))
        req_err = sorted(l for l in err_lines if l.startswith("WARNING req-"))
        want_out = sorted(t for i in range(requests) for n, t in
                          enumerate(expected_request_lines("req-%04d" % i, lines)) if n % 2 == 0)
        want_err = sorted(t for i in range(requests) for n, t in
                          enumerate(expected_request_lines("req-%04d" % i, lines)) if n % 2 == 1)
        check_eq(req_out, want_out, "request lines on the app's stdout")
        check_eq(req_err, want_err, "request lines on the app's stderr")

        total_lines = len(out_lines) + len(err_lines)
        runner = wait_until(lambda: (lambda e: e if e and len(e) >= total_lines else None)(
            c.logs("runners", "runner-concurrent")), 60, "all runner lines stored")
        check_eq(sorted(messages(runner)), sorted(out_lines + err_lines), "runner logs = app output")
        for e in runner:
            check_eq(e["runner_id"], "runner-concurrent", "runner_id")
            check_eq(e["stream"], "stdout" if e["message"] in set(out_lines) else "stderr", "stream of " + e["message"])

        # Every request holds exactly its own lines, in order.
        for i in range(requests):
            rid = "req-%04d" % i
            got = c.logs("requests", rid)
            check(got is not None, "request %s unknown to the collector" % rid)
            check_eq(messages(got), expected_request_lines(rid, lines), "request %s logs" % rid)
            check(all(e["request_id"] == rid for e in got), "request_id field of %s" % rid)

        # Nothing written outside a request is in any request's scope.
        outside = [e for e in runner if e["request_id"] is None]
        outside_msgs = messages(outside)
        check("setup: loading weights" in outside_msgs, "setup line in runner scope")
        check(any(m.startswith("background tick") for m in outside_msgs), "background lines in runner scope")
        check(not any(m.startswith("req-") or m.startswith("WARNING req-") for m in outside_msgs),
              "request lines outside requests")
        inside = [e for e in runner if e["request_id"] is not None]
        check_eq(len(inside), requests * lines, "lines attributed to requests")
        print("  %d runner lines, %d request lines, %d outside requests" %
              (len(runner), len(inside), len(outside)))


def test_output_identical_with_and_without_preload():
    with Collector() as c:
        workdir = c.workdir
        plain = run_app("sequential_app.py", plain_env(), workdir, ["5"])
        captured = run_app("sequential_app.py", runner_env(c, runner_id="runner-seq"), workdir, ["5"])
        check_eq(captured[0], plain[0], "exit code with preload")
        check_eq(captured[1], plain[1], "stdout bytes with preload")
        check_eq(captured[2], plain[2], "stderr bytes with preload")
        check_eq(plain[0], 5, "app exit code")

        want = plain[1].decode().splitlines() + plain[2].decode().splitlines()
        runner = wait_until(lambda: (lambda e: e if e and len(e) >= len(want) else None)(
            c.logs("runners", "runner-seq")), 30, "sequential runner lines")
        check_eq(sorted(messages(runner)), sorted(want), "runner logs of the sequential app")
        req3 = messages(c.logs("requests", "seq-3"))
        check_eq(req3[:2], ["request 3 says hi", "INFO:seq: request 3 logged"], "seq-3 first lines")
        check_eq(req3[2], "ERROR:seq: request 3 failed", "seq-3 error line")
        check_eq(req3[-1], "KeyError: 'missing'", "seq-3 traceback tail")
        check(any(l.startswith("Traceback") for l in req3), "traceback in seq-3")
        levels = {e["message"]: e["level"] for e in c.logs("requests", "seq-3")}
        check_eq(levels["ERROR:seq: request 3 failed"], "ERROR", "level of the error line")
        check_eq(levels["request 3 says hi"], "STDOUT", "level of a print line")
        check_eq(levels["INFO:seq: request 3 logged"], "INFO", "level of an info line")
        for i in (0, 1, 2, 4):
            check_eq(messages(c.logs("requests", "seq-%d" % i)),
                     ["request %d says hi" % i, "INFO:seq: request %d logged" % i], "seq-%d logs" % i)


def test_no_collector_same_exit_code_and_output():
    workdir = tempfile.mkdtemp(prefix="logtap-nocollector-")
    plain = run_app("sequential_app.py", plain_env(), workdir, ["7"])
    start = time.monotonic()
    captured = run_app("sequential_app.py", runner_env(None, runner_id="runner-alone"), workdir, ["7"])
    elapsed = time.monotonic() - start
    check_eq(captured, plain, "(exit code, stdout, stderr) without a collector")
    check(elapsed < 10, "runner without collector took %.1fs" % elapsed)


def test_runner_started_before_collector():
    with Collector() as c:
        c.stop()  # the endpoint is free again; start the runner first
        c.proc = None
        env = runner_env(c, runner_id="runner-early")
        script = ("import time, sys\n"
                  "for i in range(50): print('early %d' % i)\n"
                  "sys.stdout.flush()\n"
                  "open(sys.argv[1], 'w').close()\n"
                  "for _ in range(600):\n"
                  "    time.sleep(0.05)\n"
                  "    import os\n"
                  "    if os.path.exists(sys.argv[2]): break\n"
                  "for i in range(50): print('late %d' % i)\n")
        ready, go = os.path.join(c.workdir, "ready"), os.path.join(c.workdir, "go")
        with open(os.path.join(c.workdir, "early.out"), "wb") as out:
            proc = subprocess.Popen([PYTHON, "-c", script, ready, go], env=env, stdout=out,
                                    stderr=subprocess.PIPE)
            wait_until(lambda: os.path.exists(ready), 30, "runner wrote its early lines")
            c.start()
            open(go, "w").close()
            check_eq(proc.wait(60), 0, "runner exit code")
        want = ["early %d" % i for i in range(50)] + ["late %d" % i for i in range(50)]
        got = wait_until(lambda: (lambda e: e if e and len(e) >= 100 else None)(
            c.logs("runners", "runner-early")), 30, "backlog delivered")
        check_eq(messages(got), want, "lines written before and after the collector started")


def test_request_status_in_progress_then_completed():
    with Collector() as c:
        env = runner_env(c, runner_id="runner-status")
        gate = os.path.join(c.workdir, "gate")
        script = ("import os, sys, time, logtap\n"
                  "with logtap.request('req-status'):\n"
                  "    print('working on it')\n"
                  "    while not os.path.exists(sys.argv[1]): time.sleep(0.02)\n"
                  "    print('done')\n")
        proc = subprocess.Popen([PYTHON, "-c", script, gate], env=env, stdout=subprocess.DEVNULL)
        try:
            def in_progress():
                status, doc = c.get_json("/v1/requests/req-status/status", logs=1)
                return doc if status == 200 and doc["logs"] else None
            doc = wait_until(in_progress, 30, "request visible while in progress")
            check_eq(doc["status"], "IN_PROGRESS", "status while running")
            check_eq(doc["request_id"], "req-status", "request_id")
            check_eq([l["message"] for l in doc["logs"]], ["working on it"], "logs while running")
            check_eq(sorted(doc["logs"][0].keys()), ["level", "message", "source", "timestamp"],
                     "fal's log entry fields")
        finally:
            open(gate, "w").close()
            proc.wait(30)

        def completed():
            status, doc = c.get_json("/v1/requests/req-status/status", logs=1)
            return doc if doc and doc["status"] == "COMPLETED" else None
        doc = wait_until(completed, 30, "request completed")
        check_eq([l["message"] for l in doc["logs"]], ["working on it", "done"], "logs after completion")
        check_eq(sorted(doc), ["logs", "request_id", "status"], "fal's queue-status fields, no others")
        status, doc = c.get_json("/v1/requests/req-status/status")
        check("logs" not in doc, "no logs without logs=1")
        status, _ = c.get_json("/v1/requests/no-such-request/status", wait=0)
        check_eq(status, 404, "status of an unknown request")


def test_asyncio_tasks_on_one_thread_exact_attribution():
    with Collector() as c:
        rc, out, err = run_app("asyncio_app.py", runner_env(c, runner_id="runner-aio"), c.workdir)
        check_eq(rc, 0, "asyncio app exit code")
        total = len(out.decode().splitlines()) + len(err.decode().splitlines())
        check_eq(total, 100 * 11 + 2, "lines the app wrote")
        for i in range(100):
            rid = "areq-%03d" % i
            want = ["%s line %d" % (rid, n) if n % 2 == 0 else "WARNING %s line %d" % (rid, n)
                    for n in range(10)] + ["%s partial done" % rid]
            got = wait_until(lambda: (lambda e: e if e and len(e) >= len(want) else None)(
                c.logs("requests", rid)), 30, "lines of %s" % rid)
            check_eq(messages(got), want, "request %s logs" % rid)
        runner = c.logs("runners", "runner-aio")
        outside = [e["message"] for e in runner if e["request_id"] is None]
        check_eq(outside, ["before the loop", "after the loop"], "lines outside requests")


if __name__ == "__main__":
    run_tests([
        test_concurrent_requests_exact_attribution,
        test_output_identical_with_and_without_preload,
        test_no_collector_same_exit_code_and_output,
        test_runner_started_before_collector,
        test_request_status_in_progress_then_completed,
        test_asyncio_tasks_on_one_thread_exact_attribution,
    ])
