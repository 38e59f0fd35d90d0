"""Every setting is finite and in range, parsed at start-up; what must stay valid stays valid."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from pydantic import BaseModel

from bot.settings import ConfigError, Settings, load_settings


def float_settings(model: type[BaseModel] = Settings, prefix: str = "") -> list[str]:
    """Dotted keys of every float-typed setting, found by walking the models (new ones are covered too)."""
    keys = []
    for name, info in model.model_fields.items():
        annotation: Any = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys += float_settings(annotation, f"{prefix}{name}.")
        elif annotation is float or float in get_args(annotation):
            keys.append(f"{prefix}{name}")
    return keys


def env_name(key: str) -> str:
    return "TIPSTER_" + key.upper().replace(".", "__")


def test_the_walk_finds_the_float_settings() -> None:
    found = float_settings()
    assert {"market.replay.speed", "risk.sl_atr", "paper.fee_pct", "scoring.buy_threshold",
            "scoring.macd_scale", "sentiment.max_age_hours"} <= set(found)


@pytest.mark.parametrize("key", float_settings())
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e400"])
def test_no_float_setting_takes_infinity_or_nan(monkeypatch: pytest.MonkeyPatch, key: str, value: str) -> None:
    monkeypatch.setenv(env_name(key), value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert key in str(err.value) or key.rsplit(".", 1)[0] in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("risk.sl_atr", "1000"), ("risk.trailing_stop_pct", "150"), ("paper.fee_pct", "101"),
        ("paper.slippage_pct", "500"), ("paper.starting_equity", "1e13"), ("alerts.near_target_pct", "1000"),
        ("monitor.signals_interval", "0"), ("monitor.positions_interval", "99999999999999999999"),
        ("cache.market_ttl", "-1"), ("market.replay.speed", "0"), ("market.replay.speed", "-1"),
        ("scoring.macd_scale", "1e300"), ("limits.per_user_per_minute", "0"),
    ],
)
def test_out_of_range_values_name_their_key(monkeypatch: pytest.MonkeyPatch, key: str, value: str) -> None:
    monkeypatch.setenv(env_name(key), value)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_settings()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("300", 300), (" 42 ", 42), ("0", 0), ("2024-08-01T00:00:00Z", "2024-08-01T00:00:00+00:00"),
     ("2024-08-01 12:30", "2024-08-01T12:30:00+00:00"), ("2024-08-01T00:00:00+02:00", "2024-08-01T00:00:00+02:00")],
)
def test_replay_start_is_parsed_at_start_up(monkeypatch: pytest.MonkeyPatch, value: str, expected: object) -> None:
    monkeypatch.setenv("TIPSTER_MARKET__REPLAY__START", value)
    assert load_settings().market.replay.start == expected


@pytest.mark.parametrize("value", ["yesterday", "²", "١٢", "1.5", "1e3", "", "-5", "true"])
def test_a_bad_replay_start_stops_start_up(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TIPSTER_MARKET__REPLAY__START", value)
    with pytest.raises(ConfigError, match=r"market\.replay\.start"):
        load_settings()


def test_a_replay_start_in_the_file_is_parsed_too(tmp_path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("market:\n  replay:\n    start: 1.5\n")
    with pytest.raises(ConfigError, match=r"market\.replay\.start"):
        load_settings(cfg)
    cfg.write_text("market:\n  replay:\n    start: 120\n")
    assert load_settings(cfg).market.replay.start == 120


def test_an_unknown_environment_section_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIPSTER_TELEGRAMM__TOKEN", "123:abc")
    with pytest.raises(ConfigError, match="TIPSTER_TELEGRAMM__TOKEN: unknown key telegramm"):
        load_settings()


@pytest.mark.parametrize(
    "env",
    [
        {"SCORING__BUY_THRESHOLD": "-0.2", "SCORING__SELL_THRESHOLD": "-0.6"},  # a negative buy threshold
        {"SCORING__BUY_THRESHOLD": "1", "SCORING__SELL_THRESHOLD": "-1"},
        {"SCORING__BUY_THRESHOLD": "-0.9", "SCORING__SELL_THRESHOLD": "-1"},
        {"SCORING__BUY_THRESHOLD": "1", "SCORING__SELL_THRESHOLD": "0.99"},
        {"MONITOR__SIGNALS_INTERVAL": "1", "MONITOR__POSITIONS_INTERVAL": "1", "MONITOR__SCAN_INTERVAL": "1"},
        {"MARKET__REPLAY__SPEED": "0.000001"},
        {"MARKET__REPLAY__SPEED": "3600"},
        {"PAPER__FEE_PCT": "0", "PAPER__SLIPPAGE_PCT": "0"},
    ],
)
def test_what_stays_valid(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(f"TIPSTER_{name}", value)
    settings = load_settings()
    for name, value in env.items():
        node: Any = settings
        for part in name.lower().split("__"):
            node = getattr(node, part)
        assert node == pytest.approx(float(value))


def test_crossed_thresholds_stay_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIPSTER_SCORING__BUY_THRESHOLD", "-0.5")
    monkeypatch.setenv("TIPSTER_SCORING__SELL_THRESHOLD", "-0.4")
    with pytest.raises(ConfigError, match="scoring: buy threshold"):
        load_settings()
