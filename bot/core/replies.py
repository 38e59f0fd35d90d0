"""What the core answers with: platform-free replies that each adapter renders its own way."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Button(BaseModel):
    label: str
    data: str  # signed callback data (see bot.core.callbacks); short enough for Telegram's 64 bytes


class Prompt(BaseModel):
    """A reply that asks for a typed answer (a custom size, a number of days): where typing into the chat is
    not possible (a Discord server without the message content intent) the adapter asks in a form."""

    label: str  # the question in a few words (Discord: at most 45 characters)
    placeholder: str = ""  # an example answer
    # A form of secret answers (a broker's API key and secret): the labels of its fields, at most 45
    # characters each. Discord asks them in one form (a modal: never a message in the chat) and hands each
    # answer to the core in turn, as if typed one after the other; platforms without forms ignore this.
    secret_fields: list[str] = Field(default_factory=list)


class Image(BaseModel):
    """A picture that goes with a reply (a chart): Telegram sends it as a photo, Discord as a file its embed
    shows, the console saves it and prints the path. In JSON (the outbox's payloads) the bytes are base64, so a
    reply stays serialisable; today's alerts carry no images."""

    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")

    png: bytes = Field(repr=False)  # a PNG file's bytes
    # Letters, digits, `.`, `-` and `_` only: safe as a file name anywhere and in Discord's attachment:// URL.
    filename: str = Field(pattern=r"^[A-Za-z0-9._-]{1,100}\.png$")


class Section(BaseModel):
    """A named part of a reply's text (an embed field on Discord)."""

    name: str
    value: str


class Reply(BaseModel):
    """A message to show. `title` is rendered bold; `text` is plain text that adapters escape.

    `edit=True` on an answer to a button press replaces the message that carried the button;
    `notice` is the short toast shown for a button press (Telegram's answerCallbackQuery).
    `sections`, when given, are `text` in named parts (Telegram and the console show `text`; Discord shows
    them as its embed's fields), and `footer` the text's last lines. `tone` colours it where a platform can.
    `image`, when given, is shown with the title and text as its caption.
    """

    text: str = ""
    title: str | None = None
    buttons: list[list[Button]] = Field(default_factory=list)
    edit: bool = False
    notice: str | None = None
    monospace: bool = False
    tone: Literal["buy", "sell", "hold", "info", "warning"] | None = None
    sections: list[Section] = Field(default_factory=list)
    footer: str | None = None
    prompt: Prompt | None = None
    image: Image | None = None
    # The message this reply answers carried a secret (a broker key): delete it from the chat where the
    # platform lets a bot (Telegram deleteMessage); the reply itself never repeats it.
    delete_incoming: bool = False
    # Sent without sound (Telegram disable_notification, Discord's silent flag): an alert of a kind its chat set
    # to `/notify KIND silent` carries it in its outbox payload.
    silent: bool = False

    @classmethod
    def sectioned(cls, title: str, sections: list[tuple[str, list[str]]], footer: list[str], **extra: object
                  ) -> Reply:
        """A reply whose text is its sections' lines then the footer's, each section also a named field."""
        lines = [line for _, part in sections for line in part] + footer
        named = [Section(name=name, value="\n".join(part)) for name, part in sections if part]
        return cls(title=title, text="\n".join(lines), sections=named, footer="\n".join(footer) or None,
                   **extra)  # type: ignore[arg-type]

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
