"""Admin commands and buttons (SPEC §6; seed 000 §4, seed 001): users, access, broadcast, inbox, stats.

Every command here needs Permission.ADMIN, checked by the core before the handler runs; every change is
written to the audit log with who, what, target and result.
"""

from __future__ import annotations

import platform
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.core import cards
from bot.core.access import access_of
from bot.core.args import ascii_int, parse_id, parse_int, parse_page, parse_symbol, shorten, split_key_values
from bot.core.errors import Refused, UserError
from bot.core.flows import ALREADY_DONE, already_done, ask_confirmation, take_confirmation
from bot.core.formatting import local_time
from bot.core.permissions import Permission
from bot.core.registry import Press, Request, registry
from bot.core.replies import Reply
from storage.alerts import AlertSpec
from storage.models import Flow, User

if TYPE_CHECKING:
    from bot.core.kernel import Core

ADMIN = Permission.ADMIN
PAGE = 10
ROLES = ("admin", "trader", "viewer")
STATES = ("active", "disabled", "expired", "pending")
MAX_DAYS = 3650
VERSION = "0.1.0"


def describe_user(core: Core, user: User) -> str:
    access = access_of(user, core.now())
    expiry = f"until {user.expires_at:%Y-%m-%d}" if user.expires_at else "no expiry"
    return f"{user.label} · {user.role} · {access.value} · {expiry}"


async def _admin_count(core: Core) -> int:
    return len(await core.storage.user_admin.admins())


async def _guard_last_admin(core: Core, target: User, action: str) -> None:
    if target.role == "admin" and target.identity in core.settings.admins:
        raise Refused(f"{target.identity} is an admin by configuration (config.yaml `admins`); "
                      f"change it there.", reason="configured admin")
    if target.role == "admin" and await _admin_count(core) <= 1:
        raise Refused(f"Refused: {target.identity} is the last admin; {action} would leave no admin.",
                      reason="last admin")


# ---- approval of new users ----------------------------------------------------------------------------

async def _target_by_db_id(core: Core, raw: str) -> User:
    user_id = ascii_int(raw, 1)
    if user_id is None:
        raise UserError("This button is not valid.")
    user = await core.storage.users.get(user_id)
    if user is None or user.state == "deleted":
        raise UserError("That user no longer exists.")
    return user


def _terms(core: Core, target: User, days: int) -> tuple[str, datetime]:
    role = target.role if target.role in ROLES else core.settings.access.default_role
    return role, core.now() + timedelta(days=days)


async def approve(core: Core, admin: User, target: User, days: int) -> str:
    role, expires = _terms(core, target, days)
    await core.storage.user_admin.set_access(target.id, role=role, state="active", expires_at=expires)
    return await _approved(core, admin, target, days, role, expires)


async def approve_pending(core: Core, admin: User, target: User, days: int) -> str | None:
    """The approval request's decision, taken once: None when the user no longer waits (another press or
    another admin decided first)."""
    role, expires = _terms(core, target, days)
    if not await core.storage.user_admin.decide_pending(target.id, state="active", role=role, expires_at=expires):
        return None
    return await _approved(core, admin, target, days, role, expires)


async def _approved(core: Core, admin: User, target: User, days: int, role: str, expires: datetime) -> str:
    await core.audit(admin, "activate", target.identity, "ok", days=days, role=role)
    await core.notify_user(target, Reply(title="Access approved",
                                         text=f"An admin gave you {role} access for {days} days "
                                              f"(until {expires:%Y-%m-%d}). Try /signal BTC/USDT 1h."),
                           "access_decision")
    return f"{target.identity} is {role} until {expires:%Y-%m-%d %H:%M} UTC."


@registry.button("ap", permission=ADMIN)
async def approve_button(core: Core, press: Press) -> list[Reply]:
    if len(press.args) != 2 or ascii_int(press.args[1]) is None:
        return [Reply(notice="This button is not valid.")]
    target = await _target_by_db_id(core, press.args[0])
    days = parse_int(press.args[1], "days", 1, MAX_DAYS)
    done = await approve_pending(core, press.user, target, days)
    if done is None:
        return already_done()
    return [Reply(title="Approved", text=done, edit=True, notice="Approved")]


