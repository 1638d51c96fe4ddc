"""Test runner app: 100 requests served concurrently by asyncio tasks on one
thread, each printing numbered lines through print() and logging, with
awaits between them so the tasks interleave."""

import asyncio
import logging
import random
import sys

import logtap

handler = logging.StreamHandler(sys.stderr)
handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
log = logging.getLogger("aio")
log.addHandler(handler)
log.setLevel(logging.INFO)
random.seed(7)


async def serve(i):
    rid = "areq-%03d" % i
    with logtap.request(rid):
        for n in range(10):
            if n % 2 == 0:
                print("%s line %d" % (rid, n))
            else:
                log.warning("%s line %d", rid, n)
            await asyncio.sleep(random.random() * 0.002)
        sys.stdout.write("%s partial " % rid)  # finished after another await
        await asyncio.sleep(0.001)
        print("done")


async def main():
    await asyncio.gather(*(serve(i) for i in range(100)))


print("before the loop")
asyncio.run(main())
print("after the loop")
