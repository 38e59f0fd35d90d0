"""Admin commands and buttons (SPEC §6; seed 000 §4, seed 001): parse, call the users, messages and figures use
cases, render the admin views, and queue what the changed user is to be told.

Every command here needs Permission.ADMIN, checked by the core before the handler runs; every change is
written to the audit log (by the use cases) with who, what, target and result.
"""

from __future__ import annotations

from bot.core.args import ascii_int, parse_int
from bot.core.flows import ALREADY_DONE, already_done, ask_confirmation, take_confirmation
from bot.core.kernel import Core
from bot.core.permissions import Permission
from bot.core.registry import Press, Request, registry
from bot.core.replies import Reply
from bot.core.signature import Arg, Kind
from bot.core.usecases import admin_stats, messages, users
from bot.core.usecases.reload import reload_config
from bot.core.usecases.users import FILTER_ROLES, MAX_DAYS, ROLES, STATES
from bot.core.views import admin as view
from bot.core.views import reload as reload_view
from bot.core.views.access import approval_notice, disabled_notice, rejection_notice, role_notice
from storage.models import Flow, User

ADMIN = Permission.ADMIN
DELETE_FLOW = "deluser"  # the deletion's confirmation
SMALL_PAGE = 999  # `/activity 5`: a bare number this small is a page, not a user


USER = Arg("user", Kind.USER, "the user: telegram:123, or a bare id on your own platform", required=True,
           metavar="ID")


async def _told(core: Core, user: User, reply: Reply) -> None:
    """The changed user hears of an admin's decision in their private chat (through the outbox)."""
    await core.notify_user(user, reply, "access_decision")


def _arg(press: Press, index: int = 0) -> str:
    return press.args[index] if len(press.args) > index else ""


# ---- approval of new users ----------------------------------------------------------------------------

@registry.button("ap", permission=ADMIN)
async def approve_button(core: Core, press: Press) -> list[Reply]:
    if len(press.args) != 2 or ascii_int(press.args[1]) is None:
        return [view.not_valid()]
    target = await users.user_by_id(core, press.args[0])
    days = parse_int(press.args[1], "days", 1, MAX_DAYS)
    approval = await users.approve_pending(core, press.user, target, days)
    if approval is None:
        return already_done()
    await _told(core, target, approval_notice(approval))
    return [view.approved(approval, edit=True, notice="Approved")]


@registry.button("ac", permission=ADMIN)
async def approve_custom_button(core: Core, press: Press) -> list[Reply]:
    target = await users.user_by_id(core, _arg(press))
    await users.ask_approval_days(core, press.user, press.ctx.chat_key, target)
    return [view.custom_days_question(core, target, MAX_DAYS)]


@registry.flow(users.APPROVE_DAYS_FLOW)
async def continue_approve_days(core: Core, req: Request, flow: Flow) -> list[Reply]:
    users.require_admin(req.user)
    days = parse_int(req.text.strip(), "days", 1, MAX_DAYS, "a number of days, or /cancel")
    approval = await users.answer_approval_days(core, req.user, req.ctx.chat_key, int(flow.state["user_id"]), days)
    if approval is None:
        return [Reply(text=ALREADY_DONE)]
    await _told(core, approval.target, approval_notice(approval))
    return [view.approved(approval)]


@registry.button("rj", permission=ADMIN)
async def reject_button(core: Core, press: Press) -> list[Reply]:
    target = await users.user_by_id(core, _arg(press))
    if not await users.reject(core, press.user, target):
        return already_done()
    await _told(core, target, rejection_notice())
    return [view.rejected(target)]


# ---- the menu -------------------------------------------------------------------------------------------

@registry.command("admin", "the admin menu", args=(), permission=ADMIN, group="Admin", private=True)
async def admin_menu(core: Core, req: Request) -> list[Reply]:
    return [view.admin_menu(core, await admin_stats.admin_summary(core))]


