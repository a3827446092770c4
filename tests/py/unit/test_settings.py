"""Settings from the environment (docs/semantics.md, Settings): defaults, every variable, bad values,
secrets."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from pydantic import SecretStr

from montalaq.settings import Settings, SettingsError


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No montalaq variable of the developer's or CI's environment leaks into a test."""
    names = {n.upper() for n in Settings.model_fields}
    for key in list(os.environ):
        if key.upper() in names:
            monkeypatch.delenv(key)


def plain(value: Any) -> Any:
    """SecretStr values (and lists of them) as their plain text, for comparisons."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


# ------------------------------------------------------------------------------ defaults

SPEC_DEFAULTS = {
    "analysis_api_cache_ttl": 30.0,
    "analysis_notify_threshold": 70.0,
    "analysis_notify_dedupe_sec": 900.0,
    "notify_rate_limit_per_min": 60,
    "kpi_rollup_interval_sec": 60.0,
    "escalation_eval_interval_sec": 60.0,
    "circuit_breaker_interval_sec": 60.0,
    "breaker_auto_close_cycles": 0,
    "ts_entry": 0.6,
    "ts_exit": 0.5,
    "ts_persist": 3,
    "ts_weights": [0.02, 0.03, 0.03, 0.01, 0.2],
    "throttle_window_startup_sec": 3600.0,
    "throttle_window_websocket_sec": 3600.0,
    "throttle_window_broker_sec": 1800.0,
    "throttle_window_database_sec": 3600.0,
    "throttle_window_default_sec": 3600.0,
    "throttle_aggregation_sec": 60.0,
    "notify_dry_run": False,
    "notify_email_enabled": False,
    "notify_webhook_enabled": False,
    "notify_slack_enabled": False,
    "notify_telegram_enabled": False,
    "notify_discord_enabled": False,
    "database_url": None,
    "redis_url": None,
    "guard_backend": "memory",
    "guard_redis_prefix": "montalaq:",
    "watchlist_path": None,
    "api_token": None,
    "api_host": "127.0.0.1",
    "api_port": 8000,
    "monitor_sentiment_errors_per_hour": 10.0,
    "monitor_teacher_model_max_age_hours": 24.0,
    "monitor_student_model_max_age_hours": 24.0,
    "monitor_heartbeat_max_age_sec": 120.0,
    "monitor_daily_loss_max_pct": 5.0,
    "alert_retention_days": 90.0,
    "metrics_retention_days": 30.0,
    "alerts_dir": "logs/alerts",
    "metrics_dir": "data/monitoring",
    "startup_check_retries": 3,
    "startup_backoff_base_sec": 30.0,
    "waiting_recheck_sec": 300.0,
    "waiting_status_sec": 3600.0,
    "shutdown_budget_sec": 9.0,
    "monitor_enabled": True,
    "runtime_failure_cycles": 3,
    "runtime_failure_min_sec": 10.0,
    "state_snapshot_interval_sec": 30.0,
    "db_connect_timeout_sec": 5.0,
    "db_statement_timeout_sec": 30.0,
    "provider": None,
    "ts_interval": 60.0,
    "ts_mtf_weights": [0.2, 0.3, 0.5],
    "feature_bars": False,
    "feature_new_trend": False,
    "feature_reversal": False,
    "feature_liquidity": False,
    "macro_windows": [],
    "macro_window_minutes": 30.0,
    "macro_rvol_min": 2.0,
    "macro_interval_sec": 60.0,
    "slack_analysis_only": False,
    "alert_verbose": True,
    "binance_ws_url": "wss://stream.binance.com:9443",
    "twelvedata_ws_url": "wss://ws.twelvedata.com/v1/quotes/price",
    "alltick_ws_url": "wss://quote.alltick.io/quote-stock-b-ws-api",
    "market_calendar": "24/7",
    "llm_enable": False,
    "openai_model": "gpt-4o-mini",
    "openai_api_key": None,
    "openai_base_url": None,
    "llm_min_interval": 300.0,
    "llm_alert_min_conf": 0.8,
    "llm_analyst_min_score": 0.7,
    "llm_timeout_sec": 20.0,
}


@pytest.mark.parametrize(("field", "expected"), SPEC_DEFAULTS.items(), ids=list(SPEC_DEFAULTS))
def test_default_matches_the_spec(field: str, expected: Any) -> None:
    assert getattr(Settings.from_env({}), field) == expected


def test_without_database_url_the_database_is_the_sqlite_file() -> None:
    assert Settings.from_env({}).database_url_value == "sqlite:///data/montalaq.db"


# ------------------------------------------------------------------------------ every variable is read

CHANNEL_EMAIL = {"NOTIFY_EMAIL_FROM": "bot@example.org", "NOTIFY_EMAIL_TO": "ops@example.org"}
# (environment, field, value read). Companion variables make each line valid on its own.
READS: list[tuple[dict[str, str], str, Any]] = [
    ({"ANALYSIS_API_CACHE_TTL": "5"}, "analysis_api_cache_ttl", 5.0),
    ({"ANALYSIS_NOTIFY_THRESHOLD": "82.5"}, "analysis_notify_threshold", 82.5),
    ({"ANALYSIS_NOTIFY_DEDUPE_SEC": "120"}, "analysis_notify_dedupe_sec", 120.0),
    ({"NOTIFY_RATE_LIMIT_PER_MIN": "10"}, "notify_rate_limit_per_min", 10),
    ({"NOTIFY_TIMEOUT_SEC": "2.5"}, "notify_timeout_sec", 2.5),
    ({"NOTIFY_RETRY_MAX_ATTEMPTS": "7"}, "notify_retry_max_attempts", 7),
    ({"NOTIFY_RETRY_BASE_SEC": "0.25"}, "notify_retry_base_sec", 0.25),
    ({"NOTIFY_RETRY_MAX_DELAY_SEC": "30"}, "notify_retry_max_delay_sec", 30.0),
    ({"NOTIFY_BREAKER_FAILURES": "9"}, "notify_breaker_failures", 9),
    ({"NOTIFY_BREAKER_WINDOW_SEC": "15"}, "notify_breaker_window_sec", 15.0),
    ({"NOTIFY_BREAKER_COOLDOWN_SEC": "45"}, "notify_breaker_cooldown_sec", 45.0),
    ({"NOTIFY_EMAIL_ENABLED": "true", **CHANNEL_EMAIL}, "notify_email_enabled", True),
    ({"NOTIFY_EMAIL_SMTP_HOST": "smtp.example.org"}, "notify_email_smtp_host", "smtp.example.org"),
    ({"NOTIFY_EMAIL_SMTP_PORT": "587"}, "notify_email_smtp_port", 587),
    ({"NOTIFY_EMAIL_FROM": "bot@example.org"}, "notify_email_from", "bot@example.org"),
    (
        {"NOTIFY_EMAIL_TO": "a@example.org, b@example.org"},
        "notify_email_to",
        ["a@example.org", "b@example.org"],
    ),
    ({"NOTIFY_EMAIL_USERNAME": "bot"}, "notify_email_username", "bot"),
    ({"NOTIFY_EMAIL_PASSWORD": "pw"}, "notify_email_password", "pw"),
    ({"NOTIFY_EMAIL_TLS": "starttls"}, "notify_email_tls", "starttls"),
    (
        {"NOTIFY_WEBHOOK_ENABLED": "1", "NOTIFY_WEBHOOK_URL": "https://h.example/x"},
        "notify_webhook_enabled",
        True,
    ),
    ({"NOTIFY_WEBHOOK_URL": "https://h.example/x"}, "notify_webhook_url", "https://h.example/x"),
    (
        {"NOTIFY_SLACK_ENABLED": "yes", "NOTIFY_SLACK_WEBHOOK_URL": "https://s.example"},
        "notify_slack_enabled",
        True,
    ),
    ({"NOTIFY_SLACK_WEBHOOK_URL": "https://s.example"}, "notify_slack_webhook_url", "https://s.example"),
    (
        {
            "NOTIFY_TELEGRAM_ENABLED": "on",
            "NOTIFY_TELEGRAM_BOT_TOKEN": "1:t",
            "NOTIFY_TELEGRAM_CHAT_ID": "42",
        },
        "notify_telegram_enabled",
        True,
    ),
    ({"NOTIFY_TELEGRAM_BOT_TOKEN": "1:t"}, "notify_telegram_bot_token", "1:t"),
    ({"NOTIFY_TELEGRAM_CHAT_ID": "-100"}, "notify_telegram_chat_id", "-100"),
    ({"NOTIFY_TELEGRAM_API_BASE": "http://127.0.0.1:9/"}, "notify_telegram_api_base", "http://127.0.0.1:9"),
    (
        {"NOTIFY_DISCORD_ENABLED": "TRUE", "NOTIFY_DISCORD_WEBHOOK_URL": "https://d.example"},
        "notify_discord_enabled",
        True,
    ),
    ({"NOTIFY_DISCORD_WEBHOOK_URL": "https://d.example"}, "notify_discord_webhook_url", "https://d.example"),
    (
        {"NOTIFY_APPRISE_URLS": "json://a.example, mailto://b"},
        "notify_apprise_urls",
        ["json://a.example", "mailto://b"],
    ),
    ({"NOTIFY_DRY_RUN": "1"}, "notify_dry_run", True),
    ({"THROTTLE_WINDOW_STARTUP_SEC": "10"}, "throttle_window_startup_sec", 10.0),
    ({"THROTTLE_WINDOW_WEBSOCKET_SEC": "11"}, "throttle_window_websocket_sec", 11.0),
    ({"THROTTLE_WINDOW_BROKER_SEC": "12"}, "throttle_window_broker_sec", 12.0),
    ({"THROTTLE_WINDOW_DATABASE_SEC": "13"}, "throttle_window_database_sec", 13.0),
    ({"THROTTLE_WINDOW_DEFAULT_SEC": "14"}, "throttle_window_default_sec", 14.0),
    ({"THROTTLE_AGGREGATION_SEC": "0"}, "throttle_aggregation_sec", 0.0),
    ({"KPI_ROLLUP_INTERVAL_SEC": "300"}, "kpi_rollup_interval_sec", 300.0),
    ({"ESCALATION_EVAL_INTERVAL_SEC": "30"}, "escalation_eval_interval_sec", 30.0),
    ({"CIRCUIT_BREAKER_INTERVAL_SEC": "15"}, "circuit_breaker_interval_sec", 15.0),
    ({"BREAKER_AUTO_CLOSE_CYCLES": "5"}, "breaker_auto_close_cycles", 5),
    ({"BREAKER_AUTO_CLOSE_CYCLES": "0"}, "breaker_auto_close_cycles", 0),
    ({"API_HOST": "0.0.0.0"}, "api_host", "0.0.0.0"),
    ({"API_PORT": "0"}, "api_port", 0),
    ({"API_TOKEN": "s3cret-token"}, "api_token", "s3cret-token"),
    ({"WATCHLIST_PATH": "/etc/m/watch.yaml"}, "watchlist_path", "/etc/m/watch.yaml"),
    ({"SYMBOL": "SPY, BTCUSDT ,QQQ"}, "symbol", ["SPY", "BTCUSDT", "QQQ"]),
    ({"TIMEFRAMES": "1m,1h"}, "timeframes", ["1m", "1h"]),
    ({"TS_ENTRY": "0.7"}, "ts_entry", 0.7),
    ({"TS_EXIT": "0.4"}, "ts_exit", 0.4),
    ({"TS_PERSIST": "5"}, "ts_persist", 5),
    ({"TS_WEIGHTS": "0.1, 0.2,0.3,0.4 ,0.5"}, "ts_weights", [0.1, 0.2, 0.3, 0.4, 0.5]),
    ({"DATABASE_URL": "postgresql://u:p@db.example/m"}, "database_url", "postgresql://u:p@db.example/m"),
    ({"MONTALAQ_DB_PATH": "/var/lib/m.db"}, "montalaq_db_path", "/var/lib/m.db"),
    ({"REDIS_URL": "redis://127.0.0.1:6379/2"}, "redis_url", "redis://127.0.0.1:6379/2"),
    ({"GUARD_BACKEND": "redis", "REDIS_URL": "redis://127.0.0.1:6379/0"}, "guard_backend", "redis"),
    ({"GUARD_REDIS_PREFIX": "desk-a:"}, "guard_redis_prefix", "desk-a:"),
    ({"MONITOR_SENTIMENT_ERRORS_PER_HOUR": "4"}, "monitor_sentiment_errors_per_hour", 4.0),
    ({"MONITOR_TEACHER_MODEL_MAX_AGE_HOURS": "48"}, "monitor_teacher_model_max_age_hours", 48.0),
    ({"MONITOR_STUDENT_MODEL_MAX_AGE_HOURS": "12"}, "monitor_student_model_max_age_hours", 12.0),
    ({"MONITOR_HEARTBEAT_MAX_AGE_SEC": "30"}, "monitor_heartbeat_max_age_sec", 30.0),
    ({"MONITOR_DAILY_LOSS_MAX_PCT": "2.5"}, "monitor_daily_loss_max_pct", 2.5),
    ({"MONITOR_RULES_FILE": "/etc/m/rules.yaml"}, "monitor_rules_file", "/etc/m/rules.yaml"),
    ({"MONITOR_SNAPSHOT_INTERVAL_SEC": "10"}, "monitor_snapshot_interval_sec", 10.0),
    ({"ALERTS_DIR": "/var/log/m"}, "alerts_dir", "/var/log/m"),
    ({"METRICS_DIR": "/var/lib/m"}, "metrics_dir", "/var/lib/m"),
    ({"ALERT_RETENTION_DAYS": "30"}, "alert_retention_days", 30.0),
    ({"METRICS_RETENTION_DAYS": "7"}, "metrics_retention_days", 7.0),
    ({"STARTUP_CHECK_RETRIES": "5"}, "startup_check_retries", 5),
    ({"STARTUP_BACKOFF_BASE_SEC": "2"}, "startup_backoff_base_sec", 2.0),
    ({"WAITING_RECHECK_SEC": "60"}, "waiting_recheck_sec", 60.0),
    ({"WAITING_STATUS_SEC": "600"}, "waiting_status_sec", 600.0),
    ({"SHUTDOWN_BUDGET_SEC": "8"}, "shutdown_budget_sec", 8.0),
    ({"MONITOR_ENABLED": "false"}, "monitor_enabled", False),
    ({"RUNTIME_FAILURE_CYCLES": "5"}, "runtime_failure_cycles", 5),
    ({"RUNTIME_FAILURE_MIN_SEC": "0"}, "runtime_failure_min_sec", 0.0),
    ({"STATE_SNAPSHOT_INTERVAL_SEC": "5"}, "state_snapshot_interval_sec", 5.0),
    ({"DB_CONNECT_TIMEOUT_SEC": "2"}, "db_connect_timeout_sec", 2.0),
    ({"DB_STATEMENT_TIMEOUT_SEC": "10"}, "db_statement_timeout_sec", 10.0),
    ({"TS_INTERVAL": "30"}, "ts_interval", 30.0),
    ({"TS_MTF_WEIGHTS": "0.1, 0.3, 0.6"}, "ts_mtf_weights", [0.1, 0.3, 0.6]),
    ({"FEATURE_BARS": "true"}, "feature_bars", True),
    ({"FEATURE_NEW_TREND": "true"}, "feature_new_trend", True),
    ({"FEATURE_REVERSAL": "true"}, "feature_reversal", True),
    ({"FEATURE_LIQUIDITY": "true"}, "feature_liquidity", True),
    (
        {"MACRO_WINDOWS": "08:30 America/New_York, 14:00 America/New_York"},
        "macro_windows",
        ["08:30 America/New_York", "14:00 America/New_York"],
    ),
    ({"MACRO_WINDOW_MINUTES": "15"}, "macro_window_minutes", 15.0),
    ({"MACRO_RVOL_MIN": "3"}, "macro_rvol_min", 3.0),
    ({"MACRO_INTERVAL_SEC": "20"}, "macro_interval_sec", 20.0),
    (
        {"ALERT_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x"},
        "alert_webhook_url",
        "https://hooks.slack.com/services/T/B/x",
    ),
    ({"SLACK_ANALYSIS_ONLY": "true"}, "slack_analysis_only", True),
    ({"ALERT_VERBOSE": "false"}, "alert_verbose", False),
    ({"PROVIDER": "Binance"}, "provider", "binance"),
    ({"BINANCE_WS_URL": "ws://gw:9"}, "binance_ws_url", "ws://gw:9"),
    ({"BINANCE_REST_URL": "http://gw:8"}, "binance_rest_url", "http://gw:8"),
    ({"BINANCE_API_KEY": "bk"}, "binance_api_key", "bk"),
    ({"TWELVEDATA_WS_URL": "wss://td/v1/quotes/price"}, "twelvedata_ws_url", "wss://td/v1/quotes/price"),
    ({"TWELVEDATA_REST_URL": "https://td"}, "twelvedata_rest_url", "https://td"),
    ({"TWELVEDATA_API_KEY": "tk"}, "twelvedata_api_key", "tk"),
    (
        {"ALLTICK_WS_URL": "wss://quote.alltick.io/quote-b-ws-api"},
        "alltick_ws_url",
        "wss://quote.alltick.io/quote-b-ws-api",
    ),
    ({"ALLTICK_API_KEY": "at"}, "alltick_api_key", "at"),
    ({"PROVIDER_IDLE_TIMEOUT_SEC": "15"}, "provider_idle_timeout_sec", 15.0),
    ({"PROVIDER_MAX_PENDING": "5000"}, "provider_max_pending", 5000),
    ({"MARKET_CALENDAR": "XNYS"}, "market_calendar", "XNYS"),
    ({"MARKET_CALENDARS": "SPY:XNYS, RELIANCE:XNSE"}, "market_calendars", ["SPY:XNYS", "RELIANCE:XNSE"]),
    ({"LLM_ENABLE": "true", "OPENAI_BASE_URL": "http://127.0.0.1:8000/v1"}, "llm_enable", True),
    ({"OPENAI_MODEL": "llama3.1:8b"}, "openai_model", "llama3.1:8b"),
    ({"OPENAI_API_KEY": "sk-test"}, "openai_api_key", "sk-test"),
    ({"OPENAI_BASE_URL": "http://127.0.0.1:11434/v1"}, "openai_base_url", "http://127.0.0.1:11434/v1"),
    ({"LLM_MIN_INTERVAL": "60"}, "llm_min_interval", 60.0),
    ({"LLM_ALERT_MIN_CONF": "0.9"}, "llm_alert_min_conf", 0.9),
    ({"LLM_ANALYST_MIN_SCORE": "0.8"}, "llm_analyst_min_score", 0.8),
    ({"LLM_TIMEOUT_SEC": "5"}, "llm_timeout_sec", 5.0),
]


@pytest.mark.parametrize(("env", "field", "expected"), READS, ids=[f for _, f, _ in READS])
def test_each_variable_is_read(env: dict[str, str], field: str, expected: Any) -> None:
    assert plain(getattr(Settings.from_env(env), field)) == expected


def test_every_setting_has_a_line_in_the_reads_table() -> None:
    assert {f for _, f, _ in READS} == set(Settings.model_fields)


@pytest.mark.parametrize("raw", ["true", "1", "yes", "on", "TRUE", "Yes"])
def test_true_booleans(raw: str) -> None:
    assert Settings.from_env({"NOTIFY_DRY_RUN": raw}).notify_dry_run is True


@pytest.mark.parametrize("raw", ["false", "0", "no", "off", "FALSE", "No"])
def test_false_booleans(raw: str) -> None:
    assert Settings.from_env({"NOTIFY_DRY_RUN": raw}).notify_dry_run is False


@pytest.mark.parametrize(
    "name", ["notify_rate_limit_per_min", "Notify_Rate_Limit_Per_Min", "NOTIFY_RATE_LIMIT_PER_MIN"]
)
def test_variable_names_are_case_insensitive(name: str) -> None:
    assert Settings.from_env({name: "7"}).notify_rate_limit_per_min == 7


def test_unknown_variables_are_ignored() -> None:
    assert Settings.from_env({"PATH": "/bin", "MONTALAQ_UNKNOWN": "x"}) == Settings.from_env({})


def test_database_url_of_postgres_uses_the_psycopg_driver() -> None:
    s = Settings.from_env({"DATABASE_URL": "postgres://u@db.example:5432/m"})
    assert s.database_url_value == "postgresql+psycopg://u@db.example:5432/m"


def test_montalaq_db_path_moves_the_sqlite_file() -> None:
    assert Settings.from_env({"MONTALAQ_DB_PATH": "/srv/m.db"}).database_url_value == "sqlite:////srv/m.db"


# ------------------------------------------------------------------------------ the process environment


def test_settings_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_RATE_LIMIT_PER_MIN", "12")
    monkeypatch.setenv("SYMBOL", "AAPL,MSFT")
    s = Settings()
    assert (s.notify_rate_limit_per_min, s.symbol) == (12, ["AAPL", "MSFT"])


def test_from_env_without_a_mapping_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ts_persist", "8")
    assert Settings.from_env().ts_persist == 8


def test_a_mapping_given_to_from_env_replaces_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Regression: from_env(mapping) also read os.environ, so a DATABASE_URL or NOTIFY_DRY_RUN
    of the shell leaked into settings built from an explicit mapping."""
    monkeypatch.setenv("NOTIFY_DRY_RUN", "1")
    monkeypatch.setenv("SYMBOL", "QQQ")
    s = Settings.from_env({"TS_PERSIST": "4"})
    assert (s.notify_dry_run, s.symbol, s.ts_persist) == (False, ["SPY"], 4)


