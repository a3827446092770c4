"""Modules and functions stay small (issue 17; docs/CONTRIBUTING.md): no module of the
package over 500 lines, no function over 80 (the migrations' DDL lists excepted)."""

from __future__ import annotations

import ast

from mtq_support import REPO_ROOT

PACKAGE = REPO_ROOT / "python" / "montalaq"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines (cut them by concept): {long}"


def test_no_function_is_over_80_lines() -> None:
    long: dict[str, int] = {}
    for p in PACKAGE.rglob("*.py"):
        if "migrations" in p.parts:
            continue  # one linear list of DDL statements per revision
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{p.relative_to(PACKAGE)}:{node.lineno} {node.name}"] = n
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"
