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

from bot.core.replies import Button, Prompt
from bot.discord.render import LABEL_MAX, button_rows

# The codec's alphabet (action, args and signature joined by ":"); Discord allows 100 characters of custom id.
CUSTOM_ID = re.compile(r"(?P<data>[A-Za-z0-9_.\-/+:]{1,100})")

# A prompt's button: "~ask~<question>~<example>" ("~" is outside the codec's alphabet, so it never reaches the
# core as button data). It carries no authority: it opens a form whose answer goes to the core as typed text.
PROMPT_ID = re.compile(r"~ask~(?P<label>[^~]{1,45})~(?P<placeholder>[^~]{0,48})")

# A secret form's button: "~secret~<first label>~<second label>" (a broker's key and secret). The answers are
# typed into the form only, never into the chat, so no message ever carries them.
SECRET_ID = re.compile(r"~secret~(?P<first>[^~]{1,45})~(?P<second>[^~]{0,45})")

# Set by the client at start: what a press does (bot.discord.interactions.on_press) and what an answer does.
PressHandler = Callable[[discord.Interaction, str], Awaitable[None]]
AnswerHandler = Callable[[discord.Interaction, str], Awaitable[None]]
SecretsHandler = Callable[[discord.Interaction, list[str]], Awaitable[None]]


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


class AnswerForm(discord.ui.Modal):
    """The form a prompt opens: one line of text, handed to the core as if typed into the chat."""

    def __init__(self, label: str, placeholder: str) -> None:
        super().__init__(title="Your answer", timeout=600, custom_id="tipster:answer")
        self.answer: discord.ui.TextInput[AnswerForm] = discord.ui.TextInput(
            label=label, placeholder=placeholder or None, max_length=100, custom_id="answer")
        self.add_item(self.answer)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        handler: AnswerHandler = interaction.client.on_core_answer  # type: ignore[attr-defined]
        await handler(interaction, self.answer.value)


class PromptButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=PROMPT_ID):
    """[✍️ Type it]: opens the prompt's form at once (a form must be an interaction's first answer)."""

    def __init__(self, label: str, placeholder: str, row: int | None = None) -> None:
        label, placeholder = label[:45].replace("~", "-"), placeholder[:48].replace("~", "-")
        super().__init__(discord.ui.Button(label="✍️ Type it", custom_id=f"~ask~{label}~{placeholder}",
                                           style=discord.ButtonStyle.primary), row=row)
        self.question, self.example = label, placeholder

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> PromptButton:
        return cls(match["label"], match["placeholder"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(AnswerForm(self.question, self.example))


class SecretForm(discord.ui.Modal):
    """A form of secret answers (a broker's API key and secret): each field is handed to the core in turn, as
    if typed one after the other, and nothing of them is shown or kept here."""

    def __init__(self, labels: list[str]) -> None:
        super().__init__(title="Your broker keys", timeout=600, custom_id="tipster:secrets")
        self.fields: list[discord.ui.TextInput[SecretForm]] = []
        for index, label in enumerate(labels[:5]):
            field: discord.ui.TextInput[SecretForm] = discord.ui.TextInput(
                label=label[:45], max_length=200, custom_id=f"secret{index}")
            self.fields.append(field)
            self.add_item(field)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        handler: SecretsHandler = interaction.client.on_core_secrets  # type: ignore[attr-defined]
        await handler(interaction, [field.value for field in self.fields])


class SecretPromptButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=SECRET_ID):
    """[🔑 Enter keys]: opens the secret form at once (a form must be an interaction's first answer)."""

    def __init__(self, labels: list[str], row: int | None = None) -> None:
        first, second = ([label[:45].replace("~", "-") for label in labels] + [""])[:2]
        super().__init__(discord.ui.Button(label="🔑 Enter keys", custom_id=f"~secret~{first}~{second}",
                                           style=discord.ButtonStyle.primary), row=row)
        self.labels = [label for label in (first, second) if label]

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> SecretPromptButton:
        return cls([match["first"], match["second"]])

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(SecretForm(self.labels))


def view_of(buttons: list[list[Button]], prompt: Prompt | None = None) -> discord.ui.View | None:
    """The reply's buttons as a persistent view (no timeout: the custom ids carry everything); a prompt adds
    its [✍️ Type it] first."""
    rows = button_rows(buttons)[: 4 if prompt else 5]
    if not rows and prompt is None:
        return None
    view = discord.ui.View(timeout=None)
    offset = 0
    if prompt is not None and prompt.secret_fields:
        view.add_item(SecretPromptButton(prompt.secret_fields, row=0))
        offset = 1
    elif prompt is not None:
        view.add_item(PromptButton(prompt.label, prompt.placeholder, row=0))
        offset = 1
    for row_index, row in enumerate(rows):
        for button in row:
            view.add_item(CoreButton(button.data, button.label, row=row_index + offset))
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
