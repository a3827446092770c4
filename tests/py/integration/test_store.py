"""The Store (docs/semantics.md, Persistence) against real databases: every test of the first part runs on a
SQLite
file and on a fresh PostgreSQL database; the findings fallback is tested with a real
outage (a TCP proxy in front of PostgreSQL, stopped and started again); SQLite's WAL mode
and its behaviour with several processes are tested on their own.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, IntegrityError, StatementError
from store_fixtures import (
    PG_ADMIN_URL,
    TcpProxy,
    claim_worker,
    create_pg_database,
    drop_pg_database,
    fixture_pg_migrated_template,  # noqa: F401
    fixture_shared_store,  # noqa: F401
    fixture_store,  # noqa: F401
    pg_connect,
    run_processes,
    writer_worker,
)

import montalaq
from montalaq.records import Analysis, AnalysisStatus, Decision, Finding
from montalaq.store import MAX_LIMIT, NewOutboxRow, Store, schema

# Seconds per test (servers, subprocesses, migrations): scheduled first in parallel runs.
pytestmark = pytest.mark.slow

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MIN = timedelta(minutes=1)


def finding(i: int, symbol: str = "SPY", agent: str = "momentum") -> Finding:
    """The i-th finding: one second after the previous one, score i."""
    return Finding(
        ts_utc=T0 + timedelta(seconds=i), agent=agent, symbol=symbol, score=float(i), details={"i": i}
    )


def analysis(minute: int, symbol: str = "SPY", timeframe: str = "1m", **kw: Any) -> Analysis:
    return Analysis(symbol=symbol, timeframe=timeframe, bar_ts=T0 + minute * MIN, **kw)


def row(channel: str, key: str, **kw: Any) -> NewOutboxRow:
    return NewOutboxRow(
        channel=channel, idempotency_key=key, kind="signal", severity="INFO", payload={"k": key}, **kw
    )


def run_threads(n: int, target: Any) -> list[Any]:
    """Run ``target()`` in ``n`` threads released together; their results in thread order."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = target()
        except BaseException as exc:  # re-raised in the test below
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    if errors:
        raise errors[0]
    return results


# ------------------------------------------------------------------------------ analyses


def test_saving_an_analysis_of_the_same_bar_again_updates_the_one_row(store: Store) -> None:
    store.save_analysis(analysis(0, status=AnalysisStatus.RUNNING))
    store.save_analysis(
        analysis(0, status=AnalysisStatus.COMPLETE, final_decision=Decision.BUY, composite_score=81.5)
    )
    rows = store.analysis_history("SPY", "1m")
    assert len(rows) == 1
    assert (rows[0].status, rows[0].final_decision, rows[0].composite_score) == (
        AnalysisStatus.COMPLETE,
        Decision.BUY,
        81.5,
    )


def test_updating_an_analysis_keeps_its_created_at(store: Store) -> None:
    store.save_analysis(analysis(0), now=T0)
    store.save_analysis(analysis(0, status="COMPLETE"), now=T0 + 5 * MIN)
    latest = store.latest_analysis("SPY", "1m")
    assert latest is not None
    assert (latest.created_at, latest.updated_at) == (T0, T0 + 5 * MIN)


def test_analysis_round_trips_every_field(store: Store) -> None:
    saved = analysis(
        3,
        status="FAILED",
        final_decision="SELL",
        rule_confidence_score=55.0,
        ml_confidence=None,
        composite_score=12.25,
        stop_loss=99.5,
        take_profit=104.0,
        close=101.0,
        error_code="TIMEOUT",
        error_message="model timed out",
        top_features={"mom_bps": 12.5, "rvol": 1.5},
        correlation_id="c-1",
    )
    store.save_analysis(saved, now=T0)
    assert store.latest_analysis("SPY", "1m") == saved


def test_analysis_history_is_newest_bar_first_and_limited(store: Store) -> None:
    for minute in (2, 0, 4, 1, 3):
        store.save_analysis(analysis(minute))
    history = store.analysis_history("SPY", "1m", limit=3)
    assert [a.bar_ts for a in history] == [T0 + 4 * MIN, T0 + 3 * MIN, T0 + 2 * MIN]


def test_latest_analysis_is_of_its_own_symbol_and_timeframe(store: Store) -> None:
    store.save_analysis(analysis(1, symbol="SPY", timeframe="1m"))
    store.save_analysis(analysis(9, symbol="SPY", timeframe="5m"))
    store.save_analysis(analysis(9, symbol="QQQ", timeframe="1m"))
    latest = store.latest_analysis("SPY", "1m")
    assert latest is not None
    assert (latest.symbol, latest.timeframe, latest.bar_ts) == ("SPY", "1m", T0 + MIN)


