"""Who is talking, where: the one description of an incoming message every adapter builds."""

from __future__ import annotations

from pydantic import BaseModel


class ChatContext(BaseModel):
    platform: str  # "telegram", "discord", "console"
    user_id: str  # the platform's user id
    chat_id: str
    chat_type: str = "private"  # "private" or "group"
    username: str | None = None
    display_name: str | None = None

    @property
    def identity(self) -> str:
        return f"{self.platform}:{self.user_id}"

    @property
    def chat_key(self) -> str:
        return f"{self.platform}:{self.chat_id}"

    @property
    def is_private(self) -> bool:
        return self.chat_type == "private"
