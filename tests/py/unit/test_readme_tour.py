"""The README's tour runs as written: its first Python block is executed against the
bundled sample, so a renamed function or argument breaks this test, not a reader."""

from __future__ import annotations

import re

import pytest

from mtq_support import REPO_ROOT


def test_the_readme_tour_runs_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    text = (REPO_ROOT / "README.md").read_text()
    tour = text[text.index("## A tour") :]
    block = re.search(r"```python\n(.*?)```", tour, re.S)
    assert block is not None, "the README tour has no Python block"
    scope: dict[str, object] = {}
    exec(compile(block.group(1), "README.md (tour)", "exec"), scope)
    events = scope["events"]
    assert isinstance(events, list)
    assert any(e["timeframe"] == "1m" and e["new"] == "ERROR" for e in events), events
    assert "'last_price': 167.3" in capsys.readouterr().out
