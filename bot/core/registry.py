"""Commands and button actions, each declared once with its usage and the permission it needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.core.context import ChatContext
from bot.core.permissions import Permission
from bot.core.replies import Reply
from storage.models import User

if TYPE_CHECKING:
    from bot.core.service import TipsterCore


@dataclass
class Request:
    ctx: ChatContext
    user: User
    args: list[str] = field(default_factory=list)
    text: str = ""


@dataclass
class Press:
    ctx: ChatContext
    user: User
    action: str
    args: list[str]


CommandHandler = Callable[["TipsterCore", Request], Awaitable[list[Reply]]]
ButtonHandler = Callable[["TipsterCore", Press], Awaitable[list[Reply]]]


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    summary: str
    handler: CommandHandler
    permission: Permission = Permission.SIGNALS
    expensive: bool = False  # counts against limits.per_user_per_minute
    group: str = "Tips"


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

    def command(self, name: str, usage: str, summary: str, *, permission: Permission = Permission.SIGNALS,
                expensive: bool = False, group: str = "Tips") -> Callable[[CommandHandler], CommandHandler]:
        def register(fn: CommandHandler) -> CommandHandler:
            if name in self.commands:
                raise ValueError(f"command /{name} registered twice")
            self.commands[name] = Command(name, usage, summary, fn, permission, expensive, group)
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
