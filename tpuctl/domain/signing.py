"""Ed25519 signatures over ledger events: what is signed, and how keys are written.

A member's public key is text, `ed25519:<base64 of the raw 32 bytes>`, short enough to paste
into a chat. An event's signature covers its canonical JSON without `sig` (sorted keys, no
spaces), so it covers the id (and so the object's key), the group id, the actor, the time
and the whole payload: copying, re-filing or editing a signed event breaks it.

`cryptography` is imported on first use only, so `tpuctl --help` never loads it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from functools import lru_cache
from typing import Any, Iterable

KEY_PREFIX = "ed25519:"
KEY_RE = re.compile(r"^ed25519:[A-Za-z0-9+/]{43}=$")
SIG_RE = re.compile(r"^[A-Za-z0-9+/]{86}==$")


def canonical(body: dict[str, Any]) -> bytes:
    """The bytes a signature covers: the event's JSON without `sig`, keys sorted, compact."""
    return json.dumps({k: v for k, v in body.items() if k != "sig"}, separators=(",", ":"), sort_keys=True).encode()


def digest(data: bytes) -> bytes:
    """What the view remembers of an object whose signature it checked."""
    return hashlib.sha256(data).digest()


def is_public_key(text: Any) -> bool:
    return isinstance(text, str) and bool(KEY_RE.match(text))


def public_text(raw: bytes) -> str:
    return KEY_PREFIX + base64.b64encode(raw).decode()


class SigningKey:
    """A member's private key (kept in their config dir, never in the store)."""

    def __init__(self, private: Any):
        self._private = private

    @classmethod
    def generate(cls) -> SigningKey:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_text(cls, text: str) -> SigningKey:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        if not text.startswith(KEY_PREFIX):
            raise ValueError("not an ed25519 key")
        return cls(Ed25519PrivateKey.from_private_bytes(base64.b64decode(text[len(KEY_PREFIX):], validate=True)))

    def to_text(self) -> str:
        from cryptography.hazmat.primitives import serialization

        raw = self._private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                          serialization.NoEncryption())
        return KEY_PREFIX + base64.b64encode(raw).decode()

    @property
    def public(self) -> str:
        from cryptography.hazmat.primitives import serialization

        return public_text(self._private.public_key().public_bytes(serialization.Encoding.Raw,
                                                                   serialization.PublicFormat.Raw))

    def sign(self, body: dict[str, Any]) -> str:
        return base64.b64encode(self._private.sign(canonical(body))).decode()


@lru_cache(maxsize=1024)
def _loaded(public: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    return Ed25519PublicKey.from_public_bytes(base64.b64decode(public[len(KEY_PREFIX):]))


def signature_holds(public: str, body: dict[str, Any], sig: Any) -> bool:
    """True if `sig` is `public`'s signature over `body` (without its own `sig`)."""
    if not is_public_key(public) or not isinstance(sig, str) or not SIG_RE.match(sig):
        return False
    from cryptography.exceptions import InvalidSignature

    try:
        _loaded(public).verify(base64.b64decode(sig), canonical(body))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def signature_holds_raw(public: str, data: bytes) -> bool:
    """The same, for an object as stored (its bytes parsed again, `sig` taken out)."""
    try:
        body = json.loads(data)
    except ValueError:
        return False
    return isinstance(body, dict) and signature_holds(public, body, body.get("sig"))


def check_many(items: Iterable[tuple[str, bytes]]) -> list[bool]:
    """Signatures of many stored objects, each with the key it should verify with (a batch,
    so the caller pays for parsing once and can cache what held)."""
    return [signature_holds_raw(public, data) for public, data in items]
