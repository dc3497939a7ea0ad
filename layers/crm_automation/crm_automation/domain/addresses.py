"""The address record: what we know about one e-mail address, independent of any contact.

Suppressions that belong to the address (unsubscribed, "Nezasílat marketing", hard bounce, complaint, erased) and
the marketing sends used for the weekly cap and for "one copy per campaign" live here, keyed on a one-way hash of
the normalised address. An erased contact leaves only this hash behind, so a purchased list that brings the same
address back finds it suppressed (seed 000 §3) without our keeping the address itself.

The hash is an HMAC with a deployment secret (not a bare SHA-256), so the stored keys cannot be reversed by hashing
a list of known addresses.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from datetime import datetime, timedelta
from enum import StrEnum

import idna
from pydantic import BaseModel, Field

from crm_automation.domain.models import UtcDatetime

SEND_HISTORY = timedelta(days=180)  # sends older than this are dropped from the record (cap window: 7 days)
CAP_WINDOW = timedelta(days=7)


class AddressReason(StrEnum):
    """Suppressions kept per address (they outlive the contact)."""

    ERASED = "erased"
    DO_NOT_CONTACT = "do_not_contact"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINT = "complaint"


class AddressSuppression(BaseModel):
    at: UtcDatetime
    source: str = Field(max_length=200)  # "unsubscribe-link", "ses-bounce", "import:<file>", "crm", ...


class CampaignSend(BaseModel):
    at: UtcDatetime
    chunk: str  # the chunk that reserved the send (a crash is reconciled chunk by chunk)


class AddressRecord(BaseModel):
    address_key: str
    suppressions: dict[AddressReason, AddressSuppression] = Field(default_factory=dict)
    sends: dict[str, CampaignSend] = Field(default_factory=dict)  # campaign id -> the send reserved for it
    # The contact that claimed this address (lead dedupe): set with a version condition in the same transaction
    # that creates the contact, so two first arrivals of one address make one contact. Absent on old records:
    # their contact is found through the ByEmail index and claimed on its next write.
    contact_id: str | None = None
    version: int = 0

    def suppressed(self, reason: AddressReason) -> bool:
        return reason in self.suppressions

    def sends_within(self, now: datetime, window: timedelta = CAP_WINDOW) -> int:
        return sum(1 for send in self.sends.values() if now - send.at < window)

    def with_send(self, campaign_id: str, chunk: str, now: datetime) -> dict[str, CampaignSend]:
        """The sends map with this campaign's send reserved and entries older than SEND_HISTORY dropped."""
        kept = {cid: s for cid, s in self.sends.items() if now - s.at < SEND_HISTORY}
        return kept | {campaign_id: CampaignSend(at=now, chunk=chunk)}


def normalise_email(email: str) -> str:
    """One spelling per mailbox as far as we can tell without asking the mail server: trimmed, Unicode NFC, lower
    case. Plus-addressing ("jan+news@...") is kept: it is a different address to the person who chose it."""
    return unicodedata.normalize("NFC", email).strip().lower()


def ascii_address(email: str) -> str:
    """The address as it goes on the wire: an internationalised domain in its IDNA (punycode) form. (Local parts
    are ASCII: the CRM refuses others, as SES cannot send to them.)"""
    local, _, domain = email.rpartition("@")
    if domain.isascii():
        return email
    return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"


def address_key(email: str, key: bytes) -> str:
    """The one-way, keyed hash of the normalised address (hex). `key` comes from the deployment's signing secret."""
    return hmac.new(key, normalise_email(email).encode("utf-8"), hashlib.sha256).hexdigest()
