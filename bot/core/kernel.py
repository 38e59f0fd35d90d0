"""The core's state and the helpers every use case, view and job shares: storage, market, sentiment,
settings, the button codec, the clock, and where alerts go.

`Core` knows nothing of commands: the dispatcher (bot.core.service.TipsterCore) adds the entry points on top,
so handlers, use cases and jobs import this module and never the one that imports them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.core.args import shorten
from bot.core.callbacks import CallbackCodec
from bot.core.context import ChatContext
from bot.core.errors import UserError
from bot.core.metrics import Metrics, NoMetrics
from bot.core.progress import Runs
from bot.core.ratelimit import SlidingWindowLimiter
from bot.core.replies import Button, Reply
from bot.core.source_alerts import SourceAlerts
from bot.settings import Settings
from engine.market.base import MarketData
from engine.models import SignalParams
from engine.signals import SentimentProvider
from storage.models import User
from storage.store import Storage

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What the core works with, built once by the composition root (bot.app)."""

    settings: Settings
    storage: Storage
    market: MarketData
    sentiment: SentimentProvider
    outbox: Any = None  # bot.core.outbox.AlertOutbox, shared by the core and every adapter's sender
    options: Any = None  # an engine.options ChainSource (Alpaca's chains); None: synthetic chains (the replay)
    vault: Any = None  # bot.core.vault.Vault from TIPSTER_SECRET_KEY; None: broker-key commands are disabled
    # (broker name, key, secret) -> an engine Broker on that account: users' own keys (bot.app.own_broker_factory)
    broker_factory: Callable[[str, str, str], Any] | None = None


class Notifier(Protocol):
    """Where alerts go: the durable outbox (bot.core.outbox.AlertOutbox) in the running bot."""

    async def enqueue(self, platform: str, chat_id: str, reply: Reply, kind: str,
                      dedupe_key: str | None = None) -> int: ...


# Asks the platform, live, whether a member administers a group chat (Telegram getChatMember, ...).
ChatAdminCheck = Callable[[ChatContext], Awaitable[bool]]
CHAT_ADMIN_TTL = 60.0  # seconds a live answer may be reused (the issue allows at most a minute)


