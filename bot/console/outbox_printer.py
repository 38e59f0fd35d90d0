"""Console delivery for the alert outbox: alerts are printed as they arrive, buttons as numbered choices."""

from __future__ import annotations

from typing import Protocol

from bot.core.context import ChatContext
from bot.core.replies import Reply


class AlertScreen(Protocol):
    """What the sender needs of the console chat (ConsoleChat): whose chat it shows, and how to print."""

    ctx: ChatContext

    def show(self, replies: list[Reply], chat_id: str | None = None) -> None: ...


class ConsoleAlertSender:
    """`AlertSender` for the console chat. Printing cannot fail in ways worth retrying, so it never raises
    the outbox's errors; the alert's buttons replace the numbered choices on screen, as any reply's do."""

    platform = "console"

    def __init__(self, chat: AlertScreen) -> None:
        self.chat = chat

    async def send(self, chat_id: str, reply: Reply) -> None:
        where = "" if chat_id == self.chat.ctx.chat_id else f" (chat {chat_id})"
        header = f"🔕 ALERT (silent){where}" if reply.silent else f"🔔 ALERT{where}"
        self.chat.show([reply.model_copy(update={"title": f"{header}: {reply.title}" if reply.title else header})],
                       chat_id=chat_id)
