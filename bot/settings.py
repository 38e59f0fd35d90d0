"""Tipster's settings: one pydantic-settings model, loaded from config.yaml and `TIPSTER_*` env vars.

The application's settings live with the application (ARCHITECTURE.md): the engine never reads them; the
composition root (bot/app.py) hands each part of the engine the plain parameters it needs.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from engine.market.resample import TIMEFRAMES
from engine.scoring import validate_params

DEFAULT_SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "AAPL", "GOOG", "SPY"]


class _Section(BaseModel):
    # Unknown keys are typos; inf and nan are never a setting (a Field(gt=0) alone lets inf through).
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


WEEK = 7 * 24 * 3600  # the longest interval or cache time that makes sense (and no timedelta overflow)


class AccessSettings(_Section):
    mode: Literal["open", "approval"] = "open"
    default_role: Literal["trader", "viewer"] = "trader"


class TelegramSettings(_Section):
    token: str | None = None
    base_url: str = "https://api.telegram.org/bot"
    # Concurrent updates and the HTTP pool that serves them: PTB's default pool of 1 times out under load.
    concurrent_updates: int = Field(default=64, ge=1, le=1024)
    pool_size: int = Field(default=64, ge=1, le=1024)


class DiscordChannels(_Section):
    alerts: int | None = None
    signals: int | None = None
    admin: int | None = None
    summary: int | None = None


DISCORD_API = "https://discord.com/api/v10"


class DiscordSettings(_Section):
    token: str | None = None
    channels: DiscordChannels = DiscordChannels()
    # The REST base handed to discord.py; any other value also takes the gateway URL from its /gateway/bot.
    api_base: str = DISCORD_API

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("discord.api_base must be an http(s) URL like https://discord.com/api/v10")
        return value.rstrip("/")


class StorageSettings(_Section):
    sqlite_path: str = "data/tipster.sqlite"
    redis_url: str | None = None


class ReplaySettings(_Section):
    # An int is "this many bars before the end of each symbol's data"; a datetime string is an absolute start.
    start: int | str = 500
    speed: float = Field(default=60, gt=0, le=1_000_000)

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, value: Any) -> int | str:
        """Parsed here, at start-up: a digit string (from env) is a bar count, anything else an ISO time."""
        problem = "must be a bar count like 500 or an ISO time like 2024-08-01T00:00:00Z"
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(problem)
        if isinstance(value, str):
            text = value.strip()
            if re.fullmatch(r"[0-9]{1,9}", text):
                return int(text)
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(problem) from None
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()
        if not 0 <= value <= 10_000_000:
            raise ValueError("a bar count must be between 0 and 10,000,000")
        return value


class MarketSettings(_Section):
    source: Literal["replay", "live"] = "replay"
    symbols: list[str] = Field(default_factory=lambda: list(DEFAULT_SYMBOLS), min_length=1)
    default_timeframe: str = "1h"
    bars: int = Field(default=200, ge=60, le=5000)
    exchange: str = "binance"
    # Rebase every entry of the exchange's ccxt `urls['api']` onto this origin (a local server, a proxy).
    exchange_api_url: str | None = None
    alpaca_data_url: str | None = None  # None: https://data.alpaca.markets
    alpaca_feed: Literal["iex", "sip", "delayed_sip", "otc"] = "iex"
    # Per-symbol source override, e.g. {"GLD": "alpaca", "BTC/EUR": "ccxt"}; otherwise "/" means ccxt.
    routes: dict[str, Literal["ccxt", "alpaca"]] = Field(default_factory=dict)
    replay: ReplaySettings = ReplaySettings()

    @field_validator("exchange_api_url", "alpaca_data_url")
    @classmethod
    def _origin(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL like http://127.0.0.1:8080")
        return value.rstrip("/")

    @field_validator("routes")
    @classmethod
    def _upper_routes(cls, value: dict[str, str]) -> dict[str, str]:
        return {k.strip().upper(): v for k, v in value.items()}

    @field_validator("default_timeframe")
    @classmethod
    def _known_timeframe(cls, value: str) -> str:
        if value not in TIMEFRAMES:
            raise ValueError(f"must be one of {', '.join(TIMEFRAMES)}")
        return value

    @field_validator("symbols")
    @classmethod
    def _upper_symbols(cls, value: list[str]) -> list[str]:
        return [s.strip().upper() for s in value]


class ScoringSettings(_Section):
    macd_scale: Literal["atr"] | float = "atr"
    buy_threshold: float = Field(default=0.3, ge=-1, le=1)
    sell_threshold: float = Field(default=-0.3, ge=-1, le=1)
    technical_weight: float = Field(default=0.6, ge=0, le=1)
    sentiment_weight: float = Field(default=0.4, ge=0, le=1)

    @field_validator("macd_scale", mode="before")
    @classmethod
    def _scale(cls, value: Any) -> Any:
        if isinstance(value, str) and value != "atr":
            try:
                value = float(value)
            except ValueError as exc:
                raise ValueError("must be 'atr' or a positive number") from exc
        if isinstance(value, int | float) and not 0 < value <= 1e9:  # nan fails this comparison too
            raise ValueError("must be 'atr' or a positive number")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ScoringSettings:
        # The same rule every tip's own thresholds and weights are held to.
        validate_params(self.technical_weight, self.sentiment_weight, self.buy_threshold, self.sell_threshold)
        return self


class RiskSettings(_Section):
    sl_atr: float = Field(default=2, gt=0, le=100)
    tp_atr: float = Field(default=3, gt=0, le=100)
    max_position_pct: float = Field(default=10, gt=0, le=100)
    max_symbol_pct: float = Field(default=25, gt=0, le=100)
    max_daily_trades: int = Field(default=20, ge=1, le=100_000)
    trailing_stop_pct: float = Field(default=2.0, gt=0, le=100)
    trailing_activation_pct: float = Field(default=1.0, ge=0, le=1000)
    exit_on_reversal: bool = False  # close a tip's positions when monitoring turns it BUY <-> SELL


# Real feeds per asset class (SPEC §2 step 4). `{symbol}` is the symbol as typed (AAPL), `{base}` its base
# asset (BTC for BTC/USDT). A mapping given in config.yaml or env replaces this one whole.
DEFAULT_RSS_FEEDS: dict[str, list[str]] = {
    "crypto": [
        "https://www.coindesk.com/arc/outboundfeeds/rss/",
        "https://cointelegraph.com/rss",
    ],
    "stock": [
        "https://feeds.finance.yahoo.com/rss/2.0/headline?s={symbol}&region=US&lang=en-US",
        "https://www.cnbc.com/id/10001147/device/rss/rss.html",
    ],
    "etf": [
        "https://feeds.finance.yahoo.com/rss/2.0/headline?s={symbol}&region=US&lang=en-US",
        "https://feeds.content.dowjones.io/public/rss/mw_topstories",
    ],
}
DEFAULT_SUBREDDITS: dict[str, list[str]] = {
    "crypto": ["CryptoCurrency", "Bitcoin"],
    "stock": ["stocks", "investing"],
    "etf": ["ETFs", "investing"],
}
ASSET_CLASSES = ("crypto", "stock", "etf", "forex")


def _class_mapping(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        raise ValueError("must be a mapping of asset class to a list, e.g. {crypto: [...]}")
    out: dict[str, list[str]] = {}
    for key, items in value.items():
        if key not in ASSET_CLASSES:
            raise ValueError(f"unknown asset class {key!r}; use {', '.join(ASSET_CLASSES)}")
        if isinstance(items, str):
            items = [items]
        if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
            raise ValueError(f"{key}: must be a list of non-empty strings")
        out[key] = [i.strip() for i in items]
    return out


class SentimentSettings(_Section):
    model: Literal["auto", "finbert", "offline"] = "auto"
    finbert_path: str = "models/finbert"
    max_texts: int = Field(default=20, ge=1, le=200)
    max_age_hours: float = Field(default=48, gt=0, le=24 * 365)
    # None means "the defaults above"; load_settings makes a given mapping replace them whole.
    rss_feeds: dict[str, list[str]] | None = None
    subreddits: dict[str, list[str]] | None = None
    reddit_url: str = "https://www.reddit.com"

    @field_validator("rss_feeds", "subreddits", mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError("must be a JSON mapping of asset class to a list") from exc
        return _class_mapping(value)

    @field_validator("rss_feeds")
    @classmethod
    def _urls(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        for urls in (value or {}).values():
            for url in urls:
                if not re.match(r"^https?://", url):
                    raise ValueError(f"{url!r} is not an http(s) URL")
        return value

    @field_validator("reddit_url")
    @classmethod
    def _reddit(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL like https://www.reddit.com")
        return value.rstrip("/")

    def feeds(self) -> dict[str, list[str]]:
        return DEFAULT_RSS_FEEDS if self.rss_feeds is None else self.rss_feeds

    def reddit(self) -> dict[str, list[str]]:
        return DEFAULT_SUBREDDITS if self.subreddits is None else self.subreddits


class CacheSettings(_Section):
    market_ttl: int = Field(default=60, ge=0, le=WEEK)
    sentiment_ttl: int = Field(default=300, ge=0, le=WEEK)


class MonitorSettings(_Section):
    signals_interval: int = Field(default=120, ge=1, le=WEEK)
    positions_interval: int = Field(default=5, ge=1, le=WEEK)
    scan_interval: int = Field(default=300, ge=1, le=WEEK)
    signal_ttl_bars: int = Field(default=24, ge=1, le=100_000)
    # A live tip changes only when the fused score is past the threshold by this much, or when the same
    # change is seen on two cycles in a row: a score hovering at the threshold must not flip it back and forth.
    hysteresis: float = Field(default=0.05, ge=0, le=1)


class ScanSettings(_Section):
    min_confidence: float = Field(default=0.3, ge=0, le=1)


class SummarySettings(_Section):
    time: str = "21:00"

    @field_validator("time")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        try:
            time.fromisoformat(value)
        except ValueError as exc:
            raise ValueError("must be a time of day HH:MM (UTC)") from exc
        return value


class AlertSettings(_Section):
    max_in_flight: int = Field(default=4, ge=1, le=64)
    near_target_pct: float = Field(default=1.0, ge=0, le=100)
    pnl_move_pct: float = Field(default=5.0, gt=0, le=1000)


class PaperSettings(_Section):
    starting_equity: float = Field(default=10000, gt=0, le=1e12)
    fee_pct: float = Field(default=0.1, ge=0, le=100)
    slippage_pct: float = Field(default=0.05, ge=0, le=100)


class AlpacaSettings(_Section):
    key: str | None = None
    secret: str | None = None
    base_url: str | None = None  # None: alpaca-py's paper endpoint


class CcxtBrokerSettings(_Section):
    exchange: str = "binance"
    key: str | None = None
    secret: str | None = None
    sandbox: bool = True  # testnet; live trading is a deliberate change
    api_url: str | None = None  # override the exchange's (sandbox) REST URL, e.g. a local test server


class BrokerSettings(_Section):
    default: Literal["paper", "alpaca", "ccxt"] = "paper"
    alpaca: AlpacaSettings = AlpacaSettings()
    ccxt: CcxtBrokerSettings = CcxtBrokerSettings()


class StrategiesSettings(_Section):
    """`strategies.default` and each strategy's own parameters (engine/strategies; never the scoring keys:
    fused's thresholds and weights are scoring.* and the user's /settings)."""

    default: str = "fused"
    fused: dict[str, Any] = Field(default_factory=dict)
    hyperrsi: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> StrategiesSettings:
        from engine.strategies import registry

        try:
            registry.get(self.default)
        except ValueError as exc:
            raise ValueError(f"strategies.default: {exc}") from None
        for name in registry.names():
            own = getattr(self, name)
            if own:
                try:
                    registry.get(name).check_params(own)
                except ValueError as exc:
                    raise ValueError(f"strategies.{name}: {exc}") from None
        return self

    def params(self, name: str) -> dict[str, Any]:
        return dict(getattr(self, name, {}) or {})


class LimitSettings(_Section):
    per_user_per_minute: int = Field(default=20, ge=1, le=100_000)


class MetricsSettings(_Section):
    # The Prometheus exposition (bot/metrics.py) at http://host:port/metrics; None: no metrics server.
    port: int | None = Field(default=None, ge=1, le=65535)
    host: str = "127.0.0.1"  # loopback: a scrape from elsewhere is an explicit choice (0.0.0.0 in a container)


class ConfigSettings(_Section):
    # Re-read the config file when it changes, as /reload does (its mtime and hash are polled).
    watch: bool = False
    watch_interval: float = Field(default=2.0, ge=0.1, le=3600)


class LoggingSettings(_Section):
    # text: "time LEVEL logger: message" lines; json: one JSON object a line (time, level, logger, message,
    # exc_info when there is one) for a log collector. Either way every record goes through the secret mask.
    format: Literal["text", "json"] = "text"


class Settings(BaseSettings):
    """Every setting of SPEC §11. Precedence: init args > env `TIPSTER_*` > config.yaml > defaults."""

    model_config = SettingsConfigDict(
        env_prefix="TIPSTER_", env_nested_delimiter="__", extra="forbid", nested_model_default_partial_update=True
    )

    admins: list[str] = Field(default_factory=list)
    access: AccessSettings = AccessSettings()
    telegram: TelegramSettings = TelegramSettings()
    discord: DiscordSettings = DiscordSettings()
    storage: StorageSettings = StorageSettings()
    market: MarketSettings = MarketSettings()
    scoring: ScoringSettings = ScoringSettings()
    risk: RiskSettings = RiskSettings()
    sentiment: SentimentSettings = SentimentSettings()
    cache: CacheSettings = CacheSettings()
    monitor: MonitorSettings = MonitorSettings()
    scan: ScanSettings = ScanSettings()
    summary: SummarySettings = SummarySettings()
    alerts: AlertSettings = AlertSettings()
    paper: PaperSettings = PaperSettings()
    brokers: BrokerSettings = BrokerSettings()
    strategies: StrategiesSettings = StrategiesSettings()
    limits: LimitSettings = LimitSettings()
    metrics: MetricsSettings = MetricsSettings()
    config: ConfigSettings = ConfigSettings()
    logging: LoggingSettings = LoggingSettings()
    # The file these settings were read from (absolute), for /reload and config.watch; None: no file.
    _source_path: Path | None = PrivateAttr(default=None)

    @property
    def source_path(self) -> Path | None:
        return self._source_path

    @field_validator("admins")
    @classmethod
    def _identities(cls, value: list[str]) -> list[str]:
        for identity in value:
            platform, _, uid = identity.partition(":")
            if platform not in ("telegram", "discord", "console") or not uid:
                raise ValueError(f"{identity!r} is not an identity like 'telegram:123'")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file is passed in as init kwargs by load_settings, so env must outrank init here.
        return _EnvWithoutConfigPath(settings_cls), init_settings


class _EnvWithoutConfigPath(EnvSettingsSource):
    """The env source, blind to TIPSTER_CONFIG: that variable is the config file's path, not the value of the
    `config` section (whose keys stay settable as TIPSTER_CONFIG__WATCH)."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.env_vars = {k: v for k, v in self.env_vars.items() if k.lower() != "tipster_config"}


