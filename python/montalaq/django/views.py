"""The Django view of montalaq's API: each request is handed, in process, to the montalaq
FastAPI router (:func:`montalaq.api.create_router`) as an ASGI scope whose ``root_path`` is
the ``include()`` prefix, and its answer returned unchanged. One implementation, the
prefix, async under ASGI and WSGI, why it is CSRF-exempt: docs/semantics.md, "Django".
"""

# mypy: disable-error-code="import-untyped"
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.http import HttpRequest, HttpResponse

from montalaq.django.runtime import aget_app

Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


def _address(host: object, port: object) -> tuple[str, int] | None:
    if not host:
        return None
    try:
        return str(host), int(str(port or 0))
    except ValueError:
        return str(host), 0


def asgi_scope(request: HttpRequest, subpath: str) -> dict[str, Any]:
    """The ASGI HTTP scope of ``request``, whose path after the ``include()`` prefix is
    ``subpath`` (docs/semantics.md, "Django")."""
    full: str = request.path
    prefix = full[: len(full) - len(subpath)] if subpath and full.endswith(subpath) else full
    root_path = prefix.rstrip("/")
    path = f"{root_path}/{subpath}"
    meta = request.META
    headers = [
        (name.lower().encode("latin-1"), str(value).encode("latin-1", "replace"))
        for name, value in request.headers.items()
    ]
    return {
        "type": "http",
        # 2.4: no disconnect is listened for while the response streams (nothing to listen to).
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": str(meta.get("SERVER_PROTOCOL", "HTTP/1.1")).partition("/")[2] or "1.1",
        "method": str(request.method or "GET").upper(),
        "scheme": request.scheme or "http",
        "path": path,
        "root_path": root_path,
        "query_string": str(meta.get("QUERY_STRING", "")).encode("latin-1", "replace"),
        "headers": headers,
        "client": _address(meta.get("REMOTE_ADDR"), meta.get("REMOTE_PORT")),
        "server": _address(meta.get("SERVER_NAME"), meta.get("SERVER_PORT")),
        "extensions": {},
        "state": {},
    }


async def call_asgi(
    app: ASGIApp, scope: MutableMapping[str, Any], body: bytes
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Run one HTTP request through ``app``: ``(status, headers, body)`` of its answer.
    RuntimeError when the app returns without starting a response."""
    done = asyncio.Event()
    sent = False
    status = 0
    headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()  # the client "disconnects" only once the answer is complete
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        kind = message["type"]
        if kind == "http.response.start":
            status = int(message["status"])
            headers.extend((bytes(k), bytes(v)) for k, v in message.get("headers", []))
        elif kind == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                done.set()

    try:
        await app(scope, receive, send)
    finally:
        done.set()
    if not status:
        raise RuntimeError(f"the montalaq app answered nothing to {scope['method']} {scope['path']}")
    return status, headers, b"".join(chunks)


async def api(request: HttpRequest, subpath: str = "") -> HttpResponse:
    """Every montalaq endpoint under the ``include()`` prefix (docs/semantics.md, "Django")."""
    app = await aget_app()
    status, headers, body = await call_asgi(app, asgi_scope(request, subpath), request.body)
    response = HttpResponse(body, status=status)
    del response["Content-Type"]  # the app's own (or none, as it answered)
    for name, value in headers:
        response[name.decode("latin-1")] = value.decode("latin-1")
    return response


# csrf_exempt(), not as a decorator: before Django 5.0 its wrapper hid that the view is async.
api.csrf_exempt = True  # type: ignore[attr-defined]

__all__ = ["api", "asgi_scope", "call_asgi"]