def test_latest_analysis_of_a_pair_never_analysed_is_none(shared_store: Store) -> None:
    assert shared_store.latest_analysis("NEVER", "1m") is None


def test_timeframes_are_canonical_in_queries(store: Store) -> None:
    store.save_analysis(analysis(0, timeframe="60s"))
    assert [a.timeframe for a in store.analysis_history("SPY", "1m")] == ["1m"]
    assert len(store.analysis_history("SPY", "60s")) == 1


@pytest.mark.parametrize("limit", [0, -1, MAX_LIMIT + 1, 10**12, 2.5, True])
def test_history_limit_outside_1_to_max_raises_naming_limit(shared_store: Store, limit: Any) -> None:
    with pytest.raises(ValueError, match="limit"):
        shared_store.analysis_history("SPY", "1m", limit=limit)


@pytest.mark.parametrize("limit", [0, -3, 10**12])
def test_findings_limit_outside_1_to_max_raises_naming_limit(shared_store: Store, limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        shared_store.latest_findings(limit=limit)


@pytest.mark.parametrize("timeframe", ["1x", "", "m1", "-1m", "1M"])
def test_invalid_timeframe_raises_value_error(shared_store: Store, timeframe: str) -> None:
    with pytest.raises(ValueError, match="is not a timeframe"):
        shared_store.analysis_history("SPY", timeframe)


# ------------------------------------------------------------------------------ findings


def test_add_finding_assigns_increasing_ids(store: Store) -> None:
    first = store.add_finding(finding(0))
    second = store.add_finding(finding(1))
    assert first.id is not None
    assert second.id is not None
    assert second.id > first.id


def test_latest_findings_are_newest_first_across_symbols(store: Store) -> None:
    for i, sym in enumerate(["SPY", "QQQ", "SPY", "BTCUSDT"]):
        store.add_finding(finding(i, symbol=sym))
    assert [(f.symbol, f.score) for f in store.latest_findings()] == [
        ("BTCUSDT", 3.0),
        ("SPY", 2.0),
        ("QQQ", 1.0),
        ("SPY", 0.0),
    ]


def test_latest_findings_of_one_symbol_only(store: Store) -> None:
    for i, sym in enumerate(["SPY", "QQQ", "SPY"]):
        store.add_finding(finding(i, symbol=sym))
    assert [(f.symbol, f.score) for f in store.latest_findings("SPY")] == [("SPY", 2.0), ("SPY", 0.0)]


def test_latest_findings_respects_the_limit(store: Store) -> None:
    for i in range(5):
        store.add_finding(finding(i))
    assert [f.score for f in store.latest_findings(limit=2)] == [4.0, 3.0]


def test_a_finding_round_trips_with_its_details(store: Store) -> None:
    saved = store.add_finding(
        Finding(
            ts_utc=T0,
            agent="vol",
            symbol="SPY",
            score=-2.5,
            label="spike",
            details={"z": 3.1, "bars": [1, 2], "note": "ünïcode"},
            correlation_id="corr-9",
        )
    )
    assert store.latest_findings() == [saved]


def test_unserialisable_details_raise_instead_of_being_buffered(store: Store) -> None:
    bad = Finding(ts_utc=T0, agent="a", symbol="SPY", score=1.0, details={"when": object()})
    with pytest.raises((TypeError, StatementError)) as caught:
        store.add_finding(bad)
    # SQLAlchemy wraps the JSON encoder's TypeError on SQLite; psycopg raises it directly.
    cause = caught.value.orig if isinstance(caught.value, StatementError) else caught.value
    assert isinstance(cause, TypeError)
    assert store.buffered_findings == 0
    assert store.latest_findings() == []


# ------------------------------------------------------------------------------ ingestion status


def test_partial_status_update_keeps_the_other_fields(store: Store) -> None:
    store.upsert_ingestion_status("SPY", "1m", provider="AllTick", last_error_code="E1", now=T0)
    store.upsert_ingestion_status("SPY", "1m", freshness="GREEN", now=T0 + MIN)
    (status,) = store.ingestion_status("SPY")
    assert (status["provider"], status["last_error_code"], status["freshness"]) == ("AllTick", "E1", "GREEN")
    assert status["updated_at"] == T0 + MIN


def test_status_enums_are_stored_by_name(store: Store) -> None:
    store.upsert_ingestion_status(
        "SPY", "1m", freshness=montalaq.Colour.AMBER, escalation_level=montalaq.Level.WARN
    )
    (status,) = store.ingestion_status()
    assert (status["freshness"], status["escalation_level"]) == ("AMBER", "WARN")


def test_a_new_status_row_has_its_breaker_closed(store: Store) -> None:
    store.upsert_ingestion_status("SPY", "1m", provider="TwelveData")
    assert store.ingestion_status()[0]["breaker_open"] is False


def test_breaker_open_can_be_set_through_upsert(store: Store) -> None:
    """Regression: breaker_open=... raised "got multiple values for keyword argument"."""
    store.upsert_ingestion_status("SPY", "1m", breaker_open=True)
    assert store.ingestion_status("SPY")[0]["breaker_open"] is True
    store.upsert_ingestion_status("SPY", "1m", breaker_open=False)
    assert store.ingestion_status("SPY")[0]["breaker_open"] is False


def test_status_times_come_back_as_aware_utc(store: Store) -> None:
    tick_ns = 1_767_225_600_123_456_000  # 2026-01-01T00:00:00.123456Z
    store.upsert_ingestion_status("SPY", "1m", last_tick_at=tick_ns)
    assert store.ingestion_status()[0]["last_tick_at"] == datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)


