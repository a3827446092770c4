"""The OpenAI SDK client the analyst talks through: its key, retries left to montalaq's policy,
and the kinds its failures are counted by (docs/llm.md, sections Settings, Robustness).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from montalaq._optional import needs
from montalaq.errors import ErrorKind, ErrorTaxonomy
from montalaq.llm.answer import SYSTEM_PROMPT, LLMMalformedError, _Job, _user_prompt

if TYPE_CHECKING:
    from openai import OpenAI

_TRANSIENT_KINDS = ("timeout", "connection", "http_429")


def _resolve_key(api_key: str | SecretStr | None, base_url: str | None) -> SecretStr:
    """The key to send: ``api_key``, else a placeholder when a base URL is set, else
    ``OPENAI_API_KEY``; ``ValueError`` when there is none."""
    key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
    if key is not None and key.strip():
        return SecretStr(key.strip())
    if base_url or os.environ.get("OPENAI_BASE_URL"):
        return SecretStr("not-needed")  # local servers (vLLM, Ollama, llama.cpp) ignore it
    env_key = os.environ.get("OPENAI_API_KEY", "").strip()
    if env_key:
        return SecretStr(env_key)
    raise ValueError("api_key: required (OPENAI_API_KEY) unless a base URL (OPENAI_BASE_URL) is set")


def _make_client(key: SecretStr, base_url: str | None, timeout_s: float, taxonomy: ErrorTaxonomy) -> OpenAI:
    """The SDK client (no retries of its own); registers the SDK's transient errors in ``taxonomy``."""
    with needs("the LLM analyst"):
        import openai
    # The SDK's exceptions are not the builtin TimeoutError/ConnectionError: name them
    # here (a private taxonomy, not the process-wide one) so the policy retries them.
    for code, exc_type in (
        ("LLM_TIMEOUT", openai.APITimeoutError),
        ("LLM_CONNECTION", openai.APIConnectionError),
    ):
        taxonomy.register_code(code, ErrorKind.TRANSIENT)
        taxonomy.register_exception(exc_type, code)
    # max_retries=0: montalaq's RetryPolicy retries, so the breaker sees every attempt.
    return openai.OpenAI(
        api_key=key.get_secret_value(),
        base_url=base_url,
        timeout=timeout_s,
        max_retries=0,
    )


def _ask(client: OpenAI, model: str, job: _Job) -> Any:
    """One chat completion about ``job`` in JSON mode; raises what the SDK raises."""
    return client.chat.completions.create(
        model=model,
        messages=[
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": _user_prompt(job)},
        ],
        response_format={"type": "json_object"},
    )


def _usage(response: Any) -> tuple[int, int]:
    """``(prompt_tokens, completion_tokens)`` the server reported (0 when it did not)."""
    usage = getattr(response, "usage", None)
    return int(getattr(usage, "prompt_tokens", 0) or 0), int(getattr(usage, "completion_tokens", 0) or 0)


def _error_kind(exc: BaseException) -> str:
    """``malformed``, ``timeout``, ``connection``, ``http_<status>`` or ``other``."""
    if isinstance(exc, LLMMalformedError):
        return "malformed"
    try:
        import openai
    except ImportError:  # pragma: no cover - the client could not have been built
        return "other"
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection"
    if isinstance(exc, openai.APIStatusError):
        return f"http_{exc.status_code}"
    return "other"


def _is_outage(kind: str) -> bool:
    """Whether a failure of ``kind`` counts against the breaker. A server that answered (401,
    404, 400) is up, only misconfigured: like the notifier's permanent failures, it does not."""
    return kind in _TRANSIENT_KINDS or kind.startswith("http_5")
