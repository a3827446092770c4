"""Fixtures for the notification integration tests: real loopback HTTP and SMTP receivers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from receivers import HttpReceiver, SmtpReceiver


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    """A fresh loopback HTTP/1.1 receiver answering 200 until told otherwise."""
    with HttpReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    """A fresh loopback SMTP server accepting every recipient (no TLS, no AUTH)."""
    with SmtpReceiver() as receiver:
        yield receiver
