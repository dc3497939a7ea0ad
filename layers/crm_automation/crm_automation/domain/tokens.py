"""Signed link tokens (the unsubscribe link, the double opt-in confirmation link): a version and a few fields,
authenticated with HMAC-SHA256 (128-bit tag) under a key derived from the deployment secret. The fields are ids and
hashes, never an e-mail address, so links and access logs carry no personal data. Anything altered, truncated or
signed with another key is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac

_TAG_BYTES = 16  # 128-bit tag
_MAX_PART = 1000  # characters of one encoded part: a longer one is not ours


class InvalidToken(ValueError):
    """Forged, altered, truncated or signed with another key: 400, nothing written."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or len(text) > _MAX_PART:
        raise ValueError("bad length")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _tag(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:_TAG_BYTES]


def seal(fields: tuple[str, ...], key: bytes) -> str:
    """The token of `fields` (the first is the format version): non-empty, no '|'."""
    if any("|" in f or not f for f in fields):
        raise ValueError("token fields must be non-empty and must not contain '|'")
    payload = "|".join(fields).encode("utf-8")
    return f"{_b64(payload)}.{_b64(_tag(key, payload))}"


def unseal(token: str, key: bytes, version: str, count: int) -> list[str]:
    """The `count` fields of an authentic token of `version` (the version first). Raises InvalidToken."""
    try:
        encoded_payload, encoded_tag = token.split(".")
        payload, tag = _unb64(encoded_payload), _unb64(encoded_tag)
    except (ValueError, TypeError) as error:
        raise InvalidToken("malformed token") from error
    if not hmac.compare_digest(tag, _tag(key, payload)):
        raise InvalidToken("bad signature")
    parts = payload.decode("utf-8", "replace").split("|")
    if len(parts) != count or parts[0] != version or not all(parts[1:]):
        raise InvalidToken("unknown token format")
    return parts