def test_unknown_status_field_raises_naming_it(shared_store: Store) -> None:
    with pytest.raises(ValueError, match="colour"):
        shared_store.upsert_ingestion_status("SPY", "1m", colour="GREEN")


def test_status_rows_are_ordered_by_symbol_and_timeframe(store: Store) -> None:
    for sym, tf in [("SPY", "5m"), ("AAPL", "1m"), ("SPY", "15m")]:
        store.upsert_ingestion_status(sym, tf, provider="AllTick")
    assert [(r["symbol"], r["timeframe"]) for r in store.ingestion_status()] == [
        ("AAPL", "1m"),
        ("SPY", "15m"),
        ("SPY", "5m"),
    ]


# ------------------------------------------------------------------------------ claim_signal_bar


def test_first_claim_of_a_bar_wins(store: Store) -> None:
    assert store.claim_signal_bar("SPY", "1m", T0, now=T0 + MIN, window_s=900) is True


def test_same_bar_within_the_window_is_not_claimed_again(store: Store) -> None:
    store.claim_signal_bar("SPY", "1m", T0, now=T0 + MIN, window_s=900)
    assert (
        store.claim_signal_bar("SPY", "1m", T0, now=T0 + MIN + timedelta(seconds=899), window_s=900) is False
    )


def test_same_bar_after_the_window_is_claimed_again(store: Store) -> None:
    store.claim_signal_bar("SPY", "1m", T0, now=T0 + MIN, window_s=900)
    assert (
        store.claim_signal_bar("SPY", "1m", T0, now=T0 + MIN + timedelta(seconds=900), window_s=900) is True
    )


def test_an_older_bar_than_the_last_claimed_is_refused(store: Store) -> None:
    store.claim_signal_bar("SPY", "1m", T0 + 5 * MIN, now=T0 + 6 * MIN)
    assert store.claim_signal_bar("SPY", "1m", T0 + 4 * MIN, now=T0 + 7 * MIN + timedelta(hours=2)) is False


def test_a_newer_bar_is_claimed_within_the_window(store: Store) -> None:
    store.claim_signal_bar("SPY", "1m", T0, now=T0 + MIN)
    assert store.claim_signal_bar("SPY", "1m", T0 + MIN, now=T0 + MIN + timedelta(seconds=1)) is True


def test_claims_of_other_pairs_are_independent(store: Store) -> None:
    store.claim_signal_bar("SPY", "1m", T0, now=T0 + MIN)
    assert store.claim_signal_bar("SPY", "5m", T0, now=T0 + MIN) is True
    assert store.claim_signal_bar("QQQ", "1m", T0, now=T0 + MIN) is True


def test_a_claim_records_the_bar_and_the_notify_time(store: Store) -> None:
    store.upsert_ingestion_status("SPY", "1m", provider="AllTick")
    store.claim_signal_bar("SPY", "1m", T0, now=T0 + MIN)
    (status,) = store.ingestion_status()
    assert (status["last_signal_bar_ts"], status["last_notify_at"], status["provider"]) == (
        T0,
        T0 + MIN,
        "AllTick",
    )


def test_eight_threads_claiming_one_bar_win_exactly_once(store: Store) -> None:
    store.ensure_schema()
    results = run_threads(8, lambda: store.claim_signal_bar("RACE", "1m", T0, now=T0 + MIN))
    assert sorted(results) == [False] * 7 + [True]


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_four_processes_claiming_one_bar_win_exactly_once(store: Store) -> None:
    store.ensure_schema()
    results = run_processes(claim_worker, [(store.url, T0, T0 + MIN)] * 4)
    assert sorted(results) == [False, False, False, True]


