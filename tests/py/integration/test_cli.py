"""`montalaq replay` run as a real subprocess (console script and `python -m montalaq`)."""

from __future__ import annotations

import json
import math
import os
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import montalaq
from montalaq.cli import main

TIMEFRAMES = ("1m", "5m", "15m")
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[=>]|\r")


def _console_script() -> list[str]:
    script = Path(sys.executable).with_name("montalaq")
    if script.exists():
        return [str(script)]
    found = shutil.which("montalaq")
    assert found, "the montalaq console script is not installed next to this interpreter"
    return [found]


MONTALAQ = _console_script()
PY_M = [sys.executable, "-m", "montalaq"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("COLUMNS", None)  # the CLI picks its own width when stdout is not a terminal
    env["NO_COLOR"] = "1"
    return env


def run(*args: str, cmd: list[str] = MONTALAQ, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=_env(), check=False
    )


def flat(text: str) -> str:
    """Collapse whitespace: rich wraps long messages at the console width."""
    return " ".join(text.split())


def table_rows(stdout: str) -> dict[str, list[str]]:
    """Rows of the summary table keyed by timeframe: the cells of lines like '│ 1m │ 828 │ ...'."""
    rows: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            rows[cells[0]] = cells
    return rows


def batch(path: Path, timeframes: tuple[str, ...] = TIMEFRAMES) -> tuple[Any, dict[str, montalaq.Bars]]:
    trades = montalaq.read_trades(path)
    bars = montalaq.build_bars(trades.ts_ns, trades.price, trades.size, timeframes, side=trades.side)
    return trades, bars


@pytest.fixture(scope="module")
def spy() -> tuple[Any, dict[str, montalaq.Bars]]:
    return batch(montalaq.sample_path("spy"))


@pytest.fixture(scope="module")
def spy_json() -> dict[str, Any]:
    res = run("replay", "--json")
    assert res.returncode == 0, res.stderr
    report: dict[str, Any] = json.loads(res.stdout)
    return report


# ---------------------------------------------------------------- default human-readable run


def test_default_replay_prints_a_row_per_timeframe(spy: tuple[Any, dict[str, montalaq.Bars]]) -> None:
    trades, bars = spy
    res = run("replay")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    out = res.stdout
    assert f"{len(trades):,} trades" in out
    assert "SPY" in out
    rows = table_rows(out)
    assert set(rows) == set(TIMEFRAMES), out
    for tf in TIMEFRAMES:
        # Replay closes the open bars at end of file, so it holds as many bars as the batch build.
        assert rows[tf][1] == f"{len(bars[tf]):,}", (tf, rows[tf])
    assert f"accepted {bars['1m'].stats['accepted']:,}" in out
    assert "rejected 0" in out


# ---------------------------------------------------------------- --json


def test_json_report_matches_batch_bars(
    spy_json: dict[str, Any], spy: tuple[Any, dict[str, montalaq.Bars]]
) -> None:
    trades, bars = spy
    report = spy_json
    assert Path(report["file"]).name == montalaq.sample_path("spy").name
    assert report["trades"] == len(trades)
    assert report["bars_closed"] == sum(len(b) for b in bars.values())
    assert list(report["symbols"]) == [trades.symbol]

    batch_stats = bars["1m"].stats
    for stats in (report["stats"], report["symbols"][trades.symbol]["stats"]):
        assert stats["ACCEPTED"] == batch_stats["accepted"] == len(trades)
        for key in ("REJECT_TS", "REJECT_PRICE", "REJECT_SIZE"):
            assert stats[key] == batch_stats[key] == 0
        assert stats["DUPLICATE_TICK"] == 0
        assert stats["LATE"] == 0

    per_tf = report["symbols"][trades.symbol]["timeframes"]
    assert list(per_tf) == list(TIMEFRAMES)
    for tf in TIMEFRAMES:
        b = bars[tf]
        feats = montalaq.compute_features(b)
        entry = per_tf[tf]
        assert entry["bars"] == len(b), tf

        last = entry["last_bar"]
        assert set(last) == {"start", "open", "high", "low", "close", "volume", "vwap", "trades"}
        start = np.datetime64(int(b.start_ns[-1]), "ns").astype("datetime64[us]")
        assert last["start"] == f"{start}Z"
        for col in ("open", "high", "low", "close", "volume", "vwap"):
            assert last[col] == pytest.approx(float(getattr(b, col)[-1]), rel=1e-12), (tf, col)
        assert last["trades"] == int(b.trades[-1])

        features = entry["features"]
        assert set(features) == {"atr", "mom_bps", "px_vs_vwap_bps", "rvol"}
        for name, value in features.items():
            expected = float(getattr(feats, name)[-1])
            if math.isfinite(expected):
                assert value == pytest.approx(expected, rel=1e-9, abs=1e-12), (tf, name)
            else:
                assert value is None, (tf, name)
        # a full day of bars: every feature is defined on the last bar
        assert all(v is not None for v in features.values()), (tf, features)


def test_keep_open_leaves_the_last_bar_of_each_timeframe_open(
    spy: tuple[Any, dict[str, montalaq.Bars]],
) -> None:
    trades, bars = spy
    res = run("replay", "--json", "--keep-open")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    per_tf = report["symbols"][trades.symbol]["timeframes"]
    for tf in TIMEFRAMES:
        assert per_tf[tf]["bars"] == len(bars[tf]) - 1, tf
        second_last = np.datetime64(int(bars[tf].start_ns[-2]), "ns").astype("datetime64[us]")
        assert per_tf[tf]["last_bar"]["start"] == f"{second_last}Z"
    assert report["bars_closed"] == sum(len(b) - 1 for b in bars.values())


def test_timeframes_option_restricts_the_output(spy: tuple[Any, dict[str, montalaq.Bars]]) -> None:
    trades, bars = spy
    res = run("replay", "--json", "--timeframes", "1m,5m")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    per_tf = report["symbols"][trades.symbol]["timeframes"]
    assert list(per_tf) == ["1m", "5m"]
    assert per_tf["1m"]["bars"] == len(bars["1m"])
    assert per_tf["5m"]["bars"] == len(bars["5m"])
    assert report["bars_closed"] == len(bars["1m"]) + len(bars["5m"])

    text = run("replay", "--timeframes", "1m,5m")
    assert text.returncode == 0, text.stderr
    assert set(table_rows(text.stdout)) == {"1m", "5m"}


# ---------------------------------------------------------------- bad input: exit 2


def test_bad_timeframe_exits_2_naming_it() -> None:
    res = run("replay", "--timeframes", "1M")
    assert res.returncode == 2
    assert "'1M'" in flat(res.stderr), res.stderr
    assert "Traceback" not in res.stderr
    assert res.stdout == ""


def test_missing_file_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_trades.csv"
    res = run("replay", str(missing))
    assert res.returncode == 2
    assert "no_such_trades.csv" in flat(res.stderr)
    assert "no such file" in res.stderr.lower()
    assert "Traceback" not in res.stderr


def test_unknown_layout_exits_2_and_lists_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "mystery.csv"
    path.write_text("when,cost,lots\n1700000000000,100.5,3\n1700000001000,100.6,1\n")
    res = run("replay", str(path))
    assert res.returncode == 2
    msg = flat(res.stderr)
    assert "Columns found: ['when', 'cost', 'lots']" in msg, res.stderr
    assert "mystery.csv" in msg
    assert "Traceback" not in res.stderr


def test_no_subcommand_exits_2() -> None:
    res = run()
    assert res.returncode == 2
    assert "usage: montalaq" in res.stderr
    assert "replay" in res.stderr


# ---------------------------------------------------------------- bad rows are counted, not fatal


BAD_ROWS_CSV = """\
timestamp_ms,symbol,price,size
1700000000000,TEST,100.0,1
1700000001000,TEST,nan,2
1700000002000,TEST,100.5,0
-1700000003000,TEST,100.7,1
1700000061000,TEST,101.0,2
1700000062000,TEST,101.5,3
1700000125000,TEST,102.0,1
"""


def test_bad_rows_are_rejected_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad_rows.csv"
    path.write_text(BAD_ROWS_CSV)
    _, bars = batch(path)
    expected = {"REJECT_TS": 1, "REJECT_PRICE": 1, "REJECT_SIZE": 1}
    assert {k: bars["1m"].stats[k] for k in expected} == expected
    assert bars["1m"].stats["accepted"] == 4

    res = run("replay", str(path), "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["trades"] == 7
    assert list(report["symbols"]) == ["TEST"]
    for stats in (report["stats"], report["symbols"]["TEST"]["stats"]):
        assert stats["ACCEPTED"] == 4
        for key, n in expected.items():
            assert stats[key] == n, key
    per_tf = report["symbols"]["TEST"]["timeframes"]
    for tf in TIMEFRAMES:
        assert per_tf[tf]["bars"] == len(bars[tf]), tf
    assert [per_tf[tf]["bars"] for tf in TIMEFRAMES] == [3, 2, 2]
    last_1m = per_tf["1m"]["last_bar"]
    assert (last_1m["start"], last_1m["close"], last_1m["trades"]) == (
        "2023-11-14T22:15:00.000000Z",
        102.0,
        1,
    )

    text = run("replay", str(path))
    assert text.returncode == 0, text.stderr
    assert "accepted 4" in text.stdout
    assert "rejected 3" in text.stdout


# ---------------------------------------------------------------- python -m montalaq


def test_python_m_replay_btcusdt_sample_json() -> None:
    trades, bars = batch(montalaq.sample_path("btcusdt"))
    res = run("replay", "--sample", "btcusdt", "--json", cmd=PY_M)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert Path(report["file"]).name == "BTCUSDT.csv.gz"
    assert report["trades"] == len(trades) == 10_147
    assert list(report["symbols"]) == ["BTCUSDT"]
    stats = report["symbols"]["BTCUSDT"]["stats"]
    assert stats["ACCEPTED"] == bars["1m"].stats["accepted"] == len(trades)
    assert stats["DUPLICATE_TICK"] == 0
    per_tf = report["symbols"]["BTCUSDT"]["timeframes"]
    for tf in TIMEFRAMES:
        assert per_tf[tf]["bars"] == len(bars[tf]), tf
    # five minutes of data: too few bars for ATR(14), so it is null (never NaN) in the JSON
    assert per_tf["1m"]["features"]["atr"] is None
    assert per_tf["1m"]["features"]["mom_bps"] is not None


# ---------------------------------------------------------------- under a real terminal


def _run_in_pty(args: list[str], cols: int = 132, rows: int = 40, timeout: float = 60.0) -> tuple[int, str]:
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = dict(os.environ, TERM="xterm-256color")
    for var in ("NO_COLOR", "COLUMNS", "LINES"):
        env.pop(var, None)
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                proc.kill()
                pytest.fail(f"{args} did not finish within {timeout} s under a pty")
            ready, _, _ = select.select([master], [], [], remaining)
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
    code = proc.wait(timeout=timeout)
    return code, b"".join(chunks).decode("utf-8", errors="replace")


def test_replay_with_progress_under_a_tty(spy: tuple[Any, dict[str, montalaq.Bars]]) -> None:
    trades, bars = spy
    code, raw = _run_in_pty([*MONTALAQ, "replay", "--progress"])
    text = ANSI.sub("", raw)
    assert code == 0, text
    assert "Traceback" not in text
    # the progress bar was drawn on the terminal (it is transient, but its frames were written)
    assert "replay " in text
    assert f"/{len(trades):,}" in text
    # and the summary table follows
    assert f"{len(trades):,} trades" in text
    rows = table_rows(text)
    assert set(rows) == set(TIMEFRAMES), text
    for tf in TIMEFRAMES:
        assert rows[tf][1] == f"{len(bars[tf]):,}", (tf, rows[tf])
    assert f"accepted {len(trades):,}" in text


def test_brackets_in_user_text_are_shown_not_parsed_as_markup(tmp_path: Path) -> None:
    """Regression: rich markup in a path or symbol crashed replay with MarkupError."""
    missing = run("replay", str(tmp_path / "missing[/b].csv"))
    assert missing.returncode == 2
    assert "missing[/b].csv" in flat(missing.stderr).replace(" ", "")
    odd = tmp_path / "sym.csv"
    odd.write_text("ts_ms,symbol,price,size\n1700000000000,[/x],100,1\n")
    shown = run("replay", str(odd))
    assert shown.returncode == 0, shown.stderr
    assert "[/x]" in shown.stdout


def test_version_prints_the_package_version_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"montalaq {montalaq.__version__}"


def test_the_console_script_prints_the_version_of_version_py_and_exits_0() -> None:
    source = (Path(montalaq.__file__).parent / "_version.py").read_text()
    written = re.search(r'^__version__ = "([^"]+)"$', source, re.M)
    assert written is not None, source
    res = run("--version")
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"montalaq {written.group(1)}\n"
    assert res.stderr == ""
