"""The collector's config file, end to end: the real logtap-collector reads
a file of `key = value` lines through the same table as its flags.

- Every setting can be set through the file: a file that gives each one a
  value other than its default is read back, parsed, by --print-config
  (and the list of settings is --print-config's own, so a new flag without
  a line here fails this test).
- --print-config's output is itself a config file giving the same settings.
- Flags override the file.
- A collector started on such a file uses it (a follow-stream cap, the
  credentials path).
- A bad file: --check-config prints every error as FILE:LINE: message and
  exits 1; a collector given it refuses to start (2) with the same lines,
  before it creates anything.
"""

import atexit
import os
import shutil
import subprocess
import tempfile

from harness import COLLECTOR, Collector, Follower, check, check_eq, run_tests

# One value per setting, none of them the default. The value as written in
# the file, and as --print-config says it back (parsed, then formatted).
EVERY_SETTING = {
    "listen": ("ipc:///tmp/logtap-config-test.sock", "ipc:///tmp/logtap-config-test.sock"),
    "http": ("127.0.0.1:0", "127.0.0.1:0"),
    "data": ("/tmp/logtap-config-test-data", "/tmp/logtap-config-test-data"),
    "rings": ("/tmp/logtap-config-test-rings", "/tmp/logtap-config-test-rings"),
    "commit-ms": ("25", "25"),
    "retain-age": ("12h", "12h"),
    "retain-size": ("1024M", "1G"),
    "retain-size-per-app": ("300M", "300M"),
    "clock-skew": ("120s", "2m"),
    "credentials": ("/tmp/logtap-config-test-credentials", "/tmp/logtap-config-test-credentials"),
    "new-admin-token": ("yes", "true"),
    "partial-line-ms": ("750", "750"),
    "max-instances": ("100", "100"),
    "max-runner-instances": ("10", "10"),
    "max-instance-streams": ("50", "50"),
    "max-instance-partial": ("1M", "1M"),
    "max-partial": ("8M", "8M"),
    "request-rate": ("30", "30"),
    "request-burst": ("300", "300"),
    "ingest-queue": ("8", "8"),
    "ingest-auth": ("required", "required"),
    "ingest-key": ("/tmp/logtap-config-test-ingest.key", "/tmp/logtap-config-test-ingest.key"),
    "http-max-connections": ("64", "64"),
    "http-max-per-ip": ("32", "32"),
    "http-read-timeout": ("2m", "2m"),
    "http-streams-per-token": ("3", "3"),
    "http-streams-per-user": ("5", "5"),
    "http-page-bytes": ("65536", "64K"),
    "drain-ca-file": ("/tmp/logtap-config-test-ca.pem", "/tmp/logtap-config-test-ca.pem"),
    "drain-timeout": ("90s", "90s"),
    "drain-backoff-max": ("10m", "10m"),
    "drain-batch-lines": ("250", "250"),
    "drain-batch-bytes": ("2048K", "2M"),
}


def scratch():
    path = tempfile.mkdtemp(prefix="logtap-config-")
    atexit.register(shutil.rmtree, path, True)
    return path


