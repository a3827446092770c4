"""Optional libraries stay optional (issue 17): ``montalaq.<subpackage>`` is imported on first
attribute access, and a missing library says in one line which extra installs it
(montalaq._optional, the one place that knows the extras)."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

import montalaq
from montalaq._optional import EXTRAS, MissingDependencyError, install_hint, needs
from mtq_support import REPO_ROOT


def _without(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    """Make ``import <module>`` fail as if it were not installed, for this test only."""
    monkeypatch.setitem(sys.modules, module, None)


def _one_line_hint(exc: BaseException, extra: str) -> str:
    text = str(exc)
    assert "\n" not in text, text
    assert text.endswith(f"pip install 'montalaq[{extra}]'"), text
    return text


# ---------------------------------------------------------------- the helper


def test_every_extra_named_by_a_hint_exists_in_pyproject() -> None:
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for module, extra in EXTRAS.items():
        assert extra in extras, (module, extra)


def test_the_hint_names_the_extra_or_the_package() -> None:
    assert install_hint("polars") == "pip install 'montalaq[polars]'"
    assert install_hint("fastapi.routing") == "pip install 'montalaq[api]'"
    assert install_hint("somelib") == "pip install somelib"


def test_needs_leaves_other_import_errors_alone() -> None:
    with pytest.raises(ModuleNotFoundError) as info, needs("a feature"):
        import montalaq_no_such_module  # type: ignore[import-not-found]  # noqa: F401
    assert not isinstance(info.value, MissingDependencyError)


# ---------------------------------------------------------------- where it is used


def test_to_polars_without_polars_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    bars = montalaq.build_bars([60 * 10**9], [1.0], [1.0], "1m")
    feats = montalaq.compute_features(bars)
    _without(monkeypatch, "polars")
    for obj, name in ((bars, "Bars.to_polars"), (feats, "Features.to_polars")):
        with pytest.raises(ImportError) as info:
            obj.to_polars()
        assert isinstance(info.value, MissingDependencyError)
        assert _one_line_hint(info.value, "polars").startswith(f"{name} needs polars, which is not installed")


def test_parquet_without_pyarrow_says_which_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "trades.parquet"
    path.write_bytes(b"PAR1")
    _without(monkeypatch, "pyarrow")
    _without(monkeypatch, "fastparquet")
    with pytest.raises(ImportError) as info:
        montalaq.read_trades(path)
    _one_line_hint(info.value, "parquet")


def test_redis_guards_without_redis_say_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    _without(monkeypatch, "redis")
    with pytest.raises(ImportError) as info:
        montalaq.RedisDedupe("redis://127.0.0.1:6379/15")
    assert _one_line_hint(info.value, "celery").startswith("RedisDedupe needs redis")
    with pytest.raises(ImportError) as info:
        montalaq.RedisRateLimiter("redis://127.0.0.1:6379/15")
    _one_line_hint(info.value, "celery")


# ---------------------------------------------------------------- lazy subpackages


def test_subpackages_are_attributes_of_the_package() -> None:
    for name in sorted(montalaq._LAZY_SUBMODULES):
        module = getattr(montalaq, name)
        assert module is sys.modules[f"montalaq.{name}"], name
        assert name in dir(montalaq), name
    assert callable(montalaq.api.create_router)
    assert callable(montalaq.celery.install)
    assert montalaq.service.Service.__name__ == "Service"


def test_an_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'montalaq' has no attribute 'apii'"):
        montalaq.apii  # noqa: B018


def test_a_subpackage_without_its_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "montalaq.api" or m.startswith("montalaq.api.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delattr(montalaq, "api", raising=False)
    _without(monkeypatch, "fastapi")
    with pytest.raises(ImportError) as info:
        montalaq.api  # noqa: B018
    assert _one_line_hint(info.value, "api").startswith("montalaq.api needs fastapi, which is not installed")