# ------------------------------------------------------------------------------ dedup events


def test_dedup_events_are_listed_newest_first(store: Store) -> None:
    store.record_dedup_event("k1", "ALLOWED", symbol="SPY", correlation_id="c1", payload={"a": 1}, now=T0)
    store.record_dedup_event("k1", "DEDUPED", symbol="SPY", now=T0 + MIN)
    events = store.dedup_events()
    assert [(e["key"], e["action"], e["created_at"]) for e in events] == [
        ("k1", "DEDUPED", T0 + MIN),
        ("k1", "ALLOWED", T0),
    ]
    assert (events[1]["payload_json"], events[1]["correlation_id"]) == ({"a": 1}, "c1")


def test_dedup_events_of_one_key(store: Store) -> None:
    store.record_dedup_event("k1", "ALLOWED", now=T0)
    store.record_dedup_event("k2", "ALLOWED", now=T0)
    assert [e["key"] for e in store.dedup_events("k2")] == ["k2"]


def test_prune_deletes_only_events_older_than_the_cutoff(store: Store) -> None:
    for minute in range(4):
        store.record_dedup_event(f"k{minute}", "ALLOWED", now=T0 + minute * MIN)
    assert store.prune_dedup_events(T0 + 2 * MIN) == 2
    assert sorted(e["key"] for e in store.dedup_events()) == ["k2", "k3"]


@pytest.mark.parametrize("key", ["", "x" * 129])
def test_dedup_event_key_must_be_1_to_128_characters(shared_store: Store, key: str) -> None:
    with pytest.raises(ValueError, match="key"):
        shared_store.record_dedup_event(key, "ALLOWED")


# ------------------------------------------------------------------------------ error summary


def test_each_error_episode_is_one_row_with_the_seed_columns(store: Store) -> None:
    store.record_error("BROKER", "order rejected", now=T0)
    store.record_error("BROKER", "order rejected again", now=T0 + MIN)
    store.record_error_notification(["BROKER"], now=T0 + MIN)
    assert store.resolve_error_episode("BROKER", now=T0 + 2 * MIN, notified=True) is True
    store.record_error("BROKER", "back", now=T0 + 3 * MIN)  # a new episode
    first, second = sorted(store.error_episodes(), key=lambda r: r["id"])
    assert set(first) == {
        "id",
        "error_type",
        "error_message",
        "first_occurrence",
        "last_occurrence",
        "occurrence_count",
        "last_notification_sent",
        "notification_count",
        "is_resolved",
        "resolved_at",
    }
    assert (first["occurrence_count"], first["notification_count"], first["is_resolved"]) == (2, 2, True)
    assert (first["first_occurrence"], first["last_occurrence"], first["resolved_at"]) == (
        T0,
        T0 + MIN,
        T0 + 2 * MIN,
    )
    assert first["error_message"] == "order rejected again"
    assert (second["occurrence_count"], second["is_resolved"], second["notification_count"]) == (1, False, 0)


def test_the_error_summary_adds_up_episodes_per_type(store: Store) -> None:
    store.record_error("BROKER", "a", now=T0)
    store.resolve_error_episode("BROKER", now=T0 + MIN)
    store.record_error("BROKER", "b", now=T0 + 2 * MIN)
    store.record_error("DATABASE", "down", now=T0 + 2 * MIN)
    assert store.resolve_error_episode("WEBSOCKET", now=T0) is False  # nothing open
    summary = {r["error_type"]: r for r in store.error_summary()}
    assert set(summary) == {"BROKER", "DATABASE"}
    broker = summary["BROKER"]
    assert (broker["episodes"], broker["occurrence_count"], broker["is_resolved"]) == (2, 2, False)
    assert (broker["first_occurrence"], broker["open_since"], broker["error_message"]) == (
        T0,
        T0 + 2 * MIN,
        "b",
    )


def test_a_lone_surrogate_in_an_error_message_is_stored_replaced(store: Store) -> None:
    store.record_error("BROKER", "bad \udc80 text", now=T0)
    assert store.error_episodes()[0]["error_message"] == "bad ? text"


def test_service_state_snapshots_replace_each_other(store: Store) -> None:
    assert store.load_service_state("board") is None
    store.save_service_state("board", '{"a": 1}', now=T0)
    store.save_service_state("board", '{"a": 2}', now=T0 + MIN)
    assert store.load_service_state("board") == ('{"a": 2}', T0 + MIN)


