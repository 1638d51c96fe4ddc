"""The Debian package, built, installed, used and purged (issue 17, item 1).

scripts/build-deb.sh builds the package from this tree. Its man pages must
format without a warning (groff -ww, and man -l). Then, in a fresh Debian
12 root made with debootstrap (mode "debootstrap"; where debootstrap or
chroot fails here, on this machine itself instead, mode "host": the test
says which it used):

- the package's dependencies (its Depends field) are installed with apt,
  the root's files are listed, and the package is installed with dpkg -i:
  so the Depends field is enough;
- the collector is started as logtap-collector.service would start it:
  the unit's User= and Group=, its StateDirectory= made as systemd makes
  it, its UMask=, its ExecStart= word for word, the environment systemd
  gives, and NOTIFY_SOCKET on a socket this test listens on: the collector
  must say READY=1, run as the unit's user and own its store;
- a Python app runs through `logtap run` as the user logtap, imports the
  installed `logtap` module and marks a request; its lines are read back
  with the CLI (runner and request logs) and with Python over the HTTP API
  (with logtap.client when the package ships one);
- the collector stops on SIGTERM with status 0; the package is installed
  again (an upgrade: the user is kept) and removed (the store, the user and
  the conffile stay), then purged, and no file of the package (dpkg -L before), no byte code, no state
  directory, socket, ring or user remains. In debootstrap mode, the whole
  file tree is compared with the listing taken before the install.

In debootstrap mode every command runs in the root through chroot, in one
mount and network namespace of its own (a holder process keeps it): /proc
and a tmpfs /dev/shm are mounted there, and the unit's fixed HTTP port
(127.0.0.1:8765) and socket (/tmp/logtap.sock) cannot meet anything else
on the machine. Needs root. Takes about a minute (debootstrap about 30 s).
"""

import gzip
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from harness import BUILD, SRC, check, check_eq, run_tests

OUT = os.path.join(BUILD, "package")
UNIT = "/lib/systemd/system/logtap-collector.service"
NOTIFY = "/run/logtap-test-notify"
RUNNER = "pkg-runner-1"
REQUEST = "pkg-req-1"
APP = """\
import logtap
import sys
print("hello from the packaged logtap", flush=True)
with logtap.request("%s"):
    print("inside the request", flush=True)
print("logtap module:", logtap.__file__, flush=True)
print("an error line", file=sys.stderr, flush=True)
""" % REQUEST

# What apt and dpkg keep about themselves, the test's own files, and the
# mounts: not the package's to leave or remove.
BOOKKEEPING = ("/proc", "/dev", "/sys", "/run", "/tmp", "/var/lib/dpkg", "/var/lib/apt", "/var/cache",
               "/var/log", "/etc/passwd-", "/etc/group-", "/etc/shadow-", "/etc/gshadow-")


def run(cmd, timeout=300, check_rc=True, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, **kw)
    if check_rc and r.returncode != 0:
        raise AssertionError("%s: exit %d\nstdout: %s\nstderr: %s" % (
            " ".join(map(shlex.quote, cmd)), r.returncode, r.stdout.decode(errors="replace")[-3000:],
            r.stderr.decode(errors="replace")[-3000:]))
    return r


class Root:
    """Where the package goes: a debootstrapped root entered through a
    holder's namespaces, or this machine (path "/", commands as they are)."""

    def __init__(self, path):
        self.path = path
        self.holder = None

    @property
    def mode(self):
        return "host" if self.path == "/" else "debootstrap"

    def host_path(self, path):
        return os.path.join(self.path, path.lstrip("/"))

    def enter(self):
        if self.path == "/":
            return
        os.makedirs(self.host_path("/dev/shm"), exist_ok=True)
        script = ('set -e; mount -t proc proc "$1/proc"; mount -t tmpfs -o mode=1777 tmpfs "$1/dev/shm"; '
                  'ip link set lo up; echo ready; exec sleep 3600')
        self.holder = subprocess.Popen(["unshare", "--mount", "--net", "--propagation", "private", "sh", "-c",
                                        script, "holder", self.path], stdout=subprocess.PIPE)
        line = self.holder.stdout.readline()
        check_eq(line, b"ready\n", "the namespace holder's first line")

    def cmd(self, argv, net=True):
        """argv as run in the root. net=False: in the machine's network
        namespace (apt needs the mirror)."""
        if self.path == "/":
            return list(argv)
        return (["nsenter", "-t", str(self.holder.pid), "-m"] + (["-n"] if net else []) +
                ["chroot", self.path] + list(argv))

    def run(self, argv, net=True, **kw):
        return run(self.cmd(argv, net), **kw)

    def leave(self):
        if self.holder:
            self.holder.kill()
            self.holder.wait()
            self.holder = None

    def files(self):
        """Every path in the root but the bookkeeping ones."""
        found = set()
        for top, dirs, files in os.walk(self.path):
            rel = "/" + os.path.relpath(top, self.path).lstrip(".")
            rel = "/" if rel == "/" else rel.rstrip("/")
            keep = []
            for d in dirs:
                p = os.path.join(rel, d)
                if not p.startswith(BOOKKEEPING):
                    keep.append(d)
                    found.add(p)
            dirs[:] = keep
            for f in files:
                p = os.path.join(rel, f)
                if not p.startswith(BOOKKEEPING):
                    found.add(p)
        return found


