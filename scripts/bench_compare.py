"""Benchmarks of an earlier revision and of this tree in one run, side by side.

    .venv/bin/python scripts/bench_compare.py REV [--quick] [--only health,guards] [--keep]

REV is checked out in a detached worktree under build/compare/, its module built there with
CMake (through ccache when installed), and each benchmark (benchmarks/bench_<name>.py) runs
first with REV's package and scripts, then with this tree's (the installed package: run
``make build`` first). Rows are matched by their measurement; each run's ratio is against the
peer measured in the same run, which cancels much of a loaded machine's drift. Both JSON
documents of each benchmark are kept under build/compare/<REV>/results/.
Used for issue 17's "performance unchanged" check (docs/CONTRIBUTING.md, "Benchmarks").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ("bars", "health", "guards", "notify", "monitoring")


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    subprocess.run(cmd, cwd=cwd, env=env, check=True)


def prepare(rev: str) -> Path:
    """A worktree of ``rev`` with its module built into its python/ folder."""
    sha = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    tree = ROOT / "build" / "compare" / sha
    if not (tree / ".git").exists():
        _run(["git", "worktree", "add", "--detach", str(tree), sha], ROOT)
    pybind = subprocess.run(
        [sys.executable, "-m", "pybind11", "--cmakedir"], check=True, capture_output=True, text=True
    ).stdout.strip()
    env = dict(os.environ)
    if shutil.which("ccache"):
        env.update(CMAKE_CXX_COMPILER_LAUNCHER="ccache", CCACHE_BASEDIR=str(tree), CCACHE_NOHASHDIR="1")
    build = tree / "build" / "py"
    _run(
        ["cmake", "-S", ".", "-B", str(build), "-G", "Ninja", "-DMONTALAQ_BUILD_PYTHON=ON",
         "-DCMAKE_BUILD_TYPE=Release", f"-DPython_EXECUTABLE={sys.executable}", f"-Dpybind11_DIR={pybind}"],
        tree,
        env,
    )  # fmt: skip
    _run(["cmake", "--build", str(build), "-j", "2"], tree, env)
    for so in build.glob("_core*.so"):
        shutil.copy2(so, tree / "python" / "montalaq" / so.name)
    return tree


def bench(tree: Path, name: str, package: Path | None, out: Path, quick: bool) -> dict[str, Any]:
    """One benchmark of ``tree`` with the package under ``package`` (None: the installed one)."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if package is not None:
        env["PYTHONPATH"] = str(package)
    cmd = [sys.executable, str(tree / "benchmarks" / f"bench_{name}.py"), "--json", str(out)]
    _run([*cmd, "--quick"] if quick else cmd, tree, env)
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def table(name: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    """Rows of both runs matched by measurement: montalaq's figure and its ratio to the peer."""
    old = {r["measurement"]: r for r in before.get("rows", [])}
    lines = [
        f"## {name}",
        "| measurement | before | after | ratio before | ratio after |",
        "|---|---|---|---|---|",
    ]
    for row in after.get("rows", []):
        was = old.get(row["measurement"])
        if was is None:
            continue

        def ratio(r: dict[str, Any]) -> str:
            return "-" if r.get("ratio") is None else f"{r['ratio']:.2f}x"

        lines.append(
            f"| {row['measurement']} | {was['montalaq']} | {row['montalaq']} | {ratio(was)} | {ratio(row)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Build ``REV``, run the benchmarks of both trees, print one table per benchmark."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rev")
    ap.add_argument("--quick", action="store_true", help="the benchmarks' small sizes")
    ap.add_argument("--only", default=",".join(DEFAULT), help="comma-separated benchmark names")
    args = ap.parse_args(argv)
    tree = prepare(args.rev)
    results = tree / "results"
    results.mkdir(exist_ok=True)
    tables = []
    for name in [n.strip() for n in args.only.split(",") if n.strip()]:
        if not (tree / "benchmarks" / f"bench_{name}.py").exists():
            tables.append(f"## {name}\n(not in {args.rev})")
            continue
        before = bench(tree, name, tree / "python", results / f"{name}-before.json", args.quick)
        after = bench(ROOT, name, None, results / f"{name}-after.json", args.quick)
        tables.append(table(name, before, after))
    print("\n\n".join(tables))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
