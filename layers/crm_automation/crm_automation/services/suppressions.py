"""Unsubscribing (the signed one-click link) and importing suppression lists. Both write the address record, keyed
on the hashed address, so the suppression holds for every contact with that address, now and after re-imports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field

from crm_automation.domain.addresses import (AddressReason, AddressRecord, AddressSuppression, address_key,
                                              normalise_email)
from crm_automation.domain.suppression import address_reason_of
from crm_automation.domain.models import Activity, ActivityKind, Contact, MarketingStatus
from crm_automation.domain.unsubscribe import InvalidToken, UnsubscribeClaim, sign, verify
from crm_automation.errors import ConcurrentWriteError
from crm_automation.observability import logger
from crm_automation.services.runtime import Runtime


def address_record(rt: Runtime, contact: Contact | None) -> AddressRecord | None:
    """The address record of the contact's e-mail (None: no e-mail, or no record yet): half of the one
    suppression decision (domain.suppression.marketing_suppression)."""
    if contact is None or not contact.email:
        return None
    return rt.store.addresses.get(address_key(contact.email, rt.keys.address))


def write_through_ops(rt: Runtime, before: Contact | None, after: Contact, now: datetime, *,
                      claim: bool = False) -> list[dict[str, Any]]:
    """A contact newly marked "Nezasílat marketing", unsubscribed, bounced or complained marks its address too
    (in the same transaction as the contact), so every contact with that address, and any later re-import of it,
    is suppressed. Lifting a status on the contact does not lift the address suppression.
    `claim`: the contact also claims its address (lead dedupe, `AddressRecord.contact_id`), conditioned on the
    version of the record read here, so a concurrent claim makes the transaction fail instead of being overwritten."""
    if not after.email:
        return []
    reasons = set(address_reason_of(after))
    if before is not None and before.email and normalise_email(before.email) == normalise_email(after.email):
        reasons -= set(address_reason_of(before))
    if not reasons and not claim:
        return []
    key = address_key(after.email, rt.keys.address)
    record = rt.store.addresses.get(key) or AddressRecord(address_key=key)
    missing = {r: AddressSuppression(at=now, source="crm") for r in reasons if not record.suppressed(r)}
    claiming = claim and record.contact_id != after.contact_id
    if not missing and not claiming:
        return []
    updated = record.model_copy(update={"suppressions": record.suppressions | missing})
    if claiming:
        return [rt.store.addresses.claim_op(updated, key, after.contact_id)]
    return [rt.store.addresses.save_op(updated)]


def unsubscribe_link(rt: Runtime, contact_id: str, list_id: str, key: str) -> tuple[str, dict[str, str]]:
    """The recipient's signed unsubscribe URL and the RFC 8058 headers that carry it. `list_id` is the campaign id,
    or the workflow name for automated marketing e-mails (e.g. "inactivity")."""
    token = sign(UnsubscribeClaim(contact_id, list_id, key), rt.keys.unsubscribe)
    url = f"{rt.public_base_url}/u/{token}"
    return url, {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


@dataclass(frozen=True)
class Unsubscribed:
    campaign_id: str
    already: bool


def unsubscribe(rt: Runtime, token: str, now: datetime, via: str) -> Unsubscribed:
    """Honour an unsubscribe at once. `via`: "one-click" (RFC 8058 POST by the mail client) or "page" (the
    recipient pressed the button). Raises InvalidToken for anything forged or altered."""
    claim = verify(token, rt.keys.unsubscribe)
    store = rt.store
    contact = store.contacts.get(claim.contact_id)
    extra: list[dict[str, Any]] = []
    is_campaign = claim.campaign_id.startswith("cmp-")  # else a workflow's e-mail (e.g. the inactivity one)
    if is_campaign and (op := store.campaigns.count_op(claim.campaign_id, {"unsubscribed": 1})):
        extra.append(op)
    if contact is not None:
        extra.append(store.activities.create_op(Activity(
            activity_id=f"unsub-{claim.campaign_id}-{claim.contact_id}", contact_id=contact.contact_id,
            kind=ActivityKind.UNSUBSCRIBE, direction="in", occurred_at=now,
            workflow="campaign" if is_campaign else claim.campaign_id,
            summary=f"Odhlášení z odběru ({via}), {'kampaň ' if is_campaign else 'e-mail '}{claim.campaign_id}",
            created_at=now)))
    added = store.addresses.suppress(claim.address_key, AddressReason.UNSUBSCRIBED, now, f"unsubscribe-{via}", extra)
    if contact is not None and contact.email and address_key(contact.email, rt.keys.address) == claim.address_key:
        from crm_automation.services import consent, crm  # they import this module

        for _ in range(5):  # the contact shows it too (the address record already holds, whatever happens here)
            current = store.contacts.get(claim.contact_id)
            if current is None:
                break
            consent_live = (current.marketing_consent is not None and current.marketing_consent.granted) or (
                current.pending_consent is not None and current.pending_consent.purpose == "marketing")
            if current.marketing_status != MarketingStatus.SUBSCRIBED and not consent_live:
                break
            # the withdrawal: a `withdrawn` ledger entry and the consent cleared, with the status, in one transaction
            updated, ops = consent.withdrawal_ops(rt, current, now, f"unsubscribe-{via}", "unsubscribe",
                                                  {"list": claim.campaign_id})
            if updated.marketing_status == MarketingStatus.SUBSCRIBED:
                updated = updated.model_copy(update={"marketing_status": MarketingStatus.UNSUBSCRIBED})
            try:
                crm._save(rt, current, updated.model_copy(update={"updated_at": now}), now, ops)
                break
            except ConcurrentWriteError:
                continue
    logger.info("Unsubscribed", extra={"campaign_id": claim.campaign_id, "via": via, "new": added})
    return Unsubscribed(claim.campaign_id, already=not added)


__all__ = ["InvalidToken", "verify", "unsubscribe", "SuppressionImport", "import_suppressions"]


class SuppressionEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    email: str = Field(max_length=320)
    reason: Literal["unsubscribed", "do_not_contact", "bounced", "complaint", "erased"]


class SuppressionImport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entries: list[SuppressionEntry] = Field(min_length=1, max_length=1000)
    source: str = Field("import", min_length=1, max_length=100)


def import_suppressions(rt: Runtime, data: SuppressionImport, now: datetime) -> dict[str, Any]:
    """Add each address to the suppression list (an address already suppressed for that reason counts as
    "already"). Invalid addresses are reported by index; the valid ones are still added."""
    added = already = 0
    invalid = []
    valid: list[tuple[str, AddressReason]] = []
    for index, entry in enumerate(data.entries):
        try:
            email = validate_email(entry.email, check_deliverability=False).normalized
        except EmailNotValidError as error:
            invalid.append({"index": index, "error": str(error)})
            continue
        valid.append((email, AddressReason(entry.reason)))
    for email, reason in valid:
        if rt.store.addresses.suppress(address_key(email, rt.keys.address), reason, now, f"import:{data.source}"):
            added += 1
        else:
            already += 1
    logger.info("Suppression list imported", extra={"added": added, "already": already, "invalid": len(invalid)})
    return {"added": added, "already": already, "invalid": invalid}
