"""Users' own broker keys (SPEC §8): /setkeys asks for the key and then the secret, checks the pair against the
broker and stores both encrypted; /keys lists them masked; /delkeys removes them; trading then uses the user's
own account (`OwnBrokers`).

A key or a secret is never held in clear anywhere durable, not even between the two questions: the key is
encrypted the moment it arrives and only its token waits in the flow's state; the pair is decrypted in memory
only to check it and to build the user's broker client. Nothing here logs, audits or returns either of them
(the audit names the broker only); the results carry a masked key at most.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from bot.core.context import ChatContext
from bot.core.errors import Refused
from bot.core.vault import NO_MASTER_KEY, Vault, VaultError
from engine.brokers.base import AccountFigures, Broker, BrokerError
from engine.closing import close_quietly
from storage.models import Flow, User
from storage.store import Storage

if TYPE_CHECKING:
    from bot.core.kernel import Core


KEY_BROKERS = ("alpaca", "ccxt")  # brokers.<name> whose accounts a user may trade with their own keys
FLOW = "setkeys"  # the flow that waits for the key, then the secret
MAX_KEY_LEN = 200


class KeyStep(StrEnum):
    ASK_SECRET = "ask_secret"  # the key arrived (and is encrypted in the flow): now the secret
    STORED = "stored"  # the broker accepted the pair: stored encrypted
    REFUSED = "refused"  # the broker refused the pair (`detail`: its answer); nothing stored
    UNCHECKED = "unchecked"  # the broker could not be asked (`detail`); nothing stored
    INVALID = "invalid"  # not a key (empty, spaces, too long): asked again


@dataclass(frozen=True)
class KeyAnswer:
    step: KeyStep
    broker: str
    detail: str = ""  # the broker's answer (never the key or the secret: brokers redact them)
    account: str = ""  # STORED: the broker's one line about the account
    masked: str = ""  # STORED: the key, masked


@dataclass(frozen=True)
class StoredBroker:
    broker: str
    masked_key: str
    stored_at: str  # ISO date


def mask(key: str) -> str:
    """First 4 and last 2 characters of a key (never more than a third of it), the rest elided."""
    if len(key) < 12:
        return "…" if len(key) < 6 else f"{key[:1]}…{key[-1:]}"
    return f"{key[:4]}…{key[-2:]}"


def vault_of(core: Core) -> Vault:
    vault: Vault | None = core.services.vault
    if vault is None:
        raise Refused(NO_MASTER_KEY, reason="no master key")
    return vault


def _factory(core: Core) -> Any:
    factory = core.services.broker_factory
    if factory is None:
        raise Refused("Broker keys are not available in this bot.", reason="no broker factory")
    return factory


# ---- /setkeys -------------------------------------------------------------------------------------------

async def start(core: Core, user: User, ctx: ChatContext, broker: str) -> None:
    """Open the flow that asks for the key; only in a private chat, and only with a master key."""
    vault_of(core)
    _factory(core)
    if not ctx.is_private:
        raise Refused("Keys are never typed in a group: send /setkeys to me in a private chat (DM).",
                      reason="setkeys in a group")
    # Positions held at this broker live on the account they were opened on: new keys would send their exits
    # (and reconciliation) to another account.
    held = await core.storage.positions.with_status("pending", "open", "closing", user_id=user.id, brokers=[broker])
    if held:
        raise Refused(f"Close your {len(held)} {broker} position(s) first (/positions): their exits go to the "
                      "account they were opened on.", reason="positions held")
    await core.storage.flows.start(user.id, ctx.chat_key, FLOW, {"broker": broker})


def _plausible(value: str) -> bool:
    return 0 < len(value) <= MAX_KEY_LEN and not any(ch.isspace() for ch in value)


async def receive(core: Core, user: User, ctx: ChatContext, flow: Flow, text: str) -> KeyAnswer:
    """The next typed answer of the flow: the key (encrypted into the flow at once), then the secret (checked with
    the broker, and the pair stored encrypted)."""
    vault = vault_of(core)
    broker = str(flow.state.get("broker", ""))
    value = text.strip()
    if not _plausible(value):
        return KeyAnswer(KeyStep.INVALID, broker)
    key_token = flow.state.get("key")
    if not key_token:
        await core.storage.flows.start(user.id, ctx.chat_key, FLOW, {"broker": broker, "key": vault.encrypt(value)})
        return KeyAnswer(KeyStep.ASK_SECRET, broker)
    await core.storage.flows.end(user.id, ctx.chat_key)
    key = vault.decrypt(str(key_token))
    client = _factory(core)(broker, key, value)
    try:
        account = await client.check()
    except BrokerError as exc:
        await core.audit(user, "setkeys", broker, "refused", reason="refused by the broker" if exc.auth else
                         "broker unavailable")
        return KeyAnswer(KeyStep.REFUSED if exc.auth or not exc.transient else KeyStep.UNCHECKED, broker,
                         detail=str(exc))
    finally:
        await close_quietly(client)
    await core.storage.broker_keys.put(user.id, broker, vault.encrypt(key), vault.encrypt(value))
    await core.audit(user, "setkeys", broker, "ok")
    return KeyAnswer(KeyStep.STORED, broker, account=account, masked=mask(key))


# ---- /keys, /delkeys ------------------------------------------------------------------------------------

async def listing(core: Core, user: User, ctx: ChatContext) -> list[StoredBroker]:
    """The user's stored brokers with masked keys; in a private chat only (even masked, they are nobody else's)."""
    vault = vault_of(core)
    if not ctx.is_private:
        raise Refused("Your keys are listed in a private chat only: send /keys to me there (DM).",
                      reason="keys in a group")
    found = []
    for stored in await core.storage.broker_keys.of_user(user.id):
        try:
            shown = mask(vault.decrypt(stored.key_token))
        except VaultError:
            shown = "(cannot be decrypted with the current master keys: /setkeys again)"
        found.append(StoredBroker(stored.broker, shown, stored.created_at.date().isoformat()))
    return found


async def delete(core: Core, user: User, broker: str) -> bool:
    """Forget the user's keys of `broker`; refused while positions opened on that account are held, since
    their exits could then only go to the bot's account, which does not hold them."""
    vault_of(core)
    held = await core.storage.positions.with_status("pending", "open", "closing", user_id=user.id, brokers=[broker])
    if held and await core.storage.broker_keys.get(user.id, broker) is not None:
        raise Refused(f"Close your {len(held)} {broker} position(s) first (/positions): their exits need these keys.",
                      reason="positions held")
    deleted = await core.storage.broker_keys.delete(user.id, broker)
    if deleted:
        await core.audit(user, "delkeys", broker, "ok")
    return deleted


