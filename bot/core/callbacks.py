"""Button callback data: short, restart-proof and tamper-proof.

Data is `action:arg:arg:signature`, where the signature is an HMAC of the rest under a secret kept in
storage. Nothing lives in memory, so buttons keep working after a restart, and a forged or edited payload
fails verification. Ownership is still checked against storage by the handler: a valid signature only
proves the bot made the button, not that the presser may use it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

MAX_CALLBACK_BYTES = 64  # Telegram's limit
_SIG_LEN = 10  # base64url chars = 60 bits: forging one by guessing is out of reach
_PART_RE = re.compile(r"^[A-Za-z0-9_.\-/+]{1,24}$")


class InvalidCallback(ValueError):
    """Forged, corrupted or unknown button data."""


class CallbackCodec:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("callback secret must be at least 16 bytes")
        self._secret = secret

    def _sign(self, payload: str) -> str:
        digest = hmac.new(self._secret, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:_SIG_LEN]

    def encode(self, action: str, *args: object) -> str:
        parts = [action, *(str(a) for a in args)]
        for part in parts:
            if not _PART_RE.match(part):
                raise ValueError(f"callback part {part!r} is not allowed")
        payload = ":".join(parts)
        data = f"{payload}:{self._sign(payload)}"
        if len(data.encode()) > MAX_CALLBACK_BYTES:
            raise ValueError(f"callback data {data!r} is longer than {MAX_CALLBACK_BYTES} bytes")
        return data

    def decode(self, data: str | None) -> tuple[str, list[str]]:
        if not data or len(data.encode()) > MAX_CALLBACK_BYTES or ":" not in data:
            raise InvalidCallback("malformed")
        payload, _, signature = data.rpartition(":")
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise InvalidCallback("bad signature")
        action, *args = payload.split(":")
        return action, args
