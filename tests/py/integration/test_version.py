"""One version: the package, its metadata and the CLI agree (python/montalaq/_version.py)."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys

import montalaq


def test_the_package_metadata_and_the_cli_say_the_same_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", montalaq.__version__)
    assert importlib.metadata.version("montalaq") == montalaq.__version__
    out = subprocess.run(
        [sys.executable, "-m", "montalaq", "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == f"montalaq {montalaq.__version__}"
