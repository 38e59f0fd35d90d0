"""Reply → Telegram message: HTML parse mode (escaped), inline keyboards, split at 4096 characters."""

from __future__ import annotations

import html

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.replies import Reply, split_text

# Telegram counts the text after entity parsing; keep a margin for the title line.
TELEGRAM_LIMIT = 4096
_CHUNK = 4000


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in reply.buttons]
    )


def render(reply: Reply) -> list[str]:
    """The reply as one or more HTML texts; the keyboard goes with the last one."""
    body_chunks = split_text(reply.text, _CHUNK) if reply.text else [""]
    out: list[str] = []
    for i, chunk in enumerate(body_chunks):
        body = html.escape(chunk, quote=False)
        if reply.monospace and body:
            body = f"<pre>{body}</pre>"
        if i == 0 and reply.title:
            title = f"<b>{html.escape(reply.title, quote=False)}</b>"
            body = f"{title}\n{body}" if body else title
        if body:
            out.append(body)
    return out or ["…"]
