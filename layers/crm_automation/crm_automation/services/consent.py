"""The consent ledger, the double opt-in and withdrawals.

Every consent, confirmation and withdrawal is an append-only ledger entry written in the same transaction as the
contact it changes (crm._save(..., extra=ops)), so the contact and its proof never disagree. A pending entry's
INSERT on the ledger stream sends the confirmation e-mail (exactly once through the send ledger); the signed link
confirms it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Annotated, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crm_automation.domain import consent as domain
from crm_automation.domain.addresses import AddressReason, address_key
from crm_automation.domain.consent import (MARKETING, ConsentClaim, ConsentEntry, ConsentGiven, ConsentState,
                                           ExpiredToken, InvalidToken)
from crm_automation.domain.models import Activity, ActivityKind, Consent, Contact
from crm_automation.domain.salutation import greeting
from crm_automation.email.render import build_message, render
from crm_automation.errors import ConcurrentWriteError, InvalidRequestError, NotFoundError
from crm_automation.observability import logger, metrics
from crm_automation.services.mail import deliver_once
from crm_automation.services.runtime import Runtime

TEMPLATE = "consent_confirmation"
WORKFLOW = "double_opt_in"
_ATTEMPTS = 5

__all__ = ["ConsentGiven", "ConsentEntry", "ConsentIn", "InvalidToken", "ExpiredToken", "consent_ops", "ledger",
           "record_consent", "withdrawal_ops", "confirmation_link", "check_token", "confirm", "send_confirmation"]


def _unique() -> str:
    return uuid.uuid4().hex[:20]


def _doi_valid(rt: Runtime) -> timedelta:
    return timedelta(days=rt.settings.doi_link_days)


def consent_ops(rt: Runtime, contact: Contact, given: ConsentGiven, now: datetime) -> tuple[Contact, list[dict]]:
    """The contact with the consent applied (marketing_consent / consents / pending_consent) and the ledger Put ops;
    the caller saves both in one transaction via crm._save(..., extra=ops)."""
    recorded = domain.record(contact, given, now, _unique(), _doi_valid(rt))
    return recorded.contact, [rt.store.consents.append_op(recorded.entry)]


def withdrawal_ops(rt: Runtime, contact: Contact, now: datetime, source: str, channel: domain.Channel,
                   metadata: dict[str, str] | None = None) -> tuple[Contact, list[dict]]:
    """Withdraw the marketing consent (and end a pending request): for the unsubscribe link."""
    return consent_ops(rt, contact, ConsentGiven(granted=False, source=source, channel=channel, at=now,
                                                 metadata=metadata or {}), now)


def marketing_consent_ops(rt: Runtime, before: Consent | None, contact: Contact, now: datetime,
                          caller: str | None) -> tuple[Contact, list[dict]]:
    """`contact` carries a marketing_consent set through POST/PATCH /contacts: record it in the ledger (the same
    consent sent again, as a CRM sync does, is not a new entry). The contact keeps exactly the caller's consent,
    with its time and source filled in, unless the contact's current statement is newer and says the opposite (an
    old consent synced after a recorded withdrawal): then the entry is recorded as history (``effective`` false) and
    the contact keeps its current consent."""
    new = contact.marketing_consent
    if new is None or new == before:
        return contact, []
    at = new.at or now
    if at > now:
        raise InvalidRequestError("marketing_consent.at: a consent cannot be given in the future")
    given = ConsentGiven(purpose=MARKETING, granted=new.granted, text_version=new.text_version,
                         source=new.source or "api", channel="api", at=at,
                         metadata={"recorded_by": caller} if caller else {})
    recorded = domain.record(contact.model_copy(update={"marketing_consent": before}), given, now, _unique(),
                             _doi_valid(rt))
    ops = [rt.store.consents.append_op(recorded.entry)]
    if not recorded.effective:
        logger.info("Consent superseded by a newer statement", extra={
            "contact_id": contact.contact_id, "purpose": MARKETING, "channel": "api"})
        return recorded.contact, ops
    kept = new.model_copy(update={"purpose": MARKETING, "at": at, "source": given.source})
    return recorded.contact.model_copy(update={"marketing_consent": kept}), ops


# -- the API: the ledger, and consents given by other means (phone, letter) --------------------------------------

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                        pattern=r"^[^\x00-\x1f\x7f]+$")]


class ConsentIn(BaseModel):
    """POST /contacts/{id}/consents: a consent or withdrawal given by other means (on the phone, in a letter)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    purpose: str = Field(MARKETING, min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_.:-]*$")
    granted: bool = Field(description="false records a withdrawal")
    text_version: Annotated[str, StringConstraints(max_length=100)] | None = None
    source: Text = Field("api", description='Where it was given, e.g. "phone", "letter"')
    metadata: dict[Annotated[str, StringConstraints(min_length=1, max_length=50)],
                   Annotated[str, StringConstraints(max_length=500)]] = Field(default_factory=dict, max_length=20)
    double_opt_in: bool = Field(False, description="true: pending until the person confirms the e-mailed link")


