"""A real mosquitto for the MQTT tests and certificates for it (the stream
payloads and verifier, in stream_verifier.py, are re-exported). Standard
library only.

mosquitto's defaults lose messages on their own (autosave every 1800 s, at
most 1000 queued messages per client; as root it drops to user mosquitto,
which cannot write a root-owned persistence directory), so the broker
here saves on every change, queues without limit and runs as whoever
started it: the tests measure edgefn, not mosquitto.

    with Mosquitto(tls=True, websockets=True) as broker:
        MqttClient(broker.port) ...; broker.url; broker.tls_port; broker.ca
        broker.kill(); broker.start()   # same port, same persistence file
"""
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

from mqtt_client import MqttClient, MqttError, MqttTimeout, Message  # noqa: F401 (re-exported)
# The verifier is shared by both stream triggers' tests; re-exported here so
# that the MQTT tests keep importing it from mqtt_support.
from stream_verifier import StreamReport, StreamVerifier, make_payload, parse_payload  # noqa: F401

MOSQUITTO = os.environ.get("EDGEFN_MOSQUITTO", "/usr/sbin/mosquitto")
START_TIMEOUT = 15.0


def free_port():
    """A port nothing listens on now (another process may still take it
    before the broker binds; Mosquitto retries once with a new one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port, timeout=0.5):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


class Certificates:
    """A CA, a server certificate for 127.0.0.1/localhost and a client
    certificate, all made with the openssl CLI in `directory` (EC P-256:
    quick to make). Attributes are file paths."""

    def __init__(self, directory):
        self.dir = directory
        self.ca, self.ca_key = self._path("ca.crt"), self._path("ca.key")
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                      "-keyout", self.ca_key, "-out", self.ca, "-days", "2", "-subj", "/CN=edgefn test CA")
        self.server_cert, self.server_key = self._issue(
            "server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth")
        self.client_cert, self.client_key = self._issue("client", "/CN=edgefn-test-client",
                                                        "extendedKeyUsage=clientAuth")

    def _path(self, name):
        return os.path.join(self.dir, name)

    def _openssl(self, *args):
        r = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"openssl {args[0]} failed: {r.stderr}")

    def _issue(self, name, subject, extensions):
        key, csr, cert, ext = (self._path(name + s) for s in (".key", ".csr", ".crt", ".ext"))
        with open(ext, "w") as f:
            f.write(extensions + "\n")
        self._openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                      "-keyout", key, "-out", csr, "-subj", subject)
        self._openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key, "-CAcreateserial",
                      "-out", cert, "-days", "2", "-extfile", ext)
        return cert, key

    def client_context(self, client_cert=False):
        """An ssl.SSLContext trusting the CA (and presenting the client
        certificate when asked)."""
        ctx = ssl.create_default_context(cafile=self.ca)
        if client_cert:
            ctx.load_cert_chain(self.client_cert, self.client_key)
        return ctx


class Mosquitto:
    """A mosquitto on 127.0.0.1 with its own config, persistence and log in
    a temp dir; a context manager (stops the broker and removes the dir).

    `tls`: also a TLS listener (tls_port) with a certificate from the CA
    in `certs` (.ca); `require_client_cert`: mutual TLS on it.
    `websockets`: also a WebSocket listener (ws_port, path any).
    `users`: {name: password}; anonymous clients are then refused.
    `port`: listen there (e.g. a port a processor already points at).
    `start`: False to only prepare (start() later)."""

    def __init__(self, tls=False, require_client_cert=False, websockets=False, users=None, port=None,
                 start=True, verbose=False):
        self._tmp = tempfile.TemporaryDirectory(prefix="edgefn-mosquitto-")
        self.dir = self._tmp.name
        self.config_path = os.path.join(self.dir, "mosquitto.conf")
        self.log_path = os.path.join(self.dir, "mosquitto.log")
        self.persistence_dir = os.path.join(self.dir, "data")
        os.mkdir(self.persistence_dir)
        self.tls, self.require_client_cert, self.websockets = tls, require_client_cert, websockets
        self.users, self.verbose = users, verbose
        self.certs = Certificates(self.dir) if tls else None
        self.port, self.tls_port, self.ws_port = port, None, None
        self._fixed_port = port is not None
        self.proc = None
        self._autostart = start
        if users:
            self.password_file = os.path.join(self.dir, "passwords")
            for i, (name, password) in enumerate(users.items()):
                r = subprocess.run(["mosquitto_passwd", "-b", *(["-c"] if i == 0 else []), self.password_file,
                                    name, password], capture_output=True, text=True, timeout=30)
                if r.returncode != 0:
                    raise RuntimeError(f"mosquitto_passwd failed: {r.stderr}")
            os.chmod(self.password_file, 0o600)

    # -- lifecycle ----------------------------------------------------------

    def __enter__(self):
        try:
            if self._autostart:
                self.start()
            elif self.port is None:
                self._choose_ports()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is not None:
            sys.stderr.write(f"--- mosquitto log ({self.log_path}), last 3000 characters:\n"
                             f"{self.log()[-3000:]}\n---\n")
        self.close()
        return False

    def close(self):
        self.stop()
        self._tmp.cleanup()

    def _choose_ports(self):
        if not self._fixed_port:
            self.port = free_port()
        self.tls_port = free_port() if self.tls else None
        self.ws_port = free_port() if self.websockets else None

    def start(self):
        """Starts (again); a restart keeps the ports and the persistence
        file, so a persistent session and its queued messages survive."""
        if self.proc and self.proc.poll() is None:
            raise RuntimeError("mosquitto is already running")
        first = self.port is None or (self.tls and self.tls_port is None)
        if first:
            self._choose_ports()
        for attempt in range(2):
            self._write_config()
            if self._start_once():
                return self
            in_use = "Address already in use" in self._log_since_start()
            # A restart keeps its ports (clients and processors point at
            # them); only a first start may move.
            if not (in_use and attempt == 0 and first and not self._fixed_port):
                break
            self._choose_ports()
        raise RuntimeError(f"mosquitto did not start on port {self.port}:\n{self._log_since_start()}")

    def _start_once(self):
        self._log_offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", self.config_path], stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
        finally:
            log.close()
        ports = [p for p in (self.port, self.tls_port, self.ws_port) if p]
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if re.search(r"mosquitto version \S+ running", self._log_since_start()) and \
                    all(port_accepts(p) for p in ports):
                return True
            time.sleep(0.02)
        self.kill()
        return False

    def _write_config(self):
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'false' if self.users else 'true'}",
            "persistence true",
            f"persistence_location {self.persistence_dir}/",
            "persistence_file mosquitto.db",
            "autosave_interval 1",
            "autosave_on_changes true",
            "max_queued_messages 0",
            "log_dest stderr",
            "log_timestamp_format %H:%M:%S",
            "connection_messages true",
        ]
        lines += ["log_type all"] if self.verbose else \
            [f"log_type {t}" for t in ("error", "warning", "notice", "information", "subscribe", "unsubscribe")]
        if os.geteuid() == 0:
            # Else mosquitto drops to user mosquitto, who cannot write the
            # persistence directory in our temp dir.
            lines.append("user root")
        if self.users:
            lines.append(f"password_file {self.password_file}")
        if self.tls:
            lines += [f"listener {self.tls_port} 127.0.0.1", f"cafile {self.certs.ca}",
                      f"certfile {self.certs.server_cert}", f"keyfile {self.certs.server_key}",
                      f"require_certificate {'true' if self.require_client_cert else 'false'}"]
        if self.websockets:
            # Without socket_domain, 2.0.11's WebSocket listener ignores the
            # address and binds every interface.
            lines += [f"listener {self.ws_port} 127.0.0.1", "protocol websockets", "socket_domain ipv4"]
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def stop(self, timeout=10.0):
        """SIGTERM (mosquitto saves its persistence file), then waits."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def sync(self, timeout=10.0):
        """Returns once every message the broker acknowledged so far is in
        its persistence file. mosquitto acknowledges a message, then saves
        the change on a later turn of its event loop (measured: a SIGKILL
        right after the last PUBACK lost that message); two round trips
        make it turn twice. The probe itself changes nothing saved."""
        with MqttClient(self.port, client_id="", clean=True, timeout=timeout) as c:
            for _ in range(2):
                c.publish("edgefn-test/sync", b"", qos=1)

    def kill(self):
        """SIGKILL: changes not saved yet are lost (see sync())."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    # -- addresses and diagnostics -------------------------------------------

    @property
    def url(self):
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def tls_url(self):
        return f"ssl://127.0.0.1:{self.tls_port}"

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.ws_port}/mqtt"

    @property
    def ca(self):
        return self.certs.ca if self.certs else None

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def _log_since_start(self):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def client(self, **kwargs):
        """An MqttClient on the plain listener (not connected yet)."""
        return MqttClient(self.port, **kwargs)
