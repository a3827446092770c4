"""Running a benchmark script's ``--quick`` mode from a smoke test: the script exits 0,
prints its Markdown table, and writes its figures as JSON. Smoke tests check behaviour
(every row printed, figures present), never timings."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@dataclass(frozen=True)
class QuickRun:
    stdout: str
    figures: dict[str, Any]

    def table_lines(self) -> list[str]:
        return [ln for ln in self.stdout.splitlines() if ln.startswith("| ")]

    def row(self, prefix: str) -> str:
        """The one table row whose measurement starts with ``prefix`` (fails otherwise)."""
        lines = self.table_lines()
        hits = [ln for ln in lines if ln.lstrip("| ").startswith(prefix)]
        assert len(hits) == 1, (prefix, lines)
        return hits[0]

    def status(self, prefix: str) -> str:
        """The last column (PASS, MISS, INFO, SKIP) of the row starting with ``prefix``."""
        return self.row(prefix).rstrip(" |").split("|")[-1].strip()


def run_quick(script: str, tmp_path: Path, *extra: str, timeout_s: float = 600) -> QuickRun:
    """``python benchmarks/<script> --quick --json <tmp> [extra]``; fails with the script's
    stderr when it does not exit 0."""
    out = tmp_path / f"{Path(script).stem}.json"
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", "--json", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert proc.returncode == 0, f"{script} --quick exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return QuickRun(proc.stdout, json.loads(out.read_text())["figures"])
