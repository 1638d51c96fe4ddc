"""Deterministic test runner app: setup, requests served one after another,
print() and logging, a partial line, a traceback, then an exit code. Its
stdout and stderr must be byte-identical with and without the preload."""

import logging
import sys

import logtap

logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s: %(message)s")
log = logging.getLogger("seq")

print("setup line 1")
sys.stdout.write("partial ")
sys.stdout.write("line joined\n")
print("unicode: héllo wörld ✓", file=sys.stderr)
for i in range(5):
    with logtap.request("seq-%d" % i):
        print("request %d says hi" % i)
        log.info("request %d logged", i)
        if i == 3:
            try:
                {}["missing"]
            except KeyError:
                log.exception("request %d failed", i)
print("no newline at the end", end="")
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
