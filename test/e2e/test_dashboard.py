"""The dashboard (ui/, served under /ui/) in headless Chromium.

Real collector, real runners under LD_PRELOAD, real HTTP; the page is
driven by playwright-core in Debian's Chromium (test/e2e/browser.py). Every
test starts its own collector, so the lines a page shows are exactly the
ones the test wrote.

Skips (exit 77, with the reason) only when Chromium cannot run here at all.
Writes a screenshot of the page with live data to
$LOGTAP_BUILD/test/dashboard.png (doc/dashboard.png is one of them).
"""

import datetime
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

from browser import Browser, Unavailable
from harness import (BUILD, PYTHON, SRC, Collector, TestFailure, check, check_eq, messages,
                     run_tests, runner_env, wait_until)

APP = os.path.join(SRC, "test", "e2e", "apps", "driven_app.py")
SCREENSHOT = os.path.join(BUILD, "test", "dashboard.png")
TIMEZONE = "Asia/Kolkata"  # UTC+05:30 all year: the page must not show UTC
MAX_LAG = 5000             # ui/app.js's follow max_lag

MAIN = "#main-list"
PANEL = "#req-list"

browser = None


def rows_js(where):
    return "[...document.querySelectorAll('%s .row:not(.notice) .msg')].map(e => e.textContent)" % where


class Runner:
    """driven_app.py under the preload; send() one command at a time."""

    def __init__(self, collector, runner_id, **env):
        self.runner_id = runner_id
        self.proc = subprocess.Popen([PYTHON, APP], stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=runner_env(collector, runner_id=runner_id, **env))

    def send(self, op, **args):
        self.proc.stdin.write((json.dumps(dict(args, op=op)) + "\n").encode())
        self.proc.stdin.flush()

    def print(self, text, stream="stdout"):
        self.send("print", text=text, stream=stream)

    def close(self):
        self.proc.stdin.close()
        check_eq(self.proc.wait(60), 0, "runner %s exit status" % self.runner_id)


def stored(c, scope, ident, want):
    """Waits until every message in `want` is in the store (so absences
    in a page are real, not just slow)."""
    def have(text):
        status, doc = c.get_json("/v1/%s/%s/logs" % (scope, ident), search=text, limit=100000)
        return status == 200 and text in messages(doc["logs"])
    for text in want:
        wait_until(lambda: have(text), 60, "%s %s: %r stored" % (scope, ident, text))


def open_dashboard(c, token, fragment="", timezone=TIMEZONE):
    page = browser.new_page(timezone=timezone)
    response = page.goto(c.url + "/ui/" + ("#" + fragment if fragment else ""))
    check_eq(response["status"], 200, "GET /ui/ status")
    page.wait("!document.getElementById('signin-view').hidden", what="the sign-in form")
    if token is not None:
        sign_in(page, token)
    return page


def sign_in(page, token):
    page.fill("#token", token)
    page.press("#token", "Enter")
    page.wait("!document.getElementById('logs-view').hidden", what="the logs page")
    page.wait("document.getElementById('stream-state').dataset.state === 'live'", 20,
              what="the live stream")


def page_messages(page, where=MAIN):
    return page.eval(rows_js(where))


def wait_messages(page, predicate, what, where=MAIN, timeout=20):
    last = []

    def ok():
        last[:] = page_messages(page, where)
        return predicate(last)
    try:
        wait_until(ok, timeout, what)
    except TestFailure as e:
        raise TestFailure("%s; the page shows %d lines: %r" % (e, len(last), last[-20:]))
    return list(last)


def check_clean(page, what):
    """No dialogs, no page errors, no console errors (CSP violations are
    console errors)."""
    ev = page.events()
    check_eq(ev["dialogs"], [], "dialogs raised by %s" % what)
    check_eq(ev["errors"], [], "uncaught errors in %s" % what)
    # Chromium logs every 4xx answer as a console error; those are the API
    # saying no, which the page handles. Anything else is a page error.
    errors = [m for m in ev["console"] if m.startswith("error")
              and not m.startswith("error: Failed to load resource: the server responded with a status of 4")]
    check_eq(errors, [], "console errors in %s" % what)


def finish(page, what, *runners):
    """A test's end: the page stayed clean, then everything is closed (a
    runner must exit 0)."""
    check_clean(page, what)
    page.close()
    for runner in runners:
        runner.close()


def create_user(c, user):
    status, doc = c.call_json("POST", "/v1/tokens", {"user": user, "label": "dashboard test"})
    check_eq(status, 201, "POST /v1/tokens for %s" % user)
    return doc["token"]


