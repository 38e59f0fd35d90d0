import pytest

from bot.settings import ConfigError, Settings, load_settings


def test_defaults_match_spec():
    s = Settings()
    assert s.access.mode == "open" and s.access.default_role == "trader"
    assert s.market.source == "replay" and s.market.default_timeframe == "1h" and s.market.bars == 200
    assert s.scoring.buy_threshold == 0.3 and s.scoring.sell_threshold == -0.3
    assert s.scoring.macd_scale == "atr"
    assert s.monitor.signals_interval == 120 and s.alerts.max_in_flight == 4
    assert s.telegram.base_url == "https://api.telegram.org/bot"


def test_repository_config_file_loads(monkeypatch):
    monkeypatch.delenv("TIPSTER_CONFIG", raising=False)
    s = load_settings("config.yaml")
    assert s.market.symbols[0] == "BTC/USDT"


def test_env_overrides_file(tmp_path, monkeypatch):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("market:\n  source: replay\n  bars: 300\nstorage:\n  sqlite_path: a.sqlite\n")
    monkeypatch.setenv("TIPSTER_STORAGE__SQLITE_PATH", "b.sqlite")
    monkeypatch.setenv("TIPSTER_ADMINS", '["telegram:1"]')
    s = load_settings(cfg)
    assert s.storage.sqlite_path == "b.sqlite"
    assert s.market.bars == 300  # untouched by env: the file's other keys in that section survive
    assert s.admins == ["telegram:1"]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("market:\n  bars: lots\n", "market.bars"),
        ("scoring:\n  technical_weight: 0.9\n", "scoring"),
        ("market:\n  default_timeframe: 2h\n", "market.default_timeframe"),
        ("nonsense: 1\n", "nonsense: unknown key"),
        ("summary:\n  time: '25:00'\n", "summary.time"),
        ("scoring:\n  macd_scale: -3\n", "scoring.macd_scale"),
    ],
)
def test_invalid_values_name_the_key(tmp_path, text, key):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert key in str(err.value)
    assert "\n" not in str(err.value)


def test_invalid_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("market: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")


def test_bad_env_value_names_the_key(monkeypatch):
    monkeypatch.setenv("TIPSTER_MARKET__BARS", "many")
    with pytest.raises(ConfigError, match=r"market\.bars"):
        load_settings(None)


def test_live_data_defaults_match_spec():
    s = Settings()
    assert s.market.exchange == "binance" and s.market.exchange_api_url is None
    assert s.market.alpaca_feed == "iex" and s.market.alpaca_data_url is None and s.market.routes == {}
    assert s.sentiment.max_age_hours == 48 and s.sentiment.reddit_url == "https://www.reddit.com"
    feeds = s.sentiment.feeds()
    assert any("coindesk.com" in url for url in feeds["crypto"]) and any("cointelegraph" in u for u in feeds["crypto"])
    assert any("{symbol}" in url and "yahoo" in url for url in feeds["stock"])
    assert s.sentiment.reddit()["crypto"]  # some subreddits by default


def test_a_mapping_from_env_replaces_the_default_and_the_file_whole(tmp_path, monkeypatch):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("sentiment:\n  rss_feeds: {crypto: ['http://a/1'], stock: ['http://b/{symbol}']}\n"
                   "  subreddits: {crypto: [Bitcoin]}\n")
    s = load_settings(cfg)
    assert s.sentiment.feeds() == {"crypto": ["http://a/1"], "stock": ["http://b/{symbol}"]}
    assert s.sentiment.reddit() == {"crypto": ["Bitcoin"]}  # the file replaces the defaults whole
    monkeypatch.setenv("TIPSTER_SENTIMENT__SUBREDDITS", "{}")
    monkeypatch.setenv("TIPSTER_SENTIMENT__RSS_FEEDS", '{"crypto": ["http://127.0.0.1:9/rss/c1"]}')
    s = load_settings(cfg)
    assert s.sentiment.reddit() == {}  # '{}' means no Reddit, not "merge nothing into the file's mapping"
    assert s.sentiment.feeds() == {"crypto": ["http://127.0.0.1:9/rss/c1"]}  # no stock feeds left over
    assert Settings().sentiment.reddit() == {}  # the same without a file


@pytest.mark.parametrize(("env", "value", "key"), [
    ("TIPSTER_SENTIMENT__RSS_FEEDS", '{"everything": ["http://a"]}', "sentiment.rss_feeds"),
    ("TIPSTER_SENTIMENT__RSS_FEEDS", '{"crypto": ["ftp://a"]}', "sentiment.rss_feeds"),
    ("TIPSTER_SENTIMENT__RSS_FEEDS", "not json", "sentiment.rss_feeds"),
    ("TIPSTER_SENTIMENT__SUBREDDITS", '{"crypto": [""]}', "sentiment.subreddits"),
    ("TIPSTER_MARKET__EXCHANGE_API_URL", "127.0.0.1:80", "market.exchange_api_url"),
    ("TIPSTER_MARKET__ROUTES", '{"GLD": "yahoo"}', "market.routes"),
    ("TIPSTER_MARKET__ALPACA_FEED", "free", "market.alpaca_feed"),
    ("TIPSTER_SENTIMENT__MAX_AGE_HOURS", "0", "sentiment.max_age_hours"),
])
def test_bad_live_settings_name_their_key(monkeypatch, env, value, key):
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert key in str(err.value) and "\n" not in str(err.value)