def ledger(rt: Runtime, contact_id: str) -> list[ConsentEntry]:
    """The contact's consent ledger, newest first (404 for an unknown contact)."""
    if rt.store.contacts.get(contact_id) is None:
        raise NotFoundError(f"contact {contact_id} not found")
    return rt.store.consents.by_contact(contact_id)


def record_consent(rt: Runtime, contact_id: str, data: ConsentIn, now: datetime,
                   caller: str | None = None) -> ConsentEntry:
    """Record a consent or withdrawal (channel "api") with the contact's change and a `consent` activity, in one
    transaction. A withdrawal takes effect at once: the campaign sender reads the contact at send time. A consent
    not later than the contact's recorded withdrawal is recorded as history only: the entry says ``effective``
    false and the contact's consent stays withdrawn."""
    from crm_automation.services import crm  # crm imports the suppressions service, which imports this one

    metadata = data.metadata | ({"recorded_by": caller} if caller else {})
    given = ConsentGiven(purpose=data.purpose, granted=data.granted, text_version=data.text_version,
                         source=data.source, channel="api", at=now, metadata=metadata,
                         double_opt_in=data.double_opt_in)
    for attempt in range(_ATTEMPTS):
        contact = crm.get_contact(rt, contact_id)
        unique = _unique()
        recorded = domain.record(contact, given, now, unique, _doi_valid(rt))
        state = recorded.entry.state
        summary = (f"Souhlas ({data.purpose}): {_STATE_CS[state]}, zdroj {data.source}" if rt.settings.locale == "cs"
                   else f"Consent ({data.purpose}): {state.value}, source {data.source}")
        if not recorded.effective:
            summary += (" (bez účinku: novější záznam platí)" if rt.settings.locale == "cs"
                        else " (no effect: a newer statement stands)")
        activity = Activity(activity_id=f"consent-{unique}", contact_id=contact_id, kind=ActivityKind.CONSENT,
                            direction="in", occurred_at=now, summary=summary, workflow="consent", created_at=now)
        try:
            crm._save(rt, contact, recorded.contact, now,
                      extra=[rt.store.consents.append_op(recorded.entry), rt.store.activities.create_op(activity)])
        except ConcurrentWriteError:
            if attempt == _ATTEMPTS - 1:
                raise
            continue
        logger.info("Consent recorded", extra={"contact_id": contact_id, "purpose": data.purpose,
                                                "state": state.value, "channel": "api",
                                                "effective": recorded.effective})
        return recorded.entry
    raise AssertionError("unreachable")


_STATE_CS = {ConsentState.PENDING: "čeká na potvrzení", ConsentState.GRANTED: "udělen",
             ConsentState.CONFIRMED: "potvrzen", ConsentState.WITHDRAWN: "odvolán"}


# -- the double opt-in: the confirmation e-mail ------------------------------------------------------------------

def _address_ref(rt: Runtime, email: str) -> str:
    return address_key(email, rt.keys.address)[:32]


def confirmation_link(rt: Runtime, contact: Contact) -> str:
    """The signed `/c/{token}` link for the contact's pending request (valid `doi_link_days` from the request)."""
    request = contact.pending_consent
    if request is None or not contact.email:
        raise ValueError("the contact has no pending consent request or no e-mail")
    claim = ConsentClaim(contact_id=contact.contact_id, request_id=request.request_id,
                         address_ref=_address_ref(rt, contact.email),
                         expires_at=request.requested_at + _doi_valid(rt))
    return f"{rt.public_base_url}/c/{domain.sign(claim, rt.keys.consent)}"


def _locale(rt: Runtime, entry: ConsentEntry) -> str:
    wanted = (entry.metadata.get("locale") or entry.metadata.get("lang") or "").lower()[:2]
    return wanted if wanted in ("cs", "en") else rt.settings.locale


