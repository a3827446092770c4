"""The JSONL alert log: no lost lines under concurrent writers, torn lines tolerated,
acknowledgements folded in, retention by day, follow."""

from __future__ import annotations

import json
import multiprocessing as mp
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from montalaq.monitoring.alerts import Alert, AlertLog

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _alert(i: int, when: datetime = NOW, rule: str = "r") -> Alert:
    return Alert(
        timestamp=when, severity="WARNING", rule=rule, message=f"m{i}", context={"state": "FIRING", "i": i}
    )


def test_an_alert_is_one_json_line_in_the_days_file(tmp_path: Path) -> None:
    log = AlertLog(tmp_path)
    a = log.append(_alert(1))
    text = (tmp_path / "2026-11-22.jsonl").read_text()
    assert text.count("\n") == 1
    assert text.endswith("\n")
    [back] = log.read()
    assert (back.id, back.rule, back.message, back.context["i"], back.timestamp) == (a.id, "r", "m1", 1, NOW)


def test_eight_threads_appending_at_once_lose_no_line(tmp_path: Path) -> None:
    log = AlertLog(tmp_path)

    def write(t: int) -> None:
        for i in range(500):
            log.append(_alert(t * 1000 + i))

    threads = [threading.Thread(target=write, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    alerts = log.read()
    assert len(alerts) == 4000
    assert len({a.id for a in alerts}) == 4000
    assert log.skipped_lines == 0


def _proc_write(directory: str, n: int, tag: int) -> None:
    log = AlertLog(directory)
    for i in range(n):
        log.append(_alert(tag * 100_000 + i))


def test_four_processes_appending_at_once_lose_no_line(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_proc_write, args=(str(tmp_path), 400, k)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    alerts = AlertLog(tmp_path).read()
    assert sorted(a.context["i"] for a in alerts) == sorted(
        k * 100_000 + i for k in range(4) for i in range(400)
    )


def test_a_torn_last_line_is_skipped_and_the_next_alert_starts_a_fresh_line(tmp_path: Path) -> None:
    log = AlertLog(tmp_path)
    log.append(_alert(1))
    with open(tmp_path / "2026-11-22.jsonl", "ab") as f:
        f.write(b'{"timestamp": "2026-11-22T12:00:00Z", "severity": "CRIT')  # killed mid-write
    assert [a.message for a in log.read()] == ["m1"]
    assert log.skipped_lines == 1
    log.append(_alert(2))
    assert [a.message for a in log.read()] == ["m1", "m2"]


def test_malformed_lines_are_skipped_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "2026-11-22.jsonl").write_text(
        '[1,2]\n{"no": "fields"}\n'
        '{"timestamp": "2026-11-22T12:00:00", "severity": "INFO", "rule": "x", "id": "1"}\n'
        '{"timestamp": "2026-11-22T12:00:00Z", "severity": "LOUD", "rule": "x", "id": "2"}\nnot json\n'
    )
    log = AlertLog(tmp_path)
    assert log.read() == []
    assert log.skipped_lines == 5


def test_acknowledging_appends_a_line_and_reads_back_acknowledged(tmp_path: Path) -> None:
    log = AlertLog(tmp_path)
    a = log.append(_alert(1))
    log.acknowledge(a.id, NOW + timedelta(minutes=1))
    [back] = log.read()
    assert back.acknowledged is True
    assert (tmp_path / "2026-11-22.jsonl").read_text().count("\n") == 2


def test_active_is_the_latest_firing_alert_per_rule(tmp_path: Path) -> None:
    log = AlertLog(tmp_path)
    log.append(_alert(1, rule="a"))
    log.append(Alert(NOW + timedelta(seconds=1), "WARNING", "a", "ok", {"state": "RESOLVED"}))
    log.append(_alert(2, rule="b"))
    assert [a.rule for a in log.active()] == ["b"]


def test_retention_deletes_only_day_files_older_than_the_window(tmp_path: Path) -> None:
    log = AlertLog(tmp_path)
    for days in (95, 91, 90, 89, 0):
        log.append(_alert(days, NOW - timedelta(days=days)))
    (tmp_path / "notes.txt").write_text("not an alert file")
    assert log.prune(NOW, 90) == 2
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == ["2026-08-24.jsonl", "2026-08-25.jsonl", "2026-11-22.jsonl", "notes.txt"]


def test_read_filters_by_time_severity_and_rule(tmp_path: Path) -> None:
    log = AlertLog(tmp_path)
    log.append(_alert(1, NOW - timedelta(days=2), rule="x"))
    log.append(Alert(NOW, "CRITICAL", "y", "boom", {"state": "FIRING"}))
    assert [a.rule for a in log.read(since=NOW - timedelta(hours=1))] == ["y"]
    assert [a.rule for a in log.read(severity="critical")] == ["y"]
    assert [a.rule for a in log.read(rule="x")] == ["x"]


def test_follow_yields_appended_alerts_and_waits_for_a_complete_line(tmp_path: Path) -> None:
    log = AlertLog(tmp_path)
    today = datetime.now(UTC)
    stop = threading.Event()
    got: list[str] = []

    def reader() -> None:
        for a in log.follow(poll_s=0.01, stop=stop, from_start=True):
            got.append(a.message)
            if len(got) == 2:
                stop.set()

    t = threading.Thread(target=reader)
    t.start()
    log.append(_alert(1, today))
    doc = json.dumps(_alert(2, today).to_dict()).encode() + b"\n"
    path = log.path_for(today.date())
    with open(path, "ab") as f:
        f.write(doc[:20])
        f.flush()
        threading.Event().wait(0.1)
        f.write(doc[20:])
    t.join(5)
    assert got == ["m1", "m2"]


def test_acknowledge_needs_an_id(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="alert_id"):
        AlertLog(tmp_path).acknowledge("")
