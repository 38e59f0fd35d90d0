"""A local server speaking the two Alpaca endpoints engine/options/alpaca_options.py reads, on one base URL
(the test points both the data and the trading URL at it).

* ``GET /v1beta1/options/snapshots/{underlying}`` (docs.alpaca.markets/reference/optionchain): feed
  (``indicative`` | ``opra``), type (``call`` | ``put``), strike_price_gte/lte, expiration_date (exact),
  expiration_date_gte/lte, limit (1-1000, default 100), page_token. Answers ``{"snapshots": {OCC: {"latestQuote":
  {"t", "ax", "ap", "as", "bx", "bp", "bs", "c"}, "latestTrade": {"t", "x", "p", "s", "c"}, "greeks": {"delta",
  "gamma", "rho", "theta", "vega"}, "impliedVolatility"}}, "next_page_token": … | null}``; a contract without
  Greeks (Alpaca sends none when it cannot solve for the volatility) has no "greeks"/"impliedVolatility" keys.
* ``GET /v2/options/contracts`` (docs.alpaca.markets/reference/get-options-contracts): underlying_symbols
  (comma-separated), type, status, expiration_date_gte/lte, strike_price_gte/lte, limit (1-10000, default 100),
  page_token. Answers ``{"option_contracts": [{"id", "symbol", "name", "status", "tradable", "expiration_date",
  "root_symbol", "underlying_symbol", "underlying_asset_id", "type", "style", "strike_price", "multiplier",
  "size", "open_interest", "open_interest_date", "close_price", "close_price_date"}], "next_page_token"}`` with
  the numbers as strings, as Alpaca sends them.

Keys are checked on every request: wrong ones get 401 (the data API's ``{"message": "unauthorized."}``, the
trading API's ``{"code": 40110000, "message": "request is not authorized"}``). Bad parameters get 422.
``page_size`` forces pagination; ``fail_next`` injects any answer (status, JSON or raw text, headers).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from tests.support.loopback import Fault, LoopbackServer, take_fault


@dataclass(frozen=True)
class FakeContract:
    underlying: str
    kind: str  # "call" | "put"
    expiry: date
    strike: Decimal
    bid: float | None = None
    ask: float | None = None
    last: float | None = None
    open_interest: int | None = None
    greeks: dict[str, float] | None = None  # delta, gamma, theta, vega, rho
    iv: float | None = None

    @property
    def symbol(self) -> str:
        kind = "C" if self.kind == "call" else "P"
        return f"{self.underlying}{self.expiry:%y%m%d}{kind}{int(self.strike * 1000):08d}"

    def snapshot(self) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        snap: dict[str, Any] = {}
        if self.bid is not None or self.ask is not None:
            snap["latestQuote"] = {"t": now, "ax": "C", "ap": self.ask or 0, "as": 12, "bx": "C",
                                   "bp": self.bid or 0, "bs": 7, "c": "A"}
        if self.last is not None:
            snap["latestTrade"] = {"t": now, "x": "C", "p": self.last, "s": 1, "c": "I"}
        if self.greeks is not None:
            snap["greeks"] = dict(self.greeks)
        if self.iv is not None:
            snap["impliedVolatility"] = self.iv
        return snap

    def contract(self) -> dict[str, Any]:
        return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.symbol)), "symbol": self.symbol,
                "name": f"{self.underlying} {self.expiry:%b %d %Y} {self.strike} {self.kind.title()}",
                "status": "active", "tradable": True, "expiration_date": self.expiry.isoformat(),
                "root_symbol": self.underlying, "underlying_symbol": self.underlying,
                "underlying_asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.underlying)), "type": self.kind,
                "style": "american", "strike_price": str(self.strike), "multiplier": "100", "size": "100",
                "open_interest": None if self.open_interest is None else str(self.open_interest),
                "open_interest_date": None if self.open_interest is None else self.expiry.isoformat(),
                "close_price": None if self.last is None else str(self.last),
                "close_price_date": None if self.last is None else self.expiry.isoformat()}


class FakeAlpacaOptions(LoopbackServer):
    def __init__(self, key: str = "opt-key", secret: str = "opt-secret") -> None:
        self.key = key
        self.secret = secret
        self.contracts: list[FakeContract] = []
        self.page_size = 10_000
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.seen_headers: list[dict[str, str]] = []

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/v1beta1/options/snapshots/{underlying}", self._snapshots)
        app.router.add_get("/v2/options/contracts", self._contracts)
        return app

    def fail_next(self, path: str, status: int, body: dict[str, Any] | str,
                  headers: dict[str, str] | None = None, times: int = 1) -> None:
        for _ in range(times):
            self.faults.append(Fault(path, status, body, headers or {}))

    def count(self, prefix: str) -> int:
        return sum(1 for path, _ in self.requests if path.startswith(prefix))

    # ---- HTTP ---------------------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.path, dict(request.query)))
        self.seen_headers.append(dict(request.headers))
        if (scripted := take_fault(self.faults, request)) is not None:
            return scripted
        if (request.headers.get("APCA-API-KEY-ID") != self.key
                or request.headers.get("APCA-API-SECRET-KEY") != self.secret):
            if request.path.startswith("/v2/"):
                return web.json_response({"code": 40110000, "message": "request is not authorized"}, status=401)
            return web.json_response({"message": "unauthorized."}, status=401)
        return await handler(request)

    @staticmethod
    def _invalid(message: str) -> web.Response:
        return web.json_response({"code": 42210000, "message": message}, status=422)

    def _filtered(self, q: Any, underlyings: set[str]) -> list[FakeContract] | str:
        """The contracts the common filters keep, in symbol order, or the 422 message."""
        kind = q.get("type")
        if kind not in (None, "call", "put"):
            return "invalid type"
        try:
            low = Decimal(q["strike_price_gte"]) if "strike_price_gte" in q else None
            high = Decimal(q["strike_price_lte"]) if "strike_price_lte" in q else None
            exact = date.fromisoformat(q["expiration_date"]) if "expiration_date" in q else None
            after = date.fromisoformat(q["expiration_date_gte"]) if "expiration_date_gte" in q else None
            before = date.fromisoformat(q["expiration_date_lte"]) if "expiration_date_lte" in q else None
        except (ArithmeticError, ValueError):
            return "invalid strike price or expiration date"
        kept = [c for c in self.contracts
                if c.underlying in underlyings and (kind is None or c.kind == kind)
                and (low is None or c.strike >= low) and (high is None or c.strike <= high)
                and (exact is None or c.expiry == exact) and (after is None or c.expiry >= after)
                and (before is None or c.expiry <= before)]
        return sorted(kept, key=lambda c: c.symbol)

    def _page(self, q: Any, rows: list[FakeContract], maximum: int) -> tuple[list[FakeContract], str | None] | str:
        try:
            limit = int(q.get("limit", "100"))
            offset = int(q.get("page_token", "0") or 0)
        except ValueError:
            return "invalid limit or page_token"
        if not 1 <= limit <= maximum:
            return f"invalid limit: must be between 1 and {maximum}"
        size = min(limit, self.page_size)
        page = rows[offset:offset + size]
        return page, (str(offset + size) if offset + size < len(rows) else None)

    async def _snapshots(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("feed", "indicative") not in ("indicative", "opra"):
            return self._invalid("invalid feed")
        rows = self._filtered(q, {request.match_info["underlying"]})
        if isinstance(rows, str):
            return self._invalid(rows)
        paged = self._page(q, rows, 1000)
        if isinstance(paged, str):
            return self._invalid(paged)
        page, token = paged
        return web.json_response({"snapshots": {c.symbol: c.snapshot() for c in page}, "next_page_token": token})

    async def _contracts(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("status", "active") not in ("active", "inactive"):
            return self._invalid("invalid status")
        underlyings = {s for s in q.get("underlying_symbols", "").split(",") if s}
        rows = self._filtered(q, underlyings or {c.underlying for c in self.contracts})
        if isinstance(rows, str):
            return self._invalid(rows)
        paged = self._page(q, rows, 10_000)
        if isinstance(paged, str):
            return self._invalid(paged)
        page, token = paged
        return web.json_response({"option_contracts": [c.contract() for c in page], "next_page_token": token})
