"""Command and button handlers, one module per topic; importing this package registers them all."""

from bot.core.handlers import (  # noqa: F401
    account,
    admin,
    follows,
    general,
    market,
    monitoring,
    positions,
    settings,
    signals,
)
