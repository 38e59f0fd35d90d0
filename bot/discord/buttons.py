"""The core's buttons as Discord components that survive a restart.

A button's custom id is the core's signed callback data itself, so nothing is kept in memory: one
`DynamicItem` class, registered once, turns any press of any button the bot ever sent back into
`core.handle_button(data)`. Forged or stale data is refused by the core's codec, as on Telegram.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.core.replies import Button
from bot.discord.render import LABEL_MAX, button_rows

# The codec's alphabet (action, args and signature joined by ":"); Discord allows 100 characters of custom id.
CUSTOM_ID = re.compile(r"(?P<data>[A-Za-z0-9_.\-/+:]{1,100})")

# Set by the client at start: what a press does (bot.discord.interactions.on_press).
PressHandler = Callable[[discord.Interaction, str], Awaitable[None]]


class CoreButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=CUSTOM_ID):
    """A button whose custom id is the core's signed data."""

    def __init__(self, data: str, label: str = "…", row: int | None = None) -> None:
        super().__init__(discord.ui.Button(label=label[:LABEL_MAX] or "…", custom_id=data,
                                           style=discord.ButtonStyle.secondary), row=row)
        self.data = data

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> CoreButton:
        label = getattr(item, "label", None) or "…"
        return cls(match["data"], label)

    async def callback(self, interaction: discord.Interaction) -> None:
        handler: PressHandler = interaction.client.on_core_press  # type: ignore[attr-defined]
        await handler(interaction, self.data)


def view_of(buttons: list[list[Button]]) -> discord.ui.View | None:
    """The reply's buttons as a persistent view (no timeout: the custom ids carry everything)."""
    rows = button_rows(buttons)
    if not rows:
        return None
    view = discord.ui.View(timeout=None)
    for row_index, row in enumerate(rows):
        for button in row:
            view.add_item(CoreButton(button.data, button.label, row=row_index))
    return view


def custom_ids(message: discord.Message) -> list[str]:
    """Every button's custom id on a message (the tip a card shows is named by its buttons)."""
    found: list[str] = []
    for row in message.components:
        for child in getattr(row, "children", []):
            custom_id = getattr(child, "custom_id", None)
            if custom_id:
                found.append(custom_id)
    return found
