"""GDPR consent: what a person agreed to (or withdrew), the append-only ledger entries that prove it, the double
opt-in (DOI) state transitions, and the signed confirmation-link tokens. Pure: no AWS, no I/O.

States of a ledger entry:
- ``pending``: a consent given on a form or in a chat that waits for the recipient's confirmation (DOI); it does not
  count yet. The contact carries it as ``pending_consent``.
- ``granted``: a consent that counts as given (e.g. recorded on the phone through the API, or an import row that says
  so), or a form consent when the purpose is already granted.
- ``confirmed``: the recipient confirmed a pending request through the signed link: the consent now counts.
- ``withdrawn``: the consent was withdrawn (unsubscribe link, API); it stops counting at once.

Every entry is recorded (the ledger is the history), but the newer statement wins: an entry that is older than the
contact's current opposite statement for the purpose (a consent given at or before a recorded withdrawal, a
withdrawal given before the current consent) is recorded with ``effective`` false and changes nothing on the contact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from crm_automation.domain.addresses import AddressReason, AddressRecord
from crm_automation.domain.tokens import InvalidToken, seal, unseal
from crm_automation.domain.models import (Consent, ConsentRequest, Contact, EmailStatus, MarketingStatus,
                                            UtcDatetime)

MARKETING = "marketing"
Channel = Literal["form", "chatbot", "import", "api", "unsubscribe", "confirmation"]


class ConsentState(StrEnum):
    PENDING = "pending"
    GRANTED = "granted"
    CONFIRMED = "confirmed"
    WITHDRAWN = "withdrawn"


class ConsentGiven(BaseModel):
    """What a form, chatbot, import row, API call or unsubscribe says about a person's consent."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    purpose: str = Field(MARKETING, min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_.:-]*$")
    granted: bool  # False = withdrawal
    text_version: str | None = Field(None, max_length=100)  # the wording version shown
    source: str = Field(min_length=1, max_length=200)  # "form:kontakt", "chatbot", "import:x.csv", "api", ...
    channel: Channel
    at: UtcDatetime
    metadata: dict[str, str] = Field(default_factory=dict, max_length=20)  # ip, user_agent, page_url, form_id, line
    double_opt_in: bool = False  # True: stored as pending, counts only after the confirmation link


class ConsentEntry(BaseModel):
    """One append-only ledger entry (ConsentsTable: pk contact_id, sk entry_id = "<time>#<id>")."""

    contact_id: str
    entry_id: str
    purpose: str = MARKETING
    state: ConsentState
    text_version: str | None = None
    at: UtcDatetime  # when the consent was given / confirmed / withdrawn
    recorded_at: UtcDatetime
    source: str
    channel: Channel
    metadata: dict[str, str] = Field(default_factory=dict)
    request_id: str | None = None  # pending and confirmed entries: the double opt-in request
    # False: recorded as history only, superseded by the contact's newer opposite statement (see `superseding`)
    effective: bool = True


