"""Users as admins manage them (SPEC §6; seed 000 §4, seed 001): approval, roles, access, deletion, the
listings admins read, and a user forgetting themselves.

Every change is written to the audit log with who, what, target and result. What the changed user is told is
the caller's to send (views/access.py renders it from the result), so these functions return data only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.access import Access, access_of
from bot.core.args import ascii_int, shorten
from bot.core.errors import Refused, UserError
from bot.core.kernel import Core
from bot.core.usecases.paging import Page
from engine.models import Signal
from storage.admin import AuditEntry
from storage.models import User

ROLES = ("admin", "trader", "viewer")  # what an admin can make a user
FILTER_ROLES = (*ROLES, "pending")  # what /users can list by
STATES = ("active", "disabled", "expired", "pending")
MAX_DAYS = 3650
PAGE_SIZE = 10
APPROVE_DAYS_FLOW = "approve_days"  # the [Approve …] question, answered by typing a number of days


@dataclass(frozen=True)
class UserStatus:
    """A user with their access at the moment they were read."""

    user: User
    access: Access


@dataclass(frozen=True)
class UsersPage:
    page: Page[UserStatus]
    role: str | None  # the filters applied, so the page's buttons keep them
    state: str | None


@dataclass(frozen=True)
class UserDetails:
    status: UserStatus
    tips: int


@dataclass(frozen=True)
class Approval:
    """Access given: for `days` days until `expires_at`, or with no expiry (both None)."""

    target: User
    role: str
    days: int | None
    expires_at: datetime | None


@dataclass(frozen=True)
class RoleChange:
    target: User
    role: str
    previous: str

    @property
    def changed(self) -> bool:
        return self.role != self.previous


@dataclass(frozen=True)
class DeletionQuestion:
    target: User
    with_signals: bool
    tips: int


@dataclass(frozen=True)
class Deletion:
    identity: str  # as it was: the row itself is gone or renamed
    with_signals: bool
    tips: int  # tips deleted with the user (with_signals), else 0
    tombstone: str | None  # what their kept tips now belong to


@dataclass(frozen=True)
class AllTipsPage:
    page: Page[tuple[Signal, str]]  # each tip with its owner's identity
    symbol: str | None
    user_id: int | None


@dataclass(frozen=True)
class ActivityPage:
    page: Page[AuditEntry]
    about: User | None


def status_of(core: Core, user: User) -> UserStatus:
    return UserStatus(user, access_of(user, core.now()))


# ---- finding the user an admin means ---------------------------------------------------------------------

async def named_user(core: Core, admin: User, who: str) -> User:
    """A user as an admin names one in a command (`telegram:222`, or a bare id on the admin's platform)."""
    return await core.resolve_user(admin, who)


async def user_by_id(core: Core, raw: str) -> User:
    """The user a button names by database id (an identity's ":" is the callback separator)."""
    user_id = ascii_int(raw, 1)
    if user_id is None:
        raise UserError("This button is not valid.")
    user = await core.storage.users.get(user_id)
    if user is None or user.state == "deleted":
        raise UserError("That user no longer exists.")
    return user


# ---- guards ----------------------------------------------------------------------------------------------

async def guard_admin_change(core: Core, target: User, action: str) -> None:
    """A configured admin changes only in config, and the last admin stays one: `action` says what would not
    happen ("deleting them")."""
    if target.role == "admin" and target.identity in core.settings.admins:
        raise Refused(f"{target.identity} is an admin by configuration (config.yaml `admins`); "
                      f"change it there.", reason="configured admin")
    if target.role == "admin" and len(await core.storage.user_admin.admins()) <= 1:
        raise Refused(f"Refused: {target.identity} is the last admin; {action} would leave no admin.",
                      reason="last admin")


def require_admin(user: User) -> None:
    """For steps that outlive the command that began them (a typed answer): the role is checked again."""
    if user.role != "admin":
        raise Refused("Approving users is for admins only.", reason=f"role {user.role}")


# ---- approval and access ---------------------------------------------------------------------------------

def _terms(core: Core, target: User, days: int) -> tuple[str, datetime]:
    role = target.role if target.role in ROLES else core.settings.access.default_role
    return role, core.now() + timedelta(days=days)


async def approve(core: Core, admin: User, target: User, days: int) -> Approval:
    """Access for `days` days from now, whatever the user's state."""
    role, expires = _terms(core, target, days)
    await core.storage.user_admin.set_access(target.id, role=role, state="active", expires_at=expires)
    return await _approved(core, admin, target, days, role, expires)


async def approve_pending(core: Core, admin: User, target: User, days: int) -> Approval | None:
    """The approval request's decision, taken once: None when the user no longer waits (another press or
    another admin decided first)."""
    role, expires = _terms(core, target, days)
    if not await core.storage.user_admin.decide_pending(target.id, state="active", role=role, expires_at=expires):
        return None
    return await _approved(core, admin, target, days, role, expires)


async def _approved(core: Core, admin: User, target: User, days: int, role: str, expires: datetime) -> Approval:
    await core.audit(admin, "activate", target.identity, "ok", days=days, role=role)
    return Approval(target, role, days, expires)


async def ask_approval_days(core: Core, admin: User, chat_key: str, target: User) -> None:
    """[Approve …]: the next number the admin types in this chat is the days of the target's access."""
    await core.storage.flows.start(admin.id, chat_key, APPROVE_DAYS_FLOW, {"user_id": target.id})


async def answer_approval_days(core: Core, admin: User, chat_key: str, user_id: int, days: int) -> Approval | None:
    """The typed answer to [Approve …]. The same answer typed (or delivered) twice acts once: only the message
    that consumes the question goes on; None for the others, and when the user no longer waits."""
    if await core.storage.flows.take(admin.id, chat_key, APPROVE_DAYS_FLOW) is None:
        return None
    target = await core.storage.users.get(user_id)
    if target is None:
        raise UserError("That user no longer exists.")
    return await approve_pending(core, admin, target, days)


async def activate_forever(core: Core, admin: User, target: User) -> Approval:
    role = target.role if target.role in ROLES else core.settings.access.default_role
    await core.storage.user_admin.set_access(target.id, role=role, state="active", expires_at=None)
    await core.audit(admin, "activate", target.identity, "ok", days="forever", role=role)
    return Approval(target, role, None, None)


async def extend(core: Core, admin: User, target: User, extra_days: int) -> Approval:
    """[+30 days]: counted from the current expiry when that is still ahead, else from now."""
    base = max(core.now(), target.expires_at or core.now())
    days = extra_days + max(0, (base - core.now()).days)
    return await approve(core, admin, target, days)


async def reject(core: Core, admin: User, target: User) -> bool:
    """Decline a waiting user, once: False when they no longer wait."""
    await guard_admin_change(core, target, "rejecting them")
    if not await core.storage.user_admin.decide_pending(target.id, state="disabled"):
        return False
    await core.audit(admin, "reject", target.identity, "ok")
    return True


async def grant(core: Core, admin: User, target: User, role: str) -> RoleChange:
    if role not in ROLES:
        raise UserError(f"Unknown role {shorten(role)!r}; roles are {', '.join(ROLES)}.")
    change = RoleChange(target, role, target.role)
    if not change.changed:
        return change
    await guard_admin_change(core, target, f"making them {role}")
    await core.storage.user_admin.set_access(target.id, role=role,
                                              state="active" if target.role == "pending" else None)
    await core.audit(admin, "grant", target.identity, "ok", role=role, previous=target.role)
    return change


async def deactivate(core: Core, admin: User, target: User) -> User:
    if target.id == admin.id:
        raise Refused("You cannot deactivate yourself.", reason="self")
    await guard_admin_change(core, target, "deactivating them")
    await core.storage.user_admin.set_access(target.id, state="disabled")
    await core.audit(admin, "deactivate", target.identity, "ok")
    return target.model_copy(update={"state": "disabled"})


# ---- deletion --------------------------------------------------------------------------------------------

async def check_deletable(core: Core, admin: User, target: User) -> None:
    if target.id == admin.id:
        raise Refused("Use /forgetme to delete your own account.", reason="self")
    await guard_admin_change(core, target, "deleting them")


async def deletion_question(core: Core, admin: User, target: User, with_signals: bool) -> DeletionQuestion:
    """What deleting the target would remove, refused now if it may not happen."""
    await check_deletable(core, admin, target)
    return DeletionQuestion(target, with_signals, await core.storage.signals.count_for_user(target.id))


async def delete_user(core: Core, admin: User, target: User, with_signals: bool) -> Deletion:
    """With signals: the user and everything of theirs. Without: their tips stay, under an anonymous
    tombstone. Either way the audit log keeps only an anonymous id of them."""
    identity = target.identity
    if with_signals:
        counts = await core.storage.user_admin.delete(target)
        await core.audit(admin, "deluser", identity, "ok", with_signals=True, **counts)
        return Deletion(identity, True, counts["signals"], None)
    await core.storage.user_admin.tombstone(target)
    await core.audit(admin, "deluser", identity, "ok", with_signals=False)
    return Deletion(identity, False, 0, f"deleted:{target.id}")


async def forget_question(core: Core, user: User) -> int:
    """/forgetme: how many tips would go with the account."""
    return await core.storage.signals.count_for_user(user.id)


async def check_forgettable(core: Core, user: User, account: str) -> None:
    """The confirmation names the account it deletes (`account`, a database id): only its owner presses it,
    and neither the last admin nor a configured one can remove themselves from chat."""
    if account != str(user.id):
        raise Refused("This button is not yours.", reason="foreign forgetme")
    if user.role == "admin" and len(await core.storage.user_admin.admins()) <= 1:
        raise Refused("You are the last admin: grant another admin first.", reason="last admin")
    if user.identity in core.settings.admins:
        raise Refused("You are an admin by configuration; remove yourself from config.yaml `admins` first.",
                      reason="configured admin")


async def forget_user(core: Core, user: User) -> None:
    """Delete the user's account and data; the audit row names nobody (their identity is not kept). Their
    open orders at their own broker accounts (/setkeys) are cancelled first: a failure there deletes nothing,
    since the keys go with the account and nobody could cancel those orders afterwards."""
    if core.trading is not None:
        await core.trading.own.cancel_orders(user)
    counts = await core.storage.user_admin.delete(user)
    await core.audit(None, "forgetme", None, "ok", **counts)


# ---- listings --------------------------------------------------------------------------------------------

async def users_page(core: Core, number: int, role: str | None = None, state: str | None = None) -> UsersPage:
    """A page of users by id, filtered by role and state; a page past the end is empty (the view says so).
    `state=pending` means users waiting for approval: the pending role, not (yet) disabled."""
    if state == "pending":
        role, state = "pending", "active"
    listing, total = await core.storage.user_admin.list(role, state, limit=PAGE_SIZE,
                                                        offset=(number - 1) * PAGE_SIZE)
    page = Page([status_of(core, u) for u in listing], number, Page.count(total, PAGE_SIZE), total)
    return UsersPage(page, role, state)


async def user_details(core: Core, target: User) -> UserDetails:
    return UserDetails(status_of(core, target), await core.storage.signals.count_for_user(target.id))


async def all_tips_page(core: Core, number: int, symbol: str | None = None,
                        user_id: int | None = None) -> AllTipsPage:
    """Every user's tips, newest first, optionally of one symbol and one user."""
    rows, total = await core.storage.signals.search(symbol=symbol, user_id=user_id, limit=PAGE_SIZE,
                                                     offset=(number - 1) * PAGE_SIZE)
    return AllTipsPage(Page(rows, number, Page.count(total, PAGE_SIZE), total), symbol, user_id)


async def activity_page(core: Core, about: User | None, number: int) -> ActivityPage:
    """The audit log, newest first: everything, or what a user did and what was done to them."""
    identity = about.identity if about is not None else None
    entries = await core.storage.audit.recent(identity, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
    total = await core.storage.audit.count(identity)
    return ActivityPage(Page(entries, number, Page.count(total, PAGE_SIZE), total), about)
