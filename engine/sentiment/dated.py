"""DatedHeadlines: the bundled headlines with publication times, for replay (a NewsSource; DEMO).

A replayed tip at market time T may use only texts a trader could have read at T: those published in
[T − window, T]. The rows (data/crypto_2024.csv, data/stocks_2004_2018.csv; sources and caveats in
data/README.md) are tagged with an asset: a coin or ticker (BTC, ETH, SOL, AAPL, GOOG) when the headline
names it, "crypto" for other crypto news, and SPY for Reuters' "US STOCKS-" market reports. A symbol's
items are its own rows plus its class's rows: "crypto" for every coin, the US market reports (SPY) for
every stock and ETF. Other coins' and companies' rows are not the class's news and are left out.
"""

from __future__ import annotations

import asyncio
import csv
import io
import threading
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources

from engine.models import AssetClass, NewsItem
from engine.sentiment.collect import utc
from engine.sentiment.names import base_asset

DATA_FILES = ("crypto_2024.csv", "stocks_2004_2018.csv")
CLASS_ROWS: dict[AssetClass, tuple[str, ...]] = {
    AssetClass.CRYPTO: ("crypto",),
    AssetClass.STOCK: ("SPY",),
    AssetClass.ETF: ("SPY",),
    AssetClass.FOREX: (),
}


@dataclass(frozen=True, slots=True)
class _Series:
    """One asset's rows, oldest first: their times (epoch seconds, for bisecting) and (published, text, source).

    NewsItems are built only for a window's rows: building all ~10,000 up front triples the load time.
    """

    times: list[float]
    rows: list[tuple[datetime, str, str]]


_index: dict[str, _Series] | None = None
_lock = threading.Lock()


def load_index() -> dict[str, _Series]:
    """Parse the bundled CSVs once per process (thread-safe); later calls return the same index."""
    global _index
    with _lock:
        if _index is None:
            rows: dict[str, list[tuple[datetime, str, str]]] = {}
            data = resources.files("engine.sentiment").joinpath("data")
            for name in DATA_FILES:
                text = data.joinpath(name).read_text(encoding="utf-8")
                reader = csv.reader(io.StringIO(text))
                header = next(reader)
                at, title, tag, src = (header.index(c) for c in ("published_utc", "headline", "asset", "source"))
                for row in reader:
                    headline = " ".join(row[title].split())
                    if headline:
                        published = utc(datetime.fromisoformat(row[at]))
                        rows.setdefault(asset_key(row[tag]), []).append((published, headline, f"{row[src]} (bundled)"))
            index = {}
            for key, series in rows.items():
                series.sort(key=lambda r: r[0])
                index[key] = _Series([r[0].timestamp() for r in series], series)
            _index = index
        return _index


def asset_key(asset: str) -> str:
    """Row tags and symbols compare case-insensitively: "crypto" and "CRYPTO", "aapl" and "AAPL"."""
    return asset.strip().upper()


class DatedHeadlines:
    """Bundled dated headlines of a symbol's asset and class published in [at − window_hours, at]."""

    name = "bundled headlines"
    demo = True

    def __init__(self, window_hours: float = 48.0) -> None:
        self.window_hours = window_hours

    def keys(self, symbol: str, asset: AssetClass) -> list[str]:
        return list(dict.fromkeys(asset_key(k) for k in (base_asset(symbol), *CLASS_ROWS.get(asset, ()))))

    def items_in(self, symbol: str, asset: AssetClass, at: datetime) -> list[NewsItem]:
        """The window's items, newest first (blocking: loads the CSVs on first use)."""
        index = load_index()
        end = utc(at)
        start, stop = (end - timedelta(hours=self.window_hours)).timestamp(), end.timestamp()
        found: list[tuple[datetime, str, str]] = []
        for key in self.keys(symbol, asset):
            series = index.get(key)
            if series is not None:
                found.extend(series.rows[bisect_left(series.times, start):bisect_right(series.times, stop)])
        found.sort(key=lambda r: r[0], reverse=True)
        return [NewsItem(text=text, source=source, published=published, kind="news")
                for published, text, source in found]

    async def fetch_items(self, symbol: str, asset: AssetClass, at: datetime) -> list[NewsItem]:
        if _index is None:  # the first call parses ~10,000 rows: not on the event loop
            await asyncio.to_thread(load_index)
        return self.items_in(symbol, asset, at)