def test_settings_of_the_process_environment_raise_settings_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_RATE_LIMIT_PER_MIN", "ten")
    with pytest.raises(SettingsError, match="NOTIFY_RATE_LIMIT_PER_MIN"):
        Settings()


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


# ------------------------------------------------------------------------------ invalid values

# (environment, variable the message names, fragment of the expected form)
INVALID: list[tuple[dict[str, str], str, str]] = [
    ({"NOTIFY_RATE_LIMIT_PER_MIN": "ten"}, "NOTIFY_RATE_LIMIT_PER_MIN", "valid integer"),
    ({"NOTIFY_RATE_LIMIT_PER_MIN": "0"}, "NOTIFY_RATE_LIMIT_PER_MIN", "greater than or equal to 1"),
    ({"NOTIFY_RATE_LIMIT_PER_MIN": "1.5"}, "NOTIFY_RATE_LIMIT_PER_MIN", "integer"),
    ({"ANALYSIS_NOTIFY_THRESHOLD": "101"}, "ANALYSIS_NOTIFY_THRESHOLD", "less than or equal to 100"),
    ({"ANALYSIS_NOTIFY_THRESHOLD": "-1"}, "ANALYSIS_NOTIFY_THRESHOLD", "greater than or equal to 0"),
    ({"ANALYSIS_API_CACHE_TTL": "soon"}, "ANALYSIS_API_CACHE_TTL", "valid number"),
    ({"ANALYSIS_API_CACHE_TTL": "inf"}, "ANALYSIS_API_CACHE_TTL", "finite number"),
    ({"ANALYSIS_NOTIFY_DEDUPE_SEC": "0"}, "ANALYSIS_NOTIFY_DEDUPE_SEC", "greater than 0"),
    ({"ANALYSIS_NOTIFY_DEDUPE_SEC": "nan"}, "ANALYSIS_NOTIFY_DEDUPE_SEC", "finite number"),
    ({"THROTTLE_WINDOW_BROKER_SEC": "-5"}, "THROTTLE_WINDOW_BROKER_SEC", "greater than 0"),
    ({"KPI_ROLLUP_INTERVAL_SEC": "Infinity"}, "KPI_ROLLUP_INTERVAL_SEC", "finite number"),
    ({"BREAKER_AUTO_CLOSE_CYCLES": "-1"}, "BREAKER_AUTO_CLOSE_CYCLES", "greater than or equal to 0"),
    ({"API_PORT": "70000"}, "API_PORT", "less than or equal to 65535"),
    ({"NOTIFY_EMAIL_SMTP_PORT": "70000"}, "NOTIFY_EMAIL_SMTP_PORT", "less than or equal to 65535"),
    ({"NOTIFY_EMAIL_TLS": "tls"}, "NOTIFY_EMAIL_TLS", "'none', 'starttls' or 'ssl'"),
    ({"NOTIFY_DRY_RUN": "maybe"}, "NOTIFY_DRY_RUN", "valid boolean"),
    ({"GUARD_BACKEND": "postgres"}, "GUARD_BACKEND", "'memory' or 'redis'"),
    ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL", "redis://"),
    ({"DATABASE_URL": "mysql://u@db.example/m"}, "DATABASE_URL", "sqlite:// or postgresql://"),
    ({"DATABASE_URL": "not a url"}, "DATABASE_URL", "postgresql://user@host:5432/db"),
    ({"NOTIFY_TELEGRAM_API_BASE": "ftp://x"}, "NOTIFY_TELEGRAM_API_BASE", "http:// or https://"),
    ({"TS_ENTRY": "1.5"}, "TS_ENTRY", "less than 1"),
    ({"TS_PERSIST": "three"}, "TS_PERSIST", "valid integer"),
    ({"TS_WEIGHTS": "0.1,0.2"}, "TS_WEIGHTS", "expected 5 comma-separated weights"),
    ({"TS_WEIGHTS": "0.1,0.2,0.3,0.4,0.5,0.6"}, "TS_WEIGHTS", "expected 5 comma-separated weights"),
    ({"TS_WEIGHTS": "0.1,0.2,x,0.4,0.5"}, "TS_WEIGHTS", "valid number"),
    ({"TS_EXIT": "0.7"}, "TS_EXIT", "<= TS_ENTRY"),
    ({"TS_ENTRY": "0.3", "TS_EXIT": "0.4"}, "TS_EXIT", "<= TS_ENTRY (0.3)"),
    ({"TIMEFRAMES": "1m,2x"}, "TIMEFRAMES", "'2x' is not a timeframe"),
    ({"SYMBOL": " , "}, "SYMBOL", "at least one symbol"),
    (
        {"NOTIFY_EMAIL_ENABLED": "true", "NOTIFY_EMAIL_FROM": "a@b.c"},
        "NOTIFY_EMAIL_TO",
        "NOTIFY_EMAIL_ENABLED",
    ),
    (
        {"NOTIFY_EMAIL_ENABLED": "true", "NOTIFY_EMAIL_TO": "a@b.c"},
        "NOTIFY_EMAIL_FROM",
        "NOTIFY_EMAIL_ENABLED",
    ),
    ({"NOTIFY_WEBHOOK_ENABLED": "1"}, "NOTIFY_WEBHOOK_URL", "required when NOTIFY_WEBHOOK_ENABLED"),
    ({"NOTIFY_SLACK_ENABLED": "1"}, "NOTIFY_SLACK_WEBHOOK_URL", "required when NOTIFY_SLACK_ENABLED"),
    (
        {"NOTIFY_TELEGRAM_ENABLED": "1", "NOTIFY_TELEGRAM_CHAT_ID": "42"},
        "NOTIFY_TELEGRAM_BOT_TOKEN",
        "required",
    ),
    (
        {"NOTIFY_TELEGRAM_ENABLED": "1", "NOTIFY_TELEGRAM_BOT_TOKEN": "1:t"},
        "NOTIFY_TELEGRAM_CHAT_ID",
        "required",
    ),
    ({"NOTIFY_DISCORD_ENABLED": "1"}, "NOTIFY_DISCORD_WEBHOOK_URL", "required when NOTIFY_DISCORD_ENABLED"),
    ({"GUARD_BACKEND": "redis"}, "REDIS_URL", "required when GUARD_BACKEND=redis"),
]


