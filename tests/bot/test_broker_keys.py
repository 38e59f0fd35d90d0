"""Users' own broker keys through the core: /setkeys (private chat, key then secret, checked against the local
Alpaca or exchange, stored encrypted), /keys masked, /delkeys, orders and the risk budget on the user's own
account, /forgetme cancelling their live orders first, and `tipster rotate-keys`.

Nothing here trusts the code under test to say what it stored: the raw .sqlite, -wal and -shm files are read
as bytes, and tokens are decrypted with `cryptography` directly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken

from bot.app import open_core
from bot.cli import main as cli_main
from bot.core.service import TipsterCore
from bot.settings import Settings
from engine.brokers.base import Side
from tests.bot.test_core_signals import button_data, texts
from tests.conftest import ROOT, user_ctx
from tests.support.fake_alpaca import FakeAlpaca
from tests.support.fake_exchange import FakeBinance

ME, OTHER = user_ctx(1), user_ctx(2)
GROUP = user_ctx(1, chat_type="group").model_copy(update={"chat_id": "-100"})
KEY, SECRET = "PKUSERKEY0123456789XY", "user-secret-Qw9vZp3LmN7rT2xK"
MASTER = Fernet.generate_key().decode()


@pytest.fixture
async def alpaca() -> AsyncIterator[FakeAlpaca]:
    async with FakeAlpaca(key=KEY, secret=SECRET, cash=Decimal("20000")) as fake:
        yield fake


def alpaca_settings(settings: Settings, fake: FakeAlpaca) -> Settings:
    """The bot's own Alpaca keys are not the user's: the fake answers only the user's, so every request it
    serves was made with the user's keys."""
    brokers = settings.brokers.model_copy(update={
        "default": "alpaca",
        "alpaca": settings.brokers.alpaca.model_copy(update={"key": "PKBOTSOWN", "secret": "bots-own-secret",
                                                              "base_url": fake.base_url})})
    return settings.model_copy(update={"brokers": brokers})


@pytest.fixture
async def kcore(settings: Settings, alpaca: FakeAlpaca, monkeypatch: pytest.MonkeyPatch
                ) -> AsyncIterator[TipsterCore]:
    monkeypatch.setenv("TIPSTER_SECRET_KEY", MASTER)
    async with open_core(alpaca_settings(settings, alpaca)) as core:
        yield core


def raw_files(settings: Settings) -> bytes:
    path = Path(settings.storage.sqlite_path)
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())


def assert_nowhere(settings: Settings, *secrets: str) -> None:
    data = raw_files(settings)
    assert data, "the database files were not found"
    for secret in secrets:
        assert secret.encode() not in data
        assert secret.encode("utf-16-le") not in data


async def rotate_keys(settings: Settings) -> int:
    """`tipster rotate-keys` as an operator runs it, in its own thread and event loop (next to the running bot)."""
    return await asyncio.to_thread(cli_main, ["--config", str(ROOT / "config.yaml"), "rotate-keys", "--db",
                                              settings.storage.sqlite_path])


async def set_keys(core: TipsterCore, key: str = KEY, secret: str = SECRET, ctx=ME, broker: str = "alpaca"):
    asked = await core.handle_text(ctx, f"/setkeys {broker}")
    first = await core.handle_text(ctx, key)
    last = await core.handle_text(ctx, secret)
    return asked, first, last


