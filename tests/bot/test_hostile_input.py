"""Hostile input through the core: superscript digits and 30-digit numbers, exponent tricks, malformed button
data, a broker that echoes our keys — and a table of every registered command with wrong, missing and hostile
arguments. Every answer is a few lines; none is an "internal error"; nothing crashes or floods the chat."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bot.app import open_core
from bot.core.args import ascii_int, parse_decimal, parse_id, parse_int, parse_number, parse_page, plain_decimal
from bot.core.callbacks import CallbackCodec, InvalidCallback
from bot.core.errors import UserError
from bot.core.registry import registry
from bot.core.replies import CUT_LINE, MAX_PARTS, Reply, split_text
from bot.core.service import TipsterCore
from bot.settings import Settings
from tests.bot.test_core_signals import button_data, texts
from tests.conftest import user_ctx
from tests.support.fake_alpaca import FakeAlpaca

ADMIN = user_ctx(1)
INTERNAL = "went wrong on our side"


def admin_settings(settings: Settings, **updates: object) -> Settings:
    return settings.model_copy(update={
        "admins": ["console:1"],
        # The table below sends hundreds of commands; the per-minute limit is not what it tests.
        "limits": settings.limits.model_copy(update={"per_user_per_minute": 100_000}),
        **updates,
    })


@pytest.fixture
async def acore(settings: Settings) -> AsyncIterator[TipsterCore]:
    async with open_core(admin_settings(settings)) as core:
        yield core


def one_answer(replies: list[Reply]) -> str:
    out = texts(replies)
    assert INTERNAL not in out, out
    return out


# ---- one strict parser for ids, pages and counts ---------------------------------------------------------

@pytest.mark.parametrize("text", ["²", "¹²", "١٢", "٣", "①", "1_000", "+5", "-5", "5 ", " 5", "5\n", "0x10", "1e3",
                                  "", "9" * 19, "7.0", "\u202e5", "5\x00"])
def test_ascii_int_takes_only_plain_ascii_digits(text: str) -> None:
    assert ascii_int(text) is None


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("7", 7), ("0042", 42), ("999999999999", 999_999_999_999)])
def test_ascii_int_values(text: str, value: int) -> None:
    assert ascii_int(text) == value


@pytest.mark.parametrize("text", ["²", "١٢", "9" * 30, "0", "-3", "1.5", "#", "##5", "nan"])
def test_ids_and_pages_refuse_with_one_line(text: str) -> None:
    for parse in (lambda t: parse_id(t, "tip", "/history ID"), lambda t: parse_page(t, "/signals [PAGE]"),
                  lambda t: parse_int(t, "days", 1, 3650)):
        with pytest.raises(UserError) as err:
            parse(text)
        assert "\n" not in err.value.message and len(err.value.message) < 120
    assert parse_id("#12", "tip") == 12 and parse_page("3") == 3 and parse_int("-2", "n", -5, 5) == -2


@pytest.mark.parametrize("text", ["1e30000000", "1E3", "NaN", "nan", "Infinity", "-inf", "١٠٠", "1_000", "0x1",
                                  "1,5", "²", "", ".", "+", "--1"])
def test_decimals_have_no_exponents_nan_or_other_scripts(text: str) -> None:
    assert plain_decimal(text) is None
    with pytest.raises(UserError):
        parse_decimal(text, "tp", Decimal(0), Decimal(10**9))
    with pytest.raises(UserError):
        parse_number(text, "buy", -1, 1)


@pytest.mark.parametrize(("text", "value"), [("1500", Decimal(1500)), ("0.25", Decimal("0.25")),
                                             ("-0.3", Decimal("-0.3")), (".5", Decimal("0.5")), ("5.", Decimal(5))])
def test_plain_decimals(text: str, value: Decimal) -> None:
    assert plain_decimal(text) == value


@pytest.mark.parametrize(
    "command",
    ["/history ²", "/history #²", "/close ²", "/close #²", "/trades ²", "/reply ² x", "/activity ²",
     "/activity console:1 ²", "/signals ²", "/users ²", "/allsignals ²", "/history ١٢",
     "/signals " + "9" * 30, "/trades " + "9" * 30, "/users " + "9" * 30, "/allsignals " + "9" * 30,
     "/activity console:1 " + "9" * 30, "/history " + "9" * 30, "/close " + "9" * 30, "/reply " + "9" * 30 + " x",
     "/activate console:1 ²", "/activate console:1 " + "9" * 30, "/settings size=²", "/signal BTC/USDT 1h buy=²"],
)
async def test_superscripts_and_huge_numbers_get_one_line(acore: TipsterCore, command: str) -> None:
    await acore.handle_text(ADMIN, "/signal BTC/USDT 1h")
    out = one_answer(await acore.handle_text(ADMIN, command))
    assert len(out.splitlines()) <= 2, out  # the reason, and the usage


async def test_activity_about_a_user_pages_past_ten_rows(acore: TipsterCore) -> None:
    other = await acore.ensure_user(user_ctx(2))
    admin = await acore.ensure_user(ADMIN)
    for n in range(13):
        await acore.audit(admin, "note", other.identity, "ok", n=n)
    first = (await acore.handle_text(ADMIN, f"/activity {other.identity}"))[0]
    assert INTERNAL not in first.plain() and "Page 1 of 2" in first.text
    assert first.text.count("· note → console:2") == 10
    older = (await acore.handle_button(ADMIN, button_data(first, "Older")))[0]
    assert "Page 2 of 2" in older.text and older.text.count("· note → console:2") == 3
    assert "n=2" in older.text and "n=0" in older.text  # the three oldest


# ---- button data --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "data",
    ["é", "rf:1:é", "rf:1:" + "é" * 10, "rf:1:abcdefghi\u0131", "\udcff", "rf:²:abcdefghij", "x" * 65, ":", "::",
     "rf::abcdefghij", "rf:1:", "rf:1:abc", "rf:1\n:abcdefghij", "", None, 123, b"rf:1:abcdefghij", ["rf"]],
)
def test_every_malformed_payload_is_an_invalid_callback(data: object) -> None:
    codec = CallbackCodec(b"k" * 32)
    with pytest.raises(InvalidCallback):
        codec.decode(data)
    good = codec.encode("rf", 1)
    assert codec.decode(good) == ("rf", ["1"])
    with pytest.raises(InvalidCallback):
        codec.decode(good[:-1] + ("A" if good[-1] != "A" else "B"))


@pytest.mark.parametrize("data", ["é", "rf:1:" + "é" * 10, "op:1:ÿÿÿÿÿÿÿÿÿÿ", "\x00", "\u202erf:1:abcdefghij"])
async def test_non_ascii_button_data_is_refused_politely(acore: TipsterCore, data: str) -> None:
    replies = await acore.handle_button(ADMIN, data)
    assert [r.notice for r in replies] == ["This button is not valid (forged or out of date)."]


# ---- bounded prices and replies -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/open BTC/USDT long 100 tp=1e30000000", "tp must be a price"),
        ("/open BTC/USDT long 100 tp=Infinity", "tp must be a price"),
        ("/open BTC/USDT long 100 tp=" + "9" * 200, "tp must be a price"),
        ("/open BTC/USDT long 100 tp=" + "9" * 30, "at most 10× the price"),
        ("/open BTC/USDT long 100 tp=1000000", "at most 10× the price"),
        ("/open BTC/USDT short 100 sl=1000000", "at most 10× the price"),
        ("/open BTC/USDT long 100 sl=0.0000", "positive price"),
        ("/open BTC/USDT long 1e3", "not an amount"),
        ("/open BTC/USDT long ١٠٠", "not an amount"),
        ("/open BTC/USDT long 100000000", "between $1"),
    ],
)
async def test_absurd_levels_and_sizes_are_refused_in_one_line(acore: TipsterCore, command: str,
                                                               expected: str) -> None:
    out = one_answer(await acore.handle_text(ADMIN, command))
    assert expected in out and len(out) < 300, out
    assert await acore.storage.db.scalar("SELECT COUNT(*) FROM positions") == 0


async def test_a_sane_target_is_still_accepted(acore: TipsterCore) -> None:
    price = await acore.services.market.last_price("BTC/USDT")
    confirm = (await acore.handle_text(ADMIN, f"/open BTC/USDT long 100 tp={price * 2:f}"))[0]
    assert confirm.title == "Open this position?", confirm.plain()


def test_no_reply_is_more_than_a_few_messages() -> None:
    huge = "TP 1,000," + "000," * 10_000_000  # what tp=1e30000000 used to print: 40 million characters
    parts = split_text(huge, 4000)
    assert len(parts) == MAX_PARTS <= 4 and all(len(p) <= 4000 for p in parts)
    assert parts[-1].endswith("\n" + CUT_LINE)
    many_lines = "\n".join(f"line {i}" for i in range(100_000))
    parts = split_text(many_lines, 2000)
    assert len(parts) == MAX_PARTS and parts[-1].endswith(CUT_LINE) and parts[0].startswith("line 0\nline 1\n")
    short = "\n".join(f"line {i}" for i in range(100))
    assert split_text(short, 4000) == [short]  # what fits is never cut
    assert "\n".join(split_text(many_lines, 2000, max_parts=None)) == many_lines


# ---- a broker that echoes our keys ---------------------------------------------------------------------------

@pytest.fixture
async def alpaca_core(settings: Settings) -> AsyncIterator[tuple[TipsterCore, FakeAlpaca]]:
    async with FakeAlpaca() as fake:
        brokers = settings.brokers.model_copy(update={"default": "alpaca", "alpaca": settings.brokers.alpaca.model_copy(
            update={"key": fake.key, "secret": fake.secret, "base_url": fake.base_url})})
        async with open_core(admin_settings(settings, brokers=brokers)) as core:
            yield core, fake


@pytest.mark.parametrize(
    ("status", "body", "field", "expected"),
    [
        (422, {"code": 40010001, "message": "invalid order"}, "message",
         "The broker refused the order: HTTP 422, details in the log"),
        (403, {"debug": "denied"}, "debug", "Alpaca refused access (HTTP 403, details in the log)"),  # no message
        (500, {"message": "internal"}, "message", "is pending"),
    ],
)
async def test_a_broker_error_body_never_reaches_the_chat(alpaca_core: tuple[TipsterCore, FakeAlpaca],
                                                          caplog: pytest.LogCaptureFixture, status: int,
                                                          body: dict[str, object], field: str, expected: str) -> None:
    core, fake = alpaca_core
    caplog.set_level(logging.INFO)
    confirm = (await core.handle_text(ADMIN, "/open AAPL long 1000"))[0]
    assert confirm.title == "Open this position?", confirm.plain()
    fake.fail_next("POST", "/v2/orders", status, body, echo_into=field)
    done = await core.handle_button(ADMIN, button_data(confirm, "Confirm"))
    out = one_answer(done)
    assert expected in out, out
    assert fake.key not in out and fake.secret not in out and "APCA-API" not in out, repr(out)
    assert len(out.splitlines()) <= 3 and len(out) < 400, out
    # The stored failure reason (shown later in /positions and alerts) is the same short text.
    rows = await core.storage.db.fetchall("SELECT * FROM positions")
    assert rows and all(fake.key not in str(v) and fake.secret not in str(v) for r in rows for v in tuple(r))
    # The log keeps the detail, with the keys redacted.
    assert "request:" in caplog.text
    assert fake.key not in caplog.text and fake.secret not in caplog.text


# ---- every command, wrong, missing and hostile arguments ---------------------------------------------------

HOSTILE = [
    "", "x", "foo bar baz qux", "²", "¹²³", "١٢", "9" * 30, "-1", "0", "1e30000000", "nan", "inf", "\x00", "a\x00b",
    "\u202e\u2066evil", "#²", "<b>bold</b>", "BTC/USDT ²", "BTC/USDT 1h buy=1e300", "BTC/USDT long 100 tp=1e30000000",
    "console:² ²", "x=1 x=2", "=",
]


def long_text(name: str) -> str:
    return "y" * (1000 - len(name) - 2)  # the whole message is exactly at the 1,000-character limit


@pytest.mark.parametrize("name", sorted(registry.commands))
async def test_every_command_answers_hostile_arguments_in_a_few_lines(acore: TipsterCore, name: str) -> None:
    await acore.handle_text(ADMIN, "/signal BTC/USDT 1h")
    for args in [*HOSTILE, long_text(name)]:
        replies = await acore.handle_text(ADMIN, f"/{name} {args}".strip())
        await acore.handle_text(ADMIN, "/cancel")
        out = texts(replies)
        where = f"/{name} {args[:40]!r}"
        assert INTERNAL not in out, where
        assert len(replies) <= 3, where
        assert len(out) <= 4096, where  # one Telegram message at most
        if "Usage:" in out:
            assert len(out.splitlines()) <= 3, (where, out)


def test_the_console_takes_hostile_numbers_too(tmp_path) -> None:
    """The console's own /wait parses with the same strict parser (`/wait ²` used to crash the chat loop)."""
    from tests.bot.test_console import run_demo

    result = run_demo(tmp_path, "/wait ²\n/wait " + "9" * 30 + "\n/wait ١\n/history ²\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Usage: /wait SECONDS (1-600)") == 3, result.stdout
    assert "'²' is not a tip id." in result.stdout and "Traceback" not in result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("Bye.")
