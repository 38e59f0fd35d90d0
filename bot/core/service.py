"""The chat-agnostic entry points: a message or a button press in, replies out.

Every adapter (console, Telegram, Discord) calls `handle_text`, `handle_command` or `handle_button`; nothing
here knows which platform it serves. A command's declared arguments are parsed here, once, before its handler
runs. Handlers raise `UserError`/`Refused` for answers the user can act on; any other exception is logged with
an id and answered politely, so no handler ever crashes the bot.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

# Handler modules register their commands, buttons and flows on import.
import bot.core.commands  # noqa: F401
from bot.core.access import access_message
from bot.core.args import ascii_int, shorten
from bot.core.callbacks import CallbackCodec, InvalidCallback
from bot.core.context import ChatContext
from bot.core.errors import Refused, UserError
from bot.core.kernel import Core, Services
from bot.core.permissions import Permission, allowed
from bot.core.progress import ProgressSink
from bot.core.registry import Command, Press, Request, registry
from bot.core.replies import Reply
from bot.core.usecases.monitoring import last_cycle
from bot.core.usecases.registration import register_user
from bot.core.views.access import approval_request
from bot.core.views.monitoring import stats_lines
from storage.models import User

log = logging.getLogger(__name__)

MAX_MESSAGE_LEN = 1000  # longer commands are refused before parsing
# Button actions whose first argument is a tip id: any of them on a message names the tip it shows.
TIP_ACTIONS = frozenset({"rf", "hi", "dm", "op", "wa", "nw"})
REACTION_ACTIONS = {"approve": "op", "dismiss": "dm"}  # what a reaction does: the card's own buttons
_COMMAND_RE = re.compile(r"(\S+)\s*(.*)", re.DOTALL)  # the command word, then the rest exactly as typed

__all__ = ["MAX_MESSAGE_LEN", "Services", "TipsterCore"]


class TipsterCore(Core):
    @classmethod
    async def create(cls, services: Services) -> TipsterCore:
        secret = await services.storage.kv.secret("callback_secret")
        core = cls(services, CallbackCodec(secret))

        async def monitoring_stats() -> list[str]:
            return stats_lines(await last_cycle(core))

        core.stats_sections.append(monitoring_stats)
        return core

    async def ensure_user(self, ctx: ChatContext) -> User:
        registration = await register_user(self, ctx)
        if registration.awaits_approval:  # every admin gets the new user with the approval buttons
            await self.notify_admins(approval_request(self, registration.user), "approval_request")
        return registration.user

    async def ensure_user_identity(self, identity: str) -> User:
        """Register (or find) a user by identity alone, e.g. for scripts and tests."""
        platform, _, uid = identity.partition(":")
        return await self.ensure_user(ChatContext(platform=platform, user_id=uid, chat_id=uid))

    # ---- entry points ------------------------------------------------------------------------------

    async def handle_text(self, ctx: ChatContext, text: str, progress: ProgressSink | None = None) -> list[Reply]:
        """A typed message. `progress`, when the adapter gives one, is where a long command (/backtest) shows
        how far it is: a message it posts once and then edits."""
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
        head, rest = _COMMAND_RE.match(text).groups()  # type: ignore[union-attr]  # text starts with "/"
        name = head[1:].split("@", 1)[0].lower()
        command = registry.commands.get(name)
        if command is None:
            return [Reply(text=f"Unknown command /{shorten(name)}. Send /help for the list of commands.")]
        request = Request(ctx=ctx, user=user, args=rest.split(), text=text, progress=progress)
        return await self._run(command, request, lambda: command.signature.parse_text(rest))

    async def handle_command(self, ctx: ChatContext, name: str, options: Mapping[str, str],
                             progress: ProgressSink | None = None) -> list[Reply]:
        """A command given with named options (a Discord slash command): each option's text is parsed by the
        command's declared argument, exactly as if it had been typed."""
        try:
            user = await self.ensure_user(ctx)
        except Exception:
            return [self._internal_error("registering you")]
        await self._remember_chat(ctx)
        command = registry.commands.get(name)
        if command is None:
            return [Reply(text=f"Unknown command /{shorten(name)}. Send /help for the list of commands.")]
        typed = " ".join(f"{k}={v}" for k, v in options.items())
        request = Request(ctx=ctx, user=user, args=typed.split(), text=f"/{name} {typed}".strip(),
                          progress=progress)
        return await self._run(command, request, lambda: command.signature.parse_named(options))

    async def _run(self, command: Command, request: Request, parse: Callable[[], dict[str, Any]]
                   ) -> list[Reply]:
        """Authorise, parse the declared arguments, rate-limit, run: in that order, so a viewer calling an admin
        command hears "admins only" (not a usage line), and a mistyped tip costs nothing of the rate limit."""
        name, user = command.name, request.user
        started, outcome = time.perf_counter(), "ok"
        try:
            self._authorise(user, command.permission, f"/{name}")
            request.values = parse()
            if command.expensive:
                self._rate_limit(user)
            return await command.handler(self, request)
        except UserError as exc:
            outcome = "user_error"
            if exc.usage is None:
                exc.usage = command.usage
            return [self._user_error(exc)]
        except Refused as exc:
            outcome = "refused"
            await self._log_refusal(user, f"/{name}", exc)
            return [Reply(text=exc.message)]
        except Exception:
            outcome = "error"
            log.exception("command /%s failed", name)
            return [self._internal_error(f"/{name}")]
        finally:
            self.metrics.command(name, outcome, time.perf_counter() - started)

    async def handle_reaction(self, ctx: ChatContext, button_data: Sequence[str],
                              reaction: Literal["approve", "dismiss"]) -> list[Reply]:
        """A reaction on a tip card (Discord's ✅ approves: the open-position flow; ❌ dismisses the tip).

        The tip is read from the message's own signed buttons, so nothing is stored per message and a card sent
        before a restart works the same. Only the tip's owner acts; anyone else's reaction does nothing but an
        audit entry, and a message that is not a tip card means nothing."""
        signal_id = None
        for data in button_data:
            try:
                action, args = self.codec.decode(data)
            except InvalidCallback:
                continue
            if action in TIP_ACTIONS and args and (found := ascii_int(args[0], 1)) is not None:
                signal_id = found
                break
        if signal_id is None:
            return []
        try:
            user = await self.ensure_user(ctx)
            signal = await self.storage.signals.get(signal_id)
        except Exception:
            log.exception("reaction on tip #%s failed", signal_id)
            return []
        if signal is None:
            return []
        if signal.user_id != user.id:
            await self.audit(user, f"reaction {reaction}", f"tip #{signal_id}", "refused",
                             reason="not the tip's owner")
            return []
        return await self.handle_button(ctx, self.codec.encode(REACTION_ACTIONS[reaction], signal_id))

    async def handle_button(self, ctx: ChatContext, data: str | None) -> list[Reply]:
        try:
            user = await self.ensure_user(ctx)
        except Exception:
            return [self._internal_error("registering you")]
        try:
            action, args = self.codec.decode(data)
        except InvalidCallback as exc:
            await self.services.storage.activity.log(user.id, "forged_button", "Rejected an invalid button",
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
        flow = await self.services.storage.flows.get(user.id, ctx.chat_key)
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
            await self.services.storage.chats.upsert(ctx.platform, ctx.chat_id, ctx.chat_type)
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
        await self.services.storage.activity.log(user.id, "refused", f"Refused {what}", reason=exc.reason)
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
