"""scripts/demo.sh as a guest (issue 17, item 6): run twice, it leaves the
user's credentials file and /tmp as they were, prints no progress bars,
shows the sample app's logs read with the CLI and the Python client, and
removes its own directory (which held the admin token).

The demo builds with `--build $LOGTAP_BUILD`, the tree this test runs in
(already built, so the compile step has nothing to do).
"""

import os
import re
import shutil
import subprocess
import tempfile

from harness import BUILD, SRC, check, check_eq, run_tests

PROGRESS_RE = re.compile(r"^\s*\[\d+/\d+\]", re.M)


def snapshot_file(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    with open(path, "rb") as f:
        return (st.st_mode, st.st_mtime_ns, f.read())


def demo_entries(tmp):
    return sorted(name for name in os.listdir(tmp) if "demo" in name)


def test_demo_twice_as_a_guest():
    real_credentials = os.path.join(os.path.expanduser("~"), ".config", "logtap", "credentials")
    before_credentials = snapshot_file(real_credentials)
    tmp = os.environ.get("TMPDIR") or "/tmp"
    before_tmp = demo_entries(tmp)
    home = tempfile.mkdtemp(prefix="logtap-test-home-")
    try:
        env = dict(os.environ, HOME=home)
        # Where the collector's default credentials file would go: the
        # demo must not write there either.
        env.pop("XDG_CONFIG_HOME", None)
        for name in ("LOGTAP_TOKEN", "LOGTAP_SERVER", "LOGTAP_CREDENTIALS", "LOGTAP_ENDPOINT", "LOGTAP_RING_DIR",
                     "LD_PRELOAD", "PYTHONPATH"):
            env.pop(name, None)
        for run in (1, 2):
            p = subprocess.run([os.path.join(SRC, "scripts", "demo.sh"), "--build", BUILD], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, timeout=300)
            out = p.stdout.decode("utf-8", "replace")
            check_eq(p.returncode, 0, "demo.sh run %d exit status; output:\n%s" % (run, out[-3000:]))
            check("\r" not in out, "run %d: no carriage returns (progress bars) in the output" % run)
            check(PROGRESS_RE.search(out) is None, "run %d: no ninja [n/m] lines: %r" %
                  (run, PROGRESS_RE.findall(out)[:3]))
            check("logtap: warning" not in out, "run %d: the runner reached the collector" % run)
            check(re.search(r"^== the same from Python: .*\nreq-demo-\d+-0: COMPLETED, \d+ lines$", out, re.M),
                  "run %d: the Python client read the first request's status" % run)
            check(re.search(r"^\d{4}-\S+ stdout [A-Z]+ req-demo-\d+-0 Generating for prompt", out, re.M),
                  "run %d: the CLI printed request logs" % run)
            check_eq(demo_entries(tmp), before_tmp, "run %d: the demo's entries in %s" % (run, tmp))
            check_eq(os.listdir(home), [], "run %d: nothing written under HOME" % run)
            check_eq(snapshot_file(real_credentials), before_credentials,
                     "run %d: the user's own credentials file" % run)
        # --help says what it does, without doing it.
        p = subprocess.run([os.path.join(SRC, "scripts", "demo.sh"), "--help"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env, timeout=30)
        check_eq((p.returncode, p.stderr), (0, b""), "demo.sh --help")
        check(b"--keep" in p.stdout and b"--build DIR" in p.stdout, "demo.sh --help: %r" % p.stdout)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    run_tests([test_demo_twice_as_a_guest])
