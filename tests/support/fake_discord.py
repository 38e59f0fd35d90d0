"""A small local Discord (REST API v10 + Gateway v10, JSON) for end-to-end tests of the real discord.py client.

Why this exists: an Interaction double tests our assumptions about discord.py, not discord.py. Slash-command
option conversion, the 3-second answer window, "already acknowledged", followups through webhooks, views
dispatched by ``custom_id``, raw reaction events, 429 handling and multipart uploads are all discord.py code
that only runs when a real ``discord.Client`` talks to something that answers like Discord. This server does,
over loopback HTTP and a websocket, so the tests stay offline, fast and deterministic.

Point discord.py at it exactly as the bot does in production:

* ``discord.http.Route.BASE = server.api_base`` before login (REST, interaction callbacks and webhook
  followups all build their URLs from it);
* in ``setup_hook``: ``data = await self.http.request(Route("GET", "/gateway/bot"))`` and
  ``DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(data["url"])`` (a plain ``Client`` never asks for it).

What it imitates, because each has bitten bots in production:

* REST answers carry ``Content-Type: application/json`` exactly (discord.py treats anything else, even
  ``application/json; charset=utf-8``, as text) and ``Via`` (discord.py takes a 429 without ``Via`` for a
  Cloudflare ban and raises instead of retrying);
* Discord's error JSON (``{"code", "message", "errors"}``) and limits: 2,000 characters of content, the embed
  limits (10 embeds, title 256, description 4,096, 25 fields of 256/1,024, footer 2,048, 6,000 in total),
  5 action rows of 5 buttons, ``custom_id`` ≤ 100, empty messages refused; command payloads are checked
  like Discord checks them (names, descriptions, 25 options/choices, required before optional);
* interactions: answered once (400 code 40060), within ``interaction_ttl`` seconds (404 code 10062), the
  first followup after a defer fills the "thinking" message (so ephemerality is fixed at defer time),
  followups and ``@original`` edits through ``/webhooks/{app}/{token}``;
* the gateway: HELLO, IDENTIFY → READY + GUILD_CREATE per guild, heartbeats, sequence numbers, RESUME with
  replay of missed events (or INVALID_SESSION), ``zlib-stream`` compression as discord.py asks for it,
  intents (events the bot did not ask for are not sent; privileged intents not enabled "in the portal" are
  refused with close code 4014; without GUILD_MEMBERS, GUILD_CREATE carries only the bot's own member;
  without MESSAGE_CONTENT, users' guild messages arrive without content).

Everything is recorded (``requests``, ``messages``, ``message_log``, ``interactions``, ``commands``,
``gateway_received``, ``sessions``) and can be awaited without sleep loops (``wait_response``,
``wait_message``, ``wait_request``, ``wait_until``...). Failures can be scripted (``fail_next``,
``block_user``, ``disconnect_all``). ``run_client`` runs a client in the background for a test.
"""

# The wait_* helpers take ``timeout=`` on purpose: a per-call deadline reads best in tests.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import itertools
import json
import math
import re
import secrets
import time
import zlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import BodyPartReader, WSMsgType, web

from tests.support.loopback import LoopbackServer

if TYPE_CHECKING:
    import discord

JSONDict = dict[str, Any]
T = TypeVar("T")

API_VERSION = 10
DISCORD_EPOCH_MS = 1_420_070_400_000

# Gateway intents (https://discord.com/developers/docs/events/gateway#gateway-intents).
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_GUILD_MESSAGE_REACTIONS = 1 << 10
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_DIRECT_MESSAGE_REACTIONS = 1 << 13
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT

# Permission bits used here.
PERM_ADD_REACTIONS = 1 << 6
PERM_ADMINISTRATOR = 1 << 3
PERM_MANAGE_GUILD = 1 << 5
PERM_VIEW_CHANNEL = 1 << 10
PERM_SEND_MESSAGES = 1 << 11
PERM_EMBED_LINKS = 1 << 14
PERM_ATTACH_FILES = 1 << 15
PERM_READ_MESSAGE_HISTORY = 1 << 16
PERM_USE_APPLICATION_COMMANDS = 1 << 31
ALL_PERMISSIONS = (1 << 51) - 1
DEFAULT_EVERYONE_PERMISSIONS = (
    PERM_ADD_REACTIONS
    | PERM_VIEW_CHANNEL
    | PERM_SEND_MESSAGES
    | PERM_EMBED_LINKS
    | PERM_ATTACH_FILES
    | PERM_READ_MESSAGE_HISTORY
    | PERM_USE_APPLICATION_COMMANDS
)

# Message flags.
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_COMPONENTS_V2 = 1 << 15
_SETTABLE_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_COMPONENTS_V2

# Discord's documented limits.
MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TITLE = 256
MAX_EMBED_DESCRIPTION = 4096
MAX_EMBED_FIELDS = 25
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1024
MAX_FOOTER = 2048
MAX_AUTHOR_NAME = 256
MAX_EMBED_TOTAL = 6000
MAX_ACTION_ROWS = 5
MAX_ROW_BUTTONS = 5
MAX_CUSTOM_ID = 100
MAX_BUTTON_LABEL = 80
MAX_CHOICES = 25
MAX_OPTIONS = 25
MAX_COMMANDS = 100
#: Discord refuses an initial interaction response after 3 seconds ...
INTERACTION_TTL = 3.0
#: ... and the interaction token (followups, @original edits) lives 15 minutes.
INTERACTION_TOKEN_TTL = 15 * 60.0

# Interaction types and the callback types Discord accepts for each.
IX_PING, IX_COMMAND, IX_COMPONENT, IX_AUTOCOMPLETE, IX_MODAL = 1, 2, 3, 4, 5
_ALLOWED_CALLBACKS = {
    IX_PING: {1},
    IX_COMMAND: {4, 5, 9},
    IX_COMPONENT: {4, 5, 6, 7, 9},
    IX_AUTOCOMPLETE: {8},
    IX_MODAL: {4, 5, 6, 7},
}
_SELECT_TYPES = frozenset({3, 5, 6, 7, 8})
_NAME_RE = re.compile(r"^[-_'\w]{1,32}$")

# Default bodies for scripted failures: status -> (code, message), as Discord words them.
_DEFAULT_ERRORS = {
    400: (50035, "Invalid Form Body"),
    401: (0, "401: Unauthorized"),
    403: (50013, "Missing Permissions"),
    404: (10003, "Unknown Channel"),
    500: (0, "500: Internal Server Error"),
    502: (0, "502: Bad Gateway"),
    503: (0, "503: Service Unavailable"),
}


class DiscordError(Exception):
    """An error answer in Discord's shape: HTTP status plus ``{"code", "message"[, "errors"]}``."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        errors: JSONDict | None = None,
        headers: Mapping[str, str] | None = None,
        body: JSONDict | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = dict(headers or {})
        self._body = body

    def body(self) -> JSONDict:
        if self._body is not None:
            return self._body
        payload: JSONDict = {"code": self.code, "message": self.message}
        if self.errors:
            payload["errors"] = self.errors
        return payload


# ---------------------------------------------------------------------- configuration objects


@dataclass(eq=False)
class FakeUser:
    """A Discord user as the tests describe it.

    ``roles`` are the role ids the user holds in every guild they are added to (``add_member`` can override
    them per guild); ``permissions`` overrides the guild permissions computed from those roles.
    """

    id: int
    username: str
    roles: tuple[int, ...] = ()
    permissions: int | None = None
    bot: bool = False
    global_name: str | None = None

    def payload(self) -> JSONDict:
        """The user object Discord sends."""
        data: JSONDict = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "collectibles": None,
            "primary_guild": None,
        }
        if self.bot:
            data["bot"] = True
        return data


UserLike = FakeUser | int


@dataclass(eq=False)
class FakeMember:
    user: FakeUser
    roles: list[int]
    permissions: int | None
    joined_at: str


@dataclass(eq=False)
class FakeGuild:
    id: int
    name: str
    owner_id: int
    joined_at: str
    roles: dict[int, JSONDict] = field(default_factory=dict)
    channels: dict[int, JSONDict] = field(default_factory=dict)
    members: dict[int, FakeMember] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file part of a multipart request; the bytes are kept but left out of ``repr``."""

    filename: str | None
    content_type: str | None
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)


# ---------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One REST request and how the server answered it."""

    method: str
    route: str  # "METHOD /template", as discord.py's Route.key spells it, e.g. "POST /channels/{channel_id}/messages"
    path: str  # the concrete path below /api/v10
    params: dict[str, str]
    query: dict[str, str]
    body: Any  # JSON body, or the payload_json of a multipart request
    files: tuple[UploadedFile, ...]
    status: int
    response: Any
    timestamp: float

    @property
    def code(self) -> int | None:
        """Discord's error code of a refused request (None for successes and 429s)."""
        return self.response.get("code") if isinstance(self.response, dict) and self.status >= 400 else None


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """A message created, edited or deleted, with a snapshot of the message after the change."""

    kind: str  # "create" | "edit" | "delete"
    channel_id: int
    message_id: int
    message: JSONDict
    via: str  # "channel" | "interaction" | "webhook" | "user"
    timestamp: float


@dataclass(eq=False)
class InteractionRecord:
    """An interaction sent to the bot and everything the bot answered to it (live: it fills up)."""

    id: int
    token: str
    type: int
    user_id: int
    guild_id: int | None
    channel_id: int
    payload: JSONDict
    created: float
    message_id: int | None = None  # the message a component/modal interaction came from
    #: Accepted callbacks, ``{"type": int, "data": {...}}``; Discord accepts exactly one.
    responses: list[JSONDict] = field(default_factory=list)
    #: Refused callbacks, ``{"type", "data", "status", "code"}`` (answered twice or too late).
    refused: list[JSONDict] = field(default_factory=list)
    #: Messages the followups created (or, for the first one after a defer, filled), as returned.
    followups: list[JSONDict] = field(default_factory=list)
    #: Bodies of PATCH ``@original`` / ``messages/{id}`` through the interaction webhook.
    edits: list[JSONDict] = field(default_factory=list)
    original_message_id: int | None = None
    #: Seconds between dispatch and the accepted callback (Discord's window is ``interaction_ttl``).
    answered_after: float | None = None

    @property
    def response(self) -> JSONDict | None:
        return self.responses[0] if self.responses else None

    @property
    def response_type(self) -> int | None:
        return self.responses[0]["type"] if self.responses else None

    @property
    def name(self) -> str | None:
        """The command name, or the custom_id of a component or modal."""
        data = self.payload.get("data") or {}
        return data.get("name") or data.get("custom_id")


@dataclass(frozen=True, slots=True)
class GatewayFrame:
    """A frame a client sent on the gateway."""

    connection: int
    op: int
    data: Any
    timestamp: float


@dataclass(eq=False)
class GatewayConnection:
    """One websocket. ``compress`` is what the client asked for; only zlib-stream is applied."""

    id: int
    ws: web.WebSocketResponse
    query: dict[str, str]
    compressor: Any = None  # zlib compressobj for zlib-stream
    session: GatewaySession | None = None
    closed: bool = False
    closed_by_server: bool = False
    close_code: int | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, frame: JSONDict) -> bool:
        """Write one frame; False when the socket is gone (the frame stays in the session buffer)."""
        text = json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
        async with self.lock:
            if self.closed or self.ws.closed:
                return False
            try:
                if self.compressor is not None:
                    # zlib-stream: one shared context; every message ends with a Z_SYNC_FLUSH (00 00 ff ff),
                    # which is how discord.py knows a message is complete.
                    data = self.compressor.compress(text.encode()) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
                    await self.ws.send_bytes(data)
                else:
                    await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return False
        return True


@dataclass(eq=False)
class GatewaySession:
    """A gateway session: survives its websocket until the client closes with 1000/1001 or it is invalidated."""

    id: str
    intents: int
    identify: JSONDict
    seq: int = 0
    connection: GatewayConnection | None = None
    buffer: list[JSONDict] = field(default_factory=list)
    resumes: int = 0
    heartbeats: int = 0
    ended: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def events(self) -> list[str]:
        """Names of the dispatched events, in order."""
        return [frame["t"] for frame in self.buffer]

    async def dispatch(self, event: str, data: JSONDict) -> None:
        async with self.lock:
            self.seq += 1
            frame = {"op": 0, "t": event, "s": self.seq, "d": data}
            self.buffer.append(frame)
            del self.buffer[:-10_000]
            if self.connection is not None and not await self.connection.send(frame):
                self.connection = None


