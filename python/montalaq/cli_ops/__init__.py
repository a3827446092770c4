"""Operator commands of ``montalaq``: ``tail``, ``status``, ``metrics``, ``outbox`` and
``health``, one module each, registered by :func:`add_parsers` (docs/semantics.md,
"Operator CLI"; docs/operations.md for running them). Tables with rich, ``--json`` for
scripts; exit codes 0 ok, 1 failed check, 2 usage or bad input.
"""

from __future__ import annotations

from montalaq.cli_ops.common import EXIT_FAILED as EXIT_FAILED
from montalaq.cli_ops.common import EXIT_OK as EXIT_OK
from montalaq.cli_ops.common import EXIT_USAGE as EXIT_USAGE
from montalaq.cli_ops.parsers import add_parsers

__all__ = ["add_parsers"]