def send_confirmation(rt: Runtime, entry: ConsentEntry, now: datetime) -> str:
    """Send the confirmation e-mail of a pending ledger entry, at most once per request (send key
    `doi-<request id>`: a pending entry delivered twice, or a second submission reusing a still valid request, sends
    nothing more). Returns what happened: sent / unknown / failed / skipped:<reason>."""
    if entry.state != ConsentState.PENDING or not entry.request_id:
        return "skipped:not_pending"
    contact = rt.store.contacts.get(entry.contact_id)
    if contact is None:
        return _skip(entry, "no_contact")
    request = contact.pending_consent
    if request is None or request.request_id != entry.request_id:
        return _skip(entry, "not_pending")  # confirmed, withdrawn or replaced meanwhile
    if not contact.email:
        return _skip(entry, "no_email")
    if now >= request.requested_at + _doi_valid(rt):
        return _skip(entry, "expired")
    from crm_automation.services.suppressions import address_record

    blocked = domain.confirmation_mail_blocked(contact, address_record(rt, contact))
    if blocked:
        return _skip(entry, blocked)
    settings = rt.settings
    locale = _locale(rt, entry)
    expires = request.requested_at + _doi_valid(rt)
    rendered = render(settings.templates_dir, TEMPLATE, locale, {
        "greeting": greeting(contact.first_name, contact.last_name, locale),
        "confirm_url": confirmation_link(rt, contact),
        "valid_days": settings.doi_link_days,
        "expires_on": expires.strftime("%d. %m. %Y") if locale == "cs" else expires.strftime("%Y-%m-%d"),
        "sender_name": settings.sender_name,
        "purpose": request.purpose,
    })
    send_key = f"doi-{request.request_id}"

    def build() -> EmailMessage:
        return build_message(rendered, sender_email=settings.sender_email, sender_name=settings.sender_name,
                             to_email=contact.email, to_name=contact.name, sent_at=now,  # type: ignore[arg-type]
                             headers={"X-CRM-Workflow": WORKFLOW, "Auto-Submitted": "auto-generated"})

    def record(message_id: str) -> list[dict[str, Any]]:
        return [rt.store.activities.create_op(Activity(
            activity_id=f"act-{send_key}", contact_id=contact.contact_id, kind=ActivityKind.EMAIL_OUT,
            direction="out", occurred_at=now, subject=rendered.subject, automated=True, workflow=WORKFLOW,
            summary=(f"Žádost o potvrzení souhlasu (SES {message_id})" if settings.locale == "cs"
                     else f"Consent confirmation request (SES {message_id})"), created_at=now))]

    delivery = deliver_once(rt.store, rt.mailer, send_key, contact.contact_id, now, build, record)
    logger.info("Consent confirmation e-mail", extra={"contact_id": contact.contact_id,
                                                      "request_id": request.request_id, "state": delivery.state})
    return delivery.state


def _skip(entry: ConsentEntry, reason: str) -> str:
    # ids and the reason only: never the address
    logger.info("Consent confirmation e-mail skipped", extra={"contact_id": entry.contact_id,
                                                              "request_id": entry.request_id, "reason": reason})
    metrics.add_metric(name="ConsentConfirmationSkipped", unit=MetricUnit.Count, value=1)
    return f"skipped:{reason}"


# -- the double opt-in: the signed link -------------------------------------------------------------------------

def check_token(rt: Runtime, token: str, now: datetime) -> ConsentClaim:
    """The claim of an authentic, unexpired confirmation token (InvalidToken / ExpiredToken otherwise)."""
    return domain.verify(token, rt.keys.consent, now)


@dataclass(frozen=True)
class Confirmed:
    outcome: domain.ConfirmOutcome  # confirmed / already / superseded
    contact_id: str


def confirm(rt: Runtime, token: str, now: datetime, metadata: dict[str, str]) -> Confirmed:
    """The recipient confirms through the signed link (POST only). In one transaction: a `confirmed` ledger entry
    (with the confirming request's metadata), the contact's consent granted and its pending request cleared, a
    `consent` activity, and the lifting of the address's `unsubscribed` suppression (never of erased, "Nezasílat
    marketing", bounced or complaint: those keep suppressing marketing). Confirming twice changes nothing."""
    from crm_automation.services import crm
    from crm_automation.services.suppressions import address_record

    claim = check_token(rt, token, now)
    for attempt in range(_ATTEMPTS):
        contact = rt.store.contacts.get(claim.contact_id)
        if contact is None:
            return Confirmed("superseded", claim.contact_id)
        matches = bool(contact.email) and _address_ref(rt, contact.email) == claim.address_ref  # type: ignore[arg-type]
        pending = contact.pending_consent
        already = False
        if pending is None or pending.request_id != claim.request_id or not matches:
            already = rt.store.consents.confirmed(claim.contact_id, claim.request_id)
        result = domain.confirm(contact, claim.request_id, now, _unique(), metadata, already, matches)
        if result.outcome != "confirmed":
            return Confirmed(result.outcome, claim.contact_id)
        assert result.contact is not None and result.entry is not None
        ops = [rt.store.consents.append_op(result.entry), rt.store.activities.create_op(Activity(
            activity_id=f"consent-{claim.request_id}-confirmed", contact_id=contact.contact_id,
            kind=ActivityKind.CONSENT, direction="in", occurred_at=now, workflow=WORKFLOW, created_at=now,
            summary=("Souhlas potvrzen odkazem v e-mailu" if rt.settings.locale == "cs"
                     else "Consent confirmed through the e-mailed link")))]
        record = address_record(rt, contact)
        if result.lift_unsubscribed and record is not None and record.suppressed(AddressReason.UNSUBSCRIBED):
            kept = {r: s for r, s in record.suppressions.items() if r != AddressReason.UNSUBSCRIBED}
            ops.append(rt.store.addresses.save_op(record.model_copy(update={"suppressions": kept})))
        try:
            crm._save(rt, contact, result.contact, now, extra=ops)
        except ConcurrentWriteError:
            if attempt == _ATTEMPTS - 1:
                raise
            continue
        logger.info("Consent confirmed", extra={"contact_id": claim.contact_id, "request_id": claim.request_id})
        metrics.add_metric(name="ConsentConfirmed", unit=MetricUnit.Count, value=1)
        return Confirmed("confirmed", claim.contact_id)
    raise AssertionError("unreachable")