@dataclass(slots=True)
class _Failure:
    target: str | int
    error: DiscordError
    remaining: int


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: str
    auth: bool  # needs "Authorization: Bot <token>" (interaction callbacks and webhooks do not)


@dataclass(slots=True)
class _Request:
    method: str
    route: _Route
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    files: list[UploadedFile]


def _route(method: str, template: str, handler: str, *, auth: bool = True) -> _Route:
    regex = re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(template))
    return _Route(method, template, re.compile(f"^{regex}$"), handler, auth)


# Order matters where a literal segment (@me, @original) competes with a parameter.
_ROUTES: tuple[_Route, ...] = (
    _route("GET", "/users/@me", "_get_me"),
    _route("POST", "/users/@me/channels", "_create_dm"),
    _route("GET", "/users/{user_id}", "_get_user"),
    _route("GET", "/gateway", "_get_gateway", auth=False),
    _route("GET", "/gateway/bot", "_get_gateway_bot"),
    _route("GET", "/oauth2/applications/@me", "_get_application"),
    _route("GET", "/applications/@me", "_get_application"),
    _route("GET", "/applications/{application_id}/commands", "_get_commands"),
    _route("PUT", "/applications/{application_id}/commands", "_put_commands"),
    _route("GET", "/applications/{application_id}/commands/{command_id}", "_get_command"),
    _route("GET", "/applications/{application_id}/guilds/{guild_id}/commands", "_get_commands"),
    _route("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", "_put_commands"),
    _route("GET", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}", "_get_command"),
    _route("POST", "/interactions/{interaction_id}/{interaction_token}/callback", "_callback", auth=False),
    _route("POST", "/webhooks/{webhook_id}/{webhook_token}", "_webhook_execute", auth=False),
    _route("GET", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", "_webhook_get", auth=False),
    _route("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", "_webhook_edit", auth=False),
    _route("DELETE", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", "_webhook_delete", auth=False),
    _route("GET", "/channels/{channel_id}", "_get_channel"),
    _route("POST", "/channels/{channel_id}/typing", "_typing"),
    _route("GET", "/channels/{channel_id}/messages", "_list_messages"),
    _route("POST", "/channels/{channel_id}/messages", "_create_message"),
    _route("GET", "/channels/{channel_id}/messages/{message_id}", "_get_message"),
    _route("PATCH", "/channels/{channel_id}/messages/{message_id}", "_edit_message"),
    _route("DELETE", "/channels/{channel_id}/messages/{message_id}", "_delete_message"),
    _route("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", "_add_own_reaction"),
    _route("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", "_remove_own_reaction"),
    _route(
        "DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/{user_id}", "_remove_user_reaction"
    ),
    _route("GET", "/guilds/{guild_id}", "_get_guild"),
    _route("GET", "/guilds/{guild_id}/channels", "_get_guild_channels"),
    _route("GET", "/guilds/{guild_id}/roles", "_get_roles"),
    _route("GET", "/guilds/{guild_id}/members/{user_id}", "_get_member"),
)


# ---------------------------------------------------------------------- the server


class FakeDiscord(LoopbackServer):
    """Discord's REST API and Gateway on 127.0.0.1 (see the module docstring).

    ``privileged_intents`` are the privileged intents "enabled in the developer portal" (none by default,
    as for a new application): asking for others closes the gateway with 4014, as Discord does.
    """

    def __init__(
        self,
        token: str = "fake-discord-bot-token",
        *,
        bot_id: int = 1_100_000_000_000_000_001,
        bot_name: str = "Tipster",
        owner_id: int = 1_100_000_000_000_000_002,
        application_flags: int = 0,
        heartbeat_interval: float = 41.25,
        interaction_ttl: float = INTERACTION_TTL,
        token_ttl: float = INTERACTION_TOKEN_TTL,
        privileged_intents: int = 0,
    ) -> None:
        self.token = token
        self.bot = FakeUser(bot_id, bot_name, bot=True)
        self.application_id = bot_id
        self.owner = FakeUser(owner_id, "owner")
        self.application_flags = application_flags
        self.heartbeat_interval = heartbeat_interval
        self.interaction_ttl = interaction_ttl
        self.token_ttl = token_ttl
        self.privileged_intents = privileged_intents

        self.users: dict[int, FakeUser] = {bot_id: self.bot, owner_id: self.owner}
        self.guilds: dict[int, FakeGuild] = {}
        self.dm_channels: dict[int, int] = {}  # user id -> DM channel id
        self._dm_recipient: dict[int, int] = {}  # DM channel id -> user id
        self.blocked: set[int] = set()

        #: Every REST request, in order, with the answer.
        self.requests: list[RequestRecord] = []
        #: Current messages per channel id, oldest first (deleted ones removed; ephemeral ones carry flag 64).
        self.messages: defaultdict[int, list[JSONDict]] = defaultdict(list)
        #: Every create/edit/delete of a message, in order.
        self.message_log: list[MessageEvent] = []
        #: Files uploaded with messages, by attachment id.
        self.uploads: dict[int, UploadedFile] = {}
        #: Global application commands by name, as stored (with ids), and guild commands per guild id.
        self.global_commands: dict[str, JSONDict] = {}
        self.guild_commands: defaultdict[int, dict[str, JSONDict]] = defaultdict(dict)
        #: The raw payload of every bulk overwrite: (guild id or None, payload as sent).
        self.command_syncs: list[tuple[int | None, list[JSONDict]]] = []
        #: Interactions sent to the bot, by id.
        self.interactions: dict[int, InteractionRecord] = {}
        #: The bot's own reaction calls: (method, channel id, message id, emoji).
        self.reaction_calls: list[tuple[str, int, int, str]] = []
        self.connections: list[GatewayConnection] = []
        self.sessions: dict[str, GatewaySession] = {}
        #: Frames clients sent on the gateway (IDENTIFY, HEARTBEAT, RESUME, ...).
        self.gateway_received: list[GatewayFrame] = []
        #: Unexpected exceptions inside the fake itself; a test should assert this stays empty.
        self.errors: list[str] = []

        self._messages_by_id: dict[int, JSONDict] = {}
        self._message_channel: dict[int, int] = {}
        self._ephemeral_for: dict[int, int] = {}  # ephemeral message id -> the only user who sees it
        self._reactors: defaultdict[tuple[int, str], list[int]] = defaultdict(list)
        self._by_token: dict[str, InteractionRecord] = {}
        self._failures: list[_Failure] = []
        self._connection_ids = itertools.count(1)
        self._last_snowflake = 0
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ addresses

    @property
    def api_base(self) -> str:
        """The value for ``discord.http.Route.BASE``."""
        return f"{self.base_url}/api/v{API_VERSION}"

    @property
    def gateway_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1) + "/gateway"

    # ------------------------------------------------------------------ configuring the world

    def add_user(
        self,
        user_id: int,
        username: str | None = None,
        *,
        roles: Iterable[int] = (),
        permissions: int | None = None,
        bot: bool = False,
    ) -> FakeUser:
        """Register (or update) a user; returns the FakeUser to pass to the action helpers."""
        user = self.users.get(user_id)
        if user is None:
            user = FakeUser(user_id, username or f"user{user_id}", tuple(roles), permissions, bot)
            self.users[user_id] = user
        else:
            user.username = username or user.username
            user.roles = tuple(roles) or user.roles
            user.permissions = permissions if permissions is not None else user.permissions
        return user

    def add_guild(
        self,
        guild_id: int,
        name: str = "Test Guild",
        *,
        owner: UserLike | None = None,
        channels: Mapping[int, str] | None = None,
        members: Iterable[UserLike] = (),
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
    ) -> FakeGuild:
        """A guild the bot is in, with its @everyone role (id = guild id), text channels and members.

        Configure guilds before the client connects: they are sent at IDENTIFY (use ``dispatch`` for later
        changes).
        """
        owner_user = self._user(owner) if owner is not None else self.owner
        guild = FakeGuild(guild_id, name, owner_user.id, _now_iso())
        self.guilds[guild_id] = guild
        self.add_role(guild_id, guild_id, "@everyone", permissions=everyone_permissions, position=0)
        for channel_id, channel_name in (channels or {}).items():
            self.add_channel(guild_id, channel_id, channel_name)
        self.add_member(guild_id, owner_user)
        for member in members:
            self.add_member(guild_id, member)
        return guild

    def add_channel(self, guild_id: int, channel_id: int, name: str, *, type: int = 0) -> JSONDict:
        """A guild channel (type 0 text by default)."""
        guild = self.guilds[guild_id]
        channel: JSONDict = {
            "id": str(channel_id),
            "type": type,
            "name": name,
            "guild_id": str(guild_id),
            "position": len(guild.channels),
            "permission_overwrites": [],
            "parent_id": None,
            "nsfw": False,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }
        if type in (2, 13):  # voice and stage channels
            channel.update(bitrate=64000, user_limit=0, rtc_region=None)
        guild.channels[channel_id] = channel
        return channel

    def add_role(self, guild_id: int, role_id: int, name: str, *, permissions: int = 0, position: int = 1) -> JSONDict:
        role: JSONDict = {
            "id": str(role_id),
            "name": name,
            "permissions": str(permissions),
            "position": position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
            "icon": None,
            "unicode_emoji": None,
        }
        self.guilds[guild_id].roles[role_id] = role
        return role

    def add_member(
        self, guild_id: int, user: UserLike, *, roles: Iterable[int] | None = None, permissions: int | None = None
    ) -> FakeMember:
        """Make ``user`` a member of the guild (roles default to the user's ``roles``)."""
        fake_user = self._user(user)
        member = FakeMember(
            fake_user,
            list(fake_user.roles if roles is None else roles),
            fake_user.permissions if permissions is None else permissions,
            _now_iso(),
        )
        self.guilds[guild_id].members[fake_user.id] = member
        return member

    def member_permissions(self, guild_id: int, user: UserLike) -> int:
        """Guild permissions as Discord computes them: owner/ADMINISTRATOR = all, else @everyone | roles."""
        guild = self.guilds[guild_id]
        user_id = self._user(user).id
        member = guild.members.get(user_id)
        if member is not None and member.permissions is not None:
            return member.permissions
        if user_id == guild.owner_id:
            return ALL_PERMISSIONS
        perms = int(guild.roles[guild_id]["permissions"])
        for role_id in member.roles if member else ():
            if role_id in guild.roles:
                perms |= int(guild.roles[role_id]["permissions"])
        return ALL_PERMISSIONS if perms & PERM_ADMINISTRATOR else perms

    def dm_channel(self, user: UserLike) -> int:
        """The DM channel id between the bot and ``user`` (created on first use, like POST /users/@me/channels)."""
        user_id = self._user(user).id
        channel_id = self.dm_channels.get(user_id)
        if channel_id is None:
            channel_id = self._new_id()
            self.dm_channels[user_id] = channel_id
            self._dm_recipient[channel_id] = user_id
        return channel_id

    def block_user(self, user: UserLike) -> None:
        """From now on DMs to ``user`` fail with 403 code 50007, as when the user blocks the bot or closes DMs."""
        self.blocked.add(self._user(user).id)

    def unblock_user(self, user: UserLike) -> None:
        self.blocked.discard(self._user(user).id)

    def fail_next(
        self,
        target: str | int,
        *,
        status: int = 429,
        retry_after: float = 0.05,
        count: int = 1,
        code: int | None = None,
        message: str | None = None,
        is_global: bool = False,
        scope: str = "user",
    ) -> None:
        """Script the next ``count`` matching requests to fail before they have any effect.

        ``target`` is a route key as discord.py spells it (``"POST /channels/{channel_id}/messages"``), a
        concrete ``"METHOD /path"``, or an int: a channel id (any request on that channel), or a user id
        (requests on the DM channel with that user). A 429 has Discord's real shape (JSON ``message``,
        ``retry_after``, ``global``; ``X-RateLimit-*`` headers with ``Scope``; ``Retry-After``; ``Via``) so
        discord.py's own handling sleeps ``retry_after`` and retries.
        """
        if isinstance(target, str) and " " not in target:
            raise ValueError('a route target is "METHOD /path", e.g. "POST /channels/{channel_id}/messages"')
        if status == 429:
            headers = {
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                "X-RateLimit-Bucket": f"fake{abs(hash(str(target))) % 10**12:012d}",
                "X-RateLimit-Scope": "global" if is_global else scope,
                "Retry-After": str(max(1, math.ceil(retry_after))),  # whole seconds in the header, as Discord
            }
            if is_global:
                headers["X-RateLimit-Global"] = "true"
            body = {"message": message or "You are being rate limited.", "retry_after": retry_after,
                    "global": is_global}
            error = DiscordError(429, code or 0, body["message"], headers=headers, body=body)
        else:
            default_code, default_message = _DEFAULT_ERRORS.get(status, (0, f"{status}: Error"))
            error = DiscordError(status, default_code if code is None else code, message or default_message)
        self._failures.append(_Failure(target, error, count))

    # ------------------------------------------------------------------ what users do (gateway dispatch)

    async def send_slash(
        self,
        user: UserLike,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        guild_id: int | None = None,
        channel_id: int | None = None,
        locale: str = "en-US",
        ignore_default_permissions: bool = False,
    ) -> InteractionRecord:
        """A user runs ``/name`` (``"group sub"`` for subcommands): INTERACTION_CREATE type 2.

        Option types come from the synced command, and the values are checked as Discord's client checks
        them (required, choices, ranges, types) — a ``ValueError`` means no real user could send this. In a
        guild, a command whose ``default_member_permissions`` the user lacks is hidden from them; pass
        ``ignore_default_permissions=True`` to imitate a server admin granting it in Integrations settings.
        No guild and no guild channel: the command is run in the user's DM with the bot.
        """
        fake_user = self._user(user)
        guild_id, channel_id = self._place(fake_user, guild_id, channel_id)
        command, path = self._find_command(name, guild_id)
        self._check_can_use(command, fake_user, guild_id, ignore_default_permissions)
        data = self._command_data(command, path, options, focused=None)
        return await self._interact(fake_user, IX_COMMAND, data, guild_id, channel_id, locale=locale)

    async def send_autocomplete(
        self,
        user: UserLike,
        name: str,
        options: Mapping[str, Any] | None,
        focused: str,
        *,
        guild_id: int | None = None,
        channel_id: int | None = None,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """A user types into option ``focused`` of ``/name``: INTERACTION_CREATE type 4 (the bot answers type 8).

        The focused value is sent as the string typed so far, as Discord does for any option type.
        """
        fake_user = self._user(user)
        guild_id, channel_id = self._place(fake_user, guild_id, channel_id)
        command, path = self._find_command(name, guild_id)
        data = self._command_data(command, path, options, focused=focused)
        return await self._interact(fake_user, IX_AUTOCOMPLETE, data, guild_id, channel_id, locale=locale)

    async def press_button(
        self,
        user: UserLike,
        message: JSONDict | int,
        custom_id: str,
        *,
        values: Sequence[str] | None = None,
        strict: bool = True,
    ) -> InteractionRecord:
        """A user presses a button (or picks ``values`` in a select) on a stored message: INTERACTION_CREATE 3.

        With ``strict`` the component must be on the message now and enabled, and an ephemeral message can
        only be used by the user who saw it; ``strict=False`` imitates a stale client.
        """
        fake_user = self._user(user)
        message_id = int(message["id"]) if isinstance(message, dict) else int(message)
        stored = self._messages_by_id.get(message_id)
        if stored is None:
            raise KeyError(f"no message {message_id} on the server")
        component = _find_component(stored.get("components") or [], custom_id)
        if strict:
            if component is None:
                raise ValueError(f"message {message_id} has no component {custom_id!r}")
            if component.get("disabled"):
                raise ValueError(f"component {custom_id!r} is disabled")
            owner = self._ephemeral_for.get(message_id)
            if owner is not None and owner != fake_user.id:
                raise ValueError(f"message {message_id} is ephemeral and only user {owner} sees it")
        component_type = component.get("type", 2) if component else (3 if values is not None else 2)
        data: JSONDict = {"custom_id": custom_id, "component_type": component_type}
        if component_type in _SELECT_TYPES:
            data["values"] = list(values or [])
        channel_id = self._message_channel[message_id]
        guild_id = self._guild_of(channel_id)
        return await self._interact(
            fake_user, IX_COMPONENT, data, guild_id, channel_id, message=copy.deepcopy(stored)
        )

    async def submit_modal(
        self, user: UserLike, custom_id: str, fields: Mapping[str, str | Sequence[str]], *, strict: bool = True
    ) -> InteractionRecord:
        """A user submits the modal ``custom_id`` the bot showed them (a type 9 answer): INTERACTION_CREATE 5.

        ``fields`` maps each input's custom_id to its value (a list of values for a select). The submission
        mirrors the modal's own layout (action rows or labels). With ``strict`` required inputs must be given
        and lengths respected.
        """
        fake_user = self._user(user)
        shown = self._shown_modal(fake_user.id, custom_id)
        if shown is None:
            raise ValueError(f"user {fake_user.id} was never shown a modal {custom_id!r}")
        origin, modal = shown
        components = _modal_submission(modal.get("components") or [], dict(fields), strict=strict)
        data = {"custom_id": custom_id, "components": components}
        message = None
        if origin.message_id is not None and origin.message_id in self._messages_by_id:
            message = copy.deepcopy(self._messages_by_id[origin.message_id])
        return await self._interact(
            fake_user, IX_MODAL, data, origin.guild_id, origin.channel_id, message=message
        )

    async def add_reaction(
        self,
        user: UserLike,
        channel_id: int,
        message_id: int,
        emoji: str = "✅",
        guild_id: int | None = None,
    ) -> JSONDict:
        """A user reacts to a message: MESSAGE_REACTION_ADD (to sessions with the reaction intent).

        Returns the event payload. ``emoji`` is a unicode emoji or a custom one as ``name:id``/``<:name:id>``.
        """
        fake_user = self._user(user)
        stored = self._messages_by_id.get(message_id)
        if stored is not None and message_id in self._ephemeral_for:
            raise ValueError("nobody can react to an ephemeral message")
        guild_id = guild_id if guild_id is not None else self._guild_of(channel_id)
        emoji_obj = _emoji(emoji)
        if stored is not None:
            self._react(stored, emoji_obj, fake_user.id, add=True)
        payload = self._reaction_event(fake_user, channel_id, message_id, emoji_obj, guild_id, stored)
        self._require_session()
        await self._dispatch("MESSAGE_REACTION_ADD", payload, intent=_reaction_intent(guild_id))
        return payload

    async def remove_reaction(
        self, user: UserLike, channel_id: int, message_id: int, emoji: str = "✅", guild_id: int | None = None
    ) -> JSONDict:
        """A user takes a reaction back: MESSAGE_REACTION_REMOVE."""
        fake_user = self._user(user)
        stored = self._messages_by_id.get(message_id)
        guild_id = guild_id if guild_id is not None else self._guild_of(channel_id)
        emoji_obj = _emoji(emoji)
        if stored is not None:
            self._react(stored, emoji_obj, fake_user.id, add=False)
        payload = {
            "user_id": str(fake_user.id),
            "channel_id": str(channel_id),
            "message_id": str(message_id),
            "emoji": emoji_obj,
            "burst": False,
            "type": 0,
        }
        if guild_id is not None:
            payload["guild_id"] = str(guild_id)
        self._require_session()
        await self._dispatch("MESSAGE_REACTION_REMOVE", payload, intent=_reaction_intent(guild_id))
        return payload

    async def send_message_create(
        self, user: UserLike, channel_id: int, content: str, *, guild_id: int | None = None
    ) -> JSONDict:
        """A user writes a message: it is stored and MESSAGE_CREATE is dispatched (content only to sessions
        with MESSAGE_CONTENT, except in DMs, as Discord does)."""
        fake_user = self._user(user)
        guild_id = guild_id if guild_id is not None else self._guild_of(channel_id)
        self._channel(channel_id)
        message = self._new_message(channel_id, {"content": content}, author=fake_user.payload())
        self._store_message(message, via="user")
        self._require_session()
        await self._dispatch_message("MESSAGE_CREATE", message, guild_id, author_id=fake_user.id)
        return copy.deepcopy(message)

    async def dispatch(self, event: str, data: JSONDict, *, intent: int | None = None) -> int:
        """Send any dispatch event to every session (that has ``intent``); returns how many got it."""
        return await self._dispatch(event, data, intent=intent)

    async def disconnect_all(self, code: int = 4000, *, invalidate: bool = False) -> None:
        """Close every gateway websocket with ``code``. discord.py resumes (4000 is resumable); events sent
        until it is back are replayed on RESUME. ``invalidate=True`` forgets the sessions, so RESUME gets
        INVALID_SESSION and the client identifies anew."""
        if invalidate:
            for session in self.sessions.values():
                session.ended = True
            self.sessions.clear()
        for conn in list(self.connections):
            if not conn.closed:
                conn.closed_by_server = True
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await conn.ws.close(code=code, message=b"fake discord closed the connection")
        self._notify()

    # ------------------------------------------------------------------ inspecting

    def message(self, message_id: int | str) -> JSONDict:
        """The current state of a stored message (KeyError when unknown or deleted)."""
        return copy.deepcopy(self._messages_by_id[int(message_id)])

    def commands(self, guild_id: int | None = None) -> dict[str, JSONDict]:
        """The stored commands (global, or of one guild) by name, as Discord returns them."""
        source = self.global_commands if guild_id is None else self.guild_commands.get(guild_id, {})
        return copy.deepcopy(source)

    def command(self, name: str, guild_id: int | None = None) -> JSONDict:
        return self.commands(guild_id)[name]

    @property
    def rejected(self) -> list[RequestRecord]:
        """Requests answered with an error (scripted or genuine)."""
        return [r for r in self.requests if r.status >= 400]

    def requests_to(self, route: str) -> list[RequestRecord]:
        """Requests whose route key or ``"METHOD path"`` is ``route``."""
        return [r for r in self.requests if route in (r.route, f"{r.method} {r.path}")]

    @property
    def live_sessions(self) -> list[GatewaySession]:
        return [s for s in self.sessions.values() if s.connection is not None]

    # ------------------------------------------------------------------ waiting

    async def wait_until(self, check: Callable[[], T | None], *, timeout: float = 5.0, what: str = "a condition") -> T:
        """Wait until ``check()`` returns something truthy; returns it.

        ``check`` is re-evaluated whenever the server records something (a request, a gateway frame, a
        message change), so it should look at server state; wait for a client's own state through the
        client's events instead.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = check()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}; {self._summary()}")
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def wait_response(
        self, interaction: InteractionRecord | int, *, followups: int = 0, timeout: float = 5.0
    ) -> InteractionRecord:
        """Wait until the bot answered the interaction (accepted callback) and sent ``followups`` followups."""
        record = interaction if isinstance(interaction, InteractionRecord) else self.interactions[int(interaction)]

        def check() -> InteractionRecord | None:
            return record if record.responses and len(record.followups) >= followups else None

        return await self.wait_until(
            check, timeout=timeout, what=f"an answer (+{followups} followups) to interaction {record.id}"
        )

    async def wait_message(
        self, channel_id: int, predicate: Callable[[JSONDict], bool] | None = None, *, timeout: float = 5.0
    ) -> JSONDict:
        """Wait for a current message in the channel satisfying ``predicate`` (any message without one)."""

        def check() -> JSONDict | None:
            found = next((m for m in self.messages.get(channel_id, []) if predicate is None or predicate(m)), None)
            return copy.deepcopy(found) if found is not None else None

        return await self.wait_until(check, timeout=timeout, what=f"a message in channel {channel_id}")

    async def wait_messages(self, channel_id: int, count: int, *, timeout: float = 5.0) -> list[JSONDict]:
        def check() -> list[JSONDict] | None:
            current = self.messages.get(channel_id, [])
            return copy.deepcopy(current[:count]) if len(current) >= count else None

        return await self.wait_until(check, timeout=timeout, what=f"{count} message(s) in channel {channel_id}")

    async def wait_request(
        self,
        route: str,
        predicate: Callable[[RequestRecord], bool] | None = None,
        *,
        since: int = 0,
        timeout: float = 5.0,
    ) -> RequestRecord:
        """Wait for a request to ``route`` (route key or ``"METHOD path"``), any outcome, in ``requests[since:]``."""

        def check() -> RequestRecord | None:
            return next(
                (
                    r
                    for r in self.requests[since:]
                    if route in (r.route, f"{r.method} {r.path}") and (predicate is None or predicate(r))
                ),
                None,
            )

        return await self.wait_until(check, timeout=timeout, what=f"a request {route}")

    async def wait_gateway_op(self, op: int, *, since: int = 0, timeout: float = 5.0) -> GatewayFrame:
        """Wait for a frame with opcode ``op`` from a client, in ``gateway_received[since:]``."""

        def check() -> GatewayFrame | None:
            return next((f for f in self.gateway_received[since:] if f.op == op), None)

        return await self.wait_until(check, timeout=timeout, what=f"gateway op {op}")

    # ------------------------------------------------------------------ running a client

    @contextlib.asynccontextmanager
    async def run_client(
        self,
        client: discord.Client,
        token: str | None = None,
        *,
        ready_timeout: float = 10.0,
        fast_ready: bool = True,
    ) -> AsyncIterator[discord.Client]:
        """Run ``client.start(token)`` in the background until it is ready; close it on exit.

        The client must already point at this server (Route.BASE, and DEFAULT_GATEWAY in its setup_hook).
        ``fast_ready``: discord.py fires ``on_ready`` only ``guild_ready_timeout`` seconds (2 s by default)
        after the last GUILD_CREATE; this lowers it to 0.05 s for clients built without that option, since
        the fake sends every GUILD_CREATE back to back.
        """
        if fast_ready:
            client._connection.guild_ready_timeout = min(client._connection.guild_ready_timeout, 0.05)
        runner = asyncio.create_task(client.start(token or self.token), name="fake-discord-client")
        ready = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait({runner, ready}, timeout=ready_timeout, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            if runner in done:
                runner.result()  # raises what stopped the client (LoginFailure, PrivilegedIntentsRequired, ...)
                raise RuntimeError("the client stopped before it was ready")
            await client.close()
            runner.cancel()
            raise TimeoutError(f"client not ready after {ready_timeout}s; {self._summary()}")
        try:
            yield client
        finally:
            session_id = client.ws.session_id if client.ws is not None else None
            await client.close()
            try:
                await asyncio.wait_for(runner, timeout=5.0)
            except asyncio.CancelledError:
                pass
            # The client's close returns before this server has handled it: wait, so the test sees the
            # session ended (closed with 1000) and not a race.
            session = self.sessions.get(session_id or "")
            if session is not None:
                await self.wait_until(lambda: session.connection is None, timeout=5.0, what="the client's close")

    # ------------------------------------------------------------------ aiohttp plumbing

    def app(self) -> web.Application:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._attachment)
        app.router.add_route("*", f"/api/v{API_VERSION}/{{tail:.*}}", self._handle)
        return app

    async def stop(self) -> None:
        for conn in list(self.connections):
            if not conn.closed:
                conn.closed_by_server = True
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await conn.ws.close(code=1001, message=b"server stopping")
        await super().stop()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _summary(self) -> str:
        reqs = [(r.route, r.status) for r in self.requests[-6:]]
        return (
            f"last requests={reqs}, sessions={len(self.sessions)} (live {len(self.live_sessions)}), "
            f"errors={self.errors}"
        )

    async def _handle(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        method = request.method
        matches = [(r, m) for r in _ROUTES if (m := r.pattern.match(path))]
        route_match = next(((r, m) for r, m in matches if r.method == method), None)
        if route_match is None:
            status, body = (405, {"message": "405: Method Not Allowed", "code": 0}) if matches else (
                404, {"message": "404: Not Found", "code": 0})
            self.requests.append(RequestRecord(method, f"{method} {path}", path, {}, dict(request.query), None, (),
                                               status, body, time.monotonic()))
            self._notify()
            return _json_response(status, body)
        route, match = route_match
        params = match.groupdict()
        body: Any = None
        files: list[UploadedFile] = []
        try:
            body, files = await _read_body(request)
            if route.auth and request.headers.get("Authorization") != f"Bot {self.token}":
                raise DiscordError(401, 0, "401: Unauthorized")
            req = _Request(method, route, path, params, dict(request.query), body, files)
            failure = self._take_failure(req)
            if failure is not None:
                raise failure
            status, result = await getattr(self, route.handler)(req)
            headers: dict[str, str] = {}
        except DiscordError as err:
            status, result, headers = err.status, err.body(), err.headers
        except Exception as exc:
            # The fake's own bug: recorded for the test to see, and answered 400 rather than 5xx because
            # discord.py retries 5xx for up to 25 s before giving up.
            self.errors.append(f"{method} {path}: {exc!r}")
            status, result, headers = 400, {"message": f"fake discord failed: {exc!r}", "code": 0}, {}
        self.requests.append(
            RequestRecord(method, f"{method} {route.template}", path, params, dict(request.query), body,
                          tuple(files), status, result, time.monotonic())
        )
        self._notify()
        if status == 204:
            return web.Response(status=204, headers={"Via": "1.1 google"})
        return _json_response(status, result, headers)

    def _take_failure(self, req: _Request) -> DiscordError | None:
        for failure in self._failures:
            if self._failure_matches(failure.target, req):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                return failure.error
        return None

    def _failure_matches(self, target: str | int, req: _Request) -> bool:
        if isinstance(target, int):
            channel = req.params.get("channel_id")
            if channel is None:
                return False
            return int(channel) == target or self._dm_recipient.get(int(channel)) == target
        method, _, path = target.partition(" ")
        return method == req.method and path in (req.route.template, req.path)

    async def _attachment(self, request: web.Request) -> web.Response:
        upload = self.uploads.get(int(request.match_info["attachment_id"]))
        if upload is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=upload.data, content_type=upload.content_type or "application/octet-stream")

    # ------------------------------------------------------------------ REST: users, gateway, application

    async def _get_me(self, req: _Request) -> tuple[int, Any]:
        me = self.bot.payload()
        me.update(verified=True, mfa_enabled=False, locale="en-US", email=None, bot=True)
        return 200, me

    async def _get_user(self, req: _Request) -> tuple[int, Any]:
        user = self.users.get(int(req.params["user_id"]))
        if user is None:
            raise DiscordError(404, 10013, "Unknown User")
        return 200, user.payload()

    async def _create_dm(self, req: _Request) -> tuple[int, Any]:
        recipient = (req.body or {}).get("recipient_id")
        if recipient is None:
            raise _form_error(["recipient_id"], "BASE_TYPE_REQUIRED", "This field is required")
        channel_id = self.dm_channel(int(recipient))
        return 200, self._dm_payload(channel_id)

    async def _get_gateway(self, req: _Request) -> tuple[int, Any]:
        return 200, {"url": self.gateway_url}

    async def _get_gateway_bot(self, req: _Request) -> tuple[int, Any]:
        return 200, {
            "url": self.gateway_url,
            "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1},
        }

    async def _get_application(self, req: _Request) -> tuple[int, Any]:
        return 200, {
            "id": str(self.application_id),
            "name": self.bot.username,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": self.owner.payload(),
            "team": None,
            "flags": self.application_flags,
            "bot": self.bot.payload(),
            "rpc_origins": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "approximate_guild_count": len(self.guilds),
            "integration_types_config": {"0": {}},
        }

    # ------------------------------------------------------------------ REST: application commands

    def _check_app(self, req: _Request) -> None:
        if int(req.params["application_id"]) != self.application_id:
            raise DiscordError(403, 50001, "Missing Access")

    def _command_store(self, req: _Request) -> tuple[int | None, dict[str, JSONDict]]:
        if "guild_id" not in req.params:
            return None, self.global_commands
        guild_id = int(req.params["guild_id"])
        if guild_id not in self.guilds:
            raise DiscordError(403, 50001, "Missing Access")
        return guild_id, self.guild_commands[guild_id]

    async def _get_commands(self, req: _Request) -> tuple[int, Any]:
        self._check_app(req)
        _, store = self._command_store(req)
        return 200, [copy.deepcopy(c) for c in store.values()]

    async def _get_command(self, req: _Request) -> tuple[int, Any]:
        self._check_app(req)
        _, store = self._command_store(req)
        found = next((c for c in store.values() if c["id"] == req.params["command_id"]), None)
        if found is None:
            raise DiscordError(404, 10063, "Unknown application command")
        return 200, copy.deepcopy(found)

    async def _put_commands(self, req: _Request) -> tuple[int, Any]:
        self._check_app(req)
        guild_id, store = self._command_store(req)
        payload = req.body
        if not isinstance(payload, list):
            raise _form_error([], "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType.")
        _check_commands(payload)
        self.command_syncs.append((guild_id, copy.deepcopy(payload)))
        new: dict[str, JSONDict] = {}
        for command in payload:
            # Discord keeps a command's id across overwrites when its name (and type) stays the same.
            old = store.get(command["name"])
            stored: JSONDict = {
                "id": old["id"] if old else str(self._new_id()),
                "application_id": str(self.application_id),
                "version": str(self._new_id()),
                "type": command.get("type", 1),
                "name": command["name"],
                "description": command.get("description", ""),
                "options": copy.deepcopy(command.get("options") or []),
                # Discord answers the permission bitfield as a string whatever number type was sent.
                "default_member_permissions": (
                    None if command.get("default_member_permissions") is None
                    else str(command["default_member_permissions"])
                ),
                "dm_permission": command.get("dm_permission", True),
                "contexts": command.get("contexts"),
                "integration_types": command.get("integration_types") or [0],
                "nsfw": command.get("nsfw", False),
            }
            for key in ("name_localizations", "description_localizations"):
                if command.get(key):
                    stored[key] = copy.deepcopy(command[key])
            if guild_id is not None:
                stored["guild_id"] = str(guild_id)
            new[command["name"]] = stored
        store.clear()
        store.update(new)
        return 200, [copy.deepcopy(c) for c in new.values()]

    # ------------------------------------------------------------------ REST: channels and messages

    async def _get_channel(self, req: _Request) -> tuple[int, Any]:
        return 200, copy.deepcopy(self._channel(int(req.params["channel_id"])))

    async def _typing(self, req: _Request) -> tuple[int, Any]:
        self._channel(int(req.params["channel_id"]))
        return 204, None

    async def _list_messages(self, req: _Request) -> tuple[int, Any]:
        channel_id = int(req.params["channel_id"])
        self._channel(channel_id)
        limit = min(int(req.query.get("limit", 50)), 100)
        visible = [m for m in self.messages.get(channel_id, []) if int(m["id"]) not in self._ephemeral_for]
        return 200, [copy.deepcopy(m) for m in reversed(visible)][:limit]

    async def _create_message(self, req: _Request) -> tuple[int, Any]:
        channel_id = int(req.params["channel_id"])
        self._channel(channel_id)
        recipient = self._dm_recipient.get(channel_id)
        if recipient is not None and recipient in self.blocked:
            raise DiscordError(403, 50007, "Cannot send messages to this user")
        body = req.body if isinstance(req.body, dict) else {}
        _check_message_body(body, files=len(req.files), creating=True)
        message = self._new_message(channel_id, body, files=req.files)
        self._store_message(message, via="channel")
        await self._dispatch_message("MESSAGE_CREATE", message, self._guild_of(channel_id), author_id=self.bot.id)
        return 200, copy.deepcopy(message)

    def _channel_message(self, req: _Request) -> JSONDict:
        channel_id = int(req.params["channel_id"])
        self._channel(channel_id)
        message_id = int(req.params["message_id"])
        message = self._messages_by_id.get(message_id)
        if message is None or self._message_channel[message_id] != channel_id or message_id in self._ephemeral_for:
            raise DiscordError(404, 10008, "Unknown Message")
        return message

    async def _get_message(self, req: _Request) -> tuple[int, Any]:
        return 200, copy.deepcopy(self._channel_message(req))

    async def _edit_message(self, req: _Request) -> tuple[int, Any]:
        message = self._channel_message(req)
        if int(message["author"]["id"]) != self.bot.id:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        body = req.body if isinstance(req.body, dict) else {}
        _check_message_body(body, files=len(req.files), creating=False)
        await self._edit(message, body, req.files, via="channel")
        return 200, copy.deepcopy(message)

    async def _delete_message(self, req: _Request) -> tuple[int, Any]:
        message = self._channel_message(req)
        await self._delete(message, via="channel")
        return 204, None

    async def _add_own_reaction(self, req: _Request) -> tuple[int, Any]:
        message = self._channel_message(req)
        emoji = _emoji(req.params["emoji"])
        self.reaction_calls.append(("PUT", int(message["channel_id"]), int(message["id"]), req.params["emoji"]))
        if self._react(message, emoji, self.bot.id, add=True):
            channel_id = int(message["channel_id"])
            guild_id = self._guild_of(channel_id)
            payload = self._reaction_event(self.bot, channel_id, int(message["id"]), emoji, guild_id, message)
            # Discord tells the bot about its own reactions too; handlers must ignore them.
            await self._dispatch("MESSAGE_REACTION_ADD", payload, intent=_reaction_intent(guild_id))
        return 204, None

    async def _remove_own_reaction(self, req: _Request) -> tuple[int, Any]:
        message = self._channel_message(req)
        self.reaction_calls.append(("DELETE", int(message["channel_id"]), int(message["id"]), req.params["emoji"]))
        self._react(message, _emoji(req.params["emoji"]), self.bot.id, add=False)
        return 204, None

    async def _remove_user_reaction(self, req: _Request) -> tuple[int, Any]:
        message = self._channel_message(req)
        self.reaction_calls.append(("DELETE", int(message["channel_id"]), int(message["id"]), req.params["emoji"]))
        self._react(message, _emoji(req.params["emoji"]), int(req.params["user_id"]), add=False)
        return 204, None

    # ------------------------------------------------------------------ REST: guilds

    def _guild(self, req: _Request) -> FakeGuild:
        guild = self.guilds.get(int(req.params["guild_id"]))
        if guild is None:
            raise DiscordError(404, 10004, "Unknown Guild")
        return guild

    async def _get_guild(self, req: _Request) -> tuple[int, Any]:
        payload = self._guild_payload(self._guild(req))
        return 200, payload

    async def _get_guild_channels(self, req: _Request) -> tuple[int, Any]:
        return 200, [copy.deepcopy(c) for c in self._guild(req).channels.values()]

    async def _get_roles(self, req: _Request) -> tuple[int, Any]:
        return 200, [copy.deepcopy(r) for r in self._guild(req).roles.values()]

    async def _get_member(self, req: _Request) -> tuple[int, Any]:
        guild = self._guild(req)
        user_id = int(req.params["user_id"])
        if user_id == self.bot.id:
            return 200, self._bot_member_payload(guild)
        member = guild.members.get(user_id)
        if member is None:
            raise DiscordError(404, 10007, "Unknown Member")
        return 200, self._member_payload(member)

    # ------------------------------------------------------------------ REST: interaction callbacks and webhooks

    async def _callback(self, req: _Request) -> tuple[int, Any]:
        record = self.interactions.get(int(req.params["interaction_id"]))
        if record is None or record.token != req.params["interaction_token"]:
            raise DiscordError(404, 10062, "Unknown interaction")
        body = req.body if isinstance(req.body, dict) else {}
        rtype = body.get("type")
        data = body.get("data") or {}
        elapsed = asyncio.get_running_loop().time() - record.created
        refusal: DiscordError | None = None
        if record.responses:
            refusal = DiscordError(400, 40060, "Interaction has already been acknowledged.")
        elif elapsed > self.interaction_ttl:
            refusal = DiscordError(404, 10062, "Unknown interaction")
        if refusal is not None:
            record.refused.append({"type": rtype, "data": copy.deepcopy(data), "status": refusal.status,
                                   "code": refusal.code, "after": elapsed})
            raise refusal
        if rtype not in _ALLOWED_CALLBACKS[record.type] or (
            rtype == 7 and record.type == IX_MODAL and record.message_id is None
        ):
            raise _form_error(["type"], "INTERACTION_RESPONSE_TYPE_INVALID", "Invalid interaction response type")

        message: JSONDict | None = None
        if rtype == 4:
            _check_message_body(data, files=len(req.files), creating=True)
            message = self._new_message(record.channel_id, data, files=req.files, interaction=record)
            self._store_message(message, via="interaction", ephemeral_for=record.user_id)
            record.original_message_id = int(message["id"])
        elif rtype == 5:
            loading = {"flags": FLAG_LOADING | (int(data.get("flags") or 0) & FLAG_EPHEMERAL)}
            message = self._new_message(record.channel_id, loading, interaction=record)
            self._store_message(message, via="interaction", ephemeral_for=record.user_id)
            record.original_message_id = int(message["id"])
        elif rtype in (6, 7):
            record.original_message_id = record.message_id
            if rtype == 7:
                _check_message_body(data, files=len(req.files), creating=False)
                target = self._messages_by_id.get(record.message_id or 0)
                if target is None:
                    raise DiscordError(404, 10008, "Unknown Message")
                await self._edit(target, data, req.files, via="interaction")
                message = target
        elif rtype == 8:
            _check_choices(data.get("choices"))
        elif rtype == 9:
            _check_modal(data)
        record.responses.append({"type": rtype, "data": copy.deepcopy(data)})
        record.answered_after = elapsed
        if message is not None and message is not self._messages_by_id.get(record.message_id or 0):
            await self._dispatch_message("MESSAGE_CREATE", message, record.guild_id, author_id=self.bot.id)
        if req.query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        answer: JSONDict = {"interaction": {"id": str(record.id), "type": record.type}}
        if message is not None:
            answer["interaction"].update(
                response_message_id=message["id"],
                response_message_loading=rtype == 5,
                response_message_ephemeral=bool(int(message.get("flags") or 0) & FLAG_EPHEMERAL),
            )
            answer["resource"] = {"type": rtype, "message": copy.deepcopy(message)}
        else:
            answer["resource"] = {"type": rtype}
        return 200, answer

    def _webhook_interaction(self, req: _Request) -> InteractionRecord:
        record = self._by_token.get(req.params["webhook_token"])
        if int(req.params["webhook_id"]) != self.application_id or record is None:
            raise DiscordError(404, 10015, "Unknown Webhook")
        if asyncio.get_running_loop().time() - record.created > self.token_ttl:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        return record

    def _webhook_message(self, req: _Request, record: InteractionRecord) -> JSONDict:
        raw = req.params["message_id"]
        message_id = record.original_message_id if raw == "@original" else int(raw)
        own = {record.original_message_id, *(int(m["id"]) for m in record.followups)}
        if message_id is None or message_id not in own or message_id not in self._messages_by_id:
            raise DiscordError(404, 10008, "Unknown Message")
        return self._messages_by_id[message_id]

    async def _webhook_execute(self, req: _Request) -> tuple[int, Any]:
        record = self._webhook_interaction(req)
        if not record.responses:
            raise DiscordError(404, 10015, "Unknown Webhook")
        body = req.body if isinstance(req.body, dict) else {}
        _check_message_body(body, files=len(req.files), creating=True)
        original = self._messages_by_id.get(record.original_message_id or 0)
        if (record.response_type == 5 and original is not None
                and int(original.get("flags") or 0) & FLAG_LOADING):
            # The first followup after a defer replaces the "thinking" message; its flags (ephemeral or not)
            # were fixed by the defer, so the followup's own ephemeral flag is ignored.
            await self._edit(original, body, req.files, via="webhook", keep_flags=True)
            message = original
        else:
            message = self._new_message(record.channel_id, body, files=req.files, interaction=record)
            self._store_message(message, via="webhook", ephemeral_for=record.user_id)
            await self._dispatch_message("MESSAGE_CREATE", message, record.guild_id, author_id=self.bot.id)
        record.followups.append(copy.deepcopy(message))
        self._notify()
        if req.query.get("wait") in ("1", "true", "True"):
            return 200, copy.deepcopy(message)
        return 204, None

    async def _webhook_get(self, req: _Request) -> tuple[int, Any]:
        record = self._webhook_interaction(req)
        return 200, copy.deepcopy(self._webhook_message(req, record))

    async def _webhook_edit(self, req: _Request) -> tuple[int, Any]:
        record = self._webhook_interaction(req)
        message = self._webhook_message(req, record)
        body = req.body if isinstance(req.body, dict) else {}
        _check_message_body(body, files=len(req.files), creating=False)
        await self._edit(message, body, req.files, via="webhook", keep_flags=True)
        record.edits.append(copy.deepcopy(body))
        self._notify()
        return 200, copy.deepcopy(message)

    async def _webhook_delete(self, req: _Request) -> tuple[int, Any]:
        record = self._webhook_interaction(req)
        await self._delete(self._webhook_message(req, record), via="webhook")
        return 204, None

    # ------------------------------------------------------------------ messages

    def _new_id(self) -> int:
        """A snowflake from the current time, strictly increasing."""
        stamp = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last_snowflake = max(stamp, self._last_snowflake + 1)
        return self._last_snowflake

    def _new_message(
        self,
        channel_id: int,
        body: JSONDict,
        *,
        author: JSONDict | None = None,
        files: Sequence[UploadedFile] = (),
        interaction: InteractionRecord | None = None,
    ) -> JSONDict:
        flags = int(body.get("flags") or 0) & _SETTABLE_FLAGS
        if interaction is not None:  # only interaction answers can be ephemeral or "thinking"
            flags |= int(body.get("flags") or 0) & (FLAG_EPHEMERAL | FLAG_LOADING)
        message: JSONDict = {
            "id": str(self._new_id()),
            "channel_id": str(channel_id),
            "type": 0,
            "content": body.get("content") or "",
            "author": author or self.bot.payload(),
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts")),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": self._attachments(channel_id, body, files, existing=[]),
            "embeds": [_normal_embed(e) for e in body.get("embeds") or []],
            "components": copy.deepcopy(body.get("components") or []),
            "pinned": False,
            "flags": flags,
        }
        if body.get("nonce") is not None:
            message["nonce"] = body["nonce"]
        if body.get("message_reference"):
            message["message_reference"] = copy.deepcopy(body["message_reference"])
            message["type"] = 19
        if body.get("poll"):
            message["poll"] = copy.deepcopy(body["poll"])
        if interaction is not None:
            user = self._user(interaction.user_id).payload()
            message["webhook_id"] = str(self.application_id)
            message["application_id"] = str(self.application_id)
            message["type"] = 20 if interaction.type == IX_COMMAND else 0
            message["interaction_metadata"] = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": user,
                "authorizing_integration_owners": interaction.payload["authorizing_integration_owners"],
            }
            if interaction.type == IX_COMMAND:
                message["interaction"] = {"id": str(interaction.id), "type": interaction.type,
                                          "name": interaction.name, "user": user}
        return message

    def _attachments(
        self, channel_id: int, body: JSONDict, files: Sequence[UploadedFile], *, existing: list[JSONDict]
    ) -> list[JSONDict]:
        kept_ids = {str(a.get("id")) for a in body.get("attachments") or []}
        kept = [a for a in existing if a["id"] in kept_ids] if "attachments" in body else list(existing)
        new = []
        for upload in files:
            attachment_id = self._new_id()
            self.uploads[attachment_id] = upload
            filename = upload.filename or "file"
            url = f"{self.base_url}/attachments/{channel_id}/{attachment_id}/{filename}"
            new.append({
                "id": str(attachment_id),
                "filename": filename,
                "size": upload.size,
                "url": url,
                "proxy_url": url,
                "content_type": upload.content_type,
            })
        return kept + new

    def _store_message(self, message: JSONDict, *, via: str, ephemeral_for: int | None = None) -> None:
        message_id = int(message["id"])
        channel_id = int(message["channel_id"])
        self.messages[channel_id].append(message)
        self._messages_by_id[message_id] = message
        self._message_channel[message_id] = channel_id
        if ephemeral_for is not None and int(message.get("flags") or 0) & FLAG_EPHEMERAL:
            self._ephemeral_for[message_id] = ephemeral_for
        self._log("create", message, via)

    async def _edit(
        self, message: JSONDict, body: JSONDict, files: Sequence[UploadedFile], *, via: str, keep_flags: bool = False
    ) -> None:
        channel_id = int(message["channel_id"])
        for key in ("content", "components"):
            if key in body:
                message[key] = copy.deepcopy(body[key]) if body[key] is not None else ("" if key == "content" else [])
        if "embeds" in body:
            message["embeds"] = [_normal_embed(e) for e in body["embeds"] or []]
        if "attachments" in body or files:
            message["attachments"] = self._attachments(channel_id, body, files, existing=message["attachments"])
        flags = int(message.get("flags") or 0) & ~FLAG_LOADING
        if "flags" in body and not keep_flags:
            flags = (flags & ~_SETTABLE_FLAGS) | (int(body["flags"] or 0) & _SETTABLE_FLAGS)
        message["flags"] = flags
        message["edited_timestamp"] = _now_iso()
        self._log("edit", message, via)
        if int(message["id"]) not in self._ephemeral_for:
            await self._dispatch_message("MESSAGE_UPDATE", message, self._guild_of(channel_id), author_id=self.bot.id)

    async def _delete(self, message: JSONDict, *, via: str) -> None:
        message_id = int(message["id"])
        channel_id = int(message["channel_id"])
        self.messages[channel_id].remove(message)
        del self._messages_by_id[message_id]
        ephemeral = self._ephemeral_for.pop(message_id, None) is not None
        self._log("delete", message, via)
        if not ephemeral:
            payload: JSONDict = {"id": str(message_id), "channel_id": str(channel_id)}
            guild_id = self._guild_of(channel_id)
            if guild_id is not None:
                payload["guild_id"] = str(guild_id)
            await self._dispatch("MESSAGE_DELETE", payload, intent=_message_intent(guild_id))

    def _log(self, kind: str, message: JSONDict, via: str) -> None:
        self.message_log.append(
            MessageEvent(kind, int(message["channel_id"]), int(message["id"]), copy.deepcopy(message), via,
                         time.monotonic())
        )
        self._notify()

    def _react(self, message: JSONDict, emoji: JSONDict, user_id: int, *, add: bool) -> bool:
        """Update the message's reactions; True when something changed."""
        key = emoji["name"] if emoji.get("id") is None else f"{emoji['name']}:{emoji['id']}"
        users = self._reactors[(int(message["id"]), key)]
        if add == (user_id in users):
            return False
        if add:
            users.append(user_id)
        else:
            users.remove(user_id)
        reactions = [r for r in message.get("reactions", []) if r["emoji"] != emoji]
        if users:
            reactions.append({
                "count": len(users),
                "count_details": {"burst": 0, "normal": len(users)},
                "me": self.bot.id in users,
                "me_burst": False,
                "burst_colors": [],
                "emoji": emoji,
            })
        message["reactions"] = reactions
        self._notify()
        return True

    def _reaction_event(
        self,
        user: FakeUser,
        channel_id: int,
        message_id: int,
        emoji: JSONDict,
        guild_id: int | None,
        message: JSONDict | None,
    ) -> JSONDict:
        payload: JSONDict = {
            "user_id": str(user.id),
            "channel_id": str(channel_id),
            "message_id": str(message_id),
            "emoji": emoji,
            "burst": False,
            "burst_colors": [],
            "type": 0,
        }
        if message is not None:
            payload["message_author_id"] = message["author"]["id"]
        if guild_id is not None:
            payload["guild_id"] = str(guild_id)
            guild = self.guilds[guild_id]
            if user.id == self.bot.id:
                payload["member"] = self._bot_member_payload(guild)
            elif user.id in guild.members:
                payload["member"] = self._member_payload(guild.members[user.id])
        return payload

    # ------------------------------------------------------------------ interactions

    def _place(self, user: FakeUser, guild_id: int | None, channel_id: int | None) -> tuple[int | None, int]:
        """Where an interaction happens: a guild channel, or the user's DM with the bot."""
        if channel_id is not None:
            inferred = self._guild_of(channel_id)
            if guild_id is not None and inferred != guild_id:
                raise ValueError(f"channel {channel_id} is not in guild {guild_id}")
            self._channel(channel_id)
            return inferred, channel_id
        if guild_id is None:
            return None, self.dm_channel(user)
        guild = self.guilds[guild_id]
        text = next((cid for cid, c in guild.channels.items() if c["type"] == 0), None)
        if text is None:
            raise ValueError(f"guild {guild_id} has no text channel")
        return guild_id, text

    def _find_command(self, name: str, guild_id: int | None) -> tuple[JSONDict, list[str]]:
        top, *path = name.split()
        command = self.guild_commands.get(guild_id, {}).get(top) if guild_id is not None else None
        command = command or self.global_commands.get(top)
        if command is None or command.get("type", 1) != 1:
            where = f"guild {guild_id}" if guild_id is not None else "DMs"
            raise ValueError(f"no slash command /{top} synced for {where}")
        return command, path

    def _check_can_use(self, command: JSONDict, user: FakeUser, guild_id: int | None, ignore_perms: bool) -> None:
        contexts = command.get("contexts")
        if guild_id is None:
            if command.get("guild_id") is not None or command.get("dm_permission") is False or (
                contexts is not None and 1 not in contexts
            ):
                raise ValueError(f"/{command['name']} is not available in DMs")
            return
        if contexts is not None and 0 not in contexts:
            raise ValueError(f"/{command['name']} is not available in guilds")
        required = command.get("default_member_permissions")
        if required is None or ignore_perms:
            return
        perms = self.member_permissions(guild_id, user)
        needed = int(required)
        if not (perms & PERM_ADMINISTRATOR) and (needed == 0 or perms & needed != needed):
            raise ValueError(
                f"/{command['name']} is hidden from user {user.id} (default_member_permissions={required}); "
                "pass ignore_default_permissions=True to imitate a server override"
            )

    def _command_data(
        self, command: JSONDict, path: list[str], given: Mapping[str, Any] | None, *, focused: str | None
    ) -> JSONDict:
        specs = command.get("options") or []
        nested: list[JSONDict] = []
        top_options = nested
        for sub in path:
            spec = next((o for o in specs if o["name"] == sub and o["type"] in (1, 2)), None)
            if spec is None:
                raise ValueError(f"/{command['name']} has no subcommand {sub!r}")
            node: JSONDict = {"name": sub, "type": spec["type"], "options": []}
            nested.append(node)
            nested = node["options"]
            specs = spec.get("options") or []
        if any(o["type"] in (1, 2) for o in specs):
            raise ValueError(f"/{command['name']} needs a subcommand: {[o['name'] for o in specs]}")
        nested.extend(_option_values(specs, dict(given or {}), focused=focused))
        data: JSONDict = {"id": command["id"], "name": command["name"], "type": 1}
        if top_options:
            data["options"] = top_options
        if command.get("guild_id") is not None:
            data["guild_id"] = command["guild_id"]
        return data

    def _shown_modal(self, user_id: int, custom_id: str) -> tuple[InteractionRecord, JSONDict] | None:
        for record in reversed(list(self.interactions.values())):
            if record.user_id != user_id:
                continue
            for response in record.responses:
                if response["type"] == 9 and response["data"].get("custom_id") == custom_id:
                    return record, response["data"]
        return None

    async def _interact(
        self,
        user: FakeUser,
        itype: int,
        data: JSONDict,
        guild_id: int | None,
        channel_id: int,
        *,
        message: JSONDict | None = None,
        locale: str = "en-US",
    ) -> InteractionRecord:
        self._require_session()
        interaction_id = self._new_id()
        token = "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)
        payload: JSONDict = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": itype,
            "data": data,
            "channel_id": str(channel_id),
            "token": token,
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if guild_id is not None:
            guild = self.guilds[guild_id]
            member = guild.members.get(user.id)
            if member is None:
                raise ValueError(f"user {user.id} is not a member of guild {guild_id}")
            perms = self.member_permissions(guild_id, user)
            member_payload = self._member_payload(member)
            member_payload["permissions"] = str(perms)
            channel = copy.deepcopy(guild.channels[channel_id])
            channel["permissions"] = str(perms)
            payload.update(
                guild_id=str(guild_id),
                guild={"id": str(guild_id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                member=member_payload,
                channel=channel,
                app_permissions=str(ALL_PERMISSIONS & ~PERM_ADMINISTRATOR),
                context=0,
                authorizing_integration_owners={"0": str(guild_id)},
            )
        else:
            channel = self._dm_payload(channel_id)
            channel["permissions"] = str(DEFAULT_EVERYONE_PERMISSIONS)
            payload.update(
                user=user.payload(),
                channel=channel,
                app_permissions=str(DEFAULT_EVERYONE_PERMISSIONS),
                context=1,
                authorizing_integration_owners={"0": "0"},
            )
        if message is not None:
            payload["message"] = message
        record = InteractionRecord(
            interaction_id, token, itype, user.id, guild_id, channel_id, copy.deepcopy(payload),
            asyncio.get_running_loop().time(), message_id=int(message["id"]) if message else None,
        )
        self.interactions[interaction_id] = record
        self._by_token[token] = record
        await self._dispatch("INTERACTION_CREATE", payload, intent=None)
        return record

    # ------------------------------------------------------------------ payloads

    def _user(self, user: UserLike) -> FakeUser:
        if isinstance(user, FakeUser):
            return self.users.setdefault(user.id, user)
        return self.users.get(user) or self.add_user(user)

    def _channel(self, channel_id: int) -> JSONDict:
        for guild in self.guilds.values():
            if channel_id in guild.channels:
                return guild.channels[channel_id]
        if channel_id in self._dm_recipient:
            return self._dm_payload(channel_id)
        raise DiscordError(404, 10003, "Unknown Channel")

    def _guild_of(self, channel_id: int) -> int | None:
        return next((g.id for g in self.guilds.values() if channel_id in g.channels), None)

    def _dm_payload(self, channel_id: int) -> JSONDict:
        recipient = self._user(self._dm_recipient[channel_id])
        last = self.messages.get(channel_id)
        return {
            "id": str(channel_id),
            "type": 1,
            "flags": 0,
            "last_message_id": last[-1]["id"] if last else None,
            "recipients": [recipient.payload()],
        }

    def _member_payload(self, member: FakeMember) -> JSONDict:
        return {
            "user": member.user.payload(),
            "roles": [str(r) for r in member.roles],
            "joined_at": member.joined_at,
            "nick": None,
            "avatar": None,
            "banner": None,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }

    def _bot_member_payload(self, guild: FakeGuild) -> JSONDict:
        return self._member_payload(FakeMember(self.bot, [], None, guild.joined_at))

    def _guild_payload(self, guild: FakeGuild) -> JSONDict:
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "vanity_url_code": None,
            "features": [],
            "roles": [copy.deepcopy(r) for r in guild.roles.values()],
            "emojis": [],
            "stickers": [],
            "max_members": 500_000,
            "application_id": None,
        }

    def _guild_create_payload(self, guild: FakeGuild, session: GatewaySession) -> JSONDict:
        payload = self._guild_payload(guild)
        members = [self._bot_member_payload(guild)]
        if session.intents & INTENT_GUILD_MEMBERS:
            members += [self._member_payload(m) for m in guild.members.values()]
        payload.update(
            unavailable=False,
            joined_at=guild.joined_at,
            large=False,
            member_count=len(guild.members) + 1,
            members=members,
            channels=[copy.deepcopy(c) for c in guild.channels.values()],
            threads=[],
            presences=[],
            voice_states=[],
            stage_instances=[],
            guild_scheduled_events=[],
            soundboard_sounds=[],
        )
        return payload

    # ------------------------------------------------------------------ gateway

    def _require_session(self) -> None:
        if not self.sessions:
            raise RuntimeError("no client has identified on the gateway: nothing would receive the event")

    async def _dispatch(self, event: str, data: JSONDict, *, intent: int | None) -> int:
        reached = 0
        for session in list(self.sessions.values()):
            if intent is None or session.intents & intent:
                await session.dispatch(event, copy.deepcopy(data))
                reached += 1
        self._notify()
        return reached

    async def _dispatch_message(self, event: str, message: JSONDict, guild_id: int | None, *, author_id: int) -> None:
        """MESSAGE_CREATE/UPDATE with the guild fields the gateway adds and Discord's content redaction."""
        if int(message["id"]) in self._ephemeral_for:
            return  # ephemeral messages never reach the gateway
        for session in list(self.sessions.values()):
            if not session.intents & _message_intent(guild_id):
                continue
            data = copy.deepcopy(message)
            if guild_id is not None:
                data["guild_id"] = str(guild_id)
                member = self.guilds[guild_id].members.get(author_id)
                if member is not None:
                    data["member"] = {k: v for k, v in self._member_payload(member).items() if k != "user"}
                # Without MESSAGE_CONTENT, other users' guild messages arrive empty (DMs and own messages not).
                if author_id != self.bot.id and not session.intents & INTENT_MESSAGE_CONTENT:
                    data.update(content="", embeds=[], attachments=[], components=[])
            await session.dispatch(event, data)
        self._notify()

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        query = dict(request.query)
        conn = GatewayConnection(next(self._connection_ids), ws, query)
        if query.get("compress") == "zlib-stream":
            conn.compressor = zlib.compressobj()
        # zstd-stream (asked for when the zstandard package is installed) is not applied: plain text frames,
        # which discord.py reads whatever it asked for.
        self.connections.append(conn)
        self._notify()
        try:
            if query.get("v") != str(API_VERSION):
                await self._close(conn, 4012, "Invalid API version.")
                return ws
            if query.get("encoding", "json") != "json":
                await self._close(conn, 4002, "Error while decoding payload.")  # ETF is not spoken here
                return ws
            await conn.send({"op": 10, "d": {"heartbeat_interval": int(self.heartbeat_interval * 1000),
                                             "_trace": ["fake-discord"]}, "s": None, "t": None})
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_frame(conn, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    await self._close(conn, 4002, "Error while decoding payload.")
        except Exception as exc:
            self.errors.append(f"gateway: {exc!r}")
            raise
        finally:
            conn.closed = True
            conn.close_code = ws.close_code
            session = conn.session
            if session is not None and session.connection is conn:
                session.connection = None
                # A client closing with 1000/1001 ends its session (Discord then refuses to resume it).
                if not conn.closed_by_server and ws.close_code in (1000, 1001):
                    session.ended = True
                    self.sessions.pop(session.id, None)
            self._notify()
        return ws

    async def _close(self, conn: GatewayConnection, code: int, reason: str) -> None:
        conn.closed_by_server = True
        await conn.ws.close(code=code, message=reason.encode())

    async def _on_frame(self, conn: GatewayConnection, text: str) -> None:
        try:
            frame = json.loads(text)
            op = int(frame["op"])
        except (ValueError, KeyError, TypeError):
            await self._close(conn, 4002, "Error while decoding payload.")
            return
        self.gateway_received.append(GatewayFrame(conn.id, op, frame.get("d"), time.monotonic()))
        self._notify()
        if op == 1:
            if conn.session is not None:
                conn.session.heartbeats += 1
            await conn.send({"op": 11})
        elif op == 2:
            await self._identify(conn, frame.get("d") or {})
        elif op == 6:
            await self._resume(conn, frame.get("d") or {})
        elif conn.session is None:
            await self._close(conn, 4003, "Not authenticated.")
        elif op in (3, 4):
            pass  # presence and voice state updates: accepted, recorded above
        elif op == 8:
            await self._request_members(conn.session, frame.get("d") or {})
        else:
            await self._close(conn, 4001, "Unknown opcode.")

    async def _identify(self, conn: GatewayConnection, data: JSONDict) -> None:
        if conn.session is not None:
            await self._close(conn, 4005, "Already authenticated.")
            return
        if data.get("token") != self.token:
            await self._close(conn, 4004, "Authentication failed.")
            return
        intents = data.get("intents")
        if not isinstance(intents, int) or intents < 0 or intents >= 1 << 26:
            await self._close(conn, 4013, "Invalid intent(s).")
            return
        if intents & PRIVILEGED_INTENTS & ~self.privileged_intents:
            await self._close(conn, 4014, "Disallowed intent(s).")
            return
        shard = data.get("shard", [0, 1])
        if list(shard) != [0, 1]:
            await self._close(conn, 4010, "Invalid shard.")  # this fake serves one shard
            return
        session = GatewaySession(secrets.token_hex(16), intents, copy.deepcopy(data))
        self.sessions[session.id] = session
        session.connection = conn
        conn.session = session
        await session.dispatch("READY", {
            "v": API_VERSION,
            "user": {**self.bot.payload(), "verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": str(g), "unavailable": True} for g in self.guilds],
            "session_id": session.id,
            "resume_gateway_url": self.gateway_url,
            "shard": [0, 1],
            "application": {"id": str(self.application_id), "flags": self.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "user_settings": {},
            "geo_ordered_rtc_regions": ["local"],
            "session_type": "normal",
            "auth_session_id_hash": "",
            "_trace": ["fake-discord"],
        })
        if intents & INTENT_GUILDS:
            for guild in self.guilds.values():
                await session.dispatch("GUILD_CREATE", self._guild_create_payload(guild, session))
        self._notify()

    async def _resume(self, conn: GatewayConnection, data: JSONDict) -> None:
        if data.get("token") != self.token:
            await self._close(conn, 4004, "Authentication failed.")
            return
        session = self.sessions.get(str(data.get("session_id")))
        seq = data.get("seq") or 0
        if session is None or session.ended or (session.buffer and session.buffer[0]["s"] > seq + 1):
            await conn.send({"op": 9, "d": False, "s": None, "t": None})
            return
        async with session.lock:
            old = session.connection
            session.connection = conn
            conn.session = session
            session.resumes += 1
            if old is not None and old is not conn and not old.closed:
                old.closed_by_server = True
                await old.ws.close(code=4000, message=b"session resumed elsewhere")
            for frame in session.buffer:
                if frame["s"] > seq:
                    await conn.send(frame)
        await session.dispatch("RESUMED", {"_trace": ["fake-discord"]})
        self._notify()

    async def _request_members(self, session: GatewaySession, data: JSONDict) -> None:
        guild = self.guilds.get(int(data.get("guild_id") or 0))
        if guild is None:
            return
        wanted = {int(u) for u in data.get("user_ids") or []}
        query = (data.get("query") or "").lower()
        members = [
            self._member_payload(m)
            for m in guild.members.values()
            if (m.user.id in wanted if wanted else m.user.username.lower().startswith(query))
        ]
        limit = int(data.get("limit") or 0)
        chunk: JSONDict = {
            "guild_id": str(guild.id),
            "members": members[:limit] if limit else members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [str(u) for u in wanted - {m.user.id for m in guild.members.values()}],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        await session.dispatch("GUILD_MEMBERS_CHUNK", chunk)


# ---------------------------------------------------------------------- module helpers


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    # Exactly "application/json": discord.py compares the header verbatim and treats anything else as text.
    all_headers = {"Via": "1.1 google", **(headers or {})}
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json",
                        headers=all_headers)


async def _read_body(request: web.Request) -> tuple[Any, list[UploadedFile]]:
    """JSON body, or multipart with ``payload_json`` and ``files[n]`` parts (as discord.py sends uploads)."""
    if not request.body_exists:
        return None, []
    if request.content_type == "application/json":
        raw = await request.read()
        try:
            return (json.loads(raw) if raw.strip() else None), []
        except ValueError as exc:
            raise DiscordError(400, 50109, "The request body contains invalid JSON.") from exc
    if request.content_type.startswith("multipart/"):
        payload: Any = None
        files: list[UploadedFile] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):  # nested multipart: Discord does not accept it
                raise DiscordError(400, 50035, "Invalid Form Body")
            if part.name == "payload_json":
                try:
                    payload = json.loads(await part.text())
                except ValueError as exc:
                    raise DiscordError(400, 50109, "The request body contains invalid JSON.") from exc
            elif part.name and part.name.startswith("files["):
                data = bytes(await part.read())
                files.append(UploadedFile(part.filename, part.headers.get("Content-Type"), data))
        return payload, files
    return (await request.text()) or None, []


def _emoji(raw: str) -> JSONDict:
    """A unicode emoji, ``name:id`` (as in reaction URLs) or ``<:name:id>``/``<a:name:id>``."""
    text = raw.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].removeprefix("a:").removeprefix(":")
    name, sep, emoji_id = text.rpartition(":")
    if sep and emoji_id.isdigit():
        return {"id": emoji_id, "name": name}
    if not text:
        raise DiscordError(400, 10014, "Unknown Emoji")
    return {"id": None, "name": text}


def _message_intent(guild_id: int | None) -> int:
    return INTENT_GUILD_MESSAGES if guild_id is not None else INTENT_DIRECT_MESSAGES


def _reaction_intent(guild_id: int | None) -> int:
    return INTENT_GUILD_MESSAGE_REACTIONS if guild_id is not None else INTENT_DIRECT_MESSAGE_REACTIONS


def _normal_embed(embed: JSONDict) -> JSONDict:
    normal = copy.deepcopy(embed)
    normal.setdefault("type", "rich")
    return normal


def _walk_components(components: Iterable[JSONDict]) -> Iterable[JSONDict]:
    for component in components:
        yield component
        yield from _walk_components(component.get("components") or [])
        for key in ("component", "accessory"):
            if isinstance(component.get(key), dict):
                yield from _walk_components([component[key]])


def _find_component(components: Iterable[JSONDict], custom_id: str) -> JSONDict | None:
    return next((c for c in _walk_components(components) if c.get("custom_id") == custom_id), None)


def _option_values(specs: list[JSONDict], given: dict[str, Any], *, focused: str | None) -> list[JSONDict]:
    """Interaction options from the synced option specs, checked as Discord's client would."""
    by_name = {spec["name"]: spec for spec in specs}
    unknown = set(given) - set(by_name)
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)}; the command has {sorted(by_name)}")
    if focused is not None and not by_name.get(focused, {}).get("autocomplete"):
        raise ValueError(f"option {focused!r} has no autocomplete")
    out = []
    for spec in specs:
        name = spec["name"]
        if name not in given:
            if spec.get("required") and focused is None:
                raise ValueError(f"required option {name!r} missing")
            continue
        option: JSONDict = {"name": name, "type": spec["type"]}
        if name == focused:
            option.update(value=str(given[name]), focused=True)
        else:
            option["value"] = _option_value(spec, given[name])
        out.append(option)
    return out


