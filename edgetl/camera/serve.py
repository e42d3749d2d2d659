"""``edgetl run --serve``: watch a headless device from a browser, with nothing to install on either side.

Routes (all GET; nothing is ever read from disk):
  ``/``            the live page (one self-contained HTML document: no CDN, works offline)
  ``/stream.mjpg`` the annotated frames as MJPEG (multipart/x-mixed-replace), which browsers play natively
  ``/stats.json``  per-stage percentiles of recent frames, counters, the model and the (redacted) source
  ``/events``      Server-Sent Events: ``recognition`` when the answer changes, ``sign`` when a sign is
                   announced (the event as in ``--events``), ``end`` when the run ends

The server is Python's own ``http.server`` (a thread per connection): it adds no package, which on a
Jetson means nothing to build for aarch64, and its blocking threads fit a loop that already runs
capture in a thread. Every stream thread only reads the ``Broadcast``; the loop never waits for it.
A client that stops reading blocks only its own thread, until the send timeout drops it.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import select
import socket
import socketserver
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Mapping
from urllib.parse import parse_qs, urlsplit

from edgetl.camera.broadcast import Broadcast
from edgetl.camera.sources import redact
from edgetl.errors import EdgetlError

log = logging.getLogger(__name__)

TOKEN_ENV = "EDGETL_SERVE_TOKEN"
MIN_TOKEN = 16
DEFAULT_HOST = "127.0.0.1"
SEND_TIMEOUT_S = 5.0  # a client that takes no data for this long is dropped
KEEPALIVE_S = 10.0  # an SSE comment this often, so proxies keep the stream open
POLL_S = 0.5  # how often a waiting stream checks that its viewer is still there
BOUNDARY = "edgetlframe"
RECENT_ON_CONNECT = 20  # events replayed to a viewer that connects without Last-Event-ID


class ServeError(EdgetlError):
    """--serve cannot be used as given (bad address, port in use, token too short)."""


@dataclass(frozen=True)
class ServeConfig:
    """Where to listen and what a live view may cost; ``token`` None serves without one."""

    host: str = DEFAULT_HOST
    port: int = 8080
    fps: float = 15.0
    width: int = 640
    token: str | None = None
    max_clients: int = 4

    def __post_init__(self) -> None:
        if self.token is not None:
            check_token(self.token)
        if not 0 <= self.port <= 65535:
            raise ServeError(f"--serve: port {self.port} is not in 0..65535")
        if self.fps <= 0 or self.width < 16 or self.max_clients < 1:
            raise ServeError("--serve-fps must be > 0, --serve-width >= 16 and --serve-clients >= 1")

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def public(self) -> bool:
        """Whether other machines may reach it (any host but a loopback address)."""
        if self.host == "localhost":
            return False
        try:
            return not ipaddress.ip_address(self.host).is_loopback
        except ValueError:  # a host name: assume it is reachable
            return True


def parse_address(text: str) -> tuple[str, int]:
    """``"[HOST:]PORT"`` (HOST may be ``[v6]``) -> (host, port); 127.0.0.1 when no host is given."""
    m = re.fullmatch(r"(?:(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]/]+):)?(\d{1,5})", text.strip())
    if not m or int(m.group(2)) > 65535:
        raise ServeError(f"--serve {text!r}: expected [HOST:]PORT, e.g. 8080, 0.0.0.0:8080 or [::1]:8080 "
                         f"(port 0..65535; 0 picks a free one)")
    return (m.group(1) or DEFAULT_HOST).strip("[]"), int(m.group(2))


def check_token(token: str) -> str:
    """A token long enough not to be guessed, in characters a header and a URL carry as they are."""
    if len(token) < MIN_TOKEN or not re.fullmatch(r"[A-Za-z0-9._~+/=-]+", token):
        raise ServeError(f"--serve-token: use at least {MIN_TOKEN} characters from A-Z a-z 0-9 . _ ~ + / = - "
                         "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe())')")
    return token


def load_page() -> bytes:
    return resources.files("edgetl.camera").joinpath("serve_page.html").read_bytes()


def content_security_policy(page: bytes) -> str:
    """Allow the page's own inline style and script (by hash) and this origin; nothing else, nowhere."""
    def hashes(tag: str) -> str:
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>".encode(), page, flags=re.S)
        return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b).digest()).decode()}'" for b in blocks)
    return (f"default-src 'none'; img-src 'self'; connect-src 'self'; style-src {hashes('style')}; "
            f"script-src {hashes('script')}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class LiveServer:
    """An HTTP server over a ``Broadcast``: binds when made (so errors come before the loop), serves
    after ``start``, and ends every stream on ``close``. Use ``broadcast`` as the loop's live output."""

    def __init__(self, config: ServeConfig):
        self.config = config
        self.page = load_page()
        self.csp = content_security_policy(self.page)
        self.httpd = _bind(config, self)
        self.broadcast = Broadcast(config.fps, config.width, config.max_clients)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="edgetl-serve", daemon=True)
        self._closed = False

    @property
    def url(self) -> str:
        host = self.config.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/"

    def start(self, info: Mapping[str, Any]) -> None:
        """Start serving; ``info`` (model, backend, source...) is shown on the page, redacted."""
        self.broadcast.info = {k: redact(v) if isinstance(v, str) else v for k, v in info.items()}
        self._thread.start()
        log.info("serving on %s", self.url)

    def close(self, reason: str = "stopped") -> None:
        """End the streams (with ``reason`` as the last event), stop accepting and drop what is left."""
        if self._closed:
            return
        self._closed = True
        self.broadcast.close(reason)
        if self._thread.is_alive():
            self.httpd.shutdown()
        self.httpd.close_clients(grace_s=1.0)
        self.httpd.server_close()

    def __enter__(self) -> "LiveServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Server(ThreadingHTTPServer):
    """Tracks its open connections, refuses more than a few per viewer, and can end them all."""

    daemon_threads = True

    def __init__(self, address, live: LiveServer, family: int):
        self.address_family = family
        self.live = live
        self.max_connections = 4 * live.config.max_clients + 8  # a page holds a stream, events and a poll
        self.connections: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.idle = threading.Condition(self.lock)
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without http.server's reverse DNS lookup of the host (it can hang on a closed network)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def process_request(self, request, client_address) -> None:
        with self.lock:
            full = len(self.connections) >= self.max_connections
            if not full:
                self.connections.add(request)
        if full:
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.lock:
                self.connections.discard(request)
                self.idle.notify_all()

    def close_clients(self, grace_s: float) -> None:
        """Wait up to ``grace_s`` for streams to end by themselves, then cut the rest off."""
        with self.idle:
            self.idle.wait_for(lambda: not self.connections, grace_s)
            for conn in list(self.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


def _bind(config: ServeConfig, live: LiveServer) -> _Server:
    """Bind now, so a port in use or a host that cannot be bound is a one-line error before the loop."""
    where = f"--serve {config.address}"
    try:
        infos = socket.getaddrinfo(config.host, config.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ServeError(f"{where}: cannot resolve host {config.host!r} ({exc.strerror})") from None
    family, _, _, _, sockaddr = infos[0]
    try:
        return _Server(sockaddr[:2], live, family)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(f"{where}: port {config.port} is in use; pick another port") from None
        if exc.errno == errno.EACCES:
            raise ServeError(f"{where}: not allowed to bind port {config.port} (ports below 1024 need root); "
                             "pick another port") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise ServeError(f"{where}: {config.host} is not an address of this machine") from None
        raise ServeError(f"{where}: cannot listen ({exc.strerror or exc})") from None


class _Handler(BaseHTTPRequestHandler):
    """One connection: check the token, then one of four routes. HTTP/1.0: one request per connection."""

    server: _Server
    timeout = SEND_TIMEOUT_S
    server_version = "edgetl"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        url = urlsplit(self.path)
        live = self.server.live
        if not self._authorised(parse_qs(url.query).get("token", [None])[0], live.config.token):
            return
        route = {"/": self._page, "/stream.mjpg": self._stream, "/stats.json": self._stats,
                 "/events": self._events}.get(url.path)
        if route is None:
            self._text(HTTPStatus.NOT_FOUND, "not found: the routes are / /stream.mjpg /stats.json /events")
            return
        try:
            route()
        except OSError:  # the viewer went away, or stopped reading for SEND_TIMEOUT_S
            self.close_connection = True

    def _gone(self) -> bool:
        """Whether the viewer closed its end (it sends nothing after its request, so readable = closed)."""
        try:
            if not select.select([self.connection], [], [], 0)[0]:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _authorised(self, query_token: str | None, token: str | None) -> bool:
        if token is None:
            return True
        auth = self.headers.get("Authorization", "")
        given = auth[7:].strip() if auth[:7].lower() == "bearer " else query_token
        if given is None:
            self._text(HTTPStatus.UNAUTHORIZED, "a token is needed: Authorization: Bearer TOKEN, or ?token=TOKEN",
                       {"WWW-Authenticate": 'Bearer realm="edgetl"'})
            return False
        if not hmac.compare_digest(given.encode(), token.encode()):
            self._text(HTTPStatus.FORBIDDEN, "wrong token")
            return False
        return True

    def _headers(self, status: HTTPStatus, ctype: str, extra: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()

    def _body(self, status: HTTPStatus, ctype: str, data: bytes, extra: Mapping[str, str] | None = None) -> None:
        self._headers(status, ctype, {"Content-Length": str(len(data)), **(extra or {})})
        self.wfile.write(data)

    def _text(self, status: HTTPStatus, text: str, extra: Mapping[str, str] | None = None) -> None:
        self._body(status, "text/plain; charset=utf-8", (text + "\n").encode(), extra)

    def _page(self) -> None:
        self._body(HTTPStatus.OK, "text/html; charset=utf-8", self.server.live.page,
                   {"Content-Security-Policy": self.server.live.csp})

    def _stats(self) -> None:
        data = json.dumps(self.server.live.broadcast.stats(), separators=(",", ":")).encode()
        self._body(HTTPStatus.OK, "application/json", data)

    def _full(self) -> None:
        cap = self.server.live.config.max_clients
        self._text(HTTPStatus.SERVICE_UNAVAILABLE, f"too many viewers of {self.path.split('?')[0]} "
                   f"(--serve-clients {cap})", {"Retry-After": "5"})

    def _stream(self) -> None:
        b = self.server.live.broadcast
        with b.viewer("stream") as admitted:
            if not admitted:
                return self._full()
            self._headers(HTTPStatus.OK, f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            seq = 0
            while b.ended is None and not self._gone():
                item = b.jpeg_after(seq, POLL_S)
                if item is None:
                    continue
                seq, jpeg = item
                self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                                 .encode() + jpeg + b"\r\n")
            self.wfile.write(f"--{BOUNDARY}--\r\n".encode())

    def _events(self) -> None:
        b = self.server.live.broadcast
        with b.viewer("events") as admitted:
            if not admitted:
                return self._full()
            self._headers(HTTPStatus.OK, "text/event-stream; charset=utf-8")
            last = self.headers.get("Last-Event-ID", "")
            pending = (b.events_after(int(last), 0) if last.isdigit() else b.recent_events(RECENT_ON_CONNECT))
            self.wfile.write(b"retry: 2000\n\n")
            quiet_since = time.monotonic()
            while not self._gone():
                for event_id, kind, data in pending:
                    self.wfile.write(f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(data)}\n\n".encode())
                    last, quiet_since = str(event_id), time.monotonic()
                if b.ended is not None and not b.events_after(int(last or 0), 0):
                    return
                if time.monotonic() - quiet_since > KEEPALIVE_S:
                    self.wfile.write(b": keep-alive\n\n")
                    quiet_since = time.monotonic()
                pending = b.events_after(int(last or 0), POLL_S)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        """To the logger, without the query string (which may hold the token)."""
        path, line = getattr(self, "path", ""), format % args
        log.debug("%s %s", self.client_address[0], line.replace(path, path.split("?")[0]) if path else line)