# ------------------------------------------------------------------------------ operational state


def test_operational_state_is_none_before_it_is_saved(shared_store: Store) -> None:
    assert shared_store.load_operational_state() is None


def test_saving_operational_state_twice_keeps_one_row(store: Store) -> None:
    store.save_operational_state(montalaq.OpState.STARTING, "boot", now=T0)
    store.save_operational_state(
        montalaq.OpState.ACTIVE, "checks passed", details={"checks": 3}, now=T0 + MIN
    )
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM operational_state")).scalar_one() == 1
    assert store.load_operational_state() == {
        "state": "ACTIVE",
        "reason": "checks passed",
        "entered_at": T0 + MIN,
        "updated_at": T0 + MIN,
        "details": {"checks": 3},
    }


def test_the_database_refuses_a_second_operational_state_row(store: Store) -> None:
    store.ensure_schema()
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(
            insert(schema.operational_state).values(
                id=2, state="ACTIVE", reason="", entered_at=T0, updated_at=T0
            )
        )


# ------------------------------------------------------------------------------ positions


def test_position_upsert_replaces_the_symbols_row(store: Store) -> None:
    store.upsert_position("SPY", "OPEN", 10, 450.5, last_action="BUY", last_conf=0.8, now=T0)
    store.upsert_position("SPY", "CLOSED", 0, None, last_action="SELL", now=T0 + MIN)
    store.upsert_position("AAPL", "OPEN", 3, 190.0, now=T0)
    assert [
        (p["symbol"], p["status"], p["qty"], p["avg_price"], p["last_action"], p["last_conf"])
        for p in store.positions()
    ] == [
        ("AAPL", "OPEN", 3.0, 190.0, None, None),
        ("SPY", "CLOSED", 0.0, None, "SELL", None),
    ]


# ------------------------------------------------------------------------------ outbox


def test_enqueue_skips_a_channel_and_key_already_queued(store: Store) -> None:
    assert store.enqueue([row("slack", "a"), row("slack", "b")], now=T0) == 2
    assert store.enqueue([row("slack", "a"), row("slack", "b"), row("slack", "c")], now=T0) == 1
    assert [r.idempotency_key for r in store.outbox.rows()] == ["a", "b", "c"]


def test_enqueue_counts_a_key_repeated_within_one_batch_once(store: Store) -> None:
    assert store.enqueue([row("slack", "a"), row("slack", "a")], now=T0) == 1
    assert len(store.outbox.rows()) == 1


def test_the_same_key_on_another_channel_is_a_new_row(store: Store) -> None:
    store.enqueue([row("slack", "a")], now=T0)
    assert store.enqueue([row("email", "a")], now=T0) == 1


def test_enqueued_rows_round_trip(store: Store) -> None:
    store.enqueue([row("slack", "a", correlation_id="c-7", error_code="BROKER")], now=T0)
    (r,) = store.outbox.rows()
    assert (r.channel, r.kind, r.severity, r.payload, r.status, r.attempts) == (
        "slack",
        "signal",
        "INFO",
        {"k": "a"},
        "PENDING",
        0,
    )
    assert (r.created_at, r.next_attempt_at, r.correlation_id, r.error_code) == (T0, T0, "c-7", "BROKER")


def test_a_claim_leases_rows_so_a_second_claim_gets_nothing(store: Store) -> None:
    store.enqueue([row("slack", k) for k in "abc"], now=T0)
    first = store.outbox.claim("slack", T0, limit=10, lease_s=30)
    assert [r.idempotency_key for r in first] == ["a", "b", "c"]
    assert store.outbox.claim("slack", T0 + timedelta(seconds=29), limit=10, lease_s=30) == []


def test_rows_are_claimable_again_after_the_lease_expires(store: Store) -> None:
    store.enqueue([row("slack", k) for k in "ab"], now=T0)
    store.outbox.claim("slack", T0, limit=10, lease_s=30)
    again = store.outbox.claim("slack", T0 + timedelta(seconds=31), limit=10, lease_s=30)
    assert [r.idempotency_key for r in again] == ["a", "b"]


def test_claim_takes_the_oldest_rows_of_its_channel_up_to_the_limit(store: Store) -> None:
    store.enqueue([row("slack", "a"), row("email", "x"), row("slack", "b"), row("slack", "c")], now=T0)
    assert [r.idempotency_key for r in store.outbox.claim("slack", T0, limit=2, lease_s=30)] == ["a", "b"]


