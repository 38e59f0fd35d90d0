"""Console delivery for the alert outbox: alerts are printed as they arrive, buttons as numbered choices."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.replies import Reply

if TYPE_CHECKING:
    from bot.console.chat import ConsoleChat


class ConsoleAlertSender:
    """`AlertSender` for the console chat. Printing cannot fail in ways worth retrying, so it never raises
    the outbox's errors; the alert's buttons replace the numbered choices on screen, as any reply's do."""

    platform = "console"

    def __init__(self, chat: ConsoleChat) -> None:
        self.chat = chat

    async def send(self, chat_id: str, reply: Reply) -> None:
        where = "" if chat_id == self.chat.ctx.chat_id else f" (chat {chat_id})"
        header = f"🔔 ALERT{where}"
        self.chat.show([reply.model_copy(update={"title": f"{header}: {reply.title}" if reply.title else header})],
                       chat_id=chat_id)
