"""Reply → Discord messages: an embed coloured by the reply's tone, sections as fields, buttons as components.

Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits): a title of
256 characters, a description of 4,096, 25 fields of 256 / 1,024, a footer of 2,048 and 6,000 characters in
all the embeds of one message; 5 rows of 5 buttons with labels of 80. A reply longer than one embed is sent
as several messages (at most MAX_PARTS, then cut, as on Telegram), and its buttons go with the last one.
Text is the core's plain text, so Markdown in it (a symbol, a broadcast) is escaped, never interpreted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import discord

from bot.core.replies import Button, Prompt, Reply, split_text

TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FIELDS_MAX = 25
FOOTER_MAX = 2048
EMBED_TOTAL_MAX = 6000
LABEL_MAX = 80
ROWS_MAX = 5
BUTTONS_PER_ROW = 5

COLOURS = {
    "buy": discord.Colour.green(),
    "sell": discord.Colour.red(),
    "hold": discord.Colour.light_grey(),
    "warning": discord.Colour.orange(),
    "info": discord.Colour.blurple(),
}


@dataclass
class Part:
    """One Discord message of a reply: its embed, and the buttons when it is the reply's last part."""

    embed: discord.Embed
    buttons: list[list[Button]] = field(default_factory=list)
    prompt: Prompt | None = None


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    return discord.utils.escape_markdown(text, as_needed=False)


def _embed(reply: Reply, title: str | None, description: str) -> discord.Embed:
    return discord.Embed(title=cut(escape(title), TITLE_MAX) if title else None, description=description or None,
                         colour=COLOURS.get(reply.tone or "info"))


def _body(reply: Reply, chunk: str) -> str:
    if reply.monospace:
        # A code block shows text as it is; only a closing fence inside it would end it early.
        return f"```\n{chunk.replace('```', 'ʼʼʼ')}\n```"
    return escape(chunk)


def render(reply: Reply) -> list[Part]:
    """The reply as Discord messages (one embed each)."""
    if reply.sections:
        return [Part(_sectioned(reply), reply.buttons, reply.prompt)]
    room = DESCRIPTION_MAX - 8  # escaping adds characters: a chunk is re-split below if it outgrew the room
    parts: list[Part] = []
    chunks = split_text(reply.text, room // 2 if reply.monospace else room) if reply.text else [""]
    for i, chunk in enumerate(chunks):
        body = _body(reply, chunk)
        if len(body) > DESCRIPTION_MAX:  # a text dense with Markdown characters doubles when escaped
            body = cut(body, DESCRIPTION_MAX)
        parts.append(Part(_embed(reply, reply.title if i == 0 else None, body)))
    if not reply.text and not reply.title:
        parts = [Part(_embed(reply, None, escape(reply.notice or "…")))]
    parts[-1].buttons = reply.buttons
    parts[-1].prompt = reply.prompt
    return parts


def _sectioned(reply: Reply) -> discord.Embed:
    """A card: its sections as fields (in order, one per line) and its footer; within the 6,000 total."""
    embed = _embed(reply, reply.title, "")
    used = len(embed.title or "")
    footer = cut(reply.footer or "", FOOTER_MAX)
    used += len(footer)
    for section in reply.sections[:FIELDS_MAX]:
        name = cut(escape(section.name), FIELD_NAME_MAX)
        value = cut(escape(section.value), FIELD_VALUE_MAX) or "—"
        if used + len(name) + len(value) > EMBED_TOTAL_MAX:
            break
        embed.add_field(name=name, value=value, inline=False)
        used += len(name) + len(value)
    if footer:
        embed.set_footer(text=footer)
    return embed


def button_rows(buttons: list[list[Button]]) -> list[list[Button]]:
    """At most 5 rows of 5 (a longer row wraps onto the next; what does not fit is dropped, and logged)."""
    rows: list[list[Button]] = []
    for row in buttons:
        for i in range(0, len(row), BUTTONS_PER_ROW):
            rows.append(row[i:i + BUTTONS_PER_ROW])
    return rows[:ROWS_MAX]

