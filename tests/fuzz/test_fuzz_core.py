"""Random and hostile input through bot/core as users of every role (admin, trader, viewer, pending, banned)
on Telegram and on Discord, in private chats and in a group.

What goes in: every registered command, typed (`handle_text`) or as a Discord slash command with options
(`handle_command`), with random and hostile arguments (any unicode, control characters, very long words,
`key=value` junk, negative and huge numbers, other users' ids and names, Markdown/HTML injection); and button
payloads (`handle_button`): random strings, real signed data from earlier replies, the same tampered, and the
data of another user's buttons.

What must hold, for every example:

* no unhandled exception, and never the core's internal-error reply (service.py `_internal_error`);
* nothing of another user changes: the victim's rows in every table that has a `user_id` (tips, positions,
  orders, paper account, grids, watches, subscriptions, flows, keys …), the rows of their tips and of their
  private chat (its settings and /notify choices included), the alerts queued to them, and every other
  user's role, state and settings — compared before and after the example, for every actor who is not an
  admin;
* every admin command is refused to a non-admin, in one line ("… is for admins only." or the access message
  of a pending or banned user);
* every reply fits the platforms: each Telegram message ≤ 4096 UTF-16 units once rendered by
  bot/telegram/render.py, callback data ≤ 64 bytes, ≤ 100 buttons; each Discord embed within its limits once
  rendered by bot/discord/render.py (title 256, description 4096, 25 fields of 256/1024, footer 2048, 6000 in
  all; labels 80, custom ids 100, ≤ 5 rows of 5).

The rate limit (limits.per_user_per_minute) is raised to its maximum here, so the examples reach the real
handlers instead of "Slow down". /backtest and /chart take seconds per real run (their own tests cover those
runs), so here they get only arguments that are never valid (at least one junk token or option); every other
command gets the whole range, valid runs included.

One core for the module, on its own event loop in a thread (hypothesis drives a sync test; each example is
run on that loop with run_coroutine_threadsafe), so the expensive set-up happens once.
"""

from __future__ import annotations

import asyncio
import html
import re
import sqlite3
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.app import open_core
from bot.core.context import ChatContext
from bot.core.permissions import Permission
from bot.core.registry import registry
from bot.core.replies import Reply
from bot.core.service import TipsterCore
from bot.discord import render as discord_render
from bot.settings import load_settings
from bot.telegram import render as telegram_render
from tests.fuzz.conftest import examples

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")

PLATFORMS = ("telegram", "discord")  # the victim is on Telegram; the actors on both
GROUPS = {"telegram": "-1001234567890", "discord": "900000000000000010"}
GROUP_TYPES = {"telegram": "supergroup", "discord": "group"}
INTERNAL_ERROR = "something went wrong on our side"  # service.py _internal_error's wording
SLOW = ("backtest", "chart")  # seconds per real run: fuzzed with invalid arguments only (see the docstring)

# Telegram (core.telegram.org/bots/api) and Discord (discord.com/developers/docs/resources/message) limits,
# written out here rather than imported, so a render module that raised its own constant is caught.
TG_TEXT, TG_CALLBACK_BYTES, TG_BUTTONS = 4096, 64, 100
DC_TITLE, DC_DESCRIPTION, DC_FIELDS, DC_FIELD_NAME, DC_FIELD_VALUE = 256, 4096, 25, 256, 1024
DC_FOOTER, DC_TOTAL, DC_LABEL, DC_CUSTOM_ID, DC_ROWS, DC_PER_ROW = 2048, 6000, 80, 100, 5, 5


# ---- the core on its own loop -------------------------------------------------------------------------------

