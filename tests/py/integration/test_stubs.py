"""The checked-in stubs of montalaq._core must match the built module (STYLE habit 4)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_checked_in_stubs_match_the_built_module() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_stubs.py"), "--check"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, f"stub drift: {proc.stderr}{proc.stdout}"


def test_every_native_submodule_has_a_stub() -> None:
    from montalaq import _core

    submodules = {name for name in dir(_core) if not name.startswith("_")}
    stubs = {p.stem for p in (ROOT / "python" / "montalaq" / "_core").glob("*.pyi")} - {"__init__"}
    assert submodules == stubs
    assert (ROOT / "python" / "montalaq" / "py.typed").exists()
