"""Hostile HTTP clients: what one client can hold of the collector's HTTP
server, and what it costs everyone else (issue 11, items 6 and 7).

A real collector on 127.0.0.1 and real sockets from this process:
- an idle flood (more sockets than the server's connection limit, from
  several loopback addresses) and then an authenticated request: it must be
  served at once (no lockout);
- sockets trickling a request one byte at a time: closed at the read
  deadline, however often a byte arrives;
- follow streams of one token, then of one user, up to their caps: the next
  is 429 with Retry-After; a token gets no stream of a runner it may not
  see;
- a page of `limit=100000` over lines of 8 KiB: streamed (the collector's
  RSS grows by a bounded amount, also for four pages at once), cut at the
  byte budget with `"truncated": true`, and the cursor pages through every
  line exactly once.

Each test prints its figures (RSS, latency, lockout or not). With
LOGTAP_HOSTILE_MEASURE_ONLY=1 the tests only measure and print (no new
collector flags, no assertions on the new behaviour): that is how the
figures of a build without these limits are taken.
"""

import json
import os
import resource
import socket
import subprocess
import threading
import time
import urllib.parse

from harness import (PYTHON, Collector, Follower, check, check_eq, run_tests, runner_env, status_kb,
                     wait_until)

MEASURE_ONLY = os.environ.get("LOGTAP_HOSTILE_MEASURE_ONLY") == "1"
# Sanitizer runs keep freed memory in quarantine: RSS bounds scale.
SANITIZED = bool(os.environ.get("LOGTAP_TEST_PRELOAD"))
READ_TIMEOUT_S = 3
LINE_BYTES = 8 * 1024
LINES = 12000  # ~96 MB of messages: a limit=100000 page would be ~100 MB of JSON
PAGE_GROWTH_BOUND_MB = (256 if SANITIZED else 48)


def collector_args():
    if MEASURE_ONLY:
        return []
    return ["--http-read-timeout", "%ds" % READ_TIMEOUT_S]