@registry.button("am", permission=ADMIN)
async def admin_menu_button(core: Core, press: Press) -> list[Reply]:
    key, admin = _arg(press), press.user
    if key == "users":
        return [view.users_reply(core, await users.users_page(core, 1))]
    if key == "pending":
        return [view.users_reply(core, await users.users_page(core, 1, "pending", "active"))]
    if key == "allsignals":
        return [view.all_tips_reply(core, await users.all_tips_page(core, 1), admin)]
    if key == "activity":
        return [view.activity_reply(core, await users.activity_page(core, None, 1), admin)]
    if key == "inbox":
        return [view.inbox_reply(core, await messages.inbox(core), admin)]
    if key == "stats":
        return [view.stats_reply(await admin_stats.stats(core))]
    if key == "health":
        return [view.health_reply(await admin_stats.health(core))]
    return [view.not_valid()]


# ---- users ----------------------------------------------------------------------------------------------

@registry.command("users", "list users, paged and filtered", permission=ADMIN, group="Admin", private=True, args=(
    Arg("page", Kind.PAGE, "which page (1 is the first)", default=1),
    Arg("role", Kind.CHOICE, "only users of this role", keyed=True, choices=FILTER_ROLES),
    Arg("state", Kind.CHOICE, "only users in this state (pending: waiting for approval)", keyed=True, choices=STATES),
))
async def users_cmd(core: Core, req: Request) -> list[Reply]:
    values = req.values
    return [view.users_reply(core, await users.users_page(core, values["page"], values["role"], values["state"]))]


@registry.button("us", permission=ADMIN)
async def users_page_button(core: Core, press: Press) -> list[Reply]:
    page = ascii_int(press.args[0], 1) if len(press.args) == 3 else None
    if page is None:
        return [view.not_valid()]
    role = None if press.args[1] == "-" else press.args[1]
    state = None if press.args[2] == "-" else press.args[2]
    return [view.users_reply(core, await users.users_page(core, page, role, state), edit=True)]


@registry.command("user", "one user's details, with actions", args=(USER,), permission=ADMIN, group="Admin",
                  private=True)
async def user_cmd(core: Core, req: Request) -> list[Reply]:
    target = await users.named_user(core, req.user, req.values["user"])
    return [view.user_reply(core, await users.user_details(core, target))]


@registry.command("grant", "set a user's role (admin, trader, viewer)", permission=ADMIN, group="Admin", args=(
    USER,
    Arg("role", Kind.CHOICE, "the new role", required=True, choices=ROLES),
))
async def grant_cmd(core: Core, req: Request) -> list[Reply]:
    target = await users.named_user(core, req.user, req.values["user"])
    change = await users.grant(core, req.user, target, req.values["role"])
    if change.changed:
        await _told(core, target, role_notice(change))
    return [Reply(text=view.role_change_text(change))]


@registry.button("ug", permission=ADMIN)
async def grant_button(core: Core, press: Press) -> list[Reply]:
    target = await users.user_by_id(core, _arg(press))
    change = await users.grant(core, press.user, target, _arg(press, 1))
    if change.changed:
        await _told(core, target, role_notice(change))
    text = view.role_change_text(change)
    return [Reply(text=text, notice=text)]


@registry.command("activate", "give a user access for DAYS days", permission=ADMIN, group="Admin", args=(
    USER,
    Arg("days", Kind.INT, f"days of access from now, 1 to {MAX_DAYS}", required=True, low=1, high=MAX_DAYS,
        words=("forever",)),
))
async def activate_cmd(core: Core, req: Request) -> list[Reply]:
    target = await users.named_user(core, req.user, req.values["user"])
    days = req.values["days"]
    if days == "forever":
        approval = await users.activate_forever(core, req.user, target)
    else:
        approval = await users.approve(core, req.user, target, days)
    await _told(core, target, approval_notice(approval))
    return [Reply(text=view.approval_text(approval))]


@registry.button("ua", permission=ADMIN)
async def activate_button(core: Core, press: Press) -> list[Reply]:
    target = await users.user_by_id(core, _arg(press))
    extra = ascii_int(press.args[1], 1, MAX_DAYS) if len(press.args) == 2 else None
    if extra is None:
        return [view.not_valid()]
    approval = await users.extend(core, press.user, target, extra)
    await _told(core, target, approval_notice(approval))
    return [Reply(text=view.approval_text(approval), notice="Extended")]


