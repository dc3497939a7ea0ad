"""Signed one-click unsubscribe tokens (RFC 8058 links in List-Unsubscribe and in the e-mail body).

A token names the contact, the campaign and the address key (never the e-mail address itself, so links and access
logs carry no personal data) and is authenticated with HMAC-SHA256 under a key derived from the deployment secret.
Anything altered, truncated or signed with another key is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

VERSION = "1"
_TAG_BYTES = 16  # 128-bit tag


class InvalidToken(ValueError):
    pass


@dataclass(frozen=True)
class UnsubscribeClaim:
    contact_id: str
    campaign_id: str
    address_key: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _tag(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:_TAG_BYTES]


def sign(claim: UnsubscribeClaim, key: bytes) -> str:
    fields = (VERSION, claim.contact_id, claim.campaign_id, claim.address_key)
    if any("|" in f for f in fields):
        raise ValueError("token fields must not contain '|'")
    payload = "|".join(fields).encode("utf-8")
    return f"{_b64(payload)}.{_b64(_tag(key, payload))}"


def verify(token: str, key: bytes) -> UnsubscribeClaim:
    try:
        encoded_payload, encoded_tag = token.split(".")
        payload, tag = _unb64(encoded_payload), _unb64(encoded_tag)
    except (ValueError, TypeError) as error:
        raise InvalidToken("malformed token") from error
    if not hmac.compare_digest(tag, _tag(key, payload)):
        raise InvalidToken("bad signature")
    parts = payload.decode("utf-8", "replace").split("|")
    if len(parts) != 4 or parts[0] != VERSION or not all(parts[1:]):
        raise InvalidToken("unknown token format")
    return UnsubscribeClaim(contact_id=parts[1], campaign_id=parts[2], address_key=parts[3])
