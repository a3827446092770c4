"""Real loopback servers that notification tests deliver to: an HTTP receiver and an SMTP one.

Both bind 127.0.0.1 only and record what they receive, so a test checks what actually went
over the wire (docs/semantics.md, Notifications, STYLE habit 9: real servers, never mocks of them).

``HttpReceiver`` is a threaded ``http.server`` speaking HTTP/1.1 with keep-alive; it answers
every request with the response last set by :meth:`HttpReceiver.set_response` and can stop
listening (:meth:`~HttpReceiver.refuse`) and come back on the same port
(:meth:`~HttpReceiver.accept`) to simulate an outage. ``SmtpReceiver`` wraps aiosmtpd's
``Controller`` and can refuse given recipients or require a login.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from aiosmtpd import smtp as aiosmtp
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------- HTTP


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the receiver saw it.

    ``query`` maps each query parameter to its last value; ``headers`` has lower-case keys;
    ``json`` is the decoded body when it is JSON, else ``None``; ``at`` is
    ``time.monotonic()`` seconds when the request was fully read; ``status`` is the status
    it was answered with.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any
    at: float
    status: int


@dataclass(frozen=True)
class _Response:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, port: int, receiver: HttpReceiver) -> None:
        self.receiver = receiver
        super().__init__((LOOPBACK, port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the FQDN of the bound address; loopback needs none.
        socketserver.TCPServer.server_bind(self)
        self.server_name = LOOPBACK
        self.server_port = int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every answer carries Content-Length
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024  # status line, headers and body leave in one write
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.receiver._track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.receiver._track(self.connection, open_=False)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        body = self._read_body()
        response = self.server.receiver._record(self, body)
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line."""


