"""The chat-agnostic core: a message or a button press in, replies out.

Every adapter (console, Telegram, Discord) calls `handle_text` and `handle_button`; nothing here knows
which platform it serves. Handlers raise `UserError`/`Refused` for answers the user can act on; any
other exception is logged with an id and answered politely, so no handler ever crashes the bot.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

# Handler modules register their commands and buttons on import.
import bot.core.handlers  # noqa: F401
from bot.core.access import access_message
from bot.core.args import shorten
from bot.core.callbacks import CallbackCodec, InvalidCallback
from bot.core.context import ChatContext
from bot.core.errors import Refused, UserError
from bot.core.permissions import Permission, allowed
from bot.core.ratelimit import SlidingWindowLimiter
from bot.core.registry import Press, Request, registry
from bot.core.replies import Button, Reply
from bot.core.source_alerts import SourceAlerts
from bot.settings import Settings
from engine.market.base import MarketData
from engine.models import SignalParams
from engine.signals import SentimentProvider
from storage.activity import ActivityRepository
from storage.admin import AuditRepository, ChatSettingsRepository, MessageRepository, UserAdminRepository
from storage.alerts import AlertRepository
from storage.chats import ChatRepository
from storage.db import Database
from storage.follows import JobRunRepository, SubscriptionRepository, WatchRepository
from storage.models import User
from storage.positions import PositionRepository
from storage.signals import SignalRepository
from storage.state import FlowRepository, KeyValueRepository
from storage.summary import SummaryRepository
from storage.users import UserRepository

log = logging.getLogger(__name__)

MAX_MESSAGE_LEN = 1000  # longer commands are refused before parsing


@dataclass
class Services:
    settings: Settings
    db: Database
    market: MarketData
    sentiment: SentimentProvider
    users: UserRepository = field(init=False)
    signals: SignalRepository = field(init=False)
    activity: ActivityRepository = field(init=False)
    kv: KeyValueRepository = field(init=False)
    flows: FlowRepository = field(init=False)
    audit: AuditRepository = field(init=False)
    messages: MessageRepository = field(init=False)
    user_admin: UserAdminRepository = field(init=False)
    chat_settings: ChatSettingsRepository = field(init=False)
    watches: WatchRepository = field(init=False)
    subscriptions: SubscriptionRepository = field(init=False)
    job_runs: JobRunRepository = field(init=False)
    chats: ChatRepository = field(init=False)
    alerts: AlertRepository = field(init=False)
    positions: PositionRepository = field(init=False)  # the one instance: Trading uses it too
    summaries: SummaryRepository = field(init=False)

    def __post_init__(self) -> None:
        self.audit = AuditRepository(self.db)
        self.messages = MessageRepository(self.db)
        self.user_admin = UserAdminRepository(self.db)
        self.chat_settings = ChatSettingsRepository(self.db)
        self.watches = WatchRepository(self.db)
        self.subscriptions = SubscriptionRepository(self.db)
        self.job_runs = JobRunRepository(self.db)
        self.chats = ChatRepository(self.db)
        self.users = UserRepository(self.db)
        self.signals = SignalRepository(self.db)
        self.activity = ActivityRepository(self.db)
        self.kv = KeyValueRepository(self.db)
        self.flows = FlowRepository(self.db)
        self.alerts = AlertRepository(self.db)
        self.positions = PositionRepository(self.db)
        self.summaries = SummaryRepository(self.db)


class Notifier(Protocol):
    """Where alerts go: the durable outbox (bot.core.outbox.AlertOutbox) in the running bot."""

    async def enqueue(self, platform: str, chat_id: str, reply: Reply, kind: str,
                      dedupe_key: str | None = None) -> int: ...


# Asks the platform, live, whether a member administers a group chat (Telegram getChatMember, ...).
ChatAdminCheck = Callable[[ChatContext], Awaitable[bool]]
CHAT_ADMIN_TTL = 60.0  # seconds a live answer may be reused (the issue allows at most a minute)


class TipsterCore:
    def __init__(self, services: Services, codec: CallbackCodec,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.services = services
        self.codec = codec
        self.limiter = SlidingWindowLimiter(services.settings.limits.per_user_per_minute)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.started_at = self.clock()
        self.outbox: Notifier | None = None
        self.scheduler: Any = None  # bot.core.scheduler.JobScheduler while jobs run
        self.trading: Any = None  # bot.core.trading.Trading, wired by the app with its brokers
        self.chat_admin_checks: dict[str, ChatAdminCheck] = {}
        # Later capabilities (monitoring, outbox, positions) add their lines to /stats and /health here.
        self._known_chats: set[tuple[str, str]] = set()
        # Extra sections of the daily summary: async (core, SummaryScope) -> lines (positions add theirs).
        self.summary_sections: list[Callable[..., Awaitable[list[str]]]] = []
        self.start_hooks: list[Callable[[ChatContext], Awaitable[None]]] = []
        self.stats_sections: list[Callable[[], Awaitable[list[str]]]] = []
        self.health_sections: list[Callable[[], Awaitable[list[str]]]] = []
        self._chat_admin_cache: dict[tuple[str, str], tuple[float, bool]] = {}
        self.source_alerts = SourceAlerts(self)

    @classmethod
    async def create(cls, services: Services) -> TipsterCore:
        secret = await services.kv.secret("callback_secret")
        core = cls(services, CallbackCodec(secret))
        from bot.core.handlers.monitoring import stats_lines

        core.stats_sections.append(lambda: stats_lines(core))
        return core

    @property
    def settings(self) -> Settings:
        return self.services.settings

    # ---- users -------------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock()

    async def ensure_user(self, ctx: ChatContext) -> User:
        """Any first message registers its sender (SPEC §11); in approval mode they wait as `pending`."""
        configured_admin = ctx.identity in self.settings.admins
        if configured_admin:
            role = "admin"
        elif self.settings.access.mode == "approval":
            role = "pending"
        else:
            role = self.settings.access.default_role
        user, created = await self.services.users.register(
            ctx.identity, role, username=ctx.username, display_name=ctx.display_name
        )
        if created:
            await self.services.activity.log(user.id, "user_registered", f"{ctx.identity} registered",
                                             role=role)
            if role == "pending":
                from bot.core.handlers.admin import alert_admins_of_pending

                await alert_admins_of_pending(self, user)
        elif configured_admin and (user.role != "admin" or user.state != "active"):
            # Configured owners cannot be locked out from chat: config wins.
            await self.services.user_admin.set_access(user.id, role="admin", state="active")
            user = user.model_copy(update={"role": "admin", "state": "active"})
        return user

    async def ensure_user_identity(self, identity: str) -> User:
        """Register (or find) a user by identity alone, e.g. for scripts and tests."""
        platform, _, uid = identity.partition(":")
        return await self.ensure_user(ChatContext(platform=platform, user_id=uid, chat_id=uid))

    async def resolve_user(self, actor: User, raw: str, usage: str | None = None) -> User:
        """A user named in a command: `telegram:222`, or a bare id on the actor's own platform."""
        from bot.core.args import shorten

        text = raw.strip()
        identity = text if ":" in text else f"{actor.platform}:{text}"
        platform, _, uid = identity.partition(":")
        if platform not in ("telegram", "discord", "console") or not uid or len(uid) > 32 or \
                not all(ch.isalnum() or ch in "_-" for ch in uid):
            raise UserError(f"{shorten(raw)!r} is not a user id (e.g. telegram:123 or 123).", usage)
        user = await self.services.users.by_identity(identity)
        if user is None or user.state == "deleted":
            raise UserError(f"No user {identity}. See /users.", usage)
        return user

    async def notify_user(self, user: User, reply: Reply, kind: str) -> None:
        """Queue a message to a user's private chat (on Telegram and Discord DMs the chat id is the user id)."""
        await self.notify_chat(user.platform, user.platform_user_id, reply, kind)

    async def notify_chat(self, platform: str, chat_id: str, reply: Reply, kind: str,
                          dedupe_key: str | None = None) -> None:
        if self.outbox is None:
            log.warning("no outbox wired; %s alert to %s:%s not queued", kind, platform, chat_id)
            return
        await self.outbox.enqueue(platform, chat_id, reply, kind, dedupe_key)

    async def is_chat_admin(self, ctx: ChatContext) -> bool:
        """Private chats are their user's own; in groups ask the platform (cached for at most a minute)."""
        if ctx.is_private:
            return True
        check = self.chat_admin_checks.get(ctx.platform)
        if check is None:
            return False
        import time

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
        await self.services.audit.record(actor, action, target, result, **detail)

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

    # ---- entry points ------------------------------------------------------------------------------

    async def handle_text(self, ctx: ChatContext, text: str) -> list[Reply]:
        text = (text or "").strip()
        if not text:
            return []
        try:
            user = await self.ensure_user(ctx)
        except Exception:
            return [self._internal_error("registering you")]
        await self._remember_chat(ctx)
        if len(text) > MAX_MESSAGE_LEN:
            return [Reply(text=f"That message is too long ({len(text)} characters; the limit is "
                          f"{MAX_MESSAGE_LEN}). Send /help for the commands.")]
        if not text.startswith("/"):
            return await self._free_text(ctx, user, text)
        head, *args = text.split()
        name = head[1:].split("@", 1)[0].lower()
        command = registry.commands.get(name)
        if command is None:
            return [Reply(text=f"Unknown command /{shorten(name)}. Send /help for the list of commands.")]
        request = Request(ctx=ctx, user=user, args=args, text=text)
        try:
            self._authorise(user, command.permission, f"/{name}")
            if command.expensive:
                self._rate_limit(user)
            return await command.handler(self, request)
        except UserError as exc:
            return [self._user_error(exc)]
        except Refused as exc:
            await self._log_refusal(user, f"/{name}", exc)
            return [Reply(text=exc.message)]
        except Exception:
            log.exception("command /%s failed", name)
            return [self._internal_error(f"/{name}")]

    async def handle_button(self, ctx: ChatContext, data: str | None) -> list[Reply]:
        try:
            user = await self.ensure_user(ctx)
        except Exception:
            return [self._internal_error("registering you")]
        try:
            action, args = self.codec.decode(data)
        except InvalidCallback as exc:
            await self.services.activity.log(user.id, "forged_button", "Rejected an invalid button",
                                             reason=str(exc), data=shorten(data or "", 64))
            await self.audit(user, "button", None, "refused", reason=f"invalid button: {exc}")
            log.warning("rejected invalid button from %s: %s", ctx.identity, exc)
            return [Reply(notice="This button is not valid (forged or out of date).")]
        spec = registry.buttons.get(action)
        if spec is None:
            return [Reply(notice="This button is no longer supported.")]
        press = Press(ctx=ctx, user=user, action=action, args=args)
        try:
            self._authorise(user, spec.permission, f"button {action}")
            if spec.expensive:
                self._rate_limit(user)
            return await spec.handler(self, press)
        except UserError as exc:
            return [Reply(notice=exc.message, text=exc.message)]
        except Refused as exc:
            await self._log_refusal(user, f"button {action}", exc)
            return [Reply(notice=exc.message)]
        except Exception:
            log.exception("button %s failed", action)
            return [self._internal_error(f"button {action}")]

    # ---- helpers -----------------------------------------------------------------------------------

    async def _free_text(self, ctx: ChatContext, user: User, text: str) -> list[Reply]:
        flow = await self.services.flows.get(user.id, ctx.chat_key)
        if flow is not None:
            from bot.core.flows import continue_flow

            try:
                self._authorise(user, Permission.SIGNALS, "this step")
                return await continue_flow(self, Request(ctx=ctx, user=user, args=text.split(), text=text),
                                           flow)
            except UserError as exc:
                return [self._user_error(exc)]
            except Refused as exc:
                await self._log_refusal(user, f"flow {flow.kind}", exc)
                return [Reply(text=exc.message)]
            except Exception:
                log.exception("flow %s failed", flow.kind)
                return [self._internal_error(flow.kind)]
        if not ctx.is_private:
            return []  # group chatter is not for us
        return [Reply(text="I answer commands. Try /signal BTC/USDT 1h, or /help for the list.")]

    async def _remember_chat(self, ctx: ChatContext) -> None:
        """Know every chat we talk in (its type paces alerts: groups get 20/min) — once per chat per process."""
        key = (ctx.platform, ctx.chat_id)
        if key in self._known_chats:
            return
        try:
            await self.services.chats.upsert(ctx.platform, ctx.chat_id, ctx.chat_type)
            self._known_chats.add(key)
        except Exception:
            log.exception("could not record chat %s", ctx.chat_key)

    def _authorise(self, user: User, permission: Permission, what: str) -> None:
        """The permission table decides; pending, expired and disabled users keep only BASIC commands."""
        if permission is Permission.BASIC:
            return
        problem = access_message(user, self.now())
        if problem is not None:
            raise Refused(problem, reason="access")
        if not allowed(user.role, permission):
            if permission is Permission.ADMIN:
                raise Refused(f"{what} is for admins only.", reason=f"role {user.role}")
            raise Refused(f"Your role ({user.role}) does not allow {what}.", reason=f"role {user.role}")

    def _rate_limit(self, user: User) -> None:
        wait = self.limiter.check(user.identity)
        if wait > 0:
            raise Refused(f"Slow down: at most {self.settings.limits.per_user_per_minute} tips a minute. "
                          f"Try again in {wait:.0f} s.", reason="rate limit")

    async def _log_refusal(self, user: User, what: str, exc: Refused) -> None:
        log.warning("refused %s for %s: %s", what, user.identity, exc.reason)
        await self.services.activity.log(user.id, "refused", f"Refused {what}", reason=exc.reason)
        await self.audit(user, what, None, "refused", reason=exc.reason)

    @staticmethod
    def _user_error(exc: UserError) -> Reply:
        text = exc.message if not exc.usage else f"{exc.message}\nUsage: {exc.usage}"
        return Reply(text=text)

    @staticmethod
    def _internal_error(what: str) -> Reply:
        ref = secrets.token_hex(3)
        log.error("internal error ref %s while %s", ref, what)
        return Reply(text=f"Sorry, something went wrong on our side while handling {what} (ref {ref}). "
                          "It has been logged; please try again.",
                     notice="Something went wrong; please try again.")
