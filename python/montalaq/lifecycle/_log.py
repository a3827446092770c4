"""The lifecycle's one logger: every module of the package logs as ``montalaq.lifecycle``
with ``extra={"component": "lifecycle", ...}`` (docs/semantics.md, section Lifecycle)."""

from __future__ import annotations

import logging

log = logging.getLogger("montalaq.lifecycle")

COMPONENT = "lifecycle"