class LoopThread:
    """An event loop in a daemon thread; `run(coro)` runs a coroutine there and returns its result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-core", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class Actor:
    role: str  # admin, trader, viewer, pending, banned
    uid: str
    private: ChatContext
    group: ChatContext
    user_id: int = 0  # the users.id, filled at set-up


@dataclass(repr=False)  # a failing example prints its arguments: the world in one line
class World:
    loop: LoopThread
    core: TipsterCore
    actors: dict[str, Actor]
    victim: Actor
    victim_buttons: list[str] = field(default_factory=list)  # signed data of the victim's buttons
    seen_buttons: list[str] = field(default_factory=list)  # signed data from the actors' own replies
    examples: int = 0
    owned: OwnedRows = field(init=False)

    def __repr__(self) -> str:
        return f"World({len(self.actors)} actors, {len(self.seen_buttons)} buttons seen)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis prints dataclasses field by field
        printer.text(repr(self))


def ctx(platform: str, uid: str, in_group: bool = False) -> ChatContext:
    return ChatContext(platform=platform, user_id=uid, chat_id=GROUPS[platform] if in_group else uid,
                       chat_type=GROUP_TYPES[platform] if in_group else "private",
                       username=f"user{uid}", display_name=f"User {uid}")


ROLES = {"admin": "1001", "trader": "1003", "viewer": "1004", "pending": "1005", "banned": "1006"}
VICTIM = "1002"


def actor(role: str, uid: str, platform: str = "telegram") -> Actor:
    return Actor(role, uid, ctx(platform, uid), ctx(platform, uid, in_group=True))


async def fix_role(core: TipsterCore, who: Actor) -> None:
    """The actor's role and state as the test means them (an example may have run /forgetme or been granted)."""
    user = await core.ensure_user(who.private)
    who.user_id = user.id
    role = "trader" if who.role == "banned" else who.role
    state = "disabled" if who.role == "banned" else "active"
    if user.role != role or user.state != state or user.expires_at is not None:
        await core.storage.db.execute("UPDATE users SET role = ?, state = ?, expires_at = NULL WHERE id = ?",
                                      (role, state, user.id))


def buttons_of(replies: list[Reply]) -> list[str]:
    return [b.data for r in replies for row in r.buttons for b in row]


async def setup_world(loop: LoopThread, tmp: Path) -> World:
    settings_ = load_settings(ROOT / "config.yaml", storage={"sqlite_path": str(tmp / "fuzz.sqlite")},
                              sentiment={"model": "offline"}, admins=[f"{p}:{ROLES['admin']}" for p in PLATFORMS],
                              limits={"per_user_per_minute": 100_000})
    stack = open_core(settings_)
    core = await stack.__aenter__()
    core._fuzz_stack = stack  # type: ignore[attr-defined]  # closed by teardown_world
    actors = {f"{p}:{role}": actor(role, uid, p) for role, uid in ROLES.items() for p in PLATFORMS}
    victim = actor("trader", VICTIM)
    world = World(loop, core, actors, victim)
    for who in [*actors.values(), victim]:
        await fix_role(core, who)
    # The victim's objects: tips (private and group, with their buttons), a watch, subscriptions, settings, an
    # open paper position, a pending confirmation flow.
    v, g = victim.private, victim.group
    for context, line in [(v, "/signal BTC/USDT 1h"), (g, "/signal ETH/USDT 4h"), (v, "/watch BTC/USDT 1h"),
                          (v, "/subscribe ETH/USDT"), (v, "/settings buy=0.4 tz=Europe/Berlin"),
                          (v, "/notify summaries off")]:
        world.victim_buttons += buttons_of(await core.handle_text(context, line))
    confirm = buttons_of(await core.handle_text(v, "/open BTC/USDT buy 100"))
    opened = await core.handle_button(v, confirm[0])
    world.victim_buttons += confirm + buttons_of(opened)
    world.victim_buttons += buttons_of(await core.handle_text(v, "/positions"))
    world.victim_buttons += buttons_of(await core.handle_text(v, "/open ETH/USDT sell 50"))  # left unconfirmed
    # The set-up really gave the victim something to lose (else the comparison below would prove nothing).
    for table in ("signals", "positions", "watchlist", "subscriptions", "flows"):
        count = await core.storage.db.scalar(f"SELECT COUNT(*) FROM {table} WHERE user_id = ?", (victim.user_id,))
        assert count, f"the victim has no {table} rows"
    world.owned = OwnedRows(str(tmp / "fuzz.sqlite"), world)
    return world