def test_mark_sent_records_the_send_and_the_row_is_no_longer_claimed(store: Store) -> None:
    store.enqueue([row("slack", "a")], now=T0)
    (claimed,) = store.outbox.claim("slack", T0, limit=10, lease_s=30)
    store.outbox.mark_sent([claimed.id], T0 + MIN)
    (r,) = store.outbox.rows()
    assert (r.status, r.sent_at, r.attempts) == ("SENT", T0 + MIN, 1)
    assert store.outbox.claim("slack", T0 + timedelta(hours=1), limit=10, lease_s=30) == []


def test_folded_rows_are_claimed_for_a_digest_and_marked_digested(store: Store) -> None:
    store.enqueue([row("slack", k) for k in "ab"], now=T0)
    ids = [r.id for r in store.outbox.claim("slack", T0, limit=10, lease_s=30)]
    store.outbox.fold(ids)
    assert store.outbox.claim("slack", T0, limit=10, lease_s=30) == []
    folded = store.outbox.claim("slack", T0, limit=10, lease_s=30, status="FOLDED")
    assert [r.id for r in folded] == ids
    store.outbox.mark_digested(ids, "digest-1", T0 + MIN)
    assert [(r.status, r.digest_key, r.sent_at) for r in store.outbox.rows()] == [
        ("DIGESTED", "digest-1", T0 + MIN)
    ] * 2


def test_retry_later_counts_the_attempt_and_delays_the_row(store: Store) -> None:
    store.enqueue([row("slack", "a")], now=T0)
    (claimed,) = store.outbox.claim("slack", T0, limit=10, lease_s=30)
    store.outbox.retry_later(claimed.id, T0 + 5 * MIN, "HTTP 503")
    assert store.outbox.claim("slack", T0 + 4 * MIN, limit=10, lease_s=30) == []
    (again,) = store.outbox.claim("slack", T0 + 5 * MIN, limit=10, lease_s=30)
    assert (again.status, again.attempts, again.last_error) == ("PENDING", 1, "HTTP 503")


def test_dead_rows_are_kept_and_requeued_on_request(store: Store) -> None:
    store.enqueue([row("slack", "a"), row("email", "b")], now=T0)
    ids = [r.id for r in store.outbox.rows()]
    store.outbox.mark_dead(ids, "HTTP 404")
    assert store.outbox.counts()["DEAD"] == 2
    assert store.outbox.requeue_dead(T0 + MIN, channel="slack") == 1
    assert [(r.channel, r.status, r.attempts, r.next_attempt_at) for r in store.outbox.rows()] == [
        ("slack", "PENDING", 0, T0 + MIN),
        ("email", "DEAD", 1, T0),
    ]


def test_release_all_leases_makes_claimed_rows_due_again(store: Store) -> None:
    store.enqueue([row("slack", k) for k in "abc"], now=T0)
    store.outbox.claim("slack", T0, limit=2, lease_s=300)
    assert store.outbox.release_all_leases() == 2
    assert len(store.outbox.claim("slack", T0, limit=10, lease_s=300)) == 3


def test_released_rows_are_due_again_at_the_given_time_without_an_attempt(store: Store) -> None:
    store.enqueue([row("slack", "a")], now=T0)
    (claimed,) = store.outbox.claim("slack", T0, limit=10, lease_s=300)
    store.outbox.release([claimed.id], T0 + MIN)
    assert store.outbox.next_due("slack") == T0 + MIN
    (again,) = store.outbox.claim("slack", T0 + MIN, limit=10, lease_s=300)
    assert again.attempts == 0


def test_dry_run_rows_are_recorded_and_never_claimed(store: Store) -> None:
    store.enqueue([row("slack", "a")], now=T0)
    store.outbox.mark_dry_run([store.outbox.rows()[0].id], T0 + MIN)
    assert [(r.status, r.sent_at) for r in store.outbox.rows()] == [("DRY_RUN", T0 + MIN)]
    assert store.outbox.claim("slack", T0 + timedelta(days=1), limit=10, lease_s=30) == []


def test_has_folded_and_next_due_describe_a_channels_backlog(store: Store) -> None:
    assert (store.outbox.has_folded("slack"), store.outbox.next_due("slack")) == (False, None)
    store.enqueue([row("slack", "a"), row("slack", "b")], now=T0)
    store.outbox.fold([store.outbox.rows()[0].id])
    assert (store.outbox.has_folded("slack"), store.outbox.next_due("slack")) == (True, T0)
    assert store.outbox.has_folded("email") is False