class RssSampler:
    """Samples a process's VmRSS every 20 ms on a thread; peak in kB."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = status_kb(pid, "VmRSS")
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop:
            try:
                self.peak = max(self.peak, status_kb(self.pid, "VmRSS"))
            except OSError:
                return
            time.sleep(0.02)

    def stop(self):
        self._stop = True
        self.thread.join(5)
        return self.peak


def host_port(c):
    host, port = c.url[len("http://"):].rsplit(":", 1)
    return host, int(port)


def raw_connect(c, source="127.0.0.1", timeout=2.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(host_port(c))
    return s


def timed_get(c, path, token):
    start = time.monotonic()
    try:
        status, body, _ = c.request("GET", path, token=token)
    except OSError as e:
        return None, time.monotonic() - start, str(e)
    return status, time.monotonic() - start, body[:200]


def make_token(c, user):
    status, doc = c.call_json("POST", "/v1/tokens", {"user": user, "label": "hostile"})
    check_eq(status, 201, "token for %s" % user)
    return doc["token"]


# ---- item 6: connections ----


def open_files_limit(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return soft, hard
    raise TestFailure("no open-files line in /proc/%d/limits" % pid)


def test_idle_flood_no_lockout():
    # The default read deadline (15 s) outlasts the flood: what keeps the
    # door open here is the eviction of the oldest sockets without a token.
    # The collector starts with the soft open-files limit many services get
    # (1024, about the HTTP limit alone) and must raise it to its hard one.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
    collector = Collector()
    try:
        collector.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    collector.start = lambda: collector  # started: `with` only stops it
    with collector as c:
        got_soft, got_hard = open_files_limit(c.proc.pid)
        want = 1 << 20 if hard == resource.RLIM_INFINITY else min(hard, 1 << 20)
        print("collector started with an open-files soft limit of %d: now %s (hard %s)"
              % (min(1024, hard), got_soft, got_hard), flush=True)
        check_eq(got_soft, str(want), "the collector's soft open-files limit")
        sockets, refused = [], 0
        sources = ["127.0.0.%d" % i for i in range(1, 9)]
        start = time.monotonic()
        for i in range(1200):  # more than the default limit of 1000 (and main's 1020)
            try:
                sockets.append(raw_connect(c, sources[i % len(sources)], timeout=1.0))
            except OSError:
                refused += 1
        flood_s = time.monotonic() - start
        time.sleep(0.3)
        status, latency, detail = timed_get(c, "/v1/whoami", c.token)
        # Still held by the server (a read on a closed socket returns b"").
        alive = 0
        for s in sockets:
            s.setblocking(False)
            try:
                if s.recv(1) != b"":
                    alive += 1
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
        for s in sockets:
            s.close()
        lockout = status != 200
        print("idle flood: %d sockets opened in %.1fs (%d failed to connect), %d still open at the "
              "request; authenticated GET /v1/whoami -> %s in %.2fs; lockout: %s"
              % (len(sockets), flood_s, refused, alive, status, latency, "yes" if lockout else "no"),
              flush=True)
        if not MEASURE_ONLY:
            check(not lockout, "an authenticated request was locked out: %s" % (detail,))
            check(latency < 5, "the authenticated request took %.2fs" % latency)
            check_eq(c.get_json("/healthz", token=None)[0], 200, "healthz after the flood")


def test_trickle_cut_at_deadline():
    with Collector(args=collector_args()) as c:
        tricklers = []
        for _ in range(10):
            s = raw_connect(c)
            s.sendall(b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\n")
            tricklers.append([s, time.monotonic(), None])
        # A header byte every 0.5 s: MHD's idle timeout never fires, only a
        # total deadline can end these.
        limit = (READ_TIMEOUT_S + 3) if not MEASURE_ONLY else 25
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and any(t[2] is None for t in tricklers):
            for t in tricklers:
                if t[2] is not None:
                    continue
                try:
                    t[0].sendall(b"X")
                    t[0].settimeout(0.01)
                    if t[0].recv(1) == b"":
                        t[2] = time.monotonic() - t[1]
                except socket.timeout:
                    pass
                except OSError:
                    t[2] = time.monotonic() - t[1]
            time.sleep(0.5)
        held = [t[2] for t in tricklers]
        for t in tricklers:
            t[0].close()
        closed = [h for h in held if h is not None]
        print("trickle (1 byte / 0.5 s): %d of %d closed by the server, after %s s (read deadline %s); "
              "still open after %ds: %d" % (len(closed), len(held),
                                            ", ".join("%.1f" % h for h in closed[:3]) or "-",
                                            "%d s" % READ_TIMEOUT_S if not MEASURE_ONLY else "none", limit,
                                            len(held) - len(closed)), flush=True)
        if not MEASURE_ONLY:
            check_eq(len(closed), len(held), "tricklers closed by the read deadline")
            check(all(READ_TIMEOUT_S - 0.5 <= h <= READ_TIMEOUT_S + 2 for h in closed),
                  "tricklers closed at %s s, deadline %d s" % (closed, READ_TIMEOUT_S))
            closed_metric = c.metrics().get("logtap_http_read_deadline_closed_total", 0)
            check(closed_metric >= 10, "read-deadline metric: %s" % closed_metric)
            # A request sent at once on a new connection is served.
            check_eq(c.get_json("/v1/whoami")[0], 200, "whoami after the tricklers")


def test_follow_stream_caps():
    with Collector(args=collector_args()) as c:
        check_eq(c.call_json("PUT", "/v1/apps/bobapp", {"owner": "bob"})[0], 200, "deploy bob's app")
        subprocess.run([PYTHON, "-c", "print('bob was here')"], timeout=60, stdout=subprocess.DEVNULL,
                       env=runner_env(c, runner_id="bob-runner", LOGTAP_APP_ID="bobapp"))
        wait_until(lambda: c.get_json("/v1/runners/bob-runner/logs")[1].get("logs"), 20, "bob's runner")
        tokens = [make_token(c, "bob") for _ in range(5)]
        nobody = make_token(c, "carol")  # owns nothing
        pid = c.proc.pid
        rss_before = status_kb(pid, "VmRSS")
        streams, codes = [], []
        try:
            # 16 per token on four tokens: 64, the user's cap.
            for t in tokens[:4]:
                for _ in range(17):
                    f = Follower(c, "/v1/logs", token=t, read=False)
                    codes.append(f.status)
                    if f.status == 200:
                        streams.append(f)
                    else:
                        token_refusal = (f.status, f.body, f.response.getheader("Retry-After"))
                        f.conn.close()
            user_cap = Follower(c, "/v1/logs", token=tokens[4], read=False)
            user_refusal = (user_cap.status, user_cap.body, user_cap.response.getheader("Retry-After"))
            if user_cap.status == 200:
                streams.append(user_cap)
            else:
                user_cap.conn.close()
            rss_streams = status_kb(pid, "VmRSS")
            # A token that owns nothing gets no stream of anyone's runner
            # (refused before a reader is opened for it): none of bob's,
            # none of an unknown one.
            none_runner = Follower(c, "/v1/runners/bob-runner/logs", token=nobody, read=False)
            none_unknown = Follower(c, "/v1/runners/some-runner/logs", token=nobody, read=False)
            for f in (none_runner, none_unknown):
                if f.status == 200:
                    streams.append(f)
                else:
                    f.conn.close()
            followers = c.metrics().get("logtap_followers", -1)
            opened = sum(1 for x in codes if x == 200)
            print("follow caps: %d of %d streams on 4 tokens of one user opened (%s); 5th token: %s; "
                  "owner of nothing: bob's runner %s, unknown runner %s; collector VmRSS %d -> %d kB with %d streams "
                  "(%.0f kB each)"
                  % (opened, len(codes), ",".join(str(x) for x in sorted(set(codes))), user_refusal[0],
                     none_runner.status, none_unknown.status, rss_before, rss_streams, len(streams),
                     (rss_streams - rss_before) / max(1, len(streams))), flush=True)
            if not MEASURE_ONLY:
                check_eq(opened, 64, "streams opened within the caps")
                check_eq(token_refusal[0], 429, "17th stream of a token")
                check(token_refusal[2] is not None and int(token_refusal[2]) > 0, "Retry-After on 429")
                check("per token" in json.loads(token_refusal[1])["error"], "429 names the cap")
                check_eq(user_refusal[0], 429, "65th stream of a user")
                check("per user" in json.loads(user_refusal[1])["error"], "429 names the user cap")
                check_eq(none_runner.status, 404, "stream of another's runner")
                check_eq(none_unknown.status, 404, "stream of an unknown runner")
                if followers >= 0:
                    check_eq(int(followers), 64, "open followers")
        finally:
            for f in streams:
                f.stop()
        if not MEASURE_ONLY:
            # Closing streams frees their slots.
            def reopened():
                f = Follower(c, "/v1/logs", token=tokens[0], read=False)
                ok = f.status == 200
                f.stop() if ok else f.conn.close()
                return ok
            wait_until(reopened, 10, "a stream slot after the others closed")


# ---- item 7: pages ----

WRITER = r'''
import os, sys
n, size = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    head = "line %06d " % i
    os.write(1, (head + "x" * (size - len(head) - 1) + "\n").encode())
'''


def fill_store(c, runner_id):
    proc = subprocess.run([PYTHON, "-c", WRITER, str(LINES), str(LINE_BYTES)],
                          env=runner_env(c, runner_id=runner_id, LOGTAP_ON_FULL="block",
                                         LOGTAP_BLOCK_TIMEOUT_MS="60000", LOGTAP_RING_SIZE="64M"),
                          stdout=subprocess.DEVNULL, timeout=180)
    check_eq(proc.returncode, 0, "writer exit status")

    def stored():
        status, doc = c.get_json("/v1/runners/%s/logs" % runner_id, tail=1)
        return status == 200 and doc["logs"] and doc["logs"][0]["message"].startswith("line %06d" % (LINES - 1))
    wait_until(stored, 120, "%d lines of %d bytes stored" % (LINES, LINE_BYTES))


def fetch_page(c, path, **params):
    """GET a page, reading the body in small pieces (as a client would)."""
    import http.client
    host, port = host_port(c)
    conn = http.client.HTTPConnection(host, port, timeout=120)
    conn.request("GET", path + "?" + urllib.parse.urlencode(params),
                 headers={"Authorization": "Bearer " + c.token})
    r = conn.getresponse()
    chunks = []
    while True:
        piece = r.read(1 << 20)
        if not piece:
            break
        chunks.append(piece)
    conn.close()
    return r.status, b"".join(chunks)


def test_huge_page_streamed_with_budget():
    c = Collector(args=collector_args())
    work = c.workdir
    try:
        c.start()
        budgeted_pages(c)
    except BaseException:
        c.stop()
        import sys
        sys.stderr.write("collector log:\n%s\n" % c.log_text()[-4000:])
        raise
    c.stop()
    if MEASURE_ONLY:
        return
    # The same store without a budget: one page of ~100 MB, still streamed.
    with Collector(workdir=work, data=os.path.join(work, "data"),
                   args=collector_args() + ["--http-page-bytes", "0"]) as c:
        pid = c.proc.pid
        time.sleep(0.5)
        base = status_kb(pid, "VmRSS")
        sampler = RssSampler(pid)
        status, body = fetch_page(c, "/v1/runners/big-lines/logs", limit=100000)
        peak = sampler.stop()
        doc = json.loads(body)
        print("unbudgeted page: %d lines, %.1f MB; collector VmRSS %d kB before, peak %d kB (+%d)"
              % (len(doc["logs"]), len(body) / 1e6, base, peak, peak - base), flush=True)
        check_eq(len(doc["logs"]), LINES, "unbudgeted page lines")
        check("truncated" not in doc, "an unbudgeted page is never cut")
        if SANITIZED:
            # ASan keeps freed memory in quarantine (256 MB by default), so
            # RSS no longer shows what a streamed page holds at once.
            print("unbudgeted page: RSS not judged under a sanitizer (quarantine)", flush=True)
        else:
            check(peak - base < PAGE_GROWTH_BOUND_MB * 1024,
                  "RSS grew %d kB for an unbudgeted %d-byte page" % (peak - base, len(body)))


def budgeted_pages(c):
    """A store of LINES lines of 8 KiB, then pages of limit=100000 over it."""
    runner = "big-lines"
    fill_store(c, runner)
    path = "/v1/runners/%s/logs" % runner
    pid = c.proc.pid
    time.sleep(0.5)
    base = status_kb(pid, "VmRSS")
    sampler = RssSampler(pid)
    start = time.monotonic()
    status, body = fetch_page(c, path, limit=100000)
    one_s = time.monotonic() - start
    peak_one = sampler.stop()
    check_eq(status, 200, "page status")
    doc = json.loads(body)
    sampler = RssSampler(pid)
    results = [None] * 4

    def get(i):
        results[i] = fetch_page(c, path, limit=100000)
    threads = [threading.Thread(target=get, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    peak_four = sampler.stop()
    check(all(r is not None and r[0] == 200 for r in results), "four concurrent pages")
    time.sleep(0.5)
    after = status_kb(pid, "VmRSS")
    hwm = status_kb(pid, "VmHWM")
    print("page limit=100000 of %d-byte lines: %d lines, %.1f MB, truncated=%s, %.2fs; collector "
          "VmRSS %d kB before, peak %d kB (+%d) for one page, peak %d kB (+%d) for four at once, "
          "%d kB after; VmHWM %d kB (includes ingestion)"
          % (LINE_BYTES, len(doc["logs"]), len(body) / 1e6, doc.get("truncated", False), one_s, base,
             peak_one, peak_one - base, peak_four, peak_four - base, after, hwm), flush=True)

    # Page through everything with the cursor: every line once, in order.
    seen, after_id, pages, cut = [], 0, 0, 0
    while pages < 1000:
        status, page = c.get_json(path, after=after_id, limit=100000)
        check_eq(status, 200, "page status")
        pages += 1
        if not page["logs"]:
            break
        cut += 1 if page.get("truncated") else 0
        seen.extend(e["id"] for e in page["logs"])
        check_eq(page["next_after"], page["logs"][-1]["id"], "next_after of a page")
        after_id = page["next_after"]
    numbers = []
    print("paging by cursor: %d pages (%d cut by bytes), %d lines" % (pages, cut, len(seen)), flush=True)
    if not MEASURE_ONLY:
        check_eq(len(seen), LINES, "lines paged through")
        check_eq(len(set(seen)), LINES, "distinct lines")
        check(seen == sorted(seen), "ids ascending across pages")
        check(doc.get("truncated") is True, "the first page was cut by bytes")
        check(len(body) <= 8 * 1024 * 1024 + 64 * 1024, "page of %d bytes over the budget" % len(body))
        check(peak_one - base < PAGE_GROWTH_BOUND_MB * 1024,
              "RSS grew %d kB for one page (bound %d MB)" % (peak_one - base, PAGE_GROWTH_BOUND_MB))
        check(peak_four - base < PAGE_GROWTH_BOUND_MB * 1024,
              "RSS grew %d kB for four pages (bound %d MB)" % (peak_four - base, PAGE_GROWTH_BOUND_MB))
        # tail=N cut by bytes keeps the newest lines; prev_before walks back.
        status, tail = c.get_json(path, tail=100000)
        check_eq(status, 200, "tail page")
        check(tail.get("truncated") is True, "tail page cut by bytes")
        check_eq(tail["logs"][-1]["id"], seen[-1], "a cut tail page still ends at the newest line")
        check_eq(tail["prev_before"], tail["logs"][0]["id"], "prev_before of a cut tail page")
        walked, before = list(e["id"] for e in tail["logs"]), tail["prev_before"]
        for _ in range(100):
            status, older = c.get_json(path, tail=100000, before=before)
            if not older["logs"]:
                break
            walked[:0] = [e["id"] for e in older["logs"]]
            before = older["prev_before"]
        check_eq(walked, seen, "walking back with prev_before")
        # The CLI pages through it all (and -n past a cut page).
        from harness import CLI
        out = subprocess.run([CLI, "--server", c.url, "runners", "logs", runner, "--output", "json"],
                             capture_output=True, timeout=180,
                             env=dict(os.environ, LOGTAP_TOKEN=c.token))
        check_eq(out.returncode, 0, "logtap runners logs exit status: %s" % out.stderr[-300:])
        numbers = [json.loads(l)["id"] for l in out.stdout.splitlines()]
        check_eq(numbers, seen, "the CLI's lines")
        out = subprocess.run([CLI, "--server", c.url, "runners", "logs", runner, "-n", "5000",
                              "--output", "json"], capture_output=True, timeout=180,
                             env=dict(os.environ, LOGTAP_TOKEN=c.token))
        check_eq(out.returncode, 0, "logtap runners logs -n exit status")
        check_eq([json.loads(l)["id"] for l in out.stdout.splitlines()], seen[-5000:], "the CLI's -n 5000")
        print("CLI: %d lines paged, -n 5000 across cut tail pages: ok" % len(numbers), flush=True)


if __name__ == "__main__":
    run_tests([
        test_idle_flood_no_lockout,
        test_trickle_cut_at_deadline,
        test_follow_stream_caps,
        test_huge_page_streamed_with_budget,
    ])
