"""A local OpenAI-compatible chat-completions server for the LLM analyst's tests (docs/llm.md).

FastAPI + uvicorn in a thread of its own on 127.0.0.1 (a free port), like a remote vLLM,
Ollama or llama.cpp server. ``POST /v1/chat/completions`` answers according to the current
mode, or to the next mode of a script (``server.script("429", "valid")``):

- ``valid``: a chat completion whose content is the JSON of :attr:`LLMServer.answer`;
- ``malformed``: content that is not JSON; ``wrong_schema``: JSON of the wrong shape;
- ``out_of_range``: the right keys with a score outside [-1, 1];
- ``slow``: sleeps ``slow_s`` seconds (beyond the client's timeout), then answers as ``valid``;
- ``429``: status 429 with ``Retry-After: 1``; ``500``: status 500;
- ``401_echo``: status 401 whose error message repeats the Authorization header it got
  (as careless servers do), to prove the client scrubs the key from what it logs.

Every request is recorded (time, Authorization header, model, messages, response_format),
so tests count the calls the gates let through and measure the gaps between them.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Self

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

LOOPBACK = "127.0.0.1"
MODES = ("valid", "malformed", "wrong_schema", "out_of_range", "slow", "429", "500", "401_echo")

VALID_ANSWER: dict[str, Any] = {
    "label": "BULLISH",
    "score": 0.6,
    "confidence": 0.9,
    "rationale": "Momentum is positive on every timeframe and price holds above VWAP.",
}


@dataclass(frozen=True)
class LLMRequest:
    """One request as the server saw it; ``t_s`` is time.monotonic() at arrival."""

    t_s: float
    path: str
    authorization: str | None
    model: str | None
    messages: list[dict[str, Any]]
    response_format: Any
    body: dict[str, Any]


class LLMServer:
    """The server (a context manager); :attr:`base_url` is what the OpenAI SDK takes."""

    def __init__(self, mode: str = "valid", *, slow_s: float = 2.0, retry_after: str = "1") -> None:
        self.mode = mode
        self.slow_s = slow_s
        self.retry_after = retry_after
        self.answer: dict[str, Any] = dict(VALID_ANSWER)
        self.usage = {"prompt_tokens": 120, "completion_tokens": 40}
        self._script: deque[str] = deque()
        self._requests: list[LLMRequest] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((LOOPBACK, 0))
        self.port = int(self._sock.getsockname()[1])
        config = uvicorn.Config(
            self._app(),
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True, name="llm-server"
        )

    # -- life -------------------------------------------------------------------------------
    def start(self) -> Self:
        self._thread.start()
        deadline = time.monotonic() + 10.0
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the local LLM server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.should_exit = True
        self._thread.join(10.0)
        self._sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/v1"

    # -- control and records ----------------------------------------------------------------
    def script(self, *modes: str) -> None:
        """Answer the next requests with these modes, in order, then with :attr:`mode` again."""
        for m in modes:
            if m not in MODES:
                raise ValueError(f"mode: expected one of {MODES}, got {m!r}")
        with self._lock:
            self._script.extend(modes)

    @property
    def requests(self) -> list[LLMRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._requests)

    def _next_mode(self) -> str:
        with self._lock:
            return self._script.popleft() if self._script else self.mode

    # -- the app ----------------------------------------------------------------------------
    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def completions(request: Request) -> JSONResponse:
            raw = await request.body()
            try:
                body = json.loads(raw)
            except ValueError:
                body = {}
            auth = request.headers.get("authorization")
            with self._lock:
                self._requests.append(
                    LLMRequest(
                        t_s=time.monotonic(),
                        path=request.url.path,
                        authorization=auth,
                        model=body.get("model"),
                        messages=list(body.get("messages") or []),
                        response_format=body.get("response_format"),
                        body=body,
                    )
                )
            return await self._answer(self._next_mode(), str(body.get("model") or ""), auth)

        return app

    async def _answer(self, mode: str, model: str, auth: str | None) -> JSONResponse:
        if mode == "429":
            return JSONResponse(
                {"error": {"message": "rate limited", "type": "rate_limit_error"}},
                status_code=429,
                headers={"Retry-After": self.retry_after},
            )
        if mode == "500":
            return JSONResponse({"error": {"message": "boom", "type": "server_error"}}, status_code=500)
        if mode == "401_echo":
            return JSONResponse(
                {"error": {"message": f"invalid credentials: {auth}", "type": "invalid_request_error"}},
                status_code=401,
            )
        if mode == "slow":
            # Polled, so stop() ends a slow answer at once instead of uvicorn cancelling it.
            deadline = time.monotonic() + self.slow_s
            while time.monotonic() < deadline and not self._release.is_set():
                await asyncio.sleep(0.02)
        content: str
        if mode == "malformed":
            content = "Sure! Here is my analysis: {label: BULLISH, " + "x" * 400
        elif mode == "wrong_schema":
            content = json.dumps({"verdict": "up", "strength": "high"})
        elif mode == "out_of_range":
            content = json.dumps({**self.answer, "score": 3.5})
        else:
            content = json.dumps(self.answer)
        return JSONResponse(
            {
                "id": "chatcmpl-local-1",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {**self.usage, "total_tokens": sum(self.usage.values())},
            }
        )


__all__ = ["MODES", "VALID_ANSWER", "LLMRequest", "LLMServer"]
