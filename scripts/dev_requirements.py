"""Prints the build requirements and the `dev` extra from pyproject.toml, one per line.

The Makefile installs these into the virtual environment before building the package
without isolation, so the list lives in one place (pyproject.toml).
"""

import sys
import tomllib
from pathlib import Path

data = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
reqs = data["build-system"]["requires"] + data["project"]["dependencies"]
reqs += data["project"]["optional-dependencies"]["dev"]
sys.stdout.write("\n".join(reqs) + "\n")
