"""Every table the ``montalaq`` command prints fits 80 columns (issue 17), checked with rows of
realistic long values on a console 200 columns wide, so a table that fits only because rich
squeezed it to the terminal fails: replay, status (alerts, pairs, errors), outbox, health,
metrics and bench. The commands run in process (``montalaq.cli.main``)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from montalaq import bench, cli_table
from montalaq.cli import main
from montalaq.monitoring.alerts import Alert, AlertLog
from montalaq.monitoring.history import MetricsHistory
from montalaq.settings import Settings
from montalaq.store import Store
from montalaq.store.outbox import NewOutboxRow

LONG_TEXT = (
    "the broker gateway at fix-gw-03.prime.example.net:9443 refused the session logon "
    "(sequence reset 4711 rejected, retrying with back-off 30 s) while the feed kept running "
) * 3
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A 200-column console, no colour, no montalaq variable of the environment, a scratch
    working directory."""
    names = {n.upper() for n in Settings.model_fields}
    for key in list(os.environ):
        if key.upper() in names or key.upper().removeprefix("MONTALAQ_") in names:
            monkeypatch.delenv(key)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(tmp_path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def assert_fits(out: str) -> None:
    wide = [(len(line), line) for line in out.splitlines() if len(line) > cli_table.WIDTH]
    assert not wide, "lines over 80 columns:\n" + "\n".join(f"{n}: {line}" for n, line in wide)


# ---------------------------------------------------------------- replay


def test_replay_table_fits_80_columns_with_a_month_of_bitcoin_minutes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    n = 45_000  # 31 days of 1m bars: five-digit bar counts
    start_ms = 1_722_470_400_000  # 2024-08-01
    ts_ms = start_ms + np.arange(n, dtype=np.int64) * 60_000 + 1_234
    rng = np.random.default_rng(7)
    price = 67_123.456789 + np.cumsum(rng.normal(0, 25.0, n))
    size = rng.uniform(50_000.0, 2_000_000.0, n)
    path = tmp_path / "btc.csv"
    lines = ["timestamp_ms,symbol,price,size"]
    lines += [f"{t},BTCUSDT-PERP,{p:.6f},{s:.4f}" for t, p, s in zip(ts_ms, price, size, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    code, out = run(capsys, "replay", str(path), "--timeframes", "1m,5m,15m,1h")
    assert code == 0
    assert_fits(out)
    assert "45,000" in out  # the 1m bar count, whole
    assert "BTCUSDT-PERP" in out


# ---------------------------------------------------------------- status


def _busy_database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    with Store(url) as store:
        store.save_operational_state("ERROR", LONG_TEXT[:200])
        for symbol, provider in (("BTCUSDT-PERP-2025", "TwelveData"), ("EURUSD", "AllTick")):
            store.upsert_ingestion_status(
                symbol,
                "15m",
                provider=provider,
                freshness="CLOSED",
                escalation_level="CRITICAL",
                breaker_open=True,
                last_error_code="PROVIDER_DISCONNECTED",
                last_signal_bar_ts=NOW - timedelta(minutes=15),
            )
        store.record_error("PROVIDER_DISCONNECTED_WITH_A_LONG_NAME", LONG_TEXT)
        for _ in range(5):
            store.record_error("PROVIDER_DISCONNECTED_WITH_A_LONG_NAME", LONG_TEXT)
        rows = [
            NewOutboxRow(
                "telegram-operations-desk",
                f"key-{i}",
                "alert",
                "CRITICAL",
                {"title": f"[CRITICAL] {LONG_TEXT[:90]}", "body": LONG_TEXT},
            )
            for i in range(3)
        ]
        store.outbox.enqueue(rows, NOW)
        store.outbox.mark_dead([r.id for r in store.outbox.rows()], LONG_TEXT)
    return url


def test_status_tables_fit_80_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = _busy_database(tmp_path)
    log = AlertLog(tmp_path / "alerts")
    log.append(
        Alert(NOW, "CRITICAL", "notification_backlog_of_channel_telegram", LONG_TEXT, {"state": "FIRING"})
    )
    acked = Alert(NOW, "WARNING", "stale_teacher_model", "teacher 30 h old", {"state": "FIRING"})
    log.append(acked)
    log.acknowledge(acked.id)
    code, out = run(capsys, "status", "--alerts-dir", str(tmp_path / "alerts"), "--url", url)
    assert code == 1  # ERROR state, an unacknowledged CRITICAL alert
    assert_fits("\n".join(line for line in out.splitlines() if not line.startswith("state:")))
    assert "stale_teacher_model" in out  # a typical rule name is shown whole
    assert "(acked)" in out
    assert "CLOSED/CRITICAL" in out
    assert "TwelveData" in out  # two providers: each under its symbol
    assert "AllTick" in out
    assert f"{NOW - timedelta(minutes=15):%m-%d %H:%M}" in out
    assert "open errors (1 of 1 types)" in out


def test_outbox_table_fits_80_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = _busy_database(tmp_path)
    code, out = run(capsys, "outbox", "--url", url)
    assert code == 0
    assert_fits(out)
    assert "DEAD rows (3 shown)" in out
    assert "[CRITICAL] the broker gateway" in out


# ---------------------------------------------------------------- health


def test_health_table_fits_80_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "longchecks.py").write_text(
        "def broker_gateway_connectivity_primary_site():\n"
        f"    raise ConnectionError({LONG_TEXT!r})\n"
        "CHECKS = {'broker_gateway_connectivity_primary_site': broker_gateway_connectivity_primary_site}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    url = f"sqlite:///{tmp_path / 'h.db'}"
    assert run(capsys, "db", "upgrade", "--url", url)[0] == 0
    code, out = run(capsys, "health", "--url", url, "--checks", "longchecks:CHECKS", "--timeout", "5")
    assert code == 1
    assert_fits(out)
    assert "FAILED" in out
    assert "database reachable" in out


# ---------------------------------------------------------------- metrics


def test_metrics_table_fits_80_columns_whatever_the_number_of_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    h = MetricsHistory(tmp_path / "m")
    # The hour of the run itself (not the module's NOW, taken at collection): --since 3h
    # counts back from the run, and a run past the next hour dropped the first snapshot.
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    names = [
        "providers.binance.last_message_age_s",
        "pairs.BTCUSDT-PERP-2025:15m.lag_s",
        "montalaq.outbox_oldest_age_s",
        "risk.daily_loss_pct",
        "pnl.daily",
    ]
    for i in range(12):
        flat = {name: -1_234_567.891 * (i + 1) if k % 2 else 0.000123 * i for k, name in enumerate(names)}
        h.write(start + timedelta(minutes=10 * i), {}, flat)
    code, out = run(capsys, "metrics", "--metrics-dir", str(tmp_path / "m"), "--since", "3h")
    assert code == 0
    assert_fits(out)
    assert "risk.daily_loss_pct" in out
    assert "provider…_message_age_s" in out  # cut in the middle: both ends readable
    assert "-1.235e+06" in out  # the largest of each window, whole
    assert "-1.481e+07" in out


# ---------------------------------------------------------------- bench


def test_bench_table_fits_80_columns() -> None:
    results = [
        bench.Result("1m bars from trades", "trades/s", 745.1e6, "polars group_by_dynamic", 170.2e6),
        bench.Result("streaming, 3 timeframes + features (chunks of 10k)", "ns/trade", 4.7),
        bench.Result("escalation cycle, 100,000 pairs", "ms", 2.4),
        bench.Result("breaker allow + record", "calls/s", 35.7e6, note="pybreaker not installed: skipped"),
        bench.Result(
            "Binance trade frames -> engine", "msgs/s", 0.0, note="websockets not installed: skipped"
        ),
    ]
    table = bench.render(results)
    assert_fits(table)
    for text in ("polars group_by_dynamic", "170.20 Mtrades/s", "4.4x", "pybreaker not installed: skipped"):
        assert text in table, text


# ---------------------------------------------------------------- helpers


def test_middle_keeps_both_ends_and_the_width() -> None:
    assert cli_table.middle("short", 10) == "short"
    cut = cli_table.middle("providers.binance.last_message_age_s", 23)
    assert len(cut) == 23
    assert cut == "provider…_message_age_s"


def test_compact_numbers_keep_four_significant_digits() -> None:
    assert cli_table.compact(1_234_567.0) == "1.235M"
    assert cli_table.compact(12_345.0) == "12.35k"
    assert cli_table.compact(0.06457) == "0.06457"
    assert cli_table.compact(float("nan")) == "-"
    assert cli_table.num(None) == "-"
    assert cli_table.num(67_123.456789) == "67,123.5"