def deploy(c, app, owner, private):
    status, doc = c.call_json("PUT", "/v1/apps/" + app, {"owner": owner, "private_logs": private})
    check(status in (200, 201), "PUT /v1/apps/%s: %s %s" % (app, status, doc))


# ---- tests ----

def test_page_loads_and_signs_in():
    with Collector() as c:
        # GET / leads to the dashboard; its files need no token.
        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args):
                return None
        try:
            urllib.request.build_opener(NoRedirect).open(c.url + "/", timeout=30)
            raise TestFailure("GET / did not redirect")
        except urllib.error.HTTPError as e:
            check_eq(e.code, 302, "GET / status")
            check(e.headers["Location"].endswith("/ui/"), "GET / Location: %s" % e.headers["Location"])
        for name, ctype in (("index.html", "text/html"), ("app.js", "text/javascript"),
                            ("style.css", "text/css")):
            status, body, headers = c.get("/ui/" + name, token=None)
            check_eq(status, 200, "GET /ui/%s" % name)
            check(headers["Content-Type"].startswith(ctype), "%s content type %s" % (name, headers["Content-Type"]))
            with open(os.path.join(SRC, "ui", name), "rb") as f:
                check(body == f.read(), "/ui/%s is ui/%s" % (name, name))
        check_eq(c.get("/ui/nope.js", token=None)[0], 404, "GET /ui/nope.js")

        page = open_dashboard(c, None)
        csp = page.goto(c.url + "/ui/")["headers"].get("content-security-policy", "")
        check("default-src 'self'" in csp and "unsafe-inline" not in csp, "CSP of /ui/: %r" % csp)
        page.wait("!document.getElementById('signin-view').hidden", what="the sign-in form")

        page.fill("#token", "lt_not_a_real_token")
        page.press("#token", "Enter")
        page.wait("document.getElementById('signin-error').textContent.includes('not valid')",
                  what="the bad-token message")
        check(page.eval("document.getElementById('logs-view').hidden"), "logs hidden after a bad token")
        check_eq(page.eval("sessionStorage.length"), 0, "a bad token is not kept")

        sign_in(page, c.token)
        check("signed in as admin" in page.eval("document.getElementById('who').textContent"), "who")
        check(page.eval("document.getElementById('tz').textContent").startswith(
            "times in %s (UTC+05:30)" % TIMEZONE) or "UTC+05:30" in page.eval(
            "document.getElementById('tz').textContent"), "time zone label")

        # A reload keeps the tab signed in; signing out forgets the token.
        page.goto(c.url + "/ui/")
        page.wait("document.getElementById('stream-state').dataset.state === 'live'", 20,
                  what="the live stream after a reload")
        page.click("#signout")
        page.wait("!document.getElementById('signin-view').hidden", what="signed out")
        check_eq(page.eval("sessionStorage.length"), 0, "sessionStorage after sign-out")

        # A token revoked while the page is open: the server ends the
        # stream (it re-judges access every 2 s) and the tab signs out.
        token = create_user(c, "carol")
        sign_in(page, token)
        status, tokens = c.get_json("/v1/tokens")
        tok_id = [t["id"] for t in tokens["tokens"] if t["user"] == "carol"][0]
        check_eq(c.call_json("DELETE", "/v1/tokens/" + tok_id)[0], 200, "revoke carol's token")
        page.wait("!document.getElementById('signin-view').hidden && "
                  "document.getElementById('signin-error').textContent.includes('Sign in again')", 20,
                  what="the open page signed out after the revocation")
        check_eq(page.eval("sessionStorage.length"), 0, "a revoked token is not kept")
        # A revoked token kept from before (a reload) asks for a new one.
        page.eval("sessionStorage.setItem('logtap.token', %s)" % json.dumps(token))
        page.goto(c.url + "/ui/")
        page.wait("!document.getElementById('signin-view').hidden && "
                  "document.getElementById('signin-error').textContent.includes('no longer valid')",
                  what="the revoked-token message")
        finish(page, "the sign-in flow")