def test_counts_list_every_status(store: Store) -> None:
    store.enqueue([row("slack", "a"), row("slack", "b"), row("email", "c")], now=T0)
    store.outbox.mark_sent([store.outbox.rows()[0].id], T0)
    assert store.outbox.counts() == {
        "PENDING": 2,
        "SENT": 1,
        "FOLDED": 0,
        "DIGESTED": 0,
        "DEAD": 0,
        "DRY_RUN": 0,
    }
    assert store.outbox.counts("email")["PENDING"] == 1


def test_two_threads_claiming_at_once_never_get_the_same_row(store: Store) -> None:
    store.enqueue([row("slack", f"k{i}") for i in range(200)], now=T0)

    def drain() -> list[int]:
        got: list[int] = []
        while batch := store.outbox.claim("slack", T0, limit=5, lease_s=300):
            got.extend(r.id for r in batch)
        return got

    first, second = run_threads(2, drain)
    assert not set(first) & set(second)
    assert sorted(first + second) == [r.id for r in store.outbox.rows()]


# ------------------------------------------------------------------------------ times


def test_times_round_trip_as_aware_utc_with_microseconds(store: Store) -> None:
    plus_two = timezone(timedelta(hours=2))
    local = datetime(2026, 3, 4, 7, 8, 9, 123456, tzinfo=plus_two)
    store.add_finding(Finding(ts_utc=local, agent="a", symbol="SPY", score=1.0))
    (back,) = store.latest_findings()
    assert back.ts_utc == local
    assert back.ts_utc.tzinfo is UTC
    assert (back.ts_utc.hour, back.ts_utc.microsecond) == (5, 123456)


def test_the_time_column_type_rejects_naive_datetimes(store: Store) -> None:
    store.ensure_schema()
    with pytest.raises(StatementError, match="naive") as caught, store.engine.begin() as conn:
        conn.execute(
            insert(schema.findings).values(
                ts_utc=datetime(2026, 1, 1), agent="a", symbol="SPY", score=1.0, label="", details={}
            )
        )
    assert isinstance(caught.value.orig, ValueError)


def test_store_methods_reject_naive_datetimes_naming_the_argument(shared_store: Store) -> None:
    with pytest.raises(ValueError, match="now: naive"):
        shared_store.claim_signal_bar("SPY", "1m", T0, now=datetime(2026, 1, 1))


# ------------------------------------------------------------------------------ health


def test_health_of_a_reachable_database_is_ok(shared_store: Store) -> None:
    assert shared_store.health() == {"ok": True}


def test_health_of_an_unreachable_database_reports_without_raising() -> None:
    down = Store("postgresql://postgres@127.0.0.1:1/x")
    try:
        health = down.health()
    finally:
        down.close()
    assert health["ok"] is False
    assert "refused" in health["error"].lower()


def test_health_error_and_repr_never_show_the_password() -> None:
    down = Store("postgresql://u:s3cret@127.0.0.1:1/x")
    try:
        health = down.health()
    finally:
        down.close()
    assert health["ok"] is False
    assert "s3cret" not in health["error"]
    assert "s3cret" not in repr(down)


# ------------------------------------------------------------------------------ findings, PostgreSQL down


class Outage:
    """A Store whose PostgreSQL is reached through a proxy the test can stop and restart."""

    def __init__(self, dbname: str, proxy: TcpProxy, findings_buffer: int) -> None:
        self.dbname = dbname
        self.proxy = proxy
        url = make_url(PG_ADMIN_URL).set(host="127.0.0.1", port=proxy.port, database=dbname)
        self.store = Store(url.render_as_string(hide_password=False), findings_buffer=findings_buffer)

    def rows_in_db(self) -> list[tuple[int, str, float]]:
        """(id, symbol, score) of every finding, read straight from the server (not through the proxy)."""
        with pg_connect(self.dbname) as conn:
            return [
                (int(i), str(s), float(v))
                for i, s, v in conn.execute("SELECT id, symbol, score FROM findings ORDER BY id").fetchall()
            ]


def _pg_target() -> tuple[str, int]:
    u = make_url(PG_ADMIN_URL)
    return (u.host or "127.0.0.1", u.port or 5432)


@pytest.fixture
def outage(request: pytest.FixtureRequest) -> Iterator[Outage]:
    """PostgreSQL behind a proxy, up at first; ``outage.proxy.stop()`` takes it away."""
    buffer = getattr(request, "param", 10_000)
    name = create_pg_database()
    proxy = TcpProxy(_pg_target()).start()
    o = Outage(name, proxy, buffer)
    try:
        o.store.add_finding(finding(0, symbol="SPY"))  # migrated and connected while up
        yield o
    finally:
        o.proxy.stop()
        o.store.close()
        drop_pg_database(name)