class HttpReceiver:
    """A loopback HTTP/1.1 server that records every request (a context manager).

    ``port=0`` picks a free port; :attr:`url` is ``http://127.0.0.1:<port>``. All requests,
    whatever the path, are answered with the current response (default ``200`` and an empty
    body). Thread-safe.
    """

    def __init__(self, port: int = 0) -> None:
        self._lock = threading.Condition()
        self._requests: list[ReceivedRequest] = []
        self._accepted = 0
        self._response = _Response(200, b"", ())
        self._connections: set[socket.socket] = set()
        self._opened = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port = port

    # lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> Self:
        self.accept()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.refuse()

    def accept(self) -> None:
        """Listen (again) on the receiver's port; no-op when already listening."""
        if self._server is not None:
            return
        server = _Server(self._port, self)
        self._port = int(server.server_address[1])
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="http-receiver", daemon=True
        )
        thread.start()
        self._server, self._thread = server, thread

    def refuse(self) -> None:
        """Stop listening and drop open connections: new connections are refused."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        with self._lock:
            conns = list(self._connections)
        for conn in conns:  # kept-alive connections would otherwise still be served
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    # configuration -------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The TCP port (stable across :meth:`refuse`/:meth:`accept`)."""
        return self._port

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:<port>`` (no trailing slash)."""
        return f"http://{LOOPBACK}:{self._port}"

    def set_response(
        self,
        status: int = 200,
        body: bytes | str | Mapping[str, Any] | list[Any] = b"",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer every following request with ``status``, ``body`` and ``headers``.

        A dict or list body is sent as JSON (``Content-Type: application/json``).
        """
        hdrs = dict(headers or {})
        if isinstance(body, Mapping | list):
            data = jsonlib.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            data = body.encode()
            hdrs.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            data = body
        with self._lock:
            self._response = _Response(status, data, tuple(hdrs.items()))

    # observation ---------------------------------------------------------------------
    @property
    def requests(self) -> list[ReceivedRequest]:
        """A snapshot of every request recorded so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def connections_opened(self) -> int:
        """How many TCP connections clients opened so far (keep-alive reuses one)."""
        with self._lock:
            return self._opened

    def accepted(self) -> list[ReceivedRequest]:
        """The recorded requests that were answered 2xx."""
        return [r for r in self.requests if 200 <= r.status < 300]

    def idempotency_keys(self) -> list[str]:
        """The ``Idempotency-Key`` header of each accepted request (missing ones skipped)."""
        return [r.headers["idempotency-key"] for r in self.accepted() if "idempotency-key" in r.headers]

    def wait_for(self, n: int, timeout_s: float = 10.0) -> bool:
        """Wait until at least ``n`` requests were answered 2xx; ``False`` on timeout (seconds)."""
        with self._lock:
            return self._lock.wait_for(lambda: self._accepted >= n, timeout=timeout_s)

    def clear(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()
            self._accepted = 0

    # handler side --------------------------------------------------------------------
    def _track(self, conn: socket.socket, *, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(conn)
                self._opened += 1
            else:
                self._connections.discard(conn)

    def _record(self, handler: _Handler, body: bytes) -> _Response:
        parts = urlsplit(handler.path)
        try:
            doc = jsonlib.loads(body) if body else None
        except ValueError:
            doc = None
        with self._lock:
            response = self._response
            self._requests.append(
                ReceivedRequest(
                    method=handler.command,
                    path=parts.path,
                    query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in handler.headers.items()},
                    body=body,
                    json=doc,
                    at=time.monotonic(),
                    status=response.status,
                )
            )
            if 200 <= response.status < 300:
                self._accepted += 1
                self._lock.notify_all()
        return response


# ---------------------------------------------------------------------------- SMTP


@dataclass(frozen=True)
class ReceivedMail:
    """One accepted mail: the envelope sender and recipients and the parsed message.

    ``at`` is ``time.monotonic()`` seconds at the end of DATA; ``tls`` says whether the
    session was encrypted (STARTTLS or implicit TLS); ``login`` is the authenticated user.
    """

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    at: float
    tls: bool
    login: str | None


class _SmtpHandler:
    def __init__(self, receiver: SmtpReceiver) -> None:
        self.receiver = receiver

    async def handle_RCPT(
        self,
        server: aiosmtp.SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        reply = self.receiver._rejections.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: aiosmtp.SMTP, session: Session, envelope: Envelope) -> str:
        # SMTP lines end in CRLF on the wire; parse with Python's "\n" so bodies compare plainly.
        content = (envelope.original_content or b"").replace(b"\r\n", b"\n")
        message = BytesParser(policy=default_policy).parsebytes(content)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self.receiver._add(
            ReceivedMail(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                message=message,
                at=time.monotonic(),
                tls=_encrypted(server, session),
                login=login,
            )
        )
        return "250 Message accepted for delivery"


def _encrypted(server: aiosmtp.SMTP, session: Session) -> bool:
    # aiosmtpd sets session.ssl after STARTTLS only; implicit TLS shows on the transport.
    transport = server.transport
    return session.ssl is not None or (
        transport is not None and transport.get_extra_info("ssl_object") is not None
    )


class SmtpReceiver:
    """A loopback SMTP server (aiosmtpd) that keeps every accepted mail (a context manager).

    ``reject_rcpt`` maps recipient addresses to the reply refusing them (``"550 5.1.1 ..."``).
    ``users`` (login -> password) turns on AUTH (PLAIN/LOGIN, allowed without TLS) and
    requires it. ``tls_context`` (a server context) offers STARTTLS;
    ``implicit_tls_context`` makes it an SMTPS server (TLS from the first byte). Thread-safe.
    """

    def __init__(
        self,
        *,
        reject_rcpt: Mapping[str, str] | None = None,
        users: Mapping[str, str] | None = None,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self._lock = threading.Condition()
        self._mails: list[ReceivedMail] = []
        self._rejections = {k.lower(): v for k, v in (reject_rcpt or {}).items()}
        self._users = dict(users or {})
        self._tls_context = tls_context
        self._implicit_tls_context = implicit_tls_context
        self._controller: Controller | None = None
        self.port = 0
        self.auth_attempts: list[str] = []

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start listening on a free loopback port (retried if the port was taken meanwhile)."""
        kwargs: dict[str, Any] = {"hostname": LOOPBACK, "ident": "montalaq-test-smtp"}
        if self._users:
            kwargs.update(authenticator=self._authenticate, auth_required=True, auth_require_tls=False)
        if self._tls_context is not None:
            kwargs.update(tls_context=self._tls_context)
        if self._implicit_tls_context is not None:
            kwargs.update(ssl_context=self._implicit_tls_context)
        last: OSError | None = None
        for _ in range(5):
            port = free_port()
            controller = Controller(_SmtpHandler(self), port=port, **kwargs)
            try:
                controller.start()
            except OSError as exc:  # lost the race for the port
                last = exc
                continue
            self._controller, self.port = controller, port
            return
        raise RuntimeError(f"could not start the SMTP receiver: {last}")

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def host(self) -> str:
        """``127.0.0.1``."""
        return LOOPBACK

    def reject_recipient(self, address: str, reply: str = "550 5.1.1 Recipient address rejected") -> None:
        """Refuse ``address`` at RCPT TO with ``reply`` from now on."""
        self._rejections[address.lower()] = reply

    @property
    def mails(self) -> list[ReceivedMail]:
        """A snapshot of the accepted mails, in arrival order."""
        with self._lock:
            return list(self._mails)

    def wait_for(self, n: int, timeout_s: float = 10.0) -> bool:
        """Wait until at least ``n`` mails were accepted; ``False`` on timeout (seconds)."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self._mails) >= n, timeout=timeout_s)

    def _add(self, mail: ReceivedMail) -> None:
        with self._lock:
            self._mails.append(mail)
            self._lock.notify_all()

    def _authenticate(
        self, server: aiosmtp.SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode()
        self.auth_attempts.append(login)
        ok = self._users.get(login) == auth_data.password.decode()
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0, interval_s: float = 0.01) -> bool:
    """Poll ``predicate`` until it is true or ``timeout_s`` seconds passed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


__all__ = [
    "LOOPBACK",
    "HttpReceiver",
    "ReceivedMail",
    "ReceivedRequest",
    "SmtpReceiver",
    "free_port",
    "wait_until",
]
