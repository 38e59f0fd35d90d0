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


MAX_PARTS = 4  # one reply is at most this many chat messages; a longer text is cut, and says so
CUT_LINE = "… (cut)"


def split_text(text: str, limit: int, max_parts: int | None = MAX_PARTS) -> list[str]:
    """Split a long text into at most `max_parts` chunks of at most `limit` characters, at line breaks where
    possible (Telegram allows 4096 characters, Discord 2000).

    What does not fit in `max_parts` is dropped and the last chunk ends with CUT_LINE: no reply (and no
    hostile input echoed in one) can turn into thousands of messages. `max_parts=None` keeps everything.
    """
    if limit <= len(CUT_LINE) + 1:
        raise ValueError(f"limit must be more than {len(CUT_LINE) + 1}")
    if max_parts is not None and max_parts < 1:
        raise ValueError("max_parts must be positive")
    chunks = _split(text, limit, max_parts)
    if max_parts is None or len(chunks) <= max_parts:
        return chunks
    kept = chunks[:max_parts]
    room = limit - len(CUT_LINE) - 1
    kept[-1] = f"{kept[-1][:room].rstrip()}\n{CUT_LINE}"
    return kept


def _split(text: str, limit: int, enough: int | None = None) -> list[str]:
    """The chunks, stopping once there are more than `enough` (the rest would be cut anyway)."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        if enough is not None and len(chunks) > enough:
            break
        start = 0
        while len(line) - start > limit:  # a single over-long line is cut hard (by index: no O(n²) copies)
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[start:start + limit])
            start += limit
            if enough is not None and len(chunks) > enough:
                return chunks
        line = line[start:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current or not chunks:
        chunks.append(current)
    return chunks
