"""Destinations for logtap's log drains, for the drain tests and bench.

- HttpReceiver: an HTTP(S) server (Python's http.server, TLS through ssl
  with a certificate the caller made with openssl) that checks every
  batch's HMAC-SHA256 signature and timestamp with the drain's secret and
  records each batch: its idempotency key and its body. It can be taken
  down and brought back on the same port.
- HangingReceiver: accepts connections and never answers (nor reads).
- Rsyslog: a private rsyslogd (its own config, pid file, work directory
  and loopback port) writing what it receives over TCP to a file; stopped
  by its PID, never touching the system's rsyslog.
"""

import hashlib
import hmac
import http.server
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time


def make_certificate(directory):
    """A self-signed certificate for 127.0.0.1 and localhost: (cert, key)."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HttpReceiver:
    def __init__(self, cert=None, key=None, port=None):
        self.cert, self.key = cert, key
        self.port = port or free_port()
        self.secret = None
        self.lock = threading.Lock()
        self.batches = []  # (idempotency key, headers dict, body bytes)
        self.bad_signatures = 0
        self.lose_answers = 0  # batches to keep but answer 503, as if the answer was lost
        self.server = None
        self.thread = None

    @property
    def url(self):
        return "%s://127.0.0.1:%d/drain" % ("https" if self.cert else "http", self.port)

    def start(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                ok = receiver._verify(self.headers, body)
                status = 200
                with receiver.lock:
                    if ok:
                        receiver.batches.append((self.headers.get("Idempotency-Key"), dict(self.headers), body))
                        if receiver.lose_answers > 0:
                            receiver.lose_answers -= 1
                            status = 503
                    else:
                        receiver.bad_signatures += 1
                        status = 401
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        if self.cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.cert, self.key)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def _verify(self, headers, body):
        if self.secret is None:
            return False
        stamp = headers.get("X-Logtap-Timestamp", "")
        signature = headers.get("X-Logtap-Signature", "")
        want = "sha256=" + hmac.new(self.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, signature):
            return False
        return stamp.isdigit() and abs(time.time() - int(stamp)) < 300

    def entries(self):
        """Every NDJSON entry received, in arrival order, with its batch key."""
        out = []
        with self.lock:
            for key, _, body in self.batches:
                for line in body.decode().splitlines():
                    out.append((key, json.loads(line)))
        return out

    def count(self):
        with self.lock:
            return sum(body.count(b"\n") for _, _, body in self.batches)


class HangingReceiver:
    """Accepts every connection and then says nothing, ever."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/drain" % self.port

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def stop(self):
        self.stopping = True
        self.sock.close()
        for c in self.held:
            c.close()


class SyslogTlsReceiver:
    """Syslog over TLS (RFC 5425's framing: octet counting), in Python:
    records each message, in order. Only to test logtap's TLS client; the
    plain TCP path is tested against rsyslogd."""

    def __init__(self, cert, key):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.messages = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return "tls://localhost:%d" % self.port

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn):
        try:
            tls = self.ctx.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError):
            conn.close()
            return
        buf = b""
        while True:
            try:
                data = tls.recv(65536)
            except (OSError, ssl.SSLError):
                break
            if not data:
                break
            buf += data
            while True:
                space = buf.find(b" ")
                if space < 0:
                    break
                length = int(buf[:space])
                if len(buf) < space + 1 + length:
                    break
                with self.lock:
                    self.messages.append(buf[space + 1:space + 1 + length].decode("utf-8", "replace"))
                buf = buf[space + 1 + length:]
        tls.close()

    def stop(self):
        self.sock.close()


RSYSLOG_CONF = """
global(workDirectory="{work}")
module(load="imptcp")
template(name="drained" type="string" string="%app-name% %hostname% %msgid% %structured-data% %msg%\\n")
input(type="imptcp" port="{port}" address="127.0.0.1" supportOctetCountedFraming="on" ruleset="drain")
ruleset(name="drain") {{
  action(type="omfile" file="{out}" template="drained")
}}
"""


class Rsyslog:
    def __init__(self, directory):
        self.dir = directory
        self.work = os.path.join(directory, "rsyslog-work")
        os.makedirs(self.work, exist_ok=True)
        self.port = free_port()
        self.out = os.path.join(directory, "rsyslog-out.log")
        self.conf = os.path.join(directory, "rsyslog.conf")
        self.pidfile = os.path.join(directory, "rsyslog.pid")
        self.proc = None

    @staticmethod
    def available():
        return shutil.which("rsyslogd") is not None or os.path.exists("/usr/sbin/rsyslogd")

    @property
    def url(self):
        return "tcp://127.0.0.1:%d" % self.port

    def start(self):
        with open(self.conf, "w") as f:
            f.write(RSYSLOG_CONF.format(work=self.work, port=self.port, out=self.out))
        binary = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
        self.proc = subprocess.Popen([binary, "-n", "-f", self.conf, "-i", self.pidfile],
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "rsyslog.err"), "wb"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("rsyslogd did not listen on %d" % self.port)

    def lines(self):
        try:
            with open(self.out, "rb") as f:
                return f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return []

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