@registry.button("ac", permission=ADMIN)
async def approve_custom_button(core: Core, press: Press) -> list[Reply]:
    target = await _target_by_db_id(core, press.args[0] if press.args else "")
    await core.storage.flows.start(press.user.id, press.ctx.chat_key, "approve_days", {"user_id": target.id})
    return [Reply(text=f"For how many days should {target.identity} get access? Type a number (1-{MAX_DAYS}), "
                       "or /cancel.", buttons=[[core.button("Cancel", "cx")]], notice="How many days?")]


@registry.flow("approve_days")
async def continue_approve_days(core: Core, req: Request, flow: Flow) -> list[Reply]:
    state = flow.state
    if req.user.role != "admin":
        raise Refused("Approving users is for admins only.", reason=f"role {req.user.role}")
    days = parse_int(req.text.strip(), "days", 1, MAX_DAYS, "a number of days, or /cancel")
    # The same answer typed (or delivered) twice: only the message that consumes the question acts.
    if await core.storage.flows.take(req.user.id, req.ctx.chat_key, "approve_days") is None:
        return [Reply(text=ALREADY_DONE)]
    target = await core.storage.users.get(int(state["user_id"]))
    if target is None:
        raise UserError("That user no longer exists.")
    done = await approve_pending(core, req.user, target, days)
    return [Reply(text=ALREADY_DONE) if done is None else Reply(title="Approved", text=done)]


@registry.button("rj", permission=ADMIN)
async def reject_button(core: Core, press: Press) -> list[Reply]:
    target = await _target_by_db_id(core, press.args[0] if press.args else "")
    await _guard_last_admin(core, target, "rejecting them")
    if not await core.storage.user_admin.decide_pending(target.id, state="disabled"):
        return already_done()
    await core.audit(press.user, "reject", target.identity, "ok")
    await core.notify_user(target, Reply(title="Access not granted",
                                         text="An admin declined your access request. Send /contact with a "
                                              "message if you think this is a mistake."), "access_decision")
    return [Reply(title="Rejected", text=f"{target.identity} was rejected.", edit=True, notice="Rejected")]


# ---- the menu -------------------------------------------------------------------------------------------

MENU = [("👥 Users", "users"), ("⏳ Pending", "pending"), ("📈 All tips", "allsignals"),
        ("🧾 Activity", "activity"), ("✉️ Inbox", "inbox"), ("📊 Stats", "stats"), ("🩺 Health", "health")]


@registry.command("admin", "/admin", "the admin menu", permission=ADMIN, group="Admin")
async def admin_menu(core: Core, req: Request) -> list[Reply]:
    rows = [[core.button(label, "am", key) for label, key in MENU[i:i + 3]] for i in range(0, len(MENU), 3)]
    open_msgs = await core.storage.messages.open_count()
    pending = (await core.storage.user_admin.list(role="pending", state="active", limit=1))[1]
    text = (f"{pending} user(s) waiting for approval · {open_msgs} unanswered message(s).\n"
            "Commands: /users /user /grant /activate /deactivate /deluser /allsignals /activity /broadcast "
            "/inbox /reply /stats /health")
    return [Reply(title="Admin", text=text, buttons=rows)]


@registry.button("am", permission=ADMIN)
async def admin_menu_button(core: Core, press: Press) -> list[Reply]:
    key = press.args[0] if press.args else ""
    req = Request(ctx=press.ctx, user=press.user, args=[], text="")
    if key == "users":
        return [await users_page(core, 1, None, None)]
    if key == "pending":
        return [await users_page(core, 1, "pending", "active")]
    if key == "allsignals":
        return [await allsignals_page(core, press.user, 1, None, None)]
    if key == "activity":
        return [await activity_page(core, press.user, None, 1)]
    if key == "inbox":
        return await inbox(core, req)
    if key == "stats":
        return await stats(core, req)
    if key == "health":
        return await health(core, req)
    return [Reply(notice="This button is not valid.")]


