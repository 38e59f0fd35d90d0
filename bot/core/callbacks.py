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
_PART_RE = re.compile(r"[A-Za-z0-9_.\-/+]{1,24}")  # always fullmatch: `$` would let a trailing "\n" in


class InvalidCallback(ValueError):
    """Forged, corrupted or unknown button data."""


class CallbackCodec:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("callback secret must be at least 16 bytes")
        self._secret = secret
        # Keyed once: copying a primed HMAC is several times cheaper than re-keying for every button.
        self._keyed = hmac.new(secret, digestmod=hashlib.sha256)

    def _sign(self, payload: str) -> str:
        mac = self._keyed.copy()
        mac.update(payload.encode())
        digest = mac.digest()
        return base64.urlsafe_b64encode(digest).decode()[:_SIG_LEN]

    def encode(self, action: str, *args: object) -> str:
        parts = [action, *(str(a) for a in args)]
        for part in parts:
            if not _PART_RE.fullmatch(part):
                raise ValueError(f"callback part {part!r} is not allowed")
        payload = ":".join(parts)
        data = f"{payload}:{self._sign(payload)}"
        if len(data.encode()) > MAX_CALLBACK_BYTES:
            raise ValueError(f"callback data {data!r} is longer than {MAX_CALLBACK_BYTES} bytes")
        return data

    def decode(self, data: object) -> tuple[str, list[str]]:
        """(action, args) of data this codec signed; anything else, of any type or content, is InvalidCallback."""
        # Only what encode() can produce gets as far as the HMAC: compare_digest raises TypeError on non-ASCII
        # str, and a payload of bad parts has no business being verified.
        if not isinstance(data, str) or not data.isascii() or len(data) > MAX_CALLBACK_BYTES or ":" not in data:
            raise InvalidCallback("malformed")
        payload, _, signature = data.rpartition(":")
        parts = payload.split(":")
        if len(signature) != _SIG_LEN or not all(_PART_RE.fullmatch(part) for part in parts):
            raise InvalidCallback("malformed")
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            raise InvalidCallback("bad signature")
        action, *args = parts
        return action, args
