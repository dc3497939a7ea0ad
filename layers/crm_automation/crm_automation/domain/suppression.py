"""The one marketing-suppression decision. Every automated marketing e-mail path (campaigns, the inactivity
reactivation e-mail, the dead-deal reactivation e-mail) asks it; a person writing by hand is not affected.

It reads two records: the contact (archived, marketing pause, consent, and its own statuses) and the address record
keyed on the hashed, normalised e-mail (unsubscribed, "Nezasílat marketing", hard bounce, complaint, erased), which
outlives the contact, so a re-imported address stays suppressed.
"""

from __future__ import annotations

from enum import StrEnum

from crm_automation.domain.addresses import AddressReason, AddressRecord
from crm_automation.domain.models import Contact, EmailStatus, MarketingStatus


class SuppressionReason(StrEnum):
    NO_EMAIL = "no_email"
    ERASED = "erased"  # the address belonged to a contact erased under GDPR Art. 17
    ARCHIVED = "archived"
    DO_NOT_CONTACT = "do_not_contact"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINT = "complaint"
    MARKETING_PAUSED = "marketing_paused"  # an open dissatisfaction escalation
    NO_CONSENT = "no_consent"
    FREQUENCY_CAP = "frequency_cap"  # campaigns only: the weekly limit of marketing e-mails is reached


def marketing_suppression(contact: Contact, address: AddressRecord | None = None) -> SuppressionReason | None:
    """Why this contact must not get an automated marketing e-mail, or None if it may. First reason wins.
    `address` is the address record of contact.email (None: the address has no record yet)."""
    if not contact.email:
        return SuppressionReason.NO_EMAIL
    held = address.suppressions if address is not None else {}
    if AddressReason.ERASED in held:
        return SuppressionReason.ERASED
    if contact.archived:
        return SuppressionReason.ARCHIVED
    if contact.marketing_status == MarketingStatus.DO_NOT_CONTACT or AddressReason.DO_NOT_CONTACT in held:
        return SuppressionReason.DO_NOT_CONTACT
    if contact.marketing_status == MarketingStatus.UNSUBSCRIBED or AddressReason.UNSUBSCRIBED in held:
        return SuppressionReason.UNSUBSCRIBED
    if contact.email_status == EmailStatus.BOUNCED or AddressReason.BOUNCED in held:
        return SuppressionReason.BOUNCED
    if contact.email_status == EmailStatus.COMPLAINED or AddressReason.COMPLAINT in held:
        return SuppressionReason.COMPLAINT
    if contact.marketing_pause is not None:
        return SuppressionReason.MARKETING_PAUSED
    if contact.marketing_consent is None or not contact.marketing_consent.granted:
        return SuppressionReason.NO_CONSENT
    return None


def address_reason_of(contact: Contact) -> list[AddressReason]:
    """The address-level suppressions a contact's own statuses imply (written through to the address record, so
    they survive the contact)."""
    reasons = []
    if contact.marketing_status == MarketingStatus.DO_NOT_CONTACT:
        reasons.append(AddressReason.DO_NOT_CONTACT)
    if contact.marketing_status == MarketingStatus.UNSUBSCRIBED:
        reasons.append(AddressReason.UNSUBSCRIBED)
    if contact.email_status == EmailStatus.BOUNCED:
        reasons.append(AddressReason.BOUNCED)
    if contact.email_status == EmailStatus.COMPLAINED:
        reasons.append(AddressReason.COMPLAINT)
    return reasons


REASON_LABEL_KEYS: dict[SuppressionReason, str] = {reason: f"reason_{reason.value}" for reason in SuppressionReason}