async def teardown_world(world: World) -> None:
    world.owned.close()
    await world.core._fuzz_stack.__aexit__(None, None, None)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    loop = LoopThread()
    made = loop.run(setup_world(loop, tmp_path_factory.mktemp("fuzz")))
    try:
        yield made
    finally:
        loop.run(teardown_world(made))
        loop.close()


# ---- what another user owns -----------------------------------------------------------------------------------

NOT_OWNED = {"activity", "audit", "job_runs", "kv", "schema_version", "alerts", "users"}


class OwnedRows:
    """Reads what belongs to the victim (or describes another user) straight from the SQLite file, on a
    connection of its own (WAL lets it read beside the core's; every reply comes after the core's commit)."""

    def __init__(self, path: str, world: World) -> None:
        self.conn = sqlite3.connect(path, check_same_thread=False)
        self.world = world
        self.queries: list[tuple[str, str, tuple[Any, ...]]] = []
        victim_id, victim_chat = world.victim.user_id, world.victim.uid
        tables = [r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                                  " AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        for table in tables:
            if table in NOT_OWNED:
                continue
            columns = [r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")]
            if "user_id" in columns:
                where, params = "user_id = ?", (victim_id,)
            elif "signal_id" in columns:
                where, params = "signal_id IN (SELECT id FROM signals WHERE user_id = ?)", (victim_id,)
            elif "position_id" in columns:
                where, params = "position_id IN (SELECT id FROM positions WHERE user_id = ?)", (victim_id,)
            elif "chat_id" in columns:
                where, params = "chat_id = ?", (victim_chat,)
            else:
                continue
            self.queries.append((table, f"SELECT * FROM {table} WHERE {where} ORDER BY rowid", params))
        self.queries.append(("alerts to the victim", "SELECT id, kind, payload_json FROM alerts WHERE chat_id = ?"
                                                     " ORDER BY id", (victim_chat,)))

    def snapshot(self, actor_: Actor) -> dict[str, list[tuple[Any, ...]]]:
        rows = {name: self.conn.execute(sql, params).fetchall() for name, sql, params in self.queries}
        rows["other users"] = self.conn.execute(
            "SELECT id, identity, role, state, settings_json, expires_at FROM users WHERE id != ? ORDER BY id",
            (actor_.user_id,)).fetchall()
        return rows

    def close(self) -> None:
        self.conn.close()


# ---- platform limits ---------------------------------------------------------------------------------------

TAG = re.compile(r"<[^>]+>")


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def check_limits(replies: list[Reply]) -> None:
    for reply in replies:
        for part in telegram_render.render(reply):
            shown = html.unescape(TAG.sub("", part))  # Telegram counts the text after parsing the HTML
            assert utf16(shown) <= TG_TEXT, f"Telegram message of {utf16(shown)} units"
        datas = [b.data for row in reply.buttons for b in row]
        assert len(datas) <= TG_BUTTONS
        for data in datas:
            assert 1 <= len(data.encode()) <= TG_CALLBACK_BYTES, data
            assert len(data) <= DC_CUSTOM_ID
        for part in discord_render.render(reply):
            embed = part.embed
            assert len(embed.title or "") <= DC_TITLE
            assert len(embed.description or "") <= DC_DESCRIPTION
            assert len(embed.fields) <= DC_FIELDS
            for f in embed.fields:
                assert len(f.name or "") <= DC_FIELD_NAME and len(f.value or "") <= DC_FIELD_VALUE
            assert len(embed.footer.text or "") <= DC_FOOTER
            assert len(embed) <= DC_TOTAL
            rows = discord_render.button_rows(part.buttons)
            assert len(rows) <= DC_ROWS and all(len(row) <= DC_PER_ROW for row in rows)
            assert all(len(b.label) <= DC_LABEL or len(discord_render.cut(b.label, DC_LABEL)) <= DC_LABEL
                       for row in rows for b in row)


def text_of(replies: list[Reply]) -> str:
    return "\n".join(f"{r.title or ''} {r.text} {r.notice or ''}" for r in replies)


# ---- hostile input ----------------------------------------------------------------------------------------

COMMANDS = sorted(registry.commands)
ADMIN_COMMANDS = {n for n, c in registry.commands.items() if c.permission is Permission.ADMIN}
ARG_NAMES = sorted({a.name for c in registry.commands.values() for a in c.signature.args}
                   | {alias for c in registry.commands.values() for a in c.signature.args for alias in a.aliases})
INJECTION = ["<b>bold</b>", "</pre><a href='http://x'>x</a>", "&amp;&lt;", "*bold* _it_ `code` ```block```",
             "[link](http://evil.example)", "@everyone", "<@1002>", "||spoiler||", "\\", "%s%n{0}",
             "'; DROP TABLE users;--",
             "\u202e\u200b\ufeff", "\x00\x1b[31m\r\n", "𝟙𝟚𝟛", "١٢٣", "²", "ＢＴＣ/ＵＳＤＴ"]
NUMBERS = ["0", "-1", "-100", "1e9", "1e999", "nan", "inf", "-inf", "9" * 40, "0.0000001", "1,5", "0x10", "+5",
           "100%", "$100", "1_000", "-0"]
WORDS = ["BTC/USDT", "ETH/USDT", "AAPL", "btc", "1h", "4h", "1d", "5m", "all", "buy", "sell", "long", "short",
         "on", "off", "silent", "admin", "trader", "viewer", "pending", "page", "next", "reset", "paper", "alpaca",
         "90d", "fused", "grid", "hyperrsi", "UTC", "Europe/Berlin", "Mars/Olympus", "monitor", "pause", "now"]
SLOW_SAFE = [w for w in WORDS if w not in ("BTC/USDT", "ETH/USDT", "AAPL", "btc")]


def other_ids(world_ids: list[str]) -> st.SearchStrategy[str]:
    forms = ["{}", "#{}", "@user{}", "telegram:{}", "discord:{}", "user{}", "-{}"]
    return st.builds(lambda f, i: f.format(i), st.sampled_from(forms), st.sampled_from(world_ids))


ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
CONTROL = st.text(st.characters(max_codepoint=0x1F) | st.sampled_from("\u2028\u2029\x7f\u0085"), min_size=1,
                  max_size=5)
LONG = st.builds(lambda c, n: c * n, st.sampled_from(["x", "9", "😀", "ب", "/", "="]), st.integers(300, 5000))
NUMBER = st.sampled_from(NUMBERS) | st.integers(-(10**30), 10**30).map(str) | st.floats().map(str)


def junk(ids: list[str]) -> st.SearchStrategy[str]:
    """A token no command takes as valid as it is."""
    return st.one_of(ANY_TEXT.filter(lambda s: s.strip() and " " not in s), CONTROL, LONG, st.sampled_from(INJECTION),
                     st.builds(lambda k, v: f"{k}={v}", st.sampled_from([*ARG_NAMES, "x", "", "=="]),
                               st.sampled_from(INJECTION) | NUMBER | LONG))


def token(ids: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(WORDS), NUMBER, other_ids(ids), junk(ids),
                     st.builds(lambda k, v: f"{k}={v}", st.sampled_from(ARG_NAMES),
                               st.sampled_from(WORDS) | NUMBER | other_ids(ids)))


@st.composite
def command_line(draw: st.DrawFn, ids: list[str]) -> tuple[str, str]:
    name = draw(st.sampled_from(COMMANDS))
    if name in SLOW:
        tokens = [draw(junk(ids)), *draw(st.lists(st.sampled_from(SLOW_SAFE) | junk(ids), max_size=3))]
        tokens = draw(st.permutations(tokens))
    else:
        tokens = draw(st.lists(token(ids), max_size=6))
    head = draw(st.sampled_from([f"/{name}", f"/{name.upper()}", f"/{name}@tipster_bot", f"/{name}@other_bot"]))
    sep = draw(st.sampled_from([" ", "  ", "\t", "\n", " \u00a0"]))
    return name, sep.join([head, *tokens])


@st.composite
def slash_command(draw: st.DrawFn, ids: list[str]) -> tuple[str, dict[str, str]]:
    name = draw(st.sampled_from(COMMANDS))
    declared = [a.name for a in registry.commands[name].signature.args]
    keys = st.sampled_from(declared) if declared else st.sampled_from(ARG_NAMES)
    values = token(ids) | st.text(max_size=80)
    options = draw(st.dictionaries(keys | st.sampled_from(ARG_NAMES), values, max_size=5))
    if name in SLOW:
        options[draw(keys | st.just("junk"))] = draw(junk(ids))
    return name, options


def tampered(data: str, draw: st.DrawFn) -> str:
    how = draw(st.sampled_from(["flip", "cut", "extend", "swap-id", "other-action"]))
    if how == "flip":
        i = draw(st.integers(0, 63)) % len(data)
        return data[:i] + ("A" if data[i] != "A" else "B") + data[i + 1:]
    if how == "cut":
        return data[: draw(st.integers(0, 63)) % len(data)]
    if how == "extend":
        return data + draw(st.sampled_from([":1", "x", ":" + "9" * 30]))
    parts = data.split(":")
    if how == "swap-id" and len(parts) >= 3:
        parts[1] = draw(st.sampled_from(["1", "2", "0", "-1", "999999", "١"]))
        return ":".join(parts)
    parts[0] = draw(st.sampled_from(sorted(registry.buttons)))
    return ":".join(parts)


@st.composite
def button_payload(draw: st.DrawFn, world: World) -> tuple[str, str]:
    kind = draw(st.sampled_from(["random", "victim", "victim-tampered", "own", "own-tampered"]))
    if kind == "random":
        action = draw(st.sampled_from(sorted(registry.buttons)))
        return kind, draw(st.one_of(ANY_TEXT, st.builds(lambda a, b: f"{a}:{b}", st.just(action), ANY_TEXT),
                                    st.binary(max_size=64).map(lambda b: b.decode("latin-1"))))
    # The pool of seen buttons grows as examples run: an index with fixed bounds keeps the draws replayable.
    pool = world.seen_buttons if kind.startswith("own") and world.seen_buttons else world.victim_buttons
    data = pool[draw(st.integers(0, POOL - 1)) % len(pool)]
    return kind, tampered(data, draw) if kind.endswith("tampered") else data


# ---- one example ------------------------------------------------------------------------------------------

async def one_example(world: World, who: Actor, in_group: bool, kind: str, payload: Any) -> list[Reply]:
    core = world.core
    await fix_role(core, who)
    context = who.group if in_group else who.private
    before = world.owned.snapshot(who) if who.role != "admin" else None
    if kind == "text":
        replies = await core.handle_text(context, payload)
    elif kind == "slash":
        name, options = payload
        replies = await core.handle_command(context, name, options)
    else:
        replies = await core.handle_button(context, payload)
    if before is not None:
        after = world.owned.snapshot(who)
        changed = {t: (before[t], after.get(t)) for t in before if before[t] != after.get(t)}
        assert not changed, f"{who.role} changed another user's rows: {changed}"
    if who.role != "banned" and who.role != "pending":  # their replies' buttons are refused anyway
        own = [d for d in buttons_of(replies) if not d.startswith(("ch:", "bt"))]  # no 4-second chart presses
        world.seen_buttons = (world.seen_buttons + own)[-POOL:]
    return replies


def run_example(world: World, role: str, in_group: bool, kind: str, payload: Any) -> list[Reply]:
    who = world.actors[role]
    replies = world.loop.run(one_example(world, who, in_group, kind, payload))
    world.examples += 1
    assert INTERNAL_ERROR not in text_of(replies).lower(), text_of(replies)
    check_limits(replies)
    return replies


def assert_admin_refused(role: str, name: str, replies: list[Reply], typed: str = "") -> None:
    if role.endswith(":admin") or name not in ADMIN_COMMANDS:
        return
    assert len(replies) == 1, text_of(replies)
    said = replies[0].text.strip()
    assert not replies[0].buttons, said
    too_long = len(typed) > 1000 and said.startswith("That message is too long")  # refused before it is read
    assert said.endswith("is for admins only.") or said.startswith("Your access ") or too_long, said


POOL = 200  # how many of the actors' own recent buttons are kept to press again
ROLE = st.sampled_from(sorted(f"{p}:{role}" for role in ROLES for p in PLATFORMS))  # an actor
IDS = [*ROLES.values(), VICTIM, "1", "2", "0", "99999999999"]


@settings(max_examples=examples(900))
@given(role=ROLE, in_group=st.booleans(), line=command_line(IDS))
def test_typed_commands(world: World, role: str, in_group: bool, line: tuple[str, str]) -> None:
    name, text = line
    replies = run_example(world, role, in_group, "text", text)
    if text.split(maxsplit=1)[0].lower() in (f"/{name}", f"/{name}@tipster_bot"):
        assert_admin_refused(role, name, replies, text)


@settings(max_examples=examples(500))
@given(role=ROLE, in_group=st.booleans(), command=slash_command(IDS))
def test_slash_commands(world: World, role: str, in_group: bool, command: tuple[str, dict[str, str]]) -> None:
    replies = run_example(world, role, in_group, "slash", command)
    assert_admin_refused(role, command[0], replies)


@settings(max_examples=examples(400))
@given(role=ROLE, in_group=st.booleans(), data=st.data())
def test_button_payloads(world: World, role: str, in_group: bool, data: st.DataObject) -> None:
    _, payload = data.draw(button_payload(world))
    replies = run_example(world, role, in_group, "button", payload)
    action = registry.buttons.get(payload.split(":", 1)[0])
    if action is not None and action.permission is Permission.ADMIN and not role.endswith(":admin"):
        # An admin button (the admin's own, replayed; or forged) pressed by anyone else does nothing but refuse.
        assert len(replies) == 1 and not replies[0].buttons, text_of(replies)
        said = (replies[0].notice or replies[0].text).strip()
        assert said.endswith("is for admins only.") or said.startswith(("Your access ", "This button is not valid",
                                                                        "This button is no longer")), said


@settings(max_examples=examples(200))
@given(role=ROLE, in_group=st.booleans(), text=st.one_of(ANY_TEXT, LONG, st.sampled_from(INJECTION),
                                                          st.builds(lambda j: "/" + j, ANY_TEXT)))
def test_free_text_and_unknown_commands(world: World, role: str, in_group: bool, text: str) -> None:
    run_example(world, role, in_group, "text", text)



def test_the_comparison_sees_a_change_to_the_victims_rows(world: World) -> None:
    """The before/after check can fail: the victim's own /unwatch and a tip of theirs show up in it."""
    core, victim = world.core, world.victim
    before = world.owned.snapshot(world.actors["telegram:trader"])
    world.loop.run(core.handle_text(victim.private, "/unwatch BTC/USDT 1h"))
    unwatched = world.owned.snapshot(world.actors["telegram:trader"])
    assert before["watchlist"] and not unwatched["watchlist"]
    world.loop.run(core.handle_text(victim.private, "/notify summaries on"))  # a setting of the victim's chat
    assert world.owned.snapshot(world.actors["telegram:trader"]) != unwatched
    world.loop.run(core.handle_text(victim.private, "/watch BTC/USDT 1h"))
    world.loop.run(core.handle_text(victim.private, "/notify summaries off"))
    assert world.owned.snapshot(world.actors["telegram:trader"])["watchlist"]
