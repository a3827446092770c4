"""The API's models are derived from the records of montalaq.shapes, never declared twice
(docs/architecture.md, "Records"): each model has exactly its record's fields, records
nested in a body show up with exactly their fields, and the API's defaults still apply."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NotRequired, get_type_hints

import pytest
from pydantic import BaseModel
from typing_extensions import TypedDict

from montalaq import shapes
from montalaq.api import models
from montalaq.api.derive import RECORDS, record_model


def _models() -> dict[str, type[BaseModel]]:
    """Every pydantic model the module defines, listed in ``__all__`` or not."""
    return {n: m for n, m in vars(models).items() if isinstance(m, type) and issubclass(m, BaseModel)}


def test_every_model_of_the_api_is_derived_from_a_record() -> None:
    # A model written out by hand in montalaq.api.models (a second declaration) fails here.
    hand_written = [n for n, m in _models().items() if n not in RECORDS or RECORDS[n][0] is not m]
    assert not hand_written
    assert len(_models()) >= 30


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_a_derived_model_has_exactly_its_records_fields(name: str) -> None:
    model, record = RECORDS[name]
    keys = set(get_type_hints(record))
    schema = model.model_json_schema()
    assert set(model.model_fields) == keys
    assert set(schema["properties"]) == keys
    # A key the record lets be missing is never required by the schema.
    assert set(schema.get("required", ())) <= set(getattr(record, "__required_keys__", ()))


def test_records_nested_in_a_body_have_exactly_their_fields() -> None:
    # Every component of every body that is a record of montalaq.shapes (a derived model, or
    # a TypedDict used as is, like EscalationEvent) carries the record's keys, no more, no less.
    seen = set()
    for model in _models().values():
        for comp_name, comp in model.model_json_schema().get("$defs", {}).items():
            record = RECORDS[comp_name][1] if comp_name in RECORDS else getattr(shapes, comp_name, None)
            assert record is not None, f"{comp_name}: a component that is no record of montalaq.shapes"
            assert set(comp["properties"]) == set(get_type_hints(record)), comp_name
            seen.add(comp_name)
    assert {"EscalationEvent", "PairStatus", "Circuits", "BreakerCounts", "OpenBarOut"} <= seen


def test_the_apis_defaults_still_apply() -> None:
    t = datetime(2026, 1, 2, tzinfo=UTC)
    row: dict[str, Any] = {
        "symbol": "SPY",
        "timeframe": "1m",
        "provider": None,
        "freshness": "GREEN",
        "escalation_level": "INFO",
        "breaker_open": False,
        "last_tick": t,
        "last_eval": t,
        "last_error_code": None,
        "last_signal_bar_ts": None,
        "last_notify_at": None,
        "amber_streak": 0,
        "red_streak": 0,
        "error_streak": 0,
        "fails_5m": 0,
        "breaker_changed_at": None,
        "breaker_reason": None,
    }
    assert models.PairStatus.model_validate(row).model_dump()["calendar"] == "24/7"
    summary = {"pairs": 1, "green": 1, "amber": 0, "red": 0, "breakers_open": 0}
    assert models.ProviderSummary.model_validate(summary).model_dump()["closed"] == 0
    assert models.DbHealth.model_validate({"ok": True}).model_dump() == {"ok": True, "error": None}
    health = {
        "status": "ok",
        "state": "ACTIVE",
        "reason": "",
        "symbols": [],
        "trades_cached": {},
        "agents": {},
    }
    assert models.Health.model_validate(health).model_dump()["replay"] is None


def test_times_kept_as_iso_text_are_date_times_in_the_schema() -> None:
    schema = models.FindingOut.model_json_schema()
    assert get_type_hints(shapes.FindingDoc)["ts_utc"] is shapes.IsoTime
    assert schema["properties"]["ts_utc"] == {"format": "date-time", "title": "Ts Utc", "type": "string"}


class _Partial(TypedDict):
    """A record with a key that may be missing."""

    a: int
    b: NotRequired[str]


def test_a_key_that_may_be_missing_needs_a_default() -> None:
    with pytest.raises(TypeError, match=r"PartialNoDefault\.b: a key that may be missing needs a default"):
        record_model(_Partial, name="PartialNoDefault")
    with pytest.raises(TypeError, match="no such field"):
        record_model(_Partial, name="PartialTypo", c=1)
    model = record_model(_Partial, name="PartialWithDefault", b=None)
    RECORDS.pop("PartialWithDefault")
    assert model.model_validate({"a": 1}).model_dump() == {"a": 1, "b": None}
    assert model.__doc__ == _Partial.__doc__
