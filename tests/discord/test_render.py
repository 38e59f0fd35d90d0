"""Reply → Discord embeds within Discord's documented limits, text shown as typed (Markdown escaped)."""

from __future__ import annotations

import discord

from bot.core.replies import CUT_LINE, Button, Reply, Section
from bot.discord.buttons import view_of
from bot.discord.render import render


def total_chars(embed: discord.Embed) -> int:
    # Discord counts title, description, field names and values, footer text and author name.
    fields = sum(len(f.name or "") + len(f.value or "") for f in embed.fields)
    return len(embed.title or "") + len(embed.description or "") + fields + len(embed.footer.text or "")


def test_a_long_text_is_split_into_at_most_four_embeds_within_the_limits() -> None:
    text = "\n".join(f"line {n:05d} " + "x" * 90 for n in range(400))  # ~40,000 characters
    parts = render(Reply(title="T" * 300, text=text, buttons=[[Button(label="A", data="a:1:sig")]]))
    assert len(parts) == 4
    assert parts[0].embed.title == "T" * 255 + "…" and all(p.embed.title is None for p in parts[1:])
    for part in parts:
        assert len(part.embed.description or "") <= 4096 and total_chars(part.embed) <= 6000
    assert parts[-1].embed.description.endswith(CUT_LINE)
    assert [p.buttons for p in parts] == [[], [], [], [[Button(label="A", data="a:1:sig")]]]


def test_markdown_and_mentions_in_text_are_shown_not_interpreted() -> None:
    [part] = render(Reply(text="**bold** _it_ `code` @everyone"))
    assert part.embed.description == "\\*\\*bold\\*\\* \\_it\\_ \\`code\\` @everyone"


def test_sections_become_fields_cut_to_their_limits() -> None:
    reply = Reply(title="🟢 BUY BTC/USDT · 1h", text="ignored on Discord",
                  sections=[Section(name="Levels", value="v" * 2000), Section(name="N" * 300, value="ok")],
                  footer="Tip #1", tone="buy")
    [part] = render(reply)
    embed = part.embed
    assert [len(f.value) for f in embed.fields] == [1024, 2] and len(embed.fields[1].name) == 256
    assert embed.footer.text == "Tip #1" and embed.colour == discord.Colour.green()
    assert embed.description is None  # the sections are the text


def test_monospace_text_is_a_code_block_that_cannot_be_closed_early() -> None:
    [part] = render(Reply(text="a ``` b", monospace=True))
    assert part.embed.description == "```\na ʼʼʼ b\n```"


def test_buttons_are_at_most_five_rows_of_five() -> None:
    row = [Button(label=f"B{n}", data=f"x:{n}:sig") for n in range(7)]
    view = view_of([row, row, row, row])
    assert view is not None
    rows: dict[int, int] = {}
    for item in view.children:
        rows[item.row or 0] = rows.get(item.row or 0, 0) + 1
    assert rows == {0: 5, 1: 2, 2: 5, 3: 2, 4: 5}  # a 7-wide row wraps; the eighth row is dropped