async def rotate_all(storage: Storage, vault: Vault) -> int:
    """`tipster rotate-keys`: every stored token re-encrypted under the newest master key, in one transaction
    (one token no master key decrypts changes nothing). Returns how many users' broker pairs were rotated."""
    return await storage.broker_keys.rotate_all(vault.rotate)


# ---- trading on the user's own account ---------------------------------------------------------------------

class OwnBrokers:
    """Broker clients on users' own accounts, built once per stored pair of tokens (a ccxt client keeps its
    markets and HTTP session) and rebuilt when the user stores new keys."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._clients: dict[tuple[int, str], tuple[str, Broker]] = {}

    async def get(self, user_id: int, name: str) -> Broker | None:
        """The user's own client for broker `name`, or None: no keys stored (or key storage off)."""
        vault: Vault | None = self.core.services.vault
        factory = self.core.services.broker_factory
        if name not in KEY_BROKERS or vault is None or factory is None:
            return None
        stored = await self.core.storage.broker_keys.get(user_id, name)
        cached = self._clients.get((user_id, name))
        tokens = f"{stored.key_token}:{stored.secret_token}" if stored is not None else ""
        if cached is not None and cached[0] == tokens:
            return cached[1]
        if cached is not None:
            del self._clients[(user_id, name)]
            await close_quietly(cached[1])
        if stored is None:
            return None
        try:
            key, secret = vault.decrypt(stored.key_token), vault.decrypt(stored.secret_token)
        except VaultError:
            raise BrokerError(f"your {name} keys cannot be decrypted any more; send /setkeys {name} again",
                              transient=False) from None
        client: Broker = factory(name, key, secret)
        self._clients[(user_id, name)] = (tokens, client)
        return client

    async def account(self, user_id: int, name: str) -> AccountFigures | None:
        """The user's own account's equity and cash as the broker reports them, or None without own keys."""
        client = await self.get(user_id, name)
        reader = getattr(client, "account", None)
        if reader is None:
            return None
        try:
            figures: AccountFigures = await reader()
        except BrokerError as exc:
            raise Refused(f"Your {name} account could not be read: {exc}", reason="own account unavailable") from None
        return figures

    async def cancel_orders(self, user: User) -> int:
        """Cancel every open order at each broker the user has keys for (before /forgetme deletes them)."""
        cancelled = 0
        for stored in await self.core.storage.broker_keys.of_user(user.id):
            client = await self.get(user.id, stored.broker)
            canceller = getattr(client, "cancel_open_orders", None)
            if canceller is None:
                continue
            try:
                cancelled += await canceller()
            except BrokerError as exc:
                raise Refused(f"Your open orders at {stored.broker} could not be cancelled ({exc}); nothing was "
                              "deleted. Try /forgetme again later.", reason="cancel failed") from None
        return cancelled

    async def close(self) -> None:
        for _, client in self._clients.values():
            await close_quietly(client)
        self._clients.clear()
