"""A user's own account: /contact an admin, /forgetme."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.errors import Refused, UserError
from bot.core.flows import already_done, ask_confirmation, take_confirmation
from bot.core.permissions import Permission
from bot.core.registry import Press, Request, registry
from bot.core.replies import Reply

if TYPE_CHECKING:
    from bot.core.kernel import Core

CONTACT_USAGE = "/contact TEXT"
MAX_CONTACT = 900


@registry.command("contact", CONTACT_USAGE, "write to the admins", permission=Permission.BASIC,
                  expensive=True, group="General")
async def contact(core: Core, req: Request) -> list[Reply]:
    text = req.text.partition(" ")[2].strip()
    if not text:
        raise UserError("Write your message after the command.", CONTACT_USAGE)
    if len(text) > MAX_CONTACT:
        raise UserError(f"A message is at most {MAX_CONTACT} characters.", CONTACT_USAGE)
    message_id = await core.storage.messages.add(req.user.id, text)
    await core.storage.activity.log(req.user.id, "contact", f"Sent message #{message_id} to the admins")
    for admin in await core.storage.user_admin.admins():
        await core.notify_user(admin, Reply(title=f"✉️ Message #{message_id} from {req.user.label}",
                                            text=f"{text}\n\nAnswer with /reply {message_id} TEXT"), "contact")
    return [Reply(text=f"Sent to the admins as message #{message_id}. You will get their answer here.")]


@registry.command("forgetme", "/forgetme", "delete all your data (asks to confirm)", permission=Permission.BASIC,
                  group="General")
async def forgetme(core: Core, req: Request) -> list[Reply]:
    tips = await core.storage.signals.count_for_user(req.user.id)
    nonce = await ask_confirmation(core, req.user.id, req.ctx.chat_key, "forgetme")
    return [Reply(title="Delete all your data?",
                  text=f"This deletes your account, your {tips} tip(s), settings and messages. The audit log "
                       "keeps only an anonymous id. This cannot be undone.",
                  buttons=[[core.button("Delete my data", "fm", req.user.id, nonce), core.button("Cancel", "cx")]])]


@registry.button("fm", permission=Permission.BASIC)
async def forgetme_confirm(core: Core, press: Press) -> list[Reply]:
    if press.args[:1] != [str(press.user.id)]:
        raise Refused("This button is not yours.", reason="foreign forgetme")
    if press.user.role == "admin" and len(await core.storage.user_admin.admins()) <= 1:
        raise Refused("You are the last admin: grant another admin first.", reason="last admin")
    if press.user.identity in core.settings.admins:
        raise Refused("You are an admin by configuration; remove yourself from config.yaml `admins` first.",
                      reason="configured admin")
    if len(press.args) != 2 or await take_confirmation(core, press, "forgetme") is None:
        return already_done()
    identity = press.user.identity
    counts = await core.storage.user_admin.delete(press.user)
    await core.audit(None, "forgetme", None, "ok", **counts)
    del identity  # nothing of it is kept
    return [Reply(text="Done: your data is deleted. Send /start if you ever want to come back.", edit=True,
                  notice="Deleted")]
