"""Every code block of README.md and docs/tour.md runs as written (issue 17).

The ```python blocks of one document run in order in one namespace, in a scratch working
directory with no montalaq variable from the environment, so they see what a newcomer's
fresh shell sees. The ```bash blocks whose commands are all ``montalaq ...`` run as real
commands. A block that needs a server, the network or the machine's set-up says so by an
HTML comment on the line before it, ``<!-- skip-test: why -->``; a skipped Python block is
still compiled. Any other block fails the test, so a new one is run or marked, never
silently left out.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from montalaq.settings import Settings
from mtq_support import REPO_ROOT

DOCS = ("README.md", "docs/tour.md")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)
SKIP = re.compile(r"<!--\s*skip-test:\s*(.+?)\s*-->\s*$")
ENV_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, code, first line number and skip reason (or None)."""

    doc: str
    lang: str
    code: str
    line: int
    skip: str | None

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def blocks(doc: str) -> list[Block]:
    """The fenced blocks of ``doc`` in document order."""
    text = (REPO_ROOT / doc).read_text()
    out = []
    for m in FENCE.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        line = text.count("\n", 0, m.start()) + 2  # the block's first line of code
        out.append(Block(doc, m.group(1), m.group(2), line, skip.group(1) if skip else None))
    return out


def commands(block: Block) -> list[list[str]]:
    """The shell commands of a bash block, one per line, comments dropped."""
    return [argv for line in block.code.splitlines() if (argv := shlex.split(line, comments=True))]


def runnable_shell(block: Block) -> bool:
    """Every command of the block is ``[VAR=value ...] montalaq ...``."""
    cmds = commands(block)
    return bool(cmds) and all(
        next((a for a in argv if not ENV_ASSIGNMENT.match(a)), None) == "montalaq" for argv in cmds
    )


@pytest.fixture
def fresh_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch working directory and an environment without montalaq's variables (plain
    and ``MONTALAQ_``-prefixed), as a newcomer's shell has."""
    names = {n.upper() for n in Settings.model_fields}
    for key in list(os.environ):
        if key.upper() in names or key.upper().removeprefix("MONTALAQ_") in names:
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _close_what_the_blocks_started(scope: dict[str, Any]) -> None:
    """Stop the workers and close the stores the blocks left open (a doc may end before its
    shutdown lines), so no thread outlives the test."""
    from montalaq.monitoring import MonitoringService
    from montalaq.notify.notifier import Notifier
    from montalaq.service import Service
    from montalaq.store import Store

    values = list(scope.values())
    for kind, action in (
        (MonitoringService, "stop"),
        (Notifier, "stop"),
        (Service, "close"),
        (Store, "close"),
    ):
        for value in values:
            if isinstance(value, kind):
                getattr(value, action)()


# ---------------------------------------------------------------- python blocks


@pytest.mark.parametrize("doc", DOCS)
def test_the_python_blocks_of_a_document_run_in_order_as_written(
    doc: str, fresh_shell: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    python = [b for b in blocks(doc) if b.lang == "python"]
    assert python, f"{doc} has no python block"
    scope: dict[str, Any] = {"__name__": "__docs__"}
    try:
        for block in python:
            code = compile(block.code, block.where, "exec")  # a skipped block must still compile
            if block.skip is None:
                exec(code, scope)
    finally:
        _close_what_the_blocks_started(scope)
    capsys.readouterr()


@pytest.mark.parametrize("doc", DOCS)
def test_no_block_reads_the_shared_test_data(doc: str) -> None:
    """The docs run on the package's bundled samples (montalaq.sample_path), which every
    install has; ../shared/data exists only next to a development checkout."""
    for block in blocks(doc):
        assert "shared/data" not in block.code, block.where
        assert "../shared" not in block.code, block.where


# ---------------------------------------------------------------- shell blocks


def _shell_blocks() -> list[Block]:
    return [b for doc in DOCS for b in blocks(doc) if b.lang == "bash" and b.skip is None]


@pytest.mark.parametrize("block", _shell_blocks(), ids=lambda b: b.where)
def test_the_montalaq_commands_of_a_shell_block_exit_0(block: Block, fresh_shell: Path) -> None:
    assert runnable_shell(block), (
        f"{block.where}: a shell block runs only montalaq commands; mark it "
        "<!-- skip-test: why --> if it needs a server, the network or the machine's set-up"
    )
    script = Path(sys.executable).with_name("montalaq")
    montalaq = [str(script)] if script.exists() else [sys.executable, "-m", "montalaq"]
    for argv in commands(block):
        env = dict(os.environ, NO_COLOR="1")
        while ENV_ASSIGNMENT.match(argv[0]):
            name, _, value = argv.pop(0).partition("=")
            env[name] = value
        proc = subprocess.run(
            [*montalaq, *argv[1:]],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=fresh_shell,
            env=env,
            check=False,
        )
        assert proc.returncode == 0, (block.where, argv, proc.stdout[-2000:], proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr, (block.where, argv, proc.stderr[-2000:])


# ---------------------------------------------------------------- every block is accounted for


@pytest.mark.parametrize("doc", DOCS)
def test_every_block_is_python_or_bash_and_run_or_marked(doc: str) -> None:
    for block in blocks(doc):
        assert block.lang in ("python", "bash"), f"{block.where}: unknown block language {block.lang!r}"
        if block.skip is not None:
            assert len(block.skip) >= 5, f"{block.where}: say why the block is skipped"
        elif block.lang == "bash":
            assert runnable_shell(block), f"{block.where}: not only montalaq commands; run or mark it"


def test_the_readme_tour_stays_the_first_python_block() -> None:
    """scripts/check_wheel.sh runs the README's first python block against the wheel."""
    first = next(b for b in blocks("README.md") if b.lang == "python")
    assert first.skip is None
    assert "mq.read_trades(mq.sample_path(" in first.code
