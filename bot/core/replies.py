"""What the core answers with: platform-free replies that each adapter renders its own way."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Button(BaseModel):
    label: str
    data: str  # signed callback data (see bot.core.callbacks); short enough for Telegram's 64 bytes


class Reply(BaseModel):
    """A message to show. `title` is rendered bold; `text` is plain text that adapters escape.

    `edit=True` on an answer to a button press replaces the message that carried the button;
    `notice` is the short toast shown for a button press (Telegram's answerCallbackQuery).
    """

    text: str = ""
    title: str | None = None
    buttons: list[list[Button]] = Field(default_factory=list)
    edit: bool = False
    notice: str | None = None
    monospace: bool = False

    def plain(self) -> str:
        """Title and text as plain text, e.g. for the console or logs."""
        return f"{self.title}\n{self.text}".strip() if self.title else self.text


def split_text(text: str, limit: int) -> list[str]:
    """Split a long text into chunks of at most `limit` characters, at line breaks where possible.

    Replies are never dropped for being long: Telegram allows 4096 characters, Discord 2000.
    """
    if limit <= 0:
        raise ValueError("limit must be positive")
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:  # a single over-long line is cut hard
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current or not chunks:
        chunks.append(current)
    return chunks
