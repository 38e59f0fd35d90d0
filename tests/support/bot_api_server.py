"""A small local Telegram Bot API server for end-to-end tests.

Why this exists: mocking ``telegram.Bot`` methods tests our assumptions about python-telegram-bot
(PTB), not PTB itself.  Running a real PTB ``Application`` against this server over loopback HTTP
exercises PTB's request encoding, update parsing, handler dispatch, error mapping and shutdown
sequence, while the tests stay offline, fast and deterministic.

Point PTB at it with ``Application.builder().token(api.token).base_url(api.base_url)``.

The server imitates the parts of the real Bot API that have bitten bots in production:

* errors are signalled by the HTTP status *and* the JSON body, because PTB maps errors by the HTTP
  status (429 + ``parameters.retry_after`` → ``RetryAfter``, 403 → ``Forbidden``, 400 →
  ``BadRequest``, 401/404 → ``InvalidToken``);
* text limits (4096 characters, 1024 for captions), ``parse_mode`` validation (HTML tags Telegram
  does not support, unescaped MarkdownV2 reserved characters), callback data over 64 bytes,
  "message is not modified" on identical edits, and callback queries that are answered twice or
  too late — so formatting bugs fail in tests rather than in a chat;
* ``getUpdates`` long-polls (capped at ``max_poll_wait`` seconds so tests stay fast) and only
  forgets updates once they are confirmed through ``offset``, as Telegram does.

Everything the bot does is recorded (``calls``, ``sent``, ``callback_answers``, ``rejected``) and
can be awaited without sleep loops (``wait_for`` and friends), and failures can be scripted
(``fail_next``, ``delay``, ``block_chat``) to test retry and outbox logic.
"""

# The wait_* helpers take ``timeout=`` on purpose: a per-call deadline reads best in tests.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import copy
import html
import inspect
import itertools
import json
import re
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

JSONDict = dict[str, Any]
ChatId = int | str
T = TypeVar("T")
MethodHandler = Callable[[JSONDict], Any | Awaitable[Any]]

#: Telegram's documented limits, counted in UTF-16 code units after entity parsing.
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
#: Telegram stops accepting answers to a callback query after roughly 15 seconds.
CALLBACK_QUERY_TTL = 15.0

# Form-encoded requests carry every value as a string; these tell the parser how to restore types.
_JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "commands",
        "scope",
        "allowed_updates",
        "entities",
        "caption_entities",
        "link_preview_options",
        "reply_parameters",
        "media",
        "reaction",
    }
)
_INT_FIELDS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "message_thread_id",
        "reply_to_message_id",
        "user_id",
        "offset",
        "limit",
        "timeout",
        "cache_time",
    }
)
_BOOL_FIELDS = frozenset(
    {
        "show_alert",
        "disable_notification",
        "drop_pending_updates",
        "protect_content",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "revoke_messages",
        "only_if_banned",
    }
)

_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_MEMBER_STATUSES = frozenset({"creator", "administrator", "member", "left", "kicked"})
_HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "tg-emoji",
        "blockquote",
    }
)
# Characters that MarkdownV2 reserves and that are never valid as bare formatting markers.
_MDV2_ALWAYS_ESCAPE = frozenset(".!-=+#{}")
_MDV2_PAIRED = frozenset("*_~|")
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_TAG_NAME_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9-]*")

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_SEND_METHODS = frozenset({"sendMessage", "sendPhoto"})
_BLOCKABLE_METHODS = frozenset({"sendMessage", "sendPhoto", "sendChatAction"})


