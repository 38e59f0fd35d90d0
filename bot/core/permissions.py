"""Roles and what each may do: the one table every command and button consults."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    TRADER = "trader"
    VIEWER = "viewer"
    PENDING = "pending"


class Permission(StrEnum):
    BASIC = "basic"  # /start, /help, /cancel, /contact: anyone, even pending or expired users
    SIGNALS = "signals"  # generate and manage own tips, settings, watch and subscribe
    TRADE = "trade"  # open and close positions
    ADMIN = "admin"  # every admin command and button


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.TRADER: frozenset({Permission.BASIC, Permission.SIGNALS, Permission.TRADE}),
    Role.VIEWER: frozenset({Permission.BASIC, Permission.SIGNALS}),
    Role.PENDING: frozenset({Permission.BASIC}),
}


def allowed(role: str, permission: Permission) -> bool:
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False
