"""Execute notebooks/bars_and_features.ipynb with nbclient on the venv's own kernel."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbclient
import nbformat
import numpy as np
import pytest
from jupyter_client import kernelspec

import montalaq

NOTEBOOK = Path(__file__).resolve().parents[3] / "notebooks" / "bars_and_features.ipynb"
KERNEL = "python3"
CELL_TIMEOUT = 300
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
UP, DOWN = (0x2E, 0x7D, 0x32), (0xC6, 0x28, 0x28)  # candle colours used by the notebook
TIMEFRAMES = ("1m", "5m", "15m")


@pytest.fixture(scope="module")
def venv_kernel() -> Iterator[None]:
    """Make sure the kernel "python3" resolves to this interpreter (the venv's python)."""
    with pytest.MonkeyPatch.context() as mp:
        # Prefer the environment's kernelspecs over any user-level "python3" spec.
        mp.setenv("JUPYTER_PREFER_ENV_PATH", "1")
        venv_spec = Path(sys.prefix, "share", "jupyter", "kernels", KERNEL, "kernel.json")
        if not venv_spec.exists():
            subprocess.run(
                [sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL],
                check=True,
                capture_output=True,
                timeout=120,
            )
        spec = kernelspec.KernelSpecManager().get_kernel_spec(KERNEL)
        exe = spec.argv[0]
        # jupyter_client launches a bare "python"/"python3"/"python3.X" as sys.executable.
        bare = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}
        assert exe in bare or Path(exe).parent == Path(sys.executable).parent, (
            f"kernel {KERNEL!r} ({spec.resource_dir}) runs {exe}, not this venv's python {sys.executable}"
        )
        yield


def execute(workdir: Path) -> Any:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT,
        allow_errors=True,  # run every cell, then report all errors at once
        resources={"metadata": {"path": str(workdir)}},  # the kernel's working directory
    )
    client.execute()
    return nb


def errors(nb: Any) -> list[str]:
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                found.append(f"cell {i}: {out.ename}: {out.evalue}\n" + "\n".join(out.traceback))
    return found


def printed(nb: Any) -> str:
    return "".join(
        out.text
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if out.output_type == "stream" and out.name == "stdout"
    )


def check_png(path: Path) -> None:
    assert path.is_file(), f"no figure at {path}"
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, "not a PNG file"
    assert len(data) > 10_000, f"suspiciously small PNG: {len(data)} bytes"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 800, (width, height)
    assert height >= 600, (width, height)

    import matplotlib.image

    rgb = np.round(matplotlib.image.imread(path)[..., :3] * 255).astype(int)
    for name, colour in (("up (green)", UP), ("down (red)", DOWN)):
        n = int(np.all(np.abs(rgb - np.array(colour)) <= 6, axis=-1).sum())
        assert n > 200, f"hardly any {name} candle pixels in the figure ({n})"


def expected_counts(path: Path) -> dict[str, int]:
    t = montalaq.read_trades(path)
    bars = montalaq.build_bars(t.ts_ns, t.price, t.size, TIMEFRAMES, side=t.side)
    return {tf: len(b) for tf, b in bars.items()}


def test_notebook_is_stored_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == KERNEL
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    assert sum(c.cell_type == "markdown" for c in nb.cells) >= len(code), "every step is explained"
    for cell in code:
        assert cell.outputs == []
        assert cell.execution_count is None


@pytest.mark.usefixtures("venv_kernel")
def test_notebook_runs_on_the_bundled_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    out = tmp_path / "figures" / "bars.png"
    monkeypatch.delenv("MONTALAQ_NOTEBOOK_TRADES", raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.setenv("MONTALAQ_NOTEBOOK_OUT", str(out))

    nb = execute(workdir)

    assert not errors(nb), "\n\n".join(errors(nb))
    text = printed(nb)
    # the kernel was this venv's python
    assert f"kernel prefix: {sys.prefix}\n" in text
    sample = montalaq.sample_path("spy")
    assert f"trades file: {sample}" in text
    for tf, n in expected_counts(sample).items():
        assert f"{tf:>3}: {n:,} bars" in text, (tf, n, text)
    assert "streamed 1m bars == batch 1m bars: 828 bars" in text
    assert f"saved {out}" in text
    check_png(out)
    assert not (workdir / "artifacts").exists(), (
        "the figure went to the default path, not MONTALAQ_NOTEBOOK_OUT"
    )


@pytest.mark.usefixtures("venv_kernel")
def test_notebook_trades_override_and_default_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MONTALAQ_NOTEBOOK_TRADES picks the file; without MONTALAQ_NOTEBOOK_OUT the figure goes to
    artifacts/bars_and_features.png under the working directory."""
    btc = montalaq.sample_path("btcusdt")
    monkeypatch.setenv("MONTALAQ_NOTEBOOK_TRADES", str(btc))
    monkeypatch.delenv("MONTALAQ_NOTEBOOK_OUT", raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)

    nb = execute(tmp_path)

    assert not errors(nb), "\n\n".join(errors(nb))
    text = printed(nb)
    assert f"trades file: {btc}" in text
    assert "symbol BTCUSDT: 10,147 trades" in text
    for tf, n in expected_counts(btc).items():
        assert f"{tf:>3}: {n:,} bars" in text, (tf, n, text)
    assert "streamed 1m bars == batch 1m bars" in text
    png = tmp_path / "artifacts" / "bars_and_features.png"
    data = png.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 10_000
