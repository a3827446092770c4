"""Module docstrings stay short and point to docs/ (STYLE.md habit 15; issue 17).

A module docstring says what the module is for, perhaps with a short example, and names
the docs section that holds the decisions; the decisions themselves live in docs/, said
once. The limit is counted as ``help(module)`` shows the docstring: its lines after
``inspect.cleandoc`` (``ast.get_docstring``), so the closing quotes on their own line do
not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

from mtq_support import REPO_ROOT

PACKAGE = REPO_ROOT / "python" / "montalaq"
MAX_LINES = 10

# Modules still over the limit, with the reason. An entry that is no longer needed (the
# module is short now, or gone) fails the test too, so the list only shrinks.
ALLOWED_LONG: dict[str, str] = {}  # module -> why it may stay long (none today)


def docstring_lines(path: Path) -> int:
    """Lines of ``path``'s module docstring as ``help()`` shows it (0 without one)."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return 0 if doc is None else len(doc.splitlines())


def long_docstrings() -> dict[str, int]:
    """``{path relative to the package: lines}`` of every module over the limit."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        n = docstring_lines(path)
        if n > MAX_LINES:
            out[path.relative_to(PACKAGE).as_posix()] = n
    return out


def test_the_walk_sees_the_package() -> None:
    # A wrong root would make the next test pass on nothing.
    assert (PACKAGE / "__init__.py").is_file()
    assert len(list(PACKAGE.rglob("*.py"))) > 50


def test_module_docstrings_are_at_most_ten_lines() -> None:
    long = {rel: n for rel, n in long_docstrings().items() if rel not in ALLOWED_LONG}
    assert not long, (
        f"module docstrings over {MAX_LINES} lines (move the details into the docs section "
        "they cite, keep what the module is for and the pointer): "
        + ", ".join(f"python/montalaq/{rel} ({n} lines)" for rel, n in sorted(long.items()))
    )


def test_allow_list_holds_only_modules_still_over_the_limit() -> None:
    long = long_docstrings()
    stale = sorted(rel for rel in ALLOWED_LONG if rel not in long)
    assert not stale, f"remove from ALLOWED_LONG (now short or gone): {', '.join(stale)}"
