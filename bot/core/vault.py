"""Encryption of users' broker keys: MultiFernet over the master keys in TIPSTER_SECRET_KEY.

The master keys come from the environment only (comma-separated Fernet keys, newest first), never from
config.yaml or the database, so a copy of the database alone reveals no broker key. New tokens are made with
the newest key; any listed key decrypts, so an operator rotates by putting a new key first, running
`tipster rotate-keys` (every token re-encrypted under it) and then dropping the old one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

ENV_NAME = "TIPSTER_SECRET_KEY"
NO_MASTER_KEY = (f"Broker keys are disabled: the operator has not set {ENV_NAME} (a Fernet master key) "
                 "in the bot's environment.")


class VaultError(Exception):
    """A token that no master key decrypts (a key removed too early, or a damaged row)."""


class Vault:
    def __init__(self, master_keys: list[str]) -> None:
        if not master_keys:
            raise ValueError(f"{ENV_NAME} holds no key")
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in master_keys])
        except (ValueError, TypeError) as exc:  # Fernet's own message does not name the variable
            raise ValueError(f"{ENV_NAME}: every comma-separated entry must be a Fernet key "
                             "(32 url-safe base64-encoded bytes)") from exc
        self.master_keys = tuple(master_keys)  # for the log's masking filter

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Vault | None:
        """The vault of TIPSTER_SECRET_KEY, or None when it is unset or empty (key commands then say so)."""
        raw = (environ if environ is not None else os.environ).get(ENV_NAME, "")
        keys = [part.strip() for part in raw.split(",") if part.strip()]
        return cls(keys) if keys else None

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise VaultError("no master key in TIPSTER_SECRET_KEY decrypts this broker key") from None

    def rotate(self, token: str) -> str:
        """The same secret encrypted under the newest master key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise VaultError("no master key in TIPSTER_SECRET_KEY decrypts a stored broker key") from None
