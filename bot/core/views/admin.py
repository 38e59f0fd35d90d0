"""Admin replies: the menu, users and their details, the answers to access changes and deletions, every
user's tips, the audit log, the inbox and broadcasts, /stats and /health; and the messages between users and
admins (/contact, answers, announcements).

Button actions and their argument formats are stored in chats as signed callback data: they never change.
"""

from __future__ import annotations

from bot.core import cards
from bot.core.args import shorten
from bot.core.formatting import local_time
from bot.core.kernel import Core
from bot.core.replies import Button, Prompt, Reply
from bot.core.usecases.admin_stats import AdminSummary, Health, Stats
from bot.core.usecases.messages import Answer, BroadcastDraft, ContactSent, Inbox
from bot.core.usecases.users import (
    ROLES,
    ActivityPage,
    AllTipsPage,
    Approval,
    Deletion,
    DeletionQuestion,
    RoleChange,
    UserDetails,
    UsersPage,
    UserStatus,
)
from storage.models import User

NOT_VALID = "This button is not valid."
MENU = [("👥 Users", "users"), ("⏳ Pending", "pending"), ("📈 All tips", "allsignals"),
        ("🧾 Activity", "activity"), ("✉️ Inbox", "inbox"), ("📊 Stats", "stats"), ("🩺 Health", "health")]


def not_valid() -> Reply:
    return Reply(notice=NOT_VALID)


def user_line(status: UserStatus) -> str:
    user = status.user
    expiry = f"until {user.expires_at:%Y-%m-%d}" if user.expires_at else "no expiry"
    return f"{user.label} · {user.role} · {status.access.value} · {expiry}"


# ---- the menu ---------------------------------------------------------------------------------------------

def admin_menu(core: Core, summary: AdminSummary) -> Reply:
    rows = [[core.button(label, "am", key) for label, key in MENU[i:i + 3]] for i in range(0, len(MENU), 3)]
    text = (f"{summary.pending} user(s) waiting for approval · {summary.open_messages} unanswered message(s).\n"
            "Commands: /users /user /grant /activate /deactivate /deluser /allsignals /activity /broadcast "
            "/inbox /reply /stats /health")
    return Reply(title="Admin", text=text, buttons=rows)


# ---- users -----------------------------------------------------------------------------------------------

def users_reply(core: Core, listing: UsersPage, *, edit: bool = False) -> Reply:
    page, role, state = listing.page, listing.role, listing.state
    if not page.items:
        text = "No users match." if page.total == 0 else f"No page {page.number}; there are {page.pages}."
        return Reply(text=text, edit=edit)
    lines = [user_line(s) for s in page.items]
    lines.append(f"\nPage {page.number} of {page.pages} · /user ID for details")
    nav: list[Button] = []
    if page.has_prev:
        nav.append(core.button("‹ Prev", "us", page.number - 1, role or "-", state or "-"))
    if page.has_next:
        nav.append(core.button("Next ›", "us", page.number + 1, role or "-", state or "-"))
    shown = " ".join(f for f in (role and f"role={role}", state and f"state={state}") if f)
    return Reply(title=f"Users ({page.total}){' · ' + shown if shown else ''}", text="\n".join(lines),
                 buttons=[nav] if nav else [], edit=edit)


def user_reply(core: Core, details: UserDetails) -> Reply:
    user = details.status.user
    lines = [
        user_line(details.status),
        f"registered {local_time(user.created_at)} · last seen {local_time(user.last_seen_at)}",
        f"tips: {details.tips}",
    ]
    buttons = [
        [core.button(f"Make {r}", "ug", user.id, r) for r in ROLES if r != user.role],
        [core.button("+30 days", "ua", user.id, 30), core.button("Deactivate", "ud", user.id),
         core.button("Delete…", "ux", user.id)],
    ]
    return Reply(title=f"User {user.identity}", text="\n".join(lines), buttons=buttons)


# ---- answers to access changes ------------------------------------------------------------------------------