class ConfigError(Exception):
    """The configuration cannot be used; the message is one line naming the key."""


def _format_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "config"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        parts.append(f"{key}: {msg}")
    return "; ".join(parts)


def config_path(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file load_settings reads: path, else $TIPSTER_CONFIG, else ./config.yaml if present.
    Relative paths inside it (storage.sqlite_path, sentiment.finbert_path, logs) are relative to the working
    directory, not to the file: `--config /etc/tipster/config.yaml` run from /srv/tipster keeps its data there."""
    chosen = path or os.environ.get("TIPSTER_CONFIG")
    if chosen is None and Path("config.yaml").is_file():
        chosen = "config.yaml"
    return Path(chosen) if chosen is not None else None


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Load config.yaml (path, else $TIPSTER_CONFIG, else ./config.yaml if present) plus env overrides."""
    chosen = config_path(path)
    data: dict[str, Any] = {}
    if chosen is not None:
        file = Path(chosen)
        if not file.is_file():
            raise ConfigError(f"config file {file} does not exist")
        try:
            loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise ConfigError(f"{file}: not valid YAML{where}") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{file}: the top level must be a mapping of sections")
        data = loaded
    _refuse_unknown_env()
    data = _drop_replaced_mappings(data)
    data = _deep_merge(data, overrides)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc)) from exc
    except (ValueError, json.JSONDecodeError) as exc:  # e.g. TIPSTER_ADMINS that is not JSON
        raise ConfigError(f"environment: {exc}") from exc
    settings._source_path = chosen.resolve() if chosen is not None else None
    return settings