@registry.command("deactivate", "disable a user", args=(USER,), permission=ADMIN, group="Admin")
async def deactivate_cmd(core: Core, req: Request) -> list[Reply]:
    target = await users.named_user(core, req.user, req.values["user"])
    disabled = await users.deactivate(core, req.user, target)
    await _told(core, disabled, disabled_notice())
    return [Reply(text=view.deactivated_text(disabled))]


@registry.button("ud", permission=ADMIN)
async def deactivate_button(core: Core, press: Press) -> list[Reply]:
    target = await users.user_by_id(core, _arg(press))
    disabled = await users.deactivate(core, press.user, target)
    await _told(core, disabled, disabled_notice())
    text = view.deactivated_text(disabled)
    return [Reply(text=text, notice=text)]


# `/deluser ID with-signals` as typed since the start; on Discord the option `signals` offers the same word.
WITH_SIGNALS = "with-signals"


@registry.command("deluser", "delete a user (asks to confirm)", permission=ADMIN, group="Admin", args=(
    USER,
    Arg("signals", Kind.CHOICE, f"{WITH_SIGNALS} deletes their tips too (without it they are kept, anonymised)",
        choices=(WITH_SIGNALS,)),
))
async def deluser_cmd(core: Core, req: Request) -> list[Reply]:
    target = await users.named_user(core, req.user, req.values["user"])
    return await _ask_delete(core, req.user, req.ctx.chat_key, target, req.values["signals"] == WITH_SIGNALS)


@registry.button("ux", permission=ADMIN)
async def deluser_button(core: Core, press: Press) -> list[Reply]:
    target = await users.user_by_id(core, _arg(press))
    return await _ask_delete(core, press.user, press.ctx.chat_key, target, False)


async def _ask_delete(core: Core, admin: User, chat_key: str, target: User, with_signals: bool) -> list[Reply]:
    question = await users.deletion_question(core, admin, target, with_signals)
    nonce = await ask_confirmation(core, admin.id, chat_key, DELETE_FLOW)
    return [view.deletion_question(core, question, nonce)]


@registry.button("dx", permission=ADMIN)
async def deluser_confirm(core: Core, press: Press) -> list[Reply]:
    if len(press.args) != 3 or press.args[1] not in ("0", "1"):
        return [view.not_valid()]
    target = await users.user_by_id(core, press.args[0])
    await users.check_deletable(core, press.user, target)  # again: things may have changed since the question
    if await take_confirmation(core, press, DELETE_FLOW) is None:
        return already_done()
    return [view.deleted(await users.delete_user(core, press.user, target, press.args[1] == "1"))]


# ---- tips, activity --------------------------------------------------------------------------------------

@registry.command("allsignals", "every user's tips, paged and filtered", permission=ADMIN, group="Admin",
                  private=True, args=(
    Arg("page", Kind.PAGE, "which page (1 is the newest)", default=1),
    Arg("symbol", Kind.SYMBOL, "only tips on this market", keyed=True, example="BTC/USDT"),
    Arg("user", Kind.USER, "only this user's tips (telegram:123, or a bare id)", keyed=True, metavar="ID"),
))
async def allsignals_cmd(core: Core, req: Request) -> list[Reply]:
    who = req.values["user"]
    owner = await users.named_user(core, req.user, who) if who is not None else None
    listing = await users.all_tips_page(core, req.values["page"], req.values["symbol"],
                                        owner.id if owner is not None else None)
    return [view.all_tips_reply(core, listing, req.user)]


@registry.button("as", permission=ADMIN)
async def allsignals_button(core: Core, press: Press) -> list[Reply]:
    page = ascii_int(press.args[0], 1) if len(press.args) == 3 else None
    if page is None:
        return [view.not_valid()]
    symbol = None if press.args[1] == "-" else press.args[1]
    user_id = None if press.args[2] == "-" else ascii_int(press.args[2], 1)
    listing = await users.all_tips_page(core, page, symbol, user_id)
    return [view.all_tips_reply(core, listing, press.user, edit=True)]