async def test_setkeys_asks_key_then_secret_and_stores_only_ciphertext(kcore: TipsterCore, settings: Settings,
                                                                       caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    [asked] = await kcore.handle_text(ME, "/setkeys alpaca")
    assert "API key" in asked.text and asked.prompt is not None and asked.prompt.secret_fields == [
        "API key", "API secret"]
    [got_key] = await kcore.handle_text(ME, KEY)
    assert got_key.delete_incoming and "secret" in got_key.text and KEY not in got_key.text
    assert got_key.prompt is not None and got_key.prompt.secret_fields == ["API secret"]  # the field still to come
    # Mid-flow: the key waits in the flow's state, encrypted; the files hold no byte of it.
    user = await kcore.ensure_user(ME)
    flow = await kcore.storage.flows.get(user.id, ME.chat_key)
    assert flow is not None and flow.kind == "setkeys" and KEY not in str(flow.state)
    assert Fernet(MASTER.encode()).decrypt(flow.state["key"].encode()).decode() == KEY
    assert_nowhere(settings, KEY)
    [stored] = await kcore.handle_text(ME, SECRET)
    assert stored.delete_incoming and "accepted" in stored.text and "PKUS…XY" in stored.text
    assert KEY not in stored.text and SECRET not in stored.text
    assert await kcore.storage.flows.get(user.id, ME.chat_key) is None
    row = await kcore.storage.broker_keys.get(user.id, "alpaca")
    assert row is not None
    fernet = Fernet(MASTER.encode())
    assert (fernet.decrypt(row.key_token.encode()).decode(), fernet.decrypt(row.secret_token.encode()).decode()) == (
        KEY, SECRET)
    assert_nowhere(settings, KEY, SECRET)
    logged = "\n".join(r.getMessage() + str(r.args) for r in caplog.records)
    assert KEY not in logged and SECRET not in logged
    audit = await kcore.storage.audit.recent(limit=10)
    assert any(e.action == "setkeys" and e.target == "alpaca" and e.result == "ok" for e in audit)


async def test_wrong_keys_are_refused_in_one_line_and_nothing_is_stored(kcore: TipsterCore, settings: Settings):
    _, _, [refused] = await set_keys(kcore, KEY, "not-the-secret")
    assert refused.delete_incoming and "\n" not in refused.text
    # the broker's own answer is named (the fake Alpaca says "unauthorized")
    assert refused.text.startswith("Alpaca refused these keys") and "unauthorized" in refused.text
    assert "Nothing was stored" in refused.text and "not-the-secret" not in refused.text
    user = await kcore.ensure_user(ME)
    assert await kcore.storage.broker_keys.of_user(user.id) == []
    assert await kcore.storage.flows.get(user.id, ME.chat_key) is None
    assert_nowhere(settings, KEY, "not-the-secret")


async def test_setkeys_in_a_group_is_refused_and_stores_nothing(kcore: TipsterCore):
    [refused] = await kcore.handle_text(GROUP, "/setkeys alpaca")
    assert "private chat" in refused.text and "\n" not in refused.text
    user = await kcore.ensure_user(GROUP)
    assert await kcore.storage.flows.get(user.id, GROUP.chat_key) is None
    assert await kcore.handle_text(GROUP, KEY) == []  # group chatter: not taken as a key


async def test_an_answer_that_is_no_key_is_asked_again_without_a_form(kcore: TipsterCore, settings: Settings):
    await kcore.handle_text(ME, "/setkeys alpaca")
    [again] = await kcore.handle_text(ME, "two words")
    assert "not a key" in again.text and again.delete_incoming and again.prompt is None
    [got_key] = await kcore.handle_text(ME, KEY)
    assert "Now send" in got_key.text


async def test_keys_typed_into_the_command_are_deleted_not_echoed(kcore: TipsterCore):
    [reply] = await kcore.handle_text(ME, f"/setkeys {KEY}")
    assert reply.delete_incoming and KEY not in reply.text
    [reply] = await kcore.handle_text(ME, f"/setkeys alpaca {KEY} {SECRET}")
    assert reply.delete_incoming and KEY not in reply.text and SECRET not in reply.text


async def test_without_a_master_key_every_key_command_says_so_in_one_line(settings: Settings, alpaca: FakeAlpaca):
    async with open_core(alpaca_settings(settings, alpaca)) as core:
        for command in ("/setkeys alpaca", "/keys", "/delkeys alpaca"):
            [reply] = await core.handle_text(ME, command)
            assert "TIPSTER_SECRET_KEY" in reply.text and "\n" not in reply.text, command
        user = await core.ensure_user(ME)
        assert await core.storage.flows.get(user.id, ME.chat_key) is None


async def test_keys_masked_delkeys_and_another_user_sees_none(kcore: TipsterCore):
    await set_keys(kcore)
    [mine] = await kcore.handle_text(ME, "/keys")
    # first 4 … last 2 of PKUSERKEY0123456789XY
    assert "alpaca: key PKUS…XY" in mine.text and KEY not in mine.text and SECRET not in mine.text
    [theirs] = await kcore.handle_text(OTHER, "/keys")
    assert "no broker keys" in theirs.text and "PKUS" not in theirs.text
    [nothing] = await kcore.handle_text(OTHER, "/delkeys alpaca")
    assert "no alpaca keys" in nothing.text
    user = await kcore.ensure_user(ME)
    assert await kcore.storage.broker_keys.get(user.id, "alpaca") is not None  # untouched by the other user
    [gone] = await kcore.handle_text(ME, "/delkeys alpaca")
    assert "deleted" in gone.text
    assert await kcore.storage.broker_keys.get(user.id, "alpaca") is None
    [again] = await kcore.handle_text(ME, "/keys")
    assert "no broker keys" in again.text


async def test_orders_go_to_the_users_account_and_the_budget_is_its_equity(kcore: TipsterCore, alpaca: FakeAlpaca):
    price = await kcore.services.market.last_price("AAPL")
    alpaca.prices["AAPL"] = price
    await set_keys(kcore)
    user = await kcore.ensure_user(ME)
    trading = kcore.trading
    # The fake account holds 20,000 USD: a 1,500 position is 7.5 % of it (limit 10 %), where the paper ledger's
    # 10,000 would make it 15 % and refuse it.
    quote = await trading.quote(user, "AAPL", Side.LONG, Decimal(1500), None, None, 2, None)
    assert (quote.equity, quote.cash) == (Decimal("20000"), Decimal("20000"))
    assert quote.refused == []
    assert any("is 7.5% of equity" in c.message for c in quote.checks)
    result = await trading.open(user, "console", "1", quote)
    assert result.status.value == "opened", result
    [order] = [o for o in alpaca.by_client_id.values()]
    assert order.symbol == "AAPL" and order.qty == (Decimal(1500) / price).quantize(Decimal(1), rounding="ROUND_DOWN")
    assert ("POST", "/v2/orders") in alpaca.requests  # accepted only with the user's key headers
    # The next quote reads the account again: the fake reports its cash after the fill as its equity.
    equity_now = alpaca.cash
    assert equity_now == Decimal(20000) - order.qty * price
    big = await trading.quote(user, "AAPL", Side.LONG, Decimal(2500), None, None, 2, None)
    assert big.equity == equity_now
    [size] = [c for c in big.checks if c.name == "position size"]
    assert not size.ok and f"is {Decimal(2500) / equity_now * 100:.1f}% of equity" in size.message


async def test_another_users_orders_use_the_bots_account(kcore: TipsterCore, alpaca: FakeAlpaca):
    await set_keys(kcore)
    other = await kcore.ensure_user(OTHER)
    assert await kcore.trading.own.get(other.id, "alpaca") is None
    assert kcore.trading.broker("alpaca") is await kcore.trading.broker_for(other.id, "alpaca")
    mine = await kcore.trading.broker_for((await kcore.ensure_user(ME)).id, "alpaca")
    assert mine is not kcore.trading.broker("alpaca")


async def test_forgetme_cancels_live_orders_at_the_broker_then_deletes(kcore: TipsterCore, alpaca: FakeAlpaca,
                                                                       settings: Settings):
    alpaca.prices["AAPL"] = await kcore.services.market.last_price("AAPL")
    await set_keys(kcore)
    user = await kcore.ensure_user(ME)
    alpaca.market_open = False  # the entry is accepted, not filled: a live order at the broker
    own = await kcore.trading.own.get(user.id, "alpaca")
    assert own is not None
    own.fill_timeout = 0.1  # type: ignore[attr-defined]  # stop waiting for a fill that never comes quickly
    quote = await kcore.trading.quote(user, "AAPL", Side.LONG, Decimal(500), None, None, 2, None)
    result = await kcore.trading.open(user, "console", "1", quote)
    assert result.status.value == "accepted"
    [live] = alpaca.orders.values()
    assert live.status == "accepted"
    [kept] = await kcore.handle_text(ME, "/delkeys alpaca")  # its exit would need these keys
    assert "Close your 1 alpaca position(s) first" in kept.text
    [no_new] = await kcore.handle_text(ME, "/setkeys alpaca")  # nor replaced by keys of another account
    assert "Close your 1 alpaca position(s) first" in no_new.text
    assert await kcore.storage.broker_keys.get(user.id, "alpaca") is not None
    [ask] = await kcore.handle_text(ME, "/forgetme")
    done = texts(await kcore.handle_button(ME, button_data(ask, "Delete my data")))
    assert "deleted" in done
    assert ("DELETE", f"/v2/orders/{live.id}") in alpaca.requests and live.status == "canceled"
    assert await kcore.storage.users.by_identity(ME.identity) is None
    assert await kcore.storage.broker_keys.of_user(user.id) == []


async def test_ccxt_keys_checked_by_the_exchanges_balance_call(settings: Settings, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TIPSTER_SECRET_KEY", MASTER)
    async with FakeBinance(key="user-exchange-key-123", secret="user-exchange-secret-456") as fake:
        brokers = settings.brokers.model_copy(update={"ccxt": settings.brokers.ccxt.model_copy(update={
            "exchange": "binance", "sandbox": True, "api_url": fake.base_url})})
        async with open_core(settings.model_copy(update={"brokers": brokers})) as core:
            _, _, [refused] = await set_keys(core, "user-exchange-key-123", "wrong-secret-789", broker="ccxt")
            assert "refused these keys" in refused.text and "Signature" in refused.text
            _, _, [stored] = await set_keys(core, "user-exchange-key-123", "user-exchange-secret-456", broker="ccxt")
            assert "accepted" in stored.text
            assert ("GET", "/api/v3/account") in fake.requests
            user = await core.ensure_user(ME)
            figures = await core.trading.own.account(user.id, "ccxt")
            assert figures is not None and figures.equity == Decimal(10_000)  # 10,000 USDT, no coins
        assert_nowhere(settings, "user-exchange-key-123", "user-exchange-secret-456")


async def test_a_keyed_users_exchange_orders_go_to_their_own_exchange_account(settings: Settings,
                                                                            monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TIPSTER_SECRET_KEY", MASTER)
    async with FakeBinance(key="user-exchange-key-123", secret="user-exchange-secret-456",
                           balances={"USDT": Decimal(30000), "BTC": Decimal(0), "ETH": Decimal(0)}) as fake:
        # The bot's own exchange keys are not the user's: the fake serves signed calls for the user's only.
        brokers = settings.brokers.model_copy(update={"default": "ccxt", "ccxt": settings.brokers.ccxt.model_copy(
            update={"exchange": "binance", "key": "bots-own-key", "secret": "bots-own-secret", "sandbox": True,
                    "api_url": fake.base_url})})
        async with open_core(settings.model_copy(update={"brokers": brokers})) as core:
            await set_keys(core, "user-exchange-key-123", "user-exchange-secret-456", broker="ccxt")
            user = await core.ensure_user(ME)
            own = await core.trading.own.get(user.id, "ccxt")
            assert own is not None
            own.poll_interval, own.fill_timeout = 0.01, 1.0  # type: ignore[attr-defined]
            price = await core.services.market.last_price("BTC/USDT")
            stop, target = (price * Decimal("0.95")).quantize(Decimal("0.01")), (price * Decimal("1.1")).quantize(
                Decimal("0.01"))
            quote = await core.trading.quote(user, "BTC/USDT", Side.LONG, Decimal(2000), stop, target, 2, None)
            # 30,000 USDT on the exchange, no coins: 2,000 is 6.7 % of it (the paper ledger's 10,000: 20 %)
            assert quote.equity == Decimal(30000) and quote.refused == []
            result = await core.trading.open(user, "console", "1", quote)
            assert result.status.value == "opened", result
            [order] = [o for o in fake.orders.values() if o.type == "MARKET"]
            assert (order.symbol, order.side) == ("BTCUSDT", "BUY")
            assert fake.free["USDT"] < Decimal(30000)  # paid from the user's own balance
            # /forgetme cancels what rests at the exchange (the position's stop and target) before deleting.
            resting = [o for o in fake.orders.values() if o.status in ("NEW", "PARTIALLY_FILLED")]
            assert resting, [(o.type, o.status) for o in fake.orders.values()]
            [ask] = await core.handle_text(ME, "/forgetme")
            done = texts(await core.handle_button(ME, button_data(ask, "Delete my data")))
            assert "deleted" in done
            assert any(method == "DELETE" for method, _ in fake.requests)
            assert all(o.status not in ("NEW", "PARTIALLY_FILLED") for o in fake.orders.values())
            assert await core.storage.users.by_identity(ME.identity) is None
            assert await core.storage.broker_keys.of_user(user.id) == []


async def test_rotate_keys_reencrypts_under_the_newest_master_key(kcore: TipsterCore, settings: Settings,
                                                                 monkeypatch: pytest.MonkeyPatch):
    await set_keys(kcore)
    user = await kcore.ensure_user(ME)
    before = await kcore.storage.broker_keys.get(user.id, "alpaca")
    assert before is not None
    new = Fernet.generate_key().decode()
    monkeypatch.setenv("TIPSTER_SECRET_KEY", f"{new},{MASTER}")
    assert await rotate_keys(settings) == 0
    after = await kcore.storage.broker_keys.get(user.id, "alpaca")
    assert after is not None and after.key_token != before.key_token
    assert Fernet(new.encode()).decrypt(after.key_token.encode()).decode() == KEY
    assert Fernet(new.encode()).decrypt(after.secret_token.encode()).decode() == SECRET
    with pytest.raises(InvalidToken):
        Fernet(MASTER.encode()).decrypt(after.key_token.encode())
    with pytest.raises(InvalidToken):
        Fernet(MASTER.encode()).decrypt(after.secret_token.encode())
    assert_nowhere(settings, KEY, SECRET)


def test_rotate_keys_without_a_master_key_names_the_variable(settings: Settings,
                                                            capsys: pytest.CaptureFixture[str]):
    assert cli_main(["--config", str(ROOT / "config.yaml"), "rotate-keys", "--db", settings.storage.sqlite_path]) == 2
    assert "TIPSTER_SECRET_KEY" in capsys.readouterr().err


async def test_a_token_no_master_key_decrypts_rolls_the_whole_rotation_back(kcore: TipsterCore, settings: Settings,
                                                                            monkeypatch: pytest.MonkeyPatch):
    await set_keys(kcore)
    user = await kcore.ensure_user(ME)
    before = await kcore.storage.broker_keys.get(user.id, "alpaca")
    monkeypatch.setenv("TIPSTER_SECRET_KEY", Fernet.generate_key().decode())  # the old key dropped too early
    assert await rotate_keys(settings) == 1
    assert await kcore.storage.broker_keys.get(user.id, "alpaca") == before
