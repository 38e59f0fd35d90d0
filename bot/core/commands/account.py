"""A user's own account: /contact an admin, /forgetme. Both work while pending or expired."""

from __future__ import annotations

from bot.core.flows import already_done, ask_confirmation, take_confirmation
from bot.core.kernel import Core
from bot.core.permissions import Permission
from bot.core.registry import Press, Request, registry
from bot.core.replies import Reply
from bot.core.signature import Arg, Kind
from bot.core.usecases import messages, users
from bot.core.views.access import forget_question, forgotten
from bot.core.views.admin import contact_alert, contact_sent

FORGET_FLOW = "forgetme"  # the deletion's confirmation


@registry.command("contact", "write to the admins", permission=Permission.BASIC, expensive=True, group="General",
                  private=True, args=(Arg("text", Kind.TEXT, "your message to the admins", required=True),))
async def contact(core: Core, req: Request) -> list[Reply]:
    sent = await messages.contact(core, req.user, req.values["text"])
    alert = contact_alert(sent)
    await core.notify_admins(alert, "contact")  # each admin's DM, and the admin channel once
    return [contact_sent(sent)]


@registry.command("forgetme", "delete all your data (asks to confirm)", args=(), permission=Permission.BASIC,
                  group="General", private=True)
async def forgetme(core: Core, req: Request) -> list[Reply]:
    tips = await users.forget_question(core, req.user)
    nonce = await ask_confirmation(core, req.user.id, req.ctx.chat_key, FORGET_FLOW)
    return [forget_question(core, req.user, tips, nonce)]


@registry.button("fm", permission=Permission.BASIC)
async def forgetme_confirm(core: Core, press: Press) -> list[Reply]:
    await users.check_forgettable(core, press.user, press.args[0] if press.args else "")
    if len(press.args) != 2 or await take_confirmation(core, press, FORGET_FLOW) is None:
        return already_done()
    await users.forget_user(core, press.user)
    return [forgotten()]
