"""A backtest's per-bar sentiment is what a live tip reads at that bar: the same windows, the same selection,
the same model — checked bar by bar against the live path (engine.sentiment.analyse)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from engine.backtest.sentiment import bar_sentiment
from engine.models import AssetClass
from engine.sentiment.analyse import analyse
from engine.sentiment.dated import DatedHeadlines
from engine.sentiment.offline import OfflineModel


class CountingModel:
    """The offline model, counting the texts it is asked to score."""

    def __init__(self) -> None:
        self.inner = OfflineModel()
        self.name = self.inner.name
        self.asked = 0

    def score(self, texts: list[str]) -> list[float]:
        self.asked += len(texts)
        return self.inner.score(texts)

    def classify(self, texts: list[str]) -> list[str]:
        return self.inner.classify(texts)


@pytest.mark.parametrize(("symbol", "asset", "start"), [
    ("BTC/USDT", AssetClass.CRYPTO, datetime(2024, 3, 1, tzinfo=UTC)),
    ("AAPL", AssetClass.STOCK, datetime(2016, 5, 2, tzinfo=UTC)),
])
async def test_every_bar_reads_what_a_live_tip_reads(symbol: str, asset: AssetClass, start: datetime):
    hourly = np.arange(int(start.timestamp()), int(start.timestamp()) + 24 * 3600 * 10, 6 * 3600)  # 10 days
    model = CountingModel()
    result = bar_sentiment(symbol, asset, hourly, model, max_texts=20, max_age_hours=48)
    assert result.bars_with_news > 0, "the bundled headlines cover these days"
    for i, ts in enumerate(hourly):
        live = await analyse(symbol, asset, [DatedHeadlines(48)], OfflineModel(), max_texts=20, max_age_hours=48,
                             at=datetime.fromtimestamp(int(ts), UTC))
        expected = live.score if live.available and live.texts else 0.0
        assert result.scores[i] == pytest.approx(expected, abs=1e-12), (i, ts)
    assert model.asked == result.texts  # each distinct text scored once, however many windows hold it


def test_a_period_without_headlines_reads_zero():
    far = np.arange(int(datetime(2035, 1, 1, tzinfo=UTC).timestamp()), int(datetime(2035, 1, 2, tzinfo=UTC)
                                                                            .timestamp()), 3600)
    result = bar_sentiment("BTC/USDT", AssetClass.CRYPTO, far, OfflineModel())
    assert result.bars_with_news == 0 and not result.scores.any()
