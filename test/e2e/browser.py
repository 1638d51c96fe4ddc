"""Headless Chromium for the dashboard tests, through test/browser/driver.mjs.

Browser() starts `node test/browser/driver.mjs` (playwright-core driving
Debian's /usr/bin/chromium) and talks JSON lines to it; see the driver's
comment for the protocol. Browser.start() raises Unavailable, with the
reason, when Chromium cannot run here at all (no /usr/bin/chromium, or it
fails to launch); everything else, a missing node or playwright-core
included, is a test failure.
"""

import json
import os
import queue
import shutil
import subprocess
import threading

from harness import SRC, TestFailure

DRIVER_DIR = os.path.join(SRC, "test", "browser")
CHROMIUM = os.environ.get("LOGTAP_CHROMIUM", "/usr/bin/chromium")


class Unavailable(Exception):
    pass


class Browser:
    def __init__(self):
        self.proc = None
        self.answers = queue.Queue()
        self.next_id = 1

    def start(self):
        if not os.path.exists(CHROMIUM):
            raise Unavailable("%s is not installed (scripts/install-deps.sh installs Debian's chromium)" % CHROMIUM)
        # Missing node or playwright-core is a broken setup, not a reason to skip.
        node = shutil.which("node")
        if node is None:
            raise TestFailure("node is not installed (scripts/install-deps.sh installs it)")
        if not os.path.isdir(os.path.join(DRIVER_DIR, "node_modules", "playwright-core")):
            raise TestFailure("playwright-core is not installed: run `npm ci` in %s (scripts/test.sh does)"
                              % DRIVER_DIR)
        self.proc = subprocess.Popen([node, os.path.join(DRIVER_DIR, "driver.mjs")], cwd=DRIVER_DIR,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=dict(os.environ, LOGTAP_CHROMIUM=CHROMIUM))
        threading.Thread(target=self._read, daemon=True).start()
        hello = self._answer(120, "the browser to start")
        if not hello.get("ready"):
            self.close()
            raise Unavailable("Chromium cannot start: %s" % hello.get("error"))
        self.version = hello.get("version")
        return self

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.answers.put(json.loads(line))
            except ValueError:
                self.answers.put({"id": None, "ok": False, "error": "driver wrote: %r" % line[:200]})
        self.answers.put(None)

    def _answer(self, timeout, what):
        try:
            answer = self.answers.get(timeout=timeout)
        except queue.Empty:
            raise TestFailure("browser driver gave no answer within %ds for %s" % (timeout, what))
        if answer is None:
            raise TestFailure("browser driver exited (status %s) while waiting for %s"
                              % (self.proc.poll(), what))
        return answer

    def call(self, op, timeout_s=60, **args):
        msg_id = self.next_id
        self.next_id += 1
        self.proc.stdin.write((json.dumps(dict(args, id=msg_id, op=op)) + "\n").encode())
        self.proc.stdin.flush()
        answer = self._answer(timeout_s + 30, op)
        if answer.get("id") != msg_id:
            raise TestFailure("browser driver answered %r to request %d" % (answer, msg_id))
        if not answer["ok"]:
            raise TestFailure("browser %s failed: %s" % (op, answer["error"]))
        return answer["value"]

    def new_page(self, timezone=None, viewport=None):
        ctx = self.call("new_context", timezone=timezone, viewport=viewport)
        return Page(self, ctx, self.call("new_page", context=ctx))

    def close(self):
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.stdin.write(b'{"op": "quit"}\n')
                self.proc.stdin.close()
                self.proc.wait(30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


class Page:
    """One page in its own browser context (own sessionStorage, cookies)."""

    def __init__(self, browser, context, page):
        self.browser = browser
        self.context = context
        self.page = page

    def _call(self, op, timeout_s=60, **args):
        return self.browser.call(op, timeout_s=timeout_s, page=self.page, **args)

    def goto(self, url):
        return self._call("goto", url=url)

    def eval(self, expr):
        """The JSON value of a JavaScript expression in the page."""
        return self._call("eval", expr=expr)

    def wait(self, expr, timeout=10.0, what=None):
        """Waits (polling every animation frame) until the expression is
        truthy; returns its value."""
        try:
            return self._call("wait", timeout_s=timeout, expr=expr, timeout_ms=int(timeout * 1000))
        except TestFailure as e:
            raise TestFailure("waiting for %s: %s" % (what or expr, e))

    def fill(self, selector, value):
        self._call("fill", selector=selector, value=value)

    def select(self, selector, value):
        self._call("select", selector=selector, value=value)

    def click(self, selector):
        self._call("click", selector=selector)

    def press(self, selector, key):
        self._call("press", selector=selector, key=key)

    def screenshot(self, path):
        return self._call("screenshot", path=path)

    def events(self):
        return self._call("events")

    def close(self):
        self.browser.call("close_context", context=self.context)
