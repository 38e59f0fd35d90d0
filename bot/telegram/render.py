"""Reply → Telegram message: HTML parse mode (escaped), inline keyboards, split at 4096 characters."""

from __future__ import annotations

import html

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.replies import Reply, split_text

# Telegram allows 4096 UTF-16 units of text after entity parsing: tags are free, an emoji counts two.
TELEGRAM_LIMIT = 4096
TITLE_MAX = 256  # a longer title is cut, so the first part always has room for text


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _parts(text: str, room: int) -> list[str]:
    """`text` in chunks of at most `room` UTF-16 units. split_text counts code points, so a chunk heavy with
    emoji can be up to twice too long: such a chunk is split again at half the room, which always fits."""
    out: list[str] = []
    for chunk in split_text(text, room):
        out.extend([chunk] if utf16_len(chunk) <= room else split_text(chunk, room // 2))
    return out


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in reply.buttons]
    )


def render(reply: Reply) -> list[str]:
    """The reply as one or more HTML texts; the keyboard goes with the last one."""
    title = reply.title if len(reply.title or "") <= TITLE_MAX else f"{reply.title[:TITLE_MAX - 1]}…"
    room = TELEGRAM_LIMIT - (utf16_len(title) + 1 if title else 0)  # every part leaves room for the title
    body_chunks = _parts(reply.text, room) if reply.text else [""]
    out: list[str] = []
    for i, chunk in enumerate(body_chunks):
        body = html.escape(chunk, quote=False)
        if reply.monospace and body:
            body = f"<pre>{body}</pre>"
        if i == 0 and title:
            head = f"<b>{html.escape(title, quote=False)}</b>"
            body = f"{head}\n{body}" if body else head
        if body:
            out.append(body)
    return out or ["…"]
