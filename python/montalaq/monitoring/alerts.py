"""The alert log (docs/semantics.md, Monitoring): ``logs/alerts/<YYYY-MM-DD>.jsonl``, one JSON line per alert.

Append-only and safe to share: each line is written with a single ``write(2)`` on a file
opened ``O_APPEND``, so threads and processes appending at once never interleave or lose a
line, and nothing sits in a user-space buffer (a killed process loses at most the line being
written). A torn last line (a crash mid-write) is skipped on read, never fatal; the next
writer starts on a fresh line so it cannot glue its alert onto the fragment.

Acknowledging never rewrites a line: it appends ``{"type": "ack", "id": ..., "timestamp":
...}`` and readers fold it into the alert's ``acknowledged`` flag.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from montalaq._time import iso_z
from montalaq.shapes import AlertDoc

log = logging.getLogger("montalaq.monitoring")

SEVERITIES = ("INFO", "WARNING", "CRITICAL")
_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.jsonl$")


@dataclass
class Alert:
    """One alert line: ``{timestamp, severity, rule, message, context, acknowledged, id}``.

    ``context["state"]`` is ``FIRING`` or ``RESOLVED``.
    """

    timestamp: datetime
    severity: str
    rule: str
    message: str
    context: dict[str, Any] = field(default_factory=dict)
    acknowledged: bool = False
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def state(self) -> str:
        """FIRING or RESOLVED (from the context)."""
        return str(self.context.get("state", "FIRING"))

    def to_dict(self) -> AlertDoc:
        """The JSON line's object."""
        return {
            "timestamp": iso_z(self.timestamp),
            "severity": self.severity,
            "rule": self.rule,
            "message": self.message,
            "context": self.context,
            "acknowledged": self.acknowledged,
            "id": self.id,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Alert:
        """An alert from its JSON object (KeyError/ValueError/TypeError when malformed)."""
        ts = datetime.fromisoformat(str(doc["timestamp"]).replace("Z", "+00:00"))
        if ts.tzinfo is None:
            raise ValueError("timestamp without a time zone")
        severity = str(doc["severity"])
        if severity not in SEVERITIES:
            raise ValueError(f"severity {severity!r}")
        context = doc.get("context") or {}
        if not isinstance(context, dict):
            raise TypeError("context is not an object")
        return cls(
            timestamp=ts.astimezone(UTC),
            severity=severity,
            rule=str(doc["rule"]),
            message=str(doc.get("message", "")),
            context=context,
            acknowledged=bool(doc.get("acknowledged", False)),
            id=str(doc["id"]),
        )


class AlertLog:
    """Alerts under ``directory`` (default ``logs/alerts``), one file per UTC day."""

    def __init__(self, directory: str | Path = "logs/alerts", *, fsync: bool = False) -> None:
        self.directory = Path(directory)
        self.fsync = bool(fsync)
        self._lock = threading.Lock()
        self.skipped_lines = 0  # torn or malformed lines met by the last read

    def path_for(self, day: date) -> Path:
        """The file holding ``day``'s alerts."""
        return self.directory / f"{day.isoformat()}.jsonl"

    def _write(self, doc: Mapping[str, object], when: datetime) -> None:
        line = (json.dumps(doc, separators=(",", ":"), allow_nan=False, default=str) + "\n").encode()
        path = self.path_for(when.astimezone(UTC).date())
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                size = os.fstat(fd).st_size
                if size:
                    # After a crash mid-line the file ends without a newline: start a fresh
                    # line so this alert is not glued onto the fragment (and lost with it).
                    with open(path, "rb") as f:
                        f.seek(size - 1)
                        if f.read(1) != b"\n":
                            line = b"\n" + line
                os.write(fd, line)
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)

    def append(self, alert: Alert) -> Alert:
        """Append ``alert`` (its own line, flushed to the OS before returning)."""
        self._write(alert.to_dict(), alert.timestamp)
        return alert

    def acknowledge(self, alert_id: str, now: datetime | None = None) -> None:
        """Record that alert ``alert_id`` was acknowledged."""
        if not isinstance(alert_id, str) or not alert_id:
            raise ValueError("alert_id: expected a non-empty string")
        when = now or datetime.now(UTC)
        self._write({"type": "ack", "id": alert_id, "timestamp": iso_z(when)}, when)

    def files(self) -> list[Path]:
        """Alert files, oldest day first."""
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if _FILE.match(p.name))

    def _lines(self, path: Path) -> Iterator[dict[str, Any]]:
        try:
            data = path.read_bytes()
        except OSError:
            return
        for raw in data.split(b"\n"):
            if not raw.strip():
                continue
            try:
                doc = json.loads(raw)
            except ValueError:
                self.skipped_lines += 1
                continue
            if isinstance(doc, dict):
                yield doc
            else:
                self.skipped_lines += 1

    def read(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        severity: str | None = None,
        rule: str | None = None,
    ) -> list[Alert]:
        """Alerts in time order, acknowledgements folded in; torn or malformed lines skipped
        (counted in ``skipped_lines``)."""
        self.skipped_lines = 0
        alerts: list[Alert] = []
        acked: set[str] = set()
        for path in self.files():
            day = date.fromisoformat(path.stem)
            if since is not None and day < since.astimezone(UTC).date():
                continue
            if until is not None and day > until.astimezone(UTC).date():
                continue
            for doc in self._lines(path):
                if doc.get("type") == "ack":
                    acked.add(str(doc.get("id")))
                    continue
                try:
                    alerts.append(Alert.from_dict(doc))
                except (KeyError, ValueError, TypeError):
                    self.skipped_lines += 1
        out = []
        for a in alerts:
            if since is not None and a.timestamp < since:
                continue
            if until is not None and a.timestamp > until:
                continue
            if severity is not None and a.severity != severity.upper():
                continue
            if rule is not None and a.rule != rule:
                continue
            if a.id in acked:
                a.acknowledged = True
            out.append(a)
        out.sort(key=lambda a: a.timestamp)
        return out

    def active(self) -> list[Alert]:
        """The FIRING alert of every rule whose latest alert is FIRING."""
        latest: dict[str, Alert] = {}
        for a in self.read():
            latest[a.rule] = a
        return [a for a in latest.values() if a.state == "FIRING"]

    def prune(self, now: datetime, retention_days: float) -> int:
        """Delete day files entirely older than ``retention_days``; returns how many."""
        cutoff = (now.astimezone(UTC) - timedelta(days=retention_days)).date()
        removed = 0
        for path in self.files():
            if date.fromisoformat(path.stem) < cutoff:
                try:
                    path.unlink()
                    removed += 1
                except OSError as exc:
                    log.warning("could not prune %s: %s", path, exc, extra={"component": "monitoring"})
        return removed

    def follow(
        self,
        *,
        poll_s: float = 0.2,
        from_start: bool = False,
        stop: threading.Event | None = None,
        on_start: Callable[[], None] | None = None,
    ) -> Iterator[Alert]:
        """Yield alerts as they are appended (``tail -f``), switching files at midnight UTC.

        Starts at the end of today's file unless ``from_start``; ``on_start`` is called once
        that position is taken (every alert appended after it is yielded). Partial lines
        wait until their newline arrives.
        """
        path = self.path_for(datetime.now(UTC).date())
        offset = 0 if from_start or not path.exists() else path.stat().st_size
        if on_start is not None:
            on_start()
        buf = b""
        while stop is None or not stop.is_set():
            today = self.path_for(datetime.now(UTC).date())
            if today != path and (not path.exists() or path.stat().st_size <= offset):
                path, offset, buf = today, 0, b""
            try:
                with open(path, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
            except FileNotFoundError:
                chunk = b""
            if chunk:
                offset += len(chunk)
                buf += chunk
                *complete, buf = buf.split(b"\n")
                for raw in complete:
                    if not raw.strip():
                        continue
                    try:
                        doc = json.loads(raw)
                        if isinstance(doc, dict) and doc.get("type") != "ack":
                            yield Alert.from_dict(doc)
                    except (KeyError, ValueError, TypeError):
                        continue
            else:
                time.sleep(poll_s)


__all__ = ["SEVERITIES", "Alert", "AlertLog"]
