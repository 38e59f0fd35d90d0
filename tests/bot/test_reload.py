"""/reload and config.watch through the core, on a real config file in a temporary folder: what applies live
(thresholds, intervals, symbols, feeds), what waits for a restart (tokens, storage), an invalid file that
changes nothing and names its key, the audit, and the relative-path rules of `--config PATH`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.app import jobs_running, open_core
from bot.core.jobs.config_watch import ConfigWatcher
from bot.core.service import TipsterCore
from bot.settings import load_settings
from tests.bot.test_core_signals import texts
from tests.conftest import user_ctx

ADMIN = user_ctx(100)
TRADER = user_ctx(7)


def write(path: Path, data: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


def write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def base_config(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "admins": ["console:100"],
        "storage": {"sqlite_path": str(tmp_path / "tipster.sqlite")},
        "sentiment": {"model": "offline", "max_texts": 20},
        "scoring": {"buy_threshold": 0.3},
        "monitor": {"signals_interval": 120, "scan_interval": 300},
        "market": {"symbols": ["BTC/USDT", "ETH/USDT", "AAPL"], "replay": {"speed": 60}},
    }
    for section, values in extra.items():
        data[section] = {**data.get(section, {}), **values} if isinstance(values, dict) else values
    return data


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "conf" / "config.yaml"
    path.parent.mkdir()
    write(path, base_config(tmp_path))
    return path


@pytest.fixture
async def rcore(config_file: Path) -> AsyncIterator[TipsterCore]:
    async with open_core(load_settings(config_file)) as core:
        await core.ensure_user(ADMIN)
        yield core


def edit(path: Path, tmp_path: Path, **extra: Any) -> None:
    write(path, base_config(tmp_path, **extra))


def interval(core: TipsterCore, job: str) -> float:
    return core.scheduler.scheduler.get_job(job).trigger.interval.total_seconds()


async def test_reload_applies_thresholds_intervals_and_symbols(rcore: TipsterCore, config_file: Path,
                                                               tmp_path: Path) -> None:
    async with jobs_running(rcore):
        assert interval(rcore, "monitor") == 120 and interval(rcore, "scan") == 300
        edit(config_file, tmp_path, scoring={"buy_threshold": 0.55},
             monitor={"signals_interval": 30, "scan_interval": 45},
             market={"symbols": ["BTC/USDT", "SPY"], "replay": {"speed": 60}})
        answer = texts(await rcore.handle_text(ADMIN, "/reload"))
        assert rcore.settings.scoring.buy_threshold == 0.55
        assert rcore.settings.market.symbols == ["BTC/USDT", "SPY"]
        assert interval(rcore, "monitor") == 30 and interval(rcore, "scan") == 45
        # A tip made now uses the new threshold (the user has no saved one).
        user = await rcore.ensure_user(TRADER)
        assert rcore.user_params(user).buy_threshold == 0.55
    assert "scoring.buy_threshold" in answer and "monitor.signals_interval" in answer
    assert "market.symbols" in answer and "Needs a restart" not in answer
    entry = (await rcore.storage.audit.recent(limit=1))[0]
    assert (entry.action, entry.result, entry.actor) == ("reload", "ok", "console:100")
    assert "scoring.buy_threshold" in entry.detail["applied"]


async def test_nothing_changed(rcore: TipsterCore) -> None:
    answer = texts(await rcore.handle_text(ADMIN, "/reload"))
    assert "nothing changed" in answer


async def test_restart_only_settings_are_reported_and_kept(rcore: TipsterCore, config_file: Path,
                                                           tmp_path: Path) -> None:
    old_db = rcore.settings.storage.sqlite_path
    data = base_config(tmp_path, scoring={"buy_threshold": 0.4})
    data["storage"] = {"sqlite_path": str(tmp_path / "other.sqlite")}
    data["telegram"] = {"token": "123456:SECRETTOKENVALUE"}
    data["logging"] = {"format": "json"}
    write(config_file, data)
    answer = texts(await rcore.handle_text(ADMIN, "/reload"))
    assert "Needs a restart (left as they were): logging.format, storage.sqlite_path, telegram.token" in answer
    assert rcore.settings.logging.format == "text"
    assert rcore.settings.storage.sqlite_path == old_db and rcore.settings.telegram.token is None
    assert rcore.settings.scoring.buy_threshold == 0.4  # the rest of the file still applied
    assert "SECRETTOKENVALUE" not in answer


async def test_invalid_file_keeps_the_config_and_names_the_key(rcore: TipsterCore, config_file: Path,
                                                               tmp_path: Path) -> None:
    edit(config_file, tmp_path, scoring={"buy_threshold": 2}, monitor={"signals_interval": 5})
    answer = texts(await rcore.handle_text(ADMIN, "/reload"))
    assert "scoring.buy_threshold: Input should be less than or equal to 1" in answer
    assert "unchanged" in answer
    assert rcore.settings.scoring.buy_threshold == 0.3 and rcore.settings.monitor.signals_interval == 120
    entry = (await rcore.storage.audit.recent(limit=1))[0]
    assert (entry.action, entry.result) == ("reload", "failed")
    # Still serving: a tip works, and an unknown key is named the same way.
    assert "BTC/USDT" in texts(await rcore.handle_text(ADMIN, "/signal BTC/USDT 1h"))
    data = base_config(tmp_path)
    data["monitor"]["signal_intervall"] = 3
    write(config_file, data)
    assert "monitor.signal_intervall: unknown key" in texts(await rcore.handle_text(ADMIN, "/reload"))
    write_text(config_file, "scoring: [unclosed")
    assert "not valid YAML" in texts(await rcore.handle_text(ADMIN, "/reload"))


async def test_reload_is_for_admins_only(rcore: TipsterCore, config_file: Path, tmp_path: Path) -> None:
    edit(config_file, tmp_path, scoring={"buy_threshold": 0.5})
    answer = texts(await rcore.handle_text(TRADER, "/reload"))
    assert "admins only" in answer
    assert rcore.settings.scoring.buy_threshold == 0.3


async def test_feeds_rebuild_the_market_and_news_sources(rcore: TipsterCore, config_file: Path,
                                                         tmp_path: Path) -> None:
    market, sentiment = rcore.services.market, rcore.services.sentiment
    edit(config_file, tmp_path, scoring={"buy_threshold": 0.35})
    await rcore.handle_text(ADMIN, "/reload")
    assert rcore.services.market is market and rcore.services.sentiment is sentiment  # nothing of theirs changed
    edit(config_file, tmp_path, market={"replay": {"speed": 120}}, sentiment={"max_texts": 7})
    answer = texts(await rcore.handle_text(ADMIN, "/reload"))
    assert "Rebuilt: market data, news sources" in answer
    assert rcore.services.market is not market and rcore.services.sentiment is not sentiment
    assert rcore.services.sentiment.max_texts == 7
    assert rcore.services.sentiment.model is sentiment.model  # the model's weights are not loaded again
    # The paper broker prices from the market in service now, not the one the reload retired.
    broker = rcore.trading.brokers["paper"]
    assert await broker._price("BTC/USDT") == await rcore.services.market.last_price("BTC/USDT")
    assert "BTC/USDT" in texts(await rcore.handle_text(ADMIN, "/signal BTC/USDT 1h"))


async def test_limits_apply_live(rcore: TipsterCore, config_file: Path, tmp_path: Path) -> None:
    edit(config_file, tmp_path, limits={"per_user_per_minute": 2})
    await rcore.handle_text(ADMIN, "/reload")
    for _ in range(2):
        assert "Slow down" not in texts(await rcore.handle_text(TRADER, "/signal BTC/USDT 1h"))
    assert "Slow down: at most 2 tips a minute" in texts(await rcore.handle_text(TRADER, "/signal BTC/USDT 1h"))


async def test_watch_reloads_on_change_and_tells_the_admins(rcore: TipsterCore, config_file: Path,
                                                            tmp_path: Path) -> None:
    edit(config_file, tmp_path, config={"watch": True})
    await rcore.handle_text(ADMIN, "/reload")
    assert rcore.settings.config.watch is True
    watcher = ConfigWatcher(rcore)
    assert await watcher.run() is None  # the file is as last read
    edit(config_file, tmp_path, config={"watch": True}, scoring={"buy_threshold": 0.6})
    result = await watcher.run()
    assert result is not None and result.ok and rcore.settings.scoring.buy_threshold == 0.6
    assert await watcher.run() is None
    edit(config_file, tmp_path, config={"watch": True}, scoring={"buy_threshold": -3})
    result = await watcher.run()
    assert result is not None and not result.ok and rcore.settings.scoring.buy_threshold == 0.6
    assert await watcher.run() is None  # one note per bad edit, not one every poll
    notes = [a.payload["text"] for a in await rcore.storage.alerts.for_chat("console", "100")]
    assert any("changed on disk and was reloaded" in n and "scoring.buy_threshold" in n for n in notes)
    assert any("scoring.buy_threshold: Input should be greater than or equal to -1" in n for n in notes)
    # Watch off: an edit waits for /reload.
    edit(config_file, tmp_path, config={"watch": False}, scoring={"buy_threshold": 0.6})
    await watcher.run()
    assert rcore.settings.config.watch is False
    edit(config_file, tmp_path, config={"watch": False}, scoring={"buy_threshold": 0.1})
    assert await watcher.run() is None and rcore.settings.scoring.buy_threshold == 0.6


async def test_watch_through_the_scheduler(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    write(path, base_config(tmp_path, config={"watch": True, "watch_interval": 0.1}))
    async with open_core(load_settings(path)) as core, jobs_running(core):
        edit(path, tmp_path, config={"watch": True, "watch_interval": 0.1}, monitor={"signals_interval": 33})
        for _ in range(100):
            if core.settings.monitor.signals_interval == 33:
                break
            await asyncio.sleep(0.05)
        assert core.settings.monitor.signals_interval == 33
        assert interval(core, "monitor") == 33


async def test_no_config_file_means_nothing_to_reload(core: TipsterCore, tmp_path: Path) -> None:
    # The conftest core is built from settings handed in; give it no file at all.
    core.reloader.path = None
    await core.ensure_user(ADMIN)
    await core.storage.user_admin.set_access((await core.ensure_user(ADMIN)).id, role="admin")
    assert "no config file to reload" in texts(await core.handle_text(ADMIN, "/reload"))


def test_tipster_config_names_the_file(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIPSTER_CONFIG", str(config_file))
    monkeypatch.setenv("TIPSTER_CONFIG__WATCH", "true")  # the section's keys stay settable from env
    settings = load_settings()
    assert settings.source_path == config_file.resolve() and settings.config.watch is True


async def test_config_elsewhere_resolves_relative_paths_from_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "etc" / "tipster"
    elsewhere.mkdir(parents=True)
    data = base_config(tmp_path)
    data["storage"] = {"sqlite_path": "data/relative.sqlite"}
    data["sentiment"] = {"model": "offline", "finbert_path": "models/finbert"}
    write(elsewhere / "config.yaml", data)
    work = tmp_path / "srv"
    work.mkdir()
    monkeypatch.chdir(work)
    settings = load_settings("../etc/tipster/config.yaml")
    assert settings.source_path == (elsewhere / "config.yaml").resolve()
    async with open_core(settings) as core:
        await core.ensure_user(ADMIN)
        # Bundled candles and headlines come from the package, whatever the working directory.
        assert "BTC/USDT" in texts(await core.handle_text(ADMIN, "/signal BTC/USDT 1h"))
        monkeypatch.chdir(tmp_path)  # /reload finds the file it started from even after a chdir
        assert "nothing changed" in texts(await core.handle_text(ADMIN, "/reload"))
    assert (work / "data" / "relative.sqlite").is_file()
    assert not (elsewhere / "data").exists()


async def test_the_demo_owner_stays_admin_across_a_reload(config_file: Path, tmp_path: Path) -> None:
    settings = load_settings(config_file)
    settings = settings.model_copy(update={"admins": [*settings.admins, "console:local"]})  # as `tipster demo`
    async with open_core(settings) as core:
        await core.ensure_user(ADMIN)
        edit(config_file, tmp_path, admins=["console:100", "telegram:5"])
        answer = texts(await core.handle_text(ADMIN, "/reload"))
        assert core.settings.admins == ["console:100", "telegram:5", "console:local"]
        assert "In effect now: admins" in answer


async def test_a_restart_setting_is_named_until_the_file_is_read_again(rcore: TipsterCore, config_file: Path,
                                                                       tmp_path: Path) -> None:
    data = base_config(tmp_path)
    data["telegram"] = {"token": "123456:SECRETTOKENVALUE"}
    write(config_file, data)
    assert "Needs a restart (left as they were): telegram.token" in texts(await rcore.handle_text(ADMIN, "/reload"))
    data["scoring"] = {"buy_threshold": 0.42}
    write(config_file, data)
    answer = texts(await rcore.handle_text(ADMIN, "/reload"))
    assert "In effect now: scoring.buy_threshold" in answer and "Needs a restart" not in answer
    assert rcore.settings.telegram.token is None  # still the running value


async def test_a_part_that_cannot_be_built_changes_nothing(rcore: TipsterCore, config_file: Path,
                                                           tmp_path: Path) -> None:
    def no_extra(settings: object) -> object:  # what bot.app.build_market does without the `live` extra
        raise SystemExit("market.source: live needs the `live` extra (ccxt is not installed)")

    rcore.reloader.rebuild.build_market = no_extra
    market = rcore.services.market
    edit(config_file, tmp_path, market={"replay": {"speed": 10}}, scoring={"buy_threshold": 0.5})
    answer = texts(await rcore.handle_text(ADMIN, "/reload"))
    assert "not reloaded: market: market.source: live needs the `live` extra" in answer
    assert rcore.services.market is market and rcore.settings.scoring.buy_threshold == 0.3
    assert rcore.settings.market.replay.speed == 60
