"""A runner the test drives line by line: one JSON command a line on stdin.

  {"op": "print", "text": T, "stream": "stdout"|"stderr"}   one line, flushed
  {"op": "begin", "id": REQUEST_ID, "caller": USER}          caller optional
  {"op": "end"}                                              ends the request
  {"op": "burst", "count": N, "prefix": P}   N lines "P 000000".. as fast as
                                             Python prints them, flushed once
  {"op": "spawn", "text": T, "gate": PATH}   a child process (inside the
                                             current request, if any) that
                                             prints T, waits for PATH to
                                             exist, prints "T done", exits
  {"op": "fail", "id": REQUEST_ID, "text": T, "message": M}   a whole request
                                             whose handler prints T, then
                                             raises ValueError(M) out of
                                             logtap.request()

Commands run in order on the main thread, so a test knows what the runner
has written by the time it sends the next command. EOF on stdin ends it.
"""

import json
import subprocess
import sys

import logtap

active = None
for raw in sys.stdin:
    cmd = json.loads(raw)
    op = cmd["op"]
    if op == "print":
        stream = sys.stderr if cmd.get("stream") == "stderr" else sys.stdout
        print(cmd["text"], file=stream, flush=True)
    elif op == "begin":
        kwargs = {"caller": cmd["caller"]} if cmd.get("caller") else {}
        active = logtap.request(cmd["id"], **kwargs)
        active.__enter__()
    elif op == "end":
        active.__exit__(None, None, None)
        active = None
    elif op == "burst":
        for i in range(cmd["count"]):
            print("%s %06d" % (cmd["prefix"], i))
        sys.stdout.flush()
    elif op == "spawn":
        child = ("import os, sys, time\n"
                 "print(sys.argv[1], flush=True)\n"
                 "while not os.path.exists(sys.argv[2]):\n"
                 "    time.sleep(0.02)\n"
                 "print(sys.argv[1] + ' done', flush=True)\n")
        subprocess.Popen([sys.executable, "-c", child, cmd["text"], cmd["gate"]])
    elif op == "fail":
        try:
            with logtap.request(cmd["id"]):
                print(cmd["text"], flush=True)
                raise ValueError(cmd["message"])
        except ValueError:
            pass
    else:
        sys.exit("driven_app: unknown op %r" % op)
