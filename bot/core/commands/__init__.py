"""Commands, buttons and flow steps, one module per topic (parse → use case → view); importing this package
registers them all."""

from bot.core.commands import (  # noqa: F401
    account,
    admin,
    backtest,
    broker_keys,
    charts,
    follows,
    general,
    grids,
    market,
    monitoring,
    notify,
    positions,
    reports,
    settings,
    signals,
    track,
)