def test_add_finding_while_the_database_is_down_buffers_it(outage: Outage) -> None:
    outage.proxy.stop()
    kept = outage.store.add_finding(finding(1))
    assert kept.id is None
    assert outage.store.buffered_findings == 1
    assert outage.store.health()["ok"] is False  # the outage is real


def test_latest_findings_serve_the_buffer_while_the_database_is_down(outage: Outage) -> None:
    outage.proxy.stop()
    for i, sym in [(1, "SPY"), (2, "QQQ"), (3, "SPY")]:
        outage.store.add_finding(finding(i, symbol=sym))
    assert [f.score for f in outage.store.latest_findings()] == [3.0, 2.0, 1.0]
    assert [f.score for f in outage.store.latest_findings("SPY", limit=1)] == [3.0]


def test_buffered_findings_are_written_when_the_database_returns(outage: Outage) -> None:
    outage.proxy.stop()
    outage.store.add_finding(finding(1, symbol="QQQ"))
    outage.store.add_finding(finding(2, symbol="SPY"))
    outage.proxy.start()
    latest = outage.store.latest_findings()
    assert [(f.symbol, f.score) for f in latest] == [("SPY", 2.0), ("QQQ", 1.0), ("SPY", 0.0)]
    assert all(f.id is not None for f in latest)
    assert outage.store.buffered_findings == 0
    assert [(s, v) for _, s, v in outage.rows_in_db()] == [("SPY", 0.0), ("QQQ", 1.0), ("SPY", 2.0)]


def test_the_next_add_after_recovery_writes_the_buffer_first(outage: Outage) -> None:
    outage.proxy.stop()
    buffered = outage.store.add_finding(finding(1))
    outage.proxy.start()
    fresh = outage.store.add_finding(finding(2))
    assert buffered.id is not None
    assert fresh.id is not None
    assert buffered.id < fresh.id
    assert [v for _, _, v in outage.rows_in_db()] == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("outage", [3], indirect=True)
def test_a_full_buffer_drops_the_oldest_and_counts_them(outage: Outage) -> None:
    outage.proxy.stop()
    for i in range(1, 6):
        outage.store.add_finding(finding(i))
    assert (outage.store.buffered_findings, outage.store.findings_dropped) == (3, 2)
    assert [f.score for f in outage.store.latest_findings()] == [5.0, 4.0, 3.0]


def test_a_bad_write_while_up_is_raised_not_buffered(outage: Outage) -> None:
    too_long = Finding(ts_utc=T0, agent="a", symbol="SPY", score=1.0, label="x" * 500)
    with pytest.raises(DataError):
        outage.store.add_finding(too_long)
    assert outage.store.buffered_findings == 0


# ------------------------------------------------------------------------------ SQLite specifics


def test_sqlite_creates_the_parent_directory_and_runs_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "montalaq.db"
    with Store(f"sqlite:///{path}") as s:
        s.latest_findings()
    # WAL is a property of the file: a plain connection, without the store's settings, sees it.
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_two_processes_writing_one_sqlite_file_at_once_both_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    with Store(url) as s:
        s.ensure_schema()
    n = 60
    reports = run_processes(writer_worker, [(url, "AAA", n), (url, "BBB", n)])
    assert reports == [0, 0]  # nothing went to the in-memory fallback: every write landed
    with Store(url) as s, s.engine.connect() as conn:
        findings: dict[str, int] = dict(
            conn.execute(text("SELECT symbol, count(*) FROM findings GROUP BY symbol")).all()
        )
        analyses = conn.execute(text("SELECT count(*) FROM trade_analysis")).scalar_one()
    assert findings == {"AAA": n, "BBB": n}
    assert analyses == 2 * n


def test_store_rejects_a_findings_buffer_below_one() -> None:
    with pytest.raises(ValueError, match="findings_buffer"):
        Store("sqlite:///:memory:", findings_buffer=0)


def test_database_unavailable_tells_an_unreachable_database_from_a_bad_statement() -> None:
    from sqlalchemy import exc as sa_exc

    from montalaq.store import database_unavailable

    assert database_unavailable(sa_exc.OperationalError("SELECT 1", {}, ConnectionError("refused")))
    assert database_unavailable(sa_exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached"))
    invalidated = sa_exc.DBAPIError("SELECT 1", {}, OSError("reset"), connection_invalidated=True)
    assert database_unavailable(invalidated)
    assert not database_unavailable(sa_exc.DBAPIError("SELECT 1", {}, ValueError("bad")))
    assert not database_unavailable(sa_exc.IntegrityError("INSERT", {}, ValueError("duplicate key")))
    assert not database_unavailable(ValueError("not a database error"))
