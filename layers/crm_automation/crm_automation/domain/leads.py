"""Lead capture decisions, pure: capture ids (what makes two submissions "the same"), UTM parameters, the chatbot
webhook signature, which address suppression a re-arriving address keeps, and the chatbot conversation record.
No AWS, no I/O."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, Field

from crm_automation.domain.addresses import AddressReason, AddressRecord, normalise_email
from crm_automation.domain.models import UtcDatetime
from crm_automation.domain.suppression import SuppressionReason

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
UTM_MAX = 200


def digest(text: str, length: int = 40) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def form_capture_id(form_id: str, email: str, fields: dict[str, Any], now: datetime,
                    submission_id: str | None = None) -> str:
    """The capture id of a form submission: the client's own submission id when it sends one, else a hash of the
    form, the normalised e-mail, the submitted fields and the minute, so a double click (or a browser re-posting)
    records one submission while the same person writing again later records another."""
    if submission_id:
        return "f-" + digest(f"{form_id}\n{submission_id}")
    minute = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
    body = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return "f-" + digest(f"{form_id}\n{normalise_email(email)}\n{body}\n{minute}")


def chatbot_capture_id(event_id: str, kind: str = "contact.provided") -> str:
    """The capture id of a chatbot event, from its type and event_id: the same event again is the same capture, while
    a `contact.provided` and an `intent.expressed` that share an event_id are two (their activities never collide).
    A `contact.provided` keeps the id it always had (markers already stored still recognise its replays)."""
    return "b-" + digest(event_id if kind == "contact.provided" else f"{kind}\n{event_id}")


def activity_id_of(capture_id: str) -> str:
    """The one activity a capture records (deterministic: a replay cannot record a second one)."""
    return f"lead-{digest(capture_id, 32)}"


def rate_client(source_ip: str) -> str:
    """What the per-client rate limit counts: an IPv4 address itself, an IPv6 address by its /64 prefix (one
    subscriber's network; rotating addresses within it is still one client), anything unparsable as given."""
    try:
        address = ipaddress.ip_address(source_ip.strip())
    except ValueError:
        return source_ip.strip() or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(address), 64), strict=False))
    return str(address)


def utm_of(fields: dict[str, Any], page_url: str | None) -> dict[str, str]:
    """UTM parameters from the submitted fields, else from the query of the page the form was on."""
    found = {k: str(fields[k]).strip()[:UTM_MAX] for k in UTM_KEYS if fields.get(k) not in (None, "")}
    if found or not page_url:
        return found
    try:
        query = urlsplit(page_url).query
    except ValueError:
        return {}
    pairs = dict(parse_qsl(query, max_num_fields=100)) if query else {}
    return {k: pairs[k].strip()[:UTM_MAX] for k in UTM_KEYS if pairs.get(k, "").strip()
            and all(ch.isprintable() for ch in pairs[k])}


_ADDRESS_ORDER = ((AddressReason.ERASED, SuppressionReason.ERASED),
                  (AddressReason.DO_NOT_CONTACT, SuppressionReason.DO_NOT_CONTACT),
                  (AddressReason.UNSUBSCRIBED, SuppressionReason.UNSUBSCRIBED),
                  (AddressReason.BOUNCED, SuppressionReason.BOUNCED),
                  (AddressReason.COMPLAINT, SuppressionReason.COMPLAINT))


def address_suppression(record: AddressRecord | None) -> SuppressionReason | None:
    """The suppression the address itself carries (it outlives contacts; a capture never lifts it)."""
    held = record.suppressions if record is not None else {}
    return next((reason for address_reason, reason in _ADDRESS_ORDER if address_reason in held), None)


# -- the chatbot webhook signature ----------------------------------------------------------------------------------

class InvalidSignature(ValueError):
    """Unsigned, forged, malformed or stale: 401, nothing written."""


SIGNATURE_HEADER = "x-crm-signature"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `X-Crm-Signature` header value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(header: str | None, body: bytes, secret: str, now: datetime, tolerance_seconds: int) -> int:
    """Check the header against the raw body (several `v1=` are allowed, for a key rotation); returns the signed
    time. Constant-time comparison; a signature older or newer than the tolerance is refused (replay window)."""
    if not header or len(header) > 1000:
        raise InvalidSignature("missing signature")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == "v1" and value:
            candidates.append(value.strip().lower())
    if timestamp is None or not candidates:
        raise InvalidSignature("malformed signature")
    if abs(now.timestamp() - timestamp) > tolerance_seconds:
        raise InvalidSignature("stale signature")
    expected = sign(secret, body, timestamp).rsplit("v1=", 1)[1]
    if not any(hmac.compare_digest(expected.encode(), c.encode("ascii", "replace")) for c in candidates):
        raise InvalidSignature("bad signature")
    return timestamp


# -- chatbot conversations ------------------------------------------------------------------------------------------

class PendingIntent(BaseModel):
    """An intent the visitor expressed before giving contact details (recorded as an activity once they do)."""

    event_id: str
    intent: str
    text: str | None = None  # kept only until the contact is known, and the conversation item expires (30 days)
    at: UtcDatetime


class Conversation(BaseModel):
    """Flows table `CONV#<id>`: which contact a chatbot conversation belongs to. No personal data but the texts of
    intents waiting for a contact."""

    conversation_id: str
    started_at: UtcDatetime | None = None
    start_event: str | None = None
    utm: dict[str, str] = Field(default_factory=dict)  # from the page the chat started on
    contact_id: str | None = None
    linked_at: UtcDatetime | None = None
    pending: list[PendingIntent] = Field(default_factory=list)
    version: int = 0


# -- form bodies ----------------------------------------------------------------------------------------------------

MAX_BODY_BYTES = 16 * 1024
MAX_FIELDS = 60


class UnsupportedMediaType(ValueError):
    """Neither application/x-www-form-urlencoded nor application/json: 415."""


class MalformedBody(ValueError):
    """Not decodable as its content type says, too large or too many fields: 400 / 413."""


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_body(content_type: str | None, body: bytes) -> tuple[dict[str, Any], bool]:
    """The submitted fields and whether the body was an HTML form (urlencoded). Empty values are dropped (an empty
    input of an HTML form means "not given"); a field sent twice keeps its first value."""
    kind = media_type(content_type)
    if kind not in ("application/x-www-form-urlencoded", "application/json"):
        raise UnsupportedMediaType(kind or "none")
    if len(body) > MAX_BODY_BYTES:
        raise MalformedBody("too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedBody("not UTF-8") from error
    fields: dict[str, Any] = {}
    if kind == "application/json":
        try:
            data = json.loads(text) if text.strip() else {}
        except (ValueError, RecursionError) as error:
            raise MalformedBody("not JSON") from error
        if not isinstance(data, dict):
            raise MalformedBody("a JSON object is expected")
        if len(data) > MAX_FIELDS:
            raise MalformedBody("too many fields")
        fields = {str(k): v for k, v in data.items() if v is not None and v != ""}
        return fields, False
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, strict_parsing=False)
    except ValueError as error:
        raise MalformedBody("too many fields") from error
    for name, value in pairs:
        if name not in fields and value.strip() != "":
            fields[name] = value
    return fields, True