def time_key(value: datetime) -> str:
    """The same fixed-width UTC text as stored timestamps (entries sort by it)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_id_of(at: datetime, unique: str) -> str:
    return f"{time_key(at)}#{unique}"


def current(contact: Contact, purpose: str) -> Consent | None:
    return contact.marketing_consent if purpose == MARKETING else contact.consents.get(purpose)


def _with_consent(contact: Contact, purpose: str, consent: Consent) -> dict:
    if purpose == MARKETING:
        return {"marketing_consent": consent}
    return {"consents": contact.consents | {purpose: consent}}


def _pending_of(contact: Contact, purpose: str) -> ConsentRequest | None:
    pending = contact.pending_consent
    return pending if pending is not None and pending.purpose == purpose else None


def superseding(contact: Contact, given: ConsentGiven) -> Consent | None:
    """The contact's current statement for the purpose that is newer than `given` and says the opposite, or None.

    The newer statement wins, and on a tie the withdrawal: a consent (or double opt-in request) given at or before
    the recorded withdrawal does not grant again (an old import row or CRM sync must not undo a withdrawal); a
    withdrawal given before the current consent does not revoke it (the person consented again since). A current
    statement without a time cannot be compared and never supersedes."""
    existing = current(contact, given.purpose)
    if existing is None or existing.at is None or existing.granted == given.granted:
        return None
    if given.granted:
        return existing if given.at <= existing.at else None
    return existing if given.at < existing.at else None


@dataclass(frozen=True)
class Recorded:
    contact: Contact  # with the consent applied
    entry: ConsentEntry  # to append to the ledger
    new_request: bool  # a new DOI request (pending) was opened
    superseded_by: Consent | None = None  # set: the entry is history only (effective false), the contact unchanged

    @property
    def effective(self) -> bool:
        return self.superseded_by is None


def record(contact: Contact, given: ConsentGiven, now: datetime, unique: str, doi_valid: timedelta) -> Recorded:
    """Apply a consent or withdrawal to the contact and describe its ledger entry. `unique` makes the entry id (and
    a new DOI request's id) unique.

    - withdrawal: the consent for the purpose is recorded as not granted and any pending request for it ends;
    - double opt-in, purpose not granted yet: a pending request (a still valid pending request for the purpose is
      reused, so repeated submissions do not send the person one e-mail each);
    - double opt-in when the purpose is already granted: recorded as granted, the consent keeps its original proof;
    - otherwise: granted at once;
    - superseded (see `superseding`: a consent or double opt-in request given at or before the recorded withdrawal,
      a withdrawal given before the current consent): the entry is recorded with ``effective`` false (a consent as
      ``granted``, a double opt-in request as ``pending`` without a request, a withdrawal as ``withdrawn``) and the
      contact's consent and pending request stay as they are.
    """
    base = {"contact_id": contact.contact_id, "entry_id": entry_id_of(given.at, unique), "purpose": given.purpose,
            "text_version": given.text_version, "at": given.at, "recorded_at": now, "source": given.source,
            "channel": given.channel, "metadata": given.metadata}
    existing = current(contact, given.purpose)
    update: dict = {"updated_at": now}
    newer = superseding(contact, given)
    if newer is not None:
        state = (ConsentState.WITHDRAWN if not given.granted
                 else ConsentState.PENDING if given.double_opt_in else ConsentState.GRANTED)
        return Recorded(contact.model_copy(update=update), ConsentEntry(state=state, effective=False, **base), False,
                        superseded_by=newer)
    if not given.granted:
        update |= _with_consent(contact, given.purpose, Consent(
            granted=False, purpose=given.purpose, at=given.at, source=given.source, text_version=given.text_version))
        if _pending_of(contact, given.purpose) is not None:
            update["pending_consent"] = None
        return Recorded(contact.model_copy(update=update), ConsentEntry(state=ConsentState.WITHDRAWN, **base), False)
    if given.double_opt_in and not (existing is not None and existing.granted):
        pending = _pending_of(contact, given.purpose)
        if pending is not None and now - pending.requested_at < doi_valid:
            entry = ConsentEntry(state=ConsentState.PENDING, request_id=pending.request_id, **base)
            return Recorded(contact.model_copy(update=update), entry, False)
        request_id = f"r-{unique}"
        entry = ConsentEntry(state=ConsentState.PENDING, request_id=request_id, **base)
        update["pending_consent"] = ConsentRequest(
            request_id=request_id, entry_id=entry.entry_id, purpose=given.purpose, text_version=given.text_version,
            source=given.source, requested_at=given.at)
        return Recorded(contact.model_copy(update=update), entry, True)
    entry = ConsentEntry(state=ConsentState.GRANTED, **base)
    if existing is None or not existing.granted:
        update |= _with_consent(contact, given.purpose, Consent(
            granted=True, purpose=given.purpose, at=given.at, source=given.source, text_version=given.text_version))
        if _pending_of(contact, given.purpose) is not None:
            update["pending_consent"] = None  # granted by other means: the request is moot
    return Recorded(contact.model_copy(update=update), entry, False)


ConfirmOutcome = Literal["confirmed", "already", "superseded"]


@dataclass(frozen=True)
class Confirmation:
    outcome: ConfirmOutcome
    contact: Contact | None = None  # the contact to save (confirmed only)
    entry: ConsentEntry | None = None  # the `confirmed` entry to append (confirmed only)
    lift_unsubscribed: bool = False  # the address's `unsubscribed` suppression is lifted (confirmed only)


def confirm(contact: Contact, request_id: str, now: datetime, unique: str, metadata: dict[str, str],
            already_confirmed: bool, address_matches: bool = True) -> Confirmation:
    """The recipient confirmed request `request_id` through the signed link. `already_confirmed`: the ledger holds a
    confirmed entry for it (the link used twice). `address_matches`: the contact still has the address the link was
    sent to (a link to an address the contact no longer has proves nothing about the current one).

    Only the contact's current pending request can be confirmed: one withdrawn in the meantime, or replaced by a
    newer one, is "superseded" and changes nothing. Confirming proves control of the mailbox and asks for e-mail
    again, so it lifts the contact's own `unsubscribed` status (and the caller lifts the address's); it never
    lifts "Nezasílat marketing", a bounce, a complaint or an erasure."""
    pending = contact.pending_consent
    if pending is None or pending.request_id != request_id or not address_matches:
        return Confirmation("already" if already_confirmed else "superseded")
    consent = Consent(granted=True, purpose=pending.purpose, at=now, source=pending.source,
                      text_version=pending.text_version)
    update = _with_consent(contact, pending.purpose, consent) | {"pending_consent": None, "updated_at": now}
    lift = pending.purpose == MARKETING
    if lift and contact.marketing_status == MarketingStatus.UNSUBSCRIBED:
        update["marketing_status"] = MarketingStatus.SUBSCRIBED
    entry = ConsentEntry(contact_id=contact.contact_id, entry_id=entry_id_of(now, unique), purpose=pending.purpose,
                         state=ConsentState.CONFIRMED, text_version=pending.text_version, at=now, recorded_at=now,
                         source=pending.source, channel="confirmation", metadata=metadata, request_id=request_id)
    return Confirmation("confirmed", contact.model_copy(update=update), entry, lift)


# Address suppressions a double opt-in neither e-mails nor lifts: only `unsubscribed` is the recipient's own choice
# that their confirmation may reverse.
KEPT_SUPPRESSIONS = (AddressReason.ERASED, AddressReason.DO_NOT_CONTACT, AddressReason.BOUNCED, AddressReason.COMPLAINT)


def confirmation_mail_blocked(contact: Contact, address: AddressRecord | None) -> str | None:
    """Why no confirmation e-mail may go to the contact's address (erased, "Nezasílat marketing", hard bounce,
    complaint: the pending entry is still recorded), or None. Unsubscribed does not block: the person asks again."""
    held = address.suppressions if address is not None else {}
    for reason in KEPT_SUPPRESSIONS:
        if reason in held:
            return reason.value
    if contact.marketing_status == MarketingStatus.DO_NOT_CONTACT:
        return AddressReason.DO_NOT_CONTACT.value
    if contact.email_status == EmailStatus.BOUNCED:
        return AddressReason.BOUNCED.value
    if contact.email_status == EmailStatus.COMPLAINED:
        return AddressReason.COMPLAINT.value
    return None


# -- the signed confirmation link ------------------------------------------------------------------------------------

VERSION = "c1"


class ExpiredToken(ValueError):
    """Authentic but past its validity: 410, nothing written."""


@dataclass(frozen=True)
class ConsentClaim:
    contact_id: str
    request_id: str
    address_ref: str  # the first 32 hex digits of the address key the link was sent to (never the address)
    expires_at: datetime


def sign(claim: ConsentClaim, key: bytes) -> str:
    """The token of the confirmation link: contact id, request id, the address's keyed-hash prefix and expiry (no
    e-mail address), HMAC-signed."""
    return seal((VERSION, claim.contact_id, claim.request_id, claim.address_ref,
                 str(int(claim.expires_at.timestamp()))), key)


def verify(token: str, key: bytes, now: datetime) -> ConsentClaim:
    """The claim of an authentic, unexpired token. Raises InvalidToken (forged, altered) or ExpiredToken."""
    _, contact_id, request_id, address_ref, expiry = unseal(token, key, VERSION, 5)
    if not (expiry.isascii() and expiry.isdigit()) or len(expiry) > 11:
        raise InvalidToken("unknown token format")
    expires_at = datetime.fromtimestamp(int(expiry), UTC)
    if now >= expires_at:
        raise ExpiredToken("the confirmation link has expired")
    return ConsentClaim(contact_id=contact_id, request_id=request_id, address_ref=address_ref, expires_at=expires_at)
