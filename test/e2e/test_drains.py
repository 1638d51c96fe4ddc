"""Log drains (issue 18): an app's lines pushed to NDJSON, OTLP and syslog
destinations, at least once and in order, with a durable cursor.

- NDJSON over HTTPS (a certificate made by openssl here, trusted through
  --drain-ca-file): the receiver checks every batch's HMAC-SHA256
  signature and timestamp with the secret the API showed once; 50,000
  lines arrive exactly once, in order; the secret is not in the store file.
- Across a collector SIGKILL and a receiver down for 10 s (the issue's
  60 s, shortened with --drain-backoff-max 1s): every line arrives, in
  order per runner once the batches a receiver saw twice (same
  Idempotency-Key, same lines) are dropped.
- The API's rules: URLs by kind, plain http only to loopback/private
  addresses, the collector's own port refused, allow_loopback admin's,
  another owner's app and drains 404; the CLI's add/list/remove.
- Syslog into a private rsyslogd over TCP: every line once, app and runner
  in the structured data; over TLS to a Python receiver (rsyslog's TLS
  driver is another package): refused without the CA, every line once
  with it.
- OTLP/HTTP JSON: every payload decoded by the OpenTelemetry project's own
  protocol definitions (test/otlp: the protobufjs code generated from
  opentelemetry-proto in @opentelemetry/otlp-transformer, pinned by its
  package-lock.json; scripts/install-otlp-deps.sh): it must survive
  encoding to protobuf and back unchanged, and every field is checked.
- A destination down while retention deletes the app's lines: every line
  is delivered or counted in lines_missed, none twice.
- A destination that accepts and never answers: a second drain and ingest
  go on (measured), the collector's memory stays bounded.
"""

import os
import re
import signal
import sqlite3
import subprocess
import tempfile
import time

from harness import (CLI, PYTHON, SRC, Collector, TestFailure, check, check_eq, run_tests, runner_env, status_kb, wait_until)
from drain_receivers import HangingReceiver, HttpReceiver, Rsyslog, SyslogTlsReceiver, make_certificate

# Under a sanitizer RSS also holds ASan's quarantine (256 MB) or TSan's
# shadow, and everything runs slower: the bounds get room (as
# test_hostile_memory.py's do).
SANITIZED = bool(os.environ.get("LOGTAP_TEST_PRELOAD"))
RSS_BOUND_KB = (768 + 64) * 1024 if SANITIZED else 64 * 1024

WRITER = r'''
import os, sys, time
prefix, count, pause_every, pause = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
for i in range(count):
    os.write(1 if i % 3 else 2, ("%s %06d\n" % (prefix, i)).encode())
    if pause_every and i % pause_every == pause_every - 1:
        time.sleep(pause)
'''