def build_package():
    r = run([os.path.join(SRC, "scripts", "build-deb.sh"), OUT], timeout=900)
    deb = r.stdout.decode().strip().splitlines()[-1]
    check(deb.endswith(".deb") and os.path.exists(deb), "build-deb.sh printed no package: %r" % deb)
    return deb


def make_root():
    """A fresh Debian 12 root, or '/' with the reason why not."""
    if os.geteuid() != 0:
        return None, "not root"
    if os.environ.get("LOGTAP_TEST_PACKAGE_MODE") == "host":
        return Root("/"), "LOGTAP_TEST_PACKAGE_MODE=host"
    if not shutil.which("debootstrap"):
        return Root("/"), "debootstrap is not installed"
    path = tempfile.mkdtemp(prefix="logtap-pkg-root-", dir="/var/tmp")
    os.chmod(path, 0o755)  # the root's "/": mkdtemp's 0700 would shut the logtap user out
    start = time.monotonic()
    try:
        r = run(["debootstrap", "--variant=minbase", "bookworm", path], timeout=400, check_rc=False)
    except subprocess.TimeoutExpired:
        shutil.rmtree(path, ignore_errors=True)
        return Root("/"), "debootstrap took longer than 400 s"
    if r.returncode != 0:
        shutil.rmtree(path, ignore_errors=True)
        return Root("/"), "debootstrap failed: " + r.stderr.decode(errors="replace")[-500:]
    print("debootstrap: %.1f s" % (time.monotonic() - start), flush=True)
    root = Root(path)
    try:
        root.enter()
        root.run(["true"])
    except Exception as e:
        root.leave()
        shutil.rmtree(path, ignore_errors=True)
        return Root("/"), "cannot enter the root (%s)" % e
    return root, None