@registry.command("activity", "the audit log: admin actions and refusals", permission=ADMIN, group="Admin",
                  private=True, args=(
    Arg("user", Kind.USER, "only entries by or about this user (telegram:123, or a bare id)", metavar="ID"),
    Arg("page", Kind.PAGE, "which page (1 is the newest)"),
))
async def activity_cmd(core: Core, req: Request) -> list[Reply]:
    who, page = req.values["user"], req.values["page"]
    if page is None and who is not None and ascii_int(who, 1, SMALL_PAGE) is not None:
        who, page = None, int(who)  # `/activity 5` is page 5 of everything
    about = await users.named_user(core, req.user, who) if who is not None else None
    return [view.activity_reply(core, await users.activity_page(core, about, page or 1), req.user)]


@registry.button("av", permission=ADMIN)
async def activity_button(core: Core, press: Press) -> list[Reply]:
    page = ascii_int(press.args[0], 1) if len(press.args) == 2 else None
    if page is None:
        return [view.not_valid()]
    about = None if press.args[1] == "-" else await users.user_by_id(core, press.args[1])
    return [view.activity_reply(core, await users.activity_page(core, about, page), press.user, edit=True)]


# ---- broadcast, inbox, reply -----------------------------------------------------------------------------

@registry.command("broadcast", "message every active user (asks to confirm)", permission=ADMIN, group="Admin",
                  args=(Arg("text", Kind.TEXT, "the message to every active user", required=True),))
async def broadcast_cmd(core: Core, req: Request) -> list[Reply]:
    draft = await messages.draft_broadcast(core, req.values["text"])
    nonce = await ask_confirmation(core, req.user.id, req.ctx.chat_key, messages.BROADCAST, draft.state)
    return [view.broadcast_question(core, draft, nonce)]


@registry.button("bc", permission=ADMIN)
async def broadcast_confirm(core: Core, press: Press) -> list[Reply]:
    state = await take_confirmation(core, press, messages.BROADCAST)
    if state is None:
        return already_done()
    broadcast = messages.Broadcast.from_state(state)
    queued = await messages.queue_broadcast(core, press.user, broadcast, view.announcement(broadcast.text))
    return [view.broadcast_queued(queued)]


@registry.command("inbox", "messages users sent with /contact", args=(), permission=ADMIN, group="Admin",
                  private=True)
async def inbox_cmd(core: Core, req: Request) -> list[Reply]:
    return [view.inbox_reply(core, await messages.inbox(core), req.user)]


@registry.command("reply", "answer a /contact message", permission=ADMIN, group="Admin", args=(
    Arg("id", Kind.ID, "the message's id (see /inbox)", required=True, what="message", metavar="ID"),
    Arg("text", Kind.TEXT, "your answer", required=True),
))
async def reply_cmd(core: Core, req: Request) -> list[Reply]:
    answer = await messages.answer(core, req.user, req.values["id"], req.values["text"])
    await core.notify_user(answer.user, view.answer_notice(answer), "admin_reply")
    return [view.answer_queued(answer)]


# ---- stats, health ---------------------------------------------------------------------------------------

@registry.command("stats", "users, tips and activity figures", args=(), permission=ADMIN, group="Admin",
                  private=True)
async def stats_cmd(core: Core, req: Request) -> list[Reply]:
    return [view.stats_reply(await admin_stats.stats(core))]


@registry.command("health", "storage, data source, model, uptime", args=(), permission=ADMIN, group="Admin",
                  private=True)
async def health_cmd(core: Core, req: Request) -> list[Reply]:
    return [view.health_reply(await admin_stats.health(core))]


# ---- configuration ---------------------------------------------------------------------------------------

@registry.command("reload", "re-read the config file and apply it without a restart", args=(), permission=ADMIN,
                  group="Admin", private=True)
async def reload_cmd(core: Core, req: Request) -> list[Reply]:
    return [reload_view.reloaded(await reload_config(core, req.user))]