class Core:
    def __init__(self, services: Services, codec: CallbackCodec,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.services = services
        self.codec = codec
        self.limiter = SlidingWindowLimiter(services.settings.limits.per_user_per_minute)
        self.runs = Runs()  # each user's running long command (/backtest), for progress and /cancel
        self.clock = clock or (lambda: datetime.now(UTC))
        self.started_at = self.clock()
        self.scheduler: Any = None  # bot.core.scheduler.JobScheduler while jobs run
        self.trading: Any = None  # bot.core.usecases.trading.Trading, wired by the app with its brokers
        self.metrics: Metrics = NoMetrics()  # bot.metrics.PrometheusMetrics when metrics.port is set
        self.reloader: Any = None  # bot.core.reload.ConfigReloader: what /reload and config.watch re-read
        self.chat_admin_checks: dict[str, ChatAdminCheck] = {}
        # Later capabilities (monitoring, outbox, positions) add their lines to /stats and /health here.
        self._known_chats: set[tuple[str, str]] = set()
        # Extra sections of the daily summary: async (core, SummaryScope) -> lines (positions add theirs).
        self.summary_sections: list[Callable[..., Awaitable[list[str]]]] = []
        self.start_hooks: list[Callable[[ChatContext], Awaitable[None]]] = []
        self.stats_sections: list[Callable[[], Awaitable[list[str]]]] = []
        self.health_sections: list[Callable[[], Awaitable[list[str]]]] = []
        self._chat_admin_cache: dict[tuple[str, str], tuple[float, bool]] = {}
        self.source_alerts = SourceAlerts(self.notify_admins)
        # Channels configured to get copies of alerts (bot.discord.channels): kind → (platform, chat id)s.
        self.mirrors: dict[str, list[tuple[str, str]]] = {}
        self.admin_channels: list[tuple[str, str]] = []
        self.summary_channels: list[tuple[str, str]] = []  # get the daily summary of every chat

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def outbox(self) -> Notifier | None:
        """The one alert outbox, as the composition root put it on the services (None in bare tests)."""
        return self.services.outbox

    @property
    def storage(self) -> Storage:
        return self.services.storage

    # ---- users -------------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock()

    async def resolve_user(self, actor: User, raw: str, usage: str | None = None) -> User:
        """A user named in a command: `telegram:222`, or a bare id on the actor's own platform."""
        text = raw.strip()
        identity = text if ":" in text else f"{actor.platform}:{text}"
        platform, _, uid = identity.partition(":")
        if platform not in ("telegram", "discord", "console") or not uid or len(uid) > 32 or \
                not all(ch.isalnum() or ch in "_-" for ch in uid):
            raise UserError(f"{shorten(raw)!r} is not a user id (e.g. telegram:123 or 123).", usage)
        user = await self.services.storage.users.by_identity(identity)
        if user is None or user.state == "deleted":
            raise UserError(f"No user {identity}. See /users.", usage)
        return user

    async def notify_user(self, user: User, reply: Reply, kind: str) -> None:
        """Queue a message to a user's private chat (on Telegram and Discord DMs the chat id is the user id)."""
        await self.notify_chat(user.platform, user.platform_user_id, reply, kind)

    async def notify_chat(self, platform: str, chat_id: str, reply: Reply, kind: str,
                          dedupe_key: str | None = None) -> None:
        """Queue an alert to a chat; a channel that mirrors alerts of this kind (discord.channels.signals for
        scan tips) gets its own copy, once."""
        if self.outbox is None:
            log.warning("no outbox wired; %s alert to %s:%s not queued", kind, platform, chat_id)
            return
        alert_id = await self.outbox.enqueue(platform, chat_id, reply, kind, dedupe_key)
        for mirror in self.mirrors.get(kind, ()):
            if mirror != (platform, chat_id):
                key = f"mirror:{mirror[0]}:{mirror[1]}:{dedupe_key or alert_id}"
                await self.outbox.enqueue(mirror[0], mirror[1], reply, kind, key)

    async def notify_admins(self, reply: Reply, kind: str) -> None:
        """Every admin in their private chat, and each admin channel (discord.channels.admin) once."""
        for admin in await self.storage.user_admin.admins():
            await self.notify_user(admin, reply, kind)
        if self.outbox is not None:
            for platform, chat_id in self.admin_channels:
                await self.outbox.enqueue(platform, chat_id, reply, kind)

    async def is_chat_admin(self, ctx: ChatContext) -> bool:
        """Private chats are their user's own; in groups ask the platform (cached for at most a minute)."""
        if ctx.is_private:
            return True
        check = self.chat_admin_checks.get(ctx.platform)
        if check is None:
            return False
        key = (ctx.chat_key, ctx.user_id)
        cached = self._chat_admin_cache.get(key)
        if cached and time.monotonic() - cached[0] < CHAT_ADMIN_TTL:
            return cached[1]
        answer = await check(ctx)
        # Only a "yes" is reused: a member just promoted by the group must not wait a minute for it.
        if answer:
            self._chat_admin_cache[key] = (time.monotonic(), answer)
        else:
            self._chat_admin_cache.pop(key, None)
        return answer

    async def chat_started(self, ctx: ChatContext) -> None:
        """Hook for /start: the outbox resumes sending to a chat that had blocked the bot."""
        for hook in self.start_hooks:
            await hook(ctx)

    async def audit(self, actor: User | None, action: str, target: str | None, result: str = "ok",
                    **detail: Any) -> None:
        await self.services.storage.audit.record(actor, action, target, result, **detail)

    def user_params(self, user: User, overrides: dict[str, float] | None = None) -> SignalParams:
        return self.user_params_from(user.settings, overrides)

    def user_params_from(self, settings: dict[str, Any], overrides: dict[str, float] | None = None
                         ) -> SignalParams:
        """Config defaults, then the user's saved settings, then this request's overrides."""
        scoring = self.settings.scoring
        base: dict[str, Any] = {
            "buy_threshold": scoring.buy_threshold,
            "sell_threshold": scoring.sell_threshold,
            "technical_weight": scoring.technical_weight,
            "sentiment_weight": scoring.sentiment_weight,
            "macd_scale": scoring.macd_scale,
        }
        for key in ("buy_threshold", "sell_threshold", "technical_weight", "sentiment_weight"):
            if key in settings:
                base[key] = float(settings[key])
        base.update(overrides or {})
        return SignalParams(**base)

    def user_tz(self, user: User) -> str:
        return str(user.settings.get("timezone", "UTC"))

    def button(self, label: str, action: str, *args: object) -> Button:
        return Button(label=label, data=self.codec.encode(action, *args))
