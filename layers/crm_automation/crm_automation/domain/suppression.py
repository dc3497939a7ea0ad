"""The one marketing-suppression decision. Every automated marketing e-mail path asks it; a person writing by
hand is not affected."""

from __future__ import annotations

from enum import StrEnum

from crm_automation.domain.models import Contact, EmailStatus, MarketingStatus


class SuppressionReason(StrEnum):
    NO_EMAIL = "no_email"
    ARCHIVED = "archived"
    DO_NOT_CONTACT = "do_not_contact"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINT = "complaint"
    MARKETING_PAUSED = "marketing_paused"  # an open dissatisfaction escalation
    NO_CONSENT = "no_consent"


def marketing_suppression(contact: Contact) -> SuppressionReason | None:
    """Why this contact must not get an automated marketing e-mail, or None if it may. First reason wins."""
    if not contact.email:
        return SuppressionReason.NO_EMAIL
    if contact.archived:
        return SuppressionReason.ARCHIVED
    if contact.marketing_status == MarketingStatus.DO_NOT_CONTACT:
        return SuppressionReason.DO_NOT_CONTACT
    if contact.marketing_status == MarketingStatus.UNSUBSCRIBED:
        return SuppressionReason.UNSUBSCRIBED
    if contact.email_status == EmailStatus.BOUNCED:
        return SuppressionReason.BOUNCED
    if contact.email_status == EmailStatus.COMPLAINED:
        return SuppressionReason.COMPLAINT
    if contact.marketing_pause is not None:
        return SuppressionReason.MARKETING_PAUSED
    if contact.marketing_consent is None or not contact.marketing_consent.granted:
        return SuppressionReason.NO_CONSENT
    return None


REASON_LABEL_KEYS: dict[SuppressionReason, str] = {
    SuppressionReason.NO_EMAIL: "reason_no_email",
    SuppressionReason.ARCHIVED: "reason_archived",
    SuppressionReason.DO_NOT_CONTACT: "reason_do_not_contact",
    SuppressionReason.UNSUBSCRIBED: "reason_unsubscribed",
    SuppressionReason.BOUNCED: "reason_bounced",
    SuppressionReason.COMPLAINT: "reason_complaint",
    SuppressionReason.MARKETING_PAUSED: "reason_marketing_paused",
    SuppressionReason.NO_CONSENT: "reason_no_consent",
}
