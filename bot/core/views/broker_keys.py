"""Replies of /setkeys, /keys and /delkeys. Every reply to a message that may carry a key or a secret asks the
adapter to delete that message (`delete_incoming`), and none repeats it: a key shows masked at most."""

from __future__ import annotations

from bot.core.replies import Prompt, Reply
from bot.core.usecases.broker_keys import KeyAnswer, KeyStep, StoredBroker

BROKER_NAMES = {"alpaca": "Alpaca", "ccxt": "the exchange"}
FIELDS = ["API key", "API secret"]


def _name(broker: str) -> str:
    return BROKER_NAMES.get(broker, broker)


def ask_key(broker: str) -> Reply:
    """The first question; Discord shows a form for both answers instead (never a message in the chat)."""
    return Reply(title=f"Your {_name(broker)} API keys",
                 text=f"Send your {_name(broker)} API key as a message (on Discord: press 🔑 Enter keys). I delete "
                      "each message that carries a key, encrypt it at once and never show it again. /cancel stops.",
                 prompt=Prompt(label="API key", secret_fields=FIELDS))


def keys_in_command() -> Reply:
    return Reply(text="Send /setkeys alpaca or /setkeys ccxt alone, then answer the questions; never type keys into "
                      "the command (that message is deleted).", delete_incoming=True)


def unknown_broker() -> Reply:
    return Reply(text="Name a broker: alpaca or ccxt. /keys lists yours.")


def answered(result: KeyAnswer) -> Reply:
    name = _name(result.broker)
    if result.step is KeyStep.ASK_SECRET:
        # The prompt names the field still to come: a form (Discord) goes on to it, and only while one is asked.
        return Reply(text=f"Got the key (message deleted). Now send your {name} API secret.", delete_incoming=True,
                     prompt=Prompt(label="API secret", secret_fields=FIELDS[1:]))
    if result.step is KeyStep.INVALID:
        text = "That is not a key (no spaces, at most 200 characters); send it again, or /cancel."
    elif result.step is KeyStep.STORED:
        text = (f"{name} accepted the keys: stored encrypted (key {result.masked}); your orders now go to this "
                f"account. {result.account}.")
    elif result.step is KeyStep.REFUSED:
        text = f"{name} refused these keys: {result.detail}. Nothing was stored; /setkeys {result.broker} to retry."
    else:
        text = f"Could not check the keys with {name} ({result.detail}). Nothing was stored; try again later."
    return Reply(text=text, delete_incoming=True)


def listing(found: list[StoredBroker]) -> Reply:
    if not found:
        return Reply(text="You have stored no broker keys. /setkeys alpaca (in a private chat) adds them.")
    lines = [f"{item.broker}: key {item.masked_key} (stored {item.stored_at})" for item in found]
    return Reply(title="Your broker keys", text="\n".join(lines) + "\n/delkeys BROKER removes them.")


def deleted(broker: str, done: bool) -> Reply:
    if done:
        return Reply(text=f"Your {broker} keys are deleted; your orders go through the bot's account again.")
    return Reply(text=f"You have no {broker} keys stored. /keys lists yours.")
