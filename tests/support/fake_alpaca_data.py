"""A local server speaking the part of Alpaca's market-data API v2 that engine/market/alpaca_market.py reads.

Endpoints (https://docs.alpaca.markets/reference/stockbars, .../stocklatesttrades):

* ``GET /v2/stocks/{symbol}/bars`` with timeframe (``15Min``, ``1Hour``, ``4Hour``, ``1Day``, …), start,
  end, limit (1–10000, default 1000), sort (asc/desc), adjustment, feed and page_token. The answer is
  ``{"bars": [...] | null, "symbol": …, "next_page_token": … | null}``, each bar
  ``{"t", "o", "h", "l", "c", "v", "n", "vw"}``; a page holds at most ``min(limit, page_size)`` bars, so a
  test can force pagination with ``page_size``.
* ``GET /v2/stocks/{symbol}/trades/latest?feed=`` → ``{"symbol": …, "trade": {"t", "x", "p", "s", "c", "i",
  "z"}}``; 404 ``{"code": 40410000, "message": "object not found"}`` when there is no trade.

Keys are checked on every request (``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY``): wrong ones get 401
``{"message": "unauthorized."}``. A symbol the server has no data for gets empty bars and no latest trade,
as Alpaca answers for a symbol it does not list; a symbol with characters Alpaca rejects gets 422.
Fault injection: ``fail_next`` (any status, body and headers: 429 with Retry-After, 500, 403 …) and
``hang_next`` (the answer comes after N seconds: a client timeout).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.support.loopback import Fault, LoopbackServer, take_fault

_TIMEFRAME_RE = re.compile(r"^([1-9][0-9]*)(Min|T|Hour|H|Day|D|Week|W|Month|M)$")
_SYMBOL_RE = re.compile(r"^[A-Z][A-Z0-9.]{0,9}$")


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class StockBar:
    t: datetime  # bar open time
    o: float
    h: float
    l: float  # noqa: E741 - Alpaca's field name
    c: float
    v: float

    def to_json(self) -> dict[str, Any]:
        return {"t": iso(self.t), "o": self.o, "h": self.h, "l": self.l, "c": self.c, "v": self.v, "n": 42,
                "vw": round((self.h + self.l + self.c) / 3, 4)}


class FakeAlpacaData(LoopbackServer):
    def __init__(self, key: str = "data-key", secret: str = "data-secret") -> None:
        self.key = key
        self.secret = secret
        self.bars: dict[tuple[str, str], list[StockBar]] = {}  # (symbol, Alpaca timeframe) → bars, oldest first
        self.trades: dict[str, float] = {}
        self.page_size = 10_000
        self.faults: list[Fault] = []
        self.hangs: list[tuple[str, float]] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.seen_headers: list[dict[str, str]] = []

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/v2/stocks/{symbol}/bars", self._get_bars)
        app.router.add_get("/v2/stocks/{symbol}/trades/latest", self._latest_trade)
        return app

    # ---- data and faults --------------------------------------------------------------------------------

    def set_bars(self, symbol: str, timeframe: str, bars: list[StockBar], *, last_trade: float | None = None) -> None:
        """Serve `bars` for (symbol, Alpaca timeframe such as "1Hour"); the latest trade defaults to the last
        close."""
        self.bars[(symbol, timeframe)] = sorted(bars, key=lambda b: b.t)
        price = last_trade if last_trade is not None else (bars[-1].c if bars else None)
        if price is not None:
            self.trades[symbol] = price

    def fail_next(self, path: str, status: int, body: dict[str, Any] | str,
                  headers: dict[str, str] | None = None, times: int = 1) -> None:
        """The next `times` requests under `path` get this answer (a dict as JSON, a string as text)."""
        for _ in range(times):
            self.faults.append(Fault(path, status, body, headers or {}))

    def hang_next(self, path: str, seconds: float, times: int = 1) -> None:
        """The next `times` requests under `path` are answered normally, but only after `seconds`."""
        self.hangs.extend([(path, seconds)] * times)

    def count(self, suffix: str) -> int:
        """How many requests whose path ends with `suffix` arrived."""
        return sum(1 for path, _ in self.requests if path.endswith(suffix))

    # ---- HTTP ---------------------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.path, dict(request.query)))
        self.seen_headers.append(dict(request.headers))
        if (scripted := take_fault(self.faults, request)) is not None:
            return scripted
        for hang in self.hangs:
            if request.path.startswith(hang[0]):
                self.hangs.remove(hang)
                await asyncio.sleep(hang[1])
                break
        if (request.headers.get("APCA-API-KEY-ID") != self.key
                or request.headers.get("APCA-API-SECRET-KEY") != self.secret):
            return web.json_response({"message": "unauthorized."}, status=401)
        return await handler(request)

    @staticmethod
    def _invalid(message: str) -> web.Response:
        return web.json_response({"code": 42210000, "message": message}, status=422)

    async def _get_bars(self, request: web.Request) -> web.Response:
        symbol, q = request.match_info["symbol"], request.query
        if not _SYMBOL_RE.match(symbol):
            return self._invalid(f"invalid symbol: {symbol}")
        timeframe = q.get("timeframe", "")
        if not _TIMEFRAME_RE.match(timeframe):
            return self._invalid("invalid timeframe")
        limit = int(q.get("limit", "1000"))
        if not 1 <= limit <= 10_000:
            return self._invalid("invalid limit: must be between 1 and 10000")
        try:
            start = datetime.fromisoformat(q["start"].replace("Z", "+00:00")) if "start" in q else None
            end = datetime.fromisoformat(q["end"].replace("Z", "+00:00")) if "end" in q else None
        except ValueError:
            return self._invalid("invalid start or end")
        bars = [b for b in self.bars.get((symbol, timeframe), [])
                if (start is None or b.t >= start) and (end is None or b.t <= end)]
        if q.get("sort", "asc") == "desc":
            bars.reverse()
        offset = int(q.get("page_token", "0") or 0)
        size = min(limit, self.page_size)
        page = bars[offset:offset + size]
        token = str(offset + size) if offset + size < len(bars) else None
        return web.json_response({"bars": [b.to_json() for b in page] or None, "symbol": symbol,
                                  "next_page_token": token})

    async def _latest_trade(self, request: web.Request) -> web.Response:
        symbol = request.match_info["symbol"]
        if not _SYMBOL_RE.match(symbol):
            return self._invalid(f"invalid symbol: {symbol}")
        price = self.trades.get(symbol)
        if price is None:
            return web.json_response({"code": 40410000, "message": "object not found"}, status=404)
        return web.json_response({"symbol": symbol, "trade": {
            "t": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "x": "V", "p": price, "s": 100,
            "c": ["@"], "i": 52983525029461, "z": "C"}})