@pytest.mark.parametrize(
    ("env", "variable", "form"), INVALID, ids=[f"{v}={next(iter(e.values()))}" for e, v, _ in INVALID]
)
def test_invalid_value_names_the_variable_and_the_expected_form(
    env: dict[str, str], variable: str, form: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    message = str(caught.value)
    assert f"{variable}:" in message
    assert form in message


def test_every_bad_variable_is_named_in_one_error() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"TS_PERSIST": "x", "REDIS_URL": "http://h", "NOTIFY_EMAIL_TLS": "tls"})
    assert all(name in str(caught.value) for name in ("TS_PERSIST:", "REDIS_URL:", "NOTIFY_EMAIL_TLS:"))


# ------------------------------------------------------------------------------ secrets

SECRETS = {
    "NOTIFY_SLACK_WEBHOOK_URL": "https://hooks.slack.example/services/T0/B0/slacksecret1",
    "NOTIFY_TELEGRAM_BOT_TOKEN": "123456:tgsecret2",
    "NOTIFY_EMAIL_PASSWORD": "mailsecret3",
    "DATABASE_URL": "postgresql://app:dbsecret4@db.example:5432/montalaq",
    "NOTIFY_DISCORD_WEBHOOK_URL": "https://discord.example/api/webhooks/1/discordsecret5",
    "NOTIFY_WEBHOOK_URL": "https://hooks.example/webhooksecret6",
    "NOTIFY_APPRISE_URLS": "mailto://u:apprisesecret7@mail.example",
    "API_TOKEN": "apitokensecret8",
}
SECRET_WORDS = [
    "slacksecret1",
    "tgsecret2",
    "mailsecret3",
    "dbsecret4",
    "discordsecret5",
    "webhooksecret6",
    "apprisesecret7",
    "apitokensecret8",
]