def _option_value(spec: JSONDict, value: Any) -> Any:
    kind, name = spec["type"], spec["name"]
    if kind == 3:
        if not isinstance(value, str):
            raise ValueError(f"option {name!r} is a string option, got {value!r}")
        if not spec.get("min_length", 0) <= len(value) <= spec.get("max_length", 6000):
            raise ValueError(f"option {name!r}: length {len(value)} out of range")
    elif kind == 4:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"option {name!r} is an integer option, got {value!r}")
    elif kind == 10:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"option {name!r} is a number option, got {value!r}")
    elif kind == 5:
        if not isinstance(value, bool):
            raise ValueError(f"option {name!r} is a boolean option, got {value!r}")
    else:
        raise ValueError(f"option {name!r}: type {kind} (users, channels, roles, attachments) is not faked")
    if kind in (4, 10):
        low, high = spec.get("min_value"), spec.get("max_value")
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"option {name!r}: {value} outside [{low}, {high}]")
    choices = spec.get("choices")
    if choices and value not in [c["value"] for c in choices]:
        raise ValueError(f"option {name!r}: {value!r} is not one of the choices {[c['value'] for c in choices]}")
    return value


def _modal_submission(layout: list[JSONDict], fields: dict[str, Any], *, strict: bool) -> list[JSONDict]:
    """The ``components`` of a MODAL_SUBMIT, mirroring the modal's layout (action rows or labels)."""
    unknown = set(fields) - {c.get("custom_id") for c in _walk_components(layout)}
    if unknown:
        raise ValueError(f"the modal has no input(s) {sorted(unknown)}")

    def answer(component: JSONDict) -> JSONDict:
        custom_id = component.get("custom_id")
        out: JSONDict = {"type": component["type"], "custom_id": custom_id}
        if "id" in component:
            out["id"] = component["id"]
        if component["type"] == 4:
            value = str(fields.get(custom_id, ""))
            if strict:
                if component.get("required", True) and not value:
                    raise ValueError(f"modal input {custom_id!r} is required")
                if value and not component.get("min_length", 0) <= len(value) <= component.get("max_length", 4000):
                    raise ValueError(f"modal input {custom_id!r}: length {len(value)} out of range")
            out["value"] = value
        else:
            out["values"] = list(fields.get(custom_id, []))
        return out

    submitted = []
    for item in layout:
        if item.get("type") == 1:
            submitted.append({"type": 1, "components": [answer(c) for c in item.get("components") or []]})
        elif item.get("type") == 18 and isinstance(item.get("component"), dict):
            label: JSONDict = {"type": 18, "component": answer(item["component"])}
            if "id" in item:
                label["id"] = item["id"]
            submitted.append(label)
    return submitted