def collector(*args):
    p = subprocess.run([COLLECTOR] + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def settings(printed):
    """--print-config's lines as {key: value}; unset ones as None."""
    out = {}
    for line in printed.splitlines():
        if line.startswith("# ") and line.endswith(" is not set"):
            out[line[2:-len(" is not set")]] = None
        elif line and not line.startswith("#"):
            key, sep, value = line.partition(" = ")
            check(sep, "a key = value line: %r" % line)
            out[key] = value
    return out


def write(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def test_every_setting_through_the_file():
    tmp = scratch()
    rc, printed, err = collector("--config", "none", "--print-config")
    check_eq((rc, err), (0, ""), "--print-config of the defaults")
    defaults = settings(printed)
    check_eq(sorted(defaults), sorted(EVERY_SETTING), "the settings --print-config lists (this test's table "
             "must give every one a value)")
    for key, (_, shown) in EVERY_SETTING.items():
        check(defaults[key] != shown, "%s: the test's value %r is not the default" % (key, shown))
    lines = ["# every setting, spaced and commented every which way", ""]
    for i, (key, (written, _)) in enumerate(sorted(EVERY_SETTING.items())):
        lines.append(("%s = %s" if i % 2 else "  %s=%s\t") % (key, written))
        if i % 5 == 0:
            lines.append("   # a comment after %s" % key)
    path = write(tmp, "every.conf", "\n".join(lines) + "\n")
    check_eq(collector("--check-config", path), (0, path + ": OK\n", ""), "--check-config of a valid file")
    rc, printed, err = collector("--config", path, "--print-config")
    check_eq((rc, err), (0, ""), "--print-config with the file")
    check(printed.startswith("# logtap-collector ") and path in printed.splitlines()[0],
          "the first line names the file: %r" % printed.splitlines()[0])
    check_eq(settings(printed), {k: v for k, (_, v) in EVERY_SETTING.items()}, "every setting from the file")
    print("  %d settings set through the file, each read back parsed" % len(EVERY_SETTING))

    # --print-config's output is a config file that gives the same settings.
    again = write(tmp, "again.conf", printed)
    rc, reprinted, _ = collector("--config", again, "--print-config")
    check_eq(settings(reprinted), settings(printed), "--print-config's output read as a config file")

    # Flags override the file, whatever their place on the command line.
    rc, printed, _ = collector("--commit-ms", "99", "--config", path, "--retain-age", "0",
                               "--new-admin-token", "--print-config")
    got = settings(printed)
    check_eq((got["commit-ms"], got["retain-age"], got["new-admin-token"], got["max-instances"]),
             ("99", "0", "true", "100"), "flags over the file; the file over the defaults")
    # A flag's value goes through the same check as the file's.
    rc, _, err = collector("--config", path, "--commit-ms", "0", "--print-config")
    check_eq((rc, err), (2, "logtap-collector: --commit-ms takes 1..10000, not '0'\n"), "a bad flag")
    rc, _, err = collector("--config", path, "--ingest-auth", "sometimes", "--print-config")
    check_eq((rc, err), (2, "logtap-collector: --ingest-auth takes off, local or required, not 'sometimes'\n"),
             "a bad --ingest-auth")


def test_a_collector_runs_on_the_file():
    tmp = scratch()
    creds = os.path.join(tmp, "creds", "credentials")
    path = write(tmp, "collector.conf", "http-streams-per-token = 2\ncredentials = %s\n" % creds)
    # The harness's own flags (--listen, --http, --data, --rings) come
    # after the file and win; the file's settings hold for the rest.
    with Collector(args=["--config", path]) as c:
        check("settings from %s" % path in c.log_text(), "the log names the file: %r" % c.log_text())
        with open(creds) as f:
            check("%s %s\n" % (c.url, c.token) in f.read(), "credentials recorded where the file says")
        streams = [Follower(c, "/v1/logs") for _ in range(3)]
        check_eq([s.status for s in streams], [200, 200, 429], "http-streams-per-token = 2 from the file")
        for s in streams:
            s.stop()
    # The flag wins over the file.
    with Collector(args=["--config", path, "--http-streams-per-token", "3", "--credentials", "none"]) as c:
        streams = [Follower(c, "/v1/logs") for _ in range(3)]
        check_eq([s.status for s in streams], [200, 200, 200], "--http-streams-per-token 3 over the file")
        for s in streams:
            s.stop()


BAD_FILE = """\
# a file with one error of each kind
commit-ms = 20
bogus = 1
--http = 127.0.0.1:9
help = yes
commit-ms = 30
max-partial = 12Q
retain-age = forever
new-admin-token = maybe
listen
max-instances = 99999999
http = "127.0.0.1:9"
credentials =

clock-skew = 5m
"""

BAD_FILE_ERRORS = [
    "3: unknown key 'bogus' (logtap-collector --help lists them)",
    "4: unknown key '--http': write the flag's name without '--'",
    "5: 'help' is not a setting: it is an action of the command line",
    "6: duplicate key 'commit-ms' (first set on line 2)",
    "7: max-partial takes a size like 0, 500M, 10G, not '12Q'",
    "8: retain-age takes 0 or a duration like 30m, 12h, 30d, 2w, not 'forever'",
    "9: new-admin-token takes true or false (yes, no, 1, 0), not 'maybe'",
    "10: expected 'key = value' or a # comment, not 'listen'",
    "11: max-instances takes 16..1000000, not '99999999'",
    "12: http takes an address without quotes or backslashes, not '\"127.0.0.1:9\"'",
    "13: credentials takes a non-empty value",
]


def test_a_bad_file_is_reported_by_line():
    tmp = scratch()
    path = write(tmp, "bad.conf", BAD_FILE)
    want = ["%s:%s" % (path, e) for e in BAD_FILE_ERRORS]
    rc, out, err = collector("--check-config", path)
    check_eq(rc, 1, "--check-config exit status of a bad file")
    check_eq(out, "", "nothing on stdout")
    check_eq(err.splitlines(), want + ["%s: %d errors" % (path, len(want))], "every error, by line")
    # A collector given the file does not start, and says the same.
    data = os.path.join(tmp, "data")
    rc, out, err = collector("--config", path, "--data", data, "--http", "127.0.0.1:0")
    check_eq(rc, 2, "exit status of a collector given a bad file")
    check_eq(err.splitlines(), want + ["logtap-collector: %d errors in %s (check it with --check-config)"
                                       % (len(want), path)], "the collector's errors")
    check(not os.path.exists(data), "nothing created")
    # What is not a config file at all.
    check_eq(collector("--check-config", os.path.join(tmp, "missing")),
             (1, "", "%s: cannot read: No such file or directory\n%s: 1 error\n"
              % (os.path.join(tmp, "missing"), os.path.join(tmp, "missing"))), "a missing file")
    rc, _, err = collector("--check-config", tmp)
    check_eq(rc, 1, "a directory")
    check("not a config file" in err, "a directory: %r" % err)
    nul = write(tmp, "nul.conf", "commit-ms = 20\ncommit\0-ms = 5\n" + "x" * 5000 + "\n")
    rc, _, err = collector("--check-config", nul)
    check_eq((rc, err.splitlines()[:2]), (1, [nul + ":2: a NUL byte in the line",
                                             nul + ":3: line longer than 4096 bytes"]),
             "a NUL byte and a long line")


if __name__ == "__main__":
    run_tests([test_every_setting_through_the_file, test_a_collector_runs_on_the_file,
               test_a_bad_file_is_reported_by_line])
