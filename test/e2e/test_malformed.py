"""Malformed frames: random bytes, truncated msgpack, rule-breaking frames,
oversized and multipart messages sent to the ingest socket. The collector
keeps serving, counts every dropped frame, and still stores valid data."""

import json
import os
import subprocess

from harness import BUILD, Collector, check, check_eq, messages, run_tests, wait_until


def test_malformed_frames_are_counted_and_dropped():
    with Collector() as c:
        sender = os.path.join(BUILD, "test", "frame_sender")
        out = subprocess.run([sender, c.endpoint, "runner-hostile"], capture_output=True, check=True,
                             timeout=60)
        sent = json.loads(out.stdout)
        got = wait_until(lambda: c.logs("runners", "runner-hostile"), 30, "the valid frame's line")
        check_eq(messages(got), ["valid after garbage"], "lines stored from the hostile sender")
        m = c.metrics()
        check_eq(int(m["logtap_frames_malformed_total"]), sent["malformed"], "malformed frames counted")
        check_eq(int(m["logtap_frames_oversized_total"]), sent["oversized"], "oversized frames counted")
        check_eq(int(m["logtap_frames_received_total"]),
                 sent["malformed"] + sent["oversized"] + sent["valid"], "frames received")
        check_eq(int(m["logtap_lines_stored_total"]), 1, "lines stored")
        check(c.proc.poll() is None, "collector still running")
        status, doc = c.get_json("/healthz")
        check_eq(status, 200, "collector still serving")


if __name__ == "__main__":
    run_tests([test_malformed_frames_are_counted_and_dropped])