def all_channels() -> Settings:
    return Settings.from_env(
        {
            **SECRETS,
            **CHANNEL_EMAIL,
            "NOTIFY_TELEGRAM_CHAT_ID": "42",
            **{f"NOTIFY_{c}_ENABLED": "true" for c in ("EMAIL", "WEBHOOK", "SLACK", "TELEGRAM", "DISCORD")},
        }
    )


def test_the_secrets_are_available_to_the_code_that_needs_them() -> None:
    s = all_channels()
    assert plain(s.notify_telegram_bot_token) == "123456:tgsecret2"
    assert s.database_url_value == "postgresql+psycopg://app:dbsecret4@db.example:5432/montalaq"


@pytest.mark.parametrize("render", [repr, str], ids=["repr", "str"])
def test_secrets_never_appear_in_repr_or_str(render: Any) -> None:
    text = render(all_channels())
    assert not [w for w in SECRET_WORDS if w in text]


def test_secrets_never_appear_in_describe() -> None:
    described = all_channels().describe()
    text = json.dumps(described, default=str)
    assert not [w for w in SECRET_WORDS if w in text]
    assert described["DATABASE_URL"] == "postgresql://app:***@db.example:5432/montalaq"
    assert described["NOTIFY_SLACK_WEBHOOK_URL"] == "***"
    assert described["NOTIFY_APPRISE_URLS"] == ["***"]


