"""Generates the checked-in stubs for montalaq._core (python/montalaq/_core/*.pyi).

`--check` regenerates into a temporary folder and exits 1 when the checked-in stubs
differ, which tests/py/integration/test_stubs.py runs so stub drift fails the suite.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUBS = ROOT / "python" / "montalaq" / "_core"


def generate(out_dir: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pybind11_stubgen",
            "montalaq._core",
            "-o",
            str(out_dir),
            "--numpy-array-use-type-var",
            "--exit-code",
        ],
        check=True,
        cwd=tempfile.gettempdir(),  # import the installed package, not python/ by accident
    )
    stubs = out_dir / "montalaq" / "_core"
    # The checked-in stubs are linted like the code (make lint): format them and fix what
    # ruff can (import order, whitespace inside the bindings' docstrings) with the repo's config.
    ruff = [sys.executable, "-m", "ruff"]
    config = ["--config", str(ROOT / "pyproject.toml")]
    subprocess.run([*ruff, "format", "-q", *config, str(stubs)], check=True)
    subprocess.run(
        [*ruff, "check", "--silent", "--fix", "--unsafe-fixes", "--exit-zero", *config, str(stubs)],
        check=True,
    )
    return stubs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        names = sorted(p.name for p in fresh.glob("*.pyi"))
        if args.check:
            current = sorted(p.name for p in STUBS.glob("*.pyi"))
            drift = [
                n for n in names if n not in current or not filecmp.cmp(fresh / n, STUBS / n, shallow=False)
            ]
            drift += [n for n in current if n not in names]
            if drift:
                print(f"stubs out of date: {drift}; run `make stubs`", file=sys.stderr)
                return 1
            return 0
        STUBS.mkdir(parents=True, exist_ok=True)
        for old in STUBS.glob("*.pyi"):
            old.unlink()
        for n in names:
            shutil.copy(fresh / n, STUBS / n)
        print(f"wrote {', '.join(names)} to {STUBS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