# ---------------------------------------------------------------------- Discord's validation


class _FormErrors:
    """Builds Discord's nested ``errors`` object of a 400 code 50035 "Invalid Form Body"."""

    def __init__(self) -> None:
        self.errors: JSONDict = {}

    def add(self, path: Sequence[str | int], code: str, message: str) -> None:
        node = self.errors
        for key in path:
            node = node.setdefault(str(key), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def max_length(self, path: Sequence[str | int], value: Any, limit: int) -> int:
        """Check a string's length; returns it (0 for non-strings) for the embed total."""
        if not isinstance(value, str):
            return 0
        if len(value) > limit:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
        return len(value)

    def raise_if_any(self) -> None:
        if self.errors:
            raise DiscordError(400, 50035, "Invalid Form Body", errors=self.errors)


def _form_error(path: Sequence[str | int], code: str, message: str) -> DiscordError:
    errors = _FormErrors()
    errors.add(path, code, message)
    return DiscordError(400, 50035, "Invalid Form Body", errors=errors.errors)


def _check_message_body(body: JSONDict, *, files: int, creating: bool) -> None:
    errors = _FormErrors()
    content = body.get("content")
    if content is not None and not isinstance(content, str):
        errors.add(["content"], "STRING_TYPE_CONVERT", "Could not interpret the value as string.")
    else:
        errors.max_length(["content"], content, MAX_CONTENT)
    embeds = body.get("embeds")
    if embeds is not None:
        _check_embeds(embeds, errors)
    components = body.get("components")
    if components is not None:
        _check_components(components, errors, v2=bool(int(body.get("flags") or 0) & FLAG_COMPONENTS_V2))
    errors.raise_if_any()
    if creating and not (content or embeds or files or components or body.get("sticker_ids") or body.get("poll")):
        raise DiscordError(400, 50006, "Cannot send an empty message")


def _check_embeds(embeds: Any, errors: _FormErrors) -> None:
    if not isinstance(embeds, list):
        errors.add(["embeds"], "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType.")
        return
    if len(embeds) > MAX_EMBEDS:
        errors.add(["embeds"], "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_EMBEDS} or fewer in length.")
    total = 0
    for i, embed in enumerate(embeds):
        path: list[str | int] = ["embeds", i]
        total += errors.max_length([*path, "title"], embed.get("title"), MAX_EMBED_TITLE)
        total += errors.max_length([*path, "description"], embed.get("description"), MAX_EMBED_DESCRIPTION)
        total += errors.max_length([*path, "footer", "text"], (embed.get("footer") or {}).get("text"), MAX_FOOTER)
        total += errors.max_length([*path, "author", "name"], (embed.get("author") or {}).get("name"),
                                   MAX_AUTHOR_NAME)
        fields = embed.get("fields") or []
        if len(fields) > MAX_EMBED_FIELDS:
            errors.add([*path, "fields"], "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_EMBED_FIELDS} or fewer in length.")
        for j, embed_field in enumerate(fields):
            for key, limit in (("name", MAX_FIELD_NAME), ("value", MAX_FIELD_VALUE)):
                value = embed_field.get(key)
                if not isinstance(value, str) or not value.strip():
                    errors.add([*path, "fields", j, key], "BASE_TYPE_REQUIRED", "This field is required")
                total += errors.max_length([*path, "fields", j, key], value, limit)
    if total > MAX_EMBED_TOTAL:
        errors.add(["embeds"], "MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}")


def _check_components(rows: Any, errors: _FormErrors, *, v2: bool) -> None:
    if not isinstance(rows, list):
        errors.add(["components"], "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType.")
        return
    seen: set[str] = set()
    if v2:
        # Components v2 (layouts): no action-row rule at the top, but every interactive item is still checked.
        for index, component in enumerate(_walk_components(rows)):
            _check_interactive(component, ["components", index], errors, seen)
        return
    if len(rows) > MAX_ACTION_ROWS:
        errors.add(["components"], "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_ACTION_ROWS} or fewer in length.")
    for i, row in enumerate(rows):
        path: list[str | int] = ["components", i]
        if row.get("type") != 1:
            errors.add([*path, "type"], "UNION_TYPE_CHOICES", 'Value of field "type" must be one of (1,).')
            continue
        children = row.get("components") or []
        if not children:
            errors.add([*path, "components"], "BASE_TYPE_MIN_LENGTH", "Must be 1 or more in length.")
        selects = [c for c in children if c.get("type") in _SELECT_TYPES]
        if len(children) > MAX_ROW_BUTTONS or (selects and len(children) > 1):
            errors.add([*path, "components"], "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                       "The specified component exceeds the maximum width")
        for j, child in enumerate(children):
            _check_interactive(child, [*path, "components", j], errors, seen)


def _check_interactive(component: JSONDict, path: list[str | int], errors: _FormErrors, seen: set[str]) -> None:
    kind = component.get("type")
    if kind == 2:
        style = component.get("style")
        errors.max_length([*path, "label"], component.get("label"), MAX_BUTTON_LABEL)
        if style == 5:
            if not component.get("url"):
                errors.add([*path, "url"], "BASE_TYPE_REQUIRED", "This field is required")
            return
        if style == 6:
            return  # premium buttons carry a sku_id instead
    elif kind not in _SELECT_TYPES and kind != 4:
        return
    custom_id = component.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        errors.add([*path, "custom_id"], "BASE_TYPE_REQUIRED", "This field is required")
        return
    errors.max_length([*path, "custom_id"], custom_id, MAX_CUSTOM_ID)
    if custom_id in seen:
        errors.add([*path, "custom_id"], "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated")
    seen.add(custom_id)
    if kind == 3:
        options = component.get("options") or []
        if not 1 <= len(options) <= 25:
            errors.add([*path, "options"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 25 in length.")
        for k, option in enumerate(options):
            errors.max_length([*path, "options", k, "label"], option.get("label"), 100)
            errors.max_length([*path, "options", k, "value"], option.get("value"), 100)


def _check_choices(choices: Any) -> None:
    errors = _FormErrors()
    if not isinstance(choices, list):
        errors.add(["choices"], "BASE_TYPE_REQUIRED", "This field is required")
    else:
        if len(choices) > MAX_CHOICES:
            errors.add(["choices"], "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CHOICES} or fewer in length.")
        for i, choice in enumerate(choices):
            name = choice.get("name")
            if not isinstance(name, str) or not 1 <= len(name) <= 100:
                errors.add(["choices", i, "name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
            errors.max_length(["choices", i, "value"], choice.get("value"), 100)
    errors.raise_if_any()


def _check_modal(data: JSONDict) -> None:
    errors = _FormErrors()
    errors.max_length(["title"], data.get("title"), 45)
    if not data.get("title"):
        errors.add(["title"], "BASE_TYPE_REQUIRED", "This field is required")
    custom_id = data.get("custom_id")
    if not custom_id:
        errors.add(["custom_id"], "BASE_TYPE_REQUIRED", "This field is required")
    errors.max_length(["custom_id"], custom_id, MAX_CUSTOM_ID)
    layout = data.get("components") or []
    if not 1 <= len(layout) <= 5:
        errors.add(["components"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
    seen: set[str] = set()
    for index, component in enumerate(_walk_components(layout)):
        if component.get("type") == 4:
            errors.max_length(["components", index, "label"], component.get("label"), 45)
            errors.max_length(["components", index, "value"], component.get("value"), 4000)
        _check_interactive(component, ["components", index], errors, seen)
    errors.raise_if_any()


def _check_commands(commands: list[Any]) -> None:
    errors = _FormErrors()
    if sum(1 for c in commands if isinstance(c, dict) and c.get("type", 1) == 1) > MAX_COMMANDS:
        errors.add([], "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_COMMANDS} or fewer in length.")
    seen: set[tuple[int, str]] = set()
    for i, command in enumerate(commands):
        if not isinstance(command, dict):
            errors.add([i], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        kind = command.get("type", 1)
        name = command.get("name")
        if kind == 1:
            _check_name(name, [i, "name"], errors)
            _check_description(command.get("description"), [i, "description"], errors)
            _check_options(command.get("options") or [], [i, "options"], errors, depth=0)
        elif not isinstance(name, str) or not 1 <= len(name) <= 32:
            errors.add([i, "name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
        if (kind, str(name)) in seen:
            errors.add([i, "name"], "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique")
        seen.add((kind, str(name)))
        permissions = command.get("default_member_permissions")
        if permissions is not None and not str(permissions).isdigit():
            errors.add([i, "default_member_permissions"], "NUMBER_TYPE_COERCE", "Value is not int.")
    errors.raise_if_any()


def _check_name(name: Any, path: list[str | int], errors: _FormErrors) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name) or name != name.lower():
        errors.add(path, "APPLICATION_COMMAND_INVALID_NAME", f"Command name is invalid: {name!r}")


def _check_description(description: Any, path: list[str | int], errors: _FormErrors) -> None:
    if not isinstance(description, str) or not 1 <= len(description) <= 100:
        errors.add(path, "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")


def _check_options(options: list[JSONDict], path: list[str | int], errors: _FormErrors, *, depth: int) -> None:
    if len(options) > MAX_OPTIONS:
        errors.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_OPTIONS} or fewer in length.")
    names: set[str] = set()
    optional_seen = False
    for j, option in enumerate(options):
        opath = [*path, j]
        kind = option.get("type")
        if kind not in range(1, 12) or (kind in (1, 2) and depth >= (1 if kind == 2 else 2)):
            errors.add([*opath, "type"], "APPLICATION_COMMAND_OPTION_TYPE_INVALID", f"Invalid option type {kind!r}")
            continue
        _check_name(option.get("name"), [*opath, "name"], errors)
        _check_description(option.get("description"), [*opath, "description"], errors)
        if option.get("name") in names:
            errors.add([*opath, "name"], "APPLICATION_COMMAND_OPTION_NAME_ALREADY_EXISTS",
                       "Option names must be unique")
        names.add(option.get("name", ""))
        if kind in (1, 2):
            _check_options(option.get("options") or [], [*opath, "options"], errors, depth=depth + 1)
            continue
        if option.get("required"):
            if optional_seen:
                errors.add([*opath, "required"], "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                           "Required options must be placed before non-required options")
        else:
            optional_seen = True
        choices = option.get("choices") or []
        if choices and option.get("autocomplete"):
            errors.add([*opath, "autocomplete"], "APPLICATION_COMMAND_OPTION_CHOICES_AUTOCOMPLETE",
                       "Autocomplete cannot be set with choices")
        if len(choices) > MAX_CHOICES:
            errors.add([*opath, "choices"], "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CHOICES} or fewer in length.")
        for k, choice in enumerate(choices):
            cname = choice.get("name")
            if not isinstance(cname, str) or not 1 <= len(cname) <= 100:
                errors.add([*opath, "choices", k, "name"], "BASE_TYPE_BAD_LENGTH",
                           "Must be between 1 and 100 in length.")
            value = choice.get("value")
            expected: tuple[type, ...] = {3: (str,), 4: (int,), 10: (int, float)}.get(kind, ())
            if not expected or not isinstance(value, expected) or isinstance(value, bool):
                errors.add([*opath, "choices", k, "value"], "CHOICE_TYPE_INVALID",
                           f"Choice value {value!r} does not match option type {kind}")
            else:
                errors.max_length([*opath, "choices", k, "value"], value, 100)


__all__ = [
    "ALL_PERMISSIONS",
    "FLAG_EPHEMERAL",
    "FLAG_LOADING",
    "INTENT_GUILD_MEMBERS",
    "INTENT_MESSAGE_CONTENT",
    "INTERACTION_TOKEN_TTL",
    "INTERACTION_TTL",
    "PERM_ADMINISTRATOR",
    "PERM_MANAGE_GUILD",
    "DiscordError",
    "FakeDiscord",
    "FakeGuild",
    "FakeMember",
    "FakeUser",
    "GatewayConnection",
    "GatewayFrame",
    "GatewaySession",
    "InteractionRecord",
    "MessageEvent",
    "RequestRecord",
    "UploadedFile",
]
