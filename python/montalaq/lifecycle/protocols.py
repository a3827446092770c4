"""What the lifecycle needs of its plug-ins: a notifier and a store that keeps the one
``operational_state`` row (docs/semantics.md, section Lifecycle, "Notifications")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class NotifierLike(Protocol):
    """What the lifecycle needs of a notifier (:class:`montalaq.notify.Notifier` fits)."""

    def notify(
        self,
        kind: str,
        title: str,
        text: str = "",
        *,
        severity: Any = ...,
        fields: Mapping[str, Any] | None = None,
        error_code: Any = None,
    ) -> object:
        """Queue one event."""
        ...


class StateStore(Protocol):
    """What the lifecycle needs of a store (:class:`montalaq.store.Store` fits)."""

    def save_operational_state(
        self,
        state: Any,
        reason: str = "",
        entered_at: Any = None,
        details: Mapping[str, Any] | None = None,
        now: Any = None,
    ) -> None:
        """Write the single operational_state row."""
        ...
