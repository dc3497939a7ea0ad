"""SES feedback (configuration-set event publishing → SNS → SQS): what happened to the e-mail we sent.

* Send: SES accepted a message. Written on the campaign chunk (it reconciles a sender that died between sending
  and recording) and on the send ledger of automated e-mails (an "unknown" outcome becomes "sent").
* Bounce (permanent) and Complaint: the address is suppressed (address record, outlives the contact), the contact's
  e-mail status changes, an activity is recorded and the campaign counts it.
* Delivery: the campaign counts the message as delivered (once per message).
* Open and Click: an activity, which the activity processor applies to the contact (it counts as activity for the
  inactivity scan), and the campaign counts it: every event (`opens`, `clicks`) and, for the first Open / Click of
  a message, the unique recipient (`opened`, `clicked`).

Every write is keyed on the SES message id and the event, so SNS/SQS re-delivery changes nothing twice: activities
by their ids, the once-per-message counters by a marker item (`DELIVERED#`, `OPENED#`, `CLICKED#<message id>` in the
campaign's partition, created in the counter's transaction, expiring after MARKER_DAYS).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from crm_automation.domain.addresses import AddressReason, address_key
from crm_automation.domain.models import Activity, ActivityKind, Contact, EmailStatus, UtcDatetime
from crm_automation.errors import ConcurrentWriteError
from crm_automation.observability import logger
from crm_automation.services.mail import send_key_of
from crm_automation.services.runtime import Runtime

MARKER_DAYS = 60  # SES publishes engagement events for weeks at most; a marker is kept longer, then expires


class SesMail(BaseModel):
    model_config = ConfigDict(extra="ignore")
    messageId: str
    timestamp: UtcDatetime
    destination: list[str] = Field(default_factory=list)
    tags: dict[str, list[str]] = Field(default_factory=dict)

    def tag(self, name: str) -> str | None:
        values = self.tags.get(name) or []
        return values[0] if values else None


class SesEvent(BaseModel):
    """An SES event-publishing record (only what we use of it)."""

    model_config = ConfigDict(extra="ignore")
    eventType: str
    mail: SesMail
    bounce: dict[str, Any] | None = None
    complaint: dict[str, Any] | None = None
    open: dict[str, Any] | None = None
    click: dict[str, Any] | None = None


def handle(rt: Runtime, event: SesEvent, now: datetime) -> str:
    kind = event.eventType
    if kind == "Send":
        return _sent(rt, event, now)
    if kind == "Bounce":
        return _bounced(rt, event, now)
    if kind == "Complaint":
        return _complained(rt, event, now)
    if kind in ("Open", "Click"):
        return _engaged(rt, event, now)
    if kind == "Delivery":
        return _delivered(rt, event, now)
    return "ignored"  # DeliveryDelay, Reject, Rendering Failure: nothing to do


def _once_per_message(rt: Runtime, campaign: str, counter: str, event: SesEvent, now: datetime,
                      also: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """The message's marker for `counter` and the campaign's ADD of it (with the counts `also`, one update of the
    campaign): a transaction holding both commits once per message (the marker's absence is its condition)."""
    expires = int((now + timedelta(days=MARKER_DAYS)).timestamp())
    ops = [rt.store.campaigns.message_marker_op(campaign, counter.upper(), event.mail.messageId, expires)]
    if count := rt.store.campaigns.count_op(campaign, {counter: 1, **(also or {})}):
        ops.append(count)
    return ops


def _delivered(rt: Runtime, event: SesEvent, now: datetime) -> str:
    campaign = event.mail.tag("campaign")
    if not campaign:
        return "delivery noted"
    try:
        rt.store.transact(_once_per_message(rt, campaign, "delivered", event, now))
    except ConcurrentWriteError:
        return "delivery already counted"
    return "delivery counted"


def _sent(rt: Runtime, event: SesEvent, now: datetime) -> str:
    mail = event.mail
    campaign, chunk, key = mail.tag("campaign"), mail.tag("chunk"), mail.tag("address")
    if campaign and chunk and key:
        rt.store.campaigns.ses_sent(campaign, chunk, key)
        return "campaign send confirmed"
    tag = mail.tag("send_key")
    if tag:
        send_key = send_key_of(tag)
        entry = rt.store.flows.ledger_get(send_key)
        if entry is not None and entry["state"] in ("claimed", "unknown"):
            rt.store.flows.ledger_set(send_key, "sent", now, mail.messageId)
            logger.info("Send outcome reconciled from SES", extra={"send_key": send_key})
            return "ledger reconciled"
    return "send noted"


def _contact_of(rt: Runtime, event: SesEvent, email: str) -> Contact | None:
    contact_id = event.mail.tag("contact")
    if contact_id:
        return rt.store.contacts.get(contact_id)
    ids = rt.store.contacts.ids_by_email(email)
    return rt.store.contacts.get(ids[0]) if ids else None


def _activity(event: SesEvent, contact: Contact, kind: ActivityKind, suffix: str, at: datetime, now: datetime,
              summary: str) -> Activity:
    return Activity(activity_id=f"ses-{event.mail.messageId}-{suffix}", contact_id=contact.contact_id, kind=kind,
                    direction="in", occurred_at=at, subject=None, summary=summary, automated=False,
                    workflow="campaign" if event.mail.tag("campaign") else None, created_at=now)


def _suppress(rt: Runtime, event: SesEvent, email: str, reason: AddressReason, status: EmailStatus,
              kind: ActivityKind, counter: str, at: datetime, now: datetime, summary: str) -> str:
    store = rt.store
    contact = _contact_of(rt, event, email)
    extra: list[dict[str, Any]] = []
    campaign = event.mail.tag("campaign")
    if campaign and (op := store.campaigns.count_op(campaign, {counter: 1})):
        extra.append(op)
    if contact is not None:
        extra.append(store.activities.create_op(_activity(event, contact, kind, kind.value, at, now, summary)))
    added = store.addresses.suppress(address_key(email, rt.keys.address), reason, now, f"ses-{kind.value}", extra)
    if contact is not None:
        _set_email_status(rt, contact.contact_id, email, status, now)
    return f"{reason.value} recorded" if added else f"{reason.value} already recorded"


def _set_email_status(rt: Runtime, contact_id: str, email: str, status: EmailStatus, now: datetime) -> None:
    for _ in range(5):
        contact = rt.store.contacts.get(contact_id)
        if contact is None or contact.email is None or contact.email.strip().lower() != email.strip().lower() \
                or contact.email_status == status:
            return
        try:
            rt.store.contacts.save(contact.model_copy(update={"email_status": status, "updated_at": now}))
            return
        except ConcurrentWriteError:
            continue


def _bounced(rt: Runtime, event: SesEvent, now: datetime) -> str:
    bounce = event.bounce or {}
    if bounce.get("bounceType") != "Permanent":
        return "transient bounce ignored"  # SES retries soft bounces itself
    return _each_recipient(rt, event, now, bounce, "bouncedRecipients", AddressReason.BOUNCED, EmailStatus.BOUNCED,
                           ActivityKind.BOUNCE, "bounced",
                           f"Hard bounce ({bounce.get('bounceSubType', 'General')})")


def _complained(rt: Runtime, event: SesEvent, now: datetime) -> str:
    complaint = event.complaint or {}
    return _each_recipient(rt, event, now, complaint, "complainedRecipients", AddressReason.COMPLAINT,
                           EmailStatus.COMPLAINED, ActivityKind.SPAM_COMPLAINT, "complaints",
                           f"Spam complaint ({complaint.get('complaintFeedbackType', 'unknown')})")


def _each_recipient(rt: Runtime, event: SesEvent, now: datetime, detail: dict[str, Any], recipients_key: str,
                    reason: AddressReason, status: EmailStatus, kind: ActivityKind, counter: str, summary: str) -> str:
    at = _when(detail.get("timestamp"), now)
    outcomes = [_suppress(rt, event, r["emailAddress"], reason, status, kind, counter, at, now, summary)
                for r in detail.get(recipients_key) or [] if r.get("emailAddress")]
    return ", ".join(outcomes) or f"{kind.value} without recipients"


def _engaged(rt: Runtime, event: SesEvent, now: datetime) -> str:
    detail = (event.open if event.eventType == "Open" else event.click) or {}
    email = (event.mail.destination or [""])[0]
    contact = _contact_of(rt, event, email)
    if contact is None:
        return "no contact"
    at = _when(detail.get("timestamp"), now)
    kind = ActivityKind.OPEN if event.eventType == "Open" else ActivityKind.CLICK
    link = detail.get("link")
    summary = "E-mail otevřen" if kind == ActivityKind.OPEN else f"Kliknutí na odkaz {link or ''}".strip()
    activity = _activity(event, contact, kind, f"{kind.value}-{at.strftime('%Y%m%dT%H%M%S%f')}", at, now, summary)
    ops = [rt.store.activities.create_op(activity)]
    campaign = event.mail.tag("campaign")
    events, unique = ("opens", "opened") if kind == ActivityKind.OPEN else ("clicks", "clicked")
    if campaign:
        # the message's first Open / Click also counts the recipient; a later one (marker there) only the event
        try:
            rt.store.transact(ops + _once_per_message(rt, campaign, unique, event, now, {events: 1}))
            return f"{kind.value} recorded (first of the message)"
        except ConcurrentWriteError:
            pass  # the activity is there (a re-delivery), or the marker is (a later open): the plain write decides
        if op := rt.store.campaigns.count_op(campaign, {events: 1}):
            ops.append(op)
    try:
        rt.store.transact(ops)
    except ConcurrentWriteError:
        return f"{kind.value} already recorded"
    return f"{kind.value} recorded"


def _when(value: str | None, default: datetime) -> datetime:
    if not value:
        return default
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