class BotApiError(Exception):
    """Raised by a method handler to answer with a Telegram error instead of a result.

    Custom handlers registered with :meth:`FakeBotApi.add_method` may raise it too.
    """

    def __init__(self, status: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(f"{status} {description}")
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> JSONDict:
        """The JSON body Telegram sends for this error."""
        payload: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            payload["parameters"] = self.parameters
        return payload


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file that arrived as a multipart part; the bytes are kept but left out of ``repr``."""

    filename: str | None
    content_type: str | None
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        """Length of the upload in bytes."""
        return len(self.data)


@dataclass(frozen=True, slots=True)
class SentRecord:
    """One successful bot action that changed what a chat shows (send, edit or delete).

    ``text`` is the text exactly as the bot sent it (markup included), which is what tests assert on.
    """

    method: str
    chat_id: ChatId
    text: str | None
    reply_markup: JSONDict | None
    message_id: int | None
    timestamp: float
    parse_mode: str | None = None
    caption: str | None = None
    photo_size: int | None = None
    params: JSONDict = field(default_factory=dict, repr=False)

    @property
    def body(self) -> str | None:
        """The text of a text message or the caption of a photo."""
        return self.text if self.text is not None else self.caption

    @property
    def buttons(self) -> list[JSONDict]:
        """The inline keyboard buttons, row by row, flattened (empty without an inline keyboard)."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]

    @property
    def callback_data(self) -> list[str]:
        """The ``callback_data`` of every inline button, in keyboard order."""
        return [b["callback_data"] for b in self.buttons if "callback_data" in b]


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    """A successful ``answerCallbackQuery`` call."""

    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None
    timestamp: float


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """A request the server answered with an error (scripted or genuine), kept to time retries."""

    method: str
    chat_id: ChatId | None
    status: int
    description: str
    timestamp: float


@dataclass(slots=True)
class _ScriptedFailure:
    method: str
    chat_id: ChatId | None
    error: BotApiError


class FakeBotApi:
    """A local Telegram Bot API server speaking real HTTP on 127.0.0.1.

    Use it as ``async with FakeBotApi(token="123:ABC") as api:`` and point PTB at ``api.base_url``.
    Updates are injected with :meth:`send_text` / :meth:`press_button` and are handed out by
    ``getUpdates``; the bot's replies are recorded and can be awaited.
    """

    def __init__(
        self,
        token: str = "123:ABC",
        *,
        bot_username: str = "tipster_test_bot",
        bot_first_name: str = "Tipster Test",
        max_poll_wait: float = 1.0,
        host: str = "127.0.0.1",
        validate: bool = True,
    ) -> None:
        """Configure the server; nothing listens until :meth:`start` (or ``async with``).

        ``max_poll_wait`` caps how long ``getUpdates`` holds a request, so shutdown is quick even
        when PTB asks for a long timeout.  ``validate=False`` switches off the text/markup checks for
        tests that deliberately send what Telegram would reject.
        """
        self.token = token
        head = token.split(":", 1)[0]
        self.bot_id = int(head) if head.isdigit() else 1
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.max_poll_wait = max_poll_wait
        self.host = host
        self.validate = validate
        self.port = 0

        self.sent: list[SentRecord] = []
        self.calls: list[tuple[str, JSONDict]] = []
        self.callback_answers: list[CallbackAnswer] = []
        self.rejected: list[RejectedRecord] = []
        #: Unexpected exceptions inside the fake itself; a test should assert this stays empty.
        self.errors: list[str] = []

        self._updates: list[JSONDict] = []
        self._update_ids = itertools.count(1)
        self._fetched_update_id = 0
        self._allowed_updates: list[str] | None = None
        self._webhook_url = ""
        self._messages: dict[tuple[int, int], JSONDict] = {}
        self._raw_text: dict[tuple[int, int], str | None] = {}
        self._message_ids: defaultdict[int, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
        self._callback_ids = itertools.count(4_000_000_000_000_000_001)
        self._open_queries: dict[str, float] = {}
        self._chats: dict[int, JSONDict] = {}
        self._users: dict[int, JSONDict] = {}
        self._members: dict[tuple[int, int], str] = {}
        self._my_commands: dict[tuple[str, str], list[JSONDict]] = {}
        self._failures: list[_ScriptedFailure] = []
        self._delays: dict[str, float] = {}
        self._blocked: set[int] = set()
        self._send_times: defaultdict[ChatId, list[float]] = defaultdict(list)
        self._attempt_times: defaultdict[ChatId, list[float]] = defaultdict(list)

        self._handlers: dict[str, tuple[str, MethodHandler]] = {}
        for name, handler in self._builtin_methods().items():
            self.add_method(name, handler)

        # A fresh Event per change ("generation" pattern) lets synchronous helpers such as
        # send_text wake async waiters without holding a lock, and waiters never miss a change.
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeBotApi:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen on ``host`` with an OS-chosen port, so parallel test runs never collide."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, 0).start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Release pending long-polls and delayed requests, then close the listener."""
        self._closing.set()
        self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        """The value for PTB's ``ApplicationBuilder.base_url`` (PTB appends the token itself)."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def bot_user(self) -> JSONDict:
        """The bot's own User object, as ``getMe`` returns it."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _bot_sender(self) -> JSONDict:
        # In messages Telegram sends the short User object, without the getMe-only capabilities.
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    # ------------------------------------------------------------------ injecting what users do

    def add_chat(
        self,
        chat_id: int,
        chat_type: str | None = None,
        *,
        title: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
    ) -> JSONDict:
        """Register (or update) a chat so messages to it carry the right type and title."""
        chat_type = chat_type or _infer_chat_type(chat_id)
        chat: JSONDict = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = first_name or f"User{chat_id}"
        else:
            chat["title"] = title or f"Test {chat_type} {chat_id}"
        if username:
            chat["username"] = username
        self._chats[chat_id] = chat
        return chat

    def add_user(
        self, user_id: int, *, username: str | None = None, first_name: str | None = None
    ) -> JSONDict:
        """Register (or update) a user; later updates and ``getChatMember`` reuse the details."""
        user = dict(self._users.get(user_id) or {"id": user_id, "is_bot": False, "language_code": "en"})
        user["first_name"] = first_name or user.get("first_name") or f"User{user_id}"
        if username:
            user["username"] = username
        self._users[user_id] = user
        return user

    def send_text(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        chat_type: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
        *,
        chat_title: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> int:
        """Queue a Message update as if ``user_id`` typed ``text`` in ``chat_id``; return its update_id.

        ``chat_type`` defaults to "private" for positive ids and "group"/"supergroup" for negative
        ones (supergroup ids start with -100).  Text starting with "/" gets the ``bot_command``
        entity Telegram adds, without which PTB's CommandHandler never fires.
        """
        chat_type = chat_type or _infer_chat_type(chat_id)
        if chat_type == "private" and chat_id != user_id:
            raise ValueError(f"a private chat's id is the user's id (chat {chat_id} != user {user_id})")
        user = self.add_user(user_id, username=username, first_name=first_name)
        chat = self._chats.get(chat_id)
        if chat is None or chat["type"] != chat_type or (chat_title and chat.get("title") != chat_title):
            chat = self.add_chat(
                chat_id,
                chat_type,
                title=chat_title,
                username=username if chat_type == "private" else None,
                first_name=user["first_name"],
            )
        message: JSONDict = {
            "message_id": next(self._message_ids[chat_id]),
            "date": int(time.time()),
            "chat": dict(chat),
            "from": dict(user),
            "text": text,
        }
        if text.startswith("/"):
            token = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16_len(token)}]
        if reply_to_message_id is not None:
            message["reply_to_message"] = copy.deepcopy(self._messages[(chat_id, reply_to_message_id)])
        self._messages[(chat_id, message["message_id"])] = message
        self._raw_text[(chat_id, message["message_id"])] = text
        return self.inject_update({"message": copy.deepcopy(message)})

    def press_button(
        self,
        chat_id: int,
        user_id: int,
        message_id: int,
        data: str,
        *,
        username: str | None = None,
        first_name: str | None = None,
        strict: bool = True,
    ) -> str:
        """Queue a callback_query update for a button on a stored bot message; return the query id.

        With ``strict`` (the default) ``data`` must belong to a button currently on that message, as
        a real user can only press what is shown; ``strict=False`` imitates a stale client.
        """
        key = (chat_id, message_id)
        if key not in self._messages:
            raise KeyError(f"no message {message_id} in chat {chat_id}")
        message = self._messages[key]
        if strict:
            rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
            present = [b.get("callback_data") for row in rows for b in row]
            if data not in present:
                raise ValueError(f"message {message_id} in chat {chat_id} has no button {data!r}: {present}")
        user = self.add_user(user_id, username=username, first_name=first_name)
        query_id = str(next(self._callback_ids))
        self._open_queries[query_id] = time.monotonic()
        update = {
            "callback_query": {
                "id": query_id,
                "from": dict(user),
                "chat_instance": str(abs(hash(("chat_instance", chat_id)))),
                "data": data,
                "message": copy.deepcopy(message),
            }
        }
        self.inject_update(update)
        return query_id

    def inject_update(self, update: JSONDict) -> int:
        """Queue any raw update dict (an ``update_id`` is assigned when missing); return its id."""
        update = dict(update)
        update.setdefault("update_id", next(self._update_ids))
        self._updates.append(update)
        self._notify()
        return int(update["update_id"])

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed by the bot through ``getUpdates(offset=...)``."""
        return list(self._updates)

    # ------------------------------------------------------------------ configuring the server

    def set_chat_member(self, chat_id: int, user_id: int, status: str) -> None:
        """Set what ``getChatMember`` says about a user ("creator", "administrator", "member", …)."""
        if status not in _MEMBER_STATUSES:
            raise ValueError(f"status must be one of {sorted(_MEMBER_STATUSES)}")
        self._members[(chat_id, user_id)] = status

    def fail_next(
        self,
        method: str,
        chat_id: ChatId | None = None,
        *,
        status: int = 429,
        retry_after: float = 1,
        description: str | None = None,
        parameters: JSONDict | None = None,
        times: int = 1,
    ) -> None:
        """Script the next ``times`` matching calls to fail, before they have any effect.

        Matching is by method (case-insensitive) and, when given, ``chat_id``; scripted failures are
        consumed first-in first-out.  Defaults follow Telegram: 429 carries
        ``parameters.retry_after`` (PTB raises ``RetryAfter``), 403 is "bot was blocked by the user"
        (``Forbidden``), 400 is "chat not found" (``BadRequest``).  Telegram sends whole seconds,
        but PTB accepts a fractional ``retry_after`` (e.g. 0.2), which keeps retry tests fast;
        ``AIORateLimiter`` then waits ``retry_after + 0.1`` s before its retry.
        """
        if description is None:
            if status == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            else:
                description = _DEFAULT_DESCRIPTIONS.get(status, f"Error {status}")
        if status == 429 and parameters is None:
            parameters = {"retry_after": retry_after}
        canonical = self._canonical(method)
        for _ in range(times):
            error = BotApiError(status, description, parameters)
            self._failures.append(_ScriptedFailure(canonical, chat_id, error))

    def delay(self, method: str, seconds: float | None) -> None:
        """Make every call of ``method`` wait ``seconds`` before it is processed (0/None: no delay).

        The request is still processed when the client gives up waiting, just as Telegram delivers a
        message whose HTTP response timed out — so a PTB ``TimedOut`` does not mean "not sent".
        """
        canonical = self._canonical(method)
        if seconds:
            self._delays[canonical] = seconds
        else:
            self._delays.pop(canonical, None)

    def block_chat(self, chat_id: int) -> None:
        """From now on every send to ``chat_id`` answers 403, as when a user blocks the bot."""
        self._blocked.add(chat_id)

    def unblock_chat(self, chat_id: int) -> None:
        """Undo :meth:`block_chat`."""
        self._blocked.discard(chat_id)

    def add_method(self, name: str, handler: MethodHandler) -> None:
        """Serve another Bot API method: ``handler(params)`` returns the result (sync or async).

        The handler may raise :class:`BotApiError`.  Lets other tests extend the fake without
        editing it; method names are case-insensitive, as in the Bot API.
        """
        self._handlers[name.lower()] = (name, handler)

    def clear_records(self) -> None:
        """Forget what was recorded so far (not messages, chats or configuration)."""
        self.sent.clear()
        self.calls.clear()
        self.callback_answers.clear()
        self.rejected.clear()
        self._send_times.clear()
        self._attempt_times.clear()

    # ------------------------------------------------------------------ inspecting what the bot did

    def messages_to(self, chat_id: ChatId) -> list[SentRecord]:
        """New messages (sendMessage/sendPhoto) successfully delivered to ``chat_id``, in order."""
        return [r for r in self.sent if r.method in _SEND_METHODS and r.chat_id == chat_id]

    def edits_in(self, chat_id: ChatId) -> list[SentRecord]:
        """Successful edits (text, caption or keyboard) in ``chat_id``, in order."""
        return [r for r in self.sent if r.method.startswith("editMessage") and r.chat_id == chat_id]

    def chat_texts(self, chat_id: int) -> list[str]:
        """The text of every message still in ``chat_id`` (the users' and the bot's), oldest first."""
        return [self._raw_text.get(key, m.get("text") or m.get("caption") or "")
                for key, m in sorted(self._messages.items()) if key[0] == chat_id]

    def message(self, chat_id: int, message_id: int) -> JSONDict:
        """The current state of a stored message (after edits), as Telegram would show it."""
        return copy.deepcopy(self._messages[(chat_id, message_id)])

    def send_times(self, chat_id: ChatId, *, include_rejected: bool = False) -> list[float]:
        """Monotonic times of delivered messages to ``chat_id`` (optionally of rejected tries too)."""
        source = self._attempt_times if include_rejected else self._send_times
        return list(source.get(chat_id, []))

    def max_sends_in_window(self, chat_id: ChatId, window: float) -> int:
        """The most messages delivered to ``chat_id`` within any ``window``-second span."""
        times = sorted(self._send_times.get(chat_id, []))
        best = start = 0
        for end, t in enumerate(times):
            while start <= end and t - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    @property
    def commands(self) -> list[JSONDict]:
        """The commands set for the default scope and no language (what most users see)."""
        return self.commands_for()

    def commands_for(self, scope: JSONDict | None = None, language_code: str = "") -> list[JSONDict]:
        """The commands set with ``setMyCommands`` for a given scope and language."""
        return list(self._my_commands.get(_commands_key(scope, language_code), []))

    async def wait_for(
        self,
        predicate: Callable[[SentRecord], bool],
        timeout: float = 10,
        *,
        since: int = 0,
    ) -> SentRecord:
        """Wait for the first record in ``sent[since:]`` satisfying ``predicate``.

        Pass ``since=len(api.sent)`` to ignore what was already there.
        """

        def check() -> SentRecord | None:
            return next((r for r in self.sent[since:] if predicate(r)), None)

        return await self._wait_until(check, timeout, "a sent record matching the predicate")

    async def wait_for_messages(self, chat_id: ChatId, count: int, timeout: float = 10) -> list[SentRecord]:
        """Wait until ``count`` messages were delivered to ``chat_id``; return the first ``count``."""

        def check() -> list[SentRecord] | None:
            messages = self.messages_to(chat_id)
            return messages[:count] if len(messages) >= count else None

        return await self._wait_until(check, timeout, f"{count} message(s) to chat {chat_id}")

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[JSONDict], bool] | None = None,
        timeout: float = 10,
        *,
        since: int = 0,
    ) -> tuple[str, JSONDict]:
        """Wait for a request of ``method`` (any outcome) whose params satisfy ``predicate``."""
        canonical = self._canonical(method)

        def check() -> tuple[str, JSONDict] | None:
            return next(
                (
                    c
                    for c in self.calls[since:]
                    if c[0] == canonical and (predicate is None or predicate(c[1]))
                ),
                None,
            )

        return await self._wait_until(check, timeout, f"a {canonical} call")

    async def wait_for_callback_answer(
        self, callback_query_id: str | None = None, timeout: float = 10
    ) -> CallbackAnswer:
        """Wait for ``answerCallbackQuery`` (for a given query id, or any)."""

        def check() -> CallbackAnswer | None:
            return next(
                (
                    a
                    for a in self.callback_answers
                    if callback_query_id is None or a.callback_query_id == callback_query_id
                ),
                None,
            )

        return await self._wait_until(check, timeout, f"an answer to callback query {callback_query_id}")

    async def wait_update_fetched(self, update_id: int, timeout: float = 10) -> None:
        """Wait until the bot has received update ``update_id`` through ``getUpdates``."""

        def check() -> bool | None:
            return True if self._fetched_update_id >= update_id else None

        await self._wait_until(check, timeout, f"update {update_id} to be fetched")

    # ------------------------------------------------------------------ internals: plumbing

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _wait_until(self, check: Callable[[], T | None], timeout: float, what: str) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = check()
            if result is not None:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}; {self._summary()}")
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                pass

    def _summary(self) -> str:
        sent = [(r.method, r.chat_id, (r.body or "")[:60]) for r in self.sent[-5:]]
        calls = [c[0] for c in self.calls[-10:]]
        return f"last sent={sent}, last calls={calls}, rejected={len(self.rejected)}, errors={self.errors}"

    def _canonical(self, method: str) -> str:
        entry = self._handlers.get(method.lower())
        return entry[0] if entry else method

    async def _handle(self, request: web.Request) -> web.Response:
        method = self._canonical(request.match_info["method"])
        try:
            params = await _read_params(request)
        except BotApiError as err:
            self.calls.append((method, {}))
            return self._reject(method, {}, err)
        self.calls.append((method, params))
        self._notify()
        if request.match_info["token"] != self.token:
            return self._reject(method, params, BotApiError(401, "Unauthorized"))
        entry = self._handlers.get(method.lower())
        if entry is None:
            return self._reject(method, params, BotApiError(404, "Not Found: method not found"))
        seconds = self._delays.get(method)
        if seconds:
            try:
                await asyncio.wait_for(self._closing.wait(), seconds)
            except TimeoutError:
                pass
        try:
            failure = self._take_failure(method, params)
            if failure is not None:
                raise failure
            result = entry[1](params)
            if inspect.isawaitable(result):
                result = await result
        except BotApiError as err:
            return self._reject(method, params, err)
        except Exception as exc:  # a bug in the fake or a request it cannot make sense of
            self.errors.append(f"{method}: {exc!r}")
            return self._reject(method, params, BotApiError(500, f"Internal Server Error: {exc!r}"))
        finally:
            self._notify()
        return web.json_response({"ok": True, "result": result})

    def _reject(self, method: str, params: JSONDict, err: BotApiError) -> web.Response:
        now = time.monotonic()
        chat_id = params.get("chat_id")
        self.rejected.append(RejectedRecord(method, chat_id, err.status, err.description, now))
        if method in _SEND_METHODS and chat_id is not None:
            self._attempt_times[chat_id].append(now)
        self._notify()
        return web.json_response(err.body(), status=err.status)

    def _take_failure(self, method: str, params: JSONDict) -> BotApiError | None:
        for index, failure in enumerate(self._failures):
            if failure.method == method and failure.chat_id in (None, params.get("chat_id")):
                del self._failures[index]
                return failure.error
        return None

    def _record(
        self, method: str, chat_id: ChatId, message_id: int | None, params: JSONDict, **extra: Any
    ) -> None:
        now = time.monotonic()
        self.sent.append(
            SentRecord(
                method=method,
                chat_id=chat_id,
                text=extra.pop("text", None),
                reply_markup=params.get("reply_markup"),
                message_id=message_id,
                timestamp=now,
                parse_mode=params.get("parse_mode"),
                params=params,
                **extra,
            )
        )
        if method in _SEND_METHODS:
            self._send_times[chat_id].append(now)
            self._attempt_times[chat_id].append(now)

    # ------------------------------------------------------------------ internals: chats and messages

    def _chat(self, chat_id: ChatId) -> JSONDict:
        if isinstance(chat_id, str):
            wanted = chat_id.removeprefix("@").lower()
            for chat in self._chats.values():
                if str(chat.get("username", "")).lower() == wanted:
                    return chat
            raise BotApiError(400, "Bad Request: chat not found")
        return self._chats.get(chat_id) or self.add_chat(chat_id)

    def _require(self, params: JSONDict, name: str) -> Any:
        value = params.get(name)
        if value is None or value == "":
            raise BotApiError(400, f"Bad Request: {name} is empty")
        return value

    def _check_blocked(self, method: str, chat: JSONDict) -> None:
        if method in _BLOCKABLE_METHODS and chat["id"] in self._blocked:
            if chat["type"] == "private":
                raise BotApiError(403, "Forbidden: bot was blocked by the user")
            raise BotApiError(403, f"Forbidden: bot was kicked from the {chat['type']} chat")

    def _stored(self, params: JSONDict, action: str) -> tuple[tuple[int, int], JSONDict]:
        chat = self._chat(self._require(params, "chat_id"))
        message_id = self._require(params, "message_id")
        key = (chat["id"], message_id)
        message = self._messages.get(key)
        if message is None:
            raise BotApiError(400, f"Bad Request: message to {action} not found")
        return key, message

    def _new_message(self, chat: JSONDict, params: JSONDict, content: JSONDict) -> JSONDict:
        message_id = next(self._message_ids[chat["id"]])
        message: JSONDict = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": dict(chat),
            "from": self._bot_sender(),
            **content,
        }
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            # Telegram only echoes inline keyboards; reply keyboards are not part of the Message.
            message["reply_markup"] = markup
        self._messages[(chat["id"], message_id)] = message
        return message

    def _visible(self, text: str, parse_mode: str | None, what: str, limit: int) -> str:
        """Validate formatted text like Telegram does and return what the user would see."""
        visible = text
        if self.validate:
            mode = (parse_mode or "").lower()
            if mode == "html":
                visible = _check_html(text)
            elif mode == "markdownv2":
                _check_markdown_v2(text)
            if not visible.strip():
                raise BotApiError(400, f"Bad Request: {what} is empty")
            if _utf16_len(visible) > limit:
                raise BotApiError(400, f"Bad Request: {what} is too long")
        return visible

    def _check_markup(self, markup: Any) -> None:
        if not self.validate or not isinstance(markup, dict) or "inline_keyboard" not in markup:
            return
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise BotApiError(400, "Bad Request: can't parse inline keyboard button: InlineKeyboardButton")
        for button in itertools.chain.from_iterable(rows):
            if not isinstance(button, dict):
                raise BotApiError(400, "Bad Request: can't parse inline keyboard button: object expected")
            if not button.get("text"):
                raise BotApiError(400, "Bad Request: BUTTON_TEXT_INVALID")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                raise BotApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            url = button.get("url")
            if url is not None and not str(url).startswith(("http://", "https://", "tg://")):
                raise BotApiError(400, "Bad Request: BUTTON_URL_INVALID")
            actions = set(button) - {"text", "style"}
            if not actions:
                raise BotApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")

    # ------------------------------------------------------------------ internals: Bot API methods

    def _builtin_methods(self) -> dict[str, MethodHandler]:
        return {
            "getMe": lambda params: self.bot_user,
            "getUpdates": self._get_updates,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "sendChatAction": self._send_chat_action,
            "close": lambda params: True,
            "logOut": lambda params: True,
        }

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        if self._webhook_url:
            raise BotApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        if "allowed_updates" in params:
            self._allowed_updates = list(params["allowed_updates"] or []) or None
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

        def deliverable() -> list[JSONDict] | None:
            if self._closing.is_set():
                return []
            wanted = [u for u in self._updates if self._is_allowed(u)][:limit]
            return wanted or None

        try:
            updates = await self._wait_until(deliverable, min(timeout, self.max_poll_wait), "updates")
        except TimeoutError:
            return []
        if updates:
            self._fetched_update_id = max(self._fetched_update_id, updates[-1]["update_id"])
        return copy.deepcopy(updates)

    def _is_allowed(self, update: JSONDict) -> bool:
        if not self._allowed_updates:
            return True
        return any(kind in update for kind in self._allowed_updates)

    def _delete_webhook(self, params: JSONDict) -> bool:
        self._webhook_url = ""
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _set_webhook(self, params: JSONDict) -> bool:
        self._webhook_url = str(params.get("url") or "")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        return {
            "url": self._webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise BotApiError(400, 'Bad Request: parameter "commands" is required')
        for command in commands:
            if not _COMMAND_RE.match(str(command.get("command", ""))):
                raise BotApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise BotApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        key = _commands_key(params.get("scope"), params.get("language_code") or "")
        self._my_commands[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        return self.commands_for(params.get("scope"), params.get("language_code") or "")

    def _delete_my_commands(self, params: JSONDict) -> bool:
        self._my_commands.pop(_commands_key(params.get("scope"), params.get("language_code") or ""), None)
        return True

    def _send_message(self, params: JSONDict) -> JSONDict:
        chat = self._chat(self._require(params, "chat_id"))
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise BotApiError(400, "Bad Request: message text is empty")
        self._check_blocked("sendMessage", chat)
        visible = self._visible(text, params.get("parse_mode"), "message text", MAX_TEXT_LENGTH)
        self._check_markup(params.get("reply_markup"))
        message = self._new_message(chat, params, {"text": visible})
        self._raw_text[(chat["id"], message["message_id"])] = text
        self._record("sendMessage", chat["id"], message["message_id"], params, text=text)
        return copy.deepcopy(message)

    def _send_photo(self, params: JSONDict) -> JSONDict:
        chat = self._chat(self._require(params, "chat_id"))
        photo = params.get("photo")
        if photo is None or photo == "":
            raise BotApiError(400, "Bad Request: there is no photo in the request")
        size = photo.size if isinstance(photo, UploadedFile) else None
        if size == 0:
            raise BotApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
        self._check_blocked("sendPhoto", chat)
        caption = params.get("caption")
        content: JSONDict = {"photo": _photo_sizes(size)}
        if caption:
            content["caption"] = self._visible(
                caption, params.get("parse_mode"), "message caption", MAX_CAPTION_LENGTH
            )
        self._check_markup(params.get("reply_markup"))
        message = self._new_message(chat, params, content)
        self._raw_text[(chat["id"], message["message_id"])] = caption
        self._record("sendPhoto", chat["id"], message["message_id"], params, caption=caption, photo_size=size)
        return copy.deepcopy(message)

    def _check_editable(self, message: JSONDict) -> None:
        if message.get("from", {}).get("id") != self.bot_id:
            raise BotApiError(400, "Bad Request: message can't be edited")

    def _apply_markup_edit(self, message: JSONDict, params: JSONDict) -> None:
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        else:
            # Editing without reply_markup removes the inline keyboard, as on Telegram.
            message.pop("reply_markup", None)

    def _edit_message_text(self, params: JSONDict) -> JSONDict | bool:
        if params.get("inline_message_id"):
            self._record("editMessageText", "", None, params, text=params.get("text"))
            return True
        key, message = self._stored(params, "edit")
        self._check_editable(message)
        if "text" not in message:
            raise BotApiError(400, "Bad Request: there is no text in the message to edit")
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise BotApiError(400, "Bad Request: message text is empty")
        visible = self._visible(text, params.get("parse_mode"), "message text", MAX_TEXT_LENGTH)
        self._check_markup(params.get("reply_markup"))
        new_markup = (
            params.get("reply_markup") if "inline_keyboard" in (params.get("reply_markup") or {}) else None
        )
        if self._raw_text.get(key) == text and message.get("reply_markup") == new_markup:
            raise BotApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message",
            )
        message["text"] = visible
        message["edit_date"] = int(time.time())
        self._apply_markup_edit(message, params)
        self._raw_text[key] = text
        self._record("editMessageText", key[0], key[1], params, text=text)
        return copy.deepcopy(message)

    def _edit_message_caption(self, params: JSONDict) -> JSONDict | bool:
        key, message = self._stored(params, "edit")
        self._check_editable(message)
        if "photo" not in message:
            raise BotApiError(400, "Bad Request: there is no caption in the message to edit")
        caption = params.get("caption")
        visible = (
            self._visible(caption, params.get("parse_mode"), "message caption", MAX_CAPTION_LENGTH)
            if caption
            else None
        )
        self._check_markup(params.get("reply_markup"))
        new_markup = (
            params.get("reply_markup") if "inline_keyboard" in (params.get("reply_markup") or {}) else None
        )
        if self._raw_text.get(key) == caption and message.get("reply_markup") == new_markup:
            raise BotApiError(400, "Bad Request: message is not modified")
        if visible:
            message["caption"] = visible
        else:
            message.pop("caption", None)
        message["edit_date"] = int(time.time())
        self._apply_markup_edit(message, params)
        self._raw_text[key] = caption
        self._record("editMessageCaption", key[0], key[1], params, caption=caption)
        return copy.deepcopy(message)

    def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict | bool:
        if params.get("inline_message_id"):
            self._record("editMessageReplyMarkup", "", None, params)
            return True
        key, message = self._stored(params, "edit")
        self._check_editable(message)
        self._check_markup(params.get("reply_markup"))
        new_markup = (
            params.get("reply_markup") if "inline_keyboard" in (params.get("reply_markup") or {}) else None
        )
        if message.get("reply_markup") == new_markup:
            raise BotApiError(400, "Bad Request: message is not modified")
        message["edit_date"] = int(time.time())
        self._apply_markup_edit(message, params)
        self._record("editMessageReplyMarkup", key[0], key[1], params, text=message.get("text"))
        return copy.deepcopy(message)

    def _delete_message(self, params: JSONDict) -> bool:
        key, _ = self._stored(params, "delete")
        del self._messages[key]
        self._raw_text.pop(key, None)
        self._record("deleteMessage", key[0], key[1], params)
        return True

    def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = str(self._require(params, "callback_query_id"))
        created = self._open_queries.pop(query_id, None)
        if created is None or time.monotonic() - created > CALLBACK_QUERY_TTL:
            raise BotApiError(
                400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
            )
        self.callback_answers.append(
            CallbackAnswer(
                callback_query_id=query_id,
                text=params.get("text"),
                show_alert=bool(params.get("show_alert")),
                url=params.get("url"),
                cache_time=params.get("cache_time"),
                timestamp=time.monotonic(),
            )
        )
        return True

    def _get_chat(self, params: JSONDict) -> JSONDict:
        chat = dict(self._chat(self._require(params, "chat_id")))
        chat.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": True,
                "limited_gifts": True,
                "unique_gifts": True,
                "premium_subscription": True,
                "gifts_from_channels": False,
            },
        )
        return chat

    def _get_chat_member(self, params: JSONDict) -> JSONDict:
        chat = self._chat(self._require(params, "chat_id"))
        user_id = int(self._require(params, "user_id"))
        user = self.bot_user if user_id == self.bot_id else self.add_user(user_id)
        status = self._members.get((chat["id"], user_id), "member")
        member: JSONDict = {"status": status, "user": dict(user)}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update(
                can_be_edited=False,
                is_anonymous=False,
                can_manage_chat=True,
                can_delete_messages=True,
                can_manage_video_chats=True,
                can_restrict_members=True,
                can_promote_members=False,
                can_change_info=True,
                can_invite_users=True,
                can_post_stories=False,
                can_edit_stories=False,
                can_delete_stories=False,
            )
        elif status == "kicked":
            member["until_date"] = 0
        return member

    def _send_chat_action(self, params: JSONDict) -> bool:
        chat = self._chat(self._require(params, "chat_id"))
        if self.validate and params.get("action") not in _CHAT_ACTIONS:
            raise BotApiError(400, "Bad Request: wrong parameter action in request")
        self._check_blocked("sendChatAction", chat)
        return True


# ---------------------------------------------------------------------- module helpers


async def _read_params(request: web.Request) -> JSONDict:
    """Merge query, form/multipart or JSON body into one dict with Bot API types restored."""
    params: JSONDict = dict(request.query)
    if request.body_exists:
        if request.content_type == "application/json":
            raw = await request.read()
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError as exc:
                    raise BotApiError(400, "Bad Request: can't parse JSON request body") from exc
                if not isinstance(body, dict):
                    raise BotApiError(400, "Bad Request: request body must be a JSON object")
                params.update(body)
        else:
            form = await request.post()
            for name, value in form.items():
                if isinstance(value, web.FileField):
                    params[name] = UploadedFile(value.filename, value.content_type, value.file.read())
                else:
                    params[name] = value
    return {name: _coerce(name, value) for name, value in params.items()}


def _coerce(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if name in _JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError as exc:
            raise BotApiError(400, f"Bad Request: can't parse {name} JSON object") from exc
    if name in _INT_FIELDS:
        stripped = value.strip()
        if stripped.lstrip("-").isdigit():
            return int(stripped)
        if name == "timeout":
            try:
                return float(stripped)
            except ValueError:
                return value
        return value  # e.g. chat_id="@channelusername"
    if name in _BOOL_FIELDS:
        return value.strip().lower() in ("true", "1")
    return value


def _infer_chat_type(chat_id: int) -> str:
    if chat_id > 0:
        return "private"
    return "supergroup" if chat_id <= -1_000_000_000_000 else "group"


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _commands_key(scope: JSONDict | None, language_code: str) -> tuple[str, str]:
    return json.dumps(scope or {"type": "default"}, sort_keys=True), language_code


def _photo_sizes(size: int | None) -> list[JSONDict]:
    unique = next(_photo_ids)
    return [
        {
            "file_id": f"photo-{unique}-{width}",
            "file_unique_id": f"u{unique}-{width}",
            "width": width,
            "height": width * 3 // 4,
            "file_size": max((size or 0) * width // 1280, 1),
        }
        for width in (90, 320, 1280)
    ]


_photo_ids = itertools.count(1)


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode())


def _check_html(text: str) -> str:
    """Parse Telegram-flavoured HTML; raise the error Telegram gives, else return the visible text."""
    stack: list[str] = []
    visible: list[str] = []
    index = 0
    while index < len(text):
        start = text.find("<", index)
        if start == -1:
            visible.append(text[index:])
            break
        visible.append(text[index:start])
        end = text.find(">", start)
        if end == -1:
            raise BotApiError(
                400,
                f"Bad Request: can't parse entities: Can't find end of the tag starting at byte offset "
                f"{_byte_offset(text, start)}",
            )
        inner = text[start + 1 : end]
        if inner.startswith("/"):
            name = inner[1:].strip().lower()
            if not stack or stack[-1] != name:
                expected = f'expected "</{stack[-1]}>"' if stack else "no tag is open"
                raise BotApiError(
                    400,
                    f"Bad Request: can't parse entities: Unmatched end tag at byte offset "
                    f'{_byte_offset(text, start)}, {expected}, found "</{name}>"',
                )
            stack.pop()
        else:
            match = _TAG_NAME_RE.match(inner)
            name = match.group(0).lower() if match else ""
            if name not in _HTML_TAGS:
                raise BotApiError(
                    400,
                    f'Bad Request: can\'t parse entities: Unsupported start tag "{name}" at byte offset '
                    f"{_byte_offset(text, start)}",
                )
            stack.append(name)
        index = end + 1
    if stack:
        raise BotApiError(
            400,
            "Bad Request: can't parse entities: Can't find end tag corresponding to start tag "
            f'"{stack[-1]}"',
        )
    return html.unescape("".join(visible))


def _check_markdown_v2(text: str) -> None:
    """Reject what Telegram rejects most often in MarkdownV2: unescaped reserved characters."""
    counts: dict[str, int] = dict.fromkeys(_MDV2_PAIRED, 0)
    index = 0
    in_link_url = False
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "`":
            fence = "```" if text.startswith("```", index) else "`"
            close = text.find(fence, index + len(fence))
            if close == -1:
                raise BotApiError(
                    400,
                    "Bad Request: can't parse entities: Can't find end of Pre entity at byte offset "
                    f"{_byte_offset(text, index)}",
                )
            index = close + len(fence)
            continue
        if in_link_url:
            in_link_url = char != ")"
        elif char == "]" and text.startswith("(", index + 1):
            in_link_url = True
            index += 1
        elif char in _MDV2_ALWAYS_ESCAPE or char in "()":
            raise BotApiError(
                400,
                f"Bad Request: can't parse entities: Character '{char}' is reserved and must be escaped "
                "with the preceding '\\'",
            )
        elif char in counts:
            counts[char] += 1
        index += 1
    for char, count in counts.items():
        if count % 2:
            raise BotApiError(
                400, f"Bad Request: can't parse entities: Can't find end of the entity starting with '{char}'"
            )


__all__ = [
    "CALLBACK_QUERY_TTL",
    "MAX_CALLBACK_DATA_BYTES",
    "MAX_CAPTION_LENGTH",
    "MAX_TEXT_LENGTH",
    "BotApiError",
    "CallbackAnswer",
    "FakeBotApi",
    "RejectedRecord",
    "SentRecord",
    "UploadedFile",
]