# ---- users ----------------------------------------------------------------------------------------------

USERS_USAGE = "/users [role=admin|trader|viewer|pending] [state=active|disabled|expired] [PAGE]"


async def users_page(core: Core, page: int, role: str | None, state: str | None) -> Reply:
    listing, total = await core.storage.user_admin.list(role, state, limit=PAGE, offset=(page - 1) * PAGE)
    pages = max(1, -(-total // PAGE))
    if not listing:
        return Reply(text="No users match." if total == 0 else f"No page {page}; there are {pages}.")
    lines = [describe_user(core, u) for u in listing]
    lines.append(f"\nPage {page} of {pages} · /user ID for details")
    nav = []
    if page > 1:
        nav.append(core.button("‹ Prev", "us", page - 1, role or "-", state or "-"))
    if page < pages:
        nav.append(core.button("Next ›", "us", page + 1, role or "-", state or "-"))
    flt = " ".join(f for f in (role and f"role={role}", state and f"state={state}") if f)
    return Reply(title=f"Users ({total}){' · ' + flt if flt else ''}", text="\n".join(lines),
                 buttons=[nav] if nav else [])


@registry.command("users", USERS_USAGE, "list users, paged and filtered", permission=ADMIN, group="Admin")
async def users_cmd(core: Core, req: Request) -> list[Reply]:
    positional, pairs = split_key_values(req.args, USERS_USAGE)
    role, state = pairs.pop("role", None), pairs.pop("state", None)
    if pairs:
        raise UserError(f"Unknown filter {shorten(next(iter(pairs)))!r}.", USERS_USAGE)
    if role is not None and role not in (*ROLES, "pending"):
        raise UserError(f"Unknown role {shorten(role)!r}.", USERS_USAGE)
    if state is not None and state not in STATES:
        raise UserError(f"Unknown state {shorten(state)!r}.", USERS_USAGE)
    if state == "pending":
        role, state = "pending", "active"
    if len(positional) > 1:
        raise UserError("Give at most a page number.", USERS_USAGE)
    page = parse_page(positional[0], USERS_USAGE) if positional else 1
    return [await users_page(core, page, role, state)]


@registry.button("us", permission=ADMIN)
async def users_page_button(core: Core, press: Press) -> list[Reply]:
    page = ascii_int(press.args[0], 1) if len(press.args) == 3 else None
    if page is None:
        return [Reply(notice="This button is not valid.")]
    role = None if press.args[1] == "-" else press.args[1]
    state = None if press.args[2] == "-" else press.args[2]
    reply = await users_page(core, page, role, state)
    reply.edit = True
    return [reply]


@registry.command("user", "/user ID", "one user's details, with actions", permission=ADMIN, group="Admin")
async def user_cmd(core: Core, req: Request) -> list[Reply]:
    if len(req.args) != 1:
        raise UserError("Name one user.", "/user ID")
    target = await core.resolve_user(req.user, req.args[0], "/user ID")
    tips = await core.storage.signals.count_for_user(target.id)
    lines = [
        describe_user(core, target),
        f"registered {local_time(target.created_at)} · last seen {local_time(target.last_seen_at)}",
        f"tips: {tips}",
    ]
    buttons = [
        [core.button(f"Make {r}", "ug", target.id, r) for r in ROLES if r != target.role],
        [core.button("+30 days", "ua", target.id, 30), core.button("Deactivate", "ud", target.id),
         core.button("Delete…", "ux", target.id)],
    ]
    return [Reply(title=f"User {target.identity}", text="\n".join(lines), buttons=buttons)]


async def grant(core: Core, admin: User, target: User, role: str) -> str:
    if role not in ROLES:
        raise UserError(f"Unknown role {shorten(role)!r}; roles are {', '.join(ROLES)}.", "/grant ID ROLE")
    if role == target.role:
        return f"{target.identity} already is {role}."
    if target.role == "admin":
        await _guard_last_admin(core, target, f"making them {role}")
    await core.storage.user_admin.set_access(target.id, role=role,
                                              state="active" if target.role == "pending" else None)
    await core.audit(admin, "grant", target.identity, "ok", role=role, previous=target.role)
    await core.notify_user(target, Reply(text=f"An admin changed your role to {role}."), "access_decision")
    return f"{target.identity} is now {role}."


@registry.command("grant", "/grant ID ROLE", "set a user's role (admin, trader, viewer)", permission=ADMIN,
                  group="Admin")
async def grant_cmd(core: Core, req: Request) -> list[Reply]:
    if len(req.args) != 2:
        raise UserError("Name a user and a role.", "/grant ID ROLE")
    target = await core.resolve_user(req.user, req.args[0], "/grant ID ROLE")
    return [Reply(text=await grant(core, req.user, target, req.args[1].lower()))]


@registry.button("ug", permission=ADMIN)
async def grant_button(core: Core, press: Press) -> list[Reply]:
    target = await _target_by_db_id(core, press.args[0] if press.args else "")
    role = press.args[1] if len(press.args) > 1 else ""
    text = await grant(core, press.user, target, role)
    return [Reply(text=text, notice=text)]


ACTIVATE_USAGE = f"/activate ID DAYS (1-{MAX_DAYS}, or forever)"


@registry.command("activate", ACTIVATE_USAGE, "give a user access for DAYS days", permission=ADMIN,
                  group="Admin")
async def activate_cmd(core: Core, req: Request) -> list[Reply]:
    if len(req.args) != 2:
        raise UserError("Name a user and a number of days.", ACTIVATE_USAGE)
    target = await core.resolve_user(req.user, req.args[0], ACTIVATE_USAGE)
    if req.args[1].lower() == "forever":
        role = target.role if target.role in ROLES else core.settings.access.default_role
        await core.storage.user_admin.set_access(target.id, role=role, state="active", expires_at=None)
        await core.audit(req.user, "activate", target.identity, "ok", days="forever", role=role)
        await core.notify_user(target, Reply(text=f"An admin gave you {role} access with no expiry."),
                               "access_decision")
        return [Reply(text=f"{target.identity} is {role} with no expiry.")]
    days = parse_int(req.args[1], "DAYS", 1, MAX_DAYS, ACTIVATE_USAGE)
    return [Reply(text=await approve(core, req.user, target, days))]


@registry.button("ua", permission=ADMIN)
async def activate_button(core: Core, press: Press) -> list[Reply]:
    target = await _target_by_db_id(core, press.args[0] if press.args else "")
    extra = ascii_int(press.args[1], 1, MAX_DAYS) if len(press.args) == 2 else None
    if extra is None:
        return [Reply(notice="This button is not valid.")]
    base = max(core.now(), target.expires_at or core.now())
    days = extra + max(0, (base - core.now()).days)  # extend from the current expiry
    text = await approve(core, press.user, target, days)
    return [Reply(text=text, notice="Extended")]


async def deactivate(core: Core, admin: User, target: User) -> str:
    if target.id == admin.id:
        raise Refused("You cannot deactivate yourself.", reason="self")
    await _guard_last_admin(core, target, "deactivating them")
    await core.storage.user_admin.set_access(target.id, state="disabled")
    await core.audit(admin, "deactivate", target.identity, "ok")
    await core.notify_user(target, Reply(text="An admin disabled your access. Send /contact with a message "
                                              "to reach an admin."), "access_decision")
    return f"{target.identity} is disabled."


@registry.command("deactivate", "/deactivate ID", "disable a user", permission=ADMIN, group="Admin")
async def deactivate_cmd(core: Core, req: Request) -> list[Reply]:
    if len(req.args) != 1:
        raise UserError("Name one user.", "/deactivate ID")
    target = await core.resolve_user(req.user, req.args[0], "/deactivate ID")
    return [Reply(text=await deactivate(core, req.user, target))]


@registry.button("ud", permission=ADMIN)
async def deactivate_button(core: Core, press: Press) -> list[Reply]:
    target = await _target_by_db_id(core, press.args[0] if press.args else "")
    text = await deactivate(core, press.user, target)
    return [Reply(text=text, notice=text)]


DELUSER_USAGE = "/deluser ID [with-signals]"


async def _confirm_delete(core: Core, admin: User, chat_key: str, target: User,
                          with_signals: bool) -> Reply:
    if target.id == admin.id:
        raise Refused("Use /forgetme to delete your own account.", reason="self")
    await _guard_last_admin(core, target, "deleting them")
    tips = await core.storage.signals.count_for_user(target.id)
    what = f"and their {tips} tip(s)" if with_signals else f"(their {tips} tip(s) are kept, anonymised)"
    nonce = await ask_confirmation(core, admin.id, chat_key, "deluser")
    return Reply(title="Delete user?", text=f"Delete {target.label} {what}? This cannot be undone.",
                 buttons=[[core.button("Delete", "dx", target.id, int(with_signals), nonce),
                           core.button("Cancel", "cx")]])


@registry.command("deluser", DELUSER_USAGE, "delete a user (asks to confirm)", permission=ADMIN, group="Admin")
async def deluser_cmd(core: Core, req: Request) -> list[Reply]:
    if not 1 <= len(req.args) <= 2 or (len(req.args) == 2 and req.args[1].lower() != "with-signals"):
        raise UserError("Name one user, optionally followed by with-signals.", DELUSER_USAGE)
    target = await core.resolve_user(req.user, req.args[0], DELUSER_USAGE)
    return [await _confirm_delete(core, req.user, req.ctx.chat_key, target, len(req.args) == 2)]


@registry.button("ux", permission=ADMIN)
async def deluser_button(core: Core, press: Press) -> list[Reply]:
    target = await _target_by_db_id(core, press.args[0] if press.args else "")
    return [await _confirm_delete(core, press.user, press.ctx.chat_key, target, False)]


@registry.button("dx", permission=ADMIN)
async def deluser_confirm(core: Core, press: Press) -> list[Reply]:
    if len(press.args) != 3 or press.args[1] not in ("0", "1"):
        return [Reply(notice="This button is not valid.")]
    target = await _target_by_db_id(core, press.args[0])
    if target.id == press.user.id:
        raise Refused("Use /forgetme to delete your own account.", reason="self")
    await _guard_last_admin(core, target, "deleting them")
    if await take_confirmation(core, press, "deluser") is None:
        return already_done()
    identity = target.identity
    if press.args[1] == "1":
        counts = await core.storage.user_admin.delete(target)
        await core.audit(press.user, "deluser", identity, "ok", with_signals=True, **counts)
        text = f"Deleted {identity} with {counts['signals']} tip(s)."
    else:
        await core.storage.user_admin.tombstone(target)
        await core.audit(press.user, "deluser", identity, "ok", with_signals=False)
        text = f"Deleted {identity}; their tips are kept as deleted:{target.id}."
    return [Reply(text=text, edit=True, notice="Deleted")]


# ---- tips, activity --------------------------------------------------------------------------------------

ALLSIGNALS_USAGE = "/allsignals [symbol=BTC/USDT] [user=ID] [PAGE]"


async def allsignals_page(core: Core, admin: User, page: int, symbol: str | None,
                          user_id: int | None) -> Reply:
    rows, total = await core.storage.signals.search(symbol=symbol, user_id=user_id, limit=PAGE,
                                                     offset=(page - 1) * PAGE)
    pages = max(1, -(-total // PAGE))
    if not rows:
        return Reply(text="No tips match.")
    tz = core.user_tz(admin)
    lines = [f"{cards.tip_line(sig, tz)} · {identity}" for sig, identity in rows]
    lines.append(f"\nPage {page} of {pages}")
    nav = []
    if page > 1:
        nav.append(core.button("‹ Newer", "as", page - 1, symbol or "-", user_id or "-"))
    if page < pages:
        nav.append(core.button("Older ›", "as", page + 1, symbol or "-", user_id or "-"))
    return Reply(title=f"All tips ({total})", text="\n".join(lines), buttons=[nav] if nav else [])


@registry.command("allsignals", ALLSIGNALS_USAGE, "every user's tips, paged and filtered", permission=ADMIN,
                  group="Admin")
async def allsignals_cmd(core: Core, req: Request) -> list[Reply]:
    positional, pairs = split_key_values(req.args, ALLSIGNALS_USAGE)
    symbol = parse_symbol(pairs.pop("symbol"), ALLSIGNALS_USAGE) if "symbol" in pairs else None
    user_id = None
    if "user" in pairs:
        user_id = (await core.resolve_user(req.user, pairs.pop("user"), ALLSIGNALS_USAGE)).id
    if pairs:
        raise UserError(f"Unknown filter {shorten(next(iter(pairs)))!r}.", ALLSIGNALS_USAGE)
    if len(positional) > 1:
        raise UserError("Give at most a page number.", ALLSIGNALS_USAGE)
    page = parse_page(positional[0], ALLSIGNALS_USAGE) if positional else 1
    return [await allsignals_page(core, req.user, page, symbol, user_id)]


@registry.button("as", permission=ADMIN)
async def allsignals_button(core: Core, press: Press) -> list[Reply]:
    page = ascii_int(press.args[0], 1) if len(press.args) == 3 else None
    if page is None:
        return [Reply(notice="This button is not valid.")]
    symbol = None if press.args[1] == "-" else press.args[1]
    user_id = None if press.args[2] == "-" else ascii_int(press.args[2], 1)
    reply = await allsignals_page(core, press.user, page, symbol, user_id)
    reply.edit = True
    return [reply]


ACTIVITY_USAGE = "/activity [ID] [PAGE]"


async def activity_page(core: Core, admin: User, about: str | None, page: int) -> Reply:
    entries = await core.storage.audit.recent(about, limit=PAGE, offset=(page - 1) * PAGE)
    total = await core.storage.audit.count(about)
    if not entries:
        return Reply(text="The audit log is empty." if not about else f"Nothing in the audit log about {about}.")
    tz = core.user_tz(admin)
    lines = []
    for e in entries:
        detail = ", ".join(f"{k}={v}" for k, v in e.detail.items())
        target = f" → {e.target}" if e.target else ""
        lines.append(f"{local_time(e.created_at, tz)} · {e.actor} · {e.action}{target} · {e.result}"
                     f"{' · ' + shorten(detail, 80) if detail else ''}")
    pages = max(1, -(-total // PAGE))
    lines.append(f"\nPage {page} of {pages}")
    nav = []
    if page < pages:
        who = await core.storage.users.by_identity(about) if about else None
        nav.append(core.button("Older ›", "av", page + 1, who.id if who else "-"))
    return Reply(title=f"Audit log{' · ' + about if about else ''}", text="\n".join(lines),
                 buttons=[nav] if nav else [])


@registry.command("activity", ACTIVITY_USAGE, "the audit log: admin actions and refusals", permission=ADMIN,
                  group="Admin")
async def activity_cmd(core: Core, req: Request) -> list[Reply]:
    about, page = None, 1
    args = list(req.args)
    if len(args) == 2:
        page = parse_page(args.pop(), ACTIVITY_USAGE)
    if len(args) > 1:
        raise UserError("Name at most one user and a page.", ACTIVITY_USAGE)
    if args:
        if len(req.args) == 1 and ascii_int(args[0], 1, 999) is not None:
            page = int(args[0])  # a small bare number is a page
        else:
            about = (await core.resolve_user(req.user, args[0], ACTIVITY_USAGE)).identity
    return [await activity_page(core, req.user, about, page)]


@registry.button("av", permission=ADMIN)
async def activity_button(core: Core, press: Press) -> list[Reply]:
    page = ascii_int(press.args[0], 1) if len(press.args) == 2 else None
    if page is None:
        return [Reply(notice="This button is not valid.")]
    # The button names the user by database id: an identity's ":" is the callback separator.
    about = None if press.args[1] == "-" else (await _target_by_db_id(core, press.args[1])).identity
    reply = await activity_page(core, press.user, about, page)
    reply.edit = True
    return [reply]


# ---- broadcast, inbox, reply -----------------------------------------------------------------------------

BROADCAST_USAGE = "/broadcast TEXT"
MAX_BROADCAST = 900


@registry.command("broadcast", BROADCAST_USAGE, "message every active user (asks to confirm)", permission=ADMIN,
                  group="Admin")
async def broadcast_cmd(core: Core, req: Request) -> list[Reply]:
    text = req.text.partition(" ")[2].strip()
    if not text:
        raise UserError("Write the message after the command.", BROADCAST_USAGE)
    if len(text) > MAX_BROADCAST:
        raise UserError(f"A broadcast is at most {MAX_BROADCAST} characters.", BROADCAST_USAGE)
    recipients = await core.storage.user_admin.active_users()
    nonce = await ask_confirmation(core, req.user.id, req.ctx.chat_key, "broadcast", {"text": text})
    return [Reply(title="Send this broadcast?",
                  text=f"To {len(recipients)} active user(s):\n\n{text}",
                  buttons=[[core.button("Confirm", "bc", nonce), core.button("Cancel", "cx")]])]


@registry.button("bc", permission=ADMIN)
async def broadcast_confirm(core: Core, press: Press) -> list[Reply]:
    state = await take_confirmation(core, press, "broadcast")
    if state is None:
        return already_done()
    text, nonce = str(state["text"]), str(state["nonce"])
    recipients = await core.storage.user_admin.active_users()
    payload = Reply(title="📣 Announcement", text=text).model_dump(mode="json")
    # Every copy and the audit row in one transaction: a crash mid-way queues none of them, never some users
    # unrecorded. The dedupe key makes a copy of this very broadcast impossible to queue twice.
    alerts: list[AlertSpec] = [(u.platform, u.platform_user_id, "broadcast", payload, f"broadcast:{nonce}:{u.id}")
                               for u in recipients]
    await core.storage.audit.record_with_alerts(press.user, "broadcast", None, "ok", alerts,
                                                 recipients=len(recipients), chars=len(text))
    wake = getattr(core.outbox, "notify", None)  # AlertOutbox wakes its drainers now (they also poll)
    if wake is not None:
        for platform in {u.platform for u in recipients}:
            wake(platform)
    return [Reply(text=f"Broadcast queued for {len(recipients)} user(s).", edit=True, notice="Queued")]


@registry.command("inbox", "/inbox", "messages users sent with /contact", permission=ADMIN, group="Admin")
async def inbox(core: Core, req: Request) -> list[Reply]:
    items = await core.storage.messages.inbox()
    if not items:
        return [Reply(text="The inbox is empty.")]
    tz = core.user_tz(req.user)
    lines = []
    for m in items:
        state = "open" if m.replied_at is None else "answered"
        lines.append(f"#{m.id} · {local_time(m.created_at, tz)} · {m.identity} · {state}\n  {m.text}")
        if m.reply_text:
            lines.append(f"  ↳ {m.reply_text}")
    lines.append("\nAnswer with /reply ID TEXT")
    return [Reply(title=f"Inbox ({await core.storage.messages.open_count()} open)", text="\n".join(lines))]


REPLY_USAGE = "/reply ID TEXT"


@registry.command("reply", REPLY_USAGE, "answer a /contact message", permission=ADMIN, group="Admin")
async def reply_cmd(core: Core, req: Request) -> list[Reply]:
    if len(req.args) < 2:
        raise UserError("Give the message id and your answer.", REPLY_USAGE)
    raw = str(parse_id(req.args[0], "message", REPLY_USAGE, " (see /inbox)"))
    message = await core.storage.messages.get(int(raw))
    if message is None:
        raise UserError(f"No message #{raw}. See /inbox.", REPLY_USAGE)
    text = req.text.split(None, 2)[2].strip()
    if len(text) > MAX_BROADCAST:
        raise UserError(f"An answer is at most {MAX_BROADCAST} characters.", REPLY_USAGE)
    user = await core.storage.users.get(message.user_id)
    if user is None:
        raise UserError("That user no longer exists.")
    await core.storage.messages.reply(message.id, req.user.id, text)
    await core.notify_user(user, Reply(title="✉️ An admin answered",
                                       text=f"You wrote: {shorten(message.text, 200)}\n\n{text}"), "admin_reply")
    await core.audit(req.user, "reply", user.identity, "ok", message=message.id)
    return [Reply(text=f"Answer to #{message.id} queued for {user.identity}.")]


# ---- stats, health ---------------------------------------------------------------------------------------

@registry.command("stats", "/stats", "users, tips and activity figures", permission=ADMIN, group="Admin")
async def stats(core: Core, req: Request) -> list[Reply]:
    repo = core.storage.user_admin
    roles = await repo.counts_by("role")
    recs = await repo.counts_by("recommendation", "signals")
    statuses = await repo.counts_by("status", "signals")
    today = core.now().replace(hour=0, minute=0, second=0, microsecond=0)
    lines = [
        "Users by role: " + (", ".join(f"{k} {v}" for k, v in roles.items()) or "none"),
        "Tips by type: " + (", ".join(f"{k} {v}" for k, v in recs.items()) or "none"),
        "Tips by status: " + (", ".join(f"{k} {v}" for k, v in statuses.items()) or "none"),
        f"Activity today (UTC): {await repo.activity_since(today)} events",
        f"Open messages: {await core.storage.messages.open_count()}",
    ]
    for extra in core.stats_sections:
        lines.extend(await extra())
    return [Reply(title="Stats", text="\n".join(lines))]


def sentiment_health(core: Core) -> list[str]:
    """The active model beside the one configured, each news source's state, and the cache."""
    sentiment = core.services.sentiment
    model = getattr(sentiment, "model", None)
    lines = [f"Sentiment model: {getattr(model, 'name', 'unknown')} (sentiment.model: "
             f"{core.settings.sentiment.model})"]
    status = getattr(sentiment, "status", None)
    if status is not None:
        sources = status()
        lines.append("News sources:" if sources else "News sources: none configured")
        lines += [f"  {name}: {line}" for name, line in sources.items()]
    cache = getattr(sentiment, "cache", None)
    if cache is not None:
        cache_status = getattr(cache, "status", None)
        lines.append(f"Cache: {cache_status() if cache_status else cache.name}")
    return lines


@registry.command("health", "/health", "storage, data source, model, uptime", permission=ADMIN, group="Admin")
async def health(core: Core, req: Request) -> list[Reply]:
    lines = []
    try:
        version = await core.storage.db.schema_version()
        users = await core.storage.users.count()
        lines.append(f"Storage: ok · SQLite {core.storage.db.path} · schema v{version} · {users} users")
    except Exception as exc:  # health must report, not fail
        lines.append(f"Storage: ERROR {shorten(str(exc), 80)}")
    market = core.services.market
    lines.append(f"Data source: {market.name}{' (DEMO)' if market.demo else ''}")
    try:
        for key, value in market.status().items():
            lines.append(f"  {key}: {value}")
    except Exception as exc:
        lines.append(f"  status unavailable: {shorten(str(exc), 80)}")
    lines.extend(sentiment_health(core))
    uptime = core.now() - core.started_at
    lines.append(f"Uptime: {str(uptime).split('.')[0]} · version {VERSION} · Python {platform.python_version()}")
    for extra in core.health_sections:
        lines.extend(await extra())
    return [Reply(title="Health", text="\n".join(lines))]

