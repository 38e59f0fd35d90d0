"""Commands and button actions, each declared once with its usage and the permission it needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.core.context import ChatContext
from bot.core.kernel import Core
from bot.core.permissions import Permission
from bot.core.progress import ProgressSink
from bot.core.replies import Reply
from bot.core.signature import Arg, Signature
from storage.models import Flow, User


@dataclass
class Request:
    ctx: ChatContext
    user: User
    args: list[str] = field(default_factory=list)
    text: str = ""
    values: dict[str, Any] = field(default_factory=dict)  # the command's declared arguments, parsed
    progress: ProgressSink | None = None  # where a long command shows how far it is (the adapter's message)


@dataclass
class Press:
    ctx: ChatContext
    user: User
    action: str
    args: list[str]


CommandHandler = Callable[[Core, Request], Awaitable[list[Reply]]]
ButtonHandler = Callable[[Core, Press], Awaitable[list[Reply]]]
# Free text typed while a flow is open (a custom size, a number of days): the flow's kind picks one.
FlowHandler = Callable[[Core, Request, Flow], Awaitable[list[Reply]]]


@dataclass(frozen=True)
class Command:
    name: str
    summary: str
    handler: CommandHandler
    signature: Signature
    permission: Permission = Permission.SIGNALS
    expensive: bool = False  # counts against limits.per_user_per_minute
    group: str = "Tips"
    private: bool = False  # its answer is for the asker alone (Discord: ephemeral)

    @property
    def usage(self) -> str:
        return self.signature.usage(self.name)


@dataclass(frozen=True)
class ButtonAction:
    action: str
    handler: ButtonHandler
    permission: Permission = Permission.SIGNALS
    expensive: bool = False


@dataclass
class Registry:
    commands: dict[str, Command] = field(default_factory=dict)
    buttons: dict[str, ButtonAction] = field(default_factory=dict)
    flows: dict[str, FlowHandler] = field(default_factory=dict)

    def command(self, name: str, summary: str, *, args: tuple[Arg, ...] | list[Arg] = (),
                permission: Permission = Permission.SIGNALS, expensive: bool = False, group: str = "Tips",
                private: bool = False, ignore_extra: bool = False) -> Callable[[CommandHandler], CommandHandler]:
        """Declare a command with its typed arguments: `registry.command("signal", "a tip", args=(Arg(...),))`.
        Text parsing, Discord's slash options, /help and usage lines are all generated from `args`.
        `ignore_extra`: words typed past `args` are dropped, not refused (see Signature)."""
        signature = Signature(tuple(args), ignore_extra)

        def register(fn: CommandHandler) -> CommandHandler:
            if name in self.commands:
                raise ValueError(f"command /{name} registered twice")
            self.commands[name] = Command(name, summary, fn, signature, permission, expensive, group, private)
            return fn
        return register

    def flow(self, kind: str) -> Callable[[FlowHandler], FlowHandler]:
        def register(fn: FlowHandler) -> FlowHandler:
            if kind in self.flows:
                raise ValueError(f"flow {kind!r} registered twice")
            self.flows[kind] = fn
            return fn
        return register

    def button(self, action: str, *, permission: Permission = Permission.SIGNALS,
               expensive: bool = False) -> Callable[[ButtonHandler], ButtonHandler]:
        def register(fn: ButtonHandler) -> ButtonHandler:
            if action in self.buttons:
                raise ValueError(f"button action {action!r} registered twice")
            self.buttons[action] = ButtonAction(action, fn, permission, expensive)
            return fn
        return register


registry = Registry()
