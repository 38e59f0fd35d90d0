"""Telegram updates → core → replies. Handlers stay short: all decisions are in bot.core."""

from __future__ import annotations

import logging

from telegram import Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot.core.context import ChatContext
from bot.core.replies import Image, Reply
from bot.core.service import TipsterCore
from bot.telegram.render import keyboard, render, utf16_len

log = logging.getLogger(__name__)


def chat_context(update: Update) -> ChatContext | None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return None
    return ChatContext(
        platform="telegram",
        user_id=str(user.id),
        chat_id=str(chat.id),
        chat_type="private" if chat.type == "private" else "group",
        username=user.username,
        display_name=user.full_name or None,
    )


def addressed_to_another_bot(text: str, bot_username: str | None) -> bool:
    """`/start@otherbot …`: in a group, a command with another bot's name is that bot's, not ours."""
    if not text.startswith("/"):
        return False
    head = text.split(maxsplit=1)[0]
    _, at, target = head.partition("@")
    return bool(at) and (not bot_username or target.lower() != bot_username.lower())


def _core(context: ContextTypes.DEFAULT_TYPE) -> TipsterCore:
    return context.application.bot_data["core"]


CAPTION_LIMIT = 1024  # a photo's caption, in UTF-16 units after entity parsing (a message has 4096)


async def send_photo(context: ContextTypes.DEFAULT_TYPE, chat_id: int, reply: Reply, image: Image) -> None:
    """A reply with an image: the photo captioned with the reply (a caption too long for Telegram keeps the
    title, and the text follows in messages); the buttons go with the last message sent."""
    markup = keyboard(reply)
    texts: list[str | None] = [*render(reply)] if reply.title or reply.text else [None]
    rest: list[str] = []
    if len(texts) > 1 or utf16_len(reply.plain()) > CAPTION_LIMIT:
        title = reply.title[:200] if reply.title else None
        texts = [*render(reply.model_copy(update={"text": "", "title": title}))] if title else [None]
        rest = render(reply.model_copy(update={"title": None}))
    caption = texts[0]
    await context.bot.send_photo(chat_id, image.png, filename=image.filename, caption=caption,
                                 parse_mode=ParseMode.HTML, reply_markup=None if rest else markup)
    for i, text in enumerate(rest):
        await context.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML,
                                       reply_markup=markup if i == len(rest) - 1 else None)


async def send_replies(context: ContextTypes.DEFAULT_TYPE, chat_id: int, replies: list[Reply],
                       edit_message: Message | None = None) -> None:
    for reply in replies:
        if reply.image is not None:  # never an edit: a text message cannot become a photo
            await send_photo(context, chat_id, reply, reply.image)
            continue
        if not (reply.text or reply.title):
            continue
        texts = render(reply)
        markup = keyboard(reply)
        if reply.edit and edit_message is not None and len(texts) == 1:
            try:
                await edit_message.edit_text(texts[0], parse_mode=ParseMode.HTML, reply_markup=markup)
                continue
            except BadRequest as exc:
                if "not modified" in str(exc).lower():
                    continue
                log.info("edit failed (%s); sending a new message instead", exc)
        for i, text in enumerate(texts):
            await context.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML,
                                           reply_markup=markup if i == len(texts) - 1 else None)


class TelegramProgress:
    """A long command's progress: one message, posted by the first update and edited by the next (the core
    paces them to at most one a second, well inside Telegram's limits for one chat)."""

    def __init__(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> None:
        self.context = context
        self.chat_id = chat_id
        self.message: Message | None = None

    async def show(self, reply: Reply) -> None:
        text, markup = render(reply)[0], keyboard(reply)
        try:
            if self.message is None:
                self.message = await self.context.bot.send_message(self.chat_id, text, parse_mode=ParseMode.HTML,
                                                                   reply_markup=markup)
            else:
                await self.message.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)
        except TelegramError as exc:  # "not modified", deleted by the user, a timeout: the run goes on regardless
            log.info("progress message not updated: %s", exc)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every message with text: commands and free text (flows) alike go to the core."""
    message = update.effective_message
    ctx = chat_context(update)
    if message is None or ctx is None or message.text is None:
        return
    if addressed_to_another_bot(message.text, context.bot.username):
        return
    replies = await _core(context).handle_text(ctx, message.text, progress=TelegramProgress(context, message.chat_id))
    if any(reply.delete_incoming for reply in replies):
        await delete_secret_message(message)
    await send_replies(context, message.chat_id, replies)


async def delete_secret_message(message: Message) -> None:
    """A message that carried a secret (a broker key) goes from the chat at once; a failure is logged without
    the message's text."""
    try:
        await message.delete()
    except TelegramError as exc:
        log.warning("could not delete message %s that carried a secret: %s", message.message_id,
                    type(exc).__name__)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    ctx = chat_context(update)
    if query is None or ctx is None:
        return
    replies = await _core(context).handle_button(ctx, query.data if isinstance(query.data, str) else None)
    notice = next((r.notice for r in replies if r.notice), None)
    await query.answer(text=notice[:200] if notice else None)
    message = query.message if isinstance(query.message, Message) else None
    chat_id = message.chat_id if message is not None else int(ctx.chat_id)
    await send_replies(context, chat_id, replies, edit_message=message)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.error("telegram handler error: %s", context.error, exc_info=context.error)