def test_describe_lists_every_variable() -> None:
    assert set(Settings.from_env({}).describe()) == {n.upper() for n in Settings.model_fields}


@pytest.mark.parametrize(
    "bad_url",
    [
        "mysql://app:dbsecret4@db.example/m",
        "postgresql//app:dbsecret4@db.example/m",
        "redis://app:dbsecret4@h/0",
    ],
)
def test_an_invalid_database_url_does_not_show_its_password(bad_url: str) -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL") as caught:
        Settings.from_env({"DATABASE_URL": bad_url})
    assert "dbsecret4" not in str(caught.value)


def test_an_error_in_another_variable_does_not_show_the_secrets() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**SECRETS, "TS_EXIT": "0.9", "TS_PERSIST": "x"})
    assert not [w for w in SECRET_WORDS if w in str(caught.value)]


def test_an_invalid_process_environment_does_not_show_the_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: Settings() raised pydantic's ValidationError, whose text carries the
    inputs (the DATABASE_URL with its password, and for a cross-field check every value)."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", "mysql://app:dbsecret4@db.example/m")
    monkeypatch.setenv("TS_EXIT", "0.9")
    with pytest.raises(SettingsError) as caught:
        Settings()
    assert "DATABASE_URL:" in str(caught.value)
    assert not [w for w in SECRET_WORDS if w in str(caught.value)]


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_api_token_means_no_token(blank: str) -> None:
    assert Settings.from_env({"API_TOKEN": blank}).api_token is None
    assert Settings.from_env({"API_TOKEN": "s3cret"}).api_token is not None