def _refuse_unknown_env() -> None:
    """pydantic-settings ignores TIPSTER_<NAME> when NAME is no section at all; a typo must not pass silently."""
    for name in os.environ:
        upper = name.upper()
        # TIPSTER_SECRET_KEY is no setting: the master key of users' broker keys, read by bot.core.vault only.
        if not upper.startswith("TIPSTER_") or upper in ("TIPSTER_CONFIG", "TIPSTER_SECRET_KEY"):
            continue
        section = upper.removeprefix("TIPSTER_").split("__", 1)[0].lower()
        if section not in Settings.model_fields:
            raise ConfigError(f"environment {name}: unknown key {section}")


# Mappings that a value from the environment replaces whole: pydantic-settings would otherwise deep-merge
# env into the YAML mapping, so `TIPSTER_SENTIMENT__SUBREDDITS='{}'` could never mean "no Reddit".
REPLACED_MAPPINGS = (("sentiment", "rss_feeds"), ("sentiment", "subreddits"), ("market", "routes"))


def _drop_replaced_mappings(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    for section, key in REPLACED_MAPPINGS:
        env = f"TIPSTER_{section}__{key}".upper()
        if any(name.upper() == env for name in os.environ) and isinstance(out.get(section), dict):
            out[section] = {k: v for k, v in out[section].items() if k != key}
    return out


def _deep_merge(base: dict[str, Any], extra: dict[str, Any], path: tuple[str, ...] = ()) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        here = (*path, key)
        if isinstance(value, dict) and isinstance(out.get(key), dict) and here not in REPLACED_MAPPINGS:
            out[key] = _deep_merge(out[key], value, here)
        else:
            out[key] = value
    return out
