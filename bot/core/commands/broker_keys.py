"""/setkeys BROKER (private chat only: asks for the key, then the secret), /keys, /delkeys BROKER."""

from __future__ import annotations

from bot.core.kernel import Core
from bot.core.permissions import Permission
from bot.core.registry import Request, registry
from bot.core.replies import Reply
from bot.core.signature import Arg, Kind
from bot.core.usecases import broker_keys
from bot.core.views import broker_keys as views
from storage.models import Flow

# A WORD, not a CHOICE: a parse error would echo the word, and a user may paste a key where the broker goes;
# the handler answers an unknown word without repeating it, and deletes that message.
BROKER_ARG = Arg("broker", Kind.WORD, "the broker whose account your orders go to: alpaca or ccxt", required=True,
                 parser=str.lower, metavar="|".join(broker_keys.KEY_BROKERS), example="alpaca")


@registry.command("setkeys", "store your own broker API keys, encrypted (private chat)", args=(BROKER_ARG,),
                  permission=Permission.TRADE, group="Positions", private=True, ignore_extra=True)
async def setkeys(core: Core, req: Request) -> list[Reply]:
    broker = req.values["broker"]
    if len(req.args) > 1 or broker not in broker_keys.KEY_BROKERS:
        return [views.keys_in_command()]  # keys typed into the command: that message goes, nothing is kept
    await broker_keys.start(core, req.user, req.ctx, broker)
    return [views.ask_key(broker)]


@registry.flow(broker_keys.FLOW)
async def setkeys_answer(core: Core, req: Request, flow: Flow) -> list[Reply]:
    return [views.answered(await broker_keys.receive(core, req.user, req.ctx, flow, req.text))]


@registry.command("keys", "your stored broker keys, masked", permission=Permission.SIGNALS, group="Positions",
                  private=True)
async def keys(core: Core, req: Request) -> list[Reply]:
    return [views.listing(await broker_keys.listing(core, req.user, req.ctx))]


@registry.command("delkeys", "delete your stored keys of a broker", args=(BROKER_ARG,),
                  permission=Permission.SIGNALS, group="Positions", private=True)
async def delkeys(core: Core, req: Request) -> list[Reply]:
    broker = req.values["broker"]
    if broker not in broker_keys.KEY_BROKERS:
        return [views.unknown_broker()]
    return [views.deleted(broker, await broker_keys.delete(core, req.user, broker))]
