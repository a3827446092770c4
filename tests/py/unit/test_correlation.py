"""Correlation ids (docs/semantics.md, Guards): format, env override, scopes, asyncio isolation, the
filter."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from montalaq import correlation
from montalaq.correlation import CorrelationFilter, correlation_scope, install, new_correlation_id


def test_new_ids_are_8_lowercase_hex_and_differ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("E2E_CORRELATION_ID", raising=False)
    ids = {new_correlation_id() for _ in range(200)}
    assert all(re.fullmatch(r"[0-9a-f]{8}", i) for i in ids)
    assert len(ids) > 190


def test_the_env_variable_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("E2E_CORRELATION_ID", "e2e-run-42")
    assert new_correlation_id() == "e2e-run-42"
    with correlation_scope() as cid:
        assert cid == "e2e-run-42"
    monkeypatch.setenv("E2E_CORRELATION_ID", "")  # empty: not set
    assert re.fullmatch(r"[0-9a-f]{8}", new_correlation_id())
    monkeypatch.setenv("E2E_CORRELATION_ID", "two words\n")
    with pytest.raises(ValueError, match="E2E_CORRELATION_ID"):
        new_correlation_id()


def test_nested_scopes_restore_the_outer_id() -> None:
    assert correlation.get() is None
    with correlation_scope("outer") as outer:
        assert outer == "outer"
        with correlation_scope() as inner:
            assert correlation.get() == inner != "outer"
        assert correlation.get() == "outer"
    assert correlation.get() is None


def test_a_scope_restores_on_an_exception() -> None:
    with pytest.raises(RuntimeError), correlation_scope("abc"):
        raise RuntimeError("boom")
    assert correlation.get() is None


def test_set_and_reset() -> None:
    token = correlation.set("aa11")
    assert correlation.get() == "aa11"
    correlation.reset(token)
    assert correlation.get() is None


@pytest.mark.parametrize(
    ("cid", "error"), [("", ValueError), ("a b", ValueError), ("x\n", ValueError), (5, TypeError)]
)
def test_bad_ids_are_refused(cid: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="cid"):
        correlation.set(cid)  # type: ignore[arg-type]
    with pytest.raises(error, match="cid"), correlation_scope(cid):  # type: ignore[arg-type]
        pass
    assert correlation.get() is None


def test_asyncio_tasks_keep_their_own_ids() -> None:
    async def work(cid: str, delay: float) -> list[str | None]:
        seen = []
        with correlation_scope(cid):
            for _ in range(3):
                await asyncio.sleep(delay)
                seen.append(correlation.get())
        seen.append(correlation.get())
        return seen

    async def main() -> tuple[list[list[str | None]], str | None]:
        with correlation_scope("parent"):
            results = await asyncio.gather(
                work("task-a", 0.003), work("task-b", 0.001), work("task-c", 0.002)
            )
            return list(results), correlation.get()

    results, parent = asyncio.run(main())
    assert results == [
        ["task-a"] * 3 + ["parent"],
        ["task-b"] * 3 + ["parent"],
        ["task-c"] * 3 + ["parent"],
    ]
    assert parent == "parent"
    assert correlation.get() is None


def test_a_task_inherits_the_id_of_its_creator() -> None:
    async def child() -> str | None:
        return correlation.get()

    async def main() -> str | None:
        with correlation_scope("parent"):
            return await asyncio.create_task(child())

    assert asyncio.run(main()) == "parent"


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_filter_stamps_every_record() -> None:
    log = logging.getLogger("montalaq.test_correlation.stamp")
    log.propagate = False
    handler = ListHandler()
    log.addHandler(handler)
    handler.addFilter(CorrelationFilter())
    try:
        log.warning("outside")
        with correlation_scope("c0ffee00"):
            log.warning("inside")
            log.warning("explicit", extra={"correlation_id": "given"})
    finally:
        log.removeHandler(handler)
    assert [r.__dict__["correlation_id"] for r in handler.records] == ["-", "c0ffee00", "given"]


def test_install_adds_the_filter_to_handlers_once_and_not_to_root() -> None:
    root_filters = [list(h.filters) for h in logging.getLogger().handlers]
    parent = logging.getLogger("montalaq.test_correlation.install")
    parent.propagate = False
    handler = ListHandler()
    parent.addHandler(handler)
    try:
        assert install(parent) == [handler]
        assert install("montalaq.test_correlation.install") == []  # already there
        assert sum(isinstance(f, CorrelationFilter) for f in handler.filters) == 1
        with correlation_scope("12345678"):
            logging.getLogger("montalaq.test_correlation.install.child").error("from a child logger")
        (rec,) = handler.records
        assert rec.__dict__["correlation_id"] == "12345678"
    finally:
        parent.removeHandler(handler)
    assert install(logging.getLogger("montalaq.test_correlation.nohandlers")) == []
    assert [list(h.filters) for h in logging.getLogger().handlers] == root_filters
    with pytest.raises(TypeError, match="logger"):
        install(42)  # type: ignore[arg-type]
