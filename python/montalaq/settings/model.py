"""The Settings model: every field with its default and bounds, each field's checks wired
from ``rules.py``, and what the settings offer (``from_env``, ``describe``, the database
URL, a symbol's calendar). docs/semantics.md, "Settings" lists the variables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from montalaq.settings import environment, rules
from montalaq.settings.errors import SettingsError, explain
from montalaq.store.engine import DEFAULT_SQLITE_PATH, mask_url, resolve_url

CommaList = Annotated[list[str], NoDecode]

FloatList = Annotated[list[float], NoDecode]


class Settings(BaseSettings):
    """All of montalaq's settings; field ``foo_bar`` is environment variable ``FOO_BAR``."""

    # allow_inf_nan=False: "inf" or "nan" in a window, interval or weight is a wrong value
    # (docs/semantics.md, Time values in Python: every float is finite), rejected at start-up like any other.
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True, allow_inf_nan=False)

    # -- analysis API and signal notifications (docs/semantics.md, Notifications; docs/semantics.md, HTTP
    # API) ---------------------------
    analysis_api_cache_ttl: float = Field(default=30.0, ge=0, description="seconds the analysis API caches")
    analysis_notify_threshold: float = Field(
        default=70.0, ge=0, le=100, description="composite score that notifies"
    )
    analysis_notify_dedupe_sec: float = Field(
        default=900.0, gt=0, description="per-bar signal dedupe window, seconds"
    )

    # -- notifications --------------------------------------------------------------------
    notify_dry_run: bool = False
    notify_rate_limit_per_min: int = Field(default=60, ge=1, le=1_000_000)
    notify_timeout_sec: float = Field(default=10.0, gt=0, le=300)
    notify_retry_max_attempts: int = Field(default=3, ge=1, le=100)
    notify_retry_base_sec: float = Field(default=1.0, ge=0, le=3600)
    notify_retry_max_delay_sec: float = Field(default=60.0, ge=0, le=86_400)
    notify_breaker_failures: int = Field(default=5, ge=1, le=10_000)
    notify_breaker_window_sec: float = Field(default=60.0, gt=0)
    notify_breaker_cooldown_sec: float = Field(default=30.0, gt=0)

    notify_email_enabled: bool = False
    notify_email_smtp_host: str = "127.0.0.1"
    notify_email_smtp_port: int = Field(default=25, ge=1, le=65535)
    notify_email_from: str | None = None
    notify_email_to: CommaList = Field(default_factory=list)
    notify_email_username: str | None = None
    notify_email_password: SecretStr | None = None
    notify_email_tls: Literal["none", "starttls", "ssl"] = "none"

    notify_webhook_enabled: bool = False
    notify_webhook_url: SecretStr | None = None

    notify_slack_enabled: bool = False
    notify_slack_webhook_url: SecretStr | None = None

    notify_telegram_enabled: bool = False
    notify_telegram_bot_token: SecretStr | None = None
    notify_telegram_chat_id: str | None = None
    notify_telegram_api_base: str = "https://api.telegram.org"

    notify_discord_enabled: bool = False
    notify_discord_webhook_url: SecretStr | None = None

    notify_apprise_urls: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)

    # -- throttle windows per error type (docs/semantics.md, Guards), seconds -----------------------------
    throttle_window_startup_sec: float = Field(default=3600.0, gt=0)
    throttle_window_websocket_sec: float = Field(default=3600.0, gt=0)
    throttle_window_broker_sec: float = Field(default=1800.0, gt=0)
    throttle_window_database_sec: float = Field(default=3600.0, gt=0)
    throttle_window_default_sec: float = Field(default=3600.0, gt=0)
    throttle_aggregation_sec: float = Field(default=60.0, ge=0)

    # -- scheduling (docs/semantics.md, Celery) ----------------------------------------------------------
    kpi_rollup_interval_sec: float = Field(default=60.0, gt=0)
    escalation_eval_interval_sec: float = Field(default=60.0, gt=0)
    circuit_breaker_interval_sec: float = Field(default=60.0, gt=0)
    # docs/semantics.md, Health core: 0 = off (operator close only); N = close after N GREEN cycles, no fails.
    breaker_auto_close_cycles: int = Field(default=0, ge=0, le=1_000_000)

    # -- market and trend score (docs/semantics.md, Agents) -----------------------------------------------
    symbol: CommaList = Field(default_factory=lambda: ["SPY"])
    timeframes: CommaList = Field(default_factory=lambda: ["1m", "5m", "15m"])
    ts_entry: float = Field(default=0.6, gt=0, lt=1)
    ts_exit: float = Field(default=0.5, gt=0, lt=1)
    ts_persist: int = Field(default=3, ge=1, le=1000)
    ts_weights: FloatList = Field(default_factory=lambda: [0.02, 0.03, 0.03, 0.01, 0.2])
    ts_interval: float = Field(default=60.0, gt=0, le=86_400)  # seconds between trend_score runs
    # The 1m, 5m, 15m momentum weights of the multi-timeframe score (new_trend's score).
    ts_mtf_weights: FloatList = Field(default_factory=lambda: [0.2, 0.3, 0.5])

    # -- flag-switched agents (docs/semantics.md, "Agents") ----------------------------------
    feature_bars: bool = False  # the latest closed bar of each timeframe in every finding
    feature_new_trend: bool = False
    feature_reversal: bool = False
    feature_liquidity: bool = False
    macro_windows: CommaList = Field(default_factory=list)  # "08:30 America/New_York, ..."
    macro_window_minutes: float = Field(default=30.0, gt=0, le=1440)
    macro_rvol_min: float = Field(default=2.0, ge=0)
    macro_interval_sec: float = Field(default=60.0, gt=0, le=86_400)

    # -- alert formatting and routing (docs/operations.md, "Notifications") ---------------
    alert_webhook_url: SecretStr | None = None  # the Slack webhook when NOTIFY_SLACK_WEBHOOK_URL is unset
    slack_analysis_only: bool = False  # Slack gets analyses (signals, LLM analyses) and nothing else
    alert_verbose: bool = True  # chat messages carry their fields; false: title and text only

    # -- market data (docs/feeds.md) -------------------------------------------------------
    # PROVIDER: where trades come from. Unset: the bundled samples (a replay, said so in the
    # log and in every status row); binance/twelvedata/alltick: the live clients below.
    provider: Literal["binance", "twelvedata", "alltick", "replay", "simulated"] | None = None
    binance_ws_url: str = "wss://stream.binance.com:9443"
    binance_rest_url: str = "https://api.binance.com"
    binance_api_key: SecretStr | None = None
    twelvedata_ws_url: str = "wss://ws.twelvedata.com/v1/quotes/price"
    twelvedata_rest_url: str = "https://api.twelvedata.com"
    twelvedata_api_key: SecretStr | None = None
    alltick_ws_url: str = "wss://quote.alltick.io/quote-stock-b-ws-api"
    alltick_api_key: SecretStr | None = None
    provider_idle_timeout_sec: float = Field(default=60.0, gt=0, le=86_400)
    provider_max_pending: int = Field(default=1_000_000, ge=1, le=100_000_000)
    # Market calendars (docs/semantics.md, "Market calendars"): MARKET_CALENDAR for every
    # symbol, MARKET_CALENDARS=SPY:XNYS,RELIANCE:XNSE per symbol (wins); 24/7 by default.
    market_calendar: str = "24/7"
    market_calendars: CommaList = Field(default_factory=list)

    # -- LLM analyst (docs/llm.md) --------------------------------------------------------
    # Any OpenAI-compatible chat-completions server; a local one (vLLM, Ollama, llama.cpp)
    # needs OPENAI_BASE_URL and no key.
    llm_enable: bool = False
    openai_model: str = "gpt-4o-mini"
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    llm_min_interval: float = Field(default=300.0, gt=0, le=86_400)  # seconds between calls per symbol
    llm_alert_min_conf: float = Field(default=0.8, ge=0, le=1)  # answers this confident also notify
    llm_analyst_min_score: float = Field(default=0.7, ge=0)  # conviction a latest finding must reach
    llm_timeout_sec: float = Field(default=20.0, gt=0, le=600)  # per request

    # -- infrastructure -------------------------------------------------------------------
    database_url: SecretStr | None = None
    montalaq_db_path: str = DEFAULT_SQLITE_PATH
    redis_url: str | None = None
    guard_backend: Literal["memory", "redis"] = "memory"
    guard_redis_prefix: str = Field(default="montalaq:", min_length=1)  # Redis guard keys
    watchlist_path: str | None = None  # YAML of pairs, timeframes, provider (Celery, serve)

    # -- HTTP API (docs/semantics.md, HTTP API) -------------------------------------------------------
    # Bearer token for the POST endpoints; unset: `montalaq serve` makes one per run and
    # prints it in the dashboard URL, a mounted router refuses POSTs (403).
    api_token: SecretStr | None = None
    api_host: str = "127.0.0.1"  # loopback unless told otherwise (docs/semantics.md, HTTP API)
    api_port: int = Field(default=8000, ge=0, le=65535)  # 0: any free port

    # -- monitoring (docs/semantics.md, Monitoring): built-in rule thresholds, files, retention
    # -----------------
    # MONITOR_ENABLED: montalaq's own processes record each cycle's metrics (docs/operations.md).
    monitor_enabled: bool = True
    monitor_sentiment_errors_per_hour: float = Field(default=10.0, ge=0)
    monitor_teacher_model_max_age_hours: float = Field(default=24.0, ge=0)
    monitor_student_model_max_age_hours: float = Field(default=24.0, ge=0)
    monitor_heartbeat_max_age_sec: float = Field(default=120.0, ge=0)
    monitor_daily_loss_max_pct: float = Field(default=5.0, ge=0)
    monitor_rules_file: str | None = None
    monitor_snapshot_interval_sec: float = Field(default=60.0, gt=0)
    alerts_dir: str = "logs/alerts"
    metrics_dir: str = "data/monitoring"
    alert_retention_days: float = Field(default=90.0, gt=0)
    metrics_retention_days: float = Field(default=30.0, gt=0)

    # -- database timeouts: a stalled database is a failure, never a hang -----------------
    db_connect_timeout_sec: float = Field(default=5.0, gt=0, le=86_400)
    db_statement_timeout_sec: float = Field(default=30.0, gt=0, le=86_400)

    # -- lifecycle (docs/semantics.md, Lifecycle)
    # --------------------------------------------------------------
    startup_check_retries: int = Field(default=3, ge=0, le=100)
    startup_backoff_base_sec: float = Field(default=30.0, ge=0)
    waiting_recheck_sec: float = Field(default=300.0, gt=0)
    waiting_status_sec: float = Field(default=3600.0, gt=0)
    shutdown_budget_sec: float = Field(default=9.0, gt=0, le=300)
    # Run time (docs/semantics.md, "Lifecycle at run time"): a dependency failing in this
    # many consecutive cycles that observed it, for at least this long, moves ACTIVE ->
    # WAITING (ERROR at once when the failure is permanent).
    runtime_failure_cycles: int = Field(default=3, ge=1, le=1_000_000)
    runtime_failure_min_sec: float = Field(default=10.0, ge=0)
    # How often the one-process service saves the board and the error throttle (and at
    # shutdown), so a restart keeps open breakers, streaks and throttle windows.
    state_snapshot_interval_sec: float = Field(default=30.0, gt=0)

    # -- checks (rules.py): "before" sees the variable's text, "after" the typed value ------
    _split_lists = field_validator(
        "notify_email_to",
        "symbol",
        "timeframes",
        "ts_weights",
        "notify_apprise_urls",
        "market_calendars",
        "ts_mtf_weights",
        "macro_windows",
        mode="before",
    )(rules.split_commas)
    _blank_is_unset = field_validator("api_token", "openai_api_key", "openai_base_url", mode="before")(
        rules.blank_is_unset
    )
    _provider_name = field_validator("provider", mode="before")(rules.provider_name)
    _guard_backend = field_validator("guard_backend", mode="before")(rules.guard_backend)
    _ws_url = field_validator("binance_ws_url", "twelvedata_ws_url", "alltick_ws_url")(rules.ws_url)
    _rest_url = field_validator("binance_rest_url", "twelvedata_rest_url")(rules.rest_url)
    _telegram_api_base = field_validator("notify_telegram_api_base")(rules.telegram_api_base)
    _redis_url = field_validator("redis_url")(rules.redis_url)
    _database_url = field_validator("database_url")(rules.database_url)
    _market_calendar = field_validator("market_calendar")(rules.market_calendar)
    _market_calendars = field_validator("market_calendars")(rules.market_calendars)
    _symbols = field_validator("symbol")(rules.symbols)
    _timeframes = field_validator("timeframes")(rules.timeframes)
    _ts_weights = field_validator("ts_weights")(rules.ts_weights)
    _mtf_weights = field_validator("ts_mtf_weights")(rules.mtf_weights)
    _macro_windows = field_validator("macro_windows")(rules.macro_windows)
    _llm_base_url = field_validator("openai_base_url")(rules.llm_base_url)
    _llm_model = field_validator("openai_model")(rules.llm_model)
    # Across fields, in this order: the first failing rule is the one reported.
    _alert_webhook_is_slack = model_validator(mode="before")(rules.slack_from_alert_webhook)
    _llm_key_or_server = model_validator(mode="after")(rules.llm_key_or_server)
    _channels_complete = model_validator(mode="after")(rules.channels_complete)

    def __init__(self, **values: Any) -> None:
        # pydantic's own ValidationError shows each bad input (and, for the cross-field
        # checks, the whole input mapping): secrets included. Settings() raises the
        # scrubbed SettingsError instead, as from_env() does.
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError(explain(exc)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The process environment is read unless from_env() was given a mapping."""
        if environment.reading_mapping_only():
            return (init_settings,)
        return (init_settings, env_settings, dotenv_settings, file_secret_settings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``env`` (default: the process environment; a mapping given is the
        whole environment, os.environ is not read); SettingsError on bad values.

        Every setting is also read with a ``MONTALAQ_`` prefix, which wins over the plain
        name (``MONTALAQ_DATABASE_URL`` beside the host application's ``DATABASE_URL``). A
        name that looks like a mistyped setting (``SYMBOLS``, ``MONTALAQ_SYMBLO``) is
        warned about once, naming the setting it resembles (docs/semantics.md, Settings)."""
        given = environment.given_values(env, cls.model_fields)
        with environment.mapping_only():
            return cls(**given)

    def calendar_of(self, symbol: str) -> str:
        """The market calendar of ``symbol``: its MARKET_CALENDARS entry, else MARKET_CALENDAR."""
        for item in self.market_calendars:
            sym, _, cal = item.partition(":")
            if sym.strip() == symbol:
                return cal.strip()
        return self.market_calendar

    @property
    def database_url_value(self) -> str:
        """The database URL to connect to (``DATABASE_URL``, else SQLite at ``MONTALAQ_DB_PATH``)."""
        if self.database_url is not None:
            return resolve_url(self.database_url.get_secret_value())
        return f"sqlite:///{self.montalaq_db_path}"

    def describe(self) -> dict[str, Any]:
        """Every setting with secrets masked (safe to log or print)."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "database_url" and value is not None:
                value = mask_url(value.get_secret_value())
            elif isinstance(value, SecretStr):
                value = "***"
            elif isinstance(value, list) and value and isinstance(value[0], SecretStr):
                value = ["***"] * len(value)
            out[name.upper()] = value
        return out


__all__ = ["CommaList", "FloatList", "Settings"]
