"""Command and button handlers, one module per topic; importing this package registers them all."""

from bot.core.handlers import account, admin, follows, general, monitoring, positions, settings, signals  # noqa: F401
