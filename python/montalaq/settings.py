"""Settings from the environment (docs/semantics.md, Settings), with pydantic-settings.

Every variable is optional; the names are docs/semantics.md, Settings's (``ANALYSIS_NOTIFY_THRESHOLD``,
``NOTIFY_SLACK_ENABLED``, ``NOTIFY_RATE_LIMIT_PER_MIN``, ``DATABASE_URL``, ...). Load them
once at start-up::

    settings = Settings.from_env()          # os.environ; or from_env({"NOTIFY_DRY_RUN": "1"})

An invalid value raises :class:`SettingsError` (a ValueError) naming the variable and the
expected form, e.g. ``NOTIFY_RATE_LIMIT_PER_MIN: expected an integer >= 1, got 'ten'``.
Lists (``SYMBOL``, ``NOTIFY_EMAIL_TO``, ``TS_WEIGHTS``, ``NOTIFY_APPRISE_URLS``) are
comma-separated. Secrets (passwords, bot tokens, webhook URLs, a database URL's password)
are ``SecretStr``: masked in ``repr`` and never logged.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from montalaq.store.engine import DEFAULT_SQLITE_PATH, mask_url, resolve_url
from montalaq.timeframes import parse_timeframe

CommaList = Annotated[list[str], NoDecode]

FloatList = Annotated[list[float], NoDecode]

# Set while from_env(mapping) builds its Settings: the mapping replaces os.environ.
_MAPPING_ONLY: ContextVar[bool] = ContextVar("montalaq_settings_mapping_only", default=False)


class SettingsError(ValueError):
    """One or more environment variables have invalid values (each named in the message)."""


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


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
    )(_split)

    @field_validator("api_token", mode="before")
    @classmethod
    def _blank_token_is_unset(cls, v: Any) -> Any:
        # `API_TOKEN=` (or MONTALAQ={"API_TOKEN": os.environ.get("X", "")}) means "no token":
        # every consumer then refuses POSTs (403) or, for `montalaq serve`, generates one.
        if isinstance(v, str) and not v.strip():
            return None
        if isinstance(v, SecretStr) and not v.get_secret_value().strip():
            return None
        return v

    @field_validator("provider", mode="before")
    @classmethod
    def _provider_name(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip().lower()
            return v or None  # PROVIDER= means unset
        return v

    @field_validator("guard_backend", mode="before")
    @classmethod
    def _guard_backend(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("binance_ws_url", "twelvedata_ws_url", "alltick_ws_url")
    @classmethod
    def _ws_url(cls, v: str) -> str:
        if not v.startswith(("ws://", "wss://")):
            raise ValueError(f"expected a ws:// or wss:// URL, got {v!r}")
        return v

    @field_validator("binance_rest_url", "twelvedata_rest_url")
    @classmethod
    def _rest_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {v!r}")
        return v

    @field_validator("market_calendars")
    @classmethod
    def _calendars(cls, v: list[str]) -> list[str]:
        from montalaq.calendars import normalize

        out = []
        for item in v:
            sym, sep, cal = item.partition(":")
            if not sep or not sym.strip() or not cal.strip():
                raise ValueError(f"expected SYMBOL:CALENDAR items (e.g. SPY:XNYS), got {item!r}")
            out.append(f"{sym.strip()}:{normalize(cal)}")
        return out

    @field_validator("ts_mtf_weights")
    @classmethod
    def _mtf_weights(cls, v: list[float]) -> list[float]:
        if len(v) != 3 or not all(math.isfinite(w) for w in v):
            raise ValueError(f"expected three finite weights for 1m, 5m, 15m (e.g. 0.2,0.3,0.5), got {v}")
        return v

    @field_validator("macro_windows")
    @classmethod
    def _macro_windows(cls, v: list[str]) -> list[str]:
        from montalaq.market_agents import parse_windows

        parse_windows(v, 1.0)
        return v

    @field_validator("market_calendar")
    @classmethod
    def _calendar(cls, v: str) -> str:
        from montalaq.calendars import normalize

        return normalize(v)

    @field_validator("openai_api_key", "openai_base_url", mode="before")
    @classmethod
    def _llm_blank_is_unset(cls, v: Any) -> Any:
        # OPENAI_API_KEY= or OPENAI_BASE_URL= (a blank line of a .env) means "not set".
        if isinstance(v, str) and not v.strip():
            return None
        if isinstance(v, SecretStr) and not v.get_secret_value().strip():
            return None
        return v

    @field_validator("openai_base_url")
    @classmethod
    def _llm_base_url(cls, v: str | None) -> str | None:
        if v is not None and not v.strip().startswith(("http://", "https://")):
            raise ValueError(
                f"expected an http:// or https:// URL (e.g. http://127.0.0.1:8000/v1), got {v!r}"
            )
        return None if v is None else v.strip()

    @field_validator("openai_model")
    @classmethod
    def _llm_model(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("expected a model name, e.g. gpt-4o-mini")
        return v.strip()

    @model_validator(mode="after")
    def _llm_key_or_server(self) -> Settings:
        if self.llm_enable and self.openai_api_key is None and self.openai_base_url is None:
            raise ValueError(
                "OPENAI_API_KEY: required when LLM_ENABLE=true, unless OPENAI_BASE_URL names a "
                "server that needs no key"
            )
        return self

    def calendar_of(self, symbol: str) -> str:
        """The market calendar of ``symbol``: its MARKET_CALENDARS entry, else MARKET_CALENDAR."""
        for item in self.market_calendars:
            sym, _, cal = item.partition(":")
            if sym.strip() == symbol:
                return cal.strip()
        return self.market_calendar

    @field_validator("symbol")
    @classmethod
    def _symbols(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("expected at least one symbol, e.g. SPY,BTCUSDT")
        return v

    @field_validator("timeframes")
    @classmethod
    def _timeframes(cls, v: list[str]) -> list[str]:
        for tf in v:
            parse_timeframe(tf)
        return v

    @field_validator("ts_weights")
    @classmethod
    def _weights(cls, v: list[float]) -> list[float]:
        if len(v) != 5:
            raise ValueError(
                f"expected 5 comma-separated weights (mom1, mom5, mom15, px_vs_vwap, rvol-1), got {len(v)}"
            )
        return v

    @field_validator("notify_telegram_api_base")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return v.rstrip("/")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected redis://host:port/db, rediss:// or unix://")
        return v

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            resolve_url(v.get_secret_value())  # raises naming DATABASE_URL
        return v

    @model_validator(mode="before")
    @classmethod
    def _alert_webhook_is_slack(cls, data: Any) -> Any:
        # ALERT_WEBHOOK_URL is the Slack webhook's short name: it fills the NOTIFY_SLACK_* form
        # when that is absent and turns Slack on unless NOTIFY_SLACK_ENABLED says otherwise.
        if not isinstance(data, dict):
            return data
        keys = {k.lower(): k for k in data if isinstance(k, str)}
        url = data.get(keys.get("alert_webhook_url", ""))
        if url and not data.get(keys.get("notify_slack_webhook_url", "")):
            data = {**data, "notify_slack_webhook_url": url}
            if "notify_slack_enabled" not in keys:
                data["notify_slack_enabled"] = True
        return data

    @model_validator(mode="after")
    def _channels_complete(self) -> Settings:
        needs = {
            "notify_email_enabled": ("notify_email_from", "notify_email_to"),
            "notify_webhook_enabled": ("notify_webhook_url",),
            "notify_slack_enabled": ("notify_slack_webhook_url",),
            "notify_telegram_enabled": ("notify_telegram_bot_token", "notify_telegram_chat_id"),
            "notify_discord_enabled": ("notify_discord_webhook_url",),
        }
        for flag, required in needs.items():
            if getattr(self, flag):
                for name in required:
                    if not getattr(self, name):
                        raise ValueError(f"{name.upper()}: required when {flag.upper()}=true")
        if self.guard_backend == "redis" and not self.redis_url:
            raise ValueError("REDIS_URL: required when GUARD_BACKEND=redis")
        if self.ts_exit > self.ts_entry:
            raise ValueError(f"TS_EXIT: must be <= TS_ENTRY ({self.ts_entry}), got {self.ts_exit}")
        return self

    def __init__(self, **values: Any) -> None:
        # pydantic's own ValidationError shows each bad input (and, for the cross-field
        # checks, the whole input mapping): secrets included. Settings() raises the
        # scrubbed SettingsError instead, as from_env() does.
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError(_explain(exc)) from None

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
        if _MAPPING_ONLY.get():
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
        if env is None:
            env = dict(os.environ)
        known = {name.upper(): name for name in cls.model_fields}
        plain: dict[str, Any] = {}
        prefixed: dict[str, Any] = {}
        for key, value in env.items():
            k = key.upper()
            if k in known:
                plain[known[k]] = value
            elif k.startswith(_PREFIX) and k[len(_PREFIX) :] in known:
                prefixed[known[k[len(_PREFIX) :]]] = value
            else:
                _warn_if_typo(k, known)
        given = {**plain, **prefixed}
        token = _MAPPING_ONLY.set(True)
        try:
            return cls(**given)
        finally:
            _MAPPING_ONLY.reset(token)

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


_PREFIX = "MONTALAQ_"
_WARNED: set[str] = set()
# Names of the environment that often sit next to montalaq's and are no typo of them.
_SECRET_PARTS = ("PASSWORD", "TOKEN", "WEBHOOK_URL", "DATABASE_URL", "APPRISE", "API_KEY")
"""Parts of a variable name whose value an error message never shows."""
_NOT_TYPOS = frozenset({"DATABASE_URI", "REDIS_HOST", "REDIS_PORT", "API_KEY", "SYMBOLS_FILE"})


def _warn_if_typo(name: str, known: Mapping[str, str]) -> None:
    """Warn once about ``name`` when it looks like a mistyped setting: a ``MONTALAQ_`` name
    that is none, or a name one or two letters away from one (``SYMBOLS`` for ``SYMBOL``)."""
    if name in _WARNED or name in _NOT_TYPOS:
        return
    ours = name.startswith(_PREFIX)
    bare = name[len(_PREFIX) :] if ours else name
    # A MONTALAQ_ name is meant for montalaq: suggest more freely than for a bare name,
    # which may well be the host application's.
    close = difflib.get_close_matches(bare, list(known), n=1, cutoff=0.6 if ours else 0.88)
    if not close and not ours:
        return
    _WARNED.add(name)
    hint = f"; did you mean {close[0]}?" if close else ""
    logging.getLogger("montalaq.settings").warning(
        "%s is not a montalaq setting and is ignored%s", name, hint, extra={"component": "settings"}
    )


def _explain(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        loc = err.get("loc") or ()
        msg = str(err.get("msg", "invalid value"))
        if not loc:
            # model-level checks already name the variable ("X: required when Y=true")
            lines.append(msg.removeprefix("Value error, "))
            continue
        name = str(loc[0]).upper()
        value = err.get("input")
        shown = "***" if any(s in name for s in _SECRET_PARTS) else repr(value)
        msg = msg.removeprefix("Value error, ").removeprefix(f"{name}: ")
        lines.append(f"{name}: {msg}" if " got " in msg else f"{name}: {msg}; got {shown}")
    return "invalid settings: " + "; ".join(lines)


__all__ = ["Settings", "SettingsError"]
