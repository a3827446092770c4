"""No public function hands out a ``dict[str, Any]`` whose shape is known (issue 17): the
known shapes are records in montalaq.shapes, and the dicts that stay open are listed, each
with its reason, in docs/architecture.md ("Records"). A new public function returning
``dict[str, Any]`` (or a list of them, or one inside a union) fails here until it returns
a record or the docs say why its keys are open."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "python" / "montalaq"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def _is_open_dict(node: ast.expr) -> bool:
    """``dict[str, Any]`` (also ``Dict``, ``typing.Any``) anywhere in an annotation."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):  # a quoted annotation
            try:
                if _is_open_dict(ast.parse(sub.value, mode="eval").body):
                    return True
            except SyntaxError:
                continue
        if not (isinstance(sub, ast.Subscript) and isinstance(sub.slice, ast.Tuple)):
            continue
        name = sub.value.attr if isinstance(sub.value, ast.Attribute) else getattr(sub.value, "id", "")
        elts = sub.slice.elts
        if (
            name in ("dict", "Dict")
            and len(elts) == 2
            and ast.unparse(elts[0]) == "str"
            and ast.unparse(elts[1]) in ("Any", "typing.Any")
        ):
            return True
    return False


def _public_module(path: Path) -> str | None:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if any(p.startswith("_") and p != "__init__" for p in parts):
        return None
    return ".".join(p for p in parts if p != "__init__")


def _defs(body: list[ast.stmt], prefix: str) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Public functions and methods of public classes (also under ``if``/``try`` at that level)."""
    for node in body:
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            yield from _defs(node.body, f"{prefix}{node.name}.")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
            yield f"{prefix}{node.name}", node
        elif isinstance(node, ast.If | ast.Try):
            yield from _defs(node.body + node.orelse, prefix)


def open_dict_returns() -> set[str]:
    """``module.qualname`` of every public function annotated to return ``dict[str, Any]``."""
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _public_module(path)
        if module is None:
            continue
        for qualname, fn in _defs(ast.parse(path.read_text()).body, ""):
            if fn.returns is not None and _is_open_dict(fn.returns):
                found.add(f"{module}.{qualname}")
    return found


def documented_open_dicts() -> dict[str, str]:
    """The table of docs/architecture.md's "Records" section: each open dict's function
    (``module.qualname`` in backticks) and the reason given on its row."""
    text = ARCHITECTURE.read_text()
    section = text.split("## Records", 1)[1].split("\n## ", 1)[0]
    out = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or not cells[0].startswith("`montalaq."):
            continue
        for name in re.findall(r"`(montalaq\.[\w.]+)`", cells[0]):
            out[name] = cells[1]
    return out


def test_the_scan_sees_open_dicts_in_every_spelling() -> None:
    def returns(src: str) -> ast.expr:
        fn = ast.parse(src).body[0]
        assert isinstance(fn, ast.FunctionDef)
        assert fn.returns is not None
        return fn.returns

    for ann in ("dict[str, Any]", "list[dict[str, Any]]", "dict[str, Any] | None", "Dict[str, typing.Any]"):
        assert _is_open_dict(returns(f"def f() -> {ann}: ...")), ann
    assert _is_open_dict(returns("def f() -> 'list[dict[str, Any]]': ..."))
    for ann in ("dict[str, int]", "Mapping[str, Any]", "dict[str, float | None]", "EscalationEvent"):
        assert not _is_open_dict(returns(f"def f() -> {ann}: ...")), ann


def test_every_public_open_dict_is_documented_with_its_reason() -> None:
    found = open_dict_returns()
    documented = documented_open_dicts()
    assert all(len(reason) > 10 for reason in documented.values()), documented
    undocumented = sorted(found - set(documented))
    assert not undocumented, (
        f"{undocumented} return dict[str, Any]: return a record of montalaq.shapes, or add the "
        "function to docs/architecture.md, 'Records', with why its keys are open"
    )
    stale = sorted(set(documented) - found)
    assert not stale, f"{stale} are listed as open dicts in docs/architecture.md but no longer return one"