def write_lines(c, runner, app, prefix, count, pause_every=0, pause=0.0, wait=True, **env):
    proc = subprocess.Popen([PYTHON, "-c", WRITER, prefix, str(count), str(pause_every), str(pause)],
                            env=runner_env(c, runner_id=runner, LOGTAP_APP_ID=app, **env),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if wait:
        check_eq(proc.wait(60), 0, "writer exit status")
    return proc


def add_drain(c, app, body, token=Collector.ADMIN, want=201):
    status, doc = c.call_json("POST", "/v1/apps/%s/drains" % app, body, token=token)
    check_eq(status, want, "POST drain %r: %r" % (body, doc))
    return doc


def check_in_order(entries, what):
    """Per runner, line IDs only grow."""
    last = {}
    for e in entries:
        check(e["id"] > last.get(e["runner_id"], 0), "%s: line %d after %d for runner %s" %
              (what, e["id"], last.get(e["runner_id"], 0), e["runner_id"]))
        last[e["runner_id"]] = e["id"]


def test_ndjson_exactly_once():
    tmp = tempfile.mkdtemp(prefix="logtap-drains-")
    cert, key = make_certificate(tmp)
    rx = HttpReceiver(cert, key).start()
    try:
        with Collector(args=["--drain-ca-file", cert]) as c:
            doc = add_drain(c, "shop", {"kind": "ndjson", "url": rx.url})
            rx.secret = doc["secret"]
            check(re.fullmatch(r"lds_[0-9a-f]{64}", rx.secret), "secret shape: %r" % rx.secret)
            # Shown once: never again in a listing.
            status, listing = c.get_json("/v1/apps/shop/drains")
            check_eq(status, 200, "list status")
            check("secret" not in listing["drains"][0], "a listing shows no secret")
            # Another app's lines are not this drain's.
            write_lines(c, "r-other", "other", "other", 100)
            start = time.monotonic()
            write_lines(c, "r-shop-1", "shop", "one", 25000)
            write_lines(c, "r-shop-2", "shop", "two", 25000)
            wait_until(lambda: rx.count() >= 50000, 60, "50,000 lines at the receiver")
            elapsed = time.monotonic() - start
            time.sleep(1)  # nothing more comes
            entries = [e for _, e in rx.entries()]
            check_eq(len(entries), 50000, "lines received (exactly once)")
            check_eq(rx.bad_signatures, 0, "batches with a bad signature")
            check_eq(len({e["id"] for e in entries}), 50000, "distinct lines")
            check_eq({e["app_id"] for e in entries}, {"shop"}, "apps drained")
            check_in_order(entries, "ndjson")
            ones = [e["message"] for e in entries if e["runner_id"] == "r-shop-1"]
            check_eq(ones, ["one %06d" % i for i in range(25000)], "runner 1's messages in order")
            first = entries[0]
            for k in ("id", "timestamp", "message", "level", "stream", "source", "runner_id", "request_id",
                      "app_id", "version_id", "pid", "tid"):
                check(k in first, "entry field %s" % k)
            headers = rx.batches[0][1]
            check_eq(headers.get("Content-Type"), "application/x-ndjson", "content type")
            check(re.fullmatch(r"drn_[0-9a-f]{16}:\d+-\d+", headers.get("Idempotency-Key", "")),
                  "idempotency key %r" % headers.get("Idempotency-Key"))
            metrics = c.metrics()
            sent = [v for k, v in metrics.items() if k.startswith("logtap_drain_lines_sent_total{")]
            check_eq(sent, [50000.0], "logtap_drain_lines_sent_total")
            status, shown = c.get_json("/v1/drains/" + doc["id"])
            check_eq((shown["lines_sent"], shown["state"]), (50000, "idle"), "drain after delivery")
            print("ndjson: 50,000 lines over HTTPS in %.2fs (%.0f lines/s, writing included)" %
                  (elapsed, 50000 / elapsed))
            db = open(os.path.join(c.data, "logtap.db"), "rb").read()
            wal = os.path.join(c.data, "logtap.db-wal")
            if os.path.exists(wal):
                db += open(wal, "rb").read()
            check(rx.secret.encode() not in db and rx.secret[4:].encode() not in db,
                  "the secret is not in the store's files")
            check_eq(os.stat(os.path.join(c.data, "drains.key")).st_mode & 0o777, 0o600, "drains.key mode")
    finally:
        rx.stop()


def test_ndjson_kill_and_outage():
    tmp = tempfile.mkdtemp(prefix="logtap-drains-")
    cert, key = make_certificate(tmp)
    rx = HttpReceiver(cert, key).start()
    c = Collector(args=["--drain-ca-file", cert, "--drain-backoff-max", "1s", "--drain-batch-lines", "500"])
    c.start()
    try:
        rx.secret = add_drain(c, "shop", {"kind": "ndjson", "url": rx.url})["secret"]
        total = 20000
        writer = write_lines(c, "r-kill", "shop", "k", total, pause_every=500, pause=0.15, wait=False)
        wait_until(lambda: rx.count() >= 2000, 20, "first lines delivered")
        # Two batches whose answer is lost: the receiver keeps them and
        # answers 503, so the collector sends them again.
        rx.lose_answers = 2
        rx.stop()  # the receiver goes down ...
        down_at = time.monotonic()
        time.sleep(1)
        c.stop(signal.SIGKILL)  # ... and the collector is killed meanwhile
        c.start()
        check_eq(writer.wait(60), 0, "writer exit status")
        time.sleep(max(0.0, 10 - (time.monotonic() - down_at)))
        rx.start()  # back after 10 s, on the same port
        wait_until(lambda: len({e["id"] for _, e in rx.entries()}) >= total, 60, "every line after the outage")
        time.sleep(1.5)
        batches = list(rx.batches)
        check_eq(rx.bad_signatures, 0, "bad signatures")
        seen_keys, kept, duplicates = {}, [], 0
        for key_, _, body in batches:
            if key_ in seen_keys:
                check_eq(body.splitlines(), seen_keys[key_], "a batch sent twice carries the same lines")
                duplicates += 1
                continue
            seen_keys[key_] = body.splitlines()
            kept.extend(__import__("json").loads(line) for line in body.splitlines())
        ids = [e["id"] for e in kept]
        check_eq(len(ids), len(set(ids)), "after dropping repeated keys, every line once")
        check_eq([e["message"] for e in kept], ["k %06d" % i for i in range(total)], "every line, in order")
        check_in_order(kept, "after the outage")
        check(duplicates >= 2, "the batches whose answer was lost came again under their key")
        print("kill + 10 s outage: %d batches, %d sent again (same key)" % (len(batches), duplicates))
        failed = [v for k, v in c.metrics().items() if k.startswith("logtap_drain_batches_failed_total{")]
        check(failed and failed[0] >= 1, "failed batches counted: %r" % failed)
    finally:
        c.stop()
        rx.stop()


def test_missed_lines_are_counted():
    rx = HttpReceiver()  # not started yet: the destination is down
    try:
        with Collector(args=["--retain-size-per-app", "256K", "--drain-backoff-max", "1s"]) as c:
            drain = add_drain(c, "shop", {"kind": "ndjson", "url": rx.url})
            rx.secret = drain["secret"]
            total = 20000
            write_lines(c, "r-miss", "shop", "miss", total)

            def missed():
                return c.get_json("/v1/drains/" + drain["id"])[1]["lines_missed"]
            wait_until(lambda: missed() > 0, 30, "lines counted missed while the destination is down")
            # retention settles (the app over its share loses its oldest lines)
            last = -1
            while missed() != last:
                last = missed()
                time.sleep(1.5)
            rx.start()

            def settled():
                d = c.get_json("/v1/drains/" + drain["id"])[1]
                return d["lines_sent"] + d["lines_missed"] == total and d["state"] == "idle"
            wait_until(settled, 30, "every line delivered or counted missed")
            d = c.get_json("/v1/drains/" + drain["id"])[1]
            received = [e["message"] for _, e in rx.entries()]
            check_eq(len(received), d["lines_sent"], "lines the receiver has")
            check_eq(len(set(received)), len(received), "no line twice")
            check(d["lines_missed"] > total // 2, "most lines were deleted before delivery: %r" % d)
            metrics = c.metrics()
            check_eq([v for k, v in metrics.items() if k.startswith("logtap_drain_lines_missed_total{")],
                     [float(d["lines_missed"])], "logtap_drain_lines_missed_total")
            print("retention during an outage: %d delivered + %d counted missed = %d written" %
                  (d["lines_sent"], d["lines_missed"], total))
    finally:
        rx.stop()


def test_api_rules():
    rx = HttpReceiver().start()
    try:
        with Collector() as c:
            for body, want in [({"kind": "ndjson", "url": "ftp://127.0.0.1/x"}, "https://"),
                               ({"kind": "ndjson", "url": "http://8.8.8.8/x"}, "loopback and private"),
                               ({"kind": "ndjson", "url": c.url + "/v1/logs"}, "own port"),
                               ({"kind": "syslog", "url": "https://127.0.0.1:1"}, "tcp://"),
                               ({"kind": "syslog", "url": "tcp://127.0.0.1"}, "port"),
                               ({"kind": "gelf", "url": rx.url}, "kind"),
                               ({"kind": "ndjson", "url": rx.url, "level": "LOUD"}, "level"),
                               ({"kind": "ndjson", "url": rx.url, "extra": 1}, "unknown key")]:
                status, doc = c.call_json("POST", "/v1/apps/shop/drains", body)
                check_eq(status, 400, "POST %r" % body)
                check(want in doc["error"], "error for %r names %r: %r" % (body, want, doc["error"]))
            # admin may allow the collector's own port explicitly
            add_drain(c, "shop", {"kind": "ndjson", "url": c.url + "/x", "allow_loopback": True})
            # owners: alice deploys shop2; bob may not see or drain it
            status, alice = c.call_json("POST", "/v1/tokens", {"user": "alice"})
            status, bob = c.call_json("POST", "/v1/tokens", {"user": "bob"})
            check_eq(c.call_json("PUT", "/v1/apps/shop2", {"owner": "alice"})[0], 200, "deploy")
            mine = add_drain(c, "shop2", {"kind": "ndjson", "url": rx.url, "scope": "request", "level": "warn"},
                             token=alice["token"])
            check_eq(mine["filters"], {"scope": "request", "runner": None, "source": None, "level": "WARN"},
                     "filters")
            add_drain(c, "shop2", {"kind": "ndjson", "url": rx.url}, token=bob["token"], want=404)
            add_drain(c, "shop2", {"kind": "ndjson", "url": c.url + "/x", "allow_loopback": True},
                      token=alice["token"], want=403)
            check_eq(c.call_json("GET", "/v1/drains/" + mine["id"], token=bob["token"])[0], 404, "bob's view")
            check_eq(c.call_json("DELETE", "/v1/drains/" + mine["id"], token=bob["token"])[0], 404,
                     "bob's delete")
            status, listing = c.call_json("GET", "/v1/drains", token=alice["token"])
            check_eq([d["id"] for d in listing["drains"]], [mine["id"]], "alice's drains")
            # the CLI
            env = dict(os.environ, LOGTAP_SERVER=c.url, LOGTAP_TOKEN=alice["token"])
            out = subprocess.run([CLI, "drains", "add", "shop2", "--kind", "otlp", "--url", rx.url,
                                  "--source", "run"], env=env, capture_output=True, text=True)
            check_eq(out.returncode, 0, "drains add: %s" % out.stderr)
            drain_id, secret = out.stdout.split()
            check(drain_id.startswith("drn_") and secret.startswith("lds_"), "drains add output %r" % out.stdout)
            out = subprocess.run([CLI, "drains", "list"], env=env, capture_output=True, text=True)
            check(drain_id in out.stdout and mine["id"] in out.stdout, "drains list: %s" % out.stdout)
            out = subprocess.run([CLI, "drains", "remove", drain_id], env=env, capture_output=True, text=True)
            check_eq(out.returncode, 0, "drains remove: %s" % out.stderr)
            out = subprocess.run([CLI, "drains", "add", "shop2", "--kind", "syslog", "--url", rx.url], env=env,
                                 capture_output=True, text=True)
            check_eq(out.returncode, 2, "a syslog drain with an http url is a usage error")
            status, listing = c.call_json("GET", "/v1/apps/shop2/drains", token=alice["token"])
            check_eq([d["id"] for d in listing["drains"]], [mine["id"]], "after remove")
            # at most 8 drains an app (a thread, connections and a buffer each)
            for _ in range(7):
                add_drain(c, "shop2", {"kind": "ndjson", "url": rx.url}, token=alice["token"])
            status, doc = c.call_json("POST", "/v1/apps/shop2/drains", {"kind": "ndjson", "url": rx.url},
                                      token=alice["token"])
            check_eq(status, 409, "a ninth drain of one app")
            check("too many drains" in doc["error"], "the ninth drain's error: %r" % doc)
    finally:
        rx.stop()


def test_syslog_rsyslog():
    if not Rsyslog.available():
        raise AssertionError("rsyslogd is not installed (scripts/install-deps.sh installs rsyslog)")
    tmp = tempfile.mkdtemp(prefix="logtap-drains-")
    rs = Rsyslog(tmp).start()
    try:
        with Collector() as c:
            add_drain(c, "shop", {"kind": "syslog", "url": rs.url})
            total = 5000
            write_lines(c, "r-sys", "shop", 'sys "quoted] line', total)
            wait_until(lambda: len(rs.lines()) >= total, 30, "lines in rsyslog's file")
            time.sleep(1)
            lines = rs.lines()
            check_eq(len(lines), total, "lines rsyslog stored (each once)")
            for i, line in enumerate(lines):
                check(line.startswith("shop "), "APP-NAME: %r" % line)
                check('app="shop"' in line and 'runner="r-sys"' in line, "structured data: %r" % line)
                check(line.endswith('sys "quoted] line %06d' % i), "message %d in order: %r" % (i, line))
            check(re.search(r' (stdout|stderr) \[logtap@32473 ', lines[0]), "MSGID and SD-ID: %r" % lines[0])
            print("syslog: %d lines into rsyslogd, each once" % total)
    finally:
        rs.stop()


def test_syslog_tls():
    tmp = tempfile.mkdtemp(prefix="logtap-drains-")
    cert, key = make_certificate(tmp)
    rx = SyslogTlsReceiver(cert, key)
    try:
        # Without the CA the certificate is not trusted: nothing is sent.
        with Collector(args=["--drain-backoff-max", "1s"]) as c:
            d = add_drain(c, "shop", {"kind": "syslog", "url": rx.url})
            write_lines(c, "r-tls", "shop", "tls", 10)
            wait_until(lambda: c.get_json("/v1/drains/" + d["id"])[1]["batches_failed"] >= 1, 20,
                       "a failed TLS handshake")
            check("TLS handshake failed" in (c.get_json("/v1/drains/" + d["id"])[1]["last_error"] or ""),
                  "the drain says why: %r" % c.get_json("/v1/drains/" + d["id"])[1])
            check_eq(rx.messages, [], "nothing sent to an untrusted certificate")
        with Collector(args=["--drain-ca-file", cert]) as c:
            add_drain(c, "shop", {"kind": "syslog", "url": rx.url})  # tls://localhost:PORT
            # and by IP address: checked against the certificate's IP name
            add_drain(c, "shop", {"kind": "syslog", "url": rx.url.replace("localhost", "127.0.0.1")})
            write_lines(c, "r-tls", "shop", "tls", 3000)
            wait_until(lambda: len(rx.messages) >= 6000, 30, "messages over TLS")
            time.sleep(0.5)
            check_eq(len(rx.messages), 6000, "messages over TLS (each once, for each of the two drains)")
            got = sorted(rx.messages, key=lambda m: m[-6:])
            check(all(m.endswith("tls %06d" % (i // 2)) and 'runner="r-tls"' in m for i, m in enumerate(got)),
                  "every message, twice: %r" % got[:3])
    finally:
        rx.stop()


def test_otlp_fields():
    rx = HttpReceiver().start()
    try:
        with Collector() as c:
            rx.secret = add_drain(c, "shop", {"kind": "otlp", "url": rx.url})["secret"]
            code = ("import logtap, os\n"
                    "os.write(1, b'outside\\n')\n"
                    "with logtap.request('req-otlp'):\n"
                    "    os.write(2, b'ERROR: it broke\\n')\n")
            proc = subprocess.run([PYTHON, "-c", code], env=runner_env(c, runner_id="r-otlp",
                                  LOGTAP_APP_ID="shop", LOGTAP_VERSION_ID="v7", LOGTAP_SOURCE="gateway"),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            check_eq(proc.returncode, 0, "runner exit")
            wait_until(lambda: sum(b.count(b"logRecords") for _, _, b in rx.batches) >= 1 and
                       sum(len(r) for r in records(rx)) >= 2, 20, "OTLP records")
            check_eq(rx.batches[0][1].get("Content-Type"), "application/json", "content type")
            doc = decode_otlp([rx.batches[0][2]])[0]
            check_eq(list(doc), ["resourceLogs"], "top level")
            rl = doc["resourceLogs"][0]
            attrs = {a["key"]: a["value"] for a in rl["resource"]["attributes"]}
            check_eq(attrs, {"service.name": {"stringValue": "shop"}, "service.version": {"stringValue": "v7"},
                             "logtap.runner_id": {"stringValue": "r-otlp"},
                             "logtap.source": {"stringValue": "gateway"}}, "resource attributes")
            scope_logs = rl["scopeLogs"][0]
            check_eq(scope_logs["scope"]["name"], "logtap", "scope name")
            recs = [r for rs in records(rx) for r in rs]
            check_eq([r["body"] for r in recs], [{"stringValue": "outside"}, {"stringValue": "ERROR: it broke"}],
                     "bodies")
            check_eq([(r["severityNumber"], r["severityText"]) for r in recs], [(9, "STDOUT"), (17, "ERROR")],
                     "severity")
            now = time.time_ns()
            for r in recs:
                for k in ("timeUnixNano", "observedTimeUnixNano"):
                    check(isinstance(r[k], str) and r[k].isdigit() and abs(int(r[k]) - now) < 60e9,
                          "%s is a uint64 string near now: %r" % (k, r[k]))
                check(int(r["observedTimeUnixNano"]) >= int(r["timeUnixNano"]), "observed after written")
            ra = [{a["key"]: a["value"] for a in r["attributes"]} for r in recs]
            check("request_id" not in ra[0], "no request_id outside requests")
            check_eq(ra[1]["request_id"], {"stringValue": "req-otlp"}, "request_id")
            check_eq((ra[0]["log.iostream"], ra[1]["log.iostream"]),
                     ({"stringValue": "stdout"}, {"stringValue": "stderr"}), "stream")
            check(ra[0]["process.pid"]["intValue"].isdigit(), "pid as an intValue string")
    finally:
        rx.stop()


OTLP_DIR = os.path.join(SRC, "test", "otlp")


def decode_otlp(bodies):
    """Each payload as the official definitions decode it (check_otlp.cjs)."""
    if not os.path.isdir(os.path.join(OTLP_DIR, "node_modules", "@opentelemetry", "otlp-transformer")):
        raise TestFailure("@opentelemetry/otlp-transformer is not installed: run scripts/install-otlp-deps.sh "
                          "(scripts/test.sh does)")
    out = subprocess.run(["node", "check_otlp.cjs"], cwd=OTLP_DIR, input=b"\n".join(bodies) + b"\n",
                         capture_output=True, timeout=60)
    check_eq(out.returncode, 0, "check_otlp.cjs: %s %s" % (out.stdout.decode()[-2000:], out.stderr.decode()[-2000:]))
    docs = [__import__("json").loads(line) for line in out.stdout.decode().splitlines()]
    check_eq(len(docs), len(bodies), "payloads decoded")
    return docs


def records(rx):
    out = []
    for doc in decode_otlp([body for _, _, body in rx.batches]):
        for rl in doc["resourceLogs"]:
            for sl in rl["scopeLogs"]:
                out.append(sl["logRecords"])
    return out


def test_hanging_destination_isolation():
    hang = HangingReceiver()
    rx = HttpReceiver().start()
    try:
        with Collector(args=["--drain-timeout", "5s", "--drain-backoff-max", "1s"]) as c:
            total = 100000

            def store_lines(runner):
                start = time.monotonic()
                write_lines(c, runner, "shop", "iso", total)

                def newest():
                    status, doc = c.get_json("/v1/runners/%s/logs" % runner, tail=1)
                    return doc["logs"][-1]["message"] if status == 200 and doc["logs"] else None
                wait_until(lambda: newest() == "iso %06d" % (total - 1), 60, "every line stored")
                return time.monotonic() - start

            baseline = store_lines("r-base")  # ingest without drains
            dead = add_drain(c, "shop", {"kind": "ndjson", "url": hang.url})
            rx.secret = add_drain(c, "shop", {"kind": "ndjson", "url": rx.url})["secret"]
            rss_before = status_kb(c.proc.pid, "VmRSS")
            start = time.monotonic()
            stored = store_lines("r-iso")
            wait_until(lambda: rx.count() >= total, 60, "the healthy drain's lines")
            delivered = time.monotonic() - start
            rss_after = status_kb(c.proc.pid, "VmRSS")
            status, shown = c.get_json("/v1/drains/" + dead["id"])
            check_eq(shown["lines_sent"], 0, "the hanging drain delivered nothing")
            check(shown["state"] in ("sending", "retrying"), "hanging drain state %r" % shown["state"])
            check_eq(rx.count(), total, "the healthy drain: every line once")
            print("hanging destination: %d lines stored in %.2fs (%.0f lines/s; %.0f lines/s without drains), "
                  "the other drain had them all after %.2fs; collector RSS %d -> %d KiB" %
                  (total, stored, total / stored, total / baseline, delivered, rss_before, rss_after))
            # A shared 2-core machine: loose bounds, but a drain on the
            # ingest path (a 5 s timeout per batch) would miss them by far.
            check(stored < 2 * baseline + (10 if SANITIZED else 2),
                  "ingest with a hanging drain: %.2fs vs %.2fs" % (stored, baseline))
            check(rss_after - rss_before < RSS_BOUND_KB, "collector memory bounded (+%d KiB)" % (rss_after - rss_before))
    finally:
        hang.stop()
        rx.stop()


if __name__ == "__main__":
    run_tests([test_api_rules, test_ndjson_exactly_once, test_ndjson_kill_and_outage, test_syslog_rsyslog,
               test_syslog_tls, test_otlp_fields, test_missed_lines_are_counted, test_hanging_destination_isolation])