def approval_text(approval: Approval) -> str:
    who = approval.target.identity
    if approval.expires_at is None:
        return f"{who} is {approval.role} with no expiry."
    return f"{who} is {approval.role} until {approval.expires_at:%Y-%m-%d %H:%M} UTC."


def approved(approval: Approval, *, edit: bool = False, notice: str | None = None) -> Reply:
    return Reply(title="Approved", text=approval_text(approval), edit=edit, notice=notice)


def custom_days_question(core: Core, target: User, max_days: int) -> Reply:
    return Reply(text=f"For how many days should {target.identity} get access? Type a number (1-{max_days}), "
                      "or /cancel.", buttons=[[core.button("Cancel", "cx")]], notice="How many days?",
                 prompt=Prompt(label="Days of access", placeholder=f"1-{max_days}"))


def rejected(target: User) -> Reply:
    return Reply(title="Rejected", text=f"{target.identity} was rejected.", edit=True, notice="Rejected")


def role_change_text(change: RoleChange) -> str:
    if not change.changed:
        return f"{change.target.identity} already is {change.role}."
    return f"{change.target.identity} is now {change.role}."


def deactivated_text(target: User) -> str:
    return f"{target.identity} is disabled."


def deletion_question(core: Core, question: DeletionQuestion, nonce: str) -> Reply:
    target, tips = question.target, question.tips
    what = f"and their {tips} tip(s)" if question.with_signals else f"(their {tips} tip(s) are kept, anonymised)"
    return Reply(title="Delete user?", text=f"Delete {target.label} {what}? This cannot be undone.",
                 buttons=[[core.button("Delete", "dx", target.id, int(question.with_signals), nonce),
                           core.button("Cancel", "cx")]])


def deleted(deletion: Deletion) -> Reply:
    if deletion.with_signals:
        text = f"Deleted {deletion.identity} with {deletion.tips} tip(s)."
    else:
        text = f"Deleted {deletion.identity}; their tips are kept as {deletion.tombstone}."
    return Reply(text=text, edit=True, notice="Deleted")


# ---- every user's tips, the audit log ----------------------------------------------------------------------

def all_tips_reply(core: Core, listing: AllTipsPage, admin: User, *, edit: bool = False) -> Reply:
    page = listing.page
    if not page.items:
        return Reply(text="No tips match.", edit=edit)
    tz = core.user_tz(admin)
    lines = [f"{cards.tip_line(signal, tz)} · {owner}" for signal, owner in page.items]
    lines.append(f"\nPage {page.number} of {page.pages}")
    symbol, user_id = listing.symbol or "-", listing.user_id or "-"
    nav: list[Button] = []
    if page.has_prev:
        nav.append(core.button("‹ Newer", "as", page.number - 1, symbol, user_id))
    if page.has_next:
        nav.append(core.button("Older ›", "as", page.number + 1, symbol, user_id))
    return Reply(title=f"All tips ({page.total})", text="\n".join(lines), buttons=[nav] if nav else [],
                 edit=edit)


def activity_reply(core: Core, listing: ActivityPage, admin: User, *, edit: bool = False) -> Reply:
    page, about = listing.page, listing.about
    if not page.items:
        text = "The audit log is empty." if about is None else f"Nothing in the audit log about {about.identity}."
        return Reply(text=text, edit=edit)
    tz = core.user_tz(admin)
    lines = []
    for e in page.items:
        detail = ", ".join(f"{k}={v}" for k, v in e.detail.items())
        target = f" → {e.target}" if e.target else ""
        lines.append(f"{local_time(e.created_at, tz)} · {e.actor} · {e.action}{target} · {e.result}"
                     f"{' · ' + shorten(detail, 80) if detail else ''}")
    lines.append(f"\nPage {page.number} of {page.pages}")
    nav: list[Button] = []
    if page.has_next:
        # The button names the user by database id: an identity's ":" is the callback separator.
        nav.append(core.button("Older ›", "av", page.number + 1, about.id if about is not None else "-"))
    title = f"Audit log{' · ' + about.identity if about is not None else ''}"
    return Reply(title=title, text="\n".join(lines), buttons=[nav] if nav else [], edit=edit)


