"""A broker's error body never becomes a BrokerError message: only its one-line reason, with the broker's keys
redacted — against the local Alpaca and Binance servers, with bodies that echo the request (and our keys)."""

from __future__ import annotations

import logging
from decimal import Decimal as D

import pytest

from engine.brokers.alpaca import AlpacaBroker
from engine.brokers.base import BrokerError, OrderRejected, OrderRequest, Side
from engine.brokers.ccxt_broker import CcxtBroker
from engine.brokers.reasons import MAX_REASON, REDACTED, body_field, one_line, shown_reason
from engine.brokers.retry import RetryPolicy
from tests.support.fake_alpaca import FakeAlpaca
from tests.support.fake_exchange import FakeBinance

FAST = RetryPolicy(attempts=1, initial=0.01, maximum=0.05, max_retry_after=0.05, jitter=0)


def test_one_line_redacts_before_it_cuts() -> None:
    key = "PKSECRETKEY123"
    text = "x" * (MAX_REASON - 5) + key + "\nmore"
    line = one_line(text, [key])
    assert key not in line and key[:5] not in line  # never half a key at the cut
    assert "\n" not in line and len(line) <= MAX_REASON
    assert one_line("a\tb\x00c", []) == "a b?c"
    assert one_line("short key abc", ["abc"]) == "short key abc"  # too short to be a key: left alone


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("insufficient buying power", "insufficient buying power"),
        ("stop_loss.stop_price must be <= base_price - 0.01", "stop_loss.stop_price must be <= base_price - 0.01"),
        ("insufficient qty available for order (requested: 5, available: 0)",
         "insufficient qty available for order (requested: 5, available: 0)"),
        ("bad request {'APCA-API-KEY-ID': 'K'}", None),
        ("<html><body><h1>502 Bad Gateway</h1></body></html>", None),
        ("y" * (MAX_REASON + 1), None),
        ("", None),
        (None, None),
        (42, None),
        ("key PKSECRETKEY123 refused", f"key {REDACTED} refused"),
    ],
)
def test_shown_reason(text: object, shown: str | None) -> None:
    assert shown_reason(text, ["PKSECRETKEY123"]) == shown


def test_body_field() -> None:
    assert body_field('binance {"code":-2010,"msg":"Account has insufficient balance."}', "msg") == \
        "Account has insufficient balance."
    assert body_field('{"message": "", "msg": "second"}', "message", "msg") == "second"
    assert body_field("binance GET http://x 503 <html>", "msg") is None
    assert body_field('kraken {"error": ["EGeneral"]}', "msg") is None
    assert body_field("[1, 2]", "msg") is None


def _aapl(coid: str) -> OrderRequest:
    return OrderRequest(client_order_id=coid, symbol="AAPL", side=Side.LONG, quantity=D(5), price=D("187.40"),
                        stop_loss=D(180), take_profit=D(195))


@pytest.mark.parametrize(
    ("status", "body", "field", "kind", "message"),
    [
        (422, {"code": 42210000, "message": "invalid order"}, "message", OrderRejected, "HTTP 422, details in the log"),
        (403, {"code": 40310000, "message": "insufficient buying power"}, "debug", OrderRejected,
         "insufficient buying power"),  # the echo went to another field: the reason stays
        (403, {"debug": "x"}, "debug", BrokerError, "Alpaca refused access (HTTP 403, details in the log)"),
        (401, {"message": "unauthorized"}, "message", BrokerError, "Alpaca refused the API keys (HTTP 401"),
    ],
)
async def test_alpaca_errors_that_echo_the_request_keep_the_keys_out(
        caplog: pytest.LogCaptureFixture, status: int, body: dict[str, object], field: str,
        kind: type[BrokerError], message: str) -> None:
    caplog.set_level(logging.INFO, logger="engine.brokers.alpaca")
    async with FakeAlpaca() as fake:
        broker = AlpacaBroker(fake.key, fake.secret, paper=True, url_override=fake.base_url, timeout=2, retry=FAST,
                              poll_interval=0.01, fill_timeout=1.0)
        fake.fail_next("POST", "/v2/orders", status, body, echo_into=field)
        with pytest.raises(kind) as info:
            await broker.submit(_aapl(f"echo-{status}-{field}"))
        await broker.close()
    text = str(info.value)
    assert message in text, text
    assert fake.key not in text and fake.secret not in text and "\n" not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__  # tracebacks do not show the body
    assert "request:" in caplog.text and REDACTED in caplog.text  # the log has the body, redacted
    assert fake.key not in caplog.text and fake.secret not in caplog.text


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"code": -1100, "msg": "Illegal characters found in parameter; X-MBX-APIKEY={key} secret={secret}"}),
        (400, {"code": -2010, "msg": "Account has insufficient balance.", "echo": "X-MBX-APIKEY: {key}"}),
        (503, "<html><body>upstream said X-MBX-APIKEY: {key}</body></html>"),
    ],
)
async def test_ccxt_errors_that_echo_the_request_keep_the_keys_out(status: int, body: dict[str, object] | str) -> None:
    async with FakeBinance() as fake:
        def fill(value: object) -> object:
            return value.format(key=fake.key, secret=fake.secret) if isinstance(value, str) else value

        payload = fill(body) if isinstance(body, str) else {k: fill(v) for k, v in body.items()}
        broker = CcxtBroker("binance", fake.key, fake.secret, sandbox=True, urls_override={"api": fake.base_url},
                            timeout_ms=2000, retry=FAST, poll_interval=0.01, fill_timeout=1.0)
        try:
            await broker._market("BTC/USDT")
            fake.fail_next("POST", "/api/v3/order", status, payload)
            with pytest.raises(BrokerError) as info:
                await broker.submit(OrderRequest(client_order_id="echo-1", symbol="BTC/USDT", side=Side.LONG,
                                                 quantity=D("0.00833"), price=D(60000)))
        finally:
            await broker.close()
    text = str(info.value)
    assert fake.key not in text and fake.secret not in text and "<html" not in text and "\n" not in text, text
    assert len(text) < 200, text
    if status == 400 and "insufficient" in str(body):
        assert "Account has insufficient balance." in text
