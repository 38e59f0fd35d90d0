"""Errors a handler raises to answer the user with one line (and the command's usage)."""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix; the message is shown as it is, with the usage when given."""

    def __init__(self, message: str, usage: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage


class Refused(Exception):
    """The user may not do this (role, ownership, rate limit). Shown and written to the activity log."""

    def __init__(self, message: str, reason: str = "refused") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
