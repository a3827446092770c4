"""Optional dependencies: which extra of pyproject.toml installs each, and the one-line
hint raised when one is missing (docs/CONTRIBUTING.md, "Building from source"; the extras
are listed in the README's Install section).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

EXTRAS: dict[str, str] = {
    "pyarrow": "parquet",
    "polars": "polars",
    "fastapi": "api",
    "uvicorn": "api",
    "prometheus_client": "api",
    "fastapi_offline": "api",
    "starlette": "api",
    "celery": "celery",
    "kombu": "celery",
    "redis": "celery",
    "psycopg": "postgres",
    "apprise": "apprise",
    "django": "django",
    "matplotlib": "notebook",
    "openai": "llm",
}
"""Top-level module name -> the extra that installs it (``pip install 'montalaq[extra]'``)."""


class MissingDependencyError(ImportError):
    """An optional library is not installed; the message says which extra installs it."""


def install_hint(module: str) -> str:
    """``pip install 'montalaq[<extra>]'`` for ``module`` (``pip install <module>`` when no
    extra provides it)."""
    top = module.split(".", 1)[0]
    extra = EXTRAS.get(top)
    return f"pip install 'montalaq[{extra}]'" if extra else f"pip install {top}"


def missing_dependency(module: str, feature: str) -> MissingDependencyError:
    """The error to raise when ``feature`` cannot run because ``module`` is not installed."""
    top = module.split(".", 1)[0]
    return MissingDependencyError(
        f"{feature} needs {top}, which is not installed: {install_hint(top)}", name=top
    )


@contextmanager
def needs(feature: str) -> Iterator[None]:
    """Turn a missing optional library, imported inside the block, into
    :class:`MissingDependencyError` naming ``feature`` and the extra to install::

        with needs("Bars.to_polars"):
            import polars as pl

    Other import errors (a broken install of the library, a missing module of montalaq
    itself) pass through unchanged: the hint would be wrong for them.
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top not in EXTRAS:
            raise
        # `from None`: the hint is the whole story; the chained "No module named" adds nothing.
        raise missing_dependency(top, feature) from None


__all__ = ["EXTRAS", "MissingDependencyError", "install_hint", "missing_dependency", "needs"]