def test_new_lines_appear_live():
    with Collector() as c:
        runner = Runner(c, "r-live", LOGTAP_APP_ID="live", LOGTAP_SOURCE="run")
        runner.print("first line")
        page = open_dashboard(c, c.token)
        wait_messages(page, lambda m: "first line" in m, "the first line")

        latencies = []
        for k in range(5):
            text = "live line %d at %.6f" % (k, time.time())
            start = time.monotonic()
            runner.print(text)
            page.wait("[...document.querySelectorAll('#main-list .row .msg')]"
                      ".some(e => e.textContent === %s)" % json.dumps(text), 15, what=text)
            latencies.append(time.monotonic() - start)
        print("write-to-screen latencies: %s s" % ", ".join("%.3f" % x for x in latencies))
        check(statistics.median(latencies) < 1.0, "median write-to-screen latency %.3f s >= 1 s"
              % statistics.median(latencies))

        # Levels and streams are distinct; times are in the viewer's zone.
        runner.print("error: the disk is full")
        runner.print("warning: low memory")
        runner.print("on stderr", stream="stderr")
        wait_messages(page, lambda m: "on stderr" in m, "the stderr line")
        rows = page.eval("""[...document.querySelectorAll('#main-list .row:not(.notice)')].map(r => ({
            msg: r.querySelector('.msg').textContent, cls: r.className,
            lvl: r.querySelector('.lvl').textContent, ts: r.querySelector('.ts').textContent,
            utc: r.querySelector('.ts').title}))""")
        by_msg = {r["msg"]: r for r in rows}
        check("lvl-ERROR" in by_msg["error: the disk is full"]["cls"], "ERROR row class")
        check("lvl-WARN" in by_msg["warning: low memory"]["cls"], "WARN row class")
        check("stderr" in by_msg["on stderr"]["cls"].split(), "stderr row class")
        check_eq(by_msg["on stderr"]["lvl"], "STDERR", "stderr level badge")
        check("stderr" not in by_msg["first line"]["cls"].split(), "stdout row is not marked stderr")
        entries = c.logs("runners", "r-live")
        for e in entries:
            utc = datetime.datetime.strptime(e["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
            local = utc + datetime.timedelta(hours=5, minutes=30)
            want = local.strftime("%Y-%m-%d %H:%M:%S.") + "%03d" % (local.microsecond // 1000)
            check_eq(by_msg[e["message"]]["ts"], want, "shown time of %r" % e["message"])
        finish(page, "the live page", runner)


def test_filters_narrow_the_list_and_travel_in_the_url():
    with Collector() as c:
        alpha = Runner(c, "r-alpha", LOGTAP_APP_ID="alpha", LOGTAP_VERSION_ID="v1", LOGTAP_SOURCE="run")
        beta = Runner(c, "r-beta", LOGTAP_APP_ID="beta", LOGTAP_VERSION_ID="v2", LOGTAP_SOURCE="gateway")
        alpha_lines = ["alpha starts", "error: alpha broke", "alpha has the needle"]
        for t in alpha_lines:
            alpha.print(t)
        alpha.send("begin", id="req-alpha")
        alpha.print("alpha inside its request")
        alpha.send("end")
        alpha_lines.append("alpha inside its request")
        beta_lines = ["beta starts", "beta has the needle too", "warning: beta is slow"]
        for t in beta_lines:
            beta.print(t)
        everything = set(alpha_lines + beta_lines)
        page = open_dashboard(c, c.token)
        wait_messages(page, lambda m: set(m) == everything, "every line, unfiltered")

        def narrowed(fill, want, what):
            for selector, value in fill:
                if selector.startswith("select"):
                    page.select("#filters " + selector, value)
                else:
                    page.fill("#filters " + selector, value)
            page.press("#filters input[name=search]", "Enter")
            return wait_messages(page, lambda m: sorted(m) == sorted(want), what)

        narrowed([("input[name=app]", "alpha")], alpha_lines, "app=alpha")
        check("app=alpha" in page.eval("location.hash"), "the app filter is in the URL")
        narrowed([("select[name=level]", "ERROR")], ["error: alpha broke"], "app=alpha level>=ERROR")
        page.click("#clear-filters")
        wait_messages(page, lambda m: set(m) == everything, "cleared filters")
        narrowed([("select[name=level]", "WARN")], ["error: alpha broke", "warning: beta is slow"],
                 "level>=WARN")
        page.click("#clear-filters")
        narrowed([("input[name=search]", "needle")], ["alpha has the needle", "beta has the needle too"],
                 "search=needle")
        page.click("#clear-filters")
        narrowed([("input[name=runner]", "r-beta")], beta_lines, "runner=r-beta")
        page.click("#clear-filters")
        narrowed([("input[name=version]", "v2")], beta_lines, "version=v2")
        page.click("#clear-filters")
        narrowed([("select[name=source]", "gateway")], beta_lines, "source=gateway")
        page.click("#clear-filters")
        narrowed([("input[name=request]", "req-alpha")], ["alpha inside its request"], "request=req-alpha")

        # Live lines obey the filters too.
        page.click("#clear-filters")
        narrowed([("input[name=app]", "beta")], beta_lines, "app=beta")
        alpha.print("alpha later")
        beta.print("beta later")
        wait_messages(page, lambda m: sorted(m) == sorted(beta_lines + ["beta later"]), "live beta line only")

        # The URL is the view: a new tab with it (and its own sign-in) shows
        # the same filters and lines.
        page.fill("#filters input[name=search]", "needle")
        page.press("#filters input[name=search]", "Enter")
        wait_messages(page, lambda m: m == ["beta has the needle too"], "app=beta search=needle")
        url = page.eval("location.href")
        check("#" in url, "the view has a fragment: %s" % url)
        other = browser.new_page(timezone=TIMEZONE)
        other.goto(url)
        other.wait("!document.getElementById('signin-view').hidden", what="sign-in in a new tab")
        sign_in(other, c.token)
        check_eq(other.eval("document.querySelector('#filters input[name=app]').value"), "beta", "shared app")
        check_eq(other.eval("document.querySelector('#filters input[name=search]').value"), "needle",
                 "shared search")
        wait_messages(other, lambda m: m == ["beta has the needle too"], "the shared view")
        # Back goes to the previous filters.
        page.eval("history.back()")
        wait_messages(page, lambda m: sorted(m) == sorted(beta_lines + ["beta later"]), "Back: app=beta")
        finish(other, "the shared view")
        finish(page, "filtering", alpha, beta)


def test_request_view_follows_a_request_to_completion():
    with Collector() as c:
        runner = Runner(c, "r-play", LOGTAP_APP_ID="play")
        runner.print("before the request")
        runner.send("begin", id="req-play")
        runner.print("request starts")
        runner.print("request <b>works</b>", stream="stderr")
        page = open_dashboard(c, c.token)
        wait_messages(page, lambda m: "request starts" in m, "the request's first line")

        page.click("#main-list .row button.req[data-request='req-play']")
        page.wait("!document.getElementById('request-panel').hidden", what="the request panel")
        check("open=req-play" in page.eval("location.hash"), "the open request is in the URL")
        page.wait("document.getElementById('req-status').dataset.status === 'IN_PROGRESS'",
                  what="status IN_PROGRESS")
        wait_messages(page, lambda m: m == ["request starts", "request <b>works</b>"],
                      "the request's lines so far", where=PANEL)

        runner.print("request goes on")
        wait_messages(page, lambda m: m[-1:] == ["request goes on"], "a live request line", where=PANEL)
        runner.print("request ends")
        runner.send("end")
        runner.print("after the request")
        page.wait("document.getElementById('req-status').dataset.status === 'COMPLETED'", 20,
                  what="status COMPLETED")
        want = ["request starts", "request <b>works</b>", "request goes on", "request ends"]
        page.wait("document.getElementById('req-note').textContent === 'Completed: 4 lines.'", 20,
                  what="the completed note")
        wait_messages(page, lambda m: m == want, "the request's complete logs", where=PANEL)
        wait_messages(page, lambda m: "after the request" in m, "the main list goes on")
        check_eq(page_messages(page, PANEL), want, "the panel holds only the request's lines")

        # Esc closes it; the URL forgets it.
        page.press("body", "Escape")
        page.wait("document.getElementById('request-panel').hidden", what="the panel closed")
        check("open=" not in page.eval("location.hash"), "closed request left the URL")

        # A completed request opened from a URL shows its complete logs.
        page.goto(c.url + "/ui/#open=req-play")
        page.wait("document.getElementById('req-note').textContent === 'Completed: 4 lines.'", 20,
                  what="the completed request from its URL")
        wait_messages(page, lambda m: m == want, "the request's logs, opened from the URL", where=PANEL)
        finish(page, "the request view", runner)


def test_non_owner_sees_no_private_logs():
    with Collector() as c:
        alice = create_user(c, "alice")
        bob = create_user(c, "bob")
        deploy(c, "secret", "alice", True)
        deploy(c, "bobs", "bob", False)
        secret = Runner(c, "r-secret", LOGTAP_APP_ID="secret")
        secret.print("alice's secret runner line")
        secret.send("begin", id="req-secret")
        secret.print("alice's secret request line")
        secret.send("end")
        secret.send("begin", id="req-called", caller="bob")
        secret.print("a line of bob's call to a private app")
        secret.send("end")
        own = Runner(c, "r-bobs", LOGTAP_APP_ID="bobs")
        stored(c, "runners", "r-secret", ["alice's secret runner line", "alice's secret request line",
                                          "a line of bob's call to a private app"])
        own.print("bob's own line")
        stored(c, "runners", "r-bobs", ["bob's own line"])

        page = open_dashboard(c, bob)
        check("signed in as bob" in page.eval("document.getElementById('who').textContent"), "who is bob")
        got = wait_messages(page, lambda m: "bob's own line" in m, "bob's own line")
        check_eq(got, ["bob's own line"], "everything bob's logs page shows")

        # Filtering for alice's runner shows nothing, and no error.
        page.fill("#filters input[name=runner]", "r-secret")
        page.press("#filters input[name=runner]", "Enter")
        page.wait("document.getElementById('stream-state').dataset.state === 'live' && "
                  "location.hash.includes('runner=r-secret')", what="the filtered stream")
        own.print("bob's second line")
        stored(c, "runners", "r-bobs", ["bob's second line"])
        secret.print("alice's later line")
        stored(c, "runners", "r-secret", ["alice's later line"])
        time.sleep(1.0)  # a leak would have had the time to show
        check_eq(page_messages(page), [], "bob's view of alice's runner")

        # Alice's request: not found. Bob's own call to her private app:
        # its status, but no lines (fal's rule for private apps).
        page.goto(c.url + "/ui/#open=req-secret")
        page.wait("document.getElementById('req-status').dataset.status === 'NOT_FOUND'",
                  what="req-secret not found for bob")
        check("req-secret" in page.eval("document.getElementById('req-note').textContent"), "not-found note")
        check_eq(page_messages(page, PANEL), [], "bob's view of req-secret")
        page.goto(c.url + "/ui/#open=req-called")
        page.wait("document.getElementById('req-status').dataset.status === 'COMPLETED' && "
                  "document.getElementById('req-note').textContent.startsWith('Completed. No lines')",
                  20, what="bob's private call: completed, no lines")
        check_eq(page_messages(page, PANEL), [], "bob's view of his call to a private app")
        # The main list reloads for the new URL (no runner filter) on its own
        # schedule: wait for it rather than read it at once.
        got = wait_messages(page, lambda m: len(m) >= 2, "bob's logs page, unfiltered")
        check_eq(got, ["bob's own line", "bob's second line"], "bob's logs page, unfiltered")
        finish(page, "bob's page")

        # Alice, the owner, sees all of it.
        page = open_dashboard(c, alice)
        wait_messages(page, lambda m: set(m) == {
            "alice's secret runner line", "alice's secret request line",
            "a line of bob's call to a private app", "alice's later line"}, "alice's lines")
        page.goto(c.url + "/ui/#open=req-called")
        page.wait("document.getElementById('req-note').textContent === 'Completed: 1 line.'", 20,
                  what="alice sees bob's call")
        finish(page, "alice's page", secret, own)


# Request IDs are printable ASCII without spaces or '/': markup still fits.
HOSTILE_ID = "req-<b>x<b>&lt;"
HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    "\"><svg onload=alert(3)>",
    "<a href=\"javascript:alert(4)\">click</a>",
    "plain \x1b[31mred\x1b[0m plain \x1b[1;38;5;208mbold orange\x1b[0m",
    "clear \x1b[2J title \x1b]0;pwned\x07 bell",
    "tab\tand \x08 backspace and \x9b csi",
]
SHOWN = {  # control characters in caret notation (or \\xNN), marked apart
    "clear \x1b[2J title \x1b]0;pwned\x07 bell": "clear ^[[2J title ^[]0;pwned^G bell",
    "tab\tand \x08 backspace and \x9b csi": "tab\tand ^H backspace and \\x9b csi",
    "plain \x1b[31mred\x1b[0m plain \x1b[1;38;5;208mbold orange\x1b[0m": "plain red plain bold orange",
}


def test_untrusted_text_is_shown_as_text():
    with Collector() as c:
        runner = Runner(c, "r-hostile", LOGTAP_APP_ID="hostile")
        runner.send("begin", id=HOSTILE_ID)
        for t in HOSTILE:
            runner.print(t)
        runner.send("end")
        page = open_dashboard(c, c.token)
        want = [SHOWN.get(t, t) for t in HOSTILE]
        wait_messages(page, lambda m: m == want, "every hostile line, as text")
        check_eq(page.eval("document.querySelectorAll('#main-list img, #main-list script, "
                           "#main-list svg, #main-list a, #main-list b').length"), 0,
                 "elements made from log text")
        check_eq(page.eval("document.title"), "logtap", "the title (OSC must not set it)")
        colours = page.eval("[...document.querySelectorAll('#main-list .msg span')]"
                            ".map(s => [s.textContent, s.className, s.style.color])")
        check(["red", "a-f1", ""] in colours, "SGR 31 renders as a colour class: %r" % colours)
        check(["bold orange", "a-b", "rgb(255, 135, 0)"] in colours, "SGR 1;38;5;208: %r" % colours)
        check_eq(page.eval("[...document.querySelectorAll('#main-list .msg .ctl')].map(s => s.textContent)"),
                 ["^[", "^[", "^G", "^H", "\\x9b"], "marked control characters")

        # The request ID is hostile too: it is a button's text, and opens.
        page.click("#main-list .row button.req")
        page.wait("document.getElementById('req-id').textContent === %s" % json.dumps(HOSTILE_ID),
                  what="the hostile request's panel")
        page.wait("document.getElementById('req-note').textContent.startsWith('Completed: 7')", 20,
                  what="the hostile request completed")
        wait_messages(page, lambda m: m == want, "the hostile request's lines", where=PANEL)
        page.click("#req-list .row:nth-child(1)")
        page.wait("!document.getElementById('req-detail').hidden", what="the line detail")
        check_eq(page.eval("document.querySelector('#req-detail .msg-full').textContent"), HOSTILE[0],
                 "the detail of the img line")
        check_eq(page.eval("document.querySelectorAll('img, script:not([src]), svg, a, b').length"),
                 0, "elements made from log text anywhere")
        time.sleep(0.5)
        finish(page, "hostile text", runner)


def test_pause_and_resume():
    with Collector() as c:
        runner = Runner(c, "r-pause")
        runner.print("before the pause")
        page = open_dashboard(c, c.token)
        wait_messages(page, lambda m: m == ["before the pause"], "the first line")
        page.click("#pause")
        page.wait("document.getElementById('stream-state').dataset.state === 'paused'", what="paused")
        for k in range(3):
            runner.print("while paused %d" % k)
        stored(c, "runners", "r-pause", ["while paused 2"])
        time.sleep(0.5)
        check_eq(page_messages(page), ["before the pause"], "a paused page takes no lines")
        page.click("#pause")
        wait_messages(page, lambda m: m == ["before the pause"] + ["while paused %d" % k for k in range(3)],
                      "resumed: every line once, in order")

        # Paused through a burst: resuming reads all of it (a page that
        # keeps up is never skipped), each line once.
        page.click("#pause")
        page.wait("document.getElementById('stream-state').dataset.state === 'paused'", what="paused")
        burst = 3 * MAX_LAG
        runner.send("burst", count=burst, prefix="burst")
        runner.print("after the burst")
        stored(c, "runners", "r-pause", ["after the burst"])
        page.click("#pause")
        page.wait("document.getElementById('count').textContent.startsWith('%s lines')"
                  % "{:,}".format(4 + burst + 1), 60, what="every line of the burst once")
        check_eq(page_messages(page)[-1], "after the burst", "the last line")
        check_eq(page.eval("document.querySelectorAll('#main-list .row.notice').length"), 0, "notices")
        finish(page, "pause and resume", runner)


def test_a_slow_tab_is_skipped_ahead_and_says_so():
    with Collector() as c:
        runner = Runner(c, "r-slow")
        runner.print("before the burst")
        page = open_dashboard(c, c.token)
        wait_messages(page, lambda m: m == ["before the burst"], "the first line")
        # The tab stops reading for a while (its main thread busy) while far
        # more than max_lag lines arrive: the server finds it slow and skips
        # it ahead; the page says so and goes on with new lines.
        # The stall is fixed in advance (a busy page cannot be told when to
        # stop): on a loaded machine the burst may reach the collector only
        # after it ends, and nothing is behind. Then it goes again, with a
        # longer stall (three tries, 8, 16 and 24 s).
        burst, sent = 20 * MAX_LAG, 0
        for attempt in range(3):
            stall_ms = 8000 * (attempt + 1)
            page.eval("setTimeout(() => { const end = Date.now() + %d; while (Date.now() < end) {} }, 0)"
                      % stall_ms)
            runner.send("burst", count=burst, prefix="burst%d" % attempt)
            sent += burst
            runner.print("end of the burst %d" % attempt)
            stored(c, "runners", "r-slow", ["end of the burst %d" % attempt])
            try:
                page.wait("document.getElementById('stream-state').textContent.includes('skipped')",
                          stall_ms / 1000 + 20, what="the stream state saying it skipped")
                break
            except TestFailure:
                if attempt == 2:
                    raise
                print("  no skip after a %d s stall (the burst came too late?): again" % (stall_ms // 1000),
                      flush=True)
        runner.print("after the skip")
        page.wait("[...document.querySelectorAll('#main-list .row .msg')]"
                  ".some(e => e.textContent === 'after the skip')", 30, what="a line after the skip")
        notice = page.wait("(() => { const n = document.querySelector('#main-list .row.notice'); "
                           "return n && n.textContent; })() || "
                           "(document.getElementById('main-list').scrollTop = 0, false)", 30,
                           what="the fell-behind notice")
        check("fell behind" in notice, "notice text: %r" % notice)
        count = int(page.eval("document.getElementById('count').textContent").split()[0].replace(",", ""))
        check(count < sent, "the page skipped ahead (holds %d rows for %d lines)" % (count, sent))
        finish(page, "a slow tab", runner)


def test_ten_thousand_lines_stay_virtualized():
    lines = 12000
    with Collector() as c:
        runner = Runner(c, "r-many")
        runner.send("burst", count=lines, prefix="many")
        runner.print("the last line")
        stored(c, "runners", "r-many", ["the last line"])
        page = open_dashboard(c, c.token, fragment="tail=20000")
        page.wait("document.getElementById('count').textContent.startsWith('12,001 lines')", 30,
                  what="12,001 lines in the list")
        check(page.eval("document.querySelectorAll('#main-list .row').length") < 200,
              "rows in the DOM for 12,001 lines: %d" % page.eval("document.querySelectorAll('#main-list .row').length"))
        check_eq(page_messages(page)[-1], "the last line", "the bottom row")
        page.eval("document.getElementById('main-list').scrollTop = 0")
        page.wait("document.querySelector('#main-list .row .msg').textContent === 'many 000000'",
                  what="the top row after scrolling up")
        runner.print("one more")
        page.wait("document.getElementById('jump').textContent.includes('1 new')", what="the new-lines button")
        check_eq(page_messages(page)[0], "many 000000", "a scrolled-up view stays put")
        page.click("#jump")
        wait_messages(page, lambda m: m[-1:] == ["one more"], "back at the bottom")
        finish(page, "12,001 lines", runner)


def test_screenshot_with_live_data():
    with Collector() as c:
        deploy(c, "demo", "admin", False)
        env = runner_env(c, runner_id="runner-demo", LOGTAP_APP_ID="demo", LOGTAP_VERSION_ID="v3",
                         LOGTAP_SOURCE="gateway", PYTHONUNBUFFERED="1")
        ids = os.path.join(c.workdir, "ids.txt")
        subprocess.run([PYTHON, os.path.join(SRC, "examples", "runner_app.py"), "--ids-file", ids],
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=120)
        with open(ids) as f:
            request_ids = f.read().split()
        live = Runner(c, "runner-demo-2", LOGTAP_APP_ID="demo", LOGTAP_VERSION_ID="v3", LOGTAP_SOURCE="gateway")
        live.send("begin", id="req-live-0001")
        live.print("\x1b[32mINFO\x1b[0m streaming tokens: 128/512")
        page = open_dashboard(c, c.token)
        wait_messages(page, lambda m: len(m) > 20, "the demo runner's lines")
        page.click("#main-list .row button.req[data-request='%s']" % request_ids[-1])
        page.wait("document.getElementById('req-note').textContent.startsWith('Completed')", 20,
                  what="a completed request in the panel")
        page.click("#req-close")
        page.click("#main-list .row button.req[data-request='req-live-0001']")
        page.wait("document.getElementById('req-status').dataset.status === 'IN_PROGRESS'",
                  what="the live request")
        live.print("streaming tokens: 256/512")
        live.print("warning: slow consumer, 3 tokens queued", stream="stderr")
        wait_messages(page, lambda m: len(m) == 3, "the live request's lines", where=PANEL)
        os.makedirs(os.path.dirname(SCREENSHOT), exist_ok=True)
        page.screenshot(SCREENSHOT)
        check(os.path.getsize(SCREENSHOT) > 10000, "screenshot written")
        print("screenshot: %s" % SCREENSHOT)
        live.send("end")
        page.wait("document.getElementById('req-status').dataset.status === 'COMPLETED'", 20,
                  what="the live request completed")
        finish(page, "the demo", live)


def list_column(page, column=0):
    return page.eval("[...document.querySelectorAll('#list-table tbody tr')]"
                     ".map(r => r.children[%d].textContent)" % column)


def wait_list(page, want, what, column=0):
    last = []

    def ok():
        last[:] = list_column(page, column)
        return last == want
    try:
        wait_until(ok, 20, what)
    except TestFailure as e:
        raise TestFailure("%s; the table shows %r" % (e, last))


def test_runners_and_requests_lists_link_to_their_logs():
    with Collector() as c:
        one = Runner(c, "r-list-1", LOGTAP_APP_ID="app-l1")
        one.print("one setup")
        one.send("begin", id="req-l1")
        one.print("one serving")
        one.send("end")
        stored(c, "requests", "req-l1", ["one serving"])
        two = Runner(c, "r-list-2", LOGTAP_APP_ID="app-l2")
        two.send("begin", id="req-l2")
        two.print("two serving")
        stored(c, "requests", "req-l2", ["two serving"])
        page = open_dashboard(c, c.token)

        # Runners: newest first; the app filter narrows and travels in the URL.
        page.click("#tabs button[data-view='runners']")
        page.wait("!document.getElementById('list-view').hidden", what="the runners view")
        check("view=runners" in page.eval("location.hash"), "the view is in the URL")
        wait_list(page, ["r-list-2", "r-list-1"], "the runners, newest first")
        check_eq(list_column(page, 1), ["app-l2", "app-l1"], "the APP column")
        page.fill("#list-filters input[name='app']", "app-l1")
        page.press("#list-filters input[name='app']", "Enter")
        wait_list(page, ["r-list-1"], "the runners of app-l1")
        check("app=app-l1" in page.eval("location.hash"), "the list filter is in the URL")

        # A runner's ID opens its logs.
        page.click("#list-table button[data-id='r-list-1']")
        page.wait("!document.getElementById('logs-view').hidden", what="the logs view")
        check("runner=r-list-1" in page.eval("location.hash"), "the runner filter from the list")
        wait_messages(page, lambda m: m == ["one setup", "one serving"], "the runner's lines")

        # Requests: state, and a request's ID opens the request panel.
        page.goto(c.url + "/ui/#view=requests")
        wait_list(page, ["req-l2", "req-l1"], "the requests, newest first")
        check_eq(list_column(page, 1), ["IN_PROGRESS", "COMPLETED"], "the STATE column")
        page.select("#list-filters select[name='state']", "COMPLETED")
        wait_list(page, ["req-l1"], "the completed requests")
        page.click("#list-table button[data-kind='request'][data-id='req-l1']")
        page.wait("!document.getElementById('request-panel').hidden", what="the request panel")
        wait_messages(page, lambda m: m == ["one serving"], "the request's lines", where=PANEL)
        check("view=requests" in page.eval("location.hash"), "the list stays open beside the panel")
        finish(page, "the lists", one, two)


def test_app_view_lists_its_drains():
    with Collector() as c:
        status, drain = c.call_json("POST", "/v1/apps/alpha/drains",
                                    {"kind": "ndjson", "url": "http://127.0.0.1:9/nobody-listens"})
        check_eq(status, 201, "POST drain")
        page = open_dashboard(c, c.token)
        page.fill("#filters input[name=app]", "alpha")
        page.press("#filters input[name=search]", "Enter")
        page.wait("!document.getElementById('drains').hidden && "
                  "document.getElementById('drains').textContent.includes('ndjson → http://127.0.0.1:9/nobody-listens')",
                  10, "the app's drain listed")
        page.fill("#filters input[name=app]", "beta")
        page.press("#filters input[name=search]", "Enter")
        page.wait("document.getElementById('drains').textContent.includes('None. Add one with')", 10,
                  "an app without drains says how to add one")
        page.click("#clear-filters")
        page.wait("document.getElementById('drains').hidden", 10, "no app, no drains section")
        finish(page, "the drains section")


def main():
    global browser
    try:
        browser = Browser().start()
    except Unavailable as e:
        print("SKIP: the dashboard tests need headless Chromium: %s" % e)
        sys.exit(77)
    print("browser: Chromium %s" % browser.version)
    try:
        run_tests([
            test_page_loads_and_signs_in,
            test_new_lines_appear_live,
            test_filters_narrow_the_list_and_travel_in_the_url,
            test_request_view_follows_a_request_to_completion,
            test_non_owner_sees_no_private_logs,
            test_untrusted_text_is_shown_as_text,
            test_pause_and_resume,
            test_a_slow_tab_is_skipped_ahead_and_says_so,
            test_ten_thousand_lines_stay_virtualized,
            test_screenshot_with_live_data,
            test_runners_and_requests_lists_link_to_their_logs,
            test_app_view_lists_its_drains,
        ])
    finally:
        browser.close()


if __name__ == "__main__":
    main()