def unit_settings(root):
    """The [Service] settings of the installed unit, ExecStart split."""
    settings = {}
    with open(root.host_path(UNIT)) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", "[")):
                key, _, value = line.partition("=")
                settings[key] = value
    settings["ExecStart"] = shlex.split(settings["ExecStart"])
    return settings


def depends(deb):
    field = run(["dpkg-deb", "-f", deb, "Depends"]).stdout.decode()
    return [re.sub(r"\s*\(.*\)", "", d).strip() for d in field.split(",") if d.strip()]


def test_man_pages():
    """Every man page the package installs formats with no warning."""
    pages = []
    for top, _, files in os.walk(os.path.join(OUT, "stage", "usr", "share", "man")):
        pages += [os.path.join(top, f) for f in files]
    check_eq(sorted(os.path.basename(p) for p in pages),
             ["liblogtap.7.gz", "logtap-collector.8.gz", "logtap.1.gz"], "man pages in the package")
    for page in pages:
        with gzip.open(page) as f:
            source = f.read()
        r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z"], input=source, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        check(r.returncode == 0 and not r.stderr, "groff -ww on %s: %s" % (page, r.stderr.decode()))
        env = dict(os.environ, MANROFFOPT="-ww", MANWIDTH="80", LANG="C.UTF-8")
        r = subprocess.run(["man", "-l", page], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                           timeout=60)
        check(r.returncode == 0 and not r.stderr, "man -l %s: %s" % (page, r.stderr.decode()))
        check(b"NAME" in r.stdout and b"SEE ALSO" in r.stdout, "man -l %s: no NAME or SEE ALSO" % page)


def test_default_config():
    """The default config names every flag of the collector, every line
    commented out, and is a conffile."""
    conf = open(os.path.join(OUT, "stage", "etc", "logtap", "collector.conf")).read()
    live = [l for l in conf.splitlines() if l.strip() and not l.lstrip().startswith("#")]
    check_eq(live, [], "uncommented lines in collector.conf")
    keys = set(re.findall(r"^# ([a-z-]+) = ", conf, re.M))
    # Every setting, as the collector itself lists them (--print-config:
    # "key = value", or "# key is not set"); the actions (--help,
    # --config, --check-config...) are no settings.
    printed = run([os.path.join(OUT, "stage", "usr", "bin", "logtap-collector"), "--config", "none",
                   "--print-config"]).stdout.decode()
    flags = set(re.findall(r"^(?:# )?([a-z-]+)(?: = | is not set)", printed, re.M)) - {"new-admin-token"}
    check_eq(sorted(flags - keys), [], "collector flags missing from collector.conf")
    check_eq(sorted(keys - flags), [], "collector.conf keys that are no flag")
    conffiles = open(os.path.join(OUT, "stage", "DEBIAN", "conffiles")).read().split()
    check_eq(conffiles, ["/etc/logtap/collector.conf"], "conffiles")


def test_unit():
    """The unit passes systemd-analyze verify, and its offline security
    exposure stays at most 2.5 (of 10; 1.8 when written)."""
    unit = os.path.join(OUT, "stage", UNIT.lstrip("/"))
    work = tempfile.mkdtemp(prefix="logtap-unit-")
    try:
        # verify wants ExecStart's program to exist: the staged one.
        copy = os.path.join(work, os.path.basename(UNIT))
        with open(unit) as f, open(copy, "w") as g:
            g.write(f.read().replace("/usr/bin/logtap-collector",
                                     os.path.join(OUT, "stage", "usr", "bin", "logtap-collector")))
        r = run(["systemd-analyze", "verify", "--man=no", copy], check_rc=False)
        check(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
              "systemd-analyze verify: %s%s" % (r.stdout.decode(), r.stderr.decode()))
        r = run(["systemd-analyze", "security", "--offline=yes", "--threshold=25", "--no-pager", copy],
                check_rc=False)
        exposure = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout.decode())
        check(r.returncode == 0 and exposure, "systemd-analyze security: %s" % r.stdout.decode()[-3000:])
        print("unit exposure (systemd-analyze security): %s" % exposure.group(1), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def wait_ready(listener, proc, timeout=30.0):
    """The datagrams the collector sends to NOTIFY_SOCKET until READY=1."""
    deadline = time.monotonic() + timeout
    said = []
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            proc.log.seek(0)
            raise AssertionError("the collector exited (%s) before READY=1: %s" % (
                proc.returncode, proc.log.read().decode(errors="replace")[-2000:]))
        listener.settimeout(0.2)
        try:
            said.append(listener.recv(4096).decode())
        except socket.timeout:
            continue
        if any("READY=1" in s.split("\n") for s in said):
            return said
    raise AssertionError("no READY=1 on NOTIFY_SOCKET within %.0f s (got %r)" % (timeout, said))


def start_as_unit(root, unit):
    """The collector, started as systemd starts the unit."""
    user, group = unit["User"], unit.get("Group", unit["User"])
    state = "/var/lib/" + unit["StateDirectory"]
    # StateDirectory=: systemd makes it, owned by the unit's user and group.
    root.run(["install", "-d", "-o", user, "-g", group, "-m", unit.get("StateDirectoryMode", "0755"), state])
    notify_path = root.host_path(NOTIFY)
    if os.path.exists(notify_path):
        os.unlink(notify_path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(notify_path)
    os.chmod(notify_path, 0o777)
    home = root.run(["getent", "passwd", user]).stdout.decode().strip().split(":")[5]
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "USER=" + user,
           "LOGNAME=" + user, "HOME=" + home, "SHELL=/usr/sbin/nologin", "STATE_DIRECTORY=" + state,
           "NOTIFY_SOCKET=" + NOTIFY]
    umask = unit.get("UMask", "0022")
    argv = (["setpriv", "--reuid", user, "--regid", group, "--init-groups", "env", "-i"] + env +
            ["sh", "-c", 'umask %s && exec "$0" "$@"' % umask] + unit["ExecStart"])
    # Its log goes to a file: a pipe nobody reads could fill and stop it.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(root.cmd(argv), stdout=log, stderr=log)
    proc.log = log
    return proc, listener, state


def read_with_python(root, token):
    """The runner's and the request's messages, read by the root's python3:
    with logtap.client when the package has one, else over the HTTP API."""
    script = r"""
import json, sys, urllib.request
token = sys.argv[1]
try:
    import logtap.client
    print("reader: logtap.client", file=sys.stderr)
except ImportError:
    print("reader: urllib (this package has no logtap.client)", file=sys.stderr)
def logs(scope, ident):
    req = urllib.request.Request("http://127.0.0.1:8765/v1/%s/%s/logs" % (scope, ident),
                                 headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=30) as r:
        return [e["message"] for e in json.load(r)["logs"]]
print(json.dumps({"runner": logs("runners", sys.argv[2]), "request": logs("requests", sys.argv[3])}))
"""
    r = root.run(["python3", "-c", script, token, RUNNER, REQUEST])
    print(r.stderr.decode().strip(), flush=True)
    return json.loads(r.stdout)


def test_install_run_purge():
    root, why = make_root()
    if root is None:
        print("SKIP: %s: installing a package needs root" % why, flush=True)
        return
    print("mode: %s%s" % (root.mode, "" if why is None else " (%s)" % why), flush=True)
    proc = None
    try:
        if root.mode == "debootstrap":
            root.run(["apt-get", "-o", "Acquire::Check-Valid-Until=false", "update", "-qq"], net=False)
        root.run(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq",
                  "--no-install-recommends"] + depends(DEB), net=False, timeout=600)
        before = root.files() if root.mode == "debootstrap" else None
        check(root.run(["getent", "passwd", "logtap"], check_rc=False).returncode != 0,
              "a user logtap exists before the install")
        shutil.copy(DEB, root.host_path("/tmp/logtap.deb"))
        start = time.monotonic()
        root.run(["dpkg", "-i", "/tmp/logtap.deb"])
        os.unlink(root.host_path("/tmp/logtap.deb"))
        print("dpkg -i: %.1f s" % (time.monotonic() - start), flush=True)
        listed = root.run(["dpkg", "-L", "logtap"]).stdout.decode().split("\n")
        listed = [p for p in listed if p]
        for path in ["/usr/bin/logtap", "/usr/bin/logtap-collector", "/usr/include/logtap.h", UNIT,
                     "/etc/logtap/collector.conf", "/usr/lib/python3/dist-packages/logtap"]:
            check(any(p == path or p.startswith(path + ".") or p.startswith(path + "/") for p in listed),
                  "%s not in dpkg -L logtap" % path)
        check(any(p.endswith("/liblogtap.so") for p in listed), "liblogtap.so not in dpkg -L logtap")
        check(any(p.endswith("/pkgconfig/logtap.pc") for p in listed), "logtap.pc not in dpkg -L logtap")
        pc = [p for p in listed if p.endswith("/pkgconfig/logtap.pc")][0]
        libs = run(["pkg-config", "--libs", "logtap"],
                   env=dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(root.host_path(pc)))).stdout.decode()
        check("-llogtap" in libs, "pkg-config --libs logtap: %r" % libs)

        unit = unit_settings(root)
        check_eq(unit.get("Type"), "notify", "the unit's Type")
        check_eq(unit.get("User"), "logtap", "the unit's User")
        check_eq(unit.get("ProtectSystem"), "strict", "the unit's ProtectSystem")
        passwd = root.run(["getent", "passwd", "logtap"]).stdout.decode().strip().split(":")
        check(int(passwd[2]) < 1000, "logtap is no system user: %r" % passwd)

        proc, listener, state = start_as_unit(root, unit)
        said = wait_ready(listener, proc)
        print("collector said to NOTIFY_SOCKET: %r" % said, flush=True)
        with open("/proc/%d/status" % proc.pid) as f:
            uid = [l.split()[1] for l in f if l.startswith("Uid:")][0]
        check_eq(uid, passwd[2], "the collector's uid")
        st = os.stat(root.host_path(state + "/logtap.db"))
        check_eq((st.st_uid, st.st_mode & 0o077), (int(passwd[2]), 0), "the store's owner and group/other bits")

        # The app, as the unit's user (the collector trusts its own user's
        # socket and rings, logtap-collector(8)).
        with open(root.host_path("/tmp/logtap-app.py"), "w") as f:
            f.write(APP)
        r = root.run(["setpriv", "--reuid", "logtap", "--regid", "logtap", "--init-groups", "env", "-i",
                      "PATH=/usr/bin:/bin", "LANG=C.UTF-8", "logtap", "run", "--runner", RUNNER, "--app",
                      "pkg-app", "--", "python3", "/tmp/logtap-app.py"])
        out = r.stdout.decode()
        check("hello from the packaged logtap" in out and "inside the request" in out,
              "the app's output did not pass through: %r" % out)
        check("logtap module: /usr/lib/python3/dist-packages/logtap" in out,
              "import logtap did not find the installed module: %r" % out)
        os.unlink(root.host_path("/tmp/logtap-app.py"))

        token = open(root.host_path(state + "/admin.token")).read().strip()
        want_runner = ["hello from the packaged logtap", "inside the request"]
        cli = ["env", "LOGTAP_TOKEN=" + token, "HOME=/root", "logtap"]
        runner_lines = root.run(cli + ["runners", "logs", RUNNER, "--raw"]).stdout.decode().splitlines()
        for line in want_runner + ["an error line"]:
            check(line in runner_lines, "logtap runners logs: %r missing from %r" % (line, runner_lines))
        request_lines = root.run(cli + ["requests", "logs", REQUEST, "--raw"]).stdout.decode().splitlines()
        check_eq(request_lines, ["inside the request"], "logtap requests logs")
        read = read_with_python(root, token)
        check_eq(read["request"], ["inside the request"], "the request's logs read from Python")
        check_eq(read["runner"], runner_lines, "the runner's logs read from Python and by the CLI")

        proc.send_signal(signal.SIGTERM)
        check_eq(proc.wait(timeout=60), 0, "the collector's exit status after SIGTERM")
        proc = None
        listener.close()
        os.unlink(root.host_path(NOTIFY))

        # Installed again (an upgrade) and then removed: the user, the store
        # and the conffile stay; only a purge takes them.
        shutil.copy(DEB, root.host_path("/tmp/logtap.deb"))
        root.run(["dpkg", "-i", "/tmp/logtap.deb"])
        os.unlink(root.host_path("/tmp/logtap.deb"))
        check_eq(root.run(["getent", "passwd", "logtap"]).stdout.decode().strip().split(":"), passwd,
                 "the logtap user after an upgrade")
        root.run(["dpkg", "--remove", "logtap"])
        check(not os.path.lexists(root.host_path("/usr/bin/logtap-collector")), "remove left the collector")
        for path in [state + "/logtap.db", state + "/admin.token", "/etc/logtap/collector.conf"]:
            check(os.path.exists(root.host_path(path)), "remove took %s, which only purge may take" % path)
        root.run(["getent", "passwd", "logtap"])

        start = time.monotonic()
        root.run(["dpkg", "--purge", "logtap"])
        print("dpkg --purge: %.1f s" % (time.monotonic() - start), flush=True)
        left = [p for p in listed if os.path.lexists(root.host_path(p)) and not os.path.isdir(root.host_path(p))]
        check_eq(left, [], "files of the package left after the purge")
        for path in ["/etc/logtap", state, "/tmp/logtap.sock", "/usr/share/doc/logtap",
                     "/usr/lib/python3/dist-packages/logtap"]:
            check(not os.path.lexists(root.host_path(path)), "%s is left after the purge" % path)
        pycache = root.host_path("/usr/lib/python3/dist-packages/__pycache__")
        if os.path.isdir(pycache):
            check_eq([f for f in os.listdir(pycache) if f.startswith("logtap")], [], "byte code left")
        for db in ["passwd", "group"]:
            check(root.run(["getent", db, "logtap"], check_rc=False).returncode != 0,
                  "%s entry logtap left after the purge" % db)
        owned = root.run(["find", "/dev/shm", "/tmp", "-maxdepth", "1", "-uid", passwd[2]]).stdout.decode()
        check_eq(owned.split(), [], "files of the logtap user left in /dev/shm and /tmp")
        if before is not None:
            after = root.files()
            check_eq(sorted(after - before), [], "paths the install and purge left in the root")
            check_eq(sorted(before - after), [], "paths the install and purge removed from the root")
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        root.leave()
        if root.mode == "debootstrap" and not os.environ.get("LOGTAP_TEST_KEEP_ROOT"):
            shutil.rmtree(root.path, ignore_errors=True)


if __name__ == "__main__":
    # meson's timeout sends SIGTERM: clean up (the root, the namespace
    # holder, the collector) on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("SIGTERM"))
    DEB = build_package()
    print("package: %s" % DEB, flush=True)
    run_tests([test_man_pages, test_default_config, test_unit, test_install_run_purge])