# ---- messages: /contact, the inbox, answers, broadcasts -------------------------------------------------------

def contact_sent(sent: ContactSent) -> Reply:
    return Reply(text=f"Sent to the admins as message #{sent.message_id}. You will get their answer here.")


def contact_alert(sent: ContactSent) -> Reply:
    """What every admin gets for a /contact message."""
    return Reply(title=f"✉️ Message #{sent.message_id} from {sent.sender.label}",
                 text=f"{sent.text}\n\nAnswer with /reply {sent.message_id} TEXT")


def inbox_reply(core: Core, inbox: Inbox, admin: User) -> Reply:
    if not inbox.messages:
        return Reply(text="The inbox is empty.")
    tz = core.user_tz(admin)
    lines = []
    for m in inbox.messages:
        state = "open" if m.replied_at is None else "answered"
        lines.append(f"#{m.id} · {local_time(m.created_at, tz)} · {m.identity} · {state}\n  {m.text}")
        if m.reply_text:
            lines.append(f"  ↳ {m.reply_text}")
    lines.append("\nAnswer with /reply ID TEXT")
    return Reply(title=f"Inbox ({inbox.open} open)", text="\n".join(lines))


def answer_notice(answer: Answer) -> Reply:
    """What the user who wrote gets: their message (shortened) and the admin's answer."""
    return Reply(title="✉️ An admin answered", text=f"You wrote: {shorten(answer.message.text, 200)}\n\n{answer.text}")


def answer_queued(answer: Answer) -> Reply:
    return Reply(text=f"Answer to #{answer.message.id} queued for {answer.user.identity}.")


def broadcast_question(core: Core, draft: BroadcastDraft, nonce: str) -> Reply:
    return Reply(title="Send this broadcast?", text=f"To {draft.recipients} active user(s):\n\n{draft.text}",
                 buttons=[[core.button("Confirm", "bc", nonce), core.button("Cancel", "cx")]])


def announcement(text: str) -> Reply:
    """The broadcast as every active user gets it."""
    return Reply(title="📣 Announcement", text=text)


def broadcast_queued(recipients: int) -> Reply:
    return Reply(text=f"Broadcast queued for {recipients} user(s).", edit=True, notice="Queued")


# ---- stats, health ------------------------------------------------------------------------------------------

def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"


def stats_reply(stats: Stats) -> Reply:
    lines = [
        f"Users by role: {_counts(stats.roles)}",
        f"Tips by type: {_counts(stats.recommendations)}",
        f"Tips by status: {_counts(stats.statuses)}",
        f"Activity today (UTC): {stats.activity_today} events",
        f"Open messages: {stats.open_messages}",
        *stats.extra,
    ]
    return Reply(title="Stats", text="\n".join(lines))


def health_reply(health: Health) -> Reply:
    storage, market, sentiment = health.storage, health.market, health.sentiment
    if storage.error is None:
        lines = [f"Storage: ok · SQLite {storage.path} · schema v{storage.schema_version} · {storage.users} users"]
    else:
        lines = [f"Storage: ERROR {shorten(storage.error, 80)}"]
    lines.append(f"Data source: {market.name}{' (DEMO)' if market.demo else ''}")
    lines += [f"  {key}: {value}" for key, value in market.status.items()]
    if market.error is not None:
        lines.append(f"  status unavailable: {shorten(market.error, 80)}")
    lines.append(f"Sentiment model: {sentiment.model} (sentiment.model: {sentiment.configured})")
    if sentiment.sources is not None:
        lines.append("News sources:" if sentiment.sources else "News sources: none configured")
        lines += [f"  {name}: {line}" for name, line in sentiment.sources.items()]
    if sentiment.cache is not None:
        lines.append(f"Cache: {sentiment.cache}")
    lines.append(f"Uptime: {str(health.uptime).split('.')[0]} · version {health.version} · Python {health.python}")
    lines += health.extra
    return Reply(title="Health", text="\n".join(lines))
