"""News and social sentiment: the selection rule, RSS and Reddit against a local server, the bundled dated
headlines on the real CSVs, analyse() and the cached provider.

Expectations are written out by hand or recomputed here with csv + datetime, never with the code under test.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.cache import MemoryCache
from engine.fetching import USER_AGENT, FetchPolicy, HttpClient, SourceError
from engine.models import AssetClass, NewsItem, SentimentReading
from engine.sentiment import (
    DatedHeadlines,
    NewsSource,
    RedditSource,
    RssSource,
    ScoreMemo,
    analyse,
    collect,
    select,
)
from engine.sentiment.names import mentions, symbol_names
from engine.sentiment.rss import expand
from engine.sentiment_provider import CachedSentiment
from tests.support.fake_news import Entry, FakeNews

DATA = Path(__file__).resolve().parents[2] / "engine" / "sentiment" / "data"
T = datetime(2024, 3, 15, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
# Short waits so retry tests take milliseconds; a 429's Retry-After is still honoured up to 1 s.
FAST = FetchPolicy(attempts=3, timeout=2.0, initial=0.01, maximum=0.02, max_retry_after=1.0, jitter=0.0, budget=5.0)


def item(text: str, published: datetime, source: str = "Wire") -> NewsItem:
    return NewsItem(text=text, source=source, published=published)


# --- names ---------------------------------------------------------------------------------------------


def test_symbol_names() -> None:
    assert symbol_names("BTC/USDT") == ("btc", "bitcoin")
    assert symbol_names("AAPL") == ("aapl", "apple", "iphone")
    assert symbol_names("EUR_USD") == ("eur", "euro", "ecb", "europe", "european", "usd", "dollar", "fed", "treasury")
    assert symbol_names("DOGE/USDT") == ("doge", "dogecoin")


def test_mentions_whole_words_and_possessives() -> None:
    names = ("btc", "bitcoin")
    assert mentions("BTC’s rally continues", names)
    assert mentions("Bitcoin-based lending grows", names)
    assert mentions("Why BITCOIN fell", names)
    assert not mentions("Bitcoinist launches a newsletter", names)  # another word that starts the same
    assert not mentions("Ethereum upgrade ships", names)
    assert mentions("S&P 500 hits a record", ("s&p 500",))


# --- select(): the one rule ----------------------------------------------------------------------------


def test_select_window_is_inclusive_at_both_ends_and_never_after_at() -> None:
    items = [
        item("a at the bar time", T),
        item("b exactly 48 h old", T - 48 * H),
        item("c one second too old", T - 48 * H - timedelta(seconds=1)),
        item("d one second after the bar", T + timedelta(seconds=1)),
        item("e a day old", T - 24 * H),
    ]
    chosen = select(items, "AAPL", T, 20, 48)
    assert [i.text for i in chosen] == ["a at the bar time", "e a day old", "b exactly 48 h old"]


def test_select_treats_naive_times_as_utc() -> None:
    naive = datetime(2024, 3, 15, 11, 0)  # 1 h before T in UTC
    chosen = select([item("x", naive), item("y", datetime(2024, 3, 15, 12, 30))], "AAPL", T, 20, 48)
    assert [i.text for i in chosen] == ["x"]


def test_select_dedupes_on_normalised_text_keeping_the_newest() -> None:
    items = [
        item("Stocks rise; Fed holds", T - 5 * H, "Old Wire"),
        item("stocks  rise - fed HOLDS!", T - 1 * H, "New Wire"),
        item("Oil slips", T - 2 * H),
        item("!!!", T - 3 * H),  # nothing left after normalising: not a text
    ]
    chosen = select(items, "MSFT", T, 20, 48)
    assert [(i.text, i.source) for i in chosen] == [("stocks  rise - fed HOLDS!", "New Wire"), ("Oil slips", "Wire")]


def test_select_named_first_then_fill_with_the_class_up_to_the_cap() -> None:
    items = [
        item("Crypto market calm", T - 1 * H),
        item("Bitcoin ETF inflows", T - 2 * H),
        item("Exchange lists new token", T - 3 * H),
        item("BTC miners sell", T - 4 * H),
        item("Ethereum gas falls", T - 5 * H),
        item("bitcoin hashrate record", T - 60 * H),  # named, but outside the window
    ]
    assert [i.text for i in select(items, "BTC/USDT", T, 3, 48)] == [
        "Bitcoin ETF inflows", "BTC miners sell", "Crypto market calm"]
    assert [i.text for i in select(items, "BTC/USDT", T, 20, 48)] == [
        "Bitcoin ETF inflows", "BTC miners sell", "Crypto market calm", "Exchange lists new token",
        "Ethereum gas falls"]
    # Nothing names SOL: the class's items still fill the cap, newest first.
    assert [i.text for i in select(items, "SOL/USDT", T, 2, 48)] == ["Crypto market calm", "Bitcoin ETF inflows"]
    assert select(items, "BTC/USDT", T, 0, 48) == []
    assert select([], "BTC/USDT", T, 5, 48) == []


# --- RSS against the local server ----------------------------------------------------------------------


@pytest.fixture
async def news() -> AsyncIterator[FakeNews]:
    fake = FakeNews()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def clients() -> AsyncIterator[list[HttpClient]]:
    made: list[HttpClient] = []
    yield made
    for client in made:
        await client.aclose()


def _client(clients: list[HttpClient], name: str, policy: FetchPolicy = FAST) -> HttpClient:
    client = HttpClient(name, policy=policy)
    clients.append(client)
    return client


async def test_rss_fresh_items(news: FakeNews, clients: list[HttpClient]) -> None:
    url = news.feed("c1", [
        ("Bitcoin climbs past resistance", 1 * H),
        ("Miners expand capacity", 3 * H),
        ("An item from next hour", -1 * H),  # dated after `at`: never returned
        Entry("Undated item", None),  # no date: the window rule cannot place it
        Entry("<b>Ether</b>   &amp; staking\n news", 2 * H, "https://news.example/ether"),
    ], title="Coin Desk Test")
    rss = RssSource({"crypto": [url]}, _client(clients, "RSS"))
    now = datetime.now(UTC)
    items = await rss.fetch_items("BTC/USDT", AssetClass.CRYPTO, now)
    assert [i.text for i in items] == ["Bitcoin climbs past resistance", "Ether & staking news",
                                       "Miners expand capacity"]
    assert {i.source for i in items} == {"Coin Desk Test"} and {i.kind for i in items} == {"news"}
    assert items[1].url == "https://news.example/ether"
    assert items[0].url == "https://news.example/c1/0"
    assert abs(items[0].published - (now - H)) < timedelta(seconds=5)
    assert news.user_agents == [USER_AGENT]


async def test_rss_keeps_ten_newest_per_feed_and_names_untitled_feeds_by_host(
        news: FakeNews, clients: list[HttpClient]) -> None:
    url = news.feed("many", [(f"Headline number {n}", n * H) for n in range(1, 13)], title="")
    items = await RssSource({"stock": [url]}, _client(clients, "RSS")).fetch_items(
        "AAPL", AssetClass.STOCK, datetime.now(UTC))
    assert [i.text for i in items] == [f"Headline number {n}" for n in range(1, 11)]
    assert {i.source for i in items} == {"127.0.0.1"}


async def test_rss_429_then_success_honours_retry_after(news: FakeNews, clients: list[HttpClient]) -> None:
    url = news.feed("c1", [("Bitcoin steady", H)])
    news.fail("/rss/c1", 429, headers={"Retry-After": "0.3"}, times=1)
    rss = RssSource({"crypto": [url]}, _client(clients, "RSS"))
    started = time.monotonic()
    items = await rss.fetch_items("BTC/USDT", AssetClass.CRYPTO, datetime.now(UTC))
    assert time.monotonic() - started >= 0.3
    assert [i.text for i in items] == ["Bitcoin steady"] and news.hits["/rss/c1"] == 2


async def test_rss_persistent_500_fails_after_the_retry_budget(news: FakeNews, clients: list[HttpClient]) -> None:
    url = news.feed("c1", [("Bitcoin steady", H)])
    news.fail("/rss/c1", 500)
    rss = RssSource({"crypto": [url]}, _client(clients, "RSS"))
    with pytest.raises(SourceError) as caught:
        await rss.fetch_items("BTC/USDT", AssetClass.CRYPTO, datetime.now(UTC))
    assert caught.value.source == "RSS" and "127.0.0.1:" in caught.value.message
    assert "/rss/c1" in caught.value.message and "HTTP 500" in caught.value.message
    assert news.hits["/rss/c1"] == 3  # FAST.attempts


async def test_rss_one_failing_feed_leaves_the_others(news: FakeNews, clients: list[HttpClient]) -> None:
    good = news.feed("good", [("Oil rises", H)])
    bad = news.feed("bad", [("never served", H)])
    news.fail("/rss/bad", 500)
    rss = RssSource({"stock": [good, bad]}, _client(clients, "RSS"))
    items = await rss.fetch_items("AAPL", AssetClass.STOCK, datetime.now(UTC))
    assert [i.text for i in items] == ["Oil rises"]


async def test_rss_timeout(news: FakeNews, clients: list[HttpClient]) -> None:
    url = news.feed("slow", [("late", H)])
    news.fail("/rss/slow", hang=True)
    policy = FetchPolicy(attempts=2, timeout=0.2, initial=0.01, maximum=0.01, jitter=0.0, budget=5.0)
    rss = RssSource({"crypto": [url]}, _client(clients, "RSS", policy))
    started = time.monotonic()
    with pytest.raises(SourceError, match="timed out"):
        await rss.fetch_items("BTC/USDT", AssetClass.CRYPTO, datetime.now(UTC))
    assert time.monotonic() - started < 2.0 and news.hits["/rss/slow"] == 2


@pytest.mark.parametrize("body", [b"<html><body><p>Service unavailable</p></body></html>", b"", b'{"items": []}'])
async def test_rss_malformed_body_is_a_failed_feed(news: FakeNews, clients: list[HttpClient], body: bytes) -> None:
    url = news.feed("c1", [("ok", H)])
    news.fail("/rss/c1", 200, body=body, headers={"Content-Type": "text/html"})
    rss = RssSource({"crypto": [url]}, _client(clients, "RSS"))
    with pytest.raises(SourceError, match="not an RSS or Atom feed"):
        await rss.fetch_items("BTC/USDT", AssetClass.CRYPTO, datetime.now(UTC))


async def test_rss_every_feed_failing_names_each(news: FakeNews, clients: list[HttpClient]) -> None:
    a, b = news.feed("a", [("x", H)]), news.feed("b", [("y", H)])
    news.fail("/rss/a", 500)
    news.fail("/rss/b", 404)
    rss = RssSource({"crypto": [a, b]}, _client(clients, "RSS"))
    with pytest.raises(SourceError) as caught:
        await rss.fetch_items("BTC/USDT", AssetClass.CRYPTO, datetime.now(UTC))
    assert "/rss/a: server error (HTTP 500)" in caught.value.message
    assert "/rss/b: HTTP 404" in caught.value.message


def test_url_templates_are_filled_and_encoded() -> None:
    assert expand("https://x.test/h?s={symbol}&r=US", "BTC/USDT") == "https://x.test/h?s=BTC%2FUSDT&r=US"
    assert expand("https://x.test/{base}/rss", "BTC/USDT") == "https://x.test/BTC/rss"
    assert expand("https://x.test/h?s={symbol}", "AAPL") == "https://x.test/h?s=AAPL"
    assert expand("https://x.test/rss", "AAPL") == "https://x.test/rss"


async def test_rss_url_templating_reaches_the_server(news: FakeNews, clients: list[HttpClient]) -> None:
    news.feed("AAPL", [("Apple unveils a phone", H)])
    news.feed("BTC-news", [("Bitcoin news", H)])
    news.feed("q", [("Queried", H)])
    rss = RssSource({"stock": [f"{news.base_url}/rss/{{symbol}}", f"{news.base_url}/rss/q?s={{symbol}}"],
                     "crypto": [f"{news.base_url}/rss/{{base}}-news", f"{news.base_url}/rss/q?s={{symbol}}"]},
                    _client(clients, "RSS"))
    now = datetime.now(UTC)
    stock = await rss.fetch_items("AAPL", AssetClass.STOCK, now)
    crypto = await rss.fetch_items("BTC/USDT", AssetClass.CRYPTO, now)
    assert sorted(i.text for i in stock) == ["Apple unveils a phone", "Queried"]
    assert sorted(i.text for i in crypto) == ["Bitcoin news", "Queried"]
    assert [q["s"] for q in news.queries["/rss/q"]] == ["AAPL", "BTC/USDT"]


async def test_an_asset_class_with_no_feeds_gets_no_rss(news: FakeNews, clients: list[HttpClient]) -> None:
    url = news.feed("c1", [("Bitcoin steady", H)])
    rss = RssSource({"crypto": [url]}, _client(clients, "RSS"))
    assert await rss.fetch_items("EUR_USD", AssetClass.FOREX, datetime.now(UTC)) == []
    assert await rss.fetch_items("AAPL", AssetClass.STOCK, datetime.now(UTC)) == []
    assert news.hits == {}


# --- Reddit against the local server -------------------------------------------------------------------


async def test_reddit_fresh_posts(news: FakeNews, clients: list[HttpClient]) -> None:
    news.posts("CryptoCurrency", [("Bitcoin to the moon", 2 * H), ("A future post", -H), ("Old but dated", 30 * H)]
               + [(f"filler {n}", (40 + n) * H) for n in range(12)])
    reddit = RedditSource({"crypto": ["CryptoCurrency"]}, news.base_url + "/", _client(clients, "Reddit"))
    now = datetime.now(UTC)
    items = await reddit.fetch_items("BTC/USDT", AssetClass.CRYPTO, now)
    # The server returns 10 posts (limit=10); the future one is dropped.
    assert [i.text for i in items] == ["Bitcoin to the moon", "Old but dated"] + [f"filler {n}" for n in range(7)]
    assert {i.source for i in items} == {"r/CryptoCurrency"} and {i.kind for i in items} == {"social"}
    assert items[0].url == f"{news.base_url}/r/CryptoCurrency/comments/p0/post_0/"
    assert abs(items[0].published - (now - 2 * H)) < timedelta(seconds=5)
    assert news.queries["/r/CryptoCurrency/new.json"] == [{"limit": "10", "raw_json": "1"}]
    assert news.user_agents == [USER_AGENT]


async def test_reddit_429_then_success(news: FakeNews, clients: list[HttpClient]) -> None:
    news.posts("Bitcoin", [("Hodl", H)])
    news.fail("/r/Bitcoin/new.json", 429, headers={"Retry-After": "0"}, times=2)
    reddit = RedditSource({"crypto": ["Bitcoin"]}, news.base_url, _client(clients, "Reddit"))
    items = await reddit.fetch_items("BTC/USDT", AssetClass.CRYPTO, datetime.now(UTC))
    assert [i.text for i in items] == ["Hodl"] and news.hits["/r/Bitcoin/new.json"] == 3


async def test_reddit_403_is_not_retried(news: FakeNews, clients: list[HttpClient]) -> None:
    news.posts("Bitcoin", [("Hodl", H)])
    news.fail("/r/Bitcoin/new.json", 403, body=b"<html>blocked</html>")
    reddit = RedditSource({"crypto": ["Bitcoin"]}, news.base_url, _client(clients, "Reddit"))
    with pytest.raises(SourceError) as caught:
        await reddit.fetch_items("BTC/USDT", AssetClass.CRYPTO, datetime.now(UTC))
    assert caught.value.source == "Reddit" and caught.value.message == "r/Bitcoin: refused the request (HTTP 403)"
    assert not caught.value.auth  # no credentials were sent: nothing for an admin to fix
    assert news.hits["/r/Bitcoin/new.json"] == 1


@pytest.mark.parametrize("body", [b"<html>oops</html>", b'{"data": {"children": "nope"}}', b"[1, 2]",
                                  b'{"kind": "Listing"}'])
async def test_reddit_malformed_body(news: FakeNews, clients: list[HttpClient], body: bytes) -> None:
    news.posts("Bitcoin", [("Hodl", H)])
    news.fail("/r/Bitcoin/new.json", 200, body=body, headers={"Content-Type": "application/json"})
    reddit = RedditSource({"crypto": ["Bitcoin"]}, news.base_url, _client(clients, "Reddit"))
    with pytest.raises(SourceError, match="malformed"):
        await reddit.fetch_items("BTC/USDT", AssetClass.CRYPTO, datetime.now(UTC))


async def test_reddit_skips_posts_without_title_or_time(news: FakeNews, clients: list[HttpClient]) -> None:
    news.posts("Bitcoin", [("dated", H)])
    body = (b'{"kind": "Listing", "data": {"children": [{"data": {"title": "ok", "created_utc": 1700000000}},'
            b' {"data": {"title": "no time"}}, {"data": {"created_utc": 1700000000}}, "junk",'
            b' {"data": {"title": "bool time", "created_utc": true}}]}}')
    news.fail("/r/Bitcoin/new.json", 200, body=body, headers={"Content-Type": "application/json"})
    reddit = RedditSource({"crypto": ["Bitcoin"]}, news.base_url, _client(clients, "Reddit"))
    items = await reddit.fetch_items("BTC/USDT", AssetClass.CRYPTO, datetime.now(UTC))
    assert [(i.text, i.published) for i in items] == [("ok", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC))]


async def test_reddit_403_means_a_reading_from_rss_alone(news: FakeNews, clients: list[HttpClient]) -> None:
    url = news.feed("c1", [("Bitcoin rallies", H), ("Exchange outage", 2 * H)], title="Test Wire")
    news.posts("CryptoCurrency", [("never seen", H)])
    news.fail("/r/CryptoCurrency/new.json", 403)
    sources = [RssSource({"crypto": [url]}, _client(clients, "RSS")),
               RedditSource({"crypto": ["CryptoCurrency"]}, news.base_url, _client(clients, "Reddit"))]
    model = StubModel({"Bitcoin rallies": 0.8, "Exchange outage": -0.4})
    reading = await analyse("BTC/USDT", AssetClass.CRYPTO, sources, model, max_texts=20, max_age_hours=48)
    assert reading.available is True and reading.texts == 2
    assert reading.score == pytest.approx((0.8 - 0.4) / 2)
    assert reading.sources == ["Test Wire"] and reading.source == "RSS"
    assert reading.unavailable == ["Reddit: r/CryptoCurrency: refused the request (HTTP 403)"]
    assert reading.demo is False


async def test_collect_notes_each_failing_source(news: FakeNews, clients: list[HttpClient]) -> None:
    url = news.feed("c1", [("x", H)])
    news.fail("/rss/c1", 500)

    class Exploding:
        name = "Broken"
        demo = False

        async def fetch_items(self, symbol: str, asset: AssetClass, at: datetime) -> list[NewsItem]:
            raise KeyError("boom")

    found = await collect("BTC/USDT", AssetClass.CRYPTO, datetime.now(UTC),
                          [RssSource({"crypto": [url]}, _client(clients, "RSS")), Exploding()], 20, 48)
    assert found.items == [] and found.answered == []
    assert found.unavailable[0].startswith("RSS: 127.0.0.1:") and "HTTP 500" in found.unavailable[0]
    assert found.unavailable[1] == "Broken: KeyError: 'boom'"


# --- DatedHeadlines on the real bundled CSVs -----------------------------------------------------------


@functools.cache
def _rows(name: str) -> list[tuple[datetime, str, str]]:
    """(published, asset, headline) per CSV row, parsed here independently of engine.sentiment.dated."""
    with (DATA / name).open(encoding="utf-8", newline="") as f:
        return [(datetime.strptime(row["published_utc"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC), row["asset"],
                 " ".join(row["headline"].split())) for row in csv.DictReader(f)]


def _expected(name: str, assets: set[str], at: datetime, hours: float = 48) -> list[tuple[datetime, str]]:
    """Rows of `assets` published in [at − hours, at], recomputed with a plain loop."""
    start = at - timedelta(hours=hours)
    return sorted((published, text) for published, asset, text in _rows(name)
                  if asset in assets and start <= published <= at)


async def test_dated_headlines_btc_window() -> None:
    at = datetime(2024, 3, 27, 12, 0, tzinfo=UTC)
    expected = _expected("crypto_2024.csv", {"BTC", "crypto"}, at)
    assert len(expected) > 5  # this window has rows, some naming bitcoin
    assert any("bitcoin" in text.lower() for _, text in expected)
    items = await DatedHeadlines(48).fetch_items("BTC/USDT", AssetClass.CRYPTO, at)
    assert sorted((i.published, i.text) for i in items) == expected
    assert [i.published for i in items] == sorted((i.published for i in items), reverse=True)
    assert {i.source for i in items} <= {"BlockchainWire (bundled)", "News Direct (bundled)",
                                         "24-7 Press Release (bundled)", "Newsworthy.ai (bundled)"}
    eth_only = {t for _, t in _expected("crypto_2024.csv", {"ETH"}, at)} - {t for _, t in expected}
    assert eth_only and not eth_only & {i.text for i in items}  # another coin's rows are not BTC's class news


async def test_dated_headlines_window_edges() -> None:
    row_time = datetime(2024, 3, 13, 5, 0, tzinfo=UTC)
    at_row = {t for p, t in _expected("crypto_2024.csv", {"BTC", "crypto"}, row_time + 48 * H) if p == row_time}
    assert at_row  # rows published exactly 48 h before
    source = DatedHeadlines(48)
    inside = await source.fetch_items("BTC/USDT", AssetClass.CRYPTO, row_time + 48 * H)
    outside = await source.fetch_items("BTC/USDT", AssetClass.CRYPTO, row_time + 48 * H + timedelta(seconds=1))
    assert at_row <= {i.text for i in inside} and not at_row & {i.text for i in outside}
    before = await source.fetch_items("BTC/USDT", AssetClass.CRYPTO, row_time - timedelta(seconds=1))
    assert all(i.published < row_time for i in before)  # never a row published after `at`


async def test_dated_headlines_stocks_include_the_us_market_reports() -> None:
    at = datetime(2015, 3, 6, 12, 0, tzinfo=UTC)
    expected = _expected("stocks_2004_2018.csv", {"AAPL", "SPY"}, at)
    assert any(text.startswith("US STOCKS") for _, text in expected) and len(expected) > 3
    items = await DatedHeadlines(48).fetch_items("AAPL", AssetClass.STOCK, at)
    assert sorted((i.published, i.text) for i in items) == expected
    assert {i.source for i in items} == {"Reuters (bundled)"}
    wider = await DatedHeadlines(24 * 7).fetch_items("AAPL", AssetClass.STOCK, at)
    assert len(wider) == len(_expected("stocks_2004_2018.csv", {"AAPL", "SPY"}, at, 24 * 7))


async def test_dated_headlines_with_no_rows_in_the_window() -> None:
    early = datetime(2024, 1, 5, tzinfo=UTC)  # before the first crypto row (2024-01-10)
    gap = datetime(2012, 4, 15, tzinfo=UTC)  # the 2012 gap in the Reuters crawl
    assert _expected("crypto_2024.csv", {"BTC", "crypto"}, early) == []
    assert _expected("stocks_2004_2018.csv", {"AAPL", "SPY"}, gap) == []
    source = DatedHeadlines(48)
    assert await source.fetch_items("BTC/USDT", AssetClass.CRYPTO, early) == []
    assert await source.fetch_items("AAPL", AssetClass.STOCK, gap) == []
    assert await source.fetch_items("EUR_USD", AssetClass.FOREX, T) == []
    reading = await analyse("BTC/USDT", AssetClass.CRYPTO, [source], StubModel({}), max_texts=20, max_age_hours=48,
                            at=early)
    assert reading.available is True and reading.texts == 0 and reading.score == 0.0
    assert reading.demo is True and reading.source == "bundled headlines" and reading.as_of == early


async def test_replayed_tips_at_different_times_read_different_news() -> None:
    source = DatedHeadlines(48)
    march = await source.fetch_items("BTC/USDT", AssetClass.CRYPTO, T)
    june = await source.fetch_items("BTC/USDT", AssetClass.CRYPTO, datetime(2024, 6, 20, tzinfo=UTC))
    assert march and june and not {i.text for i in march} & {i.text for i in june}


def test_dated_headlines_is_a_news_source() -> None:
    assert isinstance(DatedHeadlines(), NewsSource)


# --- analyse() -----------------------------------------------------------------------------------------


class StubModel:
    """Fixed scores per text (0.0 for others); counts what it was asked to score."""

    name = "stub"

    def __init__(self, scores: dict[str, float], error: Exception | None = None) -> None:
        self.scores = scores
        self.error = error
        self.calls: list[list[str]] = []

    def score(self, texts: list[str]) -> list[float]:
        self.calls.append(list(texts))
        if self.error:
            raise self.error
        return [self.scores.get(t, 0.0) for t in texts]

    def classify(self, texts: list[str]) -> list[str]:
        return ["neutral" for _ in texts]


class ListSource:
    def __init__(self, name: str, items: list[NewsItem], demo: bool = False,
                 error: Exception | None = None, gate: asyncio.Event | None = None) -> None:
        self.name = name
        self.demo = demo
        self.items = items
        self.error = error
        self.gate = gate
        self.calls: list[datetime] = []

    async def fetch_items(self, symbol: str, asset: AssetClass, at: datetime) -> list[NewsItem]:
        self.calls.append(at)
        if self.gate is not None:
            await self.gate.wait()
        if self.error:
            raise self.error
        return [i for i in self.items if i.published <= at]


async def test_analyse_mean_of_the_model_scores() -> None:
    wire = ListSource("RSS", [item("Bitcoin soars", T - 1 * H, "Wire A"), item("Exchange hacked", T - 3 * H, "Wire B"),
                              item("Too old", T - 49 * H, "Wire A")])
    social = ListSource("Reddit", [item("bitcoin is fine", T - 2 * H, "r/Bitcoin")])
    model = StubModel({"Bitcoin soars": 0.9, "Exchange hacked": -0.6, "bitcoin is fine": 0.3, "Too old": -1.0})
    reading = await analyse("BTC/USDT", AssetClass.CRYPTO, [wire, social], model, max_texts=20, max_age_hours=48,
                            at=T)
    assert reading.score == pytest.approx((0.9 - 0.6 + 0.3) / 3)
    assert reading.available is True and reading.texts == 3 and reading.error is None
    assert [(i.text, i.score) for i in reading.items] == [("Bitcoin soars", 0.9), ("bitcoin is fine", 0.3),
                                                          ("Exchange hacked", -0.6)]
    assert reading.sources == ["Wire A", "r/Bitcoin", "Wire B"]
    assert reading.source == "RSS + Reddit" and reading.unavailable == []
    assert reading.as_of == T and reading.window_hours == 48 and reading.model == "stub" and reading.demo is False
    assert reading.newest == T - 1 * H
    assert wire.calls == [T] and social.calls == [T]


async def test_analyse_clips_the_mean() -> None:
    source = ListSource("RSS", [item("a", T - H), item("b", T - 2 * H)])
    reading = await analyse("AAPL", AssetClass.STOCK, [source], StubModel({"a": 1.5, "b": 1.5}), max_texts=20,
                            max_age_hours=48, at=T)
    assert reading.score == 1.0


async def test_analyse_every_source_failed() -> None:
    sources = [ListSource("RSS", [], error=SourceError("RSS", "a.test: timed out after 10 s")),
               ListSource("Reddit", [], error=SourceError("Reddit", "r/x: refused the request (HTTP 403)"))]
    reading = await analyse("AAPL", AssetClass.STOCK, sources, StubModel({}), max_texts=20, max_age_hours=48, at=T)
    assert reading.available is False and reading.score == 0.0 and reading.texts == 0
    assert reading.unavailable == ["RSS: a.test: timed out after 10 s", "Reddit: r/x: refused the request (HTTP 403)"]
    assert reading.error == ("no news source answered: RSS: a.test: timed out after 10 s; "
                             "Reddit: r/x: refused the request (HTTP 403)")


async def test_analyse_model_failure_is_one_line() -> None:
    source = ListSource("RSS", [item("a", T - H)])
    model = StubModel({}, error=RuntimeError("out of memory\nsecond line"))
    reading = await analyse("AAPL", AssetClass.STOCK, [source], model, max_texts=20, max_age_hours=48, at=T)
    assert reading.available is False and reading.score == 0.0
    assert reading.error == "RuntimeError: out of memory second line"


async def test_analyse_wrong_number_of_scores_is_a_model_failure() -> None:
    class Short(StubModel):
        def score(self, texts: list[str]) -> list[float]:
            return [0.5]

    source = ListSource("RSS", [item("a", T - H), item("b", T - 2 * H)])
    reading = await analyse("AAPL", AssetClass.STOCK, [source], Short({}), max_texts=20, max_age_hours=48, at=T)
    assert reading.available is False and "2 texts" in (reading.error or "")


async def test_analyse_memo_scores_each_text_once() -> None:
    memo = ScoreMemo(max_entries=3)
    model = StubModel({"a": 0.2, "b": -0.4, "c": 1.0, "d": 0.0})
    first = ListSource("RSS", [item("a", T - H), item("b", T - 2 * H)])
    r1 = await analyse("AAPL", AssetClass.STOCK, [first], model, max_texts=20, max_age_hours=48, at=T, memo=memo)
    second = ListSource("RSS", [item("a", T - H), item("b", T - 2 * H), item("c", T - 3 * H)])
    r2 = await analyse("AAPL", AssetClass.STOCK, [second], model, max_texts=20, max_age_hours=48, at=T, memo=memo)
    assert model.calls == [["a", "b"], ["c"]]
    assert r1.score == pytest.approx((0.2 - 0.4) / 2) and r2.score == pytest.approx((0.2 - 0.4 + 1.0) / 3)
    third = ListSource("RSS", [item("d", T - H), item("a", T - 2 * H)])  # "d" evicts "b", the least recently used
    await analyse("AAPL", AssetClass.STOCK, [third], model, max_texts=20, max_age_hours=48, at=T, memo=memo)
    assert model.calls[-1] == ["d"] and len(memo) == 3
    assert memo.get("b") is None and memo.get("a") == 0.2


# --- CachedSentiment -----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _live(text: str = "Apple beats estimates") -> ListSource:
    return ListSource("RSS", [item(text, datetime.now(UTC) - H)])


async def test_cached_sentiment_ttl_and_round_trip() -> None:
    clock = Clock()
    source = _live()
    provider = CachedSentiment([source], StubModel({"Apple beats estimates": 0.6}), ttl=300,
                               cache=MemoryCache(clock=clock))
    first = await provider.reading("AAPL", AssetClass.STOCK)
    clock.now += 299
    second = await provider.reading("AAPL", AssetClass.STOCK)
    assert len(source.calls) == 1 and second == first and second.score == pytest.approx(0.6)
    assert isinstance(second, SentimentReading) and second.items[0].text == "Apple beats estimates"
    clock.now += 2
    await provider.reading("AAPL", AssetClass.STOCK)
    assert len(source.calls) == 2
    assert provider.sources == [source] and provider.model.name == "stub"


async def test_cached_sentiment_single_flight() -> None:
    gate = asyncio.Event()
    rss = ListSource("RSS", [item("Apple up", datetime.now(UTC) - H)], gate=gate)
    reddit = ListSource("Reddit", [item("apple down", datetime.now(UTC) - H)], gate=gate)
    provider = CachedSentiment([rss, reddit], StubModel({"Apple up": 1.0, "apple down": -0.5}))
    both = asyncio.gather(provider.reading("AAPL", AssetClass.STOCK), provider.reading("AAPL", AssetClass.STOCK))
    await asyncio.sleep(0.01)
    gate.set()
    a, b = await both
    assert len(rss.calls) == 1 and len(reddit.calls) == 1
    assert a == b and a.score == pytest.approx((1.0 - 0.5) / 2)


async def test_cached_sentiment_does_not_cache_failures() -> None:
    source = ListSource("RSS", [], error=SourceError("RSS", "down"))
    provider = CachedSentiment([source], StubModel({}))
    assert (await provider.reading("AAPL", AssetClass.STOCK)).available is False
    assert (await provider.reading("AAPL", AssetClass.STOCK)).available is False
    assert len(source.calls) == 2
    source.error = None
    source.items = [item("back", datetime.now(UTC) - H)]
    assert (await provider.reading("AAPL", AssetClass.STOCK)).texts == 1
    await provider.reading("AAPL", AssetClass.STOCK)
    assert len(source.calls) == 3


async def test_cached_sentiment_replay_key_is_the_minute() -> None:
    source = ListSource("bundled headlines", [item("Apple at 11:59:30", T - timedelta(seconds=30)),
                                              item("Apple at 12:00:30", T + timedelta(seconds=30))], demo=True)
    provider = CachedSentiment([source], StubModel({}))
    r1 = await provider.reading("AAPL", AssetClass.STOCK, at=T + timedelta(seconds=50))
    r2 = await provider.reading("AAPL", AssetClass.STOCK, at=T + timedelta(seconds=5))
    assert len(source.calls) == 1 and r1 == r2
    # Computed at the start of the minute: nothing published later in it leaks to the earlier caller.
    assert r1.as_of == T and [i.text for i in r1.items] == ["Apple at 11:59:30"] and r1.demo is True
    await provider.reading("AAPL", AssetClass.STOCK, at=T + timedelta(minutes=1))
    await provider.reading("AAPL", AssetClass.STOCK)  # live: its own key
    assert source.calls[:2] == [T, T + timedelta(minutes=1)] and len(source.calls) == 3


async def test_cached_sentiment_ignores_a_corrupt_cache_entry() -> None:
    cache = MemoryCache()
    await cache.set("sentiment:AAPL", b"not json", 300)
    source = _live()
    provider = CachedSentiment([source], StubModel({"Apple beats estimates": 0.6}), cache=cache)
    assert (await provider.reading("AAPL", AssetClass.STOCK)).score == pytest.approx(0.6)
    assert len(source.calls) == 1
