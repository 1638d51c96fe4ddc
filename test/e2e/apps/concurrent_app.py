"""Test runner app: a thread pool serves requests concurrently, each printing
numbered lines through print() (stdout) and logging (stderr), while a
background thread and the main thread write outside any request.

Every line is unique, so the test can say exactly where each one belongs.
"""

import argparse
import concurrent.futures
import logging
import sys
import threading

import logtap

parser = argparse.ArgumentParser()
parser.add_argument("--threads", type=int, default=8)
parser.add_argument("--requests", type=int, default=400)
parser.add_argument("--lines", type=int, default=20)
parser.add_argument("--exit-code", type=int, default=0)
args = parser.parse_args()

handler = logging.StreamHandler(sys.stderr)
handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
log = logging.getLogger("app")
log.addHandler(handler)
log.setLevel(logging.INFO)

print("setup: loading weights")
print("setup: weights loaded")
log.warning("setup: ready")

stop = threading.Event()


def background():
    n = 0
    while not stop.is_set():
        print("background tick %d" % n)
        n += 1
        stop.wait(0.002)
    print("background stopped after %d ticks" % n)


def serve(i):
    rid = "req-%04d" % i
    with logtap.request(rid):
        for n in range(args.lines):
            if n % 2 == 0:
                print("%s line %02d" % (rid, n))
            else:
                log.warning("%s line %02d", rid, n)
    return rid


bg = threading.Thread(target=background)
bg.start()
with concurrent.futures.ThreadPoolExecutor(max_workers=args.threads) as pool:
    done = list(pool.map(serve, range(args.requests)))
stop.set()
bg.join()
print("main: served %d requests" % len(done))
sys.exit(args.exit_code)