# ------------------------------------------------------------------------------ prefix and typos


def test_every_setting_is_also_read_with_a_montalaq_prefix_which_wins() -> None:
    s = Settings.from_env(
        {
            "SYMBOL": "SPY",
            "MONTALAQ_SYMBOL": "QQQ,IWM",
            "DATABASE_URL": "postgresql://host-app@db/app",
            "MONTALAQ_DATABASE_URL": "sqlite:///m.db",
            "MONTALAQ_notify_rate_limit_per_min": "7",
        }
    )
    assert s.symbol == ["QQQ", "IWM"]
    assert s.database_url_value == "sqlite:///m.db"
    assert s.notify_rate_limit_per_min == 7
    assert Settings.from_env({"MONTALAQ_DB_PATH": "x.db"}).montalaq_db_path == "x.db"  # its own name


def test_the_process_environment_takes_the_prefix_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_PORT", "8100")
    monkeypatch.setenv("MONTALAQ_API_PORT", "8200")
    assert Settings.from_env().api_port == 8200


def test_a_mistyped_name_is_warned_about_once_naming_the_setting(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="montalaq.settings"):
        s = Settings.from_env({"SYMBOLS": "QQQ", "MONTALAQ_SYMBLO": "X", "PATH": "/bin", "HOME": "/root"})
        Settings.from_env({"SYMBOLS": "QQQ"})
    assert s.symbol == ["SPY"]  # ignored, as before -- but no longer silently
    messages = [r.getMessage() for r in caplog.records if r.name == "montalaq.settings"]
    assert messages == [
        "SYMBOLS is not a montalaq setting and is ignored; did you mean SYMBOL?",
        "MONTALAQ_SYMBLO is not a montalaq setting and is ignored; did you mean SYMBOL?",
    ]


def test_the_store_resolves_the_prefixed_database_url_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from montalaq.store.engine import resolve_url

    monkeypatch.setenv("DATABASE_URL", "postgresql://host-app@db/app")
    monkeypatch.setenv("MONTALAQ_DATABASE_URL", "sqlite:///m.db")
    assert resolve_url() == "sqlite:///m.db" == Settings.from_env().database_url_value
